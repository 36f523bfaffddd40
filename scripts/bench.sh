#!/usr/bin/env bash
# bench.sh - dhtreg against raw OpenDHT, measured in the same run on this machine: each figure with its ratio
#
#   ./scripts/bench.sh            every benchmark (about half an hour)
#   ./scripts/bench.sh get big    only those (get big rate put local burst memory scale)
#   SCALE_RUNS=1 ./scripts/bench.sh scale   one run of the 1 000-node benchmark instead of five
#
# Everything runs in a network namespace of its own (unshare -n as root, unshare -rn otherwise)
# in which all of 10.77.0.0/16 is local on lo: every node and raw runner binds an address of its
# own there, so OpenDHT's per-address rate limits and quotas apply as between hosts, and no
# packet leaves the namespace. Every node and runner started here stops with the script.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${DR_BENCH_NETNS:-}" != 1 ]; then
  ./scripts/setup.sh
  ./scripts/build.sh >/dev/null
  if [ "$(id -u)" = 0 ]; then ns=(unshare -n); else ns=(unshare -rn); fi
  exec "${ns[@]}" env DR_BENCH_NETNS=1 "$0" "$@"
fi
ip link set lo up
ip route add local 10.77.0.0/16 dev lo
B=build/tests
want=("$@")
[ ${#want[@]} -eq 0 ] && want=(get big rate put local burst memory scale)

tmp=$(mktemp -d /tmp/dhtreg-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

# addresses: dhtreg's daemons from 10.77.0.1 (its swarms above them, up to 10.77.40.x), raw
# runners from 10.77.100.1 (one /24 per raw process)
export DR_BIND_BASE=10.77.0.1
raw_net=100
raw_base() { raw_net=$((raw_net + 1)); echo "10.77.$raw_net.1"; }

# runs a bench program, keeps its "key value" lines in $tmp/figures
run() { "$@" 2>>"$tmp/stderr" | grep -E '^(dr|raw)_[a-z0-9_]+ ' | tee -a "$tmp/figures" >/dev/null || {
  echo "bench.sh: '$*' failed; its output:" >&2; tail -20 "$tmp/stderr" >&2; exit 1; }; }
raw() { DR_BIND_BASE=$(raw_base) run $B/bench_raw "$@"; }
fig() { awk -v k="$1" '$1 == k { v = $2 } END { print v }' "$tmp/figures"; }
# one row: what, dhtreg's figure, raw's figure, unit, and the ratio dhtreg/raw
row() {
  local what=$1 d=$2 r=$3 unit=$4
  awk -v w="$what" -v d="$d" -v r="$r" -v u="$unit" 'BEGIN {
    ratio = (r + 0 > 0 && d != "") ? sprintf("%.2fx", d / r) : "-";
    printf "%-52s %12s %12s  %-8s %8s\n", w, d == "" ? "-" : d, r == "" ? "-" : r, u, ratio }'
}
# raw_swarm N DIR [BOOT]: N raw runners in one background process, ready when this returns
raw_swarm() {
  mkdir -p "$2"
  DR_BIND_BASE=$(raw_base) $B/bench_raw swarm "$1" "$2" ${3:-} >"$2.out" 2>>"$tmp/stderr" & pids+=($!)
  for _ in $(seq 600); do grep -q ready "$2.out" 2>/dev/null && return 0; sleep 0.1; done
  echo "bench.sh: raw swarm in $2 did not start" >&2; exit 1
}
stop_swarms() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; pids=(); }
header() { printf '\n%s\n%-52s %12s %12s  %-8s %8s\n' "$1" "figure" "dhtreg" "raw OpenDHT" "unit" "ratio"; }

for w in "${want[@]}"; do case $w in
get)
  # dhtreg: a dhtregd of its own resolves a resource of PER records (PER + 1 values: the resource
  # entry too) in a network of N-1 swarm nodes. raw: a runner of its own process gets a key holding
  # the same number of values in a network of N-1 runners; also shown: a get from a runner inside
  # the runners' own process (one value)
  for n in 20 200; do
    for per in 1 5; do
      : >"$tmp/figures"
      if [ $per = 1 ]; then
        raw get $n 200
        inproc_p50=$(fig raw_get_p50_ms) inproc_p99=$(fig raw_get_p99_ms)
        : >"$tmp/figures"
      fi
      raw_swarm $((n - 1)) "$tmp/rawget$n-$per"
      raw probe "$(head -1 "$tmp/rawget$n-$per/raw_ports")" 200 $((per + 1))
      stop_swarms
      run $B/bench_dhtreg get $n 200 $per
      header "1. cold resolve of a resource of $per record(s) vs raw get of a key of $((per + 1)) values, N = $n"
      for p in p50 p99; do row "latency $p" "$(fig dr_get_${p}_ms)" "$(fig raw_get_${p}_ms)" ms; done
      row "latency p90" "$(fig dr_get_p90_ms)" "" ms
      row "success" "$(fig dr_get_success)" "$(fig raw_get_success)" fraction
      if [ $per = 1 ]; then
        row "vs raw get inside the runners' process, p50" "$(fig dr_get_p50_ms)" "$inproc_p50" ms
        row "vs raw get inside the runners' process, p99" "$(fig dr_get_p99_ms)" "$inproc_p99" ms
      fi
    done
  done ;;
