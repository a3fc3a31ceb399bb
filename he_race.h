/*
 * The race's decisions, with no I/O and no clock of its own.
 *
 * The glue (he_request.c) feeds it events with the current time: the race
 * began, a DNS answer came, an attempt failed or connected, the timer fired.
 * It knows no socket, no event loop, no resolver and no history store: the
 * addresses it is given are entries of he_addrinfo.c that carry what history
 * knew of each when it joined (their meta's facts), and what a race taught
 * goes back to the store through the glue (he_race_lessons_).
 * The core answers with actions in its queue: start attempt N, close attempt
 * N, the race is done.  It also says when it next wants to be woken.  Tests
 * drive it with a fake clock (tests/check_race_sm.c), so every timing rule
 * of RFC 8305 sections 3 to 5 is checked without sleeping.
 *
 * Times are microseconds on any monotonic clock.
 *
 * The rules, as tests/check_race_sm.c checks them (and tests/fuzz/fuzz_race.c
 * checks the invariants among them on random events):
 * - he_race_init_(r, cfg): copies cfg. Nothing happens until he_race_begin_.
 * - Joining (he_race_add_known_ and he_race_dns_answer_): before anything
 *   else, an entry that may not be connected to is freed and dropped: see
 *   he_addr_usable_() in he_addrinfo.h (unspecified 0.0.0.0 and :: reach a local service;
 *   multicast and broadcast are never a TCP peer; a hostile DNS answer or
 *   list must not point the race at them), and so is an entry that is not
 *   a whole AF_INET/AF_INET6 address of its ai_family. Then an address
 *   equal (he_sockaddr_equal_: address, port, IPv6 scope id) to one already
 *   untried or attempted, or to an earlier one of the same list, is dropped:
 *   each address is tried once (a black hole repeated in an answer would
 *   otherwise fill every slot). Small joins compare pairwise and allocate
 *   nothing; big ones sort a scratch array (O(n log n)).
 * - he_race_add_known_(r, list) before begin: the caller's addresses that
 *   join, appended to untried in their order, then interleaved with
 *   evhappy_addrinfo_interleave(cfg.first_family_count). Never sorted.
 * - he_race_expect_dns_(r, fam) before begin: a query for that family is
 *   outstanding.
 * - he_race_begin_(r, now): began=now, deadline=now+cfg.timeout, or
 *   HE_NEVER when cfg.timeout is HE_NEVER (no overall timeout: the
 *   drop-in's, which waits as long as libevent's own connect, each attempt
 *   until the kernel stops retrying its SYN). Then the start rule runs
 *   (first attempt at once if an address is known).
 * - he_race_dns_answer_(r, now, fam, list, eai_error): that family is no
 *   longer pending (an answer for a family not pending, or after the end,
 *   is freed; the deadline and the start rule still run, as on every
 *   event). What joins of a list is the answer: an answer with
 *   nothing usable or new left is an empty answer (so with nothing else
 *   known or pending the race fails EHOSTUNREACH, EVUTIL_EAI_NONAME). A
 *   non-empty one joins untried: untried+list are sorted
 *   with cfg.sort when it is non-NULL (stable), then interleaved: with
 *   first_family_count when no attempt has started yet; otherwise with count
 *   1, beginning with the family other than the last started attempt's
 *   family when untried holds one (so families keep alternating).
 * - Resolution delay (RFC 8305 s3): when a positive A (HE_FAM_V4) answer
 *   arrives while the AAAA query is pending and no attempt has started yet,
 *   no attempt starts until now+resolution_delay or until the AAAA answer
 *   arrives, whichever comes first. A positive AAAA answer starts at once.
 *   An empty/failed AAAA answer during the wait ends the wait at once.
 * - Overdue AAAA: when attempts began while the AAAA query was still out
 *   (the resolution delay ran out, or A-only addresses were known), a later
 *   positive AAAA answer starts its first address at once (subject to
 *   min_gap) instead of waiting for the attempt delay: had it come in time
 *   it would have gone first.
 * - Start rule (evaluated after every event): start the next untried address
 *   while untried is non-empty, no resolution wait is on, and one of: no
 *   attempt has started yet; now >= last_start + attempt_delay; or (an
 *   attempt failed since the last start, an overdue AAAA answer came, or
 *   nothing is in flight) and now >= last_start + min_gap. Never within
 *   min_gap of the last start, whatever attempt_delay is. Starting pops the
 *   head of untried into attempts[n] (state RUNNING, started=now) and queues
 *   HE_ACT_START n. Starting an attempt does not affect earlier ones (RFC
 *   8305 s5): the stagger never cancels running attempts, except:
 * - The cap: when a start is due and in_flight == max_in_flight, the oldest
 *   RUNNING attempt (lowest index) -> FAILED with error ETIMEDOUT, ended=now,
 *   and HE_ACT_CLOSE for it, then HE_ACT_START for the next, in the same
 *   event. A race never stalls with addresses left (RFC 8305 s5 wants every
 *   address tried): black holes first must not keep a reachable address
 *   behind them waiting until the overall timeout, and one hostile answer
 *   of thousands of addresses must not open thousands of sockets. The
 *   oldest has had the longest to answer, at least (max_in_flight - 1)
 *   attempt delays. The default cap (EVHAPPY_DEFAULT_MAX_IN_FLIGHT, 128) is
 *   above what a real list reaches, so with it a slow first path (every
 *   answer held seconds) still wins: at 250 ms a race reaches 128 only
 *   after 32 s, past the default 30 s timeout.
 * - Groups (HTTPS records, RFC 9460; the Happy Eyeballs v3 draft): every
 *   entry's meta names its group, an HTTPS endpoint's (1, 2, ... in the
 *   endpoints' order) or HE_GROUP_HOST (0) for the host's own addresses.
 *   Untried addresses are kept group by group, the endpoints' in their
 *   order and the host's own last; within a group they are sorted,
 *   arranged by history and interleaved as above (the group that goes next
 *   keeps alternating with the family last tried).  Without HTTPS records
 *   every address is the host's: one group, as before.
 * - Identity: an entry's identity (he_ai_identity_) is its address, or for
 *   a NAT64 address (HE_AI_SYNTH) the IPv4 address it stands for.
 *   Duplicates are found by identity, and lessons name identities: one
 *   server, one place in the race and in the history.
 * - The HTTPS record (he_race_expect_https_ before begin;
 *   he_race_https_answer_ later): its hints join as an answer would (IPv6
 *   hints end the wait for AAAA as a positive AAAA does; IPv4 hints alone
 *   wait for AAAA as a positive A does).  While it is out and no attempt
 *   has started, the first start waits for it at most resolution_delay
 *   after the first address answer joined; its answer, whatever it says,
 *   ends that wait.  Once it came, while its targets' answers are out and
 *   only the host's own addresses are untried (they go after every
 *   endpoint's), or an endpoint of higher priority than the first untried
 *   address is still to answer, the first start waits for those answers,
 *   within the same bound (from the first address answer, or from the
 *   record when it came first).  A race with no address left does not fail while it,
 *   or an endpoint target's answer (he_race_expect_target_ /
 *   he_race_target_answer_), is still out.  he_race_confirm_hints_ drops a
 *   group's untried hints that its target's answer lacks (RFC 9460
 *   section 7.3: a hint is only a hint); started ones run on.
 * - Memory: the end of a race never depends on an allocation. Before an
 *   attempt starts, room for it and for its two actions (START, CLOSE) is
 *   reserved; DONE is a flag (he_race_next_action_ returns it after the
 *   queue). When that reservation, cfg.sort, evhappy_addrinfo_interleave or
 *   the dedup's scratch array fails (they must leave the list whole when
 *   they fail), the race ends in that same event: every RUNNING attempt ->
 *   CANCELLED (error ENOMEM) with HE_ACT_CLOSE, then HE_ACT_DONE with error
 *   ENOMEM; nothing more starts.  The first attempt and its two actions
 *   live inside struct he_race, so a one-address race never allocates
 *   here (a race must then not be copied once an attempt started). r->oom may also be set by the glue, which
 *   then calls he_race_timer_() to end the race the same way.
 * - he_race_attempt_failed_(r, now, i, err): attempt i (RUNNING) -> FAILED
 *   with err, ended=now; in_flight--. Ignored if not running or race done
 *   (but, as on every event, the deadline and the start rule are checked).
 *   The glue may call it synchronously while executing a HE_ACT_START
 *   (bind/connect failed at once): the min_gap then keeps the next start >=
 *   10 ms later.
 * - he_race_attempt_connected_(r, now, i): if the race is done or i is not
 *   RUNNING: returns 0 (the glue closes that socket), and only the deadline
 *   and the start rule are checked, as on every event. Otherwise i
 *   -> WON (error 0), every other RUNNING attempt -> CANCELLED with error
 *   ECANCELED and one HE_ACT_CLOSE each (in attempt order), then
 *   HE_ACT_DONE; winner=i, error=0; returns 1.
 * - Failure: when nothing is running, untried is empty and no answer is
 *   pending (a DNS query, the HTTPS record, an endpoint target's), the
 *   race is done: HE_ACT_DONE with winner -1 and error = the
 *   errno all attempts share, else the first attempt's errno. With no
 *   attempt at all (resolution gave nothing): error EHOSTUNREACH,
 *   dns_failure = the A answer's EAI error if non-zero, else the AAAA's,
 *   else EVUTIL_EAI_NONAME (EAI_NODATA is not defined everywhere, so the
 *   portable code). When a query could not even start
 *   (he_race_dns_failed_), error is that errno instead of EHOSTUNREACH.
 * - Timeout: at now >= deadline (checked on every event, the timer wakes for
 *   it): every RUNNING attempt -> CANCELLED with error ETIMEDOUT and
 *   HE_ACT_CLOSE; HE_ACT_DONE with error ETIMEDOUT; dns_failure =
 *   EVUTIL_EAI_AGAIN when no address was ever known and a query was still
 *   pending, else 0.
 * - he_race_cancel_(r, now): every RUNNING attempt -> CANCELLED (ECANCELED)
 *   with HE_ACT_CLOSE; done; error ECANCELED; no HE_ACT_DONE.
 * - he_race_next_wakeup_(r): HE_NEVER once done; else the earliest of
 *   deadline (HE_NEVER without one), the end of a resolution wait, and
 *   the time the start rule
 *   would next allow a start (if untried is non-empty, at the cap too).
 *   After any event it is later than that event's `now`.
 * - he_race_next_action_(r, &a): pops queued actions in order, then DONE
 *   once; 0 when there is none.
 * - So, whatever fails: exactly one HE_ACT_DONE (or a cancel), nothing after
 *   it, at most one winner, and every started attempt ends exactly once:
 *   FAILED by the glue's report, FAILED and closed at the cap, WON, or
 *   CANCELLED and closed when the race ends.
 *
 * Connection history (RFC 8305 section 4), when cfg.history is set (the
 * facts are in the entries' meta; he_race_hist.c holds the rules;
 * tests/check_history.c checks them):
 * - Suspects last: an address whose facts say FAILED or HUNG (and that has
 *   not connected since) goes after every other untried address, keeping
 *   the order among suspects.  This is done to a caller's list too, at
 *   he_race_begin_, and to DNS answers as they merge, after cfg.sort and
 *   before interleaving.  Why reorder a caller's list rather than only
 *   shorten the delay after a suspect: a suspect first still costs a
 *   socket and the 10 ms minimum gap on every connect, and a black hole
 *   is not a preference the caller expressed; the caller's order among
 *   the addresses that work is kept.
 * - RTT order: for DNS answers only (a caller's order is the caller's),
 *   within one family the addresses that are not suspect are ordered by
 *   known smoothed RTT, lowest first, unknown ones after, stably; each
 *   family keeps the places it had.  RFC 8305 puts the RTT rule between
 *   RFC 6724's rules 8 and 9, after precedence (rule 6): so a working IPv6
 *   path stays before IPv4 however fast IPv4 is.
 * - The delay after a start: each attempt gets its own delay when it
 *   starts (attempt.delay; the start rule waits last_start + the last
 *   attempt's delay).  Unknown address: cfg.attempt_delay.  Known RTT:
 *   srtt + max(4 * rttvar, srtt / 2), clamped to 10 ms .. 2 s, about when
 *   its SYN would be retransmitted (RFC 6298's RTO; the floor on the
 *   variation absorbs an event loop's scheduling noise).  A suspect that
 *   is started anyway (only suspects are left, or its family answered
 *   first): cfg.min_gap, so the other family's first address, when it
 *   comes, is not kept waiting for an address known not to answer.
 *   The facts are used only when a later start may follow (untried
 *   addresses, or a query still pending); otherwise attempt.delay stays
 *   cfg.attempt_delay, since it times nothing.  So a race with one
 *   address and no query needs no facts at all: the glue may leave them
 *   unknown.
 * - Notes: every move is noted in r->notes (the report draws them); a
 *   delay is noted, and notes are queued as HE_ACT_HISTORY, only without
 *   cfg.no_notes (the glue sets it when nobody traces; the report reads
 *   delays from attempt.delay).  The decisions do not depend on it.
 * - Suspects alone: when no attempt has started, every untried address
 *   is suspect and a query is still pending, no attempt starts until
 *   that answer comes or the resolution delay (from the answer that
 *   brought the suspects) runs out, whichever is first: the other
 *   family's address, once known, goes first (the resolution delay's own
 *   reasoning, applied to a family history says is broken).
 * - Each change is queued as HE_ACT_HISTORY with an index into
 *   r->notes.v (moved: when the order is decided, with the address it now
 *   follows; delay: right after its attempt's START), for the trace.
 * - Lessons, whatever cfg.history says (the glue feeds them to the store
 *   once, when the race ended by DONE or by a cancel):
 *   he_race_lessons_ gives the winner's handshake time (ended - started)
 *   as an RTT sample; each FAILED attempt's errno (the store keeps only
 *   path errors, not EMFILE, EADDRNOTAVAIL, ENOMEM...), except an
 *   ETIMEDOUT sooner than cfg.attempt_delay (the cap closing an attempt to
 *   make room, not the network timing it out); each attempt still running
 *   when another won or the race timed out, after at least
 *   cfg.attempt_delay, as HUNG.  A cancel by the user teaches nothing
 *   about running attempts.  At most max lessons, the winner's first, then
 *   the HUNG ones, then the FAILED ones, each in attempt order: one race
 *   over a hostile list of hundreds of refusing addresses cannot flush the
 *   store.
 */
