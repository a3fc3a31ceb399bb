/*
 * The socket of one connection attempt (he_sock.c): an adapter between a
 * race's attempts and the kernel.  Knows nothing of races or requests: the
 * glue opens one per attempt the core starts and closes it when the core
 * says so.
 */
#ifndef EVHAPPY_HE_SOCK_H_INCLUDED_
#define EVHAPPY_HE_SOCK_H_INCLUDED_

#include "he_event.h"

/** How an attempt's socket is made. */
struct he_sock_opts {
	struct evutil_addrinfo *local;		/* bind to one of these, or NULL */
	evhappy_socket_factory_cb factory;	/* NULL: socket() */
	void *factory_arg;
};

/** An attempt's socket and its writability event. */
struct he_sock {
	evutil_socket_t fd;
	int persist;		/* ev stays added after it fired */
	struct event *ev;
	struct event *storage;	/* where to assign ev instead of event_new */
};

/** Open a non-blocking close-on-exec stream socket for ai (with the
    factory when set), bind it to the first local address of its family
    that binds, and connect; ev (EV_WRITE, and EV_PERSIST with s->persist)
    is made with cb/arg (in s->storage when set) and added, with timeout
    when it is not NULL.  Returns 0 when the connect is under way, else the
    errno that failed it (s is then closed): the kernel's own
    (EMFILE, ENFILE, ECONNREFUSED, ...), EADDRNOTAVAIL when no local address
    of the family binds, EIO / EPROTOTYPE for a factory's -1 without errno /
    non-stream socket, ENOMEM only for memory. */
int he_sock_open_(struct he_sock *s, const struct evutil_addrinfo *ai,
    const struct he_sock_opts *o, struct event_base *base,
    const struct timeval *timeout, event_callback_fn cb, void *arg);

/** Close the socket and free its event (an event in storage is only
    deleted); safe when already closed.  finalizing: free the event through
    libevent's finalizers (we are inside one of them, possibly inside
    event_base_free). */
void he_sock_close_(struct he_sock *s, int finalizing);

#endif
