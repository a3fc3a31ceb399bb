/*
 * The fault walk (issue 8): every kind of race is run once clean, counting
 * the library's calls of each kind (he_fault.h), then again with the Nth
 * call failing, for N = 1, 2, ... past that count, once failing only the
 * Nth ("once") and once every call from the Nth on ("from").  Each run must
 * end in exactly one callback or a refused start (never both, never
 * neither), with the right errno, every fd closed and the heap as before.
 *
 * Isolation.  Each scenario's walk runs in a forked child (the walker),
 * which reports back through a pipe; a crash or a hang costs only the run
 * it happened in: the parent notes it and starts a new walker at the next
 * run.  The lab's DNS server is another child (he_labproc.c), so that its
 * calls are never counted.  Every run has its own event_base and context.
 *
 * Leaks: in a plain build each run compares mallinfo2()'s heap in use
 * before and after; under AddressSanitizer the walker asks LeakSanitizer
 * at its end; under valgrind (make check-valgrind) the walker's exit status
 * says so.
 *
 * Speed: in `make check` the walk takes every N up to 12, a sample of the
 * middle and the last 8 (where a race's final steps allocate);
 * HE_FAULT_FULL=1 (make soak) takes every N.  A mode stops after 3 silent
 * runs (each costs the whole bound).  Every failure is printed, one line
 * each ("FAULT scenario kind mode N: symptom"), then the test fails.
 */
#include "he_event.h"
#include "he_context.h"
#include "he_history.h"
#include "he_nat64_cache.h"
#include "he_lab.h"
#include "he_testutil.h"
#include "he_fault.h"
#include "he_labproc.h"

#include <check.h>
#include <errno.h>
#include <malloc.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>

#if defined(__SANITIZE_ADDRESS__)
#define HE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HE_ASAN 1
#endif
#endif
#ifdef HE_ASAN
#include <sanitizer/lsan_interface.h>
#endif

/* ---- scenarios ----------------------------------------------------------- */

enum api { CB_LIST, CB_NAME, BEV_LIST, BEV_NAME, DROPIN };
enum resolver { RES_NONE, RES_EVDNS, RES_SYSTEM };
enum target { T_END, T_OPEN, T_REFUSED, T_REFUSED2, T_BLACKHOLE };
/* NAT64 (he_synth.c): the route probe says "no IPv4 route"; the prefix is
   the caller's, or discovered (RFC 7050 from the lab's server or the
   resolver hook, the PREF64 listener opened); attempts go through a
   factory that refuses them (the synthesized address leads nowhere
   here), so a clean run ends with ECONNREFUSED. */
enum nat64 { N64_NONE, N64_FIXED, N64_AUTO };

#define MAXT 3

struct scn {
	const char *name;
	enum api api;
	enum resolver res;
	const char *host;		/* name races */
	enum target list[MAXT];		/* list races */
	int bind_local;
	enum he_stop act;
	int timeout_ms;			/* the race's; 0: 150 */
	int error;			/* the outcome of a clean run */
	int dns_error;
	enum nat64 nat64;		/* an IPv6-only host */
};

/* A race of each kind (a list, a name through evdns, a name through the
   system resolver) stopped as `how` before its end. */
#define STOPPED(prefix, how)						\
	{ prefix "-list", CB_LIST, .list = { T_BLACKHOLE, T_OPEN },	\
	    .act = (how) },						\
	{ prefix "-evdns", CB_NAME, .res = RES_EVDNS, .host = "slow.test", \
	    .act = (how) },						\
	{ prefix "-system", CB_NAME, .res = RES_SYSTEM, .host = "slow.sys", \
	    .act = (how) }
/* A name race on an IPv6-only host: its clean run ends refused (see enum
   nat64). */
#define NAT64(name, api, resolver, host_, how)				\
	{ name, api, .res = (resolver), .host = (host_),		\
	    .error = ECONNREFUSED, .nat64 = (how) }

