/* wsframe.c: RFC 6455 frame headers, masking, close payloads and the accept key (see wsframe.h).
 *
 * Masking is on the path of every payload byte, so kt_ws_mask_copy() XORs eight bytes per
 * step with a key pattern pre-rotated to the chunk's offset (the key repeats every four bytes,
 * so an eight-byte step keeps the phase) and only the last < 8 bytes go one at a time. */
#include "wsframe.h"

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "base64.h"
#include "buf.h"

/* An unaligned, aliasing-safe 64-bit view: lets the mask loop load and store eight bytes at
 * any address without a memcpy call in unoptimised builds. */
typedef uint64_t kt_u64_unaligned __attribute__((aligned(1), may_alias));

static bool opcode_known(unsigned op)
{
	switch (op) {
	case KT_WS_OP_CONT:
	case KT_WS_OP_TEXT:
	case KT_WS_OP_BINARY:
	case KT_WS_OP_CLOSE:
	case KT_WS_OP_PING:
	case KT_WS_OP_PONG:
		return true;
	default:
		return false;
	}
}

int kt_ws_parse_header(const void *p, size_t len, const struct kt_ws_parse_opts *opts,
		       struct kt_ws_hdr *h)
{
	const uint8_t *b = p;
	if (len < 1)
		return 0;

	/* RFC 6455 section 5.2: RSV bits must be 0 unless an extension defines them, and an
	 * unknown opcode fails the connection. Section 5.5: control frames are never
	 * fragmented. These are all decided by the first byte. */
	uint8_t rsv = b[0] & 0x70, opcode = b[0] & 0x0f;
	bool fin = b[0] & 0x80;
	if (rsv & ~opts->allowed_rsv)
		return -EPROTO;
	if (!opcode_known(opcode))
		return -EPROTO;
	bool control = opcode & 0x8;
	if (control && !fin)
		return -EPROTO;
	if (len < 2)
		return 0;

	/* Section 5.1: a server closes on an unmasked client frame and a client closes on a
	 * masked server frame. */
	bool masked = b[1] & 0x80;
	if (masked != (opts->role == KT_WS_ROLE_SERVER))
		return -EPROTO;
	uint8_t len7 = b[1] & 0x7f;
	size_t need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (masked ? 4 : 0);
	if (len7 == 127 && len >= 3 && (b[2] & 0x80))
		return -EPROTO; /* section 5.2: the 64-bit length's top bit must be 0 */
	if (len < need)
		return 0;

	uint64_t plen = len7;
	size_t off = 2;
	if (len7 == 126) {
		plen = (uint64_t)b[2] << 8 | b[3];
		off = 4;
	} else if (len7 == 127) {
		plen = 0;
		for (int i = 0; i < 8; i++)
			plen = plen << 8 | b[2 + i];
		off = 10;
	}
	if (control && plen > KT_WS_MAX_CONTROL)
		return -EPROTO;
	if (opts->max_payload && plen > opts->max_payload)
		return -EMSGSIZE;

	h->fin = fin;
	h->rsv = rsv;
	h->opcode = opcode;
	h->masked = masked;
	if (masked)
		memcpy(h->mask, b + off, 4);
	else
		memset(h->mask, 0, 4);
	h->payload_len = plen;
	h->hdr_len = need;
	return 1;
}

int kt_ws_frag_check(struct kt_ws_frag *st, const struct kt_ws_hdr *h, uint8_t *msg_opcode)
{
	uint8_t op = h->opcode;
	if (op & 0x8) {
		/* Section 5.4: control frames may be injected in the middle of a message. */
		if (msg_opcode)
			*msg_opcode = op;
		return 0;
	}
	if (op == KT_WS_OP_CONT) {
		if (!st->in_message)
			return -EPROTO;
	} else {
		if (st->in_message)
			return -EPROTO;
		st->opcode = op;
	}
	st->in_message = !h->fin;
	if (msg_opcode)
		*msg_opcode = st->opcode;
	return 0;
}

void kt_ws_mask_copy(void *dst, const void *src, size_t n, const uint8_t key[4], uint64_t offset)
{
	uint8_t *d = dst;
	const uint8_t *s = src;
	uint8_t k[8];
	unsigned r = (unsigned)(offset & 3);
	for (unsigned i = 0; i < 8; i++)
		k[i] = key[(r + i) & 3];
	uint64_t k64 = *(const kt_u64_unaligned *)k;

	size_t i = 0;
	for (; n - i >= 32; i += 32) {
		uint64_t a = *(const kt_u64_unaligned *)(s + i);
		uint64_t b = *(const kt_u64_unaligned *)(s + i + 8);
		uint64_t c = *(const kt_u64_unaligned *)(s + i + 16);
		uint64_t e = *(const kt_u64_unaligned *)(s + i + 24);
		*(kt_u64_unaligned *)(d + i) = a ^ k64;
		*(kt_u64_unaligned *)(d + i + 8) = b ^ k64;
		*(kt_u64_unaligned *)(d + i + 16) = c ^ k64;
		*(kt_u64_unaligned *)(d + i + 24) = e ^ k64;
	}
	for (; n - i >= 8; i += 8)
		*(kt_u64_unaligned *)(d + i) = *(const kt_u64_unaligned *)(s + i) ^ k64;
	/* i is a multiple of 8 here, so k[j] still lines up with the payload position. */
	for (size_t j = 0; i < n; i++, j++)
		d[i] = s[i] ^ k[j];
}

