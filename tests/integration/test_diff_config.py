"""CONFIG GET, SET and REWRITE know every Redis 7.0 parameter and answer as redis-server 7.0.

1. CONFIG GET * names the same parameters on both (kv's own options aside, KV_ONLY), with
   the same values except HOST_DEPENDENT ones (compared by name only).
2. CONFIG GET with names, aliases, patterns, several at once and repeats (any case): the
   same name/value pairs as Redis (Redis's order is its dict's, random per process, so the
   pairs are compared as a map, and their count too).
3. Seeded random CONFIG SET of one to three pairs of Redis's parameters (kv's own aside)
   with good and bad values, unknown names, repeats and aliases: byte-identical replies, and
   after each the parameters read back identically (all or nothing: a failed multi-set
   changes nothing on either).
4. CONFIG SET save with odd spacing, signs, blanks and out-of-range numbers (SAVE_VALUES):
   the same replies and CONFIG GET save; save lines in a config file and --save on the
   command line after it: the points redis-server has.
5. CONFIG REWRITE without a config file: Redis's error. With one (kv only: Redis writes lines
   kv has no use for): comments kept, a changed value updated in place, an alias line under
   its primary's name, a repeated parameter's later line dropped, new values appended after Redis's
   signature, and a kv restarted from the rewritten file answers the same values.
"""
import os
import random
import sys
import tempfile

import kvtest

COMMAND_COUNT = 2000
KV_OPTIONS = ["--hugepages", "off", "--protected-mode", "no"]
# kv's options that Redis does not have (CONFIG GET shows them too).
KV_ONLY = {b"connections_max", b"key_count", b"key_size_max", b"val_size_max",
           b"list_length_max", b"hugepages", b"mlock", b"expire_slice", b"watch_keys_max",
           b"send_stall_seconds", b"busy_poll_us", b"cpu", b"blocking_keys_max",
           b"pubsub_channels_max"}
# Values that legitimately differ: the port each listens on, kv's budget (Redis: 0), the
# directory (kvtest gives each kv a temp --dir).
HOST_DEPENDENT = {b"port", b"maxmemory", b"dir"}
# Parameters kv answers from its own options (its CONFIG SET words and rules are kv's).
KV_ENTRIES = {b"port", b"bind", b"maxclients", b"save", b"appendonly", b"databases",
              b"maxmemory", b"maxmemory-policy", b"requirepass", b"hz",
              b"slowlog-log-slower-than", b"slowlog-max-len", b"timeout", b"protected-mode",
              b"maxmemory-samples", b"maxmemory-eviction-tenacity", b"lfu-log-factor",
              b"lfu-decay-time", b"proto-max-bulk-len", b"client-query-buffer-limit",
              b"client-output-buffer-limit", b"maxmemory-clients"} | KV_ONLY
# Redis's parameters whose setting Redis checks against the host or runs a validator kv
# leaves out (they are stored as given): not set at random.
NOT_SET = (b"tls-", b"oom-score-adj", b"proc-title-template", b"cluster-announce-hostname",
           b"activedefrag", b"dir", b"dbfilename")
VALUES = [b"yes", b"no", b"YES", b"0", b"1", b"-1", b"100", b"abc", b"", b"1kb", b"2mb",
          b"10%", b"101%", b"0777", b"KEA", b"Ex", b"gKm$", b"save now", b"nosave", b"50 99.9",
          b"9223372036854775807", b"9223372036854775808", b"-5", b"01", b"everysec",
          b"warning", b"allchannels", b"a b", b"1 2 3", b"1.5", b"+1", b"65536", b"2147483648",
          b"resetchannels", b"disabled", b"swapdb", b"panic", b"ip", b"hostname"]
PATTERNS = [[b"*"], [b"hz", b"HZ", b"h*"], [b"hash-max-ziplist-entries",
            b"HASH-MAX-LISTPACK-ENTRIES"], [b"*ziplist*", b"*listpack*"], [b"watchdog-period"],
            [b"nosuch"], [b"*max*", b"maxmemory"], [b"slaveof", b"replicaof"],
            [b"lua-time-limit", b"busy-reply-threshold", b"LUA-*"], [b"tls-*"],
            [b"?z"], [b"[a-c]*"], [b"list-max-ziplist-size", b"list-*"],
            [b"notify-keyspace-events", b"*events*"], [b"rdb-key-save-delay", b"*delay*"]]


def pairs(reply):
    value = kvtest.decode(reply)
    if not isinstance(value, list):
        return reply
    return (len(value), dict(zip(value[::2], value[1::2])))


def get_all(check, kv, redis):
    kv_all, redis_all = pairs(kv.call(b"CONFIG", b"GET", b"*"))[1], pairs(
        redis.call(b"CONFIG", b"GET", b"*"))[1]
    check.equal("CONFIG GET *: the same names (kv's own options aside)",
                sorted(redis_all), sorted(set(kv_all) - KV_ONLY))
    for name in sorted(redis_all):
        if name in HOST_DEPENDENT or name not in kv_all:
            continue
        check.equal(f"CONFIG GET * value of {name.decode()}", redis_all[name], kv_all[name])
    # Sorted: Redis lists them in its dict's order, which differs per process, and a seed
    # must replay the same commands.
    return sorted(name for name in redis_all if name not in KV_ENTRIES
                  and not name.startswith(NOT_SET))


