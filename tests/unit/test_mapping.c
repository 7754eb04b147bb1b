/* test_mapping.c: unit tests for src/mapping.c (snapshots, VIP allocation and persistence,
 * statistics, the DNS table built from the same entries). */
#include "dns.h"
#include "kt_test.h"
#include "mapping.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SUBNET 0xC6130000u /* 198.19.0.0 */
#define DNSIP 0xC6130035u  /* 198.19.0.53 */
#define HOSTIP 0xC6130001u /* 198.19.0.1 */

static char err[512];

static struct kt_mapping *new_mapping(const char *dir, uint8_t prefix, uint32_t dns)
{
	struct kt_mapping_config c = {
	    .state_dir = dir,
	    .cluster_domain = "cluster.local",
	    .subnet = SUBNET,
	    .prefix_len = prefix,
	    .dns_ip = dns,
	    .host_ip = HOSTIP,
	};
	err[0] = '\0';
	return kt_mapping_new(&c, err, sizeof(err));
}

static const struct kt_mapping_pod web_pods[] = {{"web-a", 8080}, {"web-b", 8081}};

/* ---- a minimal DNS client: one A query, the A answers back ---- */

static size_t make_query(uint8_t *q, const char *name, uint16_t qtype)
{
	size_t n = 0;

	memcpy(q, "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 12);
	n = 12;
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);
		q[n++] = (uint8_t)l;
		memcpy(q + n, name, l);
		n += l;
		name += l + (dot ? 1 : 0);
	}
	q[n++] = 0;
	q[n++] = (uint8_t)(qtype >> 8);
	q[n++] = (uint8_t)qtype;
	q[n++] = 0;
	q[n++] = 1;
	return n;
}

/* Skips a (possibly compressed) name at r[off]; returns the offset after it. */
static size_t skip_name(const uint8_t *r, size_t len, size_t off)
{
	while (off < len) {
		if ((r[off] & 0xc0) == 0xc0)
			return off + 2;
		if (r[off] == 0)
			return off + 1;
		off += (size_t)r[off] + 1;
	}
	return len;
}

/* Returns the RCODE; fills ips with the A answers (in order). */
static int query_a(const struct kt_snapshot *s, const char *name, uint32_t *ips, size_t cap,
		   size_t *nips)
{
	uint8_t q[512], r[1232];
	size_t ql = make_query(q, name, 1), off;
	ssize_t rl = kt_dns_handle(kt_snapshot_dns(s), q, ql, r, sizeof(r), KT_DNS_UDP);
	unsigned an;

	*nips = 0;
	if (rl < 12)
		return -1;
	an = (unsigned)(r[6] << 8 | r[7]);
	off = ql; /* the question is echoed */
	for (unsigned i = 0; i < an; i++) {
		uint16_t type, rdlen;

		off = skip_name(r, (size_t)rl, off);
		if (off + 10 > (size_t)rl)
			break;
		type = (uint16_t)(r[off] << 8 | r[off + 1]);
		rdlen = (uint16_t)(r[off + 8] << 8 | r[off + 9]);
		off += 10;
		if (off + rdlen > (size_t)rl)
			break;
		if (type == 1 && rdlen == 4 && *nips < cap)
			ips[(*nips)++] = (uint32_t)r[off] << 24 | (uint32_t)r[off + 1] << 16 |
					 (uint32_t)r[off + 2] << 8 | r[off + 3];
		off += rdlen;
	}
	return r[3] & 0x0f;
}

