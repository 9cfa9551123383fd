"""Shared pieces of the side-by-side scripts (memory.py, collections.py, lru.py, startup.py,
clients.py): starting kv and redis-server on free loopback ports and stopping them by PID,
pinning, a small RESP client on a plain socket (fast enough to fill 256 MB from Python and
light enough to time single round trips), INFO and /proc readers, and tables printed either
aligned for a terminal or as Markdown for bench/RESULTS.md.

Every server listens on 127.0.0.1 only; every server started here is stopped by its PID (the
Popen object), never by name. Run the scripts with /usr/bin/python3 (standard library only in
this module; redis-py is not needed).
"""
import datetime
import os
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_KV = os.path.join(ROOT, "build", "kv")


class ServerError(Exception):
    """A server that did not start, died, or answered with something the script cannot use."""


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def two_cpus():
    return bool(shutil.which("taskset")) and (os.cpu_count() or 1) >= 2


def pinned(cpu):
    """taskset prefix that pins a server to one CPU (bench.py's convention: server on CPU 0,
    load on CPU 1), or nothing on a one-CPU host."""
    return ["taskset", "-c", str(cpu)] if two_cpus() else []


def pin_self(cpu):
    """Pin this Python process (the load) to a CPU, as bench.py pins redis-benchmark."""
    if two_cpus():
        try:
            os.sched_setaffinity(0, {cpu})
        except OSError:
            pass


def raise_nofile(count):
    """Raise this process's RLIMIT_NOFILE to at least count (root may raise the hard limit);
    returns the soft limit in force afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= count:
        return soft
    want_hard = hard if hard == resource.RLIM_INFINITY or hard >= count else count
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (count, want_hard))
    except (ValueError, OSError):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_bytes(pid):
    """Resident memory of a process from /proc/PID/status, in bytes (0 when it is gone):
    VmRSS plus HugetlbPages, because pages of a hugetlb mapping (kv's region when hugepages
    are reserved) are not counted in VmRSS."""
    total = 0
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(("VmRSS:", "HugetlbPages:")):
                    total += int(line.split()[1]) * 1024
    except OSError:
        pass
    return total


def size_bytes(text):
    """Redis's units: 256mb, 1gb, 100kb, 12345 (mb and gb are powers of two)."""
    text = text.strip().lower()
    units = {"kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30, "k": 1000, "m": 1000 ** 2,
             "g": 1000 ** 3}
    for suffix in ("kb", "mb", "gb", "k", "m", "g"):
        if text.endswith(suffix):
            return int(float(text[:-len(suffix)]) * units[suffix])
    return int(text)


# ---------------------------------------------------------------- RESP on a plain socket

