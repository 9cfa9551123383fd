"""CLIENT UNBLOCK id [TIMEOUT|ERROR] answers, and unblocks, exactly as Redis 7.0.

On kv and on a real redis-server alike, over RESP2 and then RESP3 connections: the errors
(arity, a bad id, a bad reason, checked before the id, too many arguments), 0 for a client
that is not blocked, unknown or not positive; then a client blocked in BLPOP, BZPOPMIN,
XREAD BLOCK and BLMOVE is unblocked by a pipeline of CLIENT UNBLOCK (1), a second CLIENT
UNBLOCK of it (0) and an LPUSH that must not serve it any more: it gets its timeout's null
(TIMEOUT, or no reason) or -UNBLOCKED (ERROR). A command queued in MULTI is not blocked (0).
Every reply is compared byte for byte.
"""
import time

import kvtest
import test_diff_resp3

KV_OPTIONS = ["--connections-max", "16", "--hugepages", "off", "--maxmemory", "32mb"]
BLOCKED_SECONDS = 0.15  # for the blocked client's command to be read and block


def connect(server, protocol):
    client = test_diff_resp3.Client(server.port)
    if protocol == b"3":
        client.send(kvtest.encode(b"HELLO", b"3"))
        client.reply()
    return client


def scenario(server, protocol):
    out = []
    a, b = connect(server, protocol), connect(server, protocol)
    a.send(kvtest.encode(b"CLIENT", b"ID"))
    a_id = b"%d" % int(a.reply()[1:-2])
    for command in ([b"CLIENT", b"UNBLOCK"], [b"CLIENT", b"UNBLOCK", b"x"],
                    [b"CLIENT", b"UNBLOCK", b"1", b"bad"], [b"CLIENT", b"UNBLOCK", b"x", b"bad"],
                    [b"CLIENT", b"UNBLOCK", b"1", b"timeout", b"x"],
                    [b"CLIENT", b"UNBLOCK", a_id], [b"CLIENT", b"UNBLOCK", b"-5"],
                    [b"CLIENT", b"UNBLOCK", b"0"], [b"CLIENT", b"UNBLOCK", b"99999", b"ERROR"]):
        b.send(kvtest.encode(*command))
        out.append(b.reply())
    for blocking, reason in (([b"BLPOP", b"l", b"0"], []),
                             ([b"BLPOP", b"l", b"0"], [b"ERROR"]),
                             ([b"BZPOPMIN", b"z", b"0"], [b"timeout"]),
                             ([b"XREAD", b"BLOCK", b"0", b"STREAMS", b"s", b"$"], [b"error"]),
                             ([b"BLMOVE", b"l", b"m", b"LEFT", b"RIGHT", b"0"], [b"TIMEOUT"])):
        a.send(kvtest.encode(*blocking))
        time.sleep(BLOCKED_SECONDS)
        b.send(kvtest.encode(b"CLIENT", b"UNBLOCK", a_id, *reason) +
               kvtest.encode(b"CLIENT", b"UNBLOCK", a_id) + kvtest.encode(b"LPUSH", b"l", b"v"))
        out.append([b.reply() for _ in range(3)])
        out.append(a.reply())
        b.send(kvtest.encode(b"LLEN", b"l") + kvtest.encode(b"DEL", b"l"))
        out.append([b.reply() for _ in range(2)])
    a.send(kvtest.encode(b"MULTI") + kvtest.encode(b"BLPOP", b"l", b"0"))
    out.append([a.reply() for _ in range(2)])
    b.send(kvtest.encode(b"CLIENT", b"UNBLOCK", a_id))
    out.append(b.reply())
    a.close()
    b.close()
    return out


def main():
    check = kvtest.Checker("test_diff_client_unblock", verbose=False)
    with kvtest.start_kv(*KV_OPTIONS) as kv, kvtest.start_redis() as redis:
        for protocol in (b"2", b"3"):
            want, got = scenario(redis, protocol), scenario(kv, protocol)
            check.equal(f"HELLO {protocol.decode()}: step count", len(want), len(got))
            for index, (expected, actual) in enumerate(zip(want, got)):
                check.equal(f"HELLO {protocol.decode()}: step {index}", expected, actual)
            check.true(f"HELLO {protocol.decode()}: some client was unblocked",
                       any(isinstance(r, list) and r[:2] == [b":1\r\n", b":0\r\n"]
                           for r in got), repr(got))
    check.finish()


if __name__ == "__main__":
    main()
