"""kv and a real redis-server answer the same random command sequences byte for byte.

Seeded random sequences (the seed is printed; KV_SEED overrides it) of every command kv
implements, with keys from a small pool so types collide, values that are empty, binary
(NUL, CR LF, invalid UTF-8) or long, indexes and counts that are negative, zero, out of range
or not numbers, wrong arities and unknown commands. Each command goes to both servers and the
raw reply bytes must be equal. Part of the stream is pipelined in batches.
"""
import os
import random
import time

import harness

COMMANDS = 30000
KEYS = [b"k%d" % i for i in range(8)]
VALUES = [b"", b"v", b"hello", b"\x00\r\n\xff\xfe", b"x" * 300, b"12", b"-3", b"\xc3\x28"]
INDEXES = [b"0", b"1", b"-1", b"2", b"-2", b"5", b"100", b"-100", b"x", b"", b"3.5",
           b"99999999999999999999", b"+1", b"01", b"-0", b"9223372036854775807",
           b"-9223372036854775808"]


def generate(rnd):
    name = rnd.choice(["GET", "SET", "DEL", "EXISTS", "LPUSH", "RPUSH", "LRANGE", "LLEN", "LPOP",
                       "RPOP", "PING", "ECHO", "NOSUCH"])
    key = rnd.choice(KEYS)
    if name == "GET" or name == "LLEN":
        args = [key]
    elif name == "SET":
        args = [key, rnd.choice(VALUES)]
    elif name in ("DEL", "EXISTS"):
        args = [rnd.choice(KEYS) for _ in range(rnd.randint(1, 4))]
    elif name in ("LPUSH", "RPUSH"):
        args = [key] + [rnd.choice(VALUES) for _ in range(rnd.randint(1, 5))]
    elif name == "LRANGE":
        args = [key, rnd.choice(INDEXES), rnd.choice(INDEXES)]
    elif name in ("LPOP", "RPOP"):
        args = [key] + ([rnd.choice(INDEXES)] if rnd.random() < 0.5 else [])
    elif name == "PING":
        args = [] if rnd.random() < 0.5 else [rnd.choice(VALUES)]
    else:
        args = [rnd.choice(VALUES)]
    if rnd.random() < 0.04:
        args = args[:-1] if args else [b"a", b"b", b"c"]  # wrong arity
    if rnd.random() < 0.3:
        name = name.lower()
    elif rnd.random() < 0.1:
        name = name.capitalize()
    return [name.encode()] + args


def main():
    seed = int(os.environ.get("KV_SEED", time.time_ns() % 1000000))
    print(f"seed {seed} (set KV_SEED to replay)")
    rnd = random.Random(seed)
    checks = harness.Checks("test_differential")
    kv = harness.start_kv("--connections-max", "16", "--key-count", "64",
                          "--list-length-max", "100000", "--val-size-max", "512",
                          "--key-size-max", "64", "--hugepages", "off")
    redis = harness.start_redis()
    try:
        a, b = kv.connect(), redis.connect()
        sent = 0
        while sent < COMMANDS and checks.failed == 0:
            batch = [generate(rnd) for _ in range(1 if rnd.random() < 0.5 else rnd.randint(2, 50))]
            wire = b"".join(harness.encode(*command) for command in batch)
            a.send(wire)
            b.send(wire)
            for command in batch:
                if not checks.equal(a.reply(), b.reply(), f"reply to {command!r}"):
                    break
            sent += len(batch)
        checks.true(sent >= COMMANDS, f"{sent} commands compared")
        for key in KEYS:
            for probe in (("EXISTS", key), ("LLEN", key), ("GET", key), ("LRANGE", key, 0, -1)):
                checks.equal(a.call(*probe), b.call(*probe), f"final state: {probe!r}")
    finally:
        kv.stop()
        redis.stop()
    checks.exit()


if __name__ == "__main__":
    main()
