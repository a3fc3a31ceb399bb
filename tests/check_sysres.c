/*
 * The system resolver (no evdns_base): its bounded pool of worker threads,
 * each base's share of it and the bases served in turn, AAAA handed to the
 * resolver before A, the one wake-up fd per event_base, cancelling queued
 * lookups, real errnos when a lookup cannot start, one family failing
 * while the other races, fork() during a lookup, and literals that must
 * not reach the resolver.
 *
 * Lookups go through the test hook (he_resolve_set_gai_hook_), never to the
 * network: tests/he_gate.h's, where "nosuch.invalid" fails with EAI_NONAME,
 * "slow.test" answers the loopback address of the family asked, "hang.*"
 * waits at a gate of its own.  The hook can be held at a gate, so that
 * lookups stay running (on the workers) or queued as long as a test
 * needs.
 *
 * This program is linked with -Wl,--wrap=eventfd,--wrap=pipe2,
 * --wrap=pthread_create, so a test can fail the next wake-up fd or every
 * thread creation of the library (the wrappers below pass every other call
 * on).  Run it under ThreadSanitizer too (./quickstart.sh check does).
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
#include "he_gate.h"
#include "he_lab.h"
#include "he_testutil.h"
#include "he_testrec.h"

#include <check.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>

#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif

/* ---- link-time wrappers: fail the library's next wake-up fd or threads -- */

static int fail_wake_fds;	/* fail this many wake-up fds, EMFILE */
static int fail_threads;	/* fail every pthread_create, EAGAIN */
static int thread_creates;	/* pthread_create calls seen */

int __real_eventfd(unsigned int initval, int flags);
int __wrap_eventfd(unsigned int initval, int flags);
int __real_pipe2(int fds[2], int flags);
int __wrap_pipe2(int fds[2], int flags);
int __real_pthread_create(pthread_t *t, const pthread_attr_t *a,
    void *(*fn)(void *), void *arg);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a,
    void *(*fn)(void *), void *arg);

static int
take_wake_failure(void)
{
	int n = __atomic_load_n(&fail_wake_fds, __ATOMIC_SEQ_CST);

	if (n <= 0)
		return 0;
	__atomic_store_n(&fail_wake_fds, n - 1, __ATOMIC_SEQ_CST);
	errno = EMFILE;
	return 1;
}

int
__wrap_eventfd(unsigned int initval, int flags)
{
	if (take_wake_failure())
		return -1;
	return __real_eventfd(initval, flags);
}

int
__wrap_pipe2(int fds[2], int flags)
{
	if (take_wake_failure())
		return -1;
	return __real_pipe2(fds, flags);
}

int
__wrap_pthread_create(pthread_t *t, const pthread_attr_t *a,
    void *(*fn)(void *), void *arg)
{
	__atomic_fetch_add(&thread_creates, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&fail_threads, __ATOMIC_SEQ_CST))
		return EAGAIN;
	return __real_pthread_create(t, a, fn, arg);
}

/* ---- threads ----------------------------------------------------------- */

/* Whether task (a /proc/self/task entry) is called name. */
static int
task_named(const char *task, void *name)
{
	char path[600], comm[32] = "";
	FILE *fp;

	snprintf(path, sizeof(path), "%s/comm", task);
	if ((fp = fopen(path, "r")) != NULL) {
		if (fgets(comm, sizeof(comm), fp))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(fp);
	}
	return strcmp(comm, name) == 0;
}

/* This process's threads; with name, only those of that name (the pool's
   workers call themselves "evhappy-gai"). */
static int
count_tasks(const char *name)
{
	return he_lab_count_dir_if("/proc/self/task", name ? task_named : NULL,
	    (void *)name);
}

/* ThreadSanitizer starts a thread of its own along the way. */
#ifdef UNDER_TSAN
#define OTHER_THREADS 1
#else
#define OTHER_THREADS 0
#endif

#ifndef UNDER_TSAN
static int
noname_gai(const char *node, const char *service,
    const struct evutil_addrinfo *hints, struct evutil_addrinfo **res)
{
	return EAI_NONAME;
}
#endif

/* ---- races to a socket (struct he_test_res) ----------------------------- */

