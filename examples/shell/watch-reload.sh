#!/bin/sh
# watch-reload.sh - runs a reload command on every change of a dhtreg resource (through `dhtreg watch`)
#
#   watch-reload.sh [--socket PATH] RESOURCE COMMAND [ARG...]
#
# COMMAND runs once per event: first once for every record live already (a
# `register` each), then on every register, deregister and expire, with
#   DHTREG_EVENT       register, deregister or expire
#   DHTREG_SERVICE_ID  the record's service id
#   DHTREG_PEER        the first 12 characters of its issuer's peer id
#   DHTREG_ADDRESS     host:port (or its first address, or -)
# in its environment, and its standard input closed. For example, to render
# an upstream list and reload nginx:
#   watch-reload.sh web@prod sh -c 'dhtreg --json resolve web@prod > /etc/app/web.json && nginx -s reload'
#
# RESOURCE is what `dhtreg watch` takes (an id, LABEL@OWNER, ...); the node is
# found as dhtreg finds it ($DHTREG_SOCKET, ...; --socket sets it), the CLI as
# $DHTREG_CLI or dhtreg on the PATH. When the node goes away (a restart), the
# watch starts again after $DHTREG_RETRY seconds (2), which replays the live
# records; a watch that fails at its start (no node, a bad RESOURCE) ends the
# script with dhtreg's exit status. SIGTERM or Ctrl-C stops it.
set -u

usage() {
  echo "usage: watch-reload.sh [--socket PATH] RESOURCE COMMAND [ARG...]" >&2
  exit 2
}
if [ "${1:-}" = --socket ]; then
  [ $# -ge 2 ] || usage
  DHTREG_SOCKET=$2
  export DHTREG_SOCKET
  shift 2
fi
[ $# -ge 2 ] || usage
resource=$1
shift
dhtreg=${DHTREG_CLI:-dhtreg}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/watch-reload.XXXXXX") || exit 1
fifo=$tmp/events
mkfifo "$fifo" || exit 1
watcher=
cleanup() {
  [ -n "$watcher" ] && kill "$watcher" 2>/dev/null
  rm -rf "$tmp"
}
trap 'cleanup; exit 0' INT TERM
trap cleanup EXIT

first=1
while :; do
  # dhtreg prints one line per event, TIME TYPE SERVICE_ID PEER ADDRESS, and
  # "watching RESOURCE" on stderr once it subscribed
  "$dhtreg" watch "$resource" >"$fifo" 2>"$tmp/stderr" &
  watcher=$!
  while read -r _time event service peer address; do
    case $event in
      register | deregister | expire) ;;
      *) continue ;;
    esac
    echo "watch-reload: $event $service ($address): running $*" >&2
    DHTREG_EVENT=$event DHTREG_SERVICE_ID=$service DHTREG_PEER=$peer DHTREG_ADDRESS=$address "$@" </dev/null ||
      echo "watch-reload: the command failed (exit $?)" >&2
  done <"$fifo"
  wait "$watcher"
  status=$?
  watcher=
  cat "$tmp/stderr" >&2
  if [ "$first" = 1 ] && ! grep -q '^watching ' "$tmp/stderr"; then
    exit "$status"
  fi
  first=0
  echo "watch-reload: dhtreg watch ended (exit $status); again in ${DHTREG_RETRY:-2} s" >&2
  sleep "${DHTREG_RETRY:-2}"
done
