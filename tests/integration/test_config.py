"""kv's options: bad values are refused by name, --plan reports a plan that grows with the
sizing options, a config file is read and flags override it, and --help prints usage.

1. Every bad value (not a number, negative, out of range, unknown option, unknown enum
   word, missing value, unreadable config file, a bad line inside a config file, a maxmemory
   too small to size the heap) makes kv exit with status 2 and a message on stderr naming the
   option (as `key_count` or `--key-count`). kv is run with a timeout, so one that starts
   serving by mistake is killed and reported.
2. `kv --plan` exits 0 and prints one line with bytes per pool and a total line; the total
   covers the pools; the heap pool holds maxmemory; the budget's split (data limit + client
   reserve = the heap) is printed; doubling maxmemory grows the heap and the total, doubling
   maxclients grows the connections pool, and the caps change nothing up front. With the
   four caps set it prints the maxmemory that guarantees them: it grows with each cap, covers
   key_count maximal values, and says whether the configured maxmemory holds them.
3. A config file (comments, blank lines, `name value` lines) is used: its key_count gives the
   same plan as the flag; a flag overrides one line and keeps the others; a server started
   from the file listens on the file's port and refuses key key_count + 1; --port overrides the
   file's port. The startup log shows the plan and a line with "ready" and the port.
4. `kv --help` exits 0 and lists the options.
"""
import os
import re
import tempfile

import kvtest

POOLS = ("connections", "heap", "scratch", "blocking", "stats")
CAPS = {"key_count": 1000, "val_size_max": 4096, "list_length_max": 50, "key_size_max": 1024}


def flag(option):
    return "--" + option.replace("_", "-")


def names(message, option):
    """Does message name option in either spelling?"""
    return option in message or flag(option) in message


def bad_values(check, config_dir):
    port = str(kvtest.free_port())
    quiet = ["--port", port, "--hugepages", "off"]
    unreadable = os.path.join(config_dir, "missing.conf")
    cases = [
        (["--maxmemory", "1mb"] + quiet, "maxmemory"),
        (["--maxmemory", "lots"] + quiet, "maxmemory"),
        (["--maxmemory-policy", "lru"] + quiet, "maxmemory-policy"),
        (["--key-count", "abc"] + quiet, "key_count"),
        (["--key-count", "-5"] + quiet, "key_count"),
        (["--key-count", "1.5"] + quiet, "key_count"),
        (["--key-count", ""] + quiet, "key_count"),
        (["--key-count", "12abc"] + quiet, "key_count"),
        (["--key-count", "99999999999999999999999"] + quiet, "key_count"),
        (quiet + ["--key-count"], "key_count"),                   # missing value
        (["--connections-max", "0"] + quiet, "connections_max"),
        (["--connections-max", "-1"] + quiet, "connections_max"),
        (["--key-size-max", "-1"] + quiet, "key_size_max"),
        (["--val-size-max", "x"] + quiet, "val_size_max"),
        (["--list-length-max", "9999999999"] + quiet, "list_length_max"),
        (["--port", "0", "--hugepages", "off"], "port"),
        (["--port", "70000", "--hugepages", "off"], "port"),
        (["--port", "http", "--hugepages", "off"], "port"),
        (["--bind", "not-an-address"] + quiet, "bind"),
        (["--hugepages", "huge", "--port", port], "hugepages"),
        (["--hugepages", "ON", "--port", port], "hugepages"),
        (["--mlock", "maybe"] + quiet, "mlock"),
        (["--no-such-option", "1"] + quiet, "no_such_option"),
        (["--config", unreadable] + quiet, "config"),
        (["--config"], "config"),
    ]
    bad_files = (("key_count abc\n", "key_count"), ("# ok\n\nval_size_max -3\n", "val_size_max"),
                 ("key_count\n", "key_count"), ("no_such_option 3\n", "no_such_option"),
                 ("hugepages sometimes\n", "hugepages"))
    for lines, option in bad_files:
        path = os.path.join(config_dir, f"bad-{len(cases)}.conf")
        with open(path, "w") as f:
            f.write(lines)
        cases.append((["--config", path] + quiet, option))
    for args, option in cases:
        result = kvtest.run_kv(*args, timeout=10)
        what = f"kv {' '.join(args)}"
        if result.returncode is None:
            check.true(f"{what}: exits", False, "still running after 10 s: killed")
            continue
        check.equal(f"{what}: exit status", 2, result.returncode)
        check.true(f"{what}: stderr names {option}", names(result.stderr, option),
                   f"stderr: {result.stderr.strip()!r}")


