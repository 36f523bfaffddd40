#!/usr/bin/env bash
# test_install.sh - `cmake --install` into a scratch prefix gives a working tree: programs, man pages, unit, completions, docs
#
# usage: test_install.sh BUILD_DIR SOURCE_DIR
# Installs BUILD_DIR into a temporary prefix (and again under a DESTDIR with
# the prefix /usr), and checks what a package or an administrator relies on.
# Any failure prints what is wrong and exits 1.
set -uo pipefail

build=${1:?usage: test_install.sh BUILD_DIR SOURCE_DIR}
src=${2:?usage: test_install.sh BUILD_DIR SOURCE_DIR}
export LC_ALL=C MANWIDTH=80

fail() {
  echo "test_install: FAIL: $*" >&2
  exit 1
}
note() { echo "test_install: $*"; }

for tool in cmake man groff systemd-analyze; do
  command -v "$tool" >/dev/null || fail "$tool is missing (./scripts/setup.sh installs it)"
done

tmp=$(mktemp -d) || fail "mktemp"
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

# ---- install, and the manifest -------------------------------------------------
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log" >&2; fail "cmake --install $build --prefix $prefix"; }
manifest=$build/install_manifest.txt
[ -s "$manifest" ] || fail "no $manifest"

expected=(
  bin/dhtregd bin/dhtreg
  share/man/man8/dhtregd.8 share/man/man1/dhtreg.1
  lib/systemd/system/dhtregd.service lib/sysusers.d/dhtreg.conf etc/default/dhtregd
  share/bash-completion/completions/dhtregd share/bash-completion/completions/dhtreg
  share/doc/dhtreg/README.md share/doc/dhtreg/LICENSE
  include/dhtreg/dhtreg.h include/dhtreg/dhtreg_uv.h
)
for doc in "$src"/docs/*.md; do expected+=("share/doc/dhtreg/docs/${doc##*/}"); done
for f in "${expected[@]}"; do
  grep -qxF "$prefix/$f" "$manifest" || fail "$f is not in the install manifest"
  [ -f "$prefix/$f" ] || fail "$prefix/$f is listed but not installed"
done
while read -r f; do
  [[ $f == "$prefix"/* ]] || fail "installed outside the prefix: $f"
  case $f in
    *swarm* | */tests/* | */test_* | */bench_*) fail "installed what is not for users: $f" ;;
  esac
done <"$manifest"
for f in dhtregd dhtreg; do [ -x "$prefix/bin/$f" ] || fail "$prefix/bin/$f is not executable"; done
note "manifest: ${#expected[@]} files, all under the prefix"

# ---- the programs -----------------------------------------------------------------
out=$("$prefix/bin/dhtregd" --version 2>&1) || fail "dhtregd --version exits $?"
[[ $out =~ ^dhtregd\ [0-9]+\.[0-9]+ ]] || fail "dhtregd --version says '$out'"
out=$("$prefix/bin/dhtreg" --version 2>&1) || fail "dhtreg --version exits $?"
[[ $out =~ ^dhtreg\ [0-9]+\.[0-9]+ ]] || fail "dhtreg --version says '$out'"

# ---- man pages ------------------------------------------------------------------------
# render: non-empty, its NAME, an option; groff has nothing to warn about
check_man() { # page name option
  local page=$1 name=$2 opt=$3 text warn
  text=$(man -l "$page" 2>"$tmp/man.err") || fail "man -l $page exits $?"
  [ -s "$tmp/man.err" ] && fail "man -l $page: $(cat "$tmp/man.err")"
  [ -n "$text" ] || fail "man -l $page renders nothing"
  grep -q "^NAME" <<<"$text" || fail "$page: no NAME section"
  grep -qE "^ +$name - " <<<"$text" || fail "$page: its NAME does not name $name"
  grep -qE -- "^ +$opt( |$)" <<<"$text" || fail "$page: no $opt"
  for sect in SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" ENVIRONMENT FILES "SEE ALSO"; do
    grep -q "^$sect" <<<"$text" || fail "$page: no $sect section"
  done
  warn=$(groff -man -ww -z "$page" 2>&1)
  [ -z "$warn" ] || fail "groff -man -ww -z $page: $warn"
  printf '%s\n' "$text" >"$tmp/${page##*/}.txt"
}
check_man "$prefix/share/man/man8/dhtregd.8" dhtregd --bootstrap
check_man "$prefix/share/man/man1/dhtreg.1" dhtreg --socket
grep -q "^SIGNALS" "$tmp/dhtregd.8.txt" || fail "dhtregd.8: no SIGNALS section"
# every flag of the usage, and its variable, is in the page
flags=$("$prefix/bin/dhtregd" --help | sed -n 's/^  \(--[a-z0-9-]*\).*/\1/p')
[ -n "$flags" ] || fail "dhtregd --help lists no flags"
for flag in $flags; do
  grep -qE -- "^ +$flag( |$)" "$tmp/dhtregd.8.txt" || fail "dhtregd.8 does not show $flag"
  case $flag in
    --help | --version) continue ;;
    --data-dir) var=DHTREG_HOME ;;
    --rpc-socket) var=DHTREG_SOCKET ;;
    *) var=DHTREG_$(tr 'a-z-' 'A-Z_' <<<"${flag#--}") ;;
  esac
  grep -qE "^ +$var=" "$tmp/dhtregd.8.txt" || fail "dhtregd.8: no $var in ENVIRONMENT"
