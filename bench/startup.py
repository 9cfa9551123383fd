#!/usr/bin/python3
"""Startup time of kv for large budgets, 4 KiB and 2 MiB pages, with Redis as a reference.

kv maps, locks and prefaults its whole region at startup, so its startup grows with the
budget. For budgets of 1 GiB and 16 GiB (--budgets), on 4 KiB pages (--hugepages off) and on
2 MiB pages (--hugepages 2m), this starts kv --rounds times (default 2: the first start after
memory was freed can be slower on a virtual machine, whose host backs guest memory on first
touch) and reports the time from the process's start until it answers PING, the region's
time as kv logs it ("region: N bytes locked and prefaulted in X ms by T threads"), and the
RSS after startup (VmRSS + HugetlbPages). Redis is started with the same maxmemory as a
reference only: it allocates as it goes and prefaults nothing.

2 MiB pages: the count the plan needs (kv --plan: total bytes / 2 MiB, rounded up, plus 2) is
added to /proc/sys/vm/nr_hugepages (root), checked in /proc/meminfo and the old value written
back afterwards, whatever happens; a host that cannot reserve them gets a clear "skipped" line.
A budget that does not fit in MemAvailable (with 1 GiB to spare) is skipped the same way.
One server at a time; kv is not pinned (it prefaults with several threads).

Usage: /usr/bin/python3 bench/startup.py [--kv build/kv] [--redis redis-server]
       [--budgets 1gb,16gb] [--pages off,2m] [--rounds 2] [--quick] [--markdown]
--quick: the 1gb budget only, one round. A full run takes one to three minutes.
"""
import argparse
import math
import re
import subprocess
import sys

import benchlib
from benchlib import ServerError

NR_HUGEPAGES = "/proc/sys/vm/nr_hugepages"
HUGEPAGE = 2 << 20
REGION = re.compile(r"region: (\d+) bytes locked and prefaulted in (\d+) ms by (\d+) thread")
PAGES = re.compile(r"region: \d+ bytes on (\S+) pages")


def meminfo(field):
    with open("/proc/meminfo") as info:
        for line in info:
            if line.startswith(field + ":"):
                parts = line.split()
                return int(parts[1]) * (1024 if len(parts) > 2 else 1)
    return 0


