"""kv speaks systemd's notify protocol and stops cleanly.

The test plays systemd's side: it binds a datagram socket, starts kv with NOTIFY_SOCKET
pointing at it and --pidfile, and expects READY=1 (with MAINPID) only once kv answers PING;
the pidfile holds kv's PID. Then a client pipelines commands, kv gets SIGTERM while they are
in flight, and the test expects STOPPING=1, whole replies to what kv had read followed by a
clean end of file, exit status 0 within the drain bound, and the pidfile gone.
"""
import os
import signal
import socket
import subprocess
import tempfile
import time

import harness


def main():
    checks = harness.Checks("test_systemd_notify")
    directory = tempfile.mkdtemp(prefix="kv-notify-")
    notify_path = os.path.join(directory, "notify")
    pidfile = os.path.join(directory, "kv.pid")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(60)
    port = harness.free_port()
    env = dict(os.environ, NOTIFY_SOCKET=notify_path)
    log = open(os.path.join(directory, "kv.log"), "wb")
    process = subprocess.Popen([harness.KV_BIN, "--port", str(port), "--connections-max", "16",
                                "--hugepages", "off", "--pidfile", pidfile],
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        message = notify.recv(4096).decode()
        checks.true("READY=1" in message.split("\n"), f"READY=1 sent: {message!r}")
        checks.true(f"MAINPID={process.pid}" in message, "MAINPID is kv's PID")
        client = harness.Client(port)
        checks.equal(client.call("PING"), b"+PONG\r\n", "kv answers once READY=1 is sent")
        with open(pidfile) as f:
            checks.equal(f.read().strip(), str(process.pid), "pidfile holds kv's PID")
        # Commands in flight when SIGTERM arrives still get their replies.
        commands = 2000
        client.send(b"".join(harness.encode("SET", f"k{i % 500}", "v" * 100) for i in range(commands)))
        process.send_signal(signal.SIGTERM)
        replies, ending = 0, None
        try:
            while replies < commands:
                reply = client.reply()
                if reply != b"+OK\r\n":
                    ending = reply
                    break
                replies += 1
            ending = client.read_until_close(seconds=10)
        except (harness.Closed, ConnectionResetError, socket.timeout) as error:
            ending = error
        # kv stops reading at SIGTERM, answers every command it had read, and closes cleanly:
        # the client sees whole replies, then end of file, never half a reply or a reset.
        print(f"{replies} of {commands} pipelined commands answered before the clean close")
        checks.true(replies > 0, "the commands kv had read were answered")
        checks.true(isinstance(ending, harness.Closed) or ending == (b"", True),
                    f"then a clean end of file: {harness.shorten(ending)}")
        message = notify.recv(4096).decode()
        checks.true("STOPPING=1" in message, f"STOPPING=1 sent: {message!r}")
        started = time.time()
        status = process.wait(timeout=15)
        checks.equal(status, 0, "exit status 0 after SIGTERM")
        checks.true(time.time() - started < 10, "stopped within the drain bound")
        checks.true(not os.path.exists(pidfile), "pidfile removed")
        client.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
        notify.close()
    checks.exit()


if __name__ == "__main__":
    main()
