#!/usr/bin/env python3
"""SAVE during an AOF rewrite, INFO persistence's RDB counters and FLUSHALL during a BGSAVE,
against redis-server 7.0 (issue 17).

1. SAVE while an AOF rewrite runs: kv and redis-server hold the same 200,000 strings with
   appendonly yes; one pipeline sends BGREWRITEAOF, INFO persistence, SAVE, INFO persistence
   and BGSAVE (Redis's rewrite child is slowed by rdb-key-save-delay, set back to 0 before its
   SAVE; kv's sliced rewrite cannot end inside one pipeline's pass). Both INFOs must show
   aof_rewrite_in_progress:1, SAVE answers +OK as in Redis (only a BGSAVE refuses it), BGSAVE
   answers Redis's "Another child process is active (AOF?)" error, and rdb_saves and
   rdb_changes_since_last_save move as in Redis. Writes follow while the rewrite runs. Then
   redis-server loads kv's dump.rdb to the same DEBUG DIGEST as Redis's own dump.rdb (the
   dataset at SAVE), and kv's AOF directory to the same digest as Redis's (the writes after
   it included), which differs from the dump's.
2. The counters, step by step on a fresh kv and a fresh redis-server (appendonly no), INFO
   persistence's rdb_changes_since_last_save, rdb_saves, rdb_last_bgsave_status and
   rdb_bgsave_in_progress after each step equal, and rdb_last_save_time moving where
   Redis's moves: SAVE, BGSAVE, BGREWRITEAOF (not an RDB save), FLUSHALL without save points
   (no save) and with them (Redis's flushAllDataAndResetRDB saves: the change count goes to
   0, LASTSAVE moves, the file holds the empty dataset), a SAVE and a BGSAVE that fail (a
   directory where dump.rdb goes: a failed SAVE counts in rdb_saves and leaves the status;
   a failed BGSAVE counts and sets err), a SAVE after it (ok again), CONFIG RESETSTAT
   (rdb_saves back to 0). The steps' writes touch one element per key: kv counts a change
   per key a command touches where Redis counts elements (SADD of three members: 3), a
   difference this test does not cover.
3. FLUSHALL while a BGSAVE of 200,000 strings runs (one pipeline: BGSAVE, INFO, FLUSHALL;
   Redis's child slowed as above): the BGSAVE stops as Redis kills its child, leaving no
   dump.rdb, no temp file and rdb_last_bgsave_status:ok; with save points set, FLUSHALL's own
   save leaves a dump.rdb that redis-server loads to 0 keys.
4. stop-writes-on-bgsave-error: after a BGSAVE fails (dump.rdb a directory) with save points
   set, writes and PING get Redis's MISCONF line (reads, CONFIG and a MULTI's EXEC of a
   rejected write as Redis answers them), not once the option is no or the save points are
   off, and again when they are back; a successful BGSAVE lifts it. Scripts: a write by
   redis.call or redis.pcall gets the MISCONF error (EVAL's reply, pcall's table), reads,
   PING and a write after the script's first write pass, a script with a shebang and no
   no-writes flag (FCALL of such a function) is refused before it runs. Every reply compared
   with redis-server's.
5. aof_rewrites: turning the AOF on, BGREWRITEAOF and CONFIG RESETSTAT move it as Redis's.
6. BGREWRITEAOF with appendonly no, as Redis 7.0 does it: "started", a base file of the
   dataset and a manifest listing it alone (the incr files of an AOF turned off deleted as
   history), INFO's aof_* fields (no size fields while off) after each step, the AOF
   directory's file names and manifest, side by side; inside MULTI it is scheduled and runs
   after. redis-server loads each kv directory to the digest of its own, and kv restarted
   with appendonly yes on its directory holds the same keys.
"""
import os
import shutil
import tempfile
import time

import kvtest

KV_OPTIONS = ["--hugepages", "off", "--maxmemory", "160mb", "--connections-max", "16"]
STRINGS = 200000
FIELDS = ("rdb_changes_since_last_save", "rdb_saves", "rdb_last_bgsave_status",
          "rdb_bgsave_in_progress")


def redis_argv(port, directory, appendonly):
    return kvtest.redis_argv(port) + ["--dir", directory, "--appendonly", appendonly,
                                      "--enable-debug-command", "yes"]


