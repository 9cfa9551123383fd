"""Blocking pops on kv behave as on a real redis-server, scenario by scenario.

Each scenario runs against kv and against redis-server with the same clients and the same
steps; what every client receives must be the same on both, and equal the value written here:
a push wakes a blocked BLPOP/BRPOP/BLMOVE/BRPOPLPUSH/BZPOPMIN/BZPOPMAX; the longest-waiting
client is served first; a BLMOVE that pushes wakes the next blocked client in the same turn;
a timeout answers a null array; a client that disconnects while blocked consumes nothing;
commands pipelined behind a blocked one wait for it; a key that becomes another type keeps
its client blocked; inside MULTI nothing blocks. INFO blocked_clients and CLIENT LIST's flag
follow, on kv.
"""
import time

import kvtest

QUIET = 0.5


def got(client, seconds=QUIET):
    """What the client has received within `seconds` (b"" if nothing)."""
    client.sock.settimeout(seconds)
    data = b""
    try:
        while True:
            chunk = client.sock.recv(65536)
            if not chunk:
                return data + b"<closed>"
            data += chunk
            client.sock.settimeout(0.1)
    except OSError:
        return data


def send(client, *commands):
    client.send(b"".join(kvtest.encode(*command) for command in commands))


def wake_and_fifo(server):
    out = []
    with server.connect() as a, server.connect() as c, server.connect() as b:
        send(a, ("BLPOP", "l1", "l2", "0"))
        time.sleep(0.1)
        send(b, ("RPUSH", "l2", "x"))
        out += [got(b), got(a)]
        send(a, ("BLPOP", "q", "0"))
        time.sleep(0.1)
        send(c, ("BRPOP", "q", "0"))
        time.sleep(0.1)
        send(b, ("RPUSH", "q", "first"))
        out += [got(b), got(a), got(c)]
        send(b, ("RPUSH", "q", "second"))
        out += [got(b), got(c)]
    return out


def moves(server):
    out = []
    with server.connect() as a, server.connect() as c, server.connect() as b:
        send(a, ("BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"))
        time.sleep(0.1)
        send(c, ("BLPOP", "dst", "0"))
        time.sleep(0.1)
        send(b, ("LPUSH", "src", "v"))
        out += [got(b), got(a), got(c)]
        send(a, ("BRPOPLPUSH", "src2", "dst2", "0"))
        time.sleep(0.1)
        send(b, ("RPUSH", "src2", "w"), ("LRANGE", "dst2", "0", "-1"))
        out += [got(a), got(b)]
        send(a, ("BZPOPMIN", "z", "z2", "0"))
        time.sleep(0.1)
        send(b, ("ZADD", "z2", "3", "m", "1", "n"))
        out += [got(b), got(a)]
        send(b, ("ZADD", "z3", "1.5", "p"), ("BZPOPMAX", "z3", "0"))
        out += [got(b)]
    return out


def timeouts_and_leaving(server):
    out = []
    with server.connect() as a, server.connect() as b:
        started = time.monotonic()
        send(a, ("BLPOP", "t", "0.2"))
        reply = got(a, 2.0)
        elapsed = time.monotonic() - started
        out += [reply, 0.15 <= elapsed < 1.5]
        send(a, ("BZPOPMIN", "tz", "0.1"), ("PING",))
        out += [got(a, 2.0)]
        send(a, ("BLPOP", "e", "0"), ("PING",))
        time.sleep(0.1)
        send(b, ("RPUSH", "e", "y"))
        out += [got(b), got(a)]
        with server.connect() as leaving:
            send(leaving, ("BLPOP", "d", "0"))
            time.sleep(0.1)
        time.sleep(0.1)
        send(b, ("RPUSH", "d", "kept"), ("LLEN", "d"))
        out += [got(b)]
    return out


def wrong_types(server):
    out = []
    with server.connect() as a, server.connect() as b:
        send(a, ("BLPOP", "w", "0"))
        time.sleep(0.1)
        send(b, ("SET", "w", "str"), ("RPUSH", "other", "x"))
        out += [got(b), got(a)]
        send(b, ("DEL", "w"), ("RPUSH", "w", "y"))
        out += [got(b), got(a)]
        send(a, ("SET", "s", "v"), ("BLPOP", "s", "0"), ("BLMOVE", "s", "x", "LEFT", "LEFT", "0"),
             ("BLPOP", "x", "-1"), ("BLPOP", "x", "abc"), ("BLMOVE", "a", "b", "UP", "LEFT", "0"))
        out += [got(a)]
        send(a, ("MULTI",), ("BLPOP", "none", "0"), ("BLMOVE", "none", "n2", "LEFT", "LEFT", "0"),
             ("BZPOPMAX", "none", "0"), ("EXEC",))
        out += [got(a)]
    return out


def main():
    check = kvtest.Checker("test_blocking")
    options = ["--connections-max", "16", "--key-count", "64", "--val-size-max", "64",
               "--list-length-max", "16", "--hugepages", "off"]
    scenarios = [wake_and_fifo, moves, timeouts_and_leaving, wrong_types]
    with kvtest.start_kv(*options) as kv, kvtest.start_redis() as redis:
        for scenario in scenarios:
            want = scenario(redis)
            have = scenario(kv)
            check.equal(f"{scenario.__name__}: kv answers as redis-server", want, have)
        check.equal("the longest-waiting client got the first push",
                    b"*2\r\n$1\r\nq\r\n$5\r\nfirst\r\n", wake_and_fifo(kv)[3])
        with kv.connect() as a, kv.connect() as b:
            send(a, ("BLPOP", "info", "0"))
            time.sleep(0.1)
            check.equal("INFO blocked_clients", "1", kvtest.info(b, "clients").get("blocked_clients"))
            listing = kvtest.decode(b.call("CLIENT", "LIST")).decode()
            check.true("CLIENT LIST flags=b for the blocked client", "flags=b" in listing)
            b.call("RPUSH", "info", "go")
            check.equal("served", b"*2\r\n$4\r\ninfo\r\n$2\r\ngo\r\n", got(a))
            check.equal("then no client is blocked", "0",
                        kvtest.info(b, "clients").get("blocked_clients"))
    check.finish()


if __name__ == "__main__":
    main()
