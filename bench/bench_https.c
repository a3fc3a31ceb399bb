/*
 * What HTTPS records (RFC 9460; evhappy_set_https_records) cost and gain
 * a race: bench/b-https.sh.
 *
 *   bench_https serve
 *       The lab, in a process of its own so that neither callgrind nor
 *       the clock counts it: a fake DNS server and listeners on
 *       127.0.0.1 and ::1 (one port) that accept and close.  Prints
 *       "dns=127.0.0.1:PORT port=PORT v6=0|1 cares=0|1" (cares=0: this
 *       build's evdns contexts ask no HTTPS record) and serves until
 *       killed (at most 10 minutes).  Its names:
 *         bench.test  A 127.0.0.1, AAAA ::1, and at _PORT._https.bench.test
 *                     "1 bench.test alpn=h3,h2 ipv4hint=127.0.0.1
 *                     ipv6hint=::1" (as a CDN publishes it for its
 *                     names): the three answers leave together
 *         hints.test  the same record, but A and AAAA leave 300 ms late
 *         none.test   A and AAAA as bench.test's, no HTTPS record (NXDOMAIN)
 *       (::1 left out where IPv6 loopback does not work.)
 *
 *   bench_https race DNS PORT on|off N
 *       N races one after another, evhappy_resolve_and_connect(AF_UNSPEC,
 *       "bench.test", PORT) on one context whose evdns_base asks only DNS,
 *       with HTTPS records on or off; prints the median microseconds from
 *       the call to the connected callback.  Under callgrind
 *       (b-https.sh), the instructions of N races.
 *
 *   bench_https none DNS PORT on|off N
 *       The same with "none.test": what asking costs when nothing is
 *       published.
 *
 *   bench_https hints DNS PORT on|off N
 *       The same with "hints.test"; prints the median milliseconds to
 *       connect, and for the median race when the HTTPS answer came, when
 *       the winner started and how long its handshake took.
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include "he_event.h"
#include "he_lab.h"
#include "bench_util.h"

#include <event2/dns.h>
#include <event2/event.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define BENCH_MAX_RUNS 10000
/* How late the address answers of hints.test come. */
#define BENCH_LATE_MS 300
/* The server's end, should the script die without killing it. */
#define BENCH_SERVE_S 600

/* ---- serve --------------------------------------------------------------- */

static void
accept_cb(evutil_socket_t fd, short what, void *arg)
{
	evutil_socket_t c;

	(void)what;
	(void)arg;
	while ((c = accept(fd, NULL, NULL)) >= 0)
		evutil_closesocket(c);
}

/* Listeners on 127.0.0.1 and (when it works) ::1 at one port. */
static int
listen_both(struct event_base *base, int v6, int *port)
{
	char where[64];
	evutil_socket_t fd;
	int try, p;

	for (try = 0; try < 8; try++) {
		p = 0;
		if ((fd = he_lab_listen("127.0.0.1", &p)) < 0)
			return -1;
		if (v6) {
			evutil_socket_t fd6;
			evutil_snprintf(where, sizeof(where), "[::1]:%d", p);
			if ((fd6 = he_lab_listen(where, &p)) < 0) {
				evutil_closesocket(fd);
				continue;
			}
			event_add(event_new(base, fd6, EV_READ | EV_PERSIST,
			    accept_cb, NULL), NULL);
		}
		event_add(event_new(base, fd, EV_READ | EV_PERSIST, accept_cb,
		    NULL), NULL);
		*port = p;
		return 0;
	}
	return -1;
}

static int
serve_name(struct he_lab_dns *d, const char *name, int port, int v6,
    int late_ms)
{
	char qname[128], rec[128];

	evutil_snprintf(qname, sizeof(qname), "_%d._https.%s", port, name);
	evutil_snprintf(rec, sizeof(rec), "1 %s alpn=h3,h2 ipv4hint=127.0.0.1"
	    "%s", name, v6 ? " ipv6hint=::1" : "");
	if (he_lab_dns_add(d, name, EVDNS_TYPE_A, "127.0.0.1") < 0 ||
	    (v6 && he_lab_dns_add(d, name, EVDNS_TYPE_AAAA, "::1") < 0) ||
	    he_lab_dns_add_https(d, qname, rec) < 0)
		return -1;
	if (late_ms && (he_lab_dns_set(d, name, EVDNS_TYPE_A, HE_LAB_ANSWER,
	    late_ms) < 0 || he_lab_dns_set(d, name, EVDNS_TYPE_AAAA,
	    HE_LAB_ANSWER, late_ms) < 0))
		return -1;
	return 0;
}

static int
serve(void)
{
	struct event_base *base = event_base_new();
	struct he_lab_dns *d = base ? he_lab_dns_new(base) : NULL;
	struct timeval end = { BENCH_SERVE_S, 0 };
	int v6 = he_lab_ipv6_loopback_works(), port;

	if (!d || listen_both(base, v6, &port) < 0 ||
	    serve_name(d, "bench.test", port, v6, 0) < 0 ||
	    serve_name(d, "hints.test", port, v6, BENCH_LATE_MS) < 0 ||
	    he_lab_dns_add(d, "none.test", EVDNS_TYPE_A, "127.0.0.1") < 0 ||
	    (v6 && he_lab_dns_add(d, "none.test", EVDNS_TYPE_AAAA, "::1") < 0)) {
		fprintf(stderr, "bench_https serve: cannot set up the lab\n");
		return 1;
	}
#ifdef HAVE_CARES
	printf("dns=%s port=%d v6=%d cares=1\n", he_lab_dns_address(d), port,
	    v6);
#else
	printf("dns=%s port=%d v6=%d cares=0\n", he_lab_dns_address(d), port,
	    v6);
#endif
	fflush(stdout);
	event_base_loopexit(base, &end);
	event_base_dispatch(base);
	return 0;
}

