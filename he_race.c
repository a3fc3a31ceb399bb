/*
 * The race's decisions (RFC 8305 sections 3 to 5), with no I/O and no clock.
 * See he_race.h for the contract; the glue in he_event.c carries out the
 * actions queued here.
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include "he_internal.h"
#include "he_history.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void race_step(struct he_race *r, int64_t now);

int
he_fam_of_(int af)
{
	if (af == AF_INET6)
		return HE_FAM_V6;
	if (af == AF_INET)
		return HE_FAM_V4;
	return -1;
}

void
he_race_init_(struct he_race *r, const struct he_race_config *cfg)
{
	memset(r, 0, sizeof(*r));
	r->cfg = *cfg;
	r->winner = -1;
	r->deadline = HE_NEVER;
	r->resolution_wait_until = HE_NEVER;
	r->history_wait_until = HE_NEVER;
}

void
he_race_clear_(struct he_race *r)
{
	int i;

	for (i = 0; i < r->nattempts; i++)
		evhappy_addrinfo_free(r->attempts[i].ai);
	evhappy_addrinfo_free(r->untried);
	free(r->attempts);
	free(r->actions);
	free(r->notes);
	r->notes = NULL;
	r->nnotes = r->notes_cap = 0;
	r->untried = NULL;
	r->attempts = NULL;
	r->actions = NULL;
	r->nattempts = r->attempts_cap = 0;
	r->nactions = r->actions_cap = r->actions_head = 0;
}

static void
queue_action(struct he_race *r, enum he_action_kind kind, int attempt)
{
	if (r->nactions == r->actions_cap) {
		int cap = r->actions_cap ? r->actions_cap * 2 : 8;
		struct he_action *a = realloc(r->actions, cap * sizeof(*a));
		if (!a) {
			r->oom = 1;
			return;
		}
		r->actions = a;
		r->actions_cap = cap;
	}
	r->actions[r->nactions].kind = kind;
	r->actions[r->nactions].attempt = attempt;
	r->nactions++;
}

void
he_race_queue_(struct he_race *r, enum he_action_kind kind, int attempt)
{
	queue_action(r, kind, attempt);
}

int
he_race_next_action_(struct he_race *r, struct he_action *out)
{
	if (r->actions_head == r->nactions) {
		/* Drained: reuse the array from the start. */
		r->actions_head = r->nactions = 0;
		return 0;
	}
	*out = r->actions[r->actions_head++];
	return 1;
}

static int
dns_pending(const struct he_race *r)
{
	return r->dns_pending[HE_FAM_V6] || r->dns_pending[HE_FAM_V4];
}

/* After attempts have started, the untried addresses go on alternating with
 * the family last tried: move the first address of another family to the
 * front, so interleaving (families in order of first appearance) starts
 * with it. */
static void
lead_with_other_family(struct he_race *r)
{
	struct evutil_addrinfo **pp = &r->untried, *ai;

	for (; *pp; pp = &(*pp)->ai_next) {
		if ((*pp)->ai_family != r->last_family) {
			ai = *pp;
			*pp = ai->ai_next;
			ai->ai_next = r->untried;
			r->untried = ai;
			return;
		}
	}
}

static void
interleave_untried(struct he_race *r)
{
	if (r->nattempts == 0) {
		evhappy_addrinfo_interleave(&r->untried,
		    r->cfg.first_family_count);
		return;
	}
	lead_with_other_family(r);
	evhappy_addrinfo_interleave(&r->untried, 1);
}

/* History reorders the untried addresses (before interleaving, as one more
 * sorting rule) once the race has a clock: at begin, and as answers come. */
static void
history_arrange(struct he_race *r, int64_t now, int by_rtt)
{
	if (!r->cfg.history)
		return;
	he_history_arrange_(r, now, by_rtt);
}

/* Merge new addresses into the untried ones (RFC 8305 section 4: sorted
 * into the not-yet-tried list), then interleave the families.  now is
 * HE_NEVER before the race began. */
static void
merge_untried(struct he_race *r, struct evutil_addrinfo *list, int sort,
    int64_t now)
{
	r->untried = he_addrinfo_concat_(r->untried, list);
	if (sort && r->cfg.sort && r->cfg.sort(&r->untried) < 0)
		r->oom = 1;
	if (now != HE_NEVER)
		history_arrange(r, now, sort);
	interleave_untried(r);
	if (r->cfg.history)
		he_history_placed_(r);
}

void
he_race_expect_dns_(struct he_race *r, enum he_fam fam)
{
	r->dns_pending[fam] = 1;
}

