#!/usr/bin/env python3
"""Generates src/redis_command_table.h: what Redis 7.0 says about each of its commands, for
COMMAND INFO, COMMAND DOCS, COMMAND LIST and COMMAND GETKEYS.

Every command and subcommand is read from a running redis-server 7.0 over RESP3 (COMMAND
INFO and COMMAND DOCS, one name at a time), so the table holds exactly Redis's answers; the
names of the key-finding functions that some commands fall back on come from Redis's
src/commands/ JSON files (`git show 7.0.15:src/commands/...`). Each reply is kept as an encoded
tree (see cmd_command.c) that kv writes in the client's protocol.

usage: gen_redis_commands.py REDIS_PORT REDIS_GIT_DIR > src/redis_command_table.h
"""
import json
import socket
import subprocess
import sys

ACL_CATEGORIES = ["keyspace", "read", "write", "set", "sortedset", "list", "hash", "string",
                  "bitmap", "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow",
                  "blocking", "dangerous", "connection", "transaction", "scripting"]
KEY_FLAGS = ["RO", "RW", "OW", "RM", "access", "update", "insert", "delete", "not_key",
             "incomplete", "variable_flags"]
GETKEYS = ["none", "bitfield", "blmpop", "eval", "function", "georadius", "lmpop", "migrate",
           "set", "sintercard", "sort", "sort_ro", "xread", "zunion_inter_diff",
           "zunion_inter_diff_store", "zmpop"]
GETKEYS_OF = {"bitfieldGetKeys": "bitfield", "blmpopGetKeys": "blmpop", "evalGetKeys": "eval",
              "functionGetKeys": "function", "georadiusGetKeys": "georadius",
              "lmpopGetKeys": "lmpop", "migrateGetKeys": "migrate", "setGetKeys": "set",
              "sintercardGetKeys": "sintercard", "sortGetKeys": "sort",
              "sortROGetKeys": "sort_ro", "xreadGetKeys": "xread",
              "zunionInterDiffGetKeys": "zunion_inter_diff",
              "zunionInterDiffStoreGetKeys": "zunion_inter_diff_store",
              "zmpopGetKeys": "zmpop"}


class Resp3:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buffer = b""
        self.call(b"HELLO", b"3")

    def call(self, *args):
        out = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
        self.sock.sendall(out)
        return self.read()

    def line(self):
        while b"\r\n" not in self.buffer:
            self.buffer += self.sock.recv(1 << 16)
        head, self.buffer = self.buffer.split(b"\r\n", 1)
        return head

    def exact(self, count):
        while len(self.buffer) < count + 2:
            self.buffer += self.sock.recv(1 << 16)
        data, self.buffer = self.buffer[:count], self.buffer[count + 2:]
        return data

    def read(self):
        head = self.line()
        kind, rest = head[:1], head[1:]
        if kind in b"+-":
            return (kind.decode(), rest)
        if kind == b":":
            return ("i", int(rest))
        if kind == b"$":
            return ("b", self.exact(int(rest)))
        if kind == b"_":
            return ("_", None)
        if kind in b"*~>":
            return ({b"*": "a", b"~": "s", b">": "a"}[kind],
                    [self.read() for _ in range(int(rest))])
        if kind == b"%":
            return ("m", [self.read() for _ in range(2 * int(rest))])
        raise ValueError(f"unexpected RESP3 type {head!r}")


