"""Malformed, split, pipelined and oversized input: kv answers with Redis's bytes, or its own
limit errors while keeping the connection and the data.

1. Malformed and odd requests: each goes on a fresh connection to kv and to a real
   redis-server; the bytes received until the server closes (or is quiet for half a second)
   and whether it closed must be the same. The most important cases also have their exact
   expected bytes written out here, checked against both servers.
2. One command sent one byte per write (TCP_NODELAY): no reply before the last byte, then the
   right reply.
3. 10,000 pipelined PING/SET/GET commands in one write: every reply, in order, equals the one
   computed here and the one redis-server gives.
4. A 240 KB RPUSH sent in 1,000-byte writes is stored and read back whole.
5. Seeded mutations (the seed is printed; KV_SEED replays): valid multibulk and inline
   commands with bytes inserted, deleted, replaced by protocol characters or cut off, 480 of
   them, each on its own connection (40 at a time, each case with its own random keys), must
   get the same bytes and the same close from kv and redis-server.
6. 70,000 arguments (more than kv's parse scratch holds: they borrow from the heap): DEL and
   EXISTS of 70,000 keys, two of them set, answer as redis-server does.
7. kv's own limits (argument too long, key too long, a 3 MB argument, a command of 1.3 MB past
   a client-query-buffer-limit of 1mb): kv's error, the connection stays open, PING answers,
   data survive.
"""
import os
import random
import socket

import kvtest

PROTOCOL_ERROR = b"-ERR Protocol error: "

# Redis 7.0's exact answers (bytes until close or quiet, closed?), which kv must give too.
EXPECTED = {
    b"*abc\r\n": (PROTOCOL_ERROR + b"invalid multibulk length\r\n", True),
    b"*3000000000\r\n": (PROTOCOL_ERROR + b"invalid multibulk length\r\n", True),
    b"*1\r\n$abc\r\n": (PROTOCOL_ERROR + b"invalid bulk length\r\n", True),
    b"*1\r\n$-3\r\n": (PROTOCOL_ERROR + b"invalid bulk length\r\n", True),
    b"*1\r\n$600000000\r\n": (PROTOCOL_ERROR + b"invalid bulk length\r\n", True),
    b"*1\r\n+PING\r\n": (PROTOCOL_ERROR + b"expected '$', got '+'\r\n", True),
    b"SET \"a b\r\n": (PROTOCOL_ERROR + b"unbalanced quotes in request\r\n", True),
    b"A" * 70000: (PROTOCOL_ERROR + b"too big inline request\r\n", True),
    # Redis reads at most 16 KiB at a time and refuses a line once 64 KiB have arrived without
    # its end, so a line ending past 64 + 16 KiB is always refused, however it is sent.
    b"ECHO" + b" " * 99993 + b"x\r\n": (PROTOCOL_ERROR + b"too big inline request\r\n", True),
    b"*" + b"0" * 99990 + b"1\r\n$4\r\nPING\r\n":
        (PROTOCOL_ERROR + b"too big mbulk count string\r\n", True),
    b"*1\r\n$" + b"0" * 99990 + b"4\r\nPING\r\n":
        (PROTOCOL_ERROR + b"invalid bulk length\r\n", True),
    b"*-5\r\nPING\r\n": (b"+PONG\r\n", False),
    b"*0\r\nPING\r\n": (b"+PONG\r\n", False),
    b"\r\n\r\nPING\r\n": (b"+PONG\r\n", False),
    b"*1\r\n$4\r\nPINGXX\r\n": (b"+PONG\r\n", False),   # Redis skips 2 bytes after a bulk
    b"PING\n": (b"+PONG\r\n", False),
    b"*1\r\n$4\r\nPING": (b"", False),                  # incomplete: wait for more
    b"*1\r\n$4\r\nPING\r\n*1\r\n$abc\r\n":
        (b"+PONG\r\n" + PROTOCOL_ERROR + b"invalid bulk length\r\n", True),
    b"PING\r\nSET \"x\r\n": (b"+PONG\r\n" + PROTOCOL_ERROR + b"unbalanced quotes in request\r\n",
                            True),
    b"*1\r\n$4\r\nquit\r\nPING\r\n": (b"+OK\r\n", True),
    b"ECHO \"a\\tb\\x41\\\"\" 'c\\'d'\r\n":
        (b"-ERR wrong number of arguments for 'echo' command\r\n", False),
    b"ECHO \"a\\tb\\x41\\\"\"\r\n": (b"$5\r\na\tbA\"\r\n", False),
    b"ECHO 'c\\'d'\r\n": (b"$3\r\nc'd\r\n", False),
}

