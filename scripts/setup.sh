#!/usr/bin/env bash
# setup.sh - installs the Debian packages dhtreg needs to build, test and run (only those missing)
set -euo pipefail

PACKAGES=(
  build-essential g++ cmake pkg-config
  libopendht-c-dev libopendht-dev libuv1-dev libsodium-dev libmsgpack-dev libjansson-dev
  libcmocka-dev dhtnode faketime libmicrohttpd-dev libsystemd-dev
  libldns-dev bind9-dnsutils
  curl prometheus
  help2man man-db systemd
)
# for the fuzzers, sanitizer and valgrind runs; bash-completion for the installed completions' test
OPTIONAL=(clang libclang-rt-14-dev valgrind bash-completion)

missing=()
for p in "${PACKAGES[@]}" "${OPTIONAL[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup.sh: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# the optional ones may not exist on every release: install what is there
$SUDO apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
for p in "${OPTIONAL[@]}"; do
  $SUDO apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1 || echo "setup.sh: optional $p not installed"
done
