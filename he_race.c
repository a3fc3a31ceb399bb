/*
 * The race's decisions (RFC 8305 sections 3 to 5), with no I/O and no clock.
 * See he_race.h for the contract; the glue in he_request.c carries out the
 * actions queued here.
 */
#include "he_internal.h"
#include "he_race.h"
#include "he_vec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

static void race_step(struct he_race *r, int64_t now);

/* he_race_own_entry_'s room must hold an IPv6 address (C99 has no
 * static_assert: a negative array size stops the build). */
typedef char he_own_entry_fits_[sizeof(((struct he_race *)0)->own.sa) >=
    sizeof(struct sockaddr_in6) ? 1 : -1];

void
he_race_init_(struct he_race *r, const struct he_race_config *cfg)
{
	memset(r, 0, sizeof(*r));
	he_race_setup_(r, cfg);
}

void
he_race_setup_(struct he_race *r, const struct he_race_config *cfg)
{
	r->cfg = *cfg;
	r->winner = -1;
	r->deadline = HE_NEVER;
	r->resolution_wait_until = HE_NEVER;
	r->history_wait_until = HE_NEVER;
	r->https_wait_until = HE_NEVER;
	r->ended = -1;
}

/* Where history's delay notes go: nowhere when nobody traces (the report
 * reads each attempt's delay from the attempt itself).  Moves are always
 * noted: the report draws them, and they are rare. */
static struct he_notes *
delay_notes(struct he_race *r)
{
	return r->cfg.no_notes ? NULL : &r->notes;
}

/* Free a list, all but the race's own entry, which is no allocation. */
void
he_race_free_list_(struct he_race *r, struct evutil_addrinfo *list)
{
	struct evutil_addrinfo *next;

	for (; list; list = next) {
		next = list->ai_next;
		list->ai_next = NULL;
		if (list != &r->own.e.ai)
			evhappy_addrinfo_free(list);
	}
}

struct evutil_addrinfo *
he_race_own_entry_(struct he_race *r, const struct evutil_addrinfo *src)
{
	if (!src || src->ai_next || r->own.e.ai.ai_addr)
		return NULL;	/* not one entry, or the room is taken */
	return he_ai_room_fill_(&r->own, src);
}

void
he_race_clear_(struct he_race *r)
{
	int i;

	for (i = 0; i < r->nattempts; i++)
		he_race_free_list_(r, r->attempts[i].ai);
	he_race_free_list_(r, r->untried);
	if (r->attempts != &r->first_attempt)
		free(r->attempts);
	if (r->actions != r->first_actions)
		free(r->actions);
	if (r->notes.v)
		he_notes_clear_(&r->notes);
	r->untried = NULL;
	r->attempts = NULL;
	r->actions = NULL;
	r->nattempts = r->attempts_cap = 0;
	r->nactions = r->actions_cap = r->actions_head = 0;
	r->done_pending = 0;
}

/* Room was reserved when the attempt started (reserve_attempt), so this
 * never allocates: a CLOSE is never lost. */
static void
queue_action(struct he_race *r, enum he_action_kind kind, int attempt)
{
	if (r->nactions == r->actions_cap) {
		r->oom = 1;	/* cannot happen: see reserve_attempt */
		return;
	}
	r->actions[r->nactions].kind = kind;
	r->actions[r->nactions].attempt = attempt;
	r->nactions++;
}

/* History's notes for the trace ride in the same queue, but only in room
 * beyond what every START and CLOSE has reserved: when that room cannot be
 * had the note is dropped (a trace line lost, never an outcome). */
static void
queue_note(struct he_race *r, int note)
{
	int need = 2 * r->attempts_cap + r->notes_queued + 1;

	if (r->actions_cap < need) {
		struct he_action *q = he_vec_grow_(r->actions, r->first_actions,
		    (size_t)r->nactions, (size_t)need, sizeof(*q));
		if (!q)
			return;
		r->actions = q;
		r->actions_cap = need;
	}
	r->notes_queued++;
	r->actions[r->nactions].kind = HE_ACT_HISTORY;
	r->actions[r->nactions].attempt = note;
	r->nactions++;
}

int
he_race_next_action_(struct he_race *r, struct he_action *out)
{
	if (r->actions_head < r->nactions) {
		*out = r->actions[r->actions_head++];
		return 1;
	}
	/* Drained: reuse the array from the start. */
	r->actions_head = r->nactions = 0;
	r->notes_queued = 0;
	if (!r->done_pending)
		return 0;
	/* DONE is a flag, not a queued entry: it needs no room. */
	r->done_pending = 0;
	out->kind = HE_ACT_DONE;
	out->attempt = r->winner;
	return 1;
}

static int
dns_pending(const struct he_race *r)
{
	return r->dns_pending[HE_FAM_V6] || r->dns_pending[HE_FAM_V4];
}

/* Any answer still to come that may bring addresses: the host's AAAA or
 * A, its HTTPS record, an endpoint target's addresses. */
static int
answers_pending(const struct he_race *r)
{
	return dns_pending(r) || r->https_pending || r->targets_one;
}

