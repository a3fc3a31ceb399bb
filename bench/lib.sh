# Shared by the bench/b-*.sh scripts, which bench/run.sh runs from the
# build directory.  A script prints rows of the one table:
#   row SECTION NAME MEASURED TARGET STATUS
# STATUS is PASS, FAIL (the run exits non-zero) or INFO (no target).
# Fields must not contain '|'.  Programs are under $BENCH_BIN.
BENCH_BIN=${BENCH_BIN:-./bench}

row() {
	printf 'row|%s|%s|%s|%s|%s\n' "$1" "$2" "$3" "$4" "$5"
}

# quick FULL SMALL: FULL, or SMALL when BENCH_QUICK is set.
quick() {
	if [ -n "$BENCH_QUICK" ]; then echo "$2"; else echo "$1"; fi
}

# need TOOL SECTION STATUS: when TOOL is not installed, print the one row
# that says so (STATUS: FAIL or INFO) and end the script.
need() {
	command -v "$1" >/dev/null && return 0
	row "$2" "$1" "$1 is not installed" "" "$3"
	exit 0
}

# le A B: PASS when A <= B (decimals), else FAIL.
le() {
	awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 <= b + 0) ? "PASS" : "FAIL" }'
}

# ratio A B: A / B with two decimals ("inf" when B is 0).
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "inf"; else printf "%.2f\n", a / b }'
}

# median: the median of the numbers on stdin (spaces or lines between
# them); the upper one of an even count's middle two.
median() {
	tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# alternate RUNS "VAR=CMD..."...: RUNS rounds of measurements, each CMD
# once a round, in the order given in even rounds and the other way round
# in odd ones, so that a busy moment of the machine hits every one and a
# drift (the TIME_WAIT sockets an earlier bench left, expiring) favours
# none; VAR collects what its CMD printed, space-separated.
alternate() {
	_runs=$1
	shift
	for _m in "$@"; do eval "${_m%%=*}="; done
	_i=0
	while [ "$_i" -lt "$_runs" ]; do
		_k=1
		while [ "$_k" -le $# ]; do
			_j=$_k
			[ $((_i % 2)) -eq 0 ] || _j=$(($# + 1 - _k))
			eval "_m=\${$_j}"
			eval "${_m%%=*}=\"\$${_m%%=*} \$(${_m#*=})\""
			_k=$((_k + 1))
		done
		_i=$((_i + 1))
	done
}

# median_of RUNS "N N N...": the median of the numbers, or nothing when
# there are not RUNS of them (a run failed and printed none).
median_of() {
	[ "$(echo $2 | wc -w)" -eq "$1" ] || return 0
	echo "$2" | median
}

# kv KEY LINE: the value of KEY=value in a line of key=value pairs.
kv() {
	printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# worst STATUS...: FAIL if any is FAIL, else PASS if any PASS, else INFO.
worst() {
	case " $* " in
	*" FAIL "*) echo FAIL ;;
	*" PASS "*) echo PASS ;;
	*) echo INFO ;;
	esac
}

# per_connect COUNT MODE N [DECIMALS]: what `COUNT MODE CONNECTS` prints
# (a count over a whole run of bench_connect) per connect, start-up
# cancelled out: (COUNT MODE N - COUNT MODE N/3) / (N - N/3).  Both runs
# are past the first connects, whose one-time costs (the dynamic linker
# binding symbols, lazily made state) shift with the code's layout: a
# difference against a run of one connect moved by a few hundred
# instructions per connect when nothing on the per-connect path changed.
# 0 when a run printed nothing.
per_connect() {
	_k=$(($3 / 3))
	[ "$_k" -ge 1 ] || _k=1
	_few=$("$1" "$2" "$_k")
	_many=$("$1" "$2" "$3")
	if [ -z "$_few" ] || [ -z "$_many" ]; then
		echo 0
		return
	fi
	awk -v a="$_few" -v b="$_many" -v n="$3" -v k="$_k" -v d="${4:-0}" \
	    'BEGIN { printf "%.*f\n", d, (b - a) / (n - k) }'
}
