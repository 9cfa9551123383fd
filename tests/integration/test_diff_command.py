#!/usr/bin/env python3
"""COMMAND against redis-server 7.0: INFO and DOCS of every command kv has (RESP2 and RESP3),
COUNT and LIST with its filters, GETKEYS and GETKEYSANDFLAGS over seeded argument lists of
every keyed command, and the subcommands' errors.

Redis lists subcommands (and all commands) in its dict's order, which differs from process
to process; the comparison sorts them, and compares everything else as it is.
"""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvtest  # noqa: E402

KV_OPTIONS = ("--hugepages", "off", "--maxmemory", "64mb")
GETKEYS_ROUNDS = 40
WORDS = [b"k1", b"k2", b"0", b"1", b"2", b"3", b"-1", b"abc", b"STORE", b"store", b"GET", b"get",
         b"BY", b"LIMIT", b"STREAMS", b"streams", b"COUNT", b"BLOCK", b"GROUP", b"NOACK", b"SET",
         b"INCRBY", b"OVERFLOW", b"WRAP", b"u8", b"#1", b"WEIGHTS", b"KEYS", b"EX", b"10",
         b"STOREDIST", b"LEFT", b"RIGHT", b"MIN", b"MAX", b"$", b">", b"*", b"FIELDS"]


def sorted_subcommands(value, docs):
    """The entry with its subcommands in name order (INFO: field 10, DOCS: 'subcommands')."""
    if docs:
        kind, items = value
        items = list(items)
        for at in range(0, len(items), 2):
            if items[at] == b"subcommands":
                tagged = isinstance(items[at + 1], tuple)
                subs = items[at + 1][1] if tagged else items[at + 1]
                pairs = sorted(zip(subs[::2], subs[1::2]))
                flat = [part for pair in pairs for part in pair]
                items[at + 1] = ("map", flat) if tagged else flat
        return (kind, items)
    if not isinstance(value, list) or len(value) != 10:
        return value
    subs = value[9]
    if isinstance(subs, tuple):
        subs = (subs[0], sorted(subs[1], key=lambda entry: entry[0]))
    else:
        subs = sorted(subs, key=lambda entry: entry[0])
    return value[:9] + [subs]


def docs_pairs(reply):
    value = kvtest.decode(reply)
    items = value[1] if isinstance(value, tuple) else value
    return {items[at]: sorted_subcommands(items[at + 1] if isinstance(items[at + 1], tuple)
                                          else ("map", items[at + 1]), True)
            for at in range(0, len(items), 2)}


def compare_info_docs(check, kv, redis, names, protocol):
    for name in names:
        got = kvtest.decode(kv.call(b"COMMAND", b"INFO", name))
        want = kvtest.decode(redis.call(b"COMMAND", b"INFO", name))
        check.equal(f"RESP{protocol} COMMAND INFO {name.decode()}",
                    [sorted_subcommands(entry, False) for entry in want],
                    [sorted_subcommands(entry, False) for entry in got])
        check.equal(f"RESP{protocol} COMMAND DOCS {name.decode()}",
                    docs_pairs(redis.call(b"COMMAND", b"DOCS", name)),
                    docs_pairs(kv.call(b"COMMAND", b"DOCS", name)))
    # Several at once, an unknown one among them, and a subcommand by its full name.
    for args in ([b"get", b"nosuch", b"SET"], [b"client|list", b"config|get", b"get|x"],
                 [b"a|b|c", b"CLIENT|LIST"]):
        got = kvtest.decode(kv.call(b"COMMAND", b"INFO", *args))
        want = kvtest.decode(redis.call(b"COMMAND", b"INFO", *args))
        check.equal(f"RESP{protocol} COMMAND INFO {args!r}",
                    [sorted_subcommands(entry, False) for entry in want],
                    [sorted_subcommands(entry, False) for entry in got])
        check.equal(f"RESP{protocol} COMMAND DOCS {args!r}",
                    docs_pairs(redis.call(b"COMMAND", b"DOCS", *args)),
                    docs_pairs(kv.call(b"COMMAND", b"DOCS", *args)))


