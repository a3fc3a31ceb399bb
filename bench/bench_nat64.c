/*
 * NAT64's cost to a connect (issue 19), run inside the IPv6-only lab's
 * client namespace (tests/nat64_lab.sh; bench/b-nat64.sh sets it up): a
 * connect to the IPv4 literal 192.0.2.2, which the race synthesizes,
 * against the same connect to the synthesized address given directly,
 * through the same translator (tayga) to the same server.
 *
 *   bench_nat64 once DNS LITERAL PORT
 *       One connect in a fresh process (nothing known: the prefix is
 *       discovered, by RFC 7050 from DNS, the server at DNS, or from the
 *       router advertisements the script sends); prints "us N" (the call
 *       to the callback) and the winner.  With BENCH_NAT64_HISTORY=PATH
 *       the process uses that history file (evhappy_set_history_file):
 *       a prefix an earlier process saved there is known at once.
 *   bench_nat64 loop DNS LITERAL SYNTH PORT N
 *       One context: a connect to each first (the prefix is then known),
 *       then N rounds of a connect to LITERAL and one to SYNTH, in
 *       alternating order; prints "literal_us=M synth_us=M" (the medians)
 *       and the ratio.
 *
 * Each connect ends with a reset (SO_LINGER 0), so no TIME_WAIT builds up.
 *
 * Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).
 */
#include "bench_util.h"
#include "he_event.h"

#include <event2/dns.h>
#include <event2/event.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

struct run {
	struct event_base *base;
	struct evhappy *he;
	int done, ok;
	char winner[80];
};

static void
on_connect(evutil_socket_t fd, const struct evhappy_report *r, void *arg)
{
	struct run *run = arg;
	struct linger lg = { 1, 0 };
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	(void)r;
	run->done = 1;
	run->ok = fd >= 0;
	if (fd >= 0) {
		if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
			evhappy_sockaddr_format((struct sockaddr *)&ss,
			    run->winner, sizeof(run->winner));
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fd);
	}
	event_base_loopbreak(run->base);
}

/* One connect: its microseconds, or -1. */
static double
connect_once(struct run *run, const char *host, int port)
{
	double t0 = (double)bench_now_us();

	run->done = 0;
	if (!evhappy_resolve_and_connect(run->he, AF_UNSPEC, host, port,
	    on_connect, run))
		return -1;
	while (!run->done)
		event_base_dispatch(run->base);
	return run->ok ? (double)bench_now_us() - t0 : -1;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int
setup(struct run *run, struct evdns_base **dns, const char *server)
{
	memset(run, 0, sizeof(*run));
	if (!(run->base = event_base_new()) ||
	    !(*dns = evdns_base_new(run->base, 0)) ||
	    evdns_base_nameserver_ip_add(*dns, server) != 0 ||
	    !(run->he = evhappy_new(run->base, *dns))) {
		fprintf(stderr, "bench_nat64: setup failed\n");
		return -1;
	}
	return 0;
}

static void
teardown(struct run *run, struct evdns_base *dns)
{
	evhappy_free(run->he);
	event_base_loop(run->base, EVLOOP_NONBLOCK);
	evdns_base_free(dns, 0);
	event_base_free(run->base);
}

static int
once(char **argv)
{
	struct evdns_base *dns;
	struct run run;
	double us;

	const char *hf = getenv("BENCH_NAT64_HISTORY");

	if (setup(&run, &dns, argv[2]) < 0)
		return 2;
	if (hf && *hf && evhappy_set_history_file(hf) != 0)
		perror("bench_nat64: evhappy_set_history_file");
	us = connect_once(&run, argv[3], atoi(argv[4]));
	printf("us %.0f winner %s\n", us, run.winner);
	teardown(&run, dns);
	return us < 0;
}

static int
loop(char **argv)
{
	struct evdns_base *dns;
	struct run run;
	int port = atoi(argv[5]), n = atoi(argv[6]), i, bad = 0;
	double *lit, *syn, ml, ms;

	if (n < 1 || !(lit = calloc((size_t)n, sizeof(*lit))) ||
	    !(syn = calloc((size_t)n, sizeof(*syn))))
		return 2;
	if (setup(&run, &dns, argv[2]) < 0)
		return 2;
	/* warm: the prefix learned, the translator's mapping made */
	for (i = 0; i < 5; i++)
		if (connect_once(&run, argv[3], port) < 0 ||
		    connect_once(&run, argv[4], port) < 0)
			bad++;
	for (i = 0; i < n; i++) {
		if (i % 2) {
			lit[i] = connect_once(&run, argv[3], port);
			syn[i] = connect_once(&run, argv[4], port);
		} else {
			syn[i] = connect_once(&run, argv[4], port);
			lit[i] = connect_once(&run, argv[3], port);
		}
		if (lit[i] < 0 || syn[i] < 0)
			bad++;
	}
	ml = median(lit, n);
	ms = median(syn, n);
	printf("literal_us=%.1f synth_us=%.1f ratio=%.3f failed=%d winner=%s\n",
	    ml, ms, ml / ms, bad, run.winner);
	teardown(&run, dns);
	free(lit);
	free(syn);
	return bad != 0;
}

int
main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "once"))
		return once(argv);
	if (argc == 7 && !strcmp(argv[1], "loop"))
		return loop(argv);
	fprintf(stderr, "usage: bench_nat64 once DNS LITERAL PORT | "
	    "loop DNS LITERAL SYNTH PORT N\n");
	return 2;
}
