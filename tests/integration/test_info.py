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
        # Scripting's memory lines: the same names and order as Redis's, and counts that
        # follow the same commands on both servers.
        library = "#!lua name=info_lib\nredis.register_function('f1', function() return 1 end)"
        for client in (a, b):
            client.call("EVAL", "return 1", "0")
            client.call("EVAL", "return 2", "0")
            client.call("FUNCTION", "LOAD", library)
        lua_names = re.compile(r"^(used_memory_(lua|vm_|scripts|functions)\w*|number_of_\w+):",
                               re.M)
        got_lua = [m.group(1) for m in lua_names.finditer(a.call("INFO", "memory").decode())]
        want_lua = [m.group(1) for m in lua_names.finditer(b.call("INFO", "memory").decode())]
        checks.equal(got_lua, want_lua, "INFO memory's scripting fields, in Redis's order")
        memory = harness.info(a, "memory")
        for name, expected in (("number_of_cached_scripts", "2"), ("number_of_functions", "1"),
                               ("number_of_libraries", "1")):
            checks.equal(memory.get(name), expected, f"INFO {name}")
        checks.true(int(memory["used_memory_lua"]) > 0 and
                    int(memory["used_memory_vm_total"]) ==
                    int(memory["used_memory_vm_eval"]) + int(memory["used_memory_vm_functions"]),
                    "the Lua states' bytes add up")
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
