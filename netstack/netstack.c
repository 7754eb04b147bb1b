/* netstack.c: lwIP 2.1.3 behind the kt_netstack/kt_tcp interface (see netstack.h).
 *
 * How TCP to *any* VIP is accepted on stock lwIP, with no patch and no copied lwIP code
 * (docs/ARCHITECTURE.md "Netstack" has the reasoning; netstack.md section 1.7 the experiment):
 *   - One netif, netmask = the VIP subnet, default route. lwIP's ip4_input() accepts only packets
 *     addressed to the netif's own address, so right before each packet goes in we write its
 *     destination into the netif's address field (set_netif_addr). lwIP reads that field only
 *     while it processes input; replies and retransmissions use each pcb's local_ip. This holds
 *     because lwIP runs with NO_SYS=1 on one thread and we never use netif_set_ipaddr() (which
 *     would abort every pcb bound to the old address).
 *   - lwIP's listeners match on port, so we create one listener per TCP port on demand, bound to
 *     IP_ANY, the first time the owner accepts a SYN for that port. lwIP's tcp_listen_input()
 *     copies the packet's destination into the new pcb's local_ip: that is the VIP.
 *   - Every SYN is intercepted before lwIP sees it and offered to the owner (accept callback):
 *     REFUSE is answered here with a hand-built RST, ACCEPT feeds the SYN to lwIP, PENDING keeps
 *     a copy of the SYN and feeds it later (kt_netstack_syn_complete), so the SYN-ACK only goes
 *     out once the owner's upstream is ready.
 *
 * Ownership: struct kt_netstack owns the netif, the DNS udp_pcb, the listeners and every
 * struct kt_tcp. A kt_tcp owns its lwIP pcb while OPEN (pcb != NULL); when the owner closes it,
 * the pcb is detached (callbacks cleared) and lwIP finishes the close on its own.
 *
 * Re-entrancy: lwIP's input path keeps global state, so lwIP is never entered from inside
 * itself. Owner callbacks run inside lwIP; calls they make that would feed a packet to lwIP
 * (kt_netstack_syn_complete) are queued and run when the outermost netstack call returns.
 * Closing or aborting a handle from inside its own callback is deferred to the callback's end,
 * where lwIP expects it (ERR_ABRT). */
#include "netstack.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lwip/init.h"
#include "lwip/ip.h"
#include "lwip/ip4.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/sys.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "lwip/udp.h"
#include "txbatch.h"

#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define TCPF_FIN 0x01
#define TCPF_SYN 0x02
#define TCPF_RST 0x04
#define TCPF_ACK 0x10

/* A half-open connection (SYN-ACK sent) that has not completed within this time is dropped
 * (lwIP itself gives up on SYN_RCVD after TCP_SYN_RCVD_TIMEOUT = 20 s). */
#define HANDSHAKE_TIMEOUT_MS 25000u
#define DEFAULT_PENDING_TIMEOUT_MS 10000u
/* How often idle connections are probed for a client that is gone (sweep()), unless
 * configured. One wakeup a minute while connections exist, none without. */
#define DEFAULT_PROBE_INTERVAL_MS 60000u
#define DEFAULT_MAX_CONNS 65536u
/* A pbuf chain longer than this is copied into one buffer before output. */
#define MAX_IOV 64

enum conn_state {
	ST_NEW,	      /* inside the accept callback */
	ST_PENDING,   /* SYN held, waiting for kt_netstack_syn_complete() */
	ST_HANDSHAKE, /* SYN given to lwIP, waiting for lwIP's accept */
	ST_OPEN,      /* pcb attached */
};

enum deferred_op {
	OP_NONE,
	OP_CLOSE,
	OP_ABORT,
};

struct conn_list {
	struct kt_tcp *head, *tail;
};

struct kt_tcp {
	struct kt_netstack *ns;
	struct tcp_pcb *pcb; /* owned while ST_OPEN; NULL otherwise */
	struct kt_netstack_flow flow;
	enum conn_state state;
	struct kt_tcp_callbacks cb;
	void *user;
	/* ST_PENDING: a copy of the SYN packet (IPv4 header onwards), fed to lwIP on success. */
	uint8_t *syn;
	size_t syn_len;
	uint64_t deadline;	      /* ST_PENDING/ST_HANDSHAKE: when the netstack gives up */
	struct kt_tcp *hnext;	      /* hash chain: every live handle is hashed by its flow */
	struct kt_tcp *lprev, *lnext; /* in one of the deadline lists or the ready list */
	struct conn_list *list;
	unsigned busy;	     /* depth of callbacks into the owner for this handle */
	enum deferred_op op; /* close/abort requested from inside a callback */
	bool ended;	     /* the owner's use has ended; free when busy drops to 0 */
	bool wr_shut;
	size_t unreleased; /* bytes handed to recv and not yet kt_tcp_recved() */
	/* In ns->dirty: kt_tcp_send() queued data that kt_netstack_flush() hands to tcp_output. */
	struct kt_tcp *dprev, *dnext;
	bool dirty;
};

struct listener {
	uint16_t port;
	struct tcp_pcb *pcb;
};

struct kt_netstack {
	struct kt_netstack_config cfg;
	uint32_t mask, net, bcast;
	struct netif netif;
	bool netif_added;
	struct udp_pcb *dns_pcb;

	struct kt_tcp **buckets;
	size_t nbuckets, nconns;

	struct conn_list pending;   /* ST_PENDING, oldest first (constant timeout: sorted) */
	struct conn_list handshake; /* ST_HANDSHAKE, oldest first */
	struct conn_list ready;	    /* completed PENDING SYNs waiting to be fed (re-entrancy) */

	struct listener *listeners;
	size_t nlisteners, listeners_cap;
	uint8_t port_listening[65536 / 8];

	unsigned depth;	      /* > 0 while lwIP is running (input or timers) */
	struct kt_tcp *dirty; /* handles with data for tcp_output (kt_netstack_flush) */
	/* lwIP's TCP timer found nothing to do at its last tick and lwIP has not been entered
	 * since: its 250 ms tick is not needed (see "timers" below). */
	bool lwip_quiet;
	uint64_t sweep_at;	/* next liveness sweep (0: none scheduled) */
	struct kt_txbatch *txb; /* with offloads: TCP output held for batching; NULL otherwise */
	struct kt_netstack_stats st;
	uint8_t scratch[65536]; /* linearised output packets and UDP payloads */
};

