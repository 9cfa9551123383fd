#!/usr/bin/python3
"""Memory efficiency of kv against redis-server: items stored in the same budget.

Both servers get the same budget (--maxmemory 256mb, noeviction; Redis by its own flags) and
are filled, fresh servers for each line, with pipelined batches of 1000 commands (two batches
in flight on one connection) until the first error reply, which must be Redis's -OOM; the
items counted are exactly those whose commands succeeded before that first error. Lines:

  strings   SET key:%012d <100-byte value>                       item = one key
  zset      ZADD leaderboard <random score> player:%d             item = one member of ONE zset
  hashes    HSET user:%d field0 <20 B> ... field9 <20 B>          item = one hash (10 fields)
  lists     RPUSH list:%d <50 B> x 10                             item = one list (10 elements)
  sets      SADD set:%d <20 distinct integers in 0..9999>         item = one set (20 members)

Per line: items stored by kv and by Redis, kv/Redis (target >= 1.33), bytes per item (the
budget over the items), the payload bytes per item (the floor: key and value bytes as the
client sends them, a score counted as an 8-byte double and a set's integers below 2**15 as two
bytes each), and each server's INFO used_memory
and VmRSS (/proc/PID/status) at the end. DBSIZE (ZCARD for the zset) is read back and a
difference from the count is noted.

Usage: /usr/bin/python3 bench/memory.py [--kv build/kv] [--redis redis-server]
       [--maxmemory 256mb] [--lines strings,zset,hashes,lists,sets] [--quick] [--markdown]
--quick uses a 32mb budget. Servers are pinned to CPU 0 and the load to CPU 1; loopback only;
every server is stopped by its PID. Exit status 0 when the run completed, whatever it found.
"""
import argparse
import collections
import random
import sys
import time

import benchlib
from benchlib import ServerError

BATCH = 1000
IN_FLIGHT = 2
POOL = 4096  # distinct values per line, reused round robin: neither server deduplicates


def digits_total(count, offset=0):
    """Sum of len(str(i)) for i in [offset, offset + count): exact key-length totals."""
    total, low = 0, offset
    high = offset + count
    width = 1
    while low < high:  # one pass per decimal width, at most 20
        limit = 10 ** width
        if low < limit:
            upper = min(high, limit)
            total += (upper - low) * width
            low = upper
        width += 1
    return total


