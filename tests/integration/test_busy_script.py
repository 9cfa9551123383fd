"""A slow script lets other clients in as Redis 7.0 does, with Redis's bytes.

On kv and on a real redis-server alike, with busy-reply-threshold set to 100 ms (CONFIG SET,
and its alias lua-time-limit read back), client A runs a script that loops on
redis.call('TIME') (for up to 10 s when it is to be killed, 1.5 s when it cannot be). Client
B, once the threshold has passed:
1. EVAL: gets -BUSY for GET, for a pipeline of three commands (three -BUSY), for FUNCTION
   STATS and FUNCTION KILL (an EVAL takes SCRIPT KILL), an unknown command's own error; then
   SCRIPT KILL answers +OK, A gets Redis's "Script killed by user with SCRIPT KILL..." error
   with the script's SHA-1 and line, and both clients are served again (SCRIPT KILL now:
   -NOTBUSY).
2. FCALL of a library function: -BUSY with FUNCTION KILL's words, FUNCTION STATS shows the
   running function and its command, SCRIPT KILL refused, FUNCTION KILL stops it.
3. A script that wrote before looping: SCRIPT KILL answers -UNKILLABLE and the script runs to
   its end, whose result A gets; the key it wrote is there.
Every reply B and A get is compared between the servers (FUNCTION STATS with its duration
masked, and the line a function was killed at: wherever the count hook fired), and each
kill is checked to end its script well before its 10 s; SHUTDOWN and SHUTDOWN SAVE get -BUSY
meanwhile. Then kv serves on (PING), and the process allocator's counter has not moved.
Then which commands run while a script is busy, as Redis 7.0's ALLOW_BUSY flags and its
processCommand order decide (allowed_while_busy), during an EVAL and during an FCALL: AUTH,
HELLO, MULTI, DISCARD, WATCH, UNWATCH, RESET and QUIT run; subcommand errors (unknown, wrong
arity) come before -BUSY; inside MULTI the allowed ones are queued (SCRIPT KILL too: it does
not kill), SHUTDOWN is refused as in any transaction, WATCH and MULTI refuse themselves, other
commands get -BUSY and fail the transaction, and EXEC aborts with the BUSY reason (inside
MULTI or not); a pipelined MULTI/SET/EXEC; a transaction failed during the busy time aborts
after it. Every reply is compared with Redis's (HELLO's id masked).
Last, on each server, SHUTDOWN NOSAVE while a script is busy stops the server (exit 0).
"""
import re
import subprocess
import time

import kvtest

KV_OPTIONS = ["--connections-max", "16", "--hugepages", "off", "--maxmemory", "32mb",
              "--lua-heap-bytes", "4mb"]
LOOP = (b"local t = redis.call('TIME') local start = t[1] * 1000000 + t[2] "
        b"while true do local n = redis.call('TIME') "
        b"if n[1] * 1000000 + n[2] - start > tonumber(ARGV[1]) * 1000 then break end end "
        b"return 'done'")
WRITER = b"redis.call('SET', KEYS[1], 'written') " + LOOP
LIBRARY = (b"#!lua name=slow\nredis.register_function('spin', function(keys, args)\n"
           b"local t = redis.call('TIME') local start = t[1] * 1000000 + t[2]\n"
           b"while true do local n = redis.call('TIME')\n"
           b"if n[1] * 1000000 + n[2] - start > tonumber(args[1]) * 1000 then break end end\n"
           b"return 'done' end)")
BUSY_WAIT_SECONDS = 0.35  # past the 100 ms threshold, so the server has read A's script first
# Scripts that get killed loop for up to 10 s: the kill, not the clock, ends them, however
# slowly a loaded host lets the probes through. The writer cannot be killed and runs 1.5 s.
KILLED_LOOP_MS = 10000
WRITER_LOOP_MS = 1500


def masked(reply):
    """FUNCTION STATS with the running script's duration_ms masked."""
    value = kvtest.decode(reply)
    if isinstance(value, list) and value and isinstance(value[1], list):
        value[1][5] = "duration"
    return value


