/* faults.c: /fake/v1/... fault injection for tests (see faults.h).
 *
 * Only the admin credential may use these endpoints (403 Status otherwise). Each answer is the
 * resulting fault state as JSON, so a test can check what it set. The faults themselves live in
 * cl->faults and are applied by the modules they affect; this file only validates and stores
 * them, and starts outages and port-forward drops. */
#include "faults.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "api.h"
#include "cluster.h"
#include "conn.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "portforward.h"
#include "server.h"
#include "store.h"

#define MAX_OUTAGE_S 3600.0
#define MAX_LATENCY_MS 600000u

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	if (!s)
		return -EINVAL;
	if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0) {
		*out = true;
		return 0;
	}
	if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0) {
		*out = false;
		return 0;
	}
	return -EINVAL;
}

static void bad_request(struct fc_conn *c, const char *msg)
{
	fc_http_respond_status(c, 400, "BadRequest", msg, NULL, NULL);
}

static cJSON *fault_state(struct fc_cluster *cl)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	uint64_t now = fc_loop_now(cl->loop), until = cl->faults.outage_until_ms;
	cJSON_AddNumberToObject(o, "outageRemainingMs", until > now ? (double)(until - now) : 0);
	cJSON_AddNumberToObject(o, "apiLatencyMs", (double)cl->faults.api_latency_ms);
	cJSON_AddNumberToObject(o, "portForwardLatencyMs", (double)cl->faults.pf_latency_ms);
	cJSON_AddNumberToObject(o, "portForwardRejectCode", cl->faults.pf_reject_code);
	cJSON_AddStringToObject(o, "portForwardRejectMessage", cl->faults.pf_reject_message);
	return o;
}

static void respond_state(struct fc_cluster *cl, struct fc_conn *c, const char *extra_headers)
{
	cJSON *o = fault_state(cl);
	char *s = o ? cJSON_PrintUnformatted(o) : NULL;
	if (s)
		fc_http_respond(c, 200, "application/json", extra_headers, s, strlen(s));
	else
		fc_http_respond_status(c, 500, "InternalError", "out of memory", NULL, NULL);
	cJSON_free(s);
	cJSON_Delete(o);
}

static void do_outage(struct fc_cluster *cl, struct fc_conn *c, const struct fc_http_req *req)
{
	const char *v = fc_http_query(req, "seconds");
	char *end = NULL;
	double secs = v && *v ? strtod(v, &end) : NAN;
	if (!v || !end || *end || !isfinite(secs) || secs < 0 || secs > MAX_OUTAGE_S) {
		bad_request(c, "outage needs seconds=N (0 to 3600)");
		return;
	}
	uint64_t ms = (uint64_t)(secs * 1000.0 + 0.5);
	if (ms > 0) /* the server sets the same; set here so the answer shows it */
		cl->faults.outage_until_ms = fc_loop_now(cl->loop) + ms;
	/* Answer first and close this conn after the answer is flushed: the server leaves closing
	 * conns alone when it drops the others, so the caller still learns that it worked. */
	respond_state(cl, c, "Connection: close\r\n");
	fc_conn_close(c);
	if (cl->server)
		fc_server_outage(cl->server, ms);
}

static void do_latency(struct fc_cluster *cl, struct fc_conn *c, const struct fc_http_req *req)
{
	const char *api = fc_http_query(req, "api_ms"), *pf = fc_http_query(req, "portforward_ms");
	uint64_t a = cl->faults.api_latency_ms, p = cl->faults.pf_latency_ms;
	if ((!api && !pf) || (api && parse_u64(api, MAX_LATENCY_MS, &a) < 0) ||
	    (pf && parse_u64(pf, MAX_LATENCY_MS, &p) < 0)) {
		bad_request(c, "latency needs api_ms=N and/or portforward_ms=N (0 to 600000)");
		return;
	}
	cl->faults.api_latency_ms = a;
	cl->faults.pf_latency_ms = p;
	kt_log_info("fault: API latency %llu ms, port-forward latency %llu ms",
		    (unsigned long long)a, (unsigned long long)p);
	respond_state(cl, c, NULL);
}

static void do_reject(struct fc_cluster *cl, struct fc_conn *c, const struct fc_http_req *req)
{
	uint64_t code;
	if (parse_u64(fc_http_query(req, "code"), 599, &code) < 0 || (code != 0 && code < 400)) {
		bad_request(c, "reject needs code=0 (clear) or an HTTP error status 400-599");
		return;
	}
	const char *msg = fc_http_query(req, "message");
	if (!msg || !*msg)
		msg = "port-forward rejected by fault injection";
	cl->faults.pf_reject_code = (int)code;
	snprintf(cl->faults.pf_reject_message, sizeof(cl->faults.pf_reject_message), "%s",
		 code ? msg : "");
	kt_log_info("fault: port-forward reject code %d", (int)code);
	respond_state(cl, c, NULL);
}

