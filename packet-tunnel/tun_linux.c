/* tun_linux.c: the Linux backend of tun.h: /dev/net/tun (IFF_TUN|IFF_NO_PI|IFF_VNET_HDR)
 * configured over rtnetlink by the process itself.
 *
 * IFF_VNET_HDR puts a struct virtio_net_hdr (10 bytes, host byte order: we never set
 * TUNSETVNETLE/BE) in front of every packet in both directions. Writing, it carries the
 * offloads of tun.h (VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4); reading, we ask for
 * no offload (no TUNSETOFFLOAD), so the kernel hands us complete, unsegmented packets and the
 * header only says so. The kernel accepts these headers on writes without any offload being
 * negotiated: that is how a virtual machine's transmit offloads reach the host.
 *
 * Order in kt_tun_open(): check the routing table for an overlapping route (nothing created
 * yet), create the device, set MTU, add the /32 address, set the link up, add the subnet route.
 * Any failure undoes what was done; closing the device fd destroys a non-persistent device and
 * with it its address, but the route is removed explicitly first so nothing depends on that.
 *
 * Netlink replies are parsed with explicit length checks (no NLMSG_OK/RTA_OK casts): every
 * header and attribute is copied out with memcpy after checking it lies inside the datagram.
 * Ownership: struct kt_tun owns the device fd; netlink sockets live only inside one call. */
#include "tun.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

struct kt_tun {
	int fd;
	int ifindex;
	char name[IFNAMSIZ];
	uint32_t local, subnet, mtu;
	uint8_t prefix_len;
	bool route_added;
	bool vnet_hdr; /* every packet has a struct virtio_net_hdr in front */
};

/* A netlink request: header, one fixed struct, attributes. 512 bytes is plenty for ours. */
struct nlreq {
	struct nlmsghdr hdr;
	uint8_t body[512];
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void fmt_ip(uint32_t host, char out[INET_ADDRSTRLEN])
{
	struct in_addr a = {.s_addr = htonl(host)};

	if (!inet_ntop(AF_INET, &a, out, INET_ADDRSTRLEN))
		snprintf(out, INET_ADDRSTRLEN, "?");
}

static uint32_t prefix_mask(uint8_t len)
{
	return len == 0 ? 0 : 0xffffffffu << (32 - len);
}

/* ---- netlink plumbing ---- */

static void nl_init(struct nlreq *r, uint16_t type, uint16_t flags, const void *fixed,
		    size_t fixed_len)
{
	memset(r, 0, sizeof(*r));
	r->hdr.nlmsg_len = (uint32_t)NLMSG_LENGTH(fixed_len);
	r->hdr.nlmsg_type = type;
	r->hdr.nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
	r->hdr.nlmsg_seq = 1;
	memcpy(r->body, fixed, fixed_len);
}

static int nl_attr(struct nlreq *r, uint16_t type, const void *data, size_t len)
{
	size_t off = NLMSG_ALIGN(r->hdr.nlmsg_len);
	struct rtattr a;

	if (off + RTA_LENGTH(len) > sizeof(*r))
		return -ENOBUFS;
	a.rta_type = type;
	a.rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy((uint8_t *)r + off, &a, sizeof(a));
	memcpy((uint8_t *)r + off + RTA_LENGTH(0), data, len);
	r->hdr.nlmsg_len = (uint32_t)(off + RTA_ALIGN(RTA_LENGTH(len)));
	return 0;
}

static int nl_open(void)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

/* Sends a request with NLM_F_ACK and returns the kernel's answer: 0 or -errno. */
static int nl_talk(struct nlreq *r)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	uint8_t buf[4096];
	int fd, rc = -EIO;
	ssize_t n;

	fd = nl_open();
	if (fd < 0)
		return fd;
	r->hdr.nlmsg_flags |= NLM_F_ACK;
	if (sendto(fd, r, r->hdr.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		goto out;
	}
	for (;;) {
		size_t off = 0;

		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto out;
		}
		while (off + sizeof(struct nlmsghdr) <= (size_t)n) {
			struct nlmsghdr h;

			memcpy(&h, buf + off, sizeof(h));
			if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > (size_t)n - off)
				goto out;
			if (h.nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr e;

				if (h.nlmsg_len < NLMSG_LENGTH(sizeof(e)))
					goto out;
				memcpy(&e, buf + off + NLMSG_HDRLEN, sizeof(e));
				rc = e.error; /* 0 is the ACK, otherwise -errno */
				goto out;
			}
			off += NLMSG_ALIGN(h.nlmsg_len);
		}
	}
