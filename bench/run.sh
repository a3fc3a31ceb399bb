#!/bin/sh
# make bench: run every bench/b-*.sh from the build directory and print
# their rows as one table; exit 1 when a row misses its target.
#   BENCH_ONLY=races   run only the scripts whose name holds that word
#   BENCH_QUICK=1      smaller sizes, for trying things (not for results)
# To add a row: a program in Makefile.am's BENCHPROGS and a script
# bench/b-NAME.sh that prints `row` lines (bench/lib.sh).
set -u
top_srcdir=${top_srcdir:-$(dirname "$0")/..}
top_builddir=${top_builddir:-.}
BENCH_LIB=$top_srcdir/bench/lib.sh
BENCH_BIN=$top_builddir/bench
export BENCH_LIB BENCH_BIN BENCH_QUICK="${BENCH_QUICK:-}"

rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
start=$(date +%s)
for script in "$top_srcdir"/bench/b-*.sh; do
	name=$(basename "$script" .sh)
	case "$name" in *"${BENCH_ONLY:-}"*) ;; *) continue ;; esac
	echo "bench: $name ..." >&2
	if ! sh "$script" >>"$rows"; then
		printf 'row|%s|the script|exited non-zero||FAIL\n' "$name" >>"$rows"
	fi
done

echo "evhappy benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores:" \
    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)," \
    "Linux $(uname -r), libevent $(pkg-config --modversion libevent 2>/dev/null || echo '?')," \
    "load $(cut -d' ' -f1-3 /proc/loadavg)"
grep '^row|' "$rows" | cut -d'|' -f2- | awk -F'|' '
	{ for (i = 1; i <= 5; i++) { cell[NR, i] = $i
		if (length($i) > w[i]) w[i] = length($i) } }
	END {
		split("section|row|measured|target|result", h, "|")
		for (i = 1; i <= 5; i++) if (length(h[i]) > w[i]) w[i] = length(h[i])
		fmt = "%-" w[1] "s  %-" w[2] "s  %-" w[3] "s  %-" w[4] "s  %s\n"
		printf fmt, h[1], h[2], h[3], h[4], h[5]
		for (r = 1; r <= NR; r++)
			printf fmt, cell[r, 1], cell[r, 2], cell[r, 3], cell[r, 4], cell[r, 5]
	}'
fails=$(grep -c '^row|.*|FAIL$' "$rows")
echo "$(grep -c '^row|' "$rows") rows, $fails FAIL, $(( $(date +%s) - start )) s"
[ "$fails" -eq 0 ]
