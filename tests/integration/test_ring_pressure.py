"""No reply is lost when the io_uring queues are smaller than the work.

kv is started with --ring-entries 4: four submission entries and eight completion entries
for 40 clients. Every client pipelines batches of SET/GET/RPUSH at once, so the submission
queue fills (kv submits early, and parks the operation on the ready queue if the kernel takes
none) and completions overflow the CQ (the kernel keeps them, NODROP, until kv reaps). Every reply of
every client must arrive, in order, with the right bytes.
"""
import threading

import harness

CLIENTS = 40
BATCHES = 20
BATCH = 25


def client_run(port, number, failures):
    client = harness.Client(port, timeout=30)
    try:
        for batch in range(BATCHES):
            wire, want = [], []
            for step in range(BATCH):
                key = f"c{number}:{step % 5}"
                value = f"{number}-{batch}-{step}" * (1 + step % 7)
                wire.append(harness.encode("SET", key, value))
                want.append(b"+OK\r\n")
                wire.append(harness.encode("GET", key))
                want.append(b"$%d\r\n%s\r\n" % (len(value), value.encode()))
            wire.append(harness.encode("RPUSH", f"l{number}", batch))
            want.append(b":%d\r\n" % (batch + 1))
            client.send(b"".join(wire))
            for index, expected in enumerate(want):
                got = client.reply()
                if got != expected:
                    failures.append(f"client {number} batch {batch} reply {index}: {got[:80]!r}")
                    return
        got = client.call("LRANGE", f"l{number}", 0, -1)
        want = b"*%d\r\n" % BATCHES + b"".join(
            b"$%d\r\n%d\r\n" % (len(str(i)), i) for i in range(BATCHES))
        if got != want:
            failures.append(f"client {number} list: {got[:80]!r}")
    except Exception as error:  # a lost reply shows up as a timeout here
        failures.append(f"client {number}: {error!r}")
    finally:
        client.close()


def main():
    checks = harness.Checks("test_ring_pressure")
    with harness.start_kv("--ring-entries", "4", "--connections-max", "64", "--key-count",
                          "1000", "--hugepages", "off") as kv:
        failures = []
        threads = [threading.Thread(target=client_run, args=(kv.port, n, failures))
                   for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        checks.equal(failures, [], f"{CLIENTS} clients x {BATCHES * (2 * BATCH + 1)} replies")
        checks.true("4 SQ" in kv.log_text(), "kv ran with the small ring")
        client = kv.connect()
        stats = harness.info(client, "stats")
        checks.true(int(stats["total_commands_processed"]) >= CLIENTS * BATCHES * (2 * BATCH + 1),
                    f"commands processed: {stats['total_commands_processed']}")
        checks.true(int(stats["kv_ring_full_submits"]) > 0,
                    f"the full-SQ path ran: {stats['kv_ring_full_submits']} early submits, "
                    f"{stats['kv_ring_full_parks']} parks")
        client.close()
    checks.exit()


if __name__ == "__main__":
    main()
