/* test_controller.c: the fake cluster's controllers: workload pods and their names, pod
 * status, Service defaults and clusterIPs, EndpointSlices (headless hostnames, named
 * targetPorts, readiness), and pod deletion → Terminating → gone → replacement on a real
 * fc_loop with short delays. */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "fixture.h"
#include "kt_test.h"
#include "loop.h"
#include "store.h"

static const char fixture[] =
    "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\n"
    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n"
    "spec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n"
    "  template:\n    metadata: {labels: {app: web}}\n"
    "    spec:\n      containers:\n        - name: nginx\n          image: nginx:1.25\n"
    "          ports: [{name: http, containerPort: 80}, {name: https, containerPort: 443}]\n"
    "---\n"
    "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop, labels: {app: web}}\n"
    "spec:\n  selector: {app: web}\n"
    "  ports: [{name: http, port: 80, targetPort: http}, {name: https, port: 443, targetPort: "
    "https}]\n"
    "---\n"
    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: shop}\n"
    "spec:\n  selector: {matchLabels: {app: api}}\n"
    "  template:\n    metadata: {labels: {app: api}}\n"
    "    spec: {containers: [{name: api, image: api:1, ports: [{name: api-http, containerPort: "
    "8080}]}]}\n"
    "---\n"
    "apiVersion: v1\nkind: Service\nmetadata: {name: api, namespace: shop}\n"
    "spec: {selector: {app: api}, ports: [{port: 80, targetPort: api-http}]}\n"
    "---\n"
    "apiVersion: v1\nkind: Service\nmetadata: {name: ext, namespace: shop}\n"
    "spec: {type: ExternalName, externalName: example.com}\n"
    "---\n"
    "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: kafka, namespace: data}\n"
    "spec:\n  serviceName: kafka\n  replicas: 3\n  selector: {matchLabels: {app: kafka}}\n"
    "  template:\n    metadata: {labels: {app: kafka}}\n"
    "    spec: {containers: [{name: kafka, image: kafka:3, ports: [{name: kafka, containerPort: "
    "9092}]}]}\n"
    "---\n"
    "apiVersion: v1\nkind: Service\nmetadata: {name: kafka, namespace: data}\n"
    "spec: {clusterIP: None, selector: {app: kafka}, ports: [{name: kafka, port: 9092}]}\n"
    "---\n"
    "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent}\n"
    "spec:\n  selector: {matchLabels: {app: agent}}\n"
    "  template:\n    metadata: {labels: {app: agent}}\n"
    "    spec: {containers: [{name: agent, image: agent:1, ports: [{containerPort: 9100}]}]}\n"
    "---\n"
    "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: mix, labels: {app: mix}}\n"
    "spec: {containers: [{name: c, image: x, ports: [{name: p, containerPort: 1000}]}]}\n"
    "---\n"
    "apiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: mix, labels: {app: mix}}\n"
    "spec: {containers: [{name: c, image: x, ports: [{name: p, containerPort: 2000}]}]}\n"
    "---\n"
    "apiVersion: v1\nkind: Service\nmetadata: {name: mix, namespace: mix}\n"
    "spec: {selector: {app: mix}, ports: [{name: x, port: 80, targetPort: p}]}\n";

struct env {
	struct fc_loop *loop;
	struct fc_store *s;
	struct fc_controller *ctl;
};

static bool env_init(struct env *e, bool with_loop)
{
	struct fc_controller_opts o = {.nodes = 3,
				       .grace_ms = 300,
				       .replace_delay_ms = 100,
				       .start_delay_ms = 100,
				       .api_host = "127.0.0.1",
				       .api_port = 6443};
	char err[512] = "";

	e->loop = with_loop ? fc_loop_new() : NULL;
	e->s = fc_store_new();
	e->ctl = fc_controller_new(e->loop, e->s, &o);
	if (!e->ctl ||
	    fc_fixture_load_buf(e->ctl, "t.yaml", fixture, strlen(fixture), err, sizeof(err))) {
		fprintf(stderr, "fixture: %s\n", err);
		return false;
	}
	return true;
}

static void env_fini(struct env *e)
{
	fc_controller_free(e->ctl);
	fc_store_free(e->s);
	fc_loop_free(e->loop);
}

static void stop_cb(void *arg)
{
	fc_loop_stop(arg);
}

static void run_for(struct fc_loop *loop, uint64_t ms)
{
	fc_loop_timer(loop, ms, stop_cb, loop);
	fc_loop_run(loop);
}