out:
	close(fd);
	return rc;
}

/* ---- routing table check ---- */

struct route_info {
	uint32_t dst;
	uint8_t dst_len;
	int oif;
	uint32_t table;
};

/* Parses one RTM_NEWROUTE message body (after the nlmsghdr). Returns false if not IPv4. */
static bool parse_route(const uint8_t *p, size_t len, struct route_info *ri)
{
	struct rtmsg rt;
	size_t off;

	if (len < sizeof(rt))
		return false;
	memcpy(&rt, p, sizeof(rt));
	if (rt.rtm_family != AF_INET)
		return false;
	memset(ri, 0, sizeof(*ri));
	ri->dst_len = rt.rtm_dst_len;
	ri->table = rt.rtm_table;
	off = NLMSG_ALIGN(sizeof(rt));
	while (off + sizeof(struct rtattr) <= len) {
		struct rtattr a;
		size_t alen;

		memcpy(&a, p + off, sizeof(a));
		if (a.rta_len < sizeof(a) || a.rta_len > len - off)
			break;
		alen = a.rta_len - RTA_LENGTH(0);
		if (a.rta_type == RTA_DST && alen == 4) {
			uint32_t v;

			memcpy(&v, p + off + RTA_LENGTH(0), 4);
			ri->dst = ntohl(v);
		} else if (a.rta_type == RTA_OIF && alen == 4) {
			memcpy(&ri->oif, p + off + RTA_LENGTH(0), 4);
		} else if (a.rta_type == RTA_TABLE && alen == 4) {
			memcpy(&ri->table, p + off + RTA_LENGTH(0), 4);
		}
		off += RTA_ALIGN(a.rta_len);
	}
	return true;
}

int kt_tun_check_subnet(uint32_t subnet, uint8_t prefix_len, char *err, size_t errlen)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	struct rtmsg rt = {.rtm_family = AF_INET};
	struct nlreq r;
	uint8_t buf[16384];
	int fd, rc = 0;
	bool done = false;

	fd = nl_open();
	if (fd < 0) {
		seterr(err, errlen, "cannot open a netlink socket: %s", strerror(-fd));
		return fd;
	}
	nl_init(&r, RTM_GETROUTE, NLM_F_DUMP, &rt, sizeof(rt));
	if (sendto(fd, &r, r.hdr.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		seterr(err, errlen, "cannot read the routing table: %s", strerror(errno));
		goto out;
	}
	while (!done) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		size_t off = 0;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			seterr(err, errlen, "cannot read the routing table: %s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		while (off + sizeof(struct nlmsghdr) <= (size_t)n) {
			struct nlmsghdr h;
			struct route_info ri;

			memcpy(&h, buf + off, sizeof(h));
			if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > (size_t)n - off) {
				rc = -EIO;
				seterr(err, errlen,
				       "cannot read the routing table: bad netlink reply");
				goto out;
			}
			if (h.nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			if (h.nlmsg_type == NLMSG_ERROR) {
				rc = -EIO;
				seterr(err, errlen, "cannot read the routing table: netlink error");
				goto out;
			}
			if (h.nlmsg_type == RTM_NEWROUTE && rc == 0 &&
			    parse_route(buf + off + NLMSG_HDRLEN, h.nlmsg_len - NLMSG_HDRLEN,
					&ri) &&
			    ri.dst_len > 0) {
				/* Two prefixes overlap when the shorter one contains the other. */
				uint8_t l = ri.dst_len < prefix_len ? ri.dst_len : prefix_len;
				uint32_t m = prefix_mask(l);

				if ((ri.dst & m) == (subnet & m)) {
					char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
					char ifn[IF_NAMESIZE] = "?";

					if (ri.oif)
						if_indextoname((unsigned)ri.oif, ifn);
					fmt_ip(subnet & prefix_mask(prefix_len), a);
					fmt_ip(ri.dst, b);
					seterr(err, errlen,
					       "subnet %s/%u overlaps the existing route %s/%u "
					       "(dev %s, table %u); choose another subnet",
					       a, prefix_len, b, ri.dst_len, ifn, ri.table);
					rc = -EEXIST; /* keep reading to drain the dump */
				}
			}
			off += NLMSG_ALIGN(h.nlmsg_len);
		}
	}
out:
	close(fd);
	return rc;
}

/* ---- device configuration ---- */

