/*
 * Connection history (RFC 8305 section 4), he_history.c.
 *
 * - The store on a fake clock: RFC 6298 smoothing, verdicts, which errors
 *   are learned, expiry (and its test hook), LRU eviction in a fixed
 *   table, clearing, and several threads at once.
 * - The rules on a fake clock, driving the race core (he_race.c) with a
 *   store of the test's own: a black-holed address is moved last and the
 *   second race costs one RTT; the delay after a start follows a known
 *   RTT; a working IPv6 path keeps going first however fast IPv4 is; RTTs
 *   order addresses within a family; what counts as hung; a timed-out race
 *   is not made worse; a repaired path is used again once its entry
 *   expires; a suspect that had to go first waits only the minimum gap.
 * - Real sockets on loopback: a black hole and a listener, the second
 *   connect fast with history and slow without; two contexts share the
 *   process's store; the trace says why.
 */
#include "he_context.h"
#include "he_history.h"
#include "he_coredrive.h"
#include "he_lab.h"
#include "he_testutil.h"
#include "he_testrec.h"

#include <event2/bufferevent.h>
#include <event2/dns.h>

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>
#include <netinet/in.h>

#define T0 ((int64_t)7000 * 1000000)
#define US(ms) ((int64_t)(ms) * 1000)
#define PORT 443

/* A store of n entries of the test's own. */
static struct he_history *
new_store(int n)
{
	struct he_history *h;

	ck_assert_int_eq(he_history_new_(n, &h), 0);
	return h;
}

/* A sockaddr for a literal, port PORT, in a small ring of buffers. */
static const struct sockaddr *
sa_of(const char *lit)
{
	return he_test_sa(lit, PORT);
}

/* ----------------------------------------------------------------------- */
/* The store */

START_TEST(test_store_rtt_smoothing)
{
	struct he_history *h = new_store(8);
	struct he_hist_info in;

	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(he_history_lookup_(h, sa_of("2001:db8::a"), T0, &in),
	    0);
	ck_assert_int_eq(in.state, HE_HIST_UNKNOWN);
	/* RFC 6298 2.2: srtt = R, rttvar = R/2 */
	he_history_learn_(h, sa_of("2001:db8::a"), T0, HE_HIST_WORKED, 0, US(40));
	ck_assert_int_eq(he_history_lookup_(h, sa_of("2001:db8::a"),
	    T0 + US(5), &in), 1);
	ck_assert_int_eq(in.state, HE_HIST_WORKED);
	ck_assert_int_eq(in.srtt, US(40));
	ck_assert_int_eq(in.rttvar, US(20));
	ck_assert_int_eq(in.age, US(5));
	/* 2.3: rttvar = 3/4 rttvar + 1/4 |srtt - R|, srtt = 7/8 srtt + R/8 */
	he_history_learn_(h, sa_of("2001:db8::a"), T0 + US(10), HE_HIST_WORKED, 0, US(48));
	he_history_lookup_(h, sa_of("2001:db8::a"), T0 + US(10), &in);
	ck_assert_int_eq(in.rttvar, (3 * US(20) + US(8)) / 4);
	ck_assert_int_eq(in.srtt, (7 * US(40) + US(48)) / 8);
	ck_assert_int_eq(in.age, 0);
	/* another port is another destination */
	{
		struct sockaddr_in6 other;
		memcpy(&other, sa_of("2001:db8::a"), sizeof(other));
		other.sin6_port = htons(80);
		ck_assert_int_eq(he_history_lookup_(h,
		    (struct sockaddr *)&other, T0, &in), 0);
	}
	he_history_free_(h);
}
END_TEST

START_TEST(test_store_verdicts)
{
	struct he_history *h = new_store(8);
	struct he_hist_info in;

	/* errors of this host's resources teach nothing about the path */
	he_history_learn_(h, sa_of("192.0.2.1"), T0, HE_HIST_FAILED, EMFILE, 0);
	he_history_learn_(h, sa_of("192.0.2.1"), T0, HE_HIST_FAILED, EADDRNOTAVAIL, 0);
	he_history_learn_(h, sa_of("192.0.2.1"), T0, HE_HIST_FAILED, ENOMEM, 0);
	ck_assert_int_eq(he_history_lookup_(h, sa_of("192.0.2.1"), T0, &in),
	    0);
	he_history_learn_(h, sa_of("192.0.2.1"), T0, HE_HIST_FAILED, ECONNREFUSED, 0);
	ck_assert_int_eq(he_history_lookup_(h, sa_of("192.0.2.1"), T0, &in),
	    1);
	ck_assert_int_eq(in.state, HE_HIST_FAILED);
	ck_assert_int_eq(in.error, ECONNREFUSED);
	ck_assert(he_hist_suspect_(&in));
	/* a success clears the suspicion at once */
	he_history_learn_(h, sa_of("192.0.2.1"), T0 + US(1), HE_HIST_WORKED, 0, US(3));
	he_history_lookup_(h, sa_of("192.0.2.1"), T0 + US(1), &in);
	ck_assert_int_eq(in.state, HE_HIST_WORKED);
	ck_assert(!he_hist_suspect_(&in));
	/* a hang keeps the RTT learned before */
	he_history_learn_(h, sa_of("192.0.2.1"), T0 + US(2), HE_HIST_HUNG, 0, 0);
	he_history_lookup_(h, sa_of("192.0.2.1"), T0 + US(2), &in);
	ck_assert_int_eq(in.state, HE_HIST_HUNG);
	ck_assert_int_eq(in.srtt, US(3));
	ck_assert(he_hist_suspect_(&in));
	/* other families are not kept */
	{
		struct sockaddr sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_family = AF_UNIX;
		he_history_learn_(h, &sa, T0, HE_HIST_HUNG, 0, 0);
		ck_assert_int_eq(he_history_lookup_(h, &sa, T0, &in), 0);
		ck_assert_int_eq(he_history_lookup_(h, NULL, T0, &in), 0);
	}
	ck_assert_int_eq(he_history_count_(h, T0 + US(2)), 1);
	he_history_clear_(h);
	ck_assert_int_eq(he_history_count_(h, T0 + US(2)), 0);
	ck_assert_int_eq(he_history_lookup_(h, sa_of("192.0.2.1"),
	    T0 + US(2), &in), 0);
	he_history_free_(h);
}
END_TEST

