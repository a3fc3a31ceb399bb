/*
 * The lab: an in-process fake DNS server and local listeners that refuse,
 * accept, or swallow SYNs.  Everything binds to loopback literals the
 * caller gives; nothing here reaches outside the machine.
 *
 * Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).
 */
#include "he_lab.h"

#include <event2/event.h>
#include <event2/dns.h>
#include <event2/dns_struct.h>
#include <event2/util.h>

#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

/* Long enough for any DNS name (255 octets) and its terminator. */
#define HE_LAB_NAME_MAX 256
/* TTL of every answer: the clients under test keep no cache, any will do. */
#define HE_LAB_TTL 60
/* A black hole needs one or two finished handshakes in its accept queue
   (Linux 6.x with backlog 0: one); needing more means SYNs are not
   dropped here at all. */
#define HE_LAB_FILLERS_MAX 8
/* A loopback handshake takes well under a millisecond: a filler still
   connecting after this long has had its SYN dropped. */
#define HE_LAB_FILLER_WAIT_MS 100

/* One (name, type) the server knows about. */
struct he_lab_entry {
	struct he_lab_entry *next;
	char name[HE_LAB_NAME_MAX];	/* lower case, no trailing dot */
	int type;
	/* 0 when the entry only exists to count queries for an unknown
	   (name, type): it answers NXDOMAIN, or NODATA if another type of
	   the name is configured. */
	int configured;
	enum he_lab_dns_mode mode;
	int delay_ms;
	int queries;
	unsigned char *addrs;		/* naddrs packed addresses */
	int naddrs;
	int cap;
	/* records of any type, RDATA as given (he_lab_dns_add_raw), in
	   order; for EVDNS_TYPE_CNAME, the first holds the target's text */
	struct he_lab_raw *raw, *raw_tail;
};

/* One raw record. */
struct he_lab_raw {
	struct he_lab_raw *next;
	size_t len;
	unsigned char data[1];
};

/* A TCP connection to the server (he_lab_dns_tcp). */
struct he_lab_tcp {
	struct he_lab_tcp *next;
	struct he_lab_dns *dns;
	evutil_socket_t fd;
	struct event *ev;
	size_t have;
	unsigned char buf[2 + 65535];
};

/* A query whose answer waits for its delay to pass. */
struct he_lab_pending {
	LIST_ENTRY(he_lab_pending) link;
	struct he_lab_dns *dns;
	struct evdns_server_request *req;
	struct he_lab_entry *entry;
	struct event *timer;
	long long due_us;	/* CLOCK_MONOTONIC: the answer leaves then */
};

struct he_lab_dns {
	struct event_base *base;
	struct evdns_server_port *port;
	struct he_lab_entry *entries;
	LIST_HEAD(, he_lab_pending) pending;
	char address[32];
	int last_port;		/* the source port of the last UDP query */
	/* he_lab_dns_tcp: the listener on the same port, its connections */
	evutil_socket_t tcp_fd;
	struct event *tcp_ev;
	struct he_lab_tcp *tcp_conns;
};

struct he_lab_blackhole {
	evutil_socket_t listener;
	int nfillers;
	evutil_socket_t fillers[HE_LAB_FILLERS_MAX];
};

/* ------------------------------------------------------------------------ */
/* The fake DNS server */

/* Names compare case-insensitively and with or without the root dot, as
   resolvers treat them; normalising once makes every lookup a strcmp. */
static int
name_normalize(const char *in, char *out)
{
	size_t i, len;

	if (!in)
		return -1;
	len = strlen(in);
	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0 || len >= HE_LAB_NAME_MAX)
		return -1;
	for (i = 0; i < len; i++) {
		char c = in[i];
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	out[len] = '\0';
	return 0;
}

static int
type_addrlen(int type)
{
	if (type == EVDNS_TYPE_A)
		return 4;
	if (type == EVDNS_TYPE_AAAA)
		return 16;
	return 0;
}

static struct he_lab_entry *
entry_find(const struct he_lab_dns *d, const char *norm, int type)
{
	struct he_lab_entry *e;

	for (e = d->entries; e; e = e->next)
		if (e->type == type && !strcmp(e->name, norm))
			return e;
	return NULL;
}

static struct he_lab_entry *
entry_get(struct he_lab_dns *d, const char *norm, int type)
{
	struct he_lab_entry *e = entry_find(d, norm, type);

	if (e)
		return e;
	if (!(e = calloc(1, sizeof(*e))))
		return NULL;
	memcpy(e->name, norm, strlen(norm) + 1);
	e->type = type;
	e->mode = HE_LAB_ANSWER;
	e->next = d->entries;
	d->entries = e;
	return e;
}

/* Whether the name exists for some type: then a type it lacks is NODATA,
   not NXDOMAIN. */
