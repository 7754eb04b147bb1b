/* dbus.c: a minimal synchronous D-Bus client (see dbus.h).
 *
 * Every protocol fact here is from the D-Bus Specification (dbus.freedesktop.org/doc/
 * dbus-specification.html), cited by section name. Wire parsing goes through struct kt_rd, so a
 * read past the end of a message only sets the reader's sticky error. A received message is
 * checked whole (kt_dbus_msg_parse) before any caller reads its body.
 *
 * Ownership: struct kt_dbus owns its socket and its input queue; struct kt_dbus_reply owns the
 * buffer its parsed message points into. */
#include "dbus.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Input queue limit: one largest message plus what one read may bring of the next. */
#define IN_LIMIT (KT_DBUS_MAX_MSG + 16384)
/* Spec "Valid Signatures": at most 255 bytes, 32 nested arrays, 32 nested structs; "Marshaling":
 * at most 64 nested containers in all, variants included. */
#define MAX_SIG 255
#define MAX_ARRAY_DEPTH 32
#define MAX_STRUCT_DEPTH 32
#define MAX_DEPTH 64
/* Spec "Valid Names": every kind of name is at most 255 bytes. */
#define MAX_NAME 255

static size_t pad_for(size_t off, size_t align)
{
	return (align - (off & (align - 1))) & (align - 1);
}

/* Spec "Marshaling (Wire Format)", alignment column of the summary table. */
static size_t type_align(char t)
{
	switch (t) {
	case 'y':
	case 'g':
	case 'v':
		return 1;
	case 'n':
	case 'q':
		return 2;
	case 'b':
	case 'i':
	case 'u':
	case 'h':
	case 's':
	case 'o':
	case 'a':
		return 4;
	case 'x':
	case 't':
	case 'd':
	case '(':
	case '{':
		return 8;
	default:
		return 1;
	}
}

static bool is_basic(char c)
{
	return c != '\0' && strchr("ybnqiuxtdsogh", c) != NULL;
}

/* ---- Names and strings (spec "Valid Names", "Valid Object Paths", "Valid Signatures"). */

