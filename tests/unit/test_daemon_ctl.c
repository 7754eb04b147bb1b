/* test_daemon_ctl.c: unit tests for src/daemon_ctl.c: the forward.add / forward.rm edit rules,
 * forward.ls's shape, and the status document built from a mapping snapshot (without a
 * socket: kt_dctl_new with no loop). */
#include "daemon_ctl.h"
#include "kt_test.h"
#include "mapping.h"
#include "profile.h"

#include <errno.h>
#include <string.h>

#define SUBNET 0xC6130000u /* 198.19.0.0 */
#define DNSIP 0xC6130035u  /* 198.19.0.53 */

static char msg[1024];

static struct kt_profile *parse(const char *yaml)
{
	char e[256];
	struct kt_profile *p = kt_profile_parse(yaml, strlen(yaml), "t.yaml", e, sizeof(e));

	if (!p)
		fprintf(stderr, "profile: %s\n", e);
	return p;
}

static cJSON *req(const char *json)
{
	return cJSON_Parse(json);
}

/* web (svc, every port: 80 and 443), payments (deploy, its Service :80 → pod port 8080, and
 * its own name on 8080), kafka (headless: kafka-0 on 9092). */
static struct kt_mapping *mapping(void)
{
	struct kt_mapping_config c = {
	    .cluster_domain = "cluster.local", .subnet = SUBNET, .prefix_len = 16, .dns_ip = DNSIP};
	static const struct kt_mapping_pod web[] = {{"web-a", 80}, {"web-b", 80}};
	static const struct kt_mapping_pod web443[] = {{"web-a", 443}, {"web-b", 443}};
	static const struct kt_mapping_pod pay[] = {{"payments-x", 8080}};
	static const struct kt_mapping_pod kafka0[] = {{"kafka-0", 9092}};
	char e[256];
	struct kt_mapping *m = kt_mapping_new(&c, e, sizeof(e));
	struct kt_mapping_builder *b;

	if (!m)
		return NULL;
	b = kt_mapping_begin(m);
	kt_mapping_add_port(b, "web.shop.svc.cluster.local", 80, "shop", "svc/web", "http", web, 2);
	kt_mapping_add_port(b, "web.shop.svc.cluster.local", 443, "shop", "svc/web", "https",
			    web443, 2);
	kt_mapping_add_port(b, "payments.default.deploy.cluster.local", 8080, "default",
			    "deploy/payments", NULL, pay, 1);
	kt_mapping_add_port(b, "payments.default.svc.cluster.local", 80, "default",
			    "deploy/payments", NULL, pay, 1);
	kt_mapping_add_port(b, "kafka-0.kafka.data.svc.cluster.local", 9092, "data", "svc/kafka",
			    NULL, kafka0, 1);
	kt_mapping_add_port(b, "lonely.shop.svc.cluster.local", 8080, "shop", "svc/lonely", NULL,
			    NULL, 0);
	if (kt_mapping_commit(m, b, e, sizeof(e))) {
		kt_mapping_free(m);
		return NULL;
	}
	return m;
}

static const char base_yaml[] = "namespace: shop\n"
				"forwards:\n"
				"  - target: svc/web\n"
				"  - target: deploy/payments\n"
				"    namespace: default\n"
				"  - target: svc/kafka\n"
				"    namespace: data\n"
				"  - target: svc/lonely\n";

KT_TEST(add_new_forward)
{
	struct kt_profile *cur = parse(base_yaml), *next = NULL;
	cJSON *r = req("{\"target\":\"svc/api\",\"ports\":[80,8443]}");

	KT_REQUIRE(cur && r);
	KT_CHECK_INT_EQ(kt_dctl_edit_add(cur, "default", r, &next, msg, sizeof(msg)), 1);
	KT_CHECK_STR_EQ(msg, "added svc/api in shop");
	KT_REQUIRE(next);
	KT_CHECK_INT_EQ(next->nforwards, 5);
	KT_CHECK_STR_EQ(next->forwards[4].name, "api");
	KT_CHECK(next->forwards[4].namespace == NULL);
	KT_CHECK_INT_EQ(next->forwards[4].nports, 2);
	KT_CHECK_INT_EQ(next->forwards[4].ports[1], 8443);
	KT_CHECK_STR_EQ(next->namespace, "shop");
	/* The current set is untouched. */
	KT_CHECK_INT_EQ(cur->nforwards, 4);
	kt_profile_free(next);
	cJSON_Delete(r);
	kt_profile_free(cur);
}

