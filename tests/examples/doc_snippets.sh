#!/usr/bin/env bash
# doc_snippets.sh - the C snippets of README.md and docs/CLIENT.md, taken from the docs as they are,
# compiled against libdhtreg and run under valgrind (under ASan in a sanitizer build): with no node,
# with a node where the resource has no passing backend, and with one that has
#   doc_snippets.sh BUILD_DIR SOURCE_DIR [asan]
#
# A snippet is the ```c block that follows a line `<!-- c-snippet NAME -->`. Its #include lines go
# to the top of the program, the rest into main(); the program must exit 0 and valgrind must find
# no error and no definite leak, whatever the node answers.
set -euo pipefail
build=$1
src=$2
mode=${3:-valgrind}
bin=$build/bin
tmp=$(mktemp -d /tmp/dhtreg-snippets-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  [ "${keep:-0}" = 1 ] || rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "doc_snippets: $*" >&2; keep=1; exit 1; }
# waits (at most $2 tenths of a second) until the command $1 succeeds
wait_for() { for _ in $(seq "$2"); do eval "$1" && return 0; sleep 0.1; done; return 1; }

# extract DOC NAME OUT.c: the snippet NAME of DOC as a program
extract() {
  local body
  body=$(awk -v name="$2" '
    $0 ~ "<!-- c-snippet " name " -->" { want = 1; next }
    want && /^```c/ { inside = 1; want = 0; next }
    inside && /^```/ { exit }
    inside { print }' "$1")
  [ -n "$body" ] || fail "no snippet '$2' in $1"
  {
    echo '#include <stdio.h>'
    echo '#include <string.h>'
    grep '^#include' <<<"$body" || true
    echo 'int main(void) {'
    grep -v '^#include' <<<"$body"
    echo 'return 0;'
    echo '}'
  } >"$3"
}

cflags=(-std=c11 -Wall -Werror=implicit-function-declaration -g -I"$src/include")
run_under=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
           --show-leak-kinds=definite --track-origins=yes)
if [ "$mode" = asan ]; then
  cflags+=(-fsanitize=address,undefined -fno-sanitize-recover=undefined)
  run_under=()
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
  export LSAN_OPTIONS="suppressions=$src/tests/lsan.supp:print_suppressions=0"
fi

snippets=("$src/README.md:readme" "$src/docs/CLIENT.md:client-discover")
for s in "${snippets[@]}"; do
  doc=${s%%:*} name=${s##*:}
  extract "$doc" "$name" "$tmp/$name.c"
  cc "${cflags[@]}" "$tmp/$name.c" -o "$tmp/$name" -L"$build/lib" -ldhtreg -Wl,-rpath,"$build/lib" \
    2>"$tmp/$name.cc.log" || { cat "$tmp/$name.c" "$tmp/$name.cc.log" >&2; fail "$name does not compile"; }
done

# run NAME WHAT STATUS: runs the snippet NAME, which must exit STATUS (1: it gave up, saying why)
# with nothing for valgrind to say
run() {
  local rc=0
  HOME=$tmp/home DHTREG_NAMES=$tmp/names "${run_under[@]}" "$tmp/$1" >"$tmp/$1.out" 2>"$tmp/$1.err" </dev/null || rc=$?
  [ "$rc" = "$3" ] || { cat "$tmp/$1.out" "$tmp/$1.err" >&2; fail "$1, $2: exit $rc (want $3)"; }
  [ "$3" = 0 ] || [ -s "$tmp/$1.err" ] || fail "$1, $2: exit $3 without a word"
}
dhtreg() { "$bin/dhtreg" "$@" >/dev/null 2>&1 || fail "dhtreg $*"; }

mkdir -p "$tmp/home"
: >"$tmp/names"

# 1. no node at all: the connect fails, nothing crashes or leaks
export DHTREG_SOCKET=$tmp/nowhere.sock
run readme "no node" 1
run client-discover "no node" 1
grep -q "no node at" "$tmp/readme.err" || fail "readme, no node: $(cat "$tmp/readme.err")"

# 2. a node, but the alias the snippets use is unknown: the resource id stays empty, the
# calls given it fail, their results are freed
export DHTREG_SOCKET=$tmp/rpc.sock
"$bin/dhtregd" --port 0 --data-dir "$tmp/node" --log-level debug 2>"$tmp/node.log" &
pids+=($!)
wait_for '"$bin/dhtreg" health >/dev/null 2>&1' 200 || { cat "$tmp/node.log" >&2; fail "the node did not start"; }
run readme "an unknown alias" 1
run client-discover "an unknown alias" 0
grep -q "prod" "$tmp/readme.err" || fail "readme, an unknown alias: $(cat "$tmp/readme.err")"

# 3. resources with no passing backend (one record whose check fails)
me=$("$bin/dhtreg" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["peer_id"])')
echo "prod = $me" >"$tmp/names"
for label in web echo; do
  dhtreg create "$label"
  rid=$("$bin/dhtreg" id "$label")
  dhtreg advertise "$rid" down-1 --host 127.0.0.1 --port 1 --type http --check-tcp 127.0.0.1:1 \
    --check-interval 1 --check-failures 1
  wait_for '! "$bin/dhtreg" --json resolve '"$rid"' | grep -q down-1' 100 || fail "$label: the record stays passing"
done
run readme "no passing backend" 0
run client-discover "no passing backend" 0
grep -q ":" "$tmp/readme.out" && fail "readme: printed a backend where none passes: $(cat "$tmp/readme.out")"

# 4. a passing backend of each: found and printed
dhtreg advertise "$("$bin/dhtreg" id web)" up-1 --host 10.0.0.5 --port 80 --type http
dhtreg advertise "$("$bin/dhtreg" id echo)" up-1 --host 10.0.0.5 --port 80 --type echo
run readme "a passing backend" 0
run client-discover "a passing backend" 0
grep -qx "10.0.0.5:80" "$tmp/readme.out" || fail "readme: the backend was not printed: $(cat "$tmp/readme.out")"
# the heartbeat withdrew what it advertised
"$bin/dhtreg" --json resolve "$("$bin/dhtreg" id web)" | grep -q api-1 && fail "readme: api-1 was not withdrawn"
echo "doc_snippets: ok"
