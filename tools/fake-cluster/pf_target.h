/* pf_target.h: the pod end of one forwarded connection (what containerd's port-forward dials).
 *
 * A target is what a port-forward stream pair (SPDY) or port (v4 WebSocket) is connected to:
 *  - the in-process simulated pod port (backend.h), over TLS when the port is named `https`
 *    or numbered 443/8443, with a certificate naming every in-cluster name of the pod;
 *  - a real loopback TCP server named by the pod annotation fake.kubetun.dev/backend-<port>
 *    ("HOST:PORT"), reached with a non-blocking connect through the loop;
 *  - nothing: the port is refused (annotation fake.kubetun.dev/refuse-<port>: "true", a port
 *    no container of the pod declares, or a failed connect).
 *
 * Data flow. Client → pod: the owner hands bytes to pf_target_write(), which always takes all
 * of them: what the pod cannot take at once is stashed, and pf_target_blocked() turns true.
 * The owner must then stop reading its client until the target is unblocked. The owner hands
 * over at most PF_CHUNK_MAX bytes per call and only while the target is not blocked, which
 * bounds the stash. Pod → client: the target pushes bytes into the owner's sink (struct
 * pf_sink) whenever sink.room() allows, at most PF_CHUNK_MAX per emit; when room is 0 it stops
 * and waits for pf_target_kick(), which the owner calls when its connection has drained.
 *
 * Memory bound per target: stash <= 2 * PF_CHUNK_MAX (128 KiB) for the backend and
 * PF_TCP_QUEUE_MAX (256 KiB) for a TCP target, plus the backend's own bound (backend.h:
 * <= 64 KiB + OpenSSL's buffers) or the kernel's socket buffers. Pod output is never buffered
 * here: it is pulled only when the sink has room.
 *
 * Events. The target calls sink.notify() from its own loop callbacks (socket readiness, the
 * backend's timer) after any change the owner must look at: connected, refused, unblocked,
 * output emitted, pod EOF, reset. notify is always the last thing such a callback does, so the
 * owner may free the target inside it. Calls made by the owner (write, write_eof, kick) never
 * call notify; the owner checks pf_target_state()/pf_target_blocked() afterwards. */
#ifndef FC_PF_TARGET_H
#define FC_PF_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

struct fc_cluster;
struct fc_store;

#define PF_CHUNK_MAX (64u * 1024)
#define PF_TCP_QUEUE_MAX (256u * 1024)
#define PF_TCP_QUEUE_SOFT (128u * 1024)

enum pf_target_kind { PF_TARGET_BACKEND, PF_TARGET_TCP, PF_TARGET_REFUSED };

/* How a pod port is served (pure: computed from the pod object alone). */
struct pf_target_spec {
	enum pf_target_kind kind;
	uint16_t port;
	bool tls;	 /* BACKEND: serve TLS */
	char addr[128];	 /* TCP: "HOST:PORT" as annotated */
	const char *why; /* REFUSED: static reason for logs */
};

/* Looks the port up in the pod's annotations and containers (see the file comment). A
 * malformed or non-loopback backend annotation refuses the port (and says why). */
void pf_target_resolve(const cJSON *pod, uint16_t port, struct pf_target_spec *spec);

/* A growable list of distinct strings. */
struct pf_names {
	char **v;
	size_t n, cap;
};
void pf_names_fini(struct pf_names *l);
/* Appends s unless an equal string is present (names compare case-insensitively, as DNS
 * does). 0 or -ENOMEM. */
int pf_names_add(struct pf_names *l, const char *s);

/* Every DNS name under which the pod is reachable in-cluster (protocol.md section 7), for its
 * TLS certificate: for each Service in the pod's namespace whose non-empty selector matches
 * the pod's labels: svc, svc.ns, svc.ns.svc, svc.ns.svc.cluster.local; for a headless one also
 * <h>.svc.ns.svc.cluster.local and <h>.svc.ns.svc, where <h> is spec.hostname or else the pod
 * name; and for a pod with spec.subdomain S: <h>.S.ns.svc.cluster.local and <h>.S.ns.svc.
 * Services are visited in name order, so the list is deterministic. 0 or -ENOMEM. */
int pf_pod_dns_names(const struct fc_store *store, const cJSON *pod, struct pf_names *out);

/* Where pod output goes. room() is the number of payload bytes the owner can take now; emit()
 * takes all n (n <= the last room() and <= PF_CHUNK_MAX). */
struct pf_sink {
	size_t (*room)(void *arg);
	void (*emit)(void *arg, const uint8_t *p, size_t n);
	void (*notify)(void *arg);
	void *arg;
};

enum pf_target_state {
	PF_TS_CONNECTING, /* TCP connect in progress */
	PF_TS_OPEN,
	PF_TS_EOF,     /* the pod closed cleanly and every byte it sent has been emitted */
	PF_TS_RESET,   /* the pod reset the connection (ECONNRESET/EPIPE) */
	PF_TS_REFUSED, /* nothing listens: connection refused */
};

struct pf_target;

/* Opens the pod end for spec (pod = the current pod object, for names and TLS). Never NULL
 * except on allocation failure; a refused spec gives a target in state REFUSED. */
struct pf_target *pf_target_open(struct fc_cluster *cl, const cJSON *pod,
				 const struct pf_target_spec *spec, const struct pf_sink *sink);
/* Closes the pod end (the pod sees FIN or, for the backend, just goes away) and frees it. No
 * callback runs. NULL is a no-op. */
void pf_target_free(struct pf_target *t);

enum pf_target_state pf_target_state(const struct pf_target *t);
/* Client → pod bytes (n <= PF_CHUNK_MAX). Always takes all n; see pf_target_blocked(). Bytes
 * for a target that is no longer open are dropped. */
void pf_target_write(struct pf_target *t, const uint8_t *p, size_t n);
/* The client finished sending: passed on to the pod once the stash is flushed. */
void pf_target_write_eof(struct pf_target *t);
bool pf_target_blocked(const struct pf_target *t);
/* The sink has room again: pull pod output (up to quantum bytes), flush the stash. Returns
 * the bytes emitted. */
size_t pf_target_kick(struct pf_target *t, size_t quantum);
/* True while the pod may still produce output (not EOF, reset or refused). */
bool pf_target_open_for_output(const struct pf_target *t);
/* The local port of the runtime's connection to the pod (for error texts). */
uint16_t pf_target_local_port(const struct pf_target *t);

#endif
