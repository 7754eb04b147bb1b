#!/usr/bin/env bash
# Port-forward through kubetun-fake-cluster with real clients: kubectl 1.27 (plain SPDY), kubectl
# 1.33 (SPDY tunnelled in WebSocket) and 1.33 with KUBECTL_PORT_FORWARD_WEBSOCKETS=false, for
# svc/, deploy/, sts/ and pod/ targets (curl through them: GET / names the pod, 100 MiB download
# and upload checksums, 50 concurrent connections, named targetPort, the TLS port's certificate
# names, a refused port's kubelet-style error); the Python client's kubernetes.stream.portforward;
# a real loopback backend named by annotation; pod deletion, the reject/latency/drop faults; and
# byte-level protocol checks with an independent client (pf_wire_checks.py).
source "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3 # Debian's python3, which has python3-kubernetes
FIXTURE=$KT_SOURCE_DIR/tests/fixtures/pf.yaml
SIZE=104857600
[ -x "$KUBECTL127" ] && [ -x "$KUBECTL133" ] || fail "kubectl 1.27/1.33 not found in $KDIR"
start_fake pf "$FIXTURE" --grace-ms 300 --replace-delay-ms 300

# What the pod's /bytes/N and /sha256 must give (byte i of /bytes is i % 251).
want_down=$($PY -c '
import hashlib, sys
n = int(sys.argv[1]); h = hashlib.sha256(); block = bytes(i % 251 for i in range(251)) * 1045
while n > 0:
    k = min(n, len(block)); h.update(block[:k]); n -= k
print(h.hexdigest())' $SIZE)
want_up=$(head -c $SIZE /dev/zero | sha256sum | cut -d' ' -f1)
want_1m=$($PY -c 'import hashlib; print(hashlib.sha256(bytes(i % 251 for i in range(1000000))).hexdigest())')

# pf_start NAME ENV KUBECTL ARGS...: kubectl port-forward in the background; waits until it
# listens. Sets PF_PID; the log is $T/NAME.log.
pf_start() {
  local name=$1 envv=$2 k=$3; shift 3
  : >"$T/$name.log" # truncate now: the background job's redirection may come late
  env $envv "$k" --kubeconfig "$KCFG" port-forward "$@" >"$T/$name.log" 2>&1 &
  PF_PID=$!
  KT_PIDS+=("$PF_PID")
  wait_until 20 grep -q "Forwarding from 127.0.0.1" "$T/$name.log" ||
    fail "$name: kubectl port-forward did not start: $(cat "$T/$name.log")"
}
pf_stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

pods_of() { "$KUBECTL133" --kubeconfig "$KCFG" get pods -n "$1" -l "$2" -o name | sed 's|pod/||'; }
web_pods=$(pods_of shop app=web)
[ -n "$web_pods" ] || fail "fixture has no web pods"

modes=("kubectl 1.27 (plain SPDY)|$KUBECTL127|"
       "kubectl 1.33 (SPDY in WebSocket)|$KUBECTL133|"
       "kubectl 1.33 (plain SPDY fallback off)|$KUBECTL133|KUBECTL_PORT_FORWARD_WEBSOCKETS=false")
for m in "${modes[@]}"; do
  IFS='|' read -r label K envv <<<"$m"
  p_http=$(free_port) p_https=$(free_port) p_dep=$(free_port) p_sts=$(free_port)
  p_pod=$(free_port) p_api=$(free_port) p_ref=$(free_port)
  pf_start svc "$envv" "$K" -n shop svc/web "$p_http:80" "$p_https:443"; pf_svc=$PF_PID
  pf_start dep "$envv" "$K" -n shop deploy/web "$p_dep:80"; pf_dep=$PF_PID
  pf_start sts "$envv" "$K" -n data sts/kafka "$p_sts:9092"; pf_sts=$PF_PID
  pf_start pod "$envv" "$K" -n default pod/debug "$p_pod:8080"; pf_pod=$PF_PID
  pf_start api "$envv" "$K" -n shop svc/api "$p_api:80"; pf_api=$PF_PID

  # GET / names the pod kubectl picked: one of the Service's pods, on the container port.
  out=$(curl -sS -m 10 "http://127.0.0.1:$p_http/") || fail "$label svc/web GET /"
  picked=$(sed -n 's/^pod=\([^ ]*\) namespace=shop port=80$/\1/p' <<<"$out")
  grep -qx "$picked" <<<"$web_pods" || fail "$label svc/web: '$out' does not name a web pod"
  curl -sS -m 10 "http://127.0.0.1:$p_dep/" | grep -Eq '^pod=web-[a-z0-9]{10}-[a-z0-9]{5} namespace=shop port=80$' ||
    fail "$label deploy/web GET /"
  curl -sS -m 10 "http://127.0.0.1:$p_sts/" | grep -Eq '^pod=kafka-[0-2] namespace=data port=9092$' ||
    fail "$label sts/kafka GET /"
  [ "$(curl -sS -m 10 "http://127.0.0.1:$p_pod/")" = "pod=debug namespace=default port=8080" ] ||
    fail "$label pod/debug GET /"
  curl -sS -m 10 -D "$T/h" "http://127.0.0.1:$p_api/" | grep -Eq '^pod=api-.* namespace=shop port=8080$' ||
    fail "$label svc/api: named targetPort api-http did not resolve to 8080"
  grep -qi '^X-Pod-Port: 8080' "$T/h" || fail "$label svc/api: X-Pod-Port header"
  pass "$label: svc/ deploy/ sts/ pod/ targets, GET / names the pod, named targetPort"

  # The TLS port (named https): the certificate from the fake's CA names the Service.
  out=$(curl -sS -m 10 --cacert "$FAKE_CA" --resolve "web.shop.svc.cluster.local:$p_https:127.0.0.1" \
    "https://web.shop.svc.cluster.local:$p_https/") || fail "$label https through port-forward"
  [ "$out" = "pod=$picked namespace=shop port=443" ] || fail "$label https: '$out'"
  pass "$label: TLS pod port verifies as web.shop.svc.cluster.local"

  sum=$(curl -sS -m 60 "http://127.0.0.1:$p_http/bytes/$SIZE" | sha256sum | cut -d' ' -f1)
  [ "$sum" = "$want_down" ] || fail "$label 100 MiB download checksum $sum"
  sum=$(head -c $SIZE /dev/zero | curl -sS -m 60 -X POST -T - -H 'Content-Type: application/octet-stream' \
    "http://127.0.0.1:$p_http/sha256")
  [ "$sum" = "$want_up" ] || fail "$label 100 MiB upload checksum '$sum'"
  pass "$label: 100 MiB /bytes download and /sha256 upload check out"

  seq 1 50 | xargs -P 50 -I{} curl -sS -m 30 -o "$T/c{}" "http://127.0.0.1:$p_dep/bytes/1000000" ||
    fail "$label: a concurrent curl failed"
  for i in $(seq 1 50); do
    [ "$(sha256sum <"$T/c$i" | cut -d' ' -f1)" = "$want_1m" ] || fail "$label: concurrent download $i corrupt"
  done
  rm -f "$T"/c*
  grep -c "Handling connection" "$T/dep.log" | awk '$1 < 51 { exit 1 }' || fail "$label: kubectl saw too few connections"
  pass "$label: 50 concurrent connections through deploy/web"

  # A refused port: the kubelet/containerd text reaches kubectl's output, kubectl gives up.
  pf_start ref "$envv" "$K" -n default pod/refuser "$p_ref:8080"; pf_ref=$PF_PID
  curl -s -m 10 "http://127.0.0.1:$p_ref/" >/dev/null && fail "$label: refused port answered"
  wait_until 10 grep -q "lost connection to pod" "$T/ref.log" || fail "$label: kubectl did not give up: $(cat "$T/ref.log")"
  grep -q 'error forwarding port 8080 to pod [0-9a-f]\{64\}, uid : failed to execute portforward in network namespace' "$T/ref.log" &&
    grep -q 'dial tcp4 127.0.0.1:8080: connect: connection refused' "$T/ref.log" ||
    fail "$label: refused text missing: $(cat "$T/ref.log")"
  pf_stop "$pf_ref"
  pass "$label: refused port surfaces the kubelet-style error"

  for p in $pf_svc $pf_dep $pf_sts $pf_pod $pf_api; do pf_stop "$p"; done
done

# A StatefulSet pod's TLS port: the certificate also names the pod under its headless Service.
p=$(free_port)
pf_start ststls "" "$KUBECTL133" -n data pod/kafka-2 "$p:9443"
for name in kafka-2.kafka.data.svc.cluster.local kafka.data.svc kafka; do
  out=$(curl -sS -m 10 --cacert "$FAKE_CA" --resolve "$name:$p:127.0.0.1" "https://$name:$p/") ||
    fail "TLS to kafka-2 as $name"
  [ "$out" = "pod=kafka-2 namespace=data port=9443" ] || fail "TLS kafka-2 as $name: '$out'"
done
curl -s -m 10 --cacert "$FAKE_CA" --resolve "kafka-1.kafka.data.svc.cluster.local:$p:127.0.0.1" \
  "https://kafka-1.kafka.data.svc.cluster.local:$p/" >/dev/null && fail "kafka-2's certificate names kafka-1"
pf_stop "$PF_PID"
pass "StatefulSet pod TLS port: certificate names kafka-2.kafka.data.svc.cluster.local, kafka.data.svc, kafka"

# The Python client: kubernetes.stream.portforward over v4.channel.k8s.io.
$PY - "$KCFG" >"$T/py.out" 2>&1 <<'PY' || fail "Python client: $(cat "$T/py.out")"
import sys
from kubernetes import client, config
from kubernetes.stream import portforward
config.load_kube_config(config_file=sys.argv[1])
api = client.CoreV1Api()
pf = portforward(api.connect_get_namespaced_pod_portforward, "debug", "default", ports="8080")
s = pf.socket(8080)
s.setblocking(True)
s.sendall(b"GET / HTTP/1.1\r\nHost: debug\r\nConnection: close\r\n\r\n")
data = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    data += d
s.close()
assert data.startswith(b"HTTP/1.1 200 "), data
assert data.endswith(b"\r\n\r\npod=debug namespace=default port=8080\n"), data
assert pf.error(8080) is None, pf.error(8080)
pf = portforward(api.connect_get_namespaced_pod_portforward, "refuser", "default", ports="8080")
s = pf.socket(8080)
s.setblocking(True)
while s.recv(4096):
    pass
err = pf.error(8080) or ""
assert err.startswith("error forwarding port 8080 to pod ") and "connection refused" in err, err
print("python ok")
PY
pass "Python client kubernetes.stream.portforward: HTTP request to pod port, refused error text"

# A real loopback server named by the annotation fake.kubetun.dev/backend-<port>.
www=$T/www; mkdir -p "$www"; echo "hello from a real server" >"$www/hello.txt"
head -c 20000000 /dev/urandom >"$www/big"
bport=$(free_port)
$PY -m http.server "$bport" --bind 127.0.0.1 --directory "$www" >"$T/httpd.log" 2>&1 &
httpd=$!; KT_PIDS+=("$httpd")
wait_until 10 curl -sf "http://127.0.0.1:$bport/hello.txt" || fail "http.server did not start"
cat >"$T/tcpback.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: tcpback
  namespace: default
  annotations: {fake.kubetun.dev/backend-7000: "127.0.0.1:$bport"}
spec:
  containers: [{name: app, image: example/app, ports: [{containerPort: 7000}]}]
YAML
"$KUBECTL133" --kubeconfig "$KCFG" create -f "$T/tcpback.yaml" --validate=false >/dev/null || fail "create pod tcpback"
wait_until 10 bash -c "[ \"\$('$KUBECTL133' --kubeconfig '$KCFG' get pod tcpback -o jsonpath='{.status.phase}')\" = Running ]" ||
  fail "pod tcpback not Running"
p_tcp=$(free_port)
pf_start tcp "" "$KUBECTL133" pod/tcpback "$p_tcp:7000"; pf_tcp=$PF_PID
[ "$(curl -sS -m 10 "http://127.0.0.1:$p_tcp/hello.txt")" = "hello from a real server" ] || fail "annotated backend GET"
[ "$(curl -sS -m 30 "http://127.0.0.1:$p_tcp/big" | sha256sum)" = "$(sha256sum <"$www/big")" ] || fail "annotated backend 20 MB"
pf_stop "$pf_tcp"
pass "annotated backend: a real loopback server behind the pod port"
pf_stop "$httpd"
pf_start tcp2 "" "$KUBECTL133" pod/tcpback "$p_tcp:7000"
curl -s -m 10 "http://127.0.0.1:$p_tcp/" >/dev/null && fail "stopped backend answered"
wait_until 10 grep -q "lost connection to pod" "$T/tcp2.log" || fail "kubectl kept going after a refused backend"
grep -q "connect: connection refused" "$T/tcp2.log" || fail "refused backend text: $(cat "$T/tcp2.log")"
pf_stop "$PF_PID"
pass "annotated backend that is down: refused like a closed port"

# Pod deletion: an active connection is reset; the next one gets the sandbox error and kubectl
# exits (1.27 and 1.33 alike).
for K in "$KUBECTL127" "$KUBECTL133"; do
  v=$(basename "$K")
  wait_until 15 bash -c "[ \"\$('$KUBECTL133' --kubeconfig '$KCFG' get pod -n data kafka-1 -o jsonpath='{.status.phase}')\" = Running ]" ||
    fail "kafka-1 not Running"
  p=$(free_port)
  pf_start gone "" "$K" -n data pod/kafka-1 "$p:9092"; pf=$PF_PID
  curl -sS -m 20 --limit-rate 2M -o /dev/null "http://127.0.0.1:$p/bytes/100000000" 2>/dev/null &
  cpid=$!
  sleep 0.5
  "$KUBECTL133" --kubeconfig "$KCFG" delete pod -n data kafka-1 --wait=false >/dev/null
  if wait $cpid; then fail "$v: download survived the pod's deletion"; fi
  curl -s -m 10 "http://127.0.0.1:$p/" >/dev/null && fail "$v: gone pod answered"
  wait_until 10 grep -q "lost connection to pod" "$T/gone.log" || fail "$v: kubectl did not exit: $(cat "$T/gone.log")"
  grep -Eq 'failed to find sandbox \\?"[0-9a-f]{64}\\?" in store: not found' "$T/gone.log" || fail "$v: gone text: $(cat "$T/gone.log")"
  pf_stop "$pf"
  pass "$v: pod deleted → active connection reset, next one fails with the sandbox error"
done

# Faults: reject with a status, latency before the 101, drop every session.
p=$(free_port)
fake_admin POST "/fake/v1/portforward/reject?code=403&message=forbidden+by+test" >/dev/null
out=$("$KUBECTL133" --kubeconfig "$KCFG" port-forward pod/debug "$p:8080" 2>&1) && fail "rejected port-forward started"
grep -q "forbidden by test" <<<"$out" || fail "reject message not shown: $out"
fake_admin POST "/fake/v1/portforward/reject?code=0" >/dev/null
fake_admin POST "/fake/v1/latency?portforward_ms=1500" >/dev/null
t0=$(date +%s%N)
pf_start lat "" "$KUBECTL133" pod/debug "$p:8080"
[ $(( ($(date +%s%N) - t0) / 1000000 )) -ge 1500 ] || fail "port-forward latency not applied"
fake_admin POST "/fake/v1/latency?portforward_ms=0" >/dev/null
curl -sS -m 10 "http://127.0.0.1:$p/" | grep -q "pod=debug" || fail "GET after latency"
fake_admin POST /fake/v1/portforward/drop >/dev/null
wait_until 10 grep -q "lost connection to pod" "$T/lat.log" || fail "drop did not end the session: $(cat "$T/lat.log")"
pf_stop "$PF_PID"
pass "faults: reject status shown by kubectl, latency delays the upgrade, drop ends sessions"

# Byte-level checks of all three protocols with an independent client.
wait_until 15 bash -c "[ \"\$('$KUBECTL133' --kubeconfig '$KCFG' get pod -n data kafka-0 -o jsonpath='{.status.phase}')\" = Running ]" ||
  fail "kafka-0 not Running"
KT_SOURCE_DIR=$KT_SOURCE_DIR $PY "$KT_SOURCE_DIR/tests/e2e/pf_wire_checks.py" "$KCFG" "$KUBECTL133" kafka-0 ||
  fail "wire checks"

stats=$(curl -sS --cacert "$FAKE_CA" -H "Authorization: Bearer $(cat "$FAKE_ADMIN")" "https://127.0.0.1:$FAKE_PORT/fake/v1/stats")
$PY -c '
import json, sys
pf = json.loads(sys.argv[1]).get("portForward")
assert pf, "no portForward counters"
assert pf["sessionsSpdy"] > 0 and pf["sessionsWebSocketSpdy"] > 0 and pf["sessionsWebSocketV4"] > 0, pf
assert pf["streamsOpened"] >= 150 and pf["streamsRefused"] >= 3, pf
assert pf["bytesFromPod"] > 3 * 104857600 and pf["bytesToPod"] > 3 * 104857600, pf
' "$stats" || fail "port-forward counters: $stats"
pass "port-forward counters in /fake/v1/stats"

# A clean shutdown with no sanitizer report (when built with -DKT_SANITIZE=ON).
kill -TERM "$FAKE_PID"
wait "$FAKE_PID" || fail "fake cluster exited with status $? after SIGTERM"
if grep -E "AddressSanitizer|LeakSanitizer|runtime error" "$T/pf.log"; then fail "sanitizer report"; fi
pass "fake cluster exits cleanly"
echo "all fake-cluster port-forward checks passed"
