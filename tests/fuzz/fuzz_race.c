/*
 * libFuzzer target: the race core (he_race.c) driven by fuzzer-chosen
 * events, with its invariants checked after every step.
 *
 * The input is read as a settings header and then a stream of events:
 * DNS answers of any size and order (random and fixed addresses, hostile
 * ones, duplicates, malformed entries, errors), attempt failures and
 * handshakes (of any attempt, running or not), timer fires (early, on time
 * or late), forward clock jumps and a cancel.  A small glue stand-in takes
 * the actions as he_request.c does, failing some starts at once from inside
 * the START.  When the input runs out the clock jumps to the deadline: the
 * race must be over then.  A race with no overall timeout (HE_NEVER, the
 * drop-in's) must be over once every attempt failed (as the kernel ends
 * it) and every query was answered, starting the addresses left.
 *
 * The settings may turn history on (cfg.history, and cfg.no_notes or not):
 * then every entry the core is given may carry random facts (a verdict, an
 * RTT, a variation), as the glue gives the store's.
 *
 * Invariants (he_race.h states them):
 * - DONE at most once, never after a cancel, and no action after DONE;
 * - START n for n = 0, 1, ...: a running attempt, started now, of a usable
 *   address not started before, never within cfg.min_gap of the previous
 *   start; never more than cfg.max_in_flight running;
 * - CLOSE only of a running attempt; while the race goes on only at the
 *   cap (the oldest running, FAILED with ETIMEDOUT) and a START follows;
 * - at most one winner; a handshake wins exactly when its attempt runs and
 *   the race is not over; once over, nothing runs;
 * - r->in_flight counts the running attempts;
 * - the next wakeup is HE_NEVER when the race is over, else after now (so a
 *   timer fired on time always moves the race on); a race that is not
 *   over wants one unless it has no deadline and waits for an attempt or
 *   an answer;
 * - the error: 0 with a winner, else one of ETIMEDOUT, ENOMEM,
 *   EHOSTUNREACH (no attempt) or an attempt's errno; a DNS error only with
 *   ETIMEDOUT or EHOSTUNREACH;
 * - history: a note (HE_ACT_HISTORY) only with history on and notes wanted,
 *   of a move of an address the race holds or of the delay after the
 *   attempt that just started; an attempt's delay is the configured one,
 *   the minimum gap (a suspect) or one from an RTT (10 ms .. 2 s), and the
 *   configured one without history;
 * - what the race teaches (he_race_lessons_): nothing before its end, at
 *   most HE_LESSONS_MAX, the winner first, then hung, then failed attempts
 *   (tests/he_coredrive.c, he_drive_check_lessons).
 * Leaks are LeakSanitizer's.
 */
#include "he_race.h"
#include "he_coredrive.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_MAX_ATTEMPTS 4096


static unsigned
take16(struct input *in)
{
	unsigned hi = take(in);

	return hi << 8 | take(in);
}

enum fz_state { FZ_NONE, FZ_RUNNING, FZ_FAILED, FZ_WON, FZ_CLOSED };

struct fz {
	struct he_race r;
	struct input *in;
	int64_t now;
	int nstarts;
	int64_t last_start;
	enum fz_state st[FZ_MAX_ATTEMPTS];
	int running;
	int done, cancelled, winner;
	int step;
	int jumped;		/* the clock moved, no event yet */
};

#define FZ_CHECK(f, cond, ...) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_race: step %d, now %lld: ", (f)->step, \
		    (long long)(f)->now); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
		abort(); \
	} \
} while (0)

/* ---- addresses ----------------------------------------------------------- */

