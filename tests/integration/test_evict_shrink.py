#!/usr/bin/env python3
"""Eviction that empties most of the keyspace keeps kv up.

A removal can start the keyspace dict's shrink, whose smaller bucket array is allocated
before the old one goes: one eviction pass may then end with more bytes in use than it
began with. kv once asserted the opposite and aborted (400 small keys, then a maxmemory just
above them under allkeys-random, then pipelined writes). Every evicting policy runs that
sequence; kv must stay up, answer every write with OK or -OOM (a limit this far below the
4 MiB kv keeps of a budget for client buffers leaves no room for data, so kv evicts every key
and refuses), and keep what it kept intact.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvtest  # noqa: E402

POLICIES = (b"allkeys-random", b"allkeys-lru", b"allkeys-lfu", b"volatile-random")
SMALL_KEYS = 400
WRITES = 3000
VALUE = b"y" * 100
HEADROOM = 512 * 1024


def run(check, kv, policy):
    with kv.connect() as client:
        client.call(b"FLUSHALL")
        client.call(b"CONFIG", b"SET", b"maxmemory", b"64mb")
        for index in range(SMALL_KEYS):
            client.call(b"SET", b"s%d" % index, b"x", b"EX", b"1000")
        client.call(b"CONFIG", b"SET", b"maxmemory-policy", policy)
        used = int(kvtest.info(client, "memory")["used_memory"])
        client.call(b"CONFIG", b"SET", b"maxmemory", b"%d" % (used + HEADROOM))
        client.send(b"".join(kvtest.encode(b"SET", b"big%d" % index, VALUE, b"EX", b"1000")
                             for index in range(WRITES)))
        replies = client.replies(WRITES)
        refused = [reply for reply in replies if reply != b"+OK\r\n"]
        check.true(f"{policy.decode()}: every write answered OK or -OOM",
                   all(reply.startswith(b"-OOM") for reply in refused), str(refused[:3]))
        check.equal(f"{policy.decode()}: kv answers after the evictions", b"+PONG\r\n",
                    client.call(b"PING"))
        stats = kvtest.info(client, "stats")
        check.true(f"{policy.decode()}: keys were evicted ({stats['evicted_keys']})",
                   int(stats["evicted_keys"]) > 0)
        kept = [b"big%d" % index for index in range(WRITES)]
        values = kvtest.decode(client.call(b"MGET", *kept))
        check.true(f"{policy.decode()}: every kept value intact",
                   all(value in (None, VALUE) for value in values))
        client.call(b"CONFIG", b"SET", b"maxmemory-policy", b"noeviction")


def main():
    check = kvtest.Checker("test_evict_shrink", verbose=False)
    kv = kvtest.start_kv("--hugepages", "off", "--maxmemory", "64mb")
    try:
        for policy in POLICIES:
            run(check, kv, policy)
        check.true("kv still running", kv.process.poll() is None)
    finally:
        kv.stop()
    check.finish()


if __name__ == "__main__":
    main()
