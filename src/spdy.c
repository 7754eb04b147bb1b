/* spdy.c: SPDY/3.1 frame parser, header-block zlib streams and frame builders (see spdy.h).
 *
 * Layouts and validation follow moby/spdystream (spdy/read.go, spdy/write.go, spdy/types.go)
 * as summarised in protocol.md section 2.4, with these deliberate differences, all of which
 * only refuse input a Go peer would also choke on: the version must be 3; a control frame's
 * length must match its type exactly (Go reads fixed fields and silently desynchronises
 * otherwise); decompressed bytes left over after the name/value block are an error (Go would
 * misparse the next block); header names must be printable ASCII.
 *
 * Ownership: the inflater owns one output buffer (max block + 2 bytes) and one pair array,
 * both reused for every block; decoded headers point into them. The deflater owns one scratch
 * buffer for the uncompressed block. Builders compress straight into space reserved in the
 * caller's kt_buf and commit only once the frame is complete. */
#define ZLIB_CONST
#include "spdy.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <zlib.h>

#include "buf.h"

/* ---- dictionary self-check ---- */

static int dict_state; /* 0 = not checked yet, 1 = good, -1 = bad */

int kt_spdy_dict_check(void)
{
	if (dict_state == 0) {
		uLong a = adler32(0L, Z_NULL, 0);
		a = adler32(a, kt_spdy_dict, (uInt)kt_spdy_dict_len);
		dict_state =
		    kt_spdy_dict_len == KT_SPDY_DICT_LEN && a == KT_SPDY_DICT_ADLER32 ? 1 : -1;
	}
	return dict_state > 0 ? 0 : -EINVAL;
}

/* ---- frame parser ---- */

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int fail(struct kt_spdy_frame *f, int err, const char *why)
{
	f->error = why;
	return err;
}

static bool type_known(uint16_t t)
{
	/* 5 (NOOP, SPDY/2 only) and 10 (CREDENTIAL) have no constructor in spdystream's
	 * cframeCtor, so ReadFrame fails on them (spdy/read.go newControlFrame). */
	return (t >= KT_SPDY_SYN_STREAM && t <= KT_SPDY_SETTINGS) ||
	       (t >= KT_SPDY_PING && t <= KT_SPDY_WINDOW_UPDATE);
}

/* Length and flag rules that the 8-byte header alone decides. */
static int check_control_header(struct kt_spdy_frame *f)
{
	uint32_t l = f->length;
	switch (f->type) {
	case KT_SPDY_SYN_STREAM:
		/* 10 fixed bytes, then a header block that can never be empty: even an empty
		 * name/value block compresses to several bytes, and spdystream rejects a
		 * zero-length one (WrongCompressedPayloadSize). */
		if (l <= 10)
			return fail(f, -EPROTO, "SYN_STREAM too short");
		break;
	case KT_SPDY_SYN_REPLY:
	case KT_SPDY_HEADERS:
		if (l <= 4)
			return fail(f, -EPROTO, "SYN_REPLY/HEADERS too short");
		break;
	case KT_SPDY_RST_STREAM:
		if (l != 8)
			return fail(f, -EPROTO, "RST_STREAM length is not 8");
		break;
	case KT_SPDY_SETTINGS:
		if (l < 4 || (l - 4) % 8 != 0)
			return fail(f, -EPROTO, "SETTINGS length is not 4 + 8n");
		break;
	case KT_SPDY_PING:
		if (l != 4)
			return fail(f, -EPROTO, "PING length is not 4");
		if (f->flags)
			return fail(f, -EPROTO, "PING with flags");
		break;
	case KT_SPDY_GOAWAY:
		if (l != 8)
			return fail(f, -EPROTO, "GOAWAY length is not 8");
		if (f->flags)
			return fail(f, -EPROTO, "GOAWAY with flags");
		break;
	case KT_SPDY_WINDOW_UPDATE:
		if (l != 8)
			return fail(f, -EPROTO, "WINDOW_UPDATE length is not 8");
		if (f->flags)
			return fail(f, -EPROTO, "WINDOW_UPDATE with flags");
		break;
	}
	return 1;
}

