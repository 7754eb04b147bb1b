/* mapping.c: mapping table snapshots, the persisted VIP allocator and per-mapping statistics
 * (see mapping.h).
 *
 * Ownership: struct kt_mapping owns the allocator entries (struct vipent), the statistics
 * registry (key "hostname:port" → stats, the stats themselves reference counted) and one
 * reference on the current snapshot. A snapshot owns an arena holding every string and pod
 * array of its entries, the entry array, the (VIP, port) index and the sealed DNS table; it
 * holds one stats reference per entry. A builder owns the arena and vectors that become the
 * snapshot's at commit. Everything runs on the daemon's one thread. */
#include "mapping.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dns.h"
#include "log.h"
#include "strmap.h"

/* ---- arena: bump allocation in chunks, freed at once ---- */

struct chunk {
	struct chunk *next;
	size_t used, cap;
	_Alignas(max_align_t) unsigned char data[];
};

struct arena {
	struct chunk *head;
};

#define ARENA_CHUNK 65536u

static void *arena_alloc(struct arena *a, size_t n)
{
	struct chunk *c = a->head;
	size_t need = (n + 15u) & ~(size_t)15u;

	if (!c || c->cap - c->used < need) {
		size_t cap = need > ARENA_CHUNK ? need : ARENA_CHUNK;

		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->cap = cap;
		c->used = 0;
		c->next = a->head;
		a->head = c;
	}
	void *p = c->data + c->used;
	c->used += need;
	return p;
}

static char *arena_strdup_lower(struct arena *a, const char *s)
{
	size_t n = strlen(s);
	char *d = arena_alloc(a, n + 1);

	if (!d)
		return NULL;
	for (size_t i = 0; i < n; i++)
		d[i] = (char)tolower((unsigned char)s[i]);
	d[n] = '\0';
	return d;
}

static char *arena_strdup(struct arena *a, const char *s)
{
	size_t n = strlen(s);
	char *d = arena_alloc(a, n + 1);

	if (d)
		memcpy(d, s, n + 1);
	return d;
}

static void arena_free(struct arena *a)
{
	while (a->head) {
		struct chunk *n = a->head->next;

		free(a->head);
		a->head = n;
	}
}

/* ---- u64 → pointer map (open addressing, no deletion needed) ---- */

struct u64slot {
	uint64_t key; /* 0 = empty; keys are never 0 here */
	void *val;
};

