"""Hostile and faulty clients cannot hurt kv or the clients it serves.

1. A client that sends GETs of a 4 KB value forever and never reads: kv stops reading it
   once its replies back up (its buffers are bounded), and once the kernel has taken no reply
   bytes from it for send_stall_seconds (1 s here) kv closes it, counts it in INFO
   (kv_stalled_disconnects) and logs why. Meanwhile another client is served throughout.
2. Clients that reset the connection (RST) in the middle of a command, of a bulk payload, or
   inside MULTI with queued writes leave no half-applied change: the keys they were writing
   do not exist afterwards, and kv serves on.
3. A pipelined client that reads slowly (but reads) is never closed by the stall check.
"""
import socket
import struct
import time

import kvtest

OPTIONS = ["--connections-max", "16", "--key-count", "64", "--val-size-max", "4096",
           "--list-length-max", "8", "--hugepages", "off", "--send-stall-seconds", "1"]


def reset(sock):
    """Close with RST: linger on, timeout 0."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def never_reads(check, kv):
    with kv.connect() as writer:
        writer.call("SET", "big", "v" * 4096)
    hostile = socket.create_connection(("127.0.0.1", kv.port))
    hostile.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    hostile.setblocking(False)
    request = kvtest.encode("GET", "big") * 64
    sent = 0
    latencies = []
    with kv.connect() as good:
        deadline = time.monotonic() + 8
        closed = False
        while time.monotonic() < deadline and not closed:
            try:
                sent += hostile.send(request)
            except BlockingIOError:
                pass  # kv stopped reading it: its buffers are full
            except OSError:
                closed = True
            started = time.monotonic()
            check_reply = good.call("PING")
            latencies.append(time.monotonic() - started)
            if check_reply != b"+PONG\r\n":
                check.equal("the other client is served", b"+PONG\r\n", check_reply)
                break
            stats = kvtest.info(good, "stats")
            closed = closed or stats.get("kv_stalled_disconnects") == "1"
            time.sleep(0.05)
        check.true(f"the never-reading client sent {sent} bytes of requests, then was refused "
                   f"more", sent > 0)
        check.true("kv closed it for taking no replies", closed)
        check.equal("counted in INFO", "1", kvtest.info(good, "stats").get("kv_stalled_disconnects"))
        check.true("logged with the reason", "took no reply bytes" in kv.log_text())
        worst = max(latencies) if latencies else 0
        check.true(f"the other client got every PING answered ({len(latencies)}, worst "
                   f"{worst * 1000:.1f} ms)", len(latencies) > 10)
        check.equal("and the data are intact", b"$4096\r\n" + b"v" * 4096 + b"\r\n",
                    good.call("GET", "big"))
    hostile.close()


def resets(check, kv):
    cases = [
        ("in the middle of a header", b"*3\r\n$3\r\nSET\r\n$7\r\nhalf:1"),
        ("in the middle of a bulk payload", b"*3\r\n$3\r\nSET\r\n$6\r\nhalf:2\r\n$10\r\nhello"),
        ("before the last argument", b"*4\r\n$5\r\nRPUSH\r\n$6\r\nhalf:3\r\n$1\r\na\r\n"),
        ("inside MULTI with queued writes",
         kvtest.encode("MULTI") + kvtest.encode("SET", "half:4", "x") +
         kvtest.encode("RPUSH", "half:5", "y")),
    ]
    for what, data in cases:
        sock = socket.create_connection(("127.0.0.1", kv.port))
        sock.sendall(data)
        time.sleep(0.1)
        reset(sock)
        time.sleep(0.1)
        with kv.connect() as client:
            check.equal(f"reset {what}: nothing applied", b":0\r\n",
                        client.call("EXISTS", "half:1", "half:2", "half:3", "half:4", "half:5"))
            check.equal(f"reset {what}: kv serves on", b"+PONG\r\n", client.call("PING"))


def slow_reader(check, kv):
    with kv.connect() as client:
        client.send(kvtest.encode("GET", "big") * 1000)
        reply_bytes = len(b"$4096\r\n") + 4096 + 2
        received = 0
        # Read the ~4 MB of replies slowly, over more than the stall limit.
        deadline = time.monotonic() + 30
        while received < 1000 * reply_bytes and time.monotonic() < deadline:
            time.sleep(0.02)
            chunk = client.sock.recv(65536)
            if not chunk:
                break
            received += len(chunk)
        check.equal("a slow but reading client gets every reply", 1000 * reply_bytes, received)
        check.equal("and is not closed", b"+PONG\r\n", client.call("PING"))


def main():
    check = kvtest.Checker("test_hostile")
    with kvtest.start_kv(*OPTIONS) as kv:
        never_reads(check, kv)
        resets(check, kv)
        slow_reader(check, kv)
    check.finish()


if __name__ == "__main__":
    main()
