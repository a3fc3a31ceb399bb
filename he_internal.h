/*
 * Internal declarations shared by the library's files.  Nothing here is
 * exported from libevhappy.so; the tests link the objects statically.
 */
#ifndef EVHAPPY_HE_INTERNAL_H_INCLUDED_
#define EVHAPPY_HE_INTERNAL_H_INCLUDED_

#include "he_event.h"
#include "he_race.h"
#include "he_attempt.h"
#include "he_bev.h"

#include <stdint.h>

/** How RFC 6724 sorting learns the source address the kernel would use for
    a destination: 0 and *src filled, or -1 when there is no route. */
typedef int (*he_source_fn)(const struct sockaddr *dst, ev_socklen_t dstlen,
    struct sockaddr_storage *src, void *arg);

/** evhappy_addrinfo_sort with the source lookup supplied, so the RFC 6724
    examples can be tested with the sources they name. */
int he_addrinfo_sort_with_(struct evutil_addrinfo **list, he_source_fn source,
    void *arg);

/** As he_addrinfo_sort_with_, with probe's answers cached per destination
    prefix (IPv6 /64, IPv4 /24) for the one call, and at most a fixed
    budget of probes: what evhappy_addrinfo_sort does with the UDP probe. */
#define HE_PROBE_BUDGET 256	/* probes per sort, however big the list */
int he_addrinfo_sort_cached_(struct evutil_addrinfo **list, he_source_fn probe,
    void *arg);

/** The source lookup evhappy_addrinfo_sort uses: UDP connect + getsockname. */
int he_source_by_udp_connect_(const struct sockaddr *dst, ev_socklen_t dstlen,
    struct sockaddr_storage *src, void *arg);

/** Whether two addresses are the same (family, bytes, port, IPv6 scope). */
int he_sockaddr_equal_(const struct sockaddr *a, const struct sockaddr *b);

/** Make one list entry for a sockaddr, with socktype and protocol set. */
struct evutil_addrinfo *he_addrinfo_new_(const struct sockaddr *sa,
    ev_socklen_t len);

/** The entry he_addrinfo_copy_stream_(src, AF_UNSPEC) would make of src's
    first entry, made in ai with its address in room (roomlen bytes, which
    nothing frees), ai_next NULL; NULL when src is not such an entry or
    its address does not fit. */
struct evutil_addrinfo *he_addrinfo_fill_(struct evutil_addrinfo *ai,
    void *room, size_t roomlen, const struct evutil_addrinfo *src);

/** An O(n) copy of the entries of list that can race: AF_INET/AF_INET6 with
    an address, socktype SOCK_STREAM or 0, and of `family` unless that is
    AF_UNSPEC; each made with he_addrinfo_new_.  NULL with errno 0 when no
    entry qualifies; NULL with errno ENOMEM (or EINVAL for an entry with a
    short address) on failure, nothing leaked. */
struct evutil_addrinfo *he_addrinfo_copy_stream_(
    const struct evutil_addrinfo *list, int family);

/** Append list b to list a; returns the head.  Walks a: O(len a). */
struct evutil_addrinfo *he_addrinfo_concat_(struct evutil_addrinfo *a,
    struct evutil_addrinfo *b);

/** Set the port of every entry. */
void he_addrinfo_set_port_(struct evutil_addrinfo *list, int port);

/** The blocking lookup the system resolver's threads run; tests replace it
    (NULL restores getaddrinfo) to make lookups slow.  Results are freed with
    freeaddrinfo(). */
typedef int (*he_gai_fn)(const char *node, const char *service,
    const struct evutil_addrinfo *hints, struct evutil_addrinfo **res);
void he_resolve_set_gai_hook_(he_gai_fn fn);

