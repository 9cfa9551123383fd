"""redis-py Locks from several processes, and a sliding-window rate limiter in Lua, on kv as on
redis-server.

redis-py's Lock takes a lock with SET NX PX and releases, extends and reacquires it with Lua
scripts (EVALSHA) that act only while the key still holds the owner's token. The same
scenario runs on a real redis-server and then on kv:
- Mutual exclusion: PROCESSES processes (fork) each do ROUNDS read-modify-write increments of
  one counter (GET, then SET value + 1) under one Lock, and count in `inside` (INCR on entry,
  DECR on exit) whether anyone else was in the critical section. The counter must end at
  exactly PROCESSES * ROUNDS and no overlap may be seen; no process may fail to get the lock.
- A lost lock: an owner whose key expired (PX) and was taken by another client can neither
  extend, reacquire nor release it (LockNotOwnedError), and the new owner's key, token and TTL
  are untouched; extend and reacquire of an owned lock set the TTLs they say; a blocking
  acquire with blocking_timeout gives up in about that time.
- A sliding-window rate limiter as applications write it (one script: ZREMRANGEBYSCORE the
  old entries, ZCARD, ZADD if under the limit, PEXPIRE): PROCESSES processes send REQUESTS
  each at a limit of LIMIT within a long window: exactly LIMIT are allowed in all (the script
  runs atomically); then with explicit timestamps, entries leave the window as time passes,
  and the key expires with its window.
"""
import multiprocessing
import os
import time

import apptest
import kvtest

redis = kvtest.need_pyredis()
from redis.exceptions import LockError, LockNotOwnedError

PROCESSES = 4
ROUNDS = 200          # increments per process
REQUESTS = 50         # rate-limited requests per process
LIMIT = 60            # allowed in the long window, of PROCESSES * REQUESTS
PROCESS_SECONDS = 30.0  # the whole of one process group's run (typically under 2 s)

SLIDING_WINDOW = """
local key, now, window, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, 0, now - window)
local count = redis.call('ZCARD', key)
if count < limit then
    redis.call('ZADD', key, now, ARGV[4])
    redis.call('PEXPIRE', key, window)
    return {1, count + 1}
end
return {0, count}
"""


def lock_worker(port, rounds):
    client = redis.Redis(host="127.0.0.1", port=port)
    # A long lock timeout: a holder starved of CPU on a loaded machine must not lose the lock
    # mid-increment (that would be a test artefact, not a server's fault).
    lock = client.lock("counter:lock", timeout=30, sleep=0.001, blocking_timeout=20)
    for _ in range(rounds):
        with lock:
            if client.incr("inside") != 1:
                client.incr("overlaps")
            value = int(client.get("counter") or 0)
            client.set("counter", value + 1)
            client.decr("inside")
    client.close()


def limiter_worker(port, requests):
    client = redis.Redis(host="127.0.0.1", port=port)
    limiter = client.register_script(SLIDING_WINDOW)
    allowed = 0
    for sequence in range(requests):
        now = int(time.time() * 1000)
        verdict, _ = limiter(keys=["rate:shared"], args=[now, 60_000, LIMIT,
                                                        f"{os.getpid()}:{sequence}"])
        allowed += verdict
    client.incrby("rate:allowed", allowed)
    client.close()


def run_processes(check, label, target, port, count):
    """`count` forked processes running target(port, count); each must exit 0 in time."""
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=target, args=(port, count)) for _ in range(PROCESSES)]
    started = time.monotonic()
    try:
        for process in processes:
            process.start()
        for process in processes:
            process.join(max(started + PROCESS_SECONDS - time.monotonic(), 0.1))
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join(5)
    check.equal(f"{label}: {target.__name__} processes exited 0 in time",
                [0] * PROCESSES, [process.exitcode for process in processes])
    return time.monotonic() - started


