"""SORT and SORT_RO answer seeded random commands with exactly Redis 7.0's bytes.

At least 20,000 commands go to kv and to a real redis-server: SORT and SORT_RO over lists,
sets (intsets and hashtables) and sorted sets, with BY (weight strings, hash fields through
"->", a constant pattern: no sorting), LIMIT (negative, past the end, non-integer), GET
(several, "#", missing keys, hash fields), ASC/DESC, ALPHA, STORE (over the source itself, a
GET key, a key of another type), weights that are not numbers, NaN, out of range or empty,
elements with NUL bytes, wrong types, wrong arities and syntax errors; between them the
writes that change sources and weights, SORT from a script (a set is then sorted ALPHA even
with a constant BY, as Redis does for replication), and reads of the STORE destinations (LRANGE, TYPE,
TTL: STORE drops an expiry).

Where Redis's order is its hashtable's (a set of strings answered without sorting, or a set
or sorted set sorted ALPHA by weights that tie), the replies are compared as multisets of rows. Redis sorts a
LIMIT window by BY with its own partial quicksort, whose order among equal ALPHA weights is
its own: the generator does not combine ALPHA, a real BY and LIMIT. A weight out of a
double's range (1e400) is probed once, at the end: Redis tests a strtod's errno without
clearing it first, so after one ERANGE its later SORTs fail on good weights too (until
something else sets errno); kv clears it.
"""
import collections
import os
import random

import difftools
import kvtest

COMMAND_COUNT = 20000
KV_OPTIONS = ["--connections-max", "16", "--hugepages", "off"]
LISTS = [b"l0", b"l1", b"l2"]
INT_SETS = [b"i0"]
STR_SETS = [b"s0", b"s1"]
ZSETS = [b"z0", b"z1"]
OTHER = [b"str", b"hash", b"none"]
DESTINATIONS = [b"d0", b"d1", b"l1", b"w:a", b"str"]
ELEMENTS = [b"0", b"1", b"2", b"3", b"10", b"-1", b"-7", b"1.5", b"2.5", b"1e2", b"a", b"b",
            b"B", b"abc", b"ab", b"", b"x y", b" 3", b"0x10", b"inf", b"-inf", b"nan", b"1e-5",
            b"007", b"10000000000000000000000"]
LIST_EXTRA = [b"a\x00z", b"a\x00b", b"\x00"]
WEIGHTS = [b"0", b"1", b"2", b"-3", b"1.5", b"9", b"10", b"x", b"", b"inf", b"-inf", b"nan",
           b"b", b"a", b"A", b" 4", b"4 ", b"\x005", b"5\x00x"]
BY_PATTERNS = [b"w:*", b"w:*", b"h:*->f", b"h:*->g", b"nosort", b"w:", b"*", b"h:*->",
               b"w:*->", b"\x00*", b"w:*\x00x", b"h:*->f\x00"]
GET_PATTERNS = [b"#", b"w:*", b"h:*->f", b"h:*->g", b"const", b"*", b"#x", b"h:*->"]


