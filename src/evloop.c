/* evloop.c: kubetund's one event loop, a libwebsockets context (see evloop.h, evloop_lws.h).
 *
 * One lws_context with the default poll() backend and one service thread. Every fd and timer
 * of the daemon lives on it:
 *   - Foreign fds (TUN, control socket, DNS sockets) are adopted as raw file descriptors
 *     (LWS_ADOPT_RAW_FILE_DESC) on the loop's own vhost and served by RAW_RX_FILE /
 *     RAW_WRITEABLE_FILE / RAW_CLOSE_FILE. lws closes an adopted descriptor when the wsi goes
 *     away, but evloop.h leaves the caller's fd with the caller, so lws is handed a dup() of it.
 *     Read interest maps to lws_rx_flow_control(). Write interest maps to
 *     lws_callback_on_writable(), which is one-shot: the raw-file role clears POLLOUT right
 *     after RAW_WRITEABLE_FILE returns, so a watcher that still wants KT_EV_WRITE after its
 *     write callback is re-armed from a zero-delay sul on the next turn of the loop (one extra
 *     loop iteration per write event; no fd in the daemon needs sustained POLLOUT).
 *   - Timers are lws_sul entries. A disarmed timer is off the sorted list, so an idle loop
 *     sleeps in poll() until lws's own housekeeping timer, which 4.1 runs every 30 s
 *     (sul_plat in lib/plat/unix/unix-init.c); nothing of ours wakes it.
 *   - kt_evloop_stop() sets a flag and writes one byte to a self-pipe whose read end is adopted
 *     like any other fd: write(2) is async-signal-safe, so signal handlers may call it.
 *
 * Ownership: the loop owns the lws_context, its vhost, the self-pipe and every watch record.
 * Timers are owned by their creators but linked here, so kt_evloop_free() can detach the ones
 * still alive (their later kt_timer_free() then only frees memory). Watch records are freed
 * when lws reports RAW_CLOSE_FILE for their wsi, or by kt_evloop_free(). Callbacks never run
 * after kt_evloop_unwatch() / kt_timer_disarm() / kt_timer_free() returned. */
#include "evloop.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evloop_lws.h"
#include "log.h"

/* The longest delay a timer takes; longer ones are clamped (lws counts in microseconds). */
#define TIMER_MAX_MS (30ull * 24 * 3600 * 1000)

struct watch {
	struct watch *prev, *next; /* the loop's list of live watches (not yet unwatched) */
	struct kt_evloop *l;
	int fd;		 /* the caller's fd, the key of kt_evloop_unwatch() */
	struct lws *wsi; /* NULL once lws has closed our dup of fd */
	unsigned events; /* KT_EV_READ | KT_EV_WRITE */
	kt_evloop_fd_fn fn;
	void *arg;
	bool dead;	  /* unwatched: freed once lws is done with the wsi */
	bool in_cb;	  /* fn is running */
	bool in_write_cb; /* fn is running for KT_EV_WRITE: POLLOUT is cleared after it */
	lws_sorted_usec_list_t rearm; /* re-requests POLLOUT after a write callback */
};

struct kt_timer {
	lws_sorted_usec_list_t sul;
	struct kt_timer *prev, *next; /* the loop's list of timers */
	struct kt_evloop *l;	      /* NULL once the loop is gone */
	kt_evloop_fn fn;
	void *arg;
	bool armed;
};

struct kt_evloop {
	struct lws_context *ctx;
	struct lws_vhost *vh; /* the loop's own vhost: adopted fds */
	struct watch *watches;
	struct kt_timer *timers;
	int stop_rd, stop_wr; /* self-pipe; stop_rd is watched like any fd */
	volatile sig_atomic_t stop_req;
	bool destroying; /* inside kt_evloop_free(): no more user callbacks */
	kt_evloop_fn round_end;
	void *round_end_arg;
};

static int loop_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		   size_t len);