/* lwIP is a singleton: its pcb lists and timers are globals. */
static struct kt_netstack *g_ns;
static bool g_lwip_initialised;

/* ---- small helpers ---- */

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* RFC 1071 ones' complement sum, folded by the caller. */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += rd16(p + i);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint64_t clock_ms(const struct kt_netstack *ns)
{
	struct timespec ts;

	if (ns && ns->cfg.now_ms)
		return ns->cfg.now_ms(ns->cfg.user);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* lwIP's clock (NO_SYS=1 needs the port to provide it); u32 wrap-around is handled by lwIP. */
u32_t sys_now(void)
{
	return (u32_t)clock_ms(g_ns);
}

unsigned int kt_netstack_lwip_rand(void)
{
	return (unsigned int)arc4random();
}

void kt_netstack_lwip_assert(const char *msg, const char *file, int line)
{
	fprintf(stderr, "lwIP assertion failed: %s (%s:%d)\n", msg, file, line);
	abort();
}

static uint32_t ip4_host(const ip_addr_t *a)
{
	return lwip_ntohl(ip4_addr_get_u32(ip_2_ip4(a)));
}

static void ip4_set_host(ip_addr_t *a, uint32_t host)
{
	ip_addr_set_ip4_u32_val(*a, lwip_htonl(host));
}

/* ---- connection table ---- */

static size_t flow_hash(const struct kt_netstack_flow *f)
{
	uint64_t k = ((uint64_t)f->vip << 32) ^ ((uint64_t)f->src) ^ ((uint64_t)f->port << 16) ^
		     ((uint64_t)f->src_port << 48);

	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return (size_t)k;
}

static bool flow_eq(const struct kt_netstack_flow *a, const struct kt_netstack_flow *b)
{
	return a->vip == b->vip && a->port == b->port && a->src == b->src &&
	       a->src_port == b->src_port;
}

static struct kt_tcp *conn_lookup(struct kt_netstack *ns, const struct kt_netstack_flow *f)
{
	struct kt_tcp *h;

	for (h = ns->buckets[flow_hash(f) & (ns->nbuckets - 1)]; h; h = h->hnext)
		if (flow_eq(&h->flow, f))
			return h;
	return NULL;
}

static void conn_grow(struct kt_netstack *ns)
{
	size_t n = ns->nbuckets * 2, i;
	struct kt_tcp **b = calloc(n, sizeof(*b));

	if (!b)
		return; /* keep the old table: longer chains, still correct */
	for (i = 0; i < ns->nbuckets; i++) {
		struct kt_tcp *h = ns->buckets[i], *next;

		for (; h; h = next) {
			size_t j = flow_hash(&h->flow) & (n - 1);

			next = h->hnext;
			h->hnext = b[j];
			b[j] = h;
		}
	}
	free(ns->buckets);
	ns->buckets = b;
	ns->nbuckets = n;
}

static void conn_insert(struct kt_netstack *ns, struct kt_tcp *h)
{
	size_t j;

	if (ns->nconns >= ns->nbuckets)
		conn_grow(ns);
	j = flow_hash(&h->flow) & (ns->nbuckets - 1);
	h->hnext = ns->buckets[j];
	ns->buckets[j] = h;
	ns->nconns++;
	ns->st.conns_open = ns->nconns;
}

static void conn_remove(struct kt_netstack *ns, struct kt_tcp *h)
{
	struct kt_tcp **pp = &ns->buckets[flow_hash(&h->flow) & (ns->nbuckets - 1)];

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == h) {
			*pp = h->hnext;
			h->hnext = NULL;
			ns->nconns--;
			ns->st.conns_open = ns->nconns;
			return;
		}
	}
}

static void list_append(struct conn_list *l, struct kt_tcp *h)
{
	h->list = l;
	h->lnext = NULL;
	h->lprev = l->tail;
	if (l->tail)
		l->tail->lnext = h;
	else
		l->head = h;
	l->tail = h;
}

static void list_unlink(struct kt_tcp *h)
{
	struct conn_list *l = h->list;

	if (!l)
		return;
	if (h->lprev)
		h->lprev->lnext = h->lnext;
	else
		l->head = h->lnext;
	if (h->lnext)
		h->lnext->lprev = h->lprev;
	else
		l->tail = h->lprev;
	h->list = NULL;
	h->lprev = h->lnext = NULL;
}

/* Removes h from every structure and frees it; its pcb must already be detached. */
static void dirty_unlink(struct kt_tcp *h)
{
	if (!h->dirty)
		return;
	if (h->dprev)
		h->dprev->dnext = h->dnext;
	else
		h->ns->dirty = h->dnext;
	if (h->dnext)
		h->dnext->dprev = h->dprev;
	h->dprev = h->dnext = NULL;
	h->dirty = false;
}

static void dirty_link(struct kt_tcp *h)
{
	if (h->dirty)
		return;
	h->dprev = NULL;
	h->dnext = h->ns->dirty;
	if (h->dnext)
		h->dnext->dprev = h;
	h->ns->dirty = h;
	h->dirty = true;
}

static void conn_destroy(struct kt_tcp *h)
{
	struct kt_netstack *ns = h->ns;

	dirty_unlink(h);
	list_unlink(h);
	if (h->state != ST_NEW)
		conn_remove(ns, h);
	free(h->syn);
	free(h);
}

/* lwIP is about to do TCP work: its timer is needed again. The timer entry left in lwIP's list
 * while quiet carries a stale expiry; rebasing it keeps it from firing at once. */
static void lwip_busy(struct kt_netstack *ns)
{
	if (!ns->lwip_quiet)
		return;
	ns->lwip_quiet = false;
	sys_restart_timeouts();
}

/* ---- output ---- */

