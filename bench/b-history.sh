#!/bin/sh
# What the connection history saves, to a name whose IPv6 path is a black
# hole (::1 with a full accept queue) and whose IPv4 path works, wall time:
# - 10 connects in a row in one process, history on vs off (issue 10);
# - one connect in each of 10 processes in a row, with a history file they
#   share vs without one (issue 20).
# Only the first connect should pay the 250 ms Connection Attempt Delay:
# on/off about 0.1 (1 of 10); the targets leave room for a loaded machine.
set -u
. "$BENCH_LIB"

# measure NAME TARGET ARGS...: one row from `bench_history ARGS`.
measure() {
	name=$1 target=$2
	shift 2
	out=$("$BENCH_BIN/bench_history" "$@")
	rc=$?
	if [ $rc -eq 77 ]; then
		row "history" "$name" "skipped: no IPv6 on loopback" "" INFO
		return
	fi
	line=$(printf '%s\n' "$out" | grep '^on ')
	if [ $rc -ne 0 ] || [ -z "$line" ]; then
		row "history" "$name" "failed" "" FAIL
		return
	fi
	on=$(printf '%s\n' "$line" | awk '{ print $2 }')
	off=$(printf '%s\n' "$line" | awk '{ print $4 }')
	each=$(printf '%s\n' "$out" |
	    sed -n 's/.*file on [0-9.]* ms (\([0-9 ]*\)).*/: \1/p')
	r=$(ratio "$on" "$off")
	row "history" "$name: on / off" "${r}x (on $on ms$each; off $off ms)" \
	    "<= ${target}x" "$(le "$r" "$target")"
}

measure "10 connects, IPv6 black hole" 0.20 10
measure "10 processes, IPv6 black hole, history file" 0.25 procs 10
