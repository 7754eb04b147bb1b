/* dbus.h: a minimal synchronous D-Bus client, written from the D-Bus Specification.
 *
 * Just enough of the protocol for kubetun to talk to systemd-resolved (sysdns.c): a UNIX-socket
 * connection to a bus (addresses "unix:path=" and "unix:abstract="), SASL EXTERNAL
 * authentication, Hello, method calls marshalled in little-endian order, and replies
 * (METHOD_RETURN or ERROR) parsed in either byte order. There is no main loop: every call blocks
 * until its reply arrives or the connection's timeout passes, which suits the two moments it is
 * used at (daemon start and exit). Unix fd passing is never negotiated.
 *
 * Three layers, each usable alone (the unit tests and the fuzzer use the lower two):
 * - the body writer (kt_dbus_w_*) marshals values into a struct kt_wr whose offset 0 is the
 *   start of a message body (bodies always start 8-aligned in a message, so alignment relative
 *   to the body is alignment relative to the message); kt_dbus_build_call wraps a body into a
 *   complete METHOD_CALL message;
 * - the parser (kt_dbus_msg_len, kt_dbus_msg_parse) checks a whole received message against the
 *   specification's rules (header fields and their types, zero padding, string rules, boolean
 *   values, array lengths, signature syntax and nesting limits, body exactly matching its
 *   signature) before anything reads it, and the body reader (kt_dbus_rd_*) then walks a
 *   checked body with bounds checks on every read;
 * - the connection (kt_dbus_connect, kt_dbus_call).
 *
 * Parsed messages point into the caller's buffer; nothing here copies strings out of it. */
#ifndef KT_DBUS_H
#define KT_DBUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "buf.h"

/* Message types (spec "Message Format"). */
#define KT_DBUS_METHOD_CALL 1
#define KT_DBUS_METHOD_RETURN 2
#define KT_DBUS_ERROR 3
#define KT_DBUS_SIGNAL 4

/* Header field codes (spec "Header Fields"). */
#define KT_DBUS_FIELD_PATH 1
#define KT_DBUS_FIELD_INTERFACE 2
#define KT_DBUS_FIELD_MEMBER 3
#define KT_DBUS_FIELD_ERROR_NAME 4
#define KT_DBUS_FIELD_REPLY_SERIAL 5
#define KT_DBUS_FIELD_DESTINATION 6
#define KT_DBUS_FIELD_SENDER 7
#define KT_DBUS_FIELD_SIGNATURE 8
#define KT_DBUS_FIELD_UNIX_FDS 9

/* The spec allows messages of 128 MiB; we accept at most 1 MiB, far more than any reply we ask
 * for (ListNames on a busy desktop is a few KiB), so a hostile or broken peer cannot make us
 * allocate much. */
#define KT_DBUS_MAX_MSG (1u << 20)
/* Spec: arrays are at most 64 MiB (2^26 bytes); nested at most 32 arrays and 32 structs deep. */
#define KT_DBUS_MAX_ARRAY (1u << 26)

/* The system bus address when DBUS_SYSTEM_BUS_ADDRESS is unset. The spec ("Well-known Message
 * Bus Instances") names /var/run/dbus/system_bus_socket; /var/run is a symlink to /run on every
 * current distribution, and /run is what sd-bus uses, so it still works where /var/run is not. */
#define KT_DBUS_SYSTEM_DEFAULT "unix:path=/run/dbus/system_bus_socket"

/* ---- Body writer. Errors are sticky in w->err (overflow, or a string the spec forbids). */

/* An open array: where its length goes and where its first element starts. */
struct kt_dbus_arr {
	size_t len_off;
	size_t start;
};

void kt_dbus_w_align(struct kt_wr *w, size_t align);
void kt_dbus_w_byte(struct kt_wr *w, uint8_t v);
void kt_dbus_w_bool(struct kt_wr *w, bool v);
void kt_dbus_w_i32(struct kt_wr *w, int32_t v);
void kt_dbus_w_u32(struct kt_wr *w, uint32_t v);
/* 's': valid UTF-8 without NUL. */
void kt_dbus_w_str(struct kt_wr *w, const char *s);
/* 'o': a valid object path. */
void kt_dbus_w_path(struct kt_wr *w, const char *s);
/* 'g': a valid signature. */
void kt_dbus_w_sig(struct kt_wr *w, const char *s);
/* 'a': elem_align is the alignment of the element type (1, 2, 4 or 8). Close fills the length. */
struct kt_dbus_arr kt_dbus_w_array_open(struct kt_wr *w, size_t elem_align);
void kt_dbus_w_array_close(struct kt_wr *w, struct kt_dbus_arr a);
/* '(' and '{': structs and dict entries start 8-aligned. */
void kt_dbus_w_struct(struct kt_wr *w);

/* A complete METHOD_CALL (flags 0) in little-endian order, header fields in the order PATH,
 * DESTINATION, INTERFACE, MEMBER, SIGNATURE (the last only for a non-empty body). dest and
 * iface may be NULL. body_len must agree with sig; the body must have been written by the
 * kt_dbus_w_* functions from offset 0. Returns 0, -EINVAL (a name the spec forbids, a serial of
 * 0) or -ENOBUFS (out too small). */
