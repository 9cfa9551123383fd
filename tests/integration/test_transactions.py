"""MULTI, EXEC, DISCARD, WATCH and UNWATCH answer as Redis 7 does, and kv's own bounds on a
transaction are clear errors that leave the data and the connection intact.

1. Differential: two clients per server (kv and a real redis-server) take turns sending
   seeded random commands: transactions with queued reads and writes, queueing errors
   (unknown commands, wrong arities: EXECABORT), nested MULTI, WATCH inside MULTI, EXEC and
   DISCARD without MULTI, WATCH of keys the other client then changes, deletes or creates
   (EXEC answers a null array), UNWATCH. At least 20,000 commands; every reply identical.
2. Sizes and kv's bounds: EXEC's replies have no size bound (they grow in the heap): a SET of
   a 4096-byte value and 200 GETs of it (an 800 KB reply) answer as redis-server does, byte
   for byte. A transaction whose queued commands outgrow client-query-buffer-limit (1mb here)
   is refused with kv's error and EXEC aborts; WATCH past watch_keys_max is refused. After
   each, the data are unchanged and the same connection still works.
3. Long keys, against redis-server: WATCH of a 10 KB key (and of 200 of them at once), then
   EXEC after no change, after another client's SET or DEL, after UNWATCH, after DISCARD:
   every reply identical. kv's watched keys have no length cap (they live on the heap).
4. A full heap (kv, maxmemory 4mb, filled with values, a little freed): a WATCH of thousands
   of keys that runs out of memory is answered with Redis's OOM line and watches none of
   them (a change to one does not abort EXEC), while what the client watched before stays
   watched (a change to it does).
"""
import os
import random

import kvtest

COMMAND_COUNT = 20000
KV_OPTIONS = ["--connections-max", "16", "--key-count", "64", "--key-size-max", "64",
              "--val-size-max", "64", "--list-length-max", "1024", "--hugepages", "off"]
KEYS = [b"a", b"b", b"l", b"", b"\x00k"]
VALUES = [b"", b"1", b"v", b"x\r\ny", b"\xff" * 8]


class Generator:
    """Commands for two clients; tracks which client is inside MULTI to steer toward EXEC."""

    def __init__(self, rnd):
        self.rnd = rnd
        self.in_multi = [False, False]

    def data_command(self):
        rnd = self.rnd
        key, value = rnd.choice(KEYS), rnd.choice(VALUES)
        return rnd.choice([
            [b"SET", key, value], [b"GET", key], [b"DEL", key, rnd.choice(KEYS)],
            [b"LPUSH", key, value], [b"RPOP", key], [b"LRANGE", key, b"0", b"2"],
            [b"EXISTS", key], [b"LLEN", key], [b"PING"], [b"ECHO", value],
        ])

    def command(self, client):
        rnd = self.rnd
        roll = rnd.random()
        if self.in_multi[client]:
            if roll < 0.15:
                self.in_multi[client] = False
                return [b"EXEC"]
            if roll < 0.18:
                self.in_multi[client] = False
                return [b"DISCARD"]
            if roll < 0.20:
                return [b"MULTI"]
            if roll < 0.22:
                return [b"WATCH", rnd.choice(KEYS)]
            if roll < 0.24:
                return [b"NOSUCHCMD", b"x"]
            if roll < 0.26:
                return [b"GET"]
            if roll < 0.28:
                return [b"UNWATCH"]
            return self.data_command()
        if roll < 0.15:
            self.in_multi[client] = True
            return [b"MULTI"]
        if roll < 0.30:
            return [b"WATCH"] + rnd.sample(KEYS, rnd.randint(1, 3))
        if roll < 0.33:
            return [b"UNWATCH"]
        if roll < 0.35:
            return [rnd.choice([b"EXEC", b"DISCARD", b"exec"])]
        return self.data_command()


def differential(check, seed):
    rnd = random.Random(seed)
    generator = Generator(rnd)
    with kvtest.start_kv(*KV_OPTIONS) as kv, kvtest.start_redis() as redis:
        kv_clients = [kv.connect(), kv.connect()]
        redis_clients = [redis.connect(), redis.connect()]
        history = []
        compared = 0
        for _ in range(COMMAND_COUNT):
            client = rnd.randrange(2)
            command = generator.command(client)
            history = (history + [(client, command)])[-12:]
            want = redis_clients[client].call(*command)
            got = kv_clients[client].call(*command)
            if want != got:
                for earlier in history:
                    print(f"    client {earlier[0]}: {kvtest.shorten(earlier[1], 120)}")
                check.equal(f"client {client}: {kvtest.shorten(command)}", want, got)
                break
            compared += 1
        check.true(f"{compared} replies identical (at least {COMMAND_COUNT})",
                   compared >= COMMAND_COUNT, f"seed {seed}")
        for client in range(2):
            check.equal(f"client {client} ends any transaction",
                        redis_clients[client].call(b"DISCARD"), kv_clients[client].call(b"DISCARD"))
        for key in KEYS:
            for probe in ((b"GET", key), (b"LRANGE", key, b"0", b"-1"), (b"LLEN", key)):
                check.equal(f"final {probe!r}", redis_clients[0].call(*probe),
                            kv_clients[0].call(*probe))
        for client in kv_clients + redis_clients:
            client.close()