def compare_whole(check, kv, redis, kv_names):
    """COMMAND, COMMAND INFO and COMMAND DOCS without names: kv's commands, each as Redis's."""
    redis_info = {entry[0]: sorted_subcommands(entry, False)
                  for entry in kvtest.decode(redis.call(b"COMMAND"))}
    for form in ([b"COMMAND"], [b"COMMAND", b"INFO"]):
        got = kvtest.decode(kv.call(*form))
        check.equal(f"{form!r}: one entry per command kv has", len(kv_names), len(got))
        check.true(f"{form!r}: every entry Redis's", all(
            redis_info.get(entry[0]) == sorted_subcommands(entry, False) for entry in got),
            str([entry[0] for entry in got
                 if redis_info.get(entry[0]) != sorted_subcommands(entry, False)][:5]))
    redis_docs = docs_pairs(redis.call(b"COMMAND", b"DOCS"))
    kv_docs = docs_pairs(kv.call(b"COMMAND", b"DOCS"))
    check.equal("COMMAND DOCS: kv's commands", sorted(kv_names), sorted(kv_docs))
    check.true("COMMAND DOCS: every entry Redis's",
               all(redis_docs[name] == kv_docs[name] for name in kv_docs),
               str([name for name in kv_docs if redis_docs[name] != kv_docs[name]][:5]))


def compare_list(check, kv, redis, kv_names):
    count = kvtest.decode(kv.call(b"COMMAND", b"COUNT"))
    check.equal("COMMAND COUNT is kv's commands", len(kv_names), count)
    redis_list = set(kvtest.decode(redis.call(b"COMMAND", b"LIST")))
    kv_list = kvtest.decode(kv.call(b"COMMAND", b"LIST"))
    check.equal("COMMAND LIST: no name twice", len(kv_list), len(set(kv_list)))
    expected = {name for name in redis_list if name.split(b"|")[0] in kv_names}
    check.equal("COMMAND LIST: kv's commands and their subcommands", sorted(expected),
                sorted(kv_list))
    for args in ([b"FILTERBY", b"ACLCAT", b"string"], [b"filterby", b"aclcat", b"SORTEDSET"],
                 [b"FILTERBY", b"ACLCAT", b"nosuch"], [b"FILTERBY", b"PATTERN", b"x*"],
                 [b"FILTERBY", b"PATTERN", b"CLIENT|*"], [b"FILTERBY", b"MODULE", b"m"],
                 [b"FILTERBY", b"ACLCAT", b"admin"], [b"FILTERBY", b"PATTERN", b"*get*"]):
        want = {name for name in kvtest.decode(redis.call(b"COMMAND", b"LIST", *args))
                if name.split(b"|")[0] in kv_names}
        got = kvtest.decode(kv.call(b"COMMAND", b"LIST", *args))
        check.equal(f"COMMAND LIST {args!r}", sorted(want), sorted(got))
    for args in ([b"FILTERBY"], [b"FILTERBY", b"ACLCAT"], [b"FILTERBY", b"X", b"y"],
                 [b"FILTERBY", b"ACLCAT", b"read", b"extra"], [b"nosuch", b"a", b"b"]):
        check.equal(f"COMMAND LIST {args!r}", redis.call(b"COMMAND", b"LIST", *args),
                    kv.call(b"COMMAND", b"LIST", *args))


