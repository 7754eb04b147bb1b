/* conn.c: one TLS connection of the fake API server (see conn.h).
 *
 * Life cycle: HANDSHAKE → OPEN → (CLOSING → LINGER) → DEAD → GONE. The conn owns its fd, its SSL
 * object and two kt_bufs: `in` (decrypted input not yet consumed by the handler) and `out`
 * (plaintext queued for SSL_write). Output is never written from inside fc_conn_send(): a
 * deferred flush runs after the current dispatch round, so everything a handler queued in one
 * round leaves in as few TLS records as possible.
 *
 * Re-entrancy rules that keep callbacks off freed memory: on_close is never called from inside
 * fc_conn_abort()/fc_conn_close(); it runs from the loop's defer queue ("finish"). Every
 * deferred call that names the conn holds a reference (refs); the conn is freed only when it
 * is GONE (on_close and the owner's gone callback have run) and refs is zero. */
#include "conn.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "buf.h"
#include "cluster.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "server.h"

/* Bytes per SSL_read: OpenSSL hands out at most one record (16 KiB) per call, but with
 * read-ahead (set on the context) it fills its own buffer with large reads. */
#define READ_CHUNK (64u * 1024)
/* Stop reading for one event after this much, so one busy conn cannot starve the others. */
#define READ_BUDGET (512u * 1024)
/* Plaintext per SSL_write: one full TLS record. */
#define WRITE_CHUNK (16u * 1024)
/* Output queue marks (conn.h: producers wait for on_drain when send_room is 0). */
#define OUT_HIGH (256u * 1024)
#define OUT_LOW (64u * 1024)
#define OUT_CAP (16u * 1024 * 1024)
/* Input: a request head (64 KiB) plus the largest body the HTTP layer accepts (8 MiB). */
#define IN_CAP (9u * 1024 * 1024)
/* Buffers larger than this are released when they become empty. */
#define BUF_KEEP (1024u * 1024)
#define HANDSHAKE_TIMEOUT_MS 10000
#define LINGER_TIMEOUT_MS 2000

enum conn_state { ST_HANDSHAKE, ST_OPEN, ST_CLOSING, ST_LINGER, ST_DEAD, ST_GONE };

struct fc_conn {
	struct fc_cluster *cl;
	struct fc_loop *loop;
	int fd;
	SSL *ssl;
	enum conn_state state;
	uint64_t id;
	char peer[64];

	const struct fc_conn_ops *ops;
	void *h;

	struct kt_buf in, out;
	size_t wpend; /* length of an SSL_write to retry after WANT_*, 0 if none */
	short events; /* what the loop watches now */
	bool paused;
	bool in_offer; /* an on_data loop is on the stack */
	bool drain_armed;
	bool hs_want_write;
	bool read_wants_write;
	bool write_wants_read;
	bool shutdown_sent;

	bool flush_sched, kick_sched, finish_sched;
	unsigned refs; /* deferred calls pending for this conn */

	struct fc_timer *timer; /* handshake or linger timeout */
	struct fc_server_stats *stats;
	fc_conn_gone_fn gone;
	void *gone_arg;
};

static void conn_die(struct fc_conn *c);
static void update_events(struct fc_conn *c);
static void kick_cb(void *arg);
static void conn_defer(struct fc_conn *c, fc_loop_fn fn, bool *sched);

static void conn_free(struct fc_conn *c)
{
	SSL_free(c->ssl);
	kt_buf_fini(&c->in);
	kt_buf_fini(&c->out);
	free(c);
}

/* Drops a deferred call's reference; true if the conn was freed. */
static bool unref(struct fc_conn *c)
{
	c->refs--;
	if (c->state == ST_GONE && c->refs == 0) {
		conn_free(c);
		return true;
	}
	return false;
}