def command(*args):
    """One command as a RESP array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if not isinstance(arg, bytes):
            arg = str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(parts)


class ReplyError(Exception):
    pass


class Connection:
    """A blocking RESP connection. read_reply parses one full reply (simple, error, integer,
    bulk, nil, arrays); errors come back as ReplyError objects, not raised, so a pipeline can
    count what succeeded before the first error."""

    def __init__(self, port, timeout=60.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        self.offset = 0

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ServerError("the server closed the connection")
        if self.offset:
            self.buffer = self.buffer[self.offset:] + chunk
            self.offset = 0
        else:
            self.buffer += chunk

    def _line(self):
        while True:
            end = self.buffer.find(b"\r\n", self.offset)
            if end >= 0:
                line = self.buffer[self.offset:end]
                self.offset = end + 2
                return line
            self._fill()

    def read_reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            return ReplyError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            length = int(rest)
            if length < 0:
                return None
            while len(self.buffer) - self.offset < length + 2:
                self._fill()
            value = self.buffer[self.offset:self.offset + length]
            self.offset += length + 2
            return value
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self.read_reply() for _ in range(count)]
        if kind in (b"_",):
            return None
        if kind in (b"%", b"~"):
            count = int(rest) * (2 if kind == b"%" else 1)
            return [self.read_reply() for _ in range(count)]
        raise ServerError(f"cannot parse reply line {line[:80]!r}")

    def read_lines(self, count):
        """count replies known to be one line each (+, -, :), as raw lines, fast: for fills
        whose commands only answer OK, an integer or an error."""
        lines = []
        while len(lines) < count:
            end = self.buffer.rfind(b"\r\n", self.offset)
            if end < 0:
                self._fill()
                continue
            parts = self.buffer[self.offset:end].split(b"\r\n")
            need = count - len(lines)
            if len(parts) <= need:
                lines.extend(parts)
                self.offset = end + 2
            else:
                # The replies of a later batch are already here: leave them in the buffer.
                lines.extend(parts[:need])
                self.offset += sum(len(part) + 2 for part in parts[:need])
        return lines

    def call(self, *args):
        self.send(command(*args))
        return self.read_reply()

    def info(self, section=""):
        reply = self.call("INFO", section) if section else self.call("INFO")
        if isinstance(reply, ReplyError):
            raise ServerError(f"INFO failed: {reply}")
        fields = {}
        for line in reply.decode(errors="replace").splitlines():
            if ":" in line and not line.startswith("#"):
                name, value = line.split(":", 1)
                fields[name] = value
        return fields


def info_int(fields, name, default=0):
    try:
        return int(float(fields[name]))
    except (KeyError, ValueError):
        return default


# ---------------------------------------------------------------- servers

def wait_ping(port, process, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"exited with status {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as probe:
                probe.sendall(b"PING\r\n")
                if probe.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.01)
    raise ServerError(f"did not answer PING within {seconds:.0f} s")


class Server:
    """kv or redis-server on a free loopback port, its output in a temporary log file.
    name is "kv" or "redis". started_s is the time from Popen to the first PONG."""

    def __init__(self, name, argv, cpu=0, nofile=0, start_seconds=120):
        self.name = name
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix=f"bench-{name}-", suffix=".log",
                                               delete=False)
        prefix = pinned(cpu) if cpu is not None else []
        preexec = None
        if nofile:
            def preexec():
                soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, max(hard, nofile)))
        self.argv = prefix + argv + ["--port", str(self.port)]
        began = time.monotonic()
        try:
            self.process = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, preexec_fn=preexec)
        except OSError as error:
            raise ServerError(f"{name} did not start: {error}")
        try:
            wait_ping(self.port, self.process, start_seconds)
        except ServerError as error:
            tail = self.log_tail()
            self.stop()
            raise ServerError(f"{name} did not start ({error}): {tail}")
        self.started_s = time.monotonic() - began

    @property
    def pid(self):
        return self.process.pid

    def rss(self):
        return rss_bytes(self.pid)

    def connect(self, timeout=60.0):
        return Connection(self.port, timeout)

    def info(self, section=""):
        connection = self.connect()
        try:
            return connection.info(section)
        finally:
            connection.close()

    def log_text(self):
        try:
            with open(self.log.name, errors="replace") as log:
                return log.read()
        except OSError:
            return ""

    def log_tail(self, lines=3):
        text = self.log_text().strip().splitlines()
        return " / ".join(text[-lines:]) if text else "(no output)"

    def alive(self):
        return self.process.poll() is None

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        try:
            os.unlink(self.log.name)
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def start_kv(kv, maxmemory, policy="noeviction", extra=(), **kwargs):
    argv = [kv, "--bind", "127.0.0.1", "--maxmemory", maxmemory, "--maxmemory-policy", policy]
    return Server("kv", argv + list(extra), **kwargs)


def start_redis(redis, maxmemory, policy="noeviction", extra=(), **kwargs):
    argv = [redis, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no",
            "--protected-mode", "no", "--maxmemory", maxmemory, "--maxmemory-policy", policy]
    return Server("redis", argv + list(extra), **kwargs)


def start(name, options, maxmemory, policy="noeviction", extra_kv=(), extra_redis=(), **kwargs):
    """Start kv or Redis for a script: options.kv_args and options.redis_args (--kv-args,
    --redis-args) are appended to the script's own arguments."""
    if name == "kv":
        extra = list(extra_kv) + shlex.split(getattr(options, "kv_args", "") or "")
        return start_kv(options.kv, maxmemory, policy, extra, **kwargs)
    extra = list(extra_redis) + shlex.split(getattr(options, "redis_args", "") or "")
    return start_redis(options.redis, maxmemory, policy, extra, **kwargs)


