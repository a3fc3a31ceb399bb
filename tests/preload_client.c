/*
 * A libevent program that knows nothing of evhappy: built against libevent
 * only (no evhappy header, no evhappy library), it is what
 * tests/check_preload.sh runs with and without libevhappy-preload.so.
 * The lab (tools/he_lab.c, compiled in; it uses only libevent) gives it a
 * fake DNS server on 127.0.0.1 and a black hole.
 *
 *   preload_client http SCENARIO WAIT_MS [AAAA_DELAY_MS]
 *       evhttp GET http://www.test:PORT/ where www.test's addresses are
 *       v4hole: A 127.0.0.1 is a black hole, AAAA ::1 serves HTTP;
 *       v6hole: AAAA ::1 is a black hole, A 127.0.0.1 serves HTTP;
 *       hole:   only A 127.0.0.1, a black hole;
 *       v6hole+bound: v6hole from a socket evhttp binds to 127.0.0.1
 *       first (evhttp_connection_set_local_address).
 *       hole+timeout: hole, with evhttp's connect timeout set to 1 s.
 *       AAAA_DELAY_MS delays the AAAA answer.
 *       Prints "response CODE after N ms", "error after N ms" or
 *       "nothing after N ms" (the wait ran out); exits 0, 1 or 2.
 *   preload_client threads N WAIT_MS
 *       N threads, each with its own event_base, fake DNS and servers, run
 *       the v4hole GET at once; exits 0 when every one got its response.
 *   preload_client nxdomain
 *       bufferevent_socket_connect_hostname() to a name the server says
 *       does not exist; prints the event and
 *       "dns_error CODE" from bufferevent_socket_get_dns_error().
 *   preload_client idle
 *       makes an event_base and runs it once without connecting; prints
 *       "threads N fds N" (counted in /proc/self).
 *   preload_client connect HOST PORT WAIT_MS
 *       bufferevent_socket_connect_hostname() to HOST PORT (AF_UNSPEC, the
 *       system resolver), as a program on a real network does (the NAT64
 *       lab, tests/check_nat64_netns.sh); prints "connected to ADDR after
 *       N ms", "error after N ms: ERRNO TEXT" or "nothing after N ms";
 *       exits 0, 1 or 2.
 *
 * Exit 77 when ::1 does not work here, 99 when the lab cannot be set up.
 */
#include "he_lab.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#define NAME "www.test"
#define MAX_THREADS 16

enum outcome { GOT_RESPONSE = 0, GOT_ERROR = 1, GOT_NOTHING = 2,
	NO_IPV6 = 77, SETUP_FAILED = 99 };

struct run {
	/* in */
	const char *scenario;
	int wait_ms;
	int aaaa_delay_ms;
	/* out */
	enum outcome outcome;
	int code;
	long ms;
	int setup_errno;

	struct event_base *base;
	long started;
};

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
serve(struct evhttp_request *req, void *arg)
{
	struct evbuffer *body = evbuffer_new();

	(void)arg;
	if (body)
		evbuffer_add_printf(body, "hello\n");
	evhttp_send_reply(req, 200, "OK", body);
	if (body)
		evbuffer_free(body);
}

static void
got_response(struct evhttp_request *req, void *arg)
{
	struct run *r = arg;

	r->ms = now_ms() - r->started;
	r->code = req ? evhttp_request_get_response_code(req) : 0;
	r->outcome = r->code == 200 ? GOT_RESPONSE : GOT_ERROR;
	event_base_loopbreak(r->base);
}

static void
wait_over(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;

	(void)fd;
	(void)what;
	r->ms = now_ms() - r->started;
	event_base_loopbreak(r->base);
}

/* The addresses of the scenario: which one is the black hole, which serves
   (NULL: none), on one port. */
struct lab {
	struct he_lab_dns *dns;
	struct evdns_base *client;
	struct he_lab_blackhole *hole;
	struct evhttp *http;
	int port;
};

static int
lab_addrs(const char *scenario, const char **hole, const char **server)
{
	if (strcmp(scenario, "v6hole+bound") == 0)
		scenario = "v6hole";
	if (strcmp(scenario, "hole+timeout") == 0)
		scenario = "hole";
	if (strcmp(scenario, "v4hole") == 0) {
		*hole = "127.0.0.1";
		*server = "::1";
	} else if (strcmp(scenario, "v6hole") == 0) {
		*hole = "::1";
		*server = "127.0.0.1";
	} else if (strcmp(scenario, "hole") == 0) {
		*hole = "127.0.0.1";
		*server = NULL;
	} else {
		return -1;
	}
	return 0;
}

