#!/bin/sh
# Tests of the evhappy command-line tool against local listeners: success,
# refusal, a black hole with fallback, --json, --trace, --relay, --count,
# --waterfall and --svg, HTTPS records (--https-rr, --alpn), --demo, and a
# list of bad invocations that must each exit 2.
#
# The listeners, the black hole and a small DNS server are a Python script
# (python3 is needed: without it the test is skipped, status 77).
# Environment: top_builddir, top_srcdir (default '.').
#
# Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).

top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-.}
. "$top_srcdir/tests/he_testlib.sh"
EVHAPPY=$top_builddir/tools/evhappy

if ! command -v python3 >/dev/null 2>&1; then
	echo "SKIP: python3 is needed for the test listeners"
	exit 77
fi
if [ ! -x "$EVHAPPY" ]; then
	echo "FAIL: $EVHAPPY is not built"
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check_cli.XXXXXX") || exit 1
# The tool keeps the connection history in a file by default: no test
# reads or writes the user's (or another run's); the history tests below
# name their own.
EVHAPPY_HISTORY_FILE=off
export EVHAPPY_HISTORY_FILE
labpid=
cleanup() {
	[ -n "$labpid" ] && kill "$labpid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

passed=0
failed=0

ok() {
	passed=$((passed + 1))
	echo "ok: $1"
}

# bad NAME: what was seen goes to the log, indented.
bad() {
	failed=$((failed + 1))
	echo "FAIL: $1"
	for f in "$tmp/out" "$tmp/err"; do
		[ -s "$f" ] && sed "s|^|  ${f##*/}: |" "$f" | head -20
	done
}

# run ARGS...: evhappy with stdout in $tmp/out, stderr in $tmp/err and the
# exit status in $rc.  A hung run is cut after 30 s (status 124).
run() {
	if command -v timeout >/dev/null 2>&1; then
		timeout 30 "$EVHAPPY" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	else
		"$EVHAPPY" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	fi
	rc=$?
}

# expect NAME STATUS: the last run exited with STATUS.
expect_rc() {
	if [ "$rc" -eq "$2" ]; then
		ok "$1"
		return 0
	fi
	echo "  (exit status $rc, expected $2)"
	bad "$1"
	return 1
}

# check NAME COMMAND...: COMMAND must succeed.
check() {
	name=$1
	shift
	if "$@"; then
		ok "$name"
	else
		bad "$name"
	fi
}

has() {
	grep -q -- "$2" "$tmp/$1"
}

# json_ok EXPR: $tmp/out parses as JSON and the Python expression EXPR,
# over the object d, holds.
json_ok() {
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if eval("(" + sys.argv[2] + ")") else 1)' "$tmp/out" "$1"
}

# ---------------------------------------------------------------------------
# The lab: an echo listener, a closed port, a black hole next to a working
# listener on the same port, and a DNS server for fallback.example that
# lists the black hole's address first.

cat >"$tmp/lab.py" <<'EOF'
import select, socket, struct, sys, threading

def echo(c):
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
    except OSError:
        pass
    c.close()

def serve(l):
    while True:
        c, _ = l.accept()
        threading.Thread(target=echo, args=(c,), daemon=True).start()

def sock(addr, port):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, port))
    return s

def listener(addr, port=0):
    l = sock(addr, port)
    l.listen(16)
    threading.Thread(target=serve, args=(l,), daemon=True).start()
    return l

# Backlog 0, and its queue filled: Linux then drops every new SYN.
def blackhole(addr, port=0):
    l = sock(addr, port)
    l.listen(0)
    keep = [l]
    for _ in range(8):
        c = socket.socket(l.family, socket.SOCK_STREAM)
        c.setblocking(False)
        keep.append(c)
        c.connect_ex(l.getsockname())
        _, w, _ = select.select([], [c], [], 0.2)
        if not w:
            return keep
        if c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            break
    raise OSError("no black hole here")

def v6_works():
    try:
        l = listener("::1")
        socket.create_connection(("::1", l.getsockname()[1]), 1).close()
        return True
    except OSError:
        return False

def dns_answer(q, records):
    qid, flags = struct.unpack(">HH", q[:4])
    i, labels = 12, []
    while q[i]:
        labels.append(q[i + 1:i + 1 + q[i]])
        i += 1 + q[i]
    qtype, = struct.unpack(">H", q[i + 1:i + 3])
    end = i + 5
    name = b".".join(labels).decode("ascii", "replace").lower()
    known = any(n == name for n, _ in records)
    ans = records.get((name, qtype), [])
    # QR, AA, RD as asked; NXDOMAIN for names we do not know.
    hdr = struct.pack(">HHHHHH", qid, 0x8400 | (flags & 0x0100) |
                      (0 if known else 3), 1, len(ans), 0, 0)
    body = q[12:end]
    for a in ans:
        body += struct.pack(">HHHIH", 0xC00C, qtype, 1, 60, len(a)) + a
    return hdr + body

