/*
 * NAT64 in a race: when to synthesize, the wait for a prefix, and the
 * context's discovery.  See he_synth.h and doc/nat64.md.
 *
 * Discovery, per context, made by the first race that needs NAT64 in
 * automatic mode:
 * - the PREF64 listener (he_pref64.c): opened then, closed by
 *   evhappy_free().  Its event is added only while a race waits for a
 *   prefix: a program's event_base_dispatch() must still return once its
 *   work is done, as it does without evhappy (libevent's evdns offers
 *   EVDNS_BASE_DISABLE_WHEN_INACTIVE for the same reason).  Between waits
 *   the kernel queues what it hears on the socket, and each race that
 *   needs NAT64 reads it first, so a long-lived program keeps up with the
 *   router advertisements all the same (up to the socket's buffer:
 *   ENOBUFS loses the oldest, and the next RA brings them again).
 * - the RFC 7050 query (he_nat64_query.c on evdns, or getaddrinfo on the
 *   system resolver's pool), sent when the process's store says one is
 *   due (he_nat64_cache_dns_claim_: never asked, or its answer about to
 *   expire); at most one per context, outliving the race that sent it (a
 *   refresh is sent by a race that does not wait for it).  No timer
 *   refreshes an idle program's prefix: that too would keep its loop
 *   running; the first race after the prefix expired waits for the query.
 * Both wake the waiting races by activating their timers: no race's code
 * runs inside the listener's or the query's callback.
 *
 * Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).
 */
#include "he_internal.h"
#include "he_synth.h"
#include "he_nat64_list.h"
#include "he_nat64_query.h"
#include "he_persist.h"
#include "he_pref64.h"
#include "he_race.h"
#include "he_time.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/queue.h>

/* Prefixes for de-synthesis: the caller's, every live one, the WKP. */
#define DESYNTH_MAX (HE_NAT64_MAX_PREFIXES + 2)
/* A race's unmarked IPv6 addresses compared with new syntheses. */
#define RACED_MAX 64

struct he_synth_disc {
	struct event_base *base;
	struct he_resolver *resolver;
	evutil_socket_t fd;		/* the PREF64 listener, or -1 */
	int fd_gave_up;			/* it cannot be opened here */
	int64_t opened;			/* when it was */
	int watching;			/* ev is added */
	struct event *ev;		/* the listener's, in this allocation */
	struct he_nat64_query *q;	/* RFC 7050 on evdns, outstanding */
	struct he_query *gq;		/* ... on the system resolver */
	LIST_HEAD(, he_synth) waiters;	/* races waiting for a prefix */
};

struct he_synth {
	struct he_synth_conf *conf;
	struct event_base *base;
	struct he_resolver *resolver;
	const struct he_race *race;
	struct he_synth_events ev;
	LIST_ENTRY(he_synth) link;	/* in disc->waiters */
	int waiting;
	int64_t limit;			/* the race's timeout */
	int64_t until;			/* the wait's end at the latest */
	struct evutil_addrinfo *held;	/* IPv4 addresses waiting */
	int why;			/* no prefix: ENOENT, ETIMEDOUT, ENOMEM */
	int told;			/* the prefixes were traced */
	int nk;
	struct he_nat64_known k[HE_NAT64_MAX_PREFIXES];	/* in use */
	struct event *timer;		/* in this allocation */
	unsigned timer_assigned : 1;
	unsigned timer_set : 1;
};

/* An allocation of size bytes followed by an event. */
static void *
alloc_with_event(size_t size, struct event **ev)
{
	size_t at = (size + 15) & ~(size_t)15;
	char *p = calloc(1, at + event_get_struct_event_size());

	if (p)
		*ev = (struct event *)(void *)(p + at);
	return p;
}

/* ---- the context's discovery ---------------------------------------------- */

static struct he_nat64_cache *
store(void)
{
	return he_nat64_cache_global_();
}

/* A prefix may have been learned: every waiting race looks again, on its
 * own timer's callback. */
static void
disc_wake(struct he_synth_disc *d)
{
	struct he_synth *s;

	LIST_FOREACH(s, &d->waiters, link) {
		event_active(s->timer, EV_TIMEOUT, 0);
		s->timer_set = 1;
	}
}

/* The store changed: the history file's next save keeps it (he_persist.h:
 * prefixes outlive the process with the history). */
static void
store_changed(int64_t now)
{
	if (he_persist_file_on_())
		he_persist_taught_(now);
}

