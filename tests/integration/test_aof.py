#!/usr/bin/env python3
"""The AOF in Redis 7.0's multi-part layout, both ways, against the real Redis 7.0 tools.

1. kv -> kv and Redis: kv with appendonly yes runs a workload that exercises every rewrite of
   propagation (SET EX/SETEX/PSETEX -> SET PXAT, EXPIRE -> PEXPIREAT, INCRBYFLOAT -> SET
   KEEPTTL, HINCRBYFLOAT -> HSET, SPOP -> SREM, blocking pops served later -> their plain
   forms, LMPOP/ZMPOP, GETEX/GETDEL, EVAL and MULTI/EXEC -> MULTI .. EXEC, SELECT, FLUSHDB,
   RESTORE with a relative TTL, XADD *), with a BGREWRITEAOF in the middle (a new base .rdb
   and incr file) and a CONFIG SET appendfsync. redis-check-aof 7.0 accepts the manifest; kv
   restarted on the directory has the same dataset (values and exact expiry times); a
   redis-server 7.0 started on a copy of the directory loads the same dataset.
2. Redis -> kv: redis-server 7.0 with appendonly yes runs the same workload (its BGREWRITEAOF
   makes a base .rdb); kv started on its appendonlydir loads the same dataset.
3. Torn and truncated tails: the incr file cut at random offsets, or a garbage tail appended,
   with aof-load-truncated yes and no: kv starts or refuses exactly when redis-server 7.0 does
   on its own copy of the same files, with the same dataset when both start, and logs Redis's
   lines. A file ending inside MULTI (after whole commands, after the MULTI alone, torn in
   the MULTI or in a command inside it), as the last file and as one before it: the same
   start or refusal, dataset, log lines, INFO sizes and file left as redis-server's, but for
   a command torn inside MULTI, which kv cuts before the MULTI where Redis cuts after the
   last whole command (its next start would then revert writes appended after that cut).
   A replayed command refused by one of kv's caps (list-length-max, key-size-max,
   val-size-max inside MULTI, key-count) stops the load with a line naming the cap.
4. CONFIG SET appendonly yes on a running kv writes a base of its dataset; INFO persistence
   shows the aof_* fields Redis shows; auto-aof-rewrite-* rewrites as the file doubles.
5. The same commands on kv and on redis-server 7.0 give the same incr file, command for
   command (absolute times aside): propagation is Redis's, single-command scripts unwrapped.
6. The sliced rewrite: BGREWRITEAOF of a ~7 MB dataset (many snapshot slices) under writes
   fed to a parallel redis-server too; Redis's answers to BGREWRITEAOF and BGSAVE during it,
   INFO's in-progress fields; kv's dataset after it and after a restart equals redis-server's;
   BGREWRITEAOF during a BGSAVE is scheduled; kill -9 mid-rewrite (appendfsync always): the old
   manifest (listing the new incr file) gives back every acknowledged write.
"""
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import kvtest

KV_OPTIONS = ["--hugepages", "off", "--maxmemory", "64mb", "--connections-max", "16"]
DBS = 16


def dataset(port):
    """Every key of every database: type, value, PEXPIRETIME."""
    redis = kvtest.need_pyredis()
    result = {}
    for db in range(DBS):
        client = redis.Redis(port=port, db=db, socket_timeout=20)
        for key in client.scan_iter(count=1000):
            kind = client.type(key)
            if kind == b"string":
                value = client.get(key)
            elif kind == b"list":
                value = client.lrange(key, 0, -1)
            elif kind == b"set":
                value = sorted(client.smembers(key))
            elif kind == b"zset":
                value = client.zrange(key, 0, -1, withscores=True)
            elif kind == b"hash":
                value = sorted(client.hgetall(key).items())
            elif kind == b"stream":
                value = client.xrange(key)
            else:
                value = None
            result[(db, key)] = (kind, value, client.execute_command("PEXPIRETIME", key))
        if db == 0:
            listed = client.execute_command("FUNCTION", "LIST")
            result["functions"] = sorted(repr(entry[1]) for entry in listed)
        client.close()
    return result


def compare(check, what, expected, got):
    missing = [k for k in expected if k not in got]
    extra = [k for k in got if k not in expected]
    differ = [k for k in expected if k in got and expected[k] != got[k]]
    check.true(f"{what}: same keys ({len(expected)})", not missing and not extra,
               f"missing {missing[:5]} extra {extra[:5]}")
    check.true(f"{what}: same values and expiry times", not differ,
               f"{[(k, expected[k], got.get(k)) for k in differ[:3]]}")


