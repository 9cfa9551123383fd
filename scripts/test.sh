#!/usr/bin/env bash
# Builds kv and runs the whole test suite with CTest (unit tests and integration tests against
# the real binary, redis-cli, redis-benchmark, python3-redis and a real redis-server).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${KV_BUILD_DIR:-build}
# Warnings are errors here (KV_WERROR, off in a plain cmake build so that a newer compiler's
# warning cannot break a user's build); KV_CMAKE_ARGS comes after and may override it.
# shellcheck disable=SC2086
cmake -S . -B "$build_dir" -DKV_WERROR=ON ${KV_CMAKE_ARGS:-} >/dev/null
cmake --build "$build_dir" -j"$(nproc)"
# KV_CTEST_ARGS: extra ctest arguments (the sanitizer pass in .ci/run leaves out -LE load);
# KV_CTEST_JOBS: tests at once (2: the machine's cores).
# shellcheck disable=SC2086
ctest --test-dir "$build_dir" --output-on-failure -j"${KV_CTEST_JOBS:-2}" ${KV_CTEST_ARGS:-}