done
note "man pages render, with every flag of dhtregd and its variable"

# ---- the systemd unit --------------------------------------------------------------------
unit=$prefix/lib/systemd/system/dhtregd.service
grep -qxF "ExecStart=$prefix/bin/dhtregd \$DHTREGD_OPTS" "$unit" ||
  fail "the unit's ExecStart is not $prefix/bin/dhtregd: $(grep ExecStart= "$unit")"
grep -qxF "EnvironmentFile=-$prefix/etc/default/dhtregd" "$unit" ||
  fail "the unit's EnvironmentFile is not in the prefix: $(grep EnvironmentFile= "$unit")"
grep -qE "@[A-Z_]+@" "$unit" && fail "the unit has an unsubstituted @VAR@: $(grep -E "@[A-Z_]+@" "$unit")"
# Documentation=man: is checked against the installed pages
verify=$(MANPATH="$prefix/share/man:" systemd-analyze verify "$unit" 2>&1)
rc=$?
if [ $rc -ne 0 ] || grep -q "dhtregd" <<<"$verify"; then
  fail "systemd-analyze verify $unit (exit $rc): $verify"
fi
security=$(systemd-analyze security --offline=true "$unit" 2>&1) ||
  fail "systemd-analyze security --offline=true $unit: $security"
score=$(sed -n 's/.*Overall exposure level for dhtregd.service: \([0-9.]*\).*/\1/p' <<<"$security")
[ -n "$score" ] || fail "no exposure level in: $security"
awk -v s="$score" 'BEGIN { exit !(s < 2.0) }' || fail "exposure level $score, not below 2.0"
note "unit verified, exposure level $score"

# ---- bash completion -----------------------------------------------------------------------
comp=$prefix/share/bash-completion/completions
for f in "$comp/dhtregd" "$comp/dhtreg"; do
  bash -n "$f" || fail "bash -n $f"
done
if [ -r /usr/share/bash-completion/bash_completion ]; then
  # the words bash would complete: $1 the completion file, then the line
  complete_words() {
    PATH="$prefix/bin:$PATH" bash -c '
      source /usr/share/bash-completion/bash_completion || exit 2
      source "$1" || exit 2
      shift
      COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
      fn=$(complete -p "$1" 2>/dev/null | sed -n "s/.* -F \([^ ]*\) .*/\1/p")
      [ -n "$fn" ] || exit 3
      "$fn" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
      printf "%s\n" "${COMPREPLY[@]}"' _ "$@"
  }
  out=$(complete_words "$comp/dhtregd" dhtregd --boot) || fail "completing dhtregd --boot (exit $?)"
  [ "$out" = "--bootstrap" ] || fail "dhtregd --boot completes to '$out', not --bootstrap"
  out=$(complete_words "$comp/dhtreg" dhtreg adv) || fail "completing dhtreg adv (exit $?)"
  [ "$out" = "advertise" ] || fail "dhtreg adv completes to '$out', not advertise"
  out=$(complete_words "$comp/dhtreg" dhtreg --socket /x advertise R S --tt) || fail "completing dhtreg advertise --tt"
  [ "$out" = "--ttl" ] || fail "dhtreg advertise --tt completes to '$out', not --ttl"
  note "bash completion: --boot, adv, --tt"
