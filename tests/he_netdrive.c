/*
 * The driver of tests/check_history_netns.sh: the programs that run inside
 * the network namespaces the script makes.
 *
 *   he_netdrive wire NS_A NS_B DELAY6_MS DELAY4_MS [READY_FILE]
 *       A wire with a delay per family: a TUN device "hew" in each of the
 *       two named namespaces (ip netns), every IP packet read from one
 *       written to the other, those going from NS_A to NS_B after the
 *       delay of their family (so the round trip of a handshake started
 *       in NS_A is that delay).  tc netem does the same on a veth pair,
 *       but kernels built without sch_netem exist (this CI's); TUN is
 *       everywhere.  READY_FILE is created once both devices exist.  A
 *       SIGHUP re-reads the delays from DELAY_FILE (READY_FILE.delay: "6 4").
 *       Forever.
 *   he_netdrive serve PORT ADDR...
 *       Listen on every ADDR (literals, up to 64) at PORT; accept and
 *       close, forever.
 *   he_netdrive dns FILE NAME [--aaaa ADDR]... [--a ADDR]...
 *       The lab's fake DNS server on 127.0.0.1 answering NAME; its
 *       "127.0.0.1:PORT" is written to FILE once it listens.  Forever.
 *   he_netdrive connect [options] NAME PORT
 *       Connect COUNT times in a row with one context, resolving NAME with
 *       an in-process fake DNS server, and print one line per connect:
 *         connect K START_MS ELAPSED_MS WINNER ERRNO
 *       (START_MS since the first connect began; WINNER "-" on failure),
 *       and with --trace every trace event as "trace K <line>".
 *     --aaaa ADDR, --a ADDR      the records (repeatable)
 *     --count N                  connects (1)
 *     --interval MS              pause between connects (0)
 *     --timeout MS               the overall timeout
 *     --delay MS                 the Connection Attempt Delay
 *     --no-history               evhappy_set_history(he, 0)
 *     --expiry-ms MS             the history's expiry (test hook)
 *     --change-after K           after connect K the records become the
 *     --aaaa2 ADDR, --a2 ADDR    ... ones given here
 *     --exec-after K CMD         after connect K run CMD (sh -c); up to 4
 *     --trace                    print the trace
 *     --history-file PATH        evhappy_set_history_file(PATH); at exit
 *                                (after the library's last save) print
 *                                "persist saves N written N busy N
 *                                max_wait_us N flush_wait_us N"
 *     --port-step                connect K goes to PORT + K - 1
 *   he_netdrive dropin [--aaaa ADDR]... [--a ADDR]... NAME PORT
 *       One evhappy_socket_connect_hostname() race (the drop-in, with its
 *       own settings: no context, EVHAPPY_* from the environment), NAME
 *       resolved with an in-process fake DNS server through evdns, and
 *       one line:  dropin ELAPSED_MS WINNER ERRNO  (WINNER "-" on failure).
 *
 *   he_netdrive histfile PATH
 *       Read a history file as the library does (he_histfile_load_array_)
 *       and print "histfile STATUS N" (STATUS 0: read, else why not) and
 *       one line per record: "rec NETKEY ADDR PORT STATE ERRNO".
 *
 * Records: up to MAXREC of each kind.  Exit status: 0 when it ran
 * (whatever the connects did), 2 on bad usage or a setup failure.
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include "he_histfile.h"
#include "he_history.h"
#include "he_persist.h"
#include "he_time.h"
#include "he_lab.h"
#include "evhappy_tool.h"

#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <net/if.h>
#include <linux/if_tun.h>

#define MAXREC 32

struct drive {
	const char *aaaa[MAXREC], *a[MAXREC], *aaaa2[MAXREC], *a2[MAXREC];
	int naaaa, na, naaaa2, na2;
	int count, interval, timeout, delay, no_history, expiry, change_after;
	int exec_after[4], nexec, trace, port_step;
	const char *exec_cmd[4], *name, *history_file;
	int port;

	struct event_base *base;
	struct he_lab_dns *dns;
	struct evdns_base *evdns;
	struct evhappy *he;
	int index, done, error;
	evutil_socket_t fd;
	char winner[TOOL_ADDRLEN];
};

static int
usage(void)
{
	fprintf(stderr, "usage: he_netdrive wire NS_A NS_B D6 D4 [FILE] |"
	    " serve PORT ADDR... | dns FILE NAME"
	    " [--aaaa A] [--a A] | connect [options] NAME PORT |"
	    " dropin [--aaaa A] [--a A] NAME PORT | histfile PATH\n");
	return 2;
}

/* ---- wire ------------------------------------------------------------------ */

