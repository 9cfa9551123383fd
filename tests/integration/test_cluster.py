"""Cluster mode on one kv instance, against a one-node Redis 7.0 cluster.

What it proves, and how:
- Without cluster mode, CLUSTER, ASKING, READONLY, READWRITE answer Redis's bytes.
- A fresh one-node cluster on each side (cluster-enabled yes, nodes.conf in --dir): every
  CLUSTER subcommand with good and bad arguments, the redirections (CLUSTERDOWN, CROSSSLOT,
  SELECT, MOVE, SWAPDB, COPY DB, MULTI/EXEC, EVAL keys), byte for byte after the node id and
  the ports are masked (each side has its own).
- Two nodes from a nodes.conf the test writes (myself and a node that does not run, with the
  same ids on both sides): MOVED, ASK, ASKING, TRYAGAIN, importing and migrating slots,
  SETSLOT NODE, FORGET, the cluster going down and cluster-allow-reads-when-down.
- nodes.conf: kv's file has Redis's lines, survives a restart, and a corrupt one is refused.
- redis-py's RedisCluster against the one-node kv cluster: every command family, pipelines,
  MULTI in one slot; 100,000 keys, then COUNTKEYSINSLOT and GETKEYSINSLOT against a model.
Every server listens on 127.0.0.1 and is stopped by its PID.
"""
import os
import random
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import kvtest  # noqa: E402

checks = harness.Checks("test_cluster")
WAIT_SECONDS = 20


def start_pair(tag, extra=(), kv_dir=None, redis_dir=None, ready=True):
    """kv and redis-server in cluster mode, each with its own dir (nodes.conf there)."""
    kv_dir = kv_dir or tempfile.mkdtemp(prefix=f"kvtest-cluster-{tag}-kv-")
    redis_dir = redis_dir or tempfile.mkdtemp(prefix=f"kvtest-cluster-{tag}-redis-")
    common = ["--bind", "127.0.0.1", "--save", "", "--cluster-enabled", "yes",
              "--cluster-config-file", "nodes.conf"] + list(extra)
    kv_port = harness.free_cluster_port()
    kv = harness.Server([harness.KV_BIN, "--port", str(kv_port), "--dir", kv_dir,
                         "--hugepages", "off"] + common, kv_port, "kv")
    redis_port = harness.free_cluster_port()
    redis = harness.Server(["redis-server", "--port", str(redis_port), "--dir", redis_dir,
                            "--appendonly", "no", "--daemonize", "no"] + common,
                           redis_port, "redis")
    if ready:
        kv.wait_ready()
        redis.wait_ready()
    kv.dir = kv_dir
    redis.dir = redis_dir
    return kv, redis


def mask(reply, server, ids=()):
    """The reply with the server's ports and the given node ids masked (same lengths)."""
    for node_id in ids:
        reply = reply.replace(node_id.encode(), b"I" * 40)
    for port, letter in ((server.port + 10000, b"Q"), (server.port, b"P")):
        text = str(port).encode()
        reply = reply.replace(text, letter * len(text))
    return reply


class Pair:
    """The same commands to kv and Redis, the replies compared after masking."""

    def __init__(self, kv, redis, shared_ids=False):
        self.kv = kv
        self.redis = redis
        self.kv_client = kvtest.RespClient(kv.port)
        self.redis_client = kvtest.RespClient(redis.port)
        self.shared_ids = shared_ids
        self.kv_ids = [] if shared_ids else [myid(self.kv_client)]
        self.redis_ids = [] if shared_ids else [myid(self.redis_client)]

    def both(self, *args):
        got = self.kv_client.call(*args)
        want = self.redis_client.call(*args)
        return (mask(got, self.kv, self.kv_ids), mask(want, self.redis, self.redis_ids))

    def same(self, *args, what=None):
        got, want = self.both(*args)
        checks.equal(got, want, what or " ".join(str(a) for a in args))
        return got

    def close(self):
        self.kv_client.close()
        self.redis_client.close()


def myid(client):
    return client.call("CLUSTER", "MYID").split(b"\r\n")[1].decode()


def wait_state(client, state, seconds=WAIT_SECONDS):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if f"cluster_state:{state}".encode() in client.call("CLUSTER", "INFO"):
            return True
        time.sleep(0.05)
    return False


def disabled_checks():
    kv = harness.start_kv("--hugepages", "off")
    redis = harness.start_redis()
    try:
        a, b = kv.connect(), redis.connect()
        for args in (["CLUSTER", "INFO"], ["CLUSTER", "NODES"], ["CLUSTER", "KEYSLOT", "x"],
                     ["CLUSTER", "INFO", "extra"], ["CLUSTER", "nosuch"], ["CLUSTER"],
                     ["CLUSTER", "HELP"], ["ASKING"], ["READONLY"], ["READWRITE"],
                     ["ASKING", "x"], ["SELECT", "1"]):
            checks.equal(a.call(*args), b.call(*args), "disabled: " + " ".join(args))
        checks.true(b"cluster_enabled:0" in a.call("INFO", "cluster"), "disabled: INFO")
    finally:
        kv.stop()
        redis.stop()


