/* test_base64.c: base64 against RFC 4648 section 10, OpenSSL's encoder, and strictness rules. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base64.h"
#include "buf.h"
#include "kt_test.h"

static const struct {
	const char *plain, *enc;
} rfc4648[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static int dec(const char *s, uint8_t *out, size_t cap, size_t *n, unsigned flags)
{
	return kt_base64_decode(s, strlen(s), out, cap, n, flags);
}

KT_TEST(rfc4648_vectors_encode)
{
	for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		char out[16];
		size_t n = strlen(rfc4648[i].plain);
		KT_CHECK_INT_EQ(kt_base64_encoded_len(n), strlen(rfc4648[i].enc));
		KT_CHECK_INT_EQ(kt_base64_encode(rfc4648[i].plain, n, out, sizeof(out)), 0);
		KT_CHECK_STR_EQ(out, rfc4648[i].enc);
	}
}

KT_TEST(rfc4648_vectors_decode)
{
	for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		uint8_t out[16];
		size_t n = 99;
		KT_CHECK_INT_EQ(dec(rfc4648[i].enc, out, sizeof(out), &n, 0), 0);
		KT_CHECK_INT_EQ(n, strlen(rfc4648[i].plain));
		KT_CHECK_MEM_EQ(out, rfc4648[i].plain, n);
	}
}

KT_TEST(rejects_malformed)
{
	static const char *const bad[] = {
	    "Zg",	    /* padding missing */
	    "Zg=",	    /* padding short */
	    "Zm9",	    /* length not a multiple of 4 */
	    "Z===",	    /* too much padding */
	    "====",	    /* padding only */
	    "=Zg=",	    /* padding first */
	    "Zg=a",	    /* data after '=' inside the group */
	    "Zm9vYg==Zm9v", /* data after the padded group */
	    "Zm9vYg===",    /* extra '=' */
	    "Zm-v",	    /* base64url alphabet */
	    "Zm_v",	    /* base64url alphabet */
	    "Zm9v!A==",	    /* bad character */
	    "Zm 9v",	    /* whitespace without KT_BASE64_SKIP_WS */
	    "Zm9v\n",	    /* trailing newline without KT_BASE64_SKIP_WS */
	    "Zh==",	    /* non-zero bits under the padding */
	    "Zm9=",	    /* non-zero bits under the padding */
	    "Zm\x80v",	    /* non-ASCII */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t out[16];
		size_t n = 0;
		int rc = dec(bad[i], out, sizeof(out), &n, 0);
		if (rc != -EINVAL)
			KT_FAIL_("\"%s\" decoded (rc %d)", bad[i], rc);
	}
	uint8_t nul_in[4] = {'Z', 'g', '=', '\0'};
	uint8_t out[4];
	size_t n;
	KT_CHECK_INT_EQ(kt_base64_decode((const char *)nul_in, 4, out, sizeof(out), &n, 0),
			-EINVAL);
}

KT_TEST(lax_bits_flag)
{
	uint8_t out[4];
	size_t n = 0;
	KT_CHECK_INT_EQ(dec("Zh==", out, sizeof(out), &n, KT_BASE64_LAX_BITS), 0);
	KT_CHECK_INT_EQ(n, 1);
	KT_CHECK_INT_EQ(out[0], 'f');
	KT_CHECK_INT_EQ(dec("Zm9=", out, sizeof(out), &n, KT_BASE64_LAX_BITS), 0);
	KT_CHECK_INT_EQ(n, 2);
	KT_CHECK_MEM_EQ(out, "fo", 2);
	/* The flag relaxes nothing else. */
	KT_CHECK_INT_EQ(dec("Zg", out, sizeof(out), &n, KT_BASE64_LAX_BITS), -EINVAL);
}

KT_TEST(skip_whitespace)
{
	uint8_t out[64];
	size_t n = 0;
	KT_CHECK_INT_EQ(dec("Zm9v\nYmFy\r\n", out, sizeof(out), &n, KT_BASE64_SKIP_WS), 0);
	KT_CHECK_INT_EQ(n, 6);
	KT_CHECK_MEM_EQ(out, "foobar", 6);
	KT_CHECK_INT_EQ(dec(" Z g = = \t", out, sizeof(out), &n, KT_BASE64_SKIP_WS), 0);
	KT_CHECK_INT_EQ(n, 1);
	KT_CHECK_INT_EQ(out[0], 'f');
	KT_CHECK_INT_EQ(dec("\n\n", out, sizeof(out), &n, KT_BASE64_SKIP_WS), 0);
	KT_CHECK_INT_EQ(n, 0);
	/* A PEM-like body with 64-character lines. */
	const char *pem = "TWFueSBoYW5kcyBtYWtlIGxpZ2h0IHdvcmsuTWFueSBoYW5kcyBtYWtlIGxpZ2h0\n"
			  "IHdvcmsu\n";
	KT_CHECK_INT_EQ(dec(pem, out, sizeof(out), &n, KT_BASE64_SKIP_WS), 0);
	KT_CHECK_INT_EQ(n, 54);
	KT_CHECK_MEM_EQ(out, "Many hands make light work.Many hands make light work.", 54);
	/* Whitespace does not excuse anything else. */
	KT_CHECK_INT_EQ(dec("Zg==\nZg==", out, sizeof(out), &n, KT_BASE64_SKIP_WS), -EINVAL);
	KT_CHECK_INT_EQ(dec("Zm9\nv!", out, sizeof(out), &n, KT_BASE64_SKIP_WS), -EINVAL);
	KT_CHECK_INT_EQ(dec("Zm9 ", out, sizeof(out), &n, KT_BASE64_SKIP_WS), -EINVAL);
}

