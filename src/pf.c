/* pf.c: Kubernetes port-forward streams over WebSocket v4.channel.k8s.io (pf.h).
 *
 * One stream = one TLS connection of its own to the API server (a non-blocking socket watched
 * with kt_evloop_watch and an OpenSSL client made from the cluster's SSL_CTX, k8s_lws.h: same
 * CA, client certificate, verification name, SNI and credentials as the REST client), carrying
 *   GET {prefix}/api/v1/namespaces/{ns}/pods/{pod}/portforward?ports={port}
 * as an RFC 6455 upgrade offering Sec-WebSocket-Protocol v4.channel.k8s.io. libwebsockets is
 * not on this path: its client parser handles received WebSocket data byte by byte, which cost
 * most of the daemon's CPU on a download; here frames go through wsframe.h and payload bytes
 * are handed over in place, a TLS record (up to 16 KiB) at a time.
 *
 * Wire format (protocol.md section 1): every binary message is [channel][payload]; the server
 * sends, once per channel, a first message whose payload starts with the port as 2 bytes
 * little-endian (data channel 0, then error channel 1), then pod bytes on channel 0 and
 * "error forwarding port ..." text on channel 1. The client sends [0x00][payload] as masked
 * binary frames (RFC 6455 section 5.3: a fresh key per frame, from a xorshift generator seeded
 * with RAND_bytes; the key only defeats proxy cache poisoning, it is no secret). A stream is
 * open once both prefixes arrived and named our port.
 *
 * Flow control: kt_pf_send() queues at most PF_SEND_QUEUE bytes; when the socket is writable
 * they go out as messages of at most PF_MSG_MAX payload bytes (one frame = one TLS record),
 * and on_writable fires when the queue had filled up and has room again. kt_pf_pause_rx()
 * stops reading the socket; bytes already read stay in the rx buffer until resumed.
 *
 * A non-101 answer to the upgrade is read to its end and reported as "HTTP <code>: <Status
 * message>". A 401 with an exec credential first re-runs the plugin and retries once.
 *
 * Memory per stream (bounded, about 100 KiB at most): this struct (~1 KiB); OpenSSL's
 * connection state (a few KiB) and its record buffers (~34 KiB, released when idle:
 * SSL_MODE_RELEASE_BUFFERS on the context); the rx buffer (PF_RX_CAP, 16 KiB + 256, freed
 * whenever it is empty); the send queue (<= PF_SEND_QUEUE = 32 KiB, freed when empty); one
 * frame being written (<= PF_MSG_MAX + 15 = 16 KiB, freed when written); error-channel text
 * (<= 4 KiB). An idle open stream holds only the struct and OpenSSL's connection state.
 *
 * Lifetime: user callbacks are bracketed by pf_enter/pf_leave so kt_pf_stream_free() inside
 * any of them only marks the stream and the outermost frame frees it; nothing runs inside
 * kt_pf_open() (the connection starts from a zero-delay timer) and kt_pf_close() before the
 * stream is up reports on_close from the loop too. kt_k8s_free() abandons streams still
 * alive (k8s_lws.h children): socket closed, no callbacks. Writes go through OpenSSL's socket
 * BIO, so the process must ignore SIGPIPE (libwebsockets' context and kubetund both do). */
#include "pf.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "base64.h"
#include "buf.h"
#include "evloop.h"
#include "k8s_lws.h"
#include "wsframe.h"

/* One masked frame of [0x00][payload] fits one 16 KiB TLS record exactly. */
#define PF_MSG_MAX (16384u - KT_WS_MAX_HDR - 1)
#define PF_SEND_QUEUE (32u * 1024)
/* One TLS record (SSL_read returns at most one) plus room for a partial frame header or a
 * held-back control frame. */
#define PF_RX_CAP (16384u + 256)
/* Bytes read per readiness event before other connections get their turn. */
#define PF_RX_BUDGET (64u * 1024)
#define PF_HDR_MAX 16384u /* upgrade answer headers */
#define PF_BODY_MAX 65536u
#define PF_ERR_MAX 4096u
#define PF_HANDSHAKE_MS 30000u
#define PF_CLOSE_WAIT_MS 3000u
#define PF_WS_PROTOCOL "v4.channel.k8s.io"
#define NAME_MAX_LEN 253

enum pf_state {
	PF_IDLE,    /* waiting for the start timer */
	PF_TCP,	    /* connect() in progress */
	PF_TLS,	    /* TLS handshake */
	PF_UPGRADE, /* sending the request, reading the answer's headers */
	PF_BODY,    /* non-101 answer: reading its body */
	PF_OPENING, /* WebSocket up, port prefixes not complete */
	PF_OPEN,    /* data flows */
	PF_CLOSING, /* our close frame is queued or sent: waiting for the server's */
	PF_DONE,    /* on_close delivered or scheduled */
};

struct kt_pf_stream {
	struct kt_k8s_child child;
	struct kt_k8s *k;
	struct kt_evloop *loop;
	char *path; /* API path with query, without the server prefix */
	uint16_t port;
	struct kt_pf_ops ops;
	void *arg;
	enum pf_state st;

	int fd;
	bool watched;
	bool tls_resumed; /* the handshake resumed a session (kt_pf_tls_resumed) */
	unsigned ev;	  /* events asked of the loop */
	SSL *ssl;
	bool rd_wants_write, wr_wants_read; /* SSL_read/SSL_write blocked on the other way */
	bool eof;			    /* the server closed the connection */

	/* Received bytes: [rx_off, rx_len) not yet consumed. */
	uint8_t *rx;
	size_t rx_off, rx_len;
	struct kt_buf hdrs; /* the upgrade answer (headers, then a refused answer's body) */
	size_t body_need;   /* Content-Length of a refused answer; SIZE_MAX: until EOF */
	bool body_chunked;
	char ws_key[32];

	/* Frame being received. */
	bool in_frame;
	struct kt_ws_hdr fh;
	uint64_t f_left; /* payload bytes of the current frame still to come */
	struct kt_ws_frag frag;
	int cur_ch; /* channel of the message being received; -2 at a message start, -1 for a
		     * message that is ignored */
	uint8_t pfx_have[2]; /* bytes of the 2-byte port prefix seen per channel */
	uint8_t pfx[2][2];