static int
add_record(struct lab *l, const char *addr)
{
	return he_lab_dns_add(l->dns, NAME, strchr(addr, ':') ?
	    EVDNS_TYPE_AAAA : EVDNS_TYPE_A, addr);
}

/* An HTTP server on addr:port. */
static int
lab_serve(struct lab *l, struct event_base *base, const char *addr)
{
	char where[64];
	evutil_socket_t fd;

	snprintf(where, sizeof(where), strchr(addr, ':') ? "[%s]:%d" : "%s:%d",
	    addr, l->port);
	if ((fd = he_lab_listen(where, NULL)) < 0)
		return -1;
	if (!(l->http = evhttp_new(base))) {
		evutil_closesocket(fd);
		return -1;
	}
	evhttp_set_gencb(l->http, serve, NULL);
	if (!evhttp_accept_socket_with_handle(l->http, fd)) {
		evutil_closesocket(fd);
		return -1;
	}
	return 0;
}

static void
lab_free(struct lab *l)
{
	if (l->http)
		evhttp_free(l->http);
	he_lab_blackhole_free(l->hole);
	if (l->client)
		evdns_base_free(l->client, 0);
	he_lab_dns_free(l->dns);
}

static int
lab_new(struct lab *l, struct event_base *base, const char *scenario,
    int aaaa_delay_ms)
{
	const char *hole, *server;

	memset(l, 0, sizeof(*l));
	if (lab_addrs(scenario, &hole, &server) < 0)
		return -1;
	if (!(l->dns = he_lab_dns_new(base)) ||
	    !(l->client = he_lab_dns_client(l->dns, base)) ||
	    !(l->hole = he_lab_blackhole_new(hole, &l->port)) ||
	    add_record(l, hole) < 0 ||
	    (server && (add_record(l, server) < 0 ||
	    lab_serve(l, base, server) < 0)))
		return -1;
	if (aaaa_delay_ms > 0 && he_lab_dns_set(l->dns, NAME, EVDNS_TYPE_AAAA,
	    HE_LAB_ANSWER, aaaa_delay_ms) < 0)
		return -1;
	return 0;
}

static void
run_http(struct run *r)
{
	struct evhttp_connection *conn = NULL;
	struct evhttp_request *req;
	struct event *timer = NULL;
	struct timeval tv;
	struct lab lab;
	int tries;

	r->outcome = SETUP_FAILED;
	memset(&lab, 0, sizeof(lab));
	if (!(r->base = event_base_new()))
		return;
	/* The second family's listener takes the port the black hole got on
	   the first; on a busy machine something else may hold it there. */
	for (tries = 0; tries < 10; tries++) {
		if (lab_new(&lab, r->base, r->scenario, r->aaaa_delay_ms) == 0)
			break;
		r->setup_errno = errno;
		lab_free(&lab);
		memset(&lab, 0, sizeof(lab));
	}
	if (tries == 10)
		goto end;
	conn = evhttp_connection_base_new(r->base, lab.client, NAME,
	    (unsigned short)lab.port);
	req = evhttp_request_new(got_response, r);
	timer = evtimer_new(r->base, wait_over, r);
	if (!conn || !req || !timer)
		goto end;
	/* A bound socket: evhttp hands libevent a bufferevent that already
	   has a socket, which evhappy does not take. */
	if (strstr(r->scenario, "+bound"))
		evhttp_connection_set_local_address(conn, "127.0.0.1");
	/* evhttp's own connect timeout, one second. */
	if (strstr(r->scenario, "+timeout"))
		evhttp_connection_set_timeout(conn, 1);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host", NAME);
	tv.tv_sec = r->wait_ms / 1000;
	tv.tv_usec = (r->wait_ms % 1000) * 1000;
	evtimer_add(timer, &tv);
	r->outcome = GOT_NOTHING;
	r->started = now_ms();
	if (evhttp_make_request(conn, req, EVHTTP_REQ_GET, "/") < 0) {
		r->outcome = SETUP_FAILED;
		goto end;
	}
	event_base_dispatch(r->base);
end:
	if (conn)
		evhttp_connection_free(conn);
	if (timer)
		event_free(timer);
	lab_free(&lab);
	/* evdns and the lab reclaim what they cancelled on the next turn. */
	event_base_loop(r->base, EVLOOP_NONBLOCK);
	event_base_free(r->base);
}