# delays: (name, qtype) -> seconds before that answer leaves.
def dns_server(records, delays={}):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    def send(a, peer):
        try:
            s.sendto(a, peer)
        except OSError:
            pass
    def loop():
        while True:
            q, peer = s.recvfrom(512)
            try:
                a = dns_answer(q, records)
                i, labels = 12, []
                while q[i]:
                    labels.append(q[i + 1:i + 1 + q[i]])
                    i += 1 + q[i]
                key = (b".".join(labels).decode("ascii", "replace").lower(),
                       struct.unpack(">H", q[i + 1:i + 3])[0])
                if key in delays:
                    threading.Timer(delays[key], send, (a, peer)).start()
                else:
                    send(a, peer)
            except Exception:
                pass
    threading.Thread(target=loop, daemon=True).start()
    return s

# The black hole first (it picks the port), the working listener on the
# same port.
def fallback_pair(v6):
    hole, good = ("::1", "127.0.0.1") if v6 else ("127.0.0.1", "127.0.0.2")
    for _ in range(8):
        keep = blackhole(hole)
        port = keep[0].getsockname()[1]
        try:
            keep.append(listener(good, port))
            return keep, port, hole, good
        except OSError:
            pass
    raise OSError("no port free on both addresses")

# HTTPS record RDATA (RFC 9460 section 2.2): priority, target, then
# (key, value) pairs in the order given.
def svcb(prio, target, *params):
    name = b"".join(bytes([len(l)]) + l.encode() for l in
                    target.split(".") if l) + b"\0"
    return struct.pack(">H", prio) + name + b"".join(
        struct.pack(">HH", k, len(v)) + v for k, v in params)

def alpn(*ids):
    ids = [i if isinstance(i, bytes) else i.encode() for i in ids]
    return (1, b"".join(bytes([len(i)]) + i for i in ids))

NO_DEFAULT_ALPN = (2, b"")
def port_key(p):
    return (3, struct.pack(">H", p))
def v4hint(*a):
    return (4, b"".join(socket.inet_aton(x) for x in a))
ECH = b"\xfe\x0d\x00\x04ech!"		# base64 /g0ABGVjaCE=

# The HTTPS records' names (tests/check_cli.sh "HTTPS records"): each
# asked at a port that refuses, so only an endpoint's port connects.
def https_lab(port, closed):
    A, HTTPS = 1, 65
    lo = socket.inet_aton("127.0.0.1")
    q = lambda name: "_%d._https.%s" % (closed, name)
    recs = {
        # a usable endpoint at the echo port (h2, ECH) after an h3-only one
        (q("svc.example"), HTTPS): [
            svcb(2, "web.example", alpn("h2"), port_key(port), v4hint(
                "127.0.0.1"), (5, ECH)),
            svcb(1, "quic.example", alpn("h3"), NO_DEFAULT_ALPN,
                 port_key(port))],
        ("svc.example", A): [lo], ("web.example", A): [lo],
        ("quic.example", A): [lo],
        # h2 only: chosen only with --alpn h2
        (q("h2only.example"), HTTPS): [
            svcb(1, "web.example", alpn("h2"), NO_DEFAULT_ALPN,
                 port_key(port))],
        ("h2only.example", A): [lo],
        # a hint, and the address answers held back 1.5 s
        (q("hint.example"), HTTPS): [
            svcb(1, "hint.example", port_key(port), v4hint("127.0.0.1"))],
        ("hint.example", A): [lo],
        # ECH mandatory: skipped by a client that uses no ECH (RFC 9460
        # section 8), as the tool is
        (q("echonly.example"), HTTPS): [
            svcb(1, "web.example", (0, struct.pack(">H", 5)),
                 port_key(port), (5, ECH))],
        ("echonly.example", A): [lo],
        # no HTTPS record: the host's own address
        ("plain.example", A): [lo],
        # ALPN ids with a comma and a byte that is not UTF-8
        (q("odd.example"), HTTPS): [
            svcb(1, "web.example", alpn("h2", b"a,\xff"), port_key(port))],
        ("odd.example", A): [lo],
        # AliasMode (asked at $port): the chain's end, web2.example, is an
        # endpoint at the port asked, with no record of its own
        ("_%d._https.alias.example" % port, HTTPS): [svcb(0, "web2.example")],
        ("alias.example", A): [], ("web2.example", A): [lo],
    }
    delays = {("hint.example", A): 1.5, ("hint.example", 28): 1.5}
    return dns_server(recs, delays)

keep = []
echo_l = listener("127.0.0.1")
closed = sock("127.0.0.1", 0)
v6 = v6_works()
out = {"port": echo_l.getsockname()[1], "closed": closed.getsockname()[1],
       "v6": int(v6), "bh": 0, "dns": 0}
hdns = https_lab(out["port"], out["closed"])
out["hdns"] = hdns.getsockname()[1]
try:
    pair, port, hole, good = fallback_pair(v6)
    keep.append(pair)
    A, AAAA = 1, 28
    pton = lambda a: socket.inet_pton(
        socket.AF_INET6 if ":" in a else socket.AF_INET, a)
    recs = {("fallback.example", AAAA if v6 else A):
            [pton(hole)] + ([] if v6 else [pton(good)])}
    if v6:
        recs[("fallback.example", A)] = [pton(good)]
    dns = dns_server(recs)
    keep.append(dns)
    fmt = lambda a: "[%s]" % a if ":" in a else a
    out.update(bh=port, dns=dns.getsockname()[1], hole=fmt(hole),
               good=fmt(good))
