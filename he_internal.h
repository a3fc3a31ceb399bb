/*
 * Internal declarations shared by the library's files.  Nothing here is
 * exported from libevhappy.so; the tests link the objects statically.
 */
#ifndef EVHAPPY_HE_INTERNAL_H_INCLUDED_
#define EVHAPPY_HE_INTERNAL_H_INCLUDED_

#include "he_event.h"
#include "he_race.h"

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

/** What the system resolver's thread pool holds right now (for tests). */
struct he_pool_stats {
	int threads;	/* workers alive */
	int idle;	/* of them, waiting for work */
	int queued;	/* lookups waiting for a worker */
};
void he_resolve_pool_stats_(struct he_pool_stats *st);

/* ---- contexts and requests (he_event.c) ---- */

struct he_query;	/* one family's outstanding lookup (he_resolve.c) */
struct he_mailbox;	/* finished system lookups and their wake-up fd */

/** What a race is started with; copied from the context at the start. */
struct he_settings {
	struct he_race_config race;
	struct evutil_addrinfo *local;		/* owned copy, or NULL */
	evhappy_socket_factory_cb factory;
	void *factory_arg;
	evhappy_trace_cb trace;
	void *trace_arg;
	int history;	/* 1: races use and feed the connection history */
};

struct evhappy {
	struct event_base *base;
	struct evdns_base *dns;
	struct he_settings set;
	struct evhappy_request *requests;	/* every live request */
	int busy;		/* evhappy callbacks running right now */
	int dying;		/* evhappy_free() ran inside a callback */
	int autofree;		/* evhappy_socket_connect_hostname()'s own */
	struct he_mailbox *mailbox;	/* he_resolve.c's, or NULL */
};

/** One connection attempt's socket. */
struct he_slot {
	evutil_socket_t fd;
	struct event *ev;
};

struct evhappy_report {
	const struct evhappy_request *req;
};

struct evhappy_request {
	struct evhappy *he;
	struct evhappy_request *prev, *next;
	struct he_settings set;
	struct he_race race;
	struct he_slot *slots;
	int nslots;
	struct event *timer;		/* the core's wake-ups */
	struct event *defer;		/* begin on the next turn; later, reap */
	int64_t began, ended;

	/* what the winner is handed to */
	evhappy_connect_cb cb;
	void *cb_arg;
	struct bufferevent *bev;	/* bufferevent races: we hold a ref */
	struct event *watch;		/* notices bufferevent_free() */
	struct evhappy_request *bev_next; /* in he_bev.c's list of races */
	int bev_listed;

	/* resolution */
	char *host;
	int port;
	int family;
	struct he_query *queries[HE_NFAM];

	int busy;		/* inside one of this request's callbacks */
	int started;		/* the deferred begin has run */
	int finished;		/* the outcome was delivered (or is being) */
	int cancelled;		/* cancelled, freed with its context, or its bev was freed */
	int torn_down;		/* sockets, queries and timers released */
};

/** Monotonic microseconds. */
int64_t he_now_(void);

/** Make a request of either kind; it begins on the next loop turn.
    hostname NULL: addrs are the caller's list.  NULL with errno on error. */
struct evhappy_request *he_request_new_(struct evhappy *he,
    const struct evutil_addrinfo *addrs, int family, const char *hostname,
    int port);
/** Start the request made by he_request_new_ (activates its begin). */
void he_request_launch_(struct evhappy_request *req);
/** Free a request that never launched. */
void he_request_discard_(struct evhappy_request *req);

/** Callback-protocol helpers: every libevent callback of a request runs
    between these, so user callbacks may cancel or free safely. */
void he_request_enter_(struct evhappy_request *req);
void he_request_leave_(struct evhappy_request *req);
/** Cancel without telling anyone (the bufferevent was freed, or evhappy_free). */
void he_request_abort_(struct evhappy_request *req);
/** Whether callbacks may still go on: not cancelled, context not dying. */
int he_request_live_(const struct evhappy_request *req);

/** Report a step to the trace callback, if any. */
void he_trace_(struct evhappy_request *req, enum evhappy_trace_kind kind,
    int family, const struct sockaddr *addr, ev_socklen_t addrlen, int error,
    int naddrs);

struct he_hist_note;
/** Report a history decision (he_history.c) to the trace callback. */
void he_trace_history_(struct evhappy_request *req,
    const struct he_hist_note *note);

/** A family's answer reached the loop (list owned, may be NULL). */
void he_request_dns_answer_(struct evhappy_request *req, enum he_fam fam,
    struct evutil_addrinfo *list, int eai_error);

/** Start a race whose winner goes to bev (he_bev.c checks bev first). */
int he_start_bev_race_(struct evhappy *he, struct bufferevent *bev,
    const struct evutil_addrinfo *addrs, int family, const char *hostname,
    int port);

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

/* ---- bufferevents (he_bev.c) ---- */

/** Hold a reference on bev for req and list it as racing. */
void he_bev_attach_(struct evhappy_request *req, struct bufferevent *bev);
/** Drop the reference and the listing; safe to call again. */
void he_bev_detach_(struct evhappy_request *req);
/** The race's outcome for a bufferevent race. */
void he_bev_deliver_(struct evhappy_request *req, evutil_socket_t fd);
/** Whether the user freed req->bev (then our reference was the last). */
int he_bev_gone_(struct evhappy_request *req);

/* ---- the environment (he_env.c) ---- */

/** Apply the EVHAPPY_* environment (read once, on the first call) to a
    context of the drop-in or the interposition library. */
void he_env_apply_(struct evhappy *he);
/** Whether EVHAPPY_DISABLE=1: the interposition library hands every call to
    libevent.  Reads the environment on the first call. */
int he_env_disabled_(void);

#endif
