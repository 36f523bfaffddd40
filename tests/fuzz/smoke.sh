#!/usr/bin/env bash
# smoke.sh - ctest's short run of one fuzz target: replays its regression inputs, then fuzzes a copy of its seed corpus
#
#   smoke.sh TARGET_BINARY CORPUS_DIR REGRESS_DIR SECONDS
#
# The corpus is copied to a temporary directory: new inputs never land in
# the source tree. Any crash, leak, sanitizer report or timeout fails.
set -euo pipefail
bin=$1 corpus=$2 regress=$3 secs=$4
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/dhtreg-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$root/tests/fuzz/lsan.supp"
opts=(-max_len=65536 -timeout=25 -rss_limit_mb=3072 -artifact_prefix="$work/")
dict="$root/tests/fuzz/$(basename "$bin").dict"
[ -f "$dict" ] && opts+=(-dict="$dict")

mkdir -p "$work/corpus"
cp "$corpus"/* "$work/corpus/" 2>/dev/null || true
if compgen -G "$regress/*" >/dev/null; then
  echo "== $(basename "$bin"): regression inputs"
  "$bin" "${opts[@]}" "$regress"/*
fi
echo "== $(basename "$bin"): ${secs}s from $(ls "$work/corpus" | wc -l) seeds"
"$bin" "${opts[@]}" -max_total_time="$secs" -print_final_stats=1 "$work/corpus"
