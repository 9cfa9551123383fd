"""SCAN's guarantee, a large KEYS reply and active expiry, on the real kv binary.

- SCAN with small COUNTs while another client inserts and deletes keys between batches:
  every key present for the whole scan is returned at least once, and the cursor ends at 0.
- KEYS of 300 keys of 1 KB (a 300 KB reply: replies have no size bound, they grow in the
  heap) answers all 300, the same keys as a redis-server given the same data, and the
  connection serves on; SCAN returns the same keys.
- Keys with a short time to live are removed by active expiry without being touched: DBSIZE
  falls to the keys without expiry, INFO's expired_keys counts them, and INFO keyspace shows
  the expires. RENAME keeps a key's time to live.
"""
import random
import time

import kvtest

KV_OPTIONS = ["--connections-max", "8", "--key-count", "2000", "--key-size-max", "32",
              "--val-size-max", "64", "--list-length-max", "4", "--hugepages", "off"]


def scan_under_churn(check, kv):
    rnd = random.Random(7)
    with kv.connect() as client, kv.connect() as writer:
        stable = {b"stable:%d" % i for i in range(600)}
        for key in stable:
            client.call("SET", key, "v")
        churn = [b"churn:%d" % i for i in range(800)]
        seen = set()
        cursor = b"0"
        batches = 0
        while True:
            reply = kvtest.decode(client.call("SCAN", cursor, "COUNT", rnd.choice([1, 3, 10])))
            cursor, keys = reply
            seen.update(keys)
            batches += 1
            # Between batches: insert and delete other keys, moving the table around.
            for _ in range(12):
                key = rnd.choice(churn)
                if rnd.random() < 0.5:
                    writer.call("SET", key, "x")
                else:
                    writer.call("DEL", key)
            if cursor == b"0" or batches > 10000:
                break
        check.equal("the scan ended with cursor 0", b"0", cursor)
        check.true(f"every stable key was returned ({len(stable & seen)} of {len(stable)})",
                   stable <= seen, f"missing {sorted(stable - seen)[:5]}")
        check.true(f"the scan took many batches ({batches})", batches > 20)


def keys_of_any_size(check):
    options = ["--connections-max", "4", "--maxmemory", "16mb", "--hugepages", "off"]
    names = [b"%04d" % index + b"k" * 1000 for index in range(300)]
    setting = b"".join(kvtest.encode("SET", name, "v") for name in names)
    with kvtest.start_kv(*options) as kv, kvtest.start_redis() as redis, \
            kv.connect() as client, redis.connect() as reference:
        for server in (client, reference):
            server.send(setting)
            check.equal("300 keys of 1 KB stored", [b"+OK\r\n"] * 300, server.replies(300))
        want, got = reference.call("KEYS", "*"), client.call("KEYS", "*")
        check.starts("KEYS answers all 300 keys", b"*300\r\n", got)
        # Both list the keys in their table's order: compare them as a set, and the sizes.
        check.equal("the same keys as Redis", sorted(kvtest.decode(want)),
                    sorted(kvtest.decode(got) if got.startswith(b"*") else []))
        check.equal("the same reply length as Redis", len(want), len(got))
        check.equal("the connection serves on", b":300\r\n", client.call("DBSIZE"))
        check.equal("a smaller KEYS answers", 1, len(kvtest.decode(client.call("KEYS", "0001*"))))
        seen = set()
        cursor = b"0"
        for _ in range(1000):
            cursor, keys = kvtest.decode(client.call("SCAN", cursor, "COUNT", "1000"))
            seen.update(keys)
            if cursor == b"0":
                break
        check.equal("SCAN returns every key", set(names), seen)


def active_expiry(check, kv):
    with kv.connect() as client:
        client.call("FLUSHALL")
        before = int(kvtest.info(client, "stats")["expired_keys"])
        # Long enough that a loaded machine still counts them all before they go (a 100 ms
        # life was shorter than 300 round trips take under load).
        for index in range(300):
            client.call("SET", b"short:%d" % index, "v", "PX", "1500")
        for index in range(20):
            client.call("SET", b"long:%d" % index, "v")
        client.call("EXPIRE", "long:0", "1000")
        client.call("RENAME", "long:0", "renamed")
        ttl = kvtest.decode(client.call("TTL", "renamed"))
        check.true(f"RENAME keeps the time to live ({ttl})", 990 <= ttl <= 1000)
        keyspace = kvtest.info(client, "keyspace")["db0"]
        check.true(f"INFO keyspace counts expires ({keyspace})", "expires=301" in keyspace)
        deadline = time.monotonic() + 10
        size = None
        while time.monotonic() < deadline:
            time.sleep(0.2)
            size = kvtest.decode(client.call("DBSIZE"))
            if size == 20:
                break
        check.equal("active expiry removed the short-lived keys untouched", 20, size)
        after = int(kvtest.info(client, "stats")["expired_keys"])
        check.equal("INFO expired_keys counts them", 300, after - before)
        keyspace = kvtest.info(client, "keyspace")["db0"]
        check.true(f"INFO keyspace: one expire left ({keyspace})", "expires=1" in keyspace)


def main():
    check = kvtest.Checker("test_keyspace")
    with kvtest.start_kv(*KV_OPTIONS) as kv:
        scan_under_churn(check, kv)
        active_expiry(check, kv)
    keys_of_any_size(check)
    check.finish()


if __name__ == "__main__":
    main()
