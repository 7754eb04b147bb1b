#!/usr/bin/env bash
# test_ops.sh: operating kubetund through its control socket, inside a network namespace.
#
# The fake cluster (tests/fixtures/basic.yaml, token credentials) and kubetund run in a
# namespace made for the test; the kubetun CLI and ops_client.py talk to the daemon's socket.
# Checks (issue 4, "Done when"): status --json carries every documented field with the right
# values after known traffic (bytes and connection counts equal what the test sent and
# received, an open connection counts as active, a refusing pod shows "error", a Service
# without pods "no ready pod", a broken forward its error); forward add resolves and connects
# within 1 s (also in a namespace not watched before) and adding it twice changes nothing;
# forward rm gives NXDOMAIN and ends the removed mapping's open connection; profile save and
# `up --profile` round-trip; SIGKILL and a restart without --profile restore the same set with
# the same VIPs; garbage, oversized and half-sent control requests leave the daemon serving;
# the socket is 0600 without a kubetun group and 0660 group kubetun with one (created here,
# deleted after); the kubeconfig's token appears in no log, status, reply or state file; the
# running daemon's capabilities are CAP_NET_ADMIN only.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/netns.sh"
OPS=$(dirname "$0")/ops_client.py
CLI=$KT_BUILD_DIR/kubetun
[ -x "$CLI" ] || fail "missing $CLI (build the kubetun target)"
T0=$(date +%s)

GROUP_MADE=0
ops_cleanup() {
	if [ "$GROUP_MADE" = 1 ]; then groupdel kubetun 2>/dev/null || true; fi
}
netns_create
trap 'kt_rc=$?; set +e; ops_cleanup; netns_cleanup; (exit $kt_rc); kt_cleanup' EXIT

