"""RDB files and DUMP/RESTORE in Redis 7.0's format, both ways, against a real redis-server.

1. Redis -> kv: redis-server holds every type in every encoding (int, short, compressible and
   long strings; lists of one and of many nodes; intset, small and large sets; listpack and
   table hashes; listpack and skiplist sorted sets; keys with TTLs) plus 100,000 string keys;
   its SAVE (LZF on) loads into kv at startup (logged "DB loaded from disk"), and every key
   reads back the same (type, contents, TTL within 2 s).
2. kv -> Redis: kv's SAVE writes <dir>/dump.rdb, redis-check-rdb 7.0 accepts it, and a
   redis-server started on that directory loads the same dataset.
3. kv restarted on its directory keeps its data; INFO persistence counts the save and the
   load; LASTSAVE moves. A corrupted file stops kv's startup with an error, as Redis's.
DUMP/RESTORE against Redis: test_diff_dump.py.
"""
import os
import random
import shutil
import subprocess
import tempfile
import time

import kvtest

STRING_KEYS = 100000
KV_OPTIONS = ["--hugepages", "off", "--maxmemory", "48mb", "--connections-max", "16"]


def pipeline(client, commands):
    """Sends the commands at once, returns the decoded replies."""
    client.send(b"".join(kvtest.encode(*command) for command in commands))
    return [kvtest.decode(reply) for reply in client.replies(len(commands))]


def dataset(rnd):
    """Commands building every type and encoding, and the 100,000 strings."""
    commands = []
    for index in range(STRING_KEYS):
        kind = index % 5
        if kind == 0:
            value = b"%d" % rnd.randrange(-2**31, 2**31)
        elif kind == 1:
            value = b"%d" % rnd.randrange(2**40)
        elif kind == 2:
            value = b"v%d" % index
        elif kind == 3:
            value = b"compressible-" * rnd.randint(2, 12)
        else:
            value = rnd.randbytes(rnd.randint(21, 60))
        commands.append([b"SET", b"s:%d" % index, value])
    commands.append([b"SET", b"big", os.urandom(200000) + b"a" * 300000])
    commands.append([b"RPUSH", b"l:small", b"a", b"1", b"-300", b"70000", b"x" * 70])
    commands.append([b"RPUSH", b"l:big"] + [b"item-%d" % i for i in range(5000)])
    commands.append([b"RPUSH", b"l:wide", b"w" * 20000, b"tail", b"9" * 19])
    commands.append([b"SADD", b"set:int"] + [b"%d" % (i * 7919 - 3000) for i in range(300)])
    commands.append([b"SADD", b"set:wide", b"5000000000", b"-1", b"7"])
    commands.append([b"SADD", b"set:small", b"a", b"b", b"c"])
    commands.append([b"SADD", b"set:big"] + [b"m%d" % i for i in range(1000)])
    commands.append([b"HSET", b"h:small", b"f1", b"v1", b"n", b"-4097", b"e", b""])
    commands.append([b"HSET", b"h:big"] + sum([[b"f%d" % i, b"v%d" % i] for i in range(900)], []))
    commands.append([b"HSET", b"h:long", b"f", b"L" * 100])
    commands.append([b"ZADD", b"z:small", b"1", b"a", b"2.5", b"b", b"-inf", b"c", b"1e300", b"d"])
    commands.append([b"ZADD", b"z:big"] + sum([[b"%r" % (i / 3), b"m%d" % i] for i in range(400)],
                                               []))
    commands.append([b"ZADD", b"z:long", b"0", b"M" * 80])
    for key in (b"s:1", b"s:2", b"l:small", b"h:small", b"z:big", b"set:int"):
        commands.append([b"PEXPIRE", key, b"%d" % rnd.randrange(100000, 900000)])
    return commands


COLLECTIONS = [b"big", b"l:small", b"l:big", b"l:wide", b"set:int", b"set:wide", b"set:small",
               b"set:big", b"h:small", b"h:big", b"h:long", b"z:small", b"z:big", b"z:long"]


def value_of(client, key):
    kind = client.value("TYPE", key)
    if kind == "string":
        return kind, client.value("GET", key)
    if kind == "list":
        return kind, client.value("LRANGE", key, "0", "-1")
    if kind == "set":
        return kind, sorted(client.value("SMEMBERS", key))
    if kind == "hash":
        pairs = client.value("HGETALL", key)
        return kind, sorted(zip(pairs[0::2], pairs[1::2]))
    if kind == "zset":
        return kind, client.value("ZRANGE", key, "0", "-1", "WITHSCORES")
    return kind, None