	/* Sending: wbuf holds one encoded frame (or the request) being written; ctl one
	 * control frame waiting behind it. */
	struct kt_buf txq; /* [payload] bytes to send on channel 0 */
	uint8_t *wbuf;
	size_t wlen, woff;
	uint8_t ctl[KT_WS_MAX_HDR + KT_WS_MAX_CONTROL];
	size_t ctl_len;
	bool close_queued, close_sent;
	uint64_t rng;

	struct kt_buf errtext; /* error-channel text, reported at the end */
	int http_status;
	bool rx_paused;
	bool tx_blocked;      /* the send queue filled up: on_writable is owed */
	bool close_requested; /* kt_pf_close(): flush, then close frame 1000 */
	bool auth_retried;
	bool freed;		     /* kt_pf_stream_free() ran inside a user callback */
	unsigned in_user;	     /* user callbacks on the stack */
	struct kt_timer *t_kick;     /* zero-delay: start, resume, or end */
	struct kt_timer *t_deadline; /* handshake or close-ack limit */
	char tls_err[192];
	char err[400];
};

/* ---- lifetime ---- */

static void pf_set_events(struct kt_pf_stream *s, unsigned ev)
{
	if (!s->watched || ev == s->ev)
		return;
	if (kt_evloop_set_events(s->loop, s->fd, ev) == 0)
		s->ev = ev;
}

/* Drops the connection (socket, TLS, buffers); no callbacks. */
static void pf_disconnect(struct kt_pf_stream *s)
{
	if (s->watched)
		kt_evloop_unwatch(s->loop, s->fd);
	s->watched = false;
	s->ev = 0;
	if (s->ssl)
		SSL_free(s->ssl);
	s->ssl = NULL;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	free(s->rx);
	s->rx = NULL;
	s->rx_off = s->rx_len = 0;
	free(s->wbuf);
	s->wbuf = NULL;
	s->wlen = s->woff = 0;
	s->ctl_len = 0;
	kt_buf_fini(&s->hdrs);
	kt_timer_disarm(s->t_deadline);
}

static void pf_destroy(struct kt_pf_stream *s)
{
	kt_k8s_child_del(s->k, &s->child);
	pf_disconnect(s);
	kt_timer_free(s->t_kick);
	kt_timer_free(s->t_deadline);
	kt_buf_fini(&s->txq);
	kt_buf_fini(&s->errtext);
	free(s->path);
	free(s);
}

static void pf_abandon(struct kt_k8s_child *ch)
{
	struct kt_pf_stream *s =
	    (struct kt_pf_stream *)((char *)ch - offsetof(struct kt_pf_stream, child));

	pf_destroy(s);
}

static void pf_enter(struct kt_pf_stream *s)
{
	s->in_user++;
}

/* False when the user freed the stream meanwhile (it is gone once the outermost frame
 * leaves): the caller must not touch it again. */
static bool pf_leave(struct kt_pf_stream *s)
{
	s->in_user--;
	if (!s->freed)
		return true;
	if (s->in_user == 0)
		pf_destroy(s);
	return false;
}

/* Records a failure text (reported before on_close) unless one is there already. */
static void pf_set_error(struct kt_pf_stream *s, const char *text)
{
	if (kt_buf_len(&s->errtext) == 0)
		kt_buf_append(&s->errtext, text, strnlen(text, PF_ERR_MAX));
}

/* Reports the end: the error text (if any), then on_close. Returns pf_leave's verdict. */
static bool pf_finish(struct kt_pf_stream *s)
{
	pf_disconnect(s);
	kt_timer_disarm(s->t_kick);
	s->st = PF_DONE;
	kt_buf_fini(&s->txq);
	if (kt_buf_len(&s->errtext) && s->ops.on_error) {
		char *t = malloc(kt_buf_len(&s->errtext) + 1);

		if (t) {
			memcpy(t, kt_buf_peek(&s->errtext), kt_buf_len(&s->errtext));
			t[kt_buf_len(&s->errtext)] = '\0';
		}
		kt_buf_fini(&s->errtext);
		pf_enter(s);
		s->ops.on_error(s->arg, t ? t : "port-forward error (out of memory)");
		free(t);
		if (!pf_leave(s))
			return false;
	}
	pf_enter(s);
	s->ops.on_close(s->arg);
	return pf_leave(s);
}

/* Fails the stream with err as its message (also counted against the cluster's health). */
static bool pf_fail(struct kt_pf_stream *s, const char *err)
{
	if (s->st < PF_OPENING)
		kt_k8s_note_error(s->k, err);
	pf_set_error(s, err);
	return pf_finish(s);
}

/* Ends the stream at the next turn of the loop (from outside our own I/O path). */
static void pf_end_async(struct kt_pf_stream *s)
{
	pf_disconnect(s);
	s->st = PF_DONE;
	kt_timer_arm(s->t_kick, 0);
}

/* ---- connecting ---- */

static void pf_io(void *arg, int fd, unsigned events);

static int pf_verify_idx = -1;

static int pf_verify_cb(int preverify_ok, X509_STORE_CTX *x)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct kt_pf_stream *s = ssl ? SSL_get_ex_data(ssl, pf_verify_idx) : NULL;

	if (!s)
		return preverify_ok;
	kt_k8s_lws_tls_verify(s->k, x, preverify_ok, s->tls_err, sizeof(s->tls_err));
	/* It clears the error only for insecure-skip-tls-verify. */
	return X509_STORE_CTX_get_error(x) == X509_V_OK;
}

static uint64_t pf_rand64(struct kt_pf_stream *s)
{
	/* xorshift64 (Marsaglia 2003). */
	uint64_t x = s->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	s->rng = x;
	return x;
}

