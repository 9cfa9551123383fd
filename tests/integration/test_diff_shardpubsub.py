"""Sharded pub/sub (SSUBSCRIBE, SUNSUBSCRIBE, SPUBLISH, PUBSUB SHARDCHANNELS/SHARDNUMSUB)
answers seeded random commands from four clients as redis-server 7.0 does.

At least 20,000 steps: two RESP2 subscribers and one RESP3 subscriber (HELLO 3) mix shard
subscriptions with ordinary channels and patterns of the same names (kept apart: the counts
in the confirmations, "smessage" against "message"), try other commands (refused in RESP2
subscribed mode), and a publisher SPUBLISHes and PUBLISHes, asks PUBSUB SHARDCHANNELS /
SHARDNUMSUB / NUMSUB, INFO's pubsubshard_channels and CLIENT LIST's sub/psub/ssub, and runs
SSUBSCRIBE inside MULTI (refused at EXEC). The same commands go to both servers; after each
step every client is synchronised with a PING and what it received before that PING's
answer must be the same. Where Redis's own order is a hash table's (unsubscribing from all,
SHARDCHANNELS' list, CLIENT LIST's lines) the comparison is as a multiset.
"""
import os
import random
import re

import kvtest

COMMAND_COUNT = 20000
CHANNELS = [b"a", b"b", b"news.1", b"{user}1", b"", b"x y"]
PATTERNS = [b"news.*", b"*", b"[ab]"]
MESSAGES = [b"", b"hello", b"\x00\r\n", b"m" * 40]
# The synchronising PING's argument, which no step sends, and its answers (unsubscribed or
# RESP3; RESP2 subscribed).
MARKER = b"sync-marker"
PONGS = (b"$11\r\nsync-marker\r\n", b"*2\r\n$4\r\npong\r\n$11\r\nsync-marker\r\n")
BATCH_STEPS_MAX = 12
RESP3_ACTOR = 2
PUBLISHER = 3


def synced(clients):
    """For each client, everything it received before the answer to a PING sent now (the
    PINGs go out together, then each is read: one round trip for all)."""
    for client in clients:
        client.send(kvtest.encode("PING", MARKER))
    out = []
    for client in clients:
        received = []
        for _ in range(1000):
            reply = client.reply()
            if reply in PONGS:
                break
            received.append(reply)
        else:
            raise AssertionError("no PING answer")
        out.append(received)
    return out


def normalized(replies):
    """Unsubscribing from all answers in a hash table's order: names as a set, counts in
    order; SHARDCHANNELS/CHANNELS' names and CLIENT LIST's sub counts sorted; the rest as a
    multiset."""
    names, counts, others = [], [], []
    for reply in replies:
        reply = re.sub(rb"\$2\r\nid\r\n:\d+\r\n", b"$2\r\nid\r\n:0\r\n", reply)  # HELLO
        value = kvtest.decode(reply)
        if isinstance(value, tuple) and value[0] == "push":
            value = value[1]
        if (isinstance(value, list) and len(value) == 3 and
                value[0] in (b"unsubscribe", b"sunsubscribe", b"punsubscribe")):
            names.append((value[0], value[1]))
            counts.append((value[0], value[2]))
        else:
            others.append(("raw", reply))
    return sorted(names, key=repr), counts, sorted(others, key=repr)


def client_counts(reply):
    """CLIENT LIST's sub/psub/ssub of every subscribed client, sorted (ids differ)."""
    text = kvtest.decode(reply)
    if not isinstance(text, bytes):
        return reply
    rows = []
    for line in text.decode().splitlines():
        fields = dict(part.split("=", 1) for part in line.split(" ") if "=" in part)
        if "P" in fields.get("flags", ""):
            rows.append((fields["sub"], fields["psub"], fields["ssub"]))
    return sorted(rows)


