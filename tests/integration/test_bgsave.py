"""Forkless BGSAVE (issue 17 items 2-3): the file is the dataset at the BGSAVE, whatever the
writes that run while the snapshot walks.

1. kv holds 120,000 strings, 300 lists, 300 hashes and 300 sets in database 0 and 5,000
   strings in database 1. BGSAVE answers "Background saving started" and, in the same
   pipeline, a second BGSAVE answers "-ERR Background save already in progress" and SAVE the
   same; then, while the walk runs, 20,000 writes go on: overwrites, deletes, new keys,
   RENAMEs, pushes, HSETs, SADDs, a key moved between databases, in both databases.
2. When INFO shows rdb_bgsave_in_progress:0, the file passes redis-check-rdb 7.0 and loads
   in redis-server 7.0 to exactly the dataset before the writes (every key, type and value,
   both databases), while kv itself holds the dataset after them. kv's log shows that keys
   were written ahead of a change (the hook path ran, not only the walk).
3. INFO persistence: rdb_last_bgsave_status:ok, rdb_saves counts it, LASTSAVE moved,
   rdb_changes_since_last_save counts the writes made after the snapshot point.
The second BGSAVE (the file checked in redis-server) starts right after database 0's keys
dict began doubling: the walk goes on by units of the smaller table while the rehash runs.
4. BGSAVE SCHEDULE answers as BGSAVE; BGSAVE inside MULTI/EXEC answers "Background saving
   scheduled" and cron starts it after the transaction; SHUTDOWN NOSAVE during a BGSAVE stops
   it and leaves no temp file.
"""
import os
import random
import re
import shutil
import subprocess
import tempfile
import time

import kvtest

KV_OPTIONS = ["--hugepages", "off", "--maxmemory", "160mb", "--connections-max", "16"]
STRINGS = 120000
COLLECTIONS = 300


def pipeline(client, commands):
    client.send(b"".join(kvtest.encode(*command) for command in commands))
    return [kvtest.decode(reply) for reply in client.replies(len(commands))]


def fill_commands():
    commands = [[b"SELECT", b"0"]]
    for index in range(STRINGS):
        commands.append([b"SET", b"k:%d" % index, b"value-%d-%s" % (index, b"x" * (index % 40))])
    for index in range(COLLECTIONS):
        commands.append([b"RPUSH", b"l:%d" % index] + [b"e%d" % i for i in range(index % 50 + 1)])
        commands.append([b"HSET", b"h:%d" % index] +
                        sum([[b"f%d" % i, b"%d" % (i * index)] for i in range(index % 30 + 1)], []))
        commands.append([b"SADD", b"s:%d" % index] + [b"m%d" % i for i in range(index % 20 + 1)])
    commands.append([b"SELECT", b"1"])
    for index in range(5000):
        commands.append([b"SET", b"d1:%d" % index, b"one-%d" % index])
    commands.append([b"SELECT", b"0"])
    return commands


def write_commands(rnd):
    """Writes that change the dataset everywhere: what the snapshot must not see."""
    commands = []
    for _ in range(20000):
        kind = rnd.randrange(10)
        index = rnd.randrange(STRINGS)
        if kind < 3:
            commands.append([b"SET", b"k:%d" % index, b"changed"])
        elif kind == 3:
            commands.append([b"DEL", b"k:%d" % index])
        elif kind == 4:
            commands.append([b"SET", b"new:%d" % index, b"new"])
        elif kind == 5:
            commands.append([b"RENAME", b"k:%d" % index, b"renamed:%d" % index])
        elif kind == 6:
            commands.append([b"RPUSH", b"l:%d" % (index % COLLECTIONS), b"pushed"])
        elif kind == 7:
            commands.append([b"HSET", b"h:%d" % (index % COLLECTIONS), b"f0", b"changed"])
        elif kind == 8:
            commands.append([b"SADD", b"s:%d" % (index % COLLECTIONS), b"added"])
        else:
            commands.append([b"SELECT", b"1"])
            commands.append([b"SET", b"d1:%d" % (index % 5000), b"changed"])
            commands.append([b"DEL", b"d1:%d" % ((index + 7) % 5000)])
            commands.append([b"SELECT", b"0"])
    return commands