static void conn_defer(struct fc_conn *c, fc_loop_fn fn, bool *sched)
{
	if (*sched)
		return;
	if (fc_loop_defer(c->loop, fn, c) < 0) {
		kt_log_warnx("conn %llu: cannot queue a deferred call", (unsigned long long)c->id);
		return;
	}
	*sched = true;
	c->refs++;
}

static bool alive(const struct fc_conn *c)
{
	return c->state < ST_DEAD;
}

static void release_if_big(struct kt_buf *b)
{
	if (b->len == 0 && b->cap > BUF_KEEP)
		kt_buf_fini(b);
}

/* --- input --- */

/* Hands buffered input to the handler until it stops consuming. Handler swaps take effect
 * at once: the rest goes to the new handler (conn.h). */
static void offer(struct fc_conn *c)
{
	if (c->in_offer)
		return;
	c->in_offer = true;
	while (c->state == ST_OPEN && !c->paused && c->ops && kt_buf_len(&c->in) > 0) {
		const struct fc_conn_ops *ops = c->ops;
		void *h = c->h;
		size_t len = kt_buf_len(&c->in);
		size_t used = ops->on_data(h, c, kt_buf_peek(&c->in), len);
		if (used > len)
			used = len;
		kt_buf_consume(&c->in, used);
		if (c->ops != ops || c->h != h)
			continue;
		if (used == 0)
			break;
	}
	c->in_offer = false;
	release_if_big(&c->in);
}

static void peer_eof(struct fc_conn *c)
{
	/* The peer will send nothing more. Finish writing what is queued, then close. */
	if (c->state == ST_OPEN && kt_buf_len(&c->out) > 0) {
		c->state = ST_CLOSING;
		return;
	}
	conn_die(c);
}

/* Reads until OpenSSL wants more from the socket, the budget is spent, or the handler paused. */
static void do_read(struct fc_conn *c)
{
	size_t got = 0;
	bool eof = false;
	c->read_wants_write = false;
	while (c->state == ST_OPEN && !c->paused && got < READ_BUDGET) {
		size_t room = kt_buf_room(&c->in);
		if (room == 0)
			break;
		size_t want = room < READ_CHUNK ? room : READ_CHUNK;
		uint8_t *dst = kt_buf_reserve(&c->in, want);
		if (!dst) {
			kt_log_warnx("conn %llu: out of memory", (unsigned long long)c->id);
			conn_die(c);
			return;
		}
		ERR_clear_error();
		int r = SSL_read(c->ssl, dst, (int)want);
		if (r > 0) {
			kt_buf_commit(&c->in, (size_t)r);
			got += (size_t)r;
			continue;
		}
		int e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_READ)
			break;
		if (e == SSL_ERROR_WANT_WRITE) {
			c->read_wants_write = true;
			break;
		}
		if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0)) {
			eof = true;
		} else {
			kt_log_debug("conn %llu %s: read failed (ssl error %d, %s)",
				     (unsigned long long)c->id, c->peer, e,
				     ERR_reason_error_string(ERR_peek_last_error())
					 ? ERR_reason_error_string(ERR_peek_last_error())
					 : strerror(errno));
			conn_die(c);
			return;
		}
		break;
	}
	if (c->stats)
		c->stats->bytes_in += got;
	if (kt_buf_len(&c->in) > 0)
		offer(c);
	if (eof && alive(c))
		peer_eof(c);
	else if (got >= READ_BUDGET && c->state == ST_OPEN && !c->paused && SSL_has_pending(c->ssl))
		conn_defer(c, kick_cb, &c->kick_sched); /* budget spent; poll(2) cannot see these */
}

/* Reads from a conn in LINGER (after our close_notify and FIN): discard until the peer's FIN,
 * so closing never resets a connection whose peer has not read our last bytes yet. */
static void do_linger_read(struct fc_conn *c)
{
	uint8_t scratch[4096];
	for (;;) {
		ssize_t n = recv(c->fd, scratch, sizeof(scratch), 0);
		if (n > 0)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0 && errno == EINTR)
			continue;
		conn_die(c);
		return;
	}
}