static int
name_configured(const struct he_lab_dns *d, const char *norm)
{
	const struct he_lab_entry *e;

	for (e = d->entries; e; e = e->next)
		if (e->configured && !strcmp(e->name, norm))
			return 1;
	return 0;
}

/* The rcode of a configured entry's mode, over UDP and TCP alike (DROP:
 * the caller stays silent; ANSWER: NOERROR, with its records). */
static int
mode_rcode(enum he_lab_dns_mode mode)
{
	return mode == HE_LAB_NXDOMAIN ? DNS_ERR_NOTEXIST :
	    mode == HE_LAB_SERVFAIL ? DNS_ERR_SERVERFAILED : DNS_ERR_NONE;
}

static void
respond(struct evdns_server_request *req, int rcode)
{
	evdns_server_request_set_flags(req, EVDNS_FLAGS_AA);
	/* On -1 (format error, or a send that would block) libevent keeps
	   neither the request nor a reference to it: drop it or it leaks. */
	if (evdns_server_request_respond(req, rcode) < 0)
		evdns_server_request_drop(req);
}

/* The entry's raw records as answers owned by name.  0 or -1. */
static int
add_raw_replies(struct evdns_server_request *req, const char *name,
    const struct he_lab_entry *e)
{
	const struct he_lab_raw *r;

	for (r = e->raw; r; r = r->next)
		if (evdns_server_request_add_reply(req, EVDNS_ANSWER_SECTION,
		    name, e->type, EVDNS_CLASS_INET, HE_LAB_TTL, (int)r->len,
		    0, (const char *)r->data) < 0)
			return -1;
	return 0;
}

/* The target of name's CNAME (he_lab_dns_add_cname), or NULL. */
static const char *
alias_of(const struct he_lab_dns *d, const char *norm)
{
	const struct he_lab_entry *e = entry_find(d, norm, EVDNS_TYPE_CNAME);

	return e && e->configured && e->raw ? (const char *)e->raw->data : NULL;
}

/* Follow name's CNAMEs (at most HE_LAB_CNAME_HOPS): the final name in
   out, and each hop's (owner, target) through fn.  0 or -1. */
#define HE_LAB_CNAME_HOPS 8
static int
follow_aliases(const struct he_lab_dns *d, const char *norm, char *out,
    int (*fn)(const char *owner, const char *target, void *arg), void *arg)
{
	const char *t;
	int hops = 0;

	memcpy(out, norm, strlen(norm) + 1);
	while ((t = alias_of(d, out)) != NULL && hops++ < HE_LAB_CNAME_HOPS) {
		if (fn && fn(out, t, arg) < 0)
			return -1;
		memmove(out, t, strlen(t) + 1);
	}
	return 0;
}

static int
udp_cname(const char *owner, const char *target, void *arg)
{
	return evdns_server_request_add_cname_reply(arg, owner, target,
	    HE_LAB_TTL);
}

/* e's records under name: its addresses, then its raw records.  One call
   per address: the add_*_reply functions put n addresses into a single RR
   of n*4 (n*16) bytes, which no client parses.  0 or -1. */
static int
add_entry_replies(struct evdns_server_request *req, const char *name,
    const struct he_lab_entry *e)
{
	int i, alen = type_addrlen(e->type);

	for (i = 0; i < e->naddrs && alen; i++) {
		const unsigned char *a = e->addrs + (size_t)i * alen;
		if ((e->type == EVDNS_TYPE_A ?
		    evdns_server_request_add_a_reply(req, name, 1, a,
			HE_LAB_TTL) :
		    evdns_server_request_add_aaaa_reply(req, name, 1, a,
			HE_LAB_TTL)) < 0)
			return -1;
	}
	return add_raw_replies(req, name, e);
}

/* A query for an alias: the CNAME chain, then the final name's records
   of the type asked (none when it has none). */
static void
answer_alias(struct he_lab_dns *d, struct evdns_server_request *req,
    const char *norm, int type)
{
	char final[HE_LAB_NAME_MAX];
	const struct he_lab_entry *e;

	if (follow_aliases(d, norm, final, udp_cname, req) < 0 ||
	    ((e = entry_find(d, final, type)) && e->configured &&
	    add_entry_replies(req, final, e) < 0)) {
		respond(req, DNS_ERR_SERVERFAILED);
		return;
	}
	respond(req, DNS_ERR_NONE);
}

static void
answer(struct evdns_server_request *req, const struct he_lab_entry *e)
{
	/* Reply with the name as asked, so the answer matches the question
	   whatever its case. */
	const char *qname = req->questions[0]->name;
	int rcode = mode_rcode(e->mode);

	if (e->mode == HE_LAB_DROP)
		evdns_server_request_drop(req);
	else if (rcode == DNS_ERR_NONE && add_entry_replies(req, qname, e) < 0)
		respond(req, DNS_ERR_SERVERFAILED);
	else
		respond(req, rcode);
}

