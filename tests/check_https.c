/*
 * HTTPS records in the race (evhappy_set_https_records), end to end: the
 * lab's DNS server serves a zone, listeners, black holes and refusing
 * ports stand for the servers, and each row of the table says what the
 * race must do: which address wins, after how long (a window), which
 * addresses it tried in which order, which endpoint the caller is told,
 * what the trace says.  Rows run through an evdns_base (HTTPS through
 * c-ares, when the build has it) and, where marked, through the system
 * resolver (HTTPS through res_nquery pointed at the lab, A and AAAA
 * through the resolver's test hook, which reads the same zone).
 *
 * Addresses: 127.0.0.1 and 127.0.0.4 listen on $P, 127.0.0.3 is a black
 * hole on $P, 127.0.0.5 and every address on $Q refuse.
 *
 * Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif

#include "he_event.h"
#include "he_dnsq.h"
#include "he_resolve.h"
#include "he_gate.h"
#include "he_lab.h"
#include "he_testutil.h"

#include <check.h>

#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#define HOST "svc.test"
/* where the record of HOST is asked for ports $P and $Q (RFC 9460 9.1) */
#define AT_P "_$P._https." HOST
#define AT_Q "_$Q._https." HOST

#ifdef HAVE_CARES
#define HAVE_CARES_ 1
#else
#define HAVE_CARES_ 0
#endif

enum via { VIA_EVDNS = 1, VIA_SYSTEM = 2, VIA_BOTH = 3 };
enum hook { HOOK_NONE, HOOK_ACCEPT, HOOK_REFUSE };

struct row {
	const char *name;
	/* "NAME TYPE [@DELAY_MS] DATA": TYPE A, AAAA (DATA: addresses, or
	   nxdomain, servfail, drop, nodata) or HTTPS (DATA: the record's
	   zone-file text, or one of those words, or hex:BYTES for its
	   RDATA); $P and $Q stand for the ports */
	const char *zone[10];
	int https;		/* evhappy_set_https_records */
	const char *alpn;	/* evhappy_set_alpn, NULL: the default */
	const char *port;	/* the port asked: "$P", "$Q" or a number */
	enum hook hook;
	int bev;		/* race on a bufferevent, not the socket path */
	enum via via;
	/* expected */
	const char *winner;	/* "127.0.0.1:$P", or NULL: the race fails */
	int error;		/* its errno when it fails */
	const char *attempts;	/* addresses tried in order, ","-joined;
				   NULL: not checked */
	const char *endpoint;	/* "TARGET:PORT PRIORITY ALPN[ ech]", or "":
				   none */
	int min_ms, max_ms;	/* when the outcome came */
	const char *trace_has[3];	/* substrings of the trace */
	const char *trace_lacks;
	int https_queries;	/* HTTPS queries of the name asked first the
				   lab saw; -1: not checked */
};