def large_exec(check, client, reference):
    """A transaction whose replies make 800 KB: every one, as Redis sends it."""
    value = b"".join(b"%04d" % index for index in range(1024))   # 4096 bytes
    replies = []
    for server in (reference, client):
        check.equal("MULTI", b"+OK\r\n", server.call("MULTI"))
        server.call("SET", "keep", value)
        queued = [server.call("GET", "keep") for _ in range(200)]
        check.true("a SET and 200 GETs queued", all(reply == b"+QUEUED\r\n" for reply in queued))
        replies.append(server.call("EXEC"))
    check.starts("EXEC answers the SET and all 200 GETs", b"*201\r\n+OK\r\n$4096\r\n",
                 replies[1])
    check.equal(f"the {len(replies[0])}-byte EXEC reply is Redis's", replies[0], replies[1])
    check.equal("SET back", b"+OK\r\n", client.call("SET", "keep", "v1"))


def bounds(check):
    options = ["--connections-max", "4", "--key-count", "2000", "--key-size-max", "16",
               "--val-size-max", "4096", "--list-length-max", "4", "--watch-keys-max", "3",
               "--client-query-buffer-limit", "1mb", "--hugepages", "off"]
    with kvtest.start_kv(*options) as kv, kv.connect() as client, \
            kvtest.start_redis() as redis, redis.connect() as reference:
        check.equal("SET before", b"+OK\r\n", client.call("SET", "keep", "v1"))
        check.equal("MULTI", b"+OK\r\n", client.call("MULTI"))
        replies = [client.call("GET", "keep") for _ in range(200)]
        check.true("200 GETs are queued", all(reply == b"+QUEUED\r\n" for reply in replies))
        reply = client.call("EXEC")
        check.true("EXEC answers them all", reply.startswith(b"*200\r\n$2\r\nv1\r\n")
                   and reply.count(b"v1") == 200, kvtest.shorten(reply))
        large_exec(check, client, reference)
        # A list read after pushes: bounded by the list's length plus the pushes.
        check.equal("MULTI", b"+OK\r\n", client.call("MULTI"))
        client.call("RPUSH", "events", "a", "b")
        client.call("LRANGE", "events", "0", "-1")
        client.call("INCR", "hits")
        check.equal("EXEC of pushes and a whole-list read",
                    b"*3\r\n:2\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n:1\r\n", client.call("EXEC"))
        # Commands: 300 pushes of 4000-byte values (small replies, 1.2 MB queued) outgrow
        # client-query-buffer-limit.
        check.equal("MULTI again", b"+OK\r\n", client.call("MULTI"))
        big = b"z" * 4000
        replies = [client.call("LPUSH", f"k{index}", big) for index in range(300)]
        refused = [reply for reply in replies if reply.startswith(b"-")]
        check.true("a queue past client-query-buffer-limit is refused", len(refused) > 0,
                   repr(replies[-1]))
        check.true(f"not before 1 MB was queued ({replies.index(refused[0]) if refused else 0}"
                   " pushes)", refused and replies.index(refused[0]) >= 250)
        check.equal("the refusal says why",
                    b"-ERR transaction is too large: its commands would exceed 1048576 bytes; "
                    b"EXEC will abort\r\n", refused[0] if refused else b"")
        check.equal("EXEC aborts", b"-EXECABORT Transaction discarded because of previous "
                    b"errors.\r\n", client.call("EXEC"))
        check.equal("none of the queued pushes ran", b":0\r\n", client.call("EXISTS", "k0"))
        check.equal("connection still works", b"$2\r\nv1\r\n", client.call("GET", "keep"))
        # WATCH: three keys at most.
        check.equal("WATCH three keys", b"+OK\r\n", client.call("WATCH", "w1", "w2", "w3"))
        check.equal("watching one again is no new watch", b"+OK\r\n", client.call("WATCH", "w1"))
        check.equal("a fourth is refused", b"-ERR too many watched keys (watch_keys_max is 3)"
                    b"\r\n", client.call("WATCH", "w4"))
        check.equal("UNWATCH frees them", b"+OK\r\n", client.call("UNWATCH"))
        check.equal("WATCH works again", b"+OK\r\n", client.call("WATCH", "w4"))
        with kv.connect() as other:
            check.equal("another client changes w4", b"+OK\r\n", other.call("SET", "w4", "x"))
        check.equal("MULTI", b"+OK\r\n", client.call("MULTI"))
        check.equal("queued", b"+QUEUED\r\n", client.call("SET", "w4", "mine"))
        check.equal("EXEC after a watched change: null array", b"*-1\r\n", client.call("EXEC"))
        check.equal("the queued SET did not run", b"$1\r\nx\r\n", client.call("GET", "w4"))


