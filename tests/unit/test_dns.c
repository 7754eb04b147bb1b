/* test_dns.c: the cluster DNS table and handler, through queries built here and answers parsed
 * here (an independent little DNS encoder/decoder, so the handler is not checked against its own
 * code), plus an optional check with dig against an in-process UDP/TCP server on loopback. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dns.h"
#include "kt_test.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

enum { T_A = 1, T_NS = 2, T_CNAME = 5, T_SOA = 6, T_PTR = 12, T_TXT = 16, T_AAAA = 28 };
enum { T_SRV = 33, T_OPT = 41, T_AXFR = 252, T_ANY = 255 };

/* ---- test-side message builder ---- */

struct qb {
	uint8_t b[1024];
	size_t n;
};

static void qb_u8(struct qb *q, uint8_t v)
{
	if (q->n < sizeof(q->b))
		q->b[q->n++] = v;
}

static void qb_u16(struct qb *q, uint16_t v)
{
	qb_u8(q, (uint8_t)(v >> 8));
	qb_u8(q, (uint8_t)v);
}

static void qb_u32(struct qb *q, uint32_t v)
{
	qb_u16(q, (uint16_t)(v >> 16));
	qb_u16(q, (uint16_t)v);
}

static void qb_bytes(struct qb *q, const void *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		qb_u8(q, ((const uint8_t *)p)[i]);
}

static void qb_header(struct qb *q, uint16_t id, uint16_t flags, uint16_t qd, uint16_t an,
		      uint16_t ns, uint16_t ar)
{
	q->n = 0;
	qb_u16(q, id);
	qb_u16(q, flags);
	qb_u16(q, qd);
	qb_u16(q, an);
	qb_u16(q, ns);
	qb_u16(q, ar);
}

/* Text name to wire, case kept; "." or "" is the root. No terminating root when open is set. */
static void qb_name_open(struct qb *q, const char *s, bool open)
{
	while (*s && strcmp(s, ".") != 0) {
		const char *dot = strchr(s, '.');
		size_t n = dot ? (size_t)(dot - s) : strlen(s);
		qb_u8(q, (uint8_t)n);
		qb_bytes(q, s, n);
		s += n + (dot ? 1 : 0);
	}
	if (!open)
		qb_u8(q, 0);
}

static void qb_name(struct qb *q, const char *s)
{
	qb_name_open(q, s, false);
}

static void qb_opt(struct qb *q, uint16_t size, uint8_t version, bool dnssec_ok)
{
	qb_u8(q, 0);
	qb_u16(q, T_OPT);
	qb_u16(q, size);
	qb_u8(q, 0);
	qb_u8(q, version);
	qb_u16(q, dnssec_ok ? 0x8000 : 0);
	qb_u16(q, 0);
}

/* A standard query: ID 0x1234, RD, one question, optionally an OPT (edns < 0: none). */
static void qb_query(struct qb *q, const char *name, uint16_t qtype, int edns)
{
	qb_header(q, 0x1234, 0x0100, 1, 0, 0, edns >= 0 ? 1 : 0);
	qb_name(q, name);
	qb_u16(q, qtype);
	qb_u16(q, 1);
	if (edns >= 0)
		qb_opt(q, (uint16_t)edns, 0, false);
}

/* ---- test-side response parser ---- */

struct trr {
	char name[260];
	size_t owner_off; /* where the owner starts in the message */
	uint16_t type, cls;
	uint32_t ttl;
	uint16_t rdlen;
	size_t rdoff;
	uint32_t a;
	char target[260]; /* CNAME, PTR, NS, SRV target, SOA mname */
	char rname[260];
	uint16_t prio, weight, port;
	uint32_t soa[5];
	char txt[256];
};

struct tresp {
	bool ok;
	uint16_t id, flags;
	unsigned rcode;
	uint16_t qd, an, ns, ar;
	char qname[260];
	uint16_t qtype, qclass;
	bool opt;
	uint16_t opt_size;
	uint32_t opt_ttl;
	size_t nrr;
	struct trr rr[4096]; /* last: tparse clears only what precedes it */
};

static struct tresp R; /* the last parsed response (large: kept off the stack) */

static int tp_name(const uint8_t *m, size_t n, size_t *off, char *out, size_t cap)
{
	size_t o = 0, pos = *off, end = 0;
	int hops = 0;
	for (;;) {
		if (pos >= n)
			return -1;
		uint8_t c = m[pos];
		if ((c & 0xc0) == 0xc0) {
			if (pos + 1 >= n || ++hops > 64)
				return -1;
			if (hops == 1)
				end = pos + 2;
			pos = (size_t)(c & 0x3f) << 8 | m[pos + 1];
			continue;
		}
		if (c & 0xc0)
			return -1;
		if (c == 0) {
			pos++;
			break;
		}
		if (pos + 1 + c > n || o + c + 2 > cap)
			return -1;
		memcpy(out + o, m + pos + 1, c);
		o += c;
		out[o++] = '.';
		pos += 1u + c;
	}
	if (o == 0)
		out[o++] = '.';
	out[o] = 0;
	*off = hops ? end : pos;
	return 0;
}

static uint16_t g16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t g32(const uint8_t *p)
{
	return (uint32_t)g16(p) << 16 | g16(p + 2);
}

/* Parses a whole response; R.ok only if every section parses and no byte is left over. */
static struct tresp *tparse(const uint8_t *m, size_t n)
{
	memset(&R, 0, offsetof(struct tresp, rr));
	if (n < 12)
		return &R;
	R.id = g16(m);
	R.flags = g16(m + 2);
	R.rcode = R.flags & 0xf;
	R.qd = g16(m + 4);
	R.an = g16(m + 6);
	R.ns = g16(m + 8);
	R.ar = g16(m + 10);
	size_t off = 12;
	if (R.qd > 1)
		return &R;
	if (R.qd == 1) {
		if (tp_name(m, n, &off, R.qname, sizeof(R.qname)) || off + 4 > n)
			return &R;
		R.qtype = g16(m + off);
		R.qclass = g16(m + off + 2);
		off += 4;
	}
	size_t total = (size_t)R.an + R.ns + R.ar;
	if (total > sizeof(R.rr) / sizeof(R.rr[0]))
		return &R;
	for (size_t i = 0; i < total; i++) {
		struct trr *r = &R.rr[R.nrr++];
		memset(r, 0, sizeof(*r));
		r->owner_off = off;
		if (tp_name(m, n, &off, r->name, sizeof(r->name)) || off + 10 > n)
			return &R;
		r->type = g16(m + off);
		r->cls = g16(m + off + 2);
		r->ttl = g32(m + off + 4);
		r->rdlen = g16(m + off + 8);
		off += 10;
		r->rdoff = off;
		if (off + r->rdlen > n)
			return &R;
		size_t rd = off, rend = off + r->rdlen;
		switch (r->type) {
		case T_A:
			if (r->rdlen != 4)
				return &R;
			r->a = g32(m + rd);
			break;
		case T_CNAME:
		case T_PTR:
		case T_NS:
			if (tp_name(m, n, &rd, r->target, sizeof(r->target)) || rd != rend)
				return &R;
			break;
		case T_SRV:
			if (r->rdlen < 7)
				return &R;
			r->prio = g16(m + rd);
			r->weight = g16(m + rd + 2);
			r->port = g16(m + rd + 4);
			rd += 6;
			if (tp_name(m, n, &rd, r->target, sizeof(r->target)) || rd != rend)
				return &R;
			break;
		case T_SOA:
			if (tp_name(m, n, &rd, r->target, sizeof(r->target)) ||
			    tp_name(m, n, &rd, r->rname, sizeof(r->rname)) || rd + 20 != rend)
				return &R;
			for (int k = 0; k < 5; k++)
				r->soa[k] = g32(m + rd + 4 * k);
			break;
		case T_TXT:
			if (r->rdlen < 1 || m[rd] + 1u != r->rdlen)
				return &R;
			memcpy(r->txt, m + rd + 1, m[rd]);
			break;
		case T_OPT:
			if (i < (size_t)R.an + R.ns || R.opt || strcmp(r->name, ".") != 0)
				return &R;
			R.opt = true;
			R.opt_size = r->cls;
			R.opt_ttl = r->ttl;
			break;
		}
		off = rend;
	}
	R.ok = off == n;
	return &R;
}

#define QR 0x8000
#define AA 0x0400
#define TC 0x0200
#define RD 0x0100

/* ---- fixtures ---- */