/* After attempts have started, the untried addresses go on alternating with
 * the family last tried: move the first address of another family to the
 * front of *list, so interleaving (families in order of first appearance)
 * starts with it. */
static void
lead_with_other_family(struct he_race *r, struct evutil_addrinfo **list)
{
	struct evutil_addrinfo **pp = list, *ai;

	for (; *pp; pp = &(*pp)->ai_next) {
		if ((*pp)->ai_family != r->last_family) {
			ai = *pp;
			*pp = ai->ai_next;
			ai->ai_next = *list;
			*list = ai;
			return;
		}
	}
}

/* Interleave one group's families; the group that goes next after attempts
 * began goes on alternating with the family last tried.  May allocate; a
 * failure leaves the list whole and ends the race (ENOMEM). */
static void
interleave_group(struct he_race *r, struct evutil_addrinfo **list, int next)
{
	int first_count = r->cfg.first_family_count;

	if (next && r->nattempts > 0) {
		lead_with_other_family(r, list);
		first_count = 1;
	}
	if (evhappy_addrinfo_interleave(list, first_count) < 0)
		r->oom = 1;
}

/* After interleaving: queue the notes of the addresses history moved,
 * now that their places are known. */
static void
history_placed(struct he_race *r, int from)
{
	int i;

	if (r->notes.n == from || r->oom)
		return;
	he_hist_place_(&r->notes, from, r->untried, r->nattempts ?
	    r->attempts[r->nattempts - 1].ai : NULL);
	for (i = from; i < r->notes.n && !r->cfg.no_notes; i++)
		if (r->notes.v[i].placed)
			queue_note(r, i);
}

/* One group's order (RFC 8305 section 4): sorted (a DNS answer) with
 * cfg.sort, then history's rule (once the race has a clock), then the
 * families interleaved. */
static void
order_group(struct he_race *r, struct evutil_addrinfo **list, int sort,
    int began, int next)
{
	if (sort && r->cfg.sort && r->cfg.sort(list) != 0) {
		r->oom = 1;
		return;
	}
	if (began && r->cfg.history)
		he_hist_arrange_(list, sort, &r->notes);
	interleave_group(r, list, next);
}

/* Where a group goes: endpoints in their order, the host's own last. */
static unsigned
group_rank(const struct evutil_addrinfo *ai)
{
	unsigned g = HE_AI_META(ai)->group;

	return g == HE_GROUP_HOST ? 0x10000u : g;
}

/* Whether the list holds more than one group (HTTPS records). */
static int
grouped(const struct evutil_addrinfo *list)
{
	const struct evutil_addrinfo *ai;

	for (ai = list; ai && ai->ai_next; ai = ai->ai_next)
		if (HE_AI_META(ai->ai_next)->group != HE_AI_META(list)->group)
			return 1;
	return 0;
}

/* Split *list into its groups in rank order (stable within each); at
 * most HE_RACE_GROUPS of them (the glue makes no more). */
#define HE_RACE_GROUPS 32
struct he_group {
	unsigned rank;
	struct evutil_addrinfo *head, **tail;
};

static int
split_groups(struct evutil_addrinfo *list, struct he_group *g)
{
	struct evutil_addrinfo *ai;
	int n = 0, i, j;

	for (; list; list = ai) {
		ai = list->ai_next;
		list->ai_next = NULL;
		for (i = 0; i < n && g[i].rank != group_rank(list); i++)
			;
		if (i == n) {
			if (n == HE_RACE_GROUPS)
				i = n - 1;	/* cannot happen: see above */
			else {
				for (j = n++; j > 0 && g[j - 1].rank >
				    group_rank(list); j--)
					g[j] = g[j - 1];
				i = j;
				g[i].rank = group_rank(list);
				g[i].head = NULL;
				g[i].tail = &g[i].head;
			}
		}
		*g[i].tail = list;
		g[i].tail = &list->ai_next;
	}
	return n;
}

/* Merge new addresses into the untried ones (RFC 8305 section 4: sorted
 * into the not-yet-tried list), group by group (the HTTPS records' order,
 * the host's own addresses last), then interleave the families within
 * each.  began is 0 before the race began (history waits for it).
 * Sorting and interleaving may allocate; a failure leaves the list whole
 * and ends the race (ENOMEM). */
static void
merge_untried(struct he_race *r, struct evutil_addrinfo *list, int sort,
    int began)
{
	struct he_group g[HE_RACE_GROUPS];
	struct evutil_addrinfo **tail = &r->untried;
	int from = r->notes.n, i, n;

	r->untried = he_addrinfo_concat_(r->untried, list);
	if (!r->untried->ai_next)
		return;		/* one address (most races): no order to keep */
	if (!grouped(r->untried)) {
		order_group(r, &r->untried, sort, began, 1);
		history_placed(r, from);
		return;
	}
	n = split_groups(r->untried, g);
	for (i = 0; i < n; i++) {
		if (!r->oom)
			order_group(r, &g[i].head, sort, began, i == 0);
		*tail = g[i].head;
		while (*tail)
			tail = &(*tail)->ai_next;
	}
	history_placed(r, from);
}

