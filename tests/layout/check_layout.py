#!/usr/bin/env python3
"""check_layout.py: the shape of the tree, as TAP. No file #includes a .c file; the files of one
program folder (and of common/) include each other without a circle; every .c and .h file opens
with a comment saying what it owns; a program folder's main.c is its only file defining main().
Run from the top of the tree (tests/run-tests does)."""

import os
import re
import sys

FOLDERS = ["common", "workers/worker", "workers/callback", "tools/cli", "tools/tmsim",
           "tools/devkafka", "tools/bench"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
MAIN = re.compile(r'^int\s*\n?main\s*\(', re.M)


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def check(self, name, why):
        self.n += 1
        if why:
            self.failed += 1
            print("not ok %d - %s: %s" % (self.n, name, why))
        else:
            print("ok %d - %s" % (self.n, name))


def sources(top):
    for folder in ("common", "workers", "tools", "tests"):
        for root, _, files in os.walk(os.path.join(top, folder)):
            for f in sorted(files):
                if f.endswith((".c", ".h")):
                    yield os.path.join(root, f)


def module_graph(top, folder):
    """module name -> the modules of the same folder its .c and .h include."""
    graph = {}
    path = os.path.join(top, folder)
    for f in sorted(os.listdir(path)):
        if not f.endswith((".c", ".h")):
            continue
        mod = f[:-2]
        with open(os.path.join(path, f), encoding="utf-8") as fh:
            text = fh.read()
        deps = graph.setdefault(mod, set())
        for inc in INCLUDE.findall(text):
            target = os.path.normpath(os.path.join(folder, inc))
            if os.path.dirname(target) == folder and target.endswith(".h"):
                other = os.path.basename(target)[:-2]
                if other != mod:
                    deps.add(other)
    return graph


def find_circle(graph):
    """One circle of the graph as a list of modules, or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, path + [nxt])
                if found:
                    return found
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node, [node])
            if found:
                return found
    return None


def main():
    top = os.getcwd()
    tap = Tap()
    files = list(sources(top))

    bad = []
    for path in files:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        bad += ["%s includes %s" % (os.path.relpath(path, top), inc)
                for inc in INCLUDE.findall(text) if inc.endswith(".c")]
    tap.check("no file includes a .c file", "; ".join(bad))

    for folder in FOLDERS:
        circle = find_circle(module_graph(top, folder))
        tap.check("no include circle in %s" % folder,
                  " -> ".join(circle) if circle else "")

    bare = []
    for path in files:
        with open(path, encoding="utf-8") as fh:
            head = fh.read(2)
        if head != "/*":
            bare.append(os.path.relpath(path, top))
    tap.check("every .c and .h opens with a comment", ", ".join(bare))

    for folder in FOLDERS[1:]:
        mains = []
        for f in sorted(os.listdir(os.path.join(top, folder))):
            if f.endswith(".c"):
                with open(os.path.join(top, folder, f), encoding="utf-8") as fh:
                    if MAIN.search(fh.read()):
                        mains.append(f)
        tap.check("%s: main() only in main.c" % folder,
                  "" if mains == ["main.c"] else "main() in %s" % (", ".join(mains) or "no file"))

    print("1..%d" % tap.n)
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