static const char *const fixed_v4[] = {
	"\xc0\x00\x02\x01", "\xc0\x00\x02\x02", "\xc0\x00\x02\x03",
	"\x7f\x00\x00\x01", "\x00\x00\x00\x00", "\xe0\x00\x00\x01",
	"\xff\xff\xff\xff", "\xef\xff\xff\xfa",
};
static const char *const fixed_v6[] = {
	"\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01",
	"\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x02",
	"\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x03",
	"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01",
	"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
	"\xff\x02\0\0\0\0\0\0\0\0\0\0\0\0\0\x01",
	"\0\0\0\0\0\0\0\0\0\0\xff\xff\0\0\0\0",
	"\0\0\0\0\0\0\0\0\0\0\xff\xff\xe0\0\0\x01",
};

/* One entry of family fam: a fixed address, or random bytes; sometimes
 * another port or scope, sometimes malformed (the core must drop it). */
static struct evutil_addrinfo *
make_entry(struct input *in, enum he_fam fam)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	struct evutil_addrinfo *ai;
	unsigned how = take(in), port = 443, i;

	memset(&ss, 0, sizeof(ss));
	if (how & 0x10)
		port = take(in) % 4 + 80;
	if (fam == HE_FAM_V4) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		if (how & 0x80)
			for (i = 0; i < 4; i++)
				((uint8_t *)&s4->sin_addr)[i] = (uint8_t)take(in);
		else
			memcpy(&s4->sin_addr, fixed_v4[how % 8], 4);
	} else {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (how & 0x80)
			for (i = 0; i < 16; i++)
				s6->sin6_addr.s6_addr[i] = (uint8_t)take(in);
		else
			memcpy(&s6->sin6_addr, fixed_v6[how % 8], 16);
		if (how & 0x20)
			s6->sin6_scope_id = take(in) % 3;
	}
	ai = evhappy_addrinfo_from_sockaddr((struct sockaddr *)&ss,
	    sizeof(ss));
	if (ai && (how & 0x60) == 0x40 && (take(in) & 7) == 0) {
		/* malformed: the family says one thing, the address another,
		   or the address is cut short */
		if (take(in) & 1)
			ai->ai_family = fam == HE_FAM_V4 ? AF_INET6 : AF_INET;
		else
			ai->ai_addrlen = 2;
	}
	return ai;
}

/* A DNS answer: up to 255 entries, or a long one of up to 600 (so that
 * the sorted dedup runs too). */
static struct evutil_addrinfo *
make_answer(struct input *in, enum he_fam fam)
{
	struct evutil_addrinfo *list = NULL, **tail = &list, *ai;
	unsigned n = take(in), i;

	if (n == 0xff)
		n = take16(in) % 600;
	for (i = 0; i < n && in->left; i++) {
		ai = make_entry(in, fam);
		if (!ai)
			continue;
		*tail = ai;
		tail = &ai->ai_next;
	}
	return list;
}

static int attempt_errno(unsigned b);

/* What the history store knows of each entry of list, when history is on:
 * for about half of them a random verdict, and sometimes an RTT. */
static void
give_facts(struct fz *f, struct evutil_addrinfo *list)
{
	for (; list && f->r.cfg.history; list = list->ai_next) {
		struct he_hist_info *h = &HE_AI_META(list)->facts;
		unsigned b = take(f->in);

		memset(h, 0, sizeof(*h));
		if (!(b & 1))
			continue;
		h->state = (uint8_t)((b >> 1) & 3);
		h->error = h->state == HE_HIST_FAILED ?
		    (uint16_t)attempt_errno(b >> 4) : 0;
		if (b & 8) {
			h->srtt = (uint32_t)take16(f->in) * 50;	/* to 3.3 s */
			h->rttvar = (uint32_t)take(f->in) * 500;
		}
		h->age = (uint32_t)take(f->in) * 1000;
	}
}

/* As the glue does with a one-address list or answer: sometimes the entry
 * goes in the race's own room (when that is free), which the core must
 * never free; then the facts of what joins. */
static struct evutil_addrinfo *
maybe_own(struct fz *f, struct evutil_addrinfo *list)
{
	struct evutil_addrinfo *own;

	if (!list || list->ai_next || !(take(f->in) & 1) ||
	    !(own = he_race_own_entry_(&f->r, list))) {
		give_facts(f, list);
		return list;
	}
	evhappy_addrinfo_free(list);
	give_facts(f, own);
	return own;
}

