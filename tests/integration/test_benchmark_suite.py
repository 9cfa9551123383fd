"""redis-benchmark's whole default suite (no -t, its default -n 100000 and -c 50) runs
against kv on its default configuration with no error reply.

PING_INLINE, PING_MBULK, SET, GET, INCR, LPUSH, RPUSH, LPOP, RPOP, SADD, HSET, SPOP, ZADD,
ZPOPMIN, LRANGE_100/300/500/600 and MSET: redis-benchmark 7 stops at the first error reply
(exit status 1), so a clean exit with every test's line proves there was none. The one list
the suite grows takes 200,000 pushes with no cap: the budget is the only limit. Under ASan
(KV_SANITIZE) the suite runs with -n 20000: that build checks memory errors, not scale, and
the default -n takes two minutes of CI's twenty there; the plain build runs the default.
"""
import csv
import io
import subprocess

import kvtest

EXPECTED = ["PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "LPUSH", "RPUSH", "LPOP", "RPOP",
            "SADD", "HSET", "SPOP", "ZADD", "ZPOPMIN", "LRANGE_100 (first 100 elements)",
            "LRANGE_300 (first 300 elements)", "LRANGE_500 (first 500 elements)",
            "LRANGE_600 (first 600 elements)", "MSET (10 keys)"]


def main():
    check = kvtest.Checker("test_benchmark_suite", verbose=False)
    kvtest.need_program("redis-benchmark")
    with kvtest.start_kv("--hugepages", "off") as kv:
        requests = ["-n", "20000"] if kvtest.SANITIZED else []
        result = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(kv.port),
                                 "--csv", *requests],
                                capture_output=True, text=True, timeout=600)
        check.equal("redis-benchmark exit status", 0, result.returncode)
        rows = list(csv.DictReader(io.StringIO(
            "\n".join(line for line in result.stdout.splitlines() if line.startswith('"')))))
        names = [row["test"] for row in rows]
        for name in EXPECTED:
            check.true(f"{name} ran", name in names)
        errors = [line for line in (result.stdout + result.stderr).splitlines()
                  if "error" in line.lower() and not line.startswith('"')]
        check.equal("no error replies", [], errors[:5])
        check.true("every test has a rate", all(float(row["rps"]) > 0 for row in rows))
        with kv.connect() as client:
            check.equal("kv still answers", b"+PONG\r\n", client.call("PING"))
            length = kvtest.decode(client.call("LLEN", "mylist"))
            check.true(f"the suite's list grew past the seed's cap of 50 ({length})",
                       isinstance(length, int) and length > 50)
    check.finish()


if __name__ == "__main__":
    main()
