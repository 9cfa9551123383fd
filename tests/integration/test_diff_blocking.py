"""Blocking pops answer seeded random commands with exactly Redis's bytes, one client.

At least 10,000 commands of BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BZPOPMIN and BZPOPMAX (one key
or several, timeouts of 1 ms, bad timeouts, bad directions, keys of other types), mixed with
the pushes, pops and ZADDs that feed them, MULTI/EXEC blocks (where nothing blocks), wrong
arities and mixed-case names, go to kv and to a real redis-server. With one client, a blocking
command either finds something at once or times out after its millisecond, so every reply is
deterministic and compared byte for byte; waking by other clients is test_blocking.py's.
"""
import difftools
import kvtest

COMMAND_COUNT = 10000
KV_OPTIONS = ["--connections-max", "16", "--key-count", "32", "--key-size-max", "64",
              "--val-size-max", "64", "--list-length-max", "400", "--hugepages", "off"]
LISTS = [b"l0", b"l1", b"l2", b"s", b"z0", b""]
ZSETS = [b"z0", b"z1", b"l0", b"s"]
VALUES = [b"a", b"b", b"", b"\x00\r\n", b"12"]
TIMEOUTS = [b"0.001", b"0.001", b"0.001", b"0.002", b"-1", b"x", b"", b"1e20", b"0.0015"]
ENDS = [b"LEFT", b"RIGHT", b"left", b"UP"]


class Generator:
    def __init__(self, rnd):
        self.rnd = rnd

    def blocking(self):
        rnd = self.rnd
        roll = rnd.randrange(6)
        keys = [rnd.choice(LISTS) for _ in range(rnd.randint(1, 3))]
        if roll < 2:
            return [rnd.choice([b"BLPOP", b"BRPOP"])] + keys + [rnd.choice(TIMEOUTS)]
        if roll == 2:
            return [b"BLMOVE", rnd.choice(LISTS), rnd.choice(LISTS), rnd.choice(ENDS),
                    rnd.choice(ENDS), rnd.choice(TIMEOUTS)]
        if roll == 3:
            return [b"BRPOPLPUSH", rnd.choice(LISTS), rnd.choice(LISTS), rnd.choice(TIMEOUTS)]
        zkeys = [rnd.choice(ZSETS) for _ in range(rnd.randint(1, 2))]
        return [rnd.choice([b"BZPOPMIN", b"BZPOPMAX"])] + zkeys + [rnd.choice(TIMEOUTS)]

    def command(self):
        rnd = self.rnd
        roll = rnd.randrange(20)
        if roll < 8:
            command = self.blocking()
        elif roll < 11:
            command = [rnd.choice([b"LPUSH", b"RPUSH"]), rnd.choice(LISTS)] + \
                [rnd.choice(VALUES) for _ in range(rnd.randint(1, 3))]
        elif roll < 13:
            command = [b"ZADD", rnd.choice(ZSETS), rnd.choice([b"1", b"2", b"-1", b"1.5"]),
                       rnd.choice(VALUES)]
        elif roll == 13:
            command = [rnd.choice([b"LPOP", b"RPOP"]), rnd.choice(LISTS)]
        elif roll == 14:
            command = [b"SET", rnd.choice([b"s", b"s", b"l2"]), b"v"]
        elif roll == 15:
            command = [b"DEL", rnd.choice(LISTS + ZSETS)]
        elif roll == 16:
            command = [b"LRANGE", rnd.choice(LISTS), b"0", b"-1"]
        elif roll == 17:
            command = [b"ZRANGE", rnd.choice(ZSETS), b"0", b"-1", b"WITHSCORES"]
        elif roll == 18:
            return [[b"MULTI"], self.blocking(), self.blocking(), [b"EXEC"]]
        else:
            name = rnd.choice([b"BLPOP", b"BRPOP", b"BLMOVE", b"BRPOPLPUSH", b"BZPOPMIN"])
            command = [name] + [b"k"] * rnd.choice([0, 1])     # wrong arity
        command[0] = difftools.mixed_case(rnd, command[0])
        return command

    def wire(self, command):
        return difftools.wire(self.rnd, command)


class Flattening(Generator):
    """Transactions come as a list of commands: send them as consecutive commands."""

    def __init__(self, rnd):
        super().__init__(rnd)
        self.pending = []

    def command(self):
        if not self.pending:
            produced = super().command()
            self.pending = produced if isinstance(produced[0], list) else [produced]
        return self.pending.pop(0)


def main():
    probes = [[b"LRANGE", key, b"0", b"-1"] for key in LISTS] + \
        [[b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"] for key in ZSETS] + \
        [[b"TYPE", key] for key in LISTS + ZSETS]
    kvtest.differential("test_diff_blocking", Flattening, COMMAND_COUNT, KV_OPTIONS, probes,
                        difftools.replies_equal)


if __name__ == "__main__":
    main()
