"""The standalone server's odd commands answer seeded random commands as redis-server 7.0 does:
ACL (only the default user: WHOAMI, USERS, LIST, GETUSER, CAT, LOG, GENPASS's length, DRYRUN,
DELUSER, SETUSER's rules kv keeps, SAVE/LOAD, HELP; a password set and cleared at the end),
DEBUG (refused: enable-debug-command is "no"), ROLE, WAIT, REPLICAOF/SLAVEOF (NO ONE and bad
ports: a good host and port would make Redis a replica, which kv refuses, checked apart),
FAILOVER, MODULE, LOLWUT (versions 5 and 6 draw random art on Redis: their last lines
compared), LATENCY DOCTOR/GRAPH (with
latency-monitor-threshold switched on and off), and the same commands in MULTI, in RESP3 and
with wrong arities. At least 20,000 commands, every reply compared byte for byte.
"""
import os
import re
import tempfile
import time

import kvtest
import difftools

COMMAND_COUNT = 20000
# A small kv: these commands keep no data.
OPTIONS = ["--connections-max", "16", "--key-count", "16", "--val-size-max", "64",
           "--list-length-max", "4", "--hugepages", "off"]
EVENTS = [b"command", b"fast-command", b"expire-cycle", b"", b"x y"]
ACL_SUBS = [b"WHOAMI", b"USERS", b"LIST", b"GETUSER", b"CAT", b"LOG", b"GENPASS", b"DRYRUN",
            b"DELUSER", b"SETUSER", b"SAVE", b"LOAD", b"HELP", b"nosuch"]
# Commands kv has, none a container (DRYRUN: kv checks the command's own arity).
DRYRUN_COMMANDS = [b"get", b"set", b"GET", b"ping", b"lpush", b"zadd", b"nosuch", b"publish"]
CATEGORIES = [b"keyspace", b"read", b"hyperloglog", b"connection", b"Pubsub", b"scripting",
              b"nosuch", b""]
HOSTS = [b"127.0.0.1", b"localhost", b"no", b"NO", b""]
BAD_PORTS = [b"abc", b"-1", b"65536", b"99999999999999999999", b"", b"1.5", b"two", b"TWO"]


