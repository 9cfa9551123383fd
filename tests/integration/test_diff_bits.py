"""The bit commands answer seeded random commands with exactly Redis's bytes.

At least 8,000 commands of SETBIT, GETBIT, BITCOUNT (BYTE|BIT ranges), BITPOS (BYTE|BIT),
BITOP AND|OR|XOR|NOT (the destination also a source, missing and wrong-typed keys),
BITFIELD (GET/SET/INCRBY, OVERFLOW WRAP|SAT|FAIL, "#" offsets, every type width, bad types)
and BITFIELD_RO, mixed with SET, GET, APPEND, EXPIRE/TTL (BITOP clears the destination's
time), LPUSH (WRONGTYPE) and DEL, with wrong arities and mixed-case names, go to kv and to a
real redis-server; replies must be identical (TTLs within 1.5 s). Offsets reach strings of
up to val_size_max bytes (kv's cap, large enough for Redis's answers to be compared), and
past 2^32 - 1 bits (out of range for both). kv's own limits are checked at the start:
a bit past val_size_max answers kv's "value is too long" and changes nothing; a write that
cannot get memory answers -OOM and changes nothing.
"""
import difftools
import kvtest

COMMAND_COUNT = 8000
VAL_SIZE_MAX = 65536
KV_OPTIONS = ["--connections-max", "16", "--key-count", "64", "--key-size-max", "64",
              "--val-size-max", str(VAL_SIZE_MAX), "--list-length-max", "1024",
              "--maxmemory", "32mb", "--hugepages", "off"]
KEYS = [b"k0", b"k1", b"k2", b"l", b"", b"\x00b\xff"]
TYPES = [b"i1", b"u1", b"i3", b"u5", b"i8", b"u8", b"i13", b"u16", b"i32", b"u32", b"i63",
         b"u63", b"i64", b"u64", b"i0", b"u0", b"I8", b"x8", b"i65", b"i", b"u-1", b"i08",
         b"", b"u+3"]
BIG_VALUES = [b"9223372036854775807", b"-9223372036854775808", b"4294967295", b"-4294967296",
              b"127", b"-128", b"255", b"256", b"65535", b"-32769"]
# Offsets both servers refuse (4294967295 is legal in Redis and past kv's cap: only read).
OFFSETS = [b"-1", b"abc", b"", b"4294967296", b"9223372036854775807",
           b"+5", b"01", b"1.5"]
WRONG_ARITY = [(b"SETBIT", 1), (b"SETBIT", 2), (b"SETBIT", 4), (b"GETBIT", 0), (b"GETBIT", 3),
               (b"BITCOUNT", 0), (b"BITPOS", 0), (b"BITPOS", 1), (b"BITOP", 0), (b"BITOP", 2),
               (b"BITFIELD", 0), (b"BITFIELD_RO", 0)]


