#!/usr/bin/env python3
"""The AOF loader replays commands of any size Redis accepts (issue 17).

kv's loader reads an AOF file through a window of 2 MiB; a command larger than the window is
read whole into the memory budget (the reserve a client's receive buffer would hold it in).
What this proves, each value compared by a client-side SHA-1 of its bytes:

1. kv with appendonly yes (appendfsync always, then everysec): SETs of 3, 32 and 100 MiB, an
   RPUSH of 30000 arguments (3 MB), an MSET of four 8 MiB values, a MULTI/EXEC holding a
   32 MiB SET and a 2000-argument RPUSH, a small SET after them; the incr file holds them all
   (no rewrite moved them into a base); kill -9 once the last reply is in (with everysec,
   once its bytes are in the file); kv restarted on its directory has every value.
2. redis-server 7.0 writes such an AOF (a 32 MiB value in its base .rdb by BGREWRITEAOF, more
   big commands in its incr file); kv loads it. And redis-server 7.0 loads kv's from (1).
3. A torn tail inside a big command (in a 32 MiB argument, just after its header, inside a
   30000-argument RPUSH), aof-load-truncated yes and no: kv starts or refuses as redis-server
   does on its own copy of the same files, logs Redis's lines with the same offsets, cuts the
   file to the same size, has the same dataset, and INFO shows the sizes Redis shows.
4. The bounds: a command the budget cannot hold, a value that finds no room besides its
   command, or an argument longer than proto-max-bulk-len fails the load with a line saying
   so (kv exits, as Redis exits when an allocation fails while loading); the same file loads
   with room. An annotation across the end of kv's first window loads (kv and Redis alike).
5. The RDB side streams too: dump.rdb and an AOF base .rdb (kv's, by SAVE and BGREWRITEAOF)
   with a 32 MiB incompressible and a 32 MiB compressible (LZF) value load back equal.
"""
import hashlib
import os
import random
import re
import shutil
import signal
import socket
import time

import kvtest

MIB = 1 << 20
# The budget holds the data (~240 MiB) and a 100 MiB command on its way in, as when it came.
KV_OPTIONS = ["--hugepages", "off", "--maxmemory", "512mb", "--connections-max", "16",
              "--auto-aof-rewrite-percentage", "0"]
REPLY_SECONDS = 120.0
INCR = "appendonly.aof.1.incr.aof"


def sha1(data):
    return hashlib.sha1(data).hexdigest()


def receive_exactly(sock, count):
    """count bytes from sock, read into one buffer (no quadratic joins of 100 MiB)."""
    buffer = bytearray(count)
    view = memoryview(buffer)
    done = 0
    while done < count:
        got = sock.recv_into(view[done:], min(count - done, 8 * MIB))
        if got == 0:
            raise kvtest.ConnectionClosed(bytes(buffer[:done][-80:]))
        done += got
    return bytes(buffer)


def get_digest(port, key):
    """SHA-1 of GET key's value, or None when the key is missing."""
    with socket.create_connection(("127.0.0.1", port), timeout=REPLY_SECONDS) as sock:
        sock.sendall(kvtest.encode("GET", key))
        header = b""
        while not header.endswith(b"\r\n"):
            header += receive_exactly(sock, 1)
        if header == b"$-1\r\n" or header == b"_\r\n":
            return None
        if not header.startswith(b"$"):
            raise ValueError(f"GET {key} answered {header!r}")
        length = int(header[1:-2])
        body = receive_exactly(sock, length + 2)
        return sha1(body[:length])


def call(port, *args):
    with kvtest.RespClient(port, timeout=REPLY_SECONDS) as client:
        return client.call(*args)


class Dataset:
    """What the workloads wrote: strings by digest, lists by digest of their elements."""

    def __init__(self):
        self.strings = {}
        self.lists = {}

    def string(self, key, value):
        self.strings[key] = sha1(value)

    def push(self, key, values):
        self.lists.setdefault(key, []).extend(sha1(v) for v in values)

    def compare(self, check, what, port):
        for key, digest in sorted(self.strings.items()):
            check.equal(f"{what}: {key}'s value", digest, get_digest(port, key))
        with kvtest.RespClient(port, timeout=REPLY_SECONDS) as client:
            for key, digests in sorted(self.lists.items()):
                got = kvtest.decode(client.call("LRANGE", key, "0", "-1"))
                check.equal(f"{what}: list {key} ({len(digests)} elements)", digests,
                            [sha1(v) for v in got] if isinstance(got, list) else got)


