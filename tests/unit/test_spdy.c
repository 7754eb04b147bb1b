/* test_spdy.c: SPDY/3.1 framing against protocol.md section 2.4 (worked examples, header block
 * layout, zlib rules) and moby/spdystream's reader rules.
 *
 * Independent references used here: the dictionary files on disk, zlib driven directly by the
 * test (to compress hand-made blocks and to decompress what our deflater produced), and two
 * SYN_STREAM frames whose header blocks were compressed by Python's zlib module (level 9,
 * zdict = the SPDY/3 dictionary, Z_SYNC_FLUSH after each block, one compressor for both). */
#define ZLIB_CONST
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "buf.h"
#include "kt_test.h"
#include "spdy.h"

/* ---- helpers ---- */

static size_t hex2bin(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;
	for (; hex[0] && hex[1] && n < cap; hex += 2) {
		unsigned v = 0;
		for (int k = 0; k < 2; k++) {
			char c = hex[k];
			v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
		}
		out[n++] = (uint8_t)v;
	}
	return n;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* A plain name/value block from C strings: kv = name0, value0, name1, value1, ... */
static size_t nv_block(uint8_t *out, uint32_t count, const char *const *kv, size_t nkv)
{
	size_t n = 0;
	put32(out, count);
	n += 4;
	for (size_t i = 0; i < nkv; i++) {
		size_t l = strlen(kv[i]);
		put32(out + n, (uint32_t)l);
		memcpy(out + n + 4, kv[i], l);
		n += 4 + l;
	}
	return n;
}

/* A test-side zlib compressor, independent of spdy.c's deflater. */
static void zc_init(z_stream *z, const void *dict, size_t dlen)
{
	memset(z, 0, sizeof(*z));
	if (deflateInit(z, 9) != Z_OK)
		abort();
	if (dict && deflateSetDictionary(z, dict, (uInt)dlen) != Z_OK)
		abort();
}

static size_t zc_block(z_stream *z, const void *plain, size_t n, uint8_t *out, size_t cap,
		       int flush)
{
	z->next_in = plain;
	z->avail_in = (uInt)n;
	z->next_out = out;
	z->avail_out = (uInt)cap;
	int rc = deflate(z, flush);
	if ((rc != Z_OK && rc != Z_STREAM_END) || z->avail_in != 0 || z->avail_out == 0)
		abort();
	return cap - z->avail_out;
}

/* A test-side zlib decompressor that supplies the dictionary when asked. */
static size_t zd_block(z_stream *z, const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
	z->next_in = in;
	z->avail_in = (uInt)n;
	z->next_out = out;
	z->avail_out = (uInt)cap;
	for (;;) {
		int rc = inflate(z, Z_SYNC_FLUSH);
		if (rc == Z_NEED_DICT) {
			if (inflateSetDictionary(z, kt_spdy_dict, (uInt)kt_spdy_dict_len) != Z_OK)
				return SIZE_MAX;
			continue;
		}
		if (rc != Z_OK && rc != Z_BUF_ERROR)
			return SIZE_MAX;
		break;
	}
	if (z->avail_in != 0)
		return SIZE_MAX;
	return cap - z->avail_out;
}

static size_t ctl_frame(uint8_t *out, uint16_t type, uint8_t flags, const uint8_t *fixed,
			size_t fixed_len, const uint8_t *hb, size_t hb_len)
{
	out[0] = 0x80;
	out[1] = 3;
	out[2] = (uint8_t)(type >> 8);
	out[3] = (uint8_t)type;
	put32(out + 4, (uint32_t)flags << 24 | (uint32_t)(fixed_len + hb_len));
	memcpy(out + 8, fixed, fixed_len);
	memcpy(out + 8 + fixed_len, hb, hb_len);
	return 8 + fixed_len + hb_len;
}

static size_t syn_stream_frame(uint8_t *out, uint32_t sid, const uint8_t *hb, size_t hb_len)
{
	uint8_t fixed[10] = {0};
	put32(fixed, sid);
	return ctl_frame(out, KT_SPDY_SYN_STREAM, 0, fixed, 10, hb, hb_len);
}

static size_t sid_frame(uint8_t *out, uint16_t type, uint32_t sid, const uint8_t *hb, size_t hb_len)
{
	uint8_t fixed[4];
	put32(fixed, sid);
	return ctl_frame(out, type, 0, fixed, 4, hb, hb_len);
}

/* Compresses a plain block with a fresh test-side compressor (SPDY dictionary), wraps it in
 * a frame of the given type and decodes it with a fresh inflater. */
static int decode_plain(const uint8_t *plain, size_t n, uint16_t type, uint32_t sid, size_t max_hb,
			size_t max_pairs)
{
	static uint8_t hb[200000], fr[200100];
	z_stream z;
	zc_init(&z, kt_spdy_dict, kt_spdy_dict_len);
	size_t hl = zc_block(&z, plain, n, hb, sizeof(hb), Z_SYNC_FLUSH);
	deflateEnd(&z);
	size_t fl = type == KT_SPDY_SYN_STREAM ? syn_stream_frame(fr, sid, hb, hl)
					       : sid_frame(fr, type, sid, hb, hl);
	struct kt_spdy_frame f;
	size_t used = 0;
	if (kt_spdy_parse(fr, fl, 0, &f, &used) != 1 || used != fl)
		return -1000;
	struct kt_spdy_inflater *inf = kt_spdy_inflater_new(max_hb, max_pairs);
	if (!inf)
		return -1001;
	struct kt_spdy_headers h;
	int rc = kt_spdy_inflater_decode(inf, &f, &h);
	kt_spdy_inflater_free(inf);
	return rc;
}

/* Bytes of a kt_buf, for comparisons. */
static int buf_eq_hex(const struct kt_buf *b, const char *hex)
{
	uint8_t want[256];
	size_t n = hex2bin(hex, want, sizeof(want));
	return kt_buf_len(b) == n && memcmp(kt_buf_peek(b), want, n) == 0;
}

/* ---- the dictionary ---- */

static int compare_with_file(const char *dir, const char *rel)
{
	char path[4096];
	int w = snprintf(path, sizeof(path), "%s/%s", dir, rel);
	if (w < 0 || (size_t)w >= sizeof(path))
		return -1;
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		fprintf(stderr, "cannot open %s\n", path);
		return -1;
	}
	uint8_t buf[2048];
	size_t n = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	return n == kt_spdy_dict_len && memcmp(buf, kt_spdy_dict, n) == 0 ? 0 : -1;
}

KT_TEST(dictionary_embedded_matches_spec)
{
	KT_CHECK_INT_EQ(kt_spdy_dict_check(), 0);
	KT_CHECK_INT_EQ(kt_spdy_dict_len, 1423);
	uLong a = adler32(adler32(0L, Z_NULL, 0), kt_spdy_dict, (uInt)kt_spdy_dict_len);
	KT_CHECK_INT_EQ(a, 0xe3c6a7c2u);
	/* SPDY/3 dictionary, not SPDY/2's: length-prefixed tokens, ending in "enq=0.". */
	KT_CHECK_MEM_EQ(kt_spdy_dict, "\0\0\0\x07options\0\0\0\x04head", 19);
	KT_CHECK_MEM_EQ(kt_spdy_dict + kt_spdy_dict_len - 6, "enq=0.", 6);

	const char *shared = getenv("KT_SHARED_DIR"), *src = getenv("KT_SOURCE_DIR");
	if (!shared && !src)
		fprintf(stderr,
			"note: KT_SHARED_DIR/KT_SOURCE_DIR unset, file comparison skipped\n");
	if (shared)
		KT_CHECK_INT_EQ(compare_with_file(shared, "data/spdy3-header-dictionary.bin"), 0);
	if (src)
		KT_CHECK_INT_EQ(compare_with_file(src, "data/spdy3-header-dictionary.bin"), 0);
}

