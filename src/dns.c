/* dns.c: name table and pure query handler for the cluster DNS (see dns.h).
 *
 * Table layout. Owner names live lower-cased in wire form (length-prefixed labels, root label
 * included) in one byte arena; struct node is one owner name, found through an open-addressing
 * hash index (linear probing, load factor at most 1/2, so a lookup is one hash and a short
 * probe). Every ancestor of an owner name down to its zone apex is a node too, possibly without
 * records: that is how empty non-terminals answer NODATA instead of NXDOMAIN (RFC 8020), and the
 * invariant "a node's parent is a node" is kept by inserting ancestors with every new name.
 * Records (struct rr) are appended while building; kt_dns_table_seal sorts them by (node, kind,
 * data), merges duplicates, resolves every target name (CNAME, SRV) to its node once, and
 * records per node where its records start and how many there are of each kind. After that
 * nothing is written, so sealed tables may be read concurrently.
 *
 * Handler. A query is parsed once through bounded readers: the question name is copied twice
 * onto the stack (as sent, and lower-cased while being hashed), compression pointers in it are
 * expanded. The answer is written through a bounded writer whose capacity is the size limit of
 * the transport minus room for our OPT record, so an answer or authority record that does not
 * fit rolls back to the previous record boundary and sets TC; additional records that do not
 * fit are just left out (RFC 2181 section 9). The question is echoed uncompressed with the
 * client's case, so the answers' names can point at it (RFC 1035 section 4.1.4). */
#include "dns.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define HDR 12		 /* DNS header size */
#define NAME_WIRE 255	 /* RFC 1035 section 3.1: at most 255 octets in wire form */
#define NAME_TEXT 253	 /* the same limit in text, without the trailing dot */
#define MAX_LABELS 128	 /* 255 octets hold at most 127 one-byte labels plus the root */
#define MAX_PTR_HOPS 127 /* a legitimate name needs at most one pointer per label */
#define MAX_CNAME_HOPS 8 /* CNAME chain length we follow inside the table */
#define OPT_SIZE 11	 /* our OPT record: root, type, class, TTL, RDLENGTH 0 */
#define NO_NODE UINT32_MAX
#define PTR_MAX 0x3fff /* compression pointers hold 14-bit offsets */

/* Record kinds we store, in the order seal sorts them. */
enum { K_A, K_CNAME, K_PTR, K_TXT, K_SRV, K_N };
static const uint16_t kind_type[K_N] = {1, 5, 12, 16, 33};

enum {
	TY_A = 1,
	TY_NS = 2,
	TY_CNAME = 5,
	TY_SOA = 6,
	TY_PTR = 12,
	TY_TXT = 16,
	TY_SRV = 33,
	TY_OPT = 41,
	TY_TKEY = 249,
	TY_MAILA = 254,
	TY_ANY = 255,
};
enum { CL_IN = 1, CL_ANY = 255 };
enum {
	RC_NOERROR = 0,
	RC_FORMERR = 1,
	RC_SERVFAIL = 2,
	RC_NXDOMAIN = 3,
	RC_NOTIMP = 4,
	RC_REFUSED = 5,
	RC_BADVERS = 16, /* extended RCODE, RFC 6891 section 9 */
};
enum { S_AN, S_NS, S_AR };
enum zone { Z_NONE, Z_CLUSTER, Z_REVERSE };

/* SOA timers (RFC 1912 section 2.2 style values; nothing transfers this zone). */
#define SOA_REFRESH 7200
#define SOA_RETRY 1800
#define SOA_EXPIRE 86400

struct node {
	uint32_t hash;
	uint32_t name_off; /* lower-case wire name in the arena */
	uint8_t name_len;
	uint8_t kinds;	     /* bit (1 << K_x) for each kind present, kept while building */
	uint32_t first;	     /* index of the node's first record (sealed tables only) */
	uint32_t count[K_N]; /* records of each kind, in kind order from first */
};

struct rr {
	uint32_t node;
	uint32_t a;	   /* K_A, host byte order */
	uint32_t data_off; /* arena: target name (K_CNAME, K_PTR, K_SRV), strings (K_TXT) */
	uint32_t target;   /* node of the target name, or NO_NODE (resolved at seal) */
	uint16_t prio, weight, port;
	uint8_t kind;
	uint8_t data_len;
	bool target_in_zone; /* CNAME target inside the cluster domain (resolved at seal) */
};

struct kt_dns_table {
	uint8_t *arena; /* owned: every name and TXT string */
	size_t arena_len, arena_cap;
	struct node *nodes; /* owned */
	uint32_t n_nodes, cap_nodes;
	uint32_t *slots; /* owned: hash index, node index + 1, 0 = empty */
	uint32_t slot_mask;
	struct rr *rrs; /* owned */
	uint32_t n_rrs, cap_rrs;
	uint8_t domain[NAME_WIRE];
	uint8_t mname[NAME_WIRE]; /* ns.dns.<domain>, the SOA MNAME and our NS target */
	uint8_t rname[NAME_WIRE]; /* hostmaster.<domain>, the SOA RNAME */
	uint8_t domain_len, mname_len, rname_len;
	uint32_t rev_net;
	unsigned rev_prefix; /* 0: no reverse zone */
	uint32_t serial;
	uint32_t apex_node, ns_node;
	bool sealed;
	bool broken; /* an allocation failed half-way; seal refuses */
};

/* ---- names ---- */

static inline uint8_t lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + ('a' - 'A')) : c;
}

/* FNV-1a, finished with murmur3's avalanche so that linear probing sees well-spread low bits. */
#define HASH_INIT 2166136261u
static inline uint32_t hash_step(uint32_t h, uint8_t c)
{
	return (h ^ c) * 16777619u;
}

