/* test_backend.c: the simulated pod's HTTP/TLS server state machine (tools/fake-cluster/backend.c).
 *
 * Each test drives one backend through an io capture that records output, closed() and
 * set_timer(), pumps with small rooms to exercise flow control, and checks the bytes the client
 * would see, byte-exact where HTTP defines them. */
#include "backend.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kt_test.h"

struct cap {
	uint8_t *out;
	size_t len, cap;
	int closed_calls;
	bool reset;
	int timer_calls;
	uint64_t timer_ms;
	bool bad_pump; /* a pump exceeded its room or misreported what it output */
};

static void cap_output(void *arg, const uint8_t *p, size_t n)
{
	struct cap *c = arg;
	if (c->len + n > c->cap) {
		size_t ncap = c->cap ? c->cap : 4096;
		while (ncap < c->len + n)
			ncap *= 2;
		uint8_t *no = realloc(c->out, ncap);
		if (!no)
			abort();
		c->out = no;
		c->cap = ncap;
	}
	memcpy(c->out + c->len, p, n);
	c->len += n;
}

static void cap_closed(void *arg, bool reset)
{
	struct cap *c = arg;
	c->closed_calls++;
	c->reset = reset;
}

static void cap_timer(void *arg, uint64_t ms)
{
	struct cap *c = arg;
	c->timer_calls++;
	c->timer_ms = ms;
}

static void cap_fini(struct cap *c)
{
	free(c->out);
	*c = (struct cap){0};
}

static const struct fc_backend_io cap_io = {cap_output, cap_closed, cap_timer};

static struct fc_backend *new_backend(struct cap *c, SSL_CTX *tls)
{
	struct fc_backend_info info = {
	    .pod_name = "web-0", .pod_namespace = "default", .port = 8080, .tls = tls};
	*c = (struct cap){0};
	return fc_backend_new(&info, &cap_io, c);
}

static size_t pump_once(struct fc_backend *b, struct cap *c, size_t room)
{
	size_t before = c->len;
	size_t n = fc_backend_pump(b, room);
	if (n > room || c->len - before != n)
		c->bad_pump = true;
	return n;
}

/* Pumps until nothing is pending (or the backend stops making progress). */
static void pump_all(struct fc_backend *b, struct cap *c, size_t room)
{
	for (int idle = 0; fc_backend_has_pending(b) && c->closed_calls == 0 && idle < 3;) {
		if (pump_once(b, c, room) == 0)
			idle++;
		else
			idle = 0;
	}
	/* A pending close (TLS close_notify, clean FIN) is finished by one more pump. */
	if (fc_backend_has_pending(b))
		pump_once(b, c, room);
}

static int send_str(struct fc_backend *b, const char *s)
{
	return fc_backend_input(b, (const uint8_t *)s, strlen(s));
}

/* ---- a small response parser for the checks ---- */

struct resp {
	int status;
	char head[4096]; /* the head, NUL-terminated */
	const uint8_t *body;
	size_t body_len;
};

/* Copies header `name`'s value into out; false when absent. */
static bool hdr(const struct resp *r, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	const char *p = strstr(r->head, "\r\n");
	while (p && p[2] != '\r' && p[2] != '\0') {
		const char *line = p + 2;
		const char *end = strstr(line, "\r\n");
		if (!end)
			return false;
		if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
			const char *v = line + nl + 1;
			while (*v == ' ')
				v++;
			size_t vl = (size_t)(end - v);
			if (vl >= cap)
				return false;
			memcpy(out, v, vl);
			out[vl] = '\0';
			return true;
		}
		p = end;
	}
	return false;
}

static uint64_t hdr_u64(const struct resp *r, const char *name)
{
	char v[64];
	if (!hdr(r, name, v, sizeof(v)))
		return UINT64_MAX;
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (errno || end == v || *end)
		return UINT64_MAX;
	return x;
}

/* Parses one response at p; returns its length or 0. head_only: a response to HEAD. */
static size_t parse_resp(const uint8_t *p, size_t n, bool head_only, struct resp *r)
{
	*r = (struct resp){0};
	size_t hl = 0;
	for (size_t i = 0; i + 4 <= n; i++) {
		if (memcmp(p + i, "\r\n\r\n", 4) == 0) {
			hl = i + 4;
			break;
		}
	}
	if (hl == 0 || hl >= sizeof(r->head) || hl < 13 || memcmp(p, "HTTP/1.1 ", 9) != 0)
		return 0;
	memcpy(r->head, p, hl);
	r->head[hl] = '\0';
	r->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	uint64_t cl = hdr_u64(r, "Content-Length");
	if (r->status == 100) {
		r->body = p + hl;
		return hl;
	}
	if (cl == UINT64_MAX)
		return 0;
	if (head_only)
		cl = 0;
	if (cl > n - hl)
		return 0;
	r->body = p + hl;
	r->body_len = (size_t)cl;
	return hl + (size_t)cl;
}

static bool body_is(const struct resp *r, const char *s)
{
	return r->body_len == strlen(s) && memcmp(r->body, s, r->body_len) == 0;
}

static bool has_pod_headers(const struct resp *r)
{
	char v[300];
	return hdr(r, "X-Pod-Name", v, sizeof(v)) && strcmp(v, "web-0") == 0 &&
	       hdr(r, "X-Pod-Namespace", v, sizeof(v)) && strcmp(v, "default") == 0 &&
	       hdr(r, "X-Pod-Port", v, sizeof(v)) && strcmp(v, "8080") == 0;
}

