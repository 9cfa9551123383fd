#!/usr/bin/env python3
"""A rewrite's start does not wait for the disk (issue 17 item 2).

At BGREWRITEAOF kv switches propagation to a new incr file at once; the old file's last bytes,
its fsync and its close, and the manifest listing the new file (write, fsync, rename, fsync of
the directory) go out on the AOF's ring while clients are served.

1. Stall: with `appendfsync no` and `everysec`, 128 MiB of dirty bytes in the incr file (128
   values of 1 MiB the kernel has not flushed: the old file's fsync is slow), a client sends
   PING every millisecond and records each round trip while another sends BGREWRITEAOF and
   waits for the rewrite's end. The figures (BGREWRITEAOF's reply time, the longest round
   trip before and during the rewrite) are printed, not asserted (the machine is shared; speed
   goes to bench/). Asserted: every PING got +PONG, BGREWRITEAOF Redis's reply, the rewrite
   ended well, the manifest lists the new base and incr file, redis-check-aof 7.0 accepts the
   directory, and the values are there after a restart.
2. kill -9 right after a rewrite's start with `appendfsync always`: writers INCR their
   counters (one at a time and pipelined), readers GET them, a client pipelines 32 SETs of
   1 MiB (their fsync is slow: the old file retires with it in flight) and
   BGREWRITEAOF follows at once; kv is killed 0 to 60 ms later. After a restart every
   acknowledged write is there (and no more than was sent), every value a reader saw is
   there, each 1 MiB value whose +OK came is there whole, redis-check-aof finds every file
   of the directory kv left valid but a torn tail in the last one (a write cut by the kill),
   and redis-server 7.0 loads that directory to the same counters and values as kv.
3. Two rewrites in a row under writers: the second BGREWRITEAOF comes while the first's old
   file may still retire (it is scheduled, not refused); both end, and the writes are there
   after a restart.
4. A rewrite's end does not wait either: its manifest (the base's rename first) is a linked
   chain on the ring, the old files deleted once it completed. kill -9 around rewrites' ends
   under `always` writers (a first rewrite timed, the second killed at a random moment up to
   its time): the manifest is one of the three a rewrite goes through, redis-check-aof
   accepts the directory, every acknowledged write is there and redis-server 7.0 loads the
   same data. The stall rounds print the PINGs in flight at the end's log line. An end whose
   chain fails (the base's new name taken) fails the rewrite, keeps the old files and lets
   the next one end well.
"""
import datetime
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time

import aofload
import kvtest

BIG_COUNT = 32

BASE_OPTIONS = ["--hugepages", "off", "--maxmemory", "600mb", "--connections-max", "64",
                "--appendonly", "yes", "--auto-aof-rewrite-percentage", "0"]


def aof_dir(directory):
    return os.path.join(directory, "appendonlydir")


def check_aof(check, label, directory, crashed=False):
    """redis-check-aof 7.0 on the manifest: every file valid; after a kill -9 (`crashed`),
    the last listed file may end in a torn command (a write cut short: Redis and kv load it
    with aof-load-truncated), every other file is whole."""
    checked = subprocess.run(["redis-check-aof",
                              os.path.join(aof_dir(directory), "appendonly.aof.manifest")],
                             capture_output=True, text=True, timeout=120)
    if checked.returncode == 0 and "All AOF files and manifest are valid" in checked.stdout:
        check.true(f"{label}: redis-check-aof accepts the directory", True)
        return
    last = [line.split()[1] for line in manifest_lines(directory)][-1]
    invalid = [line.split()[1] for line in checked.stdout.splitlines()
               if line.startswith("AOF ") and line.endswith("is not valid. Use the --fix option "
                                                            "to try fixing it.")]
    torn_last = crashed and invalid == [last] and f"filename={last}," in checked.stdout
    check.true(f"{label}: redis-check-aof finds every file valid"
               f"{' but a torn tail in the last' if crashed else ''}", torn_last,
               checked.stdout[-600:] + checked.stderr[-300:])


def kv_loads_as_redis(check, label, directory, options, keys, redis_view):
    """kv started on the directory it left holds the counters (GET) and the big values'
    lengths (STRLEN) redis-server 7.0 read from the same directory."""
    with kvtest.start_kv(*options, "--dir", directory) as again, \
            again.connect(timeout=60) as client:
        kv_view = [client.call("GET", key) if key.startswith("c:") else
                   client.call("STRLEN", key) for key in keys]
    check.equal(f"{label}: redis-server 7.0 loads the same counters and values from the "
                f"directory kv left", kv_view, redis_view)