#ifndef EVHAPPY_HE_RACE_H_INCLUDED_
#define EVHAPPY_HE_RACE_H_INCLUDED_

#include "he_addrinfo.h"
#include "he_race_hist.h"
#include "he_time.h"

#include <stdint.h>
#include <event2/util.h>

/** The families the race resolves, as indexes into per-family arrays. */
enum he_fam { HE_FAM_V6 = 0, HE_FAM_V4 = 1, HE_NFAM = 2 };

enum he_attempt_state {
	HE_ATTEMPT_RUNNING,
	HE_ATTEMPT_FAILED,	/* error holds the errno */
	HE_ATTEMPT_WON,
	HE_ATTEMPT_CANCELLED	/* closed because the race ended; ECANCELED */
};

struct he_attempt {
	struct evutil_addrinfo *ai;	/* one entry, owned */
	enum he_attempt_state state;
	int error;
	int64_t started, ended;
	int64_t delay;	/* how long the next start waits for this one */
};

enum he_action_kind {
	HE_ACT_START,	/* open a socket for attempt `attempt` and connect */
	HE_ACT_CLOSE,	/* close attempt `attempt`: it lost or the race ended */
	HE_ACT_DONE,	/* the race is over: see winner / error / dns_error */
	HE_ACT_HISTORY	/* trace note `attempt` of r->notes.v (he_race_hist.h) */
};

