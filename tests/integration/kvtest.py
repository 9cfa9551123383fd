"""Shared pieces of kv's integration tests (a module, not a test: CTest only runs test_*.py).

- free_port(): a free loopback port, found by binding port 0 and closing the socket.
- start_kv(), start_redis(): a server process on 127.0.0.1, ready once PING answers (polled for a
  bounded time), stopped by its PID (SIGTERM, then SIGKILL after a timeout) when the `with` block
  ends, so every test stops what it started in a finally path.
- RespClient: a raw socket client that sends bytes and reads exactly one whole RESP2 reply
  (+ - : $ *, nested arrays, null bulk and null array) as its exact bytes, and tells a closed
  connection apart from a quiet one. Every read has a deadline.
- info(): INFO fields as a dict.  Checker: prints every check, and expected vs got on failure.

Environment: KV_BIN is the kv binary (default /work/main/build/kv, i.e. build/kv next to this
tree); KV_SANITIZE says the binary is the ASan build; KV_BIN_IS_REDIS=1 makes start_kv() start
a redis-server instead (for developing the tests themselves: the differential tests then
compare Redis with Redis, and kv-only tests skip).
"""
import atexit
import collections
import os
import random
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77
PASS = 0
FAIL = 1

HERE = os.path.dirname(os.path.abspath(__file__))
KV_BIN = os.environ.get("KV_BIN") or os.path.normpath(os.path.join(HERE, "..", "..", "build", "kv"))
TRUE_WORDS = ("1", "ON", "TRUE", "YES")
SANITIZED = os.environ.get("KV_SANITIZE", "").strip().upper() in TRUE_WORDS
KV_IS_REDIS = os.environ.get("KV_BIN_IS_REDIS", "").strip().upper() in TRUE_WORDS

# Small sizing so a test server maps and locks little and starts at once.
SMALL = ["--connections-max", "64", "--key-count", "1000", "--list-length-max", "64",
         "--hugepages", "off"]

READY_SECONDS = 10.0   # how long a server may take to answer its first PING
STOP_SECONDS = 10.0    # how long SIGTERM may take before SIGKILL
REPLY_SECONDS = 10.0   # how long one reply may take


# kv processes that did not exit with status 0 on SIGTERM (crash, sanitizer report, hang):
# Checker.finish() counts each as a failure, so no test passes over a kv that died badly.
SERVER_PROBLEMS = []


class ConnectionClosed(Exception):
    """The server closed the connection (EOF or reset) before a whole reply arrived."""

    def __init__(self, partial=b""):
        super().__init__(f"connection closed; partial reply {partial[:80]!r}")
        self.partial = partial


class ReplyTimeout(Exception):
    """No whole reply arrived within the deadline."""


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def need_program(name):
    """Exit with SKIP when the host lacks a program the test cannot do without."""
    if shutil.which(name) is None:
        print(f"SKIP: {name} is not installed")
        sys.exit(SKIP)


def need_pyredis():
    """Debian's python3-redis, imported: a python3 earlier on PATH may lack it, so the test
    runs again under /usr/bin/python3; SKIP when that has none either."""
    try:
        import redis
    except ImportError:
        if os.path.exists("/usr/bin/python3") and sys.executable != "/usr/bin/python3":
            os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
        print("SKIP: python3-redis is not installed")
        sys.exit(SKIP)
    return redis


def need_kv_binary():
    """Exit with SKIP in KV_BIN_IS_REDIS mode, FAIL when the kv binary is missing."""
    if KV_IS_REDIS:
        print("SKIP: KV_BIN_IS_REDIS is set and this test checks kv's own behaviour")
        sys.exit(SKIP)
    if not os.access(KV_BIN, os.X_OK):
        print(f"FAIL: kv binary {KV_BIN} does not exist or is not executable (set KV_BIN)")
        sys.exit(FAIL)


