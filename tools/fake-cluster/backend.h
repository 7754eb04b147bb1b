/* backend.h: the in-process "pod" behind a fake-cluster port-forward stream.
 *
 * When a client port-forwards to a simulated pod, the fake cluster opens no socket: it feeds the
 * stream's bytes into a struct fc_backend, a byte-in/byte-out state machine that behaves like an
 * HTTP/1.1 server listening on the pod port (optionally over TLS). It owns no fd and no timer; the
 * owner moves bytes and time through the calls below and the callbacks in struct fc_backend_io.
 *
 * Routes (every response carries X-Pod-Name, X-Pod-Namespace and X-Pod-Port):
 *   GET|HEAD /            200 "pod=<name> namespace=<ns> port=<containerPort>\n"
 *   GET|HEAD /bytes/N     200 with N bytes (N <= FC_BACKEND_BYTES_MAX), byte i = i % 251, generated
 *                         by pump() from a shared pattern table, never buffered whole
 *   POST|PUT /sha256      200 lowercase hex SHA-256 of the request body + "\n", hashed
 *                         as the body arrives
 *   POST|PUT /discard     200 "<body length>\n"; the body is counted and dropped
 *   GET|HEAD /delay/MS    200 "delayed <MS>\n" after MS milliseconds (clamped to
 *                         FC_BACKEND_DELAY_MAX_MS), timed through set_timer()/on_timer()
 *   GET|HEAD /close       no response: abortive close, closed(arg, true)
 * Unknown path -> 404; known path, other method -> 405 with Allow; malformed request -> 400 and
 * close; request line longer than FC_BACKEND_HEAD_MAX -> 414, head longer -> 431; a transfer coding
 * other than "chunked" -> 501; HTTP major version other than 1 -> 505; an Expect other than
 * 100-continue -> 417 (all of these close the connection). Keep-alive is the HTTP/1.1 default,
 * "Connection: close" is honoured, HTTP/1.0 closes unless "Connection: keep-alive". Pipelined
 * requests are answered in order: the next request head is parsed only once the previous response
 * has been produced completely. A request is answered once its body has been read completely.
 *
 * Output and flow control: output() is called ONLY from inside fc_backend_pump(), and every pump
 * call hands at most `room` bytes to output() (TLS: ciphertext bytes). input(), input_eof() and
 * on_timer() only parse and stage. So after each of those calls the owner checks
 * fc_backend_has_pending() and pumps when it has room downstream (and again whenever room frees
 * up, as long as has_pending() is true). closed() may be called from input(), input_eof(),
 * on_timer() or pump(); the owner frees the backend after that call returns, never inside it.
 * fc_backend_free() calls no callback: the owner cancels its own timer.
 *
 * Inbound bound: bytes that cannot be processed yet (a partial request head, or pipelined requests
 * waiting behind a response) are kept, at most FC_BACKEND_IN_MAX of them. Request bodies are
 * consumed as they arrive (hashed or discarded), never kept. fc_backend_input_room() says how many
 * bytes input() is guaranteed to accept; beyond it input() fails with -ENOBUFS and resets.
 *
 * Memory bound per backend, our own allocations: plain mode <= 56 KiB (the struct with its 4 KiB
 * response staging buffer, about 5 KiB; <= FC_BACKEND_IN_MAX = 48 KiB of inbound bytes; an
 * EVP_MD_CTX once /sha256 was used); TLS mode adds an 18 KiB scratch buffer (<= 76 KiB). TLS
 * mode also has OpenSSL's own buffers: the read BIO holds at most one 16 KiB input slice, the
 * SSL object at most one partial record, the write BIO at most one encrypted record (or the
 * handshake flight, or close_notify), plus the SSL object's internal record buffers. The /bytes
 * pattern table (64.5 KiB) is one per process, shared by all backends.
 */
#ifndef FC_BACKEND_H
#define FC_BACKEND_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FC_BACKEND_HEAD_MAX 16384	  /* request line + header fields */
#define FC_BACKEND_IN_MAX 49152		  /* unprocessed inbound bytes kept */
#define FC_BACKEND_CHUNK_LINE_MAX 1024	  /* chunk-size line incl. extensions */
#define FC_BACKEND_DELAY_MAX_MS 600000	  /* /delay/MS clamp */
#define FC_BACKEND_BYTES_MAX (1ULL << 50) /* largest N for /bytes/N */
#define FC_BACKEND_NAME_MAX 253		  /* pod name / namespace length */

struct fc_backend;

struct fc_backend_io {
	/* Bytes from the pod toward the client. The callee takes all n (it queues them). Only
	 * called from fc_backend_pump(), with at most `room` bytes in total per pump call. */
	void (*output)(void *arg, const uint8_t *p, size_t n);
	/* The pod side ends the connection: reset=false: clean close (FIN) after all output so
	 * far (TLS: close_notify has been output); reset=true: abortive close (RST), e.g. for GET
	 * /close, a TLS error or an inbound overflow. Called at most once. After it the backend
	 * ignores input and produces no output; the owner frees it (never from inside this
	 * callback). */
	void (*closed)(void *arg, bool reset);
	/* Ask for fc_backend_on_timer() after ms milliseconds; a new call replaces the pending
	 * timer; 0 cancels. */
	void (*set_timer)(void *arg, uint64_t ms);
};

struct fc_backend_info {
	const char *pod_name, *pod_namespace; /* copied; 1..253 printable ASCII, no spaces */
	int port;			      /* containerPort, 1..65535 */
	SSL_CTX *tls; /* non-NULL: serve TLS (server side) with this context; borrowed, must outlive
			 the backend */
};

/* NULL on invalid info or allocation failure. */
struct fc_backend *fc_backend_new(const struct fc_backend_info *info,
				  const struct fc_backend_io *io, void *arg);
void fc_backend_free(struct fc_backend *b);
/* Client -> pod bytes. 0 when all n were accepted (also after close: they are ignored);
 * -ENOBUFS when more than fc_backend_input_room() bytes could not be processed yet (the backend
 * has then reset: closed(arg, true)); -ENOMEM likewise after an allocation failure. */
int fc_backend_input(struct fc_backend *b, const uint8_t *p, size_t n);
/* Bytes input() is guaranteed to accept right now; an owner with flow control of its own (SPDY
 * window, stop reading) can use it to push back instead of overflowing. */
size_t fc_backend_input_room(const struct fc_backend *b);
/* Client half-closed: requests already received are answered, then the backend closes cleanly. */
void fc_backend_input_eof(struct fc_backend *b);
/* Flow control: hand at most `room` more bytes to output() now; returns the bytes handed over. */
size_t fc_backend_pump(struct fc_backend *b, size_t room);
/* More output is waiting for pump(). */
bool fc_backend_has_pending(const struct fc_backend *b);
void fc_backend_on_timer(struct fc_backend *b);

#endif