def plan_bytes(options, budget, pages):
    """The region kv would map, from kv --plan ("total N bytes"), or None."""
    try:
        output = subprocess.run([options.kv, "--maxmemory", budget, "--hugepages", pages,
                                 "--plan"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"^total\s+(\d+) bytes", output.stdout + output.stderr, re.MULTILINE)
    return int(match.group(1)) if match else None


class HugepageReservation:
    """Adds count 2 MiB pages to the pool on entry, writes the old value back on exit."""

    def __init__(self, count):
        self.count = count
        self.old = None
        self.error = None

    def __enter__(self):
        try:
            with open(NR_HUGEPAGES) as pool:
                self.old = int(pool.read())
            free_before = meminfo("HugePages_Free")
            with open(NR_HUGEPAGES, "w") as pool:
                pool.write(str(self.old + self.count))
            free = meminfo("HugePages_Free")
            if free - free_before < self.count and free < self.count:
                self.error = (f"the host reserved {free} free 2 MiB pages of the {self.count} "
                              f"needed")
        except (OSError, ValueError) as error:
            self.error = f"cannot reserve hugepages ({error}); run as root"
        return self

    def __exit__(self, *exc):
        if self.old is not None:
            try:
                with open(NR_HUGEPAGES, "w") as pool:
                    pool.write(str(self.old))
            except OSError as error:
                benchlib.progress(f"could not restore {NR_HUGEPAGES} to {self.old}: {error}")


def start_once(options, name, budget, pages):
    extra = ["--hugepages", pages] if name == "kv" else []
    server = benchlib.start(name, options, budget, "noeviction", extra_kv=extra, cpu=None,
                            start_seconds=600)
    try:
        result = {"ping_ms": server.started_s * 1000.0, "rss": server.rss()}
        log = server.log_text()
        match = REGION.search(log)
        if match:
            result.update(region=int(match.group(1)), region_ms=int(match.group(2)),
                          threads=int(match.group(3)))
        page_match = PAGES.search(log)
        result["pages"] = page_match.group(1) if page_match else "?"
        return result
    finally:
        server.stop()


def run_config(options, name, budget, pages):
    """A list of per-round results, or a string saying why the configuration was skipped."""
    need = benchlib.size_bytes(budget)
    if name == "kv":
        need = plan_bytes(options, budget, pages) or need
    available = meminfo("MemAvailable")
    if name == "kv" and pages == "off" and need + (1 << 30) > available:
        return f"skipped: needs {benchlib.mib(need)} MiB, MemAvailable is {benchlib.mib(available)}"
    rounds = []
    if name == "kv" and pages == "2m":
        count = math.ceil(need / HUGEPAGE) + 2
        if count * HUGEPAGE + (1 << 30) > available + meminfo("HugePages_Free") * HUGEPAGE:
            return (f"skipped: {count} 2 MiB pages needed, MemAvailable is "
                    f"{benchlib.mib(available)} MiB")
        with HugepageReservation(count) as reservation:
            if reservation.error:
                return f"skipped: {reservation.error}"
            for _ in range(options.rounds):
                rounds.append(start_once(options, name, budget, pages))
        return rounds
    for _ in range(options.rounds):
        rounds.append(start_once(options, name, budget, pages))
    return rounds


METHOD = """Method: one server at a time, not pinned. Startup is the wall time from the process's
start (Popen) until it answers PING on loopback (polled every 10 ms); kv's region time is the
figure kv logs for mapping, locking and prefaulting its region, by the threads it names. Rounds
follow each other immediately; on a virtual machine the first start after memory was freed
pays the host's own first-touch faults, the later ones less. 2 MiB pages are reserved in
/proc/sys/vm/nr_hugepages just before kv starts and given back after. Redis prefaults nothing
(jemalloc takes memory as data arrives), so its startup is a reference, not a like-for-like
figure."""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    benchlib.add_common_arguments(parser)
    parser.add_argument("--budgets", default="1gb,16gb")
    parser.add_argument("--pages", default="off,2m")
    parser.add_argument("--rounds", type=int, default=2)
    options = parser.parse_args()
    if options.quick:
        options.budgets, options.rounds = "1gb", 1
    table = benchlib.Table(
        "Startup until the first PONG",
        ["server", "maxmemory", "pages", "startup ms (each round)", "region ms (each round)",
         "threads", "region MiB", "RSS MiB", "pages used"],
        [False, True, False, True, True, True, True, True, False])
    notes = []
    configs = [("kv", budget, pages) for budget in options.budgets.split(",")
               for pages in options.pages.split(",")]
    configs += [("redis", budget, "-") for budget in options.budgets.split(",")]
    for name, budget, pages in configs:
        benchlib.progress(f"{name} maxmemory {budget} pages {pages} ...")
        try:
            result = run_config(options, name, budget, pages)
        except ServerError as error:
            result = f"failed: {error}"
        if isinstance(result, str):
            table.add([name, budget, pages, result])
            notes.append(f"- {name} {budget} {pages}: {result}")
        else:
            last = result[-1]
            table.add([
                name, budget, pages,
                ", ".join(f"{r['ping_ms']:.0f}" for r in result),
                ", ".join(str(r["region_ms"]) for r in result if "region_ms" in r) or "-",
                str(last.get("threads", "-")),
                benchlib.mib(last["region"]) if "region" in last else "-",
                benchlib.mib(last["rss"]),
                last["pages"] if name == "kv" else "-"])
        benchlib.progress("  " + " | ".join(table.rows[-1]))
    benchlib.report(options, "Startup time for large budgets", METHOD, [table], notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
