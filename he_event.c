/*
 * The context API of he_event.h: evhappy_new/evhappy_free, the settings
 * races are started with, and the public calls that start, cancel and
 * look back at races.  Every start checks its arguments here, then makes
 * and launches a request (he_request.c); a refused start (-1/NULL with
 * errno) never calls anyone back.
 */
#include "he_internal.h"
#include "he_context.h"
#include "he_env.h"
#include "he_histfile.h"
#include "he_history.h"
#include "he_limits.h"
#include "he_persist.h"
#include "he_svcb.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct he_race_config default_race = {
	EVHAPPY_DEFAULT_ATTEMPT_DELAY_MS * HE_USEC_PER_MS,
	EVHAPPY_DEFAULT_RESOLUTION_DELAY_MS * HE_USEC_PER_MS,
	EVHAPPY_MIN_ATTEMPT_GAP_MS * HE_USEC_PER_MS,
	(int64_t)EVHAPPY_DEFAULT_TIMEOUT_MS * HE_USEC_PER_MS,
	1,
	EVHAPPY_DEFAULT_MAX_IN_FLIGHT,
	NULL,
	0,
	0
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

/* ---- the context -------------------------------------------------------- */

static void
context_destroy(struct evhappy *he)
{
	while (he->owner.requests)
		he_request_free_(he->owner.requests);
	if (he->nat64.disc)	/* its query is the resolver's */
		he_synth_conf_clear_(&he->nat64);
	he_resolver_release_(&he->resolver);
	evhappy_addrinfo_free(he->set.sock.local);
	free(he->https.alpn);
	free(he);
}

/* A request of he was freed, or the outermost callback of its requests
 * returned while it is being freed: a freed context goes now, and the
 * drop-in's private one with its last race. */
static void
context_settled(struct he_owner *o)
{
	struct evhappy *he = HE_CONTAINER(o, struct evhappy, owner);

	if (o->busy > 0)
		return;
	if (o->closing || (he->kind == HE_CTX_PRIVATE && !o->requests))
		context_destroy(he);
}

struct evhappy *
evhappy_new(struct event_base *base, struct evdns_base *dns_base)
{
	struct evhappy *he;

	if (!base) {
		errno = EINVAL;
		return NULL;
	}
	if (!(he = calloc(1, sizeof(*he)))) {
		errno = ENOMEM;
		return NULL;
	}
	he->resolver.base = base;
	he->resolver.dns = dns_base;
	he->owner.base = base;
	he->owner.resolver = &he->resolver;
	he->owner.https = &he->https;
	he->owner.nat64 = &he->nat64;
	he->owner.settled = context_settled;
	he->race = default_race;
	he->kind = HE_CTX_USER;
	he->set.history = 1;
	return he;
}

void
evhappy_free(struct evhappy *he)
{
	struct evhappy_request *req;

	if (!he || he->owner.closing)
		return;
	he->owner.closing = 1;
	/* Held busy while its requests stop, so that none frees it under
	 * this loop. */
	he->owner.busy++;
	for (req = he->owner.requests; req; req = req->next)
		he_request_stop_(req);
	he->owner.busy--;
	context_settled(&he->owner);
}

/* ---- settings ----------------------------------------------------------- */

/* Every callback setter: a NULL context does nothing, and the argument is
 * kept only with a callback, so that none outlives the callback it was
 * given for. */
#define SET_CB(he, cb_field, arg_field, cb, arg) do {			\
		if (he) {						\
			(he)->cb_field = (cb);				\
			(he)->arg_field = (cb) ? (arg) : NULL;		\
		}							\
	} while (0)

/* A NULL timeval restores dflt; a value out of lo .. hi is refused and the
 * old one stays. */
static int
set_usec(struct evhappy *he, const struct timeval *tv, int64_t dflt,
    int64_t lo, int64_t hi, int64_t *out)
{
	int64_t v = dflt;

	if (!he || (tv && (he_tv_to_usec_(tv, &v) != 0 || v < lo || v > hi))) {
		errno = EINVAL;
		return -1;
	}
	*out = v;
	return 0;
}

int
evhappy_set_connection_attempt_delay(struct evhappy *he,
    const struct timeval *tv)
{
	return set_usec(he, tv, default_race.attempt_delay,
	    HE_ATTEMPT_DELAY_MIN, HE_ATTEMPT_DELAY_MAX,
	    he ? &he->race.attempt_delay : NULL);
}

