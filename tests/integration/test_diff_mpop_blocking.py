"""BLMPOP and BZMPOP wait, wake and time out as Redis 7.0's do, with the same bytes.

Each scenario runs on kv and on a real redis-server with the same clients and steps, and
every reply is compared byte for byte: a client blocked on several keys woken by a push from
another client (the key pushed answered, COUNT elements at most, in the pop's order); two
clients blocked on one key served in the order they blocked; a sorted-set waiter woken by
ZADD, by ZUNIONSTORE and by ZRANGESTORE creating the key; a key of another type keeping the
waiter blocked until the key holds the right type; timeouts answering a null array (RESP2
"*-1", RESP3 "_") no sooner than asked; the waiter's connection going on normally after each
wake. Then a seeded run of wake-ups: random pushes by a feeder while two waiters block with
random keys, ends and counts.
"""
import os
import random
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import kvtest  # noqa: E402
import test_diff_resp3  # noqa: E402

KV_OPTIONS = ["--connections-max", "16", "--key-count", "64", "--key-size-max", "64",
              "--val-size-max", "64", "--list-length-max", "400", "--hugepages", "off"]
SEEDED_ROUNDS = 30


class Pair:
    """The same clients on both servers: step(n, *args) sends to client n of each;
    replies(n) reads the next reply of client n from each, as (redis, kv)."""

    def __init__(self, kv, redis, count):
        self.clients = [(test_diff_resp3.Client(redis.port), test_diff_resp3.Client(kv.port))
                        for _ in range(count)]

    def send(self, index, *args):
        for client in self.clients[index]:
            client.send(kvtest.encode(*args))

    def reply(self, index):
        redis, kv = self.clients[index]
        return redis.reply(), kv.reply()

    def call(self, index, *args):
        self.send(index, *args)
        return self.reply(index)

    def close(self):
        for pair in self.clients:
            for client in pair:
                client.close()


def equal(check, what, replies):
    want, got = replies
    check.equal(what, want, got)
    return want