def fresh_checks():
    kv, redis = start_pair("fresh", ["--cluster-node-timeout", "1000"])
    try:
        pair = Pair(kv, redis)
        pair.same("SET", "a", "1", what="no slots: CLUSTERDOWN Hash slot not served")
        pair.same("GET", "a")
        pair.same("PING")
        for args in (["ADDSLOTS", "abc"], ["ADDSLOTS", "-1"], ["ADDSLOTS", "16384"],
                     ["ADDSLOTS", "1", "1"], ["ADDSLOTS", "1", "x"], ["ADDSLOTSRANGE", "1"],
                     ["ADDSLOTSRANGE", "1", "2", "3"], ["ADDSLOTSRANGE", "5", "1"],
                     ["ADDSLOTSRANGE", "1", "3", "3", "4"], ["DELSLOTS", "7"],
                     ["DELSLOTSRANGE", "7", "9"], ["SETSLOT", "1", "NODE", "x" * 40],
                     ["SETSLOT", "1", "MIGRATING", "x" * 40], ["SETSLOT", "99999", "STABLE"],
                     ["SETSLOT", "1", "IMPORTING", "x"], ["SETSLOT", "1", "BOGUS"],
                     ["SETSLOT", "1", "STABLE", "x"], ["SETSLOT", "1"],
                     ["COUNTKEYSINSLOT", "x"], ["COUNTKEYSINSLOT", "16384"],
                     ["COUNTKEYSINSLOT", "-1"], ["GETKEYSINSLOT", "1", "-1"],
                     ["GETKEYSINSLOT", "x", "1"], ["GETKEYSINSLOT", "1", "x"],
                     ["GETKEYSINSLOT", "16384", "1"], ["KEYSLOT"], ["KEYSLOT", "a", "b"],
                     ["FORGET", "x" * 40], ["FORGET", "abc"], ["REPLICATE", "x" * 40],
                     ["REPLICAS", "x" * 40], ["SLAVES", "y"], ["COUNT-FAILURE-REPORTS", "z"],
                     ["FAILOVER"], ["FAILOVER", "FORCE"], ["FAILOVER", "x"],
                     ["FAILOVER", "a", "b"], ["MEET", "1.2.3.4"], ["MEET", "nohost", "1"],
                     ["MEET", "127.0.0.1", "x"], ["MEET", "127.0.0.1", "1", "y"],
                     ["MEET", "127.0.0.1", "0"], ["MEET", "127.0.0.1", "70000"],
                     ["MEET", "127.0.0.1", "1", "2", "3"], ["RESET", "x"],
                     ["RESET", "soft", "x"], ["SET-CONFIG-EPOCH", "x"],
                     ["SET-CONFIG-EPOCH", "-5"], ["SAVECONFIG", "x"], ["NODES", "x"],
                     ["NOSUCH"], ["HELP"], ["LINKS"], ["COUNTKEYSINSLOT", "5"],
                     ["GETKEYSINSLOT", "5", "10"], ["FLUSHSLOTS"], ["SAVECONFIG"]):
            pair.same("CLUSTER", *args)
        for key in ("a", "{user1000}.following", "foo{}{bar}", "{}", "", "x" * 200, "{a}b"):
            pair.same("CLUSTER", "KEYSLOT", key)
        checks.equal(pair.kv_client.call("CLUSTER", "REPLICAS", pair.kv_ids[0]), b"*0\r\n",
                     "REPLICAS myself: empty")
        checks.equal(pair.kv_client.call("CLUSTER", "FORGET", pair.kv_ids[0]),
                     pair.redis_client.call("CLUSTER", "FORGET", pair.redis_ids[0]),
                     "FORGET myself (each its id)")
        checks.equal(pair.kv_client.call("CLUSTER", "SETSLOT", "5", "IMPORTING", pair.kv_ids[0]),
                     pair.redis_client.call("CLUSTER", "SETSLOT", "5", "IMPORTING",
                                            pair.redis_ids[0]),
                     "SETSLOT IMPORTING myself, slot unassigned")
        pair.same("CLUSTER", "SETSLOT", "5", "STABLE")
        pair.same("CLUSTER", "ADDSLOTS", "0", "1", "2")
        pair.same("CLUSTER", "DELSLOTS", "1")
        pair.same("CLUSTER", "ADDSLOTSRANGE", "1", "1", "10", "20")
        pair.same("CLUSTER", "DELSLOTSRANGE", "10", "12", "15", "15")
        pair.same("CLUSTER", "SLOTS")
        pair.same("CLUSTER", "NODES")
        pair.same("CLUSTER", "SHARDS")
        pair.same("CLUSTER", "FLUSHSLOTS")
        pair.same("CLUSTER", "SLOTS", what="SLOTS after FLUSHSLOTS")
        pair.same("CLUSTER", "ADDSLOTSRANGE", "0", "16383")
        checks.true(wait_state(pair.kv_client, "ok"), "kv's state turns ok")
        checks.true(wait_state(pair.redis_client, "ok"), "Redis's state turns ok")
        pair.same("CLUSTER", "INFO")
        pair.same("CLUSTER", "NODES")
        pair.same("CLUSTER", "SLOTS")
        pair.same("CLUSTER", "SHARDS")
        pair.same("CLUSTER", "MYID")
        pair.same("CLUSTER", "COUNT-FAILURE-REPORTS", "x" * 40)
        keyed_checks(pair)
        random_checks(pair)
        epoch_checks(pair)
        for endpoint in ("hostname", "unknown-endpoint", "ip"):
            pair.same("CONFIG", "SET", "cluster-preferred-endpoint-type", endpoint)
            pair.same("CLUSTER", "SLOTS", what=f"SLOTS, endpoint {endpoint}")
            pair.same("CLUSTER", "SHARDS", what=f"SHARDS, endpoint {endpoint}")
        pair.same("CONFIG", "SET", "cluster-announce-hostname", "host.example")
        pair.same("CLUSTER", "NODES", what="NODES with a hostname")
        pair.same("CLUSTER", "SLOTS", what="SLOTS with a hostname")
        pair.same("CLUSTER", "SHARDS", what="SHARDS with a hostname")
        pair.same("CONFIG", "SET", "cluster-announce-hostname", "")
        pair.same("CONFIG", "SET", "cluster-announce-ip", "10.1.2.3")
        pair.same("CLUSTER", "NODES", what="NODES with an announced ip")
        pair.same("CONFIG", "SET", "cluster-announce-ip", "")
        pair.same("CLUSTER", "NODES", what="NODES without the announced ip")
        pair.same("CONFIG", "SET", "cluster-announce-port", "1234")
        pair.same("CONFIG", "SET", "cluster-announce-bus-port", "4321")
        pair.same("CLUSTER", "NODES", what="NODES with announced ports")
        pair.same("CLUSTER", "SLOTS", what="SLOTS with announced ports")
        pair.same("CLUSTER", "SHARDS", what="SHARDS with announced ports")
        pair.same("CONFIG", "SET", "cluster-announce-port", "0")
        pair.same("CONFIG", "SET", "cluster-announce-bus-port", "0")
        pair.same("CLUSTER", "NODES", what="NODES without announced ports")
        pair.same("INFO", "cluster")
        pair.both("HELLO", "3")  # not compared: the client ids differ
        pair.same("CLUSTER", "INFO", what="CLUSTER INFO (RESP3)")
        pair.same("CLUSTER", "NODES", what="CLUSTER NODES (RESP3)")
        pair.same("CLUSTER", "SLOTS", what="CLUSTER SLOTS (RESP3)")
        pair.same("CLUSTER", "SHARDS", what="CLUSTER SHARDS (RESP3)")
        pair.both("HELLO", "2")
        pair.same("FLUSHALL")
        pair.same("CLUSTER", "RESET", "HARD")
        checks.true(myid(pair.kv_client) != pair.kv_ids[0], "RESET HARD: a new node id")
        pair.kv_ids.append(myid(pair.kv_client))
        pair.redis_ids.append(myid(pair.redis_client))
        pair.same("CLUSTER", "NODES", what="NODES after RESET HARD")
        pair.same("CLUSTER", "INFO", what="INFO after RESET HARD")
        pair.close()
    finally:
        kv.stop()
        redis.stop()


