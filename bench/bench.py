#!/usr/bin/env python3
"""kv against redis-server, side by side, in one run.

Starts kv and redis-server (no persistence) on free loopback ports, pins each server to CPU 0
and redis-benchmark to CPU 1 (when the host has two CPUs), and runs the same redis-benchmark
tests against each server in turn for three load shapes: -c 1, -c 50, and -c 50 -P 16. Each
shape gets fresh servers, because redis-benchmark's LPUSH tests grow one list by one element
per request; kv is started with a list_length_max that fits that growth. Prints requests per
second and p50/p99 latency for both and the kv/Redis ratios as a Markdown table.

Usage: bench/bench.py [--kv build/kv] [--requests N] [--rounds R] [--tests t1,t2,...]
Loopback only; every server is stopped by its PID when the run ends.
"""
import argparse
import csv
import io
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

DEFAULT_TESTS = "ping_mbulk,set,get,lpush,lpop,lrange_100"
SHAPES = [("-c 1", ["-c", "1"]), ("-c 50", ["-c", "50"]), ("-c 50 -P 16", ["-c", "50", "-P", "16"])]
CSV_NAMES = {
    "PING_MBULK": "PING_MBULK", "SET": "SET", "GET": "GET", "LPUSH": "LPUSH", "LPOP": "LPOP",
    "LRANGE_100 (first 100 elements)": "LRANGE_100", "PING_INLINE": "PING_INLINE",
    "RPUSH": "RPUSH", "RPOP": "RPOP",
}


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pinned(cpu):
    if shutil.which("taskset") and os.cpu_count() and os.cpu_count() >= 2:
        return ["taskset", "-c", str(cpu)]
    return []


def wait_ping(port, process, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not answer PING")


def start_kv(kv, requests):
    port = free_port()
    # One list grows by one element per LPUSH request (two LPUSH tests per shape).
    args = pinned(0) + [kv, "--port", str(port), "--connections-max", "64", "--key-count", "16",
                        "--key-size-max", "64", "--val-size-max", "64",
                        "--list-length-max", str(2 * requests + 16)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ping(port, process)
    return port, process


def start_redis(requests):
    del requests
    port = free_port()
    args = pinned(0) + ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                        "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ping(port, process)
    return port, process


def stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_benchmark(port, shape_args, tests, requests):
    args = pinned(1) + ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", tests,
                        "-n", str(requests), "--csv"] + shape_args
    output = subprocess.run(args, check=True, capture_output=True, text=True, timeout=900).stdout
    results = {}
    for row in csv.DictReader(io.StringIO(output)):
        name = CSV_NAMES.get(row["test"])
        if name is not None:
            results[name] = (float(row["rps"]), float(row["p50_latency_ms"]),
                             float(row["p99_latency_ms"]))
    return results


def measure(starter, shape_args, tests, requests):
    port, process = starter(requests)
    try:
        return run_benchmark(port, shape_args, tests, requests)
    finally:
        stop(process)


def median_results(rounds):
    merged = {}
    for name in rounds[0]:
        values = [r[name] for r in rounds if name in r]
        merged[name] = tuple(statistics.median(v[i] for v in values) for i in range(3))
    return merged


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kv", default=os.path.join(os.path.dirname(__file__), "..", "build", "kv"))
    parser.add_argument("--requests", type=int, default=100000)
    parser.add_argument("--requests-c1", type=int, default=20000,
                        help="requests for the -c 1 shape (one client is slow)")
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds; medians shown")
    parser.add_argument("--tests", default=DEFAULT_TESTS)
    options = parser.parse_args()
    print(f"# kv vs redis-server ({subprocess.run(['redis-server', '--version'], capture_output=True, text=True).stdout.split()[2]})")
    print(f"host: {os.uname().release}, {os.cpu_count()} CPUs; servers on CPU 0, redis-benchmark on CPU 1")
    print()
    print("| shape | test | kv rps | redis rps | rps kv/redis | kv p50 ms | redis p50 ms | kv p99 ms | redis p99 ms | p99 kv/redis |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, shape_args in SHAPES:
        requests = options.requests_c1 if shape_args == ["-c", "1"] else options.requests
        kv_rounds, redis_rounds = [], []
        for _ in range(options.rounds):
            kv_rounds.append(measure(lambda n: start_kv(options.kv, n), shape_args, options.tests, requests))
            redis_rounds.append(measure(start_redis, shape_args, options.tests, requests))
        kv, redis = median_results(kv_rounds), median_results(redis_rounds)
        for name in kv:
            if name not in redis:
                continue
            k, r = kv[name], redis[name]
            rps_ratio = k[0] / r[0] if r[0] else float("nan")
            p99_ratio = k[2] / r[2] if r[2] else float("nan")
            print(f"| {label} | {name} | {k[0]:.0f} | {r[0]:.0f} | {rps_ratio:.2f} | {k[1]:.3f} | "
                  f"{r[1]:.3f} | {k[2]:.3f} | {r[2]:.3f} | {p99_ratio:.2f} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