# Compared with redis-server only (the answer is whatever Redis 7.0 does).
MALFORMED = [
    b"*01\r\n$4\r\nPING\r\n", b"*+1\r\n$4\r\nPING\r\n", b"*1 \r\n", b"* 1\r\n$4\r\nPING\r\n",
    b"*1\n$4\nPING\n", b"*1\rX$4\r\nPING\r\n", b"*1\r\n$4\rXPING\r\n", b"*1\r\n$4\r\nPING\rX",
    b"*1\r\n$4\r\nPING\n\nPING\r\n", b"*1\r\n$0\r\n\r\n", b"*1\r\n$4\r\nPIN", b"*1\r\n$-1\r\n",
    b"*1\r\n$+4\r\nPING\r\n", b"*1\r\n$04\r\nPING\r\n", b"*1\r\n$4 \r\nPING\r\n",
    b"*1\r\n$\r\nPING\r\n", b"*\r\n", b"*-1\r\nPING\r\n", b"*-0\r\nPING\r\n",
    b"*2\r\n$4\r\nECHO\r\n$3\r\nabcde\r\n", b"*2\r\n$4\r\nECHO\r\n$3\r\nabc", b"*1\r\n-\r\n",
    b"*1\r\n:1\r\n", b"*1\r\n*1\r\n", b"*1\r\n\x00\r\n", b"*1\r\n\r", b"\x00\r\n", b"\xff\xfe\r\n",
    b"*" + b"1" * 70000, b"*1\r\n$" + b"1" * 70000, b"*1\r\n$4\r\nPING\r\n" + b"A" * 70000,
    b"  \t \r\n", b"ECHO\tx\r\n", b"ECHO\x0bx\r\n", b"\x0bECHO x\r\n", b"ECHO ''\r\n",
    b"ECHO \"\"\r\n", b"ECHO a\"\"\r\n", b"ECHO \"a\"b\r\n", b"ECHO 'a'b\r\n",
    b"ECHO \"unterminated\r\n", b"ECHO 'unterminated\r\n", b"ECHO \"\\x4g\"\r\n",
    b"ECHO \"\\x41\\q\\\\\\n\\r\\b\\a\"\r\n", b"ECHO \"\\xff\\x00\"\r\n",
    b"ECHO a\x00b\r\nPING\r\n",
    b"foo a b\r\n", b"GET a b\r\n", b"lpop\r\n", b"ping\r\nping\r\necho hi\r\n",
    b"unknown " + b"x" * 300 + b" " + b"y" * 300 + b"\r\n", b"QUIT\r\nPING\r\n",
    b"*2\r\n$3\r\nGET\r\n$3\r\na\r\n\r\n", b"*2\r\n$4\r\nPING\r\n$2\r\nhi\r\n*1\r\n$4\r\nquit\r\n",
    b"*1\r\n$4\r\nPING\r\n*abc\r\n", b"*1\r\n$4\r\nPING\r\n*1\r\n+PING\r\n",
    b"SET k v\r\nGET k\r\n*1\r\n$x\r\n",
]


def describe(data):
    """A readable label for an input: short ones whole, long ones by their ends and length."""
    if len(data) <= 60:
        return repr(data)
    return f"{data[:24]!r}...{data[-16:]!r} ({len(data)} bytes)"


def exchange_batched(server, payloads):
    """(bytes until close or quiet, closed?) for every payload, each sent on its own fresh
    connection, MUTATION_CASES at once (within kvtest.SMALL's connections): one wait for
    quiet per batch instead of one per input.
    1 s of quiet ends a batch (a loaded CI machine once kept redis-server silent 0.5 s)."""
    results = []
    for start in range(0, len(payloads), MUTATION_CASES):   # bounded by the payloads
        results += kvtest.exchange_all(server.port, payloads[start:start + MUTATION_CASES],
                                       quiet_seconds=1.0)
    return results


def malformed(kv, redis, check):
    inputs = list(EXPECTED)
    for data, from_redis, from_kv in zip(inputs, exchange_batched(redis, inputs),
                                         exchange_batched(kv, inputs)):
        what = describe(data)
        check.equal(f"redis-server answers {what} as expected (harness sanity)",
                    EXPECTED[data], from_redis)
        check.equal(f"kv answers {what}", EXPECTED[data], from_kv)
    for data, from_redis, from_kv in zip(MALFORMED, exchange_batched(redis, MALFORMED),
                                         exchange_batched(kv, MALFORMED)):
        check.equal(f"kv answers {describe(data)} as redis-server does", from_redis, from_kv)


MUTATION_BATCHES = 12
MUTATION_CASES = 40              # connections at once: within kvtest.SMALL's 64
# No letters: a mutation that made "xx" could turn SET k v into SET k v XX, an option kv
# does not take (it serves the plain form only).
MUTATION_BYTES = b"\r\n*$-+:0123456789 \"'\\\t\x00"
KEY_LETTERS = b"abcdefghijklmnopqrstuvwxyz"


