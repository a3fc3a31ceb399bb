/*
 * NAT64 on address lists (he_nat64_list.c, lists layer): the race's
 * entries (he_addrinfo.h) synthesized from IPv4 ones under a set of
 * prefixes (RFC 6052), and a DNS64 resolver's syntheses recognised in an
 * AAAA answer.  Data in, data out: no lock, no clock, no system call
 * (fuzzed, tests/fuzz/fuzz_nat64.c).
 *
 * A synthesized entry is made with he_addrinfo_new_synth_: it keeps the
 * IPv4 address it stands for (HE_AI_SYNTH), its identity for the race's
 * duplicate rule, the history and the report (he_ai_identity_).
 *
 * Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).
 */
#ifndef EVHAPPY_HE_NAT64_LIST_H_INCLUDED_
#define EVHAPPY_HE_NAT64_LIST_H_INCLUDED_

#include "he_addrinfo.h"
#include "he_nat64.h"

/** Whether list holds an IPv4 entry that some prefix may carry (its
    he_nat64_v4_class_ is not NEVER): the test before anything costs. */
int he_nat64_list_has_v4_(const struct evutil_addrinfo *list);

/** Whether list holds an IPv6 entry that could be a synthesis at all: not
    yet marked, its u-octet (bits 64-71) zero as RFC 6052 makes every
    synthesized address, and not where no prefix can be (::1 and the rest
    of ::/96, IPv4-mapped, link-local, multicast).  Loopback and most
    native addresses are not, and cost nothing more. */
int he_nat64_list_maybe_synth_(const struct evutil_addrinfo *list);

/** Synthesize list's IPv4 entries: each becomes an HE_AI_SYNTH entry under
    the first of the n prefixes p that may carry it
    (he_nat64_may_synthesize_), with its port, group and flags; one that
    none may carry stays as it is, as does every other entry, in the same
    order.  One address per server: a second prefix serves only what the
    first may not carry (the race knows a server by its IPv4 address, and
    keeps one place for it).  The result is a new list in *out (list is
    only read: its owner frees it), *nsynth (may be NULL) how many entries
    were synthesized.  0, or ENOMEM (*out NULL, nothing leaked). */
int he_nat64_list_synth_(const struct he_nat64_prefix *p, int n,
    const struct evutil_addrinfo *list, struct evutil_addrinfo **out,
    int *nsynth);

/** A DNS64 resolver's syntheses in an AAAA answer: when an IPv6 entry of
    list is a synthesis under one of the n prefixes (he_nat64_desynthesize_)
    of an IPv4 address that may be synthesized at all (not he_nat64_v4_
    class_ NEVER; the resolver chose the prefix), *out is a new list (the
    entries in their order, those entries HE_AI_SYNTH standing for their
    IPv4 address, meta kept); otherwise *out is NULL (list needs no
    change).  0, or ENOMEM (*out NULL). */
int he_nat64_list_mark_(const struct he_nat64_prefix *p, int n,
    const struct evutil_addrinfo *list, struct evutil_addrinfo **out);

#endif
