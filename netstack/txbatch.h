/* txbatch.h: what the netstack writes to an offload-capable packet device (internal to
 * netstack/; the owner sees the result through kt_netstack_config.output).
 *
 * It owns the TCP packets lwIP has produced but that are not written yet. With offload on, lwIP
 * leaves every TCP checksum to the device (NETIF_CHECKSUM_GEN_TCP off): each TCP packet goes out
 * with the pseudo-header sum in its checksum field and a struct kt_tun_offload saying so.
 * Consecutive data segments of one connection (the same addresses, ports, ACK and window,
 * contiguous sequence numbers, equal size but for the last) are held and written as one packet
 * of up to 64 KiB that the device treats as several segments; any other packet, or
 * kt_txbatch_flush(), writes the held ones first, so the order on the wire never changes.
 *
 * Held segments stay lwIP's pbufs (a reference is taken, no copy); lwIP does not retransmit a
 * segment whose pbuf is still referenced, which is harmless because the owner flushes before
 * its loop sleeps. */
#ifndef KT_TXBATCH_H
#define KT_TXBATCH_H

#include <stddef.h>
#include <sys/uio.h>

#include "tun_offload.h"

struct pbuf;
struct kt_txbatch;

/* Writes one packet (a failure loses it; TCP retransmits). */
typedef void (*kt_txbatch_emit_fn)(void *arg, const struct iovec *iov, int iovcnt, size_t total_len,
				   const struct kt_tun_offload *off);

/* segments: allow several segments per written packet (KT_TUN_CAP_TCP_SEGS). */
struct kt_txbatch *kt_txbatch_new(kt_txbatch_emit_fn emit, void *arg, int segments);
/* Drops held segments unwritten (their pbuf references are released). NULL is a no-op. */
void kt_txbatch_free(struct kt_txbatch *b);

/* One IPv4 TCP packet from lwIP (IP header onwards, TCP checksum left to the device). p stays
 * the caller's; a held segment takes its own reference. */
void kt_txbatch_tcp(struct kt_txbatch *b, struct pbuf *p);
/* Writes the held segments, if any. */
void kt_txbatch_flush(struct kt_txbatch *b);

#endif
