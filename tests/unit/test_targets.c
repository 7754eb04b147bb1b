/* test_targets.c: unit tests for src/targets.c: kubectl's target resolution and port
 * translation, the names published for each kind of forward, pod eligibility, cache updates
 * from watch events. Objects are fed as the informers would feed them. */
#include "kt_test.h"
#include "mapping.h"
#include "profile.h"
#include "targets.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <time.h>

static char err[512];
static int changes;

static void on_change(void *arg)
{
	(void)arg;
	changes++;
}

struct env {
	struct kt_profile *p;
	struct kt_targets *t;
	struct kt_mapping *m;
};

static bool env_init(struct env *e, const char *profile_yaml)
{
	struct kt_mapping_config mc = {.cluster_domain = "cluster.local",
				       .subnet = 0xC6130000u,
				       .prefix_len = 16,
				       .dns_ip = 0xC6130035u,
				       .host_ip = 0xC6130001u};
	struct kt_targets_config tc = {
	    .default_ns = "default", .cluster_domain = "cluster.local", .changed = on_change};

	*e = (struct env){0};
	e->p = kt_profile_parse(profile_yaml, strlen(profile_yaml), "p.yaml", err, sizeof(err));
	if (!e->p) {
		fprintf(stderr, "profile: %s\n", err);
		return false;
	}
	tc.profile = e->p;
	e->t = kt_targets_new(&tc);
	e->m = kt_mapping_new(&mc, err, sizeof(err));
	return e->t && e->m;
}

static void env_fini(struct env *e)
{
	kt_targets_free(e->t);
	kt_mapping_free(e->m);
	kt_profile_free(e->p);
}

static const struct kt_snapshot *rebuild(struct env *e)
{
	struct kt_mapping_builder *b = kt_mapping_begin(e->m);

	if (!b || kt_targets_emit(e->t, b) || kt_mapping_commit(e->m, b, err, sizeof(err)))
		return NULL;
	return kt_mapping_current(e->m);
}

/* Feeds a JSON list (a string holding a JSON array) as a full sync. */
static void sync_json(struct env *e, const char *ns, enum kt_targets_res res, const char *json)
{
	cJSON *j = cJSON_Parse(json);

	if (!j) {
		KT_FAIL_("bad JSON in test: %.60s", json);
		return;
	}
	KT_CHECK_INT_EQ(kt_targets_feed_sync(e->t, ns, res, j), 0);
	cJSON_Delete(j);
}

static void event_json(struct env *e, const char *ns, enum kt_targets_res res, const char *type,
		       const char *json)
{
	cJSON *j = cJSON_Parse(json);

	if (!j) {
		KT_FAIL_("bad JSON in test: %.60s", json);
		return;
	}
	KT_CHECK_INT_EQ(kt_targets_feed_event(e->t, ns, res, type, j), 0);
	cJSON_Delete(j);
}

/* The entry for hostname:port, or NULL. */
static const struct kt_mapping_entry *find(struct env *e, const char *host, uint16_t port)
{
	uint32_t vip = kt_mapping_vip_of(e->m, host);

	return vip ? kt_snapshot_lookup(kt_mapping_current(e->m), vip, port) : NULL;
}

/* "pod:port,pod:port" of an entry. */
static const char *pods_of(const struct kt_mapping_entry *en)
{
	static char buf[512];
	size_t off = 0;

	buf[0] = '\0';
	if (!en)
		return "(no entry)";
	for (size_t i = 0; i < en->npods; i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s:%u", i ? "," : "",
					en->pods[i].name, en->pods[i].port);
	return buf;
}

static const char *fwd_error(struct env *e, size_t i)
{
	struct kt_targets_status st;

	kt_targets_status(e->t, i, &st);
	return st.error;
}