struct he_action {
	enum he_action_kind kind;
	int attempt;
};

/** The settings the decisions depend on, in microseconds. */
struct he_race_config {
	int64_t attempt_delay;
	int64_t resolution_delay;
	int64_t min_gap;	/* shortest time between two starts */
	int64_t timeout;	/* overall, from he_race_begin(); HE_NEVER:
				   none */
	int first_family_count;
	int max_in_flight;
	/* When set, addresses of DNS answers are sorted with it (RFC 6724)
	 * before they join the untried ones; a caller's list is never sorted.
	 * 0, or an errno (the list then as it was). */
	int (*sort)(struct evutil_addrinfo **list);
	/* 1: the entries' facts are filled in, and the history rules apply. */
	int history;
	/* Nobody reads history's trace notes (no trace callback): queue
	   none (no HE_ACT_HISTORY) and note no delay; moves are still
	   noted for the report.  The decisions are the same. */
	int no_notes;
};

struct he_race {
	struct he_race_config cfg;
	int64_t began, deadline;

	/* resolution */
	int dns_pending[HE_NFAM];	/* a query for that family is out */
	int dns_error[HE_NFAM];		/* its EVUTIL_EAI_* result */
	int64_t resolution_wait_until;	/* A came first: wait for AAAA */
	int64_t history_wait_until;	/* only suspects known: wait for the
					   other family (he_race_hist.c) */
	int https_pending;		/* the HTTPS record is still out */
	int64_t https_wait_until;	/* addresses known: wait for it until */
	uint32_t targets_one, targets_two;	/* endpoints (bit g-1 for
					   group g) with at least one, and
					   with two, target answers out */

