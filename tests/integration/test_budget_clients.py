"""10,000 idle clients on kv's default configuration (maxclients 10000, maxmemory 256mb),
against a real redis-server 7.0 started with --maxclients 10000.

For each server: one client reads INFO and VmRSS (/proc/<pid>/status), then 9,999 more
connect (plain sockets, in batches; each sends PING and reads +PONG, so each is accepted
and served), which makes the 10,000 maxclients allows; INFO and VmRSS again. Checks:
- connected_clients is 10,000 on both;
- kv: the clients cost at most 40 MB: the heap's growth (INFO kv_heap_used_bytes, where
  every client buffer lives) plus the share of the connection pool `kv --plan` sized at
  startup for those 9,999 slots (the region, kv_region_bytes, is fixed: it does not grow),
  and VmRSS grows less than that too (the region is locked and prefaulted);
- the 10,001st client is told Redis's "-ERR max number of clients reached" and closed, on
  both, byte for byte;
- after all close, connected_clients returns to 1 and kv's heap to its baseline bytes.
kv's and Redis's used_memory and VmRSS growth are printed side by side, per client, at once
and after the clients have been idle 3 s (Redis's clients cron shrinks idle buffers).

The test raises its own RLIMIT_NOFILE (as root it may raise the hard limit too), and kv's
(preexec_fn); redis-server inherits it.
"""
import os
import re
import resource
import socket
import sys
import time

import kvtest

CLIENT_COUNT = 10_000        # maxclients, kv's default; the INFO client is one of them
BATCH = 250                  # sockets connected before their PINGs are read
FD_LIMIT = 65_536            # descriptors this test and the servers may hold
GROWTH_MAX_BYTES = 40 << 20  # what 10,000 idle clients may cost kv
MAXCLIENTS_ERROR = b"-ERR max number of clients reached\r\n"
SETTLE_SECONDS = 15.0        # how long connected_clients may take to fall back
IDLE_SECONDS = 3.0           # idle time before the second measure


def raise_fd_limit():
    """Raises RLIMIT_NOFILE to FD_LIMIT (the hard limit too, when allowed); returns the soft
    limit in force afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, FD_LIMIT), max(hard, FD_LIMIT)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))   # not root: what we may
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def vm_rss_bytes(pid):
    with open(f"/proc/{pid}/status") as status:
        match = re.search(r"^VmRSS:\s+(\d+) kB", status.read(), re.MULTILINE)
    return int(match.group(1)) * 1024


def pool_slot_bytes():
    """The connection pool's bytes per slot, from `kv --plan` at the default maxclients."""
    plan = kvtest.run_kv("--plan")
    slots = re.search(r"connection_slots = (\d+)", plan.stdout)
    pool = re.search(r"^\s+connections\s+(\d+)", plan.stdout, re.MULTILINE)
    if plan.returncode != 0 or slots is None or pool is None:
        raise RuntimeError(f"kv --plan answered {plan.returncode}: {plan.stdout}{plan.stderr}")
    return int(pool.group(1)) / int(slots.group(1))


def connect_idle(port, count):
    """count sockets to port, each answered one PING; raises on a reply other than +PONG."""
    sockets = []
    try:
        while len(sockets) < count:   # bounded by count
            batch = []
            for _ in range(min(BATCH, count - len(sockets))):
                sock = socket.create_connection(("127.0.0.1", port), timeout=kvtest.REPLY_SECONDS)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                batch.append(sock)
                sockets.append(sock)
            for sock in batch:
                sock.sendall(b"PING\r\n")
            for sock in batch:
                got = b""
                while len(got) < 7:   # bounded by the socket timeout and EOF
                    chunk = sock.recv(7 - len(got))
                    if not chunk:
                        break
                    got += chunk
                if got != b"+PONG\r\n":
                    raise RuntimeError(f"client {len(sockets)} got {got!r} to PING")
        return sockets
    except BaseException:
        for sock in sockets:
            sock.close()
        raise


