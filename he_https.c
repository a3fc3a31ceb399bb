/*
 * One race's HTTPS record: lookup, endpoints, hints, targets.  See
 * he_https.h.
 *
 * Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).
 */
#include "he_internal.h"
#include "he_https.h"
#include "he_addrinfo.h"
#include "he_dnsq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* One target name and the endpoints (groups) that use it. */
struct he_https_target {
	struct he_https *h;
	char *name;
	unsigned groups;		/* bit g-1 for group g */
	struct he_query *q[2];		/* AAAA, A: outstanding */
};

struct he_https {
	struct he_resolver *resolver;
	struct he_svcb_lookup *lookup;	/* outstanding */
	struct he_https_events ev;
	int family, port;
	char *host;
	char qname[HE_SVCB_HOST_MAX];
	struct he_svcb_prefs prefs;	/* alpn points at our copy */
	unsigned char *alpn;
	struct he_svcb_answer answer;
	char *alias;			/* the chain's final name, or NULL */
	int neps;
	struct evhappy_endpoint eps[HE_SVCB_MAX_ENDPOINTS + 1];
	unsigned host_groups;
	int ntargets;
	struct he_https_target targets[HE_HTTPS_TARGETS];
};

#define GROUP_BIT(g) (1u << ((g) - 1))

/* Two host names the same, letter case and a final dot aside. */
static int
name_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la && a[la - 1] == '.')
		la--;
	if (lb && b[lb - 1] == '.')
		lb--;
	return la == lb && evutil_ascii_strncasecmp(a, b, la) == 0;
}

static int
fam_allowed(const struct he_https *h, int af)
{
	return h->family == AF_UNSPEC || h->family == af;
}

/* ---- the endpoints ------------------------------------------------------ */

static void
view_endpoint(struct evhappy_endpoint *v, const struct he_svcb_endpoint *e)
{
	v->target = e->target;
	v->port = e->port;
	v->priority = e->priority;
	v->alpn = e->alpn;
	v->alpn_len = e->alpn_len;
	v->ech = e->ech;
	v->ech_len = e->ech_len;
}

/* Group g's target is asked with the others of its name, unless it is
 * the host (whose answers serve it) or HE_HTTPS_TARGETS names are taken. */
static void
add_target(struct he_https *h, unsigned g)
{
	const char *name = h->eps[g - 1].target;
	int i;

	if (name_eq(name, h->host)) {
		h->host_groups |= GROUP_BIT(g);
		return;
	}
	for (i = 0; i < h->ntargets; i++) {
		if (name_eq(h->targets[i].name, name)) {
			h->targets[i].groups |= GROUP_BIT(g);
			return;
		}
	}
	if (h->ntargets == HE_HTTPS_TARGETS ||
	    !(h->targets[i].name = strdup(name)))
		return;		/* raced on its hints alone */
	h->targets[i].h = h;
	h->targets[i].groups = GROUP_BIT(g);
	h->ntargets++;
}

/* The answer's endpoints in their order, then (RFC 9460 section 3) the
 * name an AliasMode chain ended at, at the authority's port. */
static void
read_endpoints(struct he_https *h, const struct he_svcb_chain *chain)
{
	const struct he_svcb_answer *a = &h->answer;
	unsigned g;

	if (a->outcome == HE_SVCB_SERVICE)
		for (; h->neps < a->nendpoints; h->neps++)
			view_endpoint(&h->eps[h->neps],
			    &a->endpoints[h->neps]);
	if (chain->naliases > 0 && (h->alias = strdup(chain->qname))) {
		h->eps[h->neps].target = h->alias;
		h->eps[h->neps].port = h->port;
		h->neps++;
	}
	for (g = 1; g <= (unsigned)h->neps; g++)
		add_target(h, g);
}

static void
lookup_done(struct he_svcb_answer *answer, const struct he_svcb_chain *chain,
    void *arg)
{
	struct he_https *h = arg;

	h->lookup = NULL;	/* it frees itself when we return */
	he_svcb_answer_move_(&h->answer, answer);
	read_endpoints(h, chain);
	h->ev.record(h->ev.arg);
}

