"""The HyperLogLog family answers seeded random commands with exactly Redis's bytes.

At least 20,000 commands go to kv and to a real redis-server 7.0 and every reply must be
identical: PFADD with 0 to 4,000 elements (so keys stay sparse, grow past
hll-sparse-max-bytes or past the sparse VAL maximum, and turn dense), PFCOUNT of one key (the
cached cardinality, written back) and of several (the union), PFMERGE into missing, sparse and
dense destinations from sparse and dense sources, PFDEBUG ENCODING, DECODE, TODENSE, GETREG and
unknown subcommands, GET of every key (the HLL bytes themselves compared), wrong types (a list,
a plain string, "HYLL" and junk), corruption by SETRANGE and APPEND of an HLL's bytes (Redis's
INVALIDOBJ and what PFADD leaves of a corrupt value), EXPIRE kept through PFADD, CONFIG SET
hll-sparse-max-bytes, wrong arities and mixed-case names.

Then big cardinalities: one key grown to about 1,000,000 elements by PFADDs of 20,000, PFCOUNT
compared along the way and GET at the end; and values copied between the servers: the bytes
redis-server wrote are SET into kv (and kv's into redis-server), then counted, added to and
merged on both.
"""
import os
import random

import difftools
import kvtest

COMMAND_COUNT = 20500
KV_OPTIONS = ["--connections-max", "16", "--key-count", "64", "--key-size-max", "64",
              "--val-size-max", "65536", "--list-length-max", "20000", "--hugepages", "off"]
KEYS = [b"h0", b"h1", b"h2", b"h3", b"h4", b"", b"s", b"l"]
HLL_KEYS = KEYS[:6]
SPARSE_MAX = [b"0", b"40", b"3000", b"3000", b"3000", b"8000", b"20000"]


class Generator:
    def __init__(self, rnd):
        self.rnd = rnd
        self.pending = []

    def wire(self, command):
        return difftools.wire(self.rnd, command)

    def elements(self, count):
        rnd = self.rnd
        pool = rnd.choice([8, 100, 3000, 100000, 1 << 40])
        out = []
        for _ in range(count):
            if rnd.random() < 0.02:
                out.append(bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 40))))
            else:
                out.append(b"e%d" % rnd.randrange(pool))
        return out

    def keys(self, low, high):
        return [self.rnd.choice(KEYS) for _ in range(self.rnd.randint(low, high))]

    def corrupted(self):
        """A corrupt HLL at "c", what reads it, PFADD to it, then its deletion. A split of a
        cut-off last XZERO leaves a byte past the string's end in Redis that its later
        commands read (kv keeps no such byte), so a corrupt value lives for one sequence."""
        rnd = self.rnd
        key = b"c"
        elements = self.elements(rnd.randint(1, 6))
        return [[b"DEL", key], [b"PFMERGE", key, rnd.choice(HLL_KEYS)], self.corrupt(key),
                [b"PFCOUNT", key], [b"PFDEBUG", b"DECODE", key], [b"PFCOUNT", key, b"h0"],
                [b"PFMERGE", b"m", key, b"h1"], [b"GET", b"m"], [b"PFADD", key] + elements,
                [b"GET", key], [b"DEL", key]]

    def corrupt(self, key):
        rnd = self.rnd
        roll = rnd.random()
        if roll < 0.45:
            # One byte of the registers (or the header) replaced: both servers hold the same
            # bytes, so both get the same corrupt value.
            offset = rnd.choice([4, 8, 15, 16, 17, 18, 19, 20, 21, 22, 30, 100, 3000, 12303])
            return [b"SETRANGE", key, b"%d" % offset, bytes([rnd.getrandbits(8)])]
        if roll < 0.6:
            return [b"APPEND", key, rnd.choice([b"\x00", b"\x40", b"\x7f", b"\x80\x80", b"x",
                                                b"\x40\x01", b"\x3f"])]
        if roll < 0.8:
            junk = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 24)))
            header = rnd.choice([b"HYLL\x01\x00\x00\x00", b"HYLL\x00\x00\x00\x00", b"HYLL\x02",
                                 b"HYLL", b"hyll\x01\x00\x00\x00"])
            return [b"SET", key, header + bytes(8) + junk]
        return [b"SET", key, difftools.value(rnd)]

    def pfdebug(self):
        rnd = self.rnd
        sub = rnd.choice([b"ENCODING", b"encoding", b"DECODE", b"decode", b"TODENSE",
                          b"todense", b"nosuch", b"DECODE"])
        if rnd.random() < 0.04:
            sub = b"GETREG"  # 16384 integers: rare
        command = [difftools.mixed_case(rnd, b"PFDEBUG"), sub, rnd.choice(KEYS + [b"missing"])]
        if rnd.random() < 0.03:
            command = command[:rnd.randint(1, 2)] + ([b"x"] if rnd.random() < 0.5 else [])
        return command

    def command(self):
        if self.pending:
            return self.pending.pop(0)
        rnd = self.rnd
        roll = rnd.random()
        key = rnd.choice(HLL_KEYS) if rnd.random() < 0.85 else rnd.choice(KEYS)
        if roll < 0.30:
            return [difftools.mixed_case(rnd, b"PFADD"), key] + self.elements(rnd.randint(0, 12))
        if roll < 0.325:
            return [b"PFADD", key] + self.elements(rnd.randint(50, 400))
        if roll < 0.327:
            return [b"PFADD", key] + self.elements(rnd.randint(1000, 4000))
        if roll < 0.47:
            return [difftools.mixed_case(rnd, b"PFCOUNT"), key]
        if roll < 0.53:
            return [b"PFCOUNT"] + self.keys(2, 4)
        if roll < 0.60:
            return [difftools.mixed_case(rnd, b"PFMERGE"), rnd.choice(KEYS + [b"m"])] + \
                self.keys(0, 3)
        if roll < 0.73:
            return [b"GET", key]
        if roll < 0.79:
            return self.pfdebug()
        if roll < 0.805:
            self.pending = self.corrupted()
            return self.pending.pop(0)
        if roll < 0.86:
            return [b"DEL", key]
        if roll < 0.87:
            return [b"LPUSH", b"l", b"x"]
        if roll < 0.875:
            return [b"SET", b"s", b"plain"]
        if roll < 0.885:
            return [b"EXPIRE", key, b"1000"]
        if roll < 0.895:
            return [b"TTL", key]
        if roll < 0.90:
            return [b"CONFIG", b"SET", b"hll-sparse-max-bytes", rnd.choice(SPARSE_MAX)]
        if roll < 0.92:
            name = rnd.choice([b"PFADD", b"PFCOUNT", b"PFMERGE", b"PFDEBUG", b"PFSELFTEST"])
            extra = {b"PFADD": [], b"PFCOUNT": [], b"PFMERGE": [], b"PFDEBUG": [b"ENCODING"],
                     b"PFSELFTEST": [b"x"]}[name]
            return [name] + extra
        if roll < 0.93:
            return [b"STRLEN", key]
        if roll < 0.94:
            return [b"TYPE", key]
        return [b"PFADD", key] + self.elements(rnd.randint(1, 3))


