"""pf_v4_download.py KUBECONFIG NAMESPACE POD PORT BYTES PROTOCOL

Downloads BYTES from GET /bytes/BYTES of a pod port over one WebSocket port-forward with the
v4 channel protocol (PROTOCOL: v4.channel.k8s.io or v4.base64.channel.k8s.io), checks the byte
pattern's length, and prints the seconds it took. The client is Python (tests/e2e/pf_wire.py), so
this measures the fake's v4 path with a slower client than kubectl's Go.
"""
import base64
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
import pf_wire  # noqa: E402

kubeconfig, ns, pod, port, size, proto = sys.argv[1:7]
size = int(size)
b64 = "base64" in proto
conn = pf_wire.Conn(kubeconfig, timeout=120)
status, headers = pf_wire.ws_open(conn, "/api/v1/namespaces/%s/pods/%s/portforward?ports=%s" % (ns, pod, port), proto)[:2]
assert status == 101, status


def recv_channel():
    fin, op, payload = pf_wire.ws_recv(conn)
    if op == 8:
        return None, b""
    if b64:
        return payload[0] - ord("0"), base64.b64decode(payload[1:])
    return payload[0], payload[1:]


seen_prefix = {0: False, 1: False}
while not all(seen_prefix.values()):
    ch, data = recv_channel()
    assert len(data) == 2 and ch in seen_prefix, (ch, data)
    seen_prefix[ch] = True

req = ("GET /bytes/%d HTTP/1.1\r\nHost: bench\r\n\r\n" % size).encode()
payload = (b"0" + base64.b64encode(req)) if b64 else (b"\x00" + req)
pf_wire.ws_send(conn, 2 if not b64 else 1, payload)
t0 = time.monotonic()
got = 0
head = b""
body_start = None
while body_start is None or got < size:
    ch, data = recv_channel()
    if ch is None:
        raise SystemExit("stream closed after %d bytes" % got)
    if ch != 0:
        raise SystemExit("error channel: %r" % data)
    if body_start is None:
        head += data
        i = head.find(b"\r\n\r\n")
        if i >= 0:
            body_start = i + 4
            got = len(head) - body_start
    else:
        got += len(data)
print("%.3f" % (time.monotonic() - t0))
