/*
 * Recorders shared by the Check tests: what a race told its callbacks,
 * kept so that a test can assert on it after the loop ran.
 *
 * - struct he_test_res: the connect callback (evhappy_start_connection,
 *   evhappy_resolve_and_connect) and everything its report says;
 * - struct he_test_bres: a bufferevent's event callback;
 * - struct he_test_tres: the trace callback (evhappy_set_trace_cb);
 * - struct he_test_qres: a NAT64 prefix query (he_nat64_query.h).
 *
 * The start helpers set he_test_in_call while the library's start call
 * runs, so a callback made from inside it is counted in `inside` (the
 * library must never call back from inside the call that started the
 * work), and they assert that the call worked and called nobody back.
 */
#ifndef EVHAPPY_HE_TESTREC_H_INCLUDED_
#define EVHAPPY_HE_TESTREC_H_INCLUDED_

#include "he_event.h"
#include "he_nat64_query.h"

#include <stdint.h>
#include <sys/socket.h>
#include <event2/bufferevent.h>
#include <event2/util.h>

/** Attempts a report recorder keeps (a race may have more). */
#define HE_TEST_MAXATT 16
/** Trace events a trace recorder keeps. */
#define HE_TEST_MAXTR 64

/** Set by the start helpers while a start call runs. */
extern int he_test_in_call;

/** What a connect callback was told. */
struct he_test_res {
	int calls;
	int inside;		/* calls made from inside a start call */
	evutil_socket_t fd;	/* -2 until the callback */
	int64_t t0;		/* he_test_now_ms() at the start call */
	int64_t t;		/* he_test_now_ms() at the callback */
	int64_t ms;		/* t - t0 */
	int error, dns_error;
	int natt;		/* the report's count (the arrays keep
				   HE_TEST_MAXATT) */
	int att_rc[HE_TEST_MAXATT];
	struct sockaddr_storage addr[HE_TEST_MAXATT];
	int aerr[HE_TEST_MAXATT];
	struct timeval started[HE_TEST_MAXATT], ended[HE_TEST_MAXATT];
	int null_out_rc;	/* attempt 0 with NULL outputs */
	int oob_rc, oob_errno;	/* attempt natt */
	int neg_rc, neg_errno;	/* attempt -1 */
	int fmt_len;
	char fmt[1024];		/* evhappy_report_format() */
	int fmt_null_len;	/* (NULL, 0) */
	int fmt_small_len;
	char fmt_small[8];
	int fmt_zero_len;	/* (buf, 0) must not write */
	char fmt_zero;
	int peer_family;	/* the winner's peer (fd >= 0) */
	char peer[64];
	/* what the callback does, set after he_test_res_init() */
	int close_fd;		/* close the winner's socket */
	struct evhappy **free_he;	/* evhappy_free(*free_he), then NULL */
	int *counter;		/* incremented by every call */
};

/** Zero x; fd -2. */
void he_test_res_init(struct he_test_res *x);

/** The connect callback that fills a struct he_test_res (arg). */
void he_test_conn_cb(evutil_socket_t fd, const struct evhappy_report *r,
    void *arg);

/** evhappy_start_connection(he, l) into x (not cleared here), asserting
    that it started and called nobody back. */
struct evhappy_request *he_test_start(struct evhappy *he,
    const struct evutil_addrinfo *l, struct he_test_res *x);

/** evhappy_resolve_and_connect(he, family, host, port) into x, which is
    he_test_res_init()'ed first; asserts as he_test_start. */
struct evhappy_request *he_test_resolve(struct evhappy *he, int family,
    const char *host, int port, struct he_test_res *x);

/** The report in x is self-consistent and well-formed: one call, none
    from inside the start call, attempts in start order with valid
    addresses and times, EINVAL for out-of-range attempts, and
    evhappy_report_format() following snprintf's convention. */
void he_test_check_report(const struct he_test_res *x);

/** The race in x failed: he_test_check_report(), no socket, errno err,
    DNS error dns. */
void he_test_check_failed(const struct he_test_res *x, int err, int dns);

/** Attempt i of x was to addr (printable, no port) and port, and ended
    with error (0 for the winner). */
void he_test_check_attempt(const struct he_test_res *x, int i,
    const char *addr, int port, int error);