def dataset(client):
    """Every key of databases 0 and 1 with its type and value (bytes), via SCAN and batches."""
    result = {}
    for db in (0, 1):
        pipeline(client, [[b"SELECT", b"%d" % db]])
        keys = []
        cursor = b"0"
        while True:
            cursor, batch = pipeline(client, [[b"SCAN", cursor, b"COUNT", b"5000"]])[0]
            keys.extend(batch)
            if cursor == b"0":
                break
        keys = sorted(set(keys))
        types = pipeline(client, [[b"TYPE", key] for key in keys])
        reads = []
        for key, kind in zip(keys, types):
            reads.append({"string": [b"GET", key], "list": [b"LRANGE", key, b"0", b"-1"],
                          "hash": [b"HGETALL", key], "set": [b"SMEMBERS", key]}[kind])
        values = []
        for start in range(0, len(reads), 5000):
            values.extend(pipeline(client, reads[start:start + 5000]))
        for key, kind, value in zip(keys, types, values):
            if kind in ("hash", "set"):
                value = sorted(value)
            result[(db, key)] = (kind, value)
    pipeline(client, [[b"SELECT", b"0"]])
    return result


def info_field(client, name):
    return kvtest.info(client, "persistence")[name]


def wait_bgsave(client):
    """Until the BGSAVE ends (bounded: 60 s)."""
    deadline = time.monotonic() + 60
    while info_field(client, "rdb_bgsave_in_progress") != "0":
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def start_redis_on(directory):
    port = kvtest.free_port()
    argv = kvtest.redis_argv(port) + ["--dir", directory, "--dbfilename", "dump.rdb"]
    return kvtest.Server("redis", argv, port).wait_ready()


