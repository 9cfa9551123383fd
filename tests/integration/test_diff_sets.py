"""The set family answers seeded random commands as Redis does.

At least 20,000 commands of SADD, SREM, SISMEMBER, SMISMEMBER, SMEMBERS, SCARD, SPOP,
SRANDMEMBER, SMOVE, SINTER, SUNION, SDIFF, their STORE forms and SSCAN, with SET and RPUSH so
sets collide with other types (WRONGTYPE), DEL/TYPE/EXISTS, wrong arities and mixed-case
names, go to kv and to a real redis-server. Redis orders a set's members by its encoding, so
arrays of members are compared as sets (sorted); everything else byte for byte. SSCAN is
compared with cursor 0 and a COUNT above the sets' sizes, where Redis answers all at once as kv
always does. SPOP and
SRANDMEMBER are random: their shape is compared, and SPOP's popped members are then removed
from Redis's copy too (SREM), so both servers keep the same sets. Then kv's limits. Then a
second run with hundreds of members (integers, short and long strings, SADDs of up to 300) so
that sets pass through every encoding kv has (intset, pack, table) and convert between them.
"""
import os
import random

import difftools
import kvtest

COMMAND_COUNT = 22000
KV_OPTIONS = ["--connections-max", "16", "--key-count", "32", "--key-size-max", "64",
              "--val-size-max", "64", "--list-length-max", "200", "--hugepages", "off"]
KEYS = [b"s0", b"s1", b"s2", b"str", b"l", b"", b"\x00s\xff"]
MEMBERS = [b"a", b"b", b"c", b"d", b"", b"1", b"2", b"10", b"-5", b"x y", b"\x00\xff", b"A"]
PATTERNS = [b"*", b"a*", b"?", b"[a-c]", b"", b"1*"]
MEMBER_COMMANDS = (b"SMEMBERS", b"SINTER", b"SUNION", b"SDIFF", b"SSCAN")

# The second run: up to 512 integers stay an intset, 128 short members a pack, and more, or a
# member past 64 bytes, make a table.
LARGE_COMMAND_COUNT = 8000
LARGE_KV_OPTIONS = ["--connections-max", "16", "--key-count", "32", "--key-size-max", "100",
                    "--val-size-max", "100", "--list-length-max", "2000", "--hugepages", "off"]
LARGE_MEMBERS = (MEMBERS + [b"%d" % i for i in range(700)] + [b"m%d" % i for i in range(200)]
                 + [b"L" * 70 + b"%d" % i for i in range(20)] + [b"-9223372036854775808", b"01"])
# Member pools a SADD draws from: the small ones, integers only, short members, any.
LARGE_POOLS = (12, 712, 932, len(LARGE_MEMBERS))


