/* backend.c: the simulated pod's HTTP/1.1 (optionally TLS) server state machine (see backend.h).
 *
 * Data path: input() -> [TLS: read BIO -> SSL_read] -> feed_plain() -> parse() which consumes
 * request heads and bodies and stages at most one response at a time; pump() hands the staged
 * bytes, then the generated /bytes body, to output() [TLS: through SSL_write and the write BIO],
 * never more than `room`. Invariants:
 *  - `in` holds only bytes parse() could not consume yet: a partial request head (< HEAD_MAX) or
 *    pipelined requests waiting for the current response (busy); bodies are never kept.
 *  - busy: a request is complete and its response is not fully produced yet (or waits for the
 *    timer). The next request head is parsed only when busy is false, which keeps responses in
 *    request order without a response queue.
 *  - TLS: new plaintext is encrypted only when the write BIO is empty, so the write BIO holds at
 *    most one record (or the handshake flight, or close_notify).
 * The struct owns everything it points to except info->tls (borrowed SSL_CTX) and the io arg. */
#include "backend.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"

/* /bytes/N: byte i is i % 251. The table holds 263 periods so that a slice of up to 64 KiB can
 * start at any phase (0..250) and still be one contiguous run: 251 * 263 >= 65536 + 250. */
#define PATTERN_MOD 251
#define PATTERN_LEN (PATTERN_MOD * 263)
#define STAGE_MAX 4096
/* RFC 8446 5.1: a TLSPlaintext fragment is at most 2^14 bytes; writing records of that size
 * keeps the write BIO to one record. RFC 5246 6.2.3: ciphertext adds at most 2048 bytes. */
#define TLS_RECORD 16384
#define SCRATCH_LEN (TLS_RECORD + 2048 + 5)

static uint8_t pattern[PATTERN_LEN];
static pthread_once_t pattern_once = PTHREAD_ONCE_INIT;

static void pattern_init(void)
{
	for (size_t i = 0; i < PATTERN_LEN; i++)
		pattern[i] = (uint8_t)(i % PATTERN_MOD);
}

enum route { R_ROOT, R_BYTES, R_SHA, R_DISCARD, R_DELAY, R_CLOSE, R_ERROR };
enum conn_state { C_OPEN, C_CLOSING, C_CLOSED };
enum parse_state {
	P_HEAD,		 /* waiting for a request head */
	P_BODY,		 /* Content-Length body, body_left to go */
	P_CHUNK_SIZE,	 /* chunk-size hex digits */
	P_CHUNK_EXT,	 /* chunk extensions, skipped up to the line end */
	P_CHUNK_SIZE_LF, /* CR seen at the end of the chunk-size line */
	P_CHUNK_DATA,	 /* chunk data, body_left to go */
	P_CHUNK_DATA_CR, /* CRLF after chunk data */
	P_CHUNK_DATA_LF,
	P_TRAILER_START, /* start of a trailer line, or the final empty line */
	P_TRAILER_LINE,	 /* inside a trailer field line (discarded) */
	P_TRAILER_LF,	 /* CR of the final empty line seen */
	P_IGNORE,	 /* no further requests on this connection: input is discarded */
};

struct fc_req {
	enum route route;
	int status;	   /* R_ERROR: response status */
	const char *allow; /* 405: Allow header value */
	const char *err_body;
	bool head; /* HEAD: no response body */
	bool http10;
	bool keepalive;
	uint64_t arg; /* R_BYTES: N; R_DELAY: milliseconds */
};

struct fc_backend {
	struct fc_backend_io io;
	void *arg;
	char name[FC_BACKEND_NAME_MAX + 1];
	char ns[FC_BACKEND_NAME_MAX + 1];
	int port;
	enum conn_state conn;
	bool eof; /* the client half-closed */

	/* TLS (NULL ssl: plain). The BIOs are owned by ssl. */
	SSL *ssl;
	BIO *rbio, *wbio;
	bool hs_done, shutdown_sent;
	uint8_t *scratch; /* SCRATCH_LEN bytes, owned; TLS only */

	/* Request parsing. */
	struct kt_buf in;
	size_t scan_pos, line_start; /* head scan progress, relative to the head start */
	enum parse_state ps;
	struct fc_req req;
	uint64_t body_left;
	uint64_t chunk_size;
	unsigned chunk_digits;
	size_t line_len; /* chunk-size line or trailer section length so far */
	EVP_MD_CTX *md;	 /* owned; created at the first /sha256 request */

	/* Response production. */
	bool busy, waiting_timer, close_after;
	size_t st_off, st_len;
	uint64_t gen_left;
	size_t gen_phase; /* index of the next /bytes byte, modulo 251 */
	uint8_t stage[STAGE_MAX];
};

static const char *reason_phrase(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 414:
		return "URI Too Long";
	case 417:
		return "Expectation Failed";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Internal Server Error";
	}
}

/* ---- connection end ---- */

static void reset_conn(struct fc_backend *b)
{
	if (b->conn == C_CLOSED)
		return;
	if (b->waiting_timer) {
		b->waiting_timer = false;
		b->io.set_timer(b->arg, 0);
	}
	b->conn = C_CLOSED;
	b->io.closed(b->arg, true);
}