def same_dataset(check, label, source, target, strings=True):
    """Every key of source reads back the same from target (strings in MGET chunks; a sample
    of them without `strings`)."""
    check.equal(f"{label}: DBSIZE", source.value("DBSIZE"), target.value("DBSIZE"))
    mismatched = 0
    for start in range(0, STRING_KEYS if strings else 1, 2000):
        keys = [b"s:%d" % i for i in range(start, min(start + 2000, STRING_KEYS))]
        if source.call("MGET", *keys) != target.call("MGET", *keys):
            mismatched += 1
    check.equal(f"{label}: the {STRING_KEYS} strings", 0, mismatched)
    for key in COLLECTIONS:
        check.equal(f"{label}: {key!r}", value_of(source, key), value_of(target, key))
    for key in (b"s:1", b"s:2", b"l:small", b"h:small", b"z:big", b"set:int", b"s:3"):
        want = source.value("PTTL", key)
        got = target.value("PTTL", key)
        check.true(f"{label}: PTTL of {key!r} ({want} vs {got})",
                   (want == -1 and got == -1) or (want > 0 and abs(want - got) < 2000))


def start_redis_on(directory):
    port = kvtest.free_port()
    argv = kvtest.redis_argv(port) + ["--dir", directory, "--dbfilename", "dump.rdb"]
    return kvtest.Server("redis", argv, port).wait_ready(30)


def check_files(check, rnd):
    kv_dir = tempfile.mkdtemp(prefix="kvtest-rdb-kv-")
    redis_dir = tempfile.mkdtemp(prefix="kvtest-rdb-redis-")
    started = time.monotonic()
    try:
        with start_redis_on(redis_dir) as redis, redis.connect() as source:
            commands = dataset(rnd)
            for start in range(0, len(commands), 5000):
                pipeline(source, commands[start:start + 5000])
            check.equal("redis SAVE", "OK", source.value("SAVE"))
            print(f"redis written and saved: {time.monotonic() - started:.2f} s")
            # 2. kv loads Redis's file at startup.
            shutil.copy(os.path.join(redis_dir, "dump.rdb"), os.path.join(kv_dir, "dump.rdb"))
            kv = kvtest.start_kv(*KV_OPTIONS, "--dir", kv_dir)
            with kv, kv.connect() as client:
                print(f"kv loaded Redis's file: {time.monotonic() - started:.2f} s")
                check.true("kv logs the load", "DB loaded from disk:" in kv.log_text())
                fields = kvtest.info(client, "persistence")
                check.equal("INFO rdb_last_load_keys_loaded",
                            str(STRING_KEYS + len(COLLECTIONS)),
                            fields.get("rdb_last_load_keys_loaded"))
                same_dataset(check, "redis file in kv", source, client)
                print(f"compared: {time.monotonic() - started:.2f} s")
                # 1. kv's own file: redis-check-rdb accepts it, Redis loads the same data.
                before = client.value("LASTSAVE")
                check.equal("kv SAVE", "OK", client.value("SAVE"))
                check.true("LASTSAVE after SAVE", client.value("LASTSAVE") >= before)
                fields = kvtest.info(client, "persistence")
                check.equal("INFO rdb_saves", "1", fields.get("rdb_saves"))
            result = subprocess.run(["redis-check-rdb", os.path.join(kv_dir, "dump.rdb")],
                                    capture_output=True, text=True, timeout=60)
            check.true("redis-check-rdb accepts kv's file", result.returncode == 0 and
                       "RDB looks OK" in result.stdout, result.stdout[-600:])
            print(f"kv saved, file checked: {time.monotonic() - started:.2f} s")
            with start_redis_on(kv_dir) as again, again.connect() as target:
                same_dataset(check, "kv file in redis", source, target)
            print(f"redis loaded kv's file: {time.monotonic() - started:.2f} s")
            # 3. kv restarted on its directory keeps the data.
            with kvtest.start_kv(*KV_OPTIONS, "--dir", kv_dir) as kv, kv.connect() as client:
                same_dataset(check, "kv restarted", source, client, strings=False)
            print(f"kv restarted: {time.monotonic() - started:.2f} s")
        # A corrupt file (kv's own, cut short, a byte flipped): kv refuses to start.
        path = os.path.join(kv_dir, "dump.rdb")
        with open(path, "rb") as f:
            head = bytearray(f.read(6000))
        head[3000] ^= 0x55
        with open(path, "wb") as f:
            f.write(bytes(head))
        refused = subprocess.run([kvtest.KV_BIN, "--port", str(kvtest.free_port()), "--bind",
                                  "127.0.0.1", "--dir", kv_dir, "--hugepages", "off",
                                  "--maxmemory", "16mb"],
                                 capture_output=True, text=True, timeout=60)
        log = refused.stdout + refused.stderr
        check.true("kv refuses a corrupt file and exits non-zero",
                   refused.returncode != 0 and "Internal error in RDB reading" in log, log[-400:])
    finally:
        shutil.rmtree(kv_dir, True)
        shutil.rmtree(redis_dir, True)


def main():
    check = kvtest.Checker("test_rdb", verbose=False)
    kvtest.need_kv_binary()
    kvtest.need_program("redis-server")
    kvtest.need_program("redis-check-rdb")
    seed = int(os.environ.get("KV_SEED", random.randrange(1, 2**31)))
    print(f"test_rdb: seed {seed} (KV_SEED replays it)")
    rnd = random.Random(seed)
    started = time.monotonic()
    check_files(check, rnd)
    print(f"files: {time.monotonic() - started:.2f} s")
    check.finish()


if __name__ == "__main__":
    main()
