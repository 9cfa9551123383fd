#!/usr/bin/python3
"""Collections at scale: per-operation latency on 1M-element collections, kv against Redis.

Each server (maxmemory 1gb for both, noeviction; one at a time, pinned to CPU 0, the load to
CPU 1) gets four collections of --elements (1,000,000) elements each, built with pipelined
batches (100 elements per command, 10 commands per batch, two batches in flight), and the time
of each build is reported:

  bighash   HSET bighash field:%07d <16 B> ...        -> HGET of a random existing field
  bigset    SADD bigset member:%07d ...                -> SISMEMBER of a random existing member
  bigzset   ZADD bigzset <score> player:%07d ...       -> ZADD (new score of an existing member),
                                                          ZRANK of a random member
  biglist   RPUSH biglist <16 B> ...                   -> LINDEX at the middle, LPUSH, RPOP

Each operation is then timed twice on one connection: --requests (20,000) single round trips
(send one request, wait for its reply: client, loopback and server time together), and the
same number pipelined 100 deep (the time of a batch over 100: close to the server's own cost).
Reported: p50, p99 and mean in microseconds, and kv/Redis ratios. A command kv does not have
yet shows as failed and the run goes on.

Usage: /usr/bin/python3 bench/collections_scale.py [--kv build/kv] [--redis redis-server]
       [--elements 1000000] [--requests 20000] [--quick] [--markdown]
--quick: 100,000 elements and 2,000 requests. Loopback only; servers stopped by their PID.
"""
import argparse
import collections
import random
import sys
import time

import benchlib
from benchlib import ReplyError, ServerError

PER_COMMAND = 100
COMMANDS_PER_BATCH = 10
DEPTH = 100
MAXMEMORY = "1gb"


def values16(rnd, count):
    alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789"
    return [bytes(rnd.choice(alphabet) for _ in range(16)) for _ in range(count)]


def builders(rnd):
    """name: function(start, count) -> the RESP bytes adding elements start..start+count-1."""
    pool = values16(rnd, 1024)

    def array(head, items):
        return b"*%d\r\n" % (len(head) + len(items)) + b"".join(
            b"$%d\r\n%s\r\n" % (len(item), item) for item in head + items)

    def bighash(start, count):
        items = []
        for i in range(start, start + count):
            items += [b"field:%07d" % i, pool[i % 1024]]
        return array([b"HSET", b"bighash"], items)

    def bigset(start, count):
        members = [b"member:%07d" % i for i in range(start, start + count)]
        return array([b"SADD", b"bigset"], members)

    def bigzset(start, count):
        items = []
        for i in range(start, start + count):
            items += [b"%d" % rnd.randrange(1 << 40), b"player:%07d" % i]
        return array([b"ZADD", b"bigzset"], items)

    def biglist(start, count):
        return array([b"RPUSH", b"biglist"], [pool[i % 1024] for i in range(start, start + count)])

    return collections.OrderedDict([("bighash", bighash), ("bigset", bigset),
                                    ("bigzset", bigzset), ("biglist", biglist)])