void
he_race_add_known_(struct he_race *r, struct evutil_addrinfo *list)
{
	merge_untried(r, list, 0, HE_NEVER);
}

void
he_race_begin_(struct he_race *r, int64_t now)
{
	r->began = now;
	r->deadline = now + r->cfg.timeout;
	if (r->untried && r->cfg.history) {
		history_arrange(r, now, 0);
		interleave_untried(r);
		he_history_placed_(r);
	}
	race_step(r, now);
}

static int
resolution_waiting(const struct he_race *r, int64_t now)
{
	return (r->nattempts == 0 && r->dns_pending[HE_FAM_V6] &&
	    now < r->resolution_wait_until) ||
	    (r->nattempts == 0 && dns_pending(r) &&
	    r->history_wait_until != HE_NEVER &&
	    now < r->history_wait_until);
}

void
he_race_dns_answer_(struct he_race *r, int64_t now, enum he_fam fam,
    struct evutil_addrinfo *list, int eai_error)
{
	if (r->done || !r->dns_pending[fam]) {
		evhappy_addrinfo_free(list);
		return;
	}
	r->dns_pending[fam] = 0;
	r->dns_error[fam] = eai_error;
	if (list) {
		if (fam == HE_FAM_V4 && r->dns_pending[HE_FAM_V6] &&
		    r->nattempts == 0)
			r->resolution_wait_until =
			    now + r->cfg.resolution_delay;
		merge_untried(r, list, 1, now);
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
		r->history_wait_until = he_history_hold_until_(r, now);
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

/* When the start rule next allows a start, ignoring the untried list and
 * the cap; `now` if at once. */
static int64_t
next_start_time(const struct he_race *r, int64_t now)
{
	int64_t t;

	if (r->nattempts == 0) {
		t = r->resolution_wait_until != HE_NEVER &&
		    r->dns_pending[HE_FAM_V6] ? r->resolution_wait_until : now;
		if (r->history_wait_until != HE_NEVER && dns_pending(r) &&
		    r->history_wait_until > t)
			t = r->history_wait_until;
		return t;
	}
	if (r->start_early || r->in_flight == 0)
		t = r->last_start + r->cfg.min_gap;
	else
		t = r->last_start + r->attempts[r->nattempts - 1].delay;
	return t > now ? t : now;
}

static int
can_start(const struct he_race *r, int64_t now)
{
	return r->untried && r->in_flight < r->cfg.max_in_flight &&
	    !resolution_waiting(r, now) && next_start_time(r, now) <= now;
}

static void
start_next(struct he_race *r, int64_t now)
{
	struct he_attempt *a;
	struct evutil_addrinfo *ai;

	if (r->nattempts == r->attempts_cap) {
		int cap = r->attempts_cap ? r->attempts_cap * 2 : 8;
		a = realloc(r->attempts, cap * sizeof(*a));
		if (!a) {
			r->oom = 1;
			return;
		}
		r->attempts = a;
		r->attempts_cap = cap;
	}
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
	if (r->cfg.history)
		a->delay = he_history_attempt_delay_(r, r->nattempts - 1, now);
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
	r->error = error;
	r->dns_failure = dns_failure;
	he_history_learn_(r, now);
	queue_action(r, HE_ACT_DONE, r->winner);
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
	return r->in_flight == 0 && !r->untried && !dns_pending(r);
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
		    never_known && dns_pending(r) ? EVUTIL_EAI_AGAIN : 0);
		return;
	}
	while (can_start(r, now) && !r->oom)
		start_next(r, now);
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

	if (r->done || attempt < 0 || attempt >= r->nattempts)
		return;
	a = &r->attempts[attempt];
	if (a->state != HE_ATTEMPT_RUNNING)
		return;
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

	if (r->done || attempt < 0 || attempt >= r->nattempts)
		return 0;
	a = &r->attempts[attempt];
	if (a->state != HE_ATTEMPT_RUNNING)
		return 0;
	a->state = HE_ATTEMPT_WON;
	a->error = 0;
	a->ended = now;
	r->in_flight--;
	r->winner = attempt;
	finish(r, now, 0, 0);
	return 1;
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
	r->error = ECANCELED;
	he_history_learn_(r, now);
}

int64_t
he_race_next_wakeup_(const struct he_race *r)
{
	int64_t t = r->deadline;

	if (r->done)
		return HE_NEVER;
	if (r->untried && r->in_flight < r->cfg.max_in_flight) {
		int64_t s = next_start_time(r, r->last_start);
		if (s < t)
			t = s;
	}
	return t;
}
