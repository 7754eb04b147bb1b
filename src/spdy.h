/* spdy.h: SPDY/3.1 framing as Kubernetes uses it (moby/spdystream semantics, protocol.md
 * section 2.4), for both ends of a connection.
 *
 * Three pieces:
 *  - kt_spdy_parse(): a stateless, zero-copy frame parser over a contiguous buffer. It reports
 *    "need more", a complete frame (fixed fields decoded, header block and payload pointing
 *    into the caller's buffer), or a protocol error. A prefix of a valid frame always reads
 *    as "need more", so callers can feed a byte stream that arrives in arbitrary pieces.
 *  - struct kt_spdy_inflater / kt_spdy_deflater: the two zlib streams of a connection (one per
 *    direction), primed with the SPDY/3 dictionary and never reset. Header blocks MUST go
 *    through them in wire order. After any error they stay failed: a zlib stream that lost
 *    sync cannot be recovered, so the connection has to be torn down (spdystream does too).
 *  - kt_spdy_build_*(): frame builders that append to a caller-owned struct kt_buf and
 *    append nothing when they fail. Only types 1-4 and 6-9 exist here (no NOOP, no
 *    CREDENTIAL: they kill a Go peer, protocol.md section 8 item 16).
 * Nothing here allocates per DATA frame; the inflater reuses one buffer for every block. */
#ifndef KT_SPDY_H
#define KT_SPDY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct kt_buf;

#define KT_SPDY_VERSION 3

/* Control frame types (moby/spdystream spdy/types.go). 5 (NOOP) and 10 (CREDENTIAL) are not
 * understood by spdystream and are rejected. */
enum {
	KT_SPDY_SYN_STREAM = 1,
	KT_SPDY_SYN_REPLY = 2,
	KT_SPDY_RST_STREAM = 3,
	KT_SPDY_SETTINGS = 4,
	KT_SPDY_PING = 6,
	KT_SPDY_GOAWAY = 7,
	KT_SPDY_HEADERS = 8,
	KT_SPDY_WINDOW_UPDATE = 9,
};

/* Flags. FIN applies to DATA, SYN_STREAM, SYN_REPLY and HEADERS. */
#define KT_SPDY_FLAG_FIN 0x01
#define KT_SPDY_FLAG_UNIDIRECTIONAL 0x02   /* SYN_STREAM */
#define KT_SPDY_FLAG_CLEAR_SETTINGS 0x01   /* SETTINGS */
#define KT_SPDY_SETTINGS_PERSIST_VALUE 0x1 /* per-entry SETTINGS flags */
#define KT_SPDY_SETTINGS_PERSISTED 0x2

/* RST_STREAM status codes (spdy/types.go); 0 is invalid. */
enum {
	KT_SPDY_PROTOCOL_ERROR = 1,
	KT_SPDY_INVALID_STREAM = 2,
	KT_SPDY_REFUSED_STREAM = 3,
	KT_SPDY_UNSUPPORTED_VERSION = 4,
	KT_SPDY_CANCEL = 5,
	KT_SPDY_INTERNAL_ERROR = 6,
	KT_SPDY_FLOW_CONTROL_ERROR = 7,
	KT_SPDY_STREAM_IN_USE = 8,
	KT_SPDY_STREAM_ALREADY_CLOSED = 9,
	KT_SPDY_INVALID_CREDENTIALS = 10,
	KT_SPDY_FRAME_TOO_LARGE = 11,
};

/* GOAWAY status codes. */
enum {
	KT_SPDY_GOAWAY_OK = 0,
	KT_SPDY_GOAWAY_PROTOCOL_ERROR = 1,
	KT_SPDY_GOAWAY_INTERNAL_ERROR = 2,
};

#define KT_SPDY_HDR_LEN 8	     /* every frame header, control or data */
#define KT_SPDY_MAX_LENGTH 0xffffffu /* 24-bit length field */
#define KT_SPDY_MAX_STREAM_ID 0x7fffffffu

/* A parsed frame. Pointers point into the buffer given to kt_spdy_parse(). */
struct kt_spdy_frame {
	bool control;
	uint16_t type; /* KT_SPDY_* control type; 0 for DATA */
	uint8_t flags;
	uint32_t length; /* payload bytes after the 8-byte header */