def encode(*args):
    """One command as a RESP multibulk; str and int arguments become bytes."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, int):
            arg = b"%d" % arg
        elif isinstance(arg, str):
            arg = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(parts)


LINE_TYPES = (b"+", b"-", b":", b"_", b",", b"#", b"(")
BLOB_TYPES = (b"$", b"!", b"=")
AGGREGATE_TYPES = {b"*": None, b"%": "map", b"~": "set", b">": "push"}


def reply_end(buffer, start=0):
    """End offset of the whole RESP2 or RESP3 reply at buffer[start:], None if more bytes are
    needed.

    Iterative (a count of elements still owed), so nested aggregates need no recursion.
    Raises ValueError on bytes that are not RESP.
    """
    position = start
    owed = 1
    while owed > 0:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None
        kind = buffer[position:position + 1]
        owed -= 1
        if kind in LINE_TYPES:
            position = line_end + 2
            continue
        if kind not in AGGREGATE_TYPES and kind not in BLOB_TYPES:
            raise ValueError(f"not a RESP reply at {position}: {buffer[position:position + 40]!r}")
        length = int(buffer[position + 1:line_end])
        position = line_end + 2
        if kind in AGGREGATE_TYPES:
            owed += max(length, 0) * (2 if kind == b"%" else 1)  # *-1: a null array
        elif length >= 0:
            if len(buffer) < position + length + 2:
                return None
            if buffer[position + length:position + length + 2] != b"\r\n":
                raise ValueError(f"bulk of {length} bytes not followed by CRLF")
            position += length + 2
    return position


def decode(reply):
    """A whole reply's bytes as Python values: str for +, ('error', str) for - (and RESP3's
    blob error), int, bytes, None for null bulk/array (and RESP3's null), list for arrays
    (nested). RESP3's other types come tagged: ('map', [k, v, ...]), ('set', [...]),
    ('push', [...]), ('double', str), ('bool', bool), ('bignum', str), ('verbatim', bytes).
    For readable assertions."""
    stack = [[]]
    owed = [1]
    tags = [None]
    position = 0
    while owed:
        if owed[-1] == 0:
            owed.pop()
            done, tag = stack.pop(), tags.pop()
            if not owed:
                return done[0]
            stack[-1].append(done if tag is None else (tag, done))
            owed[-1] -= 1
            continue
        line_end = reply.index(b"\r\n", position)
        kind, text = reply[position:position + 1], reply[position + 1:line_end]
        position = line_end + 2
        if kind in AGGREGATE_TYPES and int(text) >= 0:
            stack.append([])
            owed.append(int(text) * (2 if kind == b"%" else 1))
            tags.append(AGGREGATE_TYPES[kind])
            continue
        if kind == b"+":
            value = text.decode()
        elif kind == b"-":
            value = ("error", text.decode(errors="replace"))
        elif kind == b":":
            value = int(text)
        elif kind == b"_":
            value = None
        elif kind in (b",", b"("):
            value = ("double" if kind == b"," else "bignum", text.decode())
        elif kind == b"#":
            value = ("bool", text == b"t")
        elif int(text) < 0:
            value = None
        else:
            value = reply[position:position + int(text)]
            position += int(text) + 2
            if kind == b"!":
                value = ("error", value.decode(errors="replace"))
            elif kind == b"=":
                value = ("verbatim", value)
        stack[-1].append(value)
        owed[-1] -= 1
    return stack[0][0]


class RespClient:
    """A raw RESP connection to 127.0.0.1:port with TCP_NODELAY."""

    def __init__(self, port, timeout=REPLY_SECONDS):
        self.timeout = timeout
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""   # bytes received and not yet returned start at self.start
        self.start = 0

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _receive(self, deadline):
        """Append what the socket has; ConnectionClosed on EOF or reset."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise ReplyTimeout(f"no whole reply in {self.timeout} s; "
                               f"have {self.buffer[self.start:self.start + 80]!r}")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            raise ReplyTimeout(f"no whole reply in {self.timeout} s; "
                               f"have {self.buffer[self.start:self.start + 80]!r}")
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            raise ConnectionClosed(self.buffer[self.start:])
        self.buffer = self.buffer[self.start:] + chunk
        self.start = 0

    def reply(self):
        """The exact bytes of the next whole reply."""
        deadline = time.monotonic() + self.timeout
        while True:
            end = reply_end(self.buffer, self.start)
            if end is not None:
                whole = self.buffer[self.start:end]
                self.start = end
                return whole
            self._receive(deadline)

    def replies(self, count):
        return [self.reply() for _ in range(count)]

    def call(self, *args):
        """Send one command, return its reply's bytes."""
        self.send(encode(*args))
        return self.reply()

    def value(self, *args):
        """Send one command, return its reply decoded (see decode())."""
        return decode(self.call(*args))

    def read_until_close(self, quiet_seconds=0.5, total_seconds=10.0, first_seconds=None):
        """Everything that arrives until the server closes, or sends nothing for quiet_seconds
        (bounded by total_seconds). Returns (bytes, closed). first_seconds (default
        quiet_seconds) is the wait for the first byte: longer, it keeps a server slowed by a
        loaded machine from reading as a silent one."""
        data, self.buffer, self.start = self.buffer[self.start:], b"", 0
        deadline = time.monotonic() + total_seconds
        while time.monotonic() < deadline:
            quiet = quiet_seconds if data or first_seconds is None else first_seconds
            self.sock.settimeout(min(quiet, max(deadline - time.monotonic(), 0.01)))
            try:
                chunk = self.sock.recv(1 << 16)
            except socket.timeout:
                return data, False
            except (ConnectionResetError, BrokenPipeError):
                return data, True
            if not chunk:
                return data, True
            data += chunk
        return data, False


