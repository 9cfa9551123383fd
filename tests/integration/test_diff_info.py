"""INFO prints Redis 7.0's sections and fields in Redis's order, with the values that must agree.

kv and a real redis-server get the same seeded commands (writes, expiries, and errors of many
kinds: WRONGTYPE, syntax, unknown commands, wrong arities, NOSCRIPT, EXECABORT, out-of-range
numbers); then for INFO with no argument, default, all, everything, single and several
sections in any case, "modules" and an unknown section, the section headers and field names
must be Redis's, in Redis's order (values differ by nature; kv's own kv_* fields, which follow
Redis's in their sections, are set aside). Values that must agree: the keyspace line's keys
and expires, every errorstat line, total_error_replies, each command's calls, rejected and
failed calls in commandstats, role:master, cluster_enabled:0, the persistence of a server
that never saved; CPU times parse as seconds. CONFIG RESETSTAT clears errorstats on both.
"""
import os
import random
import re
import time

import kvtest

KV_OPTIONS = ["--connections-max", "8", "--hugepages", "off"]
EXTRAS = {"allocator_allocations", "allocator_allocated_bytes",
          "client_output_buffer_limit_disconnections"}
SELECTIONS = [[], ["default"], ["all"], ["everything"], ["server"], ["CPU"], ["Keyspace"],
              ["errorstats", "commandstats"], ["persistence", "replication", "cluster"],
              ["modules"], ["module_list"], ["bogus"], ["memory", "default"],
              ["stats", "clients", "latencystats"], ["all", "keyspace"]]
COMMANDS = ["set", "get", "lpush", "del", "incr", "expire", "hset", "sort", "copy", "lcs",
            "evalsha", "exec", "multi", "zadd"]


def names(reply):
    """Section headers and field names of an INFO reply, in order."""
    out = []
    for line in reply.decode(errors="replace").split("\r\n")[1:]:
        if not line:
            continue
        if line.startswith("#"):
            out.append(line)
            continue
        name = line.split(":")[0]
        if name.startswith("kv_") or name in EXTRAS:
            continue
        if name.startswith(("cmdstat_", "latency_percentiles_usec_")):
            continue  # commands kv has and Redis has differ; their lines are checked apart
        out.append(name)
    return out


def fields(reply):
    values = {}
    for line in reply.decode(errors="replace").split("\r\n")[1:]:
        if ":" in line and not line.startswith("#"):
            name, _, value = line.partition(":")
            values[name] = value
    return values


def command_stream(rnd, count):
    keys = ["a", "b", "c", "l", "h", "z"]
    for _ in range(count):
        key = rnd.choice(keys)
        roll = rnd.randrange(16)
        if roll < 3:
            yield ["SET", key, str(rnd.randint(0, 9))]
        elif roll == 3:
            yield ["LPUSH", key, "x"]
        elif roll == 4:
            yield ["INCR", key]
        elif roll == 5:
            yield ["GET", key]
        elif roll == 6:
            yield ["EXPIRE", key, str(rnd.randint(100, 999))]
        elif roll == 7:
            yield ["HSET", key, "f", "1"]
        elif roll == 8:
            yield ["ZADD", key, rnd.choice(["1", "x"]), "m"]
        elif roll == 9:
            yield ["DEL", key]
        elif roll == 10:
            yield rnd.choice([["NOSUCHCOMMAND"], ["GET"], ["SET", key], ["EVALSHA", "ab", "0"],
                              ["SORT", key, "BOGUS"], ["COPY", key, key], ["LCS", key]])
        elif roll == 11:
            yield ["SORT", key]
        elif roll == 12:
            yield ["COPY", key, rnd.choice(keys)]
        elif roll == 13:
            yield ["LCS", key, rnd.choice(keys)]
        elif roll == 14:
            yield ["INCRBY", key, rnd.choice(["1", "x", "99999999999999999999"])]
        else:
            yield ["MULTI"]
            yield ["SET", key, "1"]
            yield rnd.choice([["GET"], ["GET", key]])
            yield ["EXEC"]


