"""DUMP/RESTORE differential with a real redis-server 7.0 (seeded, the seed printed).

Random values of every type (strings of every shape, lists, integer and other sets, hashes,
sorted sets with infinite scores) are written to both servers; DUMP's bytes are compared where
Redis's encoding is deterministic (all but hashtable sets and hashes past their listpack
form); each server's payload is RESTOREd into the other (with and without a TTL) and read back
the same; RESTORE over a present key (BUSYKEY), with REPLACE ABSTTL, and of a corrupted body
with its old footer answer the same bytes; RESTORE's and DUMP's errors (TTL, IDLETIME, FREQ,
syntax, arity, wrong checksum, bad data) are compared byte for byte.
"""
import os
import random
import time

import kvtest
from test_rdb import KV_OPTIONS, pipeline, value_of

DIFF_ROUNDS = 400


class Values:
    """Random values of every type, written the same way to both servers."""

    def __init__(self, rnd):
        self.rnd = rnd

    def element(self):
        rnd = self.rnd
        roll = rnd.randrange(6)
        if roll == 0:
            return b"%d" % rnd.randrange(-2**63, 2**63)
        if roll == 1:
            return b"%d" % rnd.randrange(-200, 200)
        if roll == 2:
            return b"abc" * rnd.randint(0, 40)
        if roll == 3:
            return bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 90)))
        return b"e%d" % rnd.randrange(1000)

    def commands(self, key):
        rnd = self.rnd
        count = rnd.choice([1, 3, 10, 100, 200, 600])
        kind = rnd.randrange(5)
        if kind == 0:
            return [[b"SET", key, self.element()]], True
        if kind == 1:
            return [[b"RPUSH", key] + [self.element() for _ in range(count)]], True
        if kind == 2:
            ints = rnd.random() < 0.5
            members = [b"%d" % rnd.randrange(-10**12, 10**12) if ints else self.element()
                       for _ in range(count)]
            return [[b"SADD", key] + members], ints and count <= 512
        if kind == 3:
            pairs = sum([[b"f%d" % rnd.randrange(10**6), self.element()] for _ in range(count)],
                        [])
            return [[b"HSET", key] + pairs], count <= 100
        pairs = sum([[b"%r" % rnd.choice([rnd.uniform(-1e6, 1e6), rnd.randrange(-99, 99),
                                           float("inf")]), self.element()]
                     for _ in range(count)], [])
        return [[b"ZADD", key] + pairs], True


RESTORE_ERRORS = [
    [b"RESTORE", b"present", b"0", b"x"],
    [b"RESTORE", b"fresh", b"-1", b"x"],
    [b"RESTORE", b"fresh", b"abc", b"x"],
    [b"RESTORE", b"fresh", b"0", b"x"],
    [b"RESTORE", b"fresh", b"0", b"\x00\x01a\x0a\x00" + b"\x00" * 8],
    [b"RESTORE", b"fresh", b"0", b"x", b"IDLETIME", b"-1"],
    [b"RESTORE", b"fresh", b"0", b"x", b"IDLETIME", b"z"],
    [b"RESTORE", b"fresh", b"0", b"x", b"FREQ", b"256"],
    [b"RESTORE", b"fresh", b"0", b"x", b"FREQ", b"1", b"IDLETIME", b"1"],
    [b"RESTORE", b"fresh", b"0", b"x", b"BOGUS"],
    [b"RESTORE", b"fresh", b"0"],
    [b"DUMP"],
    [b"DUMP", b"a", b"b"],
    [b"DUMP", b"absent"],
]


def check_dump_restore(check, rnd):
    values = Values(rnd)
    redis = kvtest.start_redis()
    kv = kvtest.start_kv(*KV_OPTIONS)
    with redis, kv, redis.connect() as r, kv.connect() as k:
        pipeline(r, [[b"SET", b"present", b"1"]])
        pipeline(k, [[b"SET", b"present", b"1"]])
        for command in RESTORE_ERRORS:
            check.equal(f"{command[:6]!r}", r.call(*command), k.call(*command))
        same_bytes = 0
        compared = 0
        for round_index in range(DIFF_ROUNDS):
            key = b"d%d" % round_index
            commands, deterministic = values.commands(key)
            pipeline(r, commands)
            pipeline(k, commands)
            want = r.value("DUMP", key)
            got = k.value("DUMP", key)
            # A hashtable's order is Redis's own: only listpack hashes compare byte for byte.
            if commands[0][0] == b"HSET":
                deterministic = r.value("OBJECT", "ENCODING", key) == b"listpack"
            if deterministic:
                compared += 1
                if check.equal(f"DUMP {key!r} ({commands[0][0]!r}) bytes", want, got):
                    same_bytes += 1
            ttl = rnd.choice([b"0", b"100000"])
            check.equal(f"kv RESTORE of Redis's payload {key!r}", "OK",
                        k.value("RESTORE", key + b":r", ttl, want))
            check.equal(f"Redis RESTORE of kv's payload {key!r}", "OK",
                        r.value("RESTORE", key + b":r", ttl, got))
            check.equal(f"{key!r} restored the same", value_of(r, key + b":r"),
                        value_of(k, key + b":r"))
            check.equal(f"RESTORE over {key!r} without REPLACE",
                        r.call("RESTORE", key, "0", want), k.call("RESTORE", key, "0", got))
            check.equal(f"RESTORE {key!r} REPLACE ABSTTL",
                        r.call("RESTORE", key, "99999999999999", want, "REPLACE", "ABSTTL"),
                        k.call("RESTORE", key, "99999999999999", got, "REPLACE", "ABSTTL"))
            check.equal(f"PTTL after ABSTTL {key!r}", r.value("TTL", key) > 0,
                        k.value("TTL", key) > 0)
            # A corrupted body with a valid footer: both refuse it or both take it.
            if round_index % 7 == 0 and len(want) > 12:
                body = bytearray(want[:-10])
                body[rnd.randrange(1, len(body))] ^= 0xff
                sealed_r = r.call("RESTORE", key + b":c", "0", bytes(body) + want[-10:])
                check.true(f"Redis refuses a body with a wrong checksum {key!r}",
                           sealed_r.startswith(b"-ERR DUMP payload"))
                check.equal(f"kv too {key!r}", sealed_r,
                            k.call("RESTORE", key + b":c", "0", bytes(body) + want[-10:]))
        print(f"DUMP bytes identical for {same_bytes} of {compared} deterministic values")


def main():
    check = kvtest.Checker("test_diff_dump", verbose=False)
    kvtest.need_kv_binary()
    kvtest.need_program("redis-server")
    seed = int(os.environ.get("KV_SEED", random.randrange(1, 2**31)))
    print(f"test_diff_dump: seed {seed} (KV_SEED replays it)")
    started = time.monotonic()
    check_dump_restore(check, random.Random(seed))
    print(f"dump/restore: {time.monotonic() - started:.2f} s")
    check.finish()


if __name__ == "__main__":
    main()