class Generator:
    def __init__(self, rnd):
        self.rnd = rnd
        self.in_multi = False
        self.resp = 2

    def wire(self, command):
        return difftools.wire(self.rnd, command)

    def number(self):
        return difftools.number(self.rnd)

    def command(self):
        rnd = self.rnd
        name = lambda text: difftools.mixed_case(rnd, text)  # noqa: E731
        roll = rnd.random()
        if roll < 0.04:
            self.in_multi = not self.in_multi
            return [name(b"MULTI") if self.in_multi else rnd.choice([b"EXEC", b"DISCARD"])]
        if roll < 0.05 and not self.in_multi:
            self.resp = 5 - self.resp
            return [b"HELLO", b"%d" % self.resp]
        if roll < 0.16:
            return self.acl()
        if roll < 0.18:
            sub = rnd.choice([b"SLEEP", b"OBJECT", b"help", b"SET-ACTIVE-EXPIRE"])
            return [name(b"DEBUG"), sub] + [b"0"] * rnd.choice([0, 1]) if not self.in_multi \
                else [b"PING"]
        if roll < 0.22:
            return [name(b"ROLE")] + ([b"x"] if rnd.random() < 0.2 else [])
        if roll < 0.27:
            # Redis blocks a WAIT for replicas until its timeout: short ones, rarely.
            replicas = rnd.choice([b"0", b"-1", b"0", b"abc", b"", b"1.5", b"1"])
            timeout = rnd.choice([b"0", b"1", b"2", b"-1", b"a", b"1.5", b"9223372036854775807"])
            if replicas == b"1" and timeout in (b"0", b"9223372036854775807"):
                timeout = b"1"
            args = [replicas, timeout][:rnd.choice([2, 2, 2, 1, 3])]
            if len(args) == 3:
                args.append(b"x")
            return [name(b"WAIT")] + args
        if roll < 0.34:
            if rnd.random() < 0.5:
                return [name(rnd.choice([b"REPLICAOF", b"SLAVEOF"])), name(b"NO"), name(b"ONE")]
            args = [rnd.choice(HOSTS), rnd.choice(BAD_PORTS)][:rnd.choice([2, 2, 1])]
            return [name(rnd.choice([b"REPLICAOF", b"SLAVEOF"]))] + args
        if roll < 0.44:
            parts = []
            for _ in range(rnd.randint(0, 4)):
                option = rnd.random()
                if option < 0.3:
                    parts += [name(b"TIMEOUT"), rnd.choice([b"10", b"0", b"-5", b"x", b"1"])]
                elif option < 0.6:
                    parts += [name(b"TO"), rnd.choice(HOSTS), rnd.choice([b"6379", b"x", b"-1"])]
                elif option < 0.8:
                    parts.append(name(b"FORCE"))
                else:
                    parts.append(rnd.choice([name(b"ABORT"), b"foo", b"TO", b"TIMEOUT"]))
            return [name(b"FAILOVER")] + parts
        if roll < 0.56:
            # (Redis refuses a protected subcommand when MULTI queues it; kv when EXEC runs
            # it: not sent inside MULTI.)
            subs = [b"LIST", b"HELP", b"foo", b"list"]
            sub = rnd.choice(subs if self.in_multi else subs + [b"LOAD", b"LOADEX", b"UNLOAD"])
            extra = [rnd.choice([b"/nonexistent.so", b"mod", b"", b"CONFIG"])
                     for _ in range(rnd.choice([0, 0, 1, 1, 2]))]
            return [name(b"MODULE"), name(sub)] + extra
        if roll < 0.68:
            args = []
            if rnd.random() < 0.8:
                versions = [b"7", b"1", b"0", b"-1", b"x", b"", b"4294967303"]
                if not self.in_multi:  # (their art inside EXEC's array: not compared)
                    versions += [b"5", b"6", b"4294967301", b"4294967302"]
                args = [name(b"VERSION"), rnd.choice(versions)]
            args += [rnd.choice([b"1", b"10", b"x", b"-3", b"20"])
                     for _ in range(rnd.choice([0, 0, 1, 2, 3, 4]))]
            if rnd.random() < 0.1:
                args = args[1:]
            return [name(b"LOLWUT")] + args
        if roll < 0.76:
            return [b"CONFIG", b"SET", b"latency-monitor-threshold",
                    rnd.choice([b"0", b"100000", b"0"])]
        sub = rnd.choice([b"DOCTOR", b"GRAPH", b"LATEST", b"HISTORY", b"RESET", b"HELP",
                          b"nosuch"])
        args = [rnd.choice(EVENTS) for _ in range(rnd.choice([0, 1, 1, 2]))]
        return [name(b"LATENCY"), name(sub)] + args


    def acl(self):
        rnd = self.rnd
        sub = rnd.choice(ACL_SUBS)
        if self.in_multi and sub in (b"GENPASS", b"CAT"):
            sub = b"WHOAMI"  # (random or dict-ordered answers inside EXEC's array)
        args = [b"ACL", difftools.mixed_case(rnd, sub)]
        if sub == b"GETUSER":
            args += [rnd.choice([b"default", b"bob", b"", b"DEFAULT"])][:rnd.choice([1, 1, 0])]
        elif sub == b"CAT":
            args += [rnd.choice(CATEGORIES)][:rnd.choice([0, 1, 1])]
        elif sub == b"LOG":
            args += [rnd.choice([b"RESET", b"reset", b"5", b"0", b"-1", b"x"])][:rnd.choice([0, 1])]
        elif sub == b"GENPASS":
            args += [rnd.choice([b"1", b"5", b"256", b"4096", b"4097", b"0", b"-1", b"x",
                                 b"100"])][:rnd.choice([0, 1, 1])]
        elif sub == b"DRYRUN":
            user = rnd.choice([b"default", b"default", b"bob"])
            command = rnd.choice(DRYRUN_COMMANDS)
            args += [user, command] + [b"k"] * rnd.randint(0, 3)
        elif sub == b"DELUSER":
            args += rnd.sample([b"a", b"b", b"default", b"nobody"], rnd.randint(0, 2))
        elif sub == b"SETUSER":
            args += [b"default"] + rnd.sample([b"on", b"allkeys", b"~*", b"&*", b"+@all",
                                               b"allcommands"], rnd.randint(0, 2))
        elif rnd.random() < 0.1:
            args.append(b"extra")
        return args


def lolwut_text(reply):
    """The text of a LOLWUT answer (RESP2 bulk or RESP3 verbatim), None for anything else."""
    value = kvtest.decode(reply)
    if isinstance(value, tuple) and value[0] == "verbatim":
        value = value[1][4:]
    return value if isinstance(value, bytes) else None


