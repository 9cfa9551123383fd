"""The sorted-set family answers seeded random commands with exactly Redis's bytes.

At least 20,000 commands of ZADD (NX, XX, GT, LT, CH, INCR and their conflicts), ZINCRBY,
ZSCORE, ZMSCORE, ZCARD, ZCOUNT, ZRANK, ZREVRANK, ZREM, ZRANGE (BYSCORE, BYLEX, REV, LIMIT,
WITHSCORES), ZREVRANGE, ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZREMRANGEBYRANK, ZREMRANGEBYSCORE,
ZPOPMIN, ZPOPMAX and ZSCAN, with SET so sorted sets collide with strings, DEL/TYPE/EXISTS,
wrong arities and mixed-case names, go to kv and to a real redis-server; every reply must be
identical, scores formatted as Redis formats them. Sets stay small (listpack-sized in Redis,
so ZSCAN answers all at once on both). Then kv's limits.
"""
import difftools
import kvtest

COMMAND_COUNT = 22000
KV_OPTIONS = ["--connections-max", "16", "--key-count", "32", "--key-size-max", "64",
              "--val-size-max", "64", "--list-length-max", "200", "--hugepages", "off"]
KEYS = [b"z0", b"z1", b"z2", b"s", b"", b"\x00z\xff"]
MEMBERS = [b"a", b"b", b"c", b"d", b"e", b"", b"aa", b"ab", b"x y", b"\x00\xff", b"A", b"1"]
SCORES = [b"0", b"1", b"2", b"-1", b"1.5", b"0.1", b"0.2", b"1e3", b"-2.5e-3", b"inf", b"-inf",
          b"+inf", b"3", b"10", b"x", b"", b"nan", b"1e400", b" 1", b"0x10", b"1.1",
          b"9007199254740993", b"-0"]
RANGE_SCORES = [b"-inf", b"+inf", b"inf", b"0", b"1", b"(1", b"2", b"(2", b"1.5", b"-1",
                b"(0", b"x", b"(", b"", b"3", b"10"]
LEX = [b"-", b"+", b"[a", b"(a", b"[b", b"(c", b"[aa", b"[", b"(", b"a", b"[e", b"(\x00"]
INDEXES = [b"0", b"1", b"2", b"-1", b"-2", b"5", b"-10", b"x", b"100"]
ZADD_FLAGS = [b"NX", b"XX", b"GT", b"LT", b"CH", b"INCR", b"nx", b"ch"]


