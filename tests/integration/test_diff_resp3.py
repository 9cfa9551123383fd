"""RESP3: the same command sequences over HELLO 3 to kv and to a real redis-server 7.0, every
reply compared byte for byte.

HELLO itself (RESP2 and RESP3 maps, NOPROTO, AUTH/SETNAME options, HELLO 2 back, RESET back to
RESP2); every command whose Redis 7.0 reply differs in RESP3: nulls (GET, LPOP, MGET, EXEC,
blocking timeouts), maps (HGETALL, CONFIG GET, CLIENT TRACKINGINFO, COMMAND DOCS, LATENCY
HISTOGRAM), sets (SMEMBERS, SINTER, SUNION, SDIFF, SPOP with a count), doubles (ZSCORE,
ZINCRBY, ZMSCORE, ZADD INCR, BZPOP*) and pairs as arrays (ZRANGE WITHSCORES, ZPOP* with a
count, ZRANDMEMBER and HRANDFIELD WITH*), verbatim text (CLIENT INFO, INFO: compared by shape,
their numbers differ); pub/sub as push messages, with ordinary commands allowed while
subscribed; then client-side caching: CLIENT TRACKING in its default mode, BCAST with
prefixes, OPTIN with CLIENT CACHING, NOLOOP, and REDIRECT to a RESP2 client that receives
`__redis__:invalidate` messages. Then a seeded random run (KV_SEED replays it) of commands over
small values, where both servers keep the same orders, compared in RESP3. Random replies
(HRANDFIELD, ZRANDMEMBER, SRANDMEMBER, SPOP) are compared by shape.
"""
import os
import random
import re
import time

import kvtest

KV_OPTIONS = ["--connections-max", "16", "--key-count", "64", "--key-size-max", "64",
              "--val-size-max", "128", "--list-length-max", "200", "--hugepages", "off",
              "--maxmemory", "32mb"]
RANDOM_COMMANDS = 3000
TRACKING = True


def reply_end(buffer, start=0):
    """End offset of the whole RESP2 or RESP3 reply at buffer[start:], None if more bytes are
    needed. Iterative: a count of elements still owed."""
    position = start
    owed = 1
    while owed > 0:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None
        kind = buffer[position:position + 1]
        owed -= 1
        if kind in (b"+", b"-", b":", b"_", b",", b"#", b"("):
            position = line_end + 2
            continue
        if kind == b"|":
            raise ValueError("attributes are not sent by Redis 7.0 here")
        if kind not in (b"$", b"*", b"%", b"~", b">", b"=", b"!"):
            raise ValueError(f"not RESP at {position}: {buffer[position:position + 40]!r}")
        length = int(buffer[position + 1:line_end])
        position = line_end + 2
        if kind in (b"*", b"~", b">"):
            owed += max(length, 0)
        elif kind == b"%":
            owed += 2 * length
        elif length >= 0:
            if len(buffer) < position + length + 2:
                return None
            if buffer[position + length:position + length + 2] != b"\r\n":
                raise ValueError(f"bulk of {length} bytes not followed by CRLF")
            position += length + 2
    return position


def parse(reply):
    """A whole RESP3 reply as (kind, value): kind is its first byte; aggregates hold a list
    of parsed children (a map's keys and values in turn). Iterative."""
    root = []
    stack = [(root, 1)]
    position = 0
    while stack:
        children, owed = stack[-1]
        if owed == 0:
            stack.pop()
            continue
        stack[-1] = (children, owed - 1)
        line_end = reply.index(b"\r\n", position)
        kind, text = reply[position:position + 1], reply[position + 1:line_end]
        position = line_end + 2
        if kind in (b"*", b"~", b">", b"%") and int(text) >= 0:
            node = (kind, [])
            children.append(node)
            stack.append((node[1], int(text) * (2 if kind == b"%" else 1)))
        elif kind in (b"$", b"=") and int(text) >= 0:
            children.append((kind, reply[position:position + int(text)]))
            position += int(text) + 2
        else:
            children.append((kind, text))
    return root[0]


def kinds(node):
    """The kinds of a node's children (its own kind first)."""
    kind, value = node
    return [kind] + ([child[0] for child in value] if isinstance(value, list) else [])


