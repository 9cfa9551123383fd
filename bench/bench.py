#!/usr/bin/env python3
"""kv against redis-server, side by side, in one run.

Starts kv and redis-server (no persistence) on free loopback ports, pins each server to CPU 0
and the load to CPU 1 (when the host has two CPUs), and measures both with the same load,
alternating kv and Redis for --rounds rounds and reporting medians:

- closed loop, redis-benchmark: -c 1, -c 50 and -c 50 -P 16 for each test (PING_MBULK, SET,
  GET, LPUSH, LPOP, LRANGE_100, SADD, HSET, SPOP, ZADD, ZPOPMIN, MSET, LRANGE_600, and two
  command lines of their own: EVALSHA of a small rate-limiter script, XADD): requests per
  second, p50 and p99 latency;
- open loop, bench/kv-load (a fixed offered rate, latency from each request's intended send
  time, so a server stall cannot hide behind a waiting client): GET and SET at 25%, 50% and
  80% of Redis's peak, which kv-load measures first in closed loop with 50 connections:
  achieved rate, p50, p99, p99.9, max;
- for every measurement, the server's CPU time per request: user + system time from
  /proc/PID/stat before and after, divided by the requests served.

Each closed-loop shape gets fresh servers, because LPUSH (and the LRANGE tests' fill) grows one
list by one element per request; kv is started with a list_length_max that fits that growth. With
--write-results the tables, the machine and the method replace the part of bench/RESULTS.md
between the markers <!-- bench.py begin --> and <!-- bench.py end --> (the other scripts'
sections stay).

Usage: bench/bench.py [--kv build/kv] [--load build/kv-load] [--rounds 3] [--quick]
       [--write-results]
Loopback only; every server is stopped by its PID when the run ends.
"""
import argparse
import csv
import datetime
import io
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TESTS = ["ping_mbulk", "set", "get", "lpush", "lpop", "lrange_100", "sadd", "hset", "spop",
         "zadd", "zpopmin", "mset", "lrange_600", "evalsha", "xadd"]
# Tests redis-benchmark 7.0 has no -t name for: a command line of its own, after an optional
# setup command whose reply (a script's SHA-1) fills in "{reply}". EVALSHA runs the usual small
# script, a per-key counter with a window (a fixed-window rate limiter); XADD is the issue's
# `redis-benchmark XADD bench '*' f v`.
RATE_SCRIPT = ("local n = redis.call('INCR', KEYS[1]) "
               "if n == 1 then redis.call('EXPIRE', KEYS[1], 60) end return n")
CUSTOM_TESTS = {
    "evalsha": (["SCRIPT", "LOAD", RATE_SCRIPT], ["EVALSHA", "{reply}", "1", "bench:rate"]),
    "xadd": (None, ["XADD", "bench", "*", "f", "v"]),
}
SHAPES = [("-c 1", ["-c", "1"]), ("-c 50", ["-c", "50"]), ("-c 50 -P 16", ["-c", "50", "-P", "16"])]
CSV_NAMES = {
    "PING_MBULK": "PING_MBULK", "SET": "SET", "GET": "GET", "LPUSH": "LPUSH", "LPOP": "LPOP",
    "LRANGE_100 (first 100 elements)": "LRANGE_100", "SADD": "SADD", "HSET": "HSET",
    "SPOP": "SPOP", "ZADD": "ZADD", "ZPOPMIN": "ZPOPMIN", "MSET (10 keys)": "MSET",
    "LRANGE_600 (first 600 elements)": "LRANGE_600",
}
OPEN_COMMANDS = ["get", "set"]
OPEN_FRACTIONS = [0.25, 0.50, 0.80]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


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


def cpu_seconds(pid):
    """User + system CPU time of a process, from /proc/PID/stat (fields 14 and 15)."""
    return sum(cpu_split(pid))


