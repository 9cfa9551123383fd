"""kv's guarantee at its edges: with the optional caps set and maxmemory at least what
`kv --plan` prints as their guarantee, every configured key holds a maximal list, and one more
key, byte, element or client is refused with kv's error while nothing stored changes.

kv runs with key_count 50, key_size_max 32, val_size_max 64, list_length_max 20 and
connections_max 16, and its budget is lowered (CONFIG SET maxmemory, below the 4 MiB a heap
needs at startup) to the "maxmemory needed" that `kv --plan` prints for those caps: the
guarantee is tested at its edge, not with 256 MiB to spare. The test fills all 50 keys
(32-byte keys) with 20 distinct 64-byte values and reads every list back exactly; then a 51st
key (SET, RPUSH, LPUSH) gets "-ERR store is full" and does not appear, SET over an existing key
still works, and after a DEL a new key fits. A 33-byte key, a 65-byte value and a push onto a
full list each get their error, and a push of 3 values onto a list with room for 2 adds none
of them. All 50 lists are compared again afterwards, and INFO memory shows the 50 keys in the
heap: used_memory at least their bytes and within that maxmemory. A second kv whose keys may
be longer than values shows "-ERR value is too long". Connections: 16 clients are served, each
of 10 more reads exactly "-ERR max number of clients reached\r\n" and then EOF, the 16 keep
working, INFO stats counts 10 rejected connections, and after 4 clients leave, new clients are
served again.
"""
import re
import time

import kvtest

KEYS, KEY_BYTES, VALUE_BYTES, LIST_MAX, CONNECTIONS = 50, 32, 64, 20, 16
OPTIONS = ["--key-count", KEYS, "--key-size-max", KEY_BYTES, "--val-size-max", VALUE_BYTES,
           "--list-length-max", LIST_MAX, "--connections-max", CONNECTIONS, "--hugepages", "off"]
MAX_CLIENTS = b"-ERR max number of clients reached\r\n"


def key(index):
    return (b"key%05d-" % index).ljust(KEY_BYTES, b"k")


def value(index, position):
    return (b"%05d-%03d-" % (index, position)).ljust(VALUE_BYTES, bytes([97 + position % 26]))


def lrange_reply(values):
    return b"*%d\r\n" % len(values) + b"".join(b"$%d\r\n%s\r\n" % (len(v), v) for v in values)


def all_lists_intact(client, check, lists, what):
    """Every key's list reads back exactly as recorded in lists (index -> values)."""
    wrong = [index for index, values in lists.items()
             if client.call("LRANGE", key(index), 0, -1) != lrange_reply(values)]
    check.equal(f"{what}: all {len(lists)} lists read back exactly", [], wrong)


def fill(client, check):
    lists = {}
    for index in range(KEYS):
        lists[index] = [value(index, p) for p in range(LIST_MAX)]
        check.equal(f"RPUSH of {LIST_MAX} values of {VALUE_BYTES} bytes to key {index}",
                    b":%d\r\n" % LIST_MAX, client.call("RPUSH", key(index), *lists[index]))
    all_lists_intact(client, check, lists, "after filling every key")
    return lists


def store_full(client, check, lists):
    extra = b"extra".ljust(KEY_BYTES, b"x")
    for command in (("SET", extra, "v"), ("RPUSH", extra, "v"), ("LPUSH", extra, "a", "b")):
        check.starts(f"{command[0]} of key {KEYS + 1}", b"-ERR store is full",
                     client.call(*command))
    check.equal("the refused key does not exist", b":0\r\n", client.call("EXISTS", extra))
    all_lists_intact(client, check, lists, "after the refused keys")
    # Full, but existing keys can still be written.
    check.equal("SET over an existing list when full", b"+OK\r\n",
                client.call("SET", key(2), b"s" * VALUE_BYTES))
    check.equal("GET it back", b"$%d\r\n%s\r\n" % (VALUE_BYTES, b"s" * VALUE_BYTES),
                client.call("GET", key(2)))
    check.equal("SET over that string again", b"+OK\r\n", client.call("SET", key(2), "t"))
    check.equal("GET the new string", b"$1\r\nt\r\n", client.call("GET", key(2)))
    check.starts("still full for a new key", b"-ERR store is full", client.call("SET", extra, "v"))
    check.equal("DEL one key", b":1\r\n", client.call("DEL", key(2)))
    check.equal("a new key fits after the DEL", b"+OK\r\n", client.call("SET", extra, "v"))
    check.starts("and the store is full again", b"-ERR store is full",
                 client.call("SET", b"another", "v"))
    check.equal("DEL the new key", b":1\r\n", client.call("DEL", extra))
    lists[2] = [value(2, p) for p in range(LIST_MAX)]
    check.equal("the maximal list comes back in the freed slot", b":%d\r\n" % LIST_MAX,
                client.call("RPUSH", key(2), *lists[2]))


