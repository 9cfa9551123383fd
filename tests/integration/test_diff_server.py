"""Server and connection commands answer seeded random commands with exactly Redis's bytes.

At least 20,000 commands of PING, ECHO, AUTH (no password configured), HELLO (protocol 2,
AUTH and SETNAME options, bad versions and options), CLIENT SETNAME/GETNAME/ID/KILL/LIST
errors/NO-EVICT/NO-TOUCH and unknown subcommands, CONFIG GET of the parameters both have,
CONFIG SET of the runtime ones and of unknown ones, RESET, SELECT, DBSIZE, TIME, unknown
commands and wrong arities go to kv and to a real redis-server; replies must be identical,
except the client id inside HELLO and CLIENT ID, TIME's digits (compared by shape) and the
order of CONFIG GET's pairs.
HELLO 3 is left out: RESP3 has its own differential test (test_diff_resp3.py).
"""
import difftools
import kvtest

COMMAND_COUNT = 20000
KV_OPTIONS = ["--connections-max", "16", "--key-count", "64", "--key-size-max", "64",
              "--val-size-max", "256", "--list-length-max", "16", "--hugepages", "off"]
NAMES = [b"app", b"worker-1", b"", b"a b", b"x\ny", b"caf\xc3\xa9", b"n" * 100, b"~!", b"\x7f"]
CONFIG_NAMES = [b"hz", b"maxmemory-policy", b"timeout", b"appendonly", b"save", b"databases",
                b"slowlog-log-slower-than", b"slowlog-max-len", b"requirepass", b"HZ",
                b"slowlog-*", b"nosuch", b"maxmemory-p*", b"time?ut"]