class Client(kvtest.RespClient):
    """A raw connection that reads RESP3 replies."""

    def reply(self):
        deadline = time.monotonic() + self.timeout
        while True:
            end = reply_end(self.buffer, self.start)
            if end is not None:
                whole = self.buffer[self.start:end]
                self.start = end
                return whole
            self._receive(deadline)

    def pending(self):
        """Everything that arrived unasked before the answer to a PING sent now (a push
        written into this client's output before the PING ran comes first)."""
        self.send(kvtest.encode("PING"))
        out = []
        for _ in range(1000):
            reply = self.reply()
            if reply in PONGS:
                return out
            out.append(reply)
        raise AssertionError("no PING answer")


# PING's answer, and a subscribed RESP2 client's.
PONGS = (b"+PONG\r\n", b"*2\r\n$4\r\npong\r\n$0\r\n\r\n")

# Fields whose values differ between any two servers (ids, addresses, times, memory).
VOLATILE = re.compile(rb"(id|addr|laddr|fd|age|idle|qbuf|qbuf-free|argv-mem|multi-mem|rbs|rbp|"
                      rb"obl|oll|omem|tot-mem|events|ssub|redir|cmd)=[^ \n]*| lib-name=[^ \n]*| lib-ver=[^ \n]*")


def normalized(command, reply):
    """What is compared: CLIENT INFO/LIST with their volatile fields blanked; HELLO's id
    blanked; INFO by its verbatim header's kind; random replies by their shape."""
    name = command[0].upper()
    if name == b"CLIENT" and command[1].upper() in (b"INFO", b"LIST"):
        body = VOLATILE.sub(lambda m: (m.group(1) or b"") + b"=?" if m.group(1) else b"",
                            reply.split(b"\r\n", 1)[1])
        return reply[:1] + body
    if name == b"HELLO" and b"proto" in reply:
        return re.sub(rb"\$2\r\nid\r\n:\d+\r\n", b"$2\r\nid\r\n:?\r\n", reply)
    if name == b"INFO":
        return reply[:1] + reply.split(b"\r\n", 1)[1][:4]  # "=<n>" then "txt:"
    if reply.startswith(b"~"):
        # Redis 7.0 keeps sets of strings in hash tables whose order neither server defines.
        elements = re.findall(rb"\$\d+\r\n[^\r]*\r\n", reply.split(b"\r\n", 1)[1])
        reply = reply.split(b"\r\n", 1)[0] + b"\r\n" + b"".join(sorted(elements))
    if name in (b"HRANDFIELD", b"ZRANDMEMBER", b"SRANDMEMBER", b"SPOP"):
        return re.sub(rb"\$\d+\r\n[^\r]*\r\n", b"$", re.sub(rb",[^\r]*\r\n", b",", reply))
    return reply


class Pair:
    """A client of kv and one of Redis, driven together."""

    def __init__(self, kv, redis, check, resp3=True):
        self.kv = Client(kv.port)
        self.redis = Client(redis.port)
        self.check = check
        if resp3:
            self.both("HELLO", "3")

    def send(self, *args):
        self.kv.send(kvtest.encode(*args))
        self.redis.send(kvtest.encode(*args))

    def both(self, *args):
        """One command to both; compares the replies. Returns Redis's."""
        self.send(*args)
        want, got = self.redis.reply(), self.kv.reply()
        command = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        self.check.equal(f"{kvtest.shorten(command, 100)}", normalized(command, want),
                         normalized(command, got))
        return want

    def received(self, what, some=True):
        """What arrived unasked (pushes, messages) on each side, compared; `some`: Redis sent
        something (so that the comparison is not of two empty lists)."""
        want, got = self.redis.pending(), self.kv.pending()
        self.check.equal(what, want, got)
        self.check.true(f"{what}: Redis sent {'something' if some else 'nothing'}",
                        bool(want) == some, repr(want))
        return want

    def close(self):
        self.kv.close()
        self.redis.close()


