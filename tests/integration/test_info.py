"""INFO as monitoring reads it: Redis's sections and field names, and commandstats counted as
Redis counts them.

The same commands (successes, wrong arities, error replies) go to kv and to a real
redis-server; for every command, cmdstat calls, rejected_calls and failed_calls must be equal
(usec differs by nature). INFO with no argument leaves commandstats out, INFO all includes it;
CONFIG RESETSTAT clears it. The fields redis_exporter relies on are present.
"""
import re

import harness

COMMANDS = [
    ("SET", "a", "1"), ("GET", "a"), ("GET",), ("LPUSH", "a", "x"), ("RPUSH", "l", "1", "2"),
    ("LRANGE", "l", "0", "-1"), ("LRANGE", "l", "x", "1"), ("LPOP", "l", "-1"), ("LLEN", "l"),
    ("DEL", "a", "l"), ("EXISTS", "a"), ("ECHO", "hi"), ("PING",), ("SET", "a"),
]
FIELDS = ["redis_version", "uptime_in_seconds", "connected_clients", "used_memory", "maxmemory",
          "total_commands_processed", "instantaneous_ops_per_sec", "keyspace_hits",
          "keyspace_misses", "expired_keys", "rejected_connections", "allocator_allocations"]


def commandstats(client):
    raw = client.call("INFO", "commandstats").decode()
    found = {}
    for name, calls, rejected, failed in re.findall(
            r"cmdstat_(\w+):calls=(\d+),usec=\d+,usec_per_call=[\d.]+,rejected_calls=(\d+),"
            r"failed_calls=(\d+)", raw):
        found[name] = (int(calls), int(rejected), int(failed))
    return found


def main():
    checks = harness.Checks("test_info")
    kv = harness.start_kv(*harness.SMALL)
    redis = harness.start_redis()
    try:
        a, b = kv.connect(), redis.connect()
        for command in COMMANDS:
            a.call(*command)
            b.call(*command)
        got, want = commandstats(a), commandstats(b)
        for name in sorted(set(got) | set(want)):
            if name in ("info", "config"):
                continue
            checks.equal(got.get(name), want.get(name), f"cmdstat_{name} (calls, rejected, failed)")
        default = a.call("INFO").decode()
        checks.true("cmdstat_" not in default, "INFO leaves commandstats out")
        checks.true("cmdstat_set" in a.call("INFO", "all").decode(), "INFO all has commandstats")
        fields = {}
        for section in ("server", "clients", "memory", "stats"):
            fields.update(harness.info(a, section))
        for name in FIELDS:
            checks.true(name in fields, f"INFO has {name}")
        checks.true(re.search(r"db0:keys=\d+,expires=0,avg_ttl=0", default) is not None or
                    "db0:" not in default, "keyspace line in Redis's format")
        checks.equal(a.call("CONFIG", "RESETSTAT"), b"+OK\r\n", "CONFIG RESETSTAT")
        checks.equal(set(commandstats(a)) - {"info", "config"}, set(), "commandstats cleared")
        a.close()
        b.close()
    finally:
        kv.stop()
        redis.stop()
    checks.exit()


if __name__ == "__main__":
    main()
