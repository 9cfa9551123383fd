"""Keyspace notifications: the same events, in the same order, as redis-server 7.0 publishes.

On each server a subscriber PSUBSCRIBEs '__key*__:*' and a writer sends the same seeded random
commands of strings, keys, expiry, lists, hashes, sets and sorted sets (wrong types, missing
keys, empty results and pops that empty a key included), streams (XADD, XTRIM, XDEL, XSETID,
XGROUP, consumers made by XREADGROUP, XCLAIM, XAUTOCLAIM), bitmaps (SETBIT, BITOP, BITFIELD)
and blocking pops (served at once), in batches; after each batch the
writer's replies must be byte-identical and everything the subscriber received (every
pmessage, channel and payload) must be identical and in the same order. The batches run
under a series of notify-keyspace-events values set with CONFIG SET (so each takes effect at
once): KEA, K without E, E without K, single classes, m (key misses), n (new keys), and "".
Then expiry: keys with short times, read after they passed (lazy) and left to the cron
(active): the same "expired" events (as a multiset: the two servers' active expiry walks
differ). Then eviction on kv alone (the keys each server evicts differ): under maxmemory with
allkeys-random, one "evicted" event per evicted key, each naming a key that is gone.
"""
import itertools
import os
import random
import time

import kvtest

COMMAND_COUNT = 20000
BATCH = 100
KEYS = [b"k1", b"k2", b"k3", b"l1", b"h1", b"s1", b"z1", b"", b"x y"]
VALUES = [b"v", b"1", b"10", b"-3", b"1.5", b"", b"abc", b"x" * 20]
FLAG_SETS = [b"KEA", b"KA", b"EA", b"Kg", b"E$", b"Kl", b"Es", b"Kh", b"Ez", b"KEm", b"KEn",
             b"AKEmn", b"", b"KEgx", b"Eg$lshz", b"Kt", b"Et$"]
STREAM_IDS = itertools.count(1000)
PONG = b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"