struct u64map {
	struct u64slot *s;
	size_t cap, count;
};

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static void **u64map_slot(struct u64map *m, uint64_t key, bool create)
{
	if (create && (m->count + 1) * 10 >= m->cap * 7) {
		size_t ncap = m->cap ? m->cap * 2 : 64;
		struct u64slot *ns = calloc(ncap, sizeof(*ns));

		if (!ns)
			return NULL;
		for (size_t i = 0; i < m->cap; i++) {
			if (!m->s[i].key)
				continue;
			size_t j = mix64(m->s[i].key) & (ncap - 1);
			while (ns[j].key)
				j = (j + 1) & (ncap - 1);
			ns[j] = m->s[i];
		}
		free(m->s);
		m->s = ns;
		m->cap = ncap;
	}
	if (!m->cap)
		return NULL;
	for (size_t i = mix64(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (m->s[i].key == key)
			return &m->s[i].val;
		if (!m->s[i].key) {
			if (!create)
				return NULL;
			m->s[i].key = key;
			m->count++;
			return &m->s[i].val;
		}
	}
}

static void *u64map_get(const struct u64map *m, uint64_t key)
{
	if (!m->cap)
		return NULL;
	for (size_t i = mix64(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (m->s[i].key == key)
			return m->s[i].val;
		if (!m->s[i].key)
			return NULL;
	}
}

/* Removal for the allocator map (reclaiming a VIP): backward shift as in strmap.c. */
static void u64map_del(struct u64map *m, uint64_t key)
{
	size_t mask, i, j;

	if (!m->cap)
		return;
	mask = m->cap - 1;
	for (i = mix64(key) & mask; m->s[i].key != key; i = (i + 1) & mask)
		if (!m->s[i].key)
			return;
	m->s[i] = (struct u64slot){0};
	for (j = (i + 1) & mask; m->s[j].key; j = (j + 1) & mask) {
		size_t home = mix64(m->s[j].key) & mask;

		if (((j - home) & mask) >= ((j - i) & mask)) {
			m->s[i] = m->s[j];
			m->s[j] = (struct u64slot){0};
			i = j;
		}
	}
	m->count--;
}

static void u64map_fini(struct u64map *m)
{
	free(m->s);
	*m = (struct u64map){0};
}

/* ---- types ---- */

struct vipent {
	char *name;
	uint32_t vip;
	int64_t last_used; /* wall clock seconds */
	uint64_t gen;	   /* snapshot generation that last mapped it */
};

struct kt_snapshot {
	unsigned refs;
	uint64_t gen;
	struct arena arena;
	struct kt_mapping_entry *entries;
	size_t nentries;
	struct u64map index; /* (vip << 16 | port) → entry + 1; (vip << 16) → marker */
	struct kt_dns_table *dns;
};

struct kt_mapping {
	char *state_dir;
	char *domain;
	uint32_t subnet, mask, dns_ip, host_ip;
	uint8_t prefix_len;
	struct kt_strmap *by_name; /* hostname → vipent */
	struct u64map by_vip;	   /* vip → vipent */
	struct kt_strmap *stats;   /* "hostname:port" → stats */
	struct kt_snapshot *cur;
	uint64_t gen;
};

struct bhost {
	const char *name;
	size_t first_port; /* index of its first entry, for nothing but stable order */
	struct vipent *ent;
};

struct pair {
	const char *a, *b;
	uint16_t port;
};

struct kt_mapping_builder {
	struct kt_mapping *m;
	struct arena arena;
	struct kt_strmap *hosts; /* hostname → bhost (arena) */
	struct kt_strmap *keys;	 /* "hostname:port" → marker */
	struct bhost **horder;
	size_t nhosts, caphosts;
	struct kt_mapping_entry *entries;
	size_t nentries, capentries;
	struct pair *aliases, *srvs, *cnames;
	size_t naliases, nsrvs, ncnames, capaliases, capsrvs, capcnames;
	bool failed; /* an allocation failed: commit refuses */
};

/* ---- names ---- */

/* A hostname we may publish: labels of 1..63 characters of [a-z0-9-_] (Kubernetes names are
 * lower case already; we also lower-case what we store), at most 253 characters, and either the
 * cluster domain itself or a name below it. */
static bool valid_name(const struct kt_mapping *m, const char *s)
{
	size_t n = strlen(s), dn = strlen(m->domain), label = 0;

	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!isalnum(c) && c != '-' && c != '_')
			return false;
		if (++label > 63)
			return false;
	}
	if (label == 0)
		return false;
	if (n == dn)
		return strcasecmp(s, m->domain) == 0;
	return n > dn && s[n - dn - 1] == '.' && strcasecmp(s + n - dn, m->domain) == 0;
}

static void format_ip(uint32_t ip, char *buf, size_t cap)
{
	struct in_addr a = {.s_addr = htonl(ip)};

	if (!inet_ntop(AF_INET, &a, buf, (socklen_t)cap))
		snprintf(buf, cap, "?");
}

/* ---- VIP allocator ---- */

