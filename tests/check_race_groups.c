/*
 * The race core's rules for HTTPS records and NAT64 (he_race.h: groups,
 * the HTTPS record's wait, hints, identity), on a fake clock, driven as the
 * glue drives the core.  No sockets, no sleeping.
 */
#include "he_coredrive.h"
#include "he_race.h"
#include "he_testutil.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#define T0 ((int64_t)5000 * 1000000)
#define US(ms) ((int64_t)(ms) * 1000)
#define PORT 443

static void
race_init(struct he_race *r)
{
	he_drive_init(r, 128, 30000, 0);
	r->cfg.no_notes = 1;
}

/* An entry for a literal, in group g, flags as given. */
static struct evutil_addrinfo *
entry(const char *lit, int port, unsigned g, int flags)
{
	struct evutil_addrinfo *ai = he_test_ai(lit, port);

	ck_assert_ptr_nonnull(ai);
	HE_AI_META(ai)->group = (uint16_t)g;
	HE_AI_META(ai)->flags = (uint8_t)flags;
	return ai;
}

/* A list of "lit lit ..." in group g. */
static struct evutil_addrinfo *
group_of(unsigned g, int flags, const char *lits)
{
	struct evutil_addrinfo *list = NULL;
	char buf[256], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", lits);
	for (tok = strtok_r(buf, " ", &save); tok;
	    tok = strtok_r(NULL, " ", &save))
		list = he_test_append(list, entry(tok, PORT, g, flags));
	return list;
}

/* The untried addresses as "lit lit ...". */
static const char *
untried_str(const struct he_race *r)
{
	static char buf[512];
	const struct evutil_addrinfo *ai;
	size_t n = 0;

	buf[0] = '\0';
	for (ai = r->untried; ai; ai = ai->ai_next)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s",
		    n ? " " : "", he_test_addr_str(ai->ai_addr));
	return buf;
}

/* The untried addresses with their ports and groups: "g:addr:port ...". */
static const char *
untried_at(const struct he_race *r)
{
	static char buf[512];
	const struct evutil_addrinfo *ai;
	char a[64];
	size_t n = 0;

	buf[0] = '\0';
	for (ai = r->untried; ai; ai = ai->ai_next) {
		evhappy_sockaddr_format(ai->ai_addr, a, sizeof(a));
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%u:%s",
		    n ? " " : "", (unsigned)HE_AI_META(ai)->group, a);
	}
	return buf;
}

/* The meta flags of the untried entry for lit. */
static int
flags_of(const struct he_race *r, const char *lit)
{
	const struct evutil_addrinfo *ai;

	for (ai = r->untried; ai; ai = ai->ai_next)
		if (!strcmp(he_test_addr_str(ai->ai_addr), lit))
			return HE_AI_META(ai)->flags;
	ck_abort_msg("%s is not untried", lit);
	return -1;
}

/* The next action must be a START; the address it starts. */
static const char *
started(struct he_race *r)
{
	struct he_action a;

	ck_assert_msg(he_race_next_action_(r, &a), "no action");
	ck_assert_int_eq(a.kind, HE_ACT_START);
	return he_test_addr_str(r->attempts[a.attempt].ai->ai_addr);
}

static void
none(struct he_race *r)
{
	struct he_action a;

	ck_assert_msg(!he_race_next_action_(r, &a), "unexpected action %d",
	    (int)a.kind);
}

/* What a race asks when it begins. */
enum { Q_V6 = 1, Q_V4 = 2, Q_HTTPS = 4 };

/* A race begun at T0 with the queries asked out, no address known yet. */
static void
begin(struct he_race *r, int queries)
{
	race_init(r);
	if (queries & Q_V6)
		he_race_expect_dns_(r, HE_FAM_V6);
	if (queries & Q_V4)
		he_race_expect_dns_(r, HE_FAM_V4);
	if (queries & Q_HTTPS)
		he_race_expect_https_(r);
	he_drive_begin(r, NULL, T0);
}

/* The host's own answer of family fam at T0 + ms: the addresses "lit lit
   ...", or (lits NULL) no such name. */