/* ---- sorts the core may be given ---------------------------------------- */

static int
sort_reverse(struct evutil_addrinfo **list)
{
	struct evutil_addrinfo *out = NULL, *ai, *next;

	for (ai = *list; ai; ai = next) {
		next = ai->ai_next;
		ai->ai_next = out;
		out = ai;
	}
	*list = out;
	return 0;
}

static int sort_fails_after;

/* Like a sort whose allocation fails: -1, the list left whole. */
static int
sort_failing(struct evutil_addrinfo **list)
{
	if (sort_fails_after-- > 0)
		return sort_reverse(list);
	errno = ENOMEM;
	return -1;
}

/* ---- the glue stand-in and the invariants ------------------------------- */

static int
attempt_errno(unsigned b)
{
	static const int e[] = { ECONNREFUSED, ETIMEDOUT, ENETUNREACH,
	    EHOSTUNREACH, EADDRNOTAVAIL, EMFILE, EACCES, 0 };

	return e[b % 8];
}

static int
same_addr(const struct evutil_addrinfo *a, const struct evutil_addrinfo *b)
{
	return he_sockaddr_equal_(a->ai_addr, b->ai_addr);
}

static void
on_start(struct fz *f, int i)
{
	const struct he_attempt *a;
	int j;

	FZ_CHECK(f, i == f->nstarts && i < f->r.nattempts &&
	    i < FZ_MAX_ATTEMPTS, "START %d, %d started, %d attempts", i,
	    f->nstarts, f->r.nattempts);
	a = &f->r.attempts[i];
	FZ_CHECK(f, a->state == HE_ATTEMPT_RUNNING && a->started == f->now,
	    "START %d: state %d, started %lld", i, (int)a->state,
	    (long long)a->started);
	FZ_CHECK(f, f->running < f->r.cfg.max_in_flight,
	    "START %d with %d running (max %d)", i, f->running,
	    f->r.cfg.max_in_flight);
	FZ_CHECK(f, i == 0 || f->now - f->last_start >= f->r.cfg.min_gap,
	    "START %d %lld us after the last", i,
	    (long long)(f->now - f->last_start));
	FZ_CHECK(f, a->ai && !a->ai->ai_next && a->ai->ai_addr &&
	    he_addr_usable_(a->ai->ai_addr) &&
	    a->ai->ai_family == a->ai->ai_addr->sa_family,
	    "START %d of an address that is not usable", i);
	for (j = 0; j < i; j++)
		FZ_CHECK(f, !same_addr(f->r.attempts[j].ai, a->ai),
		    "START %d of the address of attempt %d", i, j);
	f->st[i] = FZ_RUNNING;
	f->running++;
	f->nstarts++;
	f->last_start = f->now;
	/* socket(), bind() or connect() failing at once, as the glue reports
	   it from inside the START */
	if ((take(f->in) & 7) == 7) {
		f->st[i] = FZ_FAILED;
		f->running--;
		he_race_attempt_failed_(&f->r, f->now, i,
		    attempt_errno(take(f->in)));
	}
}

static void
on_close(struct fz *f, int i, int *want_start)
{
	const struct he_attempt *a;
	int j;

	FZ_CHECK(f, i >= 0 && i < f->nstarts && f->st[i] == FZ_RUNNING,
	    "CLOSE %d: not running", i);
	a = &f->r.attempts[i];
	f->st[i] = FZ_CLOSED;
	f->running--;
	if (f->r.done)
		return;
	/* at the cap: the oldest, given up with ETIMEDOUT, for a START */
	FZ_CHECK(f, a->state == HE_ATTEMPT_FAILED && a->error == ETIMEDOUT &&
	    a->ended == f->now, "CLOSE %d while the race goes on: state %d "
	    "error %d", i, (int)a->state, a->error);
	FZ_CHECK(f, f->running + 1 == f->r.cfg.max_in_flight,
	    "CLOSE %d at the cap with %d running of %d", i, f->running + 1,
	    f->r.cfg.max_in_flight);
	for (j = 0; j < i; j++)
		FZ_CHECK(f, f->st[j] != FZ_RUNNING, "CLOSE %d at the cap, "
		    "but %d is older", i, j);
	*want_start = 1;
}

