"""The hash family answers seeded random commands with exactly Redis's bytes.

At least 20,000 commands of HSET, HMSET, HSETNX, HGET, HMGET, HDEL, HLEN, HEXISTS, HSTRLEN,
HGETALL, HKEYS, HVALS, HINCRBY, HINCRBYFLOAT, HRANDFIELD and HSCAN (MATCH, COUNT), with SET
and RPUSH so hashes collide with strings and lists (WRONGTYPE), DEL/TYPE/EXISTS, wrong arities
and mixed-case names, go to kv and to a real redis-server. A third of them go to six "object"
keys written with the same fields in the same order, which kv keeps as records of a shared
shape, and changed by single-field writes and HDELs that make them packs again. Hashes stay small (values under
64 bytes, fewer than 512 fields), where Redis keeps fields in insertion order as kv does, so
HGETALL/HKEYS/HVALS/HSCAN are compared byte for byte; HRANDFIELD is random, so only its shape
and membership are compared. Then kv's limits: a maximal hash fills every key, one field more
gets kv's error and changes nothing. Then large hashes (past 512 fields, Redis 7.0's hash-max-listpack-entries; fields and values past
64 bytes), which both servers keep in hash tables whose order neither defines: every reply
that names no order is compared byte for byte, HGETALL/HKEYS/HVALS as multisets, a whole HSCAN
walk (COUNT-sized steps with cursors) as the set of pairs, HRANDFIELD by shape and membership.
"""
import os
import random

import difftools
import kvtest

COMMAND_COUNT = 22000
KV_OPTIONS = ["--connections-max", "16", "--key-count", "32", "--key-size-max", "64",
              "--val-size-max", "64", "--list-length-max", "200", "--hugepages", "off"]
KEYS = [b"h0", b"h1", b"h2", b"s", b"l", b"", b"\x00h\xff"]
# Objects: hashes written with the same fields in the same order, which kv keeps as records
# of a shared shape (OBJECT ENCODING listpack either way); other writes change their lists.
USER_KEYS = [b"u0", b"u1", b"u2", b"u3", b"u4", b"u5"]
USER_FIELDS = [b"name", b"email", b"level", b"score"]
FIELDS = [b"f0", b"f1", b"f2", b"f3", b"", b"n", b"x y", b"\x00\xff", b"F0"]
VALUES = [b"", b"v", b"12", b"-3", b"1.5", b"abc", b"9223372036854775807", b"\x00\r\n", b"0"]
INCREMENTS = [b"1", b"-1", b"10", b"abc", b"", b"1.5", b"9223372036854775807",
              b"-9223372036854775808", b"0"]
FLOAT_INCREMENTS = [b"1", b"-0.5", b"1e3", b"abc", b"inf", b"-inf", b"nan", b"2.5e-3", b""]
PATTERNS = [b"*", b"f*", b"f?", b"[a-f]*", b"", b"\\*", b"*0"]


class Generator:
    def __init__(self, rnd):
        self.rnd = rnd

    def pairs(self, count, fields=FIELDS):
        return [part for _ in range(count)
                for part in (self.rnd.choice(fields), self.rnd.choice(VALUES))]

    def command(self):
        rnd = self.rnd
        user = rnd.random() < 0.3
        key = rnd.choice(USER_KEYS if user else KEYS)
        fields = USER_FIELDS if user else FIELDS
        field = rnd.choice(fields)
        roll = rnd.randrange(30)
        if user and roll < 4:
            command = [b"HSET", key] + [part for name in USER_FIELDS[:rnd.randint(2, 4)]
                                        for part in (name, rnd.choice(VALUES))]
        elif roll < 5:
            command = [b"HSET", key] + self.pairs(rnd.randint(1, 4), fields)
            if rnd.random() < 0.05:
                command = command[:-1]  # odd: an arity error
        elif roll == 5:
            command = [b"HMSET", key] + self.pairs(rnd.randint(1, 3))
        elif roll == 6:
            command = [b"HSETNX", key, field, rnd.choice(VALUES)]
        elif roll < 10:
            command = [b"HGET", key, field]
        elif roll == 10:
            command = [b"HMGET", key] + [rnd.choice(fields) for _ in range(rnd.randint(1, 4))]
        elif roll < 13:
            command = [b"HDEL", key] + [rnd.choice(fields) for _ in range(rnd.randint(1, 3))]
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


LARGE_KV_OPTIONS = ["--connections-max", "4", "--key-count", "16", "--key-size-max", "128",
                    "--val-size-max", "256", "--list-length-max", "2000", "--hugepages", "off"]
LARGE_STEPS = 4000


def large_pairs(rnd, key_number, count):
    """Field/value pairs for large key `key_number`: key 0 grows past 512 short fields (of
    2000 names), key 1 holds values past 64 bytes, key 2 fields past 64 bytes (of 400 names);
    some fields hold numbers."""
    pairs = []
    for _ in range(count):
        index = rnd.randrange(2000 if key_number == 0 else 400)
        field = f"f{index}".encode()
        if key_number == 2 and index % 3 == 0:
            field = field + b"-" * 70
        if index % 5 == 0:
            value = str(rnd.randrange(-1000, 1000)).encode()
        elif key_number == 1 and rnd.random() < 0.3:
            value = bytes(rnd.randrange(256) for _ in range(rnd.randrange(65, 250)))
        else:
            value = rnd.choice(VALUES)
        pairs += [field, value]
    return pairs


