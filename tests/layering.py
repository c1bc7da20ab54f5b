#!/usr/bin/env python3
"""layering.py -- the include graph between the four code folders, and a
check that no edge points up.

The layers, bottom first: common, db, protocols, server. A file may include
headers of its own folder and of folders below it, never above: db/ never
sees protocols/ or server/, protocols/ never sees server/. CMake enforces the
same order with per-folder include paths (CMakeLists.txt); this check reads
the #include lines themselves, so a header reached some other way (a path
with "../", a new include directory) is caught too, and it prints the graph
so a reviewer sees what depends on what.

Run: python3 tests/layering.py [ROOT]   (exit 1 on an upward edge)
     python3 tests/layering.py --self-test
"""
import os
import re
import sys
import tempfile

LAYERS = ["common", "db", "protocols", "server"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def headers(root):
    """Maps a header's name (and folder/name) to the folder that holds it."""
    where = {}
    for layer in LAYERS:
        d = os.path.join(root, layer)
        if not os.path.isdir(d):
            continue
        for f in os.listdir(d):
            if f.endswith(".h"):
                where.setdefault(f, set()).add(layer)
                where.setdefault(layer + "/" + f, set()).add(layer)
    return where


def graph(root):
    """Returns {(from_layer, to_layer): [(file, header), ...]} and a list of
    problems (a header name found in two folders is ambiguous)."""
    where = headers(root)
    edges, problems = {}, []
    for layer in LAYERS:
        d = os.path.join(root, layer)
        if not os.path.isdir(d):
            continue
        for f in sorted(os.listdir(d)):
            if not f.endswith((".c", ".h")):
                continue
            path = os.path.join(d, f)
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
            for inc in INCLUDE.findall(text):
                name = os.path.normpath(os.path.join(layer, inc))
                to = None
                if name.split("/")[0] in LAYERS and name in where:
                    to = next(iter(where[name]))
                elif inc in where:
                    if len(where[inc]) > 1:
                        problems.append("%s/%s includes \"%s\", which is in %s" %
                                        (layer, f, inc, " and ".join(sorted(where[inc]))))
                    to = layer if layer in where[inc] else next(iter(sorted(where[inc])))
                elif os.path.normpath(inc).split("/")[0] in LAYERS or ".." in inc:
                    to = os.path.normpath(os.path.join(layer, inc)).split("/")[0]
                if to is None or to == layer:
                    continue
                edges.setdefault((layer, to), []).append(("%s/%s" % (layer, f), inc))
    return edges, problems


def check(root, out=sys.stdout):
    edges, problems = graph(root)
    rank = {l: i for i, l in enumerate(LAYERS)}
    print("include graph (from -> to: files):", file=out)
    for (a, b), uses in sorted(edges.items(), key=lambda e: (rank[e[0][0]], rank.get(e[0][1], 9))):
        files = sorted({u[0] for u in uses})
        print("  %-9s -> %-9s %3d includes in %d files" % (a, b, len(uses), len(files)), file=out)
    for (a, b), uses in sorted(edges.items()):
        if b not in rank or rank[b] > rank[a]:
            for f, inc in uses:
                problems.append("%s includes \"%s\" from %s: %s is above %s" % (f, inc, b, b, a))
    for p in problems:
        print("UPWARD: " + p, file=out)
    return 1 if problems else 0


def self_test():
    """The check must fail on an upward edge and pass without one."""
    import io
    with tempfile.TemporaryDirectory() as t:
        for layer in LAYERS:
            os.mkdir(os.path.join(t, layer))
        files = {
            "common/log.h": "", "db/db.h": '#include "log.h"\n',
            "protocols/lab.h": '#include "db.h"\n', "server/app.h": '#include "lab.h"\n',
        }
        for p, text in files.items():
            with open(os.path.join(t, p), "w") as fh:
                fh.write(text)
        assert check(t, io.StringIO()) == 0, "a clean tree failed"
        for bad in ('#include "app.h"\n', '#include "../server/app.h"\n'):
            with open(os.path.join(t, "db/labdb.c"), "w") as fh:
                fh.write(bad)
            sink = io.StringIO()
            assert check(t, sink) == 1, "an upward include passed: " + bad
            assert "db/labdb.c" in sink.getvalue()
        with open(os.path.join(t, "db/labdb.c"), "w") as fh:
            fh.write('#include "db.h"\n#include "log.h"\n')
        assert check(t, io.StringIO()) == 0, "a downward include failed"
    print("self-test ok: an upward include fails, downward ones pass")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(self_test())
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    sys.exit(check(os.path.abspath(root)))