class Generator:
    def __init__(self, rnd, large=False):
        self.rnd = rnd
        self.large = large

    def sadd_members(self):
        rnd = self.rnd
        if not self.large:
            return [rnd.choice(MEMBERS) for _ in range(rnd.randint(1, 5))]
        pool = LARGE_MEMBERS[:rnd.choice(LARGE_POOLS)]
        return [rnd.choice(pool) for _ in range(rnd.randint(1, rnd.choice([5, 5, 300])))]

    def keys(self, low, high):
        return [self.rnd.choice(KEYS) for _ in range(self.rnd.randint(low, high))]

    def command(self):
        rnd = self.rnd
        key = rnd.choice(KEYS)
        member = rnd.choice(LARGE_MEMBERS if self.large else MEMBERS)
        roll = rnd.randrange(30)
        if roll < 6:
            command = [b"SADD", key] + self.sadd_members()
        elif roll < 8:
            command = [b"SREM", key] + [rnd.choice(MEMBERS) for _ in range(rnd.randint(1, 3))]
        elif roll < 10:
            command = [b"SISMEMBER", key, member]
        elif roll == 10:
            command = [b"SMISMEMBER", key] + [rnd.choice(MEMBERS) for _ in range(rnd.randint(1, 4))]
        elif roll < 13:
            command = [rnd.choice([b"SMEMBERS", b"SCARD"]), key]
        elif roll == 13:
            command = [b"SPOP", key] + rnd.choice([[], [b"0"], [b"1"], [b"3"], [b"-1"], [b"x"],
                                                   [b"1", b"2"], [b"200"]])
        elif roll == 14:
            command = [b"SRANDMEMBER", key] + rnd.choice(
                [[], [b"0"], [b"2"], [b"-3"], [b"50"], [b"x"], [b"1", b"2"],
                 [b"-9223372036854775808"], [b"300"], [b"-400"]])
        elif roll < 17:
            command = [b"SMOVE", key, rnd.choice(KEYS), member]
        elif roll < 20:
            command = [rnd.choice([b"SINTER", b"SUNION", b"SDIFF"])] + self.keys(1, 3)
        elif roll < 22:
            command = [rnd.choice([b"SINTERSTORE", b"SUNIONSTORE", b"SDIFFSTORE"]),
                       rnd.choice(KEYS)] + self.keys(1, 3)
        elif roll == 22:
            # A real Redis set in a hash table answers a cursor it gave with a partial batch;
            # cursor 0 with a COUNT above the set's size answers all of it, as kv always does.
            command = [b"SSCAN", key, rnd.choice([b"0", b"0", b"0", b"x"])]
            if rnd.random() < 0.5:
                command += [b"MATCH", rnd.choice(PATTERNS)]
            command += [b"COUNT", rnd.choice([b"1000", b"1000", b"1000", b"0", b"x"])]
        elif roll == 23:
            command = [b"SET", key, member]
        elif roll == 24:
            command = [b"RPUSH", key, member]
        elif roll == 25:
            command = [b"DEL", key]
        elif roll == 26:
            command = [rnd.choice([b"TYPE", b"EXISTS"]), key]
        elif roll < 29:
            command = [b"SMEMBERS", key]
        else:
            name = rnd.choice([b"SADD", b"SREM", b"SISMEMBER", b"SMISMEMBER", b"SMEMBERS",
                               b"SCARD", b"SPOP", b"SRANDMEMBER", b"SMOVE", b"SINTER",
                               b"SINTERSTORE", b"SSCAN"])
            command = [name] + [key] * rnd.choice([0, 5])     # wrong arity (mostly)
        command[0] = difftools.mixed_case(rnd, command[0])
        return command

    def wire(self, command):
        return difftools.wire(self.rnd, command)


def unordered(value):
    """Arrays of members sorted; SSCAN's [cursor, members] with its members sorted."""
    if isinstance(value, list) and len(value) == 2 and isinstance(value[1], list):
        return [value[0], sorted(value[1])]
    if isinstance(value, list):
        return sorted(value, key=repr)
    return value


def replies_equal(command, want, got):
    if want == got:
        return True
    name = command[0].upper()
    want_value, got_value = kvtest.decode(want), kvtest.decode(got)
    if name in MEMBER_COMMANDS:
        return unordered(want_value) == unordered(got_value)
    if name in (b"SPOP", b"SRANDMEMBER"):
        if isinstance(want_value, list) and isinstance(got_value, list):
            return len(want_value) == len(got_value)
        return type(want_value) == type(got_value)
    return False


class Differential:
    """compare_stream with SPOP made deterministic: what kv popped is popped from Redis too."""

    def __init__(self, kv, redis, check):
        self.kv, self.redis, self.check = kv, redis, check

    def run(self, generator, count):
        compared = 0
        while compared < count:
            command = generator.command()
            want, got = self.redis.call(*command), self.kv.call(*command)
            if command[0].upper() == b"SPOP" and want != got and replies_equal(command, want, got):
                # Undo Redis's random pops and apply kv's.
                popped_redis = kvtest.decode(want)
                popped_kv = kvtest.decode(got)
                popped_redis = popped_redis if isinstance(popped_redis, list) else [popped_redis]
                popped_kv = popped_kv if isinstance(popped_kv, list) else [popped_kv]
                if popped_redis and popped_redis[0] is not None:
                    self.redis.call(b"SADD", command[1], *popped_redis)
                if popped_kv and popped_kv[0] is not None:
                    self.redis.call(b"SREM", command[1], *popped_kv)
            elif not replies_equal(command, want, got):
                self.check.equal(f"reply to {kvtest.shorten(command, 300)}", want, got)
                return compared
            compared += 1
        return compared


