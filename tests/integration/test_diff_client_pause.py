"""CLIENT PAUSE timeout [WRITE|ALL] and CLIENT UNPAUSE hold and release clients as Redis 7.0.

On kv and on a real redis-server alike, client A pauses and client B sends commands; every
reply is compared byte for byte, and whether B's command was held (it waited about the
pause) or ran at once is compared too. ALL holds everything, CLIENT UNPAUSE too; WRITE lets
reads, EVAL_RO and an EVAL whose shebang says no-writes run, and holds writes, a plain EVAL,
a write queued inside MULTI (then its EXEC runs at once); a read-only transaction runs;
unknown commands and wrong arities are answered at once; CLIENT UNPAUSE releases a held
write; a second pause keeps the later end and the stronger kind; the errors (arity, bad
timeout, negative, bad mode checked first, too many arguments) and PAUSE 0. Last, kv alone:
a client held for a second costs kv next to no CPU (no busy loop).
"""
import os
import time

import kvtest

KV_OPTIONS = ["--connections-max", "16", "--hugepages", "off", "--maxmemory", "32mb"]
HELD_SECONDS = 0.2  # a held command waited at least this (the pauses are 300 ms or more)


def scenario(server):
    out = []
    with server.connect() as a, server.connect() as b:
        def timed(*commands):
            started = time.monotonic()
            replies = [b.call(*command) for command in commands]
            out.append((replies, "held" if time.monotonic() - started >= HELD_SECONDS
                        else "at once"))

        out.append(a.call(b"CLIENT", b"PAUSE", b"500", b"ALL"))
        timed([b"CLIENT", b"UNPAUSE"])
        out.append(a.call(b"CLIENT", b"PAUSE", b"500", b"WRITE"))
        timed([b"GET", b"x"])
        timed([b"EVAL_RO", b"return 1", b"0"])
        timed([b"MULTI"], [b"SET", b"x", b"1"])
        timed([b"EXEC"])
        out.append(a.call(b"CLIENT", b"PAUSE", b"300", b"WRITE"))
        timed([b"MULTI"], [b"GET", b"x"], [b"EXEC"])
        timed([b"EVAL", b"#!lua flags=no-writes\nreturn 1", b"0"])
        timed([b"EVAL", b"return 1", b"0"])
        out.append(a.call(b"CLIENT", b"PAUSE", b"5000", b"WRITE"))
        timed([b"NOSUCH"], [b"GET"])
        started = time.monotonic()
        b.send(kvtest.encode(b"SET", b"y", b"1"))
        time.sleep(0.2)
        out.append(a.call(b"CLIENT", b"UNPAUSE"))
        out.append(b.reply())
        out.append(("released by UNPAUSE", time.monotonic() - started < 2))
        out.append(a.call(b"CLIENT", b"PAUSE", b"300", b"WRITE"))
        out.append(a.call(b"CLIENT", b"PAUSE", b"100", b"ALL"))
        timed([b"SET", b"z", b"1"])
        for command in ([b"CLIENT", b"PAUSE"], [b"CLIENT", b"PAUSE", b"x"],
                        [b"CLIENT", b"PAUSE", b"-1"], [b"CLIENT", b"PAUSE", b"10", b"bad"],
                        [b"CLIENT", b"PAUSE", b"x", b"bad"], [b"CLIENT", b"UNPAUSE", b"x"],
                        [b"CLIENT", b"PAUSE", b"1", b"ALL", b"x"], [b"CLIENT", b"PAUSE", b"0"],
                        [b"GET", b"x"], [b"GET", b"y"], [b"GET", b"z"]):
            out.append(a.call(*command))
    return out


def cpu_seconds(pid):
    """The process's user and system CPU time so far (/proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    check = kvtest.Checker("test_diff_client_pause", verbose=False)
    with kvtest.start_kv(*KV_OPTIONS) as kv, kvtest.start_redis() as redis:
        want, got = scenario(redis), scenario(kv)
        check.equal("step count", len(want), len(got))
        for index, (expected, actual) in enumerate(zip(want, got)):
            check.equal(f"step {index}", expected, actual)
        check.true("some command was held", any(isinstance(r, tuple) and r[1] == "held"
                                                for r in got), repr(got))
        with kv.connect() as a, kv.connect() as b:
            a.call(b"CLIENT", b"PAUSE", b"1000", b"ALL")
            before = cpu_seconds(kv.process.pid)
            started = time.monotonic()
            reply = b.call(b"PING")
            waited = time.monotonic() - started
            spent = cpu_seconds(kv.process.pid) - before
            check.equal("the held PING answered after the pause", b"+PONG\r\n", reply)
            check.true("it waited the pause", waited >= 0.9, f"{waited:.2f} s")
            check.true("kv did not spin while it waited", spent < 0.3, f"{spent:.2f} s CPU")
    check.finish()


if __name__ == "__main__":
    main()