def exchange_all(port, payloads, quiet_seconds=0.5, total_seconds=30.0):
    """Send each payload on its own fresh connection, all at once; then collect what each
    connection receives until the server closes it, or until no connection has received
    anything for quiet_seconds (bounded by total_seconds). Returns [(bytes, closed)]."""
    sockets = []
    try:
        for _ in payloads:
            sock = socket.create_connection(("127.0.0.1", port), timeout=REPLY_SECONDS)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sockets.append(sock)
        for sock, payload in zip(sockets, payloads):
            try:
                sock.sendall(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass   # closed before all of an oversized payload was sent
        received = [b""] * len(payloads)
        closed = [False] * len(payloads)
        with selectors.DefaultSelector() as selector:
            for index, sock in enumerate(sockets):
                sock.setblocking(False)
                selector.register(sock, selectors.EVENT_READ, index)
            deadline = time.monotonic() + total_seconds
            last_data = time.monotonic()
            while selector.get_map() and time.monotonic() < deadline:
                events = selector.select(timeout=quiet_seconds)
                if not events and time.monotonic() - last_data >= quiet_seconds:
                    break
                for key, _ in events:
                    index = key.data
                    try:
                        chunk = key.fileobj.recv(1 << 16)
                    except BlockingIOError:
                        continue
                    except (ConnectionResetError, BrokenPipeError):
                        chunk = b""
                    if chunk:
                        received[index] += chunk
                        last_data = time.monotonic()
                    else:
                        closed[index] = True
                        selector.unregister(key.fileobj)
        return list(zip(received, closed))
    finally:
        for sock in sockets:
            sock.close()


class Server:
    """A server process on 127.0.0.1:port; its stdout and stderr go to a log file."""

    def __init__(self, name, argv, port, preexec_fn=None):
        self.name = name
        self.port = port
        self.argv = argv
        self.log = tempfile.NamedTemporaryFile(prefix=f"kvtest-{name}-{port}-", suffix=".log",
                                               delete=False)
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                        stderr=subprocess.STDOUT, preexec_fn=preexec_fn)
        self.pid = self.process.pid

    def wait_ready(self, seconds=READY_SECONDS):
        """Poll PING until +PONG (or NOAUTH: a password is asked); stop the server and raise
        if it never answers."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"{self.name} exited with status {self.process.returncode} "
                                   f"before answering PING; log:\n{self.log_text()[-3000:]}")
            try:
                with RespClient(self.port, timeout=1.0) as probe:
                    if probe.call("PING") in (b"+PONG\r\n",
                                              b"-NOAUTH Authentication required.\r\n"):
                        return self
            except (OSError, ConnectionClosed, ReplyTimeout, ValueError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer PING on port {self.port} within "
                           f"{seconds} s; log:\n{self.log_text()[-3000:]}")

    def connect(self, timeout=REPLY_SECONDS):
        return RespClient(self.port, timeout)

    def log_text(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log.name, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        """SIGTERM by PID, then SIGKILL after STOP_SECONDS; returns the exit status.
        A kv that had already exited, or does not exit 0, is recorded in SERVER_PROBLEMS."""
        if self.log.closed:
            return self.process.returncode   # stopped before
        problem = None
        if self.process.poll() is not None:
            problem = f"exited by itself with status {self.process.returncode}"
        else:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                problem = f"ignored SIGTERM for {STOP_SECONDS} s and was killed"
                os.kill(self.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_SECONDS)
            if problem is None and self.process.returncode != 0:
                problem = f"exited with status {self.process.returncode} on SIGTERM"
        self.log.close()
        if problem and self.name == "kv":
            tail = "\n".join(self.log_text().splitlines()[-30:])
            print(f"kv (pid {self.pid}) {problem}; end of its log:\n{tail}")
            SERVER_PROBLEMS.append(f"kv (pid {self.pid}) {problem}")
        return self.process.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        try:
            os.unlink(self.log.name)
        except OSError:
            pass


def redis_argv(port):
    return ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no"]


def start_redis():
    """A real redis-server, or SKIP when the host has none."""
    need_program("redis-server")
    port = free_port()
    return Server("redis", redis_argv(port), port).wait_ready()


def start_kv(*options, preexec_fn=None):
    """kv with the given options on a free port (redis-server in KV_BIN_IS_REDIS mode)."""
    port = free_port()
    if KV_IS_REDIS:
        need_program("redis-server")
        return Server("redis-as-kv", redis_argv(port), port).wait_ready()
    if not os.access(KV_BIN, os.X_OK):
        print(f"FAIL: kv binary {KV_BIN} does not exist or is not executable (set KV_BIN)")
        sys.exit(FAIL)
    # No test writes into (or loads from) the repository: a fresh temp --dir for dump.rdb and
    # no save points, unless the test passes its own (later options win).
    argv = [KV_BIN, "--port", str(port), "--bind", "127.0.0.1", "--dir", kv_temp_dir(),
            "--save", ""] + [str(o) for o in options]
    return Server("kv", argv, port, preexec_fn=preexec_fn).wait_ready()


KV_TEMP_ROOT = []


def kv_temp_dir():
    """A fresh directory for one kv's files, under a root removed when the test exits."""
    if not KV_TEMP_ROOT:
        KV_TEMP_ROOT.append(tempfile.mkdtemp(prefix="kvtest-dir-"))
        atexit.register(shutil.rmtree, KV_TEMP_ROOT[0], True)
    return tempfile.mkdtemp(dir=KV_TEMP_ROOT[0])