/* ---- race, hints ---------------------------------------------------------- */

struct run {
	struct event_base *base;
	struct evhappy *he;
	int done, failed;
	int64_t t0;
	double https_ms, start_ms, rtt_ms;	/* of the race that ran */
};

static double
tv_ms(const struct timeval *tv)
{
	return tv->tv_sec * 1000.0 + tv->tv_usec / 1000.0;
}

static void
trace_cb(const struct evhappy_trace *ev, void *arg)
{
	struct run *r = arg;

	if (ev->kind == EVHAPPY_TRACE_HTTPS_ANSWER)
		r->https_ms = tv_ms(&ev->elapsed);
}

static void
connect_cb(evutil_socket_t fd, const struct evhappy_report *rep, void *arg)
{
	struct run *r = arg;
	struct timeval started, ended;
	int i, n = evhappy_report_attempt_count(rep), err;

	r->done = 1;
	if (fd < 0) {
		r->failed++;
		return;
	}
	evutil_closesocket(fd);
	for (i = 0; i < n; i++) {
		if (evhappy_report_attempt(rep, i, NULL, &err, &started,
		    &ended) == 0 && err == 0) {
			r->start_ms = tv_ms(&started);
			r->rtt_ms = tv_ms(&ended) - r->start_ms;
		}
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* One race to its end: microseconds, or -1. */
static double
race_once(struct run *r, const char *name, int port)
{
	r->done = 0;
	r->https_ms = r->start_ms = r->rtt_ms = 0;
	r->t0 = bench_now_us();
	if (!evhappy_resolve_and_connect(r->he, AF_UNSPEC, name, port,
	    connect_cb, r))
		return -1;
	while (!r->done)
		if (event_base_loop(r->base, EVLOOP_ONCE) < 0)
			return -1;
	return (double)(bench_now_us() - r->t0);
}

static int
race(const char *mode, const char *dns_addr, int port, int on, int n)
{
	static double t[BENCH_MAX_RUNS], sorted[BENCH_MAX_RUNS],
	    https[BENCH_MAX_RUNS], start[BENCH_MAX_RUNS], rtt[BENCH_MAX_RUNS];
	int hints = !strcmp(mode, "hints"), i, m, rc = 1;
	const char *name = hints ? "hints.test" : !strcmp(mode, "none") ?
	    "none.test" : "bench.test";
	struct run r;
	struct evdns_base *dns = NULL;

	memset(&r, 0, sizeof(r));
	if (!(r.base = event_base_new()) ||
	    !(dns = evdns_base_new(r.base, 0)) ||
	    evdns_base_nameserver_ip_add(dns, dns_addr) != 0 ||
	    !(r.he = evhappy_new(r.base, dns)) ||
	    evhappy_set_https_records(r.he, on) < 0) {
		fprintf(stderr, "bench_https: cannot set up\n");
		goto end;
	}
	if (hints)
		evhappy_set_trace_cb(r.he, trace_cb, &r);
	for (i = 0; i < n; i++) {
		if ((t[i] = race_once(&r, name, port)) < 0 || r.failed) {
			fprintf(stderr, "bench_https: race %d failed\n", i);
			goto end;
		}
		https[i] = r.https_ms;
		start[i] = r.start_ms;
		rtt[i] = r.rtt_ms;
	}
	memcpy(sorted, t, (size_t)n * sizeof(t[0]));
	qsort(sorted, (size_t)n, sizeof(sorted[0]), cmp_double);
	if (!hints) {
		printf("%s %s: median %.0f us from the call to connected\n",
		    mode, on ? "on" : "off", sorted[n / 2]);
	} else {
		/* the median race's own figures */
		for (m = 0; m < n && t[m] != sorted[n / 2]; m++)
			;
		printf("%s %s: median_ms=%.1f https_ms=%.1f start_ms=%.1f "
		    "rtt_ms=%.2f\n", mode, on ? "on" : "off",
		    sorted[n / 2] / 1000.0, https[m], start[m], rtt[m]);
	}
	rc = 0;
end:
	evhappy_free(r.he);
	if (r.base)
		event_base_loop(r.base, EVLOOP_NONBLOCK);
	if (dns)
		evdns_base_free(dns, 0);
	if (r.base)
		event_base_free(r.base);
	return rc;
}

int
main(int argc, char **argv)
{
	int port, n;

	signal(SIGPIPE, SIG_IGN);
	if (argc == 2 && !strcmp(argv[1], "serve"))
		return serve();
	if (argc != 6 || (strcmp(argv[1], "race") && strcmp(argv[1], "hints") &&
	    strcmp(argv[1], "none"))
	    || (strcmp(argv[4], "on") && strcmp(argv[4], "off")) ||
	    (port = atoi(argv[3])) <= 0 || (n = atoi(argv[5])) <= 0 ||
	    n > BENCH_MAX_RUNS) {
		fprintf(stderr, "usage: bench_https serve\n"
		    "       bench_https race|none|hints DNS PORT on|off N\n");
		return 2;
	}
	return race(argv[1], argv[2], port, !strcmp(argv[4], "on"), n);
}