static void
pending_free(struct he_lab_pending *p)
{
	LIST_REMOVE(p, link);
	event_free(p->timer);
	free(p);
}

int
he_lab_gai_numeric(const char *addr, const char *service,
    const struct evutil_addrinfo *hints, struct evutil_addrinfo **res)
{
	struct addrinfo h;

	memset(&h, 0, sizeof(h));
	h.ai_family = hints->ai_family;
	h.ai_socktype = hints->ai_socktype;
	h.ai_protocol = hints->ai_protocol;
	h.ai_flags = AI_NUMERICHOST;
	return getaddrinfo(addr, service, &h, (struct addrinfo **)res);
}

void
he_lab_close_cb(evutil_socket_t fd, const struct evhappy_report *r,
    void *arg)
{
	(void)r;
	if (fd >= 0)
		evutil_closesocket(fd);
	(*(int *)arg)++;
}

long long
he_lab_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* libevent's timers run on CLOCK_MONOTONIC_COARSE and may fire a few ms
 * before the precise clock says the delay is over; the tests measure with
 * the precise clock, so an early timer waits for the rest. */
static int
pending_early(struct he_lab_pending *p)
{
	long long left = p->due_us - he_lab_now_us();
	struct timeval tv;

	if (left <= 0)
		return 0;
	tv.tv_sec = (time_t)(left / 1000000);
	tv.tv_usec = (suseconds_t)(left % 1000000);
	return evtimer_add(p->timer, &tv) == 0;
}

static void
pending_cb(evutil_socket_t fd, short what, void *arg)
{
	struct he_lab_pending *p = arg;
	struct evdns_server_request *req = p->req;
	struct he_lab_entry *e = p->entry;

	(void)fd;
	(void)what;
	if (pending_early(p))
		return;
	pending_free(p);
	/* The entry's current settings: a test may change them while the
	   answer waits. */
	answer(req, e);
}

static int
pending_add(struct he_lab_dns *d, struct evdns_server_request *req,
    struct he_lab_entry *e)
{
	struct he_lab_pending *p;
	struct timeval tv;

	if (!(p = calloc(1, sizeof(*p))))
		return -1;
	p->timer = evtimer_new(d->base, pending_cb, p);
	p->due_us = he_lab_now_us() + (long long)e->delay_ms * 1000;
	tv.tv_sec = e->delay_ms / 1000;
	tv.tv_usec = (e->delay_ms % 1000) * 1000;
	if (!p->timer || evtimer_add(p->timer, &tv) < 0) {
		if (p->timer)
			event_free(p->timer);
		free(p);
		return -1;
	}
	p->dns = d;
	p->req = req;
	p->entry = e;
	LIST_INSERT_HEAD(&d->pending, p, link);
	return 0;
}

static void
server_cb(struct evdns_server_request *req, void *arg)
{
	struct he_lab_dns *d = arg;
	const struct evdns_server_question *q;
	struct he_lab_entry *e;
	char norm[HE_LAB_NAME_MAX];

	{
		struct sockaddr_storage from;
		if (evdns_server_request_get_requesting_addr(req,
		    (struct sockaddr *)&from, sizeof(from)) > 0)
			d->last_port = ntohs(from.ss_family == AF_INET6 ?
			    ((struct sockaddr_in6 *)&from)->sin6_port :
			    ((struct sockaddr_in *)&from)->sin_port);
	}
	/* evdns asks one question per query; anything else is not ours. */
	if (req->nquestions != 1) {
		respond(req, DNS_ERR_FORMAT);
		return;
	}
	q = req->questions[0];
	if (name_normalize(q->name, norm) < 0) {
		respond(req, DNS_ERR_NOTEXIST);
		return;
	}
	/* Unknown pairs get an entry too, so that he_lab_dns_queries()
	   counts them; it stays unconfigured. */
	e = entry_get(d, norm, q->type);
	if (e)
		e->queries++;
	if (q->type != EVDNS_TYPE_CNAME && alias_of(d, norm)) {
		answer_alias(d, req, norm, q->type);
		return;
	}
	if (!e || !e->configured) {
		respond(req, name_configured(d, norm) ?
		    DNS_ERR_NONE : DNS_ERR_NOTEXIST);
		return;
	}
	if (e->mode == HE_LAB_DROP) {
		evdns_server_request_drop(req);
		return;
	}
	if (e->delay_ms > 0) {
		if (pending_add(d, req, e) < 0)
			respond(req, DNS_ERR_SERVERFAILED);
		return;
	}
	answer(req, e);
}

static void tcp_close_all(struct he_lab_dns *d);
static evutil_socket_t bound_socket(const char *addr, int reuse, int *port);