KT_TEST(add_existing_is_a_noop)
{
	struct kt_profile *cur = parse(base_yaml), *next = (struct kt_profile *)&next;
	/* svc/web has no namespace of its own: the set's (shop) is its effective namespace. */
	cJSON *r1 = req("{\"target\":\"service/web\",\"namespace\":\"shop\"}");
	cJSON *r2 = req("{\"target\":\"deploy/payments\",\"namespace\":\"default\",\"ports\":[1]}");
	cJSON *r3 = req("{\"target\":\"svc/web\",\"namespace\":\"other\"}");

	KT_REQUIRE(cur && r1 && r2 && r3);
	KT_CHECK_INT_EQ(kt_dctl_edit_add(cur, "default", r1, &next, msg, sizeof(msg)), 0);
	KT_CHECK(next == NULL);
	KT_CHECK_STR_EQ(msg, "svc/web in shop is already forwarded: nothing changed");
	KT_CHECK_INT_EQ(kt_dctl_edit_add(cur, "default", r2, &next, msg, sizeof(msg)), 0);
	/* Same name in another namespace is another forward. */
	KT_CHECK_INT_EQ(kt_dctl_edit_add(cur, "default", r3, &next, msg, sizeof(msg)), 1);
	kt_profile_free(next);
	cJSON_Delete(r1);
	cJSON_Delete(r2);
	cJSON_Delete(r3);
	kt_profile_free(cur);
}

KT_TEST(add_context_namespace_counts)
{
	/* No namespace anywhere: the context's (default_ns) is the effective one. */
	struct kt_profile *cur = parse("forwards:\n  - target: pod/debug\n"), *next = NULL;
	cJSON *r = req("{\"target\":\"pod/debug\",\"namespace\":\"team\"}");

	KT_REQUIRE(cur && r);
	KT_CHECK_INT_EQ(kt_dctl_edit_add(cur, "team", r, &next, msg, sizeof(msg)), 0);
	KT_CHECK_INT_EQ(kt_dctl_edit_add(cur, "default", r, &next, msg, sizeof(msg)), 1);
	kt_profile_free(next);
	cJSON_Delete(r);
	kt_profile_free(cur);
}

KT_TEST(add_rejects_bad_requests)
{
	static const char *const bad[] = {
	    "{}",
	    "{\"target\":7}",
	    "{\"target\":\"\"}",
	    "{\"target\":\"svc/NOT VALID\"}",
	    "{\"target\":\"cronjob/x\"}",
	    "{\"target\":\"svc/web2\",\"namespace\":\"Bad_NS\"}",
	    "{\"target\":\"svc/web2\",\"ports\":[0]}",
	    "{\"target\":\"svc/web2\",\"ports\":[65536]}",
	    "{\"target\":\"svc/web2\",\"ports\":[80.5]}",
	    "{\"target\":\"svc/web2\",\"ports\":[\"80\"]}",
	    "{\"target\":\"svc/web2\",\"ports\":80}",
	    "{\"target\":\"svc/web2\",\"ports\":[80,80]}",
	};
	struct kt_profile *cur = parse(base_yaml), *next = NULL;

	KT_REQUIRE(cur);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cJSON *r = req(bad[i]);

		KT_REQUIRE(r);
		msg[0] = '\0';
		if (kt_dctl_edit_add(cur, "default", r, &next, msg, sizeof(msg)) != -EINVAL)
			KT_FAIL_("%s was accepted", bad[i]);
		KT_CHECK(msg[0] != '\0');
		KT_CHECK(next == NULL);
		cJSON_Delete(r);
	}
	kt_profile_free(cur);
}