class Generator:
    def __init__(self, rnd):
        self.rnd = rnd

    def element(self, for_list=False):
        rnd = self.rnd
        if for_list and rnd.random() < 0.05:
            return rnd.choice(LIST_EXTRA)
        return rnd.choice(ELEMENTS)

    def source(self):
        return self.rnd.choice(LISTS * 3 + INT_SETS * 2 + STR_SETS * 2 + ZSETS * 2 + OTHER +
                               [b"d0"])

    def sort(self):
        rnd = self.rnd
        name = rnd.choice([b"SORT", b"SORT", b"SORT", b"sort", b"SORT_RO", b"sort_ro"])
        command = [name, self.source()]
        options = []
        has_by = rnd.random() < 0.45
        by = rnd.choice(BY_PATTERNS) if has_by else None
        alpha = rnd.random() < 0.4
        limit = rnd.random() < 0.35
        if has_by and alpha and real_by(by):
            limit = False
        if has_by:
            options.append([b"BY", by])
        if limit:
            options.append([b"LIMIT", rnd.choice([b"0", b"1", b"2", b"-1", b"5", b"x", b"100",
                                                  b"-5"]),
                            rnd.choice([b"0", b"1", b"2", b"3", b"-1", b"-2", b"10", b"y"])])
        for _ in range(rnd.choice([0, 0, 1, 1, 2, 3])):
            options.append([b"GET", rnd.choice(GET_PATTERNS)])
        if rnd.random() < 0.4:
            options.append([rnd.choice([b"ASC", b"DESC", b"desc"])])
        if alpha:
            options.append([rnd.choice([b"ALPHA", b"alpha"])])
        if rnd.random() < 0.3:
            options.append([b"STORE", rnd.choice(DESTINATIONS)])
        if rnd.random() < 0.03:
            options.append([rnd.choice([b"BOGUS", b"LIMIT", b"GET", b"BY", b"STORE"])])
        rnd.shuffle(options)
        command += [part for option in options for part in option]
        if order_free(command):
            # Redis's own order: neither a window of it nor a list stored from it compares.
            kept = [option for option in options if option[0] not in (b"LIMIT", b"STORE")]
            command = command[:2] + [part for option in kept for part in option]
        return command

    def command(self):
        rnd = self.rnd
        roll = rnd.randrange(40)
        if roll < 16:
            return self.sort()
        if roll < 19:
            key = rnd.choice(LISTS)
            return [rnd.choice([b"RPUSH", b"LPUSH"]), key] + \
                [self.element(True) for _ in range(rnd.randint(1, 6))]
        if roll == 19:
            return [b"LPOP", rnd.choice(LISTS), b"%d" % rnd.randint(1, 3)]
        if roll < 22:
            return [b"SADD", rnd.choice(INT_SETS)] + \
                [b"%d" % rnd.randint(-20, 40) for _ in range(rnd.randint(1, 6))]
        if roll < 24:
            return [b"SADD", rnd.choice(STR_SETS)] + \
                [self.element() for _ in range(rnd.randint(1, 6))]
        if roll < 26:
            pairs = []
            for _ in range(rnd.randint(1, 5)):
                pairs += [rnd.choice([b"1", b"2", b"0", b"-1", b"1.5"]), self.element()]
            return [b"ZADD", rnd.choice(ZSETS)] + pairs
        if roll < 30:
            return [b"SET", b"w:" + self.element(True), rnd.choice(WEIGHTS)]
        if roll < 32:
            return [b"HSET", b"h:" + self.element(True), rnd.choice([b"f", b"g"]),
                    rnd.choice(WEIGHTS)]
        if roll == 32:
            return [b"DEL", rnd.choice([b"w:" + self.element(), b"h:" + self.element(),
                                        self.source()])]
        if roll == 33:
            return [b"LRANGE", rnd.choice(DESTINATIONS), b"0", b"-1"]
        if roll == 34:
            return [b"TYPE", rnd.choice(DESTINATIONS)]
        if roll == 35:
            return [b"EXPIRE", rnd.choice(DESTINATIONS), b"100"]
        if roll == 36:
            return [b"TTL", rnd.choice(DESTINATIONS)]
        if roll == 37:
            return [b"SET", b"str", b"v"] if rnd.random() < 0.5 else \
                [b"HSET", b"hash", b"f", b"1"]
        if roll == 38:
            return [rnd.choice([b"SORT", b"SORT_RO"])]
        if rnd.random() < 0.5:
            # From a script Redis sorts an unsorted set ALPHA (one order for replicas).
            inner = [rnd.choice([b"SORT", b"SORT_RO"]), rnd.choice(STR_SETS + INT_SETS + LISTS),
                     b"BY", b"nosort"]
            inner += rnd.choice([[], [b"DESC"], [b"LIMIT", b"1", b"3"], [b"GET", b"#"],
                                 [b"GET", b"w:*", b"DESC"]])
            return [b"EVAL", b"return redis.call(unpack(ARGV))", b"0"] + inner
        return [b"SORT", b"l0", b"STORE", rnd.choice([b"d0", b"d1"])]

    def wire(self, command):
        return difftools.wire(self.rnd, command)


def rows(reply, command):
    """A reply's elements grouped in rows (one per sorted element: its GET values)."""
    value = kvtest.decode(reply)
    if not isinstance(value, list):
        return None
    gets = sum(1 for index, part in enumerate(command[2:]) if part.upper() == b"GET" and
               index + 3 < len(command) and command[index + 1].upper() not in (b"BY", b"GET"))
    width = max(1, gets)
    return collections.Counter(tuple(value[i:i + width]) for i in range(0, len(value), width))


def real_by(pattern):
    """Whether a BY pattern names weight keys (a '*' before any NUL), else it sorts nothing."""
    return b"*" in pattern.split(b"\x00")[0]


def order_free(command):
    """Whether Redis's order of the reply is its hashtable's: a set of strings not sorted
    (a constant BY), or a set or sorted set sorted ALPHA by weights that may tie."""
    if command[0].upper() not in (b"SORT", b"SORT_RO") or len(command) < 2:
        return False
    upper = [part.upper() for part in command]
    by = [command[index + 1] for index in range(2, len(command) - 1) if upper[index] == b"BY"]
    if not by:
        return False
    dontsort = not all(real_by(pattern) for pattern in by)  # Redis never undoes it
    stored = command[0].upper() == b"SORT" and b"STORE" in upper[2:-1]
    if command[1] in STR_SETS and dontsort:
        return not stored  # stored, Redis sorts the set ALPHA instead
    return command[1] in STR_SETS + ZSETS and not dontsort and b"ALPHA" in upper


def replies_equal(command, want, got):
    if want == got:
        return True
    if order_free(command) and not want.startswith(b"-"):
        return rows(want, command) == rows(got, command)
    return difftools.replies_equal(command, want, got)


BIG_LIST, BIG_ZSET, BIG_SET, BIG_INTS = b"bl", b"bz", b"bs", b"bi"
LARGE_COUNT = 200


