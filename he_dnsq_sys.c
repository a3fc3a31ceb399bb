/*
 * The blocking HTTPS/SVCB query for the system resolver's worker threads
 * (res_nquery), the statuses' names, and what stands in for the c-ares
 * adapter in a build without c-ares.  See he_dnsq.h.
 *
 * Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include "he_dnsq.h"

#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>

const char *
he_dnsq_status_name_(enum he_dnsq_status st)
{
	switch (st) {
	case HE_DNSQ_ANSWER: return "answer";
	case HE_DNSQ_NODATA: return "no data";
	case HE_DNSQ_TIMEOUT: return "timeout";
	case HE_DNSQ_FAILED: return "failed";
	}
	return "?";
}

enum he_dnsq_status
he_dnsq_blocking_(const char *name, int type,
    const struct he_dnsq_sys_opts *opts, unsigned char **msg, size_t *len)
{
	struct __res_state st;
	unsigned char *buf = NULL;
	enum he_dnsq_status rc = HE_DNSQ_FAILED;
	int n, i;

	if (msg)
		*msg = NULL;
	if (len)
		*len = 0;
	if (!name || !msg || !len || type <= 0 || type > 65535)
		return HE_DNSQ_FAILED;
	/* a state of our own: res_nquery on it is safe on any thread */
	memset(&st, 0, sizeof(st));
	if (res_ninit(&st) < 0)
		return HE_DNSQ_FAILED;
	if (opts && opts->nservers > 0) {
		st.nscount = opts->nservers > HE_DNSQ_SYS_MAX_SERVERS ?
		    HE_DNSQ_SYS_MAX_SERVERS : opts->nservers;
		for (i = 0; i < st.nscount; i++)
			st.nsaddr_list[i] = opts->servers[i];
	}
	if (opts && opts->timeout_s > 0)
		st.retrans = opts->timeout_s;
	if (opts && opts->tries > 0)
		st.retry = opts->tries;
	if (!(buf = malloc(NS_MAXMSG)))
		goto end;
	/* res_nquery asks the name as given (res_nsearch would add the
	   search list) */
	errno = 0;
	n = res_nquery(&st, name, ns_c_in, type, buf, NS_MAXMSG);
	if (n < 0) {
		/* h_errno: HOST_NOT_FOUND (NXDOMAIN) and NO_DATA are
		   answers with nothing in them; TRY_AGAIN is SERVFAIL or
		   no server answering (then res_nsend left ETIMEDOUT),
		   NO_RECOVERY a refusal */
		switch (st.res_h_errno) {
		case HOST_NOT_FOUND:
		case NO_DATA:
			rc = HE_DNSQ_NODATA;
			break;
		case TRY_AGAIN:
			rc = errno == ETIMEDOUT ? HE_DNSQ_TIMEOUT :
			    HE_DNSQ_FAILED;
			break;
		default:
			rc = HE_DNSQ_FAILED;
		}
		goto end;
	}
	if (n == 0 || n > NS_MAXMSG)
		goto end;
	*msg = buf;
	*len = (size_t)n;
	buf = NULL;
	rc = HE_DNSQ_ANSWER;
end:
	free(buf);
	res_nclose(&st);
	return rc;
}

#ifndef HAVE_CARES
/* Without c-ares, contexts with an evdns_base have no way to ask on the
   loop: the race goes on without HTTPS records (evhappy --version says
   so). */
int
he_dnsq_available_(void)
{
	return 0;
}

/* What making a resolver or starting a query says here. */
static void *
unavailable(void)
{
	errno = ENOSYS;
	return NULL;
}

struct he_dnsq_resolver *
he_dnsq_resolver_new_(struct event_base *base, struct evdns_base *dns,
    int timeout_ms, int tries)
{
	(void)base;
	(void)dns;
	(void)timeout_ms;
	(void)tries;
	return unavailable();
}

void
he_dnsq_resolver_free_(struct he_dnsq_resolver *r)
{
	(void)r;
}

struct he_dnsq *
he_dnsq_start_(struct he_dnsq_resolver *r, const char *name, int type,
    he_dnsq_cb cb, void *arg)
{
	(void)r;
	(void)name;
	(void)type;
	(void)cb;
	(void)arg;
	return unavailable();
}

void
he_dnsq_cancel_(struct he_dnsq *q)
{
	(void)q;
}

int
he_dnsq_pending_(const struct he_dnsq_resolver *r)
{
	(void)r;
	return 0;
}

static void *
ops_start(void *ctx, const char *name, int type, he_dnsq_cb cb, void *arg)
{
	return he_dnsq_start_(ctx, name, type, cb, arg);
}

static void
ops_cancel(void *query)
{
	(void)query;
}

const struct he_dnsq_ops he_dnsq_cares_ops_ = { ops_start, ops_cancel };
#endif
