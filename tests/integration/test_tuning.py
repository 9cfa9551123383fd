"""tuning/kv-tune.sh applies the runtime host tuning and undoes it exactly.

As root: records `kv-tune.sh show`, applies the tuning for a small kv config (sysctls from
tuning/99-kv.conf, THP madvise, hugepages for the plan, never fewer than were reserved), checks
the values, undoes, and checks every value is back as it was.
"""
import os
import subprocess
import tempfile

import harness

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "tuning", "kv-tune.sh")


def tune(*args):
    return subprocess.run(["bash", SCRIPT] + list(args), capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, KV_BIN=harness.KV_BIN))


def values(text):
    return dict(line.split(" = ", 1) for line in text.strip().splitlines() if " = " in line)


def main():
    checks = harness.Checks("test_tuning")
    if os.geteuid() != 0:
        print("not root: host tuning not exercised")
        raise SystemExit(harness.SKIP)
    before = values(tune("show").stdout)
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as conf:
        conf.write("connections_max 4\nkey_count 16\n")
    try:
        applied = tune("apply", conf.name)
        checks.equal(applied.returncode, 0, f"apply: {applied.stderr[-300:]}")
        now = values(tune("show").stdout)
        checks.equal(now.get("vm.swappiness"), "1", "swappiness applied")
        checks.equal(now.get("net.core.busy_poll"), "50", "busy_poll applied")
        checks.true(int(now.get("vm.nr_hugepages", "0")) >= int(before.get("vm.nr_hugepages", "0")),
                    "hugepages never lowered")
        if "transparent_hugepage" in now:
            checks.true("[madvise]" in now["transparent_hugepage"], "THP set to madvise")
    finally:
        undone = tune("undo")
        os.unlink(conf.name)
    checks.equal(undone.returncode, 0, f"undo: {undone.stderr[-300:]}")
    checks.equal(values(tune("show").stdout), before, "every value restored")
    checks.exit()


if __name__ == "__main__":
    main()
