"""The memory budget against a real redis-server 7.0 with the same maxmemory and policy:

1. noeviction: SETs in pipelined batches until the first -OOM; the error is Redis's, byte
   for byte; nothing stored is lost (every key written before reads back); reads, DEL and
   writes that fit after a DEL go on; INFO's used_memory stays within maxmemory and
   evicted_keys is 0.
2. The budget inside MULTI, as Redis 7.0 decides it (the budget made full with CONFIG SET
   maxmemory 1, as Redis's own tests do): a command queued while the budget is full is
   refused with -OOM and EXEC aborts; a transaction queued with room whose EXEC comes when
   the budget is full is discarded with Redis's -EXECABORT ... OOM line; DISCARD, reads and
   DEL go on; raising maxmemory back lets writes in again.
3. allkeys-lru: three times the budget written, never refused; evicted_keys counts the keys
   that went; used_memory stays within maxmemory; a small set of keys read all along is still
   there (LRU keeps what is used).
4. OBJECT and MEMORY: ENCODING of an integer, a short and a long string equals Redis's;
   IDLETIME and FREQ answer Redis's errors under the other policy's kind, byte for byte, and
   numbers under their own; OBJECT HELP and errors for a missing key and a bad subcommand
   equal Redis's; MEMORY USAGE answers an integer that grows with the value.
5. CONFIG SET maxmemory-policy and the eviction options change at once and CONFIG GET shows
   them as Redis names them; maxmemory may be lowered and raised back, not past the region.
6. maxmemory-clients, as Redis 7: a client that sends 40 GETs of a 100 KB value and reads
   nothing holds more than the limit (1mb) and is closed, counted in evicted_clients; a
   CLIENT NO-EVICT client and the data stay.
"""
import sys

import kvtest

BUDGET = "16mb"
BUDGET_BYTES = 16 << 20
OOM = b"-OOM command not allowed when used memory > 'maxmemory'.\r\n"
EXECABORT_OOM = (b"-EXECABORT Transaction discarded because of: OOM command not allowed "
                 b"when used memory > 'maxmemory'.\r\n")


def fill_until_oom(client, prefix, value, batch=500, limit=2_000_000):
    """SETs prefix<i> in pipelined batches until one answers an error; returns (keys stored
    before the first error, the first error reply, keys stored in all). A write after a
    refusal in the same batch may still fit (a reply's memory came back, or the value fit a
    free slot), on Redis as on kv: the last count says what DBSIZE must be."""
    sent = 0
    while sent < limit:
        client.send(b"".join(kvtest.encode("SET", f"{prefix}{sent + i}", value)
                             for i in range(batch)))
        replies = client.replies(batch)
        sent += batch
        for index, reply in enumerate(replies):
            if reply != b"+OK\r\n":
                first = sent - batch + index
                return first, reply, first + sum(1 for r in replies[index:] if r == b"+OK\r\n")
    return sent, None, sent