def workload(port, rnd, rewrite):
    """The commands (on one connection, plus a blocked client served later)."""
    redis = kvtest.need_pyredis()
    r = redis.Redis(port=port, socket_timeout=20)
    pipe = r.pipeline(transaction=False)
    for index in range(2000):
        pipe.set(b"k:%d" % index, b"v%d" % rnd.randrange(10**9))
    pipe.execute()
    r.set("big", os.urandom(100000) + b"x" * 200000)
    if rewrite:
        r.bgrewriteaof()
        # Redis rewrites in a child: wait for it (kv is done before the reply).
        for _ in range(500):
            info = r.info("persistence")
            if not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]:
                break
            time.sleep(0.02)
    r.set("s2", "v2", ex=1000)
    r.setex("s3", 500, "v3")
    r.psetex("s4", 400000, "v4")
    r.set("s1", "v1")
    r.expire("s1", 2000)
    r.execute_command("EXPIREAT", "k:1", int(time.time()) + 5000)
    r.execute_command("PEXPIRE", "k:2", 90000)
    r.incrbyfloat("f", 1.25)
    r.incrbyfloat("f", 2.5)
    r.hset("h", mapping={"a": "1", "b": "x"})
    r.hincrbyfloat("h", "a", 0.5)
    r.sadd("st", *[b"m%d" % i for i in range(40)])
    r.spop("st")
    r.spop("st", 5)
    r.rpush("l", *"abcdefgh")
    r.execute_command("LMPOP", 1, "l", "LEFT", "COUNT", 2)
    r.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5})
    r.execute_command("ZMPOP", 1, "z", "MIN", "COUNT", 2)
    r.config_set("appendfsync", "always")
    r.function_load("#!lua name=mylib\nredis.register_function('myset', function(keys, args) "
                    "return redis.call('set', keys[1], args[1]) end)")
    r.fcall("myset", 1, "fk", "fv")
    r.bzpopmax("z", 1)
    r.blpop(["nothing", "l"], 1)
    r.execute_command("BLMOVE", "l", "l2", "LEFT", "RIGHT", 1)
    r.execute_command("GETEX", "s1", "PERSIST")
    r.set("g1", "x")
    r.execute_command("GETEX", "g1", "EX", 700)
    r.set("g2", "y")
    r.execute_command("GETDEL", "g2")
    r.eval("redis.call('set', KEYS[1], 'a'); redis.call('incr', 'cnt'); return 1", 1, "e1")
    tx = r.pipeline(transaction=True)
    tx.incr("cnt")
    tx.sadd("st2", "a", "b")
    tx.execute()
    payload = r.dump("s2")
    r.restore("r1", 300000, payload)
    r.xadd("xs", {"f": "v"})
    r.xadd("xs", {"f2": "v2"})
    r.set("short", "z", px=1)
    r.config_set("appendfsync", "everysec")
    for db in (2, 5):
        other = redis.Redis(port=port, db=db, socket_timeout=20)
        other.set(b"d%d" % db, "x")
        other.rpush(b"dl%d" % db, "1", "2")
        other.close()
    redis.Redis(port=port, db=5).flushdb()
    # A blocked BLPOP served by another client's RPUSH: propagated as LPOP.
    blocked = socket.create_connection(("127.0.0.1", port))
    blocked.sendall(kvtest.encode("BLPOP", "bl", "0"))
    time.sleep(0.1)  # not an assertion: lets the BLPOP block first
    r.rpush("bl", "one", "two")
    reply = b""
    while not reply.endswith(b"one\r\n"):
        reply += blocked.recv(100)
    blocked.close()
    time.sleep(0.01)
    r.get("short")  # past its time: deleted, propagated as DEL
    r.close()


def wait_rewrite_done(port):
    redis = kvtest.need_pyredis()
    r = redis.Redis(port=port, socket_timeout=20)
    for _ in range(500):
        info = r.info("persistence")
        if not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]:
            break
        time.sleep(0.02)
    r.close()


def start_redis_on(directory, *extra):
    port = kvtest.free_port()
    argv = kvtest.redis_argv(port) + ["--dir", directory, "--appendonly", "yes"] + list(extra)
    return kvtest.Server("redis", argv, port).wait_ready()


def start_kv_on(directory, *extra):
    return kvtest.start_kv(*KV_OPTIONS, "--dir", directory, "--appendonly", "yes", *extra)


def try_start(argv, seconds=20):
    """Runs a server to readiness or exit: (started, log, dataset or None)."""
    port = kvtest.free_port()
    argv = argv(port)
    server = kvtest.Server("kv-tail" if "kv" in argv[0] else "redis", argv, port)
    try:
        server.wait_ready(seconds)
    except RuntimeError:
        return False, server.log_text(), None
    data = dataset(port)
    log = server.log_text()
    server.stop()
    return True, log, data


def check_roundtrip(check, rnd, root):
    kv_dir = os.path.join(root, "kv")
    os.mkdir(kv_dir)
    seed = rnd.randrange(2**31)
    with start_kv_on(kv_dir) as kv:
        workload(kv.port, random.Random(seed), rewrite=True)
        expected = dataset(kv.port)
        info = kvtest.info(kv.connect(), "persistence")
        check.equal("INFO aof_enabled", "1", info.get("aof_enabled"))
        check.equal("INFO aof_last_write_status", "ok", info.get("aof_last_write_status"))
        check.equal("INFO aof_rewrites counts the BGREWRITEAOF", "1", info.get("aof_rewrites"))
        check.true("INFO aof_current_size > aof_base_size",
                   int(info["aof_current_size"]) > int(info["aof_base_size"]) > 0)
    aof_dir = os.path.join(kv_dir, "appendonlydir")
    names = sorted(os.listdir(aof_dir))
    check.equal("kv's files after one rewrite",
                ["appendonly.aof.2.base.rdb", "appendonly.aof.2.incr.aof",
                 "appendonly.aof.manifest"], names)
    with open(os.path.join(aof_dir, "appendonly.aof.manifest")) as f:
        check.equal("the manifest, in Redis's format",
                    "file appendonly.aof.2.base.rdb seq 2 type b\n"
                    "file appendonly.aof.2.incr.aof seq 2 type i\n", f.read())
    with open(os.path.join(aof_dir, "appendonly.aof.2.incr.aof"), "rb") as f:
        incr = f.read()
    for form in (b"PXAT", b"PEXPIREAT", b"KEEPTTL", b"SREM", b"MULTI", b"EXEC", b"LPOP",
                 b"ZPOPMIN", b"ZPOPMAX", b"LMOVE", b"PERSIST", b"ABSTTL", b"SELECT", b"DEL"):
        check.true(f"the incr file holds {form.decode()}", form in incr)
    for raw in (b"SETEX", b"INCRBYFLOAT", b"BLPOP", b"EVAL", b"SPOP", b"GETEX"):
        check.true(f"the incr file holds no {raw.decode()}", b"$%d\r\n%s\r\n" % (len(raw), raw)
                   not in incr.upper())
    checked = subprocess.run(["redis-check-aof", os.path.join(aof_dir, "appendonly.aof.manifest")],
                             capture_output=True, text=True, timeout=60)
    check.true("redis-check-aof accepts kv's files",
               checked.returncode == 0 and "All AOF files and manifest are valid" in checked.stdout,
               checked.stdout[-600:])
    redis_copy = os.path.join(root, "redis-loads-kv")
    shutil.copytree(kv_dir, redis_copy)
    with start_kv_on(kv_dir) as kv:
        compare(check, "kv restarted on its AOF", expected, dataset(kv.port))
        check.true("kv logs the AOF load", "DB loaded from append only file" in kv.log_text())
    with start_redis_on(redis_copy) as redis:
        compare(check, "redis-server 7.0 loads kv's AOF", expected, dataset(redis.port))
    # Redis -> kv.
    redis_dir = os.path.join(root, "redis")
    os.mkdir(redis_dir)
    with start_redis_on(redis_dir) as redis:
        workload(redis.port, random.Random(seed), rewrite=True)
        redis_expected = dataset(redis.port)
    names = os.listdir(os.path.join(redis_dir, "appendonlydir"))
    check.true("redis wrote a base .rdb", any(n.endswith(".base.rdb") for n in names), names)
    with start_kv_on(redis_dir) as kv:
        compare(check, "kv loads redis-server's AOF", redis_expected, dataset(kv.port))
    return kv_dir, expected