except OSError as e:
    sys.stderr.write("lab: no black hole: %s\n" % e)
print(" ".join("%s=%s" % kv for kv in sorted(out.items())), flush=True)
threading.Event().wait()
EOF

python3 "$tmp/lab.py" >"$tmp/lab.out" 2>"$tmp/lab.err" &
labpid=$!
if ! wait_written "$tmp/lab.out"; then
	echo "FAIL: the Python lab did not start"
	cat "$tmp/lab.err"
	exit 1
fi
# lab VAR: one value the lab printed ("port=123 closed=456 ...").
lab() {
	tr ' ' '\n' <"$tmp/lab.out" | sed -n "s/^$1=//p"
}
port=$(lab port)
closed=$(lab closed)
bh=$(lab bh)
dns=$(lab dns)
hole=$(lab hole)
good=$(lab good)
hdns=$(lab hdns)
echo "lab: $(cat "$tmp/lab.out")"

# ---------------------------------------------------------------------------
# Connecting

run 127.0.0.1 "$port"
expect_rc "success exits 0" 0
check "success names the winner" has out "^connected to 127.0.0.1:$port in "

run 127.0.0.1 "$closed"
expect_rc "refused exits 1" 1
check "refused names the address and why" \
    grep -q -i "127.0.0.1:$closed.*refused" "$tmp/out"

run --json 127.0.0.1 "$closed"
expect_rc "refused --json exits 1" 1
check "refused --json: ok false, the attempt's error" json_ok \
    'd["ok"] is False and d["address"] is None and
     "refused" in d["error"].lower() and d["errno"] > 0 and
     d["attempts"][0]["address"] == "127.0.0.1:'"$closed"'"'

run --json 127.0.0.1 "$port"
expect_rc "--json exits 0" 0
check "--json parses, ok true, the address" json_ok \
    'd["ok"] is True and d["address"] == "127.0.0.1:'"$port"'" and
     d["port"] == '"$port"' and d["error"] is None and
     d["attempts"][0]["result"] == "won" and
     d["trace"][-1]["event"] == "done"'
if python3 -m json.tool "$tmp/out" >/dev/null 2>&1; then
	ok "--json passes python3 -m json.tool"
else
	bad "--json passes python3 -m json.tool"
fi

run --trace 127.0.0.1 "$port"
expect_rc "--trace exits 0" 0
check "--trace prints attempt-start" \
    grep -q "^ *+[0-9.]* ms  attempt-start 127.0.0.1:$port" "$tmp/err"
check "--trace ends with done" grep -q "ms  done: connected" "$tmp/err"

run --count 3 127.0.0.1 "$port"
expect_rc "--count 3 exits 0" 0
check "--count 3 prints 3 lines and a summary" test \
    "$(grep -c '^\[[1-3]/3\] connected to ' "$tmp/out")" -eq 3
check "--count 3 summary" has out "^3 connects: 3 succeeded, 0 failed"

run --count 2 --json 127.0.0.1 "$port"
check "--count --json is one object" json_ok \
    'd["count"] == 2 and len(d["connects"]) == 2 and d["ok"] is True'

run --local 127.0.0.1 127.0.0.1 "$port"
expect_rc "--local of the right family connects" 0
run -4 --local ::1 127.0.0.1 "$port"
expect_rc "--local of the other family only: exit 1" 1
check "--local of the other family: EADDRNOTAVAIL" \
    grep -q -i "assign\|not available" "$tmp/out"

# ---------------------------------------------------------------------------
# The waterfall: ASCII when stdout is not a terminal, COLUMNS wide (at
# least 60); colour on a terminal (a pty) unless NO_COLOR is set.

# max_width FILE: the widest line.
max_width() {
	awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }' "$1"
}
has_esc() {
	grep -q "$(printf '\033')" "$1"
}
# on_pty ARGS...: evhappy on a pseudo-terminal, its output in $tmp/out.
on_pty() {
	python3 - "$EVHAPPY" "$@" >"$tmp/out" 2>"$tmp/err" <<'PY'
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out = b""
while True:
    try:
        d = os.read(fd, 65536)
    except OSError:
        break
    if not d:
        break
    out += d
os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
PY
}

COLUMNS=100 run --waterfall 127.0.0.1 "$port"
expect_rc "--waterfall exits 0" 0
check "--waterfall: the outcome first" has out "^connected to 127.0.0.1:$port in "
check "--waterfall: the attempt's row, won" \
    grep -q "^  127\.0\.0\.1:$port  *|=*|.* ms WON\$" "$tmp/out"
check "--waterfall: a time axis" grep -Eq "^ *0(\.0*)? ms " "$tmp/out"
check "--waterfall: plain ASCII into a pipe" eval '! has_esc "$tmp/out"'
check "--waterfall: COLUMNS=100, no line wider" test "$(max_width "$tmp/out")" -le 100
check "--waterfall: COLUMNS=100, and wider than 80" test "$(max_width "$tmp/out")" -gt 80
COLUMNS=20 run --waterfall 127.0.0.1 "$port"
check "--waterfall: COLUMNS=20 draws 60 columns" test "$(max_width "$tmp/out")" -eq 60
COLUMNS=200 run --waterfall 127.0.0.1 "$closed"
expect_rc "--waterfall refused exits 1" 1
check "--waterfall: refused row" \
    grep -q "^  127\.0\.0\.1:$closed  *|=*x .* ms refused\$" "$tmp/out"
