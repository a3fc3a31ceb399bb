/*
 * The race core (he_race.c) on a fake clock: table-driven timing tests.
 *
 * No sockets, no sleeping.  Each row of the table below is a scenario: the
 * settings, the addresses (known from the start, or arriving by DNS at given
 * times), and how each address's connection attempt ends.  A small
 * discrete-event simulator plays the row against the core exactly as the
 * glue (he_request.c) would:
 *
 *   - it keeps a fake `now` and calls he_race_begin_() at T0;
 *   - it delivers DNS answers and attempt outcomes at their times, and calls
 *     he_race_timer_() at he_race_next_wakeup_() when that comes first;
 *   - after every call it drains he_race_next_action_(): a START records
 *     (address, time) and schedules that address's scripted outcome; an
 *     outcome "fails at once" is reported from inside the START, the way a
 *     bind() or socket() failure is; a CLOSE marks the attempt closed; DONE
 *     records the end;
 *   - it stops when nothing remains to deliver.  Events still scheduled
 *     after DONE (or after a cancel) are delivered too: the core must ignore
 *     them and queue nothing more.
 *
 * Events due at the same instant are delivered in the order they were
 * scheduled (DNS answers, AAAA before A, and a cancel before any attempt's
 * outcome; outcomes in the order their attempts started), and the timer
 * after them.
 *
 * Each row is played twice: with the timer firing exactly when the core
 * asks, and again with the timer also firing every millisecond (a timer
 * that fires early must change nothing).
 *
 * Every row then checks the exact starts (address@ms since the race began),
 * the winner, the errno, the DNS error, the attempts closed, when the race
 * ended, and that exactly one DONE came (none after a cancel).  Every row
 * also checks the invariants of RFC 8305 section 5 as he_race.h states
 * them: two starts are never less than the minimum gap (10 ms) apart, no
 * more than max_in_flight attempts run, and a running attempt is closed only
 * when the race ends (the stagger never cancels anything).
 *
 * The semantics tested are those of he_race.h; the table is their worked
 * examples.  The hand-driven tests at the end check he_race_next_wakeup_()
 * in a few states, reports about attempts that no longer run, a late
 * timer, and which lists are sorted.
 */
#include "he_race.h"
#include "he_testutil.h"
#include "he_coredrive.h"
#include "he_fault.h"

#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

/* ----------------------------------------------------------------------- */
/* Addresses: short labels for documentation addresses. */

/* "6a" to "6j" stand for 2001:db8::a to 2001:db8::13, "4a" to "4j" for
   192.0.2.1 to 192.0.2.10; the table for the others. */
#define LETTERS 10
static const struct {
	const char *label, *addr;
} addr_table[] = {
	/* never connected to: unspecified, multicast, broadcast */
	{ "4z", "0.0.0.0" }, { "6z", "::" },
	{ "4m", "224.0.0.1" }, { "4n", "239.255.255.250" },
	{ "6m", "ff02::1" }, { "6n", "ff0e::101" },
	{ "4x", "255.255.255.255" },
	{ "6y", "::ffff:0.0.0.0" }, { "6w", "::ffff:224.0.0.1" },
	{ "6x", "::ffff:255.255.255.255" },
};
#define N_ADDRS ((int)(sizeof(addr_table) / sizeof(addr_table[0])))
#define TEST_PORT 443

/** The address for a label, or NULL. */
static const char *
addr_of_label(const char *label, size_t len)
{
	static char buf[4][INET6_ADDRSTRLEN];
	static int n;
	int i, k = len == 2 ? label[1] - 'a' : -1;

	if (k >= 0 && k < LETTERS && (label[0] == '6' || label[0] == '4')) {
		char *b = buf[n++ % 4];

		if (label[0] == '6')
			snprintf(b, INET6_ADDRSTRLEN, "2001:db8::%x", 0xa + k);
		else
			snprintf(b, INET6_ADDRSTRLEN, "192.0.2.%d", 1 + k);
		return b;
	}
	for (i = 0; i < N_ADDRS; i++)
		if (strlen(addr_table[i].label) == len &&
		    !strncmp(addr_table[i].label, label, len))
			return addr_table[i].addr;
	return NULL;
}

