"""The hash family answers seeded random commands with exactly Redis's bytes.

At least 20,000 commands of HSET, HMSET, HSETNX, HGET, HMGET, HDEL, HLEN, HEXISTS, HSTRLEN,
HGETALL, HKEYS, HVALS, HINCRBY, HINCRBYFLOAT, HRANDFIELD and HSCAN (MATCH, COUNT), with SET
and RPUSH so hashes collide with strings and lists (WRONGTYPE), DEL/TYPE/EXISTS, wrong arities
and mixed-case names, go to kv and to a real redis-server. Hashes stay small (values under
64 bytes, fewer than 128 fields), where Redis keeps fields in insertion order as kv does, so
HGETALL/HKEYS/HVALS/HSCAN are compared byte for byte; HRANDFIELD is random, so only its shape
and membership are compared. Then kv's limits: a maximal hash fills every key, one field more
gets kv's error and changes nothing.
"""
import difftools
import kvtest

COMMAND_COUNT = 22000
KV_OPTIONS = ["--connections-max", "16", "--key-count", "32", "--key-size-max", "64",
              "--val-size-max", "64", "--list-length-max", "200", "--hugepages", "off"]
KEYS = [b"h0", b"h1", b"h2", b"s", b"l", b"", b"\x00h\xff"]
FIELDS = [b"f0", b"f1", b"f2", b"f3", b"", b"n", b"x y", b"\x00\xff", b"F0"]
VALUES = [b"", b"v", b"12", b"-3", b"1.5", b"abc", b"9223372036854775807", b"\x00\r\n", b"0"]
INCREMENTS = [b"1", b"-1", b"10", b"abc", b"", b"1.5", b"9223372036854775807",
              b"-9223372036854775808", b"0"]
FLOAT_INCREMENTS = [b"1", b"-0.5", b"1e3", b"abc", b"inf", b"-inf", b"nan", b"2.5e-3", b""]
PATTERNS = [b"*", b"f*", b"f?", b"[a-f]*", b"", b"\\*", b"*0"]


class Generator:
    def __init__(self, rnd):
        self.rnd = rnd

    def pairs(self, count):
        return [part for _ in range(count)
                for part in (self.rnd.choice(FIELDS), self.rnd.choice(VALUES))]

    def command(self):
        rnd = self.rnd
        key = rnd.choice(KEYS)
        field = rnd.choice(FIELDS)
        roll = rnd.randrange(30)
        if roll < 5:
            command = [b"HSET", key] + self.pairs(rnd.randint(1, 4))
            if rnd.random() < 0.05:
                command = command[:-1]  # odd: an arity error
        elif roll == 5:
            command = [b"HMSET", key] + self.pairs(rnd.randint(1, 3))
        elif roll == 6:
            command = [b"HSETNX", key, field, rnd.choice(VALUES)]
        elif roll < 10:
            command = [b"HGET", key, field]
        elif roll == 10:
            command = [b"HMGET", key] + [rnd.choice(FIELDS) for _ in range(rnd.randint(1, 4))]
        elif roll < 13:
            command = [b"HDEL", key] + [rnd.choice(FIELDS) for _ in range(rnd.randint(1, 3))]
        elif roll == 13:
            command = [rnd.choice([b"HLEN", b"HGETALL", b"HKEYS", b"HVALS"]), key]
        elif roll == 14:
            command = [rnd.choice([b"HEXISTS", b"HSTRLEN"]), key, field]
        elif roll < 17:
            command = [b"HINCRBY", key, field, rnd.choice(INCREMENTS)]
        elif roll == 17:
            command = [b"HINCRBYFLOAT", key, field, rnd.choice(FLOAT_INCREMENTS)]
        elif roll == 18:
            command = [b"HRANDFIELD", key] + rnd.choice(
                [[], [b"0"], [b"2"], [b"-3"], [b"5", b"WITHVALUES"], [b"-2", b"withvalues"],
                 [b"x"], [b"2", b"BAD"], [b"1", b"WITHVALUES", b"x"],
                 [b"-9223372036854775808"]])
        elif roll == 19:
            command = [b"HSCAN", key, rnd.choice([b"0", b"7", b"x", b"-1"])]
            if rnd.random() < 0.5:
                command += [b"MATCH", rnd.choice(PATTERNS)]
            if rnd.random() < 0.3:
                command += [b"COUNT", rnd.choice([b"10", b"0", b"x", b"1"])]
            if rnd.random() < 0.05:
                command += [b"BOGUS"]
        elif roll < 23:
            command = [b"HGETALL", key]
        elif roll == 23:
            command = [b"SET", key, rnd.choice(VALUES)]
        elif roll == 24:
            command = [b"RPUSH", key, rnd.choice(VALUES)]
        elif roll == 25:
            command = [b"DEL", key]
        elif roll == 26:
            command = [rnd.choice([b"TYPE", b"EXISTS"]), key]
        elif roll == 27:
            command = [b"HSET", key] + self.pairs(rnd.randint(5, 10))
        else:
            name = rnd.choice([b"HSET", b"HGET", b"HMGET", b"HDEL", b"HLEN", b"HGETALL",
                               b"HINCRBY", b"HINCRBYFLOAT", b"HSETNX", b"HSCAN", b"HRANDFIELD",
                               b"HSTRLEN", b"HEXISTS"])
            command = [name] + [key] * rnd.choice([0, 1, 5])     # wrong arity (mostly)
        command[0] = difftools.mixed_case(rnd, command[0])
        return command

    def wire(self, command):
        return difftools.wire(self.rnd, command)


