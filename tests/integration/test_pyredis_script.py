"""A realistic redis-py application runs against kv exactly as against redis-server.

The same script runs against a real redis-server and against kv through Debian's python3-redis
(RESP2, a connection pool): it names its connection (client_setname), reads the server's
settings (config_get) and state (info()), stores sessions with expiry times (SET EX, expire,
ttl), counts with transactional pipelines (MULTI/EXEC, redis-py's default), updates a balance
optimistically with WATCH while another client changes it (redis-py's transaction() helper
retries), walks the keyspace with scan_iter(match, count), and cleans up. Every observation the
script records must be the same on both servers (TTLs within a second), and a few must hold
outright (the WATCH retry happened; scan_iter found every session once).
"""

import time

import kvtest

redis = kvtest.need_pyredis()

SESSIONS = 300


def script(port):
    """Runs the application against the server on `port`; returns what it observed."""
    seen = {}
    pool = redis.ConnectionPool(host="127.0.0.1", port=port, decode_responses=True)
    app = redis.Redis(connection_pool=pool)
    other = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
    seen["setname"] = app.client_setname("billing-worker")
    seen["getname"] = app.client_getname()
    seen["config maxmemory"] = sorted(app.config_get("maxmemory").keys())
    seen["config databases"] = app.config_get("databases")
    info = app.info()
    seen["info fields"] = all(field in info for field in (
        "redis_version", "uptime_in_seconds", "connected_clients", "used_memory",
        "total_commands_processed", "keyspace_hits", "keyspace_misses"))
    seen["info connected_clients >= 1"] = info["connected_clients"] >= 1
    # Sessions with expiry times.
    for number in range(SESSIONS):
        app.set(f"session:{number}", f"user{number}", ex=600)
    seen["expire"] = app.expire("session:0", 120)
    seen["ttl session:0"] = app.ttl("session:0")
    seen["ttl session:1"] = app.ttl("session:1")
    seen["persist"] = app.persist("session:2")
    seen["ttl persisted"] = app.ttl("session:2")
    seen["pexpire short"] = app.pexpire("session:3", 1)
    time.sleep(0.05)
    seen["expired session read"] = app.get("session:3")  # gone on both, whoever reclaims first
    # Counters and an event log in one transactional pipeline.
    with app.pipeline() as pipe:
        pipe.incr("hits").incrby("hits", 41).rpush("events", "login", "view").lrange("events", 0, -1)
        pipe.set("flag", "on", nx=True).get("flag").expire("flag", 30).exists("hits", "flag")
        seen["pipeline"] = pipe.execute()
    # Optimistic update with WATCH: the first attempt sees another client's write and retries.
    app.set("balance", 100)
    attempts = []

    def debit(pipe):
        balance = int(pipe.get("balance"))
        if not attempts:
            other.incrby("balance", 5)  # a concurrent change between WATCH and EXEC
        attempts.append(balance)
        pipe.multi()
        pipe.set("balance", balance - 30)

    seen["transaction"] = app.transaction(debit, "balance")
    seen["attempts"] = attempts
    seen["balance"] = app.get("balance")
    # Walk the keyspace.
    found = list(app.scan_iter(match="session:*", count=50))
    seen["scan distinct"] = len(set(found))
    seen["scan duplicates"] = len(found) - len(set(found))
    seen["mget"] = app.mget("session:10", "nosuch", "session:11")
    seen["dbsize"] = app.dbsize()
    info = app.info("keyspace")
    seen["keyspace keys"] = info.get("db0", {}).get("keys")
    # Clean up.
    seen["delete"] = app.delete(*[f"session:{number}" for number in range(SESSIONS)])
    seen["flushdb"] = app.flushdb()
    seen["dbsize after"] = app.dbsize()
    pool.disconnect()
    other.close()
    return seen


def main():
    check = kvtest.Checker("test_pyredis_script")
    options = ["--connections-max", "32", "--key-count", "2000", "--list-length-max", "64",
               "--hugepages", "off"]
    with kvtest.start_redis() as redis_server:
        want = script(redis_server.port)
    with kvtest.start_kv(*options) as kv:
        got = script(kv.port)
    for name, expected in want.items():
        value = got.get(name)
        if name.startswith("ttl ") and isinstance(expected, int) and expected > 0:
            check.true(f"{name}: {value} within 1 s of Redis's {expected}",
                       isinstance(value, int) and abs(value - expected) <= 1)
        elif name == "pexpire short":
            check.equal(name, expected, value)
        else:
            check.equal(name, expected, value)
    check.equal("the WATCH conflict made the transaction retry once", [100, 105],
                got.get("attempts"))
    check.equal("the debit applied to the updated balance", "75", got.get("balance"))
    check.true("scan_iter found every session, each once",
               got.get("scan distinct") in (SESSIONS, SESSIONS - 1) and
               got.get("scan duplicates") == 0, repr(got.get("scan distinct")))
    check.finish()


if __name__ == "__main__":
    main()