def run_kv(*args, timeout=20):
    """Run the kv binary to completion (for --plan, --help, bad options); kills it on timeout.
    Returns a CompletedProcess with text stdout/stderr; returncode None if it had to be killed."""
    argv = [KV_BIN] + [str(a) for a in args]
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, errors="replace")
    try:
        out, err = process.communicate(timeout=timeout)
        return subprocess.CompletedProcess(argv, process.returncode, out, err)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        out, err = process.communicate(timeout=STOP_SECONDS)
        return subprocess.CompletedProcess(argv, None, out, err)


def info(client, section=None):
    """INFO [section] fields as a dict of str to str."""
    reply = client.call("INFO", section) if section else client.call("INFO")
    body = decode(reply)
    if not isinstance(body, bytes):
        raise ValueError(f"INFO answered {reply[:200]!r}")
    fields = {}
    for line in body.decode(errors="replace").split("\r\n"):
        if line and not line.startswith("#") and ":" in line:
            name, value = line.split(":", 1)
            fields[name] = value
    return fields


def shorten(value, limit=400):
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


class Checker:
    """Counts checks, prints each one, and exits 0 only if some ran and none failed."""

    def __init__(self, name, verbose=True):
        self.name = name
        self.verbose = verbose
        self.count = 0
        self.failures = 0

    def equal(self, what, expected, got):
        self.count += 1
        if expected == got:
            if self.verbose:
                print(f"ok   {what}")
            return True
        self.failures += 1
        print(f"FAIL {what}\n     expected: {shorten(expected)}\n     got:      {shorten(got)}")
        return False

    def true(self, what, condition, detail=""):
        self.count += 1
        if condition:
            if self.verbose:
                print(f"ok   {what}")
            return True
        self.failures += 1
        print(f"FAIL {what}" + (f"\n     {detail}" if detail else ""))
        return False

    def starts(self, what, prefix, got):
        """got (bytes) starts with prefix."""
        self.count += 1
        if isinstance(got, bytes) and got.startswith(prefix):
            if self.verbose:
                print(f"ok   {what}: {shorten(got, 120)}")
            return True
        self.failures += 1
        print(f"FAIL {what}\n     expected a reply starting {shorten(prefix)}\n"
              f"     got:      {shorten(got)}")
        return False

    def finish(self):
        """Print the summary and exit with 0 or 1."""
        for problem in SERVER_PROBLEMS:
            self.true("kv stopped cleanly", False, problem)
        verdict = "PASS" if self.count and not self.failures else "FAIL"
        print(f"{verdict} {self.name}: {self.count - self.failures} of {self.count} checks passed")
        sys.exit(PASS if verdict == "PASS" else FAIL)