static struct kt_dns_table *fixture(void)
{
	struct kt_dns_table *t = kt_dns_table_new("cluster.local");
	if (!t)
		return NULL;
	int rc = 0;
	rc |= kt_dns_table_add_a(t, "web.shop.svc.cluster.local", IP(198, 19, 0, 1));
	rc |= kt_dns_table_add_srv(t, "_http._tcp.web.shop.svc.cluster.local", 0, 100, 80,
				   "web.shop.svc.cluster.local");
	rc |= kt_dns_table_add_srv(t, "_https._tcp.web.shop.svc.cluster.local", 0, 100, 443,
				   "web.shop.svc.cluster.local");
	/* A headless StatefulSet service: one A per ready pod, plus per-pod names. */
	for (int i = 0; i < 3; i++) {
		char n[64];
		snprintf(n, sizeof(n), "kafka-%d.kafka.data.svc.cluster.local", i);
		rc |= kt_dns_table_add_a(t, "kafka.data.svc.cluster.local", IP(198, 19, 1, 10 + i));
		rc |= kt_dns_table_add_a(t, n, IP(198, 19, 1, 10 + i));
		rc |= kt_dns_table_add_srv(t, "_broker._tcp.kafka.data.svc.cluster.local", 0, 33,
					   9092, n);
	}
	rc |= kt_dns_table_add_cname(t, "ext.shop.svc.cluster.local", "api.example.com");
	rc |= kt_dns_table_add_cname(t, "alias.shop.svc.cluster.local",
				     "web.shop.svc.cluster.local.");
	rc |= kt_dns_table_add_cname(t, "dangling.shop.svc.cluster.local",
				     "gone.shop.svc.cluster.local");
	rc |= kt_dns_table_add_a(t, "ns.dns.cluster.local", IP(198, 19, 0, 53));
	rc |= kt_dns_table_set_reverse_zone(t, IP(198, 19, 0, 0), 16);
	rc |= kt_dns_table_add_ptr(t, IP(198, 19, 0, 1), "web.shop.svc.cluster.local");
	rc |= kt_dns_table_add_ptr(t, IP(198, 19, 1, 11), "kafka-1.kafka.data.svc.cluster.local");
	rc |= kt_dns_table_set_serial(t, 42);
	rc |= kt_dns_table_seal(t);
	if (rc) {
		kt_dns_table_free(t);
		return NULL;
	}
	return t;
}

static uint8_t RESP[70000];

/* Sends q over the given transport with a full-size response buffer; parses into R. */
static ssize_t run(const struct kt_dns_table *t, const struct qb *q, unsigned flags)
{
	ssize_t n = kt_dns_handle(t, q->b, q->n, RESP, sizeof(RESP), flags);
	if (n > 0)
		tparse(RESP, (size_t)n);
	else
		memset(&R, 0, offsetof(struct tresp, rr));
	return n;
}

static ssize_t ask(const struct kt_dns_table *t, const char *name, uint16_t qtype)
{
	struct qb q;
	qb_query(&q, name, qtype, -1);
	return run(t, &q, KT_DNS_UDP);
}

/* The checks every authoritative answer of ours passes. */
#define CHECK_AUTH(rc)                                                           \
	do {                                                                     \
		KT_CHECK(R.ok);                                                  \
		KT_CHECK_INT_EQ(R.id, 0x1234);                                   \
		KT_CHECK_INT_EQ(R.flags &(QR | AA | RD | 0x0080), QR | AA | RD); \
		KT_CHECK_INT_EQ(R.rcode, (rc));                                  \
		KT_CHECK_INT_EQ(R.qd, 1);                                        \
	} while (0)

static void check_soa(const struct trr *r, const char *apex)
{
	KT_CHECK_INT_EQ(r->type, T_SOA);
	KT_CHECK_STR_EQ(r->name, apex);
	KT_CHECK_INT_EQ(r->ttl, 5);
	KT_CHECK_STR_EQ(r->target, "ns.dns.cluster.local.");
	KT_CHECK_STR_EQ(r->rname, "hostmaster.cluster.local.");
	KT_CHECK_INT_EQ(r->soa[0], 42);
	KT_CHECK_INT_EQ(r->soa[4], 5); /* minimum: negative-caching TTL */
}

/* ---- table API ---- */

KT_TEST(table_validates_names)
{
	KT_CHECK(kt_dns_table_new(NULL) == NULL);
	KT_CHECK(kt_dns_table_new("") == NULL);
	KT_CHECK(kt_dns_table_new(".") == NULL);
	KT_CHECK(kt_dns_table_new("a..b") == NULL);
	kt_dns_table_free(NULL);
	struct kt_dns_table *t = kt_dns_table_new("Cluster.Local.");
	KT_REQUIRE(t);
	KT_CHECK_INT_EQ(kt_dns_table_add_a(t, "web.shop.svc.cluster.local.", 1), 0);
	KT_CHECK_INT_EQ(kt_dns_table_add_a(t, "WEB.Shop.svc.CLUSTER.local", 2), 0);
	KT_CHECK_INT_EQ(kt_dns_table_add_a(t, "example.com", 1), -EINVAL);
	KT_CHECK_INT_EQ(kt_dns_table_add_a(t, "xcluster.local", 1), -EINVAL);
	KT_CHECK_INT_EQ(kt_dns_table_add_a(t, "a..cluster.local", 1), -EINVAL);
	KT_CHECK_INT_EQ(kt_dns_table_add_a(t, ".cluster.local", 1), -EINVAL);
	KT_CHECK_INT_EQ(kt_dns_table_add_a(t, "a b.cluster.local", 1), -EINVAL);
	KT_CHECK_INT_EQ(kt_dns_table_add_a(t, "a\\.b.cluster.local", 1), -EINVAL);
	KT_CHECK_INT_EQ(kt_dns_table_add_a(t, "", 1), -EINVAL);
	KT_CHECK_INT_EQ(kt_dns_table_add_a(t, NULL, 1), -EINVAL);
	char lab[80];
	memset(lab, 'x', 63);
	memcpy(lab + 63, ".cluster.local", 15);
	KT_CHECK_INT_EQ(kt_dns_table_add_a(t, lab, 1), 0);
	memset(lab, 'x', 64);
	memcpy(lab + 64, ".cluster.local", 15);
	KT_CHECK_INT_EQ(kt_dns_table_add_a(t, lab, 1), -EINVAL);
	/* 253 characters is the longest name; 254 is refused. */
	char longn[300];
	size_t o = 0;
	while (o + 14 + 10 <= 253) {
		memcpy(longn + o, "abcdefghi.", 10);
		o += 10;
	}
	size_t pad = 253 - 13 - o; /* 13 = strlen("cluster.local") */
	memset(longn + o, 'p', pad - 1);
	longn[o + pad - 1] = '.';
	memcpy(longn + o + pad, "cluster.local", 14);
	KT_CHECK_INT_EQ(strlen(longn), 253);
	KT_CHECK_INT_EQ(kt_dns_table_add_a(t, longn, 1), 0);
	memmove(longn + 1, longn, 254);
	longn[0] = 'q';
	KT_CHECK_INT_EQ(strlen(longn), 254);
	KT_CHECK_INT_EQ(kt_dns_table_add_a(t, longn, 1), -EINVAL);
	/* CNAME exclusivity (RFC 1034 3.6.2). */
	KT_CHECK_INT_EQ(kt_dns_table_add_cname(t, "web.shop.svc.cluster.local", "x.com"), -EEXIST);
	KT_CHECK_INT_EQ(kt_dns_table_add_cname(t, "c.shop.svc.cluster.local", "x.com"), 0);
	KT_CHECK_INT_EQ(kt_dns_table_add_cname(t, "c.shop.svc.cluster.local", "y.com"), -EEXIST);
	KT_CHECK_INT_EQ(kt_dns_table_add_a(t, "c.shop.svc.cluster.local", 1), -EEXIST);
	KT_CHECK_INT_EQ(kt_dns_table_add_srv(t, "c.shop.svc.cluster.local", 0, 0, 1, "a.b"),
			-EEXIST);
	KT_CHECK_INT_EQ(kt_dns_table_add_cname(t, "cluster.local", "x.com"), -EEXIST);
	KT_CHECK_INT_EQ(kt_dns_table_add_cname(t, "dns-version.cluster.local", "x.com"), -EEXIST);
	KT_CHECK_INT_EQ(kt_dns_table_add_cname(t, "d.shop.svc.cluster.local", "bad..com"), -EINVAL);
	/* PTR needs a reverse zone that contains the address. */
	KT_CHECK_INT_EQ(kt_dns_table_add_ptr(t, IP(198, 19, 0, 1), "a.cluster.local"), -EINVAL);
	KT_CHECK_INT_EQ(kt_dns_table_set_reverse_zone(t, IP(198, 19, 0, 0), 0), -EINVAL);
	KT_CHECK_INT_EQ(kt_dns_table_set_reverse_zone(t, IP(198, 19, 0, 0), 33), -EINVAL);
	KT_CHECK_INT_EQ(kt_dns_table_set_reverse_zone(t, IP(198, 19, 0, 0), 16), 0);
	KT_CHECK_INT_EQ(kt_dns_table_set_reverse_zone(t, IP(10, 0, 0, 0), 8), -EEXIST);
	KT_CHECK_INT_EQ(kt_dns_table_add_ptr(t, IP(198, 20, 0, 1), "a.cluster.local"), -EINVAL);
	KT_CHECK_INT_EQ(kt_dns_table_add_ptr(t, IP(198, 19, 0, 1), "a.cluster.local"), 0);
	KT_CHECK_INT_EQ(kt_dns_table_seal(t), 0);
	KT_CHECK_INT_EQ(kt_dns_table_seal(t), 0);
	KT_CHECK_INT_EQ(kt_dns_table_add_a(t, "late.cluster.local", 1), -EBUSY);
	KT_CHECK_INT_EQ(kt_dns_table_add_ptr(t, IP(198, 19, 0, 2), "a.cluster.local"), -EBUSY);
	KT_CHECK_INT_EQ(kt_dns_table_set_serial(t, 2), -EBUSY);

	/* Both spellings are one name, holding both addresses. */
	KT_CHECK(ask(t, "web.shop.svc.cluster.local", T_A) > 0);
	CHECK_AUTH(0);
	KT_CHECK_INT_EQ(R.an, 2);
	kt_dns_table_free(t);
}