/* ---- which addresses join the race -------------------------------------- */

/* A whole address of one of the two families that may be connected to. */
static int
entry_usable(const struct evutil_addrinfo *ai)
{
	size_t need;

	if (!ai->ai_addr || ai->ai_addr->sa_family != ai->ai_family)
		return 0;
	need = ai->ai_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
	return ai->ai_addrlen >= need && he_addr_usable_(ai->ai_addr);
}

/* Unlink and free the entry at *pp. */
static void
drop_entry(struct he_race *r, struct evutil_addrinfo **pp)
{
	struct evutil_addrinfo *ai = *pp;

	*pp = ai->ai_next;
	ai->ai_next = NULL;
	he_race_free_list_(r, ai);
}

static struct evutil_addrinfo *
drop_unusable(struct he_race *r, struct evutil_addrinfo *list, int *n)
{
	struct evutil_addrinfo **pp = &list;

	*n = 0;
	while (*pp) {
		if (entry_usable(*pp)) {
			pp = &(*pp)->ai_next;
			++*n;
		} else {
			drop_entry(r, pp);
		}
	}
	return list;
}

/* Whether sa is an address the race knows already: untried or attempted,
 * or earlier in the joining list (up to `upto`). */
static int
seen_before(const struct he_race *r, const struct evutil_addrinfo *list,
    const struct evutil_addrinfo *upto, const struct sockaddr *sa)
{
	const struct evutil_addrinfo *ai;
	int i;

	for (i = 0; i < r->nattempts; i++)
		if (he_sockaddr_equal_(he_ai_identity_(r->attempts[i].ai), sa))
			return 1;
	for (ai = r->untried; ai; ai = ai->ai_next)
		if (he_sockaddr_equal_(he_ai_identity_(ai), sa))
			return 1;
	for (ai = list; ai != upto; ai = ai->ai_next)
		if (he_sockaddr_equal_(he_ai_identity_(ai), sa))
			return 1;
	return 0;
}

static struct evutil_addrinfo *
drop_dups_pairwise(struct he_race *r, struct evutil_addrinfo *list)
{
	struct evutil_addrinfo **pp = &list;

	while (*pp) {
		if (seen_before(r, list, *pp, he_ai_identity_(*pp)))
			drop_entry(r, pp);
		else
			pp = &(*pp)->ai_next;
	}
	return list;
}

/* One address in the sorted dedup: idx is its place in the joining list,
 * or -1 for an address the race holds already (those sort first). */
struct he_join_key {
	const struct sockaddr *sa;
	int idx;
};

/* A total order on usable addresses; 0 exactly when he_sockaddr_equal_. */
static int
sockaddr_cmp(const struct sockaddr *a, const struct sockaddr *b)
{
	const struct sockaddr_in6 *a6, *b6;
	const struct sockaddr_in *a4, *b4;
	int c;

	if (a->sa_family != b->sa_family)
		return a->sa_family < b->sa_family ? -1 : 1;
	if (a->sa_family == AF_INET) {
		a4 = (const struct sockaddr_in *)a;
		b4 = (const struct sockaddr_in *)b;
		c = memcmp(&a4->sin_addr, &b4->sin_addr, sizeof(a4->sin_addr));
		return c ? c : memcmp(&a4->sin_port, &b4->sin_port, 2);
	}
	a6 = (const struct sockaddr_in6 *)a;
	b6 = (const struct sockaddr_in6 *)b;
	c = memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof(a6->sin6_addr));
	if (!c)
		c = memcmp(&a6->sin6_port, &b6->sin6_port, 2);
	if (!c && a6->sin6_scope_id != b6->sin6_scope_id)
		c = a6->sin6_scope_id < b6->sin6_scope_id ? -1 : 1;
	return c;
}

static int
join_key_cmp(const void *pa, const void *pb)
{
	const struct he_join_key *a = pa, *b = pb;
	int c = sockaddr_cmp(a->sa, b->sa);

	if (c)
		return c;
	return (a->idx > b->idx) - (a->idx < b->idx);
}

/* The same as drop_dups_pairwise in O((n+m) log(n+m)) for big lists: sort
 * every address, known ones first, and drop each new one that equals the
 * one before it.  NULL and r->oom when the scratch array cannot be had. */
