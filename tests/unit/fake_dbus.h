/* fake_dbus.h: a scripted one-connection D-Bus peer for the unit tests of dbus.c and sysdns.c.
 *
 * The parent makes a listening UNIX socket in a fresh temporary directory (fake_bus_listen),
 * then fake_bus_run forks a child that accepts one connection and runs the test's serve
 * function on it; the child's exit status is serve's return value (0 = every expectation met),
 * which fake_bus_wait returns. Messages are built with the library's own body writer in
 * fake_mkmsg, whose output the wire tests compare with hand-computed bytes. Header-only with
 * static inline functions so each test executable takes what it uses. */
#ifndef KT_FAKE_DBUS_H
#define KT_FAKE_DBUS_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dbus.h"

struct fake_fields {
	const char *path, *iface, *member, *error_name, *dest, *sender, *sig;
	uint32_t reply_serial;
};

static inline void fake_field(struct kt_wr *w, uint8_t code, const char *type, const char *s,
			      uint32_t u)
{
	kt_dbus_w_struct(w);
	kt_dbus_w_byte(w, code);
	kt_dbus_w_sig(w, type);
	if (type[0] == 'o')
		kt_dbus_w_path(w, s);
	else if (type[0] == 'g')
		kt_dbus_w_sig(w, s);
	else if (type[0] == 'u')
		kt_dbus_w_u32(w, u);
	else
		kt_dbus_w_str(w, s);
}

/* A little-endian message with the given fields, in the order PATH, INTERFACE, MEMBER,
 * ERROR_NAME, REPLY_SERIAL, DESTINATION, SENDER, SIGNATURE (absent ones skipped). Returns its
 * length, 0 if it does not fit. */
static inline size_t fake_mkmsg(uint8_t *out, size_t cap, uint8_t type, uint32_t serial,
				const struct fake_fields *f, const void *body, size_t body_len)
{
	struct kt_wr w = kt_wr_make(out, cap);
	kt_wr_u8(&w, 'l');
	kt_wr_u8(&w, type);
	kt_wr_u8(&w, 0);
	kt_wr_u8(&w, 1);
	kt_dbus_w_u32(&w, (uint32_t)body_len);
	kt_dbus_w_u32(&w, serial);
	struct kt_dbus_arr a = kt_dbus_w_array_open(&w, 8);
	if (f->path)
		fake_field(&w, KT_DBUS_FIELD_PATH, "o", f->path, 0);
	if (f->iface)
		fake_field(&w, KT_DBUS_FIELD_INTERFACE, "s", f->iface, 0);
	if (f->member)
		fake_field(&w, KT_DBUS_FIELD_MEMBER, "s", f->member, 0);
	if (f->error_name)
		fake_field(&w, KT_DBUS_FIELD_ERROR_NAME, "s", f->error_name, 0);
	if (f->reply_serial)
		fake_field(&w, KT_DBUS_FIELD_REPLY_SERIAL, "u", NULL, f->reply_serial);
	if (f->dest)
		fake_field(&w, KT_DBUS_FIELD_DESTINATION, "s", f->dest, 0);
	if (f->sender)
		fake_field(&w, KT_DBUS_FIELD_SENDER, "s", f->sender, 0);
	if (f->sig && f->sig[0])
		fake_field(&w, KT_DBUS_FIELD_SIGNATURE, "g", f->sig, 0);
	kt_dbus_w_array_close(&w, a);
	kt_dbus_w_align(&w, 8);
	kt_wr_bytes(&w, body, body_len);
	return w.err ? 0 : w.off;
}

struct fake_bus {
	char dir[32];
	char path[100];
	char addr[160];
	int lfd;
	pid_t pid;
};

static inline int fake_bus_listen(struct fake_bus *b)
{
	memset(b, 0, sizeof(*b));
	b->pid = -1;
	b->lfd = -1;
	snprintf(b->dir, sizeof(b->dir), "/tmp/kt-fakebus.XXXXXX");
	if (!mkdtemp(b->dir))
		return -errno;
	snprintf(b->path, sizeof(b->path), "%s/bus", b->dir);
	snprintf(b->addr, sizeof(b->addr), "unix:path=%s", b->path);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", b->path);
	b->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (b->lfd < 0 || bind(b->lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(b->lfd, 4))
		return -errno;
	return 0;
}

static inline int fake_write(int fd, const void *p, size_t n)
{
	const uint8_t *q = p;
	while (n) {
		ssize_t k = write(fd, q, n);
		if (k <= 0)
			return -1;
		q += k;
		n -= (size_t)k;
	}
	return 0;
}

/* One CRLF-terminated line, byte by byte (the tests' lines are short). */
static inline int fake_read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	while (n + 1 < cap) {
		char c;
		if (read(fd, &c, 1) != 1)
			return -1;
		buf[n++] = c;
		if (n >= 2 && buf[n - 2] == '\r' && buf[n - 1] == '\n') {
			buf[n - 2] = '\0';
			return 0;
		}
	}
	return -1;
}

