/* wsframe.h: RFC 6455 WebSocket framing, for both the server role (the fake API server) and
 * the client role (the daemon's port-forward client).
 *
 * Pure functions: the header parser looks at a caller-owned contiguous buffer and reports
 * "need more", a complete header, or a protocol error; it never reads past len and never
 * allocates. Payload bytes are not touched by the parser: callers unmask them in place with
 * kt_ws_unmask(), chunk by chunk, so a 1 GiB message never needs to be buffered whole.
 * The only stateful piece is struct kt_ws_frag, a two-field value that checks the
 * fragmentation rules of RFC 6455 section 5.4 across frames. */
#ifndef KT_WSFRAME_H
#define KT_WSFRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kt_buf;

/* RFC 6455 section 5.2 opcodes. */
enum {
	KT_WS_OP_CONT = 0x0,
	KT_WS_OP_TEXT = 0x1,
	KT_WS_OP_BINARY = 0x2,
	KT_WS_OP_CLOSE = 0x8,
	KT_WS_OP_PING = 0x9,
	KT_WS_OP_PONG = 0xa,
};

/* RSV bits as they sit in the first header byte; pass them in allowed_rsv when an extension
 * that defines them was negotiated (e.g. RSV1 for permessage-deflate). */
#define KT_WS_RSV1 0x40u
#define KT_WS_RSV2 0x20u
#define KT_WS_RSV3 0x10u

/* Largest frame header: 2 + 8 (64-bit length) + 4 (masking key). */
#define KT_WS_MAX_HDR 14
/* RFC 6455 section 5.5: control frames carry at most 125 payload bytes. */
#define KT_WS_MAX_CONTROL 125

/* Which end of the connection we are; it decides the masking rule for received frames
 * (RFC 6455 section 5.1: client-to-server frames are masked, server-to-client ones are not). */
enum kt_ws_role {
	KT_WS_ROLE_SERVER, /* we are the server: every received frame must be masked */
	KT_WS_ROLE_CLIENT, /* we are the client: no received frame may be masked */
};

struct kt_ws_parse_opts {
	enum kt_ws_role role;
	uint8_t allowed_rsv;  /* KT_WS_RSV* bits a peer may set; 0 = none (no extensions) */
	uint64_t max_payload; /* larger frames fail with -EMSGSIZE; 0 = no limit */
};

/* One parsed frame header. */
struct kt_ws_hdr {
	bool fin;
	uint8_t rsv;	/* the KT_WS_RSV* bits that were set */
	uint8_t opcode; /* KT_WS_OP_* */
	bool masked;
	uint8_t mask[4];      /* valid when masked */
	uint64_t payload_len; /* bytes of payload after the header */
	size_t hdr_len;	      /* header bytes: 2..14 */
};

/* Parses the frame header at the start of p[0..len). Returns 1 with *h filled when the
 * whole header is present (the payload need not be), 0 when more bytes are needed, -EPROTO
 * for a protocol violation and -EMSGSIZE for a payload above opts->max_payload. A prefix of
 * a valid header always returns 0; an error may be reported as soon as the offending byte is
 * seen. The minimal-length encoding rule is not enforced (RFC 6455 leaves that to senders). */
int kt_ws_parse_header(const void *p, size_t len, const struct kt_ws_parse_opts *opts,
		       struct kt_ws_hdr *h);

/* Fragmentation state of one direction (RFC 6455 section 5.4). Zero-initialise it. */
struct kt_ws_frag {
	bool in_message; /* a fragmented data message is open */
	uint8_t opcode;	 /* KT_WS_OP_TEXT or _BINARY of the open or last message */
};

/* Feeds one parsed header through the fragmentation rules: a continuation frame needs an
 * open message, a new text/binary frame must not start while one is open; control frames
 * may appear anywhere. On success, *msg_opcode (if not NULL) gets the opcode of the message
 * the frame belongs to (TEXT/BINARY for data frames, the frame's own opcode for control
 * frames). Returns 0 or -EPROTO. */
int kt_ws_frag_check(struct kt_ws_frag *st, const struct kt_ws_hdr *h, uint8_t *msg_opcode);

/* XORs n payload bytes in place with the masking key. `offset` is the position of p[0]
 * within the frame's payload, so a payload may be unmasked in chunks of any size. */
void kt_ws_unmask(void *p, size_t n, const uint8_t key[4], uint64_t offset);
/* Same, but writes the masked bytes to dst (dst may equal src). */
void kt_ws_mask_copy(void *dst, const void *src, size_t n, const uint8_t key[4], uint64_t offset);

/* Writes a frame header into out (at least KT_WS_MAX_HDR bytes) using the shortest length
 * encoding. mask_key NULL means unmasked (server role); otherwise the key is written and the
 * MASK bit set (client role; the caller masks the payload with kt_ws_mask_copy()). rsv is a
 * KT_WS_RSV* combination. Returns the header length (2..14) or -EINVAL for an unknown
 * opcode, a control frame without FIN or above 125 bytes, stray rsv bits, or a length with
 * the most significant bit set. */
int kt_ws_build_header(uint8_t *out, bool fin, unsigned rsv, unsigned opcode, uint64_t len,
		       const uint8_t *mask_key);
/* Appends such a header to out. 0, -EINVAL, -ENOBUFS or -ENOMEM (out unchanged on error). */
int kt_ws_append_header(struct kt_buf *out, bool fin, unsigned rsv, unsigned opcode, uint64_t len,
			const uint8_t *mask_key);

/* RFC 6455 section 7.4.1 status codes used by kubetun. */
#define KT_WS_CLOSE_NORMAL 1000
#define KT_WS_CLOSE_GOING_AWAY 1001
#define KT_WS_CLOSE_PROTOCOL_ERROR 1002
#define KT_WS_CLOSE_NO_STATUS 1005 /* never sent; reported for an empty close payload */
#define KT_WS_CLOSE_INVALID_DATA 1007
#define KT_WS_CLOSE_TOO_BIG 1009
#define KT_WS_CLOSE_INTERNAL_ERROR 1011

/* Builds a close payload (2-byte code + UTF-8 reason) into out, which must hold
 * KT_WS_MAX_CONTROL bytes. Returns the payload length, or -EINVAL when the code may not be
 * sent (section 7.4), the reason is over 123 bytes or it is not valid UTF-8. */
int kt_ws_close_build(uint8_t *out, uint16_t code, const char *reason, size_t reason_len);
/* Parses a received close payload. An empty payload gives code 1005 and an empty reason.
 * Returns 0, or -EPROTO for a 1-byte payload, a code that may not appear on the wire, a
 * payload over 125 bytes, or a reason that is not valid UTF-8 (section 8.1). The reason
 * points into p and is not NUL-terminated. */
int kt_ws_close_parse(const uint8_t *p, size_t len, uint16_t *code, const char **reason,
		      size_t *reason_len);

/* True when p[0..n) is well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF). */
bool kt_ws_utf8_valid(const void *p, size_t n);

/* Length of a Sec-WebSocket-Accept value, without the NUL. */
#define KT_WS_ACCEPT_LEN 28
/* RFC 6455 section 4.2.2: base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")) into
 * out as a NUL-terminated string. Returns 0 or -EINVAL (key too long) / -EIO (OpenSSL). */
int kt_ws_accept_key(const char *key, size_t key_len, char out[KT_WS_ACCEPT_LEN + 1]);
/* True when key is a valid Sec-WebSocket-Key: base64 of exactly 16 bytes (section 4.2.1). */
bool kt_ws_key_valid(const char *key, size_t key_len);

#endif
