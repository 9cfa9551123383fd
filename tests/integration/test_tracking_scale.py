"""Client-side caching at scale: 200,000 tracked keys, and tracking-table-max-keys at 1,000.

kv's tracking table lives in the heap, bounded only by tracking-table-max-keys (Redis's default
1,000,000) and the budget. On kv and on a real redis-server 7.0 alike:

1. Default limit: four RESP3 tracking clients (plain, plain, NOLOOP, OPTOUT) read 200,000
   distinct keys between them (MGETs of 100; each key read by one to three clients, seeded),
   so the table holds 200,000 keys. INFO's tracking_total_keys and tracking_total_items are
   compared; then a writer changes a seeded mix of keys (SET, DEL, MSET, INCR, some never
   read), then each tracker changes some keys itself (NOLOOP's case), and then every
   tracker's whole stream of invalidation pushes is compared byte for byte with Redis's: the
   same keys, in the same order, no null and nothing spurious (the old fixed table of 4,096
   keys invalidated keys it evicted). Reading again after CLIENT TRACKING OFF and ON and a
   FLUSHALL end it (their INFO counts compared too).
2. tracking-table-max-keys 1000: two trackers read 2,500 keys each (their batches in turn);
   past the limit Redis and kv invalidate random keys before each command until the table is
   back at 1,000. Which keys go is random on both: the total (4,000), each key once, each
   tracker's among its own, are compared; then writing every key invalidates exactly the
   1,000 still tracked, and each tracker's evicted and written keys are all it read.

3. kv only: with the data at maxmemory, a tracked read finds no room in the heap and its
   reader gets the key's invalidation right after the reply.

The seed is printed (KV_SEED replays it). Replies of the writer are compared in full too.
"""
import os
import random
import time

import kvtest
import test_diff_resp3

KV_OPTIONS = ["--connections-max", "16", "--hugepages", "off", "--maxmemory", "64mb"]
KEY_COUNT = 200000
BATCH = 100
WRITES = 12000
LIMIT_KEYS = 5000
LIMIT = 1000
MARKER = b"$4\r\ndone\r\n"


def read_through(client, payload, marker):
    """Send payload (one write) and return every byte received up to and including the
    marker reply it ends with (the bytes before the marker are never the marker)."""
    client.send(payload)
    deadline = time.monotonic() + 60.0
    data = client.buffer[client.start:]
    client.buffer, client.start = b"", 0
    # Bounded by the deadline.
    while not data.endswith(marker):
        if time.monotonic() > deadline:
            raise AssertionError(f"no marker; have {data[-80:]!r}")
        client.sock.settimeout(max(deadline - time.monotonic(), 0.01))
        chunk = client.sock.recv(1 << 20)
        if not chunk:
            raise AssertionError("closed")
        data += chunk
    return data


def split_replies(data):
    """The whole RESP replies in data, in order."""
    out = []
    position = 0
    # Bounded by the data: each step consumes one reply.
    while position < len(data):
        end = test_diff_resp3.reply_end(data, position)
        assert end is not None, data[position:position + 80]
        out.append(data[position:end])
        position = end
    return out


def pushes(client):
    """The pushes owed to a RESP3 client before a PING it sends now, as raw replies."""
    data = read_through(client, kvtest.encode(b"PING"), b"+PONG\r\n")
    replies = split_replies(data)
    assert replies[-1] == b"+PONG\r\n"
    return replies[:-1]


def push_keys(replies):
    """The invalidated keys of invalidation pushes, None for a null (everything)."""
    keys = []
    for reply in replies:
        kind, (name, body) = test_diff_resp3.parse(reply)
        assert kind == b">" and name == (b"$", b"invalidate"), reply[:80]
        keys.extend([key for _, key in body[1]] if body[0] == b"*" else [None])
    return keys


def tracker(server, *mode):
    client = test_diff_resp3.Client(server.port, timeout=60.0)
    client.send(kvtest.encode(b"HELLO", b"3"))
    client.reply()
    reply = client.call(b"CLIENT", b"TRACKING", b"ON", *mode)
    assert reply == b"+OK\r\n", reply
    return client


