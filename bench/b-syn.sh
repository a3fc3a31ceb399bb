#!/bin/sh
# Time from the call to the first SYN (issue 9: no later than libevent's):
# microseconds from the call (evhappy_connect_addrinfo, one address, or
# bufferevent_socket_connect) to the handshake reaching a loopback
# listener; on loopback it arrives as the SYN leaves.  Each run gives the
# median of 500 connects; five runs of each, interleaved so that a busy
# moment of the machine hits both, in alternating order so that a drift
# (the TIME_WAIT sockets an earlier bench left, expiring) favours neither,
# and the median run counts.  10% allows for noise; a connect that waits
# for a loop turn shows as more.
set -u
. "$BENCH_LIB"
n=500 runs=5
[ -n "$BENCH_QUICK" ] && { n=100; runs=3; }
us() { "$BENCH_BIN/bench_connect" "$1" $n | sed -n 's/.*median \([0-9]*\) us.*/\1/p'; }
alternate $runs "ls=us syn-libevent" "es=us syn-evhappy"
l=$(median_of $runs "$ls"); e=$(median_of $runs "$es")
if [ -z "$l" ] || [ -z "$e" ]; then
	row "call to first SYN" "bench_connect syn-*" "failed" "" FAIL
	exit 0
fi
r=$(ratio "$e" "$l")
row "call to first SYN (median us)" "evhappy_connect_addrinfo / bufferevent_socket_connect" \
    "$e vs $l = ${r}x (runs:$es vs$ls)" "<= 1.10x" "$(le "$r" 1.10)"