static void
host_answer(struct he_race *r, int ms, enum he_fam fam, const char *lits)
{
	he_drive_answer(r, NULL, T0 + US(ms), fam,
	    lits ? group_of(HE_GROUP_HOST, 0, lits) : NULL,
	    lits ? 0 : EVUTIL_EAI_NONAME);
}

/* The record comes at ms with one hint, which starts at once; the race
   is done with. */
static void
hint_starts(struct he_race *r, int ms, const char *lit)
{
	he_race_https_answer_(r, T0 + US(ms), group_of(1, HE_AI_HINT, lit));
	ck_assert_str_eq(started(r), lit);
	he_race_clear_(r);
}

/* Endpoints go in their order, the host's own addresses last; within each
   group RFC 6724 (here: IPv6 first) and interleaving. */
START_TEST(test_groups_order)
{
	struct he_race r;

	begin(&r, Q_V6 | Q_V4 | Q_HTTPS);
	he_race_https_answer_(&r, T0 + US(1), he_test_append(
	    group_of(2, HE_AI_HINT, "192.0.2.20 2001:db8::20"),
	    group_of(1, HE_AI_HINT, "192.0.2.10")));
	/* an IPv6 hint counts as a positive AAAA: the first starts at once */
	ck_assert_str_eq(started(&r), "192.0.2.10");
	ck_assert_str_eq(untried_str(&r), "2001:db8::20 192.0.2.20");
	host_answer(&r, 2, HE_FAM_V6, "2001:db8::1 2001:db8::2");
	host_answer(&r, 3, HE_FAM_V4, "192.0.2.1");
	ck_assert_str_eq(untried_str(&r), "2001:db8::20 192.0.2.20 "
	    "2001:db8::1 192.0.2.1 2001:db8::2");
	he_race_clear_(&r);
}
END_TEST

/* A positive address answer while the HTTPS record is out: the first start
   waits for the record at most the resolution delay; the record, when it
   comes within it, decides what goes first. */
START_TEST(test_https_wait)
{
	struct he_race r;

	begin(&r, Q_V6 | Q_HTTPS);
	host_answer(&r, 1, HE_FAM_V6, "2001:db8::1");
	none(&r);
	ck_assert_int_eq(he_race_next_wakeup_(&r), T0 + US(51));
	he_race_timer_(&r, T0 + US(30));
	none(&r);
	hint_starts(&r, 40, "2001:db8::10");

	/* the record never comes: the wait ends after the resolution delay */
	begin(&r, Q_V6 | Q_HTTPS);
	host_answer(&r, 1, HE_FAM_V6, "2001:db8::1");
	he_race_timer_(&r, T0 + US(50));
	none(&r);
	he_race_timer_(&r, T0 + US(51));
	ck_assert_str_eq(started(&r), "2001:db8::1");
	/* and a late record's hints join without delaying anything */
	he_race_https_answer_(&r, T0 + US(60), group_of(1, HE_AI_HINT,
	    "2001:db8::10"));
	none(&r);
	ck_assert_str_eq(untried_str(&r), "2001:db8::10");
	he_race_clear_(&r);

	/* an empty or failed record ends the wait at once */
	begin(&r, Q_V6 | Q_HTTPS);
	host_answer(&r, 1, HE_FAM_V6, "2001:db8::1");
	he_race_https_answer_(&r, T0 + US(5), NULL);
	ck_assert_str_eq(started(&r), "2001:db8::1");
	he_race_clear_(&r);
}
END_TEST

/* Hints start the race before A/AAAA: IPv6 hints at once, IPv4 hints
   alone wait for AAAA as an A answer does. */
START_TEST(test_hints_start)
{
	struct he_race r;

	begin(&r, Q_V6 | Q_V4 | Q_HTTPS);
	he_race_https_answer_(&r, T0 + US(1), group_of(1, HE_AI_HINT,
	    "192.0.2.10"));
	none(&r);
	ck_assert_int_eq(he_race_next_wakeup_(&r), T0 + US(51));
	he_race_timer_(&r, T0 + US(51));
	ck_assert_str_eq(started(&r), "192.0.2.10");
	he_race_clear_(&r);
}
END_TEST

/* A target's answer confirms its group's hints of that family: those it
   lacks are dropped, unless they already started; the others' are kept. */
