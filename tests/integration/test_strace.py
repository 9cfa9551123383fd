"""No mapping, unmapping, break or advice after `ready`, under load, seen by strace.

kv runs under `strace -f` tracing the memory system calls (mmap, munmap, mremap, brk, madvise,
mprotect) and write (so that kv's own "ready" log line marks where serving starts). With every
family exercised (redis-benchmark's default suite at -n 20000 with 50 clients, pipelined with
-P 16 for part of it; a 4 MB value set and read; 2,000 clients connected at once; keys that
expire; eviction under allkeys-lru past the budget), the trace must hold no memory system call
between the ready line and kv's "stopping" line (kv is stopped by its PID, not through strace),
from any thread. The region's prefault threads have exited by then: their calls come before
it. Skips (77) without strace or in the sanitizer build (the sanitizer maps
on its own).
"""
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

import kvtest

MEMORY_CALLS = ("mmap", "munmap", "mremap", "brk", "madvise", "mprotect")


def load(port):
    base = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-q"]
    subprocess.run(base + ["-n", "20000"], capture_output=True, timeout=600, check=True)
    subprocess.run(base + ["-n", "100000", "-P", "16", "-t", "set,get,lpush,lpop,hset,sadd,zadd"],
                   capture_output=True, timeout=600, check=True)
    with kvtest.RespClient(port) as client:
        assert client.call("FLUSHALL") == b"+OK\r\n"  # room for the large value
        big = b"b" * (4 << 20)
        assert client.call("SET", "big", big) == b"+OK\r\n"
        assert client.call("GET", "big") == b"$%d\r\n" % len(big) + big + b"\r\n"
        for index in range(2000):
            assert client.call("SET", f"ttl{index}", "v", "PX", "50") == b"+OK\r\n"
        time.sleep(0.3)  # active expiry reclaims them
    sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(2000)]
    for sock in sockets[::100]:
        sock.sendall(b"PING\r\n")
        assert sock.recv(64) == b"+PONG\r\n"
    for sock in sockets:
        sock.close()
    with kvtest.RespClient(port) as client:
        assert client.call("CONFIG", "SET", "maxmemory-policy", "allkeys-lru") == b"+OK\r\n"
        value = b"e" * 1000
        for batch in range(40):  # about 40 MB into a 16 MB budget
            client.send(b"".join(kvtest.encode("SET", f"ev{batch}:{i}", value)
                                 for i in range(1000)))
            client.replies(1000)
        evicted = int(kvtest.info(client, "stats")["evicted_keys"])
        assert evicted > 10000, evicted


def main():
    check = kvtest.Checker("test_strace")
    kvtest.need_program("strace")
    kvtest.need_program("redis-benchmark")
    if os.environ.get("KV_SANITIZE", "").upper() in kvtest.TRUE_WORDS:
        print("SKIP: the sanitizer build maps memory of its own")
        raise SystemExit(77)
    port = kvtest.free_port()
    with tempfile.TemporaryDirectory(prefix="kv-strace-") as directory:
        trace = os.path.join(directory, "trace")
        pidfile = os.path.join(directory, "kv.pid")
        argv = ["strace", "-f", "-qq", "-o", trace, "-e",
                "trace=" + ",".join(MEMORY_CALLS + ("write",)), "-s", "64",
                kvtest.KV_BIN, "--port", str(port), "--bind", "127.0.0.1", "--hugepages", "off",
                "--maxmemory", "16mb", "--maxclients", "4000", "--pidfile", pidfile]
        with kvtest.Server("kv-under-strace", argv, port).wait_ready(seconds=60):
            load(port)
            # Stop kv itself by its PID (SIGTERM to strace would only detach it and leave it
            # running); the trace is read up to its "stopping" line.
            with open(pidfile) as f:
                kv_pid = int(f.read().strip())
            os.kill(kv_pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while os.path.exists(f"/proc/{kv_pid}") and time.monotonic() < deadline:
                time.sleep(0.05)
            check.true("kv exited on SIGTERM", not os.path.exists(f"/proc/{kv_pid}"))
        with open(trace) as f:
            lines = f.read().splitlines()
    ready = next((i for i, line in enumerate(lines)
                  if re.search(r"write\(\d+, \".*ready", line)), None)
    check.true("the trace shows kv's ready line", ready is not None, lines[-5:])
    if ready is None:
        return check.finish()
    before = [line for line in lines[:ready] if re.search(r"\b(mmap|madvise)\(", line)]
    check.true(f"the region was mapped before ready ({len(before)} calls)", len(before) > 0)
    stopping = next((i for i, line in enumerate(lines)
                     if i > ready and re.search(r"write\(\d+, \".*loop: stopping", line)),
                    len(lines))
    check.true("the trace shows kv's stopping line", stopping < len(lines))
    after = [line for line in lines[ready:stopping]
             if re.search(r"\b(" + "|".join(MEMORY_CALLS) + r")\(", line)]
    writes = sum(1 for line in lines[ready:stopping] if "write(" in line)
    print(f"  {len(lines)} traced calls, {writes} writes after ready")
    check.equal("no memory system call after ready, under load", [], after[:10])
    return check.finish()


if __name__ == "__main__":
    raise SystemExit(main())
