#!/bin/sh
# NAT64 (issue 19) on the IPv6-only lab (tests/nat64_lab.sh: a client
# namespace with no IPv4 route, tayga translating 2001:db8:64::/96, an
# IPv4-only server): a connect to the IPv4 literal 192.0.2.2, which the
# race synthesizes, against the same connect to the synthesized address
# given directly (bench_nat64).  The first connect of a fresh process
# (nothing known: the prefix comes from RFC 7050, or from an RA) is
# shown; the repeated one (the prefix known) has the target: within 1.1x
# of the direct one.  Needs root and tayga, as the lab's test does.
set -u
. "$BENCH_LIB"
S="NAT64"
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
BIN=$BENCH_BIN/bench_nat64
[ -x "$BENCH_BIN/.libs/bench_nat64" ] && BIN=$BENCH_BIN/.libs/bench_nat64
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
if [ "$(id -u)" != 0 ] || ! PATH=$PATH:/usr/sbin:/sbin command -v tayga \
    >/dev/null 2>&1 || [ ! -x "$top_builddir/tests/he_nat64lab" ]; then
	row "$S" "IPv4 literal on an IPv6-only network" \
	    "skipped: needs root, tayga and the lab (make)" "" INFO
	exit 0
fi
N=${BENCH_QUICK:+60}
N=${N:-300}
K=${BENCH_QUICK:+3}
K=${K:-9}

out=$(
	# the lab, in a subshell: its trap tears it down when this ends
	. "$top_srcdir/tests/nat64_lab.sh" b-nat64 >/dev/null 2>&1
	nat64_lab_setup >/dev/null 2>&1 || { echo "setup failed"; exit 0; }
	nat64_lab_wait_tayga || { echo "tayga translates nothing"; exit 0; }
	# (not in $(...): the server would hold its output open)
	dns d64 dns64 --prefix $NSP::/96 --a a4.test 192.0.2.2 >/dev/null
	dns none none --a a4.test 192.0.2.2 >/dev/null
	d64=$(cat "$tmp/d64")
	none=$(cat "$tmp/none")
	# first connects, K fresh processes each: median
	firsts() {	# DNS HOST
		i=0
		while [ $i -lt $K ]; do
			inc "$BIN" once "$1" "$2" $PORT | sed -n 's/^us \([0-9]*\).*/\1/p'
			i=$((i + 1))
		done | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
	}
	echo "first_dns $(firsts "$d64" 192.0.2.2)"
	echo "first_direct $(firsts "$d64" $NSP::c000:202)"
	ip netns exec "$T" "$LAB" ra het --pref64 $NSP::/96 --count 1000 \
	    --interval 100 >/dev/null 2>&1 &
	rapid=$!
	echo "first_ra $(firsts "$none" 192.0.2.2)"
	kill $rapid 2>/dev/null
	wait $rapid 2>/dev/null
	echo "loop $(inc "$BIN" loop "$d64" 192.0.2.2 $NSP::c000:202 $PORT $N)"
)
case $out in
*"loop "*) ;;
*)
	row "$S" "IPv4 literal on an IPv6-only network" \
	    "skipped: the lab could not be made ($out)" "" INFO
	exit 0 ;;
esac
fd=$(printf '%s\n' "$out" | sed -n 's/^first_dns //p')
fdir=$(printf '%s\n' "$out" | sed -n 's/^first_direct //p')
fra=$(printf '%s\n' "$out" | sed -n 's/^first_ra //p')
lp=$(printf '%s\n' "$out" | sed -n 's/^loop //p')
ms() { awk -v u="$1" 'BEGIN { if (u == "") print "?"; else printf "%.2f ms\n", u / 1000 }'; }
row "$S" "first connect, prefix from DNS / synthesized address given" \
    "$(ratio "$fd" "$fdir")x ($(ms "$fd") / $(ms "$fdir"), median of $K processes)" "" INFO
row "$S" "first connect, prefix from an RA (every 100 ms)" \
    "$(ms "$fra") (median of $K processes)" "" INFO
lit=$(kv literal_us "$lp")
syn=$(kv synth_us "$lp")
bad=$(kv failed "$lp")
r=$(ratio "$lit" "$syn")
st=$(le "$r" 1.10)
[ "${bad:-1}" = 0 ] || st=FAIL
row "$S" "repeated connect (prefix known) / synthesized address given" \
    "${r}x ($lit / $syn us, medians of $N each; $bad failed)" "<= 1.10x" "$st"
