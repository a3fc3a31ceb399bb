/*
 * evhappy --demo: libevent's bufferevent_socket_connect_hostname() and
 * evhappy side by side, in a lab inside this process (tools/he_lab.h): a
 * fake DNS server, listeners and black holes on loopback.  No network, no
 * root, a few seconds.
 *
 * Each scenario gives both sides the same name, the same DNS server and
 * the same addresses; only the way they connect differs.  The scenarios
 * are chosen to be fair: one of them is won by libevent.  The last one
 * serves an HTTPS record (RFC 9460) whose address hints evhappy races
 * before the A and AAAA answers come; libevent asks no such record.
 *
 * Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include "evhappy_tool.h"
#include "he_lab.h"

#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>

/* How long libevent gets before we stop waiting.  A real connect to a
   black hole waits for the kernel's SYN retries: about two minutes. */
#define DEMO_GIVE_UP_MS 2000
/* evhappy's overall timeout here: the demo must end even if it fails. */
#define DEMO_TIMEOUT_MS 2000
/* How late the slow AAAA answer comes. */
#define DEMO_SLOW_MS 500
/* How late A and AAAA come beside an HTTPS record with hints. */
#define DEMO_HINT_SLOW_MS 300
#define DEMO_RECORDS_MAX 2
/* Attempts at finding a port free on every address of a scenario. */
#define DEMO_BIND_TRIES 8
#define DEMO_SCENARIOS_MAX 4
/* Where the trace of evhappy's race is printed. */
#define DEMO_TRACE_INDENT "             "

/* One DNS record of a scenario and what is behind its address. */
struct demo_record {
	int type;			/* EVDNS_TYPE_A or EVDNS_TYPE_AAAA */
	const char *addr;
	int blackhole;
};

struct scenario {
	const char *title;		/* for the table */
	const char *name;
	const char *story;		/* what to look at; lines end in \n */
	int aaaa_delay_ms;
	int nrecords;
	struct demo_record records[DEMO_RECORDS_MAX];
	int a_delay_ms;
	/* an HTTPS record at the name asked ("_PORT._https.NAME"), in
	   zone-file text; evhappy asks it (evhappy_set_https_records) */
	const char *https;
};

enum outcome_state { OUT_SKIPPED, OUT_CONNECTED, OUT_FAILED, OUT_GAVE_UP };

/* How one side did in one scenario. */
struct outcome {
	enum outcome_state state;
	double ms;
	int family;			/* of the connection made */
	char text[512];
};

/* What is listening for one scenario: every record's address, one port. */
struct stage {
	int port;
	evutil_socket_t listeners[DEMO_RECORDS_MAX];
	struct he_lab_blackhole *holes[DEMO_RECORDS_MAX];
	char why[160];			/* when it could not be set up */
};

struct demo {
	struct event_base *base;
	struct he_lab_dns *dns;
	struct evdns_base *client;
	struct evhappy *he;
	/* the side running now */
	int done;
	double t0;
	struct outcome *out;
	struct evhappy_endpoint *endpoint;	/* evhappy's winner's, or NULL */
};

/* The records of a scenario on a host where ::1 works (nrecords and
   records: ::1 and 127.0.0.1, each a black hole or not), and on one
   without (127.0.0.1 alone). */
#define DUAL(v6_hole, v4_hole)					\
	2, { { EVDNS_TYPE_AAAA, "::1", (v6_hole) },		\
	     { EVDNS_TYPE_A, "127.0.0.1", (v4_hole) } }
#define V4_ALONE 1, { { EVDNS_TYPE_A, "127.0.0.1", 0 } }

