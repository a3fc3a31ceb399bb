#!/bin/sh
# The interposition library, libevhappy-preload.so, on programs that were
# never written for evhappy: tests/preload_client is built against libevent
# only (no evhappy header, no evhappy library), linked -levent_core
# -levent_extra and, when pkg-config knows libevent, -levent
# (tests/preload_client_levent); tests/preload_client_linked is the same
# program linked with the library before libevent, the other way to load it.
# Everything runs on loopback with the lab's
# in-process fake DNS server; see tests/preload_client.c for the scenarios.
#
# make check exports top_builddir and top_srcdir; both default to ".".
# HE_TEST_SLOW=N widens the time windows N times (a loaded machine).
# Exit 77 (skipped) when the library was not built; the IPv6 cases say SKIP
# when ::1 does not work here.  The last line says "N passed, N failed".

top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-.}
NM=${NM:-nm}
slow=${HE_TEST_SLOW:-1}

lib=$top_builddir/.libs/libevhappy-preload.so
run=$top_builddir/tools/evhappy-run
clients=$top_builddir/tests/preload_client
[ -x "$top_builddir/tests/preload_client_levent" ] &&
	clients="$clients $top_builddir/tests/preload_client_levent"

if [ ! -f "$lib" ]; then
	echo "SKIP: $lib was not built (configured with --disable-shared?)"
	exit 77
fi
case $lib in /*) ;; *) lib=$(pwd)/$lib ;; esac

passed=0
failed=0
skipped=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
skip() { skipped=$((skipped + 1)); echo "SKIP: $*"; }

tmp=${TMPDIR:-/tmp}/check_preload.$$
# The interposition library keeps the connection history in a file by
# default; these runs neither read nor write the user's.
EVHAPPY_HISTORY_FILE=off
export EVHAPPY_HISTORY_FILE
trap 'rm -f "$tmp".*' 0
trap 'exit 1' 1 2 15

# A sanitizer build: the library pulls in the ASan runtime, which then
# cannot come first in the list of libraries (LD_PRELOAD comes before the
# program's own); it works behind it when told not to check.  valgrind and
# ASan do not mix.
asan=no
if command -v "${NM%% *}" >/dev/null 2>&1 &&
    $NM -D "$lib" 2>/dev/null | grep -q '__asan_init'; then
	asan=yes
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
	export ASAN_OPTIONS
fi

# None of the caller's settings leak into the cases.
unset EVHAPPY_ATTEMPT_DELAY_MS EVHAPPY_RESOLUTION_DELAY_MS EVHAPPY_TIMEOUT_MS \
	EVHAPPY_HISTORY EVHAPPY_TRACE EVHAPPY_DISABLE EVHAPPY_RUN_PRELOAD \
	EVHAPPY_NAT64
unset LD_PRELOAD

# client [ENV=VALUE...] -- PROGRAM ARGS: run with stdout in $tmp.out, stderr
# in $tmp.err; $rc its exit status.
client() {
	env "$@" >"$tmp.out" 2>"$tmp.err"
	rc=$?
}
with() { client LD_PRELOAD="$lib" "$@"; }
without() { client "$@"; }

# The milliseconds of a "response/error/nothing after N ms" line.
ms() { sed -n 's/.* after \([0-9]*\) ms$/\1/p' "$tmp.out" | head -n 1; }
# Whether $tmp.out says OUTCOME (response 200 / error / nothing) after at
# least LO and at most HI ms.
outcome_in() {
	grep -q "^$1 after" "$tmp.out" || return 1
	t=$(ms)
	[ -n "$t" ] && [ "$t" -ge "$2" ] && [ "$t" -le "$3" ]
}
show() { sed 's/^/	| /' "$tmp.out" "$tmp.err"; }
# verdict STATUS PASS_TEXT FAIL_TEXT: a case's end; STATUS is its test's
# ($? right after it): 0 passes with PASS_TEXT, else it fails with
# FAIL_TEXT and shows what the client printed.
verdict() {
	if [ "$1" -eq 0 ]; then
		pass "$2"
	else
		fail "$3"
		show
	fi
}

# The IPv6 cases need ::1; the client says so with exit 77.
ipv6=yes
without "$top_builddir/tests/preload_client" http v4hole 10
if [ "$rc" -eq 77 ]; then
	ipv6=no
fi
v6case() {
	if [ "$ipv6" = no ]; then
		skip "$* (::1 does not work here)"
		return 1
	fi
}

# --- 1. it exports libevent's two names and nothing else ------------------
if command -v "${NM%% *}" >/dev/null 2>&1; then
	$NM -D --defined-only "$lib" |
		awk 'NF >= 2 { n = $NF; sub(/@.*/, "", n); print n }' |
		grep -v -e '^_init$' -e '^_fini$' -e '^_edata$' -e '^_end$' \
			-e '^__bss_start$' | sort -u >"$tmp.syms"
	printf '%s\n' bufferevent_socket_connect_hostname \
		bufferevent_socket_get_dns_error >"$tmp.want"
	if cmp -s "$tmp.syms" "$tmp.want"; then
		pass "the library exports exactly bufferevent_socket_connect_hostname and bufferevent_socket_get_dns_error"
	else
		fail "the library's exports differ from the two libevent names:"
		sed 's/^/	| /' "$tmp.syms"
	fi