int kt_spdy_parse_header(const void *p, size_t len, uint32_t max_length, struct kt_spdy_frame *f)
{
	const uint8_t *b = p;
	*f = (struct kt_spdy_frame){0};
	if (max_length == 0 || max_length > KT_SPDY_MAX_LENGTH)
		max_length = KT_SPDY_MAX_LENGTH;
	if (len < 1)
		return 0;
	f->control = b[0] & 0x80;
	if (f->control) {
		if (len < 2)
			return 0;
		if ((((unsigned)b[0] & 0x7f) << 8 | b[1]) != KT_SPDY_VERSION)
			return fail(f, -EPROTO, "SPDY version is not 3");
		if (len < 4)
			return 0;
		f->type = (uint16_t)(b[2] << 8 | b[3]);
		if (!type_known(f->type))
			return fail(f, -EPROTO, "unknown control frame type");
	}
	if (len < KT_SPDY_HDR_LEN)
		return 0;
	f->flags = b[4];
	f->length = (uint32_t)b[5] << 16 | (uint32_t)b[6] << 8 | b[7];
	if (f->length > max_length)
		return fail(f, -EMSGSIZE, "frame longer than the configured maximum");
	if (!f->control) {
		f->stream_id = be32(b) & KT_SPDY_MAX_STREAM_ID;
		if (f->stream_id == 0)
			return fail(f, -EPROTO, "DATA frame on stream 0");
		return 1;
	}
	return check_control_header(f);
}

int kt_spdy_parse(const void *p, size_t len, uint32_t max_length, struct kt_spdy_frame *f,
		  size_t *consumed)
{
	int rc = kt_spdy_parse_header(p, len, max_length, f);
	if (rc <= 0)
		return rc;
	if (len - KT_SPDY_HDR_LEN < f->length)
		return 0;
	const uint8_t *q = (const uint8_t *)p + KT_SPDY_HDR_LEN;

	/* The X bit in front of every 31-bit id is reserved; receivers ignore it. */
	if (!f->control) {
		f->payload = q;
		f->payload_len = f->length;
		*consumed = KT_SPDY_HDR_LEN + f->length;
		return 1;
	}
	switch (f->type) {
	case KT_SPDY_SYN_STREAM:
		f->stream_id = be32(q) & KT_SPDY_MAX_STREAM_ID;
		f->assoc_id = be32(q + 4) & KT_SPDY_MAX_STREAM_ID;
		f->priority = q[8] >> 5; /* spdystream writes priority << 5 */
		f->slot = q[9];
		f->hb = q + 10;
		f->hb_len = f->length - 10;
		if (f->stream_id == 0)
			return fail(f, -EPROTO, "SYN_STREAM on stream 0");
		break;
	case KT_SPDY_SYN_REPLY:
	case KT_SPDY_HEADERS:
		f->stream_id = be32(q) & KT_SPDY_MAX_STREAM_ID;
		f->hb = q + 4;
		f->hb_len = f->length - 4;
		if (f->stream_id == 0)
			return fail(f, -EPROTO, "SYN_REPLY/HEADERS on stream 0");
		break;
	case KT_SPDY_RST_STREAM:
		f->stream_id = be32(q) & KT_SPDY_MAX_STREAM_ID;
		f->status = be32(q + 4);
		if (f->status == 0)
			return fail(f, -EPROTO, "RST_STREAM with status 0");
		if (f->stream_id == 0)
			return fail(f, -EPROTO, "RST_STREAM on stream 0");
		break;
	case KT_SPDY_SETTINGS:
		f->settings_count = be32(q);
		if (f->settings_count != (f->length - 4) / 8)
			return fail(f, -EPROTO, "SETTINGS count does not match its length");
		f->payload = q + 4;
		f->payload_len = f->length - 4;
		break;
	case KT_SPDY_PING:
		f->ping_id = be32(q);
		if (f->ping_id == 0)
			return fail(f, -EPROTO, "PING id 0");
		break;
	case KT_SPDY_GOAWAY:
		f->last_good_id = be32(q) & KT_SPDY_MAX_STREAM_ID;
		f->status = be32(q + 4);
		break;
	case KT_SPDY_WINDOW_UPDATE:
		f->stream_id = be32(q) & KT_SPDY_MAX_STREAM_ID;
		f->delta = be32(q + 4) & 0x7fffffffu;
		break;
	}
	*consumed = KT_SPDY_HDR_LEN + f->length;
	return 1;
}

