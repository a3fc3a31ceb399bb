/*
 * The soak: many races over random loopback scenarios in one process, many
 * at a time, and at the end every fd and every byte of heap back as at the
 * start.  Each race must end in exactly one callback, unless it was
 * cancelled or freed first (then none).
 *
 * Scenarios: open port, refused port, black hole (runs into a short
 * timeout), cancel, evhappy_free of the race's context, bufferevent races
 * (connected, refused) and bufferevent_free during the race, NXDOMAIN
 * through evdns (the lab's server in a child process, he_labproc.c), names
 * through evdns, and the system resolver (dns_base NULL; numeric lookups
 * through the test hook, slow ones too).
 *
 * HE_SOAK_CONCURRENT (races at a time, default 64), HE_SOAK_RACES (default 2000, under valgrind 400; `make soak`: 100000), HE_SOAK_SEED (default:
 * the time, printed), HE_SOAK_SECONDS (a bound on the whole run: default
 * 120, or 1 s for every 100 races beyond that).  The heap is measured twice:
 * what the library and the test hold, through the wrapped allocator
 * (he_fault_heap_bytes(), exact everywhere), and everything, libevent's
 * too, with mallinfo2() and glibc's thread caches off (the program
 * re-executes itself with GLIBC_TUNABLES for that), judged when no thread
 * was made during the soak (a new peak of threads leaves glibc's TLS cached).
 */
#include "he_event.h"
#include "he_context.h"
#include "he_lab.h"
#include "he_testutil.h"
#include "he_labproc.h"
#include "he_fault.h"

#include <check.h>
#include <errno.h>
#include <malloc.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>

enum kind {
	K_OPEN, K_REFUSED, K_BLACKHOLE, K_CANCEL, K_FREE, K_BEV_OPEN,
	K_BEV_REFUSED, K_BEV_FREE, K_NXDOMAIN, K_EVDNS, K_SYSTEM,
	K_SYSTEM_SLOW, K_NKINDS
};
static const char *const kind_names[K_NKINDS] = {
	"open", "refused", "blackhole", "cancel", "free", "bev-open",
	"bev-refused", "bev-free", "nxdomain", "evdns", "system",
	"system-slow"
};

static long concurrent = 64;	/* HE_SOAK_CONCURRENT */

/* One race's record: what a user would check. */
struct race {
	enum kind kind;
	int calls;
	int stopped;		/* cancelled or freed before any callback */
	int error;
	struct evhappy_request *req;
	struct evhappy *own;	/* K_FREE: the race's own context */
	struct bufferevent *bev;
	struct event *stop_ev;
	struct soak *soak;
	struct race *next;	/* in soak.ended */
	int ended;
};

struct soak {
	struct event_base *base;
	struct evdns_base *dns;
	struct evhappy *he, *he_sys;
	struct event *accept_ev;
	int open_port, refused_port, bh_port;
	evutil_socket_t open_fd, refused_fd;
	struct he_lab_blackhole *bh;
	unsigned seed;
	long total, started, finished, live;
	long bad;		/* races that broke the rule */
	long by_kind[K_NKINDS];
	char first_bad[200];
	struct race *ended;	/* records of ended races */
};

static void
bad(struct soak *k, const struct race *r, const char *what)
{
	if (!k->bad++)
		snprintf(k->first_bad, sizeof(k->first_bad), "%s race: %s",
		    kind_names[r->kind], what);
}

static void start_next(struct soak *k);

/* A race ended (callback) or was stopped.  Its record stays until every
 * context is gone, so that a late second callback is seen. */
static void
race_end(struct race *r)
{
	struct soak *k = r->soak;

	if (r->ended++) {
		bad(k, r, "ended twice");
		return;
	}
	if (r->stop_ev)
		event_free(r->stop_ev);
	r->stop_ev = NULL;
	if (r->bev)
		bufferevent_free(r->bev);
	r->bev = NULL;
	if (r->own)
		evhappy_free(r->own);
	r->own = NULL;
	r->next = k->ended;
	k->ended = r;
	k->finished++;
	k->live--;
}

/* After the contexts are freed no callback can come: check and free. */
static void
graveyard_free(struct soak *k)
{
	struct race *r;

	while ((r = k->ended) != NULL) {
		k->ended = r->next;
		if (r->calls > 1)
			bad(k, r, "more than one callback");
		free(r);
	}
}

static void
connect_cb(evutil_socket_t fd, const struct evhappy_report *report, void *arg)
{
	struct race *r = arg;

	if (r->calls++ || r->stopped)
		bad(r->soak, r, "a callback after the end");
	r->error = evhappy_report_error(report);
	if (fd >= 0)
		evutil_closesocket(fd);
	if ((fd >= 0) != (r->error == 0))
		bad(r->soak, r, "a socket and an error disagree");
	r->req = NULL;
	if (!r->ended)
		race_end(r);
}

static void
bev_cb(struct bufferevent *bev, short what, void *arg)
{
	struct race *r = arg;

	if (!(what & (BEV_EVENT_CONNECTED | BEV_EVENT_ERROR)))
		return;
	if (r->calls++ || r->stopped)
		bad(r->soak, r, "a second bufferevent event");
	if (!r->ended)
		race_end(r);
}

