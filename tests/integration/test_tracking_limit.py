"""tracking-table-max-keys bounds the tracking table as Redis 7.0's trackingLimitUsedSlots does.

On kv and on a real redis-server alike: a RESP3 client tracks keys (CLIENT TRACKING ON, then
GETs) while another client sets the limit with CONFIG SET. Past the limit, before each next
command, random keys are invalidated (their tracking clients get the push) until the table
is back at the limit, so after N reads of distinct keys with a limit of L, N - L keys were
invalidated, each once, each one of those read; when the keys are then written, exactly the
L keys still tracked are invalidated. A limit lowered under a full table trims it at the next
command; 0 is no limit (kv: up to its table's capacity). Which keys go is random on both
servers: the counts and sets are compared, not the order. CONFIG GET/SET's replies compared.
"""
import kvtest
import test_diff_resp3

KV_OPTIONS = ["--connections-max", "16", "--hugepages", "off", "--maxmemory", "32mb"]
KEY_COUNT = 300


def is_push(reply):
    return reply.startswith(b">")


def invalidated(push):
    """The keys of an invalidation push (>2 invalidate [keys] or null)."""
    kind, (name, keys) = test_diff_resp3.parse(push)
    assert kind == b">" and name == (b"$", b"invalidate"), push
    return [key for _, key in keys[1]] if keys[0] == b"*" else [None]


class Tracker:
    """A RESP3 tracking client that sorts pushes from replies."""

    def __init__(self, server):
        self.client = test_diff_resp3.Client(server.port)
        self.client.send(kvtest.encode(b"HELLO", b"3"))
        self.client.reply()
        self.pushed = []

    def call(self, *args):
        self.client.send(kvtest.encode(*args))
        # Bounded: the pushes the server owes come before or after, then the reply.
        for _ in range(100000):
            reply = self.client.reply()
            if not is_push(reply):
                return reply
            self.pushed.extend(invalidated(reply))
        raise AssertionError("no reply")

    def take(self):
        self.call(b"PING")
        keys, self.pushed = self.pushed, []
        return keys


def scenario(server):
    """What one server did: replies and the counts and sets of invalidated keys."""
    out = []
    keys = [b"key:%d" % index for index in range(KEY_COUNT)]
    with server.connect() as writer:
        tracker = Tracker(server)
        out.append(writer.call(b"CONFIG", b"GET", b"tracking-table-max-keys"))
        for key in keys:
            writer.call(b"SET", key, b"v")
        out.append(tracker.call(b"CLIENT", b"TRACKING", b"ON"))
        out.append(writer.call(b"CONFIG", b"SET", b"tracking-table-max-keys", b"10"))
        out.append(writer.call(b"CONFIG", b"GET", b"tracking-table-max-keys"))
        for key in keys[:100]:
            out.append(tracker.call(b"GET", key))
        evicted = tracker.take()
        out.append(("evicted", len(evicted), len(set(evicted)),
                    set(evicted) <= set(keys[:100])))
        for key in keys[:100]:
            writer.call(b"SET", key, b"w")
        written = tracker.take()
        out.append(("written", len(written), len(set(written)),
                    sorted(set(written) | set(evicted)) == sorted(keys[:100]),
                    not set(written) & set(evicted)))
        # No limit: every read key stays tracked (kv's capacity is above this).
        out.append(writer.call(b"CONFIG", b"SET", b"tracking-table-max-keys", b"0"))
        for key in keys:
            tracker.call(b"GET", key)
        out.append(("unlimited", len(tracker.take())))
        # A lower limit trims the full table at the next command (effort 100 is enough).
        out.append(writer.call(b"CONFIG", b"SET", b"tracking-table-max-keys", b"250"))
        trimmed = tracker.take()
        out.append(("trimmed", len(trimmed), len(set(trimmed))))
        # Then 0 again, and the remaining keys are the ones invalidated by writes.
        out.append(writer.call(b"CONFIG", b"SET", b"tracking-table-max-keys", b"0"))
        for key in keys:
            writer.call(b"SET", key, b"x")
        rest = tracker.take()
        out.append(("rest", len(rest), sorted(set(rest) | set(trimmed)) == sorted(keys)))
        # Over the limit by more than one command's effort: it takes a few commands.
        out.append(writer.call(b"CONFIG", b"SET", b"tracking-table-max-keys", b"0"))
        for key in keys:
            tracker.call(b"GET", key)
        out.append(writer.call(b"CONFIG", b"SET", b"tracking-table-max-keys", b"1"))
        first = tracker.take()
        second = tracker.take()
        third = tracker.take()
        out.append(("efforts", len(first), len(second), len(third)))
        out.append(writer.call(b"CONFIG", b"SET", b"tracking-table-max-keys", b"-1"))
        out.append(writer.call(b"CONFIG", b"SET", b"tracking-table-max-keys", b"x"))
        out.append(writer.call(b"CONFIG", b"SET", b"tracking-table-max-keys", b"1000000"))
        tracker.client.close()
    return out


def main():
    check = kvtest.Checker("test_tracking_limit", verbose=False)
    with kvtest.start_kv(*KV_OPTIONS) as kv, kvtest.start_redis() as redis:
        want = scenario(redis)
        got = scenario(kv)
    check.equal("step count", len(want), len(got))
    for index, (expected, actual) in enumerate(zip(want, got)):
        check.equal(f"step {index}: {kvtest.shorten(expected, 80)}", expected, actual)
    check.true("the limit evicted keys", ("evicted", 90, 90, True) in got, repr(got[-16:]))
    check.finish()


if __name__ == "__main__":
    main()
