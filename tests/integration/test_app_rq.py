"""An RQ 1.13 worker runs jobs and stores their results on kv, as it does on redis-server.

Debian's python3-rq against a real redis-server 7.0 and then against kv, the same scenario:
the test enqueues jobs (sums, a job returning nested data, a job that raises, a job that
depends on another, one on a second queue), then runs `rq worker --burst` as a subprocess
(its own process group, killed by group id if it outlives its bound) until the queues are
empty. Then every job's status and result is checked, as the application reads them.

RQ 1.13 reads INFO's redis_version; from 5.0 up it stores each result as a stream entry
(XADD rq:results:<id> MAXLEN 10 * type .. return_value ..; EXPIRE) and reads it back with
XREVRANGE rq:results:<id> + - [COUNT 1] (XLEN for Result.count). So this test needs streams
in kv: without them the worker logs `unknown command 'XADD'` and stops after its first job.

This file is also the module the worker imports the job functions from (test_app_rq.add...).
"""
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
WORKER_SECONDS = 20.0   # the burst worker's whole run (a fork per job; typically 1-2 s)
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
    jobs["store"] = default.enqueue(JOBS + "store", "kvtest:note", "left by store", result_ttl=300)
    jobs["read_back"] = default.enqueue(JOBS + "read_back", "kvtest:note", depends_on=jobs["store"],
                                        result_ttl=300)
    jobs["other"] = other.enqueue(JOBS + "add", 100, 1, result_ttl=300)
    return default, other, jobs


def check_results(check, label, connection, default, other, jobs):
    check.equal(f"{label}: queues empty after the burst", (0, 0), (len(default), len(other)))
    for i in range(JOB_COUNT):
        job = jobs[f"add{i}"]
        job.refresh()
        check.equal(f"{label}: add({i}, {10 * i}) status and result",
                    (JobStatus.FINISHED, 11 * i, 11 * i), (job.get_status(), job.result,
                                                           job.return_value()))
    check.equal(f"{label}: describe's result",
                {"name": "ünï", "numbers": [1, 2, 3], "total": 6}, jobs["describe"].return_value())
    check.equal(f"{label}: dependent job ran after its dependency",
                (JobStatus.FINISHED, "left by store"),
                (jobs["read_back"].get_status(), jobs["read_back"].return_value()))
    check.equal(f"{label}: job on the second queue", 101, jobs["other"].return_value())
    failed = jobs["fail"]
    failed.refresh()
    check.equal(f"{label}: the raising job failed", JobStatus.FAILED, failed.get_status())
    check.true(f"{label}: its exception is stored",
               "ValueError: boom" in (failed.exc_info or ""), repr(failed.exc_info))
    check.equal(f"{label}: failed registry", [failed.id],
                FailedJobRegistry(queue=default).get_job_ids())
    check.equal(f"{label}: finished registry holds the default queue's jobs",
                sorted(job.id for name, job in jobs.items() if name not in ("fail", "other")),
                sorted(FinishedJobRegistry(queue=default).get_job_ids()))
    latest = jobs["add1"].latest_result()
    check.equal(f"{label}: latest_result of add(1, 10)", ("SUCCESSFUL", 11),
                (latest.type.name, latest.return_value) if latest else None)
    check.equal(f"{label}: one result stored per job", 1, jobs["add1"].results().__len__())


def run(check, label, port):
    url = f"redis://127.0.0.1:{port}/0"
    connection = redis.Redis(host="127.0.0.1", port=port)
    connection.flushall()
    default, other, jobs = enqueue(connection)
    argv = [sys.executable, "-m", "rq.cli", "worker", "--burst", "--url", url, "--name",
            f"kvtest-{label}", "default", "other"]
    started = time.monotonic()
    with apptest.Worker(f"rq-{label}", argv) as worker:
        failures = check.failures
        status = worker.wait(WORKER_SECONDS)
        check.equal(f"{label}: the burst worker exited with status 0 in time", 0, status)
        try:
            check_results(check, label, connection, default, other, jobs)
        except Exception as error:   # a reply the library could not read: counted, log printed
            check.true(f"{label}: results read back", False, f"{type(error).__name__}: {error}")
        if check.failures != failures:
            worker.print_log()
    print(f"{label}: {time.monotonic() - started:.1f} s")
    connection.close()


def main():
    check = kvtest.Checker("test_app_rq")
    for label, port in apptest.servers():
        run(check, label, port)
    check.finish()


if __name__ == "__main__":
    main()