def info_fields(client, names):
    text = client.call(b"INFO", b"stats")
    fields = {}
    for line in text.split(b"\r\n"):
        if b":" in line:
            name, value = line.split(b":", 1)
            fields[name] = value
    return tuple(fields.get(name) for name in names)


def mget_payload(keys):
    parts = []
    for start in range(0, len(keys), BATCH):
        parts.append(kvtest.encode(b"MGET", *keys[start:start + BATCH]))
    return b"".join(parts)


def plan(seed):
    """The seeded script both servers run: who reads what, then the writes."""
    rnd = random.Random(seed)
    keys = [b"key:%d" % index for index in range(KEY_COUNT)]
    readers = [[] for _ in range(4)]
    for key in keys:
        for who in rnd.sample(range(4), rnd.choice((1, 1, 2, 3))):
            readers[who].append(key)
    writes = []
    for _ in range(WRITES):
        choice = rnd.random()
        key = b"key:%d" % rnd.randrange(KEY_COUNT + 20000)  # some never read
        if choice < 0.5:
            writes.append((b"SET", key, b"v%d" % rnd.randrange(100)))
        elif choice < 0.7:
            writes.append((b"DEL", key))
        elif choice < 0.85:
            other = b"key:%d" % rnd.randrange(KEY_COUNT)
            writes.append((b"MSET", key, b"a", other, b"b"))
        else:
            writes.append((b"INCR", key))
    own = [[(b"SET", b"key:%d" % rnd.randrange(KEY_COUNT), b"own") for _ in range(300)]
           for _ in range(4)]
    return readers, writes, own


def scale(server, seed):
    out = []
    readers, writes, own = plan(seed)
    with server.connect(timeout=60.0) as writer:
        trackers = [tracker(server), tracker(server), tracker(server, b"NOLOOP"),
                    tracker(server, b"OPTOUT")]
        for client, keys in zip(trackers, readers):
            data = read_through(client, mget_payload(keys) + kvtest.encode(b"ECHO", b"done"),
                                MARKER)
            out.append(("reads", len(data), hash(data)))
        names = (b"tracking_total_keys", b"tracking_total_items")
        out.append(("info after reads", info_fields(writer, names)))
        payload = b"".join(kvtest.encode(*command) for command in writes)
        data = read_through(writer, payload + kvtest.encode(b"ECHO", b"done"), MARKER)
        out.append(("writer replies", len(data), hash(data)))
        out.append(("info after writes", info_fields(writer, names)))
        for index, client in enumerate(trackers):
            got = pushes(client)
            keys = push_keys(got)
            out.append((f"tracker {index} pushes", len(got), None in keys, got))
        for index, client in enumerate(trackers):
            payload = b"".join(kvtest.encode(*command) for command in own[index])
            read_through(client, payload + kvtest.encode(b"ECHO", b"done"), MARKER)
        for index, client in enumerate(trackers):
            got = pushes(client)
            out.append((f"tracker {index} after own writes", len(got), got))
        out.append(("info after own", info_fields(writer, names)))
        # OFF drops what a client read (both servers keep counting alike only while on, so
        # the count is compared after every client turns OFF and the table is flushed).
        for client in trackers:
            client.call(b"CLIENT", b"TRACKING", b"OFF")
        out.append(("flushall", writer.call(b"FLUSHALL")))
        out.append(("info after flush", info_fields(writer, names)))
        for client in trackers:
            client.close()
    return out


