"""Nothing is allocated, and no page is faulted in, while kv serves.

After a short warm-up run of redis-benchmark (which touches every code path the measured run
uses), reads kv's jemalloc allocation counter (INFO memory allocator_allocations), its
resident set (/proc/PID/status VmRSS) and its minor faults (/proc/PID/stat field 10); runs
redis-benchmark with 50 clients and 250,000 requests over SET, GET, LPUSH, LPOP and PING;
then reads them again. The counter must not move at all; faults and RSS must stay flat.
"""
import subprocess

import harness

FAULT_SLACK = 16            # pages: the INFO reply path itself, nothing per request
RSS_SLACK_KB = 64


def minor_faults(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[7])  # field 10 of stat: minflt (fields after "pid (comm)" start at 3)


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def benchmark(port, requests):
    subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", "50", "-n",
                    str(requests), "-t", "set,get,lpush,lpop,ping", "-q"],
                   check=True, capture_output=True, timeout=600)


def main():
    checks = harness.Checks("test_static_alloc")
    if harness.SANITIZED:
        print("sanitizer build: no jemalloc counter, and the sanitizer allocates on its own")
        raise SystemExit(harness.SKIP)
    # LPUSH grows one list by one element per request: room for all of them.
    with harness.start_kv("--connections-max", "64", "--key-count", "8", "--key-size-max", "32",
                          "--val-size-max", "16", "--list-length-max", "60000",
                          "--hugepages", "off") as kv:
        client = kv.connect()
        benchmark(kv.port, 10000)
        before = harness.info(client, "memory")
        if before.get("allocator_allocations", "-1") == "-1":
            print("kv reports no allocator counter")
            raise SystemExit(harness.SKIP)
        faults_before, rss_before = minor_faults(kv.pid), rss_kb(kv.pid)
        benchmark(kv.port, 50000)  # 5 tests x 50,000 = 250,000 requests
        after = harness.info(client, "memory")
        faults_after, rss_after = minor_faults(kv.pid), rss_kb(kv.pid)
        print(f"allocations {before['allocator_allocations']} -> {after['allocator_allocations']}, "
              f"minor faults {faults_before} -> {faults_after}, VmRSS {rss_before} -> {rss_after} kB")
        checks.equal(after["allocator_allocations"], before["allocator_allocations"],
                     "allocator_allocations unchanged across 250,000 requests")
        checks.true(faults_after - faults_before <= FAULT_SLACK,
                    f"minor faults grew by {faults_after - faults_before}")
        checks.true(rss_after - rss_before <= RSS_SLACK_KB,
                    f"VmRSS grew by {rss_after - rss_before} kB")
        stats = harness.info(client, "stats")
        checks.true(int(stats["total_commands_processed"]) >= 300000,
                    f"kv ran {stats['total_commands_processed']} commands")
        client.close()
    checks.exit()


if __name__ == "__main__":
    main()