int kt_spdy_settings_entry(const struct kt_spdy_frame *f, uint32_t i, struct kt_spdy_setting *out)
{
	if (!f->control || f->type != KT_SPDY_SETTINGS || i >= f->settings_count)
		return -EINVAL;
	const uint8_t *e = f->payload + (size_t)i * 8;
	out->flags = e[0];
	out->id = be32(e) & 0xffffff;
	out->value = be32(e + 4);
	return 0;
}

/* ---- header names ---- */

static bool ascii_ieq(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x + 32);
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y + 32);
		if (x != y)
			return false;
	}
	return true;
}

/* spdystream refuses these hop-by-hop headers (spdy/types.go invalidReqHeaders and
 * invalidRespHeaders): "host" only in requests, i.e. SYN_STREAM and HEADERS on an even
 * stream id (spdy/read.go readHeadersFrame picks the set by stream-id parity). */
static bool name_forbidden(const char *name, size_t len, uint16_t type, uint32_t stream_id)
{
	static const char *const always[] = {"connection", "keep-alive", "proxy-connection",
					     "transfer-encoding"};
	for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++)
		if (ascii_ieq(name, len, always[i], strlen(always[i])))
			return true;
	bool request =
	    type == KT_SPDY_SYN_STREAM || (type == KT_SPDY_HEADERS && stream_id % 2 == 0);
	return request && ascii_ieq(name, len, "host", 4);
}

/* A name byte is acceptable on the wire when it is printable ASCII and not upper-case
 * (spdystream: a name that is not lower-case fails the frame and the connection). */
static bool name_byte_ok(unsigned char c)
{
	return c > 0x20 && c < 0x7f && !(c >= 'A' && c <= 'Z');
}

const struct kt_spdy_header *kt_spdy_headers_find(const struct kt_spdy_headers *h, const char *name)
{
	size_t len = strlen(name);
	for (size_t i = 0; i < h->count; i++)
		if (ascii_ieq(h->pairs[i].name, h->pairs[i].name_len, name, len))
			return &h->pairs[i];
	return NULL;
}

int kt_spdy_headers_get_str(const struct kt_spdy_headers *h, const char *name, char *dst,
			    size_t dstsz)
{
	const struct kt_spdy_header *p = kt_spdy_headers_find(h, name);
	if (!p)
		return -ENOENT;
	if (memchr(p->value, '\0', p->value_len))
		return -EINVAL;
	if (dstsz == 0 || p->value_len > dstsz - 1)
		return -ENOSPC;
	memcpy(dst, p->value, p->value_len);
	dst[p->value_len] = '\0';
	return 0;
}

/* ---- inflater ---- */

struct kt_spdy_inflater {
	z_stream z;
	bool z_live; /* inflateInit succeeded */
	bool dead;   /* an error left the zlib stream out of sync */
	size_t max_out;
	size_t max_pairs;
	uint8_t *out; /* max_out + 2: one byte to detect overflow, one for the final NUL */
	struct kt_spdy_header *pairs;
	size_t pairs_cap;
};

