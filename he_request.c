/*
 * A request's life: it carries out the actions of the pure core
 * (he_race.c) with the attempts of he_attempt.c, the resolver of
 * he_resolve.c and one timer, hands the outcome to a callback or to the
 * bufferevent adapter (he_bev.c), and keeps user callbacks safe to cancel
 * or free from.
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
#include <poll.h>

int64_t
he_now_(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
he_usec_to_tv_(int64_t us, struct timeval *tv)
{
	if (us < 0)
		us = 0;
	tv->tv_sec = (time_t)(us / 1000000);
	tv->tv_usec = (suseconds_t)(us % 1000000);
}

static void request_free(struct evhappy_request *req, int finalizing);
static void request_reap(struct evhappy_request *req, int finalizing);
static void timer_cb(evutil_socket_t fd, short what, void *arg);

/* Assigned when first needed: a one-address race that wins never is. */
static struct event *
timer_ev(struct evhappy_request *req)
{
	if (!req->timer_assigned) {
		event_assign(req->timer, req->he->base, -1, 0, timer_cb, req);
		req->timer_assigned = 1;
	}
	return req->timer;
}

/* The request's timer runs on the next loop turn.  timer_set says the
 * timer may be pending or active, so that a finished race deletes it
 * only when there is something to delete. */
static void
timer_now(struct evhappy_request *req)
{
	event_active(timer_ev(req), EV_TIMEOUT, 0);
	req->timer_set = 1;
}

static void
timer_stop(struct evhappy_request *req)
{
	if (req->timer_set)
		event_del(req->timer);
	req->timer_set = 0;
	req->timer_at = HE_NEVER;
}

/* ---- the callback protocol ---------------------------------------------- */

/* A user callback may cancel its race, free the context or free the
 * bufferevent.  So every libevent callback of a request runs between
 * enter and leave; cancelling inside only marks, and the outermost leave
 * releases what was marked (hiredis' adapters do the same). */

/* Not cancelled, and its context is not being freed. */
static int
alive(const struct evhappy_request *req)
{
	return req->state != HE_REQ_CANCELLED &&
	    req->he->state != HE_CTX_DYING;
}

int
he_request_live_(const struct evhappy_request *req)
{
	return alive(req) && req->state <= HE_REQ_RACING;
}

void
he_request_enter_(struct evhappy_request *req)
{
	req->busy++;
	req->he->busy++;
}

/* Close sockets, cancel queries, stop the timer and the bufferevent watch;
 * the memory stays until request_free so that code still on the stack may
 * look at it.  Safe to call again. */
static void
release(struct evhappy_request *req, int finalizing)
{
	int i;

	he_resolve_cancel_(req);
	for (i = 0; i < req->nslots; i++)
		he_slot_close_(&req->slots[i], finalizing);
	timer_stop(req);
	he_bev_detach_(&req->bev);
	req->released = 1;
}

void
he_request_leave_(struct evhappy_request *req)
{
	struct evhappy *he = req->he;
	int over = req->state == HE_REQ_FINISHED ||
	    req->state == HE_REQ_CANCELLED;

	req->busy--;
	he->busy--;
	if (req->busy > 0)
		return;
	if (over)
		release(req, 0);
	if (he->state == HE_CTX_DYING) {
		if (he->busy == 0)
			he_context_destroy_(he);
		return;
	}
	/* A finished race's handle is gone once its callback returned; a
	 * cancelled one lives until the next loop turn (the user may cancel
	 * again before then), unless no user holds it (a bufferevent race). */
	if (req->state == HE_REQ_FINISHED ||
	    (req->state == HE_REQ_CANCELLED && !req->cb))
		request_reap(req, 0);
	else if (req->state == HE_REQ_CANCELLED)
		timer_now(req);
}

void
he_trace_(struct evhappy_request *req, enum evhappy_trace_kind kind,
    int family, const struct sockaddr *addr, ev_socklen_t addrlen, int error,
    int naddrs)
{
	struct evhappy_trace ev;

	if (kind == EVHAPPY_TRACE_DNS_QUERY || kind == EVHAPPY_TRACE_DNS_ANSWER)
		he_report_note_dns_(req, kind, family, error, naddrs);
	if (!req->set.trace)
		return;		/* most races: build nothing */
	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.family = family ? family : (addr ? addr->sa_family : 0);
	ev.addr = addr;
	ev.addrlen = addrlen;
	ev.error = error;
	ev.naddrs = naddrs;
	he_trace_event_(req, &ev);
}