def check_tails(check, rnd, root, kv_dir):
    """Cut or tear the incr file; kv starts or refuses as redis-server does."""
    source = os.path.join(kv_dir, "appendonlydir")
    incr_name = [n for n in os.listdir(source) if n.endswith(".incr.aof")][0]
    size = os.path.getsize(os.path.join(source, incr_name))
    cases = [("cut", rnd.randrange(1, size)) for _ in range(3)] + [("garbage", size)]
    for index, (kind, offset) in enumerate(cases):
        for truncated in ("yes", "no"):
            copies = []
            for who in ("kv", "redis"):
                directory = os.path.join(root, f"tail-{index}-{truncated}-{who}")
                shutil.copytree(kv_dir, directory)
                path = os.path.join(directory, "appendonlydir", incr_name)
                if kind == "cut":
                    os.truncate(path, offset)
                else:
                    with open(path, "ab") as f:
                        f.write(b"*2\r\n$3\r\nDEL\r\n$1\r\nk\r\nxx\x00garbage")
                copies.append(directory)
            kv_started, kv_log, kv_data = try_start(
                lambda port: [kvtest.KV_BIN, "--port", str(port), "--bind", "127.0.0.1",
                              "--save", ""] + KV_OPTIONS +
                             ["--dir", copies[0], "--appendonly", "yes",
                              "--aof-load-truncated", truncated])
            redis_started, redis_log, redis_data = try_start(
                lambda port: kvtest.redis_argv(port) +
                             ["--dir", copies[1], "--appendonly", "yes",
                              "--aof-load-truncated", truncated])
            what = f"{kind} at {offset} of {size}, aof-load-truncated {truncated}"
            check.equal(f"{what}: kv starts as redis-server does", redis_started, kv_started)
            if kv_started and redis_started:
                compare(check, f"{what}: same dataset", redis_data, kv_data)
            for line in ("Truncating the AOF", "Unexpected end of file", "Bad file format",
                         "Revert incomplete MULTI/EXEC"):
                check.equal(f"{what}: kv logs '{line}' as redis does", line in redis_log,
                            line in kv_log)


def multi_tail_cases():
    """An incr file with two transactions (the second ending the file) and where to cut it:
    (name, file bytes, the offset Redis 7.0 truncates to, kv's when it differs)."""
    def command(*args):
        return kvtest.encode(*args)
    head = command("SELECT", "0") + command("SET", "a", "1")
    whole = (command("MULTI") + command("SET", "b", "2") + command("INCR", "n") +
             command("EXEC") + command("SET", "x", "1"))
    before_multi = len(head + whole)
    multi = command("MULTI")
    inside = [command("SET", "d", "4"), command("RPUSH", "l", "y"), command("INCR", "n")]
    cases = []
    # The file ends inside the transaction after whole commands: both revert to its MULTI.
    for count in range(len(inside) + 1):
        data = head + whole + multi + b"".join(inside[:count])
        cases.append((f"ends after MULTI and {count} whole commands", data, before_multi,
                      before_multi))
    # Torn inside the MULTI itself: a torn command, cut back to before it.
    data = head + whole + multi[:7]
    cases.append(("torn inside the MULTI", data, before_multi, before_multi))
    # Torn in a command inside the transaction: Redis cuts after the last whole command,
    # leaving a MULTI without EXEC that reverts what is appended after it at the next start
    # (acknowledged writes lost); kv cuts before the MULTI (the same dataset now, nothing lost
    # later).
    for count in range(len(inside)):
        torn = inside[count][:len(inside[count]) - 3]
        data = head + whole + multi + b"".join(inside[:count]) + torn
        redis_at = before_multi + len(multi) + sum(len(c) for c in inside[:count])
        cases.append((f"torn in the command {count + 1} inside MULTI", data, redis_at,
                      before_multi))
    return cases


def tail_start(argv_of, directory, truncated):
    """A server on `directory` with appendonly yes: (started, log, dataset, INFO's two sizes,
    the incr file's size after the start)."""
    port = kvtest.free_port()
    argv = argv_of(port) + ["--dir", directory, "--appendonly", "yes",
                            "--aof-load-truncated", truncated]
    server = kvtest.Server("kv-tail" if "kv" in argv[0] else "redis", argv, port)
    incr = os.path.join(directory, "appendonlydir", "appendonly.aof.2.incr.aof")
    try:
        server.wait_ready(20)
    except RuntimeError:
        return False, server.log_text(), None, None, os.path.getsize(incr)
    with server.connect() as client:
        fields = kvtest.info(client, "persistence")
    data = dataset(port)
    log = server.log_text()
    server.stop()
    sizes = (fields.get("aof_current_size"), fields.get("aof_base_size"))
    return True, log, data, sizes, os.path.getsize(incr)