/* Writes one packet through the owner's output callback, counted. */
static void emit_now(void *arg, const struct iovec *iov, int n, size_t total,
		     const struct kt_tun_offload *off)
{
	struct kt_netstack *ns = arg;

	if (ns->cfg.output(ns->cfg.user, iov, n, total, off) == 0)
		ns->st.tx_packets++;
	else
		ns->st.tx_errors++;
}

/* A complete packet: whatever TCP output is held goes first, so the order never changes. */
static void emit(struct kt_netstack *ns, const struct iovec *iov, int n, size_t total)
{
	if (ns->txb)
		kt_txbatch_flush(ns->txb);
	emit_now(ns, iov, n, total, NULL);
}

static err_t netif_output_cb(struct netif *netif, struct pbuf *p, const ip4_addr_t *dst)
{
	struct kt_netstack *ns = netif->state;
	struct iovec iov[MAX_IOV];
	struct pbuf *q;
	int n = 0;

	(void)dst;
	/* With offloads lwIP left the TCP checksum to the device (netif_init_cb). */
	if (ns->txb && p->len >= 20 && ((const uint8_t *)p->payload)[9] == IPPROTO_TCP_) {
		kt_txbatch_tcp(ns->txb, p);
		return ERR_OK;
	}
	for (q = p; q && n < MAX_IOV; q = q->next) {
		if (q->len == 0)
			continue;
		iov[n].iov_base = q->payload;
		iov[n].iov_len = q->len;
		n++;
	}
	if (q) {
		/* Longer chains than MAX_IOV are rare (many tiny writes); copy them flat. */
		u16_t got = pbuf_copy_partial(p, ns->scratch, p->tot_len, 0);

		iov[0].iov_base = ns->scratch;
		iov[0].iov_len = got;
		n = 1;
	}
	emit(ns, iov, n, p->tot_len);
	return ERR_OK;
}

/* Answers a SYN (the IPv4 packet `pkt`, already validated by kt_netstack_input) with RST|ACK,
 * RFC 793 3.4 "reset generation": seq 0, ack = the SYN's sequence + its length. */
static void send_rst_for(struct kt_netstack *ns, const uint8_t *pkt, size_t len)
{
	size_t ihl = (size_t)(pkt[0] & 15) * 4;
	const uint8_t *th = pkt + ihl;
	size_t doff = (size_t)(th[12] >> 4) * 4;
	uint32_t seglen = (uint32_t)(len - ihl - doff);
	uint8_t out[40];
	uint32_t sum;
	struct iovec iov;

	if (th[13] & TCPF_SYN)
		seglen++;
	if (th[13] & TCPF_FIN)
		seglen++;
	memset(out, 0, sizeof(out));
	out[0] = 0x45;
	wr16(out + 2, 40);
	wr16(out + 6, 0x4000); /* DF */
	out[8] = 64;
	out[9] = IPPROTO_TCP_;
	memcpy(out + 12, pkt + 16, 4); /* from the VIP */
	memcpy(out + 16, pkt + 12, 4); /* to the client */
	wr16(out + 10, csum_fold(csum_add(0, out, 20)));
	memcpy(out + 20, th + 2, 2); /* source port = the port the client called */
	memcpy(out + 22, th, 2);
	wr32(out + 24, 0);
	wr32(out + 28, rd32(th + 4) + seglen);
	out[32] = 5 << 4;
	out[33] = TCPF_RST | TCPF_ACK;
	sum = csum_add(0, out + 12, 8); /* pseudo header: addresses, protocol, TCP length */
	sum += IPPROTO_TCP_ + 20;
	sum = csum_add(sum, out + 20, 20);
	wr16(out + 36, csum_fold(sum));
	iov.iov_base = out;
	iov.iov_len = sizeof(out);
	emit(ns, &iov, 1, sizeof(out));
	ns->st.syn_refused++;
}

/* ---- feeding lwIP ---- */

/* The netif-address trick (file comment): the destination becomes the netif's address for the
 * duration of this input, so ip4_input() accepts the packet. Only the address field is written;
 * netif_set_ipaddr() must not be used here (it aborts pcbs bound to the previous address). */
static void set_netif_addr(struct kt_netstack *ns, uint32_t dst)
{
	ip4_set_host(&ns->netif.ip_addr, dst);
}

static void feed(struct kt_netstack *ns, const uint8_t *pkt, size_t len, uint32_t dst)
{
	struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM);

	if (!p) {
		ns->st.tx_errors++;
		return;
	}
	memcpy(p->payload, pkt, len);
	lwip_busy(ns);
	set_netif_addr(ns, dst);
	ns->depth++;
	ns->netif.input(p, &ns->netif); /* ip4_input: consumes p in every case */
	ns->depth--;
}

static int ensure_listener(struct kt_netstack *ns, uint16_t port);
static void run_ready(struct kt_netstack *ns);

/* ---- lwIP callbacks for an open connection ---- */

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err);
static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len);
static void on_err(void *arg, err_t err);

static void detach_pcb(struct kt_tcp *h)
{
	struct tcp_pcb *pcb = h->pcb;

	if (!pcb)
		return;
	tcp_arg(pcb, NULL);
	tcp_recv(pcb, NULL); /* lwIP then uses tcp_recv_null: discards and closes on FIN */
	tcp_sent(pcb, NULL);
	tcp_err(pcb, NULL);
	h->pcb = NULL;
}

/* Aborts h's pcb (RST). Returns true when a pcb was aborted. */
static bool do_abort(struct kt_tcp *h)
{
	struct tcp_pcb *pcb = h->pcb;

	if (!pcb)
		return false;
	detach_pcb(h);
	tcp_abort(pcb);
	return true;
}

/* Closes h's pcb gracefully; falls back to abort. Returns true when the pcb was aborted. */
static bool do_close(struct kt_tcp *h)
{
	struct tcp_pcb *pcb = h->pcb;

	if (!pcb)
		return false;
	detach_pcb(h);
	if (tcp_close(pcb) != ERR_OK) {
		tcp_abort(pcb);
		return true;
	}
	return false;
}

/* Ends one callback into the owner for h. Performs a close/abort the owner asked for during the
 * callback, frees h when its use has ended. Returns the err_t lwIP expects from the callback:
 * ERR_ABRT when the pcb lwIP is processing was aborted. */