/* ---- protocol.md section 2.4 worked examples ---- */

KT_TEST(worked_examples_build)
{
	struct kt_buf b;
	kt_buf_init(&b, 1 << 16);
	KT_CHECK_INT_EQ(kt_spdy_build_ping(&b, 1), 0);
	KT_CHECK(buf_eq_hex(&b, "800300060000000400000001"));
	kt_buf_clear(&b);
	KT_CHECK_INT_EQ(kt_spdy_build_rst_stream(&b, 3, KT_SPDY_CANCEL), 0);
	KT_CHECK(buf_eq_hex(&b, "80030003000000080000000300000005"));
	kt_buf_clear(&b);
	KT_CHECK_INT_EQ(kt_spdy_build_data(&b, 3, KT_SPDY_FLAG_FIN, NULL, 0), 0);
	KT_CHECK(buf_eq_hex(&b, "0000000301000000"));
	kt_buf_clear(&b);
	KT_CHECK_INT_EQ(kt_spdy_build_data(&b, 1, 0, "hi", 2), 0);
	KT_CHECK(buf_eq_hex(&b, "00000001000000026869"));
	kt_buf_clear(&b);
	KT_CHECK_INT_EQ(kt_spdy_build_goaway(&b, 3, KT_SPDY_GOAWAY_OK), 0);
	KT_CHECK(buf_eq_hex(&b, "80030007000000080000000300000000"));
	kt_buf_fini(&b);
}

KT_TEST(worked_examples_parse)
{
	uint8_t in[32];
	struct kt_spdy_frame f;
	size_t used = 0, n;

	n = hex2bin("800300060000000400000001", in, sizeof(in));
	KT_REQUIRE(kt_spdy_parse(in, n, 0, &f, &used) == 1);
	KT_CHECK(f.control);
	KT_CHECK_INT_EQ(f.type, KT_SPDY_PING);
	KT_CHECK_INT_EQ(f.ping_id, 1);
	KT_CHECK_INT_EQ(used, 12);

	n = hex2bin("80030003000000080000000300000005", in, sizeof(in));
	KT_REQUIRE(kt_spdy_parse(in, n, 0, &f, &used) == 1);
	KT_CHECK_INT_EQ(f.type, KT_SPDY_RST_STREAM);
	KT_CHECK_INT_EQ(f.stream_id, 3);
	KT_CHECK_INT_EQ(f.status, KT_SPDY_CANCEL);
	KT_CHECK_INT_EQ(used, 16);

	n = hex2bin("0000000301000000", in, sizeof(in));
	KT_REQUIRE(kt_spdy_parse(in, n, 0, &f, &used) == 1);
	KT_CHECK(!f.control);
	KT_CHECK_INT_EQ(f.stream_id, 3);
	KT_CHECK_INT_EQ(f.flags, KT_SPDY_FLAG_FIN);
	KT_CHECK_INT_EQ(f.payload_len, 0);
	KT_CHECK_INT_EQ(used, 8);

	n = hex2bin("00000001000000026869", in, sizeof(in));
	KT_REQUIRE(kt_spdy_parse(in, n, 0, &f, &used) == 1);
	KT_CHECK_INT_EQ(f.stream_id, 1);
	KT_CHECK_INT_EQ(f.flags, 0);
	KT_CHECK_INT_EQ(f.payload_len, 2);
	KT_CHECK(f.payload == in + 8); /* zero-copy */
	KT_CHECK_MEM_EQ(f.payload, "hi", 2);

	n = hex2bin("80030007000000080000000300000000", in, sizeof(in));
	KT_REQUIRE(kt_spdy_parse(in, n, 0, &f, &used) == 1);
	KT_CHECK_INT_EQ(f.type, KT_SPDY_GOAWAY);
	KT_CHECK_INT_EQ(f.last_good_id, 3);
	KT_CHECK_INT_EQ(f.status, KT_SPDY_GOAWAY_OK);
}

/* The kubectl error-stream block of protocol.md section 2.4, in our emission order. */
static const char *const err_hdrs_kv[] = {"streamtype", "error", "port", "8080", "requestid", "0"};
static const char err_block_hex[] =
    "000000030000000a73747265616d74797065000000056572726f7200000004706f7274000000043830"
    "3830000000097265717565737469640000000130";