def tail_dir(root, name, incr_bytes, first_bytes=None):
    """An AOF directory: an incr file 1 (whole: `first_bytes`, or none) and incr file 2."""
    directory = os.path.join(root, name)
    aof_dir = os.path.join(directory, "appendonlydir")
    os.makedirs(aof_dir)
    lines = []
    for seq, data in ((1, first_bytes), (2, incr_bytes)):
        if data is not None:
            with open(os.path.join(aof_dir, f"appendonly.aof.{seq}.incr.aof"), "wb") as f:
                f.write(data)
            lines.append(f"file appendonly.aof.{seq}.incr.aof seq {seq} type i\n")
    with open(os.path.join(aof_dir, "appendonly.aof.manifest"), "w") as f:
        f.write("".join(lines))
    return directory


def check_multi_tails(check, root):
    """A file that ends inside MULTI (after whole commands, or torn in a command), with
    aof-load-truncated yes and no: kv starts or refuses as redis-server, loads the same
    dataset, logs the same lines, shows the same INFO sizes, and truncates where Redis does
    (before the MULTI), but for a command torn inside it (see multi_tail_cases). The same
    tail in a file before the last: refused by both, after the same cut."""
    kv_argv = lambda port: [kvtest.KV_BIN, "--port", str(port), "--bind", "127.0.0.1",
                            "--save", ""] + KV_OPTIONS
    lines = ("Truncating the AOF", "Unexpected end of file", "Revert incomplete MULTI/EXEC",
             "loaded anyway", "Bad file format")
    for index, (name, data, redis_at, kv_at) in enumerate(multi_tail_cases()):
        for truncated in ("yes", "no"):
            what = f"{name}, aof-load-truncated {truncated}"
            results = {}
            for who, argv_of in (("kv", kv_argv), ("redis", kvtest.redis_argv)):
                directory = tail_dir(root, f"multi-{index}-{truncated}-{who}", data)
                results[who] = tail_start(argv_of, directory, truncated)
            kv, redis = results["kv"], results["redis"]
            check.equal(f"{what}: kv starts as redis-server does", redis[0], kv[0])
            check.equal(f"{what}: the same dataset", redis[2], kv[2])
            check.equal(f"{what}: the same INFO aof_current_size, aof_base_size", redis[3], kv[3])
            for line in lines:
                check.equal(f"{what}: kv logs '{line}' as redis does", line in redis[1],
                            line in kv[1])
            started = truncated == "yes"
            check.equal(f"{what}: redis-server's file after the start", redis_at if started
                        else len(data), redis[4])
            check.equal(f"{what}: kv's file after the start", kv_at if started else len(data),
                        kv[4])
    # A file before the last ending inside MULTI: refused as a truncated file not the last.
    for truncated in ("yes", "no"):
        name, data, _, _ = multi_tail_cases()[1]
        results = {}
        first_sizes = {}
        for who, argv_of in (("kv", kv_argv), ("redis", kvtest.redis_argv)):
            directory = tail_dir(root, f"multi-first-{truncated}-{who}",
                                 kvtest.encode("SET", "z", "1"), first_bytes=data)
            results[who] = tail_start(argv_of, directory, truncated)
            first_sizes[who] = os.path.getsize(
                os.path.join(directory, "appendonlydir", "appendonly.aof.1.incr.aof"))
        what = f"the file before the last {name}, aof-load-truncated {truncated}"
        check.equal(f"{what}: kv refuses as redis-server does", (False, False),
                    (results["redis"][0], results["kv"][0]))
        check.equal(f"{what}: kv leaves that file as redis-server does (cut with "
                    f"aof-load-truncated yes)", first_sizes["redis"], first_sizes["kv"])
        for line in lines + ("the truncated file is not the last file",):
            check.equal(f"{what}: kv logs '{line}' as redis does", line in results["redis"][1],
                        line in results["kv"][1])


def check_multi_torn_then_write(check, root):
    """Why kv cuts a command torn inside MULTI before the MULTI: a write acknowledged after
    the start is still there after the next one (Redis's cut leaves a MULTI without EXEC that
    reverts it: printed, not asserted)."""
    name, data, _, _ = multi_tail_cases()[-1]
    kept = {}
    for who, start in (("kv", lambda d: start_kv_on(d, "--appendfsync", "always")),
                       ("redis", lambda d: start_redis_on(d, "--appendfsync", "always"))):
        directory = tail_dir(root, f"multi-then-{who}", data)
        with start(directory) as server, server.connect() as client:
            check.equal(f"{who}: SET after a start on a file {name}", b"+OK\r\n",
                        client.call("SET", "after", "1"))
        with start(directory) as server, server.connect() as client:
            kept[who] = client.call("GET", "after")
    check.equal("kv: the write acknowledged after that start survives the next", b"$1\r\n1\r\n",
                kept["kv"])
    print(f"a write after a start on a file {name}, at the next start: kv {kept['kv']!r}, "
          f"redis-server {kept['redis']!r}")