def operations(rnd, elements):
    """(label, collection it needs, function() -> one command's bytes)."""
    middle = str(elements // 2)
    return [
        ("HGET", "bighash", lambda: benchlib.command(
            "HGET", "bighash", "field:%07d" % rnd.randrange(elements))),
        ("SISMEMBER", "bigset", lambda: benchlib.command(
            "SISMEMBER", "bigset", "member:%07d" % rnd.randrange(elements))),
        ("ZADD (update)", "bigzset", lambda: benchlib.command(
            "ZADD", "bigzset", rnd.randrange(1 << 40), "player:%07d" % rnd.randrange(elements))),
        ("ZRANK", "bigzset", lambda: benchlib.command(
            "ZRANK", "bigzset", "player:%07d" % rnd.randrange(elements))),
        ("LINDEX middle", "biglist", lambda: benchlib.command("LINDEX", "biglist", middle)),
        ("LPUSH", "biglist", lambda: benchlib.command("LPUSH", "biglist", "x" * 16)),
        ("RPOP", "biglist", lambda: benchlib.command("RPOP", "biglist")),
    ]


def build(connection, builder, elements):
    """Fill one collection; returns seconds, or raises ServerError with the first error."""
    batch = PER_COMMAND * COMMANDS_PER_BATCH
    in_flight = collections.deque()
    sent = 0
    began = time.monotonic()
    while sent < elements or in_flight:
        while sent < elements and len(in_flight) < 2:
            count = min(batch, elements - sent)
            commands = []
            for start in range(sent, sent + count, PER_COMMAND):
                commands.append(builder(start, min(PER_COMMAND, sent + count - start)))
            connection.send(b"".join(commands))
            in_flight.append(len(commands))
            sent += count
        for line in connection.read_lines(in_flight.popleft()):
            if line[:1] == b"-":
                raise ServerError(line[1:].decode(errors="replace"))
    return time.monotonic() - began


def percentile(sorted_values, fraction):
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, int(fraction * len(sorted_values)))
    return sorted_values[index]


def summary(samples_us):
    ordered = sorted(samples_us)
    return {"p50": percentile(ordered, 0.50), "p99": percentile(ordered, 0.99),
            "mean": sum(ordered) / len(ordered) if ordered else float("nan")}


def time_single(connection, make, requests):
    samples = []
    clock = time.perf_counter_ns
    for _ in range(requests):
        request = make()
        began = clock()
        connection.send(request)
        reply = connection.read_reply()
        samples.append((clock() - began) / 1000.0)
        if isinstance(reply, ReplyError):
            raise ServerError(str(reply))
    return summary(samples)