static const struct row rows[] = {
	{ "off: no HTTPS query, the host's address wins",
	  { AT_P " HTTPS 1 . port=$Q ipv4hint=127.0.0.5",
	    HOST " A 127.0.0.4", HOST " AAAA nodata" },
	  0, NULL, "$P", HOOK_NONE, 0, VIA_BOTH,
	  "127.0.0.4:$P", 0, "127.0.0.4:$P", "", 0, 200,
	  { NULL }, "https", 0 },
	{ "hints only: the hint races at the record's port before A/AAAA",
	  { HOST " HTTPS 1 . port=$P ipv4hint=127.0.0.1",
	    HOST " A drop", HOST " AAAA drop" },
	  1, NULL, "443", HOOK_NONE, 0, VIA_EVDNS,
	  "127.0.0.1:$P", 0, "127.0.0.1:$P", HOST ":$P 1 http/1.1",
	  /* IPv4 hints alone wait for AAAA as a positive A answer does */
	  40, 250,
	  { "https-query " HOST, "https-answer: service, 1 endpoint",
	    "endpoint " HOST ":$P priority 1 alpn http/1.1" }, NULL, 1 },
	{ "hints, then the target's late answer disagrees: the hint it "
	  "lacks is dropped, its address races",
	  { HOST " HTTPS 1 other.test port=$P ipv4hint=127.0.0.3,127.0.0.5",
	    "other.test A @150 127.0.0.4", "other.test AAAA nodata",
	    HOST " A nxdomain", HOST " AAAA nxdomain" },
	  1, NULL, "443", HOOK_NONE, 0, VIA_EVDNS,
	  "127.0.0.4:$P", 0, "127.0.0.3:$P,127.0.0.4:$P",
	  "other.test:$P 1 http/1.1", 240, 450,
	  { "dns-query A other.test", "dns-answer A other.test: 1 address" },
	  "127.0.0.5", 1 },
	{ "the host's own late answer confirms its endpoint's hints: the "
	  "one it lacks is dropped",
	  { HOST " HTTPS 1 . port=$P ipv4hint=127.0.0.3,127.0.0.5",
	    HOST " A @150 127.0.0.4", HOST " AAAA nodata" },
	  1, NULL, "443", HOOK_NONE, 0, VIA_BOTH,
	  "127.0.0.4:$P", 0, "127.0.0.3:$P,127.0.0.4:$P", HOST ":$P 1 http/1.1",
	  240, 450, { NULL }, "127.0.0.5", 1 },
	{ "hints win at once while A and AAAA come 300 ms late",
	  { HOST " HTTPS 1 . port=$P ipv4hint=127.0.0.1",
	    HOST " A @300 127.0.0.4", HOST " AAAA @300 nodata" },
	  1, NULL, "443", HOOK_NONE, 0, VIA_BOTH,
	  "127.0.0.1:$P", 0, "127.0.0.1:$P", HOST ":$P 1 http/1.1",
	  /* an IPv4 hint alone waits the resolution delay for AAAA */
	  40, 200, { NULL }, NULL, 1 },
	{ "an alias chain: the target's own record, found at the alias",
	  { HOST " HTTPS 0 alias.test", "alias.test HTTPS 1 . alpn=h2 port=$P",
	    "alias.test A 127.0.0.1", "alias.test AAAA nodata",
	    HOST " A nxdomain", HOST " AAAA nxdomain" },
	  1, "h2", "443", HOOK_NONE, 0, VIA_BOTH,
	  "127.0.0.1:$P", 0, "127.0.0.1:$P", "alias.test:$P 1 h2,http/1.1",
	  0, 200, { "https-answer: service, 2 endpoints" }, NULL, 1 },
	{ "an alias to a name without a record: the name is the endpoint",
	  { AT_P " HTTPS 0 alias.test", "alias.test A 127.0.0.1",
	    "alias.test AAAA nodata", HOST " A nxdomain",
	    HOST " AAAA nxdomain" },
	  1, NULL, "$P", HOOK_NONE, 0, VIA_BOTH,
	  "127.0.0.1:$P", 0, "127.0.0.1:$P", "alias.test:$P 0 -", 0, 200,
	  { NULL }, NULL, 1 },
	{ "priorities and ALPN: h3 alone and an ALPN the caller lacks are "
	  "skipped and said so",
	  { HOST " HTTPS 1 quic.test alpn=h3 no-default-alpn ipv4hint=127.0.0.5",
	    HOST " HTTPS 2 . alpn=h2 port=$P ipv4hint=127.0.0.1",
	    HOST " HTTPS 3 old.test port=$P ipv4hint=127.0.0.5",
	    HOST " A @20 127.0.0.1", HOST " AAAA nodata" },
	  1, "h2", "443", HOOK_NONE, 0, VIA_BOTH,
	  "127.0.0.1:$P", 0, "127.0.0.1:$P", HOST ":$P 2 h2,http/1.1", 0, 200,
	  { "QUIC", "endpoint-skipped", "https-answer: service, 1 endpoint" },
	  "127.0.0.5", 1 },
	{ "endpoints in priority order, whatever the order of the records; "
	  "the host's own addresses last",
	  { AT_P " HTTPS 2 b.test", AT_P " HTTPS 1 a.test",
	    "a.test A 127.0.0.3", "a.test AAAA nodata", "b.test A 127.0.0.4",
	    "b.test AAAA nodata", HOST " A 127.0.0.5", HOST " AAAA nodata" },
	  1, NULL, "$P", HOOK_NONE, 0, VIA_EVDNS,
	  "127.0.0.4:$P", 0, "127.0.0.3:$P,127.0.0.4:$P",
	  "b.test:$P 2 http/1.1", 240, 450, { NULL }, NULL, 1 },
	/* The same through the system resolver, the host's answer 150 ms
	   late: the targets' lookups wait their turn on the pool's threads,
	   and under valgrind took longer than the resolution delay that the
	   race gives them once the host's address is known. */
	{ "endpoints in priority order, whatever the order of the records; "
	  "the host's own late addresses last",
	  { AT_P " HTTPS 2 b.test", AT_P " HTTPS 1 a.test",
	    "a.test A 127.0.0.3", "a.test AAAA nodata", "b.test A 127.0.0.4",
	    "b.test AAAA nodata", HOST " A @150 127.0.0.5",
	    HOST " AAAA @150 nodata" },
	  1, NULL, "$P", HOOK_NONE, 0, VIA_SYSTEM,
	  "127.0.0.4:$P", 0, "127.0.0.3:$P,127.0.0.4:$P",
	  "b.test:$P 2 http/1.1", 240, 450, { NULL }, NULL, 1 },
	{ "ECH: the hook sees the configuration; a mandatory ech is usable",
	  { HOST " HTTPS 1 . mandatory=ech port=$P ipv4hint=127.0.0.1 "
	    "ech=hex:0102030405", HOST " A 127.0.0.1", HOST " AAAA nodata" },
	  1, NULL, "443", HOOK_ACCEPT, 0, VIA_EVDNS,
	  "127.0.0.1:$P", 0, "127.0.0.1:$P", HOST ":$P 1 http/1.1 ech",
	  0, 200, { NULL }, NULL, 1 },
	{ "ECH made mandatory without a hook to pass it on: skipped",
	  { AT_P " HTTPS 1 . mandatory=ech port=$Q ipv4hint=127.0.0.1 "
	    "ech=hex:0102030405", HOST " A 127.0.0.1", HOST " AAAA nodata" },
	  1, NULL, "$P", HOOK_NONE, 0, VIA_EVDNS,
	  "127.0.0.1:$P", 0, "127.0.0.1:$P", "", 0, 200,
	  { "endpoint-skipped" }, NULL, 1 },
	{ "a late record does not hold the race past the resolution delay",
	  { AT_P " HTTPS @300 1 . port=$Q ipv4hint=127.0.0.5",
	    HOST " A 127.0.0.1", HOST " AAAA nodata" },
	  1, NULL, "$P", HOOK_NONE, 0, VIA_EVDNS,
	  "127.0.0.1:$P", 0, "127.0.0.1:$P", "", 40, 200, { NULL }, NULL, 1 },
	{ "a failed record: the race goes on with A and AAAA",
	  { AT_P " HTTPS servfail", HOST " A 127.0.0.1", HOST " AAAA nodata" },
	  1, NULL, "$P", HOOK_NONE, 0, VIA_BOTH,
	  "127.0.0.1:$P", 0, "127.0.0.1:$P", "", 0, 200,
	  { "https-answer: failed" }, NULL, -1 },
	{ "a malformed record: the race goes on with A and AAAA",
	  { AT_P " HTTPS hex:0001", HOST " A 127.0.0.1", HOST " AAAA nodata" },
	  1, NULL, "$P", HOOK_NONE, 0, VIA_BOTH,
	  "127.0.0.1:$P", 0, "127.0.0.1:$P", "", 0, 200,
	  { "https-answer: malformed" }, NULL, 1 },
	/* whichever of the record and the A answer comes first, the host's
	   address races at the record's port first */
#define RECORD_NAMES_HOST						\
	  1, NULL, "$Q", HOOK_NONE, 0, VIA_BOTH,			\
	  "127.0.0.1:$P", 0, "127.0.0.1:$P", HOST ":$P 1 http/1.1", 20, 200, \
	  { NULL }, NULL, 1
	{ "the record names the host after its A came: its address races "
	  "at the record's port first",
	  { AT_Q " HTTPS @30 1 " HOST " port=$P", HOST " A 127.0.0.1",
	    HOST " AAAA nodata" }, RECORD_NAMES_HOST },
	{ "the record names the host before its A came",
	  { AT_Q " HTTPS 1 " HOST " port=$P", HOST " A @30 127.0.0.1",
	    HOST " AAAA @30 nodata" }, RECORD_NAMES_HOST },
#undef RECORD_NAMES_HOST
	{ "the hook refuses: the race fails with its errno",
	  { HOST " HTTPS 1 . port=$P ipv4hint=127.0.0.1", HOST " A 127.0.0.1",
	    HOST " AAAA nodata" },
	  1, NULL, "443", HOOK_REFUSE, 0, VIA_EVDNS,
	  NULL, EPROTO, "127.0.0.1:$P", "", 0, 200, { NULL }, NULL, 1 },
	{ "a bufferevent learns its endpoint, and the hook sees it",
	  { HOST " HTTPS 1 . alpn=h2 port=$P ipv4hint=127.0.0.1",
	    HOST " A 127.0.0.1", HOST " AAAA nodata" },
	  1, "h2", "443", HOOK_ACCEPT, 1, VIA_BOTH,
	  "127.0.0.1:$P", 0, NULL, HOST ":$P 1 h2,http/1.1", 0, 200,
	  { NULL }, NULL, 1 },
};