/** The system resolver's pool: at most HE_POOL_MAX_THREADS workers in the
    process, started while lookups wait and none is idle; one event_base's
    lookups (all its contexts') take at most HE_POOL_PER_BASE of them at
    once, and bases with lookups waiting are served in turn.  So a base
    whose names hang delays another base's lookups only when
    HE_POOL_MAX_THREADS / HE_POOL_PER_BASE bases each have that many
    lookups hanging. */
#define HE_POOL_MAX_THREADS 32
#define HE_POOL_PER_BASE 8

/** What the system resolver's thread pool holds right now (for tests). */
struct he_pool_stats {
	int threads;	/* workers alive */
	int idle;	/* of them, waiting for work */
	int queued;	/* lookups waiting for a worker */
};
void he_resolve_pool_stats_(struct he_pool_stats *st);

/* ---- time (he_request.c) ---- */

/** Monotonic microseconds. */
int64_t he_now_(void);
/** Microseconds as a timeval (negative counts as 0). */
void he_usec_to_tv_(int64_t us, struct timeval *tv);

/* ---- contexts (he_context.c) ---- */

struct he_query;	/* one family's outstanding lookup (he_resolve.c) */
struct he_mailbox;	/* finished system lookups and their wake-up fd */

/** What races are started with, besides the core's he_race_config. */
struct he_settings {
	struct he_socket_opts sock;		/* sock.local: an owned copy */
	evhappy_trace_cb trace;
	void *trace_arg;
	int history;	/* 1: races use and feed the connection history */
};

enum he_context_state {
	HE_CTX_USER,		/* made by evhappy_new(), freed by evhappy_free() */
	HE_CTX_PRIVATE,		/* the drop-in's own: goes with its last race */
	HE_CTX_DYING		/* evhappy_free() ran inside one of its callbacks */
};

struct evhappy {
	struct event_base *base;
	struct evdns_base *dns;
	struct he_race_config race;
	struct he_settings set;
	struct evhappy_request *requests;	/* every live request */
	int busy;		/* evhappy callbacks running right now */
	enum he_context_state state;
	struct he_mailbox *mailbox;	/* he_resolve.c's, or NULL */
};

/** Free the context and every request it still has. */
void he_context_destroy_(struct evhappy *he);

/* ---- requests (he_request.c) ---- */

/** A request's life.  PENDING and DECIDED wait for the next loop turn (the
    request's timer is active), so that no callback runs inside the call
    that started it. */
enum he_request_state {
	HE_REQ_PENDING,		/* begins on the next loop turn */
	HE_REQ_STARTING,	/* beginning inside the start call */
	HE_REQ_RACING,
	HE_REQ_DECIDED,		/* the outcome is delivered on the next turn */
	HE_REQ_FINISHED,	/* the outcome was delivered (or is being) */
	HE_REQ_CANCELLED	/* cancelled, freed with its context, or its
				   bufferevent was freed: nothing more is said */
};

struct evhappy_report {
	const struct evhappy_request *req;
};

struct evhappy_request {
	struct evhappy *he;
	struct evhappy_request *prev, *next;	/* in he->requests */
	enum he_request_state state;
	int busy;		/* inside one of this request's callbacks */
	unsigned released : 1;	/* sockets, queries, watch let go (release) */
	unsigned timer_set : 1;	/* the timer may be pending or active */
	unsigned timer_assigned : 1;	/* event_assign'ed: on first use */
	int deadline_slot;	/* the slot whose event also carries the
				   deadline as its timeout, or -1 */
	int nslots;		/* of slots */
	struct he_race race;
	struct he_slot *slots;	/* first_slot, or an array when it grows */
	struct he_slot first_slot;
	int64_t timer_at;	/* when the timer is set to fire, HE_NEVER if
				   not set (arm_timer adds it only on change) */
	struct event *timer;	/* the core's wake-ups; also the next turn;
				   it and the first attempt's event live in
				   the request's own allocation.  A race
				   whose one wake-up is the deadline of its
				   one attempt leaves it unused */
	int64_t ended;
	struct he_settings set;	/* copied at the start; local is owned */

