/* pf.h: Kubernetes port-forward streams, one per forwarded TCP connection.
 *
 * A stream carries one TCP connection to one pod port. Transport today: one WebSocket
 * (v4.channel.k8s.io, protocol.md §1) per stream; the interface leaves room for multiplexed
 * SPDY-in-WebSocket later. Flow control both ways: kt_pf_send() takes at most
 * kt_pf_send_room() bytes and on_writable says when more fits; the owner stops on_data with
 * kt_pf_pause_rx() while it cannot take pod bytes.
 *
 * v4 has no half-close: the app's FIN can only be forwarded by closing the whole stream, and
 * the pod's close arrives as the end of the WebSocket. Error-channel text (the kubelet's
 * "error forwarding port ..." message) arrives through on_error, before on_close. */
#ifndef KT_PF_H
#define KT_PF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kt_k8s;
struct kt_pf_stream;

struct kt_pf_ops {
	/* The WebSocket is up and both port prefixes arrived: bytes may flow. */
	void (*on_open)(void *arg);
	/* Pod → app bytes. The owner takes all n (pause with kt_pf_pause_rx to stop more). */
	void (*on_data)(void *arg, const uint8_t *p, size_t n);
	/* Send room became available after kt_pf_send_room() was 0. */
	void (*on_writable)(void *arg);
	/* Error-channel text from the kubelet (or a transport error before open). */
	void (*on_error)(void *arg, const char *text);
	/* The stream is finished (pod closed, error, or kt_pf_close done). Last callback; the owner
	 * then calls kt_pf_stream_free (not from inside this callback is fine either way: the
	 * stream tolerates being freed inside on_close). */
	void (*on_close)(void *arg);
};

struct kt_pf_stream *kt_pf_open(struct kt_k8s *k, const char *ns, const char *pod, uint16_t port,
				const struct kt_pf_ops *ops, void *arg);
int kt_pf_send(struct kt_pf_stream *s, const uint8_t *p, size_t n); /* 0 or -errno */
size_t kt_pf_send_room(const struct kt_pf_stream *s);
void kt_pf_pause_rx(struct kt_pf_stream *s, bool paused);
/* Closes the WebSocket (close frame 1000); on_close follows. */
void kt_pf_close(struct kt_pf_stream *s);
void kt_pf_stream_free(struct kt_pf_stream *s); /* NULL is a no-op; no callbacks after it */
/* The stream's TLS handshake resumed an earlier session with the API server (k8s_lws.h,
 * kt_k8s_tls_resume): no certificate exchange was needed. False before the handshake. */
bool kt_pf_tls_resumed(const struct kt_pf_stream *s);

#endif