KT_TEST(syn_stream_layout_fdict_and_plaintext)
{
	struct kt_spdy_deflater *def = kt_spdy_deflater_new(0);
	KT_REQUIRE(def != NULL);
	struct kt_buf b;
	kt_buf_init(&b, 1 << 16);
	struct kt_spdy_header h[3] = {
	    kt_spdy_header_str("streamtype", "error"),
	    kt_spdy_header_str("port", "8080"),
	    kt_spdy_header_str("requestid", "0"),
	};
	KT_REQUIRE(kt_spdy_build_syn_stream(&b, def, 1, 0, 0, 0, h, 3) == 0);
	size_t first_len = kt_buf_len(&b);
	KT_REQUIRE(kt_spdy_build_syn_reply(&b, def, 1, 0, NULL, 0) == 0);
	const uint8_t *p = kt_buf_peek(&b);
	size_t len = kt_buf_len(&b);

	/* 80 03 00 01 | flags 0 | length = 10 + compressed | sid 1 | assoc 0 | pri 0 | slot 0 */
	KT_REQUIRE(first_len > 18);
	KT_CHECK_MEM_EQ(p, "\x80\x03\x00\x01\x00", 5);
	uint32_t l = (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
	KT_CHECK_INT_EQ(l, first_len - 8);
	KT_CHECK_MEM_EQ(p + 8, "\0\0\0\x01\0\0\0\0\0\0", 10);
	const uint8_t *hb = p + 18;
	size_t hb_len = first_len - 18;

	/* RFC 1950 header: deflate with a 32 KiB window, FDICT set, check bits valid, then the
	 * dictionary's Adler-32 (DICTID) big-endian. */
	KT_CHECK_INT_EQ(hb[0], 0x78);
	KT_CHECK((hb[1] & 0x20) != 0);
	KT_CHECK_INT_EQ((hb[0] * 256 + hb[1]) % 31, 0);
	KT_CHECK_MEM_EQ(hb + 2, "\xe3\xc6\xa7\xc2", 4);
	/* Sync flush at the end of the block. */
	KT_CHECK_MEM_EQ(hb + hb_len - 4, "\x00\x00\xff\xff", 4);

	/* SYN_REPLY: 80 03 00 02, sid 1, a block without a second zlib header. */
	const uint8_t *r = p + first_len;
	KT_REQUIRE(len - first_len > 12);
	KT_CHECK_MEM_EQ(r, "\x80\x03\x00\x02\x00", 5);
	KT_CHECK_MEM_EQ(r + 8, "\0\0\0\x01", 4);
	const uint8_t *rhb = r + 12;
	size_t rhb_len = len - first_len - 12;
	KT_CHECK_MEM_EQ(rhb + rhb_len - 4, "\x00\x00\xff\xff", 4);

	/* Decompress both with plain zlib, continuing one stream: the plaintext must be
	 * byte-exact, and the empty block is four zero bytes. */
	uint8_t want[256], got[256];
	size_t wn = hex2bin(err_block_hex, want, sizeof(want));
	z_stream z;
	memset(&z, 0, sizeof(z));
	KT_REQUIRE(inflateInit(&z) == Z_OK);
	size_t gn = zd_block(&z, hb, hb_len, got, sizeof(got));
	KT_CHECK_INT_EQ(gn, wn);
	KT_CHECK_MEM_EQ(got, want, wn);
	gn = zd_block(&z, rhb, rhb_len, got, sizeof(got));
	KT_CHECK_INT_EQ(gn, 4);
	KT_CHECK_MEM_EQ(got, "\0\0\0\0", 4);
	inflateEnd(&z);

	kt_buf_fini(&b);
	kt_spdy_deflater_free(def);
}

/* ---- one zlib stream per direction ---- */

static void check_err_headers(const struct kt_spdy_headers *h, const char *type)
{
	KT_CHECK_INT_EQ(h->count, 3);
	char v[32];
	KT_CHECK_INT_EQ(kt_spdy_headers_get_str(h, "streamtype", v, sizeof(v)), 0);
	KT_CHECK_STR_EQ(v, type);
	KT_CHECK_INT_EQ(kt_spdy_headers_get_str(h, "port", v, sizeof(v)), 0);
	KT_CHECK_STR_EQ(v, "8080");
	KT_CHECK_INT_EQ(kt_spdy_headers_get_str(h, "requestID", v, sizeof(v)), 0);
	KT_CHECK_STR_EQ(v, "0");
}

KT_TEST(round_trip_many_blocks_on_one_stream)
{
	struct kt_spdy_deflater *def = kt_spdy_deflater_new(0);
	struct kt_spdy_inflater *inf = kt_spdy_inflater_new(0, 0);
	KT_REQUIRE(def && inf);
	struct kt_buf b;
	kt_buf_init(&b, 1 << 20);
	size_t starts[12];
	for (uint32_t i = 0; i < 12; i++) {
		starts[i] = kt_buf_len(&b);
		char rid[16];
		snprintf(rid, sizeof(rid), "%u", i);
		struct kt_spdy_header h[3] = {
		    kt_spdy_header_str("streamType", i % 2 ? "data" : "error"), /* lower-cased */
		    kt_spdy_header_str("port", "8080"),
		    kt_spdy_header_str("requestID", rid),
		};
		if (i == 5)
			KT_REQUIRE(kt_spdy_build_syn_reply(&b, def, 2 * i + 1, 0, NULL, 0) == 0);
		else if (i == 7)
			KT_REQUIRE(
			    kt_spdy_build_headers(&b, def, 2 * i + 1, KT_SPDY_FLAG_FIN, h, 3) == 0);
		else
			KT_REQUIRE(kt_spdy_build_syn_stream(&b, def, 2 * i + 1, 0, (uint8_t)(i % 8),
							    0, h, 3) == 0);
	}
	const uint8_t *p = kt_buf_peek(&b);
	size_t off = 0;
	for (uint32_t i = 0; i < 12; i++) {
		struct kt_spdy_frame f;
		size_t used = 0;
		KT_REQUIRE(kt_spdy_parse(p + off, kt_buf_len(&b) - off, 0, &f, &used) == 1);
		KT_CHECK_INT_EQ(off, starts[i]);
		KT_CHECK_INT_EQ(f.stream_id, 2 * i + 1);
		struct kt_spdy_headers h;
		KT_REQUIRE(kt_spdy_inflater_decode(inf, &f, &h) == 0);
		if (i == 5) {
			KT_CHECK_INT_EQ(f.type, KT_SPDY_SYN_REPLY);
			KT_CHECK_INT_EQ(h.count, 0);
		} else if (i == 7) {
			KT_CHECK_INT_EQ(f.type, KT_SPDY_HEADERS);
			KT_CHECK_INT_EQ(f.flags, KT_SPDY_FLAG_FIN);
			KT_CHECK_INT_EQ(h.count, 3);
		} else {
			KT_CHECK_INT_EQ(f.type, KT_SPDY_SYN_STREAM);
			KT_CHECK_INT_EQ(f.priority, i % 8);
			KT_CHECK_INT_EQ(h.count, 3);
			KT_CHECK_STR_EQ(h.pairs[0].name, "streamtype");
			KT_CHECK_STR_EQ(h.pairs[0].value, i % 2 ? "data" : "error");
			char rid[16], got[16];
			snprintf(rid, sizeof(rid), "%u", i);
			KT_CHECK_INT_EQ(kt_spdy_headers_get_str(&h, "requestid", got, sizeof(got)),
					0);
			KT_CHECK_STR_EQ(got, rid);
		}
		/* Later blocks lean on the shared history, so they are tiny. */
		if (i >= 2 && i != 5)
			KT_CHECK(f.hb_len < 30);
		off += used;
	}
	KT_CHECK_INT_EQ(off, kt_buf_len(&b));

	/* Proof that the stream was not reset per frame: a fresh inflater cannot decode the
	 * second block on its own. */
	struct kt_spdy_inflater *fresh = kt_spdy_inflater_new(0, 0);
	KT_REQUIRE(fresh != NULL);
	struct kt_spdy_frame f;
	size_t used;
	KT_REQUIRE(kt_spdy_parse(p + starts[1], kt_buf_len(&b) - starts[1], 0, &f, &used) == 1);
	struct kt_spdy_headers h;
	KT_CHECK_INT_EQ(kt_spdy_inflater_decode(fresh, &f, &h), -EPROTO);
	kt_spdy_inflater_free(fresh);

	kt_buf_fini(&b);
	kt_spdy_inflater_free(inf);
	kt_spdy_deflater_free(def);
}

/* Two SYN_STREAMs (error then data stream, sid 1 and 3) from Python's zlib, one compressor. */
static const char py_frames_hex[] =
    "800300010000003d0000000100000000000078f9e3c6a7c202253a703a2b294a4dcc851625aca9a080861"
    "4cb45e01c6061606100a4398b20d198094ade8c0600000000ffff80030001000000180000000300000000"
    "0000c2aa19540e2512d60b000000ffff";

KT_TEST(interop_python_zlib_vectors)
{
	uint8_t in[256];
	size_t n = hex2bin(py_frames_hex, in, sizeof(in));
	KT_REQUIRE(n == 69 + 32);
	struct kt_spdy_inflater *inf = kt_spdy_inflater_new(0, 0);
	KT_REQUIRE(inf != NULL);
	struct kt_spdy_frame f;
	struct kt_spdy_headers h;
	size_t used = 0;
	KT_REQUIRE(kt_spdy_parse(in, n, 0, &f, &used) == 1);
	KT_CHECK_INT_EQ(used, 69);
	KT_CHECK_INT_EQ(f.stream_id, 1);
	KT_CHECK(f.hb == in + 18);
	KT_CHECK_INT_EQ(f.hb_len, 51);
	KT_REQUIRE(kt_spdy_inflater_decode(inf, &f, &h) == 0);
	check_err_headers(&h, "error");
	KT_REQUIRE(kt_spdy_parse(in + used, n - used, 0, &f, &used) == 1);
	KT_CHECK_INT_EQ(used, 32);
	KT_CHECK_INT_EQ(f.stream_id, 3);
	KT_REQUIRE(kt_spdy_inflater_decode(inf, &f, &h) == 0);
	check_err_headers(&h, "data");
	kt_spdy_inflater_free(inf);
}

/* ---- header block validation ---- */

KT_TEST(header_block_rejections)
{
	uint8_t pl[4096];
	size_t n;

	/* Baseline: the same shape, valid, decodes. */
	n = nv_block(pl, 3, err_hdrs_kv, 6);
	KT_CHECK_INT_EQ(decode_plain(pl, n, KT_SPDY_SYN_STREAM, 1, 0, 0), 0);
	n = nv_block(pl, 0, NULL, 0);
	KT_CHECK_INT_EQ(decode_plain(pl, n, KT_SPDY_SYN_REPLY, 1, 0, 0), 0);

	static const char *const upper[] = {"streamtype", "error", "Port", "8080"};
	n = nv_block(pl, 2, upper, 4);
	KT_CHECK_INT_EQ(decode_plain(pl, n, KT_SPDY_SYN_STREAM, 1, 0, 0), -EPROTO);

	static const char *const dup[] = {"port", "8080", "streamtype", "data", "port", "80"};
	n = nv_block(pl, 3, dup, 6);
	KT_CHECK_INT_EQ(decode_plain(pl, n, KT_SPDY_SYN_STREAM, 1, 0, 0), -EPROTO);

	static const char *const empty_name[] = {"", "x"};
	n = nv_block(pl, 1, empty_name, 2);
	KT_CHECK_INT_EQ(decode_plain(pl, n, KT_SPDY_SYN_STREAM, 1, 0, 0), -EPROTO);

	static const char *const space_name[] = {"a b", "x"};
	n = nv_block(pl, 1, space_name, 2);
	KT_CHECK_INT_EQ(decode_plain(pl, n, KT_SPDY_SYN_STREAM, 1, 0, 0), -EPROTO);

	/* Count larger than the pairs present. */
	n = nv_block(pl, 4, err_hdrs_kv, 6);
	KT_CHECK_INT_EQ(decode_plain(pl, n, KT_SPDY_SYN_STREAM, 1, 0, 0), -EPROTO);
	n = nv_block(pl, 0xffffffffu, err_hdrs_kv, 6);
	KT_CHECK_INT_EQ(decode_plain(pl, n, KT_SPDY_SYN_STREAM, 1, 0, 0), -EPROTO);
	/* Block shorter than its count field. */
	KT_CHECK_INT_EQ(decode_plain((const uint8_t *)"\0\0", 2, KT_SPDY_SYN_STREAM, 1, 0, 0),
			-EPROTO);
	/* A name or value length running past the block (32-bit lengths). */
	n = nv_block(pl, 1, err_hdrs_kv, 2);
	put32(pl + 4, 0xfffffff0u);
	KT_CHECK_INT_EQ(decode_plain(pl, n, KT_SPDY_SYN_STREAM, 1, 0, 0), -EPROTO);
	n = nv_block(pl, 1, err_hdrs_kv, 2);
	put32(pl + 4 + 4 + 10, 6);
	KT_CHECK_INT_EQ(decode_plain(pl, n, KT_SPDY_SYN_STREAM, 1, 0, 0), -EPROTO);
	/* Decompressed bytes after the last pair. */
	n = nv_block(pl, 3, err_hdrs_kv, 6);
	pl[n++] = 0;
	KT_CHECK_INT_EQ(decode_plain(pl, n, KT_SPDY_SYN_STREAM, 1, 0, 0), -EPROTO);

	/* Limits: pair count and decompressed size. */
	n = nv_block(pl, 3, err_hdrs_kv, 6);
	KT_CHECK_INT_EQ(decode_plain(pl, n, KT_SPDY_SYN_STREAM, 1, 0, 3), 0);
	KT_CHECK_INT_EQ(decode_plain(pl, n, KT_SPDY_SYN_STREAM, 1, 0, 2), -EPROTO);
	KT_CHECK_INT_EQ(decode_plain(pl, n, KT_SPDY_SYN_STREAM, 1, n, 0), 0);
	KT_CHECK_INT_EQ(decode_plain(pl, n, KT_SPDY_SYN_STREAM, 1, n - 1, 0), -EPROTO);
	/* The default 64 KiB limit, with a block that compresses to almost nothing. */
	static uint8_t big[70000];
	memset(big, 'a', sizeof(big));
	put32(big, 1);
	put32(big + 4, 1);
	put32(big + 9, (uint32_t)(sizeof(big) - 13));
	KT_CHECK_INT_EQ(decode_plain(big, sizeof(big), KT_SPDY_SYN_STREAM, 1, 0, 0), -EPROTO);
	KT_CHECK_INT_EQ(decode_plain(big, sizeof(big), KT_SPDY_SYN_STREAM, 1, 80000, 0), 0);

	/* Hop-by-hop headers spdystream refuses; "host" only in requests. */
	static const char *const conn[] = {"connection", "close"};
	n = nv_block(pl, 1, conn, 2);
	KT_CHECK_INT_EQ(decode_plain(pl, n, KT_SPDY_SYN_REPLY, 1, 0, 0), -EPROTO);
	static const char *const te[] = {"transfer-encoding", "chunked"};
	n = nv_block(pl, 1, te, 2);
	KT_CHECK_INT_EQ(decode_plain(pl, n, KT_SPDY_SYN_STREAM, 1, 0, 0), -EPROTO);
	static const char *const host[] = {"host", "x"};
	n = nv_block(pl, 1, host, 2);
	KT_CHECK_INT_EQ(decode_plain(pl, n, KT_SPDY_SYN_STREAM, 1, 0, 0), -EPROTO);
	KT_CHECK_INT_EQ(decode_plain(pl, n, KT_SPDY_SYN_REPLY, 1, 0, 0), 0);
	KT_CHECK_INT_EQ(decode_plain(pl, n, KT_SPDY_HEADERS, 1, 0, 0), 0);
	KT_CHECK_INT_EQ(decode_plain(pl, n, KT_SPDY_HEADERS, 2, 0, 0), -EPROTO);
}

/* Frames whose compressed block is wrong in some way, each against a fresh inflater. */
static int decode_hb(const uint8_t *hb, size_t hl)
{
	static uint8_t fr[70000];
	size_t fl = syn_stream_frame(fr, 1, hb, hl);
	struct kt_spdy_frame f;
	size_t used;
	if (kt_spdy_parse(fr, fl, 0, &f, &used) != 1)
		return -1000;
	struct kt_spdy_inflater *inf = kt_spdy_inflater_new(0, 0);
	struct kt_spdy_headers h;
	int rc = kt_spdy_inflater_decode(inf, &f, &h);
	kt_spdy_inflater_free(inf);
	return rc;
}

KT_TEST(compressed_block_rejections)
{
	uint8_t pl[256], pl2[256], hb[1024];
	size_t n = nv_block(pl, 3, err_hdrs_kv, 6);
	size_t n2 = nv_block(pl2, 0, NULL, 0);
	z_stream z;

	/* Trailing garbage after the sync-flushed block (0xff: an invalid block type). */
	zc_init(&z, kt_spdy_dict, kt_spdy_dict_len);
	size_t hl = zc_block(&z, pl, n, hb, sizeof(hb), Z_SYNC_FLUSH);
	deflateEnd(&z);
	KT_CHECK_INT_EQ(decode_hb(hb, hl), 0);
	memcpy(hb + hl, "\xff\xff\xff\xff", 4);
	KT_CHECK_INT_EQ(decode_hb(hb, hl + 4), -EPROTO);

	/* Two blocks' worth of compressed bytes in one frame: decompressed leftovers. */
	zc_init(&z, kt_spdy_dict, kt_spdy_dict_len);
	hl = zc_block(&z, pl, n, hb, sizeof(hb), Z_SYNC_FLUSH);
	hl += zc_block(&z, pl2, n2, hb + hl, sizeof(hb) - hl, Z_SYNC_FLUSH);
	deflateEnd(&z);
	KT_CHECK_INT_EQ(decode_hb(hb, hl), -EPROTO);

	/* The wrong dictionary (the DICTID does not match). */
	zc_init(&z, "not the spdy dictionary", 23);
	hl = zc_block(&z, pl, n, hb, sizeof(hb), Z_SYNC_FLUSH);
	deflateEnd(&z);
	KT_CHECK_INT_EQ(decode_hb(hb, hl), -EPROTO);

	/* A finished zlib stream (Z_FINISH): no later block could follow it. */
	zc_init(&z, kt_spdy_dict, kt_spdy_dict_len);
	hl = zc_block(&z, pl, n, hb, sizeof(hb), Z_FINISH);
	deflateEnd(&z);
	KT_CHECK_INT_EQ(decode_hb(hb, hl), -EPROTO);

	/* Raw deflate instead of a zlib stream. */
	memset(&z, 0, sizeof(z));
	KT_REQUIRE(deflateInit2(&z, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
	hl = zc_block(&z, pl, n, hb, sizeof(hb), Z_SYNC_FLUSH);
	deflateEnd(&z);
	KT_CHECK_INT_EQ(decode_hb(hb, hl), -EPROTO);

	/* Plain garbage, and a lone byte. */
	KT_CHECK_INT_EQ(decode_hb((const uint8_t *)"garbage!", 8), -EPROTO);
	KT_CHECK_INT_EQ(decode_hb((const uint8_t *)"\x78", 1), -EPROTO);
}

KT_TEST(inflater_stays_dead_after_error)
{
	uint8_t in[256];
	size_t n = hex2bin(py_frames_hex, in, sizeof(in));
	struct kt_spdy_inflater *inf = kt_spdy_inflater_new(0, 0);
	KT_REQUIRE(inf != NULL);
	struct kt_spdy_frame f;
	struct kt_spdy_headers h;
	size_t used;
	/* Corrupt the first block's DICTID: the decode fails ... */
	uint8_t bad[256];
	memcpy(bad, in, n);
	bad[20] ^= 0x55;
	KT_REQUIRE(kt_spdy_parse(bad, n, 0, &f, &used) == 1);
	KT_CHECK_INT_EQ(kt_spdy_inflater_decode(inf, &f, &h), -EPROTO);
	/* ... and so does a good block afterwards. */
	KT_REQUIRE(kt_spdy_parse(in, n, 0, &f, &used) == 1);
	KT_CHECK_INT_EQ(kt_spdy_inflater_decode(inf, &f, &h), -EPROTO);
	/* Frames without a header block are not the inflater's business. */
	uint8_t ping[12];
	hex2bin("800300060000000400000001", ping, sizeof(ping));
	KT_REQUIRE(kt_spdy_parse(ping, 12, 0, &f, &used) == 1);
	KT_CHECK_INT_EQ(kt_spdy_inflater_decode(inf, &f, &h), -EINVAL);
	kt_spdy_inflater_free(inf);
	kt_spdy_inflater_free(NULL);
	kt_spdy_deflater_free(NULL);
}

/* ---- frame-level validation ---- */

KT_TEST(parse_errors)
{
	static const struct {
		const char *hex;
		int rc;
	} cases[] = {
	    {"800200060000000400000001", -EPROTO},		   /* version 2 */
	    {"800400060000000400000001", -EPROTO},		   /* version 4 */
	    {"800300050000000400000001", -EPROTO},		   /* NOOP */
	    {"8003000a0000000400000001", -EPROTO},		   /* CREDENTIAL */
	    {"800300000000000400000001", -EPROTO},		   /* type 0 */
	    {"8003000b0000000400000001", -EPROTO},		   /* type 11 */
	    {"8003ffff0000000400000001", -EPROTO},		   /* type 65535 */
	    {"80030003000000080000000300000000", -EPROTO},	   /* RST status 0 */
	    {"80030003000000080000000000000005", -EPROTO},	   /* RST stream 0 */
	    {"800300030000000c000000030000000500000000", -EPROTO}, /* RST length 12 */
	    {"800300030000000400000003", -EPROTO},		   /* RST length 4 */
	    {"800300060000000800000001", -EPROTO},	   /* PING length 8 (checked early) */
	    {"800300060100000400000001", -EPROTO},	   /* PING with flags */
	    {"800300060000000400000000", -EPROTO},	   /* PING id 0 */
	    {"800300070000000400000003", -EPROTO},	   /* GOAWAY length 4 */
	    {"80030007010000080000000300000000", -EPROTO}, /* GOAWAY with flags */
	    {"800300090000000400000001", -EPROTO},	   /* WINDOW_UPDATE length 4 */
	    {"80030009010000080000000100000001", -EPROTO}, /* WINDOW_UPDATE with flags */
	    {"800300040000000600000000", -EPROTO},	   /* SETTINGS length 6 */
	    {"800300040000000c000000020000000100000000", -EPROTO}, /* SETTINGS count 2, 1 entry */
	    {"80030001000000080000000100000000", -EPROTO},	   /* SYN_STREAM length 8 */
	    {"800300010000000a00000001000000000000", -EPROTO},	   /* SYN_STREAM empty block */
	    {"800300010000000b000000000000000000000078", -EPROTO}, /* SYN_STREAM stream 0 */
	    {"80030002000000040000000100", -EPROTO},		   /* SYN_REPLY length 4 */
	    {"80030002000000050000000078", -EPROTO},		   /* SYN_REPLY stream 0 */
	    {"80030008000000050000000078", -EPROTO},		   /* HEADERS stream 0 */
	    {"00000000000000026869", -EPROTO},			   /* DATA stream 0 */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t in[64];
		size_t n = hex2bin(cases[i].hex, in, sizeof(in));
		struct kt_spdy_frame f;
		size_t used = 0;
		int rc = kt_spdy_parse(in, n, 0, &f, &used);
		if (rc != cases[i].rc)
			KT_FAIL_("case %zu (%s): rc %d", i, cases[i].hex, rc);
		else if (!f.error)
			KT_FAIL_("case %zu: no error text", i);
	}
}

KT_TEST(length_limit)
{
	static uint8_t in[8 + 200];
	memset(in, 'x', sizeof(in));
	in[0] = 0;
	in[1] = 0;
	in[2] = 0;
	in[3] = 1;
	in[4] = 0;
	in[5] = 0;
	in[6] = 0;
	in[7] = 101;
	struct kt_spdy_frame f;
	size_t used;
	KT_CHECK_INT_EQ(kt_spdy_parse(in, 8, 100, &f, &used), -EMSGSIZE);
	KT_CHECK_INT_EQ(kt_spdy_parse(in, 8, 101, &f, &used), 0);
	KT_CHECK_INT_EQ(kt_spdy_parse(in, sizeof(in), 101, &f, &used), 1);
	KT_CHECK_INT_EQ(used, 109);
	KT_CHECK_INT_EQ(kt_spdy_parse_header(in, 8, 100, &f), -EMSGSIZE);
	KT_CHECK_INT_EQ(kt_spdy_parse_header(in, 8, 0, &f), 1);
	KT_CHECK_INT_EQ(f.length, 101);
	/* The largest 24-bit length is accepted by default (header-only check). */
	in[5] = in[6] = in[7] = 0xff;
	KT_CHECK_INT_EQ(kt_spdy_parse_header(in, 8, 0, &f), 1);
	KT_CHECK_INT_EQ(f.length, 0xffffff);
	KT_CHECK_INT_EQ(kt_spdy_parse(in, sizeof(in), 0, &f, &used), 0);
}

/* A sample stream with every frame type, built by our builders. */
static size_t build_sample(struct kt_buf *b, struct kt_spdy_deflater *def)
{
	static const uint8_t blob[3000] = {1, 2, 3};
	struct kt_spdy_header err[3] = {
	    kt_spdy_header_str("streamtype", "error"),
	    kt_spdy_header_str("port", "8080"),
	    kt_spdy_header_str("requestid", "0"),
	};
	struct kt_spdy_header dat[3] = {
	    kt_spdy_header_str("streamtype", "data"),
	    kt_spdy_header_str("port", "8080"),
	    kt_spdy_header_str("requestid", "0"),
	};
	struct kt_spdy_header multi[1] = {{"x-multi", 7, "a\0b", 3}};
	struct kt_spdy_setting set[2] = {{KT_SPDY_SETTINGS_PERSIST_VALUE, 7, 65536}, {0, 4, 100}};
	int rc = 0;
	rc |= kt_spdy_build_syn_stream(b, def, 1, 0, 0, 0, err, 3);
	rc |= kt_spdy_build_ping(b, 1);
	rc |= kt_spdy_build_syn_reply(b, def, 1, 0, NULL, 0);
	rc |= kt_spdy_build_data(b, 1, KT_SPDY_FLAG_FIN, NULL, 0);
	rc |= kt_spdy_build_syn_stream(b, def, 3, 0, 0, 0, dat, 3);
	rc |= kt_spdy_build_data(b, 3, 0, blob, sizeof(blob));
	rc |= kt_spdy_build_settings(b, KT_SPDY_FLAG_CLEAR_SETTINGS, set, 2);
	rc |= kt_spdy_build_window_update(b, 0, 1 << 20);
	rc |= kt_spdy_build_headers(b, def, 3, 0, multi, 1);
	rc |= kt_spdy_build_rst_stream(b, 3, KT_SPDY_CANCEL);
	rc |= kt_spdy_build_goaway(b, 3, KT_SPDY_GOAWAY_OK);
	return rc == 0 ? kt_buf_len(b) : 0;
}

static const char sample_log[] = "SYN_STREAM 1 f0 [streamtype=error port=8080 requestid=0]\n"
				 "PING 1\n"
				 "SYN_REPLY 1 f0 []\n"
				 "DATA 1 f1 0\n"
				 "SYN_STREAM 3 f0 [streamtype=data port=8080 requestid=0]\n"
				 "DATA 3 f0 3000\n"
				 "SETTINGS f1 7/1=65536 4/0=100\n"
				 "WINDOW_UPDATE 0 1048576\n"
				 "HEADERS 3 f0 [x-multi=a|b]\n"
				 "RST_STREAM 3 5\n"
				 "GOAWAY 3 0\n";

/* Describes one frame (and its decoded headers) on a log line. */
static int describe(char *out, size_t cap, const struct kt_spdy_frame *f,
		    struct kt_spdy_inflater *inf)
{
	static const char *const names[] = {
	    "", "SYN_STREAM", "SYN_REPLY", "RST_STREAM", "SETTINGS",
	    "", "PING",	      "GOAWAY",	   "HEADERS",	 "WINDOW_UPDATE"};
	size_t o = 0;
#define OUT(...)                                                  \
	do {                                                      \
		int w_ = snprintf(out + o, cap - o, __VA_ARGS__); \
		if (w_ < 0 || (size_t)w_ >= cap - o)              \
			return -1;                                \
		o += (size_t)w_;                                  \
	} while (0)
	if (!f->control) {
		OUT("DATA %u f%u %zu\n", f->stream_id, f->flags, f->payload_len);
		return (int)o;
	}
	OUT("%s", names[f->type]);
	struct kt_spdy_headers h;
	struct kt_spdy_setting s;
	switch (f->type) {
	case KT_SPDY_SYN_STREAM:
	case KT_SPDY_SYN_REPLY:
	case KT_SPDY_HEADERS:
		if (kt_spdy_inflater_decode(inf, f, &h) != 0)
			return -1;
		OUT(" %u f%u [", f->stream_id, f->flags);
		for (size_t i = 0; i < h.count; i++) {
			OUT("%s%s=", i ? " " : "", h.pairs[i].name);
			for (size_t k = 0; k < h.pairs[i].value_len; k++)
				OUT("%c", h.pairs[i].value[k] ? h.pairs[i].value[k] : '|');
		}
		OUT("]");
		break;
	case KT_SPDY_PING:
		OUT(" %u", f->ping_id);
		break;
	case KT_SPDY_SETTINGS:
		OUT(" f%u", f->flags);
		for (uint32_t i = 0; i < f->settings_count; i++) {
			if (kt_spdy_settings_entry(f, i, &s) != 0)
				return -1;
			OUT(" %u/%u=%u", s.id, s.flags, s.value);
		}
		break;
	case KT_SPDY_WINDOW_UPDATE:
		OUT(" %u %u", f->stream_id, f->delta);
		break;
	case KT_SPDY_RST_STREAM:
		OUT(" %u %u", f->stream_id, f->status);
		break;
	case KT_SPDY_GOAWAY:
		OUT(" %u %u", f->last_good_id, f->status);
		break;
	}
	OUT("\n");
#undef OUT
	return (int)o;
}

/* Feeds `stream` in chunks of the given sizes (cycled) through a receive buffer, parsing
 * frames as they complete, like a server reading a socket; returns the log. */
static int replay_chunked(const uint8_t *stream, size_t len, const size_t *chunks, size_t nchunks,
			  char *log, size_t cap)
{
	struct kt_spdy_inflater *inf = kt_spdy_inflater_new(0, 0);
	if (!inf)
		return -1;
	struct kt_buf rx;
	kt_buf_init(&rx, 1 << 20);
	size_t off = 0, lo = 0, ci = 0;
	int rc = 0;
	log[0] = '\0';
	while (off < len && rc == 0) {
		size_t c = chunks[ci++ % nchunks];
		if (c > len - off)
			c = len - off;
		if (kt_buf_append(&rx, stream + off, c) != 0) {
			rc = -1;
			break;
		}
		off += c;
		for (;;) {
			struct kt_spdy_frame f;
			size_t used = 0;
			int pr = kt_spdy_parse(kt_buf_peek(&rx), kt_buf_len(&rx), 0, &f, &used);
			if (pr == 0)
				break;
			if (pr < 0) {
				rc = -1;
				break;
			}
			int w = describe(log + lo, cap - lo, &f, inf);
			if (w < 0) {
				rc = -1;
				break;
			}
			lo += (size_t)w;
			kt_buf_consume(&rx, used);
		}
	}
	if (kt_buf_len(&rx) != 0)
		rc = -1; /* a partial frame was left over */
	kt_buf_fini(&rx);
	kt_spdy_inflater_free(inf);
	return rc;
}

KT_TEST(stream_split_at_arbitrary_boundaries)
{
	struct kt_spdy_deflater *def = kt_spdy_deflater_new(0);
	KT_REQUIRE(def != NULL);
	struct kt_buf b;
	kt_buf_init(&b, 1 << 20);
	size_t len = build_sample(&b, def);
	KT_REQUIRE(len > 0);
	const uint8_t *s = kt_buf_peek(&b);
	static char log[4096];

	size_t whole = len;
	KT_REQUIRE(replay_chunked(s, len, &whole, 1, log, sizeof(log)) == 0);
	KT_CHECK_STR_EQ(log, sample_log);

	static const size_t fixed[] = {1, 2, 3, 5, 7, 8, 9, 13, 17, 64, 1000, 4096};
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		if (replay_chunked(s, len, &fixed[i], 1, log, sizeof(log)) != 0 ||
		    strcmp(log, sample_log) != 0)
			KT_FAIL_("chunk size %zu", fixed[i]);
	}
	srand(31);
	for (int round = 0; round < 50; round++) {
		size_t chunks[37];
		for (size_t i = 0; i < 37; i++)
			chunks[i] = 1 + (size_t)rand() % (round % 2 ? 20 : 700);
		if (replay_chunked(s, len, chunks, 37, log, sizeof(log)) != 0 ||
		    strcmp(log, sample_log) != 0)
			KT_FAIL_("random chunking round %d", round);
	}
	kt_buf_fini(&b);
	kt_spdy_deflater_free(def);
}

KT_TEST(truncated_input_at_every_length)
{
	struct kt_spdy_deflater *def = kt_spdy_deflater_new(0);
	KT_REQUIRE(def != NULL);
	struct kt_buf b;
	kt_buf_init(&b, 1 << 20);
	size_t len = build_sample(&b, def);
	KT_REQUIRE(len > 0);
	uint8_t py[256];
	size_t pyn = hex2bin(py_frames_hex, py, sizeof(py));
	KT_REQUIRE(kt_buf_append(&b, py, pyn) == 0);
	len += pyn;
	const uint8_t *s = kt_buf_peek(&b);

	size_t off = 0, frames = 0;
	while (off < len) {
		struct kt_spdy_frame f;
		size_t used = 0;
		KT_REQUIRE(kt_spdy_parse(s + off, len - off, 0, &f, &used) == 1);
		for (size_t i = 0; i < used; i++) {
			/* An exact-size copy so a read past the prefix is caught by ASan. */
			uint8_t *cut = malloc(i ? i : 1);
			KT_REQUIRE(cut != NULL);
			memcpy(cut, s + off, i);
			size_t u2 = 12345;
			int rc = kt_spdy_parse(cut, i, 0, &f, &u2);
			free(cut);
			if (rc != 0 || u2 != 12345) {
				KT_FAIL_("frame %zu, prefix %zu: rc %d", frames, i, rc);
				break;
			}
		}
		off += used;
		frames++;
	}
	KT_CHECK_INT_EQ(frames, 13);
	kt_buf_fini(&b);
	kt_spdy_deflater_free(def);
}

/* ---- builders ---- */

KT_TEST(builders_refuse_bad_arguments)
{
	struct kt_spdy_deflater *def = kt_spdy_deflater_new(0);
	KT_REQUIRE(def != NULL);
	struct kt_buf b;
	kt_buf_init(&b, 1 << 16);
	struct kt_spdy_header ok = kt_spdy_header_str("port", "80");
	uint8_t hdr[8];

	KT_CHECK_INT_EQ(kt_spdy_build_syn_stream(&b, def, 0, 0, 0, 0, &ok, 1), -EINVAL);
	KT_CHECK_INT_EQ(kt_spdy_build_syn_stream(&b, def, 0x80000001u, 0, 0, 0, &ok, 1), -EINVAL);
	KT_CHECK_INT_EQ(kt_spdy_build_syn_stream(&b, def, 1, 0x80000000u, 0, 0, &ok, 1), -EINVAL);
	KT_CHECK_INT_EQ(kt_spdy_build_syn_stream(&b, def, 1, 0, 8, 0, &ok, 1), -EINVAL);
	KT_CHECK_INT_EQ(kt_spdy_build_syn_stream(&b, def, 1, 0, 0, 0x04, &ok, 1), -EINVAL);
	KT_CHECK_INT_EQ(kt_spdy_build_syn_reply(&b, def, 0, 0, NULL, 0), -EINVAL);
	KT_CHECK_INT_EQ(kt_spdy_build_syn_reply(&b, def, 1, 0x02, NULL, 0), -EINVAL);
	KT_CHECK_INT_EQ(kt_spdy_build_headers(&b, def, 0, 0, &ok, 1), -EINVAL);
	KT_CHECK_INT_EQ(kt_spdy_build_rst_stream(&b, 0, KT_SPDY_CANCEL), -EINVAL);
	KT_CHECK_INT_EQ(kt_spdy_build_rst_stream(&b, 1, 0), -EINVAL);
	KT_CHECK_INT_EQ(kt_spdy_build_ping(&b, 0), -EINVAL);
	KT_CHECK_INT_EQ(kt_spdy_build_goaway(&b, 0x80000000u, 0), -EINVAL);
	KT_CHECK_INT_EQ(kt_spdy_build_window_update(&b, 1, 0), -EINVAL);
	KT_CHECK_INT_EQ(kt_spdy_build_window_update(&b, 1, 0x80000000u), -EINVAL);
	KT_CHECK_INT_EQ(kt_spdy_build_settings(&b, 0x02, NULL, 0), -EINVAL);
	struct kt_spdy_setting bad_set = {0, 0x1000000, 1};
	KT_CHECK_INT_EQ(kt_spdy_build_settings(&b, 0, &bad_set, 1), -EINVAL);
	KT_CHECK_INT_EQ(kt_spdy_data_header(hdr, 0, 0, 1), -EINVAL);
	KT_CHECK_INT_EQ(kt_spdy_data_header(hdr, 1, 0x02, 1), -EINVAL);
	KT_CHECK_INT_EQ(kt_spdy_data_header(hdr, 1, 0, 0x1000000), -EINVAL);
	KT_CHECK_INT_EQ(kt_spdy_build_data(&b, 0x80000000u, 0, "x", 1), -EINVAL);

	/* Header names: empty, non-printable, duplicate after lower-casing, hop-by-hop. */
	struct kt_spdy_header empty[1] = {{"", 0, "x", 1}};
	struct kt_spdy_header space[1] = {kt_spdy_header_str("a b", "x")};
	struct kt_spdy_header nul[1] = {{"a\0b", 3, "x", 1}};
	struct kt_spdy_header dup[2] = {kt_spdy_header_str("Port", "1"),
					kt_spdy_header_str("port", "2")};
	struct kt_spdy_header conn[1] = {kt_spdy_header_str("Connection", "close")};
	struct kt_spdy_header host[1] = {kt_spdy_header_str("host", "x")};
	KT_CHECK_INT_EQ(kt_spdy_build_syn_stream(&b, def, 1, 0, 0, 0, empty, 1), -EINVAL);
	KT_CHECK_INT_EQ(kt_spdy_build_syn_stream(&b, def, 1, 0, 0, 0, space, 1), -EINVAL);
	KT_CHECK_INT_EQ(kt_spdy_build_syn_stream(&b, def, 1, 0, 0, 0, nul, 1), -EINVAL);
	KT_CHECK_INT_EQ(kt_spdy_build_syn_stream(&b, def, 1, 0, 0, 0, dup, 2), -EINVAL);
	KT_CHECK_INT_EQ(kt_spdy_build_syn_reply(&b, def, 1, 0, conn, 1), -EINVAL);
	KT_CHECK_INT_EQ(kt_spdy_build_syn_stream(&b, def, 1, 0, 0, 0, host, 1), -EINVAL);
	KT_CHECK_INT_EQ(kt_buf_len(&b), 0); /* nothing appended by any failure */

	/* None of that touched the zlib stream: a following block still decodes. */
	struct kt_spdy_inflater *inf = kt_spdy_inflater_new(0, 0);
	KT_REQUIRE(inf != NULL);
	KT_REQUIRE(kt_spdy_build_syn_reply(&b, def, 1, 0, host, 1) == 0); /* host ok in replies */
	struct kt_spdy_frame f;
	struct kt_spdy_headers h;
	size_t used;
	KT_REQUIRE(kt_spdy_parse(kt_buf_peek(&b), kt_buf_len(&b), 0, &f, &used) == 1);
	KT_CHECK_INT_EQ(kt_spdy_inflater_decode(inf, &f, &h), 0);
	KT_CHECK_INT_EQ(h.count, 1);
	kt_buf_fini(&b);
	kt_spdy_inflater_free(inf);
	kt_spdy_deflater_free(def);
	KT_CHECK(kt_spdy_deflater_new(10) == NULL);
}

KT_TEST(builders_lowercase_names_and_keep_values)
{
	struct kt_spdy_deflater *def = kt_spdy_deflater_new(1);
	struct kt_spdy_inflater *inf = kt_spdy_inflater_new(0, 0);
	KT_REQUIRE(def && inf);
	struct kt_buf b;
	kt_buf_init(&b, 1 << 16);
	struct kt_spdy_header hs[3] = {
	    kt_spdy_header_str("StreamType", "Data"), /* values keep their case */
	    {"X-Multi", 7, "one\0two", 7},
	    {"X-Empty", 7, "", 0},
	};
	KT_REQUIRE(kt_spdy_build_syn_stream(&b, def, 5, 3, 2, KT_SPDY_FLAG_FIN, hs, 3) == 0);
	struct kt_spdy_frame f;
	struct kt_spdy_headers h;
	size_t used;
	KT_REQUIRE(kt_spdy_parse(kt_buf_peek(&b), kt_buf_len(&b), 0, &f, &used) == 1);
	KT_CHECK_INT_EQ(f.stream_id, 5);
	KT_CHECK_INT_EQ(f.assoc_id, 3);
	KT_CHECK_INT_EQ(f.priority, 2);
	KT_CHECK_INT_EQ(f.flags, KT_SPDY_FLAG_FIN);
	KT_CHECK_INT_EQ(kt_buf_peek(&b)[16], 2 << 5);
	KT_REQUIRE(kt_spdy_inflater_decode(inf, &f, &h) == 0);
	KT_REQUIRE(h.count == 3);
	KT_CHECK_STR_EQ(h.pairs[0].name, "streamtype");
	KT_CHECK_INT_EQ(h.pairs[0].name_len, 10);
	KT_CHECK_STR_EQ(h.pairs[0].value, "Data");
	KT_CHECK_STR_EQ(h.pairs[1].name, "x-multi");
	KT_CHECK_INT_EQ(h.pairs[1].value_len, 7);
	KT_CHECK_MEM_EQ(h.pairs[1].value, "one\0two", 8); /* NUL-terminated after the value too */
	KT_CHECK_INT_EQ(h.pairs[2].value_len, 0);
	KT_CHECK_STR_EQ(h.pairs[2].value, "");

	char v[8];
	KT_CHECK_INT_EQ(kt_spdy_headers_get_str(&h, "x-multi", v, sizeof(v)), -EINVAL);
	KT_CHECK_INT_EQ(kt_spdy_headers_get_str(&h, "nope", v, sizeof(v)), -ENOENT);
	KT_CHECK_INT_EQ(kt_spdy_headers_get_str(&h, "streamtype", v, 4), -ENOSPC);
	KT_CHECK_INT_EQ(kt_spdy_headers_get_str(&h, "STREAMTYPE", v, 5), 0);
	KT_CHECK_STR_EQ(v, "Data");
	KT_CHECK(kt_spdy_headers_find(&h, "x-empty") == &h.pairs[2]);
	kt_buf_fini(&b);
	kt_spdy_inflater_free(inf);
	kt_spdy_deflater_free(def);
}

KT_TEST(builders_respect_buffer_limit)
{
	struct kt_spdy_deflater *def = kt_spdy_deflater_new(0);
	struct kt_spdy_inflater *inf = kt_spdy_inflater_new(0, 0);
	KT_REQUIRE(def && inf);
	struct kt_buf small;
	kt_buf_init(&small, 20);
	struct kt_spdy_header h1 = kt_spdy_header_str("port", "8080");
	KT_CHECK_INT_EQ(kt_spdy_build_syn_stream(&small, def, 1, 0, 0, 0, &h1, 1), -ENOBUFS);
	KT_CHECK_INT_EQ(kt_spdy_build_data(&small, 1, 0, "0123456789abcdef", 16), -ENOBUFS);
	KT_CHECK_INT_EQ(kt_spdy_build_ping(&small, 1), 0);
	KT_CHECK_INT_EQ(kt_spdy_build_goaway(&small, 1, 0), -ENOBUFS);
	KT_CHECK_INT_EQ(kt_spdy_build_data_header(&small, 1, 0, 100), 0);
	KT_CHECK_INT_EQ(kt_buf_len(&small), 20);
	kt_buf_fini(&small);

	/* The refused SYN_STREAM did not advance the zlib stream. */
	struct kt_buf b;
	kt_buf_init(&b, 1 << 16);
	KT_REQUIRE(kt_spdy_build_syn_stream(&b, def, 1, 0, 0, 0, &h1, 1) == 0);
	struct kt_spdy_frame f;
	struct kt_spdy_headers h;
	size_t used;
	KT_REQUIRE(kt_spdy_parse(kt_buf_peek(&b), kt_buf_len(&b), 0, &f, &used) == 1);
	KT_CHECK_INT_EQ(kt_spdy_inflater_decode(inf, &f, &h), 0);
	KT_CHECK_INT_EQ(h.count, 1);
	kt_buf_fini(&b);
	kt_spdy_inflater_free(inf);
	kt_spdy_deflater_free(def);
}

KT_TEST(data_header_variants)
{
	uint8_t hdr[8];
	KT_CHECK_INT_EQ(kt_spdy_data_header(hdr, 0x7fffffff, KT_SPDY_FLAG_FIN, 0xffffff), 0);
	KT_CHECK_MEM_EQ(hdr, "\x7f\xff\xff\xff\x01\xff\xff\xff", 8);
	struct kt_buf a, b;
	kt_buf_init(&a, 1 << 16);
	kt_buf_init(&b, 1 << 16);
	KT_CHECK_INT_EQ(kt_spdy_build_data_header(&a, 9, 0, 5), 0);
	KT_CHECK_INT_EQ(kt_buf_append(&a, "hello", 5), 0);
	KT_CHECK_INT_EQ(kt_spdy_build_data(&b, 9, 0, "hello", 5), 0);
	KT_CHECK_INT_EQ(kt_buf_len(&a), 13);
	KT_CHECK_INT_EQ(kt_buf_len(&b), 13);
	KT_CHECK_MEM_EQ(kt_buf_peek(&a), kt_buf_peek(&b), 13);
	KT_CHECK_MEM_EQ(kt_buf_peek(&a), "\0\0\0\x09\0\0\0\x05hello", 13);
	kt_buf_fini(&a);
	kt_buf_fini(&b);
}

KT_TEST(settings_and_window_update_bytes)
{
	struct kt_buf b;
	kt_buf_init(&b, 1 << 16);
	struct kt_spdy_setting s = {KT_SPDY_SETTINGS_PERSIST_VALUE, 7, 0x10000};
	KT_CHECK_INT_EQ(kt_spdy_build_settings(&b, 0, &s, 1), 0);
	KT_CHECK(buf_eq_hex(&b, "800300040000000c000000010100000700010000"));
	kt_buf_clear(&b);
	KT_CHECK_INT_EQ(kt_spdy_build_settings(&b, 0, NULL, 0), 0);
	KT_CHECK(buf_eq_hex(&b, "800300040000000400000000"));
	kt_buf_clear(&b);
	KT_CHECK_INT_EQ(kt_spdy_build_window_update(&b, 0, 0x7fffffff), 0);
	KT_CHECK(buf_eq_hex(&b, "8003000900000008000000007fffffff"));
	struct kt_spdy_frame f;
	size_t used;
	KT_REQUIRE(kt_spdy_parse(kt_buf_peek(&b), kt_buf_len(&b), 0, &f, &used) == 1);
	KT_CHECK_INT_EQ(f.type, KT_SPDY_WINDOW_UPDATE);
	KT_CHECK_INT_EQ(f.stream_id, 0);
	KT_CHECK_INT_EQ(f.delta, 0x7fffffff);
	struct kt_spdy_setting out;
	KT_CHECK_INT_EQ(kt_spdy_settings_entry(&f, 0, &out), -EINVAL); /* not SETTINGS */
	kt_buf_fini(&b);
}

KT_TEST_MAIN()