static const struct lws_protocols loop_protocols[] = {
    {"kt-loop", loop_cb, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* lws's own log lines (warn and err only) go through our logger. */
static void lws_log_emit(int level, const char *line)
{
	char buf[512];
	size_t n = strnlen(line, sizeof(buf) - 1);

	(void)level;
	memcpy(buf, line, n);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	/* Debug only: every lws error we act on is reported once, in our own words, by the
	 * module that handles it (k8s.c, pf.c); lws's raw lines would repeat it. */
	kt_log_debug("lws: %s", buf);
}

static void watch_free(struct watch *w)
{
	lws_sul_cancel(&w->rearm);
	free(w);
}

static void watch_unlink(struct kt_evloop *l, struct watch *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		l->watches = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->prev = w->next = NULL;
}

static void watch_rearm_fire(lws_sorted_usec_list_t *sul)
{
	struct watch *w = lws_container_of(sul, struct watch, rearm);

	if (w->wsi && !w->dead && (w->events & KT_EV_WRITE))
		lws_callback_on_writable(w->wsi);
}

/* Runs the watcher's function; returns the lws callback result (-1 closes the wsi). */
static int watch_call(struct watch *w, unsigned ev)
{
	if (w->dead || w->l->destroying)
		return w->dead ? -1 : 0;
	if (!(w->events & ev))
		return 0;
	w->in_cb = true;
	w->in_write_cb = ev == KT_EV_WRITE;
	w->fn(w->arg, w->fd, ev);
	w->in_cb = false;
	w->in_write_cb = false;
	if (w->dead)
		return -1;
	if (ev == KT_EV_WRITE && (w->events & KT_EV_WRITE))
		lws_sul_schedule(w->l->ctx, 0, &w->rearm, watch_rearm_fire, 0);
	return 0;
}

static int loop_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		   size_t len)
{
	struct watch *w;

	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		w = lws_get_opaque_user_data(wsi);
		return w ? watch_call(w, KT_EV_READ) : 0;
	case LWS_CALLBACK_RAW_WRITEABLE_FILE:
		w = lws_get_opaque_user_data(wsi);
		return w ? watch_call(w, KT_EV_WRITE) : 0;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		w = lws_get_opaque_user_data(wsi);
		if (!w)
			return 0;
		lws_set_opaque_user_data(wsi, NULL);
		w->wsi = NULL;
		lws_sul_cancel(&w->rearm);
		if (w->dead) {
			if (!w->in_cb)
				watch_free(w);
			return 0;
		}
		/* lws gave up on the fd (POLLHUP without POLLIN): tell the watcher once. It
		 * still has to unwatch, which then frees the record. */
		if (!w->l->destroying) {
			w->in_cb = true;
			w->fn(w->arg, w->fd, KT_EV_ERROR);
			w->in_cb = false;
			if (w->dead)
				watch_free(w);
		}
		return 0;
	case LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION: {
		/* See evloop_lws.h: hand it to the protocol the client connection belongs to. */
		const struct lws_protocols *p = lws_get_protocol(wsi);

		if (p && p->callback && p->callback != loop_cb)
			return p->callback(wsi, reason, user, in, len);
		return 0;
	}
	default:
		return 0;
	}
}

static void stop_drain(void *arg, int fd, unsigned events)
{
	unsigned char buf[64];

	(void)arg;
	(void)events;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

struct kt_evloop *kt_evloop_new(char *err, size_t errcap)
{
	struct lws_context_creation_info info;
	struct kt_evloop *l = calloc(1, sizeof(*l));
	int p[2];

	if (!l) {
		snprintf(err, errcap, "out of memory");
		return NULL;
	}
	l->stop_rd = l->stop_wr = -1;
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);

	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	/* Reads and writes go through this per-thread buffer: 32 KiB matches the port-forward
	 * message size and leaves room for long bearer tokens in request headers. */
	info.pt_serv_buf_size = 32 * 1024;
	info.timeout_secs = 20;
	info.connect_timeout_secs = 10;
	info.user = l;
	l->ctx = lws_create_context(&info);
	if (!l->ctx) {
		snprintf(err, errcap, "cannot create the libwebsockets context");
		goto fail;
	}

	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = loop_protocols;
	info.vhost_name = "kt-loop";
	info.user = l;
	l->vh = lws_create_vhost(l->ctx, &info);
	if (!l->vh) {
		snprintf(err, errcap, "cannot create the libwebsockets loop vhost");
		goto fail;
	}

	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0) {
		snprintf(err, errcap, "pipe: %s", strerror(errno));
		goto fail;
	}
	l->stop_rd = p[0];
	l->stop_wr = p[1];
	if (kt_evloop_watch(l, l->stop_rd, KT_EV_READ, stop_drain, l) < 0) {
		snprintf(err, errcap, "cannot watch the loop's self-pipe");
		goto fail;
	}
	return l;