/* resolve_and_connect(host, port) on he into r; the winner's socket is
   closed in the callback. */
static struct evhappy_request *
start(struct evhappy *he, struct he_test_res *r, const char *host, int port)
{
	struct evhappy_request *req = he_test_resolve(he, AF_UNSPEC, host,
	    port, r);

	r->close_fd = 1;
	return req;
}

static void
wait_until(struct event_base *base, int ms, int (*cond)(void *), void *arg)
{
	int64_t end = he_test_now_ms() + HE_TEST_UP(ms);

	while (!cond(arg) && he_test_now_ms() < end)
		he_test_run_until(base, 5, NULL);
}

static int
inside_at_least(void *arg)
{
	return he_gate_inside() >= *(int *)arg;
}

/* ---- the pool is bounded ------------------------------------------------ */

#define NCTX 2
#define NRACES 500	/* per context: 1,000 races, 2,000 lookups */
#define NDROPIN 50	/* and drop-in races, each with a private context */

struct watch {
	int max_fds, max_tasks, max_named, max_queued, max_threads;
};

static void
watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct watch *w = arg;
	struct he_pool_stats st;
	int n = he_test_count_fds(), t = count_tasks(NULL);
	int named = count_tasks("evhappy-gai");

	if (named > w->max_named)
		w->max_named = named;
	if (n > w->max_fds)
		w->max_fds = n;
	if (t > w->max_tasks)
		w->max_tasks = t;
	he_resolve_pool_stats_(&st);
	if (st.queued > w->max_queued)
		w->max_queued = st.queued;
	if (st.threads > w->max_threads)
		w->max_threads = st.threads;
}

static void
dropin_cb(struct bufferevent *bev, short what, void *arg)
{
	int *n = arg;

	if (what & BEV_EVENT_ERROR &&
	    evhappy_socket_get_dns_error(bev) == EVUTIL_EAI_NONAME)
		(*n)++;
	else
		*n += 100000;	/* not what we want: the count shows it */
}

/* 1,000 concurrent races on two contexts and 50 drop-in races, all on one
   event_base: at most HE_POOL_PER_BASE worker threads and one wake-up fd
   for the base, however many lookups are waiting; every race is answered
   once.  (Before the pool: a thread and a pipe per lookup, 2,100 and
   4,200.) */
START_TEST(test_pool_bounded)
{
	static struct he_test_res r[NCTX][NRACES];
	struct he_test_fx f;
	struct evhappy *he[NCTX];
	struct watch w;
	struct event *tick;
	struct timeval tv;
	struct bufferevent *bev[NDROPIN];
	int i, c, done = 0, dropins = 0, tasks0 = count_tasks(NULL), fds1;
	int cap = HE_POOL_PER_BASE;

	he_test_fx_begin(&f);
	he[0] = f.he;
	he[1] = evhappy_new(f.base, NULL);
	ck_assert_ptr_nonnull(he[1]);
	fds1 = he_test_count_fds();
	he_gate_reset();
	he_gate_all(1);		/* everything queues until the first look */
	for (c = 0; c < NCTX; c++)
		for (i = 0; i < NRACES; i++) {
			start(he[c], &r[c][i], "nosuch.invalid", 80);
			r[c][i].counter = &done;
		}
	for (i = 0; i < NDROPIN; i++) {
		bev[i] = bufferevent_socket_new(f.base, -1,
		    BEV_OPT_CLOSE_ON_FREE);
		ck_assert_ptr_nonnull(bev[i]);
		bufferevent_setcb(bev[i], NULL, NULL, dropin_cb, &dropins);
		ck_assert_int_eq(evhappy_socket_connect_hostname(bev[i], NULL,
		    AF_UNSPEC, "nosuch.invalid", 80), 0);
	}
	memset(&w, 0, sizeof(w));
	tick = event_new(f.base, -1, EV_PERSIST, watch_cb, &w);
	ck_assert_ptr_nonnull(tick);
	he_test_tv(&tv, 5);
	event_add(tick, &tv);
	wait_until(f.base, 2000, inside_at_least, &cap);
	he_test_run_until(f.base, 20, NULL);
	watch_cb(-1, 0, &w);
	ck_assert_int_eq(he_gate_inside(), cap);
	ck_assert_int_ge(w.max_queued, (NCTX * NRACES + NDROPIN) * 2 - cap);
	he_gate_all(0);
	for (i = 0; i < 400 && (done < NCTX * NRACES || dropins < NDROPIN);
	    i++)
		he_test_run_until(f.base, HE_TEST_UP(50), NULL);
	event_free(tick);

	ck_assert_int_eq(done, NCTX * NRACES);
	ck_assert_int_eq(dropins, NDROPIN);
	for (i = 0; i < NDROPIN; i++)
		bufferevent_free(bev[i]);
	for (c = 0; c < NCTX; c++)
		for (i = 0; i < NRACES; i++) {
			ck_assert_int_eq(r[c][i].calls, 1);
			ck_assert_int_eq(r[c][i].error, EHOSTUNREACH);
			ck_assert_int_eq(r[c][i].dns_error, EVUTIL_EAI_NONAME);
		}
	ck_assert_int_eq(he_gate_calls(), (NCTX * NRACES + NDROPIN) * 2);
	ck_assert_msg(w.max_threads <= cap, "%d workers", w.max_threads);
	ck_assert_msg(w.max_tasks <= tasks0 + cap + OTHER_THREADS,
	    "%d threads (%d before)", w.max_tasks, tasks0);
#ifdef HAVE_PTHREAD_SETNAME_NP
	ck_assert_int_eq(w.max_named, cap);
#endif
	ck_assert_msg(w.max_fds <= fds1 + 1, "%d fds (%d before)",
	    w.max_fds, fds1);
	evhappy_free(he[1]);
	he_resolve_set_gai_hook_(NULL);
	he_test_fx_end(&f);
}
END_TEST

