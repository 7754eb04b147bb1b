/* test_dbus.c: the D-Bus client (src/dbus.c) byte for byte and against a scripted peer.
 *
 * The expected messages below were computed by hand from the D-Bus Specification's marshaling
 * rules; the comments give each part's offset. Bytes from second implementations check the
 * hand work: a Hello reply the real dbus-daemon sent (here), and sd-bus's marshalling of the
 * a(iay) and a(sb) values we send (test_sysdns.c). tests/e2e/test_sysdns_resolved.sh runs the
 * same code against dbus-daemon and systemd-resolved. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dbus.h"
#include "kt_test.h"
#include "unit/fake_dbus.h"

#define LIT(s) (const uint8_t *)(s), sizeof(s) - 1
#define LIT_N(s) (s), sizeof(s) - 1

/* org.freedesktop.DBus.Hello, serial 1: header fields PATH, DESTINATION, INTERFACE, MEMBER. */
static const char hello_call[] =
    "l\x01\x00\x01"
    "\x00\x00\x00\x00"				/* body length 0 */
    "\x01\x00\x00\x00"				/* serial 1 */
    "\x6e\x00\x00\x00"				/* fields: 110 bytes */
    "\x01\x01o\x00"				/* 16: PATH, "o" */
    "\x15\x00\x00\x00/org/freedesktop/DBus\x00" /* 20: 21 bytes + NUL */
    "\x00\x00"					/* 46: pad to 48 */
    "\x06\x01s\x00"				/* 48: DESTINATION, "s" */
    "\x14\x00\x00\x00org.freedesktop.DBus\x00"	/* 52 */
    "\x00\x00\x00"				/* 77: pad to 80 */
    "\x02\x01s\x00"				/* 80: INTERFACE */
    "\x14\x00\x00\x00org.freedesktop.DBus\x00"	/* 84 */
    "\x00\x00\x00"				/* 109: pad to 112 */
    "\x03\x01s\x00"				/* 112: MEMBER */
    "\x05\x00\x00\x00Hello\x00"			/* 116, ends at 126 */
    "\x00\x00";					/* 126: header pad to 128 */

/* SetLinkDNS(7, [(AF_INET, 198.19.0.53)]) to resolved, serial 7. */
static const char setlinkdns_call[] =
    "l\x01\x00\x01"
    "\x14\x00\x00\x00"					   /* body length 20 */
    "\x07\x00\x00\x00"					   /* serial 7 */
    "\xa5\x00\x00\x00"					   /* fields: 165 bytes */
    "\x01\x01o\x00"					   /* 16: PATH */
    "\x19\x00\x00\x00/org/freedesktop/resolve1\x00"	   /* 20, ends at 50 */
    "\x00\x00\x00\x00\x00\x00"				   /* pad to 56 */
    "\x06\x01s\x00"					   /* 56: DESTINATION */
    "\x18\x00\x00\x00org.freedesktop.resolve1\x00"	   /* 60, ends at 89 */
    "\x00\x00\x00\x00\x00\x00\x00"			   /* pad to 96 */
    "\x02\x01s\x00"					   /* 96: INTERFACE */
    "\x20\x00\x00\x00org.freedesktop.resolve1.Manager\x00" /* 100, ends at 137 */
    "\x00\x00\x00\x00\x00\x00\x00"			   /* pad to 144 */
    "\x03\x01s\x00"					   /* 144: MEMBER */
    "\x0a\x00\x00\x00SetLinkDNS\x00"			   /* 148, ends at 163 */
    "\x00\x00\x00\x00\x00"				   /* pad to 168 */
    "\x08\x01g\x00"					   /* 168: SIGNATURE, "g" */
    "\x07ia(iay)\x00"					   /* 172, ends at 181 */
    "\x00\x00\x00"					   /* header pad to 184 */
    "\x07\x00\x00\x00"					   /* body 0: i 7 */
    "\x0c\x00\x00\x00"					   /* 4: array of 12 bytes */
    "\x02\x00\x00\x00"					   /* 8: struct: i AF_INET */
    "\x04\x00\x00\x00"					   /* 12: ay of 4 */
    "\xc6\x13\x00\x35";					   /* 16: 198.19.0.53 */

/* The Hello reply, as a bus sends it (flags NO_REPLY_EXPECTED), serial 3. */
static const char hello_reply[] =
    "l\x02\x01\x01"
    "\x09\x00\x00\x00"					    /* body length 9 */
    "\x03\x00\x00\x00"					    /* serial 3 */
    "\x3f\x00\x00\x00"					    /* fields: 63 bytes */
    "\x05\x01u\x00\x01\x00\x00\x00"			    /* 16: REPLY_SERIAL 1 */
    "\x06\x01s\x00\x04\x00\x00\x00:1.2\x00"		    /* 24: DESTINATION, to 37 */
    "\x00\x00\x00"					    /* pad to 40 */
    "\x07\x01s\x00\x14\x00\x00\x00org.freedesktop.DBus\x00" /* 40: SENDER, to 69 */
    "\x00\x00\x00"					    /* pad to 72 */
    "\x08\x01g\x00\x01s\x00"				    /* 72: SIGNATURE "s", to 79 */
    "\x00"						    /* header pad to 80 */
    "\x04\x00\x00\x00:1.2\x00";				    /* 80: body ":1.2" */

/* An ERROR reply with its fields in another order: ERROR_NAME, REPLY_SERIAL, SIGNATURE. */
static const char error_reply[] =
    "l\x03\x01\x01"
    "\x15\x00\x00\x00"					      /* body length 21 */
    "\x04\x00\x00\x00"					      /* serial 4 */
    "\x3f\x00\x00\x00"					      /* fields: 63 bytes */
    "\x04\x01s\x00"					      /* 16: ERROR_NAME */
    "\x23\x00\x00\x00org.freedesktop.resolve1.NoSuchLink\x00" /* 20, ends at 60 */
    "\x00\x00\x00\x00"					      /* pad to 64 */
    "\x05\x01u\x00\x02\x00\x00\x00"			      /* 64: REPLY_SERIAL 2 */
    "\x08\x01g\x00\x01s\x00"				      /* 72: SIGNATURE "s" */
    "\x00"						      /* pad to 80 */
    "\x10\x00\x00\x00Link 9 not known\x00";		      /* 80: body */

