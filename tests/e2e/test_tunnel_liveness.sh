#!/usr/bin/env bash
# test_tunnel_liveness.sh: connections whose app vanished without a word still end, inside a
# network namespace.
#
# An app's RST can be lost on its way into the tunnel (a full TUN queue; RSTs are never resent).
# Here an nftables rule in the test's namespace drops every RST towards kubetund while 20 idle
# connections to web:443 are reset by their client (SO_LINGER 0). Checks:
#   - while RSTs are dropped, kubetund keeps the 20 connections (and their port-forward
#     streams): it cannot know, and its liveness probes' answers (RSTs too) are dropped as well;
#   - once RSTs pass again, the next probe (--probe-interval 2) gets the kernel's RST and all 20
#     end, with their streams;
#   - idle connections that are alive survive the probes.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/netns.sh"

WEB=web.shop.svc.cluster.local
netns_create
start_fake_ns fake "$KT_SOURCE_DIR/tests/fixtures/basic.yaml"
printf 'forwards:\n  - target: svc/web\n    namespace: shop\n' >"$T/profile.yaml"
start_kubetund ktd "$T/profile.yaml" --probe-interval 2
VIP=$(nsx getent hosts "$WEB" | awk '{print $1}')
[[ $VIP == 198.19.* ]] || fail "no VIP for $WEB"
DEV=$(nsx ip -o link show | awk -F': ' '$2 ~ /^kt/ {print $2; exit}')
[ -n "$DEV" ] || fail "no kt device in the namespace"

# active: connections kubetund counts as open on web:443.
active() {
	"$KT_BUILD_DIR/kubetun" --socket "$KTD_SOCK" status --json | $PY -c '
import json, sys
d = json.load(sys.stdin)
print(sum(m["active"] for m in d["mappings"] if m["port"] == 443))'
}
active_is() { [ "$(active)" = "$1" ]; }

# hold N: N idle TCP connections to web:443; on stdin EOF they are reset (SO_LINGER 0).
mkfifo "$T/hold.in" "$T/alive.in"
hold() {
	ip netns exec "$NS" $PY -c '
import socket, struct, sys
n, vip = int(sys.argv[1]), sys.argv[2]
socks = [socket.create_connection((vip, 443), timeout=10) for _ in range(n)]
print("open", flush=True)
sys.stdin.read()
for s in socks:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
print("reset", flush=True)' "$1" "$VIP"
}
hold 20 <"$T/hold.in" >"$T/hold.out" 2>&1 &
HOLD_PID=$!
KT_PIDS+=("$HOLD_PID")
exec 7>"$T/hold.in"
hold 3 <"$T/alive.in" >"$T/alive.out" 2>&1 7>&- &
ALIVE_PID=$!
KT_PIDS+=("$ALIVE_PID")
exec 8>"$T/alive.in" # after the first holder started: it must not inherit this writer
wait_until 20 grep -q open "$T/hold.out" || fail "hold: $(cat "$T/hold.out")"
wait_until 20 grep -q open "$T/alive.out" || fail "alive: $(cat "$T/alive.out")"
wait_until 10 active_is 23 || fail "expected 23 active connections, got $(active)"
pass "23 idle connections open through the tunnel"

# Drop every TCP RST the kernel sends into the tunnel (this namespace's ruleset only).
command -v nft >/dev/null || fail "nft missing (scripts/bootstrap.sh installs nftables)"
nsx nft -f - <<EOF || fail "cannot add the nftables rule"
table inet kt_test {
	chain out {
		type filter hook output priority 0;
		oifname "$DEV" tcp flags rst counter drop
	}
}
EOF
exec 7>&-
wait "$HOLD_PID" || fail "hold client failed: $(cat "$T/hold.out")"
sleep 5 # two probe intervals and more
n=$(active)
[ "$n" = 23 ] || fail "with RSTs dropped kubetund should still hold 23 connections, has $n"
dropped=$(nsx nft list ruleset | awk '/counter packets/ {print $(NF - 3); exit}')
[ "${dropped:-0}" -ge 20 ] || fail "the rule dropped ${dropped:-no} RSTs, expected 20 or more"
pass "$dropped RSTs dropped (20 resets + probe answers): kubetund still holds the 20 connections"

nsx nft delete table inet kt_test || fail "cannot delete the nftables rule"
t0=$(date +%s%N)
wait_until 10 active_is 3 || fail "vanished connections not reclaimed: $(active) active"
ms=$((($(date +%s%N) - t0) / 1000000))
pass "after RSTs pass again the liveness probe ended the 20 vanished connections in $ms ms"

sleep 5
[ "$(active)" = 3 ] || fail "live idle connections were ended by the probes: $(active) active"
exec 8>&-
wait "$ALIVE_PID" || fail "alive client failed"
wait_until 10 active_is 0 || fail "connections left after the last client reset: $(active)"
pass "live idle connections survive the probes; all end when their client resets"
stop_kubetund
echo "all liveness checks passed"