	uint32_t stream_id;    /* SYN_STREAM, SYN_REPLY, RST_STREAM, HEADERS, WINDOW_UPDATE, DATA */
	uint32_t assoc_id;     /* SYN_STREAM */
	uint8_t priority;      /* SYN_STREAM: 0 (highest) .. 7 */
	uint8_t slot;	       /* SYN_STREAM */
	uint32_t status;       /* RST_STREAM, GOAWAY */
	uint32_t last_good_id; /* GOAWAY */
	uint32_t ping_id;      /* PING */
	uint32_t delta;	       /* WINDOW_UPDATE: delta-window-size */
	uint32_t settings_count; /* SETTINGS: entries, read them with kt_spdy_settings_entry() */

	const uint8_t *hb; /* compressed header block (SYN_STREAM, SYN_REPLY, HEADERS) */
	size_t hb_len;
	const uint8_t *payload; /* DATA payload, or the raw SETTINGS payload */
	size_t payload_len;

	const char *error; /* after an error return: a static description for logs */
};

/* Parses one frame at the start of p[0..len). max_length bounds the payload length of any
 * frame (0 means KT_SPDY_MAX_LENGTH). Returns 1 with *f filled and *consumed = 8 + length,
 * 0 when more bytes are needed, -EMSGSIZE when the length exceeds max_length, or -EPROTO for
 * any other violation (f->error says which). */
int kt_spdy_parse(const void *p, size_t len, uint32_t max_length, struct kt_spdy_frame *f,
		  size_t *consumed);
/* Parses and checks only the 8-byte frame header (type, flags, length against the type and
 * max_length), leaving the payload fields unset. Same returns as kt_spdy_parse(); lets a
 * caller stream a large DATA payload instead of buffering it whole. */
int kt_spdy_parse_header(const void *p, size_t len, uint32_t max_length, struct kt_spdy_frame *f);

struct kt_spdy_setting {
	uint8_t flags; /* KT_SPDY_SETTINGS_PERSIST_VALUE / _PERSISTED */
	uint32_t id;   /* 24 bits */
	uint32_t value;
};
/* Entry i (< f->settings_count) of a parsed SETTINGS frame. 0 or -EINVAL. */
int kt_spdy_settings_entry(const struct kt_spdy_frame *f, uint32_t i, struct kt_spdy_setting *out);

/* One name/value pair. Decoded pairs point into the inflater; both strings are
 * NUL-terminated for convenience, but a value may itself contain NULs (several values joined
 * by "\0", spdy/types.go headerValueSeparator), so value_len is what counts. For the
 * builders, name_len and value_len are authoritative. */
