"""Scripting answers seeded random commands with exactly Redis 7.0's bytes.

At least 6,000 commands go to kv and to a real redis-server: EVAL, EVALSHA (cached, unknown,
upper-case and wrong-length SHA-1s), EVAL_RO and EVALSHA_RO, SCRIPT LOAD|EXISTS|FLUSH|KILL and
bad subcommands, over a catalogue of scripts that call strings, lists and hashes with
redis.call and redis.pcall, return every type (numbers truncated, nested arrays cut at the
first nil, status and error tables, booleans), raise errors (error(), error tables, a failing
redis.call, unknown commands, wrong arities, commands not allowed from scripts, writes from
read-only scripts), use KEYS and ARGV (numbers passed as "%.17g"), write and read undefined
globals, and fail to compile; numkeys is sometimes negative, too large or not a number. Plain
GET/TYPE/LRANGE/HGETALL/DEL between them compare the keyspace the scripts left. Every reply is
compared byte for byte (so the error texts with their script SHA-1 and line too).
"""
import hashlib
import random

import difftools
import kvtest

COMMAND_COUNT = 6000
KV_OPTIONS = ["--connections-max", "16", "--hugepages", "off", "--maxmemory", "32mb",
              "--lua-heap-bytes", "4mb"]
KEYS = [b"k0", b"k1", b"k2", b"s", b"l", b"h"]
ARGS = [b"1", b"10", b"-3", b"abc", b"", b"1.5", b"x y", b"0", b"9007199254740993",
        b"FINE", b"MY error", b"-ERR dashed", b"nospace"]

SCRIPTS = [
    b"return redis.call('SET', KEYS[1], ARGV[1])",
    b"return redis.call('GET', KEYS[1])",
    b"return redis.call('INCRBY', KEYS[1], ARGV[1])",
    b"return redis.pcall('INCRBY', KEYS[1], ARGV[1])",
    b"return redis.call('LPUSH', KEYS[1], ARGV[1], ARGV[2])",
    b"return redis.call('RPUSH', KEYS[1], ARGV[1])",
    b"return redis.call('LRANGE', KEYS[1], 0, -1)",
    b"return redis.call('LPOP', KEYS[1])",
    b"return redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])",
    b"return redis.call('HGETALL', KEYS[1])",
    b"return redis.pcall('HGET', KEYS[1], ARGV[1])",
    b"local t = redis.call('HGETALL', KEYS[1]) local n = 0 "
    b"for i = 2, #t, 2 do n = n + #t[i] end return n",
    b"return {1, 'two', 3.7, -2.5, true, false, {ok='fine'}, {err='bad thing'}, "
    b"{1, {2, {3, {}}}}, nil, 'after nil'}",
    b"return redis.status_reply(ARGV[1])",
    b"return redis.error_reply(ARGV[1])",
    b"return redis.status_reply('two\\r\\nlines')",
    b"x = 5",
    b"return undefined_global",
    b"return redis.call('NOSUCHCMD', KEYS[1])",
    b"return redis.pcall('NOSUCHCMD')",
    b"return redis.call('GET')",
    b"error('custom failure')",
    b"error({err='TABLEERR custom'})",
    b"\nlocal a = 1\nerror('on line three')",
    b"return redis.call('TYPE', KEYS[1])",
    b"return redis.call('EXISTS', KEYS[1], KEYS[2])",
    b"local v = redis.call('GET', KEYS[1]) if v then return #v else return 'none' end",
    b"return {redis.pcall('LPOP', KEYS[1]), 'tail'}",
    b"return redis.call('DEL', unpack(KEYS))",
    b"return ARGV",
    b"return KEYS",
    b"return #KEYS + #ARGV",
    b"return redis.sha1hex(ARGV[1])",
    b"return tonumber(ARGV[1])",
    b"return redis.call('multi')",
    b"return redis.call('BLPOP', KEYS[1], 0)",
    b"local ok, err = pcall(function() return redis.call('INCR', KEYS[1]) end) "
    b"return {tostring(ok), err}",
    b"return redis.call('SET', KEYS[1], 3.14159)",
    b"return redis.call('ECHO', 1e20)",
    b"return redis.call('ECHO', {})",
    b"return redis.call()",
    b"return (",
    b"local = 1",
    b"return string.format('%d-%s', 5, tostring(ARGV[1]))",
    b"return table.concat({'a', 'b', 'c'}, ',')",
    b"return math.floor(10.7) + 0.5",
    b"redis.setresp(2) return 1",
    b"redis.set_repl(redis.REPL_ALL) return redis.REPL_AOF",
    b"redis.set_repl(7)",
    b"return redis.log()",
    b"local t = {} for i = 1, 100 do t[i] = i * 3 end return t",
    b"string.rep = nil",
    b"return print",
    b"return os",
    b"return 9007199254740993",
    b"return -0.9",
    b"return {double=1.5}",
    b"redis.call('SET', KEYS[1], 'a') redis.call('APPEND', KEYS[1], ARGV[1]) "
    b"return redis.call('STRLEN', KEYS[1])",
    b"return redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])",
    b"return redis.call('PUBLISH', 'chan', 'msg')",
    b"#!lua flags=no-writes\nreturn redis.call('GET', KEYS[1])",
    b"#!lua\nreturn redis.call('SET', KEYS[1], 'shebang')",
    b"#!lua flags=bogus\nreturn 1",
    b"#!python\nreturn 1",
]
SHAS = [hashlib.sha1(body).hexdigest().encode() for body in SCRIPTS]


