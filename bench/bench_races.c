/*
 * N concurrent races in one event loop, one address each: all N started in
 * one go, then the loop runs until every one has ended.  What it costs per
 * race: CPU (user+sys), peak memory (VmHWM over the RSS before the first
 * start) and wall time; and what is left: fds (must be 0), races that
 * connected to an accepting listener but were reported as timed out.
 *
 *   bench_races libevent|bev|cb listen|blackhole N [TIMEOUT_MS]
 *
 * libevent  bufferevent_socket_connect (write timeout for the black hole)
 * bev       evhappy_connect_addrinfo on a bufferevent (the drop-in's path)
 * cb        evhappy_start_connection (the callback API)
 *
 * listen: 127.0.0.1 on ports (one per 500 races) that a child process
 * accepts on and closes, so no accept queue fills and this process's fds
 * are the races' own.  blackhole: listeners whose accept queues are full
 * (SYNs dropped), as many; every race ends by its timeout.  Race i goes
 * to port i % ports, one address per race: with a single destination the
 * kernel's search for a free source port grows with the connections to it,
 * which would measure the kernel, not the races.
 *
 * One line of key=value pairs on stdout; exit 0 when the run was sound.
 */
#include "he_event.h"
#include "he_lab.h"
#include "bench_util.h"

#include <event2/bufferevent.h>
#include <event2/event.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

enum mode { M_LIBEVENT, M_BEV, M_CB };

struct run {
	struct event_base *base;
	struct evhappy *he;
	struct evutil_addrinfo *addrs[BENCH_MAX_PORTS], *addr;
	int nports;
	enum mode mode;
	int blackhole;
	struct timeval timeout;
	int started, ended;
	int connected, timedout, emfile, failed, start_failed;
};

static void
ended(struct run *r, int ok, int err)
{
	if (ok)
		r->connected++;
	else if (err == ETIMEDOUT)
		r->timedout++;
	else if (err == EMFILE || err == ENFILE)
		r->emfile++;
	else
		r->failed++;
	if (++r->ended == r->started)
		event_base_loopbreak(r->base);
}

static void
bev_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct run *r = arg;
	int err = EVUTIL_SOCKET_ERROR();

	if (what & BEV_EVENT_TIMEOUT)
		err = ETIMEDOUT;
	bufferevent_free(bev);
	ended(r, (what & BEV_EVENT_CONNECTED) != 0, err);
}

static void
race_cb(evutil_socket_t fd, const struct evhappy_report *report, void *arg)
{
	struct run *r = arg;

	if (fd >= 0)
		evutil_closesocket(fd);
	ended(r, fd >= 0, evhappy_report_error(report));
}

static int
start_one(struct run *r)
{
	struct bufferevent *bev;
	int rc;

	if (r->mode == M_CB)
		return evhappy_start_connection(r->he, r->addr, race_cb, r) ?
		    0 : -1;
	bev = bufferevent_socket_new(r->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!bev)
		return -1;
	bufferevent_setcb(bev, NULL, NULL, bev_event_cb, r);
	if (r->mode == M_BEV) {
		rc = evhappy_connect_addrinfo(r->he, bev, r->addr);
	} else {
		if (r->blackhole)
			bufferevent_set_timeouts(bev, NULL, &r->timeout);
		/* libevent calls back from inside on an immediate failure
		 * (EMFILE), so the race counts as started before */
		r->started++;
		bufferevent_socket_connect(bev, r->addr->ai_addr,
		    (int)r->addr->ai_addrlen);
		return 1;
	}
	if (rc < 0)
		bufferevent_free(bev);
	return rc;
}

