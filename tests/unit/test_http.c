/* test_http.c: the fake API server's HTTP/1.1 request parser (fc_http_parse) and the header
 * and query helpers: complete and partial requests, bodies, pipelining, percent-decoding, and
 * every rejection with the status it maps to. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "kt_test.h"

static int parse_str(const char *s, struct fc_http_parsed *out)
{
	return fc_http_parse((const uint8_t *)s, strlen(s), out);
}

KT_TEST(simple_get_with_query_and_headers)
{
	const char *s = "GET /api/v1/namespaces/shop/pods?labelSelector=app%3Dweb%2Ctier+in+(a%2Cb)"
			"&watch=true&flag HTTP/1.1\r\n"
			"Host: 127.0.0.1:6443\r\n"
			"Authorization:   Bearer abc  \r\n"
			"Connection: keep-alive, Upgrade\r\n"
			"connection: x\r\n"
			"\r\n";
	struct fc_http_parsed m;
	int r = parse_str(s, &m);
	KT_CHECK_INT_EQ(r, (int)strlen(s));
	KT_CHECK_STR_EQ(m.req.method, "GET");
	KT_CHECK_STR_EQ(m.req.path, "/api/v1/namespaces/shop/pods");
	KT_CHECK_STR_EQ(m.req.target,
			"/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb%2Ctier+in+"
			"(a%2Cb)&watch=true&flag");
	KT_CHECK_INT_EQ(m.req.minor_version, 1);
	KT_CHECK_INT_EQ(m.req.nquery, 3);
	KT_CHECK_STR_EQ(fc_http_query(&m.req, "labelSelector"), "app=web,tier in (a,b)");
	KT_CHECK_STR_EQ(fc_http_query(&m.req, "watch"), "true");
	KT_CHECK_STR_EQ(fc_http_query(&m.req, "flag"), "");
	KT_CHECK(fc_http_query(&m.req, "nope") == NULL);
	KT_CHECK_INT_EQ(m.req.nheaders, 4);
	KT_CHECK_STR_EQ(fc_http_header(&m.req, "authorization"), "Bearer abc");
	KT_CHECK_STR_EQ(fc_http_header(&m.req, "HOST"), "127.0.0.1:6443");
	KT_CHECK_STR_EQ(fc_http_header(&m.req, "Connection"), "keep-alive, Upgrade");
	KT_CHECK(fc_http_header_has_token(&m.req, "connection", "upgrade"));
	KT_CHECK(fc_http_header_has_token(&m.req, "Connection", "KEEP-ALIVE"));
	KT_CHECK(fc_http_header_has_token(&m.req, "Connection", "x")); /* second occurrence */
	KT_CHECK(!fc_http_header_has_token(&m.req, "Connection", "keep"));
	KT_CHECK(!fc_http_header_has_token(&m.req, "Upgrade", "websocket"));
	KT_CHECK_STR_EQ(m.req.body, "");
	KT_CHECK_INT_EQ(m.req.body_len, 0);
	fc_http_parsed_fini(&m);
}

KT_TEST(partial_head_and_partial_body_need_more)
{
	const char *s = "POST /api/v1/namespaces/default/services HTTP/1.1\r\n"
			"Content-Length: 11\r\n"
			"Expect: 100-continue\r\n"
			"\r\n"
			"{\"a\":\"b c\"}GET / HTTP/1.1\r\n\r\n";
	size_t head = strlen(s) - strlen("{\"a\":\"b c\"}GET / HTTP/1.1\r\n\r\n");
	struct fc_http_parsed m;
	/* Every prefix shorter than the head is incomplete without knowing the length yet. */
	for (size_t n = 0; n < head; n++) {
		KT_CHECK_INT_EQ(fc_http_parse((const uint8_t *)s, n, &m), 0);
		KT_CHECK_INT_EQ(m.total_len, 0);
		fc_http_parsed_fini(&m);
	}
	/* Head there, body not: the total length is known. */
	KT_CHECK_INT_EQ(fc_http_parse((const uint8_t *)s, head + 5, &m), 0);
	KT_CHECK_INT_EQ(m.head_len, head);
	KT_CHECK_INT_EQ(m.total_len, head + 11);
	KT_CHECK(m.expect_continue);
	fc_http_parsed_fini(&m);
	/* The whole buffer holds a second, pipelined request: only the first is taken. */
	int r = parse_str(s, &m);
	KT_CHECK_INT_EQ(r, (int)(head + 11));
	KT_CHECK_STR_EQ(m.req.method, "POST");
	KT_CHECK_INT_EQ(m.req.body_len, 11);
	KT_CHECK_STR_EQ(m.req.body, "{\"a\":\"b c\"}");
	fc_http_parsed_fini(&m);
	r = parse_str(s + head + 11, &m);
	KT_CHECK_INT_EQ(r, (int)strlen("GET / HTTP/1.1\r\n\r\n"));
	KT_CHECK_STR_EQ(m.req.path, "/");
	fc_http_parsed_fini(&m);
}

