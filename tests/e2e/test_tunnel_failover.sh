#!/usr/bin/env bash
# test_tunnel_failover.sh: kubetund under load and while pods die, inside a network namespace.
#
#   - 500 connections to web.shop.svc.cluster.local:80 open at the same time all succeed;
#   - `kubectl delete pod` of a pod serving an open connection: that connection ends (no hang),
#     clients looping meanwhile see at most a few failures while the pod terminates, and once the
#     replacement is Ready there are zero failed connections and the replacement serves;
#   - the same for a single-replica Deployment (api), where the replacement is the only pod;
#   - a web pod turned NotReady (the fake's pod-ready fault) gets no new connection until it is
#     Ready again.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/netns.sh"
CLIENT=$(dirname "$0")/tunnel_client.py

netns_create
start_fake_ns fake "$KT_SOURCE_DIR/tests/fixtures/basic.yaml" --grace-ms 1500 --replace-delay-ms 300

cat >"$T/profile.yaml" <<'EOF'
namespace: shop
forwards:
  - target: svc/web
  - target: svc/api
EOF
start_kubetund ktd "$T/profile.yaml"

# --- 500 at once ---------------------------------------------------------------------------
out=$(nsx $PY "$CLIENT" concurrent web.shop.svc.cluster.local 80 500) || fail "500 concurrent: $out"
pass "$out"

# --- delete the pod serving an open connection ---------------------------------------------
victim=$(nsx curl -sS --max-time 5 http://web.shop.svc.cluster.local/ | sed 's/^pod=\([^ ]*\) .*/\1/')
[[ $victim == web-* ]] || fail "no web pod answered: $victim"
nsx $PY "$CLIENT" hold web.shop.svc.cluster.local 80 "$victim" 30 >"$T/hold.out" 2>&1 &
hold_pid=$!
wait_until 10 grep -q holding "$T/hold.out" || fail "hold client: $(cat "$T/hold.out")"

# A client loop that counts failures all through the deletion.
(
	ok=0 bad=0
	while [ ! -e "$T/stop-loop" ]; do
		if nsx curl -sS --max-time 5 -o /dev/null http://web.shop.svc.cluster.local/ 2>/dev/null; then
			ok=$((ok + 1))
		else
			bad=$((bad + 1))
		fi
		sleep 0.02
	done
	echo "$ok $bad" >"$T/loop.out"
) &
loop_pid=$!

before=$(kctl -n shop get pods -l app=web -o name | sed 's|^pod/||')
kctl -n shop delete pod "$victim" --wait=false >/dev/null || fail "kubectl delete pod"
t0=$SECONDS
wait $hold_pid || fail "the deleted pod's connection: $(cat "$T/hold.out")"
pass "open connection to the deleted pod ended: $(tail -n 1 "$T/hold.out")"

# Wait for the replacement to be Ready (two ready web pods, none of them the victim).
ready_pods() {
	kctl -n shop get pods -l app=web \
		-o jsonpath='{range .items[*]}{.metadata.name} {.metadata.deletionTimestamp} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}'
}
wait_until 20 bash -c "[ \$(ip netns exec $NS ${KUBECTL133:-kubectl} --kubeconfig $KCFG -n shop get pods -l app=web --no-headers 2>/dev/null | grep -v $victim | grep -c ' 1/1 ') -ge 2 ]" ||
	fail "no replacement Ready: $(ready_pods)"
touch "$T/stop-loop"
wait $loop_pid
read -r ok_during bad_during <"$T/loop.out"
# Give kubetund's informer a moment to see the last events, then: zero failures.
sleep 0.5
fails=0
pods=""
for i in $(seq 1 40); do
	out=$(nsx curl -sS --max-time 5 http://web.shop.svc.cluster.local/ 2>&1) || fails=$((fails + 1))
	pods="$pods ${out%% *}"
done
[ $fails = 0 ] || fail "$fails of 40 connections failed after the replacement was Ready"
echo "$pods" | grep -q "pod=$victim" && fail "the deleted pod still served: $pods"
replacement=$(kctl -n shop get pods -l app=web -o name | sed 's|^pod/||' | grep -vxF "$before" || true)
[ -n "$replacement" ] || fail "no replacement pod found"
echo "$pods" | grep -q "pod=$replacement" || fail "the replacement $replacement never served: $pods"
n=$(echo "$pods" | tr ' ' '\n' | grep -c pod= || true)
[ "$n" = 40 ] || fail "answers: $pods"
pass "after the replacement ($replacement) is Ready: 40/40 connections ok, it serves too; during: $ok_during ok, $bad_during failed ($((SECONDS - t0)) s)"
[ "$bad_during" -le 3 ] || fail "$bad_during failures while one of two pods terminated"

# --- single replica: the replacement takes over ------------------------------------------
old=$(nsx curl -sS --max-time 5 http://api.shop.svc.cluster.local/ | sed 's/^pod=\([^ ]*\) .*/\1/')
[[ $old == api-* ]] || fail "api: $old"
kctl -n shop delete pod "$old" --wait=false >/dev/null || fail "kubectl delete api pod"
got=""
for _ in $(seq 1 100); do
	out=$(nsx curl -sS --max-time 5 http://api.shop.svc.cluster.local/ 2>/dev/null) || true
	if [[ $out == pod=api-* && $out != "pod=$old "* ]]; then
		got=${out%% *}
		break
	fi
	sleep 0.1
done
[ -n "$got" ] || fail "the replacement api pod never served"
for i in $(seq 1 10); do
	out=$(nsx curl -sS --max-time 5 http://api.shop.svc.cluster.local/) || fail "api after replacement"
	[ "${out%% *}" = "$got" ] || fail "api answered $out"
done
pass "api: $old deleted, $got serves, 10/10 ok"

# --- NotReady: only ready pods get connections ------------------------------------------------
# serving N: the pods that answered N connections to web, sorted and unique.
serving() {
	for _ in $(seq 1 "$1"); do
		nsx curl -sS --max-time 5 http://web.shop.svc.cluster.local/ | sed 's/^pod=\([^ ]*\) .*/\1/'
	done | sort -u | tr '\n' ' '
}
read -r p1 p2 _ <<<"$(kctl -n shop get pods -l app=web -o name | sed 's|^pod/||' | tr '\n' ' ')"
[ -n "$p1" ] && [ -n "$p2" ] || fail "two web pods expected"
serves_only() { [ "$(serving 6)" = "$1 " ]; }
serves_too() { [[ " $(serving 6)" == *" $1 "* ]]; }
fake_admin_ns POST "/fake/v1/namespaces/shop/pods/$p1/ready?value=false" >/dev/null ||
	fail "pod-ready fault"
# The informer needs a moment to see the change; then no connection may reach p1.
wait_until 10 serves_only "$p2" || fail "$p1 NotReady still gets connections: $(serving 6)"
got=$(serving 20)
[ "$got" = "$p2 " ] || fail "with $p1 NotReady, 20 connections went to: $got"
fake_admin_ns POST "/fake/v1/namespaces/shop/pods/$p1/ready?value=true" >/dev/null ||
	fail "pod-ready fault"
wait_until 10 serves_too "$p1" || fail "$p1 never served again after it was Ready"
pass "$p1 NotReady: 20/20 connections to $p2; Ready again: it serves again"
stop_kubetund
echo "failover tests passed"
