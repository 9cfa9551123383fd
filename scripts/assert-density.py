#!/usr/bin/env python3
"""Assertion density per C file, as STYLE.md section 3 asks for (about two per function).

  scripts/assert-density.py [-v] src/loop.c src/cmd_*.c ...

A function is a body that opens with "{" alone at column 0 and ends at the next "}" alone at
column 0 (kv's layout); KV_ASSERT and KV_DEBUG_ASSERT inside it count, file-scope
static_asserts do not. Prints functions, assertions, their average and the functions longer
than 70 lines (signature included); -v lists every function.
"""
import re
import sys

LINES_MAX = 70


def functions(path):
    """(name, assertions, lines) of each function body in the file, in order."""
    lines = open(path, encoding="utf-8").read().split("\n")
    found = []
    index = 0
    while index < len(lines):
        if lines[index] != "{":
            index += 1
            continue
        start = index - 1  # back to the first line of the signature
        while start > 0 and not re.match(r"[A-Za-z_]", lines[start]):
            start -= 1
        signature = " ".join(lines[start:index])
        name = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(", signature)
        end = index + 1
        while lines[end] != "}":
            end += 1
        body = lines[index:end + 1]
        count = sum(line.count("KV_ASSERT(") + line.count("KV_DEBUG_ASSERT(") for line in body)
        found.append((name.group(1) if name else "?", count, end - start + 1))
        index = end + 1
    return found


def main():
    verbose = "-v" in sys.argv[1:]
    for path in [arg for arg in sys.argv[1:] if arg != "-v"]:
        found = functions(path)
        total = sum(count for _, count, _ in found)
        long = [(name, lines) for name, _, lines in found if lines > LINES_MAX]
        average = total / len(found) if found else 0.0
        print(f"{path:24s} functions={len(found):3d} asserts={total:4d} avg={average:.2f}"
              f" long={long}")
        if verbose:
            for name, count, lines in found:
                print(f"    {name:40s} {count:3d} asserts {lines:4d} lines")


if __name__ == "__main__":
    main()