/* A big-endian METHOD_RETURN with body "ib" (-2, true). */
static const char be_reply[] = "B\x02\x00\x01"
			       "\x00\x00\x00\x08"	       /* body length 8 */
			       "\x00\x00\x00\x05"	       /* serial 5 */
			       "\x00\x00\x00\x10"	       /* fields: 16 bytes */
			       "\x05\x01u\x00\x00\x00\x00\x07" /* 16: REPLY_SERIAL 7 */
			       "\x08\x01g\x00\x02ib\x00"       /* 24: SIGNATURE "ib" */
			       "\xff\xff\xff\xfe"	       /* 32: i -2 */
			       "\x00\x00\x00\x01";	       /* 36: b true */

static int parse(const void *p, size_t n)
{
	struct kt_dbus_msg m;
	return kt_dbus_msg_parse(p, n, &m);
}

/* A copy of v with byte off set to b, parsed. */
static int parse_mutated(const char *v, size_t n, size_t off, uint8_t b)
{
	uint8_t buf[512];
	memcpy(buf, v, n);
	buf[off] = b;
	return parse(buf, n);
}

/* ---- Writer. */

KT_TEST(hello_call_is_byte_exact)
{
	uint8_t out[256];
	struct kt_wr w = kt_wr_make(out, sizeof(out));
	KT_CHECK_INT_EQ(kt_dbus_build_call(&w, 1, "org.freedesktop.DBus", "/org/freedesktop/DBus",
					   "org.freedesktop.DBus", "Hello", "", NULL, 0),
			0);
	KT_CHECK_INT_EQ(w.off, sizeof(hello_call) - 1);
	KT_CHECK_MEM_EQ(out, hello_call, sizeof(hello_call) - 1);
}

KT_TEST(setlinkdns_call_is_byte_exact)
{
	uint8_t body[64], out[512];
	struct kt_wr b = kt_wr_make(body, sizeof(body));
	kt_dbus_w_i32(&b, 7);
	struct kt_dbus_arr a = kt_dbus_w_array_open(&b, 8);
	kt_dbus_w_struct(&b);
	kt_dbus_w_i32(&b, 2);
	struct kt_dbus_arr ay = kt_dbus_w_array_open(&b, 1);
	static const uint8_t ip[4] = {198, 19, 0, 53};
	kt_wr_bytes(&b, ip, 4);
	kt_dbus_w_array_close(&b, ay);
	kt_dbus_w_array_close(&b, a);
	KT_REQUIRE(!b.err);
	KT_CHECK_INT_EQ(b.off, 20);
	struct kt_wr w = kt_wr_make(out, sizeof(out));
	KT_CHECK_INT_EQ(kt_dbus_build_call(&w, 7, "org.freedesktop.resolve1",
					   "/org/freedesktop/resolve1",
					   "org.freedesktop.resolve1.Manager", "SetLinkDNS",
					   "ia(iay)", body, b.off),
			0);
	KT_CHECK_INT_EQ(w.off, sizeof(setlinkdns_call) - 1);
	KT_CHECK_MEM_EQ(out, setlinkdns_call, sizeof(setlinkdns_call) - 1);
	/* Our own parser accepts what we write, and sees the fields we wrote. */
	struct kt_dbus_msg m;
	KT_REQUIRE(kt_dbus_msg_parse(out, w.off, &m) == 0);
	KT_CHECK_INT_EQ(m.type, KT_DBUS_METHOD_CALL);
	KT_CHECK_STR_EQ(m.member, "SetLinkDNS");
	KT_CHECK_STR_EQ(m.sig, "ia(iay)");
	KT_CHECK_STR_EQ(m.dest, "org.freedesktop.resolve1");
}

/* Every signature sysdns.c sends, at offset 0 of a body. */
KT_TEST(bodies_align_and_pad)
{
	uint8_t b[128];
	struct kt_wr w;

	/* "ib": SetLinkDefaultRoute(7, false). */
	w = kt_wr_make(b, sizeof(b));
	kt_dbus_w_i32(&w, 7);
	kt_dbus_w_bool(&w, false);
	KT_CHECK_INT_EQ(w.off, 8);
	KT_CHECK_MEM_EQ(b, "\x07\x00\x00\x00\x00\x00\x00\x00", 8);

	/* "is": SetLinkLLMNR(7, "no"). */
	w = kt_wr_make(b, sizeof(b));
	kt_dbus_w_i32(&w, 7);
	kt_dbus_w_str(&w, "no");
	KT_CHECK_INT_EQ(w.off, 11);
	KT_CHECK_MEM_EQ(b, "\x07\x00\x00\x00\x02\x00\x00\x00no\x00", 11);

	/* "as": ["a", "bc"]: the second string's length is 4-aligned (pad at 10, 11). */
	w = kt_wr_make(b, sizeof(b));
	struct kt_dbus_arr a = kt_dbus_w_array_open(&w, 4);
	kt_dbus_w_str(&w, "a");
	kt_dbus_w_str(&w, "bc");
	kt_dbus_w_array_close(&w, a);
	KT_CHECK_INT_EQ(w.off, 19);
	KT_CHECK_MEM_EQ(b,
			"\x0f\x00\x00\x00"
			"\x01\x00\x00\x00"
			"a\x00\x00\x00"
			"\x02\x00\x00\x00"
			"bc\x00",
			19);

	/* "a(sb)": [("x", true), ("yz", false)]: structs start 8-aligned. */
	w = kt_wr_make(b, sizeof(b));
	kt_dbus_w_i32(&w, 1);
	a = kt_dbus_w_array_open(&w, 8);
	kt_dbus_w_struct(&w);
	kt_dbus_w_str(&w, "x");
	kt_dbus_w_bool(&w, true);
	kt_dbus_w_struct(&w);
	kt_dbus_w_str(&w, "yz");
	kt_dbus_w_bool(&w, false);
	kt_dbus_w_array_close(&w, a);
	KT_CHECK_INT_EQ(w.off, 36);
	KT_CHECK_MEM_EQ(b,
			"\x01\x00\x00\x00"
			"\x1c\x00\x00\x00"		/* 28 bytes: 8..36 */
			"\x01\x00\x00\x00x\x00\x00\x00" /* 8: "x", pad to 16 */
			"\x01\x00\x00\x00"		/* 16: true */
			"\x00\x00\x00\x00"		/* 20: pad to 24 */
			"\x02\x00\x00\x00yz\x00\x00"	/* 24: "yz", pad to 32 */
			"\x00\x00\x00\x00",		/* 32: false */
			36);

	/* An empty array still pads to its element's alignment after the length. */
	w = kt_wr_make(b, sizeof(b));
	a = kt_dbus_w_array_open(&w, 8);
	kt_dbus_w_array_close(&w, a);
	KT_CHECK_INT_EQ(w.off, 8);
	KT_CHECK_MEM_EQ(b, "\x00\x00\x00\x00\x00\x00\x00\x00", 8);

	/* "yu" and "y(i)": padding after a byte. */
	w = kt_wr_make(b, sizeof(b));
	kt_dbus_w_byte(&w, 9);
	kt_dbus_w_u32(&w, 0x01020304);
	kt_dbus_w_byte(&w, 8);
	kt_dbus_w_struct(&w);
	kt_dbus_w_i32(&w, -1);
	KT_CHECK_INT_EQ(w.off, 20);
	KT_CHECK_MEM_EQ(b,
			"\x09\x00\x00\x00\x04\x03\x02\x01"
			"\x08\x00\x00\x00\x00\x00\x00\x00"
			"\xff\xff\xff\xff",
			20);

	/* "g". */
	w = kt_wr_make(b, sizeof(b));
	kt_dbus_w_sig(&w, "a(sb)");
	KT_CHECK_INT_EQ(w.off, 7);
	KT_CHECK_MEM_EQ(b,
			"\x05"
			"a(sb)\x00",
			7);
}