def start_redis_on(directory, appendonly="no"):
    port = kvtest.free_port()
    return kvtest.Server("redis", redis_argv(port, directory, appendonly), port).wait_ready()


def wait_zero(client, names, what):
    """Until INFO persistence shows each of `names` at 0 (bounded: 60 s); its fields."""
    for _ in range(6000):
        fields = kvtest.info(client, "persistence")
        if all(fields[name] == "0" for name in names):
            return fields
        time.sleep(0.01)
    raise RuntimeError("%s did not end in 60 s" % what)


def wait_idle(client):
    """Until neither a BGSAVE nor an AOF rewrite runs."""
    return wait_zero(client, ("rdb_bgsave_in_progress", "aof_rewrite_in_progress"),
                     "a BGSAVE or an AOF rewrite")


def fields_of(info_reply, names):
    text = info_reply.decode()
    fields = dict(line.split(":", 1) for line in text.split("\r\n") if ":" in line)
    return {name: fields[name] for name in names}


def digest_of(directory, appendonly):
    """redis-server's DEBUG DIGEST of what it loads from a copy of `directory`."""
    copy = tempfile.mkdtemp(prefix="kvtest-persistence-copy-")
    try:
        shutil.copytree(directory, copy, dirs_exist_ok=True)
        if appendonly == "no":
            shutil.rmtree(os.path.join(copy, "appendonlydir"), True)
        with start_redis_on(copy, appendonly) as redis:
            with redis.connect(timeout=60) as client:
                return (client.value("DBSIZE"), client.value("DEBUG", "DIGEST"))
    finally:
        shutil.rmtree(copy, True)


def save_during_rewrite(client, slow_child):
    """Part 1's pipeline and the writes after it: the replies and the two INFOs' fields."""
    client.send(b"".join(kvtest.encode("SET", f"k:{index}", f"value-{index}")
                         for index in range(STRINGS)))
    client.replies(STRINGS)
    wait_idle(client)
    before = [kvtest.encode("CONFIG", "SET", "rdb-key-save-delay", "-10")] if slow_child else []
    after = [kvtest.encode("CONFIG", "SET", "rdb-key-save-delay", "0")] if slow_child else []
    commands = (before + [kvtest.encode("BGREWRITEAOF")] + after +
                [kvtest.encode("INFO", "persistence"), kvtest.encode("SAVE"),
                 kvtest.encode("INFO", "persistence"), kvtest.encode("BGSAVE")])
    client.send(b"".join(commands))
    replies = [kvtest.decode(reply) for reply in client.replies(len(commands))]
    replies = replies[len(before):]
    replies = [replies[0]] + replies[1 + len(after):]
    names = ("aof_rewrite_in_progress", "rdb_saves", "rdb_changes_since_last_save",
             "rdb_bgsave_in_progress")
    infos = [fields_of(replies[1], names), fields_of(replies[3], names)]
    # Writes while the rewrite runs: the AOF has them, the dump does not.
    writes = [client.value("SET", "k:0", "changed"), client.value("DEL", "k:1"),
              client.value("SET", "new", "key")]
    done = wait_idle(client)
    return [replies[0], replies[2], replies[4]], infos, writes, done["aof_last_bgrewrite_status"]


