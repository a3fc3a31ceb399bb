/*
 * Driving the pure race core (he_race.h) as the glue (he_request.c) does,
 * for the tests of the core and the history rules and for the core's
 * fuzzer: the stand-in for RFC 6724 sorting, the history store's facts for
 * the addresses that join, and what a race taught fed back to the store.
 * No Check here: the fuzzer links it too.
 */
#ifndef EVHAPPY_HE_COREDRIVE_H_INCLUDED_
#define EVHAPPY_HE_COREDRIVE_H_INCLUDED_

#include "he_history.h"
#include "he_race.h"

/** The deterministic stand-in for RFC 6724 sorting: a stable sort that
    puts IPv6 before IPv4.  (The real sort asks the kernel for source
    addresses; the core only needs "some order".)  Counts its calls in
    he_drive_sort_calls. */
int he_drive_sort_v6_first(struct evutil_addrinfo **list);
extern int he_drive_sort_calls;

/** Set r up as the tests drive the core: RFC 8305's defaults (attempt
    delay 250 ms, resolution delay 50 ms, minimum gap 10 ms), first family
    count 1, he_drive_sort_v6_first for DNS answers, max_in_flight and
    timeout_ms as given, history's rules on or off. */
void he_drive_init(struct he_race *r, int max_in_flight, int timeout_ms,
    int history);

/** The next action of r, as he_race_next_action_() gives it, but with
    history's trace notes (HE_ACT_HISTORY) taken and counted in *moved and
    *delays (either may be NULL) when r has history on; a note with no
    note behind it, or any note without history, is returned as an
    action, for the caller to see.  0 when there is none. */
int he_drive_next(struct he_race *r, struct he_action *a, int *moved,
    int *delays);

/** he_race_begin_, with the facts of the addresses known so far taken
    from h at now (h NULL: none). */
void he_drive_begin(struct he_race *r, struct he_history *h, int64_t now);

/** he_race_dns_answer_, with the facts of the answer's addresses taken
    from h at now (h NULL: none). */
void he_drive_answer(struct he_race *r, struct he_history *h, int64_t now,
    enum he_fam fam, struct evutil_addrinfo *list, int eai_error);

/** NULL when what r teaches (he_race_lessons_) follows he_race.h's rules,
    else what is wrong, in a static buffer: nothing until the race is done;
    at most HE_LESSONS_MAX; the winner's handshake time first, then each
    attempt that was still running, after at least the attempt delay, when
    another won or the race timed out (HUNG), then each failed attempt
    (FAILED, its errno; not an ETIMEDOUT sooner than the attempt delay),
    each in attempt order, every one of them with its time. */
const char *he_drive_check_lessons(const struct he_race *r);

/** What a finished race taught, into h (as the glue does once when the
    race ends); nothing when it is not done or h is NULL. */
void he_drive_teach(const struct he_race *r, struct he_history *h);

#endif