static const struct scn scns[] = {
	{ "list-open", CB_LIST, .list = { T_OPEN } },
	{ "list-refused", CB_LIST, .list = { T_REFUSED, T_REFUSED2 },
	    .error = ECONNREFUSED },
	{ "list-blackhole-open", CB_LIST, .list = { T_BLACKHOLE, T_OPEN } },
	{ "list-blackhole", CB_LIST, .list = { T_BLACKHOLE }, .timeout_ms = 60,
	    .error = ETIMEDOUT },
	{ "list-bind", CB_LIST, .list = { T_REFUSED, T_OPEN },
	    .bind_local = 1 },
	{ "evdns-both", CB_NAME, .res = RES_EVDNS, .host = "both.test" },
	{ "evdns-nxdomain", CB_NAME, .res = RES_EVDNS, .host = "nx.test",
	    .error = EHOSTUNREACH, .dns_error = EVUTIL_EAI_NONAME },
	{ "system", CB_NAME, .res = RES_SYSTEM, .host = "sys.test" },
	{ "system-nx", CB_NAME, .res = RES_SYSTEM, .host = "nx.sys",
	    .error = EHOSTUNREACH, .dns_error = EVUTIL_EAI_NONAME },
	{ "bev-hostname", BEV_NAME, .res = RES_EVDNS, .host = "both.test" },
	{ "bev-addrinfo", BEV_LIST, .list = { T_REFUSED, T_OPEN } },
	{ "dropin-evdns", DROPIN, .res = RES_EVDNS, .host = "both.test" },
	{ "dropin-system", DROPIN, .res = RES_SYSTEM, .host = "sys.test" },
	STOPPED("cancel", HE_STOP_CANCEL),
	STOPPED("free", HE_STOP_FREE_CTX),
	{ "bevfree-addrinfo", BEV_LIST, .list = { T_BLACKHOLE, T_OPEN },
	    .act = HE_STOP_FREE_BEV },
	{ "bevfree-dropin", DROPIN, .res = RES_EVDNS, .host = "slow.test",
	    .act = HE_STOP_FREE_BEV },
	NAT64("nat64-literal", CB_NAME, RES_EVDNS, "192.0.2.10", N64_FIXED),
	NAT64("nat64-evdns", CB_NAME, RES_EVDNS, "v4only.test", N64_AUTO),
	NAT64("nat64-system", CB_NAME, RES_SYSTEM, "v4only.sys", N64_AUTO),
	NAT64("nat64-bev", BEV_NAME, RES_EVDNS, "192.0.2.10", N64_AUTO),
	{ "nat64-cancel", CB_NAME, .res = RES_EVDNS, .host = "192.0.2.10",
	    .act = HE_STOP_CANCEL, .nat64 = N64_AUTO },
	{ "nat64-free", CB_NAME, .res = RES_SYSTEM, .host = "v4only.sys",
	    .act = HE_STOP_FREE_CTX, .nat64 = N64_AUTO },
};
#undef STOPPED
#undef NAT64
#define NSCNS ((int)(sizeof(scns) / sizeof(scns[0])))

static int
timeout_of(const struct scn *s)
{
	return s->timeout_ms ? s->timeout_ms : 150;
}

#define ACTION_MS 5	/* cancel or free this long after the start */
#define TAIL_MS 20	/* then run the loop this long */
#define MAX_SILENT 3	/* silent runs before a mode's walk stops */

/* ---- the lab of one walker ------------------------------------------------ */

struct world {
	int open_port, refused_port, refused2_port, bh_port;
	evutil_socket_t open_fd, refused_fd, refused2_fd;
	struct he_lab_blackhole *bh;
};

static struct world W;

static void
world_begin(void)
{
	W.open_fd = he_lab_listen("127.0.0.1", &W.open_port);
	W.refused_fd = he_lab_refuser("127.0.0.1", &W.refused_port);
	W.refused2_fd = he_lab_refuser("127.0.0.1", &W.refused2_port);
	W.bh = he_lab_blackhole_new("127.0.0.1", &W.bh_port);
	if (W.open_fd < 0 || W.refused_fd < 0 || W.refused2_fd < 0 || !W.bh)
		_exit(3);
}

/* Accept and close what the runs connected to the open listener, so its
 * accept queue never fills (it would turn into a black hole). */
static void
world_drain(void)
{
	evutil_socket_t fd;

	while ((fd = accept(W.open_fd, NULL, NULL)) >= 0)
		close(fd);
}

static int
target_port(enum target t)
{
	switch (t) {
	case T_OPEN: return W.open_port;
	case T_REFUSED: return W.refused_port;
	case T_REFUSED2: return W.refused2_port;
	case T_BLACKHOLE: return W.bh_port;
	default: return 0;
	}
}

static struct evutil_addrinfo *
scn_list(const struct scn *s)
{
	struct evutil_addrinfo *l = NULL;
	int i;

	for (i = 0; i < MAXT && s->list[i] != T_END; i++)
		l = he_addrinfo_concat_(l,
		    he_test_ai("127.0.0.1", target_port(s->list[i])));
	return l;
}

/* ---- one run --------------------------------------------------------------- */

struct outcome {
	int started;		/* the start call accepted the race */
	int start_errno;
	int calls;		/* callbacks (bufferevent events) */
	int late;		/* callbacks after the cancel or free */
	int error, dns_error;
	int no_fd;		/* success without a socket */
	int acted;
	int fds_diff;
	long heap_diff;		/* all of it (mallinfo2) */
	long lib_heap_diff;	/* the library's (wrapped allocator) */
	int fired;
	long counts[HE_FAULT_NCALLS];
	unsigned char att_err[256];	/* errnos attempts failed with */
};

/* Errnos a race of this scenario may end with without any fault: those its
 * attempts fail with in a clean run (a failed race reports the errno its
 * attempts share, else the first attempt's), noted by the walker. */
static unsigned char clean_err[256];

struct run {
	const struct scn *s;
	struct outcome *o;
	struct event_base *base;
	struct evhappy *he;
	struct evhappy_request *req;
	struct bufferevent *bev;
	evutil_socket_t fd;
	struct event *act_ev, *tail_ev, *bound_ev;
	int stop;
};

static void
connect_cb(evutil_socket_t fd, const struct evhappy_report *report, void *arg)
{
	struct run *r = arg;

	r->o->calls++;
	if (r->o->acted)
		r->o->late = 1;
	r->o->error = evhappy_report_error(report);
	r->o->dns_error = evhappy_report_dns_error(report);
	if (fd >= 0) {
		if (r->fd >= 0)
			close(r->fd);
		r->fd = fd;
	} else if (!r->o->error) {
		r->o->no_fd = 1;
	}
	r->req = NULL;
	r->stop = 1;
}

