# Sourced by the network-namespace tests (tests/check_*_netns.sh): finds
# the programs, skips (exit 77) where namespaces cannot be made, makes
# pairs of namespaces joined by a wire, and tears everything down on exit.
#
# The wire is `he_netdrive wire` (tests/he_netdrive.c): a TUN device "hew"
# in each namespace of a pair and a process between them that delays what
# goes from the first to the second, per family.  A veth pair with tc
# netem would do the same, but kernels without sch_netem exist; TUN is in
# every kernel.  Only documentation addresses (192.0.2.0/24,
# 2001:db8::/32) are used, and nothing leaves the namespaces.
#
#   netns_init NAME [TAG]  checks (root, /dev/net/tun, ip, nft, the
#                          programs), sets DRIVE, EVHAPPY, tmp, slow and
#                          the cleanup trap; skips (77) when it cannot run.
#                          Sets PORT (8080, where the servers listen), NAME
#                          (svc.test, the name the clients resolve) and tag
#                          (TAG, "he" unless given, and this shell's pid: the
#                          prefix of the run's namespace names)
#   netns_setup FN         runs FN, the test's setup; when it fails, shows
#                          what it said and skips (77)
#   netns_pair C S D6 D4   namespaces C and S, joined by a wire delaying
#                          C -> S by D6 / D4 ms; sets wirepid; returns
#                          non-zero when they cannot be made (then skip)
#   netns_bg CMD...        runs CMD in the background, killed on exit
#   netns_filter NS        an nft table "inet hetest" in NS with an input
#                          chain "in" (policy accept), for the test's drop
#                          rules (black holes)
#   up N                   N ms widened HE_TEST_SLOW times
#   ok WHAT / bad WHAT [LOG]  count a case (passed, failed); bad shows
#                          the first 80 lines of LOG
#
# Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).

skip() { echo "SKIP: $*"; exit 77; }

netns_init() {
	[ "$(id -u)" = 0 ] || skip "network namespaces need root"
	[ -c /dev/net/tun ] || skip "no /dev/net/tun"
	for t in ip nft; do
		command -v $t >/dev/null 2>&1 || skip "no $t"
	done
	top_builddir=${top_builddir:-.}
	EVHAPPY=$top_builddir/tools/evhappy
	DRIVE=$top_builddir/tests/he_netdrive
	[ -x "$DRIVE" ] && [ -x "$EVHAPPY" ] || { echo "FAIL: not built"; exit 1; }
	# libtool wrappers: run the real binaries inside the namespaces.
	[ -x "$top_builddir/tests/.libs/he_netdrive" ] &&
	    DRIVE=$top_builddir/tests/.libs/he_netdrive
	[ -x "$top_builddir/tools/.libs/evhappy" ] &&
	    EVHAPPY=$top_builddir/tools/.libs/evhappy
	if [ -d "$top_builddir/.libs" ]; then
		LD_LIBRARY_PATH=$top_builddir/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
		export LD_LIBRARY_PATH
	fi
	# The CLI and evhappy-run keep the connection history in a file by
	# default: no run reads or writes the user's; a test that wants one
	# names it.
	EVHAPPY_HISTORY_FILE=off
	export EVHAPPY_HISTORY_FILE
	slow=${HE_TEST_SLOW:-1}
	case $slow in ''|0|*[!0-9]*) slow=1 ;; esac
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX") || exit 1
	netns_pids=
	netns_names=
	trap netns_cleanup EXIT
	trap 'exit 1' INT TERM HUP
	PORT=8080
	NAME=svc.test
	tag=${2:-he}$$
}

netns_setup() {
	"$1" 2>"$tmp/setup.err" && return 0
	sed 's/^/  /' "$tmp/setup.err"
	skip "cannot make the namespaces (ip netns, tun, nft)"
}

netns_filter() {
	ip netns exec "$1" nft add table inet hetest &&
	ip netns exec "$1" nft add chain inet hetest in \
	    '{ type filter hook input priority 0; policy accept; }'
}

up() { echo $(($1 * slow)); }

netns_cleanup() {
	for p in $netns_pids; do kill "$p" 2>/dev/null; done
	for p in $netns_pids; do wait "$p" 2>/dev/null; done
	for ns in $netns_names; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$tmp"
}

# Not through a shell function of the caller's: $! must be the program's
# own pid (ip netns exec execs it), so that the cleanup's kill reaches it.
netns_bg() {
	"$@" &
	netns_pids="$netns_pids $!"
}

netns_pair() {
	ip netns add "$1" || return 1
	netns_names="$netns_names $1"
	ip netns add "$2" || return 1
	netns_names="$netns_names $2"
	"$DRIVE" wire "$1" "$2" "$3" "$4" "$tmp/wire.$1" 2>"$tmp/wire.$1.err" &
	wirepid=$!
	netns_pids="$netns_pids $wirepid"
	i=0
	while [ ! -e "$tmp/wire.$1" ] && [ $i -lt 50 ]; do
		kill -0 $wirepid 2>/dev/null || { cat "$tmp/wire.$1.err"; return 1; }
		sleep 0.1
		i=$((i + 1))
	done
	[ -e "$tmp/wire.$1" ] || return 1
	for ns in "$1" "$2"; do
		ip -n "$ns" link set lo up && ip -n "$ns" link set hew up ||
		    return 1
	done
}

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok: $1"; }
bad() {
	failed=$((failed + 1))
	echo "FAIL: $1"
	[ -n "$2" ] && [ -s "$2" ] && sed 's/^/  | /' "$2" | head -80
}