fail:
	kt_evloop_free(l);
	return NULL;
}

void kt_evloop_free(struct kt_evloop *l)
{
	if (!l)
		return;
	l->destroying = true;
	/* Take our sul entries off lws's lists while the lists still exist; timers that outlive
	 * the loop are detached, so their kt_timer_free() only frees memory. */
	while (l->timers) {
		struct kt_timer *t = l->timers;

		if (l->ctx)
			lws_sul_cancel(&t->sul);
		l->timers = t->next;
		t->prev = t->next = NULL;
		t->l = NULL;
		t->armed = false;
	}
	for (struct watch *w = l->watches; w; w = w->next)
		if (l->ctx)
			lws_sul_cancel(&w->rearm);
	/* Closes every wsi (RAW_CLOSE_FILE frees unwatched records without user callbacks). */
	if (l->ctx)
		lws_context_destroy(l->ctx);
	l->ctx = NULL;
	while (l->watches) {
		struct watch *w = l->watches;

		watch_unlink(l, w);
		free(w);
	}
	if (l->stop_rd >= 0)
		close(l->stop_rd);
	if (l->stop_wr >= 0)
		close(l->stop_wr);
	free(l);
}

static struct watch *watch_find(struct kt_evloop *l, int fd)
{
	for (struct watch *w = l->watches; w; w = w->next)
		if (w->fd == fd)
			return w;
	return NULL;
}

int kt_evloop_watch(struct kt_evloop *l, int fd, unsigned events, kt_evloop_fd_fn fn, void *arg)
{
	lws_adopt_desc_t ad;
	struct watch *w;
	int dfd;

	if (fd < 0 || !fn)
		return -EINVAL;
	if (watch_find(l, fd))
		return -EEXIST;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dfd < 0) {
		int e = errno;

		free(w);
		return -e;
	}
	w->l = l;
	w->fd = fd;
	w->events = events & (KT_EV_READ | KT_EV_WRITE);
	w->fn = fn;
	w->arg = arg;

	memset(&ad, 0, sizeof(ad));
	ad.vh = l->vh;
	ad.type = LWS_ADOPT_RAW_FILE_DESC;
	ad.fd.filefd = dfd;
	ad.vh_prot_name = loop_protocols[0].name;
	ad.opaque = w;
	w->wsi = lws_adopt_descriptor_vhost_via_info(&ad);
	if (!w->wsi) {
		/* lws closed dfd. */
		free(w);
		return -ENOMEM;
	}
	w->next = l->watches;
	if (l->watches)
		l->watches->prev = w;
	l->watches = w;
	/* Adoption starts with POLLIN on and POLLOUT off. */
	if (!(w->events & KT_EV_READ))
		lws_rx_flow_control(w->wsi, 0);
	if (w->events & KT_EV_WRITE)
		lws_callback_on_writable(w->wsi);
	return 0;
}

int kt_evloop_set_events(struct kt_evloop *l, int fd, unsigned events)
{
	struct watch *w = watch_find(l, fd);
	unsigned old;

	if (!w)
		return -ENOENT;
	events &= KT_EV_READ | KT_EV_WRITE;
	old = w->events;
	w->events = events;
	if (!w->wsi)
		return 0;
	if ((old ^ events) & KT_EV_READ)
		lws_rx_flow_control(w->wsi, !!(events & KT_EV_READ));
	if ((events & KT_EV_WRITE) && !(old & KT_EV_WRITE)) {
		if (w->in_write_cb)
			; /* watch_call() re-arms after the callback */
		else
			lws_callback_on_writable(w->wsi);
	}
	/* Dropping KT_EV_WRITE leaves a pending POLLOUT in place: lws has no public way to clear
	 * it, and the one spurious RAW_WRITEABLE_FILE it may cause is filtered by events. */
	return 0;
}

void kt_evloop_unwatch(struct kt_evloop *l, int fd)
{
	struct watch *w = watch_find(l, fd);

	if (!w)
		return;
	watch_unlink(l, w);
	w->dead = true;
	lws_sul_cancel(&w->rearm);
	if (w->in_cb) {
		/* Inside this watch's own callback: watch_call() returns -1 (lws then closes the
		 * wsi and RAW_CLOSE_FILE frees the record), or RAW_CLOSE_FILE frees it itself. */
		return;
	}
	if (w->wsi)
		lws_set_timeout(w->wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_SYNC);
	else
		watch_free(w);
}