class Generator:
    def __init__(self, rnd):
        self.rnd = rnd

    def tail(self):
        """numkeys, keys and arguments (numkeys sometimes wrong)."""
        rnd = self.rnd
        key_count = rnd.choice([0, 1, 1, 1, 2, 2])
        keys = [rnd.choice(KEYS) for _ in range(key_count)]
        args = [rnd.choice(ARGS) for _ in range(rnd.choice([0, 1, 2, 2, 3]))]
        numkeys = b"%d" % key_count
        roll = rnd.random()
        if roll < 0.03:
            numkeys = b"-1"
        elif roll < 0.06:
            numkeys = b"%d" % (key_count + len(args) + 1)
        elif roll < 0.08:
            numkeys = rnd.choice([b"abc", b"", b"1.0"])
        return [numkeys] + keys + args

    def command(self):
        rnd = self.rnd
        index = rnd.randrange(len(SCRIPTS))
        roll = rnd.randrange(100)
        if roll < 45:
            command = [b"EVAL", SCRIPTS[index]] + self.tail()
        elif roll < 60:
            sha = SHAS[index]
            if rnd.random() < 0.1:
                sha = sha.upper()
            elif rnd.random() < 0.05:
                sha = sha[:39]
            command = [b"EVALSHA", sha] + self.tail()
        elif roll < 64:
            command = [b"EVAL_RO", SCRIPTS[index]] + self.tail()
        elif roll < 67:
            command = [b"EVALSHA_RO", SHAS[index]] + self.tail()
        elif roll < 74:
            command = [b"SCRIPT", b"LOAD", SCRIPTS[index]]
        elif roll < 78:
            shas = [rnd.choice(SHAS) for _ in range(rnd.randint(1, 3))]
            command = [b"SCRIPT", b"EXISTS"] + [s.upper() if rnd.random() < 0.2 else s
                                                for s in shas]
        elif roll == 78:
            command = [b"SCRIPT", b"FLUSH"] + rnd.choice([[], [b"SYNC"], [b"ASYNC"], [b"BAD"]])
        elif roll == 79:
            command = rnd.choice([[b"SCRIPT", b"KILL"], [b"SCRIPT", b"BOGUS"], [b"SCRIPT"],
                                  [b"EVAL"], [b"EVALSHA", b"x"], [b"SCRIPT", b"EXISTS"],
                                  [b"SCRIPT", b"LOAD"]])
        elif roll < 86:
            command = [b"SET", rnd.choice(KEYS), rnd.choice(ARGS)]
        elif roll < 90:
            command = [b"DEL", rnd.choice(KEYS)]
        else:
            key = rnd.choice(KEYS)
            command = rnd.choice([[b"GET", key], [b"TYPE", key], [b"LRANGE", key, b"0", b"-1"],
                                  [b"HGETALL", key]])
        command[0] = difftools.mixed_case(rnd, command[0])
        return command

    def wire(self, command):
        return kvtest.encode(*command)


def main():
    kvtest.differential("test_diff_scripts", Generator, COMMAND_COUNT, KV_OPTIONS,
                        final_probes=[[b"SCRIPT", b"EXISTS"] + SHAS[:10]] +
                        [[b"GET", key] for key in KEYS])


if __name__ == "__main__":
    main()