def keyed_checks(pair):
    """Commands with keys on a one-node cluster that serves every slot."""
    for args in (["SET", "a", "1"], ["GET", "a"], ["MSET", "a", "1", "b", "2"],
                 ["MSET", "{t}a", "1", "{t}b", "2"], ["MGET", "{t}a", "{t}b"],
                 ["MGET", "a", "b"], ["DEL", "a", "a"], ["DEL", "a", "b"], ["EXISTS", "{t}a"],
                 ["RENAME", "{t}a", "other"], ["RENAME", "{t}a", "{t}c"],
                 ["SUNIONSTORE", "x", "y", "z"], ["SELECT", "1"], ["SELECT", "0"],
                 ["SELECT", "x"], ["SELECT", "99"], ["MOVE", "{t}c", "1"],
                 ["SWAPDB", "0", "1"], ["COPY", "{t}c", "{t}d", "DB", "1"],
                 ["COPY", "{t}c", "{t}d", "DB", "0"], ["COPY", "{t}c", "{t}e"],
                 ["EVAL", "return 1", "2", "a", "b"], ["EVAL", "return 1", "2", "{t}a", "{t}b"],
                 ["EVAL", "return redis.call('get', KEYS[1])", "1", "{t}c"],
                 ["SPUBLISH", "chan", "m"], ["PUBLISH", "chan", "m"], ["SSUBSCRIBE", "a", "b"],
                 ["BLPOP", "l1", "l2", "0"], ["LMOVE", "l1", "l2", "LEFT", "LEFT"],
                 ["XREAD", "STREAMS", "s1", "s2", "0", "0"], ["SORT", "{t}l", "BY", "w*"],
                 ["ZUNIONSTORE", "z", "2", "z1", "z2"], ["PFCOUNT", "h1", "h2"],
                 ["WATCH", "a", "b"], ["UNWATCH"], ["READONLY"], ["READWRITE"],
                 ["ASKING"], ["GET", "a"], ["OBJECT", "ENCODING", "{t}c"],
                 ["CLUSTER", "COUNTKEYSINSLOT", "15495"], ["CLUSTER", "KEYSLOT", "{t}c"],
                 ["CLUSTER", "FLUSHSLOTS"], ["CLUSTER", "RESET"],
                 ["CLUSTER", "SETSLOT", "15495", "NODE", "x" * 40]):
        pair.same(*args)
    slot = int(pair.kv_client.call("CLUSTER", "KEYSLOT", "{t}c")[1:-2])
    pair.same("CLUSTER", "COUNTKEYSINSLOT", str(slot))
    pair.same("CLUSTER", "GETKEYSINSLOT", str(slot), "10")
    pair.same("CLUSTER", "GETKEYSINSLOT", str(slot), "1")
    pair.same("CLUSTER", "GETKEYSINSLOT", str(slot), "0")
    # MULTI: commands across slots fail at EXEC, and the transaction is gone.
    for script in ([["MULTI"], ["SET", "a", "1"], ["SET", "b", "2"], ["EXEC"], ["EXEC"]],
                   [["MULTI"], ["SET", "{t}a", "1"], ["GET", "{t}b"], ["EXEC"]],
                   [["MULTI"], ["MSET", "a", "1", "b", "2"], ["EXEC"]],
                   [["MULTI"], ["SELECT", "1"], ["EXEC"]],
                   [["MULTI"], ["PING"], ["EXEC"]]):
        for args in script:
            pair.same(*args, what="MULTI: " + " ".join(" ".join(a) for a in script))


