#!/bin/sh
# Instructions per connect, evhappy against the libevent call it replaces,
# counted by callgrind (user space only; stable on a loaded machine, unlike
# time).  Per connect = (count of N connects - count of 1) / (N - 1), which
# removes start-up.  Target: at most 1.3x (issue 9).
set -u
. "$BENCH_LIB"
n=$(quick 300 50)
bin=$BENCH_BIN/bench_connect
need valgrind "instructions per connect" FAIL
count() {	# count MODE CONNECTS: instructions of the whole run
	out=$(mktemp)
	"$BENCH_BIN/../libtool" --mode=execute valgrind --tool=callgrind \
	    --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>"$out" >/dev/null
	sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$out"
	rm -f "$out"
}
pair() {	# pair NAME EVHAPPY_MODE LIBEVENT_MODE
	e=$(per_connect count "$2" "$n")
	l=$(per_connect count "$3" "$n")
	r=$(ratio "$e" "$l")
	if [ "$e" -eq 0 ] || [ "$l" -eq 0 ]; then
		row "instructions per connect" "$1" "a run failed" "<= 1.30x" FAIL
		return
	fi
	row "instructions per connect" "$1" \
	    "$e vs $l = ${r}x" "<= 1.30x" "$(le "$r" 1.30)"
}
pair "evhappy_connect_addrinfo, 1 address / bufferevent_socket_connect" \
    evhappy libevent
pair "evhappy_socket_connect_hostname / bufferevent_socket_connect_hostname, evdns hosts, AF_UNSPEC" \
    evhappy-hostname libevent-hostname
# The same with a history file (evhappy_set_history_file): what the file
# costs a race.  No target: under callgrind a connect takes some 50 times
# its real time, so the once-a-second save falls on far more connects
# than it would.
dir=$(mktemp -d)
BENCH_HISTORY_FILE=$dir/history
export BENCH_HISTORY_FILE
for m in evhappy evhappy-hostname; do
	e=$(per_connect count "$m" "$n")
	row "instructions per connect" "$m with a history file" "$e" "" INFO
done
unset BENCH_HISTORY_FILE
rm -rf "$dir"