static int
parse_args(int argc, char **argv, struct run *r, int *n)
{
	int ms = argc > 4 ? atoi(argv[4]) : 300;

	if (argc < 4 || (*n = atoi(argv[3])) < 1 || ms < 1)
		return -1;
	if (!strcmp(argv[1], "libevent"))
		r->mode = M_LIBEVENT;
	else if (!strcmp(argv[1], "bev"))
		r->mode = M_BEV;
	else if (!strcmp(argv[1], "cb"))
		r->mode = M_CB;
	else
		return -1;
	if (!strcmp(argv[2], "blackhole"))
		r->blackhole = 1;
	else if (strcmp(argv[2], "listen"))
		return -1;
	r->timeout.tv_sec = ms / 1000;
	r->timeout.tv_usec = (ms % 1000) * 1000;
	return 0;
}

int
main(int argc, char **argv)
{
	struct he_lab_blackhole *bh[BENCH_MAX_PORTS] = { NULL };
	int ports[BENCH_MAX_PORTS], ok = 1;
	struct run r;
	int64_t t0, c0, wall, cpu;
	long limit, rss0, hwm;
	int n, i, fds0, fds_left, rc;

	memset(&r, 0, sizeof(r));
	if (parse_args(argc, argv, &r, &n) < 0) {
		fprintf(stderr, "usage: bench_races libevent|bev|cb "
		    "listen|blackhole N [TIMEOUT_MS]\n");
		return 2;
	}
	limit = bench_raise_nofile();
	r.nports = bench_ports_for(n);
	/* fork the acceptor before any libevent state exists */
	if (!r.blackhole)
		ok = bench_listener_start("127.0.0.1", r.nports, ports) == 0;
	for (i = 0; r.blackhole && i < r.nports; i++)
		if (!(bh[i] = he_lab_blackhole_new("127.0.0.1", &ports[i])))
			ok = 0;
	r.base = event_base_new();
	if (r.mode != M_LIBEVENT)
		r.he = evhappy_new(r.base, NULL);
	for (i = 0; ok && i < r.nports; i++)
		if (!(r.addrs[i] = bench_loopback_target(ports[i])))
			ok = 0;
	if (!ok || !r.base || (r.mode != M_LIBEVENT && !r.he)) {
		fprintf(stderr, "bench_races: set-up failed\n");
		return 1;
	}
	if (r.he && r.blackhole)
		evhappy_set_timeout(r.he, &r.timeout);

	/* the process's network watch (one netlink socket, made by the
	   first race that uses the history, kept for the process) is not
	   a race's: it exists before the count, as in the tests */
	(void)evhappy_history_network(NULL, NULL, 0);
	fds0 = bench_fds();
	rss0 = bench_status_kib("VmRSS");
	c0 = bench_cpu_us();
	t0 = bench_now_us();
	for (i = 0; i < n; i++) {
		r.addr = r.addrs[i % r.nports];
		rc = start_one(&r);
		if (rc < 0)
			r.start_failed++;
		else if (rc == 0)
			r.started++;
		/* rc 1: counted already */
	}
	if (r.ended < r.started)
		event_base_dispatch(r.base);
	wall = bench_now_us() - t0;
	cpu = bench_cpu_us() - c0;
	hwm = bench_status_kib("VmHWM");
	/* libevent closes a freed bufferevent's fd in a finalizer that runs
	 * on the loop's next turn */
	event_base_loop(r.base, EVLOOP_NONBLOCK);
	fds_left = bench_fds() - fds0;

	printf("mode=%s target=%s n=%d limit=%ld started=%d connected=%d "
	    "timedout=%d emfile=%d failed=%d start_failed=%d wall_ms=%.1f "
	    "cpu_us=%.2f rss_kib=%.3f fds_left=%d\n", argv[1], argv[2], n,
	    limit, r.started, r.connected, r.timedout, r.emfile, r.failed,
	    r.start_failed, wall / 1000.0, (double)cpu / n,
	    (double)(hwm - rss0) / n, fds_left);
	if (r.he)
		evhappy_free(r.he);
	for (i = 0; i < r.nports; i++) {
		evhappy_addrinfo_free(r.addrs[i]);
		he_lab_blackhole_free(bh[i]);
	}
	event_base_free(r.base);
	bench_listener_stop();
	return 0;
}
