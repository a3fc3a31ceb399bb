/*
 * A request: one race, from the call that starts it to the callback that
 * ends it (he_request.c).  The glue of the library: it carries out the
 * actions of the pure core (he_race.c) with the adapters below it (sockets,
 * resolvers, the bufferevent adapter, the history store), hands the outcome
 * to the user, and keeps user callbacks safe to cancel or free from.
 *
 * It calls only downwards.  What it must tell the layer above (its owner,
 * the context) goes through struct he_owner's callback, handed down when
 * the request is made, as libevent hands its callbacks down.
 *
 * The ladder.  A request's life is one state variable, moved by one
 * function (move() in he_request.c); what a state asks for once no callback
 * of the request is on the stack (release its sockets, free its memory) is
 * done by one function (settle()):
 *
 *   from      event                                   to        done then
 *   NEW       launched, no user code can run yet      STARTING  begin inside the call
 *   NEW       launched, a trace callback or factory   PENDING   next loop turn
 *   PENDING   next loop turn                          RACING    begin
 *   STARTING  the start call returns                  RACING
 *   STARTING  the core says DONE                      DECIDED   next loop turn
 *   RACING    the core says DONE                      ENDED     deliver the outcome
 *   DECIDED   next loop turn                          ENDED     deliver the outcome
 *   any live  cancelled; its context freed; its       STOPPED   the core cancels;
 *             bufferevent freed or taken back                   nothing is said
 *   ENDED     settled (no callback on the stack)      (freed)   release, free
 *   STOPPED   settled                                 (freed)   release; free now, or
 *                                                               on the next loop turn
 *                                                               when the user holds a
 *                                                               handle it may cancel
 *                                                               again
 *
 * "Live" is NEW, PENDING, STARTING, RACING and DECIDED.  The core's race
 * has ended (DONE or cancel) in every state from DECIDED on; what it
 * taught goes to the history store at that moment, once.
 */
#ifndef EVHAPPY_HE_REQUEST_H_INCLUDED_
#define EVHAPPY_HE_REQUEST_H_INCLUDED_

#include "he_event.h"
#include "he_bev.h"
#include "he_history.h"
#include "he_https.h"
#include "he_race.h"
#include "he_resolve.h"
#include "he_sock.h"
#include "he_synth.h"

#include <stdint.h>

/** What races are started with, besides the core's he_race_config. */
struct he_settings {
	struct he_sock_opts sock;	/* sock.local: an owned copy */
	evhappy_trace_cb trace;
	void *trace_arg;
	int history;	/* 1: races use and feed the connection history */
};

/** Who made a request (the context, he_event.c), as the request sees it. */
struct he_owner {
	struct event_base *base;
	struct he_resolver *resolver;
	const struct he_https_conf *https;
	struct he_synth_conf *nat64;	/* read live, as https */
	struct evhappy_request *requests;	/* not yet freed */
	int busy;		/* callbacks of its requests on the stack */
	int closing;		/* being freed: make no more, say nothing */
	/* Called when one of its requests was freed, or when the outermost
	   callback of its requests returned while it is closing; busy is
	   then 0.  The owner may free itself (and its requests) here. */
	void (*settled)(struct he_owner *o);
};

enum he_req_state {
	HE_REQ_NEW,
	HE_REQ_PENDING,
	HE_REQ_STARTING,
	HE_REQ_RACING,
	HE_REQ_DECIDED,
	HE_REQ_ENDED,
	HE_REQ_STOPPED
};

/** One family's lookup, and what the report's waterfall shows of it.
    (Small: two in every request, whose allocation must stay in malloc's
    small bins.) */
struct he_req_query {
	struct he_query *q;	/* outstanding, or NULL */
	uint32_t asked, answered;	/* 1 + microseconds since the race
					   began (at most ~71 min); 0: not
					   (yet) */
	int16_t error;		/* EVUTIL_EAI_*, or an errno (> 0) when the
				   query could not start */
	uint16_t naddrs;	/* how many addresses came (saturating) */
};

