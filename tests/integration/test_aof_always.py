#!/usr/bin/env python3
"""appendfsync always holds replies, not the loop (issue 17).

1. The loop is not blocked by an fsync: a write of a large value (MSET big <tens of MB> k v1)
   makes the AOF's fsync slow (it flushes that many dirty bytes); once the incr file holds the
   whole write (its linked fsync is then in flight), another client sends TIME, GET k and
   PING. kv runs them at once, while the fsync is pending: TIME's answer (the server's clock
   when it ran) falls in the first half of the fsync's wait, where a loop that waited for
   the fsync would run it only after. The window is measured: a value is doubled (16 to 64
   MiB) until the fsync takes 20 ms, and at least 8 ms is needed to tell the two apart.
2. Reader ordering: those replies (a GET that sees the write, and even a PING) leave only once
   the fsync is done: they arrive no earlier than the writer's own +OK, less a small margin
   for the two sockets' delivery (a reader must not see a write a crash could lose, as
   Redis's beforeSleep fsyncs before it sends any reply of the turn).
3. kill -9 under a load of writers (one command at a time and pipelined) and readers (GET of
   the writers' counters): after a restart every acknowledged write is there, and every
   value a reader saw too (a read is answered only once what it saw is durable).
4. A slow script's busy pass: with a script that wrote and still runs past
   busy-reply-threshold, another client's PING gets -BUSY while it runs (the busy pass makes
   the fed bytes durable without waiting, and their fsync releases the reply), and the
   script's reply comes after, with its write in the AOF.
5. SIGTERM under pipelined writers: kv stops with status 0, every reply it sent is for a
   write that is in the AOF after a restart.
"""
import os
import random
import select
import signal
import socket
import threading
import time

import kvtest

KV_OPTIONS = ["--hugepages", "off", "--maxmemory", "64mb", "--connections-max", "64",
              "--appendonly", "yes", "--appendfsync", "always"]
# The slow-fsync check writes values of up to 64 MiB (received, stored, written); no automatic
# rewrite (its start drains the AOF, waiting).
BIG_OPTIONS = KV_OPTIONS + ["--maxmemory", "600mb", "--auto-aof-rewrite-percentage", "0"]


def incr_file(directory):
    """The incr file the manifest lists last (where propagation writes)."""
    aof_dir = os.path.join(directory, "appendonlydir")
    with open(os.path.join(aof_dir, "appendonly.aof.manifest")) as f:
        names = [line.split()[1] for line in f if " type i" in line]
    return os.path.join(aof_dir, names[-1])


def split_replies(buffer):
    """The whole replies at the start of buffer, in order."""
    replies = []
    start = 0
    while True:
        end = kvtest.reply_end(buffer, start)
        if end is None:
            return replies
        replies.append(buffer[start:end])
        start = end


def slow_fsync_round(kv, directory, value_mib):
    """One MSET of a value_mib MiB value, the reader's commands sent while its fsync is
    pending. Returns a dict of times (Unix seconds) and the replies, or None when the write
    was not seen in the file before its reply came (the fsync too fast to catch). Both
    sockets are watched from this one thread (select), so each reply's arrival time is when
    it arrived, not when a thread got to run."""
    path = incr_file(directory)
    before = os.path.getsize(path)
    value = os.urandom(value_mib << 19).hex()  # value_mib MiB of text
    payload = kvtest.encode("MSET", "big", value, "k", f"v{value_mib}")
    writer = socket.create_connection(("127.0.0.1", kv.port), timeout=120)
    reader = socket.create_connection(("127.0.0.1", kv.port), timeout=120)
    try:
        reader.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader.sendall(kvtest.encode("PING"))
        if reader.recv(64) != b"+PONG\r\n":  # connected and served before the write
            raise RuntimeError("no PONG")
        sender = threading.Thread(target=writer.sendall, args=(payload,), daemon=True)
        sender.start()
        # The write is in the file: its linked fsync is in flight (or just completed).
        deadline = time.monotonic() + 120
        while os.path.getsize(path) < before + len(value) and time.monotonic() < deadline:
            if select.select([writer], [], [], 0.0005)[0]:
                break
        pending_at = time.time()
        if select.select([writer], [], [], 0)[0]:
            writer.recv(64)
            return None  # the reply came: the fsync was done before it could be caught
        reader.sendall(kvtest.encode("TIME") + kvtest.encode("GET", "k") +
                       kvtest.encode("PING"))
        received = {writer: b"", reader: b""}
        arrived = {}
        wanted = {writer: 1, reader: 3}
        while any(len(split_replies(received[sock])) < wanted[sock] for sock in received):
            if time.monotonic() > deadline:
                raise RuntimeError(f"replies missing: {received}")
            for sock in select.select(list(received), [], [], 1.0)[0]:
                arrived.setdefault(sock, time.time())
                chunk = sock.recv(1 << 16)
                if not chunk:
                    raise RuntimeError("kv closed a connection")
                received[sock] += chunk
        sender.join(10)
    finally:
        writer.close()
        reader.close()
    ok = split_replies(received[writer])[0]
    time_reply, get_reply, ping_reply = split_replies(received[reader])
    seconds, micros = kvtest.decode(time_reply)
    return {"pending_at": pending_at, "ran_at": int(seconds) + int(micros) / 1e6,
            "writer_at": arrived[writer], "reader_at": arrived[reader], "ok": ok,
            "get": get_reply, "ping": ping_reply, "value": f"v{value_mib}".encode()}