/* Whatever the kernel queued since the last read. */
static void
disc_read(struct he_synth_disc *d, int64_t now)
{
	int applied = 0;

	(void)he_pref64_read_(d->fd, store(), now, &applied);	/* an error
				   loses this read; the next RA repeats it */
	if (applied)
		store_changed(now);
}

static void
disc_drain(struct he_synth_disc *d, int64_t now)
{
	if (!d || d->fd < 0)
		return;
	he_persist_nat64_(now);		/* the store is the network's */
	disc_read(d, now);
}

static void
disc_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct he_synth_disc *d = arg;

	(void)fd;
	(void)what;
	disc_drain(d, he_now_());
	disc_wake(d);
}

static void
disc_answered(struct he_synth_disc *d, enum he_nat64_query_result result,
    const struct he_nat64_prefix *p, int n, int64_t lifetime)
{
	int64_t now = he_now_();

	he_persist_nat64_(now);
	he_nat64_query_apply_(store(), result, p, n, lifetime, now);
	if (result == HE_NAT64_Q_ANSWER)
		store_changed(now);
	disc_wake(d);
}

static void
disc_query_cb(enum he_nat64_query_result result,
    const struct he_nat64_prefix *p, int n, int64_t lifetime, void *arg)
{
	struct he_synth_disc *d = arg;

	d->q = NULL;
	disc_answered(d, result, p, n, lifetime);
}

static void
disc_gai_cb(void *arg, int af, const struct evutil_addrinfo *res, int error)
{
	struct he_synth_disc *d = arg;
	struct he_nat64_prefix p[HE_NAT64_MAX_PREFIXES];
	enum he_nat64_query_result r;
	int64_t lifetime;
	int n;

	(void)af;
	d->gq = NULL;
	r = he_nat64_gai_answer_(error, res, p, HE_NAT64_MAX_PREFIXES, &n,
	    &lifetime);
	disc_answered(d, r, p, n, lifetime);
}

/* Send the RFC 7050 query when the store says one is due and nobody
 * asks; one that cannot start counts as failed (asked again later). */
static void
disc_ask(struct he_synth_disc *d, int64_t now)
{
	int err;

	if (d->q || d->gq || !he_nat64_cache_dns_claim_(store(), now))
		return;
	if (d->resolver->dns)
		err = he_nat64_query_start_(d->resolver->dns, disc_query_cb, d,
		    &d->q);
	else
		err = he_query_start_(d->resolver, HE_NAT64_WKN, AF_INET6,
		    NULL, disc_gai_cb, d, &d->gq);
	if (err)
		he_nat64_cache_dns_failed_(store(), now);
}

/* Whether errno e of opening the listener will be the same next time. */
static int
lasting(int e)
{
	return e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM;
}

/* The listener, opened once (lasting errors are not tried again: ENOSYS
 * off Linux), and read; the caller has just made the store the
 * network's (he_persist_nat64_: a netlink peek, not made twice a race). */
static void
disc_listen(struct he_synth_disc *d, int64_t now)
{
	int err;

	if (d->fd < 0 && !d->fd_gave_up) {
		if ((err = he_pref64_open_(&d->fd)) != 0) {
			d->fd = -1;
			d->fd_gave_up = lasting(err);
		} else {
			d->opened = now;
			event_assign(d->ev, d->base, d->fd,
			    EV_READ | EV_PERSIST, disc_read_cb, d);
		}
	}
	if (d->fd >= 0)
		disc_read(d, now);
}

/* The context's discovery, made on first use. */
static int
disc_get(struct he_synth *s, struct he_synth_disc **out)
{
	struct he_synth_conf *c = s->conf;
	struct he_synth_disc *d;
	struct event *ev;

	if (!c->disc) {
		if (!(d = alloc_with_event(sizeof(*d), &ev)))
			return ENOMEM;
		d->ev = ev;
		d->fd = -1;
		d->base = s->base;
		d->resolver = s->resolver;
		c->disc = d;
	}
	*out = c->disc;
	return 0;
}

/* Hear RAs while races wait; not otherwise (the loop must be able to
 * end).  A failed add leaves the waits to their polling. */
static void
disc_watch(struct he_synth_disc *d)
{
	if (d->fd >= 0 && !d->watching && !LIST_EMPTY(&d->waiters) &&
	    event_add(d->ev, NULL) == 0)
		d->watching = 1;
	else if (d->watching && LIST_EMPTY(&d->waiters)) {
		event_del(d->ev);
		d->watching = 0;
	}
}