static void tls_fail(struct fc_backend *b, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char msg[256];
	ERR_error_string_n(e, msg, sizeof(msg));
	kt_log_debug("backend %s/%s:%d: TLS %s failed: %s", b->ns, b->name, b->port, what,
		     e ? msg : "no OpenSSL error");
	ERR_clear_error();
	reset_conn(b);
}

static bool staged_output(const struct fc_backend *b)
{
	return b->st_len > b->st_off || b->gen_left > 0;
}

/* Moves a closing connection on: once all plaintext is out, TLS sends close_notify (RFC 8446
 * 6.1), and once the write BIO is drained too the owner is told. */
static void close_progress(struct fc_backend *b)
{
	if (b->conn != C_CLOSING || staged_output(b))
		return;
	if (b->ssl) {
		if (b->hs_done && !b->shutdown_sent) {
			b->shutdown_sent = true;
			ERR_clear_error();
			if (SSL_shutdown(b->ssl) < 0)
				ERR_clear_error();
		}
		if (BIO_ctrl_pending(b->wbio) > 0)
			return;
	}
	b->conn = C_CLOSED;
	b->io.closed(b->arg, false);
}

static void begin_close(struct fc_backend *b)
{
	if (b->conn != C_OPEN)
		return;
	b->conn = C_CLOSING;
	b->ps = P_IGNORE;
	close_progress(b);
}

/* ---- response staging ---- */

static int stage_bytes(struct fc_backend *b, const void *p, size_t n)
{
	if (b->st_off > 0) {
		memmove(b->stage, b->stage + b->st_off, b->st_len - b->st_off);
		b->st_len -= b->st_off;
		b->st_off = 0;
	}
	if (n > sizeof(b->stage) - b->st_len)
		return -ENOBUFS;
	memcpy(b->stage + b->st_len, p, n);
	b->st_len += n;
	return 0;
}

/* Stages a complete response head and, unless the request was HEAD, the in-memory body.
 * Content-Length is clen (RFC 9110 8.6: a HEAD response carries the length a GET would get). */
static int stage_response(struct fc_backend *b, int status, const char *ctype, uint64_t clen,
			  const void *body, size_t body_len)
{
	char hdr[1024];
	const char *conn = "";
	if (b->close_after)
		conn = "Connection: close\r\n";
	else if (b->req.http10)
		conn = "Connection: keep-alive\r\n"; /* RFC 9112 9.3: 1.0 persistence is explicit */
	bool allow = status == 405 && b->req.allow;
	int len =
	    snprintf(hdr, sizeof(hdr),
		     "HTTP/1.1 %d %s\r\n"
		     "Content-Type: %s\r\n"
		     "Content-Length: %" PRIu64 "\r\n"
		     "X-Pod-Name: %s\r\n"
		     "X-Pod-Namespace: %s\r\n"
		     "X-Pod-Port: %d\r\n"
		     "%s%s%s%s\r\n",
		     status, reason_phrase(status), ctype, clen, b->name, b->ns, b->port,
		     allow ? "Allow: " : "", allow ? b->req.allow : "", allow ? "\r\n" : "", conn);
	if (len < 0 || (size_t)len >= sizeof(hdr))
		return -ENOBUFS;
	int r = stage_bytes(b, hdr, (size_t)len);
	if (r == 0 && !b->req.head && body_len > 0)
		r = stage_bytes(b, body, body_len);
	return r;
}

static int stage_text(struct fc_backend *b, int status, const char *text)
{
	size_t n = strlen(text);
	return stage_response(b, status, "text/plain", n, text, n);
}

/* A request that cannot be answered on a working connection: answer it and close (RFC 9112 does
 * not let us find the next request once framing is in doubt). */
static void error_close(struct fc_backend *b, int status)
{
	char body[64];
	snprintf(body, sizeof(body), "%s\n", reason_phrase(status));
	b->req.route = R_ERROR;
	b->req.status = status;
	b->close_after = true;
	b->busy = true;
	b->ps = P_IGNORE;
	if (stage_text(b, status, body) < 0)
		reset_conn(b);
}

static void stage_delayed(struct fc_backend *b)
{
	char body[64];
	snprintf(body, sizeof(body), "delayed %" PRIu64 "\n", b->req.arg);
	if (stage_text(b, 200, body) < 0)
		reset_conn(b);
}