big)
  # dhtreg: one resource of 100 000 records in 2 048 shards (~49 each), advertised by one node, resolved with
  # limit 100 by a node that advertised none, in a network of 24. raw: a get of a key holding 100
  # values (the fewest a raw reader can get 100 values from) in a network of 24 runners
  : >"$tmp/figures"
  raw_swarm 23 "$tmp/rawbig"
  raw probe "$(head -1 "$tmp/rawbig/raw_ports")" 50 100
  stop_swarms
  run $B/bench_dhtreg big 24 100000 2048 200
  header "2. resolve limit 100 of a resource of 100 000 records (2 048 shards), N = 24; raw: a key of 100 values"
  for p in p50 p99; do row "latency $p" "$(fig dr_big_${p}_ms)" "$(fig raw_get_${p}_ms)" ms; done
  row "latency p90" "$(fig dr_big_p90_ms)" "" ms
  row "success (100 live records)" "$(fig dr_big_success)" "$(fig raw_get_success)" fraction
  row "time to advertise the 100 000 (one node, 1 000 in flight)" "$(fig dr_big_advertise_s)" "" s
  row "the advertiser's RSS then" "$(fig dr_big_publisher_rss_kb)" "" kB
  row "CPU while reading: the reader" "$(fig dr_big_cpu_reader)" "" cores
  row "CPU while reading: the advertiser / the 22 others" "$(fig dr_big_cpu_advertiser) / $(fig dr_big_cpu_storers)" "" cores ;;
rate)
  # dhtreg: 10 000 advertisements into one resource of 128 shards from one node, 64 in flight,
  # the rate of each stretch (to 100, 1 000, 10 000 records in it). raw: 10 000 puts over 128 keys
  # from one runner, 64 in flight
  : >"$tmp/figures"
  raw put 20 10000 128 64
  run $B/bench_dhtreg rate 20 10000 128
  header "3. advertise into one resource (128 shards) from one node, 64 in flight, N = 20; raw: puts over 128 keys"
  row "records 0-100" "$(fig dr_rate_100_per_s)" "$(fig raw_put_per_s)" "/s"
  row "records 100-1 000" "$(fig dr_rate_1000_per_s)" "$(fig raw_put_per_s)" "/s"
  row "records 1 000-10 000" "$(fig dr_rate_10000_per_s)" "$(fig raw_put_per_s)" "/s" ;;
put)
  : >"$tmp/figures"
  raw put 20 2000 10 64
  run $B/bench_dhtreg put 20 2000 10 1000
  header "4. advertise through one node (2 000 records, 10 resources, N = 20) vs raw windowed put (64)"
  row "answered" "$(fig dr_put_per_s)" "$(fig raw_put_per_s)" "/s"
  row "resolvable on another node" "$(fig dr_put_visible_per_s)" "$(fig raw_put_visible_per_s)" "/s" ;;
local)
  : >"$tmp/figures"
  raw get 20 100
  run $B/bench_dhtreg local 200000
  header "5. the local path (watched resource of 10 records, answered from the cache); raw: a get, N = 20"
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
  raw burst 20 10000 120
  run $B/bench_dhtreg burst 20 100000 100
  header "6. a burst sent at once (dhtreg: 100 000 advertise requests, 1 000 resources; raw: 10 000 puts, 1 000 keys, 120 s at most)"
  row "completed" "$(fig dr_burst_count)" "$(fig raw_burst_done)" "ops"
  row "time" "$(fig dr_burst_s)" "$(fig raw_burst_s)" "s"
  row "errors" "$(fig dr_burst_errors)" "" ""
  row "peak RSS" "$(fig dr_burst_peak_rss_kb)" "$(fig raw_burst_peak_rss_kb)" "kB"
  row "RSS 5 s after, per own record" "$(fig dr_burst_bytes_per_record)" "" "bytes"
  row "CPU of the publishing node" "$(fig dr_burst_publisher_cpu_s)" "" "s"
  row "CPU of the 19 other nodes (storers)" "$(fig dr_burst_storers_cpu_s)" "" "s" ;;
memory)
  : >"$tmp/figures"
  raw idle
  run $B/bench_dhtreg memory 10000
  header "7. memory"
  row "idle node RSS" "$(fig dr_idle_rss_kb)" "$(fig raw_idle_rss_kb)" "kB"
  row "RSS per 10 000 cached records" "$(fig dr_cache_rss_per_10k_kb)" "" "kB" ;;
scale)
  # five runs (SCALE_RUNS), each on fresh networks: raw, five processes of 200 runners and a probe
  # (two values per key) joining through the last; dhtreg, five swarms of 200 nodes; 1 000
  # resolves each
  for run_i in $(seq "${SCALE_RUNS:-5}"); do
    : >"$tmp/figures"
    raw_swarm 200 "$tmp/raw$run_i-0"
    boot="$(head -1 "$tmp/raw$run_i-0/raw_ports")"
    for i in 1 2 3 4; do raw_swarm 200 "$tmp/raw$run_i-$i" "$boot"; done
    raw probe "$(head -1 "$tmp/raw$run_i-4/raw_ports")" 1000 2
    stop_swarms
    run $B/bench_dhtreg scale 5 200 1000
    header "8. scale: 1 000 nodes in five processes, each on an address of its own (run $run_i)"
    row "resolve success" "$(fig dr_scale_success)" "$(fig raw_get_success)" fraction
    row "resolve p50" "$(fig dr_scale_p50_ms)" "$(fig raw_get_p50_ms)" ms
    row "resolve p99" "$(fig dr_scale_p99_ms)" "$(fig raw_get_p99_ms)" ms
    row "time to join (all five processes)" "$(fig dr_scale_join_s)" "" s
  done ;;
*) echo "bench.sh: unknown benchmark '$w' (get big rate put local burst memory scale)" >&2; exit 2 ;;
esac; done
