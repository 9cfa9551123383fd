"""SHUTDOWN as Redis 7.0 answers it, and the stop it makes.

Its flag errors (unknown flag, NOSAVE with SAVE, ABORT with another flag, ABORT with no
shutdown under way) and SHUTDOWN inside MULTI (refused at queueing, EXEC aborts) go to kv and
to a real redis-server and must get the same bytes. Then SHUTDOWN stops kv as SIGTERM does:
the caller's connection closes without a reply, another client's pipelined commands sent
before it are all answered, kv exits 0 with Redis's log line, and redis-cli's SHUTDOWN NOSAVE
returns 0. SHUTDOWN SAVE whose save fails (its --dir removed) fails as Redis's does, and the
server goes on. SIGTERM with save points saves first, as Redis's does.
"""
import os
import subprocess
import tempfile
import time

import kvtest

KV_OPTIONS = ["--hugepages", "off", "--maxmemory", "16mb"]

# Each step is one exchange: the commands sent together, and how many replies they get.
ERROR_STEPS = [
    ([["SHUTDOWN", "foo"]], 1),
    ([["SHUTDOWN", "ABORT"]], 1),
    ([["SHUTDOWN", "NOSAVE", "SAVE"]], 1),
    ([["SHUTDOWN", "abort", "now"]], 1),
    ([["SHUTDOWN", "NOW", "force", "bogus"]], 1),
    ([["MULTI"], ["SET", "k", "v"], ["SHUTDOWN", "NOSAVE"], ["EXEC"]], 4),
    ([["MULTI"], ["SHUTDOWN"], ["DISCARD"]], 3),
    ([["GET", "k"]], 1),
]


def exchange(client, step):
    commands, count = step
    client.send(b"".join(kvtest.encode(*command) for command in commands))
    return client.replies(count)


def wait_exit(server, seconds=10.0):
    """The process's exit status once it has exited by itself (None after `seconds`); its log
    is closed so that Server.stop() does not count the exit as a problem."""
    try:
        status = server.process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return None
    server.log.flush()
    text = server.log_text()
    server.log.close()
    server.stopped_log = text
    return status


def signal_stop(check):
    """SIGTERM saves the RDB file when save points are set, as Redis 7.0's does: the data are
    there after a restart; with no save points nothing is written."""
    directory = tempfile.mkdtemp(prefix="kvtest-sigterm-")
    kv = kvtest.start_kv(*KV_OPTIONS, "--dir", directory, "--save", "3600 1")
    with kv.connect() as client:
        check.equal("SET before SIGTERM", b"+OK\r\n", client.call("SET", "kept", "by-sigterm"))
    check.equal("kv exits 0 on SIGTERM after its save", 0, kv.stop())
    log = kv.log_text()
    check.true("kv logs Redis's final save lines",
               "Saving the final RDB snapshot before exiting." in log and
               "DB saved on disk" in log, log[-600:])
    check.true("dump.rdb is written", os.path.exists(os.path.join(directory, "dump.rdb")))
    again = kvtest.start_kv(*KV_OPTIONS, "--dir", directory, "--save", "")
    with again.connect() as client:
        check.equal("the key is there after the restart", b"$10\r\nby-sigterm\r\n",
                    client.call("GET", "kept"))
        check.equal("SET before a SIGTERM without save points", b"+OK\r\n",
                    client.call("SET", "kept", "changed"))
    again.stop()
    third = kvtest.start_kv(*KV_OPTIONS, "--dir", directory, "--save", "")
    with third.connect() as client:
        check.equal("without save points SIGTERM saves nothing", b"$10\r\nby-sigterm\r\n",
                    client.call("GET", "kept"))
    third.stop()


def main():
    check = kvtest.Checker("test_shutdown", verbose=False)
    kvtest.need_kv_binary()
    redis = kvtest.start_redis()
    gone_dir = tempfile.mkdtemp(prefix="kvtest-shutdown-")
    kv = kvtest.start_kv(*KV_OPTIONS, "--dir", gone_dir)
    os.rmdir(gone_dir)  # the save has nowhere to go
    try:
        with kv.connect() as kv_client, redis.connect() as redis_client:
            for step in ERROR_STEPS:
                want = exchange(redis_client, step)
                got = exchange(kv_client, step)
                check.equal(f"{step[0]}: Redis's replies", want, got)
            # CONFIG SET save: Redis's checks and its canonical text (kv's default is "").
            for value in ("60 5 10 20", "abc", "1 2 3", " 0 1", "0 1", "5 -1", "3600 1", ""):
                for command in (["CONFIG", "SET", "save", value], ["CONFIG", "GET", "save"]):
                    check.equal(f"{command} as Redis", redis_client.call(*command),
                                kv_client.call(*command))
            # SAVE into a removed directory fails, and kv says so as Redis does.
            check.equal("SHUTDOWN SAVE fails", b"-ERR Errors trying to SHUTDOWN. Check logs.\r\n",
                        kv_client.call("SHUTDOWN", "SAVE"))
            check.equal("and kv goes on", b"+PONG\r\n", kv_client.call("PING"))
        # The stop: another client's pipeline, sent before SHUTDOWN, is answered whole.
        with kv.connect() as other, kv.connect() as caller:
            other.send(b"".join(kvtest.encode("INCR", "n") for _ in range(200)))
            replies = other.replies(200)
            check.equal("the other client's 200 INCRs answered", b":200\r\n", replies[-1])
            caller.send(kvtest.encode("SHUTDOWN"))
            closed_silently = False
            try:
                caller.reply()
            except kvtest.ConnectionClosed as closed:
                closed_silently = closed.partial == b""
            check.true("the caller's connection closes without a reply", closed_silently)
        status = wait_exit(kv)
        check.equal("kv exits 0 after SHUTDOWN", 0, status)
        check.true("kv logs the requested shutdown",
                   "user requested shutdown" in getattr(kv, "stopped_log", ""))
        # redis-cli's SHUTDOWN NOSAVE: status 0, as against Redis.
        kv2 = kvtest.start_kv(*KV_OPTIONS)
        result = subprocess.run(["redis-cli", "-p", str(kv2.port), "SHUTDOWN", "NOSAVE"],
                                capture_output=True, text=True, timeout=30)
        check.equal("redis-cli SHUTDOWN NOSAVE returns 0", 0, result.returncode)
        check.equal("kv exits 0 after redis-cli's SHUTDOWN NOSAVE", 0, wait_exit(kv2))
        kv2.stop()
        signal_stop(check)
    finally:
        kv.stop()
        redis.stop()
    check.finish()


if __name__ == "__main__":
    main()