static bool is_alpha_(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

bool kt_dbus_path_valid(const char *p)
{
	if (p[0] != '/')
		return false;
	if (p[1] == '\0')
		return true;
	size_t elem = 0;
	for (const char *q = p + 1;; q++) {
		if (*q == '/' || *q == '\0') {
			if (elem == 0)
				return false; /* "//" or a trailing '/' */
			if (*q == '\0')
				return true;
			elem = 0;
		} else if (is_alpha_(*q) || is_digit(*q)) {
			elem++;
		} else {
			return false;
		}
	}
}

/* Members: [A-Za-z0-9_]+, not starting with a digit, at most 255 bytes. */
static bool member_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > MAX_NAME || is_digit(s[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alpha_(s[i]) && !is_digit(s[i]))
			return false;
	return true;
}

/* Interfaces and error names: two or more dot-separated elements of [A-Za-z0-9_], none empty
 * or starting with a digit. Bus names also allow '-'; unique names (":1.42") start with ':' and
 * their elements may start with a digit. */
static bool dotted_valid(const char *s, bool bus)
{
	size_t n = strlen(s), elems = 1, elem = 0;
	bool unique = bus && s[0] == ':';
	if (n == 0 || n > MAX_NAME)
		return false;
	for (size_t i = unique ? 1 : 0; i < n; i++) {
		char c = s[i];
		if (c == '.') {
			if (elem == 0)
				return false;
			elems++;
			elem = 0;
		} else if (is_alpha_(c) || (bus && c == '-') || (is_digit(c) && (elem || unique))) {
			elem++;
		} else {
			return false;
		}
	}
	return elem > 0 && elems >= 2;
}

static bool utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = s[i];
		if (c < 0x80) {
			if (c == 0)
				return false; /* spec: strings must not contain U+0000 */
			i++;
			continue;
		}
		size_t len;
		uint32_t cp, min;
		if ((c & 0xe0) == 0xc0) {
			len = 2, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		/* Overlong forms, UTF-16 surrogates and values past U+10FFFF are not UTF-8. */
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

/* One complete type at s: returns the position after it, or NULL if s does not start with a
 * valid complete type within the nesting limits. A dict entry is valid only as an array's
 * element, with a basic key and exactly one value type. */
static const char *sig_one(const char *s, int arrays, int structs)
{
	char c = *s;
	if (is_basic(c) || c == 'v')
		return s + 1;
	if (c == 'a') {
		if (arrays + 1 > MAX_ARRAY_DEPTH)
			return NULL;
		if (s[1] == '{') {
			if (structs + 1 > MAX_STRUCT_DEPTH || !is_basic(s[2]))
				return NULL;
			const char *p = sig_one(s + 3, arrays + 1, structs + 1);
			return p && *p == '}' ? p + 1 : NULL;
		}
		return sig_one(s + 1, arrays + 1, structs);
	}
	if (c == '(') {
		if (structs + 1 > MAX_STRUCT_DEPTH || s[1] == ')')
			return NULL;
		const char *p = s + 1;
		while (*p != ')') {
			p = sig_one(p, arrays, structs + 1);
			if (!p)
				return NULL;
		}
		return p + 1;
	}
	return NULL;
}

bool kt_dbus_sig_valid(const char *sig)
{
	if (strlen(sig) > MAX_SIG)
		return false;
	for (const char *p = sig; *p;) {
		p = sig_one(p, 0, 0);
		if (!p)
			return false;
	}
	return true;
}

/* The end of the complete type at s, for signatures already checked by sig_one. */
static const char *sig_skip(const char *s)
{
	if (*s == 'a')
		return sig_skip(s + 1);
	if (*s == '(' || *s == '{') {
		const char *p = s + 1;
		while (*p != ')' && *p != '}')
			p = sig_skip(p);
		return p + 1;
	}
	return s + 1;
}

/* ---- Body writer (spec "Marshaling (Wire Format)"; we always write little-endian). */

static void w_u32le(struct kt_wr *w, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	kt_wr_bytes(w, b, 4);
}

void kt_dbus_w_align(struct kt_wr *w, size_t align)
{
	static const uint8_t zero[8];
	kt_wr_bytes(w, zero, pad_for(w->off, align));
}

void kt_dbus_w_byte(struct kt_wr *w, uint8_t v)
{
	kt_wr_u8(w, v);
}

void kt_dbus_w_u32(struct kt_wr *w, uint32_t v)
{
	kt_dbus_w_align(w, 4);
	w_u32le(w, v);
}

void kt_dbus_w_i32(struct kt_wr *w, int32_t v)
{
	kt_dbus_w_u32(w, (uint32_t)v);
}

/* Spec: a BOOLEAN is a UINT32 that is 0 or 1. */
void kt_dbus_w_bool(struct kt_wr *w, bool v)
{
	kt_dbus_w_u32(w, v ? 1 : 0);
}

/* STRING and OBJECT_PATH: UINT32 length, the bytes, a NUL not counted in the length. */
static void w_string(struct kt_wr *w, const char *s)
{
	size_t n = strlen(s);
	if (n > KT_DBUS_MAX_MSG) {
		w->err = true;
		return;
	}
	kt_dbus_w_u32(w, (uint32_t)n);
	kt_wr_bytes(w, s, n + 1);
}

void kt_dbus_w_str(struct kt_wr *w, const char *s)
{
	if (!utf8_valid((const uint8_t *)s, strlen(s))) {
		w->err = true;
		return;
	}
	w_string(w, s);
}

void kt_dbus_w_path(struct kt_wr *w, const char *s)
{
	if (!kt_dbus_path_valid(s)) {
		w->err = true;
		return;
	}
	w_string(w, s);
}

/* SIGNATURE: one length byte, the bytes, a NUL. */
void kt_dbus_w_sig(struct kt_wr *w, const char *s)
{
	if (!kt_dbus_sig_valid(s)) {
		w->err = true;
		return;
	}
	size_t n = strlen(s);
	kt_wr_u8(w, (uint8_t)n);
	kt_wr_bytes(w, s, n + 1);
}

/* Spec: an ARRAY is a UINT32 byte length, padding to the element alignment (present even for an
 * empty array, and not counted in the length), then the elements. */
struct kt_dbus_arr kt_dbus_w_array_open(struct kt_wr *w, size_t elem_align)
{
	struct kt_dbus_arr a;
	kt_dbus_w_align(w, 4);
	a.len_off = w->off;
	w_u32le(w, 0);
	kt_dbus_w_align(w, elem_align);
	a.start = w->off;
	return a;
}

void kt_dbus_w_array_close(struct kt_wr *w, struct kt_dbus_arr a)
{
	if (w->err)
		return;
	size_t n = w->off - a.start;
	if (n > KT_DBUS_MAX_ARRAY) {
		w->err = true;
		return;
	}
	uint8_t *p = w->p + a.len_off;
	p[0] = (uint8_t)n, p[1] = (uint8_t)(n >> 8), p[2] = (uint8_t)(n >> 16),
	p[3] = (uint8_t)(n >> 24);
}

void kt_dbus_w_struct(struct kt_wr *w)
{
	kt_dbus_w_align(w, 8);
}

/* A header field: STRUCT of BYTE code and VARIANT (signature of one basic type, then value). */
static void w_field(struct kt_wr *w, uint8_t code, char type, const char *val)
{
	char sig[2] = {type, '\0'};
	kt_dbus_w_struct(w);
	kt_dbus_w_byte(w, code);
	kt_dbus_w_sig(w, sig);
	if (type == 'o')
		kt_dbus_w_path(w, val);
	else if (type == 'g')
		kt_dbus_w_sig(w, val);
	else
		kt_dbus_w_str(w, val);
}

int kt_dbus_build_call(struct kt_wr *out, uint32_t serial, const char *dest, const char *path,
		       const char *iface, const char *member, const char *sig, const void *body,
		       size_t body_len)
{
	/* Spec "Message Format": a serial of 0 is invalid; a METHOD_CALL needs PATH and MEMBER.
	 * Every complete type marshals to at least one byte, so a body is empty exactly when its
	 * signature is. */
	if (serial == 0 || !path || !kt_dbus_path_valid(path) || !member || !member_valid(member) ||
	    (iface && !dotted_valid(iface, false)) || (dest && !dotted_valid(dest, true)) || !sig ||
	    !kt_dbus_sig_valid(sig) || (body_len == 0) != (sig[0] == '\0') ||
	    body_len > KT_DBUS_MAX_MSG || out->err || out->off > out->cap)
		return -EINVAL;
	/* A message's alignment is relative to its first byte: write it in a writer of its own. */
	struct kt_wr h = kt_wr_make(out->p + out->off, out->cap - out->off);
	kt_wr_u8(&h, 'l');
	kt_wr_u8(&h, KT_DBUS_METHOD_CALL);
	kt_wr_u8(&h, 0); /* flags */
	kt_wr_u8(&h, 1); /* major protocol version */
	w_u32le(&h, (uint32_t)body_len);
	w_u32le(&h, serial);
	struct kt_dbus_arr f = kt_dbus_w_array_open(&h, 8);
	w_field(&h, KT_DBUS_FIELD_PATH, 'o', path);
	if (dest)
		w_field(&h, KT_DBUS_FIELD_DESTINATION, 's', dest);
	if (iface)
		w_field(&h, KT_DBUS_FIELD_INTERFACE, 's', iface);
	w_field(&h, KT_DBUS_FIELD_MEMBER, 's', member);
	if (sig[0])
		w_field(&h, KT_DBUS_FIELD_SIGNATURE, 'g', sig);
	kt_dbus_w_array_close(&h, f);
	/* The header ends padded to 8 so the body starts 8-aligned. */
	kt_dbus_w_align(&h, 8);
	kt_wr_bytes(&h, body, body_len);
	if (h.err || h.off > KT_DBUS_MAX_MSG)
		return -ENOBUFS;
	out->off += h.off;
	return 0;
}

/* ---- Parser. */

struct walker {
	struct kt_rd r; /* over the whole message: offsets are message offsets */
	bool be;
	int depth; /* containers entered, variants included */
};

static uint32_t get_u32(const uint8_t *p, bool be)
{
	if (be)
		return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint32_t rd_u32(struct kt_rd *r, bool be)
{
	const uint8_t *p = kt_rd_bytes(r, 4);
	return p ? get_u32(p, be) : 0;
}

/* Skips the padding to align; the spec requires padding bytes to be zero. */
static bool rd_pad(struct kt_rd *r, size_t align)
{
	size_t n = pad_for(r->off, align);
	const uint8_t *p = kt_rd_bytes(r, n);
	if (!p)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i]) {
			r->err = true;
			return false;
		}
	}
	return true;
}

