"""Pub/Sub answers seeded random commands from three clients as redis-server does.

At least 20,000 commands: two subscribers SUBSCRIBE, UNSUBSCRIBE (some or all), PSUBSCRIBE,
PUNSUBSCRIBE, PING and try other commands (refused in subscribed mode), and a publisher
PUBLISHes and asks PUBSUB NUMSUB/NUMPAT. The same commands go to kv's and to redis-server's
three clients; after each one every client is synchronised with a PING, and what it received
before that PING's answer (its replies and the messages published to it) must be the same on
both servers. Within one step the order may differ only where Redis's own is a hash table's
(UNSUBSCRIBE of every channel, messages to several patterns): then the replies are compared
as a multiset.
"""
import os
import random

import kvtest

COMMAND_COUNT = 20000
CHANNELS = [b"a", b"b", b"news.1", b"news.2", b"", b"x y"]
PATTERNS = [b"news.*", b"*", b"n?ws.1", b"[ab]", b"a"]
MESSAGES = [b"", b"hello", b"\x00\r\n", b"m" * 50]


def split(data):
    out = []
    start = 0
    while start < len(data):
        end = kvtest.reply_end(data, start)
        out.append(data[start:end])
        start = end
    return out


SYNC_PINGS = [0]    # the number of the next synchronising PING


def synced(client):
    """Everything the client received before the answer to a PING sent now. The PING carries
    a token of its own (a bare PING's answer, or PING ""'s while subscribed, looks like any
    other PONG: taken for the synchronising one, every later read of the client would stop an
    answer early and race with the next step's messages)."""
    SYNC_PINGS[0] += 1
    token = b"sync-%d" % SYNC_PINGS[0]
    client.send(kvtest.encode(b"PING", token))
    answers = (b"$%d\r\n%s\r\n" % (len(token), token),
               b"*2\r\n$4\r\npong\r\n$%d\r\n%s\r\n" % (len(token), token))
    received = []
    for _ in range(1000):
        reply = client.reply()
        if reply in answers:
            return received
        received.append(reply)
    raise AssertionError("no PING answer")


def normalized(replies):
    """UNSUBSCRIBE of every channel answers in Redis's hash-table order: its names are compared
    as a set and its counts in order; everything else as a multiset."""
    names, counts, others = [], [], []
    for reply in replies:
        if reply.startswith(b"*3\r\n$11\r\nunsubscribe\r\n"):
            kind, name, count = kvtest.decode(reply)
            names.append(name)
            counts.append(count)
        else:
            others.append(reply)
    return sorted(names, key=repr), counts, sorted(others)


def command(rnd, actor):
    if actor == 2:
        roll = rnd.random()
        if roll < 0.7:
            return [b"PUBLISH", rnd.choice(CHANNELS), rnd.choice(MESSAGES)]
        if roll < 0.85:
            return [b"PUBSUB", b"NUMSUB"] + rnd.sample(CHANNELS, rnd.randint(0, 3))
        return [b"PUBSUB", b"NUMPAT"]
    roll = rnd.random()
    if roll < 0.3:
        return [b"SUBSCRIBE"] + rnd.sample(CHANNELS, rnd.randint(1, 3))
    if roll < 0.45:
        return [b"PSUBSCRIBE"] + rnd.sample(PATTERNS, rnd.randint(1, 2))
    if roll < 0.6:
        return [b"UNSUBSCRIBE"] + rnd.sample(CHANNELS, rnd.choice([0, 0, 1, 2]))
    if roll < 0.7:
        return [b"PUNSUBSCRIBE"] + rnd.sample(PATTERNS, rnd.choice([0, 1]))
    if roll < 0.8:
        return [b"PING"] + ([rnd.choice(MESSAGES)] if rnd.random() < 0.5 else [])
    if roll < 0.9:
        return rnd.choice([[b"GET", b"k"], [b"SET", b"k", b"v"], [b"PUBLISH", b"a", b"from-a-subscriber"]])
    return [b"RESET"] if rnd.random() < 0.2 else [b"PING"]


def main():
    check = kvtest.Checker("test_diff_pubsub", verbose=False)
    seed = int(os.environ.get("KV_SEED") or random.randrange(1 << 32))
    print(f"seed {seed} (KV_SEED={seed} replays this run)")
    rnd = random.Random(seed)
    options = ["--connections-max", "16", "--key-count", "16", "--val-size-max", "64",
               "--list-length-max", "4", "--hugepages", "off"]
    with kvtest.start_kv(*options) as kv, kvtest.start_redis() as redis:
        kv_clients = [kv.connect() for _ in range(3)]
        redis_clients = [redis.connect() for _ in range(3)]
        compared = 0
        for _ in range(COMMAND_COUNT):
            actor = rnd.choice([0, 1, 2, 2])
            args = command(rnd, actor)
            kv_clients[actor].send(kvtest.encode(*args))
            redis_clients[actor].send(kvtest.encode(*args))
            same = True
            # The actor first: once its answer is in, everything it caused (messages to the
            # subscribers) is in their send buffers ahead of any later PING's answer.
            for index in [actor] + [other for other in range(3) if other != actor]:
                want, got = synced(redis_clients[index]), synced(kv_clients[index])
                if want != got and normalized(want) != normalized(got):
                    # A message published by another client may trail that client's answer
                    # on either server (each socket is served in its own turn): one more
                    # PING on both, and the two streams so far must then agree.
                    want += synced(redis_clients[index])
                    got += synced(kv_clients[index])
                if want != got and normalized(want) != normalized(got):
                    check.equal(f"client {index} after {kvtest.shorten(args, 200)}", want, got)
                    same = False
            if not same:
                break
            compared += 1
        check.true(f"{compared} steps equal (at least {COMMAND_COUNT})", compared >= COMMAND_COUNT,
                   f"seed {seed}")
        for client in kv_clients + redis_clients:
            client.close()
    if check.failures:
        print(f"seed {seed}: rerun with KV_SEED={seed}")
    check.finish()


if __name__ == "__main__":
    main()
