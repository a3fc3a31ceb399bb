/*
 * The race core's history rules (he_race_hist.h; the rules in he_race.h).
 */
#include "he_internal.h"
#include "he_race_hist.h"
#include "he_addrinfo.h"
#include "he_vec.h"

#include <stdlib.h>
#include <string.h>

/* The bounds of an attempt delay taken from an RTT (RFC 8305 section 5
 * asks for at least 10 ms; 2 s is the longest Connection Attempt Delay it
 * allows). */
#define HE_HIST_DELAY_MIN_US ((int64_t)10 * 1000)
#define HE_HIST_DELAY_MAX_US ((int64_t)2000 * 1000)

void
he_notes_clear_(struct he_notes *notes)
{
	free(notes->v);
	notes->v = NULL;
	notes->n = notes->cap = 0;
}

static const struct he_hist_info *
facts_of(const struct evutil_addrinfo *ai)
{
	return &HE_AI_META(ai)->facts;
}

int
he_hist_suspect_(const struct he_hist_info *info)
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
he_hist_delay_for_(const struct he_hist_info *info, int64_t dflt)
{
	int64_t srtt = info->srtt, var, d;

	if (srtt <= 0)
		return dflt;
	var = 4 * (int64_t)info->rttvar;
	if (var < srtt / 2)
		var = srtt / 2;
	d = srtt + var;
	if (d < HE_HIST_DELAY_MIN_US)
		d = HE_HIST_DELAY_MIN_US;
	if (d > HE_HIST_DELAY_MAX_US)
		d = HE_HIST_DELAY_MAX_US;
	return d;
}

/* A suspect was tried because nothing better was left, or only its
   family had answered: wait for it no longer than the gap. */
int64_t
he_hist_attempt_delay_(const struct he_hist_info *info, int64_t dflt,
    int64_t min_gap)
{
	if (he_hist_suspect_(info))
		return min_gap;
	return he_hist_delay_for_(info, dflt);
}

static struct he_hist_note *
note_new(struct he_notes *notes, enum he_hist_note_kind kind,
    const struct evutil_addrinfo *ai)
{
	struct he_hist_note *n;

	if (!notes)
		return NULL;	/* no trace to tell */
	if (notes->n == notes->cap) {
		size_t cap = he_vec_cap_((size_t)notes->cap,
		    (size_t)notes->n + 1, 8);
		if (!cap || !(n = he_vec_grow_(notes->v, NULL,
		    (size_t)notes->n, cap, sizeof(*n))))
			return NULL;	/* the trace misses a line; no more */
		notes->v = n;
		notes->cap = (int)cap;
	}
	n = &notes->v[notes->n++];
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->info = *facts_of(ai);
	if (ai->ai_addrlen <= sizeof(n->addr))
		memcpy(&n->addr, ai->ai_addr, ai->ai_addrlen);
	return n;
}

int
he_hist_note_delay_(struct he_notes *notes, const struct evutil_addrinfo *ai,
    int64_t delay)
{
	struct he_hist_note *n = note_new(notes, HE_NOTE_DELAY, ai);

	if (!n)
		return -1;
	n->delay = delay;
	return notes->n - 1;
}

/* One address while the order is decided. */
struct he_hist_item {
	struct evutil_addrinfo *ai;
	int suspect;
	int moved;
};

/* Suspects go last, in their order; an item is "moved" when an address
   that is not suspect came after it. */
static void
partition_suspects(struct he_hist_item *it, struct he_hist_item *tmp, int n)
{
	int i, k = 0, seen_good = 0;

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
}

/* The RTT order's key: known RTTs first, lowest first; unknown after. */
static int64_t
rtt_key(const struct he_hist_item *x)
{
	uint32_t srtt = facts_of(x->ai)->srtt;

	return srtt > 0 ? (int64_t)srtt : INT64_MAX;
}

/* Within one family, among the addresses that are not suspect, a lower
   known RTT goes first; the places each family holds stay as they are, so
   the RFC 6724 precedence between families (a working IPv6 path before
   IPv4) is kept: RFC 8305 section 4 puts the RTT rule between RFC 6724's
   rules 8 and 9.  Insertion sort: lists are short, and it is stable.
   fam and place are scratch arrays of n. */
static void
order_family_by_rtt(struct he_hist_item *it, int n, int family,
    struct he_hist_item *fam, int *place)
{
	struct he_hist_item x;
	int i, j, m = 0;

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
}

static void
relink(struct evutil_addrinfo **list, const struct he_hist_item *it, int n)
{
	struct evutil_addrinfo **pp = list;
	int i;

	for (i = 0; i < n; i++) {
		*pp = it[i].ai;
		pp = &it[i].ai->ai_next;
	}
	*pp = NULL;
}

void
he_hist_arrange_(struct evutil_addrinfo **list, int by_rtt,
    struct he_notes *notes)
{
	struct he_hist_item *it;
	struct evutil_addrinfo *ai;
	int i, n = 0, any = 0, *place;

	for (ai = *list; ai; ai = ai->ai_next) {
		n++;
		any |= facts_of(ai)->state != HE_HIST_UNKNOWN;
	}
	/* History is advice: without memory for the scratch arrays, the
	 * order stays. */
	if (!any || n < 2 || !(it = calloc((size_t)n, 2 * sizeof(*it) +
	    sizeof(int))))
		return;
	place = (int *)(it + 2 * n);
	for (i = 0, ai = *list; ai; ai = ai->ai_next, i++) {
		it[i].ai = ai;
		it[i].suspect = he_hist_suspect_(facts_of(ai));
	}
	partition_suspects(it, it + n, n);
	if (by_rtt) {
		order_family_by_rtt(it, n, AF_INET6, it + n, place);
		order_family_by_rtt(it, n, AF_INET, it + n, place);
	}
	relink(list, it, n);
	for (i = 0; i < n; i++) {
		struct he_hist_note *note;
		if (it[i].moved &&
		    (note = note_new(notes, HE_NOTE_MOVED, it[i].ai)) != NULL)
			note->pending = 1;
	}
	free(it);
}

static void
copy_addr(struct sockaddr_storage *to, const struct evutil_addrinfo *ai)
{
	memset(to, 0, sizeof(*to));
	if (ai && ai->ai_addr && ai->ai_addrlen <= sizeof(*to))
		memcpy(to, ai->ai_addr, ai->ai_addrlen);
}

void
he_hist_place_(struct he_notes *notes, int from,
    const struct evutil_addrinfo *untried,
    const struct evutil_addrinfo *last_started)
{
	int i;

	for (i = from; i < notes->n; i++) {
		struct he_hist_note *note = &notes->v[i];
		const struct evutil_addrinfo *ai, *prev = NULL;
		if (!note->pending)
			continue;
		note->pending = 0;
		for (ai = untried; ai; prev = ai, ai = ai->ai_next)
			if (he_sockaddr_equal_(ai->ai_addr,
			    (const struct sockaddr *)&note->addr))
				break;
		if (!ai)
			continue;
		/* Before the untried ones: the last attempt started. */
		copy_addr(&note->after, prev ? prev : last_started);
		note->placed = 1;
	}
}

int
he_hist_all_suspect_(const struct evutil_addrinfo *list)
{
	if (!list)
		return 0;
	for (; list; list = list->ai_next)
		if (!he_hist_suspect_(facts_of(list)))
			return 0;
	return 1;
}