START_TEST(test_store_expiry)
{
	struct he_history *h = new_store(8);
	struct he_hist_info in;
	const int64_t exp = HE_HISTORY_EXPIRY_US;

	/* minutes, not hours */
	ck_assert(exp >= (int64_t)60 * 1000000 && exp <= (int64_t)3600 * 1000000);
	he_history_learn_(h, sa_of("2001:db8::a"), T0, HE_HIST_HUNG, 0, 0);
	/* looking does not make it live longer */
	ck_assert_int_eq(he_history_lookup_(h, sa_of("2001:db8::a"),
	    T0 + exp - 1, &in), 1);
	ck_assert_int_eq(in.age, exp - 1);
	ck_assert_int_eq(he_history_lookup_(h, sa_of("2001:db8::a"),
	    T0 + exp, &in), 0);
	ck_assert_int_eq(in.state, HE_HIST_UNKNOWN);
	/* learning again does */
	he_history_learn_(h, sa_of("2001:db8::a"), T0 + exp, HE_HIST_HUNG, 0, 0);
	he_history_learn_(h, sa_of("2001:db8::a"), T0 + 2 * exp - 5, HE_HIST_HUNG, 0, 0);
	ck_assert_int_eq(he_history_lookup_(h, sa_of("2001:db8::a"),
	    T0 + 2 * exp, &in), 1);
	/* the test hook, and restoring the default */
	he_history_set_expiry_(h, US(300));
	ck_assert_int_eq(he_history_lookup_(h, sa_of("2001:db8::a"),
	    T0 + 2 * exp - 5 + US(299), &in), 1);
	ck_assert_int_eq(he_history_lookup_(h, sa_of("2001:db8::a"),
	    T0 + 2 * exp - 5 + US(300), &in), 0);
	he_history_set_expiry_(h, 0);
	he_history_learn_(h, sa_of("2001:db8::a"), T0, HE_HIST_HUNG, 0, 0);
	ck_assert_int_eq(he_history_lookup_(h, sa_of("2001:db8::a"),
	    T0 + exp - 1, &in), 1);
	he_history_free_(h);
}
END_TEST

START_TEST(test_store_lru)
{
	struct he_history *h = new_store(4);
	struct he_hist_info in;
	const char *a[] = { "192.0.2.1", "192.0.2.2", "192.0.2.3",
	    "192.0.2.4", "192.0.2.5" };
	int i;

	for (i = 0; i < 4; i++)
		he_history_learn_(h, sa_of(a[i]), T0 + i, HE_HIST_WORKED, 0, US(1));
	/* .1 is the oldest learned, but it was used last */
	ck_assert_int_eq(he_history_lookup_(h, sa_of(a[0]), T0 + 10, &in), 1);
	he_history_learn_(h, sa_of(a[4]), T0 + 11, HE_HIST_WORKED, 0, US(1));
	ck_assert_int_eq(he_history_count_(h, T0 + 12), 4);
	ck_assert_int_eq(he_history_lookup_(h, sa_of(a[0]), T0 + 12, &in), 1);
	ck_assert_int_eq(he_history_lookup_(h, sa_of(a[1]), T0 + 12, &in), 0);
	for (i = 2; i < 5; i++)
		ck_assert_int_eq(he_history_lookup_(h, sa_of(a[i]), T0 + 12,
		    &in), 1);
	he_history_free_(h);
}
END_TEST

struct thread_arg {
	struct he_history *h;
	int id;
};

static void *
hammer(void *p)
{
	struct thread_arg *t = p;
	struct sockaddr_in sin;
	struct he_hist_info in;
	int i;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(PORT);
	for (i = 0; i < 20000; i++) {
		sin.sin_addr.s_addr = htonl(0xC0000200u + (unsigned)(i % 37));
		switch ((i + t->id) % 4) {
		case 0: he_history_learn_(t->h, (struct sockaddr *)&sin, T0 + i, HE_HIST_WORKED, 0, US(1 + i % 7)); break;
		case 1: he_history_learn_(t->h, (struct sockaddr *)&sin, T0 + i, HE_HIST_HUNG, 0, 0); break;
		case 2: he_history_learn_(t->h, (struct sockaddr *)&sin, T0 + i, HE_HIST_FAILED, ECONNREFUSED, 0);
			break;
		default: he_history_lookup_(t->h, (struct sockaddr *)&sin,
			    T0 + i, &in); break;
		}
		if (i % 5000 == 4999 && t->id == 0)
			he_history_clear_(t->h);
	}
	return NULL;
}

/* Four threads at once on a 16-entry store (37 destinations: constant
   eviction).  Nothing breaks; the table never holds more than it has. */
START_TEST(test_store_threads)
{
	struct he_history *h = new_store(16);
	pthread_t th[4];
	struct thread_arg arg[4];
	int i;

	for (i = 0; i < 4; i++) {
		arg[i].h = h;
		arg[i].id = i;
		ck_assert_int_eq(pthread_create(&th[i], NULL, hammer, &arg[i]),
		    0);
	}
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	ck_assert_int_le(he_history_count_(h, T0 + 20000), 16);
	he_history_free_(h);
}
END_TEST