static err_t finish_cb(struct kt_tcp *h)
{
	err_t rc = ERR_OK;

	if (--h->busy > 0)
		return ERR_OK;
	if (h->op == OP_ABORT) {
		if (do_abort(h))
			rc = ERR_ABRT;
	} else if (h->op == OP_CLOSE) {
		if (do_close(h))
			rc = ERR_ABRT;
	}
	if (h->ended)
		conn_destroy(h);
	return rc;
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct kt_tcp *h = arg;
	struct pbuf *q;

	(void)pcb;
	(void)err;
	if (!h) {
		if (p)
			pbuf_free(p);
		return ERR_OK;
	}
	h->busy++;
	if (!p) {
		if (h->cb.fin)
			h->cb.fin(h->user, h);
		if (h->wr_shut && !h->ended && h->op == OP_NONE) {
			/* Both directions are done (our FIN was sent earlier). lwIP finishes in
			 * CLOSING/TIME_WAIT without telling us, so end the handle here: closed(0),
			 * then detach (finish_cb's OP_CLOSE). */
			h->ended = true;
			if (h->cb.closed)
				h->cb.closed(h->user, h, 0);
			h->op = OP_CLOSE;
		}
		return finish_cb(h);
	}
	for (q = p; q && !h->ended; q = q->next) {
		if (q->len == 0)
			continue;
		h->unreleased += q->len;
		if (h->cb.recv) {
			h->cb.recv(h->user, h, q->payload, q->len);
		} else {
			/* No consumer: release at once so the client is not stalled. */
			h->unreleased -= q->len;
			tcp_recved(h->pcb, q->len);
		}
	}
	pbuf_free(p);
	return finish_cb(h);
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	struct kt_tcp *h = arg;

	(void)pcb;
	if (!h)
		return ERR_OK;
	h->busy++;
	if (h->cb.sent)
		h->cb.sent(h->user, h, len);
	return finish_cb(h);
}

static int map_err(err_t err)
{
	switch (err) {
	case ERR_CLSD:
		return 0;
	case ERR_RST:
		return -ECONNRESET;
	case ERR_ABRT:
		/* lwIP aborts a pcb itself only from its timers: retransmissions or keepalives
		 * exhausted, or FIN_WAIT_2/SYN_RCVD/LAST_ACK timeouts. */
		return -ETIMEDOUT;
	default:
		return -ECONNABORTED;
	}
}

/* lwIP has already freed the pcb (RST received, timeout, or both directions closed). */
static void on_err(void *arg, err_t err)
{
	struct kt_tcp *h = arg;

	if (!h)
		return;
	h->pcb = NULL;
	h->op = OP_NONE;
	h->busy++;
	if (!h->ended && h->cb.closed)
		h->cb.closed(h->user, h, map_err(err));
	h->ended = true;
	finish_cb(h);
}

static err_t on_accept(void *arg, struct tcp_pcb *newpcb, err_t err)
{
	struct kt_netstack *ns = arg;
	struct kt_netstack_flow f;
	struct kt_tcp *h;

	if (err != ERR_OK || !newpcb)
		return ERR_VAL;
	f.vip = ip4_host(&newpcb->local_ip);
	f.port = newpcb->local_port;
	f.src = ip4_host(&newpcb->remote_ip);
	f.src_port = newpcb->remote_port;
	h = conn_lookup(ns, &f);
	if (!h || h->state != ST_HANDSHAKE) {
		/* Not ours (it timed out, or the owner gave up on it): reset the client. */
		tcp_abort(newpcb);
		return ERR_ABRT;
	}
	list_unlink(h);
	h->state = ST_OPEN;
	h->pcb = newpcb;
	tcp_arg(newpcb, h);
	tcp_recv(newpcb, on_recv);
	tcp_sent(newpcb, on_sent);
	tcp_err(newpcb, on_err);
	/* The owner writes whatever its upstream delivered; holding small segments back for
	 * Nagle would only add latency to request/response protocols. */
	tcp_nagle_disable(newpcb);
	h->busy++;
	if (h->cb.connected)
		h->cb.connected(h->user, h);
	return finish_cb(h);
}

/* ---- SYN handling ---- */

/* Decides a SYN for an unknown flow. Returns true when the packet should be fed to lwIP. */
static bool handle_syn(struct kt_netstack *ns, const uint8_t *pkt, size_t len,
		       const struct kt_netstack_flow *f)
{
	struct kt_tcp *h = conn_lookup(ns, f);
	enum kt_netstack_verdict v;

	if (h) {
		if (h->state == ST_PENDING) {
			ns->st.rx_syn_absorbed++;
			return false;
		}
		return true; /* lwIP knows the flow: a retransmitted or duplicate SYN */
	}
	if (ns->nconns >= ns->cfg.max_conns) {
		send_rst_for(ns, pkt, len);
		return false;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		send_rst_for(ns, pkt, len);
		return false;
	}
	h->ns = ns;
	h->flow = *f;
	h->state = ST_NEW;
	h->busy = 1;
	v = ns->cfg.accept(ns->cfg.user, h, f);
	h->busy = 0;
	if (h->ended || h->op != OP_NONE)
		v = KT_NETSTACK_REFUSE; /* the owner ended it from inside the callback */
	if (v == KT_NETSTACK_PENDING) {
		h->syn = malloc(len);
		if (!h->syn) {
			v = KT_NETSTACK_REFUSE;
		} else {
			memcpy(h->syn, pkt, len);
			h->syn_len = len;
		}
	}
	if (v == KT_NETSTACK_ACCEPT && ensure_listener(ns, f->port) != 0) {
		/* Out of memory: the owner accepted, so it hears about the failure. */
		send_rst_for(ns, pkt, len);
		if (h->cb.closed)
			h->cb.closed(h->user, h, -ENOMEM);
		free(h);
		return false;
	}
	if (v != KT_NETSTACK_ACCEPT && v != KT_NETSTACK_PENDING) {
		send_rst_for(ns, pkt, len);
		free(h->syn);
		free(h);
		return false;
	}
	h->ended = false;
	conn_insert(ns, h);
	if (v == KT_NETSTACK_PENDING) {
		h->state = ST_PENDING;
		h->deadline = clock_ms(ns) + ns->cfg.pending_timeout_ms;
		list_append(&ns->pending, h);
		ns->st.syn_pending++;
		return false;
	}
	h->state = ST_HANDSHAKE;
	h->deadline = clock_ms(ns) + HANDSHAKE_TIMEOUT_MS;
	list_append(&ns->handshake, h);
	ns->st.syn_accepted++;
	return true;
}

