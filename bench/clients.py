#!/usr/bin/python3
"""10,000 idle clients: the memory each costs in kv and in Redis.

Each server (one at a time, --maxclients 10001, maxmemory 1gb, its RLIMIT_NOFILE raised to
20000 before exec; this script raises its own) is measured before and after --clients (10,000)
connections, each of which sends one PING and reads its PONG (connections are opened in steps of
200 and each step is pinged before the next, so the listen backlog never overflows), then sit
idle. Measured: the server's RSS (VmRSS + HugetlbPages from /proc/PID/status) and INFO
used_memory before and after, and connected_clients after.

kv prefaults its whole region at startup, so its RSS does not move when clients connect: what
kv sets aside for its client slots is in the region from the start. That share is read from
kv's own plan: `kv --plan` with --maxclients 10001 against --maxclients 1 (the difference of
the totals is what the 10,000 slots add to the region). kv's cost of the clients is that plus
the heap they drew (used_memory after - before); target: at most 40 MB for 10,000 clients.
Redis's cost is its RSS growth (and its used_memory growth, which counts memory the allocator
has reserved but not touched). Redis 7.0 was measured at about 93 MB RSS and 220 MB used_memory.

Usage: /usr/bin/python3 bench/clients.py [--kv build/kv] [--redis redis-server]
       [--clients 10000] [--quick] [--markdown]
--quick: 1,000 clients. Loopback only; servers stopped by their PID; a full run takes about a
minute.
"""
import argparse
import re
import socket
import subprocess
import sys
import time

import benchlib
from benchlib import ServerError

MAXMEMORY = "1gb"
STEP = 200
TARGET_BYTES = 40 * 1000 * 1000  # "at most 40 MB added for 10,000 clients"
TARGET_CLIENTS = 10000


def plan_total(options, maxclients):
    try:
        output = subprocess.run([options.kv, "--maxmemory", MAXMEMORY, "--maxclients",
                                 str(maxclients), "--plan"], capture_output=True, text=True,
                                timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"^total\s+(\d+) bytes", output.stdout + output.stderr, re.MULTILINE)
    return int(match.group(1)) if match else None


def connect_all(port, count):
    """count connections, each having answered one PING; raises ServerError on a failure."""
    sockets = []
    try:
        while len(sockets) < count:  # one step of at most STEP connections per pass
            step = []
            for _ in range(min(STEP, count - len(sockets))):
                try:
                    connection = socket.create_connection(("127.0.0.1", port), timeout=30)
                except OSError as error:
                    raise ServerError(f"connection {len(sockets) + len(step) + 1}: {error}")
                step.append(connection)
            for connection in step:
                connection.sendall(b"PING\r\n")
            for index, connection in enumerate(step):
                reply = b""
                while not reply.endswith(b"\r\n"):
                    chunk = connection.recv(64)
                    if not chunk:
                        raise ServerError(f"connection {len(sockets) + index + 1} closed by the "
                                          f"server ({len(sockets) + index} answered)")
                    reply += chunk
                if not reply.startswith(b"+PONG"):
                    raise ServerError(f"connection {len(sockets) + index + 1} got {reply!r}")
            sockets.extend(step)
        return sockets
    except BaseException:
        for connection in sockets:
            connection.close()
        raise


def maxclients(options):
    """The clients plus the one connection that reads INFO, and never below 10000."""
    return max(options.clients, 10000) + 1


def measure(options, name):
    extra = ["--maxclients", str(maxclients(options))]
    try:
        server = benchlib.start(name, options, MAXMEMORY, "noeviction", extra_kv=extra,
                                extra_redis=extra, nofile=20000, start_seconds=300)
    except ServerError as error:
        return {"failed": str(error)}
    sockets = []
    control = None
    try:
        control = server.connect()  # opened first, so that it is in both measurements
        time.sleep(0.5)
        before = {"rss": server.rss(),
                  "used": benchlib.info_int(control.info("memory"), "used_memory")}
        began = time.monotonic()
        sockets = connect_all(server.port, options.clients)
        seconds = time.monotonic() - began
        time.sleep(1.0)  # let the server finish whatever it does for new clients
        info = control.info()
        after = {"rss": server.rss(), "used": benchlib.info_int(info, "used_memory")}
        return {"before": before, "after": after, "seconds": seconds,
                "connected": benchlib.info_int(info, "connected_clients"),
                "region": benchlib.info_int(info, "kv_region_bytes", None)}
    except (ServerError, OSError) as error:
        return {"failed": f"{type(error).__name__}: {error}"}
    finally:
        for connection in sockets:
            connection.close()
        if control is not None:
            control.close()
        server.stop()


