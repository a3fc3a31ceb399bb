/*
 * The system resolver's pool shared by threads: how long a lookup takes on
 * thread B's event_base while thread A's base has names that never answer.
 *
 *   bench_resolver_fair [HANGING_NAMES [LOOKUPS]]
 *
 * Names go through the tests' lookup hook (tests/he_gate.h): "hang.*"
 * waits until the end of the run (a name whose DNS never answers, as
 * getaddrinfo() does until resolv.conf's timeouts run out), "v4.*"
 * answers at once (A 127.0.0.1, no AAAA), so the numbers are the pool's
 * own.  Thread B runs LOOKUPS races (default 50) one after another,
 * AF_UNSPEC, and times each from the start call to the loop turn that
 * brings its second DNS answer (the trace callback); first with nothing
 * hanging, then while thread A (he_gate_side) has HANGING_NAMES races
 * (default 8: 16 lookups) waiting in the hook.
 * B's races time out after 2 s, so a pool that makes B wait for A's names
 * shows as 2,000,000 us.  One line of key=value pairs: the medians, in us.
 */
#include "he_event.h"
#include "he_resolve.h"
#include "bench_util.h"
#include "he_gate.h"
#include "he_lab.h"

#include <event2/event.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_LOOKUPS 1000

/* ---- thread B: timed lookups ------------------------------------------- */

struct timed {
	struct event_base *base;
	int64_t t0, took;
	int answers, ended;
};

static void
trace_cb(const struct evhappy_trace *ev, void *arg)
{
	struct timed *t = arg;

	if (ev->kind == EVHAPPY_TRACE_DNS_ANSWER && ++t->answers == 2)
		t->took = bench_now_us() - t->t0;
}

static int
cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* The median of n lookups' times, in us (a race that timed out counts
   as 2 s). */
static int64_t
lookups(struct event_base *base, struct evhappy *he, int port, int n,
    const char *tag)
{
	static int64_t took[MAX_LOOKUPS];
	struct timed t;
	char name[64];
	int i;

	evhappy_set_trace_cb(he, trace_cb, &t);
	for (i = 0; i < n; i++) {
		memset(&t, 0, sizeof(t));
		t.base = base;
		snprintf(name, sizeof(name), "v4.b%d.%s.bench.test", i, tag);
		t.t0 = bench_now_us();
		t.took = 2000000;
		if (!evhappy_resolve_and_connect(he, AF_UNSPEC, name, port,
		    he_lab_close_cb, &t.ended))
			return -1;
		while (!t.ended)
			event_base_loop(base, EVLOOP_ONCE);
		took[i] = t.took;
		if (t.took >= 2000000)	/* the pool is held: the rest too */
			while (++i < n)
				took[i] = t.took;
	}
	qsort(took, (size_t)n, sizeof(took[0]), cmp64);
	return took[n / 2];
}

int
main(int argc, char **argv)
{
	struct event_base *base;
	struct evhappy *he;
	struct he_gate_side side;
	struct timeval tv = { 2, 0 };
	int port, nhang = 8, n = 50, inside, i;
	int64_t idle_us, hang_us;

	if (argc > 1)
		nhang = atoi(argv[1]);
	if (argc > 2)
		n = atoi(argv[2]);
	if (nhang < 0 || nhang > HE_GATE_SIDE_MAX || n < 1 ||
	    n > MAX_LOOKUPS) {
		fprintf(stderr, "usage: bench_resolver_fair "
		    "[HANGING_NAMES [LOOKUPS]]\n");
		return 2;
	}
	if (bench_listener_start("127.0.0.1", 1, &port) < 0)
		return 1;
	he_gate_reset();
	he_gate_hang(1);
	base = event_base_new();
	he = base ? evhappy_new(base, NULL) : NULL;
	if (!he || evhappy_set_timeout(he, &tv) < 0) {
		fprintf(stderr, "bench_resolver_fair: set-up failed\n");
		return 1;
	}
	/* a first round starts the workers B's lookups use */
	lookups(base, he, port, 5, "warm");
	idle_us = lookups(base, he, port, n, "idle");

	if (he_gate_side_start(&side, nhang, 60000) != 0)
		return 1;
	/* A's lookups have taken what the pool gives them */
	for (i = 0; i < 200 && he_gate_hanging() < 2 * nhang &&
	    he_gate_hanging() < HE_POOL_PER_BASE; i++)
		usleep(5000);
	usleep(20000);
	inside = he_gate_hanging();
	hang_us = lookups(base, he, port, n, "hang");

	he_gate_hang(0);
	he_gate_side_join(&side);
	printf("hanging_names=%d hanging_lookups=%d lookups=%d idle_us=%lld "
	    "hang_us=%lld side_ok=%d\n", nhang, inside, n,
	    (long long)idle_us, (long long)hang_us, side.done);
	evhappy_free(he);
	event_base_free(base);
	bench_listener_stop();
	return idle_us < 0 || hang_us < 0 || !side.done;
}
