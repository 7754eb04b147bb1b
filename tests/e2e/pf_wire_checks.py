"""pf_wire_checks.py KUBECONFIG: byte-level checks of the fake cluster's port-forward protocols.

Real clients (kubectl, the Python client) only show that the fake is accepted; this script checks
the exact bytes protocol.md prescribes, with the independent client in pf_wire.py. Expects the
fixture tests/fixtures/pf.yaml (namespace default: pod debug with port 8080, pod refuser whose
8080 refuses; namespace data: StatefulSet kafka, port 9092). Prints one "ok" line per check and
exits 1 at the first failure.
"""
import base64
import json
import struct
import sys
import time

from pf_wire import Conn, Spdy, WsStream, spdy_over_conn, ws_open, ws_recv, ws_send

KC = sys.argv[1]
PF = "/api/v1/namespaces/%s/pods/%s/portforward"
GET_CLOSE = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def check(cond, what):
    if not cond:
        print("FAIL: " + what, file=sys.stderr)
        sys.exit(1)


def ok(what):
    print("ok   wire: " + what)


def spdy_upgrade(conn, ns, pod):
    st, h = conn.request("POST", PF % (ns, pod), [("X-Stream-Protocol-Version", "portforward.k8s.io"),
                                                  ("Connection", "Upgrade"), ("Upgrade", "SPDY/3.1")])
    check(st == 101, "SPDY upgrade status %d" % st)
    check(h.get("x-stream-protocol-version") == ["portforward.k8s.io"], "101 echoes the protocol: %r" % h)
    return spdy_over_conn(conn)


def open_pair(sp, rid, port, err_sid, data_sid):
    sp.syn_stream(err_sid, [("streamtype", "error"), ("port", str(port)), ("requestid", str(rid))])
    f = sp.read_frame()
    check(f["type"] == 2 and f["sid"] == err_sid and f["headers"] == b"\0\0\0\0",
          "SYN_REPLY with an empty header block for the error stream: %r" % f)
    sp.data(err_sid, b"", fin=True)
    sp.syn_stream(data_sid, [("streamtype", "data"), ("port", str(port)), ("requestid", str(rid))])
    f = sp.read_frame()
    check(f["type"] == 2 and f["sid"] == data_sid, "SYN_REPLY for the data stream: %r" % f)


def read_until_ends(sp, sids):
    """Collects frames until every stream in sids got FIN or RST. Returns (data, texts, ends)."""
    data, texts, ends = {}, {}, {}
    while len(ends) < len(sids):
        f = sp.read_frame()
        if f["type"] == "data":
            if f["payload"]:
                data[f["sid"]] = data.get(f["sid"], b"") + f["payload"]
            if f["flags"] & 1:
                ends[f["sid"]] = "fin"
        elif f["type"] == 3:
            ends[f["sid"]] = ("rst", f["status"])
        elif f["type"] == 6:
            continue
        else:
            check(False, "unexpected frame %r" % f)
    return data, texts, ends


