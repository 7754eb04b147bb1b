/* pf_handshake.c: protocol selection and upgrade answers for pods/portforward (see
 * pf_handshake.h). Pure: reads the request, fills the caller's struct. */
#include "pf_handshake.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http.h"
#include "wsframe.h"

#define PF_SPDY_PROTOCOL "portforward.k8s.io"
#define PF_TUNNEL_PREFIX "SPDY/3.1+"
#define PF_K8S_SUFFIX ".k8s.io"
#define PF_V4_BINARY "v4.channel.k8s.io"
#define PF_V4_BASE64 "v4.base64.channel.k8s.io"
#define MAX_PROTOS 16

/* A comma-separated list item, trimmed of spaces and tabs (Go strings.TrimSpace). */
struct item {
	const char *p;
	size_t len;
};

static bool item_is(const struct item *it, const char *s)
{
	return it->len == strlen(s) && memcmp(it->p, s, it->len) == 0;
}

/* Splits v on ',' into items (trimmed); appends at most cap - *n. */
static void split_list(const char *v, struct item *items, size_t *n, size_t cap)
{
	const char *s = v;

	for (;;) {
		const char *e = strchr(s, ',');
		const char *end = e ? e : s + strlen(s);
		const char *a = s;
		while (a < end && (*a == ' ' || *a == '\t'))
			a++;
		while (end > a && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (*n < cap)
			items[(*n)++] = (struct item){a, (size_t)(end - a)};
		if (!e)
			break;
		s = e + 1;
	}
}

static void set_status(struct pf_handshake *out, int status, const char *reason, const char *msg)
{
	out->action = PF_HS_STATUS;
	out->status = status;
	out->reason = reason;
	snprintf(out->body, sizeof(out->body), "%s", msg);
}

/* Go's http.Error: text/plain, nosniff, the message plus a newline. */
static void set_http_error(struct pf_handshake *out, int status, const char *extra, const char *msg)
{
	out->action = PF_HS_RESPOND;
	out->status = status;
	out->content_type = "text/plain; charset=utf-8";
	snprintf(out->extra, sizeof(out->extra), "%sX-Content-Type-Options: nosniff\r\n",
		 extra ? extra : "");
	snprintf(out->body, sizeof(out->body), "%s\n", msg);
}

/* x/net/websocket's raw answer on a failed handshake; the handler then closes the conn. */
static void set_raw_close(struct pf_handshake *out, int status, const char *extra, const char *body)
{
	out->action = PF_HS_RAW_CLOSE;
	out->status = status;
	snprintf(out->raw, sizeof(out->raw), "HTTP/1.1 %03d %s\r\n%s\r\n%s", status,
		 fc_http_reason(status), extra ? extra : "", body ? body : "");
}

/* Checks the WebSocket key and version; on success writes the accept value. */
static int ws_common(const struct fc_http_req *req, char accept[KT_WS_ACCEPT_LEN + 1],
		     const char **why)
{
	const char *key = fc_http_header(req, "Sec-WebSocket-Key");
	const char *ver = fc_http_header(req, "Sec-WebSocket-Version");

	if (strcmp(req->method, "GET") != 0) {
		*why = "bad method";
		return 405;
	}
	if (!key || !kt_ws_key_valid(key, strlen(key)) ||
	    kt_ws_accept_key(key, strlen(key), accept) < 0) {
		*why = "mismatch challenge/response";
		return 400;
	}
	if (!ver || strcmp(ver, "13") != 0) {
		*why = "missing or bad WebSocket Version";
		return 426; /* marker: answered as 400 with Sec-WebSocket-Version */
	}
	return 0;
}

static void ws_101(struct pf_handshake *out, const char *accept, const char *proto)
{
	out->action = PF_HS_UPGRADE;
	snprintf(out->raw, sizeof(out->raw),
		 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
		 "Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s%s%s\r\n",
		 accept, proto && *proto ? "Sec-WebSocket-Protocol: " : "", proto ? proto : "",
		 proto && *proto ? "\r\n" : "");
}

/* "[a b c]": Go's %v of a []string. */
static void go_list(const struct item *items, size_t n, char *buf, size_t cap)
{
	size_t off = 0;
	int r;

	r = snprintf(buf, cap, "[");
	off = r > 0 ? (size_t)r : 0;
	for (size_t i = 0; i < n && off < cap; i++) {
		r = snprintf(buf + off, cap - off, "%s%.*s", i ? " " : "", (int)items[i].len,
			     items[i].p);
		off += r > 0 ? (size_t)r : 0;
	}
	if (off < cap)
		snprintf(buf + off, cap - off, "]");
}

static void negotiate_fail(struct pf_handshake *out, const struct item *items, size_t n)
{
	char list[1024], msg[1400];

	go_list(items, n, list, sizeof(list));
	snprintf(msg, sizeof(msg),
		 "unable to upgrade: unable to negotiate protocol: client supports %s, server "
		 "accepts [" PF_SPDY_PROTOCOL "]",
		 list);
	set_http_error(out, 403, "X-Accepted-Stream-Protocol-Versions: " PF_SPDY_PROTOCOL "\r\n",
		       msg);
}

static void websocket(const struct fc_http_req *req, struct pf_handshake *out)
{
	struct item offered[MAX_PROTOS];
	size_t noffered = 0;
	const char *hp = fc_http_header(req, "Sec-WebSocket-Protocol");
	char accept[KT_WS_ACCEPT_LEN + 1];
	const char *why = NULL;
	bool tunnel = false;
	int st;

	/* x/net/websocket and IsWebSocketRequestWithTunnelingProtocol read the first header. */
	if (hp) {
		split_list(hp, offered, &noffered, MAX_PROTOS);
		if (noffered == 1 && offered[0].len == 0)
			noffered = 0;
	}
	for (size_t i = 0; i < noffered; i++) {
		const struct item *it = &offered[i];
		size_t pl = strlen(PF_TUNNEL_PREFIX), sl = strlen(PF_K8S_SUFFIX);
		if (it->len >= pl + sl && memcmp(it->p, PF_TUNNEL_PREFIX, pl) == 0 &&
		    memcmp(it->p + it->len - sl, PF_K8S_SUFFIX, sl) == 0)
			tunnel = true;
	}

	if (tunnel) {
		/* streamtunnel.go: the offered SPDY protocols (prefix stripped) go to the
		 * kubelet as X-Stream-Protocol-Version; its answer decides. */
		struct item spdy[MAX_PROTOS];
		size_t nspdy = 0;
		for (size_t i = 0; i < noffered; i++) {
			size_t pl = strlen(PF_TUNNEL_PREFIX);
			if (offered[i].len > pl && memcmp(offered[i].p, PF_TUNNEL_PREFIX, pl) == 0)
				spdy[nspdy++] =
				    (struct item){offered[i].p + pl, offered[i].len - pl};
		}
		bool ok = false;
		for (size_t i = 0; i < nspdy && !ok; i++)
			ok = item_is(&spdy[i], PF_SPDY_PROTOCOL);
		if (!ok) {
			negotiate_fail(out, spdy, nspdy);
			return;
		}
		st = ws_common(req, accept, &why);
		if (st) {
			/* gorilla Upgrader.returnError: status text body, version header. */
			int code = st == 426 ? 400 : st;
			set_http_error(out, code, "Sec-Websocket-Version: 13\r\n",
				       fc_http_reason(code));
			return;
		}
		out->proto = PF_PROTO_WS_SPDY;
		ws_101(out, accept, PF_TUNNEL_PREFIX PF_SPDY_PROTOCOL);
		return;
	}

	/* The kubelet's v4 handler: ports first (NewV4Options), then the handshake. */
	{
		const char *vals[FC_HTTP_MAX_QUERY];
		size_t nv = 0;
		char err[512];
		for (size_t i = 0; i < req->nquery; i++)
			if (strcmp(req->query[i].name, "ports") == 0)
				vals[nv++] = req->query[i].value;
		if (pf_parse_ports(vals, nv, out->ports, &out->nports, err, sizeof(err)) < 0) {
			set_http_error(out, 400, NULL, err);
			/* restful's WriteError writes the bare text, without Go's newline. */
			snprintf(out->body, sizeof(out->body), "%s", err);
			return;
		}
	}
	st = ws_common(req, accept, &why);
	if (st) {
		if (st == 426)
			set_raw_close(out, 400, "Sec-WebSocket-Version: 13\r\n", why);
		else
			set_raw_close(out, st, NULL, why);
		return;
	}
	/* wsstream handshake(): the client's list in order (an absent header offers ""),
	 * first one the handler supports. */
	if (noffered == 0) {
		out->proto = PF_PROTO_WS_V4;
		ws_101(out, accept, NULL);
		return;
	}
	for (size_t i = 0; i < noffered; i++) {
		if (item_is(&offered[i], PF_V4_BINARY)) {
			out->proto = PF_PROTO_WS_V4;
			ws_101(out, accept, PF_V4_BINARY);
			return;
		}
		if (item_is(&offered[i], PF_V4_BASE64)) {
			out->proto = PF_PROTO_WS_V4_B64;
			ws_101(out, accept, PF_V4_BASE64);
			return;
		}
		if (offered[i].len == 0) {
			out->proto = PF_PROTO_WS_V4;
			ws_101(out, accept, NULL);
			return;
		}
	}
	set_raw_close(out, 403, NULL, NULL);
}

static void spdy(const struct fc_http_req *req, struct pf_handshake *out)
{
	struct item offered[MAX_PROTOS];
	size_t n = 0;
	bool ok = false;
	char dump[2048], msg[2200], date[64];
	const char *conn = fc_http_header(req, "Connection");
	const char *upg = fc_http_header(req, "Upgrade");
	time_t now = time(NULL);
	struct tm tm;

	/* httpstream.Handshake: every X-Stream-Protocol-Version header, comma lists split. */
	for (size_t i = 0; i < req->nheaders; i++)
		if (strcasecmp(req->headers[i].name, "X-Stream-Protocol-Version") == 0)
			split_list(req->headers[i].value, offered, &n, MAX_PROTOS);
	if (n == 0) {
		set_http_error(out, 400, NULL,
			       "unable to upgrade: X-Stream-Protocol-Version is required");
		return;
	}
	for (size_t i = 0; i < n && !ok; i++)
		ok = item_is(&offered[i], PF_SPDY_PROTOCOL);
	if (!ok) {
		negotiate_fail(out, offered, n);
		return;
	}
	/* spdy/upgrade.go UpgradeResponse: substring checks on the lower-cased headers. */
	if (!conn || !strcasestr(conn, "upgrade") || !upg || !strcasestr(upg, "spdy/3.1")) {
		pf_go_header_dump(req, dump, sizeof(dump));
		snprintf(msg, sizeof(msg),
			 "unable to upgrade: missing upgrade headers in request: %s", dump);
		set_http_error(out, 400, NULL, msg);
		return;
	}
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	out->action = PF_HS_UPGRADE;
	out->proto = PF_PROTO_SPDY;
	/* Go writes header fields sorted by name. */
	snprintf(out->raw, sizeof(out->raw),
		 "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nDate: %s\r\nUpgrade: "
		 "SPDY/3.1\r\nX-Stream-Protocol-Version: " PF_SPDY_PROTOCOL "\r\n\r\n",
		 date);
}

void pf_handshake(const struct fc_http_req *req, struct pf_handshake *out)
{
	const char *upg = fc_http_header(req, "Upgrade");
	bool ws;

	memset(out, 0, sizeof(*out));
	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "POST") != 0) {
		set_status(out, 405, "MethodNotAllowed",
			   "the server does not allow this method on the requested resource");
		return;
	}
	/* wsstream IsWebSocketRequest: Upgrade equals websocket, Connection has "upgrade". */
	if (upg) {
		while (*upg == ' ' || *upg == '\t')
			upg++;
	}
	ws = upg && strncasecmp(upg, "websocket", 9) == 0 &&
	     (upg[9] == '\0' || upg[9] == ' ' || upg[9] == '\t') &&
	     fc_http_header_has_token(req, "Connection", "upgrade");
	if (ws)
		websocket(req, out);
	else
		spdy(req, out);
}
