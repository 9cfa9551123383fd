"""loop_recv: multishot receives into the buffer ring, and single receives, serve alike.

For each mode (--loop-recv multishot, the default, and single), one kv serves:
1. pipelines: 32 clients at once send seeded random batches of pipelined INCRs (own key and a
   shared key) and SET/GET of random sizes around the ring's 8 KiB buffers; every reply is
   checked, in order;
2. big values: a 3 MiB SET and a value of 3 ring buffers plus 17 bytes, read back whole;
3. partial reads: commands sent in fragments (one byte, then seeded random cuts), each sent
   alone with TCP_NODELAY, answered once whole;
4. many clients: 150 connections open at once, each with its own round trips;
5. churn: 200 connect/command/close cycles, some closing with pipelined commands unread, and
   a half-close: 3000 pipelined commands then SHUT_WR, every reply read before kv closes;
6. backpressure: a client sends 40 MiB of GETs of a 16 KiB value and reads nothing; kv stops
   consuming its bytes (its query buffer in CLIENT LIST stays under 1 MiB while its socket is
   full; with multishot, INFO's kv_recv_backpressure_cancels counts the stop), another client
   is served meanwhile, and once the first reads, every reply arrives, whole and in order.
7. a dry ring: 150 blocked clients each send 64 KiB, more than the ring holds; every reply
   arrives once they are unblocked (with multishot, kv_recv_ring_empty counts the ENOBUFS);
8. a stop: SIGTERM while a script runs and 400 KB of a client's pipelined commands wait
   unread: whole replies, then a clean end of file (never a reset), exit status 0.
Then: a bad --loop-recv is refused in the option's words; `kv --plan` shows the receive ring
(512 buffers of 8192 bytes) with multishot and none with single. The seed is printed.
"""
import random
import socket
import subprocess
import sys
import threading
import time

import kvtest

OPTIONS = ["--connections-max", "256", "--hugepages", "off", "--maxmemory", "128mb"]
RING_BUFFER_BYTES = 8192