/* A STRING or OBJECT_PATH ('s', 'o': UINT32 length) or SIGNATURE ('g': BYTE length): the bytes,
 * then a NUL; no NUL inside; valid UTF-8, a valid path or a valid signature respectively. */
static const char *walk_string(struct walker *w, char t)
{
	size_t len;
	if (t == 'g') {
		len = kt_rd_u8(&w->r);
	} else {
		if (!rd_pad(&w->r, 4))
			return NULL;
		len = rd_u32(&w->r, w->be);
	}
	if (w->r.err || len >= kt_rd_left(&w->r)) {
		w->r.err = true;
		return NULL;
	}
	const uint8_t *p = kt_rd_bytes(&w->r, len + 1);
	if (!p || p[len] != 0 || memchr(p, 0, len) != NULL || (t == 's' && !utf8_valid(p, len)) ||
	    (t == 'o' && !kt_dbus_path_valid((const char *)p)) ||
	    (t == 'g' && !kt_dbus_sig_valid((const char *)p))) {
		w->r.err = true;
		return NULL;
	}
	return (const char *)p;
}

/* Checks one value of the complete type at *sig (a signature already found valid) and moves
 * both the reader and *sig past it. */
static bool walk_value(struct walker *w, const char **sig)
{
	const char *s = *sig;
	bool ok = true;
	if (w->r.err)
		return false;
	switch (*s) {
	case 'y':
		kt_rd_skip(&w->r, 1);
		break;
	case 'b':
		/* Spec: only 0 and 1 are valid booleans. */
		if (rd_pad(&w->r, 4) && rd_u32(&w->r, w->be) > 1)
			w->r.err = true;
		break;
	case 'n':
	case 'q':
		if (rd_pad(&w->r, 2))
			kt_rd_skip(&w->r, 2);
		break;
	case 'i':
	case 'u':
	case 'h':
		if (rd_pad(&w->r, 4))
			kt_rd_skip(&w->r, 4);
		break;
	case 'x':
	case 't':
	case 'd':
		if (rd_pad(&w->r, 8))
			kt_rd_skip(&w->r, 8);
		break;
	case 's':
	case 'o':
	case 'g':
		ok = walk_string(w, *s) != NULL;
		break;
	case 'v': {
		/* A VARIANT is a signature of exactly one complete type, then a value of it. */
		if (++w->depth > MAX_DEPTH)
			return false;
		const char *vs = walk_string(w, 'g');
		if (!vs) {
			ok = false;
		} else {
			const char *e = sig_one(vs, 0, 0);
			ok = e && *e == '\0' && walk_value(w, &vs);
		}
		w->depth--;
		break;
	}
	case 'a': {
		if (++w->depth > MAX_DEPTH || !rd_pad(&w->r, 4))
			return false;
		uint32_t len = rd_u32(&w->r, w->be);
		const char *elem = s + 1;
		if (w->r.err || len > KT_DBUS_MAX_ARRAY || !rd_pad(&w->r, type_align(*elem)) ||
		    len > kt_rd_left(&w->r))
			return false;
		size_t end = w->r.off + len;
		/* Every element is at least one byte long, so this loop ends. */
		while (ok && w->r.off < end) {
			const char *e = elem;
			ok = walk_value(w, &e);
		}
		/* The last element must end exactly at the declared length. */
		ok = ok && w->r.off == end;
		w->depth--;
		s = sig_skip(elem) - 1;
		break;
	}
	case '(':
	case '{': {
		if (++w->depth > MAX_DEPTH || !rd_pad(&w->r, 8))
			return false;
		const char *p = s + 1;
		while (ok && *p != ')' && *p != '}')
			ok = walk_value(w, &p);
		w->depth--;
		s = p;
		break;
	}
	default:
		return false;
	}
	*sig = s + 1;
	if (!ok)
		w->r.err = true;
	return !w->r.err;
}