def redis_counters(directory, keys):
    """Real redis-server 7.0 loading a copy of the directory: the keys' values (as kv's GET)."""
    copy = kvtest.kv_temp_dir()
    shutil.copytree(aof_dir(directory), aof_dir(copy))
    port = kvtest.free_port()
    argv = kvtest.redis_argv(port) + ["--dir", copy, "--appendonly", "yes",
                                      "--aof-load-truncated", "yes"]
    with kvtest.Server("redis", argv, port).wait_ready() as redis, \
            redis.connect(timeout=60) as client:
        return [client.call("GET", key) if key.startswith("c:") else client.call("STRLEN", key)
                for key in keys]


def log_time(server, words):
    """The wall-clock time (seconds) of the log's last line holding `words`."""
    for line in reversed(server.log_text().splitlines()):
        if words in line:
            stamp = datetime.datetime.strptime(line.split()[0], "%Y-%m-%dT%H:%M:%S.%fZ")
            return stamp.replace(tzinfo=datetime.timezone.utc).timestamp()
    raise RuntimeError(f"no log line says {words!r}")


def manifest_lines(directory):
    with open(os.path.join(aof_dir(directory), "appendonly.aof.manifest")) as f:
        return f.read().splitlines()


class Pinger(threading.Thread):
    """PING every millisecond on its own connection: (sent at, round trip, reply) each."""

    def __init__(self, port, stop):
        super().__init__(daemon=True)
        self.port = port
        self.stop = stop
        self.samples = []
        self.error = None

    def run(self):
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=60)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while not self.stop.is_set():
                sent = time.perf_counter()
                sock.sendall(b"*1\r\n$4\r\nPING\r\n")
                reply = b""
                while not reply.endswith(b"\r\n"):
                    chunk = sock.recv(64)
                    if not chunk:
                        raise ConnectionError("kv closed the pinger's connection")
                    reply += chunk
                self.samples.append((sent, time.perf_counter() - sent, reply))
                time.sleep(0.001)
            sock.close()
        except OSError as error:
            self.error = error


def rewrite_wait(client, deadline_seconds=120):
    """Waits for the running (or scheduled) rewrite to end: the INFO persistence fields."""
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        info = kvtest.info(client, "persistence")
        if info["aof_rewrite_in_progress"] == "0" and info["aof_rewrite_scheduled"] == "0":
            return info
        time.sleep(0.02)
    raise RuntimeError("the rewrite did not end")


