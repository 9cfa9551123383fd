"""Functions answer exactly Redis 7.0's bytes: FUNCTION LOAD|LIST|DELETE|FLUSH|DUMP|RESTORE|
STATS|KILL|HELP, FCALL and FCALL_RO, against a real redis-server.

1. A fixed catalogue, each command sent to both servers and the replies compared byte for byte:
   libraries that load (positional and table forms of redis.register_function, descriptions,
   every flag in any case, numbers as names, "#!LUA", quoted names, REPLACE) and every error
   of loading (metadata, names, engine, compile errors, errors raised by the top level,
   globals at load time, misuse of register_function, duplicates, collisions, the old library
   kept when a REPLACE fails); FUNCTION LIST with and without WITHCODE and LIBRARYNAME (on one
   library at a time, as Redis's order of several is its hash order); FCALL and FCALL_RO with
   writes, reads, no-writes functions, errors with their line numbers, names in any case,
   numkeys errors; FUNCTION DELETE, FLUSH modes, STATS, KILL, HELP and bad subcommands.
2. DUMP of one library is byte-identical (Redis's LZF compression included); each server's
   dump restores into the other (APPEND, REPLACE, FLUSH, collisions, a corrupt payload), and
   FUNCTION LIST WITHCODE then agrees; with several libraries the lists are compared sorted.
3. A seeded random run of FCALL/FCALL_RO over the loaded functions with random keys and
   arguments (the seed is printed; KV_SEED=<n> replays it), every reply compared.
"""
import random

import kvtest

KV_OPTIONS = ["--connections-max", "16", "--hugepages", "off", "--maxmemory", "32mb",
              "--lua-heap-bytes", "4mb"]
RANDOM_COMMANDS = 1500

MAIN = (b"#!lua name=mainlib\n"
        b"local function count(keys, args)\n"
        b"  return redis.call('INCRBY', keys[1], args[1] or 1)\n"
        b"end\n"
        b"redis.register_function('incr_by', count)\n"
        b"redis.register_function{function_name='peek', callback=function(keys, args)\n"
        b"  return redis.call('GET', keys[1]) end, flags={'no-writes'},\n"
        b"  description='reads a key'}\n"
        b"redis.register_function{function_name='Mixed_Case', callback=function(keys, args)\n"
        b"  return {#keys, #args, args[1], keys[1]} end, flags={'NO-WRITES', 'allow-oom',\n"
        b"  'Allow-Stale', 'no-cluster', 'allow-cross-slot-keys'}}\n"
        b"redis.register_function('fail', function(keys, args)\n"
        b"  error('boom ' .. tostring(args[1]))\n"
        b"end)\n"
        b"redis.register_function('fail_table', function(keys, args)\n"
        b"  return redis.error_reply('MYERR custom')\n"
        b"end)\n"
        b"redis.register_function('bad_call', function(keys, args)\n"
        b"  return redis.call('NOSUCH', keys[1])\n"
        b"end)\n"
        b"redis.register_function('types', function(keys, args)\n"
        b"  return {1, 'two', 3.9, true, false, {ok='fine'}, {1, {2}}, nil, 'gone'}\n"
        b"end)\n"
        b"redis.register_function('push', function(keys, args)\n"
        b"  return redis.call('RPUSH', keys[1], unpack(args))\n"
        b"end)\n"
        b"redis.register_function('range', function(keys, args)\n"
        b"  return redis.pcall('LRANGE', keys[1], 0, -1)\n"
        b"end)\n"
        b"redis.register_function('global_write', function(keys, args) x = 1 end)\n"
        b"redis.register_function('register_late', function(keys, args)\n"
        b"  redis.register_function('late', function() end) end)\n"
        b"redis.register_function('hash', function(keys, args)\n"
        b"  redis.call('HSET', keys[1], args[1], args[2])\n"
        b"  return redis.call('HGETALL', keys[1]) end)\n")
FUNCTIONS = [b"incr_by", b"peek", b"Mixed_Case", b"mixed_case", b"fail", b"fail_table",
             b"bad_call", b"types", b"push", b"range", b"global_write", b"register_late",
             b"hash", b"INCR_BY", b"nope"]


def lib(name, body):
    return b"#!lua name=" + name + b"\n" + body


F1 = b"redis.register_function('f1', function(keys, args) return 1 end)"