def check_limits(check, root):
    """A replayed command one of kv's optional caps refuses stops the load (kv exits) with a
    line naming the command, its offset and the cap's option, where it was skipped before;
    with the cap raised, kv loads the file as redis-server does."""
    head = kvtest.encode("SELECT", "0") + kvtest.encode("SET", "a", "1")
    cases = [("list-length-max", "2", kvtest.encode("RPUSH", "l", "x", "y", "z"), "RPUSH",
              "list is full (list_length_max is 2)"),
             ("key-size-max", "8", kvtest.encode("SET", "k" * 9, "v"), "SET",
              "key is too long (key_size_max is 8 bytes)"),
             ("val-size-max", "4", kvtest.encode("MULTI") + kvtest.encode("SET", "b", "2") +
              kvtest.encode("APPEND", "b", "3456") + kvtest.encode("EXEC"), "APPEND",
              "value is too long (val_size_max is 4 bytes)"),
             ("key-count", "2", kvtest.encode("MSET", "c", "3", "d", "4"), "MSET",
              "store is full (key_count is 2 keys)")]
    kv_argv = lambda port: [kvtest.KV_BIN, "--port", str(port), "--bind", "127.0.0.1",
                            "--save", ""] + KV_OPTIONS
    for option, value, tail, name, words in cases:
        data = head + tail + kvtest.encode("SET", "after", "1")
        at = len(head) + (tail.index(kvtest.encode("APPEND", "b", "3456"))
                          if name == "APPEND" else 0)
        capped = tail_dir(root, f"limit-{option}", data)
        started, log, _, _, _ = tail_start(
            lambda port: kv_argv(port) + [f"--{option}", value], capped, "yes")
        check.true(f"--{option} {value}: kv refuses to load the file", not started)
        line = (f"A limit of kv refused the command '{name}' at offset {at} reading the append "
                f"only file appendonly.aof.2.incr.aof: {words}; raise that option to load the "
                f"file")
        check.true(f"--{option} {value}: kv's log names the command, its offset and the cap",
                   line in log, log[-600:])
        results = {}
        for who, argv_of in (("kv", kv_argv), ("redis", kvtest.redis_argv)):
            results[who] = tail_start(argv_of, tail_dir(root, f"limit-{option}-{who}", data),
                                      "yes")
        check.true(f"--{option} raised: kv and redis-server start",
                   results["kv"][0] and results["redis"][0])
        check.equal(f"--{option} raised: kv loads the dataset redis-server loads",
                    results["redis"][2], results["kv"][2])


def check_config_set(check, root):
    directory = os.path.join(root, "config-set")
    os.mkdir(directory)
    with kvtest.start_kv(*KV_OPTIONS, "--dir", directory) as kv, kv.connect() as client:
        client.call("MSET", "a", "1", "b", "2")
        check.equal("INFO aof_enabled off", "0", kvtest.info(client, "persistence")["aof_enabled"])
        check.equal("CONFIG SET appendonly yes", b"+OK\r\n", client.call("CONFIG", "SET",
                                                                         "appendonly", "yes"))
        client.call("SET", "c", "3")
        fields = kvtest.info(client, "persistence")
        check.equal("INFO aof_enabled on", "1", fields["aof_enabled"])
        for name in ("aof_current_size", "aof_base_size", "aof_pending_rewrite",
                     "aof_buffer_length", "aof_pending_bio_fsync", "aof_delayed_fsync"):
            check.true(f"INFO has {name} with appendonly on", name in fields)
        expected = dataset(kv.port)
    with start_kv_on(directory) as kv:
        compare(check, "kv restarted after CONFIG SET appendonly yes", expected,
                dataset(kv.port))


def check_auto_rewrite(check, root):
    """auto-aof-rewrite-percentage 100 and a small minimum: the AOF is rewritten as it
    doubles, and the dataset survives the rewrites."""
    directory = os.path.join(root, "auto")
    os.mkdir(directory)
    with start_kv_on(directory, "--auto-aof-rewrite-min-size", "64kb",
                     "--auto-aof-rewrite-percentage", "100") as kv, kv.connect() as client:
        fed = 0
        # At least 40 batches, then on until two automatic rewrites have finished: how many
        # fit in 40 depends on how fast a rewrite runs next to the writes (a loaded machine
        # finished only one). Bounded: 400 batches, 4.8 MB fed, dozens of doublings of 64 KiB.
        for index in range(400):
            batch = b"".join(kvtest.encode("SET", f"a:{index}:{n}", "x" * 100)
                             for n in range(100))
            client.send(batch)
            client.replies(100)
            client.call("INCR", "counter")
            fed += len(batch) + len(kvtest.encode("INCR", "counter"))
            if index >= 39 and int(kvtest.info(client, "persistence")["aof_rewrites"]) >= 2:
                break
        # Writes go on while a rewrite runs (into the new incr file, as with Redis's child),
        # so the size is checked once the last one is done.
        wait_rewrite_done(kv.port)
        fields = kvtest.info(client, "persistence")
        check.true("auto rewrite: aof_rewrites counts the automatic rewrites",
                   int(fields["aof_rewrites"]) >= 2, fields["aof_rewrites"])
        check.true("auto rewrite: the rewrites keep the AOF smaller than what was fed",
                   int(fields["aof_current_size"]) < fed,
                   f"{fields['aof_current_size']} >= {fed}")
        client.call("BGREWRITEAOF")
        wait_rewrite_done(kv.port)
        fields = kvtest.info(client, "persistence")
        check.equal("auto rewrite: a rewrite without writes leaves an empty incr file",
                    fields["aof_base_size"], fields["aof_current_size"])
        expected = dataset(kv.port)
    names = sorted(os.listdir(os.path.join(directory, "appendonlydir")))
    check.equal("auto rewrite: one base, one incr, the manifest", 3, len(names))
    with start_kv_on(directory) as kv:
        compare(check, "auto rewrite: kv restarted", expected, dataset(kv.port))