int
he_https_start_(struct he_resolver *r, const char *host, int port,
    int family, const struct he_https_conf *conf,
    const struct he_https_events *ev, struct he_https **out)
{
	const struct he_dnsq_ops *ops;
	struct he_https *h;
	char qname[HE_SVCB_HOST_MAX];
	void *ctx;
	int err;

	*out = NULL;
	if (he_svcb_qname_(host, port, qname, sizeof(qname)) < 0)
		return errno;	/* EINVAL (a literal), ENAMETOOLONG */
	if ((err = he_resolver_raw_(r, &ops, &ctx)) != 0)
		return err;
	if (!(h = calloc(1, sizeof(*h))))
		return ENOMEM;
	h->resolver = r;
	h->ev = *ev;
	h->family = family;
	h->port = port;
	h->prefs.port = port;
	h->prefs.flags = conf->endpoint_cb ? HE_SVCB_USES_ECH : 0;
	err = ENOMEM;
	if (!(h->host = strdup(host)) || (conf->alpn &&
	    !(h->alpn = malloc(conf->alpn_len + 1))))
		goto fail;
	if (h->alpn) {
		memcpy(h->alpn, conf->alpn, conf->alpn_len);
		h->prefs.alpn = h->alpn;
		h->prefs.alpn_len = conf->alpn_len;
	}
	memcpy(h->qname, qname, sizeof(qname));
	if (!(h->lookup = he_svcb_lookup_(ops, ctx, host, port,
	    HE_DNS_TYPE_HTTPS, &h->prefs, lookup_done, h))) {
		err = errno ? errno : ENOMEM;
		goto fail;
	}
	*out = h;
	return 0;
fail:
	he_https_free_(h);
	return err;
}

const char *
he_https_qname_(const struct he_https *h)
{
	return h->qname;
}

const struct he_svcb_answer *
he_https_answer_(const struct he_https *h)
{
	return &h->answer;
}

const struct he_svcb_prefs *
he_https_prefs_(const struct he_https *h)
{
	return &h->prefs;
}

int
he_https_nendpoints_(const struct he_https *h)
{
	return h->neps;
}

const struct evhappy_endpoint *
he_https_endpoint_(const struct he_https *h, unsigned g)
{
	return g >= 1 && g <= (unsigned)h->neps ? &h->eps[g - 1] : NULL;
}

const struct evhappy_endpoint *
he_https_endpoint_of_(const struct he_https *h, unsigned group, int port)
{
	unsigned g;

	if (group != HE_GROUP_HOST)
		return he_https_endpoint_(h, group);
	for (g = 1; g <= (unsigned)h->neps; g++)
		if ((h->host_groups & GROUP_BIT(g)) &&
		    h->eps[g - 1].port == port)
			return &h->eps[g - 1];
	return NULL;
}

unsigned
he_https_host_groups_(const struct he_https *h)
{
	return h->host_groups;
}

/* ---- the addresses ------------------------------------------------------ */

/* A copy of list at group g's port, in group g. */
static int
copy_for(const struct he_https *h, unsigned g,
    const struct evutil_addrinfo *list, struct evutil_addrinfo **out)
{
	int err = he_addrinfo_dup_(list, out);

	if (!err) {
		he_addrinfo_set_port_(*out, h->eps[g - 1].port);
		he_addrinfo_set_group_(*out, g);
	}
	return err;
}

/* Copies of list for each group of `groups` except `taker`, at their
 * ports, in *out. */
static int
copies_for(const struct he_https *h, unsigned groups, unsigned taker,
    const struct evutil_addrinfo *list, struct evutil_addrinfo **out)
{
	struct evutil_addrinfo *c;
	unsigned g;
	int err;

	*out = NULL;
	for (g = 1; g <= (unsigned)h->neps; g++) {
		if (!(groups & GROUP_BIT(g)) || g == taker)
			continue;
		if ((err = copy_for(h, g, list, &c)) != 0) {
			evhappy_addrinfo_free(*out);
			*out = NULL;
			return err;
		}
		*out = he_addrinfo_concat_(*out, c);
	}
	return 0;
}

int
he_https_host_(const struct he_https *h, int port,
    struct evutil_addrinfo **list)
{
	struct evutil_addrinfo *extra;
	unsigned g, taker = 0;
	int err;

	for (g = 1; g <= (unsigned)h->neps && !taker; g++)
		if ((h->host_groups & GROUP_BIT(g)) &&
		    h->eps[g - 1].port == port)
			taker = g;
	if ((err = copies_for(h, h->host_groups, taker, *list, &extra)) != 0)
		return err;
	if (taker)
		he_addrinfo_set_group_(*list, taker);
	*list = he_addrinfo_concat_(*list, extra);
	return 0;
}

/* One hint as a race entry. */
static int
hint_entry(const void *addr, int af, int port, unsigned g,
    struct evutil_addrinfo **out)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)&ss;
	ev_socklen_t len;
	int err;

	memset(&ss, 0, sizeof(ss));
	if (af == AF_INET6) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((unsigned short)port);
		memcpy(&sin6->sin6_addr, addr, sizeof(sin6->sin6_addr));
		len = sizeof(*sin6);
	} else {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((unsigned short)port);
		memcpy(&sin->sin_addr, addr, sizeof(sin->sin_addr));
		len = sizeof(*sin);
	}
	if ((err = he_addrinfo_new_((struct sockaddr *)&ss, len, out)) != 0)
		return err;
	HE_AI_META(*out)->group = (uint16_t)g;
	HE_AI_META(*out)->flags |= HE_AI_HINT;
	return 0;
}

