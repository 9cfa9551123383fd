"""kv's command line: bad options exit 2 naming the option, --plan prints the plan and grows
with the sizing options, a config file is read and flags override it, --help prints usage,
and mlock required fails with a clear message where locking is refused."""
import os
import re
import subprocess
import tempfile

import harness


def run(*args, timeout=20, preexec=None):
    return subprocess.run([harness.KV_BIN] + list(args), capture_output=True, text=True,
                          timeout=timeout, preexec_fn=preexec)


def plan_numbers(*args):
    result = run("--plan", *args)
    pools = dict(re.findall(r"^\s+(\w+)\s+(\d+)$", result.stdout, re.M))
    total = int(re.search(r"^total\s+(\d+)", result.stdout, re.M).group(1))
    return result, {name: int(value) for name, value in pools.items()}, total


def hugepages(checks):
    """With 2 MiB hugepages reserved (CI reserves some), kv maps its region on them."""
    path = "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"
    free = int(open(path).read()) if os.path.exists(path) else 0
    if free < 8:
        print("no free 2 MiB hugepages: hugepage startup not exercised here")
        return
    port = harness.free_port()
    with harness.Server([harness.KV_BIN, "--port", str(port), "--connections-max", "4",
                         "--key-count", "16", "--hugepages", "2m"], port, "kv").wait_ready() as kv:
        client = kv.connect()
        memory = harness.info(client, "memory")
        checks.equal(memory["kv_region_hugetlb"], "1", "region on hugepages")
        checks.equal(memory["kv_region_page_bytes"], str(2 << 20), "2 MiB pages")
        checks.equal(client.call("SET", "h", "p"), b"+OK\r\n", "serves from hugepages")
        client.close()
        checks.true("2MiB" in kv.log_text(), "the log names the page size")


def main():
    checks = harness.Checks("test_cli")
    bad = [
        (["--key-count", "0"], "key_count"), (["--key-count", "abc"], "key_count"),
        (["--key-count"], "key_count"), (["--port", "70000"], "port"),
        (["--connections-max", "-1"], "connections_max"), (["--val-size-max", "1.5"], "val_size_max"),
        (["--key-size-max", ""], "key_size_max"), (["--list-length-max", "0"], "list_length_max"),
        (["--hugepages", "huge"], "hugepages"), (["--mlock", "maybe"], "mlock"),
        (["--bind", "not-an-ip"], "bind"), (["--no-such-option", "1"], "no_such_option"),
        (["--config", "/nonexistent.conf"], "config"),
        (["--list-length-max", "1000000", "--val-size-max", "4096"], "list_length_max"),
    ]
    for args, option in bad:
        result = run(*args)
        checks.equal(result.returncode, 2, f"exit status for {args}")
        checks.true(option in result.stderr, f"message for {args} names {option}: {result.stderr!r}")

    result, pools, total = plan_numbers()
    checks.equal(result.returncode, 0, "--plan exits 0")
    for name in ("connections", "recv_buffers", "send_buffers", "table", "keys", "values",
                 "list_nodes", "scratch"):
        checks.true(pools.get(name, 0) > 0, f"--plan shows pool {name}")
    checks.true(total >= sum(pools.values()), "total covers every pool")
    checks.true(pools["values"] >= 1000 * 50 * 4096, "every key can hold a maximal list")
    for flag, pool in (("--key-count", "values"), ("--val-size-max", "values"),
                       ("--list-length-max", "list_nodes"), ("--connections-max", "recv_buffers")):
        default = {"--key-count": 1000, "--val-size-max": 4096, "--list-length-max": 50,
                   "--connections-max": 1000}[flag]
        _, grown, grown_total = plan_numbers(flag, str(default * 2))
        checks.true(grown[pool] > pools[pool] and grown_total > total,
                    f"doubling {flag} grows {pool} and the total")

    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as conf:
        conf.write("# kv test config\n\nkey_count 123\nval_size_max 100\nconnections_max 7\n")
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
                         b"*2\r\n$9\r\nkey_count\r\n$3\r\n123\r\n", "CONFIG GET shows the file's value")
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
                    and "LimitMEMLOCK" in result.stderr, f"mlock required refused: {result.stderr!r}")
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