static struct evutil_addrinfo *
drop_dups_sorted(struct he_race *r, struct evutil_addrinfo *list, size_t n,
    size_t m)
{
	struct evutil_addrinfo *ai, **pp;
	struct he_join_key *k;
	unsigned char *dup;
	size_t i = 0, j;

	k = malloc((n + m) * sizeof(*k) + n);
	if (!k) {
		r->oom = 1;
		he_race_free_list_(r, list);
		return NULL;
	}
	dup = (unsigned char *)(k + n + m);
	memset(dup, 0, n);
	for (j = 0; j < (size_t)r->nattempts; j++, i++) {
		k[i].sa = he_ai_identity_(r->attempts[j].ai);
		k[i].idx = -1;
	}
	for (ai = r->untried; ai; ai = ai->ai_next, i++) {
		k[i].sa = he_ai_identity_(ai);
		k[i].idx = -1;
	}
	for (j = 0, ai = list; ai; ai = ai->ai_next, i++, j++) {
		k[i].sa = he_ai_identity_(ai);
		k[i].idx = (int)j;
	}
	qsort(k, n + m, sizeof(*k), join_key_cmp);
	for (i = 1; i < n + m; i++)
		if (k[i].idx >= 0 && !sockaddr_cmp(k[i - 1].sa, k[i].sa))
			dup[k[i].idx] = 1;
	for (pp = &list, j = 0; *pp; j++) {
		if (dup[j])
			drop_entry(r, pp);
		else
			pp = &(*pp)->ai_next;
	}
	free(k);
	return list;
}

/* Pairwise comparisons a join may make before it sorts instead: small
 * lists (the usual case) cost no allocation. */
#define HE_JOIN_PAIRWISE_MAX 1024

/* What of `list` joins the race: never an address it must not connect to
 * (unspecified, multicast, broadcast, a short or foreign entry), and each
 * address (with port and scope) only once, whether it is untried, was
 * attempted, or repeats within the list.  Frees the rest. */
static struct evutil_addrinfo *
admit(struct he_race *r, struct evutil_addrinfo *list)
{
	const struct evutil_addrinfo *ai;
	size_t m = (size_t)r->nattempts;
	int n;

	list = drop_unusable(r, list, &n);
	if (!list)
		return NULL;
	for (ai = r->untried; ai; ai = ai->ai_next)
		m++;
	if ((double)n * ((double)n + (double)m) <= HE_JOIN_PAIRWISE_MAX)
		return drop_dups_pairwise(r, list);
	return drop_dups_sorted(r, list, (size_t)n, m);
}

void
he_race_expect_dns_(struct he_race *r, enum he_fam fam)
{
	r->dns_pending[fam] = 1;
}

void
he_race_add_known_(struct he_race *r, struct evutil_addrinfo *list)
{
	list = admit(r, list);
	if (list && !r->untried && !list->ai_next)
		r->untried = list;	/* one address (most races) */
	else if (list)
		merge_untried(r, list, 0, 0);
}

void
he_race_begin_(struct he_race *r, int64_t now)
{
	r->began = now;
	/* HE_NEVER: no overall timeout (the drop-in's, he_event.c) */
	r->deadline = r->cfg.timeout >= HE_NEVER - now ? HE_NEVER :
	    now + r->cfg.timeout;
	/* One address has no order to change (most races). */
	if (r->untried && r->untried->ai_next && r->cfg.history)
		merge_untried(r, NULL, 0, 1);
	race_step(r, now);
}

/* What the first start may wait for besides AAAA: the HTTPS record, or
 * once it came, the answers of endpoints that go before the first
 * untried address (an endpoint of higher priority, or any endpoint
 * before the host's own addresses). */
static int
https_holds(const struct he_race *r)
{
	unsigned g;

	if (r->https_pending)
		return 1;
	if (!r->targets_one || !r->untried)
		return 0;
	g = HE_AI_META(r->untried)->group;
	return g == HE_GROUP_HOST || g > 32 ? 1 :
	    (r->targets_one & ((1u << (g - 1)) - 1)) != 0;
}

static int
resolution_waiting(const struct he_race *r, int64_t now)
{
	return (r->nattempts == 0 && r->dns_pending[HE_FAM_V6] &&
	    r->resolution_wait_until != HE_NEVER &&
	    now < r->resolution_wait_until) ||
	    (r->nattempts == 0 && dns_pending(r) &&
	    r->history_wait_until != HE_NEVER &&
	    now < r->history_wait_until) ||
	    (r->nattempts == 0 && https_holds(r) &&
	    now < r->https_wait_until);
}

/* Addresses joined while the HTTPS record or its targets' answers are
 * still out and nothing has started: the first start waits for them at
 * most the resolution delay, counted from the first address answer or
 * the record, whichever came first (endpoints go first in the order); the
 * answers, whatever they say, end the wait. */
static void
wait_for_https(struct he_race *r, int64_t now)
{
	if ((r->https_pending || r->targets_one) &&
	    r->nattempts == 0 && r->https_wait_until == HE_NEVER)
		r->https_wait_until = now + r->cfg.resolution_delay;
}

/* Until when the first start waits because only suspects are known and a
 * query is pending (he_race.h: "Suspects alone"), or HE_NEVER. */
static int64_t
hold_until(const struct he_race *r, int64_t now)
{
	if (r->nattempts > 0 || !dns_pending(r) ||
	    !he_hist_all_suspect_(r->untried))
		return HE_NEVER;
	/* Waiting already: the wait runs from the first such answer. */
	if (r->history_wait_until != HE_NEVER)
		return r->history_wait_until;
	return now + r->cfg.resolution_delay;
}

