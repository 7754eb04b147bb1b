/* control.c: kubetund's control socket (server on the event loop) and its client (the CLI).
 *
 * Server invariants: every fd is non-blocking and watched by the loop; a client has at most one
 * reply in flight and no further request of it is read or handled until that reply is flushed,
 * so its memory is bounded by KT_CONTROL_MAX_REQUEST (input) plus one reply (at most
 * KT_CONTROL_MAX_REPLY). Each client has one timer whose meaning follows its state (idle, half-
 * sent request, reply not draining). Closed clients are unlinked and their fd closed at once but
 * freed from a zero-delay timer, so no callback frees the object it runs for. The control object
 * owns the listening fd, the socket path (unlinked on free only while it is still our socket)
 * and every client; the command table belongs to the caller.
 *
 * The client side (kt_control_request) is a blocking call built on poll with one deadline. */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "evloop.h"
#include "log.h"

#define CONTROL_GROUP "kubetun"
#define READ_CHUNK 4096
#define ACCEPT_BURST 16	    /* accepts per wakeup, so a flood cannot starve the loop */
#define ACCEPT_PAUSE_MS 100 /* after EMFILE and the like: stop accepting for a moment */
#define CMD_LOG_MAX 64	    /* characters of a client-chosen command name we echo back */

enum client_timer { CT_NONE, CT_IDLE, CT_REQUEST, CT_WRITE };

struct client {
	struct kt_control *ctl;
	struct client *prev, *next; /* in ctl->clients, or in ctl->dead once closed */
	int fd;			    /* -1 once closed */
	unsigned id;
	struct kt_buf in; /* unhandled request bytes, limit KT_CONTROL_MAX_REQUEST */
	char *out;	  /* owned; the reply in flight, NULL if none */
	size_t outlen, outoff;
	struct kt_timer *timer; /* owned */
	enum client_timer tstate;
	bool closing; /* close once the reply is flushed */
	bool eof;     /* the peer shut down its side */
};

struct kt_control {
	struct kt_evloop *loop;
	int fd;
	char *path; /* owned */
	dev_t dev;  /* of the socket we bound: unlink only if it is still that one */
	ino_t ino;
	const struct kt_control_command *commands; /* the caller's */
	size_t ncommands;
	void *arg;
	struct client *clients; /* live clients */
	size_t nclients;
	struct client *dead;		/* closed, waiting for the reaper */
	struct kt_timer *reaper;	/* owned; frees dead clients */
	struct kt_timer *accept_resume; /* owned; re-enables accept after a pause */
	bool accept_paused;
	unsigned next_id;
};

/* ---- Pure helpers ---- */

static void set_err(char *err, size_t errcap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errcap, const char *fmt, ...)
{
	if (!err || errcap == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errcap, fmt, ap);
	va_end(ap);
}

static bool is_blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
			return false;
	return true;
}

cJSON *kt_control_parse_request(const char *line, size_t len, const char **command, char *err,
				size_t errcap)
{
	if (command)
		*command = NULL;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	/* cJSON would stop at a NUL inside a string and report a confusing position. */
	const char *nul = memchr(line, '\0', len);
	if (nul) {
		set_err(err, errcap, "malformed JSON at byte %zu", (size_t)(nul - line));
		return NULL;
	}
	const char *end = NULL;
	cJSON *req = cJSON_ParseWithLengthOpts(line, len, &end, 0);
	if (!req) {
		size_t pos = end && end >= line && end <= line + len ? (size_t)(end - line) : 0;
		set_err(err, errcap, "malformed JSON at byte %zu", pos);
		return NULL;
	}
	/* require_null_terminated cannot be used on a length-bounded line, so trailing bytes
	 * after the value are checked here. */
	size_t used = end && end >= line && end <= line + len ? (size_t)(end - line) : len;
	if (!is_blank(line + used, len - used)) {
		size_t pos = used;
		while (pos < len && is_blank(line + pos, 1))
			pos++;
		set_err(err, errcap, "malformed JSON at byte %zu: data after the request", pos);
		goto fail;
	}
	if (!cJSON_IsObject(req)) {
		set_err(err, errcap, "request is not a JSON object");
		goto fail;
	}
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, "version");
	if (!v) {
		set_err(err, errcap, "request has no version");
		goto fail;
	}
	if (!cJSON_IsNumber(v)) {
		set_err(err, errcap, "request version is not a number");
		goto fail;
	}
	if (v->valuedouble != (double)KT_CONTROL_VERSION) {
		set_err(err, errcap, "unsupported version %g (this daemon speaks %d)",
			v->valuedouble, KT_CONTROL_VERSION);
		goto fail;
	}
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(req, "command");
	if (!cJSON_IsString(c) || !c->valuestring) {
		set_err(err, errcap, "request has no command");
		goto fail;
	}
	if (command)
		*command = c->valuestring;
	return req;
