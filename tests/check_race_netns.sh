#!/bin/sh
# Earlier attempts live on, on real network paths (issue 23, RFC 8305
# section 5: "Starting a new connection attempt does not affect previous
# attempts"), and the drop-in waits as long as libevent's own connect.
#
# Two pairs of network namespaces (tests/he_netns.sh), each a client and a
# server joined by a wire that holds every packet from the client for a
# fixed time, so every handshake takes that long:
#
# - pair A, everything held 2 s.  The server has 10 IPv6 and 10 IPv4
#   addresses, all listening; the name has them all.
#   1. The race connects through its first address at about 2 s; no
#      attempt ended before that (the trace says no attempt was failed or
#      cancelled before attempt-won), and every other one is closed after.
#      With the old bound of 8 attempts in flight, the first was closed at
#      2 s to start the ninth (which, at the default 250 ms stagger, can
#      come just after the first handshake: so again with a 100 ms
#      stagger, where all 20 run before the first answer).
#   2. Eight black holes (nft drops TCP to them), then one live address,
#      interleaved: the live one starts ninth, at 2 s, and connects at
#      about 4 s; every black hole is still open until then.
# - pair B, everything held 30.5 s, longer than a context's 30 s default
#   timeout: 3. a drop-in race (evhappy_socket_connect_hostname(), what
#   the interposition library calls too) connects at about 30.5 s, as
#   libevent's own call would; before, it failed with ETIMEDOUT at 30 s.
#   It runs in the background while pair A's cases run, so the script
#   takes about 32 s.  (A shorter hold cannot show it: the default to
#   outlive is 30 s, and a test must not change the library's defaults.)
#
# Needs root, ip, nft and /dev/net/tun; otherwise it is skipped (77).
# HE_TEST_SLOW=N widens the upper bounds of the windows N times.
#
# Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).

. "${top_srcdir:-$(dirname "$0")/..}/tests/he_netns.sh"
netns_init check_race_netns

A_C=${tag}ac
A_S=${tag}as
B_C=${tag}bc
B_S=${tag}bs
V6="2001:db8::2 2001:db8::3 2001:db8::4 2001:db8::5 2001:db8::6
    2001:db8::7 2001:db8::8 2001:db8::9 2001:db8::a 2001:db8::b"
V4="192.0.2.2 192.0.2.3 192.0.2.4 192.0.2.5 192.0.2.6 192.0.2.7
    192.0.2.8 192.0.2.9 192.0.2.10 192.0.2.11"

inc() { ip netns exec "$A_C" "$@"; }
ins() { ip netns exec "$A_S" "$@"; }

# server C S ADDR...: the client's addresses, the server's, its listeners
# and an empty nft table for black holes.
server() {
	c=$1 s=$2
	shift 2
	ip -n "$c" addr add 192.0.2.1/24 dev hew &&
	ip -n "$c" addr add 2001:db8::1/64 dev hew nodad || return 1
	for a in "$@"; do
		case $a in
		*:*) ip -n "$s" addr add "$a/64" dev hew nodad ;;
		*) ip -n "$s" addr add "$a/24" dev hew ;;
		esac || return 1
	done
	netns_filter "$s" || return 1
	netns_bg ip netns exec "$s" "$DRIVE" serve $PORT "$@" \
	    2>"$tmp/serve.$s.err"
}

setup() {
	# shellcheck disable=SC2086
	netns_pair "$B_C" "$B_S" 30500 30500 &&
	server "$B_C" "$B_S" 2001:db8::2 192.0.2.2 &&
	netns_pair "$A_C" "$A_S" 2000 2000 &&
	server "$A_C" "$A_S" $V6 $V4
}

netns_setup setup
sleep 0.2	# the listeners

# 3 starts first: it takes 30.5 s, the others run meanwhile.  No overall
# timeout of its own: `timeout` ends it if it hangs (the kernel would give
# up on the SYN after about 2 minutes).
EVHAPPY_TRACE=1 timeout 90 ip netns exec "$B_C" "$DRIVE" dropin \
    --aaaa 2001:db8::2 --a 192.0.2.2 $NAME $PORT \
    >"$tmp/s3.out" 2>"$tmp/s3.trace" &
dropin=$!
netns_pids="$netns_pids $dropin"

# records LIST: --aaaa/--a options for the addresses in LIST.
records() {
	for a in "$@"; do
		case $a in *:*) printf ' --aaaa %s' "$a" ;; *) printf ' --a %s' "$a" ;; esac
	done
}

