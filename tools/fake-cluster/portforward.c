/* portforward.c: pods/{name}/portforward on the fake API server (see portforward.h).
 *
 * The module answers the request as the API server and the kubelet together would: the
 * fault-injected rejection, the pod checks (404 when it does not exist, 400 when it has no
 * node or is not Running), then the protocol handshake (pf_handshake.c). A successful upgrade
 * becomes a struct pf_session, which owns the protocol engine (pf_spdy.c for plain and
 * tunnelled SPDY, pf_v4.c for v4 channels) and is the conn's handler until on_close.
 *
 * Ownership and lifetime: the module owns the registry of sessions and its pod watch. A session
 * is freed only in on_close, which the conn runs from the loop's defer queue (conn.h), so
 * nothing here ever frees a session that has a frame on the stack. pf_session_close() only
 * starts closing; from then on the engines send nothing and drop input.
 *
 * Status choices where protocol.md is silent: a pod that is not Running gets 400 BadRequest
 * "unable to upgrade connection: pod does not exist" (the kubelet's 404 text as client-go
 * reports it), a pod without a node 400 "pod <name> does not have a host assigned" (the API
 * server's PortForwardLocation). */
#include "portforward.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "conn.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "pf_handshake.h"
#include "pf_session.h"
#include "pf_spdy.h"
#include "pf_v4.h"
#include "pf_ws.h"
#include "store.h"
#include "wsframe.h"

struct fc_portforward {
	struct fc_cluster *cl;
	struct fc_watch *watch;
	struct pf_session *sessions;
	struct fc_portforward_stats stats;
};

static const struct fc_conn_ops session_ops;

/* --- session helpers used by the engines --- */

static bool is_ws(const struct pf_session *s)
{
	return s->proto != PF_PROTO_SPDY;
}

size_t pf_session_room(const struct pf_session *s)
{
	/* Headroom for the framing around one unit: a WebSocket header (<= 10 bytes) and the
	 * SPDY or channel bytes the engines subtract themselves. */
	size_t overhead = is_ws(s) ? 16 : 8;
	size_t room;

	if (s->closing || !s->started)
		return 0;
	room = fc_conn_send_room(s->c);
	return room > overhead ? room - (is_ws(s) ? 10 : 0) : 0;
}

int pf_session_send(struct pf_session *s, const struct pf_iov *iov, size_t n)
{
	int r = 0;

	if (s->closing)
		return -EPIPE;
	if (is_ws(s)) {
		r = pf_ws_send(
		    s->c, s->proto == PF_PROTO_WS_V4_B64 ? KT_WS_OP_TEXT : KT_WS_OP_BINARY, iov, n);
	} else {
		for (size_t i = 0; i < n && r == 0; i++)
			r = fc_conn_send(s->c, iov[i].p, iov[i].len);
	}
	if (r < 0) {
		kt_log_debug("port-forward %s/%s conn %llu: send failed: %s", s->ns, s->pod,
			     (unsigned long long)fc_conn_id(s->c), strerror(-r));
		pf_session_close(s, true);
	}
	return r;
}

static void close_code(struct pf_session *s, bool abort, uint16_t code)
{
	if (s->closing)
		return;
	s->closing = true;
	if (abort) {
		fc_conn_abort(s->c);
		return;
	}
	/* wsstream/x-net and the tunnel close with a close frame (1000), then TCP. */
	if (is_ws(s) && s->started && !fc_conn_closing(s->c))
		pf_ws_send_close(s->c, code);
	fc_conn_close(s->c);
}

void pf_session_close(struct pf_session *s, bool abort)
{
	close_code(s, abort, KT_WS_CLOSE_NORMAL);
}

static bool engine_blocked(const struct pf_session *s)
{
	if (s->spdy)
		return pf_spdy_blocked(s->spdy);
	if (s->v4)
		return pf_v4_blocked(s->v4);
	return false;
}

void pf_session_sync_pause(struct pf_session *s)
{
	bool blocked;

	if (s->closing || !s->started)
		return;
	blocked = engine_blocked(s);
	if (blocked != s->paused) {
		s->paused = blocked;
		fc_conn_pause(s->c, blocked);
	}
}

