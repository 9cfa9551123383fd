#!/usr/bin/env python3
"""appendfsync always holds replies, not the loop (issue 17).

1. The loop is not blocked by an fsync: a write of a large value (MSET big <tens of MB> k v1)
   makes the AOF's fsync slow (it flushes that many dirty bytes); once the incr file holds the
   whole write (its linked fsync is then in flight), another client sends TIME, GET k and
   PING. kv runs them at once, while the fsync is pending: TIME's answer (the server's clock
   when it ran) falls in the first half of the fsync's wait, where a loop that waited for
   the fsync would run it only after. The window is measured, with values of 16, 32 and 64
   MiB: at least one round must have a window of 8 ms or more, and in one such round the
   reader's command must have run in its first half (the machine is shared).
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
6. Other ways a reply goes out, under writers: a blocked client woken by another client's
   write, a subscriber's message, MULTI/EXEC, large pipelined replies, and a client streaming
   20000 commands while it reads (its output grows while earlier replies wait for their
   fsync): every reply arrives whole and in order, and the writes are there after a restart.
"""
import os
import random
import select
import signal
import socket
import threading
import time

import aofload
import kvtest

KV_OPTIONS = ["--hugepages", "off", "--maxmemory", "64mb", "--connections-max", "64",
              "--appendonly", "yes", "--appendfsync", "always"]
# The slow-fsync check writes values of up to 64 MiB (received, stored, written); no automatic
# rewrite.
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
        rounds = []
        for value_mib in (16, 32, 64):
            result = slow_fsync_round(kv, directory, value_mib)
            if result is None:
                print(f"slow fsync: {value_mib} MiB value: its reply came before the write "
                      f"was seen in the file")
                continue
            window = result["writer_at"] - result["pending_at"]
            ran_in = result["ran_at"] - result["pending_at"]
            print(f"slow fsync: {value_mib} MiB value, the fsync pending for "
                  f"{window * 1000:.1f} ms after the write was seen in the file; the reader's "
                  f"TIME ran {ran_in * 1000:.1f} ms in, its replies came "
                  f"{(result['reader_at'] - result['writer_at']) * 1000:+.1f} ms after the "
                  f"writer's")
            rounds.append((value_mib, window, ran_in, result))
        # Rounds whose fsync lasted long enough to tell a loop that waits from one that does
        # not (the machine is shared: one such round is needed, and the sizes give three).
        long_enough = [entry for entry in rounds if entry[1] >= 0.008]
        check.true("slow fsync: a write was caught with its fsync pending for >= 8 ms",
                   bool(long_enough), f"{[(m, round(w * 1000, 1)) for m, w, _, _ in rounds]}")
        # 1. The reader's commands ran while the fsync was pending (a loop that waits for the
        # fsync runs them after it, at the end of the window).
        check.true("loop not blocked: the reader's TIME ran in the first half of the fsync",
                   any(ran_in < window / 2 for _, window, ran_in, _ in long_enough),
                   f"{[(m, round(r * 1000, 1), round(w * 1000, 1)) for m, w, r, _ in rounds]}"
                   f" (MiB, ms in, window ms)")
        # 2. Its replies were held until the fsync completed, in every round. The two
        # sockets' replies leave in one settle; a reply that did not wait would come the
        # fsync's whole window before the writer's.
        for value_mib, window, _, result in rounds:
            check.equal(f"slow fsync {value_mib} MiB: the write's reply", b"+OK\r\n",
                        result["ok"])
            check.equal(f"reader ordering {value_mib} MiB: GET sees the write",
                        b"$%d\r\n%s\r\n" % (len(result["value"]), result["value"]),
                        result["get"])
            check.equal(f"reader ordering {value_mib} MiB: PING", b"+PONG\r\n",
                        result["ping"])
            early = result["writer_at"] - result["reader_at"]
            margin = min(0.010, window / 4)
            check.true(f"reader ordering {value_mib} MiB: the reader's replies left only "
                       f"after the write's fsync", early < max(margin, 0.001),
                       f"{early * 1000:.1f} ms before the writer's +OK (margin "
                       f"{margin * 1000:.1f} ms)")
        with kv.connect() as client:
            info = kvtest.info(client, "persistence")
            check.equal("INFO: no write error", "ok", info["aof_last_write_status"])


def crash_under_load(check, rnd, round_index):
    directory = kvtest.kv_temp_dir()
    kv = kvtest.start_kv(*KV_OPTIONS, "--dir", directory, "--auto-aof-rewrite-min-size",
                         "256kb")
    stop = threading.Event()
    writers = [aofload.CounterWriter(kv.port, index, stop) for index in range(6)]
    writers += [aofload.CounterWriter(kv.port, 6 + index, stop, pipeline=32) for index in range(2)]
    keys = [f"c:{writer.index}" for writer in writers]
    readers = [aofload.Reader(kv.port, keys, stop) for _ in range(3)]
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