/* Cancelled queued lookups are dropped at once and never run; the running
   ones finish in the background and nobody is called back. */
START_TEST(test_cancel_queued)
{
	struct he_test_fx f;
	struct he_test_res r[20];
	struct evhappy_request *req[20];
	struct he_pool_stats st;
	int i, cap = HE_POOL_PER_BASE;

	he_gate_fx_begin(&f, NULL);
	he_gate_all(1);
	for (i = 0; i < 20; i++)
		req[i] = start(f.he, &r[i], "slow.test", 80);
	wait_until(f.base, 2000, inside_at_least, &cap);
	he_resolve_pool_stats_(&st);
	ck_assert_int_eq(st.queued, 40 - cap);
	ck_assert_int_eq(he_gate_inside(), cap);
	for (i = 0; i < 20; i++)
		evhappy_request_cancel(req[i]);
	he_resolve_pool_stats_(&st);
	ck_assert_int_eq(st.queued, 0);
	he_gate_all(0);
	he_test_run_until(f.base, 200, NULL);
	ck_assert_int_eq(he_gate_calls(), cap);
	for (i = 0; i < 20; i++)
		ck_assert_int_eq(r[i].calls, 0);
	he_gate_fx_end(&f);
}
END_TEST

/* evhappy_free() inside the first of several answers delivered on one
   wake-up: the others are dropped, nothing is touched after the free. */
START_TEST(test_free_in_answer)
{
	struct he_test_fx f;
	struct he_test_res r[6];
	int i, n = 0;

	he_gate_fx_begin(&f, NULL);
	he_gate_all(1);
	for (i = 0; i < 6; i++) {
		start(f.he, &r[i], "nosuch.invalid", 80);
		r[i].free_he = &f.he;
		r[i].counter = &n;
	}
	he_test_run_until(f.base, 30, NULL);
	he_gate_all(0);
	/* Every lookup is finished and waits in the mailbox before the loop
	   looks at it again. */
	for (i = 0; i < 100 && he_gate_calls() < 12; i++)
		he_test_sleep_ms(5);
	he_test_sleep_ms(20);
	he_test_run_until(f.base, 200, NULL);
	ck_assert_int_eq(n, 1);
	f.he = NULL;
	he_gate_fx_end(&f);
}
END_TEST

/* ---- one base's hanging names and the other bases ------------------------ */

static int
hang_at_least(void *arg)
{
	return he_gate_hanging() >= *(int *)arg;
}

