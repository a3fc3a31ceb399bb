/*
 * The address-list functions on big lists, and evhappy_start_connection
 * handed one: CPU milliseconds (the best of a few runs: on a loaded machine
 * the least disturbed one is the truest) and the wall time of that run.
 *
 *   bench_lists N...
 *
 * Lists hold IPv6 then IPv4 addresses, 3:2, in blocks (what a DNS answer
 * pair concatenated gives, and the hardest case for interleaving).
 * "sort" has them in 16 /64s and 16 /24s, as a big real answer would;
 * "sort_hostile" gives every address its own prefix, so the probe budget
 * is what bounds it.  One line of key=value pairs per function and size.
 */
#include "he_event.h"
#include "bench_util.h"

#include <event2/event.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static double
cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Entry i: IPv6 for the first 3/5, then IPv4; `spread` prefixes, or one
 * per address when spread is 0. */
static struct evutil_addrinfo *
make_list(int n, int spread, int loopback)
{
	struct evutil_addrinfo *head = NULL, **tail = &head, *ai;
	struct sockaddr_in6 sin6;
	struct sockaddr_in sin;
	int i, p;

	for (i = 0; i < n; i++) {
		p = spread ? i % spread : i;
		if (i < n * 3 / 5) {
			memset(&sin6, 0, sizeof(sin6));
			sin6.sin6_family = AF_INET6;
			sin6.sin6_port = htons(9);
			inet_pton(AF_INET6, "2001:db8::", &sin6.sin6_addr);
			sin6.sin6_addr.s6_addr[4] = (uint8_t)(p >> 16);
			sin6.sin6_addr.s6_addr[6] = (uint8_t)(p >> 8);
			sin6.sin6_addr.s6_addr[7] = (uint8_t)p;
			sin6.sin6_addr.s6_addr[14] = (uint8_t)(i >> 8);
			sin6.sin6_addr.s6_addr[15] = (uint8_t)i;
			ai = evhappy_addrinfo_from_sockaddr(
			    (struct sockaddr *)&sin6, sizeof(sin6));
		} else {
			memset(&sin, 0, sizeof(sin));
			sin.sin_family = AF_INET;
			sin.sin_port = htons(9);
			/* 127/8 for a race (a refused port), else 10/8 */
			sin.sin_addr.s_addr = htonl((loopback ? 127u : 10u)
			    << 24 | (uint32_t)(p & 0xffff) << 8 | (i & 0xff));
			ai = evhappy_addrinfo_from_sockaddr(
			    (struct sockaddr *)&sin, sizeof(sin));
		}
		if (!ai) {
			perror("bench_lists");
			exit(1);
		}
		*tail = ai;
		tail = &ai->ai_next;
	}
	return head;
}

struct ctx {
	struct event_base *base;
	struct evhappy *he;
};

static void
never_cb(evutil_socket_t fd, const struct evhappy_report *r, void *arg)
{
	(void)fd; (void)r; (void)arg;
}

/* One timed run of fn on a fresh list of n; the list is freed untimed. */
static void
run_once(const char *fn, int n, struct ctx *c, double *cpu, double *wall)
{
	struct evutil_addrinfo *list, *copy = NULL;
	struct evhappy_request *req = NULL;
	struct sockaddr_storage ss;
	double c0;
	int64_t t0;

	list = make_list(n, strcmp(fn, "sort_hostile") ? 16 : 0,
	    !strcmp(fn, "start_connection"));
	if (!strcmp(fn, "remove")) {	/* the last one: a whole walk */
		struct evutil_addrinfo *ai = list;
		while (ai->ai_next)
			ai = ai->ai_next;
		memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
	}
	c0 = cpu_ms();
	t0 = bench_now_us();
	if (!strcmp(fn, "dup")) {
		copy = evhappy_addrinfo_dup(list);
	} else if (!strcmp(fn, "interleave")) {
		evhappy_addrinfo_interleave(&list, 1);
	} else if (!strncmp(fn, "sort", 4)) {
		evhappy_addrinfo_sort(&list);
	} else if (!strcmp(fn, "pop_interleave")) {
		evhappy_addrinfo_pop_interleave(&list, 1);
	} else if (!strcmp(fn, "remove")) {
		evhappy_addrinfo_remove(&list, (struct sockaddr *)&ss,
		    sizeof(ss));
	} else if (!strcmp(fn, "start_connection")) {
		/* the call and the loop turn that begins the race */
		req = evhappy_start_connection(c->he, list, never_cb, NULL);
		event_base_loop(c->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	}
	*cpu = cpu_ms() - c0;
	*wall = (bench_now_us() - t0) / 1e3;
	if (req) {
		evhappy_request_cancel(req);
		event_base_loop(c->base, EVLOOP_NONBLOCK);
	}
	evhappy_addrinfo_free(copy);
	evhappy_addrinfo_free(list);
}

int
main(int argc, char **argv)
{
	static const char *fns[] = { "dup", "interleave", "sort",
	    "sort_hostile", "pop_interleave", "remove", "start_connection" };
	struct ctx c;
	double cpu, wall, best, best_wall;
	size_t f;
	int a, n, k, reps;

	if (argc < 2) {
		fprintf(stderr, "usage: bench_lists N...\n");
		return 2;
	}
	c.base = event_base_new();
	c.he = c.base ? evhappy_new(c.base, NULL) : NULL;
	if (!c.he) {
		fprintf(stderr, "bench_lists: set-up failed\n");
		return 1;
	}
	for (a = 1; a < argc; a++) {
		n = atoi(argv[a]);
		reps = n > 20000 ? 3 : 5;
		for (f = 0; f < sizeof(fns) / sizeof(*fns); f++) {
			best = best_wall = 1e30;
			for (k = 0; k < reps; k++) {
				run_once(fns[f], n, &c, &cpu, &wall);
				if (cpu < best) {
					best = cpu;
					best_wall = wall;
				}
			}
			printf("fn=%s n=%d cpu_ms=%.3f wall_ms=%.3f\n", fns[f],
			    n, best, best_wall);
			fflush(stdout);
		}
	}
	evhappy_free(c.he);
	event_base_free(c.base);
	return 0;
}
