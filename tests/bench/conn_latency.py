#!/usr/bin/env python3
"""conn_latency.py: N sequential short HTTP connections; connections/s and connect-to-first-byte.

usage: conn_latency.py HOST PORT N [HOSTHEADER]

Each connection: connect(), send `GET /` (HTTP/1.1, keep-alive as any HTTP client would),
read the response up to its Content-Length, then close: the client ends the connection, as
HTTP clients do once they have their answer. (Waiting for the server's FIN instead would
measure the port-forward's close path: containerd gives the other direction 1 s after the pod
closes, so every connection through a port-forward would last >= 1 s.) The connect-to-first-byte
time runs from just before connect() to the return of the first recv() (time.perf_counter).
Connections/s is N divided by the wall time of the whole loop (so it includes reading the rest
of each response and the close). A connection that fails, times out (10 s) or does not answer
200 with a body starting "pod=" counts as failed.

Prints one line of shell assignments:
  n=5000 ok=5000 failed=0 secs=1.234 cps=4051.9 p50_ms=0.210 p99_ms=0.480 max_ms=2.100
Exit status 0 when every connection succeeded, 1 otherwise.
"""
import socket
import sys
import time


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    # Nearest-rank percentile.
    k = max(0, min(len(sorted_vals) - 1, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def one(addr, req):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        t0 = time.perf_counter()
        s.connect(addr)
        s.sendall(req)
        data = s.recv(65536)
        t1 = time.perf_counter()
        if not data:
            return None
        while b"\r\n\r\n" not in data and len(data) < 65536:
            b = s.recv(65536)
            if not b:
                return None
            data += b
        head, _, body = data.partition(b"\r\n\r\n")
        length = None
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v.strip())
        if length is None or length > 1 << 20:
            return None
        while len(body) < length:
            b = s.recv(65536)
            if not b:
                return None
            body += b
        if not head.startswith(b"HTTP/1.1 200 ") or not body.startswith(b"pod="):
            return None
        return t1 - t0
    except OSError:
        return None
    finally:
        s.close()


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    hosthdr = sys.argv[4] if len(sys.argv) == 5 else host
    req = b"GET / HTTP/1.1\r\nHost: %s\r\nUser-Agent: conn_latency\r\n\r\n" % (
        hosthdr.encode())
    addr = (host, port)
    lat = []
    failed = 0
    start = time.perf_counter()
    for _ in range(n):
        r = one(addr, req)
        if r is None:
            failed += 1
        else:
            lat.append(r)
    secs = time.perf_counter() - start
    lat.sort()
    print("n=%d ok=%d failed=%d secs=%.3f cps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f" % (
        n, len(lat), failed, secs, n / secs, pct(lat, 50) * 1e3, pct(lat, 99) * 1e3,
        (lat[-1] if lat else float("nan")) * 1e3))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