def part_save_during_rewrite(check, root):
    kv_dir = os.path.join(root, "kv")
    redis_dir = os.path.join(root, "redis")
    os.mkdir(kv_dir)
    os.mkdir(redis_dir)
    with kvtest.start_kv(*KV_OPTIONS, "--dir", kv_dir, "--appendonly", "yes") as kv:
        with kv.connect(timeout=60) as client:
            kv_result = save_during_rewrite(client, False)
    with start_redis_on(redis_dir, "yes") as redis:
        with redis.connect(timeout=60) as client:
            redis_result = save_during_rewrite(client, True)
    print(f"     kv: {kvtest.shorten(kv_result)}")
    kv_replies, kv_infos, kv_writes, kv_status = kv_result
    redis_replies, redis_infos, redis_writes, redis_status = redis_result
    check.true("redis-server's rewrite still ran at both INFOs around its SAVE",
               all(i["aof_rewrite_in_progress"] == "1" for i in redis_infos),
               str(redis_infos))
    check.true("kv's rewrite still ran at both INFOs around its SAVE",
               all(i["aof_rewrite_in_progress"] == "1" for i in kv_infos), str(kv_infos))
    check.equal("BGREWRITEAOF, SAVE and BGSAVE answer as redis-server's", redis_replies,
                kv_replies)
    check.equal("SAVE answered +OK during the rewrite", "OK",
                kv_replies[1].decode() if isinstance(kv_replies[1], bytes) else kv_replies[1])
    check.equal("rdb_saves, rdb_changes_since_last_save around SAVE are redis-server's",
                redis_infos, kv_infos)
    check.equal("the writes after SAVE answer as redis-server's", redis_writes, kv_writes)
    check.equal("the rewrite ended ok, as redis-server's", (redis_status, "ok"),
                (kv_status, "ok"))
    redis_dump = digest_of(redis_dir, "no")
    kv_dump = digest_of(kv_dir, "no")
    check.equal(f"redis-server loads kv's dump.rdb to its own dump's dataset "
                f"({redis_dump[0]} keys)", redis_dump, kv_dump)
    check.equal("the dump holds the dataset at SAVE", STRINGS, kv_dump[0])
    redis_aof = digest_of(redis_dir, "yes")
    kv_aof = digest_of(kv_dir, "yes")
    check.equal("redis-server loads kv's AOF to its own AOF's dataset", redis_aof, kv_aof)
    check.true("the AOF has the writes after SAVE, the dump does not", kv_aof != kv_dump,
               f"{kv_aof} {kv_dump}")


def counter_steps(client, directory):
    """Part 2's steps: each step's reply, INFO fields and whether LASTSAVE moved."""
    steps = []
    target = os.path.join(directory, "dump.rdb")

    def step(*args):
        lastsave = client.value("LASTSAVE")
        time.sleep(1.05 if args and args[0] in ("SAVE", "BGSAVE", "FLUSHALL") else 0)
        reply = kvtest.decode(client.call(*args)) if args else None
        fields = wait_idle(client)
        moved = client.value("LASTSAVE") != lastsave
        steps.append((args, reply, tuple(fields[name] for name in FIELDS), moved))

    step()
    step("SET", "a", "1")
    step("MSET", "b", "2", "c", "3")
    step("INCR", "n")
    step("DEL", "a", "b", "missing")
    step("SAVE")
    step("SET", "a", "2")
    step("BGSAVE")
    step("SET", "b", "2")
    step("BGREWRITEAOF")
    step("FLUSHALL")
    step("SET", "x", "1")
    step("CONFIG", "SET", "save", "3600 1")
    step("SET", "y", "1")
    step("FLUSHALL")
    step("CONFIG", "SET", "save", "")
    step("SET", "z", "1")
    # dump.rdb as a directory: the rename over it fails, for SAVE and BGSAVE alike.
    if os.path.exists(target):
        os.unlink(target)
    os.mkdir(target)
    step("SAVE")
    step("BGSAVE")
    step("SET", "w", "1")
    step("BGSAVE")
    step("SAVE")
    os.rmdir(target)
    step("SAVE")
    step("CONFIG", "SET", "save", "3600 1")
    step("SET", "v", "1")
    step("BGSAVE")
    step("CONFIG", "RESETSTAT")
    step("SET", "u", "1")
    step("BGSAVE")
    step("CONFIG", "SET", "save", "")
    return steps


def side_by_side(check, root, name, steps_of, what):
    """`steps_of(client, directory)` on a fresh redis-server, then on a fresh kv, each in its
    own directory: the two lists of steps must be equal. Redis's steps are returned."""
    kv_dir = os.path.join(root, f"kv-{name}")
    redis_dir = os.path.join(root, f"redis-{name}")
    os.mkdir(kv_dir)
    os.mkdir(redis_dir)
    with start_redis_on(redis_dir) as redis:
        with redis.connect() as client:
            redis_steps = steps_of(client, redis_dir)
    with kvtest.start_kv(*KV_OPTIONS, "--dir", kv_dir) as kv:
        with kv.connect() as client:
            kv_steps = steps_of(client, kv_dir)
    check.equal(f"the {len(redis_steps)} {what} are redis-server's", redis_steps, kv_steps)
    for expected, got in zip(redis_steps, kv_steps):
        if expected != got:
            print(f"     first difference: redis {expected} kv {got}")
            break
    return redis_steps


