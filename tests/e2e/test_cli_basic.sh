#!/usr/bin/env bash
# The kubetun CLI against ctl_stub, a control-socket-only stand-in for kubetund (tests/e2e/
# ctl_stub.c): --help everywhere, exit statuses 0/1/2, up/down (detached start, log tail on a
# failed start, sudo identity), status as an aligned table and as JSON, colour only on a
# terminal, terminal-safe output of daemon text, forward add/rm/ls, and the profile
# save/ls/show/rm round trip through `up --profile`.
source "$(dirname "$0")/lib.sh"

CLI=$KT_BUILD_DIR/kubetun
STUB=$KT_BUILD_DIR/tests/ctl_stub
[ -x "$CLI" ] || fail "no $CLI"
[ -x "$STUB" ] || fail "no $STUB"
PY=/usr/bin/python3

export KUBETUN_SOCKET=$T/run/ctl.sock
export KUBETUN_PROFILE_DIR=$T/profiles
export KUBETUN_STATE_DIR=$T/state
export KUBETUND=$STUB
unset NO_COLOR KUBECONFIG SUDO_USER SUDO_UID SUDO_GID CTL_STUB_STATUS CTL_STUB_FAIL

cli_cleanup() {
  local rc=$?
  # A detached stub is no child of ours: stop it through its socket, then by pid.
  if [ -S "$KUBETUN_SOCKET" ]; then
    local pid
    pid=$("$CLI" status --json 2>/dev/null | $PY -c 'import json,sys; print(json.load(sys.stdin)["stub"]["pid"])' 2>/dev/null || true)
    "$CLI" down >/dev/null 2>&1 || true
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
  fi
  (exit $rc)
  kt_cleanup
}
trap cli_cleanup EXIT

# expect RC CMD...: runs CMD, output in $OUT (stdout) and $ERR (stderr), checks the status.
expect() {
  local want=$1; shift
  local rc=0
  OUT=$("$@" 2>"$T/stderr") || rc=$?
  ERR=$(cat "$T/stderr")
  [ "$rc" = "$want" ] || fail "'$*' exited $rc, want $want; stdout: $OUT; stderr: $ERR"
}