static bool vip_reserved(const struct kt_mapping *m, uint32_t ip)
{
	uint32_t host = ip & ~m->mask;

	return host == 0 || host == ~m->mask || ip == m->dns_ip || ip == m->host_ip;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

static struct vipent *vip_add(struct kt_mapping *m, const char *name, uint32_t vip,
			      int64_t last_used)
{
	struct vipent *e = calloc(1, sizeof(*e));
	void **slot;

	if (!e || !(e->name = strdup(name)))
		goto fail;
	e->vip = vip;
	e->last_used = last_used;
	if (kt_strmap_put(m->by_name, name, e, NULL))
		goto fail;
	slot = u64map_slot(&m->by_vip, vip, true);
	if (!slot) {
		kt_strmap_del(m->by_name, name);
		goto fail;
	}
	*slot = e;
	return e;
fail:
	if (e)
		free(e->name);
	free(e);
	return NULL;
}

static void vip_remove(struct kt_mapping *m, struct vipent *e)
{
	kt_strmap_del(m->by_name, e->name);
	u64map_del(&m->by_vip, e->vip);
	free(e->name);
	free(e);
}

/* A VIP for a name that has none. gen is the generation being built: names it maps are in use
 * and cannot be reclaimed. NULL with errno ENOSPC or ENOMEM. */
static struct vipent *vip_allocate(struct kt_mapping *m, const char *name, uint64_t gen,
				   int64_t now)
{
	uint64_t hosts = (uint64_t)(~m->mask) + 1u;
	uint64_t start = fnv1a(name) % hosts;
	struct vipent *victim = NULL, *e;
	size_t pos = 0;
	const char *k;
	void *v;

	for (uint64_t i = 0; i < hosts; i++) {
		uint32_t ip = m->subnet | (uint32_t)((start + i) % hosts);

		if (vip_reserved(m, ip) || u64map_get(&m->by_vip, ip))
			continue;
		e = vip_add(m, name, ip, now);
		if (!e)
			errno = ENOMEM;
		return e;
	}
	/* Full: reclaim the VIP of the name unused for longest. */
	while (kt_strmap_next(m->by_name, &pos, &k, &v)) {
		e = v;
		if (e->gen == gen)
			continue;
		if (!victim || e->last_used < victim->last_used)
			victim = e;
	}
	if (!victim) {
		errno = ENOSPC;
		return NULL;
	}
	uint32_t ip = victim->vip;
	kt_log_info("VIP pool full: %s loses its VIP to %s", victim->name, name);
	vip_remove(m, victim);
	e = vip_add(m, name, ip, now);
	if (!e)
		errno = ENOMEM;
	return e;
}

/* ---- state file ---- */

#define STATE_FILE "vips"
#define STATE_MAX_BYTES (64u << 20)

static int mkdir_p(const char *path)
{
	char tmp[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		char c = tmp[i];
		tmp[i] = '\0';
		if (mkdir(tmp, 0755) && errno != EEXIST)
			return -errno;
		tmp[i] = c;
	}
	struct stat st;
	if (stat(path, &st))
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* Parses one "IP NAME LAST_USED" line (NUL-terminated, no newline). */
static int parse_state_line(struct kt_mapping *m, char *line)
{
	char *ip = line, *name, *ts, *end;
	struct in_addr a;
	long long last;

	name = strchr(ip, ' ');
	if (!name)
		return -EINVAL;
	*name++ = '\0';
	ts = strchr(name, ' ');
	if (!ts)
		return -EINVAL;
	*ts++ = '\0';
	if (inet_pton(AF_INET, ip, &a) != 1)
		return -EINVAL;
	errno = 0;
	last = strtoll(ts, &end, 10);
	if (errno || end == ts || *end || last < 0)
		return -EINVAL;
	uint32_t vip = ntohl(a.s_addr);
	if ((vip & m->mask) != m->subnet || vip_reserved(m, vip))
		return -ERANGE; /* another subnet: forget it */
	if (!valid_name(m, name))
		return -ERANGE; /* another cluster domain */
	if (kt_strmap_get(m->by_name, name) || u64map_get(&m->by_vip, vip))
		return -EEXIST;
	return vip_add(m, name, vip, (int64_t)last) ? 0 : -ENOMEM;
}

static int state_load(struct kt_mapping *m, char *err, size_t errcap)
{
	char path[4096];
	FILE *f;
	char *line = NULL;
	size_t cap = 0, lineno = 0, skipped = 0;
	ssize_t n;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/%s", m->state_dir, STATE_FILE);
	f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errcap, "%s: %s", path, strerror(errno));
		return -errno;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		int r = parse_state_line(m, line);
		if (r == -ENOMEM) {
			snprintf(err, errcap, "%s: out of memory", path);
			rc = -ENOMEM;
			break;
		}
		if (r == -EINVAL || r == -EEXIST) {
			if (skipped++ == 0)
				kt_log_warnx("%s:%zu: malformed or duplicate entry skipped", path,
					     lineno);
		}
	}
	free(line);
	fclose(f);
	return rc;
}