def stall_round(check, policy):
    directory = kvtest.kv_temp_dir()
    # 128 values of 1 MiB: the snapshot writes one key per step at most, so its slices stay
    # small (one key of 64 MiB would be one slice of seconds: compressed and checksummed).
    values = {f"big:{n}": os.urandom(1 << 19).hex() for n in range(128)}
    with kvtest.start_kv(*BASE_OPTIONS, "--appendfsync", policy, "--dir", directory) as kv, \
            kv.connect(timeout=120) as client:
        client.send(b"".join(kvtest.encode("SET", key, value) for key, value in values.items()))
        check.equal(f"stall {policy}: 128 SETs of 1 MiB", [b"+OK\r\n"] * len(values),
                    client.replies(len(values)))
        stop = threading.Event()
        pinger = Pinger(kv.port, stop)
        wall_minus_perf = time.time() - time.perf_counter()
        pinger.start()
        time.sleep(0.5)  # round trips before the rewrite, for comparison (not an assertion)
        started = time.perf_counter()
        reply = client.call("BGREWRITEAOF")
        replied = time.perf_counter() - started
        check.equal(f"stall {policy}: BGREWRITEAOF", b"+Background append only file rewriting "
                    b"started\r\n", reply)
        info = rewrite_wait(client)
        ended = time.perf_counter() - started
        time.sleep(0.3)  # round trips after the rewrite's end, for comparison
        stop.set()
        pinger.join(30)
        check.true(f"stall {policy}: the pinger ran to the end", pinger.error is None,
                   f"{pinger.error}")
        check.true(f"stall {policy}: every PING got +PONG",
                   bool(pinger.samples) and all(s[2] == b"+PONG\r\n" for s in pinger.samples),
                   f"{len(pinger.samples)} samples")
        check.equal(f"stall {policy}: the rewrite ended well", "ok",
                    info["aof_last_bgrewrite_status"])
        check.equal(f"stall {policy}: no write error", "ok", info["aof_last_write_status"])
        before = [rtt for at, rtt, _ in pinger.samples if at < started]
        during = [rtt for at, rtt, _ in pinger.samples if at >= started - 0.001]
        start_window = [rtt for at, rtt, _ in pinger.samples
                        if started - 0.001 <= at < started + replied + 0.2]
        # The end: the 300 ms before INFO showed it (polled every 20 ms) and 300 ms after;
        # and the PINGs in flight from the log's "terminated with success" (the manifest is
        # durable) to its "finished successfully" (the old files deleted).
        end_window = [rtt for at, rtt, _ in pinger.samples
                      if started + ended - 0.3 <= at < started + ended + 0.3]
        end_from = log_time(kv, "Background AOF rewrite terminated with success") - \
            wall_minus_perf
        end_at = log_time(kv, "Background AOF rewrite finished successfully") - wall_minus_perf
        end_flight = [rtt for at, rtt, _ in pinger.samples
                      if at <= end_at + 0.002 and at + rtt >= end_from - 0.002]
        print(f"stall {policy}: BGREWRITEAOF replied in {replied * 1000:.1f} ms, the rewrite "
              f"ended after {ended * 1000:.0f} ms; longest PING round trip: before "
              f"{max(before, default=0) * 1000:.1f} ms, at the start (first 200 ms) "
              f"{max(start_window, default=0) * 1000:.1f} ms, at the end (300 ms either side) "
              f"{max(end_window, default=0) * 1000:.1f} ms, in flight from the end's manifest to "
              f"the old files' deletion "
              f"{max(end_flight, default=0) * 1000:.1f} ms, during the whole rewrite "
              f"{max(during, default=0) * 1000:.1f} ms ({len(during)} PINGs)")
    lines = manifest_lines(directory)
    check.equal(f"stall {policy}: the manifest lists the new base and incr file",
                ["file appendonly.aof.2.base.rdb seq 2 type b",
                 "file appendonly.aof.2.incr.aof seq 2 type i"], lines)
    check_aof(check, f"stall {policy}", directory)
    with kvtest.start_kv(*BASE_OPTIONS, "--dir", directory) as kv, \
            kv.connect(timeout=60) as client:
        for key, value in values.items():
            check.true(f"stall {policy}: {key} after a restart",
                       kvtest.decode(client.call("GET", key)) == value.encode())


def acknowledged_survive(check, label, directory, writers, readers, options, keys=()):
    """After a restart: each counter between what was acknowledged and what was sent, and no
    smaller than what a reader saw."""
    with kvtest.start_kv(*options, "--dir", directory) as again, \
            again.connect(timeout=60) as client:
        lost = []
        unseen = []
        for writer in writers:
            value = kvtest.decode(client.call("GET", f"c:{writer.index}"))
            count = int(value) if value is not None else 0
            if not writer.acked <= count <= writer.sent:
                lost.append((writer.index, writer.acked, count, writer.sent))
            for reader in readers:
                if reader.seen.get(f"c:{writer.index}", 0) > count:
                    unseen.append((writer.index, count, reader.seen[f"c:{writer.index}"]))
        check.true(f"{label}: every acknowledged write is there, no more than was sent",
                   not lost, f"(index, acked, stored, sent) {lost[:4]}")
        check.true(f"{label}: every value a reader saw is there", not unseen, f"{unseen[:4]}")
        return [client.call("STRLEN", key) for key in keys]