def plan(*args):
    """(result, {pool: bytes}, total bytes) of kv --plan with args."""
    result = kvtest.run_kv("--plan", *args, timeout=20)
    pools = {}
    section = result.stdout.split("pools (bytes)", 1)[-1]
    for name in POOLS:
        match = re.search(rf"^\s*{name}\s+(\d+)\s*$", section, re.M)
        if match:
            pools[name] = int(match.group(1))
    total = re.search(r"^\s*total\b\D*?(\d+)", result.stdout, re.M)
    return result, pools, int(total.group(1)) if total else None


def number_after(text, label):
    match = re.search(rf"{label}\D*?(\d+) bytes", text)
    return int(match.group(1)) if match else None


def caps_needed(**caps):
    args = []
    for option, value in caps.items():
        args += [flag(option), value]
    result = kvtest.run_kv("--plan", *args, timeout=20)
    return number_after(result.stdout, "maxmemory needed"), result.stdout


def plan_output(check):
    result, pools, total = plan()
    print(result.stdout)
    check.equal("kv --plan: exit status", 0, result.returncode)
    check.equal("kv --plan: a line with bytes for every pool", sorted(POOLS), sorted(pools))
    check.true("kv --plan: every pool has bytes", all(v > 0 for v in pools.values()), pools)
    check.true("kv --plan: a total line", total is not None)
    if total is None or len(pools) != len(POOLS):
        return
    check.true(f"the total ({total}) covers the pools ({sum(pools.values())})",
               total >= sum(pools.values()))
    check.true("the heap pool holds maxmemory (256mb)", pools["heap"] >= 256 << 20,
               pools["heap"])
    heap = number_after(result.stdout, "heap =")
    limit = number_after(result.stdout, "data limit =")
    reserve = number_after(result.stdout, "client reserve =")
    check.equal("the budget's split: data limit + client reserve = the heap", heap,
                (limit or 0) + (reserve or 0))
    check.true("without caps, no guarantee is claimed", "caps guarantee\n  none" in result.stdout,
               result.stdout)
    _, bigger, bigger_total = plan("--maxmemory", "512mb")
    check.true("doubling maxmemory doubles the heap",
               bigger.get("heap", 0) >= 2 * pools["heap"] - 8192, (pools["heap"], bigger))
    check.true("doubling maxmemory grows the total", (bigger_total or 0) > total)
    _, bigger, _ = plan("--maxclients", 20000)
    check.true("doubling maxclients (10000 to 20000) grows the connections pool",
               bigger.get("connections", 0) > pools["connections"])
    _, capped, capped_total = plan(*sum(([flag(o), v] for o, v in CAPS.items()), []))
    check.equal("the caps change nothing up front (the budget is the limit)", total, capped_total)
    needed, text = caps_needed(**CAPS)
    check.true("with the four caps set, the maxmemory that guarantees them is printed",
               needed is not None, text)
    if needed is None:
        return
    worst = CAPS["key_count"] * CAPS["list_length_max"] * CAPS["val_size_max"]
    check.true(f"it covers key_count maximal lists of val_size_max values ({needed} >= {worst})",
               needed >= worst)
    check.true("it says whether maxmemory holds them", "is short by" in text, text)
    for option in CAPS:
        doubled = dict(CAPS)
        doubled[option] *= 2
        grown, _ = caps_needed(**doubled)
        check.true(f"doubling {option} grows the guarantee: {needed} -> {grown}",
                   (grown or 0) > needed)
    held, text = caps_needed(maxmemory="2gb", **CAPS)
    check.true("a maxmemory past the guarantee holds the caps", "holds the caps" in text, text)


