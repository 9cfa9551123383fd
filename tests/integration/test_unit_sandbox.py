"""kv runs under the system-call filter its systemd units declare.

Reads the SystemCallFilter= lines of systemd/kv.service, expands their groups with
`systemd-analyze syscall-filter` (as systemd does: an allow list, `~` lines removing from it,
later lines adding back), installs that filter with libseccomp (other calls fail with EPERM,
as SystemCallErrorNumber=EPERM says) in the child before it runs kv, and checks that kv starts,
locks its region, serves through io_uring and stops cleanly. No systemd as PID 1 is needed.
"""
import os
import re
import shutil
import signal
import subprocess

import harness

UNIT = os.path.join(os.path.dirname(__file__), "..", "..", "systemd", "kv.service")


def expand(name, cache):
    """Every syscall of a group, nested groups included (iterative, bounded by the groups)."""
    if not name.startswith("@"):
        return {name}
    result, pending, seen = set(), [name], set()
    while pending:
        group = pending.pop()
        if group in seen:
            continue
        seen.add(group)
        if group not in cache:
            output = subprocess.run(["systemd-analyze", "syscall-filter", group],
                                    capture_output=True, text=True, check=True).stdout
            cache[group] = [line.strip() for line in output.splitlines()[1:]
                            if line.strip() and not line.strip().startswith("#")]
        for member in cache[group]:
            if member.startswith("@"):
                pending.append(member)
            else:
                result.add(member)
    return result


def allowed_syscalls():
    with open(UNIT) as f:
        lines = re.findall(r"^SystemCallFilter=(.*)$", f.read(), re.M)
    cache, allowed = {}, set()
    for line in lines:
        remove = line.startswith("~")
        for item in line.lstrip("~").split():
            names = expand(item, cache)
            allowed = allowed - names if remove else allowed | names
    return allowed


def main():
    checks = harness.Checks("test_unit_sandbox")
    try:
        import seccomp
    except ImportError:
        print("python3-seccomp is not installed")
        raise SystemExit(harness.SKIP)
    if shutil.which("systemd-analyze") is None or harness.SANITIZED:
        print("no systemd-analyze, or a sanitizer build (its runtime needs more calls)")
        raise SystemExit(harness.SKIP)
    allowed = allowed_syscalls()
    for name in ("io_uring_setup", "io_uring_enter", "io_uring_register", "mlock"):
        checks.true(name in allowed, f"the unit allows {name}")
    checks.true("setrlimit" not in allowed, "the unit removes @resources")

    def sandbox():
        rules = seccomp.SyscallFilter(defaction=seccomp.ERRNO(1))
        for name in sorted(allowed):
            try:
                rules.add_rule(seccomp.ALLOW, name)
            except (RuntimeError, ValueError):
                pass  # not a call of this architecture
        rules.load()

    port = harness.free_port()
    with harness.Server([harness.KV_BIN, "--port", str(port), "--connections-max", "8",
                         "--key-count", "16", "--hugepages", "off"], port, "kv",
                        preexec=sandbox).wait_ready() as kv:
        client = kv.connect()
        checks.equal(client.call("SET", "sandboxed", "yes"), b"+OK\r\n", "SET under the filter")
        checks.equal(client.call("GET", "sandboxed"), b"$3\r\nyes\r\n", "GET under the filter")
        memory = harness.info(client, "memory")
        checks.equal(memory["kv_region_locked"], "1", "mlock allowed: the region is locked")
        client.close()
        kv.process.send_signal(signal.SIGTERM)
        checks.equal(kv.process.wait(timeout=15), 0, "clean stop under the filter")
        checks.true("Operation not permitted" not in kv.log_text(), "no call was refused")
    checks.exit()


if __name__ == "__main__":
    main()