def crash_at_switch(check, rnd, round_index):
    directory = kvtest.kv_temp_dir()
    options = BASE_OPTIONS + ["--appendfsync", "always"]
    kv = kvtest.start_kv(*options, "--dir", directory)
    stop = threading.Event()
    writers = [aofload.CounterWriter(kv.port, index, stop) for index in range(4)]
    writers += [aofload.CounterWriter(kv.port, 4 + index, stop, pipeline=32) for index in range(2)]
    readers = [aofload.Reader(kv.port, [f"c:{w.index}" for w in writers], stop) for _ in range(2)]
    for thread in writers + readers:
        thread.start()
    # 32 SETs of 1 MiB each, pipelined: their fsync is slow. (One command of more than 2 MiB
    # would not do: kv's AOF loader replays commands of up to 2 MiB.)
    bigs = [os.urandom(1 << 19).hex() for _ in range(BIG_COUNT)]
    big_sock = socket.create_connection(("127.0.0.1", kv.port), timeout=60)
    admin = socket.create_connection(("127.0.0.1", kv.port), timeout=60)
    time.sleep(rnd.uniform(0.2, 0.5))  # the load runs a while; not an assertion
    payload = b"".join(kvtest.encode("SET", f"big:{n}", value) for n, value in enumerate(bigs))

    def send():
        try:
            big_sock.sendall(payload)
        except OSError:
            pass  # the kill closed the connection

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    time.sleep(rnd.uniform(0.0, 0.03))
    admin.sendall(kvtest.encode("BGREWRITEAOF"))
    time.sleep(rnd.uniform(0.0, 0.06))
    os.kill(kv.pid, signal.SIGKILL)
    kv.process.wait()
    stop.set()
    for thread in writers + readers:
        thread.join(10)
    sender.join(10)
    big_replies = b""
    try:
        big_sock.settimeout(1)
        while True:
            chunk = big_sock.recv(4096)
            if not chunk:
                break
            big_replies += chunk
    except OSError:
        pass
    big_sock.close()
    admin.close()
    kv.log.close()
    label = f"kill -9 at a switch #{round_index}"
    big_acked = big_replies.count(b"+OK\r\n")
    check.true(f"{label}: writes were acknowledged before it",
               sum(w.acked for w in writers) > 0)
    check_aof(check, label, directory, crashed=True)
    keys = [f"c:{w.index}" for w in writers] + [f"big:{n}" for n in range(big_acked)]
    redis_view = redis_counters(directory, keys)  # before kv's start truncates the tail
    lengths = acknowledged_survive(check, label, directory, writers, readers, options,
                                   [f"big:{n}" for n in range(big_acked)])
    kv_loads_as_redis(check, label, directory, options, keys, redis_view)
    check.true(f"{label}: the {big_acked} acknowledged 1 MiB values are there, whole",
               all(length == b":%d\r\n" % len(bigs[0]) for length in lengths),
               f"{lengths[:4]}")
    print(f"{label}: {sum(w.acked for w in writers)} INCRs and {big_acked} of {BIG_COUNT} "
          f"1 MiB SETs acknowledged, manifest {manifest_lines(directory)}")


