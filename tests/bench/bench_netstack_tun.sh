#!/usr/bin/env bash
# bench_netstack_tun.sh: the netstack and TUN alone, without Kubernetes: one connection through a
# real TUN device to tests/e2e/tun_echo, with the device offloads (partial checksums,
# multi-segment packets) and with --no-offload, in the same run.
#
# Download: curl GET /bytes/SIZE from a VIP (netstack → app). Upload: Python sendall of SIZE bytes
# to the discard port 9, which answers the count (app → netstack). Median of ROUNDS rounds, modes
# interleaved. Everything inside a network namespace made and removed here.
# Knobs: KT_BENCH_BYTES (default 1 GiB), KT_BENCH_ROUNDS (3), KT_BENCH_MTU (16384).
source "$(dirname "$0")/../e2e/lib.sh"
source "$(dirname "$0")/../e2e/netns.sh"

SIZE=${KT_BENCH_BYTES:-1073741824}
ROUNDS=${KT_BENCH_ROUNDS:-3}
MTU=${KT_BENCH_MTU:-16384}
ECHO_BIN=$KT_BUILD_DIR/tests/tun_echo
[ -x "$ECHO_BIN" ] || fail "missing $ECHO_BIN (build the tun_echo target)"
netns_create

# run MODE: one round of download and upload with tun_echo started in MODE (offload|plain).
declare -A DL=() UL=()
run() {
	local extra=() out t0 t1 pid
	[ "$1" = plain ] && extra=(--no-offload)
	ip netns exec "$NS" "$ECHO_BIN" --mtu "$MTU" "${extra[@]}" >"$T/echo.out" 2>"$T/echo.log" &
	pid=$!
	KT_PIDS+=("$pid")
	wait_until 10 grep -q '^ready ' "$T/echo.out" || fail "tun_echo did not start: $(cat "$T/echo.log")"
	out=$(nsx curl -sS -m 600 -o /dev/null -w '%{size_download} %{time_total}' "http://198.19.5.5/bytes/$SIZE") ||
		fail "download: $out"
	[ "${out%% *}" = "$SIZE" ] || fail "downloaded ${out%% *} of $SIZE bytes"
	DL[$1]+="$(awk -v s="$SIZE" -v t="${out#* }" 'BEGIN{printf "%.0f", s / t / 1e6}') "
	out=$(nsx $PY - "$SIZE" <<'EOF'
import socket, sys, time
n = int(sys.argv[1]); block = bytes(1 << 20); left = n
s = socket.create_connection(("198.19.5.6", 9))
t0 = time.monotonic()
while left:
    k = min(left, len(block)); s.sendall(block[:k]); left -= k
s.shutdown(socket.SHUT_WR)
got = b""
while True:
    d = s.recv(100)
    if not d:
        break
    got += d
t = time.monotonic() - t0
assert int(got) == n, got
print("%.0f" % (n / t / 1e6))
EOF
) || fail "upload: $out"
	UL[$1]+="$out "
	kill "$pid"
	wait "$pid" 2>/dev/null || true
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
for _ in $(seq 1 "$ROUNDS"); do
	run offload
	run plain
done
echo "bench_netstack_tun: $(nproc) cores, Linux $(uname -r), MTU $MTU, $SIZE bytes, $ROUNDS rounds, load $(cut -d' ' -f1-3 /proc/loadavg)"
for m in offload plain; do
	printf '  %-8s download median %6s MB/s (%s)  upload median %6s MB/s (%s)\n' "$m" \
		"$(median <<<"${DL[$m]}")" "${DL[$m]% }" "$(median <<<"${UL[$m]}")" "${UL[$m]% }"
done
printf '  offload/plain: download %s, upload %s\n' \
	"$(awk -v a="$(median <<<"${DL[offload]}")" -v b="$(median <<<"${DL[plain]}")" 'BEGIN{printf "%.2f", a / b}')" \
	"$(awk -v a="$(median <<<"${UL[offload]}")" -v b="$(median <<<"${UL[plain]}")" 'BEGIN{printf "%.2f", a / b}')"