def compare_stream(kv_client, redis_client, generator, check, count, replies_equal=None,
                   seconds=300):
    """Send `count` generated commands to kv and Redis, half alone and half pipelined in
    batches of up to 64, and compare each pair of raw replies. `generator` has .rnd (a
    random.Random), .command() (a list of byte arguments) and .wire(command) (its bytes);
    replies_equal(command, want, got) decides equality (default: identical bytes; TTLs need a
    tolerance). Returns how many replies compared equal; the first mismatch stops the run and
    prints the commands before it."""
    rnd = generator.rnd
    history = collections.deque(maxlen=12)
    compared = 0
    deadline = time.monotonic() + seconds
    while compared < count and time.monotonic() < deadline:
        size = 1 if rnd.random() < 0.5 else rnd.randint(2, 64)
        batch = [generator.command() for _ in range(size)]
        wire = b"".join(generator.wire(command) for command in batch)
        kv_client.send(wire)
        redis_client.send(wire)
        for command in batch:
            history.append(command)
            want, got = redis_client.reply(), kv_client.reply()
            same = want == got if replies_equal is None else replies_equal(command, want, got)
            if not same:
                print(f"mismatch after {compared} equal replies (batch of {size})")
                print("previous commands:")
                for earlier in list(history)[:-1]:
                    print(f"    {shorten(earlier, 200)}")
                check.equal(f"reply to {shorten(command, 300)}", want, got)
                return compared
            compared += 1
    return compared


def differential(test_name, make_generator, count, kv_options, final_probes=(),
                 replies_equal=None, check=None):
    """The differential test: a seeded generator (KV_SEED=<n> replays a run; the seed is
    printed) drives `count` commands into kv (started with kv_options) and a real
    redis-server, every reply compared; then each command of final_probes (lists of
    arguments) is sent to both and compared. `check` may carry earlier checks of the test.
    Exits through Checker.finish()."""
    seed = int(os.environ.get("KV_SEED") or random.randrange(1 << 32))
    print(f"seed {seed} (KV_SEED={seed} replays this run)")
    check = check or Checker(test_name, verbose=False)
    generator = make_generator(random.Random(seed))
    with start_kv(*kv_options) as kv, start_redis() as redis:
        with kv.connect() as kv_client, redis.connect() as redis_client:
            compared = compare_stream(kv_client, redis_client, generator, check, count,
                                      replies_equal)
            check.true(f"{compared} replies equal (at least {count})", compared >= count,
                       f"seed {seed}")
            for probe in final_probes:
                want, got = redis_client.call(*probe), kv_client.call(*probe)
                same = want == got if replies_equal is None else replies_equal(probe, want, got)
                check.true(f"final state: {shorten(probe, 80)}", same, f"{want!r} != {got!r}")
    if check.failures:
        print(f"seed {seed}: rerun with KV_SEED={seed}")
    check.finish()