static void
print_run(const struct run *r, const char *prefix)
{
	switch (r->outcome) {
	case GOT_RESPONSE:
		printf("%sresponse %d after %ld ms\n", prefix, r->code, r->ms);
		break;
	case GOT_ERROR:
		printf("%serror after %ld ms\n", prefix, r->ms);
		break;
	case GOT_NOTHING:
		printf("%snothing after %ld ms\n", prefix, r->ms);
		break;
	default:
		printf("%ssetup failed: %s\n", prefix, strerror(r->setup_errno));
	}
}

static int
main_http(int argc, char **argv)
{
	struct run r;

	if (argc < 4)
		return SETUP_FAILED;
	memset(&r, 0, sizeof(r));
	r.scenario = argv[2];
	r.wait_ms = atoi(argv[3]);
	r.aaaa_delay_ms = argc > 4 ? atoi(argv[4]) : 0;
	run_http(&r);
	print_run(&r, "");
	return (int)r.outcome;
}

static void *
thread_main(void *arg)
{
	run_http(arg);
	return NULL;
}

static int
main_threads(int argc, char **argv)
{
	struct run runs[MAX_THREADS];
	pthread_t tids[MAX_THREADS];
	int n, i, started = 0, failed = 0;
	char prefix[32];

	if (argc < 4 || (n = atoi(argv[2])) < 1 || n > MAX_THREADS)
		return SETUP_FAILED;
	memset(runs, 0, sizeof(runs));
	for (i = 0; i < n; i++) {
		runs[i].scenario = "v4hole";
		runs[i].wait_ms = atoi(argv[3]);
		if (pthread_create(&tids[i], NULL, thread_main, &runs[i]) != 0)
			break;
		started++;
	}
	for (i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	for (i = 0; i < n; i++) {
		snprintf(prefix, sizeof(prefix), "thread %d: ", i);
		if (i < started)
			print_run(&runs[i], prefix);
		if (i >= started || runs[i].outcome != GOT_RESPONSE)
			failed = 1;
	}
	return failed ? GOT_NOTHING : GOT_RESPONSE;
}

struct nx {
	struct event_base *base;
	struct bufferevent *bev;
	short what;
	int dns_error;
};

static void
nx_event(struct bufferevent *bev, short what, void *arg)
{
	struct nx *nx = arg;

	nx->what = what;
	nx->dns_error = bufferevent_socket_get_dns_error(bev);
	event_base_loopbreak(nx->base);
}

static int
main_nxdomain(void)
{
	struct he_lab_dns *dns = NULL;
	struct evdns_base *client = NULL;
	struct timeval tv = { 5, 0 };
	struct nx nx;
	int rc = SETUP_FAILED;

	memset(&nx, 0, sizeof(nx));
	if (!(nx.base = event_base_new()) ||
	    !(dns = he_lab_dns_new(nx.base)) ||
	    !(client = he_lab_dns_client(dns, nx.base)) ||
	    !(nx.bev = bufferevent_socket_new(nx.base, -1,
	    BEV_OPT_CLOSE_ON_FREE)))
		goto end;
	bufferevent_setcb(nx.bev, NULL, NULL, nx_event, &nx);
	if (bufferevent_socket_connect_hostname(nx.bev, client, AF_UNSPEC,
	    "nx.test", 80) < 0) {
		printf("connect_hostname failed\n");
		goto end;
	}
	event_base_loopexit(nx.base, &tv);
	event_base_dispatch(nx.base);
	printf("event%s%s\n", nx.what & BEV_EVENT_ERROR ? " error" : "",
	    nx.what & BEV_EVENT_CONNECTED ? " connected" : "");
	printf("dns_error %d (%s)\n", nx.dns_error,
	    nx.dns_error ? evutil_gai_strerror(nx.dns_error) : "none");
	rc = nx.what & BEV_EVENT_ERROR ? 0 : 1;
	/* Then the bufferevent gets a socket and is connected again, to a
	   literal and a closed port: that call is libevent's own (evhappy
	   leaves a bufferevent that has a socket to it), and the getter must
	   no longer see the first connect's DNS error. */
	nx.what = 0;
	if (bufferevent_setfd(nx.bev, socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    bufferevent_socket_connect_hostname(nx.bev, client, AF_INET,
	    "127.0.0.1", 9) < 0) {
		printf("second connect_hostname failed\n");
		rc = 1;
		goto end;
	}
	event_base_loopexit(nx.base, &tv);
	event_base_dispatch(nx.base);
	printf("dns_error again %d\n", nx.dns_error);
end:
	if (nx.bev)
		bufferevent_free(nx.bev);
	if (client)
		evdns_base_free(client, 0);
	he_lab_dns_free(dns);
	if (nx.base) {
		event_base_loop(nx.base, EVLOOP_NONBLOCK);
		event_base_free(nx.base);
	}
	return rc;
}

/* "[2001:db8::1]:80" or "192.0.2.1:80". */
static void
peer_name(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	const struct sockaddr_in *sin = (const void *)ss;
	const struct sockaddr_in6 *sin6 = (const void *)ss;
	char a[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET6 &&
	    evutil_inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a)))
		snprintf(buf, len, "[%s]:%d", a, ntohs(sin6->sin6_port));
	else if (ss->ss_family == AF_INET &&
	    evutil_inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a)))
		snprintf(buf, len, "%s:%d", a, ntohs(sin->sin_port));
}