def config_file(check, config_dir):
    port = kvtest.free_port()
    path = os.path.join(config_dir, "kv.conf")
    with open(path, "w") as f:
        f.write("# kv test configuration\n\n"
                f"port {port}\n"
                "key_count 5\n"
                "   # an indented comment\n"
                "val_size_max 100\n"
                "list_length_max 4\n"
                "connections_max 8\n"
                "hugepages off\n")
    from_file = kvtest.run_kv("--config", path, "--plan").stdout
    from_flags = kvtest.run_kv("--key-count", 5, "--val-size-max", 100, "--list-length-max", 4,
                               "--connections-max", 8, "--plan").stdout
    check.equal("kv --config FILE --plan equals the plan of the same values as flags",
                from_flags, from_file)
    result = kvtest.run_kv("--config", path, "--plan")
    check.true("kv --config FILE --plan shows the file's key_count",
               re.search(r"key_count\D{1,5}5\b", result.stdout) is not None, result.stdout[:300])
    overridden = kvtest.run_kv("--config", path, "--key-count", 10, "--plan").stdout
    wanted = kvtest.run_kv("--key-count", 10, "--val-size-max", 100, "--list-length-max", 4,
                           "--connections-max", 8, "--plan").stdout
    check.equal("a flag overrides the file's key_count and keeps its other lines", wanted,
                overridden)
    result = kvtest.run_kv("--config", path, "--key-count", 10, "--plan")
    check.true("the overridden plan shows key_count 10",
               re.search(r"key_count\D{1,5}10\b", result.stdout) is not None, result.stdout[:300])
    # A server from the file alone: its port, its key_count, its val_size_max.
    with kvtest.Server("kv", [kvtest.KV_BIN, "--config", path], port).wait_ready() as kv, \
            kv.connect() as client:
        stored = [client.call("SET", f"key{i}", "v") for i in range(5)]
        check.equal("the file's port serves; 5 keys (the file's key_count) stored",
                    [b"+OK\r\n"] * 5, stored)
        check.starts("key 6 is refused", b"-ERR store is full", client.call("SET", "key5", "v"))
        check.starts("a 101-byte value is refused (val_size_max 100)", b"-ERR",
                     client.call("SET", "key0", b"v" * 101))
        log = kv.log_text()
        check.true("the startup log shows the plan", "total" in log and "heap" in log, log[-800:])
        check.true("the startup log has a line with 'ready' and the port",
                   any("ready" in line and str(port) in line for line in log.splitlines()),
                   log[-800:])
    other = kvtest.free_port()
    with kvtest.Server("kv", [kvtest.KV_BIN, "--config", path, "--port", str(other)],
                       other).wait_ready() as kv, kv.connect() as client:
        check.equal("--port overrides the file's port", b"+PONG\r\n", client.call("PING"))


def usage(check):
    result = kvtest.run_kv("--help")
    check.equal("kv --help: exit status", 0, result.returncode)
    text = result.stdout + result.stderr
    missing = [name for name in ("--config", "--port", "--bind", "--connections-max",
                                 "--key-count", "--key-size-max", "--val-size-max",
                                 "--list-length-max", "--hugepages", "--mlock", "--plan")
               if name not in text]
    check.equal("kv --help lists every option", [], missing)
    check.true("kv --help says usage", "usage" in text.lower(), text[:200])


def main():
    kvtest.need_kv_binary()
    check = kvtest.Checker("test_config")
    with tempfile.TemporaryDirectory(prefix="kv-test-config-") as config_dir:
        bad_values(check, config_dir)
        plan_output(check)
        config_file(check, config_dir)
    usage(check)
    check.finish()


if __name__ == "__main__":
    main()