static void timer_fire(lws_sorted_usec_list_t *sul)
{
	struct kt_timer *t = lws_container_of(sul, struct kt_timer, sul);

	t->armed = false;
	/* fn may re-arm, disarm or free t. */
	t->fn(t->arg);
}

struct kt_timer *kt_timer_new(struct kt_evloop *l, kt_evloop_fn fn, void *arg)
{
	struct kt_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->l = l;
	t->fn = fn;
	t->arg = arg;
	t->next = l->timers;
	if (l->timers)
		l->timers->prev = t;
	l->timers = t;
	return t;
}

void kt_timer_arm(struct kt_timer *t, uint64_t delay_ms)
{
	if (!t->l || !t->l->ctx)
		return;
	if (delay_ms > TIMER_MAX_MS)
		delay_ms = TIMER_MAX_MS;
	lws_sul_schedule(t->l->ctx, 0, &t->sul, timer_fire, (lws_usec_t)delay_ms * LWS_US_PER_MS);
	t->armed = true;
}

void kt_timer_disarm(struct kt_timer *t)
{
	if (t->l)
		lws_sul_cancel(&t->sul);
	t->armed = false;
}

bool kt_timer_armed(const struct kt_timer *t)
{
	return t->armed;
}

void kt_timer_free(struct kt_timer *t)
{
	if (!t)
		return;
	if (t->l) {
		lws_sul_cancel(&t->sul);
		if (t->prev)
			t->prev->next = t->next;
		else
			t->l->timers = t->next;
		if (t->next)
			t->next->prev = t->prev;
	}
	free(t);
}

uint64_t kt_evloop_now_ms(const struct kt_evloop *l)
{
	struct timespec ts;

	(void)l;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void kt_evloop_set_round_end(struct kt_evloop *l, kt_evloop_fn fn, void *arg)
{
	l->round_end = fn;
	l->round_end_arg = arg;
}

int kt_evloop_run(struct kt_evloop *l)
{
	int r = 0;

	while (!l->stop_req) {
		/* A timeout of 0 lets lws sleep until its next sul or fd event. One call is one
		 * poll and the service of everything it reported. */
		if (lws_service(l->ctx, 0) < 0) {
			r = -EIO;
			break;
		}
		if (l->round_end)
			l->round_end(l->round_end_arg);
	}
	l->stop_req = 0;
	return r;
}

void kt_evloop_stop(struct kt_evloop *l)
{
	int saved = errno;
	unsigned char b = 1;

	l->stop_req = 1;
	/* A full pipe already holds a wake-up, so a failed write loses nothing. */
	if (write(l->stop_wr, &b, 1) < 0) {
	}
	errno = saved;
}

struct lws_context *kt_evloop_lws_context(struct kt_evloop *l)
{
	return l->ctx;
}

struct lws_vhost *kt_evloop_lws_vhost_new(struct kt_evloop *l, const char *name,
					  const struct lws_protocols *protocols, SSL_CTX *ssl_ctx,
					  void *user, char *err, size_t errcap)
{
	struct lws_context_creation_info info;
	struct lws_vhost *vh;
	char *proxy = NULL;
	const char *env;

	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.vhost_name = name;
	info.user = user;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.provided_client_ssl_ctx = ssl_ctx;
	info.timeout_secs = 20;
	info.connect_timeout_secs = 10;
	/* lws 4.1 sends every client connection of a vhost through $http_proxy when it is set
	 * (lib/core-net/vhost.c). client-go would not use http_proxy for an https server, so
	 * hide it from lws while the vhost is made; the loop thread is the only thread. */
	env = getenv("http_proxy");
	if (env) {
		proxy = strdup(env);
		if (!proxy) {
			snprintf(err, errcap, "out of memory");
			return NULL;
		}
		unsetenv("http_proxy");
	}
	vh = lws_create_vhost(l->ctx, &info);
	if (proxy) {
		setenv("http_proxy", proxy, 1);
		free(proxy);
	}
	if (!vh)
		snprintf(err, errcap, "cannot create a libwebsockets client vhost");
	return vh;
}

void kt_evloop_lws_vhost_free(struct lws_vhost *vh)
{
	if (vh)
		lws_vhost_destroy(vh);
}