void
he_race_dns_answer_(struct he_race *r, int64_t now, enum he_fam fam,
    struct evutil_addrinfo *list, int eai_error)
{
	if (r->done || !r->dns_pending[fam]) {
		he_race_free_list_(r, list);
		race_step(r, now);	/* the rules still see the time */
		return;
	}
	r->dns_pending[fam] = 0;
	r->dns_error[fam] = eai_error;
	/* An answer with nothing usable left is an empty answer. */
	list = admit(r, list);
	if (list) {
		if (fam == HE_FAM_V4 && r->dns_pending[HE_FAM_V6] &&
		    r->nattempts == 0)
			r->resolution_wait_until =
			    now + r->cfg.resolution_delay;
		wait_for_https(r, now);
		merge_untried(r, list, 1, 1);
	}
	if (fam == HE_FAM_V6) {
		r->resolution_wait_until = HE_NEVER;
		/* Had AAAA come in time its address would have gone first:
		 * it joins the race at once instead of after a stagger. */
		if (list && r->v6_overdue)
			r->start_early = 1;
		r->v6_overdue = 0;
	}
	if (r->cfg.history)
		r->history_wait_until = hold_until(r, now);
	race_step(r, now);
}

void
he_race_dns_failed_(struct he_race *r, int64_t now, enum he_fam fam,
    int error)
{
	if (!r->done && r->dns_pending[fam] && !r->dns_errno)
		r->dns_errno = error;
	he_race_dns_answer_(r, now, fam, NULL, EVUTIL_EAI_SYSTEM);
}

void
he_race_expect_https_(struct he_race *r)
{
	r->https_pending = 1;
}

/* Whether a list holds an IPv6 address. */
static int
has_v6(const struct evutil_addrinfo *list)
{
	/* by identity: a synthesized IPv4 hint (NAT64) is an IPv4 one */
	for (; list; list = list->ai_next)
		if (he_ai_identity_(list)->sa_family == AF_INET6)
			return 1;
	return 0;
}

void
he_race_https_answer_(struct he_race *r, int64_t now,
    struct evutil_addrinfo *hints)
{
	if (r->done || !r->https_pending) {
		he_race_free_list_(r, hints);
		race_step(r, now);
		return;
	}
	r->https_pending = 0;
	if (r->targets_one)
		wait_for_https(r, now);	/* the targets' answers now */
	else
		r->https_wait_until = HE_NEVER;
	if ((hints = admit(r, hints)) != NULL) {
		/* Hints count as positive answers of their family: IPv6 ones
		 * as a positive AAAA, IPv4 ones alone as an A answer that
		 * waits for AAAA. */
		if (has_v6(hints))
			r->resolution_wait_until = HE_NEVER;
		else if (r->dns_pending[HE_FAM_V6] && r->nattempts == 0 &&
		    r->resolution_wait_until == HE_NEVER)
			r->resolution_wait_until =
			    now + r->cfg.resolution_delay;
		merge_untried(r, hints, 1, 1);
	}
	if (r->cfg.history)
		r->history_wait_until = hold_until(r, now);
	race_step(r, now);
}

/* Each endpoint (group) has one target, asked for AAAA and A: its count
 * of answers out (0 .. 2) is bit g-1 of targets_one (at least one) and
 * of targets_two (two). */
void
he_race_expect_target_(struct he_race *r, unsigned groups)
{
	r->targets_two |= r->targets_one & groups;
	r->targets_one |= groups;
}

static void
target_answered(struct he_race *r, unsigned groups)
{
	unsigned last = groups & ~r->targets_two;

	r->targets_two &= ~groups;
	r->targets_one &= ~last;
}

void
he_race_target_answer_(struct he_race *r, int64_t now, unsigned groups,
    struct evutil_addrinfo *list)
{
	if (r->done || !groups || (r->targets_one & groups) != groups) {
		he_race_free_list_(r, list);
		race_step(r, now);
		return;
	}
	target_answered(r, groups);
	if ((list = admit(r, list)) != NULL)
		merge_untried(r, list, 1, 1);
	race_step(r, now);
}

/* Append at *tail a copy of the host's own entry ai at port in group,
 * unless ai is already at that port; the new tail, or NULL when an
 * allocation failed (the race then ends with ENOMEM). */
static struct evutil_addrinfo **
copy_host_at(struct he_race *r, const struct evutil_addrinfo *ai,
    unsigned group, int port, struct evutil_addrinfo **tail)
{
	if (!tail || HE_AI_META(ai)->group != HE_GROUP_HOST ||
	    he_sockaddr_port_(ai->ai_addr) == port)
		return tail;
	if (he_addrinfo_dup_entry_(ai, tail) != 0) {
		r->oom = 1;
		return NULL;
	}
	he_addrinfo_set_port_(*tail, port);
	HE_AI_META(*tail)->group = (uint16_t)group;
	return &(*tail)->ai_next;
}