def too_long_and_too_many(client, check, lists):
    check.starts(f"a key of {KEY_BYTES + 1} bytes", b"-ERR key is too long",
                 client.call("SET", key(0) + b"k", "v"))
    check.equal("the long key was not stored", b":0\r\n", client.call("EXISTS", key(0) + b"k"))
    check.starts(f"a value of {VALUE_BYTES + 1} bytes (> max(key, value) size: argument)",
                 b"-ERR argument is too long", client.call("SET", key(1), b"v" * (VALUE_BYTES + 1)))
    check.starts(f"a list element of {VALUE_BYTES + 1} bytes", b"-ERR argument is too long",
                 client.call("RPUSH", key(1), b"v" * (VALUE_BYTES + 1)))
    for name in ("RPUSH", "LPUSH"):
        check.starts(f"{name} of element {LIST_MAX + 1}", b"-ERR list is full",
                     client.call(name, key(0), "one more"))
    check.equal("the full list keeps its length", b":%d\r\n" % LIST_MAX,
                client.call("LLEN", key(0)))
    # A list with room for 2: a push of 3 adds nothing, a push of 2 fills it.
    check.equal("LPOP 2 from a full list", lrange_reply(lists[3][:2]),
                client.call("LPOP", key(3), 2))
    lists[3] = lists[3][2:]
    check.starts("RPUSH of 3 onto a list with room for 2", b"-ERR list is full",
                 client.call("RPUSH", key(3), "x", "y", "z"))
    check.starts("LPUSH of 3 onto a list with room for 2", b"-ERR list is full",
                 client.call("LPUSH", key(3), "x", "y", "z"))
    check.equal("nothing half-applied", lrange_reply(lists[3]),
                client.call("LRANGE", key(3), 0, -1))
    check.equal("RPUSH of exactly 2 fits", b":%d\r\n" % LIST_MAX,
                client.call("RPUSH", key(3), "x", "y"))
    lists[3] = lists[3] + [b"x", b"y"]
    check.equal("PING after the refusals", b"+PONG\r\n", client.call("PING"))
    all_lists_intact(client, check, lists, "after every refusal")
    check.equal("every key is there", b":%d\r\n" % KEYS, client.call("DBSIZE"))
    memory = kvtest.info(client, "memory")
    used, maxmemory = int(memory["used_memory"]), int(memory["maxmemory"])
    data = sum(KEY_BYTES + sum(len(v) for v in values) for values in lists.values())
    check.true(f"INFO memory: the heap holds the keys ({data} bytes of data <= used_memory "
               f"{used} <= maxmemory {maxmemory})", data <= used <= maxmemory)


def value_too_long(check):
    """With key_size_max > val_size_max a long value is a value, not an argument, problem."""
    with kvtest.start_kv("--key-count", 4, "--key-size-max", 128, "--val-size-max", 64,
                         "--list-length-max", 4, "--connections-max", 4,
                         "--hugepages", "off") as kv, kv.connect() as client:
        check.equal("a value of exactly val_size_max", b"+OK\r\n",
                    client.call("SET", "k", b"v" * 64))
        check.starts("a value of val_size_max + 1 bytes", b"-ERR value is too long",
                     client.call("SET", "k", b"w" * 65))
        check.starts("a list element of val_size_max + 1 bytes", b"-ERR value is too long",
                     client.call("RPUSH", "l", b"w" * 65))
        check.equal("the refused list was not created", b":0\r\n", client.call("EXISTS", "l"))
        check.equal("the old value stays", b"$64\r\n" + b"v" * 64 + b"\r\n",
                    client.call("GET", "k"))
        check.equal("a key of 128 bytes", b"+OK\r\n", client.call("SET", b"K" * 128, "v"))
        check.starts("a key of 129 bytes", b"-ERR argument is too long",
                     client.call("SET", b"K" * 129, "v"))


def connections(kv, first, check):
    """first is already connected: with CONNECTIONS - 1 more, kv is at connections_max."""
    clients = [first] + [kv.connect() for _ in range(CONNECTIONS - 1)]
    for index, client in enumerate(clients):
        check.equal(f"client {index + 1} of {CONNECTIONS} served", b"+PONG\r\n",
                    client.call("PING"))
    for index in range(10):
        with kv.connect() as extra:
            check.equal(f"extra client {index + 1} refused and closed", (MAX_CLIENTS, True),
                        extra.read_until_close(quiet_seconds=5.0))
    served = [client.call("ECHO", "still here") for client in clients]
    check.equal(f"the first {CONNECTIONS} still served",
                [b"$10\r\nstill here\r\n"] * CONNECTIONS, served)
    check.equal("INFO stats rejected_connections", "10",
                kvtest.info(clients[0], "stats").get("rejected_connections"))
    check.equal("INFO clients connected_clients", str(CONNECTIONS),
                kvtest.info(clients[0], "clients").get("connected_clients"))
    for client in clients[-4:]:
        client.close()
    accepted = []
    deadline = time.monotonic() + 10   # the closes reach kv asynchronously: bounded retries
    while len(accepted) < 4 and time.monotonic() < deadline:
        probe = kv.connect()
        try:
            if probe.call("PING") == b"+PONG\r\n":
                accepted.append(probe)
                continue
        except kvtest.ConnectionClosed:
            pass
        probe.close()
        time.sleep(0.05)
    check.equal("4 new clients served after 4 left", 4, len(accepted))
    for client in accepted + clients[:-4]:
        check.equal("every client still answers", b"+PONG\r\n", client.call("PING"))
        client.close()


def caps_guarantee(check):
    """The maxmemory that `kv --plan` says guarantees OPTIONS's caps."""
    result = kvtest.run_kv("--plan", *OPTIONS)
    match = re.search(r"maxmemory needed = (\d+) bytes", result.stdout)
    check.true("kv --plan prints the maxmemory the caps need", match is not None, result.stdout)
    return int(match.group(1)) if match else 4 << 20


def main():
    kvtest.need_kv_binary()
    check = kvtest.Checker("test_limits")
    needed = caps_guarantee(check)
    with kvtest.start_kv(*OPTIONS, "--maxmemory", "4mb") as kv:
        client = kv.connect()
        check.equal(f"CONFIG SET maxmemory {needed}, the caps' guarantee", b"+OK\r\n",
                    client.call("CONFIG", "SET", "maxmemory", needed))
        lists = fill(client, check)
        store_full(client, check, lists)
        too_long_and_too_many(client, check, lists)
        connections(kv, client, check)
    value_too_long(check)
    check.finish()


if __name__ == "__main__":
    main()