def test_errors():
    c = Conn(KC)
    st, h = c.request("POST", PF % ("default", "nosuch"), [("X-Stream-Protocol-Version", "portforward.k8s.io"),
                                                           ("Connection", "Upgrade"), ("Upgrade", "SPDY/3.1")])
    body = json.loads(c.read_body(h))
    check(st == 404 and body["kind"] == "Status" and body["message"] == 'pods "nosuch" not found'
          and body["reason"] == "NotFound" and body["code"] == 404, "404 Status: %d %r" % (st, body))
    ok("unknown pod: 404 Status pods \"nosuch\" not found")

    st, h = c.request("POST", PF % ("default", "debug"), [("X-Stream-Protocol-Version", "v9.example.k8s.io"),
                                                          ("Connection", "Upgrade"), ("Upgrade", "SPDY/3.1")])
    body = c.read_body(h)
    check(st == 403 and body == b"unable to upgrade: unable to negotiate protocol: client supports "
          b"[v9.example.k8s.io], server accepts [portforward.k8s.io]\n"
          and h.get("x-accepted-stream-protocol-versions") == ["portforward.k8s.io"], "403: %d %r" % (st, body))
    ok("SPDY protocol negotiation failure: 403 with the kubelet's text")

    st, h = c.request("GET", PF % ("default", "debug"), [("X-Stream-Protocol-Version", "portforward.k8s.io")])
    body = c.read_body(h)
    check(st == 400 and body.startswith(b"unable to upgrade: missing upgrade headers in request: http.Header{"),
          "400 missing upgrade headers: %d %r" % (st, body))
    ok("missing upgrade headers: 400")

    st, h = ws_open(c, PF % ("default", "debug"), "v4.channel.k8s.io")
    body = c.read_body(h)
    check(st == 400 and body == b'query parameter "port" is required', "400 ports: %d %r" % (st, body))
    st, h = ws_open(c, PF % ("default", "debug") + "?ports=80,x", "v4.channel.k8s.io")
    body = c.read_body(h)
    check(st == 400 and body == b'unable to parse "80,x" as a port: strconv.ParseUint: parsing "x": invalid syntax',
          "400 bad port: %r" % body)
    ok("v4 ports errors: the kubelet's wording")
    c.close()

    c = Conn(KC)
    st, h = ws_open(c, PF % ("default", "debug") + "?ports=8080", "v5.channel.k8s.io")
    check(st == 403 and c.read_all() == b"", "v4 subprotocol mismatch: bare 403 and close")
    ok("v4 without an acceptable subprotocol: 403 and close")


def test_v4_binary():
    c = Conn(KC)
    st, h = ws_open(c, PF % ("default", "debug") + "?ports=8080", "v5.channel.k8s.io,v4.channel.k8s.io")
    check(st == 101 and h.get("sec-websocket-protocol") == ["v4.channel.k8s.io"], "v4 101: %r" % h)
    f1, f2 = ws_recv(c), ws_recv(c)
    check(f1 == (True, 2, b"\x00\x90\x1f") and f2 == (True, 2, b"\x01\x90\x1f"),
          "port prefix as own 3-byte messages: %r %r" % (f1, f2))
    ok("v4: port prefix 00 90 1F then 01 90 1F")
    ws_send(c, 9, b"hi")  # ping
    check(ws_recv(c) == (True, 10, b"hi"), "pong echoes the ping")
    ok("v4: ping answered with pong")
    ws_send(c, 2, b"\x00" + GET_CLOSE)
    got, t0 = b"", time.time()
    while True:
        fin, op, p = ws_recv(c)
        if op == 8:
            check(p[:2] == struct.pack("!H", 1000), "close 1000: %r" % p)
            break
        check(op == 2 and p[0] == 0, "data on channel 0: %r" % p[:8])
        got += p[1:]
    check(b"pod=debug namespace=default port=8080" in got, "response through v4: %r" % got[:200])
    check(c.read_all() == b"", "TCP closes after the close frame")
    ok("v4: request/response, close 1000 once the pod closed (after %.1f s)" % (time.time() - t0))

    # Two ports, the second refused: its error channel carries containerd's text; the
    # socket closes only after both finished.
    c = Conn(KC)
    st, h = ws_open(c, PF % ("default", "refuser") + "?ports=8080&ports=8080", "v4.channel.k8s.io")
    check(st == 101, "v4 two ports")
    pre = [ws_recv(c)[2] for _ in range(4)]
    check(pre == [b"\x00\x90\x1f", b"\x01\x90\x1f", b"\x02\x90\x1f", b"\x03\x90\x1f"], "prefixes: %r" % pre)
    texts = {}
    while True:
        fin, op, p = ws_recv(c)
        if op == 8:
            break
        texts[p[0]] = texts.get(p[0], b"") + p[1:]
    for ch in (1, 3):
        t = texts.get(ch, b"").decode()
        check(t.startswith("error forwarding port 8080 to pod ") and ", uid : failed to execute portforward in network "
              "namespace \"/var/run/netns/cni-" in t and "IPv4: dial tcp4 127.0.0.1:8080: connect: connection "
              "refused IPv6 dial tcp6 [::1]:8080: connect: connection refused" in t, "refused text: %r" % t)
    ok("v4: refused ports write the kubelet/containerd text on their error channels, then close")


