"""Pub/Sub on kv answers as on a real redis-server, and stays within its limits.

1. Scenario by scenario against redis-server, with the same clients and steps: SUBSCRIBE,
   PSUBSCRIBE, PUBLISH (message and pmessage, channel subscribers before patterns; several
   patterns' messages compared as a multiset, Redis keeping patterns in a hash table), the
   subscribed-mode rules of RESP2 (other commands refused, PING's pong message), UNSUBSCRIBE
   and PUNSUBSCRIBE of some or all, PUBSUB NUMSUB/NUMPAT/CHANNELS (compared as a set: Redis
   lists channels in its hash table's order), RESET, a subscriber that leaves.
2. kv's optional caps: subscriptions_max per client, pubsub_channels_max in all, each with
   kv's error (the names before the refused one stay subscribed); channel names have no cap
   of their own (a 1000-byte name with key_size_max 16); a subscriber that stops reading is
   disconnected once its unsent messages pass the pubsub class's client-output-buffer-limit
   (1mb here, so the drop comes well before the 10 s send stall would close it: counted as a
   pub/sub drop, logged), while the publisher never waits.
3. Scale, against redis-server: 4 clients subscribe 20,000 channels with 2 KB names in
   batches (and 100 shared by all, and a 2 KB pattern); every subscription reply, PUBSUB
   NUMSUB of a sample, NUMPAT, CHANNELS (as a set), 300 publications (receiver counts, and
   each subscriber's messages in order) and an UNSUBSCRIBE of all (as a multiset: Redis
   goes in its hash table's order, kv oldest first; the counts the same) are identical. On
   kv, once the subscribers leave, the heap's used bytes are back where they were.
4. A subscriber dropped in the middle of a PUBLISH (past a 256kb pubsub output limit, on a
   channel and two patterns that match it): counted, and right after that PUBLISH its channel
   and patterns are gone (NUMSUB 0, NUMPAT counts only the other client's), while the other
   client, on one of those patterns, received every message.
5. A full heap (kv, maxmemory 4mb): SUBSCRIBE of 100 KB names in batches of 4 until one is
   refused; the refusal is Redis's OOM line alone, none of that batch's channels exists, the
   next SUBSCRIBE counts only what was subscribed before, and once the subscriber leaves the
   heap is back where it was.
"""
import hashlib
import random
import socket
import time

import kvtest


def got(client, seconds=0.5):
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


def replies(data):
    """A stream of replies as a list of raw replies."""
    out = []
    start = 0
    while start < len(data):
        end = kvtest.reply_end(data, start)
        if end is None:
            out.append(data[start:])
            break
        out.append(data[start:end])
        start = end
    return out


def comparable(step):
    """Pattern messages of one publication come in Redis's hash-table order of its patterns:
    a step holding several is compared as a multiset."""
    if isinstance(step, bytes) and step.count(b"pmessage") > 1:
        return sorted(replies(step))
    return step


def send(client, *commands):
    client.send(b"".join(kvtest.encode(*command) for command in commands))


def scenario(server):
    out = []
    with server.connect() as a, server.connect() as b, server.connect() as c:
        send(a, ("SUBSCRIBE", "news", "sport"))
        send(c, ("PSUBSCRIBE", "n*", "s?ort", "news"))
        out += [got(a), got(c)]
        send(b, ("PUBLISH", "news", "hello"), ("PUBLISH", "sport", "goal"),
             ("PUBLISH", "nothing", "x"), ("PUBLISH", "weather", "rain"))
        out += [got(b), got(a), got(c)]
        send(a, ("GET", "k"), ("PING",), ("PING", "there"), ("SET", "k", "v"))
        out += [got(a)]
        send(b, ("PUBSUB", "NUMSUB", "news", "sport", "none"), ("PUBSUB", "NUMPAT"))
        out += [got(b)]
        send(b, ("PUBSUB", "CHANNELS"))
        out += [sorted(kvtest.decode(got(b)))]
        send(a, ("UNSUBSCRIBE", "sport", "never"))
        send(c, ("PUNSUBSCRIBE", "s?ort"))
        out += [got(a), got(c)]
        send(b, ("PUBLISH", "sport", "late"), ("PUBLISH", "news", "again"))
        out += [got(b), got(a), got(c)]
        send(c, ("PUNSUBSCRIBE",))
        out += [got(c)]
        send(c, ("PUNSUBSCRIBE",), ("SUBSCRIBE", "x"), ("RESET",), ("GET", "k"))
        out += [got(c)]
    time.sleep(0.1)
    with server.connect() as b:
        send(b, ("PUBSUB", "NUMSUB", "news", "x"), ("PUBSUB", "NUMPAT"), ("PUBLISH", "news", "z"),
             ("PUBSUB", "FOO"), ("SUBSCRIBE",), ("PUBSUB", "NUMPAT", "x"))
        out += [got(b)]
    return out


