#!/usr/bin/env python3
"""OBJECT ENCODING answers what Redis 7.0 answers for the same writes and thresholds.

A seeded stream of at least 20,000 commands of every family goes to kv and to a real
redis-server 7.0, every reply compared byte for byte; after most writes the next command is
OBJECT ENCODING of the key written (and now and then OBJECT REFCOUNT or an encoding of any
key), so every write path is checked against Redis's rule, not only the final state:
- strings: SET and its forms, GETSET, SET ... GET, MSET, APPEND, SETRANGE (an empty value
  included), INCR/DECR/INCRBY/DECRBY, INCRBYFLOAT (whose "3" is embstr, not int), SETBIT,
  BITFIELD, BITOP, PFADD, GETEX, COPY and RENAME, over values at the edges: 44/45 bytes, 20
  digits in and out of range, "-0", "01", " 1", "+1", 0..9999 (shared integers: REFCOUNT);
- hashes (HSET of one to 140 pairs, HSETNX, HINCRBY, HINCRBYFLOAT, HDEL), sets (SADD of
  integers and not, SREM, SMOVE, SINTERSTORE/SUNIONSTORE/SDIFFSTORE, SPOP of most of a set:
  Redis rebuilds the rest), sorted sets (ZADD with its flags, ZINCRBY, ZREM, ZPOPMIN, the
  STORE forms, ZRANGESTORE, GEOADD, GEOSEARCHSTORE), lists (RPUSH, SORT ... STORE) and
  streams, grown across 127/128/129 entries and 64/65-byte fields, values and members;
- CONFIG SET of hash-max-listpack-entries/-value, their ziplist aliases,
  set-max-intset-entries and zset-max-listpack-entries/-value (and aliases) at random points,
  0 included (a zset is then a skiplist at once).
SPOP's members are random on both servers: its reply is compared by its count only, on a set
that holds integers only (so what stays has one encoding whichever members left), and
only ever gains members it never held (so that SADD's count does not depend on which left).
"""
import difftools
import kvtest

COMMAND_COUNT = 21000
KV_OPTIONS = ["--connections-max", "16", "--key-count", "64", "--key-size-max", "256",
              "--val-size-max", "16384", "--list-length-max", "1000", "--hugepages", "off"]

STRING_KEYS = [b"s0", b"s1", b"s2", b""]
HASH_KEYS = [b"h0", b"h1", b"h2"]
SET_KEYS = [b"t0", b"t1", b"t2"]
POP_KEY = b"sp"
ZSET_KEYS = [b"z0", b"z1", b"z2"]
GEO_KEY = b"g0"
LIST_KEYS = [b"l0", b"l1"]
STREAM_KEY = b"x0"
ALL_KEYS = STRING_KEYS + HASH_KEYS + SET_KEYS + [POP_KEY] + ZSET_KEYS + [GEO_KEY] + \
    LIST_KEYS + [STREAM_KEY] + [b"missing"]

STRINGS = [b"0", b"1", b"-1", b"9999", b"10000", b"123", b"-123", b"9223372036854775807",
           b"-9223372036854775808", b"9223372036854775808", b"12345678901234567890",
           b"-1234567890123456789", b"-0", b"01", b" 1", b"1 ", b"+1", b"1.5", b"", b"abc",
           b"x" * 43, b"x" * 44, b"x" * 45, b"7" * 20, b"7" * 21, b"y" * 100, b"3.0", b"1e3"]
INCREMENTS = [b"1", b"-1", b"0", b"5", b"9998", b"10000", b"-10000", b"x", b"1.5"]
FLOATS = [b"1", b"0", b"-1", b"1.5", b"-1.5", b"1e3", b"3", b"0.1", b"1e30", b"x"]
ENTRY_LIMITS = [b"0", b"1", b"2", b"3", b"4", b"127", b"128", b"129", b"512"]
VALUE_LIMITS = [b"0", b"1", b"10", b"44", b"63", b"64", b"65", b"100"]
HASH_ENTRY_NAMES = [b"hash-max-listpack-entries", b"hash-max-ziplist-entries"]
HASH_VALUE_NAMES = [b"hash-max-listpack-value", b"hash-max-ziplist-value"]
ZSET_ENTRY_NAMES = [b"zset-max-listpack-entries", b"zset-max-ziplist-entries"]
ZSET_VALUE_NAMES = [b"zset-max-listpack-value", b"zset-max-ziplist-value"]
SET_MEMBERS = [b"1", b"2", b"3", b"-5", b"0", b"9223372036854775807", b"-9223372036854775808",
               b"9223372036854775808", b"-0", b"01", b" 1", b"+1", b"1.0", b"a", b"b", b"c"]


