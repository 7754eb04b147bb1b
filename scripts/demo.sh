#!/usr/bin/env bash
# demo.sh: the README's first command. Until the tunnel (kubetund) lands this shows the built-in
# demo cluster through real kubectl: it starts kubetun-fake-cluster with the sample fixture,
# lists what it serves, and forwards a service port with kubectl port-forward.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
cmake -S . -B build >/dev/null && cmake --build build -j"$(nproc)" >/dev/null
echo "kubetun demo: the tunnel (kubetund) is not built yet; showing the demo cluster instead."
t=$(mktemp -d)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
build/kubetun-fake-cluster --fixture tests/fixtures/basic.yaml --listen "127.0.0.1:$port" \
  --kubeconfig-out "$t/kubeconfig" >"$t/out" 2>"$t/log" &
fake=$!
trap 'kill $fake ${pf:-} 2>/dev/null; wait 2>/dev/null; rm -rf "$t"' EXIT
for _ in $(seq 100); do grep -qx ready "$t/out" && break; sleep 0.05; done
k() { kubectl --kubeconfig "$t/kubeconfig" "$@"; }
echo "\$ kubectl get deploy,sts,svc,pods -A"
k get deploy,sts,svc,pods -A
lport=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
k port-forward -n shop svc/web "$lport:80" >"$t/pf" 2>&1 &
pf=$!
for _ in $(seq 100); do grep -q Forwarding "$t/pf" && break; sleep 0.05; done
echo "\$ curl http://127.0.0.1:$lport/   (kubectl port-forward svc/web)"
curl -sS "http://127.0.0.1:$lport/"
