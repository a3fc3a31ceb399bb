#!/bin/sh
# Connection history on real network paths (RFC 8305 section 4).
#
# Two network namespaces joined by a wire: the client has 192.0.2.1 and
# 2001:db8::1, the server 192.0.2.2, 2001:db8::2 (and .3 / ::3 for the
# changed DNS answer).  The wire is `he_netdrive wire`, a TUN device in
# each namespace and a process between them that delays each family on
# its own: a veth pair with tc netem would do the same, but this CI's
# kernel has no sch_netem (nor sch_prio), and TUN is in every kernel
# (tests/he_netns.sh makes the namespaces and tears them down).  nft
# on the server's side drops TCP to the port per family (a black hole).  The server listens with tests/he_netdrive serve; names are
# answered by the lab's fake DNS server inside the client namespace (in
# the driver's process, or a background `he_netdrive dns` for the evhappy
# CLI).  Only documentation addresses are used, nothing leaves the
# namespaces, and everything is torn down on exit (trap).
#
# Needs root, ip, nft and /dev/net/tun; otherwise it is skipped (77).
# HE_TEST_SLOW=N widens the upper bounds of the windows N times.
#
# Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).

. "${top_srcdir:-$(dirname "$0")/..}/tests/he_netns.sh"
netns_init check_history_netns

C=${tag}c
S=${tag}s

inc() { ip netns exec "$C" "$@"; }
ins() { ip netns exec "$S" "$@"; }

setup() {
	netns_pair "$C" "$S" 1 1 || return 1
	ip -n "$C" addr add 192.0.2.1/24 dev hew &&
	ip -n "$C" addr add 2001:db8::1/64 dev hew nodad &&
	ip -n "$S" addr add 192.0.2.2/24 dev hew &&
	ip -n "$S" addr add 192.0.2.3/24 dev hew &&
	ip -n "$S" addr add 2001:db8::2/64 dev hew nodad &&
	ip -n "$S" addr add 2001:db8::3/64 dev hew nodad || return 1
	netns_filter "$S" || return 1
	netns_bg ip netns exec "$S" "$DRIVE" serve $PORT 192.0.2.2 192.0.2.3 \
	    2001:db8::2 2001:db8::3 2>"$tmp/serve.err"
}

# rtt V6_MS V4_MS: the round trip of each family's handshakes.
rtt() {
	echo "$1 $2" >"$tmp/wire.$C.delay"
	kill -HUP $wirepid
	sleep 0.05
}
# drop 6|4|both|none: a black hole for TCP to the port.
drop() {
	ins nft flush chain inet hetest in
	case $1 in
	6) ins nft add rule inet hetest in meta nfproto ipv6 tcp dport $PORT drop ;;
	4) ins nft add rule inet hetest in meta nfproto ipv4 tcp dport $PORT drop ;;
	both) ins nft add rule inet hetest in tcp dport $PORT drop ;;
	esac
}

netns_setup setup

# The lab DNS server for the CLI, inside the client namespace.
netns_bg ip netns exec "$C" "$DRIVE" dns "$tmp/dns" $NAME --aaaa 2001:db8::2 \
    --a 192.0.2.2 2>"$tmp/dns.err"
