#!/usr/bin/env bash
# c_examples.sh - examples/c end to end: a node, the example service (a lease heartbeat), the example
# client discovering it and exchanging a message over TCP; SIGTERM withdraws the service and the
# client's next discover finds none (exit 3)
#   c_examples.sh BUILD_DIR
set -euo pipefail
build=$1
bin=$build/bin
tmp=$(mktemp -d /tmp/dhtreg-examples-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  [ "${keep:-0}" = 1 ] || rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "c_examples: $*" >&2; keep=1; for f in "$tmp"/*.log; do echo "--- $f" >&2; cat "$f" >&2; done; exit 1; }
# waits (at most $2 tenths of a second) until the command $1 succeeds
wait_for() { for _ in $(seq "$2"); do eval "$1" && return 0; sleep 0.1; done; return 1; }

export DHTREG_SOCKET=$tmp/rpc.sock
"$bin/dhtregd" --port 0 --data-dir "$tmp/node" --log-level debug 2> "$tmp/node.log" &
pids+=($!)
wait_for '"$bin/dhtreg" health >/dev/null 2>&1' 100 || fail "the node did not start"
"$bin/dhtreg" create echo >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

"$build/examples/example-service" echo s1 "$port" echo 2> "$tmp/service.log" &
svc=$!
pids+=($svc)
wait_for 'grep -q "^service: advertised" "$tmp/service.log"' 100 || fail "the service did not advertise"

out=$("$build/examples/example-client" echo echo "hello there") || fail "the client failed: $out"
[ "$out" = "s1 says: hello there" ] || fail "unexpected answer: '$out'"
# the same through a name: LABEL@OWNER with an alias of a names file
me=$("$bin/dhtreg" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["peer_id"])')
echo "here = $me" > "$tmp/names"
out=$(DHTREG_NAMES=$tmp/names "$build/examples/example-client" echo@here echo "by name") || fail "by name: $out"
[ "$out" = "s1 says: by name" ] || fail "unexpected answer by name: '$out'"

kill -TERM "$svc"
wait "$svc" || fail "the service did not exit cleanly"
grep -q "^service: withdrawn" "$tmp/service.log" || fail "the service did not withdraw"
set +e
out=$("$build/examples/example-client" echo echo "anyone?")
rc=$?
set -e
[ "$rc" = 3 ] || fail "after the withdrawal: exit $rc, '$out' (want 3)"
[ "$out" = "no echo backend" ] || fail "after the withdrawal: '$out'"
echo "c_examples: ok"