def encode(node):
    """The tree as cmd_command.c's encoding: a letter, a decimal and a comma, then the bytes
    of a string or the nodes of a container (a map's count is its pairs)."""
    kind, value = node
    if kind in ("b", "+"):
        return kind.encode() + b"%d," % len(value) + value
    if kind == "i":
        return b"i%d," % value
    if kind in ("a", "s"):
        return kind.encode() + b"%d," % len(value) + b"".join(encode(v) for v in value)
    if kind == "m":
        return b"m%d," % (len(value) // 2) + b"".join(encode(v) for v in value)
    raise ValueError(f"cannot encode {kind}")


def c_string(data):
    out, column = ['"'], 0
    for byte in data:
        char = chr(byte)
        if char in '"\\':
            piece = "\\" + char
        elif 32 <= byte < 127 and char != "?":
            piece = char
        else:
            piece = "\\%03o" % byte
        out.append(piece)
        column += len(piece)
        if column > 80:
            out.append('"\n        "')
            column = 0
    out.append('"')
    return "".join(out)


def pairs(node):
    kind, value = node
    assert kind == "m", node
    return {value[i][1].decode(): value[i + 1] for i in range(0, len(value), 2)}


def key_spec(node):
    spec = pairs(node)
    flags = sum(1 << KEY_FLAGS.index(f[1].decode()) for f in spec["flags"][1])
    begin, find = pairs(spec["begin_search"]), pairs(spec["find_keys"])
    begin_type, begin_spec = begin["type"][1].decode(), pairs(begin["spec"])
    find_type, find_spec = find["type"][1].decode(), pairs(find["spec"])
    if begin_type == "index":
        begin_fields = (1, begin_spec["index"][1], '""')
    elif begin_type == "keyword":
        begin_fields = (2, begin_spec["startfrom"][1],
                        c_string(begin_spec["keyword"][1]))
    else:
        begin_fields = (0, 0, '""')
    if find_type == "range":
        find_fields = (1, find_spec["lastkey"][1], find_spec["keystep"][1],
                       find_spec["limit"][1])
    elif find_type == "keynum":
        find_fields = (2, find_spec["keynumidx"][1], find_spec["firstkey"][1],
                       find_spec["keystep"][1])
    else:
        find_fields = (0, 0, 0, 0)
    return "{0x%03x, %d, %d, %s, %d, %d, %d, %d}" % ((flags,) + begin_fields + find_fields)


def getkeys_names(git_dir):
    names = {}
    listing = subprocess.run(["git", "--git-dir", git_dir, "ls-tree", "--name-only",
                              "7.0.15", "src/commands/"], capture_output=True, text=True,
                             check=True).stdout.split()
    for path in listing:
        text = subprocess.run(["git", "--git-dir", git_dir, "show", "7.0.15:" + path],
                              capture_output=True, text=True, check=True).stdout
        for name, body in json.loads(text).items():
            if "get_keys_function" in body:
                full = name.lower()
                if "container" in body:
                    full = body["container"].lower() + "|" + full
                names[full] = GETKEYS_OF[body["get_keys_function"]]
    return names


def main():
    port, git_dir = int(sys.argv[1]), sys.argv[2]
    procs = getkeys_names(git_dir)
    client = Resp3(port)
    top = sorted(n[1].decode() for n in client.call(b"COMMAND", b"LIST")[1]
                 if b"|" not in n[1])
    rows, specs = [], []
    for name in top:
        info = client.call(b"COMMAND", b"INFO", name.encode())[1][0]
        docs = pairs(client.call(b"COMMAND", b"DOCS", name.encode()))[name]
        subs = sorted((sub for sub in info[1][9][1]), key=lambda s: s[1][0][1])
        sub_docs = pairs(pairs(docs).get("subcommands", ("m", [])))
        entries = [(name, info, docs)]
        for sub in subs:
            full = sub[1][0][1].decode()
            entries.append((full, sub, sub_docs[full]))
        first = len(rows)
        for index, (full, entry, doc) in enumerate(entries):
            fields = entry[1]
            flags = [f[1].decode() for f in fields[2][1]]
            categories = sum(1 << ACL_CATEGORIES.index(c[1].decode()[1:]) for c in fields[6][1])
            spec_first = len(specs)
            specs.extend(key_spec(s) for s in fields[8][1])
            doc_pairs = [p for p in zip(doc[1][::2], doc[1][1::2])
                         if p[0][1] != b"subcommands"]
            rows.append({
                "name": full, "arity": fields[1][1],
                "no_mandatory_keys": "no_mandatory_keys" in flags,
                "sub_first": first + 1 if index == 0 and len(entries) > 1 else 0,
                "sub_count": len(entries) - 1 if index == 0 else 0,
                "spec_first": spec_first, "spec_count": len(specs) - spec_first,
                "categories": categories, "getkeys": procs.get(full, "none"),
                "info": b"".join(encode(f) for f in fields[:9]),
                "docs_pairs": len(doc_pairs),
                "docs": b"".join(encode(k) + encode(v) for k, v in doc_pairs),
            })
    version = pairs(client.call(b"HELLO", b"3"))["version"][1].decode()
    print("/*")
    print(f" * Generated by tools/gen_redis_commands.py from redis-server {version}: COMMAND INFO")
    print(" * and COMMAND DOCS of every command and subcommand (RESP3, encoded as cmd_command.c")
    print(" * reads them), and the key-finding fallback each one names in Redis's JSON.")
    print(" * Do not edit; run the generator again. Rows are sorted by full name; a command's")
    print(" * subcommands follow it (sub_first, sub_count).")
    print(" */")
    print("#ifndef KV_REDIS_COMMAND_TABLE_H")
    print("#define KV_REDIS_COMMAND_TABLE_H")
    print()
    print(f"#define REDIS_COMMAND_ROWS {len(rows)}u")
    print(f"#define REDIS_KEY_SPECS {len(specs)}u")
    print()
    print("static const char *const redis_acl_categories[] = {")
    for at in range(0, len(ACL_CATEGORIES), 6):
        print("    " + " ".join(f'"{c}",' for c in ACL_CATEGORIES[at:at + 6]))
    print("};")
    print()
    print("static const struct redis_key_spec redis_key_specs[REDIS_KEY_SPECS] = {")
    for spec in specs:
        print(f"    {spec},")
    print("};")
    print()
    print("static const struct redis_command_row redis_command_rows[REDIS_COMMAND_ROWS] = {")
    for row in rows:
        print(f'    {{"{row["name"]}", {row["arity"]}, {str(row["no_mandatory_keys"]).lower()}, '
              f'{row["sub_first"]}, {row["sub_count"]}, {row["spec_first"]}, '
              f'{row["spec_count"]}, 0x{row["categories"]:06x}, '
              f'REDIS_GETKEYS_{row["getkeys"].upper()}, {row["docs_pairs"]},')
        print(f"        {c_string(row['info'])},")
        print(f"        {c_string(row['docs'])}}},")
    print("};")
    print()
    print("#endif")


if __name__ == "__main__":
    main()