int kt_dbus_msg_len(const uint8_t *p, size_t n, size_t *total)
{
	if (n < 16)
		return -EAGAIN;
	/* Spec "Message Format": endianness 'l' or 'B', major protocol version 1. */
	if ((p[0] != 'l' && p[0] != 'B') || p[3] != 1)
		return -EBADMSG;
	bool be = p[0] == 'B';
	uint32_t body = get_u32(p + 4, be), flen = get_u32(p + 12, be);
	if (flen > KT_DBUS_MAX_ARRAY)
		return -EBADMSG;
	if (body > KT_DBUS_MAX_MSG)
		return -EMSGSIZE;
	size_t hdr = 16 + (size_t)flen;
	hdr += pad_for(hdr, 8);
	if (hdr + body > KT_DBUS_MAX_MSG)
		return -EMSGSIZE;
	*total = hdr + body;
	return 0;
}

/* The type a known header field's variant must hold, or 0 for a field we do not know (which
 * the spec says to accept and ignore). */
static char field_type(uint8_t code)
{
	static const char types[] = {0, 'o', 's', 's', 's', 'u', 's', 's', 'g', 'u'};
	return code < sizeof(types) ? types[code] : 0;
}

int kt_dbus_msg_parse(const uint8_t *p, size_t n, struct kt_dbus_msg *m)
{
	size_t total;
	int rc = kt_dbus_msg_len(p, n, &total);
	if (rc == -EAGAIN)
		return -EBADMSG;
	if (rc)
		return rc;
	if (total != n)
		return -EBADMSG;
	memset(m, 0, sizeof(*m));
	struct walker w = {kt_rd_make(p, n), p[0] == 'B', 0};
	m->big_endian = w.be;
	m->type = p[1];
	m->flags = p[2];
	kt_rd_skip(&w.r, 4);
	uint32_t body_len = rd_u32(&w.r, w.be);
	m->serial = rd_u32(&w.r, w.be);
	size_t fend = 16 + (size_t)rd_u32(&w.r, w.be);
	if (m->serial == 0)
		return -EBADMSG;

	/* The header fields: ARRAY of STRUCT(BYTE code, VARIANT value), starting at offset 16. */
	bool seen[10] = {false};
	const char *sig = NULL;
	while (!w.r.err && w.r.off < fend) {
		if (!rd_pad(&w.r, 8))
			return -EBADMSG;
		uint8_t code = kt_rd_u8(&w.r);
		const char *vs = walk_string(&w, 'g');
		/* Spec "Header Fields": code 0 is INVALID, an error wherever it appears. */
		if (!vs || code == 0)
			return -EBADMSG;
		const char *e = sig_one(vs, 0, 0);
		if (!e || *e != '\0')
			return -EBADMSG;
		char want = field_type(code);
		if (!want) {
			w.depth = 1;
			if (!walk_value(&w, &vs))
				return -EBADMSG;
			w.depth = 0;
			continue;
		}
		/* A known field must hold its own type, and appear at most once. */
		if (vs[0] != want || vs[1] != '\0' || seen[code])
			return -EBADMSG;
		seen[code] = true;
		if (want == 'u') {
			if (!rd_pad(&w.r, 4))
				return -EBADMSG;
			uint32_t v = rd_u32(&w.r, w.be);
			if (code == KT_DBUS_FIELD_REPLY_SERIAL)
				m->reply_serial = v;
			else
				m->unix_fds = v;
			continue;
		}
		const char *s = walk_string(&w, want);
		if (!s)
			return -EBADMSG;
		switch (code) {
		case KT_DBUS_FIELD_PATH:
			m->path = s;
			break;
		case KT_DBUS_FIELD_INTERFACE:
			m->iface = s;
			break;
		case KT_DBUS_FIELD_MEMBER:
			m->member = s;
			break;
		case KT_DBUS_FIELD_ERROR_NAME:
			m->error_name = s;
			break;
		case KT_DBUS_FIELD_DESTINATION:
			m->dest = s;
			break;
		case KT_DBUS_FIELD_SENDER:
			m->sender = s;
			break;
		default:
			sig = s;
			break;
		}
	}
	/* The fields end exactly at their declared length; the padding after them is zero. */
	if (w.r.err || w.r.off != fend || !rd_pad(&w.r, 8) || n - w.r.off != body_len)
		return -EBADMSG;
	if ((seen[KT_DBUS_FIELD_REPLY_SERIAL] && m->reply_serial == 0) ||
	    (m->iface && !dotted_valid(m->iface, false)) ||
	    (m->member && !member_valid(m->member)) ||
	    (m->error_name && !dotted_valid(m->error_name, false)) ||
	    (m->dest && !dotted_valid(m->dest, true)) ||
	    (m->sender && !dotted_valid(m->sender, true)))
		return -EBADMSG;
	/* Spec "Message Types": the fields each type requires. */
	switch (m->type) {
	case KT_DBUS_METHOD_CALL:
		if (!m->path || !m->member)
			return -EBADMSG;
		break;
	case KT_DBUS_SIGNAL:
		if (!m->path || !m->iface || !m->member)
			return -EBADMSG;
		break;
	case KT_DBUS_ERROR:
		if (!m->error_name || !seen[KT_DBUS_FIELD_REPLY_SERIAL])
			return -EBADMSG;
		break;
	case KT_DBUS_METHOD_RETURN:
		if (!seen[KT_DBUS_FIELD_REPLY_SERIAL])
			return -EBADMSG;
		break;
	default:
		break;
	}
	m->sig = sig ? sig : "";
	m->body = p + w.r.off;
	m->body_len = body_len;
	/* The body is exactly a sequence of values of the signature's types. */
	const char *s = m->sig;
	while (*s) {
		w.depth = 0;
		if (!walk_value(&w, &s))
			return -EBADMSG;
	}
	if (w.r.err || w.r.off != n)
		return -EBADMSG;
	return 0;
}

