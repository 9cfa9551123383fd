"""The `timeout` option closes idle clients, as Redis's does, and only them.

kv starts with --timeout 1: a client that sends nothing for more than a second is closed
(counted in INFO as kv_idle_disconnects, logged), while a client sending a command every
200 ms stays. CONFIG SET timeout 0 turns it off at once: an idle client then stays.
"""
import time

import kvtest


def closed(client, seconds):
    """Whether the server closes the connection within `seconds` (nothing is sent)."""
    client.sock.settimeout(seconds)
    try:
        return client.sock.recv(1) == b""
    except OSError:
        return False


def main():
    check = kvtest.Checker("test_idle_timeout")
    options = ["--connections-max", "8", "--key-count", "16", "--val-size-max", "64",
               "--list-length-max", "4", "--hugepages", "off", "--timeout", "1", "--hz", "20"]
    with kvtest.start_kv(*options) as kv:
        idle = kv.connect()
        busy = kv.connect()
        check.equal("the idle client answers at first", b"+PONG\r\n", idle.call("PING"))
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            busy.call("PING")
            time.sleep(0.2)
        check.true("the idle client was closed", closed(idle, 1.0))
        check.equal("the busy client is served", b"+PONG\r\n", busy.call("PING"))
        stats = kvtest.info(busy, "stats")
        check.equal("counted", "1", stats.get("kv_idle_disconnects"))
        check.true("logged", "idle for more than 1 s" in kv.log_text())
        check.equal("CONFIG GET timeout", [b"timeout", b"1"],
                    kvtest.decode(busy.call("CONFIG", "GET", "timeout")))
        check.equal("CONFIG SET timeout 0", b"+OK\r\n", busy.call("CONFIG", "SET", "timeout", "0"))
        quiet = kv.connect()
        check.equal("a new client", b"+PONG\r\n", quiet.call("PING"))
        check.true("is not closed when idle with timeout 0", not closed(quiet, 2.5))
        check.equal("and still answers", b"+PONG\r\n", quiet.call("PING"))
        for client in (idle, busy, quiet):
            client.close()
    check.finish()


if __name__ == "__main__":
    main()
