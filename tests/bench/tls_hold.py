#!/usr/bin/env python3
"""tls_hold.py: open N TLS connections, complete every handshake, hold them idle.

usage: tls_hold.py HOST PORT N CAFILE SERVERNAME

Connects N times to HOST:PORT (32 handshakes in flight at a time), verifying the server
certificate against CAFILE for SERVERNAME, so each connection has really reached the TLS server
(through the tunnel: the pod). Then prints "held N" and keeps every connection open and idle
until stdin reaches EOF or a 600 s safety limit passes, then closes them all and exits 0.
Any failed connection or handshake: a message on stderr and exit status 1.
"""
import concurrent.futures
import resource
import select
import socket
import ssl
import sys


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    host, port, n, cafile, name = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard) if hard > 0 else want, hard))
    ctx = ssl.create_default_context(cafile=cafile)

    def connect(_):
        raw = socket.create_connection((host, port), timeout=30)
        try:
            return ctx.wrap_socket(raw, server_hostname=name)
        except BaseException:
            raw.close()
            raise

    held = []
    try:
        with concurrent.futures.ThreadPoolExecutor(32) as ex:
            for s in ex.map(connect, range(n)):
                held.append(s)
    except (OSError, ssl.SSLError) as e:
        print("tls_hold: connection %d failed: %s" % (len(held) + 1, e), file=sys.stderr)
        for s in held:
            s.close()
        return 1
    print("held %d" % len(held), flush=True)
    select.select([sys.stdin], [], [], 600)
    for s in held:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
