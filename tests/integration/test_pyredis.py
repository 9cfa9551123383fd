"""Debian's python3-redis client works against kv as an application would use it.

Through redis-py (RESP2, one connection pool): SET/GET of text and binary keys and values,
lists from both ends (RPUSH, LPUSH, LRANGE, LPOP with a count, RPOP, LLEN), DEL and EXISTS
over hundreds of keys, a non-transactional pipeline of 400 commands, error replies raised as
redis.ResponseError with Redis's message (WRONGTYPE, an integer that is not one, an unknown
command), one pool reused across thousands of calls without opening a connection per call,
and eight threads at once, each with its own keys, checked when all have finished.
"""
import threading

import kvtest

redis = kvtest.need_pyredis()

THREADS = 8
THREAD_STEPS = 200
LIST_LENGTH_MAX = 64   # kvtest.SMALL


def strings(check, client):
    check.equal("PING", True, client.ping())
    check.equal("ECHO", b"hi", client.echo("hi"))
    check.equal("SET", True, client.set("name", "kv"))
    check.equal("GET", b"kv", client.get("name"))
    check.equal("SET overwrites", True, client.set("name", "kv2"))
    check.equal("GET the new value", b"kv2", client.get("name"))
    binary = bytes(range(256))
    check.equal("SET binary key and value", True, client.set(b"bin\x00\r\nkey", binary))
    check.equal("GET binary value back", binary, client.get(b"bin\x00\r\nkey"))
    check.equal("SET empty value", True, client.set("empty", b""))
    check.equal("GET empty value", b"", client.get("empty"))
    check.equal("GET a missing key is None", None, client.get("missing"))


def lists(check, client):
    check.equal("RPUSH 3", 3, client.rpush("queue", "a", "b", "c"))
    check.equal("LPUSH 1", 4, client.lpush("queue", "z"))
    check.equal("LRANGE 0 -1", [b"z", b"a", b"b", b"c"], client.lrange("queue", 0, -1))
    check.equal("LRANGE -2 -1", [b"b", b"c"], client.lrange("queue", -2, -1))
    check.equal("LRANGE out of range", [], client.lrange("queue", 10, 20))
    check.equal("LLEN", 4, client.llen("queue"))
    check.equal("LPOP", b"z", client.lpop("queue"))
    check.equal("RPOP", b"c", client.rpop("queue"))
    check.equal("LPOP with count larger than the list", [b"a", b"b"], client.lpop("queue", 5))
    check.equal("an emptied list is deleted", 0, client.exists("queue"))
    check.equal("LPOP with count on a missing key", None, client.lpop("queue", 2))
    check.equal("RPOP on a missing key", None, client.rpop("queue"))
    check.equal("LLEN of a missing key", 0, client.llen("queue"))
    client.rpush("pops", *range(10))
    check.equal("RPOP with count", [b"9", b"8", b"7"], client.rpop("pops", 3))
    check.equal("LPOP with count", [b"0", b"1"], client.lpop("pops", 2))
    check.equal("what is left", [str(i).encode() for i in range(2, 7)],
                client.lrange("pops", 0, -1))


def many_keys(check, client):
    for index in range(300):
        client.set(f"key:{index}", index)
    names = [f"key:{i}" for i in range(400)]
    check.equal("EXISTS over 400 names, 300 present", 300, client.exists(*names))
    check.equal("EXISTS counts a name given twice twice", 2, client.exists("key:1", "key:1"))
    check.equal("DEL every other of 400", 150, client.delete(*names[::2]))
    check.equal("EXISTS after DEL", 150, client.exists(*names))
    check.equal("the odd keys keep their values",
                [str(i).encode() for i in range(1, 300, 2)],
                [client.get(f"key:{i}") for i in range(1, 300, 2)])
    check.equal("DEL the rest", 150, client.delete(*names))