def big_workload(port, rnd):
    """The big commands of (1), through one connection; returns the Dataset."""
    data = Dataset()
    with kvtest.RespClient(port, timeout=REPLY_SECONDS) as client:
        for key, size in (("s3", 3 * MIB), ("s32", 32 * MIB), ("s100", 100 * MIB)):
            value = rnd.randbytes(size)
            assert client.call("SET", key, value) == b"+OK\r\n"
            data.string(key, value)
        elements = [rnd.randbytes(100) for _ in range(30000)]
        assert client.call("RPUSH", "list", *elements) == b":30000\r\n"
        data.push("list", elements)
        pairs = []
        for index in range(4):
            value = rnd.randbytes(8 * MIB)
            pairs += [f"m{index}", value]
            data.string(f"m{index}", value)
        assert client.call("MSET", *pairs) == b"+OK\r\n"
        t32 = rnd.randbytes(32 * MIB)
        inner = [rnd.randbytes(50) for _ in range(2000)]
        client.send(kvtest.encode("MULTI") + kvtest.encode("SET", "t32", t32) +
                    kvtest.encode("RPUSH", "tl", *inner) + kvtest.encode("EXEC"))
        replies = client.replies(4)
        assert replies[-1] == b"*2\r\n+OK\r\n:2000\r\n", replies
        data.string("t32", t32)
        data.push("tl", inner)
        assert client.call("SET", "after", "1") == b"+OK\r\n"
        data.string("after", b"1")
    return data


def aof_file(directory, name=INCR):
    return os.path.join(directory, "appendonlydir", name)


def file_holds_tail(path, tail):
    with open(path, "rb") as f:
        f.seek(max(0, os.path.getsize(path) - len(tail)))
        return f.read() == tail


def check_kv_restart(check, root, policy, seed):
    directory = os.path.join(root, f"kv-{policy}")
    os.mkdir(directory)
    kv = kvtest.start_kv(*KV_OPTIONS, "--dir", directory, "--appendonly", "yes",
                         "--appendfsync", policy)
    data = big_workload(kv.port, random.Random(seed))
    path = aof_file(directory)
    last = kvtest.encode("SET", "after", "1")
    if policy == "everysec":
        # With everysec the bytes reach the file after the reply: wait (bounded) for them.
        for _ in range(400):
            if file_holds_tail(path, last):
                break
            time.sleep(0.05)
    check.true(f"{policy}: the incr file ends with the last acknowledged command",
               file_holds_tail(path, last))
    check.true(f"{policy}: the incr file holds the big commands (no rewrite moved them)",
               os.path.getsize(path) > 200 * MIB, os.path.getsize(path))
    kill9(kv)
    with kvtest.start_kv(*KV_OPTIONS, "--dir", directory, "--appendonly", "yes") as again:
        data.compare(check, f"{policy}: kv restarted after kill -9", again.port)
        log = again.log_text()
        check.true(f"{policy}: kv logs the load", f"DB loaded from incr file {INCR}" in log)
        check.true(f"{policy}: no truncation", "Truncating" not in log)
    return directory, data


def start_redis_on(directory, *extra):
    port = kvtest.free_port()
    argv = kvtest.redis_argv(port) + ["--dir", directory, "--appendonly", "yes"] + list(extra)
    return kvtest.Server("redis", argv, port).wait_ready()


def wait_rewrite(port):
    for _ in range(600):
        fields = kvtest.info(kvtest.RespClient(port), "persistence")
        if fields["aof_rewrite_in_progress"] == "0" and fields["aof_rewrite_scheduled"] == "0":
            return True
        time.sleep(0.05)
    return False


