"""Connection and server commands on the real kv binary, compared with redis-server where
Redis defines the answer.

- requirepass: every command but AUTH/HELLO/QUIT/RESET is refused with Redis's NOAUTH error
  (compared with a redis-server given the same password); AUTH and HELLO AUTH succeed with
  it and answer WRONGPASS otherwise; HELLO 4 gets -NOPROTO (RESP3: test_diff_resp3.py).
- CONFIG SET changes requirepass, hz and slowlog-log-slower-than at once, refuses the sizing
  options as immutable, and keeps the connections already authenticated.
- CLIENT SETNAME/GETNAME/SETINFO/LIST/INFO/KILL (by id, by address, of itself), RESET.
- INFO has the fields monitoring reads, with live values; COMMAND, COMMAND INFO, LIST
  and COUNT agree with each other and with what kv runs; TIME is the wall clock.
"""
import re
import socket
import time

import kvtest

OPTIONS = ["--connections-max", "8", "--key-count", "100", "--key-size-max", "64",
           "--val-size-max", "256", "--list-length-max", "8", "--hugepages", "off"]


def passwords(check):
    with kvtest.start_kv(*OPTIONS, "--requirepass", "pw") as kv, kvtest.start_redis() as redis:
        with redis.connect() as admin:
            admin.call("CONFIG", "SET", "requirepass", "pw")
        probes = [["PING"], ["GET", "k"], ["CLIENT", "ID"], ["COMMAND", "COUNT"], ["TIME"],
                  ["HELLO"], ["HELLO", "2"], ["HELLO", "2", "AUTH", "default", "bad"],
                  ["HELLO", "x"], ["AUTH", "bad"], ["AUTH", "default", "bad"], ["AUTH"],
                  ["AUTH", "a", "b", "c"], ["MULTI"], ["SET", "k", "v"]]
        with kv.connect() as kv_client, redis.connect() as redis_client:
            for probe in probes:
                check.equal(f"unauthenticated {probe}", redis_client.call(*probe),
                            kv_client.call(*probe))
            check.equal("AUTH with the password", b"+OK\r\n", kv_client.call("AUTH", "pw"))
            check.equal("then commands run", b"+PONG\r\n", kv_client.call("PING"))
            check.equal("HELLO 4: no such protocol",
                        b"-NOPROTO unsupported protocol version\r\n", kv_client.call("HELLO", "4"))
            check.equal("RESET", b"+RESET\r\n", kv_client.call("RESET"))
            check.equal("RESET forgets the authentication", redis_client.call("PING"),
                        kv_client.call("PING"))
        with kv.connect() as client:
            hello = kvtest.decode(client.call("HELLO", "2", "AUTH", "default", "pw", "SETNAME", "me"))
            check.true(f"HELLO AUTH SETNAME ({hello})", isinstance(hello, list) and
                       hello[:6] == [b"server", b"redis", b"version", b"7.0.15", b"proto", 2])
            check.equal("the name is set", b"$2\r\nme\r\n", client.call("CLIENT", "GETNAME"))
            check.equal("CONFIG SET requirepass", b"+OK\r\n",
                        client.call("CONFIG", "SET", "requirepass", "new"))
            check.equal("this client stays authenticated", b"+PONG\r\n", client.call("PING"))
            with kv.connect() as other:
                check.equal("the old password no longer works",
                            b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
                            other.call("AUTH", "pw"))
                check.equal("the new one does", b"+OK\r\n", other.call("AUTH", "new"))
            check.equal("CONFIG SET requirepass ''", b"+OK\r\n",
                        client.call("CONFIG", "SET", "requirepass", ""))
            with kv.connect() as other:
                check.equal("no password: commands run at once", b"+PONG\r\n", other.call("PING"))