void
he_synth_conf_clear_(struct he_synth_conf *c)
{
	struct he_synth_disc *d = c->disc;

	if (!d)
		return;
	if (d->q || d->gq) {
		if (d->q)
			he_nat64_query_cancel_(d->q);
		if (d->gq)
			he_query_cancel_(d->gq);
		he_nat64_cache_dns_release_(store());
	}
	if (d->fd >= 0) {
		if (d->watching)
			event_del(d->ev);
		event_debug_unassign(d->ev);
		close(d->fd);
	}
	free(d);
	c->disc = NULL;
}

/* ---- when ---------------------------------------------------------------- */

static const struct sockaddr_in *
v4_entry(const struct evutil_addrinfo *ai)
{
	return ai->ai_family == AF_INET && ai->ai_addr &&
	    ai->ai_addr->sa_family == AF_INET &&
	    ai->ai_addrlen >= sizeof(struct sockaddr_in) ?
	    (const struct sockaddr_in *)(const void *)ai->ai_addr : NULL;
}

int
he_synth_needed_(const struct he_synth_conf *c,
    const struct evutil_addrinfo *list, int64_t now)
{
	const struct sockaddr_in *sin;
	int have, probes = 0;

	if (c->mode == HE_NAT64_OFF || !he_nat64_list_has_v4_(list))
		return 0;
	/* An error ("cannot tell") means: race them as they are. */
	if (he_route_have_(AF_INET, now, &have) != 0 || have)
		return 0;
	/* No default IPv4 route; a VPN may still route these addresses. */
	for (; list && probes < HE_SYNTH_PROBES; list = list->ai_next) {
		if (!(sin = v4_entry(list)) || he_nat64_v4_class_(
		    (const unsigned char *)&sin->sin_addr) == HE_NAT64_V4_NEVER)
			continue;
		probes++;
		if (he_route_have_to_(list->ai_addr, now, &have) == 0 && have)
			return 0;
	}
	return 1;
}

/* Every prefix an address may have been synthesized with: the caller's,
 * those the process knows (RA and DNS, live), and the Well-Known Prefix,
 * which is nothing but NAT64's. */
static int
desynth_set(const struct he_synth_conf *c, int64_t now,
    struct he_nat64_prefix *p)
{
	struct he_nat64_known k[HE_NAT64_MAX_PREFIXES];
	int i, n = 0, nk;

	if (c->mode == HE_NAT64_FIXED)
		p[n++] = c->fixed;
	nk = he_nat64_cache_get_(store(), now, 1, k, HE_NAT64_MAX_PREFIXES);
	for (i = 0; i < nk; i++)
		p[n++] = k[i].prefix;
	p[n++] = he_nat64_wkp_;
	return n;
}

void
he_synth_mark_(const struct he_synth_conf *c, struct evutil_addrinfo **list,
    struct evutil_addrinfo **old, int64_t now)
{
	struct he_nat64_prefix p[DESYNTH_MAX];
	struct evutil_addrinfo *marked;
	int have;

	*old = NULL;
	if (c->mode == HE_NAT64_OFF || !he_nat64_list_maybe_synth_(*list) ||
	    he_route_have_(AF_INET, now, &have) != 0 || have)
		return;
	he_persist_nat64_(now);		/* the store is the network's */
	if (he_nat64_list_mark_(p, desynth_set(c, now, p), *list,
	    &marked) != 0 || !marked)
		return;		/* ENOMEM: raced unmarked, maybe twice */
	*old = *list;
	*list = marked;
}

/* ---- one race's ------------------------------------------------------------ */

int
he_synth_new_(struct he_synth_conf *c, struct event_base *base,
    struct he_resolver *r, const struct he_race *race, int64_t limit,
    const struct he_synth_events *ev, struct he_synth **out)
{
	struct he_synth *s;
	struct event *timer;

	if (!(*out = s = alloc_with_event(sizeof(*s), &timer)))
		return ENOMEM;
	s->timer = timer;
	s->conf = c;
	s->base = base;
	s->resolver = r;
	s->race = race;
	s->limit = limit;
	s->ev = *ev;
	return 0;
}

void
he_synth_hold_(struct he_synth *s, struct evutil_addrinfo *list)
{
	struct evutil_addrinfo **t = &s->held;

	while (*t)
		t = &(*t)->ai_next;
	*t = list;
}

