/* conn.h: one accepted client connection of the fake API server (TLS over TCP).
 *
 * A conn owns its socket, its SSL object, an input buffer and an output queue. Bytes are handed
 * to the current handler (struct fc_conn_ops); a handler consumes what it can and the rest stays
 * buffered, so protocol layers can be swapped mid-stream: the HTTP layer parses a request, and an
 * upgrade (watch stream, WebSocket, SPDY) installs its own ops with fc_conn_set_ops(); bytes
 * already received after the request go to the new handler.
 *
 * Flow control: fc_conn_send() always queues (up to a hard cap); producers check
 * fc_conn_send_room() first and wait for on_drain. A handler that cannot take input calls
 * fc_conn_pause(c, true) and resumes later. The server owns every conn; handlers never free one:
 * they call fc_conn_close() (flush, then close) or fc_conn_abort() (now), and get on_close. */
#ifndef FC_CONN_H
#define FC_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fc_conn;
struct fc_cluster;

struct fc_conn_ops {
	/* New input; return how many bytes were consumed (the rest is offered again later). */
	size_t (*on_data)(void *h, struct fc_conn *c, const uint8_t *p, size_t n);
	/* The output queue fell below its low-water mark after having been above it.
	 * May be NULL. */
	void (*on_drain)(void *h, struct fc_conn *c);
	/* The peer closed or an error occurred (peer_eof tells which), or the server is
	 * dropping the conn. The handler frees its state; the conn is gone after this returns. */
	void (*on_close)(void *h, struct fc_conn *c);
};

void fc_conn_set_ops(struct fc_conn *c, const struct fc_conn_ops *ops, void *h);
int fc_conn_send(struct fc_conn *c, const void *p, size_t n); /* 0, -ENOBUFS, -EPIPE */
size_t fc_conn_send_room(const struct fc_conn *c);	      /* bytes before the high-water mark */
size_t fc_conn_queued(const struct fc_conn *c); /* bytes not yet written to the socket */
void fc_conn_pause(struct fc_conn *c, bool paused);
void fc_conn_close(struct fc_conn *c); /* after the queue is flushed */
void fc_conn_abort(struct fc_conn *c); /* at once */
struct fc_cluster *fc_conn_cluster(const struct fc_conn *c);
/* "ip:port" of the peer, for logs. */
const char *fc_conn_peer(const struct fc_conn *c);
uint64_t fc_conn_id(const struct fc_conn *c);

/* --- Used only by the server (server.c) and the HTTP layer (http.c). --- */

struct fc_server_stats;
struct ssl_st;
struct ssl_ctx_st;

/* Called once, after the handler's on_close (or right away for a conn that never finished its
 * TLS handshake): the owner unlinks the conn. The conn frees itself later. */
typedef void (*fc_conn_gone_fn)(void *arg, struct fc_conn *c);

/* Takes ownership of the accepted non-blocking socket fd and starts the TLS handshake with ctx;
 * once it completes, the HTTP layer becomes the handler. NULL on failure (fd is then closed). */
struct fc_conn *fc_conn_new(struct fc_cluster *cl, int fd, struct ssl_ctx_st *ctx, const char *peer,
			    uint64_t id, struct fc_server_stats *stats, fc_conn_gone_fn gone,
			    void *gone_arg);
/* Server teardown: closes at once and runs on_close and gone now. Never call it from a callback
 * of this conn. The memory is released as soon as no deferred call refers to it. */
void fc_conn_drop(struct fc_conn *c);
/* The current handler state when the current ops are ops, else NULL. */
void *fc_conn_handler(const struct fc_conn *c, const struct fc_conn_ops *ops);
/* True once fc_conn_close() or fc_conn_abort() was called or the peer went away (false while
 * the TLS handshake runs). */
bool fc_conn_closing(const struct fc_conn *c);
/* The TLS session, for authentication. */
struct ssl_st *fc_conn_ssl(const struct fc_conn *c);

#endif