/* ---- the zone ----------------------------------------------------------- */

struct rr {
	char name[64];
	int type;		/* EVDNS_TYPE_A, _AAAA, or 65 */
	int delay_ms;
	char data[512];
};

static struct rr zone[10];
static int nzone;
static int port_p, port_q;

/* s with $P and $Q replaced. */
static void
subst(const char *s, char *out, size_t len)
{
	size_t n = 0;

	for (; *s && n + 8 < len; s++) {
		if (s[0] == '$' && (s[1] == 'P' || s[1] == 'Q')) {
			n += (size_t)snprintf(out + n, len - n, "%d",
			    s[1] == 'P' ? port_p : port_q);
			s++;
		} else
			out[n++] = *s;
	}
	out[n] = '\0';
}

static void
zone_parse(const char *const *lines)
{
	char buf[600], type[16], *p;
	struct rr *r;
	int used;

	for (nzone = 0; lines[nzone]; nzone++) {
		r = &zone[nzone];
		subst(lines[nzone], buf, sizeof(buf));
		ck_assert_int_eq(sscanf(buf, "%63s %15s %n", r->name, type,
		    &used), 2);
		r->type = !strcmp(type, "A") ? EVDNS_TYPE_A :
		    !strcmp(type, "AAAA") ? EVDNS_TYPE_AAAA : 65;
		p = buf + used;
		r->delay_ms = 0;
		if (*p == '@') {
			r->delay_ms = (int)strtol(p + 1, &p, 10);
			p += *p == ' ';
		}
		snprintf(r->data, sizeof(r->data), "%s", p);
	}
}