fail:
	cJSON_Delete(req);
	return NULL;
}

static char *reply_print(const cJSON *result, const char *error, size_t *len)
{
	cJSON *r = cJSON_CreateObject();
	char *text = NULL, *line = NULL;
	if (!r || !cJSON_AddNumberToObject(r, "version", KT_CONTROL_VERSION))
		goto out;
	if (error) {
		if (!cJSON_AddFalseToObject(r, "ok") || !cJSON_AddStringToObject(r, "error", error))
			goto out;
	} else {
		cJSON *res = result ? cJSON_Duplicate(result, 1) : cJSON_CreateObject();
		if (!res)
			goto out;
		if (!cJSON_AddTrueToObject(r, "ok")) {
			cJSON_Delete(res);
			goto out;
		}
		cJSON_AddItemToObject(r, "result", res);
	}
	/* Unformatted printing escapes every control character, so the line has no "\n". */
	text = cJSON_PrintUnformatted(r);
	if (!text)
		goto out;
	size_t n = strlen(text);
	line = malloc(n + 2);
	if (!line)
		goto out;
	memcpy(line, text, n);
	line[n] = '\n';
	line[n + 1] = '\0';
	*len = n + 1;
out:
	free(text);
	cJSON_Delete(r);
	return line;
}

char *kt_control_reply_line(const cJSON *result, const char *error, size_t *len)
{
	size_t n = 0;
	char *line = reply_print(result, error, &n);
	if (line && n > KT_CONTROL_MAX_REPLY) {
		free(line);
		line = reply_print(NULL, "reply too large", &n);
	}
	if (line && len)
		*len = n;
	return line;
}

int kt_control_parse_reply(const char *line, size_t len, cJSON **result, char *err, size_t errcap)
{
	*result = NULL;
	const char *end = NULL;
	cJSON *r =
	    len && !memchr(line, '\0', len) ? cJSON_ParseWithLengthOpts(line, len, &end, 0) : NULL;
	int rc = -EPROTO;
	if (!r || !cJSON_IsObject(r)) {
		set_err(err, errcap, "malformed reply from the daemon");
		goto out;
	}
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, "version");
	if (!cJSON_IsNumber(v) || v->valuedouble != (double)KT_CONTROL_VERSION) {
		if (cJSON_IsNumber(v))
			set_err(err, errcap, "the daemon speaks control version %g, not %d",
				v->valuedouble, KT_CONTROL_VERSION);
		else
			set_err(err, errcap, "malformed reply from the daemon (no version)");
		goto out;
	}
	const cJSON *ok = cJSON_GetObjectItemCaseSensitive(r, "ok");
	if (cJSON_IsTrue(ok)) {
		cJSON *res = cJSON_DetachItemFromObjectCaseSensitive(r, "result");
		if (!res)
			res = cJSON_CreateObject();
		if (!res) {
			rc = -ENOMEM;
			set_err(err, errcap, "out of memory");
			goto out;
		}
		*result = res;
		rc = 0;
	} else if (cJSON_IsFalse(ok)) {
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(r, "error");
		set_err(err, errcap, "%s",
			cJSON_IsString(e) && e->valuestring ? e->valuestring : "unknown error");
		rc = -EREMOTE;
	} else {
		set_err(err, errcap, "malformed reply from the daemon (no ok)");
	}
out:
	cJSON_Delete(r);
	return rc;
}

