/*
 * Connection history (RFC 8305 section 4): the process's store of what
 * connects taught, and the decisions a race takes from it.  See
 * he_history.h for the store and he_race.h for the rules.
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include "he_internal.h"
#include "he_history.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

/* One destination.  used == 0: a free slot. */
struct he_hist_entry {
	uint64_t used;			/* LRU tick of the last use */
	int64_t learned;		/* when the verdict was learned */
	int family;
	uint16_t port;
	uint32_t scope;
	unsigned char addr[16];
	enum he_hist_state state;
	int error;
	int64_t srtt, rttvar;
};

struct he_history {
	pthread_mutex_t lock;
	int64_t expiry;
	uint64_t tick;
	int n;
	struct he_hist_entry *e;
};

static struct he_hist_entry global_entries[HE_HISTORY_ENTRIES];
static struct he_history global_store = {
	PTHREAD_MUTEX_INITIALIZER, HE_HISTORY_EXPIRY_US, 0,
	HE_HISTORY_ENTRIES, global_entries
};

/* A fork while another thread holds the lock would leave the child's copy
   locked forever: hold it across fork, release it on both sides. */
static void fork_prepare(void) { pthread_mutex_lock(&global_store.lock); }
static void fork_release(void) { pthread_mutex_unlock(&global_store.lock); }

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void
global_init(void)
{
	pthread_atfork(fork_prepare, fork_release, fork_release);
}

struct he_history *
he_history_global_(void)
{
	pthread_once(&global_once, global_init);
	return &global_store;
}

struct he_history *
he_history_new_(int nentries)
{
	struct he_history *h;

	if (nentries < 1 || !(h = calloc(1, sizeof(*h))))
		return NULL;
	if (!(h->e = calloc((size_t)nentries, sizeof(*h->e)))) {
		free(h);
		return NULL;
	}
	pthread_mutex_init(&h->lock, NULL);
	h->expiry = HE_HISTORY_EXPIRY_US;
	h->n = nentries;
	return h;
}

void
he_history_free_(struct he_history *h)
{
	if (!h || h == &global_store)
		return;
	pthread_mutex_destroy(&h->lock);
	free(h->e);
	free(h);
}

void
he_history_clear_(struct he_history *h)
{
	pthread_mutex_lock(&h->lock);
	memset(h->e, 0, (size_t)h->n * sizeof(*h->e));
	pthread_mutex_unlock(&h->lock);
}

void
he_history_set_expiry_(struct he_history *h, int64_t usec)
{
	pthread_mutex_lock(&h->lock);
	h->expiry = usec > 0 ? usec : HE_HISTORY_EXPIRY_US;
	pthread_mutex_unlock(&h->lock);
}

/* ---- the table (called with the lock held) ------------------------------ */

/* The key of a destination, in an entry's shape; 0 for other families. */
static int
key_of(const struct sockaddr *sa, struct he_hist_entry *k)
{
	memset(k, 0, sizeof(*k));
	if (!sa)
		return 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		memcpy(k->addr, &in->sin_addr, 4);
		k->port = in->sin_port;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 =
		    (const struct sockaddr_in6 *)sa;
		memcpy(k->addr, &in6->sin6_addr, 16);
		k->port = in6->sin6_port;
		k->scope = in6->sin6_scope_id;
	} else {
		return 0;
	}
	k->family = sa->sa_family;
	return 1;
}

static int
same_key(const struct he_hist_entry *a, const struct he_hist_entry *b)
{
	return a->family == b->family && a->port == b->port &&
	    a->scope == b->scope && !memcmp(a->addr, b->addr, 16);
}

static int64_t
age_of(const struct he_hist_entry *e, int64_t now)
{
	return now > e->learned ? now - e->learned : 0;
}

/* The live entry for k, or NULL; an expired one is freed on the way. */
static struct he_hist_entry *
find(struct he_history *h, const struct he_hist_entry *k, int64_t now)
{
	int i;

	for (i = 0; i < h->n; i++) {
		struct he_hist_entry *e = &h->e[i];
		if (!e->used || !same_key(e, k))
			continue;
		if (age_of(e, now) >= h->expiry) {
			e->used = 0;
			return NULL;
		}
		e->used = ++h->tick;
		return e;
	}
	return NULL;
}

