/* tun.h: the packet device, platform-neutral. One struct kt_tun is one point-to-point device
 * that carries bare IP packets between the kernel and us, with the VIP subnet routed into it.
 *
 * The owner's event loop polls kt_tun_fd() for readability, drains packets with kt_tun_read()
 * until -EAGAIN, and writes packets with kt_tun_write() (one packet per call, as iovecs so a
 * pbuf chain goes out with one writev). The fd is non-blocking and close-on-exec.
 *
 * Offloads (kt_tun_caps()): where the device can take them, a written TCP packet may carry a
 * partial checksum that the kernel completes only if it ever needs one (local delivery does
 * not), and may carry several TCP segments at once that the kernel treats as one large received
 * segment (as if its own receive offload had merged them). Both save per-byte and per-packet work
 * on the path that limits the tunnel's throughput (../docs/ARCHITECTURE.md, "Netstack").
 *
 * Backends:
 *   - tun_linux.c: /dev/net/tun with IFF_TUN|IFF_NO_PI|IFF_VNET_HDR (both offloads; without
 *     IFF_VNET_HDR, on very old kernels, none). The process itself sets the address, MTU, link
 *     state and the subnet route over rtnetlink (no external commands); kt_tun_close() removes
 *     the route and the device.
 *   - tun_darwin.c (not written yet): a utun control socket (PF_SYSTEM/SYSPROTO_CONTROL,
 *     "com.apple.net.utun_control"). utun frames every packet with a 4-byte address family in
 *     network byte order; that backend adds it in kt_tun_write() (from the IP version nibble)
 *     and strips it in kt_tun_read(), so callers always see bare IP packets. Address and MTU via
 *     SIOCAIFADDR/SIOCSIFMTU, the route via a PF_ROUTE socket.
 *   - Inside a NEPacketTunnelProvider there is no device to open: the Swift side owns
 *     packetFlow (or finds the utun fd after setTunnelNetworkSettings). It then either hands the
 *     fd to a backend constructor that adopts an existing fd (the same read/write contract as
 *     above, nothing configured, nothing removed on close), or calls kt_netstack_input() with
 *     each packet from readPackets and receives output through the netstack's output callback,
 *     which calls writePackets. Both paths keep this interface unchanged for the core.
 *
 * Errors: kt_tun_open() returns NULL and writes one clear line (no trailing newline) into err:
 * not permitted, subnet overlapping an existing route, or the failing step with strerror. */
#ifndef KT_TUN_H
#define KT_TUN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "tun_offload.h"

struct kt_tun;

struct kt_tun_config {
	/* Interface name, or a pattern with "%d" for the kernel to number; NULL: "kt%d". */
	const char *name;
	/* The host's own address on the device (host byte order), e.g. 198.19.0.1: applications
	 * connecting to a VIP use it as their source address. It is assigned as a /32. 0: none. */
	uint32_t local;
	/* The subnet routed into the device (host byte order). */
	uint32_t subnet;
	uint8_t prefix_len; /* 8..32 */
	/* Device MTU, 576..65535. */
	uint32_t mtu;
};

/* Creates and configures the device. Returns NULL with a message in err on failure; nothing is
 * left behind (device and route are removed again). */
struct kt_tun *kt_tun_open(const struct kt_tun_config *cfg, char *err, size_t errlen);
/* Removes the route, destroys the device, frees t. NULL is a no-op. */
void kt_tun_close(struct kt_tun *t);

int kt_tun_fd(const struct kt_tun *t);
const char *kt_tun_name(const struct kt_tun *t);
uint32_t kt_tun_mtu(const struct kt_tun *t);

/* Reads one packet into buf (cap must exceed the MTU). Returns its length, -EAGAIN when no
 * packet is waiting, -EMSGSIZE if it was truncated (dropped), or another -errno. */
ssize_t kt_tun_read(struct kt_tun *t, uint8_t *buf, size_t cap);
/* What kt_tun_write() may be asked to do besides writing a complete packet: KT_TUN_CAP_*
 * (tun_offload.h). */
unsigned kt_tun_caps(const struct kt_tun *t);

/* Most iovecs kt_tun_write() takes. */
#define KT_TUN_MAX_IOV 128

/* Writes one packet given as iovecs; off is NULL for a complete packet and needs the matching
 * capability otherwise. Returns 0 or -errno (-EAGAIN: device queue full; -EINVAL: too many
 * iovecs or an offload the device cannot do). */
int kt_tun_write(struct kt_tun *t, const struct iovec *iov, int iovcnt,
		 const struct kt_tun_offload *off);

/* Checks the system routing table for a route overlapping subnet/prefix_len (the default route
 * excepted). Returns 0 when there is none, -EEXIST with a message naming the route when there is
 * one, or another -errno. kt_tun_open() does this before it creates anything. */
int kt_tun_check_subnet(uint32_t subnet, uint8_t prefix_len, char *err, size_t errlen);

#endif
