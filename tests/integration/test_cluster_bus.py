"""The cluster bus between kv instances: three kv nodes on loopback form one cluster.

What it proves, and how:
- (a) CLUSTER MEET: two nodes meet the first; within a bounded wait every node's CLUSTER
  NODES lists all three, connected, no handshake left; CLUSTER LINKS and CLUSTER INFO's
  message counters show the bus.
- (b) Redis 7.0's own `redis-cli --cluster create ... --cluster-yes` against three fresh kv
  nodes succeeds (slots, config epochs, MEET, the wait for a consistent configuration), and
  `redis-cli --cluster check` finds every slot covered and every node agreeing; later
  `--cluster info`, and `--cluster add-node` joins a fourth, empty node.
- (c) redis-py's RedisCluster (Debian's python3-redis): 10,000 keys set and read back, each
  on the node CLUSTER KEYSLOT and CLUSTER SLOTS name.
- (d) `redis-benchmark --cluster -t set,get -n 20000` runs without errors.
- (e) CLUSTER SETSLOT <slot> NODE <other> on every node moves an empty slot; clients follow
  MOVED to the new owner, and every node agrees.
- (f) A node stopped and started again keeps its view from nodes.conf and reconnects.
- (g) Garbage, and a message longer than a link's buffer, on the bus port close that link
  only: the node keeps serving and stays in the cluster.
- (i) Failure detection: a stopped master is flagged fail? after cluster-node-timeout, then
  fail once a majority of the masters report it (FAIL told to all), the cluster goes down;
  started again, its FAIL is cleared and the cluster is ok.
- (h) The messages are Redis 7.0's byte for byte: a kv node and a redis-server 7.0 node meet
  (both ways round; Redis's pings with the hostname extension) and each lists the other,
  connected, with its slots.
Every server listens on 127.0.0.1 and is stopped by its PID.
"""
import os
import random
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

checks = harness.Checks("test_cluster_bus")
WAIT_SECONDS = 30
NODES = 3


def call(port, *args):
    """One command's raw reply on a fresh connection."""
    client = harness.Client(port)
    try:
        return client.call(*args)
    finally:
        client.close()


class Node:
    """One kv in cluster mode, its dir (nodes.conf) kept across restarts."""

    def __init__(self, index, port=None, directory=None):
        self.index = index
        self.port = port or harness.free_cluster_port()
        self.directory = directory or tempfile.mkdtemp(prefix=f"kvtest-bus-{index}-")
        self.server = None

    def start(self):
        args = [harness.KV_BIN, "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
                self.directory, "--save", "", "--hugepages", "off", "--cluster-enabled", "yes",
                "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000"]
        self.server = harness.Server(args, self.port, f"kv-bus-{self.index}").wait_ready()
        return self

    def stop(self):
        if self.server is not None:
            status = self.server.stop()
            if checks.equal(status, 0, f"node {self.index} (pid {self.server.pid}) stops "
                                       f"cleanly; log {self.server.log_path}"):
                os.unlink(self.server.log_path)
            self.server = None

    def text(self, *args):
        """A command's bulk or status reply as text."""
        raw = call(self.port, *args)
        if raw.startswith(b"$"):
            return raw.split(b"\r\n", 1)[1][:-2].decode()
        if raw.startswith(b"="):  # RESP3 verbatim: never asked here
            return raw.split(b"\r\n", 1)[1][4:-2].decode()
        return raw.decode().strip()

    def nodes(self):
        return [line.split() for line in self.text("CLUSTER", "NODES").splitlines() if line]

    def info(self):
        return dict(line.split(":", 1) for line in self.text("CLUSTER", "INFO").splitlines()
                    if ":" in line)


def start_nodes():
    nodes = [Node(index) for index in range(NODES)]
    for node in nodes:
        node.start()
    return nodes


def stop_nodes(nodes):
    for node in nodes:
        node.stop()
    for node in nodes:
        shutil.rmtree(node.directory, True)


