/* lwipopts.h: kubetun's lwIP 2.1.3 configuration (read by lwip/opt.h, which supplies the defaults).
 *
 * The stack terminates TCP for a local TUN device: the "network" is the kernel on the same
 * machine, so there is no loss except queue overflow, no reordering, no MTU surprises and no
 * corrupted packets. Every option below that differs from lwIP's default says why. Options not
 * named here keep lwIP's default (src/include/lwip/opt.h of 2.1.3).
 *
 * Memory per connection (the target is < 128 KiB per idle connection, everything included):
 *   - lwIP allocates everything with malloc (MEM_LIBC_MALLOC, MEMP_MEM_MALLOC), so nothing is
 *     reserved up front and an idle connection costs only its objects: one struct tcp_pcb
 *     (216 bytes on x86-64) plus netstack.c's struct kt_tcp (~120 bytes), plus malloc overhead.
 *     tests/unit/test_netstack.c measures ~400 bytes per idle connection over 10,000 of them.
 *   - Receive side: in-order data is handed to the owner at once (the recv callback) and its
 *     pbuf freed; the owner keeps at most TCP_WND (64 KiB) of it unforwarded, because the window
 *     only reopens when it calls kt_tcp_recved(). lwIP itself keeps only out-of-order segments,
 *     at most TCP_OOSEQ_MAX_PBUFS (64) pbufs of at most one MTU each and within the window:
 *     < 64 KiB + 64 * ~50 bytes.
 *   - Send side: at most TCP_SND_BUF (256 KiB) of unacknowledged payload, in at most
 *     TCP_SND_QUEUELEN (128) pbufs; with TCP_OVERSIZE 512 each pbuf may carry up to 512 spare
 *     bytes plus ~100 bytes of headers and bookkeeping, so the worst case is
 *     256 KiB + 128 * 612 bytes ~ 333 KiB.
 *   An idle connection has both queues empty (< 1 KiB); a busy one is bounded by ~400 KiB in the
 *   netstack (send queue + out-of-order queue), plus the owner's own buffer of at most TCP_WND
 *   received bytes it has not forwarded yet. */
#ifndef KT_LWIPOPTS_H
#define KT_LWIPOPTS_H

/* ---- system integration ---- */

/* No OS threads, semaphores or mailboxes: one event loop calls into lwIP (raw API only). */
#define NO_SYS 1
/* Nothing to protect: lwIP is only ever entered from the owner's single thread. */
#define SYS_LIGHTWEIGHT_PROT 0
/* LWIP_TIMERS stays 1 (default): lwIP's own timeout list, driven by the owner through
 * kt_netstack_next_timeout_ms()/kt_netstack_run_timers(). The TCP timer in that list is armed
 * only while TCP pcbs are active or in TIME_WAIT (timeouts.c tcp_timer_needed), and with
 * IP_REASSEMBLY, ARP, IGMP, DNS and IPv6 off no other cyclic timer exists, so an idle stack has an
 * empty timer list and the owner makes no wakeups. */

/* ---- memory ---- */

/* Heap memory from the C library's malloc instead of lwIP's fixed MEM_SIZE arena: the number of
 * connections (10,000 and more) and their buffers vary too much for a static arena. */
#define MEM_LIBC_MALLOC 1
/* Pools (pcbs, segments, pbufs) also from malloc: fixed pools sized for 10,000 connections would
 * cost megabytes while idle, and a pool limit would refuse connections we can afford. */
#define MEMP_MEM_MALLOC 1
/* 8-byte alignment for pbuf payloads and structures, right for x86-64 and arm64 (Apple). */
#define MEM_ALIGNMENT 8
/* With MEMP_MEM_MALLOC the MEMP_NUM_* values no longer limit anything; lwIP still uses them in
 * its compile-time sanity checks (init.c), which require MEMP_NUM_TCP_SEG >= TCP_SND_QUEUELEN. */
#define MEMP_NUM_TCP_SEG 1024
/* One listening pcb per TCP port in use (netstack.c creates them on demand); sanity checks only. */
#define MEMP_NUM_TCP_PCB_LISTEN 1024
/* Documentation value only (see MEMP_MEM_MALLOC): the design target is 10,000+ connections. */
#define MEMP_NUM_TCP_PCB 16384

/* ---- protocols ---- */

/* A TUN device carries bare IP packets: no Ethernet framing, no ARP. */
#define LWIP_ARP 0
#define LWIP_ETHERNET 0
/* IPv6 is off for now; netstack.c drops IPv6 packets with a counter. Turning it on later needs
 * LWIP_IPV6 1 here, the core/ipv6 sources in cmake/lwip.cmake, and an IPv6 VIP subnet. */
#define LWIP_IPV6 0
/* Exactly one netif (the TUN); lets lwIP skip netif list walks. */
#define LWIP_SINGLE_NETIF 1
/* Never forward: packets that are not for a VIP are dropped, nothing leaves the tunnel. */
#define IP_FORWARD 0
/* Fragments are dropped (counted in netstack.c) rather than reassembled: the kernel sends TCP
 * with DF and an MSS that fits, and reassembly would need a periodic timer. */
#define IP_REASSEMBLY 0
/* IP_FRAG stays 1 (default): a UDP reply larger than the MTU (a big EDNS0 DNS answer at MTU 1500)
 * can still go out; fragmenting needs no timer. */
