#!/usr/bin/env python3
"""Latency during a snapshot: kv's forkless BGSAVE against redis-server's forking BGSAVE.

For each server in turn (same host, server pinned to CPU 0, load to CPU 1): start it on a
fresh directory, fill it with --dataset-mib of strings (1 KiB values, pipelined SETs in
database 0), then run bench/kv-load in open loop (GET of its own 10,000 64-byte keys,
50 connections, a fixed --rate) for --seconds; --bgsave-after seconds into the run, BGSAVE
starts. The row reports kv-load's latency over the whole run (p50, p99, p99.9, max, from each
request's intended send time), the BGSAVE's duration (from INFO rdb_last_bgsave_time_sec
and the wall clock until rdb_bgsave_in_progress goes to 0), and the dump's size. A baseline
row per server runs the same load with no BGSAVE.

With --aof, the rows are instead each server with the AOF off and with appendfsync everysec
and always (no BGSAVE), under an open loop of SETs of the same 10,000 keys: what the AOF costs
in latency (the issue's aim: kv's everysec p99 and p99.9 within 1.2x of kv without it).
--kv-before BINARY adds a server `kv-before` (another kv build, e.g. main's) to compare in the
same run (its ratios are to its own AOF-off row).

Usage: bench/persist.py [--kv build/kv] [--load build/kv-load] [--dataset-mib 1024]
       [--rate 20000] [--seconds 20] [--aof] [--kv-before other/kv] [--write-results]
With --write-results the table replaces the part of bench/RESULTS.md between
<!-- persist.py begin --> and <!-- persist.py end -->.
"""
import argparse
import csv
import datetime
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VALUE_BYTES = 1024


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pinned(cpu):
    if shutil.which("taskset") and os.cpu_count() and os.cpu_count() >= 2:
        return ["taskset", "-c", str(cpu)]
    return []


def command(*args):
    out = b"*%d\r\n" % len(args)
    for arg in args:
        arg = arg if isinstance(arg, bytes) else str(arg).encode()
        out += b"$%d\r\n%s\r\n" % (len(arg), arg)
    return out


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.buffer = b""

    def lines(self, count):
        """Reads `count` simple replies (status, integer or error lines)."""
        got = 0
        while got < count:
            index = self.buffer.find(b"\r\n")
            if index < 0:
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    raise RuntimeError("connection closed")
                self.buffer += chunk
                continue
            line = self.buffer[:index]
            self.buffer = self.buffer[index + 2:]
            if line.startswith(b"$"):
                length = int(line[1:])
                if length >= 0:
                    while len(self.buffer) < length + 2:
                        self.buffer += self.sock.recv(1 << 20)
                    line = self.buffer[:length]
                    self.buffer = self.buffer[length + 2:]
            got += 1
            last = line
        return last

    def call(self, *args):
        self.sock.sendall(command(*args))
        return self.lines(1)


def info(conn, field):
    conn.sock.sendall(command("INFO", "persistence"))
    header = conn.lines(1)  # the bulk string, read whole by lines()
    for line in header.split(b"\r\n"):
        if line.startswith(field.encode() + b":"):
            return line.split(b":", 1)[1].decode()
    return None


class Server:
    def __init__(self, name, argv, port):
        self.name = name
        self.port = port
        self.process = subprocess.Popen(pinned(0) + argv, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{name} did not start")

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(name, options, directory, appendfsync=None):
    """appendfsync None: no AOF; else appendonly yes with that policy."""
    port = free_port()
    aof = (["--appendonly", "yes", "--appendfsync", appendfsync] if appendfsync else
           ["--appendonly", "no"])
    if name in ("kv", "kv-before"):
        binary = options.kv if name == "kv" else options.kv_before
        argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", directory,
                "--save", "", "--hugepages", "off", "--connections-max", "64",
                "--maxmemory", "%dmb" % int(options.dataset_mib * 1.6 + 256)] + aof
    else:
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", directory,
                "--save", "", "--daemonize", "no", "--protected-mode", "no"] + aof
    return Server(name, argv, port)


