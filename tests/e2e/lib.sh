# lib.sh: shared helpers for the end-to-end tests (sourced, bash).
#
# Conventions (WireGuard's netns.sh model): every resource a test makes is named with $$ and
# removed by the EXIT trap; traffic goes only to 127.0.0.1 or to namespaces the test created.
set -euo pipefail

KT_BUILD_DIR=${KT_BUILD_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build}
KT_SOURCE_DIR=${KT_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
FAKE=$KT_BUILD_DIR/kubetun-fake-cluster
KDIR=$(dirname "$(readlink -f "$(command -v kubectl || echo /usr/lib/google-cloud-sdk/bin/kubectl)")")
KUBECTL127=$KDIR/kubectl.1.27
KUBECTL133=$KDIR/kubectl.1.33

T=$(mktemp -d /tmp/kt-e2e.XXXXXX)
KT_PIDS=()
kt_cleanup() {
  local rc=$?
  for p in "${KT_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${KT_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ $rc -ne 0 ] && [ -d "$T" ]; then
    for f in "$T"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }; done
  fi
  rm -rf "$T"
  exit $rc
}
trap kt_cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok   $*"; }

# A TCP port free on both 127.0.0.1 and ::1 (kubectl listens on both), never handed out twice
# in one test run: a port a just-killed listener released can still be held on one family.
free_port() {
  /usr/bin/python3 - "$T/ports.used" <<'PY'
import errno, random, socket, sys
used_path = sys.argv[1]
try:
    used = set(open(used_path).read().split())
except FileNotFoundError:
    used = set()
for _ in range(1000):
    port = random.randint(20000, 60999)
    if str(port) in used:
        continue
    busy = False
    for fam, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        try:
            s = socket.socket(fam, socket.SOCK_STREAM)
        except OSError:
            continue  # no IPv6 here
        try:
            s.bind((addr, port))
        except OSError as e:
            busy = busy or e.errno == errno.EADDRINUSE or fam == socket.AF_INET
        finally:
            s.close()
    if busy:
        continue
    open(used_path, "a").write("%d\n" % port)
    print(port)
    break
else:
    sys.exit("no free port")
PY
}

# start_fake NAME FIXTURE [extra args...]: starts the fake cluster, waits for "ready".
# Sets FAKE_PID, FAKE_PORT, KCFG (kubeconfig), FAKE_CA, FAKE_ADMIN (admin token file).
start_fake() {
  local name=$1 fixture=$2; shift 2
  FAKE_PORT=$(free_port)
  KCFG=$T/$name.kubeconfig
  FAKE_CA=$T/$name.ca.pem
  FAKE_ADMIN=$KCFG.admin-token
  "$FAKE" --fixture "$fixture" --listen "127.0.0.1:$FAKE_PORT" --kubeconfig-out "$KCFG" \
    --ca-out "$FAKE_CA" "$@" >"$T/$name.out" 2>"$T/$name.log" &
  FAKE_PID=$!
  KT_PIDS+=("$FAKE_PID")
  for _ in $(seq 1 100); do
    grep -qx ready "$T/$name.out" 2>/dev/null && return 0
    kill -0 "$FAKE_PID" 2>/dev/null || fail "fake cluster exited: $(cat "$T/$name.log")"
    sleep 0.05
  done
  fail "fake cluster not ready after 5 s"
}

# fake_admin METHOD PATH: calls the fault-injection API with the admin token.
fake_admin() {
  curl -sS --fail-with-body --cacert "$FAKE_CA" -X "$1" \
    -H "Authorization: Bearer $(cat "$FAKE_ADMIN")" "https://127.0.0.1:$FAKE_PORT$2"
}

# wait_until SECONDS CMD...: polls CMD every 0.1 s.
wait_until() {
  local limit=$1; shift
  local end=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || return 1
    sleep 0.1
  done
}
