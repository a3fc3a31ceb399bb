/*
 * One DNS query of any type (HTTPS, SVCB), for the HTTPS-record part of a
 * race: the raw response comes back, he_svcb.h reads it.
 *
 * Two ways to ask:
 * - on an event loop, through c-ares (he_dnsq.c, built when configure
 *   found c-ares: HAVE_CARES), with the servers of an evdns_base or of
 *   /etc/resolv.conf; for contexts with an evdns_base;
 * - blocking, through the C library's res_nquery (he_dnsq_sys.c, always
 *   built), for the system resolver's worker threads.
 * And he_svcb_lookup_ follows the AliasMode chain over either.
 *
 * Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).
 */
#ifndef EVHAPPY_HE_DNSQ_H_INCLUDED_
#define EVHAPPY_HE_DNSQ_H_INCLUDED_

#include <stddef.h>
#include <event2/event.h>
#include <event2/util.h>

#include "he_svcb.h"

struct evdns_base;

/** How a query ended. */
enum he_dnsq_status {
	/** a response came: msg and len hold it, whatever its RCODE */
	HE_DNSQ_ANSWER,
	/** (blocking only) NXDOMAIN, or no record of the type: no message */
	HE_DNSQ_NODATA,
	/** no server answered in time */
	HE_DNSQ_TIMEOUT,
	/** no server could be asked or every one refused or failed, a
	    truncated answer could not be had over TCP, or no memory */
	HE_DNSQ_FAILED
};

/** A query's answer.  msg is valid only during the call. */
typedef void (*he_dnsq_cb)(enum he_dnsq_status status,
    const unsigned char *msg, size_t len, void *arg);

/** The text of a status: "answer", "no data", "timeout", "failed". */
const char *he_dnsq_status_name_(enum he_dnsq_status st);

/* ---- on the loop: c-ares ---------------------------------------------- */

/** Queries sent from one UDP socket (one random source port) of a
    resolver with an evdns_base's servers before it is replaced. */
#define HE_DNSQ_PORT_QUERIES 32

/** Queries on one event_base through one c-ares channel. */
struct he_dnsq_resolver;
/** One outstanding query. */
struct he_dnsq;

/** Whether this build asks on the loop (configure found c-ares). */
int he_dnsq_available_(void);

/**
  Make a resolver on base.  Reads /etc/resolv.conf when dns is NULL (like
  evdns_base_new does); else asks the servers dns has when each query
  starts with no other outstanding (evdns_base_get_nameserver_addr).  Query
  IDs come from c-ares's generator (keyed from /dev/urandom), each UDP
  socket gets a kernel-chosen random port, a truncated UDP answer is asked
  again over TCP, and EDNS0 offers 1232 bytes.

  @param base the loop every callback runs on
  @param dns NULL, or the evdns_base whose servers to ask (it must outlive
    the resolver)
  @param timeout_ms each try's timeout, > 0
  @param tries tries per server, > 0
  @return the resolver, or NULL with errno EINVAL, ENOMEM, or ENOSYS when
    the build has no c-ares
 */
struct he_dnsq_resolver *he_dnsq_resolver_new_(struct event_base *base,
    struct evdns_base *dns, int timeout_ms, int tries);

/** Free the resolver: every outstanding query is cancelled (no callback
    runs), its sockets closed.  May be called from inside a query's
    callback.  NULL is ignored. */
void he_dnsq_resolver_free_(struct he_dnsq_resolver *r);

/**
  Ask (name, type), class IN, recursion desired, no search list.  The
  callback runs exactly once, on a later loop turn (never inside this
  call), unless the query or the resolver is cancelled first.

  @return the query, or NULL with errno EINVAL or ENOMEM (then cb never
    runs)
 */
struct he_dnsq *he_dnsq_start_(struct he_dnsq_resolver *r, const char *name,
    int type, he_dnsq_cb cb, void *arg);

/** Cancel a query: its callback will not run.  Allowed until the
    callback has started (and inside it, where it does nothing).  The
    packet may still be answered or time out inside c-ares, which frees
    the query then. */