def long_keys_run(server):
    big = b"k" * 10240
    others = [b"%05d" % index + b"x" * 10235 for index in range(200)]
    out = []
    with server.connect() as mine, server.connect() as other:
        out.append(mine.call("WATCH", big))
        out.append(mine.call("MULTI"))
        out.append(mine.call("SET", big, "v1"))
        out.append(mine.call("EXEC"))
        # Changed by another client: EXEC answers a null array, nothing runs.
        out.append(mine.call("WATCH", big))
        out.append(other.call("SET", big, "other"))
        out.append(mine.call("MULTI"))
        out.append(mine.call("SET", big, "mine"))
        out.append(mine.call("EXEC"))
        out.append(mine.call("GET", big))
        # UNWATCH: a change no longer matters.
        out.append(mine.call("WATCH", big, others[0]))
        out.append(mine.call("UNWATCH"))
        out.append(other.call("SET", big, "z"))
        out.append(mine.call("MULTI"))
        out.append(mine.call("GET", big))
        out.append(mine.call("EXEC"))
        # 200 long keys watched at once (and one again); one deleted by the other client.
        out.append(other.call("MSET", *[part for key in others for part in (key, "1")]))
        out.append(mine.call("WATCH", *others, others[7]))
        out.append(mine.call("MULTI"))
        out.append(mine.call("INCR", others[3]))
        out.append(mine.call("EXEC"))
        out.append(mine.call("WATCH", *others))
        out.append(other.call("DEL", others[199]))
        out.append(mine.call("MULTI"))
        out.append(mine.call("INCR", others[3]))
        out.append(mine.call("EXEC"))
        out.append(mine.call("GET", others[3]))
        # DISCARD unwatches too.
        out.append(mine.call("WATCH", big))
        out.append(mine.call("MULTI"))
        out.append(mine.call("DISCARD"))
        out.append(other.call("DEL", big))
        out.append(mine.call("MULTI"))
        out.append(mine.call("EXISTS", big))
        out.append(mine.call("EXEC"))
    return out


def long_keys(check):
    with kvtest.start_kv("--connections-max", "8", "--hugepages", "off") as kv, \
            kvtest.start_redis() as redis:
        want = long_keys_run(redis)
        have = long_keys_run(kv)
    check.equal("10 KB watched keys: as many replies", len(want), len(have))
    for index, (expected, actual) in enumerate(zip(want, have)):
        check.equal(f"10 KB watched keys: step {index}", expected, actual)


OOM_LINE = b"-OOM command not allowed when used memory > 'maxmemory'.\r\n"


def heap_full_watch(server, count):
    """WATCH small, then WATCH `count` keys on a nearly full heap: the second reply, and what
    EXEC says after a change to one of the keys, then after a change to small."""
    with server.connect() as mine, server.connect() as other:
        index = 0
        # Bounded: 4 MiB of heap holds fewer than 40 values of 100 KB.
        while index < 60 and other.call("SET", b"fill%d" % index, b"v" * 100000) == b"+OK\r\n":
            index += 1
        other.call("DEL", *[b"fill%d" % i for i in range(4)])
        keys = [b"%05d" % i + b"w" * 27 for i in range(count)]
        mine.call("WATCH", b"small")
        reply = mine.call("WATCH", *keys)
        if reply != OOM_LINE:
            return reply, None, None
        other.call("SET", keys[0], "x")
        mine.call("MULTI")
        after_key = mine.call("EXEC")
        mine.call("WATCH", b"small")
        other.call("SET", b"small", "y")
        mine.call("MULTI")
        after_small = mine.call("EXEC")
        return reply, after_key, after_small


def heap_full(check):
    # How many keys overflow the heap depends on how the receive buffer grows, and WATCH (not
    # DENYOOM, as in Redis) may also use half the client reserve's pages: the first count that
    # runs out of memory (and fits the receive buffer) is the case.
    for count in (5000, 6000, 4500, 7000, 4000):
        with kvtest.start_kv("--maxmemory", "4mb", "--connections-max", "8",
                             "--hugepages", "off") as kv:
            try:
                reply, after_key, after_small = heap_full_watch(kv, count)
            except kvtest.ConnectionClosed:
                continue
        if reply == OOM_LINE:
            print(f"heap full: a WATCH of {count} keys ran out of memory")
            check.equal("the WATCH that ran out is answered with the OOM line", OOM_LINE, reply)
            check.equal("none of its keys is watched", b"*0\r\n", after_key)
            check.equal("what was watched before stays watched", b"*-1\r\n", after_small)
            return
    check.true("a WATCH ran out of memory", False)


def main():
    seed = int(os.environ.get("KV_SEED") or random.randrange(1 << 32))
    print(f"seed {seed} (KV_SEED={seed} replays this run)")
    check = kvtest.Checker("test_transactions")
    differential(check, seed)
    bounds(check)
    long_keys(check)
    heap_full(check)
    check.finish()


if __name__ == "__main__":
    main()
