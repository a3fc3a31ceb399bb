#!/bin/sh
# The network key (he_netid.c) on networks that change, in a network
# namespace of this run's own (veth pairs, documentation addresses only,
# torn down on exit).  Each question is asked of a new process
# (tests/he_netid_probe), so "the same key" means the same in two
# processes.
#
# - no default route: the key of its own (he_netid_none_key_);
# - the same network: the same key, in two processes;
# - the IPv4 default route moved to another gateway, or to another
#   interface and subnet; the IPv6 default route to another gateway; the
#   IPv6 prefix renumbered: another key each time, and the watch fires
#   (polled, and on an event_base); moved back: the first key again;
# - a temporary (privacy) address made and rotated by the kernel, a
#   DHCPv6-style /128 and a second IPv4 address in the subnet: the same
#   key;
# - the interface of the IPv4 default route set down (its routes go
#   without a route message): the watch fires.
#
# Needs root and ip (iproute2) with veth; otherwise it is skipped (77).
#
# Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).

top_builddir=${top_builddir:-.}
PROBE=$top_builddir/tests/he_netid_probe

skip() { echo "SKIP: $*"; exit 77; }

[ "$(id -u)" = 0 ] || skip "network namespaces need root"
command -v ip >/dev/null 2>&1 || skip "no ip"
[ -x "$PROBE" ] || { echo "FAIL: not built"; exit 1; }
[ -x "$top_builddir/tests/.libs/he_netid_probe" ] &&
	PROBE=$top_builddir/tests/.libs/he_netid_probe
if [ -d "$top_builddir/.libs" ]; then
	LD_LIBRARY_PATH=$top_builddir/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
	export LD_LIBRARY_PATH
fi

slow=${HE_TEST_SLOW:-1}
case $slow in ''|0|*[!0-9]*) slow=1 ;; esac

