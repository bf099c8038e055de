#!/usr/bin/env bash
# Installs dependencies and the real peers (spice-gtk, QEMU 7.2, the reference
# library), builds the debug preset and runs every test: unit, protocol, fuzz
# replay and interop (label "interop": real spice-gtk and QEMU).
#   scripts/test.sh [extra ctest args]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test
cmake --preset debug >/dev/null
cmake --build --preset debug -j"$(nproc)"
ln -sf build/debug/compile_commands.json compile_commands.json
ctest --preset debug -j"$(nproc)" "$@"
