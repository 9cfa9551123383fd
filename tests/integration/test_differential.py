"""kv answers seeded random command sequences with exactly Redis's bytes.

A seeded generator (the seed is printed; KV_SEED=<n> replays it) writes at least 20,000
commands over everything kv implements: PING, ECHO, SET, GET, DEL, EXISTS, LPUSH, RPUSH, LRANGE,
LLEN, LPOP and RPOP with and without counts, CONFIG GET and COMMAND DOCS of unknown names, wrong
arities, extra arguments and unknown commands. Keys come from a pool of eight (one empty, some
binary) so strings and lists collide and WRONGTYPE comes up; values are empty, binary (NUL,
CR LF inside, invalid UTF-8) or up to val_size_max long; indexes and counts are negative, zero,
out of range, huge or not integers; names come in mixed case, and a tenth of the commands whose
arguments are plain words go in inline form. Each command goes to kv and to a real redis-server
on its own connection pair, half of them pipelined in batches of up to 64, and every raw reply
must be byte-identical. The first mismatch stops the run and prints the command, the commands
before it and both replies. At the end every key's type and contents are compared as well.

Lists are kept well under kv's list_length_max (an upper bound on each list's length is tracked
and a DEL replaces a push that could pass it), so kv's own limit errors never come into play.
"""
import collections
import random
import re

import kvtest

COMMAND_COUNT = 24000
VAL_SIZE_MAX = 512
LIST_LENGTH_MAX = 512
LIST_BOUND = 200          # pushes keep every list at most this long (< LIST_LENGTH_MAX)
KV_OPTIONS = ["--connections-max", "16", "--key-count", "64", "--key-size-max", "64",
              "--val-size-max", str(VAL_SIZE_MAX), "--list-length-max", str(LIST_LENGTH_MAX),
              "--hugepages", "off"]

KEYS = [b"k0", b"k1", b"list", b"str", b"", b"\x00bin\xff", b"a b\r\nc", b"k7"]
FIXED_VALUES = [b"", b"v", b"hello world", b"\x00", b"\x00\r\n\xff\xfe", b"\r\n", b"12", b"-3",
                b"\xc3\x28", b"*1\r\n$4\r\nPING\r\n", b"x" * VAL_SIZE_MAX]
NUMBERS = [b"0", b"1", b"-1", b"2", b"-2", b"3", b"5", b"-5", b"10", b"100", b"-100", b"abc",
           b"", b"1.5", b"+1", b"01", b"-0", b" 1", b"1 ", b"0x10", b"9223372036854775807",
           b"-9223372036854775808", b"9223372036854775808", b"99999999999999999999"]
UNKNOWN = [b"NOSUCH", b"GETX", b"lpushz", b"\xff\xfe", b"a\r\nb", b"x" * 200, b"SETT"]
PLAIN_WORD = re.compile(rb"^[A-Za-z0-9_:.+-]+$")


def random_value(rnd):
    if rnd.random() < 0.6:
        return rnd.choice(FIXED_VALUES)
    length = rnd.choice([1, 2, 7, 64, rnd.randint(0, VAL_SIZE_MAX)])
    return bytes(rnd.getrandbits(8) for _ in range(length))


def random_number(rnd):
    return rnd.choice(NUMBERS) if rnd.random() < 0.6 else b"%d" % rnd.randint(-20, 20)


class Generator:
    """Random commands; bounds[key] is an upper bound of the list at key (0: not a list)."""

    def __init__(self, rnd):
        self.rnd = rnd
        self.bounds = collections.Counter()

    def command(self):
        rnd = self.rnd
        name = rnd.choice(["GET", "SET", "DEL", "EXISTS", "LPUSH", "RPUSH", "LRANGE", "LLEN",
                           "LPOP", "RPOP", "LPOP", "RPOP", "LRANGE", "PING", "ECHO", "CONFIG",
                           "COMMAND", "UNKNOWN"])
        key = rnd.choice(KEYS)
        if name in ("GET", "LLEN"):
            args = [key]
        elif name == "SET":
            args = [key, random_value(rnd)]
            self.bounds[key] = 0
        elif name in ("DEL", "EXISTS"):
            args = [rnd.choice(KEYS) for _ in range(rnd.randint(1, 5))]
            if name == "DEL":
                for deleted in args:
                    self.bounds[deleted] = 0
        elif name in ("LPUSH", "RPUSH"):
            args = [key] + [random_value(rnd) for _ in range(rnd.randint(1, 6))]
            if self.bounds[key] + len(args) - 1 > LIST_BOUND:
                name, args = "DEL", [key]
                self.bounds[key] = 0
            else:
                self.bounds[key] += len(args) - 1
        elif name == "LRANGE":
            args = [key, random_number(rnd), random_number(rnd)]
        elif name in ("LPOP", "RPOP"):
            args = [key] + ([random_number(rnd)] if rnd.random() < 0.6 else [])
        elif name == "PING":
            args = [] if rnd.random() < 0.5 else [random_value(rnd)]
        elif name == "ECHO":
            args = [random_value(rnd)]
        elif name == "CONFIG":
            args = [b"GET", rnd.choice([b"nosuchparam", b"no_such_option", b"x"])]
        elif name == "COMMAND":
            args = [b"DOCS", rnd.choice([b"nosuch", b"getx"])]
        else:
            name = rnd.choice(UNKNOWN)
            args = [random_value(rnd) for _ in range(rnd.randint(0, 3))]
        roll = rnd.random()
        if name == "COMMAND":
            pass  # COMMAND DOCS with no name lists every Redis command: not comparable
        elif roll < 0.03:
            args = args[:-1]                                  # one argument short
        elif roll < 0.05 and name == "CONFIG":
            args = args + [b"nosuchparam2"]                   # no glob: * matches real names
        elif roll < 0.05:
            args = args + [random_value(rnd), random_number(rnd)]  # extra arguments
        name = name.encode() if isinstance(name, str) else name
        roll = rnd.random()
        if roll < 0.3:
            name = name.lower()
        elif roll < 0.4:
            name = name.capitalize()
        return [name] + args

    def wire(self, command):
        """The command as bytes: inline for a tenth of plain-word commands, else multibulk."""
        if all(PLAIN_WORD.match(part) for part in command) and self.rnd.random() < 0.1:
            return b" ".join(command) + b"\r\n"
        return kvtest.encode(*command)


def main():
    probes = [probe for key in KEYS
              for probe in (("EXISTS", key), ("LLEN", key), ("GET", key), ("LRANGE", key, 0, -1))]
    kvtest.differential("test_differential", Generator, COMMAND_COUNT, KV_OPTIONS, probes)


if __name__ == "__main__":
    main()