static const cJSON *get(const cJSON *o, const char *path)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save)) {
		char *end;
		long idx = strtol(k, &end, 10);

		o = *end == '\0' && cJSON_IsArray(o) ? cJSON_GetArrayItem(o, (int)idx)
						     : cJSON_GetObjectItemCaseSensitive(o, k);
	}
	return o;
}

static const char *jstrp(const cJSON *o, const char *path)
{
	const cJSON *v = get(o, path);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double getn(const cJSON *o, const char *path)
{
	const cJSON *v = get(o, path);

	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static bool matches(const char *re, const char *s)
{
	regex_t r;
	bool ok;

	if (!s || regcomp(&r, re, REG_EXTENDED | REG_NOSUB))
		return false;
	ok = regexec(&r, s, 0, NULL, 0) == 0;
	regfree(&r);
	return ok;
}

static const cJSON *cond(const cJSON *pod, const char *type)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, get(pod, "status.conditions"))
	{
		if (jstrp(c, "type") && !strcmp(jstrp(c, "type"), type))
			return c;
	}
	return NULL;
}

/* Pods of a namespace, as an array of (borrowed) pointers valid until the store changes. */
struct podlist {
	const cJSON *v[64];
	int n;
};

static void add_pod(void *arg, const cJSON *o)
{
	struct podlist *l = arg;

	if (l->n < 64)
		l->v[l->n++] = o;
}

static struct podlist pods(struct fc_store *s, const char *ns, const char *prefix)
{
	struct podlist all = {.n = 0}, out = {.n = 0};

	fc_store_foreach(s, FC_KIND_POD, ns, add_pod, &all);
	for (int i = 0; i < all.n; i++) {
		if (!prefix || !strncmp(jstrp(all.v[i], "metadata.name"), prefix, strlen(prefix)))
			out.v[out.n++] = all.v[i];
	}
	return out;
}

/* The EndpointSlices of a Service (borrowed pointers, as above). */
static struct podlist slices(struct fc_store *s, const char *ns, const char *svc)
{
	struct podlist all = {.n = 0}, out = {.n = 0};

	fc_store_foreach(s, FC_KIND_ENDPOINTSLICE, ns, add_pod, &all);
	for (int i = 0; i < all.n; i++) {
		const cJSON *labels = get(all.v[i], "metadata.labels");
		const cJSON *sn =
		    cJSON_GetObjectItemCaseSensitive(labels, "kubernetes.io/service-name");

		if (cJSON_IsString(sn) && !strcmp(sn->valuestring, svc))
			out.v[out.n++] = all.v[i];
	}
	return out;
}

static int count_endpoints(const cJSON *slice)
{
	return cJSON_GetArraySize(get(slice, "endpoints"));
}