/** The label of an address, or "??". */
static const char *
label_of_sa(const struct sockaddr *sa)
{
	static char labels[2 * LETTERS][3];	/* one each: callers keep it */
	const char *s;
	int i;

	if (!sa || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return "??";
	s = he_test_addr_str(sa);
	for (i = 0; i < 2 * LETTERS; i++) {
		labels[i][0] = i < LETTERS ? '6' : '4';
		labels[i][1] = (char)('a' + i % LETTERS);
		if (!strcmp(addr_of_label(labels[i], 2), s))
			return labels[i];
	}
	for (i = 0; i < N_ADDRS; i++)
		if (!strcmp(addr_table[i].addr, s))
			return addr_table[i].label;
	return "??";
}

/** The label of an attempt's address, or "??". */
static const char *
label_of_ai(const struct evutil_addrinfo *ai)
{
	return ai ? label_of_sa(ai->ai_addr) : "??";
}

/** A list for "6a 6b 4a" (NULL for ""), port TEST_PORT. */
static struct evutil_addrinfo *
make_list(const char *labels)
{
	struct evutil_addrinfo *list = NULL, *ai;
	const char *p = labels, *addr;
	size_t len;

	while (p && *p) {
		while (*p == ' ')
			p++;
		len = strcspn(p, " ");
		if (!len)
			break;
		addr = addr_of_label(p, len);
		ck_assert_msg(addr != NULL, "unknown label in \"%s\"", labels);
		ai = he_test_ai(addr, TEST_PORT);
		ck_assert_msg(ai != NULL, "he_test_ai(%s) failed", addr);
		list = he_test_append(list, ai);
		p += len;
	}
	return list;
}

/* ----------------------------------------------------------------------- */
/* The table's vocabulary. */

/** Times in rows are milliseconds after the race began.  0 in a setting
    means "the default"; MS0 means an explicit 0 ms. */
#define MS0 (-1)

enum dns_kind { DNS_NOT_ASKED = 0, DNS_ANSWERS, DNS_SILENT };

struct dns_script {
	enum dns_kind kind;
	int at;			/* ms */
	const char *addrs;	/* labels; "" for an empty answer */
	int eai;		/* EVUTIL_EAI_* or 0 */
};
/* One family's query and how it is answered. */
#define ANSWER(t, labels)	{ DNS_ANSWERS, (t), (labels), 0 }
#define EMPTY(t)		{ DNS_ANSWERS, (t), "", 0 }
#define DNS_ERROR(t, eai)	{ DNS_ANSWERS, (t), "", (eai) }
#define NO_ANSWER		{ DNS_SILENT, 0, NULL, 0 }

enum outcome_kind { HANGS = 0, CONNECTS, FAILS, FAILS_AT_ONCE };

struct outcome {
	const char *label;
	enum outcome_kind kind;
	int after;		/* ms after the attempt started */
	int err;
};
/* How an address's attempt ends; an address not listed hangs. */
#define CONNECT(label, t)	{ (label), CONNECTS, (t), 0 }
#define FAIL(label, t, e)	{ (label), FAILS, (t), (e) }
#define FAIL_NOW(label, e)	{ (label), FAILS_AT_ONCE, 0, (e) }

#define MAX_OUTCOMES 8

/* What the history store knew of an address when it joined the race (the
   entry's facts, he_facts.h); a row that gives any has cfg.history on. */
struct fact {
	const char *label;
	enum he_hist_state state;
	int srtt, rttvar;	/* ms; WORKED only */
};
#define WORKED_RTT(label, srtt, var)	{ (label), HE_HIST_WORKED, (srtt), (var) }
#define HUNG_BEFORE(label)		{ (label), HE_HIST_HUNG, 0, 0 }
#define FAILED_BEFORE(label)		{ (label), HE_HIST_FAILED, 0, 0 }

#define MAX_FACTS 6

struct row {
	const char *name;

	/* settings, ms (0: default; MS0: zero) */
	int attempt_delay;	/* default 250 */
	int resolution_delay;	/* default 50 */
	int timeout;		/* default 30000 */
	int family_count;	/* default 1 */
	int max_in_flight;	/* default EVHAPPY_DEFAULT_MAX_IN_FLIGHT */

	/* the addresses */
	const char *known;	/* the caller's list, in its order */
	struct dns_script aaaa, a;
	struct outcome out[MAX_OUTCOMES];
	int cancel_at;		/* he_race_cancel_() at this ms (0: never) */

	/* what must happen */
	const char *starts;	/* "6a@0 4a@10": address@ms, in start order */
	const char *winner;	/* label, or NULL */
	int error;		/* the race's errno */
	int dns_failure;	/* EVUTIL_EAI_* */
	const char *closed;	/* CLOSE actions, in order */
	const char *displaced;	/* of those, closed at the cap (ETIMEDOUT) */
	int done_at;		/* ms of DONE (or of the cancel) */
	int late_connects;	/* handshakes reported after the race was won */

	/* history (RFC 8305 section 4) */
	struct fact facts[MAX_FACTS];
	const char *moved;	/* the addresses history moved (its notes) */
	const char *delays;	/* "label@ms": an attempt's delay from history */
	const char *lessons;	/* "label=worked|hung|failed": what the race
				   taught, in order (NULL: not checked) */
};

/* Defaults (RFC 8305 section 8, he_event.h). */
#define DEF_ATTEMPT_DELAY	EVHAPPY_DEFAULT_ATTEMPT_DELAY_MS
#define DEF_RESOLUTION_DELAY	EVHAPPY_DEFAULT_RESOLUTION_DELAY_MS
#define DEF_TIMEOUT		EVHAPPY_DEFAULT_TIMEOUT_MS
#define MIN_GAP			EVHAPPY_MIN_ATTEMPT_GAP_MS

/* ----------------------------------------------------------------------- */
/* THE TABLE */

static const struct row rows[] = {

	/* --- aiohappyeyeballs' scenarios, on a caller's list ------------- */

	{ .name = "single address connects",
	  .known = "4a",
	  .out = { CONNECT("4a", 20) },
	  .starts = "4a@0", .winner = "4a", .closed = "", .done_at = 20 },

	{ .name = "single address connects in the instant it starts",
	  .known = "6a",
	  .out = { CONNECT("6a", 0) },
	  .starts = "6a@0", .winner = "6a", .closed = "", .done_at = 0 },

	{ .name = "first IPv6 refused: IPv4 starts at the minimum gap",
	  .known = "6a 4a",
	  .out = { FAIL("6a", 5, ECONNREFUSED), CONNECT("4a", 20) },
	  .starts = "6a@0 4a@10", .winner = "4a", .closed = "", .done_at = 30 },

	{ .name = "a failure after the minimum gap starts the next at once",
	  .known = "6a 4a",
	  .out = { FAIL("6a", 100, ECONNREFUSED), CONNECT("4a", 20) },
	  .starts = "6a@0 4a@100", .winner = "4a", .closed = "",
	  .done_at = 120 },

	{ .name = "first hangs: second starts at the attempt delay and wins",
	  .known = "6a 4a",
	  .out = { CONNECT("4a", 20) },
	  .starts = "6a@0 4a@250", .winner = "4a", .closed = "6a",
	  .done_at = 270 },

	{ .name = "the stagger does not cancel: the first still wins late",
	  .known = "6a 4a",
	  .out = { CONNECT("6a", 300) },
	  .starts = "6a@0 4a@250", .winner = "6a", .closed = "4a",
	  .done_at = 300 },

	{ .name = "first address family count 2: both IPv6 before IPv4",
	  .family_count = 2,
	  .known = "6a 6b 4a",
	  .out = { CONNECT("4a", 10) },
	  .starts = "6a@0 6b@250 4a@500", .winner = "4a", .closed = "6a 6b",
	  .done_at = 510 },

	{ .name = "first address family count 1: families alternate",
	  .known = "6a 6b 4a",
	  .out = { CONNECT("6b", 10) },
	  .starts = "6a@0 4a@250 6b@500", .winner = "6b", .closed = "6a 4a",
	  .done_at = 510 },

	{ .name = "a caller's list keeps its order (IPv4 first), never sorted",
	  .known = "4a 6a 4b 6b",
	  .out = { CONNECT("6b", 10) },
	  .starts = "4a@0 6a@250 4b@500 6b@750", .winner = "6b",
	  .closed = "4a 6a 4b", .done_at = 760 },

	{ .name = "all refused: the errno they share",
	  .known = "6a 6b 4a",
	  .out = { FAIL("6a", 5, ECONNREFUSED), FAIL("6b", 5, ECONNREFUSED),
		   FAIL("4a", 5, ECONNREFUSED) },
	  .starts = "6a@0 4a@10 6b@20", .error = ECONNREFUSED, .closed = "",
	  .done_at = 25 },

	{ .name = "different errnos: the first attempt's",
	  .known = "6a 4a",
	  .out = { FAIL("6a", 5, ENETUNREACH), FAIL("4a", 5, ECONNREFUSED) },
	  .starts = "6a@0 4a@10", .error = ENETUNREACH, .closed = "",
	  .done_at = 15 },

	{ .name = "different errnos: the first attempt's, though it failed last",
	  .known = "6a 4a",
	  .out = { FAIL("6a", 400, EHOSTUNREACH), FAIL("4a", 20, ECONNREFUSED) },
	  .starts = "6a@0 4a@250", .error = EHOSTUNREACH, .closed = "",
	  .done_at = 400 },

	{ .name = "every bind fails at once: starts 10 ms apart, EADDRNOTAVAIL",
	  .known = "6a 6b 4a",
	  .out = { FAIL_NOW("6a", EADDRNOTAVAIL), FAIL_NOW("6b", EADDRNOTAVAIL),
		   FAIL_NOW("4a", EADDRNOTAVAIL) },
	  .starts = "6a@0 4a@10 6b@20", .error = EADDRNOTAVAIL, .closed = "",
	  .done_at = 20 },

	{ .name = "no local IPv6 address: IPv6 fails at once, IPv4 wins",
	  .known = "6a 6b 4a 4b",
	  .out = { FAIL_NOW("6a", EADDRNOTAVAIL), FAIL_NOW("6b", EADDRNOTAVAIL),
		   CONNECT("4a", 30) },
	  .starts = "6a@0 4a@10", .winner = "4a", .closed = "", .done_at = 40 },

	{ .name = "no local IPv6 address, first IPv4 hangs: second IPv4 wins",
	  .known = "6a 6b 4a 4b",
	  .out = { FAIL_NOW("6a", EADDRNOTAVAIL), FAIL_NOW("6b", EADDRNOTAVAIL),
		   CONNECT("4b", 5) },
	  .starts = "6a@0 4a@10 6b@260 4b@270", .winner = "4b", .closed = "4a",
	  .done_at = 275 },

	{ .name = "the socket factory fails (EMFILE): the race goes on",
	  .known = "6a 4a",
	  .out = { FAIL_NOW("6a", EMFILE), CONNECT("4a", 5) },
	  .starts = "6a@0 4a@10", .winner = "4a", .closed = "", .done_at = 15 },

	{ .name = "the only address fails at once: done in the same instant",
	  .known = "6a",
	  .out = { FAIL_NOW("6a", EACCES) },
	  .starts = "6a@0", .error = EACCES, .closed = "", .done_at = 0 },

	{ .name = "four handshakes complete in one instant: one winner",
	  .known = "6a 6b 4a 4b",
	  .out = { CONNECT("6a", 800), CONNECT("4a", 550), CONNECT("6b", 300),
		   CONNECT("4b", 50) },
	  .starts = "6a@0 4a@250 6b@500 4b@750", .winner = "6a",
	  .closed = "4a 6b 4b", .done_at = 800, .late_connects = 3 },

	/* --- the stagger -------------------------------------------------- */

	{ .name = "a failure while another runs starts the next at once",
	  .known = "6a 4a 6b",
	  .out = { FAIL("4a", 50, ECONNREFUSED), CONNECT("6b", 10) },
	  .starts = "6a@0 4a@250 6b@300", .winner = "6b", .closed = "6a",
	  .done_at = 310 },

	{ .name = "the attempt delay counts from the last start",
	  .known = "6a 4a 6b", .timeout = 1000,
	  .out = { FAIL("6a", 100, ECONNREFUSED) },
	  .starts = "6a@0 4a@100 6b@350", .error = ETIMEDOUT,
	  .closed = "4a 6b", .done_at = 1000 },

	{ .name = "two failures within one gap earn one early start",
	  .known = "6a 4a 6b 4b 6c", .timeout = 1000,
	  .out = { FAIL("6a", 505, ECONNREFUSED), FAIL("4a", 256, ECONNREFUSED) },
	  .starts = "6a@0 4a@250 6b@500 4b@510 6c@760", .error = ETIMEDOUT,
	  .closed = "6b 4b 6c", .done_at = 1000 },

	{ .name = "attempt delay 10 ms: a start every 10 ms",
	  .attempt_delay = 10,
	  .known = "6a 4a 6b 4b",
	  .out = { CONNECT("4b", 1) },
	  .starts = "6a@0 4a@10 6b@20 4b@30", .winner = "4b",
	  .closed = "6a 4a 6b", .done_at = 31 },

	{ .name = "attempt delay 2 s",
	  .attempt_delay = 2000,
	  .known = "6a 4a",
	  .out = { CONNECT("4a", 1) },
	  .starts = "6a@0 4a@2000", .winner = "4a", .closed = "6a",
	  .done_at = 2001 },

	/* --- attempts in flight ------------------------------------------- */

	/* At the cap, a start that is due closes the oldest running attempt
	   (ETIMEDOUT) to make room: the race never stalls with addresses
	   left. */
	{ .name = "max 2 in flight: at the cap the oldest is closed for the next",
	  .max_in_flight = 2, .timeout = 1000,
	  .known = "6a 4a 6b 4b",
	  .starts = "6a@0 4a@250 6b@500 4b@750", .error = ETIMEDOUT,
	  .closed = "6a 4a 6b 4b", .displaced = "6a 4a", .done_at = 1000 },

	{ .name = "max 2 in flight: a failure makes room, the third starts at once",
	  .max_in_flight = 2, .timeout = 1000,
	  .known = "6a 4a 6b 4b",
	  .out = { FAIL("6a", 400, ECONNREFUSED) },
	  .starts = "6a@0 4a@250 6b@400 4b@650", .error = ETIMEDOUT,
	  .closed = "4a 6b 4b", .displaced = "4a", .done_at = 1000 },

	{ .name = "max 2 in flight: a late answer takes the oldest's place",
	  .max_in_flight = 2, .timeout = 1000,
	  .aaaa = ANSWER(0, "6a 6b 6c"), .a = ANSWER(600, "4a"),
	  .out = { FAIL("6a", 800, ECONNREFUSED) },
	  .starts = "6a@0 6b@250 6c@500 4a@750", .error = ETIMEDOUT,
	  .closed = "6a 6b 6c 4a", .displaced = "6a 6b", .done_at = 1000 },

	{ .name = "max 1 in flight: each attempt gets one attempt delay",
	  .max_in_flight = 1,
	  .known = "6a 4a 6b",
	  .out = { FAIL("6a", 400, ECONNREFUSED), CONNECT("4a", 5) },
	  .starts = "6a@0 4a@250", .winner = "4a", .closed = "6a",
	  .displaced = "6a", .done_at = 255 },

	{ .name = "max 1 in flight: a failure still starts the next at the gap",
	  .max_in_flight = 1,
	  .known = "6a 4a 6b",
	  .out = { FAIL("6a", 3, ECONNREFUSED), CONNECT("6b", 0) },
	  .starts = "6a@0 4a@10 6b@260", .winner = "6b", .closed = "4a",
	  .displaced = "4a", .done_at = 260 },

	{ .name = "eight black holes first: the ninth is tried at 2 s and wins",
	  .family_count = 8, .max_in_flight = 8,
	  .known = "6a 6b 6c 6d 6e 6f 6g 6h 4a",
	  .out = { CONNECT("4a", 5) },
	  .starts = "6a@0 6b@250 6c@500 6d@750 6e@1000 6f@1250 6g@1500 "
		    "6h@1750 4a@2000", .winner = "4a",
	  .closed = "6a 6b 6c 6d 6e 6f 6g 6h", .displaced = "6a",
	  .done_at = 2005 },

	{ .name = "eight black holes in DNS: the ninth is tried and wins",
	  .family_count = 8, .max_in_flight = 8,
	  .aaaa = ANSWER(1, "6a 6b 6c 6d 6e 6f 6g 6h"), .a = ANSWER(0, "4a"),
	  .out = { CONNECT("4a", 5) },
	  .starts = "6a@1 6b@251 6c@501 6d@751 6e@1001 6f@1251 6g@1501 "
		    "6h@1751 4a@2001", .winner = "4a",
	  .closed = "6a 6b 6c 6d 6e 6f 6g 6h", .displaced = "6a",
	  .done_at = 2006 },

	/* With the default cap (far above real lists), starting an attempt
	   never closes an earlier one (RFC 8305 section 5): a slow first path
	   still wins, and black holes stay open until the race is won. */
	{ .name = "default cap: eight black holes stay open, the ninth wins",
	  .family_count = 8,
	  .known = "6a 6b 6c 6d 6e 6f 6g 6h 4a",
	  .out = { CONNECT("4a", 5) },
	  .starts = "6a@0 6b@250 6c@500 6d@750 6e@1000 6f@1250 6g@1500 "
		    "6h@1750 4a@2000", .winner = "4a",
	  .closed = "6a 6b 6c 6d 6e 6f 6g 6h", .displaced = "",
	  .done_at = 2005 },

	{ .name = "ten and ten, every answer held 5 s: the first wins at 5 s",
	  .aaaa = ANSWER(0, "6a 6b 6c 6d 6e 6f 6g 6h 6i 6j"),
	  .a = ANSWER(0, "4a 4b 4c 4d 4e 4f 4g 4h 4i 4j"),
	  .out = { CONNECT("6a", 5000), CONNECT("4a", 5000),
		   CONNECT("6b", 5000), CONNECT("4b", 5000) },
	  .starts = "6a@0 4a@250 6b@500 4b@750 6c@1000 4c@1250 6d@1500 "
		    "4d@1750 6e@2000 4e@2250 6f@2500 4f@2750 6g@3000 4g@3250 "
		    "6h@3500 4h@3750 6i@4000 4i@4250 6j@4500 4j@4750",
	  .winner = "6a",
	  .closed = "4a 6b 4b 6c 4c 6d 4d 6e 4e 6f 4f 6g 4g 6h 4h 6i 4i "
		    "6j 4j", .displaced = "", .done_at = 5000,
	  .late_connects = 3 },

	{ .name = "ten and ten, every answer held 29 s: the first wins at 29 s",
	  .aaaa = ANSWER(0, "6a 6b 6c 6d 6e 6f 6g 6h 6i 6j"),
	  .a = ANSWER(0, "4a 4b 4c 4d 4e 4f 4g 4h 4i 4j"),
	  .out = { CONNECT("6a", 29000), CONNECT("4a", 29000) },
	  .starts = "6a@0 4a@250 6b@500 4b@750 6c@1000 4c@1250 6d@1500 "
		    "4d@1750 6e@2000 4e@2250 6f@2500 4f@2750 6g@3000 4g@3250 "
		    "6h@3500 4h@3750 6i@4000 4i@4250 6j@4500 4j@4750",
	  .winner = "6a",
	  .closed = "4a 6b 4b 6c 4c 6d 4d 6e 4e 6f 4f 6g 4g 6h 4h 6i 4i "
		    "6j 4j", .displaced = "", .done_at = 29000,
	  .late_connects = 1 },

	/* --- each address once ------------------------------------------- */

	{ .name = "one black hole eight times in an answer: tried once",
	  .aaaa = ANSWER(0, "6a 6a 6a 6a 6a 6a 6a 6a 6b"),
	  .out = { CONNECT("6b", 5) },
	  .starts = "6a@0 6b@250", .winner = "6b", .closed = "6a",
	  .done_at = 255 },

	{ .name = "a caller's list with repeats: each address once, in order",
	  .known = "4a 4a 6a 4a 6a 4b",
	  .out = { CONNECT("4b", 5) },
	  .starts = "4a@0 6a@250 4b@500", .winner = "4b", .closed = "4a 6a",
	  .done_at = 505 },

	{ .name = "an answer repeating an address already tried: not again",
	  .known = "4a", .a = ANSWER(100, "4a 4b"),
	  .out = { CONNECT("4b", 5) },
	  .starts = "4a@0 4b@250", .winner = "4b", .closed = "4a",
	  .done_at = 255 },

	{ .name = "an answer of repeats only is an empty answer",
	  .known = "4a", .aaaa = ANSWER(0, "6a"), .a = ANSWER(10, "4a"),
	  .out = { FAIL("4a", 1, ECONNREFUSED), FAIL("6a", 1, ECONNREFUSED) },
	  .starts = "4a@0 6a@10", .error = ECONNREFUSED, .closed = "",
	  .done_at = 11 },

	/* --- addresses never connected to --------------------------------- */

	{ .name = "a caller's list: unspecified, multicast, broadcast skipped",
	  .known = "4z 6z 4m 6m 4x 6y 6w 6x 4n 6n 4a",
	  .out = { CONNECT("4a", 5) },
	  .starts = "4a@0", .winner = "4a", .closed = "", .done_at = 5 },

	{ .name = "AAAA of :: and multicast only is an empty answer: IPv4 at once",
	  .aaaa = ANSWER(10, "6z 6m 6y"), .a = ANSWER(0, "4a"),
	  .out = { CONNECT("4a", 5) },
	  .starts = "4a@10", .winner = "4a", .closed = "", .done_at = 15 },

	{ .name = "hostile answers only: EHOSTUNREACH, EAI_NONAME",
	  .aaaa = ANSWER(5, "6z 6m 6n 6y 6w 6x"), .a = ANSWER(8, "4z 4m 4n 4x"),
	  .starts = "", .error = EHOSTUNREACH, .dns_failure = EVUTIL_EAI_NONAME,
	  .closed = "", .done_at = 8 },

	{ .name = "hostile A mixed with a good one: only the good one",
	  .aaaa = EMPTY(0), .a = ANSWER(3, "4z 4a 4x 4m"),
	  .out = { FAIL("4a", 5, ECONNREFUSED) },
	  .starts = "4a@3", .error = ECONNREFUSED, .closed = "", .done_at = 8 },

	/* --- the overall timeout ------------------------------------------ */

	{ .name = "timeout: every attempt hangs, all closed, ETIMEDOUT",
	  .timeout = 1000,
	  .known = "6a 4a 6b 4b",
	  .starts = "6a@0 4a@250 6b@500 4b@750", .error = ETIMEDOUT,
	  .closed = "6a 4a 6b 4b", .done_at = 1000 },

	{ .name = "timeout: no attempt starts at the deadline",
	  .timeout = 1000,
	  .known = "6a 4a 6b 4b 6c",
	  .starts = "6a@0 4a@250 6b@500 4b@750", .error = ETIMEDOUT,
	  .closed = "6a 4a 6b 4b", .done_at = 1000 },

	{ .name = "timeout: a handshake just before the deadline wins",
	  .timeout = 1000,
	  .known = "6a",
	  .out = { CONNECT("6a", 999) },
	  .starts = "6a@0", .winner = "6a", .closed = "", .done_at = 999 },

	{ .name = "timeout during resolution: ETIMEDOUT, EAI_AGAIN, no attempt",
	  .timeout = 1000,
	  .aaaa = NO_ANSWER, .a = NO_ANSWER,
	  .starts = "", .error = ETIMEDOUT, .dns_failure = EVUTIL_EAI_AGAIN,
	  .closed = "", .done_at = 1000 },

	{ .name = "timeout with A failed and AAAA silent: EAI_AGAIN",
	  .timeout = 1000,
	  .aaaa = NO_ANSWER, .a = DNS_ERROR(10, EVUTIL_EAI_FAIL),
	  .starts = "", .error = ETIMEDOUT, .dns_failure = EVUTIL_EAI_AGAIN,
	  .closed = "", .done_at = 1000 },

	{ .name = "timeout after an address was known: no DNS error",
	  .timeout = 1000,
	  .aaaa = NO_ANSWER, .a = ANSWER(0, "4a"),
	  .starts = "4a@50", .error = ETIMEDOUT, .closed = "4a",
	  .done_at = 1000 },

	{ .name = "timeout waiting for AAAA after IPv4 failed: ETIMEDOUT",
	  .timeout = 1000,
	  .aaaa = NO_ANSWER, .a = ANSWER(0, "4a"),
	  .out = { FAIL("4a", 10, ECONNREFUSED) },
	  .starts = "4a@50", .error = ETIMEDOUT, .closed = "",
	  .done_at = 1000 },

	/* --- resolution delay (RFC 8305 section 3) ------------------------ */

	{ .name = "A first: wait the resolution delay, then IPv4",
	  .aaaa = ANSWER(500, "6a"), .a = ANSWER(0, "4a"),
	  .out = { CONNECT("4a", 10) },
	  .starts = "4a@50", .winner = "4a", .closed = "", .done_at = 60 },

	{ .name = "AAAA within the resolution delay: IPv6 first",
	  .aaaa = ANSWER(20, "6a"), .a = ANSWER(0, "4a"),
	  .out = { CONNECT("4a", 10) },
	  .starts = "6a@20 4a@270", .winner = "4a", .closed = "6a",
	  .done_at = 280 },

	{ .name = "AAAA empty during the wait: IPv4 at once",
	  .aaaa = EMPTY(10), .a = ANSWER(0, "4a"),
	  .out = { CONNECT("4a", 5) },
	  .starts = "4a@10", .winner = "4a", .closed = "", .done_at = 15 },

	{ .name = "AAAA NODATA during the wait: IPv4 at once",
	  .aaaa = DNS_ERROR(10, EVUTIL_EAI_NODATA), .a = ANSWER(0, "4a"),
	  .out = { CONNECT("4a", 5) },
	  .starts = "4a@10", .winner = "4a", .closed = "", .done_at = 15 },

	{ .name = "AAAA failed before A: IPv4 at once",
	  .aaaa = DNS_ERROR(0, EVUTIL_EAI_FAIL), .a = ANSWER(5, "4a"),
	  .out = { CONNECT("4a", 5) },
	  .starts = "4a@5", .winner = "4a", .closed = "", .done_at = 10 },

	{ .name = "resolution delay 0: IPv4 at once",
	  .resolution_delay = MS0,
	  .aaaa = NO_ANSWER, .a = ANSWER(0, "4a"),
	  .out = { CONNECT("4a", 5) },
	  .starts = "4a@0", .winner = "4a", .closed = "", .done_at = 5 },

	{ .name = "resolution delay 200: AAAA at 150 still goes first",
	  .resolution_delay = 200,
	  .aaaa = ANSWER(150, "6a"), .a = ANSWER(0, "4a"),
	  .out = { CONNECT("6a", 5) },
	  .starts = "6a@150", .winner = "6a", .closed = "", .done_at = 155 },

	{ .name = "AAAA first: IPv6 starts without waiting for A",
	  .aaaa = ANSWER(0, "6a 6b"), .a = ANSWER(30, "4a 4b"),
	  .out = { CONNECT("4b", 5) },
	  .starts = "6a@0 4a@250 6b@500 4b@750", .winner = "4b",
	  .closed = "6a 4a 6b", .done_at = 755 },

	{ .name = "A after IPv6 started, family count 2: IPv4 comes next",
	  .family_count = 2,
	  .aaaa = ANSWER(0, "6a 6b 6c"), .a = ANSWER(30, "4a"),
	  .out = { CONNECT("6c", 5) },
	  .starts = "6a@0 4a@250 6b@500 6c@750", .winner = "6c",
	  .closed = "6a 4a 6b", .done_at = 755 },

	{ .name = "both answers in one instant, family count 2",
	  .family_count = 2,
	  .aaaa = ANSWER(0, "6a 6b"), .a = ANSWER(0, "4a 4b"),
	  .out = { CONNECT("4b", 5) },
	  .starts = "6a@0 4a@250 6b@500 4b@750", .winner = "4b",
	  .closed = "6a 4a 6b", .done_at = 755 },

	{ .name = "family count 2 on answers sorted together",
	  .family_count = 2,
	  .aaaa = ANSWER(20, "6a 6b"), .a = ANSWER(0, "4a 4b"),
	  .out = { CONNECT("4b", 5) },
	  .starts = "6a@20 6b@270 4a@520 4b@770", .winner = "4b",
	  .closed = "6a 6b 4a", .done_at = 775 },

	/* --- a late answer joins the race --------------------------------- */

	/* An "overdue" AAAA answer (attempts began while it was out) starts
	   its first address at once, as it would have gone first had it come
	   in time; after that the stagger is as usual. */
	{ .name = "overdue AAAA: its first address starts at once",
	  .aaaa = ANSWER(100, "6a"), .a = ANSWER(0, "4a"),
	  .out = { CONNECT("6a", 5) },
	  .starts = "4a@50 6a@100", .winner = "6a", .closed = "4a",
	  .done_at = 105 },

	{ .name = "overdue AAAA within the minimum gap: at the gap",
	  .aaaa = ANSWER(55, "6a"), .a = ANSWER(0, "4a"),
	  .out = { CONNECT("6a", 5) },
	  .starts = "4a@50 6a@60", .winner = "6a", .closed = "4a",
	  .done_at = 65 },

	{ .name = "overdue AAAA with resolution delay 0",
	  .resolution_delay = MS0,
	  .aaaa = ANSWER(30, "6a"), .a = ANSWER(0, "4a"),
	  .out = { CONNECT("6a", 5) },
	  .starts = "4a@0 6a@30", .winner = "6a", .closed = "4a",
	  .done_at = 35 },

	{ .name = "late empty AAAA: the stagger goes on unchanged",
	  .aaaa = EMPTY(100), .a = ANSWER(0, "4a 4b"),
	  .out = { CONNECT("4b", 5) },
	  .starts = "4a@50 4b@300", .winner = "4b", .closed = "4a",
	  .done_at = 305 },

	{ .name = "late A is not overdue: it waits for the attempt delay",
	  .aaaa = ANSWER(0, "6a"), .a = ANSWER(100, "4a"),
	  .out = { CONNECT("4a", 5) },
	  .starts = "6a@0 4a@250", .winner = "4a", .closed = "6a",
	  .done_at = 255 },

	{ .name = "late AAAA after IPv4 failed: starts when it arrives",
	  .aaaa = ANSWER(100, "6a"), .a = ANSWER(0, "4a"),
	  .out = { FAIL("4a", 10, ECONNREFUSED), CONNECT("6a", 5) },
	  .starts = "4a@50 6a@100", .winner = "6a", .closed = "",
	  .done_at = 105 },

	{ .name = "overdue AAAA interleaves with the IPv4 left",
	  .timeout = 1000,
	  .aaaa = ANSWER(100, "6a 6b"), .a = ANSWER(0, "4a 4b"),
	  .starts = "4a@50 6a@100 4b@350 6b@600", .error = ETIMEDOUT,
	  .closed = "4a 6a 4b 6b", .done_at = 1000 },

	{ .name = "IPv4 failed, AAAA pending: wait for it, then its errno",
	  .aaaa = ANSWER(300, "6a"), .a = ANSWER(0, "4a"),
	  .out = { FAIL("4a", 10, ECONNREFUSED), FAIL("6a", 10, ECONNREFUSED) },
	  .starts = "4a@50 6a@300", .error = ECONNREFUSED, .closed = "",
	  .done_at = 310 },

	{ .name = "IPv4 failed, AAAA empty later: done when it arrives",
	  .aaaa = EMPTY(300), .a = ANSWER(0, "4a"),
	  .out = { FAIL("4a", 10, ECONNREFUSED) },
	  .starts = "4a@50", .error = ECONNREFUSED, .closed = "",
	  .done_at = 300 },

	/* --- resolution fails ---------------------------------------------- */

	{ .name = "NXDOMAIN for both: EHOSTUNREACH, EAI_NONAME",
	  .aaaa = DNS_ERROR(5, EVUTIL_EAI_NONAME),
	  .a = DNS_ERROR(8, EVUTIL_EAI_NONAME),
	  .starts = "", .error = EHOSTUNREACH, .dns_failure = EVUTIL_EAI_NONAME,
	  .closed = "", .done_at = 8 },

	{ .name = "both fail: the A answer's error",
	  .aaaa = DNS_ERROR(5, EVUTIL_EAI_NONAME),
	  .a = DNS_ERROR(8, EVUTIL_EAI_FAIL),
	  .starts = "", .error = EHOSTUNREACH, .dns_failure = EVUTIL_EAI_FAIL,
	  .closed = "", .done_at = 8 },

	{ .name = "A empty, AAAA failed: the AAAA answer's error",
	  .aaaa = DNS_ERROR(8, EVUTIL_EAI_FAIL), .a = EMPTY(5),
	  .starts = "", .error = EHOSTUNREACH, .dns_failure = EVUTIL_EAI_FAIL,
	  .closed = "", .done_at = 8 },

	{ .name = "both empty: EAI_NONAME (EAI_NODATA is not portable)",
	  .aaaa = EMPTY(5), .a = EMPTY(8),
	  .starts = "", .error = EHOSTUNREACH, .dns_failure = EVUTIL_EAI_NONAME,
	  .closed = "", .done_at = 8 },

	{ .name = "IPv4 only query fails: EHOSTUNREACH, its error",
	  .a = DNS_ERROR(5, EVUTIL_EAI_NONAME),
	  .starts = "", .error = EHOSTUNREACH, .dns_failure = EVUTIL_EAI_NONAME,
	  .closed = "", .done_at = 5 },

	{ .name = "IPv6 only query: the second address after a failure",
	  .aaaa = ANSWER(5, "6a 6b"),
	  .out = { FAIL("6a", 20, ECONNREFUSED), CONNECT("6b", 5) },
	  .starts = "6a@5 6b@25", .winner = "6b", .closed = "", .done_at = 30 },

	{ .name = "AAAA NXDOMAIN, IPv4 refused: the errno, no DNS error",
	  .aaaa = DNS_ERROR(0, EVUTIL_EAI_NONAME), .a = ANSWER(5, "4a"),
	  .out = { FAIL("4a", 5, ECONNREFUSED) },
	  .starts = "4a@5", .error = ECONNREFUSED, .closed = "", .done_at = 10 },

	/* --- cancel ---------------------------------------------------------- */

	{ .name = "cancel mid-race: running attempts closed, no DONE",
	  .known = "6a 4a 6b", .cancel_at = 300,
	  .starts = "6a@0 4a@250", .error = ECANCELED, .closed = "6a 4a",
	  .done_at = 300 },

	{ .name = "cancel after a failure: only the running attempt closed",
	  .known = "6a 4a 6b", .cancel_at = 100,
	  .out = { FAIL("6a", 5, ECONNREFUSED) },
	  .starts = "6a@0 4a@10", .error = ECANCELED, .closed = "4a",
	  .done_at = 100 },

	{ .name = "cancel during resolution: nothing starts, even on answers",
	  .aaaa = ANSWER(200, "6a"), .a = NO_ANSWER, .cancel_at = 100,
	  .starts = "", .error = ECANCELED, .closed = "", .done_at = 100 },

	{ .name = "cancel during the resolution delay",
	  .aaaa = NO_ANSWER, .a = ANSWER(0, "4a"), .cancel_at = 20,
	  .starts = "", .error = ECANCELED, .closed = "", .done_at = 20 },

	{ .name = "cancel at the instant of the race's beginning",
	  .known = "6a 4a", .cancel_at = MS0,
	  .starts = "6a@0", .error = ECANCELED, .closed = "6a", .done_at = 0 },

	/* --- history (RFC 8305 section 4): facts the store gave ------------ */

	/* Suspects last, also in a caller's list; an unknown address's
	   delay is the configured one. */
	{ .name = "history: a caller's IPv6 address that hung goes last",
	  .known = "6a 4a", .facts = { HUNG_BEFORE("6a") },
	  .out = { CONNECT("4a", 20) },
	  .starts = "4a@0", .winner = "4a", .closed = "", .done_at = 20,
	  .moved = "6a", .delays = "", .lessons = "4a=worked" },

	{ .name = "history: the failed address last, tried after the delay",
	  .known = "6a 4a", .facts = { FAILED_BEFORE("6a") },
	  .out = { CONNECT("6a", 5) },
	  .starts = "4a@0 6a@250", .winner = "6a", .closed = "4a",
	  .done_at = 255, .moved = "6a", .delays = "",
	  .lessons = "6a=worked 4a=hung" },

	/* The delay after a start: srtt + max(4 * rttvar, srtt / 2). */
	{ .name = "history: the delay after a start follows its RTT",
	  .known = "4a 4b", .facts = { WORKED_RTT("4a", 20, 10) },
	  .out = { CONNECT("4b", 5) },
	  .starts = "4a@0 4b@60", .winner = "4b", .closed = "4a",
	  .done_at = 65, .moved = "", .delays = "4a@60",
	  .lessons = "4b=worked" },

	{ .name = "history: a caller's list is not ordered by RTT",
	  .known = "4a 4b", .facts = { WORKED_RTT("4b", 5, 1) },
	  .out = { CONNECT("4a", 5) },
	  .starts = "4a@0", .winner = "4a", .closed = "", .done_at = 5,
	  .moved = "", .delays = "", .lessons = "4a=worked" },

	{ .name = "history: RTT order within a family, then each one's delay",
	  .aaaa = ANSWER(0, "6a 6b 6c"),
	  .facts = { WORKED_RTT("6b", 40, 5), WORKED_RTT("6c", 80, 10) },
	  .out = { CONNECT("6c", 10) },
	  .starts = "6b@0 6c@60", .winner = "6c", .closed = "6b",
	  .done_at = 70, .moved = "6b 6c", .delays = "6b@60 6c@120",
	  .lessons = "6c=worked" },

	{ .name = "history: IPv6 stays first however fast IPv4 is",
	  .aaaa = ANSWER(20, "6a"), .a = ANSWER(0, "4a"),
	  .facts = { WORKED_RTT("6a", 40, 5), WORKED_RTT("4a", 5, 1) },
	  .out = { CONNECT("4a", 5) },
	  .starts = "6a@20 4a@80", .winner = "4a", .closed = "6a",
	  .done_at = 85, .moved = "", .delays = "6a@60",
	  .lessons = "4a=worked" },

	/* Suspects alone wait for the other family, at most the
	   resolution delay; a suspect tried first delays the next only by
	   the minimum gap. */
	{ .name = "history: a suspect alone waits for the A answer",
	  .aaaa = ANSWER(0, "6a"), .a = ANSWER(30, "4a"),
	  .facts = { HUNG_BEFORE("6a") },
	  .out = { CONNECT("6a", 5) },
	  .starts = "4a@30 6a@280", .winner = "6a", .closed = "4a",
	  .done_at = 285, .moved = "6a", .delays = "",
	  .lessons = "6a=worked 4a=hung" },

	{ .name = "history: a suspect alone, A late: the suspect at the "
		  "resolution delay, IPv4 when it comes",
	  .aaaa = ANSWER(0, "6a"), .a = ANSWER(100, "4a"),
	  .facts = { HUNG_BEFORE("6a") },
	  .out = { CONNECT("4a", 5) },
	  .starts = "6a@50 4a@100", .winner = "4a", .closed = "6a",
	  .done_at = 105, .moved = "", .delays = "6a@10",
	  .lessons = "4a=worked" },

	{ .name = "history: only suspects known and nothing pending: in order, "
		  "the minimum gap apart",
	  .known = "6a 4a", .facts = { HUNG_BEFORE("6a"), HUNG_BEFORE("4a") },
	  .out = { CONNECT("4a", 5) },
	  .starts = "6a@0 4a@10", .winner = "4a", .closed = "6a",
	  .done_at = 15, .moved = "", .delays = "6a@10",
	  .lessons = "4a=worked" },

	/* What a race teaches: the winner's RTT first, then what hung, then
	   what failed; a cancel teaches nothing of what ran. */
	{ .name = "history: lessons: the winner, then hung, then failed",
	  .known = "6a 4a 6b",
	  .out = { FAIL("6a", 5, ECONNREFUSED), CONNECT("6b", 5) },
	  .starts = "6a@0 4a@10 6b@260", .winner = "6b", .closed = "4a",
	  .done_at = 265, .lessons = "6b=worked 4a=hung 6a=failed" },

	{ .name = "history: lessons: closed at the cap after the attempt "
		  "delay, the path failed",
	  .max_in_flight = 1, .known = "6a 4a",
	  .out = { CONNECT("4a", 5) },
	  .starts = "6a@0 4a@250", .winner = "4a", .closed = "6a",
	  .displaced = "6a", .done_at = 255, .lessons = "4a=worked 6a=failed" },

	{ .name = "history: lessons: closed at the cap sooner, the cap's doing",
	  .max_in_flight = 1, .aaaa = ANSWER(100, "6a"), .a = ANSWER(0, "4a"),
	  .out = { CONNECT("6a", 5) },
	  .starts = "4a@50 6a@100", .winner = "6a", .closed = "4a",
	  .displaced = "4a", .done_at = 105, .lessons = "6a=worked" },

	{ .name = "history: lessons: a cancel teaches nothing of what ran",
	  .known = "6a 4a", .facts = { WORKED_RTT("6a", 20, 5) },
	  .cancel_at = 300,
	  .starts = "6a@0 4a@40", .error = ECANCELED, .closed = "6a 4a",
	  .done_at = 300, .moved = "", .delays = "6a@40", .lessons = "" },
};
#define N_ROWS ((int)(sizeof(rows) / sizeof(rows[0])))

/* ----------------------------------------------------------------------- */
/* The simulator. */

#define T0 ((int64_t)7000 * 1000000)	/* the race begins at 7000 s */
#define US(ms) ((int64_t)(ms) * 1000)
#define MAX_EVENTS 64
#define MAX_ATTEMPTS 32

enum ev_kind { EV_DNS, EV_OUTCOME, EV_CANCEL };

struct sim_event {
	int64_t at;
	int seq;
	enum ev_kind kind;
	enum he_fam fam;		/* EV_DNS */
	const struct dns_script *dns;	/* EV_DNS */
	int attempt;			/* EV_OUTCOME */
	const struct outcome *out;	/* EV_OUTCOME */
};

enum sim_attempt_state {
	SA_RUNNING, SA_FAILED, SA_WON, SA_CLOSED,
	SA_DISPLACED	/* closed at the cap to make room */
};

struct sim {
	const struct row *row;
	int ticking;		/* also call he_race_timer_() every 1 ms */
	struct he_race r;
	int64_t now;
	int64_t min_gap;
	int max_in_flight;

	struct sim_event ev[MAX_EVENTS];
	int nev, seq;

	int nstarts;
	int64_t start_at[MAX_ATTEMPTS];
	enum sim_attempt_state st[MAX_ATTEMPTS];
	const struct outcome *out_of[MAX_ATTEMPTS];

	char starts[512], closed[256], displaced[256];
	char moved[256], delays[256];	/* history's notes */
	int history;			/* the row gives facts */
	int expect_start;	/* a CLOSE at the cap wants a START next */
	int ndone, nclosed, winner, late_connects;
	int cancelling, ended, cancelled;

	/* the fault walk (sim_run_walk): allocations fail from fault_n on */
	int walk;
	long fault_n;
	int fault_persistent;
	int faulted;		/* a fault fired inside a call of the core */
	int64_t fault_at;	/* ...during the event at this time */
	struct evutil_addrinfo *dns_list[HE_NFAM];	/* built before arming */
	int64_t ended_at;
};

static void
sim_fail(const struct sim *s, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	char walk[64] = "";

	if (s->walk)
		snprintf(walk, sizeof(walk), " (allocation %ld %s)",
		    s->fault_n, s->fault_persistent ? "and on failing" :
		    "failing");
	ck_abort_msg("row \"%s\"%s%s at %lld us after begin: %s",
	    s->row->name, s->ticking ? " (timer ticking every ms)" : "", walk,
	    (long long)(s->now - T0), buf);
}

#define SIM_CHECK(s, cond, ...) \
	do { if (!(cond)) sim_fail((s), __VA_ARGS__); } while (0)

static int
ms_setting(int v, int def)
{
	if (v == MS0)
		return 0;
	return v ? v : def;
}

static void
fmt_ms(char *buf, size_t len, int64_t us)
{
	if (us % 1000 == 0)
		snprintf(buf, len, "%lld", (long long)(us / 1000));
	else
		snprintf(buf, len, "%lld.%03lld", (long long)(us / 1000),
		    (long long)(us % 1000));
}

static void
append_word(char *buf, size_t len, const char *word)
{
	size_t n = strlen(buf);

	snprintf(buf + n, len - n, "%s%s", n ? " " : "", word);
}

static void
sim_schedule(struct sim *s, struct sim_event *e)
{
	SIM_CHECK(s, s->nev < MAX_EVENTS, "too many events");
	e->seq = s->seq++;
	s->ev[s->nev++] = *e;
}

/** The next event due (earliest time, then earliest scheduled), or -1. */
static int
sim_next_event(const struct sim *s)
{
	int i, best = -1;

	for (i = 0; i < s->nev; i++)
		if (best < 0 || s->ev[i].at < s->ev[best].at ||
		    (s->ev[i].at == s->ev[best].at &&
		     s->ev[i].seq < s->ev[best].seq))
			best = i;
	return best;
}

static const struct outcome *
outcome_of(const struct row *row, const char *label)
{
	static const struct outcome hangs = { NULL, HANGS, 0, 0 };
	int i;

	for (i = 0; i < MAX_OUTCOMES && row->out[i].label; i++)
		if (!strcmp(row->out[i].label, label))
			return &row->out[i];
	return &hangs;
}

/** The row's facts on the entries of list: what the history store would
    have given them as they joined (he_request.c does it from the store). */
static void
give_facts(const struct row *row, struct evutil_addrinfo *list)
{
	int i;

	for (; list; list = list->ai_next)
		for (i = 0; i < MAX_FACTS && row->facts[i].label; i++) {
			struct he_hist_info *f = &HE_AI_META(list)->facts;

			if (strcmp(row->facts[i].label, label_of_ai(list)))
				continue;
			memset(f, 0, sizeof(*f));
			f->state = (uint8_t)row->facts[i].state;
			f->srtt = (uint32_t)US(row->facts[i].srtt);
			f->rttvar = (uint32_t)US(row->facts[i].rttvar);
			if (f->state == HE_HIST_FAILED)
				f->error = ECONNREFUSED;
		}
}

static int
sim_running(const struct sim *s)
{
	int i, n = 0;

	for (i = 0; i < s->nstarts; i++)
		n += s->st[i] == SA_RUNNING;
	return n;
}

static void sim_drain(struct sim *s);

static void
sim_on_start(struct sim *s, int i)
{
	const struct he_attempt *at;
	const struct outcome *o;
	const char *label;
	char word[64], t[32];

	SIM_CHECK(s, i == s->nstarts, "START %d, expected attempt %d", i,
	    s->nstarts);
	SIM_CHECK(s, i < s->r.nattempts && i < MAX_ATTEMPTS,
	    "START %d out of range (nattempts %d)", i, s->r.nattempts);
	at = &s->r.attempts[i];
	label = label_of_ai(at->ai);
	SIM_CHECK(s, at->state == HE_ATTEMPT_RUNNING,
	    "START %d (%s) in state %d", i, label, (int)at->state);
	SIM_CHECK(s, at->started == s->now, "START %d (%s): started %lld",
	    i, label, (long long)(at->started - T0));
	SIM_CHECK(s, sim_running(s) < s->max_in_flight,
	    "START %d (%s) with %d attempts already running (max %d)", i,
	    label, sim_running(s), s->max_in_flight);
	if (i > 0)
		SIM_CHECK(s, s->now - s->start_at[i - 1] >= s->min_gap,
		    "START %d (%s) only %lld us after the previous start", i,
		    label, (long long)(s->now - s->start_at[i - 1]));

	fmt_ms(t, sizeof(t), s->now - T0);
	snprintf(word, sizeof(word), "%s@%s", label, t);
	append_word(s->starts, sizeof(s->starts), word);
	s->start_at[i] = s->now;
	s->st[i] = SA_RUNNING;
	o = outcome_of(s->row, label);
	s->out_of[i] = o;
	s->nstarts++;

	switch (o->kind) {
	case HANGS:
		break;
	case FAILS_AT_ONCE:
		/* socket()/bind()/connect() failed inside the START: the glue
		   reports it before it takes the next action. */
		s->st[i] = SA_FAILED;
		he_race_attempt_failed_(&s->r, s->now, i, o->err);
		break;
	case CONNECTS:
	case FAILS: {
		struct sim_event e;
		memset(&e, 0, sizeof(e));
		e.at = s->now + US(o->after);
		e.kind = EV_OUTCOME;
		e.attempt = i;
		e.out = o;
		sim_schedule(s, &e);
		break;
	}
	}
}

/** The walk: remember the event in which an injected fault first fired. */
static void
sim_note_fault(struct sim *s)
{
	if (s->walk && !s->faulted && he_fault_fired()) {
		s->faulted = 1;
		s->fault_at = s->now;
	}
}

/** The lowest attempt still running, or -1. */
static int
sim_oldest_running(const struct sim *s)
{
	int i;

	for (i = 0; i < s->nstarts; i++)
		if (s->st[i] == SA_RUNNING)
			return i;
	return -1;
}

/** A CLOSE while the race goes on: only at the cap, only the oldest, and
    only to make room for a START that comes next. */
static void
sim_on_displace(struct sim *s, int i)
{
	const struct he_attempt *at = &s->r.attempts[i];

	SIM_CHECK(s, at->error == ETIMEDOUT && at->ended == s->now,
	    "attempt %d closed at the cap with error %d, ended %lld", i,
	    at->error, (long long)(at->ended - T0));
	SIM_CHECK(s, sim_running(s) == s->max_in_flight,
	    "attempt %d closed at the cap with %d of %d running", i,
	    sim_running(s), s->max_in_flight);
	SIM_CHECK(s, i == sim_oldest_running(s),
	    "attempt %d closed at the cap, but %d is older", i,
	    sim_oldest_running(s));
	s->st[i] = SA_DISPLACED;
	append_word(s->displaced, sizeof(s->displaced), label_of_ai(at->ai));
	s->expect_start = 1;
}

/** A history note for the trace (HE_ACT_HISTORY): only when the row gives
    facts; a move of an address of the race, or the delay after the
    attempt started last (its note follows its START). */
static void
sim_on_note(struct sim *s, int i)
{
	const struct he_hist_note *n;
	char word[64];

	SIM_CHECK(s, s->history, "a history note (%d) without history", i);
	SIM_CHECK(s, i >= 0 && i < s->r.notes.n, "history note %d of %d", i,
	    s->r.notes.n);
	n = &s->r.notes.v[i];
	if (n->kind == HE_NOTE_MOVED) {
		SIM_CHECK(s, n->placed, "a note of a move not placed");
		append_word(s->moved, sizeof(s->moved),
		    label_of_sa((const struct sockaddr *)&n->addr));
		return;
	}
	SIM_CHECK(s, n->kind == HE_NOTE_DELAY, "note kind %d", (int)n->kind);
	SIM_CHECK(s, s->nstarts > 0 && he_sockaddr_equal_(
	    (const struct sockaddr *)&n->addr,
	    s->r.attempts[s->nstarts - 1].ai->ai_addr) &&
	    n->delay == s->r.attempts[s->nstarts - 1].delay,
	    "a delay note that is not the last start's");
	snprintf(word, sizeof(word), "%s@%lld",
	    label_of_sa((const struct sockaddr *)&n->addr),
	    (long long)(n->delay / 1000));
	append_word(s->delays, sizeof(s->delays), word);
}

/** Take every queued action, as the glue does after each call. */
static void
sim_drain(struct sim *s)
{
	struct he_action a;
	int closes = 0, done = 0;

	sim_note_fault(s);
	while (he_race_next_action_(&s->r, &a)) {
		SIM_CHECK(s, !s->expect_start || a.kind == HE_ACT_START,
		    "action %d after a CLOSE at the cap, not a START",
		    (int)a.kind);
		SIM_CHECK(s, s->ndone == 0, "action %d after DONE", (int)a.kind);
		SIM_CHECK(s, !s->ended || s->cancelling,
		    "action %d after the race was cancelled", (int)a.kind);
		switch (a.kind) {
		case HE_ACT_START:
			SIM_CHECK(s, !s->cancelling, "START during cancel");
			s->expect_start = 0;
			sim_on_start(s, a.attempt);
			break;
		case HE_ACT_CLOSE:
			SIM_CHECK(s, a.attempt >= 0 && a.attempt < s->nstarts,
			    "CLOSE %d: never started", a.attempt);
			SIM_CHECK(s, s->st[a.attempt] == SA_RUNNING,
			    "CLOSE %d: not running (state %d)", a.attempt,
			    (int)s->st[a.attempt]);
			append_word(s->closed, sizeof(s->closed),
			    label_of_ai(s->r.attempts[a.attempt].ai));
			s->nclosed++;
			if (!s->r.done && s->r.attempts[a.attempt].state ==
			    HE_ATTEMPT_FAILED) {
				sim_on_displace(s, a.attempt);
				break;
			}
			s->st[a.attempt] = SA_CLOSED;
			closes++;
			break;
		case HE_ACT_HISTORY:
			sim_on_note(s, a.attempt);
			break;
		case HE_ACT_DONE:
			SIM_CHECK(s, !s->cancelling, "DONE during cancel");
			SIM_CHECK(s, s->r.done, "DONE but r->done is 0");
			s->ndone++;
			s->ended = 1;
			s->ended_at = s->now;
			done++;
			break;
		default:
			sim_fail(s, "unknown action kind %d", (int)a.kind);
		}
		sim_note_fault(s);
	}
	SIM_CHECK(s, !s->expect_start, "a CLOSE at the cap without a START");
	SIM_CHECK(s, closes == 0 || done || s->cancelling,
	    "%d attempt(s) closed while the race goes on", closes);
	SIM_CHECK(s, !(done || s->cancelling) || sim_running(s) == 0,
	    "%d attempt(s) still running after the race ended",
	    sim_running(s));
}

static void
sim_deliver(struct sim *s, const struct sim_event *e)
{
	int won;

	switch (e->kind) {
	case EV_DNS:
		he_race_dns_answer_(&s->r, s->now, e->fam,
		    s->dns_list[e->fam], e->dns->eai);
		s->dns_list[e->fam] = NULL;
		break;
	case EV_CANCEL:
		if (s->walk && s->ended)	/* ended by a fault first */
			return;
		SIM_CHECK(s, !s->ended, "the race ended before the cancel");
		s->cancelled = 1;
		s->cancelling = 1;
		he_race_cancel_(&s->r, s->now);
		sim_drain(s);
		s->cancelling = 0;
		s->ended = 1;
		s->ended_at = s->now;
		return;
	case EV_OUTCOME:
		if (e->out->kind == FAILS) {
			if (s->st[e->attempt] == SA_RUNNING)
				s->st[e->attempt] = SA_FAILED;
			he_race_attempt_failed_(&s->r, s->now, e->attempt,
			    e->out->err);
			break;
		}
		won = he_race_attempt_connected_(&s->r, s->now, e->attempt);
		if (won) {
			SIM_CHECK(s, !s->ended,
			    "attempt %d won after the race ended", e->attempt);
			SIM_CHECK(s, s->st[e->attempt] == SA_RUNNING,
			    "attempt %d won but it was closed", e->attempt);
			SIM_CHECK(s, s->winner < 0, "a second winner: %d after %d",
			    e->attempt, s->winner);
			s->winner = e->attempt;
			s->st[e->attempt] = SA_WON;
		} else {
			SIM_CHECK(s, s->ended || s->st[e->attempt] != SA_RUNNING,
			    "running attempt %d connected but did not win",
			    e->attempt);
			s->late_connects++;
		}
		break;
	}
	sim_drain(s);
}

/* The walk's sort: evhappy's own (so its allocation can fail), with no
 * source address known (so it keeps the order), then the table's. */
static int
no_source(const struct sockaddr *dst, ev_socklen_t dstlen,
    struct sockaddr_storage *src, void *arg)
{
	return ENETUNREACH;
}

static int
sort_allocating(struct evutil_addrinfo **list)
{
	if (he_addrinfo_sort_with_(list, no_source, NULL) != 0)
		return ENOMEM;
	return he_drive_sort_v6_first(list);
}

/** Play a row; with fault_n > 0 (the fault walk) every allocation from the
    fault_n-th on fails (persistent), or only that one. */
static void
sim_run_faulty(struct sim *s, const struct row *row, int ticking,
    long fault_n, int persistent)
{
	struct he_race_config cfg;
	struct evutil_addrinfo *known;
	struct sim_event e;
	int iter, idle_timers = 0;

	memset(s, 0, sizeof(*s));
	s->row = row;
	s->ticking = ticking;
	s->winner = -1;
	s->walk = fault_n > 0;
	s->fault_n = fault_n;
	s->fault_persistent = persistent;

	memset(&cfg, 0, sizeof(cfg));
	cfg.attempt_delay = US(ms_setting(row->attempt_delay, DEF_ATTEMPT_DELAY));
	cfg.resolution_delay =
	    US(ms_setting(row->resolution_delay, DEF_RESOLUTION_DELAY));
	cfg.min_gap = US(MIN_GAP);
	cfg.timeout = US(ms_setting(row->timeout, DEF_TIMEOUT));
	cfg.first_family_count = ms_setting(row->family_count, 1);
	cfg.max_in_flight =
	    ms_setting(row->max_in_flight, EVHAPPY_DEFAULT_MAX_IN_FLIGHT);
	/* Always set: a caller's list must not be sorted with it anyway. */
	cfg.sort = he_drive_sort_v6_first;
	s->history = cfg.history = row->facts[0].label != NULL;
	s->min_gap = cfg.min_gap;
	s->max_in_flight = cfg.max_in_flight;
	if (s->walk)
		cfg.sort = sort_allocating;

	/* Every list is made before a fault is armed: the walk fails only
	   the core's allocations. */
	if (row->aaaa.kind == DNS_ANSWERS && !row->aaaa.eai)
		s->dns_list[HE_FAM_V6] = make_list(row->aaaa.addrs);
	if (row->a.kind == DNS_ANSWERS && !row->a.eai)
		s->dns_list[HE_FAM_V4] = make_list(row->a.addrs);
	known = row->known ? make_list(row->known) : NULL;
	give_facts(row, known);
	give_facts(row, s->dns_list[HE_FAM_V6]);
	give_facts(row, s->dns_list[HE_FAM_V4]);
	he_race_init_(&s->r, &cfg);
	if (s->walk)
		he_fault_arm(HE_FAULT_ALLOC, fault_n, persistent);
	if (row->known)
		he_race_add_known_(&s->r, known);

	memset(&e, 0, sizeof(e));
	e.kind = EV_DNS;
	if (row->aaaa.kind != DNS_NOT_ASKED)
		he_race_expect_dns_(&s->r, HE_FAM_V6);
	if (row->a.kind != DNS_NOT_ASKED)
		he_race_expect_dns_(&s->r, HE_FAM_V4);
	if (row->aaaa.kind == DNS_ANSWERS) {
		e.at = T0 + US(row->aaaa.at);
		e.fam = HE_FAM_V6;
		e.dns = &row->aaaa;
		sim_schedule(s, &e);
	}
	if (row->a.kind == DNS_ANSWERS) {
		e.at = T0 + US(row->a.at);
		e.fam = HE_FAM_V4;
		e.dns = &row->a;
		sim_schedule(s, &e);
	}
	if (row->cancel_at) {
		memset(&e, 0, sizeof(e));
		e.kind = EV_CANCEL;
		e.at = T0 + US(ms_setting(row->cancel_at, 0));
		sim_schedule(s, &e);
	}

	s->now = T0;
	he_race_begin_(&s->r, s->now);
	sim_drain(s);

	for (iter = 0;; iter++) {
		int64_t wake = he_race_next_wakeup_(&s->r);
		int64_t tick = HE_NEVER;
		int i = sim_next_event(s);

		SIM_CHECK(s, iter < 100000, "the simulation does not settle");
		if (!s->ended)
			SIM_CHECK(s, wake > s->now, "next wakeup %lld is not "
			    "after now", (long long)(wake - T0));
		if (s->ended)
			SIM_CHECK(s, wake == HE_NEVER,
			    "next wakeup %lld after the race ended",
			    (long long)(wake - T0));
		if (i < 0 && wake == HE_NEVER)
			break;
		if (s->ticking && !s->ended)
			tick = s->now - (s->now - T0) % US(1) + US(1);
		if (tick < wake && (i < 0 || tick < s->ev[i].at)) {
			/* An early timer: allowed, and changes nothing. */
			s->now = tick;
			he_race_timer_(&s->r, s->now);
			sim_drain(s);
			continue;
		}
		if (i >= 0 && (wake == HE_NEVER || s->ev[i].at <= wake)) {
			e = s->ev[i];
			s->ev[i] = s->ev[--s->nev];
			if (e.at > s->now)
				s->now = e.at;
			sim_deliver(s, &e);
			idle_timers = 0;
		} else {
			int before = s->nstarts + s->nclosed + s->ndone;
			if (wake > s->now)
				s->now = wake;
			he_race_timer_(&s->r, s->now);
			sim_drain(s);
			if (s->nstarts + s->nclosed + s->ndone == before &&
			    he_race_next_wakeup_(&s->r) <= s->now)
				idle_timers++;
			else
				idle_timers = 0;
			SIM_CHECK(s, idle_timers < 2,
			    "the core asks to be woken at %lld again and "
			    "does nothing", (long long)(wake - T0));
		}
	}

	SIM_CHECK(s, s->ended, "the race never ended (%d started)",
	    s->nstarts);
	/* A late timer changes nothing either. */
	s->now += US(60000);
	he_race_timer_(&s->r, s->now);
	sim_drain(s);
	s->now = s->ended_at;
	he_fault_disarm_all();
	evhappy_addrinfo_free(s->dns_list[HE_FAM_V6]);
	evhappy_addrinfo_free(s->dns_list[HE_FAM_V4]);
	s->dns_list[HE_FAM_V6] = s->dns_list[HE_FAM_V4] = NULL;
}

static void
sim_run(struct sim *s, const struct row *row, int ticking)
{
	sim_run_faulty(s, row, ticking, 0, 0);
}

/** What history did and what the race taught: the notes the row names,
    the lessons by their rules (every row) and as the row names them. */
static void
sim_check_history(struct sim *s)
{
	static const char *const verdicts[] = {
		"unknown", "worked", "failed", "hung"
	};
	const struct row *row = s->row;
	struct he_lesson ls[HE_LESSONS_MAX];
	const char *bad = he_drive_check_lessons(&s->r);
	char got[256] = "", word[64];
	int i, n;

	SIM_CHECK(s, !strcmp(s->moved, row->moved ? row->moved : ""),
	    "history moved \"%s\", expected \"%s\"", s->moved,
	    row->moved ? row->moved : "");
	SIM_CHECK(s, !strcmp(s->delays, row->delays ? row->delays : ""),
	    "delays from history \"%s\", expected \"%s\"", s->delays,
	    row->delays ? row->delays : "");
	SIM_CHECK(s, !bad, "lessons: %s", bad);
	if (!row->lessons)
		return;
	n = he_race_lessons_(&s->r, ls, HE_LESSONS_MAX);
	for (i = 0; i < n; i++) {
		snprintf(word, sizeof(word), "%s=%s", label_of_sa(ls[i].sa),
		    verdicts[ls[i].verdict & 3]);
		append_word(got, sizeof(got), word);
	}
	SIM_CHECK(s, !strcmp(got, row->lessons), "lessons \"%s\", expected "
	    "\"%s\"", got, row->lessons);
}

static void
sim_check_row(struct sim *s)
{
	const struct row *row = s->row;
	const char *want_starts = row->starts ? row->starts : "";
	const char *want_closed = row->closed ? row->closed : "";
	const char *want_displaced = row->displaced ? row->displaced : "";
	const char *winner;
	int i;

	SIM_CHECK(s, !strcmp(s->starts, want_starts),
	    "starts \"%s\", expected \"%s\"", s->starts, want_starts);
	winner = s->r.winner >= 0 && s->r.winner < s->r.nattempts ?
	    label_of_ai(s->r.attempts[s->r.winner].ai) : NULL;
	SIM_CHECK(s, (!winner && !row->winner) ||
	    (winner && row->winner && !strcmp(winner, row->winner)),
	    "winner %s, expected %s", winner ? winner : "none",
	    row->winner ? row->winner : "none");
	SIM_CHECK(s, s->r.winner == s->winner,
	    "r->winner %d, but attempt %d was told it won", s->r.winner,
	    s->winner);
	SIM_CHECK(s, s->r.error == row->error, "error %d (%s), expected %d (%s)",
	    s->r.error, strerror(s->r.error), row->error, strerror(row->error));
	SIM_CHECK(s, s->r.dns_failure == row->dns_failure,
	    "dns_failure %d (%s), expected %d (%s)", s->r.dns_failure,
	    evutil_gai_strerror(s->r.dns_failure), row->dns_failure,
	    evutil_gai_strerror(row->dns_failure));
	SIM_CHECK(s, !strcmp(s->closed, want_closed),
	    "closed \"%s\", expected \"%s\"", s->closed, want_closed);
	SIM_CHECK(s, !strcmp(s->displaced, want_displaced),
	    "closed at the cap \"%s\", expected \"%s\"", s->displaced,
	    want_displaced);
	SIM_CHECK(s, s->ndone == (row->cancel_at ? 0 : 1),
	    "%d DONE actions", s->ndone);
	SIM_CHECK(s, s->ended_at == T0 + US(ms_setting(row->done_at, 0)),
	    "ended at %lld us, expected %d ms", (long long)(s->ended_at - T0),
	    row->done_at);
	SIM_CHECK(s, s->late_connects == row->late_connects,
	    "%d late handshakes, expected %d", s->late_connects,
	    row->late_connects);
	SIM_CHECK(s, s->r.done, "r->done is 0 at the end");
	SIM_CHECK(s, !s->r.oom, "r->oom is set");
	SIM_CHECK(s, s->r.nattempts == s->nstarts,
	    "%d attempts, %d STARTs", s->r.nattempts, s->nstarts);
	sim_check_history(s);

	/* Each attempt's record agrees with what happened to it. */
	for (i = 0; i < s->nstarts; i++) {
		const struct he_attempt *at = &s->r.attempts[i];
		const char *label = label_of_ai(at->ai);
		const struct outcome *o = s->out_of[i];

		SIM_CHECK(s, at->started == s->start_at[i],
		    "attempt %d (%s): started %lld", i, label,
		    (long long)(at->started - T0));
		switch (s->st[i]) {
		case SA_RUNNING:
			sim_fail(s, "attempt %d (%s) still running at the end",
			    i, label);
			break;
		case SA_FAILED:
			SIM_CHECK(s, at->state == HE_ATTEMPT_FAILED &&
			    at->error == o->err,
			    "attempt %d (%s): state %d error %d, expected "
			    "FAILED %d", i, label, (int)at->state, at->error,
			    o->err);
			SIM_CHECK(s, at->ended == s->start_at[i] + US(o->after),
			    "attempt %d (%s) ended at %lld", i, label,
			    (long long)(at->ended - T0));
			break;
		case SA_WON:
			SIM_CHECK(s, at->state == HE_ATTEMPT_WON &&
			    at->error == 0, "attempt %d (%s): state %d error "
			    "%d, expected WON", i, label, (int)at->state,
			    at->error);
			break;
		case SA_DISPLACED:
			SIM_CHECK(s, at->state == HE_ATTEMPT_FAILED &&
			    at->error == ETIMEDOUT, "attempt %d (%s): state %d "
			    "error %d, expected FAILED ETIMEDOUT (at the cap)",
			    i, label, (int)at->state, at->error);
			break;
		case SA_CLOSED:
			SIM_CHECK(s, at->state == HE_ATTEMPT_CANCELLED &&
			    at->error == (s->r.error == ETIMEDOUT ?
			    ETIMEDOUT : ECANCELED),
			    "attempt %d (%s): state %d error %d, expected "
			    "CANCELLED", i, label, (int)at->state, at->error);
			break;
		}
	}
}

/* Row i run and checked; ticking: the timer also fires every
   millisecond. */
static void
table_row(int i, int ticking)
{
	struct sim s;

	sim_run(&s, &rows[i], ticking);
	sim_check_row(&s);
	he_race_clear_(&s.r);
}

START_TEST(test_table)
{
	table_row(_i, 0);
}
END_TEST

/* The same rows with the timer also firing every millisecond: a timer
   that fires when nothing is due must change nothing. */
START_TEST(test_table_ticking)
{
	table_row(_i, 1);
}
END_TEST

/** History is advice: when one of its own allocations fails (the scratch
    arrays that reorder a list, a note for the trace) the order stays as it
    was or the note is left out, and the race goes on; a failure of the
    race's own memory later still ends it with ENOMEM.  Whatever came of
    it: one end (DONE, or the row's cancel), nothing left running, and
    the lessons by their rules. */
static void
sim_check_advice_lost(struct sim *s)
{
	const char *bad = he_drive_check_lessons(&s->r);
	int i;

	SIM_CHECK(s, s->ended && s->r.done, "the race never ended");
	SIM_CHECK(s, s->ndone == (s->cancelled ? 0 : 1), "%d DONE actions",
	    s->ndone);
	SIM_CHECK(s, s->r.error != ENOMEM || s->ended_at >= s->fault_at,
	    "ENOMEM at %lld us, before the allocation failed",
	    (long long)(s->ended_at - T0));
	SIM_CHECK(s, s->r.nattempts == s->nstarts,
	    "%d attempts, %d STARTs", s->r.nattempts, s->nstarts);
	for (i = 0; i < s->nstarts; i++)
		SIM_CHECK(s, s->st[i] != SA_RUNNING,
		    "attempt %d still running at the end", i);
	SIM_CHECK(s, !bad, "lessons: %s", bad);
}

/** What holds under any allocation failure; with none, the row itself. */
static void
sim_check_walk(struct sim *s)
{
	int i;

	if (!s->faulted) {
		sim_check_row(s);
		return;
	}
	if (s->history && (s->r.error != ENOMEM || s->ended_at != s->fault_at)) {
		sim_check_advice_lost(s);
		return;
	}
	/* The core allocates nothing once the race is over. */
	SIM_CHECK(s, !s->cancelled, "an allocation failed after the cancel");
	SIM_CHECK(s, s->ndone == 1, "%d DONE actions", s->ndone);
	SIM_CHECK(s, s->r.error == ENOMEM && s->r.winner == -1,
	    "error %d winner %d, expected ENOMEM and none", s->r.error,
	    s->r.winner);
	SIM_CHECK(s, s->ended_at == s->fault_at,
	    "ended at %lld us, but the allocation failed at %lld us",
	    (long long)(s->ended_at - T0), (long long)(s->fault_at - T0));
	SIM_CHECK(s, s->r.nattempts == s->nstarts,
	    "%d attempts, %d STARTs", s->r.nattempts, s->nstarts);
	for (i = 0; i < s->nstarts; i++) {
		SIM_CHECK(s, s->st[i] != SA_RUNNING,
		    "attempt %d still running at the end", i);
		if (s->st[i] == SA_CLOSED)
			SIM_CHECK(s, s->r.attempts[i].state ==
			    HE_ATTEMPT_CANCELLED &&
			    s->r.attempts[i].error == ENOMEM,
			    "attempt %d: state %d error %d, expected "
			    "CANCELLED ENOMEM", i,
			    (int)s->r.attempts[i].state,
			    s->r.attempts[i].error);
	}
}

/* The fault walk over the table (issue 8): every row again, failing the
   nth allocation (n = 1, 2, ... until none fails), once only that one and
   once every one from it on.  Whatever fails: exactly one DONE (or the
   row's cancel), nothing after it, every started attempt ends exactly once,
   and the failure ends the race with ENOMEM in the very event it happened
   in, not at a later timer; when nothing failed, the row's exact outcome.
   Leaks are LeakSanitizer's (the ASan build) and valgrind's to see. */
START_TEST(test_table_alloc_walk)
{
	struct sim s;
	long n;
	int persistent;

	for (persistent = 0; persistent < 2; persistent++) {
		for (n = 1;; n++) {
			ck_assert_msg(n < 1000, "row \"%s\": no end to the "
			    "allocations", rows[_i].name);
			sim_run_faulty(&s, &rows[_i], 0, n, persistent);
			sim_check_walk(&s);
			he_race_clear_(&s.r);
			if (!s.faulted)
				break;
		}
	}
}
END_TEST

/* ----------------------------------------------------------------------- */
/* Hand-driven checks of single calls. */

/* A race over a caller's list (max attempts at once, timeout_ms), begun
   at T0: its first start made. */
static void
begin_known(struct he_race *r, int max, int timeout_ms, const char *list)
{
	he_drive_init(r, max, timeout_ms, 0);
	he_race_add_known_(r, make_list(list));
	he_race_begin_(r, T0);
	he_test_expect_action(r, HE_ACT_START, 0);
}

/* The race's end: the attempt that won (-1: none) and the race's errno. */
static void
outcome(const struct he_race *r, int winner, int error)
{
	ck_assert_int_eq(r->winner, winner);
	ck_assert_int_eq(r->error, error);
}

/* The next action is kind on attempt (-1: any), and the only one. */
static void
only(struct he_race *r, int kind, int attempt)
{
	he_test_expect_action(r, kind, attempt);
	he_test_expect_none(r);
}

START_TEST(test_wakeup_known_list)
{
	struct he_race r;

	begin_known(&r, 8, 5000, "6a 4a");
	he_test_expect_none(&r);
	/* Waiting for the attempt delay. */
	ck_assert_int_eq(he_race_next_wakeup_(&r), T0 + US(250));
	/* A timer that fires early does nothing. */
	he_race_timer_(&r, T0 + US(250) - 1);
	he_test_expect_none(&r);
	ck_assert_int_eq(he_race_next_wakeup_(&r), T0 + US(250));
	/* A failure at 3 ms: the next start is due at the minimum gap. */
	he_race_attempt_failed_(&r, T0 + US(3), 0, ECONNREFUSED);
	he_test_expect_none(&r);
	ck_assert_int_eq(he_race_next_wakeup_(&r), T0 + US(10));
	he_race_timer_(&r, T0 + US(10));
	only(&r, HE_ACT_START, 1);
	ck_assert_str_eq(label_of_ai(r.attempts[1].ai), "4a");
	/* Nothing left to start: only the deadline. */
	ck_assert_int_eq(he_race_next_wakeup_(&r), T0 + US(5000));
	ck_assert_int_eq(he_race_attempt_connected_(&r, T0 + US(20), 1), 1);
	only(&r, HE_ACT_DONE, -1);
	ck_assert_int_eq(he_race_next_wakeup_(&r), HE_NEVER);
	outcome(&r, 1, 0);
	he_race_clear_(&r);
}
END_TEST

START_TEST(test_wakeup_resolution_delay)
{
	struct he_race r;

	he_drive_init(&r, 8, 30000, 0);
	he_race_expect_dns_(&r, HE_FAM_V6);
	he_race_expect_dns_(&r, HE_FAM_V4);
	he_race_begin_(&r, T0);
	he_test_expect_none(&r);
	/* Nothing known yet: only the deadline. */
	ck_assert_int_eq(he_race_next_wakeup_(&r), T0 + US(30000));
	/* A first: the resolution delay runs from its arrival. */
	he_race_dns_answer_(&r, T0 + US(5), HE_FAM_V4, make_list("4a 4b"), 0);
	he_test_expect_none(&r);
	ck_assert_int_eq(he_race_next_wakeup_(&r), T0 + US(55));
	/* AAAA empty at 20: IPv4 at once, the next at the attempt delay. */
	he_race_dns_answer_(&r, T0 + US(20), HE_FAM_V6, NULL, 0);
	only(&r, HE_ACT_START, 0);
	ck_assert_str_eq(label_of_ai(r.attempts[0].ai), "4a");
	ck_assert_int_eq(he_race_next_wakeup_(&r), T0 + US(270));
	he_race_cancel_(&r, T0 + US(30));
	only(&r, HE_ACT_CLOSE, 0);
	ck_assert_int_eq(he_race_next_wakeup_(&r), HE_NEVER);
	ck_assert_int_eq(r.error, ECANCELED);
	he_race_clear_(&r);
}
END_TEST

START_TEST(test_wakeup_capped)
{
	struct he_race r;

	begin_known(&r, 1, 5000, "6a 4a 6b");
	he_test_expect_none(&r);
	/* In flight == max, but a start is still due at the attempt delay. */
	ck_assert_int_eq(he_race_next_wakeup_(&r), T0 + US(250));
	he_race_timer_(&r, T0 + US(249));
	he_test_expect_none(&r);
	/* Then the oldest makes room: closed (ETIMEDOUT), the next starts. */
	he_race_timer_(&r, T0 + US(250));
	he_test_expect_action(&r, HE_ACT_CLOSE, 0);
	only(&r, HE_ACT_START, 1);
	ck_assert_int_eq(r.attempts[0].state, HE_ATTEMPT_FAILED);
	ck_assert_int_eq(r.attempts[0].error, ETIMEDOUT);
	ck_assert_int_eq(r.attempts[0].ended, T0 + US(250));
	ck_assert_int_eq(r.in_flight, 1);
	/* A report about the closed attempt changes nothing. */
	ck_assert_int_eq(he_race_attempt_connected_(&r, T0 + US(260), 0), 0);
	he_race_attempt_failed_(&r, T0 + US(260), 0, ECONNREFUSED);
	he_test_expect_none(&r);
	/* The failure frees the slot: the next starts at once (gap passed). */
	he_race_attempt_failed_(&r, T0 + US(300), 1, ECONNREFUSED);
	only(&r, HE_ACT_START, 2);
	/* Nothing left: the deadline ends it. */
	ck_assert_int_eq(he_race_next_wakeup_(&r), T0 + US(5000));
	he_race_timer_(&r, T0 + US(5000));
	he_test_expect_action(&r, HE_ACT_CLOSE, 2);
	only(&r, HE_ACT_DONE, -1);
	outcome(&r, -1, ETIMEDOUT);
	ck_assert_int_eq(he_race_next_wakeup_(&r), HE_NEVER);
	he_race_clear_(&r);
}
END_TEST

/* Four handshakes in one instant, reported in an order unlike the starts:
   the first reported wins, the others are closed and their reports
   return 0. */
START_TEST(test_same_instant_any_order)
{
	struct he_race r;
	int i;

	begin_known(&r, 8, 30000, "6a 6b 4a 4b");
	for (i = 1; i < 4; i++) {
		ck_assert_int_eq(he_race_next_wakeup_(&r), T0 + US(250 * i));
		he_race_timer_(&r, T0 + US(250 * i));
		only(&r, HE_ACT_START, i);
	}
	ck_assert_int_eq(he_race_attempt_connected_(&r, T0 + US(800), 2), 1);
	he_test_expect_action(&r, HE_ACT_CLOSE, 0);
	he_test_expect_action(&r, HE_ACT_CLOSE, 1);
	he_test_expect_action(&r, HE_ACT_CLOSE, 3);
	only(&r, HE_ACT_DONE, -1);
	ck_assert_int_eq(he_race_attempt_connected_(&r, T0 + US(800), 3), 0);
	ck_assert_int_eq(he_race_attempt_connected_(&r, T0 + US(800), 0), 0);
	ck_assert_int_eq(he_race_attempt_connected_(&r, T0 + US(800), 1), 0);
	ck_assert_int_eq(he_race_attempt_connected_(&r, T0 + US(800), 2), 0);
	he_race_attempt_failed_(&r, T0 + US(801), 0, ECONNRESET);
	he_test_expect_none(&r);
	ck_assert_int_eq(r.winner, 2);
	/* "6a 6b 4a 4b" interleaved: 6a 4a 6b 4b */
	ck_assert_str_eq(label_of_ai(r.attempts[2].ai), "6b");
	ck_assert_int_eq(r.error, 0);
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(r.attempts[i].state,
		    i == 2 ? HE_ATTEMPT_WON : HE_ATTEMPT_CANCELLED);
		ck_assert_int_eq(r.attempts[i].error, i == 2 ? 0 : ECANCELED);
	}
	he_race_clear_(&r);
}
END_TEST