struct evhappy_report {
	const struct evhappy_request *req;
};

/* Size matters: the request, its timer and its first attempt's event are
 * one allocation on every connect's path, and it must stay under 1 KiB
 * (glibc's small bins: 736 + 2 x 128 bytes on x86-64 with libevent
 * 2.1.12), or each race pays malloc's large-bin path and consolidation
 * (seen: some 900 instructions a connect). */
struct evhappy_request {
	struct he_owner *owner;
	struct evhappy_request *prev, *next;	/* in owner->requests */
	enum he_req_state state;
	/* (busy and family are short, port sits beside nsocks: the request
	   must stay in the small bins, see above) */
	int16_t busy;		/* callbacks of it on the stack */
	int16_t family;		/* AF_UNSPEC, AF_INET or AF_INET6 */
	unsigned released : 1;	/* sockets, queries, watch let go */
	unsigned taught : 1;	/* lessons went to the history store */
	unsigned net_checked : 1;	/* the history's network was checked */
	unsigned unsaved : 1;	/* taught, with a history file: a save may
				   be due once it is freed */
	unsigned timer_set : 1;	/* the timer may be pending or active */
	unsigned timer_assigned : 1;	/* event_assign'ed: on first use */
	int deadline_sock;	/* the attempt whose event also carries the
				   deadline as its timeout, or -1 */
	int nsocks;
	int port;
	struct he_race race;
	struct he_sock *socks;	/* first_sock, or an array when it grows */
	struct he_sock first_sock;
	int64_t timer_at;	/* when the timer is set to fire, HE_NEVER if
				   not set (arm_timer adds it only on change) */
	struct event *timer;	/* the core's wake-ups; also the next turn;
				   it and the first attempt's event live in
				   the request's own allocation.  A race
				   whose one wake-up is the deadline of its
				   one attempt leaves it unused */
	struct he_settings set;	/* copied at the start; local is owned */
	struct he_history *history;	/* the store, or NULL */

	/* where the outcome goes: cb, or else the bufferevent */
	evhappy_connect_cb cb;
	void *cb_arg;
	struct he_bev_link bev;

	/* resolution */
	char *host;
	struct he_req_query queries[HE_NFAM];
	struct he_https *https;		/* the HTTPS record's, or NULL */
	struct he_synth *nat64;		/* NAT64's, made when the race
					   synthesizes (he_synth.h), or NULL */
};

/** What to race to: a caller's list (hostname NULL), or a name or literal
    with family and port. */
struct he_target {
	const struct evutil_addrinfo *addrs;
	int family;
	const char *hostname;
	int port;
};

/** Make a request of either kind in *out, linked to its owner: 0, or
    EINVAL (a list with no usable address, a bad literal) or ENOMEM.
    Nothing is started, nobody is called. */
int he_request_new_(struct he_owner *o, const struct he_race_config *cfg,
    const struct he_settings *set, const struct he_target *t,
    struct evhappy_request **out);

/** Race on bev (he_bev_attach_): 0, or EALREADY or ENOMEM. */
int he_request_attach_bev_(struct evhappy_request *req,
    struct bufferevent *bev);

/** Start the request made by he_request_new_ (the ladder's "launched").
    Cannot fail: every outcome, even an immediate failure, reaches the user
    on a later loop turn. */
void he_request_launch_(struct evhappy_request *req);

/** Stop a live request (the ladder's "cancelled"); nothing is said to
    anyone.  A request with a callback (whose user holds a handle and may
    cancel again) is freed on the next loop turn, any other once no
    callback of it is on the stack. */
void he_request_stop_(struct evhappy_request *req);

/** Free a request at once, whatever its state; nothing is said. */
void he_request_free_(struct evhappy_request *req);

/** Whether it is over: ENDED or STOPPED. */
int he_request_over_(const struct evhappy_request *req);

/** The endpoint its winner connected to (every field empty when no HTTPS
    record was used, or the race failed); valid while the request is. */
const struct evhappy_endpoint *he_request_endpoint_(
    const struct evhappy_request *req);

#endif
