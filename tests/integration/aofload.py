"""Load for the AOF's crash tests (test_aof_always, test_aof_switch, test_aof_crash): writers
whose every acknowledged write must survive a kill -9, and readers recording what they saw.

CounterWriter sends INCR c:<index> (ListWriter RPUSH w:<index> <n>, n = 0, 1, ..),
`pipeline` commands at a time, on its own socket; `sent` counts the commands sent, `acked`
is the last integer reply received (the counter's value, or the list's length: either way
the writes acknowledged). A Reader GETs its keys over and over; `seen` is the largest value
each showed. All stop when `stop` is set or the server goes away.
"""
import socket
import threading

import kvtest


class CounterWriter(threading.Thread):
    """INCR c:<index>, `pipeline` at a time."""

    def __init__(self, port, index, stop, pipeline=1):
        super().__init__(daemon=True)
        self.port = port
        self.index = index
        self.stop = stop
        self.pipeline = pipeline
        self.sent = 0
        self.acked = 0

    def batch(self):
        return kvtest.encode("INCR", f"c:{self.index}") * self.pipeline

    def run(self):
        try:
            sock = socket.create_connection(("127.0.0.1", self.port))
            buffer = b""
            # Bounded by `stop` (or the server's end): each round sends one pipeline and
            # reads its replies.
            while not self.stop.is_set():
                sock.sendall(self.batch())
                self.sent += self.pipeline
                replies = 0
                while replies < self.pipeline:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                    while b"\r\n" in buffer:
                        line, buffer = buffer.split(b"\r\n", 1)
                        if line.startswith(b":"):
                            replies += 1
                            self.acked = int(line[1:])
        except OSError:
            return


class ListWriter(CounterWriter):
    """RPUSH w:<index> <n> for n = 0, 1, ..: the reply, the list's length, is n + 1."""

    def batch(self):
        return b"".join(kvtest.encode("RPUSH", f"w:{self.index}", str(self.sent + n))
                        for n in range(self.pipeline))


class Reader(threading.Thread):
    """GET of `keys`, over and over: `seen` is the largest value per key."""

    def __init__(self, port, keys, stop):
        super().__init__(daemon=True)
        self.port = port
        self.keys = keys
        self.stop = stop
        self.seen = {}

    def run(self):
        try:
            client = kvtest.RespClient(self.port, timeout=30)
            while not self.stop.is_set():
                for key in self.keys:
                    value = kvtest.decode(client.call("GET", key))
                    if value is not None:
                        self.seen[key] = max(self.seen.get(key, 0), int(value))
        except (OSError, kvtest.ConnectionClosed, kvtest.ReplyTimeout):
            return
