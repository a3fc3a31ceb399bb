/*
 * The system resolver (evhappy_new(base, NULL)) under N concurrent races:
 * how many threads and fds it holds at the peak, sampled every millisecond
 * from another thread, and that everything is given back.
 *
 *   bench_resolver N [LOOKUP_MS]
 *
 * Names go through the resolver's test hook, a stand-in for getaddrinfo()
 * that takes LOOKUP_MS (default 20, as a nearby caching resolver would)
 * and knows every name: A is 127.0.0.1, where a child process accepts;
 * AAAA has no address.  So the numbers are the resolver's own, not those
 * of /etc/hosts or the network.  One line of key=value pairs.
 */
#include "he_event.h"
#include "he_resolve.h"
#include "bench_util.h"

#include <event2/event.h>

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int lookup_ms = 20;

static int
slow_hosts(const char *node, const char *service,
    const struct evutil_addrinfo *hints, struct evutil_addrinfo **res)
{
	struct addrinfo h;
	struct timespec ts = { lookup_ms / 1000, (lookup_ms % 1000) * 1000000L };

	(void)node;
	nanosleep(&ts, NULL);
	if (hints->ai_family == AF_INET6)
		return EAI_NONAME;
	memset(&h, 0, sizeof(h));
	h.ai_family = AF_INET;
	h.ai_socktype = SOCK_STREAM;
	h.ai_flags = AI_NUMERICHOST;
	/* getaddrinfo's own allocation: the resolver frees it with
	 * freeaddrinfo() */
	return getaddrinfo("127.0.0.1", service, &h, (struct addrinfo **)res);
}

struct sampler {
	pthread_t tid;
	volatile int stop;
	long peak_threads;
	int peak_fds;
};

static void *
sample(void *arg)
{
	struct sampler *s = arg;
	struct timespec ms = { 0, 1000000L };
	long t;
	int f;

	while (!s->stop) {
		t = bench_threads();
		f = bench_fds();
		if (t > s->peak_threads)
			s->peak_threads = t;
		if (f > s->peak_fds)
			s->peak_fds = f;
		nanosleep(&ms, NULL);
	}
	return NULL;
}

struct run {
	struct event_base *base;
	int left, connected, failed;
};

static void
race_cb(evutil_socket_t fd, const struct evhappy_report *report, void *arg)
{
	struct run *r = arg;

	(void)report;
	if (fd >= 0) {
		evutil_closesocket(fd);
		r->connected++;
	} else {
		r->failed++;
	}
	if (--r->left == 0)
		event_base_loopbreak(r->base);
}

int
main(int argc, char **argv)
{
	struct sampler s;
	struct he_pool_stats pool;
	struct evhappy *he;
	struct run r;
	char name[64];
	int n, i, ports[BENCH_MAX_PORTS], nports, fds0, started = 0;
	long threads0;
	int64_t t0, c0;

	if (argc < 2 || (n = atoi(argv[1])) < 1) {
		fprintf(stderr, "usage: bench_resolver N [LOOKUP_MS]\n");
		return 2;
	}
	if (argc > 2)
		lookup_ms = atoi(argv[2]);
	bench_raise_nofile();
	nports = bench_ports_for(n);
	if (bench_listener_start("127.0.0.1", nports, ports) < 0)
		ports[0] = -1;
	memset(&r, 0, sizeof(r));
	r.base = event_base_new();
	he = r.base ? evhappy_new(r.base, NULL) : NULL;
	if (ports[0] <= 0 || !he) {
		fprintf(stderr, "bench_resolver: set-up failed\n");
		return 1;
	}
	he_resolve_set_gai_hook_(slow_hosts);
	memset(&s, 0, sizeof(s));
	/* the process's network watch (one netlink socket, made by the
	   first race that uses the history, kept for the process) is not
	   a race's: it exists before the count, as in the tests */
	(void)evhappy_history_network(NULL, NULL, 0);
	fds0 = bench_fds();
	threads0 = bench_threads();
	if (pthread_create(&s.tid, NULL, sample, &s) != 0)
		return 1;
	c0 = bench_cpu_us();
	t0 = bench_now_us();
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "host%d.bench.test", i);
		if (evhappy_resolve_and_connect(he, AF_UNSPEC, name,
		    ports[i % nports],
		    race_cb, &r))
			started++;
	}
	r.left = started;
	if (started)
		event_base_dispatch(r.base);
	t0 = bench_now_us() - t0;
	c0 = bench_cpu_us() - c0;
	s.stop = 1;
	pthread_join(s.tid, NULL);
	/* What is left once the context is gone: no fd (its mailbox's wake-up
	 * fd goes with it) and no thread but the pool's idle workers, which
	 * the process keeps for the next lookups until they have been idle
	 * HE_POOL_IDLE_S seconds. */
	evhappy_free(he);
	for (i = 0; i < 200; i++) {
		he_resolve_pool_stats_(&pool);
		if (bench_threads() - threads0 <= pool.idle &&
		    pool.threads == pool.idle)
			break;
		usleep(5000);
	}
	he_resolve_pool_stats_(&pool);
	printf("n=%d lookup_ms=%d started=%d connected=%d failed=%d "
	    "peak_threads=%ld peak_fds=%d base_threads=%ld base_fds=%d "
	    "threads_left=%ld pool_idle=%d fds_left=%d wall_ms=%.1f "
	    "cpu_us=%.1f\n",
	    n, lookup_ms, started, r.connected, r.failed,
	    s.peak_threads - 1, s.peak_fds, threads0, fds0,
	    bench_threads() - threads0 - pool.idle, pool.idle,
	    bench_fds() - fds0, t0 / 1e3, (double)c0 / n);
	event_base_free(r.base);
	bench_listener_stop();
	return 0;
}
