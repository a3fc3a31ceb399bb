/*
 * What the library keeps in the caller's event_base, and for how long:
 *
 * - event_base_dispatch() returns once the races are over, for every kind
 *   of race (a list, evdns, the system resolver, a race that failed or was
 *   cancelled, the drop-in with no evdns_base, evhappy_connect_hostname(3)'s
 *   own example with no evdns_base): the library keeps no event added when
 *   it has nothing to wait for, even with its context still alive.
 * - A program that frees its event_base while a drop-in race on it still
 *   resolves with the system resolver (and never frees that bufferevent,
 *   which libevent allows) leaves nothing that a later event_base at the
 *   same address would take for its own: the later base's lookups answer.
 *   One that frees the bufferevent and then the base at once leaves
 *   nothing at all once the lookups are done.
 *   libevent's allocator hook (event_set_mem_functions(), set in main())
 *   hands the freed base's memory to the next event_base_new(), as a LIFO
 *   allocator or jemalloc do by themselves.
 *
 * A dispatch that never returns would hang the test; a watchdog thread ends
 * the process instead (exit 3, with a message), in fork and no-fork mode.
 * Names go through the resolver's test hook (tests/he_gate.h): "v4.*" is
 * 127.0.0.1 with no IPv6 address, "nx.*" does not exist, "hang.*" waits
 * while its gate is closed and then does not exist.
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
#include "he_resolve.h"
#include "he_gate.h"
#include "he_lab.h"
#include "he_labproc.h"
#include "he_testutil.h"

#include <check.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>

/* ---- libevent's allocator, with one block kept for reuse ---------------- */

/* Each block carries its size, so that a kept block is handed out again
   only for a request of the same size (the next event_base_new()). */
union blk {
	size_t size;
	long double ld;
	void *p;
	long long ll;
};

static pthread_mutex_t mem_lock = PTHREAD_MUTEX_INITIALIZER;
static void *keep_target;	/* a free() of this is kept, not done */
static void *kept;		/* the kept block, until handed out again */

static void *
mem_malloc(size_t n)
{
	union blk *b;

	pthread_mutex_lock(&mem_lock);
	if (kept && ((union blk *)kept - 1)->size == n) {
		void *p = kept;
		kept = NULL;
		pthread_mutex_unlock(&mem_lock);
		return p;
	}
	pthread_mutex_unlock(&mem_lock);
	if (!(b = malloc(sizeof(*b) + n)))
		return NULL;
	b->size = n;
	return b + 1;
}

static void *
mem_realloc(void *p, size_t n)
{
	union blk *b;

	if (!p)
		return mem_malloc(n);
	if (!(b = realloc((union blk *)p - 1, sizeof(*b) + n)))
		return NULL;
	b->size = n;
	return b + 1;
}

static void
mem_free(void *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&mem_lock);
	if (p == keep_target) {
		keep_target = NULL;
		kept = p;
		pthread_mutex_unlock(&mem_lock);
		return;
	}
	pthread_mutex_unlock(&mem_lock);
	free((union blk *)p - 1);
}

/* The next event_base_free() of base keeps its memory for the next block
   of its size. */
static void
mem_keep(void *base)
{
	pthread_mutex_lock(&mem_lock);
	keep_target = base;
	pthread_mutex_unlock(&mem_lock);
}

/* Give back a kept block nobody took. */
static void
mem_keep_end(void)
{
	void *p;

	pthread_mutex_lock(&mem_lock);
	p = kept;
	kept = keep_target = NULL;
	pthread_mutex_unlock(&mem_lock);
	if (p)
		free((union blk *)p - 1);
}

/* ---- lookups ------------------------------------------------------------ */

/* Until n lookups of "hang.*" wait at the gate (the loop turning). */
static void
wait_hanging(struct event_base *base, int n)
{
	int64_t end = he_test_now_ms() + HE_TEST_UP(2000);

	while (he_gate_hanging() < n && he_test_now_ms() < end)
		he_test_run_until(base, 5, NULL);
	ck_assert_int_ge(he_gate_hanging(), n);
}