int
evhappy_set_resolution_delay(struct evhappy *he, const struct timeval *tv)
{
	return set_usec(he, tv, default_race.resolution_delay,
	    HE_RESOLUTION_DELAY_MIN, HE_RESOLUTION_DELAY_MAX,
	    he ? &he->race.resolution_delay : NULL);
}

int
evhappy_set_timeout(struct evhappy *he, const struct timeval *tv)
{
	return set_usec(he, tv, default_race.timeout, HE_TIMEOUT_MIN,
	    HE_TIMEOUT_MAX, he ? &he->race.timeout : NULL);
}

/* A number in lo .. hi (a count, or a 0/1 switch); the old value stays on
 * a refusal. */
static int
set_int(struct evhappy *he, int v, int lo, int hi, int *out)
{
	if (!he || v < lo || v > hi) {
		errno = EINVAL;
		return -1;
	}
	*out = v;
	return 0;
}

int
evhappy_set_first_address_family_count(struct evhappy *he, int count)
{
	return set_int(he, count, 1, INT_MAX,
	    he ? &he->race.first_family_count : NULL);
}

int
evhappy_set_max_attempts_in_flight(struct evhappy *he, int n)
{
	return set_int(he, n, 1, INT_MAX, he ? &he->race.max_in_flight : NULL);
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
	evhappy_addrinfo_free(he->set.sock.local);
	he->set.sock.local = copy;
	return 0;
}

void
evhappy_set_socket_factory(struct evhappy *he, evhappy_socket_factory_cb cb,
    void *arg)
{
	SET_CB(he, set.sock.factory, set.sock.factory_arg, cb, arg);
}

void
evhappy_set_trace_cb(struct evhappy *he, evhappy_trace_cb cb, void *arg)
{
	SET_CB(he, set.trace, set.trace_arg, cb, arg);
}

int
evhappy_set_history(struct evhappy *he, int enabled)
{
	return set_int(he, enabled, 0, 1, he ? &he->set.history : NULL);
}

/* The store is the process's, not the context's: any context clears it
 * (NULL does nothing, as he_event.h says). */
void
evhappy_clear_history(struct evhappy *he)
{
	if (he)
		he_history_clear_(he_history_global_());
}

int
evhappy_set_https_records(struct evhappy *he, int on)
{
	return set_int(he, on, 0, 1, he ? &he->https.on : NULL);
}

/* The longest ALPN list taken, in wire form. */
#define HE_ALPN_MAX 1024

int
evhappy_set_alpn(struct evhappy *he, const char *protocols)
{
	unsigned char wire[HE_ALPN_MAX], *copy = NULL;
	int n = 0;

	if (!he || (protocols && (n = he_svcb_alpn_parse_(protocols, wire,
	    sizeof(wire))) < 0)) {
		errno = EINVAL;
		return -1;
	}
	if (protocols && !(copy = malloc((size_t)n))) {
		errno = ENOMEM;
		return -1;
	}
	if (copy)
		memcpy(copy, wire, (size_t)n);
	free(he->https.alpn);
	he->https.alpn = copy;
	he->https.alpn_len = (size_t)n;
	return 0;
}

void
evhappy_set_endpoint_cb(struct evhappy *he, evhappy_endpoint_cb cb,
    void *arg)
{
	SET_CB(he, https.endpoint_cb, https.endpoint_arg, cb, arg);
}

int
evhappy_set_nat64_prefix(struct evhappy *he,
    const struct sockaddr_in6 *prefix, int prefix_len)
{
	enum he_nat64_mode mode;
	struct he_nat64_prefix p;

	if (!he || he_nat64_setting_from_api_(prefix, prefix_len, &mode,
	    &p) != 0) {
		errno = EINVAL;
		return -1;
	}
	he->nat64.mode = mode;
	if (mode == HE_NAT64_FIXED)
		he->nat64.fixed = p;
	return 0;
}

/* ---- starting races ----------------------------------------------------- */

static int
valid_target(int family, const char *hostname, int port)
{
	return (family == AF_UNSPEC || family == AF_INET ||
	    family == AF_INET6) && hostname && *hostname && port >= 1 &&
	    port <= 65535;
}

/* A context that evhappy_free() is tearing down takes no new race. */
static int
context_open(const struct evhappy *he)
{
	return he && !he->owner.closing;
}

static int
request_new(struct evhappy *he, const struct evutil_addrinfo *addrs,
    int family, const char *hostname, int port,
    struct evhappy_request **out)
{
	struct he_target t;

