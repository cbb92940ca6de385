#!/usr/bin/env python3
"""The project's shape, checked (ctest: layers). Exit 0, or 1 with what broke.

A module is a .c and its .h (x_priv.h is part of x) in one folder; a module depends on
another when it includes its header ("name.h"). Checked:

  circles  no circle of modules anywhere (within a folder or across folders);
  layers   kma-coord's folders depend one way: api/ -> core/ -> store/ (and all on common/);
           core/ and store/ include neither libmicrohttpd nor json-c (but store/etcd.c,
           etcd's JSON gateway, and store_replica.c, its rows, json-c); SQLite appears in
           store/ only; kmactl/ includes nothing of coordinator/ or agent/.
"""
import os
import re
import sys

SRC = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
FOLDERS = ["common", "proto", "hal", "agent", "kmactl", "coordinator", "coordinator/api",
           "coordinator/core", "coordinator/store"]
# folder -> folders it may include from (besides itself); those not listed are unchecked.
MAY = {
    "coordinator/store": {"common", "proto"},
    "coordinator/core": {"coordinator/store", "common", "proto"},
    "coordinator/api": {"coordinator/core", "coordinator/store", "common", "proto"},
    "kmactl": {"common", "proto"},
}
SYSTEM_BANNED = {
    "coordinator/core": ("microhttpd.h", "json-c/", "sqlite3.h"),
    "coordinator/store": ("microhttpd.h", "json-c/"),
}
SQLITE_ONLY = "coordinator/store"
# Files a ban does not apply to: etcd's gateway speaks JSON (the store's wire format there).
SYSTEM_ALLOWED = {
    "coordinator/store/etcd.c": ("json-c/",),
    "coordinator/store/store_replica.c": ("json-c/",),  # a row in etcd is a JSON object
}


def modules():
    """{module: (folder, [paths])}; a basename is one module (the project's headers are
    included by basename, so two folders never share one)."""
    mods = {}
    for d in FOLDERS:
        full = os.path.join(SRC, d)
        if not os.path.isdir(full):
            continue
        for f in sorted(os.listdir(full)):
            if not f.endswith((".c", ".h")):
                continue
            name = f.rsplit(".", 1)[0]
            if name.endswith("_priv"):
                name = name[:-5]
            mods.setdefault(name, (d, []))[1].append(os.path.join(full, f))
    return mods


def includes(path):
    with open(path, errors="replace") as f:
        text = f.read()
    return (re.findall(r'^\s*#\s*include\s+"([^"]+)"', text, re.M),
            re.findall(r'^\s*#\s*include\s+<([^>]+)>', text, re.M))


def cycles(graph):
    """Tarjan: the strongly connected components of more than one module."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(100000)

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    mods = modules()
    graph = {m: set() for m in mods}
    bad = []
    for m, (folder, paths) in mods.items():
        for p in paths:
            local, system = includes(p)
            for inc in local:
                dep = os.path.basename(inc).rsplit(".", 1)[0]
                if dep.endswith("_priv"):
                    dep = dep[:-5]
                if dep not in mods or dep == m:
                    continue
                graph[m].add(dep)
                dfolder = mods[dep][0]
                if folder in MAY and dfolder != folder and dfolder not in MAY[folder]:
                    bad.append("layers: %s includes %s (%s may include from %s only)" % (
                        os.path.relpath(p, SRC), inc, folder, ", ".join(sorted(MAY[folder]))))
            for inc in system:
                allowed = SYSTEM_ALLOWED.get(os.path.relpath(p, SRC), ())
                for banned in SYSTEM_BANNED.get(folder, ()):
                    if inc.startswith(banned) and banned not in allowed:
                        bad.append("layers: %s includes <%s>" % (os.path.relpath(p, SRC), inc))
                if inc == "sqlite3.h" and folder != SQLITE_ONLY:
                    bad.append("layers: %s includes <sqlite3.h> (only %s may)" % (
                        os.path.relpath(p, SRC), SQLITE_ONLY))
    for comp in cycles(graph):
        bad.append("circle: " + " <-> ".join("%s/%s" % (mods[c][0], c) for c in comp))
    for b in bad:
        print(b)
    if bad:
        return 1
    print("layers: %d modules in %d folders, no circle, every layer one way" % (
        len(mods), len({f for f, _ in mods.values()})))
    return 0


if __name__ == "__main__":
    sys.exit(main())
