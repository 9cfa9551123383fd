"""kv's options: bad values are refused by name, --plan reports a plan that grows with the
sizing options, a config file is read and flags override it, and --help prints usage.

1. Every bad value (not a number, zero, negative, out of range, unknown option, unknown enum
   word, missing value, unreadable config file, a bad line inside a config file) makes kv exit
   with status 2 and a message on stderr naming the option (as `key_count` or `--key-count`).
   kv is run with a timeout, so one that starts serving by mistake is killed and reported.
2. `kv --plan` exits 0 and prints one line with bytes per pool (connections, recv_buffers,
   send_buffers, table, keys, values, list_nodes, scratch) and a total line; the total covers
   the pools, the values pool holds a maximal list for every key, and doubling key_count,
   val_size_max, list_length_max or connections_max grows the pools they size and the total.
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

POOLS = ("connections", "recv_buffers", "send_buffers", "table", "keys", "values",
         "list_nodes", "scratch")
DEFAULTS = {"key_count": 1000, "val_size_max": 4096, "list_length_max": 50,
            "connections_max": 1000, "key_size_max": 1024}


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
        (["--key-count", "0"] + quiet, "key_count"),
        (["--key-count", "abc"] + quiet, "key_count"),
        (["--key-count", "-5"] + quiet, "key_count"),
        (["--key-count", "1.5"] + quiet, "key_count"),
        (["--key-count", ""] + quiet, "key_count"),
        (["--key-count", "12abc"] + quiet, "key_count"),
        (["--key-count", "99999999999999999999999"] + quiet, "key_count"),
        (quiet + ["--key-count"], "key_count"),                   # missing value
        (["--connections-max", "0"] + quiet, "connections_max"),
        (["--connections-max", "-1"] + quiet, "connections_max"),
        (["--key-size-max", "0"] + quiet, "key_size_max"),
        (["--val-size-max", "0"] + quiet, "val_size_max"),
        (["--val-size-max", "x"] + quiet, "val_size_max"),
        (["--list-length-max", "0"] + quiet, "list_length_max"),
        (["--list-length-max", "1000000", "--val-size-max", "4096"] + quiet, "list_length_max"),
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
    bad_files = (("key_count abc\n", "key_count"), ("# ok\n\nval_size_max 0\n", "val_size_max"),
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
    for name in POOLS:
        match = re.search(rf"^\s*{name}\b\D*?(\d+)", result.stdout, re.M)
        if match:
            pools[name] = int(match.group(1))
    total = re.search(r"^\s*total\b\D*?(\d+)", result.stdout, re.M)
    return result, pools, int(total.group(1)) if total else None


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
    d = DEFAULTS
    check.true("values hold a maximal list for every key",
               pools["values"] >= d["key_count"] * d["list_length_max"] * d["val_size_max"])
    check.true("recv_buffers hold a maximal RPUSH per connection",
               pools["recv_buffers"] >= d["connections_max"] * d["list_length_max"]
               * d["val_size_max"])
    growth = (("key_count", ("values", "list_nodes", "keys")), ("val_size_max", ("values",)),
              ("list_length_max", ("values", "list_nodes")),
              ("connections_max", ("connections", "recv_buffers", "send_buffers")))
    for option, grown_pools in growth:
        doubled = DEFAULTS[option] * 2
        result, bigger, bigger_total = plan(flag(option), doubled)
        check.equal(f"kv --plan {flag(option)} {doubled}: exit status", 0, result.returncode)
        for pool in grown_pools:
            check.true(f"doubling {option} grows {pool}: {pools[pool]} -> {bigger.get(pool)}",
                       bigger.get(pool, 0) > pools[pool])
        check.true(f"doubling {option} grows the total: {total} -> {bigger_total}",
                   (bigger_total or 0) > total)


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
    _, from_file, file_total = plan("--config", path)
    _, from_flags, flags_total = plan("--key-count", 5, "--val-size-max", 100,
                                      "--list-length-max", 4, "--connections-max", 8)
    check.equal("kv --config FILE --plan equals the plan of the same values as flags",
                (from_flags, flags_total), (from_file, file_total))
    result = kvtest.run_kv("--config", path, "--plan")
    check.true("kv --config FILE --plan shows the file's key_count",
               re.search(r"key_count\D{1,5}5\b", result.stdout) is not None, result.stdout[:300])
    _, overridden, _ = plan("--config", path, "--key-count", 10)
    _, wanted, _ = plan("--key-count", 10, "--val-size-max", 100, "--list-length-max", 4,
                        "--connections-max", 8)
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
        check.true("the startup log shows the plan", "total" in log and "values" in log, log[-800:])
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
