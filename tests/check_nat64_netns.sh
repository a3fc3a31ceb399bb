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
#   fake server) in four modes: DNS64 (AAAA synthesized from A with a
#   prefix), plain (A only), none (no ipv4only.arpa), rfc7050 (DNS64 for
#   ipv4only.arpa only: discovery from DNS, synthesis by the client).
#
# What it proves: the translator works under both prefixes (the CLI
# connects to the synthesized address of 192.0.2.2 given as a literal);
# the race synthesizes (he_synth.c): an IPv4 literal and an A-only name
# connect through NAT64 with the prefix from an RA, from DNS (RFC 7050)
# and from the caller; with no prefix anywhere, or one that may not carry
# the address, the failure is prompt and clear; a DNS64 resolver's AAAA
# answer and the local synthesis of its A answer are tried once; a
# dual-stack client never synthesizes; the drop-in and the interposition
# library take EVHAPPY_NAT64.  And the bottom layer: the PREF64 listener
# (he_pref64.c) hears the prefix from an RA, an RA without it, and its
# withdrawal, and nothing of RAs sent before it listened; the RFC 7050
# query (he_nat64_query.c) finds the prefix from the DNS64 server and
# nothing in the other modes; the route probe says the client has no IPv4
# route and a dual-stack client has one.
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

# The DNS servers of every case below: $(cat "$tmp/NAME") is the address.
dns d64 dns64 --prefix $NSP::/96 --a a4.test 192.0.2.2 >/dev/null
dns d64wkp dns64 --a a4.test 192.0.2.2 >/dev/null
dns plain plain --a a4.test 192.0.2.2 >/dev/null
dns none none --a a4.test 192.0.2.2 >/dev/null
dns r7050 rfc7050 --prefix $NSP::/96 --a a4.test 192.0.2.2 >/dev/null

# ras OPTION...: router advertisements into the client every 100 ms
# (he_nat64lab ra's options) while the next CLI runs: a fresh process
# hears only the RAs that arrive while it listens.  ras_stop ends them.
ras() {
	ip netns exec "$T" "$LAB" ra het "$@" --count 200 --interval 100 \
	    >/dev/null 2>&1 &
	rapid=$!
	netns_pids="$netns_pids $rapid"
	sleep 0.05
}
ras_stop() { kill $rapid 2>/dev/null; wait $rapid 2>/dev/null; }

# cli NAME ARG...: the CLI with --trace in the client; output in
# $tmp/NAME.out, exit status in $rc, milliseconds in $ms.
cli() {
	name=$1
	shift
	start=$(date +%s%N)
	inc "$EVHAPPY" --trace --timeout 3000 "$@" >"$tmp/$name.out" 2>&1
	rc=$?
	ms=$((($(date +%s%N) - start) / 1000000))
}

# has NAME TEXT...: whether the output holds every TEXT (fixed strings).
has() {
	f=$tmp/$1.out
	shift
	for t in "$@"; do grep -qF -- "$t" "$f" || return 1; done
}

# connects NAME WHAT ADDR TEXT...: the CLI of case NAME connected to ADDR
# (the synthesized address) for 192.0.2.2, and said TEXT.
connects() {
	name=$1
	what=$2
	addr=$3
	shift 3
	if [ $rc = 0 ] && has "$name" "connected to $addr for 192.0.2.2:$PORT" \
	    "$@"; then
		ok "$what: $addr in $ms ms"
	else
		bad "$what (exit $rc, $ms ms)" "$tmp/$name.out"
	fi
}

# fails_fast NAME WHAT LIMIT_MS TEXT...: no IPv4 route and no synthesis:
# the original error (network unreachable) within LIMIT_MS.
fails_fast() {
	name=$1
	what=$2
	limit=$(up $3)
	shift 3
	if [ $rc = 1 ] && has "$name" "Network is unreachable" "$@" &&
	    [ $ms -lt $limit ]; then
		ok "$what: network unreachable in $ms ms"
	else
		bad "$what (exit $rc, $ms ms, limit $limit)" "$tmp/$name.out"
	fi
}

