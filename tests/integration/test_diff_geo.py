"""The geo family answers seeded random commands with exactly Redis's bytes.

At least 20,000 commands of GEOADD (NX, XX, CH, their conflicts, invalid and limit
coordinates: +-180 and +-85.05112878, just past them, not numbers), GEOPOS, GEOHASH, GEODIST
(m, km, ft, mi, an unknown unit), GEOSEARCH and GEOSEARCHSTORE (FROMMEMBER, FROMLONLAT,
BYRADIUS, BYBOX, ASC, DESC, COUNT, ANY, WITHCOORD, WITHDIST, WITHHASH, STOREDIST),
GEORADIUS and GEORADIUSBYMEMBER (STORE, STOREDIST) and their _RO forms, with radii and boxes
from zero to the whole earth in every unit, options in random order, bad values and missing
ones, wrong arities, mixed-case names, a string key (WRONGTYPE), ZADD of scores no GEOADD
gives and ZREM on the same keys, and each stored destination read back with ZRANGE
WITHSCORES, go to kv and to a real redis-server 7.0; every reply must be identical
(coordinates printed with 17 decimals, distances with 4). One set grows past 128 members (a
skiplist in Redis, a tree in kv), others stay small (listpacks, packs). Then the same stream
over RESP3 (coordinates are doubles there): 20,000 commands in all. Redis's documented
answers (GEODIST, GEOHASH, GEOPOS, GEOSEARCH WITHDIST of Palermo and Catania) are checked as
constants. A set of 3,000 members is searched whole (every field, both orders, COUNT, ANY) and
stored (STOREDIST, and STORE onto the source itself), with kv's heap allocation count equal
before and after the read-only searches: the temporary arrays go back. The seed is printed;
KV_SEED=<n> replays it.

Ties: the set of limit coordinates (g2) holds many members at equal distances from a centre
(the same point, or points mirrored across it), searched with and without COUNT: a COUNT below
the points found takes Redis's partial quicksort, which orders equal distances its own way, and
kv must order them the same; without it, glibc's stable merge sort. 160 players on three
spawn points are searched with every kind of COUNT as a fixed check of the same.
"""
import os
import random

import difftools
import kvtest
import test_diff_resp3

# 20,000 commands in all: most over RESP2, the rest over RESP3.
COMMAND_COUNT = 18500
RESP3_COUNT = 1500
KV_OPTIONS = ["--connections-max", "16", "--key-count", "64", "--key-size-max", "64",
              "--val-size-max", "64", "--list-length-max", "4000", "--hugepages", "off"]
LARGE_COUNT = 3000
# g0: many members (past 128: a skiplist); g1: few; g2: the limit coordinates (ties).
RANDOM_KEYS = [b"g0", b"g1"]
TIE_KEY = b"g2"
DESTINATIONS = [b"d0", b"d1", b"g1", b"s"]
STRING_KEY = b"s"
MISSING_KEY = b"nokey"
MEMBERS = {b"g0": [b"m%d" % index for index in range(220)],
           b"g1": [b"p%d" % index for index in range(30)] + [b"", b"\x00x", b"a b"],
           b"g2": [b"e%d" % index for index in range(24)]}
LIMIT_LONGITUDES = [b"180", b"-180", b"0", b"179.99999999", b"-179.9999999", b"90", b"-90",
                    b"180.0", b"-180.000"]
LIMIT_LATITUDES = [b"85.05112878", b"-85.05112878", b"0", b"85.05112877", b"-85.0511287",
                   b"45", b"-45", b"85.051128780"]
BAD_LONGITUDES = [b"180.0000001", b"-180.00001", b"200", b"-1000", b"abc", b"", b"inf",
                  b"-inf", b"nan", b"1e400", b" 1", b"1e6", b"0x10"]
BAD_LATITUDES = [b"85.05112879", b"-85.0511288", b"90", b"-90", b"abc", b"", b"inf", b"1e90"]
UNITS = [b"m", b"km", b"ft", b"mi", b"M", b"KM", b"Ft", b"mI"]
BAD_UNITS = [b"yd", b"", b"kms", b"meters"]
RADII = [b"0", b"1", b"10", b"100", b"500", b"1000", b"5000", b"20000", b"50000", b"0.5",
         b"123.456", b"1e-3", b"3e6", b"1e7", b"2e7", b"40000000"]
