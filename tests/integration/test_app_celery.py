"""A Celery 5.2 worker with its broker and result backend on kv runs tasks, a group and a chord,
as it does on redis-server.

Debian's python3-celery (kombu's Redis transport, Celery's Redis result backend) against a
real redis-server 7.0 and then against kv, the same scenario: a worker subprocess (solo pool,
its own process group, killed by group id when the scenario ends) consumes from redis://
127.0.0.1:PORT/0 and stores results there; the test sends single tasks, a task that raises,
a group of 12, a chord of 8 whose callback sums the header's results and a chain, and
checks every result. Both servers and both workers start together; the scenarios then run
one server after the other. The worker must still be running at the end (kombu takes a
redis-py Lock, whose extend and release are Lua, and a worker that meets an error from the
broker exits). On a failure the worker's log is printed.

This file is also the Celery app the worker imports (-A test_app_celery): the broker URL
comes from KV_CELERY_URL, set by the test for its worker.
"""
import contextlib
import gc
import os
import sys
import time

import apptest
import kvtest

celery = apptest.need_modules("celery")
from celery import Celery, chain, chord, group

TASK_SECONDS = 10.0     # a task's result, from sending to get(); the first one includes the
FIRST_SECONDS = 20.0    # worker's start (imports, connecting, declaring its queue)
GROUP_SIZE = 12
CHORD_SIZE = 8

def make_app(url):
    """A Celery app on `url` with the test's tasks (named explicitly, so the worker's app,
    built at import from KV_CELERY_URL, and the test's app of each run agree)."""
    application = Celery("test_app_celery", broker=url, backend=url, set_as_current=False)
    application.conf.update(
        task_serializer="json", result_serializer="json", accept_content=["json"],
        result_expires=300, worker_hijack_root_logger=False, worker_prefetch_multiplier=1,
        broker_connection_max_retries=1, redis_socket_timeout=10,
        redis_socket_connect_timeout=5, broker_transport_options={"visibility_timeout": 60})

    @application.task(name="kvtest.add")
    def add(x, y):
        return x + y

    @application.task(name="kvtest.total")
    def total(values):
        return sum(values)

    @application.task(name="kvtest.fail")
    def fail(text):
        raise ValueError(text)

    @application.task(name="kvtest.describe")
    def describe(name, numbers):
        """A result with nested types: the JSON round trip through the backend is checked."""
        return {"name": name, "numbers": numbers, "count": len(numbers)}

    return application


# The worker's app (the worker runs with -A test_app_celery).
app = make_app(os.environ.get("KV_CELERY_URL", "redis://127.0.0.1:1/0"))


def scenario(client, check, label):
    """The application's side: send work, check each result."""
    add, total = client.tasks["kvtest.add"], client.tasks["kvtest.total"]
    fail, describe = client.tasks["kvtest.fail"], client.tasks["kvtest.describe"]
    result = add.delay(2, 3)
    check.equal(f"{label}: add(2, 3)", 5, result.get(timeout=FIRST_SECONDS))
    check.equal(f"{label}: its state", "SUCCESS", result.state)
    check.equal(f"{label}: apply_async with kwargs",
                {"name": "ünï", "numbers": [1, 2, 3], "count": 3},
                describe.apply_async(kwargs={"name": "ünï", "numbers": [1, 2, 3]})
                .get(timeout=TASK_SECONDS))
    failed = fail.delay("boom")
    try:
        failed.get(timeout=TASK_SECONDS)
        check.true(f"{label}: a raising task raises at get()", False, "get() returned")
    except ValueError as error:
        check.equal(f"{label}: a raising task's error at get()", "boom", str(error))
    check.equal(f"{label}: its state", "FAILURE", failed.state)
    many = group(add.s(i, i) for i in range(GROUP_SIZE)).apply_async()
    check.equal(f"{label}: group of {GROUP_SIZE}", [2 * i for i in range(GROUP_SIZE)],
                many.get(timeout=TASK_SECONDS))
    joined = chord((add.s(i, 100) for i in range(CHORD_SIZE)), total.s()).apply_async()
    check.equal(f"{label}: chord of {CHORD_SIZE} summed",
                sum(i + 100 for i in range(CHORD_SIZE)), joined.get(timeout=TASK_SECONDS))
    check.equal(f"{label}: chain", 16, chain(add.s(1, 2), add.s(3), add.s(10))()
                .get(timeout=TASK_SECONDS))


def start_worker(label, port):
    url = f"redis://127.0.0.1:{port}/0"
    argv = [sys.executable, "-m", "celery", "-A", "test_app_celery", "worker", "--pool=solo",
            "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO",
            "-n", f"kvtest-{label}@localhost"]
    return apptest.Worker(f"celery-{label}", argv, {"KV_CELERY_URL": url})


def run(check, label, port, worker):
    client = make_app(f"redis://127.0.0.1:{port}/0")
    started = time.monotonic()
    failures = check.failures
    try:
        scenario(client, check, label)
    except Exception as error:   # a timeout or a broker error: counted, log printed
        check.true(f"{label}: scenario ran", False, f"{type(error).__name__}: {error}")
    check.true(f"{label}: the worker is still running", worker.alive(),
               f"exit status {worker.process.returncode}")
    if check.failures != failures:
        worker.print_log()
    print(f"{label}: {time.monotonic() - started:.1f} s")
    # AsyncResults unsubscribe from their result channels when collected: collect them now,
    # while the server runs, not at exit (where each would retry a stopped server's port).
    gc.collect()
    client.close()


def main():
    check = kvtest.Checker("test_app_celery")
    # Both servers and both workers at once: the workers' start-up (a second or two of
    # imports and connecting) overlaps, then the scenarios run one after the other.
    with apptest.both_servers() as sides, contextlib.ExitStack() as stack:
        workers = [stack.enter_context(start_worker(label, port)) for label, port in sides]
        for (label, port), worker in zip(sides, workers):
            run(check, label, port, worker)
    check.finish()


if __name__ == "__main__":
    main()
