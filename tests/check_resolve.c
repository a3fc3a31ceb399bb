/*
 * Resolution tests: AAAA and A in parallel (RFC 8305 section 3) against the
 * lab's fake DNS server, literals, argument checks, freeing with queries
 * outstanding, and the system resolver on helper threads.
 *
 * Every name resolves to loopback addresses, and the listeners of one test
 * share one port number on every address, so the family that wins shows
 * which path was taken.  Time windows are measured from the start call to
 * the callback; their upper bounds grow under valgrind (or with
 * HE_TEST_SLOW=N in the environment; see he_test_slow_factor()).
 *
 * Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif

#include "he_event.h"
#include "he_context.h"
#include "he_lab.h"
#include "he_testutil.h"
#include "he_testrec.h"

#include <check.h>

#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#define A_ EVDNS_TYPE_A
#define AAAA_ EVDNS_TYPE_AAAA

/* ------------------------------------------------------------------------ */
/* The fixture of every test (he_testutil.h): an event_base, the lab's fake
   DNS server, an evdns_base that asks only that server (none for the
   system resolver's tests), a context, and listeners on one port; made
   and checked (no fd left) around each test by Check. */

static struct he_test_fx fx;

static void
setup_dns(void)
{
	he_test_fx_begin_dns(&fx);
}

static void
setup_system(void)
{
	he_test_fx_begin(&fx);
}

static void
teardown(void)
{
	he_test_fx_end(&fx);
}

/* The listeners of most tests. */
static const struct he_test_listen_spec both_accept[] = {
	{ HE_TEST_ACCEPT, "127.0.0.1" }, { HE_TEST_ACCEPT, "::1" }
};

/* For the tests that do not need IPv6: they run without it. */
static const struct he_test_listen_spec v4_accept[] = {
	{ HE_TEST_ACCEPT, "127.0.0.1" }
};

static void
dns_add(const char *name, int type, const char *addr)
{
	ck_assert_int_eq(he_lab_dns_add(fx.dns, name, type, addr), 0);
}

/* name has the A record 127.0.0.1 and the AAAA record ::1. */
static void
dns_loopbacks(const char *name)
{
	dns_add(name, A_, "127.0.0.1");
	dns_add(name, AAAA_, "::1");
}

static void
dns_set(const char *name, int type, enum he_lab_dns_mode mode, int delay_ms)
{
	ck_assert_int_eq(he_lab_dns_set(fx.dns, name, type, mode, delay_ms), 0);
}

/* ------------------------------------------------------------------------ */
/* Racing on a bufferevent (struct he_test_bres) */

/* How: through a context, the drop-in, or libevent's own call. */
enum { M_CTX, M_SOCKET, M_LIBEVENT };

static struct bufferevent *
bev_start(struct he_test_bres *r, int mode, int family, const char *host)
{
	struct bufferevent *bev = he_test_bev_new(fx.base, r);
	int rc;

	r->t0 = he_test_now_ms();
	switch (mode) {
	case M_CTX:
		rc = evhappy_connect_hostname(fx.he, bev, family, host,
		    fx.port);
		break;
	case M_SOCKET:
		r->dns_getter = evhappy_socket_get_dns_error;
		rc = evhappy_socket_connect_hostname(bev, fx.dnsb, family,
		    host, fx.port);
		break;
	default:
		r->dns_getter = bufferevent_socket_get_dns_error;
		rc = bufferevent_socket_connect_hostname(bev, fx.dnsb, family,
		    host, fx.port);
		break;
	}
	ck_assert_msg(rc == 0, "connect to %s failed at once: %s", host,
	    strerror(errno));
	if (mode != M_LIBEVENT)
		ck_assert_msg(r->calls == 0, "called back from the start call");
	return bev;
}

/* Run until r's callback within max_ms (and a little longer, to see that
   no second one comes). */
static void
wait_one(int *calls, const char *host, int max_ms)
{
	he_test_run_until(fx.base, max_ms, calls);
	ck_assert_msg(*calls == 1, "%s: no callback within %d ms", host,
	    max_ms);
	he_test_run_until(fx.base, 20, NULL);
	ck_assert_int_eq(*calls, 1);
}

/* Start, wait for the one event, and return the bufferevent. */
static struct bufferevent *
bev_race(struct he_test_bres *r, int mode, int family, const char *host,
    int max_ms)
{
	struct bufferevent *bev = bev_start(r, mode, family, host);

	wait_one(&r->calls, host, max_ms);
	return bev;
}

/* ------------------------------------------------------------------------ */
/* Racing to a socket, with its report (struct he_test_res; the socket is
   closed in the callback, after its peer was noted) */

static struct evhappy_request *
req_start(struct he_test_res *r, int family, const char *host)
{
	struct evhappy_request *req = he_test_resolve(fx.he, family, host,
	    fx.port, r);

	r->close_fd = 1;
	return req;
}

static void
req_race(struct he_test_res *r, int family, const char *host, int max_ms)
{
	req_start(r, family, host);
	wait_one(&r->calls, host, max_ms);
}

/* The family of attempt i. */
static int
fam(const struct he_test_res *r, int i)
{
	return r->addr[i].ss_family;
}

/* When attempt i started, in ms since the race began. */
static int64_t
started(const struct he_test_res *r, int i)
{
	return he_test_ms_of(&r->started[i]);
}

/* ------------------------------------------------------------------------ */
/* How each family's answer comes, and what the race makes of it (RFC 8305
   sections 3 and 5): a table, one row a scenario, run by test_answers. */

static const struct he_test_listen_spec v4hole_v6accept[] = {
	{ HE_TEST_HOLE, "127.0.0.1" }, { HE_TEST_ACCEPT, "::1" }
};

/* One family's answer from the fake server. */
struct answer {
	enum he_lab_dns_mode mode;
	int delay_ms;
	int record;	/* the family's loopback address; 0: NOERROR, empty */
};

#define REC(ms) { HE_LAB_ANSWER, (ms), 1 }
#define NODATA { HE_LAB_ANSWER, 0, 0 }
#define FAILS(mode) { (mode), 0, 0 }
#define LISTEN(s) (s), (int)(sizeof(s) / sizeof((s)[0]))

enum { ON_REQUEST, ON_BEV };

struct answer_case {
	const char *host;
	struct answer aaaa, a;
	const struct he_test_listen_spec *listen;
	int nlisten;
	int on;				/* ON_BEV: evhappy_connect_hostname */
	int resolution_delay_ms, timeout_ms;	/* 0: the default */
	/* what must come of it */
	int family;			/* the winner's; AF_UNSPEC: fails with err */
	int err, dnserr;
	int min_ms, max_ms;		/* from the start call to the outcome */
	/* ON_REQUEST only: the families of the attempts in order ("46": IPv4
	   then IPv6; NULL: not checked), and when the first two started */
	const char *attempts;
	int start_ms[2][2];		/* {0, 0}: not checked */
};

/* Rows that need no IPv6 first: check_resolve runs those, check_resolve6
   the rest (answer_needs_v6). */