KT_TEST(deployment_pods)
{
	struct env e;

	KT_REQUIRE(env_init(&e, false));
	struct podlist p = pods(e.s, "shop", "web-");
	KT_CHECK_INT_EQ(p.n, 2);
	for (int i = 0; i < p.n; i++) {
		const cJSON *pod = p.v[i];
		const char *name = jstrp(pod, "metadata.name");
		const char *hash = jstrp(pod, "metadata.labels.pod-template-hash");
		char rs[64];

		KT_CHECK(matches(
		    "^web-[bcdfghjklmnpqrstvwxz2456789]{10}-[bcdfghjklmnpqrstvwxz2456789]{5}$",
		    name));
		KT_REQUIRE(hash && strlen(hash) == 10);
		snprintf(rs, sizeof(rs), "web-%s", hash);
		KT_CHECK(!strncmp(name, rs, strlen(rs)));
		KT_CHECK_STR_EQ(jstrp(pod, "metadata.ownerReferences.0.kind"), "ReplicaSet");
		KT_CHECK_STR_EQ(jstrp(pod, "metadata.ownerReferences.0.name"), rs);
		KT_CHECK(cJSON_IsTrue(get(pod, "metadata.ownerReferences.0.controller")));
		KT_CHECK_STR_EQ(jstrp(pod, "metadata.labels.app"), "web");
		/* Realistic status. */
		KT_CHECK_STR_EQ(jstrp(pod, "status.phase"), "Running");
		KT_CHECK(matches("^fake-node-[123]$", jstrp(pod, "spec.nodeName")));
		KT_CHECK(matches("^10\\.244\\.[0-9]+\\.[0-9]+$", jstrp(pod, "status.podIP")));
		KT_CHECK_STR_EQ(jstrp(pod, "status.podIPs.0.ip"), jstrp(pod, "status.podIP"));
		KT_CHECK(matches("^172\\.18\\.0\\.[234]$", jstrp(pod, "status.hostIP")));
		KT_CHECK(jstrp(pod, "status.startTime") != NULL);
		const char *conds[] = {"PodScheduled", "Initialized", "ContainersReady", "Ready"};
		for (int k = 0; k < 4; k++) {
			KT_CHECK_STR_EQ(jstrp(cond(pod, conds[k]), "status"), "True");
			KT_CHECK(matches("^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$",
					 jstrp(cond(pod, conds[k]), "lastTransitionTime")));
		}
		const cJSON *cs = get(pod, "status.containerStatuses.0");
		KT_CHECK_STR_EQ(jstrp(cs, "name"), "nginx");
		KT_CHECK(cJSON_IsTrue(get(cs, "ready")) && cJSON_IsTrue(get(cs, "started")));
		KT_CHECK_INT_EQ(getn(cs, "restartCount"), 0);
		KT_CHECK(jstrp(cs, "state.running.startedAt") != NULL);
		KT_CHECK_STR_EQ(jstrp(cs, "image"), "docker.io/library/nginx:1.25");
		KT_CHECK(
		    matches("^docker.io/library/nginx@sha256:[0-9a-f]{64}$", jstrp(cs, "imageID")));
		KT_CHECK(matches("^containerd://[0-9a-f]{64}$", jstrp(cs, "containerID")));
	}
	KT_REQUIRE(p.n == 2);
	KT_CHECK(strcmp(jstrp(p.v[0], "status.podIP"), jstrp(p.v[1], "status.podIP")) != 0);
	/* Deployment status. */
	const cJSON *d = fc_store_get(e.s, FC_KIND_DEPLOYMENT, "shop", "web");
	KT_CHECK_INT_EQ(getn(d, "status.readyReplicas"), 2);
	KT_CHECK_INT_EQ(getn(d, "status.availableReplicas"), 2);
	KT_CHECK_INT_EQ(getn(d, "status.replicas"), 2);
	/* replicas defaults to 1. */
	KT_CHECK_INT_EQ(pods(e.s, "shop", "api-").n, 1);
	env_fini(&e);
}

KT_TEST(statefulset_and_daemonset_pods)
{
	struct env e;
	const char *nodes[3] = {NULL, NULL, NULL};

	KT_REQUIRE(env_init(&e, false));
	for (int i = 0; i < 3; i++) {
		char name[32];
		const cJSON *pod;

		snprintf(name, sizeof(name), "kafka-%d", i);
		pod = fc_store_get(e.s, FC_KIND_POD, "data", name);
		KT_REQUIRE(pod);
		KT_CHECK_STR_EQ(jstrp(pod, "spec.hostname"), name);
		KT_CHECK_STR_EQ(jstrp(pod, "spec.subdomain"), "kafka");
		KT_CHECK_STR_EQ(jstrp(pod, "metadata.ownerReferences.0.kind"), "StatefulSet");
		KT_CHECK_STR_EQ(cJSON_GetObjectItem(get(pod, "metadata.labels"),
						    "statefulset.kubernetes.io/pod-name")
				    ->valuestring,
				name);
	}
	KT_CHECK(!fc_store_get(e.s, FC_KIND_POD, "data", "kafka-3"));
	KT_CHECK_INT_EQ(
	    getn(fc_store_get(e.s, FC_KIND_STATEFULSET, "data", "kafka"), "status.readyReplicas"),
	    3);
	/* One DaemonSet pod per fake node, pinned to it. */
	struct podlist ds = pods(e.s, "default", "agent-");
	KT_CHECK_INT_EQ(ds.n, 3);
	for (int i = 0; i < ds.n; i++) {
		const char *n = jstrp(ds.v[i], "spec.nodeName");

		KT_CHECK(matches("^agent-[bcdfghjklmnpqrstvwxz2456789]{5}$",
				 jstrp(ds.v[i], "metadata.name")));
		KT_CHECK(n && n[10] >= '1' && n[10] <= '3' && !nodes[n[10] - '1']);
		if (n && n[10] >= '1' && n[10] <= '3')
			nodes[n[10] - '1'] = n;
		KT_CHECK_STR_EQ(
		    jstrp(
			ds.v[i],
			"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
			".nodeSelectorTerms.0.matchFields.0.values.0"),
		    n);
	}
	KT_CHECK_INT_EQ(
	    getn(fc_store_get(e.s, FC_KIND_DAEMONSET, "default", "agent"), "status.numberReady"),
	    3);
	env_fini(&e);
}

