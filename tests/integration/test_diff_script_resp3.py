"""redis.setresp(3) in scripts answers exactly Redis 7.0's bytes, to RESP2 and RESP3 callers.

A seeded random run (KV_SEED replays it) of at least 10,000 commands on a HELLO 2 connection
and 10,000 on a HELLO 3 one goes to kv and to a real redis-server, every reply compared byte
for byte. The scripts switch to RESP3 (or not, or back) and convert redis.call's replies of
every RESP3 type: maps (HGETALL), sets (SMEMBERS, one member or sorted in the script), doubles
(ZSCORE, ZINCRBY, ZRANGE WITHSCORES), nulls (GET, LPOP, BLPOP's at-once timeout), verbatim
text (INFO's format); they inspect what Lua got (type(), fields), and return tables of every
shape luaReplyToRedisReply knows: {map=...} (nested, numeric keys, empty), {set=...},
{double=...} (inf, -inf, integral), {big_number=...} (with CR LF), {verbatim_string=...}
(short, long and missing format, missing string), booleans under either protocol, errors and
statuses. setresp's own errors (no argument, 4, two arguments) are compared too. Between the
scripts, HSET/ZADD/SADD/RPUSH/DEL change the data they read.
"""
import os
import random

import difftools
import kvtest
import test_diff_resp3

COMMAND_COUNT = 10000
KV_OPTIONS = ["--connections-max", "16", "--hugepages", "off", "--maxmemory", "32mb",
              "--lua-heap-bytes", "4mb"]
MEMBERS = [b"a", b"b", b"c", b"1", b"22", b"x y"]
SCORES = [b"1", b"-2.5", b"0.1", b"1e300", b"inf", b"-inf", b"3"]

R3 = b"redis.setresp(3) "
BODIES = [
    b"return redis.call('HGETALL', 'h')",
    b"local r = redis.call('HGETALL', 'h') return r.map and r.map[ARGV[1]] or 'nomap'",
    b"local r = redis.call('HGETALL', 'h') local n = 0 "
    b"for k, v in pairs(r.map or r) do n = n + 1 end return n",
    b"return redis.call('HGET', 'h', ARGV[1])",
    b"return type(redis.call('HGET', 'h', ARGV[1]))",
    b"return redis.call('ZSCORE', 'z', ARGV[1])",
    b"local r = redis.call('ZSCORE', 'z', ARGV[1]) "
    b"if type(r) == 'table' then return tostring(r.double) end return type(r)",
    b"return redis.call('ZRANGE', 'z', 0, -1, 'WITHSCORES')",
    b"return redis.call('ZINCRBY', 'z', ARGV[2] or 1, ARGV[1])",
    b"return redis.call('ZRANGE', 'z', 0, 0)",
    b"local r = redis.call('SMEMBERS', 's') local t = {} if r.set then "
    b"for k, v in pairs(r.set) do t[#t + 1] = k .. '=' .. tostring(v) end else "
    b"for i, v in ipairs(r) do t[#t + 1] = v end end table.sort(t) return t",
    b"if redis.call('SCARD', 's') <= 1 then return redis.call('SMEMBERS', 's') end return 0",
    b"return redis.call('GET', 'nokey')",
    b"return {redis.call('GET', 'nokey'), 'after'}",
    b"return type(redis.call('LPOP', 'nolist'))",
    b"return type(redis.call('BLPOP', 'nolist', 0))",
    b"return redis.call('LRANGE', 'l', 0, -1)",
    b"return redis.call('EXISTS', 'h', 'z')",
    b"return redis.call('SET', 'str', ARGV[1])",
    b"return redis.pcall('INCR', 'h')",
    b"local r = redis.call('INFO', 'keyspace') "
    b"if type(r) == 'table' then return r.verbatim_string.format end return type(r)",
    b"return {redis.call('HGETALL', 'h'), redis.call('ZSCORE', 'z', 'a'), "
    b"redis.call('HGET', 'h', 'nofield')}",
    b"return {map={a=1}}",
    b"return {map={[1]='one', [2]='two'}}",
    b"return {map={a={1, 2, {map={b=false}}}}}",
    b"return {map={}}",
    b"return {set={}}",
    b"return {set={x=true}}",
    b"return {set={[7]=true}}",
    b"return {double=1.5}",
    b"return {double=3}",
    b"return {double=1/0}",
    b"return {double=-1/0}",
    b"return {double=-0.1}",
    b"return {double='1.5'}",
    b"return {big_number='123456789012345678901234567890'}",
    b"return {big_number='1\\r\\n2'}",
    b"return {big_number=5}",
    b"return {verbatim_string={format='txt', string='hello'}}",
    b"return {verbatim_string={format='mk', string='short format'}}",
    b"return {verbatim_string={format='markdown', string='long format'}}",
    b"return {verbatim_string={format='txt'}}",
    b"return {verbatim_string={string='x'}}",
    b"return {verbatim_string='x'}",
    b"return true",
    b"return false",
    b"return {true, false, 1}",
    b"return nil",
    b"return {err='MYERR bad'}",
    b"return {ok='fine'}",
    b"return {1, {map={k='v'}}, {set={s=true}}, {double=2.5}}",
]
SCRIPTS = []
for body in BODIES:
    SCRIPTS.append(body)
    SCRIPTS.append(R3 + body)