KT_TEST(writer_refuses_what_the_spec_forbids)
{
	uint8_t b[16];
	struct kt_wr w = kt_wr_make(b, sizeof(b));
	kt_dbus_w_str(&w, "\xff");
	KT_CHECK(w.err);
	w = kt_wr_make(b, sizeof(b));
	kt_dbus_w_path(&w, "a/b");
	KT_CHECK(w.err);
	w = kt_wr_make(b, sizeof(b));
	kt_dbus_w_sig(&w, "a");
	KT_CHECK(w.err);
	w = kt_wr_make(b, sizeof(b));
	kt_dbus_w_str(&w, "twelve chars");
	KT_CHECK(w.err); /* 4 + 12 + 1 > 16 */

	uint8_t out[512];
	w = kt_wr_make(out, sizeof(out));
	KT_CHECK_INT_EQ(kt_dbus_build_call(&w, 0, NULL, "/", NULL, "M", "", NULL, 0), -EINVAL);
	KT_CHECK_INT_EQ(kt_dbus_build_call(&w, 1, NULL, "x", NULL, "M", "", NULL, 0), -EINVAL);
	KT_CHECK_INT_EQ(kt_dbus_build_call(&w, 1, NULL, "/", NULL, "1M", "", NULL, 0), -EINVAL);
	KT_CHECK_INT_EQ(kt_dbus_build_call(&w, 1, NULL, "/", "nodot", "M", "", NULL, 0), -EINVAL);
	KT_CHECK_INT_EQ(kt_dbus_build_call(&w, 1, "a..b", "/", NULL, "M", "", NULL, 0), -EINVAL);
	KT_CHECK_INT_EQ(kt_dbus_build_call(&w, 1, NULL, "/", NULL, "M", "i", NULL, 0), -EINVAL);
	KT_CHECK_INT_EQ(kt_dbus_build_call(&w, 1, NULL, "/", NULL, "M", "", "x", 1), -EINVAL);
	KT_CHECK_INT_EQ(w.off, 0);
	uint8_t small[40];
	w = kt_wr_make(small, sizeof(small));
	KT_CHECK_INT_EQ(kt_dbus_build_call(&w, 1, "org.freedesktop.DBus", "/org/freedesktop/DBus",
					   NULL, "Hello", "", NULL, 0),
			-ENOBUFS);
	KT_CHECK_INT_EQ(w.off, 0);
}

/* ---- Parser. */

KT_TEST(parses_hello_reply)
{
	struct kt_dbus_msg m;
	KT_REQUIRE(kt_dbus_msg_parse(LIT(hello_reply), &m) == 0);
	KT_CHECK_INT_EQ(m.type, KT_DBUS_METHOD_RETURN);
	KT_CHECK_INT_EQ(m.flags, 1);
	KT_CHECK(!m.big_endian);
	KT_CHECK_INT_EQ(m.serial, 3);
	KT_CHECK_INT_EQ(m.reply_serial, 1);
	KT_CHECK_STR_EQ(m.dest, ":1.2");
	KT_CHECK_STR_EQ(m.sender, "org.freedesktop.DBus");
	KT_CHECK_STR_EQ(m.sig, "s");
	KT_CHECK(m.path == NULL && m.member == NULL && m.error_name == NULL);
	KT_CHECK_INT_EQ(m.body_len, 9);
	struct kt_dbus_rd d;
	kt_dbus_rd_init(&d, &m);
	KT_CHECK_STR_EQ(kt_dbus_rd_str(&d), ":1.2");
	KT_CHECK(!d.r.err);
	KT_CHECK_INT_EQ(kt_rd_left(&d.r), 0);
	/* Reading past the end is an error, not a crash. */
	KT_CHECK_STR_EQ(kt_dbus_rd_str(&d), "");
	KT_CHECK(d.r.err);

	/* fake_mkmsg (used for the scripted peer) writes the same bytes, flags aside. */
	uint8_t out[256], body[16];
	struct kt_wr w = kt_wr_make(body, sizeof(body));
	kt_dbus_w_str(&w, ":1.2");
	struct fake_fields f = {
	    .reply_serial = 1, .dest = ":1.2", .sender = "org.freedesktop.DBus", .sig = "s"};
	size_t n = fake_mkmsg(out, sizeof(out), KT_DBUS_METHOD_RETURN, 3, &f, body, w.off);
	KT_CHECK_INT_EQ(n, sizeof(hello_reply) - 1);
	out[2] = 1;
	KT_CHECK_MEM_EQ(out, hello_reply, sizeof(hello_reply) - 1);
}