def formed(nodes):
    """Every node knows every node, each link connected, no handshake left."""
    ids = set()
    for node in nodes:
        lines = node.nodes()
        if len(lines) != len(nodes):
            return False
        if any(line[7] != "connected" or "handshake" in line[2] for line in lines):
            return False
        ids.add(tuple(sorted(line[0] for line in lines)))
    return len(ids) == 1


def wait_for(condition, what, seconds=WAIT_SECONDS):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            checks.true(True, what)
            return True
        time.sleep(0.1)
    checks.true(False, f"{what} (within {seconds} s)")
    return False


def slot_map(nodes):
    """Each node's view: {node id: slot ranges}, from CLUSTER NODES."""
    views = []
    for node in nodes:
        views.append(sorted((line[0], tuple(line[8:])) for line in node.nodes()))
    return views


def agree(nodes):
    views = slot_map(nodes)
    return all(view == views[0] for view in views)


def redis_cli(*args, timeout=120):
    return subprocess.run(["redis-cli"] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout)


def test_meet():
    nodes = start_nodes()
    try:
        checks.equal(len(nodes[0].nodes()), 1, "(a) a fresh node knows only itself")
        for node in nodes[1:]:
            checks.equal(node.text("CLUSTER", "MEET", "127.0.0.1", nodes[0].port), "+OK",
                         f"(a) node {node.index} meets node 0")
        wait_for(lambda: formed(nodes), "(a) every node lists all three, connected")
        for node in nodes:
            info = node.info()
            checks.equal(info.get("cluster_known_nodes"), "3", f"(a) node {node.index} knows 3")
            checks.true(int(info.get("cluster_stats_messages_sent", 0)) > 0 and
                        int(info.get("cluster_stats_messages_received", 0)) > 0,
                        f"(a) node {node.index} counts bus messages: {info}")
            checks.true(int(info.get("cluster_stats_messages_pong_received", 0)) > 0,
                        f"(a) node {node.index} counts PONGs by type")
            links = call(node.port, "CLUSTER", "LINKS")
            checks.true(links.startswith(b"*") and int(links[1:links.index(b"\r")]) >= 2 and
                        b"direction" in links and b"send-buffer-used" in links,
                        f"(a) node {node.index}'s CLUSTER LINKS lists its links")
        with open(os.path.join(nodes[0].directory, "nodes.conf")) as f:
            conf = f.read()
        checks.equal(len([line for line in conf.splitlines() if not line.startswith("vars")]),
                     3, "(a) nodes.conf holds the three nodes")
        # A second MEET to a known node changes nothing.
        nodes[1].text("CLUSTER", "MEET", "127.0.0.1", nodes[0].port)
        time.sleep(1.5)
        checks.true(formed(nodes), "(a) a MEET to a known node leaves three nodes, after the "
                                   "handshake node it made is dropped")
    finally:
        stop_nodes(nodes)


def keyslot(key):
    """Redis's CRC16 slot with hash tags."""
    data = key.encode() if isinstance(key, str) else key
    start = data.find(b"{")
    if start >= 0:
        end = data.find(b"}", start + 1)
        if end > start + 1:
            data = data[start + 1:end]
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc % 16384


def slots_owner(node):
    """slot -> port from CLUSTER SLOTS (through redis-cli's plain output)."""
    owner = {}
    result = redis_cli("-p", node.port, "--no-raw", "CLUSTER", "SLOTS")
    ranges = re.findall(r'^\s*\d+\) 1\) \(integer\) (\d+)\n\s+2\) \(integer\) (\d+)\n'
                        r'\s+3\) 1\) "[^"]*"\n\s+2\) \(integer\) (\d+)', result.stdout, re.M)
    for first, last, port in ranges:
        for slot in range(int(first), int(last) + 1):
            owner[slot] = int(port)
    return owner