START_TEST(test_delay_rule)
{
	struct he_hist_info in;

	memset(&in, 0, sizeof(in));
	/* unknown: the configured delay */
	ck_assert_int_eq(he_hist_delay_for_(&in, US(250)), US(250));
	in.state = HE_HIST_WORKED;
	/* one sample of 40 ms: 40 + 4 * 20 */
	in.srtt = US(40);
	in.rttvar = US(20);
	ck_assert_int_eq(he_hist_delay_for_(&in, US(250)), US(120));
	/* steady 40 ms: the variation term is at least srtt / 2 */
	in.rttvar = US(1);
	ck_assert_int_eq(he_hist_delay_for_(&in, US(250)), US(60));
	/* clamped to 10 ms .. 2 s */
	in.srtt = 300;
	in.rttvar = 150;
	ck_assert_int_eq(he_hist_delay_for_(&in, US(250)), US(10));
	in.srtt = US(1900);
	in.rttvar = US(100);
	ck_assert_int_eq(he_hist_delay_for_(&in, US(250)), US(2000));
	/* the path errors */
	ck_assert(he_history_path_error_(ECONNREFUSED));
	ck_assert(he_history_path_error_(ETIMEDOUT));
	ck_assert(he_history_path_error_(EHOSTUNREACH));
	ck_assert(he_history_path_error_(ENETUNREACH));
	ck_assert(!he_history_path_error_(EMFILE));
	ck_assert(!he_history_path_error_(ECANCELED));
	ck_assert(!he_history_path_error_(0));
}
END_TEST

/* ----------------------------------------------------------------------- */
/* The rules, driving the core */

static struct he_history *hist;
static struct he_history *race_store;	/* the store of the race made last */

static void
race_init(struct he_race *r, struct he_history *h)
{
	he_drive_init(r, 8, 30000, h != NULL);
	race_store = h;
}

static struct evutil_addrinfo *
list_of(const char *a, const char *b)
{
	return he_test_append(he_test_ai(a, PORT), b ? he_test_ai(b, PORT) :
	    NULL);
}

static const char *
addr_of(const struct he_race *r, int i)
{
	ck_assert_int_lt(i, r->nattempts);
	return he_test_addr_str(r->attempts[i].ai->ai_addr);
}

/* A race on the caller's list [a, b] (b may be NULL) with store h, begun
   at t. */
static void
known_race(struct he_race *r, struct he_history *h, const char *a,
    const char *b, int64_t t)
{
	race_init(r, h);
	he_race_add_known_(r, list_of(a, b));
	he_drive_begin(r, race_store, t);
}

/* A race with store h waiting for both families' answers, begun at t. */
static void
dns_race(struct he_race *r, struct he_history *h, int64_t t)
{
	race_init(r, h);
	he_race_expect_dns_(r, HE_FAM_V6);
	he_race_expect_dns_(r, HE_FAM_V4);
	he_drive_begin(r, race_store, t);
}

/* The next action starts attempt i, to addr. */
static void
expect_start(struct he_race *r, int i, const char *addr)
{
	he_test_expect_action(r, HE_ACT_START, i);
	ck_assert_str_eq(addr_of(r, i), addr);
}

/* The end of a race: what it taught goes to its store (the glue's part),
   then it is cleared. */
static void
finish(struct he_race *r)
{
	he_drive_teach(r, race_store);
	he_race_clear_(r);
}

static void
setup_rules(void)
{
	hist = new_store(32);
	ck_assert_ptr_nonnull(hist);
}

static void
teardown_rules(void)
{
	he_history_free_(hist);
	hist = NULL;
}

/* A caller's list [v6 black hole, v4]: the first race pays the attempt
   delay and learns; the second tries IPv4 first and is done in one RTT;
   the trace notes say the IPv6 address was moved after the IPv4 one. */
static void
black_hole_race_one(int64_t t)
{
	struct he_race r;

	known_race(&r, hist, "2001:db8::a", "192.0.2.1", t);
	he_test_expect_action(&r, HE_ACT_START, 0);
	he_test_expect_none(&r);
	ck_assert_str_eq(addr_of(&r, 0), "2001:db8::a");
	ck_assert_int_eq(he_race_next_wakeup_(&r), t + US(250));
	he_race_timer_(&r, t + US(250));
	he_test_expect_action(&r, HE_ACT_START, 1);
	ck_assert_int_eq(he_race_attempt_connected_(&r, t + US(251), 1), 1);
	he_test_expect_action(&r, HE_ACT_CLOSE, 0);
	he_test_expect_action(&r, HE_ACT_DONE, -1);
	finish(&r);
}

START_TEST(test_rules_black_hole)
{
	struct he_race r;
	struct he_hist_info in;
	struct he_action a;
	int moved = 0, delays = 0;

	black_hole_race_one(T0);
	he_history_lookup_(hist, sa_of("2001:db8::a"), T0 + US(251), &in);
	ck_assert_int_eq(in.state, HE_HIST_HUNG);
	he_history_lookup_(hist, sa_of("192.0.2.1"), T0 + US(251), &in);
	ck_assert_int_eq(in.state, HE_HIST_WORKED);
	ck_assert_int_eq(in.srtt, US(1));

	known_race(&r, hist, "2001:db8::a", "192.0.2.1", T0 + US(1000));
	ck_assert(he_drive_next(&r, &a, &moved, &delays));
	ck_assert_int_eq(a.kind, HE_ACT_START);
	ck_assert_str_eq(addr_of(&r, 0), "192.0.2.1");
	ck_assert_int_eq(moved, 1);
	ck_assert_int_eq(r.notes.v[0].kind, HE_NOTE_MOVED);
	ck_assert_str_eq(he_test_addr_str((struct sockaddr *)
	    &r.notes.v[0].addr), "2001:db8::a");
	ck_assert_str_eq(he_test_addr_str((struct sockaddr *)
	    &r.notes.v[0].after), "192.0.2.1");
	ck_assert_int_eq(r.notes.v[0].info.state, HE_HIST_HUNG);
	ck_assert_int_eq(r.notes.v[0].info.age, US(749));
	/* IPv4's RTT is 1 ms: the next start is due after 10 ms, not 250 */
	ck_assert(!he_drive_next(&r, &a, &moved, &delays));
	ck_assert_int_eq(delays, 1);
	ck_assert_int_eq(he_race_next_wakeup_(&r), T0 + US(1010));
	ck_assert_int_eq(he_race_attempt_connected_(&r, T0 + US(1001), 0), 1);
	he_test_expect_action(&r, HE_ACT_DONE, -1);
	ck_assert_int_eq(r.nattempts, 1);
	finish(&r);

	/* the black hole was not tried again: its verdict stands, as old as
	   it was */
	he_history_lookup_(hist, sa_of("2001:db8::a"), T0 + US(1001), &in);
	ck_assert_int_eq(in.state, HE_HIST_HUNG);
	ck_assert_int_eq(in.age, US(750));
}
END_TEST