else
	skip "${NM%% *} not found: exports not checked"
fi

# --- 2. evhttp: the IPv4 path is a black hole, ::1 serves --------------------
for c in $clients; do
	name=${c##*/}
	v6case "$name: evhttp GET with a black-holed IPv4 path" || break
	without "$c" http v4hole 1500
	[ "$rc" -eq 2 ] && grep -q '^nothing after' "$tmp.out"
	verdict $? "$name: libevent alone is still waiting after 1.5 s (it tries the black hole)" \
	    "$name: without the library the GET should hang (rc $rc)"
	with "$c" http v4hole $((3000 * slow))
	[ "$rc" -eq 0 ] && outcome_in "response 200" 0 $((150 * slow))
	verdict $? "$name: with the library the response came in $(ms) ms" \
	    "$name: with the library the response should come within $((150 * slow)) ms (rc $rc)"
done

# --- 3. the DNS error through libevent's getter -----------------------------
for c in $clients; do
	name=${c##*/}
	without "$c" nxdomain
	grep '^dns_error' "$tmp.out" >"$tmp.libevent"
	with "$c" nxdomain
	grep '^dns_error' "$tmp.out" >"$tmp.evhappy"
	[ "$rc" -eq 0 ] && [ -s "$tmp.evhappy" ] &&
	    ! grep -q '^dns_error 0 ' "$tmp.evhappy" &&
	    cmp -s "$tmp.libevent" "$tmp.evhappy"
	verdict $? "$name: NXDOMAIN reads the same code through bufferevent_socket_get_dns_error: $(cat "$tmp.evhappy")" \
	    "$name: bufferevent_socket_get_dns_error differs (libevent: $(cat "$tmp.libevent"); with the library: $(cat "$tmp.evhappy"))"
done

# The library linked into the program before libevent, nothing preloaded.
linked=$top_builddir/tests/preload_client_linked
if [ -x "$linked" ]; then
	if v6case "linked before libevent"; then
		without "$linked" http v4hole $((3000 * slow))
		[ "$rc" -eq 0 ] && outcome_in "response 200" 0 $((150 * slow))
		verdict $? "linked before libevent: the GET past the black hole took $(ms) ms" \
		    "linked before libevent: the GET should race (rc $rc)"
	fi
	without "$linked" nxdomain
	[ "$rc" -eq 0 ] && grep '^dns_error' "$tmp.out" | cmp -s - "$tmp.libevent"
	verdict $? "linked before libevent: the NXDOMAIN code as libevent gives it" \
	    "linked before libevent: the DNS error (rc $rc)"
else
	skip "$linked was not built"
fi

c=$top_builddir/tests/preload_client

# --- 4. EVHAPPY_TRACE=1 prints the race on stderr ---------------------------
if v6case "EVHAPPY_TRACE=1"; then
	with EVHAPPY_TRACE=1 "$c" http v6hole $((3000 * slow))
	[ "$rc" -eq 0 ] &&
	    grep -q '^evhappy: race 1: .* dns-query' "$tmp.err" &&
	    grep -q '^evhappy: race 1: .* attempt-start \[::1\]:' "$tmp.err" &&
	    grep -q '^evhappy: race 1: .* attempt-won 127\.0\.0\.1:' "$tmp.err" &&
	    grep -q '^evhappy: race 1: .* attempt-cancelled \[::1\]:' "$tmp.err" &&
	    grep -q '^evhappy: race 1: .* done' "$tmp.err" &&
	    ! grep -qv '^evhappy: ' "$tmp.err" &&
	    ! grep -q evhappy "$tmp.out"
	verdict $? "EVHAPPY_TRACE=1: $(wc -l <"$tmp.err" | tr -d ' ') trace lines on stderr, each prefixed \"evhappy: \"" \
	    "EVHAPPY_TRACE=1 should print the race on stderr (rc $rc)"
	with "$c" http v6hole $((3000 * slow))
	[ "$rc" -eq 0 ] && [ ! -s "$tmp.err" ]
	verdict $? "without EVHAPPY_TRACE nothing is printed" \
	    "without EVHAPPY_TRACE stderr should be empty (rc $rc)"
fi

# --- 5. EVHAPPY_DISABLE=1 gives libevent's behaviour back -------------------
if v6case "EVHAPPY_DISABLE=1"; then
	with EVHAPPY_DISABLE=1 EVHAPPY_TRACE=1 "$c" http v4hole 1000
	[ "$rc" -eq 2 ] && [ ! -s "$tmp.err" ]
	verdict $? "EVHAPPY_DISABLE=1: libevent's own connect (still waiting on the black hole), no trace" \
	    "EVHAPPY_DISABLE=1 should leave the call to libevent (rc $rc)"
fi
with EVHAPPY_DISABLE=1 "$c" nxdomain
[ "$rc" -eq 0 ] && grep '^dns_error' "$tmp.out" | cmp -s - "$tmp.libevent"
verdict $? "EVHAPPY_DISABLE=1: libevent's getter answers for libevent's connect" \
    "EVHAPPY_DISABLE=1: the DNS error should be libevent's (rc $rc)"

# --- 6. refused calls go to libevent ----------------------------------------
if v6case "a bound socket goes to libevent"; then
	with EVHAPPY_TRACE=1 "$c" http v6hole+bound $((3000 * slow))
	[ "$rc" -eq 0 ] && [ ! -s "$tmp.err" ]
	verdict $? "evhttp with a local address (a bufferevent with a socket): libevent connected it, untouched" \
	    "a bufferevent that already has a socket should go to libevent (rc $rc)"
fi

if v6case "evhttp's own timeout"; then
	# evhttp's connect timeout runs during the race as it runs during
	# libevent's connect, so the request still ends when evhttp says.
	with "$c" http hole+timeout $((5000 * slow))
	[ "$rc" -eq 1 ] && outcome_in error 990 $((1000 + 500 * slow))
	verdict $? "evhttp_connection_set_timeout(1 s) still ends the request: error after $(ms) ms" \
	    "evhttp's own timeout should end the request after 1 s (rc $rc)"
fi

# --- 7. the settings ---------------------------------------------------------
if v6case "EVHAPPY_TIMEOUT_MS"; then
	with EVHAPPY_TIMEOUT_MS=200 "$c" http hole $((3000 * slow))
	[ "$rc" -eq 1 ] && outcome_in error 190 $((200 + 300 * slow))
	verdict $? "EVHAPPY_TIMEOUT_MS=200: the GET to a black hole failed after $(ms) ms" \
	    "EVHAPPY_TIMEOUT_MS=200 should end the race after 200 ms (rc $rc)"
	with EVHAPPY_TIMEOUT_MS=abc "$c" http v4hole $((3000 * slow))
	[ "$rc" -eq 0 ] && [ "$(wc -l <"$tmp.err")" -eq 1 ] &&
	    grep -q '^evhappy: ignoring EVHAPPY_TIMEOUT_MS="abc"' "$tmp.err"
	verdict $? "EVHAPPY_TIMEOUT_MS=abc: one warning, ignored: $(cat "$tmp.err")" \
	    "EVHAPPY_TIMEOUT_MS=abc should warn once and be ignored (rc $rc)"
	# Out of range for the setter; and the hole still hangs to the
	# default 30 s, so the bad value was not taken.
	with EVHAPPY_TIMEOUT_MS=0 "$c" http hole 800
	[ "$rc" -eq 2 ] && [ "$(wc -l <"$tmp.err")" -eq 1 ] &&
	    grep -q '^evhappy: ignoring EVHAPPY_TIMEOUT_MS="0"' "$tmp.err"
	verdict $? "EVHAPPY_TIMEOUT_MS=0 (out of range): one warning, the default timeout stays" \
	    "EVHAPPY_TIMEOUT_MS=0 should warn once and be ignored (rc $rc)"
fi
if v6case "EVHAPPY_ATTEMPT_DELAY_MS"; then
	with "$c" http v6hole $((3000 * slow))
	[ "$rc" -eq 0 ] && outcome_in "response 200" 240 $((250 + 300 * slow))
	verdict $? "default attempt delay: IPv4 started after the black-holed ::1, response in $(ms) ms" \
	    "with the default attempt delay the response should come after about 250 ms (rc $rc)"
	with EVHAPPY_ATTEMPT_DELAY_MS=700 "$c" http v6hole $((3000 * slow))
	[ "$rc" -eq 0 ] && outcome_in "response 200" 690 $((700 + 300 * slow))
	verdict $? "EVHAPPY_ATTEMPT_DELAY_MS=700: response in $(ms) ms" \
	    "EVHAPPY_ATTEMPT_DELAY_MS=700 should delay IPv4 by 700 ms (rc $rc)"
	with EVHAPPY_ATTEMPT_DELAY_MS=5 "$c" http v6hole $((3000 * slow))
	[ "$rc" -eq 0 ] && grep -q '^evhappy: ignoring EVHAPPY_ATTEMPT_DELAY_MS="5"' "$tmp.err" &&
	    outcome_in "response 200" 240 $((250 + 300 * slow))
	verdict $? "EVHAPPY_ATTEMPT_DELAY_MS=5 (below 10 ms): warned, the default stays ($(ms) ms)" \
	    "EVHAPPY_ATTEMPT_DELAY_MS=5 should warn and keep 250 ms (rc $rc)"
fi
if v6case "EVHAPPY_RESOLUTION_DELAY_MS"; then
	# AAAA answers 300 ms late.  By default A waits 50 ms, then IPv4
	# serves at once; waiting 1 s for AAAA means ::1 (the black hole) goes
	# first at 300 ms, and IPv4 one attempt delay later.
	with "$c" http v6hole $((3000 * slow)) 300
	[ "$rc" -eq 0 ] && outcome_in "response 200" 40 $((50 + 200 * slow))
	verdict $? "default resolution delay: IPv4 after $(ms) ms" \
	    "with the default resolution delay IPv4 should go at about 50 ms (rc $rc)"
	with EVHAPPY_RESOLUTION_DELAY_MS=1000 "$c" http v6hole $((3000 * slow)) 300
	[ "$rc" -eq 0 ] && outcome_in "response 200" 530 $((550 + 300 * slow))
	verdict $? "EVHAPPY_RESOLUTION_DELAY_MS=1000: waited for AAAA, response in $(ms) ms" \
	    "EVHAPPY_RESOLUTION_DELAY_MS=1000 should wait for the late AAAA (rc $rc)"
fi
with EVHAPPY_HISTORY=0 "$c" nxdomain
[ "$rc" -eq 0 ] && [ ! -s "$tmp.err" ]
verdict $? "EVHAPPY_HISTORY=0 is accepted silently" \
    "EVHAPPY_HISTORY=0 should be accepted (rc $rc)"
with EVHAPPY_HISTORY=yes EVHAPPY_TRACE=2 "$c" nxdomain
[ "$rc" -eq 0 ] && [ "$(wc -l <"$tmp.err")" -eq 2 ] &&
    grep -q '^evhappy: ignoring EVHAPPY_HISTORY="yes"' "$tmp.err" &&
    grep -q '^evhappy: ignoring EVHAPPY_TRACE="2"' "$tmp.err"
verdict $? "EVHAPPY_HISTORY=yes, EVHAPPY_TRACE=2: one warning each" \
    "bad EVHAPPY_HISTORY / EVHAPPY_TRACE should warn once each (rc $rc)"

# The drop-in in a program built with evhappy reads the same variables
# (nothing is preloaded here).  Port 1 on loopback: refused.
dropin=$top_builddir/examples/dropin
if [ -x "$dropin" ]; then
	client EVHAPPY_TRACE=1 EVHAPPY_TIMEOUT_MS=abc "$dropin" 127.0.0.1 1
	[ "$rc" -eq 1 ] &&
	    [ "$(grep -c '^evhappy: ignoring EVHAPPY_TIMEOUT_MS' "$tmp.err")" -eq 1 ] &&
	    grep -q '^evhappy: race 1: .* attempt-failed 127\.0\.0\.1:1 error: ' "$tmp.err" &&
	    grep -q '^evhappy: race 1: .* done error: ' "$tmp.err"
	verdict $? "evhappy_socket_connect_hostname() in a program of its own: EVHAPPY_TRACE and the warning" \
	    "the drop-in should read the EVHAPPY_* variables (rc $rc)"
else
	skip "$dropin was not built"
fi

# --- 8. several threads with several event_bases ----------------------------
for c2 in $clients; do
	v6case "threads" || break
	with EVHAPPY_TIMEOUT_MS=abc "$c2" threads 8 $((3000 * slow))
	[ "$rc" -eq 0 ] && [ "$(grep -c '^thread .*: response 200' "$tmp.out")" -eq 8 ] &&
	    [ "$(wc -l <"$tmp.err")" -eq 1 ]
	verdict $? "${c2##*/}: 8 threads, 8 event_bases, 8 responses; the bad setting warned once" \
	    "${c2##*/}: 8 threads should each get the response, one warning in all (rc $rc)"
done

# --- 9. nothing happens before the first call --------------------------------
without "$c" idle
cp "$tmp.out" "$tmp.idle"
with EVHAPPY_TRACE=1 EVHAPPY_TIMEOUT_MS=abc "$c" idle
if [ "$rc" -eq 0 ] && [ -s "$tmp.idle" ] && cmp -s "$tmp.out" "$tmp.idle" &&
    [ ! -s "$tmp.err" ]; then
	pass "preloaded but never called: same threads and fds ($(cat "$tmp.out")), no output"
else
	fail "the preloaded library should do nothing before the first call (rc $rc)"
	echo "	| without: $(cat "$tmp.idle")"
	show
fi

# --- 10. evhappy-run ---------------------------------------------------------
if [ -x "$run" ]; then
	if grep -q '/evhappy/libevhappy-preload.so}' "$run"; then
		pass "evhappy-run names the installed library: $(sed -n 's/^lib=.*:-\(.*\)}$/\1/p' "$run")"
	else
		fail "evhappy-run does not name \$(pkglibdir)/libevhappy-preload.so"
	fi
	if v6case "evhappy-run GET"; then
		client EVHAPPY_RUN_PRELOAD="$lib" "$run" "$c" http v4hole $((3000 * slow))
		[ "$rc" -eq 0 ] && outcome_in "response 200" 0 $((150 * slow))
		verdict $? "evhappy-run: the GET past the black hole took $(ms) ms" \
		    "evhappy-run should race the GET (rc $rc)"
	fi
	# How the list is made, with a stand-in library (an empty file the
	# dynamic linker ignores with a warning), so that sh runs as it is.
	: >"$tmp.fake.so"
	client EVHAPPY_RUN_PRELOAD="$tmp.fake.so" LD_PRELOAD=libc.so.6 "$run" sh -c 'echo "$LD_PRELOAD"'
	if [ "$(cat "$tmp.out")" = "$tmp.fake.so:libc.so.6" ]; then
		pass "evhappy-run puts the library before the caller's LD_PRELOAD"
	else
		fail "evhappy-run's LD_PRELOAD: $(cat "$tmp.out")"
	fi
	client EVHAPPY_RUN_PRELOAD="$tmp.fake.so" LD_PRELOAD="$tmp.fake.so" "$run" sh -c 'echo "$LD_PRELOAD"'
	if [ "$(cat "$tmp.out")" = "$tmp.fake.so" ]; then
		pass "evhappy-run does not preload the library twice"
	else
		fail "evhappy-run's LD_PRELOAD: $(cat "$tmp.out")"
	fi
	# The version configure gave the package, not the pattern
	# configure fills in.
	want=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' \
	    "$top_builddir/config.h" 2>/dev/null)
	client "$run" --version
	[ "$rc" -eq 0 ] && [ -n "$want" ] &&
	    [ "$(cat "$tmp.out")" = "evhappy-run $want" ]
	verdict $? "evhappy-run --version: $(cat "$tmp.out")" \
	    "evhappy-run --version should print \"evhappy-run $want\" (rc $rc)"
	client "$run"
	[ "$rc" -eq 125 ] && grep -q '^usage: evhappy-run' "$tmp.err"
	verdict $? "evhappy-run with no program: usage, exit 125" \
	    "evhappy-run with no program (rc $rc)"
	client EVHAPPY_RUN_PRELOAD="$lib" "$run" /nonexistent/program
	if [ "$rc" -eq 127 ]; then
		pass "evhappy-run with a missing program: exit 127"
	else
		fail "evhappy-run with a missing program: rc $rc"
	fi
else
	fail "$run was not built"
fi

# --- 11. what evhttp does next: retries, its timeout, the address ----------
if v6case "evhttp retries"; then
	# Both addresses black holes; evhttp's connect timeout 1 s, 3 retries
	# 100, 200 and 400 ms after a timeout: evhttp ends the request after
	# 4 x 1000 + 700 ms.  evhttp resets its bufferevent (setfd -1) before
	# every connect: each retry must replace the race before it (once
	# refused with EALREADY, "Operation already in progress"), and each
	# race's sockets must close when evhttp's timeout resets the
	# bufferevent, as libevent's own socket does, not at the next retry
	# or after the race's own 30 s.
	with EVHAPPY_TRACE=1 "$c" retry 3 $((12000 * slow))
	races=$(sed -n 's/^evhappy: race \([0-9]*\): .* attempt-start .*/\1/p' \
	    "$tmp.err" | sort -u | wc -l | tr -d ' ')
	[ "$rc" -eq 1 ] && outcome_in error 4690 $((4700 + 300 * slow)) &&
	    ! grep -q 'already in progress' "$tmp.err" && [ "$races" -eq 4 ]
	verdict $? "evhttp with 3 retries: 4 races, none refused, the request failed after $(ms) ms as evhttp says" \
	    "evhttp's retries should each race, the request fail after 4.7 s (rc $rc, $races races)"
	open=$(sed -n 's/^sockets open for \([0-9]*\) ms$/\1/p' "$tmp.out")
	bad=$(echo "$open" | awk -v hi=$((1000 + 40 * slow)) \
	    'NF && ($1 < 980 || $1 > hi)' | wc -l | tr -d ' ')
	[ "$(echo "$open" | grep -c .)" -eq 4 ] && [ "$bad" -eq 0 ] &&
	    grep -q '^left 0$' "$tmp.out"
	verdict $? "each race's sockets closed at evhttp's 1 s timeout (open for $(echo $open) ms), none left" \
	    "each race's sockets should close at evhttp's timeout, none be left (open for: $(echo $open))"
fi
if v6case "evhttp_connection_get_addr"; then
	# libevent's connect records the address it connected to:
	# evhttp_connection_get_addr() returns it, and with
	# EVHTTP_CON_REUSE_CONNECTED_ADDR evhttp reconnects there without DNS
	# (the name no longer resolves for the second request).
	with "$c" addr $((3000 * slow))
	[ "$rc" -eq 0 ] && grep -q '^addr 10 ::1$' "$tmp.out" &&
	    grep -q '^second response 200' "$tmp.out"
	verdict $? "evhttp_connection_get_addr() is the raced winner (::1), and EVHTTP_CON_REUSE_CONNECTED_ADDR reconnects there" \
	    "evhttp_connection_get_addr() should be [::1] and the second request reuse it (rc $rc)"
fi

# --- 12. what the library leaves to libevent ----------------------------------
# A literal address that evhappy never connects to when DNS answers it
# (0.0.0.0, ::) is the program's own choice: libevent connects it (Linux
# takes it for the local host), and so must the program under the library.
for h in 0.0.0.0 ::; do
	if [ "$h" = :: ]; then
		v6case "the literal ::" || continue
	fi
	without "$c" literal "$h"
	cp "$tmp.out" "$tmp.literal"
	with EVHAPPY_TRACE=1 "$c" literal "$h"
	[ "$rc" -eq 0 ] && grep -q '^event connected$' "$tmp.out" &&
	    cmp -s "$tmp.out" "$tmp.literal" && [ ! -s "$tmp.err" ]
	verdict $? "the literal $h goes to libevent unchanged: $(tr '\n' ' ' <"$tmp.out")" \
	    "the literal $h should go to libevent (rc $rc; libevent alone: $(tr '\n' ' ' <"$tmp.literal"))"
done

# A program whose libevent is not 2.1 (here a stand-in preloaded after the
# library that says 2.2.1, as a libevent-2.2 program's would): the library
# was built for 2.1's ABI and must pass every call through, warning once.
fake=$top_builddir/tests/.libs/libfakeevent22.so
if [ -f "$fake" ]; then
	case $fake in /*) ;; *) fake=$(pwd)/$fake ;; esac
	if v6case "another libevent's ABI"; then
		client LD_PRELOAD="$lib $fake" EVHAPPY_TRACE=1 "$c" threads 4 1000
		[ "$rc" -eq 2 ] && [ "$(wc -l <"$tmp.err")" -eq 1 ] &&
		    grep -q '^evhappy: libevent 2\.2\.1-fake is not libevent 2\.1' "$tmp.err" &&
		    ! grep -q '^thread .*: response' "$tmp.out"
		verdict $? "libevent 2.2 in the program: 4 threads' connects went to libevent untouched (no trace, no race), one warning: $(cat "$tmp.err")" \
		    "with another libevent every call should go to libevent, with one warning (rc $rc)"
	fi
	client LD_PRELOAD="$lib $fake" "$c" nxdomain
	[ "$rc" -eq 0 ] && grep '^dns_error' "$tmp.out" | cmp -s - "$tmp.libevent"
	verdict $? "libevent 2.2 in the program: the DNS error is libevent's" \
	    "libevent 2.2 in the program: the DNS error should be libevent's (rc $rc)"
	client LD_PRELOAD="$lib $fake" EVHAPPY_DISABLE=1 "$c" nxdomain
	[ "$rc" -eq 0 ] && [ ! -s "$tmp.err" ]
	verdict $? "libevent 2.2 in the program and EVHAPPY_DISABLE=1: no warning (libevent was asked for)" \
	    "EVHAPPY_DISABLE=1 should silence the version warning (rc $rc)"
else
	skip "$fake was not built (make check builds it)"
fi

# Calls that do not go through the dynamic linker never reach the library:
# a program with libevent linked in statically keeps libevent's connect
# (here: still waiting on the black hole), and the library does nothing.
static=$top_builddir/tests/preload_client_static
if [ -x "$static" ]; then
	if v6case "static libevent"; then
		with EVHAPPY_TRACE=1 "$static" http v4hole 1000
		[ "$rc" -eq 2 ] && grep -q '^nothing after' "$tmp.out" &&
		    [ ! -s "$tmp.err" ]
		verdict $? "libevent linked statically: the library sees no call (libevent's connect still waits on the black hole, no trace)" \
		    "a statically linked libevent should be left alone (rc $rc)"
	fi
else
	skip "$static was not built (no static libevent)"
fi
# ... and a plugin loaded with dlopen(RTLD_DEEPBIND) binds its calls to its
# own libevent first: the program's connect races (a trace of race 1), the
# plugin's is libevent's (no race 2).
plugin=$top_builddir/tests/.libs/libpreload_deepbind.so
if [ "$asan" = yes ]; then
	skip "RTLD_DEEPBIND: a sanitizer build, whose runtime refuses it"
elif [ -f "$plugin" ]; then
	case $plugin in /*) ;; *) plugin=$(pwd)/$plugin ;; esac
	with EVHAPPY_TRACE=1 "$c" deepbind "$plugin"
	[ "$rc" -eq 0 ] && grep -q '^program: event connected$' "$tmp.out" &&
	    grep -q '^plugin: event connected$' "$tmp.out" &&
	    grep -q '^evhappy: race 1: .* attempt-won 127\.0\.0\.1:' "$tmp.err" &&
	    ! grep -q '^evhappy: race 2:' "$tmp.err"
	verdict $? "RTLD_DEEPBIND: the program's connect raced, the plugin's went to libevent directly" \
	    "RTLD_DEEPBIND: the program's connect should race and the plugin's go to libevent (rc $rc)"
else
	skip "$plugin was not built (make check builds it)"
fi

# --- 13. no leak under valgrind ----------------------------------------------
if [ "$asan" = yes ]; then
	skip "a sanitizer build: leaks are ASan's to report, not valgrind's"
elif command -v valgrind >/dev/null 2>&1; then
	vg="valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=1"
	with $vg "$c" nxdomain
	[ "$rc" -eq 0 ] && grep -q '^dns_error -\?[1-9]' "$tmp.out"
	verdict $? "valgrind: the NXDOMAIN connect leaks nothing" \
	    "valgrind: NXDOMAIN (rc $rc)"
	if v6case "valgrind GET"; then
		with $vg "$c" http v6hole $((8000 * slow))
		[ "$rc" -eq 0 ] && grep -q '^response 200' "$tmp.out"
		verdict $? "valgrind: a GET raced over both families leaks nothing ($(ms) ms)" \
		    "valgrind: the raced GET (rc $rc)"
		with $vg "$c" threads 4 $((8000 * slow))
		[ "$rc" -eq 0 ]
		verdict $? "valgrind: 4 threads racing leak nothing" \
		    "valgrind: 4 threads (rc $rc)"
	fi
else
	skip "valgrind not found: leaks not checked"
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
