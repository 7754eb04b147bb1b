/* faults.h: /fake/v1/... fault injection for tests (admin credential only).
 *
 *   POST /fake/v1/outage?seconds=N             drop all API conns, refuse new ones for N s
 *   POST /fake/v1/latency?api_ms=N&portforward_ms=M   added latency (either may be omitted)
 *   POST /fake/v1/portforward/reject?code=C&message=M reject port-forward with a Status
 *                                              (code=0 clears)
 *   POST /fake/v1/portforward/drop             end every port-forward session now
 *   POST /fake/v1/watch/expire                 compact the watch history and end every watch
 *                                              with an ERROR event (410 Expired)
 *   POST /fake/v1/namespaces/NS/pods/NAME/ready?value=true|false   set a pod Ready/NotReady
 *   GET  /fake/v1/stats                        counters as JSON
 * Every answer is JSON; errors are Status objects. */
#ifndef FC_FAULTS_H
#define FC_FAULTS_H

struct fc_cluster;
struct fc_conn;
struct fc_http_req;

void fc_faults_handle(struct fc_cluster *cl, struct fc_conn *c, const struct fc_http_req *req);

#endif