SCRIPTS += [
    b"redis.setresp(3) redis.setresp(2) return redis.call('HGETALL', 'h')",
    b"redis.setresp(3) redis.setresp(2) return false",
    b"redis.setresp(3) local r = redis.call('GET', 'nokey') redis.setresp(2) "
    b"return {type(r), redis.call('GET', 'nokey')}",
    b"redis.setresp()",
    b"redis.setresp(4)",
    b"redis.setresp(1)",
    b"redis.setresp(3, 4)",
    b"return redis.pcall(redis.setresp, 4)",
    b"redis.setresp('3') return redis.call('HGETALL', 'h')",
]


class Generator:
    def __init__(self, rnd):
        self.rnd = rnd

    def command(self):
        rnd = self.rnd
        roll = rnd.randrange(100)
        if roll < 70:
            args = [rnd.choice(MEMBERS) for _ in range(rnd.choice([0, 1, 1, 2]))]
            if len(args) == 2 and rnd.random() < 0.5:
                args[1] = rnd.choice(SCORES)
            command = [b"EVAL", rnd.choice(SCRIPTS), b"0"] + args
        elif roll < 77:
            command = [b"HSET", b"h", rnd.choice(MEMBERS), rnd.choice(MEMBERS)]
        elif roll < 84:
            command = [b"ZADD", b"z", rnd.choice(SCORES), rnd.choice(MEMBERS)]
        elif roll < 88:
            command = [b"SADD", b"s", rnd.choice(MEMBERS)]
        elif roll < 91:
            command = [b"RPUSH", b"l", rnd.choice(MEMBERS)]
        elif roll < 95:
            command = [b"DEL", rnd.choice([b"h", b"z", b"s", b"l", b"str"])]
        else:
            command = [b"SREM", b"s", rnd.choice(MEMBERS)]
        command[0] = difftools.mixed_case(rnd, command[0])
        return command

    def wire(self, command):
        return kvtest.encode(*command)


def main():
    seed = int(os.environ.get("KV_SEED") or random.randrange(1 << 32))
    print(f"seed {seed} (KV_SEED={seed} replays this run)")
    check = kvtest.Checker("test_diff_script_resp3", verbose=False)
    rnd = random.Random(seed)
    with kvtest.start_kv(*KV_OPTIONS) as kv, kvtest.start_redis() as redis:
        for protocol in (b"2", b"3"):
            kv_client = test_diff_resp3.Client(kv.port)
            redis_client = test_diff_resp3.Client(redis.port)
            for client in (kv_client, redis_client):
                client.send(kvtest.encode(b"HELLO", protocol))
                client.reply()  # the servers' own descriptions (ids, versions) differ
                client.send(kvtest.encode(b"FLUSHALL"))
                client.reply()
            generator = Generator(rnd)
            compared = kvtest.compare_stream(kv_client, redis_client, generator, check,
                                             COMMAND_COUNT)
            check.true(f"HELLO {protocol.decode()}: {compared} replies equal "
                       f"(at least {COMMAND_COUNT})", compared >= COMMAND_COUNT, f"seed {seed}")
            kv_client.close()
            redis_client.close()
    if check.failures:
        print(f"seed {seed}: rerun with KV_SEED={seed}")
    check.finish()


if __name__ == "__main__":
    main()
