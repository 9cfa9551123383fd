"""Big replies, a big transaction and a big value on kv's default budget (maxmemory 256mb),
against a real redis-server 7.0 (its defaults: no maxmemory), the same commands on both.

1. KEYS * over 1,000,000 keys (filled with pipelined MSETs, redis-cli --pipe style): the same
   count and the same keys; the order is each server's hash order, so they are compared as
   sets (Redis's also against the keys written), and the replies' lengths are equal.
2. LRANGE 0 -1 of a 1,000,000-element list: the same bytes (an order Redis defines).
3. HGETALL of a 1,000,000-field hash: the same pairs; the order is each server's hash order
   (kv's differs from Redis's), so they are compared as sets of pairs, and HLEN.
4. EXEC of 10,000 queued commands (seeded mix of SET, INCR, GET and an INCR of a string, an
   error inside EXEC): every +QUEUED and EXEC's whole reply equal Redis's bytes.
5. A 100 MB value: SET, then GET (the same 100 MB back), GETRANGE of its last 1,000 bytes
   and STRLEN equal Redis's replies. At 256mb kv must either hold it or answer exactly
   Redis's OOM line and keep serving; the figures say which, and if it refused, the value
   is tested on a kv at 512mb.

A 120 MB value at 256mb: once accepted (+OK), GET returns it whole (kv once kept the SET's
128 MiB receive buffer, and the GET's reply found no room: the connection closed).

Replies are read with a resumable parser into one growing buffer (a 100 MB bulk arrives in
thousands of segments) and compared whole; lengths, SHA-256 and timings are printed.
KV_SEED=<n> replays the transaction and the value's bytes (the seed is printed). The big arrays
are found by a PING sent after them (see call_fenced) and checked element by element after.
"""
import gc
import hashlib
import os
import random
import socket
import sys
import time

import kvtest

KEY_COUNT = 1_000_000
LIST_LENGTH = 1_000_000
HASH_FIELDS = 1_000_000
PER_COMMAND = 1000            # elements or fields per RPUSH / HSET
SETS_PER_CHUNK = 10_000       # commands sent as one chunk (two chunks in flight at most)
QUEUED_COUNT = 10_000
VALUE_BYTES = 100 << 20
TAIL_BYTES = 1000
BIG_SECONDS = 120.0           # how long one big reply may take
OOM = b"-OOM command not allowed when used memory > 'maxmemory'.\r\n"


class BigClient:
    """A RESP connection that reads replies of any size: bytes accumulate in one bytearray and
    the parse of a reply resumes where it stopped when more bytes are needed, so a reply of
    N bytes and E elements costs O(N + E) however it is segmented."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=BIG_SECONDS)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = bytearray()
        self.position = 0   # where the next reply starts in buffer

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _more(self, deadline):
        if time.monotonic() > deadline:
            raise kvtest.ReplyTimeout(f"no whole reply in {BIG_SECONDS} s")
        chunk = self.sock.recv(1 << 18)
        if not chunk:
            raise kvtest.ConnectionClosed(bytes(self.buffer[self.position:self.position + 80]))
        self.buffer += chunk

    def reply(self):
        """The exact bytes of the next whole reply."""
        if self.position > (1 << 22) or self.position == len(self.buffer):
            del self.buffer[:self.position]   # drop what earlier replies used, now and then
            self.position = 0
        deadline = time.monotonic() + BIG_SECONDS
        buffer = self.buffer
        start = position = self.position
        owed = 1
        while owed > 0:   # each pass consumes one element; bounded by the reply's size
            line_end = buffer.find(b"\r\n", position)
            while line_end < 0:
                self._more(deadline)
                line_end = buffer.find(b"\r\n", position)
            kind = buffer[position]
            owed -= 1
            if kind in b"+-:":
                position = line_end + 2
                continue
            length = int(buffer[position + 1:line_end])
            position = line_end + 2
            if kind == ord("*"):
                owed += max(length, 0)
            elif length >= 0:
                while len(buffer) < position + length + 2:
                    self._more(deadline)
                position += length + 2
        self.position = position
        return bytes(buffer[start:position])

    def call(self, *args):
        self.send(kvtest.encode(*args))
        return self.reply()

    def call_fenced(self, *args):
        """The reply to one command whose reply is a big array, found without parsing it
        element by element: a PING follows the command, and the reply is what arrives before
        the +PONG that ends the stream. None of the data here holds "+PONG", and bulk_items()
        checks every element's length line afterwards, so a misframed reply cannot pass."""
        self.send(kvtest.encode(*args) + kvtest.encode("PING"))
        if self.position:
            del self.buffer[:self.position]
            self.position = 0
        deadline = time.monotonic() + BIG_SECONDS
        while not self.buffer.endswith(b"+PONG\r\n"):   # bounded by the deadline
            self._more(deadline)
        whole = bytes(self.buffer[:-len(b"+PONG\r\n")])
        self.buffer = bytearray()
        return whole

    def _expected_run(self, expect, count):
        """True, and the replies consumed, when the next count replies are each `expect`
        (read as one block of bytes: a million +OK lines need no parse one by one); False,
        and nothing consumed, otherwise."""
        need = len(expect) * count
        deadline = time.monotonic() + BIG_SECONDS
        while len(self.buffer) - self.position < need:   # bounded by the deadline
            if self.buffer.find(b"-", self.position) >= 0:
                return False   # an error among them: parsed one by one
            self._more(deadline)
        if self.buffer[self.position:self.position + need] != expect * count:
            return False
        self.position += need
        return True

    def pipe(self, wires, expect=None):
        """Sends the encoded commands in chunks; returns their replies (or, with expect, the
        replies that differ from it, at most 3)."""
        replies = []
        chunks = [wires[start:start + SETS_PER_CHUNK]
                  for start in range(0, len(wires), SETS_PER_CHUNK)]
        # One chunk stays in flight while the replies to the one before are read, so the
        # server is never idle waiting for this process; at most two chunks' replies (100 KB)
        # wait in the socket buffers, so neither side blocks the other.
        if chunks:
            self.send(b"".join(chunks[0]))
        for index, part in enumerate(chunks):   # bounded by len(chunks)
            if index + 1 < len(chunks):
                self.send(b"".join(chunks[index + 1]))
            if expect is not None and self._expected_run(expect, len(part)):
                continue
            for _ in part:
                got = self.reply()
                if expect is None:
                    replies.append(got)
                elif got != expect and len(replies) < 3:
                    replies.append(got)
        return replies


