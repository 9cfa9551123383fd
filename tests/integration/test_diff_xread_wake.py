"""A woken multi-key XREAD is answered with the key that woke it, and XREAD looks keys up as
Redis 7.0's xreadCommand does (keyspace hits and misses, "keymiss" events).

Redis serves blocked stream readers key by key as the keys became ready
(serveClientsBlockedOnStreamKey): a reader blocked on several streams gets the stream that
was signalled, alone, even when an earlier stream it named also gained entries in the same
transaction. On kv and on a real redis-server 7.0: seeded rounds of three readers blocked
(XREAD BLOCK, COUNT, `$` or explicit IDs) on random subsets of five streams, then a MULTI of
XADDs with explicit IDs in a random key order (every reader's keys get at least one) and
EXEC; each reader's reply, EXEC's reply, and the stream contents are compared byte for byte.
Then XREAD and XREADGROUP on missing keys, on wrong types and with errors: the "keymiss"
events (subscribed with notify-keyspace-events Em) and INFO's keyspace_hits/misses deltas.
The seed is printed (KV_SEED replays it).
"""
import os
import random
import time

import kvtest

KV_OPTIONS = ["--connections-max", "32", "--hugepages", "off", "--maxmemory", "32mb"]
ROUNDS = 60
STREAMS = [b"s%d" % index for index in range(5)]
READERS = 3


def wait_blocked(client, count):
    """Until INFO says `count` clients are blocked (bounded)."""
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        text = client.call(b"INFO", b"clients")
        for line in text.split(b"\r\n"):
            if line.startswith(b"blocked_clients:") and int(line.split(b":")[1]) == count:
                return
        time.sleep(0.002)
    raise AssertionError(f"{count} clients never blocked")


def wakes(server, seed):
    rnd = random.Random(seed)
    out = []
    next_ms = 1
    with server.connect() as writer:
        readers = [server.connect() for _ in range(READERS)]
        for round_index in range(ROUNDS):
            sets = []
            for reader in readers:
                keys = rnd.sample(STREAMS, rnd.randint(2, 4))
                sets.append(keys)
                # `$`, or the newest ID written so far: nothing to read yet either way.
                ids = [b"$" if rnd.random() < 0.7 else b"%d-1" % (next_ms - 1) for _ in keys]
                count = [b"COUNT", b"%d" % rnd.randint(1, 3)] if rnd.random() < 0.5 else []
                reader.send(kvtest.encode(b"XREAD", *count, b"BLOCK", b"5000", b"STREAMS",
                                          *keys, *ids))
            wait_blocked(writer, READERS)
            order = [rnd.choice(STREAMS) for _ in range(rnd.randint(1, 4))]
            for keys in sets:
                if not set(keys) & set(order):
                    order.insert(rnd.randrange(len(order) + 1), rnd.choice(keys))
            commands = [kvtest.encode(b"MULTI")]
            for key in order:
                commands.append(kvtest.encode(b"XADD", key, b"%d-1" % next_ms, b"f",
                                              b"%d" % round_index))
                next_ms += 1
            commands.append(kvtest.encode(b"EXEC"))
            writer.send(b"".join(commands))
            replies = writer.replies(len(commands))
            out.append(("exec", replies[-1]))
            for index, reader in enumerate(readers):
                out.append((f"round {round_index} reader {index}", sets[index], order,
                            reader.reply()))
        for key in STREAMS:
            out.append(("content", key, writer.call(b"XRANGE", key, b"-", b"+")))
        for reader in readers:
            reader.close()
    return out


def lookups(server):
    out = []
    with server.connect() as writer, server.connect() as listener:
        out.append(writer.call(b"CONFIG", b"SET", b"notify-keyspace-events", b"Em"))
        out.append(listener.call(b"SUBSCRIBE", b"__keyevent@0__:keymiss"))
        writer.call(b"DEL", b"x1", b"x2", b"str")
        writer.call(b"XADD", b"x1", b"1-1", b"f", b"v")
        writer.call(b"SET", b"str", b"v")
        writer.call(b"XGROUP", b"CREATE", b"x1", b"g", b"0")
        commands = [
            (b"XREAD", b"STREAMS", b"nokey", b"0"),
            (b"XREAD", b"STREAMS", b"x1", b"nokey", b"0", b"0"),
            (b"XREAD", b"COUNT", b"1", b"STREAMS", b"nokey", b"x1", b"$", b"0"),
            (b"XREAD", b"STREAMS", b"nokey", b"str", b"0", b"0"),
            (b"XREAD", b"STREAMS", b"nokey", b"x1", b"bad", b"0"),
            (b"XREAD", b"STREAMS", b"nokey", b"x1", b"0", b">"),
            (b"XREAD", b"BLOCK", b"1", b"STREAMS", b"nokey", b"x1", b"0", b"$"),
            (b"XREADGROUP", b"GROUP", b"g", b"c", b"STREAMS", b"x1", b"nokey", b">", b">"),
            (b"XREADGROUP", b"GROUP", b"g", b"c", b"STREAMS", b"x1", b">"),
            (b"XREADGROUP", b"GROUP", b"g", b"c", b"STREAMS", b"nokey", b"0"),
            (b"XREAD", b"STREAMS", b"x1", b"x1", b"0", b"0"),
        ]
        for command in commands:
            before = stats(writer)
            reply = writer.call(*command)
            after = stats(writer)
            # The INFO calls look nothing up: the delta is the command's.
            out.append((command, reply, after[0] - before[0], after[1] - before[1]))
        writer.call(b"PUBLISH", b"__keyevent@0__:keymiss", b"end")
        events = []
        for _ in range(1000):
            message = listener.reply()
            events.append(message)
            if message.endswith(b"$3\r\nend\r\n"):
                break
        out.append(("keymiss events", events))
        writer.call(b"CONFIG", b"SET", b"notify-keyspace-events", b"")
    return out


def stats(client):
    text = client.call(b"INFO", b"stats")
    hits = misses = 0
    for line in text.split(b"\r\n"):
        if line.startswith(b"keyspace_hits:"):
            hits = int(line.split(b":")[1])
        elif line.startswith(b"keyspace_misses:"):
            misses = int(line.split(b":")[1])
    return hits, misses


def main():
    seed = int(os.environ.get("KV_SEED", random.randrange(1 << 32)))
    print(f"seed {seed} (KV_SEED replays it)")
    check = kvtest.Checker("test_diff_xread_wake", verbose=False)
    started = time.monotonic()
    with kvtest.start_kv(*KV_OPTIONS) as kv, kvtest.start_redis() as redis:
        for name, scenario in (("wakes", lambda server: wakes(server, seed)),
                               ("lookups", lookups)):
            want = scenario(redis)
            got = scenario(kv)
            check.equal(f"{name}: step count", len(want), len(got))
            for index, (expected, actual) in enumerate(zip(want, got)):
                check.equal(f"{name} step {index}: {kvtest.shorten(expected, 100)}",
                            expected, actual)
    print(f"seed {seed}; {time.monotonic() - started:.1f} s")
    check.finish()


if __name__ == "__main__":
    main()