KT_TEST(rm_target)
{
	struct kt_profile *cur = parse(base_yaml), *next = NULL;
	struct kt_mapping *m = mapping();
	cJSON *r1 = req("{\"name\":\"deploy/payments\",\"namespace\":\"default\"}");
	cJSON *r2 = req("{\"name\":\"deploy/payments\"}"); /* shop: no such forward */
	cJSON *r3 = req("{\"name\":\"svc/web\"}");

	KT_REQUIRE(cur && m && r1 && r2 && r3);
	KT_CHECK_INT_EQ(kt_dctl_edit_rm(cur, "default", kt_mapping_current(m), "cluster.local", r1,
					&next, msg, sizeof(msg)),
			1);
	KT_CHECK_STR_EQ(msg, "removed deploy/payments in default");
	KT_REQUIRE(next);
	KT_CHECK_INT_EQ(next->nforwards, 3);
	KT_CHECK_STR_EQ(next->forwards[1].name, "kafka");
	kt_profile_free(next);
	next = NULL;
	KT_CHECK_INT_EQ(kt_dctl_edit_rm(cur, "default", kt_mapping_current(m), "cluster.local", r2,
					&next, msg, sizeof(msg)),
			-ENOENT);
	KT_CHECK_STR_EQ(msg, "no forward matches deploy/payments");
	KT_CHECK_INT_EQ(kt_dctl_edit_rm(cur, "default", kt_mapping_current(m), "cluster.local", r3,
					&next, msg, sizeof(msg)),
			1);
	KT_CHECK_INT_EQ(next->nforwards, 3);
	KT_CHECK_STR_EQ(next->forwards[0].name, "payments");
	kt_profile_free(next);
	cJSON_Delete(r1);
	cJSON_Delete(r2);
	cJSON_Delete(r3);
	kt_mapping_free(m);
	kt_profile_free(cur);
}

KT_TEST(rm_host_port_of_an_every_port_forward)
{
	struct kt_profile *cur = parse(base_yaml), *next = NULL;
	struct kt_mapping *m = mapping();
	cJSON *r = req("{\"name\":\"Web.Shop.svc.cluster.local.:80\"}");

	KT_REQUIRE(cur && m && r);
	KT_CHECK_INT_EQ(kt_dctl_edit_rm(cur, "default", kt_mapping_current(m), "cluster.local", r,
					&next, msg, sizeof(msg)),
			1);
	KT_CHECK_STR_EQ(
	    msg, "removed web.shop.svc.cluster.local:80 (port dropped from svc/web in shop)");
	KT_REQUIRE(next);
	/* "every port" became the ports it still maps: 443. */
	KT_CHECK_INT_EQ(next->nforwards, 4);
	KT_CHECK_STR_EQ(next->forwards[0].name, "web");
	KT_CHECK_INT_EQ(next->forwards[0].nports, 1);
	KT_CHECK_INT_EQ(next->forwards[0].ports[0], 443);
	kt_profile_free(next);
	cJSON_Delete(r);
	kt_mapping_free(m);
	kt_profile_free(cur);
}

KT_TEST(rm_short_hostname_removes_the_forward)
{
	struct kt_profile *cur = parse(base_yaml), *next = NULL;
	struct kt_mapping *m = mapping();
	cJSON *r = req("{\"name\":\"web.shop\"}");

	KT_REQUIRE(cur && m && r);
	KT_CHECK_INT_EQ(kt_dctl_edit_rm(cur, "default", kt_mapping_current(m), "cluster.local", r,
					&next, msg, sizeof(msg)),
			1);
	KT_CHECK_STR_EQ(msg, "removed svc/web in shop (web.shop.svc.cluster.local)");
	KT_REQUIRE(next);
	KT_CHECK_INT_EQ(next->nforwards, 3);
	KT_CHECK_INT_EQ(kt_profile_find(next, KT_PROFILE_SERVICE, "web", NULL), -1);
	kt_profile_free(next);
	cJSON_Delete(r);
	kt_mapping_free(m);
	kt_profile_free(cur);
}

