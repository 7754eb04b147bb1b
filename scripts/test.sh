#!/usr/bin/env bash
# test.sh: the whole test suite, as the README's second command runs it.
#
# Installs what it needs (bootstrap.sh), then builds and tests twice: a normal gcc -Werror
# build in build/, and an ASan+UBSan build in build-asan/. Every CTest label but `bench`
# runs (unit, fuzz-replay, e2e). Exit status 0 only when both runs pass.
# Options: --quick (skip the sanitizer build), KT_TEST_JOBS=N (parallel tests, default 2).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    *) echo "usage: scripts/test.sh [--quick]" >&2; exit 2 ;;
  esac
done
jobs=${KT_TEST_JOBS:-2}

./scripts/bootstrap.sh

run_suite() {
  local dir=$1; shift
  cmake -S . -B "$dir" "$@" >/dev/null
  cmake --build "$dir" -j"$(nproc)"
  ctest --test-dir "$dir" -LE bench --output-on-failure -j"$jobs"
}

echo "== gcc -Werror build (build/)"
run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo
if [ "$quick" = 0 ]; then
  echo "== ASan+UBSan build (build-asan/)"
  # halt_on_error makes any sanitizer report fail the test that produced it; LeakSanitizer
  # runs as part of ASan at exit.
  export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DKT_SANITIZE=ON
fi
echo "== all tests passed"