cJSON *kt_control_add_time(cJSON *obj, const char *name, time_t t)
{
	if (t == 0)
		return cJSON_AddNullToObject(obj, name);
	struct tm tm;
	char s[32];
	if (!gmtime_r(&t, &tm) || strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return NULL;
	return cJSON_AddStringToObject(obj, name, s);
}

static int digits(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int kt_control_parse_time(const char *s, time_t *t)
{
	/* Exactly YYYY-MM-DDTHH:MM:SSZ, the only form kt_control_add_time writes. */
	if (!s || strlen(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':' || s[19] != 'Z')
		return -EINVAL;
	int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
	int h = digits(s + 11, 2), mi = digits(s + 14, 2), se = digits(s + 17, 2);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 ||
	    mi > 59 || se < 0 || se > 59)
		return -EINVAL;
	struct tm tm = {.tm_year = y - 1900,
			.tm_mon = mo - 1,
			.tm_mday = d,
			.tm_hour = h,
			.tm_min = mi,
			.tm_sec = se};
	time_t v = timegm(&tm);
	/* timegm normalises 31 February into March: refuse dates that moved. */
	if (v == (time_t)-1 || tm.tm_mday != d || tm.tm_mon != mo - 1)
		return -EINVAL;
	*t = v;
	return 0;
}

/* ---- Server ---- */

static void client_close(struct client *c, const char *why);
static void client_update(struct client *c);

static void list_unlink(struct client **head, struct client *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		*head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

static void list_push(struct client **head, struct client *c)
{
	c->prev = NULL;
	c->next = *head;
	if (*head)
		(*head)->prev = c;
	*head = c;
}

static void client_free(struct client *c)
{
	kt_timer_free(c->timer);
	kt_buf_fini(&c->in);
	free(c->out);
	free(c);
}

static void control_reap(void *arg)
{
	struct kt_control *ctl = arg;
	while (ctl->dead) {
		struct client *c = ctl->dead;
		list_unlink(&ctl->dead, c);
		client_free(c);
	}
}

/* Writes as much of the reply as the socket takes. 0, or -errno when the client is gone. */
static int client_flush(struct client *c)
{
	while (c->out && c->outoff < c->outlen) {
		ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -errno;
		}
		c->outoff += (size_t)n;
		/* Progress re-arms the write timeout (client_update sees CT_NONE). */
		if (c->tstate == CT_WRITE)
			c->tstate = CT_NONE;
	}
	if (c->out) {
		free(c->out);
		c->out = NULL;
		c->outlen = c->outoff = 0;
	}
	return 0;
}

static void client_queue(struct client *c, const cJSON *result, const char *error)
{
	size_t n = 0;
	char *line = kt_control_reply_line(result, error, &n);
	if (!line) {
		client_close(c, "out of memory for a reply");
		return;
	}
	free(c->out);
	c->out = line;
	c->outlen = n;
	c->outoff = 0;
}

static const struct kt_control_command *control_find(const struct kt_control *ctl, const char *name)
{
	for (size_t i = 0; i < ctl->ncommands; i++)
		if (strcmp(ctl->commands[i].name, name) == 0)
			return &ctl->commands[i];
	return NULL;
}

/* A client-chosen name made safe for logs and messages: printable ASCII, at most CMD_LOG_MAX. */
static void sanitize(const char *in, char out[CMD_LOG_MAX + 1])
{
	size_t i = 0;
	for (; in[i] && i < CMD_LOG_MAX; i++)
		out[i] = in[i] >= 0x20 && in[i] < 0x7f ? in[i] : '?';
	out[i] = '\0';
}

static void unknown_command(const struct kt_control *ctl, const char *name, char *err,
			    size_t errcap)
{
	size_t off = 0;
	char safe[CMD_LOG_MAX + 1];
	sanitize(name, safe);
	int n = snprintf(err, errcap, "unknown command '%s' (known:", safe);
	if (n < 0 || (size_t)n >= errcap)
		return;
	off = (size_t)n;
	for (size_t i = 0; i < ctl->ncommands; i++) {
		n = snprintf(err + off, errcap - off, "%s %s", i ? "," : "", ctl->commands[i].name);
		if (n < 0 || (size_t)n >= errcap - off)
			return;
		off += (size_t)n;
	}
	snprintf(err + off, errcap - off, ")");
}

/* Handles one request line and queues its reply. */
static void client_handle(struct client *c, const char *line, size_t len)
{
	struct kt_control *ctl = c->ctl;
	char err[1024] = "";
	const char *name = NULL;
	cJSON *result = NULL;
	cJSON *req = kt_control_parse_request(line, len, &name, err, sizeof(err));
	if (req) {
		const struct kt_control_command *k = control_find(ctl, name);
		if (!k) {
			unknown_command(ctl, name, err, sizeof(err));
		} else {
			result = k->fn(ctl->arg, req, err, sizeof(err));
			if (!result && !err[0])
				snprintf(err, sizeof(err), "%s failed", k->name);
		}
	}
	char safe[CMD_LOG_MAX + 1];
	sanitize(name ? name : "(no command)", safe);
	kt_log_debug("control: client %u: %s: %s", c->id, safe, result ? "ok" : err);
	client_queue(c, result, result ? NULL : err);
	cJSON_Delete(result);
	cJSON_Delete(req);
}

/* Handles buffered requests while no reply is in flight. */
static void client_process(struct client *c)
{
	while (c->fd >= 0 && !c->closing && !c->out) {
		const char *p = (const char *)kt_buf_peek(&c->in);
		size_t n = kt_buf_len(&c->in);
		const char *nl = memchr(p, '\n', n);
		if (!nl) {
			if (n >= KT_CONTROL_MAX_REQUEST) {
				kt_log_debug("control: client %u: request too large", c->id);
				kt_buf_clear(&c->in);
				client_queue(c, NULL, "request too large");
				c->closing = true;
			} else if (c->eof) {
				/* A last request without its "\n" is taken as complete: the peer
				 * can send no more. */
				if (!is_blank(p, n))
					client_handle(c, p, n);
				kt_buf_clear(&c->in);
				c->closing = true;
			}
			break;
		}
		size_t len = (size_t)(nl - p);
		if (!is_blank(p, len))
			client_handle(c, p, len);
		kt_buf_consume(&c->in, len + 1);
		/* The next request's deadline starts now, not with the bytes of it that came
		 * along with this one. */
		if (c->tstate == CT_REQUEST)
			c->tstate = CT_NONE;
		if (c->fd >= 0 && client_flush(c) < 0) {
			client_close(c, "write failed");
			return;
		}
	}
	/* A reply queued above without a flush (too large, last request at EOF). */
	if (c->fd >= 0 && c->out && client_flush(c) < 0)
		client_close(c, "write failed");
}

static void client_on_timer(void *arg)
{
	struct client *c = arg;
	switch (c->tstate) {
	case CT_REQUEST:
		/* Best effort: tell the client why, then close whatever happens. */
		client_queue(c, NULL, "request timed out");
		if (c->fd >= 0)
			(void)client_flush(c);
		client_close(c, "request not complete in time");
		break;
	case CT_WRITE:
		client_close(c, "reply not read in time");
		break;
	case CT_IDLE:
	case CT_NONE:
		client_close(c, "idle");
		break;
	}
}

/* Recomputes what the client waits for: loop events and its timer. */
static void client_update(struct client *c)
{
	if (c->fd < 0)
		return;
	if (c->closing && !c->out) {
		client_close(c, NULL);
		return;
	}
	unsigned ev = c->out ? KT_EV_WRITE : (c->eof ? 0 : KT_EV_READ);
	if (kt_evloop_set_events(c->ctl->loop, c->fd, ev) < 0) {
		client_close(c, "cannot watch");
		return;
	}
	enum client_timer want = c->out ? CT_WRITE : kt_buf_len(&c->in) ? CT_REQUEST : CT_IDLE;
	if (want == c->tstate && kt_timer_armed(c->timer))
		return;
	c->tstate = want;
	kt_timer_arm(c->timer,
		     want == CT_IDLE ? KT_CONTROL_IDLE_TIMEOUT_MS : KT_CONTROL_REQUEST_TIMEOUT_MS);
}

static void client_read(struct client *c)
{
	for (;;) {
		size_t room = kt_buf_room(&c->in);
		if (room == 0)
			return; /* client_process sees a full buffer without "\n" */
		size_t want = room < READ_CHUNK ? room : READ_CHUNK;
		uint8_t *dst = kt_buf_reserve(&c->in, want);
		if (!dst) {
			client_close(c, "out of memory");
			return;
		}
		ssize_t n = recv(c->fd, dst, want, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				client_close(c, "read failed");
			return;
		}
		if (n == 0) {
			c->eof = true;
			return;
		}
		kt_buf_commit(&c->in, (size_t)n);
		if ((size_t)n < want || memchr(dst, '\n', (size_t)n))
			return;
	}
}

static void client_on_event(void *arg, int fd, unsigned events)
{
	struct client *c = arg;
	(void)fd;
	if (c->fd < 0)
		return;
	if (events & KT_EV_ERROR) {
		/* The loop reports a hangup with nothing left to read (the peer is gone) and has
		 * stopped watching the fd: nobody is left to answer. */
		client_close(c, "hangup");
		return;
	}
	if (events & KT_EV_WRITE) {
		if (client_flush(c) < 0) {
			client_close(c, "write failed");
			return;
		}
	}
	if ((events & KT_EV_READ) && !c->out && !c->eof)
		client_read(c);
	if (c->fd < 0)
		return;
	client_process(c);
	client_update(c);
}

static void client_close(struct client *c, const char *why)
{
	struct kt_control *ctl = c->ctl;
	if (c->fd < 0)
		return;
	if (why)
		kt_log_debug("control: client %u: closed: %s", c->id, why);
	kt_timer_disarm(c->timer);
	kt_evloop_unwatch(ctl->loop, c->fd);
	close(c->fd);
	c->fd = -1;
	list_unlink(&ctl->clients, c);
	ctl->nclients--;
	list_push(&ctl->dead, c);
	kt_timer_arm(ctl->reaper, 0);
}

static void log_peer(int fd, unsigned id)
{
	if (kt_log_verbosity() < 1)
		return;
	struct ucred uc;
	socklen_t len = sizeof(uc);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == 0 && len == sizeof(uc))
		kt_log_debug("control: client %u: pid %ld uid %lu gid %lu", id, (long)uc.pid,
			     (unsigned long)uc.uid, (unsigned long)uc.gid);
	else
		kt_log_debug("control: client %u: no peer credentials", id);
}

static void client_new(struct kt_control *ctl, int fd)
{
	struct client *c = calloc(1, sizeof(*c));
	if (!c)
		goto fail;
	c->ctl = ctl;
	c->fd = fd;
	c->id = ++ctl->next_id;
	kt_buf_init(&c->in, KT_CONTROL_MAX_REQUEST);
	c->timer = kt_timer_new(ctl->loop, client_on_timer, c);
	if (!c->timer)
		goto fail;
	if (kt_evloop_watch(ctl->loop, fd, KT_EV_READ, client_on_event, c) < 0)
		goto fail;
	list_push(&ctl->clients, c);
	ctl->nclients++;
	log_peer(fd, c->id);
	c->tstate = CT_IDLE;
	kt_timer_arm(c->timer, KT_CONTROL_IDLE_TIMEOUT_MS);
	return;
fail:
	kt_log_warnx("control: cannot serve a client: out of memory");
	if (c) {
		kt_timer_free(c->timer);
		kt_buf_fini(&c->in);
		free(c);
	}
	close(fd);
}

/* Tells a client we cannot serve why, without waiting for it. */
static void refuse(int fd, const char *why)
{
	size_t n = 0;
	char *line = kt_control_reply_line(NULL, why, &n);
	if (line)
		(void)send(fd, line, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	free(line);
	close(fd);
}

/* At the client limit: closes the idle clients whose peer already hung up but whose event the
 * loop has not delivered yet, so a burst of reconnecting clients is not refused for clients that
 * are gone. One poll(2) over at most KT_CONTROL_MAX_CLIENTS fds, only at the limit. */
static void control_reclaim(struct kt_control *ctl)
{
	struct pollfd pfd[KT_CONTROL_MAX_CLIENTS];
	struct client *who[KT_CONTROL_MAX_CLIENTS];
	nfds_t n = 0;
	for (struct client *c = ctl->clients; c && n < KT_CONTROL_MAX_CLIENTS; c = c->next) {
		if (c->out || kt_buf_len(&c->in))
			continue;
		pfd[n] = (struct pollfd){.fd = c->fd, .events = POLLRDHUP};
		who[n++] = c;
	}
	if (n == 0 || poll(pfd, n, 0) <= 0)
		return;
	for (nfds_t i = 0; i < n; i++)
		if (pfd[i].revents & (POLLRDHUP | POLLHUP | POLLERR))
			client_close(who[i], "peer gone");
}

static void control_on_accept_resume(void *arg)
{
	struct kt_control *ctl = arg;
	if (ctl->accept_paused && kt_evloop_set_events(ctl->loop, ctl->fd, KT_EV_READ) == 0)
		ctl->accept_paused = false;
	else if (ctl->accept_paused)
		kt_timer_arm(ctl->accept_resume, ACCEPT_PAUSE_MS);
}

static void control_on_listen(void *arg, int fd, unsigned events)
{
	struct kt_control *ctl = arg;
	(void)events;
	for (int i = 0; i < ACCEPT_BURST; i++) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* Out of fds or memory: the listening socket stays readable, so pause
			 * instead of spinning on it. */
			kt_log_warn("control: accept");
			if (kt_evloop_set_events(ctl->loop, ctl->fd, 0) == 0) {
				ctl->accept_paused = true;
				kt_timer_arm(ctl->accept_resume, ACCEPT_PAUSE_MS);
			}
			return;
		}
		if (ctl->nclients >= KT_CONTROL_MAX_CLIENTS)
			control_reclaim(ctl);
		if (ctl->nclients >= KT_CONTROL_MAX_CLIENTS) {
			kt_log_debug("control: too many clients, refusing one");
			refuse(cfd, "too many clients");
			continue;
		}
		client_new(ctl, cfd);
	}
}