struct he_lab_dns *
he_lab_dns_new(struct event_base *base)
{
	struct he_lab_dns *d = NULL;
	struct sockaddr_in sin;
	ev_socklen_t len;
	evutil_socket_t fd = -1;
	int tries;

	if (!base)
		return NULL;
	if (!(d = calloc(1, sizeof(*d))))
		goto err;
	LIST_INIT(&d->pending);
	d->base = base;
	d->tcp_fd = -1;
	/* The UDP port's TCP twin is bound now (listening only from
	   he_lab_dns_tcp on): taken later, it could be any other socket's
	   by then (a parallel test's connection), and the test would fail. */
	for (tries = 0; d->tcp_fd < 0; tries++) {
		if (fd >= 0)
			evutil_closesocket(fd);
		if (tries == 16 || (fd = socket(AF_INET, SOCK_DGRAM, 0)) < 0)
			goto err;
		if (evutil_make_socket_nonblocking(fd) < 0 ||
		    evutil_make_socket_closeonexec(fd) < 0)
			goto err;
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(sin);
		if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
		    getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
			goto err;
		evutil_snprintf(d->address, sizeof(d->address),
		    "127.0.0.1:%d", (int)ntohs(sin.sin_port));
		d->tcp_fd = bound_socket(d->address, 0, NULL);
	}
	/* The _with_base variant: plain evdns_add_server_port() would
	   register its event with libevent's deprecated global base. */
	d->port = evdns_add_server_port_with_base(base, fd, 0, server_cb, d);
	if (!d->port)
		goto err;
	/* The port owns the socket from here on. */
	return d;
err:
	if (fd >= 0)
		evutil_closesocket(fd);
	if (d && d->tcp_fd >= 0)
		evutil_closesocket(d->tcp_fd);
	free(d);
	return NULL;
}

void
he_lab_dns_free(struct he_lab_dns *d)
{
	struct he_lab_entry *e, *next;

	if (!d)
		return;
	/* Each request holds a reference to the port: drop them first so
	   that closing the port frees it and its socket. */
	while (!LIST_EMPTY(&d->pending)) {
		struct evdns_server_request *req = LIST_FIRST(&d->pending)->req;
		pending_free(LIST_FIRST(&d->pending));
		evdns_server_request_drop(req);
	}
	if (d->port)
		evdns_close_server_port(d->port);
	tcp_close_all(d);
	for (e = d->entries; e; e = next) {
		next = e->next;
		while (e->raw) {
			struct he_lab_raw *r = e->raw;
			e->raw = r->next;
			free(r);
		}
		free(e->addrs);
		free(e);
	}
	free(d);
}

const char *
he_lab_dns_address(const struct he_lab_dns *d)
{
	return d->address;
}

int
he_lab_dns_add(struct he_lab_dns *d, const char *name, int type,
    const char *addr)
{
	struct he_lab_entry *e;
	unsigned char buf[16];
	char norm[HE_LAB_NAME_MAX];
	int alen = type_addrlen(type);

	if (!d || !addr || !alen || name_normalize(name, norm) < 0)
		return -1;
	if (evutil_inet_pton(type == EVDNS_TYPE_A ? AF_INET : AF_INET6,
		addr, buf) != 1)
		return -1;
	if (!(e = entry_get(d, norm, type)))
		return -1;
	if (e->naddrs == e->cap) {
		int cap = e->cap ? e->cap * 2 : 4;
		unsigned char *n = realloc(e->addrs, (size_t)cap * alen);
		if (!n)
			return -1;
		e->addrs = n;
		e->cap = cap;
	}
	memcpy(e->addrs + (size_t)e->naddrs * alen, buf, alen);
	e->naddrs++;
	e->configured = 1;
	return 0;
}

int
he_lab_dns_clear(struct he_lab_dns *d, const char *name, int type)
{
	struct he_lab_entry *e;
	char norm[HE_LAB_NAME_MAX];

	if (!d || name_normalize(name, norm) < 0)
		return -1;
	if ((e = entry_find(d, norm, type)) != NULL)
		e->naddrs = 0;
	return 0;
}

int
he_lab_dns_set(struct he_lab_dns *d, const char *name, int type,
    enum he_lab_dns_mode mode, int delay_ms)
{
	struct he_lab_entry *e;
	char norm[HE_LAB_NAME_MAX];

	if (!d || type <= 0 || type > 65535 || delay_ms < 0 ||
	    name_normalize(name, norm) < 0)
		return -1;
	if (mode != HE_LAB_ANSWER && mode != HE_LAB_NXDOMAIN &&
	    mode != HE_LAB_SERVFAIL && mode != HE_LAB_DROP)
		return -1;
	if (!(e = entry_get(d, norm, type)))
		return -1;
	e->mode = mode;
	e->delay_ms = delay_ms;
	e->configured = 1;
	return 0;
}