/* Reports about an attempt that is no longer running are ignored. */
START_TEST(test_stale_reports)
{
	struct he_race r;

	begin_known(&r, 8, 30000, "6a 4a");
	he_race_attempt_failed_(&r, T0 + US(5), 0, ECONNREFUSED);
	he_test_expect_none(&r);
	/* Its handshake "completing" later, or a second failure: nothing. */
	ck_assert_int_eq(he_race_attempt_connected_(&r, T0 + US(6), 0), 0);
	he_race_attempt_failed_(&r, T0 + US(7), 0, EHOSTUNREACH);
	he_test_expect_none(&r);
	ck_assert_int_eq(r.attempts[0].state, HE_ATTEMPT_FAILED);
	ck_assert_int_eq(r.attempts[0].error, ECONNREFUSED);
	ck_assert_int_eq(r.attempts[0].ended, T0 + US(5));
	ck_assert_int_eq(he_race_next_wakeup_(&r), T0 + US(10));
	he_race_timer_(&r, T0 + US(10));
	he_test_expect_action(&r, HE_ACT_START, 1);
	he_race_attempt_failed_(&r, T0 + US(12), 1, ETIMEDOUT);
	only(&r, HE_ACT_DONE, -1);
	outcome(&r, -1, ECONNREFUSED);	/* the first attempt's */
	he_race_clear_(&r);
}
END_TEST