# Multi-key commands of every family, over keys of three slots and a tag: kv must find the
# keys Redis finds (CROSSSLOT or not) and answer the same.
RANDOM_COMMANDS = [
    "MSET {0} 1 {1} 2", "MGET {0} {1} {2}", "DEL {0} {1}", "EXISTS {0} {1}", "TOUCH {0} {1}",
    "UNLINK {0} {1}", "RENAME {0} {1}", "RENAMENX {0} {1}", "COPY {0} {1} REPLACE",
    "SADD {0} x", "SUNION {0} {1}", "SINTERSTORE {0} {1} {2}", "SMOVE {0} {1} x",
    "SINTERCARD 2 {0} {1}", "ZADD {0} 1 x", "ZUNIONSTORE {0} 2 {1} {2}", "ZINTERCARD 2 {0} {1}",
    "ZRANGESTORE {0} {1} 0 -1", "ZDIFF 2 {0} {1}", "LPUSH {0} x", "LMOVE {0} {1} LEFT RIGHT",
    "RPOPLPUSH {0} {1}", "LMPOP 2 {0} {1} LEFT", "BLMPOP 0.01 2 {0} {1} LEFT",
    "BRPOP {0} {1} 0.01", "BZPOPMIN {0} {1} 0.01", "ZMPOP 2 {0} {1} MIN",
    "XADD {0} 1-* f v", "XREAD STREAMS {0} {1} 0 0", "PFADD {0} x", "PFMERGE {0} {1}",
    "PFCOUNT {0} {1}", "BITOP AND {0} {1} {2}", "SET {0} x", "GET {0}", "SORT {0} STORE {1}",
    "GEOADD {0} 1 1 m", "GEOSEARCHSTORE {0} {1} FROMLONLAT 1 1 BYRADIUS 10 km",
    "GEORADIUS {0} 1 1 10 km STORE {1}", "EVAL return#1 2 {0} {1}", "EVAL_RO return#1 1 {0}",
    "MSETNX {0} 1 {1} 2", "SDIFFSTORE {0} {1}", "ZINTER 2 {0} {1}", "LCS {0} {1}",
    "TYPE {0}", "EXPIRE {0} 100", "WATCH {0} {1}", "UNWATCH",
    "SPUBLISH {0} m",
]
RANDOM_KEYS = ["a", "b", "c", "{t}a", "{t}b", "{t}c", "{a}x"]


def random_checks(pair, count=1500):
    seed = int(os.environ.get("KV_SEED") or random.randrange(1 << 31))
    rng = random.Random(seed)
    print(f"random multi-key commands: seed {seed}")
    for _ in range(count):
        template = rng.choice(RANDOM_COMMANDS)
        keys = [rng.choice(RANDOM_KEYS) for _ in range(3)]
        args = [word.replace("#", " ") for word in template.format(*keys).split(" ")]
        pair.same(*args, what=f"random (seed {seed}): {' '.join(args)}")


def epoch_checks(pair):
    pair.same("CLUSTER", "BUMPEPOCH")
    pair.same("CLUSTER", "BUMPEPOCH")
    pair.same("CLUSTER", "INFO", what="INFO after BUMPEPOCH")
    pair.same("CLUSTER", "SET-CONFIG-EPOCH", "5")
    pair.same("CLUSTER", "RESET", "SOFT", what="RESET SOFT with keys")
    pair.same("FLUSHALL")
    pair.same("CLUSTER", "RESET", "SOFT")
    pair.same("CLUSTER", "INFO", what="INFO after RESET SOFT")
    pair.same("CLUSTER", "SET-CONFIG-EPOCH", "5", what="SET-CONFIG-EPOCH after RESET SOFT")
    pair.same("CLUSTER", "ADDSLOTSRANGE", "0", "16383")
    checks.true(wait_state(pair.kv_client, "ok"), "kv ok again")
    checks.true(wait_state(pair.redis_client, "ok"), "Redis ok again")


# Two nodes from a nodes.conf: myself (the same id on both sides) and one that does not run.
MYSELF_ID = "1" * 40
OTHER_ID = "2" * 40
THIRD_ID = "3" * 40


