/*
 * NAT64's state (he_nat64_cache.c, lists layer): the process's store of
 * known prefixes, and the "does this host have an IPv4 route" probe with
 * its short memory.
 *
 * The store.  One per process (he_nat64_cache_global_()), shared by every
 * context, like the connection history: a network's NAT64 prefix is the
 * machine's.  One mutex guards it, held across fork() (he_proc.h).  It
 * never allocates: a fixed table of prefixes from router advertisements
 * and the prefixes of the last RFC 7050 answer.  It has no clock: every
 * call takes `now` (monotonic microseconds).
 *
 * Preference (RFC 9872): a prefix from an RA beats any from DNS; while one
 * is live, the DNS ones are not used and no RFC 7050 query is due.
 */
#ifndef EVHAPPY_HE_NAT64_CACHE_H_INCLUDED_
#define EVHAPPY_HE_NAT64_CACHE_H_INCLUDED_

#include "he_nat64.h"

/* Table sizes, and the DNS timing rules (seconds). */
#define HE_NAT64_RA_ENTRIES 8
#define HE_NAT64_DNS_ENTRIES HE_NAT64_MAX_PREFIXES
#define HE_NAT64_DNS_AHEAD_S 10		/* ask again this long before expiry */
#define HE_NAT64_DNS_NONE_S 60		/* "no DNS64" is believed this long */
#define HE_NAT64_DNS_RETRY_S 10		/* after a failed query */
#define HE_NAT64_DNS_STALE_S 30		/* a claimed query never reported */

struct he_nat64_cache;

/** The process's store (a static one). */
struct he_nat64_cache *he_nat64_cache_global_(void);
/** A store of its own (tests) in *out: 0, or ENOMEM. */
int he_nat64_cache_new_(struct he_nat64_cache **out);
/** Free a store made by he_nat64_cache_new_ (the global one is ignored). */
void he_nat64_cache_free_(struct he_nat64_cache *c);
/** Forget every prefix and the DNS state. */
void he_nat64_cache_clear_(struct he_nat64_cache *c);

/** A PREF64 option arrived on ifindex from router (may be NULL): learn or
    refresh the prefix for opt->lifetime seconds; lifetime 0 withdraws the
    prefix this router advertised on this interface (or on any, when it
    was restored from a file), and the withdrawal is kept until the prefix
    would have expired (he_nat64_cache_export_).  A full table gives up a
    withdrawal first, then the entry that would expire first. */
void he_nat64_cache_ra_(struct he_nat64_cache *c, const struct he_pref64 *opt,
    int ifindex, const unsigned char *router, int64_t now);
/** A router advertisement (any option) was seen: he_nat64_cache_last_ra_
    reports it, so a race waiting for PREF64 can stop waiting. */
void he_nat64_cache_ra_seen_(struct he_nat64_cache *c, int64_t now);
/** When the last RA was seen (0: never) and, in *pref64 (may be NULL), when
    the last PREF64 option was (0: never). */
int64_t he_nat64_cache_last_ra_(struct he_nat64_cache *c, int64_t *pref64);

/** Whether the caller should send the RFC 7050 query now: 1 when one is
    due (never asked, refresh time reached, retry time after a failure) and
    nobody else is asking (the claim is the caller's until it reports with
    he_nat64_cache_dns_ / _dns_failed_ / _dns_release_, or for
    HE_NAT64_DNS_STALE_S); 0 otherwise.  No query is due while a prefix
    from an RA is live (RFC 9872: PREF64 first). */
int he_nat64_cache_dns_claim_(struct he_nat64_cache *c, int64_t now);
/** The answer: the n (0..) prefixes found replace those DNS gave before,
    for lifetime microseconds (at least HE_NAT64_DNS_MIN_S); n 0 means the
    resolver does no DNS64, believed for HE_NAT64_DNS_NONE_S. */
void he_nat64_cache_dns_(struct he_nat64_cache *c,
    const struct he_nat64_prefix *p, int n, int64_t lifetime, int64_t now);
/** The query failed (timeout, SERVFAIL): prefixes already known stay until
    they expire; ask again after HE_NAT64_DNS_RETRY_S. */
void he_nat64_cache_dns_failed_(struct he_nat64_cache *c, int64_t now);
/** The claimer gave up without an answer (cancelled): due again at once. */
void he_nat64_cache_dns_release_(struct he_nat64_cache *c);
/** Whether someone holds the claim at now (a query is out, not yet
    stale): a race waiting for a prefix waits for that answer too. */
int he_nat64_cache_dns_asking_(struct he_nat64_cache *c, int64_t now);

/** The usable prefixes at now, best first, at most max: those from RAs
    (first heard first; one entry per prefix whatever the routers and
    interfaces), or when there is none, those from DNS (in the answer's
    order).  With all set, both sources (RA first): every prefix an
    address may have been synthesized with, for de-synthesis.  Returns how
    many. */
int he_nat64_cache_get_(struct he_nat64_cache *c, int64_t now, int all,
    struct he_nat64_known *out, int max);

/* ---- what outlives the process (the history file, he_persist.c) ------- */

/** A prefix the store knows, as a later process may use it: what a NAT64
    record of the history file holds (he_histfile.h), on the store's clock.
    The network is the caller's business: the store holds one network's. */