def limits(check):
    options = ["--connections-max", "8", "--key-count", "16", "--key-size-max", "16",
               "--val-size-max", "1024", "--list-length-max", "4", "--hugepages", "off",
               "--subscriptions-max", "3", "--pubsub-channels-max", "4",
               "--client-output-buffer-limit", "pubsub 1mb 0 0"]
    with kvtest.start_kv(*options) as kv:
        with kv.connect() as a, kv.connect() as b, kv.connect() as publisher:
            send(a, ("SUBSCRIBE", "c1", "c2", "c3", "c4"))
            reply = got(a)
            check.true("the fourth subscription is refused",
                       reply.endswith(b"-ERR too many subscriptions (subscriptions_max is 3)\r\n"))
            send(b, ("PSUBSCRIBE", "p1", "p2"))
            reply = got(b)
            check.true("past pubsub_channels_max channels and patterns",
                       reply.endswith(b"-ERR too many channels (pubsub_channels_max is 4)\r\n"))
            send(b, ("SUBSCRIBE", "c1"))
            reply = got(b)
            check.equal("b is subscribed to what fit", [b"c1", 2],
                        kvtest.decode(publisher.call("PUBSUB", "NUMSUB", "c1")))
            # Names have no cap of their own: with key_size_max 16, a 1000-byte one (the
            # longest argument this server reads is val_size_max, 1024), once a channel is free.
            send(a, ("UNSUBSCRIBE", "c3"))
            got(a)
            long_name = "n" * 1000
            send(b, ("SUBSCRIBE", long_name))
            check.equal("a 1000-byte channel name is subscribed (b's third subscription)",
                        b"*3\r\n$9\r\nsubscribe\r\n$1000\r\n" + long_name.encode() +
                        b"\r\n:3\r\n", got(b))
            check.equal("and counted", [long_name.encode(), 1],
                        kvtest.decode(publisher.call("PUBSUB", "NUMSUB", long_name)))
        # A subscriber that never reads: messages pile up in its output until the pubsub limit
        # (1mb) drops it. Redis's default (32mb) would take longer to reach than the send
        # stall (10 s) with one PUBLISH per round trip on a debug build.
        with kv.connect() as publisher:
            lazy = socket.create_connection(("127.0.0.1", kv.port))
            lazy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            lazy.sendall(kvtest.encode("SUBSCRIBE", "firehose"))
            time.sleep(0.1)
            message = "m" * 1000
            started = time.monotonic()
            receivers = []
            # The kernel's socket buffers take several MB first: up to 40 MB of messages.
            for _ in range(40000):
                receivers.append(kvtest.decode(publisher.call("PUBLISH", "firehose", message)))
                if receivers[-1] == 0:
                    break
            check.true(f"the publisher never waited ({time.monotonic() - started:.2f} s)",
                       time.monotonic() - started < 20)
            check.equal("the silent subscriber was dropped", 0, receivers[-1])
            check.true(f"not before 1mb of messages were held for it ({len(receivers) - 1} "
                       "messages of 1 KB delivered)", len(receivers) - 1 > 1024)
            stats = kvtest.info(publisher, "stats")
            check.equal("counted as a pub/sub drop", "1", stats.get("kv_pubsub_disconnects"))
            check.equal("not as a stalled client", "0", stats.get("kv_stalled_disconnects"))
            check.true("logged", "stopped reading" in kv.log_text())
            check.equal("no subscriber is left", [b"firehose", 0],
                        kvtest.decode(publisher.call("PUBSUB", "NUMSUB", "firehose")))
            lazy.close()