START_TEST(test_confirm_hints)
{
	struct he_race r;
	struct evutil_addrinfo *answer;

	race_init(&r);
	he_race_expect_dns_(&r, HE_FAM_V4);
	he_race_expect_https_(&r);
	he_race_expect_target_(&r, 1);
	he_drive_begin(&r, NULL, T0);
	he_race_https_answer_(&r, T0 + US(1), he_test_append(
	    group_of(1, HE_AI_HINT, "2001:db8::10 2001:db8::11 192.0.2.10"),
	    group_of(2, HE_AI_HINT, "2001:db8::20")));
	ck_assert_str_eq(started(&r), "2001:db8::10");
	answer = group_of(1, 0, "2001:db8::12 2001:db8::11");
	/* ::10 started, ::11 confirmed, 192.0.2.10 another family, ::20
	   another group: nothing is dropped */
	ck_assert_int_eq(he_race_confirm_hints_(&r, 1, AF_INET6, answer), 0);
	ck_assert_int_eq(flags_of(&r, "2001:db8::11"), 0);
	ck_assert_int_eq(flags_of(&r, "2001:db8::20"), HE_AI_HINT);
	ck_assert_int_eq(flags_of(&r, "192.0.2.10"), HE_AI_HINT);
	he_race_target_answer_(&r, T0 + US(2), 1, answer);
	ck_assert_str_eq(untried_str(&r),
	    "192.0.2.10 2001:db8::11 2001:db8::12 2001:db8::20");
	/* an IPv4 answer without 192.0.2.10 drops it */
	ck_assert_int_eq(he_race_confirm_hints_(&r, 1, AF_INET, NULL), 1);
	ck_assert_str_eq(untried_str(&r),
	    "2001:db8::11 2001:db8::12 2001:db8::20");
	he_race_clear_(&r);
}
END_TEST

/* With no address yet, the race does not fail while the HTTPS record is
   out: its hints may be all there is. */
START_TEST(test_https_keeps_race_alive)
{
	struct he_race r;

	begin(&r, Q_V6 | Q_V4 | Q_HTTPS);
	host_answer(&r, 1, HE_FAM_V6, NULL);
	host_answer(&r, 2, HE_FAM_V4, NULL);
	ck_assert(!r.done);
	none(&r);
	hint_starts(&r, 3, "192.0.2.10");

	/* and fails as before once the record brought nothing either */
	begin(&r, Q_V4 | Q_HTTPS);
	host_answer(&r, 1, HE_FAM_V4, NULL);
	ck_assert(!r.done);
	he_race_https_answer_(&r, T0 + US(2), NULL);
	ck_assert(r.done);
	ck_assert_int_eq(r.error, EHOSTUNREACH);
	ck_assert_int_eq(r.dns_failure, EVUTIL_EAI_NONAME);
	he_race_clear_(&r);
}
END_TEST

/* Once the record came, the host's own addresses wait for its endpoints'
   targets (they go after every endpoint's), and an endpoint waits for one
   of higher priority; both at most the resolution delay, and each target
   counts as answered only when both its AAAA and A came. */
START_TEST(test_targets_wait)
{
	struct he_race r;

	begin(&r, Q_V4 | Q_HTTPS);
	he_race_expect_target_(&r, 1);	/* its AAAA */
	he_race_expect_target_(&r, 1);	/* its A */
	he_race_expect_target_(&r, 2);
	he_race_https_answer_(&r, T0 + US(1), NULL);
	host_answer(&r, 2, HE_FAM_V4, "192.0.2.1");
	none(&r);			/* the host's own waits */
	he_race_target_answer_(&r, T0 + US(3), 2,
	    group_of(2, 0, "192.0.2.20"));
	none(&r);			/* group 2 waits for group 1 */
	he_race_target_answer_(&r, T0 + US(4), 1, NULL);	/* AAAA: none */
	none(&r);			/* its A is still out */
	ck_assert_int_eq(he_race_next_wakeup_(&r), T0 + US(51));
	he_race_target_answer_(&r, T0 + US(5), 1,
	    group_of(1, 0, "192.0.2.10"));
	ck_assert_str_eq(started(&r), "192.0.2.10");
	ck_assert_str_eq(untried_str(&r), "192.0.2.20 192.0.2.1");
	he_race_clear_(&r);

	/* a target that never answers holds nothing past the bound */
	begin(&r, Q_V4 | Q_HTTPS);
	he_race_expect_target_(&r, 1);
	he_race_https_answer_(&r, T0 + US(10), NULL);
	host_answer(&r, 20, HE_FAM_V4, "192.0.2.1");
	none(&r);
	ck_assert_int_eq(he_race_next_wakeup_(&r), T0 + US(60));
	he_race_timer_(&r, T0 + US(60));
	ck_assert_str_eq(started(&r), "192.0.2.1");
	/* an answer for no target expected is dropped */
	he_race_target_answer_(&r, T0 + US(70), 4,
	    group_of(3, 0, "192.0.2.30"));
	ck_assert_str_eq(untried_str(&r), "");
	he_race_clear_(&r);
}
END_TEST

