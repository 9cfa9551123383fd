"""BCAST invalidations go out once per event-loop pass, as Redis 7.0 sends them before it sleeps.

Redis gathers the keys changed under each broadcast prefix while it serves what it read, and
trackingBroadcastInvalidationMessages sends, per prefix, one message with every key (sorted,
each once, NOLOOP leaving out the keys the client itself changed last). kv does the same at
the end of each loop pass. A pipeline of writes sent in one write() is read by both servers
at once (a few hundred bytes on loopback), so both owe the same messages for it.

Clients, the same on kv and on a real redis-server: a RESP3 broadcaster with two prefixes, a
RESP3 broadcaster with NOLOOP and no prefix (every key) that also writes, a RESP2 broadcaster
redirected to a subscribed RESP2 client, and a RESP3 normal-mode tracker that reads keys
between rounds (its direct invalidations, per command). Seeded rounds: a random pipeline of
1 to 12 writes (SET, DEL, MSET, INCR, HSET, EXPIRE, UNLINK, SETs of keys under no prefix),
sent in one piece by the writer or by the NOLOOP broadcaster; then every client's stream up
to a PING's answer (the writer's replies too) is compared byte for byte; INFO's
tracking_total_keys, _items and _prefixes too. The seed is printed (KV_SEED replays it).
"""
import os
import random
import time

import kvtest
import test_diff_resp3

KV_OPTIONS = ["--connections-max", "16", "--hugepages", "off", "--maxmemory", "32mb"]
ROUNDS = 400
KEYS = [b"user:1", b"user:2", b"user:10", b"user:", b"obj:a", b"obj:b", b"objx", b"other",
        b"o", b"us", b"user:a:b"]


def read_until(client, marker):
    """Every byte up to and including `marker` at the end of what arrived."""
    deadline = time.monotonic() + 20.0
    data = client.buffer[client.start:]
    client.buffer, client.start = b"", 0
    # Bounded by the deadline.
    while not data.endswith(marker):
        if time.monotonic() > deadline:
            raise AssertionError(f"no {marker!r}; have {data[-80:]!r}")
        client.sock.settimeout(max(deadline - time.monotonic(), 0.01))
        chunk = client.sock.recv(1 << 16)
        if not chunk:
            raise AssertionError("closed")
        data += chunk
    return data


def resp3(server):
    client = test_diff_resp3.Client(server.port)
    client.send(kvtest.encode(b"HELLO", b"3"))
    client.reply()
    return client


def random_write(rnd):
    key = rnd.choice(KEYS)
    other = rnd.choice(KEYS)
    choice = rnd.randrange(8)
    if choice == 0:
        return (b"SET", key, b"v%d" % rnd.randrange(10))
    if choice == 1:
        return (b"DEL", key, other)
    if choice == 2:
        return (b"MSET", key, b"1", other, b"2")
    if choice == 3:
        return (b"INCR", b"n:" + key)
    if choice == 4:
        return (b"HSET", b"h" + key, b"f", b"v")
    if choice == 5:
        return (b"EXPIRE", key, b"100")
    if choice == 6:
        return (b"UNLINK", key)
    return (b"SET", b"zz" + key, b"x")