def hello(kv, redis, check):
    pair = Pair(kv, redis, check, resp3=False)
    for command in (["HELLO"], ["HELLO", "2"], ["HELLO", "4"], ["HELLO", "1"], ["HELLO", "x"],
                    ["HELLO", "3", "SETNAME", "me"], ["CLIENT", "GETNAME"], ["HELLO"],
                    ["HELLO", "3", "AUTH", "default", "pw"], ["HELLO", "3", "AUTH", "x", "y"],
                    ["HELLO", "3", "BOGUS"], ["HELLO", "2"], ["GET", "nokey"], ["HELLO", "3"],
                    ["GET", "nokey"], ["CLIENT", "INFO"], ["RESET"], ["GET", "nokey"],
                    ["HELLO", "3", "SETNAME", "a b"], ["HELLO", "3"], ["CLIENT", "GETNAME"]):
        pair.both(*command)
    pair.close()


def conversions(kv, redis, check):
    pair = Pair(kv, redis, check)
    commands = [
        # Nulls.
        ["RANDOMKEY"], ["GET", "nokey"], ["GETDEL", "nokey"], ["GETEX", "nokey"], ["MGET", "a", "nokey"],
        ["SET", "k", "v", "GET"], ["SET", "k2", "v", "NX", "GET"], ["SET", "k", "w", "XX", "GET"],
        ["SET", "k", "x", "NX"], ["GETSET", "nokey", "v"], ["DEL", "nokey"], ["LPOP", "nokey"],
        ["LPOP", "nokey", "2"], ["RPOP", "nokey", "0"], ["LINDEX", "nokey", "0"],
        ["LPOS", "nokey", "x"], ["RPUSH", "l", "a", "b"], ["LPOS", "l", "z"],
        ["LPOS", "l", "z", "COUNT", "0"], ["LMOVE", "nokey", "l", "LEFT", "RIGHT"],
        ["RPOPLPUSH", "nokey", "l"], ["BLPOP", "nokey", "0.01"],
        ["BRPOP", "nokey", "0.01"], ["BLMOVE", "nokey", "l", "LEFT", "LEFT", "0.01"],
        ["BZPOPMIN", "nokey", "0.01"],
        ["HGET", "nokey", "f"],
        ["HMGET", "nokey", "a", "b"], ["SPOP", "nokey"], ["SRANDMEMBER", "nokey"],
        ["ZSCORE", "nokey", "m"], ["ZRANK", "nokey", "m"], ["ZREVRANK", "nokey", "m"],
        ["OBJECT", "ENCODING", "nokey"],
        ["OBJECT", "FREQ", "nokey"], ["OBJECT", "IDLETIME", "nokey"], ["MEMORY", "USAGE", "nokey"],
        ["CLIENT", "GETNAME"], ["INCRBYFLOAT", "f", "1.5"], ["INCRBYFLOAT", "f", "1e3"],
        ["EXPIRETIME", "k"], ["TTL", "nokey"], ["STRLEN", "nokey"], ["GETRANGE", "nokey", "0", "1"],
        ["EXISTS", "k", "nokey"], ["TYPE", "nokey"], ["WATCH", "nokey"], ["MULTI"],
        ["GET", "nokey"], ["LPOP", "nokey"], ["ZSCORE", "nokey", "x"], ["HGETALL", "nokey"],
        ["EXEC"], ["WATCH", "k"], ["SET", "k", "changed"], ["MULTI"], ["GET", "k"], ["EXEC"],
        # Hashes.
        ["HSET", "h", "a", "1", "b", "2", "c", "x y"], ["HGETALL", "h"], ["HGETALL", "nokey"],
        ["HRANDFIELD", "h", "2", "WITHVALUES"], ["HRANDFIELD", "h", "-5", "WITHVALUES"],
        ["HRANDFIELD", "h", "5", "WITHVALUES"], ["HRANDFIELD", "nokey", "2", "WITHVALUES"],
        ["HRANDFIELD", "h"], ["HRANDFIELD", "h", "2"], ["HRANDFIELD", "nokey"],
        ["HINCRBYFLOAT", "h", "a", "1.5"], ["HKEYS", "h"], ["HVALS", "h"], ["HSCAN", "h", "0"],
        ["HSTRLEN", "h", "a"], ["HEXISTS", "h", "zz"],
        # Sets.
        ["SADD", "s", "a", "b", "c"], ["SADD", "t", "b", "c", "d"], ["SADD", "i", "1", "2", "3"],
        ["SMEMBERS", "s"], ["SMEMBERS", "i"], ["SSCAN", "i", "0"], ["SMEMBERS", "nokey"], ["SINTER", "s", "t"],
        ["SINTER", "s", "nokey"], ["SUNION", "s", "t"], ["SDIFF", "s", "t"], ["SDIFF", "nokey"],
        ["SISMEMBER", "s", "a"], ["SMISMEMBER", "s", "a", "z"],
        ["SRANDMEMBER", "s", "2"], ["SRANDMEMBER", "s", "-4"], ["SPOP", "i", "2"],
        ["SPOP", "nokey", "2"], ["SPOP", "i", "0"], ["SMOVE", "s", "t", "a"],
        ["SINTERSTORE", "d", "s", "t"], ["SCARD", "d"],
        # Sorted sets.
        ["ZADD", "z", "1", "a", "2.5", "b", "-3", "c", "inf", "d"], ["ZSCORE", "z", "b"],
        ["ZSCORE", "z", "d"], ["ZSCORE", "z", "nomember"], ["ZMSCORE", "z", "a", "x", "c"],
        ["ZMSCORE", "nokey", "a"], ["ZINCRBY", "z", "1.25", "a"], ["ZINCRBY", "z", "1", "new"],
        ["ZADD", "z", "INCR", "1", "a"], ["ZADD", "z", "XX", "INCR", "1", "zz"],
        ["ZADD", "z", "NX", "INCR", "1", "a"], ["ZADD", "z", "GT", "INCR", "-1", "a"],
        ["ZRANGE", "z", "0", "-1"], ["ZRANGE", "z", "0", "-1", "WITHSCORES"],
        ["ZRANGE", "z", "(1", "+inf", "BYSCORE", "WITHSCORES"],
        ["ZRANGE", "z", "0", "-1", "REV", "WITHSCORES"], ["ZRANGE", "nokey", "0", "-1",
                                                        "WITHSCORES"],
        ["ZRANGEBYSCORE", "z", "-inf", "+inf", "WITHSCORES"],
        ["ZRANGEBYSCORE", "z", "-inf", "+inf", "WITHSCORES", "LIMIT", "1", "2"],
        ["ZREVRANGEBYSCORE", "z", "+inf", "-inf", "WITHSCORES"],
        ["ZREVRANGE", "z", "0", "1", "WITHSCORES"], 
        ["ZRANK", "z", "a"], ["ZSCAN", "z", "0"], ["ZCARD", "z"], ["ZCOUNT", "z", "0", "10"],
        
        
        
        
        
        ["ZPOPMIN", "z"], ["ZPOPMIN", "z", "2"], ["ZPOPMAX", "z"], ["ZPOPMAX", "z", "1"],
        ["ZPOPMAX", "z", "0"], ["ZPOPMIN", "nokey"], ["ZPOPMIN", "nokey", "3"],
        
        ["ZADD", "z", "1", "a", "2", "b"],
        ["BZPOPMIN", "z", "0"], ["BZPOPMAX", "z", "0"], ["ZADD", "z", "1", "a", "2", "b"],
        
        # Lists that answer arrays (unchanged) and pops.
        ["RPUSH", "l", "c", "d"], ["LRANGE", "l", "0", "-1"], ["LPOP", "l"], ["LPOP", "l", "2"],
        ["BLPOP", "l", "0"],
        # Server and connection.
        ["CONFIG", "GET", "timeout"], ["CONFIG", "GET", "maxmemory-policy"],
        ["CONFIG", "GET", "nosuchparameter"],
        ["CLIENT", "INFO"],
        ["CLIENT", "LIST", "ID", "999999"], ["INFO", "server"], ["DBSIZE"], ["PING"],
        ["PING", "x"], ["ECHO", "hi"], ["SCAN", "0", "MATCH", "nokey*"],
        ["PUBSUB", "NUMSUB", "a"], ["PUBSUB", "CHANNELS"], ["PUBSUB", "NUMPAT"],
        ["SLOWLOG", "GET", "0"],  # empty on both: a loaded host may log a slow command
        # Scripts speak RESP2 inside (until redis.setresp), their results the client's.
        ["EVAL", "return nil", "0"], ["EVAL", "return false", "0"], ["EVAL", "return true", "0"],
        ["EVAL", "return {1, 'a', false, {2}}", "0"],
        ["EVAL", "return redis.call('get', 'nokey')", "0"],
        ["EVAL", "return redis.call('hgetall', 'h')", "0"],
        ["EVAL", "return redis.call('zscore', 'z', 'b')", "0"],
        ["EVAL", "return redis.call('smembers', 'nokey')", "0"],
    ]
    for command in commands:
        pair.both(*command)
    pair.close()