def test_tools():
    nodes = start_nodes()
    try:
        addresses = [f"127.0.0.1:{node.port}" for node in nodes]
        result = redis_cli("--cluster", "create", *addresses, "--cluster-yes")
        checks.equal(result.returncode, 0,
                     f"(b) redis-cli --cluster create exits 0: {result.stdout[-1500:]}"
                     f"{result.stderr[-500:]}")
        checks.true("[OK] All 16384 slots covered." in result.stdout,
                    "(b) redis-cli --cluster create: every slot covered")
        result = redis_cli("--cluster", "check", addresses[1])
        checks.true(result.returncode == 0 and "[OK] All 16384 slots covered." in
                    result.stdout and "[OK] All nodes agree about slots configuration." in
                    result.stdout, f"(b) redis-cli --cluster check: {result.stdout[-800:]}")
        wait_for(lambda: all(node.info().get("cluster_state") == "ok" for node in nodes),
                 "(b) every node's cluster_state is ok")
        for node in nodes:
            info = node.info()
            checks.equal((info.get("cluster_size"), info.get("cluster_known_nodes"),
                          info.get("cluster_slots_assigned")), ("3", "3", "16384"),
                         f"(b) node {node.index}: size, known nodes, slots")
        epochs = sorted(node.info().get("cluster_my_epoch") for node in nodes)
        checks.equal(epochs, ["1", "2", "3"], "(b) each node has its own config epoch")
        test_redis_py(nodes)
        test_benchmark(nodes)
        test_setslot(nodes)
        test_restart(nodes)
        test_garbage(nodes)
        test_add_node(nodes)
        test_failure(nodes)
    finally:
        stop_nodes(nodes)


def test_redis_py(nodes):
    try:
        import redis
        from redis.cluster import RedisCluster
    except ImportError:
        print("python3-redis is not installed: (c) skipped")
        return
    rc = RedisCluster(host="127.0.0.1", port=nodes[0].port, decode_responses=True)
    keys = [f"bus:{index}" for index in range(10000)]
    for index, key in enumerate(keys):
        rc.set(key, index)
    wrong = [key for index, key in enumerate(keys) if rc.get(key) != str(index)]
    checks.equal(wrong[:5], [], "(c) RedisCluster reads back the 10,000 keys")
    owner = slots_owner(nodes[1])
    checks.equal(len(owner), 16384, "(c) CLUSTER SLOTS covers every slot")
    plain = {node.port: redis.Redis(host="127.0.0.1", port=node.port) for node in nodes}
    pipe = plain[nodes[2].port].pipeline(transaction=False)
    for key in keys:
        pipe.execute_command("CLUSTER", "KEYSLOT", key)
    slots = pipe.execute()
    checks.equal([s for s, key in zip(slots, keys) if s != keyslot(key)][:5], [],
                 "(c) CLUSTER KEYSLOT is Redis's CRC16")
    by_port = {}
    for key, slot in zip(keys, slots):
        by_port.setdefault(owner[slot], []).append(key)
    for port, owned in by_port.items():
        pipe = plain[port].pipeline(transaction=False)
        for key in owned:
            pipe.execute_command("GET", key)
        values = pipe.execute()
        checks.true(all(v is not None for v in values),
                    f"(c) node {port} holds each of its {len(owned)} keys")
    total = sum(plain[node.port].dbsize() for node in nodes)
    checks.equal(total, 10000, "(c) the nodes hold 10,000 keys in all, none twice")
    rc.close()


def test_benchmark(nodes):
    if shutil.which("redis-benchmark") is None:
        print("redis-benchmark is not installed: (d) skipped")
        return
    result = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(nodes[0].port),
                             "--cluster", "-t", "set,get", "-n", "20000", "-q"],
                            capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    checks.true(result.returncode == 0 and re.search(r"SET: [\d.]+ requests per second", output)
                and re.search(r"GET: [\d.]+ requests per second", output) and
                "rror" not in output, f"(d) redis-benchmark --cluster: {output[-600:]}")


