/* cluster.h: the fake cluster's process-wide context, shared by its modules.
 *
 * One struct fc_cluster exists per process, created by main.c. It owns the loop, the object
 * store, the PKI material and the fault-injection state; modules keep their own state behind
 * the opaque pointers below and reach each other through this struct. Everything runs on the
 * loop thread. */
#ifndef FC_CLUSTER_H
#define FC_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fc_loop;
struct fc_store;
struct fc_pki;
struct fc_server;
struct fc_portforward;
struct fc_api;

struct fc_options {
	const char *fixture_path;
	const char *listen; /* "127.0.0.1:6443" */
	const char *kubeconfig_out;
	const char *ca_out;	   /* NULL: not written */
	const char *auth;	   /* "cert" | "token" | "exec" */
	const char *tls_san;	   /* extra server-certificate name, or NULL */
	int nodes;		   /* fake nodes (DaemonSet pods per node), default 1 */
	uint64_t grace_ms;	   /* Terminating → gone after a pod delete, default 1000 */
	uint64_t replace_delay_ms; /* controller recreates a deleted pod after, default 500 */
	uint64_t bookmark_ms;	   /* BOOKMARK interval of idle watches, default 60000 */
	size_t history;		   /* watch events kept for resuming; 0: the store's 4096 */
	int verbosity;
};

/* Fault injection (set through /fake/v1/..., read by the modules they affect). */
struct fc_faults {
	uint64_t outage_until_ms; /* API outage: drop all conns, refuse new ones until then */
	uint64_t api_latency_ms;  /* added before every API response */
	uint64_t pf_latency_ms;	  /* added before a port-forward upgrade is answered */
	int pf_reject_code;	  /* non-zero: port-forward requests get this Status code */
	char pf_reject_message[256];
};

struct fc_cluster {
	struct fc_options opt;
	struct fc_loop *loop;
	struct fc_store *store;
	struct fc_pki *pki;
	struct fc_server *server;
	struct fc_portforward *pf;
	struct fc_api *api; /* api.c's state (fc_api_init) */
	struct fc_faults faults;
};

#endif
