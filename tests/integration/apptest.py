"""Shared pieces of the application tests (test_app_*.py; a module, not a test).

The application tests run a real library's scenario (Celery, RQ, python3-limits, redis-py
Locks) against a real redis-server 7.0 and against kv, the same code on both, and count a
failure on either. What they need beyond kvtest:
- need_modules(): Debian's python3 packages imported, or the test re-run under /usr/bin/python3
  (a python3 earlier on PATH may lack them), or SKIP when that has none either.
- Worker: a library's worker as a subprocess in its own process group, output to a log file,
  stopped (SIGTERM, then SIGKILL after a bound) by its process group id when the `with` block
  ends, so no worker outlives its test, even one that failed.
- servers(): (name, port) of a redis-server and then a kv, each stopped when the test is done
  with it; both_servers(): the two at once (so two workers can start side by side). In
  KV_BIN_IS_REDIS mode both are redis-servers.
"""
import contextlib
import importlib
import os
import signal
import subprocess
import sys
import tempfile

import kvtest

HERE = kvtest.HERE
WORKER_STOP_SECONDS = 5.0   # how long a worker may take to exit on SIGTERM before SIGKILL
# kv's sizing for an application: enough keys and list length for a worker's queues and
# results, a small budget so it maps and locks little.
KV_OPTIONS = ["--hugepages", "off", "--maxmemory", "32mb"]


def need_modules(*names):
    """The named modules, imported; re-exec under /usr/bin/python3 or SKIP when missing."""
    modules = []
    for name in names:
        try:
            modules.append(importlib.import_module(name))
        except ImportError:
            if os.path.exists("/usr/bin/python3") and sys.executable != "/usr/bin/python3":
                os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
            print(f"SKIP: python3 module {name} is not installed (Debian's python3-{name})")
            sys.exit(kvtest.SKIP)
    return modules[0] if len(modules) == 1 else modules


class Worker:
    """A worker subprocess (argv) in its own session, so its children share its group."""

    def __init__(self, name, argv, env_extra=None, cwd=HERE):
        self.name = name
        env = dict(os.environ)
        env.update(env_extra or {})
        # The test's directory first, so the worker imports the test module's tasks.
        env["PYTHONPATH"] = HERE + os.pathsep + env.get("PYTHONPATH", "")
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        self.log = tempfile.NamedTemporaryFile(prefix=f"kvtest-{name}-", suffix=".log",
                                               delete=False)
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                        stderr=subprocess.STDOUT, cwd=cwd, env=env,
                                        start_new_session=True)
        self.pid = self.process.pid   # also the process group id (a new session)

    def alive(self):
        return self.process.poll() is None

    def wait(self, seconds):
        """The worker's exit status once it exits within `seconds`, else None."""
        try:
            return self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return None

    def log_text(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log.name, "rb") as f:
            return f.read().decode(errors="replace")

    def _signal_group(self, number):
        try:
            os.killpg(self.pid, number)
        except ProcessLookupError:
            pass

    def stop(self):
        """SIGTERM to the worker's group, SIGKILL after WORKER_STOP_SECONDS; then SIGKILL
        to whatever of the group is left (a pool child the parent left behind)."""
        if self.process.poll() is None:
            self._signal_group(signal.SIGTERM)
            if self.wait(WORKER_STOP_SECONDS) is None:
                self._signal_group(signal.SIGKILL)
                self.process.wait(timeout=WORKER_STOP_SECONDS)
        self._signal_group(signal.SIGKILL)
        self.log.close()
        return self.process.returncode

    def print_log(self, lines=40):
        tail = "\n".join(self.log_text().splitlines()[-lines:])
        print(f"--- end of {self.name}'s log (pid {self.pid}) ---\n{tail}\n---")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        try:
            os.unlink(self.log.name)
        except OSError:
            pass


def servers():
    """Yield ("redis-server", port) and then ("kv", port); each server runs while the caller
    works with it and is stopped (by PID) before the next starts, even on an exception."""
    with kvtest.start_redis() as server:
        yield "redis-server", server.port
    with kvtest.start_kv(*KV_OPTIONS) as server:
        yield "kv", server.port


@contextlib.contextmanager
def both_servers():
    """[("redis-server", port), ("kv", port)], both running until the block ends."""
    with kvtest.start_redis() as redis_server, kvtest.start_kv(*KV_OPTIONS) as kv:
        yield [("redis-server", redis_server.port), ("kv", kv.port)]

