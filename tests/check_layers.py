#!/usr/bin/env python3
"""The layering check: library files call only downwards, and the
file-level call graph has no circle.

Reads the layer table of DESIGN.md (between the "layers" markers), finds
the non-static functions each library file defines (libevent style: the
name at the start of a line, its type on the line before), and which of
them every other library file names (a call, or a function pointer handed
over, which makes a dependency just the same).  Fails when a file names a
function of a higher layer, when the graph of files has a circle, or when
a library file (he_*.c at the top level) is missing from the table.

    check_layers.py SRCDIR            check the tree
    check_layers.py --self-test SRCDIR
        also prove the check can fail: an upward call, and a circle inside
        one layer, each added to a copy of the tree, must be found.
"""
import os
import re
import shutil
import sys
import tempfile


def strip(text):
    """The C text without comments, string and character literals."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def read_layers(srcdir):
    with open(os.path.join(srcdir, "DESIGN.md")) as f:
        text = f.read()
    m = re.search(r"<!-- layers:.*?-->(.*?)<!-- /layers -->", text, re.S)
    if not m:
        sys.exit("check_layers: no layer table in DESIGN.md")
    rank = {}
    for line in m.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].isdigit():
            continue
        for f in cells[2].split():
            rank[f] = (int(cells[0]), cells[1])
    return rank


DEF = re.compile(r"^([A-Za-z_]\w*)\(", re.M)


def definitions(text):
    """Names of the non-static functions a file defines."""
    names = set()
    lines = text.split("\n")
    for i, line in enumerate(lines):
        m = DEF.match(line)
        if not m or i == 0:
            continue
        typeline = lines[i - 1]
        if not typeline.strip() or typeline.rstrip().endswith((";", "}")):
            continue        # a call or a macro at column 0, not a definition
        if re.search(r"\bstatic\b", typeline):
            continue
        names.add(m.group(1))
    return names


def check(srcdir, out=sys.stdout):
    rank = read_layers(srcdir)
    files = sorted(f for f in os.listdir(srcdir)
                   if f.startswith("he_") and f.endswith(".c"))
    problems = []
    for f in files:
        if f not in rank:
            problems.append("%s: not in DESIGN.md's layer table" % f)
    for f in rank:
        if f not in files:
            problems.append("%s: in the layer table, not in the tree" % f)
    text = {}
    for f in files:
        with open(os.path.join(srcdir, f)) as fh:
            text[f] = strip(fh.read())
    owner = {}
    for f in files:
        for name in definitions(text[f]):
            owner[name] = f
    edges = {f: {} for f in files}
    ident = re.compile(r"\b[A-Za-z_]\w*\b")
    for f in files:
        for lineno, line in enumerate(text[f].split("\n"), 1):
            for name in ident.findall(line):
                g = owner.get(name)
                if g and g != f and g not in edges[f]:
                    edges[f][g] = (name, lineno)
    for f in files:
        for g, (name, lineno) in sorted(edges[f].items()):
            if f in rank and g in rank and rank[g][0] > rank[f][0]:
                problems.append("%s:%d: %s (%s layer) calls %s of %s (%s "
                                "layer, above it)" % (f, lineno, f,
                                rank[f][1], name, g, rank[g][1]))
    # circles: depth-first search over the files
    state, stack = {}, []

    def visit(f):
        state[f] = 1
        stack.append(f)
        for g in sorted(edges[f]):
            if state.get(g) == 1:
                cyc = stack[stack.index(g):] + [g]
                problems.append("circle: " + " -> ".join(cyc))
            elif not state.get(g):
                visit(g)
        stack.pop()
        state[f] = 2

    for f in files:
        if not state.get(f):
            visit(f)
    for p in problems:
        print("FAIL: " + p, file=out)
    nedges = sum(len(e) for e in edges.values())
    if not problems:
        print("PASS: %d files in %d layers, %d calls between files, all "
              "downwards, no circle" % (len(files),
              len(set(r[0] for r in rank.values())), nedges), file=out)
    return not problems


def with_change(srcdir, fname, addition, expect):
    """Copy the tree, append addition to fname, and check that the layering
    check fails with a line containing expect."""
    tmp = tempfile.mkdtemp(prefix="check_layers.")
    try:
        for f in os.listdir(srcdir):
            if (f.startswith("he_") and f.endswith(".c")) or f == "DESIGN.md":
                shutil.copy(os.path.join(srcdir, f), tmp)
        with open(os.path.join(tmp, fname), "a") as fh:
            fh.write(addition)

        class Sink:
            lines = []

            def write(self, s):
                self.lines.append(s)
        sink = Sink()
        ok = check(tmp, sink)
        said = "".join(sink.lines)
        if ok or expect not in said:
            print("FAIL: self-test: %s with %r was not caught (%s)" %
                  (fname, addition.strip(), said.strip()))
            return False
        print("PASS: self-test: caught %s" % said.strip().split("\n")[0])
        return True
    finally:
        shutil.rmtree(tmp)


def main(argv):
    self_test = "--self-test" in argv
    args = [a for a in argv[1:] if a != "--self-test"]
    srcdir = args[0] if args else "."
    ok = check(srcdir)
    if self_test:
        # an upward call: the base layer's hash table calls the context API
        ok &= with_change(srcdir, "he_hash.c",
                          "\nvoid he_probe_(void);\nvoid\nhe_probe_(void)\n"
                          "{\n\tevhappy_free(0);\n}\n", "above it")
        # a circle inside one layer: the history rules call the core
        ok &= with_change(srcdir, "he_race_hist.c",
                          "\nvoid he_probe_(void);\nvoid\nhe_probe_(void)\n"
                          "{\n\the_race_clear_(0);\n}\n", "circle:")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