#define WIRE_QUEUE 512
#define WIRE_MTU 2048

struct wire_pkt {
	int64_t due;
	int len;
	unsigned char data[WIRE_MTU];
};

/* Packets of one family on their way from A to B, in order. */
struct wire_queue {
	struct wire_pkt pkt[WIRE_QUEUE];
	int head, n;
};

static struct wire_queue wq[2];		/* 0: IPv6, 1: IPv4 */
static int64_t wire_delay[2];
static volatile sig_atomic_t wire_reload;

static void
on_hup(int sig)
{
	(void)sig;
	wire_reload = 1;
}

/* A TUN device named "hew" in the namespace called ns. */
static int
tun_in(const char *ns)
{
	char path[256];
	struct ifreq ifr;
	int nsfd, fd;

	snprintf(path, sizeof(path), "/var/run/netns/%s", ns);
	if ((nsfd = open(path, O_RDONLY)) < 0 || setns(nsfd, CLONE_NEWNET) < 0)
		return -1;
	close(nsfd);
	if ((fd = open("/dev/net/tun", O_RDWR)) < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "hew");
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

static void
wire_read_delays(const char *file)
{
	FILE *f = fopen(file, "r");
	int d6, d4;

	if (f && fscanf(f, "%d %d", &d6, &d4) == 2 && d6 >= 0 && d4 >= 0) {
		wire_delay[0] = (int64_t)d6 * 1000;
		wire_delay[1] = (int64_t)d4 * 1000;
	}
	if (f)
		fclose(f);
}

/* A packet from A: queued for its family's delay (dropped when the queue
   is full, as a real link would). */
static void
wire_take(int from)
{
	struct wire_pkt tmp;
	struct wire_queue *q;
	int len, fam;

	while ((len = (int)read(from, tmp.data, sizeof(tmp.data))) > 0) {
		fam = (tmp.data[0] >> 4) == 6 ? 0 : 1;
		q = &wq[fam];
		if (q->n == WIRE_QUEUE)
			continue;
		tmp.len = len;
		tmp.due = he_now_() + wire_delay[fam];
		q->pkt[(q->head + q->n++) % WIRE_QUEUE] = tmp;
	}
}

/* Deliver what is due; returns the ms until the next is, or -1. */
static int
wire_flush(int to)
{
	int64_t now = he_now_(), next = -1;
	int f;

	for (f = 0; f < 2; f++) {
		struct wire_queue *q = &wq[f];
		while (q->n && q->pkt[q->head].due <= now) {
			if (write(to, q->pkt[q->head].data,
			    (size_t)q->pkt[q->head].len) < 0) {
				/* a full device drops, as a link would */
			}
			q->head = (q->head + 1) % WIRE_QUEUE;
			q->n--;
		}
		if (q->n && (next < 0 || q->pkt[q->head].due - now < next))
			next = q->pkt[q->head].due - now;
	}
	return next < 0 ? -1 : (int)((next + 999) / 1000);
}

static int
wire(int argc, char **argv)
{
	unsigned char buf[WIRE_MTU];
	char delay_file[512] = "";
	struct pollfd pfd[2];
	int a, b, len, timeout;

	if (argc < 4)
		return usage();
	wire_delay[0] = (int64_t)atoi(argv[2]) * 1000;
	wire_delay[1] = (int64_t)atoi(argv[3]) * 1000;
	if ((a = tun_in(argv[0])) < 0 || (b = tun_in(argv[1])) < 0) {
		fprintf(stderr, "he_netdrive: tun: %s\n", strerror(errno));
		return 2;
	}
	if (argc > 4) {
		FILE *f = fopen(argv[4], "w");
		if (f)
			fclose(f);
		snprintf(delay_file, sizeof(delay_file), "%s.delay", argv[4]);
	}
	signal(SIGHUP, on_hup);
	pfd[0].fd = a;
	pfd[1].fd = b;
	pfd[0].events = pfd[1].events = POLLIN;
	for (;;) {
		if (wire_reload && delay_file[0]) {
			wire_reload = 0;
			wire_read_delays(delay_file);
		}
		timeout = wire_flush(b);
		if (poll(pfd, 2, timeout) < 0 && errno != EINTR)
			return 2;
		if (pfd[0].revents & POLLIN)
			wire_take(a);
		if (pfd[1].revents & POLLIN)
			while ((len = (int)read(b, buf, sizeof(buf))) > 0)
				if (write(a, buf, (size_t)len) < 0) {
					/* dropped */
				}
	}
}

/* ---- serve ---------------------------------------------------------------- */

static int
serve(int argc, char **argv)
{
	struct pollfd pfd[64];
	char buf[128];
	int i, n = 0;

	if (argc < 2)
		return usage();
	for (i = 1; i < argc && n < 64; i++, n++) {
		int port = 0;
		snprintf(buf, sizeof(buf), strchr(argv[i], ':') ? "[%s]:%s" :
		    "%s:%s", argv[i], argv[0]);
		pfd[n].fd = he_lab_listen(buf, &port);
		pfd[n].events = POLLIN;
		if (pfd[n].fd < 0) {
			fprintf(stderr, "he_netdrive: listen %s: %s\n", buf,
			    strerror(errno));
			return 2;
		}
	}
	for (;;) {
		if (poll(pfd, (nfds_t)n, -1) < 0 && errno != EINTR)
			return 2;
		for (i = 0; i < n; i++) {
			evutil_socket_t c;
			if (!(pfd[i].revents & POLLIN))
				continue;
			while ((c = accept(pfd[i].fd, NULL, NULL)) >= 0)
				close(c);
		}
	}
}

/* ---- records ---------------------------------------------------------------- */

static int
add_records(struct he_lab_dns *d, const char *name, const char **aaaa,
    int naaaa, const char **a, int na)
{
	int i;

	he_lab_dns_clear(d, name, EVDNS_TYPE_AAAA);
	he_lab_dns_clear(d, name, EVDNS_TYPE_A);
	/* configured, so that no records means NOERROR, empty */
	he_lab_dns_set(d, name, EVDNS_TYPE_AAAA, HE_LAB_ANSWER, 0);
	he_lab_dns_set(d, name, EVDNS_TYPE_A, HE_LAB_ANSWER, 0);
	for (i = 0; i < naaaa; i++)
		if (he_lab_dns_add(d, name, EVDNS_TYPE_AAAA, aaaa[i]) < 0)
			return -1;
	for (i = 0; i < na; i++)
		if (he_lab_dns_add(d, name, EVDNS_TYPE_A, a[i]) < 0)
			return -1;
	return 0;
}

/* --aaaa X / --a X into the lists; returns how many argv entries it took,
   0 when argv[0] is not one of them. */
static int
record_opt(char **argv, int left, const char *opt, const char **list,
    int *n)
{
	if (strcmp(argv[0], opt) || left < 2 || *n >= MAXREC)
		return 0;
	list[(*n)++] = argv[1];
	return 2;
}

static int
dns_serve(int argc, char **argv)
{
	struct drive d;
	FILE *f;
	int i, k;

	memset(&d, 0, sizeof(d));
	if (argc < 2)
		return usage();
	for (i = 2; i < argc; i += k) {
		k = record_opt(argv + i, argc - i, "--aaaa", d.aaaa, &d.naaaa);
		if (!k)
			k = record_opt(argv + i, argc - i, "--a", d.a, &d.na);
		if (!k)
			return usage();
	}
	if (!(d.base = event_base_new()) || !(d.dns = he_lab_dns_new(d.base)) ||
	    add_records(d.dns, argv[1], d.aaaa, d.naaaa, d.a, d.na) < 0)
		return 2;
	if (!(f = fopen(argv[0], "w")))
		return 2;
	fprintf(f, "%s\n", he_lab_dns_address(d.dns));
	fclose(f);
	event_base_dispatch(d.base);
	return 0;
}

/* ---- connect ---------------------------------------------------------------- */

static double
now_ms(void)
{
	return (double)he_now_() / 1000.0;
}

static void
on_trace(const struct evhappy_trace *ev, void *arg)
{
	struct drive *d = arg;
	char prefix[32];

	snprintf(prefix, sizeof(prefix), "trace %d ", d->index);
	tool_trace_print(stdout, prefix, ev);
}

static void
on_connect(evutil_socket_t fd, const struct evhappy_report *r, void *arg)
{
	struct drive *d = arg;
	struct sockaddr_storage ss;
	ev_socklen_t len = sizeof(ss);

	d->done = 1;
	d->fd = fd;
	d->error = evhappy_report_error(r);
	snprintf(d->winner, sizeof(d->winner), "-");
	if (fd >= 0 && getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
		evhappy_sockaddr_format((struct sockaddr *)&ss, d->winner,
		    sizeof(d->winner));
	event_base_loopbreak(d->base);
}

/* One of connect's options that sets an int: a flag (to 1) or one with a
   number; returns how many argv entries it took, 0 when argv[0] is not
   one of them. */
static int
int_opt(struct drive *d, char **v, int left)
{
	const struct {
		const char *name;
		int *value;
		int flag;
	} opts[] = {
		{ "--no-history", &d->no_history, 1 },
		{ "--trace", &d->trace, 1 },
		{ "--port-step", &d->port_step, 1 },
		{ "--count", &d->count, 0 },
		{ "--interval", &d->interval, 0 },
		{ "--timeout", &d->timeout, 0 },
		{ "--delay", &d->delay, 0 },
		{ "--expiry-ms", &d->expiry, 0 },
		{ "--change-after", &d->change_after, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		if (strcmp(v[0], opts[i].name))
			continue;
		if (opts[i].flag) {
			*opts[i].value = 1;
			return 1;
		}
		if (left < 2)
			return 0;
		*opts[i].value = atoi(v[1]);
		return 2;
	}
	return 0;
}

static int
connect_opts(struct drive *d, int argc, char **argv)
{
	int i, k;

	d->count = 1;
	d->change_after = -1;
	for (i = 0; i < argc - 2; i += k) {
		char **v = argv + i;
		int left = argc - 2 - i;
		if ((k = record_opt(v, left, "--aaaa", d->aaaa, &d->naaaa)) ||
		    (k = record_opt(v, left, "--a", d->a, &d->na)) ||
		    (k = record_opt(v, left, "--aaaa2", d->aaaa2, &d->naaaa2)) ||
		    (k = record_opt(v, left, "--a2", d->a2, &d->na2)) ||
		    (k = int_opt(d, v, left)))
			continue;
		k = 2;
		if (left < 2)
			return -1;
		else if (!strcmp(v[0], "--exec-after") && left >= 3 &&
		    d->nexec < 4) {
			d->exec_after[d->nexec] = atoi(v[1]);
			d->exec_cmd[d->nexec++] = v[2];
			k = 3;
		} else if (!strcmp(v[0], "--history-file"))
			d->history_file = v[1];
		else
			return -1;
	}
	if (argc < 2 || d->count < 1)
		return -1;
	d->name = argv[argc - 2];
	d->port = atoi(argv[argc - 1]);
	return 0;
}

static void
print_persist_stats(void)
{
	struct he_persist_stats st;

	he_persist_stats_(&st);
	printf("persist saves %d written %d busy %d max_wait_us %lld "
	    "flush_wait_us %lld\n", st.saves, st.written, st.busy,
	    (long long)st.max_wait, (long long)st.max_flush_wait);
	fflush(stdout);
}

static int
connect_setup(struct drive *d)
{
	struct timeval tv;

	if (!(d->base = event_base_new()) ||
	    !(d->dns = he_lab_dns_new(d->base)) ||
	    add_records(d->dns, d->name, d->aaaa, d->naaaa, d->a, d->na) < 0 ||
	    !(d->evdns = he_lab_dns_client(d->dns, d->base)) ||
	    !(d->he = evhappy_new(d->base, d->evdns)))
		return -1;
	if (d->no_history)
		evhappy_set_history(d->he, 0);
	if (d->history_file) {
		/* ours first: atexit runs it after the library's last save */
		atexit(print_persist_stats);
		if (evhappy_set_history_file(d->history_file) < 0)
			return -1;
	}
	if (d->expiry > 0)
		he_history_set_expiry_(he_history_global_(),
		    (int64_t)d->expiry * 1000);
	if (d->timeout > 0) {
		tv.tv_sec = d->timeout / 1000;
		tv.tv_usec = (d->timeout % 1000) * 1000;
		if (evhappy_set_timeout(d->he, &tv) < 0)
			return -1;
	}
	if (d->delay > 0) {
		tv.tv_sec = d->delay / 1000;
		tv.tv_usec = (d->delay % 1000) * 1000;
		if (evhappy_set_connection_attempt_delay(d->he, &tv) < 0)
			return -1;
	}
	if (d->trace)
		evhappy_set_trace_cb(d->he, on_trace, d);
	return 0;
}

static void
after_connect(struct drive *d)
{
	int i;

	if (d->index == d->change_after &&
	    add_records(d->dns, d->name, d->aaaa2, d->naaaa2, d->a2,
	    d->na2) < 0)
		fprintf(stderr, "he_netdrive: cannot change the records\n");
	for (i = 0; i < d->nexec; i++)
		if (d->index == d->exec_after[i] && system(d->exec_cmd[i]) != 0)
			fprintf(stderr, "he_netdrive: '%s' failed\n",
			    d->exec_cmd[i]);
	if (d->interval > 0 && d->index < d->count) {
		struct timespec ts;
		ts.tv_sec = d->interval / 1000;
		ts.tv_nsec = (long)(d->interval % 1000) * 1000000L;
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
}

static int
connect_run(int argc, char **argv)
{
	struct drive d;
	double first = 0, t0;

	memset(&d, 0, sizeof(d));
	if (connect_opts(&d, argc, argv) < 0)
		return usage();
	if (connect_setup(&d) < 0) {
		fprintf(stderr, "he_netdrive: setup: %s\n", strerror(errno));
		return 2;
	}
	for (d.index = 1; d.index <= d.count; d.index++) {
		d.done = 0;
		t0 = now_ms();
		if (d.index == 1)
			first = t0;
		if (!evhappy_resolve_and_connect(d.he, AF_UNSPEC, d.name,
		    d.port + (d.port_step ? d.index - 1 : 0), on_connect, &d))
			return 2;
		while (!d.done)
			if (event_base_dispatch(d.base) < 0)
				return 2;
		printf("connect %d %.1f %.1f %s %d\n", d.index, t0 - first,
		    now_ms() - t0, d.winner, d.error);
		fflush(stdout);
		if (d.fd >= 0)
			close(d.fd);
		after_connect(&d);
	}
	evhappy_free(d.he);
	event_base_loop(d.base, EVLOOP_NONBLOCK);
	evdns_base_free(d.evdns, 0);
	he_lab_dns_free(d.dns);
	event_base_free(d.base);
	return 0;
}

/* ---- dropin ---------------------------------------------------------------- */

static void
dropin_event(struct bufferevent *bev, short what, void *arg)
{
	struct drive *d = arg;
	struct sockaddr_storage ss;
	ev_socklen_t len = sizeof(ss);
	evutil_socket_t fd = bufferevent_getfd(bev);

	d->done = 1;
	d->error = (what & BEV_EVENT_CONNECTED) ? 0 : EVUTIL_SOCKET_ERROR();
	snprintf(d->winner, sizeof(d->winner), "-");
	if ((what & BEV_EVENT_CONNECTED) && fd >= 0 &&
	    getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
		evhappy_sockaddr_format((struct sockaddr *)&ss, d->winner,
		    sizeof(d->winner));
	event_base_loopbreak(d->base);
}

static int
dropin_run(int argc, char **argv)
{
	struct bufferevent *bev = NULL;
	struct drive d;
	double t0;
	int rc = 2;

	memset(&d, 0, sizeof(d));
	if (connect_opts(&d, argc, argv) < 0)
		return usage();
	if (!(d.base = event_base_new()) ||
	    !(d.dns = he_lab_dns_new(d.base)) ||
	    add_records(d.dns, d.name, d.aaaa, d.naaaa, d.a, d.na) < 0 ||
	    !(d.evdns = he_lab_dns_client(d.dns, d.base)) ||
	    !(bev = bufferevent_socket_new(d.base, -1, BEV_OPT_CLOSE_ON_FREE))) {
		fprintf(stderr, "he_netdrive: setup: %s\n", strerror(errno));
		goto end;
	}
	bufferevent_setcb(bev, NULL, NULL, dropin_event, &d);
	t0 = now_ms();
	if (evhappy_socket_connect_hostname(bev, d.evdns, AF_UNSPEC, d.name,
	    d.port) < 0) {
		fprintf(stderr, "he_netdrive: drop-in: %s\n", strerror(errno));
		goto end;
	}
	while (!d.done)
		if (event_base_dispatch(d.base) < 0)
			goto end;
	printf("dropin %.1f %s %d\n", now_ms() - t0, d.winner, d.error);
	fflush(stdout);
	rc = 0;
end:
	if (bev)
		bufferevent_free(bev);
	if (d.evdns)
		evdns_base_free(d.evdns, 0);
	if (d.dns)
		he_lab_dns_free(d.dns);
	if (d.base)
		event_base_free(d.base);
	return rc;
}

/* ---- histfile -------------------------------------------------------------- */

static int
histfile_show(int argc, char **argv)
{
	static struct he_hf_rec recs[HE_HISTFILE_MAX];
	char addr[INET6_ADDRSTRLEN];
	enum he_hf_status st;
	int i, n = 0;

	if (argc != 1)
		return usage();
	st = he_histfile_load_array_(argv[0], he_histfile_now_(),
	    HE_HISTORY_EXPIRY_US, recs, HE_HISTFILE_MAX, &n);
	printf("histfile %d %d\n", (int)st, n);
	for (i = 0; i < n; i++) {
		evutil_inet_ntop(recs[i].family, recs[i].addr, addr,
		    sizeof(addr));
		printf("rec %016llx %s %d %d %d\n",
		    (unsigned long long)recs[i].netkey, addr, recs[i].port,
		    (int)recs[i].state, recs[i].error);
	}
	return st == HE_HF_OK ? 0 : 1;
}

int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(int argc, char **argv);
	} commands[] = {
		{ "wire", wire }, { "serve", serve }, { "dns", dns_serve },
		{ "connect", connect_run }, { "dropin", dropin_run },
		{ "histfile", histfile_show },
	};
	size_t i;

	for (i = 0; argc >= 2 && i < sizeof(commands) / sizeof(commands[0]);
	    i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 2, argv + 2);
	return usage();
}
