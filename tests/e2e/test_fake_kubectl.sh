#!/usr/bin/env bash
# Real kubectl 1.27 and 1.33 against kubetun-fake-cluster: listing, JSON output, watch events
# on pod deletion, delete, create, and an API outage that kubectl survives once it ends.
source "$(dirname "$0")/lib.sh"

FIXTURE=$KT_SOURCE_DIR/tests/fixtures/basic.yaml
start_fake kctl "$FIXTURE" --auth cert --grace-ms 300 --replace-delay-ms 300

for K in "$KUBECTL127" "$KUBECTL133"; do
  v=$(basename "$K")
  k() { "$K" --kubeconfig "$KCFG" "$@"; }

  out=$(k get pods,svc,endpointslices,deploy,sts,ds -A 2>&1) || fail "$v get -A: $out"
  for want in 'deployment.apps/web' 'statefulset.apps/kafka' 'daemonset.apps/agent' 'service/kafka' \
              'pod/kafka-0' 'pod/kafka-2' 'pod/db-1' 'service/web' 'pod/debug'; do
    grep -q "$want" <<<"$out" || fail "$v get -A lacks $want: $out"
  done
  grep -Eq 'pod/web-[a-z0-9]{10}-[a-z0-9]{5}' <<<"$out" || fail "$v: no deployment-style pod name"
  grep -q 'endpointslice.discovery.k8s.io/web-' <<<"$out" || fail "$v: no endpointslice for web"
  pass "$v get pods,svc,endpointslices,deploy,sts,ds -A"

  k get pods,svc,endpointslices,deploy,sts,ds -A -o json >"$T/all.json" || fail "$v -o json"
  /usr/bin/python3 - "$T/all.json" <<'PY' || fail "$v -o json content"
import json, sys
items = json.load(open(sys.argv[1]))["items"]
kinds = {(i["kind"], i["metadata"]["namespace"], i["metadata"]["name"]) for i in items}
need = [("StatefulSet", "data", "kafka"), ("Service", "shop", "web"), ("Deployment", "shop", "web"),
        ("DaemonSet", "default", "agent"), ("Pod", "data", "kafka-1")]
for n in need:
    assert n in kinds, n
pods = [i for i in items if i["kind"] == "Pod"]
# Pods of the previous pass's deleted deployment may still be Terminating (not Ready).
for p in (p for p in pods if not p["metadata"].get("deletionTimestamp")):
    st = p["status"]
    assert st["phase"] == "Running", p["metadata"]["name"]
    assert any(c["type"] == "Ready" and c["status"] == "True" and c.get("lastTransitionTime") for c in st["conditions"])
    assert st["podIP"].startswith("10.244."), st["podIP"]
svc = [i for i in items if i["kind"] == "Service" and i["metadata"]["name"] == "kafka"][0]
assert svc["spec"]["clusterIP"] == "None"
web = [i for i in items if i["kind"] == "Service" and i["metadata"]["name"] == "web"][0]
a, b, c, d = map(int, web["spec"]["clusterIP"].split("."))
assert a == 10 and 96 <= b < 112, web["spec"]["clusterIP"]
kafka0 = [p for p in pods if p["metadata"]["name"] == "kafka-0"][0]
assert kafka0["spec"]["hostname"] == "kafka-0" and kafka0["spec"]["subdomain"] == "kafka"
PY
  pass "$v -o json"

  # Watch sees the DELETED/ADDED pair when a StatefulSet pod is deleted (same name, new UID).
  k get pods -n data -w --output-watch-events -o json >"$T/watch.json" 2>"$T/watch.log" &
  wpid=$!
  KT_PIDS+=("$wpid")
  sleep 1
  old_uid=$(k get pod -n data kafka-1 -o jsonpath='{.metadata.uid}')
  k delete pod -n data kafka-1 --wait=false >/dev/null || fail "$v delete pod"
  wait_until 10 bash -c "grep -q '\"DELETED\"' '$T/watch.json' && \
    /usr/bin/python3 -c 'import sys,json;d=sys.stdin.read();sys.exit(0 if d.count(\"\\\"ADDED\\\"\")>=1 and d.rfind(\"\\\"ADDED\\\"\")>d.find(\"\\\"DELETED\\\"\") else 1)' <'$T/watch.json'" \
    || fail "$v watch did not see DELETED then ADDED: $(cat "$T/watch.json" | head -c 2000)"
  kill "$wpid" 2>/dev/null || true
  wait_until 10 bash -c "[ \"\$('$K' --kubeconfig '$KCFG' get pod -n data kafka-1 -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}')\" = True ]" \
    || fail "$v kafka-1 not replaced and Ready"
  new_uid=$(k get pod -n data kafka-1 -o jsonpath='{.metadata.uid}')
  [ -n "$new_uid" ] && [ "$new_uid" != "$old_uid" ] || fail "$v replacement kept uid $old_uid"
  pass "$v get -w sees DELETED/ADDED; statefulset pod replaced with a new uid"

  # create -f and delete of a service and a deployment.
  name=extra-${v##*.}
  cat >"$T/create.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: $name, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: $name}}
  template:
    metadata: {labels: {app: $name}}
    spec: {containers: [{name: c, image: example/x, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: $name, namespace: default}
spec: {selector: {app: $name}, ports: [{port: 80}]}
YAML
  k create -f "$T/create.yaml" --validate=false >/dev/null || fail "$v create -f"
  wait_until 10 bash -c "'$K' --kubeconfig '$KCFG' get pods -l app=$name -o name | grep -q pod/" \
    || fail "$v created deployment has no pod"
  k get svc "$name" -o jsonpath='{.spec.clusterIP}' | grep -Eq '^10\.' || fail "$v created service has no clusterIP"
  k delete svc "$name" >/dev/null || fail "$v delete svc"
  k delete deploy "$name" >/dev/null || fail "$v delete deploy"
  if k get svc "$name" >/dev/null 2>&1; then fail "$v service still there after delete"; fi
  pass "$v create -f / delete"
done

# Unknown objects give kubectl's NotFound wording from our Status.
out=$("$KUBECTL133" --kubeconfig "$KCFG" get pod -n shop nosuch 2>&1) && fail "get of a missing pod succeeded"
grep -q 'pods "nosuch" not found' <<<"$out" || fail "NotFound text: $out"
pass "NotFound Status"

# API outage: kubectl fails during it and works again afterwards.
fake_admin POST "/fake/v1/outage?seconds=3" >/dev/null || fail "outage fault"
if "$KUBECTL133" --kubeconfig "$KCFG" --request-timeout=2s get pods -A >/dev/null 2>&1; then
  fail "kubectl succeeded during an API outage"
fi
wait_until 10 "$KUBECTL133" --kubeconfig "$KCFG" --request-timeout=2s get pods -A || fail "kubectl did not recover after the outage"
pass "API outage fails kubectl, then it recovers"

# Token and exec-plugin kubeconfigs are accepted; a bad token is not.
for auth in token exec; do
  start_fake "auth-$auth" "$FIXTURE" --auth "$auth"
  "$KUBECTL133" --kubeconfig "$KCFG" get svc -n shop web >/dev/null || fail "--auth $auth kubeconfig refused"
  pass "--auth $auth"
done
out=$(curl -sS --cacert "$FAKE_CA" -H 'Authorization: Bearer wrong' "https://127.0.0.1:$FAKE_PORT/api/v1/pods" || true)
grep -q '"code":401' <<<"${out// /}" || fail "bad token not refused with 401: $out"
pass "bad token → 401"
echo "all fake-cluster kubectl checks passed"
