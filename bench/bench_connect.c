/*
 * What a race costs over a plain connect: N connects, one after another,
 * to a listener on loopback, each with evhappy or with the libevent call it
 * replaces.  Run it under callgrind (bench/b-callgrind.sh) to count
 * instructions; wall time on loopback is mostly the kernel's.
 *
 *   bench_connect MODE N
 *
 * evhappy            evhappy_connect_addrinfo, one address (127.0.0.1)
 * libevent           bufferevent_socket_connect to it
 * evhappy-hostname   evhappy_socket_connect_hostname(AF_UNSPEC, "bench.test")
 * libevent-hostname  bufferevent_socket_connect_hostname, same arguments
 *
 * syn-evhappy N, syn-libevent N: no callgrind; the median microseconds
 * from the call (evhappy_connect_addrinfo, bufferevent_socket_connect) to
 * the handshake reaching the listener's queue, the loop turned without
 * blocking meanwhile: on loopback that is when the SYN left.  syn-both N:
 * N of each in one process, alternating, and both medians.
 *
 * BENCH_HISTORY_FILE=PATH in the environment: evhappy_set_history_file(PATH)
 * first (a linked program has no file otherwise), to count what the file
 * costs a race.
 *
 * Both hostname modes use one evdns_base with no nameserver whose hosts
 * table says bench.test is 127.0.0.1 and ::1 (::1 left out where IPv6
 * loopback does not work): the same resolver, answering without a packet,
 * so the counts are the connect's and the lookup's own.  evhappy asks AAAA
 * and A and connects to ::1; libevent asks once and connects to what
 * evdns lists first.
 */
#include "he_event.h"
#include "he_lab.h"

#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>

#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

struct bench {
	struct event_base *base;
	struct evhappy *he;
	struct evdns_base *dns;
	struct evutil_addrinfo *addr;
	evutil_socket_t listener, listener6;
	int port;
	int use_evhappy, hostname;
	int left, failed;
	int syn, ended;			/* syn-* modes: one at a time */
};

static void next_connect(struct bench *b);

/* A listener on [::1]:port, beside 127.0.0.1's; -1 if it cannot be. */
static evutil_socket_t
bound_listener6(int port)
{
	struct sockaddr_in6 sin6;
	evutil_socket_t fd = socket(AF_INET6, SOCK_STREAM, 0);
	int one = 1;

	if (fd < 0)
		return -1;
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons((unsigned short)port);
	sin6.sin6_addr = in6addr_loopback;
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) < 0 ||
	    listen(fd, 16) < 0 || evutil_make_socket_nonblocking(fd) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct bench *b = arg;
	evutil_socket_t fd;

	if (!(what & BEV_EVENT_CONNECTED))
		b->failed++;
	if (b->syn) {
		/* Reset, not closed: no TIME_WAIT left behind to slow the
		 * next connects' search for a source port. */
		struct linger lg = { 1, 0 };
		setsockopt(bufferevent_getfd(bev), SOL_SOCKET, SO_LINGER, &lg,
		    sizeof(lg));
	}
	bufferevent_free(bev);
	if (b->syn) {
		b->ended = 1;
		return;
	}
	/* Keep the accept queue empty. */
	while ((fd = accept(b->listener, NULL, NULL)) >= 0)
		close(fd);
	while (b->listener6 >= 0 &&
	    (fd = accept(b->listener6, NULL, NULL)) >= 0)
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
	if (b->hostname && b->use_evhappy)
		rc = evhappy_socket_connect_hostname(bev, b->dns, AF_UNSPEC,
		    "bench.test", b->port);
	else if (b->hostname)
		rc = bufferevent_socket_connect_hostname(bev, b->dns,
		    AF_UNSPEC, "bench.test", b->port);
	else if (b->use_evhappy)
		rc = evhappy_connect_addrinfo(b->he, bev, b->addr);
	else
		rc = bufferevent_socket_connect(bev, b->addr->ai_addr,
		    (int)b->addr->ai_addrlen);
	if (rc < 0) {
		perror("connect");
		exit(1);
	}
}