static const char *json_str(const cJSON *o, const char *a, const char *b)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
	if (b)
		x = cJSON_GetObjectItemCaseSensitive(x, b);
	return cJSON_IsString(x) ? x->valuestring : NULL;
}

struct pf_target *pf_session_open_target(struct pf_session *s, uint16_t port,
					 const struct pf_sink *sink, bool *gone)
{
	const cJSON *pod = NULL;
	const char *uid;
	struct pf_target_spec spec;

	*gone = false;
	if (!s->gone) {
		pod = fc_store_get(s->cl->store, FC_KIND_POD, s->ns, s->pod);
		uid = json_str(pod, "metadata", "uid");
		/* A StatefulSet pod recreated under the same name is another sandbox. */
		if (!pod || !uid || strcmp(uid, s->uid) != 0)
			s->gone = true;
	}
	if (s->gone) {
		*gone = true;
		return NULL;
	}
	pf_target_resolve(pod, port, &spec);
	if (spec.kind == PF_TARGET_REFUSED)
		kt_log_debug("port-forward %s/%s: port %u refused: %s", s->ns, s->pod, port,
			     spec.why);
	return pf_target_open(s->cl, pod, &spec, sink);
}

void pf_stats_stream_opened(struct pf_session *s)
{
	if (!s->pf)
		return;
	s->pf->stats.streams_opened++;
	s->pf->stats.streams_active++;
}

void pf_stats_stream_closed(struct pf_session *s, enum pf_target_state how)
{
	if (!s->pf)
		return;
	if (s->pf->stats.streams_active)
		s->pf->stats.streams_active--;
	if (how == PF_TS_REFUSED)
		s->pf->stats.streams_refused++;
	else if (how == PF_TS_RESET)
		s->pf->stats.streams_reset++;
}

void pf_stats_bytes(struct pf_session *s, uint64_t to_pod, uint64_t from_pod)
{
	if (!s->pf)
		return;
	s->pf->stats.bytes_to_pod += to_pod;
	s->pf->stats.bytes_from_pod += from_pod;
}

/* --- conn handler --- */

static size_t ws_data(void *arg, uint8_t opcode, bool first, bool last, const uint8_t *p, size_t n)
{
	struct pf_session *s = arg;

	if (s->spdy) {
		/* tunneling_connection.go: only binary messages carry the SPDY stream. */
		if (opcode != KT_WS_OP_BINARY) {
			kt_log_info("port-forward %s/%s: invalid message type received", s->ns,
				    s->pod);
			close_code(s, false, KT_WS_CLOSE_PROTOCOL_ERROR);
			return n;
		}
		return pf_spdy_input(s->spdy, p, n);
	}
	if (s->v4)
		return pf_v4_data(s->v4, opcode, first, last, p, n);
	return n;
}

static void ws_close(void *arg, uint16_t code)
{
	struct pf_session *s = arg;

	(void)code;
	/* v4: wsstream's read loop ends and closes every channel; tunnel: a close is EOF.
	 * Either way everything ends and the socket closes (close 1000, then TCP). */
	if (s->v4)
		pf_v4_stop(s->v4, false);
	pf_session_close(s, false);
}

static void ws_error(void *arg, const char *why)
{
	struct pf_session *s = arg;

	kt_log_info("port-forward %s/%s: WebSocket protocol error: %s", s->ns, s->pod, why);
	close_code(s, false, KT_WS_CLOSE_PROTOCOL_ERROR);
}

static bool ws_active(void *arg)
{
	const struct pf_session *s = arg;
	return !s->closing;
}

static const struct pf_ws_handler ws_handler = {ws_data, ws_close, ws_error, ws_active};

static size_t on_data(void *h, struct fc_conn *c, const uint8_t *p, size_t n)
{
	struct pf_session *s = h;
	size_t used;

	(void)c;
	if (s->closing)
		return n;
	if (!s->started)
		return 0;
	if (s->proto == PF_PROTO_SPDY)
		used = pf_spdy_input(s->spdy, p, n);
	else
		used = pf_ws_input(&s->ws, s->c, p, n, &ws_handler, s);
	pf_session_sync_pause(s);
	if (s->closing)
		return n;
	return used;
}