/* The timer may fire late: the deadline is checked on every event, so an
   event after it ends the race with ETIMEDOUT and starts nothing. */
START_TEST(test_late_timer)
{
	struct he_race r;

	begin_known(&r, 8, 100, "6a 4a");
	he_test_expect_none(&r);
	ck_assert_int_eq(he_race_next_wakeup_(&r), T0 + US(100));
	/* The deadline timer is late; attempt 0 fails first. */
	he_race_attempt_failed_(&r, T0 + US(120), 0, ECONNREFUSED);
	only(&r, HE_ACT_DONE, -1);
	ck_assert_int_eq(r.nattempts, 1);
	ck_assert_int_eq(r.error, ETIMEDOUT);
	ck_assert_int_eq(r.dns_failure, 0);
	he_race_clear_(&r);

	/* A DNS answer after the deadline: nothing starts; no query is
	   pending any more, so no DNS error either. */
	he_drive_init(&r, 8, 100, 0);
	he_race_expect_dns_(&r, HE_FAM_V4);
	he_race_begin_(&r, T0);
	he_test_expect_none(&r);
	he_race_dns_answer_(&r, T0 + US(150), HE_FAM_V4, make_list("4a"), 0);
	only(&r, HE_ACT_DONE, -1);
	ck_assert_int_eq(r.nattempts, 0);
	ck_assert_int_eq(r.error, ETIMEDOUT);
	ck_assert_int_eq(r.dns_failure, 0);
	he_race_clear_(&r);
}
END_TEST

