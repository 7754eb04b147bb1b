/* txbatch.c: held TCP segments between lwIP's output and the packet device (txbatch.h).
 *
 * Why: with a TUN device every written packet costs a system call and a pass through the
 * kernel's receive path, and the checksum of every byte costs more than the copy. The kernel
 * takes a TCP packet with a partial checksum and several segments behind one header (the
 * virtio-net header of a TUN; local delivery then needs no checksum at all), so lwIP's 16 KiB
 * segments leave as 64 KiB packets without a checksum pass over their payload. */
#include "txbatch.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lwip/pbuf.h"

#define TCPF_FIN 0x01
#define TCPF_SYN 0x02
#define TCPF_RST 0x04
#define TCPF_PSH 0x08
#define TCPF_ACK 0x10
#define TCPF_URG 0x20

/* IPv4 header (at most 60 bytes) + TCP header (at most 60 bytes). */
#define MAX_HDR 120
/* Payload iovecs of one written packet; the device's own limit is KT_TUN_MAX_IOV - 1. */
#define MAX_PAYLOAD_IOV 100
/* An IPv4 packet's total length is a 16-bit field. */
#define MAX_PACKET 65535u

struct kt_txbatch {
	kt_txbatch_emit_fn emit;
	void *arg;
	bool segments;

