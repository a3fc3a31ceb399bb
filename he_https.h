/*
 * One race's HTTPS record (RFC 9460; the Happy Eyeballs v3 draft): its
 * lookup over the resolver's raw transport, the endpoints it names and
 * their groups in the race (1, 2, ... in the record's order; an AliasMode
 * chain's final name after them), their address hints as race entries,
 * the A/AAAA queries of their targets, and which endpoint a winning
 * address belongs to.
 *
 * It knows no race: it gives lists whose entries carry their group, port
 * and HE_AI_HINT, and tells its user (the request, he_request.c) through
 * the callbacks it was handed, as the resolver does.
 *
 * Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).
 */
#ifndef EVHAPPY_HE_HTTPS_H_INCLUDED_
#define EVHAPPY_HE_HTTPS_H_INCLUDED_

#include "he_event.h"
#include "he_resolve.h"
#include "he_svcb.h"

/** Target names asked besides the host: a record naming more still has
    every endpoint raced, those of further names on their hints alone. */
#define HE_HTTPS_TARGETS 4

/** The context's HTTPS-record settings and endpoint hook, read live by
    its requests (so they cost a request nothing when unused). */
struct he_https_conf {
	int on;				/* ask the HTTPS record */
	unsigned char *alpn;		/* wire form, or NULL: "http/1.1" */
	size_t alpn_len;
	evhappy_endpoint_cb endpoint_cb;
	void *endpoint_arg;
};

struct he_https;

/** What the lookup tells its user; each runs on a loop turn of its own
    (a target's may run inside he_https_ask_targets_ when evdns answers
    from its hosts table). */
struct he_https_events {
	/** The record's lookup ended, whatever it said: he_https_answer_()
	    and the functions below read it now. */
	void (*record)(void *arg);
	/** Target name's answer for af: list (owned, may be NULL), a copy
	    for each endpoint of `groups` (bit g-1 for group g) at its port
	    and in its group; or eai_error. */
	void (*target)(void *arg, const char *name, int af, unsigned groups,
	    struct evutil_addrinfo *list, int eai_error);
	void *arg;
};

/**
  Ask host:port's HTTPS record.  family (AF_UNSPEC, AF_INET, AF_INET6)
  limits the hints and the targets' queries.  0 and *out; or EINVAL (an IP
  literal, a bad name), ENOSYS (an evdns context in a build without
  c-ares), ENOMEM or the transport's errno, and ev never runs.
 */
int he_https_start_(struct he_resolver *r, const char *host, int port,
    int family, const struct he_https_conf *conf,
    const struct he_https_events *ev, struct he_https **out);

/** The name asked first (the host, or "_PORT._https.HOST"). */
const char *he_https_qname_(const struct he_https *h);

/** Once answered: the final answer of the chain. */
const struct he_svcb_answer *he_https_answer_(const struct he_https *h);

/** The rules the answer was read with (for he_svcb_skip_text_). */
const struct he_svcb_prefs *he_https_prefs_(const struct he_https *h);

/** How many endpoints (groups 1 .. n) the answer gave. */
int he_https_nendpoints_(const struct he_https *h);

/** Endpoint of group g (1 .. n); NULL otherwise.  Valid while h is. */
const struct evhappy_endpoint *he_https_endpoint_(const struct he_https *h,
    unsigned g);

/** The endpoint an address at port in group belongs to: its group's, or
    for the host's own (HE_GROUP_HOST) an endpoint that is the host at
    that port; NULL when none. */
const struct evhappy_endpoint *he_https_endpoint_of_(
    const struct he_https *h, unsigned group, int port);

/** The endpoints whose target is the host itself, as a mask (bit g-1 for
    group g).  Their addresses are the host's answers (he_https_host_). */
unsigned he_https_host_groups_(const struct he_https *h);

/** A host's answer for the race (entries at the host's port, group
    HE_GROUP_HOST), given to the host's endpoints: the first at the
    host's port takes the entries into its group, the others get copies
    at their ports, appended.  0, or ENOMEM (*list unchanged). */
int he_https_host_(const struct he_https *h, int port,
    struct evutil_addrinfo **list);

/** The hints of every endpoint, at its port, in its group, HE_AI_HINT; a
    host endpoint's of a family in skip_fams (bit 0 IPv6, bit 1 IPv4: the
    host's answer came) are left out.  0 and *out (maybe NULL), or
    ENOMEM. */
int he_https_hints_(const struct he_https *h, unsigned skip_fams,
    struct evutil_addrinfo **out);

/** The target names to ask (0 .. HE_HTTPS_TARGETS), each for every
    family allowed (one answer per family will come). */
int he_https_ntargets_(const struct he_https *h);
const char *he_https_target_name_(const struct he_https *h, int i);
/** The endpoints target i serves (bit g-1 for group g). */
unsigned he_https_target_groups_(const struct he_https *h, int i);

/** Start the targets' queries (AAAA before A); one that cannot start
    is answered at once with EVUTIL_EAI_SYSTEM. */
void he_https_ask_targets_(struct he_https *h);

/** Cancel what is out (lookup, queries); what was read stays. */
void he_https_cancel_(struct he_https *h);

/** Cancel and free.  NULL is ignored. */
void he_https_free_(struct he_https *h);

#endif
