#!/usr/bin/env bash
# Installs the dependencies, builds kv and starts it on its default configuration
# (127.0.0.1:6379) in the foreground. Extra arguments go to kv, e.g. --port 6380.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc)"
exec ./build/kv "$@"