/* Scenarios for a host where ::1 works. */
static const struct scenario dual_stack[] = {
	{ "IPv4 path broken", "v4-broken.example",
	  "libevent's evdns lists IPv4 first, and bufferevent_socket_connect_"
	  "hostname()\ntries only the first address.  evhappy prefers IPv6 "
	  "(RFC 6724).\n",
	  0, DUAL(0, 1), 0, NULL },
	{ "IPv6 path broken", "v6-broken.example",
	  "The case Happy Eyeballs was made for.  libevent is lucky: it tries "
	  "IPv4 first.\nevhappy tries ::1 first and starts 127.0.0.1 when "
	  "the 250 ms Connection\nAttempt Delay runs out, without "
	  "cancelling the first attempt.\n",
	  0, DUAL(1, 0), 0, NULL },
	{ "AAAA answer slow", "slow-aaaa.example",
	  "libevent waits for both answers before it connects.  evhappy "
	  "waits for the\nAAAA answer only for the 50 ms Resolution Delay, "
	  "then connects over IPv4.\n",
	  DEMO_SLOW_MS, DUAL(1, 0), 0, NULL },
	{ "HTTPS record's hints", "hints.example",
	  "The A and AAAA answers come late; an HTTPS record (RFC 9460) "
	  "comes at once,\nwith address hints.  libevent asks no HTTPS "
	  "record and waits.  evhappy, with\nevhappy_set_https_records(he, "
	  "1), connects to a hint at once (the Happy\nEyeballs v3 draft).\n",
	  DEMO_HINT_SLOW_MS, DUAL(0, 0), DEMO_HINT_SLOW_MS,
	  "1 hints.example alpn=h2 ipv4hint=127.0.0.1 ipv6hint=::1" },
};

/* Scenarios for a host without a usable ::1. */
static const struct scenario v4_only[] = {
	{ "first address broken", "first-broken.example",
	  "Two A records, the first a black hole.  bufferevent_socket_"
	  "connect_hostname()\ntries only the first address; evhappy "
	  "starts the second when the 250 ms\nConnection Attempt Delay "
	  "runs out.\n",
	  0, 2, { { EVDNS_TYPE_A, "127.0.0.1", 1 },
		  { EVDNS_TYPE_A, "127.0.0.2", 0 } }, 0, NULL },
	{ "AAAA answer slow", "slow-aaaa.example",
	  "The AAAA answer comes late and empty.  libevent waits for both "
	  "answers before\nit connects.  evhappy waits for the AAAA answer "
	  "only for the 50 ms Resolution\nDelay, then connects over IPv4.\n",
	  DEMO_SLOW_MS, V4_ALONE, 0, NULL },
	{ "HTTPS record's hint", "hints.example",
	  "The A and AAAA answers come late; an HTTPS record (RFC 9460) "
	  "comes at once,\nwith an address hint.  libevent asks no HTTPS "
	  "record and waits.  evhappy, with\nevhappy_set_https_records(he, "
	  "1), connects to the hint after the 50 ms\nResolution Delay (an "
	  "IPv4 hint waits for AAAA as an A answer does).\n",
	  DEMO_HINT_SLOW_MS, V4_ALONE, DEMO_HINT_SLOW_MS,
	  "1 hints.example alpn=h2 ipv4hint=127.0.0.1" },
};

/* ------------------------------------------------------------------------ */
/* Output */

static void
print_indented(const char *indent, const char *text)
{
	while (*text) {
		size_t n = strcspn(text, "\n");
		printf("%s%.*s\n", indent, (int)n, text);
		text += n + (text[n] == '\n');
	}
}

static void
print_record(const struct scenario *s, const struct demo_record *r)
{
	int delay = r->type == EVDNS_TYPE_AAAA ? s->aaaa_delay_ms :
	    s->a_delay_ms;
	char when[32];

	if (delay)
		evutil_snprintf(when, sizeof(when), "after %d ms", delay);
	else
		evutil_snprintf(when, sizeof(when), "at once");
	printf("     %-4s %-10s %-22s answered %s\n",
	    r->type == EVDNS_TYPE_A ? "A" : "AAAA", r->addr,
	    r->blackhole ? "black hole" : "accepts connections", when);
}

static int
has_aaaa(const struct scenario *s)
{
	int i;

	for (i = 0; i < s->nrecords; i++)
		if (s->records[i].type == EVDNS_TYPE_AAAA)
			return 1;
	return 0;
}

