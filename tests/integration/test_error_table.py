"""Client-visible error text lives only in src/reply.c's table.

Scans src/*.c, src/*.h and include/*.h for C string literals that begin with a Redis error
code ("-" optional, then ERR, WRONGTYPE, NOAUTH, ... and a space) and fails naming file:line
of each one outside src/reply.c. Literals are read by a small C tokenizer: comments and
character constants are skipped, and adjacent literals ("-" "ERR x") are joined, so a split
literal is caught while a comment quoting an error is not. The matcher proves it can fail:
planted sample lines must give exactly the expected hits, and src/reply.c itself must show
the table's lines, or the test fails. Static: no server is started.
"""
import glob
import os
import re

import harness

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
ALLOWED = os.path.join("src", "reply.c")

CODES = ["ERR", "WRONGTYPE", "NOAUTH", "EXECABORT", "NOPROTO", "DENIED", "BUSY", "OOM",
         "NOSCRIPT", "LOADING", "READONLY", "MOVED", "ASK", "CROSSSLOT", "CLUSTERDOWN", "NOGROUP",
         "BUSYGROUP", "WRONGPASS", "NOPERM", "UNKILLABLE", "NOTBUSY", "MISCONF"]
PREFIX = re.compile(r"-?(?:%s) " % "|".join(CODES))

ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "0": "\0", "\\": "\\", '"': '"', "'": "'"}


def literals(text):
    """Yields (line, [piece, ...]) for each run of adjacent string literals in C text."""
    index = 0
    line = 1
    run = None  # (first line, pieces) while literals follow each other
    length = len(text)
    while index < length:  # each pass consumes at least one character
        if text.startswith("/*", index):
            end = text.find("*/", index + 2)
            end = length if end < 0 else end + 2
            line += text.count("\n", index, end)
            index = end
            continue
        if text.startswith("//", index):
            end = text.find("\n", index)
            index = length if end < 0 else end
            continue
        char = text[index]
        if char == '"':
            value = []
            start_line = line
            index += 1
            while index < length and text[index] != '"':  # bounded by the text's end
                if text[index] == "\\" and index + 1 < length:
                    value.append(ESCAPES.get(text[index + 1], text[index + 1]))
                    line += text[index + 1] == "\n"
                    index += 2
                    continue
                line += text[index] == "\n"
                value.append(text[index])
                index += 1
            index += 1
            if run is None:
                run = (start_line, [])
            run[1].append("".join(value))
            continue
        if not char.isspace() and run is not None:
            yield run  # anything but space or a comment ends a run of literals
            run = None
        if char == "'":
            index += 1
            while index < length and text[index] != "'":  # bounded by the text's end
                index += 2 if text[index] == "\\" else 1
            index += 1
            continue
        line += char == "\n"
        index += 1
    if run is not None:
        yield run


def hits(text):
    """Lines of literals (joined, or any piece) that begin with an error code and a space."""
    found = []
    for line, pieces in literals(text):
        if PREFIX.match("".join(pieces)) or any(PREFIX.match(piece) for piece in pieces):
            found.append(line)
    return found


SAMPLE = r'''/* "ERR a comment quoting an error is not text" */
static const char c = '"';
// "-WRONGTYPE in a line comment"
log_warn("errors are fine in logs: %s", "ERRORS no space after the code");
reply(r, "ERR planted sample");
const char *split = "-"
                    "WRONGTYPE split over two literals";
int quote = c == '"' ? 1 : 0; const char *asking = "ASKING is not ASK";
f("first line\n"
  "NOPERM a continuation piece");
g("-BUSYGROUP with the dash");
'''
SAMPLE_HITS = [5, 6, 9, 11]


def main():
    checks = harness.Checks("test_error_table")
    checks.equal(hits(SAMPLE), SAMPLE_HITS, "self-check: the matcher finds exactly the planted hits")
    checks.equal(hits('x = "ERR";'), [], "self-check: a code without text is not an error line")
    files = sorted(glob.glob(os.path.join(ROOT, "src", "*.c")) +
                   glob.glob(os.path.join(ROOT, "src", "*.h")) +
                   glob.glob(os.path.join(ROOT, "include", "*.h")))
    checks.true(len(files) >= 40, f"the sources are where the test looks ({len(files)} files)")
    outside = []
    table_hits = 0
    for path in files:
        relative = os.path.relpath(path, ROOT)
        with open(path, encoding="utf-8", errors="replace") as source:
            found = hits(source.read())
        if relative == ALLOWED:
            table_hits = len(found)
            continue
        outside += [f"{relative}:{line}" for line in found]
    for place in outside:
        print(f"error text outside {ALLOWED}: {place}")
    # The table holds every line: if the matcher saw few there, it is not reading the table.
    checks.true(table_hits >= 80, f"self-check: the matcher sees the table ({table_hits} lines)")
    checks.equal(len(outside), 0, f"client-visible error literals outside {ALLOWED}")
    checks.exit()


if __name__ == "__main__":
    main()
