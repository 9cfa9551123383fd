"""LCS answers seeded random commands with exactly Redis 7.0's bytes.

At least 20,000 commands go to kv and to a real redis-server: LCS with LEN, IDX,
MINMATCHLEN (negative, zero, large, not an integer, missing), WITHMATCHLEN, LEN with IDX,
unknown options, over strings of up to a few hundred bytes from small alphabets (long
common runs), empty and absent keys, keys of other types, and wrong arities; between them
SET, APPEND and DEL change the strings. Replies are compared in RESP2 and, on a second
connection after HELLO 3, in RESP3 (IDX answers a map). Then the table's limit: past
proto-max-bulk-len, Redis's error on both.
"""
import random

import difftools
import kvtest
import test_diff_resp3

COMMAND_COUNT = 20000
KV_OPTIONS = ["--connections-max", "16", "--hugepages", "off"]
KEYS = [b"a", b"b", b"c", b"", b"none", b"list"]
ALPHABETS = [b"ab", b"abc", b"ACGT", b"x", b"\x00\xff\r\n"]


class Generator:
    def __init__(self, rnd):
        self.rnd = rnd

    def string(self):
        rnd = self.rnd
        alphabet = rnd.choice(ALPHABETS)
        size = rnd.choice([0, 1, 2, 5, 10, 30, 80, rnd.randint(0, 300)])
        return bytes(rnd.choice(alphabet) for _ in range(size))

    def command(self):
        rnd = self.rnd
        roll = rnd.randrange(20)
        if roll < 3:
            return [b"SET", rnd.choice(KEYS[:4]), self.string()]
        if roll == 3:
            return [b"APPEND", rnd.choice(KEYS[:4]), self.string()]
        if roll == 4:
            return rnd.choice([[b"DEL", rnd.choice(KEYS)], [b"RPUSH", b"list", b"x"],
                               [b"LCS", b"a"], [b"lcs"]])
        command = [difftools.mixed_case(rnd, b"LCS"), rnd.choice(KEYS), rnd.choice(KEYS)]
        options = []
        if rnd.random() < 0.2:
            options.append([rnd.choice([b"LEN", b"len"])])
        if rnd.random() < 0.5:
            options.append([rnd.choice([b"IDX", b"idx"])])
        if rnd.random() < 0.3:
            options.append([b"MINMATCHLEN", rnd.choice([b"0", b"1", b"2", b"3", b"5", b"-1",
                                                        b"100", b"x", b"9223372036854775808"])])
        if rnd.random() < 0.3:
            options.append([b"WITHMATCHLEN"])
        if rnd.random() < 0.03:
            options.append([rnd.choice([b"BOGUS", b"MINMATCHLEN"])])
        rnd.shuffle(options)
        return command + [part for option in options for part in option]

    def wire(self, command):
        return difftools.wire(self.rnd, command)


def main():
    check = kvtest.Checker("test_diff_lcs", verbose=False)
    seed = int(__import__("os").environ.get("KV_SEED") or random.randrange(1 << 32))
    print(f"RESP3 part: seed {seed}")
    generator = Generator(random.Random(seed))
    with kvtest.start_kv(*KV_OPTIONS) as kv, kvtest.start_redis() as redis:
        with test_diff_resp3.Client(kv.port) as kv_client, \
                test_diff_resp3.Client(redis.port) as redis_client:
            for client in (kv_client, redis_client):
                client.call("HELLO", "3")
            compared = kvtest.compare_stream(kv_client, redis_client, generator, check, 3000)
            check.true(f"RESP3: {compared} replies equal", compared >= 3000, f"seed {seed}")
            for client in (kv_client, redis_client):
                client.call("CONFIG", "SET", "proto-max-bulk-len", "1mb")
                client.call("SET", "big1", "x" * 600)
                client.call("SET", "big2", "y" * 600)
            check.equal("the table past proto-max-bulk-len",
                        redis_client.call("LCS", "big1", "big2"),
                        kv_client.call("LCS", "big1", "big2"))
            check.starts("is Redis's error", b"-ERR Insufficient memory, transient memory",
                         kv_client.call("LCS", "big1", "big2", "LEN"))
    kvtest.differential("test_diff_lcs", Generator, COMMAND_COUNT, KV_OPTIONS,
                        [[b"LCS", b"a", b"b", b"IDX", b"WITHMATCHLEN"]],
                        difftools.replies_equal, check)


if __name__ == "__main__":
    main()