struct kt_spdy_inflater *kt_spdy_inflater_new(size_t max_decompressed, size_t max_pairs)
{
	if (kt_spdy_dict_check() < 0) {
		errno = EINVAL;
		return NULL;
	}
	if (max_decompressed == 0)
		max_decompressed = KT_SPDY_DEFAULT_MAX_HB;
	if (max_pairs == 0)
		max_pairs = KT_SPDY_DEFAULT_MAX_PAIRS;
	/* zlib counts output space in a uInt. */
	if (max_decompressed > (UINT_MAX >> 1) ||
	    max_pairs > SIZE_MAX / sizeof(struct kt_spdy_header)) {
		errno = EINVAL;
		return NULL;
	}
	struct kt_spdy_inflater *inf = calloc(1, sizeof(*inf));
	if (!inf)
		return NULL;
	inf->max_out = max_decompressed;
	inf->max_pairs = max_pairs;
	inf->out = malloc(max_decompressed + 2);
	if (!inf->out)
		goto fail;
	if (inflateInit(&inf->z) != Z_OK)
		goto fail;
	inf->z_live = true;
	return inf;
fail:
	kt_spdy_inflater_free(inf);
	errno = ENOMEM;
	return NULL;
}

void kt_spdy_inflater_free(struct kt_spdy_inflater *inf)
{
	if (!inf)
		return;
	if (inf->z_live)
		inflateEnd(&inf->z);
	free(inf->out);
	free(inf->pairs);
	free(inf);
}

/* Runs one compressed block through the connection's zlib stream into inf->out. */
static int inflate_block(struct kt_spdy_inflater *inf, const uint8_t *in, size_t len, size_t *n)
{
	z_stream *z = &inf->z;
	z->next_in = in;
	z->avail_in = (uInt)len; /* len < 2^24: it came from a 24-bit frame length */
	z->next_out = inf->out;
	z->avail_out = (uInt)(inf->max_out + 1);
	int rc;
	for (;;) {
		/* Z_SYNC_FLUSH: hand out everything this block's bytes decode to. */
		rc = inflate(z, Z_SYNC_FLUSH);
		if (rc != Z_NEED_DICT)
			break;
		/* The stream's header named a preset dictionary (FDICT); zlib checks that its
		 * Adler-32 matches ours and fails with Z_DATA_ERROR when it does not. */
		if (inflateSetDictionary(z, kt_spdy_dict, (uInt)kt_spdy_dict_len) != Z_OK)
			return -EPROTO;
	}
	/* Z_BUF_ERROR only means "no further progress": judged by the counts below.
	 * Z_STREAM_END is an error too: the zlib stream must run for the whole connection,
	 * so a peer that ends it could never send another header block. */
	if (rc != Z_OK && rc != Z_BUF_ERROR)
		return -EPROTO;
	size_t produced = inf->max_out + 1 - z->avail_out;
	if (produced > inf->max_out)
		return -EMSGSIZE;
	/* spdy/read.go: the compressed block must be used up exactly ("compressed payload size
	 * was incorrect"). */
	if (z->avail_in != 0)
		return -EPROTO;
	*n = produced;
	return 0;
}

/* Parses the decompressed name/value block in inf->out[0..n) (SPDY/3: all counts and lengths
 * are 32-bit, spdy/read.go parseHeaderValueBlock). Each name and value is NUL-terminated in
 * place by overwriting the first byte of the length field that follows it, once that field
 * has been read; the last value's NUL goes into the spare byte at out[n]. */
static int parse_block(struct kt_spdy_inflater *inf, size_t n, const struct kt_spdy_frame *f,
		       struct kt_spdy_headers *res)
{
	struct kt_rd r = kt_rd_make(inf->out, n);
	uint32_t count = kt_rd_u32be(&r);
	if (r.err)
		return -EPROTO;
	if (count > inf->max_pairs)
		return -EMSGSIZE;
	/* Every pair takes at least 9 bytes (two lengths and a non-empty name), so a count the
	 * block cannot hold is refused before anything is allocated for it. */
	if (count > kt_rd_left(&r) / 9)
		return -EPROTO;
	if (count > inf->pairs_cap) {
		struct kt_spdy_header *np = realloc(inf->pairs, count * sizeof(*np));
		if (!np)
			return -ENOMEM;
		inf->pairs = np;
		inf->pairs_cap = count;
	}