LOADS = [
    lib(b"lib1", F1),
    lib(b"lib1", F1),
    lib(b"lib2", F1),
    lib(b"lib3", b"redis.register_function('f3')"),
    lib(b"lib3", b"redis.register_function{function_name='f3'}"),
    lib(b"lib3", b"redis.register_function{callback=function() end}"),
    lib(b"lib3", b"redis.register_function{function_name='f3', callback=function() end, "
                 b"flags={'bad'}}"),
    lib(b"lib3", b"redis.register_function{function_name='f3', callback=function() end, "
                 b"flags='no-writes'}"),
    lib(b"lib3", b"redis.register_function{function_name='f3', callback=function() end, "
                 b"flags={1}}"),
    lib(b"lib3", b"redis.register_function{function_name='f3', callback=1}"),
    lib(b"lib3", b"redis.register_function{function_name={}, callback=function() end}"),
    lib(b"lib3", b"redis.register_function{function_name='f3', description=false, "
                 b"callback=function() end}"),
    lib(b"lib3", b"redis.register_function{function_name='f3', other=1, "
                 b"callback=function() end}"),
    lib(b"lib3", b"redis.register_function{[1]='f3', callback=function() end}"),
    lib(b"lib3", b"redis.register_function()"),
    lib(b"lib3", b"redis.register_function('a', function() end, 3)"),
    lib(b"lib3", b"redis.register_function({}, function() end)"),
    lib(b"lib3", b"redis.register_function('f3', 'nofunc')"),
    lib(b"lib3", b"redis.register_function('bad-name', function() end)"),
    lib(b"lib3", b"redis.register_function('', function() end)"),
    lib(b"lib3", b"redis.register_function('f3', function() end)\n"
                 b"redis.register_function('f3', function() end)"),
    lib(b"lib3", b"redis.register_function(33, function() return 33 end)"),
    lib(b"lib4", b"string.format('x')"),
    lib(b"lib4", b"foo()"),
    lib(b"lib4", b"x = 1"),
    lib(b"lib4", b"local x = \n"),
    lib(b"lib4", b"redis.call('ping')"),
    lib(b"lib4", b"redis.log(redis.LOG_NOTICE, 'loading') return 1"),
    lib(b"lib4", b"error('at load')"),
    lib(b"lib4", b"error({err='CODE at load'})"),
    lib(b"lib4", b"return redis.REDIS_VERSION"),
    lib(b"lib4 x=y", b"return 1"),
    lib(b"lib4 name=again", b"return 1"),
    lib(b"a-b", b"return 1"),
    lib(b"", b"return 1"),
    lib(b"lib4", b"return 1"),
    b"#!lua",
    b"#!lua\nreturn 1",
    b"#!py name=a\nreturn 1",
    b"#! lua name=a\nreturn 1",
    b"lua name=x\nreturn 1",
    b"",
    b"#!lua name=\"quoted\"\n" + F1.replace(b"f1", b"fq"),
    b"#!lua name=\"unbalanced\n" + F1,
    b"#!LUA name=upper\n" + F1.replace(b"f1", b"fu"),
    b"#!lua NAME=caps\n" + F1.replace(b"f1", b"fc"),
]


