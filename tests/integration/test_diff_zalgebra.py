"""Sorted-set algebra, lex ranges, ZRANGESTORE, ZRANDMEMBER, the multi-key pops and SINTERCARD
answer seeded random commands with exactly Redis 7.0's bytes.

At least 20,000 commands of ZUNION, ZINTER, ZDIFF, ZUNIONSTORE, ZINTERSTORE, ZDIFFSTORE
(WEIGHTS with infinities, zero and bad floats, AGGREGATE SUM|MIN|MAX, WITHSCORES, plain sets as
inputs), ZINTERCARD and SINTERCARD (LIMIT), ZRANGESTORE (rank, BYSCORE, BYLEX, REV, LIMIT),
ZLEXCOUNT, ZRANGEBYLEX, ZREVRANGEBYLEX, ZREMRANGEBYLEX, ZRANDMEMBER, LMPOP and ZMPOP (and their
blocking forms on keys that have members, or in MULTI), with numkeys edge cases, wrong types,
wrong arities and mixed-case names, go to kv and to a real redis-server, in RESP2 and then in
RESP3; every reply must be identical. Inputs are filled small (listpack in Redis) and large
(past 128 members, or a member longer than 64 bytes: skiplist in Redis, the tree in kv; sets past
512 integers or 128 members), so both encodings of sources and results are crossed; stored
results are read back with ZRANGE ... WITHSCORES and OBJECT ENCODING. ZRANDMEMBER's random
answers compare by shape (a count past the size is the whole set, compared exactly). Lex
commands run on sets whose scores are all 0, where Redis defines lexicographic order.
"""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import difftools  # noqa: E402
import kvtest  # noqa: E402
import test_diff_resp3  # noqa: E402

COMMAND_COUNT = 20000
KV_OPTIONS = ["--connections-max", "16", "--key-count", "64", "--key-size-max", "128",
              "--val-size-max", "128", "--list-length-max", "2000", "--hugepages", "off"]
ZKEYS = [b"z0", b"z1", b"z2", b"z3"]
SKEYS = [b"s0", b"s1"]
LEXKEYS = [b"lx0", b"lx1"]
LKEYS = [b"l0", b"l1"]
OTHER = [b"str", b"nokey"]
DESTS = [b"d0", b"d1", b"z0", b"str", b"s0"]
MEMBERS = [b"a", b"b", b"c", b"d", b"e", b"f", b"", b"1", b"2", b"10", b"-3", b"x y", b"\x00"]
SCORES = [b"0", b"1", b"2", b"-1", b"1.5", b"0.1", b"0.2", b"3", b"-0", b"inf", b"-inf",
          b"1e308", b"-1e308", b"2.5e-3", b"7"]
WEIGHTS = [b"1", b"2", b"0", b"-1", b"0.5", b"inf", b"-inf", b"1e308", b"3"]
BAD_WEIGHTS = [b"x", b"", b"nan", b"1e400", b" 1", b"1 "]
LEX = [b"-", b"+", b"[a", b"(a", b"[b", b"(c", b"[m", b"(m", b"[", b"(", b"a", b"[z", b"(\x00"]
RANGE_SCORES = [b"-inf", b"+inf", b"0", b"1", b"(1", b"2", b"(2", b"x", b"3"]
INDEXES = [b"0", b"1", b"-1", b"-2", b"5", b"100", b"x"]


def long_member(rnd):
    return b"L" * rnd.randint(65, 100) + bytes([rnd.randrange(97, 123)])


