#!/usr/bin/env bash
# build.sh - configures and builds dhtreg into build/ (or build-asan/ with --asan)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build
flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DDHTREG_TESTS=ON)
if [ "${1:-}" = "--asan" ]; then
  dir=build-asan
  flags+=(-DDHTREG_SANITIZE=ON)
fi
cmake -S . -B "$dir" "${flags[@]}" >/dev/null
cmake --build "$dir" -j "$(nproc)" 2>&1 | grep -E "warning|error|Error" || true
test -x "$dir/bin/dhtregd" && test -x "$dir/bin/dhtreg"
