#!/usr/bin/env bash
# Installs what ringspice needs from Debian, only what is missing.
# Idempotent and quiet when everything is there.
#   scripts/deps.sh          build dependencies
#   scripts/deps.sh --test   also the real peers the test suite drives
set -euo pipefail

build_pkgs=(
  build-essential cmake ninja-build pkg-config git
  liburing-dev libjpeg62-turbo-dev zlib1g-dev libopus-dev libssl-dev
  libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev
  libspice-protocol-dev libspice-server-dev libpixman-1-dev liblz4-dev
  libsasl2-dev libsasl2-modules libusbredirparser-dev libglib2.0-dev
  clang libclang-rt-14-dev
)
test_pkgs=(
  # real peers: the spice-gtk client (CLI and GObject API from Python),
  # QEMU 7.2, and the reference server library for side-by-side runs.
  spice-client-gtk gir1.2-spiceclientglib-2.0 python3-gi python3-gi-cairo
  qemu-system-x86 libspice-server1 binutils openssl xauth xvfb
  # the web client (websocket, issue 10): interop.html5_seabios drives
  # Debian's spice-html5 in a headless chromium over ws://
  spice-html5 chromium
)

want=("${build_pkgs[@]}")
[[ "${1:-}" == "--test" ]] && want+=("${test_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "deps: installing ${missing[*]}" >&2
SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