check "--waterfall: COLUMNS=200" test "$(max_width "$tmp/out")" -eq 200

COLUMNS=80 on_pty --waterfall 127.0.0.1 "$port"
check "--waterfall on a terminal: colour" has_esc "$tmp/out"
check "--waterfall on a terminal: the row" grep -q "WON" "$tmp/out"
NO_COLOR=1 COLUMNS=80 on_pty --waterfall 127.0.0.1 "$port"
check "--waterfall on a terminal, NO_COLOR: no colour" eval '! has_esc "$tmp/out"'
check "--waterfall on a terminal, NO_COLOR: the row" grep -q "WON" "$tmp/out"

# svg_ok FILE EXPR: FILE parses as XML, its root is an SVG svg element, and
# the Python expression EXPR over texts (the text of every text element)
# and root holds.
svg_ok() {
	python3 -c '
import sys, xml.etree.ElementTree as ET
ns = "{http://www.w3.org/2000/svg}"
root = ET.parse(sys.argv[1]).getroot()
texts = ["".join(t.itertext()) for t in root.iter(ns + "text")]
ok = root.tag == ns + "svg" and eval("(" + sys.argv[2] + ")")
sys.exit(0 if ok else 1)' "$1" "$2"
}

run --svg "$tmp/one.svg" 127.0.0.1 "$port"
expect_rc "--svg exits 0" 0
check "--svg: the result line as usual" has out "^connected to 127.0.0.1:$port in "
check "--svg: an SVG with the address, its time and WON" svg_ok "$tmp/one.svg" \
    '"127.0.0.1:'"$port"'" in texts and
     any(t.endswith(" ms WON") for t in texts) and
     any(t.startswith("connected to 127.0.0.1:'"$port"' in ") for t in texts)'
run --svg "$tmp/nodir/x.svg" 127.0.0.1 "$port"
expect_rc "--svg into a missing directory exits 1" 1
check "--svg into a missing directory says so" has err "^evhappy: --svg "

run --count 3 --waterfall --svg "$tmp/count.svg" 127.0.0.1 "$port"
expect_rc "--count 3 --waterfall exits 0" 0
check "--count 3 --waterfall: the three lines" test \
    "$(grep -c '^\[[1-3]/3\] connected to ' "$tmp/out")" -eq 3
check "--count 3 --waterfall: the slowest and the last" eval '
    { grep -q "^slowest: connect [12] of 3 (" "$tmp/out" &&
      grep -q "^last: connect 3 of 3 (" "$tmp/out"; } ||
    grep -q "^slowest and last: connect 3 of 3 (" "$tmp/out"'
check "--count 3 --waterfall: a picture each" test \
    "$(grep -c "^  127\.0\.0\.1:$port .* WON\$" "$tmp/out")" -ge 1
check "--count 3 --svg: both pictures, one document" svg_ok "$tmp/count.svg" \
    'len(root.findall(ns + "svg")) in (1, 2) and
     any(t.startswith("last: connect 3 of 3") or
         t.startswith("slowest and last") for t in texts) and
     "127.0.0.1:'"$port"'" in texts'

# Relay: stdin to the echo server and back.
if command -v timeout >/dev/null 2>&1; then
	printf hello | timeout 30 "$EVHAPPY" --relay 127.0.0.1 "$port" \
	    >"$tmp/out" 2>"$tmp/err"
else
	printf hello | "$EVHAPPY" --relay 127.0.0.1 "$port" \
	    >"$tmp/out" 2>"$tmp/err"
fi
rc=$?
expect_rc "--relay exits 0" 0
check "--relay echoes stdin" test "$(cat "$tmp/out")" = hello
check "--relay says where on stderr" has err "connected to 127.0.0.1:$port"

