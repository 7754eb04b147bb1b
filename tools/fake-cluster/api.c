/* api.c: the fake cluster's Kubernetes REST API (see api.h).
 *
 * Routes an authenticated request by path: discovery (legacy JSON, protocol.md §4 step 0),
 * GET/LIST/WATCH/POST/DELETE on the resources of the store (§5), Status errors (§5.7). A LIST
 * or GET may be answered as a meta.k8s.io/v1 Table when the Accept header asks for one, which
 * is how `kubectl get` prints its usual columns. Object changes go through the controller.
 *
 * A watch takes the conn over: it installs its own conn ops, writes one JSON event per chunk,
 * and ends by closing the conn (or, after timeoutSeconds, by finishing the chunked body and
 * giving the conn back to the HTTP layer). A watch whose client does not read is aborted
 * rather than buffered without bound. Watch state is owned by the api and freed on the conn's
 * on_close, on timeout, or in fc_api_fini. The module's state hangs off cl->api. */
#include "api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "buf.h"
#include "cluster.h"
#include "conn.h"
#include "controller.h"
#include "fixture.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "selector.h"
#include "store.h"

#define LIST_MAX_BYTES (256u << 20)
#define BOOKMARK_FIRST_MS 200
#define START_DELAY_MS 200

struct res {
	const char *plural, *singular, *kind, *group, *short_name;
	enum fc_kind k;
	bool namespaced;
	bool creatable, deletable;
};

static const struct res resources[] = {
    {"namespaces", "namespace", "Namespace", "", "ns", FC_KIND_NAMESPACE, false, true, false},
    {"pods", "pod", "Pod", "", "po", FC_KIND_POD, true, true, true},
    {"services", "service", "Service", "", "svc", FC_KIND_SERVICE, true, true, true},
    {"endpointslices", "endpointslice", "EndpointSlice", "discovery.k8s.io", NULL,
     FC_KIND_ENDPOINTSLICE, true, false, false},
    {"deployments", "deployment", "Deployment", "apps", "deploy", FC_KIND_DEPLOYMENT, true, true,
     true},
    {"statefulsets", "statefulset", "StatefulSet", "apps", "sts", FC_KIND_STATEFULSET, true, true,
     true},
    {"daemonsets", "daemonset", "DaemonSet", "apps", "ds", FC_KIND_DAEMONSET, true, true, true},
};
#define NRES (sizeof(resources) / sizeof(resources[0]))

static const char *const groups[] = {"apps", "discovery.k8s.io"};

struct watch;

struct fc_api {
	struct fc_cluster *cl;
	struct fc_controller *ctl;
	struct watch *watches;
};

static struct fc_api *api_of(const struct fc_cluster *cl)
{
	return cl->api;
}

/* ---- helpers ------------------------------------------------------------------------------- */

static const cJSON *jget(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = jget(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *mstr(const cJSON *o, const char *k)
{
	return jstr(jget(o, "metadata"), k);
}

static void api_version_of(const struct res *r, char *out, size_t cap)
{
	snprintf(out, cap, "%s%sv1", r->group, *r->group ? "/" : "");
}

/* "pods" or "deployments.apps": how error messages name a resource (§5.7). */
static void qualified(const struct res *r, char *out, size_t cap)
{
	snprintf(out, cap, "%s%s%s", r->plural, *r->group ? "." : "", r->group);
}

/* A metav1.Status; group may be NULL. */
static void status(struct fc_conn *c, int code, const char *reason, const char *message,
		   const char *kind, const char *group, const char *name, const char *uid)
{
	cJSON *st = cJSON_CreateObject(), *d;

	if (!st) {
		fc_http_respond(c, 500, "text/plain", NULL, "out of memory\n", 14);
		return;
	}
	cJSON_AddStringToObject(st, "kind", "Status");
	cJSON_AddStringToObject(st, "apiVersion", "v1");
	cJSON_AddObjectToObject(st, "metadata");
	cJSON_AddStringToObject(st, "status", code >= 200 && code < 300 ? "Success" : "Failure");
	if (message)
		cJSON_AddStringToObject(st, "message", message);
	if (reason)
		cJSON_AddStringToObject(st, "reason", reason);
	if (kind || name) {
		d = cJSON_AddObjectToObject(st, "details");
		if (name)
			cJSON_AddStringToObject(d, "name", name);
		if (group && *group)
			cJSON_AddStringToObject(d, "group", group);
		if (kind)
			cJSON_AddStringToObject(d, "kind", kind);
		if (uid)
			cJSON_AddStringToObject(d, "uid", uid);
	}
	cJSON_AddNumberToObject(st, "code", code);
	fc_http_respond_json(c, code, st);
	cJSON_Delete(st);
}

static void not_found(struct fc_conn *c, const struct res *r, const char *name)
{
	char q[64], msg[400];

	qualified(r, q, sizeof(q));
	snprintf(msg, sizeof(msg), "%s \"%s\" not found", q, name);
	status(c, 404, "NotFound", msg, r->plural, r->group, name, NULL);
}

static void no_resource(struct fc_conn *c)
{
	status(c, 404, "NotFound", "the server could not find the requested resource", NULL, NULL,
	       NULL, NULL);
}

static void method_not_allowed(struct fc_conn *c)
{
	status(c, 405, "MethodNotAllowed",
	       "the server does not allow this method on the requested resource", NULL, NULL, NULL,
	       NULL);
}

static void bad_request(struct fc_conn *c, const char *msg)
{
	status(c, 400, "BadRequest", msg, NULL, NULL, NULL, NULL);
}

static void respond_obj(struct fc_conn *c, int code, const cJSON *obj)
{
	fc_http_respond_json(c, code, obj);
}

/* Go's strconv.ParseBool, which the API server uses for query parameters: the Python client
 * sends watch=True. */
static bool truthy(const char *v)
{
	static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};

	for (size_t i = 0; v && i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcmp(v, yes[i]))
			return true;
	}
	return false;
}

static bool wants_table(const struct fc_http_req *req)
{
	const char *a = fc_http_header(req, "Accept");

	return a && strstr(a, "as=Table") && strstr(a, "g=meta.k8s.io");
}

/* ---- Tables (what `kubectl get` prints) ---------------------------------------------------- */

static time_t parse_ts(const char *s)
{
	struct tm tm;
	const char *end;

	if (!s)
		return 0;
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return end && !*end ? timegm(&tm) : 0;
}

/* k8s.io/apimachinery/pkg/util/duration HumanDuration, as kubectl's AGE column shows it. */
static void human_duration(time_t secs, char *out, size_t cap)
{
	long long s = (long long)secs, m = s / 60, h = s / 3600, d = h / 24, y = d / 365;

	if (s < -1)
		snprintf(out, cap, "<invalid>");
	else if (s < 0)
		snprintf(out, cap, "0s");
	else if (s < 60 * 2)
		snprintf(out, cap, "%llds", s);
	else if (m < 10)
		s % 60 ? snprintf(out, cap, "%lldm%llds", m, s % 60)
		       : snprintf(out, cap, "%lldm", m);
	else if (m < 60 * 3)
		snprintf(out, cap, "%lldm", m);
	else if (h < 8)
		m % 60 ? snprintf(out, cap, "%lldh%lldm", h, m % 60)
		       : snprintf(out, cap, "%lldh", h);
	else if (h < 48)
		snprintf(out, cap, "%lldh", h);
	else if (h < 24 * 8)
		h % 24 ? snprintf(out, cap, "%lldd%lldh", d, h % 24)
		       : snprintf(out, cap, "%lldd", d);
	else if (h < 24 * 365 * 2)
		snprintf(out, cap, "%lldd", d);
	else if (h < 24 * 365 * 8)
		d % 365 ? snprintf(out, cap, "%lldy%lldd", y, d % 365)
			: snprintf(out, cap, "%lldy", y);
	else
		snprintf(out, cap, "%lldy", y);
}

static void age_of(const cJSON *obj, char *out, size_t cap)
{
	time_t t = parse_ts(mstr(obj, "creationTimestamp"));

	if (!t)
		snprintf(out, cap, "<unknown>");
	else
		human_duration(time(NULL) - t, out, cap);
}

struct col {
	const char *name, *type, *format;
	int priority;
};

static const struct col pod_cols[] = {{"Name", "string", "name", 0},
				      {"Ready", "string", "", 0},
				      {"Status", "string", "", 0},
				      {"Restarts", "string", "", 0},
				      {"Age", "string", "", 0},
				      {"IP", "string", "", 1},
				      {"Node", "string", "", 1},
				      {"Nominated Node", "string", "", 1},
				      {"Readiness Gates", "string", "", 1},
				      {NULL, NULL, NULL, 0}};
static const struct col svc_cols[] = {
    {"Name", "string", "name", 0},    {"Type", "string", "", 0},    {"Cluster-IP", "string", "", 0},
    {"External-IP", "string", "", 0}, {"Port(s)", "string", "", 0}, {"Age", "string", "", 0},
    {"Selector", "string", "", 1},    {NULL, NULL, NULL, 0}};
static const struct col eps_cols[] = {
    {"Name", "string", "name", 0},  {"AddressType", "string", "", 0}, {"Ports", "string", "", 0},
    {"Endpoints", "string", "", 0}, {"Age", "string", "", 0},	      {NULL, NULL, NULL, 0}};
static const struct col deploy_cols[] = {{"Name", "string", "name", 0},
					 {"Ready", "string", "", 0},
					 {"Up-to-date", "integer", "", 0},
					 {"Available", "integer", "", 0},
					 {"Age", "string", "", 0},
					 {"Containers", "string", "", 1},
					 {"Images", "string", "", 1},
					 {"Selector", "string", "", 1},
					 {NULL, NULL, NULL, 0}};
