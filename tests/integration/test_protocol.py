"""Malformed, split, pipelined and oversized input: kv answers as Redis does.

Each malformed case goes on a fresh connection to kv and to a real redis-server; the bytes
received until the server closes (or goes quiet) and whether it closed must be the same.
Then: a command split one byte per write, 10,000 pipelined commands in one write, a large
command over many writes, inline commands, and kv's own limits (an argument too long, a
command too large), after which the connection still answers and the data survive.
"""
import socket

import harness

MALFORMED = [
    b"*abc\r\n", b"*-5\r\nPING\r\n", b"*1\r\n$abc\r\n", b"*1\r\n$-3\r\n",
    b"*1\r\n$4\r\nPINGXX\r\n", b"*1\r\n+PING\r\n", b"SET \"a b\r\n", b"*0\r\nPING\r\n",
    b"\r\n\r\nPING\r\n", b"*1\r\n$4\r\nPING\n\nPING\r\n", b"*1\r\n$600000000\r\n",
    b"*3000000000\r\n", b"*01\r\n$4\r\nPING\r\n", b"*+1\r\n$4\r\nPING\r\n", b"*1 \r\n",
    b"PING\nPING\n", b"*1\rX$4\r\nPING\r\n", b"*1\r\n$4\rXPING\r\n", b"*1\r\n$0\r\n\r\n",
    b"ECHO \"\\x4g\"\r\n", b"ECHO \"\\x41\\q\\\\\"\r\n", b"ECHO 'it\\'s'\r\n", b"ECHO ''\r\n",
    b"ECHO a\"\"\r\n", b"  \t \r\n", b"ECHO\tx\r\n", b"ECHO\x0bx\r\n", b"\x0bECHO x\r\n",
    b"ECHO \"a\"b\r\n", b"ECHO 'a'b\r\n", b"ECHO \"unterminated\r\n", b"foo a b\r\n",
    b"ECHO a\x00b\r\nPING\r\n", b"*1\r\n\x00\r\n", b"*1\r\n\r", b"*2\r\n$4\r\nECHO\r\n$3\r\nabc",
    b"*1\r\n$4\r\nPING\r\n*1\r\n$abc\r\n", b"GET a b\r\n", b"lpop\r\n", b"*1\r\n$4\r\nquit\r\nPING\r\n",
    b"A" * 70000, b"*" + b"1" * 70000, b"*1\r\n$" + b"1" * 70000, b"*1\r\n-\r\n",
    b"unknown " + b"x" * 300 + b" " + b"y" * 300 + b"\r\n",
    b"\xff\xfe\r\n", b"*2\r\n$3\r\nGET\r\n$3\r\na\r\n\r\n",
]


def exchange(server, data):
    client = server.connect(timeout=5)
    try:
        client.send(data)
        return client.read_until_close(seconds=0.5)
    finally:
        client.close()


def main():
    checks = harness.Checks("test_protocol")
    kv = harness.start_kv(*harness.SMALL)
    redis = harness.start_redis()
    try:
        for data in MALFORMED:
            checks.equal(exchange(kv, data), exchange(redis, data), f"answer to {data[:60]!r}")
        split_one_byte_per_write(kv, checks)
        pipelined(kv, redis, checks)
        large_command_many_writes(kv, checks)
        limits(checks)
    finally:
        kv.stop()
        redis.stop()
    checks.exit()


def split_one_byte_per_write(kv, checks):
    client = kv.connect()
    wire = harness.encode("SET", "split", "value-in-pieces") + harness.encode("GET", "split")
    for index in range(len(wire)):
        client.send(wire[index:index + 1])
    checks.equal(client.reply(), b"+OK\r\n", "SET sent one byte per write")
    checks.equal(client.reply(), b"$15\r\nvalue-in-pieces\r\n", "GET sent one byte per write")
    client.close()


def pipelined(kv, redis, checks):
    wire = b"".join(harness.encode("SET", f"p{i % 500}", f"v{i}") +
                    harness.encode("GET", f"p{i % 500}") + harness.encode("PING")
                    for i in range(3334))
    replies = []
    for server in (kv, redis):
        client = server.connect(timeout=30)
        client.send(wire)
        replies.append([client.reply() for _ in range(3 * 3334)])
        client.close()
    checks.equal(len(replies[0]), 10002, "10,002 pipelined replies from kv")
    checks.true(replies[0] == replies[1], "pipelined replies equal Redis's")


def large_command_many_writes(kv, checks):
    client = kv.connect()
    values = [bytes([65 + i % 26]) * 4000 for i in range(60)]
    wire = harness.encode("RPUSH", "big", *values)
    for start in range(0, len(wire), 1000):
        client.send(wire[start:start + 1000])
    checks.equal(client.reply(), b":60\r\n", "RPUSH of 240 KB over 1,000-byte writes")
    got = client.call("LRANGE", "big", 0, -1)
    checks.equal(got, b"*60\r\n" + b"".join(b"$4000\r\n" + v + b"\r\n" for v in values),
                 "LRANGE reads the large list back")
    client.close()


def limits(checks):
    """kv's own limits: refused with kv's error, connection open, data intact."""
    with harness.start_kv("--connections-max", "8", "--key-count", "16", "--key-size-max", "16",
                          "--val-size-max", "100", "--list-length-max", "8",
                          "--hugepages", "off") as kv:
        client = kv.connect()
        checks.equal(client.call("SET", "keep", "me"), b"+OK\r\n", "SET before the limits")
        reply = client.call("SET", "k", "v" * 101)
        checks.true(reply.startswith(b"-ERR argument is too long"), f"long argument: {reply!r}")
        reply = client.call("SET", "k", "v" * 100)
        checks.equal(reply, b"+OK\r\n", "a value of exactly val_size_max bytes")
        reply = client.call("SET", "x" * 17, "v")
        checks.true(reply.startswith(b"-ERR key is too long"), f"long key: {reply!r}")
        # An argument far larger than the receive buffer is skipped without being kept.
        huge = harness.encode("SET", "k", "z" * 3_000_000)
        client.send(huge[:len(huge) // 2])
        client.send(huge[len(huge) // 2:])
        reply = client.reply()
        checks.true(reply.startswith(b"-ERR argument is too long"), f"3 MB argument: {reply!r}")
        # More arguments than fit the receive buffer, each one legal.
        many = harness.encode("DEL", *[b"k%d" % i for i in range(70000)])
        client.send(many)
        reply = client.reply()
        checks.true(reply.startswith(b"-ERR command is too large"), f"huge DEL: {reply!r}")
        checks.equal(client.call("PING"), b"+PONG\r\n", "connection still answers")
        checks.equal(client.call("GET", "keep"), b"$2\r\nme\r\n", "data survive")
        client.close()


if __name__ == "__main__":
    main()
