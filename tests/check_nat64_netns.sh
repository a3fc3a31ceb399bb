#!/bin/sh
# NAT64 on real network paths (RFC 8305 section 7): the IPv6-only lab.
#
# Three network namespaces, two veth wires:
#
#   client C  hec 2001:db8:1::2/64 ---- het 2001:db8:1::1/64  translator T
#             (IPv6 only: no IPv4             hes 192.0.2.1/24 ---- hev 192.0.2.2/24  server S
#             address but 127.0.0.1,          tayga on TUN "nat64"          (IPv4 only,
#             no IPv4 route)                                                listener :8080)
#
# - T runs tayga (user-space stateless NAT64): 2001:db8:64::/96 (a
#   network-specific prefix) maps to IPv4, sources from 198.51.100.0/24.
#   tayga refuses the Well-Known Prefix 64:ff9b::/96 towards non-global
#   IPv4 such as 192.0.2.0/24 (RFC 6052 section 3.1), so nft in T maps
#   64:ff9b::/96 onto 2001:db8:64::/96 first ("dnat ip6 prefix to"): the
#   client can use either prefix.
# - T sends router advertisements into C (tests/he_nat64lab ra: a raw
#   ICMPv6 socket; radvd 2.19 has no PREF64 option), with and without
#   PREF64, router lifetime 0: C keeps its static default route.
# - The DNS servers run in C on 127.0.0.1 (tests/he_nat64lab dns, the lab's
#   fake server) in three modes: DNS64 (AAAA synthesized from A with a
#   prefix), plain (A only), none (no ipv4only.arpa).
#
# What this proves today, before the race uses NAT64: the translator
# works under both prefixes (the CLI connects to the synthesized address
# of 192.0.2.2 given as a literal); the PREF64 listener (he_pref64.c) hears
# the prefix from an RA, an RA without it, and its withdrawal, and hears
# nothing of RAs sent before it listened; the RFC 7050 query
# (he_nat64_query.c) finds the prefix from the DNS64 server and nothing in
# the other two modes; the route probe says the client has no IPv4 route
# and a dual-stack client has one.  "LEAD:" comments mark where the
# library-level assertions go once NAT64 is wired into the race.
#
# Only documentation addresses are used (192.0.2.0/24, 198.51.100.0/24,
# 203.0.113.0/24, 2001:db8::/32, and the Well-Known Prefix inside the
# namespaces); nothing leaves them, and everything is torn down on exit.
# Needs root, ip, nft, tayga and /dev/net/tun; otherwise skipped (77).
#
# Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).

. "${top_srcdir:-$(dirname "$0")/..}/tests/nat64_lab.sh" check_nat64_netns

if ! nat64_lab_setup 2>"$tmp/setup.err"; then
	sed 's/^/  /' "$tmp/setup.err" "$tmp/tayga.err" 2>/dev/null
	skip "cannot make the namespaces (ip netns, veth, tun, nft, tayga)"
fi

# ---------------------------------------------------------------------------
# 1. The translator, under both prefixes: the CLI connects from the
#    IPv6-only client to the synthesized address of 192.0.2.2, given as a
#    literal.  (tayga needs a moment to start: the first try waits.)
nat64_lab_wait_tayga ||
    bad "tayga translates nothing" "$tmp/tayga.err"
for pfx in $NSP $WKP; do
	inc "$EVHAPPY" --timeout 3000 $pfx::c000:202 $PORT >"$tmp/s1.out" 2>&1
	if [ $? = 0 ] && grep -q "connected to \[$pfx::c000:202\]:$PORT" "$tmp/s1.out"
	then
		ok "through tayga: $pfx::c000:202 (192.0.2.2)"
	else
		cat "$tmp/tayga.err" >>"$tmp/s1.out"
		bad "connect to $pfx::c000:202 through tayga" "$tmp/s1.out"
	fi
done