# ---------------------------------------------------------------------------
# 1b. An IPv4 literal from the IPv6-only client: the race synthesizes.
#     The prefix from an RA (the DNS server knows no ipv4only.arpa) ...
ras --pref64 $NSP::/96
cli l-ra --dns "$(cat "$tmp/none")" 192.0.2.2 $PORT
ras_stop
connects l-ra "192.0.2.2, prefix from an RA" "[$NSP::c000:202]:$PORT" \
    "nat64-prefix $NSP::/96 from RA" \
    "nat64-synth $NSP::c000:202 for 192.0.2.2, prefix $NSP::/96 from RA"
# ... from DNS (RFC 7050), with no RA at all ...
cli l-dns --dns "$(cat "$tmp/d64")" 192.0.2.2 $PORT
connects l-dns "192.0.2.2, prefix from DNS" "[$NSP::c000:202]:$PORT" \
    "nat64-synth $NSP::c000:202 for 192.0.2.2, prefix $NSP::/96 from DNS"
# --json has the same as fields.
inc "$EVHAPPY" --json --dns "$(cat "$tmp/d64")" 192.0.2.2 $PORT \
    >"$tmp/l-json.out" 2>&1
if has l-json '"event":"nat64-prefix","text":"'$NSP'::/96 from DNS","prefix":"'$NSP'::/96","source":"DNS"' \
    '"event":"nat64-synth","address":"['$NSP'::c000:202]:'$PORT'","family":6,"text":"'$NSP'::c000:202 for 192.0.2.2, prefix '$NSP'::/96 from DNS","prefix":"'$NSP'::/96","source":"DNS","for":"192.0.2.2:'$PORT'"' \
    '"summary":"connected to ['$NSP'::c000:202]:'$PORT' for 192.0.2.2:'$PORT' (NAT64, prefix '$NSP'::/96 from DNS)'; then
	ok "--json: nat64-prefix and nat64-synth events, the summary"
else
	bad "--json of a synthesized connect" "$tmp/l-json.out"
fi
# ... and from the caller, discovering nothing.
cli l-fixed --dns "$(cat "$tmp/none")" --nat64-prefix $NSP::/96 192.0.2.2 \
    $PORT
connects l-fixed "192.0.2.2, --nat64-prefix" "[$NSP::c000:202]:$PORT" \
    "prefix $NSP::/96 from caller"
# The Well-Known Prefix may not carry 192.0.2.2 (documentation, not
# global: RFC 6052 section 3.1): not synthesized, the original error.
cli l-wkp --dns "$(cat "$tmp/d64wkp")" 192.0.2.2 $PORT
fails_fast l-wkp "192.0.2.2 under the Well-Known Prefix" 1500 \
    "nat64-prefix $WKP::/96 from DNS" "192.0.2.2:$PORT not synthesized"
ras --pref64 $WKP::/96
cli l-wkpra --dns "$(cat "$tmp/none")" 192.0.2.2 $PORT
ras_stop
fails_fast l-wkpra "192.0.2.2 under the Well-Known Prefix from an RA" 1500 \
    "not synthesized"
# No prefix anywhere: no DNS64, no RA ...
cli l-none --dns "$(cat "$tmp/plain")" 192.0.2.2 $PORT
fails_fast l-none "no prefix anywhere" 1500 "nat64-prefix: none found"
# ... RAs without PREF64 (one ends the wait for PREF64 at once) ...
ras --pio 2001:db8:1::/64
cli l-nopref --dns "$(cat "$tmp/plain")" 192.0.2.2 $PORT
ras_stop
fails_fast l-nopref "RAs without PREF64, no DNS64" 1500 \
    "nat64-prefix: none found"