/* --- output --- */

static void linger_timeout(void *arg)
{
	struct fc_conn *c = arg;
	c->timer = NULL;
	conn_die(c);
}

static void start_shutdown(struct fc_conn *c)
{
	if (!c->shutdown_sent) {
		ERR_clear_error();
		int r = SSL_shutdown(c->ssl);
		if (r < 0 && SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_WRITE)
			return; /* retried on POLLOUT */
		/* Sent, or the peer is gone already (then the linger read sees that at once). */
		c->shutdown_sent = true;
	}
	shutdown(c->fd, SHUT_WR);
	c->state = ST_LINGER;
	c->timer = fc_loop_timer(c->loop, LINGER_TIMEOUT_MS, linger_timeout, c);
	do_linger_read(c);
}

static void do_write(struct fc_conn *c)
{
	c->write_wants_read = false;
	bool blocked = false;
	while ((c->state == ST_OPEN || c->state == ST_CLOSING) && !blocked) {
		while (kt_buf_len(&c->out) > 0) {
			size_t len = kt_buf_len(&c->out);
			size_t n = c->wpend ? c->wpend : (len < WRITE_CHUNK ? len : WRITE_CHUNK);
			ERR_clear_error();
			int r = SSL_write(c->ssl, kt_buf_peek(&c->out), (int)n);
			if (r > 0) {
				c->wpend = 0;
				kt_buf_consume(&c->out, (size_t)r);
				if (c->stats)
					c->stats->bytes_out += (uint64_t)r;
				continue;
			}
			int e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
				/* OpenSSL requires the retry with the same bytes and length. */
				c->wpend = n;
				c->write_wants_read = e == SSL_ERROR_WANT_READ;
				blocked = true;
				break;
			}
			kt_log_debug("conn %llu %s: write failed (ssl error %d)",
				     (unsigned long long)c->id, c->peer, e);
			conn_die(c);
			return;
		}
		if (c->drain_armed && kt_buf_len(&c->out) < OUT_LOW) {
			c->drain_armed = false;
			if (c->state == ST_OPEN && c->ops && c->ops->on_drain) {
				c->ops->on_drain(c->h, c);
				if (kt_buf_len(&c->out) > 0)
					continue; /* the producer refilled the queue: keep writing
						   */
			}
		}
		break;
	}
	if (!alive(c))
		return;
	release_if_big(&c->out);
	if (c->state == ST_CLOSING && kt_buf_len(&c->out) == 0)
		start_shutdown(c);
}

/* --- events --- */

static void update_events(struct fc_conn *c)
{
	if (!alive(c))
		return;
	short ev = 0;
	switch (c->state) {
	case ST_HANDSHAKE:
		ev = c->hs_want_write ? POLLOUT : POLLIN;
		break;
	case ST_OPEN:
		if ((!c->paused && kt_buf_room(&c->in) > 0) || c->write_wants_read)
			ev |= POLLIN;
		if ((kt_buf_len(&c->out) > 0 && !c->write_wants_read) || c->read_wants_write)
			ev |= POLLOUT;
		break;
	case ST_CLOSING:
		if (c->write_wants_read)
			ev |= POLLIN;
		else
			ev |= POLLOUT;
		break;
	case ST_LINGER:
		ev = POLLIN;
		break;
	default:
		return;
	}
	if (ev != c->events) {
		c->events = ev;
		fc_loop_set_events(c->loop, c->fd, ev);
	}
}

static void handshake_timeout(void *arg)
{
	struct fc_conn *c = arg;
	c->timer = NULL;
	kt_log_debug("conn %llu %s: TLS handshake timed out", (unsigned long long)c->id, c->peer);
	if (c->stats)
		c->stats->tls_failures++;
	conn_die(c);
}

