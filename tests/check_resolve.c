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
/* Fixture: an event_base, the fake DNS server, an evdns_base that asks only
   that server, a context, and listeners on one port. */

enum { L_ACCEPT, L_REFUSE, L_HOLE };
struct lspec {
	int kind;
	const char *addr;	/* a literal, without brackets */
};

struct fx {
	struct event_base *base;
	struct he_lab_dns *dns;
	struct evdns_base *dnsb;
	struct evhappy *he;
	int fds0;
	int port;
	evutil_socket_t lfd[8];
	int nlfd;
	struct he_lab_blackhole *bh[8];
	int nbh;
};

static void
fx_init(struct fx *f, int use_dns)
{
	memset(f, 0, sizeof(*f));
	f->fds0 = he_test_count_fds();
	f->base = event_base_new();
	ck_assert_ptr_nonnull(f->base);
	if (use_dns) {
		f->dns = he_lab_dns_new(f->base);
		ck_assert_msg(f->dns != NULL, "he_lab_dns_new failed");
		f->dnsb = he_lab_dns_client(f->dns, f->base);
		ck_assert_msg(f->dnsb != NULL, "he_lab_dns_client failed");
	}
	f->he = evhappy_new(f->base, f->dnsb);
	ck_assert_ptr_nonnull(f->he);
}

static void
fx_close_listeners(struct fx *f)
{
	int i;

	for (i = 0; i < f->nlfd; i++)
		evutil_closesocket(f->lfd[i]);
	for (i = 0; i < f->nbh; i++)
		he_lab_blackhole_free(f->bh[i]);
	f->nlfd = f->nbh = 0;
}

/* Make every listener of s on one port number (retrying with another port
   when one address has it taken); f->port gets it. */
static void
fx_listen(struct fx *f, const struct lspec *s, int n)
{
	int attempt, i;

	for (attempt = 0; attempt < 20; attempt++) {
		int port = 0, ok = 1;

		for (i = 0; i < n && ok; i++) {
			char where[80];
			int p = -1;

			if (port == 0)
				evutil_snprintf(where, sizeof(where), "%s",
				    s[i].addr);
			else if (strchr(s[i].addr, ':'))
				evutil_snprintf(where, sizeof(where), "[%s]:%d",
				    s[i].addr, port);
			else
				evutil_snprintf(where, sizeof(where), "%s:%d",
				    s[i].addr, port);
			if (s[i].kind == L_HOLE) {
				struct he_lab_blackhole *b =
				    he_lab_blackhole_new(where, &p);
				if (b)
					f->bh[f->nbh++] = b;
				else
					ok = 0;
			} else {
				evutil_socket_t fd = s[i].kind == L_ACCEPT ?
				    he_lab_listen(where, &p) :
				    he_lab_refuser(where, &p);
				if (fd >= 0)
					f->lfd[f->nlfd++] = fd;
				else
					ok = 0;
			}
			if (ok && port == 0)
				port = p;
		}
		if (ok) {
			f->port = port;
			return;
		}
		fx_close_listeners(f);
	}
	ck_abort_msg("could not make the listeners on one port");
}

/* Free everything; with check_fds, no fd may be left open. */
static void
fx_free_ex(struct fx *f, int check_fds)
{
	if (f->he)
		evhappy_free(f->he);
	f->he = NULL;
	/* evdns delivers the cancellation of a query on the next turn. */
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	if (f->dnsb)
		evdns_base_free(f->dnsb, 1);
	if (f->dns)
		he_lab_dns_free(f->dns);
	fx_close_listeners(f);
	event_base_free(f->base);
	if (check_fds)
		ck_assert_int_eq(he_test_count_fds(), f->fds0);
}

static void
fx_free(struct fx *f)
{
	fx_free_ex(f, 1);
}

static void
dns_add(struct fx *f, const char *name, int type, const char *addr)
{
	ck_assert_int_eq(he_lab_dns_add(f->dns, name, type, addr), 0);
}

/* name has the A record 127.0.0.1 and the AAAA record ::1. */
static void
dns_loopbacks(struct fx *f, const char *name)
{
	dns_add(f, name, A_, "127.0.0.1");
	dns_add(f, name, AAAA_, "::1");
}

static void
dns_set(struct fx *f, const char *name, int type, enum he_lab_dns_mode mode,
    int delay_ms)
{
	ck_assert_int_eq(he_lab_dns_set(f->dns, name, type, mode, delay_ms), 0);
}

static void
sa_format(const struct sockaddr *sa, char *buf, size_t len)
{
	evutil_snprintf(buf, len, "%s", he_test_addr_str(sa));
}

/* ------------------------------------------------------------------------ */
/* Racing on a bufferevent */

enum { M_CTX, M_SOCKET, M_LIBEVENT };

struct bres {
	int mode;
	int calls;
	int done;
	short what;
	int err;		/* EVUTIL_SOCKET_ERROR() in the callback */
	int dnserr;		/* the DNS error getter of the mode, in it */
	int64_t t0, ms;
	int peer_family;
	char peer[64];
};

static void
bev_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct bres *r = arg;
	int err = EVUTIL_SOCKET_ERROR();

	r->calls++;
	r->what = what;
	r->err = err;
	r->ms = he_test_now_ms() - r->t0;
	r->done = 1;
	switch (r->mode) {
	case M_CTX:
		r->dnserr = evhappy_get_dns_error(bev);
		break;
	case M_SOCKET:
		r->dnserr = evhappy_socket_get_dns_error(bev);
		break;
	default:
		r->dnserr = bufferevent_socket_get_dns_error(bev);
		break;
	}
	if (what & BEV_EVENT_CONNECTED) {
		struct sockaddr_storage ss;
		ev_socklen_t len = sizeof(ss);
		if (getpeername(bufferevent_getfd(bev), (struct sockaddr *)&ss,
			&len) == 0) {
			r->peer_family = ss.ss_family;
			sa_format((struct sockaddr *)&ss, r->peer,
			    sizeof(r->peer));
		}
	}
}

static struct bufferevent *
bev_start(struct fx *f, struct bres *r, int mode, int family,
    const char *host)
{
	struct bufferevent *bev;
	int rc;

	bev = bufferevent_socket_new(f->base, -1, BEV_OPT_CLOSE_ON_FREE);
	ck_assert_ptr_nonnull(bev);
	memset(r, 0, sizeof(*r));
	r->mode = mode;
	bufferevent_setcb(bev, NULL, NULL, bev_event_cb, r);
	r->t0 = he_test_now_ms();
	switch (mode) {
	case M_CTX:
		rc = evhappy_connect_hostname(f->he, bev, family, host,
		    f->port);
		break;
	case M_SOCKET:
		rc = evhappy_socket_connect_hostname(bev, f->dnsb, family,
		    host, f->port);
		break;
	default:
		rc = bufferevent_socket_connect_hostname(bev, f->dnsb, family,
		    host, f->port);
		break;
	}
	ck_assert_msg(rc == 0, "connect to %s failed at once: %s", host,
	    strerror(errno));
	if (mode != M_LIBEVENT)
		ck_assert_msg(r->calls == 0, "called back from the start call");
	return bev;
}

/* Start, wait for the one event (and a little longer, to see that no second
   one comes), and return the bufferevent. */
static struct bufferevent *
bev_race(struct fx *f, struct bres *r, int mode, int family,
    const char *host, int max_ms)
{
	struct bufferevent *bev = bev_start(f, r, mode, family, host);

	he_test_run_until(f->base, max_ms, &r->done);
	ck_assert_msg(r->calls == 1, "%s: no event within %d ms", host,
	    max_ms);
	he_test_run_until(f->base, 20, NULL);
	ck_assert_int_eq(r->calls, 1);
	return bev;
}

/* ------------------------------------------------------------------------ */
/* Racing to a socket, with its report */

#define MAXATT 16

struct rres {
	int calls;
	int done;
	evutil_socket_t fd;
	int err, dnserr, n;
	int fam[MAXATT], aerr[MAXATT];
	int64_t started[MAXATT], ended[MAXATT];	/* ms since the race began */
	char addr[MAXATT][64];
	int64_t t0, ms;
	int peer_family;
	char peer[64];
	char line[512];
};