/* Builds the upgrade request into wbuf. 0 or -1 with s->err set. */
static int pf_build_request(struct kt_pf_stream *s)
{
	uint8_t key[16];
	char *auth = NULL;
	size_t cap;
	int n;

	for (int i = 0; i < 2; i++) {
		uint64_t r = pf_rand64(s);

		memcpy(key + 8 * i, &r, 8);
	}
	if (kt_base64_encode(key, sizeof(key), s->ws_key, sizeof(s->ws_key)) < 0 ||
	    kt_k8s_bearer(s->k, &auth, s->err, sizeof(s->err)) < 0)
		return -1;
	cap = strlen(kt_k8s_path_prefix(s->k)) + strlen(s->path) +
	      strlen(kt_k8s_host_header(s->k)) + (auth ? strlen(auth) : 0) + 512;
	s->wbuf = malloc(cap);
	if (!s->wbuf) {
		snprintf(s->err, sizeof(s->err), "out of memory");
		goto fail;
	}
	/* RFC 6455 section 4.1; protocol.md section 1.2 for the subprotocol. */
	n = snprintf((char *)s->wbuf, cap,
		     "GET %s%s HTTP/1.1\r\n"
		     "Host: %s\r\n"
		     "Upgrade: websocket\r\n"
		     "Connection: Upgrade\r\n"
		     "Sec-WebSocket-Key: %s\r\n"
		     "Sec-WebSocket-Version: 13\r\n"
		     "Sec-WebSocket-Protocol: " PF_WS_PROTOCOL "\r\n"
		     "%s%s%s"
		     "Accept: application/json, */*\r\n"
		     "User-Agent: " KT_K8S_USER_AGENT "\r\n"
		     "\r\n",
		     kt_k8s_path_prefix(s->k), s->path, kt_k8s_host_header(s->k), s->ws_key,
		     auth ? "Authorization: " : "", auth ? auth : "", auth ? "\r\n" : "");
	if (auth) {
		OPENSSL_cleanse(auth, strlen(auth));
		free(auth);
		auth = NULL;
	}
	if (n < 0 || (size_t)n >= cap) {
		snprintf(s->err, sizeof(s->err), "request headers too long");
		goto fail;
	}
	s->wlen = (size_t)n;
	s->woff = 0;
	return 0;
fail:
	if (auth) {
		OPENSSL_cleanse(auth, strlen(auth));
		free(auth);
	}
	return -1;
}

static void pf_conn_error(struct kt_pf_stream *s, const char *reason, int e)
{
	kt_k8s_conn_error(s->k, reason, e, s->tls_err, s->err, sizeof(s->err));
}

/* Starts the connection; on failure reports it (returns pf_finish's verdict). */
static bool pf_connect(struct kt_pf_stream *s)
{
	struct sockaddr_storage sa;
	socklen_t salen;
	const char *sni;
	int one = 1;

	s->err[0] = s->tls_err[0] = '\0';
	s->http_status = 0;
	s->cur_ch = -2;
	s->pfx_have[0] = s->pfx_have[1] = 0;
	s->in_frame = false;
	memset(&s->frag, 0, sizeof(s->frag));
	s->eof = s->rd_wants_write = s->wr_wants_read = false;
	if (kt_k8s_prepare_auth(s->k, s->err, sizeof(s->err)) < 0)
		return pf_fail(s, s->err);
	if (kt_k8s_server_addr(s->k, &sa, &salen) < 0) {
		pf_conn_error(s, NULL, -1);
		return pf_fail(s, s->err);
	}
	if (pf_build_request(s) < 0)
		return pf_fail(s, s->err);
	s->fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		snprintf(s->err, sizeof(s->err), "connect to %s: socket: %s", kt_k8s_server(s->k),
			 strerror(errno));
		return pf_fail(s, s->err);
	}
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->ssl = SSL_new(kt_k8s_ssl_ctx(s->k));
	if (!s->ssl || SSL_set_fd(s->ssl, s->fd) != 1 ||
	    SSL_set_ex_data(s->ssl, pf_verify_idx, s) != 1) {
		snprintf(s->err, sizeof(s->err), "TLS setup for %s failed", kt_k8s_server(s->k));
		ERR_clear_error();
		return pf_fail(s, s->err);
	}
	SSL_set_verify(s->ssl, SSL_VERIFY_PEER, pf_verify_cb);
	sni = kt_k8s_sni(s->k);
	if (sni) {
		/* The macro casts its argument to void *: hand it a writable copy. */
		char name[256];

		snprintf(name, sizeof(name), "%s", sni);
		SSL_set_tlsext_host_name(s->ssl, name);
	}
	SSL_set_alpn_protos(s->ssl, (const unsigned char *)"\x08http/1.1", 9);
	kt_k8s_tls_resume(s->k, s->ssl);
	SSL_set_connect_state(s->ssl);
	if (connect(s->fd, (struct sockaddr *)&sa, salen) == 0) {
		s->st = PF_TLS;
	} else if (errno == EINPROGRESS) {
		s->st = PF_TCP;
	} else {
		int e = errno;

		kt_k8s_server_addr_forget(s->k);
		pf_conn_error(s, NULL, e);
		return pf_fail(s, s->err);
	}
	if (kt_evloop_watch(s->loop, s->fd, KT_EV_WRITE, pf_io, s) < 0) {
		snprintf(s->err, sizeof(s->err), "connect to %s: cannot watch the socket",
			 kt_k8s_server(s->k));
		return pf_fail(s, s->err);
	}
	s->watched = true;
	s->ev = KT_EV_WRITE;
	kt_timer_arm(s->t_deadline, PF_HANDSHAKE_MS);
	return true;
}

/* ---- HTTP upgrade answer ---- */

/* Case-insensitive header lookup in the header block h[0..n) (after the status line). Returns
 * the value (trimmed) and its length in *vl, or NULL. */
static const char *hdr_get(const char *h, size_t n, const char *name, size_t *vl)
{
	size_t nl = strlen(name);
	const char *p = memchr(h, '\n', n), *end = h + n;

	while (p && p + 1 < end) {
		const char *line = p + 1, *eol = memchr(line, '\n', (size_t)(end - line));

		if (!eol)
			break;
		if ((size_t)(eol - line) > nl && line[nl] == ':' && !strncasecmp(line, name, nl)) {
			const char *v = line + nl + 1, *ve = eol;

			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			*vl = (size_t)(ve - v);
			return v;
		}
		p = eol;
	}
	return NULL;
}

