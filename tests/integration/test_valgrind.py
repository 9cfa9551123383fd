"""kv's serving process under valgrind memcheck, once per run of the suite.

kv runs under `valgrind --tool=memcheck` with a small plan while a client exercises every
command family, pipelining, a transaction, a protocol error and a refused command. Memcheck
reports each error as it happens (invalid reads or writes, uses of uninitialised values, bad
frees, syscall parameters pointing at uninitialised bytes); its log must hold none once kv
has served all of it. kv is then killed: valgrind 3.19 runs io_uring_enter as a syscall that
does not block signals' delivery points, so SIGTERM stays pending while kv waits in the ring
(outside valgrind, SIGTERM is tested in test_sigterm_benchmark). Skipped where valgrind is
missing or where kv is the sanitizer build (ASan and valgrind do not mix).
"""
import os
import re
import shutil
import subprocess
import time

import kvtest


def exercise(client):
    replies = []
    commands = [
        ("SET", "s", "hello"), ("GET", "s"), ("APPEND", "s", " world"), ("INCR", "n"),
        ("INCRBYFLOAT", "f", "1.5"), ("SETRANGE", "s", 3, "xyz"), ("GETRANGE", "s", 0, -1),
        ("MSET", "a", 1, "b", 2), ("MGET", "a", "b", "nope"), ("RPUSH", "l", "x", "y", "z"),
        ("LPUSH", "l", "w"), ("LRANGE", "l", 0, -1), ("LINSERT", "l", "BEFORE", "y", "q"),
        ("LPOS", "l", "y"), ("LREM", "l", 1, "q"), ("LMOVE", "l", "m", "LEFT", "RIGHT"),
        ("LTRIM", "l", 0, 1), ("EXPIRE", "s", 100), ("TTL", "s"), ("PERSIST", "s"),
        ("RENAME", "a", "c"), ("TYPE", "l"), ("SCAN", 0, "COUNT", 100), ("KEYS", "*"),
        ("DBSIZE",), ("CLIENT", "SETNAME", "vg"), ("CLIENT", "LIST"), ("INFO",),
        ("INFO", "all"), ("CONFIG", "GET", "*"), ("COMMAND", "COUNT"), ("COMMAND",),
        ("LATENCY", "HISTOGRAM"), ("SLOWLOG", "GET"), ("HELLO", "2"), ("TIME",),
        ("SET", "k" * 100, "v"), ("DEL", "a", "b", "c"), ("FLUSHALL",),
    ]
    for command in commands:
        replies.append(client.call(*command))
    client.send(kvtest.encode("MULTI") + kvtest.encode("SET", "t", 1) +
                kvtest.encode("GET", "t") + kvtest.encode("EXEC"))
    replies.extend(client.replies(4))
    client.send(b"".join(kvtest.encode("RPUSH", "p", index) for index in range(200)))
    replies.extend(client.replies(200))
    return replies


def main():
    check = kvtest.Checker("test_valgrind")
    kvtest.need_kv_binary()
    if shutil.which("valgrind") is None or kvtest.SANITIZED:
        print("SKIP: valgrind missing, or this is the sanitizer build")
        raise SystemExit(kvtest.SKIP)
    port = kvtest.free_port()
    log_path = f"/tmp/kv-valgrind-{os.getpid()}.log"
    argv = ["valgrind", "--tool=memcheck", "--error-exitcode=99", "--track-origins=yes",
            f"--log-file={log_path}", kvtest.KV_BIN, "--port", str(port), "--bind", "127.0.0.1",
            "--connections-max", "8", "--key-count", "64", "--key-size-max", "64",
            "--val-size-max", "256", "--list-length-max", "256", "--hugepages", "off",
            "--mlock", "off"]
    server = kvtest.Server("kv under valgrind", argv, port)
    try:
        server.wait_ready(seconds=120)
        with server.connect(timeout=60) as client:
            replies = exercise(client)
            check.true(f"{len(replies)} replies", len(replies) > 200)
            check.equal("still serving", b"+PONG\r\n", client.call("PING"))
        with server.connect(timeout=60) as client:
            client.send(b"*1\r\n$abc\r\n")
            check.starts("a protocol error is answered", b"-ERR Protocol error", client.reply())
        time.sleep(1)  # let memcheck write what it found
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()
    with open(log_path, errors="replace") as log:
        report = log.read()
    os.unlink(log_path)
    check.true("memcheck ran", "Memcheck, a memory error detector" in report)
    errors = re.findall(r"^==\d+== (Invalid \w+ of size \d+|Conditional jump[^\n]*|Use of "
                        r"uninitialised[^\n]*|Syscall param[^\n]*|Invalid free[^\n]*|"
                        r"Mismatched free[^\n]*|Source and destination overlap[^\n]*)",
                        report, re.MULTILINE)
    check.equal("memcheck found no error while kv served", [], errors[:10])
    if errors:
        print(report[-6000:])
    check.finish()


if __name__ == "__main__":
    main()