static int
zone_mode(const struct rr *r, enum he_lab_dns_mode *mode)
{
	*mode = HE_LAB_ANSWER;
	if (!strcmp(r->data, "nxdomain"))
		*mode = HE_LAB_NXDOMAIN;
	else if (!strcmp(r->data, "servfail"))
		*mode = HE_LAB_SERVFAIL;
	else if (!strcmp(r->data, "drop"))
		*mode = HE_LAB_DROP;
	else if (strcmp(r->data, "nodata") != 0)
		return 0;	/* records */
	return 1;
}

static void
zone_serve(struct he_lab_dns *d)
{
	unsigned char raw[4096];
	char copy[512], *save = NULL, *tok;
	enum he_lab_dns_mode mode;
	int i, n;

	for (i = 0; i < nzone; i++) {
		const struct rr *r = &zone[i];
		if (zone_mode(r, &mode))
			;
		else if (r->type == 65 && !strncmp(r->data, "hex:", 4)) {
			n = he_lab_svcb_rdata(r->data, raw, sizeof(raw));
			ck_assert_int_ge(n, 0);
			ck_assert_int_eq(he_lab_dns_add_raw(d, r->name, 65, raw,
			    (size_t)n), 0);
		} else if (r->type == 65) {
			ck_assert_msg(he_lab_dns_add_https(d, r->name,
			    r->data) == 0, "bad record %s", r->data);
		} else {
			snprintf(copy, sizeof(copy), "%s", r->data);
			for (tok = strtok_r(copy, " ", &save); tok;
			    tok = strtok_r(NULL, " ", &save))
				ck_assert_int_eq(he_lab_dns_add(d, r->name,
				    r->type, tok), 0);
		}
		ck_assert_int_eq(he_lab_dns_set(d, r->name, r->type, mode,
		    r->delay_ms), 0);
	}
}

/* The system resolver's test hook: A and AAAA from the zone, on the
 * worker (which may sleep: it is not the loop). */
static int
zone_gai(const char *node, const char *service,
    const struct evutil_addrinfo *hints, struct evutil_addrinfo **res)
{
	struct addrinfo h, *one, *head = NULL, **tail = &head;
	char copy[512], *save = NULL, *tok;
	int type = hints->ai_family == AF_INET6 ? EVDNS_TYPE_AAAA :
	    EVDNS_TYPE_A;
	int i;

	for (i = 0; i < nzone; i++) {
		const struct rr *r = &zone[i];
		if (strcmp(r->name, node) != 0 || r->type != type)
			continue;
		if (r->delay_ms)
			usleep((useconds_t)r->delay_ms * 1000);
		if (!strcmp(r->data, "nodata") || !strcmp(r->data, "nxdomain"))
			return EAI_NONAME;
		if (!strcmp(r->data, "servfail") || !strcmp(r->data, "drop"))
			return EAI_AGAIN;
		snprintf(copy, sizeof(copy), "%s", r->data);
		for (tok = strtok_r(copy, " ", &save); tok;
		    tok = strtok_r(NULL, " ", &save)) {
			memset(&h, 0, sizeof(h));
			h.ai_family = hints->ai_family;
			h.ai_socktype = SOCK_STREAM;
			h.ai_flags = AI_NUMERICHOST;
			if (getaddrinfo(tok, service, &h, &one) != 0)
				continue;
			*tail = one;
			while (*tail)
				tail = &(*tail)->ai_next;
		}
		*res = (struct evutil_addrinfo *)head;
		return head ? 0 : EAI_NONAME;
	}
	return EAI_NONAME;
}

