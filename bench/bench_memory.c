/*
 * What a race and a context hold: the sizes of the structures, and the
 * heap bytes in use (glibc mallinfo2) per race after N start calls and
 * after the loop turn that begins them (the attempt is then connecting: a
 * black hole, so none ends while measured), against libevent's
 * bufferevent_socket_connect measured the same way.
 *
 *   bench_memory [N]
 *
 * key=value lines: size.* are sizeof in bytes; heap.* bytes per race (or
 * per context, per address).
 */
#include "he_context.h"
#include "he_lab.h"
#include "bench_util.h"

#include <event2/bufferevent.h>
#include <event2/event.h>

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

static size_t
in_use(void)
{
	return mallinfo2().uordblks;
}

static void
never_cb(evutil_socket_t fd, const struct evhappy_report *r, void *arg)
{
	(void)fd; (void)r; (void)arg;
}

static void
bev_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev; (void)what; (void)arg;
}

/* Heap per race for one way of starting n races: after the calls, and
 * after the turn that begins them. */
static void
measure(const char *mode, int n, const struct evutil_addrinfo *ai)
{
	struct event_base *base = event_base_new();
	struct evhappy *he = evhappy_new(base, NULL);
	struct bufferevent **bevs = calloc(n, sizeof(*bevs));
	struct evhappy_request **reqs = calloc(n, sizeof(*reqs));
	size_t m0, m1, m2;
	int i;

	if (!base || !he || !bevs || !reqs)
		exit(1);
	m0 = in_use();
	for (i = 0; i < n; i++) {
		if (!strcmp(mode, "cb")) {
			reqs[i] = evhappy_start_connection(he, ai, never_cb,
			    NULL);
			continue;
		}
		bevs[i] = bufferevent_socket_new(base, -1,
		    BEV_OPT_CLOSE_ON_FREE);
		bufferevent_setcb(bevs[i], NULL, NULL, bev_cb, NULL);
		if (!strcmp(mode, "bev"))
			evhappy_connect_addrinfo(he, bevs[i], ai);
		else
			bufferevent_socket_connect(bevs[i], ai->ai_addr,
			    (int)ai->ai_addrlen);
	}
	m1 = in_use();
	event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	m2 = in_use();
	printf("heap.%s.after_start=%.0f\nheap.%s.racing=%.0f\n", mode,
	    (double)(m1 - m0) / n, mode, (double)(m2 - m0) / n);
	for (i = 0; i < n; i++) {
		if (reqs[i])
			evhappy_request_cancel(reqs[i]);
		if (bevs[i])
			bufferevent_free(bevs[i]);
	}
	event_base_loop(base, EVLOOP_NONBLOCK);
	evhappy_free(he);
	event_base_free(base);
	free(bevs);
	free(reqs);
}

int
main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1000, port;
	struct he_lab_blackhole *bh = he_lab_blackhole_new("127.0.0.1", &port);
	struct evutil_addrinfo *ai, *list;
	struct event_base *base;
	struct evhappy *he;
	size_t m0;

	if (!bh || n < 1 || !(ai = bench_loopback_target(port)))
		return 1;
	printf("size.evhappy=%zu\nsize.evhappy_request=%zu\n"
	    "size.he_race=%zu\nsize.he_settings=%zu\nsize.he_attempt=%zu\n"
	    "size.he_sock=%zu\nsize.he_action=%zu\nsize.evutil_addrinfo=%zu\n"
	    "size.event=%zu\n",
	    sizeof(struct evhappy), sizeof(struct evhappy_request),
	    sizeof(struct he_race), sizeof(struct he_settings),
	    sizeof(struct he_attempt), sizeof(struct he_sock),
	    sizeof(struct he_action), sizeof(struct evutil_addrinfo),
	    event_get_struct_event_size());

	/* a context, and an address entry of each family */
	base = event_base_new();
	m0 = in_use();
	he = evhappy_new(base, NULL);
	printf("heap.context=%zu\n", in_use() - m0);
	evhappy_free(he);
	event_base_free(base);
	m0 = in_use();
	list = evhappy_addrinfo_dup(ai);
	printf("heap.address_v4=%zu\n", in_use() - m0);
	evhappy_addrinfo_free(list);
	{
		struct sockaddr_in6 sin6;

		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		m0 = in_use();
		list = evhappy_addrinfo_from_sockaddr(
		    (struct sockaddr *)&sin6, sizeof(sin6));
		printf("heap.address_v6=%zu\n", in_use() - m0);
		evhappy_addrinfo_free(list);
	}

	measure("libevent", n, ai);
	measure("bev", n, ai);
	measure("cb", n, ai);
	evhappy_addrinfo_free(ai);
	he_lab_blackhole_free(bh);
	return 0;
}