/* Thread A's base has 8 races whose names hang (16 lookups); a lookup on
   thread B's base is answered at once all the same, and A's lookups hold
   no more than their base's share of workers.  (With one pool of 4
   workers, B waited until A's names were let go.) */
START_TEST(test_hanging_base_spares_others)
{
	struct he_test_fx f;
	struct he_gate_side sd;
	struct he_test_res r;
	int port, some = 4, took;
	int64_t t0;

	port = he_gate_fx_begin(&f, "127.0.0.1");
	he_gate_hang(1);
	ck_assert_int_eq(he_gate_side_start(&sd, 8, HE_TEST_UP(20000)), 0);
	wait_until(f.base, 3000, hang_at_least, &some);
	ck_assert_int_ge(he_gate_hanging(), some);
	t0 = he_test_now_ms();
	start(f.he, &r, "slow.test", port);
	he_test_run_until(f.base, HE_TEST_UP(1500), &r.calls);
	took = (int)(he_test_now_ms() - t0);
	ck_assert_msg(r.calls, "B's race waited %d ms for A's names", took);
	ck_assert_msg(took <= HE_TEST_UP(500), "B's race took %d ms", took);
	ck_assert_int_eq(r.peer_family != 0, 1);
	ck_assert_int_eq(he_gate_hanging(), HE_POOL_PER_BASE);
	he_gate_hang(0);
	he_gate_side_join(&sd);
	ck_assert_msg(sd.calls, "A's races did not all end");
	he_gate_fx_end(&f);
}
END_TEST

static int
rres_done(void *arg)
{
	return ((struct he_test_res *)arg)->calls;
}

/* One base with 40 races whose names hang: HE_POOL_PER_BASE of its
   lookups run, the rest wait in its queue (its own contexts share the
   queue); another base's race still resolves at once. */
START_TEST(test_base_share)
{
	struct he_test_fx f, g;
	static struct he_test_res r[40];
	struct he_test_res other;
	struct he_pool_stats st;
	struct evhappy *he2;
	char name[64];
	int i, cap = HE_POOL_PER_BASE;

	he_gate_fx_begin(&f, NULL);
	he_gate_hang(1);
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "hang.%d.test", i);
		start(f.he, &r[i], name, 80);
	}
	he_test_fx_begin(&g);	/* counts f's wake-up fd as there */
	wait_until(f.base, 3000, hang_at_least, &cap);
	he_test_run_until(f.base, 50, NULL);
	ck_assert_int_eq(he_gate_hanging(), cap);
	he_resolve_pool_stats_(&st);
	ck_assert_int_eq(st.queued, 80 - cap);
	/* (with CK_FORK=no, earlier tests' workers may wait idle too) */
	ck_assert_int_eq(st.threads - st.idle, cap);
	/* another context on the same base waits its turn... */
	he2 = evhappy_new(f.base, NULL);
	ck_assert_ptr_nonnull(he2);
	start(he2, &other, "slow.test", 80);
	he_test_run_until(f.base, 100, &other.calls);
	ck_assert_int_eq(other.calls, 0);
	evhappy_free(he2);
	/* ...another base does not */
	start(g.he, &other, "slow.test", 80);
	wait_until(g.base, 1000, rres_done, &other);
	ck_assert_int_eq(other.calls, 1);
	ck_assert_int_eq(other.dns_error, 0);
	he_gate_hang(0);
	for (i = 0; i < 40; i++) {
		wait_until(f.base, 3000, rres_done, &r[i]);
		ck_assert_int_eq(r[i].calls, 1);
	}
	he_resolve_set_gai_hook_(NULL);
	he_test_fx_end(&g);
	he_test_fx_end(&f);
}
END_TEST

/* Five bases with names that hang: the pool grows to HE_POOL_MAX_THREADS
   workers and no further, every base holding at most its share, and every
   race ends once the names are let go. */
