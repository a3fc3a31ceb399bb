#!/bin/sh
# What the history file saves (issue 20): one connect in each of 10
# processes in a row, to a name whose IPv6 path is a black hole (::1 with
# a full accept queue) and whose IPv4 path works, with a history file
# they share and without one, wall time of the connects.  With the file
# only the first process pays the 250 ms Connection Attempt Delay: on/off
# about 0.1 (1 of 10); the target leaves room for a loaded machine.
set -u
. "$BENCH_LIB"
out=$("$BENCH_BIN/bench_history" procs 10)
rc=$?
if [ $rc -eq 77 ]; then
	row "history" "10 processes, IPv6 black hole" "skipped: no IPv6 on loopback" "" INFO
	exit 0
fi
line=$(printf '%s\n' "$out" | grep '^on ')
if [ $rc -ne 0 ] || [ -z "$line" ]; then
	row "history" "10 processes, IPv6 black hole" "failed" "" FAIL
	exit 0
fi
on=$(printf '%s\n' "$line" | awk '{ print $2 }')
off=$(printf '%s\n' "$line" | awk '{ print $4 }')
each=$(printf '%s\n' "$out" | sed -n 's/.*file on [0-9.]* ms (\([0-9 ]*\)).*/\1/p')
r=$(ratio "$on" "$off")
row "history" "10 processes, IPv6 black hole: history file on / off" \
    "${r}x (on $on ms: $each; off $off ms)" "<= 0.25x" "$(le "$r" 0.25)"