def part_counters(check, root):
    redis_steps = side_by_side(check, root, "counters", counter_steps,
                               "steps' replies, rdb_* fields and LASTSAVE moves")
    flushall = [s for s in redis_steps if s[0] == ("FLUSHALL",)]
    check.true("redis-server's FLUSHALL with save points saved (changes 0, LASTSAVE moved)",
               len(flushall) == 2 and flushall[1][2][0] == "0" and flushall[1][3]
               and flushall[0][2][0] != "0" and not flushall[0][3], str(flushall))


def flushall_during_bgsave(client, directory, slow_child):
    """Part 3: FLUSHALL while a BGSAVE of STRINGS keys runs, without then with save points.
    Each round's replies, the fields once idle, and the keys dump.rdb holds (None: none)."""
    rounds = []
    for points in ("", "3600 1"):
        client.send(b"".join(kvtest.encode("SET", f"k:{index}", f"value-{index}")
                             for index in range(STRINGS)))
        client.replies(STRINGS)
        client.value("CONFIG", "SET", "save", points)
        before = [kvtest.encode("CONFIG", "SET", "rdb-key-save-delay", "-10")] if slow_child else []
        after = [kvtest.encode("CONFIG", "SET", "rdb-key-save-delay", "0")] if slow_child else []
        commands = (before + [kvtest.encode("BGSAVE")] + after +
                    [kvtest.encode("INFO", "persistence"), kvtest.encode("FLUSHALL")])
        client.send(b"".join(commands))
        replies = [kvtest.decode(reply) for reply in client.replies(len(commands))]
        running = fields_of(replies[-2], ("rdb_bgsave_in_progress",))
        fields = wait_idle(client)
        dump = os.path.join(directory, "dump.rdb")
        keys = None
        if os.path.exists(dump):
            with start_redis_on(directory) as redis:
                with redis.connect() as loaded:
                    keys = loaded.value("DBSIZE")
            os.unlink(dump)
        rounds.append((points, replies[len(before)], running, replies[-1],
                       tuple(fields[name] for name in FIELDS), keys,
                       sorted(n for n in os.listdir(directory) if n.startswith("temp-"))))
    client.value("CONFIG", "SET", "save", "")
    return rounds


def part_flushall_during_bgsave(check, root):
    kv_dir = os.path.join(root, "kv-flushall")
    redis_dir = os.path.join(root, "redis-flushall")
    os.mkdir(kv_dir)
    os.mkdir(redis_dir)
    with start_redis_on(redis_dir) as redis:
        with redis.connect(timeout=60) as client:
            redis_rounds = flushall_during_bgsave(client, redis_dir, True)
    with kvtest.start_kv(*KV_OPTIONS, "--dir", kv_dir) as kv:
        with kv.connect(timeout=60) as client:
            kv_rounds = flushall_during_bgsave(client, kv_dir, False)
    check.equal("FLUSHALL during a BGSAVE: the BGSAVE stops (no dump.rdb, status ok), or "
                "with save points FLUSHALL's save leaves an empty dump.rdb, as redis-server",
                redis_rounds, kv_rounds)
    check.equal("redis-server's rounds: the BGSAVE ran at FLUSHALL, then no file and an empty "
                "one", [("", "1", None), ("3600 1", "1", 0)],
                [(r[0], r[2]["rdb_bgsave_in_progress"], r[5]) for r in redis_rounds])


def stepper(client, replies):
    """A step: sends a command, keeps (args, decoded reply) in `replies`, and waits for a
    BGSAVE it started to end."""
    def step(*args):
        replies.append((args, kvtest.decode(client.call(*args))))
        if args[0] == "BGSAVE":
            wait_idle(client)
    return step


def dump_blocked(target):
    """dump.rdb becomes a directory: the next BGSAVE fails (the caller removes it)."""
    if os.path.exists(target):
        os.unlink(target)
    os.mkdir(target)