def loop_not_blocked(check):
    directory = kvtest.kv_temp_dir()
    with kvtest.start_kv(*BIG_OPTIONS, "--dir", directory) as kv:
        result = None
        for value_mib in (16, 32, 64):
            round_result = slow_fsync_round(kv, directory, value_mib)
            if round_result is None:
                continue
            window = round_result["writer_at"] - round_result["pending_at"]
            print(f"slow fsync: {value_mib} MiB value, the fsync pending for "
                  f"{window * 1000:.1f} ms after the write was seen in the file; the reader's "
                  f"TIME ran {(round_result['ran_at'] - round_result['pending_at']) * 1000:.1f}"
                  f" ms in, its replies came "
                  f"{(round_result['reader_at'] - round_result['writer_at']) * 1000:+.1f} ms "
                  f"after the writer's")
            result = round_result
            if window >= 0.020:
                break
        check.true("slow fsync: a write was caught with its fsync pending", result is not None)
        if result is None:
            return
        window = result["writer_at"] - result["pending_at"]
        check.true("slow fsync: the fsync took long enough to tell (>= 8 ms)",
                   window >= 0.008, f"{window * 1000:.1f} ms")
        check.equal("slow fsync: the write's reply", b"+OK\r\n", result["ok"])
        # 1. The reader's commands ran while the fsync was pending (a blocked loop runs them
        # after it, at the end of the window).
        ran_in = result["ran_at"] - result["pending_at"]
        check.true("loop not blocked: the reader's TIME ran in the first half of the fsync",
                   ran_in < window / 2, f"ran {ran_in * 1000:.1f} ms into a window of "
                   f"{window * 1000:.1f} ms")
        # 2. Its replies were held until the fsync completed.
        check.equal("reader ordering: GET sees the write",
                    b"$%d\r\n%s\r\n" % (len(result["value"]), result["value"]), result["get"])
        check.equal("reader ordering: PING", b"+PONG\r\n", result["ping"])
        # The two sockets' replies leave in one settle; a reply that did not wait would come
        # the fsync's whole window before the writer's.
        early = result["writer_at"] - result["reader_at"]
        margin = min(0.010, window / 4)
        check.true("reader ordering: the reader's replies left only after the write's fsync",
                   early < margin, f"{early * 1000:.1f} ms before the writer's +OK (margin "
                   f"{margin * 1000:.1f} ms)")
        with kv.connect() as client:
            info = kvtest.info(client, "persistence")
            check.equal("INFO: no write error", "ok", info["aof_last_write_status"])


class Writer(threading.Thread):
    """INCR c:<index>, `pipeline` at a time: `acked` counts the replies received."""

    def __init__(self, port, index, stop, pipeline=1):
        super().__init__(daemon=True)
        self.port = port
        self.index = index
        self.stop = stop
        self.pipeline = pipeline
        self.sent = 0
        self.acked = 0

    def run(self):
        try:
            sock = socket.create_connection(("127.0.0.1", self.port))
            buffer = b""
            while not self.stop.is_set():
                sock.sendall(kvtest.encode("INCR", f"c:{self.index}") * self.pipeline)
                self.sent += self.pipeline
                replies = 0
                while replies < self.pipeline:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                    while b"\r\n" in buffer:
                        line, buffer = buffer.split(b"\r\n", 1)
                        if line.startswith(b":"):
                            replies += 1
                            self.acked = int(line[1:])
        except OSError:
            return


class Reader(threading.Thread):
    """GET c:<index> for every writer, over and over: `seen` is the largest value per key."""

    def __init__(self, port, keys, stop):
        super().__init__(daemon=True)
        self.port = port
        self.keys = keys
        self.stop = stop
        self.seen = {}

    def run(self):
        try:
            client = kvtest.RespClient(self.port, timeout=30)
            while not self.stop.is_set():
                for key in self.keys:
                    value = kvtest.decode(client.call("GET", key))
                    if value is not None:
                        self.seen[key] = max(self.seen.get(key, 0), int(value))
        except (OSError, kvtest.ConnectionClosed, kvtest.ReplyTimeout):
            return