int kt_netstack_syn_complete(struct kt_tcp *h, int ok)
{
	struct kt_netstack *ns;

	if (!h || h->state != ST_PENDING || h->list != &h->ns->pending)
		return -EINVAL;
	ns = h->ns;
	list_unlink(h);
	if (!ok) {
		send_rst_for(ns, h->syn, h->syn_len);
		conn_destroy(h);
		return 0;
	}
	if (ensure_listener(ns, h->flow.port) != 0) {
		send_rst_for(ns, h->syn, h->syn_len);
		conn_destroy(h);
		return -ENOMEM;
	}
	ns->st.syn_accepted++;
	/* Feeding the SYN enters lwIP, which must not happen from inside lwIP (an owner callback):
	 * queue it for the end of the current netstack call in that case. */
	list_append(&ns->ready, h);
	if (ns->depth == 0)
		run_ready(ns);
	return 0;
}

/* Feeds the SYNs of completed PENDING handles to lwIP (outside any lwIP call). */
static void run_ready(struct kt_netstack *ns)
{
	struct kt_tcp *h;

	while ((h = ns->ready.head) != NULL) {
		uint8_t *syn = h->syn;
		size_t len = h->syn_len;

		list_unlink(h);
		h->syn = NULL;
		h->syn_len = 0;
		h->state = ST_HANDSHAKE;
		h->deadline = clock_ms(ns) + HANDSHAKE_TIMEOUT_MS;
		list_append(&ns->handshake, h);
		feed(ns, syn, len, h->flow.vip);
		free(syn);
	}
}

static int ensure_listener(struct kt_netstack *ns, uint16_t port)
{
	struct tcp_pcb *pcb, *lpcb;
	err_t err;

	if (ns->port_listening[port / 8] & (1u << (port % 8)))
		return 0;
	if (ns->nlisteners == ns->listeners_cap) {
		size_t cap = ns->listeners_cap ? ns->listeners_cap * 2 : 16;
		struct listener *l = realloc(ns->listeners, cap * sizeof(*l));

		if (!l)
			return -ENOMEM;
		ns->listeners = l;
		ns->listeners_cap = cap;
	}
	pcb = tcp_new_ip_type(IPADDR_TYPE_V4);
	if (!pcb)
		return -ENOMEM;
	if (tcp_bind(pcb, IP4_ADDR_ANY, port) != ERR_OK) {
		tcp_abort(pcb);
		return -EADDRINUSE;
	}
	lpcb = tcp_listen_with_backlog_and_err(pcb, TCP_DEFAULT_LISTEN_BACKLOG, &err);
	if (!lpcb) {
		tcp_abort(pcb);
		return -ENOMEM;
	}
	tcp_arg(lpcb, ns);
	tcp_accept(lpcb, on_accept);
	ns->listeners[ns->nlisteners].port = port;
	ns->listeners[ns->nlisteners].pcb = lpcb;
	ns->nlisteners++;
	ns->port_listening[port / 8] |= (uint8_t)(1u << (port % 8));
	return 0;
}

/* ---- UDP (DNS) ---- */

static void on_udp(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
		   u16_t port)
{
	struct kt_netstack *ns = arg;
	const uint8_t *data = p->payload;
	size_t len = p->len;

	(void)pcb;
	if (p->next) {
		len = pbuf_copy_partial(p, ns->scratch, p->tot_len, 0);
		data = ns->scratch;
	}
	if (ns->cfg.udp)
		ns->cfg.udp(ns->cfg.user, ip4_host(addr), port, ns->cfg.dns_ip, 53, data, len);
	pbuf_free(p);
}

int kt_netstack_udp_send(struct kt_netstack *ns, uint32_t src, uint16_t src_port, uint32_t dst,
			 uint16_t dst_port, const uint8_t *data, size_t len)
{
	ip_addr_t s, d;
	struct pbuf *p;
	err_t err;

	if (!ns || !ns->dns_pcb || src != ns->cfg.dns_ip || src_port != 53 || (!data && len))
		return -EINVAL;
	if (len > 65507)
		return -EMSGSIZE;
	p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)len, PBUF_RAM);
	if (!p)
		return -ENOMEM;
	if (len)
		memcpy(p->payload, data, len);
	ip4_set_host(&s, src);
	ip4_set_host(&d, dst);
	err = udp_sendto_if_src(ns->dns_pcb, p, &d, dst_port, &ns->netif, &s);
	pbuf_free(p);
	return err == ERR_OK ? 0 : (err == ERR_MEM ? -ENOMEM : -EIO);
}

/* ---- input ---- */