static void
print_scenario(const struct scenario *s, int n, int port)
{
	int i;

	printf("\n%d. %s\n", n, s->title);
	print_indented("   ", s->story);
	printf("   %s, port %d:\n", s->name, port);
	if (!has_aaaa(s) && s->aaaa_delay_ms)
		printf("     AAAA (none)                            "
		    "answered after %d ms\n", s->aaaa_delay_ms);
	for (i = 0; i < s->nrecords; i++)
		print_record(s, &s->records[i]);
	if (s->https)
		printf("     HTTPS _%d._https.%s, answered at once:\n"
		    "          %s\n", port, s->name, s->https);
}

/* A table cell: how long a side took. */
static void
outcome_cell(const struct outcome *o, char *buf, size_t len)
{
	switch (o->state) {
	case OUT_SKIPPED:
		evutil_snprintf(buf, len, "skipped");
		break;
	case OUT_CONNECTED:
		evutil_snprintf(buf, len, "%.1f ms over IPv%d", o->ms,
		    tool_family_number(o->family));
		break;
	case OUT_FAILED:
		evutil_snprintf(buf, len, "failed after %.0f ms", o->ms);
		break;
	case OUT_GAVE_UP:
		evutil_snprintf(buf, len, "gave up after %.0f ms", o->ms);
		break;
	}
}

static void
print_table(const struct scenario *s, int n, const struct outcome *lev,
    const struct outcome *he)
{
	char a[64], b[64];
	int i;

	printf("\nTime to connect, the same names and addresses for both:\n");
	printf("   %-26s %-26s %s\n", "scenario", "libevent", "evhappy");
	for (i = 0; i < n; i++) {
		outcome_cell(&lev[i], a, sizeof(a));
		outcome_cell(&he[i], b, sizeof(b));
		printf("   %d. %-23s %-26s %s\n", i + 1, s[i].title, a, b);
	}
}

/* ------------------------------------------------------------------------ */
/* Outcomes */

static void
side_done(struct demo *d)
{
	d->done = 1;
	event_base_loopbreak(d->base);
}

static void
outcome_connected(struct outcome *o, evutil_socket_t fd, double t0)
{
	struct sockaddr_storage ss;
	ev_socklen_t len = sizeof(ss);
	char addr[TOOL_ADDRLEN];

	o->ms = tool_now_ms() - t0;
	o->state = OUT_CONNECTED;
	memset(&ss, 0, sizeof(ss));
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		ss.ss_family = AF_UNSPEC;
	o->family = ss.ss_family;
	evhappy_sockaddr_format((struct sockaddr *)&ss, addr, sizeof(addr));
	evutil_snprintf(o->text, sizeof(o->text), "connected to %s in %.1f ms",
	    addr, o->ms);
}

static void
outcome_failed(struct outcome *o, double t0, const char *fmt, ...)
{
	va_list ap;

	o->ms = tool_now_ms() - t0;
	o->state = OUT_FAILED;
	va_start(ap, fmt);
	evutil_vsnprintf(o->text, sizeof(o->text), fmt, ap);
	va_end(ap);
}

/* Run the loop until the side that runs now is done. */
static void
wait_side(struct demo *d)
{
	while (!d->done)
		if (event_base_dispatch(d->base) != 0 && !d->done) {
			outcome_failed(d->out, d->t0, "the event loop ran dry");
			return;
		}
}

/* ------------------------------------------------------------------------ */
/* libevent's side */

static void
lev_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct demo *d = arg;
	int err = EVUTIL_SOCKET_ERROR();
	int dns = bufferevent_socket_get_dns_error(bev);

	if (what & BEV_EVENT_CONNECTED)
		outcome_connected(d->out, bufferevent_getfd(bev), d->t0);
	else if (dns)
		outcome_failed(d->out, d->t0, "failed: %s",
		    evutil_gai_strerror(dns));
	else
		outcome_failed(d->out, d->t0, "failed: %s",
		    evutil_socket_error_to_string(err));
	side_done(d);
}