/* Pod JSON: ready "R", not ready "N", terminating "T", pending "P". */
static char *pod(const char *name, const char *labels, const char *state, const char *ports,
		 const char *hostname_subdomain)
{
	static char bufs[16][1024];
	static int k;
	char *b = bufs[k++ % 16];
	bool ready = state[0] == 'R' || state[0] == 'T';

	snprintf(b, 1024,
		 "{\"metadata\":{\"name\":\"%s\",\"labels\":%s%s},"
		 "\"spec\":{%s\"containers\":[{\"name\":\"c\",\"ports\":%s}]},"
		 "\"status\":{\"phase\":\"%s\",\"conditions\":[{\"type\":\"Ready\",\"status\":"
		 "\"%s\"}]}}",
		 name, labels,
		 state[0] == 'T' ? ",\"deletionTimestamp\":\"2026-01-01T00:00:00Z\"" : "",
		 hostname_subdomain ? hostname_subdomain : "", ports,
		 state[0] == 'P' ? "Pending" : "Running", ready ? "True" : "False");
	return b;
}

static char *list(int n, ...)
{
	static char buf[16384];
	size_t off = 0;
	va_list ap;

	va_start(ap, n);
	off += (size_t)snprintf(buf, sizeof(buf), "[");
	for (int i = 0; i < n; i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s", i ? "," : "",
					va_arg(ap, const char *));
	snprintf(buf + off, sizeof(buf) - off, "]");
	va_end(ap);
	return buf;
}

#define WEB_PORTS                                                                                  \
	"[{\"name\":\"http\",\"containerPort\":8080},{\"name\":\"https\",\"containerPort\":8443}," \
	"{\"name\":\"dns\",\"containerPort\":53,\"protocol\":\"UDP\"}]"

static const char *svc_web =
    "{\"metadata\":{\"name\":\"web\"},\"spec\":{\"selector\":{\"app\":\"web\"},\"ports\":["
    "{\"name\":\"http\",\"port\":80,\"targetPort\":\"http\"},"
    "{\"name\":\"https\",\"port\":443,\"targetPort\":\"https\"},"
    "{\"name\":\"metrics\",\"port\":9000,\"targetPort\":9100},"
    "{\"name\":\"same\",\"port\":7000},"
    "{\"name\":\"dns\",\"port\":53,\"protocol\":\"UDP\",\"targetPort\":53}]}}";

static void feed_shop(struct env *e)
{
	sync_json(
	    e, "shop", KT_TARGETS_SERVICES,
	    list(3, svc_web,
		 "{\"metadata\":{\"name\":\"ext\"},\"spec\":{\"type\":\"ExternalName\","
		 "\"externalName\":\"example.com\"}}",
		 "{\"metadata\":{\"name\":\"manual\"},\"spec\":{\"ports\":[{\"port\":5432}]}}"));
	sync_json(e, "shop", KT_TARGETS_PODS,
		  list(5, pod("web-b", "{\"app\":\"web\"}", "R", WEB_PORTS, NULL),
		       pod("web-a", "{\"app\":\"web\"}", "R", WEB_PORTS, NULL),
		       pod("web-c", "{\"app\":\"web\"}", "N", WEB_PORTS, NULL),
		       pod("web-d", "{\"app\":\"web\"}", "T", WEB_PORTS, NULL),
		       pod("other", "{\"app\":\"other\"}", "R", WEB_PORTS, NULL)));
}

