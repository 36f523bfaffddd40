#!/usr/bin/env bash
# fuzz.sh - builds the libFuzzer targets (clang, ASan+UBSan) in build-fuzz/ and runs each for a while
#
#   ./scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     default: 300 s each, every target
#
# Targets: fuzz_rpc (the JSON-RPC socket: stream splitter, server, methods),
# fuzz_entry (entry decoder and verifier), fuzz_persist (state-file loader).
# Each first replays tests/fuzz/regress/<target>/, then fuzzes starting from
# tests/fuzz/corpus/<target>/ (read only) and build-fuzz/corpus/<target>/,
# where the inputs it finds are kept from run to run. Crashes, leaks and
# timeouts go to build-fuzz/artifacts/<target>/, logs to build-fuzz/logs/.
# Worth keeping: minimise (-minimize_crash=1), add the input under
# tests/fuzz/regress/<target>/ with the fix; new seeds under tests/fuzz/corpus/
# only if small (merge with -merge=1 first).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-300}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_rpc fuzz_entry fuzz_persist)

command -v clang >/dev/null || { echo "fuzz.sh: clang is needed (./scripts/setup.sh installs it)" >&2; exit 1; }
dir=build-fuzz
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDHTREG_FUZZ=ON -DDHTREG_TESTS=OFF \
      -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
cmake --build "$dir" -j "$(nproc)" --target "${targets[@]}" 2>&1 | grep -E "warning|error|Error" || true

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$PWD/tests/fuzz/lsan.supp"
status=0
for t in "${targets[@]}"; do
  bin="$dir/fuzz/$t"
  [ -x "$bin" ] || { echo "fuzz.sh: no target $t" >&2; exit 2; }
  mkdir -p "$dir/corpus/$t" "$dir/artifacts/$t" "$dir/logs"
  opts=(-max_len=65536 -timeout=25 -rss_limit_mb=3072 -artifact_prefix="$dir/artifacts/$t/")
  [ -f "tests/fuzz/$t.dict" ] && opts+=(-dict="tests/fuzz/$t.dict")
  if compgen -G "tests/fuzz/regress/$t/*" >/dev/null; then
    "$bin" "${opts[@]}" tests/fuzz/regress/"$t"/* >"$dir/logs/$t.regress.log" 2>&1 ||
      { echo "== $t: a regression input fails: $dir/logs/$t.regress.log"; status=1; continue; }
  fi
  echo "== $t: ${secs}s (log: $dir/logs/$t.log)"
  if "$bin" "${opts[@]}" -max_total_time="$secs" -print_final_stats=1 \
       "$dir/corpus/$t" "tests/fuzz/corpus/$t" >"$dir/logs/$t.log" 2>&1; then
    result=ok
  else
    result="FOUND SOMETHING: $(ls -t "$dir/artifacts/$t" | head -1)"
    status=1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/logs/$t.log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/logs/$t.log")
  cov=$(grep -E "^#[0-9]+" "$dir/logs/$t.log" | tail -1 | grep -oE "cov: [0-9]+ ft: [0-9]+" || true)
  echo "   $result; ${execs:-?} executions, ${rate:-?}/s, $cov, corpus $(ls "$dir/corpus/$t" | wc -l) files"
done
exit $status