/* ---- one race ------------------------------------------------------------ */

struct outcome {
	int done;
	int64_t at_ms;
	int error;
	char winner[64];
	char attempts[512];
	char endpoint[256];
	char report[1024];
	char trace[8192];
	int hook_calls;
	int hook_saw_bev;
	char hook_endpoint[256];
	unsigned char ech[64];
	size_t ech_len;
};

static struct outcome out;
static int64_t began_ms;

static void
endpoint_text(const struct evhappy_endpoint *ep, char *buf, size_t len)
{
	char alpn[128] = "-";
	size_t i, n = 0;

	if (!ep || !ep->target) {
		buf[0] = '\0';
		return;
	}
	for (i = 0; ep->alpn && i < ep->alpn_len && n + 1 < sizeof(alpn);
	    i += 1 + ep->alpn[i]) {
		n += (size_t)snprintf(alpn + n, sizeof(alpn) - n, "%s%.*s",
		    n ? "," : "", (int)ep->alpn[i], ep->alpn + i + 1);
	}
	snprintf(buf, len, "%s:%d %d %s%s", ep->target, ep->port,
	    ep->priority, alpn, ep->ech ? " ech" : "");
}

static void
on_trace(const struct evhappy_trace *ev, void *arg)
{
	size_t n = strlen(out.trace);

	(void)arg;
	if (evhappy_trace_format(ev, out.trace + n, sizeof(out.trace) - n) >= 0)
		strncat(out.trace, "\n", sizeof(out.trace) - strlen(out.trace)
		    - 1);
}

static int
on_endpoint(evutil_socket_t fd, struct bufferevent *bev,
    const struct evhappy_endpoint *ep, void *arg)
{
	const struct row *r = arg;

	ck_assert_int_ge(fd, 0);
	out.hook_calls++;
	out.hook_saw_bev = bev != NULL;
	endpoint_text(ep, out.hook_endpoint, sizeof(out.hook_endpoint));
	if (ep->ech && ep->ech_len <= sizeof(out.ech)) {
		memcpy(out.ech, ep->ech, ep->ech_len);
		out.ech_len = ep->ech_len;
	}
	if (r->hook == HOOK_REFUSE) {
		errno = EPROTO;
		return -1;
	}
	return 0;
}

static void
note_attempts(const struct evhappy_report *rep)
{
	struct sockaddr_storage ss;
	char a[64];
	int i, n = evhappy_report_attempt_count(rep);
	size_t len = 0;

	for (i = 0; i < n; i++) {
		ck_assert_int_eq(evhappy_report_attempt(rep, i, &ss, NULL, NULL,
		    NULL), 0);
		evhappy_sockaddr_format((struct sockaddr *)&ss, a, sizeof(a));
		len += (size_t)snprintf(out.attempts + len,
		    sizeof(out.attempts) - len, "%s%s", i ? "," : "", a);
	}
}

static void
on_connect(evutil_socket_t fd, const struct evhappy_report *rep, void *arg)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	(void)arg;
	out.done = 1;
	out.at_ms = he_test_now_ms() - began_ms;
	out.error = evhappy_report_error(rep);
	note_attempts(rep);
	endpoint_text(evhappy_report_get_endpoint(rep), out.endpoint,
	    sizeof(out.endpoint));
	evhappy_report_format(rep, out.report, sizeof(out.report));
	if (fd >= 0) {
		ck_assert_int_eq(getpeername(fd, (struct sockaddr *)&ss, &len),
		    0);
		evhappy_sockaddr_format((struct sockaddr *)&ss, out.winner,
		    sizeof(out.winner));
		evutil_closesocket(fd);
	}
}

static void
on_bev(struct bufferevent *bev, short what, void *arg)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	(void)arg;
	out.done = 1;
	out.at_ms = he_test_now_ms() - began_ms;
	if (what & BEV_EVENT_CONNECTED) {
		ck_assert_int_eq(getpeername(bufferevent_getfd(bev),
		    (struct sockaddr *)&ss, &len), 0);
		evhappy_sockaddr_format((struct sockaddr *)&ss, out.winner,
		    sizeof(out.winner));
		endpoint_text(evhappy_get_endpoint(bev), out.endpoint,
		    sizeof(out.endpoint));
	} else
		out.error = EVUTIL_SOCKET_ERROR();
}