KT_TEST(service_ports_translated_like_kubectl)
{
	struct env e;
	KT_REQUIRE(env_init(&e, "forwards:\n  - target: svc/web\n    namespace: shop\n"));
	/* Not listed yet: nothing published, status says why. */
	KT_REQUIRE(rebuild(&e));
	KT_CHECK_INT_EQ(kt_snapshot_count(kt_mapping_current(e.m)), 0);
	KT_CHECK_STR_EQ(fwd_error(&e, 0), "waiting for the API server");
	KT_CHECK(!kt_targets_synced(e.t));
	changes = 0;
	feed_shop(&e);
	KT_CHECK_INT_EQ(changes, 2);
	KT_CHECK(kt_targets_synced(e.t));
	KT_REQUIRE(rebuild(&e));
	const char *h = "web.shop.svc.cluster.local";
	/* Named targetPort per pod; ready, non-terminating pods only, sorted by name. */
	KT_CHECK_STR_EQ(pods_of(find(&e, h, 80)), "web-a:8080,web-b:8080");
	KT_CHECK_STR_EQ(pods_of(find(&e, h, 443)), "web-a:8443,web-b:8443");
	/* Numeric targetPort, and an omitted one (= the port). */
	KT_CHECK_STR_EQ(pods_of(find(&e, h, 9000)), "web-a:9100,web-b:9100");
	KT_CHECK_STR_EQ(pods_of(find(&e, h, 7000)), "web-a:7000,web-b:7000");
	/* UDP ports are not forwarded. */
	KT_CHECK(find(&e, h, 53) == NULL);
	KT_CHECK_STR_EQ(find(&e, h, 80)->port_name, "http");
	KT_CHECK_STR_EQ(find(&e, h, 80)->ns, "shop");
	KT_CHECK_STR_EQ(find(&e, h, 80)->forward, "svc/web");
	KT_CHECK_STR_EQ(fwd_error(&e, 0), "");
	struct kt_targets_status st;
	kt_targets_status(e.t, 0, &st);
	KT_CHECK_INT_EQ(st.mappings, 4);
	KT_CHECK_INT_EQ(st.ready_pods, 2);
	KT_CHECK(st.synced);

	/* A pod becomes ready, one starts terminating, one is deleted. */
	event_json(&e, "shop", KT_TARGETS_PODS, "MODIFIED",
		   pod("web-c", "{\"app\":\"web\"}", "R", WEB_PORTS, NULL));
	event_json(&e, "shop", KT_TARGETS_PODS, "MODIFIED",
		   pod("web-a", "{\"app\":\"web\"}", "T", WEB_PORTS, NULL));
	event_json(&e, "shop", KT_TARGETS_PODS, "DELETED",
		   pod("web-b", "{\"app\":\"web\"}", "R", WEB_PORTS, NULL));
	KT_REQUIRE(rebuild(&e));
	KT_CHECK_STR_EQ(pods_of(find(&e, h, 80)), "web-c:8080");
	/* A pod lacking the named port is skipped; the others still serve. */
	event_json(&e, "shop", KT_TARGETS_PODS, "ADDED",
		   pod("web-e", "{\"app\":\"web\"}", "R", "[{\"containerPort\":8080}]", NULL));
	KT_REQUIRE(rebuild(&e));
	KT_CHECK_STR_EQ(pods_of(find(&e, h, 80)), "web-c:8080");
	KT_CHECK_STR_EQ(pods_of(find(&e, h, 9000)), "web-c:9100,web-e:9100");
	/* No pods at all: still mapped (connections are refused), no error. */
	event_json(&e, "shop", KT_TARGETS_PODS, "DELETED", pod("web-c", "{}", "R", "[]", NULL));
	event_json(&e, "shop", KT_TARGETS_PODS, "DELETED", pod("web-e", "{}", "R", "[]", NULL));
	KT_REQUIRE(rebuild(&e));
	KT_REQUIRE(find(&e, h, 80));
	KT_CHECK_INT_EQ(find(&e, h, 80)->npods, 0);
	env_fini(&e);
}