static void
bev_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct run *r = arg;

	if (!(what & (BEV_EVENT_CONNECTED | BEV_EVENT_ERROR | BEV_EVENT_EOF |
	    BEV_EVENT_TIMEOUT)))
		return;
	r->o->calls++;
	if (r->o->acted)
		r->o->late = 1;
	if (what & BEV_EVENT_CONNECTED) {
		r->o->error = 0;
		r->o->no_fd = bufferevent_getfd(bev) < 0;
	} else {
		r->o->error = EVUTIL_SOCKET_ERROR();
		if (!r->o->error)
			r->o->error = -1;
		r->o->dns_error = r->s->api == DROPIN ?
		    evhappy_socket_get_dns_error(bev) :
		    evhappy_get_dns_error(bev);
	}
	r->stop = 1;
}

static void
trace_cb(const struct evhappy_trace *ev, void *arg)
{
	struct run *r = arg;

	if (ev->kind == EVHAPPY_TRACE_ATTEMPT_FAILED && ev->error > 0 &&
	    ev->error < 256)
		r->o->att_err[ev->error] = 1;
}

/* NAT64 scenarios: the host has IPv6 routes only. */
static int
no_ipv4_route(int family, const struct sockaddr *dst, int *have)
{
	(void)dst;
	*have = family == AF_INET6;
	return 0;
}

/* NAT64 scenarios: a synthesized address leads nowhere here, and is
 * refused; an IPv4 one fails as on an IPv6-only host.  So a clean run's
 * ECONNREFUSED says the race synthesized, and ENETUNREACH that a fault
 * kept it from it (no prefix: the original error).  No allocation: this
 * runs in armed windows. */
static evutil_socket_t
refuse_factory(const struct evutil_addrinfo *ai, void *arg)
{
	(void)arg;
	errno = ai->ai_family == AF_INET6 ? ECONNREFUSED : ENETUNREACH;
	return -1;
}

static void
tail_cb(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;

	r->stop = 1;
}

static void
bound_cb(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;

	r->stop = 1;
}

static void
action_cb(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;
	struct timeval tv;

	if (r->o->calls)
		return;		/* it ended first: nothing to cancel */
	r->o->acted = 1;
	he_labproc_stop(r->s->act, &r->req, &r->he, &r->bev);
	he_test_tv(&tv, TAIL_MS);
	he_fault_pause();	/* the test's own timer, not the library's */
	event_add(r->tail_ev, &tv);
	he_fault_resume();
}

/* Make the base, context, bufferevent and timers; nothing is armed yet. */
static int
run_setup(struct run *r, struct evdns_base **dns)
{
	const struct scn *s = r->s;
	struct timeval tv;

	r->base = event_base_new();
	if (!r->base)
		return -1;
	*dns = s->res == RES_EVDNS ? he_labproc_dns_client(r->base) : NULL;
	if (s->res == RES_EVDNS && !*dns)
		return -1;
	if (s->api != DROPIN) {
		if (!(r->he = evhappy_new(r->base, *dns)))
			return -1;
		/* valgrind is ~20 times slower: a clean race must not time out */
		he_test_tv(&tv, (int)HE_TEST_UP(timeout_of(s)));
		evhappy_set_timeout(r->he, &tv);
		he_test_tv(&tv, 10);
		evhappy_set_connection_attempt_delay(r->he, &tv);
		evhappy_set_trace_cb(r->he, trace_cb, r);
		if (s->bind_local) {
			struct evutil_addrinfo *l = he_test_ai("127.0.0.1", 0);
			evhappy_set_local_addrinfo(r->he, l);
			evhappy_addrinfo_free(l);
		}
		if (s->nat64 != N64_NONE)
			evhappy_set_socket_factory(r->he, refuse_factory, r);
		if (s->nat64 == N64_FIXED) {
			struct sockaddr_in6 p;
			memset(&p, 0, sizeof(p));
			p.sin6_family = AF_INET6;
			inet_pton(AF_INET6, "2001:db8:64::", &p.sin6_addr);
			evhappy_set_nat64_prefix(r->he, &p, 96);
		}
	}
	/* NAT64: no IPv4 route, and each run discovers afresh */
	he_route_set_probe_hook_(s->nat64 != N64_NONE ? no_ipv4_route : NULL);
	he_nat64_cache_clear_(he_nat64_cache_global_());
	if (s->api == BEV_LIST || s->api == BEV_NAME || s->api == DROPIN) {
		r->bev = bufferevent_socket_new(r->base, -1,
		    BEV_OPT_CLOSE_ON_FREE);
		if (!r->bev)
			return -1;
		bufferevent_setcb(r->bev, NULL, NULL, bev_event_cb, r);
	}
	r->act_ev = evtimer_new(r->base, action_cb, r);
	r->tail_ev = evtimer_new(r->base, tail_cb, r);
	r->bound_ev = evtimer_new(r->base, bound_cb, r);
	if (!r->act_ev || !r->tail_ev || !r->bound_ev)
		return -1;
	/* Long enough for the race's own timeout, short enough that a
	 * silent race costs little. */
	he_test_tv(&tv, (int)HE_TEST_UP(timeout_of(s) +
	    400));
	evtimer_add(r->bound_ev, &tv);
	if (s->act != HE_STOP_NONE) {
		he_test_tv(&tv, ACTION_MS);
		evtimer_add(r->act_ev, &tv);
	}
	return 0;
}

