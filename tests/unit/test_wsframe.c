/* test_wsframe.c: RFC 6455 framing against the RFC's own examples (section 5.7, section 1.3)
 * and the protocol rules a peer must enforce. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "kt_test.h"
#include "wsframe.h"

static const struct kt_ws_parse_opts as_server = {.role = KT_WS_ROLE_SERVER};
static const struct kt_ws_parse_opts as_client = {.role = KT_WS_ROLE_CLIENT};

/* Parses a complete frame and checks that every prefix shorter than the header asks for more
 * bytes, while every longer one (header complete, payload partial) already parses. */
static int parse_all_prefixes(const uint8_t *p, size_t len, const struct kt_ws_parse_opts *o,
			      struct kt_ws_hdr *h)
{
	int rc = kt_ws_parse_header(p, len, o, h);
	if (rc != 1)
		return rc;
	for (size_t i = 0; i < len; i++) {
		struct kt_ws_hdr t;
		int r = kt_ws_parse_header(p, i, o, &t);
		if (r != (i < h->hdr_len ? 0 : 1))
			return -1000;
	}
	return 1;
}

KT_TEST(rfc6455_single_unmasked_text)
{
	const uint8_t f[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
	struct kt_ws_hdr h;
	KT_REQUIRE(parse_all_prefixes(f, sizeof(f), &as_client, &h) == 1);
	KT_CHECK(h.fin);
	KT_CHECK_INT_EQ(h.opcode, KT_WS_OP_TEXT);
	KT_CHECK(!h.masked);
	KT_CHECK_INT_EQ(h.payload_len, 5);
	KT_CHECK_INT_EQ(h.hdr_len, 2);
	KT_CHECK_MEM_EQ(f + h.hdr_len, "Hello", 5);
	/* A server must refuse it: client frames are masked. */
	KT_CHECK_INT_EQ(kt_ws_parse_header(f, sizeof(f), &as_server, &h), -EPROTO);

	uint8_t out[KT_WS_MAX_HDR];
	KT_CHECK_INT_EQ(kt_ws_build_header(out, true, 0, KT_WS_OP_TEXT, 5, NULL), 2);
	KT_CHECK_MEM_EQ(out, f, 2);
}

KT_TEST(rfc6455_single_masked_text)
{
	const uint8_t f[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
	struct kt_ws_hdr h;
	KT_REQUIRE(parse_all_prefixes(f, sizeof(f), &as_server, &h) == 1);
	KT_CHECK(h.masked);
	KT_CHECK_INT_EQ(h.hdr_len, 6);
	KT_CHECK_INT_EQ(h.payload_len, 5);
	const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
	KT_CHECK_MEM_EQ(h.mask, key, 4);
	uint8_t pl[5];
	memcpy(pl, f + 6, 5);
	kt_ws_unmask(pl, 5, h.mask, 0);
	KT_CHECK_MEM_EQ(pl, "Hello", 5);
	KT_CHECK_INT_EQ(kt_ws_parse_header(f, sizeof(f), &as_client, &h), -EPROTO);

	uint8_t out[KT_WS_MAX_HDR + 5];
	int n = kt_ws_build_header(out, true, 0, KT_WS_OP_TEXT, 5, key);
	KT_REQUIRE(n == 6);
	kt_ws_mask_copy(out + n, "Hello", 5, key, 0);
	KT_CHECK_MEM_EQ(out, f, sizeof(f));
}

KT_TEST(rfc6455_fragmented_text_and_control_in_between)
{
	const uint8_t f1[] = {0x01, 0x03, 0x48, 0x65, 0x6c};
	const uint8_t ping[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
	const uint8_t f2[] = {0x80, 0x02, 0x6c, 0x6f};
	struct kt_ws_frag st = {0};
	struct kt_ws_hdr h;
	uint8_t op = 0;

	KT_REQUIRE(kt_ws_parse_header(f1, sizeof(f1), &as_client, &h) == 1);
	KT_CHECK(!h.fin);
	KT_CHECK_INT_EQ(h.opcode, KT_WS_OP_TEXT);
	KT_CHECK_INT_EQ(kt_ws_frag_check(&st, &h, &op), 0);
	KT_CHECK_INT_EQ(op, KT_WS_OP_TEXT);
	KT_CHECK(st.in_message);

	KT_REQUIRE(kt_ws_parse_header(ping, sizeof(ping), &as_client, &h) == 1);
	KT_CHECK_INT_EQ(h.opcode, KT_WS_OP_PING);
	KT_CHECK_INT_EQ(kt_ws_frag_check(&st, &h, &op), 0);
	KT_CHECK_INT_EQ(op, KT_WS_OP_PING);
	KT_CHECK(st.in_message);

	KT_REQUIRE(kt_ws_parse_header(f2, sizeof(f2), &as_client, &h) == 1);
	KT_CHECK(h.fin);
	KT_CHECK_INT_EQ(h.opcode, KT_WS_OP_CONT);
	KT_CHECK_INT_EQ(kt_ws_frag_check(&st, &h, &op), 0);
	KT_CHECK_INT_EQ(op, KT_WS_OP_TEXT);
	KT_CHECK(!st.in_message);

	/* A continuation with nothing open, and a new message inside an open one. */
	KT_CHECK_INT_EQ(kt_ws_frag_check(&st, &h, &op), -EPROTO);
	struct kt_ws_frag st2 = {0};
	KT_REQUIRE(kt_ws_parse_header(f1, sizeof(f1), &as_client, &h) == 1);
	KT_CHECK_INT_EQ(kt_ws_frag_check(&st2, &h, NULL), 0);
	KT_CHECK_INT_EQ(kt_ws_frag_check(&st2, &h, NULL), -EPROTO);
}

KT_TEST(rfc6455_ping_pong)
{
	const uint8_t pong[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
	struct kt_ws_hdr h;
	KT_REQUIRE(parse_all_prefixes(pong, sizeof(pong), &as_server, &h) == 1);
	KT_CHECK_INT_EQ(h.opcode, KT_WS_OP_PONG);
	uint8_t pl[5];
	kt_ws_mask_copy(pl, pong + 6, 5, h.mask, 0);
	KT_CHECK_MEM_EQ(pl, "Hello", 5);
}

KT_TEST(rfc6455_extended_lengths)
{
	/* 256 bytes: 16-bit length. */
	const uint8_t h256[] = {0x82, 0x7e, 0x01, 0x00};
	/* 64 KiB: 64-bit length. */
	const uint8_t h64k[] = {0x82, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00};
	struct kt_ws_hdr h;
	KT_REQUIRE(parse_all_prefixes(h256, sizeof(h256), &as_client, &h) == 1);
	KT_CHECK_INT_EQ(h.payload_len, 256);
	KT_CHECK_INT_EQ(h.hdr_len, 4);
	KT_CHECK_INT_EQ(h.opcode, KT_WS_OP_BINARY);
	KT_REQUIRE(parse_all_prefixes(h64k, sizeof(h64k), &as_client, &h) == 1);
	KT_CHECK_INT_EQ(h.payload_len, 65536);
	KT_CHECK_INT_EQ(h.hdr_len, 10);

	uint8_t out[KT_WS_MAX_HDR];
	KT_CHECK_INT_EQ(kt_ws_build_header(out, true, 0, KT_WS_OP_BINARY, 256, NULL), 4);
	KT_CHECK_MEM_EQ(out, h256, 4);
	KT_CHECK_INT_EQ(kt_ws_build_header(out, true, 0, KT_WS_OP_BINARY, 65536, NULL), 10);
	KT_CHECK_MEM_EQ(out, h64k, 10);
	/* Boundaries of the encodings. */
	KT_CHECK_INT_EQ(kt_ws_build_header(out, true, 0, KT_WS_OP_BINARY, 125, NULL), 2);
	KT_CHECK_INT_EQ(kt_ws_build_header(out, true, 0, KT_WS_OP_BINARY, 126, NULL), 4);
	KT_CHECK_INT_EQ(kt_ws_build_header(out, true, 0, KT_WS_OP_BINARY, 65535, NULL), 4);
	const uint8_t key[4] = {1, 2, 3, 4};
	KT_CHECK_INT_EQ(kt_ws_build_header(out, false, 0, KT_WS_OP_BINARY, 1ull << 40, key), 14);
	const uint8_t big[] = {0x02, 0xff, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4};
	KT_CHECK_MEM_EQ(out, big, 14);
	KT_REQUIRE(parse_all_prefixes(out, 14, &as_server, &h) == 1);
	KT_CHECK_INT_EQ(h.payload_len, 1ull << 40);
	KT_CHECK(!h.fin);
}

KT_TEST(non_minimal_lengths_accepted)
{
	const uint8_t a[] = {0x82, 0x7e, 0x00, 0x05};
	const uint8_t b[] = {0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0x05};
	/* A control frame whose small payload uses the 16-bit form is still <= 125. */
	const uint8_t c[] = {0x89, 0xfe, 0x00, 0x64, 1, 2, 3, 4};
	struct kt_ws_hdr h;
	KT_CHECK_INT_EQ(kt_ws_parse_header(a, sizeof(a), &as_client, &h), 1);
	KT_CHECK_INT_EQ(h.payload_len, 5);
	KT_CHECK_INT_EQ(kt_ws_parse_header(b, sizeof(b), &as_client, &h), 1);
	KT_CHECK_INT_EQ(h.payload_len, 5);
	KT_CHECK_INT_EQ(kt_ws_parse_header(c, sizeof(c), &as_server, &h), 1);
	KT_CHECK_INT_EQ(h.payload_len, 100);
}

KT_TEST(protocol_errors)
{
	struct kt_ws_hdr h;
	struct {
		uint8_t b[14];
		size_t n;
		const struct kt_ws_parse_opts *o;
	} bad[] = {
	    {{0xc2, 0x00}, 2, &as_client},			    /* RSV1 without an extension */
	    {{0xa2, 0x00}, 2, &as_client},			    /* RSV2 */
	    {{0x92, 0x00}, 2, &as_client},			    /* RSV3 */
	    {{0x83, 0x00}, 2, &as_client},			    /* opcode 3 reserved */
	    {{0x87, 0x00}, 2, &as_client},			    /* opcode 7 reserved */
	    {{0x8b, 0x00}, 2, &as_client},			    /* opcode 0xb reserved */
	    {{0x8f, 0x00}, 2, &as_client},			    /* opcode 0xf reserved */
	    {{0x09, 0x00}, 2, &as_client},			    /* fragmented ping */
	    {{0x08, 0x00}, 2, &as_client},			    /* fragmented close */
	    {{0x89, 0x7e, 0x00, 0x7e}, 4, &as_client},		    /* ping of 126 bytes */
	    {{0x88, 0x7f, 0, 0, 0, 0, 0, 0, 1, 0}, 10, &as_client}, /* close of 256 bytes */
	    {{0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0}, 10, &as_client}, /* 64-bit MSB set */
	    {{0x82, 0x05}, 2, &as_server},			       /* unmasked to a server */
	    {{0x82, 0x85, 1, 2, 3, 4}, 6, &as_client},		       /* masked to a client */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = kt_ws_parse_header(bad[i].b, bad[i].n, bad[i].o, &h);
		if (rc != -EPROTO)
			KT_FAIL_("case %zu: rc %d", i, rc);
	}
	/* The 64-bit MSB is refused as soon as its byte arrives. */
	const uint8_t msb[] = {0x82, 0x7f, 0x80};
	KT_CHECK_INT_EQ(kt_ws_parse_header(msb, 3, &as_client, &h), -EPROTO);

	struct kt_ws_parse_opts rsv1 = {.role = KT_WS_ROLE_CLIENT, .allowed_rsv = KT_WS_RSV1};
	const uint8_t c1[] = {0xc2, 0x00};
	KT_CHECK_INT_EQ(kt_ws_parse_header(c1, 2, &rsv1, &h), 1);
	KT_CHECK_INT_EQ(h.rsv, KT_WS_RSV1);
	const uint8_t c2[] = {0xe2, 0x00};
	KT_CHECK_INT_EQ(kt_ws_parse_header(c2, 2, &rsv1, &h), -EPROTO);

	struct kt_ws_parse_opts lim = {.role = KT_WS_ROLE_CLIENT, .max_payload = 1000};
	const uint8_t ok[] = {0x82, 0x7e, 0x03, 0xe8};
	const uint8_t big[] = {0x82, 0x7e, 0x03, 0xe9};
	KT_CHECK_INT_EQ(kt_ws_parse_header(ok, 4, &lim, &h), 1);
	KT_CHECK_INT_EQ(kt_ws_parse_header(big, 4, &lim, &h), -EMSGSIZE);
}

KT_TEST(build_header_refuses_invalid)
{
	uint8_t out[KT_WS_MAX_HDR];
	KT_CHECK_INT_EQ(kt_ws_build_header(out, true, 0, 3, 0, NULL), -EINVAL);
	KT_CHECK_INT_EQ(kt_ws_build_header(out, true, 0, 0x10, 0, NULL), -EINVAL);
	KT_CHECK_INT_EQ(kt_ws_build_header(out, false, 0, KT_WS_OP_PING, 0, NULL), -EINVAL);
	KT_CHECK_INT_EQ(kt_ws_build_header(out, true, 0, KT_WS_OP_CLOSE, 126, NULL), -EINVAL);
	KT_CHECK_INT_EQ(kt_ws_build_header(out, true, 0, KT_WS_OP_BINARY, 1ull << 63, NULL),
			-EINVAL);
	KT_CHECK_INT_EQ(kt_ws_build_header(out, true, 0x80, KT_WS_OP_BINARY, 1, NULL), -EINVAL);
	KT_CHECK_INT_EQ(kt_ws_build_header(out, true, KT_WS_RSV1, KT_WS_OP_BINARY, 1, NULL), 2);
	KT_CHECK_INT_EQ(out[0], 0xc2);
	KT_CHECK_INT_EQ(kt_ws_build_header(out, true, 0, KT_WS_OP_PONG, 125, NULL), 2);

	struct kt_buf b;
	kt_buf_init(&b, 5);
	KT_CHECK_INT_EQ(kt_ws_append_header(&b, true, 0, KT_WS_OP_BINARY, 300, NULL), 0);
	KT_CHECK_INT_EQ(kt_buf_len(&b), 4);
	const uint8_t want[] = {0x82, 0x7e, 0x01, 0x2c};
	KT_CHECK_MEM_EQ(kt_buf_peek(&b), want, 4);
	KT_CHECK_INT_EQ(kt_ws_append_header(&b, true, 0, KT_WS_OP_BINARY, 1, NULL), -ENOBUFS);
	KT_CHECK_INT_EQ(kt_ws_append_header(&b, true, 0, 5, 1, NULL), -EINVAL);
	KT_CHECK_INT_EQ(kt_buf_len(&b), 4);
	kt_buf_fini(&b);
}

/* Masking a payload in arbitrary chunks at arbitrary offsets must equal the byte-by-byte
 * definition of RFC 6455 section 5.3: out[i] = in[i] ^ key[i % 4]. */
KT_TEST(unmask_in_chunks)
{
	enum { N = 1031 };
	uint8_t in[N], ref[N], buf[N];
	const uint8_t key[4] = {0xde, 0xad, 0xbe, 0xef};
	srand(6455);
	for (size_t i = 0; i < N; i++) {
		in[i] = (uint8_t)rand();
		ref[i] = in[i] ^ key[i % 4];
	}
	for (size_t chunk = 1; chunk <= 41; chunk++) {
		memcpy(buf, in, N);
		for (size_t off = 0; off < N; off += chunk) {
			size_t n = N - off < chunk ? N - off : chunk;
			kt_ws_unmask(buf + off, n, key, off);
		}
		if (memcmp(buf, ref, N) != 0)
			KT_FAIL_("chunk size %zu", chunk);
	}
	/* Random chunking, out of place, and a large stream offset (a 1 GiB message). */
	memset(buf, 0, N);
	for (size_t off = 0; off < N;) {
		size_t n = (size_t)rand() % 100;
		if (n > N - off)
			n = N - off;
		kt_ws_mask_copy(buf + off, in + off, n, key, (1ull << 30) + off);
		off += n;
	}
	KT_CHECK_MEM_EQ(buf, ref, N);
	/* Unaligned start address. */
	memcpy(buf, in, N);
	kt_ws_unmask(buf + 3, N - 3, key, 3);
	KT_CHECK_MEM_EQ(buf + 3, ref + 3, N - 3);
	/* Masking twice is the identity. */
	kt_ws_unmask(buf, N, key, 0);
	kt_ws_unmask(buf, N, key, 0);
	KT_CHECK_MEM_EQ(buf + 3, ref + 3, N - 3);
	kt_ws_unmask(buf, 0, key, 0);
}

KT_TEST(close_payloads)
{
	uint8_t out[KT_WS_MAX_CONTROL];
	int n = kt_ws_close_build(out, KT_WS_CLOSE_NORMAL, "bye", 3);
	KT_REQUIRE(n == 5);
	const uint8_t want[] = {0x03, 0xe8, 'b', 'y', 'e'};
	KT_CHECK_MEM_EQ(out, want, 5);
	uint16_t code = 0;
	const char *reason = NULL;
	size_t rl = 99;
	KT_CHECK_INT_EQ(kt_ws_close_parse(out, 5, &code, &reason, &rl), 0);
	KT_CHECK_INT_EQ(code, 1000);
	KT_CHECK_INT_EQ(rl, 3);
	KT_CHECK_MEM_EQ(reason, "bye", 3);

	KT_CHECK_INT_EQ(kt_ws_close_parse(out, 0, &code, &reason, &rl), 0);
	KT_CHECK_INT_EQ(code, KT_WS_CLOSE_NO_STATUS);
	KT_CHECK_INT_EQ(rl, 0);
	KT_CHECK_INT_EQ(kt_ws_close_parse(out, 1, &code, &reason, &rl), -EPROTO);

	static const uint16_t ok[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009,
				      1010, 1011, 1014, 3000, 3999, 4000, 4999};
	static const uint16_t bad[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint8_t p[2] = {(uint8_t)(ok[i] >> 8), (uint8_t)ok[i]};
		if (kt_ws_close_parse(p, 2, &code, &reason, &rl) != 0 || code != ok[i])
			KT_FAIL_("code %u refused", ok[i]);
		if (kt_ws_close_build(out, ok[i], NULL, 0) != 2)
			KT_FAIL_("code %u not buildable", ok[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t p[2] = {(uint8_t)(bad[i] >> 8), (uint8_t)bad[i]};
		if (kt_ws_close_parse(p, 2, &code, &reason, &rl) != -EPROTO)
			KT_FAIL_("code %u accepted", bad[i]);
		if (kt_ws_close_build(out, bad[i], NULL, 0) != -EINVAL)
			KT_FAIL_("code %u built", bad[i]);
	}

	const uint8_t badutf[] = {0x03, 0xe8, 0xc3, 0x28};
	KT_CHECK_INT_EQ(kt_ws_close_parse(badutf, 4, &code, &reason, &rl), -EPROTO);
	KT_CHECK_INT_EQ(kt_ws_close_build(out, 1000, "\xc3\x28", 2), -EINVAL);
	char longr[124];
	memset(longr, 'x', sizeof(longr));
	KT_CHECK_INT_EQ(kt_ws_close_build(out, 1000, longr, 123), 125);
	KT_CHECK_INT_EQ(kt_ws_close_build(out, 1000, longr, 124), -EINVAL);
	uint8_t toolong[126] = {0x03, 0xe8};
	memset(toolong + 2, 'x', 124);
	KT_CHECK_INT_EQ(kt_ws_close_parse(toolong, 126, &code, &reason, &rl), -EPROTO);
}

KT_TEST(utf8_validation)
{
	static const char *const good[] = {
	    "",
	    "plain ascii that is longer than eight bytes",
	    "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", /* kosme, RFC 3629 example */
	    "\xf0\x9f\x98\x80",				    /* U+1F600 */
	    "\xf4\x8f\xbf\xbf",				    /* U+10FFFF */
	    "\xed\x9f\xbf",				    /* U+D7FF */
	    "\xee\x80\x80",				    /* U+E000 */
	};
	static const char *const bad[] = {
	    "\xc0\xaf",		/* overlong '/' */
	    "\xc1\xbf",		/* overlong */
	    "\xe0\x80\xaf",	/* overlong */
	    "\xf0\x80\x80\xaf", /* overlong */
	    "\xed\xa0\x80",	/* surrogate U+D800 */
	    "\xf4\x90\x80\x80", /* above U+10FFFF */
	    "\xf5\x80\x80\x80", /* lead byte out of range */
	    "\x80",		/* lone continuation */
	    "\xe2\x82",		/* truncated */
	    "abcdefgh\xe2\x82", /* truncated after an ASCII run */
	    "\xe2\x28\xa1",	/* bad continuation */
	    "\xff",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!kt_ws_utf8_valid(good[i], strlen(good[i])))
			KT_FAIL_("good[%zu] refused", i);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (kt_ws_utf8_valid(bad[i], strlen(bad[i])))
			KT_FAIL_("bad[%zu] accepted", i);
}

KT_TEST(accept_key_rfc6455_example)
{
	char out[KT_WS_ACCEPT_LEN + 1];
	const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
	KT_CHECK_INT_EQ(kt_ws_accept_key(key, strlen(key), out), 0);
	KT_CHECK_STR_EQ(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	KT_CHECK(kt_ws_key_valid(key, strlen(key)));
	KT_CHECK(!kt_ws_key_valid("dGhlIHNhbXBsZSBub25jZQ=", 23));
	KT_CHECK(!kt_ws_key_valid("dGhlIHNhbXBsZSBub25jZT==", 24)); /* non-canonical bits */
	KT_CHECK(!kt_ws_key_valid("AAAAAAAAAAAAAAAAAAAAAAAA", 24)); /* 18 bytes */
	char big[300];
	memset(big, 'a', sizeof(big));
	KT_CHECK_INT_EQ(kt_ws_accept_key(big, sizeof(big), out), -EINVAL);
}

KT_TEST_MAIN()