static const struct col sts_cols[] = {
    {"Name", "string", "name", 0},   {"Ready", "string", "", 0},  {"Age", "string", "", 0},
    {"Containers", "string", "", 1}, {"Images", "string", "", 1}, {NULL, NULL, NULL, 0}};
static const struct col ds_cols[] = {
    {"Name", "string", "name", 0},	{"Desired", "integer", "", 0},
    {"Current", "integer", "", 0},	{"Ready", "integer", "", 0},
    {"Up-to-date", "integer", "", 0},	{"Available", "integer", "", 0},
    {"Node Selector", "string", "", 0}, {"Age", "string", "", 0},
    {"Containers", "string", "", 1},	{"Images", "string", "", 1},
    {"Selector", "string", "", 1},	{NULL, NULL, NULL, 0}};
static const struct col ns_cols[] = {{"Name", "string", "name", 0},
				     {"Status", "string", "", 0},
				     {"Age", "string", "", 0},
				     {NULL, NULL, NULL, 0}};

static const struct col *columns_of(enum fc_kind k)
{
	switch (k) {
	case FC_KIND_POD:
		return pod_cols;
	case FC_KIND_SERVICE:
		return svc_cols;
	case FC_KIND_ENDPOINTSLICE:
		return eps_cols;
	case FC_KIND_DEPLOYMENT:
		return deploy_cols;
	case FC_KIND_STATEFULSET:
		return sts_cols;
	case FC_KIND_DAEMONSET:
		return ds_cols;
	default:
		return ns_cols;
	}
}

static cJSON *table_new(const struct res *r, uint64_t rv, bool with_columns)
{
	cJSON *t = cJSON_CreateObject(), *md, *cols;
	char rvs[24];

	if (!t)
		return NULL;
	cJSON_AddStringToObject(t, "kind", "Table");
	cJSON_AddStringToObject(t, "apiVersion", "meta.k8s.io/v1");
	md = cJSON_AddObjectToObject(t, "metadata");
	snprintf(rvs, sizeof(rvs), "%llu", (unsigned long long)rv);
	cJSON_AddStringToObject(md, "resourceVersion", rvs);
	cols = cJSON_AddArrayToObject(t, "columnDefinitions");
	for (const struct col *c = columns_of(r->k); with_columns && cols && c->name; c++) {
		cJSON *d = cJSON_CreateObject();

		if (!d || !cJSON_AddItemToArray(cols, d)) {
			cJSON_Delete(d);
			break;
		}
		cJSON_AddStringToObject(d, "name", c->name);
		cJSON_AddStringToObject(d, "type", c->type);
		cJSON_AddStringToObject(d, "format", c->format);
		cJSON_AddStringToObject(d, "description", "");
		cJSON_AddNumberToObject(d, "priority", c->priority);
	}
	cJSON_AddArrayToObject(t, "rows");
	return t;
}

static void add_cell_str(cJSON *cells, const char *s)
{
	cJSON_AddItemToArray(cells, cJSON_CreateString(s ? s : ""));
}

static void add_cell_num(cJSON *cells, long n)
{
	cJSON_AddItemToArray(cells, cJSON_CreateNumber((double)n));
}

static long count_of(const cJSON *o, const char *k)
{
	const cJSON *v = jget(o, k);

	return cJSON_IsNumber(v) ? (long)v->valuedouble : 0;
}

/* "a,b" of a JSON object's key=value pairs, or "<none>". */
static void map_str(const cJSON *m, char *out, size_t cap)
{
	const cJSON *x;
	size_t n = 0;

	out[0] = '\0';
	cJSON_ArrayForEach(x, m)
	{
		if (cJSON_IsString(x) && n < cap)
			n += (size_t)snprintf(out + n, cap - n, "%s%s=%s", n ? "," : "", x->string,
					      x->valuestring);
	}
	if (!out[0])
		snprintf(out, cap, "<none>");
}

static void containers_images(const cJSON *w, char *cs, size_t ccap, char *is, size_t icap)
{
	const cJSON *c;
	size_t nc = 0, ni = 0;

	cs[0] = is[0] = '\0';
	cJSON_ArrayForEach(c, jget(jget(jget(jget(w, "spec"), "template"), "spec"), "containers"))
	{
		if (nc < ccap)
			nc += (size_t)snprintf(cs + nc, ccap - nc, "%s%s", nc ? "," : "",
					       jstr(c, "name") ? jstr(c, "name") : "");
		if (ni < icap)
			ni += (size_t)snprintf(is + ni, icap - ni, "%s%s", ni ? "," : "",
					       jstr(c, "image") ? jstr(c, "image") : "");
	}
}

static void pod_cells(cJSON *cells, const cJSON *pod)
{
	const cJSON *st = jget(pod, "status"), *cs;
	int total = 0, ready = 0;
	long restarts = 0;
	const char *reason = jstr(st, "phase");
	char buf[64], age[32];

	cJSON_ArrayForEach(cs, jget(jget(pod, "spec"), "containers")) total++;
	cJSON_ArrayForEach(cs, jget(st, "containerStatuses"))
	{
		const char *w = jstr(jget(jget(cs, "state"), "waiting"), "reason");

		if (cJSON_IsTrue(jget(cs, "ready")))
			ready++;
		restarts += count_of(cs, "restartCount");
		if (w)
			reason = w;
	}
	if (jstr(st, "reason"))
		reason = jstr(st, "reason");
	/* kubectl's printPod shows Terminating for a pod with a deletionTimestamp. */
	if (mstr(pod, "deletionTimestamp"))
		reason = "Terminating";
	snprintf(buf, sizeof(buf), "%d/%d", ready, total);
	add_cell_str(cells, mstr(pod, "name"));
	add_cell_str(cells, buf);
	add_cell_str(cells, reason ? reason : "Unknown");
	snprintf(buf, sizeof(buf), "%ld", restarts);
	add_cell_str(cells, buf);
	age_of(pod, age, sizeof(age));
	add_cell_str(cells, age);
	add_cell_str(cells, jstr(st, "podIP") ? jstr(st, "podIP") : "<none>");
	add_cell_str(cells, jstr(jget(pod, "spec"), "nodeName")
				? jstr(jget(pod, "spec"), "nodeName")
				: "<none>");
	add_cell_str(cells, "<none>");
	add_cell_str(cells, "<none>");
}

static void svc_cells(cJSON *cells, const cJSON *svc)
{
	const cJSON *spec = jget(svc, "spec"), *p;
	const char *type = jstr(spec, "type") ? jstr(spec, "type") : "ClusterIP";
	const char *ext = "<none>";
	char ports[512], sel[512], age[32];
	size_t n = 0;

	if (!strcmp(type, "ExternalName"))
		ext = jstr(spec, "externalName");
	else if (!strcmp(type, "LoadBalancer"))
		ext = "<pending>";
	ports[0] = '\0';
	cJSON_ArrayForEach(p, jget(spec, "ports"))
	{
		long np = count_of(p, "nodePort");
		const char *proto = jstr(p, "protocol") ? jstr(p, "protocol") : "TCP";

		if (n >= sizeof(ports))
			break;
		if (np)
			n += (size_t)snprintf(ports + n, sizeof(ports) - n, "%s%ld:%ld/%s",
					      n ? "," : "", count_of(p, "port"), np, proto);
		else
			n += (size_t)snprintf(ports + n, sizeof(ports) - n, "%s%ld/%s",
					      n ? "," : "", count_of(p, "port"), proto);
	}
	map_str(jget(spec, "selector"), sel, sizeof(sel));
	age_of(svc, age, sizeof(age));
	add_cell_str(cells, mstr(svc, "name"));
	add_cell_str(cells, type);
	add_cell_str(cells, jstr(spec, "clusterIP") ? jstr(spec, "clusterIP") : "<none>");
	add_cell_str(cells, ext);
	add_cell_str(cells, ports[0] ? ports : "<none>");
	add_cell_str(cells, age);
	add_cell_str(cells, sel);
}

static void eps_cells(cJSON *cells, const cJSON *s)
{
	const cJSON *x, *a;
	char ports[256], eps[256], age[32];
	size_t n = 0, shown = 0, total = 0;

	ports[0] = eps[0] = '\0';
	cJSON_ArrayForEach(x, jget(s, "ports"))
	{
		if (n < sizeof(ports))
			n += (size_t)snprintf(ports + n, sizeof(ports) - n, "%s%ld", n ? "," : "",
					      count_of(x, "port"));
	}
	n = 0;
	cJSON_ArrayForEach(x, jget(s, "endpoints"))
	{
		cJSON_ArrayForEach(a, jget(x, "addresses"))
		{
			total++;
			if (shown < 3 && cJSON_IsString(a) && n < sizeof(eps)) {
				n += (size_t)snprintf(eps + n, sizeof(eps) - n, "%s%s",
						      n ? "," : "", a->valuestring);
				shown++;
			}
		}
	}
	if (total > shown && n < sizeof(eps))
		snprintf(eps + n, sizeof(eps) - n, " + %zu more...", total - shown);
	age_of(s, age, sizeof(age));
	add_cell_str(cells, mstr(s, "name"));
	add_cell_str(cells, jstr(s, "addressType"));
	add_cell_str(cells, ports[0] ? ports : "<unset>");
	add_cell_str(cells, eps[0] ? eps : "<unset>");
	add_cell_str(cells, age);
}