/* No raw pcbs: TCP, UDP (DNS) and ICMP (echo, unreachable) are handled by lwIP itself. */
#define LWIP_RAW 0
/* The DNS *server* lives in the daemon; lwIP's DNS client, DHCP, AutoIP and IGMP are not used. */
#define LWIP_DNS 0
#define LWIP_DHCP 0
#define LWIP_AUTOIP 0
#define LWIP_IGMP 0
/* No sequential APIs: the owner's event loop uses the raw API through netstack.c. */
#define LWIP_NETCONN 0
#define LWIP_SOCKET 0
/* Statistics are kept by netstack.c (struct kt_netstack_stats); lwIP's own are not needed. */
#define LWIP_STATS 0
/* Replies from lwIP must never be looped back into lwIP: the netif address is rewritten per
 * input packet (see netstack.c) and must not be treated as a loopback destination. */
#define LWIP_NETIF_LOOPBACK 0
#define LWIP_HAVE_LOOPIF 0

/* ---- checksums ---- */

/* The kernel writes fully checksummed packets into a TUN device (we negotiate no receive
 * offload), so verifying them again is wasted work (hev-socks5-tunnel and go-tun2socks do the
 * same). */
#define CHECKSUM_CHECK_IP 0
#define CHECKSUM_CHECK_UDP 0
#define CHECKSUM_CHECK_TCP 0
#define CHECKSUM_CHECK_ICMP 0
/* Checksum generation per netif: when the device completes TCP checksums (a Linux TUN with
 * IFF_VNET_HDR, netstack.c/txbatch.c), lwIP skips TCP's and keeps the rest; a device without
 * offloads (utun) gets everything computed by lwIP. */
#define LWIP_CHECKSUM_CTRL_PER_NETIF 1
/* Off: with it lwIP sums every byte as tcp_write() copies it, whether or not the netif later
 * wants the sum, and with the offload it never does. Without the offload the sum is computed
 * once per transmission instead (retransmissions are rare on a local TUN). */
#define LWIP_CHECKSUM_ON_COPY 0

/* ---- TCP ---- */

/* The largest MSS lwIP 2.1.3 handles: pbuf lengths, tcp_write() and tcp_sndbuf() are 16-bit and
 * init.c requires TCP_SNDLOWAT < 0xFFFF - 4 * TCP_MSS. 16344 = 16384 - 40 lets a TUN MTU of up
 * to 16384 be used in full; for a smaller MTU lwIP advertises MTU - 40 (netif->mtu, via
 * TCP_CALCULATE_EFF_SEND_MSS). Fewer, larger packets is where TUN throughput comes from
 * (netstack.md section 3: per-packet work is the ceiling). */
#define TCP_MSS 16344
/* Window scaling (RFC 7323): without it lwIP reads the kernel's advertised window as at most
 * 64 KiB and never has more than that in flight towards the app, whatever TCP_SND_BUF says.
 * It also makes tcpwnd_size_t 32-bit, which TCP_SND_BUF > 64 KiB needs. */
#define LWIP_WND_SCALE 1
/* Our own window is not scaled (shift 0): 64 KiB is enough for a local TUN whose RTT is
 * microseconds, and it is also the per-connection bound on received bytes not yet forwarded. */
#define TCP_RCV_SCALE 0
#define TCP_WND 65535
/* 256 KiB of unacknowledged data per connection: four 64 KiB packets in flight (txbatch.c
 * writes up to four 16 KiB segments per packet), so lwIP keeps sending while the kernel's ACKs
 * for the previous ones are on their way back. netstack.c reads pcb->snd_buf directly because
 * tcp_sndbuf() clamps to 16 bits. */
#define TCP_SND_BUF 262144
/* Queue at most 128 pbufs per connection: 16 for a full buffer of MSS-sized segments, and room
 * for small writes, while bounding the per-connection overhead (see the arithmetic above). */
#define TCP_SND_QUEUELEN 128
/* Only the netconn layer reads TCP_SNDLOWAT; it must be overridden because its default
 * (about SND_BUF/2) breaks init.c's TCP_SNDLOWAT < 0xFFFF - 4 * TCP_MSS check at this MSS. */
#define TCP_SNDLOWAT 128
/* Spare bytes tcp_write() may add to a pbuf so later small writes can be appended to it. The
 * default (TCP_MSS = 16 KiB) would let each small write pin 16 KiB; 512 keeps small writes
 * cheap without that memory blow-up. */
#define TCP_OVERSIZE 512
/* TIME_WAIT lasts 2 * TCP_MSL. Its purpose is to absorb delayed duplicates from the network;
 * a local TUN has none, and lwIP (unlike Linux) does not reuse a TIME_WAIT pcb for a new SYN
 * with the same ports, so a long TIME_WAIT would make a reused client port fail to connect.
 * 1 s (2 s TIME_WAIT, and at most 2 s in LAST_ACK) is ample on one machine. */
#define TCP_MSL 1000UL
/* Out-of-order segments kept per connection: at most 64 pbufs (the default is unlimited, so
 * a client sending tiny out-of-order segments could make lwIP hold thousands of pbufs). A local
 * TUN hardly reorders; anything beyond this is dropped and retransmitted. */
#define TCP_OOSEQ_MAX_PBUFS 64
/* No listen backlog limits: netstack.c limits connections itself (config max_conns). */
#define TCP_LISTEN_BACKLOG 0

/* ---- debugging ---- */

/* lwIP's LWIP_ASSERT stays active (see arch/cc.h): an inconsistency aborts loudly instead of
 * corrupting memory. LWIP_DEBUG stays off. */

#endif