#define NBASES 5
START_TEST(test_pool_max_threads)
{
	struct he_test_fx f[NBASES];
	static struct he_test_res r[NBASES][10];
	struct he_pool_stats st;
	char name[64];
	int b, i, all = NBASES * HE_POOL_PER_BASE;

	if (all > HE_POOL_MAX_THREADS)
		all = HE_POOL_MAX_THREADS;
	he_gate_reset();
	he_gate_hang(1);
	for (b = 0; b < NBASES; b++) {
		he_test_fx_begin(&f[b]);
		for (i = 0; i < 10; i++) {
			snprintf(name, sizeof(name), "hang.%d.%d.test", b, i);
			start(f[b].he, &r[b][i], name, 80);
		}
	}
	wait_until(f[0].base, 3000, hang_at_least, &all);
	he_test_sleep_ms(50);
	ck_assert_int_eq(he_gate_hanging(), all);
	he_resolve_pool_stats_(&st);
	ck_assert_int_eq(st.threads, all);
	ck_assert_int_eq(st.queued, NBASES * 20 - all);
	ck_assert_int_le(count_tasks("evhappy-gai"), HE_POOL_MAX_THREADS);
	he_gate_hang(0);
	for (b = 0; b < NBASES; b++)
		for (i = 0; i < 10; i++) {
			wait_until(f[b].base, 3000, rres_done, &r[b][i]);
			ck_assert_int_eq(r[b][i].calls, 1);
		}
	he_resolve_set_gai_hook_(NULL);
	for (b = NBASES - 1; b >= 0; b--)
		he_test_fx_end(&f[b]);
}
END_TEST

/* ---- AAAA before A ------------------------------------------------------ */

/* How many of races [from, to) had their A lookup reach the resolver
   before their AAAA lookup (or had one missing). */
static int
order_wrong(int from, int to)
{
	int i, bad = 0;

	for (i = from; i < to; i++) {
		int v6 = he_gate_order(i, AF_INET6);
		int v4 = he_gate_order(i, AF_INET);

		if (!v6 || !v4 || v4 < v6)
			bad++;
	}
	return bad;
}

/* RFC 8305 section 3: the AAAA query first, then A.  The system resolver
   hands each race's AAAA lookup to getaddrinfo() before its A lookup,
   every time: 150 races one after another, then 250 at once (they queue,
   and several workers take them together). */
START_TEST(test_aaaa_before_a)
{
	struct he_test_fx f;
	static struct he_test_res r[HE_GATE_NORDER];
	char name[64];
	int i, bad;

	he_gate_fx_begin(&f, NULL);
	for (i = 0; i < 150; i++) {
		snprintf(name, sizeof(name), "order.%d.test", i);
		start(f.he, &r[i], name, 80);
		he_test_run_until(f.base, HE_TEST_UP(2000), &r[i].calls);
		ck_assert_int_eq(r[i].calls, 1);
	}
	bad = order_wrong(0, 150);
	ck_assert_msg(bad == 0, "%d of 150 races, one at a time: A first",
	    bad);
	for (i = 150; i < HE_GATE_NORDER; i++) {
		snprintf(name, sizeof(name), "order.%d.test", i);
		start(f.he, &r[i], name, 80);
	}
	for (i = 150; i < HE_GATE_NORDER; i++) {
		wait_until(f.base, 3000, rres_done, &r[i]);
		ck_assert_int_eq(r[i].calls, 1);
	}
	bad = order_wrong(150, HE_GATE_NORDER);
	ck_assert_msg(bad == 0, "%d of %d races at once: A first", bad,
	    HE_GATE_NORDER - 150);
	he_gate_fx_end(&f);
}
END_TEST

/* An AAAA lookup that hangs holds its A lookup back for no more than a
   moment (HE_AAAA_LEAD_US): the race connects over IPv4 after the
   resolution delay (50 ms), well before the AAAA lookup ends. */
START_TEST(test_a_not_held_by_aaaa)
{
	struct he_test_fx f;
	struct he_test_res r;
	int port;
	int64_t t0, took;

	port = he_gate_fx_begin(&f, "127.0.0.1");
	he_gate_hang(1);
	t0 = he_test_now_ms();
	start(f.he, &r, "hang6.test", port);
	he_test_run_until(f.base, HE_TEST_UP(2000), &r.calls);
	took = he_test_now_ms() - t0;
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.peer_family, AF_INET);
	ck_assert_msg(took >= 45 && took <= HE_TEST_UP(300),
	    "connected after %lld ms", (long long)took);
	ck_assert_int_eq(he_gate_hanging(), 1);
	he_gate_hang(0);
	ck_assert(he_gate_pool_quiet());
	he_gate_fx_end(&f);
}
END_TEST