CHANNEL_COUNT = 20000
NAME_BYTES = 2048
SUBSCRIBERS = 4
SHARED_COUNT = 100
BATCH = 250
PUBLISH_COUNT = 300
FILLER = b"abcdefghijklmnopqrstuvwxyz" * (NAME_BYTES // 26 + 1)


def channel_name(index):
    head = b"ch%06d:" % index
    return head + FILLER[:NAME_BYTES - len(head)]


# Subscriber 3's pattern: channel 123's name less its last 48 bytes, then '*'.
LONG_PATTERN = channel_name(123)[:NAME_BYTES - 48] + b"*"


def read_through_pong(client):
    """The replies a subscriber has until the answer to the PING it sent (subscribed mode's
    pong array)."""
    client.send(kvtest.encode("PING"))
    out = []
    while True:
        reply = client.reply()
        if reply == b"*2\r\n$4\r\npong\r\n$0\r\n\r\n":
            return out
        out.append(reply)


def heap_used(client):
    return int(kvtest.info(client, "memory").get("kv_heap_used_bytes", "0"))


def heap_used_alone(server):
    """The heap's used bytes seen by a fresh connection once it is the only client (its own
    receive buffer is then all that clients hold)."""
    with server.connect() as probe:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and \
                kvtest.info(probe, "clients").get("connected_clients") != "1":
            time.sleep(0.05)
        return heap_used(probe)


def long_channels_run(server, rnd_seed, is_kv):
    """One server's answers to the scale scenario, as comparable values."""
    out = {}
    rnd = random.Random(rnd_seed)
    used_before = heap_used_alone(server) if is_kv else 0
    with server.connect(timeout=60) as publisher:
        subscribers = [server.connect(timeout=60) for _ in range(SUBSCRIBERS)]
        try:
            for k, sub in enumerate(subscribers):
                names = [channel_name(i) for i in range(CHANNEL_COUNT) if i % SUBSCRIBERS == k]
                names += [channel_name(i) for i in range(SHARED_COUNT)]
                digest = hashlib.sha256()
                for start in range(0, len(names), BATCH):
                    batch = names[start:start + BATCH]
                    sub.send(kvtest.encode("SUBSCRIBE", *batch))
                    for reply in sub.replies(len(batch)):
                        digest.update(reply)
                out[f"subscribe replies {k}"] = digest.hexdigest()
            subscribers[3].send(kvtest.encode("PSUBSCRIBE", LONG_PATTERN))
            out["psubscribe"] = subscribers[3].reply()
            if is_kv:
                out["heap grew by the names"] = heap_used(publisher) - used_before > \
                    CHANNEL_COUNT * NAME_BYTES
            sample = [channel_name(rnd.randrange(CHANNEL_COUNT)) for _ in range(300)]
            sample += [channel_name(i) for i in range(0, SHARED_COUNT, 7)] + [b"nothing"]
            out["numsub"] = hashlib.sha256(publisher.call("PUBSUB", "NUMSUB", *sample)).hexdigest()
            out["numpat"] = publisher.call("PUBSUB", "NUMPAT")
            listed = kvtest.decode(publisher.call("PUBSUB", "CHANNELS"))
            out["channels listed"] = len(listed)
            out["channels"] = hashlib.sha256(b"".join(sorted(listed))).hexdigest()
            out["channels matching"] = sorted(kvtest.decode(
                publisher.call("PUBSUB", "CHANNELS", b"ch00012*")))
            targets = [rnd.randrange(CHANNEL_COUNT) for _ in range(PUBLISH_COUNT)]
            targets += [123, 5, 123]
            receivers = [publisher.call("PUBLISH", channel_name(i), b"m%d" % n)
                         for n, i in enumerate(targets)]
            out["receivers"] = receivers
            for k, sub in enumerate(subscribers):
                messages = read_through_pong(sub)
                out[f"messages {k}"] = (len(messages),
                                        hashlib.sha256(b"".join(messages)).hexdigest())
            # Subscriber 0 unsubscribes from everything: one reply per channel.
            subscribers[0].send(kvtest.encode("UNSUBSCRIBE"))
            count = CHANNEL_COUNT // SUBSCRIBERS + SHARED_COUNT - SHARED_COUNT // SUBSCRIBERS
            gone = [kvtest.decode(reply) for reply in subscribers[0].replies(count)]
            out["unsubscribed names"] = hashlib.sha256(
                b"".join(sorted(entry[1] for entry in gone))).hexdigest()
            out["unsubscribe counts"] = [entry[2] for entry in gone]
            out["unsubscribe kinds"] = sorted(set(entry[0] for entry in gone))
            out["numsub after"] = publisher.call("PUBSUB", "NUMSUB", channel_name(0),
                                                 channel_name(1))
        finally:
            for sub in subscribers:
                sub.close()
    if is_kv:
        out["heap back"] = (heap_used_alone(server), used_before)
        with server.connect() as probe:
            out["channels left"] = probe.call("PUBSUB", "NUMSUB", channel_name(2))
    return out


def long_channels(check):
    seed = random.randrange(1 << 32)
    print(f"long channels: seed {seed}")
    with kvtest.start_kv("--connections-max", "16", "--hugepages", "off") as kv, \
            kvtest.start_redis() as redis:
        started = time.monotonic()
        have = long_channels_run(kv, seed, True)
        kv_seconds = time.monotonic() - started
        want = long_channels_run(redis, seed, False)
    print(f"long channels: kv took {kv_seconds:.1f} s")
    for name, value in want.items():
        check.equal(f"20,000 2 KB channels: {name}", value, have[name])
    check.true("kv: the heap grew by more than the names", have["heap grew by the names"])
    used_after, used_before = have["heap back"]
    check.equal("kv: every byte of the subscriptions went back to the heap", used_before,
                used_after)
    check.equal("kv: no channel is left", [channel_name(2), 0],
                kvtest.decode(have["channels left"]))


OOM_LINE = b"-OOM command not allowed when used memory > 'maxmemory'.\r\n"


def dropped_mid_publish(check):
    with kvtest.start_kv("--connections-max", "8", "--hugepages", "off",
                         "--client-output-buffer-limit", "pubsub 256kb 0 0") as kv:
        with kv.connect() as publisher, kv.connect() as keen:
            lazy = socket.create_connection(("127.0.0.1", kv.port))
            lazy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            lazy.sendall(kvtest.encode("SUBSCRIBE", "fire") +
                         kvtest.encode("PSUBSCRIBE", "f*", "fi*"))
            keen.send(kvtest.encode("PSUBSCRIBE", "f*"))
            keen.reply()
            time.sleep(0.2)
            check.equal("two patterns live (f* shared)", 2,
                        kvtest.decode(publisher.call("PUBSUB", "NUMPAT")))
            receivers = []
            # Bounded: 256 KB of output past the kernel's buffers drops the lazy one.
            for _ in range(20000):
                receivers.append(kvtest.decode(publisher.call("PUBLISH", "fire", "m" * 1000)))
                if receivers[-1] == 1:
                    break
            check.equal("in the end only the keen subscriber receives", 1, receivers[-1])
            check.equal("the drop is counted", "1",
                        kvtest.info(publisher, "stats").get("kv_pubsub_disconnects"))
            check.equal("its channel went with it", [b"fire", 0],
                        kvtest.decode(publisher.call("PUBSUB", "NUMSUB", "fire")))
            check.equal("and its patterns (f* stays for the keen one)", 1,
                        kvtest.decode(publisher.call("PUBSUB", "NUMPAT")))
            messages = keen.replies(len(receivers))
            check.true("the keen subscriber received every message",
                       all(m.startswith(b"*4\r\n$8\r\npmessage\r\n$2\r\nf*\r\n")
                           for m in messages), kvtest.shorten(messages[-1]))
            lazy.close()


def heap_full(check):
    with kvtest.start_kv("--maxmemory", "4mb", "--connections-max", "8",
                         "--hugepages", "off") as kv:
        used_before = heap_used_alone(kv)
        with kv.connect() as sub, kv.connect() as other:
            subscribed = 0
            refused = None
            # Bounded: 4 MiB of heap holds fewer than 40 names of 100 KB.
            for batch in range(60):
                names = [b"%03d-%d-" % (batch, index) + b"x" * 100000 for index in range(4)]
                sub.send(kvtest.encode("SUBSCRIBE", *names))
                first = sub.reply()
                if first.startswith(b"-"):
                    refused = (batch, first)
                    break
                sub.replies(3)
                subscribed += 4
            check.true("a SUBSCRIBE ran out of memory", refused is not None)
            if refused is None:
                return
            batch, line = refused
            check.equal("it is answered with the OOM line alone", OOM_LINE, line)
            check.equal("none of its channels exists", [],
                        kvtest.decode(other.call("PUBSUB", "CHANNELS", b"%03d-*" % batch)))
            sub.send(kvtest.encode("SUBSCRIBE", "small"))
            check.equal("the next SUBSCRIBE counts what was subscribed before",
                        [b"subscribe", b"small", subscribed + 1], kvtest.decode(sub.reply()))
        check.equal("the heap is back once the subscriber left", used_before,
                    heap_used_alone(kv))


def main():
    check = kvtest.Checker("test_pubsub")
    options = ["--connections-max", "16", "--key-count", "64", "--val-size-max", "64",
               "--list-length-max", "16", "--hugepages", "off"]
    with kvtest.start_kv(*options) as kv, kvtest.start_redis() as redis:
        want = scenario(redis)
        have = scenario(kv)
        for index, (expected, actual) in enumerate(zip(want, have)):
            check.equal(f"step {index}: kv answers as redis-server", comparable(expected),
                        comparable(actual))
        check.true("messages were delivered", b"message" in want[3] and b"pmessage" in want[4])
    limits(check)
    long_channels(check)
    dropped_mid_publish(check)
    heap_full(check)
    check.finish()


if __name__ == "__main__":
    main()