def fill(server, dataset_mib):
    """dataset_mib MiB of 1 KiB strings, pipelined in batches."""
    conn = Conn(server.port)
    count = dataset_mib * 1024 * 1024 // VALUE_BYTES
    noise = os.urandom(1 << 20)  # values LZF cannot shrink, as real data mostly is
    batch = 2000
    for start in range(0, count, batch):
        end = min(count, start + batch)
        conn.sock.sendall(b"".join(
            command(b"SET", b"big:%d" % i,
                    noise[(i * 7919) % ((1 << 20) - VALUE_BYTES):][:VALUE_BYTES])
            for i in range(start, end)))
        conn.lines(end - start)
    return count


def run_load(options, server, load_command="get"):
    args = pinned(1) + [options.load, "--port", str(server.port), "--command", load_command,
                        "--connections", "50", "--rate", str(options.rate),
                        "--duration", str(options.seconds), "--warmup", "1",
                        "--keys", "10000", "--value-size", "64", "--prefill", "--csv"]
    output = subprocess.run(args, check=True, capture_output=True, text=True,
                            timeout=options.seconds + 120).stdout
    row = next(csv.DictReader(io.StringIO(output)))
    return {name: value for name, value in row.items()}


def measure(options, name, bgsave, appendfsync=None):
    directory = tempfile.mkdtemp(prefix="kv-persist-bench-")
    server = start(name, options, directory, appendfsync)
    try:
        keys = fill(server, options.dataset_mib)
        control = Conn(server.port)
        if appendfsync and options.aof_settle:
            # The fill grew the AOF past auto-aof-rewrite's thresholds: the measured load
            # starts once no rewrite runs or is scheduled (bounded: 300 s), so the rows show
            # the fsync policy's cost, not a rewrite's (--no-aof-settle keeps the overlap).
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and (
                    info(control, "aof_rewrite_in_progress") != "0" or
                    info(control, "aof_rewrite_scheduled") != "0"):
                time.sleep(0.1)
        result = {}
        timing = {}

        def trigger():
            time.sleep(1 + options.bgsave_after)  # kv-load's warmup, then the delay
            started = time.monotonic()
            reply = control.call("BGSAVE")
            timing["reply"] = reply.decode()
            while info(control, "rdb_bgsave_in_progress") != "0":
                time.sleep(0.05)
            timing["seconds"] = time.monotonic() - started

        thread = threading.Thread(target=trigger) if bgsave else None
        if thread:
            thread.start()
        result = run_load(options, server, "set" if options.aof else "get")
        if thread:
            thread.join()
        dump = os.path.join(directory, "dump.rdb")
        result["bgsave_seconds"] = "%.2f" % timing["seconds"] if bgsave else "-"
        result["bgsave_reply"] = timing.get("reply", "-")
        result["dump_mib"] = ("%.0f" % (os.path.getsize(dump) / 2**20)
                              if bgsave and os.path.exists(dump) else "-")
        result["keys"] = keys
        return result
    finally:
        server.stop()
        shutil.rmtree(directory, True)


