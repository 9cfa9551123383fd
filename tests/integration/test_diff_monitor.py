"""MONITOR shows what redis-server 7.0 shows, line for line: two monitors (one RESP3) watch two
worker clients run a fixed session of edge cases (AUTH and HELLO passwords redacted, EVAL
before its script's commands as "lua", MULTI/EXEC, a BLPOP shown once though served later,
admin commands hidden, refused commands hidden, SELECT's database, binary arguments escaped)
and then a seeded stream of commands of several families, pipelined. The monitors' lines are
compared after the timestamp and the workers' ports are replaced by names; the workers'
replies are compared byte for byte. Then what a monitor itself may do: PING (shown to
itself), keyspace commands refused, MONITOR again answering nothing, MULTI/MONITOR/EXEC,
CLIENT LIST's flags=O, RESET ending it, a closed monitor leaving the other one served.
"""
import os
import random
import re
import subprocess
import time

import kvtest
import difftools

COMMAND_COUNT = 3000
STAMP = re.compile(rb"^\+(\d+)\.(\d{6}) \[")
KEYS = [b"k0", b"k1", b"l", b"h", b"z", b"s", b"\x00bin\xff", b"a b\"c\\d"]
ALL_BYTES = bytes(range(256))
EDGE_SESSION = [
    ("a", [b"SET", b"a", b"1"]),
    ("a", [b"AUTH", b"secret"]),
    ("a", [b"AUTH", b"a", b"b", b"c"]),
    ("a", [b"AUTH", b"user", b"pass"]),
    ("a", [b"HELLO", b"3", b"AUTH", b"u", b"p"]),
    ("a", [b"HELLO", b"2", b"AUTH", b"default", b"p", b"SETNAME"]),
    ("a", [b"HELLO", b"9", b"AUTH", b"u", b"p"]),
    ("a", [b"HELLO", b"2", b"SETNAME", b"worker"]),
    ("a", [b"EVAL", b"redis.call('set','b','2') return redis.call('get','b')", b"0"]),
    ("a", [b"EVAL", b"redis.call('select', 2) redis.call('set', KEYS[1], 'x') return 1",
           b"1", b"in2"]),
    ("a", [b"EVALSHA", b"0" * 40, b"0"]),
    ("a", [b"FCALL", b"nope", b"0"]),
    ("a", [b"MULTI"]),
    ("a", [b"SET", b"c", b"1"]),
    ("a", [b"INCR", b"c"]),
    ("a", [b"EXEC"]),
    ("a", [b"CONFIG", b"GET", b"maxmemory-policy"]),
    ("a", [b"CLIENT", b"SETNAME", b"xx"]),
    ("a", [b"CLIENT", b"GETNAME"]),
    ("a", [b"NOSUCHCOMMAND", b"x"]),
    ("a", [b"GET"]),
    ("a", [b"SELECT", b"3"]),
    ("a", [b"SET", b"in3", ALL_BYTES]),
    ("a", [b"SELECT", b"0"]),
    ("a", [b"SET", b"\"quoted\"", b"\\back\\slash\r\n\t\x07\x08"]),
    ("a", [b"ECHO", b""]),
    ("a", [b"PING"]),
    ("a", [b"DEL", b"q"]),
]


def command(rnd):
    key = rnd.choice(KEYS)
    roll = rnd.randrange(12)
    if roll == 0:
        return [b"SET", key, difftools.value(rnd)]
    if roll == 1:
        return [b"GET", key]
    if roll == 2:
        return [b"RPUSH", b"l", difftools.value(rnd), difftools.value(rnd)]
    if roll == 3:
        return [b"HSET", b"h", difftools.value(rnd, 8), difftools.value(rnd)]
    if roll == 4:
        return [b"ZADD", b"z", difftools.number(rnd), difftools.value(rnd, 8)]
    if roll == 5:
        return [b"SADD", b"s", difftools.value(rnd)]
    if roll == 6:
        return [b"DEL", key, rnd.choice(KEYS)]
    if roll == 7:
        return [b"EXPIRE", key, difftools.number(rnd, 100, 1000)]
    if roll == 8:
        return [b"INCRBY", b"n", difftools.number(rnd)]
    if roll == 9:
        return [difftools.mixed_case(rnd, b"lrange"), b"l", b"0", b"2"]
    if roll == 10:
        return [b"PING", difftools.value(rnd)]
    return [b"OBJECT", b"ENCODING", key]  # not admin: shown


def stamp_ok(line, now):
    match = STAMP.match(line)
    return match is not None and abs(int(match.group(1)) - now) <= 60


class Side:
    """One server with two monitors and two workers."""

    def __init__(self, server):
        self.server = server
        self.monitor = server.connect()
        self.monitor3 = server.connect()
        self.a = server.connect()
        self.b = server.connect()
        self.names = {}
        for name, client in (("a", self.a), ("b", self.b), ("m", self.monitor),
                             ("m3", self.monitor3)):
            port = client.sock.getsockname()[1]
            self.names[b"127.0.0.1:%d" % port] = name.encode()

    def start(self, check, label):
        check.equal(f"{label}: MONITOR", b"+OK\r\n", self.monitor.call("MONITOR"))
        self.monitor3.call("HELLO", "3")
        check.equal(f"{label}: MONITOR in RESP3", b"+OK\r\n", self.monitor3.call("MONITOR"))

    def lines(self, client, marker, check, label):
        """Monitor lines up to the ECHO of `marker`, normalized."""
        out = []
        now = int(time.time())
        while True:
            line = client.reply()
            if not stamp_ok(line, now):
                check.true(f"{label}: a monitor line's stamp {line[:40]!r}", False)
                return out
            body = line[STAMP.match(line).end() - 1:]
            for address, name in self.names.items():
                body = body.replace(b" " + address + b"]", b" " + name + b"]")
            out.append(body)
            if body.endswith(b'"ECHO" "' + marker + b'"\r\n'):
                return out
            if len(out) > 4 * COMMAND_COUNT:
                return out

    def close(self):
        for client in (self.monitor, self.monitor3, self.a, self.b):
            client.close()


