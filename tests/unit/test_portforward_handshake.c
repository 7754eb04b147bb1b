/* Unit tests for pf_handshake.c: protocol choice and the exact upgrade answers. */
#include "kt_test.h"

#include "http.h"
#include "pf_handshake.h"

/* RFC 6455 section 1.3's example key and accept value. */
#define KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

static struct fc_http_req req_new(const char *method)
{
	struct fc_http_req r;
	memset(&r, 0, sizeof(r));
	r.method = method;
	r.path = "/api/v1/namespaces/shop/pods/web-0/portforward";
	r.target = r.path;
	r.body = "";
	r.minor_version = 1;
	return r;
}

static void hdr(struct fc_http_req *r, const char *name, const char *value)
{
	r->headers[r->nheaders++] = (struct fc_http_kv){name, value};
}

static void query(struct fc_http_req *r, const char *name, const char *value)
{
	r->query[r->nquery++] = (struct fc_http_kv){name, value};
}

static void ws_headers(struct fc_http_req *r)
{
	hdr(r, "Connection", "Upgrade");
	hdr(r, "Upgrade", "websocket");
	hdr(r, "Sec-WebSocket-Version", "13");
	hdr(r, "Sec-WebSocket-Key", KEY);
}

KT_TEST(spdy_upgrade)
{
	struct fc_http_req r = req_new("POST");
	struct pf_handshake hs;
	hdr(&r, "X-Stream-Protocol-Version", "portforward.k8s.io");
	hdr(&r, "Connection", "Upgrade");
	hdr(&r, "Upgrade", "SPDY/3.1");
	pf_handshake(&r, &hs);
	KT_REQUIRE(hs.action == PF_HS_UPGRADE);
	KT_CHECK_INT_EQ(hs.proto, PF_PROTO_SPDY);
	static const char head[] =
	    "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nDate: ";
	KT_CHECK(strncmp(hs.raw, head, sizeof(head) - 1) == 0);
	KT_CHECK(strstr(hs.raw, "\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: "
				"portforward.k8s.io\r\n\r\n") != NULL);
	KT_CHECK_INT_EQ(strlen(strstr(hs.raw, "\r\n\r\n")), 4);

	/* GET works too, and a comma list in one header is split. */
	r = req_new("GET");
	hdr(&r, "x-stream-protocol-version", "v9.portforward.k8s.io, portforward.k8s.io");
	hdr(&r, "connection", "keep-alive, upgrade");
	hdr(&r, "upgrade", "spdy/3.1");
	pf_handshake(&r, &hs);
	KT_CHECK(hs.action == PF_HS_UPGRADE);
	KT_CHECK_INT_EQ(hs.proto, PF_PROTO_SPDY);
}

KT_TEST(spdy_errors)
{
	struct fc_http_req r = req_new("POST");
	struct pf_handshake hs;

	hdr(&r, "Connection", "Upgrade");
	hdr(&r, "Upgrade", "SPDY/3.1");
	pf_handshake(&r, &hs);
	KT_REQUIRE(hs.action == PF_HS_RESPOND);
	KT_CHECK_INT_EQ(hs.status, 400);
	KT_CHECK_STR_EQ(hs.body, "unable to upgrade: X-Stream-Protocol-Version is required\n");
	KT_CHECK_STR_EQ(hs.content_type, "text/plain; charset=utf-8");

	r = req_new("POST");
	hdr(&r, "X-Stream-Protocol-Version", "v4.channel.k8s.io");
	hdr(&r, "X-Stream-Protocol-Version", "foo");
	hdr(&r, "Connection", "Upgrade");
	hdr(&r, "Upgrade", "SPDY/3.1");
	pf_handshake(&r, &hs);
	KT_REQUIRE(hs.action == PF_HS_RESPOND);
	KT_CHECK_INT_EQ(hs.status, 403);
	KT_CHECK_STR_EQ(hs.body, "unable to upgrade: unable to negotiate protocol: client supports "
				 "[v4.channel.k8s.io foo], server accepts [portforward.k8s.io]\n");
	KT_CHECK(strstr(hs.extra, "X-Accepted-Stream-Protocol-Versions: portforward.k8s.io\r\n"));

	/* Negotiation comes first, then the upgrade headers. */
	r = req_new("POST");
	hdr(&r, "X-Stream-Protocol-Version", "portforward.k8s.io");
	hdr(&r, "Accept", "*/*");
	pf_handshake(&r, &hs);
	KT_REQUIRE(hs.action == PF_HS_RESPOND);
	KT_CHECK_INT_EQ(hs.status, 400);
	KT_CHECK_STR_EQ(hs.body,
			"unable to upgrade: missing upgrade headers in request: "
			"http.Header{\"Accept\":[]string{\"*/*\"}, "
			"\"X-Stream-Protocol-Version\":[]string{\"portforward.k8s.io\"}}\n");
}

