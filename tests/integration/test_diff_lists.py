"""The list family answers seeded random commands with exactly Redis's bytes.

At least 20,000 commands of LPUSH, RPUSH, LPUSHX, RPUSHX, LPOP, RPOP (with and without a
count), LRANGE, LLEN, LINDEX, LSET, LREM, LTRIM, LINSERT, LPOS (RANK, COUNT, MAXLEN and
their errors), LMOVE and RPOPLPUSH (same key and across keys), with SET so lists collide with
strings (WRONGTYPE), wrong arities and mixed-case names, go to kv and to a real redis-server;
replies must be identical. Values come from a small pool so that LREM, LPOS and LINSERT find
matches; kv's list limit is far above what the run can build, so only Redis-defined answers
are compared (kv's own limits are tested at the end: LINSERT, LMOVE and LSET past them change
nothing).
"""
import difftools
import kvtest

COMMAND_COUNT = 22000
KV_OPTIONS = ["--connections-max", "16", "--key-count", "16", "--key-size-max", "64",
              "--val-size-max", "32", "--list-length-max", "20000", "--hugepages", "off"]
KEYS = [b"l0", b"l1", b"l2", b"s", b"", b"\x00l\xff"]
VALUES = [b"a", b"b", b"c", b"", b"\x00\r\n", b"12", b"a b"]
INDEXES = [b"0", b"1", b"2", b"-1", b"-2", b"-3", b"5", b"-100", b"100", b"abc", b"", b"1.5",
           b"9223372036854775807", b"-9223372036854775808"]
ENDS = [b"LEFT", b"RIGHT", b"left", b"Right", b"UP"]


class Generator:
    def __init__(self, rnd):
        self.rnd = rnd

    def lpos(self, key):
        rnd = self.rnd
        command = [b"LPOS", key, rnd.choice(VALUES)]
        for _ in range(rnd.choice([0, 0, 1, 2, 3])):
            option = rnd.choice([b"RANK", b"COUNT", b"MAXLEN", b"rank", b"BOGUS"])
            number = rnd.choice([b"1", b"2", b"-1", b"-2", b"0", b"3", b"-5", b"abc",
                                 b"-9223372036854775808", b"9223372036854775807"])
            command += [option, number] if rnd.random() < 0.95 else [option]
        return command

    def command(self):
        rnd = self.rnd
        key = rnd.choice(KEYS)
        other = rnd.choice(KEYS)
        value = rnd.choice(VALUES)
        roll = rnd.randrange(34)
        if roll < 6:
            command = [rnd.choice([b"LPUSH", b"RPUSH"]), key] + [
                rnd.choice(VALUES) for _ in range(rnd.randint(1, 4))]
        elif roll == 6:
            command = [rnd.choice([b"LPUSHX", b"RPUSHX"]), key] + [
                rnd.choice(VALUES) for _ in range(rnd.randint(1, 3))]
        elif roll < 9:
            command = [rnd.choice([b"LPOP", b"RPOP"]), key]
            if rnd.random() < 0.4:
                command.append(rnd.choice([b"0", b"1", b"2", b"5", b"-1", b"abc"]))
        elif roll < 12:
            command = [b"LRANGE", key, rnd.choice(INDEXES), rnd.choice(INDEXES)]
        elif roll == 12:
            command = [b"LLEN", key]
        elif roll < 15:
            command = [b"LINDEX", key, rnd.choice(INDEXES)]
        elif roll < 17:
            command = [b"LSET", key, rnd.choice(INDEXES), value]
        elif roll < 19:
            command = [b"LREM", key, rnd.choice([b"0", b"1", b"-1", b"2", b"-2", b"x"]), value]
        elif roll == 19:
            command = [b"LTRIM", key, rnd.choice(INDEXES), rnd.choice(INDEXES)]
        elif roll < 22:
            where = rnd.choice([b"BEFORE", b"AFTER", b"before", b"after", b"MIDDLE"])
            command = [b"LINSERT", key, where, rnd.choice(VALUES), value]
        elif roll < 25:
            command = self.lpos(key)
        elif roll < 27:
            command = [b"LMOVE", key, other, rnd.choice(ENDS), rnd.choice(ENDS)]
        elif roll == 27:
            command = [b"RPOPLPUSH", key, other]
        elif roll == 28:
            command = [b"SET", key, value]
        elif roll == 29:
            command = [b"DEL", key]
        elif roll < 32:
            command = [b"LRANGE", key, b"0", b"-1"]
        elif roll == 32:
            command = rnd.choice([[b"TYPE", key], [b"EXISTS", key], [b"GET", key]])
        else:
            name = rnd.choice([b"LINDEX", b"LSET", b"LREM", b"LTRIM", b"LINSERT", b"LPOS",
                               b"LMOVE", b"RPOPLPUSH", b"LPUSHX", b"RPOP"])
            command = [name] + [key] * rnd.choice([0, 1, 6])     # wrong arity (mostly)
        command[0] = difftools.mixed_case(rnd, command[0])
        return command

    def wire(self, command):
        return difftools.wire(self.rnd, command)