/* ---- Body reader. */

void kt_dbus_rd_init(struct kt_dbus_rd *d, const struct kt_dbus_msg *m)
{
	d->r = kt_rd_make(m->body, m->body_len);
	d->be = m->big_endian;
}

static void rd_align(struct kt_dbus_rd *d, size_t align)
{
	kt_rd_skip(&d->r, pad_for(d->r.off, align));
}

uint8_t kt_dbus_rd_byte(struct kt_dbus_rd *d)
{
	return kt_rd_u8(&d->r);
}

uint32_t kt_dbus_rd_u32(struct kt_dbus_rd *d)
{
	rd_align(d, 4);
	return rd_u32(&d->r, d->be);
}

int32_t kt_dbus_rd_i32(struct kt_dbus_rd *d)
{
	return (int32_t)kt_dbus_rd_u32(d);
}

bool kt_dbus_rd_bool(struct kt_dbus_rd *d)
{
	uint32_t v = kt_dbus_rd_u32(d);
	if (v > 1)
		d->r.err = true;
	return v == 1;
}

static const char *rd_string(struct kt_dbus_rd *d, size_t len)
{
	if (d->r.err || len >= kt_rd_left(&d->r)) {
		d->r.err = true;
		return "";
	}
	const uint8_t *p = kt_rd_bytes(&d->r, len + 1);
	if (!p || p[len] != 0 || memchr(p, 0, len)) {
		d->r.err = true;
		return "";
	}
	return (const char *)p;
}

const char *kt_dbus_rd_str(struct kt_dbus_rd *d)
{
	size_t len = kt_dbus_rd_u32(d);
	return rd_string(d, len);
}

const char *kt_dbus_rd_sig(struct kt_dbus_rd *d)
{
	size_t len = kt_rd_u8(&d->r);
	return rd_string(d, len);
}

size_t kt_dbus_rd_array(struct kt_dbus_rd *d, size_t elem_align)
{
	size_t len = kt_dbus_rd_u32(d);
	rd_align(d, elem_align);
	if (d->r.err || len > kt_rd_left(&d->r)) {
		d->r.err = true;
		return d->r.off;
	}
	return d->r.off + len;
}

void kt_dbus_rd_struct(struct kt_dbus_rd *d)
{
	rd_align(d, 8);
}

void kt_dbus_error_text(const struct kt_dbus_msg *m, char *buf, size_t len)
{
	const char *name = m->error_name ? m->error_name : "(no error name)";
	const char *text = "";
	if (m->sig && m->sig[0] == 's') {
		struct kt_dbus_rd d;
		kt_dbus_rd_init(&d, m);
		text = kt_dbus_rd_str(&d);
	}
	if (len == 0)
		return;
	if (text[0])
		snprintf(buf, len, "%s: %s", name, text);
	else
		snprintf(buf, len, "%s", name);
}

