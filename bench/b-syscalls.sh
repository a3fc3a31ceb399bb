#!/bin/sh
# System calls per connect, evhappy against the libevent call it replaces,
# counted by strace -c (every call the process makes, deterministic where
# time is not).  Per connect = (calls of N connects - calls of 1) / (N - 1).
# Target: no more than libevent's; a race that adds a kernel round trip
# (a watch dropped and added back, a probe) shows here first.
set -u
. "$BENCH_LIB"
n=$(quick 500 100)
bin=$BENCH_BIN/bench_connect
need strace "system calls per connect" INFO
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
calls() {	# calls MODE CONNECTS: the run's calls to $syscall ("total": all);
		# one strace run per MODE and CONNECTS serves every syscall
	out=$dir/$1.$2
	[ -s "$out" ] || strace -f -c -o "$out" "$bin" "$1" "$2" >/dev/null 2>&1
	awk -v s="$syscall" '$NF == s { print $4 }' "$out"
}
per() {		# per MODE SYSCALL, to one decimal
	syscall=$2
	per_connect calls "$1" "$n" 1
}
pair() {	# pair NAME EVHAPPY_MODE LIBEVENT_MODE
	e=$(per "$2" total); l=$(per "$3" total)
	ee=$(per "$2" epoll_ctl); le_=$(per "$3" epoll_ctl)
	if [ "$e" = 0.0 ] || [ "$l" = 0.0 ]; then
		row "system calls per connect" "$1" "a run failed" "<= libevent's" FAIL
		return
	fi
	row "system calls per connect" "$1" \
	    "$e vs $l (epoll_ctl $ee vs $le_)" "<= libevent's" "$(le "$e" "$l")"
}
pair "evhappy_connect_addrinfo, 1 address / bufferevent_socket_connect" \
    evhappy libevent
pair "evhappy_socket_connect_hostname / bufferevent_socket_connect_hostname, evdns hosts, AF_UNSPEC" \
    evhappy-hostname libevent-hostname
