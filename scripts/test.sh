#!/usr/bin/env bash
# test.sh - installs what is missing, builds, and runs every test through ctest: plain, then under ASan+UBSan
#
#   ./scripts/test.sh            both runs
#   ./scripts/test.sh --quick    the plain build only
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

status=0
echo "== build (RelWithDebInfo) =="
./scripts/build.sh
echo "== ctest =="
(cd build && ctest --output-on-failure -j 2) || status=1

if [ "${1:-}" != "--quick" ]; then
  echo "== build (ASan+UBSan) =="
  ./scripts/build.sh --asan
  echo "== ctest -L asan =="
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
  (cd build-asan && ctest -L asan --output-on-failure -j 2) || status=1
fi
exit $status
