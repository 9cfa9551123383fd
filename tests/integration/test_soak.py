"""The soak's short form for CI: bench/soak.py for KV_SOAK_SECONDS (default 60, 30 under ASan)
seconds.

Many clients mix every command family, with connects, disconnects and resets mid-command;
every reply is checked against each client's model, every key is read back at the end,
DBSIZE must equal the models, FLUSHALL must return the heap to where it started, the allocator
counter must not move, and kv must answer a ping every 100 ms throughout. bench/soak.py runs
the long form (10 minutes by default).
"""
import os
import subprocess
import sys

import kvtest

SOAK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench", "soak.py")


def main():
    kvtest.need_kv_binary()
    # The ASan build soaks for half as long: it runs serially, and CI has twenty minutes.
    seconds = os.environ.get("KV_SOAK_SECONDS", "30" if kvtest.SANITIZED else "60")
    result = subprocess.run([sys.executable, SOAK, "--kv", kvtest.KV_BIN, "--seconds", seconds],
                            capture_output=True, text=True, timeout=float(seconds) + 240)
    print(result.stdout[-4000:], result.stderr[-4000:])
    check = kvtest.Checker("test_soak")
    check.equal("the soak passed", 0, result.returncode)
    check.true("it checked commands", "commands checked" in result.stdout)
    check.finish()


if __name__ == "__main__":
    main()
