/* test_netstack.c: the netstack without a TUN. Packets are built by hand (IPv4 + TCP/UDP/ICMP
 * with real checksums), fed to kt_netstack_input(), and what the stack writes through the output
 * callback is parsed and checked field by field, checksums included. A fake clock drives the
 * timers. */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kt_test.h"
#include "netstack.h"

#define VIP(a, b) (0xC6130000u | ((uint32_t)(a) << 8) | (b)) /* 198.19.a.b */
#define CLIENT 0x0A000002u				     /* 10.0.0.2 */
#define DNS_VIP VIP(0, 53)
#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10

/* ---- captured output ---- */

#define MAX_OUT 4096
struct pkt {
	uint8_t b[66000];
	size_t len;
};
static struct pkt *g_out;
static size_t g_nout;
/* KT_NETSTACK_OFFLOAD=1 runs every test with the device offloads on (see capture()). */
static bool g_offload, g_force_offload;
static unsigned g_offloaded, g_multiseg; /* packets that used them */
static unsigned g_calls;		 /* output callbacks */

static uint32_t sum16(uint32_t s, const uint8_t *p, size_t n);
static uint16_t fold16(uint32_t s);

/* Completes an offloaded TCP packet as a device does: the checksum from csum_start to the end
 * (the field already holds the pseudo-header sum), and with seg_size the packet is cut into
 * segments of seg_size payload bytes, each with its own lengths, sequence number and checksums
 * (what the kernel's segmentation would do before a client sees them). Every resulting packet is
 * captured on its own, so the tests below check the same segments in both modes. */
static int capture(const uint8_t *b, size_t len, const struct kt_tun_offload *off)
{
	struct pkt *p;
	size_t hl, seg, pay, done;

	if (!off) {
		if (g_nout == MAX_OUT)
			return -ENOBUFS;
		p = &g_out[g_nout++];
		memcpy(p->b, b, len);
		p->len = len;
		return 0;
	}
	g_offloaded++;
	hl = off->hdr_len;
	pay = len - hl;
	seg = off->seg_size ? off->seg_size : pay;
	if (off->seg_size) {
		g_multiseg++;
		if (pay <= seg)
			return -EINVAL; /* a "batch" of one segment is malformed */
	}
	for (done = 0; done < pay || (pay == 0 && done == 0); done += seg) {
		size_t k = pay - done < seg ? pay - done : seg;
		size_t ihl = (size_t)(b[0] & 15) * 4;
		uint8_t *q;
		uint32_t seqno, sum;

		if (g_nout == MAX_OUT)
			return -ENOBUFS;
		p = &g_out[g_nout++];
		q = p->b;
		memcpy(q, b, hl);
		memcpy(q + hl, b + hl + done, k);
		p->len = hl + k;
		q[2] = (uint8_t)(p->len >> 8);
		q[3] = (uint8_t)p->len;
		q[10] = q[11] = 0;
		sum = fold16(sum16(0, q, ihl));
		q[10] = (uint8_t)(~sum >> 8);
		q[11] = (uint8_t)~sum;
		seqno = (uint32_t)q[ihl + 4] << 24 | (uint32_t)q[ihl + 5] << 16 |
			(uint32_t)q[ihl + 6] << 8 | q[ihl + 7];
		seqno += (uint32_t)done;
		q[ihl + 4] = (uint8_t)(seqno >> 24);
		q[ihl + 5] = (uint8_t)(seqno >> 16);
		q[ihl + 6] = (uint8_t)(seqno >> 8);
		q[ihl + 7] = (uint8_t)seqno;
		/* The pseudo-header sum for this segment's length, then the device's part. */
		sum = sum16(0, q + 12, 8) + 6 + (uint32_t)(p->len - ihl);
		q[off->csum_start + off->csum_offset] = 0;
		q[off->csum_start + off->csum_offset + 1] = 0;
		sum = fold16(sum16(sum, q + off->csum_start, p->len - off->csum_start));
		q[off->csum_start + off->csum_offset] = (uint8_t)(~sum >> 8);
		q[off->csum_start + off->csum_offset + 1] = (uint8_t)~sum;
		if (pay == 0)
			break;
	}
	return 0;
}