static void do_handshake(struct fc_conn *c)
{
	ERR_clear_error();
	int r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		fc_loop_timer_cancel(c->loop, c->timer);
		c->timer = NULL;
		c->state = ST_OPEN;
		c->hs_want_write = false;
		fc_http_attach(c);
		/* The client may have sent its first request along with its Finished message. */
		do_read(c);
		return;
	}
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		c->hs_want_write = e == SSL_ERROR_WANT_WRITE;
		return;
	}
	unsigned long err = ERR_peek_last_error();
	kt_log_debug("conn %llu %s: TLS handshake failed: %s", (unsigned long long)c->id, c->peer,
		     err ? ERR_reason_error_string(err) : "connection closed");
	if (c->stats)
		c->stats->tls_failures++;
	conn_die(c);
}

static void conn_io(void *arg, short revents)
{
	struct fc_conn *c = arg;
	/* Hold a reference: a callback below may abort the conn, and its finish may not free it
	 * until this function is done with it. */
	c->refs++;
	if (c->state == ST_HANDSHAKE) {
		if (revents & (POLLERR | POLLNVAL)) {
			if (c->stats)
				c->stats->tls_failures++;
			conn_die(c);
		} else {
			do_handshake(c);
		}
	} else if (c->state == ST_LINGER) {
		do_linger_read(c);
	} else if (alive(c)) {
		if (revents & (POLLERR | POLLNVAL)) {
			conn_die(c);
		} else {
			bool can_read =
			    (revents & POLLIN) || (c->read_wants_write && (revents & POLLOUT));
			if (can_read && !c->write_wants_read)
				do_read(c);
			if (alive(c) &&
			    ((revents & POLLOUT) || (c->write_wants_read && (revents & POLLIN))))
				do_write(c);
			if (alive(c) && (revents & POLLHUP) && !(revents & POLLIN))
				conn_die(c); /* both directions are gone */
		}
	}
	update_events(c);
	unref(c);
}

/* --- deferred calls --- */

static void flush_cb(void *arg)
{
	struct fc_conn *c = arg;
	c->flush_sched = false;
	if (alive(c)) {
		do_write(c);
		update_events(c);
	}
	unref(c);
}

static void kick_cb(void *arg)
{
	struct fc_conn *c = arg;
	c->kick_sched = false;
	if (c->state == ST_OPEN && !c->paused) {
		/* Records already decrypted-ahead inside OpenSSL are invisible to poll(2). */
		if (SSL_has_pending(c->ssl))
			do_read(c);
		else if (kt_buf_len(&c->in) > 0)
			offer(c);
		if (alive(c) && kt_buf_len(&c->out) > 0)
			do_write(c);
		update_events(c);
	}
	unref(c);
}

static void finish_cb(void *arg)
{
	struct fc_conn *c = arg;
	c->finish_sched = false;
	if (c->state == ST_DEAD) {
		c->state = ST_GONE;
		if (c->ops && c->ops->on_close)
			c->ops->on_close(c->h, c);
		if (c->gone)
			c->gone(c->gone_arg, c);
		kt_buf_fini(&c->in);
		kt_buf_fini(&c->out);
	}
	unref(c);
}

static void conn_die(struct fc_conn *c)
{
	if (!alive(c))
		return;
	fc_loop_timer_cancel(c->loop, c->timer);
	c->timer = NULL;
	fc_loop_unwatch(c->loop, c->fd);
	close(c->fd);
	c->fd = -1;
	c->state = ST_DEAD;
	/* The buffers stay: a handler that aborts from on_data may still look at its input. */
	conn_defer(c, finish_cb, &c->finish_sched);
}

/* --- public --- */