def check_redis_both_ways(check, root, seed, kv_dir, kv_data):
    rnd = random.Random(seed)
    directory = os.path.join(root, "redis")
    os.mkdir(directory)
    data = Dataset()
    # No automatic rewrite: the big commands stay in one incr file. Timestamp annotations on.
    redis = start_redis_on(directory, "--appendfsync", "always", "--auto-aof-rewrite-percentage",
                           "0", "--aof-timestamp-enabled", "yes")
    with kvtest.RespClient(redis.port, timeout=REPLY_SECONDS) as client:
        base_value = rnd.randbytes(32 * MIB)
        client.call("SET", "base32", base_value)
        data.string("base32", base_value)
        check.starts("redis: BGREWRITEAOF", b"+Background", client.call("BGREWRITEAOF"))
        check.true("redis: the rewrite ends", wait_rewrite(redis.port))
        value = rnd.randbytes(32 * MIB)
        client.call("SET", "r32", value)
        data.string("r32", value)
        elements = [rnd.randbytes(100) for _ in range(30000)]
        client.call("RPUSH", "rlist", *elements)
        data.push("rlist", elements)
        pairs = []
        for index in range(2):
            value = rnd.randbytes(8 * MIB)
            pairs += [f"rm{index}", value]
            data.string(f"rm{index}", value)
        client.call("MSET", *pairs)
        client.call("SET", "rafter", "1")
        data.string("rafter", b"1")
    names = sorted(os.listdir(os.path.join(directory, "appendonlydir")))
    base = [n for n in names if n.endswith(".base.rdb")]
    incr = [n for n in names if n.endswith(".incr.aof")][-1]
    check.true("redis: the 32 MiB value is in its base .rdb",
               len(base) == 1 and os.path.getsize(aof_file(directory, base[0])) > 32 * MIB, names)
    with open(aof_file(directory, incr), "rb") as f:
        check.true("redis: its incr file starts with an annotation", f.read(4) == b"#TS:")
    check.true("redis: the big commands are in its incr file",
               os.path.getsize(aof_file(directory, incr)) > 51 * MIB,
               [(n, os.path.getsize(aof_file(directory, n))) for n in names])
    kill9(redis)   # appendfsync always: every reply's write is on disk
    with kvtest.start_kv(*KV_OPTIONS, "--dir", directory, "--appendonly", "yes") as kv:
        data.compare(check, "kv loads redis-server's AOF", kv.port)
    copy = os.path.join(root, "redis-loads-kv")
    shutil.copytree(kv_dir, copy)
    with start_redis_on(copy) as redis:
        kv_data.compare(check, "redis-server 7.0 loads kv's AOF", redis.port)


def log_lines(log, patterns):
    """For each pattern, the message of the first line holding it (from the pattern on)."""
    found = {}
    for pattern in patterns:
        match = re.search(re.escape(pattern) + r"[^\n]*", log)
        found[pattern] = match.group(0).rstrip() if match else None
    return found


def kill9(server):
    """kill -9 by PID; the log file goes."""
    os.kill(server.pid, signal.SIGKILL)
    server.process.wait()
    server.log.close()
    os.unlink(server.log.name)


def try_start(name, argv_of, seconds=60):
    """A server to readiness or to its exit: (started, log, port or None, server or None);
    the caller stops a started one (server.__exit__)."""
    port = kvtest.free_port()
    server = kvtest.Server(name, argv_of(port), port)
    try:
        server.wait_ready(seconds)
    except RuntimeError:
        log = server.log_text()
        os.unlink(server.log.name)
        return False, log, None, None
    return True, server.log_text(), port, server


def kv_argv(directory, *extra):
    return lambda port: [kvtest.KV_BIN, "--port", str(port), "--bind", "127.0.0.1",
                         "--save", ""] + KV_OPTIONS + ["--dir", directory, "--appendonly",
                                                       "yes"] + list(extra)


def torn_source(root, seed):
    """kv's files with a small SET, a 32 MiB SET, a 30000-argument RPUSH, a small SET; the
    offsets where each big command starts, and its bytes."""
    rnd = random.Random(seed)
    directory = os.path.join(root, "torn-source")
    os.mkdir(directory)
    big = rnd.randbytes(32 * MIB)
    elements = [rnd.randbytes(100) for _ in range(30000)]
    commands = [kvtest.encode("SET", "a", "1"), kvtest.encode("SET", "big", big),
                kvtest.encode("RPUSH", "list", *elements), kvtest.encode("SET", "z", "1")]
    with kvtest.start_kv(*KV_OPTIONS, "--dir", directory, "--appendonly", "yes") as kv, \
            kvtest.RespClient(kv.port, timeout=REPLY_SECONDS) as client:
        for command in commands:
            client.send(command)
            client.reply()
    with open(aof_file(directory), "rb") as f:
        incr = f.read()
    starts = [incr.find(command) for command in commands]
    return directory, starts, commands


