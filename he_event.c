/*
 * Contexts, settings and the libevent glue of a race: it carries out the
 * actions of the pure core (he_race.c) with sockets, events and timers, and
 * keeps user callbacks safe to cancel or free from.
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include "he_internal.h"
#include "he_history.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MS 1000		/* microseconds */

static const struct he_race_config default_race = {
	EVHAPPY_DEFAULT_ATTEMPT_DELAY_MS * MS,
	EVHAPPY_DEFAULT_RESOLUTION_DELAY_MS * MS,
	EVHAPPY_MIN_ATTEMPT_GAP_MS * MS,
	(int64_t)EVHAPPY_DEFAULT_TIMEOUT_MS * MS,
	1,
	EVHAPPY_DEFAULT_MAX_IN_FLIGHT,
	NULL,
	NULL
};

const char *
evhappy_get_version(void)
{
	return EVHAPPY_VERSION_STRING;
}

ev_uint32_t
evhappy_get_version_number(void)
{
	return EVHAPPY_VERSION_NUMBER;
}

int64_t
he_now_(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- the context -------------------------------------------------------- */

struct evhappy *
evhappy_new(struct event_base *base, struct evdns_base *dns_base)
{
	struct evhappy *he;

	if (!base) {
		errno = EINVAL;
		return NULL;
	}
	he = calloc(1, sizeof(*he));
	if (!he) {
		errno = ENOMEM;
		return NULL;
	}
	he->base = base;
	he->dns = dns_base;
	he->set.race = default_race;
	he->set.history = 1;
	return he;
}

static void request_free(struct evhappy_request *req);
static void request_reap(struct evhappy_request *req);

static void
context_destroy(struct evhappy *he)
{
	while (he->requests)
		request_free(he->requests);
	he_resolve_context_free_(he);
	evhappy_addrinfo_free(he->set.local);
	free(he);
}

void
evhappy_free(struct evhappy *he)
{
	struct evhappy_request *req;

	if (!he || he->dying)
		return;
	he->dying = 1;
	for (req = he->requests; req; req = req->next)
		he_request_abort_(req);
	if (he->busy == 0)
		context_destroy(he);
}

/* ---- settings ----------------------------------------------------------- */

static int
tv_to_usec(const struct timeval *tv, int64_t dflt, int64_t lo, int64_t hi,
    int64_t *out)
{
	int64_t v;

	if (!tv) {
		*out = dflt;
		return 0;
	}
	if (tv->tv_sec < 0 || tv->tv_usec < 0 || tv->tv_usec >= 1000000 ||
	    tv->tv_sec > 1000000000)
		goto bad;
	v = (int64_t)tv->tv_sec * 1000000 + tv->tv_usec;
	if (v < lo || v > hi)
		goto bad;
	*out = v;
	return 0;
bad:
	errno = EINVAL;
	return -1;
}

int
evhappy_set_connection_attempt_delay(struct evhappy *he,
    const struct timeval *tv)
{
	if (!he) {
		errno = EINVAL;
		return -1;
	}
	return tv_to_usec(tv, default_race.attempt_delay, 10 * MS, 2000 * MS,
	    &he->set.race.attempt_delay);
}

int
evhappy_set_resolution_delay(struct evhappy *he, const struct timeval *tv)
{
	if (!he) {
		errno = EINVAL;
		return -1;
	}
	return tv_to_usec(tv, default_race.resolution_delay, 0, 1000 * MS,
	    &he->set.race.resolution_delay);
}

int
evhappy_set_timeout(struct evhappy *he, const struct timeval *tv)
{
	if (!he) {
		errno = EINVAL;
		return -1;
	}
	return tv_to_usec(tv, default_race.timeout, 1, INT64_MAX / 4,
	    &he->set.race.timeout);
}

int
evhappy_set_first_address_family_count(struct evhappy *he, int count)
{
	if (!he || count < 1) {
		errno = EINVAL;
		return -1;
	}
	he->set.race.first_family_count = count;
	return 0;
}

int
evhappy_set_max_attempts_in_flight(struct evhappy *he, int n)
{
	if (!he || n < 1) {
		errno = EINVAL;
		return -1;
	}
	he->set.race.max_in_flight = n;
	return 0;
}

int
evhappy_set_local_addrinfo(struct evhappy *he,
    const struct evutil_addrinfo *list)
{
	struct evutil_addrinfo *copy = NULL;

	if (!he) {
		errno = EINVAL;
		return -1;
	}
	if (list && !(copy = evhappy_addrinfo_dup(list)))
		return -1;
	evhappy_addrinfo_free(he->set.local);
	he->set.local = copy;
	return 0;
}

void
evhappy_set_socket_factory(struct evhappy *he, evhappy_socket_factory_cb cb,
    void *arg)
{
	if (!he)
		return;
	he->set.factory = cb;
	he->set.factory_arg = cb ? arg : NULL;
}

void
evhappy_set_trace_cb(struct evhappy *he, evhappy_trace_cb cb, void *arg)
{
	if (!he)
		return;
	he->set.trace = cb;
	he->set.trace_arg = cb ? arg : NULL;
}

/* ---- the callback protocol ---------------------------------------------- */

/* A user callback may cancel its race, free the context or free the
 * bufferevent.  So every libevent callback of a request runs between
 * enter and leave; cancelling inside only marks, and the outermost leave
 * releases what was marked (hiredis' adapters do the same). */

void
he_request_enter_(struct evhappy_request *req)
{
	req->busy++;
	req->he->busy++;
}

static void release_resources(struct evhappy_request *req);

void
he_request_leave_(struct evhappy_request *req)
{
	struct evhappy *he = req->he;
	int free_now;

	req->busy--;
	he->busy--;
	if (req->busy > 0)
		return;
	if (req->cancelled || req->finished)
		release_resources(req);
	/* A finished race's handle is gone once its callback returned; a
	 * cancelled one waits for the next loop turn (the user may cancel
	 * again before then). */
	free_now = req->finished && !req->cancelled;
	if (he->dying) {
		if (he->busy == 0)
			context_destroy(he);
		return;
	}
	if (free_now)
		request_reap(req);
}

int
he_request_live_(const struct evhappy_request *req)
{
	return !req->cancelled && !req->he->dying;
}

void
he_trace_(struct evhappy_request *req, enum evhappy_trace_kind kind,
    int family, const struct sockaddr *addr, ev_socklen_t addrlen, int error,
    int naddrs)
{
	struct evhappy_trace ev;
	int64_t el;

	if (!req->set.trace || !he_request_live_(req))
		return;
	memset(&ev, 0, sizeof(ev));
	el = he_now_() - req->began;
	ev.kind = kind;
	ev.elapsed.tv_sec = (time_t)(el / 1000000);
	ev.elapsed.tv_usec = (suseconds_t)(el % 1000000);
	ev.family = family ? family : (addr ? addr->sa_family : 0);
	ev.addr = addr;
	ev.addrlen = addrlen;
	ev.error = error;
	ev.naddrs = naddrs;
	req->set.trace(&ev, req->set.trace_arg);
}

/* ---- attempts ----------------------------------------------------------- */

static void drain(struct evhappy_request *req);

static void
slot_close(struct he_slot *s)
{
	if (s->ev) {
		event_free(s->ev);
		s->ev = NULL;
	}
	if (s->fd >= 0) {
		evutil_closesocket(s->fd);
		s->fd = -1;
	}
}

static int
slots_reserve(struct evhappy_request *req, int n)
{
	struct he_slot *s;
	int i;

	if (n < req->nslots)
		return 0;
	s = realloc(req->slots, (size_t)(n + 8) * sizeof(*s));
	if (!s)
		return -1;
	for (i = req->nslots; i < n + 8; i++) {
		s[i].fd = -1;
		s[i].ev = NULL;
	}
	req->slots = s;
	req->nslots = n + 8;
	return 0;
}

static evutil_socket_t
attempt_socket(struct evhappy_request *req, const struct evutil_addrinfo *ai)
{
	evutil_socket_t fd;

	if (req->set.factory)
		fd = req->set.factory(ai, req->set.factory_arg);
	else
		fd = socket(ai->ai_family, SOCK_STREAM, IPPROTO_TCP);
	if (fd < 0)
		return -1;
	if (evutil_make_socket_nonblocking(fd) < 0 ||
	    evutil_make_socket_closeonexec(fd) < 0) {
		int e = errno;
		evutil_closesocket(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Bind to the first local address of the attempt's family that binds. */
static int
attempt_bind(struct evhappy_request *req, evutil_socket_t fd, int family)
{
	const struct evutil_addrinfo *l;
	int err = EADDRNOTAVAIL;

	if (!req->set.local)
		return 0;
	for (l = req->set.local; l; l = l->ai_next) {
		if (l->ai_family != family)
			continue;
		if (bind(fd, l->ai_addr, l->ai_addrlen) == 0)
			return 0;
		err = errno;
	}
	errno = err;
	return -1;
}

static void attempt_ready_cb(evutil_socket_t fd, short what, void *arg);

/* libevent tells nobody of bufferevent_free(), so every callback of a
 * bufferevent race looks first; a freed one stops here, silently. */
static int
bev_freed(struct evhappy_request *req)
{
	if (req->cb || !he_bev_gone_(req))
		return 0;
	he_request_abort_(req);
	return 1;
}

/* Open, bind and connect; returns 0 when the connect is under way, else an
 * errno for the core. */
static int
attempt_open(struct evhappy_request *req, int i)
{
	const struct evutil_addrinfo *ai = req->race.attempts[i].ai;
	struct he_slot *s = &req->slots[i];

	s->fd = attempt_socket(req, ai);
	if (s->fd < 0)
		return errno ? errno : EMFILE;
	if (attempt_bind(req, s->fd, ai->ai_family) < 0)
		return errno;
	if (connect(s->fd, ai->ai_addr, ai->ai_addrlen) < 0 &&
	    errno != EINPROGRESS && errno != EINTR)
		return errno;
	/* Even a connect that completed at once is reported by writability,
	 * so success always arrives on a later loop turn. */
	s->ev = event_new(req->he->base, s->fd, EV_WRITE, attempt_ready_cb,
	    req);
	if (!s->ev || event_add(s->ev, NULL) < 0)
		return ENOMEM;
	return 0;
}

static void
attempt_start(struct evhappy_request *req, int i)
{
	const struct evutil_addrinfo *ai = req->race.attempts[i].ai;
	int err;

	he_trace_(req, EVHAPPY_TRACE_ATTEMPT_START, 0, ai->ai_addr,
	    (ev_socklen_t)ai->ai_addrlen, 0, 0);
	if (!he_request_live_(req))
		return;
	if (slots_reserve(req, i) < 0) {
		err = ENOMEM;
	} else {
		err = attempt_open(req, i);
		if (err)
			slot_close(&req->slots[i]);
	}
	if (!err)
		return;
	he_trace_(req, EVHAPPY_TRACE_ATTEMPT_FAILED, 0, ai->ai_addr,
	    (ev_socklen_t)ai->ai_addrlen, err, 0);
	if (he_request_live_(req))
		he_race_attempt_failed_(&req->race, he_now_(), i, err);
}

static int
slot_index(const struct evhappy_request *req, evutil_socket_t fd)
{
	int i;

	for (i = 0; i < req->race.nattempts && i < req->nslots; i++)
		if (req->slots[i].fd == fd)
			return i;
	return -1;
}

static void
attempt_ready_cb(evutil_socket_t fd, short what, void *arg)
{
	struct evhappy_request *req = arg;
	const struct evutil_addrinfo *ai;
	int i = slot_index(req, fd), err = 0;
	socklen_t len = sizeof(err);

	if (i < 0)
		return;
	he_request_enter_(req);
	if (bev_freed(req))
		goto end;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	ai = req->race.attempts[i].ai;
	if (err == EINPROGRESS || err == EINTR) {
		event_add(req->slots[i].ev, NULL);
		goto end;
	}
	if (err) {
		he_trace_(req, EVHAPPY_TRACE_ATTEMPT_FAILED, 0, ai->ai_addr,
		    (ev_socklen_t)ai->ai_addrlen, err, 0);
		slot_close(&req->slots[i]);
		if (he_request_live_(req))
			he_race_attempt_failed_(&req->race, he_now_(), i, err);
	} else if (he_race_attempt_connected_(&req->race, he_now_(), i)) {
		he_trace_(req, EVHAPPY_TRACE_ATTEMPT_WON, 0, ai->ai_addr,
		    (ev_socklen_t)ai->ai_addrlen, 0, 0);
	} else {
		slot_close(&req->slots[i]);
	}
	drain(req);
end:
	he_request_leave_(req);
}

/* ---- carrying out the core's actions ------------------------------------ */

static void
attempt_close(struct evhappy_request *req, int i)
{
	const struct he_attempt *a = &req->race.attempts[i];

	if (i < req->nslots)
		slot_close(&req->slots[i]);
	he_trace_(req, EVHAPPY_TRACE_ATTEMPT_CANCELLED, 0, a->ai->ai_addr,
	    (ev_socklen_t)a->ai->ai_addrlen, a->error, 0);
}

/* Take the winner's socket out of its slot: it is the user's now. */
static evutil_socket_t
take_winner(struct evhappy_request *req)
{
	struct he_slot *s;
	evutil_socket_t fd;

	if (req->race.winner < 0)
		return -1;
	s = &req->slots[req->race.winner];
	fd = s->fd;
	if (s->ev) {
		event_free(s->ev);
		s->ev = NULL;
	}
	s->fd = -1;
	return fd;
}

static void
deliver(struct evhappy_request *req)
{
	struct evhappy_report report;
	const struct he_race *r = &req->race;
	evutil_socket_t fd;

	req->ended = he_now_();
	he_trace_(req, EVHAPPY_TRACE_DONE, 0, NULL, 0,
	    r->error ? r->error : 0, 0);
	if (!he_request_live_(req))
		return;
	req->finished = 1;
	fd = take_winner(req);
	if (!req->cb) {		/* a bufferevent race */
		he_bev_deliver_(req, fd);
		return;
	}
	report.req = req;
	req->cb(fd, &report, req->cb_arg);
}

static void
arm_timer(struct evhappy_request *req)
{
	int64_t at = he_race_next_wakeup_(&req->race), d;
	struct timeval tv;

	if (at == HE_NEVER) {
		event_del(req->timer);
		return;
	}
	d = at - he_now_();
	if (d < 0)
		d = 0;
	tv.tv_sec = (time_t)(d / 1000000);
	tv.tv_usec = (suseconds_t)(d % 1000000);
	event_add(req->timer, &tv);
}

static void
drain(struct evhappy_request *req)
{
	struct he_action a;

	while (he_request_live_(req) && !req->finished &&
	    he_race_next_action_(&req->race, &a)) {
		switch (a.kind) {
		case HE_ACT_START:
			attempt_start(req, a.attempt);
			break;
		case HE_ACT_CLOSE:
			attempt_close(req, a.attempt);
			break;
		case HE_ACT_DONE:
			deliver(req);
			break;
		case HE_ACT_HISTORY:
			he_trace_history_(req, &req->race.notes[a.attempt]);
			break;
		}
	}
	if (he_request_live_(req) && !req->finished)
		arm_timer(req);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct evhappy_request *req = arg;

	he_request_enter_(req);
	if (!bev_freed(req))
		he_race_timer_(&req->race, he_now_());
	drain(req);
	he_request_leave_(req);
}

void
he_request_dns_answer_(struct evhappy_request *req, enum he_fam fam,
    struct evutil_addrinfo *list, int eai_error)
{
	const struct evutil_addrinfo *ai;
	int n = 0;

	he_request_enter_(req);
	for (ai = list; ai; ai = ai->ai_next)
		n++;
	he_addrinfo_set_port_(list, req->port);
	he_trace_(req, EVHAPPY_TRACE_DNS_ANSWER,
	    fam == HE_FAM_V6 ? AF_INET6 : AF_INET, NULL, 0, eai_error, n);
	if (he_request_live_(req) && !bev_freed(req)) {
		he_race_dns_answer_(&req->race, he_now_(), fam, list,
		    eai_error);
		list = NULL;
		drain(req);
	}
	evhappy_addrinfo_free(list);
	he_request_leave_(req);
}

/* ---- a request's life --------------------------------------------------- */

static void
begin(struct evhappy_request *req)
{
	req->started = 1;
	req->began = he_now_();
	he_race_begin_(&req->race, req->began);
	if (req->host && he_resolve_start_(req) < 0)
		req->race.oom = 1;
	if (req->race.oom)
		he_race_timer_(&req->race, he_now_());
	drain(req);
}

static void
defer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct evhappy_request *req = arg;

	if (req->cancelled) {
		if (req->busy == 0)
			request_reap(req);
		return;
	}
	he_request_enter_(req);
	if (!bev_freed(req))
		begin(req);
	he_request_leave_(req);
}

static void
watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct evhappy_request *req = arg;

	he_request_enter_(req);
	bev_freed(req);
	he_request_leave_(req);
}

/* Close sockets, cancel queries, stop timers; the memory stays until
 * request_free so that code still on the stack may look at it. */
static void
release_resources(struct evhappy_request *req)
{
	int i;

	if (req->torn_down)
		return;
	req->torn_down = 1;
	he_resolve_cancel_(req);
	for (i = 0; i < req->nslots; i++)
		slot_close(&req->slots[i]);
	if (req->timer)
		event_del(req->timer);
	if (req->watch)
		event_del(req->watch);
	he_bev_detach_(req);
}

void
he_request_abort_(struct evhappy_request *req)
{
	if (req->cancelled || req->finished)
		return;
	req->cancelled = 1;
	he_race_cancel_(&req->race, he_now_());
	if (req->busy == 0)
		release_resources(req);
	if (req->defer)
		event_active(req->defer, EV_READ, 0);
}

void
evhappy_request_cancel(struct evhappy_request *req)
{
	if (req)
		he_request_abort_(req);
}

static void
request_unlink(struct evhappy_request *req)
{
	if (req->prev)
		req->prev->next = req->next;
	else
		req->he->requests = req->next;
	if (req->next)
		req->next->prev = req->prev;
}

static void
request_free(struct evhappy_request *req)
{
	release_resources(req);
	request_unlink(req);
	if (req->timer)
		event_free(req->timer);
	if (req->defer)
		event_free(req->defer);
	if (req->watch)
		event_free(req->watch);
	he_race_clear_(&req->race);
	evhappy_addrinfo_free(req->set.local);
	free(req->slots);
	free(req->host);
	free(req);
}

/* Free a request; a private context goes with its last request. */
static void
request_reap(struct evhappy_request *req)
{
	struct evhappy *he = req->he;

	request_free(req);
	if (he->autofree && !he->requests && he->busy == 0)
		context_destroy(he);
}

void
he_request_discard_(struct evhappy_request *req)
{
	request_free(req);
}

static int
request_events(struct evhappy_request *req)
{
	struct event_base *base = req->he->base;

	req->timer = event_new(base, -1, 0, timer_cb, req);
	req->defer = event_new(base, -1, 0, defer_cb, req);
	if (req->bev) {
		struct timeval tv;
		int64_t d = req->set.race.attempt_delay;
		tv.tv_sec = (time_t)(d / 1000000);
		tv.tv_usec = (suseconds_t)(d % 1000000);
		req->watch = event_new(base, -1, EV_PERSIST, watch_cb, req);
		if (req->watch && event_add(req->watch, &tv) < 0)
			return -1;
	}
	return req->timer && req->defer && (!req->bev || req->watch) ? 0 : -1;
}

/* Only stream addresses of the two families race. */
static struct evutil_addrinfo *
usable_copy(const struct evutil_addrinfo *addrs)
{
	struct evutil_addrinfo *out = he_addrinfo_copy_stream_(addrs,
	    AF_UNSPEC);

	if (!out && !errno)	/* nothing usable */
		errno = EINVAL;
	return out;
}

static int
request_targets(struct evhappy_request *req,
    const struct evutil_addrinfo *addrs, const char *hostname)
{
	struct evutil_addrinfo *list;

	if (!hostname) {
		if (!(list = usable_copy(addrs)))
			return -1;
		he_race_add_known_(&req->race, list);
		return 0;
	}
	switch (he_parse_literal_(hostname, req->port, &list)) {
	case 1:
		if (req->family != AF_UNSPEC &&
		    list->ai_family != req->family) {
			/* As getaddrinfo: a literal of the other family. */
			evhappy_addrinfo_free(list);
			req->race.dns_error[HE_FAM_V4] = EVUTIL_EAI_FAMILY;
			return 0;
		}
		he_race_add_known_(&req->race, list);
		return 0;
	case 0:
		if (!(req->host = strdup(hostname))) {
			errno = ENOMEM;
			return -1;
		}
		req->race.cfg.sort = evhappy_addrinfo_sort;
		if (req->family != AF_INET)
			he_race_expect_dns_(&req->race, HE_FAM_V6);
		if (req->family != AF_INET6)
			he_race_expect_dns_(&req->race, HE_FAM_V4);
		return 0;
	default:
		return -1;
	}
}

struct evhappy_request *
he_request_new_(struct evhappy *he, const struct evutil_addrinfo *addrs,
    int family, const char *hostname, int port)
{
	struct evhappy_request *req = calloc(1, sizeof(*req));

	if (!req) {
		errno = ENOMEM;
		return NULL;
	}
	req->he = he;
	req->family = family;
	req->port = port;
	req->set = he->set;
	req->set.local = NULL;
	he_race_init_(&req->race, &he->set.race);
	req->race.cfg.history = he->set.history ? he_history_global_() : NULL;
	if (he->set.local && !(req->set.local =
	    evhappy_addrinfo_dup(he->set.local)))
		goto fail;
	if (request_targets(req, addrs, hostname) < 0)
		goto fail;
	req->next = he->requests;
	if (he->requests)
		he->requests->prev = req;
	he->requests = req;
	return req;
fail:
	he_race_clear_(&req->race);
	evhappy_addrinfo_free(req->set.local);
	free(req->host);
	free(req);
	return NULL;
}

void
he_request_launch_(struct evhappy_request *req)
{
	event_active(req->defer, EV_READ, 0);
}

/* Events are made after the caller set bev, since a bufferevent race
 * also needs its watch. */
static struct evhappy_request *
request_ready(struct evhappy_request *req)
{
	if (request_events(req) < 0) {
		he_request_discard_(req);
		errno = ENOMEM;
		return NULL;
	}
	he_request_launch_(req);
	return req;
}

static int
valid_target(int family, const char *hostname, int port)
{
	return (family == AF_UNSPEC || family == AF_INET ||
	    family == AF_INET6) && hostname && *hostname && port >= 1 &&
	    port <= 65535;
}

struct evhappy_request *
evhappy_start_connection(struct evhappy *he,
    const struct evutil_addrinfo *addrs, evhappy_connect_cb cb, void *arg)
{
	struct evhappy_request *req;

	if (!he || !addrs || !cb || he->dying) {
		errno = EINVAL;
		return NULL;
	}
	if (!(req = he_request_new_(he, addrs, AF_UNSPEC, NULL, 0)))
		return NULL;
	req->cb = cb;
	req->cb_arg = arg;
	return request_ready(req);
}

struct evhappy_request *
evhappy_resolve_and_connect(struct evhappy *he, int family,
    const char *hostname, int port, evhappy_connect_cb cb, void *arg)
{
	struct evhappy_request *req;

	if (!he || !cb || he->dying || !valid_target(family, hostname, port)) {
		errno = EINVAL;
		return NULL;
	}
	if (!(req = he_request_new_(he, NULL, family, hostname, port)))
		return NULL;
	req->cb = cb;
	req->cb_arg = arg;
	return request_ready(req);
}

int
he_start_bev_race_(struct evhappy *he, struct bufferevent *bev,
    const struct evutil_addrinfo *addrs, int family, const char *hostname,
    int port)
{
	struct evhappy_request *req;

	if (hostname && !valid_target(family, hostname, port)) {
		errno = EINVAL;
		return -1;
	}
	if (!(req = he_request_new_(he, addrs, family, hostname, port)))
		return -1;
	he_bev_attach_(req, bev);
	return request_ready(req) ? 0 : -1;
}
