#!/usr/bin/env bash
# Builds kv and runs the whole test suite with CTest (unit tests and integration tests against
# the real binary, redis-cli, redis-benchmark, python3-redis and a real redis-server).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${KV_BUILD_DIR:-build}
# shellcheck disable=SC2086
cmake -S . -B "$build_dir" ${KV_CMAKE_ARGS:-} >/dev/null
cmake --build "$build_dir" -j"$(nproc)"
ctest --test-dir "$build_dir" --output-on-failure -j2
