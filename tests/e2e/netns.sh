# netns.sh: a network namespace with the fake cluster and kubetund inside, for the tunnel tests
# (sourced after lib.sh, bash).
#
#   netns_create            makes kt-$$ with lo up and /etc/netns/kt-$$/resolv.conf pointing at
#                           the DNS VIP (ip netns exec bind-mounts it over /etc/resolv.conf, so
#                           getent and curl resolve through glibc and kubetund); the EXIT trap
#                           stops everything started in it and removes both.
#   nsx CMD...              runs CMD inside the namespace.
#   start_fake_ns NAME FIXTURE [ARGS...]
#                           lib.sh's start_fake, inside the namespace (listens on its 127.0.0.1).
#   fake_admin_ns METHOD PATH   lib.sh's fake_admin, inside the namespace.
#   start_kubetund NAME PROFILE [ARGS...]
#                           starts kubetund in the namespace with the fake's kubeconfig and a
#                           state directory under $T and a control socket $T/NAME.sock, waits
#                           until every forward has resolved. Sets KTD_PID, KTD_LOG, KTD_SOCK.
#   stop_kubetund           SIGTERM, waits, fails unless it exited 0.
#   kctl ARGS...            kubectl 1.33 against the fake, inside the namespace.
#
# Everything a test starts listens or routes only inside its own namespace; traffic never leaves.

NS=kt-$$
KUBETUND=$KT_BUILD_DIR/kubetund
DNS_VIP=198.19.0.53
PY=/usr/bin/python3
[ -x "$KUBETUND" ] || fail "missing $KUBETUND (build the kubetund target)"
[ -x "$FAKE" ] || fail "missing $FAKE (build the kubetun-fake-cluster target)"

nsx() { ip netns exec "$NS" "$@"; }

netns_cleanup() {
	# Our processes first (kubetund removes its device on SIGTERM), then the namespace.
	local p
	for p in "${KT_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${KT_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	ip netns pids "$NS" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "/etc/netns/$NS"
}

netns_create() {
	# lib.sh's trap removes $T and exits with the test's status; ours runs first.
	trap 'kt_rc=$?; set +e; netns_cleanup; (exit $kt_rc); kt_cleanup' EXIT
	trap 'exit 1' INT TERM
	ip netns add "$NS"
	ip -n "$NS" link set lo up
	mkdir -p "/etc/netns/$NS"
	printf 'nameserver %s\noptions timeout:1 attempts:2\n' "$DNS_VIP" >"/etc/netns/$NS/resolv.conf"
}

start_fake_ns() {
	local name=$1 fixture=$2
	shift 2
	FAKE_PORT=$(free_port)
	KCFG=$T/$name.kubeconfig
	FAKE_CA=$T/$name.ca.pem
	FAKE_ADMIN=$KCFG.admin-token
	# Not through nsx: a backgrounded function would be a subshell and $! its pid.
	ip netns exec "$NS" "$FAKE" --fixture "$fixture" --listen "127.0.0.1:$FAKE_PORT" \
		--kubeconfig-out "$KCFG" --ca-out "$FAKE_CA" "$@" >"$T/$name.out" 2>"$T/$name.log" &
	FAKE_PID=$!
	KT_PIDS+=("$FAKE_PID")
	for _ in $(seq 1 100); do
		grep -qx ready "$T/$name.out" 2>/dev/null && return 0
		kill -0 "$FAKE_PID" 2>/dev/null || fail "fake cluster exited: $(cat "$T/$name.log")"
		sleep 0.05
	done
	fail "fake cluster not ready after 5 s"
}

fake_admin_ns() {
	nsx curl -sS --fail-with-body --cacert "$FAKE_CA" -X "$1" \
		-H "Authorization: Bearer $(cat "$FAKE_ADMIN")" "https://127.0.0.1:$FAKE_PORT$2"
}

kctl() { nsx "${KUBECTL133:-kubectl}" --kubeconfig "$KCFG" "$@"; }

start_kubetund() {
	local name=$1 profile=$2
	shift 2
	KTD_LOG=$T/$name.log
	# A socket of our own: the default one (/run/kubetun) is shared by every namespace.
	KTD_SOCK=$T/$name.sock
	ip netns exec "$NS" "$KUBETUND" --profile "$profile" --kubeconfig "$KCFG" \
		--state-dir "$T/state" --socket "$KTD_SOCK" --no-system-dns "$@" \
		>"$T/$name.out" 2>"$KTD_LOG" &
	KTD_PID=$!
	KT_PIDS+=("$KTD_PID")
	for _ in $(seq 1 200); do
		grep -q 'resolved [0-9]* forwards' "$KTD_LOG" 2>/dev/null && return 0
		kill -0 "$KTD_PID" 2>/dev/null || fail "kubetund exited: $(cat "$KTD_LOG")"
		sleep 0.05
	done
	fail "kubetund did not resolve its forwards in 10 s: $(tail -n 20 "$KTD_LOG")"
}

stop_kubetund() {
	kill -TERM "$KTD_PID"
	local rc=0
	wait "$KTD_PID" || rc=$?
	[ $rc -eq 0 ] || fail "kubetund exited with $rc on SIGTERM: $(tail -n 20 "$KTD_LOG")"
}