KT_TEST(service_errors_and_port_subsets)
{
	struct env e;
	KT_REQUIRE(env_init(&e, "namespace: shop\n"
				"forwards:\n"
				"  - target: svc/ext\n"
				"  - target: svc/manual\n"
				"  - target: svc/missing\n"
				"  - target: svc/web\n"
				"    ports: [443, 8443, 53]\n"));
	feed_shop(&e);
	KT_REQUIRE(rebuild(&e));
	KT_CHECK_STR_EQ(fwd_error(&e, 0),
			"invalid service 'ext': Service is defined without a selector");
	KT_CHECK_STR_EQ(fwd_error(&e, 1),
			"invalid service 'manual': Service is defined without a selector");
	KT_CHECK_STR_EQ(fwd_error(&e, 2), "services \"missing\" not found");
	KT_CHECK_STR_EQ(fwd_error(&e, 3), "Service web does not have a service port 8443");
	const char *h = "web.shop.svc.cluster.local";
	KT_CHECK(find(&e, h, 443) != NULL);
	KT_CHECK(find(&e, h, 80) == NULL);
	/* A Service without a selector: its name answers, connections are refused. */
	KT_REQUIRE(find(&e, "manual.shop.svc.cluster.local", 5432));
	KT_CHECK_INT_EQ(find(&e, "manual.shop.svc.cluster.local", 5432)->npods, 0);
	KT_CHECK_INT_EQ(kt_mapping_vip_of(e.m, "ext.shop.svc.cluster.local"), 0);
	KT_CHECK_INT_EQ(kt_mapping_vip_of(e.m, "missing.shop.svc.cluster.local"), 0);
	env_fini(&e);

	KT_REQUIRE(env_init(&e, "forwards:\n  - target: svc/web\n    namespace: shop\n"
				"    ports: [53]\n"));
	feed_shop(&e);
	KT_REQUIRE(rebuild(&e));
	KT_CHECK_STR_EQ(fwd_error(&e, 0), "UDP protocol is not supported for 53");
	env_fini(&e);
}

static const char *svc_kafka =
    "{\"metadata\":{\"name\":\"kafka\"},\"spec\":{\"clusterIP\":\"None\",\"selector\":{\"app\":"
    "\"kafka\"},\"ports\":[{\"name\":\"kafka\",\"port\":9092,\"targetPort\":\"kafka\"},"
    "{\"port\":9999,\"targetPort\":1234}]}}";

#define KAFKA_PORTS "[{\"name\":\"kafka\",\"containerPort\":9092}]"
#define HS(h) "\"hostname\":\"" h "\",\"subdomain\":\"kafka\","

static const char *sts_kafka =
    "{\"metadata\":{\"name\":\"kafka\"},\"spec\":{\"serviceName\":\"kafka\",\"selector\":{"
    "\"matchLabels\":{\"app\":\"kafka\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":"
    "\"kafka\"}},\"spec\":{\"containers\":[{\"name\":\"k\",\"ports\":" KAFKA_PORTS "}]}}}}";

static void feed_data(struct env *e)
{
	sync_json(e, "data", KT_TARGETS_SERVICES, list(1, svc_kafka));
	sync_json(e, "data", KT_TARGETS_PODS,
		  list(4, pod("kafka-0", "{\"app\":\"kafka\"}", "R", KAFKA_PORTS, HS("kafka-0")),
		       pod("kafka-1", "{\"app\":\"kafka\"}", "R", KAFKA_PORTS, HS("kafka-1")),
		       pod("kafka-2", "{\"app\":\"kafka\"}", "N", KAFKA_PORTS, HS("kafka-2")),
		       /* No hostname: named after the pod. */
		       pod("loose", "{\"app\":\"kafka\"}", "R", KAFKA_PORTS, NULL)));
}

