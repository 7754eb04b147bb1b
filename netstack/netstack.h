/* netstack.h: the userspace TCP/IP stack that terminates every connection to a VIP.
 *
 * The owner (the daemon's event loop, a test, a fuzzer) feeds IP packets read from the packet
 * device into kt_netstack_input() and writes what comes out of the output callback back into
 * it. TCP connections to any address of the VIP subnet, on any port, are offered to the owner
 * SYN by SYN (accept callback), and each accepted one becomes a struct kt_tcp handle with a
 * byte-stream API and flow control in both directions. UDP to the DNS VIP port 53 goes to a
 * callback; UDP to any other VIP is answered with ICMP port unreachable; nothing is forwarded.
 *
 * Built on lwIP 2.1.3 (NO_SYS=1, raw API), but no lwIP type appears here: addresses are IPv4
 * in host byte order (198.19.0.1 is 0xC6130001), ports are host byte order too.
 *
 * Threading: none. Every function must be called from the one thread that owns the netstack,
 * and callbacks run on that thread, from inside kt_netstack_input(), kt_netstack_run_timers()
 * or a kt_tcp_* call. lwIP keeps global state, so at most one netstack exists per process.
 *
 * Timers: after any call into the netstack, the owner re-reads kt_netstack_next_timeout_ms()
 * and arms (or disarms) one timer accordingly; when it fires it calls kt_netstack_run_timers().
 * With no connections the answer is -1 (no timer): an idle stack causes no wakeups.
 *
 * Output is batched: data given to kt_tcp_send() and TCP segments lwIP produces may be held
 * until kt_netstack_flush(), so that one event-loop round's worth of data leaves as few, large
 * packets. The owner calls kt_netstack_flush() before its loop sleeps (after handling each
 * round of events); nothing is ever held past that call.
 *
 * Handle lifecycle (struct kt_tcp): the netstack owns the memory. A handle given to the owner
 * by an ACCEPT or PENDING verdict ends exactly once, by one of: kt_tcp_close(), kt_tcp_abort(),
 * kt_netstack_syn_complete(h, false), or the closed callback (after which the handle is gone).
 * After that the owner must not use the pointer. Calling kt_tcp_close()/kt_tcp_abort() from
 * inside a callback of the same handle is allowed.
 *
 * Per-connection memory bound: received bytes the owner has not yet released with
 * kt_tcp_recved() never exceed KT_NETSTACK_RCV_WINDOW (the TCP window), and bytes queued with
 * kt_tcp_send() but not yet acknowledged never exceed KT_NETSTACK_SND_BUFFER; lwipopts.h has the
 * arithmetic including overheads (< 1 KiB idle, ~350 KiB worst case inside the netstack). */
#ifndef KT_NETSTACK_H
#define KT_NETSTACK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "tun_offload.h"

/* TCP receive window: the most received-but-unreleased bytes a connection can hold. */
#define KT_NETSTACK_RCV_WINDOW 65535u
/* The most bytes kt_tcp_send() can have queued and unacknowledged per connection. */
#define KT_NETSTACK_SND_BUFFER 262144u
/* Largest MTU the stack uses in full (lwIP's MSS ceiling + 40 bytes of IPv4/TCP headers). */
#define KT_NETSTACK_MAX_MTU 16384u

struct kt_netstack;
struct kt_tcp;

/* One TCP connection's addresses, all host byte order. "vip"/"port" is the destination the
 * client connected to (our side); "src"/"src_port" is the client. */
struct kt_netstack_flow {
	uint32_t vip;
	uint16_t port;
	uint32_t src;
	uint16_t src_port;
};

enum kt_netstack_verdict {
	/* Answer the SYN with RST at once: the client's connect() fails with ECONNREFUSED. */
	KT_NETSTACK_REFUSE = 0,
	/* Answer the SYN with SYN-ACK now. */
	KT_NETSTACK_ACCEPT = 1,
	/* Hold the SYN unanswered until kt_netstack_syn_complete() (or pending_timeout_ms). Client
	 * retransmissions of the SYN are absorbed meanwhile. */
	KT_NETSTACK_PENDING = 2,
};