KT_TEST(method)
{
	struct fc_http_req r = req_new("PUT");
	struct pf_handshake hs;
	pf_handshake(&r, &hs);
	KT_REQUIRE(hs.action == PF_HS_STATUS);
	KT_CHECK_INT_EQ(hs.status, 405);
	KT_CHECK_STR_EQ(hs.reason, "MethodNotAllowed");
}

KT_TEST(ws_v4_protocols_in_client_order)
{
	struct fc_http_req r = req_new("GET");
	struct pf_handshake hs;

	ws_headers(&r);
	hdr(&r, "Sec-WebSocket-Protocol", "v5.channel.k8s.io, v4.channel.k8s.io");
	query(&r, "ports", "8080");
	pf_handshake(&r, &hs);
	KT_REQUIRE(hs.action == PF_HS_UPGRADE);
	KT_CHECK_INT_EQ(hs.proto, PF_PROTO_WS_V4);
	KT_CHECK_STR_EQ(hs.raw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
				"Connection: Upgrade\r\nSec-WebSocket-Accept: " ACCEPT "\r\n"
				"Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n");
	KT_CHECK_INT_EQ(hs.nports, 1);
	KT_CHECK_INT_EQ(hs.ports[0], 8080);

	r = req_new("GET");
	ws_headers(&r);
	hdr(&r, "Sec-WebSocket-Protocol", "v4.base64.channel.k8s.io,v4.channel.k8s.io");
	query(&r, "ports", "80,443");
	pf_handshake(&r, &hs);
	KT_REQUIRE(hs.action == PF_HS_UPGRADE);
	KT_CHECK_INT_EQ(hs.proto, PF_PROTO_WS_V4_B64);
	KT_CHECK(strstr(hs.raw, "Sec-WebSocket-Protocol: v4.base64.channel.k8s.io\r\n\r\n"));
	KT_CHECK_INT_EQ(hs.nports, 2);

	/* No subprotocol offered: "" is selected and no protocol header is sent. */
	r = req_new("GET");
	ws_headers(&r);
	query(&r, "ports", "80");
	pf_handshake(&r, &hs);
	KT_REQUIRE(hs.action == PF_HS_UPGRADE);
	KT_CHECK_INT_EQ(hs.proto, PF_PROTO_WS_V4);
	KT_CHECK(strstr(hs.raw, "Sec-WebSocket-Protocol") == NULL);

	/* Only exec/attach protocols: x/net's bare 403, then close. */
	r = req_new("GET");
	ws_headers(&r);
	hdr(&r, "Sec-WebSocket-Protocol", "channel.k8s.io, v5.channel.k8s.io");
	query(&r, "ports", "80");
	pf_handshake(&r, &hs);
	KT_REQUIRE(hs.action == PF_HS_RAW_CLOSE);
	KT_CHECK_STR_EQ(hs.raw, "HTTP/1.1 403 Forbidden\r\n\r\n");
}