def replies_equal(command, want, got):
    """Identical; a LOLWUT of versions 5 and 6 (random art on Redis) ends with kv's text;
    HELLO's client id aside; ACL GENPASS (random) by its length; ACL CAT's commands (Redis's
    dict order) as a set."""
    if want == got:
        return True
    upper = [part.upper() for part in command[:2]]
    if upper == [b"ACL", b"GENPASS"]:
        return want[:1] == got[:1] == b"$" and want.split(b"\r\n")[0] == got.split(b"\r\n")[0]
    if upper == [b"ACL", b"CAT"] and want[:1] == b"*":
        return sorted(kvtest.decode(want)) == sorted(kvtest.decode(got))
    if command[0] == b"HELLO":
        return (re.sub(rb"\$2\r\nid\r\n:\d+\r\n", b"", want) ==
                re.sub(rb"\$2\r\nid\r\n:\d+\r\n", b"", got))
    if command[0].upper() != b"LOLWUT":
        return False
    want_text, got_text = lolwut_text(want), lolwut_text(got)
    return (want_text is not None and got_text is not None and got_text.startswith(b"\n") and
            want_text.endswith(got_text) and want[:1] == got[:1])


def main():
    check = kvtest.Checker("test_diff_misc_cmds", verbose=False)
    # A standalone kv cannot become a replica: REPLICAOF with a host says so (Redis: +OK).
    # kv alone, with DEBUG allowed from loopback and MODULE LOAD allowed: what Redis answers
    # then (a library that cannot load, no module to unload), DEBUG SLEEP sleeping.
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as conf:
        conf.write("enable-debug-command local\nenable-module-command yes\n")
    try:
        with kvtest.start_kv("--config", conf.name, *OPTIONS) as kv, kv.connect() as client:
            started = time.monotonic()
            check.equal("DEBUG SLEEP 0.2", b"+OK\r\n", client.call("DEBUG", "SLEEP", "0.2"))
            check.true("DEBUG SLEEP slept", time.monotonic() - started >= 0.2)
            check.equal("DEBUG CHANGE-REPL-ID", b"+OK\r\n", client.call("DEBUG", "change-repl-id"))
            check.equal("DEBUG OBJECT (not in kv)",
                        b"-ERR unknown subcommand or wrong number of arguments for 'OBJECT'. Try "
                        b"DEBUG HELP.\r\n", client.call("DEBUG", "OBJECT", "k"))
            check.equal("MODULE LOAD allowed", b"-ERR Error loading the extension. Please check "
                        b"the server logs.\r\n", client.call("MODULE", "LOAD", "/no/such.so"))
            check.equal("MODULE UNLOAD allowed", b"-ERR Error unloading module: no such module "
                        b"with that name\r\n", client.call("MODULE", "UNLOAD", "x"))
    finally:
        os.unlink(conf.name)
    with kvtest.start_kv(*OPTIONS) as kv, kv.connect() as client:
        check.starts("REPLICAOF host port refused",
                     b"-ERR REPLICAOF <host> <port> is not supported",
                     client.call("REPLICAOF", "127.0.0.1", "6379"))
        check.equal("ROLE after it", b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n", client.call("ROLE"))
        check.equal("COMMAND INFO of the new commands",
                    7, len(kvtest.decode(client.call("COMMAND", "INFO", "role", "wait",
                                                     "replicaof", "slaveof", "failover",
                                                     "module", "lolwut"))))
    # (The stream may end inside MULTI or in RESP3: DISCARD and HELLO 2 first.)
    probes = [[b"DISCARD"], [b"HELLO", b"2"], [b"ROLE"], [b"LOLWUT"], [b"MODULE", b"LIST"],
              [b"LATENCY", b"DOCTOR"],
              # (MODULE's subcommands come in Redis's dict order: left out.)
              [b"COMMAND", b"INFO", b"role", b"wait", b"replicaof", b"failover", b"lolwut",
               b"slaveof"],
              [b"COMMAND", b"DOCS", b"lolwut"],
              # One password for the default user: set by ACL, used by AUTH, shown hashed.
              [b"ACL", b"SETUSER", b"default", b">s3cret pass"], [b"ACL", b"LIST"],
              [b"ACL", b"GETUSER", b"default"], [b"AUTH", b"s3cret pass"],
              [b"AUTH", b"default", b"s3cret pass"], [b"ACL", b"SETUSER", b"default", b"nopass"],
              [b"ACL", b"LIST"], [b"AUTH", b"x"]]
    kvtest.differential("test_diff_misc_cmds", Generator, COMMAND_COUNT, OPTIONS,
                        final_probes=probes, replies_equal=replies_equal, check=check)


if __name__ == "__main__":
    main()