struct kt_netstack_config {
	/* The VIP subnet: every destination inside it is ours. The network and broadcast
	 * addresses of the subnet are never accepted. */
	uint32_t subnet;
	uint8_t prefix_len; /* 8..30 */
	/* The DNS VIP: UDP to dns_ip:53 goes to the udp callback. 0 disables UDP DNS. */
	uint32_t dns_ip;
	/* The packet device's MTU (576..KT_NETSTACK_MAX_MTU; larger values are clamped). */
	uint32_t mtu;
	/* Most simultaneous connections (pending + open); further SYNs are refused. 0: 65536. */
	uint32_t max_conns;
	/* How long a PENDING SYN waits for kt_netstack_syn_complete() before the netstack answers
	 * RST and reports -ETIMEDOUT. 0: 10000 ms. */
	uint32_t pending_timeout_ms;

	/* Opaque pointer handed to every callback below. */
	void *user;

	/* How often idle connections get a liveness probe (a keepalive ACK: the kernel answers
	 * RST for a client that is gone, which ends the connection). 0: 60000 ms. */
	uint32_t probe_interval_ms;

	/* The packet device's KT_TUN_CAP_* (tun_offload.h): what the output callback may be
	 * handed besides complete packets. TCP_SEGS needs CSUM_PARTIAL. 0: complete packets. */
	unsigned offload;

	/* Required. One IP packet to write to the packet device, as iovecs (at most 101) that are
	 * only valid during the call; off is NULL for a complete packet, else (only with
	 * cfg.offload) says what the device must complete. Returns 0, or -errno when the packet
	 * was dropped (TCP retransmits). */
	int (*output)(void *user, const struct iovec *iov, int iovcnt, size_t total_len,
		      const struct kt_tun_offload *off);

	/* Required. A SYN for a flow the netstack does not know. h is the handle the connection
	 * will have: for ACCEPT and PENDING the owner sets its callbacks with
	 * kt_tcp_set_callbacks() before returning. For REFUSE the handle is freed on return. */
	enum kt_netstack_verdict (*accept)(void *user, struct kt_tcp *h,
					   const struct kt_netstack_flow *flow);

	/* Optional. A UDP datagram to dns_ip:53 from src:src_port; data is only valid during the
	 * call. Answer with kt_netstack_udp_send(ns, dns_ip, 53, src, src_port, ...). */
	void (*udp)(void *user, uint32_t src, uint16_t src_port, uint32_t dst, uint16_t dst_port,
		    const uint8_t *data, size_t len);

	/* Optional: a clock in milliseconds (monotonic). Default: CLOCK_MONOTONIC. Tests and the
	 * fuzzer use it to drive timeouts deterministically. */
	uint64_t (*now_ms)(void *user);
};

/* Counters of what the netstack did with packets and SYNs (monotonic since _new). */
struct kt_netstack_stats {
	uint64_t rx_packets; /* packets given to kt_netstack_input() */
	uint64_t
	    rx_malformed; /* dropped: not IP, too short, bad IHL or lengths, bad TCP/UDP header */
	uint64_t rx_unsupported;  /* dropped: IPv6 (not enabled yet) */
	uint64_t rx_fragments;	  /* dropped: IPv4 fragments */
	uint64_t rx_not_ours;	  /* dropped: destination outside the subnet, or its net/bcast */
	uint64_t rx_syn_absorbed; /* SYN retransmissions dropped while PENDING */
	uint64_t syn_accepted;	  /* ACCEPT verdicts and successful syn_complete() */
	uint64_t syn_refused;	  /* RSTs sent for REFUSE, syn_complete(false), limits */
	uint64_t syn_pending;	  /* PENDING verdicts */
	uint64_t syn_timeouts;	  /* PENDING or half-open connections that timed out */
	uint64_t tx_packets;	  /* packets handed to the output callback */
	uint64_t tx_errors;	  /* output callback failures */
	uint64_t probes_sent;	  /* liveness probes to idle connections (one a minute each) */
	uint64_t conns_open;	  /* handles alive right now (gauge) */
};

/* Creates the netstack. Returns NULL if cfg is invalid, memory is short, or a netstack
 * already exists in this process. */
struct kt_netstack *kt_netstack_new(const struct kt_netstack_config *cfg);
/* Aborts every connection (RST to each client, no callbacks) and frees everything.
 * NULL is a no-op. */
void kt_netstack_free(struct kt_netstack *ns);

/* One IP packet read from the packet device. Malformed or foreign packets are dropped and
 * counted; this never fails. Not to be called from inside a netstack callback (lwIP cannot be
 * re-entered); the owner's loop feeds packets only from its own event handlers. */