KT_TEST(services_and_cluster_ips)
{
	struct env e;

	KT_REQUIRE(env_init(&e, false));
	const cJSON *k = fc_store_get(e.s, FC_KIND_SERVICE, "default", "kubernetes");
	KT_CHECK_STR_EQ(jstrp(k, "spec.clusterIP"), "10.96.0.1");
	KT_CHECK_INT_EQ(getn(k, "spec.ports.0.targetPort"), 6443);
	KT_CHECK_STR_EQ(jstrp(fc_store_get(e.s, FC_KIND_ENDPOINTSLICE, "default", "kubernetes"),
			      "endpoints.0.addresses.0"),
			"127.0.0.1");
	const cJSON *web = fc_store_get(e.s, FC_KIND_SERVICE, "shop", "web");
	const char *ip = jstrp(web, "spec.clusterIP");
	unsigned a, b, c, d;
	char *end;

	KT_REQUIRE(ip);
	a = (unsigned)strtoul(ip, &end, 10);
	b = (unsigned)strtoul(end + 1, &end, 10);
	c = (unsigned)strtoul(end + 1, &end, 10);
	d = (unsigned)strtoul(end + 1, &end, 10);
	KT_CHECK(a == 10 && b >= 96 && b < 112 && !(b == 96 && c == 0 && d <= 10));
	KT_CHECK_STR_EQ(jstrp(web, "spec.clusterIPs.0"), ip);
	KT_CHECK_STR_EQ(jstrp(web, "spec.type"), "ClusterIP");
	KT_CHECK_STR_EQ(jstrp(web, "spec.ports.0.protocol"), "TCP");
	KT_CHECK(
	    strcmp(ip, jstrp(fc_store_get(e.s, FC_KIND_SERVICE, "shop", "api"), "spec.clusterIP")));
	KT_CHECK_STR_EQ(
	    jstrp(fc_store_get(e.s, FC_KIND_SERVICE, "data", "kafka"), "spec.clusterIP"), "None");
	/* targetPort defaults to port. */
	KT_CHECK_INT_EQ(
	    getn(fc_store_get(e.s, FC_KIND_SERVICE, "data", "kafka"), "spec.ports.0.targetPort"),
	    9092);
	const cJSON *ext = fc_store_get(e.s, FC_KIND_SERVICE, "shop", "ext");
	KT_CHECK(!get(ext, "spec.clusterIP"));
	KT_CHECK_INT_EQ(slices(e.s, "shop", "ext").n, 0);
	env_fini(&e);
}

KT_TEST(endpointslices)
{
	struct env e;

	KT_REQUIRE(env_init(&e, false));
	/* web: both named target ports resolved through the containers, both pods. */
	struct podlist sl = slices(e.s, "shop", "web");
	KT_REQUIRE(sl.n == 1);
	const cJSON *s = sl.v[0];
	KT_CHECK(matches("^web-[bcdfghjklmnpqrstvwxz2456789]{5}$", jstrp(s, "metadata.name")));
	KT_CHECK_STR_EQ(jstrp(s, "apiVersion"), "discovery.k8s.io/v1");
	KT_CHECK_STR_EQ(jstrp(s, "addressType"), "IPv4");
	const cJSON *labels = get(s, "metadata.labels");
	KT_CHECK_STR_EQ(
	    cJSON_GetObjectItem(labels, "endpointslice.kubernetes.io/managed-by")->valuestring,
	    "endpointslice-controller.k8s.io");
	KT_CHECK_STR_EQ(jstrp(s, "ports.0.name"), "http");
	KT_CHECK_INT_EQ(getn(s, "ports.0.port"), 80);
	KT_CHECK_STR_EQ(jstrp(s, "ports.1.name"), "https");
	KT_CHECK_INT_EQ(getn(s, "ports.1.port"), 443);
	KT_CHECK_INT_EQ(count_endpoints(s), 2);
	KT_CHECK(cJSON_IsTrue(get(s, "endpoints.0.conditions.ready")));
	KT_CHECK(cJSON_IsTrue(get(s, "endpoints.0.conditions.serving")));
	KT_CHECK(cJSON_IsFalse(get(s, "endpoints.0.conditions.terminating")));
	KT_CHECK_STR_EQ(jstrp(s, "endpoints.0.targetRef.kind"), "Pod");
	KT_CHECK(get(s, "endpoints.0.nodeName") != NULL);
	KT_CHECK(!get(s, "endpoints.0.hostname"));
	/* api: port 80 → named targetPort api-http → 8080. */
	sl = slices(e.s, "shop", "api");
	KT_REQUIRE(sl.n == 1);
	KT_CHECK_INT_EQ(getn(sl.v[0], "ports.0.port"), 8080);
	KT_CHECK_STR_EQ(jstrp(sl.v[0], "ports.0.name"), "");
	/* Headless kafka: hostnames from the StatefulSet pods. */
	sl = slices(e.s, "data", "kafka");
	KT_REQUIRE(sl.n == 1);
	KT_CHECK_INT_EQ(count_endpoints(sl.v[0]), 3);
	KT_CHECK_STR_EQ(jstrp(sl.v[0], "endpoints.0.hostname"), "kafka-0");
	KT_CHECK_STR_EQ(jstrp(sl.v[0], "endpoints.2.hostname"), "kafka-2");
	KT_CHECK_STR_EQ(jstrp(sl.v[0], "endpoints.1.targetRef.name"), "kafka-1");
	KT_CHECK_STR_EQ(jstrp(sl.v[0], "endpoints.1.addresses.0"),
			jstrp(fc_store_get(e.s, FC_KIND_POD, "data", "kafka-1"), "status.podIP"));
	/* mix: one named targetPort, two numbers: one slice per port set. */
	sl = slices(e.s, "mix", "mix");
	KT_REQUIRE(sl.n == 2);
	int p0 = (int)getn(sl.v[0], "ports.0.port"), p1 = (int)getn(sl.v[1], "ports.0.port");
	KT_CHECK((p0 == 1000 && p1 == 2000) || (p0 == 2000 && p1 == 1000));
	KT_CHECK_INT_EQ(count_endpoints(sl.v[0]), 1);
	KT_CHECK_STR_EQ(jstrp(sl.v[0], "endpoints.0.targetRef.name"), p0 == 1000 ? "a" : "b");
	env_fini(&e);
}