	/* untried addresses, in the order they will be tried */
	struct evutil_addrinfo *untried;

	struct he_attempt *attempts;	/* first_attempt until a second */
	int nattempts, attempts_cap;
	int in_flight;
	int oldest;			/* no attempt before it is running */
	int64_t last_start;
	int last_family;		/* of the last start, AF_* or 0 */
	int start_early;		/* a failure, or an overdue AAAA answer,
					   pulls the next start forward */
	int v6_overdue;			/* attempts began before AAAA answered */

	/* the outcome, once done */
	int done;
	int winner;			/* attempt index, or -1 */
	int error;			/* errno, 0 on success */
	int dns_failure;		/* EVUTIL_EAI_* when resolution failed */

	/* actions for the glue, in order; room for two per attempt (its START
	   and its CLOSE) is reserved before it starts */
	struct he_action *actions;
	int nactions, actions_cap, actions_head;
	int done_pending;		/* HE_ACT_DONE not yet taken */
	int oom;			/* an allocation failed: the race fails with ENOMEM */
	int dns_errno;			/* a query could not start: its errno */

	int64_t ended;			/* when it was done, or -1 */

	/* what history changed, for the trace (he_race_hist.c) */
	struct he_notes notes;
	int notes_queued;		/* HE_ACT_HISTORY entries in the queue */