void
he_race_endpoint_from_host_(struct he_race *r, unsigned group, int port)
{
	struct evutil_addrinfo *ai, *copies = NULL, **tail = &copies;
	struct he_ai_meta *m;
	int i, moved = 0;

	if (r->done)
		return;
	for (ai = r->untried; ai; ai = ai->ai_next) {
		m = HE_AI_META(ai);
		if (m->group == HE_GROUP_HOST &&
		    he_sockaddr_port_(ai->ai_addr) == port) {
			m->group = (uint16_t)group;
			moved = 1;
		} else
			tail = copy_host_at(r, ai, group, port, tail);
	}
	for (i = 0; i < r->nattempts; i++)
		tail = copy_host_at(r, r->attempts[i].ai, group, port, tail);
	if (r->oom) {
		evhappy_addrinfo_free(copies);
		return;
	}
	copies = admit(r, copies);
	if (moved || copies)
		merge_untried(r, copies, 1, 1);
}

/* Whether answer holds hint's server (by identity: a NAT64 address is
 * the IPv4 address it stands for) at hint's very address: 1; the server
 * at another address (a hint synthesized otherwise than the answer, or
 * not at all): 2; not at all: 0. */
static int
answer_has(const struct evutil_addrinfo *answer,
    const struct evutil_addrinfo *hint)
{
	const struct sockaddr *id = he_ai_identity_(hint);
	int r = 0;

	for (; answer; answer = answer->ai_next)
		if (he_sockaddr_equal_(he_ai_identity_(answer), id)) {
			if (he_sockaddr_equal_(answer->ai_addr, hint->ai_addr))
				return 1;
			r = 2;
		}
	return r;
}

int
he_race_confirm_hints_(struct he_race *r, unsigned group, int family,
    const struct evutil_addrinfo *answer)
{
	struct evutil_addrinfo **pp = &r->untried;
	struct he_ai_meta *m;
	int n = 0;

	while (*pp) {
		m = HE_AI_META(*pp);
		/* a synthesized IPv4 hint is the A answer's to confirm */
		if (!(m->flags & HE_AI_HINT) || m->group != group ||
		    he_ai_identity_(*pp)->sa_family != family) {
			pp = &(*pp)->ai_next;
		} else if (answer_has(answer, *pp) == 1) {
			m->flags &= ~HE_AI_HINT;
			pp = &(*pp)->ai_next;
		} else {
			/* not the answer's; or the answer's at another
			   address, which joins in its place */
			drop_entry(r, pp);
			n++;
		}
	}
	return n;
}

/* When the start rule next allows a start, ignoring the untried list and
 * the cap; `now` if at once. */
static int64_t
next_start_time(const struct he_race *r, int64_t now)
{
	int64_t t, delay;

	if (r->nattempts == 0) {
		t = r->resolution_wait_until != HE_NEVER &&
		    r->dns_pending[HE_FAM_V6] ? r->resolution_wait_until : now;
		if (r->history_wait_until != HE_NEVER && dns_pending(r) &&
		    r->history_wait_until > t)
			t = r->history_wait_until;
		if (https_holds(r) && r->https_wait_until > t)
			t = r->https_wait_until;
		return t;
	}
	delay = r->attempts[r->nattempts - 1].delay;
	if (r->start_early || r->in_flight == 0 || delay < r->cfg.min_gap)
		t = r->last_start + r->cfg.min_gap;
	else
		t = r->last_start + delay;
	return t > now ? t : now;
}

/* The cap of attempts in flight does not hold a start back: start_next
 * makes room (see close_oldest). */
static int
can_start(const struct he_race *r, int64_t now)
{
	return r->untried && !resolution_waiting(r, now) &&
	    next_start_time(r, now) <= now;
}

/* Room for one more attempt and for the two actions it may queue (its
 * START and its CLOSE), taken before it starts, so that no CLOSE (and no
 * DONE, a flag) ever needs an allocation.  -1 when memory ran out. */
static int
reserve_attempt(struct he_race *r)
{
	if (r->attempts_cap == 0 && r->actions_cap == 0) {
		r->attempts = &r->first_attempt;
		r->attempts_cap = 1;
		r->actions = r->first_actions;
		r->actions_cap = 2;
	}
	if (r->nattempts == r->attempts_cap) {
		int cap = r->attempts_cap < 8 ? 8 : r->attempts_cap * 2;
		struct he_attempt *a = he_vec_grow_(r->attempts,
		    &r->first_attempt,
		    (size_t)r->nattempts, (size_t)cap, sizeof(*a));
		if (!a)
			return -1;
		r->attempts = a;
		r->attempts_cap = cap;
	}
	if (r->actions_cap < 2 * r->attempts_cap + r->notes_queued) {
		int cap = 2 * r->attempts_cap + r->notes_queued;
		struct he_action *q = he_vec_grow_(r->actions,
		    r->first_actions, (size_t)r->nactions, (size_t)cap,
		    sizeof(*q));
		if (!q)
			return -1;
		r->actions = q;
		r->actions_cap = cap;
	}
	return 0;
}

