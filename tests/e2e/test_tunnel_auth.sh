#!/usr/bin/env bash
# test_tunnel_auth.sh: kubetund's credentials and its refusals to start, in a network namespace.
#
#   - a token kubeconfig and an exec-plugin kubeconfig both carry traffic;
#   - non-default --subnet, --dns-ip, --cluster-domain, --mtu and --tun;
#   - a kubeconfig whose CA did not sign the server's certificate: exit 1, one clear line, and
#     no device left behind;
#   - an invalid profile: exit 1 with FILE:LINE:COL; a subnet overlapping a route: exit 1 naming
#     it; no permission for a TUN device: exit 1 with one line.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/netns.sh"

netns_create
cat >"$T/profile.yaml" <<'EOF'
forwards:
  - target: svc/web
    namespace: shop
EOF

check_web() {
	local out
	out=$(nsx curl -sS --max-time 10 http://web.shop.svc.cluster.local/) || fail "$1: curl: $out"
	[[ $out == pod=web-* ]] || fail "$1: answered $out"
}

# expect_refusal NAME PATTERN ARGS...: kubetund must exit 1 within 10 s with one line matching.
expect_refusal() {
	local name=$1 pat=$2 rc=0
	shift 2
	timeout 10 ip netns exec "$NS" "$KUBETUND" --state-dir "$T/state" --socket "$T/$name.sock" \
		"$@" >"$T/$name.out" 2>"$T/$name.log" || rc=$?
	[ $rc = 1 ] || fail "$name: exit status $rc, want 1: $(cat "$T/$name.log")"
	grep -Eq "$pat" "$T/$name.log" || fail "$name: no line matching '$pat': $(cat "$T/$name.log")"
	nsx ip -o link show | grep -q ' kt[0-9]' && fail "$name: TUN device left behind"
	pass "$name refused: $(grep -E "$pat" "$T/$name.log" | head -n 1)"
}

for auth in token exec; do
	start_fake_ns "fake-$auth" "$KT_SOURCE_DIR/tests/fixtures/basic.yaml" --auth "$auth"
	grep -q "${auth/token/token:}" "$KCFG" || grep -q "$auth" "$KCFG" || fail "kubeconfig lacks $auth"
	start_kubetund "ktd-$auth" "$T/profile.yaml"
	check_web "$auth kubeconfig"
	stop_kubetund
	kill "$FAKE_PID"
	wait "$FAKE_PID" 2>/dev/null || true
	pass "$auth kubeconfig carries traffic"
done

# A CA that did not sign the server certificate.
start_fake_ns fake "$KT_SOURCE_DIR/tests/fixtures/basic.yaml"

# Non-default subnet, DNS VIP, cluster domain, MTU and device name.
start_kubetund ktd-opts "$T/profile.yaml" --subnet 198.18.0.0/20 --dns-ip 198.18.15.1 \
	--cluster-domain corp.internal --mtu 1500 --tun ktopt0
nsx ip -o link show ktopt0 | grep -q 'mtu 1500' || fail "ktopt0: $(nsx ip -o link show ktopt0)"
vip=$(nsx dig +short +time=2 +tries=1 @198.18.15.1 web.shop.svc.corp.internal)
[[ $vip == 198.18.* ]] || fail "custom domain/subnet: web.shop.svc.corp.internal → '$vip'"
st=$(nsx dig +time=2 +tries=1 @198.18.15.1 web.shop.svc.cluster.local | grep -o 'status: [A-Z]*')
[ "$st" = "status: REFUSED" ] || fail "cluster.local under another domain: $st"
out=$(nsx curl -sS --max-time 10 -H 'Host: web.shop.svc.corp.internal' "http://$vip/") ||
	fail "curl $vip: $out"
[[ $out == pod=web-* ]] || fail "custom options: $out"
stop_kubetund
pass "--subnet 198.18.0.0/20 --dns-ip 198.18.15.1 --cluster-domain corp.internal --mtu 1500 --tun ktopt0"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=other-ca \
	-keyout "$T/other.key" -out "$T/other.pem" 2>/dev/null || fail "openssl"
other=$(base64 -w0 "$T/other.pem")
sed "s|certificate-authority-data: .*|certificate-authority-data: $other|" "$KCFG" >"$T/wrongca.kubeconfig"
expect_refusal wrong-ca "certificate verify failed.*kubeconfig's certificate-authority" --profile "$T/profile.yaml" --kubeconfig "$T/wrongca.kubeconfig"
# Ours is the last line; libwebsockets may log the TLS alert itself just before it.
tail -n 1 "$T/wrong-ca.log" | grep -q "certificate-authority" || fail "wrong CA: $(cat "$T/wrong-ca.log")"
[ "$(grep -vc '^kubetund: lws: ' "$T/wrong-ca.log")" = 1 ] || fail "wrong CA: more than a clear line: $(cat "$T/wrong-ca.log")"

printf 'forwards:\n  - target: svc/web\n    nmespace: shop\n' >"$T/bad.yaml"
expect_refusal bad-profile "^kubetund: $T/bad.yaml:3:5: " --profile "$T/bad.yaml" --kubeconfig "$KCFG"

nsx ip route add 198.19.7.0/24 dev lo
expect_refusal overlap '198\.19\.7\.0/24' --profile "$T/profile.yaml" --kubeconfig "$KCFG"
nsx ip route del 198.19.7.0/24 dev lo

chmod 755 "$T"
cp "$KCFG" "$T/nobody.kubeconfig"
chmod 644 "$T/nobody.kubeconfig" "$T/profile.yaml"
rc=0
timeout 10 ip netns exec "$NS" setpriv --reuid=65534 --regid=65534 --clear-groups \
	"$KUBETUND" --profile "$T/profile.yaml" --kubeconfig "$T/nobody.kubeconfig" \
	--state-dir /tmp/kt-nobody-$$ --socket /tmp/kt-nobody-$$/kubetund.sock \
	2>"$T/noperm.log" || rc=$?
rm -rf /tmp/kt-nobody-$$
[ $rc = 1 ] || fail "unprivileged: exit $rc: $(cat "$T/noperm.log")"
[ "$(wc -l <"$T/noperm.log")" = 1 ] || fail "unprivileged: not one line: $(cat "$T/noperm.log")"
pass "without CAP_NET_ADMIN: $(cat "$T/noperm.log")"
echo "auth and refusal tests passed"