# A black hole first in the DNS answer, a listener next: evhappy falls
# back when the Connection Attempt Delay runs out.
if [ "${bh:-0}" -gt 0 ]; then
	run --dns "127.0.0.1:$dns" --trace fallback.example "$bh"
	expect_rc "black hole: falls back, exits 0" 0
	check "black hole: won by $good" has out "^connected to $good:$bh in "
	check "black hole: tried $hole first" \
	    grep -q -F "attempt-start $hole:$bh" "$tmp/err"
	run --dns "127.0.0.1:$dns" --json fallback.example "$bh"
	check "black hole: cancelled, then won after the attempt delay" \
	    json_ok '[a["result"] for a in d["attempts"]] ==
	    ["cancelled", "won"] and d["attempts"][1]["started_ms"] >= 200'
	# The connection history: the second connect skips the black hole
	# (history moved it after $good, and says so), unless it is off.
	run --dns "127.0.0.1:$dns" --count 2 --json fallback.example "$bh"
	check "history: the second connect goes to $good first" json_ok \
	    'd["connects"][1]["attempts"][0]["address"] == "'"$good:$bh"'" and
	    len(d["connects"][1]["attempts"]) == 1 and
	    [e for e in d["connects"][1]["trace"] if e["event"] == "history"
	     and e.get("history") == "hung" and
	     e.get("moved_after") == "'"$good:$bh"'"]'
	run --dns "127.0.0.1:$dns" --count 2 --trace fallback.example "$bh"
	check "history: --trace says why" grep -q -F \
	    "history: $hole:$bh hung" "$tmp/err"
	run --dns "127.0.0.1:$dns" --count 2 --json --no-history \
	    fallback.example "$bh"
	check "--no-history: the second connect tries $hole first again" \
	    json_ok 'd["connects"][1]["attempts"][0]["address"] ==
	    "'"$hole:$bh"'"'
	# The same fallback drawn: both queries, the black hole cut off as
	# the loser, the listener won; history moved the black hole after it
	# the second time.
	COLUMNS=120 run --dns "127.0.0.1:$dns" --no-history --waterfall \
	    --svg "$tmp/fallback.svg" fallback.example "$bh"
	expect_rc "black hole --waterfall exits 0" 0
	check "black hole --waterfall: DNS rows" eval \
	    'grep -q "^  DNS AAAA .* address" "$tmp/out" &&
	     grep -q "^  DNS A .* address" "$tmp/out"'
	check "black hole --waterfall: $hole lost" grep -q -F \
	    "  $hole:$bh" "$tmp/out"
	check "black hole --waterfall: lost, then WON" eval \
	    'grep -q " ms lost\$" "$tmp/out" && grep -q " ms WON\$" "$tmp/out"'
	check "black hole --svg: the same rows" svg_ok "$tmp/fallback.svg" \
	    '"'"$hole:$bh"'" in texts and "'"$good:$bh"'" in texts and
	     "DNS A" in texts and any(t.endswith(" lost") for t in texts)'
	run --dns "127.0.0.1:$dns" --count 2 --waterfall fallback.example "$bh"
	check "history: --waterfall says it moved $hole" grep -q -F \
	    "history: moved after $good:$bh (hung" "$tmp/out"
	run --timeout 300 "$(echo "$hole" | tr -d '[]')" "$bh"
	expect_rc "black hole alone: --timeout 300 exits 1" 1
	check "black hole alone: timed out" grep -q -i "timed out" "$tmp/out"
	run --dns "127.0.0.1:$dns" nosuch.example "$port"
	expect_rc "--dns: NXDOMAIN exits 1" 1
else
	echo "skip: no black hole here (see lab: above); --demo covers it"
fi

# ---------------------------------------------------------------------------
# HTTPS records (--https-rr, --alpn), from the lab's second DNS server
# (https_lab above).  Every name is asked at $closed, which refuses: only
# an endpoint's port ($port) connects.  Over --dns the record is asked
# through c-ares; a build without it races on A/AAAA alone.

https_q="_$closed._https"
if ! "$EVHAPPY" --version | grep -q '^features: .*c-ares [0-9]'; then
	echo "skip: HTTPS records over --dns: this build has no c-ares"
	run --dns "127.0.0.1:$hdns" --https-rr --json plain.example "$port"
	check "no c-ares: --https-rr says 'not asked' and races on A/AAAA" \
	    json_ok 'd["ok"] is True and d["endpoint"] is None and [e for e in
	    d["trace"] if e["event"] == "https-answer" and
	    e["text"].startswith("not asked")]'
