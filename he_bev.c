/*
 * Racing on a bufferevent: the drop-in for bufferevent_socket_connect_hostname.
 * The winner is handed to libevent with bufferevent_setfd() and
 * bufferevent_socket_connect(bev, NULL, 0), so libevent itself reports
 * BEV_EVENT_CONNECTED (after the TLS handshake for OpenSSL) and flushes what
 * the user wrote before.
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include "he_internal.h"

#include <errno.h>
#include <pthread.h>
#include <unistd.h>

/* libevent has no place to hang data on a bufferevent, so DNS errors wait in
 * a small ring keyed by bufferevent.  A connect on a bev clears its entry;
 * with more failed bevs than slots, the oldest reads 0. */
#define DNS_ERROR_SLOTS 64

static struct {
	const struct bufferevent *bev;
	int error;
} dns_errors[DNS_ERROR_SLOTS];
static int dns_errors_next;
static int dns_errors_live;	/* entries in use: most programs have none */

/* Bufferevent races under way, linked through bev_next, so that a second
 * connect on a bufferevent that is still racing is refused. */
static struct evhappy_request *racing;

/* Guards both tables: contexts on different threads share them. */
static pthread_mutex_t bev_tables_lock = PTHREAD_MUTEX_INITIALIZER;

static int
dns_error_find(const struct bufferevent *bev)
{
	int i;

	for (i = 0; i < DNS_ERROR_SLOTS && dns_errors_live; i++)
		if (dns_errors[i].bev == bev)
			return i;
	return -1;
}

static void
dns_error_set(const struct bufferevent *bev, int error)
{
	int i;

	pthread_mutex_lock(&bev_tables_lock);
	i = dns_error_find(bev);
	if (i >= 0) {
		dns_errors[i].bev = NULL;
		dns_errors[i].error = 0;
		dns_errors_live--;
	}
	if (error) {
		i = dns_errors_next;
		dns_errors_next = (dns_errors_next + 1) % DNS_ERROR_SLOTS;
		if (dns_errors[i].bev)
			dns_errors_live--;	/* the oldest is overwritten */
		dns_errors[i].bev = bev;
		dns_errors[i].error = error;
		dns_errors_live++;
	}
	pthread_mutex_unlock(&bev_tables_lock);
}

int
evhappy_get_dns_error(struct bufferevent *bev)
{
	int i, error = 0;

	if (!bev)
		return 0;
	pthread_mutex_lock(&bev_tables_lock);
	i = dns_error_find(bev);
	if (i >= 0)
		error = dns_errors[i].error;
	pthread_mutex_unlock(&bev_tables_lock);
	return error;
}

int
evhappy_socket_get_dns_error(struct bufferevent *bev)
{
	return evhappy_get_dns_error(bev);
}

void
he_bev_attach_(struct evhappy_request *req, struct bufferevent *bev)
{
	bufferevent_incref(bev);
	pthread_mutex_lock(&bev_tables_lock);
	req->bev = bev;
	req->bev_next = racing;
	racing = req;
	req->bev_listed = 1;
	pthread_mutex_unlock(&bev_tables_lock);
}

void
he_bev_detach_(struct evhappy_request *req)
{
	struct evhappy_request **pp;
	struct bufferevent *bev;

	if (!req->bev_listed)
		return;
	pthread_mutex_lock(&bev_tables_lock);
	for (pp = &racing; *pp; pp = &(*pp)->bev_next) {
		if (*pp == req) {
			*pp = req->bev_next;
			break;
		}
	}
	req->bev_listed = 0;
	bev = req->bev;
	req->bev = NULL;
	pthread_mutex_unlock(&bev_tables_lock);
	if (bev)
		bufferevent_decref(bev);
}

static int
bev_racing(const struct bufferevent *bev)
{
	const struct evhappy_request *r;
	int found = 0;

	pthread_mutex_lock(&bev_tables_lock);
	for (r = racing; r && !found; r = r->bev_next)
		found = r->bev == bev;
	pthread_mutex_unlock(&bev_tables_lock);
	return found;
}

/* The socket bufferevent under any filters. */
static struct bufferevent *
bottom_of(struct bufferevent *bev)
{
	struct bufferevent *under;

	while ((under = bufferevent_get_underlying(bev)) != NULL)
		bev = under;
	return bev;
}

/* 0 when bev can take a raced socket, else an errno. */
static int
bev_check(struct bufferevent *bev)
{
	struct bufferevent *bottom;

	if (!bev)
		return EINVAL;
	bottom = bottom_of(bev);
	if (bufferevent_pair_get_partner(bottom))
		return EINVAL;	/* a pair has no socket to connect */
	if (bufferevent_getfd(bottom) >= 0)
		return EISCONN;
	if (bev_racing(bev))
		return EALREADY;
	return 0;
}

int
he_bev_gone_(struct evhappy_request *req)
{
	if (!req->bev)
		return 1;
	if (bufferevent_decref(req->bev) == 1) {
		/* Ours was the last reference: the user freed it. */
		pthread_mutex_lock(&bev_tables_lock);
		req->bev = NULL;
		pthread_mutex_unlock(&bev_tables_lock);
		return 1;
	}
	bufferevent_incref(req->bev);
	return 0;
}

static int
hand_off(struct bufferevent *bev, evutil_socket_t fd)
{
	struct bufferevent *bottom = bottom_of(bev);

	if (bufferevent_setfd(bottom, fd) < 0) {
		evutil_closesocket(fd);
		return -1;
	}
	/* From here the socket is the bufferevent's. */
	if (bufferevent_socket_connect(bottom, NULL, 0) < 0)
		return -1;
	return 0;
}

void
he_bev_deliver_(struct evhappy_request *req, evutil_socket_t fd)
{
	int error = req->race.error;

	if (he_bev_gone_(req)) {
		if (fd >= 0)
			evutil_closesocket(fd);
		return;
	}
	dns_error_set(req->bev, req->race.dns_failure);
	if (fd >= 0) {
		if (hand_off(req->bev, fd) == 0)
			return;
		error = EIO;
	}
	EVUTIL_SET_SOCKET_ERROR(error);
	bufferevent_trigger_event(req->bev, BEV_EVENT_ERROR,
	    BEV_TRIG_DEFER_CALLBACKS);
}

/* Both front doors: a list (hostname NULL) or a name. */
static int
bev_race(struct evhappy *he, struct bufferevent *bev,
    const struct evutil_addrinfo *addrs, int family, const char *hostname,
    int port)
{
	int err = he ? bev_check(bev) : EINVAL;

	if (!err && !addrs && !hostname)
		err = EINVAL;
	if (err) {
		errno = err;
		return -1;
	}
	dns_error_set(bev, 0);
	return he_start_bev_race_(he, bev, addrs, family, hostname, port);
}

int
evhappy_connect_addrinfo(struct evhappy *he, struct bufferevent *bev,
    const struct evutil_addrinfo *addrs)
{
	return bev_race(he, bev, addrs, AF_UNSPEC, NULL, 0);
}

int
evhappy_connect_hostname(struct evhappy *he, struct bufferevent *bev,
    int family, const char *hostname, int port)
{
	return bev_race(he, bev, NULL, family, hostname, port);
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
	he->autofree = 1;
	he_env_apply_(he);
	if (evhappy_connect_hostname(he, bev, family, hostname, port) < 0) {
		err = errno;
		evhappy_free(he);
		errno = err;
		return -1;
	}
	return 0;
}