/* ---- Addresses (spec "Server Addresses", "Transports: UNIX Domain Sockets"). */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Undoes the spec's %XX escaping of a value into out (not NUL-terminated). */
static int unescape(const char *s, size_t n, char *out, size_t cap, size_t *outlen)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '%') {
			if (n - i < 3)
				return -EINVAL;
			int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -EINVAL;
			c = hi << 4 | lo;
			i += 2;
		}
		if (c == 0)
			return -EINVAL;
		if (o >= cap)
			return -ENAMETOOLONG;
		out[o++] = (char)c;
	}
	*outlen = o;
	return 0;
}

/* One address entry "unix:key=value,...": 0, -ENOENT (a transport or form we do not use) or a
 * parse error. */
static int parse_entry(const char *e, size_t n, struct sockaddr_un *sa, socklen_t *salen)
{
	const char *colon = memchr(e, ':', n);
	if (!colon)
		return -EINVAL;
	if ((size_t)(colon - e) != 4 || memcmp(e, "unix", 4) != 0)
		return -ENOENT;
	const char *k = colon + 1, *end = e + n;
	int kind = 0; /* 1 path, 2 abstract */
	size_t len = 0;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	while (k < end) {
		const char *comma = memchr(k, ',', (size_t)(end - k));
		const char *kv_end = comma ? comma : end;
		const char *eq = memchr(k, '=', (size_t)(kv_end - k));
		if (!eq || eq == k)
			return -EINVAL;
		size_t klen = (size_t)(eq - k), vlen = (size_t)(kv_end - eq - 1);
		bool path = klen == 4 && memcmp(k, "path", 4) == 0;
		bool abstract = klen == 8 && memcmp(k, "abstract", 8) == 0;
		if (path || abstract) {
			if (kind)
				return -EINVAL; /* spec: path and abstract are mutually exclusive */
			kind = path ? 1 : 2;
			/* A path needs its NUL; an abstract name sits after a leading NUL. */
			char *dst = path ? sa->sun_path : sa->sun_path + 1;
			size_t cap = sizeof(sa->sun_path) - 1;
			int rc = unescape(eq + 1, vlen, dst, cap, &len);
			if (rc)
				return rc;
			if (len == 0)
				return -EINVAL;
		}
		/* Other keys (guid, ...) do not change how we connect. */
		k = comma ? comma + 1 : end;
	}
	if (!kind)
		return -ENOENT; /* unix:tmpdir=, unix:runtime= are for servers only */
	*salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
	return 0;
}

int kt_dbus_parse_address(const char *addr, size_t *index, struct sockaddr_un *sa, socklen_t *salen)
{
	const char *e = addr;
	for (size_t i = 0;; i++) {
		const char *semi = strchr(e, ';');
		size_t n = semi ? (size_t)(semi - e) : strlen(e);
		if (i >= *index && n > 0) {
			int rc = parse_entry(e, n, sa, salen);
			if (rc != -ENOENT) {
				*index = i + 1;
				return rc;
			}
		}
		if (!semi) {
			*index = i + 1;
			return -ENOENT;
		}
		e = semi + 1;
	}
}

const char *kt_dbus_system_address(void)
{
	/* secure_getenv: were this ever run setuid, the caller's environment must not choose the
	 * bus we send privileged calls to. */
	const char *a = secure_getenv("DBUS_SYSTEM_BUS_ADDRESS");
	return a && a[0] ? a : KT_DBUS_SYSTEM_DEFAULT;
}

/* ---- Connection. */

struct kt_dbus {
	int fd;
	int timeout_ms;
	uint32_t serial; /* last serial sent */
	bool broken;	 /* a transport or protocol error left the stream in an unknown state */
	struct kt_buf in;
	char unique[MAX_NAME + 1];
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd pfd = {.fd = fd, .events = events};
		int r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r > 0)
			return 0; /* readable, writable or hung up: the next I/O call tells which */
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static int send_all(struct kt_dbus *c, const void *p, size_t n, int64_t deadline)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t k = send(c->fd, b, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k > 0) {
			b += k;
			n -= (size_t)k;
			continue;
		}
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int rc = wait_fd(c->fd, POLLOUT, deadline);
			if (rc)
				return rc;
			continue;
		}
		return k < 0 ? -errno : -EIO;
	}
	return 0;
}

