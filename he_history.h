/*
 * Connection history (RFC 8305 section 4): what the process learned about
 * destination addresses, and the decisions a race takes from it.
 *
 * The store.  One per process (he_history_global_()), shared by every
 * context and by the drop-in: network paths are the machine's, not a
 * context's.  Tests make their own with he_history_new_().  Every call takes
 * the store's mutex, so races on several event_bases in several threads may
 * use it at once.  It never allocates after it was made: a fixed table of
 * HE_HISTORY_ENTRIES entries, the least recently used one reused when a new
 * destination is learned.  It has no clock: every call takes `now`
 * (monotonic microseconds, the core's clock), so tests use a fake one.
 *
 * What an entry holds, per destination (address, port, IPv6 scope):
 * - the handshake RTT of attempts that connected, kept as TCP keeps it
 *   (RFC 6298: srtt and rttvar);
 * - the last verdict: WORKED (connected), FAILED (a path error such as
 *   ECONNREFUSED, EHOSTUNREACH, ETIMEDOUT; errors of this host's own
 *   resources, EMFILE or EADDRNOTAVAIL, say nothing of the path and are not
 *   learned), or HUNG (still connecting when another attempt won, or when
 *   the race timed out, after at least the configured Connection Attempt
 *   Delay: a black hole looks like that);
 * - when the verdict was learned.  An entry expires HE_HISTORY_EXPIRY_US
 *   after it (10 minutes: long enough to spare every connect of a busy
 *   program the attempt delay, short enough that a repaired path is used
 *   again soon without anybody calling evhappy_clear_history()).  Using an
 *   entry does not make it live longer; learning something new does.
 *
 * The decisions (he_history_arrange_, he_history_attempt_delay_,
 * he_history_learn_) are called by the race core (he_race.c) and are
 * documented in he_race.h's rules.
 */
#ifndef EVHAPPY_HE_HISTORY_H_INCLUDED_
#define EVHAPPY_HE_HISTORY_H_INCLUDED_

#include <stdint.h>
#include <event2/util.h>

/** Entries in a store made by he_history_global_(). */
#define HE_HISTORY_ENTRIES 256
/** How long an entry is used after it was learned: 10 minutes. */
#define HE_HISTORY_EXPIRY_US ((int64_t)600 * 1000000)
/** The bounds of an attempt delay taken from an RTT (API.md). */
#define HE_HISTORY_DELAY_MIN_US ((int64_t)10 * 1000)
#define HE_HISTORY_DELAY_MAX_US ((int64_t)2000 * 1000)

/** An entry's verdict; the numbers are those of enum
    evhappy_history_state in he_event.h. */
enum he_hist_state {
	HE_HIST_UNKNOWN = 0,	/* no entry, or it expired */
	HE_HIST_WORKED = 1,
	HE_HIST_FAILED = 2,
	HE_HIST_HUNG = 3
};

/** What the store knows of one destination. */
struct he_hist_info {
	enum he_hist_state state;
	int error;		/* FAILED: the errno */
	int64_t srtt, rttvar;	/* microseconds; srtt 0: no RTT known */
	int64_t age;		/* now - when the verdict was learned */
};

struct he_history;

/** The process's store (made on first use, never freed). */
struct he_history *he_history_global_(void);

/** A store of its own, for tests; NULL when out of memory. */
struct he_history *he_history_new_(int nentries);
void he_history_free_(struct he_history *h);

/** Forget everything. */
void he_history_clear_(struct he_history *h);

/** Test hook: entries expire this many microseconds after they were
    learned; <= 0 restores HE_HISTORY_EXPIRY_US. */
void he_history_set_expiry_(struct he_history *h, int64_t usec);

/** What is known of sa at now: 1 and *out filled, or 0 (out->state
    HE_HIST_UNKNOWN) when nothing is, or it expired. */
int he_history_lookup_(struct he_history *h, const struct sockaddr *sa,
    int64_t now, struct he_hist_info *out);

/** Learn: sa connected after rtt microseconds. */
void he_history_note_rtt_(struct he_history *h, const struct sockaddr *sa,
    int64_t now, int64_t rtt);
/** Learn: an attempt to sa failed with error (ignored unless it is an
    error of the path: he_history_path_error_). */
void he_history_note_failed_(struct he_history *h, const struct sockaddr *sa,
    int64_t now, int error);
/** Learn: an attempt to sa was still connecting when it lost. */
void he_history_note_hung_(struct he_history *h, const struct sockaddr *sa,
    int64_t now);

/** How many live (unexpired) entries there are at now. */
int he_history_count_(struct he_history *h, int64_t now);

/* ---- pure rules ---------------------------------------------------------- */

/** Whether an errno says something about the network path. */
int he_history_path_error_(int error);
/** Whether an address is suspect: it failed or hung, and has not
    connected since. */
int he_history_suspect_(const struct he_hist_info *info);
/** The attempt delay for an address with this history: from its RTT when
    known (see he_race.h), else dflt. */
int64_t he_history_delay_for_(const struct he_hist_info *info, int64_t dflt);

/* ---- the race's use of it (called by he_race.c) -------------------------- */

struct he_race;

/** What history changed, queued for the trace (HE_ACT_HISTORY). */
enum he_hist_note_kind {
	HE_NOTE_MOVED,		/* addr was moved; after: its new predecessor */
	HE_NOTE_DELAY		/* the delay after addr's start follows its RTT */
};

struct he_hist_note {
	enum he_hist_note_kind kind;
	struct sockaddr_storage addr, after;	/* after: family 0 = front */
	struct he_hist_info info;
	int64_t delay;		/* DELAY: the delay chosen */
	int pending;		/* MOVED: `after` is filled in once placed */
};

/** Reorder r->untried at now (before it is interleaved): suspects last;
    with by_rtt, within each family, known RTTs first, lowest first.  Notes
    for the trace are queued by he_history_placed_ once the order is
    final. */
void he_history_arrange_(struct he_race *r, int64_t now, int by_rtt);
/** After interleaving: fill in where moved addresses landed and queue
    their notes. */
void he_history_placed_(struct he_race *r);
/** Until when the first start waits because only suspects are known and
    a query is pending (he_race.h), or HE_NEVER. */
int64_t he_history_hold_until_(struct he_race *r, int64_t now);
/** The delay before the next start after attempt i started at now. */
int64_t he_history_attempt_delay_(struct he_race *r, int i, int64_t now);
/** Learn from the race's attempts once it ended (won, failed, timed out or
    was cancelled) at now. */
void he_history_learn_(struct he_race *r, int64_t now);

#endif
