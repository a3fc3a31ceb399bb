# The IPv6-only lab (NAT64), sourced by tests/check_nat64_netns.sh (and
# meant for a benchmark on the same network): the namespaces, tayga, nft,
# the IPv4-only server, and helpers, on top of tests/he_netns.sh (whose
# netns_init it runs, with $1 naming the temporary directory).  See
# check_nat64_netns.sh for the picture.  Sourcing it checks the
# prerequisites (exit 77 without them, tayga too), sets C, T, S (the
# namespaces' names, unique per run), LAB, PORT, NSP, WKP besides what
# netns_init sets; nat64_lab_setup then builds the network (non-zero on
# failure), and he_netns.sh's trap tears it down on exit.
#
# Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).

. "${top_srcdir:-$(dirname "$0")/..}/tests/he_netns.sh"
netns_init "${1:-nat64_lab}"

PATH=$PATH:/usr/sbin:/sbin
command -v tayga >/dev/null 2>&1 || skip "no tayga"
LAB=$top_builddir/tests/he_nat64lab
[ -x "$LAB" ] || { echo "FAIL: not built"; exit 1; }
[ -x "$top_builddir/tests/.libs/he_nat64lab" ] &&
    LAB=$top_builddir/tests/.libs/he_nat64lab
PORT=8080
NSP=2001:db8:64		# tayga's network-specific prefix: $NSP::/96
WKP=64:ff9b		# the Well-Known Prefix: $WKP::/96

tag=hn$$
C=${tag}c
T=${tag}t
S=${tag}s

inc() { ip netns exec "$C" "$@"; }
int() { ip netns exec "$T" "$@"; }

nat64_lab_setup() {
	for ns in "$C" "$T" "$S"; do
		ip netns add "$ns" || return 1
		netns_names="$netns_names $ns"	# he_netns.sh deletes them
		# No duplicate address detection: addresses (and the
		# router's link-local source of its RAs) usable at once.
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
		    net.ipv6.conf.default.accept_dad=0 || return 1
		ip -n "$ns" link set lo up || return 1
	done
	ip -n "$T" link add het type veth peer name hec netns "$C" &&
	ip -n "$T" link add hes type veth peer name hev netns "$S" || return 1
	# The client is a host: it accepts RAs (the kernel passes their
	# options on only then) and forwards nothing.
	ip netns exec "$C" sysctl -qw net.ipv6.conf.hec.accept_ra=1 \
	    net.ipv6.conf.hec.forwarding=0 || return 1
	ip netns exec "$T" sysctl -qw net.ipv4.ip_forward=1 \
	    net.ipv6.conf.all.forwarding=1 || return 1
	ip -n "$C" link set hec up && ip -n "$T" link set het up &&
	ip -n "$T" link set hes up && ip -n "$S" link set hev up || return 1
	ip -n "$C" addr add 2001:db8:1::2/64 dev hec nodad &&
	ip -n "$T" addr add 2001:db8:1::1/64 dev het nodad &&
	ip -n "$C" -6 route add default via 2001:db8:1::1 dev hec &&
	ip -n "$T" addr add 192.0.2.1/24 dev hes &&
	ip -n "$S" addr add 192.0.2.2/24 dev hev &&
	ip -n "$S" route add default via 192.0.2.1 || return 1

	# tayga: the NAT64 (its TUN device is made here, configured by us).
	cat >"$tmp/tayga.conf" <<EOF
tun-device nat64
ipv4-addr 198.51.100.1
prefix $NSP::/96
dynamic-pool 198.51.100.0/24
EOF
	int tayga --mktun -c "$tmp/tayga.conf" >"$tmp/tayga.err" 2>&1 &&
	ip -n "$T" link set nat64 up &&
	ip -n "$T" route add 198.51.100.0/24 dev nat64 &&
	ip -n "$T" -6 route add $NSP::/96 dev nat64 || return 1
	netns_bg ip netns exec "$T" tayga -c "$tmp/tayga.conf" --nodetach \
	    >>"$tmp/tayga.err" 2>&1
	# The Well-Known Prefix onto tayga's.
	int nft add table ip6 he_nat64 &&
	int nft add chain ip6 he_nat64 pre \
	    '{ type nat hook prerouting priority dstnat; }' &&
	int nft add rule ip6 he_nat64 pre ip6 daddr $WKP::/96 \
	    dnat ip6 prefix to $NSP::/96 || return 1

	netns_bg ip netns exec "$S" "$DRIVE" serve $PORT 192.0.2.2 \
	    2>"$tmp/serve.err"
}

# wait_file FILE: until it exists (5 s at most).
wait_file() {
	i=0
	while [ ! -s "$1" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	[ -s "$1" ]
}

# A DNS server in C: dns NAME MODE [args]; its address goes to $tmp/NAME.
dns() {
	name=$1
	shift
	netns_bg ip netns exec "$C" "$LAB" dns "$tmp/$name" "$@" \
	    2>"$tmp/$name.err"
	wait_file "$tmp/$name" || { echo "FAIL: DNS server $name"; exit 1; }
	cat "$tmp/$name"
}

# Until tayga translates (it needs a moment to start): 0, or 1 after 3 s.
nat64_lab_wait_tayga() {
	i=0
	until inc "$EVHAPPY" --timeout 1000 $NSP::c000:202 $PORT >/dev/null 2>&1; do
		[ $i -ge 30 ] && return 1
		sleep 0.1
		i=$((i + 1))
	done
}