def big(check, kv_client, redis_client, rnd):
    """One key grown to about a million elements, 20,000 at a time."""
    kv_client.call("DEL", "big")
    redis_client.call("DEL", "big")
    base = rnd.randrange(1 << 30)
    for step in range(50):
        command = [b"PFADD", b"big"] + [b"b%d" % (base + step * 20000 + index)
                                        for index in range(20000)]
        wire = kvtest.encode(*command)
        kv_client.send(wire)
        redis_client.send(wire)
        want, got = redis_client.reply(), kv_client.reply()
        if not check.equal(f"big: PFADD step {step}", want, got):
            return
        if step % 10 == 9:
            check.equal(f"big: PFCOUNT after {(step + 1) * 20000} elements",
                        redis_client.call("PFCOUNT", "big"), kv_client.call("PFCOUNT", "big"))
    check.equal("big: the dense value", redis_client.call("GET", "big"), kv_client.call("GET", "big"))
    check.equal("big: the union with h0..h4", redis_client.call("PFCOUNT", "big", *HLL_KEYS[:5]),
                kv_client.call("PFCOUNT", "big", *HLL_KEYS[:5]))


def copied(check, kv_client, redis_client, rnd):
    """Values written by one server SET into the other, then used on both."""
    redis_client.call("CONFIG", "SET", "hll-sparse-max-bytes", "3000")
    kv_client.call("CONFIG", "SET", "hll-sparse-max-bytes", "3000")
    for size in (0, 1, 5, 60, 700, 2500, 30000):
        redis_client.call("DEL", "src")
        redis_client.call("PFADD", "src", *[b"c%d" % rnd.randrange(1 << 40) for _ in range(size)])
        from_redis = kvtest.decode(redis_client.call("GET", "src"))
        kv_client.call("DEL", "src")
        kv_client.call("PFADD", "src", b"seed")
        from_kv = kvtest.decode(kv_client.call("GET", "src"))
        for name, value in (("redis", from_redis), ("kv", from_kv)):
            what = f"{size} elements, bytes from {name}"
            for client in (kv_client, redis_client):
                client.call("SET", "copy", value)
                client.call("SET", "copy2", value)
            for command in (["PFCOUNT", "copy"], ["GET", "copy"], ["PFADD", "copy", "new", "x"],
                            ["GET", "copy"], ["PFCOUNT", "copy", "copy2", "h0"],
                            ["PFMERGE", "copy2", "h1", "copy"], ["GET", "copy2"],
                            ["PFDEBUG", "ENCODING", "copy2"], ["PFDEBUG", "DECODE", "copy"]):
                check.equal(f"{what}: {' '.join(command)}", redis_client.call(*command),
                            kv_client.call(*command))


def main():
    check = kvtest.Checker("test_diff_hll", verbose=False)
    seed = int(os.environ.get("KV_SEED") or random.randrange(1 << 32))
    print(f"seed {seed} (KV_SEED={seed} replays this run)")
    generator = Generator(random.Random(seed))
    with kvtest.start_kv(*KV_OPTIONS) as kv, kvtest.start_redis() as redis:
        with kv.connect() as kv_client, redis.connect() as redis_client:
            compared = kvtest.compare_stream(kv_client, redis_client, generator, check,
                                             COMMAND_COUNT, difftools.replies_equal)
            check.true(f"{compared} replies equal (at least {COMMAND_COUNT})",
                       compared >= COMMAND_COUNT, f"seed {seed}")
            for key in KEYS:
                for probe in ([b"GET", key], [b"PFCOUNT", key], [b"TYPE", key]):
                    check.equal(f"final state: {probe!r}", redis_client.call(*probe),
                                kv_client.call(*probe))
            big(check, kv_client, redis_client, generator.rnd)
            copied(check, kv_client, redis_client, generator.rnd)
    if check.failures:
        print(f"seed {seed}: rerun with KV_SEED={seed}")
    check.finish()


if __name__ == "__main__":
    main()