BAD_RADII = [b"-1", b"abc", b"", b"nan", b"-0.001"]
COUNTS = [b"1", b"2", b"3", b"5", b"10", b"100", b"1000"]
BAD_COUNTS = [b"0", b"-1", b"x", b"", b"1.5", b"99999999999999999999"]
# Clusters the random sets gather around (longitude, latitude, spread in degrees).
CENTRES = [(13.361389, 38.115556, 2.0), (-122.4, 37.7, 0.5), (179.5, 10.0, 1.0),
           (-179.8, -20.0, 0.8), (2.35, 48.85, 5.0), (0.0, 84.5, 0.6), (45.0, -84.9, 0.3),
           (139.7, 35.7, 20.0)]


def clamp(value, low, high):
    return min(max(value, low), high)


class Generator:
    def __init__(self, rnd):
        self.rnd = rnd
        self.key = b"g1"
        self.pending = None
        # Every set filled first (valid positions only), so most searches find members.
        self.queue = [self.fill(key) for key in RANDOM_KEYS + [TIE_KEY]]

    def fill(self, key):
        """GEOADD of every member of a set's pool (again, now and then: STORE to the
        source and ZREM shrink the sets)."""
        elements = []
        for member in MEMBERS[key]:
            position = self.position(key)
            while not self.valid(position):
                position = self.position(key)
            elements += position + [member]
        return [b"GEOADD", key] + elements

    @staticmethod
    def valid(position):
        try:
            lon, lat = float(position[0]), float(position[1])
        except ValueError:
            return False
        return -180 <= lon <= 180 and -85.05112878 <= lat <= 85.05112878 and \
            position[0].strip() == position[0] and b"x" not in position[0]

    def wire(self, command):
        return difftools.wire(self.rnd, command)

    def position(self, key):
        """A longitude and latitude for GEOADD or FROMLONLAT: valid mostly."""
        rnd = self.rnd
        roll = rnd.random()
        if roll < 0.04:
            return [rnd.choice(BAD_LONGITUDES), rnd.choice(LIMIT_LATITUDES)]
        if roll < 0.08:
            return [rnd.choice(LIMIT_LONGITUDES), rnd.choice(BAD_LATITUDES)]
        if key not in RANDOM_KEYS:
            return [rnd.choice(LIMIT_LONGITUDES), rnd.choice(LIMIT_LATITUDES)]
        if roll < 0.2:
            return [b"%.6f" % rnd.uniform(-180, 180), b"%.8f" % rnd.uniform(-85.05, 85.05)]
        if roll < 0.26:
            # A spawn point many players share: equal distances inside a cluster.
            lon, lat, _ = rnd.choice(CENTRES)
            return [repr(lon + 0.01).encode(), repr(lat - 0.01).encode()]
        lon, lat, spread = rnd.choice(CENTRES)
        lon = clamp(lon + rnd.uniform(-spread, spread), -180, 180)
        lat = clamp(lat + rnd.uniform(-spread, spread), -85.05112878, 85.05112878)
        return [repr(lon).encode(), repr(lat).encode()]

    def member(self, key):
        pool = MEMBERS.get(key, MEMBERS[b"g1"])
        return self.rnd.choice(pool)

    def geo_key(self):
        rnd = self.rnd
        roll = rnd.random()
        if roll < 0.45:
            return b"g0"
        if roll < 0.75:
            return b"g1"
        if roll < 0.9:
            return TIE_KEY
        return rnd.choice([STRING_KEY, MISSING_KEY, b"d0"])

    def geoadd(self, key):
        rnd = self.rnd
        flags = [rnd.choice([b"NX", b"XX", b"CH", b"nx", b"ch", b"XX", b"CH"] * 4 + [b"GT"])
                 for _ in range(rnd.choice([0, 0, 0, 1, 1, 2]))]
        elements = []
        for _ in range(rnd.choice([1, 1, 2, 3, 5])):
            elements += self.position(key) + [self.member(key)]
        if rnd.random() < 0.03:
            elements = elements[:-1]
        return [b"GEOADD", key] + flags + elements

    def radius(self):
        rnd = self.rnd
        if rnd.random() < 0.04:
            return [rnd.choice(BAD_RADII), rnd.choice(UNITS)]
        if rnd.random() < 0.03:
            return [rnd.choice(RADII), rnd.choice(BAD_UNITS)]
        unit = rnd.choice(UNITS)
        if rnd.random() < 0.5:
            return [rnd.choice(RADII), unit]
        meters = 10 ** rnd.uniform(0, 7.3)
        scale = {b"m": 1, b"km": 1000, b"ft": 0.3048, b"mi": 1609.34}[unit.lower()]
        return [b"%.3f" % (meters / scale), unit]

    def box(self):
        rnd = self.rnd
        if rnd.random() < 0.05:
            return [rnd.choice(BAD_RADII + RADII), rnd.choice(BAD_RADII + RADII),
                    rnd.choice(UNITS + BAD_UNITS)]
        width, unit = self.radius()
        height, _ = self.radius()
        return [width, height, unit]

    def count_options(self):
        rnd = self.rnd
        if rnd.random() < 0.03:
            return [b"COUNT", rnd.choice(BAD_COUNTS)]
        if rnd.random() < 0.5:
            return []
        return [b"COUNT", rnd.choice(COUNTS)] + ([b"ANY"] if rnd.random() < 0.3 else [])

    def options(self, key, with_fields, store_words):
        """The shared options in random order: fields, order, COUNT, STORE words."""
        rnd = self.rnd
        groups = []
        if with_fields:
            for word in (b"WITHCOORD", b"WITHDIST", b"WITHHASH"):
                if rnd.random() < 0.35:
                    groups.append([word])
        sort = []
        if rnd.random() < 0.6:
            sort = [rnd.choice([b"ASC", b"DESC", b"asc", b"desc"])]
            groups.append(sort)
        counted = self.count_options()
        if counted:
            groups.append(counted)
        groups += store_words
        if rnd.random() < 0.03:
            groups.append([rnd.choice([b"ANY", b"BOGUS", b"COUNT", b"STORE", b"WITHDIST"])])
        rnd.shuffle(groups)
        return [part for group in groups for part in group]

    def store_words(self, read_only):
        rnd = self.rnd
        roll = rnd.random()
        if roll < 0.5 and not (read_only and rnd.random() < 0.9):
            word = rnd.choice([b"STORE", b"STOREDIST", b"store"])
            same = rnd.random() < 0.03  # the source itself as the destination
            return [[word, self.key if same else rnd.choice(DESTINATIONS)]]
        return []

    def georadius(self, key):
        rnd = self.rnd
        read_only = rnd.random() < 0.3
        by_member = rnd.random() < 0.5
        name = (b"GEORADIUSBYMEMBER" if by_member else b"GEORADIUS") + \
            (b"_RO" if read_only else b"")
        centre = [self.member(key)] if by_member else self.position(key)
        store = self.store_words(read_only)
        command = [name, key] + centre + self.radius() + \
            self.options(key, not store or rnd.random() < 0.05, store)
        if store and rnd.random() < 0.5:
            self.pending = [b"ZRANGE", store[0][1], b"0", b"-1", b"WITHSCORES"]
        return command

    def geosearch(self, key):
        rnd = self.rnd
        store = rnd.random() < 0.35
        groups = []
        if rnd.random() < 0.97:
            groups.append([b"FROMMEMBER", self.member(key)] if rnd.random() < 0.4
                          else [b"FROMLONLAT"] + self.position(key))
        if rnd.random() < 0.03:
            groups.append([b"FROMMEMBER", self.member(key)])
        if rnd.random() < 0.97:
            groups.append([b"BYRADIUS"] + self.radius() if rnd.random() < 0.5
                          else [b"BYBOX"] + self.box())
        if rnd.random() < 0.03:
            groups.append([b"BYRADIUS"] + self.radius())
        extra = []
        if store and rnd.random() < 0.4:
            extra.append([b"STOREDIST"])
        if not store and rnd.random() < 0.02:
            extra.append([b"STOREDIST"])
        options = self.options(key, not store or rnd.random() < 0.05, extra)
        rnd.shuffle(groups)
        if store:
            same = rnd.random() < 0.03
            destination = key if same else rnd.choice(DESTINATIONS)
            if rnd.random() < 0.5:
                self.pending = [b"ZRANGE", destination, b"0", b"-1", b"WITHSCORES"]
            return [b"GEOSEARCHSTORE", destination, key] + \
                [part for group in groups for part in group] + options
        return [b"GEOSEARCH", key] + [part for group in groups for part in group] + options

    def arity(self):
        rnd = self.rnd
        name = rnd.choice([b"GEOADD", b"GEODIST", b"GEOHASH", b"GEOPOS", b"GEORADIUS",
                           b"GEORADIUS_RO", b"GEORADIUSBYMEMBER", b"GEORADIUSBYMEMBER_RO",
                           b"GEOSEARCH", b"GEOSEARCHSTORE"])
        return [name] + [b"g1", b"p1", b"1", b"2", b"km"][:rnd.randint(0, 5)]

    def command(self):
        rnd = self.rnd
        if self.queue:
            return self.queue.pop(0)
        if self.pending:
            command, self.pending = self.pending, None
            return command
        if rnd.random() < 0.003:
            return self.fill(rnd.choice(RANDOM_KEYS + [TIE_KEY]))
        key = self.geo_key()
        self.key = key
        roll = rnd.randrange(40)
        if roll < 9:
            command = self.geoadd(key)
        elif roll < 11:
            command = [b"GEOPOS", key] + [self.member(key) for _ in range(rnd.randint(1, 4))]
        elif roll < 13:
            command = [b"GEOHASH", key] + [self.member(key) for _ in range(rnd.randint(1, 4))]
        elif roll < 16:
            command = [b"GEODIST", key, self.member(key), self.member(key)]
            if rnd.random() < 0.7:
                command.append(rnd.choice(UNITS + BAD_UNITS[:1]))
            if rnd.random() < 0.03:
                command.append(b"km")
        elif roll < 24:
            command = self.georadius(key)
        elif roll < 33:
            command = self.geosearch(key)
        elif roll == 33:
            command = [b"ZADD", key, rnd.choice([b"-1", b"1.5", b"4503599627370496",
                                                 b"4503599627370495", b"1e20", b"-1e20",
                                                 b"9007199254740992", b"123456789"]),
                       self.member(key)]
        elif roll == 34:
            command = [b"ZREM", key, self.member(key)]
        elif roll == 35:
            command = [b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"]
        elif roll == 36:
            command = rnd.choice([[b"SET", STRING_KEY, b"v"], [b"DEL", rnd.choice(DESTINATIONS)],
                                  [b"DEL", b"g1"], [b"TYPE", rnd.choice(DESTINATIONS)],
                                  [b"EXPIRE", b"d0", b"100"], [b"TTL", b"d0"]])
        elif roll == 37:
            command = self.arity()
        else:
            command = [b"ZCARD", key]
        return [difftools.mixed_case(rnd, command[0])] + command[1:]


def large(check, seed, kv_client, redis_client):
    """A set of 3,000 members (a skiplist in Redis, a tree in kv) searched whole and in part:
    every reply equal, and the heap's allocation count the same before and after the
    read-only searches (the temporary arrays and the sort's scratch go back)."""
    rnd = random.Random(seed + 2)
    centres = [(rnd.uniform(-170, 170), rnd.uniform(-70, 70)) for _ in range(4)]
    commands = []
    for first in range(0, LARGE_COUNT, 300):
        elements = []
        for index in range(first, first + 300):
            lon, lat = rnd.choice(centres)
            elements += [repr(lon + rnd.uniform(-3, 3)).encode(),
                         repr(lat + rnd.uniform(-3, 3)).encode(), b"big%d" % index]
        commands.append([b"GEOADD", b"big"] + elements)
    lon, lat = centres[0]
    centre = [repr(lon).encode(), repr(lat).encode()]
    searches = [
        [b"GEOSEARCH", b"big", b"FROMLONLAT"] + centre + [b"BYRADIUS", b"20000", b"km", b"ASC",
                                                          b"WITHDIST", b"WITHCOORD", b"WITHHASH"],
        [b"GEOSEARCH", b"big", b"FROMLONLAT"] + centre + [b"BYRADIUS", b"400", b"km"],
        [b"GEOSEARCH", b"big", b"FROMMEMBER", b"big7", b"BYBOX", b"600", b"300", b"mi", b"DESC",
         b"COUNT", b"100", b"WITHDIST"],
        [b"GEOSEARCH", b"big", b"FROMMEMBER", b"big9", b"BYRADIUS", b"15000", b"km", b"COUNT",
         b"10"],
        [b"GEOSEARCH", b"big", b"FROMMEMBER", b"big9", b"BYRADIUS", b"15000", b"km", b"COUNT",
         b"50", b"ANY", b"WITHDIST"],
        [b"GEORADIUS_RO", b"big"] + centre + [b"1000", b"km", b"DESC", b"WITHCOORD"],
        [b"GEORADIUSBYMEMBER_RO", b"big", b"big3", b"2000000", b"ft", b"ASC", b"COUNT", b"7"],
    ]
    stores = [
        [b"GEOSEARCHSTORE", b"bigout", b"big", b"FROMLONLAT"] + centre +
        [b"BYRADIUS", b"20000", b"km", b"STOREDIST"],
        [b"ZRANGE", b"bigout", b"0", b"-1", b"WITHSCORES"],
        [b"GEORADIUS", b"big"] + centre + [b"500", b"km", b"STORE", b"big"],
        [b"ZRANGE", b"big", b"0", b"-1", b"WITHSCORES"],
        [b"OBJECT", b"ENCODING", b"big"],
    ]
    for command in commands:
        check.equal(f"large fill {command[:2]}", redis_client.call(*command),
                    kv_client.call(*command))
    before = kvtest.info(kv_client, "memory").get("kv_heap_allocations")
    for command in searches:
        check.equal(f"large: {kvtest.shorten(command, 120)}", redis_client.call(*command),
                    kv_client.call(*command))
    after = kvtest.info(kv_client, "memory").get("kv_heap_allocations")
    check.equal("searches give their temporary memory back", before, after)
    for command in stores:
        check.equal(f"large: {kvtest.shorten(command, 120)}", redis_client.call(*command),
                    kv_client.call(*command))
    for key in (b"big", b"bigout"):
        kv_client.call(b"DEL", key)
        redis_client.call(b"DEL", key)


def ties(check, kv_client, redis_client):
    """160 players on three spots (60 at the centre, 60 and 40 mirrored 0.5 degrees east and
    west): COUNT below the points found takes Redis's partial quicksort, whose order of equal
    distances differs from a stable sort's; kv must give Redis's."""
    command = [b"GEOADD", b"spawn"]
    for spot, longitude, players in ((b"s", b"10", 60), (b"t", b"10.5", 60), (b"u", b"9.5", 40)):
        for index in range(players):
            command += [longitude, b"10", spot + b"%d" % index]
    check.equal("spawn points", redis_client.call(*command), kv_client.call(*command))
    for count in (1, 2, 6, 7, 8, 41, 59, 61, 100, 159, 160, 161):
        for order in (b"ASC", b"DESC"):
            search = [b"GEOSEARCH", b"spawn", b"FROMLONLAT", b"10", b"10", b"BYRADIUS", b"100",
                      b"km", order, b"COUNT", b"%d" % count, b"WITHDIST"]
            check.equal(f"ties: {order.decode()} COUNT {count}", redis_client.call(*search),
                        kv_client.call(*search))
    kv_client.call(b"DEL", b"spawn")
    redis_client.call(b"DEL", b"spawn")


EDGES = [
    [b"GEOADD", b"edge", b"180", b"85.05112878", b"a", b"-180", b"-85.05112878", b"b", b"0",
     b"0", b"c", b"-0", b"-0", b"d", b"179.9999999", b"85.05", b"e", b"1e-300", b"1e-300", b"f"],
    [b"ZADD", b"edge", b"-1", b"neg", b"1.5", b"frac", b"4503599627370495.5", b"big"],
    [b"GEOSEARCH", b"edge", b"FROMLONLAT", b"0", b"0", b"BYRADIUS", b"inf", b"km", b"ASC",
     b"WITHDIST", b"WITHCOORD", b"WITHHASH"],
    [b"GEOSEARCH", b"edge", b"FROMLONLAT", b"0", b"0", b"BYRADIUS", b"1e308", b"km", b"DESC"],
    [b"GEOSEARCH", b"edge", b"FROMLONLAT", b"0", b"0", b"BYBOX", b"inf", b"inf", b"km", b"ASC"],
    [b"GEOSEARCH", b"edge", b"FROMLONLAT", b"0", b"0", b"BYBOX", b"0", b"0", b"m", b"WITHDIST"],
    [b"GEOSEARCH", b"edge", b"FROMLONLAT", b"180", b"85.05112878", b"BYRADIUS", b"1", b"m",
     b"WITHDIST", b"WITHHASH"],
    [b"GEOSEARCH", b"edge", b"FROMMEMBER", b"neg", b"BYRADIUS", b"5000", b"km", b"WITHCOORD"],
    [b"GEOSEARCH", b"edge", b"FROMMEMBER", b"frac", b"BYRADIUS", b"5000", b"km", b"COUNT",
     b"9223372036854775807", b"WITHDIST"],
    [b"GEOSEARCH", b"edge", b"FROMMEMBER", b"big", b"BYBOX", b"40000", b"40000", b"km", b"COUNT",
     b"2", b"DESC"],
    [b"GEOSEARCH", b"edge", b"FROMLONLAT", b"0", b"0", b"BYRADIUS", b"0.0000001", b"m"],
    [b"GEOPOS", b"edge", b"a", b"d", b"f", b"nope"], [b"GEOHASH", b"edge", b"a", b"d", b"f"],
    [b"GEOADD", b"edge", b"1e-320", b"1e-320", b"tiny"], [b"GEOPOS", b"edge", b"tiny"],
    [b"GEOSEARCH", b"edge", b"frommember\x00x", b"c", b"BYRADIUS", b"1", b"km"],
    [b"GEOSEARCH", b"edge", b"FROMMEMBER", b"c", b"BYRADIUS", b"1", b"m\x00"],
    [b"GEORADIUS", b"edge", b"0", b"0", b"inf", b"km", b"STORE", b"edge"],
    [b"ZRANGE", b"edge", b"0", b"-1", b"WITHSCORES"],
    [b"DEL", b"edge"],
]


def edges(check, kv_client, redis_client):
    """Fixed edge cases: the limit corners, scores no GEOADD gives, infinite and zero radii and
    boxes, denormal coordinates, a NUL inside an option or a unit (Redis compares C strings),
    and STORE onto the source."""
    for command in EDGES:
        check.equal(f"edge: {kvtest.shorten(command, 100)}", redis_client.call(*command),
                    kv_client.call(*command))


def resp3(check, seed):
    """Redis's documented answers, then the same kind of stream over RESP3: coordinates are
    doubles there, distances still bulks."""
    generator = Generator(random.Random(seed + 1))
    with kvtest.start_kv(*KV_OPTIONS) as kv, kvtest.start_redis() as redis:
        with kv.connect() as client, redis.connect() as redis_client:
            known_answers(check, client)
            large(check, seed, client, redis_client)
            ties(check, client, redis_client)
            edges(check, client, redis_client)
        with test_diff_resp3.Client(kv.port) as kv_client, \
                test_diff_resp3.Client(redis.port) as redis_client:
            kv_client.call("HELLO", "3")
            redis_client.call("HELLO", "3")
            compared = kvtest.compare_stream(kv_client, redis_client, generator, check,
                                             RESP3_COUNT, difftools.replies_equal)
            check.true(f"RESP3: {compared} replies equal (at least {RESP3_COUNT})",
                       compared >= RESP3_COUNT, f"seed {seed}")


def known_answers(check, client):
    """Redis's documented examples, so a wrong formula on both sides cannot pass."""
    check.equal("GEOADD Sicily", b":2\r\n",
                client.call("GEOADD", "Sicily", "13.361389", "38.115556", "Palermo",
                            "15.087269", "37.502669", "Catania"))
    check.equal("GEODIST km", b"$8\r\n166.2742\r\n",
                client.call("GEODIST", "Sicily", "Palermo", "Catania", "km"))
    check.equal("GEOHASH", b"*2\r\n$11\r\nsqc8b49rny0\r\n$11\r\nsqdtr74hyu0\r\n",
                client.call("GEOHASH", "Sicily", "Palermo", "Catania"))
    check.equal("GEOPOS", b"*1\r\n*2\r\n$20\r\n13.36138933897018433\r\n"
                b"$20\r\n38.11555639549629859\r\n", client.call("GEOPOS", "Sicily", "Palermo"))
    check.equal("GEOSEARCH WITHDIST ASC",
                b"*2\r\n*2\r\n$7\r\nCatania\r\n$7\r\n56.4413\r\n"
                b"*2\r\n$7\r\nPalermo\r\n$8\r\n190.4424\r\n",
                client.call("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS",
                            "200", "km", "ASC", "WITHDIST"))
    check.equal("the example key goes", b":1\r\n", client.call("DEL", "Sicily"))


def main():
    check = kvtest.Checker("test_diff_geo", verbose=False)
    seed = int(os.environ.get("KV_SEED") or random.randrange(1 << 32))
    resp3(check, seed)
    probes = [[b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"]
              for key in RANDOM_KEYS + [TIE_KEY] + DESTINATIONS]
    os.environ["KV_SEED"] = str(seed)
    kvtest.differential("test_diff_geo", Generator, COMMAND_COUNT, KV_OPTIONS, probes,
                        difftools.replies_equal, check)


if __name__ == "__main__":
    main()