static void
stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct race *r = arg;

	r->stopped = 1;
	he_labproc_stop(r->kind == K_CANCEL ? HE_STOP_CANCEL :
	    r->kind == K_FREE ? HE_STOP_FREE_CTX : r->kind == K_BEV_FREE ?
	    HE_STOP_FREE_BEV : HE_STOP_NONE, &r->req, &r->own, &r->bev);
	race_end(r);
}

static struct evutil_addrinfo *
one(int port)
{
	return he_test_ai("127.0.0.1", port);
}

/* Start a race of kind; 0, or -1 when the start was refused. */
static int
race_start(struct soak *k, struct race *r)
{
	struct evutil_addrinfo *l = NULL;
	struct evhappy *he = k->he;
	int port = k->open_port, rc = -1;

	switch (r->kind) {
	case K_OPEN: case K_CANCEL: case K_BEV_OPEN:
		l = one(k->open_port);
		break;
	case K_REFUSED: case K_BEV_REFUSED:
		l = one(k->refused_port);
		break;
	case K_BLACKHOLE: case K_BEV_FREE:
		l = one(k->bh_port);
		break;
	case K_FREE:
		if (!(r->own = evhappy_new(k->base, NULL)))
			return -1;
		l = he_addrinfo_concat_(one(k->bh_port), one(k->open_port));
		he = r->own;
		break;
	default:
		break;
	}
	if (r->kind == K_BEV_OPEN || r->kind == K_BEV_REFUSED ||
	    r->kind == K_BEV_FREE) {
		r->bev = bufferevent_socket_new(k->base, -1,
		    BEV_OPT_CLOSE_ON_FREE);
		if (r->bev) {
			bufferevent_setcb(r->bev, NULL, NULL, bev_cb, r);
			rc = evhappy_connect_addrinfo(he, r->bev, l);
		}
	} else if (l) {
		r->req = evhappy_start_connection(he, l, connect_cb, r);
		rc = r->req ? 0 : -1;
	} else {
		const char *host = r->kind == K_NXDOMAIN ? "nx.test" :
		    r->kind == K_EVDNS ? "both.test" :
		    r->kind == K_SYSTEM ? "sys.test" : "slow.sys";
		if (r->kind == K_SYSTEM || r->kind == K_SYSTEM_SLOW)
			he = k->he_sys;
		r->req = evhappy_resolve_and_connect(he, AF_UNSPEC, host, port,
		    connect_cb, r);
		rc = r->req ? 0 : -1;
	}
	evhappy_addrinfo_free(l);
	return rc;
}

static void
start_next(struct soak *k)
{
	struct race *r = calloc(1, sizeof(*r));
	struct timeval tv;

	if (!r) {
		k->bad++;
		return;
	}
	r->soak = k;
	r->kind = (enum kind)(rand_r(&k->seed) % K_NKINDS);
	k->started++;
	k->live++;
	k->by_kind[r->kind]++;
	if (r->kind == K_CANCEL || r->kind == K_FREE || r->kind == K_BEV_FREE) {
		r->stop_ev = evtimer_new(k->base, stop_cb, r);
		he_test_tv(&tv, (int)(rand_r(&k->seed) % 15));
		evtimer_add(r->stop_ev, &tv);
	}
	if (race_start(k, r) < 0) {
		bad(k, r, strerror(errno));
		race_end(r);
	}
}

/* The open port accepts and closes, so that its queue never fills. */
static void
accept_cb(evutil_socket_t fd, short what, void *arg)
{
	evutil_socket_t c;

	while ((c = accept(fd, NULL, NULL)) >= 0)
		close(c);
}

static void
soak_begin(struct soak *k)
{
	struct timeval tv;

	k->base = event_base_new();
	ck_assert_ptr_nonnull(k->base);
	k->dns = he_labproc_dns_client(k->base);
	ck_assert_ptr_nonnull(k->dns);
	k->he = evhappy_new(k->base, k->dns);
	k->he_sys = evhappy_new(k->base, NULL);
	ck_assert_ptr_nonnull(k->he);
	ck_assert_ptr_nonnull(k->he_sys);
	he_test_tv(&tv, 100);
	ck_assert_int_eq(evhappy_set_timeout(k->he, &tv), 0);
	ck_assert_int_eq(evhappy_set_timeout(k->he_sys, &tv), 0);
	k->open_fd = he_test_listen("127.0.0.1", &k->open_port);
	k->refused_fd = he_test_refuser("127.0.0.1", &k->refused_port);
	k->bh = he_test_blackhole("127.0.0.1", &k->bh_port);
	k->accept_ev = event_new(k->base, k->open_fd, EV_READ | EV_PERSIST,
	    accept_cb, NULL);
	ck_assert_ptr_nonnull(k->accept_ev);
	event_add(k->accept_ev, NULL);
}

static void
soak_end(struct soak *k)
{
	evhappy_free(k->he);
	evhappy_free(k->he_sys);
	event_free(k->accept_ev);
	evdns_base_free(k->dns, 0);
	event_base_free(k->base);
	graveyard_free(k);
	close(k->open_fd);
	close(k->refused_fd);
	he_lab_blackhole_free(k->bh);
}