def scenario(server, seed):
    rnd = random.Random(seed)
    streams = {}
    pong3 = b"+PONG\r\n"
    with server.connect() as writer, server.connect() as listener:
        prefixed = resp3(server)
        everything = resp3(server)
        normal = resp3(server)
        legacy = server.connect()
        listener_id = listener.call(b"CLIENT", b"ID")[1:-2]
        assert listener.call(b"SUBSCRIBE", b"__redis__:invalidate").startswith(b"*3")
        setup = [
            prefixed.call(b"CLIENT", b"TRACKING", b"ON", b"BCAST", b"PREFIX", b"user:",
                          b"PREFIX", b"obj"),
            everything.call(b"CLIENT", b"TRACKING", b"ON", b"BCAST", b"NOLOOP"),
            normal.call(b"CLIENT", b"TRACKING", b"ON"),
            legacy.call(b"CLIENT", b"TRACKING", b"ON", b"BCAST", b"PREFIX", b"o",
                        b"REDIRECT", listener_id),
        ]
        setup.append(tracking_info(writer))
        streams["setup"] = setup
        names = ("writer", "prefixed", "everything", "normal", "listener")
        for name in names:
            streams[name] = []
        for round_index in range(ROUNDS):
            normal.send(b"".join(kvtest.encode(b"GET", key) for key in rnd.sample(KEYS, 3)) +
                        kvtest.encode(b"PING"))
            streams["normal"].append(read_until(normal, pong3))
            count = rnd.randint(1, 12)
            pipeline = b"".join(kvtest.encode(*random_write(rnd)) for _ in range(count))
            sender, sender_name = (writer, "writer") if rnd.random() < 0.7 else \
                (everything, "everything")
            # One piece: both servers read it whole and serve it in one pass.
            sender.send(pipeline + kvtest.encode(b"ECHO", b"end"))
            streams[sender_name].append(read_until(sender, b"$3\r\nend\r\n"))
            for name, client, marker in (("writer", writer, b"+PONG\r\n"),
                                         ("prefixed", prefixed, pong3),
                                         ("everything", everything, pong3),
                                         ("normal", normal, pong3)):
                client.send(kvtest.encode(b"PING"))
                streams[name].append(read_until(client, marker))
            listener.send(kvtest.encode(b"PING"))
            streams["listener"].append(read_until(listener, b"$4\r\npong\r\n$0\r\n\r\n"))
        streams["info"] = [tracking_info(writer)]
        prefixed.call(b"CLIENT", b"TRACKING", b"OFF")
        streams["info"].append(tracking_info(writer))
        for client in (prefixed, everything, normal, legacy):
            client.close()
    return streams


def tracking_info(client):
    """INFO's tracking_total_keys, _items and _prefixes."""
    text = client.call(b"INFO", b"stats")
    return [line for line in text.split(b"\r\n") if line.startswith(b"tracking_total_")]


def main():
    seed = int(os.environ.get("KV_SEED", random.randrange(1 << 32)))
    print(f"seed {seed} (KV_SEED replays it)")
    check = kvtest.Checker("test_tracking_bcast_pass", verbose=False)
    started = time.monotonic()
    with kvtest.start_kv(*KV_OPTIONS) as kv, kvtest.start_redis() as redis:
        want = scenario(redis, seed)
        got = scenario(kv, seed)
    check.equal("setup replies and INFO", want["setup"], got["setup"])
    check.equal("INFO after the rounds, and after a broadcaster's OFF", want["info"],
                got["info"])
    for name in ("writer", "prefixed", "everything", "normal", "listener"):
        check.equal(f"{name}: rounds", len(want[name]), len(got[name]))
        mismatched = [index for index, (expected, actual)
                      in enumerate(zip(want[name], got[name])) if expected != actual]
        first = mismatched[0] if mismatched else None
        check.true(f"{name}: every round's stream as Redis's", not mismatched,
                   f"{len(mismatched)} rounds differ; first {first}: expected "
                   f"{want[name][first] if mismatched else b''!r} got "
                   f"{got[name][first] if mismatched else b''!r}")
    pushes = sum(stream.count(b">2\r\n$10\r\ninvalidate") for stream in got["prefixed"])
    batched = sum(1 for stream in got["everything"] if stream.count(b"\r\n*") and
                  b">2\r\n$10\r\ninvalidate\r\n*1\r\n" not in stream)
    check.true("broadcasts were sent", pushes > ROUNDS // 4, f"{pushes}")
    check.true("some messages carried several keys", batched > 0, f"{batched}")
    print(f"seed {seed}; {time.monotonic() - started:.1f} s")
    check.finish()


if __name__ == "__main__":
    main()