def steps(rnd, actor):
    """One step: the commands one client sends at once."""
    if actor == PUBLISHER:
        roll = rnd.random()
        if roll < 0.45:
            return [[b"SPUBLISH", rnd.choice(CHANNELS), rnd.choice(MESSAGES)]]
        if roll < 0.6:
            return [[b"PUBLISH", rnd.choice(CHANNELS), rnd.choice(MESSAGES)]]
        if roll < 0.7:
            return [[b"PUBSUB", b"SHARDNUMSUB"] + rnd.sample(CHANNELS, rnd.randint(0, 3))]
        if roll < 0.75:
            return [[b"PUBSUB", b"NUMSUB"] + rnd.sample(CHANNELS, rnd.randint(0, 2))]
        if roll < 0.85:
            pattern = rnd.choice([[], [b"*"], [b"news.*"], [b"[ab]"], [b"nomatch"]])
            return [[b"PUBSUB", rnd.choice([b"SHARDCHANNELS", b"shardchannels"])] + pattern]
        if roll < 0.88:
            return [rnd.choice([[b"PUBSUB", b"SHARDCHANNELS", b"*", b"extra"],
                                [b"PUBSUB", b"CHANNELS", b"*", b"extra"], [b"PUBSUB", b"HELP"],
                                [b"PUBSUB", b"help", b"x"], [b"PUBSUB", b"NUMPAT", b"x"],
                                [b"PUBSUB", b"nosuch"]])]
        if roll < 0.91:
            return [[b"MULTI"], [b"SSUBSCRIBE", rnd.choice(CHANNELS)], [b"EXEC"]]
        if roll < 0.93:
            return [[b"SPUBLISH", b"only-one"]] if rnd.random() < 0.5 else [[b"SSUBSCRIBE"]]
        if roll < 0.96:
            return [[b"CLIENT", b"LIST"]]
        return [[b"INFO", b"stats"]]
    roll = rnd.random()
    if roll < 0.3:
        return [[b"SSUBSCRIBE"] + rnd.sample(CHANNELS, rnd.randint(1, 3))]
    if roll < 0.45:
        return [[b"SUNSUBSCRIBE"] + rnd.sample(CHANNELS, rnd.choice([0, 0, 1, 2]))]
    if roll < 0.55:
        return [[b"SUBSCRIBE"] + rnd.sample(CHANNELS, rnd.randint(1, 2))]
    if roll < 0.62:
        return [[b"UNSUBSCRIBE"] + rnd.sample(CHANNELS, rnd.choice([0, 1]))]
    if roll < 0.67:
        return [[b"PSUBSCRIBE", rnd.choice(PATTERNS)]]
    if roll < 0.7:
        return [[b"PUNSUBSCRIBE"]]
    if roll < 0.8:
        # (A container command refused in RESP2 subscribed mode is named by kv without its
        # subcommand, "pubsub" for Redis's "pubsub|shardnumsub": only the RESP3 client sends
        # one.)
        extra = [[b"PUBSUB", b"SHARDNUMSUB", b"a"]] if actor == RESP3_ACTOR else []
        # (No subscriber publishes: its messages would race the others' own replies.)
        return [rnd.choice([[b"SPUBLISH", b"a"], [b"GET", b"k"],
                            [b"SUNSUBSCRIBE", b"nope"]] + extra)]
    if roll < 0.83:
        return [[b"RESET"]] + ([[b"HELLO", b"3"]] if actor == RESP3_ACTOR else [])
    return [[b"PING"]]


def comparable(reply):
    """CLIENT LIST's and INFO's answers reduced to what both servers share: the subscription
    counts and pubsubshard_channels."""
    value = kvtest.decode(reply)
    if isinstance(value, bytes) and value.startswith(b"id="):
        return ("client list", client_counts(reply))
    if isinstance(value, bytes) and value.startswith(b"# Stats"):
        fields = dict(line.split(b":", 1) for line in value.split(b"\r\n") if b":" in line)
        return ("info", fields.get(b"pubsubshard_channels"), fields.get(b"pubsub_channels"),
                fields.get(b"pubsub_patterns"))
    return reply


