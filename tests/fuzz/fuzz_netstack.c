/* fuzz_netstack.c: arbitrary packets and owner actions into the netstack.
 *
 * Input: one config byte, then records [kind u8][len u16 big-endian][len bytes]:
 *   0  the bytes as one packet, unchanged
 *   1  the bytes as a packet forced into shape: IPv4, IHL 5, total length = len, no fragment
 *      bits, destination inside 198.19.0.0/16, protocol TCP/UDP/ICMP (checksums are not
 *      verified by the stack, so they are left as they are)
 *   2  a TCP segment from the client of a known connection (or a fixed flow): flags, seq, ack,
 *      window and payload taken from the bytes
 *   3  the clock advances by bytes[0] * 20 ms and timers run
 *   4  an owner action on a known handle: send, recved, shutdown, close, abort, syn_complete
 *   5  a UDP datagram from the DNS VIP (kt_netstack_udp_send)
 * The config byte chooses the accept verdicts (refuse/accept/pending, rotating), whether the
 * owner releases received bytes at once, the MTU (0x40), device offloads (0x80: partial
 * checksums and multi-segment packets, so txbatch.c is fuzzed too) and whether output is
 * flushed after every record or only at the end (0x08). Each input gets a fresh netstack that is
 * freed at the end, so teardown with live connections is fuzzed too. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "netstack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXH 16
static struct kt_tcp *g_h[MAXH];
static struct kt_netstack *g_ns;
static uint64_t g_now;
static uint8_t g_cfg;
static unsigned g_nsyn;

static void forget(struct kt_tcp *h)
{
	for (int i = 0; i < MAXH; i++)
		if (g_h[i] == h)
			g_h[i] = NULL;
}

/* Checks what a device would rely on: the lengths add up, the IP total length is the packet's,
 * and offload metadata points inside the header. A violation aborts (a finding). */
static int out_cb(void *user, const struct iovec *iov, int n, size_t total,
		  const struct kt_tun_offload *off)
{
	size_t sum = 0;

	(void)user;
	for (int i = 0; i < n; i++)
		sum += iov[i].iov_len;
	if (sum != total || n < 1 || n > 101 || total > 65535)
		__builtin_trap();
	if (off) {
		const uint8_t *h = iov[0].iov_base;

		if (!(g_cfg & 0x80) || iov[0].iov_len < off->hdr_len || off->hdr_len < 40 ||
		    off->csum_start + off->csum_offset + 2u > off->hdr_len || h[9] != 6 ||
		    (size_t)(h[2] << 8 | h[3]) != total ||
		    (off->seg_size && total - off->hdr_len <= off->seg_size))
			__builtin_trap();
	}
	return 0;
}

static uint64_t clock_cb(void *user)
{
	(void)user;
	return g_now;
}

static void cb_recv(void *user, struct kt_tcp *h, const uint8_t *d, size_t n)
{
	(void)user;
	(void)d;
	if (g_cfg & 0x10)
		kt_tcp_recved(h, n);
}

static void cb_fin(void *user, struct kt_tcp *h)
{
	(void)user;
	if (g_cfg & 0x20) {
		kt_tcp_close(h);
		forget(h);
	}
}

static void cb_closed(void *user, struct kt_tcp *h, int err)
{
	(void)user;
	(void)err;
	forget(h);
}

static const struct kt_tcp_callbacks g_cbs = {
    .recv = cb_recv,
    .fin = cb_fin,
    .closed = cb_closed,
};

static enum kt_netstack_verdict accept_cb(void *user, struct kt_tcp *h,
					  const struct kt_netstack_flow *f)
{
	unsigned v = (unsigned)(g_cfg & 3) + g_nsyn++;

	(void)user;
	(void)f;
	if (v % 3 == 0)
		return KT_NETSTACK_REFUSE;
	for (int i = 0; i < MAXH; i++) {
		if (!g_h[i]) {
			g_h[i] = h;
			kt_tcp_set_callbacks(h, &g_cbs, NULL);
			return v % 3 == 1 ? KT_NETSTACK_ACCEPT : KT_NETSTACK_PENDING;
		}
	}
	return KT_NETSTACK_REFUSE;
}