start_fake_ns fake "$KT_SOURCE_DIR/tests/fixtures/basic.yaml" --auth token
TOKEN=$(sed -n 's/^ *token: *"\{0,1\}\([0-9A-Za-z._-]*\)"\{0,1\} *$/\1/p' "$KCFG" | head -n 1)
[ ${#TOKEN} -ge 16 ] || fail "no bearer token in the fake's kubeconfig"
kctl -n shop create service clusterip lonely --tcp=8080:8080 >/dev/null || fail "create svc lonely"

mkdir -p "$T/out"
SOCK=$T/ctl/kubetund.sock
export KUBETUN_SOCKET=$SOCK KUBETUN_PROFILE_DIR=$T/profiles KUBETUN_STATE_DIR=$T/state
# cli NAME ARGS...: runs kubetun inside the namespace, output kept in $T/out/NAME.
cli() {
	local name=$1
	shift
	nsx "$CLI" "$@" >"$T/out/$name" 2>&1
}
status_json() { nsx "$CLI" status --json >"$T/out/$1" 2>&1 || fail "status --json: $(cat "$T/out/$1")"; }
# jq-like access with python: jget FILE EXPR (EXPR over d).
jget() { $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
# st_true EXPR: the live status (d) satisfies the Python expression EXPR.
st_true() {
	nsx "$CLI" status --json 2>/dev/null |
		$PY -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if eval(sys.argv[1]) else 1)' "$1"
}

# ktd_start NAME ARGS...: kubetund in the namespace on $SOCK, waits until its forwards resolved.
ktd_start() {
	local name=$1
	shift
	KTD_LOG=$T/$name.log
	ip netns exec "$NS" "$KUBETUND" --kubeconfig "$KCFG" --state-dir "$T/state" \
		--socket "$SOCK" --no-system-dns -v "$@" >"$T/$name.out" 2>"$KTD_LOG" &
	KTD_PID=$!
	KT_PIDS+=("$KTD_PID")
	for _ in $(seq 1 200); do
		grep -q 'resolved [0-9]* forwards' "$KTD_LOG" 2>/dev/null && return 0
		kill -0 "$KTD_PID" 2>/dev/null || fail "kubetund exited: $(cat "$KTD_LOG")"
		sleep 0.05
	done
	fail "kubetund did not resolve its forwards in 10 s: $(tail -n 20 "$KTD_LOG")"
}

cat >"$T/profile.yaml" <<'EOF'
namespace: shop
forwards:
  - target: svc/web
  - target: svc/ext
  - target: svc/lonely
  - target: pod/refuser
    namespace: default
EOF
ktd_start ktd --profile "$T/profile.yaml"

# --- socket permissions without a kubetun group ----------------------------------------------
if getent group kubetun >/dev/null; then
	want_mode="660 kubetun"
else
	want_mode="600 root"
fi
[ "$(stat -c '%a %G' "$SOCK")" = "$want_mode" ] || fail "socket mode: $(stat -c '%a %G' "$SOCK")"
[ "$(stat -c '%a' "$(dirname "$SOCK")")" = 755 ] || fail "socket directory mode"
pass "control socket $want_mode"

# --- capabilities of the running daemon ------------------------------------------------------
caps() { grep -E "^$2:" "/proc/$1/status" | awk '{print $2}'; }
check_caps() {
	[ "$(caps "$1" CapEff)" = 0000000000001000 ] || fail "CapEff $(caps "$1" CapEff)"
	[ "$(caps "$1" CapPrm)" = 0000000000001000 ] || fail "CapPrm $(caps "$1" CapPrm)"
	[ "$(caps "$1" CapBnd)" = 0000000000001000 ] || fail "CapBnd $(caps "$1" CapBnd)"
	[ "$(caps "$1" CapInh)" = 0000000000000000 ] || fail "CapInh $(caps "$1" CapInh)"
	[ "$(caps "$1" CapAmb)" = 0000000000000000 ] || fail "CapAmb $(caps "$1" CapAmb)"
	[ "$(caps "$1" NoNewPrivs)" = 1 ] || fail "NoNewPrivs $(caps "$1" NoNewPrivs)"
}
check_caps "$KTD_PID"
pass "running daemon: CapEff = CapPrm = CapBnd = CAP_NET_ADMIN only, no inheritable/ambient, NoNewPrivs"

# --- known traffic, then status --------------------------------------------------------------
sent=0 recvd=0
for req in "/bytes/100000" "/discard 50000" "/"; do
	# shellcheck disable=SC2086
	out=$(nsx $PY "$OPS" exchange web.shop.svc.cluster.local 80 $req) || fail "exchange $req"
	read -r _ s _ r first <<<"$out"
	[[ $first == "HTTP/1.1 200"* ]] || fail "exchange $req: $out"
	sent=$((sent + s))
	recvd=$((recvd + r))
done
if nsx curl -sS --max-time 5 http://refuser.default.pod.cluster.local:8080/ >/dev/null 2>&1; then
	fail "refuser answered"
fi
WEB_VIP=$(nsx getent hosts web.shop.svc.cluster.local | awk '{print $1}')
nsx dig +short +time=2 +tries=1 @$DNS_VIP SRV _http._tcp.web.shop.svc.cluster.local >/dev/null
# Connections end asynchronously after the client saw EOF: wait until none is active.
wait_until 5 st_true 'all(m["active"] == 0 for m in d["mappings"])' || fail "connections stay active"
status_json status1.json
KC_CTX=$(kctl config current-context)
KC_SERVER=$(kctl config view -o jsonpath='{.clusters[0].cluster.server}')
KC_USER=$(kctl config view -o jsonpath='{.contexts[0].context.user}')
WEB_PODS=$(kctl -n shop get pods -l app=web --no-headers | awk '$2 == "1/1" {print $1}' | sort | paste -sd, -)
TUN_DEV=$(nsx ip -o link show | sed -n 's/^[0-9]*: \(kt[0-9]*\):.*/\1/p')
TUN_MTU=$(nsx cat "/sys/class/net/$TUN_DEV/mtu")
$PY - "$T/out/status1.json" <<EOF || fail "status fields: $(cat "$T/out/status1.json")"
import json, sys, calendar, time
d = json.load(open(sys.argv[1]))
def t(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))
def eq(what, got, want):
    if got != want:
        sys.exit("%s: got %r, want %r" % (what, got, want))
eq("daemon.pid", d["daemon"]["pid"], $KTD_PID)
assert isinstance(d["daemon"]["version"], str) and d["daemon"]["version"]
assert $T0 - 1 <= t(d["daemon"]["started_at"]) <= time.time() + 1, "started_at"
eq("tunnel.device", d["tunnel"]["device"], "$TUN_DEV")
eq("tunnel.subnet", d["tunnel"]["subnet"], "198.19.0.0/16")
eq("tunnel.mtu", d["tunnel"]["mtu"], $TUN_MTU)
assert t(d["daemon"]["started_at"]) <= t(d["tunnel"]["up_since"]) <= time.time() + 1, "up_since"
dns = d["dns"]
eq("dns.vip", dns["vip"], "$DNS_VIP")
eq("dns.cluster_domain", dns["cluster_domain"], "cluster.local")
eq("dns.system_dns.mode", dns["system_dns"]["mode"], "manual")
assert "--no-system-dns" in dns["system_dns"]["detail"], dns["system_dns"]
assert dns["queries_answered"] >= 3, dns
eq("dns.last_query", (dns["last_query"]["name"], dns["last_query"]["type"]),
   ("_http._tcp.web.shop.svc.cluster.local", "SRV"))
assert abs(t(dns["last_query"]["at"]) - time.time()) < 30
eq("cluster", d["cluster"], {"context": "$KC_CTX", "server": "$KC_SERVER", "user": "$KC_USER"})
api = d["api"]
assert api["watches"] >= 4 and api["watches_synced"] == api["watches"], api
eq("api.last_error", (api["last_error"], api["last_error_at"]), (None, None))
m = {(x["hostname"], x["port"]): x for x in d["mappings"]}
keys = ["hostname", "port", "vip", "target", "namespace", "pods", "state", "active", "total",
        "bytes_in", "bytes_out", "last_error", "last_error_at"]
for x in d["mappings"]:
    eq("mapping keys", sorted(x), sorted(keys))
w = m[("web.shop.svc.cluster.local", 80)]
eq("web:80", (w["vip"], w["target"], w["namespace"], ",".join(w["pods"]), w["state"]),
   ("$WEB_VIP", "svc/web", "shop", "$WEB_PODS", "ok"))
eq("web:80 connections", (w["active"], w["total"]), (0, 3))
eq("web:80 bytes", (w["bytes_in"], w["bytes_out"]), ($sent, $recvd))
eq("web:80 error", (w["last_error"], w["last_error_at"]), (None, None))
w4 = m[("web.shop.svc.cluster.local", 443)]
eq("web:443", (w4["total"], w4["bytes_in"], w4["bytes_out"], w4["state"]), (0, 0, 0, "ok"))
r = m[("refuser.default.pod.cluster.local", 8080)]
eq("refuser state", (r["state"], r["total"], r["active"]), ("error", 1, 0))
assert "error forwarding port 8080" in r["last_error"], r
assert abs(t(r["last_error_at"]) - time.time()) < 30, r
l = m[("lonely.shop.svc.cluster.local", 8080)]
eq("lonely", (l["state"], l["pods"]), ("no ready pod", []))
f = {x["target"]: x for x in d["forwards"]}
eq("forwards", sorted(f), ["pod/refuser", "svc/ext", "svc/lonely", "svc/web"])
eq("svc/web forward", (f["svc/web"]["namespace"], f["svc/web"]["ports"], f["svc/web"]["error"],
   f["svc/web"]["error_at"]), ("shop", [], None, None))
assert "without a selector" in f["svc/ext"]["error"] and f["svc/ext"]["error_at"], f["svc/ext"]
EOF
pass "status --json: every field; web:80 3 connections, $sent bytes in, $recvd bytes out, as sent"

nsx $PY "$OPS" hold web.shop.svc.cluster.local 80 "$T/hold1" &
hold_pid=$!
wait_until 10 grep -q holding "$T/hold1" || fail "hold client did not start"
wait_until 5 st_true 'any(m["active"] == 1 and m["port"] == 80 for m in d["mappings"])' ||
	fail "active connection not counted"
cli table status || fail "kubetun status: $(cat "$T/out/table")"
grep -q "^web.shop.svc.cluster.local:80 .* ok  *1/4 " "$T/out/table" || fail "status table: $(cat "$T/out/table")"
pass "an open connection counts as active (1/4 in the table)"

# --- forward rm: NXDOMAIN, its connection ended ------------------------------------------------
cli rm1 forward rm svc/web || fail "forward rm: $(cat "$T/out/rm1")"
grep -q "removed svc/web in shop" "$T/out/rm1" || fail "forward rm said: $(cat "$T/out/rm1")"
st=$(nsx dig +time=2 +tries=1 @$DNS_VIP web.shop.svc.cluster.local | grep -o 'status: [A-Z]*')
[ "$st" = "status: NXDOMAIN" ] || fail "after rm: $st"
wait $hold_pid || fail "hold client: $(cat "$T/hold1")"
ended=$(tail -n 1 "$T/hold1")
secs=${ended#ended after }
secs=${secs%% *}
[ "${secs%%.*}" -lt 2 ] || fail "removed mapping's connection ended only $ended"
nsx $PY "$OPS" exchange api.shop.svc.cluster.local 80 / >/dev/null 2>&1 && fail "api was never added"
pass "forward rm svc/web: NXDOMAIN at once, its open connection $ended"

# --- forward add: resolves and connects within 1 s -------------------------------------------
# add_and_curl TARGET NS URL: forward add, then the URL must answer within 1 s of the command.
add_and_curl() {
	local t0 t1 ms
	t0=$(date +%s%N)
	nsx "$CLI" forward add "$1" -n "$2" >"$T/out/add" 2>&1 || fail "forward add $1: $(cat "$T/out/add")"
	until nsx curl -sS --max-time 1 "$3" >"$T/out/add.curl" 2>&1; do
		ms=$((($(date +%s%N) - t0) / 1000000))
		[ $ms -lt 1000 ] || fail "$3 not served $ms ms after forward add: $(cat "$T/out/add.curl")"
		sleep 0.02
	done
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
}
ms=$(add_and_curl svc/web shop http://web.shop.svc.cluster.local/)
grep -q "added svc/web in shop: web.shop.svc.cluster.local:80" "$T/out/add" || fail "add said: $(cat "$T/out/add")"
[ "$(nsx getent hosts web.shop.svc.cluster.local | awk '{print $1}')" = "$WEB_VIP" ] ||
	fail "web came back with another VIP"
pass "forward add svc/web: curl served $ms ms after the command, same VIP $WEB_VIP"
ms=$(add_and_curl svc/kafka data http://kafka-0.kafka.data.svc.cluster.local:9092/)
grep -q "pod=kafka-0 " "$T/out/add.curl" || fail "kafka-0 answered $(cat "$T/out/add.curl")"
pass "forward add svc/kafka in a namespace not watched before: served $ms ms after the command"
cli add2 forward add svc/web -n shop || fail "second add: $(cat "$T/out/add2")"
grep -q "already forwarded: nothing changed" "$T/out/add2" || fail "second add said: $(cat "$T/out/add2")"
n=$(nsx "$PY" "$OPS" request "$SOCK" '{"version":1,"command":"forward.ls"}' |
	$PY -c 'import json,sys; print(sum(f["target"] == "svc/web" for f in json.load(sys.stdin)["result"]["forwards"]))')
[ "$n" = 1 ] || fail "svc/web listed $n times"
r=$(nsx "$PY" "$OPS" request "$SOCK" '{"version":1,"command":"forward.add","target":"svc/web","namespace":"shop"}')
[[ $r == *'"changed":false'* ]] || fail "forward.add twice: $r"
pass "adding an existing forward: no-op with a message, changed false"

cli rmport forward rm kafka-1.kafka.data.svc.cluster.local:9092 || fail "rm HOST:PORT: $(cat "$T/out/rmport")"
st=$(nsx dig +time=2 +tries=1 @$DNS_VIP kafka-1.kafka.data.svc.cluster.local | grep -o 'status: [A-Z]*')
[ "$st" = "status: NXDOMAIN" ] || fail "kafka-1 after rm: $st"
cli rmnone forward rm nothing.shop.svc.cluster.local:80 && fail "rm of an unknown name succeeded"
grep -q "no forward matches nothing.shop.svc.cluster.local:80" "$T/out/rmnone" || fail "rm unknown: $(cat "$T/out/rmnone")"
cli add3 forward add svc/kafka -n data || fail "re-add kafka"
cli add4 forward add svc/api || fail "add api: $(cat "$T/out/add4")"
pass "forward rm HOST:PORT drops the port (NXDOMAIN); an unknown name is an error"

# --- the control socket under abuse ----------------------------------------------------------
nsx $PY "$OPS" abuse "$SOCK" >"$T/out/abuse" 2>&1 || fail "$(cat "$T/out/abuse")"
out=$(nsx curl -sS --max-time 5 http://api.shop.svc.cluster.local/) || fail "curl after abuse"
kill -0 "$KTD_PID" || fail "daemon died"
pass "$(cat "$T/out/abuse"); still serving: $out"

# --- profile save, down, up --profile --------------------------------------------------------
cli save profile save mine || fail "profile save: $(cat "$T/out/save")"
[ -f "$T/profiles/mine.yaml" ] || fail "no $T/profiles/mine.yaml"
ls_json() { nsx "$PY" "$OPS" request "$SOCK" '{"version":1,"command":"forward.ls"}' >"$T/out/$1"; }
vips() { nsx "$CLI" status --json | $PY -c 'import json,sys; print(sorted((m["hostname"], m["port"], m["vip"]) for m in json.load(sys.stdin)["mappings"]))'; }
ls_json ls-before
VIPS_BEFORE=$(vips)
cli down down || fail "down: $(cat "$T/out/down")"
wait "$KTD_PID" || fail "kubetund exited non-zero after down: $(tail "$KTD_LOG")"
[ ! -e "$SOCK" ] || fail "socket left after down"
nsx env KUBECONFIG="$KCFG" KUBETUND="$KUBETUND" "$CLI" up --profile mine >"$T/out/up" 2>&1 ||
	fail "up --profile mine: $(cat "$T/out/up")"
grep -q "kubetund is up" "$T/out/up" || fail "up said: $(cat "$T/out/up")"
RESOLVED='d["forwards"] and all(f["error"] != "waiting for the API server" for f in d["forwards"])'
wait_until 10 st_true "$RESOLVED" || fail "up: not resolved"
ls_json ls-up
cmp -s <(jget "$T/out/ls-before" 'json.dumps(d["result"],sort_keys=True)') \
	<(jget "$T/out/ls-up" 'json.dumps(d["result"],sort_keys=True)') ||
	fail "forward.ls after up --profile: $(cat "$T/out/ls-up") vs $(cat "$T/out/ls-before")"
[ "$(vips)" = "$VIPS_BEFORE" ] || fail "VIPs after up: $(vips) vs $VIPS_BEFORE"
UP_PID=$(nsx "$CLI" status --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["daemon"]["pid"])')
check_caps "$UP_PID"
pass "profile save mine; down; up --profile mine: same forwards, same VIPs, CAP_NET_ADMIN only"

# --- SIGKILL, restart without --profile, a kubetun group -------------------------------------
kill -KILL "$UP_PID"
wait_until 5 bash -c "! kill -0 $UP_PID" || fail "kubetund survived SIGKILL"
[ -S "$SOCK" ] || fail "expected the killed daemon's socket to be left behind"
if ! getent group kubetun >/dev/null; then
	groupadd --system kubetun
	GROUP_MADE=1
fi
ktd_start ktd3
grep -q "restored the last active set" "$KTD_LOG" || fail "no restore line: $(head "$KTD_LOG")"
ls_json ls-restored
cmp -s <(jget "$T/out/ls-before" 'json.dumps(d["result"],sort_keys=True)') \
	<(jget "$T/out/ls-restored" 'json.dumps(d["result"],sort_keys=True)') ||
	fail "restored set: $(cat "$T/out/ls-restored")"
wait_until 10 st_true "$RESOLVED" || fail "restore: not resolved"
[ "$(vips)" = "$VIPS_BEFORE" ] || fail "VIPs after restart: $(vips) vs $VIPS_BEFORE"
out=$(nsx curl -sS --max-time 5 http://web.shop.svc.cluster.local/) || fail "curl after restore"
[ "$(stat -c '%a %G' "$SOCK")" = "660 kubetun" ] || fail "socket with group: $(stat -c '%a %G' "$SOCK")"
pass "SIGKILL + restart without --profile: same set, same VIPs, serving; socket 660 group kubetun"
if [ "$GROUP_MADE" = 1 ]; then
	groupdel kubetun
	GROUP_MADE=0
fi

# --- the token is nowhere ----------------------------------------------------------------------
status_json status-final.json
cli bad forward add svc/nope -n nowhere || true
cli final-table status || true
files=("$T"/ktd*.log "$T/state/kubetund.log" "$T"/out/* "$T"/state/active.yaml "$T"/state/vips
	"$T/profiles/mine.yaml")
for f in "${files[@]}"; do [ -f "$f" ] || fail "expected $f"; done
if grep -lF "$TOKEN" "${files[@]}"; then
	fail "the bearer token leaked into the files above"
fi
pass "the bearer token appears in none of ${#files[@]} logs, status, replies and state files"

cli down2 down || fail "final down"
wait "$KTD_PID" || fail "kubetund exited non-zero"

# --- under sudo: exec credential plugins run as the invoking user ----------------------------
# A second fake cluster whose kubeconfig has an exec plugin; a wrapper records who runs it.
# `kubetun up` sees SUDO_USER=nobody and passes --exec-as-uid/--exec-as-gid 65534.
if getent passwd 65534 >/dev/null; then
	grep -q -- '--exec-as-uid UID' <("$KUBETUND" --help) || fail "kubetund --help lacks --exec-as-uid"
	KCFG1=$KCFG
	start_fake_ns fake-exec "$KT_SOURCE_DIR/tests/fixtures/basic.yaml" --auth exec
	PUB=$T/pub
	mkdir -m 755 "$PUB"
	chmod 711 "$T"
	cp "$KCFG.exec-plugin" "$PUB/real-plugin"
	printf '#!/bin/sh\necho "$(id -u) $(id -g) $HOME" >>"%s/plugin.who"\nexec sh "%s/real-plugin"\n' \
		"$PUB" "$PUB" >"$PUB/plugin"
	chmod 755 "$PUB/plugin" "$PUB/real-plugin"
	install -m 666 /dev/null "$PUB/plugin.who"
	sed "s|command: .*|command: \"$PUB/plugin\"|" "$KCFG" >"$T/exec.kubeconfig"
	printf 'namespace: shop\nforwards:\n  - target: svc/web\n' >"$T/exec-profile.yaml"
	nsx env SUDO_USER=nobody SUDO_UID=65534 SUDO_GID=65534 KUBECONFIG="$T/exec.kubeconfig" \
		KUBETUND="$KUBETUND" KUBETUN_STATE_DIR="$T/state-exec" "$CLI" up \
		--profile "$T/exec-profile.yaml" >"$T/out/up-sudo" 2>&1 || fail "sudo up: $(cat "$T/out/up-sudo")"
	EX_PID=$(nsx "$CLI" status --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["daemon"]["pid"])')
	tr '\0' ' ' <"/proc/$EX_PID/cmdline" | grep -q -- '--exec-as-uid 65534 --exec-as-gid 65534' ||
		fail "daemon argv: $(tr '\0' ' ' <"/proc/$EX_PID/cmdline")"
	out=$(nsx curl -sS --max-time 10 http://web.shop.svc.cluster.local/) || fail "curl with the exec plugin: $out"
	[ "$(sort -u "$PUB/plugin.who")" = "65534 65534 /nonexistent" ] ||
		fail "the plugin ran as: $(cat "$PUB/plugin.who")"
	[ "$(caps "$EX_PID" CapEff)" = 00000000000010c0 ] || fail "CapEff with --exec-as-uid: $(caps "$EX_PID" CapEff)"
	[ "$(caps "$EX_PID" CapBnd)" = 00000000000010c0 ] || fail "CapBnd with --exec-as-uid"
	cli down3 down || fail "down after sudo up"
	pass "sudo up: the exec plugin ran as nobody (65534, HOME /nonexistent); the daemon keeps NET_ADMIN, SETUID, SETGID"
	KCFG=$KCFG1
fi
if grep -lF "$TOKEN" "$T"/out/* "$T/state-exec/kubetund.log" 2>/dev/null; then
	fail "the bearer token leaked"
fi
echo "ops tests passed in $(($(date +%s) - T0)) s"