/* The prefixes to use now (the caller's, or what the store knows). */
static int
choose(struct he_synth *s, int64_t now)
{
	s->nk = he_nat64_select_(s->conf->mode, &s->conf->fixed, store(), now,
	    s->k, HE_NAT64_MAX_PREFIXES);
	return s->nk;
}

static int64_t
min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* Whether a wait with no prefix yet goes on at now; *next: when to look
 * again.  It ends when RFC 7050 has nothing (more) to say and no
 * just-opened listener may still hear an RA, or at its bound; s->why
 * says which. */
static int
wait_more(struct he_synth *s, int64_t now, int64_t *next)
{
	struct he_synth_disc *d = s->conf->disc;
	int64_t ra_until;

	if (now >= s->until) {
		s->why = ETIMEDOUT;
		return 0;
	}
	*next = min64(s->until, now + HE_SYNTH_POLL_US);
	if (d && (d->q || d->gq))
		return 1;	/* ours is out */
	if (he_nat64_cache_dns_asking_(store(), now))
		return 1;	/* another context's is */
	if (d && d->fd >= 0) {
		ra_until = d->opened + HE_SYNTH_RA_WAIT_US;
		if (now < ra_until &&
		    he_nat64_cache_last_ra_(store(), NULL) < d->opened) {
			*next = min64(*next, ra_until);
			return 1;
		}
	}
	s->why = ENOENT;
	return 0;
}

static int
timer_arm(struct he_synth *s, int64_t now, int64_t at)
{
	struct timeval tv;

	he_usec_to_tv_(at > now ? at - now : 0, &tv);
	if (event_add(s->timer, &tv) != 0)
		return ENOMEM;
	s->timer_set = 1;
	return 0;
}

static void
stop_waiting(struct he_synth *s)
{
	struct he_synth_disc *d = s->conf->disc;

	if (s->timer_set)
		event_del(s->timer);
	s->timer_set = 0;
	if (!s->waiting)
		return;
	s->waiting = 0;
	LIST_REMOVE(s, link);
	disc_watch(d);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg);

static int
start_waiting(struct he_synth *s, int64_t now, int64_t next)
{
	struct he_synth_disc *d = s->conf->disc;

	if (!s->timer_assigned) {
		event_assign(s->timer, s->base, -1, 0, timer_cb, s);
		s->timer_assigned = 1;
	}
	if (timer_arm(s, now, next) != 0)
		return ENOMEM;
	s->waiting = 1;
	LIST_INSERT_HEAD(&d->waiters, s, link);
	disc_watch(d);
	return 0;
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct he_synth *s = arg;
	int64_t now = he_now_(), next;

	(void)fd;
	(void)what;
	s->timer_set = 0;
	if (!s->waiting)
		return;
	disc_drain(s->conf->disc, now);
	if (choose(s, now) == 0 && wait_more(s, now, &next)) {
		if (timer_arm(s, now, next) == 0)
			return;
		s->why = ENOMEM;	/* no wake-up: end the wait now */
	}
	stop_waiting(s);
	s->ev.ready(s->ev.arg);		/* last: it may free s */
}

/* ---- what the race gets, and the trace ------------------------------------- */

static int
public_source(enum he_nat64_source src)
{
	switch (src) {
	case HE_NAT64_FROM_CALLER:
		return EVHAPPY_NAT64_SOURCE_CALLER;
	case HE_NAT64_FROM_RA:
		return EVHAPPY_NAT64_SOURCE_RA;
	case HE_NAT64_FROM_DNS:
		return EVHAPPY_NAT64_SOURCE_DNS;
	}
	return EVHAPPY_NAT64_SOURCE_NONE;
}

static void
tell(struct he_synth *s, struct evhappy_trace *ev)
{
	s->ev.trace(s->ev.arg, ev);
}

