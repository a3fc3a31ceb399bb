/*
 * The race core's history rules (RFC 8305 section 4), as pure functions
 * of address lists whose entries carry their facts (he_addrinfo.h's meta,
 * filled by the glue from the history store).  Part of the core: only
 * he_race.c calls them, and they call nothing of it.  The rules
 * themselves are written in he_race.h.
 */
#ifndef EVHAPPY_HE_RACE_HIST_H_INCLUDED_
#define EVHAPPY_HE_RACE_HIST_H_INCLUDED_

#include "he_facts.h"

#include <stdint.h>
#include <sys/socket.h>
#include <event2/util.h>

/** What history changed, for the trace (HE_ACT_HISTORY). */
enum he_hist_note_kind {
	HE_NOTE_MOVED,		/* addr was moved; after: its new predecessor */
	HE_NOTE_DELAY		/* the delay after addr's start follows its RTT */
};

struct he_hist_note {
	enum he_hist_note_kind kind;
	struct sockaddr_storage addr, after;	/* after: family 0 = front */
	struct he_hist_info info;
	int64_t delay;		/* DELAY: the delay chosen */
	int pending;		/* MOVED: waits for he_hist_place_ */
	int placed;		/* MOVED: found in place, `after` filled */
};

/** The notes of one race; all zero is empty.  The functions below take
    NULL instead when nobody reads notes: the decisions are the same. */
struct he_notes {
	struct he_hist_note *v;
	int n, cap;
};

/** Free the notes' array. */
void he_notes_clear_(struct he_notes *notes);

/** Whether facts say the address failed or hung, and has not connected
    since. */
int he_hist_suspect_(const struct he_hist_info *info);

/** The attempt delay for an address with these facts: from its RTT when
    known (srtt + max(4 * rttvar, srtt / 2), clamped to 10 ms .. 2 s),
    else dflt. */
int64_t he_hist_delay_for_(const struct he_hist_info *info, int64_t dflt);

/** The delay before the next start after one to an address with these
    facts: min_gap for a suspect, else he_hist_delay_for_. */
int64_t he_hist_attempt_delay_(const struct he_hist_info *info, int64_t dflt,
    int64_t min_gap);

/** Reorder *list (before it is interleaved): suspects last, in their
    order; with by_rtt, within each family, known RTTs first, lowest
    first, each family keeping the places it had.  A MOVED note (pending)
    for each address that moved. */
void he_hist_arrange_(struct evutil_addrinfo **list, int by_rtt,
    struct he_notes *notes);

/** For the pending notes from index `from` on: where their address landed
    in untried (its predecessor there, or last_started when it comes
    first); such a note is then `placed`. */
void he_hist_place_(struct he_notes *notes, int from,
    const struct evutil_addrinfo *untried,
    const struct evutil_addrinfo *last_started);

/** Whether every entry of a non-empty list is suspect. */
int he_hist_all_suspect_(const struct evutil_addrinfo *list);

/** Note that the delay after ai's start is delay, not the configured
    one; its index, or -1 when none was made. */
int he_hist_note_delay_(struct he_notes *notes,
    const struct evutil_addrinfo *ai, int64_t delay);

#endif
