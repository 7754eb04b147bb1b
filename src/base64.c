/* base64.c: RFC 4648 base64 encode and strict decode (see base64.h).
 *
 * Both directions work a whole group (3 bytes <-> 4 characters) per loop turn through lookup
 * tables, because the v4.base64 port-forward channel pushes every payload byte through here.
 * The decoder's fast loop takes groups of four alphabet characters; anything else (padding,
 * whitespace, a bad character) drops to a slow path that handles exactly one group and then
 * returns to the fast loop. */
#include "base64.h"

#include <errno.h>
#include <stdbool.h>

#include "buf.h"

static const char enc_tab[64] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Alphabet character -> 6-bit value; 0xff for every other byte, including '=' and whitespace. */
static const uint8_t dec_tab[256] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3e, 0xff, 0xff, 0xff, 0x3f,
    0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e,
    0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28,
    0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};

size_t kt_base64_encoded_len(size_t n)
{
	if (n > (SIZE_MAX - 3) / 4 * 3)
		return SIZE_MAX;
	return (n + 2) / 3 * 4;
}

/* dst must have room for kt_base64_encoded_len(n) characters. */
static void encode_raw(const uint8_t *s, size_t n, char *d)
{
	size_t i = 0;
	for (; n - i >= 3; i += 3, d += 4) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		d[0] = enc_tab[v >> 18];
		d[1] = enc_tab[(v >> 12) & 0x3f];
		d[2] = enc_tab[(v >> 6) & 0x3f];
		d[3] = enc_tab[v & 0x3f];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)s[i] << 16;
		d[0] = enc_tab[v >> 18];
		d[1] = enc_tab[(v >> 12) & 0x3f];
		d[2] = '=';
		d[3] = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
		d[0] = enc_tab[v >> 18];
		d[1] = enc_tab[(v >> 12) & 0x3f];
		d[2] = enc_tab[(v >> 6) & 0x3f];
		d[3] = '=';
	}
}

int kt_base64_encode(const void *src, size_t n, char *dst, size_t dstsz)
{
	size_t need = kt_base64_encoded_len(n);
	if (need == SIZE_MAX || dstsz <= need)
		return -ENOSPC;
	encode_raw(src, n, dst);
	dst[need] = '\0';
	return 0;
}

int kt_base64_encode_buf(struct kt_buf *out, const void *src, size_t n)
{
	size_t need = kt_base64_encoded_len(n);
	if (need == 0)
		return 0;
	if (need == SIZE_MAX || need > kt_buf_room(out))
		return -ENOBUFS;
	uint8_t *d = kt_buf_reserve(out, need);
	if (!d)
		return -ENOMEM;
	encode_raw(src, n, (char *)d);
	kt_buf_commit(out, need);
	return 0;
}

static bool is_ws(uint8_t c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

int kt_base64_decode(const char *src, size_t n, uint8_t *dst, size_t dstsz, size_t *outlen,
		     unsigned flags)
{
	const uint8_t *s = (const uint8_t *)src;
	bool skip_ws = flags & KT_BASE64_SKIP_WS;
	size_t i = 0, o = 0;

	for (;;) {
		/* Fast loop: four alphabet characters per turn, one OR to spot anything else. */
		while (n - i >= 4) {
			uint32_t a = dec_tab[s[i]], b = dec_tab[s[i + 1]], c = dec_tab[s[i + 2]],
				 d = dec_tab[s[i + 3]];
			if ((a | b | c | d) & 0x80)
				break;
			if (dstsz - o < 3)
				return -ENOSPC;
			uint32_t v = a << 18 | b << 12 | c << 6 | d;
			dst[o] = (uint8_t)(v >> 16);
			dst[o + 1] = (uint8_t)(v >> 8);
			dst[o + 2] = (uint8_t)v;
			i += 4;
			o += 3;
		}

		/* Slow path: gather one group of four significant characters. */
		uint8_t q[4];
		int nq = 0;
		while (nq < 4 && i < n) {
			uint8_t c = s[i++];
			if (skip_ws && is_ws(c))
				continue;
			if (dec_tab[c] == 0xff && c != '=')
				return -EINVAL;
			q[nq++] = c;
		}
		if (nq == 0)
			break; /* end of input, possibly after trailing whitespace */
		if (nq < 4)
			return -EINVAL; /* RFC 4648 section 3.2: padding is required */

		/* '=' may only fill the last one or two positions of the final group. */
		if (q[0] == '=' || q[1] == '=' || (q[2] == '=' && q[3] != '='))
			return -EINVAL;
		int pad = (q[2] == '=') + (q[3] == '=');
		uint32_t v = (uint32_t)dec_tab[q[0]] << 18 | (uint32_t)dec_tab[q[1]] << 12;
		if (pad < 2)
			v |= (uint32_t)dec_tab[q[2]] << 6;
		if (pad < 1)
			v |= dec_tab[q[3]];
		int nout = 3 - pad;
		if (dstsz - o < (size_t)nout)
			return -ENOSPC;
		/* RFC 4648 section 3.5: the bits the padding leaves unused must be zero in
		 * canonical encoding; a decoder may reject anything else. */
		if (pad && !(flags & KT_BASE64_LAX_BITS) && (v & (pad == 2 ? 0xffffu : 0xffu)))
			return -EINVAL;
		dst[o++] = (uint8_t)(v >> 16);
		if (nout > 1)
			dst[o++] = (uint8_t)(v >> 8);
		if (nout > 2)
			dst[o++] = (uint8_t)v;
		if (pad) {
			/* Padding ends the data: only skippable whitespace may follow. */
			for (; i < n; i++)
				if (!skip_ws || !is_ws(s[i]))
					return -EINVAL;
			break;
		}
	}
	*outlen = o;
	return 0;
}