i=0
while [ ! -s "$tmp/dns" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$tmp/dns" ] || { echo "FAIL: the DNS server did not start"; exit 1; }
DNS=$(cat "$tmp/dns")
sleep 0.2	# the listeners

# [i/n] lines of `evhappy --count` as "i ms winner" (connected only).
cli_times() {
	sed -n 's|^\[\([0-9]*\)/[0-9]*\] connected to \([^ ]*\) in \([0-9.]*\) ms.*|\1 \3 \2|p' "$1"
}

# check FILE AWK-PROGRAM: the program reads "i ms winner" lines and exits
# non-zero on a violation, printing why.
check() { awk "$2" "$1"; }

# ---------------------------------------------------------------------------
# 1. IPv6 black hole, IPv4 RTT 5 ms, 10 connects in a row with the CLI.
#    History on: the first pays the attempt delay (250 ms + RTT: window
#    250 .. 450 ms); the other nine go to IPv4 first and take one RTT plus
#    a local DNS lookup (window 5 .. 60 ms).  History off: all ten ~250.
rtt 5 5
drop 6
inc "$EVHAPPY" --dns "$DNS" --count 10 --trace $NAME $PORT \
    >"$tmp/s1.out" 2>"$tmp/s1.trace"
cli_times "$tmp/s1.out" >"$tmp/s1"
if [ "$(wc -l <"$tmp/s1")" = 10 ] && check "$tmp/s1" '
	$1 == 1 && ($2 < 250 || $2 > '"$(up 450)"') { print "connect 1: " $2 " ms"; bad = 1 }
	$1 > 1 && ($2 < 5 || $2 > '"$(up 60)"') { print "connect " $1 ": " $2 " ms"; bad = 1 }
	$3 != "192.0.2.2:8080" { print "connect " $1 " won by " $3; bad = 1 }
	END { exit bad }' &&
    grep -q 'history: \[2001:db8::2\]:8080 hung .* ago, moved after 192.0.2.2:8080' "$tmp/s1.trace"
then
	ok "IPv6 black hole: $(awk '{printf "%s%s", sep, $2; sep=" "}' "$tmp/s1") ms"
else
	cat "$tmp/s1.out" >>"$tmp/s1.trace"
	bad "IPv6 black hole with history" "$tmp/s1.trace"
fi

inc "$EVHAPPY" --dns "$DNS" --count 10 --no-history $NAME $PORT \
    >"$tmp/s1off.out" 2>&1
cli_times "$tmp/s1off.out" >"$tmp/s1off"
if [ "$(wc -l <"$tmp/s1off")" = 10 ] && check "$tmp/s1off" '
	$2 < 250 || $2 > '"$(up 450)"' { print "connect " $1 ": " $2 " ms"; bad = 1 }
	END { exit bad }'
then
	ok "IPv6 black hole, --no-history: every connect ~250 ms"
else
	bad "IPv6 black hole without history" "$tmp/s1off.out"
fi

# ---------------------------------------------------------------------------
# 2. IPv6 RTT 40 ms, IPv4 RTT 5 ms, both work.  Every connect goes to IPv6
#    (RFC 6724 precedence before the RTT rule; window 40 .. 150 ms), and
#    from the second on the trace says the delay before IPv4 follows IPv6's
#    RTT: srtt + max(4 rttvar, srtt/2), between 60 and 120 ms here (window
#    45 .. 200 ms), never the 250 ms default.
rtt 40 5
drop none
inc "$EVHAPPY" --dns "$DNS" --count 10 --trace $NAME $PORT \
    >"$tmp/s2.out" 2>"$tmp/s2.trace"
cli_times "$tmp/s2.out" >"$tmp/s2"
sed -n 's/.*history: \[2001:db8::2\]:8080 rtt .*next attempt after \([0-9.]*\) ms.*/\1/p' \
    "$tmp/s2.trace" >"$tmp/s2.delays"
if [ "$(wc -l <"$tmp/s2")" = 10 ] && check "$tmp/s2" '
	$2 < 40 || $2 > '"$(up 150)"' { print "connect " $1 ": " $2 " ms"; bad = 1 }
	$3 != "[2001:db8::2]:8080" { print "connect " $1 " won by " $3; bad = 1 }
	END { exit bad }' &&
    [ "$(wc -l <"$tmp/s2.delays")" = 9 ] && check "$tmp/s2.delays" '
	$1 < 45 || $1 > 200 { print "delay " $1 " ms"; bad = 1 }
	END { exit bad }'
then
	ok "IPv6 40 ms, IPv4 5 ms: IPv6 wins 10/10, delays $(tr '\n' ' ' <"$tmp/s2.delays")ms"
else
	cat "$tmp/s2.out" "$tmp/s2.delays" >>"$tmp/s2.trace"
	bad "IPv6 keeps winning, delay follows its RTT" "$tmp/s2.trace"
fi

# ---------------------------------------------------------------------------
# 3. IPv6 black hole repaired after the third connect; entries expire
#    after 1.5 s (the test hook).  Connects start 400 ms apart.  Before the
#    entry expires IPv4 wins (the history still holds the hang, learned at
#    about 0.25 s); every connect that starts after 2.2 s (0.25 + 1.5 and
#    a margin) goes to IPv6 again and wins in one RTT (window < 60 ms).
rtt 5 5
drop 6
inc "$DRIVE" connect --count 8 --interval 400 --expiry-ms 1500 \
    --exec-after 3 "ip netns exec $S nft flush chain inet hetest in" \
    --aaaa 2001:db8::2 --a 192.0.2.2 $NAME $PORT >"$tmp/s3" 2>&1
if [ "$(grep -c '^connect' "$tmp/s3")" = 8 ] && check "$tmp/s3" '
	$1 != "connect" { next }
	$2 == 1 && $5 != "192.0.2.2:8080" { print "first won by " $5; bad = 1 }
	$2 > 1 && $2 <= 4 && $5 != "192.0.2.2:8080" { print $2 " won by " $5; bad = 1 }
	$3 >= 2200 && ($5 != "[2001:db8::2]:8080" || $4 > '"$(up 60)"') {
		print $2 " at " $3 " ms: " $5 " in " $4 " ms"; bad = 1 }
	$3 >= 2200 { late++ }
	END { if (late < 1) { print "no connect after the expiry"; bad = 1 }
	      exit bad }'
then
	ok "repaired IPv6 path used again once its entry expired"
else
	bad "repaired path" "$tmp/s3"
fi

# ---------------------------------------------------------------------------
# 4. Both paths black holes, timeout 600 ms, 3 connects: each fails with
#    ETIMEDOUT at the timeout (window 600 .. 800 ms); what the first taught
#    makes the others neither longer nor a different failure.
drop both
inc "$DRIVE" connect --count 3 --timeout 600 \
    --aaaa 2001:db8::2 --a 192.0.2.2 $NAME $PORT >"$tmp/s4" 2>&1
if [ "$(grep -c '^connect' "$tmp/s4")" = 3 ] && check "$tmp/s4" '
	$1 != "connect" { next }
	$5 != "-" || $6 != 110 { print $2 ": " $5 " errno " $6; bad = 1 }
	$4 < 600 || $4 > '"$(up 800)"' { print $2 ": " $4 " ms"; bad = 1 }
	END { exit bad }'
then
	ok "both black holes: ETIMEDOUT at the timeout, every time"
else
	bad "both black holes" "$tmp/s4"
fi

# ---------------------------------------------------------------------------
# 5. The DNS answer changes after the second connect (::2 and .2 become
#    ::3 and .3) while ::2 is a black hole: the first connect learns the
#    hang of ::2, the second goes to .2 at once; the third and fourth use
#    the new addresses: IPv6 ::3 first (it has no history) and it wins in
#    one RTT (window < 60 ms).
drop none
ins nft add rule inet hetest in ip6 daddr 2001:db8::2 tcp dport $PORT drop
inc "$DRIVE" connect --count 4 --change-after 2 \
    --aaaa 2001:db8::2 --a 192.0.2.2 --aaaa2 2001:db8::3 --a2 192.0.2.3 \
    $NAME $PORT >"$tmp/s5" 2>&1
if [ "$(grep -c '^connect' "$tmp/s5")" = 4 ] && check "$tmp/s5" '
	$1 != "connect" { next }
	$2 <= 2 && $5 != "192.0.2.2:8080" { print $2 " won by " $5; bad = 1 }
	$2 > 2 && ($5 != "[2001:db8::3]:8080" || $4 > '"$(up 60)"') {
		print $2 ": " $5 " in " $4 " ms"; bad = 1 }
	END { exit bad }'
then
	ok "a changed DNS answer is used"
else
	bad "changed DNS answer" "$tmp/s5"
fi

echo "$passed passed, $failed failed"
[ $failed = 0 ]
