#!/usr/bin/env bash
# bench_fake_portforward.sh: is the fake cluster ever the bottleneck of a port-forward benchmark?
#
# For each protocol kubectl speaks, moves SIZE bytes (default 1 GiB) to and from a simulated
# pod through `kubectl port-forward` and prints MB/s and the CPU seconds (user+sys, from
# /proc/PID/stat) that the fake cluster and kubectl each used during the transfer. kubectl is the
# baseline measured in the same run: the ratio fake/kubectl must stay below 1. Downloads read
# GET /bytes/N (content checked by sha256 in the e2e tests); uploads stream to POST /discard,
# which counts the bytes, so the fake's CPU is the transport's and not the simulated pod's
# SHA-256 (the e2e tests check upload content with /sha256).
source "$(dirname "$0")/../e2e/lib.sh"
SIZE=${KT_BENCH_BYTES:-1073741824}
FIXTURE=$KT_SOURCE_DIR/tests/fixtures/basic.yaml
start_fake bench "$FIXTURE"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

run_one() {
  local label=$1 kubectl=$2 env=$3 dir=$4
  local lport; lport=$(free_port)
  env $env "$kubectl" --kubeconfig "$KCFG" port-forward -n shop svc/web "$lport:80" >"$T/pf.log" 2>&1 &
  local pf=$!
  KT_PIDS+=("$pf")
  wait_until 10 grep -q Forwarding "$T/pf.log" || fail "$label: port-forward did not start"
  curl -s "http://127.0.0.1:$lport/" >/dev/null  # warm up: session and stream set up
  local f0 k0 t0 t1 f1 k1
  f0=$(cpu_ticks "$FAKE_PID"); k0=$(cpu_ticks "$pf"); t0=$(date +%s.%N)
  if [ "$dir" = down ]; then
    sum=$(curl -s "http://127.0.0.1:$lport/bytes/$SIZE" | sha256sum | cut -d' ' -f1)
  else
    # Streamed (chunked) upload to /discard: the pod counts the body and drops it, so the
    # fake's CPU is the transport's, not the simulated pod's SHA-256.
    sum=$(head -c "$SIZE" /dev/zero | curl -s -T - -X POST "http://127.0.0.1:$lport/discard")
    [ "$sum" = "$SIZE" ] || fail "$label up: pod counted '$sum' bytes, sent $SIZE"
  fi
  t1=$(date +%s.%N); f1=$(cpu_ticks "$FAKE_PID"); k1=$(cpu_ticks "$pf")
  kill "$pf"; wait "$pf" 2>/dev/null || true
  [ -n "$sum" ] || fail "$label $dir: no checksum"
  awk -v l="$label" -v d="$dir" -v s="$SIZE" -v t0="$t0" -v t1="$t1" -v fc=$((f1 - f0)) -v kc=$((k1 - k0)) -v hz="$hz" \
    'BEGIN { secs = t1 - t0; printf "%-34s %-4s %8.1f MB/s   fake %6.2f s CPU   kubectl %6.2f s CPU   fake/kubectl %.2f\n",
             l, d, s / secs / 1e6, fc / hz, kc / hz, (kc > 0 ? fc / kc : 0) }'
}

echo "port-forward of $SIZE bytes through kubectl (svc/web, simulated pod), $(nproc) cores"
for dir in down up; do
  run_one "kubectl 1.33 (SPDY in WebSocket)" "$KUBECTL133" "" $dir
  run_one "kubectl 1.33 (plain SPDY)" "$KUBECTL133" "KUBECTL_PORT_FORWARD_WEBSOCKETS=false" $dir
  run_one "kubectl 1.27 (plain SPDY)" "$KUBECTL127" "" $dir
done

# WebSocket v4 (what kubetund and the Python/JS clients speak): one WebSocket per connection,
# Python client (slower than kubectl), so a quarter of SIZE.
V4SIZE=$((SIZE / 4))
pod=$("$KUBECTL133" --kubeconfig "$KCFG" get pods -n shop -l app=web -o jsonpath='{.items[0].metadata.name}')
for proto in v4.channel.k8s.io v4.base64.channel.k8s.io; do
  f0=$(cpu_ticks "$FAKE_PID")
  secs=$(/usr/bin/python3 "$KT_SOURCE_DIR/tests/bench/pf_v4_download.py" "$KCFG" shop "$pod" 80 "$V4SIZE" "$proto") \
    || fail "$proto download"
  f1=$(cpu_ticks "$FAKE_PID")
  awk -v l="$proto (Python client)" -v s="$V4SIZE" -v t="$secs" -v fc=$((f1 - f0)) -v hz="$hz" \
    'BEGIN { printf "%-34s %-4s %8.1f MB/s   fake %6.2f s CPU   (%d bytes)\n", l, "down", s / t / 1e6, fc / hz, s }'
done