/* Run `total` races, `concurrent` at a time, for at most seconds. */
static void
soak_run(struct soak *k, long total, int seconds)
{
	int64_t end = he_test_now_ms() + (int64_t)seconds * 1000;

	k->total = total;
	soak_begin(k);
	while (he_test_now_ms() < end) {
		while (k->started < k->total && k->live < concurrent)
			start_next(k);
		if (k->live == 0)
			break;
		he_test_run_until(k->base, 50, NULL);
	}
	soak_end(k);
}

static long
env_long(const char *name, long dflt)
{
	const char *v = getenv(name);

	return v && *v ? strtol(v, NULL, 10) : dflt;
}

static void
pool_settle(void)
{
	struct he_pool_stats st;
	int i;

	for (i = 0; i < 200; i++) {
		he_resolve_pool_stats_(&st);
		if (st.queued == 0 && st.idle == st.threads)
			break;
		he_test_sleep_ms(5);
	}
}

START_TEST(test_soak)
{
	struct soak warm, k;
	/* valgrind (or HE_TEST_SLOW) runs fewer by default */
	long races = env_long("HE_SOAK_RACES", 2000 / he_test_slow_factor());
	long heap0, heap1 = 0, lib0, lib1 = 0, blocks0, blocks1 = 0, threads;
	int seconds = (int)env_long("HE_SOAK_SECONDS", 120 + races / 100);
	int fds0, fds1 = 0, i;
	int64_t t0;

	concurrent = env_long("HE_SOAK_CONCURRENT", 64);
	if (concurrent < 1)
		concurrent = 1;
	he_resolve_set_gai_hook_(he_labproc_fake_gai);
	/* Lazy state (libevent's, the resolver's) is made by a first round. */
	memset(&warm, 0, sizeof(warm));
	warm.seed = 1;
	soak_run(&warm, 200 > 2 * concurrent ? 200 : 2 * concurrent, 60);
	ck_assert_msg(warm.bad == 0, "warm-up: %ld bad races, first: %s",
	    warm.bad, warm.first_bad);
	/* A cancelled slow lookup of the warm-up may still hold its event
	 * base's wake-up fd on a worker: the start is counted once the pool
	 * has nothing left to do. */
	pool_settle();

	fds0 = he_test_count_fds();
	heap0 = he_fault_heap_in_use();
	lib0 = he_fault_heap_bytes();
	blocks0 = he_fault_heap_blocks();
	he_fault_arm(HE_FAULT_THREAD, -1, 0);	/* count, never fail */
	memset(&k, 0, sizeof(k));
	k.seed = (unsigned)env_long("HE_SOAK_SEED", (long)time(NULL));
	printf("soak: %ld races, %ld at a time, seed %u (HE_SOAK_SEED), "
	    "at most %d s\n", races, concurrent, k.seed, seconds);
	t0 = he_test_now_ms();
	soak_run(&k, races, seconds);
	printf("soak: %ld started, %ld ended in %lld ms;", k.started,
	    k.finished, (long long)(he_test_now_ms() - t0));
	for (i = 0; i < K_NKINDS; i++)
		printf(" %s %ld", kind_names[i], k.by_kind[i]);
	printf("\n");
	/* The resolver's threads may still be letting go of a lookup. */
	threads = he_fault_count(HE_FAULT_THREAD);
	he_fault_disarm_all();
	for (i = 0; i < 100; i++) {
		fds1 = he_test_count_fds();
		heap1 = he_fault_heap_in_use();
		lib1 = he_fault_heap_bytes();
		blocks1 = he_fault_heap_blocks();
		if (fds1 == fds0 && heap1 <= heap0 && lib1 <= lib0 &&
		    blocks1 <= blocks0)
			break;
		he_test_sleep_ms(10);
	}
	printf("soak: fds %d -> %d; heap %ld -> %ld bytes; the library's "
	    "and test's heap %ld -> %ld bytes, %ld -> %ld blocks; %ld threads "
	    "made\n", fds0, fds1, heap0, heap1, lib0, lib1, blocks0, blocks1,
	    threads);
	fflush(stdout);
	ck_assert_msg(k.bad == 0, "%ld races broke the rules, first: %s",
	    k.bad, k.first_bad);
	ck_assert_msg(k.started == races && k.finished == races,
	    "%ld of %ld races ended within %d s", k.finished, races, seconds);
	ck_assert_int_eq(fds1, fds0);
	ck_assert_int_le(lib1, lib0);
	ck_assert_int_le(blocks1, blocks0);
	/* All of the heap, libevent's too; but a thread made during the soak
	 * may leave glibc's cached TLS behind (a new peak of threads). */
	if (threads == 0)
		ck_assert_int_le(heap1, heap0);
}
END_TEST

Suite *
he_test_suite(void)
{
	const struct he_test_def tests[] = {
		HE_TCASE("soak", 3600),
		HE_TEST(test_soak),
	};

	return he_test_suite_of("soak", tests, HE_TEST_N(tests));
}