def structures(kv, redis, check):
    """Replies whose contents kv answers its own way (COMMAND INFO and DOCS, LATENCY
    HISTOGRAM) still use Redis's RESP3 types, position by position."""
    pair = Pair(kv, redis, check)
    pair.both("GET", "x")
    pair.send("COMMAND", "INFO", "get")
    want, got = parse(pair.redis.reply()), parse(pair.kv.reply())
    check.equal("COMMAND INFO: an array of one entry", kinds(want), kinds(got))
    check.equal("COMMAND INFO's entry: flags, categories, tips, specs, subcommands are sets",
                kinds(want[1][0]), kinds(got[1][0]))
    pair.send("COMMAND", "DOCS", "get")
    want, got = parse(pair.redis.reply()), parse(pair.kv.reply())
    check.equal("COMMAND DOCS: a map of name to a map", [want[0], want[1][0][0], want[1][1][0]],
                [got[0], got[1][0][0], got[1][1][0]])
    pair.send("LATENCY", "HISTOGRAM", "get")
    want, got = parse(pair.redis.reply()), parse(pair.kv.reply())
    check.equal("LATENCY HISTOGRAM: maps inside a map", [kinds(want), kinds(want[1][1])],
                [kinds(got), kinds(got[1][1])])
    check.equal("LATENCY HISTOGRAM's buckets: a map", want[1][1][1][3][0], got[1][1][1][3][0])
    pair.both("LATENCY", "HISTOGRAM", "nosuchcommand")
    pair.close()