static void on_drain(void *h, struct fc_conn *c)
{
	struct pf_session *s = h;

	(void)c;
	if (s->closing || !s->started)
		return;
	if (s->spdy)
		pf_spdy_drain(s->spdy);
	else if (s->v4)
		pf_v4_drain(s->v4);
	pf_session_sync_pause(s);
}

static void session_unlink(struct pf_session *s)
{
	if (!s->pf)
		return;
	if (s->prev)
		s->prev->next = s->next;
	else
		s->pf->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	if (s->started && s->pf->stats.sessions_active)
		s->pf->stats.sessions_active--;
	s->pf = NULL;
	s->next = s->prev = NULL;
}

static void session_free_engines(struct pf_session *s)
{
	fc_loop_timer_cancel(s->cl->loop, s->delay);
	s->delay = NULL;
	free(s->delay_resp);
	s->delay_resp = NULL;
	pf_spdy_free(s->spdy);
	s->spdy = NULL;
	pf_v4_free(s->v4);
	s->v4 = NULL;
}

static void on_close(void *h, struct fc_conn *c)
{
	struct pf_session *s = h;

	(void)c;
	s->closing = true;
	session_free_engines(s);
	session_unlink(s);
	free(s);
}

static const struct fc_conn_ops session_ops = {on_data, on_drain, on_close};

/* Sends the 101 and starts the engine. */
static void session_start(struct pf_session *s, const char *resp)
{
	struct fc_portforward *pf = s->pf;

	if (fc_conn_send(s->c, resp, strlen(resp)) < 0) {
		pf_session_close(s, true);
		return;
	}
	s->started = true;
	if (pf) {
		pf->stats.sessions++;
		pf->stats.sessions_active++;
		if (s->proto == PF_PROTO_SPDY)
			pf->stats.sessions_spdy++;
		else if (s->proto == PF_PROTO_WS_SPDY)
			pf->stats.sessions_ws_spdy++;
		else
			pf->stats.sessions_ws_v4++;
	}
	kt_log_debug("port-forward %s/%s conn %llu: upgraded (%s)", s->ns, s->pod,
		     (unsigned long long)fc_conn_id(s->c),
		     s->proto == PF_PROTO_SPDY	    ? "SPDY/3.1"
		     : s->proto == PF_PROTO_WS_SPDY ? "SPDY/3.1+portforward.k8s.io"
		     : s->proto == PF_PROTO_WS_V4   ? "v4.channel.k8s.io"
						    : "v4.base64.channel.k8s.io");
	if (s->proto == PF_PROTO_SPDY || s->proto == PF_PROTO_WS_SPDY) {
		s->spdy = pf_spdy_new(s);
		if (!s->spdy) {
			pf_session_close(s, true);
			return;
		}
	} else {
		s->v4 = pf_v4_new(s);
		if (!s->v4) {
			pf_session_close(s, true);
			return;
		}
		pf_v4_start(s->v4);
	}
	pf_session_sync_pause(s);
}

/* The latency fault: the 101 (kept in delay_resp) goes out when this fires. */
static void delay_fired(void *arg)
{
	struct pf_session *s = arg;
	char *resp = s->delay_resp;
	const cJSON *pod;
	const char *uid;

	s->delay = NULL;
	s->delay_resp = NULL;
	fc_conn_pause(s->c, false);
	/* The pod may have gone while we waited: the engine then reports it on every stream. */
	pod = fc_store_get(s->cl->store, FC_KIND_POD, s->ns, s->pod);
	uid = json_str(pod, "metadata", "uid");
	if (!uid || strcmp(uid, s->uid) != 0)
		s->gone = true;
	if (!s->closing && resp)
		session_start(s, resp);
	free(resp);
}

/* --- request --- */

static const char *reason_for(int code)
{
	switch (code) {
	case 400:
		return "BadRequest";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "NotFound";
	case 405:
		return "MethodNotAllowed";
	case 409:
		return "Conflict";
	case 410:
		return "Gone";
	case 422:
		return "Invalid";
	case 429:
		return "TooManyRequests";
	case 500:
		return "InternalError";
	case 503:
		return "ServiceUnavailable";
	case 504:
		return "Timeout";
	default:
		return "";
	}
}

