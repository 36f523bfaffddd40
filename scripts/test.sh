#!/usr/bin/env bash
# test.sh - installs what is missing, builds, and runs every test through ctest: plain, then under ASan+UBSan, then the fuzz smoke, then the
# integration tests with every node under valgrind
#
#   ./scripts/test.sh            every run
#   ./scripts/test.sh --quick    the plain build only
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

status=0
echo "== build (RelWithDebInfo) =="
./scripts/build.sh
# three at a time: the integration tests mostly wait on their nodes' timers (two cores stay
# about half idle at two); the ones that need the cores alone are RUN_SERIAL
echo "== ctest =="
(cd build && ctest --output-on-failure -j 3) || status=1

if [ "${1:-}" != "--quick" ]; then
  echo "== build (ASan+UBSan) =="
  ./scripts/build.sh --asan
  echo "== ctest -L asan =="
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
  (cd build-asan && ctest -L asan --output-on-failure -j 3) || status=1

  # the fuzz targets (clang, libFuzzer): their regression inputs and a short run each
  if command -v clang >/dev/null; then
    echo "== build (libFuzzer, clang) =="
    cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDHTREG_FUZZ=ON -DDHTREG_TESTS=OFF \
          -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
    cmake --build build-fuzz -j "$(nproc)" 2>&1 | grep -E "warning|error|Error" || true
    echo "== ctest -L fuzz =="
    (cd build-fuzz && ctest -L fuzz --output-on-failure -j 2) || status=1
  else
    echo "== fuzz smoke skipped: no clang =="
  fi

  # the integration tests again, every node under valgrind memcheck
  echo "== valgrind (scripts/check.sh) =="
  ./scripts/check.sh || status=1
fi
exit $status
