/* Unit tests for pf_ws.c's input side: masked frames arriving in pieces, message boundaries
 * across fragments, chunking of large frames, a consumer that stops in the middle of a frame
 * (the rest is offered again and unmasked at the right offset), close and protocol errors.
 * (Ping/pong needs a connection and is checked end to end by pf_wire_checks.py.) */
#include "kt_test.h"

#include "buf.h"
#include "pf_ws.h"

struct rec {
	struct kt_buf data; /* every byte delivered */
	int chunks, firsts, lasts, empties;
	uint8_t last_opcode;
	size_t take_limit; /* accept at most this many bytes per call (0: all) */
	size_t max_chunk;
	int closes, errors;
	uint16_t close_code;
};

static size_t r_data(void *arg, uint8_t opcode, bool first, bool last, const uint8_t *p, size_t n)
{
	struct rec *r = arg;
	size_t take = r->take_limit && n > r->take_limit ? r->take_limit : n;
	r->chunks++;
	r->firsts += first;
	r->lasts += last && take == n;
	r->empties += n == 0;
	r->last_opcode = opcode;
	if (n > r->max_chunk)
		r->max_chunk = n;
	kt_buf_append(&r->data, p, take);
	return take;
}

static void r_close(void *arg, uint16_t code)
{
	struct rec *r = arg;
	r->closes++;
	r->close_code = code;
}

static void r_error(void *arg, const char *why)
{
	struct rec *r = arg;
	(void)why;
	r->errors++;
}

static bool r_active(void *arg)
{
	(void)arg;
	return true;
}

static const struct pf_ws_handler handler = {r_data, r_close, r_error, r_active};

/* Appends a client frame (masked with a fixed key) to b. */
static void frame(struct kt_buf *b, bool fin, uint8_t opcode, const uint8_t *p, size_t n, bool mask)
{
	static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
	uint8_t hdr[KT_WS_MAX_HDR];
	int hl = kt_ws_build_header(hdr, fin, 0, opcode, n, mask ? key : NULL);
	kt_buf_append(b, hdr, (size_t)hl);
	uint8_t *dst = kt_buf_reserve(b, n);
	if (mask)
		kt_ws_mask_copy(dst, p, n, key, 0);
	else
		memcpy(dst, p, n);
	kt_buf_commit(b, n);
}

/* Feeds the wire bytes as a conn would: `step` new bytes at a time, the unconsumed rest offered
 * again together with the next bytes. Returns the bytes left unconsumed at the end. */
static size_t feed(struct pf_ws_rx *rx, struct rec *r, const struct kt_buf *wire, size_t step)
{
	struct kt_buf in;
	size_t off = 0, len = kt_buf_len(wire);
	kt_buf_init(&in, 1 << 24);
	while (off < len || kt_buf_len(&in) > 0) {
		size_t k = len - off < step ? len - off : step;
		kt_buf_append(&in, kt_buf_peek(wire) + off, k);
		off += k;
		size_t used = pf_ws_input(rx, NULL, kt_buf_peek(&in), kt_buf_len(&in), &handler, r);
		kt_buf_consume(&in, used);
		if (used == 0 && k == 0)
			break;
	}
	size_t left = kt_buf_len(&in);
	kt_buf_fini(&in);
	return left;
}

static void rec_init(struct rec *r)
{
	memset(r, 0, sizeof(*r));
	kt_buf_init(&r->data, 1 << 24);
}

KT_TEST(single_frame_any_split)
{
	static const uint8_t msg[] = "\x00GET / HTTP/1.1\r\n\r\n";
	for (size_t step = 1; step <= 40; step += 3) {
		struct kt_buf wire;
		struct pf_ws_rx rx = {0};
		struct rec r;
		rec_init(&r);
		kt_buf_init(&wire, 1 << 20);
		frame(&wire, true, KT_WS_OP_BINARY, msg, sizeof(msg) - 1, true);
		KT_CHECK_INT_EQ(feed(&rx, &r, &wire, step), 0);
		KT_CHECK_INT_EQ(kt_buf_len(&r.data), sizeof(msg) - 1);
		KT_CHECK_MEM_EQ(kt_buf_peek(&r.data), msg, sizeof(msg) - 1);
		KT_CHECK_INT_EQ(r.firsts, 1);
		KT_CHECK_INT_EQ(r.lasts, 1);
		KT_CHECK_INT_EQ(r.last_opcode, KT_WS_OP_BINARY);
		kt_buf_fini(&wire);
		kt_buf_fini(&r.data);
	}
}

KT_TEST(fragments_and_empty_message)
{
	struct kt_buf wire;
	struct pf_ws_rx rx = {0};
	struct rec r;
	rec_init(&r);
	kt_buf_init(&wire, 1 << 20);
	frame(&wire, false, KT_WS_OP_TEXT, (const uint8_t *)"0kB", 3, true);
	frame(&wire, false, KT_WS_OP_CONT, (const uint8_t *)"", 0, true);
	frame(&wire, true, KT_WS_OP_CONT, (const uint8_t *)"8=", 2, true);
	frame(&wire, true, KT_WS_OP_BINARY, (const uint8_t *)"", 0, true);
	KT_CHECK_INT_EQ(feed(&rx, &r, &wire, 1000), 0);
	KT_CHECK_INT_EQ(kt_buf_len(&r.data), 5);
	KT_CHECK_MEM_EQ(kt_buf_peek(&r.data), "0kB8=", 5);
	/* Two messages: the text one (first on "0kB", last on "8=") and the empty one. */
	KT_CHECK_INT_EQ(r.firsts, 2);
	KT_CHECK_INT_EQ(r.lasts, 2);
	KT_CHECK_INT_EQ(r.empties, 1);
	KT_CHECK_INT_EQ(r.errors, 0);
	kt_buf_fini(&wire);
	kt_buf_fini(&r.data);
}