/* At the cap with a start due, the attempt that has run longest is given
 * up (ETIMEDOUT): black holes must not keep reachable addresses waiting,
 * and a hostile list must not open more sockets.  The default cap is far
 * above real lists, so this is the exception (he_event.h says why). */
static void
close_oldest(struct he_race *r, int64_t now)
{
	struct he_attempt *a;

	for (; r->oldest < r->nattempts; r->oldest++) {
		a = &r->attempts[r->oldest];
		if (a->state != HE_ATTEMPT_RUNNING)
			continue;
		a->state = HE_ATTEMPT_FAILED;
		a->error = ETIMEDOUT;
		a->ended = now;
		r->in_flight--;
		queue_action(r, HE_ACT_CLOSE, r->oldest++);
		return;
	}
}

/* The delay after a's start, from its facts; a note when it is not the
 * configured one. */
static void
attempt_delay(struct he_race *r, struct he_attempt *a)
{
	const struct he_hist_info *f = &HE_AI_META(a->ai)->facts;
	int note;

	if (f->state == HE_HIST_UNKNOWN)
		return;
	a->delay = he_hist_attempt_delay_(f, r->cfg.attempt_delay,
	    r->cfg.min_gap);
	if (a->delay != r->cfg.attempt_delay &&
	    (note = he_hist_note_delay_(delay_notes(r), a->ai, a->delay)) >= 0)
		queue_note(r, note);
}

static void
start_next(struct he_race *r, int64_t now)
{
	struct he_attempt *a;
	struct evutil_addrinfo *ai;

	if (reserve_attempt(r) < 0) {
		r->oom = 1;
		return;
	}
	if (r->in_flight >= r->cfg.max_in_flight)
		close_oldest(r, now);
	if (r->nattempts == 0 && r->dns_pending[HE_FAM_V6])
		r->v6_overdue = 1;
	ai = r->untried;
	r->untried = ai->ai_next;
	ai->ai_next = NULL;
	a = &r->attempts[r->nattempts];
	memset(a, 0, sizeof(*a));
	a->ai = ai;
	a->state = HE_ATTEMPT_RUNNING;
	a->started = now;
	a->ended = -1;
	r->in_flight++;
	r->last_start = now;
	r->last_family = ai->ai_family;
	r->start_early = 0;
	a->delay = r->cfg.attempt_delay;
	queue_action(r, HE_ACT_START, r->nattempts++);
	/* The delay only times a later start (and its note is said only
	 * then): with nothing untried and no answer to come, the facts are
	 * not needed (and may be unknown). */
	if (r->cfg.history && (r->untried || dns_pending(r)))
		attempt_delay(r, a);
}

static void
close_running(struct he_race *r, int64_t now, int error)
{
	int i;

	for (i = 0; i < r->nattempts; i++) {
		struct he_attempt *a = &r->attempts[i];
		if (a->state != HE_ATTEMPT_RUNNING)
			continue;
		a->state = HE_ATTEMPT_CANCELLED;
		a->error = error;
		a->ended = now;
		queue_action(r, HE_ACT_CLOSE, i);
	}
	r->in_flight = 0;
}

static void
finish(struct he_race *r, int64_t now, int error, int dns_failure)
{
	close_running(r, now, error ? error : ECANCELED);
	r->done = 1;
	r->ended = now;
	r->error = error;
	r->dns_failure = dns_failure;
	r->done_pending = 1;
}

/* The errno all attempts share, else the first attempt's: the most
 * preferred address says most (Go reports the same).  Both are the first
 * attempt's errno. */
static int
attempts_error(const struct he_race *r)
{
	return r->attempts[0].error;
}

static int
resolution_error(const struct he_race *r)
{
	if (r->dns_error[HE_FAM_V4])
		return r->dns_error[HE_FAM_V4];
	if (r->dns_error[HE_FAM_V6])
		return r->dns_error[HE_FAM_V6];
	return EVUTIL_EAI_NONAME;
}

static int
everything_failed(const struct he_race *r)
{
	return r->in_flight == 0 && !r->untried && !answers_pending(r);
}

static void
race_step(struct he_race *r, int64_t now)
{
	if (r->done)
		return;
	if (r->oom) {
		finish(r, now, ENOMEM, 0);
		return;
	}
	if (now >= r->deadline) {
		int never_known = r->nattempts == 0 && !r->untried;
		finish(r, now, ETIMEDOUT,
		    never_known && answers_pending(r) ? EVUTIL_EAI_AGAIN : 0);
		return;
	}
	while (can_start(r, now) && !r->oom)
		start_next(r, now);
	if (r->oom) {	/* in this same event, not at the next timer */
		finish(r, now, ENOMEM, 0);
		return;
	}
	if (everything_failed(r)) {
		if (r->nattempts == 0)
			finish(r, now, r->dns_errno ? r->dns_errno :
			    EHOSTUNREACH, resolution_error(r));
		else
			finish(r, now, attempts_error(r), 0);
	}
}