def lost_lock(check, label, client, other):
    lock = client.lock("lost", timeout=0.2)
    check.equal(f"{label}: lock taken", True, lock.acquire(blocking=False))
    token = client.get("lost")
    time.sleep(0.3)   # its PX of 200 ms runs out
    check.equal(f"{label}: expired lock's key gone", 0, client.exists("lost"))
    check.equal(f"{label}: expired lock not owned", False, lock.owned())
    thief = other.lock("lost", timeout=10)
    check.equal(f"{label}: another client takes it", True, thief.acquire(blocking=False))
    for name, action in (("extend", lambda: lock.extend(5)), ("reacquire", lock.reacquire),
                         ("release", lock.release)):
        try:
            action()
            check.true(f"{label}: {name} of a lost lock refused", False, "it succeeded")
        except LockNotOwnedError:
            check.true(f"{label}: {name} of a lost lock: LockNotOwnedError", True)
    thief_token = other.get("lost")
    check.true(f"{label}: the new owner's token stays", thief_token not in (None, token),
               repr(thief_token))
    check.true(f"{label}: the new owner's TTL stays", 9000 < other.pttl("lost") <= 10000,
               other.pttl("lost"))
    check.equal(f"{label}: the new owner extends by 5 s", True, thief.extend(5))
    check.true(f"{label}: TTL after extend is about 15 s", 14000 < other.pttl("lost") <= 15000,
               other.pttl("lost"))
    check.equal(f"{label}: reacquire sets the TTL back to 10 s", True, thief.reacquire())
    check.true(f"{label}: TTL after reacquire", 9000 < other.pttl("lost") <= 10000,
               other.pttl("lost"))
    waiter = client.lock("lost", timeout=1, sleep=0.02, blocking_timeout=0.3)
    started = time.monotonic()
    check.equal(f"{label}: a blocking acquire of a held lock gives up", False, waiter.acquire())
    waited = time.monotonic() - started
    check.true(f"{label}: after about its blocking_timeout", 0.25 <= waited < 1.5, waited)
    thief.release()
    check.equal(f"{label}: released", 0, other.exists("lost"))
    try:
        thief.release()
        check.true(f"{label}: a second release refused", False, "it succeeded")
    except LockError as error:   # redis-py: "Cannot release an unlocked lock"
        check.true(f"{label}: a second release: {type(error).__name__}", True)


def sliding_window(check, label, client):
    limiter = client.register_script(SLIDING_WINDOW)
    base = 5_000_000
    verdicts = [limiter(keys=["rate:slide"], args=[base + 100 * step, 1000, 3, f"s{step}"])
                for step in range(5)]
    check.equal(f"{label}: sliding window, 5 requests 100 ms apart (limit 3 per s)",
                [[1, 1], [1, 2], [1, 3], [0, 3], [0, 3]], verdicts)
    later = [limiter(keys=["rate:slide"], args=[base + ms, 1000, 3, f"t{ms}"])
             for ms in (1000, 1050, 1150, 1250)]
    # At 1000 the entry at 0 leaves (score <= now - window), at 1150 the one at 100, at 1250
    # the one at 200.
    check.equal(f"{label}: entries leave the window one by one",
                [[1, 3], [0, 3], [1, 3], [1, 3]], later)
    check.equal(f"{label}: the window's members", [b"t1000", b"t1150", b"t1250"],
                client.zrange("rate:slide", 0, -1))
    limiter(keys=["rate:expiring"], args=[int(time.time() * 1000), 200, 3, "only"])
    check.true(f"{label}: PEXPIRE set to the window", 0 < client.pttl("rate:expiring") <= 200,
               client.pttl("rate:expiring"))
    time.sleep(0.3)
    check.equal(f"{label}: the key expired with its window", 0, client.exists("rate:expiring"))


def run(check, label, port):
    client = redis.Redis(host="127.0.0.1", port=port)
    other = redis.Redis(host="127.0.0.1", port=port)
    client.flushall()
    seconds = run_processes(check, label, lock_worker, port, ROUNDS)
    print(f"{label}: {PROCESSES} x {ROUNDS} locked increments in {seconds:.2f} s")
    check.equal(f"{label}: the counter is exact", PROCESSES * ROUNDS, int(client.get("counter")))
    check.equal(f"{label}: nobody else was inside the critical section", None,
                client.get("overlaps"))
    check.equal(f"{label}: the lock is free at the end", 0, client.exists("counter:lock"))
    seconds = run_processes(check, label, limiter_worker, port, REQUESTS)
    print(f"{label}: {PROCESSES} x {REQUESTS} rate-limited requests in {seconds:.2f} s")
    check.equal(f"{label}: exactly the limit allowed", LIMIT, int(client.get("rate:allowed") or 0))
    check.equal(f"{label}: the window holds the limit", LIMIT, client.zcard("rate:shared"))
    for step, args in ((lost_lock, (client, other)), (sliding_window, (client,))):
        try:
            step(check, label, *args)
        except Exception as error:   # a script error: counted, the rest goes on
            check.true(f"{label}: {step.__name__} ran", False, f"{type(error).__name__}: {error}")
    client.close()
    other.close()


def main():
    check = kvtest.Checker("test_app_locks")
    for label, port in apptest.servers():
        run(check, label, port)
    check.finish()


if __name__ == "__main__":
    main()