	/* The held packet: the first segment's headers, then each segment's payload. */
	uint8_t hdr[MAX_HDR];
	size_t ihl, hdr_len;
	size_t payload_len;  /* all held segments */
	size_t seg_size;     /* the first segment's payload length */
	size_t last_len;     /* the latest segment's payload length */
	uint32_t next_seq;   /* sequence number right after the held payload */
	uint8_t flags_union; /* TCP flags of all held segments (PSH may come late) */
	struct pbuf *held[MAX_PAYLOAD_IOV];
	unsigned nheld;
	struct iovec iov[1 + MAX_PAYLOAD_IOV];
	int niov; /* iov[0] is the header */
};

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* One's-complement sum of 16-bit big-endian words (RFC 1071), not folded. */
static uint32_t sum16(uint32_t sum, const uint8_t *p, size_t n)
{
	for (; n > 1; p += 2, n -= 2)
		sum += rd16(p);
	if (n)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* Makes hdr (IPv4 + TCP, ihl given) a header for tcp_len bytes of TCP: total length and IP
 * checksum, and the TCP checksum field holding the folded pseudo-header sum (RFC 793 3.1) that
 * the device completes over the TCP header and payload. */
static void finish_header(uint8_t *hdr, size_t ihl, size_t tcp_len)
{
	uint8_t *th = hdr + ihl;
	uint32_t sum;

	wr16(hdr + 2, (uint16_t)(ihl + tcp_len));
	wr16(hdr + 10, 0);
	wr16(hdr + 10, (uint16_t)~fold(sum16(0, hdr, ihl)));
	sum = sum16(0, hdr + 12, 8) + hdr[9] + (uint32_t)tcp_len;
	wr16(th + 16, fold(sum));
}

/* Appends iovecs for p's bytes from offset on. Returns false (nothing appended) if more than
 * max would be needed. */
static bool add_iov(struct iovec *iov, int *n, int max, struct pbuf *p, size_t offset)
{
	int k = *n;

	for (; p; p = p->next) {
		if (offset >= p->len) {
			offset -= p->len;
			continue;
		}
		if (k == max)
			return false;
		iov[k].iov_base = (uint8_t *)p->payload + offset;
		iov[k].iov_len = p->len - offset;
		k++;
		offset = 0;
	}
	*n = k;
	return true;
}

static void release(struct kt_txbatch *b)
{
	for (unsigned i = 0; i < b->nheld; i++)
		pbuf_free(b->held[i]);
	b->nheld = 0;
	b->niov = 0;
	b->payload_len = 0;
}

void kt_txbatch_flush(struct kt_txbatch *b)
{
	struct kt_tun_offload off;
	uint8_t *th = b->hdr + b->ihl;

	if (!b->nheld)
		return;
	th[13] = b->flags_union;
	finish_header(b->hdr, b->ihl, b->hdr_len - b->ihl + b->payload_len);
	off.csum_start = (uint16_t)b->ihl;
	off.csum_offset = 16;
	off.hdr_len = (uint16_t)b->hdr_len;
	/* One segment is an ordinary packet; only a real batch is marked as segments. */
	off.seg_size = b->payload_len > b->seg_size ? (uint16_t)b->seg_size : 0;
	b->iov[0].iov_base = b->hdr;
	b->iov[0].iov_len = b->hdr_len;
	b->emit(b->arg, b->iov, b->niov, b->hdr_len + b->payload_len, &off);
	release(b);
}

/* Can a data segment with header h (ihl, hdr_len) and len payload bytes join the held ones? */
static bool joins(const struct kt_txbatch *b, const uint8_t *h, size_t ihl, size_t hdr_len,
		  size_t len)
{
	const uint8_t *th = h + ihl, *hth = b->hdr + b->ihl;

	if (!b->segments || !b->nheld || ihl != b->ihl || hdr_len != b->hdr_len)
		return false;
	/* Every segment but the last carries exactly seg_size bytes: the receiver cuts the
	 * packet back into segments of that size. */
	if (b->last_len != b->seg_size || len > b->seg_size)
		return false;
	if (hdr_len + b->payload_len + len > MAX_PACKET)
		return false;
	if (memcmp(h + 12, b->hdr + 12, 8) != 0 || h[9] != b->hdr[9] || h[1] != b->hdr[1] ||
	    h[8] != b->hdr[8])
		return false;
	/* Ports, then everything after the sequence number except the flags' PSH bit and the
	 * checksum: ACK number, header length, window, urgent pointer, options. */
	if (memcmp(th, hth, 4) != 0 || rd32(th + 4) != b->next_seq ||
	    memcmp(th + 8, hth + 8, 5) != 0 || (th[13] & ~TCPF_PSH) != (hth[13] & ~TCPF_PSH) ||
	    memcmp(th + 14, hth + 14, 2) != 0 || memcmp(th + 18, hth + 18, hdr_len - ihl - 18) != 0)
		return false;
	return true;
}

void kt_txbatch_tcp(struct kt_txbatch *b, struct pbuf *p)
{
	uint8_t h[MAX_HDR];
	size_t got, ihl, thl, hdr_len, len;
	uint8_t flags;

	got = pbuf_copy_partial(p, h, sizeof(h), 0);
	if (got < 40)
		return; /* lwIP never builds these; nothing sensible to write */
	ihl = (size_t)(h[0] & 15) * 4;
	thl = ihl + 20 <= got ? (size_t)(h[ihl + 12] >> 4) * 4 : 0;
	hdr_len = ihl + thl;
	if (ihl < 20 || thl < 20 || hdr_len > got || hdr_len > p->tot_len)
		return;
	len = p->tot_len - hdr_len;
	flags = h[ihl + 13];

	if (len && (flags & (TCPF_SYN | TCPF_FIN | TCPF_RST | TCPF_URG)) == 0 &&
	    (flags & TCPF_ACK)) {
		int n;

		if (joins(b, h, ihl, hdr_len, len)) {
			n = b->niov;
			if (add_iov(b->iov, &n, 1 + MAX_PAYLOAD_IOV, p, hdr_len) &&
			    b->nheld < MAX_PAYLOAD_IOV) {
				pbuf_ref(p);
				b->held[b->nheld++] = p;
				b->niov = n;
				b->payload_len += len;
				b->last_len = len;
				b->next_seq += (uint32_t)len;
				b->flags_union |= flags;
				return;
			}
		}
		kt_txbatch_flush(b);
		n = 1;
		if (add_iov(b->iov, &n, 1 + MAX_PAYLOAD_IOV, p, hdr_len)) {
			memcpy(b->hdr, h, hdr_len);
			b->ihl = ihl;
			b->hdr_len = hdr_len;
			pbuf_ref(p);
			b->held[0] = p;
			b->nheld = 1;
			b->niov = n;
			b->payload_len = len;
			b->seg_size = len;
			b->last_len = len;
			b->next_seq = rd32(h + ihl + 4) + (uint32_t)len;
			b->flags_union = flags;
			return;
		}
		/* A chain too long for the iovecs (many tiny writes): written flat below. */
	}

	/* Not a data segment that can be held (or a flat one): the held ones go first. */
	kt_txbatch_flush(b);
	{
		struct kt_tun_offload off = {.csum_start = (uint16_t)ihl,
					     .csum_offset = 16,
					     .hdr_len = (uint16_t)hdr_len,
					     .seg_size = 0};
		struct iovec iov[1 + MAX_PAYLOAD_IOV];
		int n = 1;
		uint8_t *flat = NULL;

		finish_header(h, ihl, p->tot_len - ihl);
		iov[0].iov_base = h;
		iov[0].iov_len = hdr_len;
		if (!add_iov(iov, &n, 1 + MAX_PAYLOAD_IOV, p, hdr_len)) {
			flat = malloc(len);
			if (!flat)
				return; /* lost; TCP retransmits */
			pbuf_copy_partial(p, flat, (u16_t)len, (u16_t)hdr_len);
			iov[1].iov_base = flat;
			iov[1].iov_len = len;
			n = 2;
		}
		b->emit(b->arg, iov, n, p->tot_len, &off);
		free(flat);
	}
}

struct kt_txbatch *kt_txbatch_new(kt_txbatch_emit_fn emit, void *arg, int segments)
{
	struct kt_txbatch *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->emit = emit;
	b->arg = arg;
	b->segments = segments != 0;
	return b;
}

void kt_txbatch_free(struct kt_txbatch *b)
{
	if (!b)
		return;
	release(b);
	free(b);
}