def fast_dataset(port, dbs=(0, 1)):
    """Every key of the given databases, pipelined (a large dataset): type, value,
    PEXPIRETIME."""
    redis = kvtest.need_pyredis()
    result = {}
    for db in dbs:
        client = redis.Redis(port=port, db=db, socket_timeout=30)
        keys = list(client.scan_iter(count=5000))
        for start in range(0, len(keys), 2000):
            chunk = keys[start:start + 2000]
            pipe = client.pipeline(transaction=False)
            for key in chunk:
                pipe.type(key)
            kinds = pipe.execute()
            pipe = client.pipeline(transaction=False)
            for key, kind in zip(chunk, kinds):
                if kind == b"string":
                    pipe.get(key)
                elif kind == b"list":
                    pipe.lrange(key, 0, -1)
                elif kind == b"zset":
                    pipe.zrange(key, 0, -1, withscores=True)
                elif kind == b"hash":
                    pipe.hgetall(key)
                else:
                    pipe.type(key)
                pipe.execute_command("PEXPIRETIME", key)
            values = pipe.execute()
            for index, (key, kind) in enumerate(zip(chunk, kinds)):
                value = values[2 * index]
                value = sorted(value.items()) if isinstance(value, dict) else value
                result[(db, key)] = (kind, value, values[2 * index + 1])
        client.close()
    return result


LIBRARY = ("#!lua name=slicedlib\nredis.register_function('slicedset', function(keys, args) "
           "return redis.call('set', keys[1], args[1]) end)")
FAR_MS = 4102444800000  # 2100-01-01: absolute expiry times, the same on both servers


def big_load():
    """Commands that build a dataset of many snapshot slices (~7 MB: strings, hashes, lists,
    sorted sets, expiry times, two databases)."""
    commands = []
    for batch in range(60):
        args = ["MSET"]
        for n in range(500):
            args += [f"s:{batch}:{n}", f"{batch}:{n}:" + "v" * 200]
        commands.append(args)
    for index in range(300):
        commands.append(["HSET", f"h:{index}"] + [x for f in range(20) for x in (f"f{f}", f"{index}")])
        commands.append(["RPUSH", f"l:{index}"] + [f"e{e}" for e in range(30)])
        commands.append(["ZADD", f"z:{index}"] + [x for m in range(20) for x in (str(m), f"m{m}")])
    for n in range(0, 30000, 7):
        commands.append(["PEXPIREAT", f"s:{n // 500}:{n % 500}", str(FAR_MS + n)])
    commands.append(["SELECT", "1"])
    for n in range(2000):
        commands.append(["SET", f"d1:{n}", "x" * 100])
    commands.append(["SELECT", "0"])
    return commands


def mutations(rnd, count):
    """Writes over the loaded dataset (deterministic results, absolute times)."""
    commands = []
    for step in range(count):
        batch, n, index = rnd.randrange(60), rnd.randrange(500), rnd.randrange(300)
        kind = rnd.randrange(10)
        if kind == 0:
            commands.append(["SET", f"s:{batch}:{n}", f"new{step}"])
        elif kind == 1:
            commands.append(["DEL", f"s:{batch}:{n}", f"h:{index}"])
        elif kind == 2:
            commands.append(["HSET", f"h:{index}", f"f{rnd.randrange(40)}", f"w{step}"])
        elif kind == 3:
            commands.append(["LPUSH", f"l:{index}", f"p{step}"])
        elif kind == 4:
            commands.append(["RPOP", f"l:{index}"])
        elif kind == 5:
            commands.append(["ZADD", f"z:{index}", str(step), f"m{rnd.randrange(40)}"])
        elif kind == 6:
            commands.append(["INCR", "counter"])
        elif kind == 7:
            commands.append(["PEXPIREAT", f"s:{batch}:{n}", str(FAR_MS + step)])
        elif kind == 8:
            commands.append(["SET", f"new:{step}", "n"])
        else:
            commands += [["SELECT", "1"], ["SET", f"d1:{rnd.randrange(3000)}", f"y{step}"],
                         ["SELECT", "0"]]
    return commands


def run_commands(client, commands, chunk=500):
    """Sends the commands pipelined; returns the replies."""
    replies = []
    for start in range(0, len(commands), chunk):
        part = commands[start:start + chunk]
        client.send(b"".join(kvtest.encode(*c) for c in part))
        replies += client.replies(len(part))
    return replies


def persistence(reply):
    text = reply.decode() if isinstance(reply, bytes) else reply
    return dict(line.split(":", 1) for line in text.split("\r\n") if ":" in line)