def aof_table(rows, options):
    lines = ["| server | AOF | offered SET/s | achieved | p50 µs | p99 µs | p99.9 µs | max µs "
             "| p99 vs AOF off | p99.9 vs AOF off |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    off = {name: row for name, policy, row in rows if policy is None}
    for name, policy, row in rows:
        base = off.get(name)
        ratio = (lambda field: "%.2f" % (float(row[field]) / max(float(base[field]), 1.0))
                 if base else "-")
        lines.append("| %s | %s | %d | %.0f | %s | %s | %s | %s | %s | %s |" % (
            name, policy or "off", options.rate, float(row["achieved_rps"]), row["p50_us"],
            row["p99_us"], row["p999_us"], row["max_us"], ratio("p99_us"), ratio("p999_us")))
    return lines


def table(rows, options):
    lines = ["| server | BGSAVE | offered req/s | achieved | p50 µs | p99 µs | p99.9 µs "
             "| max µs | BGSAVE s | dump MiB |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, bgsave, row in rows:
        lines.append("| %s | %s | %d | %.0f | %s | %s | %s | %s | %s | %s |" % (
            name, "yes" if bgsave else "no", options.rate, float(row["achieved_rps"]),
            row["p50_us"], row["p99_us"], row["p999_us"], row["max_us"], row["bgsave_seconds"],
            row["dump_mib"]))
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kv", default=os.path.join(ROOT, "build", "kv"))
    parser.add_argument("--load", default=os.path.join(ROOT, "build", "kv-load"))
    parser.add_argument("--dataset-mib", type=int, default=1024)
    parser.add_argument("--rate", type=int, default=20000)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--bgsave-after", type=float, default=2.0)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--servers", default="kv,redis")
    parser.add_argument("--no-aof-settle", dest="aof_settle", action="store_false",
                        help="with --aof: start the load without waiting for the fill's "
                        "automatic AOF rewrites to end")
    parser.add_argument("--aof", action="store_true",
                        help="AOF off / everysec / always under SETs instead of a BGSAVE")
    parser.add_argument("--kv-before", default=None,
                        help="another kv binary, run as server kv-before (--aof: AOF off and "
                        "always) to compare builds in one run")
    parser.add_argument("--write-results", action="store_true")
    options = parser.parse_args()
    if options.aof:
        return main_aof(options)
    rows = []
    for name in options.servers.split(","):
        for bgsave in ((True,) if options.no_baseline else (False, True)):
            row = measure(options, name, bgsave)
            rows.append((name, bgsave, row))
            print(name, "bgsave" if bgsave else "baseline", row, flush=True)
    lines = table(rows, options)
    print("\n".join(lines))
    if options.write_results:
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
        cpu = "unknown CPU"
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        section = ["<!-- persist.py begin -->", "## Latency during a snapshot (persist.py)", "",
                   "Command: `bench/persist.py --dataset-mib %d --rate %d --seconds %d "
                   "--write-results`." % (options.dataset_mib, options.rate, options.seconds), "",
                   "Run %s: %s, %d CPUs; redis-server 7.0.15; kv %s. The dataset is %d MiB of "
                   "1 KiB random strings (%d keys); kv-load GETs its own 10,000 keys at a "
                   "fixed rate "
                   "(50 connections, open loop) for %d s and BGSAVE starts %.0f s in. kv's "
                   "BGSAVE is the forkless snapshot (bounded slices between loop passes); "
                   "Redis's forks a child, whose page-table copy stalls the parent and whose "
                   "copy-on-write competes with it." % (
                       datetime.date.today().isoformat(), cpu, os.cpu_count(), commit,
                       options.dataset_mib, rows[0][2]["keys"], options.seconds,
                       options.bgsave_after), ""] + lines + ["", "<!-- persist.py end -->"]
        write_section(section)
    return 0


def write_section(section):
    """Replaces the part of bench/RESULTS.md between the section's first and last lines (its
    begin and end markers), or appends the section when the markers are not there yet."""
    path = os.path.join(HERE, "RESULTS.md")
    with open(path) as f:
        text = f.read()
    begin_marker, end_marker = section[0], section[-1]
    begin = text.find(begin_marker)
    end = text.find(end_marker)
    block = "\n".join(section)
    if begin >= 0 and end > begin:
        text = text[:begin] + block + text[end + len(end_marker):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)


def machine():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def main_aof(options):
    rows = []
    servers = options.servers.split(",")
    if options.kv_before and "kv-before" not in servers:
        servers.insert(servers.index("kv") + 1 if "kv" in servers else 0, "kv-before")
    for name in servers:
        policies = (None, "always") if name == "kv-before" else (None, "everysec", "always")
        for policy in policies:
            row = measure(options, name, False, policy)
            rows.append((name, policy, row))
            print(name, policy or "off", row, flush=True)
    lines = aof_table(rows, options)
    print("\n".join(lines))
    if not options.write_results:
        return 0
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    section = ["<!-- persist.py aof begin -->", "## Latency with the AOF (persist.py --aof)", "",
               "Command: `bench/persist.py --aof --dataset-mib %d --rate %d --seconds %d "
               "--write-results`." % (options.dataset_mib, options.rate, options.seconds), "",
               "Run %s: %s, %d CPUs; redis-server 7.0.15; kv %s. Each server starts empty with "
               "the AOF off, appendfsync everysec or always, is filled with %d MiB of 1 KiB "
               "strings, then kv-load SETs its own 10,000 keys (64-byte values) at a fixed rate "
               "(50 connections, open loop) for %d s; latency from each request's intended "
               "send time." % (datetime.date.today().isoformat(), machine(), os.cpu_count(),
                               commit, options.dataset_mib, options.seconds), ""] + lines + [
                   "", "<!-- persist.py aof end -->"]
    write_section(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