static void
req_cb(evutil_socket_t fd, const struct evhappy_report *rep, void *arg)
{
	struct rres *r = arg;
	int i;

	r->calls++;
	r->done = 1;
	r->ms = he_test_now_ms() - r->t0;
	r->fd = fd;
	r->err = evhappy_report_error(rep);
	r->dnserr = evhappy_report_dns_error(rep);
	r->n = evhappy_report_attempt_count(rep);
	for (i = 0; i < r->n && i < MAXATT; i++) {
		struct sockaddr_storage ss;
		struct timeval st, en;
		int e = -1;

		memset(&ss, 0, sizeof(ss));
		if (evhappy_report_attempt(rep, i, &ss, &e, &st, &en) != 0)
			continue;
		r->fam[i] = ss.ss_family;
		r->aerr[i] = e;
		r->started[i] = he_test_ms_of(&st);
		r->ended[i] = he_test_ms_of(&en);
		sa_format((struct sockaddr *)&ss, r->addr[i],
		    sizeof(r->addr[i]));
	}
	evhappy_report_format(rep, r->line, sizeof(r->line));
	if (fd >= 0) {
		struct sockaddr_storage ss;
		ev_socklen_t len = sizeof(ss);
		if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
			r->peer_family = ss.ss_family;
			sa_format((struct sockaddr *)&ss, r->peer,
			    sizeof(r->peer));
		}
		evutil_closesocket(fd);
	}
}

static struct evhappy_request *
req_start(struct fx *f, struct rres *r, int family, const char *host)
{
	struct evhappy_request *req;

	memset(r, 0, sizeof(*r));
	r->fd = -2;
	r->t0 = he_test_now_ms();
	req = evhappy_resolve_and_connect(f->he, family, host, f->port,
	    req_cb, r);
	ck_assert_msg(req != NULL, "resolve_and_connect %s: %s", host,
	    strerror(errno));
	ck_assert_msg(r->calls == 0, "called back from the start call");
	return req;
}

static void
req_race(struct fx *f, struct rres *r, int family, const char *host,
    int max_ms)
{
	req_start(f, r, family, host);
	he_test_run_until(f->base, max_ms, &r->done);
	ck_assert_msg(r->calls == 1, "%s: no callback within %d ms", host,
	    max_ms);
	he_test_run_until(f->base, 20, NULL);
	ck_assert_int_eq(r->calls, 1);
}

/* ------------------------------------------------------------------------ */
/* Tracing */

#define MAXTR 64

struct trec {
	int n;
	struct {
		int kind, family, error, naddrs;
		int64_t ms;
		char addr[64];
	} ev[MAXTR];
};

static void
trace_cb(const struct evhappy_trace *ev, void *arg)
{
	struct trec *t = arg;

	if (t->n >= MAXTR)
		return;
	t->ev[t->n].kind = ev->kind;
	t->ev[t->n].family = ev->family;
	t->ev[t->n].error = ev->error;
	t->ev[t->n].naddrs = ev->naddrs;
	t->ev[t->n].ms = he_test_ms_of(&ev->elapsed);
	t->ev[t->n].addr[0] = '\0';
	if (ev->addr)
		sa_format(ev->addr, t->ev[t->n].addr, sizeof(t->ev[0].addr));
	t->n++;
}

static int
trace_count(const struct trec *t, int kind, int family)
{
	int i, n = 0;

	for (i = 0; i < t->n; i++)
		if (t->ev[i].kind == kind &&
		    (family < 0 || t->ev[i].family == family))
			n++;
	return n;
}

static int
trace_find(const struct trec *t, int kind, int family)
{
	int i;

	for (i = 0; i < t->n; i++)
		if (t->ev[i].kind == kind && t->ev[i].family == family)
			return i;
	return -1;
}

/* ------------------------------------------------------------------------ */
/* How each family's answer comes, and what the race makes of it (RFC 8305
   sections 3 and 5): a table, one row a scenario, run by test_answers. */

static const struct lspec both_accept[] = {
	{ L_ACCEPT, "127.0.0.1" }, { L_ACCEPT, "::1" }
};

/* For the rows that do not need IPv6: they run without it. */
static const struct lspec v4_accept[] = {
	{ L_ACCEPT, "127.0.0.1" }
};