class Generator:
    def __init__(self, rnd):
        self.rnd = rnd
        self.pending = []

    def member(self):
        rnd = self.rnd
        if rnd.random() < 0.02:
            return long_member(rnd)
        if rnd.random() < 0.2:
            return b"m%d" % rnd.randrange(300)
        return rnd.choice(MEMBERS)

    def source(self):
        rnd = self.rnd
        roll = rnd.random()
        if roll < 0.6:
            return rnd.choice(ZKEYS)
        if roll < 0.85:
            return rnd.choice(SKEYS)
        return rnd.choice(OTHER + LKEYS[:1])

    def fill(self):
        """A large ZADD or SADD: past 128 members (and past 512 integers for a set)."""
        rnd = self.rnd
        if rnd.random() < 0.6:
            key = rnd.choice(ZKEYS)
            pairs = []
            for _ in range(rnd.randint(100, 200)):
                pairs += [rnd.choice(SCORES[:9]) if rnd.random() < 0.9 else rnd.choice(SCORES),
                          b"m%d" % rnd.randrange(400)]
            return [b"ZADD", key] + pairs
        key = rnd.choice(SKEYS)
        if rnd.random() < 0.5:
            return [b"SADD", key] + [b"%d" % rnd.randrange(-50, 700) for _ in range(600)]
        return [b"SADD", key] + [b"m%d" % rnd.randrange(400) for _ in range(rnd.randint(100, 200))]

    def lex_fill(self):
        rnd = self.rnd
        key = rnd.choice(LEXKEYS)
        count = rnd.randint(100, 180) if rnd.random() < 0.2 else rnd.randint(1, 6)
        pairs = []
        for _ in range(count):
            member = bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz")
                           for _ in range(rnd.randint(0, 3)))
            pairs += [b"0", member if rnd.random() > 0.01 else long_member(rnd)]
        return [b"ZADD", key] + pairs

    def keys_part(self, numkeys_edge=True):
        """numkeys and the keys, sometimes with numkeys wrong."""
        rnd = self.rnd
        count = rnd.randint(1, 4)
        keys = [self.source() for _ in range(count)]
        numkeys = b"%d" % count
        if numkeys_edge and rnd.random() < 0.04:
            numkeys = rnd.choice([b"0", b"-1", b"x", b"%d" % (count + 1), b"%d" % (count + 3),
                                  b"99999999999999999999"])
        return numkeys, keys, count

    def algebra(self):
        rnd = self.rnd
        name = rnd.choice([b"ZUNION", b"ZINTER", b"ZDIFF", b"ZUNIONSTORE", b"ZINTERSTORE",
                           b"ZDIFFSTORE", b"ZINTERCARD"])
        numkeys, keys, count = self.keys_part()
        command = [name]
        if name.endswith(b"STORE"):
            command.append(rnd.choice(DESTS))
        command += [numkeys] + keys
        options = []
        if rnd.random() < 0.4:
            weights = [rnd.choice(WEIGHTS) for _ in range(count)]
            if rnd.random() < 0.05:
                weights[rnd.randrange(count)] = rnd.choice(BAD_WEIGHTS)
            if rnd.random() < 0.03:
                weights = weights[:-1]
            options.append([b"WEIGHTS"] + weights)
        if rnd.random() < 0.4:
            options.append([b"AGGREGATE", rnd.choice([b"SUM", b"MIN", b"MAX", b"sum", b"max",
                                                      b"avg"])])
        if rnd.random() < 0.5:
            options.append([b"WITHSCORES"])
        if rnd.random() < 0.3:
            options.append([b"LIMIT", rnd.choice([b"0", b"1", b"2", b"-1", b"x", b"100"])])
        if rnd.random() < 0.03:
            options.append([rnd.choice([b"BOGUS", b"AGGREGATE", b"LIMIT"])])
        rnd.shuffle(options)
        for option in options:
            command += option
        return command

    def sintercard(self):
        rnd = self.rnd
        count = rnd.randint(1, 3)
        keys = [rnd.choice(SKEYS + SKEYS + [b"nokey", b"str", b"z0"]) for _ in range(count)]
        numkeys = b"%d" % count
        if rnd.random() < 0.05:
            numkeys = rnd.choice([b"0", b"-1", b"x", b"%d" % (count + 1)])
        command = [b"SINTERCARD", numkeys] + keys
        if rnd.random() < 0.4:
            command += [b"LIMIT", rnd.choice([b"0", b"1", b"3", b"-1", b"x"])]
        if rnd.random() < 0.04:
            command += [rnd.choice([b"LIMIT", b"BOGUS", b"LIMIT 1"])]
        return command

    def lex(self):
        rnd = self.rnd
        key = rnd.choice(LEXKEYS + LEXKEYS + [b"l0", b"nokey"])
        low, high = rnd.choice(LEX), rnd.choice(LEX)
        name = rnd.choice([b"ZLEXCOUNT", b"ZRANGEBYLEX", b"ZREVRANGEBYLEX", b"ZREMRANGEBYLEX",
                           b"ZRANGEBYLEX"])
        command = [name, key, low, high]
        if name in (b"ZRANGEBYLEX", b"ZREVRANGEBYLEX"):
            if rnd.random() < 0.3:
                command += [b"LIMIT", rnd.choice([b"0", b"1", b"-1", b"x"]),
                            rnd.choice([b"1", b"2", b"-1", b"0"])]
            if rnd.random() < 0.05:
                command.append(rnd.choice([b"WITHSCORES", b"BOGUS", b"LIMIT"]))
        if name == b"ZREMRANGEBYLEX" and rnd.random() < 0.7:
            command = [b"ZLEXCOUNT", key, low, high]  # keep removals rarer than fills
        return command

    def rangestore(self):
        rnd = self.rnd
        kind = rnd.choice([b"", b"BYSCORE", b"BYLEX"])
        source = rnd.choice(LEXKEYS) if kind == b"BYLEX" else rnd.choice(ZKEYS + [b"str",
                                                                                 b"nokey"])
        values = {b"": INDEXES, b"BYSCORE": RANGE_SCORES, b"BYLEX": LEX}[kind]
        command = [b"ZRANGESTORE", rnd.choice(DESTS), source, rnd.choice(values),
                   rnd.choice(values)]
        if kind:
            command.append(kind)
        if rnd.random() < 0.3:
            command.append(b"REV")
        if rnd.random() < 0.3:
            command += [b"LIMIT", rnd.choice([b"0", b"1", b"-1"]), rnd.choice([b"1", b"3",
                                                                                b"-1"])]
        if rnd.random() < 0.05:
            command.append(rnd.choice([b"WITHSCORES", b"BOGUS"]))
        return command

    def mpop(self):
        rnd = self.rnd
        kind = rnd.choice([b"LMPOP", b"ZMPOP", b"BLMPOP", b"BZMPOP"])
        is_list = kind in (b"LMPOP", b"BLMPOP")
        pool = LKEYS if is_list else ZKEYS
        count = rnd.randint(1, 3)
        keys = [rnd.choice(pool + [b"nokey", b"str"] if rnd.random() < 0.2 else pool)
                for _ in range(count)]
        numkeys = b"%d" % count
        if rnd.random() < 0.04:
            numkeys = rnd.choice([b"0", b"-1", b"x", b"%d" % (count + 1), b"%d" % (count + 5)])
        where = rnd.choice([b"LEFT", b"RIGHT", b"left"] if is_list else [b"MIN", b"MAX", b"max"])
        if rnd.random() < 0.03:
            where = rnd.choice([b"UP", b"MIN" if is_list else b"LEFT"])
        command = [kind]
        if kind.startswith(b"B"):
            # Only keys that have members, or in MULTI: a test stream must not block.
            command.append(rnd.choice([b"0.01", b"0.01", b"x", b"-1"]))
        command += [numkeys] + keys + [where]
        if rnd.random() < 0.5:
            command += [b"COUNT", rnd.choice([b"1", b"2", b"5", b"200", b"0", b"-1", b"x"])]
        if rnd.random() < 0.03:
            command += [rnd.choice([b"COUNT", b"BOGUS", b"COUNT 1"])]
        return command

    def command(self):
        if self.pending:
            return self.pending.pop(0)
        rnd = self.rnd
        roll = rnd.randrange(100)
        if roll < 10:
            command = [b"ZADD", rnd.choice(ZKEYS)]
            for _ in range(rnd.randint(1, 4)):
                command += [rnd.choice(SCORES), self.member()]
        elif roll < 14:
            command = [b"SADD", rnd.choice(SKEYS)] + [self.member()
                                                      for _ in range(rnd.randint(1, 4))]
        elif roll < 16:
            command = self.fill() if rnd.random() < 0.5 else [b"ZCARD", rnd.choice(ZKEYS)]
        elif roll < 20:
            command = self.lex_fill()
        elif roll < 23:
            command = [b"RPUSH", rnd.choice(LKEYS)] + [self.member()
                                                       for _ in range(rnd.randint(1, 6))]
        elif roll < 45:
            command = self.algebra()
        elif roll < 50:
            command = self.sintercard()
        elif roll < 60:
            command = self.lex()
        elif roll < 65:
            command = self.rangestore()
        elif roll < 70:
            key = rnd.choice(ZKEYS + LEXKEYS + [b"str", b"nokey"])
            command = [b"ZRANDMEMBER", key]
            if rnd.random() < 0.8:
                command.append(rnd.choice([b"0", b"1", b"3", b"-3", b"500", b"-1", b"x",
                                           b"9223372036854775807", b"-9223372036854775808"]))
                if rnd.random() < 0.4:
                    command.append(rnd.choice([b"WITHSCORES", b"withscores", b"BOGUS"]))
        elif roll < 78:
            command = self.mpop()
            if command[0].startswith(b"B") and (rnd.random() < 0.8 or b"0.01" in command):
                # In a transaction a blocking form answers at once; alone it could wait out
                # its timeout on both servers (up to 100 ms in Redis), so only one that
                # answers at once (an argument error) comes alone; test_diff_mpop_blocking
                # tests the waits.
                self.pending = [command, [b"EXEC"]]
                return [b"MULTI"]
        elif roll < 86:
            command = [b"ZRANGE", rnd.choice(DESTS + ZKEYS), b"0", b"-1", b"WITHSCORES"]
            if rnd.random() < 0.6:
                command[2:4] = [rnd.choice(INDEXES[:6]), rnd.choice(INDEXES[:6])]
        elif roll < 89:
            command = [b"OBJECT", b"ENCODING", rnd.choice(DESTS + ZKEYS + SKEYS + LEXKEYS)]
        elif roll < 91:
            command = [b"DEL", rnd.choice(ZKEYS + SKEYS + DESTS + LEXKEYS + LKEYS)]
        elif roll < 92:
            command = [b"SET", b"str", b"v"]
        elif roll < 94:
            command = [b"TYPE", rnd.choice(DESTS)]
        else:
            name = rnd.choice([b"ZUNION", b"ZINTERSTORE", b"ZINTERCARD", b"SINTERCARD",
                               b"ZRANGESTORE", b"ZLEXCOUNT", b"ZRANDMEMBER", b"LMPOP",
                               b"BZMPOP", b"ZREMRANGEBYLEX", b"ZRANGEBYLEX", b"ZDIFFSTORE"])
            command = [name] + [b"1"] * rnd.randint(0, 3)
        if rnd.random() < 0.05:
            command[0] = difftools.mixed_case(rnd, command[0])
        return command

    def wire(self, command):
        return difftools.wire(self.rnd, command)