static void sha256_hex(const void *p, size_t n, char out[66])
{
	uint8_t d[EVP_MAX_MD_SIZE];
	unsigned dl = 0;
	static const char hx[] = "0123456789abcdef";
	if (EVP_Digest(p, n, d, &dl, EVP_sha256(), NULL) != 1 || dl != 32)
		abort();
	for (unsigned i = 0; i < dl; i++) {
		out[2 * i] = hx[d[i] >> 4];
		out[2 * i + 1] = hx[d[i] & 15];
	}
	out[64] = '\n';
	out[65] = '\0';
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

static const char root_response[] = "HTTP/1.1 200 OK\r\n"
				    "Content-Type: text/plain\r\n"
				    "Content-Length: 38\r\n"
				    "X-Pod-Name: web-0\r\n"
				    "X-Pod-Namespace: default\r\n"
				    "X-Pod-Port: 8080\r\n"
				    "\r\n"
				    "pod=web-0 namespace=default port=8080\n";

/* ---- tests ---- */

KT_TEST(new_rejects_bad_info)
{
	struct cap c = {0};
	struct fc_backend_info info = {.pod_name = "web-0", .pod_namespace = "default", .port = 80};
	struct fc_backend *b = fc_backend_new(&info, &cap_io, &c);
	KT_CHECK(b != NULL);
	fc_backend_free(b);
	fc_backend_free(NULL);
	info.port = 0;
	KT_CHECK(fc_backend_new(&info, &cap_io, &c) == NULL);
	info.port = 65536;
	KT_CHECK(fc_backend_new(&info, &cap_io, &c) == NULL);
	info.port = 80;
	info.pod_name = "web\r\nX-Evil: 1";
	KT_CHECK(fc_backend_new(&info, &cap_io, &c) == NULL);
	info.pod_name = "";
	KT_CHECK(fc_backend_new(&info, &cap_io, &c) == NULL);
	info.pod_name = "web-0";
	info.pod_namespace = NULL;
	KT_CHECK(fc_backend_new(&info, &cap_io, &c) == NULL);
}

KT_TEST(get_root_exact)
{
	struct cap c;
	struct fc_backend *b = new_backend(&c, NULL);
	KT_REQUIRE(b);
	KT_CHECK_INT_EQ(send_str(b, "GET / HTTP/1.1\r\nHost: web-0:8080\r\n\r\n"), 0);
	/* Output happens only in pump(). */
	KT_CHECK_INT_EQ(c.len, 0);
	KT_CHECK(fc_backend_has_pending(b));
	pump_all(b, &c, 10);
	KT_CHECK(!c.bad_pump);
	KT_CHECK_INT_EQ(c.len, strlen(root_response));
	KT_CHECK_MEM_EQ(c.out, root_response,
			strlen(root_response) < c.len ? strlen(root_response) : c.len);
	KT_CHECK_INT_EQ(c.closed_calls, 0);
	KT_CHECK(!fc_backend_has_pending(b));
	/* Keep-alive: the same connection answers again, also in absolute-form with a query. */
	c.len = 0;
	KT_CHECK_INT_EQ(send_str(b, "GET http://web-0:8080/?x=1 HTTP/1.1\r\nHost: web-0\r\n\r\n"),
			0);
	pump_all(b, &c, 65536);
	KT_CHECK_INT_EQ(c.len, strlen(root_response));
	KT_CHECK_MEM_EQ(c.out, root_response,
			strlen(root_response) < c.len ? strlen(root_response) : c.len);
	fc_backend_free(b);
	cap_fini(&c);
}

KT_TEST(pipelined_two_in_one_input)
{
	struct cap c;
	struct fc_backend *b = new_backend(&c, NULL);
	KT_REQUIRE(b);
	KT_CHECK_INT_EQ(send_str(b, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
				    "GET /bytes/5 HTTP/1.1\r\nHost: a\r\n\r\n"),
			0);
	pump_all(b, &c, 16);
	KT_CHECK(!c.bad_pump);
	struct resp r1, r2;
	size_t n1 = parse_resp(c.out, c.len, false, &r1);
	KT_REQUIRE(n1 > 0);
	KT_CHECK_INT_EQ(r1.status, 200);
	KT_CHECK(body_is(&r1, "pod=web-0 namespace=default port=8080\n"));
	size_t n2 = parse_resp(c.out + n1, c.len - n1, false, &r2);
	KT_REQUIRE(n2 > 0);
	KT_CHECK_INT_EQ(r2.status, 200);
	KT_CHECK(has_pod_headers(&r2));
	KT_CHECK_INT_EQ(r2.body_len, 5);
	KT_CHECK_MEM_EQ(r2.body, "\x00\x01\x02\x03\x04", 5);
	KT_CHECK_INT_EQ(n1 + n2, c.len);
	KT_CHECK_INT_EQ(c.closed_calls, 0);
	fc_backend_free(b);
	cap_fini(&c);
}

static const char split_script[] = "POST /sha256 HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n"
				   "hello world"
				   "\r\n\r\nGET / HTTP/1.1\r\n\r\n"
				   "PUT /sha256 HTTP/1.1\nTransfer-Encoding: chunked\n\n"
				   "5;name=val\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: y\r\n\r\n"
				   "GET /bytes/300 HTTP/1.1\r\n\r\n"
				   "HEAD /bytes/7 HTTP/1.1\r\n\r\n"
				   "GET /nope HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
				   "GET / HTTP/1.1\r\nConnection: close\r\n\r\n";

/* Runs split_script through a backend, `step` bytes per input() call (0: all at once). */
static void run_script(struct cap *c, size_t step, size_t room)
{
	struct fc_backend *b = new_backend(c, NULL);
	if (!b)
		abort();
	size_t n = strlen(split_script);
	if (step == 0)
		step = n;
	for (size_t off = 0; off < n; off += step) {
		size_t k = n - off < step ? n - off : step;
		if (fc_backend_input(b, (const uint8_t *)split_script + off, k) != 0)
			c->bad_pump = true;
		pump_all(b, c, room);
	}
	pump_all(b, c, room);
	fc_backend_free(b);
}

KT_TEST(byte_by_byte_equals_one_shot)
{
	struct cap whole, bytes;
	run_script(&whole, 0, 65536);
	run_script(&bytes, 1, 3);
	KT_CHECK(!whole.bad_pump);
	KT_CHECK(!bytes.bad_pump);
	KT_CHECK_INT_EQ(whole.len, bytes.len);
	KT_CHECK(whole.len == bytes.len && memcmp(whole.out, bytes.out, whole.len) == 0);
	KT_CHECK_INT_EQ(whole.closed_calls, 1);
	KT_CHECK(!whole.reset);
	KT_CHECK_INT_EQ(bytes.closed_calls, 1);

	/* The script's responses, in order. */
	static const char hello_sha[] =
	    "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9\n";
	struct resp r;
	size_t off = 0, n;
	n = parse_resp(whole.out + off, whole.len - off, false, &r);
	KT_REQUIRE(n);
	KT_CHECK(body_is(&r, hello_sha));
	off += n;
	n = parse_resp(whole.out + off, whole.len - off, false, &r);
	KT_REQUIRE(n);
	KT_CHECK(body_is(&r, "pod=web-0 namespace=default port=8080\n"));
	off += n;
	n = parse_resp(whole.out + off, whole.len - off, false, &r);
	KT_REQUIRE(n);
	KT_CHECK(body_is(&r, hello_sha));
	off += n;
	n = parse_resp(whole.out + off, whole.len - off, false, &r);
	KT_REQUIRE(n);
	KT_CHECK_INT_EQ(r.body_len, 300);
	KT_CHECK(r.body_len == 300 && r.body[251] == 0 && r.body[299] == 48);
	off += n;
	n = parse_resp(whole.out + off, whole.len - off, true, &r);
	KT_REQUIRE(n);
	KT_CHECK_INT_EQ(hdr_u64(&r, "Content-Length"), 7);
	off += n;
	n = parse_resp(whole.out + off, whole.len - off, false, &r);
	KT_REQUIRE(n);
	KT_CHECK_INT_EQ(r.status, 404);
	off += n;
	n = parse_resp(whole.out + off, whole.len - off, false, &r);
	KT_REQUIRE(n);
	KT_CHECK_INT_EQ(r.status, 200);
	char v[32];
	KT_CHECK(hdr(&r, "Connection", v, sizeof(v)) && strcmp(v, "close") == 0);
	off += n;
	KT_CHECK_INT_EQ(off, whole.len);
	cap_fini(&whole);
	cap_fini(&bytes);
}

KT_TEST(chunked_sha256_matches_evp)
{
	size_t dlen = 300000;
	uint8_t *data = malloc(dlen);
	KT_REQUIRE(data);
	for (size_t i = 0; i < dlen; i++)
		data[i] = (uint8_t)rng();
	char want[66];
	sha256_hex(data, dlen, want);

	/* Build the chunked request: varied chunk sizes, upper- and lower-case hex, extensions. */
	size_t cap = dlen + 65536, len = 0;
	uint8_t *req = malloc(cap);
	KT_REQUIRE(req);
	len += (size_t)snprintf((char *)req, cap,
				"POST /sha256 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
				"Expect: 100-continue\r\n\r\n");
	size_t head_len = len;
	static const size_t sizes[] = {1, 17, 4096, 65536, 3, 100000, 251};
	for (size_t off = 0, k = 0; off < dlen; k++) {
		size_t cs = sizes[k % 7];
		if (cs > dlen - off)
			cs = dlen - off;
		len += (size_t)snprintf((char *)req + len, cap - len,
					k % 2 ? "%zX;ext=\"v\"\r\n" : "%zx\r\n", cs);
		memcpy(req + len, data + off, cs);
		len += cs;
		memcpy(req + len, "\r\n", 2);
		len += 2;
		off += cs;
	}
	len += (size_t)snprintf((char *)req + len, cap - len, "0\r\nX-Sum: 1\r\n\r\n");

	struct cap c;
	struct fc_backend *b = new_backend(&c, NULL);
	KT_REQUIRE(b);
	/* The head alone brings the interim response. */
	KT_CHECK_INT_EQ(fc_backend_input(b, req, head_len), 0);
	pump_all(b, &c, 5);
	KT_CHECK_INT_EQ(c.len, 25);
	KT_CHECK(c.len == 25 && memcmp(c.out, "HTTP/1.1 100 Continue\r\n\r\n", 25) == 0);
	c.len = 0;
	for (size_t off = head_len; off < len;) {
		size_t k = 1 + rng() % 7000;
		if (k > len - off)
			k = len - off;
		KT_CHECK_INT_EQ(fc_backend_input(b, req + off, k), 0);
		off += k;
		pump_all(b, &c, 64);
	}
	struct resp r;
	KT_REQUIRE(parse_resp(c.out, c.len, false, &r) == c.len);
	KT_CHECK_INT_EQ(r.status, 200);
	KT_CHECK(has_pod_headers(&r));
	KT_CHECK(body_is(&r, want));
	KT_CHECK_INT_EQ(c.closed_calls, 0);
	fc_backend_free(b);
	cap_fini(&c);
	free(req);
	free(data);
}

KT_TEST(sha256_put_and_empty)
{
	struct cap c;
	struct fc_backend *b = new_backend(&c, NULL);
	KT_REQUIRE(b);
	send_str(b, "PUT /sha256 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
		    "POST /sha256 HTTP/1.1\r\n\r\n");
	pump_all(b, &c, 100);
	struct resp r;
	size_t n = parse_resp(c.out, c.len, false, &r);
	KT_REQUIRE(n);
	KT_CHECK(body_is(&r, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n"));
	KT_REQUIRE(parse_resp(c.out + n, c.len - n, false, &r));
	KT_CHECK(body_is(&r, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"));
	fc_backend_free(b);
	cap_fini(&c);
}

KT_TEST(discard_counts_body)
{
	struct cap c;
	struct fc_backend *b = new_backend(&c, NULL);
	KT_REQUIRE(b);
	send_str(b, "POST /discard HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
		    "POST /discard HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
		    "GET /discard HTTP/1.1\r\n\r\n");
	pump_all(b, &c, 100);
	struct resp r;
	size_t n = parse_resp(c.out, c.len, false, &r);
	KT_REQUIRE(n);
	KT_CHECK(body_is(&r, "5\n"));
	size_t m = parse_resp(c.out + n, c.len - n, false, &r);
	KT_REQUIRE(m);
	KT_CHECK(body_is(&r, "7\n"));
	KT_REQUIRE(parse_resp(c.out + n + m, c.len - n - m, false, &r));
	KT_CHECK_INT_EQ(r.status, 405);
	fc_backend_free(b);
	cap_fini(&c);
}

static void check_bytes(size_t n, size_t room)
{
	struct cap c;
	char req[64];
	struct fc_backend *b = new_backend(&c, NULL);
	KT_REQUIRE(b);
	snprintf(req, sizeof(req), "GET /bytes/%zu HTTP/1.1\r\n\r\n", n);
	send_str(b, req);
	pump_all(b, &c, room);
	KT_CHECK(!c.bad_pump);
	struct resp r;
	KT_REQUIRE(parse_resp(c.out, c.len, false, &r) == c.len);
	KT_CHECK_INT_EQ(r.status, 200);
	KT_CHECK(has_pod_headers(&r));
	KT_CHECK_INT_EQ(hdr_u64(&r, "Content-Length"), n);
	KT_CHECK_INT_EQ(r.body_len, n);
	size_t bad = 0;
	for (size_t i = 0; i < r.body_len; i++)
		bad += r.body[i] != (uint8_t)(i % 251);
	KT_CHECK_INT_EQ(bad, 0);
	fc_backend_free(b);
	cap_fini(&c);
}

KT_TEST(bytes_content)
{
	static const size_t ns[] = {0, 1, 251, 1000000};
	static const size_t rooms[] = {1, 7, 1000, 65536, 1 << 20};
	for (size_t i = 0; i < 4; i++)
		for (size_t j = 0; j < 5; j++)
			check_bytes(ns[i], rooms[j]);
}

KT_TEST(bytes_huge_streams_incrementally)
{
	struct cap c;
	struct fc_backend *b = new_backend(&c, NULL);
	KT_REQUIRE(b);
	send_str(b, "GET /bytes/1099511627776 HTTP/1.1\r\n\r\n");
	size_t total = 0;
	for (int i = 0; i < 64; i++)
		total += pump_once(b, &c, 65536);
	KT_CHECK(!c.bad_pump);
	KT_CHECK_INT_EQ(total, 64 * 65536);
	KT_CHECK(fc_backend_has_pending(b));
	struct resp r;
	size_t hl = parse_resp(c.out, c.len, true, &r);
	KT_REQUIRE(hl);
	KT_CHECK_INT_EQ(hdr_u64(&r, "Content-Length"), 1099511627776ULL);
	size_t bad = 0;
	for (size_t i = hl; i < c.len; i++)
		bad += c.out[i] != (uint8_t)((i - hl) % 251);
	KT_CHECK_INT_EQ(bad, 0);
	/* Too large a count is a client error, not a connection error. */
	fc_backend_free(b);
	cap_fini(&c);
	b = new_backend(&c, NULL);
	KT_REQUIRE(b);
	send_str(b,
		 "GET /bytes/99999999999999999999999 HTTP/1.1\r\n\r\nGET /bytes/x HTTP/1.1\r\n\r\n"
		 "GET /bytes/ HTTP/1.1\r\n\r\n");
	pump_all(b, &c, 4096);
	size_t n1 = parse_resp(c.out, c.len, false, &r);
	KT_REQUIRE(n1);
	KT_CHECK_INT_EQ(r.status, 400);
	size_t n2 = parse_resp(c.out + n1, c.len - n1, false, &r);
	KT_REQUIRE(n2);
	KT_CHECK_INT_EQ(r.status, 400);
	KT_REQUIRE(parse_resp(c.out + n1 + n2, c.len - n1 - n2, false, &r));
	KT_CHECK_INT_EQ(r.status, 404);
	KT_CHECK_INT_EQ(c.closed_calls, 0);
	fc_backend_free(b);
	cap_fini(&c);
}

KT_TEST(head_requests)
{
	struct cap c;
	struct fc_backend *b = new_backend(&c, NULL);
	KT_REQUIRE(b);
	send_str(b,
		 "HEAD / HTTP/1.1\r\n\r\nHEAD /bytes/1000 HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n");
	pump_all(b, &c, 33);
	struct resp r;
	size_t n1 = parse_resp(c.out, c.len, true, &r);
	KT_REQUIRE(n1);
	/* The HEAD response is exactly the GET response without its body. */
	size_t root_head = strlen(root_response) - 38;
	KT_CHECK_INT_EQ(n1, root_head);
	KT_CHECK_MEM_EQ(c.out, root_response, root_head);
	size_t n2 = parse_resp(c.out + n1, c.len - n1, true, &r);
	KT_REQUIRE(n2);
	KT_CHECK_INT_EQ(hdr_u64(&r, "Content-Length"), 1000);
	char v[64];
	KT_CHECK(hdr(&r, "Content-Type", v, sizeof(v)) &&
		 strcmp(v, "application/octet-stream") == 0);
	KT_CHECK_INT_EQ(c.len - n1 - n2, strlen(root_response));
	KT_CHECK_MEM_EQ(c.out + n1 + n2, root_response, strlen(root_response));
	fc_backend_free(b);
	cap_fini(&c);
}

KT_TEST(not_found_and_method_not_allowed_keep_alive)
{
	struct cap c;
	struct fc_backend *b = new_backend(&c, NULL);
	KT_REQUIRE(b);
	send_str(b, "GET /nope HTTP/1.1\r\n\r\n"
		    "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"
		    "GET /sha256 HTTP/1.1\r\n\r\n"
		    "DELETE /bytes/3 HTTP/1.1\r\n\r\n"
		    "GET / HTTP/1.1\r\n\r\n");
	pump_all(b, &c, 4096);
	struct resp r;
	size_t off = 0, n;
	char v[64];
	n = parse_resp(c.out, c.len, false, &r);
	KT_REQUIRE(n);
	KT_CHECK_INT_EQ(r.status, 404);
	KT_CHECK(has_pod_headers(&r));
	KT_CHECK(strncmp(r.head, "HTTP/1.1 404 Not Found\r\n", 24) == 0);
	off += n;
	n = parse_resp(c.out + off, c.len - off, false, &r);
	KT_REQUIRE(n);
	KT_CHECK_INT_EQ(r.status, 405);
	KT_CHECK(hdr(&r, "Allow", v, sizeof(v)) && strcmp(v, "GET, HEAD") == 0);
	KT_CHECK(has_pod_headers(&r));
	off += n;
	n = parse_resp(c.out + off, c.len - off, false, &r);
	KT_REQUIRE(n);
	KT_CHECK_INT_EQ(r.status, 405);
	KT_CHECK(hdr(&r, "Allow", v, sizeof(v)) && strcmp(v, "POST, PUT") == 0);
	off += n;
	n = parse_resp(c.out + off, c.len - off, false, &r);
	KT_REQUIRE(n);
	KT_CHECK_INT_EQ(r.status, 405);
	off += n;
	n = parse_resp(c.out + off, c.len - off, false, &r);
	KT_REQUIRE(n);
	KT_CHECK_INT_EQ(r.status, 200);
	off += n;
	KT_CHECK_INT_EQ(off, c.len);
	KT_CHECK_INT_EQ(c.closed_calls, 0);
	fc_backend_free(b);
	cap_fini(&c);
}

/* Sends one request that must be answered with `status` and a clean close. */
static void check_error_close(const char *req, size_t req_len, int status)
{
	struct cap c;
	struct fc_backend *b = new_backend(&c, NULL);
	KT_REQUIRE(b);
	KT_CHECK_INT_EQ(fc_backend_input(b, (const uint8_t *)req, req_len), 0);
	pump_all(b, &c, 512);
	struct resp r;
	size_t n = parse_resp(c.out, c.len, false, &r);
	if (!n || r.status != status)
		fprintf(stderr, "request %.40s...: want %d, got %d\n", req, status,
			n ? r.status : -1);
	KT_REQUIRE(n);
	KT_CHECK_INT_EQ(r.status, status);
	KT_CHECK_INT_EQ(n, c.len);
	char v[32];
	KT_CHECK(hdr(&r, "Connection", v, sizeof(v)) && strcmp(v, "close") == 0);
	KT_CHECK(has_pod_headers(&r));
	KT_CHECK_INT_EQ(c.closed_calls, 1);
	KT_CHECK(!c.reset);
	/* Input after the close is ignored. */
	KT_CHECK_INT_EQ(send_str(b, "GET / HTTP/1.1\r\n\r\n"), 0);
	KT_CHECK(!fc_backend_has_pending(b));
	KT_CHECK_INT_EQ(fc_backend_pump(b, 1000), 0);
	fc_backend_free(b);
	cap_fini(&c);
}

#define ERR_CASE(s, status) check_error_close(s, sizeof(s) - 1, status)

KT_TEST(malformed_requests)
{
	ERR_CASE("GARBAGE\r\n\r\n", 400);
	ERR_CASE("GET /\r\n\r\n", 400);
	ERR_CASE("GET / HTTP/1.1 x\r\n\r\n", 400);
	ERR_CASE("GET  / HTTP/1.1\r\n\r\n", 400);
	ERR_CASE("GET nope HTTP/1.1\r\n\r\n", 400);
	ERR_CASE("GET / HTTP/1.1\r\nBad Header\r\n\r\n", 400);
	ERR_CASE("GET / HTTP/1.1\r\nName : v\r\n\r\n", 400);
	ERR_CASE("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400);
	ERR_CASE("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", 400);
	ERR_CASE("GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400);
	ERR_CASE("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400);
	ERR_CASE("POST /sha256 HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		 400);
	ERR_CASE("POST /sha256 HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
	ERR_CASE("POST /sha256 HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501);
	ERR_CASE("GET / HTTP/2.0\r\n\r\n", 505);
	ERR_CASE("GET / HTTPS/1.1\r\n\r\n", 400);
	ERR_CASE("POST /sha256 HTTP/1.1\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\n", 417);
	/* Chunked framing errors. */
	ERR_CASE("POST /sha256 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400);
	ERR_CASE("POST /sha256 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n11111111111111111\r\n",
		 400);
	ERR_CASE("POST /sha256 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX", 400);
	ERR_CASE("POST /sha256 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n;x\r\n", 400);
	ERR_CASE("POST /sha256 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\rx", 400);
	/* A NUL byte in a request line. */
	ERR_CASE("GET /\0 HTTP/1.1\r\n\r\n", 400);
}

KT_TEST(size_limits)
{
	size_t n = FC_BACKEND_HEAD_MAX + 100;
	char *req = malloc(n + 64);
	KT_REQUIRE(req);
	/* A request line longer than the cap. */
	memcpy(req, "GET /", 5);
	memset(req + 5, 'a', n - 5);
	check_error_close(req, n, 414);
	/* A header section longer than the cap, fed in pieces. */
	size_t len = (size_t)snprintf(req, 64, "GET / HTTP/1.1\r\nX-Big: ");
	memset(req + len, 'b', n - len);
	check_error_close(req, n, 431);
	/* Just under the cap is fine. */
	len = (size_t)snprintf(req, 64, "GET / HTTP/1.1\r\nX-Big: ");
	size_t fill = FC_BACKEND_HEAD_MAX - len - 4;
	memset(req + len, 'c', fill);
	memcpy(req + len + fill, "\r\n\r\n", 4);
	struct cap c;
	struct fc_backend *b = new_backend(&c, NULL);
	KT_REQUIRE(b);
	KT_CHECK_INT_EQ(fc_backend_input(b, (const uint8_t *)req, FC_BACKEND_HEAD_MAX), 0);
	pump_all(b, &c, 4096);
	KT_CHECK_INT_EQ(c.len, strlen(root_response));
	fc_backend_free(b);
	cap_fini(&c);
	/* A chunk-size line with an overlong extension. */
	len = (size_t)snprintf(req, 64,
			       "PUT /sha256 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;");
	memset(req + len, 'e', 2000);
	check_error_close(req, len + 2000, 400);
	free(req);
}

KT_TEST(connection_close_and_http10)
{
	struct cap c;
	struct fc_backend *b = new_backend(&c, NULL);
	KT_REQUIRE(b);
	send_str(b, "GET / HTTP/1.1\r\nConnection: foo, Close\r\n\r\nGET / HTTP/1.1\r\n\r\n");
	KT_CHECK_INT_EQ(c.closed_calls, 0);
	pump_all(b, &c, 100);
	struct resp r;
	KT_REQUIRE(parse_resp(c.out, c.len, false, &r) == c.len);
	char v[32];
	KT_CHECK(hdr(&r, "Connection", v, sizeof(v)) && strcmp(v, "close") == 0);
	KT_CHECK_INT_EQ(c.closed_calls, 1);
	KT_CHECK(!c.reset);
	fc_backend_free(b);
	cap_fini(&c);

	b = new_backend(&c, NULL);
	KT_REQUIRE(b);
	send_str(b, "GET / HTTP/1.0\r\n\r\n");
	pump_all(b, &c, 100);
	KT_REQUIRE(parse_resp(c.out, c.len, false, &r) == c.len);
	KT_CHECK(hdr(&r, "Connection", v, sizeof(v)) && strcmp(v, "close") == 0);
	KT_CHECK_INT_EQ(c.closed_calls, 1);
	fc_backend_free(b);
	cap_fini(&c);

	b = new_backend(&c, NULL);
	KT_REQUIRE(b);
	send_str(b, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	pump_all(b, &c, 100);
	KT_REQUIRE(parse_resp(c.out, c.len, false, &r) == c.len);
	KT_CHECK(hdr(&r, "Connection", v, sizeof(v)) && strcmp(v, "keep-alive") == 0);
	KT_CHECK_INT_EQ(c.closed_calls, 0);
	/* Leading empty lines before a request line are ignored (RFC 9112 2.2). */
	c.len = 0;
	send_str(b, "\r\n\nGET / HTTP/1.1\n\n");
	pump_all(b, &c, 100);
	KT_CHECK_INT_EQ(c.len, strlen(root_response));
	KT_CHECK_INT_EQ(c.closed_calls, 0);
	fc_backend_free(b);
	cap_fini(&c);
}

KT_TEST(close_route_resets)
{
	struct cap c;
	struct fc_backend *b = new_backend(&c, NULL);
	KT_REQUIRE(b);
	send_str(b, "GET /close HTTP/1.1\r\n\r\n");
	KT_CHECK_INT_EQ(c.closed_calls, 1);
	KT_CHECK(c.reset);
	KT_CHECK(!fc_backend_has_pending(b));
	KT_CHECK_INT_EQ(fc_backend_pump(b, 1000), 0);
	KT_CHECK_INT_EQ(send_str(b, "GET / HTTP/1.1\r\n\r\n"), 0);
	fc_backend_input_eof(b);
	KT_CHECK_INT_EQ(c.len, 0);
	KT_CHECK_INT_EQ(c.closed_calls, 1);
	fc_backend_free(b);
	cap_fini(&c);

	/* Behind another request: that response comes first, then the reset. */
	b = new_backend(&c, NULL);
	KT_REQUIRE(b);
	send_str(b, "GET / HTTP/1.1\r\n\r\nGET /close HTTP/1.1\r\n\r\n");
	KT_CHECK_INT_EQ(c.closed_calls, 0);
	pump_all(b, &c, 7);
	KT_CHECK_INT_EQ(c.len, strlen(root_response));
	KT_CHECK_INT_EQ(c.closed_calls, 1);
	KT_CHECK(c.reset);
	fc_backend_free(b);
	cap_fini(&c);
}

KT_TEST(delay_through_timer)
{
	struct cap c;
	struct fc_backend *b = new_backend(&c, NULL);
	KT_REQUIRE(b);
	send_str(b, "GET /delay/250 HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n");
	KT_CHECK_INT_EQ(c.timer_calls, 1);
	KT_CHECK_INT_EQ(c.timer_ms, 250);
	KT_CHECK(!fc_backend_has_pending(b));
	pump_all(b, &c, 100);
	KT_CHECK_INT_EQ(c.len, 0);
	fc_backend_on_timer(b);
	KT_CHECK(fc_backend_has_pending(b));
	pump_all(b, &c, 100);
	struct resp r;
	size_t n = parse_resp(c.out, c.len, false, &r);
	KT_REQUIRE(n);
	KT_CHECK(body_is(&r, "delayed 250\n"));
	KT_CHECK(has_pod_headers(&r));
	/* The pipelined request waited for the delayed response. */
	KT_CHECK_INT_EQ(c.len - n, strlen(root_response));
	/* A spurious timer does nothing. */
	c.len = 0;
	fc_backend_on_timer(b);
	KT_CHECK(!fc_backend_has_pending(b));
	/* Clamped, and zero answers at once. */
	send_str(b, "GET /delay/99999999 HTTP/1.1\r\n\r\n");
	KT_CHECK_INT_EQ(c.timer_calls, 2);
	KT_CHECK_INT_EQ(c.timer_ms, 600000);
	fc_backend_on_timer(b);
	pump_all(b, &c, 100);
	KT_REQUIRE(parse_resp(c.out, c.len, false, &r) == c.len);
	KT_CHECK(body_is(&r, "delayed 600000\n"));
	c.len = 0;
	send_str(b, "HEAD /delay/0 HTTP/1.1\r\n\r\n");
	KT_CHECK_INT_EQ(c.timer_calls, 2);
	pump_all(b, &c, 100);
	KT_REQUIRE(parse_resp(c.out, c.len, true, &r) == c.len);
	KT_CHECK_INT_EQ(hdr_u64(&r, "Content-Length"), 10);
	/* A reset while the timer is pending cancels it. */
	send_str(b, "GET /delay/5000 HTTP/1.1\r\n\r\n");
	KT_CHECK_INT_EQ(c.timer_ms, 5000);
	uint8_t junk[FC_BACKEND_IN_MAX + 1];
	memset(junk, 'x', sizeof(junk));
	KT_CHECK_INT_EQ(fc_backend_input(b, junk, sizeof(junk)), -ENOBUFS);
	KT_CHECK_INT_EQ(c.closed_calls, 1);
	KT_CHECK(c.reset);
	KT_CHECK_INT_EQ(c.timer_ms, 0);
	fc_backend_free(b);
	cap_fini(&c);
}

KT_TEST(eof_handling)
{
	struct cap c;
	struct fc_backend *b = new_backend(&c, NULL);
	KT_REQUIRE(b);
	fc_backend_input_eof(b);
	KT_CHECK_INT_EQ(c.closed_calls, 1);
	KT_CHECK(!c.reset);
	fc_backend_free(b);
	cap_fini(&c);

	/* Complete requests before the half-close are answered, then the close. */
	b = new_backend(&c, NULL);
	KT_REQUIRE(b);
	send_str(b, "GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\nGET / HT");
	fc_backend_input_eof(b);
	KT_CHECK_INT_EQ(c.closed_calls, 0);
	pump_all(b, &c, 50);
	KT_CHECK_INT_EQ(c.len, 2 * strlen(root_response));
	KT_CHECK_INT_EQ(c.closed_calls, 1);
	KT_CHECK(!c.reset);
	fc_backend_free(b);
	cap_fini(&c);

	/* A half-close in the middle of a body: no response. */
	b = new_backend(&c, NULL);
	KT_REQUIRE(b);
	send_str(b, "POST /sha256 HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
	fc_backend_input_eof(b);
	KT_CHECK_INT_EQ(c.closed_calls, 1);
	KT_CHECK_INT_EQ(c.len, 0);
	fc_backend_free(b);
	cap_fini(&c);
}

KT_TEST(inbound_bound)
{
	struct cap c;
	struct fc_backend *b = new_backend(&c, NULL);
	KT_REQUIRE(b);
	KT_CHECK_INT_EQ(fc_backend_input_room(b), FC_BACKEND_IN_MAX);
	send_str(b, "GET /bytes/1000000 HTTP/1.1\r\n\r\n");
	/* Pipelined bytes wait behind the streaming response, up to the bound. */
	size_t room = fc_backend_input_room(b);
	KT_CHECK_INT_EQ(room, FC_BACKEND_IN_MAX);
	const char *next = "GET / HTTP/1.1\r\n\r\n";
	KT_CHECK_INT_EQ(send_str(b, next), 0);
	KT_CHECK_INT_EQ(fc_backend_input_room(b), FC_BACKEND_IN_MAX - strlen(next));
	pump_all(b, &c, 65536);
	struct resp r;
	size_t n = parse_resp(c.out, c.len, false, &r);
	KT_REQUIRE(n);
	KT_CHECK_INT_EQ(r.body_len, 1000000);
	KT_CHECK_INT_EQ(c.len - n, strlen(root_response));
	KT_CHECK_INT_EQ(fc_backend_input_room(b), FC_BACKEND_IN_MAX);

	send_str(b, "GET /bytes/1000000 HTTP/1.1\r\n\r\n");
	uint8_t *junk = malloc(FC_BACKEND_IN_MAX + 1);
	KT_REQUIRE(junk);
	memset(junk, 'G', FC_BACKEND_IN_MAX + 1);
	KT_CHECK_INT_EQ(fc_backend_input(b, junk, FC_BACKEND_IN_MAX), 0);
	KT_CHECK_INT_EQ(fc_backend_input_room(b), 0);
	KT_CHECK_INT_EQ(c.closed_calls, 0);
	KT_CHECK_INT_EQ(fc_backend_input(b, junk, 1), -ENOBUFS);
	KT_CHECK_INT_EQ(c.closed_calls, 1);
	KT_CHECK(c.reset);
	free(junk);
	fc_backend_free(b);
	cap_fini(&c);
}

/* ---- TLS ---- */

struct tls_fixture {
	EVP_PKEY *key;
	X509 *cert;
	SSL_CTX *server, *client;
};

static void tls_fixture_fini(struct tls_fixture *f)
{
	SSL_CTX_free(f->server);
	SSL_CTX_free(f->client);
	X509_free(f->cert);
	EVP_PKEY_free(f->key);
}

/* A throwaway self-signed P-256 certificate for CN=web-0, made in code. */
static int tls_fixture_init(struct tls_fixture *f)
{
	*f = (struct tls_fixture){0};
	f->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	f->cert = X509_new();
	if (!f->key || !f->cert)
		return -1;
	X509_NAME *name = X509_get_subject_name(f->cert);
	if (X509_set_version(f->cert, 2) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(f->cert), 1) != 1 ||
	    !X509_gmtime_adj(X509_getm_notBefore(f->cert), -60) ||
	    !X509_gmtime_adj(X509_getm_notAfter(f->cert), 3600) ||
	    X509_set_pubkey(f->cert, f->key) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"web-0", -1,
				       -1, 0) != 1 ||
	    X509_set_issuer_name(f->cert, name) != 1 ||
	    X509_sign(f->cert, f->key, EVP_sha256()) <= 0)
		return -1;
	f->server = SSL_CTX_new(TLS_server_method());
	f->client = SSL_CTX_new(TLS_client_method());
	if (!f->server || !f->client || SSL_CTX_use_certificate(f->server, f->cert) != 1 ||
	    SSL_CTX_use_PrivateKey(f->server, f->key) != 1 ||
	    X509_STORE_add_cert(SSL_CTX_get_cert_store(f->client), f->cert) != 1)
		return -1;
	SSL_CTX_set_verify(f->client, SSL_VERIFY_PEER, NULL);
	return 0;
}

struct tls_client {
	SSL *ssl;
	BIO *rbio, *wbio;
	uint8_t *plain; /* received plaintext */
	size_t len, cap;
	bool got_close_notify;
};

static int tls_client_init(struct tls_client *t, SSL_CTX *ctx)
{
	*t = (struct tls_client){0};
	t->ssl = SSL_new(ctx);
	t->rbio = BIO_new(BIO_s_mem());
	t->wbio = BIO_new(BIO_s_mem());
	if (!t->ssl || !t->rbio || !t->wbio)
		return -1;
	BIO_set_mem_eof_return(t->rbio, -1);
	SSL_set_bio(t->ssl, t->rbio, t->wbio);
	SSL_set_connect_state(t->ssl);
	if (SSL_set1_host(t->ssl, "web-0") != 1)
		return -1;
	return 0;
}

static void tls_client_fini(struct tls_client *t)
{
	SSL_free(t->ssl);
	free(t->plain);
}

/* Moves bytes both ways until nothing moves: client -> backend, pump (small room), backend ->
 * client, client reads plaintext. */
static void tls_shuttle(struct tls_client *t, struct fc_backend *b, struct cap *c, size_t room)
{
	for (int rounds = 0; rounds < 100000; rounds++) {
		bool moved = false;
		SSL_do_handshake(t->ssl);
		uint8_t buf[8192];
		int n;
		while ((n = BIO_read(t->wbio, buf, sizeof(buf))) > 0) {
			if (c->closed_calls == 0 && fc_backend_input(b, buf, (size_t)n) != 0)
				c->bad_pump = true;
			moved = true;
		}
		if (c->closed_calls == 0 && fc_backend_has_pending(b))
			pump_once(b, c, room);
		if (c->len > 0) {
			BIO_write(t->rbio, c->out, (int)c->len);
			c->len = 0;
			moved = true;
		}
		for (;;) {
			n = SSL_read(t->ssl, buf, sizeof(buf));
			if (n <= 0) {
				if (SSL_get_error(t->ssl, n) == SSL_ERROR_ZERO_RETURN)
					t->got_close_notify = true;
				ERR_clear_error();
				break;
			}
			if (t->len + (size_t)n > t->cap) {
				t->cap = (t->len + (size_t)n) * 2;
				t->plain = realloc(t->plain, t->cap);
				if (!t->plain)
					abort();
			}
			memcpy(t->plain + t->len, buf, (size_t)n);
			t->len += (size_t)n;
			moved = true;
		}
		if (!moved && !(c->closed_calls == 0 && fc_backend_has_pending(b)))
			break;
	}
}

KT_TEST(tls_round_trip)
{
	struct tls_fixture f;
	KT_REQUIRE(tls_fixture_init(&f) == 0);
	struct cap c;
	struct fc_backend *b = new_backend(&c, f.server);
	KT_REQUIRE(b);
	struct tls_client t;
	KT_REQUIRE(tls_client_init(&t, f.client) == 0);

	tls_shuttle(&t, b, &c, 300);
	KT_CHECK(SSL_is_init_finished(t.ssl));
	KT_CHECK_INT_EQ(SSL_get_verify_result(t.ssl), X509_V_OK);
	const char req[] = "GET / HTTP/1.1\r\nHost: web-0\r\n\r\n";
	KT_REQUIRE(SSL_write(t.ssl, req, (int)strlen(req)) == (int)strlen(req));
	tls_shuttle(&t, b, &c, 300);
	KT_CHECK(!c.bad_pump);
	KT_CHECK_INT_EQ(t.len, strlen(root_response));
	KT_CHECK(t.len == strlen(root_response) && memcmp(t.plain, root_response, t.len) == 0);

	/* A streamed body and an upload on the same TLS connection, with small rooms. */
	t.len = 0;
	const char req2[] = "GET /bytes/100000 HTTP/1.1\r\n\r\n";
	KT_REQUIRE(SSL_write(t.ssl, req2, (int)strlen(req2)) == (int)strlen(req2));
	tls_shuttle(&t, b, &c, 700);
	KT_CHECK(!c.bad_pump);
	struct resp r;
	KT_REQUIRE(parse_resp(t.plain, t.len, false, &r) == t.len);
	KT_CHECK_INT_EQ(r.body_len, 100000);
	size_t bad = 0;
	for (size_t i = 0; i < r.body_len; i++)
		bad += r.body[i] != (uint8_t)(i % 251);
	KT_CHECK_INT_EQ(bad, 0);

	t.len = 0;
	static uint8_t upload[50000];
	for (size_t i = 0; i < sizeof(upload); i++)
		upload[i] = (uint8_t)(i * 7 + 3);
	char want[66];
	sha256_hex(upload, sizeof(upload), want);
	char head[128];
	int hl = snprintf(head, sizeof(head),
			  "POST /sha256 HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", sizeof(upload));
	KT_REQUIRE(SSL_write(t.ssl, head, hl) == hl);
	KT_REQUIRE(SSL_write(t.ssl, upload, (int)sizeof(upload)) == (int)sizeof(upload));
	tls_shuttle(&t, b, &c, 1000);
	KT_REQUIRE(parse_resp(t.plain, t.len, false, &r) == t.len);
	KT_CHECK(body_is(&r, want));
	KT_CHECK_INT_EQ(c.closed_calls, 0);

	/* The client's close_notify: the backend answers with its own and closes cleanly. */
	SSL_shutdown(t.ssl);
	tls_shuttle(&t, b, &c, 1000);
	KT_CHECK_INT_EQ(c.closed_calls, 1);
	KT_CHECK(!c.reset);
	KT_CHECK(t.got_close_notify);

	tls_client_fini(&t);
	fc_backend_free(b);
	cap_fini(&c);
	tls_fixture_fini(&f);
}

KT_TEST(tls_connection_close_sends_close_notify)
{
	struct tls_fixture f;
	KT_REQUIRE(tls_fixture_init(&f) == 0);
	struct cap c;
	struct fc_backend *b = new_backend(&c, f.server);
	KT_REQUIRE(b);
	struct tls_client t;
	KT_REQUIRE(tls_client_init(&t, f.client) == 0);
	const char req[] = "GET / HTTP/1.1\r\nHost: web-0\r\nConnection: close\r\n\r\n";
	/* The first SSL_write only starts the handshake (WANT_READ); it is retried once the
	 * handshake is done, with the same arguments as OpenSSL requires. */
	KT_CHECK(SSL_write(t.ssl, req, (int)strlen(req)) <= 0);
	ERR_clear_error();
	tls_shuttle(&t, b, &c, 64);
	KT_REQUIRE(SSL_write(t.ssl, req, (int)strlen(req)) == (int)strlen(req));
	tls_shuttle(&t, b, &c, 64);
	struct resp r;
	KT_REQUIRE(parse_resp(t.plain, t.len, false, &r) == t.len);
	KT_CHECK(body_is(&r, "pod=web-0 namespace=default port=8080\n"));
	KT_CHECK_INT_EQ(c.closed_calls, 1);
	KT_CHECK(!c.reset);
	KT_CHECK(t.got_close_notify);
	tls_client_fini(&t);
	fc_backend_free(b);
	cap_fini(&c);
	tls_fixture_fini(&f);
}

KT_TEST(tls_garbage_resets)
{
	struct tls_fixture f;
	KT_REQUIRE(tls_fixture_init(&f) == 0);
	struct cap c;
	struct fc_backend *b = new_backend(&c, f.server);
	KT_REQUIRE(b);
	KT_CHECK_INT_EQ(send_str(b, "GET / HTTP/1.1\r\nHost: web-0\r\n\r\n"), -EPROTO);
	KT_CHECK_INT_EQ(c.closed_calls, 1);
	KT_CHECK(c.reset);
	KT_CHECK(!fc_backend_has_pending(b));
	KT_CHECK_INT_EQ(ERR_peek_error(), 0);
	fc_backend_free(b);
	cap_fini(&c);
	tls_fixture_fini(&f);
}

KT_TEST_MAIN()
