/* targets.h: from a profile's forwards and the cluster's live objects to mapping entries.
 *
 * For every namespace a profile touches, list+watch informers (k8s.h) keep a cache of its Pods
 * and Services, plus its Deployments, StatefulSets or DaemonSets when a forward names one. On
 * every change the owner is told (changed callback) and rebuilds the mapping table by calling
 * kt_targets_emit(), which resolves each forward the way `kubectl port-forward TYPE/NAME` does
 * (protocol.md section 4) and adds its mappings to a builder (mapping.h):
 *
 *   svc/NAME    the Service's selector picks the pods (ExternalName or no selector: kubectl's
 *               "invalid service 'NAME': Service is defined without a selector"; an ExternalName
 *               still gets its CNAME). Ports: spec.ports with protocol TCP, or the profile's
 *               subset (Service port numbers). Service port → pod port as kubectl maps it
 *               (section 4.5): a numeric targetPort (0/absent = the port), a named targetPort
 *               looked up per pod in its regular containers' ports. Name: NAME.NS.svc.DOMAIN.
 *               Headless (clusterIP None): one hostname per ready pod, H.NAME.NS.svc.DOMAIN,
 *               with H = the pod's spec.hostname when its spec.subdomain is NAME (StatefulSet
 *               pods: kafka-1), else the pod's name; the port is used as given (kubectl skips
 *               the targetPort lookup for headless Services); NAME.NS.svc.DOMAIN answers one A
 *               per ready pod.
 *   pod/NAME    that pod. Ports: its TCP container ports, or the profile's subset.
 *   deploy/ sts/ ds/ NAME
 *               the workload's spec.selector (matchLabels and matchExpressions) picks the pods
 *               (like kubectl, pods of old ReplicaSets count too). Ports: the TCP container
 *               ports of spec.template, or the profile's subset (pod port numbers).
 *   Workload and pod forwards publish, for the ports they forward:
 *     - NAME.NS.KIND.DOMAIN with KIND pod, deploy, sts or ds (our own documented name, always);
 *     - the name of every Service of the namespace that selects their pods (or, for
 *       workloads, their pod template), with that Service's ports whose target port is one of
 *       the forwarded pod ports, connections going to the forward's pods only; for a headless
 *       Service the per-pod names as above with every forwarded port (a pod's DNS name is its
 *       IP in a cluster: any port).
 *   SRV: _PORTNAME._tcp.<name> for every named port (Service ports; container ports for the
 *   documented names), pointing at the name (each per-pod name for headless Services).
 *
 * Pods eligible for connections: not terminating (no deletionTimestamp) and Ready; a Service
 * with publishNotReadyAddresses also takes Running pods that are not Ready. Entries list them
 * sorted by name; the forwarding engine picks one per connection, round robin.
 *
 * When two forwards produce the same (hostname, port), the first in profile order wins.
 * Per-forward errors (not found, no selector, a port the Service lacks, UDP only) are kept for
 * status displays and logged once each time they change. */
#ifndef KT_TARGETS_H
#define KT_TARGETS_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

struct kt_k8s;
struct kt_mapping_builder;
struct kt_profile;
struct kt_targets;

enum kt_targets_res {
	KT_TARGETS_PODS,
	KT_TARGETS_SERVICES,
	KT_TARGETS_DEPLOYMENTS,
	KT_TARGETS_STATEFULSETS,
	KT_TARGETS_DAEMONSETS,
	KT_TARGETS_NRES
};

struct kt_targets_config {
	/* The API client; NULL starts no informers (unit tests feed objects themselves). */
	struct kt_k8s *k8s;
	/* Borrowed for the lifetime of the targets. */
	const struct kt_profile *profile;
	/* Namespace of forwards when neither they nor the profile name one (the context's). */
	const char *default_ns;
	const char *cluster_domain;
	/* Called after any cache change (from the informer callbacks). The owner coalesces and
	 * calls kt_targets_emit later, never from inside this callback's caller chain being
	 * required: emitting from inside it is allowed too. */
	void (*changed)(void *arg);
	void *arg;
};

/* NULL on out of memory or when an informer cannot be started. */
struct kt_targets *kt_targets_new(const struct kt_targets_config *cfg);
void kt_targets_free(struct kt_targets *t); /* NULL is a no-op */

/* Replaces the profile (borrowed from now on; the old one may be freed on return): forwards
 * are rebuilt in the new order, informers start for namespaces and kinds not watched yet and
 * stop for those no forward needs any more; caches that stay are reused, so a forward whose
 * caches are already synced resolves at the next kt_targets_emit, before any API round trip.
 * The caller rebuilds the mapping table afterwards. 0 (an informer that could not be started
 * is logged, its forwards stay "waiting for the API server" and the next call retries), or
 * -ENOMEM with the old profile still in use. */
int kt_targets_set_profile(struct kt_targets *t, const struct kt_profile *p);

/* Adds every forward's mappings to b. 0 or -ENOMEM. */
int kt_targets_emit(struct kt_targets *t, struct kt_mapping_builder *b);

/* True once every informer has listed at least once. */
bool kt_targets_synced(const struct kt_targets *t);

struct kt_targets_status {
	const char *target; /* "svc/web" */
	const char *ns;
	bool synced;	   /* its caches have listed */
	const char *error; /* "" when none (as of the last emit) */
	size_t mappings;   /* (hostname, port) pairs it added in the last emit */
	size_t ready_pods; /* eligible pods in the last emit */
};
size_t kt_targets_count(const struct kt_targets *t);
/* Status of forward i (profile order); strings valid until the next emit or free. */
void kt_targets_status(const struct kt_targets *t, size_t i, struct kt_targets_status *out);

/* Feeding the caches, as the informers do (exposed for tests): a full list replaces the
 * resource's cache of ns and marks it synced; an event (ADDED, MODIFIED, DELETED) updates one
 * object. Objects of namespaces or resources nothing watches are ignored. 0 or -ENOMEM. */
int kt_targets_feed_sync(struct kt_targets *t, const char *ns, enum kt_targets_res res,
			 const cJSON *items);
int kt_targets_feed_event(struct kt_targets *t, const char *ns, enum kt_targets_res res,
			  const char *type, const cJSON *obj);

#endif
