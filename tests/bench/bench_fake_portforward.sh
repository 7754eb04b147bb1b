#!/usr/bin/env bash
# bench_fake_portforward.sh: is the fake cluster ever the bottleneck of a port-forward benchmark?
#
# For each protocol kubectl speaks, downloads SIZE bytes (default 1 GiB) from a simulated pod
# through `kubectl port-forward` and reports MB/s and the CPU seconds (user+sys, from
# /proc/PID/stat) that the fake cluster and kubectl each used during the transfer. Also uploads
# the same amount (POST /sha256). Baseline in the same run: the same pod backend reached by the
# fake's own loopback path is not available without kubectl, so the ratio printed is fake CPU /
# kubectl CPU (the target is < 1).
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
    sum=$(head -c "$SIZE" /dev/zero | curl -s -X POST --data-binary @- -H 'Content-Type: application/octet-stream' \
      "http://127.0.0.1:$lport/sha256")
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
