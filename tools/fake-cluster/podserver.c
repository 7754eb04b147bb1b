/* podserver.c: the simulated pod backend on a plain TCP socket (podserver.h).
 *
 * One struct pconn per accepted connection, linked into the podserver's list; the podserver owns
 * them all. A pconn owns its fd, its backend, the backend's timer and at most one chunk of
 * output the socket has not taken yet (`out`). Invariants: the backend is pumped only while
 * `out` is empty, with room FC_PODSERVER_CHUNK, so `out` never exceeds one chunk; the socket is
 * read only while the backend guarantees room for what we read (no -ENOBUFS in normal use).
 *
 * End of a connection: when the backend closes cleanly we flush `out`, shut down our side and
 * keep reading (and dropping) until the client's FIN or LINGER_MS, so a close never turns into
 * a reset because of bytes still in flight from the client (what HTTP servers call a lingering
 * close, RFC 9112 section 9.6). An abortive close (GET /close, overflow) or a socket error
 * resets at once (SO_LINGER 0). A pconn is freed only at the end of its own loop callback, or
 * of its timer's, never from inside a backend callback. */
#include "podserver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend.h"
#include "buf.h"
#include "log.h"
#include "loop.h"
#include "server.h"

#define POD_NAME "direct"
#define POD_NAMESPACE "bench"
#define LINGER_MS 2000
#define ACCEPT_BACKOFF_MS 100

enum pstate {
	P_OPEN,	  /* serving requests */
	P_LINGER, /* backend closed cleanly, our FIN sent (or pending): draining the client */
	P_DONE,	  /* free at the end of the current callback */
};

struct pconn {
	struct fc_podserver *ps;
	struct pconn *prev, *next;
	int fd;
	short events;
	enum pstate state;
	struct fc_backend *be;
	struct fc_timer *timer; /* the backend's timer (P_OPEN) or the linger limit (P_LINGER) */
	struct kt_buf out;	/* pod output the socket has not taken yet, <= one chunk */
	bool rd_eof;		/* client FIN seen (and passed to the backend) */
	bool be_closed, be_reset;
	bool wr_shut; /* our FIN sent */
};

struct fc_podserver {
	struct fc_loop *loop;
	int lfd;
	char addr_str[80];
	int port;
	struct pconn head; /* circular list */
	size_t active;
	struct fc_timer *backoff_timer;
};

/* Read scratch: one per process (single-threaded loop). */
static uint8_t rd_scratch[FC_PODSERVER_CHUNK];

static void conn_io(void *arg, short revents);

/* --- per connection --- */

static void conn_free(struct pconn *c)
{
	struct fc_podserver *ps = c->ps;
	c->prev->next = c->next;
	c->next->prev = c->prev;
	ps->active--;
	fc_loop_timer_cancel(ps->loop, c->timer);
	fc_loop_unwatch(ps->loop, c->fd);
	close(c->fd);
	fc_backend_free(c->be);
	kt_buf_fini(&c->out);
	free(c);
}

/* Abortive close: the client sees RST. */
static void conn_reset(struct pconn *c)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	c->state = P_DONE;
}

static void be_output(void *arg, const uint8_t *p, size_t n)
{
	struct pconn *c = arg;
	/* Straight to the socket when nothing is queued (the common case: no copy); what the
	 * socket does not take waits in `out`, bounded by the pump's room. */
	if (kt_buf_len(&c->out) == 0 && c->state == P_OPEN) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			conn_reset(c);
			return;
		}
	}
	if (n > 0 && kt_buf_append(&c->out, p, n) < 0) {
		/* Cannot happen while we pump at most the room of `out`. */
		kt_log_warnx("pod-listen: output overflow, resetting");
		conn_reset(c);
	}
}

static void be_closed(void *arg, bool reset)
{
	struct pconn *c = arg;
	c->be_closed = true;
	c->be_reset = reset;
}

static void timer_fired(void *arg);

static void be_set_timer(void *arg, uint64_t ms)
{
	struct pconn *c = arg;
	fc_loop_timer_cancel(c->ps->loop, c->timer);
	c->timer = NULL;
	if (ms > 0) {
		c->timer = fc_loop_timer(c->ps->loop, ms, timer_fired, c);
		if (!c->timer)
			kt_log_warnx("pod-listen: cannot arm a timer");
	}
}

static const struct fc_backend_io be_io = {be_output, be_closed, be_set_timer};

