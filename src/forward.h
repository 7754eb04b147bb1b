/* forward.h: the forwarding engine: each TCP connection to a mapped (VIP, port) becomes one
 * Kubernetes port-forward stream (pf.h) to a pod chosen for that connection.
 *
 * The owner hands every SYN that is not for the DNS VIP to kt_forward_accept() from the
 * netstack's accept callback. The engine looks the (VIP, port) up in the current mapping
 * snapshot; an unmapped destination, or a mapping without a ready pod, is refused at once (RST,
 * the app's connect() fails with ECONNREFUSED). Otherwise it picks the next pod round robin,
 * opens the stream and holds the SYN (PENDING): the SYN-ACK goes out only when the stream is
 * open, so an API refusal (403, pod gone, timeout) also reaches the app as ECONNREFUSED.
 *
 * Splice, flow-controlled both ways:
 *   app → pod: bytes from lwIP go straight into the stream while it has room; the rest waits
 *     in a per-connection buffer and is acknowledged to lwIP (kt_tcp_recved) only once the
 *     stream took it, so the TCP window (KT_NETSTACK_RCV_WINDOW) bounds that buffer and a slow
 *     stream slows the app down.
 *   pod → app: bytes from the stream go straight into lwIP's send queue while it has room;
 *     whatever does not fit is kept and the stream's reading is paused (kt_pf_pause_rx) until
 *     lwIP acknowledged enough. The kept bytes are bounded by KT_FORWARD_DOWN_MAX.
 *
 * Endings: pod close → the app gets what was sent, then FIN; error-channel text → RST to the app,
 * the text becomes the mapping's last error (logged once per distinct text); app RST → the
 * stream is closed; app FIN → v4 port-forward has no half-close (pf.h): if the pod spoke after
 * the app's last bytes the stream is closed at once, else it is kept open while the pod still
 * answers and closed after KT_FORWARD_HALF_CLOSE_MS without pod data; the app's connection is
 * then finished (see docs/ARCHITECTURE.md, "Half-close").
 *
 * Per-connection memory, all of it bounded: struct conn (~250 bytes), the app → pod buffer (at
 * most KT_NETSTACK_RCV_WINDOW, only while the stream is full), the pod → app buffer (at most
 * KT_FORWARD_DOWN_MAX, only while lwIP is full), plus the netstack's own bound (netstack.h) and
 * the stream's (pf.h). Buffers are freed when they drain, so an idle connection holds neither. */
#ifndef KT_FORWARD_H
#define KT_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "netstack.h"

struct kt_evloop;
struct kt_k8s;
struct kt_mapping;
struct kt_forward;

/* Most pod → app bytes held per connection while lwIP's send queue is full. pf delivers a
 * WebSocket message at a time and rx is paused as soon as anything is held, so in practice
 * this holds at most one message; a stream that keeps delivering after the pause hits this
 * limit and the connection is reset rather than buffered without bound. */
#define KT_FORWARD_DOWN_MAX (256u * 1024u)
/* After the app's FIN, how long the stream may stay silent before it is closed. */
#define KT_FORWARD_HALF_CLOSE_MS 1000u

struct kt_forward_config {
	struct kt_evloop *loop;
	struct kt_k8s *k8s;
	struct kt_mapping *mapping;
};

struct kt_forward_stats {
	uint64_t accepted; /* streams requested */
	uint64_t refused;  /* SYNs refused: unmapped, no pod, stream failed to start */
	uint64_t active;   /* connections alive */
};

struct kt_forward *kt_forward_new(const struct kt_forward_config *cfg);
/* Resets every open connection (RST to the app, streams closed) and frees. Call before the
 * netstack is freed. NULL is a no-op. */
void kt_forward_free(struct kt_forward *fw);

/* The netstack's accept callback for every destination but the DNS VIP. */
enum kt_netstack_verdict kt_forward_accept(struct kt_forward *fw, struct kt_tcp *h,
					   const struct kt_netstack_flow *flow);

void kt_forward_get_stats(const struct kt_forward *fw, struct kt_forward_stats *out);

/* Ends every connection whose (hostname, port) the current snapshot no longer maps (a forward
 * was removed): the stream is closed and the app gets what the pod sent, then FIN (a held SYN
 * is refused). Call after publishing the snapshot. Returns how many were ended. */
size_t kt_forward_close_unmapped(struct kt_forward *fw);

#endif