/* DNS answers are sorted with cfg.sort; a caller's list is not. */
START_TEST(test_sort_use)
{
	struct he_race r;

	he_drive_sort_calls = 0;
	begin_known(&r, 8, 30000, "4a 6a");
	ck_assert_str_eq(label_of_ai(r.attempts[0].ai), "4a");
	ck_assert_int_eq(he_drive_sort_calls, 0);
	he_race_clear_(&r);

	he_drive_init(&r, 8, 30000, 0);
	he_race_expect_dns_(&r, HE_FAM_V6);
	he_race_expect_dns_(&r, HE_FAM_V4);
	he_race_begin_(&r, T0);
	he_race_dns_answer_(&r, T0 + US(1), HE_FAM_V4, make_list("4a"), 0);
	he_race_dns_answer_(&r, T0 + US(2), HE_FAM_V6, make_list("6a"), 0);
	ck_assert_int_ge(he_drive_sort_calls, 1);
	only(&r, HE_ACT_START, 0);
	ck_assert_str_eq(label_of_ai(r.attempts[0].ai), "6a");
	he_race_clear_(&r);
}
END_TEST

/* A race that is cleared before it began, or with addresses unused and a
   START still queued (twice: with history, its notes too): it gives back
   every byte and block it held, and nothing is queued any more. */