/* Without a store: every race is the first. */
START_TEST(test_rules_off)
{
	struct he_race r;

	black_hole_race_one(T0);
	known_race(&r, NULL, "2001:db8::a", "192.0.2.1", T0 + US(1000));
	expect_start(&r, 0, "2001:db8::a");
	ck_assert_int_eq(he_race_next_wakeup_(&r), T0 + US(1250));
	ck_assert_int_eq(r.notes.n, 0);
	finish(&r);
}
END_TEST

/* Both families answered by DNS, both with RTTs known, IPv4 much faster:
   IPv6 still goes first (RFC 6724 precedence comes before the RTT rule),
   and the delay before IPv4 follows IPv6's RTT. */
START_TEST(test_rules_v6_keeps_winning)
{
	struct he_race r;
	int i;

	he_history_learn_(hist, sa_of("2001:db8::a"), T0, HE_HIST_WORKED, 0, US(40));
	he_history_learn_(hist, sa_of("192.0.2.1"), T0, HE_HIST_WORKED, 0, US(5));
	for (i = 0; i < 3; i++) {
		int64_t t = T0 + US(1000) * (i + 1);
		dns_race(&r, hist, t);
		he_drive_answer(&r, race_store, t + US(1), HE_FAM_V4,
		    he_test_ai("192.0.2.1", PORT), 0);
		he_drive_answer(&r, race_store, t + US(2), HE_FAM_V6,
		    he_test_ai("2001:db8::a", PORT), 0);
		expect_start(&r, 0, "2001:db8::a");
		/* first race: 40 + 4 * 20; then the variation shrinks to
		   its floor of srtt / 2 */
		if (i == 0)
			ck_assert_int_eq(r.attempts[0].delay, US(120));
		ck_assert_int_ge(r.attempts[0].delay, US(60));
		ck_assert_int_le(r.attempts[0].delay, US(120));
		ck_assert_int_eq(he_race_next_wakeup_(&r),
		    t + US(2) + r.attempts[0].delay);
		ck_assert_int_eq(he_race_attempt_connected_(&r, t + US(42), 0),
		    1);
		he_test_expect_action(&r, HE_ACT_DONE, -1);
		finish(&r);
	}
}
END_TEST

/* Within a family, the lower known RTT goes first; untried after known;
   a caller's list is not reordered by RTT. */
START_TEST(test_rules_rtt_order)
{
	struct he_race r;
	int moved = 0;
	struct he_action a;

	he_history_learn_(hist, sa_of("2001:db8::a"), T0, HE_HIST_WORKED, 0, US(80));
	he_history_learn_(hist, sa_of("2001:db8::b"), T0, HE_HIST_WORKED, 0, US(8));
	race_init(&r, hist);
	he_race_expect_dns_(&r, HE_FAM_V6);
	he_drive_begin(&r, race_store, T0 + US(1));
	he_drive_answer(&r, race_store, T0 + US(2), HE_FAM_V6, he_test_append(
	    list_of("2001:db8::c", "2001:db8::a"),
	    he_test_ai("2001:db8::b", PORT)), 0);
	ck_assert(he_drive_next(&r, &a, &moved, NULL));
	ck_assert_str_eq(addr_of(&r, 0), "2001:db8::b");
	ck_assert_int_eq(moved, 2);	/* ::b and ::a moved ahead of ::c */
	he_race_timer_(&r, T0 + US(2) + r.attempts[0].delay);
	expect_start(&r, 1, "2001:db8::a");
	finish(&r);

	known_race(&r, hist, "2001:db8::a", "2001:db8::b", T0 + US(1));
	expect_start(&r, 0, "2001:db8::a");
	finish(&r);
}
END_TEST

/* Hung means: still connecting after the configured attempt delay when
   another won; a user's cancel teaches nothing about running attempts. */