KT_TEST(lookup_pick_and_dns_agree)
{
	struct kt_mapping *m = new_mapping(NULL, 16, DNSIP);
	KT_REQUIRE(m);
	const struct kt_snapshot *s0 = kt_mapping_current(m);
	KT_CHECK_INT_EQ(kt_snapshot_count(s0), 0);
	KT_CHECK(kt_snapshot_dns(s0) != NULL);

	struct kt_mapping_builder *b = kt_mapping_begin(m);
	KT_REQUIRE(b);
	KT_CHECK_INT_EQ(kt_mapping_add_port(b, "web.shop.svc.cluster.local", 80, "shop", "svc/web",
					    "http", web_pods, 2),
			0);
	KT_CHECK_INT_EQ(kt_mapping_add_port(b, "web.shop.svc.cluster.local", 443, "shop", "svc/web",
					    "https", web_pods, 1),
			0);
	/* First one wins. */
	KT_CHECK_INT_EQ(
	    kt_mapping_add_port(b, "WEB.shop.svc.cluster.local", 80, "x", "svc/x", NULL, NULL, 0),
	    -EEXIST);
	KT_CHECK_INT_EQ(kt_mapping_add_port(b, "api.shop.svc.cluster.local", 80, "shop", "svc/api",
					    NULL, NULL, 0),
			0);
	/* Outside the cluster domain, bad labels, port 0. */
	KT_CHECK_INT_EQ(kt_mapping_add_port(b, "example.com", 80, "a", "b", NULL, NULL, 0),
			-EINVAL);
	KT_CHECK_INT_EQ(kt_mapping_add_port(b, "a..cluster.local", 80, "a", "b", NULL, NULL, 0),
			-EINVAL);
	KT_CHECK_INT_EQ(kt_mapping_add_port(b, "a b.cluster.local", 80, "a", "b", NULL, NULL, 0),
			-EINVAL);
	KT_CHECK_INT_EQ(kt_mapping_add_port(b, "ok.cluster.local", 0, "a", "b", NULL, NULL, 0),
			-EINVAL);
	KT_CHECK_INT_EQ(kt_mapping_add_srv(b, "_http._tcp.web.shop.svc.cluster.local", 80,
					   "web.shop.svc.cluster.local"),
			0);
	KT_CHECK_INT_EQ(kt_mapping_add_cname(b, "ext.shop.svc.cluster.local", "example.com"), 0);
	KT_REQUIRE(kt_mapping_commit(m, b, err, sizeof(err)) == 0);

	const struct kt_snapshot *s = kt_mapping_current(m);
	KT_CHECK(s != s0);
	KT_CHECK_INT_EQ(kt_snapshot_count(s), 3);
	uint32_t web = kt_mapping_vip_of(m, "web.shop.svc.cluster.local");
	uint32_t api = kt_mapping_vip_of(m, "api.shop.svc.cluster.local");
	KT_CHECK(web && api && web != api);
	KT_CHECK_INT_EQ(web & 0xffff0000u, SUBNET);
	KT_CHECK(web != DNSIP && web != HOSTIP && (web & 0xffff) != 0 && (web & 0xffff) != 0xffff);

	const struct kt_mapping_entry *e = kt_snapshot_lookup(s, web, 80);
	KT_REQUIRE(e);
	KT_CHECK_STR_EQ(e->hostname, "web.shop.svc.cluster.local");
	KT_CHECK_STR_EQ(e->ns, "shop");
	KT_CHECK_STR_EQ(e->forward, "svc/web");
	KT_CHECK_STR_EQ(e->port_name, "http");
	KT_CHECK_INT_EQ(e->npods, 2);
	KT_CHECK(kt_snapshot_lookup(s, web, 443) != NULL);
	KT_CHECK(kt_snapshot_lookup(s, web, 8080) == NULL);
	KT_CHECK(kt_snapshot_lookup(s, api, 443) == NULL);
	KT_CHECK(kt_snapshot_lookup(s, web + 1 == api ? web + 2 : web + 1, 80) == NULL);
	KT_CHECK(kt_snapshot_has_vip(s, web));
	KT_CHECK(!kt_snapshot_has_vip(s, DNSIP));

	/* Round robin over the pods, per connection. */
	const struct kt_mapping_pod *p1 = kt_mapping_pick(e), *p2 = kt_mapping_pick(e),
				    *p3 = kt_mapping_pick(e);
	KT_REQUIRE(p1 && p2 && p3);
	KT_CHECK(strcmp(p1->name, p2->name) != 0);
	KT_CHECK_STR_EQ(p1->name, p3->name);
	KT_CHECK_INT_EQ(kt_mapping_pick(kt_snapshot_lookup(s, api, 80)) == NULL, 1);

	/* DNS answers from the same snapshot. */
	uint32_t ips[8];
	size_t n;
	KT_CHECK_INT_EQ(query_a(s, "web.shop.svc.cluster.local", ips, 8, &n), 0);
	KT_CHECK_INT_EQ(n, 1);
	KT_CHECK_INT_EQ(ips[0], web);
	KT_CHECK_INT_EQ(query_a(s, "Web.Shop.svc.cluster.local", ips, 8, &n), 0);
	KT_CHECK_INT_EQ(query_a(s, "nope.shop.svc.cluster.local", ips, 8, &n), 3); /* NXDOMAIN */
	KT_CHECK_INT_EQ(query_a(s, "example.com", ips, 8, &n), 5);		   /* REFUSED */
	KT_CHECK_INT_EQ(query_a(s, "ns.dns.cluster.local", ips, 8, &n), 0);
	KT_CHECK_INT_EQ(n, 1);
	KT_CHECK_INT_EQ(ips[0], DNSIP);
	kt_mapping_free(m);
}