def encode_bytes(args):
    """One command of bytes arguments as a RESP multibulk (kvtest.encode for a million
    arguments, without its per-argument type checks)."""
    return b"*%d\r\n" % len(args) + b"".join([b"$%d\r\n%b\r\n" % (len(arg), arg)
                                                for arg in args])


def bulk_items(reply):
    """The elements of a flat array of bulk strings none of which holds CRLF (true of every
    key, field and value here), as a list of bytes: split at CRLF, each length line is
    checked against its element."""
    parts = reply.split(b"\r\n")
    if not parts[0].startswith(b"*") or parts[-1] != b"":
        raise ValueError(f"not an array: {reply[:80]!r}")
    heads, items = parts[1:-1:2], parts[2:-1:2]
    if len(items) != int(parts[0][1:]) or len(heads) != len(items):
        raise ValueError(f"array of {parts[0]!r} has {len(items)} elements")
    bad = [index for index, (head, item) in enumerate(zip(heads, items))
           if head != b"$%d" % len(item)]
    if bad:
        raise ValueError(f"element {bad[0]}: {heads[bad[0]]!r} then {items[bad[0]][:40]!r}")
    return items


def digest(data):
    return hashlib.sha256(data).hexdigest()[:16]


def timed(action):
    started = time.monotonic()
    result = action()
    return result, time.monotonic() - started


def each(servers, action):
    """action(name, client) for kv then Redis; returns {name: (result, seconds)}."""
    results = {}
    for name, server in servers:
        with BigClient(server.port) as client:
            results[name] = timed(lambda: action(name, client))
    return results