def blocked(kv, redis, check):
    """A client blocked over RESP3 is answered in RESP3 when served: BZPOPMIN's double."""
    waiter = Pair(kv, redis, check)
    pusher = Pair(kv, redis, check)
    for command in (["BZPOPMIN", "bz", "0"], ["BLPOP", "bl", "0"]):
        waiter.send(*command)
        time.sleep(0.1)
        if command[0] == "BZPOPMIN":
            pusher.both("ZADD", "bz", "2.5", "m")
        else:
            pusher.both("RPUSH", "bl", "x")
        check.equal(f"served {command[0]}", waiter.redis.reply(), waiter.kv.reply())
    waiter.close()
    pusher.close()


def streams(kv, redis, check):
    """Streams over RESP3: XREAD and XREADGROUP answer a map of key to entries (served at
    once and when woken), XINFO answers maps, a timed-out read a null; explicit IDs, so the
    bytes match wherever no clock shows."""
    pair = Pair(kv, redis, check)
    for command in (["XADD", "s1", "1-1", "f", "v"], ["XADD", "s1", "2-1", "a", "1", "b", "2"],
                    ["XADD", "s2", "5-0", "x", "y"], ["XRANGE", "s1", "-", "+"],
                    ["XREVRANGE", "s1", "+", "-", "COUNT", "1"],
                    ["XREAD", "COUNT", "5", "STREAMS", "s1", "s2", "0", "0"],
                    ["XREAD", "STREAMS", "s1", "s2", "9-0", "9-0"],
                    ["XREAD", "BLOCK", "10", "STREAMS", "s1", "$"],
                    ["XGROUP", "CREATE", "s1", "g", "0"],
                    ["XREADGROUP", "GROUP", "g", "c1", "COUNT", "1", "STREAMS", "s1", ">"],
                    ["XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s1", "0"],
                    ["XPENDING", "s1", "g"], ["XINFO", "STREAM", "s1"], ["XINFO", "GROUPS", "s1"],
                    ["XACK", "s1", "g", "1-1"], ["XINFO", "STREAM", "nokey"]):
        pair.both(*command)
    for command in (["XINFO", "CONSUMERS", "s1", "g"], ["XINFO", "STREAM", "s1", "FULL"]):
        pair.send(*command)
        want, got = parse(pair.redis.reply()), parse(pair.kv.reply())
        check.equal(f"{command}: Redis's types, position by position (times differ)",
                    kinds(want), kinds(got))
    waiter = Pair(kv, redis, check)
    waiter.send("XREAD", "BLOCK", "0", "STREAMS", "s2", "$")
    time.sleep(0.1)
    pair.both("XADD", "s2", "6-0", "k", "v")
    check.equal("a woken XREAD: a map of one stream", waiter.redis.reply(), waiter.kv.reply())
    waiter.close()
    pair.close()