KT_TEST(lf_only_lines_leading_crlf_http10_and_absolute_form)
{
	const char *s = "\r\nGET https://127.0.0.1:6443/version?x=1 HTTP/1.0\nHost: a\n\n";
	struct fc_http_parsed m;
	KT_CHECK_INT_EQ(parse_str(s, &m), (int)strlen(s));
	KT_CHECK_STR_EQ(m.req.path, "/version");
	KT_CHECK_STR_EQ(fc_http_query(&m.req, "x"), "1");
	KT_CHECK_INT_EQ(m.req.minor_version, 0);
	KT_CHECK_STR_EQ(fc_http_header(&m.req, "Host"), "a");
	fc_http_parsed_fini(&m);

	s = "GET /a%20b/%2Fc?%3D=%26&=v&&k=a+b%2B HTTP/1.1\r\n\r\n";
	KT_CHECK_INT_EQ(parse_str(s, &m), (int)strlen(s));
	KT_CHECK_STR_EQ(m.req.path, "/a b//c");
	KT_CHECK_INT_EQ(m.req.nquery, 3);
	KT_CHECK_STR_EQ(m.req.query[0].name, "=");
	KT_CHECK_STR_EQ(m.req.query[0].value, "&");
	KT_CHECK_STR_EQ(m.req.query[1].name, "");
	KT_CHECK_STR_EQ(m.req.query[1].value, "v");
	KT_CHECK_STR_EQ(m.req.query[2].value, "a b+");
	fc_http_parsed_fini(&m);
}

struct bad_case {
	const char *req;
	int status;
};