def compare(check, index, args, want, got):
    if want == got or normalized(want) == normalized(got):
        return check.true(f"client {index}", True)
    if index == PUBLISHER:
        want, got = [comparable(reply) for reply in want], [comparable(reply) for reply in got]
        if want == got:
            return True
        # A list's order is the dict's on each server: as sets, the rest in order.
        want = [sorted(kvtest.decode(r)) if isinstance(r, bytes) and r.startswith(b"*") and
                all(isinstance(item, bytes) for item in kvtest.decode(r)) else r for r in want]
        got = [sorted(kvtest.decode(r)) if isinstance(r, bytes) and r.startswith(b"*") and
               all(isinstance(item, bytes) for item in kvtest.decode(r)) else r for r in got]
    return check.equal(f"client {index} after {kvtest.shorten(args, 300)}", want, got)


def main():
    check = kvtest.Checker("test_diff_shardpubsub", verbose=False)
    seed = int(os.environ.get("KV_SEED") or random.randrange(1 << 32))
    print(f"seed {seed} (KV_SEED={seed} replays this run)")
    rnd = random.Random(seed)
    options = ["--connections-max", "16", "--key-count", "16", "--val-size-max", "64",
               "--list-length-max", "4", "--hugepages", "off"]
    with kvtest.start_kv(*options) as kv, kvtest.start_redis() as redis:
        kv_clients = [kv.connect() for _ in range(4)]
        redis_clients = [redis.connect() for _ in range(4)]
        check.equal("HELLO 3", kvtest.decode(redis_clients[RESP3_ACTOR].call("HELLO", "3"))[1][:1],
                    kvtest.decode(kv_clients[RESP3_ACTOR].call("HELLO", "3"))[1][:1])
        check.equal("COMMAND INFO ssubscribe spublish sunsubscribe",
                    redis_clients[PUBLISHER].call("COMMAND", "INFO", "ssubscribe", "spublish",
                                                  "sunsubscribe"),
                    kv_clients[PUBLISHER].call("COMMAND", "INFO", "ssubscribe", "spublish",
                                               "sunsubscribe"))
        compared = 0
        batch = 0
        # Batches of two phases: the subscribers' commands pipelined (each answers only its
        # client, so their interleaving does not matter), then the publisher's; after each
        # phase every client is synchronised and compared.
        while compared < COMMAND_COUNT:
            batch += 1
            same = True
            for phase in ([0, 1, RESP3_ACTOR], [PUBLISHER]):
                sent = {}
                for actor in phase:
                    sent[actor] = []
                    for _ in range(rnd.randint(1, BATCH_STEPS_MAX)):
                        sent[actor] += steps(rnd, actor)
                    wire = b"".join(kvtest.encode(*command) for command in sent[actor])
                    kv_clients[actor].send(wire)
                    redis_clients[actor].send(wire)
                    compared += len(sent[actor])
                # The actors first: once their answers are in, the messages they caused are
                # in the subscribers' send buffers ahead of any later PING's answer.
                rest = [other for other in range(4) if other not in phase]
                for group in (phase, rest):
                    answers = synced([redis_clients[index] for index in group] +
                                     [kv_clients[index] for index in group])
                    for position, index in enumerate(group):
                        want, got = answers[position], answers[len(group) + position]
                        if not compare(check, index, sent.get(index, []), want, got):
                            same = False
            if not same:
                print(f"batch {batch} differs")
                break
        check.true(f"{compared} commands equal (at least {COMMAND_COUNT})",
                   compared >= COMMAND_COUNT, f"seed {seed}")
        for client in kv_clients + redis_clients:
            client.close()
    if check.failures:
        print(f"seed {seed}: rerun with KV_SEED={seed}")
    check.finish()


if __name__ == "__main__":
    main()
