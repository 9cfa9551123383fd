"""kv behind twemproxy (Debian's nutcracker), as systemd/nutcracker-kv.yml deploys it.

Three kv instances behind one nutcracker, and three redis-servers behind another, both made
from systemd/nutcracker-kv.yml (only the ports and the server list changed, the server names
kept, so both proxies place every key on the same-numbered instance). Through the proxies:
1. seeded random commands of the families twemproxy forwards (strings, counters, expiry, keys,
   hashes, lists, sets, sorted sets, HyperLogLog, bit operations, EVAL with keys of one tag,
   and the multi-key commands it splits: MGET, MSET, DEL, EXISTS, TOUCH, UNLINK) get the same
   bytes from the kv side as from the Redis side;
2. 10,000 keys written through the proxy land on the instances as on Redis's side
   (DBSIZE per instance equal), each instance holding a share, the total 10,000;
3. what twemproxy refuses (MULTI, SELECT, a blocking pop) it refuses on both sides alike.
The seed is printed (KV_SEED replays it).
"""
import os
import random
import re
import tempfile

import kvtest

TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "systemd",
                        "nutcracker-kv.yml")
INSTANCES = 3
NAMES = ["kv-core2", "kv-core3", "kv-core4"]


def proxy_config(directory, label, listen_port, backend_ports):
    """The deployment file with this test's ports: the listen line and the server list."""
    with open(TEMPLATE) as f:
        text = f.read()
    text = re.sub(r"listen: 127\.0\.0\.1:\d+", f"listen: 127.0.0.1:{listen_port}", text)
    head, _, _ = text.partition("  servers:\n")
    servers = "".join(f"   - 127.0.0.1:{port}:1 {name}\n"
                      for port, name in zip(backend_ports, NAMES))
    path = os.path.join(directory, f"{label}.yml")
    with open(path, "w") as f:
        f.write(head + "  servers:\n" + servers)
    return path


def start_proxy(directory, label, backend_ports):
    port = kvtest.free_port()
    config = proxy_config(directory, label, port, backend_ports)
    stats = kvtest.free_port()
    argv = ["nutcracker", "-c", config, "-s", str(stats), "-a", "127.0.0.1",
            "-o", os.path.join(directory, f"{label}.log"), "-v", "4"]
    return kvtest.Server(f"nutcracker-{label}", argv, port).wait_ready()


KEYS = [f"k{i}" for i in range(40)] + [f"{{user{i}}}:a" for i in range(5)] + \
       [f"{{user{i}}}:b" for i in range(5)]


def random_command(rnd):
    key = rnd.choice(KEYS)
    other = rnd.choice(KEYS)
    value = rnd.choice(["1", "17", "-3", "abc", "", "x" * 300, "3.5"])
    field = rnd.choice(["f1", "f2", "f3"])
    number = str(rnd.randint(-5, 20))
    tag = rnd.randrange(5)
    return rnd.choice([
        ["SET", key, value], ["GET", key], ["SETNX", key, value], ["GETSET", key, value],
        ["APPEND", key, value], ["STRLEN", key], ["INCR", key], ["INCRBY", key, number],
        ["DECR", key], ["INCRBYFLOAT", key, "1.5"], ["GETRANGE", key, "0", number],
        ["SETRANGE", key, "2", value], ["SET", key, value, "EX", "100"], ["TTL", key],
        ["PTTL", key], ["EXPIRE", key, "50"], ["PERSIST", key], ["TYPE", key],
        ["EXISTS", key, other], ["DEL", key, other], ["UNLINK", key], ["TOUCH", key, other],
        ["MGET", key, other, rnd.choice(KEYS)], ["MSET", key, value, other, value],
        ["HSET", key, field, value], ["HGET", key, field], ["HGETALL", key], ["HDEL", key, field],
        ["HINCRBY", key, field, number], ["HLEN", key], ["HEXISTS", key, field],
        ["LPUSH", key, value, value], ["RPUSH", key, value], ["LPOP", key], ["RPOP", key],
        ["LRANGE", key, "0", "-1"], ["LLEN", key], ["LINDEX", key, number],
        ["SADD", key, value, number], ["SREM", key, value], ["SCARD", key],
        ["SISMEMBER", key, value], ["SMEMBERS", key],
        ["ZADD", key, number, value], ["ZSCORE", key, value], ["ZINCRBY", key, "2", value],
        ["ZRANGE", key, "0", "-1", "WITHSCORES"], ["ZCARD", key], ["ZREM", key, value],
        ["PFADD", key, value, number], ["PFCOUNT", key], ["SETBIT", key, number, "1"],
        ["GETBIT", key, number], ["BITCOUNT", key],
        ["EVAL", "return redis.call('SET', KEYS[1], ARGV[1])", "1", f"{{user{tag}}}:a", value],
        ["EVAL", "return redis.call('GET', KEYS[1])", "1", f"{{user{tag}}}:a"],
        ["SUNION", f"{{user{tag}}}:a", f"{{user{tag}}}:b"],
    ])