struct conn {
	struct event_base *base;
	short what;
	int error;
};

static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	c->what = what;
	c->error = EVUTIL_SOCKET_ERROR();
	event_base_loopbreak(c->base);
}

static int
main_connect(int argc, char **argv)
{
	struct bufferevent *bev = NULL;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct timespec t0, t1;
	struct timeval tv;
	struct conn c;
	char addr[INET6_ADDRSTRLEN + 16] = "?";
	long ms;
	int rc = SETUP_FAILED, wait_ms;

	if (argc < 5)
		return SETUP_FAILED;
	wait_ms = atoi(argv[4]);
	tv.tv_sec = wait_ms / 1000;
	tv.tv_usec = (wait_ms % 1000) * 1000;
	memset(&c, 0, sizeof(c));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!(c.base = event_base_new()) ||
	    !(bev = bufferevent_socket_new(c.base, -1, BEV_OPT_CLOSE_ON_FREE)))
		goto end;
	bufferevent_setcb(bev, NULL, NULL, conn_event, &c);
	if (bufferevent_socket_connect_hostname(bev, NULL, AF_UNSPEC, argv[2],
	    atoi(argv[3])) < 0) {
		printf("connect_hostname failed\n");
		goto end;
	}
	event_base_loopexit(c.base, &tv);
	event_base_dispatch(c.base);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	if (c.what & BEV_EVENT_CONNECTED) {
		if (getpeername(bufferevent_getfd(bev), (struct sockaddr *)&ss,
		    &len) == 0)
			peer_name(&ss, addr, sizeof(addr));
		printf("connected to %s after %ld ms\n", addr, ms);
		rc = GOT_RESPONSE;
	} else if (c.what) {
		printf("error after %ld ms: %d %s\n", ms, c.error,
		    strerror(c.error));
		rc = GOT_ERROR;
	} else {
		printf("nothing after %ld ms\n", ms);
		rc = GOT_NOTHING;
	}
end:
	if (bev)
		bufferevent_free(bev);
	if (c.base)
		event_base_free(c.base);
	return rc;
}

static int
main_idle(void)
{
	struct event_base *base = event_base_new();

	if (!base)
		return SETUP_FAILED;
	event_base_loop(base, EVLOOP_NONBLOCK);
	printf("threads %d fds %d\n", he_lab_count_dir("/proc/self/task"),
	    he_lab_count_dir("/proc/self/fd"));
	event_base_free(base);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	setvbuf(stdout, NULL, _IOLBF, 0);
	if ((strcmp(mode, "http") == 0 || strcmp(mode, "threads") == 0) &&
	    !he_lab_ipv6_loopback_works()) {
		printf("skip: ::1 does not work here\n");
		return NO_IPV6;
	}
	if (strcmp(mode, "http") == 0)
		return main_http(argc, argv);
	if (strcmp(mode, "threads") == 0)
		return main_threads(argc, argv);
	if (strcmp(mode, "nxdomain") == 0)
		return main_nxdomain();
	if (strcmp(mode, "idle") == 0)
		return main_idle();
	if (strcmp(mode, "connect") == 0)
		return main_connect(argc, argv);
	fprintf(stderr, "usage: preload_client http|threads|nxdomain|idle|"
	    "connect ...\n");
	return SETUP_FAILED;
}