def keys_everywhere(check, servers):
    names = [b"key:%07d" % i for i in range(KEY_COUNT)]
    flat = [None] * (2 * KEY_COUNT)
    flat[0::2], flat[1::2] = names, [b"%d" % i for i in range(KEY_COUNT)]
    # MSETs of PER_COMMAND keys, pipelined: a third of the time of a million SETs on a
    # Debug kv (test_budget.py pipelines single SETs).
    wires = [encode_bytes([b"MSET"] + flat[2 * start:2 * (start + PER_COMMAND)])
             for start in range(0, KEY_COUNT, PER_COMMAND)]
    written = set(names)

    def fill(name, client):
        client.call("FLUSHALL")
        errors = client.pipe(wires, b"+OK\r\n")
        check.equal(f"{name}: {len(wires)} MSETs answered +OK", [], errors)
        check.equal(f"{name}: DBSIZE", b":%d\r\n" % KEY_COUNT, client.call("DBSIZE"))
        return int(kvtest.info(client, "memory")["used_memory"])
    filled = each(servers, fill)

    def keys(name, client):
        return client.call_fenced("KEYS", "*")
    replies = each(servers, keys)
    sets = {}
    for name, (reply, seconds) in replies.items():
        items = bulk_items(reply)
        sets[name] = set(items)
        check.equal(f"{name}: KEYS * answers {KEY_COUNT} keys", KEY_COUNT, len(items))
        print(f"  {name:5} {KEY_COUNT} keys MSET in {filled[name][1]:.1f} s, used_memory "
              f"{filled[name][0]} ({filled[name][0] / KEY_COUNT:.1f} bytes/key); KEYS *: "
              f"{len(reply)} bytes in {seconds:.2f} s, sha256 {digest(reply)}")
    check.true("redis: KEYS * is the keys written", sets["redis"] == written)
    check.true("kv: KEYS * is the keys Redis answers (compared as sets: hash order)",
               sets["kv"] == sets["redis"],
               f"{len(sets['kv'] - sets['redis'])} only on kv, "
               f"{len(sets['redis'] - sets['kv'])} only on redis")
    kv_reply, redis_reply = replies["kv"][0], replies["redis"][0]
    print(f"  KEYS * bytes equal: {kv_reply == redis_reply} (lengths {len(kv_reply)} and "
          f"{len(redis_reply)}: the same keys, each server's own order)")
    check.equal("KEYS *: the same reply length", len(redis_reply), len(kv_reply))


def big_list(check, servers):
    elements = [b"item:%d" % i for i in range(LIST_LENGTH)]
    wires = [encode_bytes([b"RPUSH", b"biglist"] + elements[start:start + PER_COMMAND])
             for start in range(0, LIST_LENGTH, PER_COMMAND)]

    def run(name, client):
        client.call("FLUSHALL")
        replies = client.pipe(wires)
        check.equal(f"{name}: the last RPUSH answers the length", b":%d\r\n" % LIST_LENGTH,
                    replies[-1])
        reply, seconds = timed(lambda: client.call_fenced("LRANGE", "biglist", "0", "-1"))
        used = int(kvtest.info(client, "memory")["used_memory"])
        print(f"  {name:5} LRANGE 0 -1 of {LIST_LENGTH}: {len(reply)} bytes in {seconds:.2f} s, "
              f"sha256 {digest(reply)}; used_memory {used} ({used / LIST_LENGTH:.1f} "
              f"bytes/element)")
        return reply
    results = each(servers, run)
    kv_reply, redis_reply = results["kv"][0], results["redis"][0]
    check.true("LRANGE 0 -1 of a 1,000,000-element list: kv's bytes are Redis's",
               kv_reply == redis_reply,
               f"lengths {len(kv_reply)} and {len(redis_reply)}, first difference at "
               f"{first_difference(kv_reply, redis_reply)}")
    expected_head = b"*%d\r\n$6\r\nitem:0\r\n" % LIST_LENGTH
    check.true("which starts with the count and item:0", redis_reply.startswith(expected_head))


def first_difference(left, right):
    limit = min(len(left), len(right))
    for index in range(0, limit, 1 << 16):   # bounded by the shorter length
        if left[index:index + (1 << 16)] != right[index:index + (1 << 16)]:
            for offset in range(index, min(index + (1 << 16), limit)):
                if left[offset] != right[offset]:
                    return offset
    return limit


def big_hash(check, servers):
    fields = [b"field:%d" % i for i in range(HASH_FIELDS)]
    values = [b"value:%d" % (i * 7) for i in range(HASH_FIELDS)]
    flat = [None] * (2 * HASH_FIELDS)
    flat[0::2], flat[1::2] = fields, values
    wires = [encode_bytes([b"HSET", b"bighash"] + flat[2 * start:2 * (start + PER_COMMAND)])
             for start in range(0, HASH_FIELDS, PER_COMMAND)]
    written = dict(zip(fields, values))

    def run(name, client):
        client.call("FLUSHALL")
        added = sum(kvtest.decode(reply) for reply in client.pipe(wires))
        check.equal(f"{name}: HSET added every field", HASH_FIELDS, added)
        check.equal(f"{name}: HLEN", b":%d\r\n" % HASH_FIELDS, client.call("HLEN", "bighash"))
        reply, seconds = timed(lambda: client.call_fenced("HGETALL", "bighash"))
        used = int(kvtest.info(client, "memory")["used_memory"])
        print(f"  {name:5} HGETALL of {HASH_FIELDS} fields: {len(reply)} bytes in "
              f"{seconds:.2f} s, sha256 {digest(reply)}; used_memory {used} "
              f"({used / HASH_FIELDS:.1f} bytes/field)")
        return reply
    results = each(servers, run)
    pairs = {}
    for name, (reply, _) in results.items():
        items = bulk_items(reply)
        check.equal(f"{name}: HGETALL answers every field and value", 2 * HASH_FIELDS,
                    len(items))
        pairs[name] = dict(zip(items[0::2], items[1::2]))
        check.equal(f"{name}: HGETALL names each field once", HASH_FIELDS, len(pairs[name]))
    check.true("redis: HGETALL is the pairs written", pairs["redis"] == written)
    check.true("kv: HGETALL's pairs are Redis's (compared as sets: hash order)",
               pairs["kv"] == pairs["redis"],
               f"{len(pairs['kv'].keys() - pairs['redis'].keys())} fields only on kv")
    kv_reply, redis_reply = results["kv"][0], results["redis"][0]
    check.equal("HGETALL: the same reply length", len(redis_reply), len(kv_reply))
    print(f"  HGETALL bytes equal: {kv_reply == redis_reply} (hash order differs)")