N=he$$k
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check_netid_netns.XXXXXX") || exit 1
watchpid=
cleanup() {
	[ -n "$watchpid" ] && kill "$watchpid" 2>/dev/null
	ip netns del "$N" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

failed=0
fail() { echo "FAIL: $*"; failed=1; }
inn() { ip netns exec "$N" "$@"; }
r() { ip -n "$N" "$@" || fail "ip -n $N $*"; }
key() { inn "$PROBE" key | cut -d' ' -f1; }
desc() { inn "$PROBE" key | cut -d' ' -f2-; }

# watch_start [ev]: a process that waits for the watch to fire
watch_start() {
	rm -f "$tmp/ready" "$tmp/watch.out"
	ip netns exec "$N" "$PROBE" watch $((3000 * slow)) "$tmp/ready" $1 \
	    >"$tmp/watch.out" 2>&1 &
	watchpid=$!
	i=0
	while [ ! -e "$tmp/ready" ] && [ $i -lt 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	[ -e "$tmp/ready" ] || fail "the watch did not start"
}
# watch_fired WHAT: the watch process saw a change
watch_fired() {
	wait "$watchpid"
	rc=$?
	watchpid=
	if [ $rc -ne 0 ] || ! grep -q '^changed' "$tmp/watch.out"; then
		fail "$1: the watch did not fire ($(cat "$tmp/watch.out"))"
	fi
}

ip netns add "$N" 2>"$tmp/err" || skip "cannot make a namespace: $(cat "$tmp/err")"
ip -n "$N" link set lo up
if ! ip -n "$N" link add hk0 type veth peer name hk1 2>"$tmp/err"; then
	skip "no veth: $(cat "$tmp/err")"
fi
r link add hk2 type veth peer name hk3
for l in hk0 hk1 hk2 hk3; do r link set "$l" up; done

# ---- no default route --------------------------------------------------
none=$(inn "$PROBE" none)
k0=$(key)
[ -n "$k0" ] && [ "$k0" = "$none" ] ||
	fail "no default route: key $k0, not the none key $none"

# ---- the home network ----------------------------------------------------
r addr add 192.0.2.10/24 dev hk0
r addr add 2001:db8:1::10/64 dev hk0 nodad
r addr add 192.0.2.130/25 dev hk2
r route add default via 192.0.2.1 dev hk0
r -6 route add default via 2001:db8:1::1 dev hk0
home=$(key)
home2=$(key)
echo "home: $home $(desc)"
[ "$home" = "$home2" ] || fail "two processes: $home, $home2"
[ "$home" != "$none" ] || fail "home has the none key"
wantdesc="v4 via 192.0.2.1 dev hk0 192.0.2.0/24; v6 via 2001:db8:1::1 dev hk0 2001:db8:1::/64"
[ "$(desc)" = "$wantdesc" ] || fail "home described as '$(desc)'"

# expect_new WHAT KEY: a key unlike home and the others seen
seen="$none $home"
expect_new() {
	for s in $seen; do
		[ "$2" != "$s" ] || fail "$1: key $2 seen before"
	done
	seen="$seen $2"
}
expect_home() {
	k=$(key)
	[ "$k" = "$home" ] || fail "$1: key $k, not home's $home ($(desc))"
}

# ---- IPv4: another gateway, and back ----------------------------------------
watch_start
r route replace default via 192.0.2.2 dev hk0
watch_fired "v4 gateway moved"
k=$(key); echo "v4 gateway 192.0.2.2: $k"
expect_new "v4 gateway moved" "$k"
watch_start ev
r route replace default via 192.0.2.1 dev hk0
watch_fired "v4 gateway back (event_base)"
expect_home "v4 gateway back"

# ---- IPv4: another interface and subnet -------------------------------------
watch_start ev
r route replace default via 192.0.2.129 dev hk2
watch_fired "v4 moved to hk2 (event_base)"
k=$(key); echo "v4 via hk2: $k $(desc)"
expect_new "v4 moved to hk2" "$k"
r route replace default via 192.0.2.1 dev hk0
expect_home "v4 back to hk0"

# ---- a link down: IPv4 routes go silently -----------------------------------------
# (hk2 has no global IPv6 address, whose removal would say it).  First
# the carrier: the peer goes down, the route stays but is not used.
r route replace default via 192.0.2.129 dev hk2
via2=$(key)
watch_start
r link set hk3 down
watch_fired "the default route's carrier lost"
k=$(key); echo "hk2 without carrier: $k $(desc)"
[ "$k" != "$via2" ] || fail "a route without carrier still counts"
r link set hk3 up
sleep 0.1
k=$(key)
[ "$k" = "$via2" ] || fail "carrier back: $k, not $via2 ($(desc))"
watch_start
r link set hk2 down
watch_fired "the default route's link down"
k=$(key); echo "hk2 down: $k $(desc)"
expect_new "the default route's link down" "$k"
r link set hk2 up
r route replace default via 192.0.2.1 dev hk0
expect_home "hk2 up, v4 back to hk0"


# ---- IPv6: another gateway ------------------------------------------------------
watch_start
r -6 route replace default via 2001:db8:1::2 dev hk0
watch_fired "v6 gateway moved"
k=$(key); echo "v6 gateway ::2: $k"
expect_new "v6 gateway moved" "$k"
r -6 route replace default via 2001:db8:1::1 dev hk0
expect_home "v6 gateway back"

# ---- IPv6: the prefix renumbered ------------------------------------------------
watch_start
r addr add 2001:db8:2::10/64 dev hk0 nodad
r -6 route replace default via 2001:db8:2::1 dev hk0
r addr del 2001:db8:1::10/64 dev hk0
watch_fired "v6 renumbered"
k=$(key); echo "v6 prefix 2001:db8:2::/64: $k $(desc)"
expect_new "v6 renumbered" "$k"
r addr add 2001:db8:1::10/64 dev hk0 nodad
r -6 route replace default via 2001:db8:1::1 dev hk0
r addr del 2001:db8:2::10/64 dev hk0
expect_home "v6 prefix back"

# ---- what is no network change -----------------------------------------------------
# the kernel's temporary addresses (RFC 8981), made from a mngtmpaddr one
inn sysctl -qw net.ipv6.conf.hk0.use_tempaddr=2 ||
	fail "cannot turn temporary addresses on"
r addr change 2001:db8:1::10/64 dev hk0 nodad mngtmpaddr valid_lft 3600 \
    preferred_lft 1800
sleep 0.2
t1=$(ip -n "$N" -6 addr show dev hk0 temporary | awk '/inet6/ {print $2}')
[ -n "$t1" ] || fail "the kernel made no temporary address"
echo "temporary address: $t1"
expect_home "a temporary address"
# rotated: the kernel drops it and makes another
r addr change 2001:db8:1::10/64 dev hk0 nodad valid_lft 3600 preferred_lft 1800
r addr change 2001:db8:1::10/64 dev hk0 nodad mngtmpaddr valid_lft 3600 \
    preferred_lft 1800
sleep 0.2
t2=$(ip -n "$N" -6 addr show dev hk0 temporary | awk '/inet6/ {print $2}')
[ -n "$t2" ] && [ "$t2" != "$t1" ] || fail "no new temporary address ($t1, $t2)"
echo "rotated to: $t2"
expect_home "a temporary address rotated"
r addr add 2001:db8:1::99/128 dev hk0 nodad
expect_home "a /128 in the prefix"
r addr add 192.0.2.11/24 dev hk0
expect_home "a second IPv4 address in the subnet"

# ---- no default route again --------------------------------------------------------
watch_start
r -6 route del default
# (the IPv4 one went with hk2)
ip -n "$N" route del default 2>/dev/null
watch_fired "default routes removed"
k=$(key)
[ "$k" = "$none" ] || fail "no default route again: $k, not $none ($(desc))"

echo "cost: $(inn "$PROBE" cost 200) us per reading in the namespace," \
    "$("$PROBE" cost 200) us on this host"
[ $failed -eq 0 ] && echo "PASS"
exit $failed