static void udp_cb(void *user, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
		   const uint8_t *d, size_t n)
{
	(void)user;
	kt_netstack_udp_send(g_ns, dst, dport, src, sport, d, n);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void tcp_segment(const uint8_t *d, size_t n)
{
	static uint8_t b[2048];
	struct kt_netstack_flow f = {0xC6130505u, 80, 0x0A000002u, 40000};
	size_t pay;

	if (n < 12)
		return;
	for (int i = 0; i < MAXH; i++) {
		struct kt_tcp *h = g_h[(d[0] + i) % MAXH];

		if (h) {
			kt_tcp_get_flow(h, &f);
			break;
		}
	}
	pay = n - 12 > sizeof(b) - 40 ? sizeof(b) - 40 : n - 12;
	memset(b, 0, 40);
	b[0] = 0x45;
	b[2] = (uint8_t)((40 + pay) >> 8);
	b[3] = (uint8_t)(40 + pay);
	b[8] = 64;
	b[9] = 6;
	for (int i = 0; i < 4; i++) {
		b[12 + i] = (uint8_t)(f.src >> (24 - 8 * i));
		b[16 + i] = (uint8_t)(f.vip >> (24 - 8 * i));
	}
	b[20] = (uint8_t)(f.src_port >> 8);
	b[21] = (uint8_t)f.src_port;
	b[22] = (uint8_t)(f.port >> 8);
	b[23] = (uint8_t)f.port;
	memcpy(b + 24, d + 2, 8); /* seq, ack */
	b[32] = 0x50;
	b[33] = d[1];
	b[34] = d[10];
	b[35] = d[11];
	memcpy(b + 40, d + 12, pay);
	kt_netstack_input(g_ns, b, 40 + pay);
}

static void owner_action(const uint8_t *d, size_t n)
{
	static const uint8_t junk[70000];
	struct kt_tcp *h;

	if (n < 3)
		return;
	h = g_h[d[0] % MAXH];
	if (!h)
		return;
	switch (d[1] % 7) {
	case 0:
		kt_tcp_send(h, junk, (size_t)d[2] * 300);
		break;
	case 1:
		kt_tcp_recved(h, (size_t)d[2] * 300);
		break;
	case 2:
		kt_tcp_shutdown_write(h);
		break;
	case 3:
		forget(h);
		kt_tcp_close(h);
		break;
	case 4:
		forget(h);
		kt_tcp_abort(h);
		break;
	case 5:
		if (kt_netstack_syn_complete(h, 1) != 0)
			kt_tcp_send_room(h);
		break;
	case 6:
		if (kt_netstack_syn_complete(h, 0) == 0)
			forget(h);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kt_netstack_config c = {
	    .subnet = 0xC6130000u,
	    .prefix_len = 16,
	    .dns_ip = 0xC6130035u,
	    .mtu = 1500,
	    .max_conns = 12,
	    .output = out_cb,
	    .accept = accept_cb,
	    .udp = udp_cb,
	    .now_ms = clock_cb,
	};
	static uint8_t pkt[65536];
	size_t off = 1;

	if (size < 1)
		return 0;
	g_cfg = data[0];
	if (g_cfg & 0x40)
		c.mtu = 16384;
	if (g_cfg & 0x80)
		c.offload = KT_TUN_CAP_CSUM_PARTIAL | KT_TUN_CAP_TCP_SEGS;
	g_nsyn = 0;
	g_now = 5000;
	memset(g_h, 0, sizeof(g_h));
	g_ns = kt_netstack_new(&c);
	if (!g_ns)
		return 0;
	while (off + 3 <= size) {
		uint8_t kind = data[off];
		size_t len = (size_t)data[off + 1] << 8 | data[off + 2];
		const uint8_t *d = data + off + 3;

		off += 3;
		if (len > size - off)
			len = size - off;
		off += len;
		switch (kind % 6) {
		case 0:
			kt_netstack_input(g_ns, d, len);
			break;
		case 1:
			if (len < 20)
				break;
			memcpy(pkt, d, len);
			pkt[0] = 0x45;
			pkt[2] = (uint8_t)(len >> 8);
			pkt[3] = (uint8_t)len;
			pkt[6] &= 0x40;
			pkt[7] = 0;
			pkt[9] = (uint8_t[]){6, 17, 1}[pkt[9] % 3];
			pkt[16] = 198;
			pkt[17] = 19;
			kt_netstack_input(g_ns, pkt, len);
			break;
		case 2:
			tcp_segment(d, len);
			break;
		case 3:
			g_now += len ? (uint64_t)d[0] * 20 : 250;
			if (kt_netstack_next_timeout_ms(g_ns) == 0)
				kt_netstack_run_timers(g_ns);
			break;
		case 4:
			owner_action(d, len);
			break;
		case 5:
			if (len >= 4)
				kt_netstack_udp_send(g_ns, 0xC6130035u, 53, be32(d), 53, d + 4,
						     len - 4);
			break;
		}
		if (!(g_cfg & 0x08))
			kt_netstack_flush(g_ns);
	}
	kt_netstack_free(g_ns);
	g_ns = NULL;
	return 0;
}
