/* The gated lookup hook and the hanging side thread; see he_gate.h. */
#include "he_gate.h"
#include "he_event.h"
#include "he_resolve.h"
#include "he_lab.h"
#include "he_time.h"

#include <event2/event.h>

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int all_closed, hang_closed;
static int inside, hanging, calls;
static int order_seq;
static int order_v6[HE_GATE_NORDER], order_v4[HE_GATE_NORDER];

static void
order_note(const char *node, int family)
{
	/* first of all: the order of the calls */
	int seq = __atomic_add_fetch(&order_seq, 1, __ATOMIC_SEQ_CST);
	int n = atoi(node + 6);

	if (n >= 0 && n < HE_GATE_NORDER)
		__atomic_store_n(family == AF_INET6 ? &order_v6[n] :
		    &order_v4[n], seq, __ATOMIC_SEQ_CST);
}

int
he_gate_gai(const char *node, const char *service,
    const struct evutil_addrinfo *hints, struct evutil_addrinfo **res)
{
	int hang = strncmp(node, "hang.", 5) == 0 ||
	    (strncmp(node, "hang6.", 6) == 0 && hints->ai_family == AF_INET6);

	if (strncmp(node, "order.", 6) == 0)
		order_note(node, hints->ai_family);
	pthread_mutex_lock(&gate_lock);
	calls++;
	inside++;
	hanging += hang;
	while (all_closed || (hang && hang_closed))
		pthread_cond_wait(&gate_cond, &gate_lock);
	inside--;
	hanging -= hang;
	pthread_mutex_unlock(&gate_lock);
	if (strcmp(node, "slow.test") == 0)
		return he_lab_gai_numeric(hints->ai_family == AF_INET6 ?
		    "::1" : "127.0.0.1", service, hints, res);
	if ((strncmp(node, "v4.", 3) == 0 || strncmp(node, "hang6.", 6) == 0) &&
	    hints->ai_family == AF_INET)
		return he_lab_gai_numeric("127.0.0.1", service, hints, res);
	return EAI_NONAME;
}

void
he_gate_reset(void)
{
	int i;

	pthread_mutex_lock(&gate_lock);
	all_closed = hang_closed = 0;
	inside = hanging = calls = 0;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
	__atomic_store_n(&order_seq, 0, __ATOMIC_SEQ_CST);
	for (i = 0; i < HE_GATE_NORDER; i++) {
		__atomic_store_n(&order_v6[i], 0, __ATOMIC_SEQ_CST);
		__atomic_store_n(&order_v4[i], 0, __ATOMIC_SEQ_CST);
	}
	he_resolve_set_gai_hook_(he_gate_gai);
}

static void
gate_set(int *which, int closed)
{
	pthread_mutex_lock(&gate_lock);
	*which = closed;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
}

void
he_gate_all(int closed)
{
	gate_set(&all_closed, closed);
}

void
he_gate_hang(int closed)
{
	gate_set(&hang_closed, closed);
}

static int
gate_get(const int *which)
{
	int n;

	pthread_mutex_lock(&gate_lock);
	n = *which;
	pthread_mutex_unlock(&gate_lock);
	return n;
}

int
he_gate_inside(void)
{
	return gate_get(&inside);
}

int
he_gate_hanging(void)
{
	return gate_get(&hanging);
}

int
he_gate_calls(void)
{
	return gate_get(&calls);
}

int
he_gate_order(int n, int family)
{
	if (n < 0 || n >= HE_GATE_NORDER)
		return 0;
	return __atomic_load_n(family == AF_INET6 ? &order_v6[n] :
	    &order_v4[n], __ATOMIC_SEQ_CST);
}

int
he_gate_pool_quiet(void)
{
	struct timespec ms5 = { 0, 5000000L };
	struct he_pool_stats st;
	int i;

	for (i = 0; i < 400; i++) {
		he_resolve_pool_stats_(&st);
		if (st.threads == st.idle && st.queued == 0)
			return 1;
		nanosleep(&ms5, NULL);
	}
	return 0;
}

/* ---- the side thread ---------------------------------------------------- */

static int64_t
now_ms(void)
{
	return he_now_() / HE_USEC_PER_MS;
}

static void *
side_main(void *arg)
{
	struct he_gate_side *s = arg;
	struct event_base *base = event_base_new();
	struct evhappy *he = base ? evhappy_new(base, NULL) : NULL;
	struct timeval tick = { 0, 20000 };
	int64_t end = now_ms() + s->timeout_ms;
	char name[64];
	int i, started = 0;

	for (i = 0; he && i < s->n; i++) {
		snprintf(name, sizeof(name), "hang.%d.test", i);
		started += evhappy_resolve_and_connect(he, AF_UNSPEC, name,
		    80, he_lab_close_cb, &s->calls) != NULL;
	}
	/* until the names are let go and every race has failed */
	while (he && s->calls < started && now_ms() < end) {
		event_base_loopexit(base, &tick);
		event_base_dispatch(base);
	}
	s->done = he && started == s->n && s->calls == s->n;
	evhappy_free(he);
	if (base)
		event_base_free(base);
	return NULL;
}

int
he_gate_side_start(struct he_gate_side *s, int n, int timeout_ms)
{
	memset(s, 0, sizeof(*s));
	s->n = n < HE_GATE_SIDE_MAX ? n : HE_GATE_SIDE_MAX;
	s->timeout_ms = timeout_ms;
	return pthread_create(&s->tid, NULL, side_main, s);
}

void
he_gate_side_join(struct he_gate_side *s)
{
	pthread_join(s->tid, NULL);
}
