/*
 * A request: the glue that carries out the pure core's actions (he_race.c)
 * with the sockets of he_sock.c, the resolvers of he_resolve.c, one timer
 * and the history store, hands the outcome to a callback or to the
 * bufferevent adapter (he_bev.c), and keeps user callbacks safe to cancel
 * or free from.  Its life is the ladder drawn in he_request.h.
 */
#include "he_internal.h"
#include "he_request.h"
#include "he_literal.h"
#include "he_persist.h"
#include "he_vec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>

static void timer_cb(evutil_socket_t fd, short what, void *arg);
static void https_host_answer(struct evhappy_request *req, int af,
    struct evutil_addrinfo **list);
static void settle(struct evhappy_request *req, int finalizing);
static int nat64_answer(struct evhappy_request *req, int64_t now,
    struct evutil_addrinfo **list);
static void nat64_now(struct evhappy_request *req, int64_t now,
    struct evutil_addrinfo **list);

/* ---- the timer ---------------------------------------------------------- */

/* Assigned when first needed: a one-address race that wins never is. */
static struct event *
timer_ev(struct evhappy_request *req)
{
	if (!req->timer_assigned) {
		event_assign(req->timer, req->owner->base, -1, 0, timer_cb, req);
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

/* ---- the ladder (he_request.h) ------------------------------------------ */

/* May still say something: a trace, the outcome. */
static int
speaking(const struct evhappy_request *req)
{
	return req->state <= HE_REQ_DECIDED && !req->owner->closing;
}

/* The race runs: it may start attempts and take answers. */
static int
racing(const struct evhappy_request *req)
{
	return req->state <= HE_REQ_RACING && !req->owner->closing;
}

int
he_request_over_(const struct evhappy_request *req)
{
	return req->state >= HE_REQ_ENDED;
}

/* What the race taught goes to the history store, once, when it ended. */
static void
teach(struct evhappy_request *req)
{
	struct he_lesson ls[HE_LESSONS_MAX];
	int i, n, persist;

	if (!req->history || req->taught || !req->race.done)
		return;
	req->taught = 1;
	/* lessons go to the network in use (he_persist.h) */
	if (!((persist = he_persist_state_()) & HE_PERSIST_NET_READY))
		he_persist_need_network_slow_(req->history);
	n = he_race_lessons_(&req->race, ls, HE_LESSONS_MAX);
	for (i = 0; i < n; i++)
		he_history_learn_(req->history, ls[i].sa, ls[i].at,
		    ls[i].verdict, ls[i].error, ls[i].rtt);
	/* the history file: a save becomes due, done once the outcome is
	   delivered (request_free) */
	if (n && (persist & HE_PERSIST_FILE_ON)) {
		he_persist_taught_(he_now_());
		req->unsaved = 1;
	}
}

/* The one writer of req->state. */
static void
move(struct evhappy_request *req, enum he_req_state to)
{
	req->state = to;
	if (to == HE_REQ_STOPPED)
		he_race_cancel_(&req->race, he_now_());
	if (to >= HE_REQ_DECIDED)
		teach(req);
}

/* A user callback may cancel its race, free the context or free the
 * bufferevent.  So every libevent callback of a request runs between
 * enter and leave; what the ladder asks then waits for the outermost
 * leave (hiredis' adapters do the same). */
static void
enter(struct evhappy_request *req)
{
	req->busy++;
	req->owner->busy++;
}

static void
leave(struct evhappy_request *req)
{
	req->busy--;
	req->owner->busy--;
	settle(req, 0);
}

/* Close sockets, cancel queries, stop the timer and the bufferevent watch;
 * the memory stays until request_free so that code still on the stack may
 * look at it.  finalizing: inside a libevent finalizer (see
 * he_sock_close_). */
static void
release(struct evhappy_request *req, int finalizing)
{
	int i;

	for (i = 0; i < HE_NFAM; i++) {
		if (req->queries[i].q)
			he_query_cancel_(req->queries[i].q);
		req->queries[i].q = NULL;
	}
	if (req->https)
		he_https_cancel_(req->https);
	if (req->nat64)
		he_synth_cancel_(req->nat64);
	for (i = 0; i < req->nsocks; i++)
		he_sock_close_(&req->socks[i], finalizing);
	timer_stop(req);
	he_bev_detach_(&req->bev);
	req->released = 1;
}

static void
request_unlink(struct evhappy_request *req)
{
	struct he_owner *o = req->owner;

	if (req->prev)
		req->prev->next = req->next;
	else
		o->requests = req->next;
	if (req->next)
		req->next->prev = req->prev;
}

/* The memory, once nothing refers to it any more; the owner is told
 * unless it is the one freeing. */
static void
request_free(struct evhappy_request *req, int finalizing, int tell)
{
	struct he_owner *o = req->owner;

	if (!req->released)
		release(req, finalizing);
	else
		timer_stop(req);	/* activated since, maybe */
	request_unlink(req);
	/* A save of the history file that is due, once the outcome was
	 * delivered: it must not delay it. */
	if (req->unsaved)
		he_persist_save_due_(req->history, he_now_());
	/* events that live in our memory: tell libevent's debug mode */
	if (req->timer_assigned)
		event_debug_unassign(req->timer);
	event_debug_unassign(req->first_sock.storage);
	he_race_clear_(&req->race);
	evhappy_addrinfo_free(req->set.sock.local);
	if (req->socks != &req->first_sock)
		free(req->socks);
	he_https_free_(req->https);
	if (req->nat64)
		he_synth_free_(req->nat64);
	free(req->host);
	free(req);
	if (tell)
		o->settled(o);
}

/* Do what the state asks, once no callback of the request is on the stack:
 * an ended or stopped request lets go of everything, and its memory goes
 * now, or on the next turn when the user holds a handle it may cancel
 * again.  A closing owner frees every request itself. */
static void
settle(struct evhappy_request *req, int finalizing)
{
	struct he_owner *o = req->owner;

	if (req->busy > 0)
		return;
	if (he_request_over_(req) && !req->released)
		release(req, finalizing);
	if (o->closing) {
		if (o->busy == 0)
			o->settled(o);
		return;
	}
	if (req->state == HE_REQ_ENDED ||
	    (req->state == HE_REQ_STOPPED && (finalizing || !req->cb)))
		request_free(req, finalizing, 1);
	else if (req->state == HE_REQ_STOPPED)
		timer_now(req);
}

void
he_request_stop_(struct evhappy_request *req)
{
	if (he_request_over_(req))
		return;
	move(req, HE_REQ_STOPPED);
	settle(req, 0);
}

void
he_request_free_(struct evhappy_request *req)
{
	request_free(req, 0, 0);
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
	he_request_stop_(req);
	return 1;
}

/* The race's bufferevent was finalized (we are inside its finalizer, maybe
 * inside event_base_free(), which walks the active queues: freeing our
 * memory here is safe, since our events are deleted first and none can sit
 * behind this finalizer in a queue), or taken back by a user who now
 * starts a new race on it: this one ends silently.  (An event_finalize()
 * of our own would not do: inside event_base_free() libevent 2.1 reads the
 * event after its finalizer returned.) */
static void
bev_let_go(void *arg, int finalized)
{
	struct evhappy_request *req = arg;

	if (he_request_over_(req))
		return;
	move(req, HE_REQ_STOPPED);
	settle(req, finalized);
}

int
he_request_attach_bev_(struct evhappy_request *req, struct bufferevent *bev)
{
	return he_bev_attach_(&req->bev, bev, bev_let_go, req);
}

/* ---- the trace ---------------------------------------------------------- */

/* Send an event (elapsed is filled in) to the trace callback, if any and
 * while the request may still speak. */
static void
trace_event(struct evhappy_request *req, struct evhappy_trace *ev)
{
	if (!req->set.trace || !speaking(req))
		return;
	he_usec_to_tv_(he_now_() - req->race.began, &ev->elapsed);
	req->set.trace(ev, req->set.trace_arg);
}

/* One event, with what the two kinds of callers below say (an address's
 * family unless family says it).  Most races have no trace callback: the
 * callers look first and build nothing, and this stays out of line, off
 * the connect path. */
static void trace_fill(struct evhappy_request *req,
    enum evhappy_trace_kind kind, int family, const struct sockaddr *addr,
    ev_socklen_t addrlen, const char *text, const struct evhappy_endpoint *ep,
    int error, int naddrs)
#ifdef __GNUC__
    __attribute__((noinline))
#endif
    ;

static void
trace_fill(struct evhappy_request *req, enum evhappy_trace_kind kind,
    int family, const struct sockaddr *addr, ev_socklen_t addrlen,
    const char *text, const struct evhappy_endpoint *ep, int error,
    int naddrs)
{
	struct evhappy_trace ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.family = family ? family : (addr ? addr->sa_family : 0);
	ev.addr = addr;
	ev.addrlen = addrlen;
	ev.text = text;
	ev.endpoint = ep;
	ev.error = error;
	ev.naddrs = naddrs;
	trace_event(req, &ev);
}

/* An event about an address. */
static void
trace(struct evhappy_request *req, enum evhappy_trace_kind kind,
    int family, const struct sockaddr *addr, ev_socklen_t addrlen, int error,
    int naddrs)
{
	if (req->set.trace)
		trace_fill(req, kind, family, addr, addrlen, NULL, NULL, error,
		    naddrs);
}

/* An event that says something in words, or names an endpoint. */
static void
trace_text(struct evhappy_request *req, enum evhappy_trace_kind kind,
    int family, const char *text, int error, int naddrs,
    const struct evhappy_endpoint *ep)
{
	if (req->set.trace)
		trace_fill(req, kind, family, NULL, 0, text, ep, error, naddrs);
}

static void
trace_attempt(struct evhappy_request *req, enum evhappy_trace_kind kind,
    int i, int error)
{
	const struct evutil_addrinfo *ai = req->race.attempts[i].ai;

	trace(req, kind, 0, ai->ai_addr, (ev_socklen_t)ai->ai_addrlen, error,
	    0);
}

static ev_socklen_t
addr_len(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return sizeof(struct sockaddr_in);
	if (ss->ss_family == AF_INET6)
		return sizeof(struct sockaddr_in6);
	return 0;
}

/* A history decision (he_race_hist.h's note) as a trace event. */
static void
trace_history(struct evhappy_request *req, const struct he_hist_note *n)
{
	struct evhappy_trace ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = EVHAPPY_TRACE_HISTORY;
	ev.addr = (const struct sockaddr *)&n->addr;
	ev.addrlen = addr_len(&n->addr);
	ev.family = n->addr.ss_family;
	ev.error = n->info.state == HE_HIST_FAILED ? n->info.error : 0;
	ev.history = (int)n->info.state;
	he_usec_to_tv_(n->info.age, &ev.age);
	he_usec_to_tv_(n->info.srtt, &ev.rtt);
	he_usec_to_tv_(n->info.rttvar, &ev.rttvar);
	if (n->kind == HE_NOTE_DELAY)
		he_usec_to_tv_(n->delay, &ev.delay);
	if (n->kind == HE_NOTE_MOVED) {
		ev.moved = 1;
		if (n->after.ss_family) {
			ev.after = (const struct sockaddr *)&n->after;
			ev.afterlen = addr_len(&n->after);
		}
	}
	ev.from_file = (n->info.flags & HE_HIST_FROM_FILE) != 0;
	trace_event(req, &ev);
}

/* The network whose history the race uses (he_persist.h). */
static void
trace_network(struct evhappy_request *req)
{
	struct evhappy_trace ev;
	char text[HE_PERSIST_TEXT];

	memset(&ev, 0, sizeof(ev));
	ev.kind = EVHAPPY_TRACE_NETWORK;
	ev.network = he_persist_network_(req->history, text, sizeof(text),
	    NULL);
	ev.text = text;
	trace_event(req, &ev);
}

/* ---- attempts ----------------------------------------------------------- */

static void drain(struct evhappy_request *req);
static void wake(struct evhappy_request *req);
static void attempt_ready_cb(evutil_socket_t fd, short what, void *arg);

/* Room for the socket of attempt i. */
static int
socks_reserve(struct evhappy_request *req, int i)
{
	struct he_sock *s;
	int j, n;

	if (i < req->nsocks)
		return 0;
	n = (int)he_vec_cap_((size_t)req->nsocks, (size_t)i + 1, 2);
	if (!n || !(s = he_vec_grow_(req->socks, &req->first_sock,
	    (size_t)req->nsocks, (size_t)n, sizeof(*s))))
		return ENOMEM;
	for (j = req->nsocks; j < n; j++) {
		s[j].fd = -1;
		s[j].ev = NULL;
		s[j].storage = NULL;
		s[j].persist = 0;
	}
	req->socks = s;
	req->nsocks = n;
	return 0;
}

/* A race whose first attempt is started with nothing else to wait for
 * (one address, no query out) has one wake-up, its deadline: the attempt's
 * event carries it as its timeout, and the timer stays unused (arm_timer).
 * The core's clock of the start stands for now: a few microseconds late
 * at most, and a late wake-up is fine.  A race with no deadline (the
 * drop-in's) has no wake-up to carry. */
static const struct timeval *
deadline_ride(struct evhappy_request *req, int i, struct timeval *tv)
{
	if (i != 0 || req->race.deadline == HE_NEVER ||
	    he_race_next_wakeup_(&req->race) != req->race.deadline)
		return NULL;
	req->deadline_sock = i;
	he_usec_to_tv_(req->race.deadline - req->race.attempts[i].started, tv);
	return tv;
}

/* Whether the wake-up at `at` rides on an attempt's event. */
static int
deadline_rides(const struct evhappy_request *req, int64_t at)
{
	int i = req->deadline_sock;

	return i >= 0 && at == req->race.deadline && i < req->nsocks &&
	    req->socks[i].ev && req->race.attempts[i].state ==
	    HE_ATTEMPT_RUNNING;
}

static void
attempt_start(struct evhappy_request *req, int i)
{
	struct timeval tv;
	int err;

	trace_attempt(req, EVHAPPY_TRACE_ATTEMPT_START, i, 0);
	if (!racing(req))
		return;
	if ((err = socks_reserve(req, i)) == 0) {
		/* The winner's socket goes to the bufferevent without leaving
		 * the kernel's epoll set (he_bev_deliver_): libevent must not
		 * drop the attempt's event before the bufferevent's is added.
		 * A socket for the user's callback leaves it anyway. */
		req->socks[i].persist = !req->cb;
		err = he_sock_open_(&req->socks[i], req->race.attempts[i].ai,
		    &req->set.sock, req->owner->base,
		    deadline_ride(req, i, &tv), attempt_ready_cb, req);
	}
	if (!err)
		return;
	trace_attempt(req, EVHAPPY_TRACE_ATTEMPT_FAILED, i, err);
	if (racing(req))
		he_race_attempt_failed_(&req->race, he_now_(), i, err);
}

static int
sock_index(const struct evhappy_request *req, evutil_socket_t fd)
{
	int i;

	for (i = 0; i < req->race.nattempts && i < req->nsocks; i++)
		if (req->socks[i].fd == fd)
			return i;
	return -1;
}

/* Watch attempt i again (it was not connected yet), keeping the deadline
 * on it if it carries that. */
static int
attempt_rewatch(struct evhappy_request *req, int i)
{
	struct timeval tv;

	if (req->deadline_sock != i)
		return event_add(req->socks[i].ev, NULL);
	he_usec_to_tv_(req->race.deadline - he_now_(), &tv);
	return event_add(req->socks[i].ev, &tv);
}

static void
attempt_fail(struct evhappy_request *req, int i, int err)
{
	trace_attempt(req, EVHAPPY_TRACE_ATTEMPT_FAILED, i, err);
	he_sock_close_(&req->socks[i], 0);
	if (racing(req))
		he_race_attempt_failed_(&req->race, he_now_(), i, err);
}

/* Attempt i's socket is writable: connected, or failed. */
static void
attempt_ready(struct evhappy_request *req, int i)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(req->socks[i].fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if ((err == EINPROGRESS || err == EINTR) &&
	    attempt_rewatch(req, i) == 0)
		return;
	if (err == EINPROGRESS || err == EINTR)
		err = ENOMEM;	/* cannot watch it any more: give it up */
	if (err)
		attempt_fail(req, i, err);
	else if (he_race_attempt_connected_(&req->race, he_now_(), i))
		trace_attempt(req, EVHAPPY_TRACE_ATTEMPT_WON, i, 0);
	else
		he_sock_close_(&req->socks[i], 0);
}

/* Whether attempt i still runs, with its socket. */
static int
attempt_running(const struct evhappy_request *req, int i)
{
	return racing(req) && !req->race.done &&
	    req->race.attempts[i].state == HE_ATTEMPT_RUNNING &&
	    req->socks[i].fd >= 0;
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

	req->deadline_sock = -1;
	wake(req);
	if (!attempt_running(req, i))
		return;
	ev = req->socks[i].ev;
	if (event_del(ev) < 0 || event_add(ev, NULL) < 0)
		attempt_fail(req, i, ENOMEM);
	else if (writable_now(req->socks[i].fd))
		attempt_ready(req, i);
}

/* Writable, or (the event that carries the deadline) the deadline. */
static void
attempt_ready_cb(evutil_socket_t fd, short what, void *arg)
{
	struct evhappy_request *req = arg;
	int i = sock_index(req, fd);

	if (i < 0)
		return;
	enter(req);
	if (!bev_freed(req)) {
		if (what & EV_TIMEOUT)
			attempt_deadline(req, i);
		else
			attempt_ready(req, i);
		drain(req);
	}
	leave(req);
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
	for (i = 0; i < req->race.nattempts && i < req->nsocks; i++)
		if (attempt_running(req, i) && writable_now(req->socks[i].fd))
			attempt_ready(req, i);
}

static void
attempt_close(struct evhappy_request *req, int i)
{
	if (i < req->nsocks)
		he_sock_close_(&req->socks[i], 0);
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
	struct he_sock *s;
	evutil_socket_t fd;

	if (req->race.winner < 0)
		return -1;
	s = &req->socks[req->race.winner];
	fd = s->fd;
	s->fd = -1;
	if (!ev) {
		he_sock_close_(s, 0);
		return fd;
	}
	*ev = s->ev;
	if (s->ev == s->storage)
		s->ev = NULL;	/* in the request's memory: nothing to free */
	return fd;
}

static const struct evhappy_endpoint no_endpoint;

const struct evhappy_endpoint *
he_request_endpoint_(const struct evhappy_request *req)
{
	const struct evutil_addrinfo *ai;
	const struct evhappy_endpoint *ep = NULL;

	if (req->https && req->race.winner >= 0) {
		ai = req->race.attempts[req->race.winner].ai;
		ep = he_https_endpoint_of_(req->https, HE_AI_META(ai)->group,
		    he_sockaddr_port_(ai->ai_addr));
	}
	return ep ? ep : &no_endpoint;
}

/* The caller's endpoint hook sees the winner before it goes on (a TLS
 * filter sets its ALPN and ECH there); a refusal fails the race with the
 * hook's errno. */
static void
endpoint_hook(struct evhappy_request *req)
{
	const struct he_https_conf *c = req->owner->https;
	int i = req->race.winner, err;

	if (!c || !c->endpoint_cb || i < 0 || !speaking(req))
		return;
	errno = 0;
	if (c->endpoint_cb(req->socks[i].fd, req->cb ? NULL : req->bev.bev,
	    he_request_endpoint_(req), c->endpoint_arg) == 0)
		return;
	err = errno ? errno : EIO;
	trace_attempt(req, EVHAPPY_TRACE_ATTEMPT_FAILED, i, err);
	he_sock_close_(&req->socks[i], 0);
	he_race_refuse_winner_(&req->race, err);
}

/* A bufferevent's endpoint outlives the race, for evhappy_get_endpoint. */
static void
keep_endpoint(struct evhappy_request *req)
{
	const struct evhappy_endpoint *ep;

	if (!req->https)
		return;		/* no record: nothing to keep */
	ep = he_request_endpoint_(req);
	if (ep->target && req->bev.bev)
		(void)he_bev_set_endpoint_(req->bev.bev, ep);	/* ENOMEM:
				   the getter says NULL, the race goes on */
}

static void
deliver(struct evhappy_request *req)
{
	struct evhappy_report report;
	evutil_socket_t fd;

	endpoint_hook(req);
	trace(req, EVHAPPY_TRACE_DONE, 0, NULL, 0, req->race.error, 0);
	if (!speaking(req))
		return;
	move(req, HE_REQ_ENDED);
	if (!req->cb) {
		/* The winner's event stays until the bufferevent watches the
		 * socket too, so that the kernel's watch stays. */
		struct event *watching = NULL;
		const struct evutil_addrinfo *won = req->race.winner >= 0 ?
		    req->race.attempts[req->race.winner].ai : NULL;

		keep_endpoint(req);
		fd = take_winner(req, &watching);
		/* Every callback that gets here asked bev_freed first; only
		 * user code run since (a trace, a factory) may have freed it. */
		he_bev_deliver_(&req->bev, fd, won ? won->ai_addr : NULL,
		    won ? (ev_socklen_t)won->ai_addrlen : 0, watching,
		    req->race.error, req->race.dns_failure,
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
	if (req->state == HE_REQ_STARTING) {
		move(req, HE_REQ_DECIDED);
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
	while (racing(req) && he_race_next_action_(&req->race, &a)) {
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
			trace_history(req, &req->race.notes.v[a.attempt]);
			break;
		}
	}
	if (racing(req))
		arm_timer(req);
}

/* ---- resolution --------------------------------------------------------- */

static int
fam_af(enum he_fam fam)
{
	return fam == HE_FAM_V6 ? AF_INET6 : AF_INET;
}

/* Our own copy of the answer's entries of the family asked for; a
 * one-address answer (most) goes in the race's own room when it is free
 * and room allows (not for addresses NAT64 will hold and replace). */
static struct evutil_addrinfo *
answer_copy(struct evhappy_request *req, const struct evutil_addrinfo *res,
    int af, int room, int *error)
{
	struct evutil_addrinfo *out;

	if (room && res && res->ai_family == af &&
	    (out = he_race_own_entry_(&req->race, res)) != NULL)
		return out;
	if (he_addrinfo_copy_stream_(res, af, &out) != 0)
		*error = EVUTIL_EAI_MEMORY;
	return out;
}

/* Once per race, before its first look at the history: the network may
 * have changed since the last race. */
static void
network_check(struct evhappy_request *req)
{
	if (!req->net_checked) {
		req->net_checked = 1;
		he_persist_check_network_(req->history);
	}
}

/* The history store's facts for addresses joining the race, when they can
 * matter: a race of one address and no query decides nothing from them
 * (he_race.h), and most races are that. */
static void
fill_facts(struct evhappy_request *req, struct evutil_addrinfo *list,
    int more)
{
	if (req->history && list && (list->ai_next || more)) {
		network_check(req);
		he_history_fill_(req->history, list, he_now_());
	}
}

/* A moment of the race for the report: 1 + microseconds since it began
 * (0 stays "not yet"). */
static uint32_t
race_moment(const struct evhappy_request *req, int64_t now)
{
	int64_t t = now - req->race.began;

	if (t < 0)
		t = 0;
	return t >= UINT32_MAX - 1 ? UINT32_MAX : (uint32_t)t + 1;
}

/* What the report's waterfall shows of an answer. */
static void
query_record(struct evhappy_request *req, struct he_req_query *rq,
    int64_t now, int error, int naddrs)
{
	rq->answered = race_moment(req, now);
	if (!rq->asked)
		rq->asked = rq->answered;
	rq->error = (int16_t)error;
	rq->naddrs = naddrs > UINT16_MAX ? UINT16_MAX : (uint16_t)naddrs;
}

/* A family's answer joins the race (the host's endpoints get theirs);
 * the race runs.  Inline: it is on every answer's path. */
static inline void
answer_join(struct evhappy_request *req, enum he_fam fam, int64_t now,
    struct evutil_addrinfo *list, int error)
{
	if (req->https && !error)
		https_host_answer(req, fam_af(fam), &list);
	fill_facts(req, list, req->race.untried != NULL ||
	    req->race.dns_pending[fam == HE_FAM_V6 ? HE_FAM_V4 : HE_FAM_V6]);
	he_race_dns_answer_(&req->race, now, fam, list, error);
	drain(req);
}

static void
query_answered(void *arg, int af, const struct evutil_addrinfo *res,
    int error)
{
	struct evhappy_request *req = arg;
	enum he_fam fam = af == AF_INET6 ? HE_FAM_V6 : HE_FAM_V4;
	struct he_req_query *rq = &req->queries[fam];
	struct evutil_addrinfo *list = NULL, *old = NULL;
	const struct evutil_addrinfo *ai;
	int64_t now = he_now_();
	int n = 0, synth;

	rq->q = NULL;
	/* NAT64 (he_synth.h): decided before the copy, which it holds */
	synth = !error && fam == HE_FAM_V4 && req->family == AF_UNSPEC &&
	    he_synth_v4_worth_(req->owner->nat64, res) &&
	    he_synth_needed_(req->owner->nat64, res, now);
	if (!error)
		list = answer_copy(req, res, af, !synth, &error);
	enter(req);
	for (ai = list; ai; ai = ai->ai_next)
		n++;
	query_record(req, rq, now, error, n);
	he_addrinfo_set_port_(list, req->port);
	trace(req, EVHAPPY_TRACE_DNS_ANSWER, af, NULL, 0, error, n);
	if (racing(req) && !bev_freed(req)) {
		if (synth && list && nat64_answer(req, now, &list) ==
		    EINPROGRESS)
			goto end;	/* held until a prefix is known */
		if (fam == HE_FAM_V6 && list && req->family == AF_UNSPEC &&
		    he_synth_v6_worth_(req->owner->nat64, list)) {
			he_synth_mark_(req->owner->nat64, &list, &old, now);
			he_race_free_list_(&req->race, old);
		}
		if (!synth || racing(req)) {	/* (NAT64's trace may stop
						   it) */
			answer_join(req, fam, now, list, error);
			list = NULL;
		}
	}
	he_race_free_list_(&req->race, list);
end:
	leave(req);
}

/* ---- NAT64 (he_synth.c) ------------------------------------------------- */

/* NAT64's trace events, with the time; only while the race may speak. */
static void
nat64_trace(void *arg, struct evhappy_trace *ev)
{
	trace_event(arg, ev);
}

/* The wait for a prefix ended: the IPv4 addresses join, synthesized or
 * (no prefix) as they were; a literal's as the answer the race waits
 * for in its place (begin). */
static void
nat64_ready(void *arg)
{
	struct evhappy_request *req = arg;
	struct evutil_addrinfo *list = NULL;

	enter(req);
	if (racing(req) && !bev_freed(req)) {
		if (he_synth_take_(req->nat64, &list) != 0)
			req->race.oom = 1;
		if (racing(req))	/* the trace may have stopped it */
			answer_join(req, HE_FAM_V4, he_now_(), list, 0);
		else
			he_race_free_list_(&req->race, list);
	}
	leave(req);
}

/* The race's NAT64 state, made when it first synthesizes. */
static int
nat64_new(struct evhappy_request *req)
{
	struct he_synth_events ev = {
		nat64_ready, req->set.trace ? nat64_trace : NULL, req
	};

	if (req->nat64)
		return 0;
	return he_synth_new_(req->owner->nat64, req->owner->base,
	    req->owner->resolver, &req->race, req->race.cfg.timeout, &ev,
	    &req->nat64);
}

/* IPv4 addresses to synthesize (owned, never the race's room): 0 and
 * *list what joins now, or EINPROGRESS (held).  Out of memory, the race
 * ends with ENOMEM. */
static int
nat64_answer(struct evhappy_request *req, int64_t now,
    struct evutil_addrinfo **list)
{
	struct evutil_addrinfo *in = *list;
	int err;

	*list = NULL;
	if ((err = nat64_new(req)) != 0) {
		evhappy_addrinfo_free(in);
		req->race.oom = 1;
		return 0;
	}
	err = he_synth_answer_(req->nat64, now, in, list);
	if (err == ENOMEM)
		req->race.oom = 1;
	return err == EINPROGRESS ? EINPROGRESS : 0;
}

/* An endpoint target's A answer, or an HTTPS record's IPv4 hints, on a
 * host with no IPv4 route: synthesized under the prefixes known (it waits
 * for none); every other entry of the list is kept as it is. */
static void
nat64_now(struct evhappy_request *req, int64_t now,
    struct evutil_addrinfo **list)
{
	struct evutil_addrinfo *in = *list;

	if (req->family != AF_UNSPEC ||
	    !he_synth_v4_worth_(req->owner->nat64, in) ||
	    !he_synth_needed_(req->owner->nat64, in, now))
		return;
	*list = NULL;
	if (nat64_new(req) != 0) {
		evhappy_addrinfo_free(in);
		req->race.oom = 1;
		return;
	}
	if (he_synth_now_(req->nat64, now, in, list) != 0)
		req->race.oom = 1;
}

/* An endpoint target's AAAA answer: a DNS64 resolver's syntheses in it
 * stand for their IPv4 servers (he_synth_mark_), as the host's do, so the
 * local synthesis of its A answer or of its ipv4hints is not raced as
 * another server. */
static void
nat64_mark(struct evhappy_request *req, int64_t now,
    struct evutil_addrinfo **list)
{
	struct evutil_addrinfo *old = NULL;

	he_synth_mark_(req->owner->nat64, list, &old, now);
	evhappy_addrinfo_free(old);
}

/* An IPv4 literal held by request_targets: it joins as the A answer the
 * race expects in its place, now or when discovery ends. */
static void
nat64_literal(struct evhappy_request *req, int64_t now)
{
	struct evutil_addrinfo *list = NULL;

	if (nat64_answer(req, now, &list) == EINPROGRESS)
		return;
	if (racing(req))	/* the trace may have stopped it */
		answer_join(req, HE_FAM_V4, now, list, 0);
	else
		he_race_free_list_(&req->race, list);
}

/* ---- the HTTPS record (he_https.c) --------------------------------------- */

/* Each endpoint of groups (bit g-1 for group g): its untried hints of
 * family af that the answer lacks go (RFC 9460 section 7.3). */
static void
confirm_hints(struct evhappy_request *req, unsigned groups, int af,
    const struct evutil_addrinfo *answer)
{
	unsigned g;

	for (g = 1; g <= 32 && (groups >> (g - 1)); g++)
		if (groups & (1u << (g - 1)))
			he_race_confirm_hints_(&req->race, g, af, answer);
}

/* The host's own answer also serves the endpoints whose target is the
 * host (he_https_host_); on ENOMEM it serves the host alone. */
static void
https_host_answer(struct evhappy_request *req, int af,
    struct evutil_addrinfo **list)
{
	unsigned groups = he_https_host_groups_(req->https);

	if (!groups || he_https_host_(req->https, req->port, list) != 0)
		return;
	confirm_hints(req, groups, af, *list);
}

/* The families whose host answer came with addresses: the host
 * endpoints' hints of those are not needed. */
static unsigned
host_answered(const struct evhappy_request *req)
{
	unsigned m = 0;

	if (req->queries[HE_FAM_V6].answered && !req->queries[HE_FAM_V6].error)
		m |= 1;
	if (req->queries[HE_FAM_V4].answered && !req->queries[HE_FAM_V4].error)
		m |= 2;
	return m;
}

/* The answer as an EVUTIL_EAI_* code, for the trace. */
static int
https_eai(const struct he_svcb_answer *a)
{
	switch (a->outcome) {
	case HE_SVCB_SERVICE:
		return 0;
	case HE_SVCB_EMPTY:
		return EVUTIL_EAI_NONAME;
	case HE_SVCB_FAILED:
		return a->rcode < 0 ? EVUTIL_EAI_AGAIN : EVUTIL_EAI_FAIL;
	default:
		return EVUTIL_EAI_FAIL;
	}
}

/* What the answer said, its endpoints and what it skipped, traced. */
static void
https_trace_answer(struct evhappy_request *req)
{
	const struct he_https *h = req->https;
	const struct he_svcb_answer *a = he_https_answer_(h);
	char text[256];
	int i, n = he_https_nendpoints_(h);

	if (!req->set.trace)
		return;
	evutil_snprintf(text, sizeof(text), "%s%s%s",
	    he_svcb_outcome_name_(a->outcome), a->error ? ": " : "",
	    a->error ? a->error : "");
	trace_text(req, EVHAPPY_TRACE_HTTPS_ANSWER, 0, text, https_eai(a), n,
	    NULL);
	for (i = 1; i <= n; i++)
		trace_text(req, EVHAPPY_TRACE_ENDPOINT, 0, NULL, 0, 0,
		    he_https_endpoint_(h, (unsigned)i));
	for (i = 0; i < a->nskips; i++)
		trace_text(req, EVHAPPY_TRACE_ENDPOINT_SKIPPED, 0,
		    he_svcb_skip_text_(&a->skips[i], he_https_prefs_(h), text,
		    sizeof(text)), 0, 0, NULL);
	if (a->nskipped > a->nskips) {
		evutil_snprintf(text, sizeof(text), "%d more records skipped",
		    a->nskipped - a->nskips);
		trace_text(req, EVHAPPY_TRACE_ENDPOINT_SKIPPED, 0, text, 0, 0,
		    NULL);
	}
}

/* Ask the endpoints' target names (traced first: an evdns hosts-table
 * answer may come inside he_https_ask_targets_). */
static void
https_ask_targets(struct evhappy_request *req)
{
	struct he_https *h = req->https;
	int i;

	for (i = 0; i < he_https_ntargets_(h); i++) {
		if (req->family != AF_INET)
			trace_text(req, EVHAPPY_TRACE_DNS_QUERY, AF_INET6,
			    he_https_target_name_(h, i), 0, 0, NULL);
		if (req->family != AF_INET6)
			trace_text(req, EVHAPPY_TRACE_DNS_QUERY, AF_INET,
			    he_https_target_name_(h, i), 0, 0, NULL);
	}
	if (racing(req))
		he_https_ask_targets_(h);
}

/* The record's endpoints join: the host's addresses already known become
 * theirs too, hints join at once, targets are asked. */
static void
https_join(struct evhappy_request *req, int64_t now)
{
	struct he_https *h = req->https;
	struct evutil_addrinfo *hints;
	unsigned g, host = he_https_host_groups_(h);
	int i;

	for (g = 1; g <= (unsigned)he_https_nendpoints_(h); g++)
		if (host & (1u << (g - 1)))
			he_race_endpoint_from_host_(&req->race, g,
			    he_https_endpoint_(h, g)->port);
	if (he_https_hints_(h, host_answered(req), &hints) != 0)
		req->race.oom = 1;
	/* ipv4hints are synthesized as their targets' A answers are (the
	   Happy Eyeballs v3 draft), keeping their group and HE_AI_HINT */
	if (hints)
		nat64_now(req, now, &hints);
	if (!racing(req)) {	/* NAT64's trace may stop it */
		evhappy_addrinfo_free(hints);
		return;
	}
	for (i = 0; i < he_https_ntargets_(h); i++) {
		if (req->family != AF_INET)
			he_race_expect_target_(&req->race,
			    he_https_target_groups_(h, i));
		if (req->family != AF_INET6)
			he_race_expect_target_(&req->race,
			    he_https_target_groups_(h, i));
	}
	fill_facts(req, hints, 1);
	he_race_https_answer_(&req->race, now, hints);
	https_ask_targets(req);
}

static void
https_answered(void *arg)
{
	struct evhappy_request *req = arg;
	int64_t now = he_now_();

	enter(req);
	https_trace_answer(req);
	if (racing(req) && !bev_freed(req)) {
		https_join(req, now);
		drain(req);
	}
	leave(req);
}

static void
https_target_answered(void *arg, const char *name, int af, unsigned groups,
    struct evutil_addrinfo *list, int error)
{
	struct evhappy_request *req = arg;
	const struct evutil_addrinfo *ai;
	int64_t now = he_now_();
	int n = 0;

	enter(req);
	for (ai = list; ai; ai = ai->ai_next)
		n++;
	trace_text(req, EVHAPPY_TRACE_DNS_ANSWER, af, name, error, n, NULL);
	if (racing(req) && !bev_freed(req) && af == AF_INET && list)
		nat64_now(req, now, &list);
	else if (racing(req) && !bev_freed(req) && list &&
	    req->family == AF_UNSPEC &&
	    he_synth_v6_worth_(req->owner->nat64, list))
		nat64_mark(req, now, &list);	/* its DNS64 answers */
	if (racing(req) && !bev_freed(req)) {
		if (!error)
			confirm_hints(req, groups, af, list);
		fill_facts(req, list, 1);
		he_race_target_answer_(&req->race, now, groups, list);
		list = NULL;
		drain(req);
	}
	evhappy_addrinfo_free(list);
	leave(req);
}

/* Ask the HTTPS record, before AAAA and A (the Happy Eyeballs v3 draft). */
static void
https_start(struct evhappy_request *req)
{
	struct he_https_events ev = {
		https_answered, https_target_answered, req
	};
	const char *why;
	int err;

	err = he_https_start_(req->owner->resolver, req->host, req->port,
	    req->family, req->owner->https, &ev, &req->https);
	trace_text(req, EVHAPPY_TRACE_HTTPS_QUERY, 0,
	    err ? req->host : he_https_qname_(req->https), 0, 0, NULL);
	if (!err || !racing(req))
		return;
	why = err == ENOSYS ? "not asked: this build has no c-ares, which an "
	    "evdns_base's HTTPS query needs" : err == ENOMEM ?
	    "not asked: out of memory" : "not asked: the query could not "
	    "start";
	trace_text(req, EVHAPPY_TRACE_HTTPS_ANSWER, 0, why, EVUTIL_EAI_SYSTEM,
	    0, NULL);
	if (racing(req))
		he_race_https_answer_(&req->race, he_now_(), NULL);
}

/* Ask one family; one that cannot start counts as answered with an error:
 * the race goes on with the other family, and fails with err (not
 * EHOSTUNREACH) if no address comes at all. */
static void
query_start(struct evhappy_request *req, enum he_fam fam, int64_t now)
{
	struct he_req_query *rq = &req->queries[fam];
	int err;

	trace(req, EVHAPPY_TRACE_DNS_QUERY, fam_af(fam), NULL, 0, 0, 0);
	if (!racing(req))
		return;		/* the trace callback cancelled the race */
	rq->asked = race_moment(req, now);
	/* A's lookup goes after AAAA's (RFC 8305 section 3). */
	err = he_query_start_(req->owner->resolver, req->host, fam_af(fam),
	    fam == HE_FAM_V4 ? req->queries[HE_FAM_V6].q : NULL,
	    query_answered, req, &rq->q);
	if (!err)
		return;
	query_record(req, rq, now, err, 0);
	trace(req, EVHAPPY_TRACE_DNS_ANSWER, fam_af(fam), NULL, 0, err, 0);
	if (racing(req))
		he_race_dns_failed_(&req->race, now, fam, err);
}

/* The HTTPS record first, then AAAA, then A (RFC 8305 section 3; the
 * Happy Eyeballs v3 draft); now: when the race began. */
static void
resolve(struct evhappy_request *req, int64_t now)
{
	static const enum he_fam order[HE_NFAM] = { HE_FAM_V6, HE_FAM_V4 };
	int i;

	if (req->race.https_pending)
		https_start(req);
	for (i = 0; i < HE_NFAM; i++) {
		if (!req->race.dns_pending[order[i]])
			continue;
		if (!racing(req) || req->race.done)
			return;
		query_start(req, order[i], now);
	}
}

/* ---- beginning ---------------------------------------------------------- */

static void
begin(struct evhappy_request *req)
{
	int64_t now = he_now_();

	if (req->nat64 && !req->host)	/* an IPv4 literal for NAT64 */
		he_race_expect_dns_(&req->race, HE_FAM_V4);
	he_race_begin_(&req->race, now);
	if (req->set.trace && req->history) {
		network_check(req);
		trace_network(req);
	}
	if (req->host)
		resolve(req, now);
	else if (req->nat64)
		nat64_literal(req, now);
	drain(req);
}

/* The time the core asked for came (on the timer, or on the event of the
 * attempt that carries the deadline). */
static void
wake(struct evhappy_request *req)
{
	int64_t now = he_now_();

	attempts_ready_at_deadline(req, now);
	if (racing(req))
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
	if (req->state == HE_REQ_STOPPED) {
		if (req->busy == 0)
			request_free(req, 0, 1);
		return;
	}
	enter(req);
	if (bev_freed(req))
		goto end;
	switch (req->state) {
	case HE_REQ_PENDING:
		move(req, HE_REQ_RACING);
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
	leave(req);
}

void
he_request_launch_(struct evhappy_request *req)
{
	/* With no trace callback and no socket factory, nothing the user
	 * wrote can run while the race begins: start the first attempt now,
	 * so its SYN leaves as early as libevent's would. */
	if (req->set.trace || req->set.sock.factory) {
		move(req, HE_REQ_PENDING);
		timer_now(req);
		return;
	}
	move(req, HE_REQ_STARTING);
	/* Nothing may free the request while the start call is still on the
	 * stack (the caller returns its handle): what ends it now is
	 * settled here, and its outcome waits for the next loop turn. */
	req->busy++;
	begin(req);
	req->busy--;
	if (req->state == HE_REQ_STARTING)
		move(req, HE_REQ_RACING);
	else
		settle(req, 0);
}

/* ---- making one --------------------------------------------------------- */

/* The order of resolved addresses: RFC 6724 with the kernel's sources
 * (each probe's answer kept a second for the process). */
static int
sort_rfc6724(struct evutil_addrinfo **list)
{
	return he_addrinfo_sort_cached_(list, he_source_remembered_, NULL);
}

/* Only stream addresses of the two families race: 0 and *out, or EINVAL
 * (none such) or ENOMEM. */
static int
usable_copy(struct evhappy_request *req, const struct evutil_addrinfo *addrs,
    struct evutil_addrinfo **out)
{
	const struct evutil_addrinfo *ai;
	int err;

	/* Most lists have one address: it lives in the race, unallocated. */
	if ((*out = he_race_own_entry_(&req->race, addrs)) != NULL)
		return he_addr_usable_((*out)->ai_addr) ? 0 : EINVAL;
	if ((err = he_addrinfo_copy_stream_(addrs, AF_UNSPEC, out)) != 0)
		return err;
	for (ai = *out; ai && !he_addr_usable_(ai->ai_addr); ai = ai->ai_next)
		;
	if (!ai) {	/* none, or only addresses never connected to */
		evhappy_addrinfo_free(*out);
		*out = NULL;
		return EINVAL;
	}
	return 0;
}

static int
request_targets(struct evhappy_request *req, const struct he_target *t)
{
	struct evutil_addrinfo *list;
	int err;

	if (!t->hostname) {
		if ((err = usable_copy(req, t->addrs, &list)) != 0)
			return err;
		fill_facts(req, list, 0);
		he_race_add_known_(&req->race, list);
		return 0;
	}
	if ((err = he_parse_literal_(t->hostname, req->port, &list)) != 0)
		return err;
	if (list) {
		if (req->family != AF_UNSPEC &&
		    list->ai_family != req->family) {
			/* As getaddrinfo: a literal of the other family. */
			evhappy_addrinfo_free(list);
			req->race.dns_error[HE_FAM_V4] = EVUTIL_EAI_FAMILY;
			return 0;
		}
		if (req->family == AF_UNSPEC &&
		    he_synth_v4_worth_(req->owner->nat64, list) &&
		    he_synth_needed_(req->owner->nat64, list, he_now_())) {
			/* NAT64: synthesized when the race begins */
			if ((err = nat64_new(req)) != 0) {
				evhappy_addrinfo_free(list);
				return err;
			}
			he_synth_hold_(req->nat64, list);
			return 0;
		}
		he_race_add_known_(&req->race, list);
		return 0;
	}
	if (!(req->host = strdup(t->hostname)))
		return ENOMEM;
	req->race.cfg.sort = sort_rfc6724;
	if (req->owner->https && req->owner->https->on)
		he_race_expect_https_(&req->race);
	if (req->family != AF_INET)
		he_race_expect_dns_(&req->race, HE_FAM_V6);
	if (req->family != AF_INET6)
		he_race_expect_dns_(&req->race, HE_FAM_V4);
	return 0;
}

static void
request_link(struct evhappy_request *req)
{
	struct he_owner *o = req->owner;

	req->next = o->requests;
	if (o->requests)
		o->requests->prev = req;
	o->requests = req;
}

int
he_request_new_(struct he_owner *o, const struct he_race_config *cfg,
    const struct he_settings *set, const struct he_target *t,
    struct evhappy_request **out)
{
	/* One allocation: the request, then its timer and its first
	 * attempt's event (their size is libevent's to know). */
	struct evhappy_request *req;
	size_t at = (sizeof(*req) + 15) & ~(size_t)15;
	size_t evsize = (event_get_struct_event_size() + 15) & ~(size_t)15;
	int err = ENOMEM;

	*out = NULL;
	if (!(req = calloc(1, at + 2 * evsize)))
		return ENOMEM;
	req->timer = (struct event *)((char *)req + at);
	req->first_sock.fd = -1;
	req->first_sock.storage = (struct event *)((char *)req + at + evsize);
	req->socks = &req->first_sock;
	req->nsocks = 1;
	req->timer_at = HE_NEVER;
	req->deadline_sock = -1;
	req->owner = o;
	req->family = (int16_t)t->family;
	req->port = t->port;
	req->set = *set;
	req->set.sock.local = NULL;
	req->history = set->history ? he_history_global_() : NULL;
	he_race_setup_(&req->race, cfg);	/* calloc'ed */
	req->race.cfg.history = req->history != NULL;
	req->race.cfg.no_notes = !set->trace;
	if ((set->sock.local && !(req->set.sock.local =
	    evhappy_addrinfo_dup(set->sock.local))) ||
	    (err = request_targets(req, t)) != 0) {
		he_synth_free_(req->nat64);
		he_race_clear_(&req->race);
		evhappy_addrinfo_free(req->set.sock.local);
		free(req->host);
		free(req);
		return err;
	}
	request_link(req);
	*out = req;
	return 0;
}
