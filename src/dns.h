/* dns.h: the authoritative DNS responder for the cluster domain (protocol.md section 7).
 *
 * Two parts. A name table (struct kt_dns_table) is built from one mapping snapshot with the
 * kt_dns_table_add_* calls, then sealed; a sealed table is immutable, so any number of readers
 * may use it while the daemon builds the next one, and a new snapshot is published by swapping
 * the table pointer and freeing the old table once no reader holds it. The handler
 * (kt_dns_handle) is a pure function of (table, query bytes, flags): it allocates nothing,
 * keeps all state on the stack and never reads or writes outside the two buffers it is given.
 *
 * Names given to the table are text ("web.shop.svc.cluster.local", a trailing dot allowed),
 * labels of 1-63 characters from [A-Za-z0-9_-], at most 253 characters without the trailing dot.
 * They are stored lower-cased (spec section 2.1: every comparison is case-insensitive). Owner
 * names must lie inside the cluster domain; PTR owners are derived from the address and must lie
 * inside the reverse zone set with kt_dns_table_set_reverse_zone. IPv4 addresses are in host byte
 * order (198.19.0.1 is 0xc6130001).
 *
 * Built in to every table: the zone apex (SOA, NS ns.dns.<domain>), the name svc.<domain> (always
 * exists, so it is NODATA rather than NXDOMAIN), and dns-version.<domain> TXT "1.0.1" (spec
 * section 2.2). Add an A record for ns.dns.<domain> (the DNS VIP) if NS answers should carry
 * glue. Pod-IP names (a-b-c-d.ns.pod.<domain>, spec section 2.6) are not served: pod IPs are not
 * reachable through the tunnel, so those names are NXDOMAIN.
 *
 * Answer policy, in short: A for a name with A records lists all of them; any other type at an
 * existing name is NODATA; a name that does not exist in the zone is NXDOMAIN, but an ancestor of
 * an existing name (an empty non-terminal) is NODATA (RFC 8020); anything outside the cluster
 * domain and the reverse zone is REFUSED. CNAMEs are chased inside the table. QTYPE ANY returns
 * every record at the name (plus SOA and NS at the apex); no synthesis, no NOTIMP. Every TTL,
 * and the SOA minimum used for negative caching, is 5 seconds. See dns.c for the details. */
#ifndef KT_DNS_H
#define KT_DNS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct kt_dns_table;

/* Our EDNS0 UDP payload size (the DNS flag day 2020 value): the largest UDP answer we send. */
#define KT_DNS_EDNS_UDP_SIZE 1232
/* Every TTL we hand out, and the SOA minimum (negative-caching TTL, RFC 2308 section 5). */
#define KT_DNS_TTL 5
/* Largest DNS message (a TCP message carries a 16-bit length). */
#define KT_DNS_MAX_MSG 65535

/* kt_dns_handle flags: the transport the query came in on. */
#define KT_DNS_UDP 0x0u
#define KT_DNS_TCP 0x1u

/* A new, empty table for the given cluster domain ("cluster.local"). NULL on a bad domain or
 * out of memory. */
struct kt_dns_table *kt_dns_table_new(const char *cluster_domain);
/* kt_dns_table_free(NULL) is a no-op. */
void kt_dns_table_free(struct kt_dns_table *t);

/* Every add/set call below returns 0, -EINVAL (bad name, owner outside our zones), -EEXIST (a
 * CNAME would share its name with other data, RFC 1034 section 3.6.2), -EBUSY (table already
 * sealed) or -ENOMEM (after which seal fails too: free the table). Duplicate records are merged
 * at seal time. */

/* Claim the reverse zone for network/prefix_len (1..32): PTR queries for addresses inside it are
 * answered from the table (NXDOMAIN when unknown), those outside stay REFUSED. Call it before
 * kt_dns_table_add_ptr. Only one reverse zone per table. */
int kt_dns_table_set_reverse_zone(struct kt_dns_table *t, uint32_t network, unsigned prefix_len);
/* SOA serial (default 1); the daemon may pass a snapshot generation. */
int kt_dns_table_set_serial(struct kt_dns_table *t, uint32_t serial);
/* One A record; call several times for a headless Service (one per ready endpoint). */
int kt_dns_table_add_a(struct kt_dns_table *t, const char *fqdn, uint32_t ipv4);
/* One SRV record (RFC 2782) at fqdn, normally _<port>._<proto>.<svc>.<ns>.svc.<domain>. */
int kt_dns_table_add_srv(struct kt_dns_table *t, const char *fqdn, uint16_t priority,
			 uint16_t weight, uint16_t port, const char *target);
/* The CNAME of an ExternalName Service. The target may be outside the cluster domain; it is
 * then answered alone (we never claim other domains, so we never resolve it). */
int kt_dns_table_add_cname(struct kt_dns_table *t, const char *fqdn, const char *target);
/* A PTR record at the in-addr.arpa name of ipv4, which must be inside the reverse zone. */
int kt_dns_table_add_ptr(struct kt_dns_table *t, uint32_t ipv4, const char *target);
/* Finish building: after this, the table is read-only and may be shared. 0 or -ENOMEM (the
 * table is then unusable and must be freed). A second call is a no-op. */
int kt_dns_table_seal(struct kt_dns_table *t);
/* Number of distinct owner names, counting the empty non-terminals and built-in names. */
size_t kt_dns_table_name_count(const struct kt_dns_table *t);

/* Answers one DNS message (query, qlen bytes, without a TCP length prefix) into resp (respcap
 * bytes). flags is KT_DNS_UDP or KT_DNS_TCP: over UDP the answer is limited to 512 bytes, or to
 * min(the client's EDNS size, KT_DNS_EDNS_UDP_SIZE), and truncated at a record boundary with TC
 * set beyond that; over TCP only respcap (and 65535) limit it. Returns the response length, or 0
 * when nothing must be sent (the message is a response, is shorter than a DNS ID, or respcap is
 * below a DNS header). A table that is NULL or not sealed gets SERVFAIL. */
ssize_t kt_dns_handle(const struct kt_dns_table *t, const uint8_t *query, size_t qlen,
		      uint8_t *resp, size_t respcap, unsigned flags);

/* TCP framing (RFC 1035 section 4.2.2, RFC 7766): each message is preceded by its length as two
 * bytes, big-endian. kt_dns_tcp_frame_len looks at the head of a received byte stream and
 * returns the size of the first complete frame (2 + message length), or 0 when more bytes are
 * needed; the message is buf + 2, frame - 2 bytes long (it may be empty). */
size_t kt_dns_tcp_frame_len(const uint8_t *buf, size_t len);
/* kt_dns_handle for one message received over TCP, writing the framed response (length prefix
 * included) into resp. Returns the bytes to send (2 + response length), or 0 for nothing. */
ssize_t kt_dns_handle_tcp(const struct kt_dns_table *t, const uint8_t *msg, size_t msglen,
			  uint8_t *resp, size_t respcap);

#endif