static inline uint32_t hash_fin(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

static uint32_t name_hash(const uint8_t *p, size_t n)
{
	uint32_t h = HASH_INIT;
	for (size_t i = 0; i < n; i++)
		h = hash_step(h, p[i]);
	return hash_fin(h);
}

static bool label_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/* Text name to lower-case wire form. Labels 1-63 characters of [A-Za-z0-9_-], 253 characters at
 * most without the optional trailing dot; the root alone is refused. */
static int text_to_wire(const char *s, uint8_t out[NAME_WIRE], size_t *outlen)
{
	size_t n = strnlen(s, NAME_TEXT + 2);
	if (n && s[n - 1] == '.')
		n--;
	if (n == 0 || n > NAME_TEXT)
		return -EINVAL;
	size_t o = 1, lpos = 0, llen = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (llen == 0)
				return -EINVAL;
			out[lpos] = (uint8_t)llen;
			lpos = o++;
			llen = 0;
			continue;
		}
		if (!label_char_ok(s[i]) || ++llen > 63)
			return -EINVAL;
		out[o++] = lower((uint8_t)s[i]);
	}
	if (llen == 0)
		return -EINVAL;
	out[lpos] = (uint8_t)llen;
	out[o++] = 0;
	*outlen = o;
	return 0;
}

/* Offsets of the labels of a well-formed wire name (root excluded); returns their number. */
static size_t label_offsets(const uint8_t *name, uint8_t offs[MAX_LABELS])
{
	size_t nl = 0, off = 0;
	while (name[off] != 0 && nl < MAX_LABELS) {
		offs[nl++] = (uint8_t)off;
		off += 1u + name[off];
	}
	return nl;
}

static bool is_label_start(const uint8_t *offs, size_t nl, size_t pos)
{
	for (size_t i = 0; i < nl; i++)
		if (offs[i] == pos)
			return true;
	return false;
}

/* One in-addr.arpa label as an octet: decimal 0-255, no leading zero (RFC 1035 section 3.5). */
static int octet_label(const uint8_t *lab)
{
	size_t n = lab[0];
	if (n == 0 || n > 3 || (n > 1 && lab[1] == '0'))
		return -1;
	int v = 0;
	for (size_t i = 1; i <= n; i++) {
		if (lab[i] < '0' || lab[i] > '9')
			return -1;
		v = v * 10 + (lab[i] - '0');
	}
	return v <= 255 ? v : -1;
}

static uint32_t prefix_mask(unsigned prefix)
{
	return prefix == 0 ? 0 : ~(uint32_t)0 << (32 - prefix);
}

static const uint8_t arpa_suffix[] = "\7in-addr\4arpa"; /* with its NUL: the root label */
#define ARPA_LEN sizeof(arpa_suffix)

/* Which of our zones holds a lower-case wire name, and where (offset) its apex starts in it.
 * The cluster zone is the domain and everything below it. The reverse zone is every
 * in-addr.arpa name whose first ceil(prefix/8) octet labels denote addresses inside the network;
 * its apex is that many octets long (for a /16, "19.198.in-addr.arpa"; for a /12 there are 16
 * such apexes). Anything else is Z_NONE: we answer REFUSED for it. */
static enum zone classify(const struct kt_dns_table *t, const uint8_t *name, size_t len,
			  size_t *apex_off)
{
	uint8_t offs[MAX_LABELS];
	size_t nl = label_offsets(name, offs);
	size_t dl = t->domain_len;
	if (len >= dl && memcmp(name + len - dl, t->domain, dl) == 0 &&
	    is_label_start(offs, nl, len - dl)) {
		*apex_off = len - dl;
		return Z_CLUSTER;
	}
	if (!t->rev_prefix || len < ARPA_LEN ||
	    memcmp(name + len - ARPA_LEN, arpa_suffix, ARPA_LEN) != 0 ||
	    !is_label_start(offs, nl, len - ARPA_LEN))
		return Z_NONE;
	/* Labels nl-1 and nl-2 are "arpa" and "in-addr"; octet m (1-based, most significant
	 * first) is label nl-2-m. */
	size_t j = (t->rev_prefix + 7) / 8;
	if (nl < 2 + j)
		return Z_NONE;
	uint32_t addr = 0;
	for (size_t m = 1; m <= j; m++) {
		int v = octet_label(name + offs[nl - 2 - m]);
		if (v < 0)
			return Z_NONE;
		addr |= (uint32_t)v << (8 * (4 - m));
	}
	if ((addr ^ t->rev_net) & prefix_mask(t->rev_prefix))
		return Z_NONE;
	*apex_off = offs[nl - 2 - j];
	return Z_REVERSE;
}

/* ---- table building ---- */

static int arena_put(struct kt_dns_table *t, const void *p, size_t n, uint32_t *off)
{
	if (n > t->arena_cap - t->arena_len) {
		size_t ncap = t->arena_cap ? t->arena_cap : 4096;
		while (ncap - t->arena_len < n) {
			if (ncap > UINT32_MAX / 2)
				return -ENOMEM;
			ncap *= 2;
		}
		uint8_t *na = realloc(t->arena, ncap);
		if (!na)
			return -ENOMEM;
		t->arena = na;
		t->arena_cap = ncap;
	}
	memcpy(t->arena + t->arena_len, p, n);
	*off = (uint32_t)t->arena_len;
	t->arena_len += n;
	return 0;
}

static uint32_t find(const struct kt_dns_table *t, const uint8_t *name, size_t len, uint32_t hash)
{
	if (!t->slots)
		return NO_NODE;
	for (uint32_t i = hash & t->slot_mask;; i = (i + 1) & t->slot_mask) {
		uint32_t s = t->slots[i];
		if (s == 0)
			return NO_NODE;
		const struct node *n = &t->nodes[s - 1];
		if (n->hash == hash && n->name_len == len &&
		    memcmp(t->arena + n->name_off, name, len) == 0)
			return s - 1;
	}
}

static void slot_insert(uint32_t *slots, uint32_t mask, uint32_t hash, uint32_t idx)
{
	uint32_t i = hash & mask;
	while (slots[i])
		i = (i + 1) & mask;
	slots[i] = idx + 1;
}