static int state_save(struct kt_mapping *m)
{
	char path[4096], tmp[4200];
	size_t pos = 0;
	const char *k;
	void *v;
	FILE *f;
	int fd, dfd;

	if (!m->state_dir)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", m->state_dir, STATE_FILE);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp.%ld", m->state_dir, STATE_FILE, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		goto fail;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		goto fail_unlink;
	}
	fprintf(f, "# kubetund VIP allocations: VIP HOSTNAME LAST-USED(unix seconds). "
		   "Rewritten by the daemon.\n");
	while (kt_strmap_next(m->by_name, &pos, &k, &v)) {
		struct vipent *e = v;
		char ip[INET_ADDRSTRLEN];

		format_ip(e->vip, ip, sizeof(ip));
		fprintf(f, "%s %s %lld\n", ip, e->name, (long long)e->last_used);
	}
	if (fflush(f) || ferror(f) || fsync(fileno(f))) {
		fclose(f);
		goto fail_unlink;
	}
	if (fclose(f))
		goto fail_unlink;
	if (rename(tmp, path))
		goto fail_unlink;
	/* The rename is durable only once the directory entry is. */
	dfd = open(m->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
fail_unlink:
	unlink(tmp);
fail:
	kt_log_warn("cannot write %s", path);
	return -EIO;
}

/* ---- stats ---- */

static struct kt_mapping_stats *stats_get(struct kt_mapping *m, const char *host, uint16_t port)
{
	char key[300];
	struct kt_mapping_stats *st;
	int n = snprintf(key, sizeof(key), "%s:%u", host, port);

	if (n < 0 || (size_t)n >= sizeof(key))
		return NULL;
	st = kt_strmap_get(m->stats, key);
	if (st)
		return kt_mapping_stats_ref(st);
	st = calloc(1, sizeof(*st) + (size_t)n + 1);
	if (!st)
		return NULL;
	memcpy(st->key, key, (size_t)n + 1);
	st->owner = m;
	st->refs = 1;
	if (kt_strmap_put(m->stats, key, st, NULL)) {
		free(st);
		return NULL;
	}
	return st;
}

struct kt_mapping_stats *kt_mapping_stats_ref(struct kt_mapping_stats *st)
{
	st->refs++;
	return st;
}

void kt_mapping_stats_unref(struct kt_mapping_stats *st)
{
	if (!st || --st->refs)
		return;
	if (st->owner)
		kt_strmap_del(st->owner->stats, st->key);
	free(st);
}

bool kt_mapping_stats_error(struct kt_mapping_stats *st, const char *text)
{
	bool fresh = strncmp(st->last_error, text, sizeof(st->last_error) - 1) != 0;

	snprintf(st->last_error, sizeof(st->last_error), "%s", text);
	st->last_error_time = time(NULL);
	return fresh;
}

/* ---- snapshots ---- */

static void snapshot_free(struct kt_snapshot *s)
{
	for (size_t i = 0; i < s->nentries; i++)
		kt_mapping_stats_unref(s->entries[i].stats);
	free(s->entries);
	u64map_fini(&s->index);
	kt_dns_table_free(s->dns);
	arena_free(&s->arena);
	free(s);
}

struct kt_snapshot *kt_snapshot_ref(const struct kt_snapshot *s)
{
	struct kt_snapshot *w = (struct kt_snapshot *)(uintptr_t)s;

