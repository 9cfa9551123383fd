"""Debian's python3-redis client against kv, as an application would use it.

Strings and binary values, lists from both ends with counts, DEL/EXISTS over many keys,
pipelines without transactions, errors raised as redis.ResponseError with Redis's message,
a connection pool reused across many calls, and several client threads at once.
"""
import sys
import threading

import harness

try:
    import redis
except ImportError:
    print("python3-redis is not installed")
    sys.exit(harness.SKIP)


def main():
    checks = harness.Checks("test_pyredis")
    with harness.start_kv(*harness.SMALL) as kv:
        pool = redis.ConnectionPool(host="127.0.0.1", port=kv.port, socket_timeout=10)
        client = redis.Redis(connection_pool=pool)
        checks.equal(client.ping(), True, "ping")
        checks.equal(client.echo("hi"), b"hi", "echo")
        checks.equal(client.set("name", "kv"), True, "set")
        checks.equal(client.get("name"), b"kv", "get")
        binary = bytes(range(256))
        client.set(b"bin\x00key", binary)
        checks.equal(client.get(b"bin\x00key"), binary, "binary key and value round-trip")
        checks.equal(client.get("missing"), None, "missing key is None")
        checks.equal(client.rpush("queue", "a", "b", "c"), 3, "rpush")
        checks.equal(client.lpush("queue", "z"), 4, "lpush")
        checks.equal(client.lrange("queue", 0, -1), [b"z", b"a", b"b", b"c"], "lrange")
        checks.equal(client.llen("queue"), 4, "llen")
        checks.equal(client.lpop("queue"), b"z", "lpop")
        checks.equal(client.rpop("queue"), b"c", "rpop")
        checks.equal(client.lpop("queue", 5), [b"a", b"b"], "lpop with count")
        checks.equal(client.exists("queue"), 0, "an emptied list is deleted")
        checks.equal(client.lpop("queue", 2), None, "lpop count on a missing key")
        for index in range(200):
            client.set(f"key:{index}", index)
        checks.equal(client.exists(*[f"key:{i}" for i in range(250)]), 200, "exists over 250")
        checks.equal(client.delete(*[f"key:{i}" for i in range(0, 250, 2)]), 100, "delete many")
        pipe = client.pipeline(transaction=False)
        for index in range(100):
            pipe.set(f"p:{index}", "x" * index)
            pipe.get(f"p:{index}")
        results = pipe.execute()
        checks.equal(results[1::2], [("x" * i).encode() for i in range(100)], "pipeline replies")
        try:
            client.lpush("name", "oops")
            checks.true(False, "lpush on a string raises")
        except redis.ResponseError as error:
            checks.equal(str(error),
                         "WRONGTYPE Operation against a key holding the wrong kind of value",
                         "wrong type error text")
        try:
            client.execute_command("NOSUCH", "a")
            checks.true(False, "an unknown command raises")
        except redis.ResponseError as error:
            checks.true(str(error).startswith("unknown command 'NOSUCH'"), f"unknown: {error}")
        memory = client.info("memory")
        checks.true("allocator_allocations" in memory, "INFO memory through redis-py")
        results = {}

        def worker(number):
            local = redis.Redis(connection_pool=pool)
            for step in range(64):  # list_length_max in harness.SMALL
                local.rpush(f"t:{number}", step)
            try:
                local.rpush(f"t:{number}", "one too many")
                refused = ""
            except redis.ResponseError as error:
                refused = str(error)
            results[number] = (local.lrange(f"t:{number}", 0, -1), refused)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        for number in range(8):
            values, refused = results.get(number, (None, ""))
            checks.equal(values, [str(i).encode() for i in range(64)], f"thread {number} list")
            checks.true(refused.startswith("list is full"), f"thread {number} refused: {refused}")
    checks.exit()


if __name__ == "__main__":
    main()
