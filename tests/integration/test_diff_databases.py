"""Databases 0..15 answer seeded random commands with exactly Redis 7.0's bytes.

Phase 1, at least 20,000 commands to kv and to a real redis-server (default `databases` 16 on
both): SELECT (in range, out of range, not a number, past 32 bits), MOVE (with and without a
TTL, to the same database, to a taken name, to a bad index), SWAPDB (bad first and second
index, out of range, the same index), COPY ... DB n [REPLACE], FLUSHDB, DBSIZE, KEYS and SCAN
(compared as sets: the two hash tables order keys apart), INFO keyspace (avg_ttl is Redis's
estimate: masked), MULTI with SELECT queued inside, EVAL with redis.call('select', n) (the
caller's database comes back), and the data families (strings, lists, hashes, sets, sorted
sets, expiry) on every database, wrong types and wrong arity included.
Phase 2: keyspace notifications with KEA on both servers; the same seeded writes over several
databases (MOVE's move_from/move_to, COPY DB's copy_to, new, set, del, expire...) give the
same messages, channel names with the database number, in the same order.
Phase 3: WATCH per (database, key): a write of the same name in another database does not
abort EXEC; SWAPDB aborts it when the watched name exists in either database and not when it
exists in neither; FLUSHDB of another database leaves it be.
Phase 4: a BLPOP blocked in database 3 is not woken by a push in database 4 and is by one in
database 3; one blocked in database 3 is served by SWAPDB bringing a list in; CLIENT INFO's
db= follows SELECT, and RESET goes back to database 0.
Phase 5 (kv alone): eviction under allkeys-lru (the pool) and allkeys-random takes keys
from both databases written, names each victim's database in its event, and every write
lands in the database its client selected.
KV_SEED=<n> replays a run.
"""
import os
import random
import re
import time

import difftools
import kvtest

COMMAND_COUNT = 20000
NOTIFY_COMMANDS = 1500
KV_OPTIONS = ["--connections-max", "16", "--hugepages", "off"]
KEYS = [b"k0", b"k1", b"k2", b"l", b"", b"\x00b"]
DB_INDEXES = [b"0", b"1", b"2", b"3", b"15", b"7"]
BAD_INDEXES = [b"16", b"-1", b"x", b"", b"2147483648", b"-2147483649", b"1.5", b"99"]
SELECT_SCRIPT = b"redis.call('select', ARGV[1]); return redis.call('dbsize')"
SET_SCRIPT = (b"redis.call('select', ARGV[1]); redis.call('set', KEYS[1], ARGV[2]); "
              b"return redis.call('get', KEYS[1])")
INFO_AVG_TTL = re.compile(rb"avg_ttl=\d+")