	w->refs++;
	return w;
}

void kt_snapshot_unref(struct kt_snapshot *s)
{
	if (s && --s->refs == 0)
		snapshot_free(s);
}

const struct kt_mapping_entry *kt_snapshot_lookup(const struct kt_snapshot *s, uint32_t vip,
						  uint16_t port)
{
	uintptr_t i;

	if (port == 0)
		return NULL;
	i = (uintptr_t)u64map_get(&s->index, ((uint64_t)vip << 16) | port);
	return i ? &s->entries[i - 1] : NULL;
}

bool kt_snapshot_has_vip(const struct kt_snapshot *s, uint32_t vip)
{
	return u64map_get(&s->index, (uint64_t)vip << 16) != NULL;
}

const struct kt_dns_table *kt_snapshot_dns(const struct kt_snapshot *s)
{
	return s->dns;
}

uint64_t kt_snapshot_generation(const struct kt_snapshot *s)
{
	return s->gen;
}

size_t kt_snapshot_count(const struct kt_snapshot *s)
{
	return s->nentries;
}

const struct kt_mapping_entry *kt_snapshot_entry(const struct kt_snapshot *s, size_t i)
{
	return i < s->nentries ? &s->entries[i] : NULL;
}

const struct kt_mapping_pod *kt_mapping_pick(const struct kt_mapping_entry *e)
{
	if (!e->npods)
		return NULL;
	return &e->pods[e->stats->rr++ % e->npods];
}

/* ---- the mapping ---- */

static struct kt_dns_table *dns_base(struct kt_mapping *m, uint64_t gen)
{
	struct kt_dns_table *t = kt_dns_table_new(m->domain);
	char ns[300];

	if (!t)
		return NULL;
	snprintf(ns, sizeof(ns), "ns.dns.%s", m->domain);
	if (kt_dns_table_set_reverse_zone(t, m->subnet, m->prefix_len) ||
	    kt_dns_table_set_serial(t, (uint32_t)gen) || kt_dns_table_add_a(t, ns, m->dns_ip)) {
		kt_dns_table_free(t);
		return NULL;
	}
	return t;
}

struct kt_mapping *kt_mapping_new(const struct kt_mapping_config *cfg, char *err, size_t errcap)
{
	struct kt_mapping *m = calloc(1, sizeof(*m));
	struct kt_snapshot *s;
	char probe[300];

	if (!m) {
		snprintf(err, errcap, "out of memory");
		return NULL;
	}
	if (cfg->prefix_len < 8 || cfg->prefix_len > 30 || !cfg->cluster_domain) {
		snprintf(err, errcap, "invalid subnet prefix /%u", cfg->prefix_len);
		goto fail;
	}
	m->prefix_len = cfg->prefix_len;
	m->mask = ~(uint32_t)0 << (32 - cfg->prefix_len);
	m->subnet = cfg->subnet & m->mask;
	m->dns_ip = cfg->dns_ip;
	m->host_ip = cfg->host_ip;
	m->domain = strdup(cfg->cluster_domain);
	m->by_name = kt_strmap_new();
	m->stats = kt_strmap_new();
	if (!m->domain || !m->by_name || !m->stats) {
		snprintf(err, errcap, "out of memory");
		goto fail;
	}
	/* The domain must itself be a valid name: check "x.<domain>". */
	snprintf(probe, sizeof(probe), "x.%s", m->domain);
	if (strlen(m->domain) > 240 || !valid_name(m, probe)) {
		snprintf(err, errcap, "invalid cluster domain \"%s\"", m->domain);
		goto fail;
	}
	if (cfg->state_dir) {
		int r;

		m->state_dir = strdup(cfg->state_dir);
		if (!m->state_dir) {
			snprintf(err, errcap, "out of memory");
			goto fail;
		}
		r = mkdir_p(m->state_dir);
		if (r) {
			snprintf(err, errcap, "cannot create state directory %s: %s", m->state_dir,
				 strerror(-r));
			goto fail;
		}
		if (state_load(m, err, errcap))
			goto fail;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->dns = dns_base(m, 0)) || kt_dns_table_seal(s->dns)) {
		if (s)
			kt_dns_table_free(s->dns);
		free(s);
		snprintf(err, errcap, "out of memory");
		goto fail;
	}
	s->refs = 1;
	m->cur = s;
	return m;
