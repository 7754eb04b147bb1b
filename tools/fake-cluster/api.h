/* api.h: the fake cluster's Kubernetes REST API and its minimal controllers.
 *
 * Loads the fixture into the store, runs the controllers (workloads → pods, services →
 * clusterIPs and EndpointSlices, pod deletion → Terminating → gone → replacement), and answers
 * discovery, GET, LIST, WATCH, POST and DELETE requests (protocol.md §4–5). */
#ifndef FC_API_H
#define FC_API_H

#include <stdbool.h>
#include <stddef.h>

struct fc_cluster;
struct fc_conn;
struct fc_http_req;

/* Loads opt.fixture_path. On a bad fixture: -EINVAL and "FILE:LINE:COL: what is wrong" in err. */
int fc_api_init(struct fc_cluster *cl, char *err, size_t errcap);
void fc_api_fini(struct fc_cluster *cl);
void fc_api_handle(struct fc_cluster *cl, struct fc_conn *c, const struct fc_http_req *req);
/* Fault: flip a pod's Ready condition (and its EndpointSlice entries). 0 or -ENOENT. */
/* As after an etcd compaction: the watch history is dropped and every open watch gets an
 * ERROR event (Status 410 Expired) and ends, so clients must list again. */
void fc_api_expire_watches(struct fc_cluster *cl);
int fc_api_set_pod_ready(struct fc_cluster *cl, const char *ns, const char *name, bool ready);

#endif
