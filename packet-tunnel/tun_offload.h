/* tun_offload.h: how a packet written to the packet device may be incomplete (transmit
 * offloads). Separate from tun.h because the netstack produces such packets without knowing
 * the device: the owner hands them from the netstack's output callback to kt_tun_write(), or,
 * in a NEPacketTunnelProvider, completes them itself. */
#ifndef KT_TUN_OFFLOAD_H
#define KT_TUN_OFFLOAD_H

#include <stdint.h>

/* What a packet device can be asked to do besides writing a complete packet. */
enum {
	KT_TUN_CAP_CSUM_PARTIAL = 1, /* struct kt_tun_offload with csum_* */
	KT_TUN_CAP_TCP_SEGS = 2,     /* ... and seg_size > 0 */
};

/* How a written packet is incomplete. Only for IPv4 TCP packets. */
struct kt_tun_offload {
	/* The TCP checksum field (at csum_start + csum_offset) holds the folded, uncomplemented
	 * sum of the pseudo header; the checksum over csum_start..end is still to be added. */
	uint16_t csum_start;
	uint16_t csum_offset;
	/* IP + TCP header length. */
	uint16_t hdr_len;
	/* 0: one segment. Otherwise the packet carries consecutive segments of seg_size payload
	 * bytes each (the last may be shorter) behind one header whose IP total length covers
	 * them all (at most 65535 bytes). */
	uint16_t seg_size;
};

#endif
