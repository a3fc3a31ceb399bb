/*
 * An HTTPS (or SVCB) resolution over any transport: ask, parse, follow
 * AliasMode records to the end of the chain.  See he_dnsq.h.
 *
 * Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include "he_dnsq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct he_svcb_lookup {
	const struct he_dnsq_ops *ops;
	void *ctx;
	void *query;		/* the transport's, outstanding */
	struct he_svcb_chain chain;
	char first[HE_SVCB_HOST_MAX];	/* the name asked first */
	struct he_svcb_prefs prefs;	/* alpn points into alpn below */
	unsigned char *alpn;
	he_svcb_lookup_cb cb;
	void *arg;
};

static void
lookup_free(struct he_svcb_lookup *l)
{
	free(l->alpn);
	free(l);
}

static void
step_cb(enum he_dnsq_status st, const unsigned char *msg, size_t len,
    void *arg)
{
	struct he_svcb_lookup *l = arg;
	struct he_svcb_answer a;

	l->query = NULL;
	memset(&a, 0, sizeof(a));
	switch (st) {
	case HE_DNSQ_ANSWER:
		if (he_svcb_parse_(msg, len, l->chain.qname, l->chain.qtype,
		    &l->prefs, &a) < 0)
			he_svcb_answer_set_(&a, HE_SVCB_FAILED, "no memory");
		break;
	case HE_DNSQ_NODATA:
		he_svcb_answer_set_(&a, HE_SVCB_EMPTY, "no record");
		break;
	case HE_DNSQ_TIMEOUT:
		he_svcb_answer_set_(&a, HE_SVCB_FAILED, "no answer in time");
		break;
	case HE_DNSQ_FAILED:
	default:
		he_svcb_answer_set_(&a, HE_SVCB_FAILED, "the query failed");
		break;
	}
	if (he_svcb_chain_next_(&l->chain, &a) == HE_SVCB_ASK) {
		he_svcb_answer_clear_(&a);
		l->query = l->ops->start(l->ctx, l->chain.qname,
		    l->chain.qtype, step_cb, l);
		if (l->query)
			return;
		he_svcb_answer_set_(&a, HE_SVCB_FAILED,
		    "the alias could not be asked");
	}
	l->cb(&a, &l->chain, l->arg);
	he_svcb_answer_clear_(&a);
	lookup_free(l);
}

struct he_svcb_lookup *
he_svcb_lookup_(const struct he_dnsq_ops *ops, void *ctx, const char *host,
    int port, int qtype, const struct he_svcb_prefs *prefs,
    he_svcb_lookup_cb cb, void *arg)
{
	struct he_svcb_lookup *l;
	char qname[HE_SVCB_HOST_MAX];
	const char *first = host;

	if (!ops || !host || !prefs || !cb ||
	    (qtype != HE_DNS_TYPE_HTTPS && qtype != HE_DNS_TYPE_SVCB)) {
		errno = EINVAL;
		return NULL;
	}
	if (qtype == HE_DNS_TYPE_HTTPS) {
		if (he_svcb_qname_(host, port, qname, sizeof(qname)) < 0)
			return NULL;
		first = qname;
	}
	if (!(l = calloc(1, sizeof(*l))))
		return NULL;
	if (he_svcb_chain_init_(&l->chain, first, qtype) < 0)
		goto fail;
	memcpy(l->first, l->chain.qname, sizeof(l->first));
	l->ops = ops;
	l->ctx = ctx;
	l->cb = cb;
	l->arg = arg;
	l->prefs = *prefs;
	if (prefs->alpn) {
		/* an empty list stays empty (nothing is usable), not NULL
		   (which means http/1.1) */
		l->prefs.alpn_len = prefs->alpn_len;
		if (!(l->alpn = malloc(prefs->alpn_len + 1)))
			goto fail;
		memcpy(l->alpn, prefs->alpn, prefs->alpn_len);
		l->prefs.alpn = l->alpn;
	}
	l->query = ops->start(ctx, l->chain.qname, qtype, step_cb, l);
	if (!l->query)
		goto fail;
	return l;
fail:
	{
		int e = errno;
		lookup_free(l);
		errno = e;
	}
	return NULL;
}

const char *
he_svcb_lookup_first_(const struct he_svcb_lookup *l)
{
	return l->first;
}

void
he_svcb_lookup_cancel_(struct he_svcb_lookup *l)
{
	if (!l)
		return;
	if (l->query)
		l->ops->cancel(l->query);
	lookup_free(l);
}