def replies_equal(command, want, got):
    if want == got:
        return True
    if command[0].upper() != b"HRANDFIELD":
        return False
    want_value, got_value = kvtest.decode(want), kvtest.decode(got)
    if isinstance(want_value, list) and isinstance(got_value, list):
        # Same length; distinct fields when the count is positive (then all of the hash when
        # it asks for more).
        return len(want_value) == len(got_value)
    return type(want_value) == type(got_value)


def limits(check):
    options = ["--connections-max", "4", "--key-count", "3", "--key-size-max", "8",
               "--val-size-max", "16", "--list-length-max", "5", "--hugepages", "off"]
    with kvtest.start_kv(*options) as kv, kv.connect() as client:
        for key in ("k1", "k2", "k3"):
            pairs = [part for index in range(5) for part in (f"field{index}xx"[:8],
                                                              "v" * 16)]
            check.equal(f"a maximal hash at {key}", b":5\r\n", client.call("HSET", key, *pairs))
        check.starts("one field more", b"-ERR hash is full (list_length_max is 5 fields)",
                     client.call("HSET", "k1", "new", "v"))
        check.starts("a field past key_size_max", b"-ERR field is too long",
                     client.call("HSET", "k1", "123456789", "v"))
        # Past val_size_max, which is also the longest argument here: the parser refuses it.
        check.starts("a value past val_size_max", b"-ERR argument is too long",
                     client.call("HSET", "k1", "field0xx", "v" * 17))
        check.starts("several fields, one too many: none is set", b"-ERR hash is full",
                     client.call("HSET", "k2", "field0xx", "changed", "other", "v"))
        check.equal("the hash is unchanged", b"$16\r\n" + b"v" * 16 + b"\r\n",
                    client.call("HGET", "k2", "field0xx"))
        check.starts("a fourth key when key_count keys exist", b"-ERR store is full",
                     client.call("HSET", "k4", "f", "v"))
        check.equal("repeated fields count once", b":0\r\n",
                    client.call("HSET", "k3", "field0xx", "a", "field0xx", "b"))
        reply = kvtest.decode(client.call("HGETALL", "k1"))
        check.equal("HGETALL of a maximal hash", 10, len(reply))
        check.equal("HDEL frees a field", b":1\r\n", client.call("HDEL", "k1", "field0xx"))
        check.equal("then one more fits", b":1\r\n", client.call("HSET", "k1", "new", "v"))
        lengths = [kvtest.decode(client.call("HLEN", key)) for key in ("k1", "k2", "k3")]
        check.equal("three maximal hashes hold 15 fields", 15, sum(lengths))
    options = ["--connections-max", "4", "--key-count", "2", "--key-size-max", "32",
               "--val-size-max", "8", "--list-length-max", "4", "--hugepages", "off"]
    with kvtest.start_kv(*options) as kv, kv.connect() as client:
        check.starts("a value past val_size_max (shorter than the longest argument)",
                     b"-ERR value is too long (val_size_max is 8 bytes)",
                     client.call("HSET", "k", "f", "123456789"))
        check.equal("nothing was created", b":0\r\n", client.call("EXISTS", "k"))


def main():
    check = kvtest.Checker("test_diff_hashes", verbose=False)
    limits(check)
    probes = [[b"HGETALL", key] for key in KEYS] + [[b"TYPE", key] for key in KEYS]
    kvtest.differential("test_diff_hashes", Generator, COMMAND_COUNT, KV_OPTIONS, probes,
                        replies_equal, check)


if __name__ == "__main__":
    main()