/* The entry for k, made (in a free slot or the least recently used one)
   when there is none. */
static struct he_hist_entry *
find_or_make(struct he_history *h, const struct he_hist_entry *k,
    int64_t now)
{
	struct he_hist_entry *e = find(h, k, now), *victim = &h->e[0];
	int i;

	if (e)
		return e;
	for (i = 0; i < h->n && victim->used; i++)
		if (!h->e[i].used || h->e[i].used < victim->used)
			victim = &h->e[i];
	*victim = *k;
	victim->state = HE_HIST_UNKNOWN;
	victim->used = ++h->tick;
	victim->learned = now;
	return victim;
}

/* ---- the store's calls ---------------------------------------------------- */

int
he_history_lookup_(struct he_history *h, const struct sockaddr *sa,
    int64_t now, struct he_hist_info *out)
{
	struct he_hist_entry k, *e;

	memset(out, 0, sizeof(*out));
	if (!key_of(sa, &k))
		return 0;
	pthread_mutex_lock(&h->lock);
	if ((e = find(h, &k, now)) != NULL) {
		out->state = e->state;
		out->error = e->error;
		out->srtt = e->srtt;
		out->rttvar = e->rttvar;
		out->age = age_of(e, now);
	}
	pthread_mutex_unlock(&h->lock);
	return e != NULL;
}

/* RFC 6298 section 2: the first sample sets srtt = R and rttvar = R/2;
   later ones move them by 1/8 and 1/4. */
static void
rtt_sample(struct he_hist_entry *e, int64_t rtt)
{
	int64_t d;

	if (e->srtt <= 0) {
		e->srtt = rtt;
		e->rttvar = rtt / 2;
		return;
	}
	d = e->srtt > rtt ? e->srtt - rtt : rtt - e->srtt;
	e->rttvar = (3 * e->rttvar + d) / 4;
	e->srtt = (7 * e->srtt + rtt) / 8;
}

void
he_history_note_rtt_(struct he_history *h, const struct sockaddr *sa,
    int64_t now, int64_t rtt)
{
	struct he_hist_entry k, *e;

	if (!key_of(sa, &k))
		return;
	if (rtt < 1)
		rtt = 1;
	pthread_mutex_lock(&h->lock);
	e = find_or_make(h, &k, now);
	rtt_sample(e, rtt);
	e->state = HE_HIST_WORKED;
	e->error = 0;
	e->learned = now;
	pthread_mutex_unlock(&h->lock);
}

static void
note_bad(struct he_history *h, const struct sockaddr *sa, int64_t now,
    enum he_hist_state state, int error)
{
	struct he_hist_entry k, *e;

	if (!key_of(sa, &k))
		return;
	pthread_mutex_lock(&h->lock);
	e = find_or_make(h, &k, now);
	e->state = state;
	e->error = error;
	e->learned = now;
	pthread_mutex_unlock(&h->lock);
}

void
he_history_note_failed_(struct he_history *h, const struct sockaddr *sa,
    int64_t now, int error)
{
	if (he_history_path_error_(error))
		note_bad(h, sa, now, HE_HIST_FAILED, error);
}

void
he_history_note_hung_(struct he_history *h, const struct sockaddr *sa,
    int64_t now)
{
	note_bad(h, sa, now, HE_HIST_HUNG, 0);
}

int
he_history_count_(struct he_history *h, int64_t now)
{
	int i, n = 0;

	pthread_mutex_lock(&h->lock);
	for (i = 0; i < h->n; i++)
		if (h->e[i].used && age_of(&h->e[i], now) < h->expiry)
			n++;
	pthread_mutex_unlock(&h->lock);
	return n;
}

/* ---- pure rules ------------------------------------------------------------ */

int
he_history_path_error_(int error)
{
	switch (error) {
	case ECONNREFUSED: case ECONNRESET: case ECONNABORTED:
	case ETIMEDOUT: case EHOSTUNREACH: case ENETUNREACH:
	case EHOSTDOWN: case ENETDOWN: case EPROTO:
		return 1;
	default:
		return 0;
	}
}