def test_setslot(nodes):
    source, target = nodes[0], nodes[1]
    my_slots = [int(part) for line in source.nodes() if "myself" in line[2]
                for part in line[8].split("-")]
    slot = next(s for s in range(my_slots[0], my_slots[-1] + 1)
                if source.text("CLUSTER", "COUNTKEYSINSLOT", s) == ":0")
    target_id = target.text("CLUSTER", "MYID")
    for node in nodes:
        checks.equal(node.text("CLUSTER", "SETSLOT", slot, "NODE", target_id), "+OK",
                     f"(e) SETSLOT {slot} NODE on node {node.index}")
    wait_for(lambda: agree(nodes), "(e) every node agrees on the moved slot")
    key = next(f"moved:{n}" for n in range(1000000) if keyslot(f"moved:{n}") == slot)
    reply = call(source.port, "SET", key, "v")
    checks.equal(reply, f"-MOVED {slot} 127.0.0.1:{target.port}\r\n".encode(),
                 "(e) the old owner answers MOVED to the new one")
    result = redis_cli("-c", "-p", source.port, "SET", key, "v")
    checks.equal(result.stdout.strip(), "OK", "(e) redis-cli -c follows MOVED")
    checks.equal(target.text("GET", key), "v", "(e) the key is on the new owner")
    result = redis_cli("--cluster", "check", f"127.0.0.1:{nodes[2].port}")
    checks.true("[OK] All nodes agree about slots configuration." in result.stdout and
                "[OK] All 16384 slots covered." in result.stdout,
                "(e) redis-cli --cluster check after the move")


def test_restart(nodes):
    node = nodes[2]
    before = slot_map(nodes)[0]
    node.stop()
    wait_for(lambda: any(line[7] == "disconnected" for line in nodes[0].nodes()
                         if line[0] != nodes[0].text("CLUSTER", "MYID")),
             "(f) the others see the stopped node's link go")
    node.start()
    checks.equal(sorted((line[0], tuple(line[8:])) for line in node.nodes()), before,
                 "(f) the restarted node has its view from nodes.conf")
    wait_for(lambda: formed(nodes), "(f) the restarted node reconnects with every node")
    wait_for(lambda: node.info().get("cluster_state") == "ok", "(f) its cluster_state is ok")


