/* dnssrv.h: DNS service on the DNS VIP, UDP and TCP port 53, through the netstack.
 *
 * Every query is answered by the pure handler of dns.h from the DNS table of the mapping's
 * current snapshot (mapping.h), so DNS and forwarding always agree. UDP: one datagram in, one
 * out (the handler limits the size and sets TC). TCP (RFC 7766): length-prefixed messages,
 * pipelined queries answered in order; a connection idle for KT_DNSSRV_TCP_IDLE_MS is closed.
 * Received bytes are released to lwIP only as whole queries are answered and answers leave
 * only as lwIP has room (a client that does not read stops being read), so a TCP client costs
 * at most one receive window plus KT_DNSSRV_TCP_OUT_MAX of pending answers. */
#ifndef KT_DNSSRV_H
#define KT_DNSSRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "netstack.h"

struct kt_evloop;
struct kt_mapping;
struct kt_dnssrv;

#define KT_DNSSRV_TCP_IDLE_MS 10000u
#define KT_DNSSRV_TCP_OUT_MAX (2u * 65537u)

struct kt_dnssrv_config {
	struct kt_evloop *loop;
	struct kt_netstack *ns;
	struct kt_mapping *mapping;
	uint32_t dns_ip;
};

struct kt_dnssrv_stats {
	uint64_t udp_queries, tcp_queries, tcp_conns;
	uint64_t answered;   /* queries that got a response, any rcode */
	char last_name[256]; /* question of the last answered query, lower case, "" if none */
	uint16_t last_type;  /* its QTYPE */
	time_t last_at;	     /* when (wall clock), 0 if never */
};

struct kt_dnssrv *kt_dnssrv_new(const struct kt_dnssrv_config *cfg);
/* Resets open TCP connections and frees. NULL is a no-op. */
void kt_dnssrv_free(struct kt_dnssrv *d);

/* The netstack's udp callback (datagrams to dns_ip:53). */
void kt_dnssrv_udp(struct kt_dnssrv *d, uint32_t src, uint16_t src_port, const uint8_t *data,
		   size_t len);
/* The netstack's accept callback for SYNs to the DNS VIP: port 53 is accepted, any other
 * port refused. */
enum kt_netstack_verdict kt_dnssrv_accept(struct kt_dnssrv *d, struct kt_tcp *h,
					  const struct kt_netstack_flow *flow);

/* Until serving is set, every query gets SERVFAIL: before the first mapping table is known,
 * "no such name" would be a lie that resolvers cache (negative TTL), while SERVFAIL makes them
 * retry. The daemon sets it once every informer has listed (or after a startup timeout). */
void kt_dnssrv_set_serving(struct kt_dnssrv *d, bool serving);

void kt_dnssrv_get_stats(const struct kt_dnssrv *d, struct kt_dnssrv_stats *out);

#endif