/* ---- the servers --------------------------------------------------------- */

/* Listeners at 127.0.0.1 and 127.0.0.4 and a black hole at 127.0.0.3, on
   one port (port_p), and a refuser at 127.0.0.1 on another (port_q): kept
   in the listeners of a fixture of their own (no base, no context). */
struct servers {
	struct he_test_fx fx;
};

static void
servers_up(struct servers *s)
{
	static const struct he_test_listen_spec p[] = {
		{ HE_TEST_ACCEPT, "127.0.0.1" },
		{ HE_TEST_ACCEPT, "127.0.0.4" },
		{ HE_TEST_HOLE, "127.0.0.3" },
	}, q = { HE_TEST_REFUSE, "127.0.0.1" };

	memset(&s->fx, 0, sizeof(s->fx));
	he_test_fx_listen(&s->fx, p, 3);
	port_p = s->fx.port;
	evhappy_addrinfo_free(he_test_fx_listen_apart(&s->fx, &q, 1));
	port_q = s->fx.at[3].port;
}

static void
servers_down(struct servers *s)
{
	he_test_fx_close_listeners(&s->fx);
}

/* Point the system resolver's HTTPS queries at the lab. */
static void
system_to_lab(const struct he_lab_dns *d)
{
	struct he_dnsq_sys_opts o;
	int len = sizeof(o.servers[0]);

	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(evutil_parse_sockaddr_port(he_lab_dns_address(d),
	    (struct sockaddr *)&o.servers[0], &len), 0);
	o.nservers = 1;
	o.timeout_s = 1;
	o.tries = 1;
	he_resolve_set_raw_opts_(&o);
	he_resolve_set_gai_hook_(zone_gai);
}

static void
start_race(struct evhappy *he, struct event_base *base,
    const struct row *r, struct bufferevent **bev)
{
	char port[16];

	subst(r->port, port, sizeof(port));
	began_ms = he_test_now_ms();
	if (!r->bev) {
		ck_assert_ptr_nonnull(evhappy_resolve_and_connect(he,
		    AF_UNSPEC, HOST, atoi(port), on_connect, NULL));
		return;
	}
	*bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	ck_assert_ptr_nonnull(*bev);
	bufferevent_setcb(*bev, NULL, NULL, on_bev, NULL);
	ck_assert_int_eq(evhappy_connect_hostname(he, *bev, AF_UNSPEC, HOST,
	    atoi(port)), 0);
}

/* The report's line names the endpoint and what was skipped. */
static void
check_report(const struct row *r)
{
	char want[256], *sp;

	if (r->bev)
		return;		/* no report on the bufferevent path */
	if (r->winner && *r->endpoint) {
		subst(r->endpoint, want, sizeof(want));
		if ((sp = strchr(want, ' ')) != NULL)
			snprintf(sp, sizeof(want) - (size_t)(sp - want),
			    " priority %d", atoi(sp + 1));
		ck_assert_msg(strstr(out.report, want), "%s: no \"%s\" in %s",
		    r->name, want, out.report);
	} else
		ck_assert_msg(!strstr(out.report, "; endpoint"), "%s: %s",
		    r->name, out.report);
	if (strstr(out.trace, "endpoint-skipped"))
		ck_assert_msg(strstr(out.report, "; skipped "), "%s: %s",
		    r->name, out.report);
}

static void
check_outcome(const struct row *r, const struct he_lab_dns *d)
{
	char want[512];
	int i;

	ck_assert_msg(out.done, "%s: no outcome", r->name);
	if (r->winner) {
		subst(r->winner, want, sizeof(want));
		ck_assert_msg(!strcmp(out.winner, want), "%s: won %s, not %s\n%s",
		    r->name, out.winner, want, out.trace);
	} else {
		ck_assert_str_eq(out.winner, "");
		ck_assert_int_eq(out.error, r->error);
	}
	if (r->attempts) {
		subst(r->attempts, want, sizeof(want));
		ck_assert_msg(!strcmp(out.attempts, want),
		    "%s: tried %s, not %s\n%s", r->name, out.attempts, want,
		    out.trace);
	}
	subst(r->endpoint, want, sizeof(want));
	ck_assert_msg(!strcmp(r->winner ? out.endpoint : "", want) ||
	    (!r->winner && !strcmp(out.endpoint, "")),
	    "%s: endpoint \"%s\", not \"%s\"", r->name, out.endpoint, want);
	ck_assert_msg(out.at_ms >= r->min_ms &&
	    out.at_ms <= HE_TEST_UP(r->max_ms), "%s: at %lld ms, not %d..%d",
	    r->name, (long long)out.at_ms, r->min_ms, r->max_ms);
	check_report(r);
	for (i = 0; i < 3 && r->trace_has[i]; i++) {
		subst(r->trace_has[i], want, sizeof(want));
		ck_assert_msg(strstr(out.trace, want), "%s: no \"%s\" in\n%s",
		    r->name, want, out.trace);
	}
	if (r->trace_lacks)
		ck_assert_msg(!strstr(out.trace, r->trace_lacks),
		    "%s: \"%s\" in\n%s", r->name, r->trace_lacks, out.trace);
	if (r->https_queries >= 0) {
		subst(!strcmp(r->port, "443") ? HOST :
		    !strcmp(r->port, "$Q") ? AT_Q : AT_P, want, sizeof(want));
		ck_assert_int_eq(he_lab_dns_queries(d, want, 65),
		    r->https_queries);
	}
}