/* mkdir -p of path's directory, new components 0755. */
static int make_parent(const char *path, char *err, size_t errcap)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	size_t n = strlen(path);
	if (n >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, path, n + 1);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			int e = errno;
			set_err(err, errcap, "cannot create %s: %s", dir, strerror(e));
			return -e;
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
	return 0;
}

static void fill_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, strlen(path) + 1); /* length checked by the callers */
}

/* 0 if something accepts connections at path, else -errno of the connect. */
static int probe(const char *path)
{
	struct sockaddr_un sa;
	fill_addr(&sa, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : -errno;
	/* A full backlog (EAGAIN) still means a live listener. */
	if (rc == -EAGAIN || rc == -EINPROGRESS)
		rc = 0;
	close(fd);
	return rc;
}

/* Refuses a path that is not a socket or that another daemon serves; removes a stale one. */
static int claim_path(const char *path, char *err, size_t errcap)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		int e = errno;
		set_err(err, errcap, "cannot check %s: %s", path, strerror(e));
		return -e;
	}
	if (!S_ISSOCK(st.st_mode)) {
		set_err(err, errcap, "%s exists and is not a socket", path);
		return -EEXIST;
	}
	int rc = probe(path);
	if (rc == 0) {
		set_err(err, errcap, "another kubetund is running (%s)", path);
		return -EADDRINUSE;
	}
	if (rc != -ECONNREFUSED && rc != -ENOENT) {
		set_err(err, errcap, "cannot check %s: %s", path, strerror(-rc));
		return rc;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		int e = errno;
		set_err(err, errcap, "cannot remove the stale socket %s: %s", path, strerror(e));
		return -e;
	}
	kt_log_info("control: removed the stale socket %s", path);
	return 0;
}