KT_TEST(duplicates_merged_at_seal)
{
	struct kt_dns_table *t = kt_dns_table_new("cluster.local");
	KT_REQUIRE(t);
	for (int i = 0; i < 3; i++) {
		KT_CHECK_INT_EQ(kt_dns_table_add_a(t, "a.ns.svc.cluster.local", IP(198, 19, 0, 9)),
				0);
		KT_CHECK_INT_EQ(kt_dns_table_add_a(t, "a.ns.svc.cluster.local", IP(198, 19, 0, 3)),
				0);
		KT_CHECK_INT_EQ(kt_dns_table_add_srv(t, "_p._tcp.a.ns.svc.cluster.local", 1, 2, 3,
						     "a.ns.svc.cluster.local"),
				0);
	}
	KT_REQUIRE(kt_dns_table_seal(t) == 0);
	ask(t, "a.ns.svc.cluster.local", T_A);
	CHECK_AUTH(0);
	KT_REQUIRE(R.an == 2);
	KT_CHECK_INT_EQ(R.rr[0].a, IP(198, 19, 0, 3)); /* sorted by address */
	KT_CHECK_INT_EQ(R.rr[1].a, IP(198, 19, 0, 9));
	ask(t, "_p._tcp.a.ns.svc.cluster.local", T_SRV);
	CHECK_AUTH(0);
	KT_CHECK_INT_EQ(R.an, 1);
	KT_CHECK_INT_EQ(R.ar, 2);
	/* Names: apex, svc, dns-version, ns.svc, a.ns.svc, p._tcp..., _tcp...: 7. */
	KT_CHECK_INT_EQ(kt_dns_table_name_count(t), 7);
	kt_dns_table_free(t);
}

/* ---- answers ---- */

KT_TEST(a_record_byte_exact)
{
	struct kt_dns_table *t = fixture();
	KT_REQUIRE(t);
	struct qb q;
	qb_header(&q, 0xbeef, 0x0100, 1, 0, 0, 0);
	qb_name(&q, "web.shop.svc.cluster.local");
	qb_u16(&q, T_A);
	qb_u16(&q, 1);
	ssize_t n = kt_dns_handle(t, q.b, q.n, RESP, sizeof(RESP), KT_DNS_UDP);
	static const uint8_t ans[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 198, 19, 0, 1};
	KT_REQUIRE(n == (ssize_t)(q.n + sizeof(ans)));
	static const uint8_t hdr[] = {0xbe, 0xef, 0x85, 0x00, 0, 1, 0, 1, 0, 0, 0, 0};
	KT_CHECK_MEM_EQ(RESP, hdr, 12);
	KT_CHECK_MEM_EQ(RESP + 12, q.b + 12, q.n - 12);
	KT_CHECK_MEM_EQ(RESP + q.n, ans, sizeof(ans));
	/* RD clear in the query: clear in the answer. */
	q.b[2] = 0;
	n = kt_dns_handle(t, q.b, q.n, RESP, sizeof(RESP), KT_DNS_UDP);
	KT_CHECK_INT_EQ(n, q.n + sizeof(ans));
	KT_CHECK_INT_EQ(RESP[2], 0x84);
	kt_dns_table_free(t);
}

KT_TEST(case_insensitive_question_echoed)
{
	struct kt_dns_table *t = fixture();
	KT_REQUIRE(t);
	struct qb q;
	qb_query(&q, "wEb.SHOP.Svc.cluster.LOCAL", T_A, -1);
	ssize_t n = run(t, &q, KT_DNS_UDP);
	KT_REQUIRE(n > 0);
	CHECK_AUTH(0);
	KT_CHECK_MEM_EQ(RESP + 12, q.b + 12, q.n - 12); /* the client's bytes, case included */
	KT_CHECK_STR_EQ(R.qname, "wEb.SHOP.Svc.cluster.LOCAL.");
	KT_REQUIRE(R.an == 1);
	KT_CHECK_STR_EQ(R.rr[0].name, "wEb.SHOP.Svc.cluster.LOCAL.");
	KT_CHECK_INT_EQ(R.rr[0].a, IP(198, 19, 0, 1));
	/* The SOA owner of a negative answer points into the question: its case too. */
	ask(t, "Nope.Shop.Svc.Cluster.Local", T_A);
	CHECK_AUTH(3);
	KT_REQUIRE(R.ns == 1);
	KT_CHECK_STR_EQ(R.rr[0].name, "Cluster.Local.");
	kt_dns_table_free(t);
}

KT_TEST(headless_all_a_records)
{
	struct kt_dns_table *t = fixture();
	KT_REQUIRE(t);
	ask(t, "kafka.data.svc.cluster.local", T_A);
	CHECK_AUTH(0);
	KT_REQUIRE(R.an == 3);
	KT_CHECK_INT_EQ(R.ns, 0);
	KT_CHECK_INT_EQ(R.ar, 0);
	for (int i = 0; i < 3; i++) {
		KT_CHECK_INT_EQ(R.rr[i].a, IP(198, 19, 1, 10 + i));
		KT_CHECK_INT_EQ(R.rr[i].ttl, 5);
		KT_CHECK_INT_EQ(R.rr[i].cls, 1);
		KT_CHECK_INT_EQ(g16(RESP + R.rr[i].owner_off), 0xc00c);
	}
	ask(t, "kafka-1.kafka.data.svc.cluster.local", T_A);
	CHECK_AUTH(0);
	KT_REQUIRE(R.an == 1);
	KT_CHECK_INT_EQ(R.rr[0].a, IP(198, 19, 1, 11));
	kt_dns_table_free(t);
}

KT_TEST(nodata_nxdomain_refused)
{
	struct kt_dns_table *t = fixture();
	KT_REQUIRE(t);
	/* AAAA, MX, TXT at a name with only A: NODATA with the SOA. */
	static const uint16_t types[] = {T_AAAA, 15, T_TXT, T_PTR, 0, 65280};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		ask(t, "web.shop.svc.cluster.local", types[i]);
		CHECK_AUTH(0);
		KT_CHECK_INT_EQ(R.qtype, types[i]);
		KT_CHECK_INT_EQ(R.an, 0);
		KT_REQUIRE(R.ns == 1);
		check_soa(&R.rr[0], "cluster.local.");
	}
	/* Unknown inside the zone: NXDOMAIN with the SOA. */
	static const char *const nx[] = {
	    "nope.shop.svc.cluster.local", "x.web.shop.svc.cluster.local", "pod.cluster.local",
	    "10-0-0-1.shop.pod.cluster.local", "kafka-9.kafka.data.svc.cluster.local"};
	for (size_t i = 0; i < sizeof(nx) / sizeof(nx[0]); i++) {
		ask(t, nx[i], T_A);
		CHECK_AUTH(3);
		KT_CHECK_INT_EQ(R.an, 0);
		KT_REQUIRE(R.ns == 1);
		check_soa(&R.rr[0], "cluster.local.");
		ask(t, nx[i], T_AAAA);
		CHECK_AUTH(3);
	}
	/* Empty non-terminals: NODATA (RFC 8020). */
	static const char *const ent[] = {"svc.cluster.local",
					  "shop.svc.cluster.local",
					  "data.svc.cluster.local",
					  "kafka.data.svc.cluster.local",
					  "_tcp.web.shop.svc.cluster.local",
					  "dns.cluster.local"};
	for (size_t i = 0; i < sizeof(ent) / sizeof(ent[0]); i++) {
		ask(t, ent[i], T_AAAA);
		CHECK_AUTH(0);
		KT_CHECK_INT_EQ(R.an, 0);
		KT_REQUIRE(R.ns == 1);
		check_soa(&R.rr[0], "cluster.local.");
	}
	/* Outside: REFUSED, not authoritative, question echoed, nothing else. */
	static const char *const out[] = {
	    "example.com",  "cluster.local.evil.com", "xcluster.local",	      "local", ".",
	    "in-addr.arpa", "1.0.0.10.in-addr.arpa",  "19.198.in-addr.arpa.x"};
	for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++) {
		ask(t, out[i], T_A);
		KT_CHECK(R.ok);
		KT_CHECK_INT_EQ(R.flags & (QR | AA | RD), QR | RD);
		KT_CHECK_INT_EQ(R.rcode, 5);
		KT_CHECK_INT_EQ(R.qd, 1);
		KT_CHECK_INT_EQ(R.an + R.ns + R.ar, 0);
	}
	kt_dns_table_free(t);
}

KT_TEST(empty_table_svc_still_exists)
{
	struct kt_dns_table *t = kt_dns_table_new("corp.example");
	KT_REQUIRE(t && kt_dns_table_seal(t) == 0);
	ask(t, "svc.corp.example", T_A);
	CHECK_AUTH(0);
	KT_CHECK_INT_EQ(R.ns, 1);
	ask(t, "foo.svc.corp.example", T_A);
	CHECK_AUTH(3);
	ask(t, "web.shop.svc.cluster.local", T_A);
	KT_CHECK_INT_EQ(R.rcode, 5);
	kt_dns_table_free(t);
}