# ... a resolver that never answers (the wait ends at half the timeout).
cli l-silent --dns "[2001:db8:1::99]:53" --timeout 1000 192.0.2.2 $PORT
fails_fast l-silent "no answer from the resolver" 1500 \
    "nat64-prefix: none found in time"
# --no-nat64 with a prefix in the RAs: the original error, no synthesis.
ras --pref64 $NSP::/96
cli l-off --dns "$(cat "$tmp/none")" --no-nat64 192.0.2.2 $PORT
ras_stop
if [ $rc = 1 ] && has l-off "Network is unreachable" &&
    ! grep -q nat64 "$tmp/l-off.out"; then
	ok "--no-nat64: network unreachable, nothing synthesized"
else
	bad "--no-nat64 (exit $rc)" "$tmp/l-off.out"
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
# Dual-stack, with a prefix in the RAs and a DNS64 resolver: the literal
# connects over IPv4, and nothing is synthesized (the route probe finds
# the IPv4 route).
ras --pref64 $NSP::/96
cli ds --dns "$(cat "$tmp/d64")" 192.0.2.2 $PORT
ras_stop
if [ $rc = 0 ] && has ds "connected to 192.0.2.2:$PORT" &&
    ! grep -q "nat64-" "$tmp/ds.out"; then
	ok "dual-stack: 192.0.2.2 over IPv4, nothing synthesized"
else
	bad "dual-stack client with NAT64 about (exit $rc)" "$tmp/ds.out"
fi
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
# An A-only name through a plain resolver, the prefix from the RAs.
ras --pref64 $NSP::/96
cli n-ra --dns "$(cat "$tmp/plain")" a4.test $PORT
ras_stop
connects n-ra "A-only name, prefix from an RA" "[$NSP::c000:202]:$PORT" \
    "nat64-synth $NSP::c000:202 for 192.0.2.2, prefix $NSP::/96 from RA"
# RAs without PREF64 and no DNS64: a prompt, clear failure.
ras --pio 2001:db8:1::/64
cli n-nopref --dns "$(cat "$tmp/plain")" a4.test $PORT
ras_stop
fails_fast n-nopref "A-only name, RAs without PREF64" 1500 \
    "nat64-prefix: none found"

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
check_rfc7050 d64 "prefix $NSP::/96 lifetime 60"
check_rfc7050 d64wkp "prefix $WKP::/96 lifetime 60"
check_rfc7050 plain none
check_rfc7050 none none
check_rfc7050 r7050 "prefix $NSP::/96 lifetime 60"

# A name with only A records through the DNS64 resolver: its synthesized
# AAAA records race as IPv6 and connect through tayga (RFC 8305 7: a
# resolver that does DNS64 needs nothing), and the local synthesis of its
# A answer (the prefix from DNS too) is the same server: one attempt.
cli n-d64 --dns "$(cat "$tmp/d64")" a4.test $PORT
if [ $rc = 0 ] && has n-d64 "connected to [$NSP::c000:202]:$PORT" &&
    [ "$(grep -c attempt-start "$tmp/n-d64.out")" = 1 ]; then
	ok "A-only name through the DNS64 resolver: one attempt, [$NSP::c000:202]:$PORT"
else
	bad "A-only name through DNS64 (exit $rc)" "$tmp/n-d64.out"
fi
# The same with the prefix from an RA, and with a DNS64 resolver on the
# Well-Known Prefix while the RA names the network's own: one server,
# one attempt.
for d in d64 d64wkp; do
	ras --pref64 $NSP::/96
	cli n-$d-ra --dns "$(cat "$tmp/$d")" a4.test $PORT
	ras_stop
	if [ $rc = 0 ] &&
	    [ "$(grep -c attempt-start "$tmp/n-$d-ra.out")" = 1 ]; then
		ok "A-only name, resolver $d and an RA: one attempt ($(sed -n 's/^connected to \([^ ]*\).*/\1/p' "$tmp/n-$d-ra.out"))"
	else
		bad "A-only name, resolver $d and an RA (exit $rc)" \
		    "$tmp/n-$d-ra.out"
	fi
