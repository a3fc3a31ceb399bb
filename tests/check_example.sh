#!/bin/sh
# examples/dropin: the one-line replacement for
# bufferevent_socket_connect_hostname() connects to a loopback listener
# (exit 0, "connected to ...") and reports a refused port (exit 1).
# Needs python3 for the listener; skips (77) without it.

: "${top_builddir:=.}"
: "${top_srcdir:=.}"
. "$top_srcdir/tests/he_testlib.sh"

dropin="$top_builddir/examples/dropin"
passed=0
failed=0
tmp=
server_pid=

cleanup() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
	fi
	[ -n "$tmp" ] && rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

if ! command -v python3 >/dev/null 2>&1; then
	echo "SKIP: python3 not found (needed for the test listener)"
	exit 77
fi
if [ ! -x "$dropin" ]; then
	echo "FAIL: $dropin was not built"
	echo "0 passed, 1 failed"
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check_example.XXXXXX") || exit 1

# One process: a listener that accepts (and closes) connections, and a
# socket bound but not listening, so connects to its port are refused and
# nobody else can take that port meanwhile.  It prints both ports and
# lives at most 60 s.
python3 -c '
import socket, sys, time
l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", 0))
l.listen(16)
r = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
r.bind(("127.0.0.1", 0))
sys.stdout.write("%d %d\n" % (l.getsockname()[1], r.getsockname()[1]))
sys.stdout.flush()
l.settimeout(0.5)
end = time.time() + 60
while time.time() < end:
    try:
        c, _ = l.accept()
        c.close()
    except socket.timeout:
        pass
' >"$tmp/ports" 2>"$tmp/server.err" &
server_pid=$!

if ! wait_written "$tmp/ports"; then
	echo "SKIP: the python3 listener did not start:"
	cat "$tmp/server.err"
	exit 77
fi
read -r lport rport <"$tmp/ports"

pass() {
	echo "PASS: $1"
	passed=$((passed + 1))
}
fail() {
	echo "FAIL: $1"
	sed 's/^/    | /' "$tmp/out"
	failed=$((failed + 1))
}

# run NAME WANT_STATUS WANT_PATTERN ARGS...: run dropin with ARGS, expect
# that exit status and a line of its output matching WANT_PATTERN.
run() {
	name=$1
	want=$2
	pattern=$3
	shift 3
	"$dropin" "$@" >"$tmp/out" 2>&1
	status=$?
	if [ "$status" -ne "$want" ]; then
		fail "$name: exit status $status, want $want"
	elif ! grep -q -- "$pattern" "$tmp/out"; then
		fail "$name: no line matching '$pattern'"
	else
		pass "$name"
	fi
}

# A build chroot may have no /etc/hosts: then "localhost" is not a name.
if getent hosts localhost >/dev/null 2>&1; then
	run "dropin localhost $lport" 0 '^connected to ' localhost "$lport"
else
	echo "note: localhost does not resolve here; its case is left out"
fi
run "dropin 127.0.0.1 $lport" 0 "^connected to 127\.0\.0\.1:$lport\$" \
	127.0.0.1 "$lport"
run "dropin 127.0.0.1 $rport (refused)" 1 "port $rport" 127.0.0.1 "$rport"
run "dropin without arguments" 2 '^usage: ' 
run "dropin localhost 0 (bad port)" 2 '^usage: ' localhost 0

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