static const struct answer_case answer_cases[] = {
	/* NXDOMAIN for both: EHOSTUNREACH, and the DNS error EAI_NONAME (what
	   evdns_getaddrinfo gives for NXDOMAIN), kept until the next connect */
	{ "gone.test", FAILS(HE_LAB_NXDOMAIN), FAILS(HE_LAB_NXDOMAIN),
	  LISTEN(v4_accept), ON_BEV, 0, 0,
	  AF_UNSPEC, EHOSTUNREACH, EVUTIL_EAI_NONAME, 0, 100, NULL, { { 0 } } },
	/* a SERVFAIL for AAAA ends the resolution delay at once */
	{ "sf6.test", FAILS(HE_LAB_SERVFAIL), REC(0),
	  LISTEN(v4_accept), ON_BEV, 0, 0,
	  AF_INET, 0, 0, 0, 45, NULL, { { 0 } } },
	/* so does an empty AAAA answer */
	{ "v4only.test", NODATA, REC(0),
	  LISTEN(v4_accept), ON_REQUEST, 0, 0,
	  AF_INET, 0, 0, 0, 45, "4", { { 0 } } },
	/* AAAA never answered: IPv4 after the 50 ms resolution delay */
	{ "drop6.test", FAILS(HE_LAB_DROP), REC(0),
	  LISTEN(v4_accept), ON_BEV, 0, 0,
	  AF_INET, 0, 0, 45, 150, NULL, { { 0 } } },
	/* neither answered, overall timeout 300 ms: ETIMEDOUT, DNS error
	   EAI_AGAIN (evdns itself would give up only after 1 s) */
	{ "void.test", FAILS(HE_LAB_DROP), FAILS(HE_LAB_DROP),
	  LISTEN(v4_accept), ON_BEV, 0, 300,
	  AF_UNSPEC, ETIMEDOUT, EVUTIL_EAI_AGAIN, 290, 450, NULL, { { 0 } } },
	{ "void-report.test", FAILS(HE_LAB_DROP), FAILS(HE_LAB_DROP),
	  LISTEN(v4_accept), ON_REQUEST, 0, 300,
	  AF_UNSPEC, ETIMEDOUT, EVUTIL_EAI_AGAIN, 290, 450, "", { { 0 } } },

	/* AAAA 500 ms late, A at once: IPv4 connects after the 50 ms
	   resolution delay instead of waiting for AAAA */
	{ "slow6.test", REC(500), REC(0),
	  LISTEN(both_accept), ON_BEV, 0, 0,
	  AF_INET, 0, 0, 45, 120, NULL, { { 0 } } },
	{ "slow6-report.test", REC(500), REC(0),
	  LISTEN(both_accept), ON_REQUEST, 0, 0,
	  AF_INET, 0, 0, 45, 120, "4", { { 45, 120 } } },
	/* A 500 ms late, AAAA at once: IPv6 connects at once */
	{ "slow4.test", REC(0), REC(500),
	  LISTEN(both_accept), ON_BEV, 0, 0,
	  AF_INET6, 0, 0, 0, 60, NULL, { { 0 } } },
	/* AAAA 100 ms late, IPv4 a black hole, a resolution delay of 150 ms:
	   the AAAA answer ends the wait, and IPv4 is never tried */
	{ "late6.test", REC(100), REC(0),
	  LISTEN(v4hole_v6accept), ON_REQUEST, 150, 0,
	  AF_INET6, 0, 0, 95, 200, "6", { { 0 } } },
	/* the same with the default 50 ms: IPv4 starts and hangs; the late
	   AAAA joins the race when it arrives (had it come in time it would
	   have gone first), without waiting an attempt delay, and wins */
	{ "late6-join.test", REC(100), REC(0),
	  LISTEN(v4hole_v6accept), ON_REQUEST, 0, 0,
	  AF_INET6, 0, 0, 95, 200, "46", { { 45, 120 }, { 95, 160 } } },
	/* one family fails or never answers: the other wins at once */
	{ "sf4.test", REC(0), FAILS(HE_LAB_SERVFAIL),
	  LISTEN(both_accept), ON_REQUEST, 0, 0,
	  AF_INET6, 0, 0, 0, 60, NULL, { { 0 } } },
	{ "nx4.test", REC(0), FAILS(HE_LAB_NXDOMAIN),
	  LISTEN(both_accept), ON_REQUEST, 0, 0,
	  AF_INET6, 0, 0, 0, 60, NULL, { { 0 } } },
	{ "drop4.test", REC(0), FAILS(HE_LAB_DROP),
	  LISTEN(both_accept), ON_REQUEST, 0, 0,
	  AF_INET6, 0, 0, 0, 60, NULL, { { 0 } } },
};

#define N_ANSWER_CASES \
	((int)(sizeof(answer_cases) / sizeof(answer_cases[0])))

static int
answer_needs_v6(const struct answer_case *c)
{
	int i;

	for (i = 0; i < c->nlisten; i++)
		if (strchr(c->listen[i].addr, ':'))
			return 1;
	return 0;
}

/* The first row that needs IPv6: the table's two halves. */
static int
answer_first_v6(void)
{
	int i = 0, j;

	while (i < N_ANSWER_CASES && !answer_needs_v6(&answer_cases[i]))
		i++;
	for (j = i; j < N_ANSWER_CASES; j++)
		if (!answer_needs_v6(&answer_cases[j]))
			abort();	/* the table is out of order */
	return i;
}

static void
answer_serve(const char *host, int type,
    const struct answer *a)
{
	if (a->record)
		dns_add(host, type, type == AAAA_ ? "::1" : "127.0.0.1");
	if (a->mode != HE_LAB_ANSWER || a->delay_ms)
		dns_set(host, type, a->mode, a->delay_ms);
}

static void
answer_setup(const struct answer_case *c)
{
	struct timeval tv;

	he_test_fx_listen(&fx, c->listen, c->nlisten);
	if (c->resolution_delay_ms) {
		he_test_tv(&tv, c->resolution_delay_ms);
		ck_assert_int_eq(evhappy_set_resolution_delay(fx.he, &tv), 0);
	}
	if (c->timeout_ms) {
		he_test_tv(&tv, c->timeout_ms);
		ck_assert_int_eq(evhappy_set_timeout(fx.he, &tv), 0);
	}
	answer_serve(c->host, AAAA_, &c->aaaa);
	answer_serve(c->host, A_, &c->a);
}

/* What a row's race came to, through either call. */
struct answer_outcome {
	int family;		/* the peer's; AF_UNSPEC when it failed */
	int err, dnserr;
	int dnserr_after;	/* the DNS error getter after the callback */
	int64_t ms;
	char peer[64];
};

static void
answer_on_bev(const struct answer_case *c,
    struct answer_outcome *o)
{
	struct he_test_bres r;
	struct bufferevent *bev;

	bev = bev_race(&r, M_CTX, AF_UNSPEC, c->host, 3000);
	ck_assert_msg(!(r.what & BEV_EVENT_CONNECTED) !=
	    !(r.what & BEV_EVENT_ERROR), "%s: event 0x%x", c->host, r.what);
	o->family = r.what & BEV_EVENT_CONNECTED ? r.peer_family : AF_UNSPEC;
	o->err = r.what & BEV_EVENT_CONNECTED ? 0 : r.err;
	o->dnserr = r.dns;
	o->dnserr_after = evhappy_get_dns_error(bev);
	o->ms = r.ms;
	memcpy(o->peer, r.peer, sizeof(o->peer));
	bufferevent_free(bev);
}

/* The report's attempts: the families in order, the winner's error 0 and
   every other one cancelled, and when the first two started. */
static void
answer_check_attempts(const struct answer_case *c, const struct he_test_res *r)
{
	int i, n = (int)strlen(c->attempts);

	ck_assert_msg(r->natt == n, "%s: %d attempts, want %d: %s", c->host,
	    r->natt, n, r->fmt);
	for (i = 0; i < n; i++) {
		int want = c->attempts[i] == '6' ? AF_INET6 : AF_INET;
		int err = c->family != AF_UNSPEC && i == n - 1 ? 0 : ECANCELED;
		ck_assert_msg(fam(r, i) == want && r->aerr[i] == err,
		    "%s: attempt %d: %s", c->host, i, r->fmt);
	}
	for (i = 0; i < 2 && i < n; i++) {
		if (!c->start_ms[i][1])
			continue;
		ck_assert_msg(started(r, i) >= c->start_ms[i][0] &&
		    started(r, i) < HE_TEST_UP(c->start_ms[i][1]),
		    "%s: attempt %d started at %d ms, want %d..%d", c->host, i,
		    (int)started(r, i), c->start_ms[i][0], c->start_ms[i][1]);
	}
}

static void
answer_on_request(const struct answer_case *c,
    struct answer_outcome *o)
{
	struct he_test_res r;

	req_race(&r, AF_UNSPEC, c->host, 3000);
	ck_assert_msg((r.fd >= 0) == (r.error == 0), "%s: fd %d, error %d",
	    c->host, (int)r.fd, r.error);
	o->family = r.fd >= 0 ? r.peer_family : AF_UNSPEC;
	o->err = r.error;
	o->dnserr = o->dnserr_after = r.dns_error;
	o->ms = r.ms;
	memcpy(o->peer, r.peer, sizeof(o->peer));
	if (c->attempts)
		answer_check_attempts(c, &r);
}

START_TEST(test_answers)
{
	const struct answer_case *c = &answer_cases[_i];
	struct answer_outcome o;

	memset(&o, 0, sizeof(o));
	answer_setup(c);
	if (c->on == ON_BEV)
		answer_on_bev(c, &o);
	else
		answer_on_request(c, &o);
	ck_assert_msg(o.family == c->family && o.err == c->err,
	    "%s: peer family %d error %d (%s), want family %d error %d",
	    c->host, o.family, o.err, strerror(o.err), c->family, c->err);
	if (c->family != AF_UNSPEC)
		ck_assert_str_eq(o.peer,
		    c->family == AF_INET6 ? "::1" : "127.0.0.1");
	ck_assert_msg(o.dnserr == c->dnserr && o.dnserr_after == c->dnserr,
	    "%s: DNS error %d, then %d, want %d", c->host, o.dnserr,
	    o.dnserr_after, c->dnserr);
	ck_assert_msg(o.ms >= c->min_ms && o.ms < HE_TEST_UP(c->max_ms),
	    "%s: the outcome came after %d ms, want %d..%d", c->host,
	    (int)o.ms, c->min_ms, c->max_ms);
	/* One query a family: answered, failed or dropped, never repeated. */
	ck_assert_int_eq(he_lab_dns_queries(fx.dns, c->host, AAAA_), 1);
	ck_assert_int_eq(he_lab_dns_queries(fx.dns, c->host, A_), 1);
}
END_TEST

