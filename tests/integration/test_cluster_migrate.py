"""MIGRATE between instances, and resharding a kv cluster with redis-cli (issue 18).

What it proves, and how:
- (a) MIGRATE between two standalone kv instances answers byte for byte what the same
  MIGRATE answers between two redis-server 7.0 instances, and leaves the same keys on both
  sides: a key, KEYS with a missing key among them, +NOKEY, BUSYKEY from the target, COPY,
  REPLACE, a TTL carried over, AUTH and AUTH2 (right, wrong, missing; the cached connection
  stays authenticated, as Redis's), a target's SELECT error, a cached connection the target
  closed (retried once), the option errors, a refused connection, a target that never answers (the
  timeout), and a value larger than the stream's buffer.
- (b) kv -> redis-server: a key MIGRATE sends is read back from Redis.
- (c) Three kv nodes formed by `redis-cli --cluster create`: `redis-cli --cluster reshard`
  moves 500 slots and their keys (COUNTKEYSINSLOT before and after, every key readable
  through a small cluster client (MOVED, ASK,
  TRYAGAIN)), then a second reshard runs while a writer thread writes:
  every acknowledged write is there after, and `redis-cli --cluster check` is clean; then
  `redis-cli --cluster rebalance` evens the slots and every key is still there. redis-py's
  RedisCluster (Debian's python3-redis) writes every family over the three nodes (hashes,
  lists, sets, sorted sets, streams, counters; half in one cluster pipeline) and a MULTI/EXEC
  on the node of one tag's slot, and after the reshard reads them all back with its slot map
  from before (following MOVED).
Every server listens on 127.0.0.1 and is stopped by its PID.
"""
import logging
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import kvtest  # noqa: E402
import test_cluster_bus as bus  # noqa: E402

redis = kvtest.need_pyredis()   # Debian's python3-redis (re-runs under /usr/bin/python3)
# redis-py 4.3 logs every MOVED it follows with a traceback; following them is the point here.
logging.getLogger("redis.cluster").setLevel(logging.CRITICAL + 1)

checks = harness.Checks("test_cluster_migrate")
bus.checks = checks


def call(port, *args):
    client = harness.Client(port)
    try:
        return client.call(*args)
    finally:
        client.close()