KT_TEST(malformed_requests_map_to_statuses)
{
	static const struct bad_case cases[] = {
	    {"GET / HTTP/2.0\r\n\r\n", 505},
	    {"GET / http/1.1\r\n\r\n", 400},
	    {"GET / HTTP/1.1 x\r\n\r\n", 400},
	    {"GET  / HTTP/1.1\r\n\r\n", 400},
	    {"GET\r\n\r\n", 400},
	    {"G(T / HTTP/1.1\r\n\r\n", 400},
	    {"GET x HTTP/1.1\r\n\r\n", 400},
	    {"GET /%zz HTTP/1.1\r\n\r\n", 400},
	    {"GET /%4 HTTP/1.1\r\n\r\n", 400},
	    {"GET /a%00b HTTP/1.1\r\n\r\n", 400},
	    {"GET /?a=%0 HTTP/1.1\r\n\r\n", 400},
	    {"GET / HTTP/1.1\r\nX: a\r\n  folded\r\n\r\n", 400},
	    {"GET / HTTP/1.1\r\nNo colon\r\n\r\n", 400},
	    {"GET / HTTP/1.1\r\n: empty name\r\n\r\n", 400},
	    {"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400},
	    {"GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n", 400},
	    {"POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400},
	    {"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
	    {"POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400},
	    {"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
	    {"POST / HTTP/1.1\r\nContent-Length: 8388609\r\n\r\n", 413},
	    {"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413},
	    {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411},
	    {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
	    {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400},
	    {"\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n", 400},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fc_http_parsed m;
		int r = parse_str(cases[i].req, &m);
		if (r >= 0 || m.error_status != cases[i].status || !m.error)
			fprintf(stderr, "case %zu: r=%d status=%d\n", i, r, m.error_status);
		KT_CHECK(r < 0);
		KT_CHECK_INT_EQ(m.error_status, cases[i].status);
		fc_http_parsed_fini(&m);
	}
	/* A NUL byte inside the head (strlen would hide it). */
	static const char nul[] = "GET /\0x HTTP/1.1\r\n\r\n";
	struct fc_http_parsed m;
	KT_CHECK_INT_EQ(fc_http_parse((const uint8_t *)nul, sizeof(nul) - 1, &m), -EINVAL);
	KT_CHECK_INT_EQ(m.error_status, 400);
	fc_http_parsed_fini(&m);
}

KT_TEST(limits_on_head_size_headers_and_query)
{
	struct fc_http_parsed m;
	/* A head that never ends, as large as the limit: 431 rather than waiting forever. */
	size_t big = FC_HTTP_MAX_HEAD + 10;
	char *s = malloc(big);
	KT_REQUIRE(s);
	memcpy(s, "GET / HTTP/1.1\r\nX: ", 19);
	memset(s + 19, 'a', big - 19);
	KT_CHECK_INT_EQ(fc_http_parse((const uint8_t *)s, big, &m), -EMSGSIZE);
	KT_CHECK_INT_EQ(m.error_status, 431);
	fc_http_parsed_fini(&m);
	/* Just below the limit, still incomplete: need more. */
	KT_CHECK_INT_EQ(fc_http_parse((const uint8_t *)s, FC_HTTP_MAX_HEAD - 1, &m), 0);
	fc_http_parsed_fini(&m);
	free(s);

	char buf[8192];
	size_t off = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\n");
	for (int i = 0; i < FC_HTTP_MAX_HEADERS; i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "H%d: v\r\n", i);
	snprintf(buf + off, sizeof(buf) - off, "\r\n");
	KT_CHECK(parse_str(buf, &m) > 0);
	KT_CHECK_INT_EQ(m.req.nheaders, FC_HTTP_MAX_HEADERS);
	fc_http_parsed_fini(&m);
	snprintf(buf + off, sizeof(buf) - off, "One: more\r\n\r\n");
	KT_CHECK_INT_EQ(parse_str(buf, &m), -EMSGSIZE);
	KT_CHECK_INT_EQ(m.error_status, 431);
	fc_http_parsed_fini(&m);

	off = (size_t)snprintf(buf, sizeof(buf), "GET /?");
	for (int i = 0; i < FC_HTTP_MAX_QUERY; i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "ports=%d&", i);
	snprintf(buf + off, sizeof(buf) - off, " HTTP/1.1\r\n\r\n");
	KT_CHECK(parse_str(buf, &m) > 0);
	KT_CHECK_INT_EQ(m.req.nquery, FC_HTTP_MAX_QUERY);
	KT_CHECK_STR_EQ(m.req.query[31].value, "31");
	fc_http_parsed_fini(&m);
	snprintf(buf + off, sizeof(buf) - off, "one=more HTTP/1.1\r\n\r\n");
	KT_CHECK_INT_EQ(parse_str(buf, &m), -EINVAL);
	KT_CHECK_INT_EQ(m.error_status, 400);
	fc_http_parsed_fini(&m);
}

KT_TEST(body_at_the_size_limit)
{
	size_t body = FC_HTTP_MAX_BODY;
	char head[128];
	int hl =
	    snprintf(head, sizeof(head), "PUT /x HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", body);
	uint8_t *s = malloc((size_t)hl + body);
	KT_REQUIRE(s);
	memcpy(s, head, (size_t)hl);
	memset(s + hl, 'z', body);
	struct fc_http_parsed m;
	KT_CHECK_INT_EQ(fc_http_parse(s, (size_t)hl + body, &m), hl + (int)body);
	KT_CHECK_INT_EQ(m.req.body_len, body);
	KT_CHECK(m.req.body[0] == 'z' && m.req.body[body - 1] == 'z' && m.req.body[body] == '\0');
	fc_http_parsed_fini(&m);
	free(s);
}

KT_TEST(reason_phrases)
{
	KT_CHECK_STR_EQ(fc_http_reason(200), "OK");
	KT_CHECK_STR_EQ(fc_http_reason(101), "Switching Protocols");
	KT_CHECK_STR_EQ(fc_http_reason(401), "Unauthorized");
	KT_CHECK_STR_EQ(fc_http_reason(410), "Gone");
	KT_CHECK_STR_EQ(fc_http_reason(799), "Unknown");
	fc_http_parsed_fini(NULL);
}

KT_TEST_MAIN()