def catalogue():
    """The fixed commands, in order (the state each leaves is the next one's)."""
    commands = [[b"FUNCTION", b"FLUSH"]]
    commands += [[b"FUNCTION", b"LOAD", code] for code in LOADS]
    commands += [
        [b"FUNCTION", b"LIST", b"LIBRARYNAME", b"lib1"],
        [b"FUNCTION", b"LIST", b"LIBRARYNAME", b"LIB1", b"WITHCODE"],
        [b"FUNCTION", b"LIST", b"WITHCODE", b"LIBRARYNAME", b"lib?"],
        [b"FUNCTION", b"LIST", b"LIBRARYNAME"],
        [b"FUNCTION", b"LIST", b"BOGUS"],
        [b"FUNCTION", b"LIST", b"WITHCODE", b"WITHCODE"],
        [b"FUNCTION", b"LIST", b"LIBRARYNAME", b"nomatch*"],
        [b"FUNCTION", b"LOAD", b"REPLACE", lib(b"lib1", F1.replace(b"f1", b"f1b"))],
        [b"FUNCTION", b"LOAD", b"REPLACE", lib(b"lib1", F1.replace(b"f1", b"fq"))],
        [b"FUNCTION", b"LIST", b"LIBRARYNAME", b"lib1"],
        [b"FUNCTION", b"LOAD", b"BOGUS", lib(b"lib9", F1)],
        [b"FUNCTION", b"LOAD", b"REPLACE"],
        [b"FUNCTION", b"LOAD"],
        [b"FCALL", b"f1b", b"0"],
        [b"FCALL", b"F1B", b"0"],
        [b"FCALL", b"f1", b"0"],
        [b"FCALL", b"fq", b"0"],
        [b"FCALL", b"33", b"0"],
        [b"FCALL", b"f1b", b"x"],
        [b"FCALL", b"f1b", b"1"],
        [b"FCALL", b"f1b", b"-1"],
        [b"FCALL", b"nope", b"x"],
        [b"FCALL_RO", b"f1b", b"0"],
        [b"FCALL"],
        [b"FUNCTION", b"DELETE", b"lib1"],
        [b"FUNCTION", b"DELETE", b"lib1"],
        [b"FUNCTION", b"DELETE"],
        [b"FCALL", b"f1b", b"0"],
        [b"FUNCTION", b"STATS"],
        [b"FUNCTION", b"KILL"],
        [b"SCRIPT", b"KILL"],
        [b"FUNCTION", b"HELP"],
        [b"FUNCTION", b"BOGUS"],
        [b"FUNCTION"],
        [b"FUNCTION", b"STATS", b"x"],
        [b"FUNCTION", b"FLUSH", b"BAD"],
        [b"FUNCTION", b"FLUSH", b"SYNC", b"x"],
        [b"FUNCTION", b"FLUSH", b"ASYNC"],
        [b"FUNCTION", b"STATS"],
        [b"FUNCTION", b"LIST"],
        [b"FUNCTION", b"DUMP"],
        [b"FUNCTION", b"LOAD", MAIN],
        [b"FUNCTION", b"LIST", b"WITHCODE"],
        [b"FUNCTION", b"STATS"],
        [b"FUNCTION", b"DUMP"],
        [b"FUNCTION", b"RESTORE"],
        [b"FUNCTION", b"RESTORE", b"junk"],
        [b"FUNCTION", b"RESTORE", b"junk", b"BADPOLICY"],
        [b"FUNCTION", b"RESTORE", b"junk", b"FLUSH", b"x"],
        [b"FUNCTION", b"RESTORE", b"0123456789"],
        [b"FCALL", b"peek", b"1", b"k"],
        [b"FCALL", b"incr_by", b"1", b"k", b"5"],
        [b"FCALL_RO", b"incr_by", b"1", b"k", b"5"],
        [b"FCALL_RO", b"peek", b"1", b"k"],
        [b"FCALL", b"Mixed_Case", b"2", b"a", b"b", b"c"],
        [b"FCALL", b"fail", b"0", b"x"],
        [b"FCALL", b"fail_table", b"0"],
        [b"FCALL", b"bad_call", b"1", b"k"],
        [b"FCALL", b"types", b"0"],
        [b"FCALL", b"global_write", b"0"],
        [b"FCALL", b"register_late", b"0"],
        [b"FCALL", b"hash", b"1", b"h", b"f", b"v"],
        [b"EVAL", b"return redis.call('FCALL', 'peek', 1, 'k')", b"0"],
        [b"EVAL", b"return redis.call('FUNCTION', 'LIST')", b"0"],
        [b"MULTI"],
        [b"FCALL", b"incr_by", b"1", b"k"],
        [b"FUNCTION", b"STATS"],
        [b"EXEC"],
        [b"GET", b"k"],
    ]
    return commands


def normalized(value):
    """A decoded FUNCTION LIST with its libraries sorted by name and each library's functions
    by name: Redis lists both in the order of its hash tables, whose seed is random."""
    if not isinstance(value, list):
        return value
    libraries = []
    for entry in value:
        entry = list(entry)
        entry[5] = sorted(entry[5], key=lambda function: function[1])
        libraries.append(entry)
    return sorted(libraries, key=lambda entry: entry[1])


def compare(check, kv, redis, command, label=None):
    """Byte for byte; FUNCTION LIST in the same bytes once its order is set aside (equal
    lengths, equal sorted values)."""
    want, got = redis.call(*command), kv.call(*command)
    label = label or kvtest.shorten(command, 100)
    if [part.upper() for part in command[:2]] == [b"FUNCTION", b"LIST"] and want[:1] == b"*":
        check.equal(label + " (length)", len(want), len(got))
        check.equal(label + " (sorted)", normalized(kvtest.decode(want)),
                    normalized(kvtest.decode(got)))
    else:
        check.equal(label, want, got)
    return want, got


def library_list(client):
    """FUNCTION LIST WITHCODE decoded and normalized."""
    return normalized(client.value(b"FUNCTION", b"LIST", b"WITHCODE"))


