"""pf_wire.py: a small, independent port-forward client for byte-level checks of the fake cluster.

Speaks TLS (client certificate from the fake's kubeconfig), RFC 6455 WebSocket (client role,
masked frames), and SPDY/3.1 (client role, zlib header blocks with the SPDY/3 dictionary), so
tests can look at exactly what the server sends: v4 port prefixes and error-channel text,
SYN_REPLY/RST_STREAM/FIN choreography, the SPDY stream tunnelled in WebSocket messages.
Used by test_fake_portforward.sh; run with Debian's /usr/bin/python3.
"""
import base64
import os
import re
import socket
import ssl
import struct
import tempfile
import zlib


def load_kubeconfig(path):
    """Returns (host, port, ca_pem, cert_pem, key_pem) from a kubeconfig the fake wrote."""
    text = open(path).read()

    def field(name):
        m = re.search(r"^\s*%s:\s*(\S+)\s*$" % re.escape(name), text, re.M)
        if not m:
            raise ValueError("kubeconfig lacks " + name)
        return m.group(1).strip("'\"")

    server = field("server")
    m = re.match(r"https://([^:/]+):(\d+)", server)
    return (m.group(1), int(m.group(2)), base64.b64decode(field("certificate-authority-data")),
            base64.b64decode(field("client-certificate-data")), base64.b64decode(field("client-key-data")))


class Conn:
    def __init__(self, kubeconfig, timeout=10):
        host, port, ca, cert, key = load_kubeconfig(kubeconfig)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cadata=ca.decode())
        with tempfile.TemporaryDirectory() as d:
            cf, kf = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
            open(cf, "wb").write(cert)
            open(kf, "wb").write(key)
            ctx.load_cert_chain(cf, kf)
        raw = socket.create_connection((host, port), timeout=timeout)
        self.s = ctx.wrap_socket(raw, server_hostname=host)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError("connection closed")
        self.buf += d

    def read_exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_head(self):
        while b"\r\n\r\n" not in self.buf:
            self.fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for ln in lines[1:]:
            k, v = ln.split(":", 1)
            headers.setdefault(k.strip().lower(), []).append(v.strip())
        return status, headers

    def read_body(self, headers):
        n = int(headers.get("content-length", ["0"])[0])
        return self.read_exact(n)

    def read_all(self):
        try:
            while True:
                self.fill()
        except (EOFError, ConnectionResetError, ssl.SSLError):
            pass
        out, self.buf = self.buf, b""
        return out

    def request(self, method, path, headers):
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1"] + ["%s: %s" % kv for kv in headers]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode())
        return self.read_head()

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


# --- WebSocket (client role) ---

WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def ws_open(conn, path, protocols=None):
    h = [("Connection", "Upgrade"), ("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13"),
         ("Sec-WebSocket-Key", WS_KEY)]
    if protocols is not None:
        h.append(("Sec-WebSocket-Protocol", protocols))
    return conn.request("GET", path, h)


def ws_send(conn, opcode, payload, fin=True, mask=b"\x01\x02\x03\x04"):
    n = len(payload)
    b0 = (0x80 if fin else 0) | opcode
    if n < 126:
        head = struct.pack("!BB", b0, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", b0, 0x80 | 127, n)
    masked = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
    conn.send(head + mask + masked)


def ws_recv(conn):
    """One frame: (fin, opcode, payload). Server frames must not be masked."""
    b0, b1 = conn.read_exact(2)
    assert not (b1 & 0x80), "server frame is masked"
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", conn.read_exact(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", conn.read_exact(8))[0]
    return bool(b0 & 0x80), b0 & 0x0F, conn.read_exact(n)


# --- SPDY/3.1 (client role) ---

DICT_PATH = os.path.join(os.environ.get("KT_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", "..")),
                         "data", "spdy3-header-dictionary.bin")


class Spdy:
    """SPDY framing over a byte transport: write(bytes), read_exact(n)."""

    def __init__(self, write, read_exact):
        d = open(DICT_PATH, "rb").read()
        self.comp = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY, d)
        self.decomp = zlib.decompressobj(zdict=d)
        self.write = write
        self.read_exact = read_exact

    def block(self, headers):
        raw = struct.pack("!I", len(headers))
        for k, v in headers:
            raw += struct.pack("!I", len(k)) + k.encode() + struct.pack("!I", len(v)) + v.encode()
        return self.comp.compress(raw) + self.comp.flush(zlib.Z_SYNC_FLUSH)

    def ctl(self, typ, flags, payload):
        return struct.pack("!HHI", 0x8003, typ, (flags << 24) | len(payload)) + payload

    def syn_stream(self, sid, headers, flags=0):
        hb = self.block(headers)
        self.write(self.ctl(1, flags, struct.pack("!IIH", sid, 0, 0) + hb))

    def data(self, sid, payload, fin=False):
        self.write(struct.pack("!II", sid, ((1 if fin else 0) << 24) | len(payload)) + payload)

    def rst(self, sid, status=5):
        self.write(self.ctl(3, 0, struct.pack("!II", sid, status)))

    def ping(self, pid):
        self.write(self.ctl(6, 0, struct.pack("!I", pid)))

    def goaway(self, last):
        self.write(self.ctl(7, 0, struct.pack("!II", last, 0)))

    def read_frame(self):
        """Returns a dict: type ('data' or a control type number), sid, flags, payload/headers."""
        head = self.read_exact(8)
        w0, w1 = struct.unpack("!II", head)
        flags, length = w1 >> 24, w1 & 0xFFFFFF
        payload = self.read_exact(length)
        if not (w0 & 0x80000000):
            return {"type": "data", "sid": w0, "flags": flags, "payload": payload}
        assert (w0 >> 16) & 0x7FFF == 3, "SPDY version"
        typ = w0 & 0xFFFF
        f = {"type": typ, "flags": flags, "raw": payload}
        if typ == 2:  # SYN_REPLY
            f["sid"] = struct.unpack("!I", payload[:4])[0] & 0x7FFFFFFF
            raw = self.decomp.decompress(payload[4:])
            f["headers"] = raw
        elif typ == 3:
            f["sid"], f["status"] = struct.unpack("!II", payload)
        elif typ == 6:
            f["id"] = struct.unpack("!I", payload)[0]
        elif typ == 7:
            f["last"], f["status"] = struct.unpack("!II", payload)
        return f


def spdy_over_conn(conn):
    return Spdy(conn.send, conn.read_exact)


class WsStream:
    """The tunnelled byte stream: writes become binary messages (optionally split), reads
    reassemble binary message payloads."""

    def __init__(self, conn, split=0):
        self.conn = conn
        self.pending = b""
        self.split = split
        self.closed = None

    def write(self, data):
        if self.split:
            for i in range(0, len(data), self.split):
                ws_send(self.conn, 2, data[i:i + self.split])
        else:
            ws_send(self.conn, 2, data)

    def read_exact(self, n):
        while len(self.pending) < n:
            fin, op, p = ws_recv(self.conn)
            if op == 8:
                self.closed = struct.unpack("!H", p[:2])[0] if len(p) >= 2 else 1005
                raise EOFError("close %s" % self.closed)
            assert op == 2, "tunnel message type %d" % op
            self.pending += p
        out, self.pending = self.pending[:n], self.pending[n:]
        return out
