"""bench/kv-load, the open-loop load generator the benchmark uses, measures what it claims.

Against kv and against redis-server in the same run: an open-loop GET run at a fixed rate
achieves that rate with no errors and reports ordered percentiles; a SET run writes the keys
it names (read back); a closed-loop run finds a rate above the open-loop one. kv-load refuses
a non-loopback host with exit status 2.
"""
import csv
import io
import math
import os
import subprocess

import kvtest

KV_LOAD = os.environ.get("KV_LOAD") or os.path.join(os.path.dirname(kvtest.KV_BIN), "kv-load")


def load(port, *flags):
    args = [KV_LOAD, "--port", str(port), "--duration", "1", "--warmup", "0.2", "--csv"]
    result = subprocess.run(args + [str(flag) for flag in flags], capture_output=True,
                            text=True, timeout=60)
    if result.returncode != 0:
        return None, result
    row = next(csv.DictReader(io.StringIO(result.stdout)))
    return {name: (value if name == "command" else float(value)) for name, value in row.items()}, result


def measure(check, name, server):
    row, result = load(server.port, "--rate", 4000, "--keys", 100, "--prefill")
    check.true(f"{name}: open loop ran ({result.stderr.strip()[:200]})", row is not None)
    if row is None:
        return
    check.true(f"{name}: achieved the offered 4000 req/s ({row['achieved_rps']})",
               3800 <= row["achieved_rps"] <= 4200)
    check.equal(f"{name}: no errors", 0.0, row["errors"])
    # Percentiles are whole microseconds clamped to the maximum rounded up (kv-load's
    # histogram_percentile_us); the maximum itself is printed to a tenth.
    check.true(f"{name}: percentiles ordered ({row})",
               0 < row["p50_us"] <= row["p99_us"] <= row["p999_us"] <= math.ceil(row["max_us"]))
    row, _ = load(server.port, "--rate", 2000, "--keys", 10, "--command", "set",
                  "--value-size", 16)
    check.equal(f"{name}: SET run without errors", 0.0, row["errors"] if row else None)
    with server.connect() as client:
        check.equal(f"{name}: the SET run wrote its keys", b"$16\r\n" + b"x" * 16 + b"\r\n",
                    client.call("GET", "key:3"))
    row, _ = load(server.port, "--rate", 0, "--keys", 100, "--connections", 8)
    check.true(f"{name}: closed loop goes faster than 4000 req/s ({row and row['achieved_rps']})",
               row is not None and row["achieved_rps"] > 4000 and row["errors"] == 0)


def main():
    check = kvtest.Checker("test_kv_load")
    if not os.access(KV_LOAD, os.X_OK):
        print(f"FAIL: {KV_LOAD} is not built")
        raise SystemExit(1)
    options = ["--connections-max", "64", "--key-count", "128", "--val-size-max", "64",
               "--list-length-max", "4", "--hugepages", "off"]
    with kvtest.start_kv(*options) as kv:
        measure(check, "kv", kv)
    with kvtest.start_redis() as redis:
        measure(check, "redis", redis)
    refused = subprocess.run([KV_LOAD, "--host", "10.1.2.3", "--duration", "0.1"],
                             capture_output=True, text=True, timeout=10)
    check.equal("a non-loopback host is refused", 2, refused.returncode)
    check.finish()


if __name__ == "__main__":
    main()