def dump_restore(check, kv, redis):
    """Payloads move between the servers, with every policy and their errors."""
    compare(check, kv, redis, [b"FUNCTION", b"FLUSH"])
    compare(check, kv, redis, [b"FUNCTION", b"LOAD", MAIN])
    kv_dump = kv.value(b"FUNCTION", b"DUMP")
    redis_dump = redis.value(b"FUNCTION", b"DUMP")
    check.equal("one library: DUMP byte-identical", redis_dump, kv_dump)
    for name, source, target in (("kv -> redis", kv_dump, redis), ("redis -> kv", redis_dump, kv)):
        check.equal(f"{name}: RESTORE onto the same library", ("error", "ERR Library mainlib "
                    "already exists"), target.value(b"FUNCTION", b"RESTORE", source))
        check.equal(f"{name}: RESTORE REPLACE", "OK",
                    target.value(b"FUNCTION", b"RESTORE", source, b"REPLACE"))
        check.equal(f"{name}: RESTORE FLUSH", "OK",
                    target.value(b"FUNCTION", b"RESTORE", source, b"FLUSH"))
    check.equal("after the cross restores, the libraries agree", library_list(redis),
                library_list(kv))
    # A second library: the payloads hold both (in each server's order).
    second = lib(b"second", b"redis.register_function('two', function() return 2 end)\n"
                            b"redis.register_function('incr_by', function() return 0 end)")
    compare(check, kv, redis, [b"FUNCTION", b"LOAD", second])
    compare(check, kv, redis, [b"FUNCTION", b"LOAD", second.replace(b"'incr_by'", b"'by'")])
    kv_dump = kv.value(b"FUNCTION", b"DUMP")
    redis_dump = redis.value(b"FUNCTION", b"DUMP")
    for name, source, target in (("kv -> redis", kv_dump, redis), ("redis -> kv", redis_dump, kv)):
        check.equal(f"{name}: two libraries restored with FLUSH", "OK",
                    target.value(b"FUNCTION", b"RESTORE", source, b"FLUSH"))
    check.equal("two libraries agree", library_list(redis), library_list(kv))
    compare(check, kv, redis, [b"FCALL", b"two", b"0"])
    compare(check, kv, redis, [b"FUNCTION", b"DELETE", b"mainlib"])
    # APPEND with a function of the same name in another library: Redis's collision error.
    collide = kv.value(b"FUNCTION", b"DUMP")
    compare(check, kv, redis, [b"FUNCTION", b"FLUSH"])
    compare(check, kv, redis, [b"FUNCTION", b"LOAD", lib(b"other", F1.replace(b"f1", b"two"))])
    compare(check, kv, redis, [b"FUNCTION", b"RESTORE", collide])
    compare(check, kv, redis, [b"FUNCTION", b"RESTORE", collide, b"REPLACE"])
    compare(check, kv, redis, [b"FUNCTION", b"LIST"])
    compare(check, kv, redis, [b"FUNCTION", b"RESTORE", collide[:-1] + bytes([collide[-1] ^ 1])])
    compare(check, kv, redis, [b"FUNCTION", b"RESTORE", collide[:-10] + b"\x0b\x00" +
                               collide[-8:]])
    compare(check, kv, redis, [b"FUNCTION", b"RESTORE", collide, b"FLUSH"])
    compare(check, kv, redis, [b"FUNCTION", b"LIST"])
    compare(check, kv, redis, [b"FUNCTION", b"STATS"])


def random_calls(check, kv, redis, seed):
    rnd = random.Random(seed)
    compare(check, kv, redis, [b"FUNCTION", b"FLUSH"])
    compare(check, kv, redis, [b"FUNCTION", b"LOAD", MAIN])
    keys = [b"k", b"l", b"h", b"s"]
    args = [b"1", b"-3", b"abc", b"", b"2.5", b"x y"]
    mismatches = 0
    for _ in range(RANDOM_COMMANDS):
        name = rnd.choice(FUNCTIONS)
        key_list = [rnd.choice(keys) for _ in range(rnd.choice([0, 1, 1, 2]))]
        arg_list = [rnd.choice(args) for _ in range(rnd.choice([0, 1, 2, 3]))]
        numkeys = b"%d" % len(key_list)
        if rnd.random() < 0.05:
            numkeys = rnd.choice([b"-1", b"x", b"%d" % (len(key_list) + len(arg_list) + 1)])
        form = b"FCALL_RO" if rnd.random() < 0.2 else b"FCALL"
        command = [form, name, numkeys] + key_list + arg_list
        if rnd.random() < 0.1:
            command = [rnd.choice([b"DEL", b"GET", b"TYPE"]), rnd.choice(keys)]
        want, got = redis.call(*command), kv.call(*command)
        if want != got:
            mismatches += 1
            check.equal(f"seed {seed}: {kvtest.shorten(command, 100)}", want, got)
    check.true(f"{RANDOM_COMMANDS} random calls answered alike", mismatches == 0,
               f"seed {seed}")


def main():
    seed = int(__import__("os").environ.get("KV_SEED") or random.randrange(1 << 32))
    print(f"seed {seed} (KV_SEED={seed} replays this run)")
    check = kvtest.Checker("test_diff_functions", verbose=False)
    with kvtest.start_kv(*KV_OPTIONS) as kv_server, kvtest.start_redis() as redis_server:
        with kv_server.connect() as kv, redis_server.connect() as redis:
            for command in catalogue():
                compare(check, kv, redis, command)
            dump_restore(check, kv, redis)
            random_calls(check, kv, redis, seed)
    check.finish()


if __name__ == "__main__":
    main()