def noeviction(check, kv, redis):
    value = b"v" * 100
    results = {}
    for name, server in (("kv", kv), ("redis", redis)):
        with server.connect() as client:
            stored, error, stored_all = fill_until_oom(client, "k", value)
            results[name] = (stored, error)
            check.equal(f"{name}: the first refused SET answers Redis's OOM error", OOM, error)
            # Nothing stored is lost: a sample across the whole range reads back.
            step = max(1, stored // 500)
            lost = [i for i in range(0, stored, step)
                    if client.call("GET", f"k{i}") != b"$100\r\n" + value + b"\r\n"]
            check.equal(f"{name}: every sampled key stored before the OOM reads back", [], lost)
            check.equal(f"{name}: DBSIZE is the keys stored", f":{stored_all}\r\n".encode(),
                        client.call("DBSIZE"))
            # Writes stay refused: Redis refuses any write while over maxmemory; kv admits a
            # write by the room it needs, and its multishot receive releases the pipeline's
            # receive buffer once served, so a few more keys may fit in those bytes, no more.
            again, again_error, _ = fill_until_oom(client, "again", value)
            check.equal(f"{name}: a second fill is refused as well", OOM, again_error)
            check.true(f"{name}: the second fill stores at most 1% of the first "
                       f"({again} after {stored})", again <= stored // 100)
            check.equal(f"{name}: reads go on", b"$100\r\n" + value + b"\r\n",
                        client.call("GET", "k0"))
            check.equal(f"{name}: EXPIRE is not DENYOOM", b":1\r\n",
                        client.call("EXPIRE", "k1", "1000"))
            deleted = client.call("DEL", *[f"k{i}" for i in range(2, 2000)])
            check.equal(f"{name}: DEL frees", b":1998\r\n", deleted)
            check.equal(f"{name}: a write fits after the DEL", b"+OK\r\n",
                        client.call("SET", "another", value))
            fields = kvtest.info(client)
            used = int(fields["used_memory"])
            if name == "kv":  # Redis overshoots by a command; kv's heap cannot
                check.true(f"{name}: used_memory within maxmemory", used <= BUDGET_BYTES,
                           f"{used} > {BUDGET_BYTES}")
            check.equal(f"{name}: evicted_keys", "0", fields.get("evicted_keys"))
            check.equal(f"{name}: maxmemory_policy", "noeviction",
                        fields.get("maxmemory_policy"))
            check.equal(f"{name}: maxmemory", str(BUDGET_BYTES), fields.get("maxmemory"))
    print(f"  keys of 100 bytes stored in {BUDGET}: kv {results['kv'][0]}, "
          f"redis {results['redis'][0]}")
    check.true("kv stores at least as many 100-byte strings as Redis in the same budget",
               results["kv"][0] >= results["redis"][0],
               f"kv {results['kv'][0]} < redis {results['redis'][0]}")


def multi_full(check, kv, redis):
    """Redis's own tests force a full budget with CONFIG SET maxmemory 1; so does this."""
    for name, server in (("kv", kv), ("redis", redis)):
        with server.connect() as client, server.connect() as other:
            check.equal(f"{name}: FLUSHALL", b"+OK\r\n", client.call("FLUSHALL"))
            check.equal(f"{name}: SET f0", b"+OK\r\n", client.call("SET", "f0", "x"))
            # A transaction queued while there is room.
            check.equal(f"{name}: MULTI", b"+OK\r\n", client.call("MULTI"))
            check.equal(f"{name}: SET queued with room", b"+QUEUED\r\n",
                        client.call("SET", "tx", "1"))
            check.equal(f"{name}: CONFIG SET maxmemory 1", b"+OK\r\n",
                        other.call("CONFIG", "SET", "maxmemory", "1"))
            check.equal(f"{name}: EXEC of a DENYOOM queue with the budget full", EXECABORT_OOM,
                        client.call("EXEC"))
            check.equal(f"{name}: the transaction was discarded", b"$-1\r\n",
                        client.call("GET", "tx"))
            check.equal(f"{name}: EXEC after it has no MULTI", b"-ERR EXEC without MULTI\r\n",
                        client.call("EXEC"))
            # Queued while full: refused, and EXEC aborts.
            check.equal(f"{name}: MULTI while full", b"+OK\r\n", client.call("MULTI"))
            check.equal(f"{name}: GET queued while full is refused", OOM,
                        client.call("GET", "f0"))
            check.equal(f"{name}: EXEC after a refused command",
                        b"-EXECABORT Transaction discarded because of previous errors.\r\n",
                        client.call("EXEC"))
            check.equal(f"{name}: MULTI, DISCARD while full", [b"+OK\r\n", b"+OK\r\n"],
                        [client.call("MULTI"), client.call("DISCARD")])
            check.equal(f"{name}: a read while full", b"$1\r\nx\r\n", client.call("GET", "f0"))
            check.equal(f"{name}: a write while full", OOM, client.call("SET", "f1", "y"))
            check.equal(f"{name}: INCR (DENYOOM) while full", OOM, client.call("INCR", "n"))
            check.equal(f"{name}: EXPIRE (not DENYOOM) while full", b":1\r\n",
                        client.call("EXPIRE", "f0", "100"))
            check.equal(f"{name}: DEL while full", b":1\r\n", client.call("DEL", "f0"))
            check.equal(f"{name}: CONFIG SET maxmemory back", b"+OK\r\n",
                        other.call("CONFIG", "SET", "maxmemory", BUDGET))
            check.equal(f"{name}: a write with room again", b"+OK\r\n",
                        client.call("SET", "f1", "y"))
            client.call("FLUSHALL")


def lru(check, kv, redis):
    value = b"l" * 100
    kept_by = {}
    for name, server in (("kv", kv), ("redis", redis)):
        with server.connect() as client:
            client.call("FLUSHALL")
            check.equal(f"{name}: CONFIG SET maxmemory-policy allkeys-lru", b"+OK\r\n",
                        client.call("CONFIG", "SET", "maxmemory-policy", "allkeys-lru"))
            hot = [f"hot{i}" for i in range(50)]
            for key in hot:
                client.call("SET", key, value)
            written = 0
            errors = []
            batch = 500
            # About three budgets' worth of 100-byte values.
            while written < 3 * BUDGET_BYTES // 150:
                client.send(b"".join(kvtest.encode("SET", f"c{written + i}", value)
                                     for i in range(batch)))
                errors += [r for r in client.replies(batch) if r != b"+OK\r\n"]
                written += batch
                client.send(b"".join(kvtest.encode("GET", key) for key in hot))
                client.replies(len(hot))
            check.equal(f"{name}: no write refused under allkeys-lru", [], errors[:3])
            fields = kvtest.info(client)
            evicted = int(fields["evicted_keys"])
            keys = int(kvtest.decode(client.call("DBSIZE")))
            check.true(f"{name}: keys were evicted", evicted > written // 2,
                       f"{evicted} evicted of {written}")
            check.equal(f"{name}: the keys held and evicted add up", written + len(hot),
                        keys + evicted)
            if name == "kv":
                check.true(f"{name}: used_memory within maxmemory",
                           int(fields["used_memory"]) <= BUDGET_BYTES, fields["used_memory"])
            kept = sum(1 for key in hot if client.call("EXISTS", key) == b":1\r\n")
            print(f"  {name}: {kept} of {len(hot)} keys read all along kept, {evicted} evicted")
            kept_by[name] = kept
            client.call("CONFIG", "SET", "maxmemory-policy", "noeviction")
            client.call("FLUSHALL")
    # The LRU clock ticks in seconds, as Redis's does (OBJECT IDLETIME's unit), and the whole
    # keyspace here is written in one or two seconds: a hot key ties with the newest writes, so
    # sampling may take some: kv kept 29 to 50 of 50 in repeated runs, Redis 6 to 12, and both
    # all 50 on a loaded machine, where the keyspace spans more seconds. Eviction quality
    # against Redis's is bench/lru.py's measure; the ordering itself is tested at a controlled
    # clock in test_evict.
    check.true("kv: at least 40% of the keys read all along are kept",
               kept_by["kv"] * 5 >= len(hot) * 2, f"{kept_by['kv']} of {len(hot)}")


def object_memory(check, kv, redis):
    script = [("SET", "int", "12345"), ("SET", "short", "hello"), ("SET", "long", "x" * 100),
              ("OBJECT", "ENCODING", "int"), ("OBJECT", "ENCODING", "short"),
              ("OBJECT", "ENCODING", "long"), ("OBJECT", "ENCODING", "missing"),
              ("OBJECT", "REFCOUNT", "long"), ("OBJECT", "FREQ", "short"),
              ("OBJECT", "NOPE", "short"), ("OBJECT", "ENCODING"), ("OBJECT", "HELP"),
              ("MEMORY", "USAGE", "missing"), ("MEMORY", "USAGE", "short", "SAMPLES"),
              ("MEMORY", "NOPE"),
              ("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"),
              ("OBJECT", "IDLETIME", "short"), ("SET", "fresh", "1"), ("OBJECT", "FREQ", "fresh"),
              ("CONFIG", "GET", "maxmemory-policy"),
              ("CONFIG", "SET", "maxmemory-samples", "10", "lfu-log-factor", "20"),
              ("CONFIG", "GET", "maxmemory-samples"), ("CONFIG", "GET", "lfu-log-factor"),
              ("CONFIG", "SET", "maxmemory-policy", "noeviction"),
              # Redis's errors for its own options, word for word.
              ("CONFIG", "SET", "maxmemory-policy", "bogus"),
              ("CONFIG", "SET", "maxmemory", "bogus"),
              ("CONFIG", "SET", "maxmemory-samples", "0"),
              ("CONFIG", "SET", "maxmemory-samples", "x"),
              ("CONFIG", "SET", "maxmemory-samples", "05"),
              ("CONFIG", "SET", "maxmemory-samples", "1000"),
              ("CONFIG", "GET", "maxmemory-samples"),
              ("CONFIG", "SET", "maxmemory-samples", "5"),
              ("CONFIG", "SET", "lfu-log-factor", "-1"),
              ("CONFIG", "SET", "lfu-decay-time", "2147483648"),
              ("CONFIG", "SET", "maxmemory-eviction-tenacity", "101"),
              ("CONFIG", "SET", "maxmemory-clients", "abc%"),
              ("CONFIG", "SET", "maxmemory-clients", "120%"),
              ("CONFIG", "SET", "maxmemory-clients", "x"),
              ("CONFIG", "SET", "maxmemory-clients", "0%"),
              ("CONFIG", "GET", "maxmemory-clients")]
    # Every collection's encodings, at and past Redis 7.0's listpack and intset bounds.
    many = [str(i) for i in range(600)]
    script += [("HSET", "h-small", "f", "v"), ("HSET", "h-long", "f", "v" * 65),
               ("HSET", "h-many", *[x for i in range(513) for x in (f"f{i}", "v")]),
               ("SADD", "s-int", "1", "2"), ("SADD", "s-str", "a", "b"),
               ("SADD", "s-many", *many), ("SADD", "s-grown", "1"), ("SADD", "s-grown", "x"),
               ("ZADD", "z-small", "1", "a"), ("ZADD", "z-long", "1", "m" * 65),
               ("ZADD", "z-many", *[x for i in range(129) for x in (str(i), f"m{i}")]),
               ("RPUSH", "l-small", "a"), ("RPUSH", "l-many", *many * 20)]
    script += [("OBJECT", "ENCODING", key) for key in
               ("h-small", "h-long", "h-many", "s-int", "s-str", "s-many", "s-grown",
                "z-small", "z-long", "z-many", "l-small", "l-many")]
    with kv.connect() as kv_client, redis.connect() as redis_client:
        redis_client.call("FLUSHALL")
        kv_client.call("FLUSHALL")
        for command in script:
            check.equal(f"{' '.join(command)[:60]}", redis_client.call(*command),
                        kv_client.call(*command))
        idle = kv_client.call("OBJECT", "IDLETIME", "short")
        check.true("OBJECT IDLETIME under noeviction is a number of seconds",
                   idle.startswith(b":"), idle)
        small = kvtest.decode(kv_client.call("MEMORY", "USAGE", "short"))
        big = kvtest.decode(kv_client.call("MEMORY", "USAGE", "long"))
        check.true("MEMORY USAGE grows with the value", isinstance(small, int) and
                   isinstance(big, int) and 0 < small < big, (small, big))
        check.starts("CONFIG SET maxmemory past the region is refused",
                     b"-ERR CONFIG SET failed", kv_client.call("CONFIG", "SET", "maxmemory",
                                                               "32mb"))
        check.equal("CONFIG SET maxmemory within the region", b"+OK\r\n",
                    kv_client.call("CONFIG", "SET", "maxmemory", "8mb"))
        check.equal("CONFIG GET maxmemory", [b"maxmemory", b"8388608"],
                    kvtest.decode(kv_client.call("CONFIG", "GET", "maxmemory")))


def client_eviction(check, kv, redis):
    value = b"z" * 100_000
    for name, server in (("kv", kv), ("redis", redis)):
        with server.connect() as keeper, server.connect() as greedy:
            check.equal(f"{name}: CLIENT NO-EVICT on", b"+OK\r\n",
                        keeper.call("CLIENT", "NO-EVICT", "on"))
            check.equal(f"{name}: SET the value", b"+OK\r\n", keeper.call("SET", "big", value))
            before = int(kvtest.info(keeper, "stats")["evicted_clients"])
            check.equal(f"{name}: CONFIG SET maxmemory-clients 1mb", b"+OK\r\n",
                        keeper.call("CONFIG", "SET", "maxmemory-clients", "1mb"))
            greedy.send(b"".join(kvtest.encode("GET", "big") for _ in range(40)))
            closed = False
            try:
                got = 0
                while got < 40:  # reading slowly: the server closes it first
                    greedy.reply()
                    got += 1
            except (kvtest.ConnectionClosed, kvtest.ReplyTimeout, OSError):
                closed = True
            after = int(kvtest.info(keeper, "stats")["evicted_clients"])
            print(f"  {name}: greedy client closed: {closed}, evicted_clients {before} -> {after}")
            check.true(f"{name}: the client past maxmemory-clients was evicted",
                       after > before, (before, after))
            check.equal(f"{name}: the NO-EVICT client and the data stay", b":100000\r\n",
                        keeper.call("STRLEN", "big"))
            keeper.call("CONFIG", "SET", "maxmemory-clients", "0")
            keeper.call("DEL", "big")


def main():
    check = kvtest.Checker("test_budget")
    with kvtest.start_kv("--maxmemory", BUDGET, "--hugepages", "off") as kv, \
            kvtest.start_redis() as redis:
        with redis.connect() as client:
            client.call("CONFIG", "SET", "maxmemory", BUDGET)
        noeviction(check, kv, redis)
        multi_full(check, kv, redis)
        lru(check, kv, redis)
        object_memory(check, kv, redis)
        client_eviction(check, kv, redis)
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
