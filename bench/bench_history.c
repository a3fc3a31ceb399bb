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
 *       Prints "on MS off MS ratio R" plus a readable line.
 *   bench_history procs [N]
 *       The same connect once in each of N processes in a row (forked
 *       children, each with its own event_base and history; this process
 *       answers their DNS), with a history file shared by them
 *       (evhappy_set_history_file) and without one.  Prints "on MS off MS
 *       ratio R" (the sums of the children's connects) and each child's
 *       time.
 */
#include "bench_util.h"
#include "he_event.h"
#include "he_lab.h"

#include <event2/dns.h>
#include <event2/event.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#define NAME "blackhole.test"

struct run {
	struct event_base *base;
	struct evhappy *he;
	int port, done, failed;
};

static double
now_ms(void)
{
	return bench_now_us() / 1000.0;
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

/* ---- procs: one connect per process ------------------------------------ */

struct child {
	struct event_base *base;	/* the parent's: DNS is served here */
	char out[64];
	size_t len;
};

static void
child_said(evutil_socket_t fd, short what, void *arg)
{
	struct child *c = arg;
	ssize_t n;

	(void)what;
	n = read(fd, c->out + c->len, sizeof(c->out) - 1 - c->len);
	if (n > 0) {
		c->len += (size_t)n;
		return;
	}
	if (n < 0 && errno == EINTR)
		return;
	event_base_loopbreak(c->base);
}

/* In the child: one connect through the parent's DNS server; writes its
   time in ms (or -1) to fd and exits. */
static void
child_run(int fd, const char *dns_addr, int port, const char *file)
{
	struct run run;
	struct evdns_base *dns;
	char line[32];
	double t0, ms = -1;
	int n;

	memset(&run, 0, sizeof(run));
	if ((file && evhappy_set_history_file(file) < 0) ||
	    !(run.base = event_base_new()) ||
	    !(dns = evdns_base_new(run.base, 0)) ||
	    evdns_base_nameserver_ip_add(dns, dns_addr) != 0 ||
	    !(run.he = evhappy_new(run.base, dns)))
		goto end;
	run.port = port;
	t0 = now_ms();
	if (!evhappy_resolve_and_connect(run.he, AF_UNSPEC, NAME, port,
	    on_connect, &run))
		goto end;
	while (!run.done)
		event_base_dispatch(run.base);
	if (!run.failed)
		ms = now_ms() - t0;
end:
	n = snprintf(line, sizeof(line), "%.1f\n", ms);
	if (write(fd, line, (size_t)n) < 0)
		_exit(1);
	/* exit(), not _exit(): the history file is saved at exit */
	exit(0);
}

/* n children in a row; the sum of their times, or -1; each in times. */
static double
children(struct event_base *base, const char *dns_addr, int port,
    evutil_socket_t lfd, int n, const char *file, double *times)
{
	double sum = 0;
	int i;

	for (i = 0; i < n; i++) {
		struct child c;
		struct event *ev;
		evutil_socket_t s;
		int p[2], status;
		pid_t pid;

		if (pipe(p) < 0)
			return -1;
		fflush(NULL);
		if ((pid = fork()) < 0)
			return -1;
		if (pid == 0) {
			close(p[0]);
			child_run(p[1], dns_addr, port, file);
		}
		close(p[1]);
		memset(&c, 0, sizeof(c));
		c.base = base;
		if (!(ev = event_new(base, p[0], EV_READ | EV_PERSIST,
		    child_said, &c)) || event_add(ev, NULL) < 0)
			return -1;
		event_base_dispatch(base);
		event_free(ev);
		close(p[0]);
		waitpid(pid, &status, 0);
		while ((s = accept(lfd, NULL, NULL)) >= 0)
			close(s);
		c.out[c.len] = '\0';
		times[i] = atof(c.out);
		if (times[i] <= 0)
			return -1;
		sum += times[i];
	}
	return sum;
}

static int
main_procs(struct event_base *base, struct he_lab_dns *d, int port,
    evutil_socket_t lfd, int n)
{
	char dir[] = "/tmp/evhappy-bench-histXXXXXX", file[64];
	double on, off, t_on[100], t_off[100];
	int i;

	if (n < 1 || n > 100 || !mkdtemp(dir))
		return 1;
	snprintf(file, sizeof(file), "%s/history", dir);
	off = children(base, he_lab_dns_address(d), port, lfd, n, NULL, t_off);
	on = children(base, he_lab_dns_address(d), port, lfd, n, file, t_on);
	unlink(file);
	snprintf(file, sizeof(file), "%s/history.lock", dir);
	unlink(file);
	rmdir(dir);
	if (on <= 0 || off <= 0) {
		fprintf(stderr, "bench_history: a connect failed\n");
		return 1;
	}
	printf("%d processes, one connect each: history file on %.1f ms "
	    "(", n, on);
	for (i = 0; i < n; i++)
		printf("%s%.0f", i ? " " : "", t_on[i]);
	printf("), off %.1f ms (", off);
	for (i = 0; i < n; i++)
		printf("%s%.0f", i ? " " : "", t_off[i]);
	printf(")\non %.1f off %.1f ratio %.3f\n", on, off, on / off);
	return 0;
}

int
main(int argc, char **argv)
{
	struct run run;
	struct he_lab_dns *d;
	struct evdns_base *dns;
	struct he_lab_blackhole *bh;
	evutil_socket_t lfd;
	int procs = argc > 1 && strcmp(argv[1], "procs") == 0;
	int n = argc > 1 + procs ? atoi(argv[1 + procs]) : 10;
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
	if (procs) {
		int rc = main_procs(run.base, d, run.port, lfd, n);
		close(lfd);
		he_lab_blackhole_free(bh);
		evdns_base_free(dns, 0);
		he_lab_dns_free(d);
		event_base_free(run.base);
		return rc;
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
