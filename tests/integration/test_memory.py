#!/usr/bin/env python3
"""MEMORY against redis-server 7.0: HELP, the subcommands' errors and USAGE's options byte for
byte; STATS with Redis's fields in Redis's order (RESP2 and RESP3), its figures agreeing with
INFO and DBSIZE; DOCTOR's texts (empty, healthy, after a peak); PURGE and MALLOC-STATS.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvtest  # noqa: E402

KV_OPTIONS = ("--hugepages", "off", "--maxmemory", "128mb")
FILL_KEYS = 100000
VALUE = b"v" * 200
EMPTY = (b"Hi Sam, this instance is empty or is using very little memory, my issues detector "
         b"can't be used in these conditions.")
FINE = b"Hi Sam, I can't find any memory issue in your instance."
PEAK = b" * Peak memory: In the past this instance used more than 150% the memory"


def stats_names(reply):
    value = kvtest.decode(reply)
    items = value[1] if isinstance(value, tuple) else value
    names = items[::2]
    db = items[1::2][names.index(b"db.0")] if b"db.0" in names else None
    if isinstance(db, tuple):
        db = db[1]
    return names, (db[::2] if db else None), dict(zip(names, items[1::2]))


def fill(client, count, value):
    for start in range(0, count, 1000):
        batch = b"".join(kvtest.encode(b"SET", b"key:%d" % n, value)
                         for n in range(start, min(start + 1000, count)))
        client.send(batch)
        client.replies(min(1000, count - start))


def compare_fixed(check, kv, redis):
    for args in ([b"HELP"], [b"help", b"x"], [b"NOSUCH"], [b"STATS", b"x"], [b"DOCTOR", b"x"],
                 [b"PURGE"], [b"PURGE", b"x"], [b"USAGE"], [b"USAGE", b"nokey"],
                 [b"USAGE", b"k", b"SAMPLES"], [b"USAGE", b"k", b"SAMPLES", b"x"],
                 [b"USAGE", b"k", b"SAMPLES", b"-1"], [b"USAGE", b"k", b"SAMPLES", b"0"],
                 [b"USAGE", b"k", b"SAMPLES", b"1", b"SAMPLES", b"2"], [b"USAGE", b"k", b"X"],
                 [b"USAGE", b"k", b"samples", b"1", b"x"], [b"MALLOC-STATS", b"x"]):
        want, got = redis.call(b"MEMORY", *args), kv.call(b"MEMORY", *args)
        if want.startswith(b":") and got.startswith(b":"):
            want = got = b":(the key's bytes, each server's own)"
        check.equal(f"MEMORY {args!r}", want, got)
    check.equal("MEMORY alone", redis.call(b"MEMORY"), kv.call(b"MEMORY"))


def compare_stats(check, kv, redis, what):
    kv_names, kv_db, kv_values = stats_names(kv.call(b"MEMORY", b"STATS"))
    redis_names, redis_db, _ = stats_names(redis.call(b"MEMORY", b"STATS"))
    check.equal(f"MEMORY STATS {what}: Redis's fields in order", redis_names, kv_names)
    check.equal(f"MEMORY STATS {what}: db.0's fields", redis_db, kv_db)
    return kv_values


def main():
    check = kvtest.Checker("test_memory", verbose=False)
    redis = kvtest.start_redis()
    kv = kvtest.start_kv(*KV_OPTIONS)
    try:
        with kv.connect() as kv_client, redis.connect() as redis_client:
            compare_fixed(check, kv_client, redis_client)
            compare_stats(check, kv_client, redis_client, "empty")
            check.equal("MEMORY DOCTOR empty", redis_client.call(b"MEMORY", b"DOCTOR"),
                        kv_client.call(b"MEMORY", b"DOCTOR"))
            for client in (kv_client, redis_client):
                client.call(b"SET", b"k", b"v")
                client.call(b"EXPIRE", b"k", b"100")
            compare_fixed(check, kv_client, redis_client)
            values = compare_stats(check, kv_client, redis_client, "with keys")
            fill(kv_client, FILL_KEYS, VALUE)
            values = compare_stats(check, kv_client, redis_client, "filled")
            info = kvtest.info(kv_client, "memory")
            check.equal("total.allocated is INFO's used_memory", int(info["used_memory"]),
                        values[b"total.allocated"])
            check.equal("keys.count is DBSIZE", kvtest.decode(kv_client.call(b"DBSIZE")),
                        values[b"keys.count"])
            check.true("the overhead and the dataset add up to the total",
                       values[b"overhead.total"] + values[b"dataset.bytes"] ==
                       values[b"total.allocated"], str(values))
            check.equal("clients.normal is INFO's mem_clients_normal",
                        int(info["mem_clients_normal"]), values[b"clients.normal"])
            doctor = kvtest.decode(kv_client.call(b"MEMORY", b"DOCTOR"))
            check.true("MEMORY DOCTOR with 20 MB of fresh data: no issue",
                       doctor.startswith(FINE), repr(doctor[:120]))
            kv_client.call(b"FLUSHALL")
            fill(kv_client, 30000, VALUE)
            doctor = kvtest.decode(kv_client.call(b"MEMORY", b"DOCTOR"))
            check.true("MEMORY DOCTOR after a peak: the peak issue", PEAK in doctor,
                       repr(doctor[:200]))
            check.true("... in Redis's frame", doctor.startswith(
                b"Sam, I detected a few issues") and doctor.endswith(
                b"I'm here to keep you safe, Sam. I want to help you.\n"), repr(doctor[-80:]))
            malloc = kvtest.decode(kv_client.call(b"MEMORY", b"MALLOC-STATS"))
            check.true("MEMORY MALLOC-STATS: the heap's figures",
                       malloc.startswith(b"kv heap: "), repr(malloc[:80]))
            kv_client.call(b"HELLO", b"3")
            redis_client.call(b"HELLO", b"3")
            compare_stats(check, kv_client, redis_client, "RESP3")
            doctor = kv_client.call(b"MEMORY", b"DOCTOR")
            check.true("MEMORY DOCTOR in RESP3: a verbatim string", doctor.startswith(b"="),
                       repr(doctor[:20]))
    finally:
        kv.stop()
        redis.stop()
    check.finish()


if __name__ == "__main__":
    main()
