"""The seed article's redis-cli session gives the exact expected output on kv, and Redis's.

Runs one `redis-cli -h 127.0.0.1 -p PORT <command>` process per command, in order, against kv
and against a real redis-server. Twice: first with stdout a pipe, where redis-cli prints raw
values one per line, then with --no-raw, which prints what a terminal shows ("(integer) 1",
quoted strings, numbered array elements), so a bulk "1" and an integer 1 cannot be confused.
Each transcript must equal the literal text below and the redis-server transcript. Last, SIGTERM
stops kv cleanly (status 0) while a client is still connected.
"""
import subprocess

import kvtest

SESSION = [
    "PING", "ECHO zig", "SET test zig", "GET test", "RPUSH list test", "RPUSH list again",
    "RPUSH list foo bar", "LRANGE list 0 1", "LRANGE list 0 3", "LPOP list", "LPOP list 2",
    "LPUSH foo a", "LPUSH foo b", "LPUSH foo c", "LRANGE foo 0 2", "LLEN foo", "LPOP foo",
]

EXPECTED_RAW = """\
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

EXPECTED_FORMATTED = """\
PONG
"zig"
OK
"zig"
(integer) 1
(integer) 2
(integer) 4
1) "test"
2) "again"
1) "test"
2) "again"
3) "foo"
4) "bar"
"test"
1) "again"
2) "foo"
(integer) 1
(integer) 2
(integer) 3
1) "c"
2) "b"
3) "a"
(integer) 3
"c"
"""


def transcript(port, mode_flags):
    """stdout of the whole session, one redis-cli process per command."""
    out = []
    for command in SESSION:
        argv = ["redis-cli", "-h", "127.0.0.1", "-p", str(port)] + mode_flags + command.split()
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            out.append(f"<redis-cli exit {result.returncode}: {result.stderr.strip()}>\n")
        out.append(result.stdout)
    return "".join(out)


def main():
    kvtest.need_program("redis-cli")
    check = kvtest.Checker("test_seed_session")
    with kvtest.start_kv(*kvtest.SMALL) as kv, kvtest.start_redis() as redis:
        for mode, flags, expected in (("raw (piped)", [], EXPECTED_RAW),
                                      ("--no-raw", ["--no-raw"], EXPECTED_FORMATTED)):
            got = transcript(kv.port, flags)
            print(f"kv transcript, {mode}:\n{got}")
            check.equal(f"{mode}: kv's transcript is the expected text", expected, got)
            check.equal(f"{mode}: kv's transcript equals redis-server's",
                        transcript(redis.port, flags), got)
            for server in (kv, redis):  # the next mode starts from an empty store
                with server.connect() as client:
                    check.equal(f"{mode}: DEL test list foo on {server.name}", b":3\r\n",
                                client.call("DEL", "test", "list", "foo"))
        if not kvtest.KV_IS_REDIS:
            client = kv.connect()   # an open client must not hold up a clean stop
            check.equal("SIGTERM stops kv with exit status 0", 0, kv.stop())
            check.true("kv logged a clean stop ('bye')", "bye" in kv.log_text(),
                       kvtest.shorten(kv.log_text()[-500:]))
            client.close()
    check.finish()


if __name__ == "__main__":
    main()