static void
check_hook(const struct row *r)
{
	if (r->hook == HOOK_NONE) {
		ck_assert_int_eq(out.hook_calls, 0);
		return;
	}
	ck_assert_int_eq(out.hook_calls, 1);
	ck_assert_int_eq(out.hook_saw_bev, r->bev);
	if (r->hook == HOOK_ACCEPT)
		ck_assert_str_eq(out.hook_endpoint, out.endpoint);
	if (strstr(r->endpoint, " ech")) {
		ck_assert_uint_eq(out.ech_len, 5);
		ck_assert_int_eq(memcmp(out.ech, "\1\2\3\4\5", 5), 0);
	}
}

static void
run_row(const struct row *r, enum via via)
{
	struct event_base *base;
	struct he_lab_dns *d;
	struct evdns_base *dns = NULL;
	struct evhappy *he;
	struct bufferevent *bev = NULL;
	struct servers s;
	int fds0 = he_test_count_fds();

	memset(&out, 0, sizeof(out));
	servers_up(&s);
	zone_parse(r->zone);
	ck_assert_ptr_nonnull(base = event_base_new());
	ck_assert_ptr_nonnull(d = he_lab_dns_new(base));
	zone_serve(d);
	if (via == VIA_EVDNS)
		ck_assert_ptr_nonnull(dns = he_lab_dns_client(d, base));
	else
		system_to_lab(d);
	ck_assert_ptr_nonnull(he = evhappy_new(base, dns));
	ck_assert_int_eq(evhappy_set_https_records(he, r->https), 0);
	ck_assert_int_eq(evhappy_set_alpn(he, r->alpn), 0);
	if (r->hook != HOOK_NONE)
		evhappy_set_endpoint_cb(he, on_endpoint, (void *)r);
	evhappy_set_trace_cb(he, on_trace, NULL);
	start_race(he, base, r, &bev);
	he_test_run_until(base, HE_TEST_UP(3000), &out.done);
	check_outcome(r, d);
	check_hook(r);
	if (bev)
		bufferevent_free(bev);
	evhappy_free(he);
	if (dns)
		evdns_base_free(dns, 0);
	he_lab_dns_free(d);
	he_test_run_for(base, 0);
	event_base_free(base);
	/* a cancelled lookup's worker holds the wake-up fd until it is done */
	ck_assert(he_gate_pool_quiet());
	he_resolve_set_raw_opts_(NULL);
	he_resolve_set_gai_hook_(NULL);
	servers_down(&s);
	ck_assert_int_eq(he_test_count_fds(), fds0);
}

/* Which rows run through which resolver. */
#define NROWS ((int)(sizeof(rows) / sizeof(rows[0])))
static int evdns_rows[NROWS], system_rows[NROWS];
static int nevdns, nsystem;

START_TEST(test_row_evdns)
{
	run_row(&rows[evdns_rows[_i]], VIA_EVDNS);
}
END_TEST

START_TEST(test_row_system)
{
	run_row(&rows[system_rows[_i]], VIA_SYSTEM);
}
END_TEST

#ifndef HAVE_CARES
/* Without c-ares an evdns context races on A/AAAA alone, and says so. */
START_TEST(test_evdns_without_cares)
{
	static const struct row r = {
	  "no c-ares", { HOST " HTTPS 1 . port=$Q ipv4hint=127.0.0.5",
	    HOST " A 127.0.0.1", HOST " AAAA nodata" },
	  1, NULL, "$P", HOOK_NONE, 0, VIA_EVDNS,
	  "127.0.0.1:$P", 0, "127.0.0.1:$P", "", 0, 200,
	  { "this build has no c-ares" }, NULL, 0 };

	run_row(&r, VIA_EVDNS);
}
END_TEST
#endif

