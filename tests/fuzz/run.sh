#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang (ASan + UBSan) and runs each for a while.
#   tests/fuzz/run.sh [seconds per harness, default 60]
# The corpus grows in build-fuzz/corpus-<harness>, seeded from tests/fuzz/corpus/<harness>
# (fuzz_resp's seeds include traffic-* files: the bytes redis-benchmark, redis-cli and redis-py
# sent to a real server, recorded through a proxy, after a 2-byte read-size seed);
# a crash leaves crash-* in build-fuzz and fails the run (then make it a regression input in
# tests/fuzz/regressions/<harness>/, which the run replays first).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
out=build-fuzz
mkdir -p "$out"
flags=(-g -O1 -std=gnu11 -Iinclude -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)
clang "${flags[@]}" -o "$out/fuzz_resp" tests/fuzz/fuzz_resp.c src/resp.c src/number.c \
    src/kv_assert.c -lm
# The command harness links every module but main, the event loop, the host check and the
# RDB file writer (kv's own ring: SAVE reaches it through a hook main installs), as kvcore.
core=$(ls src/*.c | grep -v -e src/main.c -e src/loop.c -e src/host.c -e src/rdb_file.c -e src/aof.c)
# shellcheck disable=SC2086
# shellcheck disable=SC2046 # pkg-config's flags are words
clang "${flags[@]}" $(pkg-config --cflags lua5.1) -o "$out/fuzz_commands" \
    tests/fuzz/fuzz_commands.c $core -lhugetlbfs $(pkg-config --libs lua5.1) -lm
# One harness: its regression inputs, then a timed run; the figures and the verdict go to
# its log, and the exit status says whether it passed.
fuzz_one() {
    local harness=$1
    local log="$out/$harness.log"
    mkdir -p "$out/corpus-$harness"
    if [ -d "tests/fuzz/regressions/$harness" ]; then
        "$out/$harness" "tests/fuzz/regressions/$harness"/* >/dev/null 2>&1 ||
            { echo "$harness: a regression input fails" >"$log"; return 1; }
    fi
    (cd "$out" && "./$harness" -max_total_time="$seconds" -max_len=8192 -print_final_stats=1 \
        "corpus-$harness" "../tests/fuzz/corpus/$harness") >"$log" 2>&1
}
# The harnesses run side by side (each is one process on one core), then report in order.
harnesses=(fuzz_resp fuzz_commands)
pids=()
for harness in "${harnesses[@]}"; do
    echo "== $harness for ${seconds}s"
    fuzz_one "$harness" &
    pids+=($!)
done
failed=0
for index in "${!harnesses[@]}"; do
    harness=${harnesses[$index]}
    log="$out/$harness.log"
    status=0
    wait "${pids[$index]}" || status=$?
    echo "== $harness:"
    # The figures: executions, coverage (cov: edges, ft: features), corpus size.
    grep -E "^#[0-9]+[[:space:]]+DONE" "$log" || true
    grep -E "^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)" "$log" || true
    if [ "$status" -ne 0 ]; then
        tail -40 "$log"
        echo "$harness: FAILED (see $log and the crash-* input in $out)"
        failed=1
    fi
done
exit "$failed"
