"""SSCAN, ZSCAN and HSCAN walk large collections with real cursors, as redis-server does.

A set, a sorted set and a hash of 20,000 members each (dict-encoded on both servers) are
scanned on kv and on a real redis-server 7.0 with COUNT 2, the default (10), 100 and 1000, and
with a MATCH pattern: every scan must take many calls (never the whole collection at once),
no call may answer far more than COUNT, the members met must be exactly the collection's (the
pattern's), and the call counts of the two servers must be within 1.5x of each other (their
dicts hash differently, so the orders differ). ZSCAN's scores and HSCAN's values must be Redis's texts
byte for byte. While a scan runs, members are added and removed between its calls: every
member present for the whole scan must still be met. Small collections (an intset, a
listpack) are answered whole with cursor 0 on both.
"""
import os
import random

import kvtest

redis = kvtest.need_pyredis()

MEMBERS = 20000
BATCH = 1000
COUNTS = [2, None, 100, 1000]
PATTERN = "m1*7"


def fill(client):
    client.flushall()
    for start in range(0, MEMBERS, BATCH):
        names = [f"m{index}" for index in range(start, start + BATCH)]
        pipe = client.pipeline(transaction=False)
        pipe.sadd("s", *names)
        pipe.zadd("z", {name: (index % 977) / 7.0 for index, name in
                        zip(range(start, start + BATCH), names)})
        pipe.hset("h", mapping={name: f"v{index}" for index, name in
                                zip(range(start, start + BATCH), names)})
        pipe.execute()
    client.sadd("small-set", 1, 2, 3)
    client.zadd("small-zset", {"a": 1.5, "b": 2})
    client.hset("small-hash", mapping={"f": "1", "g": "2"})


def scan(client, command, key, count=None, match=None, between=None):
    """Every element a full scan meets (pairs as a dict), the calls, the largest reply."""
    cursor = b"0"
    met = {}
    calls = 0
    largest = 0
    # Bound: a scan of n elements ends within n + a few calls at COUNT 1; 4n is a loose cap.
    for _ in range(4 * MEMBERS + 10):
        args = [command, key, cursor]
        if match is not None:
            args += ["MATCH", match]
        if count is not None:
            args += ["COUNT", count]
        cursor, items = client.execute_command(*args)
        calls += 1
        if command == "SSCAN":
            met.update((item, None) for item in items)
            largest = max(largest, len(items))
        else:
            met.update(zip(items[0::2], items[1::2]))
            largest = max(largest, len(items) // 2)
        if between is not None:
            between(calls)
        if cursor in (b"0", 0):
            return met, calls, largest
    raise AssertionError(f"{command} did not end")


def churn(client, rnd):
    """Adds a new member and removes one of the added ones, between a scan's calls."""
    def step(calls):
        name = f"new{calls}"
        client.sadd("s", name)
        if calls > 1 and rnd.random() < 0.5:
            client.srem("s", f"new{calls - 1}")
    return step


def main():
    check = kvtest.Checker("test_scan_cursors")
    seed = int(os.environ.get("KV_SEED") or random.randrange(1 << 32))
    print(f"seed {seed} (KV_SEED={seed} replays this run)")
    with kvtest.start_kv("--hugepages", "off") as kv, kvtest.start_redis() as real:
        servers = {"kv": redis.Redis(port=kv.port), "redis": redis.Redis(port=real.port)}
        for client in servers.values():
            for command in ("SSCAN", "ZSCAN", "HSCAN"):
                client.response_callbacks.pop(command, None)   # the raw replies, as sent
        for client in servers.values():
            fill(client)
        names = {f"m{index}".encode() for index in range(MEMBERS)}
        matching = {name for name in names
                    if name.startswith(b"m1") and name.endswith(b"7")}
        for command, key in [("SSCAN", "s"), ("ZSCAN", "z"), ("HSCAN", "h")]:
            full = {}
            for count in COUNTS:
                calls = {}
                for label, client in servers.items():
                    met, calls[label], largest = scan(client, command, key, count)
                    full[label] = met
                    want = count or 10
                    check.equal(f"{label} {command} COUNT {count}: every member, once or more",
                                names, set(met))
                    check.true(f"{label} {command} COUNT {count}: many calls",
                               calls[label] >= MEMBERS // (4 * want), f"{calls[label]} calls")
                    check.true(f"{label} {command} COUNT {count}: no reply far past COUNT",
                               largest <= 4 * want + 16, f"largest {largest}")
                check.true(f"{command} COUNT {count}: kv's calls of Redis's size",
                           calls["redis"] / 1.5 <= calls["kv"] <= calls["redis"] * 1.5,
                           f"kv {calls['kv']}, redis {calls['redis']}")
            if command != "SSCAN":
                check.equal(f"{command}: scores/values are Redis's texts", full["redis"],
                            full["kv"])
            for label, client in servers.items():
                met, _, _ = scan(client, command, key, 50, PATTERN)
                check.equal(f"{label} {command} MATCH {PATTERN}", matching, set(met))
        for label, client in servers.items():
            met, calls, _ = scan(client, "SSCAN", "s", 20, between=churn(client,
                                                                          random.Random(seed)))
            check.true(f"{label} SSCAN under churn: every member present throughout met",
                       names <= set(met), f"{len(names - set(met))} missing")
        for command, key in [("SSCAN", "small-set"), ("ZSCAN", "small-zset"),
                             ("HSCAN", "small-hash")]:
            replies = {label: client.execute_command(command, key, 0)
                       for label, client in servers.items()}
            check.equal(f"{command} of a small collection: whole, cursor 0", replies["redis"],
                        replies["kv"])
    check.finish()


if __name__ == "__main__":
    main()