def crash_under_load(check, rnd, round_index):
    directory = kvtest.kv_temp_dir()
    kv = kvtest.start_kv(*KV_OPTIONS, "--dir", directory, "--auto-aof-rewrite-min-size",
                         "256kb")
    stop = threading.Event()
    writers = [Writer(kv.port, index, stop) for index in range(6)]
    writers += [Writer(kv.port, 6 + index, stop, pipeline=32) for index in range(2)]
    keys = [f"c:{writer.index}" for writer in writers]
    readers = [Reader(kv.port, keys, stop) for _ in range(3)]
    for thread in writers + readers:
        thread.start()
    time.sleep(rnd.uniform(0.3, 1.2))  # the load runs a while; not an assertion
    os.kill(kv.pid, signal.SIGKILL)
    kv.process.wait()
    stop.set()
    for thread in writers + readers:
        thread.join(10)
    kv.log.close()
    acked = sum(writer.acked for writer in writers)
    check.true(f"kill -9 #{round_index}: writes were acknowledged before it", acked > 0)
    with kvtest.start_kv(*KV_OPTIONS, "--dir", directory) as again, again.connect() as client:
        lost = []
        unseen = []
        for writer in writers:
            value = kvtest.decode(client.call("GET", f"c:{writer.index}"))
            count = int(value) if value is not None else 0
            if count < writer.acked:
                lost.append((writer.index, count, writer.acked))
            if count > writer.sent:
                lost.append((writer.index, count, "more than sent", writer.sent))
            for reader in readers:
                if reader.seen.get(f"c:{writer.index}", 0) > count:
                    unseen.append((writer.index, count, reader.seen[f"c:{writer.index}"]))
        check.true(f"kill -9 #{round_index}: every acknowledged write is there", not lost,
                   f"{lost[:4]}")
        check.true(f"kill -9 #{round_index}: every value a reader saw is there", not unseen,
                   f"{unseen[:4]}")
    seen = sum(max(reader.seen.values(), default=0) for reader in readers)
    print(f"kill -9 #{round_index}: {acked} writes acknowledged, readers saw up to {seen}")


def busy_script(check):
    directory = kvtest.kv_temp_dir()
    script = ("redis.call('SET', 'busy', 'written') "
              "local t = redis.call('TIME') "
              "local start = t[1] * 1000000 + t[2] "
              "local now = start "
              "while now - start < 1500000 do "
              "  t = redis.call('TIME') now = t[1] * 1000000 + t[2] "
              "end "
              "return 1")
    with kvtest.start_kv(*KV_OPTIONS, "--dir", directory, "--busy-reply-threshold", "100") as kv:
        with kv.connect(timeout=30) as runner, kv.connect(timeout=30) as other:
            other.call("PING")
            started = time.monotonic()
            runner.send(kvtest.encode("EVAL", script, "0"))
            time.sleep(0.4)  # past the threshold: busy passes run
            busy = other.call("PING")
            busy_at = time.monotonic() - started
            check.starts("busy script: another client's PING gets -BUSY", b"-BUSY", busy)
            check.true("busy script: -BUSY came while the script ran",
                       busy_at < 1.4, f"{busy_at:.2f} s after the EVAL")
            check.equal("busy script: the script's reply", b":1\r\n", runner.reply())
        kv.stop()
    with kvtest.start_kv(*KV_OPTIONS, "--dir", directory) as kv, kv.connect() as client:
        check.equal("busy script: its write is in the AOF", b"$7\r\nwritten\r\n",
                    client.call("GET", "busy"))


def sigterm_under_load(check):
    directory = kvtest.kv_temp_dir()
    kv = kvtest.start_kv(*KV_OPTIONS, "--dir", directory)
    stop = threading.Event()
    writers = [Writer(kv.port, index, stop, pipeline=16) for index in range(4)]
    for writer in writers:
        writer.start()
    time.sleep(0.5)
    status = kv.stop()
    stop.set()
    for writer in writers:
        writer.join(10)
    check.equal("SIGTERM under load: kv exits 0", 0, status)
    with kvtest.start_kv(*KV_OPTIONS, "--dir", directory) as again, again.connect() as client:
        for writer in writers:
            value = kvtest.decode(client.call("GET", f"c:{writer.index}"))
            count = int(value) if value is not None else 0
            check.true(f"SIGTERM: writer {writer.index}'s acknowledged writes are there",
                       writer.acked <= count <= writer.sent,
                       f"acked {writer.acked}, stored {count}, sent {writer.sent}")


def main():
    check = kvtest.Checker("test_aof_always", verbose=False)
    kvtest.need_kv_binary()
    seed = int(os.environ.get("KV_SEED", random.randrange(1, 2**31)))
    print(f"test_aof_always: seed {seed} (KV_SEED replays it)")
    rnd = random.Random(seed)
    started = time.monotonic()
    loop_not_blocked(check)
    print(f"slow fsync: {time.monotonic() - started:.2f} s")
    for round_index in range(3):
        crash_under_load(check, rnd, round_index)
    print(f"kill -9: {time.monotonic() - started:.2f} s")
    busy_script(check)
    print(f"busy script: {time.monotonic() - started:.2f} s")
    sigterm_under_load(check)
    print(f"SIGTERM: {time.monotonic() - started:.2f} s")
    check.finish()


if __name__ == "__main__":
    main()