struct kt_spdy_header {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/* A pair from two C strings, for the builders. */
static inline struct kt_spdy_header kt_spdy_header_str(const char *name, const char *value)
{
	return (struct kt_spdy_header){name, strlen(name), value, strlen(value)};
}

struct kt_spdy_headers {
	const struct kt_spdy_header *pairs;
	size_t count;
};

/* The pair named `name` (ASCII case-insensitive), or NULL. */
const struct kt_spdy_header *kt_spdy_headers_find(const struct kt_spdy_headers *h,
						  const char *name);
/* Copies the value of `name` into dst as a C string. 0, -ENOENT (absent), -EINVAL (the value
 * contains a NUL, i.e. several values) or -ENOSPC. */
int kt_spdy_headers_get_str(const struct kt_spdy_headers *h, const char *name, char *dst,
			    size_t dstsz);

/* Inflater: decodes the header blocks one peer sends, in order. */
#define KT_SPDY_DEFAULT_MAX_HB (64 * 1024) /* decompressed bytes per block */
#define KT_SPDY_DEFAULT_MAX_PAIRS 256
struct kt_spdy_inflater;
/* max_decompressed / max_pairs of 0 select the defaults above. NULL with errno ENOMEM on
 * allocation failure, or EINVAL when a limit is out of range (max_decompressed above 1 GiB)
 * or the embedded dictionary fails its self-check. */
struct kt_spdy_inflater *kt_spdy_inflater_new(size_t max_decompressed, size_t max_pairs);
void kt_spdy_inflater_free(struct kt_spdy_inflater *inf);
/* Decodes f's header block (f is a SYN_STREAM, SYN_REPLY or HEADERS from kt_spdy_parse()).
 * The result points into the inflater and stays valid until the next decode or free.
 * Enforced, as moby/spdystream spdy/read.go does: 32-bit counts and lengths, names
 * lower-case and non-empty (and here also printable ASCII), no duplicate names, the
 * compressed block consumed exactly and producing exactly one name/value block, no
 * hop-by-hop headers (connection, keep-alive, proxy-connection, transfer-encoding; plus host
 * in SYN_STREAM and in HEADERS on even stream ids). Also bounded: decompressed size and pair
 * count. Returns 0, -EINVAL (f carries no header block), or -EPROTO; after -EPROTO the
 * inflater is dead and every later call fails. */
int kt_spdy_inflater_decode(struct kt_spdy_inflater *inf, const struct kt_spdy_frame *f,
			    struct kt_spdy_headers *out);

/* Deflater: compresses the header blocks we send, in order. */
struct kt_spdy_deflater;
/* level: zlib level 1..9, or 0 for 9 (what spdystream uses; any level interoperates). NULL
 * with errno ENOMEM on allocation failure, or EINVAL for a bad level or a failed dictionary
 * self-check. */
struct kt_spdy_deflater *kt_spdy_deflater_new(int level);
void kt_spdy_deflater_free(struct kt_spdy_deflater *def);

/* Builders. All return 0, -EINVAL (bad argument: stream id 0 or above 2^31-1 where one is
 * required, bad header names, status 0, unknown flags, ...), -EMSGSIZE (the frame would not
 * fit the 24-bit length), -ENOBUFS (out's limit), -ENOMEM, or -EPIPE (the deflater failed
 * earlier and is unusable; the connection must be dropped). On error nothing is appended to out.
 * Header names are lower-cased on the way out; empty names, names with bytes outside printable
 * ASCII, duplicates and the hop-by-hop names above are refused, because a Go peer drops the
 * whole connection on them. */
int kt_spdy_build_syn_stream(struct kt_buf *out, struct kt_spdy_deflater *def, uint32_t stream_id,
			     uint32_t assoc_id, uint8_t priority, uint8_t flags,
			     const struct kt_spdy_header *hdrs, size_t n);
/* n == 0 sends the empty block (num_pairs = 0, four zero bytes before compression), which is
 * how a Kubernetes server accepts a stream. */
int kt_spdy_build_syn_reply(struct kt_buf *out, struct kt_spdy_deflater *def, uint32_t stream_id,
			    uint8_t flags, const struct kt_spdy_header *hdrs, size_t n);
int kt_spdy_build_headers(struct kt_buf *out, struct kt_spdy_deflater *def, uint32_t stream_id,
			  uint8_t flags, const struct kt_spdy_header *hdrs, size_t n);
int kt_spdy_build_rst_stream(struct kt_buf *out, uint32_t stream_id, uint32_t status);
int kt_spdy_build_ping(struct kt_buf *out, uint32_t ping_id);
int kt_spdy_build_goaway(struct kt_buf *out, uint32_t last_good_id, uint32_t status);
int kt_spdy_build_settings(struct kt_buf *out, uint8_t flags, const struct kt_spdy_setting *s,
			   size_t n);
/* stream_id 0 is the SPDY/3.1 session window; delta must be 1..2^31-1. */
int kt_spdy_build_window_update(struct kt_buf *out, uint32_t stream_id, uint32_t delta);
/* Writes an 8-byte DATA frame header into hdr, for a payload of len bytes that the caller
 * sends right after it (e.g. with writev, or appended separately). 0 or -EINVAL. */
int kt_spdy_data_header(uint8_t hdr[KT_SPDY_HDR_LEN], uint32_t stream_id, uint8_t flags,
			size_t len);
/* Appends the 8-byte DATA header to out; the caller appends len payload bytes next. */
int kt_spdy_build_data_header(struct kt_buf *out, uint32_t stream_id, uint8_t flags, size_t len);
/* Appends a whole DATA frame (header + payload). */
int kt_spdy_build_data(struct kt_buf *out, uint32_t stream_id, uint8_t flags, const void *payload,
		       size_t len);

/* The SPDY/3 header dictionary (SPDY draft 3 section 2.6.10.1), generated into spdy_dict.c
 * by scripts/gen-spdy-dict.sh from data/spdy3-header-dictionary.bin. */
#define KT_SPDY_DICT_LEN 1423
#define KT_SPDY_DICT_ADLER32 0xe3c6a7c2u
extern const uint8_t kt_spdy_dict[];
extern const size_t kt_spdy_dict_len;
/* Checks the embedded dictionary's length and Adler-32 (once). 0 or -EINVAL. */
int kt_spdy_dict_check(void);

#endif
