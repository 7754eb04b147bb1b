#!/usr/bin/env bash
# The fake cluster's REST API against the Kubernetes Python client and kubectl's table output:
# selectors, watch semantics (replay, BOOKMARK, timeoutSeconds, 410 Expired), create/delete
# answers and Status errors.
source "$(dirname "$0")/lib.sh"

FIXTURE=$KT_SOURCE_DIR/tests/fixtures/basic.yaml
start_fake api "$FIXTURE" --auth token --nodes 3 --grace-ms 400 --replace-delay-ms 200 --bookmark-ms 1000

/usr/bin/python3 - "$KCFG" <<'PY' || fail "Python client checks"
import json, sys, time
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

config.load_kube_config(config_file=sys.argv[1])
api = client.ApiClient()
v1, apps, disc = client.CoreV1Api(api), client.AppsV1Api(api), client.DiscoveryV1Api(api)

def check(cond, what):
    if not cond:
        print("FAIL:", what, file=sys.stderr)
        sys.exit(1)

def raw(path, timeout=10):
    """GET path; returns (status, list of JSON lines) of a streamed body."""
    r = api.call_api(path, "GET", auth_settings=["BearerToken"], _preload_content=False,
                     _request_timeout=timeout)[0]
    lines, buf, t0 = [], b"", time.time()
    for chunk in r.stream(4096):
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            lines.append((time.time() - t0, json.loads(line)))
    return r.status, lines, time.time() - t0

# Lists and selectors.
pods = v1.list_pod_for_all_namespaces()
check(len(pods.items) == 14, "14 pods with 3 nodes: %d" % len(pods.items))
names = sorted(p.metadata.name for p in v1.list_namespaced_pod("shop", label_selector="app in (web,api),tier!=x").items)
check(len(names) == 3 and names[0].startswith("api-"), names)
check([p.metadata.name for p in v1.list_pod_for_all_namespaces(field_selector="metadata.name=kafka-2").items] == ["kafka-2"], "fieldSelector")
check(len(v1.list_namespaced_pod("data", label_selector="!app").items) == 0, "!app")
try:
    v1.list_namespaced_pod("data", label_selector="app in (")
    check(False, "bad selector accepted")
except ApiException as e:
    check(e.status == 400 and json.loads(e.body)["reason"] == "BadRequest", e.body)

# EndpointSlices: named targetPort, headless hostnames.
s = disc.list_namespaced_endpoint_slice("shop", label_selector="kubernetes.io/service-name=api").items
check(len(s) == 1 and s[0].ports[0].port == 8080 and s[0].endpoints[0].conditions.ready, "api slice")
s = disc.list_namespaced_endpoint_slice("data", label_selector="kubernetes.io/service-name=db").items
check(sorted(e.hostname for e in s[0].endpoints) == ["db-0", "db-1"], "db hostnames")

# Watch from "now": synthetic ADDED for the current state, a BOOKMARK soon, clean end at timeoutSeconds.
st, ev, took = raw("/api/v1/namespaces/data/pods?watch=true&allowWatchBookmarks=true&timeoutSeconds=2&labelSelector=app%3Dkafka")
types = [e["type"] for _, e in ev]
check(st == 200 and types[:3] == ["ADDED"] * 3, types)
check("BOOKMARK" in types and ev[types.index("BOOKMARK")][0] < 1.0, "early bookmark: %s" % types)
bm = ev[types.index("BOOKMARK")][1]["object"]
check(bm["kind"] == "Pod" and bm["apiVersion"] == "v1" and bm["metadata"]["resourceVersion"], bm)
check(1.9 < took < 3 and types.count("BOOKMARK") >= 2, "watch ends at timeoutSeconds: %.2f %s" % (took, types))

# Watch from a list's resourceVersion sees the graceful delete and the StatefulSet replacement.
rv = v1.list_namespaced_pod("data").metadata.resource_version
deleted = v1.delete_namespaced_pod("db-1", "data")
check(deleted.metadata.deletion_timestamp is not None, "DELETE returns the terminating pod")
seen = []
for e in watch.Watch().stream(v1.list_namespaced_pod, "data", resource_version=rv, timeout_seconds=3):
    seen.append((e["type"], e["object"].metadata.name, e["object"].status.phase,
                 e["object"].metadata.deletion_timestamp is not None))
db1 = [x for x in seen if x[1] == "db-1"]
check(db1[0] == ("MODIFIED", "db-1", "Running", True), db1)
check([x[0] for x in db1][:4] == ["MODIFIED", "DELETED", "ADDED", "MODIFIED"], db1)
check(db1[2][2] == "Pending" and db1[3][2] == "Running", db1)

# Create and conflict; Status errors.
svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "made"},
       "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]}}
