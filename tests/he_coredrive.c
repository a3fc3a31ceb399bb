/*
 * Driving the pure race core as the glue does (he_coredrive.h).
 */
#include "he_coredrive.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int he_drive_sort_calls;

int
he_drive_sort_v6_first(struct evutil_addrinfo **list)
{
	struct evutil_addrinfo *v6 = NULL, **t6 = &v6;
	struct evutil_addrinfo *v4 = NULL, **t4 = &v4;
	struct evutil_addrinfo *ai, *next;

	he_drive_sort_calls++;
	for (ai = *list; ai; ai = next) {
		next = ai->ai_next;
		ai->ai_next = NULL;
		if (ai->ai_family == AF_INET6) {
			*t6 = ai;
			t6 = &ai->ai_next;
		} else {
			*t4 = ai;
			t4 = &ai->ai_next;
		}
	}
	*t6 = v4;
	*list = v6;
	return 0;
}

void
he_drive_init(struct he_race *r, int max_in_flight, int timeout_ms,
    int history)
{
	struct he_race_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.attempt_delay = (int64_t)EVHAPPY_DEFAULT_ATTEMPT_DELAY_MS * 1000;
	cfg.resolution_delay =
	    (int64_t)EVHAPPY_DEFAULT_RESOLUTION_DELAY_MS * 1000;
	cfg.min_gap = (int64_t)EVHAPPY_MIN_ATTEMPT_GAP_MS * 1000;
	cfg.timeout = (int64_t)timeout_ms * 1000;
	cfg.first_family_count = 1;
	cfg.max_in_flight = max_in_flight;
	cfg.sort = he_drive_sort_v6_first;
	cfg.history = history;
	he_race_init_(r, &cfg);
}

int
he_drive_next(struct he_race *r, struct he_action *a, int *moved,
    int *delays)
{
	while (he_race_next_action_(r, a)) {
		if (a->kind != HE_ACT_HISTORY || !r->cfg.history ||
		    a->attempt < 0 || a->attempt >= r->notes.n)
			return 1;
		if (r->notes.v[a->attempt].kind == HE_NOTE_MOVED && moved)
			(*moved)++;
		if (r->notes.v[a->attempt].kind == HE_NOTE_DELAY && delays)
			(*delays)++;
	}
	return 0;
}

void
he_drive_begin(struct he_race *r, struct he_history *h, int64_t now)
{
	if (h)
		he_history_fill_(h, r->untried, now);
	he_race_begin_(r, now);
}

void
he_drive_answer(struct he_race *r, struct he_history *h, int64_t now,
    enum he_fam fam, struct evutil_addrinfo *list, int eai_error)
{
	if (h)
		he_history_fill_(h, list, now);
	he_race_dns_answer_(r, now, fam, list, eai_error);
}

void
he_drive_teach(const struct he_race *r, struct he_history *h)
{
	struct he_lesson ls[HE_LESSONS_MAX];
	int i, n;

	if (!h)
		return;
	n = he_race_lessons_(r, ls, HE_LESSONS_MAX);
	for (i = 0; i < n; i++)
		he_history_learn_(h, ls[i].sa, ls[i].at, ls[i].verdict,
		    ls[i].error, ls[i].rtt);
}

/* What attempt i should teach (HE_HIST_UNKNOWN: nothing), by the rules,
   and when it was learned. */
static enum he_hist_state
should_teach(const struct he_race *r, int i, int64_t *at)
{
	const struct he_attempt *a = &r->attempts[i];
	int64_t ran = a->ended - a->started;

	*at = a->ended;
	if (i == r->winner)
		return HE_HIST_WORKED;
	switch (a->state) {
	case HE_ATTEMPT_FAILED:
		/* an ETIMEDOUT sooner than the attempt delay is the cap
		   making room, not the path */
		return a->error == ETIMEDOUT && ran < r->cfg.attempt_delay ?
		    HE_HIST_UNKNOWN : HE_HIST_FAILED;
	case HE_ATTEMPT_CANCELLED:
		/* still running when another won or the deadline came; a
		   cancel by the user teaches nothing */
		*at = r->ended;
		if ((r->winner >= 0 || r->error == ETIMEDOUT) &&
		    r->ended - a->started >= r->cfg.attempt_delay)
			return HE_HIST_HUNG;
		return HE_HIST_UNKNOWN;
	default:
		return HE_HIST_UNKNOWN;
	}
}

const char *
he_drive_check_lessons(const struct he_race *r)
{
	static const enum he_hist_state order[3] = {
		HE_HIST_WORKED, HE_HIST_HUNG, HE_HIST_FAILED
	};
	static char why[200];
	struct he_lesson got[HE_LESSONS_MAX + 2];
	int n = he_race_lessons_(r, got, HE_LESSONS_MAX + 2), k = 0, p, i;
	int64_t at;

	if (!r->done)
		return n ? "lessons before the race was over" : NULL;
	for (p = 0; p < 3; p++)
		for (i = 0; i < r->nattempts && k < HE_LESSONS_MAX; i++) {
			const struct he_attempt *a = &r->attempts[i];
			const struct he_lesson *l = &got[k];

			if (should_teach(r, i, &at) != order[p])
				continue;
			if (k >= n) {
				snprintf(why, sizeof(why), "%d lessons, attempt "
				    "%d (verdict %d) missing", n, i,
				    (int)order[p]);
				return why;
			}
			if (l->sa != a->ai->ai_addr || l->verdict != order[p] ||
			    l->at != at || l->error != (order[p] ==
			    HE_HIST_FAILED ? a->error : 0) || l->rtt !=
			    (order[p] == HE_HIST_WORKED ? a->ended - a->started :
			    0)) {
				snprintf(why, sizeof(why), "lesson %d: verdict %d "
				    "error %d rtt %lld at %lld, expected attempt "
				    "%d's (verdict %d)", k, (int)l->verdict,
				    l->error, (long long)l->rtt, (long long)l->at,
				    i, (int)order[p]);
				return why;
			}
			k++;
		}
	if (n != k) {
		snprintf(why, sizeof(why), "%d lessons, expected %d", n, k);
		return why;
	}
	return NULL;
}