def pipelines(check, kv, mode, seed):
    failures = []

    def run(index):
        rng = random.Random(seed * 1000 + index)
        sent = 0
        try:
            with kvtest.RespClient(kv.port) as client:
                for _ in range(12):
                    batch = rng.randint(1, 40)
                    size = rng.choice([1, 100, RING_BUFFER_BYTES - 30, RING_BUFFER_BYTES + 5,
                                       3 * RING_BUFFER_BYTES])
                    value = bytes([65 + index % 26]) * size
                    payload = b"".join(kvtest.encode("INCR", f"own:{index}") +
                                       kvtest.encode("INCR", "shared")
                                       for _ in range(batch))
                    payload += kvtest.encode("SET", f"v:{index}", value)
                    payload += kvtest.encode("GET", f"v:{index}")
                    client.send(payload)
                    replies = client.replies(2 * batch + 2)
                    for step in range(batch):
                        expected = f":{sent + step + 1}\r\n".encode()
                        if replies[2 * step] != expected:
                            failures.append(f"client {index}: {replies[2 * step]!r}")
                            return
                    if replies[-2] != b"+OK\r\n" or replies[-1] != b"$%d\r\n%s\r\n" % (size, value):
                        failures.append(f"client {index}: SET/GET of {size} bytes")
                        return
                    sent += batch
        except Exception as error:  # reported with the seed
            failures.append(f"client {index}: {error!r}")

    threads = [threading.Thread(target=run, args=(index,)) for index in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    check.equal(f"{mode}: 32 pipelining clients, every reply in order (seed {seed})", [],
                failures[:3])


def big_values(check, kv, mode):
    with kv.connect(timeout=60) as client:
        for size in (3 * RING_BUFFER_BYTES + 17, 3 << 20):
            value = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
            check.equal(f"{mode}: SET of {size} bytes", b"+OK\r\n",
                        client.call("SET", "big", value))
            check.true(f"{mode}: GET of {size} bytes whole",
                       client.call("GET", "big") == b"$%d\r\n%s\r\n" % (size, value))


def partial_reads(check, kv, mode, seed):
    rng = random.Random(seed)
    with kv.connect() as client:
        client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        command = kvtest.encode("SET", "frag", "x" * 20000) + kvtest.encode("GET", "short")
        for piece in (command[:1], command[1:2], command[2:7]):
            client.send(piece)
            time.sleep(0.02)  # lets each fragment arrive alone (nothing is timed)
        offset = 7
        while offset < len(command):
            cut = rng.randint(1, 9000)
            client.send(command[offset:offset + cut])
            offset += cut
            time.sleep(0.005)
        check.equal(f"{mode}: a command sent in fragments", [b"+OK\r\n", b"$-1\r\n"],
                    client.replies(2))
        check.equal(f"{mode}: its value whole", b"$20000\r\n" + b"x" * 20000 + b"\r\n",
                    client.call("GET", "frag"))


def many_clients(check, kv, mode):
    clients = [kv.connect() for _ in range(150)]
    try:
        for index, client in enumerate(clients):
            client.send(kvtest.encode("SET", f"many:{index}", str(index)))
        check.equal(f"{mode}: 150 clients at once", [b"+OK\r\n"] * 150,
                    [client.reply() for client in clients])
        answers = [client.call("GET", f"many:{index}") for index, client in enumerate(clients)]
        check.equal(f"{mode}: each its own value",
                    [b"$%d\r\n%d\r\n" % (len(str(n)), n) for n in range(150)], answers)
    finally:
        for client in clients:
            client.close()


def churn(check, kv, mode, seed):
    rng = random.Random(seed)
    asked = 0
    good = 0
    for _ in range(200):
        with kv.connect() as client:
            if rng.random() < 0.3:
                client.send(kvtest.encode("INCR", "churn") * rng.randint(1, 500))
                continue  # closed with replies unread
            asked += 1
            if client.call("INCR", "churned") == b":%d\r\n" % asked:
                good += 1
    check.equal(f"{mode}: 200 connect/close cycles, each answered", asked, good)
    with kv.connect() as client:
        check.true(f"{mode}: served after churn", client.call("PING") == b"+PONG\r\n")
    with socket.create_connection(("127.0.0.1", kv.port)) as sock:
        sock.sendall(kvtest.encode("INCR", "half") * 3000)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        sock.settimeout(30)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    with kv.connect() as client:
        last = kvtest.decode(client.call("GET", "half"))
    check.equal(f"{mode}: a half-closed client gets all 3000 replies", 3000, data.count(b"\r\n"))
    check.equal(f"{mode}: and ran all 3000", b"3000", last)


def client_qbuf(kv, name):
    with kv.connect() as client:
        listing = kvtest.decode(client.call("CLIENT", "LIST")).decode()
    for line in listing.splitlines():
        fields = dict(field.split("=", 1) for field in line.split(" ") if "=" in field)
        if fields.get("name") == name:
            return int(fields["qbuf"])
    return None


def backpressure(check, kv, mode):
    value = b"v" * 16384
    big = 100  # 1.6 MiB of replies: past SERVE_OUTPUT_PAUSE_BYTES, kv stops running its commands
    pings = 24 * 1024 * 1024 // len(kvtest.encode("PING"))  # more than both sockets' buffers
    with kv.connect() as client:
        client.call("SET", "bp", value)
    flood = kv.connect(timeout=120)
    flood.call("CLIENT", "SETNAME", "flood")
    payload = kvtest.encode("GET", "bp") * big + kvtest.encode("PING") * pings
    sender = threading.Thread(target=lambda: flood.sock.sendall(payload))
    sender.start()
    # A bounded wait for the sockets to fill: the sender stays blocked while kv takes nothing.
    sender.join(5)
    check.true(f"{mode}: kv stopped consuming a client that reads nothing", sender.is_alive())
    qbuf = client_qbuf(kv, "flood")
    check.true(f"{mode}: its query buffer stays bounded", qbuf is not None and qbuf < 1 << 20,
               str(qbuf))
    with kv.connect() as other:
        check.equal(f"{mode}: another client is served meanwhile", b"+PONG\r\n",
                    other.call("PING"))
        stats = kvtest.info(other, "stats")
    if mode == "multishot":
        check.true(f"{mode}: the receive was cancelled (backpressure)",
                   int(stats["kv_recv_backpressure_cancels"]) > 0,
                   stats.get("kv_recv_backpressure_cancels", "missing"))
    expected = (b"$16384\r\n" + value + b"\r\n") * big + b"+PONG\r\n" * pings
    received = bytearray()
    flood.sock.settimeout(60)
    # Bounded by the bytes owed (or kv closing the connection).
    while len(received) < len(expected):
        chunk = flood.sock.recv(1 << 20)
        if not chunk:
            break
        received += chunk
    sender.join(60)
    check.true(f"{mode}: every flooded reply arrives, whole and in order, once it reads",
               bytes(received) == expected, f"{len(received)} of {len(expected)} bytes")
    check.true(f"{mode}: the flood's sender finished", not sender.is_alive())
    flood.close()


def ring_dry(check, kv, mode):
    """150 blocked clients each send 64 KiB of PINGs: each holds ring buffers until it is
    served (more than the ring's 512 in all, so some receives end with ENOBUFS and fall back
    to single receives); once unblocked, each gets every reply."""
    count = 150
    pings = 65536 // len(kvtest.encode("PING"))
    clients = [kv.connect(timeout=60) for _ in range(count)]
    try:
        for index, client in enumerate(clients):
            client.send(kvtest.encode("BLPOP", f"dry:{index}", "0") +
                        kvtest.encode("PING") * pings)
        with kv.connect() as pusher:
            # Bounded: every client is blocked once kv counts them all.
            for _ in range(200):
                if int(kvtest.info(pusher, "clients")["blocked_clients"]) == count:
                    break
                time.sleep(0.05)
            stats = kvtest.info(pusher, "stats")
            for index in range(count):
                pusher.call("LPUSH", f"dry:{index}", "x")
        expected = [kvtest.encode(f"dry:{index}", "x") for index in range(count)]
        bad = 0
        for index, client in enumerate(clients):
            if client.reply() != expected[index]:
                bad += 1
            raw = bytearray()
            want = len(b"+PONG\r\n") * pings
            raw += client.buffer[client.start:]
            client.sock.settimeout(60)
            # Bounded by the bytes owed.
            while len(raw) < want:
                chunk = client.sock.recv(1 << 20)
                if not chunk:
                    break
                raw += chunk
            if bytes(raw) != b"+PONG\r\n" * pings:
                bad += 1
        check.equal(f"{mode}: 150 blocked clients sending 64 KiB each, all served in order",
                    0, bad)
        if mode == "multishot":
            check.true(f"{mode}: the ring ran dry and receives fell back (kv_recv_ring_empty)",
                       int(stats["kv_recv_ring_empty"]) > 0, stats["kv_recv_ring_empty"])
    finally:
        for client in clients:
            client.close()


def serve_mode(check, mode, seed):
    with kvtest.start_kv(*OPTIONS, "--loop-recv", mode) as kv:
        if mode == "multishot":
            check.true("multishot: the log names the ring",
                       "multishot receives into a ring of 512 buffers" in kv.log_text())
        pipelines(check, kv, mode, seed)
        big_values(check, kv, mode)
        partial_reads(check, kv, mode, seed)
        many_clients(check, kv, mode)
        churn(check, kv, mode, seed)
        backpressure(check, kv, mode)
        ring_dry(check, kv, mode)
        with kv.connect() as client:
            check.equal(f"{mode}: still serving at the end", b"+PONG\r\n", client.call("PING"))


def stop_with_unread(check, mode):
    """SIGTERM while a client's pipelined commands are still unread in kv's socket (a script
    keeps kv busy meanwhile): the client gets whole replies for what kv ran, then a clean end
    of file. kv reads and drops the rest before its close; a close with unread bytes would
    send a reset, which destroys replies still in flight."""
    commands = 20000
    script = "local i = 0 while i < 20000000 do i = i + 1 end return i"
    with kvtest.start_kv(*OPTIONS, "--loop-recv", mode) as kv:
        sock = socket.create_connection(("127.0.0.1", kv.port), timeout=30)
        try:
            payload = kvtest.encode("EVAL", script, "0") + b"".join(
                kvtest.encode("SET", f"stop:{i % 100}", "v" * 100) for i in range(commands))
            sock.sendall(payload)   # about 400 KB: more than kv takes in before it is served
            time.sleep(0.05)
            statuses = []
            stopper = threading.Thread(target=lambda: statuses.append(kv.stop()))
            stopper.start()   # SIGTERM by PID, and the wait for kv's exit
            data, ending = b"", "timeout"
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:   # bounded by the deadline
                try:
                    chunk = sock.recv(1 << 16)
                except ConnectionResetError:
                    ending = "reset"
                    break
                except socket.timeout:
                    break
                if not chunk:
                    ending = "end of file"
                    break
                data += chunk
        finally:
            sock.close()
        stopper.join(timeout=60)
        status = statuses[0] if statuses else None
    first = b":20000000\r\n"
    answered = data[len(first):].count(b"+OK\r\n") if data.startswith(first) else -1
    whole = data == first + b"+OK\r\n" * max(answered, 0)
    print(f"  {mode}: stop with unread bytes: {answered} of {commands} answered, then {ending}")
    check.true(f"{mode}: SIGTERM with unread pipelined bytes: the script's reply, then whole "
               f"replies only", whole and answered >= 0, data[:60] + b"..." + data[-60:])
    check.equal(f"{mode}: ... then a clean end of file, not a reset", "end of file", ending)
    check.equal(f"{mode}: kv exits 0", 0, status)


def plan_pool(*args):
    result = kvtest.run_kv("--plan", *args)
    for line in result.stdout.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == "receive":
            return int(words[1]), result.stdout
    return None, result.stdout


def main():
    kvtest.need_kv_binary()
    check = kvtest.Checker("test_loop_recv")
    seed = random.randrange(1 << 30)
    print(f"seed {seed}")
    for mode in ("multishot", "single"):
        serve_mode(check, mode, seed)
        stop_with_unread(check, mode)
    bad = subprocess.run([kvtest.KV_BIN, "--loop-recv", "sometimes", "--port", "1"],
                         capture_output=True, text=True, timeout=30)
    check.true("a bad loop_recv is refused", bad.returncode != 0)
    check.true("in the option's words", "is not one of multishot | single" in bad.stderr +
               bad.stdout, bad.stderr[-200:])
    multishot, text = plan_pool("--loop-recv", "multishot")
    check.true("--plan: the receive pool holds the ring's 512 x 8192 bytes",
               multishot is not None and multishot >= 512 * 8192, str(multishot))
    check.true("--plan: names the ring", "recv_ring = 512 buffers of 8192 bytes" in text)
    single, _ = plan_pool("--loop-recv", "single")
    check.equal("--plan with single: no receive ring", 0, single)
    default, _ = plan_pool()
    check.equal("--plan by default (multishot): the same receive ring", multishot, default)
    check.finish()


if __name__ == "__main__":
    main()
