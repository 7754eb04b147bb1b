#!/usr/bin/env bash
# test_demo.sh: `kubetun demo --no-shell` (tools/kubetun/demo.sh) end to end, non-interactively.
#
# Runs the demo with the built binaries (KT_BIN_DIR), stdin closed and no terminal, and checks:
# exit status 0 and every step of the tour reported; afterwards its network namespace,
# /etc/netns/<ns>, temporary directory and processes are gone. Then the Ctrl-C path: SIGINT in
# the middle of the tour stops it with status 130 and cleans up the same way. A usage error
# exits 2 before creating anything.
source "$(dirname "$0")/lib.sh"
DEMO=$KT_SOURCE_DIR/tools/kubetun/demo.sh
for b in kubetund kubetun kubetun-fake-cluster; do
	[ -x "$KT_BUILD_DIR/$b" ] || fail "missing $KT_BUILD_DIR/$b (build it first)"
done

# gone NS TMPDIR: nothing of that run is left.
gone() {
	local ns=$1 tmp=$2
	ip netns list | grep -qw "$ns" && fail "namespace $ns left behind"
	[ ! -e "/etc/netns/$ns" ] || fail "/etc/netns/$ns left behind"
	[ ! -e "$tmp" ] || fail "$tmp left behind"
	# Processes of that run: anything started with a path inside its temporary directory.
	if pgrep -f -- "$tmp/" >/dev/null; then
		fail "processes left behind: $(pgrep -af -- "$tmp/")"
	fi
	return 0
}

# --- the whole tour --------------------------------------------------------------------------
rc=0
# Through the CLI, as the README says: `kubetun demo` finds demo.sh in the source tree.
KT_BIN_DIR=$KT_BUILD_DIR timeout 300 "$KT_BUILD_DIR/kubetun" demo --no-shell </dev/null >"$T/demo.log" 2>&1 || rc=$?
[ $rc = 0 ] || fail "demo exited with $rc: $(tail -n 30 "$T/demo.log")"
ns=$(grep -o 'namespace, kt-demo-[0-9]*' "$T/demo.log" | head -n 1 | cut -d' ' -f2)
tmp=$(grep -o '/tmp/kubetun-demo\.[A-Za-z0-9]*' "$T/demo.log" | head -n 1)
[[ $ns == kt-demo-* ]] || fail "demo did not name its namespace: $(head -n 20 "$T/demo.log")"
[ -n "$tmp" ] || fail "demo did not name its temporary directory"
for want in 'pod=web-.* port=80$' 'pod=web-.* port=443$' 'pod=api-.* port=8080$' \
	'db-1\.db\.data\.svc\.cluster\.local' 'pod=db-1 namespace=data port=5432' \
	'succeeded, 0 failed' 'The tour passed' 'cleaned up'; do
	grep -q -- "$want" "$T/demo.log" || fail "demo output lacks /$want/: $(cat "$T/demo.log")"
done
grep -q '\[6\] A pod deleted under load' "$T/demo.log" || fail "no pod-deletion step"
grep -q $'\e\[' "$T/demo.log" && fail "colour escapes written to a non-terminal"
gone "$ns" "$tmp"
pass "demo --no-shell: tour passed, exit 0; namespace $ns, /etc/netns/$ns, $tmp and processes gone"

# --- Ctrl-C in the middle --------------------------------------------------------------------
# setsid: the demo gets its own process group, and SIGINT goes to the whole group, as a
# terminal's Ctrl-C would.
# env --default-signal: a background job of a non-interactive shell starts with SIGINT ignored,
# which a terminal's foreground demo would not.
KT_BIN_DIR=$KT_BUILD_DIR setsid env --default-signal=INT bash "$DEMO" --no-shell </dev/null >"$T/int.log" 2>&1 &
dpid=$!
KT_PIDS+=("$dpid")
wait_until 60 grep -q '^\[4\]' "$T/int.log" || fail "demo did not reach step 4: $(cat "$T/int.log")"
ns=$(grep -o 'namespace, kt-demo-[0-9]*' "$T/int.log" | head -n 1 | cut -d' ' -f2)
tmp=$(grep -o '/tmp/kubetun-demo\.[A-Za-z0-9]*' "$T/int.log" | head -n 1)
kill -INT -- "-$dpid"
rc=0
wait "$dpid" || rc=$?
[ $rc = 130 ] || fail "demo after SIGINT exited with $rc: $(tail -n 10 "$T/int.log")"
grep -q 'cleaned up namespace' "$T/int.log" || fail "no cleanup message: $(tail -n 5 "$T/int.log")"
gone "$ns" "$tmp"
pass "SIGINT during the tour: status 130, namespace $ns and everything else gone"

# --- usage error ---------------------------------------------------------------------------
before=$(ip netns list | wc -l)
rc=0
KT_BIN_DIR=$KT_BUILD_DIR bash "$DEMO" --bogus >"$T/usage.log" 2>&1 || rc=$?
[ $rc = 2 ] || fail "unknown option: exit $rc"
grep -q 'unknown argument "--bogus"' "$T/usage.log" || fail "usage message: $(cat "$T/usage.log")"
[ "$(ip netns list | wc -l)" = "$before" ] || fail "a usage error created a namespace"
pass "unknown option: exit 2, nothing created"
echo "demo tests passed"