KT_TEST(srv_with_glue)
{
	struct kt_dns_table *t = fixture();
	KT_REQUIRE(t);
	ssize_t n = ask(t, "_http._tcp.web.shop.svc.cluster.local", T_SRV);
	KT_REQUIRE(n > 0);
	CHECK_AUTH(0);
	KT_REQUIRE(R.an == 1 && R.ns == 0 && R.ar == 1);
	KT_CHECK_INT_EQ(R.rr[0].type, T_SRV);
	KT_CHECK_INT_EQ(R.rr[0].prio, 0);
	KT_CHECK_INT_EQ(R.rr[0].weight, 100);
	KT_CHECK_INT_EQ(R.rr[0].port, 80);
	KT_CHECK_STR_EQ(R.rr[0].target, "web.shop.svc.cluster.local.");
	/* RFC 2782: the target is written out, not compressed: 6 + 28 bytes of RDATA. */
	KT_CHECK_INT_EQ(R.rr[0].rdlen, 6 + 28);
	KT_CHECK_MEM_EQ(RESP + R.rr[0].rdoff + 6, "\3web\4shop\3svc\7cluster\5local", 28);
	KT_CHECK_INT_EQ(R.rr[1].type, T_A);
	KT_CHECK_STR_EQ(R.rr[1].name, "web.shop.svc.cluster.local.");
	KT_CHECK_INT_EQ(R.rr[1].a, IP(198, 19, 0, 1));
	/* The glue owner is a pointer to the SRV target. */
	KT_CHECK_INT_EQ(g16(RESP + R.rr[1].owner_off), 0xc000 | (R.rr[0].rdoff + 6));

	ask(t, "_broker._tcp.kafka.data.svc.cluster.local", T_SRV);
	CHECK_AUTH(0);
	KT_REQUIRE(R.an == 3 && R.ar == 3);
	for (int i = 0; i < 3; i++) {
		char want[64];
		snprintf(want, sizeof(want), "kafka-%d.kafka.data.svc.cluster.local.", i);
		KT_CHECK_STR_EQ(R.rr[i].target, want);
		KT_CHECK_INT_EQ(R.rr[i].port, 9092);
		KT_CHECK_STR_EQ(R.rr[3 + i].name, want);
		KT_CHECK_INT_EQ(R.rr[3 + i].a, IP(198, 19, 1, 10 + i));
	}
	/* A at an SRV name: NODATA; SRV at a service name: NODATA. */
	ask(t, "_http._tcp.web.shop.svc.cluster.local", T_A);
	CHECK_AUTH(0);
	KT_CHECK_INT_EQ(R.an, 0);
	ask(t, "web.shop.svc.cluster.local", T_SRV);
	CHECK_AUTH(0);
	KT_CHECK_INT_EQ(R.an, 0);
	KT_CHECK_INT_EQ(R.ns, 1);
	kt_dns_table_free(t);
}

KT_TEST(txt_soa_ns_any)
{
	struct kt_dns_table *t = fixture();
	KT_REQUIRE(t);
	ask(t, "dns-version.cluster.local", T_TXT);
	CHECK_AUTH(0);
	KT_REQUIRE(R.an == 1);
	KT_CHECK_STR_EQ(R.rr[0].txt, "1.0.1");
	KT_CHECK_INT_EQ(R.rr[0].ttl, 5);

	ask(t, "cluster.local", T_SOA);
	CHECK_AUTH(0);
	KT_REQUIRE(R.an == 1);
	check_soa(&R.rr[0], "cluster.local.");
	KT_CHECK_INT_EQ(R.rr[0].soa[1], 7200);
	KT_CHECK_INT_EQ(R.rr[0].soa[2], 1800);
	KT_CHECK_INT_EQ(R.rr[0].soa[3], 86400);
	/* MNAME compresses to "ns" "dns" + a pointer to the apex in the question. */
	KT_CHECK_INT_EQ(R.rr[0].rdlen, 9 + 13 + 20);

	ask(t, "cluster.local", T_NS);
	CHECK_AUTH(0);
	KT_REQUIRE(R.an == 1 && R.ar == 1);
	KT_CHECK_STR_EQ(R.rr[0].target, "ns.dns.cluster.local.");
	KT_CHECK_STR_EQ(R.rr[1].name, "ns.dns.cluster.local.");
	KT_CHECK_INT_EQ(R.rr[1].a, IP(198, 19, 0, 53));

	ask(t, "cluster.local", T_A);
	CHECK_AUTH(0);
	KT_CHECK_INT_EQ(R.an, 0);
	KT_CHECK_INT_EQ(R.ns, 1);
	ask(t, "svc.cluster.local", T_SOA);
	CHECK_AUTH(0);
	KT_CHECK_INT_EQ(R.an, 0);

	/* ANY: everything at the name. */
	ask(t, "cluster.local", T_ANY);
	CHECK_AUTH(0);
	KT_REQUIRE(R.an == 2);
	KT_CHECK_INT_EQ(R.rr[0].type, T_SOA);
	KT_CHECK_INT_EQ(R.rr[1].type, T_NS);
	ask(t, "kafka.data.svc.cluster.local", T_ANY);
	CHECK_AUTH(0);
	KT_CHECK_INT_EQ(R.an, 3);
	ask(t, "dns-version.cluster.local", T_ANY);
	CHECK_AUTH(0);
	KT_REQUIRE(R.an == 1);
	KT_CHECK_INT_EQ(R.rr[0].type, T_TXT);
	ask(t, "shop.svc.cluster.local", T_ANY);
	CHECK_AUTH(0);
	KT_CHECK_INT_EQ(R.an, 0);
	KT_CHECK_INT_EQ(R.ns, 1);
	ask(t, "zzz.cluster.local", T_ANY);
	CHECK_AUTH(3);
	kt_dns_table_free(t);
}

KT_TEST(cname)
{
	struct kt_dns_table *t = fixture();
	KT_REQUIRE(t);
	/* In-table target: CNAME then the target's A, owned by the CNAME's RDATA name. */
	ask(t, "alias.shop.svc.cluster.local", T_A);
	CHECK_AUTH(0);
	KT_REQUIRE(R.an == 2);
	KT_CHECK_INT_EQ(R.rr[0].type, T_CNAME);
	KT_CHECK_STR_EQ(R.rr[0].target, "web.shop.svc.cluster.local.");
	/* "web" + pointer to "shop.svc.cluster.local" in the question. */
	KT_CHECK_INT_EQ(R.rr[0].rdlen, 6);
	KT_CHECK_INT_EQ(R.rr[1].type, T_A);
	KT_CHECK_STR_EQ(R.rr[1].name, "web.shop.svc.cluster.local.");
	KT_CHECK_INT_EQ(R.rr[1].a, IP(198, 19, 0, 1));
	/* AAAA through the CNAME: the CNAME, then NODATA with the SOA. */
	ask(t, "alias.shop.svc.cluster.local", T_AAAA);
	CHECK_AUTH(0);
	KT_CHECK_INT_EQ(R.an, 1);
	KT_CHECK_INT_EQ(R.ns, 1);
	/* External target: the CNAME alone, NOERROR (never resolved by us). */
	ask(t, "ext.shop.svc.cluster.local", T_A);
	CHECK_AUTH(0);
	KT_REQUIRE(R.an == 1);
	KT_CHECK_STR_EQ(R.rr[0].target, "api.example.com.");
	KT_CHECK_INT_EQ(R.ns, 0);
	/* Target in our zone but absent: NXDOMAIN (RFC 6604), CNAME kept. */
	ask(t, "dangling.shop.svc.cluster.local", T_A);
	CHECK_AUTH(3);
	KT_CHECK_INT_EQ(R.an, 1);
	KT_CHECK_INT_EQ(R.ns, 1);
	/* CNAME query: the CNAME only. */
	ask(t, "alias.shop.svc.cluster.local", T_CNAME);
	CHECK_AUTH(0);
	KT_CHECK_INT_EQ(R.an, 1);
	kt_dns_table_free(t);
}

KT_TEST(cname_loop_bounded)
{
	struct kt_dns_table *t = kt_dns_table_new("cluster.local");
	KT_REQUIRE(t);
	KT_CHECK_INT_EQ(kt_dns_table_add_cname(t, "a.n.svc.cluster.local", "b.n.svc.cluster.local"),
			0);
	KT_CHECK_INT_EQ(kt_dns_table_add_cname(t, "b.n.svc.cluster.local", "a.n.svc.cluster.local"),
			0);
	KT_REQUIRE(kt_dns_table_seal(t) == 0);
	ask(t, "a.n.svc.cluster.local", T_A);
	CHECK_AUTH(0);
	KT_CHECK_INT_EQ(R.an, 8);
	kt_dns_table_free(t);
}