def limits(check):
    options = ["--connections-max", "4", "--key-count", "3", "--key-size-max", "8",
               "--val-size-max", "16", "--list-length-max", "4", "--hugepages", "off"]
    with kvtest.start_kv(*options) as kv, kv.connect() as client:
        check.equal("a maximal set at a", b":4\r\n", client.call("SADD", "a", 1, 2, 3, 4))
        check.equal("a maximal set at b", b":4\r\n", client.call("SADD", "b", 5, 6, 7, 8))
        check.starts("one member more", b"-ERR set is full (list_length_max is 4 members)",
                     client.call("SADD", "a", 9))
        check.starts("a member past key_size_max", b"-ERR member is too long",
                     client.call("SADD", "a", "123456789"))
        check.starts("SUNIONSTORE of 8 members", b"-ERR set is full",
                     client.call("SUNIONSTORE", "c", "a", "b"))
        check.equal("nothing was stored", b":0\r\n", client.call("EXISTS", "c"))
        check.equal("SUNIONSTORE into a source that fits", b":4\r\n",
                    client.call("SUNIONSTORE", "a", "a", "a"))
        check.equal("SDIFFSTORE onto a source, with every key full", b":4\r\n",
                    client.call("SDIFFSTORE", "b", "b", "a"))
        check.equal("a third maximal set", b":4\r\n", client.call("SADD", "c", 1, 2, 3, 4))
        check.equal("SINTERSTORE with every pool full replaces its destination", b":4\r\n",
                    client.call("SINTERSTORE", "c", "a", "c"))
        check.starts("SMOVE into a full set", b"-ERR set is full",
                     client.call("SMOVE", "b", "a", "5"))
        check.equal("the sets are unchanged", [b"5", b"6", b"7", b"8"],
                    sorted(kvtest.decode(client.call("SMEMBERS", "b"))))
        check.starts("a fourth key when key_count keys exist", b"-ERR store is full",
                     client.call("SADD", "d", "x"))
        # The destination was built as an intset (every member an integer), which answers in
        # ascending order as Redis's does.
        check.equal("SINTERSTORE's result is an intset, in ascending order",
                    b"*4\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n4\r\n",
                    client.call("SMEMBERS", "c"))


def differential(check, seed, large):
    generator = Generator(random.Random(seed), large)
    options, count = (LARGE_KV_OPTIONS, LARGE_COMMAND_COUNT) if large else (KV_OPTIONS,
                                                                            COMMAND_COUNT)
    what = "large sets" if large else "small sets"
    with kvtest.start_kv(*options) as kv, kvtest.start_redis() as redis:
        with kv.connect() as kv_client, redis.connect() as redis_client:
            compared = Differential(kv_client, redis_client, check).run(generator, count)
            check.true(f"{what}: {compared} replies equal (at least {count})",
                       compared >= count, f"seed {seed}")
            for key in KEYS:
                for probe in ([b"SMEMBERS", key], [b"TYPE", key]):
                    want, got = redis_client.call(*probe), kv_client.call(*probe)
                    check.true(f"{what}: final {probe!r}", replies_equal(probe, want, got),
                               f"{want!r} != {got!r}")


def main():
    check = kvtest.Checker("test_diff_sets", verbose=False)
    limits(check)
    seed = int(os.environ.get("KV_SEED") or random.randrange(1 << 32))
    print(f"seed {seed} (KV_SEED={seed} replays this run)")
    differential(check, seed, False)
    differential(check, seed, True)
    if check.failures:
        print(f"seed {seed}: rerun with KV_SEED={seed}")
    check.finish()


if __name__ == "__main__":
    main()