class Generator:
    def __init__(self, rnd):
        self.rnd = rnd

    def zrange(self, key):
        rnd = self.rnd
        kind = rnd.choice([b"", b"BYSCORE", b"BYLEX"])
        values = {b"": INDEXES, b"BYSCORE": RANGE_SCORES, b"BYLEX": LEX}[kind]
        command = [b"ZRANGE", key, rnd.choice(values), rnd.choice(values)]
        options = []
        if kind:
            options.append(kind)
        if rnd.random() < 0.3:
            options.append(b"REV")
        if rnd.random() < 0.3:
            options += [b"LIMIT", rnd.choice([b"0", b"1", b"-1", b"x"]),
                        rnd.choice([b"1", b"2", b"-1", b"0"])]
        if rnd.random() < 0.4:
            options.append(b"WITHSCORES")
        if rnd.random() < 0.05:
            options.append(rnd.choice([b"BYSCORE", b"REV", b"BOGUS"]))
        rnd.shuffle(options) if rnd.random() < 0.2 and b"LIMIT" not in options else None
        return command + options

    def command(self):
        rnd = self.rnd
        key = rnd.choice(KEYS)
        member = rnd.choice(MEMBERS)
        roll = rnd.randrange(34)
        if roll < 7:
            flags = [rnd.choice(ZADD_FLAGS) for _ in range(rnd.choice([0, 0, 0, 1, 2]))]
            pairs = [part for _ in range(rnd.randint(1, 3))
                     for part in (rnd.choice(SCORES[:14]) if rnd.random() < 0.9
                                  else rnd.choice(SCORES), rnd.choice(MEMBERS))]
            if rnd.random() < 0.03:
                pairs = pairs[:-1]
            command = [b"ZADD", key] + flags + pairs
        elif roll == 7:
            command = [b"ZINCRBY", key, rnd.choice(SCORES), member]
        elif roll < 10:
            command = [b"ZSCORE", key, member]
        elif roll == 10:
            command = [b"ZMSCORE", key] + [rnd.choice(MEMBERS) for _ in range(rnd.randint(1, 3))]
        elif roll == 11:
            command = [b"ZCARD", key]
        elif roll == 12:
            command = [b"ZCOUNT", key, rnd.choice(RANGE_SCORES), rnd.choice(RANGE_SCORES)]
        elif roll < 15:
            command = [rnd.choice([b"ZRANK", b"ZREVRANK"]), key, member]
        elif roll == 15:
            command = [b"ZREM", key] + [rnd.choice(MEMBERS) for _ in range(rnd.randint(1, 3))]
        elif roll < 20:
            command = self.zrange(key)
        elif roll == 20:
            command = [b"ZREVRANGE", key, rnd.choice(INDEXES), rnd.choice(INDEXES)] + \
                rnd.choice([[], [b"WITHSCORES"], [b"withscores"], [b"LIMIT", b"0", b"1"]])
        elif roll == 21:
            name = rnd.choice([b"ZRANGEBYSCORE", b"ZREVRANGEBYSCORE"])
            command = [name, key, rnd.choice(RANGE_SCORES), rnd.choice(RANGE_SCORES)] + \
                rnd.choice([[], [b"WITHSCORES"], [b"LIMIT", b"1", b"2"],
                            [b"WITHSCORES", b"LIMIT", b"0", b"-1"], [b"BYSCORE"], [b"LIMIT"]])
        elif roll == 22:
            command = [b"ZREMRANGEBYRANK", key, rnd.choice(INDEXES), rnd.choice(INDEXES)]
        elif roll == 23:
            command = [b"ZREMRANGEBYSCORE", key, rnd.choice(RANGE_SCORES),
                       rnd.choice(RANGE_SCORES)]
        elif roll == 24:
            command = [rnd.choice([b"ZPOPMIN", b"ZPOPMAX"]), key] + rnd.choice(
                [[], [b"1"], [b"2"], [b"0"], [b"-1"], [b"x"], [b"1", b"2"]])
        elif roll == 25:
            command = [b"ZSCAN", key, rnd.choice([b"0", b"0", b"x"])]
            if rnd.random() < 0.5:
                command += [b"MATCH", rnd.choice([b"*", b"a*", b"?", b"[a-c]"])]
            if rnd.random() < 0.3:
                command += [b"COUNT", rnd.choice([b"10", b"0", b"x"])]
        elif roll == 26:
            command = [b"SET", key, member]
        elif roll == 27:
            command = [b"DEL", key]
        elif roll == 28:
            command = [rnd.choice([b"TYPE", b"EXISTS"]), key]
        elif roll < 32:
            command = [b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"]
        else:
            name = rnd.choice([b"ZADD", b"ZSCORE", b"ZMSCORE", b"ZCARD", b"ZCOUNT", b"ZRANK",
                               b"ZREM", b"ZRANGE", b"ZREVRANGE", b"ZRANGEBYSCORE", b"ZPOPMIN",
                               b"ZINCRBY", b"ZREMRANGEBYRANK", b"ZSCAN"])
            command = [name] + [key] * rnd.choice([0, 1, 2])     # wrong arity (mostly)
        command[0] = difftools.mixed_case(rnd, command[0])
        return command

    def wire(self, command):
        return difftools.wire(self.rnd, command)


def limits(check):
    options = ["--connections-max", "4", "--key-count", "2", "--key-size-max", "8",
               "--val-size-max", "16", "--list-length-max", "3", "--hugepages", "off"]
    with kvtest.start_kv(*options) as kv, kv.connect() as client:
        check.equal("a maximal sorted set", b":3\r\n", client.call("ZADD", "a", 1, "x", 2, "y", 3, "z"))
        check.equal("another", b":3\r\n", client.call("ZADD", "b", 1, "x", 2, "y", 3, "z"))
        check.starts("one member more", b"-ERR sorted set is full (list_length_max is 3 members)",
                     client.call("ZADD", "a", 4, "w"))
        check.starts("a member past key_size_max", b"-ERR member is too long",
                     client.call("ZADD", "a", 1, "123456789"))
        check.equal("updating scores of a full set works", b":0\r\n",
                    client.call("ZADD", "a", 5, "x", 6, "y"))
        check.starts("a new score and one member too many: nothing changes",
                     b"-ERR sorted set is full", client.call("ZADD", "a", 9, "z", 1, "w"))
        check.equal("z kept its score", b"$1\r\n3\r\n", client.call("ZSCORE", "a", "z"))
        check.starts("a third key when key_count keys exist", b"-ERR store is full",
                     client.call("ZADD", "c", 1, "x"))
        check.equal("ZPOPMIN frees a member", [b"z", b"3"], kvtest.decode(client.call("ZPOPMIN", "a")))
        check.equal("then one more fits", b":1\r\n", client.call("ZADD", "a", 4, "w"))
        check.equal("the order", [b"w", b"x", b"y"], kvtest.decode(client.call("ZRANGE", "a", 0, -1)))
        check.equal("6 members in the fields pool", "6",
                    kvtest.info(client, "memory").get("kv_pool_fields_used"))


def main():
    check = kvtest.Checker("test_diff_zsets", verbose=False)
    limits(check)
    probes = [[b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"] for key in KEYS] + \
        [[b"TYPE", key] for key in KEYS]
    kvtest.differential("test_diff_zsets", Generator, COMMAND_COUNT, KV_OPTIONS, probes,
                        difftools.replies_equal, check)


if __name__ == "__main__":
    main()