KT_TEST(ptr_reverse_zone)
{
	struct kt_dns_table *t = fixture();
	KT_REQUIRE(t);
	ssize_t n = ask(t, "1.0.19.198.in-addr.arpa", T_PTR);
	KT_REQUIRE(n > 0);
	CHECK_AUTH(0);
	KT_REQUIRE(R.an == 1);
	KT_CHECK_INT_EQ(R.rr[0].type, T_PTR);
	KT_CHECK_STR_EQ(R.rr[0].target, "web.shop.svc.cluster.local.");
	ask(t, "11.1.19.198.IN-ADDR.ARPA", T_PTR);
	CHECK_AUTH(0);
	KT_REQUIRE(R.an == 1);
	KT_CHECK_STR_EQ(R.rr[0].target, "kafka-1.kafka.data.svc.cluster.local.");
	/* Unknown address in the zone: NXDOMAIN, SOA owned by the reverse apex. */
	ask(t, "2.0.19.198.in-addr.arpa", T_PTR);
	CHECK_AUTH(3);
	KT_REQUIRE(R.ns == 1);
	check_soa(&R.rr[0], "19.198.in-addr.arpa.");
	KT_CHECK_INT_EQ(g16(RESP + R.rr[0].owner_off), 0xc00c + 4); /* after "2" "0" */
	ask(t, "x.1.0.19.198.in-addr.arpa", T_PTR);
	CHECK_AUTH(3);
	ask(t, "01.0.19.198.in-addr.arpa", T_PTR); /* not a canonical octet */
	CHECK_AUTH(3);
	/* Empty non-terminal and apex: NODATA; the apex answers SOA and NS. */
	ask(t, "0.19.198.in-addr.arpa", T_PTR);
	CHECK_AUTH(0);
	KT_CHECK_INT_EQ(R.an, 0);
	KT_CHECK_INT_EQ(R.ns, 1);
	ask(t, "19.198.in-addr.arpa", T_SOA);
	CHECK_AUTH(0);
	KT_REQUIRE(R.an == 1);
	check_soa(&R.rr[0], "19.198.in-addr.arpa.");
	ask(t, "19.198.in-addr.arpa", T_NS);
	CHECK_AUTH(0);
	KT_CHECK_INT_EQ(R.an, 1);
	ask(t, "5.19.198.in-addr.arpa", T_PTR); /* inside the zone, no PTR below: NXDOMAIN */
	CHECK_AUTH(3);
	/* Outside the owned network, or above the apex: REFUSED. */
	static const char *const out[] = {"1.0.20.198.in-addr.arpa", "198.in-addr.arpa",
					  "1.0.19.199.in-addr.arpa", "1.0.19.0198.in-addr.arpa"};
	for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++) {
		ask(t, out[i], T_PTR);
		KT_CHECK_INT_EQ(R.rcode, 5);
		KT_CHECK_INT_EQ(R.flags & AA, 0);
	}
	kt_dns_table_free(t);
}

KT_TEST(ptr_non_octet_prefix)
{
	/* A /12 is not on an octet boundary: 96-111.10.in-addr.arpa are ours, 112 is not. */
	struct kt_dns_table *t = kt_dns_table_new("cluster.local");
	KT_REQUIRE(t);
	KT_CHECK_INT_EQ(kt_dns_table_set_reverse_zone(t, IP(10, 100, 1, 2), 12), 0);
	KT_CHECK_INT_EQ(kt_dns_table_set_serial(t, 42), 0);
	KT_CHECK_INT_EQ(kt_dns_table_add_ptr(t, IP(10, 111, 0, 7), "x.ns.svc.cluster.local"), 0);
	KT_CHECK_INT_EQ(kt_dns_table_add_ptr(t, IP(10, 112, 0, 7), "x.ns.svc.cluster.local"),
			-EINVAL);
	KT_REQUIRE(kt_dns_table_seal(t) == 0);
	ask(t, "7.0.111.10.in-addr.arpa", T_PTR);
	CHECK_AUTH(0);
	KT_CHECK_INT_EQ(R.an, 1);
	ask(t, "7.0.96.10.in-addr.arpa", T_PTR);
	CHECK_AUTH(3);
	KT_REQUIRE(R.ns == 1);
	check_soa(&R.rr[0], "96.10.in-addr.arpa.");
	ask(t, "7.0.112.10.in-addr.arpa", T_PTR);
	KT_CHECK_INT_EQ(R.rcode, 5);
	ask(t, "10.in-addr.arpa", T_SOA);
	KT_CHECK_INT_EQ(R.rcode, 5);
	kt_dns_table_free(t);
}

/* ---- header rules and malformed input ---- */

KT_TEST(header_rules)
{
	struct kt_dns_table *t = fixture();
	KT_REQUIRE(t);
	struct qb q;
	/* Responses are never answered. */
	qb_query(&q, "web.shop.svc.cluster.local", T_A, -1);
	q.b[2] |= 0x80;
	KT_CHECK_INT_EQ(run(t, &q, KT_DNS_UDP), 0);
	/* Too short for an ID: dropped. Shorter than a header: FORMERR with the ID. */
	KT_CHECK_INT_EQ(kt_dns_handle(t, q.b, 0, RESP, sizeof(RESP), 0), 0);
	KT_CHECK_INT_EQ(kt_dns_handle(t, q.b, 1, RESP, sizeof(RESP), 0), 0);
	qb_query(&q, "web.shop.svc.cluster.local", T_A, -1);
	for (size_t len = 2; len < 12; len++) {
		KT_CHECK_INT_EQ(kt_dns_handle(t, q.b, len, RESP, sizeof(RESP), 0), 12);
		static const uint8_t want[] = {0x12, 0x34, 0x81, 0x01, 0, 0, 0, 0, 0, 0, 0, 0};
		uint8_t w[12];
		memcpy(w, want, 12);
		if (len == 2)
			w[2] = 0x80; /* no flags byte to copy RD from */
		KT_CHECK_MEM_EQ(RESP, w, 12);
	}
	/* Opcodes other than QUERY: NOTIMP, opcode echoed. */
	qb_query(&q, "web.shop.svc.cluster.local", T_A, -1);
	q.b[2] = (uint8_t)(q.b[2] | (2 << 3)); /* STATUS */
	KT_CHECK_INT_EQ(run(t, &q, 0), 12);
	KT_CHECK_INT_EQ(RESP[2], 0x80 | (2 << 3) | 1);
	KT_CHECK_INT_EQ(R.rcode, 4);
	q.b[2] = (uint8_t)(0x01 | (5 << 3)); /* UPDATE */
	KT_CHECK_INT_EQ(run(t, &q, 0), 12);
	KT_CHECK_INT_EQ(R.rcode, 4);
	/* QDCOUNT 0 and 2, ANCOUNT, NSCOUNT: FORMERR. */
	static const size_t count_at[] = {4, 4, 6, 8};
	static const uint8_t count_val[] = {0, 2, 1, 1};
	for (size_t i = 0; i < 4; i++) {
		qb_query(&q, "web.shop.svc.cluster.local", T_A, -1);
		q.b[count_at[i] + 1] = count_val[i];
		KT_CHECK_INT_EQ(run(t, &q, 0), 12);
		KT_CHECK_INT_EQ(R.id, 0x1234);
		KT_CHECK_INT_EQ(R.rcode, 1);
		KT_CHECK_INT_EQ(R.flags & (QR | AA | RD), QR | RD);
	}
	/* Every truncation of a valid query: FORMERR with the ID, never more than a header. */
	qb_query(&q, "web.shop.svc.cluster.local", T_A, 1232);
	size_t full = q.n;
	for (size_t len = 12; len < full; len++) {
		ssize_t n = kt_dns_handle(t, q.b, len, RESP, sizeof(RESP), KT_DNS_UDP);
		size_t qend = 12 + 28 + 4;
		if (len < qend) {
			KT_CHECK_INT_EQ(n, 12);
		} else {
			KT_CHECK_INT_EQ(
			    n, qend); /* question parsed, OPT cut: FORMERR, question kept */
		}
		KT_CHECK_INT_EQ(RESP[3] & 0xf, 1);
		KT_CHECK_INT_EQ(RESP[0] << 8 | RESP[1], 0x1234);
	}
	/* Meta types and other classes. */
	ask(t, "web.shop.svc.cluster.local", T_AXFR);
	KT_CHECK_INT_EQ(R.rcode, 4);
	ask(t, "web.shop.svc.cluster.local", 251); /* IXFR */
	KT_CHECK_INT_EQ(R.rcode, 4);
	ask(t, "web.shop.svc.cluster.local", T_OPT);
	KT_CHECK_INT_EQ(R.rcode, 1);
	KT_CHECK(R.ok);
	qb_query(&q, "version.bind", T_TXT, -1);
	q.b[q.n - 1] = 3; /* CHAOS */
	run(t, &q, 0);
	KT_CHECK_INT_EQ(R.rcode, 5);
	qb_query(&q, "web.shop.svc.cluster.local", T_A, -1);
	q.b[q.n - 1] = 255; /* class ANY: as IN */
	run(t, &q, 0);
	CHECK_AUTH(0);
	KT_CHECK_INT_EQ(R.an, 1);
	/* Trailing bytes after the last section are ignored. */
	qb_query(&q, "web.shop.svc.cluster.local", T_A, -1);
	qb_u32(&q, 0xdeadbeef);
	run(t, &q, 0);
	CHECK_AUTH(0);
	KT_CHECK_INT_EQ(R.an, 1);
	kt_dns_table_free(t);
}

KT_TEST(no_table_servfail)
{
	struct qb q;
	qb_query(&q, "web.shop.svc.cluster.local", T_A, -1);
	KT_CHECK(run(NULL, &q, 0) > 12);
	KT_CHECK_INT_EQ(R.rcode, 2);
	KT_CHECK_INT_EQ(R.qd, 1);
	struct kt_dns_table *t = kt_dns_table_new("cluster.local");
	KT_REQUIRE(t);
	KT_CHECK(run(t, &q, 0) > 12);
	KT_CHECK_INT_EQ(R.rcode, 2);
	kt_dns_table_free(t);
}

