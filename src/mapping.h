/* mapping.h: the mapping table, (hostname, port) → (namespace, pods, pod port), and its VIPs.
 *
 * Three kinds of object:
 *   - struct kt_mapping, the long-lived owner: the VIP allocator (each hostname gets ONE VIP of
 *     the subnet, chosen once and persisted in <state_dir>/vips so a restart gives the same
 *     VIPs), the per-mapping statistics, and the current snapshot.
 *   - struct kt_mapping_builder: the next table, filled by the target resolver (targets.h) with
 *     kt_mapping_add_*() and turned into a snapshot by kt_mapping_commit().
 *   - struct kt_snapshot: immutable once published. It holds every mapping entry, an O(1) index
 *     by (VIP, port) and the sealed DNS table (dns.h) built from the same entries, so the DNS
 *     responder and the forwarding engine always read the same picture. Publishing a new
 *     snapshot is one pointer swap; readers that keep a snapshot past the current event take a
 *     reference (kt_snapshot_ref/unref).
 *
 * Entries carry the pods that may serve them (already filtered to ready, non-terminating pods,
 * with the pod port translated per pod), so choosing a pod per connection is a round-robin step
 * over entry->pods (kt_mapping_pick). Statistics are mutable objects shared by consecutive
 * snapshots (same hostname and port = same stats) and by the connections using them; they are
 * reference counted and outlive a mapping that disappears while connections still use it.
 *
 * VIP allocation: a new hostname prefers the address FNV-1a(hostname) picks inside the subnet
 * (so even a lost state file tends to give the same VIPs) and probes upward from there. The
 * network and broadcast addresses, the host's own address and the DNS VIP are never given out.
 * Names no longer mapped keep their VIP; only when the subnet is full is the VIP of the name
 * unused for longest reclaimed. The state file is rewritten atomically (temporary file, fsync,
 * rename, fsync of the directory) whenever an allocation changes, and on kt_mapping_free. */
#ifndef KT_MAPPING_H
#define KT_MAPPING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct kt_dns_table;
struct kt_mapping;
struct kt_mapping_builder;
struct kt_snapshot;

#define KT_MAPPING_ERR_MAX 256

/* Live counters of one (hostname, port) mapping, for the control socket and logs. */
struct kt_mapping_stats {
	uint64_t conns_total;  /* connections accepted (port-forward stream requested) */
	uint64_t conns_failed; /* of those, refused or reset because of an error */
	uint32_t conns_active; /* open right now */
	uint64_t bytes_in;     /* app → pod */
	uint64_t bytes_out;    /* pod → app */
	char last_error[KT_MAPPING_ERR_MAX]; /* "" if none */
	time_t last_error_time;		     /* wall clock, 0 if none */
	/* The most recent connection outcome was a failure (set with the error, cleared when a
	 * stream opens): status shows the mapping as "error" while there are pods. */
	bool last_failed;
	/* Private from here on. */
	uint32_t rr; /* round-robin position */
	unsigned refs;
	struct kt_mapping *owner; /* NULL once the owner is gone */
	char key[];		  /* "hostname:port" */
};

/* One pod that can serve a mapping, with the pod port to connect to. */
struct kt_mapping_pod {
	const char *name;
	uint16_t port;
};

struct kt_mapping_entry {
	const char *hostname;		   /* lower case FQDN without the trailing dot */
	uint32_t vip;			   /* host byte order */
	uint16_t port;			   /* the port the app connects to */
	const char *ns;			   /* namespace of the pods */
	const char *forward;		   /* the profile forward it came from, e.g. "svc/web" */
	const char *port_name;		   /* the Service/container port name, NULL if unnamed */
	const struct kt_mapping_pod *pods; /* ready pods, in a stable order */
	size_t npods;
	struct kt_mapping_stats *stats;
};

struct kt_mapping_config {
	const char *state_dir;	    /* created if missing; NULL: no persistence (tests) */
	const char *cluster_domain; /* "cluster.local" */
	uint32_t subnet;	    /* host byte order */
	uint8_t prefix_len;	    /* 8..30 */
	uint32_t dns_ip;	    /* never allocated; ns.dns.<domain> points at it */
	uint32_t host_ip;	    /* the device's own address, never allocated; 0: none */
};