static int out_cb(void *user, const struct iovec *iov, int n, size_t total,
		  const struct kt_tun_offload *off)
{
	static uint8_t flat[66000];
	size_t len = 0;
	int i;

	(void)user;
	g_calls++;
	for (i = 0; i < n; i++) {
		if (len + iov[i].iov_len > sizeof(flat))
			return -EINVAL;
		memcpy(flat + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	if (len != total || (off && !g_offload) ||
	    (len >= 4 && (size_t)(flat[2] << 8 | flat[3]) != len))
		return -EINVAL;
	if (off) {
		/* The partial sum the device starts from must be the pseudo header's. */
		size_t ihl = (size_t)(flat[0] & 15) * 4;
		uint32_t ps = fold16(sum16(0, flat + 12, 8) + 6 + (uint32_t)(len - ihl));
		size_t at = (size_t)off->csum_start + off->csum_offset;

		if (off->csum_start != ihl || off->csum_offset != 16 || at + 2 > off->hdr_len ||
		    (uint32_t)(flat[at] << 8 | flat[at + 1]) != ps)
			return -EINVAL;
	}
	return capture(flat, len, off);
}

/* ---- the owner side ---- */

static uint64_t g_now = 1000000;
static enum kt_netstack_verdict g_verdict = KT_NETSTACK_ACCEPT;
static struct kt_tcp *g_last_h;
static struct kt_netstack_flow g_last_flow;
static int g_accepts, g_connected, g_fins, g_closed, g_closed_err;
static size_t g_sent;
static uint8_t g_rx[200000];
static size_t g_rxlen;
static bool g_auto_recved;
static bool g_close_in_recv;
static struct kt_tcp *g_complete_in_recv; /* syn_complete(this, 1) from inside recv */
static uint8_t g_udp[2048];
static size_t g_udplen;
static uint32_t g_udp_src;
static uint16_t g_udp_sport;
static struct kt_netstack *g_ns;

static uint64_t clock_cb(void *user)
{
	(void)user;
	return g_now;
}

static void cb_connected(void *user, struct kt_tcp *h)
{
	(void)user;
	(void)h;
	g_connected++;
}

static void cb_recv(void *user, struct kt_tcp *h, const uint8_t *d, size_t n)
{
	(void)user;
	if (g_rxlen + n <= sizeof(g_rx)) {
		memcpy(g_rx + g_rxlen, d, n);
		g_rxlen += n;
	}
	if (g_auto_recved)
		kt_tcp_recved(h, n);
	if (g_complete_in_recv) {
		kt_netstack_syn_complete(g_complete_in_recv, 1);
		g_complete_in_recv = NULL;
	}
	if (g_close_in_recv)
		kt_tcp_close(h);
}

static void cb_fin(void *user, struct kt_tcp *h)
{
	(void)user;
	(void)h;
	g_fins++;
}

static void cb_sent(void *user, struct kt_tcp *h, size_t n)
{
	(void)user;
	(void)h;
	g_sent += n;
}

static void cb_closed(void *user, struct kt_tcp *h, int err)
{
	(void)user;
	(void)h;
	g_closed++;
	g_closed_err = err;
}

static const struct kt_tcp_callbacks g_cbs = {
    .connected = cb_connected,
    .recv = cb_recv,
    .fin = cb_fin,
    .sent = cb_sent,
    .closed = cb_closed,
};

static enum kt_netstack_verdict accept_cb(void *user, struct kt_tcp *h,
					  const struct kt_netstack_flow *f)
{
	(void)user;
	g_accepts++;
	g_last_h = h;
	g_last_flow = *f;
	if (g_verdict != KT_NETSTACK_REFUSE)
		kt_tcp_set_callbacks(h, &g_cbs, NULL);
	return g_verdict;
}

static void udp_cb(void *user, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
		   const uint8_t *d, size_t n)
{
	(void)user;
	(void)dst;
	(void)dport;
	g_udp_src = src;
	g_udp_sport = sport;
	g_udplen = n < sizeof(g_udp) ? n : sizeof(g_udp);
	memcpy(g_udp, d, g_udplen);
}

/* Frees the previous netstack (a failed KT_REQUIRE may have left one) and makes a new one. */
static struct kt_netstack *setup_with(uint32_t mtu, uint32_t max_conns)
{
	struct kt_netstack_config c = {
	    .subnet = VIP(0, 0),
	    .prefix_len = 16,
	    .dns_ip = DNS_VIP,
	    .mtu = mtu,
	    .max_conns = max_conns,
	    .output = out_cb,
	    .accept = accept_cb,
	    .udp = udp_cb,
	    .now_ms = clock_cb,
	};
	const char *env = getenv("KT_NETSTACK_OFFLOAD");

	g_offload = g_force_offload || (env && !strcmp(env, "1"));
	g_offloaded = g_multiseg = g_calls = 0;
	if (g_offload)
		c.offload = KT_TUN_CAP_CSUM_PARTIAL | KT_TUN_CAP_TCP_SEGS;
	kt_netstack_free(g_ns);
	if (!g_out)
		g_out = malloc(sizeof(*g_out) * MAX_OUT);
	g_nout = 0;
	g_verdict = KT_NETSTACK_ACCEPT;
	g_last_h = NULL;
	g_accepts = g_connected = g_fins = g_closed = 0;
	g_closed_err = 1;
	g_sent = g_rxlen = g_udplen = 0;
	g_auto_recved = g_close_in_recv = false;
	g_complete_in_recv = NULL;
	g_ns = kt_netstack_new(&c);
	return g_ns;
}

static struct kt_netstack *setup(void)
{
	return setup_with(1500, 0);
}

static void teardown(void)
{
	kt_netstack_free(g_ns);
	g_ns = NULL;
}

/* ---- packet building and parsing ---- */

static uint32_t sum16(uint32_t s, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* The folded sum, not complemented. */
static uint16_t fold16(uint32_t s)
{
	return (uint16_t)~fold(s);
}

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* IPv4 header + transport checksum (pseudo header) over an already filled packet. */
static void finish_ip(uint8_t *b, size_t len, uint8_t proto, uint32_t src, uint32_t dst)
{
	size_t csum_off = proto == 6 ? 16 : proto == 17 ? 6 : 2;
	uint32_t s = 0;

	b[0] = 0x45;
	put16(b + 2, (uint32_t)len);
	put16(b + 4, 0x1234);
	put16(b + 6, 0x4000);
	b[8] = 64;
	b[9] = proto;
	put32(b + 12, src);
	put32(b + 16, dst);
	put16(b + 10, 0);
	put16(b + 10, fold(sum16(0, b, 20)));
	put16(b + 20 + csum_off, 0);
	if (proto != 1) {
		s = sum16(0, b + 12, 8);
		s += proto + (uint32_t)(len - 20);
	}
	put16(b + 20 + csum_off, fold(sum16(s, b + 20, len - 20)));
}

static size_t mk_tcp(uint8_t *b, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
		     uint32_t seq, uint32_t ack, uint8_t flags, const void *data, size_t n)
{
	size_t opt = (flags & F_SYN) ? 4 : 0, len = 20 + 20 + opt + n;

	memset(b, 0, 40 + opt);
	put16(b + 20, sport);
	put16(b + 22, dport);
	put32(b + 24, seq);
	put32(b + 28, ack);
	b[32] = (uint8_t)((5 + opt / 4) << 4);
	b[33] = flags;
	put16(b + 34, 65535);
	if (opt) { /* MSS 1460 */
		b[40] = 2;
		b[41] = 4;
		put16(b + 42, 1460);
	}
	if (n)
		memcpy(b + 40 + opt, data, n);
	finish_ip(b, len, 6, src, dst);
	return len;
}

static size_t mk_udp(uint8_t *b, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
		     const void *data, size_t n)
{
	memset(b, 0, 28);
	put16(b + 20, sport);
	put16(b + 22, dport);
	put16(b + 24, (uint32_t)(8 + n));
	memcpy(b + 28, data, n);
	finish_ip(b, 28 + n, 17, src, dst);
	return 28 + n;
}

struct seg {
	uint32_t src, dst, seq, ack;
	uint16_t sport, dport, win;
	uint8_t flags, proto;
	const uint8_t *data;
	size_t len;
	uint16_t mss; /* from the options, 0 if none */
	bool csum_ok;
};

/* Parses captured packet i; checks the IPv4 header checksum and the transport checksum. */
static bool parse(size_t i, struct seg *s)
{
	const uint8_t *b;
	size_t ihl, len;
	uint32_t sum;

	memset(s, 0, sizeof(*s));
	if (i >= g_nout)
		return false;
	b = g_out[i].b;
	len = g_out[i].len;
	if (len < 20 || (b[0] >> 4) != 4)
		return false;
	ihl = (size_t)(b[0] & 15) * 4;
	if (get16(b + 2) != len)
		return false;
	s->proto = b[9];
	s->src = get32(b + 12);
	s->dst = get32(b + 16);
	s->csum_ok = fold(sum16(0, b, ihl)) == 0;
	sum = s->proto == 1 ? 0 : sum16(0, b + 12, 8) + s->proto + (uint32_t)(len - ihl);
	s->csum_ok = s->csum_ok && fold(sum16(sum, b + ihl, len - ihl)) == 0;
	if (s->proto == 6) {
		const uint8_t *t = b + ihl;
		size_t doff = (size_t)(t[12] >> 4) * 4, o;

		s->sport = get16(t);
		s->dport = get16(t + 2);
		s->seq = get32(t + 4);
		s->ack = get32(t + 8);
		s->flags = t[13];
		s->win = get16(t + 14);
		for (o = 20; o + 4 <= doff;) {
			if (t[o] == 2 && t[o + 1] == 4) {
				s->mss = get16(t + o + 2);
				break;
			}
			if (t[o] <= 1) {
				o++;
				continue;
			}
			o += t[o + 1] ? t[o + 1] : 1;
		}
		s->data = t + doff;
		s->len = len - ihl - doff;
	} else {
		s->data = b + ihl;
		s->len = len - ihl;
	}
	return true;
}

/* One packet in, then the owner's end of round: held output goes out. */
static void in(const uint8_t *b, size_t n)
{
	kt_netstack_input(g_ns, b, n);
	kt_netstack_flush(g_ns);
}

/* A client connection as the test drives it. */
struct cli {
	uint32_t vip;
	uint16_t vport, sport;
	uint32_t seq; /* next sequence number we send */
	uint32_t ack; /* next sequence number we expect from the stack */
};

static void cli_syn(struct cli *c, uint32_t vip, uint16_t vport, uint16_t sport)
{
	uint8_t b[100];

	c->vip = vip;
	c->vport = vport;
	c->sport = sport;
	c->seq = 1000u * sport;
	in(b, mk_tcp(b, CLIENT, sport, vip, vport, c->seq, 0, F_SYN, NULL, 0));
}

static void cli_send(struct cli *c, uint8_t flags, const void *d, size_t n)
{
	static uint8_t b[2000];

	in(b, mk_tcp(b, CLIENT, c->sport, c->vip, c->vport, c->seq, c->ack, flags, d, n));
	c->seq += (uint32_t)n + ((flags & (F_SYN | F_FIN)) ? 1 : 0);
}

/* SYN, check the SYN-ACK, ACK. Returns false when the handshake did not happen. */
static bool cli_connect(struct cli *c, uint32_t vip, uint16_t vport, uint16_t sport)
{
	struct seg s;
	size_t before = g_nout;

	cli_syn(c, vip, vport, sport);
	if (g_nout != before + 1 || !parse(before, &s))
		return false;
	if (s.flags != (F_SYN | F_ACK) || s.ack != c->seq + 1 || s.src != vip || s.sport != vport ||
	    s.dst != CLIENT || s.dport != sport || !s.csum_ok)
		return false;
	c->seq++;
	c->ack = s.seq + 1;
	cli_send(c, F_ACK, NULL, 0);
	return true;
}

/* ---- tests ---- */

KT_TEST(syn_to_any_vip_gets_synack_and_connects)
{
	struct cli c;
	struct seg s;
	struct kt_netstack_stats st;

	KT_REQUIRE(setup());
	cli_syn(&c, VIP(5, 5), 80, 40000);
	KT_CHECK_INT_EQ(g_accepts, 1);
	KT_CHECK_INT_EQ(g_last_flow.vip, VIP(5, 5));
	KT_CHECK_INT_EQ(g_last_flow.port, 80);
	KT_CHECK_INT_EQ(g_last_flow.src, CLIENT);
	KT_CHECK_INT_EQ(g_last_flow.src_port, 40000);
	KT_REQUIRE(g_nout == 1 && parse(0, &s));
	KT_CHECK_INT_EQ(s.proto, 6);
	KT_CHECK_INT_EQ(s.flags, F_SYN | F_ACK);
	KT_CHECK_INT_EQ(s.src, VIP(5, 5));
	KT_CHECK_INT_EQ(s.sport, 80);
	KT_CHECK_INT_EQ(s.dst, CLIENT);
	KT_CHECK_INT_EQ(s.dport, 40000);
	KT_CHECK_INT_EQ(s.ack, c.seq + 1);
	KT_CHECK_INT_EQ(s.mss, 1460); /* MTU 1500 - 40 */
	KT_CHECK_INT_EQ(s.win, 65535);
	KT_CHECK(s.csum_ok);
	KT_CHECK_INT_EQ(g_connected, 0);
	c.seq++;
	c.ack = s.seq + 1;
	cli_send(&c, F_ACK, NULL, 0);
	KT_CHECK_INT_EQ(g_connected, 1);
	KT_CHECK(kt_tcp_send_room(g_last_h) > 0);

	/* A second VIP on another port, and a third VIP on the same port. */
	KT_CHECK(cli_connect(&c, VIP(200, 9), 443, 40001));
	KT_CHECK(cli_connect(&c, VIP(77, 1), 80, 40002));
	KT_CHECK_INT_EQ(g_connected, 3);
	kt_netstack_get_stats(g_ns, &st);
	KT_CHECK_INT_EQ(st.syn_accepted, 3);
	KT_CHECK_INT_EQ(st.conns_open, 3);
	teardown();
}

KT_TEST(refused_syn_gets_rst_at_once)
{
	uint8_t b[100];
	struct seg s;
	struct kt_netstack_stats st;

	KT_REQUIRE(setup());
	g_verdict = KT_NETSTACK_REFUSE;
	in(b, mk_tcp(b, CLIENT, 5555, VIP(5, 5), 81, 777, 0, F_SYN, NULL, 0));
	KT_CHECK_INT_EQ(g_accepts, 1);
	KT_REQUIRE(g_nout == 1 && parse(0, &s));
	KT_CHECK_INT_EQ(s.flags, F_RST | F_ACK);
	KT_CHECK_INT_EQ(s.seq, 0);
	KT_CHECK_INT_EQ(s.ack, 778);
	KT_CHECK_INT_EQ(s.src, VIP(5, 5));
	KT_CHECK_INT_EQ(s.sport, 81);
	KT_CHECK_INT_EQ(s.dst, CLIENT);
	KT_CHECK_INT_EQ(s.dport, 5555);
	KT_CHECK(s.csum_ok);
	kt_netstack_get_stats(g_ns, &st);
	KT_CHECK_INT_EQ(st.syn_refused, 1);
	KT_CHECK_INT_EQ(st.conns_open, 0);

	/* A stray ACK for an unknown connection is reset by lwIP (RFC 793: seq = its ack). */
	g_nout = 0;
	in(b, mk_tcp(b, CLIENT, 5556, VIP(5, 5), 81, 1, 4242, F_ACK, NULL, 0));
	KT_REQUIRE(g_nout == 1 && parse(0, &s));
	KT_CHECK(s.flags & F_RST);
	KT_CHECK_INT_EQ(s.seq, 4242);
	KT_CHECK_INT_EQ(s.src, VIP(5, 5));
	KT_CHECK(s.csum_ok);
	KT_CHECK_INT_EQ(g_accepts, 1); /* only SYNs are offered */
	teardown();
}

/* The client side of a download: checks every captured segment (checksums, at most one MSS of
 * 1460, in sequence, the expected bytes, a FIN only after the last byte), ACKs each round and
 * repeats until want_len bytes came or a round brings nothing. Returns the bytes received;
 * *segs counts data segments. */
static size_t cli_receive(struct cli *c, const uint8_t *want, size_t want_len, size_t *segs)
{
	struct seg s;
	size_t total = 0;

	*segs = 0;
	for (int round = 0; round < 20 && total < want_len; round++) {
		size_t got = 0;

		for (size_t i = 0; i < g_nout; i++) {
			if (!parse(i, &s) || !s.csum_ok || s.len > 1460 || s.seq != c->ack + got ||
			    total + got + s.len > want_len ||
			    memcmp(s.data, want + total + got, s.len) != 0 ||
			    ((s.flags & F_FIN) && total + got + s.len != want_len))
				return total;
			got += s.len;
			*segs += s.len ? 1 : 0;
		}
		if (got == 0)
			break;
		total += got;
		c->ack += (uint32_t)got;
		g_nout = 0;
		cli_send(c, F_ACK, NULL, 0);
	}
	return total;
}

KT_TEST(data_both_ways_with_flow_control)
{
	struct cli c;
	struct seg s;
	uint8_t data[1460];
	size_t i, total = 0, room, segs;
	ssize_t n;
	uint8_t big[5000];

	KT_REQUIRE(setup());
	KT_REQUIRE(cli_connect(&c, VIP(1, 2), 443, 41000));
	KT_REQUIRE(g_connected == 1);

	/* Client -> owner: the owner does not release, so the window fills to exactly 64 KiB. */
	while (total < 65535) {
		size_t k = 65535 - total < sizeof(data) ? 65535 - total : sizeof(data);

		for (i = 0; i < k; i++)
			data[i] = (uint8_t)(total + i);
		cli_send(&c, F_ACK | F_PSH, data, k);
		total += k;
	}
	KT_CHECK_INT_EQ(g_rxlen, 65535);
	for (i = 0; i < g_rxlen; i++)
		if (g_rx[i] != (uint8_t)i)
			break;
	KT_CHECK_INT_EQ(i, 65535);
	g_now += 500; /* let a delayed ACK go out */
	kt_netstack_run_timers(g_ns);
	kt_netstack_flush(g_ns);
	KT_REQUIRE(parse(g_nout - 1, &s));
	KT_CHECK_INT_EQ(s.ack, c.seq);
	KT_CHECK_INT_EQ(s.win, 0);
	/* Beyond the window: not delivered. */
	cli_send(&c, F_ACK | F_PSH, data, 1000);
	c.seq -= 1000;
	KT_CHECK_INT_EQ(g_rxlen, 65535);
	/* Releasing reopens the window with an immediate update. */
	g_nout = 0;
	kt_tcp_recved(g_last_h, 65535);
	kt_netstack_flush(g_ns);
	KT_REQUIRE(g_nout >= 1 && parse(g_nout - 1, &s));
	KT_CHECK_INT_EQ(s.win, 65535);
	KT_CHECK_INT_EQ(s.ack, c.seq);

	/* Owner -> client: segments of at most the MSS, bytes exact, room shrinks then grows. */
	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	room = kt_tcp_send_room(g_last_h);
	KT_CHECK(room >= sizeof(big));
	g_nout = 0;
	n = kt_tcp_send(g_last_h, big, sizeof(big));
	kt_netstack_flush(g_ns);
	KT_CHECK_INT_EQ(n, (ssize_t)sizeof(big));
	/* The room is the smaller of the byte budget and the segment slots left. */
	KT_CHECK(kt_tcp_send_room(g_last_h) <= room - sizeof(big));
	/* lwIP starts with a congestion window of 4380 bytes (RFC 3390), so the client ACKs what
	 * it got and the rest follows. */
	KT_CHECK_INT_EQ(cli_receive(&c, big, sizeof(big), &segs), sizeof(big));
	KT_CHECK_INT_EQ(g_sent, sizeof(big));
	KT_CHECK_INT_EQ(kt_tcp_send_room(g_last_h), room);
	teardown();
}

/* With device offloads, a flight of segments leaves as few multi-segment packets; cut back into
 * segments by the device (capture()), they carry exactly the bytes sent, in order, with valid
 * checksums. Then a FIN after the data is not merged and stays behind it. */
KT_TEST(offload_batches_a_flight_into_few_packets)
{
	struct cli c;
	static uint8_t big[60000];
	size_t i, segs = 0;
	ssize_t n;

	g_force_offload = true;
	KT_REQUIRE(setup());
	g_force_offload = false;
	KT_REQUIRE(cli_connect(&c, VIP(1, 9), 443, 41009));
	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 13 + 1);
	g_nout = 0;
	g_calls = 0;
	n = kt_tcp_send(g_last_h, big, sizeof(big));
	KT_REQUIRE(n == (ssize_t)sizeof(big));
	KT_CHECK_INT_EQ(g_nout, 0); /* held until the owner's round ends */
	kt_tcp_close(g_last_h);
	kt_netstack_flush(g_ns);
	KT_CHECK_INT_EQ(cli_receive(&c, big, sizeof(big), &segs), sizeof(big));
	/* 42 segments of at most 1460 bytes went out in far fewer writes. */
	KT_CHECK(segs >= sizeof(big) / 1460);
	KT_CHECK(g_multiseg >= 2);
	KT_CHECK(g_calls * 2 < segs);
	teardown();
}

KT_TEST(send_is_bounded_by_the_send_buffer)
{
	struct cli c;
	static uint8_t big[KT_NETSTACK_SND_BUFFER + 50000];
	ssize_t n;

	KT_REQUIRE(setup());
	KT_REQUIRE(cli_connect(&c, VIP(1, 3), 443, 41001));
	n = kt_tcp_send(g_last_h, big, sizeof(big));
	kt_netstack_flush(g_ns);
	KT_CHECK(n > 0);
	KT_CHECK(n <= (ssize_t)KT_NETSTACK_SND_BUFFER);
	KT_CHECK_INT_EQ(kt_tcp_send_room(g_last_h), 0);
	KT_CHECK_INT_EQ(kt_tcp_send(g_last_h, big, 10), 0);
	kt_netstack_flush(g_ns);
	teardown();
}

KT_TEST(fin_close_and_shutdown_paths)
{
	struct cli c;
	struct seg s;
	size_t i;
	bool fin = false;

	KT_REQUIRE(setup());
	/* Client FIN, then owner closes: our FIN follows, the handle ends without callback. */
	KT_REQUIRE(cli_connect(&c, VIP(3, 3), 443, 42000));
	cli_send(&c, F_ACK | F_FIN, NULL, 0);
	KT_CHECK_INT_EQ(g_fins, 1);
	g_nout = 0;
	kt_tcp_close(g_last_h);
	kt_netstack_flush(g_ns);
	for (i = 0; i < g_nout; i++)
		if (parse(i, &s) && (s.flags & F_FIN) && s.ack == c.seq)
			fin = true;
	KT_CHECK(fin);
	c.ack++;
	cli_send(&c, F_ACK, NULL, 0);
	KT_CHECK_INT_EQ(g_closed, 0);

	/* Owner half-closes first; the client's FIN completes it: closed(0). */
	KT_REQUIRE(cli_connect(&c, VIP(3, 4), 443, 42001));
	g_nout = 0;
	KT_CHECK_INT_EQ(kt_tcp_shutdown_write(g_last_h), 0);
	kt_netstack_flush(g_ns);
	KT_REQUIRE(g_nout == 1 && parse(0, &s));
	KT_CHECK(s.flags & F_FIN);
	KT_CHECK_INT_EQ(kt_tcp_send(g_last_h, "x", 1), -EPIPE);
	kt_netstack_flush(g_ns);
	c.ack++;
	cli_send(&c, F_ACK, "late", 4); /* the read side still works */
	KT_CHECK_INT_EQ(g_rxlen, 4);
	kt_tcp_recved(g_last_h, 4);
	kt_netstack_flush(g_ns);
	cli_send(&c, F_ACK | F_FIN, NULL, 0);
	KT_CHECK_INT_EQ(g_fins, 1 + 1);
	KT_CHECK_INT_EQ(g_closed, 1);
	KT_CHECK_INT_EQ(g_closed_err, 0);
	teardown();
}

KT_TEST(client_rst_and_owner_abort)
{
	struct cli c;
	struct seg s;

	KT_REQUIRE(setup());
	KT_REQUIRE(cli_connect(&c, VIP(4, 4), 443, 43000));
	cli_send(&c, F_RST, NULL, 0);
	KT_CHECK_INT_EQ(g_closed, 1);
	KT_CHECK_INT_EQ(g_closed_err, -ECONNRESET);

	KT_REQUIRE(cli_connect(&c, VIP(4, 5), 443, 43001));
	g_nout = 0;
	kt_tcp_abort(g_last_h);
	kt_netstack_flush(g_ns);
	KT_REQUIRE(g_nout == 1 && parse(0, &s));
	KT_CHECK(s.flags & F_RST);
	KT_CHECK_INT_EQ(s.seq, c.ack);
	KT_CHECK_INT_EQ(s.src, VIP(4, 5));
	KT_CHECK_INT_EQ(g_closed, 1); /* no callback for the owner's own abort */
	teardown();
}

KT_TEST(close_from_inside_recv_callback)
{
	struct cli c;
	struct kt_netstack_stats st;

	KT_REQUIRE(setup());
	KT_REQUIRE(cli_connect(&c, VIP(4, 6), 443, 43100));
	g_close_in_recv = true;
	g_auto_recved = true;
	cli_send(&c, F_ACK | F_PSH, "bye", 3);
	KT_CHECK_INT_EQ(g_rxlen, 3);
	kt_netstack_get_stats(g_ns, &st);
	KT_CHECK_INT_EQ(st.conns_open, 0);
	/* Data arriving after the close is discarded by lwIP, not delivered. */
	cli_send(&c, F_ACK | F_PSH, "more", 4);
	KT_CHECK_INT_EQ(g_rxlen, 3);
	teardown();
}

KT_TEST(pending_then_accept_then_refuse)
{
	struct cli c;
	struct seg s;
	struct kt_tcp *h;
	uint8_t b[100];
	struct kt_netstack_stats st;

	KT_REQUIRE(setup());
	g_verdict = KT_NETSTACK_PENDING;
	cli_syn(&c, VIP(6, 6), 8080, 44000);
	h = g_last_h;
	KT_CHECK_INT_EQ(g_nout, 0);
	/* The client retransmits its SYN: absorbed, still no answer. */
	in(b, mk_tcp(b, CLIENT, 44000, VIP(6, 6), 8080, c.seq, 0, F_SYN, NULL, 0));
	KT_CHECK_INT_EQ(g_nout, 0);
	KT_CHECK_INT_EQ(g_accepts, 1);
	KT_CHECK(kt_netstack_next_timeout_ms(g_ns) > 0);
	KT_CHECK_INT_EQ(kt_netstack_syn_complete(h, 1), 0);
	kt_netstack_flush(g_ns);
	KT_REQUIRE(g_nout == 1 && parse(0, &s));
	KT_CHECK_INT_EQ(s.flags, F_SYN | F_ACK);
	KT_CHECK_INT_EQ(s.ack, c.seq + 1);
	KT_CHECK_INT_EQ(kt_netstack_syn_complete(h, 1), -EINVAL); /* not pending any more */
	c.seq++;
	c.ack = s.seq + 1;
	cli_send(&c, F_ACK, NULL, 0);
	KT_CHECK_INT_EQ(g_connected, 1);

	g_nout = 0;
	cli_syn(&c, VIP(6, 7), 8081, 44001);
	KT_CHECK_INT_EQ(g_nout, 0);
	KT_CHECK_INT_EQ(kt_netstack_syn_complete(g_last_h, 0), 0);
	kt_netstack_flush(g_ns);
	KT_REQUIRE(g_nout == 1 && parse(0, &s));
	KT_CHECK_INT_EQ(s.flags, F_RST | F_ACK);
	KT_CHECK_INT_EQ(s.ack, c.seq + 1);
	KT_CHECK(s.csum_ok);
	kt_netstack_get_stats(g_ns, &st);
	KT_CHECK_INT_EQ(st.syn_pending, 2);
	KT_CHECK_INT_EQ(st.rx_syn_absorbed, 1);
	KT_CHECK_INT_EQ(st.conns_open, 1);
	teardown();
}

KT_TEST(pending_completed_from_inside_a_callback)
{
	struct cli a, c;
	struct seg s;
	struct kt_tcp *pending;

	KT_REQUIRE(setup());
	KT_REQUIRE(cli_connect(&a, VIP(7, 1), 443, 45000));
	g_verdict = KT_NETSTACK_PENDING;
	cli_syn(&c, VIP(7, 2), 8080, 45001);
	pending = g_last_h;
	KT_CHECK_INT_EQ(g_nout, 1);
	/* The owner completes the pending SYN while lwIP is delivering data of connection a:
	 * the SYN is fed after that input returns, not from inside lwIP. */
	g_complete_in_recv = pending;
	g_auto_recved = true;
	cli_send(&a, F_ACK | F_PSH, "go", 2);
	KT_CHECK(g_complete_in_recv == NULL);
	KT_REQUIRE(g_nout >= 2);
	KT_REQUIRE(parse(g_nout - 1, &s));
	KT_CHECK_INT_EQ(s.flags, F_SYN | F_ACK);
	KT_CHECK_INT_EQ(s.src, VIP(7, 2));
	KT_CHECK_INT_EQ(s.ack, c.seq + 1);
	teardown();
}

KT_TEST(timeouts_pending_and_handshake)
{
	struct cli c;
	struct seg s;
	int64_t t;
	struct kt_netstack_stats st;

	KT_REQUIRE(setup());
	KT_CHECK_INT_EQ(kt_netstack_next_timeout_ms(g_ns), -1); /* idle: no timer */
	g_verdict = KT_NETSTACK_PENDING;
	cli_syn(&c, VIP(8, 8), 8080, 46000);
	t = kt_netstack_next_timeout_ms(g_ns);
	KT_CHECK_INT_EQ(t, 10000);
	g_now += 9999;
	kt_netstack_run_timers(g_ns);
	kt_netstack_flush(g_ns);
	KT_CHECK_INT_EQ(g_closed, 0);
	g_now += 1;
	KT_CHECK_INT_EQ(kt_netstack_next_timeout_ms(g_ns), 0);
	kt_netstack_run_timers(g_ns);
	kt_netstack_flush(g_ns);
	KT_CHECK_INT_EQ(g_closed, 1);
	KT_CHECK_INT_EQ(g_closed_err, -ETIMEDOUT);
	KT_REQUIRE(g_nout == 1 && parse(0, &s));
	KT_CHECK_INT_EQ(s.flags, F_RST | F_ACK);
	KT_CHECK_INT_EQ(kt_netstack_next_timeout_ms(g_ns), -1);

	/* Accepted, SYN-ACK sent, the client never ACKs. */
	g_verdict = KT_NETSTACK_ACCEPT;
	g_nout = 0;
	cli_syn(&c, VIP(8, 9), 443, 46001);
	KT_CHECK_INT_EQ(g_nout, 1);
	for (int i = 0; i < 120 && g_closed < 2; i++) {
		g_now += 250;
		kt_netstack_run_timers(g_ns);
		kt_netstack_flush(g_ns);
	}
	KT_CHECK_INT_EQ(g_closed, 2);
	KT_CHECK_INT_EQ(g_closed_err, -ETIMEDOUT);
	kt_netstack_get_stats(g_ns, &st);
	KT_CHECK_INT_EQ(st.syn_timeouts, 2);
	KT_CHECK_INT_EQ(st.conns_open, 0);
	/* lwIP gave up on the half-open pcb too: nothing left, no timer. */
	for (int i = 0; i < 200 && kt_netstack_next_timeout_ms(g_ns) >= 0; i++) {
		g_now += 250;
		kt_netstack_run_timers(g_ns);
		kt_netstack_flush(g_ns);
	}
	KT_CHECK_INT_EQ(kt_netstack_next_timeout_ms(g_ns), -1);
	teardown();
}

KT_TEST(timers_stop_after_connections_end)
{
	struct cli c;

	KT_REQUIRE(setup());
	KT_CHECK_INT_EQ(kt_netstack_next_timeout_ms(g_ns), -1);
	KT_REQUIRE(cli_connect(&c, VIP(9, 9), 443, 47000));
	KT_CHECK(kt_netstack_next_timeout_ms(g_ns) >= 0);
	cli_send(&c, F_ACK | F_FIN, NULL, 0);
	kt_tcp_close(g_last_h);
	kt_netstack_flush(g_ns);
	c.ack++;
	cli_send(&c, F_ACK, NULL, 0);
	for (int i = 0; i < 100 && kt_netstack_next_timeout_ms(g_ns) >= 0; i++) {
		g_now += 250;
		kt_netstack_run_timers(g_ns);
		kt_netstack_flush(g_ns);
	}
	KT_CHECK_INT_EQ(kt_netstack_next_timeout_ms(g_ns), -1);
	teardown();
}

/* An established connection with nothing in flight needs no 250 ms tick: after one tick finds
 * nothing to do, the only timer left is the liveness sweep a minute later. The sweep probes the
 * client; an ACK keeps the connection, a RST (a client that is gone) ends it. Any new work
 * brings the tick back. */
KT_TEST(idle_connections_cost_no_ticks_and_dead_ones_are_found)
{
	struct cli c;
	struct seg s;
	struct kt_netstack_stats st;
	int64_t t;
	int i;

	KT_REQUIRE(setup());
	KT_REQUIRE(cli_connect(&c, VIP(9, 10), 443, 47010));
	cli_send(&c, F_ACK | F_PSH, "hi", 2);
	kt_tcp_recved(g_last_h, 2);
	kt_netstack_flush(g_ns);
	KT_REQUIRE(kt_tcp_send(g_last_h, "yo", 2) == 2);
	kt_netstack_flush(g_ns);
	c.ack += 2;
	cli_send(&c, F_ACK, NULL, 0);
	/* Ticks until lwIP has nothing left (the delayed ACK of "hi" went out with "yo"). */
	for (i = 0; i < 8 && (t = kt_netstack_next_timeout_ms(g_ns)) <= 250; i++) {
		g_now += (uint64_t)(t > 0 ? t : 0);
		kt_netstack_run_timers(g_ns);
		kt_netstack_flush(g_ns);
	}
	t = kt_netstack_next_timeout_ms(g_ns);
	KT_CHECK(t > 50000 && t <= 60000);
	/* New work: the tick is back. */
	KT_REQUIRE(kt_tcp_send(g_last_h, "again", 5) == 5);
	kt_netstack_flush(g_ns);
	KT_CHECK(kt_netstack_next_timeout_ms(g_ns) <= 250);
	c.ack += 5;
	cli_send(&c, F_ACK, NULL, 0);
	for (i = 0; i < 8 && (t = kt_netstack_next_timeout_ms(g_ns)) <= 250; i++) {
		g_now += (uint64_t)(t > 0 ? t : 0);
		kt_netstack_run_timers(g_ns);
	}
	KT_CHECK(kt_netstack_next_timeout_ms(g_ns) > 250);

	/* The sweep: one probe, an ACK for the byte before what the client expects. */
	g_nout = 0;
	g_now += (uint64_t)kt_netstack_next_timeout_ms(g_ns);
	kt_netstack_run_timers(g_ns);
	kt_netstack_flush(g_ns);
	KT_REQUIRE(g_nout == 1 && parse(0, &s));
	KT_CHECK_INT_EQ(s.flags & (F_ACK | F_SYN | F_FIN | F_RST), F_ACK);
	KT_CHECK_INT_EQ(s.seq, c.ack - 1);
	KT_CHECK_INT_EQ(s.ack, c.seq);
	KT_CHECK(s.csum_ok);
	kt_netstack_get_stats(g_ns, &st);
	KT_CHECK_INT_EQ(st.probes_sent, 1);
	/* A live client answers with an ACK: nothing ends. */
	cli_send(&c, F_ACK, NULL, 0);
	KT_CHECK_INT_EQ(g_closed, 0);
	/* A minute later the client is gone: the kernel answers the probe with RST. */
	for (i = 0; i < 8 && (t = kt_netstack_next_timeout_ms(g_ns)) <= 250; i++) {
		g_now += (uint64_t)(t > 0 ? t : 0);
		kt_netstack_run_timers(g_ns);
	}
	g_nout = 0;
	g_now += (uint64_t)kt_netstack_next_timeout_ms(g_ns);
	kt_netstack_run_timers(g_ns);
	kt_netstack_flush(g_ns);
	KT_REQUIRE(g_nout == 1 && parse(0, &s));
	cli_send(&c, F_RST, NULL, 0);
	KT_CHECK_INT_EQ(g_closed, 1);
	KT_CHECK_INT_EQ(g_closed_err, -ECONNRESET);
	KT_CHECK_INT_EQ(kt_netstack_next_timeout_ms(g_ns), -1);
	teardown();
}

KT_TEST(udp_dns_and_port_unreachable)
{
	uint8_t b[200];
	size_t n;
	struct seg s;
	static const uint8_t q[] = {0x12, 0x34, 1, 0, 0, 1};
	static const uint8_t r[] = {0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0};

	KT_REQUIRE(setup());
	in(b, mk_udp(b, CLIENT, 5353, DNS_VIP, 53, q, sizeof(q)));
	KT_CHECK_INT_EQ(g_udplen, sizeof(q));
	KT_CHECK_MEM_EQ(g_udp, q, sizeof(q));
	KT_CHECK_INT_EQ(g_udp_src, CLIENT);
	KT_CHECK_INT_EQ(g_udp_sport, 5353);
	KT_CHECK_INT_EQ(g_nout, 0);
	KT_CHECK_INT_EQ(kt_netstack_udp_send(g_ns, DNS_VIP, 53, CLIENT, 5353, r, sizeof(r)), 0);
	KT_REQUIRE(g_nout == 1 && parse(0, &s));
	KT_CHECK_INT_EQ(s.proto, 17);
	KT_CHECK_INT_EQ(s.src, DNS_VIP);
	KT_CHECK_INT_EQ(s.dst, CLIENT);
	KT_CHECK_INT_EQ(get16(s.data), 53);
	KT_CHECK_INT_EQ(get16(s.data + 2), 5353);
	KT_CHECK_INT_EQ(get16(s.data + 4), 8 + sizeof(r));
	KT_CHECK_MEM_EQ(s.data + 8, r, sizeof(r));
	KT_CHECK(s.csum_ok);
	KT_CHECK_INT_EQ(kt_netstack_udp_send(g_ns, VIP(1, 1), 53, CLIENT, 5353, r, 1), -EINVAL);

	/* UDP to another VIP, and to another port of the DNS VIP: ICMP port unreachable (RFC 792:
	 * type 3 code 3, quoting the IP header and the first 8 bytes of the datagram). */
	g_nout = 0;
	n = mk_udp(b, CLIENT, 5354, VIP(5, 5), 53, q, sizeof(q));
	in(b, n);
	KT_REQUIRE(g_nout == 1 && parse(0, &s));
	KT_CHECK_INT_EQ(s.proto, 1);
	KT_CHECK_INT_EQ(s.src, VIP(5, 5));
	KT_CHECK_INT_EQ(s.dst, CLIENT);
	KT_CHECK_INT_EQ(s.data[0], 3);
	KT_CHECK_INT_EQ(s.data[1], 3);
	KT_CHECK(s.csum_ok);
	KT_REQUIRE(s.len >= 8 + 28);
	KT_CHECK_MEM_EQ(s.data + 8 + 12, b + 12, 8); /* the quoted addresses */
	KT_CHECK_MEM_EQ(s.data + 8 + 20, b + 20, 8); /* the quoted UDP header */
	g_nout = 0;
	in(b, mk_udp(b, CLIENT, 5355, DNS_VIP, 5353, q, sizeof(q)));
	KT_REQUIRE(g_nout == 1 && parse(0, &s));
	KT_CHECK_INT_EQ(s.proto, 1);
	KT_CHECK_INT_EQ(s.data[0], 3);
	KT_CHECK_INT_EQ(s.src, DNS_VIP);
	teardown();
}

KT_TEST(icmp_echo_answered_by_any_vip)
{
	uint8_t b[64];
	struct seg s;

	KT_REQUIRE(setup());
	memset(b, 0, sizeof(b));
	b[20] = 8; /* echo request */
	put16(b + 24, 0x4242);
	put16(b + 26, 1);
	memcpy(b + 28, "pingdata", 8);
	finish_ip(b, 36, 1, CLIENT, VIP(33, 44));
	in(b, 36);
	KT_REQUIRE(g_nout == 1 && parse(0, &s));
	KT_CHECK_INT_EQ(s.proto, 1);
	KT_CHECK_INT_EQ(s.src, VIP(33, 44));
	KT_CHECK_INT_EQ(s.data[0], 0); /* echo reply */
	KT_CHECK_MEM_EQ(s.data + 8, "pingdata", 8);
	KT_CHECK(s.csum_ok);
	teardown();
}

KT_TEST(malformed_and_foreign_packets_are_dropped_and_counted)
{
	uint8_t b[100], x[100];
	size_t n;
	struct kt_netstack_stats st;

	KT_REQUIRE(setup());
	n = mk_tcp(b, CLIENT, 1, VIP(5, 5), 80, 1, 0, F_SYN, NULL, 0);
	in(b, 0);
	in(b, 19); /* shorter than an IPv4 header */
	memcpy(x, b, n);
	x[0] = 0x44; /* IHL 4 */
	in(x, n);
	memcpy(x, b, n);
	x[0] = 0x4f; /* IHL 15 = 60 bytes > packet */
	in(x, 30);
	memcpy(x, b, n);
	put16(x + 2, (uint32_t)n + 10); /* total length beyond the data */
	in(x, n);
	memcpy(x, b, n);
	put16(x + 2, 30); /* total length cuts the TCP header */
	in(x, n);
	memcpy(x, b, n);
	x[32] = 0x20; /* data offset 2 */
	in(x, n);
	memcpy(x, b, n);
	x[0] = 0x15; /* version 1 */
	in(x, n);
	kt_netstack_get_stats(g_ns, &st);
	KT_CHECK_INT_EQ(st.rx_malformed, 8);

	memcpy(x, b, n);
	x[0] = 0x60; /* IPv6 */
	in(x, n);
	memcpy(x, b, n);
	put16(x + 6, 0x2000); /* more fragments */
	in(x, n);
	memcpy(x, b, n);
	put16(x + 6, 0x0010); /* fragment offset */
	in(x, n);
	in(b, mk_tcp(b, CLIENT, 1, 0x0A000009u, 80, 1, 0, F_SYN, NULL, 0));   /* outside */
	in(b, mk_tcp(b, CLIENT, 1, VIP(0, 0), 80, 1, 0, F_SYN, NULL, 0));     /* network */
	in(b, mk_tcp(b, CLIENT, 1, VIP(255, 255), 80, 1, 0, F_SYN, NULL, 0)); /* broadcast */
	n = mk_udp(b, CLIENT, 1, DNS_VIP, 53, "x", 1);
	put16(b + 24, 100); /* UDP length beyond the packet */
	in(b, n);
	kt_netstack_get_stats(g_ns, &st);
	KT_CHECK_INT_EQ(st.rx_unsupported, 1);
	KT_CHECK_INT_EQ(st.rx_fragments, 2);
	KT_CHECK_INT_EQ(st.rx_not_ours, 3);
	KT_CHECK_INT_EQ(st.rx_malformed, 9);
	KT_CHECK_INT_EQ(st.rx_packets, 15);
	KT_CHECK_INT_EQ(g_nout, 0);
	KT_CHECK_INT_EQ(g_accepts, 0);
	KT_CHECK_INT_EQ(g_udplen, 0);
	teardown();
}

KT_TEST(connection_limit_refuses)
{
	struct cli c;
	struct seg s;

	KT_REQUIRE(setup_with(1500, 2));
	KT_CHECK(cli_connect(&c, VIP(1, 1), 443, 48000));
	KT_CHECK(cli_connect(&c, VIP(1, 2), 443, 48001));
	g_nout = 0;
	cli_syn(&c, VIP(1, 3), 443, 48002);
	KT_CHECK_INT_EQ(g_accepts, 2); /* not even offered */
	KT_REQUIRE(g_nout == 1 && parse(0, &s));
	KT_CHECK_INT_EQ(s.flags, F_RST | F_ACK);
	teardown();
}

KT_TEST(large_mtu_mss)
{
	struct cli c;
	struct seg s;
	uint8_t b[100];

	KT_REQUIRE(setup_with(16384, 0));
	/* A SYN without an MSS option: lwIP assumes 536 (RFC 1122), so announce a big one. */
	cli_syn(&c, VIP(2, 2), 443, 49000);
	(void)b;
	KT_REQUIRE(g_nout == 1 && parse(0, &s));
	KT_CHECK_INT_EQ(s.mss, 16344);
	teardown();
}

KT_TEST(ten_thousand_vips)
{
	struct cli c;
	struct kt_netstack_stats st;
	int i, ok = 0;
	size_t before = 0, after = 0;

	KT_REQUIRE(setup());
	g_out[0].len = 0;
#if defined(__GLIBC__)
	before = mallinfo2().uordblks;
#endif
	for (i = 0; i < 10000; i++) {
		g_nout = 0;
		if (cli_connect(&c, VIP(1 + i / 200, 1 + i % 200), (uint16_t)(80 + i % 3),
				(uint16_t)(20000 + i)))
			ok++;
	}
#if defined(__GLIBC__)
	after = mallinfo2().uordblks;
#endif
	KT_CHECK_INT_EQ(ok, 10000);
	KT_CHECK_INT_EQ(g_connected, 10000);
	kt_netstack_get_stats(g_ns, &st);
	KT_CHECK_INT_EQ(st.conns_open, 10000);
	if (after > before) {
		/* Idle connections: a pcb and a handle each (ASan's allocator reports 0 here). */
		size_t per = (after - before) / 10000;

		printf("  idle connection: %zu bytes in the netstack\n", per);
		KT_CHECK(per < 2048);
	}
	teardown();
}

KT_TEST_MAIN()