KT_TEST(compression_pointers_in_question)
{
	struct kt_dns_table *t = fixture();
	KT_REQUIRE(t);
	struct qb q;
	/* Pointer to itself: a loop. */
	qb_header(&q, 0x1234, 0x0100, 1, 0, 0, 0);
	qb_u16(&q, 0xc00c);
	qb_u16(&q, T_A);
	qb_u16(&q, 1);
	KT_CHECK_INT_EQ(run(t, &q, 0), 12);
	KT_CHECK_INT_EQ(R.rcode, 1);
	/* Labels, then a pointer back to their own start: a loop. */
	qb_header(&q, 0x1234, 0x0100, 1, 0, 0, 0);
	qb_name_open(&q, "a.b", true);
	qb_u16(&q, 0xc00e); /* to "b" */
	qb_u16(&q, T_A);
	qb_u16(&q, 1);
	KT_CHECK_INT_EQ(run(t, &q, 0), 12);
	KT_CHECK_INT_EQ(R.rcode, 1);
	/* Forward pointer (to a name after the question). */
	qb_header(&q, 0x1234, 0x0100, 1, 0, 0, 0);
	qb_u16(&q, 0xc012);
	qb_u16(&q, T_A);
	qb_u16(&q, 1);
	qb_name(&q, "web.shop.svc.cluster.local");
	KT_CHECK_INT_EQ(run(t, &q, 0), 12);
	KT_CHECK_INT_EQ(R.rcode, 1);
	/* Pointer past the end of the message. */
	qb_header(&q, 0x1234, 0x0100, 1, 0, 0, 0);
	qb_u16(&q, 0xffff);
	qb_u16(&q, T_A);
	qb_u16(&q, 1);
	KT_CHECK_INT_EQ(run(t, &q, 0), 12);
	KT_CHECK_INT_EQ(R.rcode, 1);
	/* A pointer into the header is legal (backwards): byte 4 is QDCOUNT's high byte, 0, so
	 * "\3foo" + pointer(4) is "foo.". Answered (REFUSED), question echoed expanded. */
	qb_header(&q, 0x1234, 0x0100, 1, 0, 0, 0);
	qb_name_open(&q, "foo", true);
	qb_u16(&q, 0xc004);
	qb_u16(&q, T_A);
	qb_u16(&q, 1);
	ssize_t n = run(t, &q, 0);
	KT_CHECK_INT_EQ(n, 12 + 5 + 4);
	KT_CHECK(R.ok);
	KT_CHECK_INT_EQ(R.rcode, 5);
	KT_CHECK_STR_EQ(R.qname, "foo.");
	KT_CHECK_MEM_EQ(RESP + 12, "\3foo\0\0\1\0\1", 9);
	/* Reserved label types 0x40 and 0x80. */
	static const uint8_t bad_types[] = {0x41, 0x80, 0xbf};
	for (size_t i = 0; i < 3; i++) {
		qb_header(&q, 0x1234, 0x0100, 1, 0, 0, 0);
		qb_u8(&q, bad_types[i]);
		qb_bytes(&q, "abc\0\0\1\0\1", 8);
		KT_CHECK_INT_EQ(run(t, &q, 0), 12);
		KT_CHECK_INT_EQ(R.rcode, 1);
	}
	/* A name longer than 255 octets. */
	qb_header(&q, 0x1234, 0x0100, 1, 0, 0, 0);
	for (int i = 0; i < 5; i++) {
		uint8_t lab[64];
		memset(lab, 'a', sizeof(lab));
		lab[0] = 63;
		qb_bytes(&q, lab, 64); /* 5 * 64 = 320 > 255 */
	}
	qb_u8(&q, 0);
	qb_u16(&q, T_A);
	qb_u16(&q, 1);
	KT_CHECK_INT_EQ(run(t, &q, 0), 12);
	KT_CHECK_INT_EQ(R.rcode, 1);
	/* The longest legal name: 255 octets. */
	qb_header(&q, 0x1234, 0x0100, 1, 0, 0, 0);
	for (int i = 0; i < 3; i++) {
		uint8_t lab[64];
		memset(lab, 'a', sizeof(lab));
		lab[0] = 63;
		qb_bytes(&q, lab, 64);
	}
	uint8_t last[62];
	memset(last, 'b', sizeof(last));
	last[0] = 61;
	qb_bytes(&q, last, 62); /* 192 + 62 + root = 255 */
	qb_u8(&q, 0);
	qb_u16(&q, T_A);
	qb_u16(&q, 1);
	KT_CHECK_INT_EQ(run(t, &q, 0), 12 + 255 + 4);
	KT_CHECK_INT_EQ(R.rcode, 5);
	kt_dns_table_free(t);
}

/* ---- EDNS ---- */

KT_TEST(edns)
{
	struct kt_dns_table *t = fixture();
	KT_REQUIRE(t);
	struct qb q;
	qb_query(&q, "web.shop.svc.cluster.local", T_A, 4096);
	run(t, &q, KT_DNS_UDP);
	CHECK_AUTH(0);
	KT_CHECK_INT_EQ(R.an, 1);
	KT_CHECK_INT_EQ(R.ar, 1);
	KT_CHECK(R.opt);
	KT_CHECK_INT_EQ(R.opt_size, 1232);
	KT_CHECK_INT_EQ(R.opt_ttl, 0);
	/* DO copied (RFC 3225), options ignored but checked for shape. */
	qb_header(&q, 0x1234, 0x0100, 1, 0, 0, 1);
	qb_name(&q, "web.shop.svc.cluster.local");
	qb_u16(&q, T_A);
	qb_u16(&q, 1);
	qb_u8(&q, 0);
	qb_u16(&q, T_OPT);
	qb_u16(&q, 1232);
	qb_u32(&q, 0x00008000);
	qb_u16(&q, 12);
	qb_u16(&q, 10); /* COOKIE */
	qb_u16(&q, 8);
	qb_bytes(&q, "\1\2\3\4\5\6\7\10", 8);
	run(t, &q, KT_DNS_UDP);
	CHECK_AUTH(0);
	KT_CHECK(R.opt);
	KT_CHECK_INT_EQ(R.opt_ttl, 0x8000);
	/* An option running past RDATA: FORMERR, no OPT in the answer. */
	q.b[q.n - 9] = 9;
	run(t, &q, KT_DNS_UDP);
	KT_CHECK(R.ok);
	KT_CHECK_INT_EQ(R.rcode, 1);
	KT_CHECK(!R.opt);
	/* Version 1: BADVERS (extended RCODE 16: 1 in the OPT, 0 in the header). */
	qb_header(&q, 0x1234, 0x0100, 1, 0, 0, 1);
	qb_name(&q, "web.shop.svc.cluster.local");
	qb_u16(&q, T_A);
	qb_u16(&q, 1);
	qb_opt(&q, 1232, 1, false);
	run(t, &q, KT_DNS_UDP);
	KT_CHECK(R.ok);
	KT_CHECK_INT_EQ(R.rcode, 0);
	KT_CHECK_INT_EQ(R.an, 0);
	KT_CHECK(R.opt);
	KT_CHECK_INT_EQ(R.opt_ttl, 0x01000000);
	KT_CHECK_INT_EQ(R.flags & AA, 0);
	/* Two OPTs; an OPT with a non-root owner: FORMERR. */
	qb_header(&q, 0x1234, 0x0100, 1, 0, 0, 2);
	qb_name(&q, "web.shop.svc.cluster.local");
	qb_u16(&q, T_A);
	qb_u16(&q, 1);
	qb_opt(&q, 1232, 0, false);
	qb_opt(&q, 1232, 0, false);
	run(t, &q, KT_DNS_UDP);
	KT_CHECK_INT_EQ(R.rcode, 1);
	KT_CHECK(!R.opt);
	qb_header(&q, 0x1234, 0x0100, 1, 0, 0, 1);
	qb_name(&q, "web.shop.svc.cluster.local");
	qb_u16(&q, T_A);
	qb_u16(&q, 1);
	qb_u16(&q, 0xc00c);
	qb_u16(&q, T_OPT);
	qb_u16(&q, 1232);
	qb_u32(&q, 0);
	qb_u16(&q, 0);
	run(t, &q, KT_DNS_UDP);
	KT_CHECK_INT_EQ(R.rcode, 1);
	/* Other additional records (here a bogus TXT) are skipped; the OPT after them counts. */
	qb_header(&q, 0x1234, 0x0100, 1, 0, 0, 2);
	qb_name(&q, "web.shop.svc.cluster.local");
	qb_u16(&q, T_A);
	qb_u16(&q, 1);
	qb_u16(&q, 0xc00c);
	qb_u16(&q, T_TXT);
	qb_u16(&q, 1);
	qb_u32(&q, 0);
	qb_u16(&q, 2);
	qb_bytes(&q, "\1x", 2);
	qb_opt(&q, 1232, 0, false);
	run(t, &q, KT_DNS_UDP);
	CHECK_AUTH(0);
	KT_CHECK(R.opt);
	kt_dns_table_free(t);
}

/* ---- truncation ---- */

