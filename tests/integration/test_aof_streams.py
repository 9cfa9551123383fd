#!/usr/bin/env python3
"""Streams' consumer groups in the AOF: what kv propagates is Redis 7.0's effects.

The same consumer-group workload (XGROUP CREATE/CREATECONSUMER/DELCONSUMER/SETID, XREADGROUP
with `>` and with an ID, with and without NOACK and COUNT, on two streams, blocked XREADGROUPs
served by another client's XADD, XCLAIM with IDLE/TIME/RETRYCOUNT/FORCE/JUSTID/LASTID and of a
deleted entry, XAUTOCLAIM with a deleted entry, XACK, inside MULTI/EXEC and EVAL) runs on kv and
on redis-server 7.0, both with appendonly yes and appendfsync always, then trims with `~`,
LIMIT and MINID:
1. the incr files are the same, command for command (XCLAIM's absolute TIME masked), trims
   with `~` written as Redis writes them (`= <threshold>`, LIMIT kept);
2. redis-server 7.0 started on a copy of kv's AOF directory has kv's streams, groups
   (XINFO GROUPS), consumers (XINFO CONSUMERS, idle aside) and pending entries (XPENDING with
   delivery counts, idle aside), and the same as redis-server on its own AOF;
3. kv started on a copy of redis-server's AOF directory has what redis-server has from it
   (its AOF client takes `= n LIMIT m`);
4. kv restarted on its AOF directory has the same state again.
"""
import os
import re
import shutil
import tempfile
import time

import kvtest

KV_OPTIONS = ["--hugepages", "off", "--maxmemory", "64mb", "--connections-max", "16"]


def start_kv_on(directory):
    return kvtest.start_kv(*KV_OPTIONS, "--dir", directory, "--appendonly", "yes",
                           "--appendfsync", "always")


def start_redis_on(directory):
    port = kvtest.free_port()
    argv = kvtest.redis_argv(port) + ["--dir", directory, "--appendonly", "yes",
                                      "--appendfsync", "always"]
    return kvtest.Server("redis", argv, port).wait_ready()


def incr_commands(directory):
    """The incr file's commands, each as one line, XCLAIM's TIME masked."""
    aof_dir = os.path.join(directory, "appendonlydir")
    name = [n for n in os.listdir(aof_dir) if n.endswith(".incr.aof")][0]
    with open(os.path.join(aof_dir, name), "rb") as f:
        data = f.read()
    commands, at = [], 0
    while at < len(data):
        end = data.index(b"\r\n", at)
        count, at = int(data[at + 1:end]), end + 2
        args = []
        for _ in range(count):
            end = data.index(b"\r\n", at)
            length, at = int(data[at + 1:end]), end + 2
            args.append(data[at:at + length])
            at += length + 2
        if args[0].upper() == b"XCLAIM":
            for index in range(5, len(args) - 1):
                if args[index].upper() == b"TIME":
                    args[index + 1] = b"<ms>"
        commands.append(b" ".join(args))
    return commands


def wait_blocked(client, count):
    """Until `count` clients are blocked (bounded: 10 s)."""
    for _ in range(500):
        if int(client.info("clients")["blocked_clients"]) >= count:
            return True
        time.sleep(0.02)
    return False


def blocked_read(port, r, reader_args, writer_args):
    """A client blocks in XREADGROUP; another's XADD serves it. The reader's reply."""
    reader = kvtest.RespClient(port)
    reader.send(kvtest.encode(*reader_args))
    if not wait_blocked(r, 1):
        raise RuntimeError(f"{reader_args} did not block")
    r.execute_command(*writer_args)
    reply = kvtest.decode(reader.reply())
    reader.close()
    return reply