def random_set(rnd, names):
    command = [b"CONFIG", b"SET"]
    for _ in range(rnd.choice((1, 1, 1, 2, 3))):
        roll = rnd.random()
        name = (rnd.choice((b"nosuch", b"daemonize", b"logfile")) if roll < 0.05
                else command[-2] if roll < 0.1 and len(command) > 2 else rnd.choice(names))
        if rnd.random() < 0.2:
            name = name.upper()
        command += [name, rnd.choice(VALUES)]
    return command


def set_and_compare(check, rnd, kv, redis, names, seed):
    for count in range(COMMAND_COUNT):
        command = random_set(rnd, names)
        want, got = redis.call(*command), kv.call(*command)
        if not check.equal(f"#{count} {command!r} (seed {seed})", want, got):
            return
        readback = [b"CONFIG", b"GET"] + command[2::2]
        if not check.equal(f"#{count} then {readback!r} (seed {seed})",
                           pairs(redis.call(*readback)), pairs(kv.call(*readback))):
            return


# CONFIG SET save as Redis 7.0 splits it: at every single space (sdssplitlen), so doubled,
# leading and trailing spaces make empty words, which strtoll reads as 0 (valid changes,
# invalid seconds); strtoll's blanks, signs, leading zeros and saturation; changes cut to an
# int as Redis's "%d" shows them.
SAVE_VALUES = [b"3600  1 ", b"3600 1", b" 3600 1", b"3600 1 ", b"3600 1  ", b"  ", b" ", b"",
               b"+5 -0", b"\t5 1", b"5\t1", b"5 1\t", b"99999999999999999999 1",
               b"10 4294967297", b"10 2147483648", b"10 99999999999999999999", b"0 1", b"1 -1",
               b"-99999999999999999999 1", b"0" * 40 + b"3600 1", b"1 2 3 4 5 6 7 8",
               b"abc 1", b"1x 1", b"1  2  3 ", b"1 ", b"3600 1 300 100 60 10000", b""]


def save_values(check, kv, redis):
    for value in SAVE_VALUES:
        command = [b"CONFIG", b"SET", b"save", value]
        check.equal(f"{command!r}", redis.call(*command), kv.call(*command))
        check.equal(f"CONFIG GET save after {value!r}", redis.call(b"CONFIG", b"GET", b"save"),
                    kv.call(b"CONFIG", b"GET", b"save"))


def save_lines(check, directory):
    """save in a config file and on the command line, as redis-server reads them there: a
    single argument split on runs of blanks (sdssplitargs), the first line replacing the
    points and each later one adding its pairs, `save ""` emptying them."""
    files = {"appended": 'save 900 1\nsave "300  10 "\nsave 60 10000\n',
             "emptied": 'save 900 1\nsave ""\nsave "  60\t10000  "\n',
             "blank": 'save 900 1\nsave "   "\n'}
    for name, text in files.items():
        path = os.path.join(directory, f"{name}.conf")
        with open(path, "w") as f:
            f.write(text)
        got = []
        for server in ("redis", "kv"):
            port = kvtest.free_port()
            work = tempfile.mkdtemp(dir=directory)
            common = ["--port", str(port), "--bind", "127.0.0.1", "--dir", work,
                      "--protected-mode", "no", "--save", "7  7", "--save", "8 8 "]
            argv = (["redis-server", path, "--daemonize", "no"] + common if server == "redis"
                    else [kvtest.KV_BIN, "--config", path, "--hugepages", "off"] + common)
            with kvtest.Server(server, argv, port).wait_ready() as running:
                with running.connect() as client:
                    got.append(client.call(b"CONFIG", b"GET", b"save"))
        check.equal(f"save lines {text!r} then --save '7  7' --save '8 8 '", got[0], got[1])