KT_TEST(headless_service_per_pod_names)
{
	struct env e;
	KT_REQUIRE(env_init(&e, "forwards:\n  - target: svc/kafka\n    namespace: data\n"));
	feed_data(&e);
	KT_REQUIRE(rebuild(&e));
	/* The port is used as given (kubectl skips targetPort for headless Services). */
	KT_CHECK_STR_EQ(pods_of(find(&e, "kafka-1.kafka.data.svc.cluster.local", 9092)),
			"kafka-1:9092");
	KT_CHECK_STR_EQ(pods_of(find(&e, "kafka-1.kafka.data.svc.cluster.local", 9999)),
			"kafka-1:9999");
	KT_CHECK_STR_EQ(pods_of(find(&e, "kafka-0.kafka.data.svc.cluster.local", 9092)),
			"kafka-0:9092");
	KT_CHECK_STR_EQ(pods_of(find(&e, "loose.kafka.data.svc.cluster.local", 9092)),
			"loose:9092");
	/* Not ready: no name. The Service name itself has no VIP of its own. */
	KT_CHECK(find(&e, "kafka-2.kafka.data.svc.cluster.local", 9092) == NULL);
	KT_CHECK_INT_EQ(kt_mapping_vip_of(e.m, "kafka.data.svc.cluster.local"), 0);
	KT_CHECK_INT_EQ(kt_snapshot_count(kt_mapping_current(e.m)), 6);
	uint32_t v1 = kt_mapping_vip_of(e.m, "kafka-1.kafka.data.svc.cluster.local");

	/* kafka-1 goes away and comes back: same name, same VIP, same pod. */
	event_json(&e, "data", KT_TARGETS_PODS, "DELETED", pod("kafka-1", "{}", "R", "[]", NULL));
	KT_REQUIRE(rebuild(&e));
	KT_CHECK(find(&e, "kafka-1.kafka.data.svc.cluster.local", 9092) == NULL);
	event_json(&e, "data", KT_TARGETS_PODS, "ADDED",
		   pod("kafka-1", "{\"app\":\"kafka\"}", "R", KAFKA_PORTS, HS("kafka-1")));
	KT_REQUIRE(rebuild(&e));
	KT_CHECK_STR_EQ(pods_of(find(&e, "kafka-1.kafka.data.svc.cluster.local", 9092)),
			"kafka-1:9092");
	KT_CHECK_INT_EQ(kt_mapping_vip_of(e.m, "kafka-1.kafka.data.svc.cluster.local"), v1);
	env_fini(&e);
}

KT_TEST(statefulset_publishes_governing_service_names)
{
	struct env e;
	KT_REQUIRE(env_init(&e, "forwards:\n  - target: sts/kafka\n    namespace: data\n"));
	feed_data(&e);
	KT_REQUIRE(rebuild(&e));
	KT_CHECK_STR_EQ(fwd_error(&e, 0), "waiting for the API server");
	sync_json(&e, "data", KT_TARGETS_STATEFULSETS, list(1, sts_kafka));
	KT_REQUIRE(rebuild(&e));
	KT_CHECK_STR_EQ(fwd_error(&e, 0), "");
	/* Our documented name: round robin over the ready pods. */
	KT_CHECK_STR_EQ(pods_of(find(&e, "kafka.data.sts.cluster.local", 9092)),
			"kafka-0:9092,kafka-1:9092,loose:9092");
	/* The headless Service's per-pod names, with the forwarded (container) ports. */
	KT_CHECK_STR_EQ(pods_of(find(&e, "kafka-1.kafka.data.svc.cluster.local", 9092)),
			"kafka-1:9092");
	KT_CHECK(find(&e, "kafka-1.kafka.data.svc.cluster.local", 9999) == NULL);
	KT_CHECK_STR_EQ(find(&e, "kafka.data.sts.cluster.local", 9092)->port_name, "kafka");
	env_fini(&e);
}

static const char *deploy_pay =
    "{\"metadata\":{\"name\":\"payments\"},\"spec\":{\"selector\":{\"matchLabels\":{\"app\":"
    "\"payments\"},\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"In\",\"values\":["
    "\"a\",\"b\"]},{\"key\":\"canary\",\"operator\":\"DoesNotExist\"}]},"
    "\"template\":{\"metadata\":{\"labels\":{\"app\":\"payments\",\"tier\":\"a\"}},"
    "\"spec\":{\"containers\":[{\"name\":\"p\",\"ports\":[{\"containerPort\":8080},"
    "{\"name\":\"admin\",\"containerPort\":9000}]}]}}}}";