else
	run --dns "127.0.0.1:$hdns" svc.example "$closed"
	expect_rc "HTTPS: without --https-rr the host's own port refuses" 1

	run --dns "127.0.0.1:$hdns" --https-rr svc.example "$closed"
	expect_rc "--https-rr: connects through the endpoint, exit 0" 0
	check "--https-rr: the endpoint's port won" \
	    has out "^connected to 127.0.0.1:$port in "
	check "--https-rr: the endpoint shown, ALPN, ech" has out \
	    "^  HTTPS endpoint web.example:$port, priority 2, alpn h2,http/1.1, ech\$"

	run --dns "127.0.0.1:$hdns" --https-rr --json svc.example "$closed"
	check "--https-rr --json: address and attempts as ever, the endpoint" \
	    json_ok 'd["ok"] is True and d["address"] == "127.0.0.1:'"$port"'"
	    and [a["address"] for a in d["attempts"]] == ["127.0.0.1:'"$port"'"]
	    and d["attempts"][0]["result"] == "won" and d["endpoint"] == {
	    "target": "web.example", "port": '"$port"', "priority": 2,
	    "alpn": ["h2", "http/1.1"], "ech": "/g0ABGVjaCE="}'
	check "--https-rr --json: the trace asks the record, then the target" \
	    json_ok '[(e["event"], e.get("text")) for e in d["trace"]
	    if e["event"] in ("https-query", "dns-query")] == [
	    ("https-query", "'"$https_q"'.svc.example"), ("dns-query", None),
	    ("dns-query", None), ("dns-query", "web.example"),
	    ("dns-query", "web.example")]'
	check "--https-rr --json: answer, endpoint, the h3-only one skipped" \
	    json_ok '[e for e in d["trace"] if e["event"] == "https-answer"
	    and e["text"] == "service" and e["endpoints"] == 1 and
	    e["dns_errno"] == 0] and [e for e in d["trace"] if e["event"] ==
	    "endpoint" and e["endpoint"] == d["endpoint"]] and [e for e in
	    d["trace"] if e["event"] == "endpoint-skipped" and "QUIC" in
	    e["text"]]'

	run --dns "127.0.0.1:$hdns" --https-rr --trace svc.example "$closed"
	check "--https-rr --trace: the query's name" grep -q -F \
	    "https-query $https_q.svc.example" "$tmp/err"
	check "--https-rr --trace: the endpoint" grep -q -F \
	    "endpoint web.example:$port priority 2 alpn h2,http/1.1 ech" "$tmp/err"
	check "--https-rr --trace: h3 only is skipped, and why" grep -q \
	    "endpoint-skipped: .*(h3).*QUIC" "$tmp/err"

	run --dns "127.0.0.1:$hdns" --https-rr --count 2 --json svc.example \
	    "$closed"
	check "--https-rr --count 2 --json: each connect's endpoint" json_ok \
	    '[c["endpoint"]["target"] for c in d["connects"]] ==
	    ["web.example", "web.example"] and d["ok"] is True'

	# An endpoint that speaks h2 only: --alpn decides.
	run --dns "127.0.0.1:$hdns" --https-rr --json h2only.example "$closed"
	check "--alpn default (http/1.1): the h2-only endpoint skipped" \
	    json_ok 'd["ok"] is False and d["endpoint"] is None and
	    [e for e in d["trace"] if e["event"] == "endpoint-skipped"]'
	run --dns "127.0.0.1:$hdns" --https-rr --alpn h2,http/1.1 \
	    h2only.example "$closed"
	expect_rc "--alpn h2,http/1.1: the h2-only endpoint connects" 0
	check "--alpn h2,http/1.1: its endpoint" has out \
	    "^  HTTPS endpoint web.example:$port, priority 1, alpn h2\$"

	# The address answers come 1.5 s late: the hint connects first.
	run --dns "127.0.0.1:$hdns" --https-rr --json hint.example "$closed"
	expect_rc "hint: connects, exit 0" 0
	check "hint: won before the A/AAAA answers came" json_ok \
	    'd["address"] == "127.0.0.1:'"$port"'" and d["elapsed_ms"] < 1500
	    and not [e for e in d["trace"] if e["event"] == "dns-answer" and
	    not e.get("text")] and d["endpoint"]["target"] == "hint.example"'

	run --dns "127.0.0.1:$hdns" --https-rr --json echonly.example "$closed"
	check "ech mandatory: skipped (the tool uses no ECH), and why" json_ok \
	    'd["ok"] is False and d["endpoint"] is None and [e for e in
	    d["trace"] if e["event"] == "endpoint-skipped" and "ech" in
	    e["text"]]'

	run --dns "127.0.0.1:$hdns" --https-rr odd.example "$closed"
	check "odd ALPN ids: escaped in the line" has out \
	    "^  HTTPS endpoint web.example:$port, priority 1, alpn h2,a\\\\x2c\\\\xff,http/1.1\$"
	run --dns "127.0.0.1:$hdns" --https-rr --json odd.example "$closed"
	check "odd ALPN ids: JSON strings, U+FFFD" json_ok \
	    'd["endpoint"]["alpn"] == ["h2", "a,\ufffd", "http/1.1"] and
	    d["endpoint"]["ech"] is None'

	run --dns "127.0.0.1:$hdns" --https-rr --json alias.example "$port"
	check "AliasMode: the chain's end is the endpoint, priority 0" json_ok \
	    'd["ok"] is True and d["endpoint"] == {"target": "web2.example",
	    "port": '"$port"', "priority": 0, "alpn": [], "ech": None}'
	run --dns "127.0.0.1:$hdns" --https-rr alias.example "$port"
	check "AliasMode: shown as an alias" has out \
	    "^  HTTPS endpoint web2.example:$port, alias\$"

	run --dns "127.0.0.1:$hdns" --https-rr plain.example "$port"
	expect_rc "no HTTPS record: the host's own address, exit 0" 0
	check "no HTTPS record: says so" has out \
	    "^  HTTPS endpoint: none, the host's own address\$"
	run --dns "127.0.0.1:$hdns" --https-rr --json plain.example "$port"
	check "no HTTPS record: --json endpoint null" json_ok \
	    'd["ok"] is True and d["endpoint"] is None'
	run --dns "127.0.0.1:$hdns" --json plain.example "$port"
	check "HTTPS records off: --json endpoint null, no https events" \
	    json_ok 'd["endpoint"] is None and not [e for e in d["trace"]
	    if e["event"].startswith("https")]'
fi

# Strings that need escaping stay valid JSON.
run --json "$(printf 'a"b\\c\001\377')" 80
expect_rc "--json odd host: exit 1" 1
check "--json odd host: escaped" json_ok \
    'd["host"] == "a\"b\\c\u0001\ufffd" and d["ok"] is False'

# ---------------------------------------------------------------------------
# Usage

run --help
expect_rc "--help exits 0" 0
check "--help prints usage on stdout" has out "^Usage: evhappy"
run -h
expect_rc "-h exits 0" 0
run --version
expect_rc "--version exits 0" 0
check "--version names evhappy" has out "^evhappy [0-9]*\.[0-9]*\.[0-9]*"
check "--version names the features" has out "^features: .*res_nquery"

