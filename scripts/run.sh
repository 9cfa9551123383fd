#!/usr/bin/env bash
# Installs the dependencies, builds kv and starts it on its default configuration
# (127.0.0.1:6379) in the foreground. Extra arguments go to kv, e.g. --port 6380.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
# Warnings never stop this build, even in a tree scripts/test.sh configured with KV_WERROR=ON.
cmake -S . -B build -DKV_WERROR=OFF >/dev/null
cmake --build build -j"$(nproc)"
exec ./build/kv "$@"
