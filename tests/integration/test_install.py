"""`cmake --install` puts kv, its default config and its systemd units in place, and the units
pass `systemd-analyze verify`.

Installs the build into a temporary DESTDIR with prefix /usr, checks the expected files, that
the installed kv.conf is read by the installed binary (`--plan`), and verifies both units
(with ExecStart pointed at the installed binary, since /usr/bin/kv is not on this host).
"""
import os
import shutil
import subprocess
import tempfile

import harness

EXPECTED = ["usr/bin/kv", "etc/kv/kv.conf", "lib/systemd/system/kv.service",
            "lib/systemd/system/kv@.service", "usr/share/doc/kv/README.md",
            "usr/share/kv/tuning/kv-tune.sh", "usr/share/kv/tuning/99-kv.conf",
            "usr/share/kv/tuning/README.md"]


def main():
    checks = harness.Checks("test_install")
    build_dir = os.path.dirname(os.path.abspath(harness.KV_BIN))
    destdir = tempfile.mkdtemp(prefix="kv-install-")
    try:
        result = subprocess.run(["cmake", "--install", build_dir, "--prefix", "/usr"],
                                env=dict(os.environ, DESTDIR=destdir), capture_output=True,
                                text=True, timeout=120)
        checks.equal(result.returncode, 0, f"cmake --install: {result.stderr[-500:]}")
        for path in EXPECTED:
            checks.true(os.path.isfile(os.path.join(destdir, path)), f"installed {path}")
        kv = os.path.join(destdir, "usr/bin/kv")
        # Its `dir`, /var/lib/kv, is the package's and the unit's to create (kv refuses a
        # missing one, as Redis does): a copy names the install tree instead.
        with open(os.path.join(destdir, "etc/kv/kv.conf")) as f:
            conf_text = f.read()
        copy = os.path.join(destdir, "kv-dir-here.conf")
        with open(copy, "w") as f:
            f.write(conf_text.replace("dir /var/lib/kv\n", f"dir {destdir}\n"))
        plan = subprocess.run([kv, "--config", copy, "--plan"],
                              capture_output=True, text=True, timeout=30)
        checks.equal(plan.returncode, 0, f"the default kv.conf is valid: {plan.stderr}")
        checks.true("maxmemory = 268435456" in plan.stdout and "key_count = 0" in plan.stdout,
                    "the default kv.conf has the defaults: a 256 MiB budget, no caps")
        checks.true("dir /var/lib/kv\n" in conf_text, "kv.conf saves into /var/lib/kv")
        if shutil.which("systemd-analyze") is None:
            print("systemd-analyze is not installed: units not verified")
            raise SystemExit(harness.SKIP)
        units = tempfile.mkdtemp(prefix="kv-units-")
        for name, as_name in (("kv.service", "kv.service"), ("kv@.service", "kv@test.service")):
            with open(os.path.join(destdir, "lib/systemd/system", name)) as f:
                text = f.read().replace("/usr/bin/kv", kv)
            checks.true("Type=notify" in text and "LimitMEMLOCK=infinity" in text,
                        f"{name}: notify type and unlimited memlock")
            checks.true("StateDirectory=kv" in text, f"{name}: a writable state directory")
            path = os.path.join(units, as_name)
            with open(path, "w") as f:
                f.write(text)
            verify = subprocess.run(["systemd-analyze", "verify", path], capture_output=True,
                                    text=True, timeout=60)
            checks.equal((verify.returncode, verify.stderr.strip()), (0, ""),
                         f"systemd-analyze verify {name}")
        shutil.rmtree(units)
    finally:
        shutil.rmtree(destdir)
    checks.exit()


if __name__ == "__main__":
    main()
