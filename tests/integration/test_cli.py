"""kv's command line: bad options exit 2 naming the option, 0 is a valid cap (none), --plan
prints the budget's pools and grows with maxmemory and maxclients (not with the optional caps),
a config file is read and flags override it, --help prints usage, and mlock required fails with
a clear message where locking is refused."""
import os
import re
import subprocess
import tempfile

import harness


def run(*args, timeout=20, preexec=None):
    """kv run to completion; a kv still running after timeout (it took a bad option and started
    serving) is killed by subprocess.run and answers returncode None, so the check reports it."""
    try:
        return subprocess.run([harness.KV_BIN] + list(args), capture_output=True, text=True,
                              timeout=timeout, preexec_fn=preexec)
    except subprocess.TimeoutExpired as expired:
        texts = [t.decode(errors="replace") if isinstance(t, bytes) else (t or "")
                 for t in (expired.stdout, expired.stderr)]
        return subprocess.CompletedProcess(expired.cmd, None, texts[0], texts[1])


def plan_numbers(*args):
    result = run("--plan", *args)
    pools = dict(re.findall(r"^\s+(\w+)\s+(\d+)$", result.stdout, re.M))
    total = int(re.search(r"^total\s+(\d+)", result.stdout, re.M).group(1))
    return result, {name: int(value) for name, value in pools.items()}, total


POOLS = ("connections", "heap", "scratch", "blocking", "stats", "lua", "receive", "cluster_bus")
# Pools that are 0 bytes unless an option turns them on (the cluster bus: cluster-enabled yes).
POOLS_OPTIONAL = ("cluster_bus",)
CAPPED = ("--key-count", "1000", "--val-size-max", "4096", "--list-length-max", "50",
          "--key-size-max", "1024")


def uncapped(checks):
    """Caps of 0 are none: a kv with 0 for each stores more keys, longer keys and values and a
    longer list than the seed's old defaults allowed (1000 keys, 1 KiB keys, 4 KiB values, 50
    elements), within a 16 MiB budget."""
    port = harness.free_port()
    with harness.Server([harness.KV_BIN, "--port", str(port), "--bind", "127.0.0.1",
                         "--connections-max", "4", "--hugepages", "off", "--maxmemory", "16mb",
                         "--key-count", "0", "--key-size-max", "0", "--val-size-max", "0",
                         "--list-length-max", "0"], port, "kv").wait_ready() as kv:
        client = kv.connect()
        client.send(b"".join(harness.encode("SET", f"k{i}", "v") for i in range(1500)))
        replies = [client.reply() for _ in range(1500)]
        checks.equal(replies.count(b"+OK\r\n"), 1500, "key_count 0: 1500 keys stored")
        long_key, long_value = "K" * 2000, "V" * 10000
        checks.equal(client.call("SET", long_key, long_value), b"+OK\r\n",
                     "key_size_max and val_size_max 0: a 2000-byte key with a 10000-byte value")
        checks.equal(client.call("STRLEN", long_key), b":10000\r\n", "the long value reads back")
        checks.equal(client.call("RPUSH", "list", *range(200)), b":200\r\n",
                     "list_length_max 0: a list of 200 elements")
        checks.equal(client.call("DBSIZE"), b":1502\r\n", "DBSIZE counts them all")
        client.close()


def hugepages(checks):
    """With 2 MiB hugepages reserved (CI reserves some), kv maps its region on them. An 8 MiB
    budget makes the region about 10 MiB, so 8 free pages hold it."""
    path = "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"
    free = int(open(path).read()) if os.path.exists(path) else 0
    if free < 8:
        print("no free 2 MiB hugepages: hugepage startup not exercised here")
        return
    port = harness.free_port()
    argv = [harness.KV_BIN, "--port", str(port), "--connections-max", "4", "--key-count", "16",
            "--maxmemory", "8mb", "--hugepages", "2m"]
    with harness.Server(argv, port, "kv").wait_ready() as kv:
        client = kv.connect()
        memory = harness.info(client, "memory")
        checks.equal(memory["kv_region_hugetlb"], "1", "region on hugepages")
        checks.equal(memory["kv_region_page_bytes"], str(2 << 20), "2 MiB pages")
        checks.equal(client.call("SET", "h", "p"), b"+OK\r\n", "serves from hugepages")
        client.close()
        checks.true("2MiB" in kv.log_text(), "the log names the page size")