static int grow_index(struct kt_dns_table *t)
{
	uint32_t cap = t->slots ? (t->slot_mask + 1) * 2 : 64;
	if (cap == 0 || cap > (1u << 30))
		return -ENOMEM;
	uint32_t *ns = calloc(cap, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	for (uint32_t i = 0; i < t->n_nodes; i++)
		slot_insert(ns, cap - 1, t->nodes[i].hash, i);
	free(t->slots);
	t->slots = ns;
	t->slot_mask = cap - 1;
	return 0;
}

/* Node index of a name, creating it when absent; NO_NODE when out of memory. */
static uint32_t find_or_add(struct kt_dns_table *t, const uint8_t *name, size_t len, bool *created)
{
	uint32_t h = name_hash(name, len);
	uint32_t idx = find(t, name, len, h);
	*created = false;
	if (idx != NO_NODE)
		return idx;
	/* Keep the load factor at most 1/2 so probes stay short and find() always hits a hole. */
	if (!t->slots || (t->n_nodes + 1) > (t->slot_mask + 1) / 2)
		if (grow_index(t))
			return NO_NODE;
	if (t->n_nodes == t->cap_nodes) {
		uint32_t ncap = t->cap_nodes ? t->cap_nodes * 2 : 64;
		if (ncap > (1u << 30))
			return NO_NODE;
		struct node *nn = realloc(t->nodes, ncap * sizeof(*nn));
		if (!nn)
			return NO_NODE;
		t->nodes = nn;
		t->cap_nodes = ncap;
	}
	uint32_t off;
	if (arena_put(t, name, len, &off))
		return NO_NODE;
	idx = t->n_nodes++;
	t->nodes[idx] = (struct node){.hash = h, .name_off = off, .name_len = (uint8_t)len};
	slot_insert(t->slots, t->slot_mask, h, idx);
	*created = true;
	return idx;
}

/* Node of an owner name, with every ancestor down to the zone apex (at apex_off) made a node
 * too. An existing node already has its ancestors, so the walk stops at the first one found. */
static uint32_t insert_owner(struct kt_dns_table *t, const uint8_t *name, size_t len,
			     size_t apex_off)
{
	bool created;
	uint32_t idx = find_or_add(t, name, len, &created);
	if (idx == NO_NODE) {
		t->broken = true;
		return NO_NODE;
	}
	for (size_t off = 0; created && off < apex_off;) {
		off += 1u + name[off];
		if (find_or_add(t, name + off, len - off, &created) == NO_NODE) {
			t->broken = true; /* the ancestor invariant no longer holds */
			return NO_NODE;
		}
	}
	return idx;
}

static int add_rr(struct kt_dns_table *t, uint32_t node, struct rr rr, const uint8_t *data,
		  size_t dlen)
{
	if (t->n_rrs == t->cap_rrs) {
		uint32_t ncap = t->cap_rrs ? t->cap_rrs * 2 : 64;
		if (ncap > (1u << 30))
			return -ENOMEM;
		struct rr *nr = realloc(t->rrs, ncap * sizeof(*nr));
		if (!nr)
			return -ENOMEM;
		t->rrs = nr;
		t->cap_rrs = ncap;
	}
	rr.node = node;
	rr.target = NO_NODE;
	rr.data_len = (uint8_t)dlen;
	if (dlen && arena_put(t, data, dlen, &rr.data_off))
		return -ENOMEM;
	t->rrs[t->n_rrs++] = rr;
	t->nodes[node].kinds |= (uint8_t)(1u << rr.kind);
	return 0;
}

/* Parses an owner name that must be inside the cluster domain and returns its node in *node. */
static int cluster_owner(struct kt_dns_table *t, const char *fqdn, uint32_t *node)
{
	if (!t || !fqdn)
		return -EINVAL;
	if (t->sealed)
		return -EBUSY;
	uint8_t w[NAME_WIRE];
	size_t wl, apex_off;
	int rc = text_to_wire(fqdn, w, &wl);
	if (rc)
		return rc;
	if (classify(t, w, wl, &apex_off) != Z_CLUSTER)
		return -EINVAL;
	*node = insert_owner(t, w, wl, apex_off);
	return *node == NO_NODE ? -ENOMEM : 0;
}

struct kt_dns_table *kt_dns_table_new(const char *cluster_domain)
{
	uint8_t d[NAME_WIRE];
	size_t dl;
	if (!cluster_domain || text_to_wire(cluster_domain, d, &dl) ||
	    dl + sizeof("\13dns-version") - 1 > NAME_WIRE)
		return NULL;
	struct kt_dns_table *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->serial = 1;
	t->ns_node = NO_NODE;
	memcpy(t->domain, d, dl);
	t->domain_len = (uint8_t)dl;
	memcpy(t->mname, "\2ns\3dns", 7);
	memcpy(t->mname + 7, d, dl);
	t->mname_len = (uint8_t)(dl + 7);
	memcpy(t->rname, "\12hostmaster", 11);
	memcpy(t->rname + 11, d, dl);
	t->rname_len = (uint8_t)(dl + 11);

	uint8_t w[NAME_WIRE];
	bool created;
	t->apex_node = find_or_add(t, d, dl, &created);
	if (t->apex_node == NO_NODE)
		goto fail;
	/* svc.<domain> always exists in a cluster: NODATA, never NXDOMAIN. */
	memcpy(w, "\3svc", 4);
	memcpy(w + 4, d, dl);
	if (insert_owner(t, w, dl + 4, 4) == NO_NODE)
		goto fail;
	/* Spec section 2.2: dns-version.<zone> TXT carries the schema version. */
	memcpy(w, "\13dns-version", 12);
	memcpy(w + 12, d, dl);
	uint32_t v = insert_owner(t, w, dl + 12, 12);
	if (v == NO_NODE ||
	    add_rr(t, v, (struct rr){.kind = K_TXT}, (const uint8_t *)"\0051.0.1", 6))
		goto fail;
	return t;
fail:
	kt_dns_table_free(t);
	return NULL;
}

void kt_dns_table_free(struct kt_dns_table *t)
{
	if (!t)
		return;
	free(t->arena);
	free(t->nodes);
	free(t->slots);
	free(t->rrs);
	free(t);
}

int kt_dns_table_set_reverse_zone(struct kt_dns_table *t, uint32_t network, unsigned prefix_len)
{
	if (!t || prefix_len < 1 || prefix_len > 32)
		return -EINVAL;
	if (t->sealed)
		return -EBUSY;
	/* Changing the zone after PTRs were added would orphan their apex nodes. */
	if (t->rev_prefix)
		return -EEXIST;
	t->rev_net = network & prefix_mask(prefix_len);
	t->rev_prefix = prefix_len;
	return 0;
}

int kt_dns_table_set_serial(struct kt_dns_table *t, uint32_t serial)
{
	if (!t)
		return -EINVAL;
	if (t->sealed)
		return -EBUSY;
	t->serial = serial;
	return 0;
}

int kt_dns_table_add_a(struct kt_dns_table *t, const char *fqdn, uint32_t ipv4)
{
	uint32_t n;
	int rc = cluster_owner(t, fqdn, &n);
	if (rc)
		return rc;
	if (t->nodes[n].kinds & (1u << K_CNAME))
		return -EEXIST;
	return add_rr(t, n, (struct rr){.kind = K_A, .a = ipv4}, NULL, 0);
}

int kt_dns_table_add_srv(struct kt_dns_table *t, const char *fqdn, uint16_t priority,
			 uint16_t weight, uint16_t port, const char *target)
{
	uint8_t tw[NAME_WIRE];
	size_t tl;
	uint32_t n;
	if (!target || text_to_wire(target, tw, &tl))
		return -EINVAL;
	int rc = cluster_owner(t, fqdn, &n);
	if (rc)
		return rc;
	if (t->nodes[n].kinds & (1u << K_CNAME))
		return -EEXIST;
	struct rr rr = {.kind = K_SRV, .prio = priority, .weight = weight, .port = port};
	return add_rr(t, n, rr, tw, tl);
}

int kt_dns_table_add_cname(struct kt_dns_table *t, const char *fqdn, const char *target)
{
	uint8_t tw[NAME_WIRE];
	size_t tl;
	uint32_t n;
	if (!target || text_to_wire(target, tw, &tl))
		return -EINVAL;
	int rc = cluster_owner(t, fqdn, &n);
	if (rc)
		return rc;
	/* RFC 1034 section 3.6.2: a CNAME owner holds no other data; the apex holds SOA/NS. */
	if (n == t->apex_node || t->nodes[n].kinds)
		return -EEXIST;
	return add_rr(t, n, (struct rr){.kind = K_CNAME}, tw, tl);
}

int kt_dns_table_add_ptr(struct kt_dns_table *t, uint32_t ipv4, const char *target)
{
	uint8_t tw[NAME_WIRE], w[NAME_WIRE];
	size_t tl, apex_off;
	if (!t || !target || text_to_wire(target, tw, &tl))
		return -EINVAL;
	if (t->sealed)
		return -EBUSY;
	if (!t->rev_prefix || ((ipv4 ^ t->rev_net) & prefix_mask(t->rev_prefix)))
		return -EINVAL;
	/* RFC 1035 section 3.5: d.c.b.a.in-addr.arpa for a.b.c.d. */
	size_t o = 0;
	for (int i = 0; i < 4; i++) {
		unsigned v = (ipv4 >> (8 * i)) & 0xff;
		uint8_t digits[3];
		size_t nd = 0;
		do {
			digits[nd++] = (uint8_t)('0' + v % 10);
			v /= 10;
		} while (v);
		w[o++] = (uint8_t)nd;
		while (nd)
			w[o++] = digits[--nd];
	}
	memcpy(w + o, arpa_suffix, ARPA_LEN);
	o += ARPA_LEN;
	if (classify(t, w, o, &apex_off) != Z_REVERSE)
		return -EINVAL;
	uint32_t n = insert_owner(t, w, o, apex_off);
	if (n == NO_NODE)
		return -ENOMEM;
	return add_rr(t, n, (struct rr){.kind = K_PTR}, tw, tl);
}

static int data_cmp(const struct kt_dns_table *t, const struct rr *x, const struct rr *y)
{
	size_t n = x->data_len < y->data_len ? x->data_len : y->data_len;
	int c = memcmp(t->arena + x->data_off, t->arena + y->data_off, n);
	if (c)
		return c;
	return (x->data_len > y->data_len) - (x->data_len < y->data_len);
}

#define CMP3(a, b) (((a) > (b)) - ((a) < (b)))

/* Record order: by node, then kind, then data. SRV records sort by target first so that the
 * records sharing a target are adjacent (the handler adds each target's glue once). */
static int rr_cmp(const struct kt_dns_table *t, const struct rr *x, const struct rr *y)
{
	if (x->node != y->node)
		return CMP3(x->node, y->node);
	if (x->kind != y->kind)
		return CMP3(x->kind, y->kind);
	int c;
	switch (x->kind) {
	case K_A:
		return CMP3(x->a, y->a);
	case K_SRV:
		if ((c = data_cmp(t, x, y)) != 0)
			return c;
		if (x->prio != y->prio)
			return CMP3(x->prio, y->prio);
		if (x->weight != y->weight)
			return CMP3(x->weight, y->weight);
		return CMP3(x->port, y->port);
	default:
		return data_cmp(t, x, y);
	}
}

/* Bottom-up merge sort: stable, O(n log n), and unlike qsort it can see the arena without a
 * global or the non-portable qsort_r. */
static int sort_rrs(struct kt_dns_table *t)
{
	size_t n = t->n_rrs;
	if (n < 2)
		return 0;
	struct rr *tmp = malloc(n * sizeof(*tmp));
	if (!tmp)
		return -ENOMEM;
	struct rr *src = t->rrs, *dst = tmp;
	for (size_t width = 1; width < n; width *= 2) {
		for (size_t lo = 0; lo < n; lo += 2 * width) {
			size_t mid = lo + width < n ? lo + width : n;
			size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
			size_t i = lo, j = mid, k = lo;
			while (i < mid && j < hi)
				dst[k++] = rr_cmp(t, &src[j], &src[i]) < 0 ? src[j++] : src[i++];
			while (i < mid)
				dst[k++] = src[i++];
			while (j < hi)
				dst[k++] = src[j++];
		}
		struct rr *sw = src;
		src = dst;
		dst = sw;
	}
	if (src != t->rrs)
		memcpy(t->rrs, src, n * sizeof(*src));
	free(tmp);
	return 0;
}

int kt_dns_table_seal(struct kt_dns_table *t)
{
	if (!t)
		return -EINVAL;
	if (t->sealed)
		return 0;
	if (t->broken || sort_rrs(t))
		return -ENOMEM;
	uint32_t w = 0;
	for (uint32_t i = 0; i < t->n_rrs; i++) {
		if (w && rr_cmp(t, &t->rrs[w - 1], &t->rrs[i]) == 0)
			continue; /* RFC 2181 section 5: an RRset holds no duplicates */
		t->rrs[w++] = t->rrs[i];
	}
	t->n_rrs = w;
	for (uint32_t i = 0; i < t->n_nodes; i++) {
		t->nodes[i].first = 0;
		memset(t->nodes[i].count, 0, sizeof(t->nodes[i].count));
	}
	for (uint32_t i = 0; i < t->n_rrs; i++) {
		struct rr *rr = &t->rrs[i];
		struct node *n = &t->nodes[rr->node];
		if (i == 0 || t->rrs[i - 1].node != rr->node)
			n->first = i;
		n->count[rr->kind]++;
		if (rr->kind == K_CNAME || rr->kind == K_SRV) {
			const uint8_t *d = t->arena + rr->data_off;
			size_t apex_off;
			rr->target = find(t, d, rr->data_len, name_hash(d, rr->data_len));
			rr->target_in_zone = classify(t, d, rr->data_len, &apex_off) == Z_CLUSTER;
		}
	}
	t->ns_node = find(t, t->mname, t->mname_len, name_hash(t->mname, t->mname_len));
	t->sealed = true;
	return 0;
}

size_t kt_dns_table_name_count(const struct kt_dns_table *t)
{
	return t ? t->n_nodes : 0;
}

/* ---- query parsing ---- */

struct name_buf {
	uint8_t orig[NAME_WIRE];  /* as sent, pointers expanded */
	uint8_t lower[NAME_WIRE]; /* lower-cased */
	size_t len;
	uint32_t hash;	    /* of lower */
	uint64_t starts[4]; /* bit i: a label starts at offset i */
};

struct query {
	const uint8_t *msg;
	size_t len;
	uint16_t id;
	uint8_t b2; /* QR, opcode, AA, TC, RD */
	uint16_t qdcount, ancount, nscount, arcount;
	struct name_buf q;
	uint16_t qtype, qclass;
	bool edns, dnssec_ok;
	uint8_t edns_version;
	uint16_t udp_size;
};

/* Reads the name at *offp and leaves *offp just past it. RFC 1035 section 4.1.4: a pointer
 * refers to a prior occurrence of a name. We demand that every pointer lands strictly before the
 * start of the piece of name being read (the name itself, then the previous pointer's target):
 * offsets then strictly decrease, so no loop is possible, and a pointer forward is refused. In
 * the question that leaves only pointers into the header, which are legal if odd. Label types
 * 0x40 and 0x80 are refused (RFC 6891 section 5 retired them). */
static int read_name(const uint8_t *msg, size_t len, size_t *offp, struct name_buf *nb)
{
	struct kt_rd r = kt_rd_make(msg, len);
	kt_rd_skip(&r, *offp);
	size_t limit = *offp, end = 0, n = 0;
	unsigned hops = 0;
	uint32_t h = HASH_INIT;
	memset(nb->starts, 0, sizeof(nb->starts));
	for (;;) {
		uint8_t c = kt_rd_u8(&r);
		if (r.err)
			return -1;
		if ((c & 0xc0) == 0xc0) {
			size_t target = (size_t)(c & 0x3f) << 8;
			target |= kt_rd_u8(&r);
			if (r.err || target >= limit || ++hops > MAX_PTR_HOPS)
				return -1;
			if (hops == 1)
				end = r.off;
			limit = target;
			r = kt_rd_make(msg, len);
			kt_rd_skip(&r, target);
			continue;
		}
		if (c & 0xc0)
			return -1;
		if (n + 1 + c > NAME_WIRE)
			return -1;
		const uint8_t *lab = kt_rd_bytes(&r, c);
		if (!lab)
			return -1;
		nb->starts[n >> 6] |= (uint64_t)1 << (n & 63);
		nb->orig[n] = nb->lower[n] = c;
		h = hash_step(h, c);
		n++;
		for (size_t i = 0; i < c; i++, n++) {
			nb->orig[n] = lab[i];
			nb->lower[n] = lower(lab[i]);
			h = hash_step(h, nb->lower[n]);
		}
		if (c == 0)
			break;
	}
	nb->len = n;
	nb->hash = hash_fin(h);
	*offp = hops ? end : r.off;
	return 0;
}

/* Walks the additional section: remembers the OPT record (RFC 6891 section 6.1), skips the
 * rest. Returns -1 for a malformed message, which is answered FORMERR. */
static int parse_additional(struct query *q, size_t off)
{
	for (unsigned i = 0; i < q->arcount; i++) {
		size_t start = off;
		if (off < q->len && q->msg[off] == 0) {
			off++;
		} else {
			struct name_buf skip;
			if (read_name(q->msg, q->len, &off, &skip))
				return -1;
		}
		bool root = off == start + 1;
		struct kt_rd r = kt_rd_make(q->msg, q->len);
		kt_rd_skip(&r, off);
		uint16_t type = kt_rd_u16be(&r), cls = kt_rd_u16be(&r);
		uint32_t ttl = kt_rd_u32be(&r);
		uint16_t rdlen = kt_rd_u16be(&r);
		const uint8_t *rd = kt_rd_bytes(&r, rdlen);
		if (r.err)
			return -1;
		off = r.off;
		if (type != TY_OPT)
			continue;
		/* Section 6.1.1: the owner is the root, and more than one OPT is a FORMERR. */
		if (!root || q->edns)
			return -1;
		q->edns = true;
		q->udp_size = cls;
		q->edns_version = (uint8_t)(ttl >> 16);
		q->dnssec_ok = ttl & 0x8000; /* RFC 3225 section 3: copied into the answer */
		/* Section 6.1.2: the options must exactly fill RDATA. We act on none of them. */
		struct kt_rd o = kt_rd_make(rd, rdlen);
		while (kt_rd_left(&o)) {
			kt_rd_skip(&o, 2);
			kt_rd_skip(&o, kt_rd_u16be(&o));
		}
		if (o.err)
			return -1;
	}
	return 0;
}

/* ---- answer writing ---- */

struct out {
	struct kt_wr w; /* capacity: the size limit minus room for our OPT record */
	const struct query *q;
	uint16_t count[3];
	bool full;    /* an answer or authority record did not fit: TC, and nothing more */
	bool ar_full; /* an additional record did not fit: no more additional records */
};

static bool q_label_at(const struct name_buf *nb, size_t j)
{
	return nb->starts[j >> 6] >> (j & 63) & 1;
}

/* Writes a lower-case wire name, replacing its longest suffix that is also a suffix of the
 * question name with a pointer into the question (which starts at offset HDR). */
static void put_name(struct out *o, const uint8_t *name, size_t len)
{
	const struct name_buf *qn = &o->q->q;
	for (size_t i = 0; i + 1 < len; i += 1u + name[i]) {
		size_t rem = len - i;
		if (rem > qn->len)
			continue;
		size_t j = qn->len - rem;
		if (q_label_at(qn, j) && memcmp(qn->lower + j, name + i, rem) == 0) {
			kt_wr_bytes(&o->w, name, i);
			kt_wr_u16be(&o->w, (uint16_t)(0xc000 | (HDR + j)));
			return;
		}
	}
	kt_wr_bytes(&o->w, name, len);
}

/* Owner names are given as where they already are in the message (owner_off) when that can be
 * pointed at, else written out (name, len). */
struct owner {
	size_t off;
	const uint8_t *name;
	size_t len;
};

static bool rr_open(struct out *o, int sect, const struct owner *ow, uint16_t type, size_t *mark,
		    size_t *rdstart)
{
	if (o->full || (sect == S_AR && o->ar_full) || o->count[sect] == UINT16_MAX)
		return false;
	*mark = o->w.off;
	if (ow->off >= HDR && ow->off <= PTR_MAX)
		kt_wr_u16be(&o->w, (uint16_t)(0xc000 | ow->off));
	else
		put_name(o, ow->name, ow->len);
	kt_wr_u16be(&o->w, type);
	kt_wr_u16be(&o->w, CL_IN);
	kt_wr_u32be(&o->w, KT_DNS_TTL);
	kt_wr_u16be(&o->w, 0); /* RDLENGTH, patched by rr_close */
	*rdstart = o->w.off;
	return true;
}

static bool rr_close(struct out *o, int sect, size_t mark, size_t rdstart)
{
	if (o->w.err) {
		/* Roll back to the record boundary. */
		o->w.off = mark;
		o->w.err = false;
		if (sect == S_AR)
			o->ar_full = true;
		else
			o->full = true;
		return false;
	}
	size_t rdlen = o->w.off - rdstart;
	o->w.p[rdstart - 2] = (uint8_t)(rdlen >> 8);
	o->w.p[rdstart - 1] = (uint8_t)rdlen;
	o->count[sect]++;
	return true;
}

/* One stored record; *name_at gets the offset of its target name in the message. */
static bool put_rr(struct out *o, int sect, const struct owner *ow, const struct kt_dns_table *t,
		   const struct rr *rr, size_t *name_at)
{
	size_t mark, rd;
	if (!rr_open(o, sect, ow, kind_type[rr->kind], &mark, &rd))
		return false;
	const uint8_t *data = t->arena + rr->data_off;
	switch (rr->kind) {
	case K_A:
		kt_wr_u32be(&o->w, rr->a);
		break;
	case K_CNAME:
	case K_PTR:
		*name_at = o->w.off;
		put_name(o, data, rr->data_len);
		break;
	case K_TXT:
		kt_wr_bytes(&o->w, data, rr->data_len);
		break;
	case K_SRV:
		kt_wr_u16be(&o->w, rr->prio);
		kt_wr_u16be(&o->w, rr->weight);
		kt_wr_u16be(&o->w, rr->port);
		/* RFC 2782: the SRV target is never compressed. */
		*name_at = o->w.off;
		kt_wr_bytes(&o->w, data, rr->data_len);
		break;
	}
	return rr_close(o, sect, mark, rd);
}

static struct owner apex_owner(const struct out *o, size_t apex_off)
{
	return (struct owner){HDR + apex_off, o->q->q.lower + apex_off, o->q->q.len - apex_off};
}

static bool put_soa(struct out *o, const struct kt_dns_table *t, int sect, size_t apex_off)
{
	struct owner ow = apex_owner(o, apex_off);
	size_t mark, rd;
	if (!rr_open(o, sect, &ow, TY_SOA, &mark, &rd))
		return false;
	put_name(o, t->mname, t->mname_len);
	put_name(o, t->rname, t->rname_len);
	kt_wr_u32be(&o->w, t->serial);
	kt_wr_u32be(&o->w, SOA_REFRESH);
	kt_wr_u32be(&o->w, SOA_RETRY);
	kt_wr_u32be(&o->w, SOA_EXPIRE);
	kt_wr_u32be(&o->w, KT_DNS_TTL); /* RFC 2308 section 4: the negative-caching TTL */
	return rr_close(o, sect, mark, rd);
}

static bool put_ns(struct out *o, const struct kt_dns_table *t, size_t apex_off, size_t *name_at)
{
	struct owner ow = apex_owner(o, apex_off);
	size_t mark, rd;
	if (!rr_open(o, S_AN, &ow, TY_NS, &mark, &rd))
		return false;
	*name_at = o->w.off;
	put_name(o, t->mname, t->mname_len);
	return rr_close(o, S_AN, mark, rd);
}

static uint32_t kind_first(const struct node *n, int k)
{
	uint32_t f = n->first;
	for (int i = 0; i < k; i++)
		f += n->count[i];
	return f;
}

/* The A records of a node into the additional section, owned by the name at (off, name, len). */
static void put_glue(struct out *o, const struct kt_dns_table *t, uint32_t node,
		     const struct owner *ow)
{
	const struct node *n = &t->nodes[node];
	uint32_t f = kind_first(n, K_A);
	size_t dummy;
	for (uint32_t i = 0; i < n->count[K_A]; i++)
		if (!put_rr(o, S_AR, ow, t, &t->rrs[f + i], &dummy))
			return;
}

/* Skips one name that we wrote ourselves (labels, then a root or a pointer). */
static size_t skip_own_name(const uint8_t *p, size_t off)
{
	while (p[off] != 0 && (p[off] & 0xc0) != 0xc0)
		off += 1u + p[off];
	return off + (p[off] == 0 ? 1 : 2);
}

/* The records of one kind at a node into the answer section; for SRV, the targets' A records
 * into the additional section, once per target. */
static void put_set(struct out *o, const struct kt_dns_table *t, const struct node *n, int k,
		    const struct owner *ow)
{
	uint32_t f = kind_first(n, k), written = 0;
	size_t start = o->w.off, dummy;
	for (uint32_t i = 0; i < n->count[k]; i++, written++)
		if (!put_rr(o, S_AN, ow, t, &t->rrs[f + i], &dummy))
			return;
	if (k != K_SRV)
		return;
	/* Find each SRV target again in what we wrote, for the glue's owner pointers. */
	uint32_t prev = NO_NODE;
	size_t pos = start;
	for (uint32_t i = 0; i < written && !o->ar_full; i++) {
		const struct rr *rr = &t->rrs[f + i];
		size_t name_at = skip_own_name(o->w.p, pos) + 10 + 6;
		pos = name_at + rr->data_len;
		if (rr->target == NO_NODE || rr->target == prev)
			continue;
		prev = rr->target;
		struct owner gow = {name_at, t->arena + rr->data_off, rr->data_len};
		put_glue(o, t, rr->target, &gow);
	}
}

static int kind_of(uint16_t qtype)
{
	for (int k = 0; k < K_N; k++)
		if (kind_type[k] == qtype)
			return k;
	return -1;
}

/* The answer for a name inside one of our zones, or REFUSED. Returns the RCODE. */
static int answer(const struct kt_dns_table *t, const struct query *q, struct out *o, bool *aa)
{
	size_t apex_off;
	if (classify(t, q->q.lower, q->q.len, &apex_off) == Z_NONE)
		return RC_REFUSED;
	*aa = true;
	bool apex = apex_off == 0;
	uint32_t ni = find(t, q->q.lower, q->q.len, q->q.hash);
	if (ni == NO_NODE && !apex) {
		put_soa(o, t, S_NS, apex_off);
		return RC_NXDOMAIN;
	}
	/* A reverse-zone apex exists even when no PTR made it a node. */
	const struct node *n = ni == NO_NODE ? NULL : &t->nodes[ni];
	struct owner ow = {HDR, q->q.lower, q->q.len};
	uint16_t qt = q->qtype;
	size_t name_at;

	if (qt == TY_ANY) {
		/* ANY: every record at the name, no synthesis (RFC 8482 would allow less). */
		if (apex && (!put_soa(o, t, S_AN, 0) || !put_ns(o, t, 0, &name_at)))
			return RC_NOERROR;
		uint32_t total = n ? kind_first(n, K_N) - n->first : 0;
		for (uint32_t i = 0; i < total; i++)
			if (!put_rr(o, S_AN, &ow, t, &t->rrs[n->first + i], &name_at))
				return RC_NOERROR;
		if (o->count[S_AN] == 0)
			put_soa(o, t, S_NS, apex_off);
		return RC_NOERROR;
	}
	if (apex && qt == TY_SOA) {
		put_soa(o, t, S_AN, 0);
		return RC_NOERROR;
	}
	if (apex && qt == TY_NS) {
		if (put_ns(o, t, 0, &name_at) && t->ns_node != NO_NODE) {
			struct owner gow = {name_at, t->mname, t->mname_len};
			put_glue(o, t, t->ns_node, &gow);
		}
		return RC_NOERROR;
	}
	/* RFC 1034 section 3.6.2: at a CNAME, answer it and go on at its target, as long as the
	 * target is ours. */
	for (int hop = 0; n && n->count[K_CNAME] && qt != TY_CNAME; hop++) {
		if (hop == MAX_CNAME_HOPS)
			return RC_NOERROR; /* a loop in the table: stop with the chain so far */
		const struct rr *c = &t->rrs[kind_first(n, K_CNAME)];
		if (!put_rr(o, S_AN, &ow, t, c, &name_at))
			return RC_NOERROR;
		if (c->target == NO_NODE) {
			if (!c->target_in_zone)
				return RC_NOERROR; /* not ours: the client resolves it elsewhere */
			put_soa(o, t, S_NS, apex_off);
			return RC_NXDOMAIN; /* RFC 6604 section 3: the RCODE of the last name */
		}
		ow = (struct owner){name_at, t->arena + c->data_off, c->data_len};
		n = &t->nodes[c->target];
	}
	int k = kind_of(qt);
	if (n && k >= 0 && n->count[k]) {
		put_set(o, t, n, k, &ow);
		return RC_NOERROR;
	}
	/* NODATA (RFC 2308 section 2.2): the name exists, the type does not. */
	put_soa(o, t, S_NS, apex_off);
	return RC_NOERROR;
}

static void put_header(uint8_t *p, uint16_t id, uint8_t b2, uint8_t b3, const uint16_t c[4])
{
	p[0] = (uint8_t)(id >> 8);
	p[1] = (uint8_t)id;
	p[2] = b2;
	p[3] = b3;
	for (int i = 0; i < 4; i++) {
		p[4 + 2 * i] = (uint8_t)(c[i] >> 8);
		p[5 + 2 * i] = (uint8_t)c[i];
	}
}

/* QR set, opcode and RD copied from the query (RFC 1035 section 4.1.1). */
static uint8_t reply_b2(uint8_t qb2)
{
	return (uint8_t)(0x80 | (qb2 & 0x78) | (qb2 & 0x01));
}

static ssize_t header_only(const struct query *q, uint8_t *resp, int rcode)
{
	static const uint16_t zero[4];
	put_header(resp, q->id, reply_b2(q->b2), (uint8_t)rcode, zero);
	return HDR;
}

ssize_t kt_dns_handle(const struct kt_dns_table *t, const uint8_t *query, size_t qlen,
		      uint8_t *resp, size_t respcap, unsigned flags)
{
	if (!query || !resp || qlen < 2 || respcap < HDR)
		return 0;
	struct query q;
	q.msg = query;
	q.len = qlen;
	q.id = (uint16_t)(query[0] << 8 | query[1]);
	q.b2 = qlen >= 3 ? query[2] : 0;
	/* Never answer a response: two servers could bounce errors at each other forever. */
	if (q.b2 & 0x80)
		return 0;
	if (qlen < HDR)
		return header_only(&q, resp, RC_FORMERR);
	if ((q.b2 >> 3 & 0xf) != 0)
		return header_only(&q, resp, RC_NOTIMP);

	struct kt_rd r = kt_rd_make(query, qlen);
	kt_rd_skip(&r, 4);
	q.qdcount = kt_rd_u16be(&r);
	q.ancount = kt_rd_u16be(&r);
	q.nscount = kt_rd_u16be(&r);
	q.arcount = kt_rd_u16be(&r);
	if (q.qdcount != 1 || q.ancount || q.nscount)
		return header_only(&q, resp, RC_FORMERR);
	size_t off = HDR;
	if (read_name(query, qlen, &off, &q.q))
		return header_only(&q, resp, RC_FORMERR);
	r = kt_rd_make(query, qlen);
	kt_rd_skip(&r, off);
	q.qtype = kt_rd_u16be(&r);
	q.qclass = kt_rd_u16be(&r);
	if (r.err)
		return header_only(&q, resp, RC_FORMERR);
	q.edns = q.dnssec_ok = false;
	q.edns_version = 0;
	q.udp_size = 0;
	int rcode = RC_NOERROR;
	if (parse_additional(&q, r.off)) {
		rcode = RC_FORMERR;
		q.edns = false; /* no OPT in a FORMERR: we could not trust the one we saw */
	}

	/* Size limit: 512 over UDP without EDNS (RFC 1035 section 4.2.1), else the client's
	 * payload size (at least 512, RFC 6891 section 6.2.5) capped at ours; TCP: 65535. */
	size_t limit = respcap < KT_DNS_MAX_MSG ? respcap : KT_DNS_MAX_MSG;
	if (!(flags & KT_DNS_TCP)) {
		size_t u = 512;
		if (q.edns) {
			u = q.udp_size < 512 ? 512 : q.udp_size;
			u = u < KT_DNS_EDNS_UDP_SIZE ? u : KT_DNS_EDNS_UDP_SIZE;
		}
		limit = limit < u ? limit : u;
	}
	size_t reserve = q.edns && limit >= HDR + OPT_SIZE ? OPT_SIZE : 0;

	struct out o = {.w = kt_wr_make(resp, limit - reserve), .q = &q};
	o.w.off = HDR;
	uint16_t qd = 1;
	kt_wr_bytes(&o.w, q.q.orig, q.q.len); /* the client's bytes and case (pointers expanded) */
	kt_wr_u16be(&o.w, q.qtype);
	kt_wr_u16be(&o.w, q.qclass);
	if (o.w.err) {
		o.w.off = HDR;
		o.w.err = false;
		o.full = true;
		qd = 0;
	}

	bool aa = false;
	if (rcode == RC_NOERROR) {
		if (q.edns && q.edns_version != 0)
			rcode = RC_BADVERS; /* RFC 6891 section 6.1.3 */
		else if (q.qtype == TY_OPT)
			rcode = RC_FORMERR; /* a pseudo-type: nothing to ask for */
		else if (q.qtype >= TY_TKEY && q.qtype <= TY_MAILA)
			rcode = RC_NOTIMP; /* TKEY, TSIG, IXFR, AXFR, MAILB, MAILA */
		else if (q.qclass != CL_IN && q.qclass != CL_ANY)
			rcode = RC_REFUSED; /* CHAOS and friends: not our zone */
		else if (!t || !t->sealed)
			rcode = RC_SERVFAIL;
		else if (!o.full)
			rcode = answer(t, &q, &o, &aa);
	}

	if (reserve) {
		/* RFC 6891 section 6.1.2/6.1.3: root owner, our payload size in CLASS, extended
		 * RCODE and version 0 in the TTL, DO copied (RFC 3225 section 3). */
		o.w.cap = limit;
		kt_wr_u8(&o.w, 0);
		kt_wr_u16be(&o.w, TY_OPT);
		kt_wr_u16be(&o.w, KT_DNS_EDNS_UDP_SIZE);
		kt_wr_u8(&o.w, (uint8_t)(rcode >> 4));
		kt_wr_u8(&o.w, 0);
		kt_wr_u16be(&o.w, q.dnssec_ok ? 0x8000 : 0);
		kt_wr_u16be(&o.w, 0);
		o.count[S_AR]++;
	}
	uint8_t b2 = (uint8_t)(reply_b2(q.b2) | (aa ? 0x04 : 0) | (o.full ? 0x02 : 0));
	uint16_t counts[4] = {qd, o.count[S_AN], o.count[S_NS], o.count[S_AR]};
	put_header(resp, q.id, b2, (uint8_t)(rcode & 0xf), counts);
	return (ssize_t)o.w.off;
}

size_t kt_dns_tcp_frame_len(const uint8_t *buf, size_t len)
{
	if (!buf || len < 2)
		return 0;
	size_t n = (size_t)buf[0] << 8 | buf[1];
	return len - 2 >= n ? n + 2 : 0;
}

ssize_t kt_dns_handle_tcp(const struct kt_dns_table *t, const uint8_t *msg, size_t msglen,
			  uint8_t *resp, size_t respcap)
{
	if (!resp || respcap < 2)
		return 0;
	ssize_t n = kt_dns_handle(t, msg, msglen, resp + 2, respcap - 2, KT_DNS_TCP);
	if (n <= 0)
		return n;
	resp[0] = (uint8_t)(n >> 8);
	resp[1] = (uint8_t)n;
	return n + 2;
}
