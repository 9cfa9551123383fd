"""python3-limits 2.8's fixed and moving windows limit on kv as on redis-server.

limits' RedisStorage keeps a fixed window as a counter (a Lua script: INCRBY, and EXPIRE on
the first hit), an elastic fixed window as INCRBY + EXPIRE on every hit, and a moving window
as a list of hit timestamps (Lua: LINDEX to see whether the limit-th newest hit is still in
the window, then LPUSH, LTRIM, EXPIRE; reading it, LRANGE, and a script that returns
{oldest, count}, or an empty array when `oldest` is nil); reset() is a script over KEYS.

The same timed scenario runs on a real redis-server and on kv side by side (both servers up,
each step done on both, so the waits are shared), with one-second windows:
- t0: fixed "3 per second": three hits allowed, the fourth refused, test() and the window's
  stats agree, another identifier is independent; elastic fixed the same; moving "3 per
  second": one hit; a moving window of cost 2 takes two of "3 per second" at once.
- t0 + 0.6 s: the fixed window still refuses (no early reset); the moving window takes two
  more hits and refuses a fourth; the cost-2 window refuses another cost 2, takes a cost 1.
- t0 + 1.3 s: the fixed window has reset (three hits again), the moving window frees only its
  t0 hit: one more allowed, the next refused (a fixed window would allow three).
- reset() deletes every LIMITER key, and a hit is allowed again.
Every verdict must be as expected on both servers.
"""
import time

import apptest
import kvtest

redis = kvtest.need_pyredis()
limits = apptest.need_modules("limits")
from limits import RateLimitItemPerSecond
from limits.storage import RedisStorage
from limits.strategies import (FixedWindowElasticExpiryRateLimiter, FixedWindowRateLimiter,
                               MovingWindowRateLimiter)

SECOND_GROUP = 0.6   # seconds after t0: inside every window opened at t0
AFTER_RESET = 1.3    # seconds after t0: past t0's windows, inside SECOND_GROUP's
LATE_SECONDS = 0.25  # a step that starts this late has lost its margin: the run is void


class Side:
    """One server's limiters."""

    def __init__(self, label, port):
        self.label = label
        self.storage = RedisStorage(f"redis://127.0.0.1:{port}/0")
        self.client = redis.Redis(host="127.0.0.1", port=port)
        self.client.flushall()
        self.fixed = FixedWindowRateLimiter(self.storage)
        self.elastic = FixedWindowElasticExpiryRateLimiter(self.storage)
        self.moving = MovingWindowRateLimiter(self.storage)


THREE = RateLimitItemPerSecond(3, 1)


def at_t0(check, side):
    label = side.label
    check.equal(f"{label}: fixed window, 4 hits", [True, True, True, False],
                [side.fixed.hit(THREE, "user") for _ in range(4)])
    check.equal(f"{label}: fixed window test() after the limit", False,
                side.fixed.test(THREE, "user"))
    check.equal(f"{label}: fixed window remaining", 0,
                side.fixed.get_window_stats(THREE, "user")[1])
    check.equal(f"{label}: fixed window counter", b"4", side.client.get(THREE.key_for("user")))
    ttl = side.client.pttl(THREE.key_for("user"))
    check.true(f"{label}: fixed window key expires within its second", 0 < ttl <= 1000, ttl)
    check.equal(f"{label}: fixed window, another identifier", True,
                side.fixed.hit(THREE, "someone else"))
    check.equal(f"{label}: elastic fixed window, 4 hits", [True, True, True, False],
                [side.elastic.hit(THREE, "elastic") for _ in range(4)])
    check.equal(f"{label}: moving window stats before any hit", 3,
                side.moving.get_window_stats(THREE, "mover")[1])
    check.equal(f"{label}: moving window, first hit", True, side.moving.hit(THREE, "mover"))
    check.equal(f"{label}: moving window remaining after it", 2,
                side.moving.get_window_stats(THREE, "mover")[1])
    check.equal(f"{label}: moving window, a hit of cost 2", True,
                side.moving.hit(THREE, "costly", cost=2))


def at_second_group(check, side):
    label = side.label
    check.equal(f"{label}: fixed window still refuses at t0 + {SECOND_GROUP} s", False,
                side.fixed.hit(THREE, "user"))
    check.equal(f"{label}: moving window, 3 more hits", [True, True, False],
                [side.moving.hit(THREE, "mover") for _ in range(3)])
    check.equal(f"{label}: moving window test() when full", False,
                side.moving.test(THREE, "mover"))
    check.equal(f"{label}: moving window holds 3 timestamps", 3,
                side.client.llen(THREE.key_for("mover")))
    check.equal(f"{label}: moving window cost 2 refused, cost 1 taken", [False, True],
                [side.moving.hit(THREE, "costly", cost=2), side.moving.hit(THREE, "costly")])


def after_reset(check, side):
    label = side.label
    check.equal(f"{label}: fixed window reset: 3 hits again, then refused",
                [True, True, True, False], [side.fixed.hit(THREE, "user") for _ in range(4)])
    check.equal(f"{label}: elastic fixed window reset", True, side.elastic.hit(THREE, "elastic"))
    check.equal(f"{label}: moving window frees only t0's hit", [True, False],
                [side.moving.hit(THREE, "mover") for _ in range(2)])
    check.equal(f"{label}: cost-2 window frees t0's two entries", [True, False],
                [side.moving.hit(THREE, "costly", cost=2), side.moving.hit(THREE, "costly")])
    keys = sorted(side.client.keys("LIMITER*"))
    check.equal(f"{label}: reset() deletes the LIMITER keys", len(keys), side.storage.reset())
    check.equal(f"{label}: no LIMITER key left", [], side.client.keys("LIMITER*"))
    check.equal(f"{label}: a hit after reset()", True, side.fixed.hit(THREE, "user"))


def wait_until(start, offset):
    """Sleep to start + offset; True when the step begins in time (within LATE_SECONDS)."""
    delay = start + offset - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    return time.monotonic() - (start + offset) < LATE_SECONDS


def run(check, sides):
    steps = ((0.0, at_t0), (SECOND_GROUP, at_second_group), (AFTER_RESET, after_reset))
    start = time.monotonic()
    for offset, step in steps:
        if not wait_until(start, offset):
            return False
        for side in sides:
            try:
                step(check, side)
            except Exception as error:   # e.g. a script error: counted, the other side goes on
                check.true(f"{side.label}: {step.__name__} ran", False,
                           f"{type(error).__name__}: {error}")
    return True


def main():
    check = kvtest.Checker("test_app_limits")
    with kvtest.start_redis() as redis_server, kvtest.start_kv(*apptest.KV_OPTIONS) as kv:
        sides = [Side("redis-server", redis_server.port), Side("kv", kv.port)]
        # A machine too loaded to keep the steps' timing would make the verdicts meaningless:
        # one retry, then a failure that says so.
        for attempt in range(2):
            if run(check, sides):
                break
            print(f"attempt {attempt + 1}: a step started over {LATE_SECONDS} s late; again")
            for side in sides:
                side.client.flushall()
        else:
            check.true("the timed steps ran on time", False, "machine too loaded")
    check.finish()


if __name__ == "__main__":
    main()