/* The Hello reply the real dbus-daemon 1.14 sent (captured by strace in the e2e setup): fields
 * DESTINATION, REPLY_SERIAL, SIGNATURE, SENDER in its own order. */
static const char daemon_hello_reply[] =
    "\x6c\x02\x01\x01\x09\x00\x00\x00\x01\x00\x00\x00\x3d\x00\x00\x00"
    "\x06\x01\x73\x00\x04\x00\x00\x00\x3a\x31\x2e\x31\x00\x00\x00\x00"
    "\x05\x01\x75\x00\x01\x00\x00\x00\x08\x01\x67\x00\x01\x73\x00\x00"
    "\x07\x01\x73\x00\x14\x00\x00\x00\x6f\x72\x67\x2e\x66\x72\x65\x65"
    "\x64\x65\x73\x6b\x74\x6f\x70\x2e\x44\x42\x75\x73\x00\x00\x00\x00"
    "\x04\x00\x00\x00\x3a\x31\x2e\x31\x00";

KT_TEST(parses_real_dbus_daemon_reply)
{
	struct kt_dbus_msg m;
	KT_REQUIRE(kt_dbus_msg_parse(LIT(daemon_hello_reply), &m) == 0);
	KT_CHECK_INT_EQ(m.type, KT_DBUS_METHOD_RETURN);
	KT_CHECK_INT_EQ(m.reply_serial, 1);
	KT_CHECK_STR_EQ(m.dest, ":1.1");
	KT_CHECK_STR_EQ(m.sender, "org.freedesktop.DBus");
	KT_CHECK_STR_EQ(m.sig, "s");
	struct kt_dbus_rd d;
	kt_dbus_rd_init(&d, &m);
	KT_CHECK_STR_EQ(kt_dbus_rd_str(&d), ":1.1");
	KT_CHECK(!d.r.err);
}

KT_TEST(parses_error_reply)
{
	struct kt_dbus_msg m;
	KT_REQUIRE(kt_dbus_msg_parse(LIT(error_reply), &m) == 0);
	KT_CHECK_INT_EQ(m.type, KT_DBUS_ERROR);
	KT_CHECK_INT_EQ(m.reply_serial, 2);
	KT_CHECK_STR_EQ(m.error_name, "org.freedesktop.resolve1.NoSuchLink");
	char text[128];
	kt_dbus_error_text(&m, text, sizeof(text));
	KT_CHECK_STR_EQ(text, "org.freedesktop.resolve1.NoSuchLink: Link 9 not known");
	kt_dbus_error_text(&m, text, 10);
	KT_CHECK_STR_EQ(text, "org.freed");
}

KT_TEST(parses_big_endian)
{
	struct kt_dbus_msg m;
	KT_REQUIRE(kt_dbus_msg_parse(LIT(be_reply), &m) == 0);
	KT_CHECK(m.big_endian);
	KT_CHECK_INT_EQ(m.serial, 5);
	KT_CHECK_INT_EQ(m.reply_serial, 7);
	KT_CHECK_STR_EQ(m.sig, "ib");
	struct kt_dbus_rd d;
	kt_dbus_rd_init(&d, &m);
	KT_CHECK_INT_EQ(kt_dbus_rd_i32(&d), -2);
	KT_CHECK(kt_dbus_rd_bool(&d));
	KT_CHECK(!d.r.err);
	/* A boolean of 2 is invalid. */
	KT_CHECK_INT_EQ(parse_mutated(LIT_N(be_reply), 39, 2), -EBADMSG);
}

KT_TEST(parses_list_names_reply)
{
	uint8_t body[256], msg[512];
	struct kt_wr w = kt_wr_make(body, sizeof(body));
	struct kt_dbus_arr a = kt_dbus_w_array_open(&w, 4);
	kt_dbus_w_str(&w, "org.freedesktop.DBus");
	kt_dbus_w_str(&w, ":1.0");
	kt_dbus_w_str(&w, "org.freedesktop.resolve1");
	kt_dbus_w_array_close(&w, a);
	KT_REQUIRE(!w.err);
	struct fake_fields f = {.reply_serial = 2, .sig = "as"};
	size_t n = fake_mkmsg(msg, sizeof(msg), KT_DBUS_METHOD_RETURN, 9, &f, body, w.off);
	KT_REQUIRE(n > 0);
	struct kt_dbus_msg m;
	KT_REQUIRE(kt_dbus_msg_parse(msg, n, &m) == 0);
	struct kt_dbus_rd d;
	kt_dbus_rd_init(&d, &m);
	size_t end = kt_dbus_rd_array(&d, 4);
	const char *names[4] = {0};
	int count = 0;
	while (!d.r.err && d.r.off < end && count < 4)
		names[count++] = kt_dbus_rd_str(&d);
	KT_CHECK(!d.r.err);
	KT_CHECK_INT_EQ(count, 3);
	KT_CHECK_STR_EQ(names[2], "org.freedesktop.resolve1");

	/* The array length must cover its elements exactly: one byte short or long fails. The
	 * body starts at n - w.off; the array length is its first word. */
	size_t body_off = n - w.off;
	msg[body_off] = (uint8_t)(msg[body_off] - 1);
	KT_CHECK_INT_EQ(kt_dbus_msg_parse(msg, n, &m), -EBADMSG);
	msg[body_off] = (uint8_t)(msg[body_off] + 2);
	KT_CHECK_INT_EQ(kt_dbus_msg_parse(msg, n, &m), -EBADMSG);
}

KT_TEST(rejects_every_truncation)
{
	static const struct {
		const char *v;
		size_t n;
	} vs[] = {{LIT_N(hello_reply)}, {LIT_N(error_reply)}, {LIT_N(be_reply)}};
	for (size_t i = 0; i < sizeof(vs) / sizeof(vs[0]); i++) {
		for (size_t k = 0; k < vs[i].n; k++) {
			/* Each prefix in a buffer of exactly its size, so ASan sees any over-read.
			 */
			uint8_t *p = malloc(k ? k : 1);
			KT_REQUIRE(p);
			memcpy(p, vs[i].v, k);
			KT_CHECK(parse(p, k) != 0);
			free(p);
		}
		uint8_t longer[512] = {0};
		memcpy(longer, vs[i].v, vs[i].n);
		KT_CHECK_INT_EQ(parse(longer, vs[i].n + 1), -EBADMSG);
		KT_CHECK_INT_EQ(parse(vs[i].v, vs[i].n), 0);
	}
}