START_TEST(test_rules_hung_threshold)
{
	struct he_race r;
	struct he_hist_info in;

	/* ::a fails at once (refused), ::b is slow and loses after 100 ms */
	race_init(&r, hist);
	he_race_add_known_(&r, he_test_append(list_of("2001:db8::a",
	    "2001:db8::b"), he_test_ai("192.0.2.1", PORT)));
	he_drive_begin(&r, race_store, T0);
	he_test_expect_action(&r, HE_ACT_START, 0);
	he_race_attempt_failed_(&r, T0 + US(1), 0, ECONNREFUSED);
	he_race_timer_(&r, T0 + US(10));
	he_test_expect_action(&r, HE_ACT_START, 1);	/* 192.0.2.1 */
	he_race_timer_(&r, T0 + US(260));
	he_test_expect_action(&r, HE_ACT_START, 2);	/* ::b */
	ck_assert_int_eq(he_race_attempt_connected_(&r, T0 + US(360), 1), 1);
	finish(&r);
	he_history_lookup_(hist, sa_of("2001:db8::a"), T0 + US(360), &in);
	ck_assert_int_eq(in.state, HE_HIST_FAILED);
	ck_assert_int_eq(in.error, ECONNREFUSED);
	ck_assert_int_eq(he_history_lookup_(hist, sa_of("2001:db8::b"),
	    T0 + US(360), &in), 0);	/* 100 ms < 250: not hung */
	he_history_lookup_(hist, sa_of("192.0.2.1"), T0 + US(360), &in);
	ck_assert_int_eq(in.state, HE_HIST_WORKED);
	ck_assert_int_eq(in.srtt, US(350));

	he_history_clear_(hist);
	known_race(&r, hist, "2001:db8::a", "192.0.2.1", T0);
	he_race_timer_(&r, T0 + US(250));
	he_race_cancel_(&r, T0 + US(900));
	finish(&r);
	ck_assert_int_eq(he_history_count_(hist, T0 + US(900)), 0);

	/* ETIMEDOUT after 5 ms is the race making room, not the path; after
	   the attempt delay it is the path */
	known_race(&r, hist, "2001:db8::a", "192.0.2.1", T0);
	he_race_attempt_failed_(&r, T0 + US(5), 0, ETIMEDOUT);
	he_race_timer_(&r, T0 + US(10));
	he_race_attempt_failed_(&r, T0 + US(300), 1, ETIMEDOUT);
	finish(&r);
	ck_assert_int_eq(he_history_lookup_(hist, sa_of("2001:db8::a"),
	    T0 + US(300), &in), 0);
	ck_assert_int_eq(he_history_lookup_(hist, sa_of("192.0.2.1"),
	    T0 + US(300), &in), 1);
	ck_assert_int_eq(in.state, HE_HIST_FAILED);
}
END_TEST

/* Both paths black holes: the first race times out and both hang; the
   second is not worse: it still ends at the deadline with ETIMEDOUT, and
   tries everything (the suspects wait only the minimum gap). */
START_TEST(test_rules_all_black_holes)
{
	struct he_race r;
	int k;

	for (k = 0; k < 2; k++) {
		int64_t t = T0 + US(10000) * k;
		race_init(&r, hist);
		r.cfg.timeout = US(1000);
		he_race_add_known_(&r, list_of("2001:db8::a", "192.0.2.1"));
		he_drive_begin(&r, race_store, t);
		expect_start(&r, 0, "2001:db8::a");
		ck_assert_int_eq(he_race_next_wakeup_(&r),
		    t + (k ? US(10) : US(250)));
		he_race_timer_(&r, he_race_next_wakeup_(&r));
		he_test_expect_action(&r, HE_ACT_START, 1);
		ck_assert_int_eq(he_race_next_wakeup_(&r), t + US(1000));
		he_race_timer_(&r, t + US(1000));
		he_test_expect_action(&r, HE_ACT_CLOSE, 0);
		he_test_expect_action(&r, HE_ACT_CLOSE, 1);
		he_test_expect_action(&r, HE_ACT_DONE, -1);
		ck_assert_int_eq(r.error, ETIMEDOUT);
		finish(&r);
	}
}
END_TEST

/* A repaired IPv6 path: once the black hole's entry expires, IPv6 goes
   first again (and wins). */
START_TEST(test_rules_repaired)
{
	struct he_race r;

	he_history_set_expiry_(hist, US(2000));
	black_hole_race_one(T0);
	known_race(&r, hist, "2001:db8::a", "192.0.2.1", T0 + US(2000));
	expect_start(&r, 0, "192.0.2.1");
	finish(&r);

	race_init(&r, hist);
	he_race_add_known_(&r, list_of("2001:db8::a", "192.0.2.1"));
	/* the hang was learned at 251 ms */
	he_drive_begin(&r, race_store, T0 + US(251) + US(2000));
	expect_start(&r, 0, "2001:db8::a");
	ck_assert_int_eq(he_race_attempt_connected_(&r,
	    T0 + US(2270), 0), 1);
	finish(&r);
	{
		struct he_hist_info in;
		he_history_lookup_(hist, sa_of("2001:db8::a"), T0 + US(2270),
		    &in);
		ck_assert_int_eq(in.state, HE_HIST_WORKED);
	}
}
END_TEST

/* AAAA answers first with only a suspect: nothing starts until the A
   answer (then IPv4 goes first) or until the resolution delay runs out
   (then the suspect is tried, and what follows it waits only the minimum
   gap). */
START_TEST(test_rules_suspect_alone_first)
{
	struct he_race r;

	he_history_learn_(hist, sa_of("2001:db8::a"), T0, HE_HIST_HUNG, 0, 0);
	dns_race(&r, hist, T0 + US(100));
	he_drive_answer(&r, race_store, T0 + US(101), HE_FAM_V6,
	    he_test_ai("2001:db8::a", PORT), 0);
	he_test_expect_none(&r);
	ck_assert_int_eq(he_race_next_wakeup_(&r), T0 + US(151));
	he_drive_answer(&r, race_store, T0 + US(103), HE_FAM_V4,
	    he_test_ai("192.0.2.1", PORT), 0);
	expect_start(&r, 0, "192.0.2.1");
	he_test_expect_none(&r);
	ck_assert_int_eq(he_race_next_wakeup_(&r), T0 + US(353));
	finish(&r);

	dns_race(&r, hist, T0 + US(100));
	he_drive_answer(&r, race_store, T0 + US(101), HE_FAM_V6,
	    he_test_ai("2001:db8::a", PORT), 0);
	he_test_expect_none(&r);
	he_race_timer_(&r, T0 + US(150));
	he_test_expect_none(&r);
	he_race_timer_(&r, T0 + US(151));
	expect_start(&r, 0, "2001:db8::a");
	ck_assert_int_eq(r.attempts[0].delay, US(10));
	he_drive_answer(&r, race_store, T0 + US(155), HE_FAM_V4,
	    he_test_ai("192.0.2.1", PORT), 0);
	he_test_expect_none(&r);
	ck_assert_int_eq(he_race_next_wakeup_(&r), T0 + US(161));
	he_race_timer_(&r, T0 + US(161));
	expect_start(&r, 1, "192.0.2.1");
	finish(&r);

	/* an address that is not suspect does not wait for A */
	dns_race(&r, hist, T0 + US(100));
	he_drive_answer(&r, race_store, T0 + US(101), HE_FAM_V6,
	    he_test_ai("2001:db8::b", PORT), 0);
	expect_start(&r, 0, "2001:db8::b");
	finish(&r);
}
END_TEST

