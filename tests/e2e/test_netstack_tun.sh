#!/usr/bin/env bash
# test_netstack_tun.sh: the packet tunnel and the netstack end to end, without Kubernetes.
#
# In a network namespace made for this test, tests/e2e/tun_echo (built as $KT_BUILD_DIR/tests/
# tun_echo) opens a real TUN device with the subnet 198.19.0.0/16 routed into it and serves every
# VIP (see tun_echo.c for its services). Real clients inside the namespace check: any VIP
# reachable on 80 and 443, refused ports fail fast with ECONNREFUSED, a deferred SYN (PENDING)
# both ways, 100 MiB each way byte-exact, DNS over UDP, ICMP port unreachable for UDP to other
# VIPs, refusal when the subnet overlaps a route or when not permitted, and that the device and
# its route are gone after the program exits.
source "$(dirname "$0")/lib.sh"

NS=kt-$$
ECHO_BIN=$KT_BUILD_DIR/tests/tun_echo
PY=/usr/bin/python3
[ -x "$ECHO_BIN" ] || fail "missing $ECHO_BIN (build the tun_echo target)"

cleanup_ns() {
	local rc=$?
	ip netns pids "$NS" 2>/dev/null | xargs -r kill 2>/dev/null || true
	ip netns del "$NS" 2>/dev/null || true
	return $rc
}
# lib.sh's trap removes $T; ours runs first and then hands over to it.
trap 'cleanup_ns; kt_cleanup' EXIT
trap 'exit 1' INT TERM

ip netns add "$NS"
ip -n "$NS" link set lo up
nsx() { ip netns exec "$NS" "$@"; }

# start_echo MTU: starts tun_echo in the namespace and waits for "ready".
start_echo() {
	# Not through nsx: a backgrounded function would be a subshell, and $! its pid.
	ip netns exec "$NS" "$ECHO_BIN" --mtu "$1" >"$T/echo.out" 2>"$T/echo.log" &
	ECHO_PID=$!
	KT_PIDS+=("$ECHO_PID")
	for _ in $(seq 1 100); do
		grep -q '^ready ' "$T/echo.out" 2>/dev/null && return 0
		kill -0 "$ECHO_PID" 2>/dev/null || fail "tun_echo exited: $(cat "$T/echo.log")"
		sleep 0.05
	done
	fail "tun_echo not ready after 5 s"
}

stop_echo() {
	kill -TERM "$ECHO_PID"
	local rc=0
	wait "$ECHO_PID" || rc=$?
	[ $rc -eq 0 ] || fail "tun_echo exited with $rc: $(cat "$T/echo.log")"
}

cat >"$T/client.py" <<'EOF'
import errno, hashlib, os, socket, sys, threading, time

def echo(host, port, n):
    """Sends n random bytes and reads the echo at the same time; checks both SHA-256s."""
    s = socket.create_connection((host, port), timeout=30)
    data = os.urandom(1 << 20)
    hs, hr = hashlib.sha256(), hashlib.sha256()
    def sender():
        left = n
        while left:
            k = min(left, len(data))
            s.sendall(data[:k]); hs.update(data[:k]); left -= k
        s.shutdown(socket.SHUT_WR)
    t = threading.Thread(target=sender); t.start()
    got = 0
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        hr.update(b); got += len(b)
    t.join()
    if got != n or hs.digest() != hr.digest():
        sys.exit("echo mismatch: sent %d got %d" % (n, got))

def refused(host, port):
    """connect() must fail with ECONNREFUSED in well under 100 ms."""
    s = socket.socket(); s.settimeout(5)
    t0 = time.monotonic()
    try:
        s.connect((host, port))
    except ConnectionRefusedError:
        dt = time.monotonic() - t0
        if dt > 0.1:
            sys.exit("refused after %.3f s" % dt)
        return
    sys.exit("connect to %s:%d succeeded" % (host, port))

def udp(host, port, expect):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
    s.connect((host, port)); s.send(b"\x12\x34query")
    try:
        got = s.recv(512)
    except ConnectionRefusedError:
        got = "ECONNREFUSED"
    if got != expect:
        sys.exit("udp %s:%d: got %r, want %r" % (host, port, got, expect))

def discard(host, n):
    """Uploads n bytes to the discard port; the server answers how many it counted."""
    s = socket.create_connection((host, 9), timeout=30)
    block = os.urandom(1 << 20)
    left = n
    while left:
        k = min(left, len(block)); s.sendall(block[:k]); left -= k
    s.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        b = s.recv(100)
        if not b:
            break
        got += b
    if got != b"%d\n" % n:
        sys.exit("discard: server counted %r, want %d" % (got, n))

def pattern_sha(n):
    """SHA-256 of n bytes of the pattern i % 251 that tun_echo serves."""
    block = bytes(range(251)) * 4096
    h = hashlib.sha256()
    while n:
        k = min(n, len(block)); h.update(block[:k]); n -= k
    print(h.hexdigest())