def two_node_config(port, other_port):
    return (f"{MYSELF_ID} 127.0.0.1:{port}@{port + 10000} myself,master - 0 0 1 connected "
            f"0-8191\n"
            f"{OTHER_ID} 127.0.0.1:{other_port}@{other_port + 10000} master - 0 0 2 connected "
            f"8192-16383\n"
            f"{THIRD_ID} 127.0.0.1:{other_port}@{other_port + 10000} slave {OTHER_ID} 0 0 2 "
            f"connected\n"
            "vars currentEpoch 2 lastVoteEpoch 0\n")


def mask_nodes(text):
    """CLUSTER NODES without what the bus changes (pings, links), lines sorted."""
    lines = []
    for line in text.split(b"\n"):
        fields = line.split(b" ")
        if len(fields) >= 8:
            fields[4] = fields[5] = b"T"
            fields[7] = b"L"
        lines.append(b" ".join(fields))
    return b"\n".join(sorted(lines))


def shards_unordered(pair, what):
    """CLUSTER SHARDS with the shards in any order (Redis walks its nodes' dict)."""
    got = kvtest.decode(pair.kv_client.call("CLUSTER", "SHARDS"))
    want = kvtest.decode(pair.redis_client.call("CLUSTER", "SHARDS"))
    got = sorted(mask(repr(shard).encode(), pair.kv) for shard in got)
    want = sorted(mask(repr(shard).encode(), pair.redis) for shard in want)
    checks.equal(got, want, what)


def same_info(pair, what):
    """CLUSTER INFO's fields but the bus's message counters (Redis tries the other node)."""
    got, want = pair.both("CLUSTER", "INFO")
    got = [line for line in bulk_text(got).split(b"\r\n") if b"messages" not in line]
    want = [line for line in bulk_text(want).split(b"\r\n") if b"messages" not in line]
    checks.equal(got, want, what)


def bulk_text(reply):
    return reply.split(b"\r\n", 1)[1][:-2]


