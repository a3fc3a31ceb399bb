/*
 * A bufferevent's kind, its own timeouts and its connection address, which
 * libevent 2.1 offers no function for (he_levent.h).
 *
 * - The kind and the timeouts come from libevent's public struct bufferevent
 *   (event2/bufferevent_struct.h): its be_ops, compared with libevent's
 *   bufferevent_ops_socket, and its ev_read and ev_write events, which carry
 *   the timeouts (event_pending tells when they fire).
 * - The connection address is kept in libevent's private part of the
 *   bufferevent; libevent sets it with bufferevent_socket_set_conn_address_,
 *   which libevent_core exports for evhttp (libevent_extra) to call.
 *
 * Both names are looked up once, at run time, in the libevent this library
 * calls (the object that holds bufferevent_socket_new): a libevent without
 * them makes the answers "unknown" and the address unset, never a failure
 * to load.
 */
#include "he_internal.h"
#include "he_levent.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>
#include <netinet/in.h>

typedef void (*set_conn_address_fn)(struct bufferevent *, struct sockaddr *,
    size_t);

static const void *socket_ops;
static set_conn_address_fn set_conn_address;
static pthread_once_t levent_once = PTHREAD_ONCE_INIT;

static void
levent_lookup(void)
{
	/* Through unions: ISO C has no conversion between function pointers
	 * and void *, POSIX guarantees dlsym's and dladdr's work. */
	union {
		struct bufferevent *(*f)(struct event_base *, evutil_socket_t,
		    int);
		void *p;
	} known;
	union {
		void *p;
		set_conn_address_fn f;
	} u;
	void *lib = NULL, *where;
	Dl_info info;

	known.f = bufferevent_socket_new;
	if (dladdr(known.p, &info) && info.dli_fname && *info.dli_fname)
		lib = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
	where = lib ? lib : RTLD_DEFAULT;
	socket_ops = dlsym(where, "bufferevent_ops_socket");
	u.p = dlsym(where, "bufferevent_socket_set_conn_address_");
	set_conn_address = u.f;
	/* RTLD_NOLOAD took one more reference on a loaded object. */
	if (lib)
		dlclose(lib);
}

int
he_levent_is_socket_bev_(const struct bufferevent *bev)
{
	pthread_once(&levent_once, levent_lookup);
	return socket_ops && (const void *)bev->be_ops == socket_ops;
}

/* The time ev's timeout fires, when it has one (its due time when it
 * fired and waits in the active queue): 0, or ENOENT. */
static int
timeout_at(struct event *ev, struct timeval *at)
{
	return (event_pending(ev, EV_TIMEOUT, at) & EV_TIMEOUT) ? 0 : ENOENT;
}

int
he_levent_timeout_left_(struct bufferevent *bev, struct timeval *left)
{
	struct timeval at, other, now;
	int r, w;

	/* most bufferevents have none: no need to ask their events */
	if (!he_levent_has_timeouts_(bev))
		return ENOENT;
	r = timeout_at(&bev->ev_read, &at);
	w = timeout_at(&bev->ev_write, &other);
	if (r && w)
		return ENOENT;
	if (r || (!w && evutil_timercmp(&other, &at, <)))
		at = other;
	/* event_pending gives the base's wall-clock time, as this does: a
	 * span between two of libevent's times, not the race's clock. */
	event_base_gettimeofday_cached(bufferevent_get_base(bev), &now);
	if (evutil_timercmp(&at, &now, <=))
		evutil_timerclear(left);
	else
		evutil_timersub(&at, &now, left);
	return 0;
}

void
he_levent_set_conn_address_(struct bufferevent *bev,
    const struct sockaddr *sa, ev_socklen_t len)
{
	union {
		const struct sockaddr *in;
		struct sockaddr *out;
	} u;

	pthread_once(&levent_once, levent_lookup);
	/* libevent keeps room for an IPv4 or IPv6 address, no more; it
	 * copies what it is given (and takes it without const) */
	if (!set_conn_address || !sa || len > sizeof(struct sockaddr_in6) ||
	    (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return;
	u.in = sa;
	set_conn_address(bev, u.out, len);
}
