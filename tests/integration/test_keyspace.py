"""SCAN's guarantee, KEYS's bound and active expiry, on the real kv binary.

- SCAN with small COUNTs while another client inserts and deletes keys between batches:
  every key present for the whole scan is returned at least once, and the cursor ends at 0.
- KEYS whose reply would not fit the send buffer gets kv's error naming the buffer, and the
  connection and data stay.
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


def keys_too_big(check):
    options = ["--connections-max", "4", "--key-count", "400", "--key-size-max", "1024",
               "--val-size-max", "16", "--list-length-max", "4", "--hugepages", "off"]
    with kvtest.start_kv(*options) as kv, kv.connect() as client:
        for index in range(300):
            client.call("SET", b"%04d" % index + b"k" * 1000, "v")
        reply = client.call("KEYS", "*")
        check.starts("KEYS too big for the send buffer", b"-ERR KEYS reply of 300 keys would exceed",
                     reply)
        check.equal("the data stay", b":300\r\n", client.call("DBSIZE"))
        check.equal("a smaller KEYS answers", 1, len(kvtest.decode(client.call("KEYS", "0001*"))))
        seen = set()
        cursor = b"0"
        for _ in range(1000):
            cursor, keys = kvtest.decode(client.call("SCAN", cursor, "COUNT", "1000"))
            seen.update(keys)
            if cursor == b"0":
                break
        check.equal("SCAN still returns every key, in batches that fit", 300, len(seen))


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
    keys_too_big(check)
    check.finish()


if __name__ == "__main__":
    main()