static void workload_cells(cJSON *cells, const cJSON *w, enum fc_kind k)
{
	const cJSON *st = jget(w, "status"), *spec = jget(w, "spec");
	char buf[64], age[32], cs[256], is[512], sel[512];
	char *s;

	age_of(w, age, sizeof(age));
	containers_images(w, cs, sizeof(cs), is, sizeof(is));
	s = fc_selector_label_selector_string(jget(spec, "selector"), NULL, 0);
	snprintf(sel, sizeof(sel), "%s", s && *s ? s : "<none>");
	free(s);
	add_cell_str(cells, mstr(w, "name"));
	if (k == FC_KIND_DAEMONSET) {
		const cJSON *tspec = jget(jget(spec, "template"), "spec");
		char ns_sel[256];

		map_str(jget(tspec, "nodeSelector"), ns_sel, sizeof(ns_sel));
		add_cell_num(cells, count_of(st, "desiredNumberScheduled"));
		add_cell_num(cells, count_of(st, "currentNumberScheduled"));
		add_cell_num(cells, count_of(st, "numberReady"));
		add_cell_num(cells, count_of(st, "updatedNumberScheduled"));
		add_cell_num(cells, count_of(st, "numberAvailable"));
		add_cell_str(cells, ns_sel);
		add_cell_str(cells, age);
		add_cell_str(cells, cs);
		add_cell_str(cells, is);
		add_cell_str(cells, sel);
		return;
	}
	snprintf(buf, sizeof(buf), "%ld/%ld", count_of(st, "readyReplicas"),
		 jget(spec, "replicas") ? count_of(spec, "replicas") : 1);
	add_cell_str(cells, buf);
	if (k == FC_KIND_DEPLOYMENT) {
		add_cell_num(cells, count_of(st, "updatedReplicas"));
		add_cell_num(cells, count_of(st, "availableReplicas"));
	}
	add_cell_str(cells, age);
	add_cell_str(cells, cs);
	add_cell_str(cells, is);
	if (k == FC_KIND_DEPLOYMENT)
		add_cell_str(cells, sel);
}

static void ns_cells(cJSON *cells, const cJSON *ns)
{
	char age[32];
	const char *phase = jstr(jget(ns, "status"), "phase");

	age_of(ns, age, sizeof(age));
	add_cell_str(cells, mstr(ns, "name"));
	add_cell_str(cells, phase ? phase : "Active");
	add_cell_str(cells, age);
}

enum include_object { INCLUDE_METADATA, INCLUDE_OBJECT, INCLUDE_NONE };

static void table_add_row(cJSON *t, const struct res *r, const cJSON *obj, enum include_object inc)
{
	cJSON *rows = cJSON_GetObjectItemCaseSensitive(t, "rows");
	cJSON *row = cJSON_CreateObject(), *cells, *o;

	if (!row || !cJSON_AddItemToArray(rows, row)) {
		cJSON_Delete(row);
		return;
	}
	cells = cJSON_AddArrayToObject(row, "cells");
	switch (r->k) {
	case FC_KIND_POD:
		pod_cells(cells, obj);
		break;
	case FC_KIND_SERVICE:
		svc_cells(cells, obj);
		break;
	case FC_KIND_ENDPOINTSLICE:
		eps_cells(cells, obj);
		break;
	case FC_KIND_NAMESPACE:
		ns_cells(cells, obj);
		break;
	default:
		workload_cells(cells, obj, r->k);
		break;
	}
	if (inc == INCLUDE_NONE)
		return;
	if (inc == INCLUDE_OBJECT) {
		cJSON_AddItemToObject(row, "object", cJSON_Duplicate(obj, true));
		return;
	}
	/* includeObject=Metadata (the default): a PartialObjectMetadata. */
	o = cJSON_AddObjectToObject(row, "object");
	cJSON_AddStringToObject(o, "kind", "PartialObjectMetadata");
	cJSON_AddStringToObject(o, "apiVersion", "meta.k8s.io/v1");
	cJSON_AddItemToObject(o, "metadata", cJSON_Duplicate(jget(obj, "metadata"), true));
}

static enum include_object include_param(const struct fc_http_req *req)
{
	const char *v = fc_http_query(req, "includeObject");

	if (v && !strcmp(v, "Object"))
		return INCLUDE_OBJECT;
	if (v && !strcmp(v, "None"))
		return INCLUDE_NONE;
	return INCLUDE_METADATA;
}

/* ---- discovery ----------------------------------------------------------------------------- */

static void send_version(struct fc_conn *c)
{
	cJSON *v = cJSON_CreateObject();

	cJSON_AddStringToObject(v, "major", "1");
	cJSON_AddStringToObject(v, "minor", "33");
	cJSON_AddStringToObject(v, "emulationMajor", "1");
	cJSON_AddStringToObject(v, "emulationMinor", "33");
	cJSON_AddStringToObject(v, "minCompatibilityMajor", "1");
	cJSON_AddStringToObject(v, "minCompatibilityMinor", "32");
	cJSON_AddStringToObject(v, "gitVersion", "v1.33.0");
	cJSON_AddStringToObject(v, "gitCommit", "60a317eadfcb839692a5551a4ef3a5d8a2ff43a9");
	cJSON_AddStringToObject(v, "gitTreeState", "clean");
	cJSON_AddStringToObject(v, "buildDate", "2025-04-23T13:02:47Z");
	cJSON_AddStringToObject(v, "goVersion", "go1.24.2");
	cJSON_AddStringToObject(v, "compiler", "gc");
	cJSON_AddStringToObject(v, "platform", "linux/amd64");
	respond_obj(c, 200, v);
	cJSON_Delete(v);
}

static void send_api_versions(struct fc_api *api, struct fc_conn *c)
{
	cJSON *v = cJSON_CreateObject(), *a, *cidr;

	cJSON_AddStringToObject(v, "kind", "APIVersions");
	a = cJSON_AddArrayToObject(v, "versions");
	cJSON_AddItemToArray(a, cJSON_CreateString("v1"));
	a = cJSON_AddArrayToObject(v, "serverAddressByClientCIDRs");
	cidr = cJSON_CreateObject();
	cJSON_AddItemToArray(a, cidr);
	cJSON_AddStringToObject(cidr, "clientCIDR", "0.0.0.0/0");
	cJSON_AddStringToObject(cidr, "serverAddress",
				api->cl->opt.listen ? api->cl->opt.listen : "127.0.0.1:6443");
	respond_obj(c, 200, v);
	cJSON_Delete(v);
}

static cJSON *group_obj(const char *g)
{
	cJSON *o = cJSON_CreateObject(), *vs, *v, *pv;
	char gv[64];

	snprintf(gv, sizeof(gv), "%s/v1", g);
	cJSON_AddStringToObject(o, "name", g);
	vs = cJSON_AddArrayToObject(o, "versions");
	v = cJSON_CreateObject();
	cJSON_AddItemToArray(vs, v);
	cJSON_AddStringToObject(v, "groupVersion", gv);
	cJSON_AddStringToObject(v, "version", "v1");
	pv = cJSON_AddObjectToObject(o, "preferredVersion");
	cJSON_AddStringToObject(pv, "groupVersion", gv);
	cJSON_AddStringToObject(pv, "version", "v1");
	return o;
}

static void send_group_list(struct fc_conn *c)
{
	cJSON *v = cJSON_CreateObject(), *a;

	cJSON_AddStringToObject(v, "kind", "APIGroupList");
	cJSON_AddStringToObject(v, "apiVersion", "v1");
	a = cJSON_AddArrayToObject(v, "groups");
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		cJSON_AddItemToArray(a, group_obj(groups[i]));
	respond_obj(c, 200, v);
	cJSON_Delete(v);
}

static void send_group(struct fc_conn *c, const char *g)
{
	cJSON *v = group_obj(g);

	cJSON_AddStringToObject(v, "kind", "APIGroup");
	cJSON_AddStringToObject(v, "apiVersion", "v1");
	respond_obj(c, 200, v);
	cJSON_Delete(v);
}

static void add_strs(cJSON *o, const char *key, const char *const *v)
{
	cJSON *a = cJSON_AddArrayToObject(o, key);

	for (; *v; v++)
		cJSON_AddItemToArray(a, cJSON_CreateString(*v));
}

static cJSON *api_resource(const char *name, const char *singular, bool namespaced,
			   const char *kind, const char *const *verbs)
{
	cJSON *r = cJSON_CreateObject();

	cJSON_AddStringToObject(r, "name", name);
	cJSON_AddStringToObject(r, "singularName", singular);
	cJSON_AddBoolToObject(r, "namespaced", namespaced);
	cJSON_AddStringToObject(r, "kind", kind);
	add_strs(r, "verbs", verbs);
	return r;
}

static void send_resource_list(struct fc_conn *c, const char *group)
{
	static const char *const rw[] = {"create", "delete", "get", "list", "watch", NULL};
	static const char *const cr[] = {"create", "get", "list", "watch", NULL};
	static const char *const ro[] = {"get", "list", "watch", NULL};
	static const char *const pf[] = {"create", "get", NULL};
	static const char *const get[] = {"get", NULL};
	static const char *const all[] = {"all", NULL};
	cJSON *v = cJSON_CreateObject(), *a;
	char gv[64];

	snprintf(gv, sizeof(gv), "%s%sv1", group, *group ? "/" : "");
	cJSON_AddStringToObject(v, "kind", "APIResourceList");
	cJSON_AddStringToObject(v, "apiVersion", "v1");
	cJSON_AddStringToObject(v, "groupVersion", gv);
	a = cJSON_AddArrayToObject(v, "resources");
	for (size_t i = 0; i < NRES; i++) {
		const struct res *r = &resources[i];
		cJSON *o;

		if (strcmp(r->group, group) != 0)
			continue;
		o = api_resource(r->plural, r->singular, r->namespaced, r->kind,
				 r->deletable	? rw
				 : r->creatable ? cr
						: ro);
		if (r->short_name) {
			const char *sn[] = {r->short_name, NULL};

			add_strs(o, "shortNames", sn);
		}
		if (r->k != FC_KIND_NAMESPACE && r->k != FC_KIND_ENDPOINTSLICE)
			add_strs(o, "categories", all);
		cJSON_AddItemToArray(a, o);
		if (r->k == FC_KIND_POD) {
			cJSON_AddItemToArray(a, api_resource("pods/portforward", "", true,
							     "PodPortForwardOptions", pf));
			cJSON_AddItemToArray(a, api_resource("pods/status", "", true, "Pod", get));
		}
	}
	respond_obj(c, 200, v);
	cJSON_Delete(v);
}

