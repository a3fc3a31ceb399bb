#!/bin/sh
# HTTPS records (RFC 9460; issue 21): a race with evhappy_set_https_records
# on against off, the lab's DNS server (bench_https serve) in a process of
# its own.
#  - bench.test: the HTTPS answer leaves with the A and AAAA answers.  Time
#    from the call to connected, a run's median of N races one after
#    another; seven runs of each, interleaved in alternating order (as
#    b-syn.sh does), the median run counts.  Target: on <= 1.10x off.
#    And the instructions per race under callgrind (INFO; per_connect).
#    none.test (INFO): the same, but no HTTPS record is published
#    (NXDOMAIN): what asking costs by itself.
#  - hints.test: A and AAAA leave 300 ms late, the record at once with
#    address hints: on connects at about the hint's RTT (target: under
#    100 ms), off after the answers (~300 ms).
set -u
. "$BENCH_LIB"
n=$(quick 500 60) runs=$(quick 7 3) nhints=$(quick 10 3)
bin=$BENCH_BIN/bench_https
sec="HTTPS records"
out=$(mktemp)
# The server answers three queries a race with the record on, two with it
# off: on a machine of two cores it would compete with the client for the
# client's own, and its work would count.  So each has a core of its own
# when it can.
server_cpu= client_cpu=
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
	server_cpu="taskset -c 1" client_cpu="taskset -c 0"
fi
$server_cpu "$bin" serve >"$out" &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$out"' EXIT
i=0
while [ ! -s "$out" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
line=$(cat "$out")
dns=$(kv dns "$line")
port=$(kv port "$line")
if [ -z "$dns" ] || [ -z "$port" ]; then
	row "$sec" "bench_https serve" "the lab did not start" "" FAIL
	exit 0
fi
if [ "$(kv cares "$line")" != 1 ]; then
	row "$sec" "bench_https" "this build has no c-ares (evdns contexts ask no HTTPS record)" "" INFO
	exit 0
fi

us() { $client_cpu "$bin" "${2:-race}" "$dns" "$port" "$1" $n | sed -n 's/.*median \([0-9]*\) us.*/\1/p'; }
alternate $runs "offs=us off" "ons=us on" "nones=us on none"
off=$(median_of $runs "$offs"); on=$(median_of $runs "$ons")
if [ -z "$off" ] || [ -z "$on" ]; then
	row "$sec" "answers together, time to connect" "a run failed" "<= 1.10x" FAIL
else
	r=$(ratio "$on" "$off")
	row "$sec" "on / off, answers together: time to connect (median us)" \
	    "$on vs $off = ${r}x (runs:$ons vs$offs)" "<= 1.10x" "$(le "$r" 1.10)"
	none=$(echo "$nones" | median)
	[ -n "$none" ] && row "$sec" "on, no record published / off: time to connect (median us)" \
	    "$none vs $off = $(ratio "$none" "$off")x (runs:$nones)" "" INFO
fi

if command -v valgrind >/dev/null; then
	count() {	# count [none-]on|off RACES: instructions of the whole run
		_o=$(mktemp)
		case $1 in none-*) _m=none ;; *) _m=race ;; esac
		"$BENCH_BIN/../libtool" --mode=execute valgrind --tool=callgrind \
		    --callgrind-out-file=/dev/null "$bin" $_m "$dns" "$port" \
		    "${1#none-}" "$2" 2>"$_o" >/dev/null
		sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$_o"
		rm -f "$_o"
	}
	e=$(per_connect count on "$n")
	l=$(per_connect count off "$n")
	if [ "$e" -eq 0 ] || [ "$l" -eq 0 ]; then
		row "$sec" "on / off, answers together: instructions per race" "a run failed" "" FAIL
	else
		row "$sec" "on / off, answers together: instructions per race (callgrind)" \
		    "$e vs $l = $(ratio "$e" "$l")x" "" INFO
		x=$(per_connect count none-on "$n")
		row "$sec" "on, no record published / off: instructions per race (callgrind)" \
		    "$x vs $l = $(ratio "$x" "$l")x" "" INFO
	fi
fi

h_on=$("$bin" hints "$dns" "$port" on $nhints)
h_off=$("$bin" hints "$dns" "$port" off $nhints)
on_ms=$(kv median_ms "$h_on")
off_ms=$(kv median_ms "$h_off")
if [ -z "$on_ms" ] || [ -z "$off_ms" ]; then
	row "$sec" "hints, A/AAAA 300 ms late" "a run failed" "< 100 ms" FAIL
else
	row "$sec" "hints, A/AAAA 300 ms late: time to connect (median ms)" \
	    "on $on_ms (record at $(kv https_ms "$h_on"), winner started at $(kv start_ms "$h_on"), handshake $(kv rtt_ms "$h_on")) vs off $off_ms" \
	    "on < 100 ms" "$(le "$on_ms" 99.99)"
fi
