#!/bin/bash
# Quick start on Debian 12 (as root, or with the packages already there):
#   ./quickstart.sh         install what is missing, build, run `evhappy --demo`
#   ./quickstart.sh check   install what is missing, build, run the test suite
set -eu
cd "$(dirname "$0")"

mode=${1:-demo}
case "$mode" in
demo|check) ;;
*) echo "usage: $0 [check]" >&2; exit 2 ;;
esac

packages="autoconf automake libtool pkg-config make gcc libevent-dev check libssl-dev python3 valgrind iproute2 nftables"
missing=""
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "quickstart: missing packages:$missing; run as root or install them" >&2
		exit 1
	fi
	echo "quickstart: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt configure ]; then
	autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
fi

# Builds go out of tree, so several can live side by side.
build() {	# build DIR [configure args...]
	dir=$1; shift
	mkdir -p "$dir"
	if [ ! -f "$dir/Makefile" ] || [ configure -nt "$dir/Makefile" ]; then
		(cd "$dir" && ../configure --enable-werror "$@" >/dev/null)
	fi
	make -C "$dir" -s -j"$(nproc)" >/dev/null
}

summaries() {	# each Check runner's summary line, and the logs of failures
	for log in "$1"/tests/*.log; do
		[ -f "$log" ] || continue
		grep -H -E '^[0-9]+%: Checks:|^[0-9]+ passed, [0-9]+ failed' "$log" || true
		if grep -q -E '^:test-result: (FAIL|ERROR)' "${log%.log}.trs" 2>/dev/null; then
			echo "=== $log"; tail -40 "$log"
		fi
	done
}

run_checks() {	# run_checks DIR: the whole suite in DIR
	rc=0
	make -C "$1" -s -j"$(nproc)" check || rc=$?
	summaries "$1"
	return $rc
}

build build

if [ "$mode" = check ]; then
	echo "== test suite"
	run_checks build
	echo "== test suite under AddressSanitizer + UndefinedBehaviorSanitizer"
	san="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
	build build-asan CFLAGS="$san" LDFLAGS="-fsanitize=address,undefined"
	run_checks build-asan
	echo "== C tests under valgrind"
	rc=0
	make -C build -s check-valgrind || rc=$?
	summaries build
	[ $rc -eq 0 ]
	echo "quickstart: all tests passed"
	exit 0
fi

exec ./build/tools/evhappy --demo
