/* pf_spdy.h: the SPDY/3.1 server role of the kubelet's port-forward (protocol.md sections 2
 * and 3), for plain SPDY upgrades and for SPDY tunnelled in WebSocket.
 *
 * The engine reads the client's byte stream (frames may arrive split anywhere), accepts streams
 * the way the kubelet does (SYN_REPLY with an empty header block, RST_STREAM CANCEL for a stream
 * without a valid port or stream type), pairs error and data streams by requestid, connects
 * each complete pair to its pod port and copies bytes both ways as DATA frames. It sends no
 * SETTINGS and no WINDOW_UPDATE, ignores received ones (spdystream has no flow control), echoes
 * the client's pings and stops taking new streams after a GOAWAY.
 *
 * Ending a pair (kubelet httpstream.go since 1.32, PR #128318): both directions done → empty
 * DATA+FIN on the data and then the error stream; the pod reset the connection → RST_STREAM
 * CANCEL on both, no text; refused → the error text on the error stream, then FIN on both. Once
 * one direction has finished, the other gets PF_LINGER_MS (containerd) before the pair ends.
 *
 * Memory bound per session: two zlib streams (~300 KiB for the deflater at level 9, ~50 KiB
 * for the inflater), one control frame being collected (<= 8 + PF_SPDY_MAX_CTL bytes) and
 * per pair a small struct, <= PF_SPDY_EARLY_MAX bytes of data that arrived before its pair was
 * complete, and its target's bound (pf_target.h). Pairs per session are limited to
 * PF_SPDY_MAX_PAIRS. */
#ifndef FC_PF_SPDY_H
#define FC_PF_SPDY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pf_session;
struct pf_spdy;

#define PF_SPDY_MAX_CTL (64u * 1024)
#define PF_SPDY_EARLY_MAX (64u * 1024)
#define PF_SPDY_MAX_PAIRS 1024
/* The kubelet's streamCreationTimeout default (remotecommand DefaultStreamCreationTimeout). */
#define PF_SPDY_PAIR_TIMEOUT_MS 30000

/* NULL on allocation failure. */
struct pf_spdy *pf_spdy_new(struct pf_session *s);
/* Frees every pair and target; sends nothing. NULL is a no-op. */
void pf_spdy_free(struct pf_spdy *sp);
/* Client bytes. Returns the bytes consumed: fewer than n only when a target is blocked (see
 * pf_spdy_blocked) or the session stopped. */
size_t pf_spdy_input(struct pf_spdy *sp, const uint8_t *p, size_t n);
/* True while some pair's target cannot take client bytes. */
bool pf_spdy_blocked(const struct pf_spdy *sp);
/* The connection drained: pull pod output, round-robin over the pairs. */
void pf_spdy_drain(struct pf_spdy *sp);
/* The pod is gone: reset every connected pair (RST_STREAM on both streams, no text). */
void pf_spdy_pod_gone(struct pf_spdy *sp);

/* Counters for tests: pairs alive, and streams known. */
size_t pf_spdy_pairs(const struct pf_spdy *sp);

#endif
