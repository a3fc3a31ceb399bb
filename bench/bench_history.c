/*
 * What the connection history saves: N connects in a row to a name whose
 * IPv6 address is a black hole and whose IPv4 address works, with the
 * history on and off, on loopback: the name is answered by the lab's fake
 * DNS server (AAAA ::1, A 127.0.0.1), ::1 has a listener with a full
 * accept queue at the port (SYNs dropped), 127.0.0.1 a listener.  Without
 * IPv6 on loopback it says so and exits 77.  The wall time is the measure here: it is the Connection Attempt Delay
 * (250 ms) that history saves, far above the noise of a loaded machine.
 *
 *   bench_history [N]     (N defaults to 10)
 *
 * Prints "on MS off MS ratio R" plus a readable line.
 */
#include "he_event.h"
#include "he_lab.h"

#include <event2/dns.h>
#include <event2/event.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NAME "blackhole.test"

struct run {
	struct event_base *base;
	struct evhappy *he;
	int port, done, failed;
};

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static void
on_connect(evutil_socket_t fd, const struct evhappy_report *r, void *arg)
{
	struct run *run = arg;

	(void)r;
	run->done = 1;
	if (fd < 0)
		run->failed++;
	else
		close(fd);
	event_base_loopbreak(run->base);
}

/* N connects with history on or off; the total in ms, or -1. */
static double
connects(struct run *run, struct evdns_base *dns, evutil_socket_t lfd,
    int n, int history)
{
	double t0 = now_ms();
	evutil_socket_t c;
	int i;

	if (!(run->he = evhappy_new(run->base, dns)))
		return -1;
	evhappy_set_history(run->he, history);
	evhappy_clear_history(run->he);
	for (i = 0; i < n; i++) {
		run->done = 0;
		if (!evhappy_resolve_and_connect(run->he, AF_UNSPEC, NAME,
		    run->port, on_connect, run))
			return -1;
		while (!run->done)
			event_base_dispatch(run->base);
		while ((c = accept(lfd, NULL, NULL)) >= 0)
			close(c);
	}
	evhappy_free(run->he);
	return run->failed ? -1 : now_ms() - t0;
}

int
main(int argc, char **argv)
{
	struct run run;
	struct he_lab_dns *d;
	struct evdns_base *dns;
	struct he_lab_blackhole *bh;
	evutil_socket_t lfd;
	int n = argc > 1 ? atoi(argv[1]) : 10;
	const char *hole = "::1";
	char addr[64];
	double on, off;

	memset(&run, 0, sizeof(run));
	if (!he_lab_ipv6_loopback_works()) {
		printf("bench_history: no IPv6 on loopback, skipped\n");
		return 77;
	}
	if (n < 1 || !(run.base = event_base_new()) ||
	    !(d = he_lab_dns_new(run.base)) ||
	    !(dns = he_lab_dns_client(d, run.base)) ||
	    !(bh = he_lab_blackhole_new(hole, &run.port))) {
		fprintf(stderr, "bench_history: set-up failed\n");
		return 1;
	}
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", run.port);
	if ((lfd = he_lab_listen(addr, NULL)) < 0 ||
	    he_lab_dns_add(d, NAME, EVDNS_TYPE_AAAA, hole) < 0 ||
	    he_lab_dns_add(d, NAME, EVDNS_TYPE_A, "127.0.0.1") < 0) {
		fprintf(stderr, "bench_history: set-up failed\n");
		return 1;
	}
	off = connects(&run, dns, lfd, n, 0);
	on = connects(&run, dns, lfd, n, 1);
	if (on <= 0 || off <= 0) {
		fprintf(stderr, "bench_history: a connect failed\n");
		return 1;
	}
	printf("%d connects, black hole at %s: history on %.1f ms, "
	    "off %.1f ms\n", n, hole, on, off);
	printf("on %.1f off %.1f ratio %.3f\n", on, off, on / off);
	close(lfd);
	he_lab_blackhole_free(bh);
	evdns_base_free(dns, 0);
	he_lab_dns_free(d);
	event_base_free(run.base);
	return 0;
}
