/*
 * NAT64's state: the process's prefix store and the route probe.  See
 * he_nat64_cache.h.
 *
 * Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).
 */
#include "he_internal.h"
#include "he_nat64_cache.h"
#include "he_addrinfo.h"
#include "he_proc.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#define SEC ((int64_t)1000000)

/* A prefix from one router on one interface (0: restored from a file,
 * the interface not known yet). */
struct ra_entry {
	int used;
	struct he_nat64_prefix prefix;
	int ifindex;
	unsigned char router[16];	/* zero when unknown */
	int64_t learned, expires;
	int64_t heard;			/* last heard (or withdrawn) */
	int withdrawn;			/* lifetime 0 heard: not used, kept
					   until expires for the file */
	int restored;			/* from a file, not heard since */
};

struct he_nat64_cache {
	pthread_mutex_t lock;
	struct ra_entry ra[HE_NAT64_RA_ENTRIES];
	int64_t last_ra, last_pref64;	/* 0: never */

	/* the last RFC 7050 answer */
	struct he_nat64_prefix dns[HE_NAT64_DNS_ENTRIES];
	int ndns;
	int64_t dns_learned;
	int64_t dns_expires;		/* 0: no answer */
	int64_t dns_next;		/* when a query is due (0: at once) */
	int dns_asking;			/* a claim is out */
	int64_t dns_claimed;		/* ... since */
	int dns_restored;		/* the answer came from a file */
};

static struct he_nat64_cache global_cache = {
	.lock = PTHREAD_MUTEX_INITIALIZER
};

/* The route probe's memory (below): one answer, for a family's default
   route (dst NULL) or for one destination. */
struct route_answer {
	int64_t at;		/* when remembered; 0: nothing */
	int family, have;
	unsigned char addr[16];	/* the destination; IPv4: the first 4 */
};

static struct {
	pthread_mutex_t lock;
	he_route_probe_fn hook;
	struct route_answer any[2];	/* AF_INET, AF_INET6 */
	struct route_answer to[HE_ROUTE_TO_KEPT];
	unsigned next_to;	/* the slot the next destination takes */
} routes = { PTHREAD_MUTEX_INITIALIZER, NULL, { { 0, 0, 0, { 0 } } },
	{ { 0, 0, 0, { 0 } } }, 0 };

/* A fork while another thread holds a lock would leave the child's copy
   locked forever: both are held across fork and released on both sides
   (the newest hooks lock first: the cache, then the routes). */
static struct he_fork_hooks routes_hooks = {
	NULL, NULL, NULL, &routes.lock, NULL, 0
};
static struct he_fork_hooks fork_hooks = {
	NULL, NULL, NULL, &global_cache.lock, NULL, 0
};
/* Before either lock is taken: both hooks, in their order. */
static void
hooks_on(void)
{
	(void)he_proc_on_fork_(&routes_hooks);
	(void)he_proc_on_fork_(&fork_hooks);
}

struct he_nat64_cache *
he_nat64_cache_global_(void)
{
	hooks_on();
	return &global_cache;
}

int
he_nat64_cache_new_(struct he_nat64_cache **out)
{
	struct he_nat64_cache *c = calloc(1, sizeof(*c));

	*out = c;
	if (!c)
		return ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	return 0;
}