KT_TEST(rm_service_name_of_a_workload_drops_the_pod_port)
{
	/* payments.default.svc:80 reaches pod port 8080: the deploy forward loses 8080, which was
	 * its only port, so the forward goes. With ports [8080, 9090] only 9090 would stay. */
	struct kt_profile *cur = parse(base_yaml), *next = NULL;
	struct kt_profile *two = parse("forwards:\n  - target: deploy/payments\n"
				       "    namespace: default\n    ports: [8080, 9090]\n");
	struct kt_mapping *m = mapping();
	cJSON *r = req("{\"name\":\"payments.default.svc.cluster.local:80\"}");

	KT_REQUIRE(cur && two && m && r);
	KT_CHECK_INT_EQ(kt_dctl_edit_rm(cur, "default", kt_mapping_current(m), "cluster.local", r,
					&next, msg, sizeof(msg)),
			1);
	KT_CHECK_INT_EQ(next->nforwards, 3);
	kt_profile_free(next);
	next = NULL;
	KT_CHECK_INT_EQ(kt_dctl_edit_rm(two, "default", kt_mapping_current(m), "cluster.local", r,
					&next, msg, sizeof(msg)),
			1);
	KT_REQUIRE(next);
	KT_CHECK_INT_EQ(next->nforwards, 1);
	KT_CHECK_INT_EQ(next->forwards[0].nports, 1);
	KT_CHECK_INT_EQ(next->forwards[0].ports[0], 9090);
	kt_profile_free(next);
	cJSON_Delete(r);
	kt_mapping_free(m);
	kt_profile_free(two);
	kt_profile_free(cur);
}

KT_TEST(rm_errors)
{
	static const char *const cases[][2] = {
	    {"{\"name\":\"nothing.shop.svc.cluster.local\"}", "no forward matches"},
	    {"{\"name\":\"web.shop.svc.cluster.local:8080\"}", "no forward matches"},
	    {"{\"name\":\"web.shop.svc.cluster.local:0\"}", "invalid port"},
	    {"{\"name\":\"web.shop.svc.cluster.local:+80\"}", "invalid port"},
	    {"{\"name\":\"web:80x\"}", "invalid port"},
	    {"{\"name\":\":80\"}", "invalid host name"},
	    {"{\"name\":\"\"}", "needs a string"},
	    {"{\"name\":[]}", "needs a string"},
	    {"{\"name\":\"svc/web\",\"namespace\":\"NOPE!\"}", "DNS-1123"},
	};
	struct kt_profile *cur = parse(base_yaml), *next = NULL;
	struct kt_mapping *m = mapping();

	KT_REQUIRE(cur && m);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *r = req(cases[i][0]);

		KT_REQUIRE(r);
		msg[0] = '\0';
		if (kt_dctl_edit_rm(cur, "default", kt_mapping_current(m), "cluster.local", r,
				    &next, msg, sizeof(msg)) >= 0 ||
		    !strstr(msg, cases[i][1]))
			KT_FAIL_("%s: got \"%s\"", cases[i][0], msg);
		KT_CHECK(next == NULL);
		cJSON_Delete(r);
	}
	kt_mapping_free(m);
	kt_profile_free(cur);
}

KT_TEST(forward_ls_shape)
{
	struct kt_profile *p = parse("forwards:\n  - target: svc/web\n    ports: [80, 443]\n"
				     "  - target: deploy/api\n    namespace: backend\n");
	cJSON *r;
	char *s;

	KT_REQUIRE(p);
	r = kt_dctl_forward_ls(p);
	KT_REQUIRE(r);
	s = cJSON_PrintUnformatted(r);
	KT_CHECK_STR_EQ(s, "{\"context\":null,\"namespace\":null,\"forwards\":["
			   "{\"target\":\"svc/web\",\"namespace\":null,\"ports\":[80,443]},"
			   "{\"target\":\"deploy/api\",\"namespace\":\"backend\",\"ports\":[]}]}");
	free(s);
	cJSON_Delete(r);
	kt_profile_free(p);
}