def mutation_case(rnd):
    """(input, keys): a few valid commands on two random keys of this case, then 1 to 3
    random mutations. Mutations only write protocol bytes and digits, so they cannot turn one
    case's random letter keys into another's, and cases run in parallel safely."""
    key, items = (b"k" + bytes(rnd.choice(KEY_LETTERS) for _ in range(8)) for _ in range(2))
    commands = [[b"PING"], [b"ECHO", b"hi there"], [b"SET", key, b"v\r\nv"], [b"GET", key],
                [b"RPUSH", items, b"a", b"b"], [b"LRANGE", items, b"0", b"-1"],
                [b"ECHO", b'a "b" \\x41'], [b"LPOP", items, b"1"], [b"DEL", items, key]]
    parts = []
    for _ in range(rnd.randint(1, 4)):
        command = rnd.choice(commands)
        if rnd.random() < 0.3:
            parts.append(b" ".join(command) + rnd.choice([b"\r\n", b"\n"]))
        else:
            parts.append(kvtest.encode(*command))
    data = bytearray(b"".join(parts))
    for _ in range(rnd.randint(1, 3)):
        roll, position = rnd.random(), rnd.randint(0, len(data))
        if roll < 0.3:
            del data[position:position + rnd.randint(1, 3)]
        elif roll < 0.6:
            data[position:position] = bytes([rnd.choice(MUTATION_BYTES)])
        elif roll < 0.9 and position < len(data):
            data[position] = rnd.choice(MUTATION_BYTES)
        else:
            del data[position:]
    return bytes(data), [key, items]


def mutations(kv, redis, check, batches=MUTATION_BATCHES):
    seed = int(os.environ.get("KV_SEED") or random.randrange(1 << 32))
    print(f"mutation seed {seed} (KV_SEED={seed} replays it)")
    rnd = random.Random(seed)
    differing = []
    for _ in range(batches):
        cases, keys = zip(*(mutation_case(rnd) for _ in range(MUTATION_CASES)))
        want = kvtest.exchange_all(redis.port, cases)
        got = kvtest.exchange_all(kv.port, cases)
        differing += [(case, w, g) for case, w, g in zip(cases, want, got) if w != g]
        for server in (kv, redis):   # keep the store from filling up over the batches
            with server.connect() as client:
                client.call("DEL", *[key for pair in keys for key in pair])
    for case, want, got in differing[:5]:
        check.equal(f"mutated input {kvtest.shorten(case, 200)}", want, got)
    check.equal(f"{batches * MUTATION_CASES} mutated inputs answered as redis-server "
                f"does (seed {seed})", 0, len(differing))


def one_byte_per_write(kv, check):
    with kv.connect() as client:
        wire = kvtest.encode("SET", "split", "value-in-pieces") + kvtest.encode("GET", "split")
        for index in range(len(wire) - 1):
            client.send(wire[index:index + 1])
        # Everything but GET's last byte is sent: the SET reply, and nothing for the GET yet.
        check.equal("SET sent one byte per write", b"+OK\r\n", client.reply())
        client.sock.settimeout(0.3)
        try:
            early = client.sock.recv(64)
        except socket.timeout:
            early = b""
        check.equal("no reply before a command's last byte", b"", early)
        client.send(wire[-1:])
        check.equal("GET sent one byte per write", b"$15\r\nvalue-in-pieces\r\n", client.reply())


