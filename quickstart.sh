#!/bin/bash
# Quick start on Debian 12 (as root, or with the packages already there):
#   ./quickstart.sh         install what is missing, build, run `evhappy --demo`
#   ./quickstart.sh check   install what is missing, build, run the test suite
#   ./quickstart.sh deb     install what is missing, build Debian packages from
#                           the release tarball into build-deb/ (packaging/)
set -eu
cd "$(dirname "$0")"

mode=${1:-demo}
case "$mode" in
demo|check|deb) ;;
*) echo "usage: $0 [check|deb]" >&2; exit 2 ;;
esac

packages="autoconf automake libtool pkg-config make gcc libevent-dev check libssl-dev python3 valgrind clang libclang-rt-14-dev iproute2 nftables libc-ares-dev cmake tayga"
if [ "$mode" = deb ]; then
	if [ ! -x packaging/build-debs.sh ]; then
		echo "quickstart: deb needs the git tree's packaging/ (not in release tarballs)" >&2
		exit 1
	fi
	packages="$packages build-essential debhelper dpkg-dev fakeroot lintian"
fi
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
	# tayga's package starts a NAT64 daemon on this host and at every
	# boot; the tests run their own inside a network namespace.
	case " $missing " in
	*" tayga "*)
		invoke-rc.d tayga stop >/dev/null 2>&1 || true
		update-rc.d tayga disable >/dev/null 2>&1 || true ;;
	esac
fi

if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt configure ]; then
	autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
fi

if [ "$mode" = deb ]; then
	exec packaging/build-debs.sh
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
		if grep -q -E '^:test-result: SKIP' "${log%.log}.trs" 2>/dev/null; then
			echo "$log: $(grep -m1 -E "^SKIP" "$log" || echo "SKIP (no reason given)")"
		fi
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
	# The tests that run threads (the system resolver's pool; the NAT64
	# prefix store), under ThreadSanitizer: any report makes the test exit
	# 66 and fail.  No suppressions are needed.
	echo "== thread tests under ThreadSanitizer"
	build build-tsan CC=clang CFLAGS="-O1 -g -fsanitize=thread -fno-omit-frame-pointer" \
		LDFLAGS="-fsanitize=thread"
	rc=0
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
		make -C build-tsan -s check TESTS="tests/check_sysres tests/check_resolve \
		tests/check_histfile tests/check_lifetime tests/check_nat64 \
		tests/check_https tests/check_persist tests/check_synth" || rc=$?
	summaries build-tsan
	[ $rc -eq 0 ]
	echo "quickstart: all tests passed"
	exit 0
fi

exec ./build/tools/evhappy --demo