# The IPv4 literal itself fails at once (no IPv4 route), as libevent's own
# connect does: what NAT64 synthesis is for.
# LEAD: once the race synthesizes, replace this by the library-level
#   cases: with a prefix from an RA (RAs with PREF64 sent every 100 ms
#   while the CLI runs, since a fresh process hears only RAs that arrive
#   while it listens: `int "$LAB" ra het --pref64 $NSP::/96 --count 30
#   --interval 100 &`), and from DNS (`--dns $(dns d64 dns64 --prefix
#   $NSP::/96)`), `inc "$EVHAPPY" --trace 192.0.2.2 $PORT` connects to
#   [$NSP::c000:202]:$PORT and the trace says "$NSP::c000:202 for
#   192.0.2.2, prefix $NSP::/96 from RA" (resp. "from DNS").  With the
#   Well-Known Prefix instead, 192.0.2.2 (non-global) must not be
#   synthesized: a prompt ENETUNREACH (RFC 6052 section 3.1).
start=$(date +%s%N)
inc "$EVHAPPY" --timeout 3000 192.0.2.2 $PORT >"$tmp/s1v4.out" 2>&1
rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
if [ $rc = 1 ] && grep -qi "unreachable" "$tmp/s1v4.out" && [ $ms -lt 2000 ]; then
	ok "192.0.2.2 from the IPv6-only client: network unreachable in $ms ms"
else
	bad "192.0.2.2 without NAT64 (exit $rc, $ms ms)" "$tmp/s1v4.out"
fi

# ---------------------------------------------------------------------------
# 2. Routes: the IPv6-only client has no IPv4 route (no packet is sent by
#    the probe); with an IPv4 address and default route it has one.
inc "$LAB" route >"$tmp/s2.out" 2>&1
if grep -qx "ipv4 no" "$tmp/s2.out" && grep -qx "ipv6 yes" "$tmp/s2.out"; then
	ok "IPv6-only client: no IPv4 route, an IPv6 one"
else
	bad "routes of the IPv6-only client" "$tmp/s2.out"
fi
ip -n "$T" addr add 203.0.113.1/24 dev het &&
ip -n "$C" addr add 203.0.113.2/24 dev hec &&
ip -n "$C" route add default via 203.0.113.1 || bad "dual-stack setup"
inc "$LAB" route >"$tmp/s2ds.out" 2>&1
if grep -qx "ipv4 yes" "$tmp/s2ds.out" && grep -qx "ipv6 yes" "$tmp/s2ds.out"; then
	ok "dual-stack client: both routes"
else
	bad "routes of the dual-stack client" "$tmp/s2ds.out"
fi
# LEAD: here, dual-stack and with a prefix known (RA and DNS64 as in 1),
#   `inc "$EVHAPPY" --trace 192.0.2.2 $PORT` must connect to 192.0.2.2
#   over IPv4 (a route 192.0.2.0/24 via 203.0.113.1 in C, forwarding in
#   T) and the trace must show no synthesis: a dual-stack host never
#   synthesizes.
ip -n "$C" route del default via 203.0.113.1
ip -n "$C" addr del 203.0.113.2/24 dev hec
ip -n "$T" addr del 203.0.113.1/24 dev het

# ---------------------------------------------------------------------------
# 3. PREF64 from router advertisements (RFC 8781), heard by the listener
#    (he_pref64.c) in the client: a prefix, an RA without PREF64, two
#    more prefixes in one RA (a /96 and a /64), the first one withdrawn
#    (lifetime 0).
inc "$LAB" listen "$tmp/l1.ready" 10 withdrawn >"$tmp/l1.out" 2>&1 &
lpid=$!
netns_pids="$netns_pids $lpid"
wait_file "$tmp/l1.ready" || bad "the listener did not start" "$tmp/l1.out"
int "$LAB" ra het --pref64 $NSP::/96,600 && sleep 0.3 &&
int "$LAB" ra het --pio 2001:db8:1::/64 && sleep 0.3 &&
int "$LAB" ra het --pref64 $WKP::/96,1200 --pref64 2001:db8:122:344::/64,480 \
    --pio 2001:db8:1::/64 && sleep 0.3 &&
int "$LAB" ra het --pref64 $NSP::/96,0 || bad "sending RAs"
wait $lpid
rc=$?
cat >"$tmp/l1.want" <<EOF
pref64 $NSP::/96 lifetime 600 from RA
ra-seen
pref64 $WKP::/96 lifetime 1200 from RA
pref64 2001:db8:122:344::/64 lifetime 480 from RA
withdrawn $NSP::/96
EOF
if [ $rc = 0 ] && cmp -s "$tmp/l1.out" "$tmp/l1.want"; then
	ok "PREF64 from RAs: learned, RA without it seen, two at once, withdrawn"