cmd = sys.argv[1]
if cmd == "echo": echo(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
elif cmd == "refused": refused(sys.argv[2], int(sys.argv[3]))
elif cmd == "udp-dns": udp(sys.argv[2], 53, b"kt-tun-echo dns\n")
elif cmd == "udp-unreach": udp(sys.argv[2], int(sys.argv[3]), "ECONNREFUSED")
elif cmd == "discard": discard(sys.argv[2], int(sys.argv[3]))
elif cmd == "pattern-sha": pattern_sha(int(sys.argv[2]))
EOF

start_echo 16384
IFNAME=$(awk '/^ready/ {print $2}' "$T/echo.out")
nsx ip link show "$IFNAME" | grep -q 'mtu 16384' || fail "device $IFNAME missing or wrong MTU"
nsx ip route show | grep -q "^198.19.0.0/16 dev $IFNAME" || fail "subnet route missing"
pass "TUN $IFNAME up with MTU 16384 and the route 198.19.0.0/16"

got=$(nsx curl -sS -m 5 http://198.19.5.5/) || fail "curl 198.19.5.5:80"
[ "$got" = "kt-tun-echo 198.19.5.5:80" ] || fail "198.19.5.5:80 answered '$got'"
got=$(nsx curl -sS -m 5 http://198.19.77.1/) || fail "curl 198.19.77.1:80"
[ "$got" = "kt-tun-echo 198.19.77.1:80" ] || fail "198.19.77.1:80 answered '$got'"
pass "HTTP on port 80 of two VIPs, each answering as itself"

got=$(nsx bash -c 'exec 3<>/dev/tcp/198.19.200.9/443; echo "hello 443" >&3; read -r -t 5 l <&3; echo "$l"')
[ "$got" = "hello 443" ] || fail "echo on 198.19.200.9:443 gave '$got'"
pass "bash /dev/tcp echo on 198.19.200.9:443"

nsx $PY "$T/client.py" refused 198.19.5.5 81 || fail "port 81 not refused fast"
nsx $PY "$T/client.py" refused 198.19.200.9 22 || fail "port 22 not refused fast"
if nsx bash -c 'exec 3<>/dev/tcp/198.19.5.5/81' 2>/dev/null; then fail "bash connected to :81"; fi
pass "unmapped ports refused (ECONNREFUSED < 100 ms)"

got=$(nsx bash -c 'exec 3<>/dev/tcp/198.19.9.9/8080; echo deferred >&3; read -r -t 5 l <&3; echo "$l"')
[ "$got" = "deferred" ] || fail "deferred accept on :8080 gave '$got'"
if nsx bash -c 'exec 3<>/dev/tcp/198.19.9.9/8081' 2>/dev/null; then fail "deferred refusal on :8081 connected"; fi
pass "deferred SYN: accepted after 30 ms (:8080), refused after 30 ms (:8081)"

N=$((100 * 1024 * 1024))
want=$($PY "$T/client.py" pattern-sha $N)
got=$(nsx curl -sS -m 120 "http://198.19.5.5/bytes/$N" | sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "100 MiB download: sha256 $got, want $want"
pass "100 MiB download through the tunnel, sha256 matches"
nsx $PY "$T/client.py" echo 198.19.200.9 443 $N || fail "100 MiB echo"
pass "100 MiB upload and 100 MiB echoed back at once, sha256 matches both ways"
nsx $PY "$T/client.py" discard 198.19.33.3 $((16 * 1024 * 1024)) || fail "16 MiB discard"
pass "16 MiB upload to the discard port, every byte counted"

nsx $PY "$T/client.py" udp-dns 198.19.0.53 || fail "UDP DNS"
nsx $PY "$T/client.py" udp-unreach 198.19.5.5 53 || fail "UDP to a non-DNS VIP"
nsx $PY "$T/client.py" udp-unreach 198.19.0.53 5353 || fail "UDP to the DNS VIP, other port"
pass "UDP: DNS VIP :53 answered; other VIPs and ports get ICMP port unreachable"

stop_echo
if nsx ip link show "$IFNAME" >/dev/null 2>&1; then fail "$IFNAME still exists after exit"; fi
if nsx ip route show | grep -q '198\.19\.'; then fail "route still present after exit"; fi
pass "after exit: device and route gone"

# MTU 1500 works too (the MSS follows the MTU).
start_echo 1500
nsx $PY "$T/client.py" echo 198.19.1.2 443 $((8 * 1024 * 1024)) || fail "echo at MTU 1500"
stop_echo
pass "MTU 1500: 8 MiB echo"

# Refusals: overlapping route, and no permission.
nsx ip route add 198.19.128.0/24 dev lo
if nsx "$ECHO_BIN" >"$T/ovl.out" 2>"$T/ovl.log"; then fail "started despite an overlapping route"; fi
grep -q 'overlaps the existing route 198.19.128.0/24' "$T/ovl.log" || fail "overlap message: $(cat "$T/ovl.log")"
[ "$(wc -l <"$T/ovl.log")" = 1 ] || fail "overlap message is not one line"
nsx ip link | grep -q 'kt0' && fail "device left behind after refusal"
nsx ip route del 198.19.128.0/24 dev lo
pass "overlapping subnet refused: $(cat "$T/ovl.log")"

if command -v setpriv >/dev/null; then
	if nsx setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$ECHO_BIN" \
		>"$T/perm.out" 2>"$T/perm.log"; then
		fail "started without CAP_NET_ADMIN"
	fi
	grep -q 'not permitted' "$T/perm.log" || fail "EPERM message: $(cat "$T/perm.log")"
	pass "without CAP_NET_ADMIN refused: $(cat "$T/perm.log")"
fi
echo "all netstack/TUN end-to-end checks passed"
