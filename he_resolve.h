/*
 * Name resolution for races (he_resolve.c): one family's lookup at a time,
 * through evdns or the system resolver on a worker pool, answered through a
 * callback.  An adapter: it knows nothing of races or requests.
 */
#ifndef EVHAPPY_HE_RESOLVE_H_INCLUDED_
#define EVHAPPY_HE_RESOLVE_H_INCLUDED_

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

struct he_mailbox;	/* finished system lookups and their wake-up fd */
struct he_dnsq_resolver;	/* c-ares on the loop (he_dnsq.h) */
struct he_dnsq_ops;
struct he_dnsq_sys_opts;

/** A context's way to resolve: its evdns_base, or (dns NULL) the system
    resolver, whose per-event_base mailbox is attached on the first
    lookup.  Embedded in the context; all zero but base and dns at first. */
struct he_resolver {
	struct event_base *base;
	struct evdns_base *dns;
	struct he_mailbox *mailbox;
	struct he_dnsq_resolver *cares;	/* raw queries of an evdns context */
};

/** A lookup's answer for family af (the one asked): res (borrowed: valid
    during the call; may hold entries of other families) or eai_error != 0
    (an EVUTIL_EAI_* code). */
typedef void (*he_answer_fn)(void *arg, int af,
    const struct evutil_addrinfo *res, int eai_error);

struct he_query;

/** Ask for host's addresses of family af (AF_INET6 or AF_INET).  after:
    the same race's AAAA query, whose lookup the system resolver hands to
    getaddrinfo() first (RFC 8305 section 3), or NULL.  0, and then cb
    runs exactly once unless he_query_cancel_() comes first: later, from
    the loop, or (evdns answering from its hosts table) before this
    returns, and then *out is NULL; else *out is the query.  Or the errno
    that kept it from starting (EMFILE, ENFILE, EAGAIN, ENOMEM), and cb
    never runs. */
int he_query_start_(struct he_resolver *r, const char *host, int af,
    const struct he_query *after, he_answer_fn cb, void *arg,
    struct he_query **out);

/** Cancel a query; its callback does not run after this. */
void he_query_cancel_(struct he_query *q);

/** How long a raw query (an HTTPS record) of an evdns context waits for
    its server, and how often it asks: evdns keeps its own settings to
    itself, and the race's timeout bounds the whole anyway. */
#define HE_RAW_TIMEOUT_MS 1000
#define HE_RAW_TRIES 2

/** The transport for raw queries (HTTPS records, he_svcb_lookup_) of this
    resolver: c-ares with the evdns_base's servers (made on first use), or
    res_nquery on the system resolver's pool.  0, or ENOSYS (an evdns
    context in a build without c-ares) or ENOMEM. */
int he_resolver_raw_(struct he_resolver *r, const struct he_dnsq_ops **ops,
    void **ctx);

/** Tests: the system resolver's raw queries ask these servers instead of
    resolv.conf's (NULL restores them). */
void he_resolve_set_raw_opts_(const struct he_dnsq_sys_opts *opts);

/** Release the resolver's system-resolver mailbox (its wake-up event now,
    its fd once no worker holds it); call after every query was answered
    or cancelled. */
void he_resolver_release_(struct he_resolver *r);

/** The blocking lookup the system resolver's threads run; tests replace it
    (NULL restores getaddrinfo) to make lookups slow.  Results are freed
    with freeaddrinfo(). */
typedef int (*he_gai_fn)(const char *node, const char *service,
    const struct evutil_addrinfo *hints, struct evutil_addrinfo **res);
void he_resolve_set_gai_hook_(he_gai_fn fn);

/** The system resolver's pool: at most HE_POOL_MAX_THREADS workers in the
    process, started while lookups wait and none is idle; one event_base's
    lookups (all its contexts') take at most HE_POOL_PER_BASE of them at
    once, and bases with lookups waiting are served in turn.  So a base
    whose names hang delays another base's lookups only when
    HE_POOL_MAX_THREADS / HE_POOL_PER_BASE bases each have that many
    lookups hanging. */
#define HE_POOL_MAX_THREADS 32
#define HE_POOL_PER_BASE 8

/** What the system resolver's thread pool holds right now (for tests). */
struct he_pool_stats {
	int threads;	/* workers alive */
	int idle;	/* of them, waiting for work */
	int queued;	/* lookups waiting for a worker */
};
void he_resolve_pool_stats_(struct he_pool_stats *st);

#endif