# Each must exit 2, with a message on stderr and nothing on stdout.
while IFS='|' read -r what args; do
	[ -n "$what" ] || continue
	eval "set -- $args"
	run "$@"
	if [ "$rc" -eq 2 ] && [ -s "$tmp/err" ] && [ ! -s "$tmp/out" ]; then
		ok "usage: $what"
	else
		echo "  (exit status $rc; evhappy $args)"
		bad "usage: $what"
	fi
	if [ "$rc" -ge 128 ]; then
		bad "usage: $what: killed by a signal"
	fi
done <<'EOF'
no arguments|
no port|example.com
extra argument|example.com 80 81
unknown option|--frobnicate example.com 80
unknown short option|-x example.com 80
missing option argument|example.com 80 --timeout
argument to a flag|--trace=yes example.com 80
non-numeric delay|--attempt-delay soon example.com 80
negative delay|--attempt-delay -5 example.com 80
delay below range|--attempt-delay 5 example.com 80
delay above range|--attempt-delay 2001 example.com 80
resolution delay above range|--resolution-delay 1001 example.com 80
huge number|--timeout 99999999999999999999 example.com 80
zero timeout|--timeout 0 example.com 80
number with unit|--timeout 5s example.com 80
zero interleave|--interleave 0 example.com 80
zero max-in-flight|--max-in-flight 0 example.com 80
zero count|--count 0 example.com 80
negative count|--count -1 example.com 80
port 0|example.com 0
port 65536|example.com 65536
port not a number|example.com http
negative port|-- example.com -1
empty host|'' 80
-4 with -6|-4 -6 example.com 80
--relay with --count 2|--relay --count 2 example.com 80
--relay with --json|--relay --json example.com 80
--waterfall with --json|--waterfall --json example.com 80
--svg without a file|example.com 80 --svg
--svg with an empty file name|--svg '' example.com 80
bad --local|--local not-an-address example.com 80
two --local of one family|--local 127.0.0.1 --local 127.0.0.2 example.com 80
bad --dns|--dns 'dns server' example.com 80
--dns with --system-resolver|--dns 127.0.0.1 --system-resolver example.com 80
--alpn without --https-rr|--alpn h2 example.com 80
empty --alpn|--https-rr --alpn '' example.com 80
--alpn with an empty id|--https-rr --alpn h2,,http/1.1 example.com 80
--alpn with an id too long|--https-rr --alpn $(printf "%0256d" 0) example.com 80
--alpn without a list|example.com 80 --https-rr --alpn
--https-rr with an argument|--https-rr=1 example.com 80
--demo with arguments|--demo example.com 80
--demo with options|--demo --trace
--history with a host|--history example.com 80
--forget with an option|--forget --trace
--forget with --json|--forget --json
--history with --demo|--history --demo
bracketed IPv4|'[127.0.0.1]' 80
bracketed IPv4, --json --count|--json --count 2 '[127.0.0.1]' 80
--nat64-prefix without a length|--nat64-prefix 64:ff9b:: example.com 80
--nat64-prefix of a bad length|--nat64-prefix 64:ff9b::/97 example.com 80
--nat64-prefix with bits past its length|--nat64-prefix 64:ff9b::1/96 example.com 80
--nat64-prefix with a u-octet|--nat64-prefix 2001:db8:0:0:ff00::/96 example.com 80
--nat64-prefix not IPv6|--nat64-prefix 192.0.2.0/24 example.com 80
--nat64-prefix not a number|--nat64-prefix 64:ff9b::/x example.com 80
--nat64-prefix with --no-nat64|--nat64-prefix 64:ff9b::/96 --no-nat64 example.com 80
EOF

# Odd but legal input must not crash: any status below 128.
long=$(python3 -c 'print("a" * 5000)')
for args in "$long 80" "-- - 80" ". 80" "[::1 80" "%s%s%n 80" \
    "--local [::1] 127.0.0.1 $port"; do
	# shellcheck disable=SC2086
	run $args
	if [ "$rc" -lt 128 ] && [ "$rc" -ne 124 ]; then
		ok "no crash: evhappy $(echo "$args" | cut -c1-30)"
	else
		bad "no crash: evhappy $(echo "$args" | cut -c1-30) ($rc)"
	fi
done

# ---------------------------------------------------------------------------
# The history file: what one run learns, the next uses (issue 20)

