/* pf_handshake.h: which port-forward protocol a request asks for, and the exact answer.
 *
 * A pure function of the parsed request (no pod lookup, no I/O), so the upgrade responses and
 * the kubelet's error texts can be checked byte for byte in unit tests. Decision order follows
 * the real path of a request:
 *  1. method: GET and POST only (the API server's upgradeableMethods), else 405 Status;
 *  2. WebSocket (`Upgrade: websocket` and a `Connection` with the token upgrade, wsstream
 *     IsWebSocketRequest):
 *     a. a subprotocol `SPDY/3.1+<name>.k8s.io` offered → the API server's tunnelling handler
 *        (streamtunnel.go): the WebSocket handshake, then <name> is negotiated as
 *        X-Stream-Protocol-Version with the kubelet (only portforward.k8s.io; else the
 *        kubelet's 403 text) → 101 with `Sec-WebSocket-Protocol: SPDY/3.1+portforward.k8s.io`;
 *     b. else the kubelet's v4 handler: the `ports` query (pf_parse_ports; 400 with the
 *        kubelet's text), the WebSocket handshake, then the first offered subprotocol in client
 *        order among v4.channel.k8s.io, v4.base64.channel.k8s.io and "" (no header offered);
 *        none → x/net/websocket's bare "403 Forbidden" and the connection closes;
 *  3. otherwise SPDY (kubelet httpstream.Handshake, then spdy UpgradeResponse): a missing
 *     X-Stream-Protocol-Version is 400, no acceptable version 403 with
 *     X-Accepted-Stream-Protocol-Versions, missing upgrade headers 400; text/plain bodies as
 *     Go's http.Error writes them. Success: 101 echoing X-Stream-Protocol-Version.
 * WebSocket handshake errors (x/net/websocket, gorilla): bad Sec-WebSocket-Version → 400 with
 * `Sec-WebSocket-Version: 13`, missing or malformed key → 400; both close the connection. */
#ifndef FC_PF_HANDSHAKE_H
#define FC_PF_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#include "pf_session.h"
#include "pf_util.h"

struct fc_http_req;

enum pf_hs_action {
	PF_HS_UPGRADE,	 /* send `raw` (the 101), then run `proto` */
	PF_HS_RESPOND,	 /* fc_http_respond(status, content_type, extra, body); keep-alive */
	PF_HS_STATUS,	 /* fc_http_respond_status(status, reason, body) */
	PF_HS_RAW_CLOSE, /* send `raw` and close the connection */
};

struct pf_handshake {
	enum pf_hs_action action;
	enum pf_proto proto;
	int status;
	const char *reason;	      /* PF_HS_STATUS */
	const char *content_type;     /* PF_HS_RESPOND */
	char extra[256];	      /* PF_HS_RESPOND: extra header lines */
	char body[4096];	      /* PF_HS_RESPOND / PF_HS_STATUS */
	char raw[512];		      /* PF_HS_UPGRADE / PF_HS_RAW_CLOSE */
	uint16_t ports[PF_MAX_PORTS]; /* v4 */
	size_t nports;
};

void pf_handshake(const struct fc_http_req *req, struct pf_handshake *out);

#endif
