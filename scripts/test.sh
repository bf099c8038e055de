#!/usr/bin/env bash
# Installs dependencies and the real peers (spice-gtk, QEMU 7.2, the reference
# library), builds the debug preset and runs every test: unit, protocol, fuzz
# replay and interop (label "interop": real spice-gtk and QEMU). Then builds
# the asan preset (ASan + UBSan) and runs the unit and fuzz-replay tests
# again under the sanitizers (interop is left out there: QEMU cannot load an
# ASan-instrumented library without preloading the runtime).
#   scripts/test.sh [extra ctest args for the debug run]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test
cmake --preset debug >/dev/null
cmake --build --preset debug -j"$(nproc)"
ln -sf build/debug/compile_commands.json compile_commands.json
ctest --preset debug -j"$(nproc)" "$@"

echo "== the same unit and fuzz-replay tests under ASan + UBSan =="
cmake --preset asan >/dev/null
cmake --build --preset asan -j"$(nproc)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --preset asan -j"$(nproc)" -L "unit|fuzz"
scripts/fuzz.sh "${RS_FUZZ_SECONDS:-20}" # libFuzzer: every target, bounded time (issue 9)