KT_TEST(ws_v4_errors)
{
	struct fc_http_req r = req_new("GET");
	struct pf_handshake hs;

	ws_headers(&r);
	hdr(&r, "Sec-WebSocket-Protocol", "v4.channel.k8s.io");
	pf_handshake(&r, &hs);
	KT_REQUIRE(hs.action == PF_HS_RESPOND);
	KT_CHECK_INT_EQ(hs.status, 400);
	KT_CHECK_STR_EQ(hs.body, "query parameter \"port\" is required");

	r = req_new("GET");
	hdr(&r, "Connection", "Upgrade");
	hdr(&r, "Upgrade", "websocket");
	hdr(&r, "Sec-WebSocket-Version", "8");
	hdr(&r, "Sec-WebSocket-Key", KEY);
	query(&r, "ports", "80");
	pf_handshake(&r, &hs);
	KT_REQUIRE(hs.action == PF_HS_RAW_CLOSE);
	KT_CHECK_STR_EQ(hs.raw, "HTTP/1.1 400 Bad Request\r\nSec-WebSocket-Version: 13\r\n\r\n"
				"missing or bad WebSocket Version");

	r = req_new("GET");
	hdr(&r, "Connection", "Upgrade");
	hdr(&r, "Upgrade", "websocket");
	hdr(&r, "Sec-WebSocket-Version", "13");
	hdr(&r, "Sec-WebSocket-Key", "short");
	query(&r, "ports", "80");
	pf_handshake(&r, &hs);
	KT_REQUIRE(hs.action == PF_HS_RAW_CLOSE);
	KT_CHECK_INT_EQ(hs.status, 400);
}

KT_TEST(ws_tunnel)
{
	struct fc_http_req r = req_new("GET");
	struct pf_handshake hs;

	ws_headers(&r);
	hdr(&r, "Sec-WebSocket-Protocol", "SPDY/3.1+portforward.k8s.io");
	pf_handshake(&r, &hs);
	KT_REQUIRE(hs.action == PF_HS_UPGRADE);
	KT_CHECK_INT_EQ(hs.proto, PF_PROTO_WS_SPDY);
	KT_CHECK_STR_EQ(hs.raw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
				"Connection: Upgrade\r\nSec-WebSocket-Accept: " ACCEPT "\r\n"
				"Sec-WebSocket-Protocol: SPDY/3.1+portforward.k8s.io\r\n\r\n");

	/* A tunnelling offer wins over a v4 one (the API server's handler comes first). */
	r = req_new("GET");
	ws_headers(&r);
	hdr(&r, "Sec-WebSocket-Protocol", "v4.channel.k8s.io, SPDY/3.1+portforward.k8s.io");
	pf_handshake(&r, &hs);
	KT_CHECK(hs.action == PF_HS_UPGRADE && hs.proto == PF_PROTO_WS_SPDY);

	/* An unknown tunnelled SPDY protocol is the kubelet's 403. */
	r = req_new("GET");
	ws_headers(&r);
	hdr(&r, "Sec-WebSocket-Protocol", "SPDY/3.1+v2.portforward.k8s.io");
	pf_handshake(&r, &hs);
	KT_REQUIRE(hs.action == PF_HS_RESPOND);
	KT_CHECK_INT_EQ(hs.status, 403);
	KT_CHECK_STR_EQ(hs.body, "unable to upgrade: unable to negotiate protocol: client supports "
				 "[v2.portforward.k8s.io], server accepts [portforward.k8s.io]\n");
}

KT_TEST(not_websocket_when_upgrade_differs)
{
	/* "Upgrade: websocket2" is not a WebSocket request: it falls to the SPDY handler. */
	struct fc_http_req r = req_new("GET");
	struct pf_handshake hs;
	hdr(&r, "Connection", "Upgrade");
	hdr(&r, "Upgrade", "websocket2");
	query(&r, "ports", "80");
	pf_handshake(&r, &hs);
	KT_REQUIRE(hs.action == PF_HS_RESPOND);
	KT_CHECK_STR_EQ(hs.body, "unable to upgrade: X-Stream-Protocol-Version is required\n");
}

KT_TEST_MAIN()