static inline int fake_read_full(int fd, uint8_t *p, size_t n)
{
	while (n) {
		ssize_t k = read(fd, p, n);
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Reads one whole message into buf and parses it. 1 on a clean EOF, 0 on success, -1 else. */
static inline int fake_read_msg(int fd, uint8_t *buf, size_t cap, size_t *len,
				struct kt_dbus_msg *m)
{
	size_t total;
	ssize_t k = read(fd, buf, 16);
	if (k == 0)
		return 1;
	if (k < 0 || (k < 16 && fake_read_full(fd, buf + k, 16 - (size_t)k)))
		return -1;
	if (kt_dbus_msg_len(buf, 16, &total) || total > cap ||
	    fake_read_full(fd, buf + 16, total - 16))
		return -1;
	*len = total;
	return kt_dbus_msg_parse(buf, total, m) ? -1 : 0;
}

/* The server side of authentication: NUL, "AUTH EXTERNAL <hex of our uid>", our answer, and
 * after "OK" the client's "BEGIN". */
static inline int fake_auth(int fd, const char *answer)
{
	char line[256], want[64], dec[16];
	uint8_t nul;
	if (read(fd, &nul, 1) != 1 || nul != 0 || fake_read_line(fd, line, sizeof(line)))
		return -1;
	int n = snprintf(dec, sizeof(dec), "%u", (unsigned)geteuid());
	size_t o = (size_t)snprintf(want, sizeof(want), "AUTH EXTERNAL ");
	for (int i = 0; i < n; i++)
		o += (size_t)snprintf(want + o, sizeof(want) - o, "%02x", (unsigned char)dec[i]);
	if (strcmp(line, want) != 0 || fake_write(fd, answer, strlen(answer)))
		return -1;
	if (strncmp(answer, "OK", 2) != 0)
		return 0;
	return fake_read_line(fd, line, sizeof(line)) || strcmp(line, "BEGIN") != 0 ? -1 : 0;
}

static inline int fake_send(int fd, uint8_t type, uint32_t serial, const struct fake_fields *f,
			    const void *body, size_t body_len)
{
	uint8_t out[4096];
	size_t n = fake_mkmsg(out, sizeof(out), type, serial, f, body, body_len);
	return n ? fake_write(fd, out, n) : -1;
}

/* Reads Hello and answers it with the unique name ":1.7", after a NameAcquired-style signal
 * that the client must skip. */
static inline int fake_hello(int fd)
{
	uint8_t buf[4096], body[64];
	size_t len;
	struct kt_dbus_msg m;
	if (fake_read_msg(fd, buf, sizeof(buf), &len, &m) || !m.member ||
	    strcmp(m.member, "Hello") != 0 || !m.dest || strcmp(m.dest, "org.freedesktop.DBus"))
		return -1;
	struct kt_wr w = kt_wr_make(body, sizeof(body));
	kt_dbus_w_str(&w, ":1.7");
	struct fake_fields sig = {.path = "/org/freedesktop/DBus",
				  .iface = "org.freedesktop.DBus",
				  .member = "NameAcquired",
				  .sender = "org.freedesktop.DBus",
				  .sig = "s"};
	struct fake_fields ret = {
	    .reply_serial = m.serial, .dest = ":1.7", .sender = "org.freedesktop.DBus", .sig = "s"};
	if (fake_send(fd, KT_DBUS_SIGNAL, 1, &sig, body, w.off) ||
	    fake_send(fd, KT_DBUS_METHOD_RETURN, 2, &ret, body, w.off))
		return -1;
	return 0;
}

static inline int fake_bus_run(struct fake_bus *b, int (*serve)(int fd, void *arg), void *arg)
{
	fflush(NULL);
	b->pid = fork();
	if (b->pid < 0)
		return -errno;
	if (b->pid == 0) {
		int fd = accept(b->lfd, NULL, NULL);
		_exit(fd < 0 ? 100 : serve(fd, arg) & 0xff);
	}
	return 0;
}

/* The child's exit status (serve's result), and everything removed. */
static inline int fake_bus_wait(struct fake_bus *b)
{
	int st = 0, rc = -1;
	if (b->pid > 0 && waitpid(b->pid, &st, 0) == b->pid && WIFEXITED(st))
		rc = WEXITSTATUS(st);
	if (b->lfd >= 0)
		close(b->lfd);
	unlink(b->path);
	rmdir(b->dir);
	return rc;
}

#endif
