"""CPack builds a .deb that installs and removes cleanly.

Builds the package from the build tree (`cpack -G DEB`), checks its file list and control data
(dependencies found by dpkg-shlibdeps, /etc/kv/kv.conf as a conffile), then, as root on a
host without kv installed, installs it with dpkg, runs the installed kv, checks the kv system
user, purges it and checks nothing is left.
"""
import glob
import os
import pwd
import shutil
import subprocess

import harness

FILES = ["./usr/bin/kv", "./etc/kv/kv.conf", "./lib/systemd/system/kv.service",
         "./lib/systemd/system/kv@.service", "./usr/share/doc/kv/README.md",
         "./usr/share/kv/tuning/kv-tune.sh"]


def run(*args, timeout=300):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)


def main():
    checks = harness.Checks("test_deb")
    if shutil.which("dpkg-deb") is None or shutil.which("cpack") is None:
        print("dpkg-deb or cpack missing")
        raise SystemExit(harness.SKIP)
    build_dir = os.path.dirname(os.path.abspath(harness.KV_BIN))
    out_dir = os.path.join(build_dir, "deb-test")
    shutil.rmtree(out_dir, ignore_errors=True)
    result = run("cpack", "-G", "DEB", "-B", out_dir, "--config",
                 os.path.join(build_dir, "CPackConfig.cmake"))
    checks.equal(result.returncode, 0, f"cpack: {result.stderr[-500:]}")
    debs = glob.glob(os.path.join(out_dir, "kv_*.deb"))
    checks.equal(len(debs), 1, "one .deb built")
    if not debs:
        checks.exit()
    deb = debs[0]
    listing = run("dpkg-deb", "-c", deb).stdout
    for path in FILES:
        checks.true(any(line.endswith(" " + path) for line in listing.splitlines()),
                    f"package holds {path}")
    info = run("dpkg-deb", "-I", deb).stdout
    checks.true("liburing2" in info and "libhugetlbfs0" in info, "shared library dependencies")
    if not harness.SANITIZED:  # the sanitizer build runs on the sanitizer's allocator
        checks.true("libjemalloc2" in info, "jemalloc dependency")
    conffiles = run("dpkg-deb", "--ctrl-tarfile", deb)
    checks.true(conffiles.returncode == 0, "control archive readable")
    checks.true("conffiles" in info, "the package declares conffiles")
    installed = run("dpkg-query", "-W", "kv").returncode == 0
    if os.geteuid() != 0 or installed or harness.SANITIZED:
        print("not root, kv already installed, or a sanitizer build: install not exercised")
        shutil.rmtree(out_dir, ignore_errors=True)
        checks.exit()
    try:
        result = run("dpkg", "-i", deb)
        checks.equal(result.returncode, 0, f"dpkg -i: {result.stderr[-500:]}")
        plan = run("/usr/bin/kv", "--config", "/etc/kv/kv.conf", "--plan")
        checks.equal(plan.returncode, 0, "the installed kv reads the installed config")
        checks.true(pwd.getpwnam("kv").pw_shell.endswith("nologin"), "a kv system user")
        state = os.stat("/var/lib/kv")
        checks.true(pwd.getpwuid(state.st_uid).pw_name == "kv" and state.st_mode & 0o777 == 0o750,
                    "/var/lib/kv (kv.conf's dir) belongs to kv, mode 0750")
        declared = run("dpkg-query", "-W", "-f=${Conffiles}", "kv").stdout
        checks.true("/etc/kv/kv.conf" in declared, "kv.conf registered as a conffile")
    finally:
        result = run("dpkg", "--purge", "kv")
    checks.equal(result.returncode, 0, f"dpkg --purge: {result.stderr[-500:]}")
    checks.true(not os.path.exists("/usr/bin/kv") and not os.path.exists("/etc/kv/kv.conf")
                and not os.path.exists("/var/lib/kv"), "purge leaves no files")
    try:
        pwd.getpwnam("kv")
        checks.true(False, "purge removes the kv user")
    except KeyError:
        checks.true(True, "purge removes the kv user")
    shutil.rmtree(out_dir, ignore_errors=True)
    checks.exit()


if __name__ == "__main__":
    main()