void kt_netstack_input(struct kt_netstack *ns, const uint8_t *pkt, size_t len)
{
	size_t ihl, tot;
	uint32_t src, dst;

	ns->st.rx_packets++;
	if (len == 0 || !pkt) {
		ns->st.rx_malformed++;
		return;
	}
	if ((pkt[0] >> 4) != 4) {
		/* IPv6 is valid but not enabled yet; anything else is not IP at all. */
		if ((pkt[0] >> 4) == 6)
			ns->st.rx_unsupported++;
		else
			ns->st.rx_malformed++;
		return;
	}
	/* RFC 791 3.1: IHL counts 32-bit words (>= 5); total length covers header and data. */
	ihl = (size_t)(pkt[0] & 15) * 4;
	if (len < 20 || ihl < 20 || ihl > len) {
		ns->st.rx_malformed++;
		return;
	}
	tot = rd16(pkt + 2);
	if (tot < ihl || tot > len) {
		ns->st.rx_malformed++;
		return;
	}
	len = tot;		      /* ignore any link-layer padding */
	if (rd16(pkt + 6) & 0x3fff) { /* MF set or a fragment offset */
		ns->st.rx_fragments++;
		return;
	}
	src = rd32(pkt + 12);
	dst = rd32(pkt + 16);
	if ((dst & ns->mask) != ns->net || dst == ns->net || dst == ns->bcast) {
		ns->st.rx_not_ours++;
		return;
	}
	if (pkt[9] == IPPROTO_TCP_) {
		const uint8_t *th = pkt + ihl;
		size_t doff;

		/* RFC 793 3.1: data offset counts 32-bit words, at least 5. */
		if (len - ihl < 20) {
			ns->st.rx_malformed++;
			return;
		}
		doff = (size_t)(th[12] >> 4) * 4;
		if (doff < 20 || doff > len - ihl) {
			ns->st.rx_malformed++;
			return;
		}
		if ((th[13] & (TCPF_SYN | TCPF_ACK | TCPF_RST)) == TCPF_SYN) {
			struct kt_netstack_flow f;

			f.vip = dst;
			f.port = rd16(th + 2);
			f.src = src;
			f.src_port = rd16(th);
			ns->depth++;
			bool go = handle_syn(ns, pkt, len, &f);
			ns->depth--;
			if (!go) {
				if (ns->depth == 0)
					run_ready(ns);
				return;
			}
		}
	} else if (pkt[9] == IPPROTO_UDP_) {
		/* RFC 768: the length field covers the 8-byte header and the data. */
		if (len - ihl < 8 || rd16(pkt + ihl + 4) < 8 || rd16(pkt + ihl + 4) > len - ihl) {
			ns->st.rx_malformed++;
			return;
		}
	}
	feed(ns, pkt, len, dst);
	if (ns->depth == 0)
		run_ready(ns);
}

/* ---- batched output ---- */

void kt_netstack_flush(struct kt_netstack *ns)
{
	struct kt_tcp *h;

	if (!ns || ns->depth)
		return;
	if (ns->dirty)
		lwip_busy(ns);
	ns->depth++;
	while ((h = ns->dirty) != NULL) {
		dirty_unlink(h);
		if (h->pcb)
			tcp_output(h->pcb);
	}
	ns->depth--;
	if (ns->txb)
		kt_txbatch_flush(ns->txb);
}

/* ---- timers ---- */

/* With this configuration lwIP's only timer is TCP's (lwipopts.h): kt_netstack_next_timeout_ms
 * relies on that to ignore a TCP timer left armed when no pcb needs it. */
#if IP_REASSEMBLY || LWIP_ARP || LWIP_IPV6 || LWIP_IGMP || LWIP_DNS || LWIP_DHCP || LWIP_AUTOIP
#error "lwIP has timers besides TCP's: revisit kt_netstack_next_timeout_ms()"
#endif

/* Does this pcb need lwIP's 250 ms TCP timer? Only for something lwIP does on a tick:
 * retransmitting or probing a zero window (unacked/unsent), a delayed ACK, out-of-order data
 * ageing, refused data, a pending FIN, keepalive, or a state that times out (handshake,
 * closing, TIME_WAIT). An established connection with nothing in flight needs none, also when
 * the client has half-closed it (CLOSE_WAIT) or we have (FIN_WAIT_2 without TF_RXCLOSED,
 * which lwIP never times out). */
static bool pcb_needs_timer(const struct tcp_pcb *pcb)
{
	if (pcb->state != ESTABLISHED && pcb->state != CLOSE_WAIT &&
	    !(pcb->state == FIN_WAIT_2 && !(pcb->flags & TF_RXCLOSED)))
		return true;
	if (pcb->unacked || pcb->unsent || pcb->refused_data || pcb->persist_backoff)
		return true;
#if TCP_QUEUE_OOSEQ
	if (pcb->ooseq)
		return true;
#endif
	if (pcb->flags & (TF_ACK_DELAY | TF_ACK_NOW | TF_CLOSEPEND | TF_NAGLEMEMERR))
		return true;
	return ip_get_option(pcb, SOF_KEEPALIVE) != 0;
}

static bool lwip_has_work(void)
{
	const struct tcp_pcb *pcb;

	if (tcp_tw_pcbs)
		return true;
	for (pcb = tcp_active_pcbs; pcb; pcb = pcb->next)
		if (pcb_needs_timer(pcb))
			return true;
	return false;
}

/* The liveness sweep: an idle connection whose client is gone (its RST lost, say: RSTs are
 * never retransmitted) would otherwise stay open forever, since lwIP's keepalive needs the tick
 * we stop. Every probe_interval_ms each idle connection gets one keepalive probe (RFC 1122
 * 4.2.3.6: an ACK for old data); a live client answers with an ACK, the kernel answers a dead
 * one with RST, which ends the connection. */
static void sweep(struct kt_netstack *ns)
{
	struct tcp_pcb *pcb, *next;

	for (pcb = tcp_active_pcbs; pcb; pcb = next) {
		next = pcb->next;
		if (!pcb_needs_timer(pcb) && pcb->state != FIN_WAIT_2) {
			tcp_keepalive(pcb);
			ns->st.probes_sent++;
		}
	}
}

int64_t kt_netstack_next_timeout_ms(struct kt_netstack *ns)
{
	int64_t t = -1;
	uint64_t now = clock_ms(ns);
	struct kt_tcp *heads[2] = {ns->pending.head, ns->handshake.head};
	int i;

	/* lwIP's TCP timer re-arms itself every 250 ms while any pcb is active or in TIME_WAIT
	 * and disarms on the first tick without one. We also skip it while it is quiet
	 * (kt_netstack_run_timers found no pcb with work), so an idle stack needs no wakeup even
	 * with idle connections open; and when no pcb exists, a tick left in lwIP's list (the
	 * last one, or one from a previous netstack) is no work either. */
	if ((tcp_active_pcbs || tcp_tw_pcbs) && !ns->lwip_quiet) {
		u32_t lw = sys_timeouts_sleeptime();

		if (lw != SYS_TIMEOUTS_SLEEPTIME_INFINITE)
			t = (int64_t)lw;
	}
	if (tcp_active_pcbs) {
		int64_t d;

		if (!ns->sweep_at)
			ns->sweep_at = now + ns->cfg.probe_interval_ms;
		d = ns->sweep_at > now ? (int64_t)(ns->sweep_at - now) : 0;
		if (t < 0 || d < t)
			t = d;
	} else {
		ns->sweep_at = 0;
	}

	for (i = 0; i < 2; i++) {
		int64_t d;

		if (!heads[i])
			continue;
		d = heads[i]->deadline > now ? (int64_t)(heads[i]->deadline - now) : 0;
		if (t < 0 || d < t)
			t = d;
	}
	return t;
}