def pubsub(kv, redis, check):
    subscriber = Pair(kv, redis, check)
    publisher = Pair(kv, redis, check)
    old = Pair(kv, redis, check, resp3=False)  # a RESP2 subscriber on the same channel
    subscriber.both("SUBSCRIBE", "ch", "other")
    subscriber.received("the second confirmation arrives as a push")
    subscriber.both("PSUBSCRIBE", "c*")
    old.both("SUBSCRIBE", "ch")
    publisher.both("PUBLISH", "ch", "hello")
    subscriber.received("message and pmessage as pushes")
    old.received("a RESP2 subscriber's message is an array")
    # RESP3 allows every command while subscribed; RESP2 refuses them.
    subscriber.both("SET", "k", "v")
    subscriber.both("GET", "k")
    subscriber.both("PING")
    old.both("GET", "k")
    old.both("PING")
    subscriber.both("UNSUBSCRIBE", "ch")
    subscriber.both("PUNSUBSCRIBE")
    subscriber.both("UNSUBSCRIBE")
    subscriber.both("UNSUBSCRIBE")
    subscriber.both("PING")
    publisher.both("PUBLISH", "ch", "again")
    subscriber.received("nothing after unsubscribing", some=False)
    old.received("the RESP2 subscriber's message")
    for client in (subscriber, publisher, old):
        client.close()


