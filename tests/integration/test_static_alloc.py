"""Nothing is allocated, and no page is faulted in, while kv serves.

kv counts every call into its allocator (jemalloc) and shows the count as INFO memory
allocator_allocations. After a short warm-up run of redis-benchmark, the test reads that
counter, kv's minor page faults (/proc/PID/stat field 10, minflt) and its resident set
(/proc/PID/status VmRSS); runs `redis-benchmark -c 50 -n 50000 -t set,get,lpush,lpop,ping -q`
(six tests, 300,000 requests from 50 clients); and reads them again. The counter must not move
at all, minor faults may grow by at most FAULT_SLACK pages and VmRSS by at most RSS_SLACK_KB.
INFO is read twice before the run to show an INFO call itself allocates nothing, and the
/proc readings are taken between the INFO calls and the run so INFO's own work is outside them.
INFO stats total_commands_processed proves the requests reached kv.

LPUSH grows one list ("mylist") by one element per request before LPOP empties it again, so
list_length_max is larger than -n. redis-benchmark opens a test's 50 clients while the previous
test's may still be closing, so connections_max leaves room for twice as many. Skips (77) for
the sanitizer build (KV_SANITIZE true: no jemalloc counter, and the sanitizer allocates on its
own) and when kv reports no counter.
"""
import re
import subprocess

import kvtest

FAULT_SLACK = 16       # pages
RSS_SLACK_KB = 64
CLIENTS = 50
REQUESTS = 50000       # per benchmark test; six tests (ping is PING_INLINE and PING_MBULK)
TESTS = "set,get,lpush,lpop,ping"
OPTIONS = ["--connections-max", 128, "--key-count", 8, "--key-size-max", 32,
           "--val-size-max", 8, "--list-length-max", 60000, "--hugepages", "off"]


def minor_faults(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[7])   # fields[0] is field 3 (state), so field 10 (minflt) is fields[7]


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


def benchmark(port, requests):
    """Run redis-benchmark; returns {test name: requests per second}."""
    result = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c",
                             str(CLIENTS), "-n", str(requests), "-t", TESTS, "-q"],
                            capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"redis-benchmark exit {result.returncode}: {result.stderr[-500:]}")
    rates = {}
    for line in result.stdout.replace("\r", "\n").splitlines():
        match = re.match(r"^(\w+): ([\d.]+) requests per second", line.strip())
        if match:
            rates[match.group(1)] = float(match.group(2))
    return rates


def allocations(client):
    return kvtest.info(client, "memory").get("allocator_allocations", "-1")


def main():
    if kvtest.SANITIZED:
        print("SKIP: sanitizer build (KV_SANITIZE): no jemalloc counter, ASan allocates itself")
        raise SystemExit(kvtest.SKIP)
    kvtest.need_kv_binary()
    kvtest.need_program("redis-benchmark")
    check = kvtest.Checker("test_static_alloc")
    with kvtest.start_kv(*OPTIONS) as kv, kv.connect() as client:
        warm = benchmark(kv.port, 5000)
        check.equal("warm-up ran every benchmark test",
                    ["GET", "LPOP", "LPUSH", "PING_INLINE", "PING_MBULK", "SET"], sorted(warm))
        first = allocations(client)
        if first in ("-1", ""):
            print(f"SKIP: kv reports allocator_allocations {first!r}: no allocator counter")
            raise SystemExit(kvtest.SKIP)
        before = allocations(client)
        check.equal("an INFO call allocates nothing (two reads in a row)", first, before)
        commands_before = int(kvtest.info(client, "stats")["total_commands_processed"])
        faults_before, rss_before = minor_faults(kv.pid), rss_kb(kv.pid)

        rates = benchmark(kv.port, REQUESTS)

        faults_after, rss_after = minor_faults(kv.pid), rss_kb(kv.pid)
        after = allocations(client)
        commands = int(kvtest.info(client, "stats")["total_commands_processed"]) - commands_before
        print(f"benchmark: {', '.join(f'{k} {v:.0f}/s' for k, v in sorted(rates.items()))}")
        print(f"allocator_allocations {before} -> {after}; minor faults {faults_before} -> "
              f"{faults_after} (+{faults_after - faults_before}); VmRSS {rss_before} -> "
              f"{rss_after} kB ({rss_after - rss_before:+d} kB)")
        check.equal("measured run: every benchmark test ran",
                    ["GET", "LPOP", "LPUSH", "PING_INLINE", "PING_MBULK", "SET"], sorted(rates))
        check.true(f"kv processed the run's {6 * REQUESTS} requests ({commands} commands)",
                   commands >= 6 * REQUESTS)
        check.equal(f"allocator_allocations unchanged across {commands} commands", before, after)
        check.true(f"minor faults grew by {faults_after - faults_before} <= {FAULT_SLACK}",
                   faults_after - faults_before <= FAULT_SLACK)
        check.true(f"VmRSS grew by {rss_after - rss_before} kB <= {RSS_SLACK_KB} kB",
                   rss_after - rss_before <= RSS_SLACK_KB)
        check.equal("the benchmark's list is empty again", b":0\r\n", client.call("LLEN", "mylist"))
    with kvtest.start_kv("--hugepages", "off", "--maxmemory", "32mb",
                         "--lua-heap-bytes", "8mb") as kv, kv.connect() as client:
        scripts(check, client)
    check.finish()