def normalise(command, reply):
    """SMEMBERS', SUNION's and HGETALL's order is an encoding's: compared as sets. TTL and
    PTTL of a key with a time left: compared as "has one" (the two sides run ms apart)."""
    if command[0] in ("TTL", "PTTL") and reply.startswith(b":") and int(reply[1:-2]) >= 0:
        return b":time-left"
    if command[0] in ("SMEMBERS", "SUNION") and reply.startswith(b"*"):
        lines = reply.split(b"\r\n")
        return (lines[0], sorted(lines[1:]))
    if command[0] == "HGETALL" and reply.startswith(b"*"):
        items = kvtest.decode(reply)
        return sorted(zip(items[0::2], items[1::2])) if isinstance(items, list) else reply
    return reply


def main():
    kvtest.need_kv_binary()
    kvtest.need_program("nutcracker")
    kvtest.need_program("redis-server")
    check = kvtest.Checker("test_twemproxy")
    seed = int(os.environ.get("KV_SEED") or random.randrange(1 << 30))
    print(f"seed {seed}")
    rnd = random.Random(seed)
    directory = tempfile.mkdtemp(prefix="kvtest-twemproxy-")
    kvs = [kvtest.start_kv("--hugepages", "off", "--maxmemory", "64mb") for _ in range(INSTANCES)]
    redises = [kvtest.start_redis() for _ in range(INSTANCES)]
    proxies = []
    try:
        proxies.append(start_proxy(directory, "kv", [server.port for server in kvs]))
        proxies.append(start_proxy(directory, "redis", [server.port for server in redises]))
        with proxies[0].connect() as via_kv, proxies[1].connect() as via_redis:
            differences = []
            for _ in range(3000):   # bounded: 3,000 commands
                command = random_command(rnd)
                got = via_kv.call(*command)
                want = via_redis.call(*command)
                if normalise(command, got) != normalise(command, want):
                    differences.append((command, want, got))
            check.equal("3,000 random commands through the proxy: kv's bytes are Redis's", [],
                        differences[:5])
        # What twemproxy does not forward: it closes the connection (or answers itself) the
        # same whichever server is behind it. Each on a fresh connection.
        for command in (["MULTI"], ["SELECT", "1"], ["BLPOP", "k1", "0"], ["KEYS", "*"],
                        ["SUBSCRIBE", "c"], ["PING"]):
            outcomes = []
            for proxy in proxies:
                with proxy.connect(timeout=5) as client:
                    try:
                        outcomes.append(client.call(*command))
                    except kvtest.ConnectionClosed:
                        outcomes.append("closed")
            check.equal(f"{command[0]} through the proxy: as in front of Redis", outcomes[1],
                        outcomes[0])
        for proxy in proxies:
            with proxy.connect() as client:
                client.send(b"".join(kvtest.encode("SET", f"spread:{i}", "v")
                                     for i in range(10000)))
                replies = client.replies(10000)
                check.true(f"{proxy.name}: 10,000 SETs through the proxy",
                           all(reply == b"+OK\r\n" for reply in replies))
        sizes = {}
        for label, servers in (("kv", kvs), ("redis", redises)):
            sizes[label] = []
            for server in servers:
                with server.connect() as client:
                    sizes[label].append(int(client.call("DBSIZE")[1:-2]))
        print(f"keys per instance: kv {sizes['kv']}, redis {sizes['redis']}")
        check.equal("each key on the same-numbered instance as with Redis behind the proxy",
                    sizes["redis"], sizes["kv"])
        spread = [size for size in sizes["kv"]]
        check.true("every kv instance holds a share (over 10% of the 10,000)",
                   all(size > 1000 for size in spread), spread)
        check.true("nutcracker -t accepts the deployment file as shipped",
                   os.system(f"nutcracker -t -c {TEMPLATE} >/dev/null 2>&1") == 0)
    finally:
        for server in proxies + kvs + redises:
            server.stop()
    return check.finish()


if __name__ == "__main__":
    main()
