/*
 * Driving the pure race core as the glue does (he_coredrive.h).
 */
#include "he_coredrive.h"

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