void
he_nat64_cache_free_(struct he_nat64_cache *c)
{
	if (!c || c == &global_cache)
		return;
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* Everything but the lock, to zero. */
static void
reset_locked(struct he_nat64_cache *c)
{
	memset(c->ra, 0, sizeof(c->ra));
	c->last_ra = c->last_pref64 = 0;
	memset(c->dns, 0, sizeof(c->dns));
	c->ndns = 0;
	c->dns_learned = c->dns_expires = c->dns_next = 0;
	c->dns_asking = 0;
	c->dns_claimed = 0;
	c->dns_restored = 0;
}

void
he_nat64_cache_clear_(struct he_nat64_cache *c)
{
	pthread_mutex_lock(&c->lock);
	reset_locked(c);
	pthread_mutex_unlock(&c->lock);
}

/* ---- router advertisements ---------------------------------------------- */

static int
same_prefix(const struct he_nat64_prefix *a, const struct he_nat64_prefix *b)
{
	return a->len == b->len && !memcmp(a->addr, b->addr, 16);
}

static int
ra_live(const struct ra_entry *e, int64_t now)
{
	return e->used && !e->withdrawn && now < e->expires;
}

/* Whether the slot still holds something: a live entry, or a withdrawal
 * until the prefix would have expired. */
static int
ra_kept(const struct ra_entry *e, int64_t now)
{
	return e->used && now < e->expires;
}

/* The entry to give up in a full table: a withdrawal first, then the one
 * that would expire first. */
static struct ra_entry *
ra_victim(struct he_nat64_cache *c)
{
	struct ra_entry *v = &c->ra[0];
	int i;

	for (i = 1; i < HE_NAT64_RA_ENTRIES; i++) {
		struct ra_entry *x = &c->ra[i];
		if (x->withdrawn != v->withdrawn ? x->withdrawn :
		    x->expires < v->expires)
			v = x;
	}
	return v;
}

static int
ra_any_live(struct he_nat64_cache *c, int64_t now)
{
	int i;

	for (i = 0; i < HE_NAT64_RA_ENTRIES; i++)
		if (ra_live(&c->ra[i], now))
			return 1;
	return 0;
}

void
he_nat64_cache_ra_(struct he_nat64_cache *c, const struct he_pref64 *opt,
    int ifindex, const unsigned char *router, int64_t now)
{
	static const unsigned char none[16];
	struct ra_entry *e = NULL, *victim = NULL;
	int i;

	if (!opt || !he_nat64_prefix_ok_(&opt->prefix))
		return;
	if (!router)
		router = none;
	pthread_mutex_lock(&c->lock);
	c->last_ra = c->last_pref64 = now;
	for (i = 0; i < HE_NAT64_RA_ENTRIES; i++) {
		struct ra_entry *x = &c->ra[i];
		if (x->used && !ra_kept(x, now))
			x->used = 0;	/* expired: the slot is free */
		/* a restored entry's interface is not known: any */
		if (x->used && (x->ifindex == ifindex || !x->ifindex) &&
		    same_prefix(&x->prefix, &opt->prefix) &&
		    !memcmp(x->router, router, 16) && !e)
			e = x;
		if (!x->used && !victim)
			victim = x;
	}
	if (opt->lifetime == 0) {
		/* RFC 8781: the prefix must not be used any more.  The
		   withdrawal is kept until the prefix would have expired
		   (a new one, in a free slot, as long as an RA can make it
		   live), so that a history file does not give it back. */
		if (!e && victim) {
			e = victim;
			memset(e, 0, sizeof(*e));
			e->used = 1;
			e->prefix = opt->prefix;
			memcpy(e->router, router, 16);
			e->learned = now;
			e->expires = now + (int64_t)HE_PREF64_MAX_LIFETIME * SEC;
		}
		if (e && !e->withdrawn) {
			e->withdrawn = 1;
			e->ifindex = ifindex;
			e->heard = now;
			e->restored = 0;
		}
		goto end;
	}
	if (!e) {
		/* A full table: a withdrawal goes first, then the entry that
		   would expire first. */
		e = victim ? victim : ra_victim(c);
		memset(e, 0, sizeof(*e));
		e->used = 1;
		e->prefix = opt->prefix;
		memcpy(e->router, router, 16);
		e->learned = now;
	} else if (e->withdrawn) {
		e->withdrawn = 0;	/* advertised again: heard anew */
		e->learned = now;
	}
	e->ifindex = ifindex;
	e->heard = now;
	e->restored = 0;
	e->expires = now + (int64_t)opt->lifetime * SEC;
end:
	pthread_mutex_unlock(&c->lock);
}

void
he_nat64_cache_ra_seen_(struct he_nat64_cache *c, int64_t now)
{
	pthread_mutex_lock(&c->lock);
	c->last_ra = now;
	pthread_mutex_unlock(&c->lock);
}

int64_t
he_nat64_cache_last_ra_(struct he_nat64_cache *c, int64_t *pref64)
{
	int64_t r;

	pthread_mutex_lock(&c->lock);
	r = c->last_ra;
	if (pref64)
		*pref64 = c->last_pref64;
	pthread_mutex_unlock(&c->lock);
	return r;
}

/* ---- RFC 7050 ----------------------------------------------------------- */

/* When the next query is due, ignoring RAs. */
static int64_t
dns_due_locked(struct he_nat64_cache *c)
{
	if (c->dns_asking)
		return c->dns_claimed + HE_NAT64_DNS_STALE_S * SEC;
	return c->dns_next;
}

int
he_nat64_cache_dns_claim_(struct he_nat64_cache *c, int64_t now)
{
	int r = 0;

	pthread_mutex_lock(&c->lock);
	if (!ra_any_live(c, now) && now >= dns_due_locked(c)) {
		c->dns_asking = 1;
		c->dns_claimed = now;
		r = 1;
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

void
he_nat64_cache_dns_(struct he_nat64_cache *c,
    const struct he_nat64_prefix *p, int n, int64_t lifetime, int64_t now)
{
	int i, k = 0;

	pthread_mutex_lock(&c->lock);
	for (i = 0; p && i < n && k < HE_NAT64_DNS_ENTRIES; i++)
		if (he_nat64_prefix_ok_(&p[i]))
			c->dns[k++] = p[i];
	c->ndns = k;
	c->dns_learned = now;
	c->dns_asking = 0;
	c->dns_restored = 0;
	if (k > 0) {
		if (lifetime < HE_NAT64_DNS_MIN_S * SEC)
			lifetime = HE_NAT64_DNS_MIN_S * SEC;
		c->dns_expires = now + lifetime;
		c->dns_next = c->dns_expires - HE_NAT64_DNS_AHEAD_S * SEC;
	} else {
		/* No DNS64: nothing to use, and nothing to ask for a while. */
		c->dns_expires = now + HE_NAT64_DNS_NONE_S * SEC;
		c->dns_next = c->dns_expires;
	}
	pthread_mutex_unlock(&c->lock);
}

void
he_nat64_cache_dns_failed_(struct he_nat64_cache *c, int64_t now)
{
	pthread_mutex_lock(&c->lock);
	c->dns_asking = 0;
	c->dns_next = now + HE_NAT64_DNS_RETRY_S * SEC;
	pthread_mutex_unlock(&c->lock);
}

void
he_nat64_cache_dns_release_(struct he_nat64_cache *c)
{
	pthread_mutex_lock(&c->lock);
	c->dns_asking = 0;
	c->dns_next = 0;
	pthread_mutex_unlock(&c->lock);
}

int
he_nat64_cache_dns_asking_(struct he_nat64_cache *c, int64_t now)
{
	int r;

	pthread_mutex_lock(&c->lock);
	r = c->dns_asking && now < c->dns_claimed + HE_NAT64_DNS_STALE_S * SEC;
	pthread_mutex_unlock(&c->lock);
	return r;
}

/* ---- what to use -------------------------------------------------------- */

int
he_nat64_cache_get_(struct he_nat64_cache *c, int64_t now, int all,
    struct he_nat64_known *out, int max)
{
	struct he_nat64_known ra[HE_NAT64_RA_ENTRIES];
	int n = 0, nra = 0, i, j;

	if (!out || max < 1)
		return 0;
	pthread_mutex_lock(&c->lock);
	/* RA entries, first heard first; the same prefix from two routers
	   or interfaces once. */
	for (i = 0; i < HE_NAT64_RA_ENTRIES; i++) {
		const struct ra_entry *e = &c->ra[i];
		if (!ra_live(e, now))
			continue;
		for (j = 0; j < nra; j++)
			if (same_prefix(&ra[j].prefix, &e->prefix))
				break;
		if (j < nra) {
			if (e->learned < ra[j].learned)
				ra[j].learned = e->learned;
			if (e->expires > ra[j].expires)
				ra[j].expires = e->expires;
			ra[j].restored &= e->restored;
			continue;
		}
		memset(&ra[nra], 0, sizeof(ra[nra]));
		ra[nra].prefix = e->prefix;
		ra[nra].source = HE_NAT64_FROM_RA;
		ra[nra].learned = e->learned;
		ra[nra].expires = e->expires;
		ra[nra].ifindex = e->ifindex;
		ra[nra].restored = e->restored;
		nra++;
	}
	for (i = 1; i < nra; i++)	/* insertion sort, stable */
		for (j = i; j > 0 && ra[j - 1].learned > ra[j].learned; j--) {
			struct he_nat64_known t = ra[j];
			ra[j] = ra[j - 1];
			ra[j - 1] = t;
		}
	for (i = 0; i < nra && n < max; i++)
		out[n++] = ra[i];
	if ((nra == 0 || all) && c->dns_expires > now) {
		for (i = 0; i < c->ndns && n < max; i++) {
			for (j = 0; j < n; j++)
				if (same_prefix(&out[j].prefix, &c->dns[i]))
					break;
			if (j < n)
				continue;
			memset(&out[n], 0, sizeof(out[n]));
			out[n].prefix = c->dns[i];
			out[n].source = HE_NAT64_FROM_DNS;
			out[n].learned = c->dns_learned;
			out[n].expires = c->dns_expires;
			out[n].restored = c->dns_restored;
			n++;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return n;
}

/* ---- what outlives the process ------------------------------------------ */

int
he_nat64_cache_export_(struct he_nat64_cache *c, int64_t now,
    struct he_nat64_saved *out, int max)
{
	struct he_nat64_saved *o;
	int i, n = 0;

	if (!out || max < 1)
		return 0;
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < HE_NAT64_RA_ENTRIES && n < max; i++) {
		const struct ra_entry *e = &c->ra[i];
		if (!ra_kept(e, now))
			continue;
		o = &out[n++];
		memset(o, 0, sizeof(*o));
		o->source = HE_NAT64_FROM_RA;
		o->prefix = e->prefix;
		memcpy(o->router, e->router, 16);
		o->withdrawn = e->withdrawn;
		o->learned = e->heard ? e->heard : e->learned;
		o->expires = e->expires;
		o->restored = e->restored;
	}
	/* the answer believed, "no DNS64" included: one record of length 0 */
	for (i = 0; c->dns_learned > 0 && c->dns_expires > now && n < max &&
	    i < (c->ndns ? c->ndns : 1); i++) {
		o = &out[n++];
		memset(o, 0, sizeof(*o));
		o->source = HE_NAT64_FROM_DNS;
		if (c->ndns)
			o->prefix = c->dns[i];
		o->learned = c->dns_learned;
		o->expires = c->dns_expires;
		o->restored = c->dns_restored;
	}
	pthread_mutex_unlock(&c->lock);
	return n;
}

/* Whether a restored record may be used at now (its prefix valid, or a
 * DNS answer's "none"; its lifetime running). */
static int
saved_ok(const struct he_nat64_saved *r, int64_t now)
{
	if (r->expires <= now || r->learned >= r->expires)
		return 0;
	if (r->source == HE_NAT64_FROM_DNS)
		return r->prefix.len == 0 || he_nat64_prefix_ok_(&r->prefix);
	return r->source == HE_NAT64_FROM_RA &&
	    he_nat64_prefix_ok_(&r->prefix);
}

/* An RA record of a file: 1 when it changed the store. */
static int
import_ra_locked(struct he_nat64_cache *c, const struct he_nat64_saved *r,
    int64_t now)
{
	struct ra_entry *e = NULL, *slot = NULL;
	int i;

	for (i = 0; i < HE_NAT64_RA_ENTRIES; i++) {
		struct ra_entry *x = &c->ra[i];
		if (x->used && !ra_kept(x, now))
			x->used = 0;
		if (x->used && same_prefix(&x->prefix, &r->prefix) &&
		    !memcmp(x->router, r->router, 16) && !e)
			e = x;
		if (!x->used && !slot)
			slot = x;
	}
	if (e) {
		if ((e->heard ? e->heard : e->learned) >= r->learned)
			return 0;	/* the store knows newer */
		if (e->withdrawn && !r->withdrawn)
			e->learned = r->learned;
		e->withdrawn = r->withdrawn;
		e->heard = r->learned;
		e->expires = r->expires;
		e->restored = !r->withdrawn && r->restored;
		return 1;
	}
	if (r->withdrawn)
		return 0;	/* nothing here to withdraw */
	if (!slot) {
		slot = ra_victim(c);
		if (!slot->withdrawn && slot->expires >= r->expires)
			return 0;	/* the store's entries last longer */
	}
	memset(slot, 0, sizeof(*slot));
	slot->used = 1;
	slot->prefix = r->prefix;
	memcpy(slot->router, r->router, 16);
	slot->learned = slot->heard = r->learned;
	slot->expires = r->expires;
	slot->restored = r->restored;
	return 1;
}

/* The newest RFC 7050 answer among the records: 1 when it replaced the
 * store's. */
static int
import_dns_locked(struct he_nat64_cache *c, const struct he_nat64_saved *in,
    int n, int64_t now)
{
	int64_t learned = 0, expires = HE_NAT64_NEVER;
	int i, k = 0, any = 0, restored = 0;

	for (i = 0; i < n; i++)
		if (in[i].source == HE_NAT64_FROM_DNS && saved_ok(&in[i], now) &&
		    in[i].learned > learned)
			learned = in[i].learned;
	if (!learned || (c->dns_learned && c->dns_expires > now &&
	    c->dns_learned >= learned))
		return 0;
	for (i = 0; i < n; i++) {
		if (in[i].source != HE_NAT64_FROM_DNS ||
		    in[i].learned != learned || !saved_ok(&in[i], now))
			continue;
		any = 1;
		restored |= in[i].restored;
		if (in[i].expires < expires)
			expires = in[i].expires;
		if (in[i].prefix.len && k < HE_NAT64_DNS_ENTRIES)
			c->dns[k++] = in[i].prefix;
	}
	if (!any)
		return 0;
	c->ndns = k;
	c->dns_learned = learned;
	c->dns_expires = expires;
	c->dns_restored = restored;
	/* a refresh before the answer ends, as for one heard here */
	c->dns_next = k ? expires - HE_NAT64_DNS_AHEAD_S * SEC : expires;
	return 1;
}

int
he_nat64_cache_import_(struct he_nat64_cache *c,
    const struct he_nat64_saved *in, int n, int64_t now)
{
	int i, changed = 0;

	if (!in || n < 1)
		return 0;
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < n; i++)
		if (in[i].source == HE_NAT64_FROM_RA && saved_ok(&in[i], now))
			changed += import_ra_locked(c, &in[i], now);
	changed += import_dns_locked(c, in, n, now);
	pthread_mutex_unlock(&c->lock);
	return changed;
}

void
he_nat64_cache_forget_(struct he_nat64_cache *c)
{
	int asking;
	int64_t claimed;

	pthread_mutex_lock(&c->lock);
	asking = c->dns_asking;
	claimed = c->dns_claimed;
	reset_locked(c);
	c->dns_asking = asking;
	c->dns_claimed = claimed;
	pthread_mutex_unlock(&c->lock);
}

void
he_nat64_cache_due_(struct he_nat64_cache *c, int64_t now,
    struct he_nat64_due *out)
{
	int i, ra = 0;

	pthread_mutex_lock(&c->lock);
	out->expires_at = HE_NAT64_NEVER;
	for (i = 0; i < HE_NAT64_RA_ENTRIES; i++)
		if (ra_live(&c->ra[i], now)) {
			ra = 1;
			if (c->ra[i].expires < out->expires_at)
				out->expires_at = c->ra[i].expires;
		}
	if (!ra && c->ndns > 0 && c->dns_expires > now)
		out->expires_at = c->dns_expires;
	out->dns_at = ra ? HE_NAT64_NEVER : dns_due_locked(c);
	pthread_mutex_unlock(&c->lock);
}

int
he_nat64_select_(enum he_nat64_mode mode,
    const struct he_nat64_prefix *fixed, struct he_nat64_cache *c,
    int64_t now, struct he_nat64_known *out, int max)
{
	if (!out || max < 1)
		return 0;
	switch (mode) {
	case HE_NAT64_OFF:
		return 0;
	case HE_NAT64_FIXED:
		if (!he_nat64_prefix_ok_(fixed))
			return 0;
		memset(out, 0, sizeof(*out));
		out->prefix = *fixed;
		out->source = HE_NAT64_FROM_CALLER;
		out->expires = HE_NAT64_NEVER;
		return 1;
	case HE_NAT64_AUTO:
		break;
	}
	return c ? he_nat64_cache_get_(c, now, 0, out, max) : 0;
}

/* ---- is there a route --------------------------------------------------- */

/* Where the probe points when no destination is given: a.root-servers.net,
 * global, stable, and on nobody's local subnet.  No packet is sent: a UDP
 * connect only asks the routing table. */
static const unsigned char probe_v4[4] = { 198, 41, 0, 4 };
static const unsigned char probe_v6[16] = {
	0x20, 0x01, 0x05, 0x03, 0xba, 0x3e, 0, 0, 0, 0, 0, 0, 0, 0x02, 0, 0x30
};

/* The errors that say "no route": an unreachable or prohibited route, a
 * family or address the host cannot use. */
static int
no_route_error(int e)
{
	return e == ENETUNREACH || e == EHOSTUNREACH || e == EACCES ||
	    e == EPERM || e == EINVAL || e == EADDRNOTAVAIL || e == ENETDOWN ||
	    e == EAFNOSUPPORT;
}

static int
link_local(const unsigned char *a)
{
	return a[0] == 0xfe && (a[1] & 0xc0) == 0x80;
}

/* Whether src is an address a connection to dst could come from. */
static int
usable_source(const struct sockaddr *dst, const struct sockaddr_storage *src)
{
	static const unsigned char any[16];

	if (src->ss_family == AF_INET)
		return ((const struct sockaddr_in *)src)->sin_addr.s_addr !=
		    htonl(INADDR_ANY);
	if (src->ss_family == AF_INET6) {
		const unsigned char *a =
		    ((const struct sockaddr_in6 *)src)->sin6_addr.s6_addr;
		const unsigned char *d =
		    ((const struct sockaddr_in6 *)dst)->sin6_addr.s6_addr;
		/* A global destination reached from a link-local source
		   only: no address to use there. */
		return memcmp(a, any, 16) && (link_local(d) || !link_local(a));
	}
	return 0;
}

int
he_route_probe_(int family, const struct sockaddr *dst, int *have)
{
	struct sockaddr_storage d, src;
	ev_socklen_t len;
	int r;

	if ((family != AF_INET && family != AF_INET6) || !have ||
	    (dst && dst->sa_family != family))
		return EINVAL;
	len = family == AF_INET ? sizeof(struct sockaddr_in) :
	    sizeof(struct sockaddr_in6);
	memset(&d, 0, sizeof(d));
	if (dst)
		memcpy(&d, dst, len);
	else if (family == AF_INET)
		memcpy(&((struct sockaddr_in *)&d)->sin_addr, probe_v4, 4);
	else
		memcpy(&((struct sockaddr_in6 *)&d)->sin6_addr, probe_v6, 16);
	d.ss_family = (sa_family_t)family;
	memset(&src, 0, sizeof(src));
	r = he_source_by_udp_connect_((struct sockaddr *)&d, len, &src, NULL);
	if (r && !no_route_error(r))
		return r;
	*have = r == 0 && usable_source((struct sockaddr *)&d, &src);
	return 0;
}

/* dst's address bytes (4 or 16) in out; its length. */
static size_t
route_key(const struct sockaddr *dst, unsigned char out[16])
{
	if (dst->sa_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)(const void *)dst)->
		    sin_addr, 4);
		return 4;
	}
	memcpy(out, &((const struct sockaddr_in6 *)(const void *)dst)->
	    sin6_addr, 16);
	return 16;
}