int
he_lab_dns_queries(const struct he_lab_dns *d, const char *name, int type)
{
	const struct he_lab_entry *e;
	char norm[HE_LAB_NAME_MAX];

	if (!d || name_normalize(name, norm) < 0)
		return 0;
	e = entry_find(d, norm, type);
	return e ? e->queries : 0;
}


int
he_lab_dns_add_raw(struct he_lab_dns *d, const char *name, int type,
    const void *rdata, size_t len)
{
	struct he_lab_entry *e;
	struct he_lab_raw *r;
	char norm[HE_LAB_NAME_MAX];

	/* A and AAAA go through he_lab_dns_add (answer() packs those) */
	if (!d || (!rdata && len) || len > 65535 || type <= 0 ||
	    type > 65535 || type_addrlen(type) || type == EVDNS_TYPE_CNAME ||
	    name_normalize(name, norm) < 0)
		return -1;
	if (!(e = entry_get(d, norm, type)))
		return -1;
	if (!(r = calloc(1, sizeof(*r) + len)))
		return -1;
	r->len = len;
	if (len)
		memcpy(r->data, rdata, len);
	if (e->raw_tail)
		e->raw_tail->next = r;
	else
		e->raw = r;
	e->raw_tail = r;
	e->configured = 1;
	return 0;
}

int
he_lab_dns_add_cname(struct he_lab_dns *d, const char *name,
    const char *target)
{
	struct he_lab_entry *e;
	struct he_lab_raw *r;
	char norm[HE_LAB_NAME_MAX], tnorm[HE_LAB_NAME_MAX];
	size_t n;

	if (!d || name_normalize(name, norm) < 0 ||
	    name_normalize(target, tnorm) < 0)
		return -1;
	if (!(e = entry_get(d, norm, EVDNS_TYPE_CNAME)))
		return -1;
	n = strlen(tnorm) + 1;
	if (!(r = calloc(1, sizeof(*r) + n)))
		return -1;
	r->len = n;
	memcpy(r->data, tnorm, n);
	/* one CNAME a name: a new one replaces the old */
	while (e->raw) {
		struct he_lab_raw *old = e->raw;
		e->raw = old->next;
		free(old);
	}
	e->raw = e->raw_tail = r;
	e->configured = 1;
	return 0;
}

/* ---- DNS over TCP (RFC 7766), for answers too big for UDP ------------- */

/* Append name (text, normalised) in wire form; the new length or -1. */
static int
put_name(unsigned char *out, size_t cap, size_t at, const char *name)
{
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t n = dot ? (size_t)(dot - name) : strlen(name);
		if (n == 0 || n > 63 || at + 1 + n >= cap)
			return -1;
		out[at++] = (unsigned char)n;
		memcpy(out + at, name, n);
		at += n;
		name += n + (dot ? 1 : 0);
	}
	if (at >= cap)
		return -1;
	out[at++] = 0;
	return (int)at;
}

/* Append one record; the new length or -1. */
static int
put_rr(unsigned char *out, size_t cap, size_t at, const char *owner,
    int type, const unsigned char *rdata, size_t rdlen)
{
	int r = put_name(out, cap, at, owner);

	if (r < 0 || (size_t)r + 10 + rdlen > cap)
		return -1;
	at = (size_t)r;
	out[at++] = (unsigned char)(type >> 8);
	out[at++] = (unsigned char)type;
	out[at++] = 0;
	out[at++] = 1;			/* class IN */
	out[at++] = 0;
	out[at++] = 0;
	out[at++] = 0;
	out[at++] = HE_LAB_TTL;
	out[at++] = (unsigned char)(rdlen >> 8);
	out[at++] = (unsigned char)rdlen;
	memcpy(out + at, rdata, rdlen);
	return (int)(at + rdlen);
}

struct tcp_build {
	unsigned char *out;
	size_t cap;
	int at;
	int count;
};

static int
tcp_cname(const char *owner, const char *target, void *arg)
{
	struct tcp_build *b = arg;
	unsigned char wire[HE_LAB_NAME_MAX + 2];
	int n = put_name(wire, sizeof(wire), 0, target);

	if (n < 0 || (b->at = put_rr(b->out, b->cap, (size_t)b->at, owner,
	    EVDNS_TYPE_CNAME, wire, (size_t)n)) < 0)
		return -1;
	b->count++;
	return 0;
}

/* The response to query q (qlen bytes) in out: its length, 0 to stay
   silent (DROP), -1 for a query that is not one. */
