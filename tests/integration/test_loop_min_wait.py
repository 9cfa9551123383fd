"""loop_min_wait: batched waits (the kernel's min-wait) answer every client, whole and in order.

kv started with --loop-min-wait 50 (a min-wait on every wait, the batching pinned on) and with
auto (the default: batched only while many clients send at a high rate) serves 48 clients at once,
each sending pipelined INCRs on its own key and on one shared key in seeded random batches;
every reply is checked (its own key counts 1, 2, 3 ... in order; the shared key ends at the sum)
and a lone client's round trips are answered while the others are idle; on a fresh server, auto
makes no batched wait for a lone client (INFO's kv_batched_waits). A bad value is refused
at startup with the option's words. The seed is printed on failure.
"""
import random
import subprocess
import sys
import threading

import kvtest

OPTIONS = ["--connections-max", "64", "--hugepages", "off", "--maxmemory", "16mb"]
CLIENTS = 48
ROUNDS = 20


def client_run(port, index, seed, failures, totals):
    rng = random.Random(seed * 1000 + index)
    sent = 0
    try:
        with kvtest.RespClient(port) as client:
            for _ in range(ROUNDS):
                batch = rng.randint(1, 24)
                client.send(b"".join(kvtest.encode("INCR", f"own:{index}") +
                                     kvtest.encode("INCR", "shared") for _ in range(batch)))
                replies = client.replies(2 * batch)
                for step in range(batch):
                    expected = f":{sent + step + 1}\r\n".encode()
                    if replies[2 * step] != expected:
                        failures.append(f"client {index}: {replies[2 * step]!r} != {expected!r}")
                        return
                    if not replies[2 * step + 1].startswith(b":"):
                        failures.append(f"client {index}: shared {replies[2 * step + 1]!r}")
                        return
                sent += batch
    except Exception as error:  # reported with the seed below
        failures.append(f"client {index}: {error!r}")
    totals[index] = sent


def serve_many(check, mode, seed):
    with kvtest.start_kv(*OPTIONS, "--loop-min-wait", mode) as kv:
        failures = []
        totals = [0] * CLIENTS
        threads = [threading.Thread(target=client_run, args=(kv.port, index, seed, failures,
                                                              totals))
                   for index in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        check.equal(f"{mode}: every client's replies whole and in order (seed {seed})", [],
                    failures[:3])
        with kv.connect() as client:
            check.equal(f"{mode}: the shared key counts every INCR (seed {seed})",
                        str(sum(totals)).encode(), kvtest.decode(client.call("GET", "shared")))
            answers = [client.call("INCR", "lone") for _ in range(200)]
            check.equal(f"{mode}: a lone client's round trips", [f":{n}\r\n".encode()
                                                                  for n in range(1, 201)], answers)
            batched = int(kvtest.info(client, "stats")["kv_batched_waits"])
        if mode != "off":
            check.true(f"{mode}: the log says how waits are made", "min-wait" in kv.log_text())
        if mode == "50":
            check.true(f"{mode}: pinned on, waits are batched (kv_batched_waits)", batched > 0,
                       batched)


def lone_client(check):
    """auto: one client (below LOOP_BATCH_ENGAGE_CLIENTS) never batches: its round trips
    wake the loop at once, whatever their rate."""
    with kvtest.start_kv(*OPTIONS) as kv, kv.connect() as client:
        for step in range(1, 3001):
            reply = client.call("INCR", "lone")
            if reply != f":{step}\r\n".encode():
                check.equal("auto: a lone client's round trip", f":{step}\r\n".encode(), reply)
                break
        stats = kvtest.info(client, "stats")
        check.equal("auto: a lone client's 3,000 round trips made no batched wait",
                    "0", stats["kv_batched_waits"])


def main():
    check = kvtest.Checker("test_loop_min_wait")
    seed = random.randrange(1 << 30)
    print(f"seed {seed}")
    for mode in ("50", "auto"):
        serve_many(check, mode, seed)
    lone_client(check)
    bad = subprocess.run([kvtest.KV_BIN, "--loop-min-wait", "soon", "--port", "1"],
                         capture_output=True, text=True, timeout=30)
    check.true("a bad loop_min_wait is refused", bad.returncode != 0)
    check.true("in the option's words", "not auto, off or microseconds" in bad.stderr + bad.stdout,
               bad.stderr[-200:])
    check.finish()


if __name__ == "__main__":
    sys.exit(main())
