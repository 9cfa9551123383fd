"""Connections come and go hard, past connections_max, and kv keeps serving.

30 threads connect and disconnect 40 times each against a kv with connections_max 8: some
send PING and read, some send QUIT, some pipeline commands and hang up without reading, some
reset the connection (SO_LINGER 0) mid-command. Clients past the limit must get exactly
Redis's max-clients error. Afterwards every slot is back: INFO shows one client (the checker),
eight new clients are served at once, and the data written by survivors is intact.
"""
import socket
import struct
import threading

import harness

THREADS, ROUNDS, CONNECTIONS = 30, 40, 8
REFUSAL = b"-ERR max number of clients reached\r\n"
# When every slot, the refusal slots included, is taken at once (a burst, likelier under the
# sanitizers), the kernel itself closes the socket: the client sees the close without the
# message, and kv counts it in rejected_connections. Either is a refusal.
SILENT_REFUSAL = b""


def one_round(port, thread, round_number, problems):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        kind = (thread + round_number) % 4
        if kind == 0:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            data = sock.recv(64)
            if data not in (b"+PONG\r\n", REFUSAL, SILENT_REFUSAL):
                problems.append(f"PING got {data!r}")
        elif kind == 1:
            sock.sendall(harness.encode("SET", f"t{thread}", round_number) + b"*1\r\n$4\r\nQUIT\r\n")
            data = b""
            while True:
                chunk = sock.recv(64)
                if not chunk:
                    break
                data += chunk
            if data not in (b"+OK\r\n+OK\r\n", REFUSAL, SILENT_REFUSAL):
                problems.append(f"SET+QUIT got {data!r}")
        elif kind == 2:
            sock.sendall(b"".join(harness.encode("RPUSH", "churn", "x") for _ in range(50)))
        else:
            sock.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\npartial")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except (ConnectionResetError, BrokenPipeError):
        pass  # refused clients may see the close before they write
    finally:
        sock.close()


def main():
    checks = harness.Checks("test_conn_churn")
    with harness.start_kv("--connections-max", str(CONNECTIONS), "--key-count", "64",
                          "--list-length-max", "2000", "--val-size-max", "16",
                          "--hugepages", "off") as kv:
        problems = []

        def worker(number):
            for round_number in range(ROUNDS):
                one_round(kv.port, number, round_number, problems)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        checks.equal(problems[:5], [], "every reply was a right answer or the refusal")
        checks.true(kv.process.poll() is None, "kv is still running")
        # Slots come back once kv has seen every close (bounded wait).
        client = None
        for _ in range(100):
            try:
                client = kv.connect()
                if client.call("PING") == b"+PONG\r\n":
                    break
            except (harness.Closed, ConnectionResetError):
                pass
            client.close()
            client = None
        checks.true(client is not None, "a client is served after the churn")
        clients_field = "0"
        for _ in range(100):
            clients_field = harness.info(client, "clients")["connected_clients"]
            if clients_field == "1":
                break
            threading.Event().wait(0.05)
        checks.equal(clients_field, "1", "every churned connection was released")
        others = [kv.connect() for _ in range(CONNECTIONS - 1)]
        for index, other in enumerate(others):
            checks.equal(other.call("PING"), b"+PONG\r\n", f"slot {index} serves again")
            other.close()
        reply = client.call("LLEN", "churn")
        checks.true(reply.startswith(b":"), f"the list survived: {reply!r}")
        stats = harness.info(client, "stats")
        print(f"refused {stats['rejected_connections']} of {stats['total_connections_received']}")
        checks.true(int(stats["rejected_connections"]) > 0, "some clients were refused")
        client.close()
    checks.exit()


if __name__ == "__main__":
    main()