fail:
	kt_mapping_free(m);
	return NULL;
}

void kt_mapping_free(struct kt_mapping *m)
{
	size_t pos = 0;
	const char *k;
	void *v;

	if (!m)
		return;
	if (m->cur && m->state_dir)
		state_save(m);
	kt_snapshot_unref(m->cur);
	m->cur = NULL;
	if (m->stats) {
		while (kt_strmap_next(m->stats, &pos, &k, &v))
			((struct kt_mapping_stats *)v)->owner = NULL;
		kt_strmap_free(m->stats);
	}
	pos = 0;
	if (m->by_name) {
		while (kt_strmap_next(m->by_name, &pos, &k, &v)) {
			free(((struct vipent *)v)->name);
			free(v);
		}
		kt_strmap_free(m->by_name);
	}
	u64map_fini(&m->by_vip);
	free(m->state_dir);
	free(m->domain);
	free(m);
}

const struct kt_snapshot *kt_mapping_current(const struct kt_mapping *m)
{
	return m->cur;
}

uint32_t kt_mapping_vip_of(const struct kt_mapping *m, const char *hostname)
{
	const struct vipent *e = kt_strmap_get(m->by_name, hostname);

	return e ? e->vip : 0;
}

/* ---- builder ---- */

struct kt_mapping_builder *kt_mapping_begin(struct kt_mapping *m)
{
	struct kt_mapping_builder *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->m = m;
	b->hosts = kt_strmap_new();
	b->keys = kt_strmap_new();
	if (!b->hosts || !b->keys) {
		kt_mapping_abort(b);
		return NULL;
	}
	return b;
}

void kt_mapping_abort(struct kt_mapping_builder *b)
{
	if (!b)
		return;
	kt_strmap_free(b->hosts);
	kt_strmap_free(b->keys);
	free(b->horder);
	free(b->entries);
	free(b->aliases);
	free(b->srvs);
	free(b->cnames);
	arena_free(&b->arena);
	free(b);
}

static int grow_vec(void **v, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 16;
	while (ncap < need)
		ncap *= 2;
	void *n = realloc(*v, ncap * elem);
	if (!n)
		return -ENOMEM;
	*v = n;
	*cap = ncap;
	return 0;
}