def refused_reply(port):
    """What one more client is told before the server closes it: (bytes, closed)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=kvtest.REPLY_SECONDS)
    received = b""
    closed = False
    deadline = time.monotonic() + kvtest.REPLY_SECONDS
    try:
        while time.monotonic() < deadline:   # bounded by the deadline
            try:
                chunk = sock.recv(4096)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            received += chunk
    finally:
        sock.close()
    return received, closed


def measure(check, name, server):
    """Connects the clients to one server; returns the figures for the side-by-side print."""
    figures = {}
    with server.connect() as monitor:
        before = kvtest.info(monitor)
        rss_before = vm_rss_bytes(server.pid)
        started = time.monotonic()
        idle = connect_idle(server.port, CLIENT_COUNT - 1)
        figures["connect_seconds"] = time.monotonic() - started
        try:
            after = kvtest.info(monitor)
            rss_after = vm_rss_bytes(server.pid)
            check.equal(f"{name}: connected_clients with every slot taken", str(CLIENT_COUNT),
                        after["connected_clients"])
            figures["used_growth"] = int(after["used_memory"]) - int(before["used_memory"])
            figures["rss_growth"] = rss_after - rss_before
            # Redis shrinks idle clients' buffers in its clients cron, a share of the clients
            # each tick: the same figures once they have been idle a while.
            time.sleep(IDLE_SECONDS)
            idle_info = kvtest.info(monitor)
            figures["used_growth_idle"] = (int(idle_info["used_memory"]) -
                                           int(before["used_memory"]))
            figures["rss_growth_idle"] = vm_rss_bytes(server.pid) - rss_before
            if name == "kv":
                figures["heap_growth"] = (int(after["kv_heap_used_bytes"]) -
                                          int(before["kv_heap_used_bytes"]))
                check.equal("kv: the region does not grow", before["kv_region_bytes"],
                            after["kv_region_bytes"])
            refused, closed = refused_reply(server.port)
            figures["refused"] = refused
            check.true(f"{name}: the client past maxclients is closed", closed, refused)
            check.equal(f"{name}: the idle clients still answer", b"+PONG\r\n",
                        monitor.call("PING"))
            probe = idle[len(idle) // 2]
            probe.sendall(b"PING\r\n")
            check.equal(f"{name}: an idle client in the middle still answers", b"+PONG\r\n",
                        probe.recv(7))
        finally:
            for sock in idle:
                sock.close()
        deadline = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < deadline:   # bounded by SETTLE_SECONDS
            settled = kvtest.info(monitor)
            if settled["connected_clients"] == "1" and (
                    name != "kv" or settled["kv_heap_used_bytes"] == before["kv_heap_used_bytes"]):
                break
            time.sleep(0.1)
        check.equal(f"{name}: connected_clients back to 1 after the clients close", "1",
                    settled["connected_clients"])
        if name == "kv":
            check.equal("kv: the heap's used bytes back to the baseline",
                        before["kv_heap_used_bytes"], settled["kv_heap_used_bytes"])
        figures["used_before"] = int(before["used_memory"])
    return figures


def main():
    kvtest.need_kv_binary()   # kv's own INFO fields and limits are checked
    check = kvtest.Checker("test_budget_clients")
    limit = raise_fd_limit()
    if limit < CLIENT_COUNT + 100:
        print(f"SKIP: RLIMIT_NOFILE is {limit}; {CLIENT_COUNT} clients need more")
        return kvtest.SKIP
    kvtest.need_program("redis-server")
    slot_bytes = pool_slot_bytes()

    def kv_fd_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    results = {}
    with kvtest.start_kv("--hugepages", "off", preexec_fn=kv_fd_limit) as kv:
        with kv.connect() as client:
            check.equal("kv: maxclients is 10000 by default", [b"maxclients", b"10000"],
                        kvtest.decode(client.call("CONFIG", "GET", "maxclients")))
        results["kv"] = measure(check, "kv", kv)
    port = kvtest.free_port()
    with kvtest.Server("redis", kvtest.redis_argv(port) + ["--maxclients", str(CLIENT_COUNT)],
                       port).wait_ready() as redis:
        results["redis"] = measure(check, "redis", redis)

    kv_figures, redis_figures = results["kv"], results["redis"]
    pool_share = slot_bytes * (CLIENT_COUNT - 1)
    cost = max(kv_figures["heap_growth"], kv_figures["used_growth_idle"]) + pool_share
    print(f"{CLIENT_COUNT - 1} idle clients added (and the INFO client):")
    print(f"  {'':28} {'kv':>14} {'redis':>14}")
    rows = (("used_memory before", "used_before"), ("used_memory growth", "used_growth"),
            ("VmRSS growth", "rss_growth"), (f"used_memory growth, {IDLE_SECONDS:.0f} s idle",
                                             "used_growth_idle"),
            (f"VmRSS growth, {IDLE_SECONDS:.0f} s idle", "rss_growth_idle"),
            ("seconds to connect", "connect_seconds"))
    for label, key in rows:
        print(f"  {label:28} {kv_figures[key]:14.1f} {redis_figures[key]:14.1f}")
    for label, key in (("used_memory per client", "used_growth"),
                       (f"  the same, {IDLE_SECONDS:.0f} s idle", "used_growth_idle")):
        print(f"  {label:28} {kv_figures[key] / (CLIENT_COUNT - 1):14.1f} "
              f"{redis_figures[key] / (CLIENT_COUNT - 1):14.1f}")
    print(f"  kv: heap growth {kv_figures['heap_growth']} + connection pool share "
          f"{pool_share:.0f} ({slot_bytes:.1f} bytes a slot, from kv --plan) = {cost:.0f} bytes, "
          f"{cost / (CLIENT_COUNT - 1):.1f} per client")
    check.true("kv: the clients cost at most 40 MB (heap growth + their pool share)",
               cost <= GROWTH_MAX_BYTES, f"{cost:.0f} bytes")
    check.true("kv: VmRSS grows by at most 40 MB",
               max(kv_figures["rss_growth"], kv_figures["rss_growth_idle"]) <= GROWTH_MAX_BYTES,
               (kv_figures["rss_growth"], kv_figures["rss_growth_idle"]))
    check.equal("the 10,001st client is told what Redis tells it", redis_figures["refused"],
                kv_figures["refused"])
    check.equal("which is Redis's maxclients error", MAXCLIENTS_ERROR, kv_figures["refused"])
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