def tracking(kv, redis, check):
    """Client-side caching: which invalidations each mode sends, byte for byte."""
    reader = Pair(kv, redis, check)
    writer = Pair(kv, redis, check)
    reader.both("CLIENT", "TRACKING", "ON")
    reader.both("CLIENT", "TRACKINGINFO")
    reader.both("GET", "t1")
    reader.both("MGET", "t2", "t3")
    writer.both("SET", "t1", "x")
    reader.received("default mode: the read key's invalidation")
    writer.both("SET", "t1", "y")
    reader.received("once: reading again is needed for another", some=False)
    writer.both("MSET", "t2", "a", "t3", "b")
    reader.received("two keys invalidated")
    reader.both("GET", "t1")
    reader.both("SET", "t1", "mine")
    reader.received("its own write invalidates too (no NOLOOP)")
    reader.both("FLUSHALL")
    reader.received("FLUSHALL: a null invalidation")
    reader.both("CLIENT", "TRACKING", "OFF")
    reader.both("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "user:", "PREFIX", "obj")
    reader.both("CLIENT", "TRACKINGINFO")
    writer.both("SET", "user:1", "a")
    writer.both("SET", "other", "a")
    writer.both("HSET", "object", "f", "v")
    reader.received("BCAST: keys under a prefix, read or not")
    writer.both("MSET", "user:b", "1", "user:a", "2", "objx", "3", "user:b", "4")
    reader.received("BCAST: one message per prefix, keys sorted, each once")
    reader.both("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "user")
    reader.both("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "user:", "PREFIX", "users")
    reader.both("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "more")
    reader.both("CLIENT", "TRACKINGINFO")
    reader.both("CLIENT", "TRACKING", "ON")
    reader.both("CLIENT", "TRACKING", "OFF")
    reader.both("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "a", "PREFIX", "ab")
    reader.both("CLIENT", "TRACKING", "ON", "BCAST")
    reader.both("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "x")
    reader.both("CLIENT", "TRACKING", "OFF")
    reader.both("CLIENT", "TRACKING", "ON", "OPTOUT")
    reader.both("GET", "p1")
    reader.both("CLIENT", "CACHING", "NO")
    reader.both("CLIENT", "TRACKINGINFO")
    reader.both("GET", "p2")
    reader.both("CLIENT", "CACHING", "YES")
    reader.both("CLIENT", "TRACKING", "ON", "OPTIN")
    writer.both("MSET", "p1", "x", "p2", "y")
    reader.received("OPTOUT: only the key read without CACHING NO")
    reader.both("MULTI")
    reader.both("GET", "p3")
    reader.both("EXEC")
    writer.both("SET", "p3", "x")
    reader.received("a read inside EXEC is tracked")
    reader.both("CLIENT", "TRACKING", "OFF")
    reader.both("CLIENT", "TRACKING", "ON", "OPTIN")
    reader.both("GET", "o1")
    reader.both("CLIENT", "CACHING", "YES")
    reader.both("GET", "o2")
    reader.both("CLIENT", "TRACKINGINFO")
    writer.both("SET", "o1", "x")
    writer.both("SET", "o2", "x")
    reader.received("OPTIN: only the key read after CACHING YES")
    reader.both("CLIENT", "CACHING", "NO")
    reader.both("CLIENT", "TRACKING", "OFF")
    reader.both("CLIENT", "TRACKING", "ON", "NOLOOP")
    reader.both("GET", "n1")
    reader.both("SET", "n1", "mine")
    reader.received("NOLOOP: not its own write", some=False)
    writer.both("SET", "n1", "theirs")
    reader.both("GET", "n1")
    writer.both("DEL", "n1")
    reader.received("NOLOOP: another's write")
    reader.both("CLIENT", "TRACKING", "OFF")
    for bad in (["CLIENT", "CACHING", "YES"], ["CLIENT", "TRACKING", "ON", "PREFIX", "x"],
                ["CLIENT", "TRACKING", "ON", "OPTIN", "OPTOUT"],
                ["CLIENT", "TRACKING", "ON", "REDIRECT", "999999"],
                ["CLIENT", "TRACKING", "MAYBE"], ["CLIENT", "TRACKING", "ON", "BOGUS"],
                ["CLIENT", "TRACKING", "ON", "BCAST", "OPTIN"]):
        reader.both(*bad)
    # REDIRECT to a RESP2 client subscribed to __redis__:invalidate.
    sink = Pair(kv, redis, check, resp3=False)
    sink_ids = (sink.redis.value("CLIENT", "ID"), sink.kv.value("CLIENT", "ID"))
    sink.both("SUBSCRIBE", "__redis__:invalidate")
    old = Pair(kv, redis, check, resp3=False)
    for side, sink_id in ((old.redis, sink_ids[0]), (old.kv, sink_ids[1])):
        side.send(kvtest.encode("CLIENT", "TRACKING", "ON", "REDIRECT", sink_id))
    check.equal("REDIRECT accepted", old.redis.reply(), old.kv.reply())
    check.equal("CLIENT GETREDIR", old.redis.value("CLIENT", "GETREDIR") == sink_ids[0],
                old.kv.value("CLIENT", "GETREDIR") == sink_ids[1])
    old.both("GET", "r1")
    writer.both("SET", "r1", "x")
    sink.received("RESP2 redirect: a __redis__:invalidate message")
    old.both("GET", "r2")
    old.both("FLUSHDB")
    sink.received("RESP2 redirect: FLUSHDB's null")
    # A RESP2 client redirecting to itself, subscribed: BCAST messages on the channel.
    selfish = Pair(kv, redis, check, resp3=False)
    for side in (selfish.redis, selfish.kv):
        side.send(kvtest.encode("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "s:",
                                "REDIRECT", side.value("CLIENT", "ID")))
    check.equal("REDIRECT to itself", selfish.redis.reply(), selfish.kv.reply())
    selfish.both("SUBSCRIBE", "__redis__:invalidate")
    writer.both("SET", "s:1", "x")
    selfish.received("RESP2 redirect to itself: the BCAST message")
    selfish.close()
    # A RESP3 client whose redirect target leaves is told so, and shows broken_redirect.
    gone = Pair(kv, redis, check)
    gone_ids = (gone.redis.value("CLIENT", "ID"), gone.kv.value("CLIENT", "ID"))
    lost = Pair(kv, redis, check)
    for side, gone_id in ((lost.redis, gone_ids[0]), (lost.kv, gone_ids[1])):
        side.send(kvtest.encode("CLIENT", "TRACKING", "ON", "REDIRECT", gone_id))
    check.equal("REDIRECT to a RESP3 client", lost.redis.reply(), lost.kv.reply())
    lost.both("GET", "b1")
    gone.close()
    for side, gone_id in ((writer.redis, gone_ids[0]), (writer.kv, gone_ids[1])):
        deadline = time.monotonic() + 10
        while b"id=" in side.call("CLIENT", "LIST", "ID", gone_id):
            if not check.true("the closed client goes", time.monotonic() < deadline):
                break
            time.sleep(0.01)
    writer.both("SET", "b1", "x")
    broken = [re.sub(rb":\d+\r\n$", b":?\r\n", reply) for reply in lost.redis.pending()]
    check.equal("the redirect target left: tracking-redir-broken",
                broken, [re.sub(rb":\d+\r\n$", b":?\r\n", reply) for reply in lost.kv.pending()])
    check.true("and Redis sent one", len(broken) == 1, repr(broken))
    lost.send("CLIENT", "TRACKINGINFO")
    check.equal("TRACKINGINFO shows broken_redirect",
                re.sub(rb"redirect\r\n:\d+", b"redirect\r\n:?", lost.redis.reply()),
                re.sub(rb"redirect\r\n:\d+", b"redirect\r\n:?", lost.kv.reply()))
    lost.close()
    for client in (reader, writer, sink, old):
        client.close()


KEYS = [b"k0", b"k1", b"h", b"s", b"z", b"l", b"i"]
MEMBERS = [b"a", b"b", b"c", b"1", b"2", b"x y"]


def random_command(rnd):
    key = rnd.choice(KEYS)
    member = rnd.choice(MEMBERS)
    score = rnd.choice([b"1", b"-2.5", b"0", b"inf", b"-inf", b"1e-3", b"3"])
    return rnd.choice([
        [b"SET", key, member], [b"GET", key], [b"DEL", key], [b"HSET", key, member, score],
        [b"HGETALL", key], [b"HGET", key, member], [b"SADD", key, member], [b"SMEMBERS", key],
        [b"SINTER", key, rnd.choice(KEYS)], [b"SUNION", key, rnd.choice(KEYS)],
        [b"SDIFF", key, rnd.choice(KEYS)], [b"ZADD", key, score, member], [b"ZSCORE", key, member],
        [b"ZINCRBY", key, score, member], [b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"],
        [b"ZPOPMIN", key], [b"ZPOPMAX", key, b"2"], [b"ZMSCORE", key, member, b"nomember"],
        [b"RPUSH", key, member], [b"LPOP", key], [b"RPOP", key, b"2"],
        [b"ZRANGEBYSCORE", key, b"-inf", b"+inf", b"WITHSCORES"], [b"HINCRBYFLOAT", key, member,
                                                                   b"0.5"],
        [b"INCRBYFLOAT", key, b"1.5"], [b"SREM", key, member], [b"ZREM", key, member],
        [b"HDEL", key, member], [b"MGET", key, b"nokey"], [b"TYPE", key],
    ])


def random_run(kv, redis, check):
    seed = int(os.environ.get("KV_SEED") or random.randrange(1 << 32))
    print(f"seed {seed} (KV_SEED={seed} replays this run)")
    rnd = random.Random(seed)
    pair = Pair(kv, redis, check)
    pair.both("FLUSHALL")
    quiet = kvtest.Checker("random", verbose=False)
    pair.check = quiet
    for step in range(RANDOM_COMMANDS):
        command = random_command(rnd)
        pair.both(*command)
        if quiet.failures:
            print(f"seed {seed}: step {step} differs")
            break
    check.true(f"{quiet.count - quiet.failures} of {RANDOM_COMMANDS} random RESP3 replies equal",
               quiet.failures == 0 and quiet.count == RANDOM_COMMANDS, f"seed {seed}")
    pair.close()


def main():
    check = kvtest.Checker("test_diff_resp3")
    with kvtest.start_kv(*KV_OPTIONS) as kv, kvtest.start_redis() as redis:
        hello(kv, redis, check)
        conversions(kv, redis, check)
        structures(kv, redis, check)
        blocked(kv, redis, check)
        streams(kv, redis, check)
        pubsub(kv, redis, check)
        if TRACKING:
            tracking(kv, redis, check)
        random_run(kv, redis, check)
    check.finish()


if __name__ == "__main__":
    main()