static int
tcp_answer(struct he_lab_dns *d, const unsigned char *q, size_t qlen,
    unsigned char *out, size_t cap)
{
	char text[HE_LAB_NAME_MAX], norm[HE_LAB_NAME_MAX], final[HE_LAB_NAME_MAX];
	struct he_lab_entry *e;
	struct tcp_build b;
	size_t i = 12, t = 0;
	int type, rcode = DNS_ERR_NONE, j, alen;

	if (qlen < 12 || q[4] != 0 || q[5] != 1)
		return -1;
	while (i < qlen && q[i]) {
		size_t n = q[i];
		if (n > 63 || i + 1 + n >= qlen || t + n + 2 > sizeof(text))
			return -1;
		if (t)
			text[t++] = '.';
		memcpy(text + t, q + i + 1, n);
		t += n;
		i += 1 + n;
	}
	text[t] = '\0';
	if (i + 5 > qlen || name_normalize(text, norm) < 0)
		return -1;
	type = (q[i + 1] << 8) | q[i + 2];
	i += 5;			/* the question ends here */
	if (12 + (i - 12) > cap)
		return -1;
	e = entry_get(d, norm, type);
	if (e)
		e->queries++;
	memset(&b, 0, sizeof(b));
	b.out = out;
	b.cap = cap;
	b.at = (int)i;
	memcpy(out, q, i);	/* the header's ID, and the question */
	if (type != EVDNS_TYPE_CNAME && alias_of(d, norm)) {
		if (follow_aliases(d, norm, final, tcp_cname, &b) < 0)
			return -1;
		e = entry_find(d, final, type);
	} else {
		memcpy(final, norm, strlen(norm) + 1);
		if (e && e->configured && e->mode == HE_LAB_DROP)
			return 0;
		if (e && e->configured)
			rcode = mode_rcode(e->mode);
		else
			rcode = name_configured(d, norm) ? DNS_ERR_NONE :
			    DNS_ERR_NOTEXIST;
	}
	if (rcode == DNS_ERR_NONE && e && e->configured) {
		const struct he_lab_raw *r;
		alen = type_addrlen(type);
		for (j = 0; alen && j < e->naddrs; j++, b.count++)
			if ((b.at = put_rr(out, cap, (size_t)b.at, final, type,
			    e->addrs + (size_t)j * alen, (size_t)alen)) < 0)
				return -1;
		for (r = e->raw; r; r = r->next, b.count++)
			if ((b.at = put_rr(out, cap, (size_t)b.at, final, type,
			    r->data, r->len)) < 0)
				return -1;
	}
	out[2] = (unsigned char)(0x84 | (q[2] & 0x01));	/* QR AA, RD */
	out[3] = (unsigned char)rcode;
	out[6] = (unsigned char)(b.count >> 8);
	out[7] = (unsigned char)b.count;
	memset(out + 8, 0, 4);	/* no authority, no additional */
	return b.at;
}

static void
tcp_conn_free(struct he_lab_tcp *c)
{
	struct he_lab_tcp **pp;

	for (pp = &c->dns->tcp_conns; *pp && *pp != c; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = c->next;
	event_free(c->ev);
	evutil_closesocket(c->fd);
	free(c);
}

/* Send all of buf (a loopback socket takes 64 KiB at once; poll for the
   rare short write).  0 or -1. */
static int
tcp_send_all(evutil_socket_t fd, const unsigned char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0) {
			struct pollfd p;
			if (errno != EAGAIN && errno != EINTR)
				return -1;
			p.fd = fd;
			p.events = POLLOUT;
			if (poll(&p, 1, 1000) <= 0)
				return -1;
			continue;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void
tcp_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct he_lab_tcp *c = arg;
	unsigned char *out;
	ssize_t n;
	size_t need;
	int len;

	(void)what;
	n = recv(fd, c->buf + c->have, sizeof(c->buf) - c->have, 0);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		tcp_conn_free(c);
		return;
	}
	c->have += (size_t)n;
	while (c->have >= 2 &&
	    c->have >= (need = 2 + ((size_t)c->buf[0] << 8 | c->buf[1]))) {
		if (!(out = malloc(2 + 65535))) {
			tcp_conn_free(c);
			return;
		}
		len = tcp_answer(c->dns, c->buf + 2, need - 2, out + 2, 65535);
		if (len > 0) {
			out[0] = (unsigned char)(len >> 8);
			out[1] = (unsigned char)len;
		}
		if (len < 0 || (len > 0 &&
		    tcp_send_all(fd, out, 2 + (size_t)len) < 0)) {
			free(out);
			tcp_conn_free(c);
			return;
		}
		free(out);
		memmove(c->buf, c->buf + need, c->have - need);
		c->have -= need;
	}
}

