#!/usr/bin/env python3
"""Crashes and a full disk under the AOF.

1. kill -9 under a write load (writer connections each RPUSH-ing their own counter, one at a
   time, and a pipelining one), with appendfsync always and everysec: kv restarted on its
   directory starts (a torn tail is cut as Redis cuts it), and each writer's list is 0, 1, 2,
   .. without a gap or a repeat (no write applied twice, nothing out of order), automatic
   rewrites (a small auto-aof-rewrite-min-size) running under the load. With always,
   every acknowledged write is there; with everysec, what is missing is only a tail of what
   was sent (kill -9 keeps the page cache: only bytes not yet handed to the kernel go).
2. A full disk (a small tmpfs, as root): once the AOF cannot be written, writes and PING get
   Redis's "-MISCONF Errors writing to the AOF file: No space left on device", reads still
   answer; when room comes back the buffered writes go out and writes are accepted again; after
   a clean restart every acknowledged write is there.
"""
import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import aofload
import kvtest

KV_OPTIONS = ["--hugepages", "off", "--maxmemory", "64mb", "--connections-max", "32"]
WRITERS = 4
LOAD_SECONDS = 1.5


def crash_once(check, policy, rnd):
    directory = kvtest.kv_temp_dir()
    # A small auto-rewrite minimum: rewrites run under the load, and the kill may meet one.
    kv = kvtest.start_kv(*KV_OPTIONS, "--dir", directory, "--appendonly", "yes",
                         "--appendfsync", policy, "--auto-aof-rewrite-min-size", "256kb")
    stop = threading.Event()
    writers = [aofload.ListWriter(kv.port, index, stop) for index in range(WRITERS)]
    writers.append(aofload.ListWriter(kv.port, WRITERS, stop, pipeline=50))
    for writer in writers:
        writer.start()
    time.sleep(LOAD_SECONDS * rnd.uniform(0.5, 1.0))  # the load runs a while; not an assertion
    os.kill(kv.pid, signal.SIGKILL)
    kv.process.wait()
    stop.set()
    for writer in writers:
        writer.join(10)
    kv.log.close()
    acked_total = sum(w.acked for w in writers)
    check.true(f"{policy}: the load acknowledged writes before the kill", acked_total > 0)
    with kvtest.start_kv(*KV_OPTIONS, "--dir", directory, "--appendonly", "yes") as again, \
            again.connect() as client:
        for writer in writers:
            got = kvtest.decode(client.call("LRANGE", f"w:{writer.index}", "0", "-1"))
            numbers = [int(n) for n in got]
            check.true(f"{policy}: writer {writer.index}'s list is 0..n-1, no gap, no repeat",
                       numbers == list(range(len(numbers))), f"{numbers[:5]}..{numbers[-5:]}")
            check.true(f"{policy}: writer {writer.index}: no more than was sent",
                       len(numbers) <= writer.sent, f"{len(numbers)} > {writer.sent}")
            if policy == "always":
                check.true(f"always: writer {writer.index}: every acknowledged write is there",
                           len(numbers) >= writer.acked, f"{len(numbers)} < {writer.acked}")
        rewrites = sum(1 for line in kv.log_text().splitlines()
                       if "Starting automatic rewriting" in line)
        print(f"{policy}: {acked_total} writes acknowledged before kill -9, "
              f"{rewrites} automatic rewrites")


def full_disk(check):
    if os.geteuid() != 0:
        print("full disk: SKIP (not root)")
        return
    mount = tempfile.mkdtemp(prefix="kvtest-aof-tmpfs-")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mount],
                      capture_output=True).returncode != 0:
        print("full disk: SKIP (cannot mount a tmpfs)")
        os.rmdir(mount)
        return
    try:
        with kvtest.start_kv(*KV_OPTIONS, "--dir", mount, "--appendonly", "yes",
                             "--appendfsync", "everysec") as kv, kv.connect() as client:
            # Leave the AOF about 300 KiB.
            filler = os.path.join(mount, "filler")
            free = shutil.disk_usage(mount).free
            with open(filler, "wb") as f:
                f.write(b"\0" * max(0, free - 300 * 1024))
            value = "v" * 1000
            acked = []
            error = None
            for index in range(5000):
                reply = client.call("SET", f"d:{index}", value)
                if reply == b"+OK\r\n":
                    acked.append(index)
                    continue
                error = reply
                break
            check.equal("full disk: writes get Redis's MISCONF",
                        b"-MISCONF Errors writing to the AOF file: No space left on device\r\n",
                        error)
            check.equal("full disk: PING gets it too",
                        b"-MISCONF Errors writing to the AOF file: No space left on device\r\n",
                        client.call("PING"))
            check.equal("full disk: reads still answer", b"$1000\r\n" + value.encode() + b"\r\n",
                        client.call("GET", "d:0"))
            check.equal("full disk: INFO aof_last_write_status", "err",
                        kvtest.info(client, "persistence")["aof_last_write_status"])
            os.unlink(filler)
            accepted = False
            for _ in range(200):  # the retry comes within a pass; a bounded wait for it
                if client.call("SET", "after", "1") == b"+OK\r\n":
                    accepted = True
                    break
                time.sleep(0.05)
            check.true("full disk: writes accepted again once there is room", accepted)
            check.equal("full disk: INFO aof_last_write_status ok again", "ok",
                        kvtest.info(client, "persistence")["aof_last_write_status"])
        with kvtest.start_kv(*KV_OPTIONS, "--dir", mount, "--appendonly", "yes") as kv, \
                kv.connect() as client:
            present = sum(1 for index in acked
                          if client.call("EXISTS", f"d:{index}") == b":1\r\n")
            check.equal(f"full disk: all {len(acked)} acknowledged writes there after restart",
                        len(acked), present)
            check.equal("full disk: the write after the room came back",
                        b"$1\r\n1\r\n", client.call("GET", "after"))
    finally:
        subprocess.run(["umount", mount], capture_output=True)
        os.rmdir(mount)


def main():
    check = kvtest.Checker("test_aof_crash", verbose=False)
    kvtest.need_kv_binary()
    seed = int(os.environ.get("KV_SEED", random.randrange(1, 2**31)))
    print(f"test_aof_crash: seed {seed} (KV_SEED replays it)")
    rnd = random.Random(seed)
    started = time.monotonic()
    for policy in ("always", "everysec", "always", "everysec"):
        crash_once(check, policy, rnd)
    print(f"crashes: {time.monotonic() - started:.2f} s")
    full_disk(check)
    print(f"full disk: {time.monotonic() - started:.2f} s")
    check.finish()


if __name__ == "__main__":
    main()