def check_sliced_rewrite(check, rnd, root):
    """BGREWRITEAOF of a dataset of many slices, under writes fed to a parallel
    redis-server too: the in-progress answers, the dataset after the rewrite and after a
    restart equals redis-server's, the files are Redis's."""
    directory = os.path.join(root, "sliced")
    os.mkdir(directory)
    load = big_load()
    with start_kv_on(directory) as kv, kvtest.start_redis() as redis_server, \
            kv.connect() as client, redis_server.connect() as mirror:
        run_commands(client, load + [["FUNCTION", "LOAD", LIBRARY]])
        run_commands(mirror, load)
        client.send(b"".join(kvtest.encode(*c) for c in (
            ["BGREWRITEAOF"], ["BGREWRITEAOF"], ["BGSAVE"], ["INFO", "persistence"])))
        replies = client.replies(4)
        check.equal("BGREWRITEAOF starts the rewrite",
                    b"+Background append only file rewriting started\r\n", replies[0])
        check.equal("BGREWRITEAOF during the rewrite: Redis's error",
                    b"-ERR Background append only file rewriting already in progress\r\n",
                    replies[1])
        check.starts("BGSAVE during the rewrite: Redis's error", b"-ERR Another child process "
                     b"is active (AOF?): can't BGSAVE right now.", replies[2])
        fields = persistence(kvtest.decode(replies[3]))
        check.equal("INFO aof_rewrite_in_progress during the rewrite", "1",
                    fields.get("aof_rewrite_in_progress"))
        check.equal("INFO rdb_bgsave_in_progress stays 0 during the rewrite", "0",
                    fields.get("rdb_bgsave_in_progress"))
        check.equal("INFO aof_current_rewrite_time_sec during the rewrite", "0",
                    fields.get("aof_current_rewrite_time_sec"))
        # Writes while the rewrite runs (and after), the same on both servers.
        batches = running = 0
        while batches < 20 or (running == batches and batches < 2000):
            writes = mutations(rnd, 200)
            got = run_commands(client, writes + [["INFO", "persistence"]])
            run_commands(mirror, writes)
            batches += 1
            running += persistence(kvtest.decode(got[-1])).get("aof_rewrite_in_progress") == "1"
        print(f"sliced rewrite: {running} of {batches} write batches ran during it")
        check.true("writes ran during the rewrite", running >= 1, f"{running}")
        fields = kvtest.info(client, "persistence")
        check.equal("INFO aof_rewrites after the rewrite", "1", fields.get("aof_rewrites"))
        check.equal("INFO aof_last_bgrewrite_status", "ok", fields.get("aof_last_bgrewrite_status"))
        check.equal("INFO aof_current_rewrite_time_sec after it", "-1",
                    fields.get("aof_current_rewrite_time_sec"))
        expected = fast_dataset(redis_server.port)
        compare(check, "sliced rewrite under writes: kv equals redis-server", expected,
                fast_dataset(kv.port))
        aof_dir = os.path.join(directory, "appendonlydir")
        check.equal("sliced rewrite: the files",
                    ["appendonly.aof.2.base.rdb", "appendonly.aof.2.incr.aof",
                     "appendonly.aof.manifest"], sorted(os.listdir(aof_dir)))
        with open(os.path.join(aof_dir, "appendonly.aof.manifest")) as f:
            check.equal("sliced rewrite: the manifest",
                        "file appendonly.aof.2.base.rdb seq 2 type b\n"
                        "file appendonly.aof.2.incr.aof seq 2 type i\n", f.read())
        # BGREWRITEAOF during a BGSAVE: scheduled, run after it.
        client.send(b"".join(kvtest.encode(*c) for c in (
            ["BGSAVE"], ["BGREWRITEAOF"], ["INFO", "persistence"])))
        replies = client.replies(3)
        check.equal("BGSAVE starts", b"+Background saving started\r\n", replies[0])
        check.equal("BGREWRITEAOF during a BGSAVE is scheduled",
                    b"+Background append only file rewriting scheduled\r\n", replies[1])
        check.equal("INFO aof_rewrite_scheduled", "1",
                    persistence(kvtest.decode(replies[2])).get("aof_rewrite_scheduled"))
        wait_rewrite_done(kv.port)
        check.equal("the scheduled rewrite ran", "2",
                    kvtest.info(client, "persistence").get("aof_rewrites"))
    checked = subprocess.run(["redis-check-aof", os.path.join(aof_dir, "appendonly.aof.manifest")],
                             capture_output=True, text=True, timeout=60)
    check.true("redis-check-aof accepts the sliced rewrite's files",
               checked.returncode == 0 and "All AOF files and manifest are valid" in checked.stdout,
               checked.stdout[-600:])
    with start_kv_on(directory) as kv, kv.connect() as client:
        compare(check, "sliced rewrite: kv restarted", expected, fast_dataset(kv.port))
        check.equal("sliced rewrite: the base file keeps the function libraries", b"fv",
                    kvtest.decode(client.call("FCALL", "slicedset", "1", "fk", "fv")) and
                    kvtest.decode(client.call("GET", "fk")))


def check_rewrite_crash(check, rnd, root):
    """kill -9 in the middle of a rewrite (appendfsync always): the old manifest, which lists
    the incr file opened at the rewrite's start, gives back every acknowledged write."""
    directory = os.path.join(root, "crash")
    os.mkdir(directory)
    load = big_load()
    kv = start_kv_on(directory, "--appendfsync", "always")
    with kvtest.start_redis() as redis_server, redis_server.connect() as mirror:
        with kv.connect() as client:
            run_commands(client, load)
            run_commands(mirror, load)
            writes = mutations(rnd, 300)
            got = run_commands(client, [["BGREWRITEAOF"]] + writes + [["INFO", "persistence"]],
                               chunk=1000)
            run_commands(mirror, writes)
            os.kill(kv.pid, signal.SIGKILL)
            kv.process.wait()
        kv.log.close()
        check.equal("crash: the rewrite ran at the kill", "1",
                    persistence(kvtest.decode(got[-1])).get("aof_rewrite_in_progress"))
        aof_dir = os.path.join(directory, "appendonlydir")
        with open(os.path.join(aof_dir, "appendonly.aof.manifest")) as f:
            check.equal("crash: the manifest lists the old base and both incr files",
                        "file appendonly.aof.1.base.rdb seq 1 type b\n"
                        "file appendonly.aof.1.incr.aof seq 1 type i\n"
                        "file appendonly.aof.2.incr.aof seq 2 type i\n", f.read())
        expected = fast_dataset(redis_server.port)
    with start_kv_on(directory) as again, again.connect() as client:
        compare(check, "crash mid-rewrite: kv restarted equals redis-server", expected,
                fast_dataset(again.port))
        check.equal("crash: a rewrite after the restart", b"+Background append only file "
                    b"rewriting started\r\n", client.call("BGREWRITEAOF"))
        wait_rewrite_done(again.port)
    with start_kv_on(directory) as again:
        compare(check, "crash: rewritten after the restart", expected, fast_dataset(again.port))