def pipeline(check, client):
    pipe = client.pipeline(transaction=False)
    for index in range(100):
        pipe.set(f"p:{index}", "x" * index)
        pipe.get(f"p:{index}")
        pipe.rpush("p:list", index)
        pipe.llen("p:list")
    results = pipe.execute(raise_on_error=False)
    check.equal("pipeline: SET replies", [True] * 100, results[0::4])
    check.equal("pipeline: GET replies", [("x" * i).encode() for i in range(100)], results[1::4])
    check.equal("pipeline: RPUSH replies up to list_length_max",
                list(range(1, LIST_LENGTH_MAX + 1)), results[2::4][:LIST_LENGTH_MAX])
    if kvtest.KV_IS_REDIS:
        return   # Redis has no list_length_max
    refused = results[2::4][LIST_LENGTH_MAX:]
    check.true("pipeline: pushes past list_length_max come back as errors, not raised early",
               all(isinstance(r, redis.ResponseError) and str(r).startswith("list is full")
                   for r in refused) and len(refused) == 100 - LIST_LENGTH_MAX,
               f"got {refused[:3]}")
    check.equal("pipeline: LLEN stops at list_length_max", LIST_LENGTH_MAX, results[-1])


def errors(check, client):
    cases = [
        ("LPUSH on a string", lambda: client.lpush("name", "x"),
         "WRONGTYPE Operation against a key holding the wrong kind of value"),
        ("GET on a list", lambda: client.get("pops"),
         "WRONGTYPE Operation against a key holding the wrong kind of value"),
        ("LRANGE with a non-integer", lambda: client.lrange("pops", "a", 1),
         "value is not an integer or out of range"),
        ("LPOP with a negative count", lambda: client.lpop("pops", -1),
         "value is out of range, must be positive"),
        ("an unknown command", lambda: client.execute_command("NOSUCH", "a"),
         "unknown command 'NOSUCH', with args beginning with: 'a' "),
        ("GET with two keys", lambda: client.execute_command("GET", "a", "b"),
         "wrong number of arguments for 'get' command"),
    ]
    for what, call, message in cases:
        try:
            result = call()
            check.true(f"{what} raises redis.ResponseError", False, f"returned {result!r}")
        except redis.ResponseError as error:
            check.equal(f"{what}: error message", message, str(error))
    check.equal("the connection still serves after errors", b"kv2", client.get("name"))


def pool_reuse(check, client, pool):
    for index in range(2000):
        client.set("counter", index)
        if client.get("counter") != str(index).encode():
            check.true("pool reuse: GET returns the value just SET", False, f"at step {index}")
            break
    created = len(pool._available_connections) + len(pool._in_use_connections)
    check.true("pool reuse: 4,000 sequential calls used one connection", created == 1,
               f"{created} connections created")
    with kvtest.RespClient(pool.connection_kwargs["port"]) as probe:
        clients = kvtest.info(probe, "clients")
    check.true("INFO clients counts the pool's connection and the probe",
               int(clients["connected_clients"]) >= 2,
               f"connected_clients {clients['connected_clients']}")


def threads(check, pool):
    results = {}

    def worker(number):
        local = redis.Redis(connection_pool=pool)
        try:
            for step in range(THREAD_STEPS):
                local.set(f"t:{number}:{step % 10}", f"{number}-{step}")
                if step < LIST_LENGTH_MAX:
                    local.rpush(f"t:{number}:list", step)
            values = [local.get(f"t:{number}:{i}") for i in range(10)]
            results[number] = (values, local.lrange(f"t:{number}:list", 0, -1))
        except Exception as error:  # reported by the main thread
            results[number] = error

    workers = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(THREADS)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=60)
    check.true(f"{THREADS} threads finished within 60 s", not any(t.is_alive() for t in workers))
    for number in range(THREADS):
        want_values = [f"{number}-{THREAD_STEPS - 10 + i}".encode() for i in range(10)]
        want_list = [str(i).encode() for i in range(LIST_LENGTH_MAX)]
        check.equal(f"thread {number}: its keys and list", (want_values, want_list),
                    results.get(number))


def main():
    check = kvtest.Checker("test_pyredis")
    with kvtest.start_kv(*kvtest.SMALL) as kv:
        pool = redis.ConnectionPool(host="127.0.0.1", port=kv.port, socket_timeout=10,
                                    max_connections=16)
        client = redis.Redis(connection_pool=pool)
        try:
            strings(check, client)
            lists(check, client)
            many_keys(check, client)
            pipeline(check, client)
            errors(check, client)
            pool_reuse(check, client, pool)
            threads(check, pool)
        finally:
            pool.disconnect()
    check.finish()


if __name__ == "__main__":
    main()