def two_node_checks():
    kv_dir = tempfile.mkdtemp(prefix="kvtest-cluster-two-kv-")
    redis_dir = tempfile.mkdtemp(prefix="kvtest-cluster-two-redis-")
    other_port = harness.free_cluster_port()  # nothing listens there
    kv_port = harness.free_cluster_port()
    redis_port = harness.free_cluster_port()
    with open(os.path.join(kv_dir, "nodes.conf"), "w") as f:
        f.write(two_node_config(kv_port, other_port))
    with open(os.path.join(redis_dir, "nodes.conf"), "w") as f:
        f.write(two_node_config(redis_port, other_port))
    extra = ["--cluster-node-timeout", "100000000"]
    common = ["--bind", "127.0.0.1", "--save", "", "--cluster-enabled", "yes",
              "--cluster-config-file", "nodes.conf"] + extra
    kv = harness.Server([harness.KV_BIN, "--port", str(kv_port), "--dir", kv_dir,
                         "--hugepages", "off"] + common, kv_port, "kv").wait_ready()
    redis = harness.Server(["redis-server", "--port", str(redis_port), "--dir", redis_dir,
                            "--appendonly", "no", "--daemonize", "no"] + common,
                           redis_port, "redis").wait_ready()
    kv.dir, redis.dir = kv_dir, redis_dir
    try:
        pair = Pair(kv, redis, shared_ids=True)
        checks.true(wait_state(pair.kv_client, "ok"), "two nodes: kv ok")
        checks.true(wait_state(pair.redis_client, "ok"), "two nodes: Redis ok")
        got, want = pair.both("CLUSTER", "NODES")
        checks.equal(mask_nodes(bulk_text(got)), mask_nodes(bulk_text(want)), "two nodes: NODES")
        pair.same("CLUSTER", "SLOTS", what="two nodes: SLOTS")
        shards_unordered(pair, "two nodes: SHARDS")
        got = kvtest.decode(pair.kv_client.call("CLUSTER", "REPLICAS", OTHER_ID))
        want = kvtest.decode(pair.redis_client.call("CLUSTER", "REPLICAS", OTHER_ID))
        checks.equal([mask_nodes(line) for line in got], [mask_nodes(line) for line in want],
                     "two nodes: REPLICAS")
        pair.same("CLUSTER", "REPLICAS", THIRD_ID, what="two nodes: REPLICAS of a replica")
        pair.same("CLUSTER", "COUNT-FAILURE-REPORTS", OTHER_ID)
        pair.same("CLUSTER", "SET-CONFIG-EPOCH", "9")
        pair.same("CLUSTER", "REPLICATE", OTHER_ID)
        pair.same("CLUSTER", "REPLICATE", THIRD_ID)
        pair.same("CLUSTER", "REPLICATE", MYSELF_ID)
        pair.same("CLUSTER", "SETSLOT", "100", "MIGRATING", THIRD_ID)
        same_info(pair, "two nodes: INFO")
        # foo is slot 12182 (the other node's), bar 5061 (myself's).
        for args in (["GET", "foo"], ["SET", "foo", "1"], ["SET", "bar", "1"], ["GET", "bar"],
                     ["MGET", "bar", "foo"], ["MGET", "{foo}a", "{foo}b"],
                     ["EVAL", "return 1", "1", "foo"], ["READONLY"], ["GET", "foo"],
                     ["READWRITE"], ["SPUBLISH", "foo", "m"], ["SPUBLISH", "bar", "m"],
                     ["CLUSTER", "COUNTKEYSINSLOT", "5061"]):
            pair.same(*args, what="two nodes: " + " ".join(args))
        for endpoint in ("hostname", "unknown-endpoint", "ip"):
            pair.same("CONFIG", "SET", "cluster-preferred-endpoint-type", endpoint)
            pair.same("GET", "foo", what=f"two nodes: MOVED's endpoint by {endpoint}")
            pair.same("CLUSTER", "SLOTS", what=f"two nodes: SLOTS by {endpoint}")
        for script in ([["MULTI"], ["GET", "foo"], ["SET", "bar", "2"], ["EXEC"]],
                       [["MULTI"], ["SET", "bar", "3"], ["GET", "bar"], ["EXEC"]],
                       [["WATCH", "foo"]], [["MULTI"], ["WATCH", "bar"], ["EXEC"]]):
            for args in script:
                pair.same(*args, what="two nodes: MULTI " + " ".join(args))
        # Migrating: a missing key is asked elsewhere, a present one served, a mix retried.
        for args in (["CLUSTER", "SETSLOT", "5061", "MIGRATING", OTHER_ID], ["GET", "bar"],
                     ["GET", "{bar}missing"], ["MGET", "bar", "{bar}missing"],
                     ["MGET", "{bar}m1", "{bar}m2"], ["SET", "{bar}new", "1"],
                     ["CLUSTER", "SETSLOT", "5061", "STABLE"], ["GET", "{bar}missing"],
                     ["CLUSTER", "SETSLOT", "12182", "MIGRATING", OTHER_ID],
                     ["CLUSTER", "SETSLOT", "5061", "IMPORTING", OTHER_ID],
                     ["CLUSTER", "SETSLOT", "12182", "IMPORTING", OTHER_ID],
                     ["GET", "foo"], ["ASKING"], ["GET", "foo"], ["GET", "foo"], ["ASKING"],
                     ["SET", "foo", "here"], ["ASKING"], ["MGET", "foo", "{foo}missing"],
                     ["ASKING"], ["MGET", "{foo}m1", "{foo}m2"], ["ASKING"], ["GET", "foo"],
                     ["ASKING"], ["GET"], ["GET", "foo"], ["ASKING"], ["NOSUCHCMD"],
                     ["GET", "foo"], ["ASKING"], ["ASKING"], ["GET", "foo"]):
            pair.same(*args, what="open slots: " + " ".join(args))
        got, want = pair.both("CLUSTER", "NODES")
        checks.equal(mask_nodes(bulk_text(got)), mask_nodes(bulk_text(want)),
                     "open slots: NODES shows them")
        # EXEC judges the queue's keys as they are at EXEC: the slot began to migrate since.
        other = Pair(kv, redis, shared_ids=True)
        for queued in (["GET", "{bar}missing"], ["GET", "bar"]):
            pair.same("MULTI")
            pair.same(*queued, what="EXEC after a migration began: queued " + queued[1])
            other.same("CLUSTER", "SETSLOT", "5061", "MIGRATING", OTHER_ID)
            pair.same("EXEC", what="EXEC after a migration began: " + queued[1])
            other.same("CLUSTER", "SETSLOT", "5061", "STABLE")
        pair.same("MULTI")
        pair.same("GET", "bar")
        pair.same("GET", "{bar}missing")
        other.same("CLUSTER", "SETSLOT", "5061", "MIGRATING", OTHER_ID)
        pair.same("EXEC", what="EXEC after a migration began: present and missing keys")
        other.same("CLUSTER", "SETSLOT", "5061", "STABLE")
        pair.same("MULTI")
        pair.same("GET", "bar")
        other.same("CLUSTER", "SETSLOT", "5061", "NODE", OTHER_ID)
        pair.same("EXEC", what="EXEC after its slot moved (keys still here)")
        other.close()
        for args in (["MULTI"], ["ASKING"], ["GET", "foo"], ["EXEC"], ["GET", "foo"]):
            pair.same(*args, what="ASKING in MULTI: " + " ".join(args))
        for args in (["CLUSTER", "SETSLOT", "12182", "NODE", MYSELF_ID], ["GET", "foo"],
                     ["CLUSTER", "SETSLOT", "12182", "NODE", OTHER_ID],
                     ["CLUSTER", "SETSLOT", "12183", "NODE", MYSELF_ID],
                     ["CLUSTER", "SETSLOT", "12183", "NODE", THIRD_ID],
                     ["CLUSTER", "SETSLOT", "12183", "MIGRATING", OTHER_ID],
                     ["CLUSTER", "SETSLOT", "12183", "NODE", OTHER_ID], ["GET", "foo"],
                     ["DEL", "foo"], ["CLUSTER", "SETSLOT", "12182", "NODE", OTHER_ID],
                     ["GET", "foo"]):
            pair.same(*args, what="SETSLOT NODE: " + " ".join(args))
        same_info(pair, "SETSLOT NODE: INFO")
        got, want = pair.both("CLUSTER", "NODES")
        checks.equal(mask_nodes(bulk_text(got)), mask_nodes(bulk_text(want)),
                     "after SETSLOT NODE: NODES")
        pair.same("INFO", "errorstats", what="two nodes: errorstats after the redirections")
        pair.same("CLUSTER", "SLOTS", what="after SETSLOT NODE: SLOTS")
        # The saved files agree (ports, pings and links masked).
        kv_file = open(os.path.join(kv_dir, "nodes.conf"), "rb").read()
        redis_file = open(os.path.join(redis_dir, "nodes.conf"), "rb").read()
        checks.equal(mask_nodes(mask(kv_file, kv)), mask_nodes(mask(redis_file, redis)),
                     "nodes.conf: kv's lines are Redis's")
        # Forget the other node: its slots are nobody's, the cluster is down.
        pair.same("CLUSTER", "FORGET", OTHER_ID)
        pair.same("CLUSTER", "FORGET", OTHER_ID, what="FORGET twice")
        pair.same("CLUSTER", "REPLICAS", THIRD_ID, what="the replica of a forgotten master")
        checks.true(wait_state(pair.kv_client, "fail"), "kv: down after FORGET")
        checks.true(wait_state(pair.redis_client, "fail"), "Redis: down after FORGET")
        for args in (["GET", "bar"], ["GET", "foo"], ["SET", "bar", "1"], ["PING"],
                     ["CONFIG", "SET", "cluster-allow-reads-when-down", "yes"], ["GET", "bar"],
                     ["SET", "bar", "1"], ["GET", "foo"]):
            pair.same(*args, what="down: " + " ".join(args))
        same_info(pair, "down: INFO")
        pair.same("CONFIG", "SET", "cluster-require-full-coverage", "no")
        checks.true(wait_state(pair.kv_client, "ok"), "kv: ok without full coverage")
        checks.true(wait_state(pair.redis_client, "ok"), "Redis: ok without full coverage")
        pair.same("SET", "bar", "1", what="no full coverage: served")
        pair.same("GET", "foo", what="no full coverage: unserved slot")
        pair.close()
    finally:
        kv.stop()
        redis.stop()
    return kv_dir, kv_port


