/* k8s.h: kubetund's Kubernetes API client: REST GETs and list+watch informers over HTTPS.
 *
 * One struct kt_k8s per cluster, built from a resolved kubeconfig (kubeconfig.h): TLS is
 * verified against the kubeconfig's CA (or the system store) unless the kubeconfig itself says
 * insecure-skip-tls-verify; tls-server-name is honoured; client certificates, bearer tokens and
 * exec-plugin credentials (re-run on 401) authenticate. libwebsockets does the I/O on the daemon's
 * loop (evloop.h); no lws type appears here.
 *
 * Callback rule (libuv's): if a function that takes a callback returns an error or NULL, the
 * callback is never called. Objects are freed by their owner, never from inside their own
 * callback unless the header says so. */
#ifndef KT_K8S_H
#define KT_K8S_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

struct kt_evloop;
struct kt_kubeconfig;
struct kt_k8s;
struct kt_k8s_req;
struct kt_k8s_watch;

/* kc is borrowed for the lifetime of the client (it holds the credentials). */
struct kt_k8s *kt_k8s_new(struct kt_evloop *loop, const struct kt_kubeconfig *kc, char *err,
			  size_t errcap);
/* How the kubeconfig's exec credential plugin runs (e.g. as the user who ran sudo, see
 * execcred.h); copied. Call right after kt_k8s_new, before the first request. 0 or -ENOMEM. A
 * kubeconfig without a plugin ignores it. */
struct kt_execcred_opts;
int kt_k8s_set_exec_opts(struct kt_k8s *k, const struct kt_execcred_opts *opts);
/* Requests, watches and port-forward streams of k should be cancelled, stopped or freed
 * first; any still open are closed here without callbacks and their handles become invalid.
 * Never call it from inside one of k's callbacks. NULL is a no-op. */
void kt_k8s_free(struct kt_k8s *k);

/* GET path (with query), whole body (bounded). status 0 = transport failure, err says why. */
typedef void (*kt_k8s_done_fn)(void *arg, int status, const char *body, size_t len,
			       const char *err);
struct kt_k8s_req *kt_k8s_get(struct kt_k8s *k, const char *path, kt_k8s_done_fn fn, void *arg);
void kt_k8s_req_cancel(struct kt_k8s_req *r); /* the callback will not be called */

/* Largest response body kt_k8s_get()/kt_k8s_request() keep (and request body they send). */
#define KT_K8S_MAX_BODY (64u << 20)
/* Any method (e.g. "DELETE", or "POST" with a JSON body of len bytes, copied). Same callback
 * rules as kt_k8s_get(); body is passed NUL-terminated (len excludes the NUL). NULL on bad
 * arguments or out of memory. */
struct kt_k8s_req *kt_k8s_request(struct kt_k8s *k, const char *method, const char *path,
				  const void *body, size_t len, kt_k8s_done_fn fn, void *arg);

/* An informer: LIST the collection, then WATCH from the list's resourceVersion with bookmarks;
 * on 410 (at start or as an in-stream ERROR event) re-list; on any failure reconnect with
 * exponential backoff (250 ms .. 30 s, jittered). on_sync delivers the full item list after every
 * (re-)list, so the owner replaces its cache; on_event delivers ADDED/MODIFIED/DELETED. */
struct kt_k8s_watch_ops {
	void (*on_sync)(void *arg, const cJSON *items);
	void (*on_event)(void *arg, const char *type, const cJSON *obj);
	void (*on_error)(void *arg, const char *msg); /* may be NULL; informative, it retries */
};
/* collection: e.g. "/api/v1/namespaces/shop/pods" or "/apis/apps/v1/namespaces/shop/deployments";
 * label_selector may be NULL. */
struct kt_k8s_watch *kt_k8s_watch_start(struct kt_k8s *k, const char *collection,
					const char *label_selector,
					const struct kt_k8s_watch_ops *ops, void *arg);
void kt_k8s_watch_stop(struct kt_k8s_watch *w);

struct kt_k8s_health {
	unsigned watches;	 /* informers running */
	unsigned watches_synced; /* of which have listed successfully */
	uint64_t last_ok_ms;	 /* monotonic time of the last successful API answer */
	char last_error[256];	 /* "" if none; never a credential */
	uint64_t last_error_ms;
};
void kt_k8s_health(const struct kt_k8s *k, struct kt_k8s_health *out);
/* Server URL, context, user names for status displays (never credentials). */
const char *kt_k8s_server(const struct kt_k8s *k);

#endif
