#!/usr/bin/env bash
# test_tunnel_basic.sh: kubetund end to end, inside a network namespace made for the test.
#
# The fake cluster (tests/fixtures/basic.yaml) listens on the namespace's 127.0.0.1; kubetund
# routes 198.19.0.0/16 into its TUN device and answers DNS on 198.19.0.53, which the
# namespace's resolv.conf names. Real clients (curl, getent, dig, Python sockets) check: HTTP and
# verified HTTPS on the real hostname and ports, glibc resolution, two Services on port 80 and one
# hostname on 80 and 443 at the same time, a named targetPort, headless and StatefulSet per-pod
# names, deploy/ ds/ pod/ targets, round robin, refusals for unmapped ports and VIPs in < 100 ms,
# NXDOMAIN / REFUSED / SRV / DNS over TCP, ICMP unreachable for UDP, a refusing pod port reset
# with its error logged, half-close, and a clean stop and restart with the same VIPs.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/netns.sh"
CLIENT=$(dirname "$0")/tunnel_client.py

netns_create
start_fake_ns fake "$KT_SOURCE_DIR/tests/fixtures/basic.yaml"

cat >"$T/profile.yaml" <<'EOF'
forwards:
  - target: svc/web
    namespace: shop
  - target: svc/api
    namespace: shop
  - target: svc/kafka
    namespace: data
  - target: sts/db
    namespace: data
  - target: deploy/payments
  - target: ds/agent
  - target: pod/debug
  - target: pod/refuser
EOF
start_kubetund ktd "$T/profile.yaml" -v

CURL=(nsx curl -sS --max-time 10)