/* Refusals (ECONNREFUSED) of 192.0.2.first to 192.0.2.last, learned one
   microsecond apart from t on. */
static void
learn_refusals(struct he_history *h, int first, int last, int64_t t)
{
	char lit[24];
	int i;

	for (i = first; i <= last; i++) {
		snprintf(lit, sizeof(lit), "192.0.2.%d", i);
		he_history_learn_(h, sa_of(lit), t + (i - first),
		    HE_HIST_FAILED, ECONNREFUSED, 0);
	}
}

/* Eviction in a full table: a destination seen once (one verdict, never
   relied on) goes before one a later race relied on, and before one with
   a known RTT, whatever their age. */
START_TEST(test_store_keeps_what_was_relied_on)
{
	struct he_history *h = new_store(4);
	struct he_hist_info in;
	int i;

	he_history_learn_(h, sa_of("2001:db8::a"), T0, HE_HIST_HUNG, 0, 0);
	he_history_learn_(h, sa_of("192.0.2.1"), T0 + 1, HE_HIST_WORKED, 0,
	    US(3));
	learn_refusals(h, 2, 3, T0 + 2);
	/* a later race relies on the black hole (a lookup finds it) */
	ck_assert_int_eq(he_history_lookup_(h, sa_of("2001:db8::a"), T0 + 4,
	    &in), 1);
	/* new refusals replace the refusals, oldest use first */
	learn_refusals(h, 4, 6, T0 + 5);
	ck_assert_int_eq(he_history_lookup_(h, sa_of("2001:db8::a"), T0 + 8,
	    &in), 1);
	ck_assert_int_eq(in.state, HE_HIST_HUNG);
	ck_assert_int_eq(he_history_lookup_(h, sa_of("192.0.2.1"), T0 + 8,
	    &in), 1);
	ck_assert_int_eq(in.state, HE_HIST_WORKED);
	/* 192.0.2.2 to .4 went, .5 and .6 stay */
	for (i = 2; i <= 6; i++) {
		char lit[24];

		snprintf(lit, sizeof(lit), "192.0.2.%d", i);
		ck_assert_int_eq(he_history_lookup_(h, sa_of(lit), T0 + 8,
		    &in), i >= 5);
	}
	ck_assert_int_eq(he_history_count_(h, T0 + 8), 4);
	he_history_free_(h);
}
END_TEST

/* One race over a hostile list of 300 refusing addresses (a full store of
   the process's size) does not flush what the store knew: the black hole
   learned before is still known after it, so the next race to that host
   still skips it; the race taught at most HE_LESSONS_MAX entries. */
START_TEST(test_rules_hostile_list_keeps_history)
{
	struct he_history *h = new_store(HE_HISTORY_ENTRIES);
	struct evutil_addrinfo *list = NULL;
	struct he_hist_info in;
	struct he_action a;
	struct he_race r;
	char lit[64];
	int64_t t = T0 + US(1000);
	int i, started = 0, n;

	he_history_free_(hist);	/* the fixture's: this test needs a
				   store of the process's size */
	hist = h;
	black_hole_race_one(T0);	/* ::a hung, 192.0.2.1 worked */
	ck_assert_int_eq(he_history_count_(h, t), 2);

	for (i = 0; i < 300; i++) {
		snprintf(lit, sizeof(lit), "2001:db8:1::%x", i + 1);
		list = he_test_append(list, he_test_ai(lit, PORT));
	}
	race_init(&r, h);
	he_race_add_known_(&r, list);
	he_drive_begin(&r, h, t);
	/* every attempt is refused at once; the next starts 10 ms later */
	while (!r.done) {
		while (he_race_next_action_(&r, &a))
			if (a.kind == HE_ACT_START) {
				started++;
				he_race_attempt_failed_(&r, t, a.attempt,
				    ECONNREFUSED);
			}
		if (!r.done)
			he_race_timer_(&r, t = he_race_next_wakeup_(&r));
	}
	ck_assert_int_eq(started, 300);
	ck_assert_int_eq(r.error, ECONNREFUSED);
	finish(&r);
	n = he_history_count_(h, t);
	ck_assert_msg(n <= 2 + HE_LESSONS_MAX, "%d entries after the race", n);
	ck_assert_int_eq(he_history_lookup_(h, sa_of("2001:db8::a"), t, &in),
	    1);
	ck_assert_int_eq(in.state, HE_HIST_HUNG);

	/* and the next race to the host still goes to IPv4 first */
	known_race(&r, h, "2001:db8::a", "192.0.2.1", t + US(1));
	expect_start(&r, 0, "192.0.2.1");
	finish(&r);
	he_history_free_(h);
	hist = NULL;
}
END_TEST

/* ----------------------------------------------------------------------- */
/* Real sockets on loopback */

/* The trace's moves (HISTORY events that moved an address): every one of
   an address that hung, placed after another; how many, and the address
   the last one follows into after. */