/* ---- the settings -------------------------------------------------------- */

START_TEST(test_setters_refuse_bad_input)
{
	struct event_base *base = event_base_new();
	struct evhappy *he = evhappy_new(base, NULL);
	char big[1400];

	ck_assert_ptr_nonnull(he);
	errno = 0;
	ck_assert_int_eq(evhappy_set_https_records(NULL, 1), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(evhappy_set_https_records(he, 2), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(evhappy_set_alpn(NULL, "h2"), -1);
	ck_assert_int_eq(evhappy_set_alpn(he, ""), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(evhappy_set_alpn(he, "h2,,http/1.1"), -1);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(evhappy_set_alpn(he, big), -1);	/* > 255 */
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(evhappy_set_alpn(he, "h2,http/1.1"), 0);
	ck_assert_int_eq(evhappy_set_alpn(he, NULL), 0);
	evhappy_set_endpoint_cb(NULL, on_endpoint, NULL);	/* ignored */
	ck_assert_ptr_null(evhappy_get_endpoint(NULL));
	ck_assert_ptr_null(evhappy_report_get_endpoint(NULL));
	evhappy_free(he);
	event_base_free(base);
}
END_TEST

#ifdef HAVE_CARES
/* The drop-in reads EVHAPPY_HTTPS_RR and EVHAPPY_ALPN once per process:
 * a child of its own reads them (an evdns context asks through c-ares). */
START_TEST(test_dropin_environment)
{
	pid_t pid = he_test_fork();

	if (pid == 0) {
		struct event_base *base;
		struct he_lab_dns *d;
		struct evdns_base *dns;
		struct bufferevent *bev;
		struct servers s;
		static const char *const z[] = {
			HOST " HTTPS 1 . alpn=h2 port=$P ipv4hint=127.0.0.1",
			HOST " A drop", HOST " AAAA drop", NULL };

		setenv("EVHAPPY_HTTPS_RR", "1", 1);
		setenv("EVHAPPY_ALPN", "h2", 1);
		memset(&out, 0, sizeof(out));
		servers_up(&s);
		zone_parse(z);
		base = event_base_new();
		d = he_lab_dns_new(base);
		zone_serve(d);
		dns = he_lab_dns_client(d, base);
		bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
		bufferevent_setcb(bev, NULL, NULL, on_bev, NULL);
		began_ms = he_test_now_ms();
		if (evhappy_socket_connect_hostname(bev, dns, AF_UNSPEC, HOST,
		    443) != 0)
			_exit(2);
		he_test_run_until(base, HE_TEST_UP(3000), &out.done);
		/* a clean end, so that valgrind's leak check passes the
		   child's own exit code on */
		bufferevent_free(bev);
		evdns_base_free(dns, 0);
		he_lab_dns_free(d);
		he_test_run_for(base, 0);
		event_base_free(base);
		servers_down(&s);
		_exit(!out.done ? 10 : !strcmp(out.endpoint, "") ? 11 :
		    strstr(out.endpoint, "h2,http/1.1") ? 0 : 12);
	}
	he_test_child_ok(pid, "the drop-in with EVHAPPY_HTTPS_RR=1");
}
END_TEST
#endif

static Suite *
https_suite(void)
{
	const struct he_test_def tests[] = {
		HE_TCASE("evdns", 30),
		HE_LOOP(test_row_evdns, nevdns),
		HE_TCASE("system", 30),
		HE_LOOP(test_row_system, nsystem),
		HE_TCASE("settings", 30),
		HE_TEST(test_setters_refuse_bad_input),
#ifdef HAVE_CARES
		HE_TEST(test_dropin_environment),
#else
		HE_TEST(test_evdns_without_cares),
#endif
	};

	return he_test_suite_of("https", tests, HE_TEST_N(tests));
}

Suite *
he_test_suite(void)
{
	int i;

	for (i = 0; i < NROWS; i++) {
		/* an evdns context asks HTTPS records through c-ares */
		if ((rows[i].via & VIA_EVDNS) && (HAVE_CARES_ || !rows[i].https))
			evdns_rows[nevdns++] = i;
		if (rows[i].via & VIA_SYSTEM)
			system_rows[nsystem++] = i;
	}
#ifndef HAVE_CARES
	fprintf(stderr, "SKIP: %d evdns rows and the drop-in's test need "
	    "c-ares (configure --with-cares)\n", NROWS - nevdns);
#endif
	return https_suite();
}