START_TEST(test_clear_unstarted)
{
	struct he_race r;
	struct evutil_addrinfo *ai;
	long bytes0 = he_fault_heap_bytes(), blocks0 = he_fault_heap_blocks();
	int begin;

	for (begin = 0; begin < 3; begin++) {
		he_drive_init(&r, 8, 30000, begin == 2);
		he_race_add_known_(&r, make_list("6a 4a 6b"));
		/* with history: IPv6 hung before, moved last (notes) */
		for (ai = r.untried; begin == 2 && ai; ai = ai->ai_next)
			if (ai->ai_family == AF_INET6)
				HE_AI_META(ai)->facts.state = HE_HIST_HUNG;
		ck_assert_int_gt(he_fault_heap_blocks(), blocks0);
		if (begin)
			he_race_begin_(&r, T0);
		ck_assert_int_eq(r.notes.n, begin == 2);	/* 6a moved */
		he_race_clear_(&r);
		ck_assert_ptr_null(r.untried);
		ck_assert_int_eq(r.nattempts, 0);
		he_test_expect_none(&r);
		ck_assert_int_eq(he_fault_heap_bytes(), bytes0);
		ck_assert_int_eq(he_fault_heap_blocks(), blocks0);
	}
}
END_TEST

/* A one-address list kept inside the race (he_race_own_entry_): refused
 * where the list copy would refuse it, raced like any entry, kept when a
 * later list repeats it, and never freed by the core (ASan and valgrind
 * would see a free of memory that is not the heap's). */