def scenario(src, dst, silent_port):
    """The replies of one MIGRATE scenario from `src` to `dst` (ports), in order."""
    replies = []

    def s(*args):
        replies.append((" ".join(str(a) for a in args)[:60], call(src, *args)))

    def d(*args):
        replies.append(("dst " + " ".join(str(a) for a in args)[:60], call(dst, *args)))

    host = "127.0.0.1"
    s("SET", "a", "1")
    s("RPUSH", "l", "x", "y", "z")
    s("HSET", "h", "f", "v")
    s("SET", "e", "5", "PX", "100000")
    s("ZADD", "z", "1", "m")
    s("SADD", "set", "m1", "m2")
    s("MIGRATE", host, dst, "a", "0", "1000")
    s("EXISTS", "a")
    d("GET", "a")
    s("MIGRATE", host, dst, "", "0", "1000", "KEYS", "l", "h", "nokey")
    s("EXISTS", "l", "h")
    d("LRANGE", "l", "0", "-1")
    d("HGETALL", "h")
    s("MIGRATE", host, dst, "missing", "0", "1000")
    s("MIGRATE", host, dst, "", "0", "1000", "KEYS", "m1", "m2")
    s("SET", "a", "2")
    s("MIGRATE", host, dst, "a", "0", "1000")
    s("GET", "a")
    s("MIGRATE", host, dst, "a", "0", "1000", "COPY", "REPLACE")
    s("GET", "a")
    d("GET", "a")
    s("MIGRATE", host, dst, "e", "0", "1000")
    d("EXISTS", "e")
    replies.append(("dst PTTL e carried", 90000 < int(call(dst, "PTTL", "e")[1:-2]) <= 100000))
    s("MIGRATE", host, dst, "", "0", "1000", "COPY", "KEYS", "z", "set")
    s("EXISTS", "z", "set")
    d("ZRANGE", "z", "0", "-1", "WITHSCORES")
    d("SORT", "set", "ALPHA")
    s("MIGRATE", host, dst, "a", "0", "1000", "REPLACE", "AUTH", "pw")
    d("CONFIG", "SET", "requirepass", "pw")
    s("MIGRATE", host, dst, "a", "0", "1000", "REPLACE", "COPY", "AUTH", "pw")
    s("MIGRATE", host, dst, "a", "0", "1000", "REPLACE", "COPY", "AUTH", "wrong")
    s("MIGRATE", host, dst, "a", "0", "1000", "REPLACE", "COPY", "AUTH2", "default", "pw")
    s("MIGRATE", host, dst, "a", "0", "1000", "REPLACE", "COPY")  # the cached, authed socket
    client = harness.Client(dst)
    try:
        client.call("AUTH", "pw")
        client.call("CONFIG", "SET", "requirepass", "")
    finally:
        client.close()
    s("MIGRATE", host, dst, "a", "99", "1000", "REPLACE", "COPY")
    s("MIGRATE", host, dst, "a", "1", "1000", "COPY")
    d("SELECT", "1")
    s("MIGRATE", host, dst, "a", "0", "1000", "bogus")
    s("MIGRATE", host, dst, "a", "0", "1000", "KEYS", "a")
    s("MIGRATE", host, dst, "a", "0", "1000", "AUTH")
    s("MIGRATE", host, dst, "a", "0", "1000", "AUTH2", "u")
    s("MIGRATE", host, dst, "a", "0", "x")
    s("MIGRATE", host, dst, "a", "x", "1000")
    s("MIGRATE", host, dst, "a")
    s("MIGRATE", "no-such-host.invalid", dst, "a", "0", "300")
    s("MIGRATE", host, str(harness.free_port()), "a", "0", "300")
    started = time.monotonic()
    s("MIGRATE", host, silent_port, "a", "0", "300", "COPY")
    replies.append(("the timeout held", 0.2 < time.monotonic() - started < 5))
    s("EXISTS", "a")
    s("SET", "big", "v" * 200000)
    s("MIGRATE", host, dst, "big", "0", "5000")
    d("STRLEN", "big")
    s("EXISTS", "big")
    # The target closes the cached connection: the next MIGRATE retries on a new one.
    d("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    s("SET", "retried", "1")
    s("MIGRATE", host, dst, "retried", "0", "1000")
    d("GET", "retried")
    s("SET", "nx", "1")
    s("MIGRATE", host, dst, "", "0", "1000", "KEYS", "nx", "a")
    d("GET", "nx")
    s("DBSIZE")
    d("DBSIZE")
    return replies


def test_standalone():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # connects complete in the kernel; nothing ever answers
    silent_port = silent.getsockname()[1]
    with harness.start_redis() as r1, harness.start_redis() as r2, \
            harness.start_kv() as k1, harness.start_kv() as k2:
        want = scenario(r1.port, r2.port, silent_port)
        got = scenario(k1.port, k2.port, silent_port)
        for (what, redis_reply), (_, kv_reply) in zip(want, got):
            checks.equal(kv_reply, redis_reply, f"(a) {what}")
        checks.equal(len(got), len(want), "(a) as many steps")
        # (b) kv -> redis-server.
        call(k1.port, "RPUSH", "tored", "1", "2")
        checks.equal(call(k1.port, "MIGRATE", "127.0.0.1", r1.port, "tored", "0", "1000"),
                     b"+OK\r\n", "(b) kv MIGRATEs to redis-server")
        checks.equal(call(r1.port, "LRANGE", "tored", "0", "-1"), b"*2\r\n$1\r\n1\r\n$1\r\n2\r\n",
                     "(b) redis-server holds the list")
        checks.equal(call(k1.port, "PING"), b"+PONG\r\n", "(a) kv serves on")
    silent.close()


class MiniCluster:
    """A small cluster client (python3-redis may be absent): a slot map from CLUSTER SLOTS,
    -MOVED updates it and retries, -ASK retries once with ASKING on the named node,
    -TRYAGAIN waits and retries. Raises on any other error."""

    def __init__(self, port):
        self.clients = {}
        self.owner = bus.slots_owner(type("N", (), {"port": port})())

    def client(self, port):
        if port not in self.clients:
            self.clients[port] = harness.Client(port)
        return self.clients[port]

    def call(self, *args):
        slot = bus.keyslot(args[1])
        port = self.owner.get(slot)
        asking = False
        for _ in range(50):  # bounded redirections
            client = self.client(port)
            if asking:
                client.call("ASKING")
            reply = client.call(*args)
            asking = False
            if reply.startswith(b"-MOVED ") or reply.startswith(b"-ASK "):
                target = int(reply.split()[2].rsplit(b":", 1)[1])
                if reply.startswith(b"-MOVED "):
                    self.owner[slot] = target
                asking = reply.startswith(b"-ASK ")
                port = target
                continue
            if reply.startswith(b"-TRYAGAIN"):
                time.sleep(0.05)
                continue
            if reply.startswith(b"-"):
                raise RuntimeError(reply)
            return reply
        raise RuntimeError(f"too many redirections for {args}")

    def set(self, key, value):
        return self.call("SET", key, value)

    def get(self, key):
        reply = self.call("GET", key)
        return None if reply == b"$-1\r\n" else reply.split(b"\r\n")[1].decode()

    def close(self):
        for client in self.clients.values():
            client.close()


def node_id(node):
    return node.text("CLUSTER", "MYID")


def count_keys(nodes):
    """Keys per node, summed over COUNTKEYSINSLOT of the slots each owns."""
    total = {}
    for node in nodes:
        owned = [slot for slot, port in bus.slots_owner(node).items() if port == node.port]
        client = harness.Client(node.port)
        try:
            total[node.port] = sum(int(client.call("CLUSTER", "COUNTKEYSINSLOT", slot)[1:-2])
                                   for slot in owned)
        finally:
            client.close()
    return total


def reshard(nodes, source, target, slots):
    result = bus.redis_cli("--cluster", "reshard", f"127.0.0.1:{nodes[0].port}",
                           "--cluster-from", node_id(source), "--cluster-to", node_id(target),
                           "--cluster-slots", slots, "--cluster-yes", timeout=300)
    checks.equal(result.returncode, 0, f"(c) reshard {slots} slots exits 0: "
                                       f"{result.stdout[-800:]}{result.stderr[-500:]}")
    return result


FAMILY_COUNT = 100


def write_families(py):
    """Keys of every family through RedisCluster, half of them in one pipeline, and a MULTI
    on the node that serves the {tx} tag; returns the number of keys written."""
    pipe = py.pipeline()
    for index in range(FAMILY_COUNT):
        target = pipe if index % 2 else py
        target.hset(f"h:{index}", mapping={"f": index, "g": "x"})
        target.rpush(f"l:{index}", "a", "b", index)
        target.sadd(f"s:{index}", "m1", "m2", index)
        target.zadd(f"z:{index}", {"a": 1, "b": index})
        target.xadd(f"x:{index}", {"f": index}, id=f"{index + 1}-1")
        target.incrby(f"c:{index}", index)
    replies = pipe.execute()
    checks.true(all(reply not in (None, False) for reply in replies),
                f"(c) redis-py: a cluster pipeline of {len(replies)} writes over every node")
    node = py.get_node_from_key("{tx}:a")
    direct = redis.Redis(host="127.0.0.1", port=node.port, socket_timeout=30)
    transaction = direct.pipeline(transaction=True)
    transaction.set("{tx}:a", "1").incr("{tx}:b").get("{tx}:a")
    checks.equal(transaction.execute(), [True, 1, b"1"],
                 "(c) redis-py: MULTI/EXEC on the node of the {tx} slot")
    direct.close()
    return FAMILY_COUNT * 6 + 2


def read_families(py):
    """What differs from write_families's data, read through RedisCluster (empty: nothing)."""
    wrong = []
    for index in range(FAMILY_COUNT):
        got = [py.hgetall(f"h:{index}"), py.lrange(f"l:{index}", 0, -1),
               sorted(py.smembers(f"s:{index}")), py.zrange(f"z:{index}", 0, -1, withscores=True),
               [entry[0] for entry in py.xrange(f"x:{index}")], py.get(f"c:{index}")]
        want = [{b"f": str(index).encode(), b"g": b"x"}, [b"a", b"b", str(index).encode()],
                sorted([b"m1", b"m2", str(index).encode()]),
                sorted([(b"a", 1.0), (b"b", float(index))], key=lambda pair: (pair[1], pair[0])),
                [f"{index + 1}-1".encode()], str(index).encode()]
        if got != want:
            wrong.append((index, got, want))
    if py.get("{tx}:a") != b"1" or py.get("{tx}:b") != b"1":
        wrong.append(("{tx}", py.get("{tx}:a"), py.get("{tx}:b")))
    return wrong[:3]


def test_cluster():
    nodes = bus.start_nodes()
    try:
        addresses = [f"127.0.0.1:{node.port}" for node in nodes]
        result = bus.redis_cli("--cluster", "create", *addresses, "--cluster-yes")
        checks.equal(result.returncode, 0, "(c) redis-cli --cluster create exits 0")
        bus.wait_for(lambda: all(node.info().get("cluster_state") == "ok" for node in nodes),
                     "(c) every node's cluster_state is ok")
        cluster = MiniCluster(nodes[0].port)
        keys = [f"key:{index}" for index in range(3000)]
        for key in keys:
            cluster.set(key, key)
        # redis-py's RedisCluster over the three nodes: every family, a pipeline, MULTI in
        # one slot; its slot map, taken now, is stale after the reshard (MOVED, below).
        py = redis.RedisCluster(host="127.0.0.1", port=nodes[0].port, socket_timeout=30)
        families = write_families(py)
        before = count_keys(nodes)
        checks.equal(sum(before.values()), len(keys) + families,
                     "(c) COUNTKEYSINSLOT sums to every key")
        reshard(nodes, nodes[0], nodes[1], 500)
        checks.equal(read_families(py), [], "(c) redis-py, its slot map from before the "
                                            "reshard: every family reads back (MOVED followed)")
        after = count_keys(nodes)
        checks.equal(sum(after.values()), len(keys) + families,
                     "(c) after the reshard: every key counted")
        checks.true(after[nodes[0].port] < before[nodes[0].port] and
                    after[nodes[1].port] > before[nodes[1].port],
                    f"(c) keys moved with the slots: {before} -> {after}")
        owners = bus.slots_owner(nodes[2])
        checks.equal(sum(1 for port in owners.values() if port == nodes[0].port), 5461 - 500,
                     "(c) node 0 gave up 500 of its 5461 slots")
        cluster = MiniCluster(nodes[2].port)
        checks.true(all(cluster.get(key) == key for key in keys),
                    "(c) every key reads back through the cluster client")
        # A reshard under a live write load.
        acknowledged = {}
        stop = threading.Event()
        errors = []

        def writer():
            client = MiniCluster(nodes[0].port)
            index = 0
            while not stop.is_set():
                key = f"live:{index % 2000}"
                value = str(index)
                try:
                    client.set(key, value)
                    acknowledged[key] = value
                except (RuntimeError, OSError, harness.Closed) as error:
                    errors.append(repr(error))
                index += 1

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            time.sleep(0.5)
            reshard(nodes, nodes[1], nodes[2], 500)
            time.sleep(0.5)
        finally:
            stop.set()
            thread.join(60)
        checks.true(len(acknowledged) > 100, f"(c) the writer wrote: {len(acknowledged)} keys, "
                                             f"{len(errors)} errors {errors[:3]}")
        lost = [key for key, value in acknowledged.items() if cluster.get(key) != value]
        checks.equal(lost, [], "(c) every acknowledged write is there after the live reshard")
        checks.true(all(cluster.get(key) == key for key in keys),
                    "(c) the first keys are all there still")
        result = bus.redis_cli("--cluster", "check", addresses[0])
        checks.true(result.returncode == 0 and "[OK] All 16384 slots covered." in result.stdout
                    and "[WARNING]" not in result.stdout,
                    f"(c) redis-cli --cluster check is clean: {result.stdout[-800:]}")
        # rebalance: the reshards left 4961, 5462 and 5961 slots.
        result = bus.redis_cli("--cluster", "rebalance", addresses[0], "--cluster-yes",
                               timeout=300)
        checks.equal(result.returncode, 0, f"(c) rebalance exits 0: {result.stdout[-800:]}"
                                           f"{result.stderr[-500:]}")
        owners = bus.slots_owner(nodes[0])
        counts = sorted(sum(1 for port in owners.values() if port == node.port)
                        for node in nodes)
        checks.true(counts[-1] - counts[0] <= 2 and sum(counts) == 16384,
                    f"(c) rebalance evens the slots: {counts}")
        after = count_keys(nodes)
        checks.equal(sum(after.values()), len(keys) + families + len(acknowledged),
                     "(c) after the rebalance: every key counted")
        checks.true(all(cluster.get(key) == key for key in keys) and
                    all(cluster.get(key) == value for key, value in acknowledged.items()),
                    "(c) every key reads back after the rebalance")
    finally:
        bus.stop_nodes(nodes)


if __name__ == "__main__":
    test_standalone()
    test_cluster()
    checks.exit()
