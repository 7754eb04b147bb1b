"""ops_client.py: socket-level helpers for test_ops.sh (kubetund's control socket and data path).

  exchange HOST PORT PATH [BODY]   one HTTP/1.1 request with "Connection: close" (a POST of BODY
                                   bytes when BODY is given), read to EOF; prints
                                   "sent N received M first-line"
  hold HOST PORT OUT               opens a connection, sends GET /delay/30000 and writes
                                   "holding" to OUT; then waits for the connection to end and
                                   appends "ended after S s (eof|reset)" (fails after 20 s)
  abuse SOCKET                     garbage, oversized, non-object, unknown command and half-sent
                                   requests on the control socket, each checked for its error
                                   reply; then one well-formed status request must still work
  request SOCKET JSON              sends one raw request line, prints the reply line
Exit status 0 on success; a failure prints one line on stderr.
"""
import json
import socket
import sys
import time


def fail(msg):
    sys.stderr.write("FAIL: %s\n" % msg)
    sys.exit(1)


def exchange(host, port, path, body=None):
    s = socket.create_connection((host, port), timeout=10)
    if body is None:
        req = "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, host)
        data = req.encode()
    else:
        n = int(body)
        req = ("POST %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
               "Content-Length: %d\r\n\r\n" % (path, host, n))
        data = req.encode() + b"x" * n
    s.sendall(data)
    got = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        got += b
    s.close()
    first = got.split(b"\r\n", 1)[0].decode(errors="replace")
    print("sent %d received %d %s" % (len(data), len(got), first))


def hold(host, port, out):
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(("GET /delay/30000 HTTP/1.1\r\nHost: %s\r\n\r\n" % host).encode())
    with open(out, "w") as f:
        f.write("holding\n")
    t0 = time.monotonic()
    s.settimeout(20)
    how = "eof"
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
    except ConnectionResetError:
        how = "reset"
    except socket.timeout:
        fail("connection still open after 20 s")
    with open(out, "a") as f:
        f.write("ended after %.2f s (%s)\n" % (time.monotonic() - t0, how))


def unix(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    return s


def read_line(s):
    buf = b""
    while not buf.endswith(b"\n"):
        b = s.recv(65536)
        if not b:
            break
        buf += b
    return buf


def expect_error(s, want, what):
    line = read_line(s)
    try:
        r = json.loads(line)
    except ValueError:
        fail("%s: reply is not JSON: %r" % (what, line[:200]))
    if r.get("ok") is not False or want not in r.get("error", ""):
        fail("%s: want an error with %r, got %r" % (what, want, line[:300]))
    return r


def abuse(path):
    # Garbage, then a non-object, an unknown command and a wrong version on one connection:
    # each gets its error and the connection stays usable.
    s = unix(path)
    s.sendall(b"\x00\xff{{{ not json\n")
    expect_error(s, "malformed JSON", "garbage")
    s.sendall(b"[1,2,3]\n")
    expect_error(s, "not a JSON object", "array")
    s.sendall(b'{"version":1,"command":"rm -rf /"}\n')
    expect_error(s, "unknown command", "unknown command")
    s.sendall(b'{"version":7,"command":"status"}\n')
    expect_error(s, "unsupported version", "version 7")
    s.sendall(b'{"version":1,"command":"forward.add","target":"svc/NOT VALID"}\n')
    expect_error(s, "", "invalid target")
    s.sendall(b'{"version":1,"command":"forward.rm","name":"nothing.example:80"}\n')
    expect_error(s, "no forward matches", "rm of nothing")
    s.sendall(b'{"version":1,"command":"status"}\n')
    r = json.loads(read_line(s))
    if not r.get("ok"):
        fail("status after errors on the same connection: %r" % r)
    s.close()
    # Oversized: 70,000 bytes without a newline → "request too large", then closed.
    s = unix(path)
    try:
        s.sendall(b"{" + b"x" * 70000)
    except (BrokenPipeError, ConnectionResetError):
        pass
    expect_error(s, "request too large", "oversized")
    s.close()
    # Half-sent: part of a request, then silence → "request timed out" after 5 s.
    s = unix(path)
    s.sendall(b'{"version":1,"comm')
    t0 = time.monotonic()
    expect_error(s, "request timed out", "half-sent")
    took = time.monotonic() - t0
    if took < 4 or took > 8:
        fail("half-sent request answered after %.1f s, want about 5" % took)
    s.close()
    # Half-sent, then shutdown(SHUT_WR): the last request is complete.
    s = unix(path)
    s.sendall(b'{"version":1,"command":"forward.ls"}')
    s.shutdown(socket.SHUT_WR)
    r = json.loads(read_line(s))
    if not r.get("ok"):
        fail("request ended by SHUT_WR: %r" % r)
    s.close()
    # A client that connects and goes away at once.
    unix(path).close()
    s = unix(path)
    s.sendall(b'{"version":1,"command":"status"}\n')
    r = json.loads(read_line(s))
    if not r.get("ok") or "mappings" not in r.get("result", {}):
        fail("status after the abuse: %r" % r)
    print("control socket survived garbage, oversized, half-sent and unknown requests")


def request(path, line):
    s = unix(path)
    s.sendall(line.encode() + b"\n")
    sys.stdout.write(read_line(s).decode())


def main():
    a = sys.argv[1:]
    if a and a[0] == "exchange" and len(a) in (4, 5):
        exchange(a[1], int(a[2]), a[3], a[4] if len(a) == 5 else None)
    elif a and a[0] == "hold" and len(a) == 4:
        hold(a[1], int(a[2]), a[3])
    elif a and a[0] == "abuse" and len(a) == 2:
        abuse(a[1])
    elif a and a[0] == "request" and len(a) == 3:
        request(a[1], a[2])
    else:
        fail("usage: see the top of ops_client.py")


main()
