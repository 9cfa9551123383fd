"""COPY answers seeded random commands with exactly Redis 7.0's bytes, and copies every type.

At least 20,000 commands go to kv and to a real redis-server: COPY with REPLACE, DB 0, DB out
of range (16, -1, past 32 bits, not a number), unknown options, the same key, absent sources
and present destinations; between them writes of every type (strings, lists grown past a
pack, hashes, sets of integers and of strings grown past their compact forms, sorted sets
grown to trees, streams with consumer groups, consumers and pending entries), expiry times
(EXPIRE, PERSIST), and reads of every key by its type (GET, LRANGE, HGETALL, SMEMBERS,
ZRANGE WITHSCORES, XRANGE, XINFO GROUPS, XPENDING's summary, TTL), so each copy is compared
whole, then its source and copy changed apart. Hashes and sets past their compact forms are
compared as multisets (a hashtable's order is Redis's own). COPY ... DB 1 copies into
database 1 (checked on kv alone; test_diff_databases compares it with Redis). A copy past the memory
budget answers Redis's OOM error and leaves no partial destination.
"""
import collections

import difftools
import kvtest

COMMAND_COUNT = 20000
KV_OPTIONS = ["--connections-max", "16", "--hugepages", "off"]
KEYS = [b"k0", b"k1", b"k2", b"k3", b"k4", b"k5", b"", b"\x00k"]
ELEMENTS = [b"a", b"b", b"c", b"1", b"2", b"-5", b"", b"x y", b"\x00\xff", b"long" * 20]


class Generator:
    def __init__(self, rnd):
        self.rnd = rnd
        self.stream_ms = 1

    def element(self):
        rnd = self.rnd
        return rnd.choice(ELEMENTS) if rnd.random() < 0.6 else b"e%d" % rnd.randrange(700)

    def write(self, key):
        rnd = self.rnd
        roll = rnd.randrange(12)
        many = rnd.random() < 0.1
        count = rnd.randint(50, 300) if many else rnd.randint(1, 4)
        if roll == 0:
            return [b"SET", key, self.element()]
        if roll in (1, 2):
            return [b"RPUSH", key] + [self.element() for _ in range(count)]
        if roll == 3:
            return [b"HSET", key] + [part for _ in range(count)
                                     for part in (self.element(), self.element())]
        if roll == 4:
            return [b"SADD", key] + [b"%d" % rnd.randint(-50, 1000) for _ in range(count)]
        if roll == 5:
            return [b"SADD", key] + [self.element() for _ in range(count)]
        if roll == 6:
            return [b"ZADD", key] + [part for _ in range(count)
                                     for part in (b"%d" % rnd.randint(-9, 9), self.element())]
        if roll == 7:
            self.stream_ms += rnd.randint(0, 2)
            fields = [part for _ in range(rnd.choice([1, 1, 2, 70]))
                      for part in (self.element(), self.element())]
            return [b"XADD", key, b"%d-*" % self.stream_ms] + fields
        if roll == 8:
            return [b"XGROUP", b"CREATE", key, rnd.choice([b"g1", b"g2"]),
                    rnd.choice([b"0", b"$"])]
        if roll == 9:
            return [b"XREADGROUP", b"GROUP", rnd.choice([b"g1", b"g2"]),
                    rnd.choice([b"c1", b"c2"]), b"COUNT", b"%d" % rnd.randint(1, 3),
                    b"STREAMS", key, b">"]
        if roll == 10:
            return [b"EXPIRE", key, b"%d" % rnd.randint(100, 1000)]
        return [b"PERSIST", key]

    def read(self, key):
        rnd = self.rnd
        return rnd.choice([[b"TYPE", key], [b"GET", key], [b"LRANGE", key, b"0", b"-1"],
                           [b"HGETALL", key], [b"SMEMBERS", key],
                           [b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"], [b"XRANGE", key, b"-",
                                                                        b"+"],
                           [b"XINFO", b"GROUPS", key], [b"XPENDING", key, b"g1"],
                           [b"XPENDING", key, b"g2"], [b"TTL", key], [b"OBJECT", b"ENCODING", key]
                           if False else [b"EXISTS", key], [b"XLEN", key]])

    def copy(self):
        rnd = self.rnd
        command = [difftools.mixed_case(rnd, b"COPY"), rnd.choice(KEYS), rnd.choice(KEYS)]
        options = []
        if rnd.random() < 0.5:
            options.append([rnd.choice([b"REPLACE", b"replace"])])
        if rnd.random() < 0.3:
            options.append([b"DB", rnd.choice([b"0", b"0", b"1", b"16", b"-1", b"x", b"4294967296",
                                               b"9223372036854775808"])])
        if rnd.random() < 0.03:
            options.append([rnd.choice([b"BOGUS", b"DB"])])
        rnd.shuffle(options)
        return command + [part for option in options for part in option]

    def command(self):
        rnd = self.rnd
        roll = rnd.randrange(20)
        if roll < 6:
            return self.copy()
        if roll < 12:
            return self.read(rnd.choice(KEYS))
        if roll < 19:
            return self.write(rnd.choice(KEYS))
        return rnd.choice([[b"DEL", rnd.choice(KEYS)], [b"COPY", b"k0"], [b"copy"]])

    def wire(self, command):
        return difftools.wire(self.rnd, command)


