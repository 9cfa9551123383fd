"""The seed's guarantee with every type: with key_count keys, each key holds a maximal
collection of its type, and every limit past that is refused with kv's error, changing nothing.

kv runs with small limits (key_count 8, key_size_max 12, val_size_max 20, list_length_max 6).
Two keys each hold a maximal list, hash, set and sorted set, with every member, field and
value as long as allowed. Then: one element more for each (kv's "is full" error), a ninth key
(kv's "store is full"), a field/member/value one byte too long, and a SUNIONSTORE whose result
would be too large; after each refusal the collections read back unchanged. The caps are
checks on the one heap (maxmemory), so the heap shows what the data explain: filling takes at
least the data's bytes in at least one allocation a key; the refusals take and leak nothing
(used_memory and the allocation count as before them); deleting every key gives it all back
(measured after KEY_COUNT plain keys came and went, so the keyspace's own table, which keeps
its smallest bucket array once it has one, as Redis's dict does, is in the baseline).
"""
import kvtest

KEY_COUNT = 8
KEY_MAX = 12
VAL_MAX = 20
LIST_MAX = 6


def name(prefix, index):
    return (prefix + str(index)).ljust(KEY_MAX, "_")


def value(index):
    return ("v" + str(index)).ljust(VAL_MAX, "=")


def fill(client, check, kind, key):
    if kind == "list":
        reply = client.call("RPUSH", key, *[value(i) for i in range(LIST_MAX)])
    elif kind == "hash":
        pairs = [part for i in range(LIST_MAX) for part in (name("f", i), value(i))]
        reply = client.call("HSET", key, *pairs)
    elif kind == "set":
        reply = client.call("SADD", key, *[name("m" + key[1], i) for i in range(LIST_MAX)])
    else:
        pairs = [part for i in range(LIST_MAX) for part in (str(i + 0.5), name("m", i))]
        reply = client.call("ZADD", key, *pairs)
    check.equal(f"a maximal {kind} at {key}", b":%d\r\n" % LIST_MAX, reply)


def data_bytes():
    """The bytes the filled keys hold at the least: key names, list elements, hash fields and
    values, set members, sorted-set members with their 8-byte scores (two keys of each type)."""
    names = KEY_COUNT * KEY_MAX
    per_kind = LIST_MAX * (VAL_MAX + (KEY_MAX + VAL_MAX) + KEY_MAX + (KEY_MAX + 8))
    return names + 2 * per_kind


def heap_use(client):
    """(used_memory, kv_heap_allocations): the budget's bytes in use and how many blocks."""
    memory = kvtest.info(client, "memory")
    return int(memory["used_memory"]), int(memory["kv_heap_allocations"])


def snapshot(client, keys):
    reads = {"list": ("LRANGE", 0, -1), "hash": ("HGETALL",), "set": ("SMEMBERS",),
             "zset": ("ZRANGE", 0, -1, "WITHSCORES")}
    out = {}
    for kind, key in keys:
        reply = kvtest.decode(client.call(reads[kind][0], key, *reads[kind][1:]))
        out[key] = sorted(reply) if kind == "set" else reply
    return out


def main():
    check = kvtest.Checker("test_fill", verbose=False)
    options = ["--connections-max", "4", "--key-count", str(KEY_COUNT), "--key-size-max",
               str(KEY_MAX), "--val-size-max", str(VAL_MAX), "--list-length-max", str(LIST_MAX),
               "--hugepages", "off"]
    kinds = ["list", "hash", "set", "zset"]
    keys = [(kinds[i % 4], name("k", i)) for i in range(KEY_COUNT)]
    with kvtest.start_kv(*options) as kv, kv.connect() as client:
        names = [key for _, key in keys]
        for key in names:
            client.call("SET", key, "v")
        check.equal("the keyspace's table is sized once", b":%d\r\n" % KEY_COUNT,
                    client.call("DEL", *names))
        empty = heap_use(client)
        for kind, key in keys:
            fill(client, check, kind, key)
        before = snapshot(client, keys)
        full = heap_use(client)
        check.true(f"the data take heap memory: {empty} -> {full} (used bytes, allocations)",
                   full[0] - empty[0] >= data_bytes() and full[1] - empty[1] >= KEY_COUNT)
        refusals = [
            ("RPUSH", keys[0][1], value(9)), ("LPUSH", keys[4][1], "x"),
            ("HSET", keys[1][1], name("f", 9), "v"), ("SADD", keys[2][1], name("m", 9)),
            ("ZADD", keys[3][1], 1, name("m", 9)), ("SET", name("k", KEY_COUNT), "v"),
            ("HSET", keys[1][1], "f" * (KEY_MAX + 1), "v"),
            ("SADD", keys[2][1], "m" * (KEY_MAX + 1)), ("ZADD", keys[3][1], 1, "m" * (KEY_MAX + 1)),
            ("HSET", keys[1][1], name("f", 0), "v" * (VAL_MAX + 1)),
            ("SUNIONSTORE", keys[2][1], keys[2][1], keys[6][1], "nothing"),
            ("LINSERT", keys[0][1], "BEFORE", value(0), "x"),
            ("SMOVE", keys[2][1], keys[6][1], name("m" + keys[2][1][1], 0)),
        ]
        for command in refusals:
            reply = client.call(*command)
            check.true(f"{command[0]} past a limit is refused ({reply[:60]!r})",
                       reply.startswith(b"-ERR") and (b"too long" in reply or b"full" in reply))
        check.equal("every collection is unchanged", before, snapshot(client, keys))
        check.equal("the refusals take no heap memory and leak none", full, heap_use(client))
        check.equal("DEL of every key", b":%d\r\n" % KEY_COUNT,
                    client.call("DEL", *names))
        check.equal("the heap is back where it was before the data", empty, heap_use(client))
    check.finish()


if __name__ == "__main__":
    main()
