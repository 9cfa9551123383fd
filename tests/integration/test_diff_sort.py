"""SORT and SORT_RO answer seeded random commands with exactly Redis 7.0's bytes.

At least 20,000 commands go to kv and to a real redis-server: SORT and SORT_RO over lists,
sets (intsets and hashtables) and sorted sets, with BY (weight strings, hash fields through
"->", a constant pattern: no sorting), LIMIT (negative, past the end, non-integer), GET
(several, "#", missing keys, hash fields), ASC/DESC, ALPHA, STORE (over the source itself, a
GET key, a key of another type), weights that are not numbers, NaN, out of range or empty,
elements with NUL bytes, wrong types, wrong arities and syntax errors; between them the
writes that change sources and weights, and reads of the STORE destinations (LRANGE, TYPE,
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

import difftools
import kvtest

COMMAND_COUNT = 21000
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


def main():
    check = kvtest.Checker("test_diff_sort", verbose=False)
    probes = [[b"LRANGE", key, b"0", b"-1"] for key in DESTINATIONS + LISTS] + \
        [[b"TYPE", key] for key in DESTINATIONS] + \
        [[b"SORT", key, b"ALPHA"] for key in STR_SETS + INT_SETS + ZSETS] + \
        [[b"SORT", b"l0", b"BY", b"w:*", b"GET", b"#", b"GET", b"h:*->f", b"ALPHA"]] + \
        [[b"RPUSH", b"erange", b"1", b"1e400"], [b"SORT", b"erange"]]
    kvtest.differential("test_diff_sort", Generator, COMMAND_COUNT, KV_OPTIONS, probes,
                        replies_equal, check)


if __name__ == "__main__":
    main()