void fc_portforward_handle(struct fc_cluster *cl, struct fc_conn *c, const struct fc_http_req *req,
			   const char *ns, const char *pod)
{
	struct fc_portforward *pf = cl->pf;
	struct pf_handshake *hs = NULL;
	struct pf_session *s = NULL;
	const cJSON *po;
	const char *uid, *phase, *node;
	char msg[600];

	if (pf)
		pf->stats.requests++;
	if (cl->faults.pf_reject_code) {
		int code = cl->faults.pf_reject_code;
		fc_http_respond_status(c, code, reason_for(code), cl->faults.pf_reject_message,
				       NULL, NULL);
		goto rejected;
	}
	po = fc_store_get(cl->store, FC_KIND_POD, ns, pod);
	if (!po) {
		snprintf(msg, sizeof(msg), "pods \"%s\" not found", pod);
		fc_http_respond_status(c, 404, "NotFound", msg, "pods", pod);
		goto rejected;
	}
	uid = json_str(po, "metadata", "uid");
	phase = json_str(po, "status", "phase");
	node = json_str(po, "spec", "nodeName");
	if (!node || !*node) {
		snprintf(msg, sizeof(msg), "pod %s does not have a host assigned", pod);
		fc_http_respond_status(c, 400, "BadRequest", msg, NULL, NULL);
		goto rejected;
	}
	if (!phase || strcmp(phase, "Running") != 0 || !uid) {
		fc_http_respond_status(c, 400, "BadRequest",
				       "unable to upgrade connection: pod does not exist", NULL,
				       NULL);
		goto rejected;
	}

	hs = calloc(1, sizeof(*hs));
	if (!hs) {
		fc_http_respond_status(c, 500, "InternalError", "out of memory", NULL, NULL);
		goto rejected;
	}
	pf_handshake(req, hs);
	switch (hs->action) {
	case PF_HS_STATUS:
		fc_http_respond_status(c, hs->status, hs->reason, hs->body, NULL, NULL);
		goto rejected;
	case PF_HS_RESPOND:
		fc_http_respond(c, hs->status, hs->content_type, hs->extra, hs->body,
				strlen(hs->body));
		goto rejected;
	case PF_HS_RAW_CLOSE:
		fc_conn_send(c, hs->raw, strlen(hs->raw));
		fc_conn_close(c);
		goto rejected;
	case PF_HS_UPGRADE:
		break;
	}
	if (!pf) {
		fc_http_respond_status(c, 500, "InternalError", "port-forward is not available",
				       NULL, NULL);
		goto rejected;
	}

	s = calloc(1, sizeof(*s));
	if (!s) {
		fc_http_respond_status(c, 500, "InternalError", "out of memory", NULL, NULL);
		goto rejected;
	}
	s->pf = pf;
	s->cl = cl;
	s->c = c;
	s->proto = hs->proto;
	snprintf(s->ns, sizeof(s->ns), "%s", ns);
	snprintf(s->pod, sizeof(s->pod), "%s", pod);
	snprintf(s->uid, sizeof(s->uid), "%s", uid);
	s->nports = hs->nports;
	memcpy(s->ports, hs->ports, hs->nports * sizeof(hs->ports[0]));
	s->next = pf->sessions;
	if (pf->sessions)
		pf->sessions->prev = s;
	pf->sessions = s;
	fc_conn_set_ops(c, &session_ops, s);

	if (cl->faults.pf_latency_ms > 0) {
		s->delay_resp = strdup(hs->raw);
		if (s->delay_resp)
			s->delay =
			    fc_loop_timer(cl->loop, cl->faults.pf_latency_ms, delay_fired, s);
		if (s->delay) {
			fc_conn_pause(c, true);
			free(hs);
			return;
		}
		free(s->delay_resp);
		s->delay_resp = NULL;
	}
	session_start(s, hs->raw);
	free(hs);
	return;

rejected:
	free(hs);
	if (pf)
		pf->stats.rejected++;
}

/* --- pod lifecycle --- */

/* A pod left the store: the kubelet's containers are gone, so every session to that pod
 * (same uid) loses its connections the way a dying container drops them. */