def crash_at_end(check, rnd, round_index, big_count):
    """kill -9 around a rewrite's end under `always` writers: a first rewrite is timed (and
    must end well), a second one is killed at a random moment from 5% to 110% of that time (INFO, polled every 20 ms, makes it longer)."""
    directory = kvtest.kv_temp_dir()
    options = BASE_OPTIONS + ["--appendfsync", "always"]
    kv = kvtest.start_kv(*options, "--dir", directory)
    label = f"kill -9 at an end #{round_index} ({big_count} MiB)"
    bigs = [os.urandom(1 << 19).hex() for _ in range(big_count)]
    with kv.connect(timeout=60) as client:
        for n, value in enumerate(bigs):
            check.equal(f"{label}: SET big:{n}", b"+OK\r\n", client.call("SET", f"big:{n}", value))
    stop = threading.Event()
    writers = [aofload.CounterWriter(kv.port, index, stop) for index in range(3)]
    writers += [aofload.CounterWriter(kv.port, 3 + index, stop, pipeline=16) for index in range(2)]
    readers = [aofload.Reader(kv.port, [f"c:{w.index}" for w in writers], stop)]
    for thread in writers + readers:
        thread.start()
    with kv.connect(timeout=60) as client:
        started = time.perf_counter()
        check.equal(f"{label}: the first BGREWRITEAOF", b"+Background append only file "
                    b"rewriting started\r\n", client.call("BGREWRITEAOF"))
        info = rewrite_wait(client)
        took = time.perf_counter() - started
        check.equal(f"{label}: the first rewrite ended well", "ok",
                    info["aof_last_bgrewrite_status"])
        first = manifest_lines(directory)
        check.equal(f"{label}: the first rewrite's manifest",
                    ["file appendonly.aof.2.base.rdb seq 2 type b",
                     "file appendonly.aof.2.incr.aof seq 2 type i"], first)
        time.sleep(rnd.uniform(0.05, 0.2))  # writes into the new incr file; not an assertion
        delay = took * rnd.uniform(0.05, 1.1)
        client.send(kvtest.encode("BGREWRITEAOF"))
        time.sleep(delay)
        os.kill(kv.pid, signal.SIGKILL)
        kv.process.wait()
    stop.set()
    for thread in writers + readers:
        thread.join(10)
    kv.log.close()
    check.true(f"{label}: writes were acknowledged before it",
               sum(w.acked for w in writers) > 0)
    lines = manifest_lines(directory)
    states = {"before the start's manifest": first,
              "after the start's manifest": first + ["file appendonly.aof.3.incr.aof seq 3 type i"],
              "after the end's manifest": ["file appendonly.aof.3.base.rdb seq 3 type b",
                                           "file appendonly.aof.3.incr.aof seq 3 type i"]}
    state = [name for name, listed in states.items() if listed == lines]
    check.true(f"{label}: the manifest is one of the rewrite's three", len(state) == 1,
               f"{lines}")
    check_aof(check, label, directory, crashed=True)
    keys = [f"c:{w.index}" for w in writers] + [f"big:{n}" for n in range(big_count)]
    redis_view = redis_counters(directory, keys)  # before kv's start truncates the tail
    lengths = acknowledged_survive(check, label, directory, writers, readers, options,
                                   [f"big:{n}" for n in range(big_count)])
    check.true(f"{label}: the {big_count} 1 MiB values are there, whole",
               all(length == b":%d\r\n" % (1 << 20) for length in lengths), f"{lengths[:4]}")
    kv_loads_as_redis(check, label, directory, options, keys, redis_view)
    print(f"{label}: the first rewrite took {took * 1000:.0f} ms, killed {delay * 1000:.0f} ms "
          f"after the second's BGREWRITEAOF, {state[0] if state else lines}; "
          f"{sum(w.acked for w in writers)} INCRs acknowledged")
    return state[0] if state else None


def end_failure(check):
    """A rewrite's end whose chain fails (the new base's name is taken by a directory: the
    base's rename, the chain's first link, fails): the rewrite fails as Redis's does when that
    rename fails (its log line, aof_last_bgrewrite_status:err), the old manifest stays with
    every file it lists, the temp base goes, writes go on; once the name is free the next
    rewrite ends well, and every write is there after a restart."""
    directory = kvtest.kv_temp_dir()
    options = BASE_OPTIONS + ["--appendfsync", "always"]
    blocker = os.path.join(aof_dir(directory), "appendonly.aof.2.base.rdb")
    with kvtest.start_kv(*options, "--dir", directory) as kv, kv.connect(timeout=60) as client:
        check.equal("end failure: SET", b"+OK\r\n", client.call("SET", "a", "1"))
        os.mkdir(blocker)
        before = manifest_lines(directory)
        check.equal("end failure: BGREWRITEAOF", b"+Background append only file rewriting "
                    b"started\r\n", client.call("BGREWRITEAOF"))
        info = rewrite_wait(client)
        check.equal("end failure: the rewrite failed", "err", info["aof_last_bgrewrite_status"])
        check.equal("end failure: counted", "1", info["aof_rewrites_consecutive_failures"])
        check.equal("end failure: no write error", "ok", info["aof_last_write_status"])
        check.equal("end failure: the manifest lists the old files and the new incr file",
                    before + ["file appendonly.aof.2.incr.aof seq 2 type i"],
                    manifest_lines(directory))
        files = sorted(os.listdir(aof_dir(directory)))
        check.equal("end failure: the files (no temp base left)",
                    ["appendonly.aof.1.base.rdb", "appendonly.aof.1.incr.aof",
                     "appendonly.aof.2.base.rdb", "appendonly.aof.2.incr.aof",
                     "appendonly.aof.manifest"], files)
        check.true("end failure: the log says the rename failed, as Redis's",
                   "Error trying to rename the temporary AOF base file" in kv.log_text()
                   and "Background AOF rewrite failed" in kv.log_text())
        check.equal("end failure: writes go on", b":1\r\n", client.call("INCR", "n"))
        os.rmdir(blocker)
        check.equal("end failure: BGREWRITEAOF again", b"+Background append only file "
                    b"rewriting started\r\n", client.call("BGREWRITEAOF"))
        info = rewrite_wait(client)
        check.equal("end failure: the next rewrite ended well", "ok",
                    info["aof_last_bgrewrite_status"])
        check.equal("end failure: INCR after it", b":2\r\n", client.call("INCR", "n"))
    check.equal("end failure: the manifest after the next rewrite",
                ["file appendonly.aof.2.base.rdb seq 2 type b",
                 "file appendonly.aof.3.incr.aof seq 3 type i"], manifest_lines(directory))
    check.equal("end failure: the old files went",
                ["appendonly.aof.2.base.rdb", "appendonly.aof.3.incr.aof",
                 "appendonly.aof.manifest"], sorted(os.listdir(aof_dir(directory))))
    check_aof(check, "end failure", directory)
    with kvtest.start_kv(*options, "--dir", directory) as kv, kv.connect(timeout=60) as client:
        check.equal("end failure: the writes after a restart", [b"$1\r\n1\r\n", b"$1\r\n2\r\n"],
                    [client.call("GET", "a"), client.call("GET", "n")])