static const struct lspec v4hole_v6accept[] = {
	{ L_HOLE, "127.0.0.1" }, { L_ACCEPT, "::1" }
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
	const struct lspec *listen;
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
answer_serve(struct fx *f, const char *host, int type,
    const struct answer *a)
{
	if (a->record)
		dns_add(f, host, type, type == AAAA_ ? "::1" : "127.0.0.1");
	if (a->mode != HE_LAB_ANSWER || a->delay_ms)
		dns_set(f, host, type, a->mode, a->delay_ms);
}

static void
answer_setup(struct fx *f, const struct answer_case *c)
{
	struct timeval tv;

	fx_init(f, 1);
	fx_listen(f, c->listen, c->nlisten);
	if (c->resolution_delay_ms) {
		he_test_tv(&tv, c->resolution_delay_ms);
		ck_assert_int_eq(evhappy_set_resolution_delay(f->he, &tv), 0);
	}
	if (c->timeout_ms) {
		he_test_tv(&tv, c->timeout_ms);
		ck_assert_int_eq(evhappy_set_timeout(f->he, &tv), 0);
	}
	answer_serve(f, c->host, AAAA_, &c->aaaa);
	answer_serve(f, c->host, A_, &c->a);
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
answer_on_bev(struct fx *f, const struct answer_case *c,
    struct answer_outcome *o)
{
	struct bres r;
	struct bufferevent *bev;

	bev = bev_race(f, &r, M_CTX, AF_UNSPEC, c->host, 3000);
	ck_assert_msg(!(r.what & BEV_EVENT_CONNECTED) !=
	    !(r.what & BEV_EVENT_ERROR), "%s: event 0x%x", c->host, r.what);
	o->family = r.what & BEV_EVENT_CONNECTED ? r.peer_family : AF_UNSPEC;
	o->err = r.what & BEV_EVENT_CONNECTED ? 0 : r.err;
	o->dnserr = r.dnserr;
	o->dnserr_after = evhappy_get_dns_error(bev);
	o->ms = r.ms;
	memcpy(o->peer, r.peer, sizeof(o->peer));
	bufferevent_free(bev);
}

/* The report's attempts: the families in order, the winner's error 0 and
   every other one cancelled, and when the first two started. */
static void
answer_check_attempts(const struct answer_case *c, const struct rres *r)
{
	int i, n = (int)strlen(c->attempts);

	ck_assert_msg(r->n == n, "%s: %d attempts, want %d: %s", c->host,
	    r->n, n, r->line);
	for (i = 0; i < n; i++) {
		int fam = c->attempts[i] == '6' ? AF_INET6 : AF_INET;
		int err = c->family != AF_UNSPEC && i == n - 1 ? 0 : ECANCELED;
		ck_assert_msg(r->fam[i] == fam && r->aerr[i] == err,
		    "%s: attempt %d: %s", c->host, i, r->line);
	}
	for (i = 0; i < 2 && i < n; i++) {
		if (!c->start_ms[i][1])
			continue;
		ck_assert_msg(r->started[i] >= c->start_ms[i][0] &&
		    r->started[i] < HE_TEST_UP(c->start_ms[i][1]),
		    "%s: attempt %d started at %d ms, want %d..%d", c->host, i,
		    (int)r->started[i], c->start_ms[i][0], c->start_ms[i][1]);
	}
}

static void
answer_on_request(struct fx *f, const struct answer_case *c,
    struct answer_outcome *o)
{
	struct rres r;

	req_race(f, &r, AF_UNSPEC, c->host, 3000);
	ck_assert_msg((r.fd >= 0) == (r.err == 0), "%s: fd %d, error %d",
	    c->host, (int)r.fd, r.err);
	o->family = r.fd >= 0 ? r.peer_family : AF_UNSPEC;
	o->err = r.err;
	o->dnserr = o->dnserr_after = r.dnserr;
	o->ms = r.ms;
	memcpy(o->peer, r.peer, sizeof(o->peer));
	if (c->attempts)
		answer_check_attempts(c, &r);
}

START_TEST(test_answers)
{
	const struct answer_case *c = &answer_cases[_i];
	struct answer_outcome o;
	struct fx f;

	memset(&o, 0, sizeof(o));
	answer_setup(&f, c);
	if (c->on == ON_BEV)
		answer_on_bev(&f, c, &o);
	else
		answer_on_request(&f, c, &o);
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
	ck_assert_int_eq(he_lab_dns_queries(f.dns, c->host, AAAA_), 1);
	ck_assert_int_eq(he_lab_dns_queries(f.dns, c->host, A_), 1);
	fx_free(&f);
}
END_TEST

/* NXDOMAIN for both, through the report and the trace: one failed answer
   a family, no attempt. */
START_TEST(test_nxdomain_report)
{
	struct fx f;
	struct rres r;
	struct trec t;

	fx_init(&f, 1);
	fx_listen(&f, v4_accept, 1);
	memset(&t, 0, sizeof(t));
	evhappy_set_trace_cb(f.he, trace_cb, &t);
	/* Not configured at all: the server answers NXDOMAIN. */
	req_race(&f, &r, AF_UNSPEC, "unknown.test", 3000);
	ck_assert_int_eq(r.fd, -1);
	ck_assert_int_eq(r.err, EHOSTUNREACH);
	ck_assert_int_ne(r.dnserr, 0);
	ck_assert_int_eq(r.dnserr, EVUTIL_EAI_NONAME);
	ck_assert_int_eq(r.n, 0);
	/* One failed answer per family, with its error and no address. */
	ck_assert_int_eq(trace_count(&t, EVHAPPY_TRACE_DNS_ANSWER, AF_INET), 1);
	ck_assert_int_eq(trace_count(&t, EVHAPPY_TRACE_DNS_ANSWER, AF_INET6),
	    1);
	{
		int i4 = trace_find(&t, EVHAPPY_TRACE_DNS_ANSWER, AF_INET);
		int i6 = trace_find(&t, EVHAPPY_TRACE_DNS_ANSWER, AF_INET6);
		ck_assert_int_eq(t.ev[i4].naddrs, 0);
		ck_assert_int_eq(t.ev[i6].naddrs, 0);
		ck_assert_int_eq(t.ev[i4].error, EVUTIL_EAI_NONAME);
		ck_assert_int_eq(t.ev[i6].error, EVUTIL_EAI_NONAME);
	}
	ck_assert_int_eq(trace_count(&t, EVHAPPY_TRACE_ATTEMPT_START, -1), 0);
	ck_assert_int_eq(trace_count(&t, EVHAPPY_TRACE_DONE, -1), 1);
	ck_assert_int_eq(t.ev[t.n - 1].kind, EVHAPPY_TRACE_DONE);
	ck_assert_int_eq(t.ev[t.n - 1].error, EHOSTUNREACH);
	fx_free(&f);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Several addresses of each family */

/* A second IPv6 address that stays on this machine: the IPv4-mapped form
   of 127.0.0.2 (an AF_INET6 socket reaches 127.0.0.2 through it). */
#define MAPPED "::ffff:127.0.0.2"

static void
multi_names(struct fx *f)
{
	dns_add(f, "multi.test", AAAA_, "::1");
	dns_add(f, "multi.test", AAAA_, MAPPED);
	dns_add(f, "multi.test", A_, "127.0.0.1");
	dns_add(f, "multi.test", A_, "127.0.0.3");
}

static int
has_addr(const struct rres *r, const char *a)
{
	int i, n = 0;

	for (i = 0; i < r->n && i < MAXATT; i++)
		if (!strcmp(r->addr[i], a))
			n++;
	return n;
}

/* Two AAAA and two A records, every one refused: four attempts, one per
   address, families interleaved 6,4,6,4 (::1 sorts first by RFC 6724). */
START_TEST(test_several_refused_interleave)
{
	static const struct lspec ls[] = {
		{ L_REFUSE, "::1" }, { L_REFUSE, "127.0.0.2" },
		{ L_REFUSE, "127.0.0.1" }, { L_REFUSE, "127.0.0.3" }
	};
	struct fx f;
	struct rres r;
	struct trec t;

	fx_init(&f, 1);
	fx_listen(&f, ls, 4);
	multi_names(&f);
	memset(&t, 0, sizeof(t));
	evhappy_set_trace_cb(f.he, trace_cb, &t);

	req_race(&f, &r, AF_UNSPEC, "multi.test", 3000);
	ck_assert_int_eq(r.fd, -1);
	ck_assert_msg(r.err == ECONNREFUSED, "error %d: %s", r.err, r.line);
	ck_assert_int_eq(r.dnserr, 0);
	ck_assert_msg(r.n == 4, "%d attempts: %s", r.n, r.line);
	ck_assert_msg(r.fam[0] == AF_INET6 && r.fam[1] == AF_INET &&
	    r.fam[2] == AF_INET6 && r.fam[3] == AF_INET,
	    "families %d,%d,%d,%d, want 6,4,6,4: %s", r.fam[0] == AF_INET6 ?
	    6 : 4, r.fam[1] == AF_INET6 ? 6 : 4, r.fam[2] == AF_INET6 ? 6 : 4,
	    r.fam[3] == AF_INET6 ? 6 : 4, r.line);
	ck_assert_str_eq(r.addr[0], "::1");
	ck_assert_int_eq(has_addr(&r, MAPPED), 1);
	ck_assert_int_eq(has_addr(&r, "127.0.0.1"), 1);
	ck_assert_int_eq(has_addr(&r, "127.0.0.3"), 1);
	ck_assert_int_eq(r.aerr[0], ECONNREFUSED);
	ck_assert_int_eq(r.aerr[3], ECONNREFUSED);
	/* Each refusal lets the next start at once (10 ms apart at least). */
	ck_assert_msg(r.ms < HE_TEST_UP(200), "took %d ms", (int)r.ms);
	ck_assert_msg(r.started[1] - r.started[0] >= 9,
	    "attempts %d ms apart", (int)(r.started[1] - r.started[0]));
	/* The answers tell how many addresses each family had. */
	{
		int i4 = trace_find(&t, EVHAPPY_TRACE_DNS_ANSWER, AF_INET);
		int i6 = trace_find(&t, EVHAPPY_TRACE_DNS_ANSWER, AF_INET6);
		ck_assert_int_ge(i4, 0);
		ck_assert_int_ge(i6, 0);
		ck_assert_int_eq(t.ev[i4].naddrs, 2);
		ck_assert_int_eq(t.ev[i6].naddrs, 2);
	}
	ck_assert_int_eq(trace_count(&t, EVHAPPY_TRACE_ATTEMPT_START, -1), 4);
	ck_assert_int_eq(trace_count(&t, EVHAPPY_TRACE_ATTEMPT_FAILED, -1), 4);
	fx_free(&f);
}
END_TEST

/* The IPv6 addresses are black holes, the IPv4 ones refuse: the stagger
   starts attempts 250 ms apart unless one fails, families alternate, and
   the race ends with the overall timeout. */
START_TEST(test_several_blackholes_interleave)
{
	static const struct lspec ls[] = {
		{ L_HOLE, "::1" }, { L_HOLE, "127.0.0.2" },
		{ L_REFUSE, "127.0.0.1" }, { L_REFUSE, "127.0.0.3" }
	};
	struct fx f;
	struct rres r;
	struct timeval tv;

	fx_init(&f, 1);
	fx_listen(&f, ls, 4);
	multi_names(&f);
	he_test_tv(&tv, 900);
	ck_assert_int_eq(evhappy_set_timeout(f.he, &tv), 0);

	req_race(&f, &r, AF_UNSPEC, "multi.test", 4000);
	ck_assert_int_eq(r.fd, -1);
	ck_assert_msg(r.err == ETIMEDOUT, "error %d: %s", r.err, r.line);
	ck_assert_int_eq(r.dnserr, 0);
	ck_assert_msg(r.n == 4, "%d attempts: %s", r.n, r.line);
	ck_assert_msg(r.fam[0] == AF_INET6 && r.fam[1] == AF_INET &&
	    r.fam[2] == AF_INET6 && r.fam[3] == AF_INET,
	    "families not 6,4,6,4: %s", r.line);
	ck_assert_int_eq(r.aerr[0], ETIMEDOUT);
	ck_assert_int_eq(r.aerr[1], ECONNREFUSED);
	ck_assert_int_eq(r.aerr[2], ETIMEDOUT);
	ck_assert_int_eq(r.aerr[3], ECONNREFUSED);
	/* ::1 at 0; IPv4 after the attempt delay; refused, so the mapped one
	   follows at once; the last IPv4 one attempt delay later. */
	ck_assert_msg(r.started[0] < HE_TEST_UP(60), "first at %d ms",
	    (int)r.started[0]);
	ck_assert_msg(r.started[1] - r.started[0] >= 240 &&
	    r.started[1] - r.started[0] < HE_TEST_UP(330), "second %d ms later",
	    (int)(r.started[1] - r.started[0]));
	ck_assert_msg(r.started[2] - r.started[1] >= 9 &&
	    r.started[2] - r.started[1] < HE_TEST_UP(60), "third %d ms later",
	    (int)(r.started[2] - r.started[1]));
	ck_assert_msg(r.started[3] - r.started[2] >= 240 &&
	    r.started[3] - r.started[2] < HE_TEST_UP(330), "fourth %d ms later",
	    (int)(r.started[3] - r.started[2]));
	ck_assert_msg(r.ms >= 890 && r.ms < HE_TEST_UP(1100), "took %d ms",
	    (int)r.ms);
	fx_free(&f);
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
	struct fx f;
	struct trec t;
	int i, sys;

	for (sys = 0; sys < 2; sys++) {
		fx_init(&f, !sys);
		fx_listen(&f, both_accept, 2);
		memset(&t, 0, sizeof(t));
		evhappy_set_trace_cb(f.he, trace_cb, &t);
		__atomic_store_n(&gai_calls, 0, __ATOMIC_SEQ_CST);
		he_resolve_set_gai_hook_(counting_gai);
		for (i = 0; i < 3; i++) {
			struct bres br;
			struct rres rr;
			struct bufferevent *bev;

			bev = bev_race(&f, &br, M_CTX, AF_UNSPEC, names[i],
			    2000);
			ck_assert_msg(br.what & BEV_EVENT_CONNECTED,
			    "%s: event 0x%x err %d", names[i], br.what,
			    br.err);
			ck_assert_int_eq(br.peer_family, fams[i]);
			bufferevent_free(bev);

			req_race(&f, &rr, AF_UNSPEC, names[i], 2000);
			ck_assert_msg(rr.fd >= 0, "%s: %s", names[i], rr.line);
			ck_assert_int_eq(rr.peer_family, fams[i]);
			ck_assert_int_eq(rr.n, 1);
		}
		he_resolve_set_gai_hook_(NULL);
		ck_assert_int_eq(trace_count(&t, EVHAPPY_TRACE_DNS_QUERY, -1),
		    0);
		ck_assert_int_eq(__atomic_load_n(&gai_calls, __ATOMIC_SEQ_CST),
		    0);
		if (!sys)
			for (i = 0; i < 3; i++) {
				ck_assert_int_eq(he_lab_dns_queries(f.dns,
				    names[i], A_), 0);
				ck_assert_int_eq(he_lab_dns_queries(f.dns,
				    names[i], AAAA_), 0);
			}
		fx_free(&f);
	}
}
END_TEST

/* AF_INET asks only for A, AF_INET6 only for AAAA. */
START_TEST(test_family_restricts_queries)
{
	struct fx f;
	struct bres br;
	struct rres rr;
	struct bufferevent *bev;
	struct trec t;

	fx_init(&f, 1);
	fx_listen(&f, both_accept, 2);
	memset(&t, 0, sizeof(t));
	evhappy_set_trace_cb(f.he, trace_cb, &t);
	dns_loopbacks(&f, "four.test");
	dns_loopbacks(&f, "six.test");

	bev = bev_race(&f, &br, M_CTX, AF_INET, "four.test", 2000);
	ck_assert_msg(br.what & BEV_EVENT_CONNECTED, "event 0x%x", br.what);
	ck_assert_int_eq(br.peer_family, AF_INET);
	bufferevent_free(bev);

	req_race(&f, &rr, AF_INET6, "six.test", 2000);
	ck_assert_msg(rr.fd >= 0, "failed: %s", rr.line);
	ck_assert_int_eq(rr.peer_family, AF_INET6);

	he_test_run_until(f.base, 50, NULL);
	ck_assert_int_eq(he_lab_dns_queries(f.dns, "four.test", A_), 1);
	ck_assert_int_eq(he_lab_dns_queries(f.dns, "four.test", AAAA_), 0);
	ck_assert_int_eq(he_lab_dns_queries(f.dns, "six.test", AAAA_), 1);
	ck_assert_int_eq(he_lab_dns_queries(f.dns, "six.test", A_), 0);
	ck_assert_int_eq(trace_count(&t, EVHAPPY_TRACE_DNS_QUERY, AF_INET), 1);
	ck_assert_int_eq(trace_count(&t, EVHAPPY_TRACE_DNS_QUERY, AF_INET6), 1);
	fx_free(&f);
}
END_TEST

/* AF_INET for a name that has only AAAA: no address, EHOSTUNREACH, and the
   IPv6 address is never used. */
START_TEST(test_family_no_address)
{
	struct fx f;
	struct rres r;

	fx_init(&f, 1);
	fx_listen(&f, v4_accept, 1);
	dns_add(&f, "v6only.test", AAAA_, "::1");

	req_race(&f, &r, AF_INET, "v6only.test", 3000);
	ck_assert_int_eq(r.fd, -1);
	ck_assert_int_eq(r.err, EHOSTUNREACH);
	ck_assert_int_ne(r.dnserr, 0);
	ck_assert_int_eq(r.n, 0);
	ck_assert_int_eq(he_lab_dns_queries(f.dns, "v6only.test", AAAA_), 0);
	fx_free(&f);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The trace of resolution */

START_TEST(test_trace_dns)
{
	struct fx f;
	struct rres r;
	struct trec t;
	int q4, q6, a4, a6, i;

	fx_init(&f, 1);
	fx_listen(&f, both_accept, 2);
	memset(&t, 0, sizeof(t));
	evhappy_set_trace_cb(f.he, trace_cb, &t);
	dns_add(&f, "trace.test", AAAA_, "::1");
	dns_add(&f, "trace.test", A_, "127.0.0.1");
	dns_add(&f, "trace.test", A_, "127.0.0.2");
	/* A first, AAAA within the resolution delay: both answers come
	   before any attempt. */
	dns_set(&f, "trace.test", AAAA_, HE_LAB_ANSWER, 20);

	req_race(&f, &r, AF_UNSPEC, "trace.test", 2000);
	ck_assert_msg(r.fd >= 0, "failed: %s", r.line);
	ck_assert_str_eq(r.peer, "::1");

	ck_assert_int_eq(trace_count(&t, EVHAPPY_TRACE_DNS_QUERY, AF_INET), 1);
	ck_assert_int_eq(trace_count(&t, EVHAPPY_TRACE_DNS_QUERY, AF_INET6), 1);
	ck_assert_int_eq(trace_count(&t, EVHAPPY_TRACE_DNS_ANSWER, AF_INET), 1);
	ck_assert_int_eq(trace_count(&t, EVHAPPY_TRACE_DNS_ANSWER, AF_INET6),
	    1);
	q4 = trace_find(&t, EVHAPPY_TRACE_DNS_QUERY, AF_INET);
	q6 = trace_find(&t, EVHAPPY_TRACE_DNS_QUERY, AF_INET6);
	a4 = trace_find(&t, EVHAPPY_TRACE_DNS_ANSWER, AF_INET);
	a6 = trace_find(&t, EVHAPPY_TRACE_DNS_ANSWER, AF_INET6);
	ck_assert_int_lt(q4, a4);
	ck_assert_int_lt(q6, a6);
	ck_assert_int_lt(a4, a6);
	ck_assert_int_eq(t.ev[a4].naddrs, 2);
	ck_assert_int_eq(t.ev[a6].naddrs, 1);
	ck_assert_int_eq(t.ev[a4].error, 0);
	ck_assert_int_eq(t.ev[a6].error, 0);
	ck_assert_msg(t.ev[a6].ms >= 15 && t.ev[a6].ms < HE_TEST_UP(60),
	    "AAAA answer traced at %d ms", (int)t.ev[a6].ms);
	/* The first attempt follows both answers, to ::1. */
	i = trace_find(&t, EVHAPPY_TRACE_ATTEMPT_START, AF_INET6);
	ck_assert_int_gt(i, a6);
	ck_assert_int_eq(trace_count(&t, EVHAPPY_TRACE_ATTEMPT_START, AF_INET),
	    0);
	ck_assert_str_eq(t.ev[i].addr, "::1");
	ck_assert_int_eq(trace_count(&t, EVHAPPY_TRACE_ATTEMPT_WON, -1), 1);
	ck_assert_int_eq(t.ev[t.n - 1].kind, EVHAPPY_TRACE_DONE);
	ck_assert_int_eq(t.ev[t.n - 1].error, 0);
	fx_free(&f);
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
race_cancelled_by_trace(struct fx *f, struct rres *r, struct cancel_on *c,
    const char *name)
{
	fx_listen(f, v4_accept, 1);
	dns_add(f, name, A_, "127.0.0.1");
	evhappy_set_trace_cb(f->he, cancel_on_cb, c);
	c->req = req_start(f, r, AF_UNSPEC, name);
	he_test_run_until(f->base, 200, NULL);
	ck_assert_int_eq(c->hits, 1);
	ck_assert_int_eq(r->calls, 0);
}

/* Cancelled at its DNS_QUERY event: no query reaches the server, for that
   family or the other. */
START_TEST(test_trace_cancel_stops_queries)
{
	struct fx f;
	struct rres r;
	struct cancel_on c = { EVHAPPY_TRACE_DNS_QUERY, NULL, 0 };

	fx_init(&f, 1);
	race_cancelled_by_trace(&f, &r, &c, "q.test");
	ck_assert_int_eq(he_lab_dns_queries(f.dns, "q.test", A_), 0);
	ck_assert_int_eq(he_lab_dns_queries(f.dns, "q.test", AAAA_), 0);
	fx_free(&f);
}
END_TEST

/* Cancelled when a one-address answer comes: that answer (kept in the
   race's own room, not allocated) is dropped with the race.  (Failed
   before: the glue freed that room as if it were a list entry.) */
START_TEST(test_trace_cancel_on_answer)
{
	struct fx f;
	struct rres r;
	struct cancel_on c = { EVHAPPY_TRACE_DNS_ANSWER, NULL, 0 };

	fx_init(&f, 1);
	race_cancelled_by_trace(&f, &r, &c, "one.test");
	fx_free(&f);
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

#define BAD_INT(call, e) do {						\
		errno = 0;						\
		ck_assert_int_eq((call), -1);				\
		ck_assert_msg(errno == (e), "%s: errno %d, want %d",	\
		    #call, errno, (e));					\
	} while (0)
#define BAD_PTR(call, e) do {						\
		errno = 0;						\
		ck_assert_msg((call) == NULL, "%s: not NULL", #call);	\
		ck_assert_msg(errno == (e), "%s: errno %d, want %d",	\
		    #call, errno, (e));					\
	} while (0)

START_TEST(test_bad_arguments)
{
	struct fx f;
	struct bres r;
	struct bufferevent *bev, *pair[2], *connected;
	evutil_socket_t sp[2];
	int calls = 0, p;
	const char *n = "ok.test";

	fx_init(&f, 1);
	fx_listen(&f, v4_accept, 1);
	p = f.port;
	dns_add(&f, n, A_, "127.0.0.1");

	bev = bufferevent_socket_new(f.base, -1, BEV_OPT_CLOSE_ON_FREE);
	ck_assert_ptr_nonnull(bev);
	memset(&r, 0, sizeof(r));
	bufferevent_setcb(bev, NULL, NULL, bev_event_cb, &r);

	/* evhappy_connect_hostname */
	BAD_INT(evhappy_connect_hostname(f.he, bev, AF_UNIX, n, p), EINVAL);
	BAD_INT(evhappy_connect_hostname(f.he, bev, 12345, n, p), EINVAL);
	BAD_INT(evhappy_connect_hostname(f.he, bev, -1, n, p), EINVAL);
	BAD_INT(evhappy_connect_hostname(f.he, bev, AF_UNSPEC, n, 0), EINVAL);
	BAD_INT(evhappy_connect_hostname(f.he, bev, AF_UNSPEC, n, -1), EINVAL);
	BAD_INT(evhappy_connect_hostname(f.he, bev, AF_UNSPEC, n, 65536),
	    EINVAL);
	BAD_INT(evhappy_connect_hostname(f.he, bev, AF_UNSPEC, NULL, p),
	    EINVAL);
	BAD_INT(evhappy_connect_hostname(f.he, NULL, AF_UNSPEC, n, p), EINVAL);
	BAD_INT(evhappy_connect_hostname(NULL, bev, AF_UNSPEC, n, p), EINVAL);

	/* evhappy_socket_connect_hostname, with evdns and without */
	BAD_INT(evhappy_socket_connect_hostname(bev, f.dnsb, AF_UNIX, n, p),
	    EINVAL);
	BAD_INT(evhappy_socket_connect_hostname(bev, f.dnsb, AF_UNSPEC, n, 0),
	    EINVAL);
	BAD_INT(evhappy_socket_connect_hostname(bev, f.dnsb, AF_UNSPEC, n,
	    65536), EINVAL);
	BAD_INT(evhappy_socket_connect_hostname(bev, f.dnsb, AF_UNSPEC, NULL,
	    p), EINVAL);
	BAD_INT(evhappy_socket_connect_hostname(NULL, f.dnsb, AF_UNSPEC, n, p),
	    EINVAL);
	BAD_INT(evhappy_socket_connect_hostname(bev, NULL, 12345, n, p),
	    EINVAL);
	BAD_INT(evhappy_socket_connect_hostname(bev, NULL, AF_UNSPEC, n,
	    70000), EINVAL);
	BAD_INT(evhappy_socket_connect_hostname(bev, NULL, AF_UNSPEC, NULL, p),
	    EINVAL);

	/* evhappy_resolve_and_connect */
	BAD_PTR(evhappy_resolve_and_connect(f.he, AF_UNIX, n, p, req_never_cb,
	    &calls), EINVAL);
	BAD_PTR(evhappy_resolve_and_connect(f.he, AF_UNSPEC, n, 0,
	    req_never_cb, &calls), EINVAL);
	BAD_PTR(evhappy_resolve_and_connect(f.he, AF_UNSPEC, n, 65536,
	    req_never_cb, &calls), EINVAL);
	BAD_PTR(evhappy_resolve_and_connect(f.he, AF_UNSPEC, NULL, p,
	    req_never_cb, &calls), EINVAL);
	BAD_PTR(evhappy_resolve_and_connect(f.he, AF_UNSPEC, n, p, NULL,
	    &calls), EINVAL);
	BAD_PTR(evhappy_resolve_and_connect(NULL, AF_UNSPEC, n, p,
	    req_never_cb, &calls), EINVAL);

	/* A bufferevent kind that is not supported: a pair. */
	ck_assert_int_eq(bufferevent_pair_new(f.base, 0, pair), 0);
	bufferevent_setcb(pair[0], NULL, NULL, bev_event_cb, &r);
	BAD_INT(evhappy_connect_hostname(f.he, pair[0], AF_UNSPEC, n, p),
	    EINVAL);
	BAD_INT(evhappy_socket_connect_hostname(pair[0], f.dnsb, AF_UNSPEC, n,
	    p), EINVAL);

	/* A bufferevent that already has a socket. */
	ck_assert_int_eq(evutil_socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	connected = bufferevent_socket_new(f.base, sp[0],
	    BEV_OPT_CLOSE_ON_FREE);
	ck_assert_ptr_nonnull(connected);
	bufferevent_setcb(connected, NULL, NULL, bev_event_cb, &r);
	BAD_INT(evhappy_connect_hostname(f.he, connected, AF_UNSPEC, n, p),
	    EISCONN);

	/* Nothing ever comes back, and nothing was asked. */
	he_test_run_until(f.base, 150, NULL);
	ck_assert_int_eq(r.calls, 0);
	ck_assert_int_eq(calls, 0);
	ck_assert_int_eq(he_lab_dns_queries(f.dns, n, A_), 0);
	ck_assert_int_eq(he_lab_dns_queries(f.dns, n, AAAA_), 0);

	/* The rejected calls left bev as it was: a good call still works. */
	r.t0 = he_test_now_ms();
	r.mode = M_CTX;
	ck_assert_int_eq(evhappy_connect_hostname(f.he, bev, AF_UNSPEC, n, p),
	    0);
	he_test_run_until(f.base, 2000, &r.done);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_msg(r.what & BEV_EVENT_CONNECTED, "event 0x%x", r.what);

	bufferevent_free(bev);
	bufferevent_free(pair[0]);
	bufferevent_free(pair[1]);
	bufferevent_free(connected);
	evutil_closesocket(sp[1]);
	fx_free(&f);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Freeing with queries outstanding */

static void
drop_all(struct fx *f, const char *name)
{
	dns_add(f, name, A_, "127.0.0.1");
	dns_add(f, name, AAAA_, "::1");
	dns_set(f, name, A_, HE_LAB_DROP, 0);
	dns_set(f, name, AAAA_, HE_LAB_DROP, 0);
}

/* bufferevent_free() while both queries are out: no callback, no fd, and
   (valgrind/ASan) no leak, for a context's race and for the drop-in. */
START_TEST(test_free_bev_during_queries)
{
	struct fx f;
	struct bres r, r2;
	struct bufferevent *bev, *bev2;

	fx_init(&f, 1);
	fx_listen(&f, v4_accept, 1);
	drop_all(&f, "hang.test");

	bev = bev_start(&f, &r, M_CTX, AF_UNSPEC, "hang.test");
	bev2 = bev_start(&f, &r2, M_SOCKET, AF_UNSPEC, "hang.test");
	he_test_run_until(f.base, 50, NULL);
	ck_assert_int_eq(he_lab_dns_queries(f.dns, "hang.test", A_), 2);
	ck_assert_int_eq(he_lab_dns_queries(f.dns, "hang.test", AAAA_), 2);
	bufferevent_free(bev);
	bufferevent_free(bev2);
	/* The race notices within one attempt delay (250 ms); the drop-in's
	   private context has no other way to learn of it. */
	he_test_run_until(f.base, 300, NULL);
	ck_assert_int_eq(r.calls, 0);
	ck_assert_int_eq(r2.calls, 0);
	fx_free(&f);
}
END_TEST

/* bufferevent_free() with one family's attempt in a black hole and the
   other family's query still out. */
START_TEST(test_free_bev_during_attempt_and_query)
{
	static const struct lspec ls[] = {
		{ L_HOLE, "127.0.0.1" }
	};
	struct fx f;
	struct bres r;
	struct bufferevent *bev;
	int fds;

	fx_init(&f, 1);
	fx_listen(&f, ls, 1);
	dns_loopbacks(&f, "half.test");
	dns_set(&f, "half.test", AAAA_, HE_LAB_DROP, 0);

	fds = he_test_count_fds();
	bev = bev_start(&f, &r, M_CTX, AF_UNSPEC, "half.test");
	he_test_run_until(f.base, 120, NULL);
	/* The IPv4 attempt is running: one more socket than before. */
	ck_assert_int_gt(he_test_count_fds(), fds);
	bufferevent_free(bev);
	/* The race notices within one attempt delay (250 ms). */
	he_test_run_until(f.base, 300, NULL);
	ck_assert_int_eq(r.calls, 0);
	ck_assert_int_eq(he_test_count_fds(), fds);
	fx_free(&f);
}
END_TEST

/* evhappy_free() with a bufferevent race and a request waiting for DNS. */
START_TEST(test_free_context_during_queries)
{
	struct fx f;
	struct bres r;
	struct rres rr;
	struct bufferevent *bev;

	fx_init(&f, 1);
	fx_listen(&f, v4_accept, 1);
	drop_all(&f, "hang.test");

	bev = bev_start(&f, &r, M_CTX, AF_UNSPEC, "hang.test");
	req_start(&f, &rr, AF_UNSPEC, "hang.test");
	he_test_run_until(f.base, 50, NULL);
	evhappy_free(f.he);
	f.he = NULL;
	he_test_run_until(f.base, 100, NULL);
	ck_assert_int_eq(r.calls, 0);
	ck_assert_int_eq(rr.calls, 0);
	bufferevent_free(bev);
	fx_free(&f);
}
END_TEST

/* evhappy_request_cancel() with the queries out. */
START_TEST(test_cancel_during_queries)
{
	struct fx f;
	struct rres rr;
	struct evhappy_request *req;

	fx_init(&f, 1);
	fx_listen(&f, v4_accept, 1);
	drop_all(&f, "hang.test");

	req = req_start(&f, &rr, AF_UNSPEC, "hang.test");
	he_test_run_until(f.base, 50, NULL);
	evhappy_request_cancel(req);
	he_test_run_until(f.base, 100, NULL);
	ck_assert_int_eq(rr.calls, 0);
	fx_free(&f);
}
END_TEST

/* The evdns_base's lifetime (it must outlive the context).  The right
   order, with queries out: evhappy_free, a loop turn, evdns_base_free with
   either fail_requests: no callback, and (ASan/valgrind) nothing leaks. */
START_TEST(test_evdns_freed_after_context)
{
	struct fx f;
	struct rres rr;
	struct bres br;
	struct bufferevent *bev;
	int fail;

	for (fail = 0; fail < 2; fail++) {
		fx_init(&f, 1);
		fx_listen(&f, v4_accept, 1);
		drop_all(&f, "hang.test");
		req_start(&f, &rr, AF_UNSPEC, "hang.test");
		bev = bev_start(&f, &br, M_CTX, AF_UNSPEC, "hang.test");
		he_test_run_until(f.base, 50, NULL);
		ck_assert_int_eq(he_lab_dns_queries(f.dns, "hang.test", A_), 2);
		evhappy_free(f.he);
		f.he = NULL;
		event_base_loop(f.base, EVLOOP_NONBLOCK);
		evdns_base_free(f.dnsb, fail);
		f.dnsb = NULL;
		he_test_run_until(f.base, 50, NULL);
		ck_assert_int_eq(rr.calls, 0);
		ck_assert_int_eq(br.calls, 0);
		bufferevent_free(bev);
		fx_free(&f);
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
	struct fx f;
	struct rres rr;
	struct bres br;
	struct bufferevent *bev;

	fx_init(&f, 1);
	fx_listen(&f, v4_accept, 1);
	drop_all(&f, "hang.test");
	req_start(&f, &rr, AF_UNSPEC, "hang.test");
	bev = bev_start(&f, &br, M_CTX, AF_UNSPEC, "hang.test");
	he_test_run_until(f.base, 50, NULL);
	evdns_base_free(f.dnsb, 1);
	f.dnsb = NULL;
	he_test_run_until(f.base, 500, &rr.done);
	he_test_run_until(f.base, 500, &br.done);
	ck_assert_int_eq(rr.calls, 1);
	ck_assert_int_eq(rr.err, EHOSTUNREACH);
	ck_assert_int_eq(rr.dnserr, EVUTIL_EAI_FAIL);
	ck_assert_int_eq(br.calls, 1);
	ck_assert_msg(br.what & BEV_EVENT_ERROR, "event 0x%x", br.what);
	ck_assert_int_eq(br.dnserr, EVUTIL_EAI_FAIL);
	evhappy_free(f.he);
	f.he = NULL;
	bufferevent_free(bev);
	fx_free(&f);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* evhappy_socket_connect_hostname: the drop-in, next to libevent's call */

START_TEST(test_socket_connect_hostname)
{
	struct fx f;
	struct bres r;
	struct bufferevent *bev;

	fx_init(&f, 1);
	fx_listen(&f, both_accept, 2);
	dns_loopbacks(&f, "both.test");

	/* libevent's own call, for reference. */
	bev = bev_race(&f, &r, M_LIBEVENT, AF_UNSPEC, "both.test", 3000);
	ck_assert_msg(r.what & BEV_EVENT_CONNECTED, "libevent: event 0x%x",
	    r.what);
	bufferevent_free(bev);

	bev = bev_race(&f, &r, M_SOCKET, AF_UNSPEC, "both.test", 3000);
	ck_assert_msg(r.what & BEV_EVENT_CONNECTED, "event 0x%x err %d",
	    r.what, r.err);
	ck_assert_int_eq(r.peer_family, AF_INET6);
	ck_assert_int_eq(r.dnserr, 0);
	ck_assert_int_eq(evhappy_socket_get_dns_error(bev), 0);
	bufferevent_free(bev);

	bev = bev_race(&f, &r, M_SOCKET, AF_INET, "both.test", 3000);
	ck_assert_msg(r.what & BEV_EVENT_CONNECTED, "event 0x%x", r.what);
	ck_assert_int_eq(r.peer_family, AF_INET);
	bufferevent_free(bev);
	fx_free(&f);
}
END_TEST

START_TEST(test_socket_connect_hostname_nxdomain)
{
	struct fx f;
	struct bres r, lr;
	struct bufferevent *bev, *lbev;

	fx_init(&f, 1);
	fx_listen(&f, v4_accept, 1);

	lbev = bev_race(&f, &lr, M_LIBEVENT, AF_UNSPEC, "nowhere.test", 3000);
	ck_assert_msg(lr.what & BEV_EVENT_ERROR, "libevent: event 0x%x",
	    lr.what);

	bev = bev_race(&f, &r, M_SOCKET, AF_UNSPEC, "nowhere.test", 3000);
	ck_assert_msg(r.what & BEV_EVENT_ERROR, "event 0x%x", r.what);
	ck_assert_msg(!(r.what & BEV_EVENT_CONNECTED), "event 0x%x", r.what);
	ck_assert_int_eq(r.err, EHOSTUNREACH);
	ck_assert_int_eq(r.dnserr, EVUTIL_EAI_NONAME);
	ck_assert_int_eq(evhappy_socket_get_dns_error(bev), EVUTIL_EAI_NONAME);
	/* The same code libevent gives for the same answer. */
	ck_assert_int_eq(r.dnserr, lr.dnserr);
	ck_assert_int_eq(r.what, lr.what);

	bufferevent_free(bev);
	bufferevent_free(lbev);
	fx_free(&f);
}
END_TEST

/* The DNS error of a bev is valid until its next connect. */
START_TEST(test_dns_error_cleared_by_next_connect)
{
	struct fx f;
	struct bres r;
	struct bufferevent *bev;

	fx_init(&f, 1);
	fx_listen(&f, v4_accept, 1);
	dns_add(&f, "four.test", A_, "127.0.0.1");

	bev = bufferevent_socket_new(f.base, -1, 0);
	ck_assert_ptr_nonnull(bev);
	memset(&r, 0, sizeof(r));
	r.mode = M_CTX;
	bufferevent_setcb(bev, NULL, NULL, bev_event_cb, &r);
	ck_assert_int_eq(evhappy_connect_hostname(f.he, bev, AF_UNSPEC,
	    "nowhere.test", f.port), 0);
	he_test_run_until(f.base, 3000, &r.done);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(evhappy_get_dns_error(bev), EVUTIL_EAI_NONAME);

	memset(&r, 0, sizeof(r));
	r.mode = M_CTX;
	ck_assert_int_eq(evhappy_connect_hostname(f.he, bev, AF_UNSPEC,
	    "four.test", f.port), 0);
	he_test_run_until(f.base, 3000, &r.done);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_msg(r.what & BEV_EVENT_CONNECTED, "event 0x%x", r.what);
	ck_assert_int_eq(r.dnserr, 0);
	ck_assert_int_eq(evhappy_get_dns_error(bev), 0);
	/* Opened without BEV_OPT_CLOSE_ON_FREE: the winner is ours. */
	evutil_closesocket(bufferevent_getfd(bev));
	bufferevent_free(bev);
	fx_free(&f);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The system resolver (dns_base NULL) */

static const struct lspec loopback_accept_v4[] = {
	{ L_ACCEPT, "127.0.0.1" }
};

static void
fx_listen_loopback(struct fx *f, int v6)
{
	if (v6)
		fx_listen(f, both_accept, 2);
	else
		fx_listen(f, loopback_accept_v4, 1);
}

static int v6ok;

/* "localhost" from /etc/hosts, through getaddrinfo on helper threads. */
START_TEST(test_system_localhost)
{
	struct fx f;
	struct rres rr;
	struct bres br;
	struct bufferevent *bev;
	struct trec t;

	fx_init(&f, 0);
	fx_listen_loopback(&f, v6ok);
	memset(&t, 0, sizeof(t));
	evhappy_set_trace_cb(f.he, trace_cb, &t);

	req_race(&f, &rr, AF_UNSPEC, "localhost", 5000);
	ck_assert_msg(rr.fd >= 0, "failed: %s", rr.line);
	ck_assert_msg(!strcmp(rr.peer, "127.0.0.1") || !strcmp(rr.peer, "::1"),
	    "connected to %s", rr.peer);
	ck_assert_int_eq(rr.err, 0);
	ck_assert_int_ge(trace_count(&t, EVHAPPY_TRACE_DNS_QUERY, -1), 1);

	bev = bev_race(&f, &br, M_CTX, AF_UNSPEC, "localhost", 5000);
	ck_assert_msg(br.what & BEV_EVENT_CONNECTED, "event 0x%x err %d",
	    br.what, br.err);
	bufferevent_free(bev);

	bev = bev_race(&f, &br, M_SOCKET, AF_INET, "localhost", 5000);
	ck_assert_msg(br.what & BEV_EVENT_CONNECTED, "event 0x%x err %d",
	    br.what, br.err);
	ck_assert_str_eq(br.peer, "127.0.0.1");
	bufferevent_free(bev);
	fx_free(&f);
}
END_TEST

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
	struct fx f;
	struct bres r;
	struct bufferevent *bev;
	char path[] = "/tmp/evhappy-hosts-XXXXXX";
	int fd = mkstemp(path);
	static const char hosts[] = "127.0.0.1 fromhosts.test\n";

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, hosts, sizeof(hosts) - 1),
	    (int)sizeof(hosts) - 1);
	close(fd);
	fx_init(&f, 1);
	ck_assert_int_eq(evdns_base_load_hosts(f.dnsb, path), 0);
	unlink(path);
	fx_listen_loopback(&f, 0);
	memset(&r, 0, sizeof(r));
	r.mode = M_CTX;
	r.t0 = he_test_now_ms();
	bev = bufferevent_socket_new(f.base, -1, BEV_OPT_CLOSE_ON_FREE);
	ck_assert_ptr_nonnull(bev);
	ck_assert_int_eq(evhappy_connect_hostname(f.he, bev, AF_INET,
	    "fromhosts.test", f.port), 0);
	bufferevent_setcb(bev, NULL, NULL, bev_event_cb, &r);
	ck_assert_int_eq(r.calls, 0);
	he_test_run_until(f.base, HE_TEST_UP(1000), &r.done);
	he_test_run_until(f.base, 20, NULL);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_msg(r.what & BEV_EVENT_CONNECTED, "event 0x%x, errno %d",
	    r.what, r.err);
	ck_assert_int_eq(he_lab_dns_queries(f.dns, "fromhosts.test", A_), 0);
	bufferevent_free(bev);
	fx_free(&f);
}
END_TEST

START_TEST(test_evdns_hosts_answer_at_once)
{
	struct fx f;
	struct rres rr;
	char path[] = "/tmp/evhappy-hosts-XXXXXX";
	int fd = mkstemp(path);
	static const char hosts[] = "127.0.0.1 fromhosts.test\n"
	    "::1 fromhosts.test\n";

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, hosts, sizeof(hosts) - 1),
	    (int)sizeof(hosts) - 1);
	close(fd);
	fx_init(&f, 1);
	ck_assert_int_eq(evdns_base_load_hosts(f.dnsb, path), 0);
	unlink(path);
	fx_listen_loopback(&f, v6ok);

	req_race(&f, &rr, AF_UNSPEC, "fromhosts.test", 3000);
	ck_assert_msg(rr.fd >= 0, "failed: %s", rr.line);
	ck_assert_msg(!strcmp(rr.peer, v6ok ? "::1" : "127.0.0.1"),
	    "connected to %s", rr.peer);
	ck_assert_msg(rr.ms < HE_TEST_UP(60), "took %d ms", (int)rr.ms);
	/* The hosts table answered: the server was never asked. */
	ck_assert_int_eq(he_lab_dns_queries(f.dns, "fromhosts.test", A_), 0);
	ck_assert_int_eq(he_lab_dns_queries(f.dns, "fromhosts.test", AAAA_), 0);
	fx_free(&f);
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

/* A lookup that takes 300 ms never stops the loop: a 20 ms timer keeps
   ticking on time through it, and the connect still succeeds. */
START_TEST(test_system_resolver_never_blocks)
{
	struct fx f;
	struct rres rr;
	struct ticks k;
	struct event *tick;
	struct timeval tv;
	int64_t prev, gap = 0;
	int64_t limit = he_test_slow_factor() > 1 ? 150 : 60;
	int i, inside = 0;

	fx_init(&f, 0);
	fx_listen_loopback(&f, v6ok);
	memset(&k, 0, sizeof(k));
	tick = event_new(f.base, -1, EV_PERSIST, tick_cb, &k);
	ck_assert_ptr_nonnull(tick);
	he_test_tv(&tv, 20);
	event_add(tick, &tv);

	hook_sleep_ms = 300;
	__atomic_store_n(&gai_calls, 0, __ATOMIC_SEQ_CST);
	he_resolve_set_gai_hook_(slow_gai);
	req_race(&f, &rr, AF_UNSPEC, "slow.test", 5000);
	he_resolve_set_gai_hook_(NULL);
	event_free(tick);

	ck_assert_msg(rr.fd >= 0, "failed: %s", rr.line);
	ck_assert_int_ge(__atomic_load_n(&gai_calls, __ATOMIC_SEQ_CST), 1);
	ck_assert_msg(rr.ms >= 290 && rr.ms < HE_TEST_UP(1000),
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
	fx_free(&f);
}
END_TEST

/* The same through the drop-in with a NULL dns_base. */
START_TEST(test_system_socket_connect_never_blocks)
{
	struct fx f;
	struct bres br;
	struct bufferevent *bev;
	struct ticks k;
	struct event *tick;
	struct timeval tv;

	fx_init(&f, 0);
	fx_listen_loopback(&f, v6ok);
	memset(&k, 0, sizeof(k));
	tick = event_new(f.base, -1, EV_PERSIST, tick_cb, &k);
	ck_assert_ptr_nonnull(tick);
	he_test_tv(&tv, 20);
	event_add(tick, &tv);

	hook_sleep_ms = 300;
	he_resolve_set_gai_hook_(slow_gai);
	bev = bev_race(&f, &br, M_SOCKET, AF_UNSPEC, "slow.test", 5000);
	he_resolve_set_gai_hook_(NULL);
	event_free(tick);

	ck_assert_msg(br.what & BEV_EVENT_CONNECTED, "event 0x%x err %d",
	    br.what, br.err);
	ck_assert_msg(br.ms >= 290, "connected after %d ms", (int)br.ms);
	ck_assert_msg(k.n >= 12, "only %d ticks", k.n);
	bufferevent_free(bev);
	fx_free(&f);
}
END_TEST

/* A name the system resolver does not know: EHOSTUNREACH, EAI_NONAME. */
START_TEST(test_system_noname)
{
	struct fx f;
	struct rres rr;
	struct bres br;
	struct bufferevent *bev;

	fx_init(&f, 0);
	fx_listen_loopback(&f, v6ok);
	hook_sleep_ms = 0;
	he_resolve_set_gai_hook_(slow_gai);
	req_race(&f, &rr, AF_UNSPEC, "nosuch.invalid", 5000);
	bev = bev_race(&f, &br, M_SOCKET, AF_UNSPEC, "nosuch.invalid", 5000);
	he_resolve_set_gai_hook_(NULL);

	ck_assert_int_eq(rr.fd, -1);
	ck_assert_int_eq(rr.err, EHOSTUNREACH);
	ck_assert_int_eq(rr.dnserr, EVUTIL_EAI_NONAME);
	ck_assert_msg(br.what & BEV_EVENT_ERROR, "event 0x%x", br.what);
	ck_assert_int_eq(br.err, EHOSTUNREACH);
	ck_assert_int_eq(br.dnserr, EVUTIL_EAI_NONAME);
	ck_assert_int_eq(evhappy_socket_get_dns_error(bev), EVUTIL_EAI_NONAME);
	bufferevent_free(bev);
	fx_free(&f);
}
END_TEST

/* Freeing the context, the bufferevent and even the event_base while the
   helper threads are still inside a slow lookup: no callback, and once the
   threads finish nothing is left (valgrind/ASan watch the threads). */
START_TEST(test_system_free_during_lookup)
{
	struct fx f;
	struct rres rr;
	struct bres br;
	struct bufferevent *bev;

	fx_init(&f, 0);
	fx_listen_loopback(&f, v6ok);
	hook_sleep_ms = 300;
	he_resolve_set_gai_hook_(slow_gai);
	req_start(&f, &rr, AF_UNSPEC, "slow.test");
	bev = bev_start(&f, &br, M_CTX, AF_UNSPEC, "slow.test");
	he_test_run_until(f.base, 50, NULL);
	bufferevent_free(bev);
	evhappy_free(f.he);
	f.he = NULL;
	he_test_run_until(f.base, 20, NULL);
	ck_assert_int_eq(rr.calls, 0);
	ck_assert_int_eq(br.calls, 0);
	/* The event_base goes while the lookups still sleep. */
	fx_free_ex(&f, 0);
	he_test_sleep_ms(600);
	he_resolve_set_gai_hook_(NULL);
	ck_assert_int_eq(rr.calls, 0);
	ck_assert_int_eq(br.calls, 0);
	ck_assert_int_eq(he_test_count_fds(), f.fds0);
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
#define ONLY(p, t) do { if (program == (p)) tcase_add_test(tc, t); } while (0)
#define V4(t) ONLY(P_PLAIN, t)
#define V6(t) ONLY(P_V6, t)
#define HOSTS(t) ONLY(P_HOSTS, t)

static Suite *
resolve_suite(void)
{
	Suite *s = suite_create("resolve");
	TCase *tc;

	tc = he_test_tcase(s, "answers", 60);
	if (program == P_PLAIN)
		tcase_add_loop_test(tc, test_answers, 0, answer_first_v6());
	if (program == P_V6)
		tcase_add_loop_test(tc, test_answers, answer_first_v6(),
		    N_ANSWER_CASES);
	V4(test_nxdomain_report);

	tc = he_test_tcase(s, "several", 60);
	V6(test_several_refused_interleave);
	V6(test_several_blackholes_interleave);

	tc = he_test_tcase(s, "queries", 60);
	V6(test_literals_not_resolved);
	V6(test_family_restricts_queries);
	V4(test_family_no_address);
	V6(test_trace_dns);
	V4(test_trace_cancel_stops_queries);
	V4(test_trace_cancel_on_answer);
	V4(test_bad_arguments);

	tc = he_test_tcase(s, "free", 60);
	V4(test_free_bev_during_queries);
	V4(test_free_bev_during_attempt_and_query);
	V4(test_free_context_during_queries);
	V4(test_cancel_during_queries);
	V4(test_evdns_freed_after_context);
	V4(test_evdns_freed_first_fail_requests);

	tc = he_test_tcase(s, "dropin", 60);
	V6(test_socket_connect_hostname);
	V4(test_socket_connect_hostname_nxdomain);
	V4(test_dns_error_cleared_by_next_connect);
	V4(test_evdns_hosts_answer_at_once);
	V4(test_evdns_hosts_bev_callbacks_set_after);

	tc = he_test_tcase(s, "system", 60);
	HOSTS(test_system_localhost);
	V4(test_system_resolver_never_blocks);
	V4(test_system_socket_connect_never_blocks);
	V4(test_system_noname);
	V4(test_system_free_during_lookup);

	return s;
}

int
main(void)
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
	return he_test_run_suite(resolve_suite(), CK_ENV);
}