def scan_all(client, key, count):
    """Every pair a whole HSCAN walk meets, as a dict, and the number of steps."""
    cursor, pairs, steps = b"0", {}, 0
    while True:
        reply = kvtest.decode(client.call(b"HSCAN", key, cursor, b"COUNT", str(count)))
        cursor, elements = reply
        pairs.update(zip(elements[0::2], elements[1::2]))
        steps += 1
        if cursor == b"0" or steps > 100000:
            return pairs, steps


def large_command(rnd, key_number):
    key = f"big{key_number}".encode()
    field = large_pairs(rnd, key_number, 1)[0]
    roll = rnd.randrange(20)
    if roll < 6:
        return [b"HSET", key] + large_pairs(rnd, key_number, rnd.randint(1, 6))
    if roll == 6:
        return [b"HSETNX", key] + large_pairs(rnd, key_number, 1)
    if roll < 10:
        return [rnd.choice([b"HGET", b"HEXISTS", b"HSTRLEN"]), key, field]
    if roll == 10:
        return [b"HMGET", key] + [large_pairs(rnd, key_number, 1)[0] for _ in range(4)]
    if roll < 13:
        return [b"HDEL", key] + [large_pairs(rnd, key_number, 1)[0] for _ in range(3)]
    if roll == 13:
        return [b"HLEN", key]
    if roll < 16:
        return [b"HINCRBY", key, field, str(rnd.randrange(-50, 50)).encode()]
    if roll == 16:
        return [b"HINCRBYFLOAT", key, field, rnd.choice([b"1.5", b"-0.25", b"3"])]
    return [rnd.choice([b"HGETALL", b"HKEYS", b"HVALS"]), key]


def large_equal(command, want, got):
    if want == got:
        return True
    if command[0] in (b"HGETALL", b"HKEYS", b"HVALS"):
        want_value, got_value = kvtest.decode(want), kvtest.decode(got)
        if command[0] == b"HGETALL":
            return (isinstance(got_value, list) and
                    sorted(zip(want_value[0::2], want_value[1::2])) ==
                    sorted(zip(got_value[0::2], got_value[1::2])))
        return isinstance(got_value, list) and sorted(want_value) == sorted(got_value)
    return False


def large(check):
    seed = int(os.environ.get("KV_SEED") or random.randrange(1 << 32))
    rnd = random.Random(seed)
    with kvtest.start_kv(*LARGE_KV_OPTIONS) as kv, kvtest.start_redis() as redis:
        with kv.connect() as kv_client, redis.connect() as redis_client:
            for key_number in range(3):
                # Key 0: 1200 writes of 2000 names leave about 900 fields.
                for _ in range(24 if key_number == 0 else 6):
                    command = [b"HSET", f"big{key_number}".encode()] + large_pairs(
                        rnd, key_number, 50)
                    check.equal(f"large: {kvtest.shorten(command, 60)}",
                                redis_client.call(*command), kv_client.call(*command))
            mismatches = 0
            for step in range(LARGE_STEPS):
                command = large_command(rnd, rnd.randrange(3))
                want, got = redis_client.call(*command), kv_client.call(*command)
                if not large_equal(command, want, got):
                    mismatches += 1
                    if mismatches <= 5:
                        check.true(f"large step {step}: {kvtest.shorten(command, 200)}", False,
                                   f"{want[:200]!r} != {got[:200]!r} (KV_SEED={seed})")
            check.true(f"large: {LARGE_STEPS} replies equal", mismatches == 0, f"seed {seed}")
            for key_number in range(3):
                key = f"big{key_number}".encode()
                whole = kvtest.decode(redis_client.call(b"HGETALL", key))
                whole = dict(zip(whole[0::2], whole[1::2]))
                check.true(f"large: big{key_number} holds {len(whole)} fields",
                           len(whole) > (512 if key_number == 0 else 128))
                for count in (1, 10, 1000):
                    pairs, steps = scan_all(kv_client, key, count)
                    check.true(f"large: HSCAN COUNT {count} of big{key_number} meets every pair "
                               f"in {steps} steps", pairs == whole,
                               f"{len(pairs)} of {len(whole)}")
                    check.true(f"large: HSCAN COUNT {count} walks in steps",
                               count == 1000 or steps > 1)
                for arguments in ([b"5"], [b"-40", b"WITHVALUES"], [b"100000"]):
                    reply = kvtest.decode(kv_client.call(b"HRANDFIELD", key, *arguments))
                    count = int(arguments[0])
                    fields = reply[0::2] if len(arguments) > 1 else reply
                    check.true(f"large: HRANDFIELD {arguments} of big{key_number}",
                               len(fields) == min(abs(count), len(whole)) if count > 0 else
                               len(fields) == -count, f"{len(fields)} fields")
                    check.true(f"large: HRANDFIELD {arguments} fields are members",
                               all(field in whole for field in fields))
                    check.true(f"large: HRANDFIELD {arguments} distinct for a positive count",
                               count < 0 or len(set(fields)) == len(fields))


def main():
    check = kvtest.Checker("test_diff_hashes", verbose=False)
    limits(check)
    large(check)
    probes = ([[b"HGETALL", key] for key in KEYS + USER_KEYS] +
              [[b"TYPE", key] for key in KEYS + USER_KEYS] +
              [[b"OBJECT", b"ENCODING", key] for key in USER_KEYS])
    kvtest.differential("test_diff_hashes", Generator, COMMAND_COUNT, KV_OPTIONS, probes,
                        replies_equal, check)


if __name__ == "__main__":
    main()