class Generator:
    def __init__(self, rnd):
        self.rnd = rnd

    def hello(self):
        rnd = self.rnd
        command = [b"HELLO"]
        if rnd.random() < 0.8:
            command.append(rnd.choice([b"2", b"2", b"4", b"1", b"x", b"", b"-1",
                                       b"99999999999999999999"]))
        for _ in range(rnd.choice([0, 0, 1, 2])):
            option = rnd.choice([[b"SETNAME", rnd.choice(NAMES)], [b"AUTH", b"default", b"pw"],
                                 [b"auth", b"bob", b"pw"], [b"SETNAME"], [b"AUTH", b"default"],
                                 [b"BOGUS"], [b"setname", b"x"]])
            command += option
        return command

    def client(self):
        rnd = self.rnd
        return rnd.choice([
            [b"CLIENT", b"SETNAME", rnd.choice(NAMES)], [b"CLIENT", b"GETNAME"],
            [b"CLIENT", b"ID"], [b"CLIENT", b"SETNAME"], [b"CLIENT", b"GETNAME", b"x"],
            [b"CLIENT", b"KILL", b"1.2.3.4:5"], [b"CLIENT", b"KILL", b"ID", b"999999"],
            [b"CLIENT", b"KILL", b"ID", b"x"], [b"CLIENT", b"KILL", b"ID", b"0"],
            [b"CLIENT", b"KILL", b"TYPE", b"foo"], [b"CLIENT", b"KILL", b"TYPE", b"master"],
            [b"CLIENT", b"KILL", b"USER", b"bob"], [b"CLIENT", b"KILL", b"SKIPME", b"maybe"],
            [b"CLIENT", b"KILL", b"ID", b"1", b"SKIPME"], [b"CLIENT", b"KILL", b"BOGUS", b"1"],
            [b"CLIENT", b"LIST", b"TYPE", b"foo"], [b"CLIENT", b"LIST", b"ID", b"x"],
            [b"CLIENT", b"LIST", b"ID", b"0"], [b"CLIENT", b"LIST", b"BOGUS"],
            [b"CLIENT", b"LIST", b"TYPE", b"pubsub"], [b"CLIENT", b"LIST", b"ID", b"999999"],
            [b"CLIENT", b"NO-EVICT", rnd.choice([b"on", b"OFF", b"maybe"])],
            [b"CLIENT", rnd.choice([b"FOO", b"", b"set name"])], [b"CLIENT"],
        ])

    def command(self):
        rnd = self.rnd
        roll = rnd.randrange(24)
        if roll < 2:
            command = [b"PING"] + ([difftools.value(rnd)] if rnd.random() < 0.5 else [])
        elif roll == 2:
            command = [b"ECHO", difftools.value(rnd)]
        elif roll < 6:
            command = self.hello()
        elif roll < 11:
            command = self.client()
        elif roll == 11:
            command = rnd.choice([[b"AUTH", b"x"], [b"AUTH", b"default", b"x"],
                                  [b"AUTH", b"bob", b"x"], [b"AUTH", b"a", b"b", b"c"]])
        elif roll < 14:
            command = [b"CONFIG", b"GET"] + [rnd.choice(CONFIG_NAMES)
                                             for _ in range(rnd.randint(1, 3))]
        elif roll == 14:
            command = rnd.choice([[b"CONFIG", b"SET", b"hz", b"10"],
                                  [b"CONFIG", b"SET", b"slowlog-log-slower-than", b"10000"],
                                  [b"CONFIG", b"SET", b"nosuch", b"1"],
                                  [b"CONFIG", b"SET", b"hz"], [b"CONFIG", b"GET"],
                                  [b"CONFIG", b"BOGUS"], [b"CONFIG"]])
        elif roll == 15:
            command = [b"RESET"]
        elif roll == 16:
            command = [b"SELECT", rnd.choice([b"0", b"1", b"x"])]
        elif roll == 17:
            command = [b"DBSIZE"]
        elif roll == 18:
            command = [b"TIME"]
        elif roll == 19:
            command = [b"SET", rnd.choice(difftools.KEYS), difftools.value(rnd)]
        elif roll == 20:
            command = [rnd.choice([b"NOSUCHCMD", b"FLUSH", b"GETT", b"\x00x"])] + [
                difftools.value(rnd) for _ in range(rnd.randint(0, 3))]
        else:
            name = rnd.choice([b"PING", b"ECHO", b"TIME", b"DBSIZE", b"RESET", b"SELECT",
                               b"CONFIG", b"CLIENT", b"AUTH"])
            command = [name] + [b"x"] * rnd.choice([0, 2, 3])
        command[0] = difftools.mixed_case(rnd, command[0])
        return command

    def wire(self, command):
        return difftools.wire(self.rnd, command)


def without_ids(value):
    """A decoded HELLO reply with the value after b"id" blanked."""
    if isinstance(value, list):
        return [None if index > 0 and value[index - 1] == b"id" else item
                for index, item in enumerate(value)]
    return value


def replies_equal(command, want, got):
    name = command[0].upper()
    if want == got:
        return True
    if name == b"CONFIG" and len(command) > 2 and command[1].upper() == b"GET":
        # Redis lists matches in its own table's order: compare the pairs.
        want_value, got_value = kvtest.decode(want), kvtest.decode(got)
        if not (isinstance(want_value, list) and isinstance(got_value, list)):
            return False
        return (dict(zip(want_value[::2], want_value[1::2]))
                == dict(zip(got_value[::2], got_value[1::2])) and len(want_value) == len(got_value))
    if name == b"HELLO":
        return without_ids(kvtest.decode(want)) == without_ids(kvtest.decode(got))
    if name == b"CLIENT" and len(command) == 2 and command[1].upper() == b"ID":
        return want.startswith(b":") and got.startswith(b":")
    if name == b"TIME" and len(command) == 1:
        want_value, got_value = kvtest.decode(want), kvtest.decode(got)
        return (isinstance(got_value, list) and len(got_value) == 2
                and all(part.isdigit() for part in got_value)
                and abs(int(got_value[0]) - int(want_value[0])) <= 2)
    return False


def main():
    kvtest.differential("test_diff_server", Generator, COMMAND_COUNT, KV_OPTIONS,
                        [[b"CLIENT", b"GETNAME"], [b"DBSIZE"]], replies_equal)


if __name__ == "__main__":
    main()