	/* Where a one-address race keeps its attempt and its two actions:
	   most races have one address, and pay no allocation for them. */
	struct he_attempt first_attempt;
	struct he_action first_actions[2];
	/* and the entry of a one-address list (he_race_own_entry_) */
	struct he_ai_room own;
};

/** Set up a race; nothing starts until he_race_begin(). */
void he_race_init_(struct he_race *r, const struct he_race_config *cfg);
/** The same in memory that is all zero already (the request's, which is
    calloc'ed): a race is about 600 bytes, on every connect's path. */
void he_race_setup_(struct he_race *r, const struct he_race_config *cfg);
/** Free what the race owns (addresses, attempts, queued actions). */
void he_race_clear_(struct he_race *r);

/** A copy of src, a one-entry list, kept inside the race, for
    he_race_add_known_ or he_race_dns_answer_: a one-address list then costs
    no allocation.  The core never frees it (he_race_clear_ and every drop
    skip it).  The room is used once in a race's life (it starts zeroed).  NULL when src is NULL, longer than one entry, not a whole
    AF_INET/AF_INET6 stream address, or when the race's room was taken by
    an earlier list (copy it the usual way then). */
struct evutil_addrinfo *he_race_own_entry_(struct he_race *r,
    const struct evutil_addrinfo *src);
/** Free a list that may hold the race's own entry (which is not freed). */
void he_race_free_list_(struct he_race *r, struct evutil_addrinfo *list);

/** Say that a query for this family will be answered with he_race_dns_answer_(). */
void he_race_expect_dns_(struct he_race *r, enum he_fam fam);

/** Add addresses known from the start (a caller's list, a literal); takes
    ownership of list.  Call before he_race_begin_(). */
void he_race_add_known_(struct he_race *r, struct evutil_addrinfo *list);

/** The race begins at `now`: the first attempt may start. */
void he_race_begin_(struct he_race *r, int64_t now);

/** One family's answer: list (owned, may be NULL) or eai_error != 0. */
void he_race_dns_answer_(struct he_race *r, int64_t now, enum he_fam fam,
    struct evutil_addrinfo *list, int eai_error);