static int
moved_notes(const struct he_test_tres *t, char *after, size_t len)
{
	int i, n = 0;

	for (i = 0; i < t->n; i++) {
		if (t->ev[i].kind != EVHAPPY_TRACE_HISTORY || !t->ev[i].moved)
			continue;
		n++;
		ck_assert_int_eq(t->ev[i].history, EVHAPPY_HISTORY_HUNG);
		ck_assert_msg(t->ev[i].after[0], "a move after no address");
		snprintf(after, len, "%s", t->ev[i].after);
	}
	return n;
}

/* One connect of he to list, traced into t; returns how long it took in
   ms. */
static int64_t
connect_once(struct event_base *base, struct evhappy *he,
    const struct evutil_addrinfo *list, struct he_test_res *x,
    struct he_test_tres *t)
{
	he_test_trace_on(he, t);
	he_test_res_init(x);
	x->close_fd = 1;
	he_test_start(he, list, x);
	he_test_run_until(base, HE_TEST_UP(3000), &x->calls);
	ck_assert_int_eq(x->calls, 1);
	ck_assert_int_ge(x->fd, 0);
	return x->ms;
}

/* The fixture, a black hole (on ::1 where IPv6 works) and a listener on
   127.0.0.1 (backlog 16), and [black hole, listener] as a caller's
   list. */
static struct evutil_addrinfo *
hole_then_listener(struct he_test_fx *f)
{
	const struct he_test_listen_spec ls[] = {
		{ HE_TEST_HOLE, he_lab_ipv6_loopback_works() ? "::1" :
		  "127.0.0.1" },
		{ HE_TEST_ACCEPT, "127.0.0.1" }
	};

	he_test_fx_begin(f);
	return he_test_fx_listen_apart(f, ls, 2);
}

/* A connect of he to l that waits the attempt delay for the black hole
   (250 ms; up to 450 on a loaded machine), no address moved. */
static void
connect_slow(struct he_test_fx *f, struct evhappy *he,
    const struct evutil_addrinfo *l, const char *what)
{
	struct he_test_res x;
	struct he_test_tres t;
	char after[64];
	int64_t ms = connect_once(f->base, he, l, &x, &t);

	ck_assert_msg(ms >= 250 && ms <= HE_TEST_UP(450),
	    "%s: %lld ms, want ~250", what, (long long)ms);
	ck_assert_int_eq(moved_notes(&t, after, sizeof(after)), 0);
}

/* [black hole, listener] as a caller's list: the first connect waits the
   250 ms attempt delay; the second, on another context of the same
   process, takes about one loopback RTT (window: < 100 ms, the attempt
   delay being 250); with history off it is 250 ms again. */
START_TEST(test_loopback_black_hole)
{
	struct he_test_fx f;
	struct evhappy *he2;
	struct evutil_addrinfo *l;
	struct he_test_res x;
	struct he_test_tres t;
	char after[64] = "";
	int64_t ms;

	l = hole_then_listener(&f);
	he2 = evhappy_new(f.base, NULL);
	ck_assert_ptr_nonnull(he2);

	connect_slow(&f, f.he, l, "first connect");

	ms = connect_once(f.base, he2, l, &x, &t);
	ck_assert_msg(ms <= HE_TEST_UP(100),
	    "second connect took %lld ms, want about one RTT", (long long)ms);
	ck_assert_int_eq(moved_notes(&t, after, sizeof(after)), 1);
	ck_assert_str_eq(after, "127.0.0.1");

	ck_assert_int_eq(evhappy_set_history(he2, 0), 0);
	connect_slow(&f, he2, l, "history off");

	/* clearing forgets the black hole */
	evhappy_clear_history(he2);
	ck_assert_int_eq(evhappy_set_history(he2, 1), 0);
	connect_slow(&f, he2, l, "after clearing");

	evhappy_free(he2);
	evhappy_addrinfo_free(l);
	he_test_run_until(f.base, 10, NULL);
	he_test_fx_end(&f);
}
END_TEST

/* One drop-in connect (no context of ours); its time in ms. */
static int64_t
dropin_once(struct event_base *base, struct evdns_base *dns, int port)
{
	struct he_test_bres b;
	struct bufferevent *bev = he_test_bev_new(base, &b);

	b.t0 = he_test_now_ms();
	ck_assert_int_eq(evhappy_socket_connect_hostname(bev, dns, AF_UNSPEC,
	    "svc.test", port), 0);
	he_test_run_until(base, HE_TEST_UP(3000), &b.calls);
	ck_assert_int_eq(b.calls, 1);
	ck_assert(b.what & BEV_EVENT_CONNECTED);
	bufferevent_free(bev);
	return b.ms;
}

/* The drop-in has no context of the caller's, yet it learns and uses the
   process's history: a name with a black-holed IPv6 address (::1 with a
   full accept queue) and a working IPv4 one.  A context's race first: the
   drop-in's connects after it take about one RTT (window < 100 ms). */