def scenario(server):
    """Runs the three cases on one server; returns what the clients got, in order."""
    got = []
    with server.connect() as a, server.connect() as b:
        got.append(b.call(b"CONFIG", b"SET", b"busy-reply-threshold", b"100"))
        got.append(b.call(b"CONFIG", b"GET", b"lua-time-limit"))
        got.append(b.call(b"FUNCTION", b"LOAD", b"REPLACE", LIBRARY))

        def slow(command, probes, kill):
            started = time.monotonic()
            a.send(kvtest.encode(*command))
            time.sleep(BUSY_WAIT_SECONDS)
            for probe in probes:
                if probe == "pipeline":
                    b.send(kvtest.encode(b"GET", b"x") + kvtest.encode(b"INCR", b"x") +
                           kvtest.encode(b"PING"))
                    got.extend(b.replies(3))
                elif probe[:2] == [b"FUNCTION", b"STATS"]:
                    got.append(masked(b.call(*probe)))
                else:
                    got.append(b.call(*probe))
            got.append(b.call(*kill))
            # The line a kill stops at is where the count hook fired: any of the loop's.
            got.append(re.sub(rb"on @user_function:[0-9]+\.", b"on @user_function:N.",
                              a.reply()))
            return time.monotonic() - started

        eval_seconds = slow([b"EVAL", LOOP, b"0", b"%d" % KILLED_LOOP_MS],
                            [[b"GET", b"x"], "pipeline", [b"FUNCTION", b"STATS"],
                             [b"FUNCTION", b"KILL"], [b"NOSUCHCOMMAND"], [b"SHUTDOWN"],
                             [b"SHUTDOWN", b"SAVE"], [b"SHUTDOWN", b"ABORT"]],
                            [b"SCRIPT", b"KILL"])
        got.append(b.call(b"SCRIPT", b"KILL"))
        got.append(a.call(b"PING"))
        fcall_seconds = slow([b"FCALL", b"SPIN", b"0", b"%d" % KILLED_LOOP_MS],
                             [[b"GET", b"x"], [b"FUNCTION", b"STATS"], [b"SCRIPT", b"KILL"]],
                             [b"FUNCTION", b"KILL"])
        got.append(b.call(b"FUNCTION", b"KILL"))
        writer_seconds = slow([b"EVAL", WRITER, b"1", b"w", b"%d" % WRITER_LOOP_MS],
                              [[b"GET", b"x"]],
                              [b"SCRIPT", b"KILL"])
        got.append(b.call(b"GET", b"w"))
        got.append(a.call(b"SET", b"after", b"1"))
        got.append(b.call(b"GET", b"after"))
    return got, eval_seconds, fcall_seconds, writer_seconds


BUSY_PROBES = [
    [b"PING"], [b"SCRIPT", b"BOGUS"], [b"SCRIPT", b"LOAD"], [b"SCRIPT", b"KILL", b"x"],
    [b"FUNCTION", b"STATS", b"x"], [b"FUNCTION", b"NOPE"], [b"CLIENT", b"NOPE"],
    [b"CONFIG", b"GET"], [b"SCRIPT"], [b"AUTH", b"x"], [b"AUTH", b"default", b"x"],
    [b"AUTH", b"a", b"b", b"c"], [b"HELLO", b"2"], [b"HELLO", b"4"], [b"WATCH", b"k"],
    [b"UNWATCH"], [b"EXEC"], [b"WATCH", b"k"], [b"MULTI"], [b"GET", b"k"],
    [b"FUNCTION", b"STATS"], [b"SHUTDOWN"], [b"WATCH", b"k"], [b"MULTI"], [b"UNWATCH"],
    [b"SCRIPT", b"KILL"], [b"FUNCTION", b"KILL"], [b"HELLO", b"3"], [b"AUTH", b"x"],
    [b"EXEC"], [b"DISCARD"], [b"MULTI"], [b"DISCARD"], [b"DISCARD"], [b"MULTI"],
    [b"GET"], [b"NOSUCH"], [b"RESET"], [b"EXEC"], [b"SUBSCRIBE", b"ch"], [b"CLIENT", b"ID"],
    [b"HELLO", b"2", b"SETNAME", b"n"], [b"GET", b"k"], [b"HELLO", b"2"], "pipeline", [b"QUIT"],
]