# ---------------------------------------------------------------- reporting

def machine(options):
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        version = subprocess.run([options.redis, "--version"], capture_output=True, text=True,
                                 timeout=10).stdout.split()
        redis_version = next((word[2:] for word in version if word.startswith("v=")), "?")
    except (OSError, subprocess.TimeoutExpired):
        redis_version = "?"
    kv_dir = os.path.dirname(os.path.abspath(options.kv))
    revision = subprocess.run(["git", "-C", kv_dir, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip() or "unknown"
    memory = 0
    try:
        with open("/proc/meminfo") as meminfo:
            memory = int(meminfo.readline().split()[1]) * 1024
    except OSError:
        pass
    return (f"Run {datetime.date.today()}: {model}, {os.cpu_count()} CPUs, "
            f"{memory / (1 << 30):.0f} GiB, Linux {os.uname().release}; "
            f"redis-server {redis_version}; kv {options.kv} ({revision})")


def mib(value):
    return f"{value / (1 << 20):.1f}"


def fmt(value, digits=2):
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:.{digits}f}"
    return str(value)


class Table:
    """Rows of strings, printed aligned (plain) or as a Markdown table."""

    def __init__(self, title, headers, right=None):
        self.title = title
        self.headers = headers
        self.right = right if right is not None else [index > 0 for index in range(len(headers))]
        self.rows = []

    def add(self, row):
        row = [fmt(cell) for cell in row]
        row += [""] * (len(self.headers) - len(row))
        self.rows.append(row)
        return row

    def markdown(self):
        lines = [f"### {self.title}", "",
                 "| " + " | ".join(self.headers) + " |",
                 "|" + "|".join("---:" if right else "---" for right in self.right) + "|"]
        for row in self.rows:
            lines.append("| " + " | ".join(cell.replace("|", "/") for cell in row) + " |")
        return "\n".join(lines) + "\n"

    def plain(self):
        widths = [len(header) for header in self.headers]
        for row in self.rows:
            widths = [max(width, len(cell)) for width, cell in zip(widths, row)]

        def line(cells):
            return "  ".join(cell.rjust(width) if right else cell.ljust(width)
                             for cell, width, right in zip(cells, widths, self.right)).rstrip()
        out = [self.title, "", line(self.headers), "  ".join("-" * width for width in widths)]
        out += [line(row) for row in self.rows]
        return "\n".join(out) + "\n"


def report(options, heading, method, tables, notes=()):
    """Print the run: plain tables, or with --markdown a section ready for bench/RESULTS.md."""
    if options.markdown:
        print(f"## {heading}\n")
        print(machine(options) + ".\n")
        print(method.strip() + "\n")
        for table in tables:
            print(table.markdown())
        for note in notes:
            print(note + "\n")
    else:
        print()
        print(machine(options))
        for table in tables:
            print()
            print(table.plain())
        for note in notes:
            print(note)


def add_common_arguments(parser):
    parser.add_argument("--kv", default=DEFAULT_KV, help="kv binary (default build/kv)")
    parser.add_argument("--redis", default="redis-server", help="redis-server binary")
    parser.add_argument("--kv-args", default="",
                        help="more arguments for kv, e.g. '--hugepages off'")
    parser.add_argument("--redis-args", default="", help="more arguments for redis-server")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--markdown", action="store_true",
                        help="print the tables as Markdown for bench/RESULTS.md")


def progress(message):
    """Progress goes to stderr so that --markdown's stdout is only the section."""
    import sys
    print(message, file=sys.stderr, flush=True)