def config(check):
    with kvtest.start_kv(*OPTIONS) as kv, kv.connect() as client:
        check.equal("CONFIG SET hz", b"+OK\r\n", client.call("CONFIG", "SET", "hz", "25"))
        check.equal("CONFIG GET hz", [b"hz", b"25"], kvtest.decode(client.call("CONFIG", "GET", "hz")))
        check.starts("CONFIG SET hz out of range",
                     b"-ERR CONFIG SET failed (possibly related to argument 'hz') - option hz",
                     client.call("CONFIG", "SET", "hz", "0"))
        check.equal("CONFIG SET of a sizing option is refused",
                    b"-ERR CONFIG SET failed (possibly related to argument 'key_count') - "
                    b"can't set immutable config\r\n", client.call("CONFIG", "SET", "key_count", "5"))
        check.equal("several at once: all or none", b"-ERR CONFIG SET failed (possibly related to "
                    b"argument 'maxclients') - can't set immutable config\r\n",
                    client.call("CONFIG", "SET", "hz", "30", "maxclients", "5"))
        check.equal("hz kept its value", [b"hz", b"25"],
                    kvtest.decode(client.call("CONFIG", "GET", "hz")))
        check.equal("slowlog-log-slower-than 0 logs every command", b"+OK\r\n",
                    client.call("CONFIG", "SET", "slowlog-log-slower-than", "0"))
        client.call("SLOWLOG", "RESET")
        for _ in range(5):
            client.call("PING")
        length = kvtest.decode(client.call("SLOWLOG", "LEN"))
        check.true(f"the slow log fills ({length})", length >= 5)
        client.call("CONFIG", "SET", "slowlog-log-slower-than", "-1")
        client.call("SLOWLOG", "RESET")
        client.call("PING")
        check.equal("-1 logs nothing", b":0\r\n", client.call("SLOWLOG", "LEN"))
        check.equal("tools' CONFIG SET save \"\" is accepted", b"+OK\r\n",
                    client.call("CONFIG", "SET", "save", ""))


def client_line_fields(line):
    return dict(part.split("=", 1) for part in line.split(" ") if "=" in part)


def closed_by_server(client):
    """Whether the server has closed this connection: a PING gets no reply."""
    try:
        return client.call("PING") == b""
    except (kvtest.ConnectionClosed, OSError):
        return True


def clients(check):
    with kvtest.start_kv(*OPTIONS) as kv, kv.connect() as me, kv.connect() as other:
        check.equal("CLIENT SETNAME", b"+OK\r\n", me.call("CLIENT", "SETNAME", "trader-1"))
        check.equal("CLIENT SETINFO lib-name", b"+OK\r\n",
                    me.call("CLIENT", "SETINFO", "LIB-NAME", "redis-py"))
        check.equal("CLIENT SETINFO lib-ver", b"+OK\r\n", me.call("CLIENT", "SETINFO", "lib-ver", "4.3.4"))
        check.equal("CLIENT SETINFO of something else",
                    b"-ERR Unrecognized option 'color'\r\n", me.call("CLIENT", "SETINFO", "color", "x"))
        check.equal("CLIENT SETINFO with a space", b"-ERR lib-name cannot contain spaces, newlines "
                    b"or special characters.\r\n", me.call("CLIENT", "SETINFO", "lib-name", "a b"))
        my_id = kvtest.decode(me.call("CLIENT", "ID"))
        other_id = kvtest.decode(other.call("CLIENT", "ID"))
        listing = kvtest.decode(me.call("CLIENT", "LIST")).decode()
        lines = [client_line_fields(line) for line in listing.strip("\n").split("\n")]
        check.equal("CLIENT LIST shows both clients", sorted([str(my_id), str(other_id)]),
                    sorted(fields["id"] for fields in lines))
        mine = [fields for fields in lines if fields["id"] == str(my_id)][0]
        check.equal("with my name", "trader-1", mine["name"])
        check.equal("and library", ("redis-py", "4.3.4"), (mine["lib-name"], mine["lib-ver"]))
        check.true(f"and my address ({mine['addr']})", mine["addr"].startswith("127.0.0.1:"))
        check.equal("and the last command", "client", mine["cmd"])
        info = client_line_fields(kvtest.decode(me.call("CLIENT", "INFO")).decode().strip())
        check.equal("CLIENT INFO is my line", str(my_id), info["id"])
        one = kvtest.decode(me.call("CLIENT", "LIST", "ID", str(other_id))).decode()
        check.equal("CLIENT LIST ID selects", str(other_id), client_line_fields(one.strip())["id"])
        check.equal("CLIENT KILL ID of the other client", b":1\r\n",
                    me.call("CLIENT", "KILL", "ID", str(other_id)))
        check.true("the other client is closed", closed_by_server(other))
        check.equal("I am still served", b"+PONG\r\n", me.call("PING"))
        with kv.connect() as third:
            address = client_line_fields(kvtest.decode(third.call("CLIENT", "INFO")).decode().strip())["addr"]
            check.equal("CLIENT KILL addr (the old form)", b"+OK\r\n", me.call("CLIENT", "KILL", address))
            check.equal("CLIENT KILL of an unknown address", b"-ERR No such client\r\n",
                        me.call("CLIENT", "KILL", address))
        with kv.connect() as fourth:
            fourth_id = kvtest.decode(fourth.call("CLIENT", "ID"))
            check.equal("CLIENT KILL ID of itself with SKIPME no: answered, then closed", b":1\r\n",
                        fourth.call("CLIENT", "KILL", "ID", str(fourth_id), "SKIPME", "no"))
            check.true("the killer is closed after its reply", closed_by_server(fourth))
        check.equal("MULTI", b"+OK\r\n", me.call("MULTI"))
        check.equal("RESET inside MULTI", b"+RESET\r\n", me.call("RESET"))
        check.equal("the transaction is gone", b"-ERR EXEC without MULTI\r\n", me.call("EXEC"))
        check.equal("and the name", b"$-1\r\n", me.call("CLIENT", "GETNAME"))


