#!/usr/bin/env python3
"""The stream family answers the same commands with exactly Redis 7.0's bytes.

1. Seeded random commands (KV_SEED replays a run) to kv and a real redis-server: XADD (explicit,
   `ms-*` and bad IDs, NOMKSTREAM, MAXLEN/MINID with = and ~, LIMIT), XLEN, XRANGE, XREVRANGE
   (COUNT, `(` bounds, - and +), XDEL, XTRIM, XSETID, XREAD, and consumer groups: XGROUP
   CREATE (MKSTREAM, ENTRIESREAD, $) / SETID / DESTROY / CREATECONSUMER / DELCONSUMER,
   XREADGROUP (> and history, NOACK, COUNT), XACK, XPENDING, XCLAIM (FORCE, JUSTID, RETRYCOUNT,
   LASTID), XAUTOCLAIM, XINFO STREAM/GROUPS/CONSUMERS, with SET on the same keys (WRONGTYPE),
   wrong arities and mixed-case names. Every reply is compared byte for byte, except the
   milliseconds of idle times (XPENDING's, XINFO CONSUMERS'), which only have to be close:
   the two servers do not answer at the same instant.
2. Long streams: thousands of entries, where nodes split as Redis's listpacks do, trimmed with
   MAXLEN ~ / MINID ~ / LIMIT (whole nodes only) and exactly, with XINFO STREAM's
   radix-tree-keys and -nodes after each step.
3. Blocking: several clients in XREAD BLOCK (with $, explicit IDs, several keys) and
   XREADGROUP BLOCK woken in the order they blocked, by XADD and by a MULTI, the timeout's
   null array, XGROUP DESTROY waking a group reader with NOGROUP; replies compared with Redis.
   WATCH: group commands leave a watched stream untouched, XADD/XDEL/XTRIM touch it.
4. `redis-benchmark -n 100000 XADD bench * f v` runs without error against kv and XLEN is
   100000.
"""
import os
import random
import shutil
import subprocess
import time

import difftools
import kvtest

COMMAND_COUNT = 6000
KV_OPTIONS = ["--connections-max", "32", "--hugepages", "off", "--maxmemory", "64mb",
              "--lua-heap-bytes", "1mb"]
KEYS = [b"s0", b"s1", b"s2", b"str", b"", b"\x00s\xff"]
GROUPS = [b"g0", b"g1", b"", b"G"]
CONSUMERS = [b"c0", b"c1", b"c2", b"", b"C"]
FIELDS = [b"f", b"g", b"", b"1", b"name", b"\x00\xff"]
VALUES = [b"v", b"", b"12", b"-3", b"hello world", b"x" * 70, b"9223372036854775808", b"0"]
IDLE_TOLERANCE_MS = 1500


