/*
 * NAT64 in a race (he_synth.c, glue layer; RFC 8305 section 7): when an
 * IPv4 literal or an A answer is synthesized into IPv6 addresses, the
 * wait for a prefix to be discovered, and the context's discovery that
 * serves those waits (the PREF64 listener, the RFC 7050 query).
 * doc/nat64.md is the map.
 *
 * It knows no request: the request (he_request.c) hands it its IPv4
 * addresses and is told through the callbacks it handed down when the
 * wait ends, as the resolver tells it of answers.  The context's setting
 * is read live (struct he_owner's pointer), as the HTTPS records' is, so
 * a race that needs no NAT64 costs one pointer in the request and, on a
 * dual-stack host, the route probe's cached answer.
 *
 * When a race synthesizes: its family is AF_UNSPEC (a caller who asked
 * for AF_INET gets IPv4 sockets), the setting is not off, an IPv4 address
 * may be synthesized at all (not 127/8, 0/8, multicast...: he_nat64.h),
 * the host has no IPv4 route (he_route_have_, remembered for a second),
 * and the kernel routes none of those addresses either (a VPN's IPv4
 * routes: he_route_have_to_).  A caller's own list is raced as given.
 *
 * Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).
 */
#ifndef EVHAPPY_HE_SYNTH_H_INCLUDED_
#define EVHAPPY_HE_SYNTH_H_INCLUDED_

#include "he_event.h"
#include "he_nat64_cache.h"
#include "he_resolve.h"

#include <stdint.h>
#include <string.h>
#include <netinet/in.h>

struct he_race;

/** How long a race waits for a prefix, at most: this long, and never more
    than half the race's timeout (the original error, not ETIMEDOUT, must
    end a race on a network without NAT64; a resolver that never answers
    RFC 7050 is one). */
#define HE_SYNTH_WAIT_US ((int64_t)2000000)
/** After RFC 7050 said no (or failed), how long a PREF64 listener that
    has just opened waits for a router advertisement: one without PREF64
    ends the wait at once.  A listener open for longer has heard what the
    network's routers send (RAs come minutes apart; a fresh one hears
    none of the earlier ones). */
#define HE_SYNTH_RA_WAIT_US ((int64_t)250000)
/** While waiting, the process's store is read again this often: another
    context's query or listener may have taught it a prefix. */
#define HE_SYNTH_POLL_US ((int64_t)100000)
/** The IPv4 addresses of one answer probed one by one for a route. */
#define HE_SYNTH_PROBES 8

struct he_synth_disc;

/** A context's NAT64 setting, and its discovery (made by the first race
    that needs it; he_synth_conf_clear_ closes it).  Zero: automatic. */
struct he_synth_conf {
	enum he_nat64_mode mode;
	struct he_nat64_prefix fixed;	/* HE_NAT64_FIXED */
	struct he_synth_disc *disc;
};

/** Close the listener, cancel the query (its claim goes back to the
    store), free the discovery.  Every race of the context must be gone. */
void he_synth_conf_clear_(struct he_synth_conf *c);

/* Inline first looks, so that a race whose answers hold nothing NAT64
 * could ever concern (loopback: every test and benchmark on one machine)
 * pays no call: whether list has an IPv4 address outside 0/8, 127/8 and
 * 224/3, or an IPv6 one whose u-octet is zero and whose first 96 bits
 * are not (he_nat64_list.h has the exact rules; these only let through
 * more). */
static inline int
he_synth_v4_worth_(const struct he_synth_conf *c,
    const struct evutil_addrinfo *list)
{
	const unsigned char *a;

	if (c->mode == HE_NAT64_OFF)
		return 0;
	for (; list; list = list->ai_next) {
		if (list->ai_family != AF_INET || !list->ai_addr)
			continue;
		a = (const unsigned char *)&((const struct sockaddr_in *)
		    (const void *)list->ai_addr)->sin_addr;
		if (a[0] != 127 && a[0] != 0 && a[0] < 224)
			return 1;
	}
	return 0;
}

static inline int
he_synth_v6_worth_(const struct he_synth_conf *c,
    const struct evutil_addrinfo *list)
{
	const unsigned char *a;
	uint32_t w[3];

	if (c->mode == HE_NAT64_OFF)
		return 0;
	for (; list; list = list->ai_next) {
		if (list->ai_family != AF_INET6 || !list->ai_addr)
			continue;
		a = ((const struct sockaddr_in6 *)(const void *)
		    list->ai_addr)->sin6_addr.s6_addr;
		memcpy(w, a, sizeof(w));
		if (a[8] == 0 && (w[0] | w[1] | w[2]) != 0)
			return 1;
	}
	return 0;
}