/* ---- lookups that cannot start ------------------------------------------ */

static int
fill_fds(int *fds, int max)
{
	int n = 0, fd;

	while (n < max && (fd = dup(0)) >= 0)
		fds[n++] = fd;
	return n;
}

/* No fd for the wake-up: the race fails with EMFILE (not ENOMEM, not
   EHOSTUNREACH), no fd is left behind, and once fds are free again the same
   context resolves. */
START_TEST(test_wake_fd_emfile)
{
	struct he_test_fx f;
	struct he_test_res r;
	struct rlimit old, low;
	int fds[256], n, i, fds1;

	he_gate_fx_begin(&f, NULL);
	fds1 = he_test_count_fds();
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)f.fds0 + 64;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	n = fill_fds(fds, 256);
	ck_assert_int_lt(n, 256);

	start(f.he, &r, "nosuch.invalid", 80);
	he_test_run_until(f.base, 2000, &r.calls);
	for (i = 0; i < n; i++)
		close(fds[i]);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.error, EMFILE);
	ck_assert_int_eq(r.dns_error, EVUTIL_EAI_SYSTEM);
	ck_assert_int_eq(he_gate_calls(), 0);
	ck_assert_int_eq(he_test_count_fds(), fds1);

	start(f.he, &r, "nosuch.invalid", 80);
	he_test_run_until(f.base, 2000, &r.calls);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.error, EHOSTUNREACH);
	ck_assert_int_eq(r.dns_error, EVUTIL_EAI_NONAME);
	he_gate_fx_end(&f);
}
END_TEST

struct trace_rec {
	int v6_answer_error;
	int queries;
	struct evhappy_request *cancel;	/* cancel it on DNS_QUERY */
};

static void
trace_cb(const struct evhappy_trace *ev, void *arg)
{
	struct trace_rec *t = arg;

	if (ev->kind == EVHAPPY_TRACE_DNS_QUERY) {
		t->queries++;
		if (t->cancel)
			evhappy_request_cancel(t->cancel);
	}
	if (ev->kind == EVHAPPY_TRACE_DNS_ANSWER && ev->family == AF_INET6)
		t->v6_answer_error = ev->error;
}

/* The AAAA lookup cannot start (its wake-up fd fails): the A lookup still
   runs and IPv4 wins; the trace says why AAAA gave nothing. */
START_TEST(test_one_family_fails)
{
	struct he_test_fx f;
	struct he_test_res r;
	struct trace_rec t;
	int port;

	port = he_gate_fx_begin(&f, "127.0.0.1");
	memset(&t, 0, sizeof(t));
	evhappy_set_trace_cb(f.he, trace_cb, &t);
	__atomic_store_n(&fail_wake_fds, 1, __ATOMIC_SEQ_CST);
	start(f.he, &r, "slow.test", port);
	he_test_run_until(f.base, 3000, &r.calls);
	ck_assert_int_eq(__atomic_load_n(&fail_wake_fds, __ATOMIC_SEQ_CST), 0);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_msg(r.fd >= 0, "failed: error %d dns %d", r.error, r.dns_error);
	ck_assert_int_eq(r.peer_family, AF_INET);
	ck_assert_int_eq(r.natt, 1);
	ck_assert_int_eq(t.v6_answer_error, EMFILE);
	ck_assert_int_eq(he_gate_calls(), 1);
	he_gate_fx_end(&f);
}
END_TEST

/* No thread can be made: the race fails with EAGAIN (what pthread_create
   said), no fd is left behind.  Run in a child of fork(), which by the
   pool's rules starts with no workers. */
