#!/usr/bin/env bash
# bench.sh - dhtreg against raw OpenDHT, measured in the same run on this machine: each figure with its ratio
#
#   ./scripts/bench.sh            every benchmark (several minutes)
#   ./scripts/bench.sh get local  only those (get put local burst memory scale)
#
# Every network is on 127.0.0.1; every node and runner started here stops with the script.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh >/dev/null
B=build/tests
want=("$@")
[ ${#want[@]} -eq 0 ] && want=(get put local burst memory scale)

tmp=$(mktemp -d /tmp/dhtreg-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

# runs a bench program, keeps its "key value" lines in $tmp/figures
run() { "$@" 2>>"$tmp/stderr" | grep -E '^(dr|raw)_[a-z0-9_]+ ' | tee -a "$tmp/figures" >/dev/null || {
  echo "bench.sh: '$*' failed; its output:" >&2; tail -20 "$tmp/stderr" >&2; exit 1; }; }
fig() { awk -v k="$1" '$1 == k { v = $2 } END { print v }' "$tmp/figures"; }
# one row: what, dhtreg's figure, raw's figure, unit, and the ratio dhtreg/raw
row() {
  local what=$1 d=$2 r=$3 unit=$4
  awk -v w="$what" -v d="$d" -v r="$r" -v u="$unit" 'BEGIN {
    ratio = (r + 0 > 0 && d != "") ? sprintf("%.2fx", d / r) : "-";
    printf "%-46s %12s %12s  %-8s %8s\n", w, d == "" ? "-" : d, r == "" ? "-" : r, u, ratio }'
}
# raw_swarm N DIR [BOOT]: N raw runners in one background process, ready when this returns
raw_swarm() {
  mkdir -p "$2"
  $B/bench_raw swarm "$1" "$2" ${3:-} >"$2.out" 2>>"$tmp/stderr" & pids+=($!)
  for _ in $(seq 600); do grep -q ready "$2.out" 2>/dev/null && return 0; sleep 0.1; done
  echo "bench.sh: raw swarm in $2 did not start" >&2; exit 1
}
stop_swarms() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; pids=(); }
header() { printf '\n%s\n%-46s %12s %12s  %-8s %8s\n' "$1" "figure" "dhtreg" "raw OpenDHT" "unit" "ratio"; }

for w in "${want[@]}"; do case $w in
get)
  # dhtreg: a dhtregd of its own resolves (a resource entry and a record) in a network of N-1
  # swarm nodes. raw: a runner of its own process gets a key holding two values in a network of
  # N-1 runners; also shown: a get from a runner inside the runners' own process (one value)
  for n in 20 200; do
    : >"$tmp/figures"
    run $B/bench_raw get $n 200
    inproc_p50=$(fig raw_get_p50_ms) inproc_p99=$(fig raw_get_p99_ms)
    : >"$tmp/figures"
    raw_swarm $((n - 1)) "$tmp/rawget$n"
    run $B/bench_raw probe "127.0.0.1:$(head -1 "$tmp/rawget$n/raw_ports")" 200 2
    stop_swarms
    run $B/bench_dhtreg get $n 200
    header "1. cold resolve over JSON-RPC vs raw get, N = $n"
    for p in p50 p99; do row "latency $p" "$(fig dr_get_${p}_ms)" "$(fig raw_get_${p}_ms)" ms; done
    row "latency p90" "$(fig dr_get_p90_ms)" "" ms
    row "success" "$(fig dr_get_success)" "$(fig raw_get_success)" fraction
    row "vs raw get inside the runners' process, p50" "$(fig dr_get_p50_ms)" "$inproc_p50" ms
    row "vs raw get inside the runners' process, p99" "$(fig dr_get_p99_ms)" "$inproc_p99" ms
  done ;;
put)
  : >"$tmp/figures"
  run $B/bench_raw put 20 2000 10 64
  run $B/bench_dhtreg put 20 2000 10 1000
  header "2. advertise through one node (2 000 records, 10 resources, N = 20) vs raw windowed put (64)"
  row "answered" "$(fig dr_put_per_s)" "$(fig raw_put_per_s)" "/s"
  row "resolvable on another node" "$(fig dr_put_visible_per_s)" "$(fig raw_put_visible_per_s)" "/s" ;;
local)
  : >"$tmp/figures"
  run $B/bench_raw get 20 100
  run $B/bench_dhtreg local 200000
  header "3. the local path (watched resource of 10 records, answered from the cache); raw: a get, N = 20"
  row "health, 1 connection" "$(fig dr_health_1c_per_s)" "" "/s"
  row "health p50, 1 connection" "$(fig dr_health_1c_lat_p50_us)" "" "us"
  row "health, 8 connections" "$(fig dr_health_8c_per_s)" "" "/s"
  row "cached resolve, 1 connection" "$(fig dr_cached_1c_per_s)" "" "/s"
  row "cached resolve p50, 1 connection (vs raw get)" "$(fig dr_cached_1c_lat_p50_us)" \
      "$(awk -v m="$(fig raw_get_p50_ms)" 'BEGIN { print m * 1000 }')" "us"
  row "cached resolve, 8 connections" "$(fig dr_cached_8c_per_s)" "" "/s"
  row "cached resolve p50, 8 connections" "$(fig dr_cached_8c_lat_p50_us)" "" "us" ;;
burst)
  : >"$tmp/figures"
  run $B/bench_raw burst 20 10000 120
  run $B/bench_dhtreg burst 20 100000 100
  header "4. a burst sent at once (dhtreg: 100 000 advertise requests, 1 000 resources; raw: 10 000 puts, 1 000 keys, 120 s at most)"
  row "completed" "$(fig dr_burst_count)" "$(fig raw_burst_done)" "ops"
  row "time" "$(fig dr_burst_s)" "$(fig raw_burst_s)" "s"
  row "errors" "$(fig dr_burst_errors)" "" ""
  row "peak RSS" "$(fig dr_burst_peak_rss_kb)" "$(fig raw_burst_peak_rss_kb)" "kB" ;;
memory)
  : >"$tmp/figures"
  run $B/bench_raw idle
  run $B/bench_dhtreg memory 10000
  header "5. memory"
  row "idle node RSS" "$(fig dr_idle_rss_kb)" "$(fig raw_idle_rss_kb)" "kB"
  row "RSS per 10 000 cached records" "$(fig dr_cache_rss_per_10k_kb)" "" "kB" ;;
scale)
  : >"$tmp/figures"
  # raw: five processes of 200 runners, then a probe (two values per key) joining through the last
  raw_swarm 200 "$tmp/raw0"
  boot="127.0.0.1:$(head -1 "$tmp/raw0/raw_ports")"
  for i in 1 2 3 4; do raw_swarm 200 "$tmp/raw$i" "$boot"; done
  run $B/bench_raw probe "127.0.0.1:$(head -1 "$tmp/raw4/raw_ports")" 200 2
  stop_swarms
  run $B/bench_dhtreg scale 5 200 200
  header "6. scale: 1 000 nodes in five processes"
  row "resolve success" "$(fig dr_scale_success)" "$(fig raw_get_success)" fraction
  row "resolve p50" "$(fig dr_scale_p50_ms)" "$(fig raw_get_p50_ms)" ms
  row "resolve p99" "$(fig dr_scale_p99_ms)" "$(fig raw_get_p99_ms)" ms
  row "time to join (all five processes)" "$(fig dr_scale_join_s)" "" s ;;
*) echo "bench.sh: unknown benchmark '$w' (get put local burst memory scale)" >&2; exit 2 ;;
esac; done
