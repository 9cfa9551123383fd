"""SIGTERM in the middle of a redis-benchmark run: a clean, bounded stop.

redis-benchmark drives SET and GET from 20 pipelining clients; after a second kv gets SIGTERM.
kv must exit 0 within its drain bound, and what the clients saw must be whole replies and then
the end of the connection: redis-benchmark reports the server closing, never a protocol error
or an error reply (which would mean a cut or wrong reply).
"""
import signal
import subprocess
import time

import harness


def main():
    checks = harness.Checks("test_sigterm_benchmark")
    kv = harness.start_kv("--connections-max", "64", "--key-count", "100", "--hugepages", "off")
    bench = subprocess.Popen(["redis-benchmark", "-h", "127.0.0.1", "-p", str(kv.port), "-c",
                              "20", "-P", "4", "-n", "100000000", "-t", "set,get", "-q"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        time.sleep(1.5)
        client = kv.connect()
        processed = int(harness.info(client, "stats")["total_commands_processed"])
        client.close()
        checks.true(processed > 1000, f"the benchmark was running ({processed} commands)")
        started = time.time()
        kv.process.send_signal(signal.SIGTERM)
        status = kv.process.wait(timeout=20)
        elapsed = time.time() - started
        checks.equal(status, 0, "kv exits 0 on SIGTERM under load")
        checks.true(elapsed < 5, f"kv stopped in {elapsed:.2f} s")
        output, _ = bench.communicate(timeout=30)
        text = output.decode(errors="replace").replace("\r", "\n")
        print("\n".join(line for line in text.splitlines() if line.strip() and "rps=" not in line))
        checks.true("Protocol error" not in text and "ERR" not in text,
                    "no protocol error or error reply reached the clients")
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.wait()
        kv.stop()
    checks.exit()


if __name__ == "__main__":
    main()