KT_TEST(set_pod_ready)
{
	struct env e;
	char ts[64];

	KT_REQUIRE(env_init(&e, false));
	KT_CHECK_INT_EQ(fc_controller_set_pod_ready(e.ctl, "data", "kafka-1", false), 0);
	KT_CHECK_INT_EQ(fc_controller_set_pod_ready(e.ctl, "data", "nosuch", false), -ENOENT);
	const cJSON *pod = fc_store_get(e.s, FC_KIND_POD, "data", "kafka-1");
	KT_CHECK_STR_EQ(jstrp(cond(pod, "Ready"), "status"), "False");
	KT_CHECK_STR_EQ(jstrp(cond(pod, "ContainersReady"), "status"), "False");
	KT_CHECK_STR_EQ(jstrp(cond(pod, "Ready"), "reason"), "ContainersNotReady");
	KT_CHECK(cJSON_IsFalse(get(pod, "status.containerStatuses.0.ready")));
	KT_CHECK_STR_EQ(jstrp(pod, "status.phase"), "Running");
	snprintf(ts, sizeof(ts), "%s", jstrp(cond(pod, "Ready"), "lastTransitionTime"));
	struct podlist sl = slices(e.s, "data", "kafka");
	KT_REQUIRE(sl.n == 1);
	KT_CHECK(cJSON_IsFalse(get(sl.v[0], "endpoints.1.conditions.ready")));
	KT_CHECK(cJSON_IsFalse(get(sl.v[0], "endpoints.1.conditions.serving")));
	KT_CHECK(cJSON_IsTrue(get(sl.v[0], "endpoints.0.conditions.ready")));
	KT_CHECK_INT_EQ(
	    getn(fc_store_get(e.s, FC_KIND_STATEFULSET, "data", "kafka"), "status.readyReplicas"),
	    2);
	KT_CHECK_INT_EQ(fc_controller_set_pod_ready(e.ctl, "data", "kafka-1", true), 0);
	pod = fc_store_get(e.s, FC_KIND_POD, "data", "kafka-1");
	KT_CHECK_STR_EQ(jstrp(cond(pod, "Ready"), "status"), "True");
	KT_CHECK(!get(cond(pod, "Ready"), "reason"));
	sl = slices(e.s, "data", "kafka");
	KT_CHECK(cJSON_IsTrue(get(sl.v[0], "endpoints.1.conditions.ready")));
	env_fini(&e);
}

/* Records pod events of one namespace as "TYPE name phase ready terminating uid". */
struct evlog {
	char line[64][160];
	int n;
};

