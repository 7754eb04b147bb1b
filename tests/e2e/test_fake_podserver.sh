#!/usr/bin/env bash
# test_fake_podserver.sh: kubetun-fake-cluster --pod-listen, the simulated pod served directly on
# a loopback socket (the "no tunnel" baseline of tests/bench/bench_tunnel.sh).
#
# Real curl and a Python socket client check: GET / names pod "direct" in namespace "bench" on
# the bound port; /bytes/N is byte-exact (sha256 against the pattern byte i = i % 251), also
# for a client that reads slowly (the server must wait for POLLOUT, not drop or spin); keep-alive
# and pipelined requests; /delay; /close resets; a second connection while one is open; a bad
# --pod-listen fails with one line.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

start_fake pods "$KT_SOURCE_DIR/tests/fixtures/basic.yaml" --pod-listen 127.0.0.1:0
addr=$(awk '$1 == "pod-listen" {print $2}' "$T/pods.out")
[[ $addr == 127.0.0.1:* ]] || fail "no pod-listen line: $(cat "$T/pods.out")"
port=${addr##*:}

out=$(curl -sS --max-time 5 "http://$addr/") || fail "GET /"
[ "$out" = "pod=direct namespace=bench port=$port" ] || fail "GET / answered: $out"
hdr=$(curl -sS --max-time 5 -D - -o /dev/null "http://$addr/")
grep -qi '^X-Pod-Name: direct' <<<"$hdr" || fail "headers: $hdr"
pass "GET / → $out"

# The pattern: byte i is i % 251.
pattern_sum() {
	$PY -c '
import hashlib, sys
n = int(sys.argv[1]); p = bytes(i % 251 for i in range(251)) * 4096; h = hashlib.sha256()
while n > 0:
    k = min(n, len(p)); h.update(p[:k]); n -= k
print(h.hexdigest())' "$1"
}
for n in 0 1 251 1000003 67108864; do
	got=$(curl -sS --max-time 30 "http://$addr/bytes/$n" | sha256sum | cut -d' ' -f1)
	[ "$got" = "$(pattern_sum $n)" ] || fail "/bytes/$n: sha256 $got"
done
pass "/bytes/N byte-exact for N = 0, 1, 251, 1000003, 64 MiB"

# A slow reader: 4 MiB at 2 MiB/s keeps the socket full for 2 s.
got=$(curl -sS --max-time 20 --limit-rate 2M "http://$addr/bytes/4194304" | sha256sum | cut -d' ' -f1)
[ "$got" = "$(pattern_sum 4194304)" ] || fail "slow reader: sha256 $got"
pass "slow reader gets every byte (flow control waits for the socket)"

# Keep-alive (two URLs, one connection) and pipelining (two requests in one write).
out=$(curl -sS -v --max-time 5 "http://$addr/" "http://$addr/bytes/5" 2>&1 >/dev/null)
grep -q 'Re-using existing connection' <<<"$out" || fail "no keep-alive: $out"
$PY - "$port" <<'EOF' || fail "pipelined requests"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"GET /bytes/3 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
data = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    data += b
assert data.count(b"HTTP/1.1 200") == 2, data
assert b"\r\n\r\n\x00\x01\x02HTTP/1.1 200" in data, data
assert data.endswith(b"pod=direct namespace=bench port=%s\n" % sys.argv[1].encode()), data
EOF
pass "keep-alive and pipelined requests answered in order, FIN after Connection: close"

# Two connections at once: a delayed request does not hold up another connection.
t0=$(date +%s%N)
curl -sS --max-time 5 "http://$addr/delay/500" >"$T/delay" &
dp=$!
out=$(curl -sS --max-time 5 "http://$addr/")
ms=$((($(date +%s%N) - t0) / 1000000))
[ $ms -lt 400 ] || fail "second connection waited $ms ms behind /delay/500"
wait $dp || fail "/delay/500"
[ "$(cat "$T/delay")" = "delayed 500" ] || fail "/delay answered: $(cat "$T/delay")"
pass "/delay/500 answered; a second connection meanwhile in $ms ms"

if out=$(curl -sS --max-time 5 "http://$addr/close" 2>&1); then fail "/close answered: $out"; fi
grep -q 'reset by peer' <<<"$out" || fail "/close: $out"
pass "/close resets the connection"

# Still serving after all that; then a bad address fails with one line.
out=$(curl -sS --max-time 5 "http://$addr/") || fail "GET / at the end"
rc=0
err=$("$FAKE" --fixture "$KT_SOURCE_DIR/tests/fixtures/basic.yaml" --listen 127.0.0.1:0 \
	--kubeconfig-out "$T/bad.kc" --pod-listen nonsense 2>&1 >/dev/null) || rc=$?
[ $rc -ne 0 ] || fail "--pod-listen nonsense accepted"
[[ $err == *"--pod-listen nonsense: expected IP:PORT"* ]] || fail "bad address message: $err"
[ "$(wc -l <<<"$err")" = 1 ] || fail "bad address message is not one line: $err"
err=$("$FAKE" --fixture "$KT_SOURCE_DIR/tests/fixtures/basic.yaml" --listen 127.0.0.1:0 \
	--kubeconfig-out "$T/bad.kc" --pod-listen "$addr" 2>&1 >/dev/null) && fail "port in use accepted"
[[ $err == *"Address already in use"* ]] || fail "port in use message: $err"
pass "bad or busy --pod-listen: one clear line, non-zero exit"
echo "pod-listen checks passed"