def incr_commands(directory):
    """The incr file's commands, each as one line, absolute times masked."""
    aof_dir = os.path.join(directory, "appendonlydir")
    name = [n for n in os.listdir(aof_dir) if n.endswith(".incr.aof")][0]
    with open(os.path.join(aof_dir, name), "rb") as f:
        data = f.read()
    commands, at = [], 0
    while at < len(data):
        end = data.index(b"\r\n", at)
        count, at = int(data[at + 1:end]), end + 2
        args = []
        for _ in range(count):
            end = data.index(b"\r\n", at)
            length, at = int(data[at + 1:end]), end + 2
            args.append(data[at:at + length])
            at += length + 2
        if args[0].upper() == b"PEXPIREAT" or (len(args) >= 5 and args[-2].upper() == b"PXAT"):
            args[-1] = b"<ms>"
        commands.append(b" ".join(args))
    return commands


def propagation_script(port):
    redis = kvtest.need_pyredis()
    r = redis.Redis(port=port, socket_timeout=20)
    r.set("a", "1")
    r.set("b", "2", ex=100)
    r.expire("a", 50)
    r.incrbyfloat("f", "1.5")
    r.hset("h", "x", "1")
    r.hincrbyfloat("h", "x", "2.5")
    r.sadd("s", "m1")
    r.spop("s")
    r.rpush("l", "a", "b", "c")
    r.lpop("l")
    r.execute_command("LMPOP", 1, "l", "RIGHT")
    r.zadd("z", {"a": 1, "b": 2})
    r.execute_command("ZMPOP", 1, "z", "MAX")
    r.getdel("b")
    r.set("g", "v")
    r.execute_command("GETEX", "g", "PX", 5000)
    r.execute_command("GETEX", "g", "PERSIST")
    r.eval("redis.call('set', 'e', '1')", 0)
    r.eval("redis.call('set', 'e', '1'); redis.call('set', 'e2', '2')", 0)
    tx = r.pipeline()
    tx.set("t1", "1")
    tx.set("t2", "2")
    tx.execute()
    tx = r.pipeline()
    tx.set("t3", "1")
    tx.get("t3")
    tx.execute()
    redis.Redis(port=port, db=3).set("d3", "1")
    r.set("n", "1")
    r.incr("n")
    r.delete("nope")
    r.expire("nope", 5)
    r.persist("n")
    r.setnx("n", "2")
    r.swapdb(0, 3)
    r.flushall()
    r.close()


def check_same_commands(check, root):
    """The same commands on kv and redis-server 7.0: the same incr file, times aside."""
    kv_dir = os.path.join(root, "same-kv")
    redis_dir = os.path.join(root, "same-redis")
    os.mkdir(kv_dir)
    os.mkdir(redis_dir)
    with start_kv_on(kv_dir, "--appendfsync", "always") as kv:
        propagation_script(kv.port)
    with start_redis_on(redis_dir, "--appendfsync", "always") as redis:
        propagation_script(redis.port)
    expected = incr_commands(redis_dir)
    got = incr_commands(kv_dir)
    check.equal(f"the incr file's {len(expected)} commands are redis-server's", expected, got)


def check_old_style(check, root):
    """A Redis 6 appendonly.aof (no directory, no manifest) is migrated and loaded, as
    redis-server 7.0 does."""
    text = b"".join(kvtest.encode(*command) for command in (
        ["SELECT", "0"], ["SET", "old", "1"], ["RPUSH", "ol", "a", "b"], ["SELECT", "2"],
        ["SET", "old2", "x"], ["MULTI"], ["INCR", "c"], ["INCR", "c"], ["EXEC"]))
    datasets = []
    for who in ("kv", "redis"):
        directory = os.path.join(root, f"old-{who}")
        os.mkdir(directory)
        with open(os.path.join(directory, "appendonly.aof"), "wb") as f:
            f.write(text)
        start = start_kv_on if who == "kv" else start_redis_on
        with start(directory) as server:
            datasets.append(dataset(server.port))
        with open(os.path.join(directory, "appendonlydir", "appendonly.aof.manifest")) as f:
            manifest = f.read()
        check.true(f"old style: {who}'s manifest names the migrated base",
                   "file appendonly.aof seq 1 type b" in manifest, manifest)
        if who == "kv":
            with start_kv_on(directory) as server:
                compare(check, "old style: kv restarted after the migration", datasets[0],
                        dataset(server.port))
    compare(check, "old style: kv loads what redis-server loads", datasets[1], datasets[0])


def main():
    check = kvtest.Checker("test_aof", verbose=False)
    kvtest.need_kv_binary()
    kvtest.need_pyredis()
    for program in ("redis-server", "redis-check-aof"):
        kvtest.need_program(program)
    seed = int(os.environ.get("KV_SEED", random.randrange(1, 2**31)))
    print(f"test_aof: seed {seed} (KV_SEED replays it)")
    rnd = random.Random(seed)
    root = tempfile.mkdtemp(prefix="kvtest-aof-")
    started = time.monotonic()
    try:
        kv_dir, _ = check_roundtrip(check, rnd, root)
        print(f"round trips: {time.monotonic() - started:.2f} s")
        check_tails(check, rnd, root, kv_dir)
        check_multi_tails(check, root)
        check_multi_torn_then_write(check, root)
        check_limits(check, root)
        print(f"tails: {time.monotonic() - started:.2f} s")
        check_config_set(check, root)
        check_same_commands(check, root)
        check_old_style(check, root)
        check_auto_rewrite(check, root)
        print(f"before the sliced rewrite: {time.monotonic() - started:.2f} s")
        check_sliced_rewrite(check, rnd, root)
        check_rewrite_crash(check, rnd, root)
        print(f"all: {time.monotonic() - started:.2f} s")
    finally:
        shutil.rmtree(root, True)
    check.finish()


if __name__ == "__main__":
    main()
