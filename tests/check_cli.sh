#!/bin/sh
# Tests of the evhappy command-line tool against local listeners: success,
# refusal, a black hole with fallback, --json, --trace, --relay, --count,
# --waterfall and --svg, --demo, and a list of bad invocations that must
# each exit 2.
#
# The listeners, the black hole and a small DNS server are a Python script
# (python3 is needed: without it the test is skipped, status 77).
# Environment: top_builddir, top_srcdir (default '.').
#
# Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).

top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-.}
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

def dns_server(records):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    def loop():
        while True:
            q, peer = s.recvfrom(512)
            try:
                s.sendto(dns_answer(q, records), peer)
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

keep = []
echo_l = listener("127.0.0.1")
closed = sock("127.0.0.1", 0)
v6 = v6_works()
out = {"port": echo_l.getsockname()[1], "closed": closed.getsockname()[1],
       "v6": int(v6), "bh": 0, "dns": 0}
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
i=0
while [ ! -s "$tmp/lab.out" ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
if [ ! -s "$tmp/lab.out" ]; then
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
check "--waterfall: a time axis" grep -q "^ *0\.0* ms " "$tmp/out"
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
--demo with arguments|--demo example.com 80
--demo with options|--demo --trace
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
# The demo

run --demo
expect_rc "--demo exits 0" 0
check "--demo prints its table" has out "^Time to connect"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
