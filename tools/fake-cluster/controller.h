/* controller.h: the fake cluster's minimal controllers (what kube-controller-manager, the
 * scheduler and the kubelets would do), acting on the object store.
 *
 * - Deployment → pods `<name>-<hash10>-<rand5>` owned by ReplicaSet `<name>-<hash10>`;
 *   StatefulSet → pods `<name>-<ordinal>` with hostname/subdomain; DaemonSet → one pod per fake
 *   node `fake-node-1..N`. Pods get scheduled (nodeName, hostIP), an IP in 10.244.0.0/16 and
 *   a realistic Running/Ready status; workloads get their status counters.
 * - Services get defaults and a clusterIP in 10.96.0.0/12 (10.96.0.1 is default/kubernetes);
 *   EndpointSlices (discovery.k8s.io/v1) follow selectors, readiness and termination.
 * - Pod deletion is graceful: Terminating (deletionTimestamp, NotReady) → gone after grace_ms;
 *   the owning workload replaces the pod after replace_delay_ms (Deployment/DaemonSet: counted
 *   from the delete, as the ReplicaSet and DaemonSet controllers ignore terminating pods;
 *   StatefulSet: from the removal, because the same name must be free). A new pod is Pending
 *   first and Running+Ready start_delay_ms later, so watchers see ADDED then MODIFIED.
 *
 * Delays run on loop timers; with a NULL loop every delayed step runs at once (unit tests,
 * fuzzing). The controller is the only writer of pods, slices and workload status; callers
 * create and delete objects through it. Everything runs on the loop thread. */
#ifndef FC_CONTROLLER_H
#define FC_CONTROLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "store.h"

struct fc_loop;
struct fc_controller;

struct fc_controller_opts {
	int nodes;		   /* fake nodes, 1..250 (0 means 1) */
	uint64_t grace_ms;	   /* Terminating → removed */
	uint64_t replace_delay_ms; /* see above */
	uint64_t start_delay_ms;   /* Pending → Running for pods created after the fixture */
	const char *api_host; /* IPv4 address for the default/kubernetes EndpointSlice, or NULL */
	int api_port;	      /* its port (the kubernetes Service's targetPort), 0: 6443 */
};

/* Creates the built-in objects too: namespaces default, kube-system, kube-public,
 * kube-node-lease and the default/kubernetes Service with its EndpointSlice. */
struct fc_controller *fc_controller_new(struct fc_loop *loop, struct fc_store *store,
					const struct fc_controller_opts *opts);
/* Cancels pending timers; the store's objects stay. */
void fc_controller_free(struct fc_controller *ctl);

/* Checks obj the way the controller reads it (types, required fields, names). On a problem:
 * -EINVAL, *where = the offending node inside obj (or obj itself) and a one-line message such
 * as `spec.replicas: expected an integer, got string "x"`. kind must be a creatable kind. */
int fc_controller_check(enum fc_kind kind, const cJSON *obj, const cJSON **where, char *msg,
			size_t cap);

/* Kind for (apiVersion, kind) of a manifest: 0, -ENOENT (unknown kind) or -EPROTO (known kind,
 * wrong apiVersion). EndpointSlice is known but not creatable (-EPERM). */
int fc_controller_kind(const char *api_version, const char *kind, enum fc_kind *out);

/* Creates an object as the API server would on POST, or as the fixture declares it: checks it
 * (fc_controller_check), applies defaults, allocates IPs, creates workload pods and updates
 * EndpointSlices. Takes ownership of obj. instant: pods start Running+Ready at once (fixture
 * load) instead of Pending first. A missing namespace is created when create_ns, else -ENOENT.
 * Returns 0, -EEXIST, -EINVAL (message in msg), -ENOENT, -ENOSPC (no free IP) or -ENOMEM. */
int fc_controller_create(struct fc_controller *ctl, enum fc_kind kind, cJSON *obj, bool instant,
			 bool create_ns, char *msg, size_t cap);

/* Batch mode (fixture load): while on, EndpointSlices are not recomputed per change; turning
 * it off recomputes every Service's slices and every workload's status once. */
void fc_controller_batch(struct fc_controller *ctl, bool on);

/* Deletes an object. Pods terminate gracefully (grace_ms; grace_ms_override >= 0 replaces it,
 * 0 removes at once) and are replaced by their owner; workloads are removed with their pods
 * (terminating, not replaced); Services with their EndpointSlices. 0, -ENOENT or -EPERM
 * (kind not deletable: namespaces, endpointslices). */
int fc_controller_delete(struct fc_controller *ctl, enum fc_kind kind, const char *ns,
			 const char *name, int64_t grace_ms_override);

/* Flips a pod's Ready and ContainersReady conditions (new lastTransitionTime) and updates the
 * EndpointSlices and workload status. 0 or -ENOENT. */
int fc_controller_set_pod_ready(struct fc_controller *ctl, const char *ns, const char *name,
				bool ready);

#endif