def limits(check):
    options = ["--connections-max", "4", "--key-count", "2", "--key-size-max", "8",
               "--val-size-max", "4", "--list-length-max", "3", "--hugepages", "off"]
    with kvtest.start_kv(*options) as kv, kv.connect() as client:
        check.equal("RPUSH to the limit", b":3\r\n", client.call("RPUSH", "a", "1", "2", "3"))
        check.starts("LINSERT past list_length_max", b"-ERR list is full",
                     client.call("LINSERT", "a", "BEFORE", "2", "x"))
        check.starts("LSET past val_size_max", b"-ERR value is too long",
                     client.call("LSET", "a", "0", "12345"))
        check.starts("LINSERT past val_size_max", b"-ERR value is too long",
                     client.call("LINSERT", "a", "BEFORE", "2", "12345"))
        check.equal("RPUSH b", b":1\r\n", client.call("RPUSH", "b", "x"))
        check.starts("LMOVE onto a full list", b"-ERR list is full",
                     client.call("LMOVE", "b", "a", "LEFT", "LEFT"))
        check.starts("LMOVE to a new key when key_count keys exist", b"-ERR store is full",
                     client.call("LMOVE", "a", "c", "LEFT", "LEFT"))
        check.equal("LMOVE of a last element to a new key frees its own slot", b"$1\r\nx\r\n",
                    client.call("LMOVE", "b", "c", "LEFT", "LEFT"))
        check.equal("the lists are unchanged", [b"1", b"2", b"3"],
                    kvtest.decode(client.call("LRANGE", "a", "0", "-1")))
        check.equal("b is gone", b":0\r\n", client.call("EXISTS", "b"))
        check.equal("LMOVE within one full list rotates", b"$1\r\n3\r\n",
                    client.call("LMOVE", "a", "a", "RIGHT", "LEFT"))
        check.equal("rotated", [b"3", b"1", b"2"], kvtest.decode(client.call("LRANGE", "a", 0, -1)))
        client.call("EXPIRE", "c", "100")
        check.equal("LMOVE of a one-element list onto itself", b"$1\r\nx\r\n",
                    client.call("LMOVE", "c", "c", "LEFT", "RIGHT"))
        check.true("keeps its time to live", kvtest.decode(client.call("TTL", "c")) > 90)


def main():
    check = kvtest.Checker("test_diff_lists", verbose=False)
    limits(check)
    probes = [[b"LRANGE", key, b"0", b"-1"] for key in KEYS] + [[b"TYPE", key] for key in KEYS]
    kvtest.differential("test_diff_lists", Generator, COMMAND_COUNT, KV_OPTIONS, probes,
                        difftools.replies_equal, check)


if __name__ == "__main__":
    main()
