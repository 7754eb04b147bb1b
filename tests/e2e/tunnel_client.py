"""tunnel_client.py: socket-level checks for the tunnel e2e tests (run inside the namespace).

  refused HOST PORT            connect() fails with ECONNREFUSED within 100 ms
  udp-unreachable HOST PORT    a connected UDP socket gets ECONNREFUSED (ICMP port unreachable)
  concurrent HOST PORT N       N connections open at once, then each sends GET / and must get a
                               200 with a pod= body; prints how many pods answered
  hold HOST PORT POD SECONDS   opens connections until one is served by POD (keep-alive), then
                               sends GET /delay/<SECONDS*1000> on it and waits; prints "ended"
                               with the time it took when the connection ends, fails if it
                               hangs past SECONDS
  halfclose HOST PORT          sends a request, shuts down writing, expects the response
  reset HOST PORT SECONDS      sends GET /delay/<SECONDS*1000>, prints "waiting", then expects
                               the connection to be reset (ECONNRESET) before the answer
Exit status 0 on success; a failure prints one line on stderr.
"""
import errno
import socket
import sys
import threading
import time


def fail(msg):
    sys.stderr.write("FAIL: %s\n" % msg)
    sys.exit(1)


def http_get(s, path, host):
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, host)).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        b = s.recv(65536)
        if not b:
            raise ConnectionError("closed before the response head")
        buf += b
    head, _, body = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    while len(body) < length:
        b = s.recv(65536)
        if not b:
            raise ConnectionError("closed in the body")
        body += b
    return head.split(b"\r\n")[0].decode(), body.decode(errors="replace")


def refused(host, port):
    s = socket.socket()
    s.settimeout(5)
    t0 = time.monotonic()
    try:
        s.connect((host, port))
    except ConnectionRefusedError:
        ms = (time.monotonic() - t0) * 1000
        if ms >= 100:
            fail("refused, but after %.0f ms" % ms)
        print("refused in %.1f ms" % ms)
        return
    except OSError as e:
        fail("connect: %s (want ECONNREFUSED)" % e)
    fail("connect to %s:%d succeeded (want refused)" % (host, port))


def udp_unreachable(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.connect((host, port))
    s.send(b"hello")
    try:
        s.recv(100)
    except ConnectionRefusedError:
        print("ICMP port unreachable")
        return
    except socket.timeout:
        fail("no ICMP port unreachable within 2 s")
    fail("got a UDP answer")


def concurrent(host, port, n):
    socks = []
    for _ in range(n):
        s = socket.create_connection((host, port), timeout=20)
        socks.append(s)
    pods = {}
    errors = []
    lock = threading.Lock()

    def run(chunk):
        for s in chunk:
            try:
                status, body = http_get(s, "/", host)
                if not status.endswith("200 OK") or not body.startswith("pod="):
                    raise ValueError("bad answer %r %r" % (status, body))
                pod = body.split()[0]
                with lock:
                    pods[pod] = pods.get(pod, 0) + 1
            except Exception as e:  # noqa: BLE001 - report every kind of failure
                with lock:
                    errors.append(str(e))
            finally:
                s.close()

    threads = [threading.Thread(target=run, args=(socks[i::16],)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        fail("%d of %d connections failed, first: %s" % (len(errors), n, errors[0]))
    print("%d connections ok, pods: %s" % (n, " ".join("%s=%d" % kv for kv in sorted(pods.items()))))


def hold(host, port, pod, seconds):
    deadline = time.monotonic() + 10
    while True:
        s = socket.create_connection((host, port), timeout=5)
        _, body = http_get(s, "/", host)
        if body.startswith("pod=%s " % pod):
            break
        s.close()
        if time.monotonic() > deadline:
            fail("never reached pod %s" % pod)
    print("holding", flush=True)
    s.settimeout(seconds)
    s.sendall(("GET /delay/%d HTTP/1.1\r\nHost: %s\r\n\r\n" % (seconds * 1000, host)).encode())
    t0 = time.monotonic()
    try:
        while s.recv(65536):
            pass
    except socket.timeout:
        fail("connection to the deleted pod still open after %d s" % seconds)
    except OSError:
        pass
    print("ended after %.1f s" % (time.monotonic() - t0))


def halfclose(host, port):
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(("GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host).encode())
    s.shutdown(socket.SHUT_WR)
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    if b"pod=" not in data:
        fail("no response after half-close: %r" % data[:200])
    print("response after half-close")


def reset(host, port, seconds):
    s = socket.create_connection((host, port), timeout=5)
    s.settimeout(seconds)
    s.sendall(("GET /delay/%d HTTP/1.1\r\nHost: %s\r\n\r\n" % (seconds * 1000, host)).encode())
    print("waiting", flush=True)
    t0 = time.monotonic()
    try:
        data = s.recv(65536)
    except ConnectionResetError:
        print("reset after %.2f s" % (time.monotonic() - t0))
        return
    except socket.timeout:
        fail("no reset within %d s" % seconds)
    fail("got %r instead of a reset" % data[:100])


def main():
    cmd, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if cmd == "refused":
        refused(host, port)
    elif cmd == "udp-unreachable":
        udp_unreachable(host, port)
    elif cmd == "concurrent":
        concurrent(host, port, int(sys.argv[4]))
    elif cmd == "hold":
        hold(host, port, sys.argv[4], int(sys.argv[5]))
    elif cmd == "halfclose":
        halfclose(host, port)
    elif cmd == "reset":
        reset(host, port, int(sys.argv[4]))
    else:
        fail("unknown command %s" % cmd)


if __name__ == "__main__":
    main()
