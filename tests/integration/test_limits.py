"""The seed's guarantee at its edges, through the real server.

Every one of key_count keys holds a maximal list of maximal values and reads back exactly;
one key more, one byte more, one element more is refused with kv's error and changes
nothing; connections_max clients are served and 10 more are each told
"-ERR max number of clients reached" and closed, while the first ones keep working and
INFO counts the refusals.
"""
import harness

KEYS, KEY_BYTES, VALUE_BYTES, LIST_MAX, CONNECTIONS = 50, 32, 64, 20, 16


def key(index):
    return (b"key%05d" % index).ljust(KEY_BYTES, b"k")


def value(index, position):
    return (b"%05d-%03d-" % (index, position)).ljust(VALUE_BYTES, b"v")


def fill_and_check(client, checks):
    for index in range(KEYS):
        values = [value(index, p) for p in range(LIST_MAX)]
        checks.equal(client.call("RPUSH", key(index), *values), b":%d\r\n" % LIST_MAX,
                     f"maximal list {index}")
    for index in range(KEYS):
        want = b"*%d\r\n" % LIST_MAX + b"".join(
            b"$%d\r\n%s\r\n" % (VALUE_BYTES, value(index, p)) for p in range(LIST_MAX))
        if not checks.equal(client.call("LRANGE", key(index), 0, -1), want, f"read back {index}"):
            break
    extra = (b"extra").ljust(KEY_BYTES, b"x")
    reply = client.call("RPUSH", extra, "v")
    checks.true(reply.startswith(b"-ERR store is full"), f"key {KEYS + 1}: {reply!r}")
    reply = client.call("SET", extra, "v")
    checks.true(reply.startswith(b"-ERR store is full"), f"SET of key {KEYS + 1}: {reply!r}")
    checks.equal(client.call("EXISTS", extra), b":0\r\n", "the refused key does not exist")
    reply = client.call("RPUSH", key(0), "one more")
    checks.true(reply.startswith(b"-ERR list is full"), f"element {LIST_MAX + 1}: {reply!r}")
    checks.equal(client.call("LLEN", key(0)), b":%d\r\n" % LIST_MAX, "full list unchanged")
    reply = client.call("SET", key(1) + b"k", "v")
    checks.true(reply.startswith(b"-ERR key is too long"), f"key of {KEY_BYTES + 1}: {reply!r}")
    reply = client.call("SET", key(1), b"v" * (VALUE_BYTES + 1))
    checks.true(reply.startswith(b"-ERR argument is too long") or
                reply.startswith(b"-ERR value is too long"), f"value of 65 bytes: {reply!r}")
    # A full store still rewrites, deletes and reuses slots.
    checks.equal(client.call("SET", key(2), b"s" * VALUE_BYTES), b"+OK\r\n", "SET over a list")
    checks.equal(client.call("GET", key(2)), b"$%d\r\n%s\r\n" % (VALUE_BYTES, b"s" * VALUE_BYTES),
                 "GET it back")
    checks.equal(client.call("DEL", key(3)), b":1\r\n", "DEL when full")
    checks.equal(client.call("RPUSH", extra, *[value(99, p) for p in range(LIST_MAX)]),
                 b":%d\r\n" % LIST_MAX, "a new maximal key fits after a DEL")
    info = harness.info(client, "memory")
    checks.equal(info["kv_pool_keys_used"], str(KEYS), "every key slot in use")


def connections(kv, checks):
    clients = [kv.connect() for _ in range(CONNECTIONS)]
    for index, client in enumerate(clients):
        checks.equal(client.call("PING"), b"+PONG\r\n", f"client {index} served")
    for index in range(10):
        extra = kv.connect()
        data, closed = extra.read_until_close(seconds=5)
        checks.equal((data, closed), (b"-ERR max number of clients reached\r\n", True),
                     f"extra client {index} refused")
        extra.close()
    for index, client in enumerate(clients):
        checks.equal(client.call("ECHO", "still here"), b"$10\r\nstill here\r\n",
                     f"client {index} still served")
    stats = harness.info(clients[0], "stats")
    checks.equal(stats["rejected_connections"], "10", "INFO counts the refusals")
    for client in clients[:4]:
        client.close()
    # Closed slots come back: new clients are served again (bounded wait for the closes).
    served = 0
    for _ in range(50):
        probe = kv.connect()
        try:
            if probe.call("PING") == b"+PONG\r\n":
                served += 1
                if served == 4:
                    break
                continue
        except harness.Closed:
            pass
        finally:
            probe.close()
    checks.true(served >= 1, "clients are accepted again after others left")
    for client in clients[4:]:
        client.close()


def main():
    checks = harness.Checks("test_limits")
    with harness.start_kv("--key-count", str(KEYS), "--key-size-max", str(KEY_BYTES),
                          "--val-size-max", str(VALUE_BYTES), "--list-length-max", str(LIST_MAX),
                          "--connections-max", str(CONNECTIONS), "--hugepages", "off") as kv:
        client = kv.connect()
        fill_and_check(client, checks)
        client.close()
        connections(kv, checks)
    checks.exit()


if __name__ == "__main__":
    main()