/* Whether ai is an address the race holds: untried or attempted. */
static int
held(const struct fz *f, const struct sockaddr *sa)
{
	const struct evutil_addrinfo *ai;
	int i;

	for (ai = f->r.untried; ai; ai = ai->ai_next)
		if (he_sockaddr_equal_(ai->ai_addr, sa))
			return 1;
	for (i = 0; i < f->r.nattempts; i++)
		if (he_sockaddr_equal_(f->r.attempts[i].ai->ai_addr, sa))
			return 1;
	return 0;
}

/* A history note: only with history and notes wanted; a move of an
 * address the race holds, or the delay after the attempt that just
 * started (last: the action before it). */
static void
on_note(struct fz *f, int i, const struct he_action *last)
{
	const struct he_hist_note *n;
	const struct he_attempt *a;

	FZ_CHECK(f, f->r.cfg.history && !f->r.cfg.no_notes,
	    "a history note (history %d, no_notes %d)", f->r.cfg.history,
	    f->r.cfg.no_notes);
	FZ_CHECK(f, i >= 0 && i < f->r.notes.n, "note %d of %d", i,
	    f->r.notes.n);
	n = &f->r.notes.v[i];
	if (n->kind == HE_NOTE_MOVED) {
		FZ_CHECK(f, n->placed && held(f, (const struct sockaddr *)
		    &n->addr), "a move note not placed or of no address here");
		return;
	}
	FZ_CHECK(f, n->kind == HE_NOTE_DELAY && last->kind == HE_ACT_START,
	    "note kind %d after action %d", (int)n->kind, (int)last->kind);
	a = &f->r.attempts[last->attempt];
	FZ_CHECK(f, he_sockaddr_equal_((const struct sockaddr *)&n->addr,
	    a->ai->ai_addr) && n->delay == a->delay &&
	    n->delay != f->r.cfg.attempt_delay, "a delay note (%lld) not the "
	    "start's (%lld)", (long long)n->delay, (long long)a->delay);
}

/* The delay after attempt i's start: the configured one, or with history
 * the minimum gap (a suspect) or one from an RTT (10 ms .. 2 s). */
static void
check_delay(struct fz *f, int i)
{
	int64_t d = f->r.attempts[i].delay;

	FZ_CHECK(f, d == f->r.cfg.attempt_delay || (f->r.cfg.history &&
	    (d == f->r.cfg.min_gap || (d >= 10000 && d <= 2000000))),
	    "attempt %d: delay %lld (configured %lld, history %d)", i,
	    (long long)d, (long long)f->r.cfg.attempt_delay,
	    f->r.cfg.history);
}

static void
drain(struct fz *f)
{
	struct he_action a, last = { HE_ACT_DONE, -1 };
	int want_start = 0;

	while (he_race_next_action_(&f->r, &a)) {
		FZ_CHECK(f, !f->done, "action %d after DONE", (int)a.kind);
		FZ_CHECK(f, !f->cancelled, "action %d after the cancel",
		    (int)a.kind);
		FZ_CHECK(f, !want_start || a.kind == HE_ACT_START,
		    "action %d after a CLOSE at the cap", (int)a.kind);
		switch (a.kind) {
		case HE_ACT_START:
			want_start = 0;
			on_start(f, a.attempt);
			check_delay(f, a.attempt);
			break;
		case HE_ACT_HISTORY:
			on_note(f, a.attempt, &last);
			break;
		case HE_ACT_CLOSE:
			on_close(f, a.attempt, &want_start);
			break;
		case HE_ACT_DONE:
			FZ_CHECK(f, f->r.done && a.attempt == f->r.winner,
			    "DONE: done %d, attempt %d, winner %d", f->r.done,
			    a.attempt, f->r.winner);
			f->done = 1;
			break;
		default:
			FZ_CHECK(f, 0, "action kind %d", (int)a.kind);
		}
		last = a;
	}
	FZ_CHECK(f, !want_start, "a CLOSE at the cap without a START");
}