/* ---- LIST and GET -------------------------------------------------------------------------- */

struct filter {
	struct fc_selector *labels;
	struct fc_selector_fields *fields;
};

static void filter_fini(struct filter *f)
{
	fc_selector_free(f->labels);
	fc_selector_fields_free(f->fields);
	f->labels = NULL;
	f->fields = NULL;
}

/* Parses labelSelector and fieldSelector; answers 400 and returns false when one is bad. */
static bool filter_init(struct filter *f, struct fc_conn *c, const struct fc_http_req *req)
{
	const char *ls = fc_http_query(req, "labelSelector");
	const char *fs = fc_http_query(req, "fieldSelector");
	char err[256] = "", msg[300];

	f->labels = NULL;
	f->fields = NULL;
	if (ls && *ls && !(f->labels = fc_selector_parse(ls, err, sizeof(err)))) {
		snprintf(msg, sizeof(msg), "unable to parse requirement: %s", err);
		bad_request(c, msg);
		return false;
	}
	if (fs && *fs && !(f->fields = fc_selector_fields_parse(fs, err, sizeof(err)))) {
		filter_fini(f);
		bad_request(c, err);
		return false;
	}
	return true;
}

static bool filter_matches(const struct filter *f, const cJSON *obj)
{
	if (f->labels && !fc_selector_matches(f->labels, jget(jget(obj, "metadata"), "labels")))
		return false;
	return !f->fields || fc_selector_fields_matches(f->fields, obj);
}

struct lister {
	const struct filter *f;
	const struct res *r;
	struct kt_buf out; /* JSON list body */
	cJSON *table;	   /* or a Table */
	enum include_object inc;
	size_t n;
	int err;
};

static void list_one(void *arg, const cJSON *obj)
{
	struct lister *l = arg;
	char *s;

	if (l->err || !filter_matches(l->f, obj))
		return;
	if (l->table) {
		table_add_row(l->table, l->r, obj, l->inc);
		return;
	}
	s = cJSON_PrintUnformatted(obj);
	if (!s) {
		l->err = -ENOMEM;
		return;
	}
	if ((l->n++ && kt_buf_append(&l->out, ",", 1)) || kt_buf_append(&l->out, s, strlen(s)))
		l->err = -ENOMEM;
	free(s);
}

static void do_list(struct fc_api *api, struct fc_conn *c, const struct fc_http_req *req,
		    const struct res *r, const char *ns)
{
	struct filter f;
	struct lister l = {&f, r, {0}, NULL, include_param(req), 0, 0};
	uint64_t rv = fc_store_rv(api->cl->store);
	char head[256], av[64];
	int n;

	if (!filter_init(&f, c, req))
		return;
	kt_buf_init(&l.out, LIST_MAX_BYTES);
	if (wants_table(req)) {
		l.table = table_new(r, rv, true);
		if (!l.table)
			l.err = -ENOMEM;
	}
	api_version_of(r, av, sizeof(av));
	n = snprintf(head, sizeof(head),
		     "{\"kind\":\"%sList\",\"apiVersion\":\"%s\",\"metadata\":{\"resourceVersion\":"
		     "\"%llu\"},\"items\":[",
		     r->kind, av, (unsigned long long)rv);
	if (!l.table && kt_buf_append(&l.out, head, (size_t)n))
		l.err = -ENOMEM;
	if (!l.err)
		fc_store_foreach(api->cl->store, r->k, ns, list_one, &l);
	if (!l.table && !l.err && kt_buf_append(&l.out, "]}", 2))
		l.err = -ENOMEM;
	if (l.err)
		status(c, 500, "InternalError", "out of memory", NULL, NULL, NULL, NULL);
	else if (l.table)
		respond_obj(c, 200, l.table);
	else
		fc_http_respond(c, 200, "application/json", NULL, kt_buf_peek(&l.out),
				kt_buf_len(&l.out));
	cJSON_Delete(l.table);
	kt_buf_fini(&l.out);
	filter_fini(&f);
}

static void respond_maybe_table(struct fc_api *api, struct fc_conn *c,
				const struct fc_http_req *req, const struct res *r, int code,
				const cJSON *obj)
{
	cJSON *t;

	if (!wants_table(req)) {
		respond_obj(c, code, obj);
		return;
	}
	t = table_new(r, fc_store_rv(api->cl->store), true);
	if (!t) {
		status(c, 500, "InternalError", "out of memory", NULL, NULL, NULL, NULL);
		return;
	}
	table_add_row(t, r, obj, include_param(req));
	respond_obj(c, code, t);
	cJSON_Delete(t);
}

/* ---- WATCH --------------------------------------------------------------------------------- */

struct watch {
	struct watch *prev, *next;
	struct fc_api *api;
	struct fc_conn *c;
	const struct res *r;
	struct fc_watch *sw;
	struct filter f;
	bool filtered;
	bool table;
	enum include_object inc;
	bool bookmarks;
	bool begun, dead;
	bool table_columns_sent;
	bool bookmarked;
	struct fc_timer *bookmark_timer, *timeout_timer;
	uint64_t last_send_ms;
	char **keys; /* sorted "ns/name" of objects this watcher has seen match */
	size_t nkeys, capkeys;
};

static size_t watch_on_data(void *h, struct fc_conn *c, const uint8_t *p, size_t n);
static void watch_on_close(void *h, struct fc_conn *c);

static const struct fc_conn_ops watch_ops = {
    .on_data = watch_on_data,
    .on_drain = NULL,
    .on_close = watch_on_close,
};

static void key_of(const cJSON *obj, char *out, size_t cap)
{
	const char *ns = mstr(obj, "namespace");

	snprintf(out, cap, "%s/%s", ns ? ns : "", mstr(obj, "name") ? mstr(obj, "name") : "");
}