made = v1.create_namespaced_service("shop", svc)
check(made.spec.cluster_ip.startswith("10.") and made.spec.ports[0].protocol == "TCP", made.spec)
for call, code, reason, msg in [
        (lambda: v1.create_namespaced_service("shop", svc), 409, "AlreadyExists", 'services "made" already exists'),
        (lambda: v1.read_namespaced_pod("nosuch", "shop"), 404, "NotFound", 'pods "nosuch" not found'),
        (lambda: apps.read_namespaced_deployment("nosuch", "shop"), 404, "NotFound", 'deployments.apps "nosuch" not found'),
        (lambda: v1.create_namespaced_service("nons", svc), 404, "NotFound", 'namespaces "nons" not found'),
        (lambda: apps.create_namespaced_deployment("shop", {"metadata": {"name": "bad"}, "spec": {"replicas": "x"}}),
         422, "Invalid", 'Deployment.apps "bad" is invalid: spec.replicas: expected an integer, got string "x"')]:
    try:
        call()
        check(False, "no error for %s" % msg)
    except ApiException as e:
        b = json.loads(e.body)
        check(e.status == code and b["code"] == code and b["reason"] == reason and b["message"] == msg, e.body)
st = v1.delete_namespaced_service("made", "shop")
check(st.status == "Success" and st.details.name == "made", st)

# Too old a resourceVersion: 410 Expired (the history keeps the last 4096 events).
for i in range(1100):
    v1.create_namespaced_service("default", {"metadata": {"name": "churn"}, "spec": {"ports": [{"port": 80}], "selector": {"a": "b"}}})
    v1.delete_namespaced_service("churn", "default")
try:
    raw("/api/v1/namespaces/data/pods?watch=1&resourceVersion=5")
    check(False, "old resourceVersion accepted")
except ApiException as e:
    b = json.loads(e.body)
    check(e.status == 410 and b["reason"] == "Expired" and b["message"].startswith("too old resource version: 5 ("), e.body)

# Discovery bits.
check(client.VersionApi(api).get_code().git_version == "v1.33.0", "version")
try:
    api.call_api("/openapi/v2", "GET", auth_settings=["BearerToken"])
    check(False, "openapi served")
except ApiException as e:
    check(e.status == 404, e.status)
print("python checks ok")
PY
pass "Python client: selectors, slices, watch (ADDED/BOOKMARK/timeout/replay), create/delete, Status errors, 410"

# kubectl's table output has the usual columns.
for K in "$KUBECTL127" "$KUBECTL133"; do
  v=$(basename "$K")
  out=$("$K" --kubeconfig "$KCFG" get pods -n data 2>&1) || fail "$v get pods: $out"
  head -1 <<<"$out" | grep -Eq '^NAME +READY +STATUS +RESTARTS +AGE$' || fail "$v pod columns: $out"
  grep -Eq '^kafka-0 +1/1 +Running +0 +[0-9]+[smh]' <<<"$out" || fail "$v pod row: $out"
  out=$("$K" --kubeconfig "$KCFG" get svc -n shop -o wide 2>&1) || fail "$v get svc: $out"
  grep -Eq '^web +ClusterIP +10\.[0-9.]+ +<none> +80/TCP,443/TCP +[0-9]+[smh] +app=web$' <<<"$out" || fail "$v svc row: $out"
  grep -Eq '^ext +ExternalName +<none> +example.com' <<<"$out" || fail "$v externalname row: $out"
  out=$("$K" --kubeconfig "$KCFG" get deploy,sts,ds -A 2>&1) || fail "$v get workloads: $out"
  grep -Eq 'deployment.apps/web +2/2 +2 +2' <<<"$out" || fail "$v deploy row: $out"
  grep -Eq 'daemonset.apps/agent +3 +3 +3 +3 +3' <<<"$out" || fail "$v ds row: $out"
  out=$("$K" --kubeconfig "$KCFG" get all -n data 2>&1) || fail "$v get all: $out"
  grep -q 'statefulset.apps/kafka' <<<"$out" && grep -q 'service/kafka' <<<"$out" || fail "$v get all: $out"
  # kubectl 1.33 sends these typed creates as protobuf, 1.27 as JSON.
  n=${v##*.}
  "$K" --kubeconfig "$KCFG" create namespace "ns-$n" >/dev/null || fail "$v create namespace"
  "$K" --kubeconfig "$KCFG" create deployment "dep-$n" -n "ns-$n" --image=nginx:1.25 --port=80 --replicas=2 >/dev/null \
    || fail "$v create deployment"
  "$K" --kubeconfig "$KCFG" create service clusterip "dep-$n" -n "ns-$n" --tcp=8080:80 >/dev/null || fail "$v create service"
  wait_until 10 bash -c "[ \"\$('$K' --kubeconfig '$KCFG' get endpointslices -n ns-$n -l kubernetes.io/service-name=dep-$n \
    -o jsonpath='{.items[0].endpoints[*].conditions.ready}')\" = 'true true' ]" || fail "$v created deployment/service not ready"
  pass "$v table columns, get all, create namespace/deployment/service"
done
echo "all fake-cluster API checks passed"