KT_TEST(rejects_malformed_headers)
{
	const size_t n = sizeof(hello_reply) - 1;
	KT_CHECK_INT_EQ(parse_mutated(hello_reply, n, 0, 'x'), -EBADMSG);   /* endianness */
	KT_CHECK_INT_EQ(parse_mutated(hello_reply, n, 3, 2), -EBADMSG);	    /* version */
	KT_CHECK_INT_EQ(parse_mutated(hello_reply, n, 8, 0), -EBADMSG);	    /* serial 0 */
	KT_CHECK_INT_EQ(parse_mutated(hello_reply, n, 20, 0), -EBADMSG);    /* reply serial 0 */
	KT_CHECK_INT_EQ(parse_mutated(hello_reply, n, 37, 1), -EBADMSG);    /* field padding */
	KT_CHECK_INT_EQ(parse_mutated(hello_reply, n, 79, 1), -EBADMSG);    /* header padding */
	KT_CHECK_INT_EQ(parse_mutated(hello_reply, n, 36, 'x'), -EBADMSG);  /* NUL missing */
	KT_CHECK_INT_EQ(parse_mutated(hello_reply, n, 34, 0), -EBADMSG);    /* NUL inside */
	KT_CHECK_INT_EQ(parse_mutated(hello_reply, n, 25, 2), -EBADMSG);    /* variant sig len */
	KT_CHECK_INT_EQ(parse_mutated(hello_reply, n, 26, 'u'), -EBADMSG);  /* DEST not 's' */
	KT_CHECK_INT_EQ(parse_mutated(hello_reply, n, 40, 6), -EBADMSG);    /* DEST twice */
	KT_CHECK_INT_EQ(parse_mutated(hello_reply, n, 16, 0x21), -EBADMSG); /* no REPLY_SERIAL */
	KT_CHECK_INT_EQ(parse_mutated(hello_reply, n, 77, '('), -EBADMSG);  /* bad signature */
	KT_CHECK_INT_EQ(parse_mutated(hello_reply, n, 77, 'u'), -EBADMSG);  /* body not a 'u' */
	KT_CHECK_INT_EQ(parse_mutated(hello_reply, n, 12, 0x40), -EBADMSG); /* fields length */
	KT_CHECK_INT_EQ(parse_mutated(hello_reply, n, 4, 10), -EBADMSG);    /* body length */
	KT_CHECK_INT_EQ(parse_mutated(hello_reply, n, 84, 0xff), -EBADMSG); /* UTF-8 */
	KT_CHECK_INT_EQ(parse_mutated(hello_reply, n, 80, 0xff), -EBADMSG); /* string length */
	KT_CHECK_INT_EQ(parse_mutated(hello_reply, n, 24, 0), -EBADMSG);    /* field code 0 */
	KT_CHECK_INT_EQ(parse_mutated(hello_reply, n, 44, 0x13), -EBADMSG);
	/* An unknown field code is accepted and ignored (spec "Header Fields"). */
	struct kt_dbus_msg m;
	uint8_t buf[128];
	memcpy(buf, hello_reply, n);
	buf[40] = 0x20;
	KT_CHECK_INT_EQ(kt_dbus_msg_parse(buf, n, &m), 0);
	KT_CHECK(m.sender == NULL);
	/* An unknown message type parses; the caller ignores it. */
	KT_CHECK_INT_EQ(parse_mutated(hello_reply, n, 1, 9), 0);
	/* ERROR without ERROR_NAME, SIGNAL without INTERFACE/MEMBER, METHOD_CALL without PATH. */
	KT_CHECK_INT_EQ(parse_mutated(hello_reply, n, 1, KT_DBUS_ERROR), -EBADMSG);
	KT_CHECK_INT_EQ(parse_mutated(hello_reply, n, 1, KT_DBUS_SIGNAL), -EBADMSG);
	KT_CHECK_INT_EQ(parse_mutated(hello_reply, n, 1, KT_DBUS_METHOD_CALL), -EBADMSG);
}

KT_TEST(length_limits)
{
	size_t total = 0;
	uint8_t h[16];
	memcpy(h, hello_reply, 16);
	KT_CHECK_INT_EQ(kt_dbus_msg_len(h, 15, &total), -EAGAIN);
	KT_CHECK_INT_EQ(kt_dbus_msg_len(h, 16, &total), 0);
	KT_CHECK_INT_EQ(total, sizeof(hello_reply) - 1);
	/* Body of 2 MiB: over our 1 MiB limit. */
	h[4] = 0, h[5] = 0, h[6] = 0x20, h[7] = 0;
	KT_CHECK_INT_EQ(kt_dbus_msg_len(h, 16, &total), -EMSGSIZE);
	/* Fields longer than the spec's 64 MiB array limit. */
	memcpy(h, hello_reply, 16);
	h[12] = 1, h[13] = 0, h[14] = 0, h[15] = 4;
	KT_CHECK_INT_EQ(kt_dbus_msg_len(h, 16, &total), -EBADMSG);
	/* Just under the limit in all is fine as a length. */
	memcpy(h, hello_reply, 16);
	h[4] = 0, h[5] = 0xff, h[6] = 0x0f, h[7] = 0;
	KT_CHECK_INT_EQ(kt_dbus_msg_len(h, 16, &total), 0);
	KT_CHECK_INT_EQ(total, 80 + 0x0fff00);
}

/* A METHOD_RETURN of signature sig wrapping body. */
static int parse_body(const char *sig, const void *body, size_t len)
{
	uint8_t msg[4096];
	struct fake_fields f = {.reply_serial = 1, .sig = sig};
	size_t n = fake_mkmsg(msg, sizeof(msg), KT_DBUS_METHOD_RETURN, 1, &f, body, len);
	return n ? parse(msg, n) : -ENOBUFS;
}