/* A record whose endpoint is the host itself, after the host's answers
   came: its untried addresses at the endpoint's port move into the
   endpoint (and go first); at another port every address known, tried or
   not, is copied into it. */
START_TEST(test_endpoint_from_host)
{
	struct he_race r;

	begin(&r, Q_V6 | Q_V4);
	host_answer(&r, 1, HE_FAM_V6, "2001:db8::1 2001:db8::2");
	ck_assert_str_eq(started(&r), "2001:db8::1");
	host_answer(&r, 2, HE_FAM_V4, "192.0.2.1");
	he_race_endpoint_from_host_(&r, 2, 8443);
	he_race_endpoint_from_host_(&r, 1, PORT);
	/* group 1 (moved: port 443; first, so it goes on alternating from
	   the started IPv6), group 2 (copies at 8443, of the started one
	   too), nothing left in the host's */
	ck_assert_str_eq(untried_at(&r), "1:192.0.2.1:443 1:[2001:db8::2]:443 "
	    "2:[2001:db8::2]:8443 2:192.0.2.1:8443 2:[2001:db8::1]:8443");
	/* again: nothing new (each address and port is tried once) */
	he_race_endpoint_from_host_(&r, 2, 8443);
	he_race_endpoint_from_host_(&r, 1, PORT);
	ck_assert_str_eq(untried_at(&r), "1:192.0.2.1:443 1:[2001:db8::2]:443 "
	    "2:[2001:db8::2]:8443 2:192.0.2.1:8443 2:[2001:db8::1]:8443");
	he_race_clear_(&r);
}
END_TEST

/* A NAT64 address standing for v4. */
static struct evutil_addrinfo *
synth(const char *v6, const char *v4)
{
	struct evutil_addrinfo *ai;
	struct sockaddr_in6 sin6 = he_test_sin6(v6, PORT);
	struct sockaddr_in sin = he_test_sin(v4, PORT);

	ck_assert_int_eq(he_addrinfo_new_synth_(&sin6, &sin, &ai), 0);
	ck_assert(HE_AI_META(ai)->flags & HE_AI_SYNTH);
	return ai;
}

/* One server, one identity: NAT64 addresses of one IPv4 address under two
   prefixes are tried once, and what a race teaches is about the IPv4
   address. */
START_TEST(test_identity)
{
	struct he_race r;
	struct he_lesson ls[HE_LESSONS_MAX];
	struct he_action a;

	race_init(&r);
	he_race_add_known_(&r, he_test_append(he_test_append(
	    synth("64:ff9b::c000:20a", "192.0.2.10"),
	    synth("2001:db8:64::c000:20a", "192.0.2.10")),
	    synth("64:ff9b::c000:20b", "192.0.2.11")));
	ck_assert_str_eq(untried_str(&r),
	    "64:ff9b::c000:20a 64:ff9b::c000:20b");
	he_drive_begin(&r, NULL, T0);
	ck_assert_str_eq(started(&r), "64:ff9b::c000:20a");
	ck_assert_int_eq(he_race_attempt_connected_(&r, T0 + US(5), 0), 1);
	ck_assert(he_race_next_action_(&r, &a));
	ck_assert_int_eq(a.kind, HE_ACT_DONE);
	ck_assert_int_eq(he_race_lessons_(&r, ls, HE_LESSONS_MAX), 1);
	ck_assert_int_eq(ls[0].sa->sa_family, AF_INET);
	ck_assert_str_eq(he_test_addr_str(ls[0].sa), "192.0.2.10");
	he_race_clear_(&r);
}
END_TEST