class Generator:
    def __init__(self, rnd):
        self.rnd = rnd

    def offset(self, big=False):
        rnd = self.rnd
        roll = rnd.random()
        if roll < 0.04:
            return rnd.choice(OFFSETS)
        if roll < 0.08 or big:
            # Strings of up to half val_size_max bytes: APPENDs after them stay in the cap.
            return b"%d" % rnd.randrange(VAL_SIZE_MAX // 2 * 8)
        return b"%d" % rnd.randrange(300)

    def integer(self):
        rnd = self.rnd
        roll = rnd.random()
        if roll < 0.2:
            return rnd.choice(BIG_VALUES)
        if roll < 0.3:
            return rnd.choice(difftools.NUMBERS)
        return b"%d" % rnd.randint(-300, 300)

    def range_args(self, unit_index):
        rnd = self.rnd
        args = [difftools.number(rnd, -40, 40), difftools.number(rnd, -40, 40)]
        if rnd.random() < 0.5:
            args.append(rnd.choice([b"BIT", b"BYTE", b"bit", b"Byte", b"bits", b"x"]))
        return args[:unit_index]

    def bitfield(self, read_only):
        rnd = self.rnd
        args = []
        for _ in range(rnd.randint(0, 5)):
            roll = rnd.random()
            kind = rnd.choice([b"i", b"u"])
            width = rnd.randint(1, 64 if kind == b"i" else 63)
            type_ = rnd.choice(TYPES) if rnd.random() < 0.08 else kind + b"%d" % width
            if rnd.random() < 0.25:
                offset = b"#%d" % rnd.randrange(40)
            else:
                offset = self.offset()
            if roll < 0.15:
                args += [b"OVERFLOW", rnd.choice([b"WRAP", b"SAT", b"FAIL", b"sat", b"fail",
                                                  b"wrap", b"bogus"])]
            elif roll < 0.45 or (read_only and roll < 0.9):
                args += [rnd.choice([b"GET", b"get"]), type_, offset]
            elif roll < 0.7:
                args += [rnd.choice([b"SET", b"set"]), type_, offset, self.integer()]
            elif roll < 0.97:
                args += [rnd.choice([b"INCRBY", b"incrby"]), type_, offset, self.integer()]
            else:
                args += [rnd.choice([b"GET", b"SET", b"BOGUS"])]   # missing arguments
        return args

    def command(self):
        rnd = self.rnd
        key = rnd.choice(KEYS)
        roll = rnd.randrange(40)
        if roll < 6:
            command = [b"SETBIT", key, self.offset(),
                       rnd.choice([b"0", b"1", b"1", b"0", b"2", b"-1", b"x", b""])]
        elif roll < 9:
            command = [b"GETBIT", key, rnd.choice([self.offset(), b"4294967295"])]
        elif roll < 12:
            command = [b"BITCOUNT", key] + self.range_args(rnd.choice([0, 2, 3, 1]))
            if rnd.random() < 0.03:
                command += [b"BIT", b"extra"]
        elif roll < 16:
            command = [b"BITPOS", key, rnd.choice([b"0", b"1", b"1", b"0", b"2", b"-1", b"x"])]
            command += self.range_args(rnd.choice([0, 1, 2, 3]))
            if rnd.random() < 0.03:
                command += [b"BIT", b"extra"]
        elif roll < 20:
            op = rnd.choice([b"AND", b"OR", b"XOR", b"NOT", b"and", b"Xor", b"nand"])
            sources = [rnd.choice(KEYS) for _ in range(1 if op == b"NOT" and rnd.random() < 0.9
                                                      else rnd.randint(1, 4))]
            command = [b"BITOP", op, key] + sources
        elif roll < 26:
            command = [b"BITFIELD", key] + self.bitfield(False)
        elif roll < 28:
            command = [b"BITFIELD_RO", key] + self.bitfield(rnd.random() < 0.9)
        elif roll < 30:
            command = [b"SET", key, difftools.value(rnd)]
        elif roll < 32:
            command = [b"GET", key]
        elif roll == 32:
            command = [b"APPEND", key, difftools.value(rnd)]
        elif roll == 33:
            command = [b"EXPIRE", key, b"1000"]
        elif roll == 34:
            command = [rnd.choice([b"TTL", b"PTTL"]), key]
        elif roll == 35:
            command = [b"LPUSH", b"l", b"x"]
        elif roll == 36:
            command = [b"DEL", key]
        elif roll == 37:
            command = [b"STRLEN", key]
        elif roll == 38:
            # A write far into the string: a string of up to val_size_max bytes.
            command = [rnd.choice([b"SETBIT", b"BITFIELD"]), key]
            command += ([self.offset(big=True), b"1"] if command[0] == b"SETBIT"
                        else [b"SET", b"u8", self.offset(big=True), b"7"])
        else:
            name, count = rnd.choice(WRONG_ARITY)
            command = [name] + [key] * count
        command[0] = difftools.mixed_case(rnd, command[0])
        return command

    def wire(self, command):
        return difftools.wire(self.rnd, command)


def limits(check):
    """kv's own answers: a string past val_size_max, a key past key_count, and no memory."""
    options = ["--connections-max", "4", "--key-count", "4", "--key-size-max", "8",
               "--val-size-max", "16", "--list-length-max", "4", "--maxmemory", "16mb",
               "--hugepages", "off"]
    with kvtest.start_kv(*options) as kv, kv.connect() as client:
        check.equal("SETBIT in the cap", b":0\r\n", client.call("SETBIT", "k", 127, 1))
        check.starts("SETBIT past val_size_max", b"-ERR value is too long",
                     client.call("SETBIT", "k", 128, 1))
        check.starts("SETBIT at 2^32 - 1 (Redis grows to 512 MB)", b"-ERR value is too long",
                     client.call("SETBIT", "k", 4294967295, 1))
        check.equal("SETBIT at 2^32: out of range",
                    b"-ERR bit offset is not an integer or out of range\r\n",
                    client.call("SETBIT", "k", 4294967296, 1))
        check.starts("BITFIELD past val_size_max", b"-ERR value is too long",
                     client.call("BITFIELD", "k", "SET", "u8", 121, 1))
        check.equal("the string is unchanged", b":16\r\n", client.call("STRLEN", "k"))
        check.equal("only its last bit is set", b":1\r\n", client.call("BITCOUNT", "k"))
        check.equal("three more keys fit", b"+OK\r\n", client.call("MSET", "a", 1, "b", 2, "c", 3))
        check.starts("SETBIT of a new key when full", b"-ERR store is full",
                     client.call("SETBIT", "d", 0, 1))
        check.starts("BITOP into a new key when full", b"-ERR store is full",
                     client.call("BITOP", "OR", "d", "a", "b"))
        check.equal("no key d", b":0\r\n", client.call("EXISTS", "d"))
        check.equal("BITOP into an existing key", b":16\r\n",
                    client.call("BITOP", "NOT", "a", "k"))
        check.equal("its bytes", b"$16\r\n" + b"\xff" * 15 + b"\xfe\r\n", client.call("GET", "a"))
    # Memory: a heap that holds few large strings, filled until a write cannot get room.
    options = ["--connections-max", "4", "--key-count", "64", "--val-size-max", "1048576",
               "--maxmemory", "8mb", "--hugepages", "off"]
    with kvtest.start_kv(*options) as kv, kv.connect() as client:
        oom = None
        for index in range(64):
            reply = client.call("SETBIT", f"big{index}", 1048576 * 8 - 1, 1)
            if reply.startswith(b"-"):
                oom = (index, reply)
                break
        check.true("SETBIT runs out of memory before 64 strings of 1 MiB", oom is not None)
        if oom is not None:
            check.starts("the write answers OOM", b"-OOM", oom[1])
            check.equal("and made no key", b":0\r\n", client.call("EXISTS", f"big{oom[0]}"))
            check.equal("BITOP into a new key", True,
                        client.call("BITOP", "OR", "dest", "big0").startswith(b"-OOM"))
            check.equal("made no key", b":0\r\n", client.call("EXISTS", "dest"))
            check.equal("BITFIELD on a short key", True,
                        client.call("SET", "short", "x") == b"+OK\r\n" and
                        client.call("BITFIELD", "short", "SET", "u8", 8000000, 1)
                        .startswith(b"-OOM"))
            check.equal("left unchanged", b"$1\r\nx\r\n", client.call("GET", "short"))


def main():
    check = kvtest.Checker("test_diff_bits", verbose=False)
    limits(check)
    probes = [[b"GET", key] for key in KEYS] + [[b"TYPE", key] for key in KEYS]
    kvtest.differential("test_diff_bits", Generator, COMMAND_COUNT, KV_OPTIONS, probes,
                        difftools.replies_equal, check)


if __name__ == "__main__":
    main()