def misconf_steps(client, directory):
    """Part 4's replies, one per step (BGSAVEs waited for)."""
    target = os.path.join(directory, "dump.rdb")
    replies = []
    step = stepper(client, replies)
    step("SET", "k", "1")
    step("CONFIG", "SET", "save", "3600 1")
    dump_blocked(target)
    step("BGSAVE")
    step("SET", "k", "2")
    step("PING")
    step("GET", "k")
    step("INCR", "n")
    step("MULTI")
    step("SET", "k", "3")
    step("EXEC")
    step("CONFIG", "SET", "stop-writes-on-bgsave-error", "no")
    step("SET", "k", "4")
    step("CONFIG", "SET", "stop-writes-on-bgsave-error", "yes")
    step("DEL", "k")
    step("CONFIG", "SET", "save", "")
    step("SET", "k", "5")
    step("CONFIG", "SET", "save", "3600 1")
    step("SET", "k", "6")
    os.rmdir(target)
    step("BGSAVE")
    step("SET", "k", "7")
    step("PING")
    step("CONFIG", "SET", "save", "")
    return replies


LIBRARY = ("#!lua name=misconf\n"
           "redis.register_function('fw', function(keys, args) "
           "return redis.call('set', keys[1], 'f') end)\n"
           "redis.register_function{function_name='fr', callback=function(keys, args) "
           "return redis.call('get', keys[1]) end, flags={'no-writes'}}")


def misconf_script_steps(client, directory):
    """Part 4's scripts: a write by redis.call (raised) or redis.pcall (returned) gets the
    MISCONF line as Redis's scriptVerifyWriteCommandAllow gives it, reads and PING pass, a
    write after the script's first write passes, a script with a shebang and no no-writes
    flag (and FCALL of a function without it) is refused before it runs, and after the BGSAVE
    that succeeds the writes go through."""
    target = os.path.join(directory, "dump.rdb")
    replies = []
    step = stepper(client, replies)
    step("FUNCTION", "LOAD", LIBRARY)
    step("SET", "k", "1")
    step("CONFIG", "SET", "save", "3600 1")
    dump_blocked(target)
    step("BGSAVE")
    scripts = [("EVAL", "return redis.call('set', KEYS[1], 'e')", "1", "k"),
               ("EVAL", "return redis.pcall('set', KEYS[1], 'e')", "1", "k"),
               ("EVAL", "local r = redis.pcall('incr', KEYS[1]) return {r['err'], "
                "redis.call('get', KEYS[1])}", "1", "k"),
               ("EVAL", "return redis.call('get', KEYS[1])", "1", "k"),
               ("EVAL", "return redis.call('ping')", "0"),
               ("EVAL", "#!lua\nreturn redis.call('get', KEYS[1])", "1", "k"),
               ("EVAL", "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])", "1", "k"),
               ("EVAL_RO", "return redis.call('get', KEYS[1])", "1", "k"),
               ("FCALL", "fw", "1", "k"),
               ("FCALL", "fr", "1", "k"),
               ("FCALL_RO", "fr", "1", "k")]
    for script in scripts:
        step(*script)
    step("CONFIG", "SET", "stop-writes-on-bgsave-error", "no")
    step(*scripts[0])
    step("CONFIG", "SET", "stop-writes-on-bgsave-error", "yes")
    step(*scripts[1])
    os.rmdir(target)
    step("BGSAVE")
    step(*scripts[0])
    step("FCALL", "fw", "1", "k")
    step("GET", "k")
    step("CONFIG", "SET", "save", "")
    return replies


def part_misconf(check, root):
    redis_scripts = side_by_side(check, root, "misconf-scripts", misconf_script_steps,
                                 "stop-writes-on-bgsave-error script replies")
    check.true("redis-server refused the script's write with MISCONF",
               "MISCONF" in repr(redis_scripts[4][1]), repr(redis_scripts[4]))
    redis_replies = side_by_side(check, root, "misconf", misconf_steps,
                                 "stop-writes-on-bgsave-error replies")
    check.true("redis-server refused the write after the failed BGSAVE with MISCONF",
               str(redis_replies[3][1]).startswith("MISCONF") or
               "MISCONF" in repr(redis_replies[3][1]), repr(redis_replies[3]))