KT_TEST(output_space)
{
	uint8_t out[8];
	size_t n = 0;
	KT_CHECK_INT_EQ(dec("Zm9vYmFy", out, 5, &n, 0), -ENOSPC);
	KT_CHECK_INT_EQ(dec("Zm9vYmE=", out, 4, &n, 0), -ENOSPC);
	KT_CHECK_INT_EQ(dec("Zm9vYmE=", out, 5, &n, 0), 0);
	KT_CHECK_INT_EQ(n, 5);
	char enc[9];
	KT_CHECK_INT_EQ(kt_base64_encode("foobar", 6, enc, 8), -ENOSPC); /* no room for NUL */
	KT_CHECK_INT_EQ(kt_base64_encode("foobar", 6, enc, 9), 0);
	KT_CHECK_STR_EQ(enc, "Zm9vYmFy");
	KT_CHECK_INT_EQ(kt_base64_encoded_len(SIZE_MAX), SIZE_MAX);
	KT_CHECK_INT_EQ(kt_base64_decoded_max(8), 6);
	KT_CHECK_INT_EQ(kt_base64_decoded_max(9), 9);
}

KT_TEST(decode_in_place)
{
	char s[] = "TWFueSBoYW5kcyBtYWtl\nIGxpZ2h0IHdvcmsu";
	size_t n = 0;
	KT_CHECK_INT_EQ(
	    kt_base64_decode(s, strlen(s), (uint8_t *)s, sizeof(s), &n, KT_BASE64_SKIP_WS), 0);
	KT_CHECK_INT_EQ(n, 27);
	KT_CHECK_MEM_EQ(s, "Many hands make light work.", 27);
}

KT_TEST(encode_buf)
{
	struct kt_buf b;
	kt_buf_init(&b, 10);
	KT_CHECK_INT_EQ(kt_base64_encode_buf(&b, "foo", 3), 0);
	KT_CHECK_INT_EQ(kt_base64_encode_buf(&b, "", 0), 0);
	KT_CHECK_INT_EQ(kt_buf_len(&b), 4);
	KT_CHECK_INT_EQ(kt_base64_encode_buf(&b, "foob", 4), -ENOBUFS); /* 8 more > 6 left */
	KT_CHECK_INT_EQ(kt_buf_len(&b), 4);
	KT_CHECK_INT_EQ(kt_base64_encode_buf(&b, "fo", 2), 0);
	KT_CHECK_INT_EQ(kt_buf_len(&b), 8);
	KT_CHECK_MEM_EQ(kt_buf_peek(&b), "Zm9vZm8=", 8);
	kt_buf_fini(&b);
}

/* Every length 0..300 and every byte value, against OpenSSL's encoder as an independent
 * reference, then decoded back. */
KT_TEST(matches_openssl_and_round_trips)
{
	uint8_t in[300];
	char ours[404], ref[404 + 1];
	uint8_t back[300];
	srand(4648);
	for (size_t len = 0; len <= sizeof(in); len++) {
		for (size_t i = 0; i < len; i++)
			in[i] = (uint8_t)(len < 256 ? i + len : (unsigned)rand());
		KT_REQUIRE(kt_base64_encode(in, len, ours, sizeof(ours)) == 0);
		int rn = EVP_EncodeBlock((unsigned char *)ref, in, (int)len);
		KT_REQUIRE(rn >= 0);
		KT_CHECK_INT_EQ(strlen(ours), (size_t)rn);
		KT_CHECK_MEM_EQ(ours, ref, (size_t)rn);
		size_t n = 0;
		KT_REQUIRE(kt_base64_decode(ours, strlen(ours), back, sizeof(back), &n, 0) == 0);
		KT_CHECK_INT_EQ(n, len);
		KT_CHECK_MEM_EQ(back, in, len);
	}
}

KT_TEST_MAIN()