static int
outcome_error_ok(const struct fz *f)
{
	int e = f->r.error, i;

	if (f->r.winner >= 0)
		return e == 0;
	if (e == ETIMEDOUT || e == ENOMEM)
		return 1;
	if (e == EHOSTUNREACH && f->r.nattempts == 0)
		return 1;
	for (i = 0; i < f->r.nattempts; i++)
		if (f->r.attempts[i].error == e)
			return e != 0;
	return 0;
}

static void
check(struct fz *f)
{
	const char *bad;
	int i, running = 0;
	int64_t w;

	drain(f);
	for (i = 0; i < f->r.nattempts; i++)
		running += f->r.attempts[i].state == HE_ATTEMPT_RUNNING;
	FZ_CHECK(f, running == f->r.in_flight && running == f->running,
	    "%d running, in_flight %d, the glue sees %d", running,
	    f->r.in_flight, f->running);
	FZ_CHECK(f, f->running <= f->r.cfg.max_in_flight, "%d running of %d",
	    f->running, f->r.cfg.max_in_flight);
	FZ_CHECK(f, f->nstarts == f->r.nattempts, "%d STARTs, %d attempts",
	    f->nstarts, f->r.nattempts);
	bad = he_drive_check_lessons(&f->r);
	FZ_CHECK(f, !bad, "lessons: %s", bad);
	w = he_race_next_wakeup_(&f->r);
	if (f->r.done) {
		FZ_CHECK(f, w == HE_NEVER, "wakeup %lld after the end",
		    (long long)w);
		FZ_CHECK(f, f->running == 0, "%d running after the end",
		    f->running);
		FZ_CHECK(f, f->done || f->cancelled, "over, but no DONE");
	} else if (!f->jumped) {	/* after every event, not a jump */
		FZ_CHECK(f, w > f->now, "wakeup %lld, now %lld", (long long)w,
		    (long long)f->now);
	}
	/* Never stalled: a race that wants no wake-up has no deadline and
	   waits for something that will come (an attempt's end, an answer). */
	if (!f->r.done && w == HE_NEVER)
		FZ_CHECK(f, f->r.deadline == HE_NEVER && !f->r.untried &&
		    (f->running || f->r.dns_pending[HE_FAM_V6] ||
		    f->r.dns_pending[HE_FAM_V4]), "no wake-up, nothing to "
		    "wait for (%d running)", f->running);
	if (f->done) {
		FZ_CHECK(f, outcome_error_ok(f), "error %d, winner %d",
		    f->r.error, f->r.winner);
		FZ_CHECK(f, !f->r.dns_failure || f->r.error == ETIMEDOUT ||
		    f->r.error == EHOSTUNREACH, "DNS error %d with error %d",
		    f->r.dns_failure, f->r.error);
		FZ_CHECK(f, (f->r.winner >= 0) == (f->winner >= 0) &&
		    (f->winner < 0 || f->r.winner == f->winner),
		    "winner %d, the glue saw %d", f->r.winner, f->winner);
	}
}

/* ---- events -------------------------------------------------------------- */

