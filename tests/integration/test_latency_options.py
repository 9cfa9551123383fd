"""The latency options: `cpu` pins the loop thread, `busy_poll_us` spins for completions.

kv started with --cpu 0 runs on CPU 0 only (/proc/PID/status) and says so in its log; a CPU
that does not exist is reported and kv serves unpinned. With --busy-poll-us 200 kv serves
pipelined and single commands correctly, and CONFIG SET busy_poll_us changes it at runtime.
"""
import os

import kvtest

OPTIONS = ["--connections-max", "4", "--key-count", "16", "--val-size-max", "64",
           "--list-length-max", "4", "--hugepages", "off"]


def allowed_cpus(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("Cpus_allowed_list:"):
                return line.split(":", 1)[1].strip()
    return None


def main():
    check = kvtest.Checker("test_latency_options")
    with kvtest.start_kv(*OPTIONS, "--cpu", "0") as kv, kv.connect() as client:
        check.equal("kv runs on CPU 0 only", "0", allowed_cpus(kv.process.pid))
        check.true("and logs it", "the loop runs on CPU 0" in kv.log_text())
        check.equal("it serves", b"+PONG\r\n", client.call("PING"))
    missing = (os.cpu_count() or 1) + 64
    with kvtest.start_kv(*OPTIONS, "--cpu", str(missing)) as kv, kv.connect() as client:
        check.true("a CPU that does not exist is reported", "cannot pin the loop" in kv.log_text())
        check.equal("and kv serves unpinned", b"+PONG\r\n", client.call("PING"))
    with kvtest.start_kv(*OPTIONS, "--busy-poll-us", "200") as kv, kv.connect() as client:
        client.send(b"".join(kvtest.encode("RPUSH", "l", index) for index in range(1, 4)))
        check.equal("pipelined pushes under busy polling", [b":1\r\n", b":2\r\n", b":3\r\n"],
                    client.replies(3))
        check.equal("a read", [b"1", b"2", b"3"], kvtest.decode(client.call("LRANGE", "l", 0, -1)))
        check.equal("CONFIG GET busy_poll_us", [b"busy_poll_us", b"200"],
                    kvtest.decode(client.call("CONFIG", "GET", "busy_poll_us")))
        check.equal("CONFIG SET busy_poll_us 0", b"+OK\r\n",
                    client.call("CONFIG", "SET", "busy_poll_us", "0"))
        check.equal("serves after", b"+PONG\r\n", client.call("PING"))
    check.finish()


if __name__ == "__main__":
    main()