else
	echo "(exit $rc; wanted:)" >>"$tmp/l1.out"
	cat "$tmp/l1.want" >>"$tmp/l1.out"
	bad "PREF64 listener" "$tmp/l1.out"
fi

# The kernel keeps no copy of RA options: a listener that opens after the
# RA hears nothing of it.
int "$LAB" ra het --pref64 $NSP::/96,600
inc "$LAB" listen "$tmp/l2.ready" 1 pref64 >"$tmp/l2.out" 2>&1
rc=$?
if [ $rc = 1 ] && [ ! -s "$tmp/l2.out" ]; then
	ok "an RA sent before the listener opened is not heard"
else
	bad "late listener (exit $rc)" "$tmp/l2.out"
fi
# LEAD: with RAs carrying PREF64 $NSP::/96 every 100 ms and a plain DNS
#   server, an A-only name connects: `inc "$EVHAPPY" --dns $(dns pl2
#   plain --a a4.test 192.0.2.2) --trace a4.test $PORT` wins with
#   [$NSP::c000:202]:$PORT, prefix from RA.  With RAs without PREF64 and
#   no DNS64 (mode plain or none): a prompt, clear failure (ENETUNREACH,
#   well within the timeout; the RA without PREF64 ends the wait).

# ---------------------------------------------------------------------------
# 4. RFC 7050 against the lab's DNS server in each mode.
check_rfc7050() {	# NAME WANT... (the lines he_nat64lab rfc7050 prints)
	name=$1
	shift
	inc "$LAB" rfc7050 "$(cat "$tmp/$name")" >"$tmp/$name.q" 2>&1
	printf '%s\n' "$@" >"$tmp/$name.want"
	if cmp -s "$tmp/$name.q" "$tmp/$name.want"; then
		ok "RFC 7050, $name: $(paste -sd ';' "$tmp/$name.q")"
	else
		cat "$tmp/$name.want" >>"$tmp/$name.q"
		bad "RFC 7050, $name" "$tmp/$name.q"
	fi
}
dns d64 dns64 --prefix $NSP::/96 --a a4.test 192.0.2.2 >/dev/null
dns d64wkp dns64 --a a4.test 192.0.2.2 >/dev/null
dns plain plain --a a4.test 192.0.2.2 >/dev/null
dns none none --a a4.test 192.0.2.2 >/dev/null
check_rfc7050 d64 "prefix $NSP::/96 lifetime 60"
check_rfc7050 d64wkp "prefix $WKP::/96 lifetime 60"
check_rfc7050 plain none
check_rfc7050 none none

# A name with only A records through the DNS64 resolver: its synthesized
# AAAA records race as IPv6 and connect through tayga, with nothing new
# in the library (RFC 8305 7: a resolver that does DNS64 needs nothing).
inc "$EVHAPPY" --dns "$(cat "$tmp/d64")" --timeout 3000 a4.test $PORT \
    >"$tmp/s4.out" 2>&1
if grep -q "connected to \[$NSP::c000:202\]:$PORT" "$tmp/s4.out"; then
	ok "A-only name through the DNS64 resolver: [$NSP::c000:202]:$PORT"
else
	bad "A-only name through DNS64" "$tmp/s4.out"
fi
# ... and through the plain one it fails, for want of an IPv4 route.
# LEAD: with a prefix known (RA, or RFC 7050 against d64 while names are
#   resolved by plain: a DNS64 that is not the name's resolver), it must
#   connect to [$NSP::c000:202]:$PORT; and through d64 with local
#   synthesis on, the AAAA answer and the local synthesis of the A
#   answer are one address: the trace shows one attempt, not two.
inc "$EVHAPPY" --dns "$(cat "$tmp/plain")" --timeout 3000 a4.test $PORT \
    >"$tmp/s4p.out" 2>&1
if [ $? = 1 ] && grep -qi "unreachable" "$tmp/s4p.out"; then
	ok "A-only name through the plain resolver: network unreachable"
else
	bad "A-only name through the plain resolver" "$tmp/s4p.out"
fi

echo "$passed passed, $failed failed"
[ $failed = 0 ]