KT_TEST(headless_alias_gives_one_a_per_pod)
{
	struct kt_mapping *m = new_mapping(NULL, 16, DNSIP);
	KT_REQUIRE(m);
	struct kt_mapping_builder *b = kt_mapping_begin(m);
	const char *hosts[] = {"kafka-0.kafka.data.svc.cluster.local",
			       "kafka-1.kafka.data.svc.cluster.local"};
	for (int i = 0; i < 2; i++) {
		struct kt_mapping_pod p = {i ? "kafka-1" : "kafka-0", 9092};
		KT_CHECK_INT_EQ(
		    kt_mapping_add_port(b, hosts[i], 9092, "data", "svc/kafka", "kafka", &p, 1), 0);
		KT_CHECK_INT_EQ(kt_mapping_add_alias(b, "kafka.data.svc.cluster.local", hosts[i]),
				0);
	}
	/* An alias to a name without ports publishes nothing. */
	KT_CHECK_INT_EQ(kt_mapping_add_alias(b, "kafka.data.svc.cluster.local",
					     "kafka-9.kafka.data.svc.cluster.local"),
			0);
	KT_REQUIRE(kt_mapping_commit(m, b, err, sizeof(err)) == 0);
	const struct kt_snapshot *s = kt_mapping_current(m);
	uint32_t ips[8];
	size_t n;
	KT_CHECK_INT_EQ(query_a(s, "kafka.data.svc.cluster.local", ips, 8, &n), 0);
	KT_CHECK_INT_EQ(n, 2);
	uint32_t v0 = kt_mapping_vip_of(m, hosts[0]), v1 = kt_mapping_vip_of(m, hosts[1]);
	KT_CHECK((ips[0] == v0 && ips[1] == v1) || (ips[0] == v1 && ips[1] == v0));
	const struct kt_mapping_entry *e = kt_snapshot_lookup(s, v1, 9092);
	KT_REQUIRE(e && e->npods == 1);
	KT_CHECK_STR_EQ(e->pods[0].name, "kafka-1");
	kt_mapping_free(m);
}