static int
answer_fresh(const struct route_answer *e, int64_t now)
{
	/* a clock that went back is no reason to believe an old answer */
	return e->at && now >= e->at && now - e->at < HE_ROUTE_CACHE_US;
}

/* The remembered answer for family's default route (dst NULL) or for
   dst (key, len), or NULL; under routes.lock. */
static const struct route_answer *
answer_find_locked(int family, const struct sockaddr *dst,
    const unsigned char *key, size_t len, int64_t now)
{
	const struct route_answer *e;
	unsigned i;

	if (!dst) {
		e = &routes.any[family == AF_INET6];
		return answer_fresh(e, now) ? e : NULL;
	}
	for (i = 0; i < HE_ROUTE_TO_KEPT; i++) {
		e = &routes.to[i];
		if (answer_fresh(e, now) && e->family == family &&
		    !memcmp(e->addr, key, len))
			return e;
	}
	return NULL;
}

/* he_route_probe_(family, dst, have), or what it said less than
   HE_ROUTE_CACHE_US ago; an error is not remembered. */
static int
probe_remembered(int family, const struct sockaddr *dst, int64_t now,
    int *have)
{
	const struct route_answer *found;
	struct route_answer *e;
	unsigned char key[16] = { 0 };
	size_t len = dst ? route_key(dst, key) : 0;
	he_route_probe_fn fn;
	int r, h = 0;

	hooks_on();
	pthread_mutex_lock(&routes.lock);
	if ((found = answer_find_locked(family, dst, key, len, now))) {
		*have = found->have;
		pthread_mutex_unlock(&routes.lock);
		return 0;
	}
	fn = routes.hook ? routes.hook : he_route_probe_;
	pthread_mutex_unlock(&routes.lock);
	/* The probe runs unlocked: two threads may both probe at the turn
	   of the second, which costs a socket and is harmless. */
	if ((r = fn(family, dst, &h)) != 0)
		return r;
	pthread_mutex_lock(&routes.lock);
	e = dst ? &routes.to[routes.next_to++ % HE_ROUTE_TO_KEPT] :
	    &routes.any[family == AF_INET6];
	e->at = now ? now : 1;
	e->family = family;
	e->have = h;
	memcpy(e->addr, key, sizeof(e->addr));
	pthread_mutex_unlock(&routes.lock);
	*have = h;
	return 0;
}

int
he_route_have_(int family, int64_t now, int *have)
{
	if ((family != AF_INET && family != AF_INET6) || !have)
		return EINVAL;
	return probe_remembered(family, NULL, now, have);
}

int
he_route_have_to_(const struct sockaddr *dst, int64_t now, int *have)
{
	if (!dst || !have ||
	    (dst->sa_family != AF_INET && dst->sa_family != AF_INET6))
		return EINVAL;
	return probe_remembered(dst->sa_family, dst, now, have);
}

void
he_route_set_probe_hook_(he_route_probe_fn fn)
{
	pthread_mutex_lock(&routes.lock);
	routes.hook = fn;
	memset(routes.any, 0, sizeof(routes.any));
	memset(routes.to, 0, sizeof(routes.to));
	pthread_mutex_unlock(&routes.lock);
}