def settle(pair, blocked=1):
    """Waits until both servers count `blocked` blocked clients (INFO clients, read by the
    feeder, client 2): a blocking command sent has reached both and blocked."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        counts = [int(re.search(rb"blocked_clients:(\d+)", reply).group(1))
                  for reply in pair.call(2, "INFO", "clients")]
        if counts == [blocked, blocked]:
            return
        time.sleep(0.005)
    raise AssertionError(f"blocked clients never reached {blocked}")


def scenarios(check, pair):
    # Blocked on two keys; a push to the second wakes it with up to COUNT elements.
    pair.call(2, "DEL", "k1", "k2", "z1", "z2", "zd", "zr", "src")
    pair.send(0, "BLMPOP", "0", "2", "k1", "k2", "LEFT", "COUNT", "2")
    settle(pair)
    equal(check, "RPUSH wakes", pair.call(2, "RPUSH", "k2", "a", "b", "c"))
    equal(check, "BLMPOP woken by RPUSH", pair.reply(0))
    equal(check, "the rest stays", pair.call(2, "LRANGE", "k2", "0", "-1"))
    equal(check, "the waiter goes on", pair.call(0, "PING"))

    # RIGHT, COUNT past the length: the key goes.
    pair.send(0, "BLMPOP", "0", "1", "k1", "RIGHT", "COUNT", "10")
    settle(pair)
    pair.call(2, "LPUSH", "k1", "x", "y")
    equal(check, "BLMPOP RIGHT COUNT 10", pair.reply(0))
    equal(check, "emptied key gone", pair.call(2, "EXISTS", "k1"))

    # Two waiters on one key, served in the order they blocked.
    pair.send(0, "BLMPOP", "0", "1", "k1", "LEFT", "COUNT", "2")
    settle(pair)
    pair.send(1, "BLMPOP", "0", "1", "k1", "LEFT", "COUNT", "2")
    settle(pair, 2)
    pair.call(2, "RPUSH", "k1", "1", "2", "3")
    equal(check, "first waiter", pair.reply(0))
    equal(check, "second waiter", pair.reply(1))

    # Sorted sets: ZADD wakes BZMPOP MAX with COUNT.
    pair.send(0, "BZMPOP", "0", "2", "z1", "z2", "MAX", "COUNT", "2")
    settle(pair)
    pair.call(2, "ZADD", "z2", "1", "a", "2", "b", "3", "c")
    equal(check, "BZMPOP woken by ZADD", pair.reply(0))

    # ZUNIONSTORE and ZRANGESTORE creating the key wake a waiter.
    pair.send(0, "BZMPOP", "0", "1", "zd", "MIN")
    settle(pair)
    equal(check, "ZUNIONSTORE into a waited key", pair.call(2, "ZUNIONSTORE", "zd", "1", "z2"))
    equal(check, "BZMPOP woken by ZUNIONSTORE", pair.reply(0))
    pair.send(0, "BZMPOP", "0", "1", "zr", "MAX", "COUNT", "3")
    settle(pair)
    pair.call(2, "ZADD", "src", "5", "p", "6", "q")
    equal(check, "ZRANGESTORE into a waited key", pair.call(2, "ZRANGESTORE", "zr", "src", "0",
                                                           "-1"))
    equal(check, "BZMPOP woken by ZRANGESTORE", pair.reply(0))

    # A key of another type keeps the waiter blocked until it holds a list.
    pair.send(0, "BLMPOP", "0", "1", "k3", "LEFT")
    settle(pair)
    pair.call(2, "SET", "k3", "v")
    settle(pair)
    time.sleep(0.02)
    check.true("still blocked after SET (both servers)", not waiter_ready(pair, 0, False))
    pair.call(2, "DEL", "k3")
    pair.call(2, "RPUSH", "k3", "late")
    equal(check, "woken once the key is a list", pair.reply(0))

    # Timeouts: a null array, no sooner than asked.
    for client, command in ((0, ["BLMPOP", "0.2", "1", "nokey", "LEFT"]),
                            (1, ["BZMPOP", "0.2", "2", "nokey", "nokey2", "MIN", "COUNT", "3"])):
        started = time.monotonic()
        want = equal(check, f"{command[0]} timeout", pair.call(client, *command))
        check.true(f"{command[0]} waited its timeout", time.monotonic() - started >= 0.19)
        check.equal(f"{command[0]} timeout is a null array", b"*-1\r\n", want)
    pair.call(1, "HELLO", "3")
    equal(check, "RESP3 timeout", pair.call(1, "BLMPOP", "0.05", "1", "nokey", "RIGHT"))
    pair.send(1, "BZMPOP", "0", "1", "z9", "MIN", "COUNT", "2")
    settle(pair)
    pair.call(2, "ZADD", "z9", "-0", "m", "1.5", "n", "inf", "o")
    equal(check, "RESP3 BZMPOP woken (doubles)", pair.reply(1))
    pair.call(1, "HELLO", "2")


def seeded(check, pair, seed):
    """Two waiters block on random keys; a feeder pushes random elements; every wake and
    every state read compared."""
    rnd = random.Random(seed)
    keys = ["q0", "q1", "q2"]
    for _ in range(SEEDED_ROUNDS):
        is_list = rnd.random() < 0.5
        for waiter in (0, 1):
            chosen = rnd.sample(keys, rnd.randint(1, 3))
            if is_list:
                command = ["BLMPOP", "0", str(len(chosen))] + chosen + [rnd.choice(["LEFT",
                                                                                   "RIGHT"])]
            else:
                command = ["BZMPOP", "0", str(len(chosen))] + chosen + [rnd.choice(["MIN",
                                                                                   "MAX"])]
            if rnd.random() < 0.6:
                command += ["COUNT", str(rnd.randint(1, 4))]
            pair.send(waiter, *command)
            settle(pair, waiter + 1)
        # Feed until both are served: each push goes to one key, in one command.
        served = set()
        for _ in range(30):
            key = rnd.choice(keys)
            values = [f"v{rnd.randrange(100)}" for _ in range(rnd.randint(1, 5))]
            if is_list:
                pair.call(2, rnd.choice(["RPUSH", "LPUSH"]), key, *values)
            else:
                pairs = [part for value in values for part in (str(rnd.randint(-3, 3)), value)]
                pair.call(2, "ZADD", key, *pairs)
            time.sleep(0.01)
            for waiter in (0, 1):
                if waiter not in served and waiter_ready(pair, waiter):
                    equal(check, f"seeded {seed}: waiter {waiter} woken", pair.reply(waiter))
                    served.add(waiter)
            if len(served) == 2:
                break
        check.true(f"seeded {seed}: both waiters served", len(served) == 2)
        if len(served) < 2:
            return
        for key in keys:
            equal(check, f"seeded {seed}: {key}", pair.call(2, "TYPE", key))
            pair.call(2, "DEL", key)


def waiter_ready(pair, index, both=True):
    """Whether both servers (or, with both False, either) have answered waiter `index`."""
    ready = both
    for client in pair.clients[index]:
        client.sock.setblocking(False)
        try:
            chunk = client.sock.recv(1 << 16)
            client.buffer = client.buffer[client.start:] + chunk
            client.start = 0
        except BlockingIOError:
            pass
        finally:
            client.sock.setblocking(True)
            client.sock.settimeout(client.timeout)
        answered = test_diff_resp3.reply_end(client.buffer, client.start) is not None
        ready = (ready and answered) if both else (ready or answered)
    return ready


def main():
    check = kvtest.Checker("test_diff_mpop_blocking", verbose=False)
    seed = int(os.environ.get("KV_SEED") or random.randrange(1 << 32))
    print(f"seed {seed} (KV_SEED={seed} replays this run)")
    with kvtest.start_kv(*KV_OPTIONS) as kv, kvtest.start_redis() as redis:
        pair = Pair(kv, redis, 3)
        try:
            scenarios(check, pair)
            seeded(check, pair, seed)
        finally:
            pair.close()
    if check.failures:
        print(f"seed {seed}: rerun with KV_SEED={seed}")
    check.finish()


if __name__ == "__main__":
    main()