def test_v4_base64():
    c = Conn(KC)
    st, h = ws_open(c, PF % ("default", "debug") + "?ports=8080", "v4.base64.channel.k8s.io")
    check(st == 101 and h.get("sec-websocket-protocol") == ["v4.base64.channel.k8s.io"], "b64 101")
    f1, f2 = ws_recv(c), ws_recv(c)
    check(f1 == (True, 1, b"0kB8=") and f2 == (True, 1, b"1kB8="), "base64 prefixes: %r %r" % (f1, f2))
    enc = base64.b64encode(GET_CLOSE)
    ws_send(c, 1, b"0" + enc[:10], fin=False)  # fragmented, split inside a base64 group
    ws_send(c, 0, enc[10:])
    got = b""
    while True:
        fin, op, p = ws_recv(c)
        if op == 8:
            break
        check(op == 1 and p[:1] == b"0", "text on channel '0': %r" % p[:8])
        got += base64.b64decode(p[1:])
    check(b"pod=debug namespace=default port=8080" in got, "base64 response: %r" % got[:200])
    ok("v4.base64: text prefixes 0kB8=/1kB8=, fragmented base64 input, base64 output")


def test_tunnel():
    c = Conn(KC)
    st, h = ws_open(c, PF % ("default", "debug"), "SPDY/3.1+portforward.k8s.io")
    check(st == 101 and h.get("sec-websocket-protocol") == ["SPDY/3.1+portforward.k8s.io"], "tunnel 101")
    t = WsStream(c, split=5)  # every SPDY frame split over several messages
    sp = Spdy(t.write, t.read_exact)
    open_pair(sp, 0, 8080, 1, 3)
    sp.data(3, GET_CLOSE)
    data, _, ends = read_until_ends(sp, [1, 3])
    check(b"pod=debug" in data.get(3, b"") and ends == {1: "fin", 3: "fin"}, "tunnel: %r %r" % (data, ends))
    ok("tunnelled SPDY: frames split across messages, response, FIN on both streams")
    ws_send(c, 1, b"text")
    try:
        while True:
            t.read_exact(1)
    except EOFError:
        pass
    check(t.closed == 1002, "a text message fails the tunnel: close %r" % t.closed)
    ok("tunnelled SPDY: a text message closes the WebSocket (1002)")


