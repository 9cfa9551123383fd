"""The key and expiry families answer seeded random commands with exactly Redis's bytes.

At least 20,000 commands of DEL, UNLINK, EXISTS, TOUCH, TYPE, RENAME, RENAMENX, KEYS, SCAN
(one whole pass with MATCH/TYPE), RANDOMKEY, DBSIZE, SELECT, FLUSHDB/FLUSHALL, EXPIRE,
PEXPIRE, EXPIREAT, PEXPIREAT (NX/XX/GT/LT and their errors), TTL, PTTL, EXPIRETIME,
PEXPIRETIME and PERSIST, with SET/RPUSH so strings and lists collide, go to kv and to a real
redis-server (both with Redis's default 16 databases). Replies must be identical, except that
KEYS and SCAN may order keys differently, RANDOMKEY may pick another key, and TTLs may differ
by the time between the two servers' answers. Times are long, absolute or already past, and
GT/LT only meet absolute times, so no answer depends on which millisecond a server ran in.
"""
import difftools
import kvtest

COMMAND_COUNT = 22000
KV_OPTIONS = ["--connections-max", "16", "--key-count", "64", "--key-size-max", "64",
              "--val-size-max", "256", "--list-length-max", "64", "--hugepages", "off"]
PATTERNS = [b"*", b"k*", b"k?", b"[ks]*", b"*\x00*", b"[^k]*", b"\\*", b"a b*", b"", b"?",
            b"*7", b"[a-l]", b"K*", b"*[", b"\\k0"]
RELATIVE_TIMES = [b"100", b"1000", b"100000", b"0", b"-5", b"abc", b"", b"1.5",
                  b"9223372036854775807", b"-9223372036854775808", b"9223372036854775"]
ABSOLUTE_SECONDS = [b"4102444800", b"4102444801", b"4133980800", b"1", b"0", b"-1"]
FLAG_WORDS = [b"NX", b"XX", b"GT", b"LT", b"nx", b"gt", b"FOO"]


class Generator:
    def __init__(self, rnd):
        self.rnd = rnd

    def expire(self, key):
        rnd = self.rnd
        if rnd.random() < 0.5:
            name = rnd.choice([b"EXPIRE", b"PEXPIRE"])
            flags = [rnd.choice([b"NX", b"XX", b"nx", b"xx", b"BAD"])
                     for _ in range(rnd.choice([0, 0, 1, 2]))]
            return [name, key, rnd.choice(RELATIVE_TIMES)] + flags
        name = rnd.choice([b"EXPIREAT", b"PEXPIREAT"])
        when = rnd.choice(ABSOLUTE_SECONDS)
        if name == b"PEXPIREAT" and when not in (b"0", b"-1"):
            when += b"000"
        flags = [rnd.choice(FLAG_WORDS) for _ in range(rnd.choice([0, 1, 1, 2]))]
        return [name, key, when] + flags

    def command(self):
        rnd = self.rnd
        key = rnd.choice(difftools.KEYS)
        other = rnd.choice(difftools.KEYS)
        roll = rnd.randrange(32)
        if roll < 4:
            command = [b"SET", key, difftools.value(rnd)]
            if rnd.random() < 0.2:
                command += [b"EX", b"1000"]
        elif roll < 6:
            command = [b"RPUSH", key] + [difftools.value(rnd) for _ in range(rnd.randint(1, 3))]
        elif roll < 8:
            command = [rnd.choice([b"DEL", b"UNLINK"])] + [
                rnd.choice(difftools.KEYS) for _ in range(rnd.randint(1, 3))]
        elif roll < 10:
            command = [rnd.choice([b"EXISTS", b"TOUCH"])] + [
                rnd.choice(difftools.KEYS) for _ in range(rnd.randint(1, 4))]
        elif roll < 12:
            command = [b"TYPE", key]
        elif roll < 15:
            command = [rnd.choice([b"RENAME", b"RENAMENX"]), key, other]
        elif roll == 15:
            command = [b"KEYS", rnd.choice(PATTERNS)]
        elif roll == 16:
            command = [b"SCAN", b"0", b"COUNT", b"1000"]
            if rnd.random() < 0.5:
                command += [b"MATCH", rnd.choice(PATTERNS)]
            if rnd.random() < 0.3:
                command += [b"TYPE", rnd.choice([b"string", b"list", b"LIST", b"hash", b"none"])]
        elif roll == 17:
            command = rnd.choice([[b"SCAN", b"x"], [b"SCAN", b"0", b"COUNT", b"0"],
                                  [b"SCAN", b"0", b"COUNT", b"abc"], [b"SCAN", b"0", b"MATCH"],
                                  [b"SCAN", b"0", b"BOGUS", b"1"], [b"SCAN", b"-"],
                                  [b"SCAN", b"1 "], [b"SCAN", b"0x1"]])
        elif roll == 18:
            command = [b"RANDOMKEY"]
        elif roll == 19:
            command = [b"DBSIZE"]
        elif roll == 20:
            command = [b"SELECT", rnd.choice([b"0", b"1", b"-1", b"x", b"16", b"", b"2147483648"])]
        elif roll == 21:
            if rnd.random() < 0.1:
                command = [rnd.choice([b"FLUSHDB", b"FLUSHALL"])] + rnd.choice(
                    [[], [b"ASYNC"], [b"sync"], [b"bad"], [b"ASYNC", b"SYNC"]])
            else:
                command = [b"DBSIZE"]
        elif roll < 26:
            command = self.expire(key)
        elif roll < 29:
            command = [rnd.choice(difftools.TTL_COMMANDS), key]
        elif roll == 29:
            command = [b"PERSIST", key]
        elif roll == 30:
            command = [b"GET", key]
        else:
            name = rnd.choice([b"TYPE", b"RENAME", b"EXPIRE", b"PERSIST", b"KEYS", b"DBSIZE",
                               b"SELECT", b"TTL", b"EXPIRETIME", b"SCAN", b"RANDOMKEY"])
            command = [name] + [key] * rnd.choice([0, 4])     # wrong arity
        command[0] = difftools.mixed_case(rnd, command[0])
        return command

    def wire(self, command):
        return difftools.wire(self.rnd, command)


def unordered(reply):
    """A KEYS or SCAN reply with its keys as a sorted list (errors unchanged)."""
    value = kvtest.decode(reply)
    if isinstance(value, list) and len(value) == 2 and isinstance(value[1], list):
        return [value[0], sorted(value[1])]
    return sorted(value) if isinstance(value, list) else value


def replies_equal(command, want, got):
    name = command[0].upper()
    if name in (b"KEYS", b"SCAN"):
        return unordered(want) == unordered(got)
    if name == b"RANDOMKEY" and want != got:
        # Either both have no key, or both name a key (which one is random).
        return want.startswith(b"$") and got.startswith(b"$") and b"$-1" not in (want[:3], got[:3])
    return difftools.replies_equal(command, want, got)


def main():
    probes = ([[b"TYPE", key] for key in difftools.KEYS] + [[b"PTTL", key] for key in difftools.KEYS]
              + [[b"KEYS", b"*"], [b"DBSIZE"]])
    kvtest.differential("test_diff_keys", Generator, COMMAND_COUNT, KV_OPTIONS, probes,
                        replies_equal)


if __name__ == "__main__":
    main()
