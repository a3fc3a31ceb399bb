#!/bin/sh
# The address-list functions at 1k, 10k and 50k addresses: CPU ms, the
# best of a few runs.  Targets (issue 9): evhappy_start_connection with
# 50,000 addresses < 200 ms, interleave < 100 ms; and every function
# O(n log n) or better: from 10k to 50k at most 12x (5x the size: n log n
# gives ~6x, quadratic 25x), unless the 50k run takes under 5 ms anyway.
set -u
. "$BENCH_LIB"
sizes="1000 10000 50000"
out=$("$BENCH_BIN/bench_lists" $sizes) || {
	row "address lists" "bench_lists" "failed" "" FAIL; exit 0; }
ms() {	# ms FN N
	printf '%s\n' "$out" | grep "^fn=$1 n=$2 " | sed -n 's/.*cpu_ms=\([0-9.]*\).*/\1/p'
}
for fn in dup interleave sort sort_hostile pop_interleave remove start_connection; do
	a=$(ms $fn 1000); b=$(ms $fn 10000); c=$(ms $fn 50000)
	grow=$(ratio "$c" "$b")
	st=$(awk -v g="$grow" -v c="$c" 'BEGIN { print (g == "inf" || g + 0 <= 12 || c + 0 < 5) ? "PASS" : "FAIL" }')
	target="50k/10k <= 12x"
	case $fn in
	interleave) target="$target, 50k < 100 ms"; st=$(worst "$st" "$(le "$c" 100)") ;;
	start_connection) target="$target, 50k < 200 ms"; st=$(worst "$st" "$(le "$c" 200)") ;;
	esac
	row "address lists (CPU ms)" "$fn" \
	    "1k $a, 10k $b, 50k $c (50k/10k ${grow}x)" "$target" "$st"
done