def random_reply_equal(command, want, got):
    """ZRANDMEMBER's answer to a count below the size is random: same shape."""
    if want == got:
        return True
    name = command[0].upper()
    if name != b"ZRANDMEMBER" or len(command) < 3:
        return len(command) == 2 and name == b"ZRANDMEMBER" and want[:1] == got[:1] == b"$"
    return want[:1] in (b"*", b"%") and want.split(b"\r\n")[0] == got.split(b"\r\n")[0]


def compare_batches(kv_client, redis_client, generator, check, count):
    """kvtest.compare_stream with every batch pipelined (1 to 128 commands): the same
    comparison at a fraction of the round trips, so the test keeps its time on a loaded
    machine. Returns how many replies compared equal; stops at the first mismatch."""
    rnd = generator.rnd
    history = []
    compared = 0
    while compared < count:
        batch = [generator.command() for _ in range(rnd.randint(1, 128))]
        wire = b"".join(generator.wire(command) for command in batch)
        kv_client.send(wire)
        redis_client.send(wire)
        for command in batch:
            history = (history + [command])[-12:]
            want, got = redis_client.reply(), kv_client.reply()
            if not random_reply_equal(command, want, got):
                print(f"mismatch after {compared} equal replies; previous commands:")
                for earlier in history[:-1]:
                    print(f"    {kvtest.shorten(earlier, 200)}")
                check.equal(f"reply to {kvtest.shorten(command, 300)}", want, got)
                return compared
            compared += 1
    return compared