static void ev_fn(void *arg, enum fc_event_type type, const cJSON *obj, uint64_t rv)
{
	struct evlog *l = arg;
	static const char *const t[] = {"ADDED", "MODIFIED", "DELETED"};
	const char *ready = jstrp(cond(obj, "Ready"), "status");

	(void)rv;
	if (l->n < 64)
		snprintf(l->line[l->n++], sizeof(l->line[0]), "%s %s %s %s %s %s", t[type],
			 jstrp(obj, "metadata.name"), jstrp(obj, "status.phase"),
			 ready ? ready : "-", get(obj, "metadata.deletionTimestamp") ? "T" : "-",
			 jstrp(obj, "metadata.uid"));
}

static bool has_prefix(const char *s, const char *p)
{
	return !strncmp(s, p, strlen(p));
}

KT_TEST(statefulset_pod_delete_and_replace)
{
	struct env e;
	struct evlog log = {.n = 0};
	char uid[64];

	KT_REQUIRE(env_init(&e, true));
	snprintf(uid, sizeof(uid), "%s",
		 jstrp(fc_store_get(e.s, FC_KIND_POD, "data", "kafka-1"), "metadata.uid"));
	fc_store_watch(e.s, FC_KIND_POD, "data", 0, ev_fn, &log, NULL);
	KT_CHECK_INT_EQ(fc_controller_delete(e.ctl, FC_KIND_POD, "data", "kafka-1", -1), 0);
	KT_CHECK_INT_EQ(fc_controller_delete(e.ctl, FC_KIND_POD, "data", "nosuch", -1), -ENOENT);
	/* At once: Terminating, not ready, still Running, out of the ready endpoints. */
	const cJSON *pod = fc_store_get(e.s, FC_KIND_POD, "data", "kafka-1");
	KT_REQUIRE(pod);
	KT_CHECK(jstrp(pod, "metadata.deletionTimestamp") != NULL);
	KT_CHECK_INT_EQ(getn(pod, "metadata.deletionGracePeriodSeconds"), 1);
	KT_CHECK_STR_EQ(jstrp(pod, "status.phase"), "Running");
	KT_CHECK_STR_EQ(jstrp(cond(pod, "Ready"), "status"), "False");
	struct podlist sl = slices(e.s, "data", "kafka");
	KT_REQUIRE(sl.n == 1);
	KT_CHECK(cJSON_IsFalse(get(sl.v[0], "endpoints.1.conditions.ready")));
	KT_CHECK(cJSON_IsTrue(get(sl.v[0], "endpoints.1.conditions.terminating")));
	/* Deleting again changes nothing. */
	KT_CHECK_INT_EQ(fc_controller_delete(e.ctl, FC_KIND_POD, "data", "kafka-1", -1), 0);
	run_for(e.loop, 350); /* > grace 300: gone; replacement due 100 ms later */
	KT_CHECK(!fc_store_get(e.s, FC_KIND_POD, "data", "kafka-1"));
	KT_CHECK_INT_EQ(count_endpoints(slices(e.s, "data", "kafka").v[0]), 2);
	run_for(e.loop, 100); /* replacement exists, Pending until 500 */
	pod = fc_store_get(e.s, FC_KIND_POD, "data", "kafka-1");
	KT_REQUIRE(pod);
	KT_CHECK(strcmp(jstrp(pod, "metadata.uid"), uid) != 0);
	KT_CHECK_STR_EQ(jstrp(pod, "status.phase"), "Pending");
	KT_CHECK_STR_EQ(jstrp(pod, "status.containerStatuses.0.state.waiting.reason"),
			"ContainerCreating");
	KT_CHECK(!get(pod, "status.podIP"));
	KT_CHECK_STR_EQ(jstrp(pod, "spec.hostname"), "kafka-1");
	run_for(e.loop, 150); /* start delay 100 */
	pod = fc_store_get(e.s, FC_KIND_POD, "data", "kafka-1");
	KT_CHECK_STR_EQ(jstrp(pod, "status.phase"), "Running");
	KT_CHECK_STR_EQ(jstrp(cond(pod, "Ready"), "status"), "True");
	KT_CHECK_INT_EQ(count_endpoints(slices(e.s, "data", "kafka").v[0]), 3);
	/* The event sequence a watcher sees. */
	KT_REQUIRE(log.n == 4);
	KT_CHECK(has_prefix(log.line[0], "MODIFIED kafka-1 Running False T "));
	KT_CHECK(has_prefix(log.line[1], "DELETED kafka-1 Running False T "));
	KT_CHECK(has_prefix(log.line[2], "ADDED kafka-1 Pending False - "));
	KT_CHECK(has_prefix(log.line[3], "MODIFIED kafka-1 Running True - "));
	KT_CHECK(!strstr(log.line[2], uid));
	env_fini(&e);
}