void he_dnsq_cancel_(struct he_dnsq *q);

/** How many queries c-ares still holds (cancelled ones included). */
int he_dnsq_pending_(const struct he_dnsq_resolver *r);

/* ---- blocking: the C library's resolver ------------------------------- */

/** Up to this many servers may replace resolv.conf's (MAXNS). */
#define HE_DNSQ_SYS_MAX_SERVERS 3

/** Where and how he_dnsq_blocking_ asks; zeroed: resolv.conf's servers
    and its timeout and attempts. */
struct he_dnsq_sys_opts {
	/** IPv4 servers to ask instead of resolv.conf's (tests: the lab's
	    fake server); nservers 0: resolv.conf's */
	struct sockaddr_in servers[HE_DNSQ_SYS_MAX_SERVERS];
	int nservers;
	int timeout_s;	/* per try, > 0; 0: resolv.conf's */
	int tries;	/* > 0; 0: resolv.conf's */
};

/**
  Ask (name, type) through res_nquery with a resolver state of the call's
  own (so any thread may call it): blocking, for the system resolver's
  worker threads, never the event loop.  glibc picks a random query ID
  per query and retries a truncated answer over TCP.

  @param opts NULL, or where and how to ask
  @param msg on HE_DNSQ_ANSWER, the response (free() it)
  @param len its length
  @return the status; HE_DNSQ_ANSWER only with *msg set
 */
enum he_dnsq_status he_dnsq_blocking_(const char *name, int type,
    const struct he_dnsq_sys_opts *opts, unsigned char **msg, size_t *len);

/* ---- the AliasMode chain over any transport --------------------------- */

/** A transport for he_svcb_lookup_: start a query whose callback runs
    once on a later loop turn, and cancel it.  he_dnsq_cares_ops_ is the
    c-ares one (ctx: a he_dnsq_resolver); the system resolver's pool
    supplies its own around he_dnsq_blocking_. */
struct he_dnsq_ops {
	void *(*start)(void *ctx, const char *name, int type, he_dnsq_cb cb,
	    void *arg);
	void (*cancel)(void *query);
};
extern const struct he_dnsq_ops he_dnsq_cares_ops_;

/** An HTTPS resolution in progress. */
struct he_svcb_lookup;

/** The final answer: SERVICE with endpoints, or EMPTY/MALFORMED/FAILED
    (answer->error says why).  chain->naliases > 0: an alias was
    followed, and chain->qname is an endpoint of its own (RFC 9460
    section 3).  Both are valid during the call only; the callee may
    he_svcb_answer_move_ the answer out. */
typedef void (*he_svcb_lookup_cb)(struct he_svcb_answer *answer,
    const struct he_svcb_chain *chain, void *arg);

/**
  Resolve host:port's HTTPS record (qtype HE_DNS_TYPE_HTTPS) or a SVCB
  record of qname host (HE_DNS_TYPE_SVCB: the caller's prefixed name, port
  only for the endpoints): ask, follow AliasMode records (at most
  HE_SVCB_MAX_ALIASES, no loop), parse with prefs (copied, with its ALPN
  list).  The callback runs once, on a later loop turn, unless cancelled.

  @return the lookup, or NULL with errno (EINVAL: a bad host or port, no
    HTTPS record for an IP literal; ENOMEM; the transport's errno)
 */
struct he_svcb_lookup *he_svcb_lookup_(const struct he_dnsq_ops *ops,
    void *ctx, const char *host, int port, int qtype,
    const struct he_svcb_prefs *prefs, he_svcb_lookup_cb cb, void *arg);

/** The name the lookup asked first (the host, or "_PORT._https.HOST"). */
const char *he_svcb_lookup_first_(const struct he_svcb_lookup *l);

/** Cancel a lookup: its callback will not run.  Not after the callback
    started. */
void he_svcb_lookup_cancel_(struct he_svcb_lookup *l);

#endif
