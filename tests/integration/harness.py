"""Shared pieces of kv's integration tests (a module, not a test).

Starts the real kv binary and a real redis-server on free loopback ports, stops them by PID,
and speaks raw RESP so replies can be compared byte for byte. Every wait is bounded.
"""
import atexit
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

KV_BIN = os.environ.get("KV_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "kv")
SANITIZED = os.environ.get("KV_SANITIZE", "").upper() in ("1", "ON", "TRUE", "YES")
SKIP = 77

# Small sizing: quick to map and lock, big enough for the tests that use it.
SMALL = ["--connections-max", "64", "--key-count", "1000", "--list-length-max", "64",
         "--hugepages", "off"]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def free_cluster_port():
    """A free port whose cluster bus port (+10000) is free and valid too (Redis needs both)."""
    for _ in range(1000):   # bounded: 1,000 random tries
        port = random.randint(20000, 45000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", candidate))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair")


def encode(*args):
    """One command as a RESP multibulk."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            arg = arg.encode()
        elif isinstance(arg, int):
            arg = str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(out)


class Server:
    """A server process listening on 127.0.0.1:port, stopped by its PID."""

    def __init__(self, args, port, name, preexec=None):
        self.port = port
        self.name = name
        self.log_path = f"/tmp/kv-test-{name}-{port}.log"
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                        preexec_fn=preexec)
        self.pid = self.process.pid

    def wait_ready(self, seconds=60):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}: "
                                   f"{self.log_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not answer PING on port {self.port}")

    def log_text(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()
        return self.process.returncode

    def connect(self, timeout=10):
        return Client(self.port, timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def start_kv(*extra, port=None):
    """kv on a free port with a fresh temp --dir and no save points (the extra options may
    set their own: later options win), so no test writes or loads a dump.rdb in the build
    tree (a CONFIG SET save followed by the stop's SIGTERM saves, as Redis's does)."""
    port = port or free_port()
    directory = tempfile.mkdtemp(prefix="kvtest-harness-")
    atexit.register(shutil.rmtree, directory, True)
    args = [KV_BIN, "--port", str(port), "--bind", "127.0.0.1", "--dir", directory,
            "--save", ""] + list(extra)
    return Server(args, port, "kv").wait_ready()


def start_redis():
    if shutil.which("redis-server") is None:
        print("redis-server is not installed")
        sys.exit(SKIP)
    port = free_port()
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no"]
    return Server(args, port, "redis").wait_ready()


class Closed(Exception):
    """The server closed the connection."""


class Client:
    """A raw RESP connection: send bytes, read whole replies as their exact bytes."""

    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise Closed()
        self.buffer += chunk

    def _line_end(self, start):
        while True:
            end = self.buffer.find(b"\r\n", start)
            if end >= 0:
                return end
            self._fill()

    def _reply_end(self, start):
        while len(self.buffer) <= start:
            self._fill()
        end = self._line_end(start)
        kind = self.buffer[start:start + 1]
        if kind in (b"+", b"-", b":"):
            return end + 2
        count = int(self.buffer[start + 1:end])
        if kind == b"$":
            if count < 0:
                return end + 2
            while len(self.buffer) < end + 2 + count + 2:
                self._fill()
            return end + 2 + count + 2
        if kind == b"*":
            position = end + 2
            for _ in range(max(count, 0)):
                position = self._reply_end(position)
            return position
        raise ValueError(f"not RESP: {self.buffer[start:start + 40]!r}")

    def reply(self):
        """The bytes of the next whole reply."""
        end = self._reply_end(0)
        reply, self.buffer = self.buffer[:end], self.buffer[end:]
        return reply

    def call(self, *args):
        self.send(encode(*args))
        return self.reply()

    def read_until_close(self, seconds=2.0):
        """Everything the server sends until it closes; (bytes, closed)."""
        self.sock.settimeout(seconds)
        data, closed = self.buffer, False
        self.buffer = b""
        try:
            while True:
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    closed = True
                    break
                data += chunk
        except (socket.timeout, ConnectionResetError):
            pass
        return data, closed


def info(client, section=""):
    """INFO fields as a dict of strings."""
    raw = client.call("INFO", section) if section else client.call("INFO")
    body = raw.split(b"\r\n", 1)[1]
    fields = {}
    for line in body.decode().split("\r\n"):
        if ":" in line and not line.startswith("#"):
            name, value = line.split(":", 1)
            fields[name] = value
    return fields


def shorten(value, limit=300):
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


class Checks:
    """Counts checks; prints each failure with what was expected and what came."""

    def __init__(self, name):
        self.name = name
        self.failed = 0
        self.count = 0

    def equal(self, got, want, what):
        self.count += 1
        if got != want:
            self.failed += 1
            print(f"FAIL {what}\n  want: {shorten(want)}\n  got:  {shorten(got)}")
        return got == want

    def true(self, condition, what):
        self.count += 1
        if not condition:
            self.failed += 1
            print(f"FAIL {what}")
        return bool(condition)

    def exit(self):
        print(f"{self.name}: {self.count - self.failed} passed, {self.failed} failed")
        sys.exit(1 if self.failed or self.count == 0 else 0)
