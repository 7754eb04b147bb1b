/* fuzz_base64.c: base64 decode of arbitrary text, and encode->decode identity.
 *
 * Properties: strict decoding accepts only canonical text, so whatever it accepts re-encodes
 * to exactly the input (minus skipped whitespace); decoding in place gives the same bytes;
 * and encoding any bytes then decoding them is the identity. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

static int is_ws(uint8_t c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 16)
		return 0;
	const char *text = (const char *)data;
	/* Decoding `size` characters needs at most decoded_max(size) bytes; decoding the
	 * encoding of `size` bytes needs `size`. */
	size_t cap = kt_base64_decoded_max(size);
	size_t deccap = cap > size ? cap : size;
	uint8_t *dec = malloc(deccap + 1);
	uint8_t *inplace = malloc(size + 1);
	char *enc = malloc(kt_base64_encoded_len(size) + 1);
	char *stripped = malloc(size + 1);
	check(dec && inplace && enc && stripped);

	static const unsigned flag_sets[] = {0, KT_BASE64_SKIP_WS, KT_BASE64_LAX_BITS,
					     KT_BASE64_SKIP_WS | KT_BASE64_LAX_BITS};
	for (size_t k = 0; k < sizeof(flag_sets) / sizeof(flag_sets[0]); k++) {
		unsigned fl = flag_sets[k];
		size_t n = 0;
		int rc = kt_base64_decode(text, size, dec, cap, &n, fl);
		if (size)
			memcpy(inplace, data, size);
		size_t n2 = 0;
		int rc2 = kt_base64_decode((const char *)inplace, size, inplace, size, &n2, fl);
		check(rc == rc2);
		if (rc != 0)
			continue;
		check(n == n2 && n <= cap && memcmp(dec, inplace, n) == 0);
		if (fl & KT_BASE64_LAX_BITS)
			continue;
		/* Canonical: re-encoding reproduces the significant characters exactly. */
		size_t sl = 0;
		for (size_t i = 0; i < size; i++)
			if (!(fl & KT_BASE64_SKIP_WS) || !is_ws(data[i]))
				stripped[sl++] = (char)data[i];
		check(kt_base64_encode(dec, n, enc, kt_base64_encoded_len(size) + 1) == 0);
		check(strlen(enc) == sl && memcmp(enc, stripped, sl) == 0);
	}

	/* Arbitrary bytes: encode then decode is the identity. */
	size_t el = kt_base64_encoded_len(size);
	check(kt_base64_encode(data, size, enc, el + 1) == 0);
	check(strlen(enc) == el);
	size_t n = 0;
	check(kt_base64_decode(enc, el, dec, deccap, &n, 0) == 0);
	check(n == size && (size == 0 || memcmp(dec, data, size) == 0));

	free(stripped);
	free(enc);
	free(inplace);
	free(dec);
	return 0;
}