static void
tcp_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct he_lab_dns *d = arg;
	struct he_lab_tcp *c;
	evutil_socket_t fd;

	(void)what;
	if ((fd = accept(lfd, NULL, NULL)) < 0)
		return;
	if (evutil_make_socket_nonblocking(fd) < 0 ||
	    evutil_make_socket_closeonexec(fd) < 0 ||
	    !(c = calloc(1, sizeof(*c)))) {
		evutil_closesocket(fd);
		return;
	}
	c->dns = d;
	c->fd = fd;
	if (!(c->ev = event_new(d->base, fd, EV_READ | EV_PERSIST, tcp_read_cb,
	    c)) || event_add(c->ev, NULL) < 0) {
		if (c->ev)
			event_free(c->ev);
		evutil_closesocket(fd);
		free(c);
		return;
	}
	c->next = d->tcp_conns;
	d->tcp_conns = c;
}

static void
tcp_close_all(struct he_lab_dns *d)
{
	while (d->tcp_conns)
		tcp_conn_free(d->tcp_conns);
	if (d->tcp_ev)
		event_free(d->tcp_ev);
	if (d->tcp_fd >= 0)
		evutil_closesocket(d->tcp_fd);
	d->tcp_ev = NULL;
	d->tcp_fd = -1;
}

int
he_lab_dns_last_port(const struct he_lab_dns *d)
{
	return d ? d->last_port : 0;
}

int
he_lab_dns_tcp(struct he_lab_dns *d)
{
	if (!d || d->tcp_fd < 0)
		return -1;
	if (d->tcp_ev)
		return 0;
	/* d->tcp_fd: the UDP port's number, bound for TCP since
	   he_lab_dns_new */
	if (listen(d->tcp_fd, 16) < 0 ||
	    !(d->tcp_ev = event_new(d->base, d->tcp_fd, EV_READ | EV_PERSIST,
		tcp_accept_cb, d)) || event_add(d->tcp_ev, NULL) < 0) {
		tcp_close_all(d);
		return -1;
	}
	return 0;
}

struct evdns_base *
he_lab_dns_client(struct he_lab_dns *d, struct event_base *base)
{
	return d ? he_lab_dns_client_at(d->address, base) : NULL;
}

struct evdns_base *
he_lab_dns_client_at(const char *address, struct event_base *base)
{
	struct evdns_base *b;

	/* Flags 0: no resolv.conf, no hosts file, no search list. */
	if (!address || !base || !(b = evdns_base_new(base, 0)))
		return NULL;
	/* One try of one second: a dropped query fails after about 1 s
	   (so does SERVFAIL, which evdns turns into a timeout at once),
	   and no case randomisation to surprise the name table. */
	if (evdns_base_nameserver_ip_add(b, address) != 0 ||
	    evdns_base_set_option(b, "timeout:", "1") != 0 ||
	    evdns_base_set_option(b, "attempts:", "1") != 0 ||
	    evdns_base_set_option(b, "randomize-case:", "0") != 0) {
		evdns_base_free(b, 0);
		return NULL;
	}
	return b;
}

/* ------------------------------------------------------------------------ */
/* Listeners */

/* A socket for the literal addr (port 0 unless addr names one), bound,
   non-blocking and close-on-exec.  *port gets the bound port. */
static evutil_socket_t
bound_socket(const char *addr, int reuse, int *port)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss), on = 1;
	ev_socklen_t slen;
	evutil_socket_t fd = -1;

	if (!addr)
		goto err;
	memset(&ss, 0, sizeof(ss));
	if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&ss, &len) < 0)
		goto err;
	if ((fd = socket(ss.ss_family, SOCK_STREAM, 0)) < 0)
		goto err;
	if (evutil_make_socket_nonblocking(fd) < 0 ||
	    evutil_make_socket_closeonexec(fd) < 0)
		goto err;
	if (reuse && evutil_make_listen_socket_reuseable(fd) < 0)
		goto err;
	/* So that [::] never also takes the IPv4 port, and a test's v6
	   listener is a v6 listener only. */
	if (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
		IPV6_V6ONLY, (void *)&on, sizeof(on)) < 0)
		goto err;
	if (bind(fd, (struct sockaddr *)&ss, len) < 0)
		goto err;
	slen = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &slen) < 0)
		goto err;
	if (port)
		*port = ntohs(ss.ss_family == AF_INET6 ?
		    ((struct sockaddr_in6 *)&ss)->sin6_port :
		    ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
err:
	if (fd >= 0) {
		int e = errno;
		evutil_closesocket(fd);
		errno = e;
	}
	return -1;
}

evutil_socket_t
he_lab_listen(const char *addr, int *port)
{
	evutil_socket_t fd = bound_socket(addr, 1, port);

	if (fd >= 0 && listen(fd, 16) < 0) {
		int e = errno;
		evutil_closesocket(fd);
		errno = e;
		return -1;
	}
	return fd;
}

evutil_socket_t
he_lab_refuser(const char *addr, int *port)
{
	/* No SO_REUSEADDR: with it another socket could bind the same
	   port and start listening there. */
	return bound_socket(addr, 0, port);
}