def command(rnd):
    key = rnd.choice(KEYS)
    other = rnd.choice(KEYS)
    value = rnd.choice(VALUES)
    choices = [
        [b"SET", key, value] + rnd.choice([[], [b"EX", b"100"], [b"PX", b"100000"], [b"NX"],
                                           [b"XX"], [b"GET"], [b"KEEPTTL"]]),
        [b"SETNX", key, value], [b"SETEX", key, b"100", value], [b"GETSET", key, value],
        [b"GETDEL", key], [b"GETEX", key, rnd.choice([b"EX", b"PERSIST"])] +
        ([b"100"] if rnd.random() < 0.5 else []),
        [b"MSET", key, value, other, value], [b"MSETNX", key, value, other, value],
        [b"APPEND", key, value], [b"SETRANGE", key, b"2", value], [b"INCR", key],
        [b"INCRBY", key, b"5"], [b"DECR", key], [b"INCRBYFLOAT", key, b"1.5"], [b"GET", key],
        [b"MGET", key, other], [b"DEL", key, other], [b"UNLINK", key], [b"EXISTS", key, other],
        [b"TYPE", key], [b"RENAME", key, other], [b"RENAMENX", key, other],
        [b"EXPIRE", key, rnd.choice([b"100", b"-1", b"0"])], [b"PEXPIRE", key, b"100000"],
        [b"PERSIST", key], [b"TTL", key], [b"TOUCH", key],
        [rnd.choice([b"LPUSH", b"RPUSH", b"LPUSHX", b"RPUSHX"]), key, value, value],
        [rnd.choice([b"LPOP", b"RPOP"]), key] + rnd.choice([[], [b"1"], [b"5"], [b"0"]]),
        [b"LSET", key, rnd.choice([b"0", b"-1", b"9"]), value], [b"LREM", key, b"0", value],
        [b"LTRIM", key, rnd.choice([b"0", b"1", b"5"]), rnd.choice([b"0", b"-1", b"-5"])],
        [b"LINSERT", key, b"BEFORE", value, b"new"],
        [b"LMOVE", key, other, rnd.choice([b"LEFT", b"RIGHT"]), rnd.choice([b"LEFT", b"RIGHT"])],
        [b"RPOPLPUSH", key, other], [b"LRANGE", key, b"0", b"-1"],
        [b"HSET", key, value, value], [b"HMSET", key, b"f", value], [b"HSETNX", key, b"f", value],
        [b"HDEL", key, b"f", value], [b"HINCRBY", key, b"n", b"2"],
        [b"HINCRBYFLOAT", key, b"n", b"0.5"], [b"HGET", key, b"f"],
        [b"SADD", key, value, b"m"], [b"SREM", key, value, b"m"], [b"SPOP", key, b"100"],
        [b"SINTERSTORE", key, other, b"s1"], [b"SUNIONSTORE", key, other],
        [b"SDIFFSTORE", key, other, b"s1"], [b"SMEMBERS", key],
        [b"ZADD", key] + rnd.choice([[], [b"NX"], [b"XX"], [b"GT"], [b"INCR"]]) +
        [rnd.choice([b"1", b"2", b"0"]), value],
        [b"ZINCRBY", key, rnd.choice([b"0", b"1"]), value], [b"ZREM", key, value],
        [b"ZREMRANGEBYRANK", key, b"0", b"0"], [b"ZREMRANGEBYSCORE", key, b"1", b"1"],
        [rnd.choice([b"ZPOPMIN", b"ZPOPMAX"]), key] + rnd.choice([[], [b"2"]]),
    ]
    ident = f"{next(STREAM_IDS)}-1".encode()
    group = [b"XGROUP", rnd.choice([b"CREATE", b"SETID"]), key, b"g", b"0"] + \
        ([b"MKSTREAM"] if rnd.random() < 0.5 else [])
    choices += [
        [b"XADD", key] + rnd.choice([[], [b"MAXLEN", b"2"], [b"NOMKSTREAM"]]) +
        [rnd.choice([ident, b"1-1"]), b"f", value],
        [b"XTRIM", key, b"MAXLEN", rnd.choice([b"0", b"1", b"3"])],
        [b"XDEL", key, rnd.choice([b"1-1", ident, b"x"])],
        [b"XSETID", key, rnd.choice([b"99999999-0", b"0-1"])], group,
        [b"XGROUP", rnd.choice([b"DESTROY", b"CREATECONSUMER", b"DELCONSUMER"]), key, b"g"] +
        ([rnd.choice([b"c", b"c2"])] if rnd.random() < 0.7 else []),
        [b"XREADGROUP", b"GROUP", b"g", rnd.choice([b"c", b"c3"]), b"COUNT", b"1", b"STREAMS",
         key, b">"],
        [b"XCLAIM", key, b"g", b"c4", b"0", b"1-1"], [b"XAUTOCLAIM", key, b"g", b"c5", b"0", b"0"],
        [b"SETBIT", key, rnd.choice([b"0", b"7", b"100"]), rnd.choice([b"0", b"1"])],
        [b"BITOP", rnd.choice([b"AND", b"OR", b"NOT"]), key, other] +
        ([b"k1"] if rnd.random() < 0.5 else []),
        [b"BITFIELD", key, b"OVERFLOW", rnd.choice([b"FAIL", b"WRAP"]), b"INCRBY", b"u4", b"0",
         rnd.choice([b"1", b"20"])] + ([b"GET", b"u8", b"0"] if rnd.random() < 0.5 else []),
    ]
    # The commands this session's other branches added.
    lon, lat = rnd.choice([b"13.36", b"15.08", b"2.35"]), rnd.choice([b"38.11", b"37.50", b"48.85"])
    choices += [
        [rnd.choice([b"ZUNIONSTORE", b"ZINTERSTORE", b"ZDIFFSTORE"]), key, b"2", other, b"z1"],
        [b"ZRANGESTORE", key, other, b"0", rnd.choice([b"-1", b"0"])] +
        rnd.choice([[], [b"BYSCORE", b"(5", b"+inf"] and [b"REV"]]),
        [b"ZREMRANGEBYLEX", key, rnd.choice([b"-", b"[a"]), rnd.choice([b"+", b"[v"])],
        [b"ZMPOP", b"2", key, other, rnd.choice([b"MIN", b"MAX"])] +
        rnd.choice([[], [b"COUNT", b"5"]]),
        [b"LMPOP", b"2", key, other, rnd.choice([b"LEFT", b"RIGHT"])] +
        rnd.choice([[], [b"COUNT", b"5"]]),
        [b"PFADD", key] + rnd.choice([[], [value], [b"a", b"b"]]),
        [b"PFMERGE", key, other], [b"PFCOUNT", key],
        [b"GEOADD", key] + rnd.choice([[], [b"NX"], [b"XX"], [b"CH"]]) + [lon, lat, value],
        [rnd.choice([b"GEORADIUS", b"GEORADIUS_RO"]), other, b"15", b"37", b"300", b"km"] +
        rnd.choice([[], [b"STORE", key], [b"STOREDIST", key]]),
        [b"GEOSEARCHSTORE", key, other, b"FROMLONLAT", b"15", b"37", b"BYRADIUS", b"300",
         b"km"] + rnd.choice([[], [b"STOREDIST"]]),
        [b"SORT", other] + rnd.choice([[], [b"ALPHA"]]) + rnd.choice([[], [b"STORE", key]]),
        [b"COPY", other, key] + rnd.choice([[], [b"REPLACE"]]),
    ]
    roll = rnd.random()
    if roll < 0.04:
        # Blocking pops, each after a push to its key so that it is served at once (a timeout
        # would cost the servers' timer resolution and publish nothing; a key of another
        # type still answers WRONGTYPE).
        if roll < 0.015:
            return [[b"RPUSH", key, value], [rnd.choice([b"BLPOP", b"BRPOP"]), key, other, b"1"]]
        if roll < 0.03:
            return [[b"LPUSH", key, value],
                    [b"BLMOVE", key, other, rnd.choice([b"LEFT", b"RIGHT"]), b"RIGHT", b"1"]]
        if roll < 0.035:
            return [[b"ZADD", key, b"1", value], [rnd.choice([b"BZPOPMIN", b"BZPOPMAX"]), key,
                                                  b"1"]]
        if roll < 0.0375:
            return [[b"ZADD", key, b"1", value], [b"BZMPOP", b"1", b"2", key, other, b"MIN"]]
        return [[b"RPUSH", key, value], [b"BLMPOP", b"1", b"2", key, other, b"LEFT"]]
    choices.append([b"SMOVE", key, other, value])
    return [rnd.choice(choices)]