KT_TEST(deployment_pod_delete_and_replace)
{
	struct env e;
	char old[128];

	KT_REQUIRE(env_init(&e, true));
	struct podlist p = pods(e.s, "shop", "web-");
	KT_REQUIRE(p.n == 2);
	snprintf(old, sizeof(old), "%s", jstrp(p.v[0], "metadata.name"));
	KT_CHECK_INT_EQ(fc_controller_delete(e.ctl, FC_KIND_POD, "shop", old, -1), 0);
	run_for(e.loop, 150); /* replacement (100 ms) while the old pod terminates (300 ms) */
	p = pods(e.s, "shop", "web-");
	KT_CHECK_INT_EQ(p.n, 3);
	KT_CHECK(fc_store_get(e.s, FC_KIND_POD, "shop", old) != NULL);
	run_for(e.loop, 250);
	p = pods(e.s, "shop", "web-");
	KT_REQUIRE(p.n == 2);
	for (int i = 0; i < 2; i++) {
		KT_CHECK(strcmp(jstrp(p.v[i], "metadata.name"), old) != 0);
		KT_CHECK_STR_EQ(jstrp(p.v[i], "status.phase"), "Running");
		KT_CHECK(matches("^web-[a-z0-9]{10}-[a-z0-9]{5}$", jstrp(p.v[i], "metadata.name")));
	}
	KT_CHECK_INT_EQ(count_endpoints(slices(e.s, "shop", "web").v[0]), 2);
	KT_CHECK_INT_EQ(
	    getn(fc_store_get(e.s, FC_KIND_DEPLOYMENT, "shop", "web"), "status.readyReplicas"), 2);
	/* Force delete (grace 0): gone at once, replaced later. */
	snprintf(old, sizeof(old), "%s", jstrp(p.v[0], "metadata.name"));
	KT_CHECK_INT_EQ(fc_controller_delete(e.ctl, FC_KIND_POD, "shop", old, 0), 0);
	KT_CHECK(!fc_store_get(e.s, FC_KIND_POD, "shop", old));
	env_fini(&e);
}

KT_TEST(delete_workloads_and_services)
{
	struct env e;

	KT_REQUIRE(env_init(&e, true));
	KT_CHECK_INT_EQ(fc_controller_delete(e.ctl, FC_KIND_DEPLOYMENT, "shop", "web", -1), 0);
	KT_CHECK(!fc_store_get(e.s, FC_KIND_DEPLOYMENT, "shop", "web"));
	struct podlist p = pods(e.s, "shop", "web-");
	KT_CHECK_INT_EQ(p.n, 2);
	for (int i = 0; i < p.n; i++)
		KT_CHECK(get(p.v[i], "metadata.deletionTimestamp") != NULL);
	run_for(e.loop, 400);
	KT_CHECK_INT_EQ(pods(e.s, "shop", "web-").n, 0); /* gone, not replaced */
	/* The slice stays, as a placeholder with null endpoints. */
	struct podlist sl = slices(e.s, "shop", "web");
	KT_REQUIRE(sl.n == 1);
	KT_CHECK(cJSON_IsNull(get(sl.v[0], "endpoints")));
	KT_CHECK(cJSON_IsNull(get(sl.v[0], "ports")));
	KT_CHECK_INT_EQ(fc_controller_delete(e.ctl, FC_KIND_SERVICE, "shop", "web", -1), 0);
	KT_CHECK(!fc_store_get(e.s, FC_KIND_SERVICE, "shop", "web"));
	KT_CHECK_INT_EQ(slices(e.s, "shop", "web").n, 0);
	KT_CHECK_INT_EQ(fc_controller_delete(e.ctl, FC_KIND_SERVICE, "shop", "web", -1), -ENOENT);
	KT_CHECK_INT_EQ(fc_controller_delete(e.ctl, FC_KIND_NAMESPACE, NULL, "shop", -1), -EPERM);
	/* StatefulSet delete: pods go, no replacement. */
	KT_CHECK_INT_EQ(fc_controller_delete(e.ctl, FC_KIND_STATEFULSET, "data", "kafka", -1), 0);
	run_for(e.loop, 400);
	KT_CHECK_INT_EQ(pods(e.s, "data", "kafka-").n, 0);
	env_fini(&e);
}