KT_TEST(body_rules)
{
	/* An empty array of structs without its padding after the length. */
	KT_CHECK_INT_EQ(parse_body("a(i)", "\x00\x00\x00\x00\x00\x00\x00\x00", 8), 0);
	KT_CHECK_INT_EQ(parse_body("a(i)", "\x00\x00\x00\x00", 4), -EBADMSG);
	/* Nonzero padding inside a body. */
	KT_CHECK_INT_EQ(parse_body("yu", "\x01\x00\x00\x00\x02\x00\x00\x00", 8), 0);
	KT_CHECK_INT_EQ(parse_body("yu", "\x01\x00\x07\x00\x02\x00\x00\x00", 8), -EBADMSG);
	/* A variant: signature then value; must hold exactly one complete type. */
	KT_CHECK_INT_EQ(parse_body("v", "\x01u\x00\x00\x05\x00\x00\x00", 8), 0);
	KT_CHECK_INT_EQ(parse_body("v", "\x02uu\x00\x05\x00\x00\x00", 8), -EBADMSG);
	KT_CHECK_INT_EQ(parse_body("v", "\x00\x00", 2), -EBADMSG);
	/* Object paths are checked. */
	KT_CHECK_INT_EQ(parse_body("o", "\x02\x00\x00\x00/a\x00", 7), 0);
	KT_CHECK_INT_EQ(parse_body("o", "\x02\x00\x00\x00/-\x00", 7), -EBADMSG);
	/* A dict. */
	KT_CHECK_INT_EQ(parse_body("a{yy}", "\x02\x00\x00\x00\x00\x00\x00\x00\x01\x02", 10), 0);
	/* Leftover bytes after the signature's values. */
	KT_CHECK_INT_EQ(parse_body("y", "\x01\x02", 2), -EBADMSG);

	/* Variants nested 100 deep exceed the container limit of 64. */
	uint8_t deep[512];
	size_t o = 0;
	for (int i = 0; i < 100; i++) {
		deep[o++] = 1;
		deep[o++] = 'v';
		deep[o++] = 0;
	}
	deep[o++] = 1;
	deep[o++] = 'y';
	deep[o++] = 0;
	deep[o++] = 7;
	KT_CHECK_INT_EQ(parse_body("v", deep, o), -EBADMSG);
	/* 60 deep is fine. */
	o = 0;
	for (int i = 0; i < 60; i++) {
		deep[o++] = 1;
		deep[o++] = 'v';
		deep[o++] = 0;
	}
	deep[o++] = 1;
	deep[o++] = 'y';
	deep[o++] = 0;
	deep[o++] = 7;
	KT_CHECK_INT_EQ(parse_body("v", deep, o), 0);
}