done
# Discovery from DNS, synthesis here: ipv4only.arpa has DNS64 answers,
# the name only its A record.
cli n-r7050 --dns "$(cat "$tmp/r7050")" a4.test $PORT
connects n-r7050 "A-only name, prefix from RFC 7050" \
    "[$NSP::c000:202]:$PORT" "prefix $NSP::/96 from DNS"
# Through the plain resolver, with no prefix anywhere, it fails.
cli n-plain --dns "$(cat "$tmp/plain")" a4.test $PORT
fails_fast n-plain "A-only name through the plain resolver" 1500

# ---------------------------------------------------------------------------
# 5. The drop-in (EVHAPPY_NAT64) and the interposition library: the
#    program's own system resolver is left alone (the prefix is given, or
#    comes from an RA before the resolver could answer).
DROPIN=$top_builddir/examples/dropin
[ -x "$top_builddir/examples/.libs/dropin" ] &&
    DROPIN=$top_builddir/examples/.libs/dropin
inc env EVHAPPY_NAT64=$NSP::/96 "$DROPIN" 192.0.2.2 $PORT >"$tmp/d1.out" 2>&1
if [ $? = 0 ] && has d1 "connected to [$NSP::c000:202]:$PORT"; then
	ok "drop-in, EVHAPPY_NAT64=$NSP::/96: [$NSP::c000:202]:$PORT"
else
	bad "drop-in with EVHAPPY_NAT64" "$tmp/d1.out"
fi
inc env EVHAPPY_NAT64=off "$DROPIN" 192.0.2.2 $PORT >"$tmp/d2.out" 2>&1
if [ $? = 1 ] && grep -qi "unreachable" "$tmp/d2.out"; then
	ok "drop-in, EVHAPPY_NAT64=off: network unreachable"
else
	bad "drop-in with EVHAPPY_NAT64=off" "$tmp/d2.out"
fi
lib=$top_builddir/.libs/libevhappy-preload.so
client=$top_builddir/tests/preload_client
if [ -f "$lib" ] && [ -x "$client" ]; then
	case $lib in /*) ;; *) lib=$(pwd)/$lib ;; esac
	# a sanitizer build's runtime cannot come first (check_preload.sh)
	if nm -D "$lib" 2>/dev/null | grep -q __asan_init; then
		ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
		export ASAN_OPTIONS
	fi
	inc env LD_PRELOAD="$lib" EVHAPPY_NAT64=$NSP::/96 "$client" connect \
	    - 192.0.2.2 $PORT $(up 3000) >"$tmp/p1.out" 2>&1
	if has p1 "connected to [$NSP::c000:202]:$PORT"; then
		ok "interposition, EVHAPPY_NAT64=$NSP::/96: [$NSP::c000:202]:$PORT"
	else
		bad "interposition with EVHAPPY_NAT64" "$tmp/p1.out"
	fi
	ras --pref64 $NSP::/96
	inc env LD_PRELOAD="$lib" EVHAPPY_TRACE=1 "$client" connect \
	    - 192.0.2.2 $PORT $(up 3000) >"$tmp/p2.out" 2>&1
	ras_stop
	if has p2 "connected to [$NSP::c000:202]:$PORT" "from RA"; then
		ok "interposition, automatic: the prefix from an RA"
	else
		bad "interposition, prefix from an RA" "$tmp/p2.out"
	fi
	inc "$client" connect - 192.0.2.2 $PORT 3000 >"$tmp/p3.out" 2>&1
	if has p3 "error after" "Network is unreachable"; then
		ok "libevent alone: network unreachable"
	else
		bad "libevent alone" "$tmp/p3.out"
	fi
else
	echo "(no interposition library: shared libraries not built)"
fi

echo "$passed passed, $failed failed"
[ $failed = 0 ]