KT_TEST(deployment_selector_and_service_names)
{
	struct env e;
	KT_REQUIRE(env_init(&e, "forwards:\n  - target: deploy/payments\n"));
	sync_json(
	    &e, "default", KT_TARGETS_SERVICES,
	    list(3,
		 "{\"metadata\":{\"name\":\"payments\"},\"spec\":{\"selector\":{\"app\":"
		 "\"payments\"},\"ports\":[{\"port\":80,\"targetPort\":8080},{\"name\":\"x\","
		 "\"port\":81,\"targetPort\":7777}]}}",
		 "{\"metadata\":{\"name\":\"all-tier-a\"},\"spec\":{\"selector\":{\"tier\":"
		 "\"a\"},\"ports\":[{\"name\":\"adm\",\"port\":9,\"targetPort\":\"admin\"}]}}",
		 "{\"metadata\":{\"name\":\"unrelated\"},\"spec\":{\"selector\":{\"app\":"
		 "\"x\"},\"ports\":[{\"port\":80}]}}"));
	sync_json(&e, "default", KT_TARGETS_PODS,
		  list(4,
		       pod("p-1", "{\"app\":\"payments\",\"tier\":\"a\"}", "R",
			   "[{\"containerPort\":8080},{\"name\":\"admin\",\"containerPort\":9000}]",
			   NULL),
		       pod("p-2", "{\"app\":\"payments\",\"tier\":\"b\"}", "R",
			   "[{\"containerPort\":8080},{\"name\":\"admin\",\"containerPort\":9000}]",
			   NULL),
		       pod("p-canary", "{\"app\":\"payments\",\"tier\":\"a\",\"canary\":\"1\"}",
			   "R", "[{\"containerPort\":8080}]", NULL),
		       pod("p-c", "{\"app\":\"payments\",\"tier\":\"c\"}", "R",
			   "[{\"containerPort\":8080}]", NULL)));
	sync_json(&e, "default", KT_TARGETS_DEPLOYMENTS, list(1, deploy_pay));
	KT_REQUIRE(rebuild(&e));
	KT_CHECK_STR_EQ(fwd_error(&e, 0), "");
	KT_CHECK_STR_EQ(pods_of(find(&e, "payments.default.deploy.cluster.local", 8080)),
			"p-1:8080,p-2:8080");
	KT_CHECK_STR_EQ(pods_of(find(&e, "payments.default.deploy.cluster.local", 9000)),
			"p-1:9000,p-2:9000");
	/* The Service selecting them: its port 80 → 8080 (forwarded), 81 → 7777 (not). */
	KT_CHECK_STR_EQ(pods_of(find(&e, "payments.default.svc.cluster.local", 80)),
			"p-1:8080,p-2:8080");
	KT_CHECK(find(&e, "payments.default.svc.cluster.local", 81) == NULL);
	/* Another Service selecting the template: only the deployment's pods serve it. */
	KT_CHECK_STR_EQ(pods_of(find(&e, "all-tier-a.default.svc.cluster.local", 9)), "p-1:9000");
	KT_CHECK_INT_EQ(kt_mapping_vip_of(e.m, "unrelated.default.svc.cluster.local"), 0);
	env_fini(&e);

	/* A profile port subset limits every published name. */
	KT_REQUIRE(env_init(&e, "forwards:\n  - target: deploy/payments\n    ports: [9000]\n"));
	sync_json(&e, "default", KT_TARGETS_SERVICES,
		  list(1, "{\"metadata\":{\"name\":\"payments\"},\"spec\":{\"selector\":{\"app\":"
			  "\"payments\"},\"ports\":[{\"port\":80,\"targetPort\":8080}]}}"));
	sync_json(&e, "default", KT_TARGETS_PODS, "[]");
	sync_json(&e, "default", KT_TARGETS_DEPLOYMENTS, list(1, deploy_pay));
	KT_REQUIRE(rebuild(&e));
	KT_REQUIRE(find(&e, "payments.default.deploy.cluster.local", 9000));
	KT_CHECK_INT_EQ(find(&e, "payments.default.deploy.cluster.local", 9000)->npods, 0);
	KT_CHECK(find(&e, "payments.default.deploy.cluster.local", 8080) == NULL);
	KT_CHECK(find(&e, "payments.default.svc.cluster.local", 80) == NULL);
	env_fini(&e);
}