/* Group g's hints of family af, appended at *tail. */
static int
endpoint_hints(const struct he_https *h, unsigned g, int af,
    struct evutil_addrinfo ***tail)
{
	const struct he_svcb_endpoint *e = &h->answer.endpoints[g - 1];
	int i, n = af == AF_INET6 ? e->nv6 : e->nv4, err;

	for (i = 0; i < n; i++) {
		if ((err = hint_entry(af == AF_INET6 ? (const void *)&e->v6[i] :
		    (const void *)&e->v4[i], af, e->port, g, *tail)) != 0)
			return err;
		*tail = &(**tail)->ai_next;
	}
	return 0;
}

int
he_https_hints_(const struct he_https *h, unsigned skip_fams,
    struct evutil_addrinfo **out)
{
	struct evutil_addrinfo **tail = out;
	unsigned g;
	int err = 0, host;

	*out = NULL;
	if (h->answer.outcome != HE_SVCB_SERVICE)
		return 0;
	for (g = 1; g <= (unsigned)h->answer.nendpoints && !err; g++) {
		host = (h->host_groups & GROUP_BIT(g)) != 0;
		if (fam_allowed(h, AF_INET6) && !(host && (skip_fams & 1)))
			err = endpoint_hints(h, g, AF_INET6, &tail);
		if (!err && fam_allowed(h, AF_INET) &&
		    !(host && (skip_fams & 2)))
			err = endpoint_hints(h, g, AF_INET, &tail);
	}
	if (err) {
		evhappy_addrinfo_free(*out);
		*out = NULL;
	}
	return err;
}

/* ---- the targets' queries ----------------------------------------------- */

int
he_https_ntargets_(const struct he_https *h)
{
	return h->ntargets;
}

const char *
he_https_target_name_(const struct he_https *h, int i)
{
	return i >= 0 && i < h->ntargets ? h->targets[i].name : NULL;
}

unsigned
he_https_target_groups_(const struct he_https *h, int i)
{
	return i >= 0 && i < h->ntargets ? h->targets[i].groups : 0;
}

static void
target_answered(void *arg, int af, const struct evutil_addrinfo *res,
    int error)
{
	struct he_https_target *t = arg;
	struct he_https *h = t->h;
	struct evutil_addrinfo *mine = NULL, *list = NULL;

	t->q[af == AF_INET6 ? 0 : 1] = NULL;
	if (!error && (he_addrinfo_copy_stream_(res, af, &mine) != 0 ||
	    copies_for(h, t->groups, 0, mine, &list) != 0))
		error = EVUTIL_EAI_MEMORY;
	evhappy_addrinfo_free(mine);
	h->ev.target(h->ev.arg, t->name, af, t->groups, list, error);
}

static void
target_ask(struct he_https_target *t, int af)
{
	struct he_https *h = t->h;
	struct he_query **q = &t->q[af == AF_INET6 ? 0 : 1];

	if (he_query_start_(h->resolver, t->name, af,
	    af == AF_INET ? t->q[0] : NULL, target_answered, t, q) != 0)
		h->ev.target(h->ev.arg, t->name, af, t->groups, NULL,
		    EVUTIL_EAI_SYSTEM);
}

void
he_https_ask_targets_(struct he_https *h)
{
	int i;

	for (i = 0; i < h->ntargets; i++) {
		if (fam_allowed(h, AF_INET6))
			target_ask(&h->targets[i], AF_INET6);
		if (fam_allowed(h, AF_INET))
			target_ask(&h->targets[i], AF_INET);
	}
}

/* ---- the end ------------------------------------------------------------ */

void
he_https_cancel_(struct he_https *h)
{
	int i, f;

	he_svcb_lookup_cancel_(h->lookup);
	h->lookup = NULL;
	for (i = 0; i < h->ntargets; i++) {
		for (f = 0; f < 2; f++) {
			if (h->targets[i].q[f])
				he_query_cancel_(h->targets[i].q[f]);
			h->targets[i].q[f] = NULL;
		}
	}
}

void
he_https_free_(struct he_https *h)
{
	int i;

	if (!h)
		return;
	he_https_cancel_(h);
	for (i = 0; i < h->ntargets; i++)
		free(h->targets[i].name);
	he_svcb_answer_clear_(&h->answer);
	free(h->alias);
	free(h->alpn);
	free(h->host);
	free(h);
}