def rewrites_in_a_row(check):
    directory = kvtest.kv_temp_dir()
    options = BASE_OPTIONS + ["--appendfsync", "always"]
    with kvtest.start_kv(*options, "--dir", directory) as kv, kv.connect(timeout=60) as client:
        stop = threading.Event()
        writers = [aofload.CounterWriter(kv.port, index, stop, pipeline=8) for index in range(3)]
        for writer in writers:
            writer.start()
        check.equal("two rewrites: SET of a 1 MiB value", b"+OK\r\n",
                    client.call("SET", "big", os.urandom(1 << 19).hex()))
        first = client.call("BGREWRITEAOF")
        check.equal("two rewrites: the first starts", b"+Background append only file "
                    b"rewriting started\r\n", first)
        info = rewrite_wait(client)
        check.equal("two rewrites: the first ended well", "ok",
                    info["aof_last_bgrewrite_status"])
        second = client.call("BGREWRITEAOF")
        check.true("two rewrites: the second starts or is scheduled",
                   second in (b"+Background append only file rewriting started\r\n",
                              b"+Background append only file rewriting scheduled\r\n"),
                   f"{second}")
        info = rewrite_wait(client)
        check.equal("two rewrites: the second ended well", "ok",
                    info["aof_last_bgrewrite_status"])
        check.equal("two rewrites: two rewrites counted", "2", info["aof_rewrites"])
        time.sleep(0.2)
        stop.set()
        for writer in writers:
            writer.join(10)
    check.equal("two rewrites: the manifest", ["file appendonly.aof.3.base.rdb seq 3 type b",
                                               "file appendonly.aof.3.incr.aof seq 3 type i"],
                manifest_lines(directory))
    check_aof(check, "two rewrites", directory)
    acknowledged_survive(check, "two rewrites", directory, writers, [], options)


def main():
    check = kvtest.Checker("test_aof_switch", verbose=False)
    kvtest.need_kv_binary()
    kvtest.need_program("redis-check-aof")
    seed = int(os.environ.get("KV_SEED", random.randrange(1, 2**31)))
    print(f"test_aof_switch: seed {seed} (KV_SEED replays it)")
    rnd = random.Random(seed)
    started = time.monotonic()
    for policy in ("no", "everysec"):
        stall_round(check, policy)
    print(f"stall: {time.monotonic() - started:.2f} s")
    for round_index in range(4):
        crash_at_switch(check, rnd, round_index)
    print(f"kill -9: {time.monotonic() - started:.2f} s")
    states = [crash_at_end(check, rnd, round_index, rnd.choice((0, 4, 16)))
              for round_index in range(6)]
    print(f"kill -9 at ends: {time.monotonic() - started:.2f} s, found "
          f"{ {state: states.count(state) for state in set(states)} }")
    rewrites_in_a_row(check)
    print(f"two rewrites: {time.monotonic() - started:.2f} s")
    end_failure(check)
    check.finish()


if __name__ == "__main__":
    main()