KT_TEST(stats_survive_rebuilds_and_go_with_the_mapping)
{
	struct kt_mapping *m = new_mapping(NULL, 16, DNSIP);
	KT_REQUIRE(m);
	struct kt_mapping_builder *b = kt_mapping_begin(m);
	kt_mapping_add_port(b, "a.ns.svc.cluster.local", 80, "ns", "svc/a", NULL, web_pods, 1);
	KT_REQUIRE(kt_mapping_commit(m, b, err, sizeof(err)) == 0);
	uint32_t va = kt_mapping_vip_of(m, "a.ns.svc.cluster.local");
	struct kt_mapping_stats *st = kt_snapshot_lookup(kt_mapping_current(m), va, 80)->stats;
	st->conns_total = 7;
	KT_CHECK_STR_EQ(st->key, "a.ns.svc.cluster.local:80");
	KT_CHECK(kt_mapping_stats_error(st, "boom"));
	KT_CHECK(!kt_mapping_stats_error(st, "boom"));
	KT_CHECK(kt_mapping_stats_error(st, "bang"));
	KT_CHECK(st->last_error_time > 0);

	/* Same mapping in the next snapshot: same stats. A connection keeps a reference. */
	b = kt_mapping_begin(m);
	kt_mapping_add_port(b, "a.ns.svc.cluster.local", 80, "ns", "svc/a", NULL, web_pods, 2);
	KT_REQUIRE(kt_mapping_commit(m, b, err, sizeof(err)) == 0);
	const struct kt_mapping_entry *e = kt_snapshot_lookup(kt_mapping_current(m), va, 80);
	KT_REQUIRE(e);
	KT_CHECK(e->stats == st);
	KT_CHECK_INT_EQ(e->stats->conns_total, 7);
	kt_mapping_stats_ref(st);

	/* Gone from the table: the connection's reference keeps it readable; the VIP stays. */
	b = kt_mapping_begin(m);
	KT_REQUIRE(kt_mapping_commit(m, b, err, sizeof(err)) == 0);
	KT_CHECK(kt_snapshot_lookup(kt_mapping_current(m), va, 80) == NULL);
	KT_CHECK_INT_EQ(st->conns_total, 7);
	KT_CHECK_INT_EQ(kt_mapping_vip_of(m, "a.ns.svc.cluster.local"), va);
	/* Back under the same key while a connection still held the stats: they continue. */
	b = kt_mapping_begin(m);
	kt_mapping_add_port(b, "a.ns.svc.cluster.local", 80, "ns", "svc/a", NULL, web_pods, 1);
	KT_REQUIRE(kt_mapping_commit(m, b, err, sizeof(err)) == 0);
	e = kt_snapshot_lookup(kt_mapping_current(m), va, 80);
	KT_REQUIRE(e);
	KT_CHECK(e->stats == st);
	kt_mapping_stats_unref(st);
	/* Gone with nobody holding them: a later mapping starts from zero. */
	b = kt_mapping_begin(m);
	KT_REQUIRE(kt_mapping_commit(m, b, err, sizeof(err)) == 0);
	b = kt_mapping_begin(m);
	kt_mapping_add_port(b, "a.ns.svc.cluster.local", 80, "ns", "svc/a", NULL, web_pods, 1);
	KT_REQUIRE(kt_mapping_commit(m, b, err, sizeof(err)) == 0);
	e = kt_snapshot_lookup(kt_mapping_current(m), va, 80);
	KT_REQUIRE(e);
	KT_CHECK_INT_EQ(e->stats->conns_total, 0);
	/* Held past the owner's end. */
	st = kt_mapping_stats_ref(e->stats);
	kt_mapping_free(m);
	st->bytes_in = 1;
	kt_mapping_stats_unref(st);
}