static const cJSON *get(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

KT_TEST(status_from_a_snapshot)
{
	struct kt_mapping *m = mapping();
	struct kt_dctl_view v = {
	    .started_at = 1714564800, /* 2024-05-01T12:00:00Z */
	    .subnet = SUBNET,
	    .prefix = 16,
	    .dns_ip = DNSIP,
	    .cluster_domain = "cluster.local",
	    .sysdns_mode = "manual",
	    .sysdns_detail = "hint",
	};
	struct kt_dctl_config cfg = {.view = &v};
	struct kt_dctl *c;
	const struct kt_mapping_entry *e;
	cJSON *st;
	const cJSON *maps, *x, *t;
	char *s;

	KT_REQUIRE(m);
	v.mapping = m;
	c = kt_dctl_new(NULL, NULL, &cfg, msg, sizeof(msg));
	KT_REQUIRE(c);
	/* Traffic and an error on web:80. */
	e = kt_snapshot_entry(kt_mapping_current(m), 0);
	e->stats->conns_total = 3;
	e->stats->conns_active = 1;
	e->stats->bytes_in = 1234;
	e->stats->bytes_out = 99999;
	kt_mapping_stats_error(e->stats, "pods \"web-a\" not found");
	e->stats->last_error_time = 1714564801;
	e->stats->last_failed = true;
	st = kt_dctl_status(c);
	KT_REQUIRE(st);
	s = cJSON_PrintUnformatted(get(st, "daemon"));
	KT_CHECK(strstr(s, "\"started_at\":\"2024-05-01T12:00:00Z\"") != NULL);
	free(s);
	s = cJSON_PrintUnformatted(get(st, "tunnel"));
	KT_CHECK_STR_EQ(s, "{\"device\":null,\"subnet\":\"198.19.0.0/16\",\"mtu\":null,"
			   "\"up_since\":null}");
	free(s);
	s = cJSON_PrintUnformatted(get(st, "dns"));
	KT_CHECK_STR_EQ(s, "{\"vip\":\"198.19.0.53\",\"cluster_domain\":\"cluster.local\","
			   "\"system_dns\":{\"mode\":\"manual\",\"detail\":\"hint\"},"
			   "\"queries_answered\":0,\"last_query\":null}");
	free(s);
	s = cJSON_PrintUnformatted(get(st, "cluster"));
	KT_CHECK_STR_EQ(s, "{\"context\":null,\"server\":null,\"user\":null}");
	free(s);
	s = cJSON_PrintUnformatted(get(st, "api"));
	KT_CHECK_STR_EQ(s, "{\"watches\":0,\"watches_synced\":0,\"last_error\":null,"
			   "\"last_error_at\":null}");
	free(s);
	maps = get(st, "mappings");
	KT_CHECK_INT_EQ(cJSON_GetArraySize(maps), 6);
	x = cJSON_GetArrayItem(maps, 0);
	s = cJSON_PrintUnformatted(x);
	t = get(x, "vip");
	KT_REQUIRE(cJSON_IsString(t));
	{
		char want[1024];

		snprintf(want, sizeof(want),
			 "{\"hostname\":\"web.shop.svc.cluster.local\",\"port\":80,\"vip\":\"%s\","
			 "\"target\":\"svc/web\",\"namespace\":\"shop\","
			 "\"pods\":[\"web-a\",\"web-b\"],\"state\":\"error\",\"active\":1,"
			 "\"total\":3,\"bytes_in\":1234,\"bytes_out\":99999,"
			 "\"last_error\":\"pods \\\"web-a\\\" not found\","
			 "\"last_error_at\":\"2024-05-01T12:00:01Z\"}",
			 t->valuestring);
		KT_CHECK_STR_EQ(s, want);
	}
	free(s);
	KT_CHECK_STR_EQ(get(cJSON_GetArrayItem(maps, 1), "state")->valuestring, "ok");
	KT_CHECK_STR_EQ(get(cJSON_GetArrayItem(maps, 5), "state")->valuestring, "no ready pod");
	KT_CHECK(cJSON_IsNull(get(cJSON_GetArrayItem(maps, 1), "last_error")));
	KT_CHECK_INT_EQ(cJSON_GetArraySize(get(st, "forwards")), 0);
	cJSON_Delete(st);
	kt_dctl_free(c);
	kt_mapping_free(m);
}

KT_TEST_MAIN()