void kt_netstack_input(struct kt_netstack *ns, const uint8_t *pkt, size_t len);

/* Writes everything held for batching (see the file comment). Not from inside a callback. */
void kt_netstack_flush(struct kt_netstack *ns);

/* Milliseconds until kt_netstack_run_timers() should run: 0 = now, -1 = no timer needed. */
int64_t kt_netstack_next_timeout_ms(struct kt_netstack *ns);
/* Runs every timer that is due (TCP retransmissions, delayed ACKs, pending SYN timeouts). */
void kt_netstack_run_timers(struct kt_netstack *ns);

/* Answers a PENDING SYN: ok sends the SYN-ACK (the handshake then completes as for ACCEPT);
 * !ok answers RST and ends the handle (no callback). Returns 0, or -EINVAL when h is not
 * pending. */
int kt_netstack_syn_complete(struct kt_tcp *h, int ok);

/* Sends one UDP datagram from src:src_port (which must be dns_ip:53, the only UDP service) to
 * dst:dst_port. Returns 0 or -errno (-EINVAL, -EMSGSIZE over 65507 bytes, -ENOMEM). */
int kt_netstack_udp_send(struct kt_netstack *ns, uint32_t src, uint16_t src_port, uint32_t dst,
			 uint16_t dst_port, const uint8_t *data, size_t len);

void kt_netstack_get_stats(const struct kt_netstack *ns, struct kt_netstack_stats *out);

/* ---- one TCP connection ---- */

struct kt_tcp_callbacks {
	/* The three-way handshake completed: kt_tcp_send() may be used from now on. */
	void (*connected)(void *user, struct kt_tcp *h);
	/* Bytes from the client, valid only during the call. The owner takes them (copies or
	 * forwards them) and calls kt_tcp_recved(h, n) once they have left its hands; until then
	 * they count against the window and the client is slowed down. */
	void (*recv)(void *user, struct kt_tcp *h, const uint8_t *data, size_t len);
	/* The client sent FIN: no more recv calls. The handle stays usable for sending. */
	void (*fin)(void *user, struct kt_tcp *h);
	/* `acked` bytes were acknowledged: kt_tcp_send_room() grew. */
	void (*sent)(void *user, struct kt_tcp *h, size_t acked);
	/* The connection ended without kt_tcp_close/abort: err is 0 when both directions finished
	 * cleanly (kt_tcp_shutdown_write() was called and the client's FIN arrived, in either
	 * order; it follows the fin callback), -ECONNRESET on a client RST, -ETIMEDOUT when a
	 * handshake, a pending SYN or a retransmission timed out, -ECONNABORTED otherwise. The
	 * handle is freed on return. */
	void (*closed)(void *user, struct kt_tcp *h, int err);
};

/* Sets the callbacks (the struct is copied) and the user pointer handed to them. */
void kt_tcp_set_callbacks(struct kt_tcp *h, const struct kt_tcp_callbacks *cb, void *user);
void kt_tcp_get_flow(const struct kt_tcp *h, struct kt_netstack_flow *out);

/* Bytes kt_tcp_send() accepts right now (0 before `connected`, after shutdown_write, or while
 * the send queue is full). */
size_t kt_tcp_send_room(const struct kt_tcp *h);
/* Copies up to len bytes into the send queue; they leave by kt_netstack_flush(). Returns the number
 * of bytes taken (0 when there is no room: wait for the sent callback), or -ENOTCONN before
 * connected, -EPIPE after shutdown_write or close. */
ssize_t kt_tcp_send(struct kt_tcp *h, const void *data, size_t len);
/* The owner has forwarded n more of the received bytes: reopens the window by n. */
void kt_tcp_recved(struct kt_tcp *h, size_t n);
/* Sends FIN after the queued data (half close); receiving continues. Returns 0 or -errno. */
int kt_tcp_shutdown_write(struct kt_tcp *h);
/* Ends the owner's use of h: queued data is still delivered, then FIN. If received bytes are
 * still unreleased (not kt_tcp_recved), the client gets RST instead, as with close() on a
 * socket with unread data. No callback follows. */
void kt_tcp_close(struct kt_tcp *h);
/* Resets the connection (RST to the client) and ends h. No callback follows. */
void kt_tcp_abort(struct kt_tcp *h);

#endif