void
he_race_attempt_failed_(struct he_race *r, int64_t now, int attempt,
    int error)
{
	struct he_attempt *a;

	if (r->done || attempt < 0 || attempt >= r->nattempts ||
	    r->attempts[attempt].state != HE_ATTEMPT_RUNNING) {
		race_step(r, now);	/* the rules still see the time */
		return;
	}
	a = &r->attempts[attempt];
	a->state = HE_ATTEMPT_FAILED;
	a->error = error ? error : EIO;
	a->ended = now;
	r->in_flight--;
	r->start_early = 1;
	race_step(r, now);
}

int
he_race_attempt_connected_(struct he_race *r, int64_t now, int attempt)
{
	struct he_attempt *a;

	if (r->done || attempt < 0 || attempt >= r->nattempts ||
	    r->attempts[attempt].state != HE_ATTEMPT_RUNNING) {
		race_step(r, now);	/* the rules still see the time */
		return 0;
	}
	a = &r->attempts[attempt];
	a->state = HE_ATTEMPT_WON;
	a->error = 0;
	a->ended = now;
	r->in_flight--;
	r->winner = attempt;
	finish(r, now, 0, 0);
	return 1;
}

void
he_race_refuse_winner_(struct he_race *r, int error)
{
	struct he_attempt *a;

	if (!r->done || r->winner < 0)
		return;
	a = &r->attempts[r->winner];
	a->state = HE_ATTEMPT_FAILED;
	a->error = error ? error : EIO;
	r->error = a->error;
	r->winner = -1;
}

void
he_race_timer_(struct he_race *r, int64_t now)
{
	race_step(r, now);
}

void
he_race_cancel_(struct he_race *r, int64_t now)
{
	if (r->done)
		return;
	close_running(r, now, ECANCELED);
	r->done = 1;
	r->ended = now;
	r->error = ECANCELED;
}

int64_t
he_race_next_wakeup_(const struct he_race *r)
{
	int64_t t = r->deadline;

	if (r->done)
		return HE_NEVER;
	if (r->untried) {	/* at the cap too: start_next makes room */
		int64_t s = next_start_time(r,
		    r->nattempts ? r->last_start : r->began);
		if (s < t)
			t = s;
	}
	return t;
}

/* ---- what a race taught ------------------------------------------------- */

/* An attempt still connecting when the race ended hung if it had at least
   the configured Connection Attempt Delay: the time RFC 8305 deems too
   long to wait for an address.  The (shorter) delay taken from an RTT is
   not the measure: a few milliseconds of noise must not brand a working
   path. */
static int
hung(const struct he_race *r, const struct he_attempt *a)
{
	if (a->state != HE_ATTEMPT_CANCELLED)
		return 0;
	if (r->winner < 0 && r->error != ETIMEDOUT)
		return 0;	/* cancelled by the user: nothing learned */
	return r->ended - a->started >= r->cfg.attempt_delay;
}

/* A failure says the path is bad, except an ETIMEDOUT that came sooner
   than the attempt delay: that is the race closing an attempt to make
   room (the in-flight cap), not the network timing it out. */
static enum he_hist_state
verdict_of(const struct he_race *r, const struct he_attempt *a)
{
	if (a->state == HE_ATTEMPT_WON)
		return HE_HIST_WORKED;
	if (a->state == HE_ATTEMPT_FAILED && (a->error != ETIMEDOUT ||
	    a->ended - a->started >= r->cfg.attempt_delay))
		return HE_HIST_FAILED;
	return hung(r, a) ? HE_HIST_HUNG : HE_HIST_UNKNOWN;
}

static void
lesson_of(const struct he_race *r, const struct he_attempt *a,
    enum he_hist_state verdict, struct he_lesson *l)
{
	l->sa = he_ai_identity_(a->ai);
	l->verdict = verdict;
	l->error = verdict == HE_HIST_FAILED ? a->error : 0;
	l->rtt = verdict == HE_HIST_WORKED ? a->ended - a->started : 0;
	l->at = verdict == HE_HIST_HUNG ? r->ended : a->ended;
}

/* Add the lessons of verdict `want`, in attempt order, while room is left. */
static int
lessons_of(const struct he_race *r, enum he_hist_state want,
    struct he_lesson *out, int n, int max)
{
	int i;

	for (i = 0; i < r->nattempts && n < max; i++)
		if (i != r->winner && verdict_of(r, &r->attempts[i]) == want)
			lesson_of(r, &r->attempts[i], want, &out[n++]);
	return n;
}

int
he_race_lessons_(const struct he_race *r, struct he_lesson *out, int max)
{
	int n = 0;

	if (!r->done)
		return 0;
	if (max > HE_LESSONS_MAX)
		max = HE_LESSONS_MAX;
	if (r->winner >= 0 && n < max)
		lesson_of(r, &r->attempts[r->winner], HE_HIST_WORKED, &out[n++]);
	/* Most races have one attempt, the winner: nothing more to look at. */
	if (r->nattempts == (r->winner >= 0))
		return n;
	n = lessons_of(r, HE_HIST_HUNG, out, n, max);
	return lessons_of(r, HE_HIST_FAILED, out, n, max);
}