def compare_errors(check, kv, redis, kv_names):
    for args in ([b"COUNT", b"x"], [b"HELP"], [b"help", b"x"], [b"NOSUCH"], [b"GETKEYS"],
                 [b"GETKEYSANDFLAGS"], [b"GETKEYS", b"nosuch", b"a"],
                 [b"GETKEYS", b"ping"], [b"GETKEYS", b"get"], [b"GETKEYS", b"get", b"a", b"b"],
                 [b"GETKEYS", b"config"], [b"GETKEYS", b"config", b"get", b"x"],
                 [b"GETKEYS", b"object", b"encoding", b"k"], [b"GETKEYS", b"client", b"nosuch"],
                 [b"GETKEYS", b"eval", b"return 1", b"0"], [b"GETKEYS", b"eval", b"s", b"x"],
                 [b"GETKEYS", b"eval", b"s", b"3", b"a"], [b"GETKEYS", b"sort", b"k", b"store"],
                 [b"GETKEYSANDFLAGS", b"set", b"k", b"v", b"get"],
                 [b"GETKEYSANDFLAGS", b"bitfield", b"k", b"get", b"u8", b"0"],
                 [b"GETKEYSANDFLAGS", b"xread", b"streams", b"a", b"b", b"0", b"0"],
                 [b"GETKEYSANDFLAGS", b"migrate", b"h", b"1", b"k", b"0", b"1"],
                 [b"GETKEYS", b"Get", b"key"], [b"GETKEYS", b"mset", b"a", b"1", b"b"]):
        if len(args) > 2 and args[1].lower() not in kv_names + [b"nosuch"]:
            continue  # a command kv does not have yet (Redis knows it, kv does not)
        check.equal(f"COMMAND {args!r}", redis.call(b"COMMAND", *args),
                    kv.call(b"COMMAND", *args))


def compare_getkeys(check, kv, redis, kv_names, rnd):
    keyed = []
    for name in sorted(kv_names):
        entry = kvtest.decode(redis.call(b"COMMAND", b"INFO", name))[0]
        subs = [sub[0].split(b"|")[1] for sub in entry[9]]
        keyed.append((name, entry[1], subs))
    for _ in range(GETKEYS_ROUNDS):
        for name, arity, subs in keyed:
            words = [name] + ([rnd.choice(subs)] if subs else [])
            count = arity if arity > 0 else -arity + rnd.randint(0, 6)
            count += rnd.choice((0, 0, 0, 1, -1))
            while len(words) < max(count, 1):
                words.append(rnd.choice(WORDS) if rnd.random() < 0.7 else b"%d" %
                             rnd.randint(0, 5))
            for form in (b"GETKEYS", b"GETKEYSANDFLAGS"):
                command = [b"COMMAND", form] + words
                if not check.equal(f"{command!r}", redis.call(*command), kv.call(*command)):
                    return


def main():
    check = kvtest.Checker("test_diff_command", verbose=False)
    seed = int(os.environ.get("SEED", random.randrange(1 << 30)))
    print(f"seed {seed}")
    rnd = random.Random(seed)
    redis = kvtest.start_redis()
    kv = kvtest.start_kv(*KV_OPTIONS)
    try:
        with kv.connect() as kv_client, redis.connect() as redis_client:
            kv_names = [name for name in kvtest.decode(kv_client.call(b"COMMAND", b"LIST"))
                        if b"|" not in name]
            check.true("kv has its commands", len(kv_names) > 150, str(len(kv_names)))
            compare_list(check, kv_client, redis_client, kv_names)
            compare_whole(check, kv_client, redis_client, kv_names)
            compare_info_docs(check, kv_client, redis_client, kv_names, 2)
            compare_errors(check, kv_client, redis_client, kv_names)
            compare_getkeys(check, kv_client, redis_client, kv_names, rnd)
            for client in (kv_client, redis_client):
                client.call(b"HELLO", b"3")
            compare_info_docs(check, kv_client, redis_client, kv_names[::7], 3)
            compare_whole(check, kv_client, redis_client, kv_names)
            compare_errors(check, kv_client, redis_client, kv_names)
    finally:
        kv.stop()
        redis.stop()
    check.finish()


if __name__ == "__main__":
    main()
