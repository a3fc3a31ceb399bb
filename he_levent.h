/*
 * What evhappy needs of a bufferevent that libevent 2.1 has no function
 * for (he_levent.c): its kind, the time of its own timeouts, and the
 * connection address that libevent's own connect records.  Each is read
 * through libevent's public struct bufferevent (event2/bufferevent_struct.h)
 * or a name libevent exports for its own libraries, looked up at run time;
 * where that fails, the answer is "unknown" and the caller does without.
 */
#ifndef EVHAPPY_HE_LEVENT_H_INCLUDED_
#define EVHAPPY_HE_LEVENT_H_INCLUDED_

#include <event2/bufferevent.h>
#include <event2/bufferevent_struct.h>
#include <event2/util.h>

/** Whether bev is known to be a socket bufferevent (bufferevent_socket_new,
    not a filter, a pair or an OpenSSL one): 1, or 0 (another kind, or this
    libevent cannot tell). */
int he_levent_is_socket_bev_(const struct bufferevent *bev);

/** Whether bev has a read or a write timeout set (most have neither):
    inline, as every race on a bufferevent asks. */
static inline int
he_levent_has_timeouts_(const struct bufferevent *bev)
{
	return evutil_timerisset(&bev->timeout_read) ||
	    evutil_timerisset(&bev->timeout_write);
}

/** How long until the earliest of bev's own read and write timeouts
    (bufferevent_set_timeouts) fires, measured on libevent's clock for
    bev's base (a span between two of libevent's times, so not the race's
    clock): 0 and *left (zero when it is due now), or ENOENT when neither
    is pending. */
int he_levent_timeout_left_(struct bufferevent *bev, struct timeval *left);

/** Record sa as the address bev connected to, as libevent's
    bufferevent_socket_connect_hostname() does (it is what
    evhttp_connection_get_addr() returns, and where evhttp's
    EVHTTP_CON_REUSE_CONNECTED_ADDR reconnects); nothing when this libevent
    has no way to. */
void he_levent_set_conn_address_(struct bufferevent *bev,
    const struct sockaddr *sa, ev_socklen_t len);

#endif
