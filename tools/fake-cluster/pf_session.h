/* pf_session.h: what the port-forward protocol engines (pf_spdy.c, pf_v4.c) share with
 * portforward.c, which owns every session.
 *
 * A session is one upgraded connection: plain SPDY, SPDY tunnelled in WebSocket, or a v4
 * channel WebSocket. portforward.c creates it after the 101, installs itself as the conn's
 * handler, keeps it in the module's registry and frees it in on_close (the conn calls on_close
 * from its defer queue, never from inside our own calls, conn.h). The engine behind
 * `spdy`/`v4` owns its streams and their targets.
 *
 * Output path: an engine writes one unit at a time with pf_session_send() (a SPDY frame
 * sequence, or one WebSocket message) after asking pf_session_room() how many payload bytes
 * fit before the conn's high-water mark; the conn calls on_drain when it has drained and the
 * session then kicks the engine (pf_spdy_drain/pf_v4_drain), which pulls more pod output.
 *
 * Input path: the engine consumes the conn's bytes until a target is blocked; then
 * pf_session_sync_pause() pauses the conn, and resumes it once no target is blocked. */
#ifndef FC_PF_SESSION_H
#define FC_PF_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "pf_target.h"
#include "pf_ws.h"

struct fc_cluster;
struct fc_conn;
struct fc_portforward;
struct fc_timer;
struct pf_spdy;
struct pf_v4;

enum pf_proto {
	PF_PROTO_SPDY,	    /* plain SPDY/3.1 upgrade */
	PF_PROTO_WS_SPDY,   /* SPDY/3.1+portforward.k8s.io */
	PF_PROTO_WS_V4,	    /* v4.channel.k8s.io or "" */
	PF_PROTO_WS_V4_B64, /* v4.base64.channel.k8s.io */
};

/* Longest namespace/pod name (DNS-1123 subdomain) plus NUL. */
#define PF_NAME_MAX 254

struct pf_session {
	struct pf_session *next, *prev; /* registry of the module */
	struct fc_portforward *pf;	/* NULL once the module is freed */
	struct fc_cluster *cl;
	struct fc_conn *c;
	enum pf_proto proto;
	char ns[PF_NAME_MAX], pod[PF_NAME_MAX], uid[64];
	bool gone;    /* the pod was deleted: new streams get the "no sandbox" error */
	bool closing; /* we closed the conn: no more input or output, on_close will follow */
	bool paused;  /* the conn is paused because a target is blocked */
	bool started; /* the 101 was sent */
	struct fc_timer *delay; /* latency fault: the 101 waits for this timer */
	char *delay_resp;	/* owned: the 101 to send when it fires */
	struct pf_ws_rx ws;	/* WebSocket protocols: framing state */
	struct pf_spdy *spdy;	/* SPDY protocols */
	struct pf_v4 *v4;	/* v4 protocols */
	/* v4: ports from the query */
	uint16_t ports[128];
	size_t nports;
};

/* Payload bytes one more output unit may carry now (0: wait for the drain). */
size_t pf_session_room(const struct pf_session *s);
/* Writes one output unit: the parts as they are (plain SPDY) or as one binary WebSocket message
 * (tunnelled SPDY). On failure the session is closed. */
int pf_session_send(struct pf_session *s, const struct pf_iov *iov, size_t n);
/* Closes the conn: after the queued output (close) or at once (abort). Idempotent. */
void pf_session_close(struct pf_session *s, bool abort);
/* Pauses or resumes the conn's input according to the engine's blocked state. */
void pf_session_sync_pause(struct pf_session *s);

/* Opens the pod end of a new forwarded connection to port, against the pod as it is now.
 * *gone is set (and NULL returned) when the pod no longer exists; NULL without *gone on
 * allocation failure. */
struct pf_target *pf_session_open_target(struct pf_session *s, uint16_t port,
					 const struct pf_sink *sink, bool *gone);

/* Counters (portforward.c keeps them). */
void pf_stats_stream_opened(struct pf_session *s);
void pf_stats_stream_closed(struct pf_session *s, enum pf_target_state how);
void pf_stats_bytes(struct pf_session *s, uint64_t to_pod, uint64_t from_pod);

/* How long an ended connection's other direction may still run (containerd's portForward
 * waits 1 s for the second copy once the first has finished). */
#define PF_LINGER_MS 1000

#endif
