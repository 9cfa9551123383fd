"""redis-py's Lua users run against kv as against redis-server: Lock and register_script.

redis-py's Lock takes a lock with SET NX PX and extends, reacquires and releases it with its
own Lua scripts (EVALSHA, falling back to EVAL on NOSCRIPT). The same sequence runs against a
real redis-server and against kv: acquire, a second client refused, extend (additive and
replacing), reacquire, release, release by a non-owner (LockNotOwnedError), a blocking acquire
that waits for a short lock to expire, then register_script: a sliding-window rate limiter (a
sorted set) and a script whose SHA-1 was flushed from the cache (redis-py loads it again).
Every observation must be the same on both servers (TTLs within a tolerance).
"""
import time

import kvtest

redis = kvtest.need_pyredis()
from redis.exceptions import LockError, LockNotOwnedError

RATE_LIMIT = """
local key, now, window, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count < limit then
    redis.call('ZADD', key, now, ARGV[4])
    redis.call('PEXPIRE', key, window)
    return {1, count + 1}
end
return {0, count}
"""


def ttl_bucket(milliseconds):
    """A PTTL rounded to whole seconds: both servers' clocks move between the calls."""
    return None if milliseconds is None else round(milliseconds / 1000)


def lock_sequence(app, other, seen):
    lock = app.lock("resource", timeout=10)
    seen["acquire"] = lock.acquire(blocking=False)
    seen["owned"] = lock.owned()
    seen["locked"] = lock.locked()
    rival = other.lock("resource", timeout=10)
    seen["rival acquire"] = rival.acquire(blocking=False)
    seen["extend +5"] = lock.extend(5)
    seen["ttl after extend"] = ttl_bucket(app.pttl("resource"))
    seen["extend replace 3"] = lock.extend(3, replace_ttl=True)
    seen["ttl after replace"] = ttl_bucket(app.pttl("resource"))
    seen["reacquire"] = lock.reacquire()
    seen["ttl after reacquire"] = ttl_bucket(app.pttl("resource"))
    try:
        rival.release()
        seen["rival release"] = "released"
    except LockError as error:
        seen["rival release"] = type(error).__name__
    lock.release()
    seen["released"] = app.exists("resource")
    try:
        lock.extend(5)
        seen["extend after release"] = "extended"
    except LockNotOwnedError as error:
        seen["extend after release"] = type(error).__name__
    except LockError as error:
        seen["extend after release"] = type(error).__name__
    short = app.lock("short", timeout=0.2)
    seen["short acquire"] = short.acquire(blocking=False)
    waiter = other.lock("short", timeout=5, blocking_timeout=3, sleep=0.05)
    started = time.monotonic()
    seen["blocking acquire after expiry"] = waiter.acquire()
    seen["waited under 3 s"] = time.monotonic() - started < 3
    try:
        short.release()
        seen["expired owner release"] = "released"
    except LockError as error:
        seen["expired owner release"] = type(error).__name__
    waiter.release()
    with app.lock("ctx", timeout=5) as held:
        seen["context manager owns"] = held.owned()
    seen["context manager released"] = app.exists("ctx")


def script_sequence(app, seen):
    limiter = app.register_script(RATE_LIMIT)
    now = 1_000_000
    verdicts = []
    for step in range(8):
        verdicts.append(limiter(keys=["rate:user1"], args=[now + step * 100, 500, 3, f"r{step}"]))
    seen["rate limiter verdicts"] = verdicts
    seen["rate limiter members"] = app.zrange("rate:user1", 0, -1)
    echo = app.register_script("return {KEYS[1], ARGV[1], #ARGV, redis.call('PING')}")
    seen["echo"] = echo(keys=["k"], args=["a", "b"])
    app.script_flush()
    seen["after flush (NOSCRIPT then EVAL)"] = echo(keys=["k2"], args=["c"])
    seen["script exists"] = app.script_exists(echo.sha, "0" * 40)
    failing = app.register_script("return redis.call('INCR', KEYS[1])")
    app.set("text", "abc")
    try:
        failing(keys=["text"])
        seen["failing script"] = "no error"
    except redis.ResponseError as error:
        seen["failing script"] = str(error)


def run(port):
    seen = {}
    app = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
    other = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
    app.flushall()
    lock_sequence(app, other, seen)
    script_sequence(app, seen)
    return seen


def main():
    kvtest.need_kv_binary()
    check = kvtest.Checker("test_pyredis_lua")
    with kvtest.start_redis() as server:
        want = run(server.port)
    with kvtest.start_kv("--hugepages", "off", "--maxmemory", "32mb") as kv:
        got = run(kv.port)
    for name, value in want.items():
        check.equal(name, value, got.get(name))
    check.equal("the lock was taken and released", True, want["acquire"] and not want["released"])
    check.finish()


if __name__ == "__main__":
    main()
