"""The seed article's redis-cli session against kv: exact output, and the same as Redis's.

Runs one `redis-cli -h 127.0.0.1 -p PORT <command>` process per command (stdout is a pipe, so
redis-cli prints raw values, one per line) and compares the whole transcript with the literal
expected text and with the transcript of the same session against a real redis-server.
"""
import subprocess

import harness

SESSION = [
    "PING", "ECHO zig", "SET test zig", "GET test", "RPUSH list test", "RPUSH list again",
    "RPUSH list foo bar", "LRANGE list 0 1", "LRANGE list 0 3", "LPOP list", "LPOP list 2",
    "LPUSH foo a", "LPUSH foo b", "LPUSH foo c", "LRANGE foo 0 2", "LLEN foo", "LPOP foo",
]

EXPECTED = """\
PONG
zig
OK
zig
1
2
4
test
again
test
again
foo
bar
test
again
foo
1
2
3
c
b
a
3
c
"""


def transcript(port):
    out = []
    for command in SESSION:
        result = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port)] + command.split(),
                                capture_output=True, text=True, timeout=30, check=True)
        out.append(result.stdout)
    return "".join(out)


def main():
    checks = harness.Checks("test_seed_session")
    kv = harness.start_kv(*harness.SMALL)
    redis = harness.start_redis()
    try:
        got = transcript(kv.port)
        checks.equal(got, EXPECTED, "kv transcript equals the seed's expected output")
        checks.equal(got, transcript(redis.port), "kv transcript equals redis-server's")
        client = kv.connect()  # an open client does not hold up a clean stop
        checks.equal(kv.stop(), 0, "SIGTERM stops kv with status 0")
        checks.true("bye" in kv.log_text(), "kv logged its clean stop")
        client.close()
    finally:
        kv.stop()
        redis.stop()
    checks.exit()


if __name__ == "__main__":
    main()
