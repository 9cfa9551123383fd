"""A leaderboard through redis-py (Debian's python3-redis), checked against a model.

1,000 players get random score updates (ZADD, ZINCRBY, pipelined batches); after every
round the top 10 (ZREVRANGE WITHSCORES), the ranks of random players (ZREVRANK, ZRANK), their
scores (ZSCORE), the count in a score band (ZCOUNT) and a page of the board (ZRANGE BYSCORE
LIMIT) must equal what a plain Python model computes. Scores are integers and halves, so
doubles are exact, and ties are broken by member name, as Redis orders them.
"""
import random

import kvtest

PLAYERS = 1000
ROUNDS = 30


def ordered(model):
    return sorted(model.items(), key=lambda item: (item[1], item[0].encode()))


def main():
    check = kvtest.Checker("test_leaderboard", verbose=False)
    redis = kvtest.need_pyredis()
    options = ["--connections-max", "8", "--key-count", "16", "--key-size-max", "32",
               "--val-size-max", "32", "--list-length-max", "1024", "--hugepages", "off"]
    rnd = random.Random(20261126)
    with kvtest.start_kv(*options) as kv:
        client = redis.Redis(host="127.0.0.1", port=kv.port, decode_responses=True)
        model = {}
        names = [f"player:{index:04d}" for index in range(PLAYERS)]
        check.equal("ZADD of every player", PLAYERS,
                    client.zadd("board", {name: rnd.randint(0, 100) for name in names}))
        model.update({name: float(score) for name, score in
                      client.zrange("board", 0, -1, withscores=True)})
        for round_number in range(ROUNDS):
            with client.pipeline(transaction=round_number % 2 == 0) as pipe:
                for _ in range(100):
                    name = rnd.choice(names)
                    if rnd.random() < 0.5:
                        delta = rnd.randint(-10, 20) + rnd.choice([0, 0.5])
                        pipe.zincrby("board", delta, name)
                        model[name] += delta
                    else:
                        score = rnd.randint(0, 300) + rnd.choice([0, 0.5])
                        pipe.zadd("board", {name: score})
                        model[name] = float(score)
                pipe.execute()
            board = ordered(model)
            top = client.zrevrange("board", 0, 9, withscores=True)
            want_top = [(name, score) for name, score in reversed(board[-10:])]
            check.equal(f"round {round_number}: top 10", want_top, top)
            for name in rnd.sample(names, 5):
                rank = [entry[0] for entry in board].index(name)
                check.equal(f"round {round_number}: rank of {name}", PLAYERS - 1 - rank,
                            client.zrevrank("board", name))
                check.equal(f"round {round_number}: ZRANK of {name}", rank,
                            client.zrank("board", name))
                check.equal(f"round {round_number}: score of {name}", model[name],
                            client.zscore("board", name))
            low, high = sorted(rnd.sample(range(0, 320), 2))
            check.equal(f"round {round_number}: ZCOUNT {low} {high}",
                        sum(1 for score in model.values() if low <= score <= high),
                        client.zcount("board", low, high))
            page = client.zrangebyscore("board", low, high, start=5, num=10, withscores=True)
            band = [(name, score) for name, score in board if low <= score <= high]
            check.equal(f"round {round_number}: a page of the band", band[5:15], page)
        check.equal("ZCARD", PLAYERS, client.zcard("board"))
        client.close()
    check.finish()


if __name__ == "__main__":
    main()