METHOD = """Method: one server at a time (maxmemory 1gb, maxclients 10001: the clients and one
connection that reads INFO, its fd limit raised to 20000); the clients are opened from one
process in steps of 200, each sends PING and reads PONG, and all stay connected while the
server's RSS (VmRSS + HugetlbPages) and INFO used_memory are read, a second after the last PONG.
Per-client figures divide the growth by the clients. kv's region is locked and prefaulted at
startup, so its client slots are in its RSS before any client connects; their size is the
difference of kv's plan totals (`kv --plan`) with --maxclients 10001 and --maxclients 1, and
kv's cost is that plus its used_memory growth (the heap its clients drew). Redis's cost is its
RSS growth; its used_memory growth also counts allocator memory not yet touched. Kernel socket
buffers are in neither figure."""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    benchlib.add_common_arguments(parser)
    parser.add_argument("--clients", type=int, default=10000)
    options = parser.parse_args()
    if options.quick:
        options.clients = 1000
    limit = benchlib.raise_nofile(options.clients + 1000)
    if limit < options.clients + 100:
        print(f"this process may open only {limit} files; --clients {options.clients} needs more")
        return 0
    results = {}
    for name in ("kv", "redis"):
        benchlib.progress(f"{name}: {options.clients} clients ...")
        results[name] = measure(options, name)
        benchlib.progress(f"{name}: {results[name]}")
    slots_full, slots_one = plan_total(options, maxclients(options)), plan_total(options, 1)
    slots = slots_full - slots_one if slots_full and slots_one else None

    clients = options.clients
    table = benchlib.Table(
        f"{clients:,} idle clients (each sent one PING)",
        ["server", "connected", "connect s", "RSS before MiB", "RSS after MiB", "RSS added MiB",
         "used_memory before MiB", "used_memory after MiB", "used_memory added MiB",
         "client slots in region MiB", "cost of the clients MB", "bytes per client",
         f"target <= {TARGET_BYTES / 1e6:.0f} MB per {TARGET_CLIENTS:,}"],
        [False] + [True] * 11 + [False])
    notes = []
    for name in ("kv", "redis"):
        result = results[name]
        if "failed" in result:
            table.add([name, "failed"])
            notes.append(f"- {name}: FAILED: {result['failed']}")
            continue
        rss_added = result["after"]["rss"] - result["before"]["rss"]
        used_added = result["after"]["used"] - result["before"]["used"]
        if name == "kv":
            cost = used_added + (slots or 0)
            # the slots are planned for max(clients, 10000): scale them to the clients measured
            if slots and clients < 10000:
                cost = used_added + slots * clients / 10000
        else:
            cost = rss_added
        per_client = cost / clients
        verdict = "-"
        if name == "kv":
            verdict = "pass" if per_client * TARGET_CLIENTS <= TARGET_BYTES else "MISS"
        table.add([name, result["connected"], f"{result['seconds']:.1f}",
                   benchlib.mib(result["before"]["rss"]), benchlib.mib(result["after"]["rss"]),
                   benchlib.mib(rss_added), benchlib.mib(result["before"]["used"]),
                   benchlib.mib(result["after"]["used"]), benchlib.mib(used_added),
                   benchlib.mib(slots) if name == "kv" and slots else "-",
                   f"{cost / 1e6:.1f}", f"{per_client:.0f}", verdict])
        if name == "redis":
            notes.append(f"- redis: {used_added / clients:.0f} bytes of used_memory and "
                         f"{rss_added / clients:.0f} bytes of RSS per client")
        elif slots is None:
            notes.append("- kv: `kv --plan` gave no total; the region's client slots are not "
                         "counted")
        if result["connected"] < clients:
            notes.append(f"- {name}: connected_clients {result['connected']} < {clients}")
    benchlib.report(options, "Idle clients", METHOD, [table], notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