/* The prefixes this race uses, once; or that none was found. */
static void
tell_prefixes(struct he_synth *s)
{
	struct evhappy_trace ev;
	struct sockaddr_in6 sin6;
	char text[128], pfx[INET6_ADDRSTRLEN + 4];
	int i;

	if (s->told)
		return;
	s->told = 1;
	for (i = 0; i < s->nk; i++) {
		memset(&ev, 0, sizeof(ev));
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		memcpy(&sin6.sin6_addr, s->k[i].prefix.addr, 16);
		he_nat64_prefix_str_(&s->k[i].prefix, pfx, sizeof(pfx));
		snprintf(text, sizeof(text), "%s from %s%s", pfx,
		    he_nat64_source_name_(s->k[i].source),
		    s->k[i].restored ? " (from the history file)" : "");
		ev.kind = EVHAPPY_TRACE_NAT64_PREFIX;
		ev.family = AF_INET6;
		ev.addr = (const struct sockaddr *)&sin6;
		ev.addrlen = sizeof(sin6);
		ev.nat64_prefix_len = s->k[i].prefix.len;
		ev.nat64_source = public_source(s->k[i].source);
		ev.from_file = s->k[i].restored;
		ev.text = text;
		tell(s, &ev);
	}
	if (s->nk)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.kind = EVHAPPY_TRACE_NAT64_PREFIX;
	ev.error = s->why ? s->why : ENOENT;
	ev.text = s->conf->mode != HE_NAT64_AUTO ? "none set" :
	    ev.error == ETIMEDOUT ? "none found in time" :
	    ev.error == ENOMEM ? "none: out of memory" :
	    "none found: no DNS64 answer for ipv4only.arpa, no PREF64 in "
	    "router advertisements";
	tell(s, &ev);
}

/* Each address of list as synthesized, or (an IPv4 one) as no prefix of
 * this race may carry. */
static void
tell_addresses(struct he_synth *s, const struct evutil_addrinfo *list)
{
	const struct he_nat64_known *k;
	struct evhappy_trace ev;
	char text[160];

	for (; list; list = list->ai_next) {
		memset(&ev, 0, sizeof(ev));
		ev.kind = EVHAPPY_TRACE_NAT64_SYNTH;
		if ((k = he_synth_known_of_(s, list)) != NULL) {
			ev.family = AF_INET6;
			ev.addr = list->ai_addr;
			ev.addrlen = (ev_socklen_t)list->ai_addrlen;
			ev.nat64_v4 = he_ai_identity_(list);
			ev.nat64_v4len = sizeof(struct sockaddr_in);
			ev.nat64_prefix_len = k->prefix.len;
			ev.nat64_source = public_source(k->source);
			he_nat64_describe_((const struct sockaddr_in6 *)
			    (const void *)ev.addr, (const struct sockaddr_in *)
			    (const void *)ev.nat64_v4, k, text, sizeof(text));
		} else if (v4_entry(list) && s->nk) {
			ev.family = AF_INET;
			ev.nat64_v4 = list->ai_addr;
			ev.nat64_v4len = sizeof(struct sockaddr_in);
			ev.error = EADDRNOTAVAIL;
			snprintf(text, sizeof(text), "not synthesized: no "
			    "prefix in use may carry it (RFC 6052 section "
			    "3.1: not under the Well-Known Prefix)");
		} else {
			continue;
		}
		ev.text = text;
		tell(s, &ev);
	}
}

/* Whether ai (a synthesis) stands for one of the n IPv4 addresses. */
static int
raced(const struct sockaddr_in *v4, int n, const struct evutil_addrinfo *ai)
{
	const struct sockaddr *id = he_ai_identity_(ai);
	int i;

	for (i = 0; i < n; i++)
		if (he_sockaddr_equal_((const struct sockaddr *)&v4[i], id))
			return 1;
	return 0;
}

/* What an unmarked IPv6 entry stands for, if it is a synthesis. */
static void
collect(const struct he_nat64_prefix *p, int n,
    const struct evutil_addrinfo *ai, struct sockaddr_in *v4, int *nv4)
{
	if (*nv4 >= RACED_MAX || ai->ai_family != AF_INET6 ||
	    (HE_AI_META(ai)->flags & HE_AI_SYNTH))
		return;
	if (he_nat64_desynthesize_(p, n, ai->ai_addr, &v4[*nv4]) >= 0 &&
	    he_nat64_v4_class_((const unsigned char *)&v4[*nv4].sin_addr) !=
	    HE_NAT64_V4_NEVER)
		(*nv4)++;
}

/* Syntheses the race already holds as a DNS64 resolver's AAAA answer,
 * which came before the prefix was known and so was not marked (marked
 * ones the race's own duplicate rule finds) go: one server, one place. */