def pipelined(kv, redis, check):
    commands, want = [], []
    for index in range(10000):
        step, key, value = index % 3, b"p%d" % (index // 3 % 500), b"v%d" % (index // 3)
        if step == 0:
            commands.append(kvtest.encode("SET", key, value))
            want.append(b"+OK\r\n")
        elif step == 1:
            commands.append(kvtest.encode("GET", key))
            want.append(b"$%d\r\n%s\r\n" % (len(value), value))
        else:
            commands.append(kvtest.encode("PING"))
            want.append(b"+PONG\r\n")
    wire = b"".join(commands)
    for server in (kv, redis):
        with server.connect(timeout=30) as client:
            client.send(wire)
            got = client.replies(len(want))
            wrong = [i for i in range(len(want)) if got[i] != want[i]]
            check.equal(f"{server.name}: 10,000 pipelined PING/SET/GET in one write of "
                        f"{len(wire)} bytes, replies in order", [], wrong[:10])
            check.equal(f"{server.name}: PING after the pipeline", b"+PONG\r\n",
                        client.call("PING"))


def large_command_many_writes(kv, redis, check):
    values = [bytes([65 + i % 26]) * 4000 for i in range(60)]
    wire = kvtest.encode("RPUSH", "big", *values)
    want = b"*60\r\n" + b"".join(b"$4000\r\n" + v + b"\r\n" for v in values)
    for server in (kv, redis):
        with server.connect() as client:
            for start in range(0, len(wire), 1000):
                client.send(wire[start:start + 1000])
            check.equal(f"{server.name}: RPUSH of {len(wire)} bytes in 1,000-byte writes",
                        b":60\r\n", client.reply())
            check.equal(f"{server.name}: LRANGE reads the large list back", want,
                        client.call("LRANGE", "big", 0, -1))


def many_arguments(kv, redis, check):
    """70,000 arguments: more than kv's parse scratch holds (kv --plan's args_max), so kv
    borrows their array from the heap; the replies are Redis's."""
    keys = [b"k%d" % i for i in range(70000)]
    for server in (kv, redis):
        with server.connect() as client:
            client.call("SET", keys[5], "v")
            client.call("SET", keys[-1], "v")
            check.equal(f"{server.name}: EXISTS of 70,000 keys, two of them set", b":2\r\n",
                        client.call("EXISTS", *keys))
            check.equal(f"{server.name}: DEL of 70,000 keys, two of them set", b":2\r\n",
                        client.call("DEL", *keys))
            check.equal(f"{server.name}: then EXISTS of them all", b":0\r\n",
                        client.call("EXISTS", *keys))
            check.equal(f"{server.name}: the connection serves on", b"+PONG\r\n",
                        client.call("PING"))


def still_serving(client, check, after):
    check.equal(f"after {after}: PING answers", b"+PONG\r\n", client.call("PING"))
    check.equal(f"after {after}: stored data survive", b"$2\r\nme\r\n", client.call("GET", "keep"))


def kv_limits(check):
    """kv's own limit errors: the connection stays open and the data stay."""
    with kvtest.start_kv("--connections-max", "8", "--key-count", "16", "--key-size-max", "16",
                         "--val-size-max", "100", "--list-length-max", "8",
                         "--client-query-buffer-limit", "1mb",
                         "--hugepages", "off") as kv, kv.connect() as client:
        check.equal("SET before the limits", b"+OK\r\n", client.call("SET", "keep", "me"))
        check.starts("an argument of 101 bytes (> max(key 16, value 100))",
                     b"-ERR argument is too long", client.call("SET", "k", "v" * 101))
        still_serving(client, check, "argument too long")
        check.equal("a value of exactly val_size_max bytes", b"+OK\r\n",
                    client.call("SET", "k", "v" * 100))
        check.starts("a key of 17 bytes", b"-ERR key is too long",
                     client.call("SET", "x" * 17, "v"))
        check.equal("the refused key was not stored", b":0\r\n", client.call("EXISTS", "x" * 17))
        still_serving(client, check, "key too long")
        check.equal("a key of exactly key_size_max bytes", b"+OK\r\n",
                    client.call("SET", "x" * 16, "v"))
        huge = kvtest.encode("SET", "k", "z" * 3_000_000)
        for start in range(0, len(huge), 65536):
            client.send(huge[start:start + 65536])
        check.starts("a 3 MB argument, skipped without being buffered",
                     b"-ERR argument is too long", client.reply())
        still_serving(client, check, "a 3 MB argument")
        check.equal("the value of k is the one stored before", b"$100\r\n" + b"v" * 100 + b"\r\n",
                    client.call("GET", "k"))
        many = kvtest.encode("DEL", *[b"k%06d" % i for i in range(100000)])
        client.send(many)
        check.equal(f"a command of {len(many)} bytes, past client-query-buffer-limit",
                    b"-ERR command is too large (client-query-buffer-limit is 1048576 bytes)\r\n",
                    client.reply())
        still_serving(client, check, "a command too large")
        wire = kvtest.encode("SET", "k", "v" * 101) + kvtest.encode("GET", "keep")
        client.send(wire)
        check.starts("pipelined: too long an argument first", b"-ERR argument is too long",
                     client.reply())
        check.equal("pipelined: the next command still runs", b"$2\r\nme\r\n", client.reply())


def main():
    check = kvtest.Checker("test_protocol")
    with kvtest.start_kv(*kvtest.SMALL) as kv, kvtest.start_redis() as redis:
        malformed(kv, redis, check)
        mutations(kv, redis, check)
        one_byte_per_write(kv, check)
        pipelined(kv, redis, check)
        large_command_many_writes(kv, redis, check)
        many_arguments(kv, redis, check)
    if not kvtest.KV_IS_REDIS:
        kv_limits(check)
    check.finish()


if __name__ == "__main__":
    main()