START_TEST(test_own_entry)
{
	struct he_race r;
	struct evutil_addrinfo *src = he_test_ai("192.0.2.1", TEST_PORT), *ai;

	ck_assert_ptr_nonnull(src);
	he_drive_init(&r, 8, 30000, 0);
	src->ai_socktype = SOCK_DGRAM;
	ck_assert_ptr_null(he_race_own_entry_(&r, src));
	src->ai_socktype = 0;
	src->ai_addrlen = sizeof(struct sockaddr_in) - 1;
	ck_assert_ptr_null(he_race_own_entry_(&r, src));
	src->ai_addrlen = sizeof(struct sockaddr_in);
	src->ai_family = AF_UNIX;
	ck_assert_ptr_null(he_race_own_entry_(&r, src));
	src->ai_family = AF_INET;
	src->ai_next = he_test_ai("192.0.2.2", TEST_PORT);
	ck_assert_ptr_null(he_race_own_entry_(&r, src));	/* two entries */
	evhappy_addrinfo_free(src->ai_next);
	src->ai_next = NULL;

	ai = he_race_own_entry_(&r, src);
	ck_assert_ptr_nonnull(ai);
	ck_assert(he_sockaddr_equal_(ai->ai_addr, src->ai_addr));
	ck_assert_int_eq(ai->ai_socktype, SOCK_STREAM);
	ck_assert_ptr_null(ai->ai_next);
	he_race_add_known_(&r, ai);
	he_race_add_known_(&r, he_test_ai("192.0.2.1", TEST_PORT));
	he_race_begin_(&r, T0);
	only(&r, HE_ACT_START, 0);
	ck_assert_ptr_eq(r.attempts[0].ai, ai);
	ck_assert_ptr_null(r.untried);	/* the repeat was dropped */
	he_race_attempt_failed_(&r, T0 + US(5), 0, ECONNREFUSED);
	he_test_expect_action(&r, HE_ACT_DONE, -1);
	ck_assert_int_eq(r.error, ECONNREFUSED);
	he_race_clear_(&r);

	he_drive_init(&r, 8, 30000, 0);	/* cleared before it began */
	he_race_add_known_(&r, he_race_own_entry_(&r, src));
	he_race_clear_(&r);
	evhappy_addrinfo_free(src);
}
END_TEST

/* Which addresses may be connected to (he_addr_usable_, also used by the
   glue to refuse a caller's list with nothing usable). */
START_TEST(test_addr_usable)
{
	static const struct {
		const char *addr;
		int usable;
	} t[] = {
		{ "192.0.2.1", 1 }, { "127.0.0.1", 1 }, { "10.0.0.1", 1 },
		{ "0.0.0.1", 1 }, { "223.255.255.255", 1 },
		{ "240.0.0.1", 1 }, { "255.255.255.254", 1 },
		{ "0.0.0.0", 0 }, { "224.0.0.0", 0 }, { "224.0.0.1", 0 },
		{ "239.255.255.255", 0 }, { "255.255.255.255", 0 },
		{ "2001:db8::1", 1 }, { "::1", 1 }, { "fe80::1", 1 },
		{ "::ffff:192.0.2.1", 1 }, { "::2", 1 }, { "fe00::1", 1 },
		{ "::", 0 }, { "ff02::1", 0 }, { "ff00::", 0 },
		{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0 },
		{ "::ffff:0.0.0.0", 0 }, { "::ffff:224.0.0.251", 0 },
		{ "::ffff:255.255.255.255", 0 },
	};
	struct sockaddr_un_like { sa_family_t family; char path[32]; } other;
	struct evutil_addrinfo *ai;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ai = he_test_ai(t[i].addr, TEST_PORT);
		ck_assert_ptr_nonnull(ai);
		ck_assert_msg(he_addr_usable_(ai->ai_addr) == t[i].usable,
		    "%s: usable %d, expected %d", t[i].addr,
		    he_addr_usable_(ai->ai_addr), t[i].usable);
		evhappy_addrinfo_free(ai);
	}
	memset(&other, 0, sizeof(other));
	other.family = AF_UNIX;
	ck_assert_int_eq(he_addr_usable_((struct sockaddr *)&other), 0);
	ck_assert_int_eq(he_addr_usable_(NULL), 0);
}
END_TEST

/** The list "6a" with the port and scope id given. */
static struct evutil_addrinfo *
v6_with(int port, uint32_t scope)
{
	struct evutil_addrinfo *ai = he_test_ai("2001:db8::a", port);

	ck_assert_ptr_nonnull(ai);
	((struct sockaddr_in6 *)ai->ai_addr)->sin6_scope_id = scope;
	return ai;
}

/* "The same address" is address, port and scope id together. */
START_TEST(test_duplicates_port_scope)
{
	struct evutil_addrinfo *list = NULL;
	struct he_race r;
	int i;

	list = he_test_append(list, v6_with(443, 0));
	list = he_test_append(list, v6_with(80, 0));
	list = he_test_append(list, v6_with(443, 2));
	list = he_test_append(list, v6_with(443, 0));	/* the first again */
	list = he_test_append(list, v6_with(80, 2));
	list = he_test_append(list, v6_with(80, 2));	/* the last again */
	he_drive_init(&r, 8, 30000, 0);
	he_race_add_known_(&r, list);
	he_race_begin_(&r, T0);
	for (i = 0; i < 4; i++) {
		if (i)
			he_race_timer_(&r, T0 + US(250 * i));
		only(&r, HE_ACT_START, i);
	}
	ck_assert_int_eq(he_race_next_wakeup_(&r), T0 + US(30000));
	ck_assert_ptr_null(r.untried);
	ck_assert_int_eq(r.nattempts, 4);
	ck_assert_int_eq(ntohs(((struct sockaddr_in6 *)
	    r.attempts[1].ai->ai_addr)->sin6_port), 80);
	ck_assert_int_eq(((struct sockaddr_in6 *)
	    r.attempts[2].ai->ai_addr)->sin6_scope_id, 2);
	he_race_clear_(&r);
}
END_TEST

/** n entries 192.0.2.(i % distinct + 1), in that order. */
static struct evutil_addrinfo *
many_v4(int n, int distinct)
{
	struct evutil_addrinfo *list = NULL;
	char buf[32];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "192.0.2.%d", i % distinct + 1);
		list = he_test_append(list, he_test_ai(buf, TEST_PORT));
	}
	return list;
}

/* A big list goes through the sorted dedup: same result, first appearance
   kept, in order; an answer repeating them adds only what is new. */
START_TEST(test_duplicates_big_list)
{
	struct evutil_addrinfo *ai;
	struct he_race r;
	char want[32];
	int i;

	he_drive_init(&r, 8, 30000, 0);
	he_race_expect_dns_(&r, HE_FAM_V4);
	he_race_add_known_(&r, many_v4(200, 50));
	he_race_begin_(&r, T0);
	only(&r, HE_ACT_START, 0);
	/* 60 more, of which 10 are new (51..60), repeated */
	he_race_dns_answer_(&r, T0 + US(1), HE_FAM_V4, many_v4(120, 60), 0);
	he_test_expect_none(&r);
	for (i = 1, ai = r.untried; ai; ai = ai->ai_next, i++) {
		snprintf(want, sizeof(want), "192.0.2.%d", i + 1);
		ck_assert_str_eq(he_test_addr_str(ai->ai_addr), want);
	}
	ck_assert_int_eq(i, 60);
	ck_assert_str_eq(he_test_addr_str(r.attempts[0].ai->ai_addr),
	    "192.0.2.1");
	he_race_clear_(&r);
}
END_TEST