class Generator:
    def __init__(self, rnd, notify_only=False):
        self.rnd = rnd
        self.pending = []
        self.notify_only = notify_only

    def wire(self, command):
        return difftools.wire(self.rnd, command)

    def index(self):
        rnd = self.rnd
        return rnd.choice(BAD_INDEXES) if rnd.random() < 0.05 else rnd.choice(DB_INDEXES)

    def data(self):
        rnd = self.rnd
        key = rnd.choice(KEYS)
        value = difftools.value(rnd, 16)
        roll = rnd.randrange(22)
        if roll < 3:
            return [b"SET", key, value]
        if roll == 3:
            return [b"GET", key]
        if roll == 4:
            return [b"INCR", key]
        if roll in (5, 6):
            return [rnd.choice([b"RPUSH", b"LPUSH"]), key] + [
                difftools.value(rnd, 8) for _ in range(rnd.randint(1, 3))]
        if roll == 7:
            return [b"LRANGE", key, b"0", b"-1"]
        if roll == 8:
            return [b"HSET", key, rnd.choice([b"f", b"g"]), value]
        if roll == 9:
            return [b"HGETALL", key]
        if roll == 10:
            return [b"SADD", key, b"%d" % rnd.randint(0, 5)]
        if roll == 11:
            return [b"SCARD", key]
        if roll == 12:
            return [b"ZADD", key, b"%d" % rnd.randint(0, 9), rnd.choice([b"m", b"n", b"o"])]
        if roll == 13:
            return [b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"]
        if roll == 14:
            return [b"EXPIRE", key, b"%d" % rnd.randint(100, 1000)]
        if roll == 15:
            return [b"PERSIST", key]
        if roll == 16:
            return [b"TTL", key]
        if roll == 17:
            return [b"DEL", key]
        if roll == 18:
            return [b"EXISTS", key, rnd.choice(KEYS)]
        if roll == 19:
            return [b"TYPE", key]
        if roll == 20:
            return [b"RENAME", key, rnd.choice(KEYS)]
        return [b"APPEND", key, value]

    def databases(self):
        rnd = self.rnd
        key = rnd.choice(KEYS)
        roll = rnd.randrange(14)
        if roll < 3:
            return [b"SELECT", self.index()]
        if roll < 5:
            return [b"MOVE", key, self.index()]
        if roll == 5:
            return [b"SWAPDB", self.index(), self.index()]
        if roll == 6:
            command = [b"COPY", key, rnd.choice(KEYS)]
            if rnd.random() < 0.8:
                command += [b"DB", self.index()]
            if rnd.random() < 0.4:
                command.append(b"REPLACE")
            return command
        if roll == 7:
            return [b"FLUSHDB"] if rnd.random() < 0.3 else [b"DBSIZE"]
        if roll == 8:
            return [b"DBSIZE"]
        if roll == 9:
            if self.notify_only:
                return [b"DBSIZE"]
            return [b"KEYS", b"*"] if rnd.random() < 0.5 else [b"SCAN", b"0", b"COUNT", b"1000"]
        if roll == 10:
            return [b"INFO", b"keyspace"] if not self.notify_only else [b"DBSIZE"]
        if roll == 11:
            # A transaction with SELECT queued inside: the database stays selected after EXEC.
            self.pending = [[b"SELECT", self.index()], self.data(), self.data(), [b"EXEC"]]
            return [b"MULTI"]
        if roll == 12:
            if rnd.random() < 0.5:
                return [b"EVAL", SELECT_SCRIPT, b"0", self.index()]
            return [b"EVAL", SET_SCRIPT, b"1", key, self.index(), difftools.value(rnd, 8)]
        # Wrong arity.
        return rnd.choice([[b"SELECT"], [b"MOVE", key], [b"SWAPDB", b"1"], [b"DBSIZE", b"x"],
                           [b"SELECT", b"1", b"2"], [b"SWAPDB", b"1", b"2", b"3"]])

    def command(self):
        if self.pending:
            return self.pending.pop(0)
        if self.rnd.random() < 0.35:
            return self.databases()
        return self.data()


def sorted_keys(reply):
    """KEYS' or a one-batch SCAN's keys, as a sorted list (with SCAN's cursor)."""
    value = kvtest.decode(reply)
    if isinstance(value, list) and len(value) == 2 and isinstance(value[1], list):
        return [value[0], sorted(value[1])]
    return sorted(value) if isinstance(value, list) else value


def hash_pairs(value):
    """HGETALL's reply as a sorted list of pairs (a hash past its listpack is a hashtable,
    whose order is Redis's own)."""
    if not isinstance(value, list):
        return value
    return sorted(zip(value[0::2], value[1::2]))


def exec_equal(want, got):
    """EXEC's replies one by one, HGETALL's as pairs."""
    wanted, gotten = kvtest.decode(want), kvtest.decode(got)
    if not isinstance(wanted, list) or not isinstance(gotten, list) or \
            len(wanted) != len(gotten):
        return False
    return all(a == b or hash_pairs(a) == hash_pairs(b) for a, b in zip(wanted, gotten))


def replies_equal(command, want, got):
    name = command[0].upper()
    if name == b"HGETALL" and want != got:
        return hash_pairs(kvtest.decode(want)) == hash_pairs(kvtest.decode(got))
    if name == b"EXEC" and want != got:
        return exec_equal(want, got)
    if name in (b"KEYS", b"SCAN") and want != got:
        return sorted_keys(want) == sorted_keys(got)
    if name == b"INFO":
        return INFO_AVG_TTL.sub(b"avg_ttl=0", want.split(b"\r\n", 1)[1]) == \
            INFO_AVG_TTL.sub(b"avg_ttl=0", got.split(b"\r\n", 1)[1])
    return difftools.replies_equal(command, want, got)


def messages_until(client, sentinel):
    """Every message a PSUBSCRIBEd client receives up to the one on the sentinel channel."""
    received = []
    for _ in range(100000):
        message = kvtest.decode(client.reply())
        if message[0] == b"pmessage" and message[2] == sentinel:
            return received
        received.append(message)
    return received


def phase_notifications(kv, redis, seed, check):
    """The same seeded writes over several databases give the same events on both."""
    sentinel = b"notify-done"
    rnd_state = random.Random(seed + 1)
    generator = Generator(rnd_state, notify_only=True)
    streams = {}
    commands = [generator.command() for _ in range(NOTIFY_COMMANDS)]
    for name, server in (("redis", redis), ("kv", kv)):
        with server.connect() as writer, server.connect() as listener:
            check.equal(f"{name}: CONFIG SET notify-keyspace-events", b"+OK\r\n",
                        writer.call(b"CONFIG", b"SET", b"notify-keyspace-events", b"KEA"))
            listener.call(b"PSUBSCRIBE", b"__key*")
            listener.call(b"PSUBSCRIBE", sentinel)
            writer.send(b"".join(kvtest.encode(*command) for command in commands))
            writer.replies(len(commands))
            # A seed can leave a MULTI open at the end of the batch (its PUBLISH would only
            # be QUEUED and the listener wait for ever): DISCARD closes it, on both servers
            # alike (an error reply when none is open).
            writer.call(b"DISCARD")
            writer.call(b"PUBLISH", sentinel, b"1")
            streams[name] = messages_until(listener, sentinel)
            writer.call(b"CONFIG", b"SET", b"notify-keyspace-events", b"")
            writer.call(b"FLUSHALL")
    want, got = streams["redis"], streams["kv"]
    check.true(f"notifications: {len(want)} events, some naming databases other than 0",
               len(want) > 500 and any(b"@0__" not in message[2] for message in want),
               f"seed {seed}")
    same = want == got
    if not same:
        first = next((index for index, pair in enumerate(zip(want, got)) if pair[0] != pair[1]),
                     min(len(want), len(got)))
        print(f"notifications differ at {first}: redis {want[first:first + 3]!r} "
              f"kv {got[first:first + 3]!r}")
    check.true(f"notifications: the same {len(want)} events in the same order", same,
               f"kv sent {len(got)}, seed {seed}")


def transaction(watcher, writer, setup, watch_db, key, writes):
    """WATCH key in watch_db on watcher, then `writes` on writer, then MULTI/EXEC: its reply."""
    for command in setup:
        writer.call(*command)
    watcher.call(b"SELECT", watch_db)
    watcher.call(b"WATCH", key)
    for command in writes:
        writer.call(*command)
    watcher.call(b"MULTI")
    watcher.call(b"PING")
    return watcher.call(b"EXEC")


def phase_watch(kv, redis, seed, check):
    rnd = random.Random(seed + 2)
    cases = [
        ("a write of the name in another database", [], b"5", [[b"SELECT", b"6"],
                                                               [b"SET", b"w", b"1"]]),
        ("a write in the watched database", [], b"5", [[b"SELECT", b"5"], [b"SET", b"w", b"1"]]),
        ("SWAPDB with the name in the other database", [[b"SELECT", b"2"], [b"SET", b"w", b"v"]],
         b"1", [[b"SWAPDB", b"1", b"2"]]),
        ("SWAPDB with the name in the watched database",
         [[b"SELECT", b"1"], [b"SET", b"w", b"v"]], b"1", [[b"SWAPDB", b"2", b"1"]]),
        ("SWAPDB with the name in neither", [[b"SELECT", b"1"], [b"SET", b"x", b"v"]], b"1",
         [[b"SWAPDB", b"1", b"2"]]),
        ("SWAPDB of two other databases", [[b"SELECT", b"3"], [b"SET", b"w", b"v"]], b"1",
         [[b"SWAPDB", b"3", b"4"]]),
        ("FLUSHDB of another database", [[b"SELECT", b"3"], [b"SET", b"w", b"v"]], b"1",
         [[b"SELECT", b"3"], [b"FLUSHDB"]]),
        ("FLUSHDB of the watched database", [[b"SELECT", b"1"], [b"SET", b"w", b"v"]], b"1",
         [[b"SELECT", b"1"], [b"FLUSHDB"]]),
        ("MOVE into the watched database", [[b"SELECT", b"3"], [b"SET", b"w", b"v"]], b"1",
         [[b"SELECT", b"3"], [b"MOVE", b"w", b"1"]]),
        ("FLUSHALL", [[b"SELECT", b"9"], [b"SET", b"w", b"v"]], b"1", [[b"FLUSHALL"]]),
    ]
    # Seeded extra cases: random writes over databases 0..3 around a watched key.
    for index in range(40):
        setup = [[b"SELECT", b"%d" % rnd.randrange(4)], [b"SET", rnd.choice([b"w", b"y"]), b"v"]]
        writes = [[b"SELECT", b"%d" % rnd.randrange(4)],
                  rnd.choice([[b"SET", b"w", b"2"], [b"SWAPDB", b"%d" % rnd.randrange(4),
                                                     b"%d" % rnd.randrange(4)],
                              [b"MOVE", b"w", b"%d" % rnd.randrange(4)], [b"DEL", b"y"],
                              [b"COPY", b"y", b"w", b"DB", b"%d" % rnd.randrange(4)]])]
        cases.append((f"seeded case {index}", setup, b"%d" % rnd.randrange(4), writes))
    aborted = 0
    for label, setup, watch_db, writes in cases:
        replies = {}
        for name, server in (("redis", redis), ("kv", kv)):
            with server.connect() as watcher, server.connect() as writer:
                writer.call(b"FLUSHALL")
                replies[name] = transaction(watcher, writer, setup, watch_db, b"w", writes)
        aborted += replies["redis"] == b"*-1\r\n"
        check.equal(f"WATCH: {label} ({writes})", replies["redis"], replies["kv"])
    check.true("WATCH: some transactions aborted and some ran", 0 < aborted < len(cases),
               f"{aborted} of {len(cases)}")


def phase_blocking(kv, redis, check):
    for name, server in (("redis", redis), ("kv", kv)):
        with server.connect() as waiter, server.connect() as pusher:
            pusher.call(b"FLUSHALL")
            waiter.call(b"SELECT", b"3")
            waiter.send(kvtest.encode(b"BLPOP", b"q", b"5"))
            time.sleep(0.1)
            pusher.call(b"SELECT", b"4")
            check.equal(f"{name}: RPUSH q in db 4", b":1\r\n", pusher.call(b"RPUSH", b"q", b"x"))
            time.sleep(0.2)
            pusher.call(b"SELECT", b"3")
            pusher.call(b"RPUSH", b"q", b"y")
            check.equal(f"{name}: BLPOP in db 3 is served by the push in db 3 only",
                        b"*2\r\n$1\r\nq\r\n$1\r\ny\r\n", waiter.reply())
            pusher.call(b"SELECT", b"4")
            check.equal(f"{name}: db 4's list is untouched", b"*1\r\n$1\r\nx\r\n",
                        pusher.call(b"LRANGE", b"q", b"0", b"-1"))
            # SWAPDB brings a list into the waiter's database: it is served.
            waiter.send(kvtest.encode(b"BLPOP", b"s", b"5"))
            time.sleep(0.1)
            pusher.call(b"SELECT", b"6")
            pusher.call(b"RPUSH", b"s", b"z")
            check.equal(f"{name}: SWAPDB 3 6", b"+OK\r\n", pusher.call(b"SWAPDB", b"3", b"6"))
            check.equal(f"{name}: BLPOP in db 3 served after SWAPDB",
                        b"*2\r\n$1\r\ns\r\n$1\r\nz\r\n", waiter.reply())
            check.equal(f"{name}: CLIENT INFO names db 3", True,
                        b" db=3 " in waiter.call(b"CLIENT", b"INFO"))
            check.equal(f"{name}: RESET goes back to db 0", b"+RESET\r\n", waiter.call(b"RESET"))
            check.equal(f"{name}: CLIENT INFO names db 0 after RESET", True,
                        b" db=0 " in waiter.call(b"CLIENT", b"INFO"))


def phase_eviction(check):
    """kv alone: eviction samples every database, names the victim's database in its event,
    and leaves the writer's database selected (each write lands where it was sent)."""
    for policy in ("allkeys-lru", "allkeys-random"):
        with kvtest.start_kv(*KV_OPTIONS) as kv, kv.connect() as writer, \
                kv.connect() as listener:
            writer.call("CONFIG", "SET", "notify-keyspace-events", "Ee")
            writer.call("CONFIG", "SET", "maxmemory-policy", policy)
            check.equal(f"{policy}: CONFIG SET maxmemory", b"+OK\r\n",
                        writer.call("CONFIG", "SET", "maxmemory", "8mb"))
            listener.call("PSUBSCRIBE", "__keyevent@*__:evicted")
            commands = []
            for index in range(3000):
                db, prefix = (b"2", b"a") if index % 2 == 0 else (b"11", b"b")
                commands.append([b"SELECT", db])
                commands.append([b"SET", prefix + b"%d" % index, b"x" * 4000, b"EX", b"1000"])
            writer.send(b"".join(kvtest.encode(*command) for command in commands))
            writer.replies(len(commands))
            writer.call("PUBLISH", "done", "1")
            writer.call("CONFIG", "SET", "maxmemory", "0")
            evicted = int(kvtest.info(writer, "stats")["evicted_keys"])
            events = []
            for _ in range(evicted):
                events.append(kvtest.decode(listener.reply()))
            channels = {event[2] for event in events}
            check.true(f"{policy}: keys evicted ({evicted}) from both databases",
                       evicted > 100 and channels == {b"__keyevent@2__:evicted",
                                                      b"__keyevent@11__:evicted"},
                       f"{sorted(channels)}")
            gone = all(writer.call("SELECT", event[2][11:-10]) == b"+OK\r\n" and
                       writer.value("EXISTS", event[3]) == 0 for event in events[:100])
            check.true(f"{policy}: every evicted key is gone from its database", gone)
            for db, prefix in ((b"2", b"a"), (b"11", b"b")):
                writer.call("SELECT", db)
                keys = kvtest.decode(writer.call("KEYS", "*"))
                check.true(f"{policy}: db {db.decode()} holds its own writes only",
                           len(keys) > 0 and all(key.startswith(prefix) for key in keys),
                           f"{len(keys)} keys")


def main():
    seed = int(os.environ.get("KV_SEED") or random.randrange(1 << 32))
    print(f"seed {seed} (KV_SEED={seed} replays this run)")
    check = kvtest.Checker("test_diff_databases", verbose=False)
    started = time.monotonic()
    with kvtest.start_kv(*KV_OPTIONS) as kv, kvtest.start_redis() as redis:
        with kv.connect() as kv_client, redis.connect() as redis_client:
            compared = kvtest.compare_stream(kv_client, redis_client,
                                             Generator(random.Random(seed)), check,
                                             COMMAND_COUNT, replies_equal)
            check.true(f"{compared} replies equal (at least {COMMAND_COUNT})",
                       compared >= COMMAND_COUNT, f"seed {seed}")
            for index in range(16):
                probe = [b"SELECT", b"%d" % index]
                redis_client.call(*probe)
                kv_client.call(*probe)
                want = sorted_keys(redis_client.call(b"KEYS", b"*"))
                check.equal(f"final keys of db {index}", want,
                            sorted_keys(kv_client.call(b"KEYS", b"*")))
            redis_client.call(b"FLUSHALL")
            kv_client.call(b"FLUSHALL")
        phase_notifications(kv, redis, seed, check)
        phase_watch(kv, redis, seed, check)
        phase_blocking(kv, redis, check)
    phase_eviction(check)
    print(f"seed {seed}: {time.monotonic() - started:.1f} s")
    if check.failures:
        print(f"seed {seed}: rerun with KV_SEED={seed}")
    check.finish()


if __name__ == "__main__":
    main()