void
he_trace_event_(struct evhappy_request *req, struct evhappy_trace *ev)
{
	if (!req->set.trace || !alive(req))
		return;
	he_usec_to_tv_(he_now_() - req->race.began, &ev->elapsed);
	req->set.trace(ev, req->set.trace_arg);
}

/* libevent tells nobody of bufferevent_free() until its finalizer runs, so
 * every callback of a bufferevent race looks first; a freed one stops here,
 * silently. */
static int
bev_freed(struct evhappy_request *req)
{
	/* Inside the start call the user cannot have freed it, and may not
	 * have set its callbacks yet (libevent allows that order): an evdns
	 * answer from its hosts table arrives here before the call returns. */
	if (req->state == HE_REQ_STARTING)
		return 0;
	if (req->cb || !he_bev_gone_(&req->bev))
		return 0;
	he_request_abort_(req);
	return 1;
}

/* ---- attempts ----------------------------------------------------------- */

static void drain(struct evhappy_request *req);
static void attempt_ready_cb(evutil_socket_t fd, short what, void *arg);

static int
slots_reserve(struct evhappy_request *req, int i)
{
	struct he_slot *s;
	int j, n;

	if (i < req->nslots)
		return 0;
	n = 2 * req->nslots;
	if (n <= i)
		n = i + 1;
	if (req->slots == &req->first_slot) {
		if ((s = malloc((size_t)n * sizeof(*s))) != NULL)
			s[0] = req->first_slot;
	} else {
		s = realloc(req->slots, (size_t)n * sizeof(*s));
	}
	if (!s)
		return -1;
	for (j = req->nslots; j < n; j++) {
		s[j].fd = -1;
		s[j].ev = NULL;
		s[j].storage = NULL;
		s[j].persist = 0;
	}
	req->slots = s;
	req->nslots = n;
	return 0;
}

static void
trace_attempt(struct evhappy_request *req, enum evhappy_trace_kind kind,
    int i, int error)
{
	const struct evutil_addrinfo *ai = req->race.attempts[i].ai;

	he_trace_(req, kind, 0, ai->ai_addr, (ev_socklen_t)ai->ai_addrlen,
	    error, 0);
}

/* A race whose first attempt is started with nothing else to wait for
 * (one address, no query out) has one wake-up, its deadline: the attempt's
 * event carries it as its timeout, and the timer stays unused (arm_timer).
 * The core's clock of the start stands for now: a few microseconds late
 * at most, and a late wake-up is fine. */
static const struct timeval *
deadline_ride(struct evhappy_request *req, int i, struct timeval *tv)
{
	if (i != 0 || he_race_next_wakeup_(&req->race) != req->race.deadline)
		return NULL;
	req->deadline_slot = i;
	he_usec_to_tv_(req->race.deadline - req->race.attempts[i].started, tv);
	return tv;
}

/* Whether the wake-up at `at` rides on an attempt's event. */
static int
deadline_rides(const struct evhappy_request *req, int64_t at)
{
	int i = req->deadline_slot;

	return i >= 0 && at == req->race.deadline && i < req->nslots &&
	    req->slots[i].ev && req->race.attempts[i].state ==
	    HE_ATTEMPT_RUNNING;
}