KT_TEST(pod_and_daemonset_targets)
{
	struct env e;
	KT_REQUIRE(env_init(&e, "forwards:\n  - target: pod/debug\n  - target: ds/agent\n"
				"  - target: pod/nope\n  - target: deploy/gone\n"));
	sync_json(&e, "default", KT_TARGETS_SERVICES,
		  list(1, "{\"metadata\":{\"name\":\"debug\"},\"spec\":{\"selector\":{\"app\":"
			  "\"debug\"},\"ports\":[{\"port\":8080}]}}"));
	sync_json(&e, "default", KT_TARGETS_PODS,
		  list(3,
		       pod("debug", "{\"app\":\"debug\"}", "R",
			   "[{\"name\":\"http\",\"containerPort\":8080}]", NULL),
		       pod("agent-x", "{\"app\":\"agent\"}", "R",
			   "[{\"name\":\"metrics\",\"containerPort\":9100}]", NULL),
		       pod("agent-y", "{\"app\":\"agent\"}", "P",
			   "[{\"name\":\"metrics\",\"containerPort\":9100}]", NULL)));
	sync_json(&e, "default", KT_TARGETS_DAEMONSETS,
		  list(1, "{\"metadata\":{\"name\":\"agent\"},\"spec\":{\"selector\":{"
			  "\"matchLabels\":{\"app\":\"agent\"}},\"template\":{\"metadata\":{"
			  "\"labels\":{\"app\":\"agent\"}},\"spec\":{\"containers\":[{\"name\":"
			  "\"a\",\"ports\":[{\"name\":\"metrics\",\"containerPort\":9100}]}]}}}}"));
	sync_json(&e, "default", KT_TARGETS_DEPLOYMENTS, "[]");
	KT_REQUIRE(rebuild(&e));
	KT_CHECK_STR_EQ(pods_of(find(&e, "debug.default.pod.cluster.local", 8080)), "debug:8080");
	KT_CHECK_STR_EQ(pods_of(find(&e, "debug.default.svc.cluster.local", 8080)), "debug:8080");
	KT_CHECK_STR_EQ(pods_of(find(&e, "agent.default.ds.cluster.local", 9100)), "agent-x:9100");
	KT_CHECK_STR_EQ(fwd_error(&e, 2), "pods \"nope\" not found");
	KT_CHECK_STR_EQ(fwd_error(&e, 3), "deployments.apps \"gone\" not found");
	/* Same (hostname, port) from a later forward: the first keeps it. */
	env_fini(&e);
}

KT_TEST(publish_not_ready_and_first_forward_wins)
{
	struct env e;
	KT_REQUIRE(env_init(&e, "namespace: ns\nforwards:\n  - target: svc/a\n"
				"    ports: [80]\n  - target: deploy/d\n"));
	sync_json(&e, "ns", KT_TARGETS_SERVICES,
		  list(1, "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"publishNotReadyAddresses\":"
			  "true,\"selector\":{\"app\":\"a\"},\"ports\":[{\"port\":80},{\"port\":"
			  "81}]}}"));
	sync_json(&e, "ns", KT_TARGETS_PODS,
		  list(3, pod("a-1", "{\"app\":\"a\"}", "N", "[{\"containerPort\":80}]", NULL),
		       pod("a-2", "{\"app\":\"a\"}", "P", "[{\"containerPort\":80}]", NULL),
		       pod("a-3", "{\"app\":\"a\"}", "T", "[{\"containerPort\":80}]", NULL)));
	sync_json(&e, "ns", KT_TARGETS_DEPLOYMENTS,
		  list(1,
		       "{\"metadata\":{\"name\":\"d\"},\"spec\":{\"selector\":{\"matchLabels\":"
		       "{\"app\":\"a\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"a\"}},"
		       "\"spec\":{\"containers\":[{\"name\":\"c\",\"ports\":[{\"containerPort\":"
		       "80},{\"containerPort\":81}]}]}}}}"));
	KT_REQUIRE(rebuild(&e));
	/* Running but not ready counts for publishNotReadyAddresses; Pending and terminating
	 * never do. svc/a came first: its port 80 keeps the Service's semantics. */
	KT_CHECK_STR_EQ(pods_of(find(&e, "a.ns.svc.cluster.local", 80)), "a-1:80");
	KT_CHECK_STR_EQ(find(&e, "a.ns.svc.cluster.local", 80)->forward, "svc/a");
	/* Port 81 was not in svc/a's subset: the deployment publishes it. */
	KT_REQUIRE(find(&e, "a.ns.svc.cluster.local", 81));
	KT_CHECK_STR_EQ(find(&e, "a.ns.svc.cluster.local", 81)->forward, "deploy/d");
	env_fini(&e);
}