/* The start call of the scenario's front door; 0 or -1 with errno. */
static int
run_start(struct run *r, struct evdns_base *dns,
    const struct evutil_addrinfo *list)
{
	const struct scn *s = r->s;
	int port = W.open_port;

	switch (s->api) {
	case CB_LIST:
		r->req = evhappy_start_connection(r->he, list, connect_cb, r);
		return r->req ? 0 : -1;
	case CB_NAME:
		r->req = evhappy_resolve_and_connect(r->he, AF_UNSPEC, s->host,
		    port, connect_cb, r);
		return r->req ? 0 : -1;
	case BEV_LIST:
		return evhappy_connect_addrinfo(r->he, r->bev, list);
	case BEV_NAME:
		return evhappy_connect_hostname(r->he, r->bev, AF_UNSPEC,
		    s->host, port);
	case DROPIN:
		return evhappy_socket_connect_hostname(r->bev, dns, AF_UNSPEC,
		    s->host, port);
	}
	return -1;
}

/* Wait until fds and heap come back (helper threads may still be letting
 * go of a cancelled lookup), at most 500 ms. */
static void
settle(int fds0, long heap0, long lib0, struct outcome *o)
{
	int i;

	for (i = 0; i < 50; i++) {
		o->fds_diff = he_test_count_fds() - fds0;
		o->heap_diff = he_fault_heap_in_use() - heap0;
		o->lib_heap_diff = he_fault_heap_bytes() - lib0;
		if (o->fds_diff == 0 && o->heap_diff <= 0 &&
		    o->lib_heap_diff <= 0)
			return;
		he_test_sleep_ms(10);
	}
}

static void
run_once(const struct scn *s, enum he_fault_call kind, long n, int persistent,
    struct outcome *o)
{
	struct run r;
	struct evdns_base *dns = NULL;
	struct evutil_addrinfo *list;
	int fds0 = he_test_count_fds(), rc;
	long heap0 = he_fault_heap_in_use(), lib0 = he_fault_heap_bytes();

	memset(o, 0, sizeof(*o));
	memset(&r, 0, sizeof(r));
	r.s = s;
	r.o = o;
	r.fd = -1;
	list = scn_list(s);
	if (run_setup(&r, &dns) < 0)
		_exit(4);
	/* Each run on its own: what an earlier run's fault taught the
	 * process-wide history (an address that failed) must not reorder
	 * this one. */
	he_history_clear_(he_history_global_());

	/* Every kind is counted; the one walked fails. */
	for (rc = 0; rc < HE_FAULT_NCALLS; rc++)
		he_fault_arm((enum he_fault_call)rc, -1, 0);
	if (n > 0)
		he_fault_arm(kind, n, persistent);
	alarm((unsigned)(20 * he_test_slow_factor()));
	rc = run_start(&r, dns, list);
	o->start_errno = rc < 0 ? errno : 0;
	o->started = rc == 0;
	if (!o->started) {
		struct timeval tv;
		he_test_tv(&tv, TAIL_MS);
		he_fault_pause();
		event_add(r.tail_ev, &tv);
		he_fault_resume();
	}
	while (!r.stop)
		event_base_loop(r.base, EVLOOP_ONCE);
	/* A second callback would come on the next turns: look. */
	for (rc = 0; rc < 3; rc++)
		event_base_loop(r.base, EVLOOP_NONBLOCK);
	for (rc = 0; rc < HE_FAULT_NCALLS; rc++)
		o->counts[rc] = he_fault_count((enum he_fault_call)rc);
	o->fired = he_fault_fired();
	he_fault_disarm_all();

	/* The user's teardown. */
	if (r.fd >= 0)
		close(r.fd);
	if (r.req && !o->calls && !o->acted)
		evhappy_request_cancel(r.req);	/* a silent race */
	if (r.bev)
		bufferevent_free(r.bev);
	if (r.he)
		evhappy_free(r.he);
	/* evhappy_free's contract: one more loop turn, in which evdns
	   reports what was cancelled (a context's RFC 7050 query outlives
	   its races) */
	event_base_loop(r.base, EVLOOP_NONBLOCK);
	event_free(r.act_ev);
	event_free(r.tail_ev);
	event_free(r.bound_ev);
	if (dns)
		evdns_base_free(dns, 0);
	event_base_free(r.base);
	evhappy_addrinfo_free(list);
	world_drain();
	settle(fds0, heap0, lib0, o);
	if (n <= 0 && !persistent) {
		o->heap_diff = 0;	/* the first run warms lazy state up */
		o->lib_heap_diff = 0;
	}
	/* A thread that was created may leave glibc's cached thread stack
	 * and TLS behind, which mallinfo2() counts: LeakSanitizer and
	 * valgrind judge those runs. */
	if (o->counts[HE_FAULT_THREAD] > 0)
		o->heap_diff = 0;
	/* So may a pool worker's first getaddrinfo(): glibc sets up its
	 * per-thread resolver state lazily, in whichever worker a fault
	 * sent the lookup to (seen: 2,912 bytes).  The library's own heap
	 * is still counted exactly, through the wrappers. */
	if (s->res == RES_SYSTEM)
		o->heap_diff = 0;
	alarm(0);
}

/* ---- judging a run ---------------------------------------------------------- */

static int
has_blackhole(const struct scn *s)
{
	int i;

	for (i = 0; i < MAXT; i++)
		if (s->list[i] == T_BLACKHOLE)
			return 1;
	return 0;
}