def main():
    kvtest.need_kv_binary()
    kvtest.need_program("redis-server")
    kvtest.need_program("redis-check-rdb")
    check = kvtest.Checker("bgsave")
    rnd = random.Random(17)
    root = tempfile.mkdtemp(prefix="kvtest-bgsave-")
    try:
        kv_dir = os.path.join(root, "kv")
        os.mkdir(kv_dir)
        with kvtest.start_kv(*KV_OPTIONS, "--dir", kv_dir) as kv, kv.connect() as client:
            fill = fill_commands()
            for start in range(0, len(fill), 10000):
                pipeline(client, fill[start:start + 10000])
            before = dataset(client)
            lastsave = client.value("LASTSAVE")
            time.sleep(1.1)  # LASTSAVE has a one-second resolution
            writes = write_commands(rnd)
            replies = pipeline(client, [[b"BGSAVE"], [b"BGSAVE"], [b"SAVE"]] + writes)
            check.equal("BGSAVE starts", "Background saving started", replies[0])
            check.equal("a second BGSAVE during it",
                        ("error", "ERR Background save already in progress"), replies[1])
            check.equal("SAVE during it", ("error", "ERR Background save already in progress"),
                        replies[2])
            check.true("bgsave ends", wait_bgsave(client))
            after = dataset(client)
            check.true("the writes changed kv's dataset", after != before)
            persistence = kvtest.info(client, "persistence")
            check.equal("rdb_last_bgsave_status", "ok", persistence["rdb_last_bgsave_status"])
            check.equal("rdb_saves", "1", persistence["rdb_saves"])
            check.true("rdb_changes_since_last_save counts the writes after the point",
                       int(persistence["rdb_changes_since_last_save"]) > 10000,
                       persistence["rdb_changes_since_last_save"])
            check.true("LASTSAVE moved", client.value("LASTSAVE") > lastsave)
            log = kv.log_text()
            early = re.search(r"forkless: (\d+) keys, (\d+) written before a change", log)
            check.true("the log tells the keys written ahead of a change",
                       early is not None and int(early.group(2)) > 0,
                       early.group(0) if early else log[-500:])
            # BGSAVE SCHEDULE, and BGSAVE inside a transaction.
            check.equal("BGSAVE SCHEDULE", "Background saving started",
                        client.value("BGSAVE", "SCHEDULE"))
            check.true("bgsave ends", wait_bgsave(client))
            replies = pipeline(client, [[b"MULTI"], [b"SET", b"in-multi", b"1"], [b"BGSAVE"],
                                        [b"EXEC"]])
            check.equal("BGSAVE in EXEC is scheduled", ["OK", "Background saving scheduled"],
                        replies[3])
            deadline = time.monotonic() + 20
            while info_field(client, "rdb_saves") != "3" and time.monotonic() < deadline:
                time.sleep(0.05)
            check.equal("cron started the scheduled BGSAVE", "3",
                        info_field(client, "rdb_saves"))
            os.rename(os.path.join(kv_dir, "dump.rdb"), os.path.join(root, "first.rdb"))
            os.rename(os.path.join(root, "first.rdb"), os.path.join(kv_dir, "kept.rdb"))
        path = os.path.join(kv_dir, "kept.rdb")
        checked = subprocess.run(["redis-check-rdb", path], capture_output=True, text=True)
        check.true("redis-check-rdb accepts the BGSAVE's file", checked.returncode == 0,
                   checked.stdout[-400:])
        # The first BGSAVE's file was replaced by the later ones; redo the consistency check
        # on a fresh server so the file compared is the one taken under writes.
        kv_dir2 = os.path.join(root, "kv2")
        os.mkdir(kv_dir2)
        with kvtest.start_kv(*KV_OPTIONS, "--dir", kv_dir2) as kv, kv.connect() as client:
            fill = fill_commands()
            for start in range(0, len(fill), 10000):
                pipeline(client, fill[start:start + 10000])
            before = dataset(client)
            # Database 0's keys dict has 131,072 buckets and 120,900 keys: new keys up to one
            # past that, in the BGSAVE's pipeline, start its doubling just before the BGSAVE,
            # which then walks while that rehash goes on.
            grow = [[b"SET", b"grow:%d" % index, b"g"]
                    for index in range(131072 - len(before) + 5000 + 8)]
            for command in grow:
                before[(0, command[1])] = ("string", b"g")
            writes = write_commands(random.Random(18))
            replies = pipeline(client, grow + [[b"BGSAVE"]] + writes +
                               [[b"FLUSHDB"], [b"SET", b"late", b"1"]])
            check.equal("BGSAVE under writes", "Background saving started", replies[len(grow)])
            check.true("bgsave ends", wait_bgsave(client))
            check.true("the BGSAVE started while database 0 was rehashing",
                       "1 database(s) rehashing at the start" in kv.log_text(),
                       kv.log_text()[-600:])
            redis_dir = os.path.join(root, "redis")
            os.mkdir(redis_dir)
            shutil.copy(os.path.join(kv_dir2, "dump.rdb"), os.path.join(redis_dir, "dump.rdb"))
            # SHUTDOWN NOSAVE during a BGSAVE: stopped, no temp file left.
            pipeline(client, [[b"BGSAVE"]])
            client.send(kvtest.encode(b"SHUTDOWN", b"NOSAVE"))
            # kv exits by itself: wait for it (a SIGTERM racing the SHUTDOWN would find it
            # gone and count that as a problem), then close its log as Server.stop() does.
            check.equal("SHUTDOWN NOSAVE during a BGSAVE: kv exits 0", 0,
                        kv.process.wait(timeout=30))
            kv.log.close()
            leftovers = [name for name in os.listdir(kv_dir2) if name.startswith("temp-")]
            check.equal("no temp file after SHUTDOWN during BGSAVE", [], leftovers)
        checked = subprocess.run(["redis-check-rdb", os.path.join(redis_dir, "dump.rdb")],
                                 capture_output=True, text=True)
        check.true("redis-check-rdb accepts the file taken under writes",
                   checked.returncode == 0, checked.stdout[-400:])
        with start_redis_on(redis_dir) as redis, redis.connect() as client:
            loaded = dataset(client)
            check.equal("keys in redis-server == keys at the BGSAVE", len(before), len(loaded))
            check.true("redis-server loads exactly the dataset at the BGSAVE", loaded == before,
                       "differs at %s" % [k for k in set(before) | set(loaded)
                                          if before.get(k) != loaded.get(k)][:5])
    finally:
        shutil.rmtree(root, True)
    return check.finish()


if __name__ == "__main__":
    raise SystemExit(main())