def make_lines(rnd):
    def pool_of(size, length):
        alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        return [bytes(rnd.choice(alphabet) for _ in range(length)) for _ in range(size)]

    values100 = [b"$100\r\n%s\r\n" % value for value in pool_of(POOL, 100)]

    def strings(i):
        return b"*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n" % i + values100[i % POOL]

    def zset(i):
        score = b"%.6f" % (rnd.random() * 1e6)
        member = b"player:%d" % i
        return (b"*4\r\n$4\r\nZADD\r\n$11\r\nleaderboard\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
                % (len(score), score, len(member), member))

    fields20 = []
    for values in (pool_of(10, 20) for _ in range(POOL // 4)):
        fields20.append(b"".join(b"$6\r\nfield%d\r\n$20\r\n%s\r\n" % (index, value)
                                 for index, value in enumerate(values)))

    def hashes(i):
        key = b"user:%d" % i
        return b"*22\r\n$4\r\nHSET\r\n$%d\r\n%s\r\n" % (len(key), key) + fields20[i % len(fields20)]

    elements50 = [b"".join(b"$50\r\n%s\r\n" % value for value in pool_of(10, 50))
                  for _ in range(POOL // 4)]

    def lists(i):
        key = b"list:%d" % i
        return (b"*12\r\n$5\r\nRPUSH\r\n$%d\r\n%s\r\n" % (len(key), key)
                + elements50[i % len(elements50)])

    members = []
    for _ in range(POOL):
        numbers = [b"%d" % number for number in rnd.sample(range(10000), 20)]
        members.append(b"".join(b"$%d\r\n%s\r\n" % (len(number), number) for number in numbers))
    set_bytes = 20 * 2  # each member is below 2**15: two bytes is its floor, not its text

    def sets(i):
        key = b"set:%d" % i
        return b"*22\r\n$4\r\nSADD\r\n$%d\r\n%s\r\n" % (len(key), key) + members[i % POOL]

    # name: (command maker, payload bytes of the first n items, how to count them afterwards)
    return collections.OrderedDict([
        ("strings", (strings, lambda n: n * (16 + 100), ("DBSIZE",))),
        ("zset", (zset, lambda n: digits_total(n) + n * (len("player:") + 8),
                  ("ZCARD", "leaderboard"))),
        ("hashes", (hashes, lambda n: digits_total(n) + n * (len("user:") + 10 * (6 + 20)),
                    ("DBSIZE",))),
        ("lists", (lists, lambda n: digits_total(n) + n * (len("list:") + 10 * 50), ("DBSIZE",))),
        ("sets", (sets, lambda n: digits_total(n) + n * (len("set:") + set_bytes), ("DBSIZE",))),
    ])


def fill(server, maker, seconds_max):
    """Send batches until the first error reply; returns (items before it, the error text,
    seconds). Two batches stay in flight so the server never waits for Python."""
    connection = server.connect()
    stored, sent, error = 0, 0, None
    in_flight = collections.deque()
    began = time.monotonic()
    try:
        while error is None:
            while len(in_flight) < IN_FLIGHT and time.monotonic() - began < seconds_max:
                connection.send(b"".join(maker(i) for i in range(sent, sent + BATCH)))
                in_flight.append(BATCH)
                sent += BATCH
            if not in_flight:
                error = f"no error within {seconds_max:.0f} s"
                break
            lines = connection.read_lines(in_flight.popleft())
            for index, line in enumerate(lines):
                if line[:1] == b"-":
                    error = line[1:].decode(errors="replace")
                    stored += index
                    break
            else:
                stored += len(lines)
        while in_flight:
            connection.read_lines(in_flight.popleft())
        return stored, error, time.monotonic() - began
    finally:
        connection.close()


def run_line(options, name, line, budget):
    maker, payload, count_command = line
    result = {}
    try:
        server = benchlib.start(name, options, options.maxmemory, "noeviction",
                                start_seconds=300)
    except ServerError as error:
        return {"failed": str(error)}
    try:
        stored, error, seconds = fill(server, maker, options.fill_seconds)
        result = {"items": stored, "error": error, "seconds": seconds}
        if not error.startswith("OOM"):
            result["failed"] = f"first error was not -OOM after {stored} items: {error}"
        connection = server.connect()
        try:
            counted = connection.call(*count_command)
            result["counted"] = counted if isinstance(counted, int) else None
            memory = connection.info("memory")
        finally:
            connection.close()
        result["used_memory"] = benchlib.info_int(memory, "used_memory")
        result["rss"] = server.rss()
        if stored:
            result["per_item"] = budget / stored
            result["payload"] = payload(stored) / stored
    except (ServerError, OSError) as error:
        result.setdefault("failed", f"{type(error).__name__}: {error}")
    finally:
        server.stop()
    return result


METHOD = """Method: each line gets fresh servers with the same budget (`maxmemory`, noeviction)
and is filled with pipelined batches of 1000 commands (two in flight, one connection, the load
pinned to CPU 1 and the server to CPU 0) until the first error reply, which must be -OOM. Items
are the commands that succeeded before that error (a hash, list or set of 10 or 20 elements
counts as one item; the zset line counts members of one sorted set). B/item is the budget over
the items; payload B/item is the key and value bytes as sent (a zset score as an 8-byte double,
a set's integers below 2**15 as 2 bytes each), the floor no store can beat. used_memory and RSS
(VmRSS + HugetlbPages, from /proc/PID/status) are read at the end; kv's RSS is its whole region,
locked and prefaulted at startup, so it does not grow with the data."""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    benchlib.add_common_arguments(parser)
    parser.add_argument("--maxmemory", default="256mb")
    parser.add_argument("--lines", default="strings,zset,hashes,lists,sets")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fill-seconds", type=float, default=600.0,
                        help="give up a fill that has not failed after this long")
    options = parser.parse_args()
    if options.quick and options.maxmemory == "256mb":
        options.maxmemory = "32mb"
    budget = benchlib.size_bytes(options.maxmemory)
    benchlib.pin_self(1)
    rnd = random.Random(options.seed)
    lines = make_lines(rnd)
    table = benchlib.Table(
        f"Items stored in maxmemory {options.maxmemory} (noeviction, filled until the first -OOM)",
        ["line", "kv items", "redis items", "kv/redis", "target >= 1.33", "kv B/item",
         "redis B/item", "payload B/item", "kv used_memory MiB", "redis used_memory MiB",
         "kv RSS MiB", "redis RSS MiB"],
        [False, True, True, True, False] + [True] * 7)
    notes = []
    for line_name in options.lines.split(","):
        if line_name not in lines:
            parser.error(f"unknown line {line_name}; known: {', '.join(lines)}")
        results = {}
        for name in ("kv", "redis"):
            benchlib.progress(f"{line_name}: filling {name} ...")
            results[name] = run_line(options, name, lines[line_name], budget)
            result = results[name]
            if "failed" in result:
                benchlib.progress(f"{line_name}: {name} FAILED: {result['failed']}")
                notes.append(f"- {line_name}, {name}: FAILED: {result['failed']}")
            else:
                benchlib.progress(f"{line_name}: {name} stored {result['items']} in "
                                  f"{result['seconds']:.1f} s ({result['error']})")
            if result.get("counted") is not None and result["counted"] != result.get("items"):
                notes.append(f"- {line_name}, {name}: {result['counted']} items counted by the "
                             f"server after the fill, {result['items']} replied before the "
                             f"first error")
        k, r = results["kv"], results["redis"]
        ok = "failed" not in k and "failed" not in r
        ratio = k["items"] / r["items"] if ok and r["items"] else float("nan")
        verdict = ("pass" if ratio >= 1.33 else "MISS") if ok else "-"

        def cell(result, field, convert=lambda value: value):
            if "failed" in result and field == "items":
                return "failed"
            if "failed" in result and field == "per_item":
                return "-"
            return convert(result[field]) if field in result else "-"

        payload = r.get("payload", k.get("payload", float("nan")))
        table.add([line_name, cell(k, "items"), cell(r, "items"), ratio, verdict,
                   cell(k, "per_item", lambda v: f"{v:.1f}"),
                   cell(r, "per_item", lambda v: f"{v:.1f}"),
                   f"{payload:.1f}" if payload == payload else "-",
                   cell(k, "used_memory", benchlib.mib), cell(r, "used_memory", benchlib.mib),
                   cell(k, "rss", benchlib.mib), cell(r, "rss", benchlib.mib)])
        benchlib.progress("  " + " | ".join(table.rows[-1]))
    benchlib.report(options, "Memory efficiency: items in the same budget", METHOD, [table],
                    notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