def allowed_while_busy(server):
    """The probes above while an EVAL, then an FCALL, is busy; what the clients got."""
    got = []
    with server.connect() as a:
        a.call(b"CONFIG", b"SET", b"busy-reply-threshold", b"100")
        a.call(b"FUNCTION", b"LOAD", b"REPLACE", LIBRARY)
        for slow, kill in (([b"EVAL", LOOP, b"0", b"%d" % KILLED_LOOP_MS], b"SCRIPT"),
                           ([b"FCALL", b"SPIN", b"0", b"%d" % KILLED_LOOP_MS], b"FUNCTION")):
            with server.connect() as b, server.connect() as c, server.connect() as d:
                got.append(c.call(b"MULTI"))
                a.send(kvtest.encode(*slow))
                time.sleep(BUSY_WAIT_SECONDS)
                got.append(c.call(b"INCR", b"x"))
                got.append(c.call(b"QUIT", b"x"))
                # Pipelined (the replies come in order either way): fewer busy passes to wait for.
                commands = []
                for probe in BUSY_PROBES:
                    commands += ([[b"MULTI"], [b"SET", b"k", b"v"], [b"EXEC"]]
                                 if probe == "pipeline" else [probe])
                b.send(b"".join(kvtest.encode(*command) for command in commands))
                for reply in b.replies(len(commands)):
                    got.append(re.sub(rb"\$2\r\nid\r\n:\d+\r\n", b"$2\r\nid\r\n:?\r\n",
                                      reply))
                got.append(d.call(kill, b"KILL"))
                got.append(re.sub(rb"on @user_function:[0-9]+\.", b"on @user_function:N.",
                                  a.reply()))
    return got


def shutdown_nosave(server):
    """SHUTDOWN NOSAVE while a script is busy: the server exits 0 (True), and the script's
    client sees its connection close or the killed script's error."""
    with server.connect() as a, server.connect() as b:
        b.call(b"CONFIG", b"SET", b"busy-reply-threshold", b"100")
        a.send(kvtest.encode(b"EVAL", LOOP, b"0", b"%d" % KILLED_LOOP_MS))
        time.sleep(BUSY_WAIT_SECONDS)
        b.send(kvtest.encode(b"SHUTDOWN", b"NOSAVE"))
        try:
            status = server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            return False, "still running 10 s after SHUTDOWN NOSAVE"
        try:
            last = a.reply()
        except kvtest.ConnectionClosed:
            last = b"(closed)"
    server.log.close()  # it stopped by itself, as asked: not a problem for stop()
    return status == 0 and (last == b"(closed)" or last.startswith(b"-ERR Script killed")), \
        f"exit status {status}, the script's client got {last!r}"


def main():
    check = kvtest.Checker("test_busy_script", verbose=False)
    with kvtest.start_kv(*KV_OPTIONS) as kv, kvtest.start_redis() as redis:
        with kv.connect() as probe:
            allocations_before = kvtest.info(probe, "memory").get("allocator_allocations")
        want, *_ = scenario(redis)
        got, eval_seconds, fcall_seconds, writer_seconds = scenario(kv)
        check.equal("replies count", len(want), len(got))
        for index, (expected, actual) in enumerate(zip(want, got)):
            check.equal(f"reply {index}", expected, actual)
        check.true("SCRIPT KILL ended the EVAL early", eval_seconds < 5, f"{eval_seconds:.2f} s")
        check.true("FUNCTION KILL ended the FCALL early", fcall_seconds < 5,
                   f"{fcall_seconds:.2f} s")
        check.true("the writing script ran to its end", writer_seconds >= 1.5,
                   f"{writer_seconds:.2f} s")
        check.true("a BUSY reply was seen", any(isinstance(r, bytes) and r.startswith(b"-BUSY")
                                                for r in got))
        want = allowed_while_busy(redis)
        got = allowed_while_busy(kv)
        check.equal("allowed while busy: replies count", len(want), len(got))
        for index, (expected, actual) in enumerate(zip(want, got)):
            check.equal(f"allowed while busy: reply {index}", expected, actual)
        with kv.connect() as probe:
            check.equal("kv serves on", b"+PONG\r\n", probe.call(b"PING"))
            allocations_after = kvtest.info(probe, "memory").get("allocator_allocations")
            check.equal("nothing allocated from the system", allocations_before,
                        allocations_after)
    # SHUTDOWN NOSAVE is a way out of a slow script, on both servers.
    for start in (kvtest.start_redis, lambda: kvtest.start_kv(*KV_OPTIONS)):
        server = start()
        try:
            ok, detail = shutdown_nosave(server)
            check.true(f"{server.name}: SHUTDOWN NOSAVE ends a busy server", ok, detail)
        finally:
            server.stop()
    check.finish()


if __name__ == "__main__":
    main()