/* Packets the kernel queues for us to read. The default (500) overflows when hundreds of apps'
 * connections end at once (each FIN or RST is a packet), and a lost RST is never sent again:
 * the connection would then stay open on our side until the netstack's liveness probe
 * (netstack.c) finds it. Set with the MTU, before the link is up, because the queueing
 * discipline takes its limit when the link comes up. */
#define TUN_TXQLEN 8192u

static int set_link(int ifindex, uint32_t mtu, bool up)
{
	struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = ifindex};
	struct nlreq r;
	uint32_t txqlen = TUN_TXQLEN;

	if (up) {
		ifi.ifi_flags = IFF_UP;
		ifi.ifi_change = IFF_UP;
	}
	nl_init(&r, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
	if (mtu && (nl_attr(&r, IFLA_MTU, &mtu, sizeof(mtu)) != 0 ||
		    nl_attr(&r, IFLA_TXQLEN, &txqlen, sizeof(txqlen)) != 0))
		return -ENOBUFS;
	return nl_talk(&r);
}

static int add_addr(int ifindex, uint32_t local)
{
	struct ifaddrmsg ifa = {.ifa_family = AF_INET,
				.ifa_prefixlen = 32,
				.ifa_scope = RT_SCOPE_UNIVERSE,
				.ifa_index = (unsigned)ifindex};
	uint32_t a = htonl(local);
	struct nlreq r;

	nl_init(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa, sizeof(ifa));
	if (nl_attr(&r, IFA_LOCAL, &a, 4) || nl_attr(&r, IFA_ADDRESS, &a, 4))
		return -ENOBUFS;
	return nl_talk(&r);
}

static int route(const struct kt_tun *t, bool add)
{
	struct rtmsg rt = {.rtm_family = AF_INET,
			   .rtm_dst_len = t->prefix_len,
			   .rtm_table = RT_TABLE_MAIN,
			   .rtm_protocol = RTPROT_STATIC,
			   .rtm_scope = RT_SCOPE_LINK,
			   .rtm_type = RTN_UNICAST};
	uint32_t dst = htonl(t->subnet), src = htonl(t->local);
	int oif = t->ifindex;
	struct nlreq r;

	nl_init(&r, add ? RTM_NEWROUTE : RTM_DELROUTE, add ? NLM_F_CREATE | NLM_F_EXCL : 0, &rt,
		sizeof(rt));
	if (nl_attr(&r, RTA_DST, &dst, 4) || nl_attr(&r, RTA_OIF, &oif, 4))
		return -ENOBUFS;
	/* Applications reaching a VIP use the device's own address as source. */
	if (add && t->local && nl_attr(&r, RTA_PREFSRC, &src, 4))
		return -ENOBUFS;
	return nl_talk(&r);
}

struct kt_tun *kt_tun_open(const struct kt_tun_config *cfg, char *err, size_t errlen)
{
	struct kt_tun *t;
	struct ifreq ifr;
	const char *name = cfg && cfg->name ? cfg->name : "kt%d";
	char sub[INET_ADDRSTRLEN];
	int rc;

	if (!cfg || cfg->prefix_len < 8 || cfg->prefix_len > 32 || cfg->mtu < 576 ||
	    cfg->mtu > 65535 || strlen(name) >= IFNAMSIZ || !name[0]) {
		seterr(err, errlen,
		       "invalid TUN configuration (name, subnet prefix 8..32, MTU "
		       "576..65535)");
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		seterr(err, errlen, "out of memory");
		return NULL;
	}
	t->fd = -1;
	t->subnet = cfg->subnet & prefix_mask(cfg->prefix_len);
	t->prefix_len = cfg->prefix_len;
	t->local = cfg->local;
	t->mtu = cfg->mtu;
	fmt_ip(t->subnet, sub);

	if (kt_tun_check_subnet(t->subnet, t->prefix_len, err, errlen) != 0)
		goto fail;