/* Connect the non-blocking fd to sa and wait up to ms for the handshake.
   1 connected, 0 still pending, -1 failed (errno says why). */
static int
connect_wait(evutil_socket_t fd, const struct sockaddr *sa, ev_socklen_t len,
    int ms)
{
	struct pollfd pfd;
	int err = 0, r;
	ev_socklen_t elen = sizeof(err);

	if (connect(fd, sa, len) == 0)
		return 1;
	if (errno != EINPROGRESS)
		return -1;
	pfd.fd = fd;
	pfd.events = POLLOUT;
	pfd.revents = 0;
	do
		r = poll(&pfd, 1, ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -1;
	if (r == 0)
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, (void *)&err, &elen) < 0 ||
	    err) {
		errno = err;
		return -1;
	}
	return 1;
}

/* A non-blocking socket connecting to the listener fd, and how it went
   after ms (see connect_wait).  *out gets the socket unless it failed. */
static int
connect_to_listener(evutil_socket_t lfd, int ms, evutil_socket_t *out)
{
	struct sockaddr_storage ss;
	ev_socklen_t len = sizeof(ss);
	evutil_socket_t fd;
	int r;

	*out = -1;
	if (getsockname(lfd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if ((fd = socket(ss.ss_family, SOCK_STREAM, 0)) < 0)
		return -1;
	if (evutil_make_socket_nonblocking(fd) < 0 ||
	    evutil_make_socket_closeonexec(fd) < 0) {
		evutil_closesocket(fd);
		return -1;
	}
	r = connect_wait(fd, (struct sockaddr *)&ss, len, ms);
	if (r < 0) {
		int e = errno;
		evutil_closesocket(fd);
		errno = e;
		return -1;
	}
	*out = fd;
	return r;
}

struct he_lab_blackhole *
he_lab_blackhole_new(const char *addr, int *port)
{
	struct he_lab_blackhole *b;
	int i;

	if (!(b = calloc(1, sizeof(*b))))
		return NULL;
	b->listener = bound_socket(addr, 1, port);
	/* Backlog 0: Linux queues one finished handshake and then drops
	   every SYN (tcp_abort_on_overflow=0), so the peer's connect just
	   keeps retransmitting.  Nobody ever accepts. */
	if (b->listener < 0 || listen(b->listener, 0) < 0)
		goto err;
	/* Fill the accept queue.  Each filler must finish its handshake
	   before the next, or we would not know the queue is full; the
	   first one left pending proves it is. */
	for (i = 0; i < HE_LAB_FILLERS_MAX; i++) {
		evutil_socket_t fd;
		int r = connect_to_listener(b->listener,
		    HE_LAB_FILLER_WAIT_MS, &fd);
		if (r < 0)
			goto err;
		b->fillers[b->nfillers++] = fd;
		if (r == 0)
			return b;
	}
	/* Every filler got in: this kernel does not drop SYNs here. */
	errno = EAGAIN;
err:
	he_lab_blackhole_free(b);
	return NULL;
}

void
he_lab_blackhole_free(struct he_lab_blackhole *b)
{
	int i, e = errno;

	if (!b)
		return;
	for (i = 0; i < b->nfillers; i++)
		evutil_closesocket(b->fillers[i]);
	if (b->listener >= 0)
		evutil_closesocket(b->listener);
	free(b);
	errno = e;
}

int
he_lab_ipv6_loopback_works(void)
{
	evutil_socket_t lfd, fd = -1;
	int ok;

	if ((lfd = he_lab_listen("::1", NULL)) < 0)
		return 0;
	ok = connect_to_listener(lfd, 1000, &fd) == 1;
	if (fd >= 0)
		evutil_closesocket(fd);
	evutil_closesocket(lfd);
	return ok;
}

int
he_lab_count_dir_if(const char *path,
    int (*keep)(const char *entry, void *arg), void *arg)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char entry[512];
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(entry, sizeof(entry), "%s/%s", path, e->d_name);
		n += !keep || keep(entry, arg);
	}
	closedir(d);
	return n;
}

int
he_lab_count_dir(const char *path)
{
	int n = he_lab_count_dir_if(path, NULL, NULL);

	if (n < 0)
		return -1;
	return n - (strcmp(path, "/proc/self/fd") == 0);	/* opendir's own */
}

pid_t
he_lab_fork(int *fd)
{
	int p[2];
	pid_t pid, parent = getpid();

	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)	/* it died before the prctl */
			_exit(1);
		*fd = p[1];
		return 0;
	}
	close(p[1]);
	*fd = p[0];
	return pid;
}

void
he_lab_reap(pid_t pid, int sig)
{
	if (pid <= 0)
		return;
	kill(pid, sig);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}