static void expire(struct kt_netstack *ns, struct conn_list *l, uint64_t now)
{
	struct kt_tcp *h;

	while ((h = l->head) != NULL && h->deadline <= now) {
		list_unlink(h);
		if (h->state == ST_PENDING)
			send_rst_for(ns, h->syn, h->syn_len);
		ns->st.syn_timeouts++;
		/* A half-open lwIP pcb may still complete later; on_accept then finds no handle
		 * and resets it. */
		h->busy++;
		h->ended = true;
		if (h->cb.closed)
			h->cb.closed(h->user, h, -ETIMEDOUT);
		finish_cb(h);
	}
}

void kt_netstack_run_timers(struct kt_netstack *ns)
{
	uint64_t now;

	ns->depth++;
	if (!ns->lwip_quiet) {
		sys_check_timeouts();
		ns->lwip_quiet = !lwip_has_work();
	}
	now = clock_ms(ns);
	if (ns->sweep_at && now >= ns->sweep_at) {
		ns->sweep_at = 0;
		sweep(ns);
	}
	expire(ns, &ns->pending, now);
	expire(ns, &ns->handshake, now);
	ns->depth--;
	if (ns->depth == 0)
		run_ready(ns);
}

/* ---- handles ---- */

void kt_tcp_set_callbacks(struct kt_tcp *h, const struct kt_tcp_callbacks *cb, void *user)
{
	if (cb)
		h->cb = *cb;
	else
		memset(&h->cb, 0, sizeof(h->cb));
	h->user = user;
}

void kt_tcp_get_flow(const struct kt_tcp *h, struct kt_netstack_flow *out)
{
	*out = h->flow;
}

size_t kt_tcp_send_room(const struct kt_tcp *h)
{
	size_t room, segs, queued;

	if (!h || h->state != ST_OPEN || !h->pcb || h->wr_shut || h->ended || h->op != OP_NONE)
		return 0;
	/* tcp_write() needs one queue slot per segment; keep the answer to what will fit. */
	queued = tcp_sndqueuelen(h->pcb);
	if (queued + 2 > TCP_SND_QUEUELEN)
		return 0;
	segs = TCP_SND_QUEUELEN - queued - 1;
	/* Not tcp_sndbuf(): it clamps to 16 bits, and the buffer is larger (lwipopts.h). */
	room = h->pcb->snd_buf;
	if (room > segs * tcp_mss(h->pcb))
		room = segs * tcp_mss(h->pcb);
	return room;
}

ssize_t kt_tcp_send(struct kt_tcp *h, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t room, done = 0, mss, max_chunk, first = 0;

	if (!h || h->state != ST_OPEN)
		return -ENOTCONN;
	if (!h->pcb || h->wr_shut || h->ended || h->op != OP_NONE)
		return -EPIPE;
	room = kt_tcp_send_room(h);
	if (len > room)
		len = room;
	/* tcp_write() takes 16-bit lengths and is all-or-nothing. Chunks that end on segment
	 * boundaries make one pbuf per segment, which is what kt_tcp_send_room() counted; the
	 * first chunk tops up a partly filled last segment (one extra pbuf at most). */
	mss = tcp_mss(h->pcb) ? tcp_mss(h->pcb) : 536;
	max_chunk = 0xffff / mss * mss;
	if (h->pcb->unsent) {
		struct tcp_seg *last = h->pcb->unsent;

		while (last->next)
			last = last->next;
		if (last->len < mss)
			first = mss - last->len;
	}
	while (done < len) {
		size_t n = len - done;

		if (first) {
			if (n > first)
				n = first;
			first = 0;
		} else if (n > max_chunk) {
			n = max_chunk;
		}
		if (tcp_write(h->pcb, p + done, (u16_t)n, TCP_WRITE_FLAG_COPY) != ERR_OK)
			break;
		done += n;
	}
	/* Sent by kt_netstack_flush(): the owner's further writes of this round join the same
	 * segments and packets. */
	if (done)
		dirty_link(h);
	return (ssize_t)done;
}

void kt_tcp_recved(struct kt_tcp *h, size_t n)
{
	if (!h)
		return;
	if (n > h->unreleased)
		n = h->unreleased;
	h->unreleased -= n;
	if (!h->pcb)
		return;
	lwip_busy(h->ns);
	while (n > 0) {
		u16_t c = n > 0xffff ? 0xffff : (u16_t)n;

		tcp_recved(h->pcb, c);
		n -= c;
	}
}

int kt_tcp_shutdown_write(struct kt_tcp *h)
{
	if (!h || h->state != ST_OPEN)
		return -ENOTCONN;
	if (!h->pcb || h->ended)
		return -EPIPE;
	if (h->wr_shut)
		return 0;
	lwip_busy(h->ns);
	if (tcp_shutdown(h->pcb, 0, 1) != ERR_OK)
		return -ENOMEM;
	h->wr_shut = true;
	return 0;
}

/* Ends the owner's use of h with a close (graceful) or an abort. */
static void end_handle(struct kt_tcp *h, enum deferred_op op)
{
	if (!h || h->ended)
		return;
	h->ended = true;
	if (h->state == ST_NEW) {
		/* Inside the accept callback: handle_syn() turns this into a refusal. */
		h->op = op;
		return;
	}
	if (h->state == ST_PENDING) {
		if (h->list == &h->ns->pending)
			send_rst_for(h->ns, h->syn, h->syn_len);
		/* A completed SYN still in the ready list is dropped: the client retransmits its
		 * SYN and gets a fresh decision. */
	}
	if (h->busy) {
		h->op = op;
		return;
	}
	lwip_busy(h->ns);
	if (op == OP_ABORT)
		do_abort(h);
	else
		do_close(h);
	conn_destroy(h);
}

