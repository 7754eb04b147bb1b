#!/usr/bin/env bash
# test_ops_sysdns.sh: kubetund and the real systemd-resolved: registration after the TUN is up,
# names resolving for glibc programs through resolved's stub, the status block, revert at exit.
#
# The environment is test_sysdns_resolved.sh's (read it for the details): systemd-resolved from
# Debian's package unpacked into the build directory (cached, never installed), run as
# uid 65534 beside a private dbus-daemon in a private mount namespace (tmpfs on /run, our file on
# /etc/resolv.conf) inside the test's network namespace. kubetund runs there too, with
# DBUS_SYSTEM_BUS_ADDRESS naming that bus (which also tells it to trust the bus although its
# network namespace is not PID 1's). Checks:
#   - without resolved on the bus: status says "manual" with the one-line hint, logged once;
#   - with resolved: the TUN link gets the DNS VIP and shop's search domains; `getent hosts web`
#     and `curl http://web/` go through resolved's stub to kubetund; status says "resolved";
#   - after the privilege drop (uid 0, CAP_NET_ADMIN only) the exit-time RevertLink is accepted.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/netns.sh"

# A cache of our own: test_sysdns_resolved.sh may be unpacking into its own at the same time.
CACHE=$KT_BUILD_DIR/sysdns-resolved-ops
CLI=$KT_BUILD_DIR/kubetun
for t in dbus-daemon unshare nsenter setpriv apt-get dpkg-deb; do
	command -v "$t" >/dev/null || fail "$t missing (scripts/bootstrap.sh installs the test tools)"
done

# ---- systemd-resolved, unpacked from Debian's packages (not installed).
source "$(dirname "$0")/resolved.sh"

netns_create
HOLD_PID=
trap 'kt_rc=$?; set +e; [ -z "$HOLD_PID" ] || kill "$HOLD_PID"; netns_cleanup; (exit $kt_rc); kt_cleanup' EXIT
start_fake_ns fake "$KT_SOURCE_DIR/tests/fixtures/basic.yaml"

# The private mount namespace with its own bus (resolved.sh).
resolved_sandbox 'DNS=\nFallbackDNS=\nLLMNR=no\nMulticastDNS=no\n'

cat >"$T/profile.yaml" <<'EOF'
namespace: shop
forwards:
  - target: svc/web
EOF
# ktd NAME: kubetund inside the mount namespace, on the private bus.
ktd() {
	KTD_LOG=$T/$1.log
	KTD_SOCK=$T/$1.sock
	# nsenter itself, not inns: a backgrounded function would be a subshell and $! its pid.
	nsenter --target "$HOLD_PID" --mount --net -- \
		env DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/dbus/system_bus_socket "$KUBETUND" \
		--profile "$T/profile.yaml" --kubeconfig "$KCFG" --state-dir "$T/state" \
		--socket "$KTD_SOCK" -v >"$T/$1.out" 2>"$KTD_LOG" &
	KTD_PID=$!
	KT_PIDS+=("$KTD_PID")
	wait_until 10 grep -q 'resolved [0-9]* forwards' "$KTD_LOG" ||
		fail "kubetund did not resolve its forwards: $(tail -n 20 "$KTD_LOG")"
}
sysdns() {
	"$CLI" --socket "$KTD_SOCK" status --json |
		$PY -c 'import json,sys; s=json.load(sys.stdin)["dns"]["system_dns"]; print(s["mode"]); print(s["detail"])'
}

# --- no resolved on the bus: the manual hint -------------------------------------------------
ktd ktd-manual
out=$(sysdns)
[ "$(head -n 1 <<<"$out")" = manual ] || fail "without resolved: $out"
[[ $(tail -n 1 <<<"$out") == "no systemd-resolved: "*"server=/cluster.local/198.19.0.53"* ]] ||
	fail "hint: $out"
[ "$(grep -c 'no systemd-resolved: ' "$KTD_LOG")" = 1 ] || fail "hint not logged once: $(cat "$KTD_LOG")"
stop_kubetund
pass "no resolved: mode manual, the hint logged once: $(tail -n 1 <<<"$out" | cut -c1-60)…"

# --- resolved ------------------------------------------------------------------------------
start_resolved
wait_until 10 inns test -f /run/systemd/resolve/stub-resolv.conf ||
	fail "systemd-resolved did not start: $(tail -n 5 "$T/resolved.log")"
wait_until 10 rctl status >/dev/null || fail "resolvectl cannot reach resolved"

ktd ktd
dev=$(inns ip -o link show | sed -n 's/^[0-9]*: \(kt[0-9]*\):.*/\1/p')
idx=$(inns cat "/sys/class/net/$dev/ifindex")
[ "$(rctl dns "$dev")" = "Link $idx ($dev): 198.19.0.53" ] || fail "resolvectl dns: $(rctl dns "$dev")"
[ "$(rctl domain "$dev")" = "Link $idx ($dev): shop.svc.cluster.local svc.cluster.local cluster.local" ] ||
	fail "resolvectl domain: $(rctl domain "$dev")"
[ "$(rctl default-route "$dev")" = "Link $idx ($dev): no" ] || fail "default-route: $(rctl default-route "$dev")"
out=$(sysdns)
[ "$(head -n 1 <<<"$out")" = resolved ] || fail "status: $out"
[ "$(tail -n 1 <<<"$out")" = "per-link DNS 198.19.0.53 on $dev, domains shop.svc.cluster.local svc.cluster.local cluster.local" ] ||
	fail "detail: $out"
pass "registered: $(tail -n 1 <<<"$out") (resolvectl agrees)"

# Programs resolve through resolved's stub (as with /etc/resolv.conf -> stub-resolv.conf).
inns cat /run/systemd/resolve/stub-resolv.conf >"$T/resolv.conf"
vip=$("$CLI" --socket "$KTD_SOCK" status --json |
	$PY -c 'import json,sys; print(json.load(sys.stdin)["mappings"][0]["vip"])')
for name in web web.shop web.shop.svc.cluster.local; do
	got=$(inns getent ahostsv4 "$name" | awk 'NR == 1 {print $1}')
	[ "$got" = "$vip" ] || fail "getent $name: '$got', want $vip"
done
out=$(inns curl -sS --max-time 10 http://web/) || fail "curl http://web/: $out"
[[ $out == "pod=web-"*" namespace=shop port=80" ]] || fail "curl http://web/ answered $out"
if inns getent ahostsv4 example.com >/dev/null; then fail "example.com resolved"; fi
pass "getent web / web.shop / FQDN → $vip through resolved; curl http://web/ → $out"

caps=$(awk '/^CapEff:/ {print $2}' "/proc/$KTD_PID/status")
[ "$caps" = 0000000000001000 ] || fail "CapEff $caps"
stop_kubetund
grep -q "systemd-resolved: link $idx reverted" "$KTD_LOG" || fail "no revert: $(tail -n 5 "$KTD_LOG")"
if grep -q 'systemd-resolved: .*AccessDenied' "$KTD_LOG"; then fail "revert refused: $(cat "$KTD_LOG")"; fi
pass "SIGTERM: RevertLink accepted from the dropped daemon (uid 0, CAP_NET_ADMIN only)"
echo "system DNS tests passed"