def subscriber(server):
    client = server.connect()
    client.call("PSUBSCRIBE", "__key*__:*")
    return client


def drain(client):
    """Everything the subscriber received before the answer to a PING sent now."""
    client.send(kvtest.encode("PING"))
    received = []
    for _ in range(100000):
        reply = client.reply()
        if reply == PONG:
            return received
        received.append(reply)
    raise AssertionError("no PING answer")


def normal_reply(args, reply):
    if args[0] in (b"TTL", b"PTTL"):  # a time left, read a moment apart on the two servers
        value = kvtest.decode(reply)
        return value if not isinstance(value, int) or value < 0 else "positive"
    if args[0] in (b"SPOP", b"SMEMBERS"):  # a set's members come in each server's own order
        value = kvtest.decode(reply)
        return sorted(value) if isinstance(value, list) else value
    return reply


def differential(check, rnd, kv, redis):
    writers = [kv.connect(), redis.connect()]
    listeners = [subscriber(kv), subscriber(redis)]
    steps = 0
    per_flags = COMMAND_COUNT // len(FLAG_SETS) + 1
    for flags in FLAG_SETS:
        for writer in writers:
            check.equal(f"CONFIG SET {flags}", b"+OK\r\n",
                        writer.call("CONFIG", "SET", "notify-keyspace-events", flags))
        for batch_start in range(0, per_flags, BATCH):
            batch = [args for _ in range(BATCH) for args in command(rnd)]
            payload = b"".join(kvtest.encode(*args) for args in batch)
            for writer in writers:  # both at once: blocking pops time out side by side
                writer.send(payload)
            replies = [writer.replies(len(batch)) for writer in writers]
            events = [drain(listener) for listener in listeners]
            for index, args in enumerate(batch):
                if normal_reply(args, replies[0][index]) != normal_reply(args, replies[1][index]):
                    check.equal(f"[{flags}] reply to {kvtest.shorten(args)}", replies[1][index],
                                replies[0][index])
                    return steps
            if events[0] != events[1]:
                readable = [[kvtest.decode(event)[2:] for event in side] for side in events]
                check.equal(f"[{flags}] events of {[a[:3] for a in batch]}", readable[1],
                            readable[0])
                return steps
            steps += len(batch)
    for client in writers + listeners:
        client.close()
    return steps