static int
error_ok(const struct scn *s, enum he_fault_call kind,
    const struct outcome *o)
{
	if (o->error == s->error)
		return !o->error || o->error != EHOSTUNREACH ||
		    o->dns_error != 0;
	if (!o->fired)
		return 0;
	if (o->error == he_fault_errno(kind))
		return 1;
	/* The fault took out some attempts; the others failed as usual. */
	if (o->error > 0 && o->error < 256 && clean_err[o->error])
		return 1;
	/* Only a black hole left: the race ran into its timeout. */
	if (o->error == ETIMEDOUT && has_blackhole(s))
		return 1;
	/* Resolution that failed because of the fault: no address, and the
	 * DNS error says why. */
	return s->res != RES_NONE && o->error == EHOSTUNREACH &&
	    o->dns_error != 0;
}

/* Appends each symptom to buf; returns how many. */
static int
judge(const struct scn *s, enum he_fault_call kind, const struct outcome *o,
    char *buf, size_t len)
{
	int n = 0;
	size_t used = 0;

#define SYMPTOM(...) do { \
		if (n && used < len) \
			used += (size_t)snprintf(buf + used, len - used, "; "); \
		if (used < len) \
			used += (size_t)snprintf(buf + used, len - used, \
			    __VA_ARGS__); \
		n++; \
	} while (0)

	if (!o->started) {
		if (o->calls)
			SYMPTOM("callback after a refused start");
		if (!o->fired)
			SYMPTOM("start refused (errno %d) with no fault",
			    o->start_errno);
		else if (o->start_errno != he_fault_errno(kind))
			SYMPTOM("start refused with errno %d, want %d",
			    o->start_errno, he_fault_errno(kind));
	} else if (o->calls > 1) {
		SYMPTOM("%d callbacks", o->calls);
	} else if (o->late) {
		SYMPTOM("callback after the cancel/free");
	} else if (o->calls == 0 && !o->acted) {
		SYMPTOM("silent (no callback within %d ms)",
		    (int)HE_TEST_UP(timeout_of(s) +
		    400));
	} else if (o->calls == 1 && s->act == HE_STOP_NONE &&
	    !error_ok(s, kind, o)) {
		SYMPTOM("wrong errno %d (dns error %d), want %d%s", o->error,
		    o->dns_error, s->error, o->fired ? " or the fault's" : "");
	}
	if (o->calls == 1 && o->no_fd)
		SYMPTOM("success without a socket");
	if (o->fds_diff)
		SYMPTOM("fd leak (%+d)", o->fds_diff);
	if (o->lib_heap_diff > 0)
		SYMPTOM("leak (%ld bytes of the library's heap)",
		    o->lib_heap_diff);
	else if (o->heap_diff > 0)
		SYMPTOM("leak (%ld bytes of heap, libevent's)", o->heap_diff);
	return n;
#undef SYMPTOM
}

/* ---- the walker (a child process) -------------------------------------------- */

static int full_walk;

/* The Ns walked for a clean count c, ascending; returns how many. */
static int
schedule(long c, long *ns, int max)
{
	int k = 0, slow = he_test_slow_factor() > 1;
	long head = slow ? 4 : 12, tail = slow ? 3 : 8, mid = slow ? 2 : 8;
	long n, step;

	if (full_walk || c <= head + tail + mid) {
		for (n = 1; n <= c + 1 && k < max; n++)
			ns[k++] = n;
		return k;
	}
	for (n = 1; n <= head; n++)
		ns[k++] = n;
	step = (c - tail - head) / (mid + 1);
	if (step < 1)
		step = 1;
	for (n = head + step; n <= c - tail && k < max - tail - 1; n += step)
		ns[k++] = n;
	for (n = c - tail + 1; n <= c + 1 && k < max; n++)
		if (n > ns[k - 1])
			ns[k++] = n;
	return k;
}

static void
say(int out, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(out, buf, (size_t)n) < 0)
		_exit(5);
}

static const char *const mode_names[2] = { "once", "from" };

/* Walk scenario s from position (kind0, mode0, idx0) on; reports lines:
 *   P kind mode idx N   a run begins
 *   F text              a failure
 *   C kind count        the clean run's count */
/* The end of a walker: LeakSanitizer's word (the ASan build), then "E"
   (the walk ended) to the parent. */
static void
walker_end(const struct scn *s, int out)
{
#ifdef HE_ASAN
	if (__lsan_do_recoverable_leak_check())
		say(out, "F %s: leak (LeakSanitizer, report above)", s->name);
#endif
	say(out, "E");
	_exit(0);
}

