/* pf_ws.h: the server side of RFC 6455 framing for port-forward WebSocket sessions.
 *
 * Input: pf_ws_input() reads frames from a connection's buffered bytes, unmasks data payloads
 * chunk by chunk into a scratch buffer (never a whole message) and hands them to the session's
 * data callback together with message boundaries. Control frames are handled here: a ping is
 * answered with a pong carrying the same payload (RFC 6455 5.5.2), a pong is ignored, a close
 * frame is reported once and every later byte is discarded. Payload is consumed only as far
 * as the data callback takes it, so a session can stop reading (and pause the conn) in the
 * middle of a frame and resume later: the unconsumed, still-masked bytes stay in the conn.
 *
 * Output: pf_ws_send() writes one unfragmented, unmasked message (server frames are never
 * masked, RFC 6455 5.1) from a list of parts. */
#ifndef FC_PF_WS_H
#define FC_PF_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wsframe.h"

struct fc_conn;

/* One part of an output unit (struct iovec without the const problem). */
struct pf_iov {
	const void *p;
	size_t len;
};

/* Largest data chunk handed to the callback (unmasked into a process-wide scratch buffer). */
#define PF_WS_CHUNK (64u * 1024)

struct pf_ws_rx {
	bool in_frame;	      /* a data frame's payload is being consumed */
	struct kt_ws_hdr hdr; /* that frame */
	uint64_t off;	      /* payload bytes of it consumed so far */
	struct kt_ws_frag frag;
	uint8_t msg_opcode; /* TEXT or BINARY of the current message */
	bool msg_started;   /* a chunk of the current message was delivered */
	bool closed;	    /* a close frame arrived (or a protocol error): discard input */
};

struct pf_ws_handler {
	/* A chunk of a data message (first: it starts the message; last: it ends it; n may be 0
	 * for an empty message or final frame). Returns the bytes taken: fewer than n means
	 * "blocked, offer the rest again later"; the callee pauses the conn. */
	size_t (*data)(void *arg, uint8_t opcode, bool first, bool last, const uint8_t *p,
		       size_t n);
	/* A close frame arrived (code 1005 when it had no payload). */
	void (*close)(void *arg, uint16_t code);
	/* The peer broke the protocol (why: static text); the callee closes the session. */
	void (*error)(void *arg, const char *why);
	/* False once the session has stopped (closing): input is then discarded. */
	bool (*active)(void *arg);
};

/* Consumes frames from p[0..n); returns the bytes consumed. */
size_t pf_ws_input(struct pf_ws_rx *rx, struct fc_conn *c, const uint8_t *p, size_t n,
		   const struct pf_ws_handler *h, void *arg);

/* Header bytes of a message of len payload bytes (2, 4 or 10). */
size_t pf_ws_hdr_len(size_t len);
/* One message of the concatenated parts. 0 or -errno from fc_conn_send(). */
int pf_ws_send(struct fc_conn *c, uint8_t opcode, const struct pf_iov *iov, size_t n);
/* A close frame with code (and no reason). */
int pf_ws_send_close(struct fc_conn *c, uint16_t code);

#endif