static size_t key_find(const struct watch *w, const char *k, bool *found)
{
	size_t lo = 0, hi = w->nkeys;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(w->keys[mid], k);

		if (!c) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static bool key_has(const struct watch *w, const char *k)
{
	bool found;

	key_find(w, k, &found);
	return found;
}

static void key_set(struct watch *w, const char *k, bool on)
{
	bool found;
	size_t i = key_find(w, k, &found);

	if (found && !on) {
		free(w->keys[i]);
		memmove(&w->keys[i], &w->keys[i + 1], (w->nkeys - i - 1) * sizeof(*w->keys));
		w->nkeys--;
	} else if (!found && on) {
		char *d;

		if (w->nkeys == w->capkeys) {
			size_t cap = w->capkeys ? w->capkeys * 2 : 16;
			char **v = realloc(w->keys, cap * sizeof(*v));

			if (!v)
				return;
			w->keys = v;
			w->capkeys = cap;
		}
		if (!(d = strdup(k)))
			return;
		memmove(&w->keys[i + 1], &w->keys[i], (w->nkeys - i) * sizeof(*w->keys));
		w->keys[i] = d;
		w->nkeys++;
	}
}

static void watch_free(struct watch *w)
{
	struct fc_api *api = w->api;

	if (w->prev)
		w->prev->next = w->next;
	else
		api->watches = w->next;
	if (w->next)
		w->next->prev = w->prev;
	fc_store_unwatch(api->cl->store, w->sw);
	fc_loop_timer_cancel(api->cl->loop, w->bookmark_timer);
	fc_loop_timer_cancel(api->cl->loop, w->timeout_timer);
	filter_fini(&w->f);
	for (size_t i = 0; i < w->nkeys; i++)
		free(w->keys[i]);
	free(w->keys);
	free(w);
}

/* Stops producing events; the conn's on_close frees the watch. */
static void watch_kill(struct watch *w)
{
	if (w->dead)
		return;
	w->dead = true;
	fc_store_unwatch(w->api->cl->store, w->sw);
	w->sw = NULL;
	fc_loop_timer_cancel(w->api->cl->loop, w->bookmark_timer);
	fc_loop_timer_cancel(w->api->cl->loop, w->timeout_timer);
	w->bookmark_timer = w->timeout_timer = NULL;
	fc_conn_abort(w->c);
}

static int watch_begin(struct watch *w)
{
	if (w->begun)
		return 0;
	w->begun = true;
	return fc_http_chunked_begin(w->c, 200, "application/json");
}

/* Sends {"type":T,"object":O}\n as one chunk; kills a watch whose client does not keep up. */
static void watch_send(struct watch *w, const char *type, const cJSON *obj)
{
	cJSON *t = NULL;
	char *body;
	struct kt_buf b;
	size_t need;

	if (w->dead || watch_begin(w))
		goto kill;
	if (w->table && strcmp(type, "BOOKMARK") != 0 && strcmp(type, "ERROR") != 0) {
		t = table_new(w->r, fc_store_rv(w->api->cl->store), !w->table_columns_sent);
		if (!t)
			goto kill;
		w->table_columns_sent = true;
		table_add_row(t, w->r, obj, w->inc);
		obj = t;
	}
	body = cJSON_PrintUnformatted(obj);
	cJSON_Delete(t);
	if (!body)
		goto kill;
	kt_buf_init(&b, LIST_MAX_BYTES);
	if (kt_buf_append(&b, "{\"type\":\"", 9) || kt_buf_append(&b, type, strlen(type)) ||
	    kt_buf_append(&b, "\",\"object\":", 11) || kt_buf_append(&b, body, strlen(body)) ||
	    kt_buf_append(&b, "}\n", 2)) {
		free(body);
		kt_buf_fini(&b);
		goto kill;
	}
	free(body);
	need = kt_buf_len(&b) + 32; /* chunk framing */
	if (fc_conn_send_room(w->c) < need ||
	    fc_http_chunk(w->c, kt_buf_peek(&b), kt_buf_len(&b)) != 0) {
		kt_log_debug("%s: watch client too slow, ending the watch", fc_conn_peer(w->c));
		kt_buf_fini(&b);
		goto kill;
	}
	kt_buf_fini(&b);
	w->last_send_ms = fc_loop_now(w->api->cl->loop);
	return;
kill:
	watch_kill(w);
}

static void watch_event(void *arg, enum fc_event_type type, const cJSON *obj, uint64_t rv)
{
	struct watch *w = arg;
	static const char *const names[] = {"ADDED", "MODIFIED", "DELETED"};
	char key[400];
	bool match, had;

	(void)rv;
	if (w->dead)
		return;
	if (!w->filtered) {
		watch_send(w, names[type], obj);
		return;
	}
	/* As the watch cache does: an object that starts matching is ADDED for this watcher, one
	 * that stops matching is DELETED (k8s.io/apiserver/pkg/storage/cacher, cacheWatcher). */
	key_of(obj, key, sizeof(key));
	match = type != FC_EVENT_DELETED && filter_matches(&w->f, obj);
	had = key_has(w, key);
	if (type == FC_EVENT_DELETED) {
		if (had || filter_matches(&w->f, obj))
			watch_send(w, "DELETED", obj);
		key_set(w, key, false);
	} else if (match) {
		watch_send(w, had ? "MODIFIED" : "ADDED", obj);
		key_set(w, key, true);
	} else if (had) {
		watch_send(w, "DELETED", obj);
		key_set(w, key, false);
	}
}

/* A BOOKMARK: only kind, apiVersion and metadata.resourceVersion (protocol.md §5.6), plus the
 * k8s.io/initial-events-end annotation that ends the initial events of a sendInitialEvents
 * watch (KEP-3157, watch-list). */
static void watch_send_bookmark(struct watch *w, bool initial_end)
{
	char av[64], rvs[24];
	cJSON *o = cJSON_CreateObject(), *md;

	if (!o)
		return;
	api_version_of(w->r, av, sizeof(av));
	snprintf(rvs, sizeof(rvs), "%llu", (unsigned long long)fc_store_rv(w->api->cl->store));
	cJSON_AddStringToObject(o, "kind", w->r->kind);
	cJSON_AddStringToObject(o, "apiVersion", av);
	md = cJSON_AddObjectToObject(o, "metadata");
	cJSON_AddStringToObject(md, "resourceVersion", rvs);
	if (initial_end)
		cJSON_AddStringToObject(cJSON_AddObjectToObject(md, "annotations"),
					"k8s.io/initial-events-end", "true");
	watch_send(w, "BOOKMARK", o);
	cJSON_Delete(o);
}

/* Idle watches get a BOOKMARK this often (--bookmark-ms): the real API server sends one about a
 * minute; a much faster rate would make every idle client look busy. */
static uint64_t bookmark_every(const struct watch *w)
{
	uint64_t ms = w->api->cl->opt.bookmark_ms;
	return ms ? ms : 60000;
}

static void watch_bookmark(void *arg)
{
	struct watch *w = arg;
	uint64_t now = fc_loop_now(w->api->cl->loop);

	w->bookmark_timer = NULL;
	if (w->dead)
		return;
	/* The first one always goes out (so clients and tests see one early), later ones only
	 * when the stream has been idle. */
	if (!w->bookmarked || now - w->last_send_ms + 50 >= bookmark_every(w)) {
		w->bookmarked = true;
		watch_send_bookmark(w, false);
	}
	if (!w->dead)
		w->bookmark_timer =
		    fc_loop_timer(w->api->cl->loop, bookmark_every(w), watch_bookmark, w);
}

/* timeoutSeconds elapsed: finish the response cleanly and hand the conn back (keep-alive). */
void fc_api_expire_watches(struct fc_cluster *cl)
{
	struct fc_api *api = api_of(cl);
	struct watch *w, *next;
	char msg[128];

	fc_store_compact(cl->store);
	snprintf(msg, sizeof(msg), "The resourceVersion for the provided watch is too old.");
	for (w = api->watches; w; w = next) {
		cJSON *o = cJSON_CreateObject();
		struct fc_conn *c = w->c;

		next = w->next;
		if (w->dead || !o) {
			cJSON_Delete(o);
			continue;
		}
		/* The shape an API server sends (protocol.md 5.6): a Status as the object. */
		cJSON_AddStringToObject(o, "kind", "Status");
		cJSON_AddStringToObject(o, "apiVersion", "v1");
		cJSON_AddObjectToObject(o, "metadata");
		cJSON_AddStringToObject(o, "status", "Failure");
		cJSON_AddStringToObject(o, "message", msg);
		cJSON_AddStringToObject(o, "reason", "Expired");
		cJSON_AddNumberToObject(o, "code", 410);
		watch_send(w, "ERROR", o);
		cJSON_Delete(o);
		if (w->dead)
			continue; /* the conn's on_close frees it */
		fc_http_chunked_end(c);
		watch_free(w);
		fc_http_resume(c);
	}
}

static void watch_timeout(void *arg)
{
	struct watch *w = arg;
	struct fc_conn *c = w->c;

	w->timeout_timer = NULL;
	if (w->dead)
		return;
	fc_http_chunked_end(c);
	watch_free(w);
	fc_http_resume(c);
}

static size_t watch_on_data(void *h, struct fc_conn *c, const uint8_t *p, size_t n)
{
	(void)h;
	(void)c;
	(void)p;
	return n; /* a watching client sends nothing; discard rather than buffer */
}

static void watch_on_close(void *h, struct fc_conn *c)
{
	(void)c;
	watch_free(h);
}

struct initial {
	struct watch *w;
};

static void initial_one(void *arg, const cJSON *obj)
{
	struct watch *w = arg;
	char key[400];

	if (w->dead || !filter_matches(&w->f, obj))
		return;
	watch_send(w, "ADDED", obj);
	if (w->filtered) {
		key_of(obj, key, sizeof(key));
		key_set(w, key, true);
	}
}

static void mark_one(void *arg, const cJSON *obj)
{
	struct watch *w = arg;
	char key[400];

	if (filter_matches(&w->f, obj)) {
		key_of(obj, key, sizeof(key));
		key_set(w, key, true);
	}
}

static bool parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

static void do_watch(struct fc_api *api, struct fc_conn *c, const struct fc_http_req *req,
		     const struct res *r, const char *ns)
{
	struct watch *w = calloc(1, sizeof(*w));
	const char *rvs = fc_http_query(req, "resourceVersion");
	const char *bm = fc_http_query(req, "allowWatchBookmarks");
	const char *ts = fc_http_query(req, "timeoutSeconds");
	bool initial_events = truthy(fc_http_query(req, "sendInitialEvents"));
	uint64_t since = 0, timeout = 0;
	char msg[128];
	int err = 0;

	if (!w) {
		status(c, 500, "InternalError", "out of memory", NULL, NULL, NULL, NULL);
		return;
	}
	if (rvs && *rvs && !parse_u64(rvs, &since)) {
		free(w);
		snprintf(msg, sizeof(msg), "invalid resource version: %.40s", rvs);
		status(c, 400, "BadRequest", msg, NULL, NULL, NULL, NULL);
		return;
	}
	if (ts && *ts && !parse_u64(ts, &timeout)) {
		free(w);
		bad_request(c, "invalid timeoutSeconds");
		return;
	}
	if (!filter_init(&w->f, c, req)) {
		free(w);
		return;
	}
	w->api = api;
	w->c = c;
	w->r = r;
	w->filtered = w->f.labels || w->f.fields;
	w->table = wants_table(req);
	w->inc = include_param(req);
	w->bookmarks = truthy(bm);
	w->next = api->watches;
	if (w->next)
		w->next->prev = w;
	api->watches = w;
	if (since == 0 || initial_events) {
		/* resourceVersion unset or "0", or sendInitialEvents: synthetic ADDED for the
		 * current state, then live (api-concepts.md, "Semantics for watch"). */
		watch_begin(w);
		fc_store_foreach(api->cl->store, r->k, ns, initial_one, w);
		if (initial_events && w->bookmarks)
			watch_send_bookmark(w, true);
		w->sw = fc_store_watch(api->cl->store, r->k, ns, 0, watch_event, w, &err);
	} else {
		/* From the history; the response starts with the first replayed event, so a
		 * too-old resourceVersion can still be an HTTP 410. */
		if (w->filtered)
			fc_store_foreach(api->cl->store, r->k, ns, mark_one, w);
		w->sw = fc_store_watch(api->cl->store, r->k, ns, since, watch_event, w, &err);
		if (err == -ESTALE && !w->begun) {
			snprintf(msg, sizeof(msg), "too old resource version: %llu (%llu)",
				 (unsigned long long)since,
				 (unsigned long long)fc_store_rv(api->cl->store));
			watch_free(w);
			status(c, 410, "Expired", msg, NULL, NULL, NULL, NULL);
			return;
		}
	}
	if (!w->sw && !w->dead) {
		if (!w->begun) {
			watch_free(w);
			status(c, 500, "InternalError", "cannot watch", NULL, NULL, NULL, NULL);
			return;
		}
		w->dead = true;
		fc_conn_abort(c);
	}
	watch_begin(w);
	fc_conn_set_ops(c, &watch_ops, w);
	if (w->dead)
		return;
	if (w->bookmarks)
		w->bookmark_timer =
		    fc_loop_timer(api->cl->loop, BOOKMARK_FIRST_MS, watch_bookmark, w);
	if (timeout)
		w->timeout_timer = fc_loop_timer(
		    api->cl->loop, timeout > 86400 ? 86400000 : timeout * 1000, watch_timeout, w);
}

/* ---- POST and DELETE ----------------------------------------------------------------------- */

/* kubectl >= 1.32 sends typed-client bodies (`kubectl create namespace|deployment|service`)
 * as Kubernetes protobuf: "k8s\0" + runtime.Unknown{typeMeta=1{apiVersion=1, kind=2}, raw=2},
 * raw being the object's own message (k8s.io/apimachinery/pkg/runtime/generated.proto; field
 * numbers from k8s.io/api/{core,apps}/v1/generated.proto and apis/meta/v1/generated.proto,
 * checked against kubectl 1.33's request dumps). Only the fields the fake cluster reads are
 * decoded, by the schema tables below, into the JSON the API would have received. */
struct pb {
	const uint8_t *p;
	size_t n;
};

enum pbt { PB_STR, PB_INT, PB_INT_NZ, PB_BOOL, PB_MSG, PB_RMSG, PB_RSTR, PB_MAP, PB_INTSTR };

struct pbf {
	unsigned num;
	const char *name;
	enum pbt t;
	const struct pbf *sub;
};

static const struct pbf pb_meta[] = {
    {1, "name", PB_STR, NULL},	  {2, "generateName", PB_STR, NULL}, {3, "namespace", PB_STR, NULL},
    {11, "labels", PB_MAP, NULL}, {12, "annotations", PB_MAP, NULL}, {0, NULL, PB_STR, NULL}};
static const struct pbf pb_lsreq[] = {{1, "key", PB_STR, NULL},
				      {2, "operator", PB_STR, NULL},
				      {3, "values", PB_RSTR, NULL},
				      {0, NULL, PB_STR, NULL}};
static const struct pbf pb_lsel[] = {{1, "matchLabels", PB_MAP, NULL},
				     {2, "matchExpressions", PB_RMSG, pb_lsreq},
				     {0, NULL, PB_STR, NULL}};
static const struct pbf pb_cport[] = {{1, "name", PB_STR, NULL},
				      {2, "hostPort", PB_INT_NZ, NULL},
				      {3, "containerPort", PB_INT, NULL},
				      {4, "protocol", PB_STR, NULL},
				      {0, NULL, PB_STR, NULL}};
static const struct pbf pb_container[] = {
    {1, "name", PB_STR, NULL},	{2, "image", PB_STR, NULL},	 {3, "command", PB_RSTR, NULL},
    {4, "args", PB_RSTR, NULL}, {6, "ports", PB_RMSG, pb_cport}, {0, NULL, PB_STR, NULL}};
static const struct pbf pb_podspec[] = {{2, "containers", PB_RMSG, pb_container},
					{3, "restartPolicy", PB_STR, NULL},
					{7, "nodeSelector", PB_MAP, NULL},
					{10, "nodeName", PB_STR, NULL},
					{16, "hostname", PB_STR, NULL},
					{17, "subdomain", PB_STR, NULL},
					{0, NULL, PB_STR, NULL}};
static const struct pbf pb_template[] = {
    {1, "metadata", PB_MSG, pb_meta}, {2, "spec", PB_MSG, pb_podspec}, {0, NULL, PB_STR, NULL}};
static const struct pbf pb_deployspec[] = {{1, "replicas", PB_INT, NULL},
					   {2, "selector", PB_MSG, pb_lsel},
					   {3, "template", PB_MSG, pb_template},
					   {0, NULL, PB_STR, NULL}};
static const struct pbf pb_stsspec[] = {{1, "replicas", PB_INT, NULL},
					{2, "selector", PB_MSG, pb_lsel},
					{3, "template", PB_MSG, pb_template},
					{5, "serviceName", PB_STR, NULL},
					{0, NULL, PB_STR, NULL}};
static const struct pbf pb_dsspec[] = {{1, "selector", PB_MSG, pb_lsel},
				       {2, "template", PB_MSG, pb_template},
				       {0, NULL, PB_STR, NULL}};
static const struct pbf pb_svcport[] = {
    {1, "name", PB_STR, NULL},		{2, "protocol", PB_STR, NULL},	  {3, "port", PB_INT, NULL},
    {4, "targetPort", PB_INTSTR, NULL}, {5, "nodePort", PB_INT_NZ, NULL}, {0, NULL, PB_STR, NULL}};
static const struct pbf pb_svcspec[] = {{1, "ports", PB_RMSG, pb_svcport},
					{2, "selector", PB_MAP, NULL},
					{3, "clusterIP", PB_STR, NULL},
					{4, "type", PB_STR, NULL},
					{10, "externalName", PB_STR, NULL},
					{13, "publishNotReadyAddresses", PB_BOOL, NULL},
					{0, NULL, PB_STR, NULL}};
static const struct pbf pb_nsspec[] = {{0, NULL, PB_STR, NULL}};

#define PB_OBJ(spec)                                                         \
	{                                                                    \
		{1, "metadata", PB_MSG, pb_meta}, {2, "spec", PB_MSG, spec}, \
		{                                                            \
			0, NULL, PB_STR, NULL                                \
		}                                                            \
	}
static const struct pbf pb_ns[] = PB_OBJ(pb_nsspec);
static const struct pbf pb_pod[] = PB_OBJ(pb_podspec);
static const struct pbf pb_svc[] = PB_OBJ(pb_svcspec);
static const struct pbf pb_deploy[] = PB_OBJ(pb_deployspec);
static const struct pbf pb_sts[] = PB_OBJ(pb_stsspec);
static const struct pbf pb_ds[] = PB_OBJ(pb_dsspec);

static bool pb_varint(struct pb *b, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64 && b->n; shift += 7) {
		uint8_t x = *b->p++;

		b->n--;
		*v |= (uint64_t)(x & 0x7f) << shift;
		if (!(x & 0x80))
			return true;
	}
	return false;
}