static void
walker(const struct scn *s, int out, int kind0, int mode0, int idx0)
{
	struct outcome o;
	char sym[400];
	long ns[64], counts[HE_FAULT_NCALLS];
	int kind, mode, i, k;

	world_begin();
	he_resolve_set_gai_hook_(he_labproc_fake_gai);
	/* The clean runs: the first warms lazy state up (its heap is not
	 * judged), the second counts every kind. */
	run_once(s, HE_FAULT_ALLOC, 0, 0, &o);
	for (kind = 0; kind < HE_FAULT_NCALLS; kind++)
		say(out, "K %d %ld", kind, o.counts[kind]);
	run_once(s, HE_FAULT_ALLOC, 0, 1, &o);
	memcpy(counts, o.counts, sizeof(counts));
	memcpy(clean_err, o.att_err, sizeof(clean_err));
	if (s->api == DROPIN) {	/* no trace there: what ::1 may give */
		clean_err[ECONNREFUSED] = 1;
		clean_err[EADDRNOTAVAIL] = 1;
		clean_err[ENETUNREACH] = 1;
	}
	if (s->nat64 != N64_NONE)	/* a fault took discovery out */
		clean_err[ENETUNREACH] = 1;
	for (kind = 0; kind < HE_FAULT_NCALLS; kind++)
		say(out, "C %d %ld", kind, counts[kind]);
	if (kind0 == 0 && mode0 == 0 && idx0 == 0 &&
	    judge(s, HE_FAULT_ALLOC, &o, sym, sizeof(sym)))
		say(out, "F %s clean run: %s", s->name, sym);
	for (kind = kind0; kind < HE_FAULT_NCALLS; kind++) {
		if (counts[kind] == 0)
			continue;
		k = schedule(counts[kind], ns, 64);
		for (mode = kind == kind0 ? mode0 : 0; mode < 2; mode++) {
			int silent = 0;
			i = kind == kind0 && mode == mode0 ? idx0 : 0;
			for (; i < k && silent < MAX_SILENT; i++) {
				say(out, "P %d %d %d %ld", kind, mode, i, ns[i]);
				run_once(s, (enum he_fault_call)kind, ns[i],
				    mode, &o);
				if (!judge(s, (enum he_fault_call)kind, &o,
				    sym, sizeof(sym)))
					continue;
				if (o.started && !o.calls && !o.acted)
					silent++;
				say(out, "F %s %s %s N=%ld: %s", s->name,
				    he_fault_name((enum he_fault_call)kind),
				    mode_names[mode], ns[i], sym);
				if (silent == MAX_SILENT)
					say(out, "F %s %s %s: walk stopped "
					    "after %d silent runs", s->name,
					    he_fault_name(
					    (enum he_fault_call)kind),
					    mode_names[mode], MAX_SILENT);
			}
		}
		kind0 = -1;
	}
	walker_end(s, out);
}

/* A run in a process where nothing ran before, for the calls only a first
 * race makes (a thread pool, a process-wide wake-up fd): the warm walker
 * never sees those fail.  What such a first race leaves for the next ones
 * is not a leak, so only the callback rule and the errno are judged
 * (LeakSanitizer and valgrind still see real leaks). */
static void
cold_walker(const struct scn *s, int out, int kind, int mode, long n)
{
	struct outcome o;
	char sym[400];

	world_begin();
	he_resolve_set_gai_hook_(he_labproc_fake_gai);
	{	/* no clean run here to learn from: what ::1 may give */
		clean_err[ECONNREFUSED] = 1;
		clean_err[EADDRNOTAVAIL] = 1;
		clean_err[ENETUNREACH] = 1;
	}
	say(out, "P %d %d %d %ld", kind, mode, 0, n);
	run_once(s, (enum he_fault_call)kind, n, mode, &o);
	o.fds_diff = 0;
	o.heap_diff = o.lib_heap_diff = 0;
	if (judge(s, (enum he_fault_call)kind, &o, sym, sizeof(sym)))
		say(out, "F %s %s %s N=%ld (first race of a process): %s",
		    s->name, he_fault_name((enum he_fault_call)kind),
		    mode_names[mode], n, sym);
	walker_end(s, out);
}

/* ---- the parent: runs walkers, restarts them past a crash ---------------- */

struct progress {
	int kind, mode, idx;
	long n;
	int ended;
	int failures;
	long counts[HE_FAULT_NCALLS];
	long cold[HE_FAULT_NCALLS];	/* counts of a process's first race */
};

static void
read_walker(FILE *in, const struct scn *s, struct progress *p)
{
	char line[600];

	while (fgets(line, sizeof(line), in)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == 'P') {
			sscanf(line + 2, "%d %d %d %ld", &p->kind, &p->mode,
			    &p->idx, &p->n);
		} else if (line[0] == 'C' || line[0] == 'K') {
			/* the counts of a clean run, or of a process's first */
			long *counts = line[0] == 'C' ? p->counts : p->cold;
			int kind;
			long c;
			if (sscanf(line + 2, "%d %ld", &kind, &c) == 2 &&
			    kind >= 0 && kind < HE_FAULT_NCALLS)
				counts[kind] = c;
		} else if (line[0] == 'F') {
			printf("FAULT %s\n", line + 2);
			p->failures++;
		} else if (line[0] == 'E') {
			p->ended = 1;
		} else {
			printf("%s: %s\n", s->name, line);
		}
	}
}

/* For each kind a process's first race calls more often than later ones,
 * fail each of those calls in a fresh process. */