static void
attempt_start(struct evhappy_request *req, int i)
{
	struct timeval tv;
	int err;

	trace_attempt(req, EVHAPPY_TRACE_ATTEMPT_START, i, 0);
	if (!he_request_live_(req))
		return;
	if (slots_reserve(req, i) < 0) {
		err = ENOMEM;
	} else {
		/* The winner's socket goes to the bufferevent without leaving
		 * the kernel's epoll set (he_bev_deliver_): libevent must not
		 * drop the attempt's event before the bufferevent's is added.
		 * A socket for the user's callback leaves it anyway. */
		req->slots[i].persist = !req->cb;
		err = he_attempt_open_(&req->slots[i], req->race.attempts[i].ai,
		    &req->set.sock, req->he->base, deadline_ride(req, i, &tv),
		    attempt_ready_cb, req);
	}
	if (!err)
		return;
	trace_attempt(req, EVHAPPY_TRACE_ATTEMPT_FAILED, i, err);
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

/* Watch attempt i again (it was not connected yet), keeping the deadline
 * on it if it carries that. */
static int
attempt_rewatch(struct evhappy_request *req, int i)
{
	struct timeval tv;

	if (req->deadline_slot != i)
		return event_add(req->slots[i].ev, NULL);
	he_usec_to_tv_(req->race.deadline - he_now_(), &tv);
	return event_add(req->slots[i].ev, &tv);
}

static void
attempt_fail(struct evhappy_request *req, int i, int err)
{
	trace_attempt(req, EVHAPPY_TRACE_ATTEMPT_FAILED, i, err);
	he_slot_close_(&req->slots[i], 0);
	if (he_request_live_(req))
		he_race_attempt_failed_(&req->race, he_now_(), i, err);
}

/* Attempt i's socket is writable: connected, or failed. */
static void
attempt_ready(struct evhappy_request *req, int i)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(req->slots[i].fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if ((err == EINPROGRESS || err == EINTR) &&
	    attempt_rewatch(req, i) == 0)
		return;
	if (err == EINPROGRESS || err == EINTR)
		err = ENOMEM;	/* cannot watch it any more: give it up */
	if (err)
		attempt_fail(req, i, err);
	else if (he_race_attempt_connected_(&req->race, he_now_(), i)) {
		trace_attempt(req, EVHAPPY_TRACE_ATTEMPT_WON, i, 0);
	} else {
		he_slot_close_(&req->slots[i], 0);
	}
}

static void wake(struct evhappy_request *req);

/* Whether attempt i still runs, with its socket. */
static int
attempt_running(const struct evhappy_request *req, int i)
{
	return he_request_live_(req) && !req->race.done &&
	    req->race.attempts[i].state == HE_ATTEMPT_RUNNING &&
	    req->slots[i].fd >= 0;
}

static int
writable_now(evutil_socket_t fd)
{
	struct pollfd p;

	p.fd = fd;
	p.events = POLLOUT;
	p.revents = 0;
	return poll(&p, 1, 0) == 1;
}

/* Attempt i's event carried the deadline and fired for it, maybe a little
 * early (libevent's clock is coarse): the rest of the wait goes on the
 * timer, and the attempt, if it still runs, is watched again without a
 * timeout (libevent dropped the event, or set a persistent one's timeout
 * again). */
static void
attempt_deadline(struct evhappy_request *req, int i)
{
	struct event *ev;

	req->deadline_slot = -1;
	wake(req);
	if (!attempt_running(req, i))
		return;
	ev = req->slots[i].ev;
	if (event_del(ev) < 0 || event_add(ev, NULL) < 0)
		attempt_fail(req, i, ENOMEM);
	else if (writable_now(req->slots[i].fd))
		attempt_ready(req, i);
}

/* Writable, or (the event that carries the deadline) the deadline. */
static void
attempt_ready_cb(evutil_socket_t fd, short what, void *arg)
{
	struct evhappy_request *req = arg;
	int i = slot_index(req, fd);

	if (i < 0)
		return;
	he_request_enter_(req);
	if (!bev_freed(req)) {
		if (what & EV_TIMEOUT)
			attempt_deadline(req, i);
		else
			attempt_ready(req, i);
		drain(req);
	}
	he_request_leave_(req);
}

/* The deadline came: an attempt whose handshake completed but whose
 * writability the loop has not reported yet (a busy loop: epoll hands out a
 * bounded number of events a turn, and every expired timer runs in the same
 * turn) connected in time, and wins. */
static void
attempts_ready_at_deadline(struct evhappy_request *req, int64_t now)
{
	int i;

	if (now < req->race.deadline)
		return;
	for (i = 0; i < req->race.nattempts && i < req->nslots; i++)
		if (attempt_running(req, i) && writable_now(req->slots[i].fd))
			attempt_ready(req, i);
}

static void
attempt_close(struct evhappy_request *req, int i)
{
	if (i < req->nslots)
		he_slot_close_(&req->slots[i], 0);
	trace_attempt(req, EVHAPPY_TRACE_ATTEMPT_CANCELLED, i,
	    req->race.attempts[i].error);
}

/* ---- the outcome -------------------------------------------------------- */

/* Take the winner's socket out of its slot: it is the user's now.  Its
 * event is deleted here, or, with ev, left added for the caller to delete
 * (an event_new'd one stays in the slot, which release() frees). */
static evutil_socket_t
take_winner(struct evhappy_request *req, struct event **ev)
{
	struct he_slot *s;
	evutil_socket_t fd;

	if (req->race.winner < 0)
		return -1;
	s = &req->slots[req->race.winner];
	fd = s->fd;
	s->fd = -1;
	if (!ev) {
		he_slot_close_(s, 0);
		return fd;
	}
	*ev = s->ev;
	if (s->ev == s->storage)
		s->ev = NULL;	/* in the request's memory: nothing to free */
	return fd;
}

static void
deliver(struct evhappy_request *req)
{
	struct evhappy_report report;
	evutil_socket_t fd;

	he_trace_(req, EVHAPPY_TRACE_DONE, 0, NULL, 0, req->race.error, 0);
	if (!alive(req))
		return;
	req->state = HE_REQ_FINISHED;
	if (!req->cb) {
		/* The winner's event stays until the bufferevent watches the
		 * socket too, so that the kernel's watch stays. */
		struct event *watching = NULL;

		fd = take_winner(req, &watching);
		/* Every callback that gets here asked bev_freed first; only
		 * user code run since (a trace, a factory) may have freed it. */
		he_bev_deliver_(&req->bev, fd, watching, req->race.error,
		    req->race.dns_failure,
		    req->set.trace || req->set.sock.factory);
		return;
	}
	fd = take_winner(req, NULL);
	report.req = req;
	req->cb(fd, &report, req->cb_arg);
}

/* The core said DONE.  Inside the start call the outcome waits for the
 * next loop turn. */
static void
decide(struct evhappy_request *req)
{
	req->ended = he_now_();
	if (req->state == HE_REQ_STARTING) {
		req->state = HE_REQ_DECIDED;
		timer_now(req);
		return;
	}
	deliver(req);
}

static void
arm_timer(struct evhappy_request *req)
{
	int64_t at = he_race_next_wakeup_(&req->race);
	struct timeval tv;

	if (at == HE_NEVER || deadline_rides(req, at)) {
		timer_stop(req);
		return;
	}
	if (at == req->timer_at)
		return;		/* already set for then (most answers) */
	he_usec_to_tv_(at - he_now_(), &tv);
	if (event_add(timer_ev(req), &tv) < 0) {
		/* libevent could not grow its timer heap: without a wake-up the
		 * race would go silent.  event_active needs no memory; on the
		 * next turn the core sees oom and ends the race with ENOMEM. */
		req->timer_at = HE_NEVER;
		req->race.oom = 1;
		timer_now(req);
		return;
	}
	req->timer_set = 1;
	req->timer_at = at;
}

static void
drain(struct evhappy_request *req)
{
	struct he_action a;

	/* Memory ran out inside the core (a start, an answer): end the race
	 * with ENOMEM now, not at its next timer. */
	if (req->race.oom && !req->race.done)
		he_race_timer_(&req->race, he_now_());
	while (he_request_live_(req) &&
	    he_race_next_action_(&req->race, &a)) {
		switch (a.kind) {
		case HE_ACT_START:
			attempt_start(req, a.attempt);
			break;
		case HE_ACT_CLOSE:
			attempt_close(req, a.attempt);
			break;
		case HE_ACT_DONE:
			decide(req);
			break;
		case HE_ACT_HISTORY:
			he_trace_history_(req, &req->race.notes[a.attempt]);
			break;
		}
	}
	if (he_request_live_(req))
		arm_timer(req);
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
	he_race_free_list_(&req->race, list);
	he_request_leave_(req);
}

/* ---- beginning ---------------------------------------------------------- */

static void
begin(struct evhappy_request *req)
{
	he_race_begin_(&req->race, he_now_());
	if (req->host)
		he_resolve_start_(req);
	drain(req);
}

/* The time the core asked for came (on the timer, or on the event of the
 * attempt that carries the deadline). */
static void
wake(struct evhappy_request *req)
{
	int64_t now = he_now_();

	attempts_ready_at_deadline(req, now);
	if (he_request_live_(req))
		he_race_timer_(&req->race, now);
}

/* The request's one event: the core's wake-ups, and the next loop turn
 * for what may not happen inside the start call. */
static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct evhappy_request *req = arg;

	(void)fd;
	(void)what;
	/* libevent deleted it (not persistent) to run us */
	req->timer_set = 0;
	req->timer_at = HE_NEVER;
	if (req->state == HE_REQ_CANCELLED) {
		if (req->busy == 0)
			request_reap(req, 0);
		return;
	}
	he_request_enter_(req);
	if (bev_freed(req))
		goto end;
	switch (req->state) {
	case HE_REQ_PENDING:
		req->state = HE_REQ_RACING;
		begin(req);
		break;
	case HE_REQ_DECIDED:
		deliver(req);
		break;
	default:
		wake(req);
		drain(req);
		break;
	}
end:
	he_request_leave_(req);
}