/* Next field: number, and the bytes (length-delimited) or the number (varint). */
static bool pb_next(struct pb *b, unsigned *field, struct pb *val, uint64_t *num)
{
	uint64_t key, len;

	if (!pb_varint(b, &key))
		return false;
	*field = (unsigned)(key >> 3);
	*val = (struct pb){NULL, 0};
	*num = 0;
	switch (key & 7) {
	case 0:
		return pb_varint(b, num);
	case 1:
	case 5:
		len = (key & 7) == 1 ? 8 : 4;
		if (b->n < len)
			return false;
		b->p += len;
		b->n -= len;
		return true;
	case 2:
		if (!pb_varint(b, &len) || len > b->n)
			return false;
		*val = (struct pb){b->p ? b->p : (const uint8_t *)"", (size_t)len};
		b->p += len;
		b->n -= len;
		return true;
	default:
		return false;
	}
}

/* A string without embedded NULs, or NULL. */
static cJSON *pb_string(struct pb v)
{
	char *s = strndup(v.p ? (const char *)v.p : "", v.n);
	cJSON *j;

	if (!s || strlen(s) != v.n) {
		free(s);
		return NULL;
	}
	j = cJSON_CreateString(s);
	free(s);
	return j;
}

static bool pb_map_entry(struct pb v, cJSON *map)
{
	struct pb k = {(const uint8_t *)"", 0}, val = {(const uint8_t *)"", 0}, x;
	unsigned f;
	uint64_t num;
	cJSON *key, *js;

	while (v.n) {
		if (!pb_next(&v, &f, &x, &num))
			return false;
		if (f == 1 && x.p)
			k = x;
		else if (f == 2 && x.p)
			val = x;
	}
	key = pb_string(k);
	js = pb_string(val);
	if (!key || !js || cJSON_GetObjectItemCaseSensitive(map, key->valuestring) ||
	    !cJSON_AddItemToObject(map, key->valuestring, js)) {
		cJSON_Delete(key);
		cJSON_Delete(js);
		return false;
	}
	cJSON_Delete(key);
	return true;
}

/* IntOrString{type=1 (0 int, 1 string), intVal=2, strVal=3}; NULL for "unset" (int 0). */
static cJSON *pb_intstr(struct pb v, bool *ok)
{
	uint64_t type = 0, iv = 0, num;
	struct pb sv = {(const uint8_t *)"", 0}, x;
	unsigned f;

	while (v.n) {
		if (!pb_next(&v, &f, &x, &num)) {
			*ok = false;
			return NULL;
		}
		if (f == 1 && !x.p)
			type = num;
		else if (f == 2 && !x.p)
			iv = num;
		else if (f == 3 && x.p)
			sv = x;
	}
	if (type == 1)
		return pb_string(sv);
	return iv ? cJSON_CreateNumber((double)(int32_t)iv) : NULL;
}

