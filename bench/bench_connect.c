/*
 * What a race costs over a plain connect: N connects, one after another,
 * to a listener on 127.0.0.1, with evhappy (a one-address race, through
 * evhappy_connect_addrinfo on a bufferevent) or with libevent alone
 * (bufferevent_socket_connect).  Run it under callgrind (bench/run.sh) to
 * count instructions; wall time on loopback is mostly the kernel's.
 *
 *   bench_connect evhappy|libevent N
 */
#include "he_event.h"
#include "he_lab.h"

#include <event2/bufferevent.h>
#include <event2/event.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

struct bench {
	struct event_base *base;
	struct evhappy *he;
	struct evutil_addrinfo *addr;
	evutil_socket_t listener;
	int use_evhappy;
	int left, failed;
};

static void next_connect(struct bench *b);

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct bench *b = arg;
	evutil_socket_t fd;

	if (!(what & BEV_EVENT_CONNECTED))
		b->failed++;
	bufferevent_free(bev);
	/* Keep the accept queue empty. */
	while ((fd = accept(b->listener, NULL, NULL)) >= 0)
		close(fd);
	if (--b->left > 0 && !b->failed)
		next_connect(b);
	else
		event_base_loopbreak(b->base);
}

static void
next_connect(struct bench *b)
{
	struct bufferevent *bev = bufferevent_socket_new(b->base, -1,
	    BEV_OPT_CLOSE_ON_FREE);
	int rc;

	bufferevent_setcb(bev, NULL, NULL, event_cb, b);
	if (b->use_evhappy)
		rc = evhappy_connect_addrinfo(b->he, bev, b->addr);
	else
		rc = bufferevent_socket_connect(bev, b->addr->ai_addr,
		    (int)b->addr->ai_addrlen);
	if (rc < 0) {
		perror("connect");
		exit(1);
	}
}

int
main(int argc, char **argv)
{
	struct bench b;
	struct sockaddr_in sin;
	int port, n;

	if (argc != 3 || (n = atoi(argv[2])) < 1 ||
	    (strcmp(argv[1], "evhappy") && strcmp(argv[1], "libevent"))) {
		fprintf(stderr, "usage: bench_connect evhappy|libevent N\n");
		return 2;
	}
	memset(&b, 0, sizeof(b));
	b.use_evhappy = !strcmp(argv[1], "evhappy");
	b.left = n;
	b.base = event_base_new();
	b.he = evhappy_new(b.base, NULL);
	b.listener = he_lab_listen("127.0.0.1", &port);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	b.addr = evhappy_addrinfo_from_sockaddr((struct sockaddr *)&sin,
	    sizeof(sin));
	if (!b.base || !b.he || b.listener < 0 || !b.addr) {
		fprintf(stderr, "bench_connect: set-up failed\n");
		return 1;
	}
	next_connect(&b);
	event_base_dispatch(b.base);
	printf("%s: %d connects, %d failed\n", argv[1], n, b.failed);
	evhappy_addrinfo_free(b.addr);
	evhappy_free(b.he);
	close(b.listener);
	event_base_free(b.base);
	return b.failed ? 1 : 0;
}