def cpu_split(pid):
    """(user, system) CPU seconds of a process, from /proc/PID/stat (fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS


class Server:
    def __init__(self, name, args):
        self.name = name
        self.port = free_port()
        argv = pinned(0) + args + ["--port", str(self.port)]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_ping(self.port, self.process)

    def cpu(self):
        return cpu_seconds(self.process.pid)

    def user(self):
        return cpu_split(self.process.pid)[0]

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_kv(kv, key_count, list_length, key_size=64, val_size=64):
    """kv sized for the load: redis-benchmark uses a handful of keys (one list grows by one
    element per LPUSH; its keys and fields are at most 20 bytes, its values 3), kv-load a
    keyspace of 10,000 strings. kv's buffers hold the largest legal reply (an HGETALL of a
    maximal hash), so the long list is paid for in every connection's buffers: 51 slots."""
    return Server("kv", [kv, "--bind", "127.0.0.1", "--connections-max", "51",
                         "--key-count", str(key_count), "--key-size-max", str(key_size),
                         "--val-size-max", str(val_size), "--list-length-max", str(list_length)])


def start_redis():
    return Server("redis", ["redis-server", "--bind", "127.0.0.1", "--save", "",
                            "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no"])


def redis_benchmark(server, shape_args, test, requests):
    """One redis-benchmark test: (rps, p50 ms, p99 ms, server CPU µs per request, server user
    CPU µs per request)."""
    args = pinned(1) + ["redis-benchmark", "-h", "127.0.0.1", "-p", str(server.port),
                        "-n", str(requests), "--csv"] + shape_args
    custom = CUSTOM_TESTS.get(test)
    if custom is None:
        args += ["-t", test]
    else:
        setup, command = custom
        reply = ""
        if setup is not None:
            reply = subprocess.run(["redis-cli", "-p", str(server.port)] + setup, check=True,
                                   capture_output=True, text=True, timeout=30).stdout.strip()
        args += [word.replace("{reply}", reply) for word in command]
    before = server.cpu()
    user_before = server.user()
    output = subprocess.run(args, check=True, capture_output=True, text=True, timeout=900).stdout
    cpu_us = (server.cpu() - before) * 1e6 / requests
    user_us = (server.user() - user_before) * 1e6 / requests
    for row in csv.DictReader(io.StringIO(output)):
        # A custom command line's row is named by the line itself: its only row is the one.
        if custom is not None or CSV_NAMES.get(row["test"]) is not None:
            return (float(row["rps"]), float(row["p50_latency_ms"]), float(row["p99_latency_ms"]),
                    cpu_us, user_us)
    raise RuntimeError(f"redis-benchmark printed no result for {test}: {output!r}")


def kv_load(load, server, command, rate, seconds, connections=50):
    """One kv-load run: dict of its CSV fields (floats), plus cpu_us per request."""
    args = pinned(1) + [load, "--port", str(server.port), "--command", command,
                        "--connections", str(connections), "--rate", str(int(rate)),
                        "--duration", str(seconds), "--warmup", "1", "--keys", "10000",
                        "--value-size", "64", "--prefill", "--csv"]
    before = server.cpu()
    output = subprocess.run(args, check=True, capture_output=True, text=True,
                            timeout=seconds + 60).stdout
    after = server.cpu()
    row = next(csv.DictReader(io.StringIO(output)))
    result = {name: float(value) for name, value in row.items() if name != "command"}
    # The CPU time covers the prefill and warmup too: divide by every request the server saw.
    served = result["requests"] / seconds * (seconds + 1) + 10000
    result["cpu_us"] = (after - before) * 1e6 / served
    return result


def median(values):
    return statistics.median(values) if values else float("nan")


def ratio(a, b):
    return a / b if b else float("nan")


