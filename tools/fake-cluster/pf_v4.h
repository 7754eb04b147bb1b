/* pf_v4.h: the kubelet's v4 channel WebSocket port-forward (protocol.md section 1), binary
 * (v4.channel.k8s.io, or no subprotocol) and base64 (v4.base64.channel.k8s.io).
 *
 * One WebSocket carries one forwarded connection per listed port. Port i uses channel 2i for
 * data (both ways) and 2i+1 for error text (server to client). Right after the 101 every
 * channel gets the port as 2 little-endian bytes in its own message (data(0), error(0),
 * data(1), ...), then every port is connected. A refused, reset or vanished pod port writes
 * "error forwarding port ..." on its error channel; a port that finishes closes nothing
 * visible (v4 has no per-channel close) and the WebSocket is closed (close 1000, then TCP
 * close) once every port has finished. Client messages for error channels, unknown channels
 * or empty messages are ignored, as wsstream/conn.go does. Once a port's pod end closed, its
 * other direction gets PF_LINGER_MS before the port counts as finished (containerd).
 *
 * Memory bound per session: per port a small struct and its target's bound (pf_target.h);
 * base64 decoding keeps at most 3 characters between chunks. */
#ifndef FC_PF_V4_H
#define FC_PF_V4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pf_session;
struct pf_v4;

/* Uses s->ports[0..s->nports); base64 when s->proto is PF_PROTO_WS_V4_B64. NULL on
 * allocation failure. */
struct pf_v4 *pf_v4_new(struct pf_session *s);
void pf_v4_free(struct pf_v4 *v);
/* After the 101: port prefixes, then connect every port. */
void pf_v4_start(struct pf_v4 *v);
/* The pf_ws_handler data callback (see pf_ws.h). */
size_t pf_v4_data(struct pf_v4 *v, uint8_t opcode, bool first, bool last, const uint8_t *p,
		  size_t n);
bool pf_v4_blocked(const struct pf_v4 *v);
void pf_v4_drain(struct pf_v4 *v);
/* The pod is gone, or the client closed the WebSocket: end every port and close. */
void pf_v4_stop(struct pf_v4 *v, bool pod_gone);

#endif
