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

/** he_race_begin_, with the facts of the addresses known so far taken
    from h at now (h NULL: none). */
void he_drive_begin(struct he_race *r, struct he_history *h, int64_t now);

/** he_race_dns_answer_, with the facts of the answer's addresses taken
    from h at now (h NULL: none). */
void he_drive_answer(struct he_race *r, struct he_history *h, int64_t now,
    enum he_fam fam, struct evutil_addrinfo *list, int eai_error);

/** What a finished race taught, into h (as the glue does once when the
    race ends); nothing when it is not done or h is NULL. */
void he_drive_teach(const struct he_race *r, struct he_history *h);

#endif