struct he_nat64_saved {
	enum he_nat64_source source;	/* HE_NAT64_FROM_RA or _FROM_DNS */
	struct he_nat64_prefix prefix;	/* DNS, len 0: the answer said "no
					   DNS64" */
	unsigned char router[16];	/* RA: who sent it; zero if unknown */
	int withdrawn;			/* RA: a lifetime 0 was heard at
					   learned; not to be used */
	int64_t learned;		/* RA: last heard; DNS: the answer */
	int64_t expires;		/* the lifetime's end; a withdrawal's:
					   when the prefix would have
					   expired */
	int restored;			/* from a file, not heard by this
					   process since */
};

/** The most records he_nat64_cache_export_ gives. */
#define HE_NAT64_SAVED_MAX (HE_NAT64_RA_ENTRIES + HE_NAT64_DNS_ENTRIES)

/** What the store knows at now that a later process may use: every RA
    entry that has not expired (a withdrawn one too, until the prefix would
    have expired: the file must not give it back), and the last RFC 7050
    answer while it is believed (its prefixes, or one record of length 0
    for "no DNS64").  Returns how many went to out (at most max). */
int he_nat64_cache_export_(struct he_nat64_cache *c, int64_t now,
    struct he_nat64_saved *out, int max);

/** Take n records an earlier process saved (their times on the store's
    clock), at now; expired and invalid ones are ignored.  An RA record
    newer than what the store knows of that prefix from that router
    refreshes or withdraws it (on any interface), or joins as heard from
    that router on an interface not known (ifindex 0; a full table gives
    up the entry that expires first, if sooner); a withdrawal of what the
    store does not hold is ignored.  The newest RFC 7050 answer among the
    records replaces the store's when newer (its refresh is due
    HE_NAT64_DNS_AHEAD_S before it expires, as for an answer heard here;
    "no DNS64" is believed until its end).  A record's restored flag goes
    to what it makes (he_nat64_known's), until heard again.  A claimed query stays
    claimed.  Returns how many records changed the store. */
int he_nat64_cache_import_(struct he_nat64_cache *c,
    const struct he_nat64_saved *in, int n, int64_t now);

/** The host moved to another network: forget every prefix and the DNS
    answer (a query is due at once), and the RAs seen; a query out stays
    claimed (its answer will be the new network's resolver's, or is
    stale for at most one lifetime). */
void he_nat64_cache_forget_(struct he_nat64_cache *c);

/** What needs doing when. */
struct he_nat64_due {
	int64_t dns_at;		/* the next RFC 7050 query (<= now: due
				   now), HE_NAT64_NEVER while an RA prefix
				   is live; while a query is in flight, when
				   its claim goes stale */
	int64_t expires_at;	/* the earliest expiry of a usable prefix,
				   HE_NAT64_NEVER when none */
};
void he_nat64_cache_due_(struct he_nat64_cache *c, int64_t now,
    struct he_nat64_due *out);

/** The prefixes a race uses under a setting: none (OFF), *fixed as the
    caller's (FIXED), or he_nat64_cache_get_(c, now, 0, ...) (AUTO).
    Returns how many went to out. */
int he_nat64_select_(enum he_nat64_mode mode,
    const struct he_nat64_prefix *fixed, struct he_nat64_cache *c,
    int64_t now, struct he_nat64_known *out, int max);

/* ---- is there a route --------------------------------------------------- */

/** Whether the kernel has a route for family (AF_INET or AF_INET6) to dst
    (NULL: a global address, a root server's): a UDP socket connected there
    (he_source_by_udp_connect_: no packet is sent) with a usable source.
    0 with *have 1 (yes) or 0 (ENETUNREACH and the other "no route"
    errors, or only an unusable source: 0.0.0.0, or for IPv6 :: or a
    link-local one towards a global destination); or the errno that kept
    it from telling (EMFILE...), EINVAL for a bad argument. */
int he_route_probe_(int family, const struct sockaddr *dst, int *have);

/** he_route_probe_(family, NULL, have), remembered process-wide for
    HE_ROUTE_CACHE_US; an error is not remembered. */
#define HE_ROUTE_CACHE_US ((int64_t)1000000)
int he_route_have_(int family, int64_t now, int *have);

/** he_route_probe_(dst->sa_family, dst, have), through the tests' hook
    when one is set: whether the kernel routes this one destination (an
    IPv4 address behind a VPN's route on a host whose default route is
    IPv6 only).  The answers for the last HE_ROUTE_TO_KEPT destinations
    are remembered process-wide for HE_ROUTE_CACHE_US, as
    he_route_have_'s are: a program that connects to one IPv4 literal
    again and again on an IPv6-only network would otherwise pay a socket
    and a connect() for each race.  An error is not remembered. */
#define HE_ROUTE_TO_KEPT 8
int he_route_have_to_(const struct sockaddr *dst, int64_t now, int *have);

/** Tests: replace the probe he_route_have_ and he_route_have_to_ use (NULL: he_route_probe_),
    and forget what it remembers. */
typedef int (*he_route_probe_fn)(int family, const struct sockaddr *dst,
    int *have);
void he_route_set_probe_hook_(he_route_probe_fn fn);

#endif