KT_TEST(snapshot_reference_outlives_commit)
{
	struct kt_mapping *m = new_mapping(NULL, 16, DNSIP);
	KT_REQUIRE(m);
	struct kt_mapping_builder *b = kt_mapping_begin(m);
	kt_mapping_add_port(b, "a.ns.svc.cluster.local", 80, "ns", "svc/a", NULL, web_pods, 2);
	KT_REQUIRE(kt_mapping_commit(m, b, err, sizeof(err)) == 0);
	struct kt_snapshot *held = kt_snapshot_ref(kt_mapping_current(m));
	uint64_t gen = kt_snapshot_generation(held);
	b = kt_mapping_begin(m);
	KT_REQUIRE(kt_mapping_commit(m, b, err, sizeof(err)) == 0);
	KT_CHECK(kt_snapshot_generation(kt_mapping_current(m)) == gen + 1);
	KT_CHECK_INT_EQ(kt_snapshot_count(held), 1);
	KT_CHECK_STR_EQ(kt_snapshot_entry(held, 0)->pods[1].name, "web-b");
	kt_snapshot_unref(held);
	kt_mapping_abort(kt_mapping_begin(m));
	kt_mapping_free(m);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	static char buf[65536];
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

KT_TEST(vips_persist_across_restarts)
{
	char dir[] = "/tmp/kt-mapping-XXXXXX", sub[128], path[256];
	KT_REQUIRE(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/state/deeper", dir);
	uint32_t v[50];
	char name[64];

	struct kt_mapping *m = new_mapping(sub, 16, DNSIP);
	KT_REQUIRE(m);
	struct kt_mapping_builder *b = kt_mapping_begin(m);
	for (int i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "s%d.ns.svc.cluster.local", i);
		KT_CHECK_INT_EQ(kt_mapping_add_port(b, name, 80, "ns", "svc/x", NULL, NULL, 0), 0);
	}
	KT_REQUIRE(kt_mapping_commit(m, b, err, sizeof(err)) == 0);
	for (int i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "s%d.ns.svc.cluster.local", i);
		v[i] = kt_mapping_vip_of(m, name);
		KT_CHECK(v[i] != 0);
		for (int j = 0; j < i; j++)
			KT_CHECK(v[i] != v[j]);
	}
	/* The file exists right after the allocation (not only at exit). */
	snprintf(path, sizeof(path), "%s/vips", sub);
	char *txt = read_file(path);
	KT_REQUIRE(txt);
	KT_CHECK(strstr(txt, "s7.ns.svc.cluster.local") != NULL);
	kt_mapping_free(m);

	/* Restart, names mapped in another order and a new one: the old VIPs come back. */
	m = new_mapping(sub, 16, DNSIP);
	KT_REQUIRE(m);
	b = kt_mapping_begin(m);
	KT_CHECK_INT_EQ(
	    kt_mapping_add_port(b, "new.ns.svc.cluster.local", 80, "ns", "svc/x", NULL, NULL, 0),
	    0);
	for (int i = 49; i >= 0; i--) {
		snprintf(name, sizeof(name), "s%d.ns.svc.cluster.local", i);
		kt_mapping_add_port(b, name, 443, "ns", "svc/x", NULL, NULL, 0);
	}
	KT_REQUIRE(kt_mapping_commit(m, b, err, sizeof(err)) == 0);
	for (int i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "s%d.ns.svc.cluster.local", i);
		KT_CHECK_INT_EQ(kt_mapping_vip_of(m, name), v[i]);
		KT_CHECK(kt_snapshot_lookup(kt_mapping_current(m), v[i], 443) != NULL);
	}
	uint32_t vnew = kt_mapping_vip_of(m, "new.ns.svc.cluster.local");
	for (int i = 0; i < 50; i++)
		KT_CHECK(vnew != v[i]);
	kt_mapping_free(m);

	/* A state file from another subnet is ignored, not fatal; a garbage line is skipped. */
	FILE *f = fopen(path, "a");
	KT_REQUIRE(f);
	fputs("this is not a line\n10.0.0.5 other.ns.svc.cluster.local 1\n", f);
	fclose(f);
	m = new_mapping(sub, 16, DNSIP);
	KT_REQUIRE(m);
	KT_CHECK_INT_EQ(kt_mapping_vip_of(m, "s3.ns.svc.cluster.local"), v[3]);
	KT_CHECK_INT_EQ(kt_mapping_vip_of(m, "other.ns.svc.cluster.local"), 0);
	kt_mapping_free(m);
	/* No temporary file is left behind. */
	snprintf(path, sizeof(path), "rm -r %s", dir);
	KT_CHECK(system(path) == 0);
}