/* Writes queued output; false when the socket failed (state is then P_DONE). */
static bool flush_out(struct pconn *c)
{
	while (kt_buf_len(&c->out) > 0) {
		ssize_t w = send(c->fd, kt_buf_peek(&c->out), kt_buf_len(&c->out),
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			kt_buf_consume(&c->out, (size_t)w);
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		conn_reset(c);
		return false;
	}
	return true;
}

/* The backend said closed(): reset now, or finish cleanly once `out` is written. */
static void settle(struct pconn *c)
{
	if (c->state != P_OPEN || !c->be_closed)
		return;
	if (c->be_reset) {
		conn_reset(c);
		return;
	}
	if (kt_buf_len(&c->out) > 0)
		return; /* FIN after the last byte */
	shutdown(c->fd, SHUT_WR);
	c->wr_shut = true;
	fc_loop_timer_cancel(c->ps->loop, c->timer);
	c->timer = NULL;
	if (c->rd_eof) {
		c->state = P_DONE;
		return;
	}
	c->state = P_LINGER;
	c->timer = fc_loop_timer(c->ps->loop, LINGER_MS, timer_fired, c);
	if (!c->timer)
		c->state = P_DONE;
}

/* Moves output: flush what is queued, then pump one chunk at a time while the socket takes it
 * all. Stops at the first partial write (POLLOUT continues) or when the backend has nothing. */
static void pump(struct pconn *c)
{
	while (c->state == P_OPEN) {
		if (!flush_out(c) || kt_buf_len(&c->out) > 0)
			break;
		if (c->be_closed || !fc_backend_has_pending(c->be))
			break;
		if (fc_backend_pump(c->be, FC_PODSERVER_CHUNK) == 0)
			break;
	}
	settle(c);
}

/* Reads what the backend can take now and feeds it. */
static void read_in(struct pconn *c)
{
	for (int round = 0; round < 16 && c->state == P_OPEN && !c->rd_eof && !c->be_closed;
	     round++) {
		size_t room = fc_backend_input_room(c->be);
		if (room > sizeof(rd_scratch))
			room = sizeof(rd_scratch);
		if (room == 0)
			break;
		ssize_t n = recv(c->fd, rd_scratch, room, MSG_DONTWAIT);
		if (n > 0) {
			if (fc_backend_input(c->be, rd_scratch, (size_t)n) < 0 && !c->be_closed)
				conn_reset(c);
			/* A request may be complete: answer it before reading more. */
			pump(c);
			continue;
		}
		if (n == 0) {
			c->rd_eof = true;
			fc_backend_input_eof(c->be);
			pump(c);
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			conn_reset(c);
		break;
	}
}

/* While lingering: drop whatever the client still sends, until its FIN. */
static void drain_in(struct pconn *c)
{
	for (int round = 0; round < 16; round++) {
		ssize_t n = recv(c->fd, rd_scratch, sizeof(rd_scratch), MSG_DONTWAIT);
		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			c->state = P_DONE;
		return;
	}
}

/* Watches exactly what the state needs; frees a finished connection. Call last. */
static void update(struct pconn *c)
{
	if (c->state == P_DONE) {
		conn_free(c);
		return;
	}
	short ev = 0;
	if (c->state == P_LINGER) {
		ev = POLLIN;
	} else {
		if (!c->rd_eof && !c->be_closed && fc_backend_input_room(c->be) > 0)
			ev |= POLLIN;
		if (kt_buf_len(&c->out) > 0)
			ev |= POLLOUT;
	}
	if (ev != c->events) {
		c->events = ev;
		fc_loop_set_events(c->ps->loop, c->fd, ev);
	}
}

static void conn_io(void *arg, short revents)
{
	struct pconn *c = arg;
	if (c->state == P_LINGER) {
		drain_in(c);
	} else {
		if (revents & POLLOUT)
			pump(c);
		if (revents & (POLLIN | POLLHUP | POLLERR))
			read_in(c);
		/* An error or hang-up we are not reading for: the peer is gone, and poll would
		 * report it again at once. */
		if ((revents & (POLLERR | POLLHUP)) && c->state == P_OPEN && !(c->events & POLLIN))
			conn_reset(c);
	}
	update(c);
}

static void timer_fired(void *arg)
{
	struct pconn *c = arg;
	c->timer = NULL;
	if (c->state == P_LINGER) {
		c->state = P_DONE; /* the client never closed: give up waiting */
	} else if (c->state == P_OPEN) {
		fc_backend_on_timer(c->be);
		pump(c);
	}
	update(c);
}

static void conn_open(struct fc_podserver *ps, int fd)
{
	struct pconn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->ps = ps;
	c->fd = fd;
	kt_buf_init(&c->out, FC_PODSERVER_CHUNK);
	struct fc_backend_info info = {
	    .pod_name = POD_NAME, .pod_namespace = POD_NAMESPACE, .port = ps->port};
	c->be = fc_backend_new(&info, &be_io, c);
	if (!c->be || fc_loop_watch(ps->loop, fd, POLLIN, conn_io, c) < 0) {
		fc_backend_free(c->be);
		kt_buf_fini(&c->out);
		free(c);
		close(fd);
		return;
	}
	c->events = POLLIN;
	c->next = &ps->head;
	c->prev = ps->head.prev;
	ps->head.prev->next = c;
	ps->head.prev = c;
	ps->active++;
}

/* --- listening socket --- */

static void backoff_done(void *arg)
{
	struct fc_podserver *ps = arg;
	ps->backoff_timer = NULL;
	fc_loop_set_events(ps->loop, ps->lfd, POLLIN);
}

static void accept_cb(void *arg, short revents)
{
	struct fc_podserver *ps = arg;
	(void)revents;
	for (int i = 0; i < 64; i++) {
		int fd = accept4(ps->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* EMFILE and friends: pause accepting instead of spinning. */
			kt_log_warn("pod-listen: accept");
			fc_loop_set_events(ps->loop, ps->lfd, 0);
			if (!ps->backoff_timer)
				ps->backoff_timer =
				    fc_loop_timer(ps->loop, ACCEPT_BACKOFF_MS, backoff_done, ps);
			return;
		}
		if (ps->active >= FC_PODSERVER_MAX_CONNS) {
			kt_log_warnx("pod-listen: too many connections; refusing one");
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		conn_open(ps, fd);
	}
}

struct fc_podserver *fc_podserver_new(struct fc_loop *loop, const char *listen_at, char *err,
				      size_t errcap)
{
	struct sockaddr_storage ss;
	socklen_t sl = 0;
	struct fc_podserver *ps = NULL;
	int fd = -1, gai;

	if (fc_server_parse_addr(listen_at, true, &ss, &sl, &gai) < 0) {
		snprintf(err, errcap, "--pod-listen %s: expected IP:PORT or [IPV6]:PORT",
			 listen_at);
		return NULL;
	}
	ps = calloc(1, sizeof(*ps));
	if (!ps) {
		snprintf(err, errcap, "out of memory");
		return NULL;
	}
	ps->loop = loop;
	ps->head.next = ps->head.prev = &ps->head;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail_errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	/* Backlog sized for the benchmark's bursts of short connections. */
	if (bind(fd, (const struct sockaddr *)&ss, sl) < 0 || listen(fd, 1024) < 0)
		goto fail_errno;
	sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		goto fail_errno;
	char ip[INET6_ADDRSTRLEN] = "?";
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		ps->port = ntohs(s6->sin6_port);
		snprintf(ps->addr_str, sizeof(ps->addr_str), "[%s]:%d", ip, ps->port);
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		ps->port = ntohs(s4->sin_port);
		snprintf(ps->addr_str, sizeof(ps->addr_str), "%s:%d", ip, ps->port);
	}
	if (fc_loop_watch(loop, fd, POLLIN, accept_cb, ps) < 0) {
		snprintf(err, errcap, "--pod-listen %s: cannot watch the socket", listen_at);
		goto fail;
	}
	ps->lfd = fd;
	kt_log_debug("pod %s/%s listening on %s", POD_NAMESPACE, POD_NAME, ps->addr_str);
	return ps;
fail_errno:
	snprintf(err, errcap, "--pod-listen %s: %s", listen_at, strerror(errno));
fail:
	if (fd >= 0)
		close(fd);
	free(ps);
	return NULL;
}

void fc_podserver_free(struct fc_podserver *ps)
{
	if (!ps)
		return;
	fc_loop_timer_cancel(ps->loop, ps->backoff_timer);
	fc_loop_unwatch(ps->loop, ps->lfd);
	close(ps->lfd);
	while (ps->head.next != &ps->head) {
		struct pconn *c = ps->head.next;
		conn_reset(c);
		conn_free(c);
	}
	free(ps);
}

const char *fc_podserver_addr(const struct fc_podserver *ps)
{
	return ps->addr_str;
}

size_t fc_podserver_active(const struct fc_podserver *ps)
{
	return ps->active;
}