/* NXDOMAIN for both, through the report and the trace: one failed answer
   a family, no attempt. */
START_TEST(test_nxdomain_report)
{
	struct he_test_res r;
	struct he_test_tres t;

	he_test_fx_listen(&fx, v4_accept, 1);
	he_test_trace_on(fx.he, &t);
	/* Not configured at all: the server answers NXDOMAIN. */
	req_race(&r, AF_UNSPEC, "unknown.test", 3000);
	ck_assert_int_eq(r.fd, -1);
	ck_assert_int_eq(r.error, EHOSTUNREACH);
	ck_assert_int_ne(r.dns_error, 0);
	ck_assert_int_eq(r.dns_error, EVUTIL_EAI_NONAME);
	ck_assert_int_eq(r.natt, 0);
	/* One failed answer per family, with its error and no address. */
	ck_assert_int_eq(he_test_trace_count(&t, EVHAPPY_TRACE_DNS_ANSWER, AF_INET), 1);
	ck_assert_int_eq(he_test_trace_count(&t, EVHAPPY_TRACE_DNS_ANSWER, AF_INET6),
	    1);
	{
		int i4 = he_test_trace_find(&t, EVHAPPY_TRACE_DNS_ANSWER, AF_INET);
		int i6 = he_test_trace_find(&t, EVHAPPY_TRACE_DNS_ANSWER, AF_INET6);
		ck_assert_int_eq(t.ev[i4].naddrs, 0);
		ck_assert_int_eq(t.ev[i6].naddrs, 0);
		ck_assert_int_eq(t.ev[i4].error, EVUTIL_EAI_NONAME);
		ck_assert_int_eq(t.ev[i6].error, EVUTIL_EAI_NONAME);
	}
	ck_assert_int_eq(he_test_trace_count(&t, EVHAPPY_TRACE_ATTEMPT_START, -1), 0);
	ck_assert_int_eq(he_test_trace_count(&t, EVHAPPY_TRACE_DONE, -1), 1);
	ck_assert_int_eq(t.ev[t.n - 1].kind, EVHAPPY_TRACE_DONE);
	ck_assert_int_eq(t.ev[t.n - 1].error, EHOSTUNREACH);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Several addresses of each family */

/* A second IPv6 address that stays on this machine: the IPv4-mapped form
   of 127.0.0.2 (an AF_INET6 socket reaches 127.0.0.2 through it). */
#define MAPPED "::ffff:127.0.0.2"

static void
multi_names(void)
{
	dns_add("multi.test", AAAA_, "::1");
	dns_add("multi.test", AAAA_, MAPPED);
	dns_add("multi.test", A_, "127.0.0.1");
	dns_add("multi.test", A_, "127.0.0.3");
}

static int
has_addr(const struct he_test_res *r, const char *a)
{
	int i, n = 0;

	for (i = 0; i < r->natt && i < HE_TEST_MAXATT; i++)
		if (!strcmp(he_test_att_addr(r, i), a))
			n++;
	return n;
}

/* multi.test's listeners: every one refuses; the IPv6 ones are black
   holes. */
static const struct he_test_listen_spec several_labs[2][4] = {
	{ { HE_TEST_REFUSE, "::1" }, { HE_TEST_REFUSE, "127.0.0.2" },
	  { HE_TEST_REFUSE, "127.0.0.1" }, { HE_TEST_REFUSE, "127.0.0.3" } },
	{ { HE_TEST_HOLE, "::1" }, { HE_TEST_HOLE, "127.0.0.2" },
	  { HE_TEST_REFUSE, "127.0.0.1" }, { HE_TEST_REFUSE, "127.0.0.3" } },
};

/* multi.test's race with the listeners ls (4 of them): no winner, error
   err, no DNS error, four attempts with the families interleaved
   6,4,6,4. */
static void
several_race(const struct he_test_listen_spec *ls, struct he_test_res *r,
    int max_ms, int err)
{
	he_test_fx_listen(&fx, ls, 4);
	multi_names();
	req_race(r, AF_UNSPEC, "multi.test", max_ms);
	ck_assert_int_eq(r->fd, -1);
	ck_assert_msg(r->error == err, "error %d: %s", r->error, r->fmt);
	ck_assert_int_eq(r->dns_error, 0);
	ck_assert_msg(r->natt == 4, "%d attempts: %s", r->natt, r->fmt);
	ck_assert_msg(fam(r, 0) == AF_INET6 && fam(r, 1) == AF_INET &&
	    fam(r, 2) == AF_INET6 && fam(r, 3) == AF_INET,
	    "families %d,%d,%d,%d, want 6,4,6,4: %s",
	    fam(r, 0) == AF_INET6 ? 6 : 4, fam(r, 1) == AF_INET6 ? 6 : 4,
	    fam(r, 2) == AF_INET6 ? 6 : 4, fam(r, 3) == AF_INET6 ? 6 : 4,
	    r->fmt);
}

/* Two AAAA and two A records, every one refused: four attempts, one per
   address, families interleaved 6,4,6,4 (::1 sorts first by RFC 6724). */
START_TEST(test_several_refused_interleave)
{
	struct he_test_res r;
	struct he_test_tres t;

	he_test_trace_on(fx.he, &t);
	several_race(several_labs[0], &r, 3000, ECONNREFUSED);
	ck_assert_str_eq(he_test_att_addr(&r, 0), "::1");
	ck_assert_int_eq(has_addr(&r, MAPPED), 1);
	ck_assert_int_eq(has_addr(&r, "127.0.0.1"), 1);
	ck_assert_int_eq(has_addr(&r, "127.0.0.3"), 1);
	ck_assert_int_eq(r.aerr[0], ECONNREFUSED);
	ck_assert_int_eq(r.aerr[3], ECONNREFUSED);
	/* Each refusal lets the next start at once (10 ms apart at least). */
	ck_assert_msg(r.ms < HE_TEST_UP(200), "took %d ms", (int)r.ms);
	ck_assert_msg(started(&r, 1) - started(&r, 0) >= 9 &&
	    started(&r, 1) - started(&r, 0) < HE_TEST_UP(60),
	    "attempts %d ms apart, want 10..60",
	    (int)(started(&r, 1) - started(&r, 0)));
	/* The answers tell how many addresses each family had. */
	{
		int i4 = he_test_trace_find(&t, EVHAPPY_TRACE_DNS_ANSWER, AF_INET);
		int i6 = he_test_trace_find(&t, EVHAPPY_TRACE_DNS_ANSWER, AF_INET6);
		ck_assert_int_ge(i4, 0);
		ck_assert_int_ge(i6, 0);
		ck_assert_int_eq(t.ev[i4].naddrs, 2);
		ck_assert_int_eq(t.ev[i6].naddrs, 2);
	}
	ck_assert_int_eq(he_test_trace_count(&t, EVHAPPY_TRACE_ATTEMPT_START, -1), 4);
	ck_assert_int_eq(he_test_trace_count(&t, EVHAPPY_TRACE_ATTEMPT_FAILED, -1), 4);
}
END_TEST

/* The IPv6 addresses are black holes, the IPv4 ones refuse: the stagger
   starts attempts 250 ms apart unless one fails, families alternate, and
   the race ends with the overall timeout. */
START_TEST(test_several_blackholes_interleave)
{
	struct he_test_res r;
	struct timeval tv;

	he_test_tv(&tv, 900);
	ck_assert_int_eq(evhappy_set_timeout(fx.he, &tv), 0);
	several_race(several_labs[1], &r, 4000, ETIMEDOUT);
	ck_assert_int_eq(r.aerr[0], ETIMEDOUT);
	ck_assert_int_eq(r.aerr[1], ECONNREFUSED);
	ck_assert_int_eq(r.aerr[2], ETIMEDOUT);
	ck_assert_int_eq(r.aerr[3], ECONNREFUSED);
	/* ::1 at 0; IPv4 after the attempt delay; refused, so the mapped one
	   follows at once; the last IPv4 one attempt delay later. */
	ck_assert_msg(started(&r, 0) < HE_TEST_UP(60), "first at %d ms",
	    (int)started(&r, 0));
	ck_assert_msg(started(&r, 1) - started(&r, 0) >= 240 &&
	    started(&r, 1) - started(&r, 0) < HE_TEST_UP(330), "second %d ms later",
	    (int)(started(&r, 1) - started(&r, 0)));
	ck_assert_msg(started(&r, 2) - started(&r, 1) >= 9 &&
	    started(&r, 2) - started(&r, 1) < HE_TEST_UP(60), "third %d ms later",
	    (int)(started(&r, 2) - started(&r, 1)));
	ck_assert_msg(started(&r, 3) - started(&r, 2) >= 240 &&
	    started(&r, 3) - started(&r, 2) < HE_TEST_UP(330), "fourth %d ms later",
	    (int)(started(&r, 3) - started(&r, 2)));
	ck_assert_msg(r.ms >= 890 && r.ms < HE_TEST_UP(1100), "took %d ms",
	    (int)r.ms);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Literals and family restriction */

static int gai_calls;

static int
counting_gai(const char *node, const char *service,
    const struct evutil_addrinfo *hints, struct evutil_addrinfo **res)
{
	__atomic_fetch_add(&gai_calls, 1, __ATOMIC_SEQ_CST);
	return getaddrinfo(node, service, (const struct addrinfo *)hints,
	    (struct addrinfo **)res);
}

/* Literal hostnames connect without a query: no DNS_QUERY trace, nothing
   at the fake server, and the system resolver not called either. */
START_TEST(test_literals_not_resolved)
{
	static const char *const names[] = { "127.0.0.1", "::1", "[::1]" };
	static const int fams[] = { AF_INET, AF_INET6, AF_INET6 };
	struct he_test_tres t;
	int i, sys;

	/* evdns (the fixture), then the system resolver */
	for (sys = 0; sys < 2; sys++) {
		if (sys) {
			he_test_fx_end(&fx);
			he_test_fx_begin(&fx);
		}
		he_test_fx_listen(&fx, both_accept, 2);
		he_test_trace_on(fx.he, &t);
		__atomic_store_n(&gai_calls, 0, __ATOMIC_SEQ_CST);
		he_resolve_set_gai_hook_(counting_gai);
		for (i = 0; i < 3; i++) {
			struct he_test_bres br;
			struct he_test_res rr;
			struct bufferevent *bev;

			bev = bev_race(&br, M_CTX, AF_UNSPEC, names[i],
			    2000);
			ck_assert_msg(br.what & BEV_EVENT_CONNECTED,
			    "%s: event 0x%x err %d", names[i], br.what,
			    br.err);
			ck_assert_int_eq(br.peer_family, fams[i]);
			bufferevent_free(bev);

			req_race(&rr, AF_UNSPEC, names[i], 2000);
			ck_assert_msg(rr.fd >= 0, "%s: %s", names[i], rr.fmt);
			ck_assert_int_eq(rr.peer_family, fams[i]);
			ck_assert_int_eq(rr.natt, 1);
		}
		he_resolve_set_gai_hook_(NULL);
		ck_assert_int_eq(he_test_trace_count(&t, EVHAPPY_TRACE_DNS_QUERY, -1),
		    0);
		ck_assert_int_eq(__atomic_load_n(&gai_calls, __ATOMIC_SEQ_CST),
		    0);
		if (!sys)
			for (i = 0; i < 3; i++) {
				ck_assert_int_eq(he_lab_dns_queries(fx.dns,
				    names[i], A_), 0);
				ck_assert_int_eq(he_lab_dns_queries(fx.dns,
				    names[i], AAAA_), 0);
			}
	}
}
END_TEST

/* AF_INET asks only for A, AF_INET6 only for AAAA. */
START_TEST(test_family_restricts_queries)
{
	struct he_test_bres br;
	struct he_test_res rr;
	struct bufferevent *bev;
	struct he_test_tres t;

	he_test_fx_listen(&fx, both_accept, 2);
	he_test_trace_on(fx.he, &t);
	dns_loopbacks("four.test");
	dns_loopbacks("six.test");

	bev = bev_race(&br, M_CTX, AF_INET, "four.test", 2000);
	ck_assert_msg(br.what & BEV_EVENT_CONNECTED, "event 0x%x", br.what);
	ck_assert_int_eq(br.peer_family, AF_INET);
	bufferevent_free(bev);

	req_race(&rr, AF_INET6, "six.test", 2000);
	ck_assert_msg(rr.fd >= 0, "failed: %s", rr.fmt);
	ck_assert_int_eq(rr.peer_family, AF_INET6);

	he_test_run_until(fx.base, 50, NULL);
	ck_assert_int_eq(he_lab_dns_queries(fx.dns, "four.test", A_), 1);
	ck_assert_int_eq(he_lab_dns_queries(fx.dns, "four.test", AAAA_), 0);
	ck_assert_int_eq(he_lab_dns_queries(fx.dns, "six.test", AAAA_), 1);
	ck_assert_int_eq(he_lab_dns_queries(fx.dns, "six.test", A_), 0);
	ck_assert_int_eq(he_test_trace_count(&t, EVHAPPY_TRACE_DNS_QUERY, AF_INET), 1);
	ck_assert_int_eq(he_test_trace_count(&t, EVHAPPY_TRACE_DNS_QUERY, AF_INET6), 1);
}
END_TEST

/* AF_INET for a name that has only AAAA: no address, EHOSTUNREACH, and the
   IPv6 address is never used. */
START_TEST(test_family_no_address)
{
	struct he_test_res r;

	he_test_fx_listen(&fx, v4_accept, 1);
	dns_add("v6only.test", AAAA_, "::1");

	req_race(&r, AF_INET, "v6only.test", 3000);
	ck_assert_int_eq(r.fd, -1);
	ck_assert_int_eq(r.error, EHOSTUNREACH);
	ck_assert_int_ne(r.dns_error, 0);
	ck_assert_int_eq(r.natt, 0);
	ck_assert_int_eq(he_lab_dns_queries(fx.dns, "v6only.test", AAAA_), 0);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The trace of resolution */

START_TEST(test_trace_dns)
{
	struct he_test_res r;
	struct he_test_tres t;
	int q4, q6, a4, a6, i;

	he_test_fx_listen(&fx, both_accept, 2);
	he_test_trace_on(fx.he, &t);
	dns_add("trace.test", AAAA_, "::1");
	dns_add("trace.test", A_, "127.0.0.1");
	dns_add("trace.test", A_, "127.0.0.2");
	/* A first, AAAA within the resolution delay: both answers come
	   before any attempt. */
	dns_set("trace.test", AAAA_, HE_LAB_ANSWER, 20);

	req_race(&r, AF_UNSPEC, "trace.test", 2000);
	ck_assert_msg(r.fd >= 0, "failed: %s", r.fmt);
	ck_assert_str_eq(r.peer, "::1");

	ck_assert_int_eq(he_test_trace_count(&t, EVHAPPY_TRACE_DNS_QUERY, AF_INET), 1);
	ck_assert_int_eq(he_test_trace_count(&t, EVHAPPY_TRACE_DNS_QUERY, AF_INET6), 1);
	ck_assert_int_eq(he_test_trace_count(&t, EVHAPPY_TRACE_DNS_ANSWER, AF_INET), 1);
	ck_assert_int_eq(he_test_trace_count(&t, EVHAPPY_TRACE_DNS_ANSWER, AF_INET6),
	    1);
	q4 = he_test_trace_find(&t, EVHAPPY_TRACE_DNS_QUERY, AF_INET);
	q6 = he_test_trace_find(&t, EVHAPPY_TRACE_DNS_QUERY, AF_INET6);
	a4 = he_test_trace_find(&t, EVHAPPY_TRACE_DNS_ANSWER, AF_INET);
	a6 = he_test_trace_find(&t, EVHAPPY_TRACE_DNS_ANSWER, AF_INET6);
	ck_assert_int_lt(q4, a4);
	ck_assert_int_lt(q6, a6);
	ck_assert_int_lt(a4, a6);
	ck_assert_int_eq(t.ev[a4].naddrs, 2);
	ck_assert_int_eq(t.ev[a6].naddrs, 1);
	ck_assert_int_eq(t.ev[a4].error, 0);
	ck_assert_int_eq(t.ev[a6].error, 0);
	ck_assert_msg(t.ev[a6].us / 1000 >= 15 && t.ev[a6].us / 1000 < HE_TEST_UP(60),
	    "AAAA answer traced at %d ms", (int)t.ev[a6].us / 1000);
	/* The first attempt follows both answers, to ::1. */
	i = he_test_trace_find(&t, EVHAPPY_TRACE_ATTEMPT_START, AF_INET6);
	ck_assert_int_gt(i, a6);
	ck_assert_int_eq(he_test_trace_count(&t, EVHAPPY_TRACE_ATTEMPT_START, AF_INET),
	    0);
	ck_assert_str_eq(t.ev[i].addr, "::1");
	ck_assert_int_eq(he_test_trace_count(&t, EVHAPPY_TRACE_ATTEMPT_WON, -1), 1);
	ck_assert_int_eq(t.ev[t.n - 1].kind, EVHAPPY_TRACE_DONE);
	ck_assert_int_eq(t.ev[t.n - 1].error, 0);
}
END_TEST

/* A trace callback that cancels its race at the first event of one kind
   (for an answer: one with a single address). */
struct cancel_on {
	enum evhappy_trace_kind kind;
	struct evhappy_request *req;
	int hits;
};

static void
cancel_on_cb(const struct evhappy_trace *ev, void *arg)
{
	struct cancel_on *c = arg;

	if (ev->kind != c->kind || (ev->kind == EVHAPPY_TRACE_DNS_ANSWER &&
	    ev->naddrs != 1))
		return;
	c->hits++;
	evhappy_request_cancel(c->req);
}

/* Race for name (A 127.0.0.1, no AAAA) with c cancelling it: c fired
   once, and nobody is called back. */
static void
race_cancelled_by_trace(struct he_test_res *r, struct cancel_on *c,
    const char *name)
{
	he_test_fx_listen(&fx, v4_accept, 1);
	dns_add(name, A_, "127.0.0.1");
	evhappy_set_trace_cb(fx.he, cancel_on_cb, c);
	c->req = req_start(r, AF_UNSPEC, name);
	he_test_run_until(fx.base, 200, NULL);
	ck_assert_int_eq(c->hits, 1);
	ck_assert_int_eq(r->calls, 0);
}

/* Cancelled at its DNS_QUERY event: no query reaches the server, for that
   family or the other. */
START_TEST(test_trace_cancel_stops_queries)
{
	struct he_test_res r;
	struct cancel_on c = { EVHAPPY_TRACE_DNS_QUERY, NULL, 0 };

	race_cancelled_by_trace(&r, &c, "q.test");
	ck_assert_int_eq(he_lab_dns_queries(fx.dns, "q.test", A_), 0);
	ck_assert_int_eq(he_lab_dns_queries(fx.dns, "q.test", AAAA_), 0);
}
END_TEST

/* Cancelled when a one-address answer comes: that answer (kept in the
   race's own room, not allocated) is dropped with the race.  (Failed
   before: the glue freed that room as if it were a list entry.) */
START_TEST(test_trace_cancel_on_answer)
{
	struct he_test_res r;
	struct cancel_on c = { EVHAPPY_TRACE_DNS_ANSWER, NULL, 0 };

	race_cancelled_by_trace(&r, &c, "one.test");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Bad arguments: -1 / NULL at once, and no callback ever */

static void
req_never_cb(evutil_socket_t fd, const struct evhappy_report *rep, void *arg)
{
	int *calls = arg;

	(void)rep;
	(*calls)++;
	if (fd >= 0)
		evutil_closesocket(fd);
}

START_TEST(test_bad_arguments)
{
	struct he_test_bres r;
	struct bufferevent *bev, *pair[2], *connected;
	evutil_socket_t sp[2];
	int calls = 0, p;
	const char *n = "ok.test";

	he_test_fx_listen(&fx, v4_accept, 1);
	p = fx.port;
	dns_add(n, A_, "127.0.0.1");

	bev = he_test_bev_new(fx.base, &r);

	/* evhappy_connect_hostname */
	EXPECT_FAIL(evhappy_connect_hostname(fx.he, bev, AF_UNIX, n, p), EINVAL);
	EXPECT_FAIL(evhappy_connect_hostname(fx.he, bev, 12345, n, p), EINVAL);
	EXPECT_FAIL(evhappy_connect_hostname(fx.he, bev, -1, n, p), EINVAL);
	EXPECT_FAIL(evhappy_connect_hostname(fx.he, bev, AF_UNSPEC, n, 0), EINVAL);
	EXPECT_FAIL(evhappy_connect_hostname(fx.he, bev, AF_UNSPEC, n, -1), EINVAL);
	EXPECT_FAIL(evhappy_connect_hostname(fx.he, bev, AF_UNSPEC, n, 65536),
	    EINVAL);
	EXPECT_FAIL(evhappy_connect_hostname(fx.he, bev, AF_UNSPEC, NULL, p),
	    EINVAL);
	EXPECT_FAIL(evhappy_connect_hostname(fx.he, NULL, AF_UNSPEC, n, p), EINVAL);
	EXPECT_FAIL(evhappy_connect_hostname(NULL, bev, AF_UNSPEC, n, p), EINVAL);

	/* evhappy_socket_connect_hostname, with evdns and without */
	EXPECT_FAIL(evhappy_socket_connect_hostname(bev, fx.dnsb, AF_UNIX, n, p),
	    EINVAL);
	EXPECT_FAIL(evhappy_socket_connect_hostname(bev, fx.dnsb, AF_UNSPEC, n, 0),
	    EINVAL);
	EXPECT_FAIL(evhappy_socket_connect_hostname(bev, fx.dnsb, AF_UNSPEC, n,
	    65536), EINVAL);
	EXPECT_FAIL(evhappy_socket_connect_hostname(bev, fx.dnsb, AF_UNSPEC, NULL,
	    p), EINVAL);
	EXPECT_FAIL(evhappy_socket_connect_hostname(NULL, fx.dnsb, AF_UNSPEC, n, p),
	    EINVAL);
	EXPECT_FAIL(evhappy_socket_connect_hostname(bev, NULL, 12345, n, p),
	    EINVAL);
	EXPECT_FAIL(evhappy_socket_connect_hostname(bev, NULL, AF_UNSPEC, n,
	    70000), EINVAL);
	EXPECT_FAIL(evhappy_socket_connect_hostname(bev, NULL, AF_UNSPEC, NULL, p),
	    EINVAL);

	/* evhappy_resolve_and_connect */
	EXPECT_NULL(evhappy_resolve_and_connect(fx.he, AF_UNIX, n, p, req_never_cb,
	    &calls), EINVAL);
	EXPECT_NULL(evhappy_resolve_and_connect(fx.he, AF_UNSPEC, n, 0,
	    req_never_cb, &calls), EINVAL);
	EXPECT_NULL(evhappy_resolve_and_connect(fx.he, AF_UNSPEC, n, 65536,
	    req_never_cb, &calls), EINVAL);
	EXPECT_NULL(evhappy_resolve_and_connect(fx.he, AF_UNSPEC, NULL, p,
	    req_never_cb, &calls), EINVAL);
	EXPECT_NULL(evhappy_resolve_and_connect(fx.he, AF_UNSPEC, n, p, NULL,
	    &calls), EINVAL);
	EXPECT_NULL(evhappy_resolve_and_connect(NULL, AF_UNSPEC, n, p,
	    req_never_cb, &calls), EINVAL);

	/* A bufferevent kind that is not supported: a pair. */
	ck_assert_int_eq(bufferevent_pair_new(fx.base, 0, pair), 0);
	bufferevent_setcb(pair[0], NULL, NULL, he_test_bev_cb, &r);
	EXPECT_FAIL(evhappy_connect_hostname(fx.he, pair[0], AF_UNSPEC, n, p),
	    EINVAL);
	EXPECT_FAIL(evhappy_socket_connect_hostname(pair[0], fx.dnsb, AF_UNSPEC, n,
	    p), EINVAL);

	/* A bufferevent that already has a socket. */
	ck_assert_int_eq(evutil_socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	connected = bufferevent_socket_new(fx.base, sp[0],
	    BEV_OPT_CLOSE_ON_FREE);
	ck_assert_ptr_nonnull(connected);
	bufferevent_setcb(connected, NULL, NULL, he_test_bev_cb, &r);
	EXPECT_FAIL(evhappy_connect_hostname(fx.he, connected, AF_UNSPEC, n, p),
	    EISCONN);

	/* Nothing ever comes back, and nothing was asked. */
	he_test_run_until(fx.base, 150, NULL);
	ck_assert_int_eq(r.calls, 0);
	ck_assert_int_eq(calls, 0);
	ck_assert_int_eq(he_lab_dns_queries(fx.dns, n, A_), 0);
	ck_assert_int_eq(he_lab_dns_queries(fx.dns, n, AAAA_), 0);

	/* The rejected calls left bev as it was: a good call still works. */
	ck_assert_int_eq(evhappy_connect_hostname(fx.he, bev, AF_UNSPEC, n, p),
	    0);
	he_test_run_until(fx.base, 2000, &r.calls);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_msg(r.what & BEV_EVENT_CONNECTED, "event 0x%x", r.what);

	bufferevent_free(bev);
	bufferevent_free(pair[0]);
	bufferevent_free(pair[1]);
	bufferevent_free(connected);
	evutil_closesocket(sp[1]);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Freeing with queries outstanding */

static void
drop_all(const char *name)
{
	dns_add(name, A_, "127.0.0.1");
	dns_add(name, AAAA_, "::1");
	dns_set(name, A_, HE_LAB_DROP, 0);
	dns_set(name, AAAA_, HE_LAB_DROP, 0);
}

/* A request (into rr) and a bufferevent race (into br; returned) for a
   name whose queries are never answered, both waiting 50 ms. */
static struct bufferevent *
hang_both(struct he_test_res *rr, struct he_test_bres *br)
{
	struct bufferevent *bev;

	he_test_fx_listen(&fx, v4_accept, 1);
	drop_all("hang.test");
	req_start(rr, AF_UNSPEC, "hang.test");
	bev = bev_start(br, M_CTX, AF_UNSPEC, "hang.test");
	he_test_run_until(fx.base, 50, NULL);
	return bev;
}

/* bufferevent_free() while both queries are out: no callback, no fd, and
   (valgrind/ASan) no leak, for a context's race and for the drop-in. */
START_TEST(test_free_bev_during_queries)
{
	struct he_test_bres r, r2;
	struct bufferevent *bev, *bev2;

	he_test_fx_listen(&fx, v4_accept, 1);
	drop_all("hang.test");

	bev = bev_start(&r, M_CTX, AF_UNSPEC, "hang.test");
	bev2 = bev_start(&r2, M_SOCKET, AF_UNSPEC, "hang.test");
	he_test_run_until(fx.base, 50, NULL);
	ck_assert_int_eq(he_lab_dns_queries(fx.dns, "hang.test", A_), 2);
	ck_assert_int_eq(he_lab_dns_queries(fx.dns, "hang.test", AAAA_), 2);
	bufferevent_free(bev);
	bufferevent_free(bev2);
	/* The race notices within one attempt delay (250 ms); the drop-in's
	   private context has no other way to learn of it. */
	he_test_run_until(fx.base, 300, NULL);
	ck_assert_int_eq(r.calls, 0);
	ck_assert_int_eq(r2.calls, 0);
}
END_TEST

/* bufferevent_free() with one family's attempt in a black hole and the
   other family's query still out. */
START_TEST(test_free_bev_during_attempt_and_query)
{
	static const struct he_test_listen_spec ls[] = {
		{ HE_TEST_HOLE, "127.0.0.1" }
	};
	struct he_test_bres r;
	struct bufferevent *bev;
	int fds;

	he_test_fx_listen(&fx, ls, 1);
	dns_loopbacks("half.test");
	dns_set("half.test", AAAA_, HE_LAB_DROP, 0);

	fds = he_test_count_fds();
	bev = bev_start(&r, M_CTX, AF_UNSPEC, "half.test");
	he_test_run_until(fx.base, 120, NULL);
	/* The IPv4 attempt is running: one more socket than before. */
	ck_assert_int_gt(he_test_count_fds(), fds);
	bufferevent_free(bev);
	/* The race notices within one attempt delay (250 ms). */
	he_test_run_until(fx.base, 300, NULL);
	ck_assert_int_eq(r.calls, 0);
	ck_assert_int_eq(he_test_count_fds(), fds);
}
END_TEST

/* evhappy_free() with a bufferevent race and a request waiting for DNS. */
START_TEST(test_free_context_during_queries)
{
	struct he_test_bres r;
	struct he_test_res rr;
	struct bufferevent *bev = hang_both(&rr, &r);

	evhappy_free(fx.he);
	fx.he = NULL;
	he_test_run_until(fx.base, 100, NULL);
	ck_assert_int_eq(r.calls + rr.calls, 0);
	bufferevent_free(bev);
}
END_TEST

/* evhappy_request_cancel() with the queries out. */
START_TEST(test_cancel_during_queries)
{
	struct he_test_res rr;
	struct evhappy_request *req;

	he_test_fx_listen(&fx, v4_accept, 1);
	drop_all("hang.test");

	req = req_start(&rr, AF_UNSPEC, "hang.test");
	he_test_run_until(fx.base, 50, NULL);
	evhappy_request_cancel(req);
	he_test_run_until(fx.base, 100, NULL);
	ck_assert_int_eq(rr.calls, 0);
}
END_TEST

/* The evdns_base's lifetime (it must outlive the context).  The right
   order, with queries out: evhappy_free, a loop turn, evdns_base_free with
   either fail_requests: no callback, and (ASan/valgrind) nothing leaks. */
START_TEST(test_evdns_freed_after_context)
{
	struct he_test_res rr;
	struct he_test_bres br;
	struct bufferevent *bev;
	int fail;

	for (fail = 0; fail < 2; fail++) {
		if (fail) {
			he_test_fx_end(&fx);
			he_test_fx_begin_dns(&fx);
		}
		bev = hang_both(&rr, &br);
		ck_assert_int_eq(he_lab_dns_queries(fx.dns, "hang.test", A_), 2);
		evhappy_free(fx.he);
		fx.he = NULL;
		event_base_loop(fx.base, EVLOOP_NONBLOCK);
		evdns_base_free(fx.dnsb, fail);
		fx.dnsb = NULL;
		he_test_run_until(fx.base, 50, NULL);
		ck_assert_msg(rr.calls + br.calls == 0, "%d calls, %d events",
		    rr.calls, br.calls);
		bufferevent_free(bev);
	}
}
END_TEST

/* The wrong order made survivable: evdns_base_free(dns, 1) while races
   wait for answers.  The queries fail (EVUTIL_EAI_FAIL) on the next loop
   turn, the races end with EHOSTUNREACH, and the context is then freed
   safely.  (evdns_base_free(dns, 0) cannot be survived: libevent frees the
   queries without a word, and any later cancel reads freed memory.) */
START_TEST(test_evdns_freed_first_fail_requests)
{
	struct he_test_res rr;
	struct he_test_bres br;
	struct bufferevent *bev = hang_both(&rr, &br);

	evdns_base_free(fx.dnsb, 1);
	fx.dnsb = NULL;
	he_test_run_until(fx.base, 500, &rr.calls);
	he_test_run_until(fx.base, 500, &br.calls);
	ck_assert_int_eq(rr.calls, 1);
	ck_assert_int_eq(rr.error, EHOSTUNREACH);
	ck_assert_int_eq(rr.dns_error, EVUTIL_EAI_FAIL);
	ck_assert_int_eq(br.calls, 1);
	ck_assert_msg(br.what & BEV_EVENT_ERROR, "event 0x%x", br.what);
	ck_assert_int_eq(br.dns, EVUTIL_EAI_FAIL);
	evhappy_free(fx.he);
	fx.he = NULL;
	bufferevent_free(bev);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* evhappy_socket_connect_hostname: the drop-in, next to libevent's call */

START_TEST(test_socket_connect_hostname)
{
	struct he_test_bres r;
	struct bufferevent *bev;

	he_test_fx_listen(&fx, both_accept, 2);
	dns_loopbacks("both.test");

	/* libevent's own call, for reference. */
	bev = bev_race(&r, M_LIBEVENT, AF_UNSPEC, "both.test", 3000);
	ck_assert_msg(r.what & BEV_EVENT_CONNECTED, "libevent: event 0x%x",
	    r.what);
	bufferevent_free(bev);

	bev = bev_race(&r, M_SOCKET, AF_UNSPEC, "both.test", 3000);
	ck_assert_msg(r.what & BEV_EVENT_CONNECTED, "event 0x%x err %d",
	    r.what, r.err);
	ck_assert_int_eq(r.peer_family, AF_INET6);
	ck_assert_int_eq(r.dns, 0);
	ck_assert_int_eq(evhappy_socket_get_dns_error(bev), 0);
	bufferevent_free(bev);

	bev = bev_race(&r, M_SOCKET, AF_INET, "both.test", 3000);
	ck_assert_msg(r.what & BEV_EVENT_CONNECTED, "event 0x%x", r.what);
	ck_assert_int_eq(r.peer_family, AF_INET);
	bufferevent_free(bev);
}
END_TEST

START_TEST(test_socket_connect_hostname_nxdomain)
{
	struct he_test_bres r, lr;
	struct bufferevent *bev, *lbev;

	he_test_fx_listen(&fx, v4_accept, 1);

	lbev = bev_race(&lr, M_LIBEVENT, AF_UNSPEC, "nowhere.test", 3000);
	ck_assert_msg(lr.what & BEV_EVENT_ERROR, "libevent: event 0x%x",
	    lr.what);

	bev = bev_race(&r, M_SOCKET, AF_UNSPEC, "nowhere.test", 3000);
	ck_assert_msg(r.what & BEV_EVENT_ERROR, "event 0x%x", r.what);
	ck_assert_msg(!(r.what & BEV_EVENT_CONNECTED), "event 0x%x", r.what);
	ck_assert_int_eq(r.err, EHOSTUNREACH);
	ck_assert_int_eq(r.dns, EVUTIL_EAI_NONAME);
	ck_assert_int_eq(evhappy_socket_get_dns_error(bev), EVUTIL_EAI_NONAME);
	/* The same code libevent gives for the same answer. */
	ck_assert_int_eq(r.dns, lr.dns);
	ck_assert_int_eq(r.what, lr.what);

	bufferevent_free(bev);
	bufferevent_free(lbev);
}
END_TEST

/* The DNS error of a bev is valid until its next connect. */
START_TEST(test_dns_error_cleared_by_next_connect)
{
	struct he_test_bres r;
	struct bufferevent *bev;

	he_test_fx_listen(&fx, v4_accept, 1);
	dns_add("four.test", A_, "127.0.0.1");

	bev = bufferevent_socket_new(fx.base, -1, 0);
	ck_assert_ptr_nonnull(bev);
	he_test_bres_init(&r);
	bufferevent_setcb(bev, NULL, NULL, he_test_bev_cb, &r);
	ck_assert_int_eq(evhappy_connect_hostname(fx.he, bev, AF_UNSPEC,
	    "nowhere.test", fx.port), 0);
	he_test_run_until(fx.base, 3000, &r.calls);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(evhappy_get_dns_error(bev), EVUTIL_EAI_NONAME);

	he_test_bres_init(&r);
	ck_assert_int_eq(evhappy_connect_hostname(fx.he, bev, AF_UNSPEC,
	    "four.test", fx.port), 0);
	he_test_run_until(fx.base, 3000, &r.calls);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_msg(r.what & BEV_EVENT_CONNECTED, "event 0x%x", r.what);
	ck_assert_int_eq(r.dns, 0);
	ck_assert_int_eq(evhappy_get_dns_error(bev), 0);
	/* Opened without BEV_OPT_CLOSE_ON_FREE: the winner is ours. */
	evutil_closesocket(bufferevent_getfd(bev));
	bufferevent_free(bev);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The system resolver (dns_base NULL) */

static void
fx_listen_loopback(int v6)
{
	if (v6)
		he_test_fx_listen(&fx, both_accept, 2);
	else
		he_test_fx_listen(&fx, v4_accept, 1);
}

static int v6ok;

/* "localhost" from /etc/hosts, through getaddrinfo on helper threads. */
START_TEST(test_system_localhost)
{
	struct he_test_res rr;
	struct he_test_bres br;
	struct bufferevent *bev;
	struct he_test_tres t;

	fx_listen_loopback(v6ok);
	he_test_trace_on(fx.he, &t);

	req_race(&rr, AF_UNSPEC, "localhost", 5000);
	ck_assert_msg(rr.fd >= 0, "failed: %s", rr.fmt);
	ck_assert_msg(!strcmp(rr.peer, "127.0.0.1") || !strcmp(rr.peer, "::1"),
	    "connected to %s", rr.peer);
	ck_assert_int_eq(rr.error, 0);
	ck_assert_int_ge(he_test_trace_count(&t, EVHAPPY_TRACE_DNS_QUERY, -1), 1);

	bev = bev_race(&br, M_CTX, AF_UNSPEC, "localhost", 5000);
	ck_assert_msg(br.what & BEV_EVENT_CONNECTED, "event 0x%x err %d",
	    br.what, br.err);
	bufferevent_free(bev);

	bev = bev_race(&br, M_SOCKET, AF_INET, "localhost", 5000);
	ck_assert_msg(br.what & BEV_EVENT_CONNECTED, "event 0x%x err %d",
	    br.what, br.err);
	ck_assert_str_eq(br.peer, "127.0.0.1");
	bufferevent_free(bev);
}
END_TEST

/* The fixture's evdns_base reads hosts (a hosts file's text). */
static void
load_hosts(const char *hosts)
{
	char path[] = "/tmp/evhappy-hosts-XXXXXX";
	int fd = mkstemp(path);
	size_t len = strlen(hosts);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, hosts, len), (int)len);
	close(fd);
	ck_assert_int_eq(evdns_base_load_hosts(fx.dnsb, path), 0);
	unlink(path);
}

/* evdns answers names from its hosts table inside evdns_getaddrinfo(),
   before it returns: the race must take such an answer as it takes a late
   one (this once read a freed query). */
/* The same hosts table answering inside the start call, on a bufferevent
   whose callbacks are set only after evhappy_connect_hostname() returned
   (libevent allows that order: nothing is called back before the loop
   runs): exactly one event still comes, and nothing reads the request
   after it is gone (this read freed memory under ASan, and the race was
   dropped without an event). */
START_TEST(test_evdns_hosts_bev_callbacks_set_after)
{
	struct he_test_bres r;
	struct bufferevent *bev;

	load_hosts("127.0.0.1 fromhosts.test\n");
	fx_listen_loopback(0);
	he_test_bres_init(&r);
	r.t0 = he_test_now_ms();
	bev = bufferevent_socket_new(fx.base, -1, BEV_OPT_CLOSE_ON_FREE);
	ck_assert_ptr_nonnull(bev);
	ck_assert_int_eq(evhappy_connect_hostname(fx.he, bev, AF_INET,
	    "fromhosts.test", fx.port), 0);
	bufferevent_setcb(bev, NULL, NULL, he_test_bev_cb, &r);
	ck_assert_int_eq(r.calls, 0);
	he_test_run_until(fx.base, HE_TEST_UP(1000), &r.calls);
	he_test_run_until(fx.base, 20, NULL);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_msg(r.what & BEV_EVENT_CONNECTED, "event 0x%x, errno %d",
	    r.what, r.err);
	ck_assert_int_eq(he_lab_dns_queries(fx.dns, "fromhosts.test", A_), 0);
	bufferevent_free(bev);
}
END_TEST

START_TEST(test_evdns_hosts_answer_at_once)
{
	struct he_test_res rr;

	load_hosts("127.0.0.1 fromhosts.test\n::1 fromhosts.test\n");
	fx_listen_loopback(v6ok);

	req_race(&rr, AF_UNSPEC, "fromhosts.test", 3000);
	ck_assert_msg(rr.fd >= 0, "failed: %s", rr.fmt);
	ck_assert_msg(!strcmp(rr.peer, v6ok ? "::1" : "127.0.0.1"),
	    "connected to %s", rr.peer);
	ck_assert_msg(rr.ms < HE_TEST_UP(60), "took %d ms", (int)rr.ms);
	/* The hosts table answered: the server was never asked. */
	ck_assert_int_eq(he_lab_dns_queries(fx.dns, "fromhosts.test", A_), 0);
	ck_assert_int_eq(he_lab_dns_queries(fx.dns, "fromhosts.test", AAAA_), 0);
}
END_TEST

/* Whether this machine's getaddrinfo resolves "localhost" (a build chroot
   may have no /etc/hosts). */
static int localhost_ok;

static int
system_knows_localhost(void)
{
	struct addrinfo hints, *res = NULL;
	int ok;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	ok = getaddrinfo("localhost", NULL, &hints, &res) == 0;
	if (res)
		freeaddrinfo(res);
	return ok;
}

static int hook_sleep_ms;

static int
slow_gai(const char *node, const char *service,
    const struct evutil_addrinfo *hints, struct evutil_addrinfo **res)
{
	__atomic_fetch_add(&gai_calls, 1, __ATOMIC_SEQ_CST);
	he_test_sleep_ms(hook_sleep_ms);
	if (node && !strcmp(node, "nosuch.invalid"))
		return EAI_NONAME;
	if (node && !strcmp(node, "slow.test")) {
		/* A made-up name, so the test needs no /etc/hosts: it
		   answers the loopback address of the family asked. */
		struct addrinfo h = *(const struct addrinfo *)hints;
		h.ai_flags |= AI_NUMERICHOST;
		return getaddrinfo(h.ai_family == AF_INET6 ? "::1" :
		    "127.0.0.1", service, &h, (struct addrinfo **)res);
	}
	return getaddrinfo(node, service, (const struct addrinfo *)hints,
	    (struct addrinfo **)res);
}

#define MAXTICKS 512

struct ticks {
	int n;
	int64_t t[MAXTICKS];
};

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ticks *k = arg;

	(void)fd;
	(void)what;
	if (k->n < MAXTICKS)
		k->t[k->n++] = he_test_now_ms();
}

/* A 20 ms timer on the fixture's base, noting its ticks in k (cleared);
   event_free() it. */
static struct event *
ticking(struct ticks *k)
{
	struct event *tick;
	struct timeval tv;

	memset(k, 0, sizeof(*k));
	tick = event_new(fx.base, -1, EV_PERSIST, tick_cb, k);
	ck_assert_ptr_nonnull(tick);
	he_test_tv(&tv, 20);
	event_add(tick, &tv);
	return tick;
}

/* A lookup that takes 300 ms never stops the loop: a 20 ms timer keeps
   ticking on time through it, and the connect still succeeds. */
START_TEST(test_system_resolver_never_blocks)
{
	struct he_test_res rr;
	struct ticks k;
	struct event *tick;
	int64_t prev, gap = 0;
	int64_t limit = he_test_slow_factor() > 1 ? 150 : 60;
	int i, inside = 0;

	fx_listen_loopback(v6ok);
	tick = ticking(&k);

	hook_sleep_ms = 300;
	__atomic_store_n(&gai_calls, 0, __ATOMIC_SEQ_CST);
	he_resolve_set_gai_hook_(slow_gai);
	req_race(&rr, AF_UNSPEC, "slow.test", 5000);
	he_resolve_set_gai_hook_(NULL);
	event_free(tick);

	ck_assert_msg(rr.fd >= 0, "failed: %s", rr.fmt);
	ck_assert_int_ge(__atomic_load_n(&gai_calls, __ATOMIC_SEQ_CST), 1);
	ck_assert_msg(rr.ms >= 290 && rr.ms < HE_TEST_UP(450),
	    "connected after %d ms; the lookup sleeps 300", (int)rr.ms);
	prev = rr.t0;
	for (i = 0; i < k.n && k.t[i] <= rr.t0 + rr.ms; i++) {
		if (k.t[i] < rr.t0)
			continue;
		inside++;
		if (k.t[i] - prev > gap)
			gap = k.t[i] - prev;
		prev = k.t[i];
	}
	if (rr.t0 + rr.ms - prev > gap)
		gap = rr.t0 + rr.ms - prev;
	ck_assert_msg(inside >= 12, "only %d ticks in the %d ms lookup",
	    inside, (int)rr.ms);
	ck_assert_msg(gap <= limit, "the loop stood still for %d ms",
	    (int)gap);
}
END_TEST

/* The same through the drop-in with a NULL dns_base. */
START_TEST(test_system_socket_connect_never_blocks)
{
	struct he_test_bres br;
	struct bufferevent *bev;
	struct ticks k;
	struct event *tick;

	fx_listen_loopback(v6ok);
	tick = ticking(&k);

	hook_sleep_ms = 300;
	he_resolve_set_gai_hook_(slow_gai);
	bev = bev_race(&br, M_SOCKET, AF_UNSPEC, "slow.test", 5000);
	he_resolve_set_gai_hook_(NULL);
	event_free(tick);

	ck_assert_msg(br.what & BEV_EVENT_CONNECTED, "event 0x%x err %d",
	    br.what, br.err);
	ck_assert_msg(br.ms >= 290 && br.ms < HE_TEST_UP(450),
	    "connected after %d ms; the lookup sleeps 300", (int)br.ms);
	ck_assert_msg(k.n >= 12, "only %d ticks", k.n);
	bufferevent_free(bev);
}
END_TEST

/* A name the system resolver does not know: EHOSTUNREACH, EAI_NONAME. */
START_TEST(test_system_noname)
{
	struct he_test_res rr;
	struct he_test_bres br;
	struct bufferevent *bev;

	fx_listen_loopback(v6ok);
	hook_sleep_ms = 0;
	he_resolve_set_gai_hook_(slow_gai);
	req_race(&rr, AF_UNSPEC, "nosuch.invalid", 5000);
	bev = bev_race(&br, M_SOCKET, AF_UNSPEC, "nosuch.invalid", 5000);
	he_resolve_set_gai_hook_(NULL);

	ck_assert_int_eq(rr.fd, -1);
	ck_assert_int_eq(rr.error, EHOSTUNREACH);
	ck_assert_int_eq(rr.dns_error, EVUTIL_EAI_NONAME);
	ck_assert_msg(br.what & BEV_EVENT_ERROR, "event 0x%x", br.what);
	ck_assert_int_eq(br.err, EHOSTUNREACH);
	ck_assert_int_eq(br.dns, EVUTIL_EAI_NONAME);
	ck_assert_int_eq(evhappy_socket_get_dns_error(bev), EVUTIL_EAI_NONAME);
	bufferevent_free(bev);
}
END_TEST

/* Freeing the context, the bufferevent and even the event_base while the
   helper threads are still inside a slow lookup: no callback, and once the
   threads finish nothing is left (valgrind/ASan watch the threads). */
START_TEST(test_system_free_during_lookup)
{
	struct he_test_res rr;
	struct he_test_bres br;
	struct bufferevent *bev;

	fx_listen_loopback(v6ok);
	hook_sleep_ms = 300;
	he_resolve_set_gai_hook_(slow_gai);
	req_start(&rr, AF_UNSPEC, "slow.test");
	bev = bev_start(&br, M_CTX, AF_UNSPEC, "slow.test");
	he_test_run_until(fx.base, 50, NULL);
	bufferevent_free(bev);
	evhappy_free(fx.he);
	fx.he = NULL;
	he_test_run_until(fx.base, 20, NULL);
	ck_assert_int_eq(rr.calls, 0);
	ck_assert_int_eq(br.calls, 0);
	/* The event_base goes while the lookups still sleep. */
	he_test_fx_free(&fx);
	he_test_sleep_ms(600);
	he_resolve_set_gai_hook_(NULL);
	ck_assert_int_eq(rr.calls, 0);
	ck_assert_int_eq(br.calls, 0);
	ck_assert_int_eq(he_test_count_fds(), fx.fds0);
}
END_TEST

/* ------------------------------------------------------------------------ */

/* evdns reports at "msg" level when the fake server drops or fails a
   query on purpose; only warnings and errors are worth printing. */
static void
log_cb(int severity, const char *msg)
{
	if (severity >= EVENT_LOG_WARN)
		fprintf(stderr, "[libevent] %s\n", msg);
}

/* Built three times: tests/check_resolve runs what needs neither IPv6 nor
   the machine's hosts file; tests/check_resolve6 (HE_RESOLVE_V6 defined)
   what needs ::1, and tests/check_resolve_hosts (HE_RESOLVE_HOSTS) what
   needs "localhost" in /etc/hosts.  Those two exit 77 (automake's SKIP)
   where that is missing, so the summary shows what did not run. */
enum program { P_PLAIN, P_V6, P_HOSTS };
#if defined(HE_RESOLVE_V6)
static const enum program program = P_V6;
#elif defined(HE_RESOLVE_HOSTS)
static const enum program program = P_HOSTS;
#else
static const enum program program = P_PLAIN;
#endif
/* Every test: its test case (and so its fixture) and the program that
   runs it. */
static Suite *
resolve_suite(void)
{
	const struct {
		const char *tcase;
		const TTest *test;
		enum program in;
	} tests[] = {
		{ "answers", test_nxdomain_report, P_PLAIN },
		{ "several", test_several_refused_interleave, P_V6 },
		{ "several", test_several_blackholes_interleave, P_V6 },
		{ "queries", test_literals_not_resolved, P_V6 },
		{ "queries", test_family_restricts_queries, P_V6 },
		{ "queries", test_family_no_address, P_PLAIN },
		{ "queries", test_trace_dns, P_V6 },
		{ "queries", test_trace_cancel_stops_queries, P_PLAIN },
		{ "queries", test_trace_cancel_on_answer, P_PLAIN },
		{ "queries", test_bad_arguments, P_PLAIN },
		{ "free", test_free_bev_during_queries, P_PLAIN },
		{ "free", test_free_bev_during_attempt_and_query, P_PLAIN },
		{ "free", test_free_context_during_queries, P_PLAIN },
		{ "free", test_cancel_during_queries, P_PLAIN },
		{ "free", test_evdns_freed_after_context, P_PLAIN },
		{ "free", test_evdns_freed_first_fail_requests, P_PLAIN },
		{ "dropin", test_socket_connect_hostname, P_V6 },
		{ "dropin", test_socket_connect_hostname_nxdomain, P_PLAIN },
		{ "dropin", test_dns_error_cleared_by_next_connect, P_PLAIN },
		{ "dropin", test_evdns_hosts_answer_at_once, P_PLAIN },
		{ "dropin", test_evdns_hosts_bev_callbacks_set_after, P_PLAIN },
		{ "system", test_system_localhost, P_HOSTS },
		{ "system", test_system_resolver_never_blocks, P_PLAIN },
		{ "system", test_system_socket_connect_never_blocks, P_PLAIN },
		{ "system", test_system_noname, P_PLAIN },
		{ "system", test_system_free_during_lookup, P_PLAIN },
	};
	Suite *s = suite_create("resolve");
	TCase *tc;
	const char *last = "answers";
	size_t i;

	/* the table of answers: its rows without IPv6 here, the rest in
	   check_resolve6 */
	tc = he_test_tcase(s, "answers", 60);
	tcase_add_checked_fixture(tc, setup_dns, teardown);
	if (program == P_PLAIN)
		tcase_add_loop_test(tc, test_answers, 0, answer_first_v6());
	if (program == P_V6)
		tcase_add_loop_test(tc, test_answers, answer_first_v6(),
		    N_ANSWER_CASES);
	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		if (tests[i].in != program)
			continue;
		if (strcmp(tests[i].tcase, last) != 0) {
			last = tests[i].tcase;
			tc = he_test_tcase(s, last, 60);
			tcase_add_checked_fixture(tc, strcmp(last, "system") ?
			    setup_dns : setup_system, teardown);
		}
		tcase_add_test(tc, tests[i].test);
	}
	return s;
}

Suite *
he_test_suite(void)
{
	event_set_log_callback(log_cb);
	v6ok = he_lab_ipv6_loopback_works();
	localhost_ok = system_knows_localhost();
	if (program == P_V6)
		he_test_require(v6ok, "check_resolve6: IPv6 loopback (::1) "
		    "does not work here; the 14 tests that need it are skipped");
	if (program == P_HOSTS)
		he_test_require(localhost_ok, "check_resolve_hosts: getaddrinfo "
		    "does not know localhost here (no /etc/hosts?); its test is "
		    "skipped");
	return resolve_suite();
}