KT_TEST(small_subnet_reserved_full_and_reclaim)
{
	/* /29: .0 network, .1 host, .6 DNS, .7 broadcast: .2-.5 are the only VIPs. */
	struct kt_mapping *m = new_mapping(NULL, 29, SUBNET | 6u);
	KT_REQUIRE(m);
	struct kt_mapping_builder *b = kt_mapping_begin(m);
	char name[64];
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "n%d.cluster.local", i);
		kt_mapping_add_port(b, name, 80, "ns", "svc/x", NULL, NULL, 0);
	}
	KT_REQUIRE(kt_mapping_commit(m, b, err, sizeof(err)) == 0);
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "n%d.cluster.local", i);
		uint32_t v = kt_mapping_vip_of(m, name);
		KT_CHECK(v >= (SUBNET | 2u) && v <= (SUBNET | 5u));
	}
	/* Five names in use at once cannot fit: the old snapshot stays. */
	const struct kt_snapshot *before = kt_mapping_current(m);
	b = kt_mapping_begin(m);
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "n%d.cluster.local", i);
		kt_mapping_add_port(b, name, 80, "ns", "svc/x", NULL, NULL, 0);
	}
	KT_CHECK_INT_EQ(kt_mapping_commit(m, b, err, sizeof(err)), -ENOSPC);
	KT_CHECK(strstr(err, "full") != NULL);
	KT_CHECK(kt_mapping_current(m) == before);
	/* n0 unused now: the new name reclaims a VIP of a name not in use. */
	b = kt_mapping_begin(m);
	for (int i = 1; i < 5; i++) {
		snprintf(name, sizeof(name), "n%d.cluster.local", i);
		kt_mapping_add_port(b, name, 80, "ns", "svc/x", NULL, NULL, 0);
	}
	KT_REQUIRE(kt_mapping_commit(m, b, err, sizeof(err)) == 0);
	KT_CHECK(kt_mapping_vip_of(m, "n4.cluster.local") != 0);
	KT_CHECK_INT_EQ(kt_mapping_vip_of(m, "n0.cluster.local"), 0);
	kt_mapping_free(m);
}

KT_TEST(bad_configs)
{
	KT_CHECK(new_mapping(NULL, 7, DNSIP) == NULL);
	struct kt_mapping_config c = {
	    .cluster_domain = "bad..domain", .subnet = SUBNET, .prefix_len = 16, .dns_ip = DNSIP};
	KT_CHECK(kt_mapping_new(&c, err, sizeof(err)) == NULL);
	KT_CHECK(strstr(err, "domain") != NULL);
	c.cluster_domain = "cluster.local";
	c.state_dir = "/proc/definitely/not/here";
	KT_CHECK(kt_mapping_new(&c, err, sizeof(err)) == NULL);
	KT_CHECK(strstr(err, "state directory") != NULL);
}

KT_TEST(ten_thousand_vips_constant_time_lookup)
{
	struct kt_mapping *m = new_mapping(NULL, 16, DNSIP);
	KT_REQUIRE(m);
	struct kt_mapping_builder *b = kt_mapping_begin(m);
	char name[64];
	struct kt_mapping_pod p = {"pod", 80};
	for (int i = 0; i < 10000; i++) {
		snprintf(name, sizeof(name), "svc%d.ns.svc.cluster.local", i);
		KT_REQUIRE(kt_mapping_add_port(b, name, 80, "ns", "svc/x", NULL, &p, 1) == 0);
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	KT_REQUIRE(kt_mapping_commit(m, b, err, sizeof(err)) == 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double build_ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	printf("  10,000 mappings built in %.1f ms\n", build_ms);
	const struct kt_snapshot *s = kt_mapping_current(m);
	KT_CHECK_INT_EQ(kt_snapshot_count(s), 10000);
	size_t found = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int round = 0; round < 10; round++)
		for (size_t i = 0; i < kt_snapshot_count(s); i++) {
			const struct kt_mapping_entry *e = kt_snapshot_entry(s, i);
			found += kt_snapshot_lookup(s, e->vip, 80) == e;
		}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	KT_CHECK_INT_EQ(found, 100000);
	double ns_per = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 100000.0;
	printf("  lookup: %.0f ns each\n", ns_per);
	KT_CHECK(ns_per < 5000); /* a hash probe, not a scan of 10,000 entries */
	uint32_t ips[4];
	size_t n;
	KT_CHECK_INT_EQ(query_a(s, "svc9999.ns.svc.cluster.local", ips, 4, &n), 0);
	KT_CHECK_INT_EQ(n, 1);
	KT_CHECK_INT_EQ(ips[0], kt_mapping_vip_of(m, "svc9999.ns.svc.cluster.local"));
	kt_mapping_free(m);
}

KT_TEST_MAIN()