class Generator:
    def __init__(self, rnd):
        self.rnd = rnd
        self.ms = 1

    def id_text(self):
        """Mostly a fresh increasing ID, sometimes an old, partial or malformed one."""
        rnd = self.rnd
        roll = rnd.random()
        if roll < 0.55:
            self.ms += rnd.randint(0, 3)
            return b"%d-%d" % (self.ms, rnd.randint(0, 5))
        if roll < 0.7:
            self.ms += 1
            return b"%d-*" % self.ms
        if roll < 0.8:
            return b"%d-%d" % (rnd.randint(0, self.ms), rnd.randint(0, 5))
        return rnd.choice([b"0-0", b"0", b"-", b"+", b"abc", b"1-x", b"18446744073709551615-*",
                           b"5", b"-1", b"1-", b"(3", b"$", b">"])

    def known_id(self):
        rnd = self.rnd
        return b"%d-%d" % (rnd.randint(0, self.ms + 1), rnd.randint(0, 5))

    def range_end(self, low):
        rnd = self.rnd
        roll = rnd.random()
        if roll < 0.3:
            return b"-" if low else b"+"
        if roll < 0.5:
            return b"(" + self.known_id()
        if roll < 0.6:
            return b"%d" % rnd.randint(0, self.ms + 1)
        if roll < 0.65:
            return rnd.choice([b"(-", b"(+", b"abc", b"(18446744073709551615-18446744073709551615"])
        return self.known_id()

    def pairs(self):
        rnd = self.rnd
        count = rnd.choice([1, 1, 1, 2, 3])
        fields = [FIELDS[0]] if rnd.random() < 0.5 else FIELDS
        return [part for _ in range(count) for part in (rnd.choice(fields), rnd.choice(VALUES))]

    def trim(self):
        rnd = self.rnd
        kind = rnd.choice([b"MAXLEN", b"MINID", b"maxlen"])
        words = [kind]
        roll = rnd.random()
        if roll < 0.3:
            words.append(b"~")
        elif roll < 0.5:
            words.append(b"=")
        words.append(b"%d" % rnd.randint(0, 30) if kind != b"MINID" else self.known_id())
        if rnd.random() < 0.15:
            words += [b"LIMIT", difftools.number(rnd, 0, 50)]
        return words

    def command(self):
        rnd = self.rnd
        key = rnd.choice(KEYS)
        group = rnd.choice(GROUPS)
        consumer = rnd.choice(CONSUMERS)
        roll = rnd.randrange(40)
        if roll < 12:
            command = [b"XADD", key]
            if rnd.random() < 0.1:
                command.append(b"NOMKSTREAM")
            if rnd.random() < 0.2:
                command += self.trim()
            command += [self.id_text()] + self.pairs()
            if rnd.random() < 0.03:
                command = command[:-1]
        elif roll == 12:
            command = [b"XLEN", key]
        elif roll < 15:
            name = rnd.choice([b"XRANGE", b"XREVRANGE"])
            low, high = self.range_end(True), self.range_end(False)
            command = [name, key] + ([low, high] if name == b"XRANGE" else [high, low])
            if rnd.random() < 0.4:
                command += [b"COUNT", difftools.number(rnd, -1, 6)]
        elif roll == 15:
            command = [b"XDEL", key] + [self.known_id() for _ in range(rnd.randint(1, 3))]
        elif roll == 16:
            command = [b"XTRIM", key] + (self.trim() if rnd.random() < 0.9 else [b"FOO"])
        elif roll == 17:
            command = [b"XSETID", key, self.id_text()]
            if rnd.random() < 0.3:
                command += [b"ENTRIESADDED", difftools.number(rnd, -1, 100)]
            if rnd.random() < 0.3:
                command += [b"MAXDELETEDID", self.known_id()]
        elif roll < 20:
            keys = [rnd.choice(KEYS) for _ in range(rnd.randint(1, 2))]
            command = [b"XREAD"]
            if rnd.random() < 0.4:
                command += [b"COUNT", difftools.number(rnd, -1, 4)]
            command += [b"STREAMS"] + keys + [rnd.choice([b"$", b"0", self.known_id()])
                                              for _ in keys]
            if rnd.random() < 0.05:
                command = command[:-1]
        elif roll < 23:
            command = [b"XGROUP", b"CREATE", key, group,
                       rnd.choice([b"$", b"0", self.known_id(), b"abc"])]
            if rnd.random() < 0.4:
                command.append(b"MKSTREAM")
            if rnd.random() < 0.2:
                command += [b"ENTRIESREAD", difftools.number(rnd, -2, 10)]
        elif roll == 23:
            sub = rnd.choice([b"SETID", b"DESTROY", b"CREATECONSUMER", b"DELCONSUMER", b"HELP",
                              b"FOO"])
            command = [b"XGROUP", sub, key, group]
            if sub == b"SETID":
                command.append(rnd.choice([b"$", b"0", self.known_id()]))
            elif sub in (b"CREATECONSUMER", b"DELCONSUMER"):
                command.append(consumer)
            elif sub == b"HELP":
                command = [b"XGROUP", b"HELP"]
        elif roll < 28:
            keys = [rnd.choice(KEYS[:3]) for _ in range(rnd.randint(1, 2))]
            command = [b"XREADGROUP", b"GROUP", group, consumer]
            if rnd.random() < 0.4:
                command += [b"COUNT", difftools.number(rnd, -1, 4)]
            if rnd.random() < 0.1:
                command.append(b"NOACK")
            command += [b"STREAMS"] + keys + [rnd.choice([b">", b">", b"0", self.known_id()])
                                              for _ in keys]
        elif roll < 30:
            command = [b"XACK", key, group] + [self.known_id() for _ in range(rnd.randint(1, 3))]
        elif roll < 32:
            command = [b"XPENDING", key, group]
            if rnd.random() < 0.6:
                if rnd.random() < 0.2:
                    command += [b"IDLE", rnd.choice([b"0", b"100000000"])]
                command += [self.range_end(True), self.range_end(False),
                            difftools.number(rnd, -1, 5)]
                if rnd.random() < 0.4:
                    command.append(consumer)
        elif roll < 34:
            command = [b"XCLAIM", key, group, consumer, rnd.choice([b"0", b"100000000", b"x"])]
            command += [self.known_id() for _ in range(rnd.randint(1, 3))]
            for option in rnd.sample([b"FORCE", b"JUSTID", b"RETRYCOUNT", b"LASTID"],
                                     rnd.randint(0, 2)):
                command.append(option)
                if option == b"RETRYCOUNT":
                    command.append(difftools.number(rnd, 0, 9))
                elif option == b"LASTID":
                    command.append(self.known_id())
        elif roll < 36:
            command = [b"XAUTOCLAIM", key, group, consumer, rnd.choice([b"0", b"100000000"]),
                       rnd.choice([b"0", b"-", self.known_id(), b"(" + self.known_id()])]
            if rnd.random() < 0.5:
                command += [b"COUNT", difftools.number(rnd, 0, 5)]
            if rnd.random() < 0.3:
                command.append(b"JUSTID")
        elif roll < 38:
            sub = rnd.choice([b"STREAM", b"GROUPS", b"CONSUMERS", b"HELP"])
            command = [b"XINFO", sub, key]
            if sub == b"CONSUMERS":
                command.append(group)
            elif sub == b"HELP":
                command = [b"XINFO", b"HELP"]
        elif roll == 38:
            command = [b"SET", b"str", b"x"] if rnd.random() < 0.5 else [b"DEL", key]
        else:
            command = [b"TYPE", key]
        command[0] = difftools.mixed_case(rnd, command[0])
        return command

    def wire(self, command):
        return difftools.wire(self.rnd, command)