static void
cold_walks(const struct scn *s, struct progress *p)
{
	const char *e = getenv("HE_FAULT_COLD");
	int all = e && *e && *e != '0', kind, mode, failures;
	long n;

	for (kind = 0; kind < HE_FAULT_NCALLS; kind++) {
		/* Allocations and events vary a little with timing; what a
		 * first race sets up for good is threads and wake-up fds. */
		if (!all && (p->cold[kind] <= p->counts[kind] ||
		    (kind != HE_FAULT_THREAD && kind != HE_FAULT_PIPE)))
			continue;
	for (mode = 0; mode < 2; mode++)
	for (n = 1, failures = 0; n <= p->cold[kind] && failures < MAX_SILENT;
	    n++) {
		int fds[2], status, before = p->failures;
		pid_t pid;
		FILE *in;

		fflush(stdout);
		if (pipe(fds) < 0 || (pid = fork()) < 0)
			return;
		if (pid == 0) {
			close(fds[0]);
			cold_walker(s, fds[1], kind, mode, n);
		}
		close(fds[1]);
		in = fdopen(fds[0], "r");
		p->ended = 0;
		read_walker(in, s, p);
		fclose(in);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (!p->ended || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0) {
			printf("FAULT %s %s %s N=%ld (first race of a process): "
			    "crash, hang or valgrind error (status %d)\n",
			    s->name, he_fault_name((enum he_fault_call)kind),
			    mode_names[mode], n, status);
			p->failures++;
		}
		if (p->failures > before)
			failures++;	/* each may have cost the whole bound */
	}
	}
}

