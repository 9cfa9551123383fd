"""Pub/Sub on kv answers as on a real redis-server, and stays within its limits.

1. Scenario by scenario against redis-server, with the same clients and steps: SUBSCRIBE,
   PSUBSCRIBE, PUBLISH (message and pmessage, channel subscribers before patterns; several
   patterns' messages compared as a multiset, Redis keeping patterns in a hash table), the
   subscribed-mode rules of RESP2 (other commands refused, PING's pong message), UNSUBSCRIBE
   and PUNSUBSCRIBE of some or all, PUBSUB NUMSUB/NUMPAT/CHANNELS (compared as a set: Redis
   lists channels in its hash table's order), RESET, a subscriber that leaves.
2. kv's limits: subscriptions_max per client, pubsub_channels_max in all, channel names up to
   key_size_max, each with kv's error; a subscriber that stops reading is disconnected once a
   message does not fit its send buffer (counted, logged), while the publisher never waits.
"""
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
               "--subscriptions-max", "3", "--pubsub-channels-max", "4"]
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
            send(b, ("SUBSCRIBE", "c1", "a-channel-name-too-long"))
            reply = got(b)
            check.true("a channel name past key_size_max",
                       reply.endswith(b"-ERR channel name is too long (key_size_max is 16 bytes)\r\n"))
            check.equal("b is subscribed to what fit", [b"c1", 2],
                        kvtest.decode(publisher.call("PUBSUB", "NUMSUB", "c1")))
        # A subscriber that never reads: messages fill its send buffer, then it is dropped.
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
            stats = kvtest.info(publisher, "stats")
            check.equal("counted", "1", stats.get("kv_pubsub_disconnects"))
            check.true("logged", "stopped reading" in kv.log_text())
            check.equal("no subscriber is left", [b"firehose", 0],
                        kvtest.decode(publisher.call("PUBSUB", "NUMSUB", "firehose")))
            lazy.close()


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
    check.finish()


if __name__ == "__main__":
    main()