else
  note "bash-completion is not installed: completions checked with bash -n only"
fi

# ---- libdhtreg: a program built against the installed library, run against the installed node ----
pc=$(find "$prefix" -name dhtreg.pc | head -1)
[ -n "$pc" ] || fail "no dhtreg.pc installed"
for f in include/dhtreg/dhtreg.h include/dhtreg/dhtreg_uv.h; do
  [ -f "$prefix/$f" ] || fail "$f is not installed"
done
libdir=$(dirname "$(dirname "$pc")")
for f in libdhtreg.so libdhtreg.a; do [ -e "$libdir/$f" ] || fail "$libdir/$f is not installed"; done
command -v cc >/dev/null || fail "no C compiler"
export PKG_CONFIG_PATH=$(dirname "$pc")
flags=$(pkg-config --cflags --libs dhtreg) || fail "pkg-config --cflags --libs dhtreg"
cc -o "$tmp/client" "$src/examples/c/client.c" $flags || fail "cannot build a program with pkg-config's flags ($flags)"
sflags=$(pkg-config --static --cflags --libs dhtreg) || fail "pkg-config --static dhtreg"
cc -o "$tmp/client-static" "$src/examples/c/client.c" -Wl,-Bstatic -ldhtreg -Wl,-Bdynamic $sflags ||
  fail "cannot build a program against libdhtreg.a ($sflags)"
export DHTREG_SOCKET=$tmp/node.sock
"$prefix/bin/dhtregd" --port 0 --ephemeral --data-dir "$tmp/node" --rpc-socket "$DHTREG_SOCKET" 2>"$tmp/node.log" &
node=$!
trap 'kill -9 $node 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do "$prefix/bin/dhtreg" health >/dev/null 2>&1 && break; sleep 0.1; done
"$prefix/bin/dhtreg" create echo >/dev/null || fail "the installed dhtreg cannot create a resource"
for prog in client client-static; do
  out=$(LD_LIBRARY_PATH=$libdir "$tmp/$prog" echo echo 2>&1)
  rc=$?
  [ "$rc" = 3 ] && [ "$out" = "no echo backend" ] || fail "$prog, linked against the installed library: exit $rc, '$out'"
done
kill -TERM $node
wait $node 2>/dev/null
unset DHTREG_SOCKET
note "libdhtreg: headers, pkg-config, shared and static, a program linked to it talks to the node"

# ---- a package's layout: DESTDIR and the prefix /usr (configuration in /etc) ---------------
dest=$tmp/dest
DESTDIR=$dest cmake --install "$build" --prefix /usr >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log" >&2; fail "DESTDIR=$dest cmake --install $build --prefix /usr"; }
[ -x "$dest/usr/bin/dhtregd" ] || fail "DESTDIR: no $dest/usr/bin/dhtregd"
[ -f "$dest/etc/default/dhtregd" ] || fail "DESTDIR, prefix /usr: the environment file is not in $dest/etc/default"
grep -qxF "ExecStart=/usr/bin/dhtregd \$DHTREGD_OPTS" "$dest/usr/lib/systemd/system/dhtregd.service" ||
  fail "DESTDIR: the unit's ExecStart is not /usr/bin/dhtregd"
grep -qxF 'EnvironmentFile=-/etc/default/dhtregd' "$dest/usr/lib/systemd/system/dhtregd.service" ||
  fail "DESTDIR: the unit's EnvironmentFile is not /etc/default/dhtregd"
note "DESTDIR with the prefix /usr: /usr/bin, /etc/default"

note "PASS"