static void do_stats(struct fc_cluster *cl, struct fc_conn *c)
{
	cJSON *o = fault_state(cl);
	if (o && cl->server) {
		const struct fc_server_stats *st = fc_server_stats(cl->server);
		cJSON_AddNumberToObject(o, "connectionsAccepted", (double)st->accepted);
		cJSON_AddNumberToObject(o, "connectionsActive", (double)st->active);
		cJSON_AddNumberToObject(o, "tlsFailures", (double)st->tls_failures);
		cJSON_AddNumberToObject(o, "requests", (double)st->requests);
		cJSON_AddNumberToObject(o, "bytesIn", (double)st->bytes_in);
		cJSON_AddNumberToObject(o, "bytesOut", (double)st->bytes_out);
		cJSON_AddNumberToObject(o, "outages", (double)st->outages);
	}
	if (o && cl->store)
		cJSON_AddNumberToObject(o, "resourceVersion", (double)fc_store_rv(cl->store));
	if (o && fc_portforward_stats_json(cl, o) < 0) {
		cJSON_Delete(o);
		o = NULL;
	}
	if (o)
		fc_http_respond_json(c, 200, o);
	else
		fc_http_respond_status(c, 500, "InternalError", "out of memory", NULL, NULL);
	cJSON_Delete(o);
}

static void do_ready(struct fc_cluster *cl, struct fc_conn *c, const struct fc_http_req *req,
		     const char *ns, const char *pod)
{
	bool ready;
	if (parse_bool(fc_http_query(req, "value"), &ready) < 0) {
		bad_request(c, "ready needs value=true or value=false");
		return;
	}
	int r = fc_api_set_pod_ready(cl, ns, pod, ready);
	if (r == -ENOENT) {
		char msg[600];
		snprintf(msg, sizeof(msg), "pods \"%s\" not found", pod);
		fc_http_respond_status(c, 404, "NotFound", msg, "pods", pod);
		return;
	}
	if (r < 0) {
		fc_http_respond_status(c, 500, "InternalError", "cannot change the pod", NULL,
				       NULL);
		return;
	}
	kt_log_info("fault: pod %s/%s %s", ns, pod, ready ? "Ready" : "NotReady");
	respond_state(cl, c, NULL);
}

static bool method_is(struct fc_conn *c, const struct fc_http_req *req, const char *want)
{
	if (strcmp(req->method, want) == 0)
		return true;
	char msg[128];
	snprintf(msg, sizeof(msg), "the fault endpoint %s only takes %s", req->path, want);
	fc_http_respond_status(c, 405, "MethodNotAllowed", msg, NULL, NULL);
	return false;
}

void fc_faults_handle(struct fc_cluster *cl, struct fc_conn *c, const struct fc_http_req *req)
{
	if (!req->admin) {
		char msg[256];
		snprintf(msg, sizeof(msg),
			 "forbidden: User \"%s\" cannot use the fault-injection API "
			 "(it needs the admin token)",
			 req->user ? req->user : "system:anonymous");
		fc_http_respond_status(c, 403, "Forbidden", msg, NULL, NULL);
		return;
	}
	const char *p = req->path;
	char ns[256], pod[256];
	if (strcmp(p, "/fake/v1/outage") == 0) {
		if (method_is(c, req, "POST"))
			do_outage(cl, c, req);
	} else if (strcmp(p, "/fake/v1/latency") == 0) {
		if (method_is(c, req, "POST"))
			do_latency(cl, c, req);
	} else if (strcmp(p, "/fake/v1/portforward/reject") == 0) {
		if (method_is(c, req, "POST"))
			do_reject(cl, c, req);
	} else if (strcmp(p, "/fake/v1/portforward/drop") == 0) {
		if (method_is(c, req, "POST")) {
			kt_log_info("fault: dropping every port-forward session");
			fc_portforward_drop_all(cl);
			respond_state(cl, c, NULL);
		}
	} else if (strcmp(p, "/fake/v1/watch/expire") == 0) {
		if (method_is(c, req, "POST")) {
			kt_log_info("fault: expiring every watch (410) at resourceVersion %llu",
				    (unsigned long long)fc_store_rv(cl->store));
			fc_api_expire_watches(cl);
			respond_state(cl, c, NULL);
		}
	} else if (strcmp(p, "/fake/v1/stats") == 0) {
		if (method_is(c, req, "GET"))
			do_stats(cl, c);
	} else if (fc_http_match_pod_path(p, "/fake/v1/namespaces/", "/ready", ns, sizeof(ns), pod,
					  sizeof(pod))) {
		if (method_is(c, req, "POST"))
			do_ready(cl, c, req, ns, pod);
	} else {
		char msg[600];
		snprintf(msg, sizeof(msg), "no fault endpoint %s", p);
		fc_http_respond_status(c, 404, "NotFound", msg, NULL, NULL);
	}
}