/* ---- the watchdog ------------------------------------------------------- */

struct watchdog {
	pthread_t tid;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
	int64_t ms;
	const char *what;
};

static void *
watchdog_main(void *arg)
{
	struct watchdog *w = arg;
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)(w->ms / 1000);
	until.tv_nsec += (long)(w->ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&w->lock);
	while (!w->done)
		if (pthread_cond_timedwait(&w->cond, &w->lock, &until) ==
		    ETIMEDOUT && !w->done) {
			fprintf(stderr, "%s: event_base_dispatch() did not "
			    "return within %lld ms\n", w->what,
			    (long long)w->ms);
			fflush(stderr);
			_exit(3);
		}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* event_base_dispatch(base), which must return within ms (widened); the
   time it took, in ms. */
static int64_t
dispatch_within(struct event_base *base, int ms, const char *what)
{
	struct watchdog w;
	int64_t t0 = he_test_now_ms();
	int rc;

	memset(&w, 0, sizeof(w));
	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	w.ms = HE_TEST_UP(ms);
	w.what = what;
	ck_assert_int_eq(pthread_create(&w.tid, NULL, watchdog_main, &w), 0);
	rc = event_base_dispatch(base);
	pthread_mutex_lock(&w.lock);
	w.done = 1;
	pthread_cond_signal(&w.cond);
	pthread_mutex_unlock(&w.lock);
	pthread_join(w.tid, NULL);
	pthread_mutex_destroy(&w.lock);
	pthread_cond_destroy(&w.cond);
	/* 1: no events left (0 would be a loopbreak, -1 an error) */
	ck_assert_int_eq(rc, 1);
	return he_test_now_ms() - t0;
}

/* ---- races to a callback ------------------------------------------------ */

struct rres {
	int calls;
	int connected;
	int err;
};

static void
req_cb(evutil_socket_t fd, const struct evhappy_report *rep, void *arg)
{
	struct rres *r = arg;

	r->calls++;
	r->err = evhappy_report_error(rep);
	if (fd >= 0) {
		r->connected = 1;
		evutil_closesocket(fd);
	}
}

/* A race to host:port on he, then event_base_dispatch(), which must
   return; what the race said is in *r. */
static void
race_and_dispatch(struct evhappy *he, struct event_base *base, int family,
    const char *host, int port, struct rres *r, const char *what)
{
	memset(r, 0, sizeof(*r));
	ck_assert_ptr_nonnull(evhappy_resolve_and_connect(he, family, host,
	    port, req_cb, r));
	dispatch_within(base, 5000, what);
	ck_assert_int_eq(r->calls, 1);
}

/* A context with no evdns_base, left alive while the loop runs: dispatch
   returns when the race is over.  One test per kind of race. */

START_TEST(test_dispatch_list)
{
	struct he_test_fx f;
	struct evutil_addrinfo *ai;
	struct rres r;
	evutil_socket_t lfd;
	int port = 0;

	he_test_fx_begin(&f);
	lfd = he_test_listen("127.0.0.1", &port);
	ai = he_test_ai("127.0.0.1", port);
	memset(&r, 0, sizeof(r));
	ck_assert_ptr_nonnull(evhappy_start_connection(f.he, ai, req_cb, &r));
	evhappy_addrinfo_free(ai);
	dispatch_within(f.base, 3000, "list");
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.connected, 1);
	evutil_closesocket(lfd);
	he_test_fx_end(&f);
}
END_TEST

START_TEST(test_dispatch_sysres)
{
	struct he_test_fx f;
	struct rres r;
	int port;

	port = he_gate_fx_begin(&f, "127.0.0.1");
	race_and_dispatch(f.he, f.base, AF_UNSPEC, "v4.test", port, &r,
	    "system resolver");
	ck_assert_int_eq(r.connected, 1);
	/* and again on the same context: the wake-up is added anew */
	race_and_dispatch(f.he, f.base, AF_UNSPEC, "v4.again.test", port, &r,
	    "system resolver, second race");
	ck_assert_int_eq(r.connected, 1);
	he_gate_fx_end(&f);
}
END_TEST