def big_exec(check, servers, rnd):
    commands = []
    for _ in range(QUEUED_COUNT):
        roll = rnd.random()
        if roll < 0.35:
            commands.append(("SET", f"s{rnd.randrange(500)}", "v" * rnd.randrange(1, 64)))
        elif roll < 0.70:
            commands.append(("INCR", f"c{rnd.randrange(500)}"))
        elif roll < 0.99:
            commands.append(("GET", rnd.choice([f"s{rnd.randrange(500)}",
                                                f"c{rnd.randrange(500)}"])))
        else:
            commands.append(("INCR", f"s{rnd.randrange(500)}"))   # an error inside EXEC
    wires = [kvtest.encode(*command) for command in commands]

    def run(name, client):
        client.call("FLUSHALL")
        check.equal(f"{name}: MULTI", b"+OK\r\n", client.call("MULTI"))
        wrong = client.pipe(wires, b"+QUEUED\r\n")
        check.equal(f"{name}: {QUEUED_COUNT} commands queued", [], wrong)
        reply, seconds = timed(lambda: client.call("EXEC"))
        print(f"  {name:5} EXEC of {QUEUED_COUNT}: {len(reply)} bytes in {seconds:.3f} s, "
              f"sha256 {digest(reply)}")
        return reply, client.call("DBSIZE")
    results = each(servers, run)
    (kv_reply, kv_keys), (redis_reply, redis_keys) = results["kv"][0], results["redis"][0]
    check.true(f"EXEC of {QUEUED_COUNT} queued commands: kv's bytes are Redis's",
               kv_reply == redis_reply,
               f"lengths {len(kv_reply)} and {len(redis_reply)}, first difference at "
               f"{first_difference(kv_reply, redis_reply)}")
    check.true("EXEC answered an array of every command's reply",
               redis_reply.startswith(b"*%d\r\n" % QUEUED_COUNT))
    check.equal("DBSIZE after EXEC", redis_keys, kv_keys)


def big_value(check, name, server, value, expected=None):
    """SET, GET, GETRANGE of the tail and STRLEN of value; returns the replies (the GET's as
    its digest) and whether the SET was stored."""
    with BigClient(server.port) as client:
        client.call("FLUSHALL")
        wire = kvtest.encode("SET", "big", value)
        stored_reply, set_seconds = timed(lambda: (client.send(wire), client.reply())[1])
        got, get_seconds = timed(lambda: client.call("GET", "big"))
        tail = client.call("GETRANGE", "big", str(-TAIL_BYTES), "-1")
        length = client.call("STRLEN", "big")
        ping = client.call("PING")
        fields = kvtest.info(client, "memory")
        print(f"  {name:12} SET of {len(value)} bytes: {stored_reply[:60]!r} in {set_seconds:.2f} s"
              f"; GET {len(got)} bytes in {get_seconds:.2f} s; used_memory {fields['used_memory']}"
              f", peak {fields['used_memory_peak']}")
        client.call("DEL", "big")
        got_matches = got == b"$%d\r\n" % len(value) + value + b"\r\n"
        return {"set": stored_reply, "get": (len(got), digest(got)), "get_matches": got_matches,
                "get_head": got[:64], "tail": tail, "strlen": length, "ping": ping}


def compare_value(check, label, kv_result, redis_result, value):
    check.equal(f"{label}: SET answers +OK", b"+OK\r\n", kv_result["set"])
    check.true(f"{label}: GET answers the {len(value)} bytes written", kv_result["get_matches"])
    check.equal(f"{label}: GET equals Redis's", redis_result["get"], kv_result["get"])
    check.equal(f"{label}: GETRANGE of the last {TAIL_BYTES} bytes equals Redis's",
                redis_result["tail"], kv_result["tail"])
    check.equal(f"{label}: STRLEN equals Redis's", redis_result["strlen"], kv_result["strlen"])


