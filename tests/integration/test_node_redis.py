"""node-redis 5 speaks RESP3 to kv as it does to redis-server, client-side caching included.

node-redis 5 (npm `redis`, pinned in node/package.json; scripts/install-deps.sh installs it
with `npm ci`) is one of the libraries that speak RESP3 first. node/resp3.mjs runs the same
steps against each server and prints one JSON line per step; this test runs it against a real
redis-server 7.0 and against kv and compares the lines one by one: HELLO 3 through
createClient({RESP: 3}); replies of every RESP3 type as the library decodes them (maps, sets,
doubles including inf, nulls, Lua's booleans, big numbers and verbatim strings), errors,
MULTI/EXEC, a woken BLPOP and a timed-out one, RESP3 pub/sub pushes for a channel and a
pattern, and client-side caching (clientSideCache: CLIENT TRACKING with invalidation pushes)
over 5,000 keys read twice, half of them then changed by another client: every read after
the change must be right, and the cache's hit and miss counts must be Redis's (an
invalidation Redis would not send lowers the hits).
"""
import json
import os
import shutil
import subprocess

import kvtest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "node", "resp3.mjs")
MODULES = os.path.join(HERE, "node", "node_modules", "redis")
RUN_SECONDS = 120   # one run of resp3.mjs (about 2 s)


def run(port):
    done = subprocess.run(["node", SCRIPT, str(port)], capture_output=True, text=True,
                          timeout=RUN_SECONDS)
    if done.returncode != 0:
        raise AssertionError(f"resp3.mjs on port {port} exited {done.returncode}: "
                             f"{done.stderr[-2000:]}")
    return [json.loads(line) for line in done.stdout.splitlines()]


def main():
    if shutil.which("node") is None or not os.path.isdir(MODULES):
        raise SystemExit("node or node-redis missing: run scripts/install-deps.sh "
                         "(it installs nodejs and runs npm ci in tests/integration/node)")
    check = kvtest.Checker("node_redis")
    with kvtest.start_redis() as redis_server:
        expected = run(redis_server.port)
    with kvtest.start_kv("--hugepages", "off") as kv:
        got = run(kv.port)
    check.equal("steps", [step[0] for step in expected], [step[0] for step in got])
    for want, have in zip(expected, got):
        check.equal(want[0], want[1], have[1])
    # The scenario itself did what it says on redis-server (so that equality means something).
    steps = dict((name, value) for name, value in expected)
    check.equal("redis-server: every changed read fresh", [5000, 0],
                steps["reads after changes: right, wrong"])
    check.equal("redis-server: the cache served the second reads", [7500, 7500],
                steps["cache hits, misses"])
    check.equal("the script ran to its end", True, steps.get("done"))
    check.finish()


if __name__ == "__main__":
    main()