static bool pb_decode(struct pb b, const struct pbf *schema, cJSON *out)
{
	while (b.n) {
		const struct pbf *fd;
		struct pb v;
		unsigned f;
		uint64_t num;
		cJSON *item = NULL, *arr;
		bool ok = true;

		if (!pb_next(&b, &f, &v, &num))
			return false;
		for (fd = schema; fd->num && fd->num != f; fd++)
			;
		if (!fd->num)
			continue; /* a field the fake cluster does not read */
		bool delimited = v.p != NULL;

		switch (fd->t) {
		case PB_STR:
			if (!delimited)
				return false;
			if (v.n && !(item = pb_string(v)))
				return false;
			break;
		case PB_INT:
		case PB_INT_NZ:
			if (delimited)
				return false;
			if (fd->t == PB_INT || num)
				item = cJSON_CreateNumber((double)(int32_t)num);
			break;
		case PB_BOOL:
			if (delimited)
				return false;
			if (num)
				item = cJSON_CreateTrue();
			break;
		case PB_INTSTR:
			if (!delimited)
				return false;
			item = pb_intstr(v, &ok);
			if (!ok)
				return false;
			break;
		case PB_MSG:
			if (!delimited)
				return false;
			item = cJSON_CreateObject();
			if (!item || !pb_decode(v, fd->sub, item)) {
				cJSON_Delete(item);
				return false;
			}
			break;
		case PB_MAP:
		case PB_RMSG:
		case PB_RSTR:
			if (!delimited)
				return false;
			arr = cJSON_GetObjectItemCaseSensitive(out, fd->name);
			if (!arr)
				arr = fd->t == PB_MAP ? cJSON_AddObjectToObject(out, fd->name)
						      : cJSON_AddArrayToObject(out, fd->name);
			if (!arr)
				return false;
			if (fd->t == PB_MAP) {
				if (!pb_map_entry(v, arr))
					return false;
				continue;
			}
			item = fd->t == PB_RSTR ? pb_string(v) : cJSON_CreateObject();
			if (!item || (fd->t == PB_RMSG && !pb_decode(v, fd->sub, item)) ||
			    !cJSON_AddItemToArray(arr, item)) {
				cJSON_Delete(item);
				return false;
			}
			continue;
		}
		if (!item)
			continue;
		cJSON_DeleteItemFromObjectCaseSensitive(out, fd->name);
		if (!cJSON_AddItemToObject(out, fd->name, item)) {
			cJSON_Delete(item);
			return false;
		}
	}
	return true;
}

/* The JSON object of a protobuf body for resource r, or NULL (then *bad_kind when the body
 * holds another kind than r's). */
static cJSON *pb_object(const struct fc_http_req *req, const struct res *r, bool *bad_kind)
{
	struct pb b = {(const uint8_t *)req->body, req->body_len}, v, raw = {NULL, 0},
		  tm = {NULL, 0};
	unsigned f;
	uint64_t num;
	char kind[64] = "", av[64] = "";
	const struct pbf *schema = NULL;
	cJSON *obj;

	*bad_kind = false;
	if (b.n < 4 || memcmp(b.p, "k8s\0", 4) != 0)
		return NULL;
	b.p += 4;
	b.n -= 4;
	while (b.n) {
		if (!pb_next(&b, &f, &v, &num))
			return NULL;
		if (f == 1 && v.p)
			tm = v;
		else if (f == 2 && v.p)
			raw = v;
	}
	while (tm.n) {
		if (!pb_next(&tm, &f, &v, &num))
			return NULL;
		if ((f == 1 || f == 2) && v.p)
			snprintf(f == 1 ? av : kind, 64, "%.*s", (int)(v.n < 63 ? v.n : 63),
				 (const char *)v.p);
	}
	if (strcmp(kind, r->kind) != 0) {
		*bad_kind = true;
		return NULL;
	}
	switch (r->k) {
	case FC_KIND_NAMESPACE:
		schema = pb_ns;
		break;
	case FC_KIND_POD:
		schema = pb_pod;
		break;
	case FC_KIND_SERVICE:
		schema = pb_svc;
		break;
	case FC_KIND_DEPLOYMENT:
		schema = pb_deploy;
		break;
	case FC_KIND_STATEFULSET:
		schema = pb_sts;
		break;
	case FC_KIND_DAEMONSET:
		schema = pb_ds;
		break;
	default:
		return NULL;
	}
	obj = cJSON_CreateObject();
	if (!obj)
		return NULL;
	cJSON_AddStringToObject(obj, "apiVersion", av);
	cJSON_AddStringToObject(obj, "kind", kind);
	if (!pb_decode(raw, schema, obj)) {
		cJSON_Delete(obj);
		return NULL;
	}
	return obj;
}

static void do_create(struct fc_api *api, struct fc_conn *c, const struct fc_http_req *req,
		      const struct res *r, const char *ns)
{
	const char *ct = fc_http_header(req, "Content-Type");
	cJSON *obj = NULL, *md;
	const char *kind, *av, *bns, *name, *gen;
	char want_av[64], msg[1024], cmsg[512], q[64], namebuf[300];
	const cJSON *stored;
	int e;

	api_version_of(r, want_av, sizeof(want_av));
	qualified(r, q, sizeof(q));
	if (ct && !strncmp(ct, "application/vnd.kubernetes.protobuf", 35)) {
		bool bad_kind;

		obj = pb_object(req, r, &bad_kind);
		if (!obj) {
			bad_request(c, bad_kind
					   ? "the kind in the protobuf body does not match the "
					     "resource"
					   : "cannot decode the protobuf body");
			return;
		}
	} else if (ct && strncmp(ct, "application/json", 16) && strncmp(ct, "*/*", 3)) {
		status(c, 415, "UnsupportedMediaType",
		       "the body of the request was in an unknown format - accepted media types "
		       "include: application/json",
		       NULL, NULL, NULL, NULL);
		return;
	} else {
		obj = cJSON_ParseWithLength(req->body, req->body_len);
	}
	if (!cJSON_IsObject(obj)) {
		cJSON_Delete(obj);
		bad_request(c, "the request body is not a JSON object");
		return;
	}
	kind = jstr(obj, "kind");
	av = jstr(obj, "apiVersion");
	if (av && strcmp(av, want_av)) {
		snprintf(
		    msg, sizeof(msg),
		    "the API version in the data (%s) does not match the expected API version (%s)",
		    av, want_av);
		cJSON_Delete(obj);
		bad_request(c, msg);
		return;
	}
	if (kind && strcmp(kind, r->kind)) {
		snprintf(msg, sizeof(msg),
			 "the kind in the data (%s) does not match the expected kind (%s)", kind,
			 r->kind);
		cJSON_Delete(obj);
		bad_request(c, msg);
		return;
	}
	md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	if (!cJSON_IsObject(md)) {
		cJSON_DeleteItemFromObjectCaseSensitive(obj, "metadata");
		md = cJSON_AddObjectToObject(obj, "metadata");
	}
	bns = jstr(md, "namespace");
	if (ns && bns && strcmp(bns, ns)) {
		cJSON_Delete(obj);
		bad_request(
		    c, "the namespace of the provided object does not match the namespace sent "
		       "on the request");
		return;
	}
	if (ns && !bns)
		cJSON_AddStringToObject(md, "namespace", ns);
	name = jstr(md, "name");
	gen = jstr(md, "generateName");
	if ((!name || !*name) && gen && *gen) {
		/* generateName: the API server appends 5 random characters
		 * (names.SimpleNameGenerator). */
		static const char alnum[] = "bcdfghjklmnpqrstvwxz2456789";
		unsigned char rnd[5];

		for (int tries = 0; tries < 10; tries++) {
			if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
				memset(rnd, tries, sizeof(rnd));
			for (int i = 0; i < 5; i++)
				rnd[i] = (unsigned char)alnum[rnd[i] % (sizeof(alnum) - 1)];
			snprintf(namebuf, sizeof(namebuf), "%.250s%.5s", gen, (const char *)rnd);
			if (!fc_store_get(api->cl->store, r->k, ns, namebuf))
				break;
		}
		cJSON_DeleteItemFromObjectCaseSensitive(md, "name");
		cJSON_AddStringToObject(md, "name", namebuf);
	}
	name = jstr(md, "name");
	snprintf(namebuf, sizeof(namebuf), "%s", name ? name : "");
	if (fc_http_query(req, "dryRun")) {
		/* Server-side dry run: check, answer, store nothing. */
		const cJSON *where;

		if (fc_controller_check(r->k, obj, &where, cmsg, sizeof(cmsg))) {
			snprintf(msg, sizeof(msg), "%s \"%s\" is invalid: %s", r->kind, namebuf,
				 cmsg);
			cJSON_Delete(obj);
			status(c, 422, "Invalid", msg, r->kind, r->group, namebuf, NULL);
			return;
		}
		respond_obj(c, 201, obj);
		cJSON_Delete(obj);
		return;
	}
	e = fc_controller_create(api->ctl, r->k, obj, false, false, cmsg, sizeof(cmsg));
	switch (e) {
	case 0:
		stored = fc_store_get(api->cl->store, r->k, ns, namebuf);
		if (stored)
			respond_obj(c, 201, stored);
		else
			status(c, 500, "InternalError", "created object vanished", NULL, NULL, NULL,
			       NULL);
		return;
	case -EEXIST:
		snprintf(msg, sizeof(msg), "%s \"%s\" already exists", q, namebuf);
		status(c, 409, "AlreadyExists", msg, r->plural, r->group, namebuf, NULL);
		return;
	case -EINVAL:
		snprintf(msg, sizeof(msg), "%s%s%s \"%s\" is invalid: %s", r->kind,
			 *r->group ? "." : "", r->group, namebuf, cmsg);
		status(c, 422, "Invalid", msg, r->kind, r->group, namebuf, NULL);
		return;
	case -ENOENT:
		status(c, 404, "NotFound", cmsg[0] ? cmsg : "not found", "namespaces", NULL, ns,
		       NULL);
		return;
	case -ENOSPC:
		status(c, 500, "InternalError", "the fake cluster is full", NULL, NULL, NULL, NULL);
		return;
	default:
		status(c, 500, "InternalError", strerror(-e), NULL, NULL, NULL, NULL);
		return;
	}
}

/* gracePeriodSeconds from the query or a DeleteOptions body; -1 when absent. Only 0 (force)
 * changes anything: otherwise the fake's --grace-ms sets how long termination takes. */
static int64_t grace_override(const struct fc_http_req *req)
{
	const char *q = fc_http_query(req, "gracePeriodSeconds");
	uint64_t v;
	cJSON *body;
	const cJSON *g;
	int64_t r = -1;

	if (q && parse_u64(q, &v))
		return v == 0 ? 0 : -1;
	if (!req->body_len)
		return -1;
	body = cJSON_ParseWithLength(req->body, req->body_len);
	g = jget(body, "gracePeriodSeconds");
	if (cJSON_IsNumber(g) && g->valuedouble == 0)
		r = 0;
	cJSON_Delete(body);
	return r;
}