START_TEST(test_dropin_shares_history)
{
	struct he_test_fx f;
	struct he_lab_dns *d;
	struct evdns_base *dns;
	struct he_lab_blackhole *bh;
	evutil_socket_t lfd;
	char addr[64];
	int port = 0;
	int64_t ms;

	if (!he_lab_ipv6_loopback_works()) {
		fprintf(stderr, "SKIP test_dropin_shares_history: no IPv6 on "
		    "loopback here\n");
		return;
	}
	he_test_fx_begin(&f);
	d = he_lab_dns_new(f.base);
	ck_assert_ptr_nonnull(d);
	dns = he_lab_dns_client(d, f.base);
	ck_assert_ptr_nonnull(dns);
	bh = he_test_blackhole("::1", &port);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	lfd = he_lab_listen(addr, NULL);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(he_lab_dns_add(d, "svc.test", EVDNS_TYPE_AAAA, "::1"),
	    0);
	ck_assert_int_eq(he_lab_dns_add(d, "svc.test", EVDNS_TYPE_A,
	    "127.0.0.1"), 0);

	ms = dropin_once(f.base, dns, port);
	ck_assert_msg(ms >= 250 && ms <= HE_TEST_UP(450),
	    "first drop-in connect: %lld ms, want ~250", (long long)ms);
	ms = dropin_once(f.base, dns, port);
	ck_assert_msg(ms <= HE_TEST_UP(100),
	    "second drop-in connect: %lld ms, want one RTT", (long long)ms);
	/* and a context's race uses what the drop-in learned */
	{
		struct evhappy *he = evhappy_new(f.base, dns);
		struct he_test_res x;
		ck_assert_ptr_nonnull(he);
		he_test_resolve(he, AF_UNSPEC, "svc.test", port, &x);
		x.close_fd = 1;
		he_test_run_until(f.base, HE_TEST_UP(3000), &x.calls);
		ck_assert_int_eq(x.calls, 1);
		ck_assert_int_ge(x.fd, 0);
		ck_assert_msg(x.ms <= HE_TEST_UP(100),
		    "context after the drop-in: %lld ms", (long long)x.ms);
		evhappy_free(he);
	}

	he_test_run_until(f.base, 10, NULL);
	close(lfd);
	he_lab_blackhole_free(bh);
	evdns_base_free(dns, 0);
	he_lab_dns_free(d);
	he_test_fx_end(&f);
}
END_TEST

/* Races on two event_bases in two threads at once, each with its own
   context, all against one black hole and one listener: the shared store
   takes them all (ASan, valgrind and TSan builds check the locking), and
   each thread's later connects are fast. */
struct thread_race {
	const struct evutil_addrinfo *list;
	int64_t slowest_late;	/* the slowest of connects 2.. in ms */
	int failed;
};

static void *
thread_races(void *p)
{
	struct thread_race *t = p;
	struct event_base *base = event_base_new();
	struct evhappy *he = base ? evhappy_new(base, NULL) : NULL;
	int i;

	if (!he) {
		t->failed = 1;
		goto end;
	}
	for (i = 0; i < 4; i++) {
		/* no Check here: this is not the test's thread */
		struct he_test_res x;

		he_test_res_init(&x);
		x.close_fd = 1;
		x.t0 = he_test_now_ms();
		if (!evhappy_start_connection(he, t->list, he_test_conn_cb,
		    &x)) {
			t->failed = 1;
			break;
		}
		while (!x.calls)
			event_base_loop(base, EVLOOP_ONCE);
		if (x.fd < 0) {
			t->failed = 1;
			break;
		}
		if (i > 0 && x.ms > t->slowest_late)
			t->slowest_late = x.ms;
	}
	evhappy_free(he);
end:
	if (base)
		event_base_free(base);
	return NULL;
}

START_TEST(test_threads_share_history)
{
	struct he_test_fx f;
	int i;
	struct evutil_addrinfo *l;
	struct thread_race t[2];
	pthread_t th[2];

	/* backlog 16: both threads' handshakes complete before accept */
	l = hole_then_listener(&f);
	memset(t, 0, sizeof(t));
	for (i = 0; i < 2; i++) {
		t[i].list = l;
		ck_assert_int_eq(pthread_create(&th[i], NULL, thread_races,
		    &t[i]), 0);
	}
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(t[i].failed, 0);
		ck_assert_msg(t[i].slowest_late <= HE_TEST_UP(100),
		    "thread %d: a later connect took %lld ms", i,
		    (long long)t[i].slowest_late);
	}
	evhappy_addrinfo_free(l);
	{
		evutil_socket_t c;
		while ((c = accept(f.at[1].fd, NULL, NULL)) >= 0)
			close(c);
	}
	he_test_fx_end(&f);
}
END_TEST

START_TEST(test_set_history_args)
{
	struct he_test_fx f;

	he_test_fx_begin(&f);
	ck_assert_int_eq(evhappy_set_history(f.he, 0), 0);
	ck_assert_int_eq(evhappy_set_history(f.he, 1), 0);
	errno = 0;
	ck_assert_int_eq(evhappy_set_history(f.he, 2), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(evhappy_set_history(NULL, 1), -1);
	ck_assert_int_eq(errno, EINVAL);
	evhappy_clear_history(NULL);
	he_test_fx_end(&f);
}
END_TEST

Suite *
he_test_suite(void)
{
	const struct he_test_def tests[] = {
		HE_TCASE("store", 30),

		HE_TEST(test_store_rtt_smoothing),
		HE_TEST(test_store_verdicts),
		HE_TEST(test_store_expiry),
		HE_TEST(test_store_lru),
		HE_TEST(test_store_threads),
		HE_TEST(test_delay_rule),

		HE_TCASE_FX("rules", 10, setup_rules, teardown_rules),
		HE_TEST(test_rules_black_hole),
		HE_TEST(test_rules_off),
		HE_TEST(test_rules_v6_keeps_winning),
		HE_TEST(test_rules_rtt_order),
		HE_TEST(test_rules_hung_threshold),
		HE_TEST(test_rules_all_black_holes),
		HE_TEST(test_rules_repaired),
		HE_TEST(test_rules_suspect_alone_first),
		HE_TEST(test_rules_hostile_list_keeps_history),
		HE_TEST(test_store_keeps_what_was_relied_on),

		HE_TCASE("loopback", 30),
		HE_TEST(test_loopback_black_hole),
		HE_TEST(test_dropin_shares_history),
		HE_TEST(test_threads_share_history),
		HE_TEST(test_set_history_args),
	};

	return he_test_suite_of("history", tests, HE_TEST_N(tests));
}
