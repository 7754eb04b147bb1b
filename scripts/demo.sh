#!/usr/bin/env bash
# demo.sh: the README's first command. Installs what is missing (scripts/bootstrap.sh), builds
# the three programs the demo runs (kubetund, kubetun, kubetun-fake-cluster) in build/, then runs
# the demo (tools/kubetun/demo.sh, what `kubetun demo` runs): a fake cluster, a private network
# namespace with the tunnel, a narrated tour, then a shell inside the namespace. Arguments are
# passed on (e.g. --no-shell). Needs root; cleans everything up on exit and on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
log=$(mktemp /tmp/kubetun-build.XXXXXX)
trap 'rm -f "$log"' EXIT
echo "demo: building kubetund, kubetun and kubetun-fake-cluster in build/ ..."
if ! { cmake -S . -B build && cmake --build build -j"$(nproc)" --target kubetund kubetun kubetun-fake-cluster; } >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "demo: the build failed (full log above, last 40 lines)" >&2
  exit 1
fi
rm -f "$log"
trap - EXIT
exec env KT_BIN_DIR="$PWD/build" bash tools/kubetun/demo.sh "$@"
