/*
 * NAT64, the RFC 7050 query on an evdns_base: the AAAA records of
 * ipv4only.arpa, read with he_nat64_rfc7050_.  See he_nat64.h.
 *
 * evdns_base_resolve_ipv6, not evdns_getaddrinfo: it reports the answer's
 * TTL (the smallest of the records), which is how long the prefix holds,
 * and it never looks at the hosts file, where ipv4only.arpa has no
 * business.  The system resolver (getaddrinfo on he_resolve.c's pool)
 * reports no TTL: a prefix found that way is kept HE_NAT64_GAI_LIFETIME_S
 * (he_nat64_gai_answer_ reads its answer).  glibc offers nothing better
 * short of res_nquery(), which would skip nsswitch and cost -lresolv;
 * and a caching stub (nscd, systemd-resolved) in between may hand out an
 * answer up to its own TTL old, so a changed prefix is seen up to that
 * much later.
 *
 * Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).
 */
#include "he_internal.h"
#include "he_nat64_query.h"

#include <event2/dns.h>

#include <errno.h>
#include <netdb.h>
#include <stdlib.h>

struct he_nat64_query {
	struct evdns_request *req;
	he_nat64_query_cb cb;		/* NULL once cancelled */
	void *arg;
};

/* evdns calls this exactly once per request, from the loop: with the
 * answer, or DNS_ERR_CANCEL after evdns_cancel_request, or
 * DNS_ERR_SHUTDOWN when the base is freed with its requests failed. */
static void
answer_cb(int result, char type, int count, int ttl, void *addresses,
    void *arg)
{
	struct he_nat64_query *q = arg;
	he_nat64_query_cb cb = q->cb;
	void *cbarg = q->arg;
	struct he_nat64_prefix p[HE_NAT64_MAX_PREFIXES];
	enum he_nat64_query_result r = HE_NAT64_Q_FAILED;
	int n = 0;

	free(q);
	if (!cb)
		return;
	if (result == DNS_ERR_NONE && type == DNS_IPv6_AAAA && count > 0 &&
	    addresses) {
		n = he_nat64_rfc7050_((const unsigned char (*)[16])addresses,
		    count, p, HE_NAT64_MAX_PREFIXES);
		r = HE_NAT64_Q_ANSWER;
	} else if (result == DNS_ERR_NONE || result == DNS_ERR_NOTEXIST ||
	    result == DNS_ERR_NODATA) {
		/* The name exists without AAAA, or not at all: no DNS64. */
		r = HE_NAT64_Q_ANSWER;
	}
	cb(r, p, n, he_nat64_dns_lifetime_(ttl > 0 ? (uint32_t)ttl : 0),
	    cbarg);
}

int
he_nat64_query_start_(struct evdns_base *dns, he_nat64_query_cb cb,
    void *arg, struct he_nat64_query **out)
{
	struct he_nat64_query *q;

	*out = NULL;
	if (!dns || !cb)
		return EINVAL;
	if (!(q = calloc(1, sizeof(*q))))
		return ENOMEM;
	q->cb = cb;
	q->arg = arg;
	/* No search list: the name is absolute (RFC 7050 section 3).  evdns
	   fails a request only for want of memory. */
	q->req = evdns_base_resolve_ipv6(dns, HE_NAT64_WKN,
	    DNS_QUERY_NO_SEARCH, answer_cb, q);
	if (!q->req) {
		free(q);
		return ENOMEM;
	}
	*out = q;
	return 0;
}

void
he_nat64_query_cancel_(struct he_nat64_query *q)
{
	if (!q || !q->cb)
		return;
	q->cb = NULL;
	/* answer_cb still runs once (DNS_ERR_CANCEL, or the answer when it
	   was already on its way) and frees q. */
	evdns_cancel_request(NULL, q->req);
}

/* The name does not exist, or has no AAAA: an answer, no DNS64.  libevent
 * has its own numbers where the system lacks a code. */
static int
no_such_record(int e)
{
	return e == EVUTIL_EAI_NONAME || e == EVUTIL_EAI_NODATA ||
	    e == EVUTIL_EAI_ADDRFAMILY
#ifdef EAI_NODATA
	    || e == EAI_NODATA
#endif
#ifdef EAI_ADDRFAMILY
	    || e == EAI_ADDRFAMILY
#endif
	    ;
}

enum he_nat64_query_result
he_nat64_gai_answer_(int eai_error, const struct evutil_addrinfo *res,
    struct he_nat64_prefix *out, int max, int *n, int64_t *lifetime)
{
	*n = 0;
	*lifetime = (int64_t)HE_NAT64_GAI_LIFETIME_S * 1000000;
	if (eai_error == 0) {
		*n = he_nat64_rfc7050_ai_(res, out, max);
		return HE_NAT64_Q_ANSWER;
	}
	return no_such_record(eai_error) ? HE_NAT64_Q_ANSWER :
	    HE_NAT64_Q_FAILED;
}

void
he_nat64_query_apply_(struct he_nat64_cache *c,
    enum he_nat64_query_result result, const struct he_nat64_prefix *p, int n,
    int64_t lifetime, int64_t now)
{
	if (result == HE_NAT64_Q_ANSWER)
		he_nat64_cache_dns_(c, p, n, lifetime, now);
	else
		he_nat64_cache_dns_failed_(c, now);
}
