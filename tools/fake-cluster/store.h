/* store.h: the fake cluster's object store with resourceVersions and watch history.
 *
 * Objects are cJSON trees, one per (kind, namespace, name), owned by the store. Every change
 * bumps the single cluster-wide resourceVersion counter (as etcd's revision does), stamps it in
 * metadata.resourceVersion, and is appended to a bounded event history so watches can resume
 * from a resourceVersion; a resourceVersion older than the history gives -ESTALE (the API then
 * answers 410 Expired). Watchers are called synchronously after each change. */
#ifndef FC_STORE_H
#define FC_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

enum fc_kind {
	FC_KIND_NAMESPACE,
	FC_KIND_POD,
	FC_KIND_SERVICE,
	FC_KIND_ENDPOINTSLICE,
	FC_KIND_DEPLOYMENT,
	FC_KIND_STATEFULSET,
	FC_KIND_DAEMONSET,
	FC_KIND_COUNT
};

enum fc_event_type { FC_EVENT_ADDED, FC_EVENT_MODIFIED, FC_EVENT_DELETED };

struct fc_store;
struct fc_watch;

/* Called for each event; obj is the object as of that event (borrowed, valid during the call). */
typedef void (*fc_watch_fn)(void *arg, enum fc_event_type type, const cJSON *obj, uint64_t rv);

struct fc_store *fc_store_new(void);
void fc_store_free(struct fc_store *s);
/* Keep at most n events of history (1..4096; default 4096): watches resuming from an older
 * resourceVersion get -ESTALE (an API server's 410 after etcd compaction). */
void fc_store_set_history(struct fc_store *s, size_t n);
/* Forgets the whole history: only watches from the current resourceVersion can resume. */
void fc_store_compact(struct fc_store *s);

uint64_t fc_store_rv(const struct fc_store *s);
const cJSON *fc_store_get(const struct fc_store *s, enum fc_kind kind, const char *ns,
			  const char *name);
/* Add or replace; takes ownership of obj. Fills uid/creationTimestamp for new objects and
 * resourceVersion always. Returns 0 or -errno. */
int fc_store_put(struct fc_store *s, enum fc_kind kind, cJSON *obj);
int fc_store_delete(struct fc_store *s, enum fc_kind kind, const char *ns, const char *name);
/* Calls fn for every object of kind (in namespace ns, or all when ns is NULL), sorted by ns/name.
 */
void fc_store_foreach(const struct fc_store *s, enum fc_kind kind, const char *ns,
		      void (*fn)(void *arg, const cJSON *obj), void *arg);

/* Watch kind (ns NULL = all namespaces), first replaying every event after since_rv
 * (since_rv 0 = no replay). -ESTALE in *err when since_rv is older than the history. */
struct fc_watch *fc_store_watch(struct fc_store *s, enum fc_kind kind, const char *ns,
				uint64_t since_rv, fc_watch_fn fn, void *arg, int *err);
void fc_store_unwatch(struct fc_store *s, struct fc_watch *w);

#endif