def cli_monitor(kv, check):
    """`redis-cli monitor` against kv prints OK, then a SET another client runs."""
    kvtest.need_program("redis-cli")
    cli = subprocess.Popen(["redis-cli", "-h", "127.0.0.1", "-p", str(kv.port), "monitor"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        first = cli.stdout.readline()
        with kv.connect() as client:
            client.call("SET", "cli", "seen")
        second = cli.stdout.readline()
    finally:
        cli.kill()
        cli.wait()
    check.equal("redis-cli monitor: OK first", b"OK\n", first)
    check.true("redis-cli monitor: the SET shown", second.endswith(b'"SET" "cli" "seen"\n'),
               repr(second))


def main():
    seed = int(os.environ.get("KV_SEED") or random.randrange(1 << 32))
    print(f"seed {seed} (KV_SEED={seed} replays this run)")
    check = kvtest.Checker("diff_monitor", verbose=False)
    with kvtest.start_kv("--hugepages", "off") as kv, kvtest.start_redis() as redis:
        sides = {"redis": Side(redis), "kv": Side(kv)}
        for label, side in sides.items():
            side.start(check, label)
        # The fixed session, one command at a time, a BLPOP served by the other worker.
        for who, args in EDGE_SESSION:
            replies = {label: getattr(side, who).call(*args) for label, side in sides.items()}
            if args[0] not in (b"CLIENT", b"HELLO"):
                check.equal(f"reply to {kvtest.shorten(args, 80)}", replies["redis"],
                            replies["kv"])
        for side in sides.values():
            side.a.send(kvtest.encode("BLPOP", "q", "0"))
        time.sleep(0.3)
        for label, side in sides.items():
            side.b.call("RPUSH", "q", "x")
        for label, side in sides.items():
            check.equal(f"{label}: BLPOP served", b"*2\r\n$1\r\nq\r\n$1\r\nx\r\n", side.a.reply())
        # The seeded stream, pipelined in batches from both workers.
        rnd = random.Random(seed)
        sent = 0
        while sent < COMMAND_COUNT:
            batch = [command(rnd) for _ in range(rnd.randint(1, 50))]
            half = len(batch) // 2
            # Each worker's part pipelined, one worker after the other: the order in which a
            # server interleaves two busy clients is its own, the lines' order must not be.
            for who, part in (("a", batch[:half]), ("b", batch[half:])):
                for side in sides.values():
                    getattr(side, who).send(b"".join(kvtest.encode(*c) for c in part))
                for args in part:
                    want = getattr(sides["redis"], who).reply()
                    got = getattr(sides["kv"], who).reply()
                    if not difftools.replies_equal(args, want, got):
                        check.equal(f"reply to {kvtest.shorten(args, 80)}", want, got)
            sent += len(batch)
        for side in sides.values():
            side.a.call("ECHO", "end-1")
        streams = {}
        for label, side in sides.items():
            streams[label] = (side.lines(side.monitor, b"end-1", check, label),
                              side.lines(side.monitor3, b"end-1", check, label))
        want, got = streams["redis"], streams["kv"]
        check.true(f"the monitor saw {len(want[0])} lines on Redis", len(want[0]) > COMMAND_COUNT)
        for which in (0, 1):
            same = want[which] == got[which]
            if not same:
                for index, (w, g) in enumerate(zip(want[which], got[which])):
                    if w != g:
                        print(f"first difference at line {index}:\n  redis {w!r}\n  kv    {g!r}")
                        break
                print(f"lines: redis {len(want[which])}, kv {len(got[which])}")
            check.true(f"monitor {which + 1}'s {len(want[which])} lines equal", same)

        # What a monitor itself may do.
        results = {}
        for label, side in sides.items():
            m = side.monitor
            out = [m.call("PING"), m.reply()]              # +PONG, then its own line
            out.append(m.call("GET", "a"))                 # refused: no line
            out.append(m.call("EVAL", "return 1", "0"))
            m.send(kvtest.encode("MONITOR") + kvtest.encode("ECHO", "x"))
            out.append(m.reply())                          # no reply to MONITOR: ECHO's
            out.append(m.reply())                          # ECHO's own line
            listing = m.call("CLIENT", "LIST")
            check.true(f"{label}: CLIENT LIST shows the monitor with flags=O",
                       b" flags=O " in listing, kvtest.shorten(listing, 300))
            out += [m.call("MULTI"), m.reply(), m.call("MONITOR"), m.call("EXEC"), m.reply()]
            out.append(m.call("RESET"))
            out.append(m.call("SET", "after-reset", "1"))
            side.a.call("ECHO", "end-2")
            out.append(m.call("PING"))                     # no longer a monitor: no lines
            side.monitor.close()
            side.a.call("ECHO", "end-3")
            results[label] = [o if not STAMP.match(o) else
                              o[STAMP.match(o).end() - 1:].split(b"]", 1)[1] for o in out]
            results[label].append(side.lines(side.monitor3, b"end-3", check, label))
        check.equal("a monitor's own commands", results["redis"][:-1], results["kv"][:-1])
        check.equal("the other monitor's lines meanwhile", results["redis"][-1],
                    results["kv"][-1])
        for side in sides.values():
            side.close()
        cli_monitor(kv, check)
    if check.failures:
        print(f"seed {seed}: rerun with KV_SEED={seed}")
    check.finish()


if __name__ == "__main__":
    main()