START_TEST(test_dispatch_sysres_failed)
{
	struct he_test_fx f;
	struct rres r;

	he_gate_fx_begin(&f, NULL);
	race_and_dispatch(f.he, f.base, AF_UNSPEC, "nx.test", 80, &r,
	    "failed race");
	ck_assert_int_eq(r.err, EHOSTUNREACH);
	he_gate_fx_end(&f);
}
END_TEST

/* Cancelled while its lookups still run on the pool's workers: the loop
   has nothing to wait for, although the workers are still busy. */
START_TEST(test_dispatch_sysres_cancelled)
{
	struct he_test_fx f;
	struct rres r;
	struct evhappy_request *req;

	he_gate_fx_begin(&f, NULL);
	he_gate_hang(1);
	memset(&r, 0, sizeof(r));
	req = evhappy_resolve_and_connect(f.he, AF_UNSPEC, "hang.test", 80,
	    req_cb, &r);
	ck_assert_ptr_nonnull(req);
	wait_hanging(f.base, 2);
	evhappy_request_cancel(req);
	dispatch_within(f.base, 3000, "cancelled race");
	ck_assert_int_eq(r.calls, 0);
	/* cancelled before its lookups ran: nothing to wait for either */
	req = evhappy_resolve_and_connect(f.he, AF_UNSPEC, "v4.test", 80,
	    req_cb, &r);
	ck_assert_ptr_nonnull(req);
	evhappy_request_cancel(req);
	dispatch_within(f.base, 3000, "cancelled race, queued");
	ck_assert_int_eq(r.calls, 0);
	he_gate_hang(0);
	ck_assert(he_gate_pool_quiet());
	he_gate_fx_end(&f);
}
END_TEST

START_TEST(test_dispatch_evdns)
{
	struct he_test_fx f;
	struct evdns_base *dns;
	struct evhappy *he;
	struct rres r;
	evutil_socket_t lfd;
	int port = 0;

	he_test_require(he_labproc_dns_start() == 0, "no lab DNS server");
	he_test_fx_begin(&f);
	/* libevent's own way to let dispatch return with an evdns_base:
	   its nameserver's event is added only while queries are out. */
	dns = evdns_base_new(f.base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	ck_assert_ptr_nonnull(dns);
	ck_assert_int_eq(evdns_base_nameserver_ip_add(dns,
	    he_labproc_dns_address()), 0);
	he = evhappy_new(f.base, dns);
	ck_assert_ptr_nonnull(he);
	lfd = he_test_listen("127.0.0.1", &port);
	race_and_dispatch(he, f.base, AF_INET, "both.test", port, &r, "evdns");
	ck_assert_int_eq(r.connected, 1);
	evhappy_free(he);
	evutil_closesocket(lfd);
	evdns_base_free(dns, 1);
	he_labproc_dns_stop();
	he_test_fx_end(&f);
}
END_TEST

/* ---- bufferevents ------------------------------------------------------- */

struct bres {
	int connected;
	int errors;
};

static void
free_cb(struct bufferevent *bev, short what, void *arg)
{
	struct bres *b = arg;

	if (what & BEV_EVENT_CONNECTED) {
		b->connected++;
		bufferevent_free(bev);
		return;
	}
	b->errors++;
	bufferevent_free(bev);
}

/* A drop-in race with no evdns_base on a new bufferevent, whose event
   callback (cb) counts in *b. */
static struct bufferevent *
dropin(struct event_base *base, const char *host, int port,
    bufferevent_event_cb cb, struct bres *b)
{
	struct bufferevent *bev;

	bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	ck_assert_ptr_nonnull(bev);
	bufferevent_setcb(bev, NULL, NULL, cb, b);
	ck_assert_int_eq(evhappy_socket_connect_hostname(bev, NULL, AF_UNSPEC,
	    host, port), 0);
	return bev;
}

/* The drop-in with no evdns_base (its context is the library's own). */
START_TEST(test_dispatch_dropin)
{
	struct he_test_fx f;
	struct bres b;
	int port;

	port = he_gate_fx_begin(&f, "127.0.0.1");
	memset(&b, 0, sizeof(b));
	dropin(f.base, "v4.test", port, free_cb, &b);
	dispatch_within(f.base, 3000, "drop-in");
	ck_assert_int_eq(b.connected, 1);
	/* and one that fails */
	dropin(f.base, "nx.test", port, free_cb, &b);
	dispatch_within(f.base, 3000, "drop-in, failed");
	ck_assert_int_eq(b.errors, 1);
	he_gate_fx_end(&f);
}
END_TEST

/* evhappy_connect_hostname(3)'s EXAMPLE with a NULL evdns base: the
   context is never freed before dispatch, and the event callback writes
   a request on CONNECTED and frees the bufferevent on an error. */
static void
man_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct bres *b = arg;

	if (what & BEV_EVENT_CONNECTED) {
		b->connected++;
		evbuffer_add_printf(bufferevent_get_output(bev),
		    "HEAD / HTTP/1.0\r\n\r\n");
		return;
	}
	b->errors++;
	bufferevent_free(bev);
}

