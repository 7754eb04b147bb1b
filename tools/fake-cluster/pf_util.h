/* pf_util.h: pure helpers of the fake cluster's port-forward module (no I/O, no state).
 *
 * Request parsing the way the kubelet words its errors (the `ports` query parameter, Go's
 * strconv.ParseUint, Go's %#v of an http.Header), the container-runtime identities the fake
 * reports for a pod (sandbox id, network namespace path) and the kubelet/containerd error texts
 * written on port-forward error streams. Kept apart from portforward.c so unit tests can check
 * the exact bytes without a loop or a socket. */
#ifndef FC_PF_UTIL_H
#define FC_PF_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fc_http_req;

/* The WebSocket channel byte limits a v4 session to 128 ports (channels 0..255, 255 reserved:
 * wsstream/conn.go NewConn doc; protocol.md section 1.3). */
#define PF_MAX_PORTS 127

/* Go's strconv.ParseUint(s, 10, 16) over s[0..len): 0 with *out set, -EINVAL ("invalid
 * syntax") or -ERANGE ("value out of range"), checked character by character in Go's order
 * (so "99999x" is out of range, "x99999" invalid). */
int pf_go_parse_u16(const char *s, size_t len, uint16_t *out);

/* Go's strconv.Quote of s[0..len) into out (always NUL-terminated, truncated to fit). Printable
 * ASCII is kept, '"' and '\\' are escaped, \a\b\f\n\r\t\v use their short escapes, other bytes
 * below 0x80 \xNN; bytes >= 0x80 are copied (valid UTF-8 is printable for Go; this is only
 * used in error texts). Returns the length written. */
size_t pf_go_quote(const char *s, size_t len, char *out, size_t cap);

/* The kubelet's NewV4Options (kubelet/pkg/cri/streaming/portforward/websocket.go): every value
 * of the `ports` query parameter is split on ',', each item parsed with ParseUint(10, 16) and
 * required > 0. Duplicates are kept (the kubelet does not de-duplicate, protocol.md 0.1).
 * Returns 0 with ports[0..*n) filled, or -EINVAL with the kubelet's error text in err:
 *   no value                  query parameter "port" is required
 *   empty value               query parameter "port" cannot be empty
 *   bad item                  unable to parse "<value>" as a port: strconv.ParseUint: parsing
 *                             "<item>": invalid syntax|value out of range
 *   zero                      port "<value>" must be > 0
 *   more than PF_MAX_PORTS    too many ports: at most 127 ports fit the channel numbering
 * The parameter is called `port` in these texts because that is the name the kubelet sees
 * (the API server renames it, protocol.md 0.1). */
int pf_parse_ports(const char *const *values, size_t nvalues, uint16_t ports[PF_MAX_PORTS],
		   size_t *n, char *err, size_t errcap);

/* Go's fmt %#v of the request's http.Header, as the kubelet prints it in "missing upgrade
 * headers" (spdy/upgrade.go): http.Header{"Name":[]string{"v1", "v2"}, ...} with canonical
 * names (textproto.CanonicalMIMEHeaderKey), sorted, values in arrival order. Host is not a
 * header for Go's server, and Authorization never reaches the kubelet (the API server
 * authenticates and drops it), so both are left out. Returns the length written (out is
 * always NUL-terminated, truncated to fit). */
size_t pf_go_header_dump(const struct fc_http_req *req, char *out, size_t cap);

/* Container-runtime identities of a pod, derived from its uid so they are stable for the life
 * of the pod and differ after a StatefulSet pod is recreated under the same name. */
#define PF_SANDBOX_ID_LEN 64
#define PF_NETNS_UUID_LEN 36
void pf_sandbox_id(const char *uid, char out[PF_SANDBOX_ID_LEN + 1]);
void pf_netns_uuid(const char *uid, char out[PF_NETNS_UUID_LEN + 1]);

/* Error-stream texts (kubelet portforward httpstream.go/websocket.go "error forwarding port
 * %d to pod %s, uid %v: %v", with the CRI streaming server's values: pod = sandbox id, empty
 * uid; the runtime part worded as containerd words it, protocol.md 1.6). All return the length
 * written; out is NUL-terminated. */
/* The pod port refuses the connection. */
size_t pf_text_refused(char *out, size_t cap, uint16_t port, const char *uid);
/* The pod (sandbox) is gone: containerd cannot find the sandbox any more. */
size_t pf_text_gone(char *out, size_t cap, uint16_t port, const char *uid);
/* The pod reset the connection (only written on v4 WebSocket sessions: since kubelet 1.32 the
 * SPDY path resets the streams instead, PR #128318). local_port is the ephemeral port the
 * runtime's connection used. */
size_t pf_text_reset(char *out, size_t cap, uint16_t port, const char *uid, uint16_t local_port);

/* The "(conn=..., request=R) timed out waiting for streams" text of an incomplete pair. */
size_t pf_text_pair_timeout(char *out, size_t cap, uint64_t conn_id, const char *request_id);
/* "error processing stream for request R: error|data stream already assigned". */
size_t pf_text_duplicate(char *out, size_t cap, const char *request_id, bool data);

#endif