def rewrite(check, directory):
    redis_error = b"-ERR The server is running without a config file\r\n"
    path = os.path.join(directory, "kv.conf")
    with open(path, "w") as f:
        f.write("# my settings\nhash-max-ziplist-entries 100\n\n   # indented note\n"
                "hz 12\nlist-compress-depth 1\nlist-compress-depth 2\n")
    kv = kvtest.start_kv("--config", path, *KV_OPTIONS)
    try:
        with kv.connect() as client:
            check.equal("config file: alias line read",
                        [b"hash-max-listpack-entries", b"100"],
                        kvtest.decode(client.call(b"CONFIG", b"GET",
                                                  b"hash-max-listpack-entries")))
            check.equal("CONFIG SET before the rewrite", b"+OK\r\n",
                        client.call(b"CONFIG", b"SET", b"hz", b"15", b"loglevel", b"warning",
                                    b"zset-max-ziplist-value", b"2kb", b"masteruser", b'a"b'))
            check.equal("CONFIG REWRITE", b"+OK\r\n", client.call(b"CONFIG", b"REWRITE"))
            check.equal("CONFIG REWRITE again (stable)", b"+OK\r\n",
                        client.call(b"CONFIG", b"REWRITE"))
            with open(path) as f:
                text = f.read()
            lines = text.split("\n")
            check.equal("rewritten head: comments kept, values updated, repeats dropped",
                        ["# my settings", "hash-max-listpack-entries 100", "",
                         "# indented note", "hz 15", "list-compress-depth 2"], lines[:6])
            check.true("the signature once, before the appended values",
                       text.count("# Generated by CONFIG REWRITE") == 1, text)
            for line in ("loglevel warning", "zset-max-listpack-value 2kb",
                         'masteruser "a\\"b"'):
                check.true(f"appended {line!r}", line in lines[lines.index(
                    "# Generated by CONFIG REWRITE"):], text)
    finally:
        kv.stop()
    kv = kvtest.start_kv("--config", path, *KV_OPTIONS)
    try:
        with kv.connect() as client:
            got = pairs(client.call(b"CONFIG", b"GET", b"hz", b"loglevel",
                                    b"zset-max-listpack-value", b"masteruser",
                                    b"list-compress-depth"))
            check.equal("restarted from the rewritten file: the same values",
                        (10, {b"hz": b"15", b"loglevel": b"warning",
                              b"zset-max-listpack-value": b"2048", b"masteruser": b'a"b',
                              b"list-compress-depth": b"2"}), got)
    finally:
        kv.stop()
    return redis_error


def main():
    check = kvtest.Checker("test_diff_config", verbose=False)
    seed = int(os.environ.get("SEED", random.randrange(1 << 30)))
    print(f"seed {seed}")
    rnd = random.Random(seed)
    redis = kvtest.start_redis()
    kv = kvtest.start_kv(*KV_OPTIONS)
    try:
        with kv.connect() as kv_client, redis.connect() as redis_client:
            names = get_all(check, kv_client, redis_client)
            check.true("Redis's settable parameters found", len(names) > 100, str(len(names)))
            for args in PATTERNS:
                command = [b"CONFIG", b"GET"] + args
                want, got = pairs(redis_client.call(*command)), pairs(kv_client.call(*command))
                # kv's own options aside; host-dependent values by name only.
                got = {name: value for name, value in got[1].items() if name not in KV_ONLY}
                want = want[1]
                for name in HOST_DEPENDENT & set(want) & set(got):
                    want[name] = got[name] = b"(host)"
                check.equal(f"{command!r}", want, got)
            for command in ([b"CONFIG", b"HELP"], [b"CONFIG", b"help", b"x"],
                            [b"CONFIG", b"NOSUCH"], [b"CONFIG"]):
                check.equal(f"{command!r}", redis_client.call(*command),
                            kv_client.call(*command))
            # All or nothing: a good pair and a bad one change nothing.
            for command in ([b"CONFIG", b"SET", b"list-compress-depth", b"3",
                             b"hash-max-ziplist-entries", b"abc"],
                            [b"CONFIG", b"SET", b"zset-max-ziplist-entries", b"9", b"nosuch",
                             b"1"],
                            [b"CONFIG", b"SET", b"loglevel", b"debug", b"daemonize", b"no"]):
                check.equal(f"{command!r}", redis_client.call(*command),
                            kv_client.call(*command))
                readback = [b"CONFIG", b"GET"] + command[2::2]
                check.equal(f"unchanged after {command!r}", pairs(redis_client.call(*readback)),
                            pairs(kv_client.call(*readback)))
            # A 64-bit value survives being applied next to another option (kv once copied
            # 4 of its 8 bytes).
            for command in ([b"CONFIG", b"SET", b"busy-reply-threshold", b"9223372036854775807",
                             b"hz", b"11"],
                            [b"CONFIG", b"SET", b"lua-time-limit", b"4294967296"],
                            [b"CONFIG", b"SET", b"busy-reply-threshold", b"5000"]):
                check.equal(f"{command!r}", redis_client.call(*command),
                            kv_client.call(*command))
                readback = [b"CONFIG", b"GET", b"busy-reply-threshold", b"lua-time-limit"]
                check.equal(f"after {command!r}", pairs(redis_client.call(*readback)),
                            pairs(kv_client.call(*readback)))
            save_values(check, kv_client, redis_client)
            set_and_compare(check, rnd, kv_client, redis_client, names, seed)
            check.equal("CONFIG REWRITE without a config file",
                        redis_client.call(b"CONFIG", b"REWRITE"),
                        kv_client.call(b"CONFIG", b"REWRITE"))
    finally:
        kv.stop()
        redis.stop()
    with tempfile.TemporaryDirectory() as directory:
        rewrite(check, directory)
    with tempfile.TemporaryDirectory() as directory:
        save_lines(check, directory)
    check.finish()


if __name__ == "__main__":
    main()