KT_TEST(large_frame_chunks_and_blocked_consumer)
{
	size_t n = 3 * PF_WS_CHUNK + 1234;
	uint8_t *msg = malloc(n);
	struct kt_buf wire;
	struct pf_ws_rx rx = {0};
	struct rec r;
	KT_REQUIRE(msg);
	for (size_t i = 0; i < n; i++)
		msg[i] = (uint8_t)(i * 7 + 3);
	rec_init(&r);
	r.take_limit = 1000; /* the consumer stops after 1000 bytes every time */
	kt_buf_init(&wire, 1 << 24);
	frame(&wire, true, KT_WS_OP_BINARY, msg, n, true);
	frame(&wire, true, KT_WS_OP_BINARY, (const uint8_t *)"xy", 2, true);
	KT_CHECK_INT_EQ(feed(&rx, &r, &wire, 100000), 0);
	KT_REQUIRE(kt_buf_len(&r.data) == n + 2);
	/* Re-offered bytes were unmasked at their real offset. */
	KT_CHECK_MEM_EQ(kt_buf_peek(&r.data), msg, n);
	KT_CHECK_MEM_EQ(kt_buf_peek(&r.data) + n, "xy", 2);
	KT_CHECK(r.max_chunk <= PF_WS_CHUNK);
	KT_CHECK_INT_EQ(r.firsts, 2); /* "first" only on each message's first bytes */
	KT_CHECK_INT_EQ(r.lasts, 2);
	kt_buf_fini(&wire);
	kt_buf_fini(&r.data);
	free(msg);
}

KT_TEST(close_then_discard)
{
	struct kt_buf wire;
	struct pf_ws_rx rx = {0};
	struct rec r;
	uint8_t cp[KT_WS_MAX_CONTROL];
	int cl = kt_ws_close_build(cp, 1000, "bye", 3);
	rec_init(&r);
	kt_buf_init(&wire, 1 << 20);
	frame(&wire, true, KT_WS_OP_CLOSE, cp, (size_t)cl, true);
	frame(&wire, true, KT_WS_OP_BINARY, (const uint8_t *)"late", 4, true);
	KT_CHECK_INT_EQ(feed(&rx, &r, &wire, 3), 0);
	KT_CHECK_INT_EQ(r.closes, 1);
	KT_CHECK_INT_EQ(r.close_code, 1000);
	KT_CHECK_INT_EQ(kt_buf_len(&r.data), 0);
	KT_CHECK(rx.closed);
	kt_buf_fini(&wire);
	kt_buf_fini(&r.data);
}

KT_TEST(protocol_errors)
{
	struct kt_buf wire;
	struct pf_ws_rx rx = {0};
	struct rec r;

	/* A client frame must be masked (RFC 6455 5.1). */
	rec_init(&r);
	kt_buf_init(&wire, 1 << 20);
	frame(&wire, true, KT_WS_OP_BINARY, (const uint8_t *)"abc", 3, false);
	feed(&rx, &r, &wire, 100);
	KT_CHECK_INT_EQ(r.errors, 1);
	KT_CHECK_INT_EQ(kt_buf_len(&r.data), 0);
	kt_buf_fini(&wire);
	kt_buf_fini(&r.data);

	/* A continuation without a message. */
	memset(&rx, 0, sizeof(rx));
	rec_init(&r);
	kt_buf_init(&wire, 1 << 20);
	frame(&wire, true, KT_WS_OP_CONT, (const uint8_t *)"abc", 3, true);
	feed(&rx, &r, &wire, 100);
	KT_CHECK_INT_EQ(r.errors, 1);
	kt_buf_fini(&wire);
	kt_buf_fini(&r.data);

	/* A close frame with a 1-byte payload. */
	memset(&rx, 0, sizeof(rx));
	rec_init(&r);
	kt_buf_init(&wire, 1 << 20);
	frame(&wire, true, KT_WS_OP_CLOSE, (const uint8_t *)"x", 1, true);
	feed(&rx, &r, &wire, 100);
	KT_CHECK_INT_EQ(r.errors, 1);
	KT_CHECK_INT_EQ(r.closes, 0);
	kt_buf_fini(&wire);
	kt_buf_fini(&r.data);
}

KT_TEST(header_lengths)
{
	KT_CHECK_INT_EQ(pf_ws_hdr_len(0), 2);
	KT_CHECK_INT_EQ(pf_ws_hdr_len(125), 2);
	KT_CHECK_INT_EQ(pf_ws_hdr_len(126), 4);
	KT_CHECK_INT_EQ(pf_ws_hdr_len(65535), 4);
	KT_CHECK_INT_EQ(pf_ws_hdr_len(65536), 10);
}

KT_TEST_MAIN()