/* Mode 0660 with group kubetun when that group exists (and we may give the socket to it),
 * else 0600: the socket is the daemon's whole remote-control surface. */
static int set_permissions(const char *path, char *err, size_t errcap)
{
	mode_t mode = 0600;
	struct group *g = getgrnam(CONTROL_GROUP);
	if (g) {
		if (chown(path, (uid_t)-1, g->gr_gid) == 0)
			mode = 0660;
		else
			kt_log_warn("control: cannot give %s to group %s; mode 0600", path,
				    CONTROL_GROUP);
	}
	if (chmod(path, mode) < 0) {
		int e = errno;
		set_err(err, errcap, "cannot chmod %s: %s", path, strerror(e));
		return -e;
	}
	return 0;
}

struct kt_control *kt_control_new(struct kt_evloop *loop, const char *path,
				  const struct kt_control_command *commands, size_t ncommands,
				  void *arg, char *err, size_t errcap)
{
	struct sockaddr_un sa;
	if (!path || !*path) {
		set_err(err, errcap, "no control socket path");
		return NULL;
	}
	if (strlen(path) >= sizeof(sa.sun_path)) {
		set_err(err, errcap, "control socket path too long (%zu bytes, at most %zu): %s",
			strlen(path), sizeof(sa.sun_path) - 1, path);
		return NULL;
	}
	struct kt_control *ctl = calloc(1, sizeof(*ctl));
	if (!ctl || !(ctl->path = strdup(path))) {
		set_err(err, errcap, "out of memory");
		free(ctl);
		return NULL;
	}
	ctl->fd = -1;
	ctl->loop = loop;
	ctl->commands = commands;
	ctl->ncommands = ncommands;
	ctl->arg = arg;
	bool bound = false;

	if (make_parent(path, err, errcap) < 0 || claim_path(path, err, errcap) < 0)
		goto fail;
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ctl->fd < 0) {
		set_err(err, errcap, "socket: %s", strerror(errno));
		goto fail;
	}
	fill_addr(&sa, path);
	/* Bind under a tight umask so the socket is never more open than 0600 before the chmod
	 * below; the daemon is single-threaded, so changing the umask briefly is safe. */
	mode_t old = umask(0177);
	int rc = bind(ctl->fd, (struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	umask(old);
	if (rc < 0) {
		set_err(err, errcap, "cannot bind %s: %s", path, strerror(e));
		goto fail;
	}
	bound = true;
	struct stat st;
	if (set_permissions(path, err, errcap) < 0)
		goto fail;
	if (stat(path, &st) < 0) {
		set_err(err, errcap, "cannot stat %s: %s", path, strerror(errno));
		goto fail;
	}
	ctl->dev = st.st_dev;
	ctl->ino = st.st_ino;
	if (listen(ctl->fd, 128) < 0) {
		set_err(err, errcap, "cannot listen on %s: %s", path, strerror(errno));
		goto fail;
	}
	ctl->reaper = kt_timer_new(loop, control_reap, ctl);
	ctl->accept_resume = kt_timer_new(loop, control_on_accept_resume, ctl);
	if (!ctl->reaper || !ctl->accept_resume) {
		set_err(err, errcap, "out of memory");
		goto fail;
	}
	if (kt_evloop_watch(loop, ctl->fd, KT_EV_READ, control_on_listen, ctl) < 0) {
		set_err(err, errcap, "cannot watch the control socket");
		goto fail;
	}
	kt_log_debug("control: listening on %s", path);
	return ctl;
fail:
	kt_timer_free(ctl->reaper);
	kt_timer_free(ctl->accept_resume);
	if (ctl->fd >= 0)
		close(ctl->fd);
	if (bound)
		unlink(path);
	free(ctl->path);
	free(ctl);
	return NULL;
}

void kt_control_free(struct kt_control *ctl)
{
	if (!ctl)
		return;
	while (ctl->clients) {
		struct client *c = ctl->clients;
		/* A reply already handled (e.g. to "shutdown") gets one last chance to leave. */
		if (c->out)
			(void)client_flush(c);
		client_close(c, NULL);
	}
	control_reap(ctl);
	kt_timer_free(ctl->reaper);
	kt_timer_free(ctl->accept_resume);
	kt_evloop_unwatch(ctl->loop, ctl->fd);
	close(ctl->fd);
	/* Another daemon may have replaced a socket it judged stale: leave that one alone. */
	struct stat st;
	if (lstat(ctl->path, &st) == 0 && st.st_dev == ctl->dev && st.st_ino == ctl->ino)
		unlink(ctl->path);
	free(ctl->path);
	free(ctl);
}

/* ---- Client ---- */

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until the deadline: 1 ready, 0 timed out, -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - mono_ms();
		if (left <= 0)
			return 0;
		struct pollfd p = {.fd = fd, .events = events};
		int n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n > 0)
			return 1;
	}
}

