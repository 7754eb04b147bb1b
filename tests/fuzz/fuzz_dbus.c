/* fuzz_dbus.c: the D-Bus message parser and body reader (src/dbus.c) over arbitrary bytes, and
 * the address parser over the same bytes taken as text.
 *
 * The input is copied into a buffer of exactly its size, so ASan sees any read past the end.
 * Checks abort on failure: a length from kt_dbus_msg_len is at least the fixed header and within
 * the limit; a message kt_dbus_msg_parse accepts has its strings NUL-terminated inside the
 * buffer, a valid signature and a body ending at the buffer's end; and walking that body with
 * the kt_dbus_rd_* reader, type by type from the signature, consumes exactly the body without
 * an error (the parser and the reader agree on every alignment and length). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dbus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t *buf_lo, *buf_hi;

static void check_str(const char *s)
{
	if (!s)
		return;
	const uint8_t *p = (const uint8_t *)s;
	if (p < buf_lo || p >= buf_hi || !memchr(p, 0, (size_t)(buf_hi - p)))
		abort();
}

static const char *sig_end(const char *s)
{
	if (*s == 'a')
		return sig_end(s + 1);
	if (*s == '(' || *s == '{') {
		const char *p = s + 1;
		while (*p != ')' && *p != '}')
			p = sig_end(p);
		return p + 1;
	}
	return s + 1;
}

static size_t align_of(char t)
{
	switch (t) {
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

/* Reads one value of the complete type at *sig with the public reader. */
static void walk(struct kt_dbus_rd *d, const char **sig, int depth)
{
	if (depth > 200)
		abort(); /* the parser bounds nesting at 64 */
	char t = *(*sig)++;
	switch (t) {
	case 'y':
		kt_dbus_rd_byte(d);
		break;
	case 'b':
		kt_dbus_rd_bool(d);
		break;
	case 'n':
	case 'q':
		kt_rd_skip(&d->r, d->r.off & 1);
		kt_rd_skip(&d->r, 2);
		break;
	case 'i':
	case 'u':
	case 'h':
		kt_dbus_rd_u32(d);
		break;
	case 'x':
	case 't':
	case 'd':
		kt_dbus_rd_struct(d); /* 8-aligned like a struct */
		kt_rd_skip(&d->r, 8);
		break;
	case 's':
	case 'o':
		kt_dbus_rd_str(d);
		break;
	case 'g':
		kt_dbus_rd_sig(d);
		break;
	case 'v': {
		const char *vs = kt_dbus_rd_sig(d);
		if (!d->r.err)
			walk(d, &vs, depth + 1);
		break;
	}
	case 'a': {
		const char *elem = *sig;
		size_t end = kt_dbus_rd_array(d, align_of(*elem));
		while (!d->r.err && d->r.off < end) {
			const char *e = elem;
			walk(d, &e, depth + 1);
		}
		if (!d->r.err && d->r.off != end)
			abort();
		*sig = sig_end(elem);
		break;
	}
	case '(':
	case '{':
		kt_dbus_rd_struct(d);
		while (**sig != ')' && **sig != '}')
			walk(d, sig, depth + 1);
		(*sig)++;
		break;
	default:
		abort(); /* the parser let through a signature it should have refused */
	}
}

static void one_message(const uint8_t *p, size_t n)
{
	size_t total = 0;
	int rc = kt_dbus_msg_len(p, n, &total);
	if (rc == 0 && (total < 16 || total > KT_DBUS_MAX_MSG))
		abort();
	struct kt_dbus_msg m;
	if (kt_dbus_msg_parse(p, n, &m) != 0)
		return;
	if (rc != 0 || total != n || m.serial == 0 || !m.sig || !kt_dbus_sig_valid(m.sig))
		abort();
	buf_lo = p, buf_hi = p + n;
	check_str(m.path), check_str(m.iface), check_str(m.member), check_str(m.error_name);
	check_str(m.dest), check_str(m.sender);
	if (m.sig[0]) /* an absent signature is a static "" */
		check_str(m.sig);
	if (m.body < p || m.body_len > n || m.body + m.body_len != p + n)
		abort();
	if (m.type == KT_DBUS_ERROR && !m.error_name)
		abort();
	struct kt_dbus_rd d;
	kt_dbus_rd_init(&d, &m);
	const char *s = m.sig;
	while (*s && !d.r.err)
		walk(&d, &s, 0);
	if (d.r.err || d.r.off != m.body_len)
		abort();
	char text[128];
	kt_dbus_error_text(&m, text, sizeof(text));
	if (!memchr(text, 0, sizeof(text)))
		abort();
}

static void addresses(const uint8_t *data, size_t size)
{
	char a[1024];
	size_t n = size < sizeof(a) - 1 ? size : sizeof(a) - 1;
	memcpy(a, data, n);
	a[n] = '\0';
	size_t idx = 0, last = 0;
	for (int i = 0; i < 1100; i++) {
		struct sockaddr_un sa;
		socklen_t sl = 0;
		int rc = kt_dbus_parse_address(a, &idx, &sa, &sl);
		if (rc == -ENOENT)
			return;
		if (idx <= last && i > 0)
			abort(); /* the index must move on, or callers would loop forever */
		last = idx;
		if (rc == 0 && (sl <= offsetof(struct sockaddr_un, sun_path) || sl > sizeof(sa)))
			abort();
	}
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *p = malloc(size ? size : 1);
	if (!p)
		abort();
	memcpy(p, data, size);
	one_message(p, size);
	free(p);
	addresses(data, size);
	return 0;
}