/** Whether an AF_UNSPEC race's IPv4 addresses in list must be
    synthesized, as above (the route probes are the only cost, and only
    when an address could be synthesized at all).  now: the glue's clock. */
int he_synth_needed_(const struct he_synth_conf *c,
    const struct evutil_addrinfo *list, int64_t now);

/** An AAAA answer of a race on a host with no IPv4 route: the entries a
    DNS64 resolver synthesized (under a prefix the process knows, the
    caller's or the Well-Known Prefix) become HE_AI_SYNTH, so the race
    does not try them and the local synthesis of the same A record as two
    servers.  *list is replaced by a marked copy when there is one to
    mark (the old list is then in *old for the caller to free; else *old
    is NULL).  Nothing changes on a dual-stack host, nor on ENOMEM. */
void he_synth_mark_(const struct he_synth_conf *c,
    struct evutil_addrinfo **list, struct evutil_addrinfo **old,
    int64_t now);

/* ---- one race's NAT64 ------------------------------------------------------ */

struct he_synth;

/** What a race's NAT64 tells its user (the request).  trace (NULL when
    nobody traces) runs only inside he_synth_answer_ and he_synth_take_;
    ready runs once per wait, from the loop, as the last thing its
    callback does. */
struct he_synth_events {
	/** The wait for a prefix ended, found or not: he_synth_take_ now. */
	void (*ready)(void *arg);
	/** A NAT64 trace event (kind, addr, the nat64 fields, text, error);
	    the user fills in the time. */
	void (*trace)(void *arg, struct evhappy_trace *ev);
	void *arg;
};

/** Make a race's NAT64 state in *out: c is the context's setting (read
    live), base and r where discovery runs, race the race whose addresses
    the synthesized ones must not repeat (read when they are made), limit
    the race's timeout (HE_NEVER: none).  0, or ENOMEM. */
int he_synth_new_(struct he_synth_conf *c, struct event_base *base,
    struct he_resolver *r, const struct he_race *race, int64_t limit,
    const struct he_synth_events *ev, struct he_synth **out);

/** Keep list (owned; made with he_addrinfo_new_ or copied: never the
    race's own room) until he_synth_answer_: a literal, parsed in the
    start call, waits for the race to begin. */
void he_synth_hold_(struct he_synth *s, struct evutil_addrinfo *list);

/** IPv4 addresses to synthesize (list, owned, appended to what is held;
    may be NULL), at now: 0 and *out the list to race now, synthesized
    under the prefixes known (or, when none may carry them, as they were);
    EINPROGRESS when no prefix is known yet and discovery is on its way
    (ready runs when the wait ends); ENOMEM (*out NULL, the addresses
    freed).  The trace tells the prefixes chosen and each synthesis. */
int he_synth_answer_(struct he_synth *s, int64_t now,
    struct evutil_addrinfo *list, struct evutil_addrinfo **out);

/** IPv4 addresses (list, owned) synthesized now under the prefixes known,
    without waiting for any: an HTTPS endpoint's target's A answer, which
    its race does not hold back.  0 and *out (list itself when no prefix
    is known), or ENOMEM (*out NULL, list freed).  Traced as
    he_synth_answer_. */
int he_synth_now_(struct he_synth *s, int64_t now,
    struct evutil_addrinfo *list, struct evutil_addrinfo **out);

/** After ready: the list to race (synthesized, or when no prefix was
    found, the IPv4 addresses as they were: they fail with the original
    error).  0, or ENOMEM (*out NULL). */
int he_synth_take_(struct he_synth *s, struct evutil_addrinfo **out);

/** The prefix a synthesized entry of this race was made with, and where
    it came from; NULL when none (not synthesized here, or s NULL). */
const struct he_nat64_known *he_synth_known_of_(const struct he_synth *s,
    const struct evutil_addrinfo *ai);

/** Stop waiting (no ready), free what is held; s stays readable. */
void he_synth_cancel_(struct he_synth *s);

/** Cancel and free; NULL is ignored. */
void he_synth_free_(struct he_synth *s);

#endif