/** Say that the host's HTTPS record will be answered with
    he_race_https_answer_(). */
void he_race_expect_https_(struct he_race *r);

/** The HTTPS record's answer: its endpoints' address hints (owned, may be
    NULL; each entry's meta says its group and HE_AI_HINT), or nothing
    (failed, empty, none usable): the record no longer holds anything
    back. */
void he_race_https_answer_(struct he_race *r, int64_t now,
    struct evutil_addrinfo *hints);

/** Say that one more answer (AAAA or A: at most two) for the target of
    the endpoints `groups` (bit g-1 for group g, g <= 32) will come with
    he_race_target_answer_(). */
void he_race_expect_target_(struct he_race *r, unsigned groups);

/** That answer: the target's addresses for those endpoints (owned, may be
    NULL), each entry's meta saying its group. */
void he_race_target_answer_(struct he_race *r, int64_t now, unsigned groups,
    struct evutil_addrinfo *list);

/** An A or AAAA answer (family) for the target of group came: the untried
    hints of that group and family that it lacks are dropped (and freed),
    those it holds are hints no more.  Hints and answers are compared by
    identity (he_ai_identity_): a synthesized IPv4 hint (NAT64) is of
    family AF_INET, confirmed by an A answer synthesized alike; one the
    answer holds at another address (synthesized otherwise, or not at
    all) is dropped, the answer's address racing in its place.  Call it
    before the answer itself joins.  Returns how many were dropped. */
int he_race_confirm_hints_(struct he_race *r, unsigned group, int family,
    const struct evutil_addrinfo *answer);

/** An endpoint (group) of the HTTPS record is the host itself at port,
    and the host's A/AAAA answers came before the record: its untried
    addresses at that port move into the group, and copies at port of
    every one known (untried or tried) at another port join it.  Call it
    before he_race_https_answer_ (it starts nothing itself). */
void he_race_endpoint_from_host_(struct he_race *r, unsigned group,
    int port);

/** A family's query could not start (EMFILE, EAGAIN, ENOMEM...): it counts
    as answered with EVUTIL_EAI_SYSTEM, and a race left with no address at
    all fails with `error` rather than EHOSTUNREACH. */
void he_race_dns_failed_(struct he_race *r, int64_t now, enum he_fam fam,
    int error);

/** An attempt failed, at once (socket, bind, connect) or later. */
void he_race_attempt_failed_(struct he_race *r, int64_t now, int attempt,
    int error);

/** An attempt's handshake completed.  Returns 1 when it won; 0 when the race
    was already decided (the glue must then close that socket itself). */
int he_race_attempt_connected_(struct he_race *r, int64_t now, int attempt);

/** The winner was refused after its handshake (the caller's endpoint hook
    said no): it counts as FAILED with error, and the race as failed with
    it.  Only after DONE with a winner; the glue closes its socket. */
void he_race_refuse_winner_(struct he_race *r, int error);

/** The timer the core asked for fired (early or late is fine). */
void he_race_timer_(struct he_race *r, int64_t now);

/** Stop: close every running attempt, no DONE action. */
void he_race_cancel_(struct he_race *r, int64_t now);

/** When the core next wants he_race_timer_(), or HE_NEVER. */
int64_t he_race_next_wakeup_(const struct he_race *r);

/** Take the next action; returns 0 when there is none. */
int he_race_next_action_(struct he_race *r, struct he_action *out);

/** What one attempt taught, for the history store. */
struct he_lesson {
	const struct sockaddr *sa;	/* the race's: valid while it lives */
	enum he_hist_state verdict;	/* WORKED, FAILED or HUNG */
	int error;			/* FAILED: its errno */
	int64_t rtt;			/* WORKED: the handshake's time */
	int64_t at;			/* when it was learned */
};

/** The most lessons one race gives: enough for every real list, few
    enough that no race can flush the store. */
#define HE_LESSONS_MAX 16

/** What the race taught, by the rules above, into out (room for max, at
    most HE_LESSONS_MAX are given): how many.  0 until the race is done
    (DONE or cancel). */
int he_race_lessons_(const struct he_race *r, struct he_lesson *out,
    int max);

#endif
