/*
 * The bufferevent adapter (he_bev.c): which bufferevents are racing,
 * noticing bufferevent_free(), handing the winner over, the DNS error a
 * race leaves.  Knows nothing of races or requests: a request embeds a
 * he_bev_link and is told of a free through its callback.
 */
#ifndef EVHAPPY_HE_BEV_H_INCLUDED_
#define EVHAPPY_HE_BEV_H_INCLUDED_

#include "he_event.h"
#include "he_hash.h"

#include <stdint.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

/** What a race keeps about its bufferevent. */
struct he_bev_link {
	struct he_hnode node;		/* in the racing table */
	struct bufferevent *bev;	/* the user's; NULL once it was freed */
	struct bufferevent *bottom;	/* the socket bufferevent under it */
	uintptr_t serial;		/* this race's, in the free watch */
	/* the race must end silently: bev was finalized (then l->bev is
	   NULL and we are inside libevent's finalizer), or taken back */
	void (*freed)(void *arg, int finalized);
	void *freed_arg;
	struct event *check;		/* after bev's own timeouts, or NULL */
	unsigned listed : 1;
	unsigned watched : 1;		/* our chain is in bev's input */
	unsigned plain : 1;		/* a socket bufferevent, no filter, no TLS */
	unsigned had_cbs : 1;		/* bev had a callback since the race began */
	unsigned froze : 1;		/* we froze its input for the race */
};

/** 0 when bev (of base) can take a raced socket, else the errno to refuse
    with: EINVAL (NULL, another base, a pair), EISCONN (it has a socket).
    Whether it races already, he_bev_attach_ says. */
int he_bev_check_(struct event_base *base, struct bufferevent *bev);

/** Mark bev racing (keyed by its bottom bufferevent), clear its DNS error,
    and watch for its bufferevent_free(): freed(arg, 1) is then called from
    libevent's finalizer of bev (maybe inside event_base_free), with l->bev
    already NULL.  A race on bev whose user took it back (bufferevent_setfd)
    is superseded: its freed(arg, 0) is called first.  0, or EALREADY (it,
    or a bufferevent above or below it, is racing) or ENOMEM, and then
    nothing is marked. */
int he_bev_attach_(struct he_bev_link *l, struct bufferevent *bev,
    void (*freed)(void *, int), void *arg);

/** Stop watching and unmark; safe to call again. */
void he_bev_detach_(struct he_bev_link *l);

/** The outcome: fd >= 0 is the winner, handed to bev, connected to peer
    (recorded as bev's connection address); else BEV_EVENT_ERROR with error
    (and dns_error kept for evhappy_get_dns_error).  Detaches.
    watching: an event of the caller's still added on fd, or NULL; it is
    deleted once bev watches fd (the kernel's watch then stays), and always
    before user code runs or fd is closed.  recheck: user code ran since
    the caller last asked he_bev_gone_ (a trace callback, a socket
    factory), so bev may be freed by now. */
void he_bev_deliver_(struct he_bev_link *l, evutil_socket_t fd,
    const struct sockaddr *peer, ev_socklen_t peerlen,
    struct event *watching, int error, int dns_error, int recheck);

/** Whether the user let go of bev: finalized, every callback cleared (what
    bufferevent_free does first), or (a plain socket bufferevent) given a
    socket of its own or -1 with bufferevent_setfd, which for libevent too
    cancels a connect under way (evhttp resets a connection so).  Besides
    the race's own callbacks, a timer of he_bev.c asks this a moment after
    each of bev's own timeouts fired, and a new connect on bev asks it of
    the race it would replace. */
int he_bev_gone_(struct he_bev_link *l);

/** The DNS error the last race on bev left (EVUTIL_EAI_*), or 0. */
int he_bev_dns_error_(const struct bufferevent *bev);

/** Keep a copy of the endpoint bev's race connected to (an HTTPS record's)
    for he_bev_endpoint_, in a ring of HE_BEV_ENDPOINTS; a new race on bev
    drops it (he_bev_attach_).  0, or ENOMEM (then nothing is kept). */
#define HE_BEV_ENDPOINTS 64
int he_bev_set_endpoint_(const struct bufferevent *bev,
    const struct evhappy_endpoint *ep);

/** The endpoint kept for bev, or NULL. */
const struct evhappy_endpoint *he_bev_endpoint_(const struct bufferevent *bev);

/** Drop bev's entry in the DNS-error table: a connect that libevent makes
    on it (the interposition library's fallback) must not be answered with
    an earlier evhappy race's code. */
void he_bev_forget_dns_error_(const struct bufferevent *bev);

#endif
