"""SIGHUP re-reads the configuration while kv serves, without allocating.

kv starts from a config file (key_count 100, maxmemory 16mb). The file is edited (key_count)
and kv gets SIGHUP: it logs that key_count changed and waits for a restart (it is fixed at
startup), keeps serving with its cap of 100 (the 101st key is refused naming 100), and its
allocator counter does not move. With the file restored, SIGHUP logs that nothing changed. A
broken file is reported and the running configuration stays. The runtime options
(requirepass, hz, maxmemory) and Redis's parsed parameters (hash-max-listpack-entries) apply at once: new clients need the new password, and a lower
maxmemory shows in CONFIG GET and INFO. A maxmemory past the heap kv started with is not
applied (as CONFIG SET refuses it): the log says so and the running one stays.
"""
import os
import signal
import tempfile
import time

import harness


def wait_log(kv, text, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if text in kv.log_text():
            return True
        time.sleep(0.05)
    return False


def main():
    checks = harness.Checks("test_sighup")
    original = "key_count 100\nconnections_max 8\nhugepages off\nmaxmemory 16mb\n"
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as conf:
        conf.write(original)
    port = harness.free_port()
    try:
        with harness.Server([harness.KV_BIN, "--config", conf.name, "--port", str(port)], port,
                            "kv").wait_ready() as kv:
            client = kv.connect()
            before = harness.info(client, "memory").get("allocator_allocations")
            with open(conf.name, "w") as f:
                f.write(original.replace("key_count 100", "key_count 200"))
            os.kill(kv.pid, signal.SIGHUP)
            checks.true(wait_log(kv, "option key_count changed"), "SIGHUP reports key_count")
            checks.true("restart" in kv.log_text(), "and says it needs a restart")
            checks.equal(client.call("PING"), b"+PONG\r\n", "kv serves after SIGHUP")
            checks.equal(client.call("CONFIG", "GET", "key_count"),
                         b"*2\r\n$9\r\nkey_count\r\n$3\r\n100\r\n", "the running cap stays 100")
            client.send(b"".join(harness.encode("SET", f"k{i}", "v") for i in range(100)))
            stored = [client.reply() for _ in range(100)]
            checks.equal(stored, [b"+OK\r\n"] * 100, "100 keys fit")
            checks.equal(client.call("SET", "k100", "v"),
                         b"-ERR store is full (key_count is 100 keys)\r\n",
                         "the 101st key is refused by the running cap, not the file's 200")
            checks.equal(client.call("FLUSHALL"), b"+OK\r\n", "FLUSHALL")
            with open(conf.name, "w") as f:
                f.write(original)
            os.kill(kv.pid, signal.SIGHUP)
            checks.true(wait_log(kv, "nothing changed"), "restored file: nothing changed")
            with open(conf.name, "w") as f:
                f.write("key_count zero\n")
            os.kill(kv.pid, signal.SIGHUP)
            checks.true(wait_log(kv, "not reloaded"), "a broken file is reported")
            checks.equal(client.call("SET", "still", "here"), b"+OK\r\n", "still serving")
            checks.equal(client.call("HSET", "h0", "a", "1", "b", "2", "c", "3"), b":3\r\n",
                         "a hash written under the default thresholds")
            checks.equal(client.call("OBJECT", "ENCODING", "h0"), b"$8\r\nlistpack\r\n",
                         "is a listpack")
            # The runtime options apply at once: requirepass and hz.
            with open(conf.name, "w") as f:
                f.write(original.replace("16mb", "8mb") + "requirepass s3cret\nhz 50\n"
                        "hash-max-listpack-entries 2\n")
            os.kill(kv.pid, signal.SIGHUP)
            checks.true(wait_log(kv, "option requirepass changed and applied"),
                        "SIGHUP applies requirepass")
            checks.true(wait_log(kv, "option hz changed and applied"), "and hz")
            checks.true(wait_log(kv, "option maxmemory changed and applied"), "and maxmemory")
            checks.equal(client.call("CONFIG", "GET", "maxmemory"),
                         b"*2\r\n$9\r\nmaxmemory\r\n$7\r\n8388608\r\n",
                         "CONFIG GET maxmemory shows the lower budget")
            checks.equal(harness.info(client, "memory").get("maxmemory"), "8388608",
                         "and INFO memory")
            checks.equal(client.call("PING"), b"+PONG\r\n",
                         "a client connected before stays authenticated")
            checks.equal(client.call("CONFIG", "GET", "hz"), b"*2\r\n$2\r\nhz\r\n$2\r\n50\r\n",
                         "CONFIG GET hz shows the new value")
            # A Redis parameter kv parses once per change (as CONFIG SET does) is parsed again.
            checks.equal(client.call("HSET", "h", "a", "1", "b", "2", "c", "3"), b":3\r\n",
                         "HSET of 3 fields")
            checks.equal(client.call("OBJECT", "ENCODING", "h"), b"$9\r\nhashtable\r\n",
                         "past the file's hash-max-listpack-entries 2: hashtable at once")
            newcomer = kv.connect()
            checks.equal(newcomer.call("PING"), b"-NOAUTH Authentication required.\r\n",
                         "a new client must authenticate")
            checks.equal(newcomer.call("AUTH", "s3cret"), b"+OK\r\n", "with the new password")
            newcomer.close()
            with open(conf.name, "w") as f:
                f.write(original.replace("16mb", "64mb") + "requirepass s3cret\nhz 50\n")
            os.kill(kv.pid, signal.SIGHUP)
            checks.true(wait_log(kv, "option maxmemory 67108864 is past the heap"),
                        "a maxmemory past the startup heap is reported")
            checks.true("restart kv to raise it" in kv.log_text(), "as waiting for a restart")
            checks.equal(client.call("CONFIG", "GET", "maxmemory"),
                         b"*2\r\n$9\r\nmaxmemory\r\n$7\r\n8388608\r\n",
                         "and not applied: the running maxmemory stays")
            checks.true(client.call("CONFIG", "SET", "maxmemory", "64mb").startswith(
                b"-ERR CONFIG SET failed"), "CONFIG SET still refuses the same value")
            after = harness.info(client, "memory").get("allocator_allocations")
            if before not in (None, "-1"):
                checks.equal(after, before, "SIGHUP allocated nothing")
            client.close()
    finally:
        os.unlink(conf.name)
    checks.exit()


if __name__ == "__main__":
    main()