# check_race FILE WIN_MS_LO WIN_MS_HI [WINNER]: the connect line of FILE
# says it connected within the window (through WINNER, else through the
# first address started), and its trace says no attempt ended before the
# win, and every other started attempt was closed after it.  Prints why
# not; also how many started.
check_race() {
	awk -v lo="$2" -v hi="$3" -v want="$4" '
	$1 == "trace" && $5 == "attempt-start" {
		if (!first) first = $6
		starts++
		if (won) { print "started after the win: " $6; bad = 1 }
	}
	$1 == "trace" && ($5 == "attempt-failed" || $5 == "attempt-cancelled") {
		if (!won) { print "ended before the win: " $0; bad = 1 }
		else if ($5 == "attempt-cancelled") closed++
	}
	$1 == "trace" && $5 == "attempt-won" { won = $6 }
	$1 == "connect" { ms = $4; winner = $5; err = $6; n++ }
	END {
		if (n != 1) { print n " connect lines"; exit 1 }
		if (want == "") want = first
		if (err != 0 || winner != want) {
			print "won by " winner " (errno " err "), expected " want
			bad = 1
		}
		if (ms < lo || ms > hi) {
			print "connected after " ms " ms, expected " lo " .. " hi
			bad = 1
		}
		if (closed != starts - 1) {
			print starts " started, " closed " closed after the win"
			bad = 1
		}
		if (!bad) print starts
		exit bad
	}' "$1"
}

# ---------------------------------------------------------------------------
# 1. 10 IPv6 and 10 IPv4 addresses, every packet held 2 s: an attempt
#    starts every 250 ms, and the first connects at about 2 s (window
#    2000 .. 2600 ms) with all of them still open (8 or 9 started).
# shellcheck disable=SC2086
inc "$DRIVE" connect --no-history --trace $(records $V6 $V4) $NAME $PORT \
    >"$tmp/s1" 2>&1
if n=$(check_race "$tmp/s1" 2000 "$(up 2600)") && [ "$n" -ge 8 ]; then
	ok "20 addresses held 2 s: the first won at $(awk '$1 == "connect" { print $4 }' "$tmp/s1") ms, $n attempts open until then"
else
	echo "$n" >>"$tmp/s1"
	bad "20 addresses held 2 s: the first address wins, nothing closed before" "$tmp/s1"
fi

# The same with a 100 ms attempt delay: all 20 attempts are running
# before the first answer comes (at 1.9 s), and still the first wins at
# about 2 s, with every other one open until then.  (With the old bound
# of 8, the first eleven were closed to start the others, and the race
# connected through the 13th at about 3.2 s.)
# shellcheck disable=SC2086
inc "$DRIVE" connect --no-history --trace --delay 100 $(records $V6 $V4) \
    $NAME $PORT >"$tmp/s1b" 2>&1
if n=$(check_race "$tmp/s1b" 2000 "$(up 2600)") && [ "$n" = 20 ]; then
	ok "20 addresses held 2 s, 100 ms apart: the first won at $(awk '$1 == "connect" { print $4 }' "$tmp/s1b") ms, all 20 open until then"
else
	echo "$n" >>"$tmp/s1b"
	bad "20 attempts in flight: the first address wins, nothing closed before" "$tmp/s1b"
fi

# ---------------------------------------------------------------------------
# 2. Eight black holes, then one live address, everything held 2 s.  The
#    name has 5 IPv6 and 4 IPv4 addresses; interleaved, the 9th attempt is
#    the 5th IPv6 address, the only one not dropped.  It starts at 2 s and
#    connects at about 4 s (window 4000 .. 4600 ms); all 9 were open until
#    then.
BH6="2001:db8::2 2001:db8::3 2001:db8::4 2001:db8::5"
BH4="192.0.2.2 192.0.2.3 192.0.2.4 192.0.2.5"
for a in $BH6; do
	ins nft add rule inet hetest in ip6 daddr "$a" tcp dport $PORT drop
done
for a in $BH4; do
	ins nft add rule inet hetest in ip daddr "$a" tcp dport $PORT drop
done
# shellcheck disable=SC2086
inc "$DRIVE" connect --no-history --trace \
    $(records $BH6 2001:db8::6 $BH4) $NAME $PORT >"$tmp/s2" 2>&1
if n=$(check_race "$tmp/s2" 4000 "$(up 4600)" "[2001:db8::6]:$PORT") &&
    [ "$n" = 9 ]; then
	ok "8 black holes then a live address, held 2 s: it won at $(awk '$1 == "connect" { print $4 }' "$tmp/s2") ms, every black hole open until then"
else
	echo "$n" >>"$tmp/s2"
	bad "8 black holes then a live address" "$tmp/s2"
fi
ins nft flush chain inet hetest in

# ---------------------------------------------------------------------------
# 3. The drop-in, every packet held 30.5 s: it connects through the first
#    address (IPv6) at about 30.5 s (window 30500 .. 32000 ms).
wait $dropin
rc=$?
cat "$tmp/s3.out" >>"$tmp/s3.trace"
if [ $rc = 0 ] && awk -v hi="$(up 32000)" '
	$1 == "dropin" { n++; ms = $2; w = $3; e = $4 }
	END {
		if (n != 1 || w != "[2001:db8::2]:8080" || e != 0 ||
		    ms < 30500 || ms > hi + 0) {
			print "dropin: " w " errno " e " after " ms " ms"
			exit 1
		}
	}' "$tmp/s3.out" >>"$tmp/s3.trace"
then
	ok "drop-in, held 30.5 s: connected at $(awk '{ print $2 }' "$tmp/s3.out") ms, past a context's 30 s timeout"
else
	bad "drop-in outlives a context's 30 s default (rc $rc)" "$tmp/s3.trace"
fi

echo "$passed passed, $failed failed"
[ $failed = 0 ]