stub_json() { "$CLI" status --json | $PY -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# --- help and usage ---------------------------------------------------------------------------
for c in "" status forward "forward add" "forward rm" "forward ls" up down profile \
         "profile save" "profile ls" "profile show" "profile rm" demo help; do
  # shellcheck disable=SC2086
  expect 0 "$CLI" $c --help
  [[ $OUT == usage:\ kubetun* ]] || fail "'kubetun $c --help' does not start with usage: $OUT"
  [ -z "$ERR" ] || fail "'kubetun $c --help' wrote to stderr: $ERR"
done
expect 0 "$CLI" help forward
[[ $OUT == *"forward add"* ]] || fail "help forward: $OUT"
pass "--help on every command, exit 0, on stdout"

expect 2 "$CLI"
expect 2 "$CLI" bogus
[[ $ERR == *"unknown command 'bogus'"* ]] || fail "bogus: $ERR"
expect 2 "$CLI" status --bogus
expect 2 "$CLI" status extra
expect 2 "$CLI" forward
expect 2 "$CLI" forward nope
expect 2 "$CLI" forward add
expect 2 "$CLI" forward add svc/Bad
[[ $ERR == *'not a valid service name'* ]] || fail "svc/Bad: $ERR"
expect 2 "$CLI" forward add svc/web --port 0
expect 2 "$CLI" forward add svc/web --port 80,80
expect 2 "$CLI" forward add svc/web -n Bad_NS
expect 2 "$CLI" forward rm
expect 2 "$CLI" profile save ../etc
expect 2 "$CLI" profile save .hidden
expect 2 "$CLI" profile show
expect 2 "$CLI" up extra
expect 2 "$CLI" --socket
pass "usage errors exit 2"

# --- not running ------------------------------------------------------------------------------
expect 1 "$CLI" status
[[ $ERR == *"kubetund is not running"* ]] || fail "status without daemon: $ERR"
expect 1 "$CLI" forward ls
expect 0 "$CLI" down
pass "no daemon: status/forward fail with 1, down is a no-op"
# `kubetun demo` runs tools/kubetun/demo.sh with its arguments (test_demo.sh runs the tour).
expect 2 "$CLI" demo --bogus
[[ $ERR == *'unknown argument "--bogus"'* ]] || fail "demo --bogus: $ERR"
pass "kubetun demo passes its arguments to demo.sh"

# --- a failed start shows the log -------------------------------------------------------------
expect 1 env CTL_STUB_FAIL=1 "$CLI" up
[[ $ERR == *"exited during start-up"* ]] || fail "failed up: $ERR"
[[ $ERR == *"cannot create a TUN device"* ]] || fail "failed up shows no log tail: $ERR"
pass "up: a daemon that dies at start fails with its log's last lines"

# --- up with a profile file, status ------------------------------------------------------------
mkdir -p "$T/cfg"
cat >"$T/cfg/start.yaml" <<'EOF'
namespace: shop
forwards:
  - target: svc/web
    ports: [80, 443]
  - target: deploy/api
    namespace: backend
EOF
(cd "$T/cfg" && expect 0 "$CLI" up --profile ./start.yaml -v) || exit 1
OUT=$("$CLI" up --profile "$T/cfg/start.yaml" 2>&1) && fail "second up with a profile succeeded"
expect 0 "$CLI" up
[[ $OUT == *"already running"* ]] || fail "second up: $OUT"
argv=$(stub_json '" ".join(d["stub"]["argv"])')
[ "$argv" = "--profile $T/cfg/start.yaml -v --socket $KUBETUN_SOCKET --state-dir $KUBETUN_STATE_DIR" ] ||
  fail "up passed: $argv"
[ -s "$KUBETUN_STATE_DIR/kubetund.log" ] || fail "no daemon log"
pass "up --profile FILE starts the daemon detached with an absolute profile path"

expect 0 "$CLI" status
[[ $OUT != *$'\033'* ]] || fail "colour in piped output"
grep -q '^tunnel  *kt0  198.19.0.0/16  MTU 16384' <<<"$OUT" || fail "status tunnel line: $OUT"
grep -q '^system dns  *manual: point cluster.local at 198.19.0.53' <<<"$OUT" || fail "system dns: $OUT"
grep -q '^dns queries  *42 answered; last web.shop.svc.cluster.local A' <<<"$OUT" || fail "dns: $OUT"
grep -q '^api  *4/4 watches synced; no error' <<<"$OUT" || fail "api: $OUT"
grep -Eqx 'forward svc/gone in shop: services "gone" not found \([0-9dhms]+ ago\)' <<<"$OUT" ||
  fail "forward error line: $OUT"
# The mapping table: every column starts at the same offset on every line.
$PY - "$OUT" <<'PY' || fail "status table not aligned: $OUT"
import sys
lines = sys.argv[1].split("\n")
h = [i for i, l in enumerate(lines) if l.startswith("HOSTNAME:PORT")][0]
head = lines[h]
rows = lines[h + 1:lines.index("", h)]
assert len(rows) == 3, rows
cols = ["VIP", "TARGET", "NAMESPACE", "PODS", "STATE", "CONNS", "IN", "OUT", "LAST ERROR"]
starts = [head.index(" " + c + " " if c != "LAST ERROR" else " " + c) + 1 for c in cols]
want = [["198.19.12.7", "svc/web", "shop", "web-1,web-2", "ok", "1/20", "1.0 KiB", "5.0 MiB", "-"],
        ["198.19.12.7", "svc/web", "shop", "web-1,web-2", "ok", "0/3", "10 B", "20 B", "-"],
        ["198.19.200.1", "svc/db", "data", "-", "no ready pod", "0/2", "0 B", "0 B",
         "pod db-0 refused port 5432 ("]]
for r, w in zip(rows, want):
    for s, cell in zip(starts, w):
        assert r[s:s + len(cell)] == cell, (r, s, cell)
        assert r[s - 1] == " ", (r, s)
    assert not r.endswith(" "), r
assert rows[0].startswith("web.shop.svc.cluster.local:80 ")
assert rows[2].startswith("db.data.svc.cluster.local:5432 ")
PY
pass "status: summary lines and an aligned mapping table, no colour when piped"

expect 0 "$CLI" status --json
echo "$OUT" | $PY -c '
import json, sys
d = json.load(sys.stdin)
for k in ("tunnel", "dns", "cluster", "api", "mappings"):
    assert k in d, k
m = d["mappings"][0]
for k in ("hostname", "port", "vip", "target", "namespace", "pods", "state", "active", "total",
          "bytes_in", "bytes_out", "last_error", "last_error_at"):
    assert k in m, k
assert d["dns"]["system_dns"]["mode"] in ("resolved", "manual")
' || fail "status --json: $OUT"
pass "status --json prints the daemon's status object"

if command -v script >/dev/null; then
  col=$(script -qec "$CLI status" /dev/null)
  [[ $col == *$'\033[32mok\033[0m'* ]] || fail "no colour on a terminal: $col"
  [[ $col == *$'\033[33mno ready pod\033[0m'* ]] || fail "no yellow state: $col"
  col=$(NO_COLOR=1 script -qec "$CLI status" /dev/null)
  [[ $col != *$'\033'* ]] || fail "colour despite NO_COLOR"
  pass "colour only on a terminal, and not with NO_COLOR"
fi

# --- forward add/rm/ls ------------------------------------------------------------------------
expect 0 "$CLI" forward ls
[ "$(head -1 <<<"$OUT")" = "TARGET      NAMESPACE       PORTS" ] || fail "forward ls header: $OUT"
grep -qx 'svc/web     shop (default)  80,443' <<<"$OUT" || fail "forward ls: $OUT"
grep -qx 'deploy/api  backend         all' <<<"$OUT" || fail "forward ls: $OUT"
expect 0 "$CLI" forward add svc/db -n data --port 5432 -p 5433
[ "$OUT" = "added svc/db" ] || fail "forward add: $OUT"
expect 0 "$CLI" forward add svc/db -n data
[ "$OUT" = "already forwarded" ] || fail "forward add twice: $OUT"
expect 0 "$CLI" forward ls --json
echo "$OUT" | $PY -c '
import json, sys
d = json.load(sys.stdin)
f = [f for f in d["forwards"] if f["target"] == "svc/db"]
assert f == [{"target": "svc/db", "namespace": "data", "ports": [5432, 5433]}], f
assert d["namespace"] == "shop"
' || fail "forward ls --json: $OUT"
expect 1 "$CLI" forward rm svc/nope
[ "$ERR" = "kubetun: no forward matches svc/nope" ] || fail "forward rm unknown: $ERR"
expect 0 "$CLI" forward rm svc/db -n data
[ "$OUT" = "removed svc/db" ] || fail "forward rm: $OUT"
pass "forward add/rm/ls: added, existing is a no-op, unknown is an error"

# --- profiles ---------------------------------------------------------------------------------
expect 0 "$CLI" profile ls
[[ $OUT == "no profiles in $KUBETUN_PROFILE_DIR" ]] || fail "profile ls empty: $OUT"
expect 0 "$CLI" forward add pod/debug -n tools --port 22
expect 0 "$CLI" profile save dev
[[ $OUT == "saved profile dev (3 forwards): $KUBETUN_PROFILE_DIR/dev.yaml" ]] || fail "save: $OUT"
expect 0 "$CLI" profile save dev
[[ $OUT == "replaced profile dev"* ]] || fail "save again: $OUT"
expect 0 "$CLI" profile ls
grep -qx 'dev   3         (current)  shop' <<<"$OUT" || fail "profile ls: $OUT"
expect 0 "$CLI" profile show dev
grep -q 'target: "\?svc/web' <<<"$OUT" || fail "profile show: $OUT"
grep -q 'namespace: "\?tools' <<<"$OUT" || fail "profile show: $OUT"
echo "unknown: key" >"$KUBETUN_PROFILE_DIR/broken.yaml"
expect 1 "$CLI" profile show broken
[[ $ERR == *"broken.yaml:1:1: "* ]] || fail "profile show broken: $ERR"
expect 0 "$CLI" profile ls
grep -q '^broken  invalid' <<<"$OUT" || fail "profile ls broken: $OUT"
expect 0 "$CLI" profile rm broken
before=$("$CLI" forward ls --json)

# Round trip: down, up --profile NAME, the same forwards.
expect 0 "$CLI" down
[ ! -e "$KUBETUN_SOCKET" ] || fail "socket left after down"
expect 1 "$CLI" status
expect 0 "$CLI" up --profile dev
after=$("$CLI" forward ls --json)
[ "$before" = "$after" ] || fail "profile round trip: $before != $after"
[ "$(stub_json 'd["stub"]["argv"][1]')" = "$KUBETUN_PROFILE_DIR/dev.yaml" ] || fail "up --profile NAME path"
expect 0 "$CLI" profile rm dev
[ "$OUT" = "removed profile dev" ] || fail "profile rm: $OUT"
expect 1 "$CLI" profile rm dev
expect 1 "$CLI" profile show dev
expect 1 "$CLI" up --profile dev
pass "profile save/ls/show/rm and the up --profile round trip"

# --- daemon text is made terminal-safe ---------------------------------------------------------
expect 0 "$CLI" down
cat >"$T/evil.json" <<'EOF'
{"tunnel":{"device":"kt0\u001b[31m"},"mappings":[{"hostname":"a\u001b]0;pwned\u0007.svc","port":1,"state":"error","last_error":"bad\u001b[2Jthing","last_error_at":"2020-01-01T00:00:00Z"}]}
EOF
expect 0 env CTL_STUB_STATUS="$T/evil.json" "$CLI" up
expect 0 "$CLI" status
[[ $OUT != *$'\033'* && $OUT != *$'\007'* ]] || fail "escape sequences reached the terminal: $OUT"
[[ $OUT == *'a?]0;pwned?.svc:1'* ]] || fail "sanitised hostname: $OUT"
[[ $OUT == *'bad?[2Jthing'* ]] || fail "sanitised error: $OUT"
pass "control characters from the daemon are replaced before printing"

# --- sudo: the invoking user's kubeconfig and identity ------------------------------------------
if [ "$(id -u)" = 0 ] && getent passwd nobody >/dev/null; then
  expect 0 "$CLI" down
  home=$(getent passwd nobody | cut -d: -f6)
  uid=$(id -u nobody)
  gid=$(id -g nobody)
  expect 0 env SUDO_USER=nobody SUDO_UID="$uid" SUDO_GID="$gid" "$CLI" up
  argv=$(stub_json '" ".join(d["stub"]["argv"])')
  [ "$argv" = "--kubeconfig $home/.kube/config --socket $KUBETUN_SOCKET --state-dir $KUBETUN_STATE_DIR --exec-as-uid $uid --exec-as-gid $gid" ] ||
    fail "sudo up passed: $argv"
  expect 0 "$CLI" down
  # KUBECONFIG kept by sudo: a list stays a list (absolute) in the daemon's environment.
  (cd "$T" && expect 0 env SUDO_USER=nobody SUDO_UID="$uid" SUDO_GID="$gid" \
     KUBECONFIG="a.yaml:/x/b.yaml" "$CLI" up) || exit 1
  [ "$(stub_json 'd["stub"]["kubeconfig_env"]')" = "$T/a.yaml:/x/b.yaml" ] || fail "KUBECONFIG list"
  expect 0 "$CLI" down
  (cd "$T" && expect 0 env SUDO_USER=nobody SUDO_UID="$uid" SUDO_GID="$gid" \
     KUBECONFIG="cfg/one.yaml" "$CLI" up) || exit 1
  [ "$(stub_json 'd["stub"]["argv"][1]')" = "$T/cfg/one.yaml" ] || fail "KUBECONFIG single file"
  pass "under sudo: the user's kubeconfig and --exec-as-uid/--exec-as-gid"
fi

# --- --systemd: the environment file contract, with a stand-in systemctl ------------------------
# The fake systemctl reads the unit's EnvironmentFile the way systemd does (KEY=rest of line)
# and runs "kubetund $KUBETUND_ARGS" (word-split, as systemd splits an unbraced $VAR).
expect 0 "$CLI" down
mkdir -p "$T/bin"
cat >"$T/bin/systemctl" <<'SH'
#!/usr/bin/env bash
echo "$*" >>"$KT_T/systemctl.log"
if [ "$1" = start ]; then
  while IFS= read -r line; do
    case $line in
      KUBETUND_ARGS=*) args=${line#KUBETUND_ARGS=} ;;
      KUBECONFIG=*) export "${line?}" ;;
    esac
  done <"$KUBETUN_SYSTEMD_ENV"
  # shellcheck disable=SC2086
  setsid "$KUBETUND" $args </dev/null >>"$KT_T/systemd-unit.log" 2>&1 &
  echo $! >"$KT_T/unit.pid"