static struct kt_dns_table *big_headless(int n_a, int n_srv)
{
	struct kt_dns_table *t = kt_dns_table_new("cluster.local");
	if (!t)
		return NULL;
	for (int i = 0; i < n_a; i++)
		if (kt_dns_table_add_a(t, "big.ns.svc.cluster.local",
				       IP(198, 19, i / 250, i % 250)))
			goto fail;
	for (int i = 0; i < n_srv; i++) {
		char n[64];
		snprintf(n, sizeof(n), "pod-%03d.big.ns.svc.cluster.local", i);
		if (kt_dns_table_add_a(t, n, IP(198, 19, 10 + i / 200, i % 200)) ||
		    kt_dns_table_add_srv(t, "_p._tcp.big.ns.svc.cluster.local", 0, 10, 80, n))
			goto fail;
	}
	if (kt_dns_table_seal(t))
		goto fail;
	return t;
fail:
	kt_dns_table_free(t);
	return NULL;
}

KT_TEST(truncation)
{
	struct kt_dns_table *t = big_headless(200, 0);
	KT_REQUIRE(t);
	struct qb q;
	size_t qsz = 12 + 26 + 4, rsz = 16; /* "big.ns.svc.cluster.local" is 26 octets */
	/* UDP, no EDNS: 512 bytes, whole records, TC. */
	qb_query(&q, "big.ns.svc.cluster.local", T_A, -1);
	ssize_t n = run(t, &q, KT_DNS_UDP);
	KT_CHECK_INT_EQ(n, qsz + (512 - qsz) / rsz * rsz);
	CHECK_AUTH(0);
	KT_CHECK(R.flags & TC);
	KT_CHECK_INT_EQ(R.an, (512 - qsz) / rsz);
	/* EDNS 4096: capped at our 1232, OPT kept. */
	qb_query(&q, "big.ns.svc.cluster.local", T_A, 4096);
	n = run(t, &q, KT_DNS_UDP);
	KT_CHECK_INT_EQ(n, qsz + (1232 - qsz - 11) / rsz * rsz + 11);
	CHECK_AUTH(0);
	KT_CHECK(R.flags & TC);
	KT_CHECK(R.opt);
	/* EDNS 700: the client's size. EDNS 100: treated as 512. */
	qb_query(&q, "big.ns.svc.cluster.local", T_A, 700);
	n = run(t, &q, KT_DNS_UDP);
	KT_CHECK(n <= 700 && n > 700 - (ssize_t)rsz);
	KT_CHECK(R.ok && (R.flags & TC) && R.opt);
	qb_query(&q, "big.ns.svc.cluster.local", T_A, 100);
	n = run(t, &q, KT_DNS_UDP);
	KT_CHECK(n <= 512 && n > 512 - (ssize_t)rsz);
	KT_CHECK(R.ok && (R.flags & TC) && R.opt);
	/* TCP: everything, no TC. */
	qb_query(&q, "big.ns.svc.cluster.local", T_A, -1);
	n = run(t, &q, KT_DNS_TCP);
	KT_CHECK_INT_EQ(n, qsz + 200 * rsz);
	CHECK_AUTH(0);
	KT_CHECK(!(R.flags & TC));
	KT_CHECK_INT_EQ(R.an, 200);
	/* A small respcap limits TCP too, and UDP; never a byte past respcap. */
	for (size_t cap = 0; cap < 300; cap++) {
		memset(RESP, 0xaa, 400);
		n = kt_dns_handle(t, q.b, q.n, RESP, cap, KT_DNS_TCP);
		KT_CHECK(n <= (ssize_t)cap);
		KT_CHECK_INT_EQ(RESP[cap], 0xaa);
		if (cap < 12) {
			KT_CHECK_INT_EQ(n, 0);
			continue;
		}
		tparse(RESP, (size_t)n);
		KT_CHECK(R.ok);
		KT_CHECK(R.flags & TC);
		KT_CHECK_INT_EQ(R.qd, cap >= qsz ? 1 : 0);
	}
	kt_dns_table_free(t);
}

KT_TEST(truncation_negative_and_glue)
{
	/* Glue that does not fit is left out without TC (RFC 2181 section 9). */
	struct kt_dns_table *t = big_headless(0, 40);
	KT_REQUIRE(t);
	struct qb q;
	qb_query(&q, "_p._tcp.big.ns.svc.cluster.local", T_SRV, 1232);
	ssize_t n = run(t, &q, KT_DNS_UDP);
	KT_CHECK(n <= 1232);
	CHECK_AUTH(0);
	KT_CHECK(R.flags & TC);	  /* 40 SRV of ~50 bytes do not fit in 1232 */
	KT_CHECK_INT_EQ(R.ar, 1); /* the OPT only: no glue after truncated answers */
	qb_query(&q, "_p._tcp.big.ns.svc.cluster.local", T_SRV, -1);
	n = run(t, &q, KT_DNS_TCP);
	CHECK_AUTH(0);
	KT_CHECK(!(R.flags & TC));
	KT_CHECK_INT_EQ(R.an, 40);
	KT_CHECK_INT_EQ(R.ar, 40);
	for (int i = 0; i < 40; i++)
		KT_CHECK_STR_EQ(R.rr[40 + i].name, R.rr[i].target);
	/* With a cap that fits all SRV records but only some glue: glue cut, no TC. */
	size_t an_end = R.rr[40].owner_off;
	n = kt_dns_handle(t, q.b, q.n, RESP, an_end + 40, KT_DNS_TCP);
	KT_CHECK_INT_EQ(n, an_end + 32); /* two glue A records, 16 bytes each (pointer owner) */
	tparse(RESP, (size_t)n);
	CHECK_AUTH(0);
	KT_CHECK(!(R.flags & TC));
	KT_CHECK_INT_EQ(R.an, 40);
	KT_CHECK_INT_EQ(R.ar, 2);
	kt_dns_table_free(t);
}

KT_TEST(tcp_beyond_pointer_range)
{
	/* 400 SRV records of ~52 bytes: the later SRV targets lie past offset 0x3fff, where
	 * compression pointers cannot reach, so their glue owners are written out. */
	struct kt_dns_table *t = big_headless(0, 400);
	KT_REQUIRE(t);
	struct qb q;
	qb_query(&q, "_p._tcp.big.ns.svc.cluster.local", T_SRV, 1232);
	ssize_t n = run(t, &q, KT_DNS_TCP);
	KT_CHECK(n > 0x4000);
	CHECK_AUTH(0);
	KT_CHECK(!(R.flags & TC));
	KT_REQUIRE(R.an == 400 && R.ar == 401);
	KT_CHECK(R.opt);
	for (int i = 0; i < 400; i++) {
		KT_CHECK_STR_EQ(R.rr[400 + i].name, R.rr[i].target);
		KT_CHECK_INT_EQ(R.rr[400 + i].a, IP(198, 19, 10 + i / 200, i % 200));
	}
	/* The first glue owner points at the first SRV target (below 0x4000); the last SRV
	 * target lies beyond, so the last glue owner is labels ("pod-399" then a pointer into the
	 * question for the rest). */
	KT_CHECK(R.rr[400].owner_off > 0x3fff);
	KT_CHECK_INT_EQ(g16(RESP + R.rr[400].owner_off), 0xc000 | (R.rr[0].rdoff + 6));
	KT_CHECK(R.rr[399].rdoff + 6 > 0x3fff);
	KT_CHECK_MEM_EQ(RESP + R.rr[799].owner_off, "\7pod-399\xc0", 9);
	kt_dns_table_free(t);
}

/* ---- TCP framing ---- */

KT_TEST(tcp_framing)
{
	struct kt_dns_table *t = fixture();
	KT_REQUIRE(t);
	struct qb q;
	qb_query(&q, "web.shop.svc.cluster.local", T_A, -1);
	uint8_t stream[2048];
	stream[0] = (uint8_t)(q.n >> 8);
	stream[1] = (uint8_t)q.n;
	memcpy(stream + 2, q.b, q.n);
	memcpy(stream + 2 + q.n, stream, 2 + q.n); /* a second frame behind it */
	for (size_t len = 0; len < 2 + q.n; len++)
		KT_CHECK_INT_EQ(kt_dns_tcp_frame_len(stream, len), 0);
	KT_CHECK_INT_EQ(kt_dns_tcp_frame_len(stream, 2 + q.n), 2 + q.n);
	KT_CHECK_INT_EQ(kt_dns_tcp_frame_len(stream, 4 + 2 * q.n), 2 + q.n);
	KT_CHECK_INT_EQ(kt_dns_tcp_frame_len((const uint8_t *)"\0\0", 2), 2);
	uint8_t out[600];
	ssize_t n = kt_dns_handle_tcp(t, stream + 2, q.n, out, sizeof(out));
	KT_REQUIRE(n == (ssize_t)(2 + q.n + 16));
	KT_CHECK_INT_EQ(out[0] << 8 | out[1], n - 2);
	tparse(out + 2, (size_t)n - 2);
	CHECK_AUTH(0);
	KT_CHECK_INT_EQ(kt_dns_handle_tcp(t, stream + 2, 0, out, sizeof(out)), 0);
	KT_CHECK_INT_EQ(kt_dns_handle_tcp(t, stream + 2, q.n, out, 13), 0);
	KT_CHECK_INT_EQ(kt_dns_handle_tcp(t, stream + 2, q.n, out, 14), 14);
	kt_dns_table_free(t);
}