static bool hdr_is(const char *h, size_t n, const char *name, const char *want)
{
	size_t vl;
	const char *v = hdr_get(h, n, name, &vl);

	return v && vl == strlen(want) && !strncasecmp(v, want, vl);
}

/* Decodes a complete chunked body in place; returns its length, or SIZE_MAX if incomplete. */
static size_t dechunk(uint8_t *b, size_t n)
{
	size_t in = 0, out = 0;

	for (;;) {
		char *endp;
		unsigned long sz;
		const uint8_t *eol = memchr(b + in, '\n', n - in);

		if (!eol)
			return SIZE_MAX;
		errno = 0;
		sz = strtoul((const char *)b + in, &endp, 16);
		if (errno || endp == (char *)b + in)
			return SIZE_MAX;
		in = (size_t)(eol - b) + 1;
		if (sz == 0)
			return out;
		if (sz > n - in || n - in - sz < 2)
			return SIZE_MAX;
		memmove(b + out, b + in, sz);
		out += sz;
		in += sz + 2;
	}
}

/* True when a chunked body b[0..n) holds its last chunk (RFC 9112 section 7.1). */
static bool dechunk_done(const uint8_t *b, size_t n)
{
	return (n >= 5 && !memcmp(b, "0\r\n\r\n", 5)) || memmem(b, n, "\r\n0\r\n\r\n", 7);
}

/* The refused answer is complete: report it. Returns pf_finish's verdict, or true after a
 * 401 retry started. */
static bool pf_refused(struct kt_pf_stream *s)
{
	size_t len = kt_buf_len(&s->hdrs);
	uint8_t *body;
	char *m = NULL;
	cJSON *j;

	if (s->http_status == 401 && !s->auth_retried && kt_k8s_auth_refresh(s->k)) {
		s->auth_retried = true;
		pf_disconnect(s);
		s->st = PF_IDLE;
		kt_timer_arm(s->t_kick, 0);
		return true;
	}
	body = malloc(len + 1);
	if (body) {
		memcpy(body, kt_buf_peek(&s->hdrs), len);
		if (s->body_chunked)
			len = dechunk(body, len);
		if (len != SIZE_MAX && len &&
		    (j = cJSON_ParseWithLength((const char *)body, len))) {
			const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "message");

			if (cJSON_IsString(msg) && msg->valuestring[0])
				m = strdup(msg->valuestring);
			cJSON_Delete(j);
		}
		free(body);
	}
	if (m)
		snprintf(s->err, sizeof(s->err), "HTTP %d: %s", s->http_status, m);
	else
		snprintf(s->err, sizeof(s->err), "HTTP %d from the port-forward upgrade",
			 s->http_status);
	free(m);
	return pf_fail(s, s->err);
}

/* Looks at the answer's headers once complete. 1: WebSocket up; 0: refused (body follows,
 * st = PF_BODY); -1: broken answer (s->err set). */
static int pf_check_answer(struct kt_pf_stream *s, size_t hlen)
{
	const char *h = (const char *)kt_buf_peek(&s->hdrs);
	char want[KT_WS_ACCEPT_LEN + 1];
	const char *v;
	size_t vl;
	long code;
	char *endp;

	if (hlen < 12 || strncmp(h, "HTTP/1.", 7) != 0 || h[8] != ' ')
		goto broken;
	errno = 0;
	code = strtol(h + 9, &endp, 10);
	if (errno || endp != h + 12 || code < 100 || code > 599)
		goto broken;
	s->http_status = (int)code;
	if (code != 101) {
		v = hdr_get(h, hlen, "content-length", &vl);
		s->body_chunked = hdr_is(h, hlen, "transfer-encoding", "chunked");
		s->body_need = SIZE_MAX;
		if (v && !s->body_chunked) {
			unsigned long cl;

			errno = 0;
			cl = strtoul(v, &endp, 10);
			if (errno || endp != v + vl)
				goto broken;
			s->body_need = cl;
		}
		s->st = PF_BODY;
		return 0;
	}
	/* RFC 6455 section 4.1, the client's checks of the server's handshake. */
	if (kt_ws_accept_key(s->ws_key, strlen(s->ws_key), want) < 0)
		goto broken;
	v = hdr_get(h, hlen, "sec-websocket-accept", &vl);
	if (!v || vl != KT_WS_ACCEPT_LEN || memcmp(v, want, vl) != 0) {
		snprintf(s->err, sizeof(s->err),
			 "%s: the port-forward upgrade answer has a wrong Sec-WebSocket-Accept",
			 kt_k8s_server(s->k));
		return -1;
	}
	if (!hdr_is(h, hlen, "sec-websocket-protocol", PF_WS_PROTOCOL)) {
		snprintf(s->err, sizeof(s->err),
			 "%s: the server did not accept subprotocol " PF_WS_PROTOCOL,
			 kt_k8s_server(s->k));
		return -1;
	}
	return 1;
broken:
	snprintf(s->err, sizeof(s->err), "%s: malformed answer to the port-forward upgrade",
		 kt_k8s_server(s->k));
	return -1;
}

/* ---- receiving ---- */

/* Takes prefix bytes for channel ch from *p; true when the prefix became complete. */
static bool take_prefix(struct kt_pf_stream *s, int ch, const uint8_t **p, size_t *n)
{
	while (s->pfx_have[ch] < 2 && *n > 0) {
		s->pfx[ch][s->pfx_have[ch]++] = **p;
		(*p)++;
		(*n)--;
	}
	return s->pfx_have[ch] == 2;
}

/* Handles one piece of a received data message. Returns 0, or -1 when the stream must fail
 * (s->err set) and -2 when the user freed it. */