/* The request (head and body) is complete: produce its response. */
static void request_complete(struct fc_backend *b)
{
	char body[STAGE_MAX / 2];
	int r = 0;

	b->ps = b->req.keepalive ? P_HEAD : P_IGNORE;
	b->close_after = !b->req.keepalive;
	b->busy = true;
	switch (b->req.route) {
	case R_ROOT: {
		int n = snprintf(body, sizeof(body), "pod=%s namespace=%s port=%d\n", b->name,
				 b->ns, b->port);
		if (n < 0 || (size_t)n >= sizeof(body))
			r = -ENOBUFS;
		else
			r = stage_response(b, 200, "text/plain", (uint64_t)n, body, (size_t)n);
		break;
	}
	case R_BYTES:
		r = stage_response(b, 200, "application/octet-stream", b->req.arg, NULL, 0);
		b->gen_left = b->req.head ? 0 : b->req.arg;
		b->gen_phase = 0;
		break;
	case R_SHA: {
		uint8_t dig[EVP_MAX_MD_SIZE];
		unsigned dlen = 0;
		static const char hex[] = "0123456789abcdef";
		if (EVP_DigestFinal_ex(b->md, dig, &dlen) != 1 || dlen * 2 + 2 > sizeof(body)) {
			ERR_clear_error();
			r = -EIO;
			break;
		}
		for (unsigned i = 0; i < dlen; i++) {
			body[2 * i] = hex[dig[i] >> 4];
			body[2 * i + 1] = hex[dig[i] & 15];
		}
		body[2 * dlen] = '\n';
		r = stage_response(b, 200, "text/plain", 2 * dlen + 1, body, 2 * dlen + 1);
		break;
	}
	case R_DISCARD: {
		int n = snprintf(body, sizeof(body), "%llu\n", (unsigned long long)b->req.arg);
		r = stage_response(b, 200, "text/plain", (uint64_t)n, body, (size_t)n);
		break;
	}
	case R_DELAY:
		if (b->req.arg == 0) {
			stage_delayed(b);
		} else {
			b->waiting_timer = true;
			b->io.set_timer(b->arg, b->req.arg);
		}
		break;
	case R_CLOSE:
		reset_conn(b);
		break;
	case R_ERROR:
		if (b->req.err_body) {
			r = stage_text(b, b->req.status, b->req.err_body);
		} else {
			snprintf(body, sizeof(body), "%s\n", reason_phrase(b->req.status));
			r = stage_text(b, b->req.status, body);
		}
		break;
	}
	if (r < 0)
		reset_conn(b);
}

/* ---- request head ---- */

static bool is_tchar(uint8_t c)
{
	/* RFC 9110 5.6.2: tchar. */
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_token(const uint8_t *p, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_tchar(p[i]))
			return false;
	return true;
}

static bool mem_ieq(const uint8_t *p, size_t n, const char *s)
{
	size_t sl = strlen(s);
	if (n != sl)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t a = p[i], c = (uint8_t)s[i];
		if (a >= 'A' && a <= 'Z')
			a = (uint8_t)(a - 'A' + 'a');
		if (c >= 'A' && c <= 'Z')
			c = (uint8_t)(c - 'A' + 'a');
		if (a != c)
			return false;
	}
	return true;
}

static bool mem_eq(const uint8_t *p, size_t n, const char *s)
{
	return n == strlen(s) && memcmp(p, s, n) == 0;
}