START_TEST(test_dispatch_man_example)
{
	struct event_base *base;
	struct evhappy *he;
	struct bufferevent *bev;
	struct bres b;
	evutil_socket_t lfd;
	int port = 0, fds0 = he_test_count_fds();

	he_gate_reset();
	lfd = he_test_listen("127.0.0.1", &port);
	memset(&b, 0, sizeof(b));
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	he = evhappy_new(base, NULL);
	ck_assert_ptr_nonnull(he);
	bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	ck_assert_ptr_nonnull(bev);
	bufferevent_setcb(bev, NULL, NULL, man_eventcb, &b);
	if (evhappy_connect_hostname(he, bev, AF_UNSPEC, "v4.test", port) < 0) {
		perror("evhappy_connect_hostname");
		bufferevent_free(bev);
		bev = NULL;
	}
	ck_assert_ptr_nonnull(bev);
	dispatch_within(base, 3000, "evhappy_connect_hostname(3) example");
	ck_assert_int_eq(b.connected, 1);
	ck_assert_int_eq(b.errors, 0);
	/* the request was written: nothing was left to wait for */
	ck_assert_int_eq(evbuffer_get_length(bufferevent_get_output(bev)), 0);
	bufferevent_free(bev);
	evhappy_free(he);
	event_base_free(base);
	evutil_closesocket(lfd);
	he_resolve_set_gai_hook_(NULL);
	ck_assert_int_eq(he_test_count_fds(), fds0);
}
END_TEST

/* ---- a later event_base at a freed one's address ------------------------ */

static struct bufferevent *abandoned[4];	/* never freed, as a program
						   may do; reachable */
static int nabandoned;

/* A drop-in race on a fresh event_base at the address of the one freed
   before: it must resolve and connect. */
static void
race_on_reused_base(void *old_addr, int port)
{
	struct event_base *base;
	struct bres b;

	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	ck_assert_msg((void *)base == old_addr,
	    "the allocator hook did not reuse the freed base's memory");
	memset(&b, 0, sizeof(b));
	dropin(base, "v4.second.test", port, free_cb, &b);
	he_test_run_until(base, HE_TEST_UP(3000), &b.connected);
	ck_assert_msg(b.connected == 1, "the later base's race did not "
	    "connect (errors %d)", b.errors);
	/* and a context of the program's own on it */
	{
		struct evhappy *he = evhappy_new(base, NULL);
		struct rres r;

		ck_assert_ptr_nonnull(he);
		memset(&r, 0, sizeof(r));
		ck_assert_ptr_nonnull(evhappy_resolve_and_connect(he,
		    AF_UNSPEC, "v4.third.test", port, req_cb, &r));
		he_test_run_until(base, HE_TEST_UP(3000), &r.calls);
		ck_assert_int_eq(r.calls, 1);
		ck_assert_int_eq(r.connected, 1);
		evhappy_free(he);
	}
	event_base_loop(base, EVLOOP_NONBLOCK);
	event_base_free(base);
}