def accepted_unreadable(check):
    """A value kv stores must come back from GET, even one near half the budget."""
    value = b"x" * (120 << 20)
    with kvtest.start_kv("--hugepages", "off") as kv:
        with BigClient(kv.port) as client:
            stored = client.call("SET", "big", value)
            print(f"  kv at 256mb: SET of {len(value)} bytes answers {stored!r}")
            if stored == b"+OK\r\n":
                try:
                    got = client.call("GET", "big")
                except kvtest.ConnectionClosed:
                    got = b"(connection closed)"
                check.true("kv at 256mb: a 120 MB value it accepted comes back from GET",
                           got == b"$%d\r\n" % len(value) + value + b"\r\n", got[:40])
            else:
                check.equal("kv at 256mb: or the SET is refused with Redis's OOM line", OOM,
                            stored)


def main():
    seed = int(os.environ.get("KV_SEED") or random.randrange(1 << 32))
    print(f"seed {seed} (KV_SEED={seed} replays this run)")
    rnd = random.Random(seed)
    kvtest.need_kv_binary()   # kv's own INFO fields and limits are checked
    check = kvtest.Checker("test_budget_big", verbose=False)
    # Millions of small objects and no cycles: the cyclic collector would only walk them
    # again and again (seconds of this test's minute).
    gc.disable()
    started = time.monotonic()
    # 1 MiB of seeded random bytes, each copy stamped with its index: a byte lost, added or
    # moved anywhere, even by a whole MiB, changes what comes back.
    block = random.Random(seed).randbytes(1 << 20)
    value = b"".join(b"%08d" % index + block[8:] for index in range(VALUE_BYTES >> 20))
    budget_needed = None
    with kvtest.start_kv("--hugepages", "off") as kv, kvtest.start_redis() as redis:
        servers = (("kv", kv), ("redis", redis))
        with kv.connect() as client:
            check.equal("kv: maxmemory is 256mb by default", [b"maxmemory", b"268435456"],
                        kvtest.decode(client.call("CONFIG", "GET", "maxmemory")))
            # A fresh kv's used_memory: this client's receive buffer and the store's own
            # state (the hash type's shape registry).
            used_fresh = kvtest.info(client, "memory")["used_memory"]
        sections = ((f"KEYS * over {KEY_COUNT} keys", lambda: keys_everywhere(check, servers)),
                    (f"LRANGE of a {LIST_LENGTH}-element list", lambda: big_list(check, servers)),
                    (f"HGETALL of a {HASH_FIELDS}-field hash", lambda: big_hash(check, servers)),
                    (f"EXEC of {QUEUED_COUNT} queued commands",
                     lambda: big_exec(check, servers, rnd)))
        for title, section in sections:
            print(title)
            _, seconds = timed(section)
            print(f"  ({seconds:.1f} s for both servers, the test's own work included)")
        print(f"a {VALUE_BYTES >> 20} MB value (sha256 {digest(value)})")
        redis_result = big_value(check, "redis", redis, value)
        kv_result = big_value(check, "kv at 256mb", kv, value)
        if kv_result["set"] == b"+OK\r\n":
            budget_needed = "256mb"
            compare_value(check, "kv at 256mb", kv_result, redis_result, value)
        else:
            check.equal("kv at 256mb: a SET it cannot hold answers Redis's OOM line", OOM,
                        kv_result["set"])
            check.equal("kv at 256mb: and GET finds no value", b"$-1\r\n",
                        kv_result["get_head"])
        check.equal("kv at 256mb: kv keeps serving", b"+PONG\r\n", kv_result["ping"])
        with kv.connect() as client:
            check.equal("kv at 256mb: the DEL gave the heap back", used_fresh,
                        kvtest.info(client, "memory")["used_memory"])
    if budget_needed is None:
        with kvtest.start_kv("--hugepages", "off", "--maxmemory", "512mb") as kv:
            kv_result = big_value(check, "kv at 512mb", kv, value)
            compare_value(check, "kv at 512mb", kv_result, redis_result, value)
            budget_needed = "512mb"
    print(f"a {VALUE_BYTES >> 20} MB value needs maxmemory {budget_needed} on kv")
    accepted_unreadable(check)
    print(f"{time.monotonic() - started:.1f} s in all")
    if check.failures:
        print(f"seed {seed}: rerun with KV_SEED={seed}")
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