KT_TEST(create_after_start)
{
	struct env e;
	char msg[256];
	cJSON *d = cJSON_Parse(
	    "{\"metadata\":{\"name\":\"new\",\"namespace\":\"shop\"},\"spec\":{\"replicas\":2,"
	    "\"selector\":{\"matchLabels\":{\"app\":\"new\"}},\"template\":{\"metadata\":{"
	    "\"labels\":"
	    "{\"app\":\"new\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x\","
	    "\"ports\":[{\"containerPort\":80}]}]}}}}");
	cJSON *svc = cJSON_Parse("{\"metadata\":{\"name\":\"new\",\"namespace\":\"shop\"},\"spec\":"
				 "{\"selector\":{\"app\":\"new\"},\"ports\":[{\"port\":80}]}}");

	KT_REQUIRE(env_init(&e, true));
	KT_CHECK_INT_EQ(
	    fc_controller_create(e.ctl, FC_KIND_DEPLOYMENT, d, false, false, msg, sizeof(msg)), 0);
	KT_CHECK_INT_EQ(
	    fc_controller_create(e.ctl, FC_KIND_SERVICE, svc, false, false, msg, sizeof(msg)), 0);
	struct podlist p = pods(e.s, "shop", "new-");
	KT_REQUIRE(p.n == 2);
	KT_CHECK_STR_EQ(jstrp(p.v[0], "status.phase"), "Pending");
	KT_CHECK_STR_EQ(jstrp(p.v[0], "metadata.generateName") ? "ok" : NULL, "ok");
	/* No ready pods yet: a placeholder slice. */
	struct podlist sl = slices(e.s, "shop", "new");
	KT_REQUIRE(sl.n == 1);
	KT_CHECK(cJSON_IsNull(get(sl.v[0], "endpoints")));
	run_for(e.loop, 200);
	p = pods(e.s, "shop", "new-");
	KT_REQUIRE(p.n == 2);
	KT_CHECK_STR_EQ(jstrp(p.v[1], "status.phase"), "Running");
	sl = slices(e.s, "shop", "new");
	KT_REQUIRE(sl.n == 1);
	KT_CHECK_INT_EQ(count_endpoints(sl.v[0]), 2);
	KT_CHECK_INT_EQ(getn(sl.v[0], "ports.0.port"), 80);
	/* Errors. */
	KT_CHECK_INT_EQ(
	    fc_controller_create(e.ctl, FC_KIND_SERVICE,
				 cJSON_Parse("{\"metadata\":{\"name\":\"new\",\"namespace\":"
					     "\"shop\"},\"spec\":{\"ports\":[{\"port\":1}]}}"),
				 false, false, msg, sizeof(msg)),
	    -EEXIST);
	KT_CHECK_INT_EQ(
	    fc_controller_create(e.ctl, FC_KIND_POD,
				 cJSON_Parse("{\"metadata\":{\"name\":\"p\",\"namespace\":"
					     "\"nosuch\"},\"spec\":{\"containers\":[{\"name\":"
					     "\"c\",\"image\":\"x\"}]}}"),
				 false, false, msg, sizeof(msg)),
	    -ENOENT);
	KT_CHECK_STR_EQ(msg, "namespaces \"nosuch\" not found");
	KT_CHECK_INT_EQ(fc_controller_create(e.ctl, FC_KIND_DEPLOYMENT,
					     cJSON_Parse("{\"metadata\":{\"name\":\"x\"},\"spec\":"
							 "{\"replicas\":\"x\"}}"),
					     false, false, msg, sizeof(msg)),
			-EINVAL);
	KT_CHECK_STR_EQ(msg, "spec.replicas: expected an integer, got string \"x\"");
	KT_CHECK_INT_EQ(fc_controller_create(
			    e.ctl, FC_KIND_SERVICE,
			    cJSON_Parse("{\"metadata\":{\"name\":\"dup\"},\"spec\":"
					"{\"clusterIP\":\"10.96.0.1\",\"ports\":[{\"port\":1}]}}"),
			    false, false, msg, sizeof(msg)),
			-EINVAL);
	KT_CHECK_STR_EQ(
	    msg, "spec.clusterIP: Invalid value: \"10.96.0.1\": provided IP is already allocated");
	env_fini(&e);
}

KT_TEST(kind_lookup)
{
	enum fc_kind k;

	KT_CHECK_INT_EQ(fc_controller_kind("apps/v1", "Deployment", &k), 0);
	KT_CHECK_INT_EQ(k, FC_KIND_DEPLOYMENT);
	KT_CHECK_INT_EQ(fc_controller_kind("v1", "Deployment", &k), -EPROTO);
	KT_CHECK_INT_EQ(fc_controller_kind("v1", "ConfigMap", &k), -ENOENT);
	KT_CHECK_INT_EQ(fc_controller_kind("discovery.k8s.io/v1", "EndpointSlice", &k), -EPERM);
}

KT_TEST_MAIN()