def info_and_command(check):
    with kvtest.start_kv(*OPTIONS) as kv, kv.connect() as client:
        client.call("SET", "a", "1", "EX", "100")
        client.call("GET", "a")
        client.call("GET", "nope")
        # Commands over a few sampling intervals, so the instantaneous rate is not zero.
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            client.send(kvtest.encode("PING") * 100)
            client.replies(100)
        fields = kvtest.info(client)
        for name in ("redis_version", "uptime_in_seconds", "connected_clients", "used_memory",
                     "maxmemory", "total_commands_processed", "instantaneous_ops_per_sec",
                     "keyspace_hits", "keyspace_misses", "expired_keys", "rejected_connections",
                     "db0", "kv_region_bytes", "kv_region_page_bytes", "kv_region_locked",
                     "allocator_allocations", "maxmemory_policy", "evicted_keys",
                     "kv_heap_used_bytes", "kv_heap_allocations", "kv_data_limit_bytes"):
            check.true(f"INFO has {name}", name in fields)
        # The key and the connections live in the heap: its use shows in used_memory.
        check.true(f"used_memory counts the heap's use ({fields.get('used_memory')}, "
                   f"{fields.get('kv_heap_used_bytes')} heap bytes in "
                   f"{fields.get('kv_heap_allocations')} allocations)",
                   int(fields.get("used_memory", 0)) > 0
                   and fields.get("used_memory") == fields.get("kv_heap_used_bytes")
                   and int(fields.get("kv_heap_allocations", 0)) >= 2)
        check.true(f"instantaneous_ops_per_sec is live ({fields.get('instantaneous_ops_per_sec')})",
                   int(fields.get("instantaneous_ops_per_sec", 0)) > 0)
        check.equal("keyspace_hits", "1", fields.get("keyspace_hits"))
        # avg_ttl: 0 until active expiry has met the key, then Redis's estimate (its TTL).
        db0 = re.fullmatch(r"keys=1,expires=1,avg_ttl=(\d+)", fields.get("db0", ""))
        check.true(f"db0 ({fields.get('db0')})",
                   db0 is not None and 0 <= int(db0.group(1)) <= 100000)
        latency = kvtest.info(client, "latencystats")
        check.true(f"INFO latencystats has PING ({latency.get('latency_percentiles_usec_ping')})",
                   latency.get("latency_percentiles_usec_ping", "").startswith("p50="))
        count = kvtest.decode(client.call("COMMAND", "COUNT"))
        table = kvtest.decode(client.call("COMMAND"))
        names = [name for name in kvtest.decode(client.call("COMMAND", "LIST"))
                 if b"|" not in name]
        check.equal("COMMAND has COUNT entries", count, len(table))
        check.equal("COMMAND LIST has COUNT commands", count, len(names))
        check.equal("the same names", sorted(names), sorted(entry[0] for entry in table))
        # Each name alone (but those that would end or change this connection's state, or
        # stop the server). Their entries are Redis's (test_diff_command).
        unknown = [name for name in names
                   if name not in (b"quit", b"reset", b"multi", b"shutdown", b"monitor")
                   and client.call(name).startswith(b"-ERR unknown command")]
        check.equal("every listed command is one kv runs", [], unknown)
        get = kvtest.decode(client.call("COMMAND", "INFO", "get", "nosuch"))
        check.equal("COMMAND INFO get", [b"get", 2, ["readonly", "fast"], 1, 1, 1], get[0][:6])
        check.equal("COMMAND INFO of an unknown command: null", None, get[1])
        seconds, micros = (int(part) for part in kvtest.decode(client.call("TIME")))
        check.true("TIME is the wall clock", abs(seconds + micros / 1e6 - time.time()) < 2)


def main():
    check = kvtest.Checker("test_clients")
    passwords(check)
    config(check)
    clients(check)
    info_and_command(check)
    check.finish()


if __name__ == "__main__":
    main()