static void
drop_raced(struct he_synth *s, struct evutil_addrinfo **list, int64_t now)
{
	struct he_nat64_prefix p[DESYNTH_MAX];
	struct sockaddr_in v4[RACED_MAX];
	const struct he_race *r = s->race;
	const struct evutil_addrinfo *ai;
	struct evutil_addrinfo **pp, *e;
	int n, nv4 = 0, i;

	if (!r)
		return;
	n = desynth_set(s->conf, now, p);
	for (i = 0; i < r->nattempts; i++)
		collect(p, n, r->attempts[i].ai, v4, &nv4);
	for (ai = r->untried; ai; ai = ai->ai_next)
		collect(p, n, ai, v4, &nv4);
	for (pp = list; nv4 && *pp;) {
		e = *pp;
		if ((HE_AI_META(e)->flags & HE_AI_SYNTH) &&
		    raced(v4, nv4, e)) {
			*pp = e->ai_next;
			e->ai_next = NULL;
			evhappy_addrinfo_free(e);
		} else {
			pp = &e->ai_next;
		}
	}
}

/* The held addresses, synthesized under this race's prefixes (if any),
 * into *out; then the trace. */
static int
finish(struct he_synth *s, int64_t now, struct evutil_addrinfo **out)
{
	struct he_nat64_prefix p[HE_NAT64_MAX_PREFIXES];
	struct evutil_addrinfo *list = s->held, *made;
	int i, err;

	s->held = NULL;
	*out = NULL;
	if (s->why == ENOMEM) {
		evhappy_addrinfo_free(list);
		return ENOMEM;
	}
	if (s->nk > 0) {
		for (i = 0; i < s->nk; i++)
			p[i] = s->k[i].prefix;
		err = he_nat64_list_synth_(p, s->nk, list, &made, NULL);
		evhappy_addrinfo_free(list);
		if (err)
			return err;
		drop_raced(s, &made, now);
		list = made;
	}
	*out = list;
	if (s->ev.trace) {
		tell_prefixes(s);
		tell_addresses(s, list);
	}
	return 0;
}

int
he_synth_answer_(struct he_synth *s, int64_t now,
    struct evutil_addrinfo *list, struct evutil_addrinfo **out)
{
	struct he_synth_disc *d = NULL;
	int64_t next;

	he_synth_hold_(s, list);
	*out = NULL;
	he_persist_nat64_(now);		/* the store is the network's */
	if (s->conf->mode == HE_NAT64_AUTO) {
		if (disc_get(s, &d) != 0) {
			s->why = ENOMEM;
			return finish(s, now, out);
		}
		disc_listen(d, now);
	}
	if (choose(s, now) > 0 || !d) {
		if (d)
			disc_ask(d, now);	/* a refresh when due */
		return finish(s, now, out);
	}
	disc_ask(d, now);
	s->until = now + min64(HE_SYNTH_WAIT_US, s->limit / 2);
	if (!wait_more(s, now, &next))
		return finish(s, now, out);
	if (start_waiting(s, now, next) != 0) {
		s->why = ENOMEM;
		return finish(s, now, out);
	}
	return EINPROGRESS;
}

int
he_synth_now_(struct he_synth *s, int64_t now, struct evutil_addrinfo *list,
    struct evutil_addrinfo **out)
{
	struct evutil_addrinfo *held = s->held;
	int err;

	s->held = list;
	he_persist_nat64_(now);		/* the store is the network's */
	if (choose(s, now) > 0) {
		err = finish(s, now, out);
	} else {
		*out = list;
		s->held = NULL;
		err = 0;
	}
	s->held = held;
	return err;
}

int
he_synth_take_(struct he_synth *s, struct evutil_addrinfo **out)
{
	return finish(s, he_now_(), out);
}

const struct he_nat64_known *
he_synth_known_of_(const struct he_synth *s, const struct evutil_addrinfo *ai)
{
	const struct sockaddr_in6 *sin6;
	int i;

	if (!s || !ai || !(HE_AI_META(ai)->flags & HE_AI_SYNTH) ||
	    ai->ai_family != AF_INET6)
		return NULL;
	sin6 = (const struct sockaddr_in6 *)(const void *)ai->ai_addr;
	for (i = 0; i < s->nk; i++)
		if (he_nat64_match_(&s->k[i].prefix, sin6->sin6_addr.s6_addr,
		    NULL))
			return &s->k[i];
	return NULL;
}

void
he_synth_cancel_(struct he_synth *s)
{
	if (!s)
		return;
	stop_waiting(s);
	evhappy_addrinfo_free(s->held);
	s->held = NULL;
}

void
he_synth_free_(struct he_synth *s)
{
	if (!s)
		return;
	he_synth_cancel_(s);
	if (s->timer_assigned)
		event_debug_unassign(s->timer);
	free(s);
}
