#!/bin/sh
# Instructions per connect, evhappy vs libevent alone, counted by callgrind
# (stable on a noisy machine, unlike wall time).  From a build directory:
#   make bench && ../bench/run.sh [N]
set -eu
n=${1:-300}
bin=./bench/bench_connect
[ -x "$bin" ] || { echo "build it first: make bench" >&2; exit 2; }
count() {	# count MODE CONNECTS: total instructions of the run
	out=$(mktemp)
	./libtool --mode=execute valgrind --tool=callgrind \
	    --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>"$out" >/dev/null
	sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$out"
	rm -f "$out"
}
# The difference between N and 1 connects removes start-up costs.
for mode in libevent evhappy; do
	one=$(count "$mode" 1)
	many=$(count "$mode" "$n")
	per=$(( (many - one) / (n - 1) ))
	echo "$mode: $per instructions per connect"
	eval "per_$mode=$per"
done
# shellcheck disable=SC2154
awk -v a="$per_evhappy" -v b="$per_libevent" \
    'BEGIN { printf "evhappy / libevent: %.2f\n", a / b }'

# ---- history (the "history" engineer's block) -------------------------------
# 10 connects in a row to a name whose IPv6 path is a black hole (loopback:
# ::1 with a full accept queue) and whose IPv4 works, history on vs off.
# Wall time: what history saves is the 250 ms Connection Attempt Delay per
# connect, far above this machine's noise.
hbin=./bench/bench_history
if [ -x "$hbin" ]; then
	if hout=$("$hbin" 10); then
		echo "$hout" | sed -n '1p'
		echo "$hout" | awk '/^on / { printf "history on / off (10 connects, IPv6 black hole): %.3f\n", $6 }'
	else
		echo "history: skipped ($hout)"
	fi
fi