/** The printable address of attempt i (in a static buffer). */
const char *he_test_att_addr(const struct he_test_res *x, int i);

/** The port of sa as the library's formatter writes it, or -1. */
int he_test_port_of(const struct sockaddr *sa);

/** The local (peer 0) or remote address of a socket into *ss: 0, or -1. */
int he_test_fd_addr(evutil_socket_t fd, int peer,
    struct sockaddr_storage *ss);

/** The local (peer 0) or remote port of a socket, or -1. */
int he_test_fd_port(evutil_socket_t fd, int peer);

/** What a bufferevent's event callback was told. */
struct he_test_bres {
	int calls;
	int inside;
	short what;
	int err;		/* EVUTIL_SOCKET_ERROR() in the callback */
	int dns;		/* the DNS error getter, in the callback */
	int64_t t0, t, ms;	/* as in struct he_test_res */
	evutil_socket_t fd;	/* bufferevent_getfd() */
	int peer_family;	/* on CONNECTED */
	char peer[64];
	/* the DNS error getter to call; NULL: evhappy_get_dns_error */
	int (*dns_getter)(struct bufferevent *bev);
};

/** Zero b (the getter too). */
void he_test_bres_init(struct he_test_bres *b);

/** The event callback that fills a struct he_test_bres (arg). */
void he_test_bev_cb(struct bufferevent *bev, short what, void *arg);

/** A socket bufferevent on base (BEV_OPT_CLOSE_ON_FREE) reporting into b,
    which is cleared first; reading and writing enabled. */
struct bufferevent *he_test_bev_new(struct event_base *base,
    struct he_test_bres *b);

/** evhappy_connect_addrinfo(he, bev, l), as he_test_start: it must work
    and call nobody back; b->t0 is set. */
void he_test_bev_connect(struct evhappy *he, struct bufferevent *bev,
    const struct evutil_addrinfo *l, struct he_test_bres *b);

/** b saw exactly one event: an error (not CONNECTED) with socket error
    err and DNS error dns, never from inside a start call. */
void he_test_check_bev_error(const struct he_test_bres *b, int err, int dns);

/** One trace event, as recorded. */
struct he_test_trace_ev {
	enum evhappy_trace_kind kind;
	int family, error, naddrs;
	int64_t us;		/* elapsed */
	int has_addr;
	int port;		/* addr's, or -1 */
	char addr[64];		/* printable, "" without one */
	int history, moved;	/* HISTORY events */
	char after[64];		/* moved: the address it now follows */
};

/** What the trace callback saw, and what it does at the first
    ATTEMPT_START. */
struct he_test_tres {
	int n;			/* events kept (at most HE_TEST_MAXTR) */
	int inside;		/* events from inside a start call */
	struct he_test_trace_ev ev[HE_TEST_MAXTR];
	int starts;		/* ATTEMPT_START events */
	/* actions at the first ATTEMPT_START: sleep (the loop stands
	   still), cancel *req (twice: that is safe), free *he */
	int sleep_on_first_start_ms;
	int cancel_on_start;
	struct evhappy_request **req;
	int req_was_null;	/* cancel_on_start found *req NULL */
	int free_on_start;
	struct evhappy **he;
};

/** The trace callback that fills a struct he_test_tres (arg). */
void he_test_trace_cb(const struct evhappy_trace *ev, void *arg);

/** Clear t and make it he's trace recorder. */
void he_test_trace_on(struct evhappy *he, struct he_test_tres *t);

/** How many events of kind (and family; -1: any) t holds. */
int he_test_trace_count(const struct he_test_tres *t,
    enum evhappy_trace_kind kind, int family);

/** The index of the first such event, or -1. */
int he_test_trace_find(const struct he_test_tres *t,
    enum evhappy_trace_kind kind, int family);

/** What a NAT64 prefix query answered, on evdns or the system resolver. */
struct he_test_qres {
	int calls;
	enum he_nat64_query_result result;
	struct he_nat64_prefix p[HE_NAT64_MAX_PREFIXES];
	int n;
	int64_t lifetime;
};

/** The he_nat64_query_cb that fills a struct he_test_qres (arg). */
void he_test_query_cb(enum he_nat64_query_result result,
    const struct he_nat64_prefix *p, int n, int64_t lifetime, void *arg);

#endif