def bus_closes(port, payload):
    """Sends `payload` to a bus port; true when the node closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(payload)
        try:
            return s.recv(16) == b""
        except (ConnectionResetError, socket.timeout):
            return False


def test_garbage(nodes):
    node = nodes[0]
    bus_port = node.port + 10000
    checks.true(bus_closes(bus_port, b"GET / HTTP/1.0\r\n\r\n" * 4), "(g) garbage closes the link")
    checks.true(bus_closes(bus_port, b"RCmb" + struct.pack(">I", 1 << 20) + b"\0" * 4096),
                "(g) a message longer than the link's buffer closes the link")
    checks.true(bus_closes(bus_port, b"RCmb" + struct.pack(">I", 100) + b"\0" * 100),
                "(g) a message shorter than a header closes the link")
    header = bytearray(2256)
    header[0:4] = b"RCmb"
    struct.pack_into(">IHHHH", header, 4, 2256, 1, 0, 0, 50)  # PING claiming 50 gossip entries
    checks.true(bus_closes(bus_port, bytes(header)), "(g) a PING shorter than its gossip closes")
    with socket.create_connection(("127.0.0.1", bus_port), timeout=15) as silent:
        started = time.monotonic()
        try:
            closed = silent.recv(16) == b""
        except (ConnectionResetError, socket.timeout):
            closed = False
        checks.true(closed and time.monotonic() - started >= 4,
                    "(g) a silent inbound link is closed after cluster-node-timeout (5 s)")
    checks.equal(node.text("PING"), "+PONG", "(g) the node keeps serving")
    wait_for(lambda: formed(nodes), "(g) the cluster is whole after the bad links")


def test_add_node(nodes):
    result = redis_cli("--cluster", "info", f"127.0.0.1:{nodes[0].port}")
    checks.true(result.returncode == 0 and "3 masters" in result.stdout,
                f"(b) redis-cli --cluster info: {result.stdout[-400:]}")
    extra = Node(len(nodes)).start()
    nodes.append(extra)  # stopped with the others
    result = redis_cli("--cluster", "add-node", f"127.0.0.1:{extra.port}",
                       f"127.0.0.1:{nodes[0].port}")
    checks.true(result.returncode == 0 and "[OK] New node added correctly." in result.stdout,
                f"(b) redis-cli --cluster add-node: {result.stdout[-600:]}{result.stderr[-300:]}")
    wait_for(lambda: formed(nodes), "(b) the added node and the others list all four")
    wait_for(lambda: agree(nodes), "(b) the added node has the others' slots")


def flags_of(node, name):
    return next((line[2].split(",") for line in node.nodes() if line[0] == name), [])


def test_failure(nodes):
    victim = nodes[2]
    victim_id = victim.text("CLUSTER", "MYID")
    others = [node for node in nodes if node is not victim]
    victim.stop()
    wait_for(lambda: all("fail" in flags_of(node, victim_id) for node in others),
             "(i) a stopped master is flagged fail? and then fail by every other node "
             "(cluster-node-timeout 5 s, a majority of the masters' reports)")
    reports = [int(node.text("CLUSTER", "COUNT-FAILURE-REPORTS", victim_id)[1:])
               for node in others]
    checks.true(any(count >= 1 for count in reports),
                f"(i) CLUSTER COUNT-FAILURE-REPORTS counts the others' reports: {reports}")
    wait_for(lambda: all(node.info().get("cluster_state") == "fail" for node in others),
             "(i) with a failed master's slots uncovered the cluster is down")
    victim.start()
    wait_for(lambda: formed(nodes) and not any(
        {"fail", "fail?"} & set(line[2].split(",")) for node in nodes for line in node.nodes()),
        "(i) the master back: its FAIL is cleared (2 node timeouts on) and every link is up",
        seconds=60)
    wait_for(lambda: all(node.info().get("cluster_state") == "ok" for node in nodes),
             "(i) the cluster is ok again")


def test_mixed():
    if shutil.which("redis-server") is None:
        print("redis-server is not installed: (h) skipped")
        return
    for kv_meets in (True, False):
        kv = Node("mixed").start()
        redis_dir = tempfile.mkdtemp(prefix="kvtest-bus-redis-")
        redis_port = harness.free_cluster_port()
        redis = harness.Server(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                                "--dir", redis_dir, "--save", "", "--appendonly", "no",
                                "--daemonize", "no", "--cluster-enabled", "yes",
                                "--cluster-config-file", "nodes.conf"] +
                               # Its pings then carry 7.0's hostname extension.
                               ([] if kv_meets else ["--cluster-announce-hostname", "r.test"]),
                               redis_port, "redis-bus").wait_ready()
        redis_node = Node("redis", port=redis_port, directory=redis_dir)
        try:
            kv.text("CLUSTER", "ADDSLOTSRANGE", 0, 8000)
            kv.text("CLUSTER", "SET-CONFIG-EPOCH", 1)
            redis_node.text("CLUSTER", "ADDSLOTSRANGE", 8001, 16383)
            redis_node.text("CLUSTER", "SET-CONFIG-EPOCH", 2)
            first, second = (kv, redis_node) if kv_meets else (redis_node, kv)
            checks.equal(first.text("CLUSTER", "MEET", "127.0.0.1", second.port), "+OK",
                         f"(h) {'kv meets redis' if kv_meets else 'redis meets kv'}")
            both = [kv, redis_node]
            wait_for(lambda: formed(both) and agree(both),
                     f"(h) kv and Redis 7.0 list each other with their slots "
                     f"({'kv' if kv_meets else 'redis'} met)")
            wait_for(lambda: all(n.info().get("cluster_state") == "ok" for n in both),
                     "(h) both say cluster_state ok")
            if not kv_meets:
                wait_for(lambda: any(line[1].endswith(",r.test") for line in kv.nodes()),
                         "(h) kv shows the hostname Redis's ping extension announces")
                kv.text("CONFIG", "SET", "cluster-announce-hostname", "k.test")
                wait_for(lambda: any(line[1].endswith(",k.test") for line in redis_node.nodes()),
                         "(h) Redis shows the hostname kv's ping extension announces")
        finally:
            kv.stop()
            redis.stop()
            os.unlink(redis.log_path)
            shutil.rmtree(kv.directory, True)
            shutil.rmtree(redis_dir, True)


def main():
    if shutil.which("redis-cli") is None:
        print("redis-cli is not installed")
        sys.exit(harness.SKIP)
    test_meet()
    test_tools()
    test_mixed()
    checks.exit()


if __name__ == "__main__":
    main()