static int fill(struct kt_dbus *c, int64_t deadline)
{
	size_t want = kt_buf_room(&c->in);
	if (want == 0)
		return -EMSGSIZE;
	if (want > 16384)
		want = 16384;
	uint8_t *dst = kt_buf_reserve(&c->in, want);
	if (!dst)
		return -ENOMEM;
	for (;;) {
		ssize_t k = recv(c->fd, dst, want, MSG_DONTWAIT);
		if (k > 0) {
			kt_buf_commit(&c->in, (size_t)k);
			return 0;
		}
		if (k == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		int rc = wait_fd(c->fd, POLLIN, deadline);
		if (rc)
			return rc;
	}
}

/* One authentication line (spec "Authentication Protocol": lines end in CRLF). Bytes after it
 * stay queued. */
static int read_line(struct kt_dbus *c, char *line, size_t cap, int64_t deadline)
{
	for (;;) {
		const uint8_t *p = kt_buf_peek(&c->in);
		size_t n = kt_buf_len(&c->in);
		for (size_t i = 0; i + 1 < n; i++) {
			if (p[i] == '\r' && p[i + 1] == '\n') {
				if (i >= cap)
					return -EPROTO;
				memcpy(line, p, i);
				line[i] = '\0';
				kt_buf_consume(&c->in, i + 2);
				return 0;
			}
		}
		if (n >= cap)
			return -EPROTO;
		int rc = fill(c, deadline);
		if (rc)
			return rc;
	}
}

static int recv_msg(struct kt_dbus *c, int64_t deadline, struct kt_dbus_reply *r)
{
	for (;;) {
		size_t total = 0, have = kt_buf_len(&c->in);
		int rc = kt_dbus_msg_len(kt_buf_peek(&c->in), have, &total);
		if (rc == 0 && have >= total) {
			r->buf = malloc(total);
			if (!r->buf)
				return -ENOMEM;
			memcpy(r->buf, kt_buf_peek(&c->in), total);
			r->len = total;
			kt_buf_consume(&c->in, total);
			return kt_dbus_msg_parse(r->buf, total, &r->msg);
		}
		if (rc && rc != -EAGAIN)
			return rc;
		rc = fill(c, deadline);
		if (rc)
			return rc;
	}
}

void kt_dbus_reply_fini(struct kt_dbus_reply *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

static void transport_error(int rc, const char *member, int timeout_ms, char *err, size_t errlen)
{
	switch (rc) {
	case -ETIMEDOUT:
		snprintf(err, errlen, "D-Bus: no reply to %s within %d ms", member, timeout_ms);
		break;
	case -ECONNRESET:
	case -EPIPE:
		snprintf(err, errlen, "D-Bus: the bus closed the connection during %s", member);
		break;
	case -EBADMSG:
		snprintf(err, errlen, "D-Bus: malformed message from the bus during %s", member);
		break;
	case -EMSGSIZE:
		snprintf(err, errlen, "D-Bus: message from the bus larger than %u bytes during %s",
			 KT_DBUS_MAX_MSG, member);
		break;
	default:
		snprintf(err, errlen, "D-Bus: %s: %s", member, strerror(-rc));
		break;
	}
}

static int call_until(struct kt_dbus *c, int64_t deadline, const char *dest, const char *path,
		      const char *iface, const char *member, const char *sig, const void *body,
		      size_t body_len, struct kt_dbus_reply *reply, char *err, size_t errlen)
{
	memset(reply, 0, sizeof(*reply));
	if (c->broken) {
		snprintf(err, errlen, "D-Bus: connection unusable after an earlier error");
		return -ENOTCONN;
	}
	if (++c->serial == 0)
		c->serial = 1; /* serial 0 is invalid */
	uint32_t serial = c->serial;
	size_t cap = 64 + body_len;
	const char *names[] = {dest, path, iface, member, sig};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		cap += names[i] ? strlen(names[i]) + 16 : 0;
	uint8_t *msg = malloc(cap);
	if (!msg) {
		snprintf(err, errlen, "D-Bus: out of memory");
		return -ENOMEM;
	}
	struct kt_wr w = kt_wr_make(msg, cap);
	int rc = kt_dbus_build_call(&w, serial, dest, path, iface, member ? member : "",
				    sig ? sig : "", body, body_len);
	if (rc) {
		free(msg);
		snprintf(err, errlen, "D-Bus: cannot marshal the call %s", member ? member : "?");
		return rc;
	}
	rc = send_all(c, msg, w.off, deadline);
	free(msg);
	while (rc == 0) {
		rc = recv_msg(c, deadline, reply);
		if (rc)
			break;
		const struct kt_dbus_msg *m = &reply->msg;
		if ((m->type == KT_DBUS_METHOD_RETURN || m->type == KT_DBUS_ERROR) &&
		    m->reply_serial == serial) {
			/* We never negotiate fd passing, so a reply carrying fds is a protocol
			 * error (spec: UNIX_FDS needs NEGOTIATE_UNIX_FD). */
			if (m->unix_fds)
				rc = -EBADMSG;
			break;
		}
		/* Signals (NameAcquired after Hello), stray replies and calls to us: not ours. */
		kt_dbus_reply_fini(reply);
	}
	if (rc) {
		kt_dbus_reply_fini(reply);
		c->broken = true;
		transport_error(rc, member, c->timeout_ms, err, errlen);
		return rc;
	}
	if (reply->msg.type == KT_DBUS_ERROR) {
		kt_dbus_error_text(&reply->msg, err, errlen);
		return -EREMOTEIO;
	}
	return 0;
}

int kt_dbus_call(struct kt_dbus *c, const char *dest, const char *path, const char *iface,
		 const char *member, const char *sig, const void *body, size_t body_len,
		 struct kt_dbus_reply *reply, char *err, size_t errlen)
{
	return call_until(c, now_ms() + c->timeout_ms, dest, path, iface, member, sig, body,
			  body_len, reply, err, errlen);
}

/* Spec "Authentication Protocol": a NUL byte, then "AUTH EXTERNAL <hex>" where <hex> is the
 * hex encoding of our uid written in ASCII decimal; the server answers "OK <guid>" or
 * "REJECTED <mechanisms>"; "BEGIN" then switches the stream to messages. On Linux the server
 * takes our credentials from the socket (SO_PEERCRED). */
static int authenticate(struct kt_dbus *c, int64_t deadline, char *err, size_t errlen)
{
	char dec[16], line[128];
	uint8_t out[64];
	int n = snprintf(dec, sizeof(dec), "%u", (unsigned)geteuid());
	struct kt_wr w = kt_wr_make(out, sizeof(out));
	kt_wr_u8(&w, 0);
	kt_wr_bytes(&w, "AUTH EXTERNAL ", 14);
	for (int i = 0; i < n; i++) {
		static const char hex[] = "0123456789abcdef";
		uint8_t b = (uint8_t)dec[i];
		kt_wr_u8(&w, (uint8_t)hex[b >> 4]);
		kt_wr_u8(&w, (uint8_t)hex[b & 15]);
	}
	kt_wr_bytes(&w, "\r\n", 2);
	int rc = send_all(c, out, w.off, deadline);
	if (!rc)
		rc = read_line(c, line, sizeof(line), deadline);
	if (rc) {
		snprintf(err, errlen, "D-Bus: authentication failed: %s",
			 rc == -ETIMEDOUT ? "no answer" : strerror(-rc));
		return rc;
	}
	if (strncmp(line, "REJECTED", 8) == 0) {
		snprintf(err, errlen, "D-Bus: the bus rejected EXTERNAL authentication for uid %s",
			 dec);
		return -EACCES;
	}
	if (strncmp(line, "OK", 2) != 0 || (line[2] != ' ' && line[2] != '\0')) {
		snprintf(err, errlen, "D-Bus: unexpected authentication answer");
		return -EPROTO;
	}
	rc = send_all(c, "BEGIN\r\n", 7, deadline);
	if (rc)
		snprintf(err, errlen, "D-Bus: authentication failed: %s", strerror(-rc));
	return rc;
}

struct kt_dbus *kt_dbus_connect(const char *address, int timeout_ms, char *err, size_t errlen)
{
	int64_t deadline = now_ms() + timeout_ms;
	struct kt_dbus_reply r = {0};
	struct kt_dbus *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "D-Bus: out of memory");
		return NULL;
	}
	c->fd = -1;
	c->timeout_ms = timeout_ms;
	kt_buf_init(&c->in, IN_LIMIT);
	if (!address)
		address = kt_dbus_system_address();

	/* Spec "Server Addresses": try each address of the list in order. */
	int rc = 0;
	bool any = false; /* some entry was for us, well-formed or not */
	size_t idx = 0;
	for (;;) {
		struct sockaddr_un sa;
		socklen_t sl = 0;
		int prc = kt_dbus_parse_address(address, &idx, &sa, &sl);
		if (prc == -ENOENT)
			break;
		any = true;
		if (prc) {
			rc = prc;
			continue;
		}
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			rc = -errno;
			break;
		}
		if (connect(fd, (struct sockaddr *)&sa, sl) == 0) {
			c->fd = fd;
			break;
		}
		rc = -errno;
		close(fd);
	}
	if (c->fd < 0) {
		if (!any)
			snprintf(err, errlen, "D-Bus: no usable address in \"%s\"", address);
		else if (rc == -EINVAL || rc == -ENAMETOOLONG)
			snprintf(err, errlen, "D-Bus: malformed address \"%s\"", address);
		else
			snprintf(err, errlen, "D-Bus: cannot connect to %s: %s", address,
				 strerror(-rc));
		goto fail;
	}
	if (authenticate(c, deadline, err, errlen))
		goto fail;
	/* Spec "Message Bus Specification": Hello must be the first message; it returns our
	 * unique name. */
	rc = call_until(c, deadline, "org.freedesktop.DBus", "/org/freedesktop/DBus",
			"org.freedesktop.DBus", "Hello", "", NULL, 0, &r, err, errlen);
	if (rc)
		goto fail;
	if (strcmp(r.msg.sig, "s") != 0) {
		snprintf(err, errlen, "D-Bus: Hello returned \"%s\", not a name", r.msg.sig);
		goto fail;
	}
	struct kt_dbus_rd d;
	kt_dbus_rd_init(&d, &r.msg);
	snprintf(c->unique, sizeof(c->unique), "%s", kt_dbus_rd_str(&d));
	kt_dbus_reply_fini(&r);
	return c;
fail:
	kt_dbus_reply_fini(&r);
	kt_dbus_free(c);
	return NULL;
}

void kt_dbus_free(struct kt_dbus *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	kt_buf_fini(&c->in);
	free(c);
}

const char *kt_dbus_unique_name(const struct kt_dbus *c)
{
	return c->unique;
}