def check_torn(check, root, seed):
    source, starts, commands = torn_source(root, seed)
    check.true("torn: the commands are in the incr file, in order",
               all(s >= 0 for s in starts) and starts == sorted(starts), starts)
    set_start, rpush_start = starts[1], starts[2]
    header = len(b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$33554432\r\n")
    cases = {
        "inside the 32 MiB argument": set_start + header + 16 * MIB,
        "just after the 32 MiB argument's header": set_start + header,
        "inside the 30000-argument RPUSH": rpush_start + len(commands[2]) // 2,
    }
    patterns = ["!!! Warning: short read while loading the AOF file",
                "!!! Truncating the AOF", "loaded anyway because aof-load-truncated is enabled",
                "Unexpected end of file reading the append only file", "Bad file format"]
    for what, offset in cases.items():
        for truncated in ("yes", "no"):
            label = f"torn {what}, aof-load-truncated {truncated}"
            copies = {}
            for who in ("kv", "redis"):
                copies[who] = os.path.join(root, f"torn-{offset}-{truncated}-{who}")
                shutil.copytree(source, copies[who])
                os.truncate(aof_file(copies[who]), offset)
            started = {}
            logs = {}
            sizes = {}
            results = {}
            servers = []
            for who, argv_of in (
                    ("kv", kv_argv(copies["kv"], "--aof-load-truncated", truncated)),
                    ("redis", lambda port: kvtest.redis_argv(port) + [
                        "--dir", copies["redis"], "--appendonly", "yes",
                        "--aof-load-truncated", truncated])):
                ok, log, port, server = try_start(f"{who}-torn", argv_of)
                started[who] = ok
                logs[who] = log_lines(log, patterns)
                sizes[who] = os.path.getsize(aof_file(copies[who]))
                if ok:
                    fields = kvtest.info(kvtest.RespClient(port), "persistence")
                    results[who] = (call(port, "GET", "a"), call(port, "EXISTS", "big"),
                                    call(port, "LLEN", "list"), call(port, "EXISTS", "z"),
                                    fields.get("aof_base_size"), fields.get("aof_current_size"),
                                    fields.get("aof_last_write_status"))
                    servers.append(server)
            for server in servers:
                server.__exit__(None, None, None)
            check.equal(f"{label}: kv starts as redis-server does", started["redis"],
                        started["kv"])
            check.equal(f"{label}: Redis's log lines", logs["redis"], logs["kv"])
            check.equal(f"{label}: the file cut to the size redis-server cuts it to",
                        sizes["redis"], sizes["kv"])
            if started["kv"] and started["redis"]:
                check.equal(f"{label}: dataset and INFO sizes as redis-server's",
                            results["redis"], results["kv"])
            if truncated == "yes":
                check.true(f"{label}: the commands before the torn one are kept",
                           started["kv"] and results.get("kv", (None,))[0] == b"$1\r\n1\r\n")


def expect_refused(check, what, argv_of, line):
    started, log, _, server = try_start("kv-refused", argv_of)
    if server is not None:
        server.__exit__(None, None, None)
    check.true(f"{what}: kv refuses to start", not started)
    check.true(f"{what}: kv logs '{line}'", line in log, log[-1500:])


def check_bounds(check, root, seed):
    rnd = random.Random(seed)
    directory = os.path.join(root, "bounds")
    os.mkdir(directory)
    value = rnd.randbytes(32 * MIB)
    with kvtest.start_kv(*KV_OPTIONS, "--dir", directory, "--appendonly", "yes") as kv:
        check.equal("bounds: SET 32 MiB", b"+OK\r\n", call(kv.port, "SET", "v", value))
    for what, extra, line in (
            ("a 32 MiB command in a 16 MiB budget", ["--maxmemory", "16mb"],
             "Out of memory reading the append only file appendonly.aof.1.incr.aof: the command "
             "at offset 23 (3 arguments) needs 33554465 bytes to be replayed"),
            ("a 32 MiB SET whose value finds no room besides its command in 48 MiB",
             ["--maxmemory", "48mb"],
             "Out of memory reading the append only file appendonly.aof.1.incr.aof: the command "
             "'SET' at offset 23 found no room in the memory budget"),
            ("a 32 MiB argument past proto-max-bulk-len 16mb", ["--proto-max-bulk-len", "16mb"],
             "is longer than proto-max-bulk-len (16777216); raise proto-max-bulk-len")):
        expect_refused(check, f"bounds: {what}", kv_argv(directory, *extra), line)
    with kvtest.start_kv(*KV_OPTIONS, "--dir", directory, "--appendonly", "yes",
                         "--maxmemory", "128mb") as kv:
        check.equal("bounds: the same file loads with room", sha1(value), get_digest(kv.port, "v"))


def check_annotation_at_window_end(check, root):
    """An annotation (Redis's "#TS:" line) that straddles the end of kv's first 2 MiB window:
    a command of 2 MiB - 5 bytes before it. kv and redis-server load the same."""
    directory = os.path.join(root, "annotation")
    os.mkdir(directory)
    with kvtest.start_kv(*KV_OPTIONS, "--dir", directory, "--appendonly", "yes"):
        pass   # the layout: an empty base, the manifest, an empty incr file
    window = 2 * MIB
    head = kvtest.encode("SET", "w", b"")
    value = b"w" * (window - 5 - len(head) - len(str(window)) + 1)
    first = kvtest.encode("SET", "w", value)
    check.equal("annotation: the first command ends 5 bytes before the window's end",
                window - 5, len(first))
    with open(aof_file(directory), "wb") as f:
        f.write(first + b"#TS:1700000000\r\n" + kvtest.encode("SET", "a", "1"))
    copy = os.path.join(root, "annotation-redis")
    shutil.copytree(directory, copy)
    for who, server in (("kv", kvtest.start_kv(*KV_OPTIONS, "--dir", directory,
                                               "--appendonly", "yes")),
                        ("redis-server", start_redis_on(copy))):
        with server:
            check.equal(f"annotation: {who} loads the command before it", sha1(value),
                        get_digest(server.port, "w"))
            check.equal(f"annotation: {who} loads the command after it", b"$1\r\n1\r\n",
                        call(server.port, "GET", "a"))


def check_rdb(check, root, seed):
    rnd = random.Random(seed)
    values = {"random": rnd.randbytes(32 * MIB), "compressible": b"abcdefgh" * (4 * MIB)}
    directory = os.path.join(root, "rdb")
    os.mkdir(directory)
    with kvtest.start_kv(*KV_OPTIONS, "--dir", directory) as kv:
        for key, value in values.items():
            call(kv.port, "SET", key, value)
        check.equal("rdb: SAVE", b"+OK\r\n", call(kv.port, "SAVE"))
    with kvtest.start_kv(*KV_OPTIONS, "--dir", directory) as kv:
        for key, value in values.items():
            check.equal(f"dump.rdb: the 32 MiB {key} value", sha1(value), get_digest(kv.port, key))
    directory = os.path.join(root, "base")
    os.mkdir(directory)
    with kvtest.start_kv(*KV_OPTIONS, "--dir", directory, "--appendonly", "yes") as kv:
        for key, value in values.items():
            call(kv.port, "SET", key, value)
        check.starts("base: BGREWRITEAOF", b"+Background", call(kv.port, "BGREWRITEAOF"))
        check.true("base: the rewrite ends", wait_rewrite(kv.port))
    names = os.listdir(os.path.join(directory, "appendonlydir"))
    base = [n for n in names if n.endswith(".base.rdb")]
    check.true("base: the values are in the base .rdb",
               len(base) == 1 and os.path.getsize(aof_file(directory, base[0])) > 32 * MIB, names)
    with kvtest.start_kv(*KV_OPTIONS, "--dir", directory, "--appendonly", "yes") as kv:
        for key, value in values.items():
            check.equal(f"base .rdb: the 32 MiB {key} value", sha1(value),
                        get_digest(kv.port, key))


def main():
    check = kvtest.Checker("test_aof_big")
    kvtest.need_kv_binary()
    kvtest.need_program("redis-server")
    seed = int(os.environ.get("KV_SEED", random.randrange(1, 2**31)))
    print(f"test_aof_big: seed {seed} (KV_SEED replays it)")
    root = kvtest.kv_temp_dir()
    started = time.monotonic()

    def lap(what):
        print(f"{what}: {time.monotonic() - started:.1f} s")

    kv_dir, kv_data = check_kv_restart(check, root, "always", seed)
    lap("always")
    check_kv_restart(check, root, "everysec", seed + 1)
    lap("everysec")
    check_redis_both_ways(check, root, seed + 2, kv_dir, kv_data)
    lap("both ways with redis-server")
    check_torn(check, root, seed + 3)
    lap("torn tails")
    check_bounds(check, root, seed + 4)
    check_annotation_at_window_end(check, root)
    lap("bounds and annotation")
    check_rdb(check, root, seed + 5)
    lap("rdb")
    check.finish()


if __name__ == "__main__":
    main()
