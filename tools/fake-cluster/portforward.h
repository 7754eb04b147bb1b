/* portforward.h: pods/{name}/portforward on the fake API server.
 *
 * Serves the three wire protocols real clients use (protocol.md §1–3): WebSocket
 * v4.channel.k8s.io / v4.base64.channel.k8s.io, plain SPDY/3.1 upgrade, and SPDY/3.1 tunnelled in
 * WebSocket (SPDY/3.1+portforward.k8s.io), acting as API server + kubelet in one. Each forwarded
 * connection reaches a simulated pod port (backend.h), a real loopback server named by the pod
 * annotation fake.kubetun.dev/backend-<port>, or is refused (fake.kubetun.dev/refuse-<port>).
 * Streams to a pod end the way the kubelet ends them when the pod goes away. */
#ifndef FC_PORTFORWARD_H
#define FC_PORTFORWARD_H

#include <stdint.h>

#include <cjson/cJSON.h>

struct fc_cluster;
struct fc_conn;
struct fc_http_req;
struct fc_portforward;

struct fc_portforward *fc_portforward_new(struct fc_cluster *cl);
void fc_portforward_free(struct fc_portforward *pf);
/* Takes the conn over (or answers with a Status error). ns/pod come from the URL. */
void fc_portforward_handle(struct fc_cluster *cl, struct fc_conn *c, const struct fc_http_req *req,
			   const char *ns, const char *pod);
/* Fault: end every port-forward session now, as a kubelet restart would. */
void fc_portforward_drop_all(struct fc_cluster *cl);

/* --- Additions (helper "pf"): counters for GET /fake/v1/stats and tests. --- */

struct fc_portforward_stats {
	uint64_t requests;	   /* port-forward requests handled */
	uint64_t rejected;	   /* answered with an error instead of a 101 */
	uint64_t sessions;	   /* upgrades answered 101, all protocols */
	uint64_t sessions_spdy;	   /* plain SPDY/3.1 */
	uint64_t sessions_ws_spdy; /* SPDY/3.1+portforward.k8s.io */
	uint64_t sessions_ws_v4;   /* v4.channel.k8s.io, v4.base64.channel.k8s.io or "" */
	uint64_t sessions_active;
	uint64_t streams_opened; /* forwarded connections: SPDY stream pairs, v4 ports */
	uint64_t streams_active;
	uint64_t streams_refused; /* ended with "connection refused" */
	uint64_t streams_reset;	  /* ended by a reset from the pod */
	uint64_t bytes_to_pod;	  /* payload bytes client -> pod */
	uint64_t bytes_from_pod;  /* payload bytes pod -> client */
};

/* Copies the counters (all zero when the module does not exist). */
void fc_portforward_get_stats(const struct fc_cluster *cl, struct fc_portforward_stats *out);
/* Adds the counters to obj as "portForward": {...} (for GET /fake/v1/stats). 0 or -ENOMEM. */
int fc_portforward_stats_json(const struct fc_cluster *cl, cJSON *obj);

#endif