def restart_checks(kv_dir, kv_port):
    """kv's nodes.conf across a restart; a corrupt file is refused as Redis refuses it."""
    before = open(os.path.join(kv_dir, "nodes.conf"), "rb").read()
    kv = harness.Server([harness.KV_BIN, "--port", str(kv_port), "--dir", kv_dir, "--hugepages",
                         "off", "--bind", "127.0.0.1", "--save", "", "--cluster-enabled", "yes",
                         "--cluster-config-file", "nodes.conf"], kv_port, "kv").wait_ready()
    try:
        client = kv.connect()
        nodes = bulk_text(client.call("CLUSTER", "NODES"))
        checks.equal(mask_nodes(nodes.strip(b"\n")),
                     mask_nodes(before.split(b"vars")[0].strip(b"\n")),
                     "restart: CLUSTER NODES is the saved file")
        checks.equal(myid(client), MYSELF_ID, "restart: the node id is kept")
        epoch = re.search(rb"currentEpoch (\d+)", before).group(1)
        checks.true(b"cluster_current_epoch:" + epoch + b"\r\n" in client.call("CLUSTER", "INFO"),
                    "restart: the current epoch is kept")
        client.close()
    finally:
        kv.stop()
    after = open(os.path.join(kv_dir, "nodes.conf"), "rb").read()
    checks.equal(after, before, "restart: nodes.conf unchanged by a restart")
    for corrupt in (b"garbage line\n", b"vars currentEpoch\n",
                    b"1111111111111111111111111111111111111111 127.0.0.1:1@2 master - 0 0 0 "
                    b"connected 0-99999\n",
                    b"1111111111111111111111111111111111111111 127.0.0.1:1@2 bogus - 0 0 0 "
                    b"connected\n",
                    b"1111111111111111111111111111111111111111 127.0.0.1:1@2 master - 0 0 0 "
                    b"connected\n"):
        statuses = []
        for name, argv in (("kv", [harness.KV_BIN, "--hugepages", "off"]),
                           ("redis", ["redis-server", "--daemonize", "no"])):
            directory = tempfile.mkdtemp(prefix="kvtest-cluster-corrupt-")
            with open(os.path.join(directory, "nodes.conf"), "wb") as f:
                f.write(corrupt)
            port = harness.free_cluster_port()
            server = harness.Server(argv + ["--port", str(port), "--dir", directory, "--bind",
                                            "127.0.0.1", "--save", "", "--cluster-enabled", "yes"],
                                    port, name)
            try:
                server.process.wait(timeout=15)
            except Exception:
                pass
            code = server.stop()
            statuses.append((code != 0, "corrupted cluster config file" in server.log_text() or
                             "Unknown flag" in server.log_text()))
            shutil.rmtree(directory, True)
        checks.equal(statuses[0], statuses[1], f"corrupt nodes.conf refused: {corrupt[:40]}")


def crc16_slot(key):
    from redis.crc import key_slot
    return key_slot(key)