static int client_connect(int fd, const char *path, int64_t deadline, char *err, size_t errcap)
{
	struct sockaddr_un sa;
	fill_addr(&sa, path);
	for (;;) {
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return 0;
		int e = errno;
		if (e == EINTR)
			continue;
		if (e == EAGAIN) {
			/* The daemon's backlog is full: try again shortly. */
			if (mono_ms() >= deadline) {
				set_err(err, errcap, "%s: timed out connecting", path);
				return -ETIMEDOUT;
			}
			struct timespec ts = {0, 10 * 1000 * 1000};
			nanosleep(&ts, NULL);
			continue;
		}
		if (e == EINPROGRESS) {
			int w = wait_fd(fd, POLLOUT, deadline);
			if (w <= 0) {
				set_err(err, errcap, "%s: timed out connecting", path);
				return w < 0 ? w : -ETIMEDOUT;
			}
			socklen_t len = sizeof(e);
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
				e = errno;
			if (e == 0)
				return 0;
		}
		if (e == ENOENT || e == ECONNREFUSED)
			set_err(err, errcap, "kubetund is not running (%s: %s)", path, strerror(e));
		else
			set_err(err, errcap, "cannot connect to %s: %s", path, strerror(e));
		return -e;
	}
}

int kt_control_request(const char *path, const cJSON *request, int timeout_ms, cJSON **result,
		       char *err, size_t errcap)
{
	*result = NULL;
	struct sockaddr_un sa;
	if (!path || strlen(path) >= sizeof(sa.sun_path)) {
		set_err(err, errcap, "control socket path too long");
		return -ENAMETOOLONG;
	}
	int64_t deadline = mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int rc, fd = -1;
	struct kt_buf in;
	kt_buf_init(&in, KT_CONTROL_MAX_REPLY);
	char *text = cJSON_PrintUnformatted(request);
	if (!text) {
		set_err(err, errcap, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	size_t tlen = strlen(text);
	if (tlen + 1 > KT_CONTROL_MAX_REQUEST) {
		set_err(err, errcap, "request too large");
		rc = -EMSGSIZE;
		goto out;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		rc = -errno;
		set_err(err, errcap, "socket: %s", strerror(-rc));
		goto out;
	}
	if ((rc = client_connect(fd, path, deadline, err, errcap)) < 0)
		goto out;
	/* Send the request and its "\n" (the two pieces are sent in turn). */
	const char *parts[2] = {text, "\n"};
	size_t lens[2] = {tlen, 1};
	for (int i = 0; i < 2; i++) {
		size_t off = 0;
		while (off < lens[i]) {
			ssize_t n = send(fd, parts[i] + off, lens[i] - off, MSG_NOSIGNAL);
			if (n >= 0) {
				off += (size_t)n;
				continue;
			}
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN) {
				rc = -errno;
				set_err(err, errcap, "%s: send: %s", path, strerror(-rc));
				goto out;
			}
			int w = wait_fd(fd, POLLOUT, deadline);
			if (w <= 0) {
				rc = w < 0 ? w : -ETIMEDOUT;
				set_err(err, errcap, "%s: timed out sending the request", path);
				goto out;
			}
		}
	}
	/* Read up to the reply's "\n". */
	size_t scanned = 0;
	for (;;) {
		const char *p = (const char *)kt_buf_peek(&in);
		const char *nl = memchr(p + scanned, '\n', kt_buf_len(&in) - scanned);
		if (nl) {
			rc = kt_control_parse_reply(p, (size_t)(nl - p), result, err, errcap);
			goto out;
		}
		scanned = kt_buf_len(&in);
		size_t room = kt_buf_room(&in);
		if (room == 0) {
			set_err(err, errcap, "reply too large");
			rc = -EPROTO;
			goto out;
		}
		size_t want = room < 65536 ? room : 65536;
		uint8_t *dst = kt_buf_reserve(&in, want);
		if (!dst) {
			set_err(err, errcap, "out of memory");
			rc = -ENOMEM;
			goto out;
		}
		ssize_t n = recv(fd, dst, want, 0);
		if (n > 0) {
			kt_buf_commit(&in, (size_t)n);
			continue;
		}
		if (n == 0) {
			set_err(err, errcap, "%s: the daemon closed the connection without a reply",
				path);
			rc = -EPROTO;
			goto out;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			rc = -errno;
			set_err(err, errcap, "%s: recv: %s", path, strerror(-rc));
			goto out;
		}
		int w = wait_fd(fd, POLLIN, deadline);
		if (w <= 0) {
			rc = w < 0 ? w : -ETIMEDOUT;
			set_err(err, errcap, "%s: no reply within %d ms", path, timeout_ms);
			goto out;
		}
	}
out:
	if (fd >= 0)
		close(fd);
	free(text);
	kt_buf_fini(&in);
	return rc;
}

cJSON *kt_control_call(const char *path, const cJSON *request, int timeout_ms, char *err,
		       size_t errcap)
{
	cJSON *result = NULL;
	if (kt_control_request(path, request, timeout_ms, &result, err, errcap) < 0)
		return NULL;
	return result;
}