SCRIPT_RUNS = 2000


def scripts(check, client):
    """Scripts allocate only from the Lua heap: loads, EVAL/EVALSHA with redis.call on strings,
    lists and hashes, errors, compile errors, SCRIPT FLUSH, a script that fills the Lua heap,
    and functions (functions()) leave the process allocator's counter where it was."""
    body = ("redis.call('SET', KEYS[1], ARGV[1]) redis.call('RPUSH', KEYS[2], ARGV[1]) "
            "redis.call('HSET', KEYS[3], ARGV[1], ARGV[1]) "
            "local t = redis.call('LRANGE', KEYS[2], 0, -1) "
            "return {#t, redis.call('GET', KEYS[1]), redis.call('HGETALL', KEYS[3])}")
    sha = client.call("SCRIPT", "LOAD", body)[5:-2]  # warm: the state holds it
    client.call("EVALSHA", sha, 3, "sk", "sl", "sh", "w")
    before = allocations(client)
    for run in range(SCRIPT_RUNS):
        reply = client.call("EVALSHA", sha, 3, "sk", "sl", "sh", f"v{run % 50}")
        if not reply.startswith(b"*3\r\n"):
            check.true("EVALSHA answered its array", False, reply[:200])
            break
        client.call("EVAL", f"return {{{run}, 'x', redis.pcall('INCR', 'sl')}}", 0)
        client.call("EVAL", "return redis.call('LPOP', KEYS[1])", 1, "sl")
    client.call("EVAL", "error('boom')", 0)
    client.call("EVAL", "return (", 0)
    client.call("SCRIPT", "FLUSH")
    full = client.call("EVAL", "local s = 'x' for i = 1, 40 do s = s .. s end return #s", 0)
    check.starts("a script that fills the Lua heap gets Lua's memory error",
                 b"-ERR Error running script", full)
    check.true("... naming it", b"not enough memory" in full, full)
    check.equal("kv serves on", b"+PONG\r\n", client.call("PING"))
    check.equal("and runs the next script", b":3\r\n", client.call("EVAL", "return 3", 0))
    functions(check, client)
    after = allocations(client)
    print(f"scripts: allocator_allocations {before} -> {after} over {3 * SCRIPT_RUNS} runs")
    check.equal(f"allocator_allocations unchanged across {3 * SCRIPT_RUNS} script runs",
                before, after)


FUNCTION_RUNS = 500


def functions(check, client):
    """Functions live in the same Lua heap: loads, FCALL and FCALL_RO, DUMP and RESTORE, LIST
    and FLUSH (the functions' state rebuilt) allocate nothing outside it."""
    library = ("#!lua name=staticlib\n"
               "redis.register_function('bump', function(keys, args) "
               "return redis.call('INCRBY', keys[1], args[1]) end)\n"
               "redis.register_function{function_name='look', flags={'no-writes'}, "
               "callback=function(keys) return redis.call('GET', keys[1]) end}")
    check.equal("FUNCTION LOAD", b"$9\r\nstaticlib\r\n", client.call("FUNCTION", "LOAD", library))
    for run in range(FUNCTION_RUNS):
        if not client.call("FCALL", "bump", 1, "fk", run % 7).startswith(b":"):
            check.true("FCALL answered its integer", False)
            break
        client.call("FCALL_RO", "look", 1, "fk")
    payload = kvtest.decode(client.call("FUNCTION", "DUMP"))
    check.equal("FUNCTION RESTORE REPLACE", b"+OK\r\n",
                client.call("FUNCTION", "RESTORE", payload, "REPLACE"))
    client.call("FUNCTION", "LIST", "WITHCODE")
    client.call("FUNCTION", "LOAD", "#!lua name=broken\nerror('no')")
    check.equal("FUNCTION FLUSH", b"+OK\r\n", client.call("FUNCTION", "FLUSH"))
    check.equal("FCALL after the flush", b"-ERR Function not found\r\n",
                client.call("FCALL", "bump", 1, "fk", 1))


if __name__ == "__main__":
    main()