/* Loads <state_dir>/vips if present (entries outside the subnet or malformed lines are skipped
 * with a warning). NULL with one line in err when the state directory cannot be created or
 * the configuration is invalid. */
struct kt_mapping *kt_mapping_new(const struct kt_mapping_config *cfg, char *err, size_t errcap);
/* Saves the state file, drops the current snapshot and frees. NULL is a no-op. Stats still
 * referenced by connections stay valid until their last kt_mapping_stats_unref(). */
void kt_mapping_free(struct kt_mapping *m);

/* The published snapshot: never NULL after kt_mapping_new (an empty table at first). Valid
 * until the next kt_mapping_commit unless referenced. */
const struct kt_snapshot *kt_mapping_current(const struct kt_mapping *m);
/* The VIP a hostname has been given (mapped now or earlier), or 0. */
uint32_t kt_mapping_vip_of(const struct kt_mapping *m, const char *hostname);

/* ---- building the next snapshot ---- */

struct kt_mapping_builder *kt_mapping_begin(struct kt_mapping *m);
/* Discards a builder without publishing it. NULL is a no-op. */
void kt_mapping_abort(struct kt_mapping_builder *b);

/* One TCP mapping. Strings and the pod array are copied. Returns 0, -EEXIST when the same
 * (hostname, port) was added before (the first one stays: profile order decides), -EINVAL for
 * an invalid hostname (labels of 1..63 of [a-z0-9-_], at most 253 characters, inside the
 * cluster domain) or port 0, or -ENOMEM. */
int kt_mapping_add_port(struct kt_mapping_builder *b, const char *hostname, uint16_t port,
			const char *ns, const char *forward, const char *port_name,
			const struct kt_mapping_pod *pods, size_t npods);
/* An extra A record: name answers with hostname's VIP (a headless Service's name answers one A
 * per ready pod this way). Ignored at commit when hostname got no port. 0, -EINVAL, -ENOMEM. */
int kt_mapping_add_alias(struct kt_mapping_builder *b, const char *name, const char *hostname);
/* SRV at name (e.g. "_http._tcp.web.shop.svc.cluster.local") pointing at target:port. */
int kt_mapping_add_srv(struct kt_mapping_builder *b, const char *name, uint16_t port,
		       const char *target);
/* CNAME at name (an ExternalName Service). */
int kt_mapping_add_cname(struct kt_mapping_builder *b, const char *name, const char *target);

/* Allocates VIPs for new hostnames, builds the DNS table, publishes the snapshot and consumes b
 * (also on failure). 0, or -errno with one line in err (-ENOSPC: the subnet is full of names
 * still mapped; the previous snapshot stays published). A failure to write the state file is
 * logged, not fatal. */
int kt_mapping_commit(struct kt_mapping *m, struct kt_mapping_builder *b, char *err, size_t errcap);

/* ---- reading a snapshot ---- */

const struct kt_mapping_entry *kt_snapshot_lookup(const struct kt_snapshot *s, uint32_t vip,
						  uint16_t port);
/* True when some mapping uses vip (any port). */
bool kt_snapshot_has_vip(const struct kt_snapshot *s, uint32_t vip);
const struct kt_dns_table *kt_snapshot_dns(const struct kt_snapshot *s);
uint64_t kt_snapshot_generation(const struct kt_snapshot *s);
/* Entries in the order they were added. */
size_t kt_snapshot_count(const struct kt_snapshot *s);
const struct kt_mapping_entry *kt_snapshot_entry(const struct kt_snapshot *s, size_t i);
struct kt_snapshot *kt_snapshot_ref(const struct kt_snapshot *s);
void kt_snapshot_unref(struct kt_snapshot *s); /* NULL is a no-op */

/* The pod for the next connection to e (round robin over e->pods), or NULL when there is
 * none. */
const struct kt_mapping_pod *kt_mapping_pick(const struct kt_mapping_entry *e);

/* ---- statistics ---- */

struct kt_mapping_stats *kt_mapping_stats_ref(struct kt_mapping_stats *st);
void kt_mapping_stats_unref(struct kt_mapping_stats *st); /* NULL is a no-op */
/* Records text as the last error. Returns true when it differs from the previous last error,
 * i.e. when the caller should log it (each distinct error is logged once). */
bool kt_mapping_stats_error(struct kt_mapping_stats *st, const char *text);

#endif