def streaming_pipeline(port, count, results):
    """Sends `count` SETs without waiting for replies while another thread reads them (as
    redis-cli --pipe): the client's output keeps growing while earlier replies wait for
    their fsync (the gate's second stamp lets released bytes go meanwhile)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    payload = b"".join(kvtest.encode("SET", f"p:{n}", str(n)) for n in range(count))

    def send():
        for start in range(0, len(payload), 1 << 14):
            sock.sendall(payload[start:start + (1 << 14)])
            time.sleep(0.0002)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    buffer = b""
    try:
        while buffer.count(b"\r\n") < count:
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            buffer += chunk
    except OSError:
        pass
    sender.join(30)
    sock.close()
    results["pipe"] = buffer


def mixed_workload(check):
    """Other paths a reply takes under always: a blocked client woken by another's write, a
    subscriber's messages, a transaction, large replies read back while writers write, and a
    client streaming a long pipeline."""
    directory = kvtest.kv_temp_dir()
    with kvtest.start_kv(*KV_OPTIONS, "--dir", directory) as kv, \
            kv.connect(timeout=30) as blocked, kv.connect(timeout=30) as subscriber, \
            kv.connect(timeout=30) as client:
        stop = threading.Event()
        writers = [aofload.CounterWriter(kv.port, index, stop) for index in range(3)]
        for writer in writers:
            writer.start()
        results = {}
        streamer = threading.Thread(target=streaming_pipeline, args=(kv.port, 20000, results),
                                    daemon=True)
        streamer.start()
        blocked.send(kvtest.encode("BLPOP", "queue", "10"))
        check.equal("mixed: SUBSCRIBE", [b"subscribe", b"news", 1],
                    kvtest.decode(subscriber.call("SUBSCRIBE", "news")))
        time.sleep(0.05)
        check.equal("mixed: LPUSH wakes the blocked client", b":1\r\n",
                    client.call("LPUSH", "queue", "job"))
        check.equal("mixed: the blocked client's reply", [b"queue", b"job"],
                    kvtest.decode(blocked.reply()))
        check.equal("mixed: PUBLISH", b":1\r\n", client.call("PUBLISH", "news", "hello"))
        check.equal("mixed: the subscriber's message", [b"message", b"news", b"hello"],
                    kvtest.decode(subscriber.reply()))
        client.send(kvtest.encode("MULTI") + kvtest.encode("INCR", "t") +
                    kvtest.encode("INCR", "t") + kvtest.encode("EXEC"))
        check.equal("mixed: MULTI/EXEC", [b"+OK\r\n", b"+QUEUED\r\n", b"+QUEUED\r\n",
                                          b"*2\r\n:1\r\n:2\r\n"], client.replies(4))
        big = "x" * 100000
        check.equal("mixed: SET of a 100 KB value", b"+OK\r\n", client.call("SET", "big", big))
        client.send(kvtest.encode("GET", "big") * 50)
        replies = client.replies(50)
        check.true("mixed: 50 pipelined GETs of it, in order and whole",
                   all(reply == b"$100000\r\n" + big.encode() + b"\r\n" for reply in replies))
        streamer.join(60)
        stop.set()
        for writer in writers:
            writer.join(10)
        pipe = results.get("pipe", b"")
        check.equal("mixed: a streamed pipeline of 20000 SETs gets every reply",
                    20000, pipe.count(b"+OK\r\n"))
        check.equal("mixed: the last streamed write", b"$5\r\n19999\r\n",
                    client.call("GET", "p:19999"))
    with kvtest.start_kv(*KV_OPTIONS, "--dir", directory) as kv, kv.connect() as client:
        check.equal("mixed: after a restart, the streamed writes", b"$5\r\n19999\r\n",
                    client.call("GET", "p:19999"))
        check.equal("mixed: after a restart, the popped list is gone", b":0\r\n",
                    client.call("EXISTS", "queue"))


def policy_switches(check):
    """CONFIG SET appendfsync and appendonly while writers' replies are held: replies keep
    coming under every policy and after the AOF is turned off and on again."""
    directory = kvtest.kv_temp_dir()
    with kvtest.start_kv(*KV_OPTIONS, "--dir", directory) as kv, kv.connect() as admin:
        stop = threading.Event()
        writers = [aofload.CounterWriter(kv.port, index, stop, pipeline=8) for index in range(4)]
        for writer in writers:
            writer.start()
        steps = [("appendfsync", "everysec"), ("appendfsync", "always"), ("appendonly", "no"),
                 ("appendonly", "yes"), ("appendfsync", "no"), ("appendfsync", "always")]
        for name, value in steps:
            time.sleep(0.15)
            before = sum(writer.acked for writer in writers)
            check.equal(f"switch: CONFIG SET {name} {value}", b"+OK\r\n",
                        admin.call("CONFIG", "SET", name, value))
            deadline = time.monotonic() + 10
            while (sum(writer.acked for writer in writers) < before + 100 and
                   time.monotonic() < deadline):
                time.sleep(0.01)
            check.true(f"switch: writes go on being acknowledged after {name} {value}",
                       sum(writer.acked for writer in writers) >= before + 100)
        stop.set()
        for writer in writers:
            writer.join(10)
        acked = {writer.index: writer.acked for writer in writers}
    with kvtest.start_kv(*KV_OPTIONS, "--dir", directory) as kv, kv.connect() as client:
        for index, count in acked.items():
            value = kvtest.decode(client.call("GET", f"c:{index}"))
            check.true(f"switch: writer {index}'s acknowledged writes are there after a "
                       f"restart", value is not None and int(value) >= count,
                       f"{value} < {count}")


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
    writers = [aofload.CounterWriter(kv.port, index, stop, pipeline=16) for index in range(4)]
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
    mixed_workload(check)
    print(f"mixed: {time.monotonic() - started:.2f} s")
    policy_switches(check)
    print(f"policy switches: {time.monotonic() - started:.2f} s")
    busy_script(check)
    print(f"busy script: {time.monotonic() - started:.2f} s")
    sigterm_under_load(check)
    print(f"SIGTERM: {time.monotonic() - started:.2f} s")
    check.finish()


if __name__ == "__main__":
    main()