static int pf_rx(struct kt_pf_stream *s, const uint8_t *p, size_t n)
{
	if (s->cur_ch == -2) {
		if (n == 0)
			return 0; /* an empty message is ignored (wsstream/conn.go) */
		s->cur_ch = p[0] <= 1 ? p[0] : -1; /* we asked for one port: channels 0 and 1 */
		p++;
		n--;
	}
	if (s->cur_ch < 0)
		return 0;
	if (s->pfx_have[s->cur_ch] < 2) {
		int ch = s->cur_ch;

		if (take_prefix(s, ch, &p, &n)) {
			uint16_t got = (uint16_t)(s->pfx[ch][0] | s->pfx[ch][1] << 8);

			/* protocol.md 1.5: unsigned 16-bit little-endian. */
			if (got != s->port) {
				snprintf(s->err, sizeof(s->err),
					 "port-forward: the server announced port %u on channel "
					 "%d, expected %u",
					 got, ch, s->port);
				return -1;
			}
			if (s->pfx_have[0] == 2 && s->pfx_have[1] == 2 && s->st == PF_OPENING) {
				s->st = PF_OPEN;
				pf_enter(s);
				s->ops.on_open(s->arg);
				if (!pf_leave(s))
					return -2;
			}
		}
	}
	if (n == 0)
		return 0;
	if (s->cur_ch == 1) {
		size_t room = PF_ERR_MAX - kt_buf_len(&s->errtext);

		kt_buf_append(&s->errtext, p, n < room ? n : room);
		return 0;
	}
	if (s->st == PF_CLOSING)
		return 0; /* we closed: nobody takes pod bytes any more */
	if (s->st != PF_OPEN) {
		snprintf(s->err, sizeof(s->err), "port-forward: data before the port prefixes");
		return -1;
	}
	pf_enter(s);
	s->ops.on_data(s->arg, p, n);
	return pf_leave(s) ? 0 : -2;
}

/* Queues a control frame (pong or close) behind the frame being written. */
static void pf_queue_ctl(struct kt_pf_stream *s, unsigned op, const uint8_t *p, size_t n)
{
	uint64_t r = pf_rand64(s);
	uint8_t key[4];
	int h;

	if (s->ctl_len)
		return; /* one pending control frame is enough: a newer ping waits for it */
	memcpy(key, &r, 4);
	h = kt_ws_build_header(s->ctl, true, 0, op, n, key);
	if (h < 0)
		return;
	kt_ws_mask_copy(s->ctl + h, p, n, key, 0);
	s->ctl_len = (size_t)h + n;
}

static void pf_queue_close(struct kt_pf_stream *s)
{
	uint8_t pl[KT_WS_MAX_CONTROL];
	int n;

	if (s->close_queued)
		return;
	n = kt_ws_close_build(pl, KT_WS_CLOSE_NORMAL, NULL, 0);
	s->ctl_len = 0; /* a pending pong no longer matters */
	pf_queue_ctl(s, KT_WS_OP_CLOSE, pl, n > 0 ? (size_t)n : 0);
	s->close_queued = true;
}

/* Parses and consumes frames from the rx buffer. Returns 0 (needs more bytes, or paused),
 * 1 when the server's close frame arrived, -1 on a failure (s->err set) and -2 when the user
 * freed the stream. */
static int pf_frames(struct kt_pf_stream *s)
{
	static const struct kt_ws_parse_opts opts = {KT_WS_ROLE_CLIENT, 0, 0};

	while (s->rx_off < s->rx_len) {
		uint8_t *p = s->rx + s->rx_off;
		size_t n = s->rx_len - s->rx_off;

		if (!s->in_frame) {
			int r = kt_ws_parse_header(p, n, &opts, &s->fh);

			if (r == 0)
				return 0;
			if (r < 0 || kt_ws_frag_check(&s->frag, &s->fh, NULL) < 0) {
				snprintf(s->err, sizeof(s->err),
					 "port-forward: WebSocket protocol error from the server");
				return -1;
			}
			if (s->fh.opcode >= KT_WS_OP_CLOSE) {
				/* Control frame: act on it whole (<= 125 bytes, section 5.5). */
				size_t tot = s->fh.hdr_len + (size_t)s->fh.payload_len;

				if (n < tot)
					return 0;
				s->rx_off += tot;
				if (s->fh.opcode == KT_WS_OP_PING && !s->close_queued)
					pf_queue_ctl(s, KT_WS_OP_PONG, p + s->fh.hdr_len,
						     (size_t)s->fh.payload_len);
				else if (s->fh.opcode == KT_WS_OP_CLOSE)
					return 1;
				continue;
			}
			s->rx_off += s->fh.hdr_len;
			s->in_frame = true;
			s->f_left = s->fh.payload_len;
			if (s->f_left == 0)
				goto frame_end;
			continue;
		}
		if (s->rx_paused && s->st == PF_OPEN)
			return 0;
		{
			size_t take = n < s->f_left ? n : (size_t)s->f_left;
			int r;

			s->rx_off += take;
			s->f_left -= take;
			r = pf_rx(s, p, take);
			if (r < 0)
				return r;
			if (s->f_left)
				continue;
		}
	frame_end:
		s->in_frame = false;
		if (s->fh.fin)
			s->cur_ch = -2;
	}
	return 0;
}

/* ---- the I/O engine ---- */

/* Encodes the next data frame from txq into wbuf. */
static int pf_next_frame(struct kt_pf_stream *s)
{
	size_t n = kt_buf_len(&s->txq);
	uint64_t r = pf_rand64(s);
	uint8_t key[4], ch = 0;
	int h;

	if (n > PF_MSG_MAX)
		n = PF_MSG_MAX;
	if (!s->wbuf)
		s->wbuf = malloc(KT_WS_MAX_HDR + 1 + PF_MSG_MAX);
	if (!s->wbuf)
		return -ENOMEM;
	memcpy(key, &r, 4);
	/* protocol.md 1.4: client data is [channel 0][payload], one binary message. */
	h = kt_ws_build_header(s->wbuf, true, 0, KT_WS_OP_BINARY, n + 1, key);
	if (h < 0)
		return h;
	kt_ws_mask_copy(s->wbuf + h, &ch, 1, key, 0);
	kt_ws_mask_copy(s->wbuf + h + 1, kt_buf_peek(&s->txq), n, key, 1);
	kt_buf_consume(&s->txq, n);
	if (!kt_buf_len(&s->txq))
		kt_buf_fini(&s->txq); /* an idle stream keeps no send buffer */
	s->wlen = (size_t)h + 1 + n;
	s->woff = 0;
	return 0;
}