static void pod_event(void *arg, enum fc_event_type type, const cJSON *obj, uint64_t rv)
{
	struct fc_portforward *pf = arg;
	const char *ns = json_str(obj, "metadata", "namespace");
	const char *name = json_str(obj, "metadata", "name");
	const char *uid = json_str(obj, "metadata", "uid");
	struct pf_session *s, *next;

	(void)rv;
	if (type != FC_EVENT_DELETED || !ns || !name || !uid)
		return;
	for (s = pf->sessions; s; s = next) {
		next = s->next;
		if (s->gone || strcmp(s->ns, ns) != 0 || strcmp(s->pod, name) != 0 ||
		    strcmp(s->uid, uid) != 0)
			continue;
		s->gone = true;
		if (s->closing || !s->started)
			continue;
		kt_log_debug("port-forward %s/%s conn %llu: pod gone", ns, name,
			     (unsigned long long)fc_conn_id(s->c));
		if (s->spdy)
			pf_spdy_pod_gone(s->spdy);
		else if (s->v4)
			pf_v4_stop(s->v4, true);
		pf_session_sync_pause(s);
	}
}

static void ensure_watch(struct fc_portforward *pf)
{
	int err = 0;

	if (pf->watch || !pf->cl->store)
		return;
	pf->watch = fc_store_watch(pf->cl->store, FC_KIND_POD, NULL, 0, pod_event, pf, &err);
	if (!pf->watch)
		kt_log_warnx("port-forward: cannot watch pods (%s)", strerror(err ? -err : ENOMEM));
}

/* --- module --- */

struct fc_portforward *fc_portforward_new(struct fc_cluster *cl)
{
	struct fc_portforward *pf = calloc(1, sizeof(*pf));

	if (!pf)
		return NULL;
	pf->cl = cl;
	ensure_watch(pf);
	return pf;
}

void fc_portforward_free(struct fc_portforward *pf)
{
	struct pf_session *s, *next;

	if (!pf)
		return;
	if (pf->watch && pf->cl->store)
		fc_store_unwatch(pf->cl->store, pf->watch);
	/* Conns still open belong to the server; their sessions stay valid (detached, closing,
	 * without engines) until on_close. */
	for (s = pf->sessions; s; s = next) {
		next = s->next;
		session_free_engines(s);
		pf_session_close(s, true);
		s->pf = NULL;
		s->next = s->prev = NULL;
	}
	free(pf);
}

void fc_portforward_drop_all(struct fc_cluster *cl)
{
	struct fc_portforward *pf = cl->pf;

	if (!pf)
		return;
	for (struct pf_session *s = pf->sessions; s; s = s->next)
		pf_session_close(s, true);
}

void fc_portforward_get_stats(const struct fc_cluster *cl, struct fc_portforward_stats *out)
{
	if (cl->pf)
		*out = cl->pf->stats;
	else
		memset(out, 0, sizeof(*out));
}

int fc_portforward_stats_json(const struct fc_cluster *cl, cJSON *obj)
{
	struct fc_portforward_stats st;
	cJSON *o = cJSON_AddObjectToObject(obj, "portForward");

	if (!o)
		return -ENOMEM;
	fc_portforward_get_stats(cl, &st);
	const struct {
		const char *name;
		uint64_t v;
	} f[] = {
	    {"requests", st.requests},
	    {"rejected", st.rejected},
	    {"sessions", st.sessions},
	    {"sessionsSpdy", st.sessions_spdy},
	    {"sessionsWebSocketSpdy", st.sessions_ws_spdy},
	    {"sessionsWebSocketV4", st.sessions_ws_v4},
	    {"sessionsActive", st.sessions_active},
	    {"streamsOpened", st.streams_opened},
	    {"streamsActive", st.streams_active},
	    {"streamsRefused", st.streams_refused},
	    {"streamsReset", st.streams_reset},
	    {"bytesToPod", st.bytes_to_pod},
	    {"bytesFromPod", st.bytes_from_pod},
	};
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (!cJSON_AddNumberToObject(o, f[i].name, (double)f[i].v))
			return -ENOMEM;
	return 0;
}