static void
ev_dns(struct fz *f)
{
	static const int eai[] = { 0, 0, 0, EVUTIL_EAI_NONAME,
	    EVUTIL_EAI_FAIL, EVUTIL_EAI_AGAIN, EVUTIL_EAI_NODATA, 0 };
	unsigned b = take(f->in);
	enum he_fam fam = (b & 1) ? HE_FAM_V4 : HE_FAM_V6;
	int err = eai[(b >> 1) % 8];

	he_race_dns_answer_(&f->r, f->now, fam, err && !(b & 0x80) ? NULL :
	    maybe_own(f, make_answer(f->in, fam)), err);
}

static void
ev_failed(struct fz *f)
{
	int i = (int)(take(f->in) % (unsigned)(f->nstarts + 1));
	int err = attempt_errno(take(f->in));

	if (i < f->nstarts && f->st[i] == FZ_RUNNING && !f->r.done) {
		f->st[i] = FZ_FAILED;
		f->running--;
	}
	he_race_attempt_failed_(&f->r, f->now, i, err);
}

static void
ev_connected(struct fz *f)
{
	int i = (int)(take(f->in) % (unsigned)(f->nstarts + 1));
	int may_win = i < f->nstarts && f->st[i] == FZ_RUNNING && !f->r.done;
	int won = he_race_attempt_connected_(&f->r, f->now, i);

	FZ_CHECK(f, won == may_win, "attempt %d connected: won %d, expected "
	    "%d", i, won, may_win);
	if (won) {
		FZ_CHECK(f, f->winner < 0, "a second winner %d", i);
		f->winner = i;
		f->st[i] = FZ_WON;
		f->running--;
	}
}

static void
ev_timer(struct fz *f, unsigned how)
{
	int64_t w = he_race_next_wakeup_(&f->r);

	if (how == 0 && w != HE_NEVER)
		f->now = w;			/* on time */
	else if (how == 1 && w != HE_NEVER && w - 1 > f->now)
		f->now = w - 1;			/* early */
	he_race_timer_(&f->r, f->now);
}

static void
ev_cancel(struct fz *f)
{
	struct he_action a;
	int was_done = f->r.done;

	he_race_cancel_(&f->r, f->now);
	if (!was_done)
		f->cancelled = 1;
	/* a cancel closes what runs, and nothing else */
	while (he_race_next_action_(&f->r, &a)) {
		FZ_CHECK(f, a.kind == HE_ACT_CLOSE && !was_done &&
		    a.attempt >= 0 && a.attempt < f->nstarts &&
		    f->st[a.attempt] == FZ_RUNNING,
		    "cancel: action %d on %d", (int)a.kind, a.attempt);
		f->st[a.attempt] = FZ_CLOSED;
		f->running--;
	}
}

static void
setup(struct fz *f, struct input *in)
{
	struct he_race_config cfg;
	unsigned b;

	memset(&cfg, 0, sizeof(cfg));
	cfg.attempt_delay = (int64_t)(take(in) % 64 + 1) * 5000;
	cfg.min_gap = (int64_t)(take(in) % 4) * 5000;
	cfg.resolution_delay = (int64_t)(take(in) % 8) * 25000;
	cfg.timeout = (int64_t)(take16(in) % 8000 + 1) * 1000;
	cfg.first_family_count = (int)(take(in) % 4) + 1;
	b = take(in);
	cfg.max_in_flight = (int)(b % 8) + 1;
	if ((b >> 3) % 8 == 7)
		cfg.timeout = HE_NEVER;	/* none: the drop-in's */
	b = take(in);
	cfg.history = (b & 0x10) != 0;
	cfg.no_notes = (b & 0x20) != 0;
	/* A suspect's delay is the minimum gap: at 0 (which the library
	   never sets: it is EVHAPPY_MIN_ATTEMPT_GAP_MS) the next start would
	   be due in the same instant, and at the cap it would close the
	   attempt just started before the glue took its START. */
	if (cfg.history && cfg.min_gap == 0)
		cfg.min_gap = 5000;
	switch (b % 4) {
	case 0: cfg.sort = NULL; break;
	case 1: cfg.sort = he_drive_sort_v6_first; break;
	case 2: cfg.sort = sort_reverse; break;
	case 3:
		cfg.sort = sort_failing;
		sort_fails_after = (int)(b >> 2) % 3;
		break;
	}
	memset(f, 0, sizeof(*f));
	f->in = in;
	f->winner = -1;
	f->now = (int64_t)1000 * 1000000;
	he_race_init_(&f->r, &cfg);
	b = take(in);
	if (b & 1)
		he_race_expect_dns_(&f->r, HE_FAM_V6);
	if (b & 2)
		he_race_expect_dns_(&f->r, HE_FAM_V4);
	if (b & 4)
		he_race_add_known_(&f->r, maybe_own(f, make_answer(in,
		    (b & 8) ? HE_FAM_V4 : HE_FAM_V6)));
	if (b & 16)
		he_race_add_known_(&f->r, maybe_own(f, make_answer(in,
		    (b & 8) ? HE_FAM_V6 : HE_FAM_V4)));
}