def workload(port):
    """The consumer-group commands; returns their replies (kv's and Redis's must agree)."""
    redis = kvtest.need_pyredis()
    r = redis.Redis(port=port, socket_timeout=20)
    client = kvtest.RespClient(port)
    replies = []

    def run(*args):
        label = tuple("<ms>" if index > 0 and args[index - 1] == "TIME" else arg
                      for index, arg in enumerate(args))
        replies.append((label, client.value(*args)))

    for index in range(1, 11):
        run("XADD", "s", f"{index}-0", "f", f"v{index}")
    run("XGROUP", "CREATE", "s", "g", "0")
    run("XGROUP", "CREATE", "s", "g2", "$")
    run("XGROUP", "CREATE", "s2", "g", "0", "MKSTREAM")
    # `>`: an XCLAIM per entry (three in MULTI/EXEC, one alone).
    run("XREADGROUP", "GROUP", "g", "alice", "COUNT", "3", "STREAMS", "s", ">")
    run("XREADGROUP", "GROUP", "g", "bob", "COUNT", "1", "STREAMS", "s", ">")
    # NOACK: the consumer's creation, then the group's last ID; then the last ID alone.
    run("XREADGROUP", "GROUP", "g", "carol", "NOACK", "COUNT", "2", "STREAMS", "s", ">")
    run("XREADGROUP", "GROUP", "g", "carol", "NOACK", "COUNT", "1", "STREAMS", "s", ">")
    # History: nothing propagates (a new consumer neither, unless NOACK).
    run("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0")
    run("XREADGROUP", "GROUP", "g", "dave", "STREAMS", "s", "0")
    run("XREADGROUP", "GROUP", "g", "erin", "NOACK", "STREAMS", "s", "0")
    # Two streams, one empty; then nothing new.
    run("XREADGROUP", "GROUP", "g", "alice", "COUNT", "10", "STREAMS", "s", "s2", ">", ">")
    run("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">")
    run("XADD", "s2", "1-0", "a", "1")
    run("XREADGROUP", "GROUP", "g", "frank", "STREAMS", "s2", "s", ">", ">")
    # Blocked readers served by another client's XADD.
    replies.append(("blocked", blocked_read(
        port, r, ["XREADGROUP", "GROUP", "g", "gina", "BLOCK", "0", "STREAMS", "s", ">"],
        ["XADD", "s", "11-0", "f", "v11"])))
    run("XGROUP", "CREATE", "s", "g3", "$")
    replies.append(("blocked noack", blocked_read(
        port, r, ["XREADGROUP", "GROUP", "g3", "hank", "NOACK", "BLOCK", "0", "STREAMS", "s",
                  ">"],
        ["XADD", "s", "12-0", "f", "v12"])))
    run("XGROUP", "CREATE", "s2", "g3", "$")
    replies.append(("blocked count", blocked_read(
        port, r, ["XREADGROUP", "GROUP", "g3", "hank", "COUNT", "5", "BLOCK", "0", "STREAMS",
                  "s2", ">"],
        ["XADD", "s2", "2-0", "a", "2"])))
    # XCLAIM: a claim, two with IDLE and RETRYCOUNT, JUSTID with TIME and an ID as typed,
    # an idle time not met, FORCE of a NOACK'd entry, FORCE of no entry.
    run("XCLAIM", "s", "g", "bob", "0", "1-0")
    run("XCLAIM", "s", "g", "bob", "0", "2-0", "3-0", "IDLE", "5000", "RETRYCOUNT", "7")
    run("XCLAIM", "s", "g", "bob", "0", "2", "TIME", str(int(time.time() * 1000) - 60000),
        "JUSTID")
    run("XCLAIM", "s", "g", "zed", "3600000", "4-0")
    run("XCLAIM", "s", "g", "bob", "0", "5-0", "FORCE")
    run("XCLAIM", "s", "g", "bob", "0", "99-0", "FORCE")
    # LASTID past the group's with nothing claimed: XGROUP SETID.
    run("XCLAIM", "s", "g2", "bob", "0", "1-0", "LASTID", "50-0")
    # A pending entry deleted, then claimed: the drop propagates as an XCLAIM of the owner's.
    run("XDEL", "s", "3-0")
    run("XCLAIM", "s", "g", "alice", "0", "3-0")
    # XAUTOCLAIM: claims and a drop in the PEL's order; JUSTID.
    run("XDEL", "s", "8-0")
    run("XAUTOCLAIM", "s", "g", "ivy", "0", "5-0", "COUNT", "3")
    run("XAUTOCLAIM", "s", "g", "ivy", "0", "0", "COUNT", "2", "JUSTID")
    run("XAUTOCLAIM", "s", "g", "ivy", "3600000", "0")
    # XACK: as sent when it acknowledged, nothing otherwise.
    run("XACK", "s", "g", "1-0", "2-0")
    run("XACK", "s", "g", "1-0")
    run("XGROUP", "CREATECONSUMER", "s", "g", "jack")
    run("XGROUP", "CREATECONSUMER", "s", "g", "jack")
    run("XGROUP", "DELCONSUMER", "s", "g", "jack")
    run("XGROUP", "DELCONSUMER", "s", "g", "dave")
    run("XGROUP", "DELCONSUMER", "s", "g", "nobody")
    run("XGROUP", "SETID", "s", "g2", "5-0")
    run("XGROUP", "SETID", "s", "g2", "$", "ENTRIESREAD", "3")
    # MULTI/EXEC and a script: one MULTI .. EXEC around everything they changed.
    run("XADD", "s", "13-0", "f", "v13")
    run("MULTI")
    run("XREADGROUP", "GROUP", "g", "kate", "COUNT", "1", "STREAMS", "s", ">")
    run("XACK", "s", "g", "4-0")
    run("EXEC")
    run("XADD", "s", "14-0", "f", "v14")
    run("XADD", "s", "15-0", "f", "v15")
    run("EVAL", "return redis.call('XREADGROUP', 'GROUP', 'g', 'lee', 'COUNT', '2', "
        "'STREAMS', KEYS[1], '>')", "1", "s")
    run("EVAL", "return redis.call('XREADGROUP', 'GROUP', 'g', 'lee', 'STREAMS', KEYS[1], "
        "'>')", "1", "s")
    # The group moved back: `>` re-delivers entries pending to others and acknowledged ones.
    run("XGROUP", "SETID", "s", "g", "0")
    run("XREADGROUP", "GROUP", "g", "mia", "COUNT", "4", "STREAMS", "s", ">")
    run("XGROUP", "SETID", "s", "g", "$")
    # Trims: `~` propagates as `=` and the exact threshold after it, `<ms>-*` as the ID made.
    for key in ("t", "u"):
        for index in range(1, 251):
            client.send(kvtest.encode("XADD", key, f"{index}-0", "f", f"v{index}"))
        client.replies(250)
    run("XADD", "t", "MAXLEN", "~", "120", "251-0", "f", "v")
    run("XADD", "t", "252-*", "f", "v")
    run("XADD", "t", "252-*", "f", "v")
    run("XTRIM", "t", "MINID", "~", "180-0")
    run("XTRIM", "t", "MINID", "~", "210-0")
    run("XADD", "t", "MINID", "~", "0", "253-*", "f", "v")
    run("XTRIM", "t", "MAXLEN", "=", "40")
    run("XTRIM", "u", "MAXLEN", "~", "0", "LIMIT", "100")
    run("XADD", "u", "NOMKSTREAM", "MAXLEN", "~", "10", "LIMIT", "200", "300-*", "f", "v")
    run("XADD", "nokey", "NOMKSTREAM", "MAXLEN", "~", "10", "*", "f", "v")
    # LIMIT with `~` stays in the AOF after the exact threshold (`= n LIMIT m`, which only the
    # AOF's client may send): on 350 entries in nodes of 100, a LIMIT below a node's entries
    # removes nothing, LIMIT 0 means none, and LIMIT may come before MAXLEN.
    for index in range(1, 351):
        client.send(kvtest.encode("XADD", "w", f"{index}-0", "f", f"v{index}"))
    client.replies(350)
    run("XTRIM", "w", "MAXLEN", "~", "0", "LIMIT", "150")
    run("XTRIM", "w", "MINID", "~", "300-0", "LIMIT", "100")
    run("XTRIM", "w", "MINID", "~", "300-0", "LIMIT", "99")
    run("XADD", "w", "MINID", "~", "300-0", "LIMIT", "50", "351-0", "f", "v")
    run("XDEL", "w", "201-0")
    run("XADD", "w", "LIMIT", "10", "MINID", "~", "260-0", "351-*", "f", "v")
    run("XADD", "w", "LIMIT", "0", "352-*", "f", "v")
    # A client may not give LIMIT without `~` (LIMIT 0 neither), nor without a strategy.
    run("XTRIM", "w", "MAXLEN", "=", "10", "LIMIT", "5")
    run("XTRIM", "w", "MINID", "300-0", "LIMIT", "5")
    run("XADD", "w", "LIMIT", "5", "353-0", "f", "v")
    run("XTRIM", "w", "MAXLEN", "~", "0", "LIMIT", "0")
    run("XADD", "w", "MAXLEN", "~", "0", "LIMIT", "1000", "360-*", "f", "v")
    run("XADD", "w", "MAXLEN", "~", "5", "LIMIT", "1000", "361-*", "f", "v")
    run("XADD", "w", "MINID", "~", "361-0", "LIMIT", "1000", "362-*", "f", "v")
    client.close()
    r.close()
    return replies


def state(port):
    """Streams, groups, consumers and pending entries, idle times aside."""
    client = kvtest.RespClient(port)
    result = {}
    keys = sorted(client.value("KEYS", "*"))
    for key in keys:
        if client.value("TYPE", key) != "stream":
            continue
        info = client.value("XINFO", "STREAM", key)
        info = dict(zip(info[::2], info[1::2]))
        result[(key, "stream")] = (client.value("XRANGE", key, "-", "+"), info[b"length"],
                                   info[b"last-generated-id"], info[b"entries-added"],
                                   info[b"max-deleted-entry-id"])
        for group in client.value("XINFO", "GROUPS", key):
            group = dict(zip(group[::2], group[1::2]))
            name = group[b"name"]
            result[(key, name, "group")] = sorted(group.items())
            consumers = []
            for consumer in client.value("XINFO", "CONSUMERS", key, name):
                consumer = dict(zip(consumer[::2], consumer[1::2]))
                consumer.pop(b"idle", None)
                consumers.append(sorted(consumer.items()))
            result[(key, name, "consumers")] = consumers
            pending = client.value("XPENDING", key, name, "-", "+", 1000)
            result[(key, name, "pending")] = [(p[0], p[1], p[3]) for p in pending]
            result[(key, name, "summary")] = client.value("XPENDING", key, name)
    client.close()
    return result


def differences(expected, got):
    return sorted(set(k for k in list(expected) + list(got) if expected.get(k) != got.get(k)),
                  key=repr)


def replayed(result):
    """What an AOF's replay cannot give back, as in Redis 7.0: a group's entries-read (and so
    its lag) is not propagated by the XCLAIMs of its reads, only by XGROUP SETID."""
    masked = {}
    for key, value in result.items():
        if key[-1] == "group":
            value = [(k, v) for k, v in value if k not in (b"entries-read", b"lag")]
        masked[key] = value
    return masked


def compare(check, what, expected, got):
    differ = differences(expected, got)
    check.true(f"{what}: same streams, groups, consumers and pending entries "
               f"({len(expected)} items)", not differ,
               f"{[(k, expected.get(k), got.get(k)) for k in differ[:3]]}")


def main():
    check = kvtest.Checker("test_aof_streams", verbose=True)
    kvtest.need_kv_binary()
    kvtest.need_pyredis()
    kvtest.need_program("redis-server")
    root = tempfile.mkdtemp(prefix="kvtest-aof-streams-")
    try:
        kv_dir = os.path.join(root, "kv")
        redis_dir = os.path.join(root, "redis")
        os.mkdir(kv_dir)
        os.mkdir(redis_dir)
        with start_kv_on(kv_dir) as kv:
            kv_replies = workload(kv.port)
            kv_state = state(kv.port)
        with start_redis_on(redis_dir) as redis:
            redis_replies = workload(redis.port)
            redis_state = state(redis.port)
        # The replies agree (delivery times aside, none are in them).
        differ = [(a, b) for a, b in zip(redis_replies, kv_replies) if a != b]
        check.true(f"the workload's {len(redis_replies)} replies are redis-server's",
                   not differ and len(redis_replies) == len(kv_replies),
                   kvtest.shorten(differ[:3]))
        compare(check, "kv's state is redis-server's", redis_state, kv_state)
        expected = incr_commands(redis_dir)
        got = incr_commands(kv_dir)
        limits = [c for c in expected if re.match(rb"(XADD|XTRIM) .* = .* LIMIT ", c)]
        check.true(f"the workload's AOF has trims with `= n LIMIT m` ({len(limits)})",
                   len(limits) >= 5)
        check.equal(f"the incr file's {len(expected)} commands are redis-server's", expected,
                    got)
        if expected != got:
            for index, (a, b) in enumerate(zip(expected, got)):
                if a != b:
                    print(f"     first difference at {index}: redis {a!r} kv {b!r}")
                    break
        # redis-server on a copy of kv's directory, and on its own.
        kv_copy = os.path.join(root, "kv-copy")
        redis_copy = os.path.join(root, "redis-copy")
        shutil.copytree(kv_dir, kv_copy)
        shutil.copytree(redis_dir, redis_copy)
        with start_redis_on(kv_copy) as redis:
            loaded_kv = state(redis.port)
        with start_redis_on(redis_copy) as redis:
            loaded_redis = state(redis.port)
        compare(check, "redis-server loading kv's AOF has kv's state (entries-read aside)",
                replayed(kv_state), replayed(loaded_kv))
        compare(check, "redis-server loading kv's AOF has what it has from its own",
                loaded_redis, loaded_kv)
        lost_kv = [(k, kv_state[k], loaded_kv[k]) for k in differences(kv_state, loaded_kv)]
        lost_redis = [(k, redis_state[k], loaded_redis[k])
                      for k in differences(redis_state, loaded_redis)]
        check.equal("the replay loses what Redis's replay of its own AOF loses (entries-read of "
                    f"{len(lost_redis)} groups)", lost_redis, lost_kv)
        redis_copy_for_kv = os.path.join(root, "redis-copy-for-kv")
        shutil.copytree(redis_dir, redis_copy_for_kv)
        with start_kv_on(redis_copy_for_kv) as kv:
            kv_loaded_redis = state(kv.port)
        compare(check, "kv loading redis-server's AOF has what redis-server has from it",
                loaded_redis, kv_loaded_redis)
        with start_kv_on(kv_dir) as kv:
            restarted = state(kv.port)
        compare(check, "kv restarted from its AOF has redis-server's replay of it", loaded_kv,
                restarted)
        compare(check, "kv restarted from its AOF has its state (entries-read aside)",
                replayed(kv_state), replayed(restarted))
    finally:
        shutil.rmtree(root, True)
    check.finish()


if __name__ == "__main__":
    main()