/** Take the queued actions into a[] (no Check call: Check allocates, and
    allocations may be failing); returns how many. */
static int
take_actions(struct he_race *r, struct he_action *a, int max)
{
	int n = 0;

	while (n < max && he_race_next_action_(r, &a[n]))
		n++;
	return n;
}

/* Issue 8 item 1, as reported: both families NXDOMAIN while every
   allocation fails.  The DONE needs no memory: it comes. */
START_TEST(test_oom_nxdomain_done)
{
	struct he_action a[4];
	struct he_race r;
	int n1, n2, n3;

	he_drive_init(&r, 8, 30000, 0);
	he_race_expect_dns_(&r, HE_FAM_V6);
	he_race_expect_dns_(&r, HE_FAM_V4);
	he_fault_arm(HE_FAULT_ALLOC, 1, 1);
	he_race_begin_(&r, T0);
	n1 = take_actions(&r, a, 4);
	he_race_dns_answer_(&r, T0 + US(5), HE_FAM_V6, NULL,
	    EVUTIL_EAI_NONAME);
	n2 = take_actions(&r, a, 4);
	he_race_dns_answer_(&r, T0 + US(8), HE_FAM_V4, NULL,
	    EVUTIL_EAI_NONAME);
	n3 = take_actions(&r, a, 4);
	he_fault_disarm_all();
	ck_assert_int_eq(n1, 0);
	ck_assert_int_eq(n2, 0);
	ck_assert_int_eq(n3, 1);
	ck_assert_int_eq(a[0].kind, HE_ACT_DONE);
	ck_assert_int_eq(r.error, EHOSTUNREACH);
	ck_assert_int_eq(r.dns_failure, EVUTIL_EAI_NONAME);
	ck_assert_int_eq(he_race_next_wakeup_(&r), HE_NEVER);
	he_race_clear_(&r);
}
END_TEST

/* The first attempt lives inside the race: an answer starts it even with
   every allocation failing (a one-address race never depends on memory).
   The second needs the attempt array to grow; when it cannot, the race
   ends with ENOMEM in that same call, not at the next timer, the first
   attempt closed, and the answer's addresses are freed with the race. */
START_TEST(test_oom_first_attempt_in_answer)
{
	struct evutil_addrinfo *list = make_list("6a 6b");
	struct he_action a[4], first[4];
	struct he_race r;
	int n, n1, nattempts1, fired1, fired;

	he_drive_init(&r, 8, 30000, 0);
	he_race_expect_dns_(&r, HE_FAM_V6);
	he_race_begin_(&r, T0);
	he_test_expect_none(&r);
	he_fault_arm(HE_FAULT_ALLOC, 1, 1);
	he_race_dns_answer_(&r, T0 + US(5), HE_FAM_V6, list, 0);
	n1 = take_actions(&r, first, 4);
	nattempts1 = r.nattempts;
	fired1 = he_fault_fired();
	he_race_timer_(&r, he_race_next_wakeup_(&r));
	fired = he_fault_fired();
	n = take_actions(&r, a, 4);
	he_fault_disarm_all();
	ck_assert(!fired1);
	ck_assert_int_eq(n1, 1);
	ck_assert_int_eq(first[0].kind, HE_ACT_START);
	ck_assert_int_eq(first[0].attempt, 0);
	ck_assert_int_eq(nattempts1, 1);
	ck_assert(fired);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(a[0].kind, HE_ACT_CLOSE);
	ck_assert_int_eq(a[0].attempt, 0);
	ck_assert_int_eq(a[1].kind, HE_ACT_DONE);
	ck_assert_int_eq(r.error, ENOMEM);
	ck_assert_int_eq(r.nattempts, 1);
	ck_assert_int_eq(he_race_next_wakeup_(&r), HE_NEVER);
	he_race_clear_(&r);
}
END_TEST

/* Later attempts: when the attempt array must grow and cannot, every
   running attempt is closed and DONE (ENOMEM) follows at once. */
START_TEST(test_oom_growing_attempts)
{
	struct he_action a[64];
	struct he_race r;
	long n;
	int i, j, k, started, closed, done, after_done, fired;

	for (n = 1; n < 7; n++) {
		he_drive_init(&r, 64, 30000, 0);
		he_race_add_known_(&r, many_v4(20, 20));
		he_fault_arm(HE_FAULT_ALLOC, n, 1);
		he_race_begin_(&r, T0);
		started = closed = done = after_done = 0;
		for (i = 0; i < 20; i++) {
			he_race_timer_(&r, T0 + US(250 * i));
			k = take_actions(&r, a, 64);
			for (j = 0; j < k; j++) {
				after_done += done;
				started += a[j].kind == HE_ACT_START;
				closed += a[j].kind == HE_ACT_CLOSE;
				done += a[j].kind == HE_ACT_DONE;
			}
		}
		fired = he_fault_fired();
		he_fault_disarm_all();
		ck_assert_msg(fired, "n=%ld: nothing failed", n);
		ck_assert_int_eq(done, 1);
		ck_assert_int_eq(after_done, 0);
		ck_assert_int_eq(r.error, ENOMEM);
		ck_assert_int_eq(closed, started);
		ck_assert_int_eq(r.in_flight, 0);
		he_race_clear_(&r);
	}
}
END_TEST

/* The big-list dedup's scratch array, and what follows it, failing: the
   race ends at once with ENOMEM, one DONE, nothing leaked. */
START_TEST(test_oom_big_list)
{
	struct evutil_addrinfo *known, *answer;
	struct he_action a[16];
	struct he_race r;
	long n;
	int k1, k2, fired, i, dones;

	for (n = 1; n < 100; n++) {
		known = many_v4(200, 50);
		answer = many_v4(120, 60);
		he_drive_init(&r, 8, 30000, 0);
		he_race_expect_dns_(&r, HE_FAM_V4);
		he_fault_arm(HE_FAULT_ALLOC, n, 1);
		he_race_add_known_(&r, known);
		he_race_begin_(&r, T0);
		k1 = take_actions(&r, a, 8);
		he_race_dns_answer_(&r, T0 + US(1), HE_FAM_V4, answer, 0);
		k2 = take_actions(&r, a + k1, 8);
		fired = he_fault_fired();
		he_fault_disarm_all();
		for (i = dones = 0; i < k1 + k2; i++)
			dones += a[i].kind == HE_ACT_DONE;
		if (!fired) {
			ck_assert_int_eq(dones, 0);
			he_race_clear_(&r);
			break;
		}
		ck_assert_int_eq(dones, 1);
		ck_assert_int_eq(a[k1 + k2 - 1].kind, HE_ACT_DONE);
		ck_assert_int_eq(r.error, ENOMEM);
		ck_assert_int_eq(r.in_flight, 0);
		he_race_clear_(&r);
	}
	ck_assert_int_gt(n, 2);
}
END_TEST

/* n distinct IPv6 addresses, 2001:db8::1:0 on. */
static struct evutil_addrinfo *
many_v6(int n)
{
	struct evutil_addrinfo *list = NULL;
	char buf[48];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "2001:db8::1:%x", i);
		list = he_test_append(list, he_test_ai(buf, TEST_PORT));
	}
	return list;
}

/* The default bound on attempts in flight (issue 23): with the default
   delay it is never reached within the default timeout, so a context's
   race never closes an earlier attempt to start a new one... */
START_TEST(test_default_cap_above_timeout)
{
	ck_assert_int_gt(
	    (int64_t)EVHAPPY_DEFAULT_MAX_IN_FLIGHT *
	    EVHAPPY_DEFAULT_ATTEMPT_DELAY_MS, EVHAPPY_DEFAULT_TIMEOUT_MS);
}
END_TEST

/* ...and a hostile answer of 1000 addresses (attempt delay 10 ms) never
   has more than that many running: nothing is closed until the bound is
   reached, then the oldest makes room for each start, and the reachable
   last address is still tried and wins. */
START_TEST(test_default_cap_bounds_hostile_list)
{
	struct he_race_config cfg;
	struct he_action a;
	struct he_race r;
	const int n = 1000, cap = EVHAPPY_DEFAULT_MAX_IN_FLIGHT;
	int starts = 0, closes = 0, first_close_at = -1, max_running = 0;
	int64_t now = T0, t;

	memset(&cfg, 0, sizeof(cfg));
	cfg.attempt_delay = US(10);
	cfg.resolution_delay = US(DEF_RESOLUTION_DELAY);
	cfg.min_gap = US(MIN_GAP);
	cfg.timeout = US(DEF_TIMEOUT);
	cfg.first_family_count = 1;
	cfg.max_in_flight = cap;
	he_race_init_(&r, &cfg);
	he_race_add_known_(&r, many_v6(n));
	he_race_begin_(&r, now);
	for (;;) {
		while (he_race_next_action_(&r, &a)) {
			if (a.kind == HE_ACT_START) {
				starts++;
				continue;
			}
			if (a.kind != HE_ACT_CLOSE)
				continue;
			ck_assert_msg(!r.done, "closed after the end");
			/* at the bound, the oldest, for the start that follows */
			ck_assert_int_eq(a.attempt, closes);
			ck_assert_int_eq(r.attempts[a.attempt].error, ETIMEDOUT);
			if (first_close_at < 0)
				first_close_at = starts;
			closes++;
		}
		if (r.in_flight > max_running)
			max_running = r.in_flight;
		if (starts == n)
			break;
		t = he_race_next_wakeup_(&r);
		ck_assert_msg(t != HE_NEVER && t > now, "stalled at %d", starts);
		he_race_timer_(&r, now = t);
	}
	/* The (cap+1)-th start was the first to close one. */
	ck_assert_int_eq(first_close_at, cap);
	ck_assert_int_eq(max_running, cap);
	ck_assert_int_eq(closes, n - cap);
	ck_assert_int_eq(r.in_flight, cap);
	ck_assert_int_eq(now - T0, US(10) * (n - 1));
	ck_assert_int_eq(he_race_attempt_connected_(&r, now + US(1), n - 1), 1);
	ck_assert_int_eq(r.winner, n - 1);
	he_race_clear_(&r);
}
END_TEST

/* cfg.timeout HE_NEVER (the drop-in's): no deadline.  The race waits for
   its attempts however long they take (the kernel ends them), and ends
   when the last one fails. */
START_TEST(test_no_overall_timeout)
{
	struct he_race r;

	he_drive_init(&r, 8, 1, 0);
	r.cfg.timeout = HE_NEVER;
	he_race_add_known_(&r, make_list("6a 4a"));
	he_race_begin_(&r, T0);
	ck_assert_int_eq(r.deadline, HE_NEVER);
	only(&r, HE_ACT_START, 0);
	ck_assert_int_eq(he_race_next_wakeup_(&r), T0 + US(250));
	he_race_timer_(&r, T0 + US(250));
	only(&r, HE_ACT_START, 1);
	/* Nothing left to start, no deadline: no wake-up at all. */
	ck_assert_int_eq(he_race_next_wakeup_(&r), HE_NEVER);
	he_race_timer_(&r, T0 + US(100000));
	he_test_expect_none(&r);
	ck_assert(!r.done);
	/* The kernel gives up on both (SYN retries, ~127 s): done, their
	   errno. */
	he_race_attempt_failed_(&r, T0 + US(127000), 0, ETIMEDOUT);
	he_test_expect_none(&r);
	he_race_attempt_failed_(&r, T0 + US(127250), 1, ETIMEDOUT);
	only(&r, HE_ACT_DONE, -1);
	outcome(&r, -1, ETIMEDOUT);
	he_race_clear_(&r);

	/* A slow path still wins after minutes. */
	he_drive_init(&r, 8, 1, 0);
	r.cfg.timeout = HE_NEVER;
	he_race_add_known_(&r, make_list("6a"));
	he_race_begin_(&r, T0);
	he_test_expect_action(&r, HE_ACT_START, 0);
	ck_assert_int_eq(he_race_next_wakeup_(&r), HE_NEVER);
	ck_assert_int_eq(he_race_attempt_connected_(&r, T0 + US(100000), 0), 1);
	he_test_expect_action(&r, HE_ACT_DONE, -1);
	outcome(&r, 0, 0);
	he_race_clear_(&r);
}
END_TEST

Suite *
he_test_suite(void)
{
	const struct he_test_def tests[] = {
		HE_TCASE("table", 0),

		HE_LOOP(test_table, N_ROWS),

		HE_TCASE("table_ticking", 0),
		HE_LOOP(test_table_ticking, N_ROWS),

		HE_TCASE("alloc_walk", 0),
		HE_LOOP(test_table_alloc_walk, N_ROWS),

		HE_TCASE("calls", 0),
		HE_TEST(test_wakeup_known_list),
		HE_TEST(test_wakeup_resolution_delay),
		HE_TEST(test_wakeup_capped),
		HE_TEST(test_same_instant_any_order),
		HE_TEST(test_stale_reports),
		HE_TEST(test_late_timer),
		HE_TEST(test_sort_use),
		HE_TEST(test_clear_unstarted),
		HE_TEST(test_own_entry),
		HE_TEST(test_addr_usable),
		HE_TEST(test_duplicates_port_scope),
		HE_TEST(test_duplicates_big_list),
		HE_TEST(test_oom_nxdomain_done),
		HE_TEST(test_oom_first_attempt_in_answer),
		HE_TEST(test_oom_growing_attempts),
		HE_TEST(test_oom_big_list),
		HE_TEST(test_default_cap_above_timeout),
		HE_TEST(test_default_cap_bounds_hostile_list),
		HE_TEST(test_no_overall_timeout),
	};

	return he_test_suite_of("race_sm", tests, HE_TEST_N(tests));
}