def large(check):
    """Sources past their compact forms (a list of many nodes, a sorted-set tree, a set table,
    an intset grown to a table), sorted by themselves, by weights and with GET, LIMIT and
    STORE; LARGE_COUNT commands compared (no set sorted in Redis's own order)."""
    seed = int(os.environ.get("KV_SEED") or random.randrange(1 << 32))
    print(f"large sources: seed {seed}")
    rnd = random.Random(seed)
    fill = [[b"RPUSH", BIG_LIST] + [b"%d" % rnd.randint(-500, 500) for _ in range(800)],
            [b"ZADD", BIG_ZSET] + [part for index in range(400)
                                   for part in (b"%d" % rnd.randint(0, 50), b"m%d" % index)],
            [b"SADD", BIG_SET] + [b"s%d" % rnd.randint(0, 2000) for _ in range(600)],
            [b"SADD", BIG_INTS] + [b"%d" % rnd.randint(0, 5000) for _ in range(700)]]
    fill += [[b"SET", b"w:m%d" % index, b"%d" % rnd.randint(0, 100000)] for index in range(0, 400, 3)]
    fill += [[b"SET", b"w:%d" % value, b"%d" % rnd.randint(0, 99)] for value in range(-500, 500, 7)]
    with kvtest.start_kv(*KV_OPTIONS) as kv, kvtest.start_redis() as redis:
        with kv.connect() as kv_client, redis.connect() as redis_client:
            for command in fill:
                check.equal(f"fill {command[:2]}", redis_client.call(*command),
                            kv_client.call(*command))
            compared = 0
            for _ in range(LARGE_COUNT):
                key = rnd.choice([BIG_LIST, BIG_ZSET, BIG_SET, BIG_INTS])
                command = [b"SORT", key]
                if rnd.random() < 0.5:
                    command += [b"BY", b"w:*"]
                elif key in (BIG_LIST, BIG_ZSET) and rnd.random() < 0.3:
                    command += [b"BY", b"nosort"]
                if key in (BIG_SET, BIG_ZSET) or rnd.random() < 0.3:
                    if b"BY" not in command:
                        command.append(b"ALPHA")
                if rnd.random() < 0.7 and not (b"ALPHA" in command and b"w:*" in command):
                    command += [b"LIMIT", b"%d" % rnd.randint(-5, 700), b"%d" % rnd.randint(-2, 300)]
                if rnd.random() < 0.3:
                    command += [b"GET", rnd.choice([b"#", b"w:*"])]
                if rnd.random() < 0.3:
                    command.append(b"DESC")
                if rnd.random() < 0.2:
                    command += [b"STORE", b"dst"]
                want, got = redis_client.call(*command), kv_client.call(*command)
                if want != got:
                    check.equal(f"reply to {kvtest.shorten(command, 200)}", want, got)
                    break
                compared += 1
            check.true(f"large sources: {compared} of {LARGE_COUNT} replies equal", compared == LARGE_COUNT,
                       f"seed {seed}")
            probe = [b"LRANGE", b"dst", b"0", b"-1"]
            check.equal("the last STORE", redis_client.call(*probe), kv_client.call(*probe))


def bounded(check):
    """A sort whose work does not fit the heap answers Redis's OOM error and changes
    nothing: the heap holds the list but not a vector of its elements."""
    with kvtest.start_kv("--hugepages", "off", "--maxmemory", "8mb") as kv, \
            kv.connect() as client:
        for _ in range(40):
            client.call("RPUSH", "big", *([b"7", b"3", b"5", b"1"] * 2500))
        check.equal("the list fits", b":400000\r\n", client.call("LLEN", "big"))
        before = kvtest.info(client, "memory").get("kv_heap_allocations")
        check.starts("SORT past the heap", b"-OOM", client.call("SORT", "big"))
        check.starts("SORT ... STORE past the heap", b"-OOM",
                     client.call("SORT", "big", "STORE", "dst"))
        check.equal("no destination", b":0\r\n", client.call("EXISTS", "dst"))
        check.equal("every byte of the work went back", before,
                    kvtest.info(client, "memory").get("kv_heap_allocations"))
        check.equal("a window still sorts (LIMIT loads it all, as Redis does)",
                    b"-OOM", client.call("SORT", "big", "LIMIT", "0", "2")[:4])
        check.equal("BY nosort LIMIT loads only the window",
                    b"*2\r\n$1\r\n7\r\n$1\r\n3\r\n",
                    client.call("SORT", "big", "BY", "nosort", "LIMIT", "0", "2"))


def main():
    check = kvtest.Checker("test_diff_sort", verbose=False)
    large(check)
    bounded(check)
    probes = [[b"LRANGE", key, b"0", b"-1"] for key in DESTINATIONS + LISTS] + \
        [[b"TYPE", key] for key in DESTINATIONS] + \
        [[b"SORT", key, b"ALPHA"] for key in STR_SETS + INT_SETS + ZSETS] + \
        [[b"SORT", b"l0", b"BY", b"w:*", b"GET", b"#", b"GET", b"h:*->f", b"ALPHA"]] + \
        [[b"RPUSH", b"erange", b"1", b"1e400"], [b"SORT", b"erange"]]
    kvtest.differential("test_diff_sort", Generator, COMMAND_COUNT, KV_OPTIONS, probes,
                        replies_equal, check)


if __name__ == "__main__":
    main()
