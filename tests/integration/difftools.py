"""Pieces the per-family differential tests share (a module, not a test): the key and value
pools, random numbers with Redis's edge cases, mixed-case names, inline encoding, and a
reply comparison that allows a TTL to differ by the time between the two servers' answers.
"""
import re

import kvtest

KEYS = [b"k0", b"k1", b"s", b"l", b"", b"\x00bin\xff", b"a b\r\nc", b"k7"]
VALUES = [b"", b"v", b"hello world", b"\x00", b"\x00\r\n\xff\xfe", b"\r\n", b"12", b"-3",
          b"0", b"1.5", b"\xc3\x28", b"x" * 100, b"9223372036854775807", b"-9223372036854775808",
          b"3.0e3", b" 1", b"1e400", b"inf"]
NUMBERS = [b"0", b"1", b"-1", b"2", b"-2", b"3", b"5", b"-5", b"10", b"100", b"-100", b"abc",
           b"", b"1.5", b"+1", b"01", b"-0", b" 1", b"1 ", b"0x10", b"9223372036854775807",
           b"-9223372036854775808", b"9223372036854775808", b"99999999999999999999"]
PLAIN_WORD = re.compile(rb"^[A-Za-z0-9_:.+-]+$")
TTL_COMMANDS = (b"TTL", b"PTTL", b"EXPIRETIME", b"PEXPIRETIME")
TTL_TOLERANCE_MS = 1500


def value(rnd, size_max=64):
    if rnd.random() < 0.7:
        return rnd.choice(VALUES)
    return bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, size_max)))


def number(rnd, low=-20, high=20):
    return rnd.choice(NUMBERS) if rnd.random() < 0.4 else b"%d" % rnd.randint(low, high)


def mixed_case(rnd, name):
    roll = rnd.random()
    if roll < 0.3:
        return name.lower()
    if roll < 0.4:
        return name.capitalize()
    return name


def wire(rnd, command):
    """Inline for a tenth of the plain-word commands, else multibulk."""
    if all(PLAIN_WORD.match(part) for part in command) and rnd.random() < 0.1:
        return b" ".join(command) + b"\r\n"
    return kvtest.encode(*command)


def replies_equal(command, want, got):
    """Identical, or for TTL-like commands integers within TTL_TOLERANCE_MS (s for TTL)."""
    if want == got:
        return True
    name = command[0].upper()
    if name not in TTL_COMMANDS or not want.startswith(b":") or not got.startswith(b":"):
        return False
    wanted, gotten = int(want[1:-2]), int(got[1:-2])
    if wanted < 0 or gotten < 0:
        return False
    tolerance = TTL_TOLERANCE_MS if name in (b"PTTL", b"PEXPIRETIME") else 2
    return abs(wanted - gotten) <= tolerance