def expiry(check, kv, redis):
    writers = [kv.connect(), redis.connect()]
    listeners = [subscriber(kv), subscriber(redis)]
    for writer in writers:
        writer.call("CONFIG", "SET", "notify-keyspace-events", "Ex")
        for index in range(40):
            writer.call("SET", f"e{index}", "v", "PX", str(20 + index % 5))
    time.sleep(0.15)
    for writer in writers:
        for index in range(0, 40, 2):  # half read lazily, the rest left to the cron
            writer.call("GET", f"e{index}")
    time.sleep(1.0)
    got = [sorted(drain(listener)) for listener in listeners]
    check.equal("expired events (lazy and active), as a multiset", got[1], got[0])
    check.equal("40 expired events", 40, len(got[0]))
    check.true("each names __keyevent@0__:expired",
               all(b"__keyevent@0__:expired" in event for event in got[0]))
    for client in writers + listeners:
        client.close()


def eviction(check, kv):
    writer = kv.connect()
    listener = subscriber(kv)
    writer.call("CONFIG", "SET", "notify-keyspace-events", "Ee")
    writer.call("CONFIG", "SET", "maxmemory-policy", "allkeys-random")
    check.equal("CONFIG SET maxmemory", b"+OK\r\n",
                writer.call("CONFIG", "SET", "maxmemory", os.environ.get("NT_MAXMEMORY", "8mb")))
    for index in range(3000):
        writer.send(kvtest.encode("SET", f"ev{index}", "x" * 4000))
    for _ in range(3000):
        writer.reply()
    events = drain(listener)
    evicted = int(kvtest.info(writer, "stats")["evicted_keys"])
    check.true(f"keys were evicted ({evicted})", evicted > 0)
    check.equal("one evicted event per evicted key", evicted, len(events))
    names = [kvtest.decode(event)[3] for event in events]
    check.true("every evicted key is gone",
               all(writer.value("EXISTS", name) == 0 for name in names[:200]))
    check.true("on __keyevent@0__:evicted",
               all(kvtest.decode(event)[2] == b"__keyevent@0__:evicted" for event in events))
    writer.close()
    listener.close()


def main():
    check = kvtest.Checker("test_diff_notify", verbose=False)
    seed = int(os.environ.get("KV_SEED") or random.randrange(1 << 32))
    print(f"seed {seed} (KV_SEED={seed} replays this run)")
    rnd = random.Random(seed)
    options = ["--connections-max", "16", "--hugepages", "off"]
    with kvtest.start_kv(*options) as kv, kvtest.start_redis() as redis:
        steps = differential(check, rnd, kv, redis)
        check.true(f"{steps} commands with equal events (at least {COMMAND_COUNT})",
                   steps >= COMMAND_COUNT, f"seed {seed}")
        if steps >= COMMAND_COUNT:
            expiry(check, kv, redis)
            if not kvtest.KV_IS_REDIS:
                eviction(check, kv)
    if check.failures:
        print(f"seed {seed}: rerun with KV_SEED={seed}")
    check.finish()


if __name__ == "__main__":
    main()