def main():
    check = kvtest.Checker("test_diff_info", verbose=False)
    seed = int(os.environ.get("KV_SEED") or random.randrange(1 << 32))
    print(f"seed {seed} (KV_SEED={seed} replays this run)")
    rnd = random.Random(seed)
    with kvtest.start_kv(*KV_OPTIONS) as kv, kvtest.start_redis() as redis:
        with kv.connect() as kv_client, redis.connect() as redis_client:
            for command in command_stream(rnd, 600):
                want, got = redis_client.call(*command), kv_client.call(*command)
                check.true(f"{command}", want == got, f"{want!r} != {got!r}")
            for selection in SELECTIONS:
                want = redis_client.call("INFO", *selection)
                got = kv_client.call("INFO", *selection)
                check.equal(f"INFO {' '.join(selection)}: sections and fields in order",
                            names(want), names(got))
            want = fields(redis_client.call("INFO", "everything"))
            got = fields(kv_client.call("INFO", "everything"))
            for name in ["role", "cluster_enabled", "aof_enabled", "rdb_bgsave_in_progress",
                         "rdb_last_bgsave_status", "rdb_last_bgsave_time_sec", "rdb_saves",
                         "aof_last_bgrewrite_status", "loading", "connected_slaves",
                         "total_error_replies", "redis_version", "redis_mode",
                         "master_repl_offset", "maxmemory_policy"]:
                check.equal(f"{name}", want.get(name), got.get(name))
            keyspace = re.compile(r"keys=(\d+),expires=(\d+)")
            check.equal("db0 keys and expires", keyspace.match(want.get("db0", "")).groups(),
                        keyspace.match(got.get("db0", "")).groups())
            errors = sorted(name for name in want if name.startswith("errorstat_"))
            check.equal("the same error codes", errors,
                        sorted(name for name in got if name.startswith("errorstat_")))
            for name in errors:
                check.equal(name, want[name], got.get(name))
            check.true("some errors were counted", len(errors) >= 3, str(errors))
            counters = re.compile(r"calls=(\d+),.*rejected_calls=(\d+),failed_calls=(\d+)")
            for name in COMMANDS:
                stat = f"cmdstat_{name}"
                check.equal(f"{stat} calls, rejected and failed",
                            counters.match(want.get(stat, "calls=0,rejected_calls=0,"
                                                          "failed_calls=0")).groups(),
                            counters.match(got.get(stat, "calls=0,rejected_calls=0,"
                                                         "failed_calls=0")).groups())
            for name in ["used_cpu_sys", "used_cpu_user", "used_cpu_sys_children",
                         "used_cpu_user_children", "used_cpu_sys_main_thread",
                         "used_cpu_user_main_thread"]:
                check.true(f"{name} is seconds", re.fullmatch(r"\d+\.\d{6}", got.get(name, "")),
                           got.get(name))
            check.true("run_id is 40 hex digits",
                       re.fullmatch(r"[0-9a-f]{40}", got.get("run_id", "")), got.get("run_id"))
            for client in (kv_client, redis_client):
                client.call("CONFIG", "RESETSTAT")
            check.equal("errorstats after CONFIG RESETSTAT",
                        redis_client.call("INFO", "errorstats"), kv_client.call("INFO", "errorstats"))
            redis_client.call("GET")
            kv_client.call("GET")
            check.equal("then one arity error", redis_client.call("INFO", "errorstats"),
                        kv_client.call("INFO", "errorstats"))
            # avg_ttl: Redis's estimate from what active expiry meets; both near the keys'
            # mean TTL (1,250 s) once expiry has passed over them.
            for client in (kv_client, redis_client):
                client.call("FLUSHALL")
                for index in range(500):
                    client.call("SET", f"ttl{index}", "v", "EX", str(1001 + index))
            averages = {}
            for _ in range(60):   # up to 3 s
                averages = {label: int(re.search(r"avg_ttl=(\d+)", fields(
                    client.call("INFO", "keyspace")).get("db0", "avg_ttl=0")).group(1))
                    for label, client in (("kv", kv_client), ("redis", redis_client))}
                if all(value > 0 for value in averages.values()):
                    break
                time.sleep(0.05)
            check.true("avg_ttl estimated near the mean TTL, as Redis's",
                       all(1_000_000 <= value <= 1_500_000 for value in averages.values()),
                       str(averages))
    check.finish()


if __name__ == "__main__":
    main()