static void
lev_give_up_cb(evutil_socket_t fd, short what, void *arg)
{
	struct demo *d = arg;

	(void)fd;
	(void)what;
	d->out->state = OUT_GAVE_UP;
	d->out->ms = tool_now_ms() - d->t0;
	side_done(d);
}

/* Which family libevent's one socket is: it tells which address it
   took, since it never tries another. */
static void
describe_give_up(struct outcome *o, struct bufferevent *bev)
{
	struct sockaddr_storage ss;
	ev_socklen_t len = sizeof(ss);
	evutil_socket_t fd = bufferevent_getfd(bev);
	char sock[48] = "";

	if (fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		evutil_snprintf(sock, sizeof(sock), " (its one socket is "
		    "IPv%d)", tool_family_number(ss.ss_family));
	evutil_snprintf(o->text, sizeof(o->text), "still not connected "
	    "after %.0f ms%s; gave up", o->ms, sock);
}

static void
run_libevent(struct demo *d, const struct scenario *s, int port,
    struct outcome *out)
{
	struct bufferevent *bev;
	struct event *give_up;
	struct timeval tv = { DEMO_GIVE_UP_MS / 1000,
	    (DEMO_GIVE_UP_MS % 1000) * 1000 };

	printf("   libevent  bufferevent_socket_connect_hostname(bev, dns, "
	    "AF_UNSPEC, ...)\n");
	fflush(stdout);
	bev = bufferevent_socket_new(d->base, -1, BEV_OPT_CLOSE_ON_FREE);
	give_up = evtimer_new(d->base, lev_give_up_cb, d);
	d->done = 0;
	d->out = out;
	d->t0 = tool_now_ms();
	if (!bev || !give_up) {
		outcome_failed(out, d->t0, "out of memory");
		goto end;
	}
	bufferevent_setcb(bev, NULL, NULL, lev_event_cb, d);
	evtimer_add(give_up, &tv);
	if (bufferevent_socket_connect_hostname(bev, d->client, AF_UNSPEC,
		s->name, port) < 0 && !d->done)
		outcome_failed(out, d->t0, "failed to start");
	else
		wait_side(d);
	if (out->state == OUT_GAVE_UP)
		describe_give_up(out, bev);
end:
	printf("             %s\n", out->text);
	if (give_up)
		event_free(give_up);
	if (bev)
		bufferevent_free(bev);
}

/* ------------------------------------------------------------------------ */
/* evhappy's side */

static void
he_trace_cb(const struct evhappy_trace *ev, void *arg)
{
	(void)arg;
	tool_trace_print(stdout, DEMO_TRACE_INDENT, ev);
}

static void
he_connect_cb(evutil_socket_t fd, const struct evhappy_report *r, void *arg)
{
	struct demo *d = arg;
	char line[400];

	if (fd >= 0) {
		outcome_connected(d->out, fd, d->t0);
		d->endpoint = tool_endpoint_dup(evhappy_report_get_endpoint(r));
		evutil_closesocket(fd);
	} else {
		evhappy_report_format(r, line, sizeof(line));
		outcome_failed(d->out, d->t0, "%s", line);
	}
	side_done(d);
}

static void
run_evhappy(struct demo *d, const struct scenario *s, int port,
    struct outcome *out)
{
	printf("   evhappy   evhappy_resolve_and_connect(he, AF_UNSPEC, ...), "
	    "as --trace shows it:\n");
	fflush(stdout);
	/* Only this scenario's races ask HTTPS records: the others' traces
	   stay as short as their stories. */
	evhappy_set_https_records(d->he, s->https != NULL);
	d->done = 0;
	d->out = out;
	d->t0 = tool_now_ms();
	if (!evhappy_resolve_and_connect(d->he, AF_UNSPEC, s->name, port,
		he_connect_cb, d))
		outcome_failed(out, d->t0, "failed to start: %s",
		    strerror(errno));
	else
		wait_side(d);
	printf("             %s\n", out->text);
	if (d->endpoint) {
		printf("             HTTPS endpoint ");
		tool_endpoint_print(stdout, d->endpoint);
		printf("\n");
	}
	tool_endpoint_free(d->endpoint);
	d->endpoint = NULL;
	evhappy_set_https_records(d->he, 0);
}

/* ------------------------------------------------------------------------ */
/* The lab */

static void
stage_free(struct stage *st)
{
	int i;

	for (i = 0; i < DEMO_RECORDS_MAX; i++) {
		if (st->listeners[i] >= 0)
			evutil_closesocket(st->listeners[i]);
		he_lab_blackhole_free(st->holes[i]);
		st->listeners[i] = -1;
		st->holes[i] = NULL;
	}
}

/* Put a listener or a black hole on record i's address, at st->port
   (0: any, which then becomes the scenario's port). */
static int
stage_one(struct stage *st, const struct demo_record *r, int i)
{
	char where[TOOL_ADDRLEN];

	/* evutil_parse_sockaddr_port() refuses an explicit port 0. */
	if (!st->port)
		evutil_snprintf(where, sizeof(where), "%s", r->addr);
	else
		evutil_snprintf(where, sizeof(where),
		    r->type == EVDNS_TYPE_AAAA ? "[%s]:%d" : "%s:%d", r->addr,
		    st->port);
	if (r->blackhole)
		st->holes[i] = he_lab_blackhole_new(where, &st->port);
	else
		st->listeners[i] = he_lab_listen(where, &st->port);
	if (st->holes[i] || st->listeners[i] >= 0)
		return 0;
	evutil_snprintf(st->why, sizeof(st->why), r->blackhole ?
	    "no black hole can be made on %s here (%s)" :
	    "cannot listen on %s here (%s)", r->addr,
	    errno == EAGAIN ? "this kernel does not drop SYNs" :
	    strerror(errno));
	return -1;
}

/* Every address of the scenario on one port.  The first picks it; when
   another address has it taken, start over. */
static int
stage_setup(struct stage *st, const struct scenario *s)
{
	int try, i, err;

	memset(st, 0, sizeof(*st));
	for (i = 0; i < DEMO_RECORDS_MAX; i++)
		st->listeners[i] = -1;
	for (try = 0; try < DEMO_BIND_TRIES; try++) {
		st->port = 0;
		for (i = 0; i < s->nrecords; i++)
			if (stage_one(st, &s->records[i], i) < 0)
				break;
		if (i == s->nrecords)
			return 0;
		err = errno;
		stage_free(st);
		if (i == 0 || err != EADDRINUSE)
			return -1;
	}
	return -1;
}

static int
serve_names(struct demo *d, const struct scenario *s, int port)
{
	char qname[256];
	int i;

	for (i = 0; i < s->nrecords; i++)
		if (he_lab_dns_add(d->dns, s->name, s->records[i].type,
			s->records[i].addr) < 0)
			return -1;
	if (s->aaaa_delay_ms && he_lab_dns_set(d->dns, s->name,
		EVDNS_TYPE_AAAA, HE_LAB_ANSWER, s->aaaa_delay_ms) < 0)
		return -1;
	if (s->a_delay_ms && he_lab_dns_set(d->dns, s->name,
		EVDNS_TYPE_A, HE_LAB_ANSWER, s->a_delay_ms) < 0)
		return -1;
	/* RFC 9460 section 9.1: the name asked for a port other than 443 */
	evutil_snprintf(qname, sizeof(qname), "_%d._https.%s", port, s->name);
	if (s->https && he_lab_dns_add_https(d->dns, qname, s->https) < 0)
		return -1;
	return 0;
}

static void
run_scenario(struct demo *d, const struct scenario *s, int n,
    struct outcome *lev, struct outcome *he)
{
	struct stage st;

#ifndef HAVE_CARES
	/* The demo's context asks an evdns_base: its HTTPS query needs
	   c-ares. */
	if (s->https) {
		printf("\n%d. %s: skipped, this build has no c-ares (HTTPS "
		    "records over evdns)\n", n, s->title);
		return;
	}
#endif
	if (stage_setup(&st, s) < 0 || serve_names(d, s, st.port) < 0) {
		stage_free(&st);
		printf("\n%d. %s: skipped, %s\n", n, s->title,
		    st.why[0] ? st.why : "the fake DNS server failed");
		return;
	}
	print_scenario(s, n, st.port);
	run_libevent(d, s, st.port, lev);
	run_evhappy(d, s, st.port, he);
	stage_free(&st);
}

/* ------------------------------------------------------------------------ */

static void
intro(const struct demo *d, int v6)
{
	printf(
"evhappy %s demo: Happy Eyeballs v2 (RFC 8305) against libevent %s's\n"
"bufferevent_socket_connect_hostname().\n"
"\n"
"Everything runs inside this process, on loopback.  A fake DNS server at\n"
"%s answers for names under .example.  Some of their addresses\n"
"accept connections; the others are black holes: listeners whose accept\n"
"queue is full, so the kernel drops every SYN and a connect neither\n"
"succeeds nor fails, as behind a broken route or a firewall that drops\n"
"packets.  Both sides ask the same server for the same names.\n",
	    evhappy_get_version(), event_get_version(),
	    he_lab_dns_address(d->dns));
	if (!v6)
		printf("\n::1 does not work here (no IPv6 loopback), so "
		    "this shows what IPv4 alone can:\nthe IPv6 scenarios "
		    "are left out.\n");
}

static void
conclusion(void)
{
	printf(
"\n"
"libevent tries one address, the first of the list evdns returns (IPv4\n"
"first), after both answers came: when that path is broken it waits for\n"
"the kernel to give up, about two minutes (cut to %d ms here).  evhappy\n"
"races the addresses: a broken path costs it one Connection Attempt\n"
"Delay (250 ms), a slow AAAA answer at most the Resolution Delay (50 ms),\n"
"and with HTTPS records on, slow A and AAAA answers cost nothing when\n"
"the record's hints work.\n"
"Try it: evhappy --trace HOST PORT\n", DEMO_GIVE_UP_MS);
}

static int
demo_setup(struct demo *d)
{
	struct timeval tv = { DEMO_TIMEOUT_MS / 1000,
	    (DEMO_TIMEOUT_MS % 1000) * 1000 };

	if (!(d->base = event_base_new()) ||
	    !(d->dns = he_lab_dns_new(d->base)) ||
	    !(d->client = he_lab_dns_client(d->dns, d->base)) ||
	    !(d->he = evhappy_new(d->base, d->client)) ||
	    evhappy_set_timeout(d->he, &tv) < 0) {
		fprintf(stderr, "evhappy: --demo: cannot set up the lab\n");
		return -1;
	}
	evhappy_set_trace_cb(d->he, he_trace_cb, d);
	return 0;
}

static void
demo_free(struct demo *d)
{
	tool_context_free(d->he, d->base, d->client);
	he_lab_dns_free(d->dns);
	if (d->base)
		event_base_free(d->base);
}

int
tool_demo(void)
{
	struct demo d;
	struct outcome lev[DEMO_SCENARIOS_MAX], he[DEMO_SCENARIOS_MAX];
	int v6 = he_lab_ipv6_loopback_works(), n, i, rc = TOOL_EXIT_FAIL;
	const struct scenario *s = v6 ? dual_stack : v4_only;

	n = v6 ? (int)(sizeof(dual_stack) / sizeof(dual_stack[0])) :
	    (int)(sizeof(v4_only) / sizeof(v4_only[0]));
	memset(&d, 0, sizeof(d));
	memset(lev, 0, sizeof(lev));
	memset(he, 0, sizeof(he));
	if (demo_setup(&d) < 0)
		goto end;
	intro(&d, v6);
	for (i = 0; i < n; i++)
		run_scenario(&d, &s[i], i + 1, &lev[i], &he[i]);
	print_table(s, n, lev, he);
	conclusion();
	rc = TOOL_EXIT_OK;
end:
	demo_free(&d);
	return rc;
}
