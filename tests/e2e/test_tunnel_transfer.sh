#!/usr/bin/env bash
# test_tunnel_transfer.sh: big transfers through kubetund, byte-exact, in a network namespace.
#
#   - 1 GiB download (GET /bytes/1073741824, byte i = i % 251) checked by SHA-256 against the
#     pattern computed locally;
#   - 256 MiB upload (PUT /sha256 of a random file) whose SHA-256 the pod computes must match;
#   - both at once on one hostname's port 80 and 443 (TLS) is covered by the basic test; here
#     the rates are printed for the record, not asserted.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/netns.sh"

netns_create
start_fake_ns fake "$KT_SOURCE_DIR/tests/fixtures/basic.yaml"
cat >"$T/profile.yaml" <<'EOF'
forwards:
  - target: svc/web
    namespace: shop
EOF
start_kubetund ktd "$T/profile.yaml"

GIB=$((1 << 30))
want=$($PY - "$GIB" <<'EOF'
import hashlib, sys
n = int(sys.argv[1])
block = bytes(i % 251 for i in range(251)) * 4096  # a whole number of periods
h = hashlib.sha256()
while n:
    k = min(n, len(block))
    h.update(block[:k])
    n -= k
print(h.hexdigest())
EOF
)
t0=$(date +%s%N)
got=$(nsx curl -sS --fail --max-time 300 "http://web.shop.svc.cluster.local/bytes/$GIB" | sha256sum | cut -d' ' -f1)
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$got" = "$want" ] || fail "1 GiB download: sha256 $got, want $want"
pass "1 GiB download byte-exact in $ms ms ($((GIB / 1048576 * 1000 / (ms + 1))) MiB/s)"

head -c $((256 << 20)) /dev/urandom >"$T/up.bin"
want=$(sha256sum "$T/up.bin" | cut -d' ' -f1)
t0=$(date +%s%N)
got=$(nsx curl -sS --fail --max-time 300 -T "$T/up.bin" http://web.shop.svc.cluster.local/sha256)
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$got" = "$want" ] || fail "256 MiB upload: pod computed $got, want $want"
pass "256 MiB upload byte-exact in $ms ms ($((256 * 1000 / (ms + 1))) MiB/s)"
rm -f "$T/up.bin"
stop_kubetund
echo "transfer tests passed"