void kt_ws_unmask(void *p, size_t n, const uint8_t key[4], uint64_t offset)
{
	kt_ws_mask_copy(p, p, n, key, offset);
}

int kt_ws_build_header(uint8_t *out, bool fin, unsigned rsv, unsigned opcode, uint64_t len,
		       const uint8_t *mask_key)
{
	if (!opcode_known(opcode) || (rsv & ~0x70u) || (len >> 63))
		return -EINVAL;
	if ((opcode & 0x8) && (!fin || len > KT_WS_MAX_CONTROL))
		return -EINVAL;
	out[0] = (uint8_t)((fin ? 0x80 : 0) | rsv | opcode);
	int n;
	if (len < 126) {
		out[1] = (uint8_t)len;
		n = 2;
	} else if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		n = 4;
	} else {
		out[1] = 127;
		for (int i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
		n = 10;
	}
	if (mask_key) {
		out[1] |= 0x80;
		memcpy(out + n, mask_key, 4);
		n += 4;
	}
	return n;
}

int kt_ws_append_header(struct kt_buf *out, bool fin, unsigned rsv, unsigned opcode, uint64_t len,
			const uint8_t *mask_key)
{
	uint8_t hdr[KT_WS_MAX_HDR];
	int n = kt_ws_build_header(hdr, fin, rsv, opcode, len, mask_key);
	if (n < 0)
		return n;
	return kt_buf_append(out, hdr, (size_t)n);
}

/* Section 7.4: codes an endpoint may put in a close frame. 1004-1006 and 1015 are reserved
 * or local-only, 1016-2999 are reserved for future RFCs, below 1000 is unused. 1012-1014 are
 * in the IANA registry (service restart, try again later, bad gateway) and are accepted. */
static bool close_code_ok(uint16_t code)
{
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
	       (code >= 3000 && code <= 4999);
}

bool kt_ws_utf8_valid(const void *p, size_t n)
{
	const uint8_t *s = p;
	size_t i = 0;
	while (i < n) {
		/* ASCII runs dominate; check eight bytes per step. */
		if (n - i >= 8 && !(*(const kt_u64_unaligned *)(s + i) & 0x8080808080808080ull)) {
			i += 8;
			continue;
		}
		uint8_t c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t extra;
		uint8_t lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
		if (c >= 0xc2 && c <= 0xdf) {
			extra = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			extra = 2;
			if (c == 0xe0)
				lo = 0xa0; /* overlong */
			else if (c == 0xed)
				hi = 0x9f; /* UTF-16 surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			extra = 3;
			if (c == 0xf0)
				lo = 0x90; /* overlong */
			else if (c == 0xf4)
				hi = 0x8f; /* above U+10FFFF */
		} else {
			return false;
		}
		if (n - i - 1 < extra)
			return false;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t k = 2; k <= extra; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
		i += 1 + extra;
	}
	return true;
}

int kt_ws_close_build(uint8_t *out, uint16_t code, const char *reason, size_t reason_len)
{
	if (!close_code_ok(code) || reason_len > KT_WS_MAX_CONTROL - 2)
		return -EINVAL;
	if (reason_len && !kt_ws_utf8_valid(reason, reason_len))
		return -EINVAL;
	out[0] = (uint8_t)(code >> 8);
	out[1] = (uint8_t)code;
	if (reason_len)
		memcpy(out + 2, reason, reason_len);
	return (int)(2 + reason_len);
}

int kt_ws_close_parse(const uint8_t *p, size_t len, uint16_t *code, const char **reason,
		      size_t *reason_len)
{
	if (len == 0) {
		/* Section 7.1.5: no status code in the frame is reported as 1005. */
		*code = KT_WS_CLOSE_NO_STATUS;
		*reason = "";
		*reason_len = 0;
		return 0;
	}
	if (len == 1 || len > KT_WS_MAX_CONTROL)
		return -EPROTO;
	uint16_t c = (uint16_t)(p[0] << 8 | p[1]);
	if (!close_code_ok(c))
		return -EPROTO;
	if (!kt_ws_utf8_valid(p + 2, len - 2))
		return -EPROTO;
	*code = c;
	*reason = (const char *)p + 2;
	*reason_len = len - 2;
	return 0;
}

/* RFC 6455 section 1.3: the GUID appended to the client's key. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

int kt_ws_accept_key(const char *key, size_t key_len, char out[KT_WS_ACCEPT_LEN + 1])
{
	/* Real keys are 24 characters; anything far longer is not a key worth hashing. */
	char cat[256 + sizeof(ws_guid)];
	if (key_len > 256)
		return -EINVAL;
	memcpy(cat, key, key_len);
	memcpy(cat + key_len, ws_guid, sizeof(ws_guid) - 1);

	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (EVP_Digest(cat, key_len + sizeof(ws_guid) - 1, md, &mdlen, EVP_sha1(), NULL) != 1 ||
	    mdlen != 20)
		return -EIO;
	return kt_base64_encode(md, mdlen, out, KT_WS_ACCEPT_LEN + 1) == 0 ? 0 : -EIO;
}

bool kt_ws_key_valid(const char *key, size_t key_len)
{
	uint8_t raw[18];
	size_t n = 0;
	/* 16 bytes encode to exactly 24 characters ending in "==". */
	if (key_len != 24)
		return false;
	return kt_base64_decode(key, key_len, raw, sizeof(raw), &n, 0) == 0 && n == 16;
}