def run(check, resp3, seed, count):
    print(f"{'RESP3' if resp3 else 'RESP2'}: seed {seed} (KV_SEED={seed} replays this run)")
    generator = Generator(random.Random(seed))
    with kvtest.start_kv(*KV_OPTIONS) as kv, kvtest.start_redis() as redis:
        kv_client = test_diff_resp3.Client(kv.port)
        redis_client = test_diff_resp3.Client(redis.port)
        with kv_client, redis_client:
            if resp3:
                check.equal("HELLO 3 (proto field)", b"proto" in redis_client.call(b"HELLO", b"3"),
                            b"proto" in kv_client.call(b"HELLO", b"3"))
            compared = compare_batches(kv_client, redis_client, generator, check, count)
            check.true(f"{compared} replies equal (at least {count})", compared >= count,
                       f"seed {seed}")
            for key in ZKEYS + SKEYS + LEXKEYS + LKEYS + DESTS:
                for probe in ([b"TYPE", key], [b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"]):
                    want, got = redis_client.call(*probe), kv_client.call(*probe)
                    check.equal(f"final {probe!r}", want, got)
    if check.failures:
        print(f"seed {seed}: rerun with KV_SEED={seed}")


def main():
    check = kvtest.Checker("test_diff_zalgebra", verbose=False)
    seed = int(os.environ.get("KV_SEED") or random.randrange(1 << 32))
    run(check, False, seed, COMMAND_COUNT)
    if not check.failures:
        run(check, True, seed + 1, COMMAND_COUNT // 8)
    check.finish()


if __name__ == "__main__":
    main()
