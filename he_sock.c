/*
 * The socket of one connection attempt (he_sock.h): make it (or take it from the user's
 * factory), bind it, connect it, and watch it for writability.  Errors are
 * the kernel's own errno (EMFILE, ENFILE, ...); ENOMEM only for memory.
 */
#include "he_internal.h"
#include "he_sock.h"

#include <errno.h>
#include <event2/event.h>
#include <unistd.h>
#include <sys/socket.h>

static evutil_socket_t
plain_socket(int family)
{
#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC)
	/* Atomically: no fork+exec in another thread inherits it. */
	return socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    IPPROTO_TCP);
#else
	evutil_socket_t fd = socket(family, SOCK_STREAM, IPPROTO_TCP);

	if (fd >= 0 && (evutil_make_socket_closeonexec(fd) < 0 ||
	    evutil_make_socket_nonblocking(fd) < 0)) {
		int e = errno;
		evutil_closesocket(fd);
		errno = e;
		return -1;
	}
	return fd;
#endif
}

/* The factory's socket must be a stream socket (a UDP "connect" would
 * win at once); we make it non-blocking and close-on-exec. */
static int
factory_socket(const struct evutil_addrinfo *ai, const struct he_sock_opts *o,
    evutil_socket_t *out)
{
	int type = 0;
	socklen_t len = sizeof(type);
	evutil_socket_t fd;

	errno = 0;
	fd = o->factory(ai, o->factory_arg);
	if (fd < 0)
		return errno ? errno : EIO;
	*out = fd;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return errno;
	if (type != SOCK_STREAM)
		return EPROTOTYPE;
	if (evutil_make_socket_nonblocking(fd) < 0 ||
	    evutil_make_socket_closeonexec(fd) < 0)
		return errno ? errno : EIO;
	return 0;
}

/* Bind to the first local address of the attempt's family that binds. */
static int
attempt_bind(evutil_socket_t fd, const struct evutil_addrinfo *local,
    int family)
{
	int err = EADDRNOTAVAIL;

	for (; local; local = local->ai_next) {
		if (local->ai_family != family)
			continue;
		if (bind(fd, local->ai_addr, local->ai_addrlen) == 0)
			return 0;
		err = errno;
	}
	return err;
}

static int
attempt_connect(struct he_sock *s, const struct evutil_addrinfo *ai,
    const struct he_sock_opts *o, struct event_base *base,
    const struct timeval *timeout, event_callback_fn cb, void *arg)
{
	short what = EV_WRITE | (s->persist ? EV_PERSIST : 0);
	int err;

	if (o->factory) {
		if ((err = factory_socket(ai, o, &s->fd)) != 0)
			return err;
	} else if ((s->fd = plain_socket(ai->ai_family)) < 0) {
		return errno;
	}
	if (o->local && (err = attempt_bind(s->fd, o->local,
	    ai->ai_family)) != 0)
		return err;
	if (connect(s->fd, ai->ai_addr, ai->ai_addrlen) < 0 &&
	    errno != EINPROGRESS && errno != EINTR)
		return errno;
	/* Even a connect that completed at once is reported by writability,
	 * so success always arrives on a later loop turn. */
	if (s->storage) {
		event_assign(s->storage, base, s->fd, what, cb, arg);
		s->ev = s->storage;
	} else if (!(s->ev = event_new(base, s->fd, what, cb, arg))) {
		return ENOMEM;
	}
	errno = 0;
	if (event_add(s->ev, timeout) < 0)
		return errno ? errno : ENOMEM;
	return 0;
}

int
he_sock_open_(struct he_sock *s, const struct evutil_addrinfo *ai,
    const struct he_sock_opts *o, struct event_base *base,
    const struct timeval *timeout, event_callback_fn cb, void *arg)
{
	int err = attempt_connect(s, ai, o, base, timeout, cb, arg);

	if (err)
		he_sock_close_(s, 0);
	return err;
}

static void
event_gone(struct event *ev, void *arg)
{
	(void)ev;
	(void)arg;
}

void
he_sock_close_(struct he_sock *s, int finalizing)
{
	if (s->ev == s->storage && s->ev)
		event_del(s->ev);
	else if (s->ev && finalizing)
		event_free_finalize(0, s->ev, event_gone);
	else if (s->ev)
		event_free(s->ev);
	s->ev = NULL;
	if (s->fd >= 0)
		evutil_closesocket(s->fd);
	s->fd = -1;
}