int kt_mapping_add_port(struct kt_mapping_builder *b, const char *hostname, uint16_t port,
			const char *ns, const char *forward, const char *port_name,
			const struct kt_mapping_pod *pods, size_t npods)
{
	char key[300], lower[256];
	struct bhost *h;
	struct kt_mapping_entry *e;
	struct kt_mapping_pod *pv = NULL;
	size_t hl;

	if (port == 0 || !valid_name(b->m, hostname))
		return -EINVAL;
	hl = strlen(hostname); /* <= 253: valid_name checked it */
	for (size_t i = 0; i <= hl; i++)
		lower[i] = (char)tolower((unsigned char)hostname[i]);
	snprintf(key, sizeof(key), "%s:%u", lower, port);
	if (kt_strmap_get(b->keys, key))
		return -EEXIST;
	if (grow_vec((void **)&b->entries, &b->capentries, b->nentries + 1, sizeof(*b->entries)))
		goto nomem;
	h = kt_strmap_get(b->hosts, lower);
	if (!h) {
		char *lname = arena_strdup(&b->arena, lower);

		h = arena_alloc(&b->arena, sizeof(*h));
		if (!lname || !h)
			goto nomem;
		*h = (struct bhost){.name = lname, .first_port = b->nentries};
		if (grow_vec((void **)&b->horder, &b->caphosts, b->nhosts + 1,
			     sizeof(*b->horder)) ||
		    kt_strmap_put(b->hosts, lname, h, NULL))
			goto nomem;
		b->horder[b->nhosts++] = h;
	}
	if (npods) {
		pv = arena_alloc(&b->arena, npods * sizeof(*pv));
		if (!pv)
			goto nomem;
		for (size_t i = 0; i < npods; i++) {
			pv[i].name = arena_strdup(&b->arena, pods[i].name);
			pv[i].port = pods[i].port;
			if (!pv[i].name)
				goto nomem;
		}
	}
	e = &b->entries[b->nentries];
	*e = (struct kt_mapping_entry){
	    .hostname = h->name,
	    .port = port,
	    .ns = arena_strdup(&b->arena, ns ? ns : ""),
	    .forward = arena_strdup(&b->arena, forward ? forward : ""),
	    .port_name = port_name && *port_name ? arena_strdup(&b->arena, port_name) : NULL,
	    .pods = pv,
	    .npods = npods,
	};
	if (!e->ns || !e->forward || (port_name && *port_name && !e->port_name))
		goto nomem;
	/* The marker value only needs to be non-NULL. */
	if (kt_strmap_put(b->keys, key, (void *)h, NULL))
		goto nomem;
	b->nentries++;
	return 0;
nomem:
	b->failed = true;
	return -ENOMEM;
}

static int add_pair(struct kt_mapping_builder *b, struct pair **v, size_t *n, size_t *cap,
		    const char *x, const char *y, uint16_t port, bool y_in_zone)
{
	struct pair p;

	if (!valid_name(b->m, x) || (y_in_zone && !valid_name(b->m, y)))
		return -EINVAL;
	if (grow_vec((void **)v, cap, *n + 1, sizeof(**v)))
		goto nomem;
	p.a = arena_strdup_lower(&b->arena, x);
	p.b = arena_strdup_lower(&b->arena, y);
	p.port = port;
	if (!p.a || !p.b)
		goto nomem;
	(*v)[(*n)++] = p;
	return 0;
nomem:
	b->failed = true;
	return -ENOMEM;
}

int kt_mapping_add_alias(struct kt_mapping_builder *b, const char *name, const char *hostname)
{
	return add_pair(b, &b->aliases, &b->naliases, &b->capaliases, name, hostname, 0, true);
}

int kt_mapping_add_srv(struct kt_mapping_builder *b, const char *name, uint16_t port,
		       const char *target)
{
	return add_pair(b, &b->srvs, &b->nsrvs, &b->capsrvs, name, target, port, true);
}

int kt_mapping_add_cname(struct kt_mapping_builder *b, const char *name, const char *target)
{
	if (!target || !*target || strlen(target) > 253)
		return -EINVAL;
	return add_pair(b, &b->cnames, &b->ncnames, &b->capcnames, name, target, 0, false);
}

/* DNS records of the new snapshot. A record the DNS table rejects is logged and skipped: one
 * odd name must not take the others down. */
static int build_dns(struct kt_mapping *m, struct kt_mapping_builder *b, struct kt_snapshot *s)
{
	struct kt_dns_table *t = dns_base(m, s->gen);
	int r;

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < b->nhosts; i++) {
		const struct bhost *h = b->horder[i];

		r = kt_dns_table_add_a(t, h->name, h->ent->vip);
		if (!r)
			r = kt_dns_table_add_ptr(t, h->ent->vip, h->name);
		if (r == -ENOMEM)
			goto nomem;
		if (r)
			kt_log_debug("dns: %s not published: %s", h->name, strerror(-r));
	}
	for (size_t i = 0; i < b->naliases; i++) {
		const struct bhost *h = kt_strmap_get(b->hosts, b->aliases[i].b);

		if (!h)
			continue;
		r = kt_dns_table_add_a(t, b->aliases[i].a, h->ent->vip);
		if (r == -ENOMEM)
			goto nomem;
		if (r)
			kt_log_debug("dns: %s not published: %s", b->aliases[i].a, strerror(-r));
	}
	for (size_t i = 0; i < b->nsrvs; i++) {
		r = kt_dns_table_add_srv(t, b->srvs[i].a, 0, 100, b->srvs[i].port, b->srvs[i].b);
		if (r == -ENOMEM)
			goto nomem;
		if (r)
			kt_log_debug("dns: SRV %s not published: %s", b->srvs[i].a, strerror(-r));
	}
	for (size_t i = 0; i < b->ncnames; i++) {
		r = kt_dns_table_add_cname(t, b->cnames[i].a, b->cnames[i].b);
		if (r == -ENOMEM)
			goto nomem;
		if (r)
			kt_log_debug("dns: CNAME %s not published: %s", b->cnames[i].a,
				     strerror(-r));
	}
	if (kt_dns_table_seal(t))
		goto nomem;
	s->dns = t;
	return 0;