int kt_dbus_build_call(struct kt_wr *out, uint32_t serial, const char *dest, const char *path,
		       const char *iface, const char *member, const char *sig, const void *body,
		       size_t body_len);

/* ---- Parser. */

struct kt_dbus_msg {
	uint8_t type; /* KT_DBUS_*; other values are allowed and must be ignored by the caller */
	uint8_t flags;
	bool big_endian;
	uint32_t serial;
	uint32_t reply_serial; /* 0 when absent */
	uint32_t unix_fds;     /* 0 when absent */
	/* NUL-terminated strings inside the message buffer, NULL when the field is absent. */
	const char *path, *iface, *member, *error_name, *dest, *sender;
	const char *sig; /* "" when absent (an empty body) */
	const uint8_t *body;
	size_t body_len;
};

/* Total length of the message that starts at p, from its fixed 16-byte header: 0 and *total
 * set; -EAGAIN when n < 16; -EBADMSG when the header is not D-Bus; -EMSGSIZE when the message
 * would exceed KT_DBUS_MAX_MSG. */
int kt_dbus_msg_len(const uint8_t *p, size_t n, size_t *total);

/* Checks and parses exactly one message of exactly n bytes. 0, -EBADMSG (anything the spec
 * forbids, or a required header field missing for the message type) or -EMSGSIZE. */
int kt_dbus_msg_parse(const uint8_t *p, size_t n, struct kt_dbus_msg *m);

/* True when sig is one valid signature (any number of complete types, spec limits). */
bool kt_dbus_sig_valid(const char *sig);
bool kt_dbus_path_valid(const char *path);

/* ---- Body reader, over a body kt_dbus_msg_parse accepted. Reads align first; errors (a read
 * past the end, a type the caller did not expect) are sticky in d->r.err and return 0 or "". */
struct kt_dbus_rd {
	struct kt_rd r; /* offset 0 = body start */
	bool be;
};

void kt_dbus_rd_init(struct kt_dbus_rd *d, const struct kt_dbus_msg *m);
uint8_t kt_dbus_rd_byte(struct kt_dbus_rd *d);
bool kt_dbus_rd_bool(struct kt_dbus_rd *d);
int32_t kt_dbus_rd_i32(struct kt_dbus_rd *d);
uint32_t kt_dbus_rd_u32(struct kt_dbus_rd *d);
/* 's' and 'o'. */
const char *kt_dbus_rd_str(struct kt_dbus_rd *d);
const char *kt_dbus_rd_sig(struct kt_dbus_rd *d);
/* Reads an array's length and alignment padding; returns the body offset where the array ends.
 * Iterate with `while (!d.r.err && d.r.off < end)`. */
size_t kt_dbus_rd_array(struct kt_dbus_rd *d, size_t elem_align);
void kt_dbus_rd_struct(struct kt_dbus_rd *d);

/* "Name: message" of an ERROR message (the message is its first string argument, when it has
 * one) into buf, always NUL-terminated. */
void kt_dbus_error_text(const struct kt_dbus_msg *m, char *buf, size_t len);

/* ---- Addresses. */

/* The first usable entry of a D-Bus address list ("unix:path=/p" or "unix:abstract=n", values
 * %-escaped as the spec allows, entries separated by ';'), starting at entry *index; on return
 * *index is the entry after the one used, so callers can try each in turn. 0, -ENOENT (no further
 * usable entry), -EINVAL (malformed) or -ENAMETOOLONG. */
int kt_dbus_parse_address(const char *addr, size_t *index, struct sockaddr_un *sa,
			  socklen_t *salen);

/* DBUS_SYSTEM_BUS_ADDRESS when set and non-empty, else KT_DBUS_SYSTEM_DEFAULT. */
const char *kt_dbus_system_address(void);

/* ---- Connection. */

struct kt_dbus;

/* Connects, authenticates (SASL EXTERNAL with our effective uid) and says Hello. timeout_ms
 * bounds the whole setup and later each call. NULL on failure with one line in err. */
struct kt_dbus *kt_dbus_connect(const char *address, int timeout_ms, char *err, size_t errlen);
/* kt_dbus_free(NULL) is a no-op. */
void kt_dbus_free(struct kt_dbus *c);
/* Our unique name from Hello (":1.42"). */
const char *kt_dbus_unique_name(const struct kt_dbus *c);

/* A reply and the buffer it points into (owned). */
struct kt_dbus_reply {
	uint8_t *buf;
	size_t len;
	struct kt_dbus_msg msg;
};

/* Calls a method and waits for its reply, dropping every other message (signals such as
 * NameAcquired) meanwhile. 0: a METHOD_RETURN in *reply; -EREMOTEIO: an ERROR in *reply
 * (reply->msg.error_name) with "Name: message" in err; other -errno (-ETIMEDOUT, -ECONNRESET,
 * -EBADMSG, ...): no reply, a line in err, and the connection is unusable afterwards. Always
 * call kt_dbus_reply_fini afterwards. */
int kt_dbus_call(struct kt_dbus *c, const char *dest, const char *path, const char *iface,
		 const char *member, const char *sig, const void *body, size_t body_len,
		 struct kt_dbus_reply *reply, char *err, size_t errlen);
void kt_dbus_reply_fini(struct kt_dbus_reply *r);

#endif