/* The event_base is freed while a drop-in race on it waits for the system
   resolver; the lookup answers afterwards, into nothing. */
START_TEST(test_base_reused_lookup_pending)
{
	struct event_base *base;
	static struct bres first;	/* the abandoned race's */
	evutil_socket_t lfd;
	int port = 0;
	void *addr;

	he_gate_reset();
	lfd = he_test_listen("127.0.0.1", &port);
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	he_gate_hang(1);
	abandoned[nabandoned++] = dropin(base, "hang.first.test", port, free_cb,
	    &first);
	wait_hanging(base, 2);
	addr = base;
	mem_keep(base);
	event_base_free(base);
	he_gate_hang(0);		/* the old race's answers come now */
	he_test_sleep_ms(50);
	race_on_reused_base(addr, port);
	mem_keep_end();
	evutil_closesocket(lfd);
	he_resolve_set_gai_hook_(NULL);
}
END_TEST

/* The event_base is freed while a drop-in race on it is past its lookups
   (connecting to a black hole); no lookup is out then. */
START_TEST(test_base_reused_lookup_done)
{
	struct event_base *base;
	struct he_lab_blackhole *bh;
	static struct bres first;	/* the abandoned race's */
	evutil_socket_t lfd;
	int port = 0, bport = 0;
	void *addr;

	he_gate_reset();
	lfd = he_test_listen("127.0.0.1", &port);
	bh = he_test_blackhole("127.0.0.1", &bport);
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	abandoned[nabandoned++] = dropin(base, "v4.first.test", bport, free_cb,
	    &first);
	he_test_run_for(base, 100);	/* answered; connecting */
	ck_assert_int_eq(first.connected + first.errors, 0);
	addr = base;
	mem_keep(base);
	event_base_free(base);
	race_on_reused_base(addr, port);
	mem_keep_end();
	evutil_closesocket(lfd);
	he_lab_blackhole_free(bh);
	he_resolve_set_gai_hook_(NULL);
}
END_TEST

/* The drop-in's bufferevent is freed, then at once its event_base, while
   the race's lookups still run; they end afterwards, into nothing, and
   nothing is left: no fd once they are done, no read of freed memory
   (valgrind, ASan). */
START_TEST(test_base_freed_after_bev)
{
	struct event_base *base;
	struct bufferevent *bev;
	struct bres b;
	int fds0 = he_test_count_fds();

	he_gate_reset();
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	he_gate_hang(1);
	memset(&b, 0, sizeof(b));
	bev = dropin(base, "hang.freed.test", 80, free_cb, &b);
	wait_hanging(base, 2);
	bufferevent_free(bev);
	event_base_free(base);
	he_gate_hang(0);
	ck_assert(he_gate_pool_quiet());
	he_resolve_set_gai_hook_(NULL);
	ck_assert_int_eq(he_test_count_fds(), fds0);
}
END_TEST

static Suite *
lifetime_suite(void)
{
	const struct he_test_def tests[] = {
		HE_TCASE("dispatch", 60),
		HE_TEST(test_dispatch_list),
		HE_TEST(test_dispatch_sysres),
		HE_TEST(test_dispatch_sysres_failed),
		HE_TEST(test_dispatch_sysres_cancelled),
		HE_TEST(test_dispatch_evdns),
		HE_TEST(test_dispatch_dropin),
		HE_TEST(test_dispatch_man_example),
		HE_TCASE("reused_base", 60),
		HE_TEST(test_base_reused_lookup_pending),
		HE_TEST(test_base_reused_lookup_done),
		HE_TEST(test_base_freed_after_bev),
	};

	return he_test_suite_of("lifetime", tests, HE_TEST_N(tests));
}

Suite *
he_test_suite(void)
{
	/* Before libevent allocates anything. */
	event_set_mem_functions(mem_malloc, mem_realloc, mem_free);
	return lifetime_suite();
}