int
he_history_suspect_(const struct he_hist_info *info)
{
	return info->state == HE_HIST_FAILED || info->state == HE_HIST_HUNG;
}

/* RFC 6298's retransmission timeout from the smoothed RTT: srtt +
   4 * rttvar, with the variation term at least srtt / 2.  An RTT measured
   from an event loop carries scheduling noise a kernel's timestamps do not,
   and after many equal samples rttvar shrinks towards 0: without the floor
   a handshake a few milliseconds late would start the next attempt, and
   the working address would lose races it should win. */
int64_t
he_history_delay_for_(const struct he_hist_info *info, int64_t dflt)
{
	int64_t var, d;

	if (info->srtt <= 0)
		return dflt;
	var = 4 * info->rttvar;
	if (var < info->srtt / 2)
		var = info->srtt / 2;
	d = info->srtt + var;
	if (d < HE_HISTORY_DELAY_MIN_US)
		d = HE_HISTORY_DELAY_MIN_US;
	if (d > HE_HISTORY_DELAY_MAX_US)
		d = HE_HISTORY_DELAY_MAX_US;
	return d;
}

/* ---- the race's use of it --------------------------------------------------- */

/* One untried address while the order is decided. */
struct he_hist_item {
	struct evutil_addrinfo *ai;
	struct he_hist_info info;
	int suspect;
	int moved;
};

/* Moves are kept for every race (the report shows them); a delay only for
 * the trace, since the report reads it from the attempt. */
static struct he_hist_note *
note_new(struct he_race *r)
{
	struct he_hist_note *n;

	if (r->nnotes == r->notes_cap) {
		int cap = r->notes_cap ? r->notes_cap * 2 : 8;
		n = realloc(r->notes, (size_t)cap * sizeof(*n));
		if (!n)
			return NULL;	/* the trace misses a line; no more */
		r->notes = n;
		r->notes_cap = cap;
	}
	n = &r->notes[r->nnotes++];
	memset(n, 0, sizeof(*n));
	return n;
}

static void
copy_addr(struct sockaddr_storage *to, const struct evutil_addrinfo *ai)
{
	memset(to, 0, sizeof(*to));
	if (ai && ai->ai_addr && ai->ai_addrlen <= sizeof(*to))
		memcpy(to, ai->ai_addr, ai->ai_addrlen);
}

/* Suspects go last, in their order; an item is "moved" when an address
   that is not suspect came after it. */
static void
partition_suspects(struct he_hist_item *it, int n)
{
	struct he_hist_item *tmp = malloc((size_t)n * sizeof(*tmp));
	int i, k = 0, seen_good = 0;

	if (!tmp)
		return;		/* history is advice: keep the order */
	for (i = n - 1; i >= 0; i--) {
		if (it[i].suspect && seen_good)
			it[i].moved = 1;
		if (!it[i].suspect)
			seen_good = 1;
	}
	for (i = 0; i < n; i++)
		if (!it[i].suspect)
			tmp[k++] = it[i];
	for (i = 0; i < n; i++)
		if (it[i].suspect)
			tmp[k++] = it[i];
	memcpy(it, tmp, (size_t)n * sizeof(*it));
	free(tmp);
}

/* The RTT order's key: known RTTs first, lowest first; unknown after. */
static int64_t
rtt_key(const struct he_hist_item *x)
{
	return x->info.srtt > 0 ? x->info.srtt : INT64_MAX;
}

/* Within one family, among the addresses that are not suspect, a lower
   known RTT goes first; the places each family holds stay as they are, so
   the RFC 6724 precedence between families (a working IPv6 path before
   IPv4) is kept: RFC 8305 section 4 puts the RTT rule between RFC 6724's
   rules 8 and 9.  Insertion sort: lists are short, and it is stable. */