	size_t nul_at = SIZE_MAX; /* offset still owed a NUL, once the field there is read */
	for (uint32_t i = 0; i < count; i++) {
		uint32_t nl = kt_rd_u32be(&r);
		if (nul_at != SIZE_MAX)
			inf->out[nul_at] = '\0';
		size_t name_off = r.off;
		const uint8_t *name = kt_rd_bytes(&r, nl);
		uint32_t vl = kt_rd_u32be(&r);
		size_t value_off = r.off;
		const uint8_t *value = kt_rd_bytes(&r, vl);
		if (!name || !value)
			return -EPROTO;
		if (nl == 0)
			return -EPROTO;
		for (uint32_t k = 0; k < nl; k++)
			if (!name_byte_ok(name[k]))
				return -EPROTO;
		inf->out[name_off + nl] = '\0'; /* first byte of the value length, already read */
		nul_at = value_off + vl;

		const char *nm = (const char *)inf->out + name_off;
		for (uint32_t j = 0; j < i; j++)
			if (inf->pairs[j].name_len == nl && memcmp(inf->pairs[j].name, nm, nl) == 0)
				return -EPROTO; /* duplicate name */
		if (name_forbidden(nm, nl, f->type, f->stream_id))
			return -EPROTO;
		inf->pairs[i] =
		    (struct kt_spdy_header){nm, nl, (const char *)inf->out + value_off, vl};
	}
	/* Leftover decompressed bytes would be read as the start of the next block. */
	if (kt_rd_left(&r) != 0)
		return -EPROTO;
	if (nul_at != SIZE_MAX)
		inf->out[nul_at] = '\0';
	res->pairs = inf->pairs;
	res->count = count;
	return 0;
}

int kt_spdy_inflater_decode(struct kt_spdy_inflater *inf, const struct kt_spdy_frame *f,
			    struct kt_spdy_headers *out)
{
	if (!f->control || !f->hb ||
	    (f->type != KT_SPDY_SYN_STREAM && f->type != KT_SPDY_SYN_REPLY &&
	     f->type != KT_SPDY_HEADERS))
		return -EINVAL;
	if (inf->dead)
		return -EPROTO;
	size_t n = 0;
	int rc = inflate_block(inf, f->hb, f->hb_len, &n);
	if (rc == 0)
		rc = parse_block(inf, n, f, out);
	if (rc < 0) {
		/* Whatever went wrong, this block's bytes are gone from the stream, so no later
		 * block can be decoded: stay failed. */
		inf->dead = true;
		return -EPROTO;
	}
	return 0;
}

/* ---- deflater ---- */

struct kt_spdy_deflater {
	z_stream z;
	bool z_live;
	bool dead;
	uint8_t *plain; /* scratch: the uncompressed name/value block */
	size_t plain_cap;
};

struct kt_spdy_deflater *kt_spdy_deflater_new(int level)
{
	if (kt_spdy_dict_check() < 0) {
		errno = EINVAL;
		return NULL;
	}
	if (level == 0)
		level = Z_BEST_COMPRESSION; /* spdy/types.go NewFramer */
	if (level < 1 || level > 9) {
		errno = EINVAL;
		return NULL;
	}
	struct kt_spdy_deflater *def = calloc(1, sizeof(*def));
	if (!def)
		return NULL;
	if (deflateInit(&def->z, level) != Z_OK)
		goto fail;
	def->z_live = true;
	/* Prime the stream right after init, so the first block's zlib header carries FDICT
	 * and the dictionary's Adler-32 (protocol.md section 2.4, "zlib compression"). */
	if (deflateSetDictionary(&def->z, kt_spdy_dict, (uInt)kt_spdy_dict_len) != Z_OK)
		goto fail;
	return def;
fail:
	kt_spdy_deflater_free(def);
	errno = ENOMEM;
	return NULL;
}