def closed_loop(options, lines):
    lines.append("### Closed loop (redis-benchmark)")
    lines.append("")
    lines.append("| shape | test | kv rps | redis rps | rps kv/redis | kv p50 ms | redis p50 ms "
                 "| kv p99 ms | redis p99 ms | p99 kv/redis | kv CPU µs/req | redis CPU µs/req "
                 "| CPU kv/redis | kv user µs/req | redis user µs/req |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, shape_args in SHAPES:
        requests = (options.requests_c1 if shape_args == ["-c", "1"] else
                    options.requests_p16 if "-P" in shape_args else options.requests)
        results = {"kv": {}, "redis": {}}
        for _ in range(options.rounds):
            for name in ("kv", "redis"):
                server = start_kv(options.kv, 8, 4 * requests + 1000, 24, 256) if name == "kv" else start_redis()
                try:
                    for test in options.tests:
                        row = redis_benchmark(server, shape_args, test, requests)
                        results[name].setdefault(test, []).append(row)
                finally:
                    server.stop()
        for test in options.tests:
            k = [median(v[i] for v in results["kv"][test]) for i in range(5)]
            r = [median(v[i] for v in results["redis"][test]) for i in range(5)]
            lines.append(f"| {label} | {CSV_NAMES_BY_TEST[test]} | {k[0]:.0f} | {r[0]:.0f} | "
                         f"{ratio(k[0], r[0]):.2f} | {k[1]:.3f} | {r[1]:.3f} | {k[2]:.3f} | "
                         f"{r[2]:.3f} | {ratio(k[2], r[2]):.2f} | {k[3]:.2f} | {r[3]:.2f} | "
                         f"{ratio(k[3], r[3]):.2f} | {k[4]:.2f} | {r[4]:.2f} |")
            print(lines[-1], flush=True)
    lines.append("")


CSV_NAMES_BY_TEST = {"ping_mbulk": "PING_MBULK", "set": "SET", "get": "GET", "lpush": "LPUSH",
                     "lpop": "LPOP", "lrange_100": "LRANGE_100", "sadd": "SADD", "hset": "HSET",
                     "spop": "SPOP", "zadd": "ZADD", "zpopmin": "ZPOPMIN", "mset": "MSET",
                     "lrange_600": "LRANGE_600", "evalsha": "EVALSHA (rate script)",
                     "xadd": "XADD bench * f v"}


def open_loop(options, lines):
    lines.append("### Open loop (kv-load, 50 connections, fixed offered rate)")
    lines.append("")
    lines.append("| command | offered req/s | kv achieved | redis achieved | kv p50 µs | redis p50 µs "
                 "| kv p99 µs | redis p99 µs | kv p99.9 µs | redis p99.9 µs | p99.9 kv/redis "
                 "| kv max µs | redis max µs | kv CPU µs/req | redis CPU µs/req | CPU kv/redis |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for command in OPEN_COMMANDS:
        redis = start_redis()
        try:
            peak = kv_load(options.load, redis, command, 0, options.seconds)["achieved_rps"]
        finally:
            redis.stop()
        print(f"redis peak for {command} (kv-load closed loop, 50 connections): {peak:.0f} req/s",
              flush=True)
        lines.append(f"| {command} | Redis peak (closed loop) {peak:.0f} | | | | | | | | | | | | | | |")
        for fraction in OPEN_FRACTIONS:
            rate = peak * fraction
            runs = {"kv": [], "redis": []}
            for _ in range(options.rounds):
                for name in ("kv", "redis"):
                    server = start_kv(options.kv, 10016, 4) if name == "kv" else start_redis()
                    try:
                        runs[name].append(kv_load(options.load, server, command, rate,
                                                  options.seconds))
                    finally:
                        server.stop()
            k = {field: median(run[field] for run in runs["kv"]) for field in runs["kv"][0]}
            r = {field: median(run[field] for run in runs["redis"]) for field in runs["redis"][0]}
            lines.append(
                f"| {command} | {rate:.0f} ({fraction:.0%}) | {k['achieved_rps']:.0f} | "
                f"{r['achieved_rps']:.0f} | {k['p50_us']:.0f} | {r['p50_us']:.0f} | "
                f"{k['p99_us']:.0f} | {r['p99_us']:.0f} | {k['p999_us']:.0f} | {r['p999_us']:.0f} | "
                f"{ratio(k['p999_us'], r['p999_us']):.2f} | {k['max_us']:.0f} | {r['max_us']:.0f} | "
                f"{k['cpu_us']:.2f} | {r['cpu_us']:.2f} | {ratio(k['cpu_us'], r['cpu_us']):.2f} |")
            print(lines[-1], flush=True)
    lines.append("")


def machine(kv):
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    redis_version = subprocess.run(["redis-server", "--version"], capture_output=True,
                                   text=True).stdout.split()[2]
    # The revision of the tree kv was built in (a binary built elsewhere, such as an older
    # commit's worktree, is named by its own commit, not by this script's).
    kv_dir = os.path.dirname(os.path.abspath(kv))
    revision = subprocess.run(["git", "-C", kv_dir, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip() or "unknown"
    return (f"{model}, {os.cpu_count()} CPUs, Linux {os.uname().release}; "
            f"redis-server {redis_version[2:] if redis_version.startswith('v=') else redis_version}; "
            f"kv {revision}")


METHOD = """Method: both servers run on the same host, one at a time, pinned to CPU 0 with the load
pinned to CPU 1; kv and Redis alternate within each round and the tables show the median of the
rounds. Closed loop is redis-benchmark (its p50/p99 include client-side queueing). Open loop is
bench/kv-load: 50 connections, a fixed schedule of intended send times, latency measured from
the intended time to the reply (no coordinated omission), log-linear histogram with 1 µs
resolution; rates are fractions of Redis's closed-loop peak measured by kv-load in the same run.
CPU per request is the server's user + system time (/proc/PID/stat) over the requests it served.
Timings on a 2-CPU machine are noisy: compare the ratios, not the absolute figures."""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kv", default=os.path.join(ROOT, "build", "kv"))
    parser.add_argument("--load", default=os.path.join(ROOT, "build", "kv-load"))
    parser.add_argument("--requests", type=int, default=100000)
    parser.add_argument("--requests-c1", type=int, default=30000,
                        help="requests for the -c 1 shape (one client is slow)")
    parser.add_argument("--requests-p16", type=int, default=0,
                        help="requests for the -P 16 shape (0: ten times --requests, so the "
                             "server's CPU time spans enough clock ticks)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians shown")
    parser.add_argument("--seconds", type=float, default=5.0, help="each open-loop run")
    parser.add_argument("--tests", default=",".join(TESTS))
    parser.add_argument("--quick", action="store_true",
                        help="one round, fewer requests, 2 s open-loop runs (a smoke run)")
    parser.add_argument("--write-results", action="store_true",
                        help="write the tables to bench/RESULTS.md")
    options = parser.parse_args()
    options.tests = options.tests.split(",")
    options.requests_p16 = options.requests_p16 or 10 * options.requests
    if options.quick:
        options.rounds, options.requests, options.requests_c1, options.seconds = 1, 50000, 5000, 2.0
    lines = ["# kv vs redis-server", "", f"Run {datetime.date.today()}: {machine(options.kv)}.", "", METHOD, ""]
    print("\n".join(lines), flush=True)
    closed_loop(options, lines)
    if os.access(options.load, os.X_OK):
        open_loop(options, lines)
    else:
        print(f"(no {options.load}: build it with cmake --build build; open loop skipped)")
    if options.write_results:
        # RESULTS.md holds the other scripts' sections too: replace only this script's part,
        # between its two markers (appended at the end when the markers are not there yet).
        path = os.path.join(HERE, "RESULTS.md")
        begin, end = "<!-- bench.py begin -->", "<!-- bench.py end -->"
        section = begin + "\n## Throughput and latency (bench.py)\n" + "\n".join(lines[2:]) + "\n" + end
        try:
            with open(path) as results:
                text = results.read()
        except FileNotFoundError:
            text = "# kv vs redis-server\n\n"
        if begin in text and end in text:
            text = text[:text.index(begin)] + section + text[text.index(end) + len(end):]
        else:
            text = text.rstrip("\n") + "\n\n" + section + "\n"
        with open(path, "w") as results:
            results.write(text)
        print(f"wrote {os.path.join(HERE, 'RESULTS.md')}")


if __name__ == "__main__":
    main()
