/*
 * evhappy --relay: after the race, copy stdin to the socket and the socket
 * to stdout, as nc(1) does, so that scripts can talk through the winner.
 *
 * Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include "evhappy_tool.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

/* Stop reading stdin while this much waits for the socket: a large file
   must not pile up in memory when the peer reads slowly. */
#define RELAY_HIGH_WATER (256 * 1024)
/* How much one read of stdin takes. */
#define RELAY_CHUNK 16384

struct relay {
	struct event_base *base;
	struct bufferevent *sock;
	struct event *in;		/* stdin */
	int in_eof;			/* stdin ended */
	int shut;			/* our write side is shut down */
	int ended;
	int rc;
};

static void
relay_end(struct relay *r, int rc)
{
	r->ended = 1;
	r->rc = rc;
	event_base_loopbreak(r->base);
}

/* Once stdin has ended and everything read from it went out, tell the
   peer (a FIN), and keep reading: its answer may still be coming. */
static void
shut_when_drained(struct relay *r)
{
	if (!r->in_eof || r->shut ||
	    evbuffer_get_length(bufferevent_get_output(r->sock)))
		return;
	r->shut = 1;
	/* If this fails the connection is gone, and reading says so. */
	shutdown(bufferevent_getfd(r->sock), SHUT_WR);
}

static void
stdin_cb(evutil_socket_t fd, short what, void *arg)
{
	struct relay *r = arg;
	char buf[RELAY_CHUNK];
	ssize_t n = read(fd, buf, sizeof(buf));

	(void)what;
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n > 0) {
		if (bufferevent_write(r->sock, buf, (size_t)n) < 0)
			relay_end(r, TOOL_EXIT_FAIL);
		else if (evbuffer_get_length(bufferevent_get_output(r->sock))
		    >= RELAY_HIGH_WATER)
			event_del(r->in);	/* sock_write_cb resumes */
		return;
	}
	if (n < 0)
		fprintf(stderr, "evhappy: stdin: %s\n", strerror(errno));
	r->in_eof = 1;
	event_del(r->in);
	shut_when_drained(r);
}

/* The output went out (bufferevent calls this when it is empty). */
static void
sock_write_cb(struct bufferevent *bev, void *arg)
{
	struct relay *r = arg;

	(void)bev;
	if (!r->in_eof)
		event_add(r->in, NULL);
	shut_when_drained(r);
}

/* Wait until stdout takes more: it may be non-blocking, shared with
   whoever started us. */
static int
stdout_wait(void)
{
	struct pollfd p;

	p.fd = STDOUT_FILENO;
	p.events = POLLOUT;
	p.revents = 0;
	return poll(&p, 1, -1) < 0 && errno != EINTR ? -1 : 0;
}

/* Everything that came from the peer, to stdout.  A blocking write is
   what cat(1) does; a slow reader of stdout slows the peer down. */
static void
sock_read_cb(struct bufferevent *bev, void *arg)
{
	struct relay *r = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (evbuffer_get_length(in) > 0) {
		if (evbuffer_write(in, STDOUT_FILENO) >= 0 || errno == EINTR)
			continue;
		if (errno == EAGAIN && stdout_wait() == 0)
			continue;
		/* Whoever read stdout is gone (EPIPE): nobody is left to
		   tell, and "| head" is not a failure. */
		if (errno != EPIPE)
			fprintf(stderr, "evhappy: stdout: %s\n",
			    strerror(errno));
		relay_end(r, errno == EPIPE ? TOOL_EXIT_OK : TOOL_EXIT_FAIL);
		return;
	}
}

static void
sock_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct relay *r = arg;
	int err = EVUTIL_SOCKET_ERROR();

	if (what & BEV_EVENT_EOF) {
		sock_read_cb(bev, r);
		if (!r->ended)
			relay_end(r, TOOL_EXIT_OK);
	} else if (what & BEV_EVENT_ERROR) {
		fprintf(stderr, "evhappy: relay: %s\n",
		    evutil_socket_error_to_string(err));
		relay_end(r, TOOL_EXIT_FAIL);
	}
}

int
tool_relay(struct event_base *base, evutil_socket_t fd)
{
	struct relay r;

	memset(&r, 0, sizeof(r));
	r.base = base;
	r.rc = TOOL_EXIT_FAIL;
	r.sock = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!r.sock) {
		evutil_closesocket(fd);
		goto end;
	}
	r.in = event_new(base, STDIN_FILENO, EV_READ | EV_PERSIST, stdin_cb,
	    &r);
	if (!r.in)
		goto end;
	bufferevent_setcb(r.sock, sock_read_cb, sock_write_cb, sock_event_cb,
	    &r);
	if (bufferevent_enable(r.sock, EV_READ | EV_WRITE) < 0)
		goto end;
	/* A stdin that cannot be watched (closed) has nothing to send. */
	if (event_add(r.in, NULL) < 0) {
		r.in_eof = 1;
		shut_when_drained(&r);
	}
	while (!r.ended)
		if (event_base_dispatch(base) != 0 && !r.ended)
			goto end;
end:
	if (r.in)
		event_free(r.in);
	if (r.sock)
		bufferevent_free(r.sock);
	return r.rc;
}
