#!/usr/bin/env bash
# Installs build dependencies, builds the release preset and starts the demo
# server in the foreground. Extra arguments go to the demo (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)" --target ringspice-demo
exec build/release/tools/demo/ringspice-demo "$@"
