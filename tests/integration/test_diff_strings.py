"""The string family answers seeded random commands with exactly Redis's bytes.

At least 20,000 commands of SET (every option and combination, legal or not), SETNX, SETEX,
PSETEX, GETSET, GETDEL, GETEX, GET, MGET, MSET, MSETNX, APPEND, STRLEN, GETRANGE, SUBSTR,
SETRANGE, INCR, DECR, INCRBY, DECRBY, INCRBYFLOAT, with TTL/PTTL/TYPE probes, LPUSH so keys
collide with lists (WRONGTYPE), wrong arities and mixed-case names, go to kv and to a real
redis-server; replies must be identical (TTLs within 1.5 s). Values stay within kv's limits,
so only Redis-defined answers are compared; kv's own limits are tested in test_limits.py and
at the end here (APPEND and SETRANGE past val_size_max change nothing).
"""
import difftools
import kvtest

COMMAND_COUNT = 22000
VAL_SIZE_MAX = 4096
KV_OPTIONS = ["--connections-max", "16", "--key-count", "64", "--key-size-max", "64",
              "--val-size-max", str(VAL_SIZE_MAX), "--list-length-max", "1024",
              "--hugepages", "off"]
SET_OPTIONS = [[b"NX"], [b"XX"], [b"GET"], [b"KEEPTTL"], [b"EX", b"100"], [b"PX", b"100000"],
               [b"EXAT", b"4102444800"], [b"PXAT", b"4102444800000"], [b"EX", b"0"],
               [b"PX", b"-5"], [b"EX", b"abc"], [b"EX"], [b"PERSIST"], [b"EXAT", b"1"],
               [b"EX", b"9223372036854775807"], [b"PX", b"9223372036854775807"], [b"nx"],
               [b"get"], [b"BOGUS"]]
GETEX_OPTIONS = [[b"EX", b"100"], [b"PX", b"50000"], [b"EXAT", b"4102444800"],
                 [b"PXAT", b"4102444800000"], [b"PERSIST"], [b"EX", b"0"], [b"PERSIST", b"EX", b"1"],
                 [b"EX"], [b"KEEPTTL"], [b"NX"], [b"PXAT", b"1"]]


EXPIRE_TIMES = [b"100", b"100000", b"0", b"-5", b"abc", b"", b"9223372036854775807", b"1.5"]


class Generator:
    def __init__(self, rnd):
        self.rnd = rnd

    def command(self):
        rnd = self.rnd
        key = rnd.choice(difftools.KEYS)
        other = rnd.choice(difftools.KEYS)
        val = difftools.value(rnd)
        num = difftools.number(rnd)
        roll = rnd.randrange(30)
        if roll < 4:
            options = [part for _ in range(rnd.randint(0, 3)) for part in rnd.choice(SET_OPTIONS)]
            command = [b"SET", key, val] + options
        elif roll == 4:
            command = [b"SETNX", key, val]
        elif roll == 5:
            # Times are long or invalid: a short one would expire between the two servers'
            # answers and make the comparison a race.
            command = [rnd.choice([b"SETEX", b"PSETEX"]), key, rnd.choice(EXPIRE_TIMES), val]
        elif roll == 6:
            command = [b"GETSET", key, val]
        elif roll == 7:
            command = [b"GETDEL", key]
        elif roll == 8:
            options = [part for _ in range(rnd.randint(0, 2)) for part in rnd.choice(GETEX_OPTIONS)]
            command = [b"GETEX", key] + options
        elif roll < 12:
            command = [b"GET", key]
        elif roll == 12:
            command = [b"MGET"] + [rnd.choice(difftools.KEYS) for _ in range(rnd.randint(1, 5))]
        elif roll == 13:
            pairs = rnd.randint(1, 4)
            command = [rnd.choice([b"MSET", b"MSETNX"])]
            for _ in range(pairs):
                command += [rnd.choice(difftools.KEYS), difftools.value(rnd)]
            if rnd.random() < 0.05:
                command = command[:-1]
        elif roll == 14:
            command = [b"APPEND", key, val]
        elif roll == 15:
            command = [b"STRLEN", key]
        elif roll == 16:
            command = [rnd.choice([b"GETRANGE", b"SUBSTR"]), key, difftools.number(rnd),
                       difftools.number(rnd)]
        elif roll == 17:
            command = [b"SETRANGE", key, rnd.choice([difftools.number(rnd, 0, 200), b"-1"]), val]
        elif roll < 21:
            command = [rnd.choice([b"INCR", b"DECR"]), key]
        elif roll < 23:
            command = [rnd.choice([b"INCRBY", b"DECRBY"]), key, num]
        elif roll == 23:
            command = [b"INCRBYFLOAT", key, rnd.choice([num, b"1.5", b"-0.25", b"1e3", b"3.0",
                                                        b"abc", b"1e400", b"inf", b"5.0e-3"])]
        elif roll == 24:
            command = [rnd.choice([b"TTL", b"PTTL"]), key]
        elif roll == 25:
            command = [b"LPUSH", key, val]
        elif roll == 26:
            command = [b"DEL", key, other]
        elif roll == 27:
            command = [b"EXISTS", key]
        elif roll == 28:
            command = [b"SET", key, rnd.choice([b"0", b"10", b"-7", b"1.5", b"9223372036854775806"])]
        else:
            name = rnd.choice([b"GET", b"SET", b"MGET", b"INCRBY", b"GETRANGE", b"SETEX", b"APPEND"])
            command = [name] + [key] * rnd.choice([0, 5])     # wrong arity
        command[0] = difftools.mixed_case(rnd, command[0])
        return command

    def wire(self, command):
        return difftools.wire(self.rnd, command)


def limits(check):
    options = ["--connections-max", "4", "--key-count", "4", "--key-size-max", "8",
               "--val-size-max", "16", "--list-length-max", "4", "--hugepages", "off"]
    with kvtest.start_kv(*options) as kv, kv.connect() as client:
        check.equal("SET", b"+OK\r\n", client.call("SET", "k", "0123456789"))
        check.starts("APPEND past val_size_max", b"-ERR value is too long",
                     client.call("APPEND", "k", "0123456789"))
        check.starts("SETRANGE past val_size_max", b"-ERR value is too long",
                     client.call("SETRANGE", "k", 10, "0123456789"))
        check.equal("the value is unchanged", b"$10\r\n0123456789\r\n", client.call("GET", "k"))
        check.equal("MSET of three new keys fits", b"+OK\r\n",
                    client.call("MSET", "a", 1, "b", 2, "c", 3))
        check.starts("MSET of one more new key: store full", b"-ERR store is full",
                     client.call("MSET", "a", 9, "d", 4))
        check.equal("nothing of it was set", b"$1\r\n1\r\n", client.call("GET", "a"))
        check.equal("MSET repeating a new key... still full", b":0\r\n", client.call("EXISTS", "d"))
        check.starts("INCR of a new key when full", b"-ERR store is full", client.call("INCR", "e"))
        check.starts("SET of a key too long", b"-ERR key is too long",
                     client.call("SET", "123456789", "v"))


def main():
    check = kvtest.Checker("test_diff_strings", verbose=False)
    limits(check)
    probes = [[b"GET", key] for key in difftools.KEYS] + [[b"TYPE", key] for key in difftools.KEYS]
    kvtest.differential("test_diff_strings", Generator, COMMAND_COUNT, KV_OPTIONS, probes,
                        difftools.replies_equal, check)


if __name__ == "__main__":
    main()