def without_idle(command, value):
    """A decoded reply with the idle times of XPENDING's entries and XINFO CONSUMERS zeroed,
    and those times as a separate list."""
    name = command[0].upper()
    times = []
    if name == b"XPENDING" and len(command) > 3 and isinstance(value, list):
        for entry in value:
            if isinstance(entry, list) and len(entry) == 4:
                times.append(entry[2])
                entry[2] = 0
    if name == b"XINFO" and command[1].upper() == b"CONSUMERS" and isinstance(value, list):
        for entry in value:
            if isinstance(entry, list) and len(entry) == 6:
                times.append(entry[5])
                entry[5] = 0
    return value, times


def replies_equal(command, want, got):
    if want == got:
        return True
    want_value, want_times = without_idle(command, kvtest.decode(want))
    got_value, got_times = without_idle(command, kvtest.decode(got))
    if want_value != got_value or len(want_times) != len(got_times):
        return False
    return all(abs(a - b) <= IDLE_TOLERANCE_MS for a, b in zip(want_times, got_times))


def compare(check, what, kv_client, redis_client, *command):
    want, got = redis_client.call(*command), kv_client.call(*command)
    check.equal(f"{what}: {kvtest.shorten(command, 100)}", want, got)
    return got


def long_streams(check, kv, redis):
    """Node splits and whole-node trims on thousands of entries, as Redis's listpacks."""
    rnd = random.Random(7)
    with kv.connect() as kv_client, redis.connect() as redis_client:
        batch = []
        for number in range(1, 3001):
            fields = [b"f", b"%d" % number]
            if number % 7 == 0:
                fields = [b"other", b"x" * rnd.randint(0, 300)]
            if number % 11 == 0:
                fields += [b"n", b"-%d" % (number * 1000003)]
            batch.append(kvtest.encode(b"XADD", b"big", b"%d-%d" % (number // 3, number % 3),
                                       *fields))
        for client in (kv_client, redis_client):
            client.send(b"".join(batch))
            for _ in batch:
                client.reply()
        compare(check, "long", kv_client, redis_client, "XINFO", "STREAM", "big")
        compare(check, "long", kv_client, redis_client, "XDEL", "big", "5-0", "5-1", "5-2")
        steps = [["XTRIM", "big", "MAXLEN", "~", "2900"],
                 ["XINFO", "STREAM", "big"],
                 ["XTRIM", "big", "MAXLEN", "~", "2500", "LIMIT", "150"],
                 ["XINFO", "STREAM", "big"],
                 ["XTRIM", "big", "MINID", "~", "400"],
                 ["XINFO", "STREAM", "big"],
                 ["XTRIM", "big", "MINID", "=", "420-1"],
                 ["XINFO", "STREAM", "big"],
                 ["XADD", "big", "MAXLEN", "~", "1000", "5000-0", "f", "v"],
                 ["XINFO", "STREAM", "big"],
                 ["XTRIM", "big", "MAXLEN", "777"],
                 ["XINFO", "STREAM", "big"],
                 ["XRANGE", "big", "-", "+", "COUNT", "5"],
                 ["XREVRANGE", "big", "+", "-", "COUNT", "5"],
                 ["XRANGE", "big", "600", "(620-2"],
                 ["XDEL", "big"] + ["%d-%d" % (n // 3, n % 3) for n in range(2000, 2300)],
                 ["XINFO", "STREAM", "big"],
                 ["XINFO", "STREAM", "big", "FULL", "COUNT", "3"],
                 ["XTRIM", "big", "MAXLEN", "0"],
                 ["XINFO", "STREAM", "big"]]
        for step in steps:
            compare(check, "long", kv_client, redis_client, *step)


def blocking(check, kv, redis):
    """Readers blocked in XREAD and XREADGROUP are woken in order, as Redis wakes them."""
    def scenario(server):
        out = []
        clients = [server.connect() for _ in range(5)]
        writer = clients[0]
        out.append(writer.call("XADD", "b", "1-1", "a", "1"))
        clients[1].send(kvtest.encode("XREAD", "BLOCK", "0", "STREAMS", "b", "x", "$", "$"))
        clients[2].send(kvtest.encode("XREAD", "COUNT", "5", "BLOCK", "0", "STREAMS", "x", "b",
                                      "0", "1-1"))
        clients[3].send(kvtest.encode("XREAD", "BLOCK", "0", "STREAMS", "b", "$"))
        clients[4].send(kvtest.encode("XREAD", "BLOCK", "150", "STREAMS", "none", "$"))
        time.sleep(0.2)
        out.append(writer.call("XADD", "b", "2-1", "a", "2"))
        out += [clients[i].reply() for i in (1, 2, 3, 4)]
        # Two readers of one group, and a MULTI that adds twice.
        out.append(writer.call("XGROUP", "CREATE", "b", "grp", "$"))
        clients[1].send(kvtest.encode("XREADGROUP", "GROUP", "grp", "c1", "BLOCK", "0",
                                      "STREAMS", "b", ">"))
        clients[2].send(kvtest.encode("XREADGROUP", "GROUP", "grp", "c2", "COUNT", "1", "BLOCK",
                                      "0", "STREAMS", "b", ">"))
        clients[3].send(kvtest.encode("XREAD", "BLOCK", "0", "STREAMS", "b", "$"))
        time.sleep(0.2)
        out.append(writer.call("MULTI"))
        out.append(writer.call("XADD", "b", "3-1", "a", "3"))
        out.append(writer.call("XADD", "b", "3-2", "a", "4"))
        out.append(writer.call("EXEC"))
        out += [clients[i].reply() for i in (1, 3)]
        out.append(writer.call("XADD", "b", "4-1", "a", "5"))
        out.append(clients[2].reply())
        out.append(writer.call("XPENDING", "b", "grp"))
        # A reader of a group that goes hears NOGROUP.
        clients[1].send(kvtest.encode("XREADGROUP", "GROUP", "grp", "c1", "BLOCK", "0",
                                      "STREAMS", "b", ">"))
        time.sleep(0.2)
        out.append(writer.call("XGROUP", "DESTROY", "b", "grp"))
        out.append(clients[1].reply())
        # Inside MULTI a read that would block answers at once.
        out.append(writer.call("MULTI"))
        out.append(writer.call("XREAD", "BLOCK", "0", "STREAMS", "b", "$"))
        out.append(writer.call("EXEC"))
        for client in clients:
            client.close()
        return out

    want, got = scenario(redis), scenario(kv)
    check.equal("blocking: as many replies", len(want), len(got))
    for index, (expected, reply) in enumerate(zip(want, got)):
        check.equal(f"blocking reply {index}", expected, reply)


def watch(check, kv, redis):
    """Group changes leave a WATCH alone; XADD, XDEL and XTRIM that delete touch it."""
    steps = [["XADD", "w", "1-1", "a", "1"], ["XGROUP", "CREATE", "w", "g", "0"],
             ["WATCH", "w"], ["XREADGROUP", "GROUP", "g", "c", "STREAMS", "w", ">"],
             ["XACK", "w", "g", "1-1"], ["XGROUP", "CREATECONSUMER", "w", "g", "d"],
             ["XCLAIM", "w", "g", "d", "0", "1-1"], ["XTRIM", "w", "MAXLEN", "5"],
             ["XSETID", "w", "9-9"], ["XDEL", "w", "5-5"], ["MULTI"], ["XLEN", "w"], ["EXEC"],
             ["WATCH", "w"], ["XTRIM", "w", "MAXLEN", "0"], ["MULTI"], ["XLEN", "w"], ["EXEC"],
             ["WATCH", "w"], ["XADD", "w", "10-1", "a", "1"], ["MULTI"], ["XLEN", "w"], ["EXEC"]]
    with kv.connect() as kv_client, redis.connect() as redis_client:
        for step in steps:
            compare(check, "watch", kv_client, redis_client, *step)


def benchmark(check, kv):
    """redis-benchmark's XADD test against kv: no error, and every entry is there."""
    if shutil.which("redis-benchmark") is None:
        print("redis-benchmark is not installed: skipped")
        return
    with kv.connect() as client:
        started = time.monotonic()
        result = subprocess.run(["redis-benchmark", "-p", str(kv.port), "-n", "100000", "-c",
                                 "20", "-P", "16", "-q", "XADD", "bench", "*", "f", "v"],
                                capture_output=True, text=True, timeout=120)
        print(f"redis-benchmark XADD: {result.stdout.strip().splitlines()[-1:]} "
              f"in {time.monotonic() - started:.1f} s")
        check.equal("redis-benchmark exit", 0, result.returncode)
        check.true("redis-benchmark saw no error", "ERR" not in result.stdout + result.stderr,
                   result.stdout[-500:] + result.stderr[-500:])
        check.equal("XLEN bench", b":100000\r\n", client.call("XLEN", "bench"))


def main():
    check = kvtest.Checker("test_diff_streams", verbose=False)
    with kvtest.start_kv(*KV_OPTIONS) as kv, kvtest.start_redis() as redis:
        long_streams(check, kv, redis)
        blocking(check, kv, redis)
        watch(check, kv, redis)
        benchmark(check, kv)
    probes = ([[b"XRANGE", key, b"-", b"+"] for key in KEYS] +
              [[b"XINFO", b"STREAM", key] for key in KEYS] +
              [[b"XINFO", b"GROUPS", key] for key in KEYS])
    kvtest.differential("test_diff_streams", Generator, COMMAND_COUNT, KV_OPTIONS, probes,
                        replies_equal, check)


if __name__ == "__main__":
    main()