mkdir -m 700 "$tmp/hist"
hf=$tmp/hist/history
if [ "${bh:-0}" -gt 0 ]; then
	EVHAPPY_HISTORY_FILE=$hf run --dns "127.0.0.1:$dns" --json \
	    fallback.example "$bh"
	check "history file: the first run falls back after the delay" \
	    json_ok '[a["result"] for a in d["attempts"]] == ["cancelled", "won"]
	    and [e for e in d["trace"] if e["event"] == "network"
	         and len(e["network"]) == 16]'
	check "history file: made 0600" test "$(stat -c %a "$hf")" = 600
	EVHAPPY_HISTORY_FILE=$hf run --dns "127.0.0.1:$dns" --json \
	    fallback.example "$bh"
	check "history file: the next run goes to $good first" json_ok \
	    'len(d["attempts"]) == 1 and
	    d["attempts"][0]["address"] == "'"$good:$bh"'" and
	    [e for e in d["trace"] if e["event"] == "history"
	     and e.get("history") == "hung" and e.get("from_file") is True
	     and e.get("moved_after") == "'"$good:$bh"'"]'
	EVHAPPY_HISTORY_FILE=$hf run --dns "127.0.0.1:$dns" --trace \
	    fallback.example "$bh"
	check "history file: --trace says it came from the file" grep -q -F \
	    "history: $hole:$bh hung" "$tmp/err"
	check "history file: --trace says so" grep -q -F \
	    "(from the history file), moved after $good:$bh" "$tmp/err"
	EVHAPPY_HISTORY_FILE=$hf run --history
	expect_rc "--history exits 0" 0
	check "--history names the file and the network" eval \
	    'grep -q "^history file: $hf\$" "$tmp/out" &&
	     grep -q "^network: [0-9a-f]\{16\} (" "$tmp/out"'
	check "--history: $hole:$bh hung" grep -q \
	    "^  $(echo "$hole:$bh" | sed 's/\[/\\[/;s/\]/\\]/') *hung .* ago\$" "$tmp/out"
	check "--history: $good:$bh worked, with its RTT" grep -q \
	    "^  $good:$bh *worked rtt [0-9.]* ms (+-[0-9.]*) .* ago\$" "$tmp/out"
	EVHAPPY_HISTORY_FILE=$hf run --history --json
	check "--history --json" json_ok \
	    'd["file"] == "'"$hf"'" and d["count"] == 2 and
	    sorted(e["state"] for e in d["entries"]) == ["hung", "worked"] and
	    all(e["from_file"] for e in d["entries"]) and
	    len(d["network"]) == 16 and d["network_text"]'
	cp "$hf" "$tmp/hist.before"
	EVHAPPY_HISTORY_FILE=$hf run --dns "127.0.0.1:$dns" --no-history \
	    fallback.example "$bh"
	check "--no-history leaves the file alone" cmp -s "$hf" "$tmp/hist.before"
	EVHAPPY_HISTORY_FILE=$hf run --forget
	expect_rc "--forget exits 0" 0
	check "--forget says what it forgot" has out "^forgot what is known for network "
	EVHAPPY_HISTORY_FILE=$hf run --history --json
	check "--forget: nothing is known any more" json_ok 'd["count"] == 0'
	EVHAPPY_HISTORY_FILE=$hf run --dns "127.0.0.1:$dns" --json \
	    fallback.example "$bh"
	check "--forget: the next run tries $hole first again" json_ok \
	    'd["attempts"][0]["address"] == "'"$hole:$bh"'"'
	# A file that is a symbolic link is refused, said once, and the
	# connect works (with the history in memory).
	ln -s "$hf" "$tmp/hist/link"
	EVHAPPY_HISTORY_FILE=$tmp/hist/link run --dns "127.0.0.1:$dns" \
	    --count 2 fallback.example "$bh"
	expect_rc "a linked history file: still connects" 0
	check "a linked history file: said once" test \
	    "$(grep -c "^evhappy: history file $tmp/hist/link is a symbolic link; not used\$" "$tmp/err")" = 1
	check "a linked history file: the history in memory works" has out \
	    "^\[2/2\] connected to $good:$bh"
	EVHAPPY_HISTORY_FILE=$tmp/hist/link run --history
	expect_rc "--history with a refused file exits 1" 1
fi
EVHAPPY_HISTORY_FILE=relative/history run --history
expect_rc "--history, a relative EVHAPPY_HISTORY_FILE: exits 0" 0
check "--history, a relative EVHAPPY_HISTORY_FILE: no file" has out \
    "^history file: none (EVHAPPY_HISTORY_FILE is not an absolute path)"
check "--history, a relative EVHAPPY_HISTORY_FILE: warned" has err \
    "EVHAPPY_HISTORY_FILE"
EVHAPPY_HISTORY_FILE= XDG_CACHE_HOME=$tmp/xdg run --history
check "--history: the file under XDG_CACHE_HOME" has out \
    "^history file: $tmp/xdg/evhappy/history\$"

# ---------------------------------------------------------------------------
# The demo

run --demo
expect_rc "--demo exits 0" 0
check "--demo prints its table" has out "^Time to connect"
if "$EVHAPPY" --version | grep -q '^features: .*c-ares [0-9]'; then
	# libevent waits 300 ms for A; evhappy's hint connects at once, or
	# after the 50 ms Resolution Delay where only IPv4 works
	times=$(sed -n "s/^   [34]\. HTTPS record's hints\{0,1\}  *\([0-9.]*\) ms over IPv4  *\([0-9.]*\) ms over IPv[46]\$/\1 \2/p" "$tmp/out")
	check "--demo: the HTTPS record's hint wins before A and AAAA ($times)" \
	    awk -v t="$times" 'BEGIN { split(t, v, " ");
	    exit !(v[1] >= 300 && v[2] + 100 < v[1]) }'
	check "--demo: the HTTPS endpoint shown" grep -q \
	    "^  *HTTPS endpoint hints\.example:[0-9]*, priority 1, alpn h2,http/1\.1\$" \
	    "$tmp/out"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
