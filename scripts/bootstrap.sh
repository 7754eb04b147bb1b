#!/usr/bin/env bash
# bootstrap.sh: install exactly the Debian packages that kubetun's build, tests and demo need.
# Idempotent: when every package is already installed it touches nothing (no apt-get update).
# Used by both README commands and by .ci/run.
set -euo pipefail

PACKAGES=(
  # build
  cmake pkg-config gcc make clang libclang-rt-14-dev
  libwebsockets-dev libssl-dev libyaml-dev libcjson-dev zlib1g-dev
  # lwIP source is fetched from Debian's source package (scripts/fetch-lwip.sh)
  xz-utils dpkg-dev debian-archive-keyring
  # tests: real peers
  curl openssl iproute2 python3 python3-kubernetes valgrind procps dnsutils
  # tests: dropping RSTs into the tunnel inside a test's namespace (test_tunnel_liveness.sh)
  nftables
  # tests: a private system bus for systemd-resolved (unpacked, never installed, by the test)
  dbus-daemon
  # benchmarks (tests/bench/bench_tunnel.sh): DNS load, idle wakeup counting
  dnsperf strace
)

if [ "$(id -u)" != 0 ]; then
  echo "bootstrap: must run as root (installs Debian packages)" >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# kubectl 1.27..1.33 come with the machine image (google-cloud-cli); only `apt-get install kubectl`
# brings them where that repository is configured. We need 1.27 and 1.33 for the tests.
kdir=$(dirname "$(readlink -f "$(command -v kubectl 2>/dev/null || echo /usr/lib/google-cloud-sdk/bin/kubectl)")")
if [ ! -x "$kdir/kubectl.1.27" ] || [ ! -x "$kdir/kubectl.1.33" ]; then
  echo "bootstrap: kubectl.1.27/kubectl.1.33 missing, trying apt-get install kubectl"
  apt-get install -y -qq kubectl >/dev/null 2>&1 || echo "bootstrap: warning: kubectl 1.27/1.33 not available; kubectl tests will fail" >&2
fi
echo "bootstrap: ok"