/* Walk one scenario; returns the number of failures. */
static int
walk(const struct scn *s)
{
	struct progress p;
	int restarts = 0, kind = 0, mode = 0, idx = 0;

	memset(&p, 0, sizeof(p));
	p.kind = -1;
	for (;;) {
		int fd, status;
		pid_t pid;
		FILE *in;

		fflush(stdout);
		fflush(stderr);
		pid = he_lab_fork(&fd);
		if (pid < 0)
			return -1;
		if (pid == 0)
			walker(s, fd, kind, mode, idx);
		in = fdopen(fd, "r");
		p.ended = 0;
		read_walker(in, s, &p);
		fclose(in);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (p.ended && WIFEXITED(status) && WEXITSTATUS(status) == 0)
			break;
		if (p.ended) {	/* valgrind's leak check ends this way */
			printf("FAULT %s: walker exited %d after its walk "
			    "(valgrind error or leak, see above)\n", s->name,
			    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
			p.failures++;
			break;
		}
		if (p.kind < 0) {
			printf("FAULT %s: walker died before its first run "
			    "(status %d)\n", s->name, status);
			p.failures++;
			break;
		}
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
			printf("FAULT %s %s %s N=%ld: hang (no end in %d s)\n",
			    s->name, he_fault_name((enum he_fault_call)p.kind),
			    mode_names[p.mode], p.n,
			    20 * he_test_slow_factor());
		else
			printf("FAULT %s %s %s N=%ld: crash (%s %d)\n",
			    s->name, he_fault_name((enum he_fault_call)p.kind),
			    mode_names[p.mode], p.n,
			    WIFSIGNALED(status) ? "signal" : "exit status",
			    WIFSIGNALED(status) ? WTERMSIG(status) :
			    WEXITSTATUS(status));
		p.failures++;
		if (++restarts > 5) {
			printf("FAULT %s: more than 5 crashes, walk stopped\n",
			    s->name);
			break;
		}
		kind = p.kind;
		mode = p.mode;
		idx = p.idx + 1;
	}
	cold_walks(s, &p);
	printf("fault walk %s: clean counts", s->name);
	for (kind = 0; kind < HE_FAULT_NCALLS; kind++)
		printf(" %s=%ld", he_fault_name((enum he_fault_call)kind),
		    p.counts[kind]);
	printf("; %d failures\n", p.failures);
	fflush(stdout);
	return p.failures;
}

START_TEST(test_fault_walk)
{
	const char *only = getenv("HE_FAULT_SCENARIO");
	int failures;

	if (only && *only && strcmp(only, scns[_i].name) != 0)
		return;
	failures = walk(&scns[_i]);

	ck_assert_msg(failures == 0, "%s: %d failures under fault injection "
	    "(listed above as FAULT lines)", scns[_i].name, failures);
}
END_TEST

/* ---- the address-list functions under fault -------------------------------- */

/* "a b c" of a list, for comparing orders. */
static void
list_str(const struct evutil_addrinfo *l, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (; l && used < len; l = l->ai_next)
		used += (size_t)snprintf(buf + used, len - used, "%s ",
		    he_test_addr_str(l->ai_addr));
}

static struct evutil_addrinfo *
mixed_list(void)
{
	static const char *const a[] = { "192.0.2.1", "2001:db8::1",
	    "127.0.0.1", "::1", "198.51.100.7", "2001:db8::2" };
	struct evutil_addrinfo *l = NULL;
	size_t i;

	for (i = 0; i < sizeof(a) / sizeof(a[0]); i++)
		l = he_addrinfo_concat_(l, he_test_ai(a[i], 80));
	return l;
}

enum list_fn { LF_DUP, LF_SORT, LF_INTERLEAVE, LF_FROM_SOCKADDR, LF_N };
static const char *const list_fn_names[LF_N] = { "dup", "sort",
	"interleave", "from_sockaddr" };

/* One call of fn under the armed fault; 0 when its result is right:
 * success with the same addresses, or -1/NULL with ENOMEM and the input
 * as it was. */
static int
list_call(enum list_fn fn, enum he_fault_call kind, long n, int persistent,
    char *why, size_t len)
{
	struct evutil_addrinfo *l = mixed_list(), *out = NULL;
	char before[300], after[300];
	int rc = 0, e = 0, ok = 1;

	list_str(l, before, sizeof(before));
	if (fn == LF_FROM_SOCKADDR)	/* one entry: the first address */
		snprintf(before, sizeof(before), "%s ",
		    he_test_addr_str(l->ai_addr));
	he_fault_arm(kind, n, persistent);
	errno = 0;
	switch (fn) {
	case LF_DUP:
		out = evhappy_addrinfo_dup(l);
		rc = out ? 0 : -1;
		break;
	case LF_SORT:
		rc = evhappy_addrinfo_sort(&l);
		break;
	case LF_INTERLEAVE:
		rc = evhappy_addrinfo_interleave(&l, 1);
		break;
	default:
		out = evhappy_addrinfo_from_sockaddr(l->ai_addr,
		    (ev_socklen_t)l->ai_addrlen);
		rc = out ? 0 : -1;
		break;
	}
	e = errno;
	he_fault_disarm_all();
	list_str(out ? out : l, after, sizeof(after));
	if (rc < 0 && e != ENOMEM) {
		snprintf(why, len, "failed with errno %d, want ENOMEM", e);
		ok = 0;
	} else if (rc < 0 && fn != LF_FROM_SOCKADDR &&
	    strcmp(before, after) != 0) {
		snprintf(why, len, "failed and changed the list: %s", after);
		ok = 0;
	} else if (rc == 0 && (fn == LF_DUP || fn == LF_FROM_SOCKADDR) &&
	    strcmp(before, after) != 0) {
		snprintf(why, len, "copy differs: %s", after);
		ok = 0;
	} else if (rc == 0 && strlen(before) != strlen(after)) {
		snprintf(why, len, "lost addresses: %s", after);
		ok = 0;
	}
	evhappy_addrinfo_free(out);
	evhappy_addrinfo_free(l);
	return ok ? 0 : -1;
}

START_TEST(test_list_functions)
{
	static const enum he_fault_call kinds[] = { HE_FAULT_ALLOC,
	    HE_FAULT_SOCKET, HE_FAULT_CONNECT };
	char why[400];
	int failures = 0, fn, persistent;
	size_t k;

	for (fn = 0; fn < LF_N; fn++)
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
	for (persistent = 0; persistent < 2; persistent++) {
		long n;
		for (n = 1; n < 100; n++) {
			int fds0 = he_test_count_fds(), fired;
			long heap0 = he_fault_heap_bytes(), dheap;

			if (list_call((enum list_fn)fn, kinds[k], n,
			    persistent, why, sizeof(why)) < 0) {
				printf("FAULT list %s %s %s N=%ld: %s\n",
				    list_fn_names[fn], he_fault_name(kinds[k]),
				    mode_names[persistent], n, why);
				failures++;
			}
			fired = he_fault_fired();
			dheap = he_fault_heap_bytes() - heap0;
			if (he_test_count_fds() != fds0 || dheap > 0) {
				printf("FAULT list %s %s %s N=%ld: leak (fds "
				    "%+d, heap %+ld)\n", list_fn_names[fn],
				    he_fault_name(kinds[k]),
				    mode_names[persistent], n,
				    he_test_count_fds() - fds0, dheap);
				failures++;
			}
			if (!fired && n == 1 && kinds[k] == HE_FAULT_ALLOC &&
			    fn != LF_INTERLEAVE) {
				printf("FAULT list %s: no allocation to fail\n",
				    list_fn_names[fn]);
				failures++;	/* the walk would test nothing */
			}
			if (!fired)
				break;	/* past the last call */
		}
	}
	ck_assert_msg(failures == 0, "%d failures of the list functions",
	    failures);
}
END_TEST

/* The walker must be able to tell a clean run's outcome from a faulty one:
 * the wrappers themselves must count and fail. */
START_TEST(test_wrappers)
{
	void *(*volatile m)(size_t) = malloc;	/* not optimised away */
	void *p1, *p2, *p3;
	int e2, s1, e1, s2, fired, fd;
	long count;

	/* Nothing of Check's may run while armed: record, then assert. */
	he_fault_arm(HE_FAULT_ALLOC, 2, 0);
	p1 = m(8);
	errno = 0;
	p2 = m(8);
	e2 = errno;
	p3 = m(8);
	count = he_fault_count(HE_FAULT_ALLOC);
	fired = he_fault_fired();
	he_fault_arm(HE_FAULT_SOCKET, 1, 1);
	s1 = socket(AF_INET, SOCK_STREAM, 0);
	e1 = errno;
	s2 = socket(AF_INET, SOCK_STREAM, 0);
	he_fault_disarm_all();
	fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_ptr_nonnull(p1);
	ck_assert_ptr_null(p2);
	ck_assert_int_eq(e2, ENOMEM);
	ck_assert_ptr_nonnull(p3);
	ck_assert_int_eq(count, 3);
	ck_assert(fired);
	ck_assert_int_eq(s1, -1);
	ck_assert_int_eq(e1, EMFILE);
	ck_assert_int_eq(s2, -1);
	ck_assert_int_ge(fd, 0);
	close(fd);
	free(p1);
	free(p3);
}
END_TEST

Suite *
he_test_suite(void)
{
	Suite *s = suite_create("fault");
	TCase *tc;
	const char *e = getenv("HE_FAULT_FULL");

	full_walk = e && *e && strcmp(e, "0") != 0;
	tc = he_test_tcase(s, "wrappers", 10);
	tcase_add_test(tc, test_wrappers);
	tc = he_test_tcase(s, "lists", 60);
	tcase_add_test(tc, test_list_functions);
	tc = he_test_tcase(s, "walk", 600);
	tcase_add_loop_test(tc, test_fault_walk, 0, NSCNS);
	return s;
}