static void do_delete(struct fc_api *api, struct fc_conn *c, const struct fc_http_req *req,
		      const struct res *r, const char *ns, const char *name)
{
	const cJSON *obj = fc_store_get(api->cl->store, r->k, ns, name);
	cJSON *before;
	char uid[64];
	int e;

	if (!r->deletable) {
		method_not_allowed(c);
		return;
	}
	if (!obj) {
		not_found(c, r, name);
		return;
	}
	before = cJSON_Duplicate(obj, true);
	snprintf(uid, sizeof(uid), "%s", mstr(obj, "uid") ? mstr(obj, "uid") : "");
	e = fc_controller_delete(api->ctl, r->k, ns, name, grace_override(req));
	if (e == -ENOENT) {
		not_found(c, r, name);
	} else if (e) {
		status(c, 500, "InternalError", strerror(-e), NULL, NULL, NULL, NULL);
	} else if (r->k == FC_KIND_POD) {
		/* A graceful pod delete answers with the pod as it is now: Terminating. */
		obj = fc_store_get(api->cl->store, r->k, ns, name);
		respond_obj(c, 200, obj ? obj : before);
	} else {
		status(c, 200, NULL, NULL, r->plural, r->group, name, uid);
	}
	cJSON_Delete(before);
}

/* ---- routing ------------------------------------------------------------------------------- */

#define MAX_SEGS 12

static const struct res *find_res(const char *group, const char *plural)
{
	for (size_t i = 0; i < NRES; i++) {
		if (!strcmp(resources[i].group, group) && !strcmp(resources[i].plural, plural))
			return &resources[i];
	}
	return NULL;
}

static bool is_get(const struct fc_http_req *req)
{
	return !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD");
}

/* seg[0..n) after /api/v1 or /apis/G/v1. */
static void route_resource(struct fc_api *api, struct fc_conn *c, const struct fc_http_req *req,
			   const char *group, char **seg, size_t n)
{
	const struct res *r = NULL;
	const char *ns = NULL, *name = NULL, *sub = NULL;
	const cJSON *obj;

	if (n >= 3 && !strcmp(seg[0], "namespaces") && (r = find_res(group, seg[2])) &&
	    r->namespaced) {
		ns = seg[1];
		name = n >= 4 ? seg[3] : NULL;
		sub = n >= 5 ? seg[4] : NULL;
		if (n > 5) {
			no_resource(c);
			return;
		}
	} else if (n >= 1 && (r = find_res(group, seg[0]))) {
		if (r->namespaced && n > 1) {
			no_resource(c); /* /api/v1/pods/x is not a path */
			return;
		}
		name = n >= 2 ? seg[1] : NULL;
		sub = n >= 3 ? seg[2] : NULL;
		if (n > 3) {
			no_resource(c);
			return;
		}
	} else {
		no_resource(c);
		return;
	}
	if (!name) {
		if (is_get(req)) {
			if (truthy(fc_http_query(req, "watch")))
				do_watch(api, c, req, r, ns);
			else
				do_list(api, c, req, r, ns);
		} else if (!strcmp(req->method, "POST") && r->creatable) {
			do_create(api, c, req, r, ns);
		} else {
			method_not_allowed(c);
		}
		return;
	}
	if (sub) {
		/* pods/status is served read-only; portforward never gets here (http.c routes it);
		 * log, exec, attach and the rest do not exist in the fake cluster. */
		if (r->k == FC_KIND_POD && !strcmp(sub, "status")) {
			if (!is_get(req)) {
				method_not_allowed(c);
				return;
			}
			obj = fc_store_get(api->cl->store, r->k, ns, name);
			if (obj)
				respond_obj(c, 200, obj);
			else
				not_found(c, r, name);
			return;
		}
		if (r->k == FC_KIND_POD &&
		    (!strcmp(sub, "log") || !strcmp(sub, "exec") || !strcmp(sub, "attach") ||
		     !strcmp(sub, "portforward"))) {
			method_not_allowed(c);
			return;
		}
		no_resource(c);
		return;
	}
	if (is_get(req)) {
		obj = fc_store_get(api->cl->store, r->k, ns, name);
		if (obj)
			respond_maybe_table(api, c, req, r, 200, obj);
		else
			not_found(c, r, name);
	} else if (!strcmp(req->method, "DELETE")) {
		do_delete(api, c, req, r, ns, name);
	} else {
		method_not_allowed(c);
	}
}

void fc_api_handle(struct fc_cluster *cl, struct fc_conn *c, const struct fc_http_req *req)
{
	struct fc_api *api = api_of(cl);
	char path[2048], *seg[MAX_SEGS], *p, *save = NULL;
	size_t n = 0;

	if (!api) {
		status(c, 503, "ServiceUnavailable", "the API is not initialised", NULL, NULL, NULL,
		       NULL);
		return;
	}
	if (strlen(req->path) >= sizeof(path)) {
		status(c, 414, "RequestURITooLong", "path too long", NULL, NULL, NULL, NULL);
		return;
	}
	snprintf(path, sizeof(path), "%s", req->path);
	for (p = strtok_r(path, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
		if (n == MAX_SEGS) {
			no_resource(c);
			return;
		}
		seg[n++] = p;
	}
	if (n == 1 &&
	    (!strcmp(seg[0], "healthz") || !strcmp(seg[0], "livez") || !strcmp(seg[0], "readyz"))) {
		fc_http_respond(c, 200, "text/plain; charset=utf-8", NULL, "ok", 2);
		return;
	}
	if (!is_get(req) &&
	    !(n >= 2 && (!strcmp(req->method, "POST") || !strcmp(req->method, "DELETE") ||
			 !strcmp(req->method, "PUT") || !strcmp(req->method, "PATCH")))) {
		method_not_allowed(c);
		return;
	}
	if (n == 1 && !strcmp(seg[0], "version") && is_get(req)) {
		send_version(c);
	} else if (n >= 1 && !strcmp(seg[0], "openapi")) {
		/* kubectl copes without OpenAPI (validation off, explain unavailable). */
		no_resource(c);
	} else if (n == 1 && !strcmp(seg[0], "api")) {
		send_api_versions(api, c);
	} else if (n == 1 && !strcmp(seg[0], "apis")) {
		send_group_list(c);
	} else if (n >= 2 && !strcmp(seg[0], "api") && !strcmp(seg[1], "v1")) {
		if (n == 2)
			is_get(req) ? send_resource_list(c, "") : method_not_allowed(c);
		else
			route_resource(api, c, req, "", seg + 2, n - 2);
	} else if (n >= 2 && !strcmp(seg[0], "apis") &&
		   (!strcmp(seg[1], "apps") || !strcmp(seg[1], "discovery.k8s.io"))) {
		if (n == 2)
			is_get(req) ? send_group(c, seg[1]) : method_not_allowed(c);
		else if (strcmp(seg[2], "v1") != 0)
			no_resource(c);
		else if (n == 3)
			is_get(req) ? send_resource_list(c, seg[1]) : method_not_allowed(c);
		else
			route_resource(api, c, req, seg[1], seg + 3, n - 3);
	} else {
		no_resource(c);
	}
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

/* "127.0.0.1:6443" → host and port for the default/kubernetes endpoints. */
static void split_listen(const char *listen, char *host, size_t cap, int *port)
{
	const char *colon = listen ? strrchr(listen, ':') : NULL;
	char *end;
	long v;

	host[0] = '\0';
	*port = 6443;
	if (!colon)
		return;
	snprintf(host, cap, "%.*s", (int)(colon - listen), listen);
	errno = 0;
	v = strtol(colon + 1, &end, 10);
	if (!errno && !*end && v > 0 && v < 65536)
		*port = (int)v;
}

int fc_api_init(struct fc_cluster *cl, char *err, size_t errcap)
{
	struct fc_api *api = calloc(1, sizeof(*api));
	struct fc_controller_opts o = {0};
	char host[64];
	int e;

	if (errcap)
		err[0] = '\0';
	if (!api)
		return -ENOMEM;
	api->cl = cl;
	split_listen(cl->opt.listen, host, sizeof(host), &o.api_port);
	o.api_host = host[0] ? host : NULL;
	o.nodes = cl->opt.nodes;
	o.grace_ms = cl->opt.grace_ms;
	o.replace_delay_ms = cl->opt.replace_delay_ms;
	o.start_delay_ms = START_DELAY_MS;
	api->ctl = fc_controller_new(cl->loop, cl->store, &o);
	if (!api->ctl) {
		free(api);
		snprintf(err, errcap, "out of memory");
		return -ENOMEM;
	}
	if (cl->opt.fixture_path) {
		e = fc_fixture_load_file(api->ctl, cl->opt.fixture_path, err, errcap);
		if (e) {
			fc_controller_free(api->ctl);
			free(api);
			return e;
		}
	}
	cl->api = api;
	return 0;
}

void fc_api_fini(struct fc_cluster *cl)
{
	struct fc_api *api = api_of(cl);

	if (!api)
		return;
	cl->api = NULL;
	/* Watches still open (no server, or conns not yet closed): detach them from their conns
	 * is not possible here, so only free the state; the server drops conns before this. */
	while (api->watches)
		watch_free(api->watches);
	fc_controller_free(api->ctl);
	free(api);
}

int fc_api_set_pod_ready(struct fc_cluster *cl, const char *ns, const char *name, bool ready)
{
	struct fc_api *api = api_of(cl);

	if (!api)
		return -ENOENT;
	return fc_controller_set_pod_ready(api->ctl, ns, name, ready);
}
