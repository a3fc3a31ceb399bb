/*
 * The front doors: every public call that starts a race checks its
 * arguments here, then makes and launches a request.  A refused start
 * (-1/NULL with errno) never calls anyone back.
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include "he_internal.h"

#include <errno.h>

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
	return he && he->state != HE_CTX_DYING;
}

static struct evhappy_request *
start_cb_race(struct evhappy *he, const struct evutil_addrinfo *addrs,
    int family, const char *hostname, int port, evhappy_connect_cb cb,
    void *arg)
{
	struct evhappy_request *req;

	if (!(req = he_request_new_(he, addrs, family, hostname, port)))
		return NULL;
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

/* Both bufferevent front doors: a list (hostname NULL) or a name. */
static int
start_bev_race(struct evhappy *he, struct bufferevent *bev,
    const struct evutil_addrinfo *addrs, int family, const char *hostname,
    int port)
{
	struct evhappy_request *req;
	int err = context_open(he) ? he_bev_check_(he->base, bev) : EINVAL;

	if (!err && (hostname ? !valid_target(family, hostname, port) :
	    !addrs))
		err = EINVAL;
	if (err) {
		errno = err;
		return -1;
	}
	if (!(req = he_request_new_(he, addrs, family, hostname, port)))
		return -1;
	if (he_request_attach_bev_(req, bev) < 0) {
		err = errno;
		he_request_free_(req);
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
	he->state = HE_CTX_PRIVATE;
	/* libevent's own call has no overall timeout: it waits as long as the
	 * kernel retries the SYN (net.ipv4.tcp_syn_retries, about 2 minutes),
	 * after as long as the resolver takes.  A drop-in must not fail where
	 * that call would still connect, so it has none either; each attempt
	 * ends when the kernel gives up on it.  EVHAPPY_TIMEOUT_MS may set one. */
	he->race.timeout = HE_NEVER;
	he_env_apply_(he);
	if (evhappy_connect_hostname(he, bev, family, hostname, port) < 0) {
		err = errno;
		evhappy_free(he);
		errno = err;
		return -1;
	}
	return 0;
}