/* Writes what can be written. 0 (done or blocked), -1 on a failure (s->err set). */
static int pf_flush(struct kt_pf_stream *s)
{
	for (;;) {
		int r, e;

		if (s->woff == s->wlen) {
			s->woff = s->wlen = 0;
			if (s->st < PF_OPENING) {
				/* The request went out; wait for the answer. Its buffer is
				 * not frame-sized: drop it. */
				free(s->wbuf);
				s->wbuf = NULL;
				return 0;
			}
			if (s->ctl_len) {
				/* Control frames are small: move into wbuf. */
				if (!s->wbuf)
					s->wbuf = malloc(KT_WS_MAX_HDR + 1 + PF_MSG_MAX);
				if (!s->wbuf)
					return -1;
				memcpy(s->wbuf, s->ctl, s->ctl_len);
				s->wlen = s->ctl_len;
				s->ctl_len = 0;
				if (s->close_queued)
					s->close_sent = true;
			} else if (kt_buf_len(&s->txq) && !s->close_sent &&
				   (s->st == PF_OPEN || s->st == PF_OPENING ||
				    s->st == PF_CLOSING)) {
				if (pf_next_frame(s) < 0) {
					snprintf(s->err, sizeof(s->err), "out of memory");
					return -1;
				}
			} else {
				if (s->close_requested && !s->close_queued && s->st >= PF_OPENING) {
					pf_queue_close(s);
					s->st = PF_CLOSING;
					kt_timer_arm(s->t_deadline, PF_CLOSE_WAIT_MS);
					continue;
				}
				free(s->wbuf);
				s->wbuf = NULL;
				return 0;
			}
		}
		ERR_clear_error();
		r = SSL_write(s->ssl, s->wbuf + s->woff, (int)(s->wlen - s->woff));
		if (r > 0) {
			s->woff += (size_t)r;
			s->wr_wants_read = false;
			continue;
		}
		e = SSL_get_error(s->ssl, r);
		s->wr_wants_read = e == SSL_ERROR_WANT_READ;
		if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
			return 0;
		snprintf(s->err, sizeof(s->err), "port-forward: write to %s failed",
			 kt_k8s_server(s->k));
		return -1;
	}
}

static bool pf_tx_pending(const struct kt_pf_stream *s)
{
	return s->woff < s->wlen || s->ctl_len ||
	       (s->st >= PF_OPENING && !s->close_sent && kt_buf_len(&s->txq)) ||
	       (s->close_requested && !s->close_queued && s->st >= PF_OPENING);
}

/* Reads once into the rx buffer. >0 bytes, 0 would block, -1 EOF or failure (s->eof says). */
static int pf_read(struct kt_pf_stream *s)
{
	int r, e;

	if (!s->rx) {
		s->rx = malloc(PF_RX_CAP);
		if (!s->rx) {
			snprintf(s->err, sizeof(s->err), "out of memory");
			return -1;
		}
		s->rx_off = s->rx_len = 0;
	}
	if (s->rx_off && s->rx_off == s->rx_len) {
		s->rx_off = s->rx_len = 0;
	} else if (s->rx_off && PF_RX_CAP - s->rx_len < 16384u) {
		memmove(s->rx, s->rx + s->rx_off, s->rx_len - s->rx_off);
		s->rx_len -= s->rx_off;
		s->rx_off = 0;
	}
	if (s->rx_len == PF_RX_CAP)
		return 0; /* full (paused with a full buffer) */
	ERR_clear_error();
	r = SSL_read(s->ssl, s->rx + s->rx_len, (int)(PF_RX_CAP - s->rx_len));
	if (r > 0) {
		s->rx_len += (size_t)r;
		s->rd_wants_write = false;
		return r;
	}
	e = SSL_get_error(s->ssl, r);
	s->rd_wants_write = e == SSL_ERROR_WANT_WRITE;
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	s->eof = true;
	if (e != SSL_ERROR_ZERO_RETURN && e != SSL_ERROR_SYSCALL)
		snprintf(s->err, sizeof(s->err), "port-forward: TLS error from %s",
			 kt_k8s_server(s->k));
	return -1;
}

/* Frees the rx buffer when it holds nothing (idle streams keep none). */
static void pf_rx_trim(struct kt_pf_stream *s)
{
	if (s->rx && s->rx_off == s->rx_len) {
		free(s->rx);
		s->rx = NULL;
		s->rx_off = s->rx_len = 0;
	}
}

static bool pf_writable_owed(const struct kt_pf_stream *s)
{
	return s->tx_blocked && !s->close_requested && s->st == PF_OPEN &&
	       kt_buf_len(&s->txq) < PF_SEND_QUEUE;
}

/* Fires on_writable when the queue had filled up and has room again. False: freed. */
static bool pf_maybe_writable(struct kt_pf_stream *s)
{
	if (pf_writable_owed(s)) {
		s->tx_blocked = false;
		if (s->ops.on_writable) {
			pf_enter(s);
			s->ops.on_writable(s->arg);
			return pf_leave(s);
		}
	}
	return true;
}

/* Runs the handshake steps; true when it may go on to the WebSocket phase. On failure it
 * reports (and *gone says whether s was freed). */
