"""scripts/cluster-form.sh: the one command that makes one cluster of kv instances, one per
core, as README's "Scaling out" deploys them.

Two kv instances in cluster mode (each with its own cluster-port, given as HOST:PORT@BUS) and
no slots: the script answers "cluster of 2 node(s): ok" and exits 0; both nodes then say
cluster_state:ok with 2 known nodes, CLUSTER SLOTS shows 0-8191 and 8192-16383 on the two
ports in the order given, redis-py's RedisCluster writes and reads 2,000 keys, each node
holding its share. A third instance alone forms a one-node cluster serving all slots. No
argument: usage, exit status 2.
"""
import os
import subprocess

import kvtest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                      "cluster-form.sh")


def start_node():
    bus = kvtest.free_port()
    node = kvtest.start_kv("--hugepages", "off", "--maxmemory", "64mb", "--cluster-enabled",
                           "yes", "--cluster-port", str(bus))
    return node, bus


def text(client, *args):
    return kvtest.decode(client.call(*args))


def main():
    kvtest.need_kv_binary()
    kvtest.need_program("redis-cli")
    redis = kvtest.need_pyredis()
    check = kvtest.Checker("test_cluster_form")
    usage = subprocess.run([SCRIPT], capture_output=True, text=True, timeout=30)
    check.equal("no argument: exit status 2", 2, usage.returncode)
    check.true("... and the usage line", "usage:" in usage.stderr, usage.stderr)
    (first, first_bus), (second, second_bus) = start_node(), start_node()
    single, single_bus = start_node()
    try:
        result = subprocess.run([SCRIPT, f"127.0.0.1:{first.port}@{first_bus}",
                                 f"127.0.0.1:{second.port}@{second_bus}"],
                                capture_output=True, text=True, timeout=120)
        check.equal("two nodes: exit status 0", 0, result.returncode)
        check.equal("two nodes: it says so", "cluster of 2 node(s): ok", result.stdout.strip())
        for node in (first, second):
            with node.connect() as client:
                info = text(client, "CLUSTER", "INFO").decode()
                check.true(f"node {node.port}: cluster_state:ok, 2 known nodes",
                           "cluster_state:ok" in info and "cluster_known_nodes:2" in info, info)
        with first.connect() as client:
            slots = sorted((entry[0], entry[1], entry[2][1]) for entry in
                           text(client, "CLUSTER", "SLOTS"))
        check.equal("CLUSTER SLOTS: the halves, in the order given",
                    [(0, 8191, first.port), (8192, 16383, second.port)], slots)
        cluster = redis.RedisCluster(host="127.0.0.1", port=first.port, socket_timeout=20)
        for index in range(2000):
            cluster.set(f"form:{index}", index)
        check.true("RedisCluster reads back 2,000 keys",
                   all(cluster.get(f"form:{index}") == str(index).encode()
                       for index in range(2000)))
        cluster.close()
        sizes = []
        for node in (first, second):
            with node.connect() as client:
                sizes.append(text(client, "DBSIZE"))
        check.true("each node holds its share", all(size > 500 for size in sizes), sizes)
        alone = subprocess.run([SCRIPT, f"127.0.0.1:{single.port}@{single_bus}"],
                               capture_output=True, text=True, timeout=120)
        check.equal("one node: exit status 0", 0, alone.returncode)
        with single.connect() as client:
            check.equal("one node serves every slot", [[0, 16383]],
                        [entry[:2] for entry in text(client, "CLUSTER", "SLOTS")])
    finally:
        for node in (first, second, single):
            node.stop()
    return check.finish()


if __name__ == "__main__":
    main()
