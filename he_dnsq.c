/*
 * DNS queries of any type on an event loop, through c-ares (see he_dnsq.h
 * and doc/https-records.md for why c-ares).
 *
 * c-ares runs on our event_base: its socket-state callback tells which
 * sockets to watch (one persistent event each), ares_timeout() when to
 * wake it, ares_process_fd() does the work.  c-ares calls a query's
 * callback from inside ares_query() (no server, no memory), from
 * ares_process_fd() and from ares_destroy(); none of those may run user
 * code (the user could free the resolver under c-ares), so the callback
 * only files the answer, and an event of our own delivers it on the loop.
 *
 * One channel serves every query of a resolver: c-ares 1.18's channel
 * holds some 75 KB of tables, too much for one per race.  c-ares 1.18
 * cannot cancel one query of a channel, so a cancelled query stays in
 * c-ares until its answer or timeout, and only its callback is dropped.
 *
 * Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include "he_dnsq.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/dns.h>

#include <ares.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* How many of an evdns_base's servers are asked. */
#define HE_DNSQ_MAX_SERVERS 16
/* EDNS0 UDP payload size (the DNS flag day 2020 value). */
#define HE_DNSQ_EDNS_SIZE 1232

/* A socket c-ares asked us to watch. */
struct he_dnsq_sock {
	struct he_dnsq_sock *next;
	struct he_dnsq_resolver *r;
	ares_socket_t fd;
	short what;		/* EV_READ | EV_WRITE */
	int added;		/* ev was assigned and added */
	struct event ev;
};

struct he_dnsq {
	struct he_dnsq_resolver *r;
	struct he_dnsq *next;		/* in r->done */
	he_dnsq_cb cb;
	void *arg;
	unsigned in_cares : 1;		/* c-ares still holds it */
	unsigned done : 1;		/* in r->done, waiting for delivery */
	unsigned cancelled : 1;
	enum he_dnsq_status status;
	unsigned char *msg;
	size_t len;
};

struct he_dnsq_resolver {
	struct event_base *base;
	struct evdns_base *dns;
	ares_channel ch;
	struct he_dnsq_sock *socks;
	struct event *timer;		/* c-ares's timeouts */
	struct event *deliver;		/* runs the answers in done */
	struct he_dnsq *done, *done_tail;
	int pending;			/* queries c-ares holds */
	int nservers;			/* the evdns_base's, usable */
	int servers_set;		/* servers[] went to c-ares */
	int on_port;			/* queries sent since they did */
	struct he_dnsq_server {
		int family;
		unsigned char addr[16];
		int port;
	} servers[HE_DNSQ_MAX_SERVERS];	/* what c-ares was given last */
	int delivering;			/* inside deliver_cb */
	int dying;			/* freed inside deliver_cb */
};

static pthread_once_t cares_once = PTHREAD_ONCE_INIT;
static int cares_init_rc = -1;

/* c-ares 1.18's library init is a counter without a lock: once per
   process, never undone (it holds nothing on this platform). */
static void
cares_init(void)
{
	cares_init_rc = ares_library_init(ARES_LIB_INIT_ALL);
}

int
he_dnsq_available_(void)
{
	return 1;
}

int
he_dnsq_pending_(const struct he_dnsq_resolver *r)
{
	return r ? r->pending : 0;
}

/* ---- the loop's side ---------------------------------------------------- */

static void
arm_timer(struct he_dnsq_resolver *r)
{
	struct timeval tv, *t;

	if (r->dying)
		return;
	t = ares_timeout(r->ch, NULL, &tv);
	if (t)
		evtimer_add(r->timer, t);
	else
		evtimer_del(r->timer);
}

/* Let c-ares read rfd, write wfd or see its timeouts, then wait for its
 * next one. */
static void
process(struct he_dnsq_resolver *r, ares_socket_t rfd, ares_socket_t wfd)
{
	ares_process_fd(r->ch, rfd, wfd);
	arm_timer(r);
}