START_TEST(test_no_threads_eagain)
{
	pid_t pid = he_test_fork();

	if (pid == 0) {
		struct he_test_fx f;
		struct he_test_res r;
		struct he_pool_stats st;
		int rc = 0;

		he_resolve_pool_stats_(&st);
		if (st.threads != 0)
			_exit(10);
		he_test_fx_begin(&f);
		he_gate_reset();
		__atomic_store_n(&fail_threads, 1, __ATOMIC_SEQ_CST);
		start(f.he, &r, "slow.test", 80);
		he_test_run_until(f.base, 2000, &r.calls);
		if (r.calls != 1)
			rc = 11;
		else if (r.error != EAGAIN)
			rc = 12;
		else if (r.dns_error != EVUTIL_EAI_SYSTEM)
			rc = 13;
		else if (__atomic_load_n(&thread_creates, __ATOMIC_SEQ_CST) < 2)
			rc = 14;
		evhappy_free(f.he);
		event_base_free(f.base);
		if (!rc && he_test_count_fds() != f.fds0)
			rc = 15;
		_exit(rc);
	}
	he_test_child_ok(pid, "the child with no threads (its codes are "
	    "above)");
}
END_TEST

/* ---- fork() during lookups ---------------------------------------------- */

/* Whether fd (a /proc/self/fd entry) is an eventfd. */
static int
is_eventfd(const char *fd, void *arg)
{
	char link[64];
	ssize_t len = readlink(fd, link, sizeof(link) - 1);

	(void)arg;
	if (len <= 0)
		return 0;
	link[len] = '\0';
	return strstr(link, "eventfd") != NULL;
}

/* The eventfds this process has open: the wake-up fds (nothing else here
   makes one). */
static int
count_eventfds(void)
{
	return he_lab_count_dir_if("/proc/self/fd", is_eventfd, NULL);
}

/* Races enough for a full base's share of workers and two lookups queued. */
#define NFORK (HE_POOL_PER_BASE / 2 + 1)

static int
all_done(void *arg)
{
	struct he_test_res *r = arg;
	int i;

	for (i = 0; i < NFORK; i++)
		if (!r[i].calls)
			return 0;
	return 1;
}

/* The child of a fork() during lookups (HE_POOL_PER_BASE running on
   workers, 2 queued) gets every inherited race failed at once with
   EVUTIL_EAI_AGAIN, and can resolve anew; the parent's lookups are
   untouched: the child's loop, which runs while they finish, steals none of
   their wake-up fds.  Once the child has freed its context and base, it
   holds no wake-up fd: neither the parent's nor one of its own. */
static void
fork_child_side(struct he_test_fx *f, struct he_test_res *r, int tell)
{
	int64_t t0 = he_test_now_ms();
	int i, rc = 0;
	char c = 'x';

	if (event_reinit(f->base) < 0)
		_exit(20);
	wait_until(f->base, 1000, all_done, r);
	if (!all_done(r))
		_exit(21);
	if (he_test_now_ms() - t0 > HE_TEST_UP(500))
		_exit(22);
	for (i = 0; i < NFORK; i++)
		if (r[i].calls != 1 || r[i].error != EHOSTUNREACH ||
		    r[i].dns_error != EVUTIL_EAI_AGAIN)
			_exit(23);
	if (write(tell, &c, 1) != 1)
		_exit(26);
	close(tell);
	/* The parent's lookups finish now; this loop must not take their
	   wake-ups. */
	he_test_run_until(f->base, 300, NULL);
#ifndef UNDER_TSAN
	/* TSan does not support new threads after a multi-threaded fork. */
	{
		struct he_test_res n;
		/* Not the gate's hook: its lock may be held by a thread that
		   is not here. */
		he_resolve_set_gai_hook_(noname_gai);
		start(f->he, &n, "nosuch.invalid", 80);
		he_test_run_until(f->base, 2000, &n.calls);
		if (n.calls != 1 || n.dns_error != EVUTIL_EAI_NONAME)
			rc = 27;
	}
#endif
	evhappy_free(f->he);
	event_base_free(f->base);
	/* (not a count of every fd: valgrind changes its own in a child) */
	if (!rc && count_eventfds() != 0)
		rc = 28;
	_exit(rc);
}

