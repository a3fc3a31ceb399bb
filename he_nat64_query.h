/*
 * The RFC 7050 query (he_nat64_query.c, adapters layer): the AAAA records
 * of ipv4only.arpa on an evdns_base, read with he_nat64_rfc7050_; and what
 * the same lookup on the system resolver means.
 */
#ifndef EVHAPPY_HE_NAT64_QUERY_H_INCLUDED_
#define EVHAPPY_HE_NAT64_QUERY_H_INCLUDED_

#include "he_nat64_cache.h"

struct evdns_base;

/** How a query ended. */
enum he_nat64_query_result {
	HE_NAT64_Q_ANSWER,	/* an answer: n prefixes (0: no DNS64) */
	HE_NAT64_Q_FAILED	/* no usable answer (timeout, SERVFAIL...) */
};
typedef void (*he_nat64_query_cb)(enum he_nat64_query_result result,
    const struct he_nat64_prefix *p, int n, int64_t lifetime, void *arg);

struct he_nat64_query;

/** Ask dns for the AAAA records of ipv4only.arpa (no search list), the
    handle in *out.  cb runs once, later, from the loop, with the prefixes
    he_nat64_rfc7050_ finds and their lifetime in microseconds
    (he_nat64_dns_lifetime_ of the smallest TTL).  0, or EINVAL / ENOMEM
    (*out NULL; cb never runs).  Cancel it before dns is freed with
    evdns_base_free(dns, 0). */
int he_nat64_query_start_(struct evdns_base *dns, he_nat64_query_cb cb,
    void *arg, struct he_nat64_query **out);
/** Cancel: cb will not run.  Its memory goes once evdns lets go of it. */
void he_nat64_query_cancel_(struct he_nat64_query *q);

/** The same query on the system resolver: a lookup of HE_NAT64_WKN for
    AF_INET6 on he_resolve.c's pool (he_query_start_ with a resolver
    without evdns) hands its list and EVUTIL_EAI_* error here: the outcome
    as a query callback would get it, *n prefixes in out (at most max) and
    *lifetime HE_NAT64_GAI_LIFETIME_S, since getaddrinfo tells no TTL.
    NONAME / NODATA / ADDRFAMILY mean an answer without DNS64; other
    errors (AGAIN: no answer in time) a failure. */
enum he_nat64_query_result he_nat64_gai_answer_(int eai_error,
    const struct evutil_addrinfo *res, struct he_nat64_prefix *out, int max,
    int *n, int64_t *lifetime);

/** Feed a query's outcome to c at now (he_nat64_cache_dns_ or
    he_nat64_cache_dns_failed_): the usual body of a query callback. */
void he_nat64_query_apply_(struct he_nat64_cache *c,
    enum he_nat64_query_result result, const struct he_nat64_prefix *p, int n,
    int64_t lifetime, int64_t now);

#endif