static void
sock_cb(evutil_socket_t fd, short what, void *arg)
{
	struct he_dnsq_sock *s = arg;

	/* s may be freed inside (its socket closed): not used after */
	process(s->r, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
	    (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	process(arg, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
}

/* c-ares: watch fd for reading/writing, or forget it (both 0). */
static void
sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct he_dnsq_resolver *r = data;
	struct he_dnsq_sock **pp, *s;
	short what = (short)((readable ? EV_READ : 0) |
	    (writable ? EV_WRITE : 0));

	for (pp = &r->socks; *pp && (*pp)->fd != fd; pp = &(*pp)->next)
		;
	s = *pp;
	if (s) {
		if (s->what == what && s->added)
			return;
		if (s->added)
			event_del(&s->ev);
		s->added = 0;
		if (!what) {
			*pp = s->next;
			free(s);
			return;
		}
	} else {
		if (!what)
			return;
		if (!(s = calloc(1, sizeof(*s))))
			goto fail;
		s->r = r;
		s->fd = fd;
		s->next = r->socks;
		r->socks = s;
	}
	s->what = what;
	if (event_assign(&s->ev, r->base, fd, what | EV_PERSIST, sock_cb,
	    s) < 0 || event_add(&s->ev, NULL) < 0)
		goto fail;
	s->added = 1;
	return;
fail:
	/* Unwatched, the socket's queries end by their timeouts, which the
	   timer still drives: slower, never stuck. */
	return;
}

/* ---- answers ------------------------------------------------------------ */

static void
query_free(struct he_dnsq *q)
{
	free(q->msg);
	free(q);
}

static void file_answer(struct he_dnsq *q, int status,
    const unsigned char *abuf, int alen);

/* c-ares is done with q: file the answer for deliver_cb.  Never runs user
   code (see the top of the file). */
static void
answer_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct he_dnsq *q = arg;
	struct he_dnsq_resolver *r = q->r;

	(void)timeouts;
	q->in_cares = 0;
	r->pending--;
	if (q->cancelled || status == ARES_EDESTRUCTION) {
		query_free(q);
		return;
	}
	file_answer(q, status, abuf, alen);
}

static void
file_answer(struct he_dnsq *q, int status, const unsigned char *abuf,
    int alen)
{
	struct he_dnsq_resolver *r = q->r;

	if (abuf && alen > 0) {
		/* any RCODE: NXDOMAIN and NODATA are answers to parse */
		if ((q->msg = malloc((size_t)alen)) != NULL) {
			memcpy(q->msg, abuf, (size_t)alen);
			q->len = (size_t)alen;
			q->status = HE_DNSQ_ANSWER;
		} else
			q->status = HE_DNSQ_FAILED;
	} else
		q->status = status == ARES_ETIMEOUT ? HE_DNSQ_TIMEOUT :
		    HE_DNSQ_FAILED;
	q->done = 1;
	if (r->done_tail)
		r->done_tail->next = q;
	else
		r->done = q;
	r->done_tail = q;
	event_active(r->deliver, EV_TIMEOUT, 1);
}

static void resolver_destroy(struct he_dnsq_resolver *r);

static void
deliver_cb(evutil_socket_t fd, short what, void *arg)
{
	struct he_dnsq_resolver *r = arg;
	struct he_dnsq *q;

	(void)fd;
	(void)what;
	r->delivering = 1;
	/* answers filed by a callback's new queries wait for the next turn:
	   take the list as it is now */
	q = r->done;
	r->done = r->done_tail = NULL;
	while (q) {
		struct he_dnsq *next = q->next;
		if (!q->cancelled && !r->dying)
			q->cb(q->status, q->msg, q->len, q->arg);
		query_free(q);
		q = next;
	}
	r->delivering = 0;
	if (r->dying)
		resolver_destroy(r);
}

/* ---- resolvers ---------------------------------------------------------- */

/* The evdns_base's servers as c-ares takes them, in nodes (linked); IPv6
   servers with a scope (link-local) are left out: c-ares 1.18 cannot use
   them.  How many. */
static int
servers_of_evdns(struct he_dnsq_resolver *r,
    struct ares_addr_port_node *nodes)
{
	struct sockaddr_storage ss;
	int i, n = 0, len;

	memset(nodes, 0, HE_DNSQ_MAX_SERVERS * sizeof(*nodes));
	for (i = 0; n < HE_DNSQ_MAX_SERVERS; i++) {
		struct ares_addr_port_node *nd = &nodes[n];
		len = evdns_base_get_nameserver_addr(r->dns, i,
		    (struct sockaddr *)&ss, sizeof(ss));
		if (len < 0 || len > (int)sizeof(ss))
			break;
		if (ss.ss_family == AF_INET) {
			const struct sockaddr_in *sin = (void *)&ss;
			nd->family = AF_INET;
			nd->addr.addr4 = sin->sin_addr;
			nd->udp_port = nd->tcp_port = ntohs(sin->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			const struct sockaddr_in6 *sin6 = (void *)&ss;
			if (sin6->sin6_scope_id)
				continue;
			nd->family = AF_INET6;
			memcpy(&nd->addr.addr6, &sin6->sin6_addr, 16);
			nd->udp_port = nd->tcp_port = ntohs(sin6->sin6_port);
		} else
			continue;
		if (n > 0)
			nodes[n - 1].next = nd;
		n++;
	}
	return n;
}

/* Whether nodes are the servers c-ares has (and remember them if not). */
static int
servers_same(struct he_dnsq_resolver *r,
    const struct ares_addr_port_node *nodes, int n)
{
	struct he_dnsq_server now[HE_DNSQ_MAX_SERVERS];
	int i, same;

	memset(now, 0, sizeof(now));
	for (i = 0; i < n; i++) {
		now[i].family = nodes[i].family;
		memcpy(now[i].addr, &nodes[i].addr, nodes[i].family ==
		    AF_INET ? 4 : 16);
		now[i].port = nodes[i].udp_port;
	}
	same = r->servers_set && n == r->nservers &&
	    !memcmp(now, r->servers, sizeof(now));
	memcpy(r->servers, now, sizeof(now));
	return same;
}

/* Give c-ares the evdns_base's servers (only while no query is out:
   c-ares 1.18 refuses to change servers under queries).  Giving them
   closes the socket c-ares keeps open (ARES_FLAG_STAYOPEN), so unchanged
   ones are given again only after HE_DNSQ_PORT_QUERIES queries: a new
   socket, a new random source port. */
static int
set_servers_from_evdns(struct he_dnsq_resolver *r)
{
	struct ares_addr_port_node nodes[HE_DNSQ_MAX_SERVERS];
	int n = servers_of_evdns(r, nodes);

	if (servers_same(r, nodes, n) && r->on_port < HE_DNSQ_PORT_QUERIES)
		return 0;
	r->on_port = 0;
	r->servers_set = 0;
	r->nservers = 0;
	if (ares_set_servers_ports(r->ch, n ? nodes : NULL) != ARES_SUCCESS)
		return -1;
	r->nservers = n;
	r->servers_set = 1;
	return 0;
}

struct he_dnsq_resolver *
he_dnsq_resolver_new_(struct event_base *base, struct evdns_base *dns,
    int timeout_ms, int tries)
{
	struct he_dnsq_resolver *r;
	struct ares_options o;
	int mask, rc;

	if (!base || timeout_ms <= 0 || tries <= 0) {
		errno = EINVAL;
		return NULL;
	}
	pthread_once(&cares_once, cares_init);
	if (cares_init_rc != ARES_SUCCESS) {
		errno = ENOMEM;
		return NULL;
	}
	if (!(r = calloc(1, sizeof(*r))))
		return NULL;
	r->base = base;
	r->dns = dns;
	memset(&o, 0, sizeof(o));
	o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_EDNS;
	/* With the evdns_base's servers the socket stays open across queries
	   (STAYOPEN): one per race would cost a socket(), connect(), three
	   fcntl()s, two epoll_ctl()s and a close() on every race.  Its
	   random source port is changed every HE_DNSQ_PORT_QUERIES queries
	   (set_servers_from_evdns); the IDs stay random per query.  (evdns
	   keeps one port for its A and AAAA queries for its whole life.) */
	if (dns)
		o.flags |= ARES_FLAG_STAYOPEN;
	o.ednspsz = HE_DNSQ_EDNS_SIZE;
	o.timeout = timeout_ms;
	o.tries = tries;
	o.sock_state_cb = sock_state_cb;
	o.sock_state_cb_data = r;
	mask = ARES_OPT_FLAGS | ARES_OPT_EDNSPSZ | ARES_OPT_TIMEOUTMS |
	    ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB;
	/* an empty server list keeps c-ares from reading resolv.conf when
	   the servers are the evdns_base's */
	if (dns) {
		o.servers = NULL;
		o.nservers = 0;
		mask |= ARES_OPT_SERVERS;
	}
	rc = ares_init_options(&r->ch, &o, mask);
	if (rc != ARES_SUCCESS) {
		r->ch = NULL;
		goto fail;
	}
	r->timer = evtimer_new(base, timer_cb, r);
	r->deliver = event_new(base, -1, 0, deliver_cb, r);
	if (!r->timer || !r->deliver)
		goto fail;
	return r;
fail:
	resolver_destroy(r);
	errno = ENOMEM;
	return NULL;
}

static void
resolver_destroy(struct he_dnsq_resolver *r)
{
	struct he_dnsq *q, *next;

	r->dying = 1;
	/* every query c-ares holds comes back with ARES_EDESTRUCTION and is
	   freed; every socket is closed through sock_state_cb */
	if (r->ch)
		ares_destroy(r->ch);
	for (q = r->done; q; q = next) {
		next = q->next;
		query_free(q);
	}
	while (r->socks) {
		struct he_dnsq_sock *s = r->socks;
		r->socks = s->next;
		if (s->added)
			event_del(&s->ev);
		free(s);
	}
	if (r->timer)
		event_free(r->timer);
	if (r->deliver)
		event_free(r->deliver);
	free(r);
}

void
he_dnsq_resolver_free_(struct he_dnsq_resolver *r)
{
	if (!r)
		return;
	if (r->delivering) {
		/* deliver_cb is walking its list: it finishes the job */
		r->dying = 1;
		return;
	}
	resolver_destroy(r);
}

struct he_dnsq *
he_dnsq_start_(struct he_dnsq_resolver *r, const char *name, int type,
    he_dnsq_cb cb, void *arg)
{
	struct he_dnsq *q;

	if (!r || r->dying || !name || !cb || type <= 0 || type > 65535) {
		errno = EINVAL;
		return NULL;
	}
	if (!(q = calloc(1, sizeof(*q))))
		return NULL;
	q->r = r;
	q->cb = cb;
	q->arg = arg;
	/* the evdns_base's servers may have changed since the last query */
	if (r->dns && r->pending == 0 && set_servers_from_evdns(r) < 0) {
		free(q);
		errno = ENOMEM;
		return NULL;
	}
	if (r->dns && r->nservers == 0) {
		/* c-ares 1.18.1's ares_send leaks the query's buffer when
		   the channel has no server: fail it here, on the next turn */
		file_answer(q, ARES_ESERVFAIL, NULL, 0);
		return q;
	}
	q->in_cares = 1;
	r->pending++;
	r->on_port++;
	/* may call answer_cb at once (no server, bad name): it only files
	   the answer for the next loop turn */
	ares_query(r->ch, name, ns_c_in, type, answer_cb, q);
	arm_timer(r);
	return q;
}

void
he_dnsq_cancel_(struct he_dnsq *q)
{
	if (q)
		q->cancelled = 1;
}

/* ---- the transport for he_svcb_lookup_ --------------------------------- */

static void *
ops_start(void *ctx, const char *name, int type, he_dnsq_cb cb, void *arg)
{
	return he_dnsq_start_(ctx, name, type, cb, arg);
}

static void
ops_cancel(void *query)
{
	he_dnsq_cancel_(query);
}

const struct he_dnsq_ops he_dnsq_cares_ops_ = { ops_start, ops_cancel };