void kt_tcp_close(struct kt_tcp *h)
{
	end_handle(h, OP_CLOSE);
}

void kt_tcp_abort(struct kt_tcp *h)
{
	end_handle(h, OP_ABORT);
}

/* ---- lifecycle ---- */

static err_t netif_init_cb(struct netif *netif)
{
	struct kt_netstack *ns = netif->state;

	netif->name[0] = 'k';
	netif->name[1] = 't';
	netif->output = netif_output_cb;
	netif->mtu = (u16_t)ns->cfg.mtu;
	netif->flags = NETIF_FLAG_LINK_UP;
	/* The device completes TCP checksums (txbatch.c); every other checksum is ours. */
	if (ns->txb)
		NETIF_SET_CHECKSUM_CTRL(netif, NETIF_CHECKSUM_ENABLE_ALL & ~NETIF_CHECKSUM_GEN_TCP);
	return ERR_OK;
}

struct kt_netstack *kt_netstack_new(const struct kt_netstack_config *cfg)
{
	struct kt_netstack *ns;
	ip4_addr_t addr, mask, gw;

	if (g_ns || !cfg || !cfg->output || !cfg->accept || cfg->prefix_len < 8 ||
	    cfg->prefix_len > 30)
		return NULL;
	ns = calloc(1, sizeof(*ns));
	if (!ns)
		return NULL;
	ns->cfg = *cfg;
	if (ns->cfg.mtu < 576)
		ns->cfg.mtu = 576;
	if (ns->cfg.mtu > KT_NETSTACK_MAX_MTU)
		ns->cfg.mtu = KT_NETSTACK_MAX_MTU;
	if (!ns->cfg.max_conns)
		ns->cfg.max_conns = DEFAULT_MAX_CONNS;
	if (!ns->cfg.pending_timeout_ms)
		ns->cfg.pending_timeout_ms = DEFAULT_PENDING_TIMEOUT_MS;
	if (!ns->cfg.probe_interval_ms)
		ns->cfg.probe_interval_ms = DEFAULT_PROBE_INTERVAL_MS;
	ns->mask = 0xffffffffu << (32 - cfg->prefix_len);
	ns->net = cfg->subnet & ns->mask;
	ns->bcast = ns->net | ~ns->mask;
	if (cfg->dns_ip && ((cfg->dns_ip & ns->mask) != ns->net || cfg->dns_ip == ns->net ||
			    cfg->dns_ip == ns->bcast))
		goto fail;
	ns->nbuckets = 1024;
	ns->buckets = calloc(ns->nbuckets, sizeof(*ns->buckets));
	if (!ns->buckets)
		goto fail;
	if (cfg->offload & KT_TUN_CAP_CSUM_PARTIAL) {
		ns->txb = kt_txbatch_new(emit_now, ns, (cfg->offload & KT_TUN_CAP_TCP_SEGS) != 0);
		if (!ns->txb)
			goto fail;
	}

	g_ns = ns;
	if (!g_lwip_initialised) {
		lwip_init();
		g_lwip_initialised = true;
	}
	ip4_addr_set_u32(&addr, lwip_htonl(ns->net + 1));
	ip4_addr_set_u32(&mask, lwip_htonl(ns->mask));
	ip4_addr_set_u32(&gw, 0);
	if (!netif_add(&ns->netif, &addr, &mask, &gw, ns, netif_init_cb, ip4_input))
		goto fail_g;
	ns->netif_added = true;
	netif_set_default(&ns->netif);
	netif_set_link_up(&ns->netif);
	netif_set_up(&ns->netif);

	if (cfg->dns_ip) {
		ip_addr_t dns;

		ns->dns_pcb = udp_new_ip_type(IPADDR_TYPE_V4);
		if (!ns->dns_pcb)
			goto fail_g;
		ip4_set_host(&dns, cfg->dns_ip);
		if (udp_bind(ns->dns_pcb, &dns, 53) != ERR_OK)
			goto fail_g;
		udp_recv(ns->dns_pcb, on_udp, ns);
	}
	return ns;

fail_g:
	kt_netstack_free(ns);
	return NULL;
fail:
	kt_txbatch_free(ns->txb);
	free(ns->buckets);
	free(ns);
	return NULL;
}

void kt_netstack_free(struct kt_netstack *ns)
{
	size_t i;

	if (!ns)
		return;
	if (ns->txb)
		kt_txbatch_flush(ns->txb);
	/* Our handles: reset open connections and held SYNs, without callbacks. */
	for (i = 0; i < ns->nbuckets; i++) {
		struct kt_tcp *h;

		while ((h = ns->buckets[i]) != NULL) {
			if (h->state == ST_PENDING && h->list == &ns->pending)
				send_rst_for(ns, h->syn, h->syn_len);
			do_abort(h);
			conn_destroy(h);
		}
	}
	/* Connections lwIP still finishes on its own (closed by the owner, half-open, TIME_WAIT):
	 * they are only reachable through lwIP's private lists. */
	while (tcp_active_pcbs) {
		tcp_arg(tcp_active_pcbs, NULL);
		tcp_err(tcp_active_pcbs, NULL);
		tcp_abort(tcp_active_pcbs);
	}
	while (tcp_tw_pcbs)
		tcp_abort(tcp_tw_pcbs);
	for (i = 0; i < ns->nlisteners; i++)
		tcp_close(ns->listeners[i].pcb);
	free(ns->listeners);
	if (ns->dns_pcb)
		udp_remove(ns->dns_pcb);
	if (ns->netif_added)
		netif_remove(&ns->netif);
	kt_txbatch_free(ns->txb); /* the RSTs above went out unbatched: nothing is held */
	free(ns->buckets);
	if (g_ns == ns)
		g_ns = NULL;
	free(ns);
}

void kt_netstack_get_stats(const struct kt_netstack *ns, struct kt_netstack_stats *out)
{
	*out = ns->st;
}
