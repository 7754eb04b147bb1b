/* base64.h: RFC 4648 section 4 base64 (standard alphabet, '=' padding), encode and strict decode.
 *
 * Used for the v4.base64.channel.k8s.io WebSocket subprotocol (protocol.md section 1.4), the
 * WebSocket accept key and kubeconfig *-data fields. Pure functions over caller-owned memory:
 * nothing here allocates except kt_base64_encode_buf, which appends to a caller-owned kt_buf.
 *
 * Decoding is strict: only the 64 alphabet characters, the input length (after optional
 * whitespace skipping) must be a multiple of 4, '=' may only appear as one or two final
 * characters, and the bits that padding leaves unused must be zero (RFC 4648 section 3.5
 * allows a decoder to insist on that; KT_BASE64_LAX_BITS turns that one check off, as Go's
 * encoding/base64 does not make it). */
#ifndef KT_BASE64_H
#define KT_BASE64_H

#include <stddef.h>
#include <stdint.h>

struct kt_buf;

/* Skip ASCII whitespace (space, \t, \n, \v, \f, \r) anywhere in the input, for PEM-ish text. */
#define KT_BASE64_SKIP_WS 0x1u
/* Accept non-zero bits in the last character before padding ("Zh==" decodes like "Zg=="). */
#define KT_BASE64_LAX_BITS 0x2u

/* Characters needed to encode n bytes, not counting a terminating NUL; SIZE_MAX on overflow. */
size_t kt_base64_encoded_len(size_t n);
/* Upper bound on the bytes that decoding n characters can produce. */
static inline size_t kt_base64_decoded_max(size_t n)
{
	return n / 4 * 3 + (n % 4 ? 3 : 0);
}

/* Encodes n bytes at src into dst as a NUL-terminated string. dstsz must be at least
 * kt_base64_encoded_len(n) + 1. Returns 0 or -ENOSPC (dst untouched). */
int kt_base64_encode(const void *src, size_t n, char *dst, size_t dstsz);
/* Appends the encoding of n bytes (no NUL) to out. 0, -ENOBUFS or -ENOMEM (out unchanged). */
int kt_base64_encode_buf(struct kt_buf *out, const void *src, size_t n);

/* Decodes n characters at src into dst (dstsz bytes) and stores the byte count in *outlen.
 * dst may be the same memory as src (decoding in place never overtakes the reader).
 * Returns 0, -EINVAL for malformed input or -ENOSPC when dst is too small; on error the
 * contents of dst are unspecified and *outlen is not written. */
int kt_base64_decode(const char *src, size_t n, uint8_t *dst, size_t dstsz, size_t *outlen,
		     unsigned flags);

#endif