/* Fail every running attempt (ETIMEDOUT, as the kernel ends a SYN that
   is never answered) and answer every pending query (EAI_AGAIN, as a
   resolver gives up); whether there was anything to end. */
static int
end_everything(struct fz *f)
{
	int i, any = 0;

	for (i = 0; i < f->nstarts && !f->r.done; i++)
		if (f->st[i] == FZ_RUNNING) {
			f->st[i] = FZ_FAILED;
			f->running--;
			he_race_attempt_failed_(&f->r, f->now, i, ETIMEDOUT);
			check(f);
			any = 1;
		}
	for (i = 0; i < HE_NFAM && !f->r.done; i++)
		if (f->r.dns_pending[i]) {
			he_race_dns_answer_(&f->r, f->now, (enum he_fam)i, NULL,
			    EVUTIL_EAI_AGAIN);
			check(f);
			any = 1;
		}
	return any;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct fz *f = calloc(1, sizeof(*f));
	unsigned op;

	if (!f)
		return 0;
	setup(f, &in);
	he_race_begin_(&f->r, f->now);
	check(f);
	while (in.left && f->step < 10000) {
		f->step++;
		op = take(&in);
		f->jumped = op % 10 == 7;
		switch (op % 10) {
		case 0: case 1: ev_dns(f); break;
		case 2: ev_failed(f); break;
		case 3: ev_connected(f); break;
		case 4: case 5: ev_timer(f, 0); break;
		case 6: ev_timer(f, 1); break;
		case 7: f->now += (int64_t)take(&in) * 1000; break;
		case 8: f->now += (int64_t)take16(&in) * 1000;
			ev_timer(f, 2);
			break;
		case 9:
			if ((op >> 4) == 0xf)
				ev_cancel(f);
			else
				ev_timer(f, 0);
			break;
		}
		check(f);
	}
	/* No deadline: the kernel ends every attempt, the resolver every
	   query, the timer starts what is left; then the race must be over. */
	if (!f->r.done && f->r.deadline == HE_NEVER) {
		f->jumped = 0;
		while (!f->r.done && f->step < 30000) {
			f->step++;
			if (!end_everything(f)) {
				if (he_race_next_wakeup_(&f->r) == HE_NEVER)
					break;
				f->now = he_race_next_wakeup_(&f->r);
				he_race_timer_(&f->r, f->now);
				check(f);
			}
		}
		FZ_CHECK(f, f->done || f->cancelled, "not over without a "
		    "deadline once every attempt and query ended");
	}
	/* Whatever is left pending, the deadline ends the race. */
	if (!f->r.done) {
		f->now = f->r.deadline;
		he_race_timer_(&f->r, f->now);
		check(f);
		FZ_CHECK(f, f->done, "not over at the deadline");
	}
	FZ_CHECK(f, f->done != f->cancelled, "DONE %d, cancelled %d",
	    f->done, f->cancelled);
	he_race_clear_(&f->r);
	free(f);
	return 0;
}