elif [ "$1" = stop ]; then
  kill "$(cat "$KT_T/unit.pid")"
fi
SH
chmod +x "$T/bin/systemctl"
export KT_T=$T KUBETUN_SYSTEMD_ENV=$T/kubetund.env
sd() { PATH="$T/bin:$PATH" "$@"; }
expect 0 sd "$CLI" up --systemd --context dev
[ "$OUT" = "kubetund is up (kubetund.service, socket $KUBETUN_SOCKET)" ] || fail "up --systemd: $OUT"
grep -qx "KUBETUND_ARGS=--context dev --socket $KUBETUN_SOCKET --state-dir $KUBETUN_STATE_DIR" \
  "$KUBETUN_SYSTEMD_ENV" || fail "env file: $(cat "$KUBETUN_SYSTEMD_ENV")"
argv=$(stub_json '" ".join(d["stub"]["argv"])')
[ "$argv" = "--context dev --socket $KUBETUN_SOCKET --state-dir $KUBETUN_STATE_DIR" ] ||
  fail "the unit's daemon got: $argv"
expect 0 sd "$CLI" down --systemd
grep -qxF "stop kubetund.service kubetund@*.service" "$T/systemctl.log" ||
  fail "systemctl: $(cat "$T/systemctl.log")"
wait_until 5 test ! -e "$KUBETUN_SOCKET" || fail "socket left after down --systemd"
expect 1 sd "$CLI" up --systemd --kubeconfig "$T/a b"
[[ $ERR == *"cannot be passed through the unit's environment file"* ]] || fail "blank in arg: $ERR"
if [ "$(id -u)" = 0 ] && getent passwd nobody >/dev/null; then
  expect 0 sd env SUDO_USER=nobody SUDO_UID="$(id -u nobody)" SUDO_GID="$(id -g nobody)" \
    "$CLI" up --systemd
  [[ $OUT == "kubetund is up (kubetund@nobody.service, "* ]] || fail "sudo up --systemd: $OUT"
  grep -q -- "--exec-as-uid" "$KUBETUN_SYSTEMD_ENV" && fail "exec-as for a unit that runs as the user"
  grep -q -- "--kubeconfig $(getent passwd nobody | cut -d: -f6)/.kube/config" \
    "$KUBETUN_SYSTEMD_ENV" || fail "sudo --systemd kubeconfig: $(cat "$KUBETUN_SYSTEMD_ENV")"
  expect 0 sd "$CLI" down --systemd
  wait_until 5 test ! -e "$KUBETUN_SOCKET" || fail "socket left after down --systemd"
fi
unset KUBETUN_SYSTEMD_ENV
pass "up/down --systemd: options through the unit's environment file"

expect 0 "$CLI" up
expect 0 "$CLI" down
[[ $OUT == "kubetund stopped" ]] || fail "down: $OUT"
[ ! -e "$KUBETUN_SOCKET" ] || fail "socket left after down"
pass "down stops the daemon and its socket goes away"
