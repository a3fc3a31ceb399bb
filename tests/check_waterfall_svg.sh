#!/bin/sh
# The waterfall as SVG (evhappy_report_format_style, EVHAPPY_REPORT_SVG):
# tests/check_waterfall writes the SVG document of each of its fake-clock
# races, and python3's XML parser reads each back: a well-formed SVG root
# of the SVG namespace with its size, every bar inside the picture, and
# the addresses, times and outcomes of the race as text.  Skipped (77)
# without python3.  Environment: top_builddir (default '.').
#
# Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).

top_builddir=${top_builddir:-.}
if ! command -v python3 >/dev/null 2>&1; then
	echo "SKIP: python3 is needed to parse the SVG"
	exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check_waterfall_svg.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

if ! HE_WATERFALL_SVG_DIR=$tmp CK_RUN_CASE=golden \
    "$top_builddir/tests/check_waterfall"; then
	echo "FAIL: tests/check_waterfall could not write the documents"
	exit 1
fi

python3 - "$tmp" <<'PY'
import os, sys
import xml.etree.ElementTree as ET

NS = "{http://www.w3.org/2000/svg}"
# What each race's picture must say, as whole text elements.
want = {
    "fallback": ["connected to 192.0.2.1:443 in 254 ms", "DNS AAAA", "DNS A",
                 "[2001:db8::a]:443", "192.0.2.1:443", "2.0 ms 1 address",
                 "3.0 ms 1 address", "252 ms lost", "2.0 ms WON"],
    "refused": ["[2001:db8::a]:443", "1.0 ms refused", "192.0.2.1:443",
                "1.5 ms WON"],
    "timeout": ["failed after 600 ms: Connection timed out",
                "500 ms timed out", "350 ms timed out", "100 ms timed out",
                "[2001:db8::b]:443"],
    "cancelled": ["5.0 ms 1 address", "100 ms no answer", "95 ms cancelled"],
    "late_aaaa": ["120 ms 2 addresses", "5.0 ms 1 address",
                  "late: after the attempts began (Resolution Delay over)",
                  "66 ms lost", "1.0 ms WON"],
    "dns_failed": ["0.00 ms Too many open files", "9.0 ms no such name"],
    "history": ["history: next attempt after 60.0 ms", "20 ms WON",
                "270 ms lost", "[2001:db8::a]:443", "not tried",
                "history: moved after 192.0.2.1:443 (hung 60.0 s ago)"],
    "one": ["192.0.2.1:443", "0.30 ms WON", "connected to 192.0.2.1:443 in 0 ms"],
}
failed = 0
def bad(msg):
    global failed
    failed += 1
    print("FAIL: " + msg)

d = sys.argv[1]
for name, texts in sorted(want.items()):
    path = os.path.join(d, name + ".svg")
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        bad("%s: %s" % (name, e))
        continue
    if root.tag != NS + "svg":
        bad("%s: the root is %s, not an SVG svg element" % (name, root.tag))
        continue
    w, h = float(root.get("width")), float(root.get("height"))
    if not (480 <= w <= 4000 and 0 < h <= 4000):
        bad("%s: size %sx%s" % (name, w, h))
    seen = ["".join(t.itertext()) for t in root.iter(NS + "text")]
    for t in texts:
        if t not in seen:
            bad("%s: no text %r in %r" % (name, t, seen))
    if root.find(NS + "title") is None:
        bad("%s: no title" % name)
    bars = list(root.iter(NS + "rect"))[1:]   # the first is the background
    for r in bars:
        x, wd = float(r.get("x")), float(r.get("width"))
        if x < 0 or wd <= 0 or x + wd > w:
            bad("%s: a bar outside the picture: x %s width %s" % (name, x, wd))
    if not failed:
        print("ok: %s.svg parses: %d texts, %d bars" % (name, len(seen), len(bars)))
sys.exit(1 if failed else 0)
PY