/* A synthesized hint of group g (NAT64: an ipv4hint on a host with no
   IPv4 route). */
static struct evutil_addrinfo *
synth_hint(const char *v6, const char *v4, unsigned g)
{
	struct evutil_addrinfo *ai = synth(v6, v4);

	HE_AI_META(ai)->group = (uint16_t)g;
	HE_AI_META(ai)->flags |= HE_AI_HINT;
	return ai;
}

/* Synthesized ipv4hints are IPv4 hints by identity: alone, they wait for
   AAAA as a positive A answer does; the target's AAAA answer leaves them
   alone; its A answer, synthesized alike, confirms them (and drops those
   it lacks); a hint the answer holds at another address goes, the
   answer's taking its place. */
START_TEST(test_confirm_synth_hints)
{
	struct he_race r;
	struct evutil_addrinfo *aaaa, *a;

	race_init(&r);
	he_race_expect_dns_(&r, HE_FAM_V6);
	he_race_expect_dns_(&r, HE_FAM_V4);
	he_race_expect_https_(&r);
	he_race_expect_target_(&r, 1);
	he_race_expect_target_(&r, 1);
	he_drive_begin(&r, NULL, T0);
	he_race_https_answer_(&r, T0 + US(1), he_test_append(he_test_append(
	    synth_hint("2001:db8:64::c000:20a", "192.0.2.10", 1),
	    synth_hint("2001:db8:64::c000:20b", "192.0.2.11", 1)),
	    entry("192.0.2.12", PORT, 1, HE_AI_HINT)));
	none(&r);
	ck_assert_int_eq(he_race_next_wakeup_(&r), T0 + US(51));
	/* the target's AAAA answer: not theirs to confirm */
	aaaa = group_of(1, 0, "2001:db8::12");
	ck_assert_int_eq(he_race_confirm_hints_(&r, 1, AF_INET6, aaaa), 0);
	ck_assert_int_eq(flags_of(&r, "2001:db8:64::c000:20a"),
	    HE_AI_HINT | HE_AI_SYNTH);
	ck_assert_int_eq(flags_of(&r, "2001:db8:64::c000:20b"),
	    HE_AI_HINT | HE_AI_SYNTH);
	he_race_target_answer_(&r, T0 + US(2), 1, aaaa);
	/* its A answer, synthesized: .10 confirmed, .11 lacking, .12 there
	   but synthesized (the hint was not) */
	a = he_test_append(synth("2001:db8:64::c000:20a", "192.0.2.10"),
	    synth("2001:db8:64::c000:20c", "192.0.2.12"));
	he_addrinfo_set_group_(a, 1);
	ck_assert_int_eq(he_race_confirm_hints_(&r, 1, AF_INET, a), 2);
	ck_assert_int_eq(flags_of(&r, "2001:db8:64::c000:20a"), HE_AI_SYNTH);
	he_race_target_answer_(&r, T0 + US(3), 1, a);
	ck_assert_str_eq(untried_str(&r),
	    "2001:db8:64::c000:20a 2001:db8::12 2001:db8:64::c000:20c");
	he_race_clear_(&r);
}
END_TEST

Suite *
he_test_suite(void)
{
	const struct he_test_def tests[] = {
		HE_TCASE("groups", 10),

		HE_TEST(test_groups_order),
		HE_TEST(test_https_wait),
		HE_TEST(test_hints_start),
		HE_TEST(test_confirm_hints),
		HE_TEST(test_confirm_synth_hints),
		HE_TEST(test_https_keeps_race_alive),
		HE_TEST(test_targets_wait),
		HE_TEST(test_endpoint_from_host),
		HE_TEST(test_identity),
	};

	return he_test_suite_of("race_groups", tests, HE_TEST_N(tests));
}