# --- HTTP, HTTPS, glibc ----------------------------------------------------------------------
out=$("${CURL[@]}" http://web.shop.svc.cluster.local/) || fail "curl http web: $out"
[[ $out == "pod=web-"*" namespace=shop port=80" ]] || fail "http web answered: $out"
pass "curl http://web.shop.svc.cluster.local/ → $out"

out=$("${CURL[@]}" --cacert "$FAKE_CA" https://web.shop.svc.cluster.local/) ||
	fail "curl https web: $out"
[[ $out == "pod=web-"*" namespace=shop port=443" ]] || fail "https web answered: $out"
pass "https with --cacert verifies web.shop.svc.cluster.local on 443"

line=$(nsx getent hosts web.shop.svc.cluster.local) || fail "getent hosts web failed"
WEB_VIP=${line%% *}
[[ $WEB_VIP == 198.19.* ]] || fail "getent hosts web: $line"
pass "getent hosts web.shop.svc.cluster.local → $WEB_VIP"

# --- several mappings at once --------------------------------------------------------------
"${CURL[@]}" http://web.shop.svc.cluster.local/delay/400 >"$T/c1" &
p1=$!
"${CURL[@]}" http://api.shop.svc.cluster.local/delay/400 >"$T/c2" &
p2=$!
"${CURL[@]}" --cacert "$FAKE_CA" https://web.shop.svc.cluster.local/delay/400 >"$T/c3" &
p3=$!
wait $p1 || fail "web:80 during concurrent use"
wait $p2 || fail "api:80 during concurrent use"
wait $p3 || fail "web:443 during concurrent use"
grep -q '^delayed 400' "$T/c1" && grep -q '^delayed 400' "$T/c2" && grep -q '^delayed 400' "$T/c3" ||
	fail "concurrent answers: $(cat "$T/c1" "$T/c2" "$T/c3")"
out=$("${CURL[@]}" http://api.shop.svc.cluster.local/) || fail "curl api"
[[ $out == "pod=api-"*" namespace=shop port=8080" ]] || fail "api answered: $out"
pass "web and api on port 80 at once, web on 80 and 443 at once; api's named targetPort → $out"

# Round robin over web's two pods, one pod per connection.
for i in $(seq 1 6); do "${CURL[@]}" http://web.shop.svc.cluster.local/; done >"$T/rr"
n=$(cut -d' ' -f1 "$T/rr" | sort -u | wc -l)
[ "$n" = 2 ] || fail "round robin reached $n pods: $(sort "$T/rr" | uniq -c)"
pass "round robin: 6 connections reached both web pods"

# --- headless Services, StatefulSets -------------------------------------------------------
for i in 0 1 2; do
	out=$("${CURL[@]}" "http://kafka-$i.kafka.data.svc.cluster.local:9092/") || fail "kafka-$i"
	[[ $out == "pod=kafka-$i namespace=data port=9092" ]] || fail "kafka-$i answered: $out"
done
for i in 1 2 3 4; do
	out=$("${CURL[@]}" http://kafka-1.kafka.data.svc.cluster.local:9092/)
	[[ $out == "pod=kafka-1 "* ]] || fail "kafka-1 reached $out"
done
n=$(nsx getent ahostsv4 kafka.data.svc.cluster.local | awk '{print $1}' | sort -u | wc -l)
[ "$n" = 3 ] || fail "kafka.data.svc.cluster.local has $n addresses, want 3"
out=$("${CURL[@]}" http://db-1.db.data.svc.cluster.local:5432/) || fail "db-1"
[[ $out == "pod=db-1 namespace=data port=5432" ]] || fail "db-1 answered: $out"
out=$("${CURL[@]}" http://db.data.sts.cluster.local:5432/) || fail "db sts name"
[[ $out == "pod=db-"* ]] || fail "db.data.sts answered: $out"
pass "headless per-pod names: kafka-N.kafka.data.svc reaches kafka-N; kafka.data.svc has 3 A; sts/db"

# --- deploy/ ds/ pod/ ----------------------------------------------------------------------
out=$("${CURL[@]}" http://payments.default.svc.cluster.local/) || fail "payments svc"
[[ $out == "pod=payments-"*" port=8080" ]] || fail "payments.default.svc answered: $out"
out=$("${CURL[@]}" http://payments.default.deploy.cluster.local:8080/) || fail "payments deploy"
[[ $out == "pod=payments-"* ]] || fail "payments.default.deploy answered: $out"
out=$("${CURL[@]}" http://agent.default.ds.cluster.local:9100/) || fail "agent ds"
[[ $out == "pod=agent-"*" port=9100" ]] || fail "agent.default.ds answered: $out"
out=$("${CURL[@]}" http://debug.default.pod.cluster.local:8080/) || fail "debug pod"
[[ $out == "pod=debug namespace=default port=8080" ]] || fail "debug.default.pod: $out"
out=$("${CURL[@]}" http://debug.default.svc.cluster.local:8080/) || fail "debug svc"
[[ $out == "pod=debug "* ]] || fail "debug.default.svc answered: $out"
pass "deploy/payments (svc :80 → 8080 and deploy name), ds/agent, pod/debug"

# --- refusals ------------------------------------------------------------------------------
nsx $PY "$CLIENT" refused "$WEB_VIP" 81 || fail "unmapped port"
unused=198.19.254.254
grep -q "^$unused " "$T/state/vips" && unused=198.19.254.253
nsx $PY "$CLIENT" refused "$unused" 80 || fail "unmapped VIP"
pass "unmapped port and unmapped VIP refused in < 100 ms"

# The refusing pod: the stream opens, the kubelet's error follows: reset, logged once.
t0=$(date +%s%N)
if out=$("${CURL[@]}" http://refuser.default.pod.cluster.local:8080/ 2>&1); then
	fail "refuser answered: $out"
fi
ms=$((($(date +%s%N) - t0) / 1000000))
[ $ms -lt 2000 ] || fail "refusing pod took $ms ms"
wait_until 5 grep -q 'refuser.default.pod.cluster.local:8080.*error forwarding port 8080' "$KTD_LOG" ||
	fail "refusal not logged: $(grep refuser "$KTD_LOG")"
"${CURL[@]}" http://refuser.default.pod.cluster.local:8080/ >/dev/null 2>&1 && fail "refuser answered"
n=$(grep 'refuser.default.pod.cluster.local:8080 (.*error forwarding port 8080' "$KTD_LOG" | grep -vc ': again: ')
[ "$n" = 1 ] || fail "refusal logged $n times, want once"
pass "refusing pod port: failed in $ms ms, error recorded and logged once"

# --- DNS -----------------------------------------------------------------------------------
DIG=(nsx dig +time=2 +tries=1 @$DNS_VIP)
st=$("${DIG[@]}" nope.shop.svc.cluster.local | grep -o 'status: [A-Z]*')
[ "$st" = "status: NXDOMAIN" ] || fail "unknown name: $st"
st=$("${DIG[@]}" example.com | grep -o 'status: [A-Z]*')
[ "$st" = "status: REFUSED" ] || fail "example.com: $st"
out=$("${DIG[@]}" +tcp +short web.shop.svc.cluster.local)
[ "$out" = "$WEB_VIP" ] || fail "DNS over TCP: $out"
out=$("${DIG[@]}" +short SRV _https._tcp.web.shop.svc.cluster.local)
[ "$out" = "0 100 443 web.shop.svc.cluster.local." ] || fail "SRV: $out"
out=$("${DIG[@]}" +short -x "$WEB_VIP")
[ "$out" = "web.shop.svc.cluster.local." ] || fail "PTR: $out"
out=$("${DIG[@]}" +short AAAA web.shop.svc.cluster.local)
[ -z "$out" ] || fail "AAAA: $out"
pass "NXDOMAIN, REFUSED for example.com, DNS over TCP, SRV, PTR, AAAA NODATA"

nsx $PY "$CLIENT" udp-unreachable "$WEB_VIP" 5353 || fail "UDP to a VIP"
pass "UDP to a VIP: ICMP port unreachable"

nsx $PY "$CLIENT" halfclose web.shop.svc.cluster.local 80 || fail "half-close"
pass "app half-close: the response still arrives"

# --- stop, device gone, restart with the same VIPs -----------------------------------------
nsx $PY "$CLIENT" reset web.shop.svc.cluster.local 80 20 >"$T/reset.out" 2>&1 &
reset_pid=$!
wait_until 10 grep -q waiting "$T/reset.out" || fail "reset client: $(cat "$T/reset.out")"
sleep 0.2
stop_kubetund
wait $reset_pid || fail "open connection at shutdown: $(cat "$T/reset.out")"
pass "SIGTERM resets open connections: $(tail -n 1 "$T/reset.out")"
nsx ip -o link show | grep -q ' kt[0-9]' && fail "TUN device left behind: $(nsx ip -o link)"
nsx ip route show | grep -q '^198\.19\.' && fail "route left behind: $(nsx ip route)"
pass "SIGTERM: clean exit, TUN device and route removed"

start_kubetund ktd2 "$T/profile.yaml"
line=$(nsx getent hosts web.shop.svc.cluster.local) || fail "getent after restart"
[ "${line%% *}" = "$WEB_VIP" ] || fail "web's VIP changed across restart: $line vs $WEB_VIP"
out=$("${CURL[@]}" http://kafka-2.kafka.data.svc.cluster.local:9092/) || fail "kafka-2 after restart"
pass "restart: same VIP for web ($WEB_VIP), still serving"
stop_kubetund
echo "all tunnel basics passed"
