#!/bin/sh
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

packages="autoconf automake libtool pkg-config make gcc libevent-dev check libssl-dev iproute2"
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
if [ ! -f Makefile ] || [ configure -nt Makefile ]; then
	./configure --enable-werror >/dev/null
fi
make -j"$(nproc)" >/dev/null

if [ "$mode" = check ]; then
	rc=0
	make -j"$(nproc)" check || rc=$?
	# Each Check runner's summary line ("100%: Checks: N, Failures: 0, ...")
	for log in tests/*.log; do
		[ -f "$log" ] || continue
		grep -H -E '^[0-9]+%: Checks:' "$log" || true
	done
	if [ $rc -ne 0 ]; then
		for log in tests/*.log; do
			grep -q -E '^(FAIL|ERROR)' "${log%.log}.trs" 2>/dev/null && { echo "=== $log"; tail -50 "$log"; }
		done
	fi
	exit $rc
fi

exec ./tools/evhappy --demo