KT_TEST(signature_and_path_rules)
{
	static const char *const good[] = {"",	  "i", "a{sv}",	   "a(iay)",	   "(ii)",
					   "aai", "v", "a{s(ib)}", "ybnqiuxtdsogh"};
	static const char *const bad[] = {"a",	  "(", "()", "a{vs}", "{ss}",	 "a{sss}",
					  "a{s}", "z", "(i", "i)",    "a{(i)s}", "a{si"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		KT_CHECK(kt_dbus_sig_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		KT_CHECK(!kt_dbus_sig_valid(bad[i]));
	char s[300];
	memset(s, 'a', 32);
	s[32] = 'i', s[33] = 0;
	KT_CHECK(kt_dbus_sig_valid(s)); /* 32 nested arrays */
	memset(s, 'a', 33);
	s[33] = 'i', s[34] = 0;
	KT_CHECK(!kt_dbus_sig_valid(s));
	memset(s, 'i', 256);
	s[256] = 0;
	KT_CHECK(!kt_dbus_sig_valid(s)); /* longer than 255 */
	s[255] = 0;
	KT_CHECK(kt_dbus_sig_valid(s));
	size_t o = 0;
	for (int i = 0; i < 33; i++)
		s[o++] = '(';
	s[o++] = 'i';
	for (int i = 0; i < 33; i++)
		s[o++] = ')';
	s[o] = 0;
	KT_CHECK(!kt_dbus_sig_valid(s)); /* 33 nested structs */

	KT_CHECK(kt_dbus_path_valid("/"));
	KT_CHECK(kt_dbus_path_valid("/org/freedesktop/resolve1/link/_32"));
	KT_CHECK(!kt_dbus_path_valid(""));
	KT_CHECK(!kt_dbus_path_valid("a"));
	KT_CHECK(!kt_dbus_path_valid("/a/"));
	KT_CHECK(!kt_dbus_path_valid("//"));
	KT_CHECK(!kt_dbus_path_valid("/a//b"));
	KT_CHECK(!kt_dbus_path_valid("/a-b"));
}

/* ---- Addresses. */

KT_TEST(addresses)
{
	struct sockaddr_un sa;
	socklen_t sl = 0;
	size_t idx = 0;
	const size_t base = offsetof(struct sockaddr_un, sun_path);

	KT_CHECK_INT_EQ(
	    kt_dbus_parse_address("unix:path=/run/dbus/system_bus_socket", &idx, &sa, &sl), 0);
	KT_CHECK_STR_EQ(sa.sun_path, "/run/dbus/system_bus_socket");
	KT_CHECK_INT_EQ(sl, base + 28);
	KT_CHECK_INT_EQ(idx, 1);
	KT_CHECK_INT_EQ(
	    kt_dbus_parse_address("unix:path=/run/dbus/system_bus_socket", &idx, &sa, &sl),
	    -ENOENT);

	idx = 0;
	KT_CHECK_INT_EQ(
	    kt_dbus_parse_address("unix:abstract=kt-test,guid=0123abcd", &idx, &sa, &sl), 0);
	KT_CHECK_INT_EQ(sa.sun_path[0], 0);
	KT_CHECK_MEM_EQ(sa.sun_path + 1, "kt-test", 7);
	KT_CHECK_INT_EQ(sl, base + 1 + 7);

	idx = 0;
	KT_CHECK_INT_EQ(kt_dbus_parse_address("unix:path=/tmp/a%20b%2c%2F", &idx, &sa, &sl), 0);
	KT_CHECK_STR_EQ(sa.sun_path, "/tmp/a b,/");

	/* A list: unsupported entries are skipped, each call yields the next usable one. */
	const char *list = "tcp:host=localhost,port=1;unix:tmpdir=/tmp;unix:path=/a;;unix:path=/b";
	idx = 0;
	KT_CHECK_INT_EQ(kt_dbus_parse_address(list, &idx, &sa, &sl), 0);
	KT_CHECK_STR_EQ(sa.sun_path, "/a");
	KT_CHECK_INT_EQ(kt_dbus_parse_address(list, &idx, &sa, &sl), 0);
	KT_CHECK_STR_EQ(sa.sun_path, "/b");
	KT_CHECK_INT_EQ(kt_dbus_parse_address(list, &idx, &sa, &sl), -ENOENT);

	static const char *const bad[] = {"unix:path=/a,abstract=b",
					  "unix:path=%zz",
					  "unix:path=%2",
					  "unix:path=",
					  "nocolon",
					  "unix:path",
					  "unix:path=/a%00b",
					  "unix:=x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		idx = 0;
		KT_CHECK_INT_EQ(kt_dbus_parse_address(bad[i], &idx, &sa, &sl), -EINVAL);
	}
	char longp[200] = "unix:path=/";
	memset(longp + 11, 'x', 106); /* 107 bytes of path: fits with its NUL */
	longp[117] = 0;
	idx = 0;
	KT_CHECK_INT_EQ(kt_dbus_parse_address(longp, &idx, &sa, &sl), 0);
	KT_CHECK_INT_EQ(strlen(sa.sun_path), 107);
	longp[117] = 'x', longp[118] = 0;
	idx = 0;
	KT_CHECK_INT_EQ(kt_dbus_parse_address(longp, &idx, &sa, &sl), -ENAMETOOLONG);

	setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:abstract=x", 1);
	KT_CHECK_STR_EQ(kt_dbus_system_address(), "unix:abstract=x");
	setenv("DBUS_SYSTEM_BUS_ADDRESS", "", 1);
	KT_CHECK_STR_EQ(kt_dbus_system_address(), "unix:path=/run/dbus/system_bus_socket");
	unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
	KT_CHECK_STR_EQ(kt_dbus_system_address(), "unix:path=/run/dbus/system_bus_socket");
}

/* ---- Connection, against scripted peers (fake_dbus.h). */

static int64_t ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Ping gets an error; Ping2 gets its reply after a stray reply and a signal; then EOF. */
static int serve_calls(int fd, void *arg)
{
	(void)arg;
	uint8_t buf[4096], body[64];
	size_t len;
	struct kt_dbus_msg m;
	if (fake_auth(fd, "OK 0123456789abcdef0123456789abcdef\r\n") || fake_hello(fd))
		return 1;
	if (fake_read_msg(fd, buf, sizeof(buf), &len, &m) || strcmp(m.member, "Ping") != 0 ||
	    strcmp(m.path, "/x") != 0 || strcmp(m.iface, "org.example.T") != 0 ||
	    strcmp(m.dest, "org.example") != 0)
		return 2;
	struct kt_wr w = kt_wr_make(body, sizeof(body));
	kt_dbus_w_str(&w, "nope");
	struct fake_fields e = {
	    .error_name = "org.example.Error.Nope", .reply_serial = m.serial, .sig = "s"};
	if (fake_send(fd, KT_DBUS_ERROR, 10, &e, body, w.off))
		return 3;
	if (fake_read_msg(fd, buf, sizeof(buf), &len, &m) || strcmp(m.member, "Ping2") != 0 ||
	    strcmp(m.sig, "u") != 0)
		return 4;
	w = kt_wr_make(body, sizeof(body));
	kt_dbus_w_u32(&w, 42);
	struct fake_fields stray = {.reply_serial = m.serial + 100, .sig = "u"};
	struct fake_fields sig = {.path = "/a", .iface = "a.b", .member = "C"};
	struct fake_fields ret = {.reply_serial = m.serial, .sig = "u"};
	if (fake_send(fd, KT_DBUS_METHOD_RETURN, 11, &stray, body, w.off) ||
	    fake_send(fd, KT_DBUS_SIGNAL, 12, &sig, NULL, 0) ||
	    fake_send(fd, KT_DBUS_METHOD_RETURN, 13, &ret, body, w.off))
		return 5;
	return fake_read_msg(fd, buf, sizeof(buf), &len, &m) == 1 ? 0 : 6;
}

KT_TEST(call_error_and_skipping)
{
	struct fake_bus b;
	KT_REQUIRE(fake_bus_listen(&b) == 0);
	KT_REQUIRE(fake_bus_run(&b, serve_calls, NULL) == 0);
	char err[256] = "", addr[256];
	/* The first address of the list does not exist: the second is used. */
	snprintf(addr, sizeof(addr), "unix:path=%s/none;%s", b.dir, b.addr);
	struct kt_dbus *c = kt_dbus_connect(addr, 5000, err, sizeof(err));
	KT_CHECK(c != NULL);
	if (c) {
		KT_CHECK_STR_EQ(kt_dbus_unique_name(c), ":1.7");
		struct kt_dbus_reply r;
		int rc = kt_dbus_call(c, "org.example", "/x", "org.example.T", "Ping", "", NULL, 0,
				      &r, err, sizeof(err));
		KT_CHECK_INT_EQ(rc, -EREMOTEIO);
		KT_CHECK_STR_EQ(err, "org.example.Error.Nope: nope");
		KT_CHECK_STR_EQ(r.msg.error_name, "org.example.Error.Nope");
		kt_dbus_reply_fini(&r);
		uint8_t body[4] = {1, 0, 0, 0};
		rc = kt_dbus_call(c, "org.example", "/x", "org.example.T", "Ping2", "u", body, 4,
				  &r, err, sizeof(err));
		KT_CHECK_INT_EQ(rc, 0);
		KT_CHECK_INT_EQ(r.msg.serial, 13);
		struct kt_dbus_rd d;
		kt_dbus_rd_init(&d, &r.msg);
		KT_CHECK_INT_EQ(kt_dbus_rd_u32(&d), 42);
		kt_dbus_reply_fini(&r);
		kt_dbus_free(c);
	}
	KT_CHECK_INT_EQ(fake_bus_wait(&b), 0);
}

/* Hello, then the call is read and never answered; waits for the client to hang up. */
static int serve_silent(int fd, void *arg)
{
	(void)arg;
	uint8_t buf[4096];
	size_t len;
	struct kt_dbus_msg m;
	if (fake_auth(fd, "OK 00\r\n") || fake_hello(fd) ||
	    fake_read_msg(fd, buf, sizeof(buf), &len, &m))
		return 1;
	return read(fd, buf, 1) == 0 ? 0 : 2;
}

KT_TEST(call_times_out)
{
	struct fake_bus b;
	KT_REQUIRE(fake_bus_listen(&b) == 0);
	KT_REQUIRE(fake_bus_run(&b, serve_silent, NULL) == 0);
	char err[256] = "";
	struct kt_dbus *c = kt_dbus_connect(b.addr, 300, err, sizeof(err));
	KT_CHECK(c != NULL);
	if (c) {
		struct kt_dbus_reply r;
		int64_t t0 = ms_now();
		int rc =
		    kt_dbus_call(c, NULL, "/", NULL, "Ping", "", NULL, 0, &r, err, sizeof(err));
		int64_t dt = ms_now() - t0;
		KT_CHECK_INT_EQ(rc, -ETIMEDOUT);
		KT_CHECK(dt >= 250 && dt < 2000);
		KT_CHECK_STR_EQ(err, "D-Bus: no reply to Ping within 300 ms");
		KT_CHECK(r.buf == NULL);
		kt_dbus_reply_fini(&r);
		/* After a timeout the stream is out of step: no further calls. */
		rc = kt_dbus_call(c, NULL, "/", NULL, "Ping", "", NULL, 0, &r, err, sizeof(err));
		KT_CHECK_INT_EQ(rc, -ENOTCONN);
		kt_dbus_reply_fini(&r);
		kt_dbus_free(c);
	}
	KT_CHECK_INT_EQ(fake_bus_wait(&b), 0);
}

/* Answers the call with bytes chosen by arg: 1 a reply with nonzero padding, 2 a header that
 * announces a 2 MiB body. */
static int serve_bad_reply(int fd, void *arg)
{
	int kind = *(int *)arg;
	uint8_t buf[4096], body[8] = {0};
	size_t len;
	struct kt_dbus_msg m;
	if (fake_auth(fd, "OK 00\r\n") || fake_hello(fd) ||
	    fake_read_msg(fd, buf, sizeof(buf), &len, &m))
		return 1;
	struct fake_fields f = {.reply_serial = m.serial, .sig = "y"};
	size_t n = fake_mkmsg(buf, sizeof(buf), KT_DBUS_METHOD_RETURN, 5, &f, body, 1);
	if (kind == 1)
		buf[n - 2] = 1; /* the header padding before the body */
	else
		buf[6] = 0x20, n = 16;
	if (fake_write(fd, buf, n))
		return 2;
	return read(fd, buf, 1) == 0 ? 0 : 3;
}

KT_TEST(call_rejects_bad_replies)
{
	static int kinds[] = {1, 2};
	static const int want[] = {-EBADMSG, -EMSGSIZE};
	for (int i = 0; i < 2; i++) {
		struct fake_bus b;
		KT_REQUIRE(fake_bus_listen(&b) == 0);
		KT_REQUIRE(fake_bus_run(&b, serve_bad_reply, &kinds[i]) == 0);
		char err[256] = "";
		struct kt_dbus *c = kt_dbus_connect(b.addr, 2000, err, sizeof(err));
		KT_CHECK(c != NULL);
		if (c) {
			struct kt_dbus_reply r;
			int rc = kt_dbus_call(c, NULL, "/", NULL, "Get", "", NULL, 0, &r, err,
					      sizeof(err));
			KT_CHECK_INT_EQ(rc, want[i]);
			KT_CHECK(r.buf == NULL);
			kt_dbus_reply_fini(&r);
			kt_dbus_free(c);
		}
		KT_CHECK_INT_EQ(fake_bus_wait(&b), 0);
	}
}

static int serve_reject(int fd, void *arg)
{
	(void)arg;
	return fake_auth(fd, "REJECTED EXTERNAL\r\n") ? 1 : 0;
}

static int serve_hangup(int fd, void *arg)
{
	(void)arg;
	uint8_t buf[4096];
	size_t len;
	struct kt_dbus_msg m;
	/* Takes Hello, then exits without answering, which closes the socket. */
	return fake_auth(fd, "OK 00\r\n") || fake_read_msg(fd, buf, sizeof(buf), &len, &m) ? 1 : 0;
}

KT_TEST(connect_failures)
{
	char err[256] = "";
	struct fake_bus b;
	KT_REQUIRE(fake_bus_listen(&b) == 0);
	KT_REQUIRE(fake_bus_run(&b, serve_reject, NULL) == 0);
	KT_CHECK(kt_dbus_connect(b.addr, 2000, err, sizeof(err)) == NULL);
	KT_CHECK(strstr(err, "rejected EXTERNAL authentication") != NULL);
	KT_CHECK_INT_EQ(fake_bus_wait(&b), 0);

	KT_REQUIRE(fake_bus_listen(&b) == 0);
	KT_REQUIRE(fake_bus_run(&b, serve_hangup, NULL) == 0);
	KT_CHECK(kt_dbus_connect(b.addr, 2000, err, sizeof(err)) == NULL);
	KT_CHECK_STR_EQ(err, "D-Bus: the bus closed the connection during Hello");
	KT_CHECK_INT_EQ(fake_bus_wait(&b), 0);

	KT_CHECK(kt_dbus_connect("unix:path=/nonexistent/kt-bus", 2000, err, sizeof(err)) == NULL);
	KT_CHECK_STR_EQ(err, "D-Bus: cannot connect to unix:path=/nonexistent/kt-bus: No such file "
			     "or directory");
	KT_CHECK(kt_dbus_connect("tcp:host=localhost,port=1", 2000, err, sizeof(err)) == NULL);
	KT_CHECK_STR_EQ(err, "D-Bus: no usable address in \"tcp:host=localhost,port=1\"");
	KT_CHECK(kt_dbus_connect("unix:path=%zz", 2000, err, sizeof(err)) == NULL);
	KT_CHECK_STR_EQ(err, "D-Bus: malformed address \"unix:path=%zz\"");
	kt_dbus_free(NULL);
}

KT_TEST_MAIN()