def limited(server, seed):
    out = []
    rnd = random.Random(seed + 1)
    keys = [b"lim:%d" % index for index in range(LIMIT_KEYS)]
    rnd.shuffle(keys)
    with server.connect(timeout=60.0) as writer:
        out.append(writer.call(b"CONFIG", b"SET", b"tracking-table-max-keys", b"%d" % LIMIT))
        first, second = tracker(server), tracker(server)
        half = LIMIT_KEYS // 2
        owned = [keys[:half], keys[half:]]
        evicted = [[], []]
        for start in range(0, half, BATCH):
            for index, client in enumerate((first, second)):
                # Each command first trims the table, then reads: pushes may come first.
                client.send(kvtest.encode(b"MGET", *owned[index][start:start + BATCH]))
                for _ in range(1000):
                    reply = client.reply()
                    if not reply.startswith(b">"):
                        break
                    evicted[index].extend(push_keys([reply]))
        for index, client in enumerate((first, second)):
            evicted[index].extend(push_keys(pushes(client)))
        # Which keys go is random; how many, and that each went once, is not.
        out.append(("evicted", len(evicted[0]) + len(evicted[1]),
                    len(set(evicted[0]) | set(evicted[1])),
                    set(evicted[0]) <= set(owned[0]), set(evicted[1]) <= set(owned[1])))
        out.append(("info", info_fields(writer, (b"tracking_total_keys",
                                                 b"tracking_total_items"))))
        payload = b"".join(kvtest.encode(b"SET", key, b"x") for key in keys)
        read_through(writer, payload + kvtest.encode(b"ECHO", b"done"), MARKER)
        written_total = 0
        for index, client in enumerate((first, second)):
            written = push_keys(pushes(client))
            written_total += len(written)
            out.append((f"written {index}", len(written) == len(set(written)),
                        not set(written) & set(evicted[index]),
                        sorted(set(written) | set(evicted[index])) == sorted(owned[index])))
        out.append(("written", written_total))
        out.append(writer.call(b"CONFIG", b"SET", b"tracking-table-max-keys", b"1000000"))
        first.close()
        second.close()
    return out


def budget(check):
    """kv only: with the data at maxmemory the heap has no room for a tracked key, and the
    reader is told to drop each key at once, right after its reply (never a stale cache)."""
    with kvtest.start_kv("--connections-max", "16", "--hugepages", "off",
                         "--maxmemory", "4mb") as kv:
        with kv.connect() as writer:
            payload = b"".join(kvtest.encode(b"SET", b"fill:%d" % index, b"x" * 200)
                               for index in range(30000))
            replies = split_replies(read_through(writer, payload + kvtest.encode(b"ECHO",
                                                                               b"done"), MARKER))
            stored = sum(1 for reply in replies if reply == b"+OK\r\n")
            check.true("the data filled the budget", 0 < stored < 30000, f"{stored}")
            client = tracker(kv)
            keys = [b"fill:%d" % index for index in range(2000)]
            payload = b"".join(kvtest.encode(b"GET", key) for key in keys)
            replies = split_replies(read_through(client, payload + kvtest.encode(b"PING"),
                                                 b"+PONG\r\n"))
            # Each reply, then its key's invalidation.
            told = sum(1 for index, key in enumerate(keys)
                       if 2 * index + 1 < len(replies) and
                       replies[2 * index].startswith(b"$200\r\n") and
                       push_keys([replies[2 * index + 1]]) == [key])
            check.equal("each read key told at once", 2000, told)
            keys = info_fields(writer, (b"tracking_total_keys",))[0]
            check.true("few keys tracked", int(keys) < 2000, repr(keys))
            client.close()


def main():
    seed = int(os.environ.get("KV_SEED", random.randrange(1 << 32)))
    print(f"seed {seed} (KV_SEED replays it)")
    check = kvtest.Checker("test_tracking_scale", verbose=False)
    started = time.monotonic()
    with kvtest.start_kv(*KV_OPTIONS) as kv, kvtest.start_redis() as redis:
        for name, scenario in (("scale", scale), ("limit", limited)):
            want = scenario(redis, seed)
            got = scenario(kv, seed)
            check.equal(f"{name}: step count", len(want), len(got))
            for index, (expected, actual) in enumerate(zip(want, got)):
                check.equal(f"{name} step {index}: {kvtest.shorten(expected, 80)}",
                            expected, actual)
            if name == "scale":
                check.true("200,000 keys tracked", got[4][1][0] == b"%d" % KEY_COUNT,
                           repr(got[4]))
                check.true("invalidations were sent", all(step[1] > 0 for step in got[7:11]),
                           repr([step[:3] for step in got[7:11]]))
            else:
                check.true("the limit evicted keys", got[1][1] == LIMIT_KEYS - LIMIT,
                           repr(got[1]))
    if not kvtest.KV_IS_REDIS:
        budget(check)
    print(f"seed {seed}; {time.monotonic() - started:.1f} s")
    check.finish()


if __name__ == "__main__":
    main()
