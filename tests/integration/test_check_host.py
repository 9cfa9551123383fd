"""`kv --check-host` reads this host against a configuration's plan.

On this machine the default configuration can start (exit 0) and the table has a row for each
property the deployment issue names. A configuration that cannot start must fail: mlock
required under a 64 KiB memlock limit as an unprivileged user exits 1 with a FAIL memlock row.
"""
import os
import resource
import subprocess

import harness

ROWS = ["hugepages", "memlock", "transparent_hp", "swap", "cpu_governor", "numa", "io_uring",
        "somaxconn"]


def main():
    checks = harness.Checks("test_check_host")
    result = subprocess.run([harness.KV_BIN, "--check-host", "--hugepages", "off"],
                            capture_output=True, text=True, timeout=30)
    print(result.stdout)
    checks.equal(result.returncode, 0, "the default configuration can start here")
    lines = result.stdout.splitlines()
    for name in ROWS:
        checks.true(any(line.split()[1:2] == [name] for line in lines if len(line.split()) > 1),
                    f"a row for {name}")
    checks.true("io_uring" in result.stdout and "FAIL" not in result.stdout, "no failing row")
    if os.geteuid() == 0 and not harness.SANITIZED:
        def unprivileged():
            resource.setrlimit(resource.RLIMIT_MEMLOCK, (64 * 1024, 64 * 1024))
            os.setgid(65534)
            os.setuid(65534)
        failing = subprocess.run([harness.KV_BIN, "--check-host", "--mlock", "required"],
                                 capture_output=True, text=True, timeout=30,
                                 preexec_fn=unprivileged)
        print(failing.stdout)
        checks.equal(failing.returncode, 1, "mlock required without the memlock allowance fails")
        checks.true(any(line.startswith("FAIL") and "memlock" in line
                        for line in failing.stdout.splitlines()), "the memlock row fails")
    checks.exit()


if __name__ == "__main__":
    main()