/* Decimal digits only; saturates at UINT64_MAX so callers can range-check. */
static bool parse_dec(const uint8_t *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		unsigned d = (unsigned)(p[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			v = UINT64_MAX;
		else
			v = v * 10 + d;
	}
	*out = v;
	return true;
}

static void trim_ows(const uint8_t **p, size_t *n)
{
	while (*n > 0 && ((*p)[0] == ' ' || (*p)[0] == '\t')) {
		(*p)++;
		(*n)--;
	}
	while (*n > 0 && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
		(*n)--;
}

/* Next line of a complete head, without its LF and an optional CR before it. RFC 9112 2.2 lets
 * a recipient accept a bare LF as line terminator; we do, for hand-typed requests. */
static const uint8_t *next_line(struct kt_rd *r, size_t *len)
{
	size_t left = kt_rd_left(r);
	const uint8_t *start = r->p + r->off;
	const uint8_t *nl = left ? memchr(start, '\n', left) : NULL;
	if (!nl) {
		kt_rd_skip(r, left + 1); /* sets err */
		*len = 0;
		return NULL;
	}
	size_t n = (size_t)(nl - start);
	kt_rd_skip(r, n + 1);
	if (n > 0 && start[n - 1] == '\r')
		n--;
	*len = n;
	return start;
}

/* Whether a comma-separated field value (RFC 9110 5.6.1) has token as an element. */
static bool list_has(const uint8_t *v, size_t n, const char *token)
{
	while (n > 0) {
		const uint8_t *comma = memchr(v, ',', n);
		size_t el = comma ? (size_t)(comma - v) : n;
		const uint8_t *e = v;
		size_t en = el;
		trim_ows(&e, &en);
		if (mem_ieq(e, en, token))
			return true;
		if (!comma)
			break;
		v += el + 1;
		n -= el + 1;
	}
	return false;
}

/* Content-Length = 1*DIGIT; RFC 9112 6.3 item 5 also allows a list of identical values. */
static bool parse_content_length(const uint8_t *v, size_t n, uint64_t *out)
{
	bool have = false;
	uint64_t val = 0;
	while (true) {
		const uint8_t *comma = memchr(v, ',', n);
		size_t el = comma ? (size_t)(comma - v) : n;
		const uint8_t *e = v;
		size_t en = el;
		uint64_t x;
		trim_ows(&e, &en);
		if (!parse_dec(e, en, &x) || x == UINT64_MAX || (have && x != val))
			return false;
		have = true;
		val = x;
		if (!comma)
			break;
		v += el + 1;
		n -= el + 1;
	}
	*out = val;
	return true;
}

static void set_route(struct fc_backend *b, const uint8_t *path, size_t plen, const uint8_t *method,
		      size_t mlen)
{
	bool get = mem_eq(method, mlen, "GET") || mem_eq(method, mlen, "HEAD");
	bool post = mem_eq(method, mlen, "POST") || mem_eq(method, mlen, "PUT");
	static const char get_allow[] = "GET, HEAD", post_allow[] = "POST, PUT";
	struct fc_req *q = &b->req;
	uint64_t v = 0;

	q->allow = get_allow;
	if (mem_eq(path, plen, "/")) {
		q->route = R_ROOT;
	} else if (plen > 7 && memcmp(path, "/bytes/", 7) == 0) {
		q->route = R_BYTES;
		if (!parse_dec(path + 7, plen - 7, &v) || v > FC_BACKEND_BYTES_MAX) {
			q->route = R_ERROR;
			q->status = 400;
			q->err_body = "bad byte count\n";
		}
		q->arg = v;
	} else if (plen > 7 && memcmp(path, "/delay/", 7) == 0) {
		q->route = R_DELAY;
		if (!parse_dec(path + 7, plen - 7, &v)) {
			q->route = R_ERROR;
			q->status = 400;
			q->err_body = "bad delay\n";
		}
		q->arg = v > FC_BACKEND_DELAY_MAX_MS ? FC_BACKEND_DELAY_MAX_MS : v;
	} else if (mem_eq(path, plen, "/close")) {
		q->route = R_CLOSE;
	} else if (mem_eq(path, plen, "/sha256")) {
		q->route = R_SHA;
		q->allow = post_allow;
	} else if (mem_eq(path, plen, "/discard")) {
		/* Counts the body and drops it: upload benchmarks measure the transport, not the
		 * simulated pod's hashing (which /sha256 adds at ~1 GB/s). */
		q->route = R_DISCARD;
		q->allow = post_allow;
		q->arg = 0;
	} else {
		q->route = R_ERROR;
		q->status = 404;
		return;
	}
	bool ok = q->allow == post_allow ? post : get;
	if (!ok) {
		q->route = R_ERROR;
		q->status = 405;
		q->err_body = NULL;
	}
}

static int fail_req(struct fc_backend *b, int status)
{
	error_close(b, status);
	return -1;
}

/* Parses a complete request head p[0..len) (request line, fields, empty line) and sets up the
 * body reader or the response. Errors stage an error response and close. */
static int parse_request(struct fc_backend *b, const uint8_t *p, size_t len)
{
	struct kt_rd r = kt_rd_make(p, len);
	size_t ll;
	const uint8_t *line = next_line(&r, &ll);
	struct fc_req *q = &b->req;

	*q = (struct fc_req){0};
	if (!line)
		return fail_req(b, 400);

	/* RFC 9112 3: request-line = method SP request-target SP HTTP-version. */
	const uint8_t *sp1 = memchr(line, ' ', ll);
	if (!sp1)
		return fail_req(b, 400);
	size_t mlen = (size_t)(sp1 - line);
	const uint8_t *tgt = sp1 + 1;
	size_t rest = ll - mlen - 1;
	const uint8_t *sp2 = memchr(tgt, ' ', rest);
	if (!sp2)
		return fail_req(b, 400);
	size_t tlen = (size_t)(sp2 - tgt);
	const uint8_t *ver = sp2 + 1;
	size_t vlen = rest - tlen - 1;
	if (!is_token(line, mlen) || tlen == 0)
		return fail_req(b, 400);
	q->head = mem_eq(line, mlen, "HEAD");
	/* RFC 9112 2.3: HTTP-version = "HTTP/" DIGIT "." DIGIT. */
	if (vlen != 8 || memcmp(ver, "HTTP/", 5) != 0 || ver[5] < '0' || ver[5] > '9' ||
	    ver[6] != '.' || ver[7] < '0' || ver[7] > '9')
		return fail_req(b, 400);
	if (ver[5] != '1')
		return fail_req(b, 505);
	q->http10 = ver[7] == '0';
	for (size_t i = 0; i < tlen; i++)
		if (tgt[i] <= 0x20 || tgt[i] >= 0x7f)
			return fail_req(b, 400);
	/* RFC 9112 3.2.2: absolute-form; the path starts at the first '/' after the authority. */
	const uint8_t *path = tgt;
	size_t plen = tlen;
	size_t scheme = 0;
	if (tlen >= 7 && mem_ieq(tgt, 7, "http://"))
		scheme = 7;
	else if (tlen >= 8 && mem_ieq(tgt, 8, "https://"))
		scheme = 8;
	if (scheme) {
		const uint8_t *slash = memchr(tgt + scheme, '/', tlen - scheme);
		if (slash) {
			path = slash;
			plen = tlen - (size_t)(slash - tgt);
		} else {
			path = (const uint8_t *)"/";
			plen = 1;
		}
	} else if (tgt[0] != '/') {
		return fail_req(b, 400);
	}
	const uint8_t *qm = memchr(path, '?', plen);
	if (qm)
		plen = (size_t)(qm - path);

	bool have_cl = false, chunked = false, have_te = false, conn_close = false, conn_ka = false;
	bool expect100 = false;
	uint64_t cl = 0;
	for (;;) {
		line = next_line(&r, &ll);
		if (!line)
			return fail_req(b, 400);
		if (ll == 0)
			break;
		/* RFC 9112 5.2: obs-fold in a request is rejected with 400. */
		if (line[0] == ' ' || line[0] == '\t')
			return fail_req(b, 400);
		const uint8_t *colon = memchr(line, ':', ll);
		if (!colon)
			return fail_req(b, 400);
		size_t nlen = (size_t)(colon - line);
		/* RFC 9112 5.1: no whitespace between field name and colon. */
		if (!is_token(line, nlen))
			return fail_req(b, 400);
		const uint8_t *v = colon + 1;
		size_t vl = ll - nlen - 1;
		trim_ows(&v, &vl);
		/* RFC 9110 5.5: CR, LF and NUL are invalid in field values; other CTLs too. */
		for (size_t i = 0; i < vl; i++)
			if ((v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f)
				return fail_req(b, 400);
		if (mem_ieq(line, nlen, "content-length")) {
			uint64_t x;
			if (!parse_content_length(v, vl, &x) || (have_cl && x != cl))
				return fail_req(b, 400);
			have_cl = true;
			cl = x;
		} else if (mem_ieq(line, nlen, "transfer-encoding")) {
			if (have_te)
				return fail_req(b, 400);
			have_te = true;
			/* RFC 9112 6.1: we only know chunked; 501 for any other coding. */
			if (!mem_ieq(v, vl, "chunked"))
				return fail_req(b, 501);
			chunked = true;
		} else if (mem_ieq(line, nlen, "connection")) {
			conn_close |= list_has(v, vl, "close");
			conn_ka |= list_has(v, vl, "keep-alive");
		} else if (mem_ieq(line, nlen, "expect")) {
			/* RFC 9110 10.1.1: 417 for an expectation we cannot meet. */
			if (!mem_ieq(v, vl, "100-continue"))
				return fail_req(b, 417);
			expect100 = true;
		}
	}
	/* RFC 9112 6.1: Transfer-Encoding in 1.0 means faulty framing; TE with Content-Length is
	 * a smuggling vector we reject. */
	if (chunked && (q->http10 || have_cl))
		return fail_req(b, 400);
	q->keepalive = q->http10 ? conn_ka && !conn_close : !conn_close;

	set_route(b, path, plen, p, mlen);

	if (q->route == R_SHA) {
		if (!b->md && !(b->md = EVP_MD_CTX_new())) {
			reset_conn(b);
			return -1;
		}
		if (EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1) {
			ERR_clear_error();
			reset_conn(b);
			return -1;
		}
	}
	bool body = chunked || cl > 0;
	/* RFC 9110 10.1.1: a 1.0 client cannot understand 100 Continue, so we ignore it there. */
	if (expect100 && body && !q->http10) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		if (stage_bytes(b, cont, sizeof(cont) - 1) < 0) {
			reset_conn(b);
			return -1;
		}
	}
	if (chunked) {
		b->ps = P_CHUNK_SIZE;
		b->chunk_size = 0;
		b->chunk_digits = 0;
		b->line_len = 0;
	} else if (cl > 0) {
		b->ps = P_BODY;
		b->body_left = cl;
	} else {
		request_complete(b);
	}
	return 0;
}

enum { HEAD_MORE, HEAD_DONE };

/* Looks for a complete request head at p. *used: bytes consumed (skipped empty lines, plus the
 * head when it is complete). Scan progress is kept in b so byte-by-byte input stays linear. */
static int parse_head(struct fc_backend *b, const uint8_t *p, size_t n, size_t *used)
{
	size_t skip = 0;
	if (b->scan_pos == 0) {
		/* RFC 9112 2.2: ignore empty lines received before the request-line. */
		while (skip < n) {
			if (p[skip] == '\n')
				skip++;
			else if (p[skip] == '\r' && skip + 1 < n && p[skip + 1] == '\n')
				skip += 2;
			else
				break;
		}
		p += skip;
		n -= skip;
		if (n == 0 || (n == 1 && p[0] == '\r')) {
			*used = skip;
			return HEAD_MORE;
		}
	}
	size_t lim = n < FC_BACKEND_HEAD_MAX ? n : FC_BACKEND_HEAD_MAX;
	size_t end = 0;
	while (b->scan_pos < lim) {
		const uint8_t *nl = memchr(p + b->scan_pos, '\n', lim - b->scan_pos);
		if (!nl) {
			b->scan_pos = lim;
			break;
		}
		size_t idx = (size_t)(nl - p);
		size_t ll = idx - b->line_start;
		bool empty = ll == 0 || (ll == 1 && p[b->line_start] == '\r');
		b->line_start = idx + 1;
		b->scan_pos = idx + 1;
		if (empty) {
			end = idx + 1;
			break;
		}
	}
	if (end == 0) {
		if (n < FC_BACKEND_HEAD_MAX) {
			*used = skip;
			return HEAD_MORE;
		}
		/* RFC 9112 3: 414 for a request-target too long; RFC 6585 5: 431 for fields. */
		int status = b->line_start == 0 ? 414 : 431;
		b->scan_pos = b->line_start = 0;
		b->req = (struct fc_req){0};
		error_close(b, status);
		*used = skip + n;
		return HEAD_DONE;
	}
	b->scan_pos = b->line_start = 0;
	parse_request(b, p, end);
	*used = skip + end;
	return HEAD_DONE;
}

/* ---- request body ---- */

static void body_data(struct fc_backend *b, const uint8_t *p, size_t n)
{
	if (b->req.route == R_DISCARD)
		b->req.arg += n;
	if (b->req.route == R_SHA && EVP_DigestUpdate(b->md, p, n) != 1) {
		ERR_clear_error();
		reset_conn(b);
	}
}

static void chunk_error(struct fc_backend *b)
{
	error_close(b, 400);
}

static void chunk_line_end(struct fc_backend *b)
{
	if (b->chunk_digits == 0) {
		chunk_error(b);
		return;
	}
	if (b->chunk_size == 0) {
		b->ps = P_TRAILER_START;
		b->line_len = 0;
	} else {
		b->ps = P_CHUNK_DATA;
		b->body_left = b->chunk_size;
	}
}

/* One byte of chunked framing outside chunk data (RFC 9112 7.1). */
static void chunk_byte(struct fc_backend *b, uint8_t c)
{
	switch (b->ps) {
	case P_CHUNK_SIZE:
	case P_CHUNK_EXT:
		if (++b->line_len > FC_BACKEND_CHUNK_LINE_MAX) {
			chunk_error(b);
			return;
		}
		if (b->ps == P_CHUNK_SIZE) {
			int d = -1;
			if (c >= '0' && c <= '9')
				d = c - '0';
			else if (c >= 'a' && c <= 'f')
				d = c - 'a' + 10;
			else if (c >= 'A' && c <= 'F')
				d = c - 'A' + 10;
			if (d >= 0) {
				if (b->chunk_size > (UINT64_MAX >> 4)) {
					chunk_error(b);
					return;
				}
				b->chunk_size = b->chunk_size << 4 | (uint64_t)d;
				b->chunk_digits++;
				return;
			}
			if (b->chunk_digits == 0) {
				chunk_error(b);
				return;
			}
			/* chunk-ext after BWS (RFC 9112 7.1.1). */
			if (c == ';' || c == ' ' || c == '\t') {
				b->ps = P_CHUNK_EXT;
				return;
			}
		} else if (c != '\r' && c != '\n') {
			return;
		}
		if (c == '\r')
			b->ps = P_CHUNK_SIZE_LF;
		else if (c == '\n')
			chunk_line_end(b);
		else
			chunk_error(b);
		return;
	case P_CHUNK_SIZE_LF:
		if (c == '\n')
			chunk_line_end(b);
		else
			chunk_error(b);
		return;
	case P_CHUNK_DATA_CR:
	case P_CHUNK_DATA_LF:
		if (c == '\r' && b->ps == P_CHUNK_DATA_CR) {
			b->ps = P_CHUNK_DATA_LF;
		} else if (c == '\n') {
			b->ps = P_CHUNK_SIZE;
			b->chunk_size = 0;
			b->chunk_digits = 0;
			b->line_len = 0;
		} else {
			chunk_error(b);
		}
		return;
	case P_TRAILER_START:
	case P_TRAILER_LINE:
		/* Trailer fields are discarded, but their size is bounded like the head's. */
		if (++b->line_len > FC_BACKEND_HEAD_MAX) {
			error_close(b, 431);
			return;
		}
		if (b->ps == P_TRAILER_START) {
			if (c == '\r')
				b->ps = P_TRAILER_LF;
			else if (c == '\n')
				request_complete(b);
			else
				b->ps = P_TRAILER_LINE;
		} else if (c == '\n') {
			b->ps = P_TRAILER_START;
		}
		return;
	case P_TRAILER_LF:
		if (c == '\n')
			request_complete(b);
		else
			chunk_error(b);
		return;
	default:
		return;
	}
}

/* Consumes what it can of p[0..n): returns the bytes consumed. It stops early only at a partial
 * request head or at a new request while the previous response is still being produced. */
static size_t parse(struct fc_backend *b, const uint8_t *p, size_t n)
{
	size_t off = 0;
	while (off < n) {
		if (b->conn != C_OPEN || b->ps == P_IGNORE)
			return n;
		switch (b->ps) {
		case P_HEAD: {
			size_t used = 0;
			if (b->busy)
				return off;
			int r = parse_head(b, p + off, n - off, &used);
			off += used;
			if (r == HEAD_MORE)
				return off;
			break;
		}
		case P_BODY:
		case P_CHUNK_DATA: {
			size_t take = n - off;
			if (take > b->body_left)
				take = (size_t)b->body_left;
			body_data(b, p + off, take);
			off += take;
			b->body_left -= take;
			if (b->body_left == 0 && b->conn == C_OPEN) {
				if (b->ps == P_BODY)
					request_complete(b);
				else
					b->ps = P_CHUNK_DATA_CR;
			}
			break;
		}
		default:
			chunk_byte(b, p[off++]);
			break;
		}
	}
	return off;
}

static int feed_plain(struct fc_backend *b, const uint8_t *p, size_t n)
{
	while (n > 0 && b->conn == C_OPEN) {
		if (kt_buf_len(&b->in) == 0) {
			/* Fast path: parse straight from the caller's bytes (bodies are never
			 * copied). */
			size_t used = parse(b, p, n);
			p += used;
			n -= used;
			if (n == 0 || b->conn != C_OPEN)
				return 0;
			int r = kt_buf_append(&b->in, p, n);
			if (r < 0) {
				kt_log_debug("backend %s/%s:%d: inbound overflow", b->ns, b->name,
					     b->port);
				reset_conn(b);
			}
			return r;
		}
		size_t take = n < kt_buf_room(&b->in) ? n : kt_buf_room(&b->in);
		if (take == 0) {
			kt_log_debug("backend %s/%s:%d: inbound overflow", b->ns, b->name, b->port);
			reset_conn(b);
			return -ENOBUFS;
		}
		int r = kt_buf_append(&b->in, p, take);
		if (r < 0) {
			reset_conn(b);
			return r;
		}
		p += take;
		n -= take;
		kt_buf_consume(&b->in, parse(b, kt_buf_peek(&b->in), kt_buf_len(&b->in)));
	}
	return 0;
}

/* ---- TLS ---- */

static int tls_input(struct fc_backend *b, const uint8_t *p, size_t n)
{
	while (n > 0 && b->conn == C_OPEN) {
		/* Slices keep the read BIO at one slice plus one partial record. */
		size_t take = n < TLS_RECORD ? n : TLS_RECORD;
		ERR_clear_error();
		if (BIO_write(b->rbio, p, (int)take) != (int)take) {
			tls_fail(b, "BIO_write");
			return -ENOMEM;
		}
		p += take;
		n -= take;
		if (!b->hs_done) {
			int r = SSL_do_handshake(b->ssl);
			if (r != 1) {
				if (SSL_get_error(b->ssl, r) == SSL_ERROR_WANT_READ)
					continue;
				tls_fail(b, "handshake");
				return -EPROTO;
			}
			b->hs_done = true;
		}
		while (b->conn == C_OPEN) {
			int r = SSL_read(b->ssl, b->scratch, SCRATCH_LEN);
			if (r > 0) {
				int e = feed_plain(b, b->scratch, (size_t)r);
				if (e < 0)
					return e;
				continue;
			}
			int e = SSL_get_error(b->ssl, r);
			if (e == SSL_ERROR_WANT_READ)
				break;
			if (e == SSL_ERROR_ZERO_RETURN) {
				/* close_notify from the client: the same as a half-close. */
				fc_backend_input_eof(b);
				return 0;
			}
			tls_fail(b, "read");
			return -EPROTO;
		}
	}
	return 0;
}

static size_t tls_drain_out(struct fc_backend *b, size_t budget)
{
	size_t done = 0;
	while (done < budget) {
		size_t pend = BIO_ctrl_pending(b->wbio);
		if (pend == 0)
			break;
		size_t take = pend;
		if (take > budget - done)
			take = budget - done;
		if (take > SCRATCH_LEN)
			take = SCRATCH_LEN;
		int r = BIO_read(b->wbio, b->scratch, (int)take);
		if (r <= 0)
			break;
		b->io.output(b->arg, b->scratch, (size_t)r);
		done += (size_t)r;
	}
	return done;
}

/* ---- public API ---- */

static bool valid_name(const char *s)
{
	size_t n = s ? strnlen(s, FC_BACKEND_NAME_MAX + 1) : 0;
	if (n == 0 || n > FC_BACKEND_NAME_MAX)
		return false;
	/* Names go into header fields verbatim, so nothing that could end or fold a line. */
	for (size_t i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return false;
	return true;
}

struct fc_backend *fc_backend_new(const struct fc_backend_info *info,
				  const struct fc_backend_io *io, void *arg)
{
	struct fc_backend *b = NULL;

	if (!info || !io || !io->output || !io->closed || !io->set_timer ||
	    !valid_name(info->pod_name) || !valid_name(info->pod_namespace) || info->port < 1 ||
	    info->port > 65535)
		return NULL;
	if (pthread_once(&pattern_once, pattern_init) != 0)
		return NULL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->io = *io;
	b->arg = arg;
	memcpy(b->name, info->pod_name, strlen(info->pod_name) + 1);
	memcpy(b->ns, info->pod_namespace, strlen(info->pod_namespace) + 1);
	b->port = info->port;
	b->conn = C_OPEN;
	b->ps = P_HEAD;
	kt_buf_init(&b->in, FC_BACKEND_IN_MAX);
	if (info->tls) {
		b->scratch = malloc(SCRATCH_LEN);
		b->ssl = SSL_new(info->tls);
		if (!b->scratch || !b->ssl)
			goto fail;
		b->rbio = BIO_new(BIO_s_mem());
		b->wbio = BIO_new(BIO_s_mem());
		if (!b->rbio || !b->wbio) {
			BIO_free(b->rbio);
			BIO_free(b->wbio);
			goto fail;
		}
		/* An empty read BIO means "wait for more", not end of stream. */
		BIO_set_mem_eof_return(b->rbio, -1);
		SSL_set_bio(b->ssl, b->rbio, b->wbio);
		/* Renegotiation could make SSL_write wait for input; a test pod does not need it.
		 */
		SSL_set_options(b->ssl, SSL_OP_NO_RENEGOTIATION);
		SSL_set_accept_state(b->ssl);
	}
	return b;
fail:
	ERR_clear_error();
	fc_backend_free(b);
	return NULL;
}

void fc_backend_free(struct fc_backend *b)
{
	if (!b)
		return;
	SSL_free(b->ssl);
	free(b->scratch);
	EVP_MD_CTX_free(b->md);
	kt_buf_fini(&b->in);
	free(b);
}

int fc_backend_input(struct fc_backend *b, const uint8_t *p, size_t n)
{
	if (b->conn != C_OPEN || n == 0)
		return 0;
	if (b->ssl)
		return tls_input(b, p, n);
	return feed_plain(b, p, n);
}

size_t fc_backend_input_room(const struct fc_backend *b)
{
	if (b->conn != C_OPEN)
		return SIZE_MAX;
	size_t room = kt_buf_room(&b->in);
	if (b->ssl) {
		/* A partial record kept by OpenSSL from earlier input may decrypt along with the
		 * next bytes, so reserve one maximum-size record. */
		room = room > SCRATCH_LEN ? room - SCRATCH_LEN : 0;
	}
	return room;
}

void fc_backend_input_eof(struct fc_backend *b)
{
	if (b->conn != C_OPEN)
		return;
	b->eof = true;
	/* Requests already complete are answered first; resume() closes after the last one. */
	if (!b->busy)
		begin_close(b);
}

/* The current response has been produced completely. */
static void response_done(struct fc_backend *b)
{
	b->busy = false;
	if (b->close_after) {
		begin_close(b);
		return;
	}
	if (kt_buf_len(&b->in) > 0)
		kt_buf_consume(&b->in, parse(b, kt_buf_peek(&b->in), kt_buf_len(&b->in)));
	if (b->eof && !b->busy)
		begin_close(b);
}

static size_t next_plain(const struct fc_backend *b, const uint8_t **src)
{
	if (b->st_len > b->st_off) {
		*src = b->stage + b->st_off;
		return b->st_len - b->st_off;
	}
	if (b->gen_left > 0) {
		size_t avail = PATTERN_LEN - b->gen_phase;
		if (avail > b->gen_left)
			avail = (size_t)b->gen_left;
		*src = pattern + b->gen_phase;
		return avail;
	}
	return 0;
}

static void advance(struct fc_backend *b, size_t n)
{
	if (b->st_len > b->st_off) {
		b->st_off += n;
		if (b->st_off == b->st_len)
			b->st_off = b->st_len = 0;
		return;
	}
	b->gen_left -= n;
	b->gen_phase = (b->gen_phase + n) % PATTERN_MOD;
}

size_t fc_backend_pump(struct fc_backend *b, size_t room)
{
	size_t produced = 0;
	while (b->conn != C_CLOSED) {
		if (b->ssl) {
			produced += tls_drain_out(b, room - produced);
			if (BIO_ctrl_pending(b->wbio) > 0)
				break;
		}
		const uint8_t *src;
		size_t avail = next_plain(b, &src);
		if (avail > 0) {
			if (produced == room)
				break;
			if (b->ssl) {
				/* Encrypt one record only when the write BIO is empty: the
				 * ciphertext beyond `room` waits there for the next pump. */
				int chunk = (int)(avail < TLS_RECORD ? avail : TLS_RECORD);
				ERR_clear_error();
				if (SSL_write(b->ssl, src, chunk) != chunk) {
					tls_fail(b, "write");
					break;
				}
				advance(b, (size_t)chunk);
			} else {
				size_t chunk = avail < room - produced ? avail : room - produced;
				b->io.output(b->arg, src, chunk);
				produced += chunk;
				advance(b, chunk);
			}
			continue;
		}
		/* Nothing staged: state transitions happen even when room is used up, so that
		 * has_pending() never reports work that only a pump could discover. */
		if (b->conn == C_CLOSING) {
			close_progress(b);
			if (b->conn == C_CLOSING && !(b->ssl && BIO_ctrl_pending(b->wbio) > 0))
				break;
			continue;
		}
		if (b->busy && !b->waiting_timer) {
			response_done(b);
			continue;
		}
		break;
	}
	return produced;
}

bool fc_backend_has_pending(const struct fc_backend *b)
{
	if (b->conn == C_CLOSED)
		return false;
	if (staged_output(b) || b->conn == C_CLOSING)
		return true;
	if (b->ssl && BIO_ctrl_pending(b->wbio) > 0)
		return true;
	return b->busy && !b->waiting_timer;
}

void fc_backend_on_timer(struct fc_backend *b)
{
	if (b->conn == C_CLOSED || !b->waiting_timer)
		return;
	b->waiting_timer = false;
	stage_delayed(b);
}