void kt_spdy_deflater_free(struct kt_spdy_deflater *def)
{
	if (!def)
		return;
	if (def->z_live)
		deflateEnd(&def->z);
	free(def->plain);
	free(def);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_control_header(uint8_t *p, uint16_t type, uint8_t flags, uint32_t length)
{
	p[0] = 0x80;
	p[1] = KT_SPDY_VERSION;
	p[2] = (uint8_t)(type >> 8);
	p[3] = (uint8_t)type;
	put32(p + 4, (uint32_t)flags << 24 | length);
}

/* Serialises hdrs into def->plain (lower-casing names) after checking every name. */
static int serialize_block(struct kt_spdy_deflater *def, uint16_t type, uint32_t stream_id,
			   const struct kt_spdy_header *hdrs, size_t n, size_t *plain_len)
{
	if (n > UINT32_MAX)
		return -EINVAL;
	size_t total = 4;
	for (size_t i = 0; i < n; i++) {
		const struct kt_spdy_header *h = &hdrs[i];
		if (h->name_len == 0 || h->name_len > UINT32_MAX || h->value_len > UINT32_MAX)
			return -EINVAL;
		for (size_t k = 0; k < h->name_len; k++) {
			unsigned char c = (unsigned char)h->name[k];
			if (c >= 'A' && c <= 'Z')
				continue; /* lower-cased below */
			if (!name_byte_ok(c))
				return -EINVAL;
		}
		if (name_forbidden(h->name, h->name_len, type, stream_id))
			return -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (ascii_ieq(hdrs[j].name, hdrs[j].name_len, h->name, h->name_len))
				return -EINVAL;
		/* Anything near 2^24 cannot fit in a frame anyway; stop well before overflow. */
		if (h->name_len + h->value_len > KT_SPDY_MAX_LENGTH ||
		    total + 8 + h->name_len + h->value_len > KT_SPDY_MAX_LENGTH)
			return -EMSGSIZE;
		total += 8 + h->name_len + h->value_len;
	}
	if (total > def->plain_cap) {
		uint8_t *np = realloc(def->plain, total);
		if (!np)
			return -ENOMEM;
		def->plain = np;
		def->plain_cap = total;
	}
	uint8_t *p = def->plain;
	put32(p, (uint32_t)n);
	p += 4;
	for (size_t i = 0; i < n; i++) {
		const struct kt_spdy_header *h = &hdrs[i];
		put32(p, (uint32_t)h->name_len);
		p += 4;
		/* spdy/write.go writeHeaderValueBlock lower-cases every name on the way out. */
		for (size_t k = 0; k < h->name_len; k++) {
			unsigned char c = (unsigned char)h->name[k];
			*p++ = (uint8_t)(c >= 'A' && c <= 'Z' ? c + 32 : c);
		}
		put32(p, (uint32_t)h->value_len);
		p += 4;
		if (h->value_len)
			memcpy(p, h->value, h->value_len);
		p += h->value_len;
	}
	*plain_len = total;
	return 0;
}

/* Builds SYN_STREAM, SYN_REPLY or HEADERS: `fixed` bytes of type-specific fields (stream id
 * etc., already encoded) followed by the compressed block. */
static int build_hb_frame(struct kt_buf *out, struct kt_spdy_deflater *def, uint16_t type,
			  uint8_t flags, uint32_t stream_id, const uint8_t *fixed, size_t fixed_len,
			  const struct kt_spdy_header *hdrs, size_t n)
{
	if (def->dead)
		return -EPIPE;
	size_t plain_len = 0;
	int rc = serialize_block(def, type, stream_id, hdrs, n, &plain_len);
	if (rc < 0)
		return rc;

	/* Bound the compressed size before touching the zlib stream, so every failure up to
	 * the deflate() call leaves the stream as it was. deflateBound() covers a whole
	 * stream with header and trailer; the sync flush adds at most an empty stored block. */
	size_t bound = deflateBound(&def->z, (uLong)plain_len) + 16;
	if (fixed_len + bound > KT_SPDY_MAX_LENGTH)
		return -EMSGSIZE;
	size_t max_total = KT_SPDY_HDR_LEN + fixed_len + bound;
	if (max_total > kt_buf_room(out))
		return -ENOBUFS;
	uint8_t *dst = kt_buf_reserve(out, max_total);
	if (!dst)
		return -ENOMEM;

	z_stream *z = &def->z;
	z->next_in = def->plain;
	z->avail_in = (uInt)plain_len;
	z->next_out = dst + KT_SPDY_HDR_LEN + fixed_len;
	z->avail_out = (uInt)bound;
	/* Z_SYNC_FLUSH: every byte of this block goes into this frame, ending in 00 00 ff ff,
	 * and the stream continues into the next block (Go's zlib Writer.Flush). */
	rc = deflate(z, Z_SYNC_FLUSH);
	if (rc != Z_OK || z->avail_in != 0 || z->avail_out == 0) {
		/* Part of the block may be stuck inside zlib: the stream is unusable. */
		def->dead = true;
		return -EPIPE;
	}
	size_t clen = bound - z->avail_out;
	put_control_header(dst, type, flags, (uint32_t)(fixed_len + clen));
	memcpy(dst + KT_SPDY_HDR_LEN, fixed, fixed_len);
	kt_buf_commit(out, KT_SPDY_HDR_LEN + fixed_len + clen);
	return 0;
}

static bool sid_ok(uint32_t sid)
{
	return sid != 0 && sid <= KT_SPDY_MAX_STREAM_ID;
}

int kt_spdy_build_syn_stream(struct kt_buf *out, struct kt_spdy_deflater *def, uint32_t stream_id,
			     uint32_t assoc_id, uint8_t priority, uint8_t flags,
			     const struct kt_spdy_header *hdrs, size_t n)
{
	if (!sid_ok(stream_id) || assoc_id > KT_SPDY_MAX_STREAM_ID || priority > 7 ||
	    (flags & ~(KT_SPDY_FLAG_FIN | KT_SPDY_FLAG_UNIDIRECTIONAL)))
		return -EINVAL;
	uint8_t fixed[10];
	put32(fixed, stream_id);
	put32(fixed + 4, assoc_id);
	fixed[8] = (uint8_t)(priority << 5); /* 3-bit priority in the top bits */
	fixed[9] = 0;			     /* slot: no credential vector */
	return build_hb_frame(out, def, KT_SPDY_SYN_STREAM, flags, stream_id, fixed, sizeof(fixed),
			      hdrs, n);
}

int kt_spdy_build_syn_reply(struct kt_buf *out, struct kt_spdy_deflater *def, uint32_t stream_id,
			    uint8_t flags, const struct kt_spdy_header *hdrs, size_t n)
{
	if (!sid_ok(stream_id) || (flags & ~KT_SPDY_FLAG_FIN))
		return -EINVAL;
	uint8_t fixed[4];
	put32(fixed, stream_id);
	return build_hb_frame(out, def, KT_SPDY_SYN_REPLY, flags, stream_id, fixed, sizeof(fixed),
			      hdrs, n);
}

int kt_spdy_build_headers(struct kt_buf *out, struct kt_spdy_deflater *def, uint32_t stream_id,
			  uint8_t flags, const struct kt_spdy_header *hdrs, size_t n)
{
	if (!sid_ok(stream_id) || (flags & ~KT_SPDY_FLAG_FIN))
		return -EINVAL;
	uint8_t fixed[4];
	put32(fixed, stream_id);
	return build_hb_frame(out, def, KT_SPDY_HEADERS, flags, stream_id, fixed, sizeof(fixed),
			      hdrs, n);
}

/* A control frame with two 32-bit payload words (RST_STREAM, GOAWAY, WINDOW_UPDATE). */
static int build_two_words(struct kt_buf *out, uint16_t type, uint32_t a, uint32_t b)
{
	uint8_t fr[16];
	put_control_header(fr, type, 0, 8);
	put32(fr + 8, a);
	put32(fr + 12, b);
	return kt_buf_append(out, fr, sizeof(fr));
}

int kt_spdy_build_rst_stream(struct kt_buf *out, uint32_t stream_id, uint32_t status)
{
	/* spdy/write.go refuses stream 0 and status 0; so does the reader. */
	if (!sid_ok(stream_id) || status == 0)
		return -EINVAL;
	return build_two_words(out, KT_SPDY_RST_STREAM, stream_id, status);
}

int kt_spdy_build_ping(struct kt_buf *out, uint32_t ping_id)
{
	if (ping_id == 0)
		return -EINVAL;
	uint8_t fr[12];
	put_control_header(fr, KT_SPDY_PING, 0, 4);
	put32(fr + 8, ping_id);
	return kt_buf_append(out, fr, sizeof(fr));
}

int kt_spdy_build_goaway(struct kt_buf *out, uint32_t last_good_id, uint32_t status)
{
	if (last_good_id > KT_SPDY_MAX_STREAM_ID)
		return -EINVAL;
	return build_two_words(out, KT_SPDY_GOAWAY, last_good_id, status);
}

int kt_spdy_build_window_update(struct kt_buf *out, uint32_t stream_id, uint32_t delta)
{
	if (stream_id > KT_SPDY_MAX_STREAM_ID || delta == 0 || delta > 0x7fffffffu)
		return -EINVAL;
	return build_two_words(out, KT_SPDY_WINDOW_UPDATE, stream_id, delta);
}

int kt_spdy_build_settings(struct kt_buf *out, uint8_t flags, const struct kt_spdy_setting *s,
			   size_t n)
{
	if (flags & ~KT_SPDY_FLAG_CLEAR_SETTINGS)
		return -EINVAL;
	if (n > (KT_SPDY_MAX_LENGTH - 4) / 8)
		return -EMSGSIZE;
	for (size_t i = 0; i < n; i++)
		if (s[i].id > 0xffffff)
			return -EINVAL;
	size_t len = 4 + 8 * n;
	if (KT_SPDY_HDR_LEN + len > kt_buf_room(out))
		return -ENOBUFS;
	uint8_t *p = kt_buf_reserve(out, KT_SPDY_HDR_LEN + len);
	if (!p)
		return -ENOMEM;
	put_control_header(p, KT_SPDY_SETTINGS, flags, (uint32_t)len);
	put32(p + 8, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		put32(p + 12 + 8 * i, (uint32_t)s[i].flags << 24 | s[i].id);
		put32(p + 16 + 8 * i, s[i].value);
	}
	kt_buf_commit(out, KT_SPDY_HDR_LEN + len);
	return 0;
}

int kt_spdy_data_header(uint8_t hdr[KT_SPDY_HDR_LEN], uint32_t stream_id, uint8_t flags, size_t len)
{
	/* spdy/write.go writeDataFrame: stream id non-zero with the top bit clear, payload at
	 * most MaxDataLength. */
	if (!sid_ok(stream_id) || (flags & ~KT_SPDY_FLAG_FIN) || len > KT_SPDY_MAX_LENGTH)
		return -EINVAL;
	put32(hdr, stream_id);
	put32(hdr + 4, (uint32_t)flags << 24 | (uint32_t)len);
	return 0;
}

int kt_spdy_build_data_header(struct kt_buf *out, uint32_t stream_id, uint8_t flags, size_t len)
{
	uint8_t hdr[KT_SPDY_HDR_LEN];
	int rc = kt_spdy_data_header(hdr, stream_id, flags, len);
	if (rc < 0)
		return rc;
	return kt_buf_append(out, hdr, sizeof(hdr));
}

int kt_spdy_build_data(struct kt_buf *out, uint32_t stream_id, uint8_t flags, const void *payload,
		       size_t len)
{
	uint8_t hdr[KT_SPDY_HDR_LEN];
	int rc = kt_spdy_data_header(hdr, stream_id, flags, len);
	if (rc < 0)
		return rc;
	if (KT_SPDY_HDR_LEN + len > kt_buf_room(out))
		return -ENOBUFS;
	uint8_t *p = kt_buf_reserve(out, KT_SPDY_HDR_LEN + len);
	if (!p)
		return -ENOMEM;
	memcpy(p, hdr, sizeof(hdr));
	if (len)
		memcpy(p + KT_SPDY_HDR_LEN, payload, len);
	kt_buf_commit(out, KT_SPDY_HDR_LEN + len);
	return 0;
}