def sized(rnd, prefix, lengths=(1, 10, 63, 64, 65, 100)):
    """A name of one of the lengths around the 64-byte threshold."""
    length = rnd.choice(lengths)
    return (prefix * length)[:length]


class Generator:
    def __init__(self, rnd):
        self.rnd = rnd
        self.pending = []
        self.stream_id = 0
        self.pop_next = 0
        self.pop_size = 0  # members of POP_KEY (the same on both servers)

    def wire(self, command):
        return difftools.wire(self.rnd, command)

    def command(self):
        if not self.pending:
            command, key = self.write()
            self.pending.append(command)
            rnd = self.rnd
            if key is not None and rnd.random() < 0.7:
                self.pending.append([b"OBJECT", b"ENCODING", key])
            if key in STRING_KEYS and rnd.random() < 0.3:
                self.pending.append([b"OBJECT", b"REFCOUNT", key])
            if rnd.random() < 0.05:
                self.pending.append([b"OBJECT", difftools.mixed_case(rnd, b"ENCODING"),
                                     rnd.choice(ALL_KEYS)])
        return self.pending.pop(0)

    def write(self):
        roll = self.rnd.randrange(100)
        if roll < 3:
            return self.config(), None
        if roll < 28:
            return self.string()
        if roll < 46:
            return self.hash()
        if roll < 64:
            return self.set()
        if roll < 88:
            return self.zset()
        if roll < 93:
            return self.other()
        key = self.rnd.choice(ALL_KEYS)
        name = self.rnd.choice([b"DEL", b"TYPE", b"EXISTS"])
        if name == b"DEL" and key == POP_KEY:
            self.pop_size = 0
        return [name, key], key

    def config(self):
        rnd = self.rnd
        kind = rnd.randrange(5)
        if kind == 0:
            return [b"CONFIG", b"SET", rnd.choice(HASH_ENTRY_NAMES), rnd.choice(ENTRY_LIMITS)]
        if kind == 1:
            return [b"CONFIG", b"SET", rnd.choice(HASH_VALUE_NAMES), rnd.choice(VALUE_LIMITS)]
        if kind == 2:
            return [b"CONFIG", b"SET", b"set-max-intset-entries", rnd.choice(ENTRY_LIMITS)]
        if kind == 3:
            return [b"CONFIG", b"SET", rnd.choice(ZSET_ENTRY_NAMES), rnd.choice(ENTRY_LIMITS)]
        return [b"CONFIG", b"SET", rnd.choice(ZSET_VALUE_NAMES), rnd.choice(VALUE_LIMITS)]

    def string(self):
        rnd = self.rnd
        key = rnd.choice(STRING_KEYS)
        value = rnd.choice(STRINGS)
        roll = rnd.randrange(24)
        if roll < 4:
            options = rnd.choice([[], [], [b"EX", b"100"], [b"GET"], [b"NX"], [b"XX"],
                                  [b"KEEPTTL"], [b"PX", b"100000", b"GET"]])
            return [b"SET", key, value] + options, key
        if roll == 4:
            return [rnd.choice([b"SETNX", b"GETSET"]), key, value], key
        if roll == 5:
            return [b"SETEX", key, b"100", value], key
        if roll == 6:
            other = rnd.choice(STRING_KEYS)
            return [b"MSET", key, value, other, rnd.choice(STRINGS)], key
        if roll < 9:
            return [b"APPEND", key, rnd.choice(STRINGS[:8] + [b"", b"z"])], key
        if roll == 9:
            return [b"SETRANGE", key, rnd.choice([b"0", b"1", b"5", b"44", b"50"]),
                    rnd.choice([b"", b"a", b"12"])], key
        if roll < 13:
            name = rnd.choice([b"INCR", b"DECR", b"INCRBY", b"DECRBY"])
            if name in (b"INCR", b"DECR"):
                return [name, key], key
            return [name, key, rnd.choice(INCREMENTS)], key
        if roll < 15:
            return [b"INCRBYFLOAT", key, rnd.choice(FLOATS)], key
        if roll == 15:
            return [b"SETBIT", key, rnd.choice([b"0", b"7", b"100", b"400"]),
                    rnd.choice([b"0", b"1"])], key
        if roll == 16:
            ops = rnd.choice([[b"GET", b"u8", b"0"], [b"SET", b"u8", b"0", b"49"],
                              [b"INCRBY", b"i8", b"8", b"1"],
                              [b"OVERFLOW", b"FAIL", b"INCRBY", b"u2", b"0", b"9"]])
            return [b"BITFIELD", key] + ops, key
        if roll == 17:
            return [b"BITOP", rnd.choice([b"OR", b"AND", b"NOT"]), key,
                    rnd.choice(STRING_KEYS)], key
        if roll == 18:
            return [b"PFADD", key, rnd.choice([b"a", b"b", b"c"])], key
        if roll == 19:
            return [rnd.choice([b"GETEX", b"GETDEL"]), key], key
        if roll == 20:
            target = rnd.choice(STRING_KEYS)
            return [b"COPY", rnd.choice(STRING_KEYS), target, b"REPLACE"], target
        if roll == 21:
            target = rnd.choice(STRING_KEYS)
            return [b"RENAME", rnd.choice(STRING_KEYS), target], target
        return [b"GET", key], key

    def hash_pairs(self, count):
        rnd = self.rnd
        pairs = []
        for _ in range(count):
            field = (b"f%d" % rnd.randrange(150)) if rnd.random() < 0.9 else sized(rnd, b"F")
            value = rnd.choice([b"1", b"v", b"-3", sized(rnd, b"v")])
            pairs += [field, value]
        return pairs

    def hash(self):
        rnd = self.rnd
        key = rnd.choice(HASH_KEYS)
        roll = rnd.randrange(16)
        if roll < 5:
            return [rnd.choice([b"HSET", b"HMSET"]), key] + \
                self.hash_pairs(rnd.randint(1, 3)), key
        if roll == 5:
            return [b"HSET", key] + self.hash_pairs(rnd.randint(120, 140)), key
        if roll < 8:
            return [b"HSETNX", key] + self.hash_pairs(1), key
        if roll == 8:
            return [b"HINCRBY", key, rnd.choice([b"n", sized(rnd, b"N")]),
                    rnd.choice(INCREMENTS)], key
        if roll == 9:
            return [b"HINCRBYFLOAT", key, rnd.choice([b"n", sized(rnd, b"N")]),
                    rnd.choice(FLOATS + [b"1e60"])], key
        if roll < 13:
            return [b"HDEL", key] + [b"f%d" % rnd.randrange(150)
                                     for _ in range(rnd.randint(1, 60))], key
        if roll == 13:
            target = rnd.choice(HASH_KEYS)
            return [b"COPY", key, target, b"REPLACE"], target
        if roll == 14:
            target = rnd.choice(HASH_KEYS)
            return [b"RENAME", key, target], target
        return [b"HLEN", key], key

    def set_members(self, count, integers_only=False):
        rnd = self.rnd
        members = []
        for _ in range(count):
            if integers_only or rnd.random() < 0.85:
                members.append(b"%d" % rnd.randrange(-5, 200))
            else:
                members.append(rnd.choice(SET_MEMBERS))
        return members

    def set(self):
        rnd = self.rnd
        key = rnd.choice(SET_KEYS)
        roll = rnd.randrange(20)
        if roll < 5:
            return [b"SADD", key] + self.set_members(rnd.randint(1, 3)), key
        if roll == 5:
            return [b"SADD", key] + self.set_members(rnd.randint(120, 140)), key
        if roll < 8:
            return [b"SREM", key] + [b"%d" % rnd.randrange(-5, 200)
                                     for _ in range(rnd.randint(1, 40))] + \
                [rnd.choice(SET_MEMBERS)], key
        if roll == 8:
            target = rnd.choice(SET_KEYS)
            return [b"SMOVE", key, target, rnd.choice(self.set_members(1))], target
        if roll < 11:
            target = rnd.choice(SET_KEYS + [b"t3"])
            name = rnd.choice([b"SINTERSTORE", b"SUNIONSTORE", b"SDIFFSTORE"])
            return [name, target] + rnd.sample(SET_KEYS, rnd.randint(1, 3)), target
        if roll < 13 and self.pop_size > 600:
            self.pop_size = 0
            return [b"DEL", POP_KEY], POP_KEY  # below kv's --list-length-max
        if roll < 13:
            # Members never used before: what SPOP left differs between the servers, so
            # only new members keep SADD's count the same.
            count = rnd.choice([1, 2, 3, 126, 127, 128, 129, 130])
            self.pop_next += count
            self.pop_size += count
            members = [b"%d" % ((self.pop_next - index) * (1 if index % 2 else -1))
                       for index in range(count)]
            return [b"SADD", POP_KEY] + members, POP_KEY
        if roll < 16:
            count = rnd.choice([1, 2, 5, 20, 60, 100, 120, 127])
            self.pop_size = max(0, self.pop_size - count)
            return [b"SPOP", POP_KEY, b"%d" % count], POP_KEY
        if roll == 16:
            target = rnd.choice(SET_KEYS)
            return [b"COPY", key, target, b"REPLACE"], target
        if roll == 17:
            return [b"SCARD", POP_KEY], POP_KEY
        return [b"SCARD", key], key

    def zset_pairs(self, count):
        rnd = self.rnd
        pairs = []
        for _ in range(count):
            member = (b"m%d" % rnd.randrange(150)) if rnd.random() < 0.9 else sized(rnd, b"M")
            pairs += [b"%d" % rnd.randrange(-3, 10), member]
        return pairs

    def zset(self):
        rnd = self.rnd
        key = rnd.choice(ZSET_KEYS)
        roll = rnd.randrange(24)
        if roll < 6:
            flags = rnd.choice([[], [], [], [b"NX"], [b"XX"], [b"GT"], [b"LT"], [b"CH"],
                                [b"INCR"]])
            pairs = self.zset_pairs(1 if flags == [b"INCR"] else rnd.randint(1, 3))
            return [b"ZADD", key] + flags + pairs, key
        if roll == 6:
            return [b"ZADD", key] + self.zset_pairs(rnd.randint(120, 140)), key
        if roll == 7:
            return [b"ZINCRBY", key, b"2", self.zset_pairs(1)[1]], key
        if roll < 10:
            return [b"ZREM", key] + [b"m%d" % rnd.randrange(150)
                                     for _ in range(rnd.randint(1, 60))], key
        if roll == 10:
            return [b"ZPOPMIN", key, rnd.choice([b"1", b"5", b"50"])], key
        if roll < 14:
            target = rnd.choice(ZSET_KEYS + [b"z3"])
            sources = rnd.sample(ZSET_KEYS, rnd.randint(1, 3))
            name = rnd.choice([b"ZUNIONSTORE", b"ZINTERSTORE", b"ZDIFFSTORE"])
            return [name, target, b"%d" % len(sources)] + sources, target
        if roll < 16:
            target = rnd.choice(ZSET_KEYS + [b"z3"])
            form = rnd.choice([[b"0", rnd.choice([b"0", b"2", b"126", b"127", b"128", b"-1"])],
                               [b"-inf", b"+inf", b"BYSCORE"],
                               [b"0", b"5", b"BYSCORE", b"LIMIT", b"0",
                                rnd.choice([b"1", b"129"])]])
            return [b"ZRANGESTORE", target, key] + form, target
        if roll < 19:
            points = []
            for _ in range(rnd.randint(1, 3)):
                member = rnd.choice([b"p%d" % rnd.randrange(150), sized(rnd, b"P")])
                points += [b"%d" % rnd.randrange(-10, 10), b"%d" % rnd.randrange(-10, 10),
                           member]
            flags = rnd.choice([[], [], [b"NX"], [b"XX"], [b"CH"]])
            return [b"GEOADD", GEO_KEY] + flags + points, GEO_KEY
        if roll == 19:
            target = rnd.choice(ZSET_KEYS + [b"z3"])
            return [b"GEOSEARCHSTORE", target, GEO_KEY, b"FROMLONLAT", b"0", b"0",
                    b"BYRADIUS", rnd.choice([b"500", b"2000"]), b"km", b"ASC"], target
        if roll == 20:
            target = rnd.choice(ZSET_KEYS)
            return [b"COPY", key, target, b"REPLACE"], target
        if roll == 21:
            target = rnd.choice(ZSET_KEYS)
            return [b"RENAME", key, target], target
        return [b"ZCARD", key], key

    def other(self):
        rnd = self.rnd
        roll = rnd.randrange(4)
        if roll == 0:
            key = rnd.choice(LIST_KEYS)
            return [b"RPUSH", key] + [b"e"] * rnd.randint(1, 5), key
        if roll == 1:
            target = rnd.choice(LIST_KEYS)
            return [b"SORT", rnd.choice(SET_KEYS + [POP_KEY]), b"ALPHA", b"STORE", target], \
                target
        self.stream_id += 1
        return [b"XADD", STREAM_KEY, b"%d-1" % self.stream_id, b"f", b"v"], STREAM_KEY


def replies_equal(command, want, got):
    """SPOP's members are random on both servers: its count (or kind) is compared."""
    if command[0] == b"SPOP":
        return want.split(b"\r\n", 1)[0] == got.split(b"\r\n", 1)[0]
    return difftools.replies_equal(command, want, got)


def main():
    probes = [[b"OBJECT", b"ENCODING", key] for key in ALL_KEYS] + \
        [[b"OBJECT", b"REFCOUNT", key] for key in STRING_KEYS]
    kvtest.differential("test_diff_encoding", Generator, COMMAND_COUNT, KV_OPTIONS, probes,
                        replies_equal)


if __name__ == "__main__":
    main()