def time_pipelined(connection, make, requests):
    samples = []
    clock = time.perf_counter_ns
    for _ in range(max(1, requests // DEPTH)):
        batch = b"".join(make() for _ in range(DEPTH))
        began = clock()
        connection.send(batch)
        replies = [connection.read_reply() for _ in range(DEPTH)]
        samples.append((clock() - began) / 1000.0 / DEPTH)
        errors = [reply for reply in replies if isinstance(reply, ReplyError)]
        if errors:
            raise ServerError(str(errors[0]))
    return summary(samples)


def run_server(options, name):
    """{"fill": {collection: seconds | error}, "single": {op: summary | error},
    "pipelined": {...}, "used_memory", "rss"} or {"failed": text}."""
    rnd = random.Random(options.seed)
    try:
        server = benchlib.start(name, options, MAXMEMORY, "noeviction", start_seconds=300)
    except ServerError as error:
        return {"failed": str(error)}
    result = {"fill": {}, "single": {}, "pipelined": {}}
    try:
        connection = server.connect(timeout=120)
        for collection, builder in builders(rnd).items():
            try:
                seconds = build(connection, builder, options.elements)
                result["fill"][collection] = seconds
                benchlib.progress(f"{name}: built {collection} ({options.elements} elements) in "
                                  f"{seconds:.1f} s")
            except ServerError as error:
                result["fill"][collection] = f"failed: {error}"
                benchlib.progress(f"{name}: {collection} FAILED: {error}")
                connection.close()  # replies of the batch in flight are abandoned with it
                connection = server.connect(timeout=120)
        memory = connection.info("memory")
        result["used_memory"] = benchlib.info_int(memory, "used_memory")
        result["rss"] = server.rss()
        for label, collection, make in operations(rnd, options.elements):
            if isinstance(result["fill"].get(collection), str):
                result["single"][label] = result["pipelined"][label] = f"no {collection}"
                continue
            for mode, timer in (("single", time_single), ("pipelined", time_pipelined)):
                try:
                    result[mode][label] = timer(connection, make, options.requests)
                except ServerError as error:
                    result[mode][label] = f"failed: {error}"
                    connection.close()
                    connection = server.connect(timeout=120)
            benchlib.progress(f"{name}: {label}: {result['single'][label]} / "
                              f"{result['pipelined'][label]}")
        connection.close()
    except (ServerError, OSError) as error:
        result["failed"] = f"{type(error).__name__}: {error}"
    finally:
        server.stop()
    return result


def ratio(a, b):
    return a / b if isinstance(a, float) and isinstance(b, float) and b > 0 else float("nan")


METHOD = """Method: one server at a time (kv, then Redis), maxmemory 1gb and noeviction for both,
the server pinned to CPU 0 and the Python load to CPU 1. Each collection is built with pipelined
batches (100 elements per command, 10 commands per batch, two batches in flight); its fill time
is the wall time of that build. Operations pick random existing fields or members (seeded);
ZADD gives an existing member a new score; LPUSH and RPOP run one after the other so the list
stays near its size. "Single" is one request per round trip on one connection (client, loopback
and server together: Python adds its own ~10-20 µs to both servers alike); "pipelined" sends 100
requests at once and divides the batch's time by 100, which approaches the server's own cost.
Timings on a 2-CPU machine shared with other work are noisy: compare the ratios."""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    benchlib.add_common_arguments(parser)
    parser.add_argument("--elements", type=int, default=1000000)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()
    if options.quick:
        options.elements, options.requests = 100000, 2000
    benchlib.pin_self(1)
    results = {name: run_server(options, name) for name in ("kv", "redis")}
    notes = [f"- {name}: FAILED: {results[name]['failed']}" for name in results
             if "failed" in results[name]]

    fills = benchlib.Table(
        f"Build of each {options.elements:,}-element collection (seconds)",
        ["collection", "kv s", "redis s", "kv/redis", "kv elements/s", "redis elements/s"])
    for collection in builders(random.Random(0)):
        cells = []
        for name in ("kv", "redis"):
            value = results[name].get("fill", {}).get(collection, "failed")
            if isinstance(value, str):
                notes.append(f"- {name}, build of {collection}: {value}")
                value = "failed"
            cells.append(value)
        k, r = cells
        fills.add([collection, k, r, ratio(k, r),
                   f"{options.elements / k:.0f}" if isinstance(k, float) else "-",
                   f"{options.elements / r:.0f}" if isinstance(r, float) else "-"])
    memory = benchlib.Table(
        "Memory after the four builds",
        ["server", "used_memory MiB", "RSS MiB"])
    for name in ("kv", "redis"):
        memory.add([name, benchlib.mib(results[name].get("used_memory", 0)),
                    benchlib.mib(results[name].get("rss", 0))])

    tables = [fills, memory]
    for mode, title in (("single", f"Single round trips, one connection ({options.requests:,} "
                                   "requests), µs"),
                        ("pipelined", f"Pipelined {DEPTH} deep ({options.requests:,} requests), "
                                      "µs per request")):
        table = benchlib.Table(title, ["operation", "kv p50", "redis p50", "p50 kv/redis",
                                       "kv p99", "redis p99", "p99 kv/redis", "kv mean",
                                       "redis mean", "mean kv/redis"])
        for label, _, _ in operations(random.Random(0), options.elements):
            row = [label]
            k = results["kv"].get(mode, {}).get(label, "failed")
            r = results["redis"].get(mode, {}).get(label, "failed")
            for name, value in (("kv", k), ("redis", r)):
                if isinstance(value, str) and value.startswith("failed: ") \
                        and mode == "single":
                    notes.append(f"- {name}, {label}: {value}")
            for field in ("p50", "p99", "mean"):
                kv_value = k[field] if isinstance(k, dict) else None
                redis_value = r[field] if isinstance(r, dict) else None
                row += [f"{kv_value:.1f}" if kv_value is not None else "failed",
                        f"{redis_value:.1f}" if redis_value is not None else "failed",
                        ratio(kv_value, redis_value)]
            table.add(row)
        tables.append(table)
    benchlib.report(options, f"Collections at scale ({options.elements:,} elements)", METHOD,
                    tables, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