struct fc_conn *fc_conn_new(struct fc_cluster *cl, int fd, struct ssl_ctx_st *ctx, const char *peer,
			    uint64_t id, struct fc_server_stats *stats, fc_conn_gone_fn gone,
			    void *gone_arg)
{
	struct fc_conn *c = calloc(1, sizeof(*c));
	if (!c)
		goto fail;
	c->cl = cl;
	c->loop = cl->loop;
	c->fd = fd;
	c->id = id;
	c->stats = stats;
	c->gone = gone;
	c->gone_arg = gone_arg;
	snprintf(c->peer, sizeof(c->peer), "%s", peer ? peer : "?");
	kt_buf_init(&c->in, IN_CAP);
	kt_buf_init(&c->out, OUT_CAP);
	c->ssl = SSL_new(ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1)
		goto fail;
	SSL_set_accept_state(c->ssl);
	c->timer = fc_loop_timer(c->loop, HANDSHAKE_TIMEOUT_MS, handshake_timeout, c);
	if (!c->timer)
		goto fail;
	c->events = POLLIN;
	if (fc_loop_watch(c->loop, fd, POLLIN, conn_io, c) < 0)
		goto fail;
	return c;
fail:
	if (c) {
		fc_loop_timer_cancel(c->loop, c->timer);
		SSL_free(c->ssl);
		free(c);
	}
	close(fd);
	return NULL;
}

void fc_conn_drop(struct fc_conn *c)
{
	if (!c)
		return;
	conn_die(c);
	if (c->state == ST_DEAD) {
		/* Run the finish now; the queued finish_cb only drops its reference. */
		c->refs++;
		c->finish_sched = true;
		finish_cb(c);
	}
}

void fc_conn_set_ops(struct fc_conn *c, const struct fc_conn_ops *ops, void *h)
{
	c->ops = ops;
	c->h = h;
	if (c->state == ST_OPEN && kt_buf_len(&c->in) > 0 && !c->in_offer)
		conn_defer(c, kick_cb, &c->kick_sched);
}

void *fc_conn_handler(const struct fc_conn *c, const struct fc_conn_ops *ops)
{
	return c->ops == ops ? c->h : NULL;
}

int fc_conn_send(struct fc_conn *c, const void *p, size_t n)
{
	if (c->state != ST_OPEN)
		return -EPIPE;
	if (n == 0)
		return 0;
	int r = kt_buf_append(&c->out, p, n);
	if (r < 0)
		return r;
	if (kt_buf_len(&c->out) >= OUT_LOW)
		c->drain_armed = true;
	conn_defer(c, flush_cb, &c->flush_sched);
	return 0;
}

size_t fc_conn_send_room(const struct fc_conn *c)
{
	if (c->state != ST_OPEN)
		return 0;
	size_t q = kt_buf_len(&c->out);
	return q >= OUT_HIGH ? 0 : OUT_HIGH - q;
}

size_t fc_conn_queued(const struct fc_conn *c)
{
	return alive(c) ? kt_buf_len(&c->out) : 0;
}

void fc_conn_pause(struct fc_conn *c, bool paused)
{
	if (c->paused == paused)
		return;
	c->paused = paused;
	if (!alive(c))
		return;
	if (!paused && c->state == ST_OPEN && (kt_buf_len(&c->in) > 0 || SSL_has_pending(c->ssl)))
		conn_defer(c, kick_cb, &c->kick_sched);
	if (!c->in_offer)
		update_events(c);
}

void fc_conn_close(struct fc_conn *c)
{
	if (c->state == ST_HANDSHAKE) {
		conn_die(c);
		return;
	}
	if (c->state != ST_OPEN)
		return;
	c->state = ST_CLOSING;
	conn_defer(c, flush_cb, &c->flush_sched);
}

void fc_conn_abort(struct fc_conn *c)
{
	conn_die(c);
}

bool fc_conn_closing(const struct fc_conn *c)
{
	return c->state >= ST_CLOSING;
}

struct fc_cluster *fc_conn_cluster(const struct fc_conn *c)
{
	return c->cl;
}

const char *fc_conn_peer(const struct fc_conn *c)
{
	return c->peer;
}

uint64_t fc_conn_id(const struct fc_conn *c)
{
	return c->id;
}

struct ssl_st *fc_conn_ssl(const struct fc_conn *c)
{
	return c->ssl;
}