def test_spdy():
    c = Conn(KC)
    sp = spdy_upgrade(c, "default", "debug")
    sp.ping(1)
    f = sp.read_frame()
    check(f["type"] == 6 and f["id"] == 1, "ping echoed: %r" % f)
    ok("SPDY: client ping echoed")
    # A stream without a port header is reset with CANCEL.
    sp.syn_stream(1, [("streamtype", "error"), ("requestid", "9")])
    f = sp.read_frame()
    check(f["type"] == 3 and f["sid"] == 1 and f["status"] == 5, "RST CANCEL for a stream without port: %r" % f)
    sp.syn_stream(3, [("streamtype", "bogus"), ("port", "8080")])
    f = sp.read_frame()
    check(f["type"] == 3 and f["sid"] == 3 and f["status"] == 5, "RST CANCEL for a bad stream type: %r" % f)
    ok("SPDY: invalid streams get RST_STREAM CANCEL")

    # Success: FIN on the data stream, then on the error stream, no text.
    open_pair(sp, 0, 8080, 5, 7)
    sp.data(7, GET_CLOSE)
    data, _, ends = read_until_ends(sp, [5, 7])
    check(b"pod=debug" in data.get(7, b"") and 5 not in data and ends == {5: "fin", 7: "fin"},
          "success choreography: %r %r" % (data.keys(), ends))
    ok("SPDY: pod closes → DATA+FIN on both streams, no error text")

    # The pod resets (GET /close): RST_STREAM on both, no text (kubelet >= 1.32).
    open_pair(sp, 1, 8080, 9, 11)
    sp.data(11, b"GET /close HTTP/1.1\r\nHost: x\r\n\r\n")
    data, _, ends = read_until_ends(sp, [9, 11])
    check(ends == {9: ("rst", 5), 11: ("rst", 5)} and not data, "reset: %r %r" % (data, ends))
    ok("SPDY: pod reset → RST_STREAM CANCEL on both streams, no text")

    # Refused: text on the error stream, then FIN on both.
    open_pair(sp, 2, 9999, 13, 15)
    data, _, ends = read_until_ends(sp, [13, 15])
    t = data.get(13, b"").decode()
    check(t.startswith("error forwarding port 9999 to pod ") and "connection refused" in t and 15 not in data
          and ends == {13: "fin", 15: "fin"}, "refused: %r %r" % (t, ends))
    ok("SPDY: refused port → error text then FIN on both")

    # A second data stream for a request id: the kubelet's duplicate text on the error stream.
    sp.syn_stream(17, [("streamtype", "error"), ("port", "8080"), ("requestid", "3")])
    sp.read_frame()
    sp.syn_stream(19, [("streamtype", "error"), ("port", "8080"), ("requestid", "3")])
    sp.read_frame()
    f = sp.read_frame()
    check(f["type"] == "data" and f["sid"] == 17 and
          f["payload"] == b"error processing stream for request 3: error stream already assigned",
          "duplicate text: %r" % f)
    ok("SPDY: duplicate stream → 'error stream already assigned' on the pair's error stream")

    # Many concurrent pairs on one connection, each with its own response.
    n, sid = 60, 21
    pairs = []
    for i in range(n):
        open_pair(sp, 100 + i, 8080, sid, sid + 2)
        pairs.append((sid, sid + 2))
        sid += 4
    for e, d in pairs:
        sp.data(d, b"GET /bytes/%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % (10000 + d))
    want = set(x for p in pairs for x in p)
    data, _, ends = read_until_ends(sp, list(want))
    for e, d in pairs:
        body = data.get(d, b"").split(b"\r\n\r\n", 1)[-1]
        check(len(body) == 10000 + d and body[:300] == bytes(i % 251 for i in range(300)),
              "pair %d body %d bytes" % (d, len(body)))
        check(ends.get(e) == "fin" and ends.get(d) == "fin", "pair %d ends %r" % (d, (ends.get(e), ends.get(d))))
    ok("SPDY: %d concurrent stream pairs on one connection" % n)

    sp.rst(17)  # the incomplete pair's error stream: the pair goes away
    sp.goaway(sid)
    check(c.read_all() == b"", "GOAWAY with no streams left closes the connection")
    ok("SPDY: GOAWAY from the client closes the session")


def test_pod_gone(kubectl, ns, pod):
    """Deletes the pod while a pair is active: RST on both; a new pair gets the sandbox text."""
    import subprocess
    c = Conn(KC)
    sp = spdy_upgrade(c, ns, pod)
    open_pair(sp, 0, 9092, 1, 3)
    sp.data(3, b"GET /delay/60000 HTTP/1.1\r\nHost: x\r\n\r\n")
    subprocess.run([kubectl, "--kubeconfig", KC, "delete", "pod", "-n", ns, pod, "--wait=false"],
                   check=True, stdout=subprocess.DEVNULL)
    data, _, ends = read_until_ends(sp, [1, 3])
    check(ends == {1: ("rst", 5), 3: ("rst", 5)} and not data, "pod gone: %r %r" % (data, ends))
    ok("pod deleted: active pair reset on both streams, no text")
    open_pair(sp, 1, 9092, 5, 7)
    data, _, ends = read_until_ends(sp, [5, 7])
    t = data.get(5, b"").decode()
    check(t.startswith("error forwarding port 9092 to pod ") and t.endswith('in store: not found')
          and 'failed to find sandbox "' in t and ends == {5: "fin", 7: "fin"}, "gone text: %r %r" % (t, ends))
    ok("pod deleted: a new pair gets the 'failed to find sandbox' text, then FIN")


if __name__ == "__main__":
    test_errors()
    test_v4_binary()
    test_v4_base64()
    test_tunnel()
    test_spdy()
    if len(sys.argv) > 3:
        test_pod_gone(sys.argv[2], "data", sys.argv[3])