/* ---- scale ---- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

KT_TEST(ten_thousand_names)
{
	enum { N = 10000 };
	double t0 = now_s();
	struct kt_dns_table *t = kt_dns_table_new("cluster.local");
	KT_REQUIRE(t);
	KT_CHECK_INT_EQ(kt_dns_table_set_reverse_zone(t, IP(198, 19, 0, 0), 16), 0);
	char name[128], srv[160];
	for (int i = 0; i < N; i++) {
		uint32_t ip = IP(198, 19, 0, 0) + 256 + (uint32_t)i;
		snprintf(name, sizeof(name), "svc%05d.ns%02d.svc.cluster.local", i, i % 50);
		snprintf(srv, sizeof(srv), "_http._tcp.%s", name);
		KT_REQUIRE(kt_dns_table_add_a(t, name, ip) == 0);
		KT_REQUIRE(kt_dns_table_add_srv(t, srv, 0, 100, 8080, name) == 0);
		KT_REQUIRE(kt_dns_table_add_ptr(t, ip, name) == 0);
	}
	KT_REQUIRE(kt_dns_table_seal(t) == 0);
	double built = now_s() - t0;
	/* 3N owners; 50 namespaces; _tcp ENTs per service; reverse: apex + /24 ENTs (40 + 1). */
	KT_CHECK(kt_dns_table_name_count(t) >= 4 * N + 50);
	t0 = now_s();
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "SVC%05d.ns%02d.svc.cluster.local", i, i % 50);
		ask(t, name, T_A);
		KT_CHECK(R.ok && R.rcode == 0 && R.an == 1);
		KT_CHECK_INT_EQ(R.rr[0].a, IP(198, 19, 0, 0) + 256 + (uint32_t)i);
		snprintf(name, sizeof(name), "svc%05d.ns%02d.svc.cluster.local", i, (i + 1) % 50);
		ask(t, name, T_A);
		KT_CHECK_INT_EQ(R.rcode, 3); /* right service, wrong namespace */
	}
	double looked = now_s() - t0;
	/* A spot check of SRV and PTR for a few. */
	for (int i = 0; i < N; i += 997) {
		uint32_t ip = IP(198, 19, 0, 0) + 256 + (uint32_t)i;
		snprintf(srv, sizeof(srv), "_http._tcp.svc%05d.ns%02d.svc.cluster.local", i,
			 i % 50);
		ask(t, srv, T_SRV);
		KT_CHECK(R.ok && R.an == 1 && R.ar == 1 && R.rr[1].a == ip);
		snprintf(name, sizeof(name), "%u.%u.19.198.in-addr.arpa", ip & 0xff,
			 ip >> 8 & 0xff);
		ask(t, name, T_PTR);
		snprintf(srv, sizeof(srv), "svc%05d.ns%02d.svc.cluster.local.", i, i % 50);
		KT_CHECK(R.ok && R.an == 1);
		KT_CHECK_STR_EQ(R.rr[0].target, srv);
	}
	printf("# 10000 names: built in %.1f ms, %d queries (with parsing) in %.1f ms\n",
	       built * 1e3, 2 * N, looked * 1e3);
	kt_dns_table_free(t);
}

/* ---- robustness: mutated queries keep the invariants ---- */

KT_TEST(mutations_keep_invariants)
{
	struct kt_dns_table *t = fixture();
	KT_REQUIRE(t);
	static const char *const names[] = {
	    "web.shop.svc.cluster.local", "_broker._tcp.kafka.data.svc.cluster.local",
	    "1.0.19.198.in-addr.arpa", "alias.shop.svc.cluster.local"};
	uint32_t seed = 12345;
	for (int iter = 0; iter < 20000; iter++) {
		struct qb q;
		qb_query(&q, names[iter % 4], (uint16_t)(iter % 3 ? T_A : T_ANY),
			 iter % 2 ? 1232 : -1);
		int flips = 1 + iter % 4;
		for (int f = 0; f < flips; f++) {
			seed = seed * 1103515245u + 12345u;
			q.b[(seed >> 8) % q.n] ^= (uint8_t)(1u << ((seed >> 4) & 7));
		}
		seed = seed * 1103515245u + 12345u;
		size_t len = iter % 7 == 0 ? (seed >> 8) % (q.n + 1) : q.n;
		size_t cap = iter % 5 == 0 ? 12 + (seed >> 16) % 200 : 4096;
		unsigned fl = iter % 3 == 0 ? KT_DNS_TCP : KT_DNS_UDP;
		ssize_t n = kt_dns_handle(t, q.b, len, RESP, cap, fl);
		KT_CHECK(n >= 0 && (size_t)n <= cap);
		if (!(fl & KT_DNS_TCP))
			KT_CHECK(n <= 1232);
		if (n > 0) {
			KT_CHECK(RESP[0] == q.b[0] && RESP[1] == q.b[1]);
			tparse(RESP, (size_t)n);
			KT_CHECK(R.ok);
			KT_CHECK(R.flags & QR);
		}
	}
	kt_dns_table_free(t);
}

/* ---- optional: dig against an in-process server on loopback ---- */

/* Runs dig (args appended) against a server answering from t on 127.0.0.1; returns dig's
 * output in out, or -1 when dig or loopback sockets are unavailable. */
static int dig(const struct kt_dns_table *t, bool tcp, const char *args, char *out, size_t cap)
{
	if (access("/usr/bin/dig", X_OK) != 0)
		return -1;
	int s = socket(AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
	if (s < 0)
		return -1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(s, (struct sockaddr *)&a, &al) || (tcp && listen(s, 1))) {
		close(s);
		return -1;
	}
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "dig @127.0.0.1 -p %u +tries=1 +time=3 %s %s 2>&1",
		 ntohs(a.sin_port), tcp ? "+tcp" : "", args);
	FILE *p = popen(cmd, "r");
	if (!p) {
		close(s);
		return -1;
	}
	struct pollfd pfd = {.fd = s, .events = POLLIN};
	static uint8_t in[65536 + 2], resp[65536 + 2];
	if (poll(&pfd, 1, 5000) == 1) {
		if (tcp) {
			int c = accept(s, NULL, NULL);
			size_t got = 0;
			while (c >= 0 && kt_dns_tcp_frame_len(in, got) == 0 && got < sizeof(in)) {
				ssize_t r = read(c, in + got, sizeof(in) - got);
				if (r <= 0)
					break;
				got += (size_t)r;
			}
			size_t fl = kt_dns_tcp_frame_len(in, got);
			if (c >= 0 && fl) {
				ssize_t n =
				    kt_dns_handle_tcp(t, in + 2, fl - 2, resp, sizeof(resp));
				if (n > 0 && write(c, resp, (size_t)n) != n)
					fprintf(stderr, "short write\n");
			}
			if (c >= 0)
				close(c);
		} else {
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);
			ssize_t r = recvfrom(s, in, sizeof(in), 0, (struct sockaddr *)&from, &fl);
			if (r > 0) {
				ssize_t n =
				    kt_dns_handle(t, in, (size_t)r, resp, sizeof(resp), KT_DNS_UDP);
				if (n > 0)
					sendto(s, resp, (size_t)n, 0, (struct sockaddr *)&from, fl);
			}
		}
	}
	size_t o = fread(out, 1, cap - 1, p);
	out[o] = 0;
	pclose(p);
	close(s);
	return 0;
}

KT_TEST(dig_interop)
{
	struct kt_dns_table *t = fixture();
	KT_REQUIRE(t);
	static char out[16384];
	if (dig(t, false, "+short Web.Shop.svc.cluster.local A", out, sizeof(out))) {
		printf("# dig unavailable: skipped\n");
		kt_dns_table_free(t);
		return;
	}
	KT_CHECK_STR_EQ(out, "198.19.0.1\n");
	KT_CHECK(dig(t, false, "+short _broker._tcp.kafka.data.svc.cluster.local SRV", out,
		     sizeof(out)) == 0);
	KT_CHECK(strstr(out, "0 33 9092 kafka-0.kafka.data.svc.cluster.local.\n") != NULL);
	KT_CHECK(strstr(out, "0 33 9092 kafka-2.kafka.data.svc.cluster.local.\n") != NULL);
	KT_CHECK(dig(t, false, "nope.shop.svc.cluster.local AAAA", out, sizeof(out)) == 0);
	KT_CHECK(strstr(out, "status: NXDOMAIN") != NULL);
	KT_CHECK(strstr(out, "flags: qr aa rd;") != NULL);
	KT_CHECK(strstr(out, "cluster.local.\t\t5\tIN\tSOA\tns.dns.cluster.local. "
			     "hostmaster.cluster.local. 42 7200 1800 86400 5") != NULL);
	/* dig warns about .local (mDNS) and RA=0; a parse problem would say "malformed". */
	KT_CHECK(strstr(out, "malformed") == NULL && strstr(out, "mismatch") == NULL);
	KT_CHECK(dig(t, false, "example.com A", out, sizeof(out)) == 0);
	KT_CHECK(strstr(out, "status: REFUSED") != NULL);
	KT_CHECK(dig(t, false, "+short -x 198.19.0.1", out, sizeof(out)) == 0);
	KT_CHECK_STR_EQ(out, "web.shop.svc.cluster.local.\n");
	KT_CHECK(dig(t, false, "+short dns-version.cluster.local TXT", out, sizeof(out)) == 0);
	KT_CHECK_STR_EQ(out, "\"1.0.1\"\n");
	KT_CHECK(dig(t, true, "+short kafka.data.svc.cluster.local A", out, sizeof(out)) == 0);
	KT_CHECK_STR_EQ(out, "198.19.1.10\n198.19.1.11\n198.19.1.12\n");
	kt_dns_table_free(t);
}

KT_TEST_MAIN()