static bool pf_handshake(struct kt_pf_stream *s, bool *gone)
{
	*gone = false;
	if (s->st == PF_TCP) {
		int e = 0;
		socklen_t el = sizeof(e);

		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
			e = errno;
		if (e == EINPROGRESS || e == EALREADY)
			return false;
		if (e) {
			kt_k8s_server_addr_forget(s->k);
			pf_conn_error(s, NULL, e);
			*gone = !pf_fail(s, s->err);
			return false;
		}
		s->st = PF_TLS;
	}
	if (s->st == PF_TLS) {
		int r, e;

		ERR_clear_error();
		r = SSL_connect(s->ssl);
		if (r != 1) {
			e = SSL_get_error(s->ssl, r);
			if (e == SSL_ERROR_WANT_READ) {
				pf_set_events(s, KT_EV_READ);
				return false;
			}
			if (e == SSL_ERROR_WANT_WRITE) {
				pf_set_events(s, KT_EV_WRITE);
				return false;
			}
			if (!s->tls_err[0] && e == SSL_ERROR_SYSCALL && !ERR_peek_last_error())
				pf_conn_error(s, "closed before", 0);
			else
				pf_conn_error(s, "tls", 0);
			ERR_clear_error();
			*gone = !pf_fail(s, s->err);
			return false;
		}
		s->st = PF_UPGRADE;
		s->tls_resumed = SSL_session_reused(s->ssl) == 1;
		kt_buf_init(&s->hdrs, PF_HDR_MAX + PF_BODY_MAX);
	}
	if (s->st == PF_UPGRADE || s->st == PF_BODY) {
		if (pf_flush(s) < 0) {
			*gone = !pf_fail(s, s->err);
			return false;
		}
		for (;;) {
			int r = pf_read(s);

			if (r < 0) {
				if (s->st == PF_BODY) {
					/* The end of the body (or all of it the server sent). */
					*gone = !pf_refused(s);
					return false;
				}
				if (!s->err[0])
					pf_conn_error(s, "closed before", 0);
				*gone = !pf_fail(s, s->err);
				return false;
			}
			if (r == 0) {
				pf_set_events(s, s->woff < s->wlen || s->rd_wants_write
						     ? KT_EV_READ | KT_EV_WRITE
						     : KT_EV_READ);
				return false;
			}
			if (s->st == PF_UPGRADE) {
				const char *h;
				size_t old = kt_buf_len(&s->hdrs), hl, take;
				const char *end;

				take = s->rx_len - s->rx_off;
				if (kt_buf_append(&s->hdrs, s->rx + s->rx_off, take) < 0)
					goto too_long;
				h = (const char *)kt_buf_peek(&s->hdrs);
				end = memmem(h, kt_buf_len(&s->hdrs), "\r\n\r\n", 4);
				if (!end) {
					if (kt_buf_len(&s->hdrs) > PF_HDR_MAX)
						goto too_long;
					s->rx_off = s->rx_len;
					continue;
				}
				hl = (size_t)(end - h) + 4;
				/* Bytes after the headers stay in rx (frames or the body). */
				s->rx_off += hl - old;
				int a = pf_check_answer(s, hl);

				kt_buf_consume(&s->hdrs, kt_buf_len(&s->hdrs));
				if (a < 0) {
					*gone = !pf_fail(s, s->err);
					return false;
				}
				if (a > 0) {
					kt_buf_fini(&s->hdrs);
					kt_timer_disarm(s->t_deadline);
					kt_k8s_note_ok(s->k);
					s->st = PF_OPENING;
					return true;
				}
			}
			/* PF_BODY */
			{
				size_t take = s->rx_len - s->rx_off;

				kt_buf_append(&s->hdrs, s->rx + s->rx_off,
					      take < kt_buf_room(&s->hdrs) ? take
									   : kt_buf_room(&s->hdrs));
				s->rx_off = s->rx_len;
				if ((s->body_need != SIZE_MAX &&
				     kt_buf_len(&s->hdrs) >= s->body_need) ||
				    (s->body_chunked &&
				     dechunk_done((const uint8_t *)kt_buf_peek(&s->hdrs),
						  kt_buf_len(&s->hdrs))) ||
				    kt_buf_room(&s->hdrs) == 0) {
					*gone = !pf_refused(s);
					return false;
				}
			}
		}
	}
	return s->st >= PF_OPENING;
too_long:
	snprintf(s->err, sizeof(s->err), "%s: port-forward upgrade answer too long",
		 kt_k8s_server(s->k));
	*gone = !pf_fail(s, s->err);
	return false;
}

/* The events the socket should be watched for now. */
static void pf_update_events(struct kt_pf_stream *s)
{
	unsigned ev = 0;

	if (s->st < PF_OPENING || s->st == PF_DONE)
		return; /* the handshake sets its own */
	if ((!(s->rx_paused && s->st == PF_OPEN) && !s->rd_wants_write) || s->wr_wants_read)
		ev |= KT_EV_READ;
	if ((pf_tx_pending(s) && !s->wr_wants_read) || s->rd_wants_write || pf_writable_owed(s))
		ev |= KT_EV_WRITE;
	pf_set_events(s, ev);
}

/* The server ended the connection (EOF or its close frame). Returns pf_finish's verdict. */
static bool pf_ended(struct kt_pf_stream *s)
{
	if (s->st != PF_OPEN && s->st != PF_CLOSING && !s->close_requested)
		pf_set_error(s, s->err[0] ? s->err
					  : "port-forward: the connection closed before the stream "
					    "opened");
	return pf_finish(s);
}

/* Does all the work the connection allows now. */
static void pf_run(struct kt_pf_stream *s)
{
	size_t budget = PF_RX_BUDGET;
	bool gone, more = false;

	if (s->st < PF_OPENING && !pf_handshake(s, &gone))
		return;
	for (;;) {
		int r = pf_frames(s);

		if (r == -2)
			return;
		if (r == -1) {
			pf_fail(s, s->err);
			return;
		}
		if (r == 1) {
			/* RFC 6455 section 5.5.1: answer the close (1000), then the connection
			 * ends; a best-effort write, the server closes the TCP connection. */
			if (!s->close_queued)
				pf_queue_close(s);
			s->st = s->st == PF_OPEN ? PF_CLOSING : s->st;
			pf_flush(s);
			pf_ended(s);
			return;
		}
		if (s->rx_paused && s->st == PF_OPEN)
			break;
		if (budget == 0) {
			more = true;
			break;
		}
		r = pf_read(s);
		if (r < 0) {
			/* The end of an open stream, clean or not (a dropped connection
			 * is how a pod's close may arrive too): no error of ours. */
			pf_ended(s);
			return;
		}
		if (r == 0)
			break;
		budget -= (size_t)r < budget ? (size_t)r : budget;
	}
	pf_rx_trim(s);
	/* Write, and let the owner refill the queue while the socket takes it all; a socket
	 * that blocks leaves the rest to the next writable event. */
	for (int i = 0; i < 8; i++) {
		if (pf_flush(s) < 0) {
			pf_fail(s, s->err);
			return;
		}
		if (!pf_writable_owed(s) || s->woff < s->wlen)
			break;
		if (!pf_maybe_writable(s))
			return;
		if (s->st == PF_DONE)
			return;
	}
	pf_update_events(s);
	if (more || (!(s->rx_paused && s->st == PF_OPEN) && SSL_has_pending(s->ssl)))
		kt_timer_arm(s->t_kick, 0);
}

