#!/bin/sh
# Time from the call to the first SYN (issue 9: no later than libevent's):
# median microseconds over 500 connects to a loopback listener, evhappy
# (evhappy_connect_addrinfo, one address) against bufferevent_socket_connect.
# On loopback the handshake reaches the listener as the SYN leaves.  10%
# allows for noise; a connect that waits for a loop turn shows as more.
set -u
. "$BENCH_LIB"
n=500
[ -n "$BENCH_QUICK" ] && n=100
us() { "$BENCH_BIN/bench_connect" "$1" $n | sed -n 's/.*median \([0-9]*\) us.*/\1/p'; }
l=$(us syn-libevent); e=$(us syn-evhappy)
if [ -z "$l" ] || [ -z "$e" ]; then
	row "call to first SYN" "bench_connect syn-*" "failed" "" FAIL
	exit 0
fi
r=$(ratio "$e" "$l")
row "call to first SYN (median us)" "evhappy_connect_addrinfo / bufferevent_socket_connect" \
    "$e vs $l = ${r}x" "<= 1.10x" "$(le "$r" 1.10)"
