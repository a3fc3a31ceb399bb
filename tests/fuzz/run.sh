#!/bin/sh
# Build the libFuzzer targets with clang (outside the autotools build) and
# run them.
#
#   tests/fuzz/run.sh [SECONDS [TARGET...]]
#
# SECONDS: how long each target runs (default 60); TARGET: race, addrinfo,
# svcb, histfile, nat64 (default all, one after the other).  Run from anywhere; it builds into
# $FUZZ_BUILD (default ./fuzz-build) and fuzzes with the committed corpus
# (tests/fuzz/corpus_TARGET/) as the seed; new inputs go to
# fuzz-build/corpus_TARGET/.  To fold them back into the committed corpus,
# keeping it small:
#   fuzz-build/fuzz_race -merge=1 tests/fuzz/corpus_race fuzz-build/corpus_race
# Crashes are written to fuzz-build/ (crash-*); replay one with
#   build/tests/fuzz/replay_race fuzz-build/crash-...
# Needs clang and libclang-rt-14-dev (quickstart.sh installs them).
set -eu

secs=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-race addrinfo svcb histfile nat64}

src=$(cd "$(dirname "$0")/../.." && pwd)
out=${FUZZ_BUILD:-$PWD/fuzz-build}
cc=${CC_FUZZ:-clang}
mkdir -p "$out"

cflags="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
	-fno-sanitize-recover=undefined -std=c99 -D_GNU_SOURCE
	-Wall -Wextra -Wno-unused-parameter -I$src -I$src/tests
	$(pkg-config --cflags libevent_core libevent_extra)"
libs="$(pkg-config --libs libevent_core libevent_extra) -pthread -lresolv"
# The library's sources (the core reaches the history, the history the
# trace of a request): all of them but the interposition library's, and
# but the c-ares adapter (built without config.h, he_dnsq_sys.c stands in);
# and the core's driver of the tests (tests/he_coredrive.c: the sort the
# tests use, the store's facts given to entries, the lessons' rules).
objs="$(ls "$src"/he_*.c | grep -v -e '/he_preload\.c$' -e '/he_dnsq\.c$') $src/tests/he_coredrive.c"

for t in $targets; do
	# shellcheck disable=SC2086
	$cc $cflags -o "$out/fuzz_$t" "$src/tests/fuzz/fuzz_$t.c" $objs $libs
	mkdir -p "$out/corpus_$t" "$src/tests/fuzz/corpus_$t"
	echo "fuzz_$t: $secs s" >&2
	(cd "$out" && "./fuzz_$t" -max_total_time="$secs" \
	    -max_len=4096 -print_final_stats=1 "corpus_$t" \
	    "$src/tests/fuzz/corpus_$t")
done