static void pf_io(void *arg, int fd, unsigned events)
{
	struct kt_pf_stream *s = arg;

	(void)fd;
	if (events & KT_EV_ERROR) {
		/* The loop gave up on the socket (hang-up without data). */
		if (s->st == PF_TCP) {
			int e = 0;
			socklen_t el = sizeof(e);

			if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0 || !e)
				e = ECONNREFUSED;
			kt_k8s_server_addr_forget(s->k);
			pf_conn_error(s, NULL, e);
			pf_fail(s, s->err);
			return;
		}
		if (s->st < PF_OPENING) {
			pf_conn_error(s, "closed before", 0);
			pf_fail(s, s->err);
			return;
		}
		pf_ended(s);
		return;
	}
	pf_run(s);
}

static void pf_kick(void *arg)
{
	struct kt_pf_stream *s = arg;

	switch (s->st) {
	case PF_IDLE:
		pf_connect(s);
		return;
	case PF_DONE:
		pf_finish(s);
		return;
	default:
		pf_run(s);
		return;
	}
}

static void pf_deadline(void *arg)
{
	struct kt_pf_stream *s = arg;

	if (s->st == PF_CLOSING) {
		pf_finish(s); /* the server never answered our close: done anyway */
		return;
	}
	if (s->st < PF_OPENING) {
		pf_conn_error(s, NULL, ETIMEDOUT);
		pf_fail(s, s->err);
	}
}

/* ---- API ---- */

/* Kubernetes object names are DNS-1123 subdomains: lower-case alphanumerics, '-' and '.'. */
static bool valid_name(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > NAME_MAX_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      s[i] == '.'))
			return false;
	return true;
}

struct kt_pf_stream *kt_pf_open(struct kt_k8s *k, const char *ns, const char *pod, uint16_t port,
				const struct kt_pf_ops *ops, void *arg)
{
	struct kt_pf_stream *s;
	size_t cap;

	if (!k || !valid_name(ns) || !valid_name(pod) || port == 0 || !ops || !ops->on_open ||
	    !ops->on_data || !ops->on_close)
		return NULL;
	if (pf_verify_idx < 0) {
		pf_verify_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
		if (pf_verify_idx < 0)
			return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->fd = -1;
	s->k = k;
	s->loop = kt_k8s_loop(k);
	cap = strlen(ns) + strlen(pod) + 64;
	s->path = malloc(cap);
	s->t_kick = kt_timer_new(s->loop, pf_kick, s);
	s->t_deadline = kt_timer_new(s->loop, pf_deadline, s);
	if (!s->path || !s->t_kick || !s->t_deadline ||
	    RAND_bytes((unsigned char *)&s->rng, sizeof(s->rng)) != 1) {
		kt_timer_free(s->t_kick);
		kt_timer_free(s->t_deadline);
		free(s->path);
		free(s);
		return NULL;
	}
	if (!s->rng)
		s->rng = 0x9e3779b97f4a7c15u; /* xorshift must not start at 0 */
	snprintf(s->path, cap, "/api/v1/namespaces/%s/pods/%s/portforward?ports=%u", ns, pod, port);
	s->port = port;
	s->ops = *ops;
	s->arg = arg;
	s->st = PF_IDLE;
	s->cur_ch = -2;
	kt_buf_init(&s->txq, PF_SEND_QUEUE);
	kt_buf_init(&s->errtext, PF_ERR_MAX);
	kt_buf_init(&s->hdrs, PF_HDR_MAX + PF_BODY_MAX);
	s->child.abandon = pf_abandon;
	kt_k8s_child_add(k, &s->child);
	kt_timer_arm(s->t_kick, 0);
	return s;
}

static bool pf_sendable(const struct kt_pf_stream *s)
{
	return s->st != PF_DONE && s->st != PF_CLOSING && s->st != PF_BODY && !s->close_requested &&
	       !s->freed;
}

int kt_pf_send(struct kt_pf_stream *s, const uint8_t *p, size_t n)
{
	int r;

	if (!pf_sendable(s))
		return -EPIPE;
	if (n > kt_buf_room(&s->txq)) {
		s->tx_blocked = true;
		return -ENOBUFS;
	}
	r = kt_buf_append(&s->txq, p, n);
	if (r < 0)
		return r;
	if (kt_buf_room(&s->txq) == 0)
		s->tx_blocked = true;
	if (n)
		pf_update_events(s);
	return 0;
}

size_t kt_pf_send_room(const struct kt_pf_stream *s)
{
	return pf_sendable(s) ? kt_buf_room(&s->txq) : 0;
}

void kt_pf_pause_rx(struct kt_pf_stream *s, bool paused)
{
	if (s->rx_paused == paused)
		return;
	s->rx_paused = paused;
	if (s->st < PF_OPENING || s->st == PF_DONE || s->freed)
		return;
	pf_update_events(s);
	/* Bytes already read (in rx or inside OpenSSL) raise no poll event: go through them
	 * from the loop, never inside the caller. */
	if (!paused)
		kt_timer_arm(s->t_kick, 0);
}

void kt_pf_close(struct kt_pf_stream *s)
{
	if (s->st == PF_DONE || s->close_requested || s->freed)
		return;
	s->close_requested = true;
	if (s->st >= PF_OPENING) {
		/* pf_flush() sends the queue, then the close frame (1000). */
		pf_update_events(s);
		return;
	}
	/* Not connected yet (or refused): drop it; on_close follows from the loop. */
	pf_end_async(s);
}

void kt_pf_stream_free(struct kt_pf_stream *s)
{
	if (!s)
		return;
	if (s->in_user) {
		/* Inside one of its callbacks: stop everything now, free on the way out. */
		s->freed = true;
		pf_disconnect(s);
		kt_timer_disarm(s->t_kick);
		return;
	}
	pf_destroy(s);
}

bool kt_pf_tls_resumed(const struct kt_pf_stream *s)
{
	return s && s->tls_resumed;
}