def rewrite_count_steps(client, directory):
    """Part 5: aof_rewrites counts every rewrite started (turning the AOF on included) and
    CONFIG RESETSTAT zeroes it, as Redis's stat_aof_rewrites."""
    steps = []
    for args in (("CONFIG", "SET", "appendonly", "yes"), ("SET", "x", "1"), ("BGREWRITEAOF",),
                 ("CONFIG", "RESETSTAT"), ("BGREWRITEAOF",), ("CONFIG", "SET", "appendonly", "no")):
        reply = kvtest.decode(client.call(*args))
        fields = wait_idle(client)
        steps.append((args, reply, fields["aof_rewrites"]))
    return steps


AOF_OFF_FIELDS = ("aof_enabled", "aof_rewrite_in_progress", "aof_rewrite_scheduled",
                  "aof_last_bgrewrite_status", "aof_rewrites", "aof_rewrites_consecutive_failures",
                  "aof_last_write_status")


def wait_rewrites_done(client):
    """Until no AOF rewrite runs nor is scheduled."""
    return wait_zero(client, ("aof_rewrite_in_progress", "aof_rewrite_scheduled"),
                     "an AOF rewrite")


def rewrite_off_steps(client, directory):
    """Part 6's steps: the reply, the aof_* fields (and whether the size fields show), the
    AOF directory's files and manifest, and redis-server's digest of a copy of the directory
    loaded with appendonly yes after the rewrites."""
    aof_dir = os.path.join(directory, "appendonlydir")
    steps = []

    def listing():
        files = sorted(os.listdir(aof_dir)) if os.path.isdir(aof_dir) else None
        manifest = None
        if files and "appendonly.aof.manifest" in files:
            with open(os.path.join(aof_dir, "appendonly.aof.manifest")) as f:
                manifest = f.read()
        return files, manifest

    def step(*commands):
        replies = [kvtest.decode(client.call(*args)) for args in commands]
        fields = wait_rewrites_done(client)
        # Redis unlinks the history files in a background thread after its INFO shows the
        # end (kv before): until no file but the manifest's is left, 2 s at most.
        for _ in range(200):
            files, manifest = listing()
            listed = {line.split()[1] for line in (manifest or "").splitlines()}
            if not files or set(files) <= listed | {"appendonly.aof.manifest"}:
                break
            time.sleep(0.01)
        steps.append((commands, replies, tuple(fields[name] for name in AOF_OFF_FIELDS),
                      "aof_current_size" in fields, files, manifest))

    step(("SET", "a", "1"), ("RPUSH", "l", "x", "y"))
    step(("BGREWRITEAOF",))
    steps.append(("loaded", digest_of(directory, "yes")))
    step(("SET", "b", "2"))
    step(("BGREWRITEAOF",))
    step(("CONFIG", "SET", "appendonly", "yes"))
    step(("SET", "c", "3"), ("BGREWRITEAOF",))
    step(("SET", "d", "4"), ("CONFIG", "SET", "appendonly", "no"))
    step(("SET", "e", "5"))
    step(("MULTI",), ("BGREWRITEAOF",), ("EXEC",))
    steps.append(("loaded", digest_of(directory, "yes")))
    return steps


def part_rewrite_off(check, root):
    side_by_side(check, root, "rewrite-off", rewrite_off_steps,
                 "BGREWRITEAOF-with-appendonly-no steps")
    kv_dir = os.path.join(root, "kv-rewrite-off")
    with kvtest.start_kv(*KV_OPTIONS, "--dir", kv_dir, "--appendonly", "yes") as kv:
        with kv.connect() as client:
            got = [kvtest.decode(client.call(*args)) for args in
                   (("DBSIZE",), ("MGET", "a", "b", "c", "d", "e"), ("LRANGE", "l", "0", "-1"))]
    check.equal("kv restarted with appendonly yes on the directory its rewrite left",
                [6, [b"1", b"2", b"3", b"4", b"5"], [b"x", b"y"]], got)


def main():
    check = kvtest.Checker("test_diff_persistence", verbose=True)
    kvtest.need_kv_binary()
    kvtest.need_program("redis-server")
    root = tempfile.mkdtemp(prefix="kvtest-persistence-")
    try:
        part_save_during_rewrite(check, root)
        part_counters(check, root)
        part_flushall_during_bgsave(check, root)
        part_misconf(check, root)
        side_by_side(check, root, "rewrites", rewrite_count_steps, "aof_rewrites steps")
        part_rewrite_off(check, root)
    finally:
        shutil.rmtree(root, True)
    check.finish()


if __name__ == "__main__":
    main()
