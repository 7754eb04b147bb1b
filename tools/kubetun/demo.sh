#!/usr/bin/env bash
# demo.sh: `kubetun demo`, the README's first command (Linux, root).
#
# Starts kubetun-fake-cluster with the bundled sample (tests/fixtures/demo.yaml), creates a
# private network namespace whose resolver is kubetund's DNS VIP, brings kubetund up inside it
# and runs a short narrated tour: the status table, curl by service name on 80 and on 443 with
# TLS verified against the fake cluster's CA, a StatefulSet pod's own DNS name, and a pod
# deleted under load with no failed connection. Then it opens a shell inside the namespace
# (`exit` ends the demo), or exits with --no-shell. Everything it made (processes, the
# namespace, /etc/netns/<ns>, its temporary directory) is removed on exit, also on Ctrl-C.
# Nothing is touched outside the namespace: no route, no resolv.conf, no state in /var/lib.
#
# Binaries: $KT_BIN_DIR, else the directory of the `kubetun` that runs the demo ($KT_CLI_EXE,
# set by the CLI, or the script's own directory when installed beside the binaries, or the
# kubetun on PATH), else the source tree's build/. Sample: $KT_DEMO_FIXTURE, else
# tests/fixtures/demo.yaml of the source tree, else demo.yaml beside the script.
# Exit status: 0 when the tour passed, 1 when a step failed, 2 on a usage error.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
SRC_DIR=$(cd "$SCRIPT_DIR/../.." && pwd)
NS=kt-demo-$$
DNS_VIP=198.19.0.53
SHELL_WANTED=1

usage() {
	cat <<'EOF'
usage: kubetun demo [--no-shell]

Runs kubetun against a bundled fake cluster inside a private network namespace: starts the
cluster, brings the tunnel up, shows the status, curls services by their cluster names on 80
and 443 (TLS verified), resolves a StatefulSet pod's own name, deletes a pod under load, then
opens a shell inside the namespace. Everything is removed on exit. Needs root (Linux).

  --no-shell   exit after the tour instead of opening a shell
  -h, --help   this text
EOF
}

for arg in "$@"; do
	case $arg in
	--no-shell) SHELL_WANTED=0 ;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		echo "kubetun demo: unknown argument \"$arg\" (see --help)" >&2
		exit 2
		;;
	esac
done

# --- output ------------------------------------------------------------------------------------
if [ -t 1 ]; then
	B=$'\e[1m' DIM=$'\e[2m' GRN=$'\e[32m' RED=$'\e[31m' CYN=$'\e[36m' RST=$'\e[0m'
else
	B='' DIM='' GRN='' RED='' CYN='' RST=''
fi
STEP=0
step() {
	STEP=$((STEP + 1))
	printf '\n%s[%d] %s%s\n' "$B" "$STEP" "$*" "$RST"
}
say() { printf '    %s\n' "$*"; }
cmd() { printf '  %s$ %s%s\n' "$CYN" "$*" "$RST"; }
ok() { printf '    %s✓ %s%s\n' "$GRN" "$*" "$RST"; }
die() {
	printf '%skubetun demo: %s%s\n' "$RED" "$*" "$RST" >&2
	exit 1
}
indent() { sed 's/^/    /'; }

[ "$(uname -s)" = Linux ] || die "the demo needs Linux (network namespaces and TUN)"
[ "$(id -u)" = 0 ] || die "the demo needs root (it creates a network namespace and a TUN device); try: sudo kubetun demo"
for tool in ip curl; do
	command -v "$tool" >/dev/null || die "$tool is missing (scripts/bootstrap.sh installs it)"
done

# --- binaries and sample -------------------------------------------------------------------------
has_bins() { [ -n "$1" ] && [ -x "$1/kubetund" ] && [ -x "$1/kubetun-fake-cluster" ]; }
BIN_DIR=""
if [ -n "${KT_BIN_DIR:-}" ]; then
	has_bins "$KT_BIN_DIR" || die "KT_BIN_DIR=$KT_BIN_DIR has no kubetund and kubetun-fake-cluster"
	BIN_DIR=$KT_BIN_DIR
else
	path_cli=$(command -v kubetun 2>/dev/null || true)
	for d in ${KT_CLI_EXE:+"$(dirname "$(readlink -f "$KT_CLI_EXE")")"} "$SCRIPT_DIR" \
		${path_cli:+"$(dirname "$(readlink -f "$path_cli")")"} "$SRC_DIR/build"; do
		if has_bins "$d"; then
			BIN_DIR=$d
			break
		fi
	done
	[ -n "$BIN_DIR" ] || die "cannot find kubetund and kubetun-fake-cluster (build them, or set KT_BIN_DIR)"