void
he_request_launch_(struct evhappy_request *req)
{
	/* With no trace callback and no socket factory, nothing the user
	 * wrote can run while the race begins: start the first attempt now,
	 * so its SYN leaves as early as libevent's would. */
	if (req->set.trace || req->set.sock.factory) {
		req->state = HE_REQ_PENDING;
		timer_now(req);
		return;
	}
	req->state = HE_REQ_STARTING;
	/* Nothing may free the request while the start call is still on the
	 * stack (the caller returns its handle): what ends it now is
	 * released here and reaped on the next loop turn. */
	req->busy++;
	begin(req);
	req->busy--;
	if (req->state == HE_REQ_STARTING) {
		req->state = HE_REQ_RACING;
	} else if (req->state == HE_REQ_CANCELLED) {
		release(req, 0);
		timer_now(req);
	}
}

/* ---- the end ------------------------------------------------------------ */

void
he_request_abort_(struct evhappy_request *req)
{
	if (req->state == HE_REQ_CANCELLED || req->state == HE_REQ_FINISHED)
		return;
	req->state = HE_REQ_CANCELLED;
	he_race_cancel_(&req->race, he_now_());
	if (req->busy == 0)
		release(req, 0);
}

void
evhappy_request_cancel(struct evhappy_request *req)
{
	if (!req || req->state == HE_REQ_CANCELLED ||
	    req->state == HE_REQ_FINISHED)
		return;
	he_request_abort_(req);
	if (req->busy == 0)
		timer_now(req);
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

/* The memory, once nothing refers to it any more. */
static void
request_dispose(struct evhappy_request *req)
{
	/* events that live in our memory: tell libevent's debug mode */
	if (req->timer_assigned)
		event_debug_unassign(req->timer);
	event_debug_unassign(req->first_slot.storage);
	he_race_clear_(&req->race);
	evhappy_addrinfo_free(req->set.sock.local);
	if (req->slots != &req->first_slot)
		free(req->slots);
	free(req->host);
	free(req);
}

static void
request_free(struct evhappy_request *req, int finalizing)
{
	/* Released already (the usual end): only the timer may have been
	 * activated since. */
	if (req->released)
		timer_stop(req);	/* activated since, maybe */
	else
		release(req, finalizing);
	request_unlink(req);
	request_dispose(req);
}

void
he_request_free_(struct evhappy_request *req)
{
	request_free(req, 0);
}

/* The race's bufferevent was freed; we are inside its finalizer, maybe
 * inside event_base_free(), which walks the active queues.  Freeing our
 * memory here is safe: our events are deleted first, and none can sit
 * behind this finalizer in a queue (they are all activated before a
 * bufferevent_free() could queue it, or by us, never after it).  (An
 * event_finalize() of our own would not do: inside event_base_free()
 * libevent 2.1 reads the event after its finalizer returned.) */
static void
bev_finalized(struct evhappy_request *req)
{
	struct evhappy *he = req->he;

	if (req->state == HE_REQ_CANCELLED || req->state == HE_REQ_FINISHED)
		return;
	req->state = HE_REQ_CANCELLED;
	he_race_cancel_(&req->race, he_now_());
	if (req->busy)
		return;		/* the outermost leave frees it */
	request_free(req, 1);
	if (he->state == HE_CTX_PRIVATE && !he->requests && he->busy == 0)
		he_context_destroy_(he);
}

/* The race's bufferevent was finalized, or taken back by a user who now
 * starts a new race on it (outside our callbacks, or inside one of another
 * request's): this one ends silently. */
static void
bev_let_go(void *arg, int finalized)
{
	struct evhappy_request *req = arg;

	if (finalized) {
		bev_finalized(req);
		return;
	}
	he_request_abort_(req);
	if (req->busy == 0)
		timer_now(req);
}

int
he_request_attach_bev_(struct evhappy_request *req, struct bufferevent *bev)
{
	return he_bev_attach_(&req->bev, bev, bev_let_go, req);
}

/* Free a request; a private context goes with its last request. */
static void
request_reap(struct evhappy_request *req, int finalizing)
{
	struct evhappy *he = req->he;

	request_free(req, finalizing);
	if (he->state == HE_CTX_PRIVATE && !he->requests && he->busy == 0)
		he_context_destroy_(he);
}

/* ---- making one --------------------------------------------------------- */

/* Only stream addresses of the two families race. */
static struct evutil_addrinfo *
usable_copy(struct evhappy_request *req, const struct evutil_addrinfo *addrs)
{
	const struct evutil_addrinfo *ai;
	struct evutil_addrinfo *out;

	/* Most lists have one address: it lives in the race, unallocated. */
	if ((out = he_race_own_entry_(&req->race, addrs)) != NULL) {
		if (he_addr_usable_(out->ai_addr))
			return out;
		errno = EINVAL;
		return NULL;
	}
	errno = 0;
	out = he_addrinfo_copy_stream_(addrs, AF_UNSPEC);
	for (ai = out; ai && !he_addr_usable_(ai->ai_addr); ai = ai->ai_next)
		;
	if (out && !ai) {	/* only addresses never connected to */
		evhappy_addrinfo_free(out);
		out = NULL;
		errno = EINVAL;
	}
	if (!out && !errno)	/* no stream address of either family */
		errno = EINVAL;
	return out;
}

static int
request_targets(struct evhappy_request *req,
    const struct evutil_addrinfo *addrs, const char *hostname)
{
	struct evutil_addrinfo *list;

	if (!hostname) {
		if (!(list = usable_copy(req, addrs)))
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
	/* One allocation: the request, then its timer and its first
	 * attempt's event (their size is libevent's to know). */
	struct evhappy_request *req;
	size_t at = (sizeof(*req) + 15) & ~(size_t)15;
	size_t evsize = (event_get_struct_event_size() + 15) & ~(size_t)15;

	req = calloc(1, at + 2 * evsize);

	if (!req) {
		errno = ENOMEM;
		return NULL;
	}
	req->timer = (struct event *)((char *)req + at);
	req->first_slot.fd = -1;
	req->first_slot.storage = (struct event *)((char *)req + at + evsize);
	req->slots = &req->first_slot;
	req->nslots = 1;
	req->timer_at = HE_NEVER;
	req->deadline_slot = -1;
	req->he = he;
	req->family = family;
	req->port = port;
	req->set = he->set;
	req->set.sock.local = NULL;
	he_race_init_(&req->race, &he->race);
	req->race.cfg.history = he->set.history ? he_history_global_() : NULL;
	req->race.cfg.no_notes = !he->set.trace;
	if (he->set.sock.local && !(req->set.sock.local =
	    evhappy_addrinfo_dup(he->set.sock.local)))
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
	evhappy_addrinfo_free(req->set.sock.local);
	free(req->host);
	free(req);
	return NULL;
}