nomem:
	kt_dns_table_free(t);
	return -ENOMEM;
}

int kt_mapping_commit(struct kt_mapping *m, struct kt_mapping_builder *b, char *err, size_t errcap)
{
	struct kt_snapshot *s = NULL;
	/* Consumed even if this commit fails: names marked in use by a failed attempt must not
	 * look in use to the next one. */
	uint64_t gen = ++m->gen;
	int64_t now = (int64_t)time(NULL);
	bool allocated = false;
	int rc = -ENOMEM;

	if (b->failed)
		goto nomem;
	/* VIPs first: nothing is published unless every hostname has one. */
	for (size_t i = 0; i < b->nhosts; i++) {
		struct bhost *h = b->horder[i];

		h->ent = kt_strmap_get(m->by_name, h->name);
		if (!h->ent) {
			h->ent = vip_allocate(m, h->name, gen, now);
			if (!h->ent) {
				rc = -errno;
				if (rc == -ENOSPC)
					snprintf(err, errcap,
						 "the VIP subnet is full (%zu names mapped)",
						 b->nhosts);
				goto fail;
			}
			allocated = true;
		}
		h->ent->gen = gen;
		h->ent->last_used = now;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		goto nomem;
	s->refs = 1;
	s->gen = gen;
	for (size_t i = 0; i < b->nentries; i++) {
		struct kt_mapping_entry *e = &b->entries[i];
		const struct bhost *h = kt_strmap_get(b->hosts, e->hostname);
		void **slot;

		e->vip = h->ent->vip;
		e->stats = stats_get(m, e->hostname, e->port);
		if (!e->stats) {
			/* Entries up to i hold stats: hand them to s so it releases them. */
			s->entries = b->entries;
			s->nentries = i;
			b->entries = NULL;
			goto nomem;
		}
		slot = u64map_slot(&s->index, ((uint64_t)e->vip << 16) | e->port, true);
		if (slot)
			*slot = (void *)(uintptr_t)(i + 1);
		if (!slot || !(slot = u64map_slot(&s->index, (uint64_t)e->vip << 16, true))) {
			s->entries = b->entries;
			s->nentries = i + 1;
			b->entries = NULL;
			goto nomem;
		}
		*slot = (void *)(uintptr_t)1;
	}
	s->entries = b->entries;
	s->nentries = b->nentries;
	b->entries = NULL;
	if (build_dns(m, b, s))
		goto nomem;
	/* The snapshot takes the builder's arena: its strings are the entries' strings. */
	s->arena = b->arena;
	b->arena = (struct arena){0};
	kt_mapping_abort(b);
	kt_snapshot_unref(m->cur);
	m->cur = s;
	if (allocated)
		state_save(m);
	return 0;
nomem:
	rc = -ENOMEM;
	snprintf(err, errcap, "out of memory building the mapping table");
fail:
	if (s) {
		/* The entries' strings live in the builder's arena: free s before it. */
		snapshot_free(s);
	}
	kt_mapping_abort(b);
	return rc;
}