/* An evdns_base that knows bench.test from its hosts table only. */
static struct evdns_base *
hosts_resolver(struct event_base *base, int v6)
{
	char path[] = "/tmp/evhappy-bench-hostsXXXXXX";
	struct evdns_base *dns = evdns_base_new(base, 0);
	FILE *f;
	int fd = mkstemp(path);

	if (!dns || fd < 0 || !(f = fdopen(fd, "w")))
		return NULL;
	fprintf(f, "127.0.0.1 bench.test\n");
	if (v6)
		fprintf(f, "::1 bench.test\n");
	fclose(f);
	if (evdns_base_load_hosts(dns, path) < 0)
		dns = NULL;
	unlink(path);
	return dns;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static int64_t
now_us(void)
{
	struct timeval tv;

	evutil_gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* The time from the call to the listener seeing the handshake. */
static int64_t
syn_once(struct bench *b)
{
	struct pollfd pfd;
	evutil_socket_t fd;
	int64_t t0, t;

	b->ended = 0;
	pfd.fd = b->listener;
	pfd.events = POLLIN;
	t0 = now_us();
	next_connect(b);
	while (poll(&pfd, 1, 0) == 0)
		event_base_loop(b->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	t = now_us() - t0;
	while ((fd = accept(b->listener, NULL, NULL)) >= 0)
		close(fd);
	while (!b->ended)
		event_base_loop(b->base, EVLOOP_ONCE);
	return t;
}

static int64_t
median_i64(int64_t *t, int n)
{
	qsort(t, n, sizeof(*t), cmp_i64);
	return t[n / 2];
}

/* syn-*: the median of n connects of one kind (b->use_evhappy);
 * syn-both: n of each, alternating (in turn first), so that the state of
 * the machine (a core's clock, another process) falls on both alike;
 * *other gets libevent's median. */
static int64_t
syn_median(struct bench *b, int n, int both, int64_t *other)
{
	int64_t *t = calloc(n, sizeof(*t)), *u = calloc(n, sizeof(*u)), med;
	int i, k;

	if (!t || !u)
		exit(1);
	b->syn = 1;
	for (i = 0; i < n && !b->failed; i++) {
		for (k = 0; k < 1 + both; k++) {
			if (both)
				b->use_evhappy = (i + k) % 2;
			if (!both || b->use_evhappy)
				t[i] = syn_once(b);
			else
				u[i] = syn_once(b);
		}
	}
	med = median_i64(t, n);
	if (both)
		*other = median_i64(u, n);
	free(t);
	free(u);
	return med;
}

static const char *const modes[] = { "libevent", "evhappy",
    "libevent-hostname", "evhappy-hostname", "syn-libevent", "syn-evhappy",
    "syn-both" };

static int
parse_mode(const char *s)
{
	int i;

	for (i = 0; i < 7; i++)
		if (!strcmp(s, modes[i]))
			return i;
	return -1;
}

int
main(int argc, char **argv)
{
	struct bench b;
	struct sockaddr_in sin;
	int n, mode;

	if (argc != 3 || (n = atoi(argv[2])) < 1 ||
	    (mode = parse_mode(argv[1])) < 0) {
		fprintf(stderr, "usage: bench_connect libevent|evhappy|"
		    "libevent-hostname|evhappy-hostname|syn-libevent|"
		    "syn-evhappy|syn-both N\n");
		return 2;
	}
	memset(&b, 0, sizeof(b));
	if (getenv("BENCH_HISTORY_FILE") &&
	    evhappy_set_history_file(getenv("BENCH_HISTORY_FILE")) < 0) {
		perror("bench_connect: BENCH_HISTORY_FILE");
		return 1;
	}
	b.use_evhappy = mode & 1;
	b.hostname = mode == 2 || mode == 3;
	b.left = n;
	b.base = event_base_new();
	b.he = evhappy_new(b.base, NULL);
	b.listener = he_lab_listen("127.0.0.1", &b.port);
	b.listener6 = -1;
	if (b.hostname && he_lab_ipv6_loopback_works())
		b.listener6 = bound_listener6(b.port);
	if (b.hostname)
		b.dns = hosts_resolver(b.base, b.listener6 >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)b.port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	b.addr = evhappy_addrinfo_from_sockaddr((struct sockaddr *)&sin,
	    sizeof(sin));
	if (!b.base || !b.he || b.listener < 0 || !b.addr ||
	    (b.hostname && !b.dns)) {
		fprintf(stderr, "bench_connect: set-up failed\n");
		return 1;
	}
	if (mode == 6) {
		int64_t e, l;

		e = syn_median(&b, n, 1, &l);
		printf("%s: median evhappy %lld us libevent %lld us from the "
		    "call to the SYN\n", argv[1], (long long)e, (long long)l);
		goto end;
	}
	if (mode >= 4) {
		printf("%s: median %lld us from the call to the SYN\n", argv[1],
		    (long long)syn_median(&b, n, 0, NULL));
		goto end;
	}
	next_connect(&b);
	event_base_dispatch(b.base);
	printf("%s: %d connects, %d failed, ipv6 %s\n", argv[1], n, b.failed,
	    b.listener6 >= 0 ? "yes" : "no");
end:
	evhappy_addrinfo_free(b.addr);
	evhappy_free(b.he);
	if (b.dns)
		evdns_base_free(b.dns, 0);
	close(b.listener);
	if (b.listener6 >= 0)
		close(b.listener6);
	event_base_free(b.base);
	return b.failed ? 1 : 0;
}