	t->fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (t->fd < 0) {
		if (errno == EPERM || errno == EACCES)
			seterr(err, errlen,
			       "not permitted to open /dev/net/tun: %s (needs root or "
			       "CAP_NET_ADMIN)",
			       strerror(errno));
		else
			seterr(err, errlen, "cannot open /dev/net/tun: %s", strerror(errno));
		goto fail;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR;
	memcpy(ifr.ifr_name, name, strlen(name));
	t->vnet_hdr = true;
	rc = ioctl(t->fd, TUNSETIFF, &ifr);
	if (rc < 0 && errno == EINVAL) {
		/* A kernel without IFF_VNET_HDR (before 2.6.27): plain packets, no offloads. */
		ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
		t->vnet_hdr = false;
		rc = ioctl(t->fd, TUNSETIFF, &ifr);
	}
	if (rc < 0) {
		if (errno == EPERM || errno == EACCES)
			seterr(err, errlen,
			       "not permitted to create TUN device %s: %s (needs root or "
			       "CAP_NET_ADMIN)",
			       name, strerror(errno));
		else
			seterr(err, errlen, "cannot create TUN device %s: %s", name,
			       strerror(errno));
		goto fail;
	}
	memcpy(t->name, ifr.ifr_name, IFNAMSIZ);
	t->name[IFNAMSIZ - 1] = '\0';
	t->ifindex = (int)if_nametoindex(t->name);
	if (t->ifindex == 0) {
		seterr(err, errlen, "cannot find the index of %s: %s", t->name, strerror(errno));
		goto fail;
	}
	rc = set_link(t->ifindex, t->mtu, false);
	if (rc) {
		seterr(err, errlen, "cannot set MTU %u on %s: %s", t->mtu, t->name, strerror(-rc));
		goto fail;
	}
	if (t->local) {
		rc = add_addr(t->ifindex, t->local);
		if (rc) {
			char a[INET_ADDRSTRLEN];

			fmt_ip(t->local, a);
			seterr(err, errlen, "cannot add address %s to %s: %s", a, t->name,
			       strerror(-rc));
			goto fail;
		}
	}
	rc = set_link(t->ifindex, 0, true);
	if (rc) {
		seterr(err, errlen, "cannot set %s up: %s", t->name, strerror(-rc));
		goto fail;
	}
	rc = route(t, true);
	if (rc) {
		seterr(err, errlen, "cannot add route %s/%u dev %s: %s", sub, t->prefix_len,
		       t->name, strerror(-rc));
		goto fail;
	}
	t->route_added = true;
	return t;
fail:
	kt_tun_close(t);
	return NULL;
}

void kt_tun_close(struct kt_tun *t)
{
	if (!t)
		return;
	if (t->route_added)
		route(t, false);
	if (t->fd >= 0)
		close(t->fd); /* a non-persistent TUN device disappears with its last fd */
	free(t);
}

int kt_tun_fd(const struct kt_tun *t)
{
	return t->fd;
}

const char *kt_tun_name(const struct kt_tun *t)
{
	return t->name;
}

uint32_t kt_tun_mtu(const struct kt_tun *t)
{
	return t->mtu;
}

unsigned kt_tun_caps(const struct kt_tun *t)
{
	return t->vnet_hdr ? KT_TUN_CAP_CSUM_PARTIAL | KT_TUN_CAP_TCP_SEGS : 0;
}

ssize_t kt_tun_read(struct kt_tun *t, uint8_t *buf, size_t cap)
{
	struct virtio_net_hdr vh;
	struct iovec iov[2] = {{&vh, sizeof(vh)}, {buf, cap}};

	for (;;) {
		ssize_t n = t->vnet_hdr ? readv(t->fd, iov, 2) : read(t->fd, buf, cap);

		if (n >= 0 && t->vnet_hdr) {
			/* Without negotiated offloads the header carries nothing we need: the
			 * packet is complete and its checksums are set. */
			if ((size_t)n < sizeof(vh))
				return -EMSGSIZE;
			n -= (ssize_t)sizeof(vh);
		}
		if (n >= 0)
			return (size_t)n == cap ? -EMSGSIZE : n;
		if (errno == EINTR)
			continue;
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
}

int kt_tun_write(struct kt_tun *t, const struct iovec *iov, int iovcnt,
		 const struct kt_tun_offload *off)
{
	struct virtio_net_hdr vh;
	struct iovec all[KT_TUN_MAX_IOV + 1];

	if (iovcnt < 0 || iovcnt > KT_TUN_MAX_IOV || (off && !t->vnet_hdr))
		return -EINVAL;
	if (t->vnet_hdr) {
		memset(&vh, 0, sizeof(vh));
		if (off) {
			vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
			vh.csum_start = off->csum_start;
			vh.csum_offset = off->csum_offset;
			vh.hdr_len = off->hdr_len;
			if (off->seg_size) {
				vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
				vh.gso_size = off->seg_size;
			}
		}
		all[0].iov_base = &vh;
		all[0].iov_len = sizeof(vh);
		memcpy(all + 1, iov, (size_t)iovcnt * sizeof(*iov));
		iov = all;
		iovcnt++;
	}
	for (;;) {
		ssize_t n = writev(t->fd, iov, iovcnt);

		if (n >= 0)
			return 0;
		if (errno == EINTR)
			continue;
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
}
