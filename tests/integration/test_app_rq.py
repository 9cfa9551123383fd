"""An RQ 1.13 worker runs jobs and stores their results on kv, as it does on redis-server.

Debian's python3-rq against a real redis-server 7.0 and against kv, the same scenario:
the test enqueues jobs (sums, a job returning nested data, a job that raises, a job that
depends on another, one on a second queue) on both servers, then runs `rq worker --burst`
for each as a subprocess (side by side; each in its own process group, killed by group id
if it outlives its bound) until the queues are empty. Then every job's status and result is
checked, as the application reads them, each check on its own.

RQ 1.13 reads INFO's redis_version; from 5.0 up it stores each result as a stream entry
(in the job's MULTI/EXEC: XADD rq:results:<id> MAXLEN ~ 10 * type 1 return_value <base64>,
or type 2 exc_string <base64>; then EXPIRE) and reads it back with XREVRANGE rq:results:<id>
+ - [COUNT 1] (Result.count is XLEN). So this test needs streams in kv: without them the
worker logs `unknown command 'XADD'` after its first job and its burst ends (status 0) with
the other jobs still queued.

This file is also the module the worker imports the job functions from (test_app_rq.add...).
"""
import contextlib
import sys
import time

import apptest
import kvtest

redis = kvtest.need_pyredis()
rq = apptest.need_modules("rq")
from rq import Queue
from rq.job import JobStatus
from rq.registry import FailedJobRegistry, FinishedJobRegistry

JOBS = "test_app_rq."
WORKER_SECONDS = 20.0   # the burst worker's whole run (typically about 1 s)
JOB_COUNT = 6           # sums enqueued on the default queue


def add(x, y):
    return x + y


def describe(name, numbers):
    return {"name": name, "numbers": numbers, "total": sum(numbers)}


def fail(text):
    raise ValueError(text)


def read_back(key):
    """A job that reads what an earlier job left (so depends_on's order is observable)."""
    from rq import get_current_job
    return get_current_job().connection.get(key).decode()


def store(key, value):
    from rq import get_current_job
    get_current_job().connection.set(key, value)
    return "stored"


def enqueue(connection):
    """The jobs, named by import path (the worker imports this file as test_app_rq)."""
    default = Queue("default", connection=connection)
    other = Queue("other", connection=connection)
    jobs = {f"add{i}": default.enqueue(JOBS + "add", i, 10 * i, job_timeout=10, result_ttl=300)
            for i in range(JOB_COUNT)}
    jobs["describe"] = default.enqueue(JOBS + "describe", "ünï", [1, 2, 3], result_ttl=300)
    jobs["fail"] = default.enqueue(JOBS + "fail", "boom", failure_ttl=300)
    jobs["store"] = default.enqueue(JOBS + "store", "kvtest:note", "left by store",
                                    result_ttl=300)
    jobs["read_back"] = default.enqueue(JOBS + "read_back", "kvtest:note",
                                        depends_on=jobs["store"], result_ttl=300)
    jobs["other"] = other.enqueue(JOBS + "add", 100, 1, result_ttl=300)
    return default, other, jobs


def expectations(default, other, jobs):
    """(what, expected, how to observe it) for every job, as the application reads results.
    Each is observed on its own, so a missing command fails only the checks that use it."""
    found = [("queues empty after the burst", (0, 0), lambda: (len(default), len(other)))]
    for i in range(JOB_COUNT):
        job = jobs[f"add{i}"]
        found.append((f"add({i}, {10 * i}) status, result, return_value()",
                      (JobStatus.FINISHED, 11 * i, 11 * i),
                      lambda job=job: (job.get_status(refresh=True), job.result,
                                       job.return_value(refresh=True))))
    failed = jobs["fail"]
    found += [
        ("describe's result", {"name": "ünï", "numbers": [1, 2, 3], "total": 6},
         lambda: jobs["describe"].return_value()),
        ("the dependent job ran after its dependency", (JobStatus.FINISHED, "left by store"),
         lambda: (jobs["read_back"].get_status(), jobs["read_back"].return_value())),
        ("the job on the second queue", 101, lambda: jobs["other"].return_value()),
        ("the raising job failed", JobStatus.FAILED, lambda: failed.get_status(refresh=True)),
        ("its exception is stored", True,
         lambda: "ValueError: boom" in (failed.refresh() or failed.exc_info or "")),
        ("the failed registry", [failed.id],
         lambda: FailedJobRegistry(queue=default).get_job_ids()),
        ("the finished registry holds the default queue's other jobs",
         sorted(job.id for name, job in jobs.items() if name not in ("fail", "other")),
         lambda: sorted(FinishedJobRegistry(queue=default).get_job_ids())),
        ("latest_result() of add(1, 10)", ("SUCCESSFUL", 11),
         lambda: (lambda latest: (latest.type.name, latest.return_value) if latest else None)
         (jobs["add1"].latest_result())),
        ("one result stored per job", [1] * len(jobs),
         lambda: [len(job.results()) for job in jobs.values()]),
    ]
    return found


def start_worker(label, port):
    # SimpleWorker runs each job in the worker process: the forking default spends about 0.4 s
    # per job waiting for its work horse, which would make this test 5 s long; the commands
    # to the server are the same.
    argv = [sys.executable, "-m", "rq.cli", "worker", "--burst", "--worker-class",
            "rq.SimpleWorker", "--url", f"redis://127.0.0.1:{port}/0", "--name",
            f"kvtest-{label}", "default", "other"]
    return apptest.Worker(f"rq-{label}", argv)


def main():
    check = kvtest.Checker("test_app_rq")
    # Both servers at once, both burst workers side by side; then each server's results.
    with apptest.both_servers() as sides, contextlib.ExitStack() as stack:
        connections = [redis.Redis(host="127.0.0.1", port=port) for _, port in sides]
        queued = []
        for connection in connections:
            connection.flushall()
            queued.append(enqueue(connection))
        started = time.monotonic()
        workers = [stack.enter_context(start_worker(label, port)) for label, port in sides]
        for (label, _), worker in zip(sides, workers):
            status = worker.wait(max(started + WORKER_SECONDS - time.monotonic(), 0.1))
            print(f"{label}: the burst worker ran {time.monotonic() - started:.1f} s")
            check.equal(f"{label}: the burst worker exited with status 0 in time", 0, status)
        for (label, _), worker, (default, other, jobs) in zip(sides, workers, queued):
            failures = check.failures
            for what, expected, observe in expectations(default, other, jobs):
                try:
                    check.equal(f"{label}: {what}", expected, observe())
                except Exception as error:   # a reply the library cannot read: counted
                    check.true(f"{label}: {what}", False, f"{type(error).__name__}: {error}")
            if check.failures != failures:
                worker.print_log()
        for connection in connections:
            connection.close()
    check.finish()


if __name__ == "__main__":
    main()