KT_TEST(objects_of_unwatched_namespaces_are_ignored)
{
	struct env e;
	KT_REQUIRE(env_init(&e, "forwards:\n  - target: svc/web\n    namespace: shop\n"));
	changes = 0;
	sync_json(&e, "elsewhere", KT_TARGETS_PODS, "[]");
	sync_json(&e, "shop", KT_TARGETS_DAEMONSETS, "[]");
	event_json(&e, "shop", KT_TARGETS_PODS, "BOOKMARK", "{\"metadata\":{\"name\":\"x\"}}");
	event_json(&e, "shop", KT_TARGETS_PODS, "ADDED", "{\"metadata\":{}}");
	KT_CHECK_INT_EQ(changes, 0);
	env_fini(&e);
}

/* 4,000 forwarded Services (near the profile's limit) over 10,000 pods in one namespace: one
 * rebuild must not be quadratic (a selector looks at the pods of its rarest label pair, not at
 * every pod). */
KT_TEST(thousands_of_services_rebuild)
{
	struct env e;
	KT_REQUIRE(env_init(&e, "namespace: big\n"));
	kt_targets_free(e.t);
	char name[64];
	for (int i = 0; i < 4000; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		KT_REQUIRE(kt_profile_add(e.p, KT_PROFILE_SERVICE, name, NULL, NULL, 0, err,
					  sizeof(err)) == 0);
	}
	struct kt_targets_config tc = {
	    .default_ns = "default", .cluster_domain = "cluster.local", .profile = e.p};
	e.t = kt_targets_new(&tc);
	KT_REQUIRE(e.t);
	cJSON *svcs = cJSON_CreateArray(), *pods = cJSON_CreateArray();
	char js[512];
	for (int i = 0; i < 10000; i++) {
		snprintf(
		    js, sizeof(js),
		    "{\"metadata\":{\"name\":\"s%d\"},\"spec\":{\"selector\":{\"app\":"
		    "\"a%d\",\"tier\":\"web\"},\"ports\":[{\"port\":80,\"targetPort\":8080}]}}",
		    i, i);
		cJSON_AddItemToArray(svcs, cJSON_Parse(js));
		snprintf(js, sizeof(js), "%s",
			 pod("p", "{}", "R", "[{\"containerPort\":8080}]", NULL));
		cJSON *p = cJSON_Parse(js);
		cJSON *md = cJSON_GetObjectItem(p, "metadata");
		char pn[32], app[32];
		snprintf(pn, sizeof(pn), "p%d", i);
		snprintf(app, sizeof(app), "a%d", i);
		cJSON_ReplaceItemInObject(md, "name", cJSON_CreateString(pn));
		cJSON *labels = cJSON_CreateObject();
		cJSON_AddStringToObject(labels, "app", app);
		cJSON_AddStringToObject(labels, "tier", "web");
		cJSON_ReplaceItemInObject(md, "labels", labels);
		cJSON_AddItemToArray(pods, p);
	}
	KT_CHECK_INT_EQ(kt_targets_feed_sync(e.t, "big", KT_TARGETS_SERVICES, svcs), 0);
	KT_CHECK_INT_EQ(kt_targets_feed_sync(e.t, "big", KT_TARGETS_PODS, pods), 0);
	cJSON_Delete(svcs);
	cJSON_Delete(pods);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	KT_REQUIRE(rebuild(&e));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	printf("  4,000 forwards over 10,000 pods resolved and published in %.0f ms\n", ms);
	KT_CHECK(ms < 3000);
	KT_CHECK_INT_EQ(kt_snapshot_count(kt_mapping_current(e.m)), 4000);
	KT_CHECK_STR_EQ(pods_of(find(&e, "s3876.big.svc.cluster.local", 80)), "p3876:8080");
	env_fini(&e);
}

KT_TEST_MAIN()
