/*
 * A stand-in for getaddrinfo() on the system resolver's workers, for
 * he_resolve_set_gai_hook_(), that can hold lookups at a gate, so that a
 * test decides how many lookups are running or queued; and a thread with
 * an event_base of its own whose races' names hang (another thread's
 * base).  Used by the tests and the benchmarks; never the network.
 *
 * Names:
 *   slow.test   the loopback address of the family asked (::1, 127.0.0.1)
 *   v4.*        A 127.0.0.1; no AAAA (EAI_NONAME)
 *   hang.*      waits while the hang gate is closed, then EAI_NONAME
 *   hang6.*     AAAA as hang.*; A 127.0.0.1 at once
 *   order.N.*   EAI_NONAME; records the order in which race N's AAAA and
 *               A lookups reached the hook (N < HE_GATE_NORDER)
 *   any other   EAI_NONAME
 * Every lookup also waits while the gate for all names is closed.
 */
#ifndef EVHAPPY_HE_GATE_H_INCLUDED_
#define EVHAPPY_HE_GATE_H_INCLUDED_

#include <pthread.h>
#include <event2/util.h>

/** The hook. */
int he_gate_gai(const char *node, const char *service,
    const struct evutil_addrinfo *hints, struct evutil_addrinfo **res);

/** Open both gates, zero the counts and the order, and install the hook. */
void he_gate_reset(void);
/** Close (1) or open (0) the gate for every name / for "hang.*". */
void he_gate_all(int closed);
void he_gate_hang(int closed);
/** Lookups inside the hook now; of them, of "hang.*"; calls so far. */
int he_gate_inside(void);
int he_gate_hanging(void);
int he_gate_calls(void);

/** A Check test's fixture for races on the system resolver
    (tests/he_gatefx.c, not in the benchmarks): he_test_fx_begin(), then
    he_gate_reset(); with addr, a listener accepting there that the fixture
    closes.  Its port, else 0.  he_gate_fx_end() removes the hook, then
    he_test_fx_end(). */
struct he_test_fx;
int he_gate_fx_begin(struct he_test_fx *f, const char *addr);
void he_gate_fx_end(struct he_test_fx *f);

/** Wait (sleeping, up to 2 s) until every worker of the pool is idle and
    nothing is queued: a cancelled lookup's worker holds its base's wake-up
    fd until it is done.  1 when it is, else 0. */
int he_gate_pool_quiet(void);

/** For race N (< HE_GATE_NORDER) of "order.N.*": the rank of its AAAA and
    of its A lookup among the calls since he_gate_reset() (1, 2, ...), 0
    for none yet. */
#define HE_GATE_NORDER 400
int he_gate_order(int n, int family);

/** A thread with its own event_base and context (no evdns_base) that
    starts n races (at most HE_GATE_SIDE_MAX) to "hang.I.test" port 80 and
    runs its loop until every one has called back or timeout_ms passed. */
#define HE_GATE_SIDE_MAX 40
struct he_gate_side {
	pthread_t tid;
	int n;
	int timeout_ms;
	int calls;		/* callbacks (the thread's until joined) */
	int done;		/* every race called back once */
};
/** 0, or the errno of pthread_create. */
int he_gate_side_start(struct he_gate_side *s, int n, int timeout_ms);
void he_gate_side_join(struct he_gate_side *s);

#endif
