/*
 * The connection history store (RFC 8305 section 4): what the process
 * learned about destination addresses.  Pure data in, data out: it knows
 * addresses and verdicts, nothing of races.  The race core decides from
 * the facts it hands out (he_race.h's rules); the glue looks them up for
 * the addresses that join a race (he_history_fill_) and feeds back what a
 * race taught (he_history_learn_).
 *
 * One store per process (he_history_global_(), a static table), shared by
 * every context and by the drop-in: network paths are the machine's, not
 * a context's.  Tests make their own with he_history_new_().  Every call
 * takes the store's mutex (held across fork()), so races on several
 * event_bases in several threads may use it at once.  It never allocates
 * after it was made: a fixed table of entries, indexed by the library's
 * hash table.  It has no clock: every call takes `now` (monotonic
 * microseconds, the core's clock), so tests use a fake one.
 *
 * What an entry holds, per destination (address, port, IPv6 scope):
 * - the handshake RTT of attempts that connected, kept as TCP keeps it
 *   (RFC 6298: srtt and rttvar);
 * - the last verdict: WORKED (connected), FAILED (a path error such as
 *   ECONNREFUSED, EHOSTUNREACH, ETIMEDOUT; errors of this host's own
 *   resources, EMFILE or EADDRNOTAVAIL, say nothing of the path and are
 *   not learned: he_history_path_error_), or HUNG (still connecting after
 *   at least the Connection Attempt Delay when another attempt won or the
 *   race timed out: a black hole looks like that);
 * - when the verdict was learned.  An entry expires HE_HISTORY_EXPIRY_US
 *   after it (10 minutes: long enough to spare every connect of a busy
 *   program the attempt delay, short enough that a repaired path is used
 *   again soon).  Using an entry does not make it live longer; learning
 *   something new does.
 *
 * Every entry belongs to the network it was learned on (a key, he_netid.h):
 * lookups, fills and lessons use the store's current network
 * (he_history_set_network_), so entries of another network are neither
 * used nor changed until the host is back on it.  The store reads no
 * network itself; he_persist.c tells it at each race's start.  A lesson
 * goes to the network current when it is taught: a race that spans a
 * network change teaches the new one.  Key 0 (the default) stands for "not
 * known": one history for every network, as when netlink cannot be read.
 *
 * What a file held comes in through he_history_put_ (such entries carry
 * HE_HIST_FROM_FILE in their facts until the process learns something of
 * that destination itself); what the store holds goes out through
 * he_history_each_.  Both in plain records, on the store's clock: the
 * file's format and wall clock are he_persist.c's business.
 *
 * When the table is full, a new destination takes the place of, in this
 * order: an expired entry; the least recently used entry seen once (one
 * verdict, never used by a later race); the least recently used entry.
 * So a race over hundreds of refusing addresses replaces such addresses
 * of its own and of earlier hostile lists, not the black hole a later
 * race relied on or an address with a known RTT.  (The race core also
 * bounds what one race teaches: he_race_lessons_.)
 */
#ifndef EVHAPPY_HE_HISTORY_H_INCLUDED_
#define EVHAPPY_HE_HISTORY_H_INCLUDED_

#include "he_facts.h"

#include <stdint.h>
#include <event2/util.h>

/** Entries in the process's store. */
#define HE_HISTORY_ENTRIES 256
/** Networks a store tells apart at once: when one more comes, the one
    left longest ago is forgotten with its entries. */
#define HE_HISTORY_NETS 64
/** How long an entry is used after it was learned: 10 minutes. */
#define HE_HISTORY_EXPIRY_US ((int64_t)600 * 1000000)

struct he_history;

/** The process's store (a static table). */
struct he_history *he_history_global_(void);

/** A store of its own (tests) in *out: 0, or EINVAL (nentries < 1) or
    ENOMEM. */
int he_history_new_(int nentries, struct he_history **out);
/** Free a store made by he_history_new_ (the global one is ignored). */
void he_history_free_(struct he_history *h);

/** Forget everything. */
void he_history_clear_(struct he_history *h);

/** Entries expire this many microseconds after they were learned; <= 0
    restores HE_HISTORY_EXPIRY_US. */
void he_history_set_expiry_(struct he_history *h, int64_t usec);

/** What is known of sa at now: 1 and *out filled, or 0 (out->state
    HE_HIST_UNKNOWN) when nothing is, or it expired. */
int he_history_lookup_(struct he_history *h, const struct sockaddr *sa,
    int64_t now, struct he_hist_info *out);

/** he_history_lookup_ for every entry of list (entries made by
    he_addrinfo.c), by its identity (he_ai_identity_: a NAT64 address is
    the IPv4 server it stands for), into its meta's facts; under one
    lock. */
void he_history_fill_(struct he_history *h, struct evutil_addrinfo *list,
    int64_t now);

/** Learn at now what an attempt to sa showed: HE_HIST_WORKED after rtt
    microseconds, HE_HIST_FAILED with error (ignored unless
    he_history_path_error_), or HE_HIST_HUNG. */
void he_history_learn_(struct he_history *h, const struct sockaddr *sa,
    int64_t now, enum he_hist_state verdict, int error, int64_t rtt);

/** The network whose entries lookups, fills and lessons use from now on
    (0: not known; the default). */
void he_history_set_network_(struct he_history *h, uint64_t net);
/** The current network's key. */
uint64_t he_history_network_(struct he_history *h);
/** The expiry in force (he_history_set_expiry_). */
int64_t he_history_expiry_(struct he_history *h);

/** One entry, as he_history_each_ shows it and he_history_put_ takes it. */
struct he_hist_rec {
	uint64_t net;			/* the network it belongs to */
	const struct sockaddr *sa;	/* AF_INET or AF_INET6: address, port,
					   IPv6 scope */
	enum he_hist_state state;	/* WORKED, FAILED or HUNG */
	int error;			/* FAILED: the errno */
	int64_t srtt, rttvar;		/* microseconds; srtt 0: no RTT known */
	int64_t learned;		/* on the store's clock */
	int from_file;			/* each: put from a file, not learned
					   since (put ignores it) */
};

/** Take an entry from elsewhere (a file): it is kept, marked
    HE_HIST_FROM_FILE, unless it expired or the store knows something of
    that destination on that network learned as late or later.
    @param may_evict 1: a full table makes room as for a lesson; 0: only a
      free or expired slot is used
    @return 1 taken, 0 not */
int he_history_put_(struct he_history *h, const struct he_hist_rec *r,
    int64_t now, int may_evict);

/** Called once per entry by he_history_each_, with the store's lock held:
    it must not call the store. */
typedef void (*he_hist_each_fn)(const struct he_hist_rec *r, void *arg);

/** Every live entry (all: of every network; else of the current one).
    @return how many were shown */
int he_history_each_(struct he_history *h, int64_t now, int all,
    he_hist_each_fn fn, void *arg);

/** Forget the current network's entries (evhappy --forget). */
void he_history_forget_network_(struct he_history *h);

/** How many live (unexpired) entries there are at now, of every network. */
int he_history_count_(struct he_history *h, int64_t now);

/** Whether an errno says something about the network path. */
int he_history_path_error_(int error);

#endif