static void
order_family_by_rtt(struct he_hist_item *it, int n, int family)
{
	struct he_hist_item *fam = malloc((size_t)n * sizeof(*fam)), x;
	int *place = malloc((size_t)n * sizeof(*place));
	int i, j, m = 0;

	if (!fam || !place)
		goto end;	/* history is advice: keep the order */
	for (i = 0; i < n; i++) {
		if (it[i].suspect || it[i].ai->ai_family != family)
			continue;
		place[m] = i;
		fam[m++] = it[i];
	}
	for (i = 1; i < m; i++) {
		x = fam[i];
		for (j = i; j > 0 && rtt_key(&fam[j - 1]) > rtt_key(&x); j--)
			fam[j] = fam[j - 1];
		if (j < i)
			x.moved = 1;
		fam[j] = x;
	}
	for (i = 0; i < m; i++)
		it[place[i]] = fam[i];
end:
	free(fam);
	free(place);
}

void
he_history_arrange_(struct he_race *r, int64_t now, int by_rtt)
{
	struct he_hist_item *it;
	struct evutil_addrinfo *ai, **pp;
	int i, n = 0, any = 0;

	for (ai = r->untried; ai; ai = ai->ai_next)
		n++;
	/* One address has no order to change (and so no note): no lookup,
	 * no scratch array, for the most common race. */
	if (n < 2 || !(it = calloc((size_t)n, sizeof(*it))))
		return;
	for (i = 0, ai = r->untried; ai; ai = ai->ai_next, i++) {
		it[i].ai = ai;
		any |= he_history_lookup_(r->cfg.history, ai->ai_addr, now,
		    &it[i].info);
		it[i].suspect = he_history_suspect_(&it[i].info);
	}
	if (any) {
		partition_suspects(it, n);
		if (by_rtt) {
			order_family_by_rtt(it, n, AF_INET6);
			order_family_by_rtt(it, n, AF_INET);
		}
		for (pp = &r->untried, i = 0; i < n; i++) {
			*pp = it[i].ai;
			pp = &it[i].ai->ai_next;
		}
		*pp = NULL;
		for (i = 0; i < n; i++) {
			struct he_hist_note *note;
			if (!it[i].moved || !(note = note_new(r)))
				continue;
			note->kind = HE_NOTE_MOVED;
			note->info = it[i].info;
			copy_addr(&note->addr, it[i].ai);
			note->pending = 1;
		}
	}
	free(it);
}

void
he_history_placed_(struct he_race *r)
{
	int i;

	for (i = 0; i < r->nnotes; i++) {
		struct he_hist_note *note = &r->notes[i];
		struct evutil_addrinfo *ai, *prev = NULL;
		if (!note->pending)
			continue;
		note->pending = 0;
		for (ai = r->untried; ai; prev = ai, ai = ai->ai_next)
			if (he_sockaddr_equal_(ai->ai_addr,
			    (struct sockaddr *)&note->addr))
				break;
		if (!ai)
			continue;
		/* Before the untried ones: the last attempt started. */
		if (!prev && r->nattempts > 0)
			prev = r->attempts[r->nattempts - 1].ai;
		copy_addr(&note->after, prev);
		if (!r->cfg.no_notes)
			he_race_queue_note_(r, i);
	}
}

int64_t
he_history_hold_until_(struct he_race *r, int64_t now)
{
	struct evutil_addrinfo *ai;
	struct he_hist_info info;

	if (r->nattempts > 0 || !r->untried ||
	    !(r->dns_pending[HE_FAM_V6] || r->dns_pending[HE_FAM_V4]))
		return HE_NEVER;
	for (ai = r->untried; ai; ai = ai->ai_next) {
		he_history_lookup_(r->cfg.history, ai->ai_addr, now, &info);
		if (!he_history_suspect_(&info))
			return HE_NEVER;
	}
	/* Waiting already: the wait runs from the first such answer. */
	if (r->history_wait_until != HE_NEVER)
		return r->history_wait_until;
	return now + r->cfg.resolution_delay;
}

