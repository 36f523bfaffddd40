#!/usr/bin/env bash
# demo.sh - installs, builds, starts a 5-node network on loopback, advertises on the first node and resolves on the last
#
#   ./scripts/demo.sh          leaves the network running and says how to use and stop it
#   ./scripts/demo.sh --once   tears it down and exits 0 when the demo worked
set -euo pipefail
cd "$(dirname "$0")/.."
once=0
[ "${1:-}" = "--once" ] && once=1

./scripts/setup.sh
./scripts/build.sh

BIN=$PWD/build/bin
DIR=$(mktemp -d /tmp/dhtreg-demo-XXXXXX)
NODES=5
pids=()

stop_all() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$DIR"
}

# waits (bounded) until the node answers on its socket
wait_node() {
  for _ in $(seq 1 200); do
    "$BIN/dhtreg" --socket "$1" --timeout 2 health >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "demo: node at $1 did not start; its log:" >&2
  cat "$DIR/$(basename "$1" .sock).log" >&2
  return 1
}

[ $once -eq 1 ] && trap stop_all EXIT

echo "== starting $NODES nodes in $DIR =="
"$BIN/dhtregd" --port 0 --data-dir "$DIR/node1" --rpc-socket "$DIR/node1.sock" 2>"$DIR/node1.log" &
pids+=($!)
wait_node "$DIR/node1.sock"
PORT1=$("$BIN/dhtreg" --socket "$DIR/node1.sock" status | awk '$1 == "port" {print $2}')
for i in $(seq 2 $NODES); do
  "$BIN/dhtregd" --port 0 --data-dir "$DIR/node$i" --rpc-socket "$DIR/node$i.sock" \
    --bootstrap "127.0.0.1:$PORT1" 2>"$DIR/node$i.log" &
  pids+=($!)
done
for i in $(seq 2 $NODES); do wait_node "$DIR/node$i.sock"; done
echo "node1 listens on UDP 127.0.0.1:$PORT1; nodes 2-$NODES joined through it"

A="$BIN/dhtreg --socket $DIR/node1.sock"
E="$BIN/dhtreg --socket $DIR/node$NODES.sock"

echo
echo "== node1: create the resource 'web' and advertise a service =="
$A create web
RID=$($A id web)
$A advertise "$RID" web-1 --host 10.0.0.5 --port 8080 --type http --tag v1 --meta zone=eu

echo
echo "== node$NODES: resolve it =="
ok=0
for _ in $(seq 1 100); do
  if $E --json resolve "$RID" | grep -q '"web-1"'; then ok=1; break; fi
  sleep 0.05
done
$E resolve "$RID"
if [ $ok -ne 1 ]; then
  echo "demo: node$NODES did not resolve the record" >&2
  exit 1
fi

if [ $once -eq 1 ]; then
  echo
  echo "demo: advertised on node1, resolved on node$NODES; stopping the network"
  exit 0
fi

cat <<EOT

The network is running (pids ${pids[*]}), logs in $DIR/*.log. Try:
  $E resolve $RID
  $A withdraw $RID web-1
  $BIN/dhtreg --socket $DIR/node3.sock status
Stop it with:
  kill ${pids[*]}; rm -rf $DIR
EOT
