#!/usr/bin/env python3
"""One instance against two in a cluster, kv and Redis 7.0 side by side (issue 18 item 5).

For each server (kv, redis-server) and each shape (1 instance, 2 instances), the instances run
in cluster mode (cluster-enabled yes; one instance serves all 16,384 slots, two split them
0-8191 / 8192-16383 and meet over the cluster bus), instance i pinned to CPU i; then
`redis-benchmark --cluster -t set,get -n N -c 50 [-P 16] --csv` runs against them (without
--cluster for one instance: redis-benchmark refuses a one-node cluster). The client
is NOT pinned: on this 2-CPU machine it shares the cores with the servers, so two instances
compete with the client for the same two CPUs: the figures say what sharding buys on one small
host, not on a host with a core to spare per instance. Medians of --rounds rounds; kv and
Redis alternate within each round.

    bench/cluster.py --kv build-rel/kv [--requests 1000000] [--requests-p16 4000000]
                     [--rounds 3] [--markdown]
"""
import argparse
import csv
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402


def cluster_argv(name, options, directory, index, bus):
    common = ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{index}.conf",
              "--cluster-port", str(bus), "--dir", directory]
    if name == "kv":
        return [options.kv, "--bind", "127.0.0.1", "--hugepages", "off", "--maxmemory",
                "512mb", "--save", ""] + common
    return [options.redis, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--daemonize", "no", "--protected-mode", "no"] + common


def form(servers, buses):
    """Slots split evenly, every node meets the first (its port and bus port), until each says
    cluster_state:ok."""
    count = len(servers)
    per = 16384 // count
    for index, server in enumerate(servers):
        first, last = index * per, 16383 if index == count - 1 else (index + 1) * per - 1
        connection = server.connect()
        connection.call("CLUSTER", "ADDSLOTSRANGE", first, last)
        if index > 0:
            connection.call("CLUSTER", "MEET", "127.0.0.1", servers[0].port, buses[0])
        connection.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:   # bounded: a minute
        states = []
        for server in servers:
            connection = server.connect()
            text = connection.call("CLUSTER", "INFO")
            connection.close()
            text = text.decode() if isinstance(text, bytes) else str(text)
            states.append("cluster_state:ok" in text and f"cluster_known_nodes:{count}" in text)
        if all(states):
            return
        time.sleep(0.2)
    raise benchlib.ServerError(f"{count} nodes did not form a cluster within 60 s")


def benchmark(port, options, pipeline, count):
    """redis-benchmark refuses --cluster with one node ("Invalid cluster"): the one-instance
    shape runs plainly against the node that serves every slot."""
    requests = options.requests if pipeline == 1 else options.requests_p16
    args = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", "set,get",
            "-n", str(requests), "-c", "50", "-r", "100000", "--csv"]
    if count > 1:
        args.insert(1, "--cluster")
    if pipeline > 1:
        args += ["-P", str(pipeline)]
    output = subprocess.run(args, capture_output=True, text=True, timeout=600).stdout
    rows = {}
    for row in csv.reader(io.StringIO(output)):
        if len(row) >= 7 and row[0] in ("SET", "GET"):
            rows[row[0]] = (float(row[1]), float(row[4]), float(row[6]))  # rps, p50, p99
    return rows


def run_shape(name, options, count, pipeline):
    directory = tempfile.mkdtemp(prefix=f"bench-cluster-{name}-")
    servers = []
    buses = [benchlib.free_port() for _ in range(count)]
    try:
        for index in range(count):
            argv = cluster_argv(name, options, directory, index, buses[index])
            servers.append(benchlib.Server(name, argv, cpu=index))
        form(servers, buses)
        time.sleep(2.5)   # Redis refuses writes for 2 s after a node starts (kv does too)
        return benchmark(servers[0].port, options, pipeline, count)
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    benchlib.add_common_arguments(parser)
    # redis-benchmark --cluster's rates come from durations in steps of 250 ms: runs of
    # several seconds keep that step a few percent (200,000 at -P 16 read 800,000/s flat).
    parser.add_argument("--requests", type=int, default=1000000)
    parser.add_argument("--requests-p16", type=int, default=4000000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    if options.quick:
        options.requests, options.requests_p16, options.rounds = 20000, 100000, 1
    shapes = [(count, pipeline) for pipeline in (1, 16) for count in (1, 2)]
    results = {}
    for round_index in range(options.rounds):
        for count, pipeline in shapes:
            for name in ("kv", "redis"):
                benchlib.progress(f"round {round_index + 1}: {name}, {count} instance(s), "
                                  f"-P {pipeline}")
                rows = run_shape(name, options, count, pipeline)
                for test, figures in rows.items():
                    results.setdefault((name, count, pipeline, test), []).append(figures)
    table = benchlib.Table(
        "redis-benchmark --cluster, -c 50 (medians)",
        ["test", "-P", "server", "1 instance rps", "2 instances rps", "2 vs 1",
         "1 instance p50 ms", "2 instances p50 ms", "1 instance p99 ms", "2 instances p99 ms"],
        right=[False, True, False] + [True] * 7)
    for pipeline in (1, 16):
        for test in ("SET", "GET"):
            for name in ("kv", "redis"):
                one = results.get((name, 1, pipeline, test))
                two = results.get((name, 2, pipeline, test))
                if not one or not two:
                    continue
                med = [[statistics.median(f[i] for f in runs) for i in range(3)]
                       for runs in (one, two)]
                table.add([test, str(pipeline), name, f"{med[0][0]:.0f}", f"{med[1][0]:.0f}",
                           med[1][0] / med[0][0], med[0][1], med[1][1], med[0][2], med[1][2]])
    method = (__doc__.split("\n\n")[1] if "\n\n" in __doc__ else "").strip()
    benchlib.report(options, "One instance against two, in cluster mode (cluster.py)",
                    method + f"\n\nCommand: `bench/cluster.py --requests {options.requests} "
                    f"--requests-p16 {options.requests_p16} --rounds {options.rounds}`.",
                    [table])


if __name__ == "__main__":
    main()