	t.addrs = addrs;
	t.family = family;
	t.hostname = hostname;
	t.port = port;
	return he_request_new_(&he->owner, &he->race, &he->set, &t, out);
}

static struct evhappy_request *
start_cb_race(struct evhappy *he, const struct evutil_addrinfo *addrs,
    int family, const char *hostname, int port, evhappy_connect_cb cb,
    void *arg)
{
	struct evhappy_request *req;
	int err;

	if ((err = request_new(he, addrs, family, hostname, port, &req)) != 0) {
		errno = err;
		return NULL;
	}
	req->cb = cb;
	req->cb_arg = arg;
	he_request_launch_(req);
	return req;
}

struct evhappy_request *
evhappy_start_connection(struct evhappy *he,
    const struct evutil_addrinfo *addrs, evhappy_connect_cb cb, void *arg)
{
	if (!context_open(he) || !addrs || !cb) {
		errno = EINVAL;
		return NULL;
	}
	return start_cb_race(he, addrs, AF_UNSPEC, NULL, 0, cb, arg);
}

struct evhappy_request *
evhappy_resolve_and_connect(struct evhappy *he, int family,
    const char *hostname, int port, evhappy_connect_cb cb, void *arg)
{
	if (!context_open(he) || !cb || !valid_target(family, hostname, port)) {
		errno = EINVAL;
		return NULL;
	}
	return start_cb_race(he, NULL, family, hostname, port, cb, arg);
}

void
evhappy_request_cancel(struct evhappy_request *req)
{
	if (req)
		he_request_stop_(req);
}

/* Both bufferevent front doors: a list (hostname NULL) or a name. */
static int
start_bev_race(struct evhappy *he, struct bufferevent *bev,
    const struct evutil_addrinfo *addrs, int family, const char *hostname,
    int port)
{
	struct evhappy_request *req;
	int err = context_open(he) ? he_bev_check_(he->owner.base, bev) :
	    EINVAL;

	if (!err && (hostname ? !valid_target(family, hostname, port) :
	    !addrs))
		err = EINVAL;
	if (!err)
		err = request_new(he, addrs, family, hostname, port, &req);
	if (!err && (err = he_request_attach_bev_(req, bev)) != 0)
		he_request_free_(req);
	if (err) {
		errno = err;
		return -1;
	}
	he_request_launch_(req);
	return 0;
}

int
evhappy_connect_addrinfo(struct evhappy *he, struct bufferevent *bev,
    const struct evutil_addrinfo *addrs)
{
	return start_bev_race(he, bev, addrs, AF_UNSPEC, NULL, 0);
}

int
evhappy_connect_hostname(struct evhappy *he, struct bufferevent *bev,
    int family, const char *hostname, int port)
{
	return start_bev_race(he, bev, NULL, family, hostname, port);
}

int
evhappy_get_dns_error(struct bufferevent *bev)
{
	return he_bev_dns_error_(bev);
}

const struct evhappy_endpoint *
evhappy_get_endpoint(struct bufferevent *bev)
{
	return bev ? he_bev_endpoint_(bev) : NULL;
}

/* ---- the drop-in -------------------------------------------------------- */

/* The drop-in's settings: the EVHAPPY_* environment, read once. */
static void
apply_env(struct evhappy *he)
{
	const struct he_env *env = he_env_();

	if (env->has_attempt_delay)
		he->race.attempt_delay = env->attempt_delay;
	if (env->has_resolution_delay)
		he->race.resolution_delay = env->resolution_delay;
	if (env->has_timeout)
		he->race.timeout = env->timeout;
	if (env->history_off)
		he->set.history = 0;
	if (env->trace)
		evhappy_set_trace_cb(he, he_env_trace_,
		    (void *)(uintptr_t)he_env_next_race_());
	he->https.on = env->https;
	if (env->alpn[0])
		(void)evhappy_set_alpn(he, env->alpn);	/* checked: only
					   ENOMEM, and then http/1.1 */
	if (env->has_nat64) {
		he->nat64.mode = env->nat64_mode;
		he->nat64.fixed = env->nat64_prefix;
	}
}

int
evhappy_socket_connect_hostname(struct bufferevent *bev,
    struct evdns_base *dns_base, int family, const char *hostname, int port)
{
	struct evhappy *he;
	int err;