def unordered(reply, width):
    value = kvtest.decode(reply)
    if not isinstance(value, list):
        return value
    return collections.Counter(tuple(value[i:i + width]) for i in range(0, len(value), width))


def replies_equal(command, want, got):
    if want == got:
        return True
    name = command[0].upper()
    if name == b"HGETALL":
        return unordered(want, 2) == unordered(got, 2)
    if name == b"SMEMBERS":
        return unordered(want, 1) == unordered(got, 1)
    return difftools.replies_equal(command, want, got)


def kv_alone(check):
    with kvtest.start_kv(*KV_OPTIONS) as kv, kv.connect() as client:
        client.call("SET", "a", "1")
        check.equal("COPY ... DB 1", b":1\r\n", client.call("COPY", "a", "b", "DB", "1"))
        check.equal("nothing was copied into database 0", b":0\r\n", client.call("EXISTS", "b"))
        client.call("SELECT", "1")
        check.equal("the copy is in database 1", b"$1\r\n1\r\n", client.call("GET", "b"))
        client.call("SELECT", "0")
        client.call("RPUSH", "l", *[b"x" * 100] * 500)
        client.call("PEXPIRE", "l", "100000")
        # A first copy and its deletion: the dicts keep the bucket arrays it made them take.
        client.call("COPY", "l", "m")
        client.call("DEL", "m")
        before = kvtest.info(client, "memory").get("kv_heap_allocations")
        check.equal("a big list copied", b":1\r\n", client.call("COPY", "l", "m"))
        check.true("its TTL came along", 0 < kvtest.decode(client.call("PTTL", "m")) <= 100000)
        check.equal("the copy deleted", b":1\r\n", client.call("DEL", "m"))
        check.equal("every allocation of the copy went back", before,
                    kvtest.info(client, "memory").get("kv_heap_allocations"))


def out_of_memory(check):
    """A copy the heap cannot hold stops mid-way: Redis's OOM error, no destination left,
    the source whole, every byte of the partial copy given back."""
    with kvtest.start_kv("--hugepages", "off", "--maxmemory", "16mb") as kv, \
            kv.connect() as client:
        limit = int(kvtest.info(client, "memory").get("kv_data_limit_bytes"))
        value = b"v" * 200
        pushed = 0
        while int(kvtest.info(client, "memory").get("used_memory")) < limit * 0.6:
            client.call("RPUSH", "src", *([value] * 2000))
            pushed += 2000
        # A key made and deleted first: the keyspace keeps the bucket array it then takes.
        client.call("SET", "dst", "x")
        client.call("DEL", "dst")
        before = kvtest.info(client, "memory").get("kv_heap_allocations")
        check.starts("COPY past the budget", b"-OOM", client.call("COPY", "src", "dst"))
        check.equal("no destination", b":0\r\n", client.call("EXISTS", "dst"))
        check.equal("the source is whole", b":%d\r\n" % pushed, client.call("LLEN", "src"))
        check.equal("the partial copy went back", before,
                    kvtest.info(client, "memory").get("kv_heap_allocations"))


def main():
    check = kvtest.Checker("test_diff_copy", verbose=False)
    kv_alone(check)
    out_of_memory(check)
    probes = []
    for key in KEYS:
        probes += [[b"TYPE", key], [b"LRANGE", key, b"0", b"-1"], [b"HGETALL", key],
                   [b"SMEMBERS", key], [b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"],
                   [b"XRANGE", key, b"-", b"+"], [b"XINFO", b"GROUPS", key], [b"GET", key]]
    kvtest.differential("test_diff_copy", Generator, COMMAND_COUNT, KV_OPTIONS, probes,
                        replies_equal, check)


if __name__ == "__main__":
    main()