def pyredis_checks():
    try:
        import redis
        from redis.cluster import RedisCluster
    except ImportError:
        print("python3-redis is not installed: RedisCluster checks skipped")
        return
    kv, redis_server = start_pair("pyredis", ["--cluster-node-timeout", "1000"])
    redis_server.stop()
    try:
        client = kv.connect()
        client.call("CLUSTER", "ADDSLOTSRANGE", "0", "16383")
        checks.true(wait_state(client, "ok"), "pyredis: kv ok")
        rc = RedisCluster(host="127.0.0.1", port=kv.port, decode_responses=True)
        checks.equal(rc.set("a", "1"), True, "pyredis: set")
        checks.equal(rc.get("a"), "1", "pyredis: get")
        checks.equal(rc.mset_nonatomic({"k1": "v1", "k2": "v2", "k3": "v3"}), [True] * 3,
                     "pyredis: mset_nonatomic")
        checks.equal(rc.mget_nonatomic(["k1", "k2", "k3", "nokey"]), ["v1", "v2", "v3", None],
                     "pyredis: mget_nonatomic")
        checks.equal(rc.lpush("list", "a", "b"), 2, "pyredis: lists")
        checks.equal(rc.lrange("list", 0, -1), ["b", "a"], "pyredis: lrange")
        checks.equal(rc.hset("hash", mapping={"f": "v"}), 1, "pyredis: hashes")
        checks.equal(rc.hgetall("hash"), {"f": "v"}, "pyredis: hgetall")
        checks.equal(rc.sadd("set", "x", "y"), 2, "pyredis: sets")
        checks.equal(sorted(rc.smembers("set")), ["x", "y"], "pyredis: smembers")
        checks.equal(rc.zadd("zset", {"m": 1.5}), 1, "pyredis: sorted sets")
        checks.equal(rc.zrange("zset", 0, -1, withscores=True), [("m", 1.5)], "pyredis: zrange")
        checks.true(rc.xadd("stream", {"f": "v"}) is not None, "pyredis: streams")
        checks.equal(rc.xlen("stream"), 1, "pyredis: xlen")
        checks.equal(rc.pfadd("hll", "a", "b"), 1, "pyredis: hyperloglog")
        checks.equal(rc.geoadd("geo", [13.361389, 38.115556, "Palermo"]), 1, "pyredis: geo")
        checks.equal(rc.setbit("bits", 7, 1), 0, "pyredis: bits")
        checks.equal(rc.expire("a", 100), True, "pyredis: expire")
        checks.true(0 < rc.ttl("a") <= 100, "pyredis: ttl")
        checks.equal(rc.incr("counter"), 1, "pyredis: incr")
        checks.equal(rc.eval("return redis.call('get', KEYS[1])", 1, "k1"), "v1", "pyredis: eval")
        checks.equal(rc.keyslot("foo"), 12182, "pyredis: keyslot")
        checks.equal(rc.cluster_keyslot("foo"), 12182, "pyredis: CLUSTER KEYSLOT")
        pipe = rc.pipeline()
        for index in range(100):
            pipe.set(f"p{index}", index)
        pipe.get("p42")
        results = pipe.execute()
        checks.equal(results[-1], "42", "pyredis: pipeline")
        node = rc.get_node_from_key("{tx}a")
        direct = rc.get_redis_connection(node)
        with direct.pipeline(transaction=True) as tx:
            tx.set("{tx}a", "1").incr("{tx}b").mget("{tx}a", "{tx}b")
            checks.equal(tx.execute(), [True, 1, ["1", "1"]], "pyredis: MULTI in one slot")
        try:
            with direct.pipeline(transaction=True) as tx:
                tx.set("{tx}a", "1").set("{other}b", "2")
                tx.execute()
            checks.true(False, "pyredis: MULTI across slots fails")
        except redis.exceptions.ResponseError as error:
            checks.true("CROSSSLOT" in str(error) or "same slot" in str(error),
                        f"pyredis: MULTI across slots: CROSSSLOT ({error})")
        rc.flushall()
        # 100,000 keys, then the per-slot counts and key lists against a model.
        model = {}
        pipe = rc.pipeline()
        for index in range(100000):
            key = f"key:{index}" if index % 10 else f"{{hot}}:{index}"
            model.setdefault(crc16_slot(key.encode()), []).append(key)
            pipe.set(key, index)
            if index % 5000 == 4999:
                pipe.execute()
        pipe.execute()
        checks.equal(rc.dbsize(), 100000, "pyredis: 100,000 keys")
        wrong_counts = 0
        wrong_lists = 0
        for slot in range(16384):
            keys = model.get(slot, [])
            count = rc.cluster_countkeysinslot(slot)
            wrong_counts += count != len(keys)
            if slot % 7 == 0 or slot == crc16_slot(b"{hot}"):
                got = rc.execute_command("CLUSTER GETKEYSINSLOT", slot, len(keys) + 5)
                wrong_lists += sorted(got) != sorted(keys)
        checks.equal(wrong_counts, 0, "pyredis: COUNTKEYSINSLOT of every slot")
        checks.equal(wrong_lists, 0, "pyredis: GETKEYSINSLOT of every 7th slot and {hot}'s")
        hot = crc16_slot(b"{hot}")
        got = rc.execute_command("CLUSTER GETKEYSINSLOT", hot, 3)
        checks.equal(len(got), 3, "pyredis: GETKEYSINSLOT count bounds the answer")
        rc.close()
        client.close()
    finally:
        kv.stop()


def main():
    if shutil.which("redis-server") is None:
        print("redis-server is not installed")
        sys.exit(harness.SKIP)
    disabled_checks()
    fresh_checks()
    kv_dir, kv_port = two_node_checks()
    restart_checks(kv_dir, kv_port)
    pyredis_checks()
    checks.exit()


if __name__ == "__main__":
    main()