fi
BIN_DIR=$(cd "$BIN_DIR" && pwd)
KUBETUND=$BIN_DIR/kubetund
FAKE=$BIN_DIR/kubetun-fake-cluster
KUBETUN=$BIN_DIR/kubetun
[ -x "$KUBETUN" ] || KUBETUN=""
FIXTURE=${KT_DEMO_FIXTURE:-}
if [ -z "$FIXTURE" ]; then
	for f in "$SRC_DIR/tests/fixtures/demo.yaml" "$SCRIPT_DIR/demo.yaml"; do
		[ -f "$f" ] && FIXTURE=$f && break
	done
fi
[ -n "$FIXTURE" ] && [ -f "$FIXTURE" ] || die "cannot find the sample cluster demo.yaml (set KT_DEMO_FIXTURE)"
KUBECTL=$(command -v kubectl 2>/dev/null || true)
if [ -z "$KUBECTL" ] && [ -x /usr/lib/google-cloud-sdk/bin/kubectl ]; then
	KUBECTL=/usr/lib/google-cloud-sdk/bin/kubectl
fi

# --- cleanup -------------------------------------------------------------------------------------
T=$(mktemp -d /tmp/kubetun-demo.XXXXXX)
PIDS=()
cleaned=0
cleanup() {
	local rc=$?
	[ $cleaned = 1 ] && return
	cleaned=1
	trap - EXIT INT TERM
	set +e
	touch "$T/stop-load" 2>/dev/null
	local p
	# kubetund first: on SIGTERM it resets its connections and removes its device.
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for _ in $(seq 1 50); do
		local alive=0
		for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	# Anything else still running inside the namespace (a process the shell left behind).
	ip netns pids "$NS" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "/etc/netns/$NS" "$T"
	if [ $rc = 0 ]; then
		echo "kubetun demo: cleaned up (namespace $NS, processes, temporary files)."
	else
		echo "kubetun demo: stopped (status $rc); cleaned up namespace $NS, processes and temporary files." >&2
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

nsx() { ip netns exec "$NS" "$@"; }
# wait_for SECONDS CMD...: polls CMD every 0.1 s.
wait_for() {
	local end=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
}
show_log() { [ -f "$1" ] && tail -n "${2:-15}" "$1" | indent >&2; }

printf '%skubetun demo%s: Kubernetes services by their real names and ports, through a tunnel.\n' "$B" "$RST"
say "Binaries from $BIN_DIR; sample cluster $FIXTURE."

# --- 1: network namespace --------------------------------------------------------------------
step "A private network namespace, $NS, with its resolver pointed at the DNS VIP $DNS_VIP"
ip netns add "$NS"
ip -n "$NS" link set lo up
mkdir -p "/etc/netns/$NS"
# ip netns exec bind-mounts this over /etc/resolv.conf inside the namespace. The search list
# is the one a pod in namespace shop gets, so `curl http://web` works as inside the cluster.
cat >"/etc/netns/$NS/resolv.conf" <<EOF
nameserver $DNS_VIP
search shop.svc.cluster.local svc.cluster.local cluster.local
options ndots:5 timeout:1 attempts:2
EOF
cmd "cat /etc/netns/$NS/resolv.conf"
indent <"/etc/netns/$NS/resolv.conf"

# --- 2: the fake cluster ---------------------------------------------------------------------
step "The demo cluster: kubetun-fake-cluster, a fake Kubernetes API server with simulated pods"
ip netns exec "$NS" "$FAKE" --fixture "$FIXTURE" --listen 127.0.0.1:6443 \
	--kubeconfig-out "$T/kubeconfig" --ca-out "$T/ca.pem" --grace-ms 1000 \
	--replace-delay-ms 500 >"$T/fake.out" 2>"$T/fake.log" &
PIDS+=($!)
if ! wait_for 20 grep -qx ready "$T/fake.out"; then
	show_log "$T/fake.log"
	die "the fake cluster did not start"
fi
say "API server on 127.0.0.1:6443 inside the namespace; kubeconfig $T/kubeconfig"
kc() { nsx "$KUBECTL" --kubeconfig "$T/kubeconfig" "$@"; }
if [ -n "$KUBECTL" ]; then
	for n in shop data; do
		cmd "kubectl get deploy,sts,svc -n $n"
		kc get deploy,sts,svc -n "$n" 2>&1 | indent
	done
fi

# --- 3: kubetund -----------------------------------------------------------------------------
step "kubetund: a TUN device routing 198.19.0.0/16, DNS on $DNS_VIP, one port-forward per connection"
cat >"$T/profile.yaml" <<'EOF'
# The demo's profile: three Services, every port of each.
namespace: shop
forwards:
  - target: svc/web
  - target: svc/api
  - target: svc/db
    namespace: data
EOF
cmd "cat profile.yaml"
indent <"$T/profile.yaml"
# The control socket lives in our temporary directory, so the demo never touches (or is
# confused with) a kubetund the machine may already run; and the namespace's resolv.conf is
# its DNS setup, so kubetund must not register with the host's systemd-resolved (the D-Bus
# socket is not per network namespace).
ktd_help=$("$KUBETUND" --help 2>&1 || true)
ctl_args=()
SOCK=$T/kubetund.sock
ctl_opt=""
if grep -q -- '--socket PATH' <<<"$ktd_help"; then
	ctl_opt=--socket
	ctl_args+=(--socket "$SOCK")
fi
grep -q -- '--no-system-dns' <<<"$ktd_help" && ctl_args+=(--no-system-dns)
cmd "kubetund --profile profile.yaml --kubeconfig kubeconfig --state-dir STATE ${ctl_args[*]:+${ctl_args[*]//$T\//}}"
ip netns exec "$NS" "$KUBETUND" --profile "$T/profile.yaml" --kubeconfig "$T/kubeconfig" \
	--state-dir "$T/state" "${ctl_args[@]}" >"$T/kubetund.out" 2>"$T/kubetund.log" &
PIDS+=($!)
KTD_PID=$!
if ! wait_for 20 grep -q 'resolved [0-9]* forwards' "$T/kubetund.log"; then
	show_log "$T/kubetund.log"
	kill -0 "$KTD_PID" 2>/dev/null || die "kubetund exited"
	die "kubetund did not resolve its forwards in 20 s"
fi
status_shown=0
if [ -n "$KUBETUN" ] && [ -n "$ctl_opt" ] && wait_for 5 test -S "$SOCK"; then
	cmd "kubetun status"
	if KUBETUN_SOCKET=$SOCK "$KUBETUN" status >"$T/status.txt" 2>&1; then
		indent <"$T/status.txt"
		status_shown=1
	fi
fi
if [ $status_shown = 0 ]; then
	say "${DIM}(\`kubetun status\` is not available here; kubetund's log instead)${RST}"
	cmd "kubetund's log"
	indent <"$T/kubetund.log"
fi

# --- 4: curl by name -------------------------------------------------------------------------
step "Apps reach services by their cluster names and real ports"
CURL=(nsx curl -sS --max-time 10)
cmd "curl http://web.shop.svc.cluster.local/"
out=$("${CURL[@]}" http://web.shop.svc.cluster.local/ 2>&1) || die "curl http://web: $out"
[[ $out == "pod=web-"* ]] || die "web answered: $out"
say "$out"
cmd "curl --cacert ca.pem https://web.shop.svc.cluster.local/"
out=$("${CURL[@]}" --cacert "$T/ca.pem" -w '%{ssl_verify_result}' \
	https://web.shop.svc.cluster.local/ 2>&1) || die "curl https://web: $out"
verify=${out##*$'\n'}
out=${out%$'\n'*}
[[ $out == "pod=web-"*"port=443" ]] && [ "$verify" = 0 ] || die "https web answered: $out ($verify)"
say "$out"
ok "port 443 is TLS end to end with the pod; the certificate verifies for web.shop.svc.cluster.local"
cmd "curl http://api/   (short name, through the search list; Service port 80 → named port api-http)"
out=$("${CURL[@]}" http://api/ 2>&1) || die "curl http://api: $out"
[[ $out == "pod=api-"*"port=8080" ]] || die "api answered: $out"
say "$out"

# --- 5: DNS ----------------------------------------------------------------------------------
step "DNS from the live mapping table: a StatefulSet behind a headless Service"
cmd "getent hosts db-1.db.data.svc.cluster.local"
out=$(nsx getent hosts db-1.db.data.svc.cluster.local) || die "getent db-1 failed"
say "$out"
if command -v dig >/dev/null; then
	cmd "dig +short db.data.svc.cluster.local   (one A record per ready pod)"
	out=$(nsx dig +short +time=2 +tries=1 @"$DNS_VIP" db.data.svc.cluster.local) || die "dig db failed"
	indent <<<"$out"
	[ "$(wc -l <<<"$out")" = 3 ] || die "db.data.svc.cluster.local has $(wc -l <<<"$out") addresses, want 3"
fi
cmd "curl http://db-1.db.data.svc.cluster.local:5432/"
out=$("${CURL[@]}" http://db-1.db.data.svc.cluster.local:5432/ 2>&1) || die "curl db-1: $out"
[[ $out == "pod=db-1 "* ]] || die "db-1 answered: $out"
say "$out"
ok "each StatefulSet pod has its own name and address, and that name always reaches that pod"

# --- 6: a pod deleted under load -------------------------------------------------------------
step "A pod deleted under load: connections keep working"
if [ -z "$KUBECTL" ]; then
	say "${DIM}(kubectl is not installed: skipping this step)${RST}"
else
	victim=$(nsx curl -sS --max-time 5 http://web.shop.svc.cluster.local/ | sed -n 's/^pod=\([^ ]*\) .*/\1/p')
	[[ $victim == web-* ]] || die "no web pod answered"
	# The load: back-to-back curls (at most 2,000, about 20 s) until told to stop.
	(
		ok_n=0 bad_n=0
		for _ in $(seq 1 2000); do
			[ -e "$T/stop-load" ] && break
			if r=$(nsx curl -sS --max-time 5 http://web.shop.svc.cluster.local/ 2>&1); then
				ok_n=$((ok_n + 1))
				echo "${r%% *}" >>"$T/load.pods"
			else
				bad_n=$((bad_n + 1))
				echo "$r" >>"$T/load.errors"
			fi
		done
		echo "$ok_n $bad_n" >"$T/load.out"
	) &
	LOAD_PID=$!
	say "a loop of curl http://web.shop.svc.cluster.local/ is running; 0.5 s later:"
	sleep 0.5
	cmd "kubectl delete pod -n shop $victim"
	kc delete pod -n shop "$victim" 2>&1 | indent || die "kubectl delete pod failed"
	replaced() {
		[ "$(kc get pods -n shop -l app=web --no-headers 2>/dev/null | grep -v "^$victim " |
			grep -c ' 1/1 .*Running')" -ge 3 ]
	}
	wait_for 20 replaced || die "no Ready replacement for $victim within 20 s"
	sleep 1 # a little more load with the replacement in rotation
	touch "$T/stop-load"
	wait "$LOAD_PID" || true
	read -r ok_n bad_n <"$T/load.out" || die "the load loop reported nothing"
	cmd "kubectl get pods -n shop -l app=web"
	kc get pods -n shop -l app=web 2>&1 | indent
	served=$(sort "$T/load.pods" 2>/dev/null | uniq -c | awk '{printf "%s%s x%s", (NR > 1 ? ", " : ""), substr($2, 5), $1}')
	say "served by: $served"
	if [ "$bad_n" != 0 ]; then
		sort "$T/load.errors" | uniq -c | head -n 5 | indent
		die "$bad_n of $((ok_n + bad_n)) connections failed while $victim was deleted"
	fi
	ok "$((ok_n + bad_n)) connections while $victim was deleted and replaced: $ok_n succeeded, 0 failed"
fi
if [ $status_shown = 1 ]; then
	cmd "kubetun status   (after the tour: current pods, connections, bytes)"
	KUBETUN_SOCKET=$SOCK "$KUBETUN" status 2>&1 | indent || true
fi

# --- the shell -------------------------------------------------------------------------------
if [ $SHELL_WANTED = 0 ]; then
	printf '\n%sThe tour passed.%s (--no-shell: not opening a shell)\n' "$B" "$RST"
	exit 0
fi
step "Your turn: a shell inside the namespace (exit to end the demo and clean up)"
cat >"$T/bashrc" <<EOF
[ -f ~/.bashrc ] && . ~/.bashrc
export KUBECONFIG=$T/kubeconfig
${ctl_opt:+export KUBETUN_SOCKET=$SOCK}
export PATH=$BIN_DIR:\$PATH
PS1='\[$B\](kubetun demo · netns $NS)\[$RST\] \w \\$ '
EOF
say "Try:"
say "  curl http://web/                       curl --cacert $T/ca.pem https://web.shop.svc.cluster.local/"
say "  curl http://db-0.db.data:5432/         getent hosts api.shop.svc.cluster.local"
say "  kubectl get pods -A                    kubectl delete pod -n shop -l app=api"
[ -n "$ctl_opt" ] && say "  kubetun status"
say "Only this namespace sees the tunnel; the rest of the machine is untouched."
ip netns exec "$NS" bash --rcfile "$T/bashrc" -i || true
exit 0