START_TEST(test_fork_during_lookup)
{
	struct he_test_fx f;
	static struct he_test_res r[NFORK];
	int i, tell[2], cap = HE_POOL_PER_BASE;
	struct he_pool_stats st;
	pid_t pid;
	char c;

	he_gate_fx_begin(&f, NULL);
	he_gate_all(1);
	for (i = 0; i < NFORK; i++)
		start(f.he, &r[i], "nosuch.invalid", 80);
	wait_until(f.base, 2000, inside_at_least, &cap);
	ck_assert_int_eq(he_gate_inside(), cap);
	he_resolve_pool_stats_(&st);
	ck_assert_int_eq(st.queued, 2);
	ck_assert_int_eq(pipe(tell), 0);
	pid = he_test_fork();
	if (pid == 0) {
		close(tell[0]);
		fork_child_side(&f, r, tell[1]);
	}
	close(tell[1]);
	/* The child answers while the parent's lookups still wait. */
	ck_assert_int_eq(read(tell[0], &c, 1), 1);
	close(tell[0]);
	for (i = 0; i < NFORK; i++)
		ck_assert_int_eq(r[i].calls, 0);
	he_gate_all(0);
	wait_until(f.base, 3000, all_done, r);
	for (i = 0; i < NFORK; i++) {
		ck_assert_int_eq(r[i].calls, 1);
		ck_assert_int_eq(r[i].error, EHOSTUNREACH);
		ck_assert_int_eq(r[i].dns_error, EVUTIL_EAI_NONAME);
	}
	he_test_child_ok(pid, "the child of the fork (fork_child_side's "
	    "codes)");
	he_gate_fx_end(&f);
}
END_TEST

/* ---- what never reaches the resolver ------------------------------------ */

/* An IPv6 literal with an empty or unknown zone is EINVAL at once, like
   "[fe80::1%]"; nothing is looked up. */
START_TEST(test_bad_zone_literals)
{
	static const char *const bad[] = {
		"fe80::1%nosuchif0", "fe80::1%", "[fe80::1%]",
		"[fe80::1%nosuchif0]"
	};
	struct he_test_fx f;
	struct he_test_res r;
	unsigned i;

	he_gate_fx_begin(&f, NULL);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		ck_assert_msg(evhappy_resolve_and_connect(f.he, AF_UNSPEC,
		    bad[i], 80, he_test_conn_cb, &r) == NULL, "%s started", bad[i]);
		ck_assert_msg(errno == EINVAL, "%s: errno %d", bad[i], errno);
	}
	he_test_run_until(f.base, 50, NULL);
	ck_assert_int_eq(he_gate_calls(), 0);
	he_gate_fx_end(&f);
}
END_TEST

/* A DNS_QUERY trace callback that cancels its race: that query and the
   other family's are never started. */
START_TEST(test_trace_cancel_stops_query)
{
	struct he_test_fx f;
	struct he_test_res r;
	struct trace_rec t;

	he_gate_fx_begin(&f, NULL);
	memset(&t, 0, sizeof(t));
	evhappy_set_trace_cb(f.he, trace_cb, &t);
	t.cancel = start(f.he, &r, "nosuch.invalid", 80);
	he_test_run_until(f.base, 200, NULL);
	ck_assert_int_eq(t.queries, 1);
	ck_assert_int_eq(he_gate_calls(), 0);
	ck_assert_int_eq(r.calls, 0);
	he_gate_fx_end(&f);
}
END_TEST

Suite *
he_test_suite(void)
{
	const struct he_test_def tests[] = {
		HE_TCASE("pool", 120),
		HE_TEST(test_pool_bounded),
		HE_TEST(test_cancel_queued),
		HE_TEST(test_free_in_answer),
		HE_TCASE("fair", 60),
		HE_TEST(test_hanging_base_spares_others),
		HE_TEST(test_base_share),
		HE_TEST(test_pool_max_threads),
		HE_TCASE("order", 60),
		HE_TEST(test_aaaa_before_a),
		HE_TEST(test_a_not_held_by_aaaa),
		HE_TCASE("errors", 60),
		HE_TEST(test_wake_fd_emfile),
		HE_TEST(test_one_family_fails),
		HE_TEST(test_no_threads_eagain),
		HE_TCASE("fork", 60),
		HE_TEST(test_fork_during_lookup),
		HE_TCASE("never", 60),
		HE_TEST(test_bad_zone_literals),
		HE_TEST(test_trace_cancel_stops_query),
	};

	return he_test_suite_of("sysres", tests, HE_TEST_N(tests));
}
