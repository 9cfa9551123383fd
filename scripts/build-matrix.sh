#!/usr/bin/env bash
# Builds kv with gcc and clang in each CMake build type, warnings as errors (KV_WERROR=ON), one
# build tree per pair: build-matrix/<compiler>-<type>. Optimisation levels change what the
# compilers can prove (-O3 inlining finds format truncations -O2 does not), so a warning can
# hide in one type only. Builds only; the test suite runs on the default build and the
# sanitizer build (.ci/run).
#   scripts/build-matrix.sh [compiler ...]    (default: gcc clang)
# Every target (kv, kv-load, the unit tests) in the pairs of KV_MATRIX_FULL (default: gcc
# RelWithDebInfo, the suite's own tree, and clang Debug, so each compiler sees the tests); the
# program targets (kvcore, kv, kv-load) in the others. With KV_MATRIX_SKIP (default gcc-Debug:
# .ci/run's sanitizer pass is that same gcc Debug build of every target, warnings as errors) a
# pair is not built at all. CI's 20 minutes are why: the tests' 50-odd executables in all
# eight pairs cost about as much as the programs themselves.
# Every pair is built even after one fails; the exit status is 1 if any failed, and the log of
# each failed pair is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
compilers=("$@")
if [ ${#compilers[@]} -eq 0 ]; then
    compilers=(gcc clang)
fi
types=(Debug RelWithDebInfo Release MinSizeRel)
full_pairs=" ${KV_MATRIX_FULL:-gcc-RelWithDebInfo clang-Debug} "
skip_pairs=" ${KV_MATRIX_SKIP:-gcc-Debug} "
failed=()
matrix_start=$SECONDS
# Bound: compilers x 4 build types.
for compiler in "${compilers[@]}"; do
    for type in "${types[@]}"; do
        dir="build-matrix/$compiler-$type"
        if [[ "$skip_pairs" == *" $compiler-$type "* ]]; then
            echo "== $compiler $type: skipped (KV_MATRIX_SKIP)"
            continue
        fi
        targets=(--target kvcore kv kv-load)
        if [[ "$full_pairs" == *" $compiler-$type "* ]]; then
            targets=()
        fi
        log="build-matrix/$compiler-$type.log"
        mkdir -p build-matrix
        start=$SECONDS
        status=0
        {
            cmake -S . -B "$dir" -DCMAKE_C_COMPILER="$compiler" -DCMAKE_BUILD_TYPE="$type" \
                -DKV_WERROR=ON &&
                cmake --build "$dir" -j"$(nproc)" "${targets[@]}"
        } >"$log" 2>&1 || status=$?
        if [ "$status" -eq 0 ]; then
            echo "== $compiler $type: ok in $((SECONDS - start))s"
        else
            echo "== $compiler $type: FAILED in $((SECONDS - start))s (log: $log)"
            failed+=("$log")
        fi
    done
done
echo "== build matrix: ${#failed[@]} failed, $((SECONDS - matrix_start))s in all"
if [ ${#failed[@]} -gt 0 ]; then
    for log in "${failed[@]}"; do
        echo "==== $log"
        # The first errors are the ones to fix; the rest is usually fallout.
        if grep -q -E "(error|warning):" "$log"; then
            grep -E -A8 "(error|warning):" "$log" | head -80 || true
        else
            tail -40 "$log"
        fi
    done
    exit 1
fi
