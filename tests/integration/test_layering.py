#!/usr/bin/env python3
"""The include graph of src/ and include/ against the dependency order the README writes down.

The README's layout section lists kv's modules in layers, top first, between the markers
<!-- layers --> and <!-- /layers -->: one line per layer, module names or globs (cmd_*). A
module is a file's name without its extension, so src/conn.c and include/conn.h are one
module; `cmd/cmd_handlers` names a module with a second header (the command families'
shared declarations), whose files count as the module's own. This test reads every `#include "..."` and fails when:
- a file's module is not in the list (a new module must take its place in the order);
- a module includes a module on a higher line (an arrow up);
- the includes among the modules of one line form a circle;
- a private header is included from outside its family (`store_internal` by anything but
  store*.c: commands reach the store through its public headers).
It also checks itself on a planted graph, so that it cannot pass by checking nothing.
"""
import fnmatch
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")

# Private headers and the file-name patterns allowed to include them.
PRIVATE = {"store_internal": ["store*.c", "store_internal.h"]}


def read_layers(readme_text):
    match = re.search(r"<!-- layers -->\s*\n(.*?)<!-- /layers -->", readme_text, re.S)
    if not match:
        return None
    layers = []
    for line in match.group(1).splitlines():
        words = line.strip().strip("`").split()
        if words:
            layers.append(words)
    return layers


def source_files():
    files = []
    for folder in ("src", "include"):
        for name in sorted(os.listdir(os.path.join(ROOT, folder))):
            if name.endswith((".c", ".h")):
                files.append(os.path.join(folder, name))
    return files


def includes(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return re.findall(r'^\s*#\s*include\s+"([^"]+)"', f.read(), re.M)


def module_of(name, aliases=None):
    base = os.path.basename(name).rsplit(".", 1)[0]
    return (aliases or {}).get(base, base)


def split_aliases(layers):
    """Layers with `a/b` words reduced to `a`, and the map b -> a."""
    aliases = {}
    plain = []
    for layer in layers:
        words = []
        for word in layer:
            names = word.split("/")
            for extra in names[1:]:
                aliases[extra] = names[0]
            words.append(names[0])
        plain.append(words)
    return plain, aliases


def assign(layers, modules):
    """Module -> layer index; a glob matches every module not named exactly elsewhere."""
    exact = {word for layer in layers for word in layer if not any(c in word for c in "*?[")}
    where = {}
    for index, layer in enumerate(layers):
        for word in layer:
            for module in modules:
                if module == word or (module not in exact and fnmatch.fnmatch(module, word)):
                    where.setdefault(module, index)
    return where


def find_circle(nodes, edges):
    """A circle among nodes (as a list), or None. Iterative depth-first search."""
    state = {node: 0 for node in nodes}  # 0 new, 1 on the path, 2 done
    for start in sorted(nodes):
        if state[start]:
            continue
        stack = [(start, iter(sorted(edges.get(start, ()))))]
        path = [start]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[node] = 2
            elif state.get(child) == 1:
                return path[path.index(child):] + [child]
            elif state.get(child) == 0:
                state[child] = 1
                path.append(child)
                stack.append((child, iter(sorted(edges.get(child, ())))))
    return None


def violations(layers, file_includes):
    """Every breach of the order, as text lines."""
    problems = []
    layers, aliases = split_aliases(layers)
    modules = {module_of(path, aliases) for path in file_includes}
    where = assign(layers, modules)
    for module in sorted(modules - set(where)):
        problems.append(f"module {module} is not in the README's layers")
    same_layer_edges = {}
    for path, targets in sorted(file_includes.items()):
        source = module_of(path, aliases)
        for target_file in targets:
            target = module_of(target_file, aliases)
            if target == source or target not in modules:
                continue
            allowed = PRIVATE.get(module_of(target_file))
            if allowed and not any(fnmatch.fnmatch(os.path.basename(path), p) for p in allowed):
                problems.append(f"{path} includes {target_file}, private to its family")
            if source not in where or target not in where:
                continue
            if where[target] < where[source]:
                problems.append(f"{path} includes {target_file}: an arrow up from layer "
                                f"{where[source] + 1} ({source}) to layer {where[target] + 1}")
            elif where[target] == where[source]:
                same_layer_edges.setdefault(source, set()).add(target)
    circle = find_circle({m for m in modules if m in where}, same_layer_edges)
    if circle:
        problems.append("a circle within one layer: " + " -> ".join(circle))
    return problems


def self_check():
    """The checker must catch a planted arrow up, a circle, a missing module and a private
    include, and pass a clean graph."""
    layers = [["top"], ["mid", "mid_*"], ["low/low_more"]]
    clean = {"src/top.c": ["mid.h", "low.h"], "src/mid.c": ["mid_a.h", "low.h"],
             "src/mid_a.c": ["low.h"], "src/low.c": ["low_more.h"], "include/low_more.h": ["low.h"]}
    if violations(layers, clean):
        return "the clean graph was refused: " + "; ".join(violations(layers, clean))
    planted = {
        "arrow up": {**clean, "src/low.c": ["top.h"]},
        "circle": {**clean, "src/mid_a.c": ["mid.h"]},
        "missing": {**clean, "src/stray.c": []},
        "private": {**clean, "src/top.c": ["store_internal.h"], "src/store_internal.h": [],
                    "src/store.c": ["store_internal.h"]},
    }
    layers_private = layers + [["store/store_internal"]]
    for name, graph in planted.items():
        found = violations(layers_private if name == "private" else layers, graph)
        if not found:
            return f"the planted {name} was not found"
    return None


def main():
    failure = self_check()
    if failure:
        print("FAIL self-check: " + failure)
        return 1
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        layers = read_layers(f.read())
    if not layers:
        print("FAIL README.md has no <!-- layers --> ... <!-- /layers --> block")
        return 1
    file_includes = {path: includes(path) for path in source_files()}
    problems = violations(layers, file_includes)
    for problem in problems:
        print("FAIL " + problem)
    edges = sum(len(v) for v in file_includes.values())
    print(f"{'FAIL' if problems else 'ok'} test_layering: {len(file_includes)} files, "
          f"{edges} includes, {len(layers)} layers, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