	/* where the outcome goes: cb, or else the bufferevent */
	evhappy_connect_cb cb;
	void *cb_arg;
	struct he_bev_link bev;

	/* resolution */
	char *host;
	int port;
	int family;
	struct he_query *queries[HE_NFAM];
};

/** Make a request of either kind (hostname NULL: addrs are the caller's
    list) and link it to he.  NULL with errno on error. */
struct evhappy_request *he_request_new_(struct evhappy *he,
    const struct evutil_addrinfo *addrs, int family, const char *hostname,
    int port);
/** Start the request made by he_request_new_: at once when no user
    callback could run (no trace callback, no socket factory), else on the
    next loop turn.  Cannot fail: every outcome, even an immediate failure,
    reaches the user on a later loop turn. */
void he_request_launch_(struct evhappy_request *req);
/** Free a request, whatever its state; nothing is said to anyone. */
void he_request_free_(struct evhappy_request *req);

/** Callback-protocol helpers: every libevent callback of a request runs
    between these, so user callbacks may cancel or free safely. */
void he_request_enter_(struct evhappy_request *req);
void he_request_leave_(struct evhappy_request *req);
/** Cancel without telling anyone (evhappy_request_cancel, evhappy_free). */
void he_request_abort_(struct evhappy_request *req);
/** Whether the race still runs: not decided, cancelled or dying. */
int he_request_live_(const struct evhappy_request *req);
/** Race on bev: mark it racing and watch it (he_bev_attach_).  -1 with
    errno ENOMEM. */
int he_request_attach_bev_(struct evhappy_request *req,
    struct bufferevent *bev);

/** Report a step to the trace callback, if any. */
void he_trace_(struct evhappy_request *req, enum evhappy_trace_kind kind,
    int family, const struct sockaddr *addr, ev_socklen_t addrlen, int error,
    int naddrs);

struct he_hist_note;
/** Send a trace event (elapsed is filled in) to the trace callback, if
    any and while the request may still speak. */
void he_trace_event_(struct evhappy_request *req, struct evhappy_trace *ev);
/** Report a history decision (he_history.c) to the trace callback. */
void he_trace_history_(struct evhappy_request *req,
    const struct he_hist_note *note);

/** A family's answer reached the loop (list owned, may be NULL). */
void he_request_dns_answer_(struct evhappy_request *req, enum he_fam fam,
    struct evutil_addrinfo *list, int eai_error);

/* ---- resolution (he_resolve.c) ---- */

/** Send the queries for req->host (req->family restricts); answers come
    through he_request_dns_answer_, possibly before this returns.  A family
    whose query cannot start (no fd, no thread, no memory) is failed in the
    race with its errno (he_race_dns_failed_); returns 0. */
int he_resolve_start_(struct evhappy_request *req);
/** Cancel what is still outstanding; no answer comes after this. */
void he_resolve_cancel_(struct evhappy_request *req);
/** Release the context's system-resolver mailbox (its wake-up event now,
    its fd once no worker holds it); call after every request is freed. */
void he_resolve_context_free_(struct evhappy *he);

/* ---- literals (he_literal.c) ---- */

/** Parse a literal ("1.2.3.4", "::1", "[::1]", "fe80::1%eth0") into a
    one-entry list.  Returns 1 and *out for a literal, 0 for a name, -1
    (EINVAL) for a bracketed non-IPv6 or an IPv6 address whose zone is empty
    or names no interface; -1 (ENOMEM) when the entry cannot be made. */
int he_parse_literal_(const char *host, int port,
    struct evutil_addrinfo **out);

/* ---- the environment (he_env.c) ---- */

/** Apply the EVHAPPY_* environment (read once, on the first call) to a
    context of the drop-in or the interposition library. */
void he_env_apply_(struct evhappy *he);
/** Whether EVHAPPY_DISABLE=1: the interposition library hands every call to
    libevent.  Reads the environment on the first call. */
int he_env_disabled_(void);

#endif
