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

#endif