def main():
    checks = harness.Checks("test_cli")
    # 0 is no longer bad for the caps (it means none); a negative cap still is.
    bad = [
        (["--key-count", "-1"], "key_count"), (["--key-count", "abc"], "key_count"),
        (["--key-count"], "key_count"), (["--port", "70000"], "port"),
        (["--connections-max", "-1"], "connections_max"),
        (["--val-size-max", "1.5"], "val_size_max"),
        (["--key-size-max", ""], "key_size_max"), (["--list-length-max", "-1"], "list_length_max"),
        (["--hugepages", "huge"], "hugepages"), (["--mlock", "maybe"], "mlock"),
        (["--bind", "not-an-ip"], "bind"), (["--no-such-option", "1"], "no_such_option"),
        (["--config", "/nonexistent.conf"], "config"),
        (["--maxmemory", "0"], "maxmemory"), (["--maxmemory-policy", "lru"], "maxmemory-policy"),
    ]
    for args, option in bad:
        result = run(*args)
        checks.equal(result.returncode, 2, f"exit status for {args}")
        checks.true(option in result.stderr,
                    f"message for {args} names {option}: {result.stderr!r}")

    result, pools, total = plan_numbers()
    checks.equal(result.returncode, 0, "--plan exits 0")
    checks.equal(sorted(pools), sorted(POOLS), "--plan's pools: the heap holds the rest")
    for name in POOLS:
        if name in POOLS_OPTIONAL:
            checks.equal(pools.get(name), 0, f"--plan shows pool {name}, 0 bytes by default")
        else:
            checks.true(pools.get(name, 0) > 0, f"--plan shows pool {name}")
    _, bus_pools, bus_total = plan_numbers("--cluster-enabled", "yes")
    checks.true(bus_pools.get("cluster_bus", 0) > 0 and
                bus_total - total == bus_pools["cluster_bus"],
                "cluster-enabled yes: the cluster bus's links are a pool of their own")
    checks.true(total >= sum(pools.values()), "total covers every pool")
    checks.true(pools["heap"] >= 256 << 20, "the heap holds the default maxmemory, 256mb")
    split = re.search(r"^\s+heap = (\d+) bytes.*\n\s+data limit = (\d+) bytes.*\n"
                      r"\s+client reserve = (\d+) bytes", result.stdout, re.M)
    checks.true(split is not None and int(split[1]) == 256 << 20
                and int(split[2]) + int(split[3]) == int(split[1]),
                f"budget: data limit + client reserve = heap = maxmemory: {result.stdout!r}")
    for flags, pool in ((["--maxmemory", "512mb"], "heap"),
                        (["--maxclients", "20000"], "connections"),
                        (["--connections-max", "20000"], "connections"),
                        (["--lua-heap-bytes", "64mb"], "lua")):
        _, grown, grown_total = plan_numbers(*flags)
        checks.true(grown[pool] > pools[pool] and grown_total > total,
                    f"doubling {flags[0]} grows {pool} and the total")
    # The caps are checks on the heap, not reservations: setting them costs nothing up front.
    capped, capped_pools, capped_total = plan_numbers(*CAPPED)
    checks.equal((capped_pools, capped_total), (pools, total),
                 "the caps leave the pools as they are")
    checks.true("maxmemory needed =" in capped.stdout,
                "with the four caps --plan prints the maxmemory that guarantees them: "
                f"{capped.stdout!r}")
    zero = run("--plan", "--key-count", "0", "--list-length-max", "0")
    checks.true(zero.returncode == 0 and "key_count = 0" in zero.stdout
                and "list_length_max = 0" in zero.stdout, f"0 is a valid cap (none): {zero!r}")
    uncapped(checks)

    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as conf:
        conf.write("# kv test config\n\nkey_count 123\nval_size_max 100\nconnections_max 7\n"
                   "maxmemory 16mb\n")
        path = conf.name
    try:
        result = run("--config", path, "--plan")
        checks.true("key_count = 123" in result.stdout, "the file's key_count is used")
        result = run("--config", path, "--key-count", "321", "--plan")
        checks.true("key_count = 321" in result.stdout and "val_size_max = 100" in result.stdout,
                    "a flag overrides the file, the rest of the file stays")
        port = harness.free_port()
        with harness.Server([harness.KV_BIN, "--config", path, "--port", str(port), "--hugepages",
                             "off"], port, "kv").wait_ready() as kv:
            client = kv.connect()
            checks.equal(client.call("CONFIG", "GET", "key_count"),
                         b"*2\r\n$9\r\nkey_count\r\n$3\r\n123\r\n",
                         "CONFIG GET shows the file's value")
            checks.equal(client.call("CONFIG", "GET", "maxmemory"),
                         b"*2\r\n$9\r\nmaxmemory\r\n$8\r\n16777216\r\n",
                         "the file's maxmemory (Redis's size words) sizes the budget")
            checks.equal(client.call("SET", "v", "x" * 100), b"+OK\r\n",
                         "a value at the file's cap")
            checks.equal(client.call("SET", "v", "x" * 101),
                         b"-ERR value is too long (val_size_max is 100 bytes)\r\n",
                         "a value past the file's val_size_max is refused")
            client.close()
            checks.true("ready" in kv.log_text() and str(port) in kv.log_text(),
                        "startup logs ready with the port")
            checks.true("total" in kv.log_text(), "startup logs the plan")
    finally:
        os.unlink(path)

    hugepages(checks)

    result = run("--help")
    checks.equal(result.returncode, 0, "--help exits 0")
    checks.true("--key-count" in result.stdout and "--mlock" in result.stdout, "usage lists flags")

    # mlock required where the memlock limit refuses: clear message, non-zero exit.
    if not harness.SANITIZED and os.geteuid() == 0:
        def drop_lock_privilege():
            import resource
            resource.setrlimit(resource.RLIMIT_MEMLOCK, (64 * 1024, 64 * 1024))
            os.setgid(65534)
            os.setuid(65534)
        result = run("--port", str(harness.free_port()), "--connections-max", "4",
                     "--hugepages", "off", "--mlock", "required", preexec=drop_lock_privilege)
        checks.true(result.returncode != 0 and "mlock" in result.stderr
                    and "LimitMEMLOCK" in result.stderr,
                    f"mlock required refused: {result.stderr!r}")
        # mlock auto: warns, serves unlocked, and (without the memlock allowance) receives and
        # sends through plain buffers instead of registered ones.
        port = harness.free_port()
        with harness.Server([harness.KV_BIN, "--port", str(port), "--connections-max", "4",
                             "--hugepages", "off"], port, "kv",
                            preexec=drop_lock_privilege).wait_ready() as kv:
            client = kv.connect()
            checks.equal(client.call("SET", "a", "b"), b"+OK\r\n", "unlocked kv serves SET")
            checks.equal(client.call("GET", "a"), b"$1\r\nb\r\n", "unlocked kv serves GET")
            memory = harness.info(client, "memory")
            checks.equal(memory["kv_region_locked"], "0", "INFO says the region is not locked")
            client.close()
            log = kv.log_text()
            checks.true("warning" in log and "mlock" in log, "a warning says mlock was refused")
    checks.exit()


if __name__ == "__main__":
    main()