	if (!bev) {
		errno = EINVAL;
		return -1;
	}
	if (!(he = evhappy_new(bufferevent_get_base(bev), dns_base)))
		return -1;
	he->kind = HE_CTX_PRIVATE;
	/* libevent's own call has no overall timeout: it waits as long as the
	 * kernel retries the SYN (net.ipv4.tcp_syn_retries, about 2 minutes),
	 * after as long as the resolver takes.  A drop-in must not fail where
	 * that call would still connect, so it has none either; each attempt
	 * ends when the kernel gives up on it.  EVHAPPY_TIMEOUT_MS may set one. */
	he->race.timeout = HE_NEVER;
	apply_env(he);
	if (evhappy_connect_hostname(he, bev, family, hostname, port) < 0) {
		err = errno;
		evhappy_free(he);
		errno = err;
		return -1;
	}
	return 0;
}

int
evhappy_socket_get_dns_error(struct bufferevent *bev)
{
	return he_bev_dns_error_(bev);
}

/* ---- the history across processes and networks (he_persist.h) ---------- */

/* What is unsaved goes to the file at exit. */
static void
history_exit(void)
{
	he_persist_flush_(he_history_global_(), he_now_());
}

static void
history_atexit(void)
{
	(void)atexit(history_exit);
}

int
evhappy_set_history_file(const char *path)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	int err = he_persist_set_file_(he_history_global_(), path, he_now_());

	if (err) {
		errno = err;
		return -1;
	}
	if (path)
		pthread_once(&once, history_atexit);
	return 0;
}

int
evhappy_default_history_file(char *buf, size_t len)
{
	if (!buf) {
		errno = EINVAL;
		return -1;
	}
	switch (he_histfile_default_path_(buf, len)) {
	case HE_HF_OK:
		return 0;
	case HE_HF_OFF:
		errno = ENOENT;
		return -1;
	default:	/* errno says which */
		return -1;
	}
}

/* The current network's entries, copied out of the store's lock. */
struct history_copy {
	struct sockaddr_storage addr[HE_HISTORY_ENTRIES];
	struct he_hist_rec rec[HE_HISTORY_ENTRIES];
	int n;
};

static void
history_copy_one(const struct he_hist_rec *r, void *arg)
{
	struct history_copy *c = arg;

	if (c->n == HE_HISTORY_ENTRIES)
		return;
	memcpy(&c->addr[c->n], r->sa, r->sa->sa_family == AF_INET ?
	    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	c->rec[c->n] = *r;
	c->rec[c->n].sa = (const struct sockaddr *)&c->addr[c->n];
	c->n++;
}

int
evhappy_history_foreach(evhappy_history_cb cb, void *arg)
{
	struct he_history *h = he_history_global_();
	struct evhappy_history_entry e;
	struct history_copy *c;
	int64_t now = he_now_();
	int i, n;

	if (!cb) {
		errno = EINVAL;
		return -1;
	}
	if (!(c = calloc(1, sizeof(*c)))) {
		errno = ENOMEM;
		return -1;
	}
	he_persist_check_network_(h);
	he_history_each_(h, now, 0, history_copy_one, c);
	for (i = 0; i < c->n; i++) {
		const struct he_hist_rec *r = &c->rec[i];
		memset(&e, 0, sizeof(e));
		e.addr = r->sa;
		e.addrlen = r->sa->sa_family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
		e.state = (int)r->state;
		e.error = r->error;
		he_usec_to_tv_(now > r->learned ? now - r->learned : 0, &e.age);
		he_usec_to_tv_(r->srtt, &e.rtt);
		he_usec_to_tv_(r->rttvar, &e.rttvar);
		e.from_file = r->from_file;
		cb(&e, arg);
	}
	n = c->n;
	free(c);
	return n;
}

int
evhappy_history_network(ev_uint64_t *key, char *buf, size_t len)
{
	struct he_history *h = he_history_global_();
	char text[HE_PERSIST_TEXT];
	uint64_t k;

	if (!buf && len) {
		errno = EINVAL;
		return -1;
	}
	he_persist_check_network_(h);
	k = he_persist_network_(h, text, sizeof(text), NULL);
	if (key)
		*key = k;
	return snprintf(buf, len, "%s", text);
}

int
evhappy_forget_history(int all)
{
	int err;

	if (all != 0 && all != 1) {
		errno = EINVAL;
		return -1;
	}
	if ((err = he_persist_forget_(he_history_global_(), all)) != 0) {
		errno = err;
		return -1;
	}
	return 0;
}