int64_t
he_history_attempt_delay_(struct he_race *r, int i, int64_t now)
{
	const struct evutil_addrinfo *ai = r->attempts[i].ai;
	struct he_hist_info info;
	struct he_hist_note *note;
	int64_t d;

	if (!he_history_lookup_(r->cfg.history, ai->ai_addr, now, &info))
		return r->cfg.attempt_delay;
	/* A suspect was tried because nothing better was left, or only its
	   family had answered: wait for it no longer than the gap. */
	if (he_history_suspect_(&info))
		d = r->cfg.min_gap;
	else
		d = he_history_delay_for_(&info, r->cfg.attempt_delay);
	/* Said only when some attempt may still follow. */
	if (d != r->cfg.attempt_delay && !r->cfg.no_notes && (r->untried ||
	    r->dns_pending[HE_FAM_V6] || r->dns_pending[HE_FAM_V4]) &&
	    (note = note_new(r)) != NULL) {
		note->kind = HE_NOTE_DELAY;
		note->info = info;
		note->delay = d;
		copy_addr(&note->addr, ai);
		he_race_queue_note_(r, r->nnotes - 1);
	}
	return d;
}

/* An attempt still connecting when the race ended hung if it had at least
   the configured Connection Attempt Delay: the time RFC 8305 deems too
   long to wait for an address.  The (shorter) delay taken from an RTT is
   not the measure: a few milliseconds of noise must not brand a working
   path. */
static int
hung(const struct he_race *r, const struct he_attempt *a, int64_t now)
{
	if (a->state != HE_ATTEMPT_CANCELLED)
		return 0;
	if (r->winner < 0 && r->error != ETIMEDOUT)
		return 0;	/* cancelled by the user: nothing learned */
	return now - a->started >= r->cfg.attempt_delay;
}

/* A failure says the path is bad, except an ETIMEDOUT that came sooner
   than the attempt delay: that is the race closing an attempt to make
   room (the in-flight cap), not the network timing it out. */
void
he_history_learn_(struct he_race *r, int64_t now)
{
	struct he_history *h = r->cfg.history;
	int i;

	if (!h || r->learned)
		return;
	r->learned = 1;
	for (i = 0; i < r->nattempts; i++) {
		const struct he_attempt *a = &r->attempts[i];
		const struct sockaddr *sa = a->ai->ai_addr;
		if (a->state == HE_ATTEMPT_WON)
			he_history_note_rtt_(h, sa, now, a->ended - a->started);
		else if (a->state == HE_ATTEMPT_FAILED && (a->error !=
		    ETIMEDOUT || a->ended - a->started >= r->cfg.attempt_delay))
			he_history_note_failed_(h, sa, a->ended, a->error);
		else if (hung(r, a, now))
			he_history_note_hung_(h, sa, now);
	}
}

/* ---- the public calls and the trace --------------------------------------- */

int
evhappy_set_history(struct evhappy *he, int enabled)
{
	if (!he || (enabled != 0 && enabled != 1)) {
		errno = EINVAL;
		return -1;
	}
	he->set.history = enabled;
	return 0;
}

void
evhappy_clear_history(struct evhappy *he)
{
	if (he)
		he_history_clear_(he_history_global_());
}

static ev_socklen_t
addr_len(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return sizeof(struct sockaddr_in);
	if (ss->ss_family == AF_INET6)
		return sizeof(struct sockaddr_in6);
	return 0;
}

void
he_trace_history_(struct evhappy_request *req, const struct he_hist_note *n)
{
	struct evhappy_trace ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = EVHAPPY_TRACE_HISTORY;
	ev.addr = (const struct sockaddr *)&n->addr;
	ev.addrlen = addr_len(&n->addr);
	ev.family = n->addr.ss_family;
	ev.error = n->info.state == HE_HIST_FAILED ? n->info.error : 0;
	ev.history = (int)n->info.state;
	he_usec_to_tv_(n->info.age, &ev.age);
	he_usec_to_tv_(n->info.srtt, &ev.rtt);
	he_usec_to_tv_(n->info.rttvar, &ev.rttvar);
	if (n->kind == HE_NOTE_DELAY)
		he_usec_to_tv_(n->delay, &ev.delay);
	if (n->kind == HE_NOTE_MOVED) {
		ev.moved = 1;
		if (n->after.ss_family) {
			ev.after = (const struct sockaddr *)&n->after;
			ev.afterlen = addr_len(&n->after);
		}
	}
	he_trace_event_(req, &ev);
}
