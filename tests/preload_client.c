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
 *   preload_client retry RETRIES WAIT_MS
 *       evhttp GET to www.test whose AAAA ::1 and A 127.0.0.1 are both
 *       black holes, with evhttp's connect timeout at 1 s, RETRIES retries
 *       (evhttp_connection_set_retries) 100 ms apart at first.  The TCP
 *       sockets are counted every 2 ms: each time the connect's sockets
 *       were open and are closed again it prints "sockets open for N ms";
 *       then the outcome line (as http), and "left N": the sockets still
 *       open 20 ms after the request ended, the connection not freed yet.
 *   preload_client addr WAIT_MS
 *       v4hole with EVHTTP_CON_REUSE_CONNECTED_ADDR: a GET with
 *       "Connection: close", then "addr FAMILY ADDRESS" from
 *       evhttp_connection_get_addr(); then the name stops resolving
 *       (NXDOMAIN) and a second GET on the same connection prints
 *       "second response CODE after N ms" (evhttp connects to the address
 *       it kept), "second error ..." or "second nothing ...".
 *   preload_client literal HOST
 *       bufferevent_socket_connect_hostname() to the literal HOST (such as
 *       0.0.0.0) and the port of a listener on loopback; prints the event
 *       and "dns_error CODE".
 *   preload_client deepbind PLUGIN
 *       bufferevent_socket_connect_hostname() to 127.0.0.1 and a listener
 *       there, first from this program ("program: event connected"), then
 *       from PLUGIN (tests/preload_deepbind.c) loaded with
 *       dlopen(RTLD_DEEPBIND) ("plugin: event connected").
 *   preload_client connect DNS NAME PORT [WAIT_MS]
 *       bufferevent_socket_connect_hostname() to NAME PORT (AF_UNSPEC),
 *       asking the DNS server at DNS (ADDR:PORT) only, or with DNS "-" the
 *       system resolver, as a short-lived program on a real network does
 *       (the namespace tests); waits at most WAIT_MS (30000); prints
 *       "connected to ADDR in N ms", "error after N ms: ERRNO TEXT" or
 *       "nothing after N ms"; exits 0, 1 or 2.
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

#include <dirent.h>
#include <dlfcn.h>
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

	/* retry: the fds counted before the request, since when the
	   connect's sockets are open (-1: they are not) */
	int fds0;
	long open_since;
};

static long
now_ms(void)
{
	return (long)(he_lab_now_us() / 1000);
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
	struct he_lab_blackhole *hole2;	/* "holes": the second family's */
	struct evhttp *http;
	int port;
};

static int
lab_addrs(const char *scenario, const char **hole, const char **server,
    const char **hole2)
{
	*hole2 = NULL;
	if (strcmp(scenario, "holes") == 0) {
		*hole = "::1";
		*hole2 = "127.0.0.1";
		*server = NULL;
		return 0;
	}
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
	he_lab_blackhole_free(l->hole2);
	if (l->client)
		evdns_base_free(l->client, 0);
	he_lab_dns_free(l->dns);
}

static int
lab_new(struct lab *l, struct event_base *base, const char *scenario,
    int aaaa_delay_ms)
{
	const char *hole, *server, *hole2;
	char where[64];

	memset(l, 0, sizeof(*l));
	if (lab_addrs(scenario, &hole, &server, &hole2) < 0)
		return -1;
	if (!(l->dns = he_lab_dns_new(base)) ||
	    !(l->client = he_lab_dns_client(l->dns, base)) ||
	    !(l->hole = he_lab_blackhole_new(hole, &l->port)) ||
	    add_record(l, hole) < 0)
		return -1;
	snprintf(where, sizeof(where), "%s:%d", hole2 ? hole2 : "", l->port);
	if (hole2 && (!(l->hole2 = he_lab_blackhole_new(where, NULL)) ||
	    add_record(l, hole2) < 0))
		return -1;
	if (server && (add_record(l, server) < 0 ||
	    lab_serve(l, base, server) < 0))
		return -1;
	if (aaaa_delay_ms > 0 && he_lab_dns_set(l->dns, NAME, EVDNS_TYPE_AAAA,
	    HE_LAB_ANSWER, aaaa_delay_ms) < 0)
		return -1;
	return 0;
}

/* The base and the scenario's lab, or -1 (outcome SETUP_FAILED). */
static int
run_setup(struct run *r, struct lab *lab)
{
	int tries;

	r->outcome = SETUP_FAILED;
	memset(lab, 0, sizeof(*lab));
	if (!(r->base = event_base_new()))
		return -1;
	/* The second family's listener takes the port the black hole got on
	   the first; on a busy machine something else may hold it there. */
	for (tries = 0; tries < 10; tries++) {
		if (lab_new(lab, r->base, r->scenario, r->aaaa_delay_ms) == 0)
			return 0;
		r->setup_errno = errno;
		lab_free(lab);
		memset(lab, 0, sizeof(*lab));
	}
	return -1;
}

static void
run_teardown(struct run *r, struct evhttp_connection *conn, struct lab *lab)
{
	if (conn)
		evhttp_connection_free(conn);
	lab_free(lab);
	/* evdns and the lab reclaim what they cancelled on the next turn. */
	if (r->base) {
		event_base_loop(r->base, EVLOOP_NONBLOCK);
		event_base_free(r->base);
	}
}

/* One GET on conn, waiting at most r->wait_ms for its outcome. */
static void
run_request(struct run *r, struct evhttp_connection *conn, int close)
{
	struct evhttp_request *req = evhttp_request_new(got_response, r);
	struct event *timer = evtimer_new(r->base, wait_over, r);
	struct evkeyvalq *headers;
	struct timeval tv;

	r->outcome = SETUP_FAILED;
	if (!req || !timer) {
		if (req)
			evhttp_request_free(req);
		goto end;
	}
	headers = evhttp_request_get_output_headers(req);
	evhttp_add_header(headers, "Host", NAME);
	if (close)
		evhttp_add_header(headers, "Connection", "close");
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
	if (timer)
		event_free(timer);
}

static void
run_http(struct run *r)
{
	struct evhttp_connection *conn = NULL;
	struct lab lab;

	if (run_setup(r, &lab) < 0)
		goto end;
	conn = evhttp_connection_base_new(r->base, lab.client, NAME,
	    (unsigned short)lab.port);
	if (!conn)
		goto end;
	/* A bound socket: evhttp hands libevent a bufferevent that already
	   has a socket, which evhappy does not take. */
	if (strstr(r->scenario, "+bound"))
		evhttp_connection_set_local_address(conn, "127.0.0.1");
	/* evhttp's own connect timeout, one second. */
	if (strstr(r->scenario, "+timeout"))
		evhttp_connection_set_timeout(conn, 1);
	run_request(r, conn, 0);
end:
	run_teardown(r, conn, &lab);
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

/* The TCP sockets this process has open: the connects' (and the lab's
   listeners).  Not every fd: the library keeps one netlink socket for the
   process's life from its first race on (it watches the network), which
   is no connect's. */
static int
tcp_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0, fd, v;
	socklen_t len;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || (fd = atoi(e->d_name)) == dirfd(d))
			continue;
		len = sizeof(v);
		if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) < 0 ||
		    (v != AF_INET && v != AF_INET6))
			continue;
		len = sizeof(v);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) == 0 &&
		    v == SOCK_STREAM)
			n++;
	}
	closedir(d);
	return n;
}

/* Every 2 ms: whether the connect's sockets (beyond the fds the request
   started with) opened or closed since the last look. */
static void
sample_fds(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;
	int open = tcp_fds() > r->fds0;

	(void)fd;
	(void)what;
	if (open && r->open_since < 0) {
		r->open_since = now_ms();
	} else if (!open && r->open_since >= 0) {
		printf("sockets open for %ld ms\n", now_ms() - r->open_since);
		r->open_since = -1;
	}
}

static int
main_retry(int argc, char **argv)
{
	struct evhttp_connection *conn = NULL;
	struct event *sampler = NULL;
	struct timeval tv = { 0, 2000 }, retry = { 0, 100000 };
	struct lab lab;
	struct run r;
	int left = -1;

	if (argc < 4)
		return SETUP_FAILED;
	memset(&r, 0, sizeof(r));
	r.scenario = "holes";
	r.wait_ms = atoi(argv[3]);
	r.open_since = -1;
	if (run_setup(&r, &lab) < 0)
		goto end;
	conn = evhttp_connection_base_new(r.base, lab.client, NAME,
	    (unsigned short)lab.port);
	sampler = event_new(r.base, -1, EV_PERSIST, sample_fds, &r);
	if (!conn || !sampler)
		goto end;
	evhttp_connection_set_timeout(conn, 1);
	evhttp_connection_set_retries(conn, atoi(argv[2]));
	evhttp_connection_set_initial_retry_tv(conn, &retry);
	r.fds0 = tcp_fds();
	event_add(sampler, &tv);
	run_request(&r, conn, 0);
	/* The request ended; the connection stays. */
	tv.tv_usec = 20000;
	event_base_loopexit(r.base, &tv);
	event_base_dispatch(r.base);
	left = tcp_fds() - r.fds0;
end:
	if (sampler)
		event_free(sampler);
	print_run(&r, "");
	if (r.outcome != SETUP_FAILED)
		printf("left %d\n", left);
	run_teardown(&r, conn, &lab);
	return (int)r.outcome;
}

static int
main_addr(int argc, char **argv)
{
	struct evhttp_connection *conn = NULL;
	const struct sockaddr *sa;
	char text[INET6_ADDRSTRLEN] = "none";
	struct lab lab;
	struct run r;

	if (argc < 3)
		return SETUP_FAILED;
	memset(&r, 0, sizeof(r));
	r.scenario = "v4hole";
	r.wait_ms = atoi(argv[2]);
	if (run_setup(&r, &lab) < 0)
		goto end;
	conn = evhttp_connection_base_new(r.base, lab.client, NAME,
	    (unsigned short)lab.port);
	if (!conn)
		goto end;
	evhttp_connection_set_flags(conn, EVHTTP_CON_REUSE_CONNECTED_ADDR);
	run_request(&r, conn, 1);
	print_run(&r, "");
	if (r.outcome != GOT_RESPONSE)
		goto out;
	sa = evhttp_connection_get_addr(conn);
	if (sa && sa->sa_family == AF_INET6)
		evutil_inet_ntop(AF_INET6,
		    &((const struct sockaddr_in6 *)sa)->sin6_addr, text,
		    sizeof(text));
	else if (sa && sa->sa_family == AF_INET)
		evutil_inet_ntop(AF_INET,
		    &((const struct sockaddr_in *)sa)->sin_addr, text,
		    sizeof(text));
	printf("addr %d %s\n", sa ? sa->sa_family : -1, text);
	/* The name no longer resolves: a reconnect that asks DNS fails. */
	if (he_lab_dns_set(lab.dns, NAME, EVDNS_TYPE_A, HE_LAB_NXDOMAIN, 0) < 0 ||
	    he_lab_dns_set(lab.dns, NAME, EVDNS_TYPE_AAAA, HE_LAB_NXDOMAIN,
	    0) < 0) {
		r.outcome = SETUP_FAILED;
		goto end;
	}
	run_request(&r, conn, 1);
	print_run(&r, "second ");
	goto out;
end:
	print_run(&r, "");
out:
	run_teardown(&r, conn, &lab);
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

/* One bufferevent's connect and the event it ended with. */
struct nx {
	struct event_base *base;
	struct bufferevent *bev;
	int wait_ms;		/* nx_connect's longest wait; 0: 5 s */
	short what;
	int error;		/* EVUTIL_SOCKET_ERROR() at the event */
	int dns_error;
};

static void
nx_event(struct bufferevent *bev, short what, void *arg)
{
	struct nx *nx = arg;

	nx->what = what;
	nx->error = EVUTIL_SOCKET_ERROR();
	nx->dns_error = bufferevent_socket_get_dns_error(bev);
	event_base_loopbreak(nx->base);
}

/* bufferevent_socket_connect_hostname() on nx->bev, then the loop until
   its event comes (nx->wait_ms at most): 0, or -1 when the call failed. */
static int
nx_connect(struct nx *nx, struct evdns_base *dns, int family,
    const char *host, int port)
{
	int ms = nx->wait_ms ? nx->wait_ms : 5000;
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	nx->what = 0;
	if (bufferevent_socket_connect_hostname(nx->bev, dns, family, host,
	    port) < 0)
		return -1;
	event_base_loopexit(nx->base, &tv);
	event_base_dispatch(nx->base);
	return 0;
}

/* nx's base and bufferevent (its events go to nx), and a listener on the
   loopback literal addr when it is not NULL: its fd, or -1. */
static evutil_socket_t
nx_new(struct nx *nx, const char *addr, int *port)
{
	evutil_socket_t lfd = -1;

	memset(nx, 0, sizeof(*nx));
	if (!(nx->base = event_base_new()) ||
	    (addr && (lfd = he_lab_listen(addr, port)) < 0) ||
	    !(nx->bev = bufferevent_socket_new(nx->base, -1,
	    BEV_OPT_CLOSE_ON_FREE))) {
		if (lfd >= 0)
			evutil_closesocket(lfd);
		return -2;
	}
	bufferevent_setcb(nx->bev, NULL, NULL, nx_event, nx);
	return lfd;
}

/* The bufferevent, then dns (the evdns_base it asked, or NULL): both go
   before the base they run on. */
static void
nx_end(struct nx *nx, struct evdns_base *dns)
{
	if (nx->bev)
		bufferevent_free(nx->bev);
	nx->bev = NULL;
	if (dns)
		evdns_base_free(dns, 0);
}

static void
nx_free(struct nx *nx, evutil_socket_t lfd)
{
	if (nx->bev)
		bufferevent_free(nx->bev);
	if (lfd >= 0)
		evutil_closesocket(lfd);
	if (nx->base) {
		event_base_loop(nx->base, EVLOOP_NONBLOCK);
		event_base_free(nx->base);
	}
}

static int
main_nxdomain(void)
{
	struct he_lab_dns *dns = NULL;
	struct evdns_base *client = NULL;
	struct nx nx;
	int rc = SETUP_FAILED;

	if (nx_new(&nx, NULL, NULL) == -2 ||
	    !(dns = he_lab_dns_new(nx.base)) ||
	    !(client = he_lab_dns_client(dns, nx.base)))
		goto end;
	if (nx_connect(&nx, client, AF_UNSPEC, "nx.test", 80) < 0) {
		printf("connect_hostname failed\n");
		goto end;
	}
	printf("event%s%s\n", nx.what & BEV_EVENT_ERROR ? " error" : "",
	    nx.what & BEV_EVENT_CONNECTED ? " connected" : "");
	printf("dns_error %d (%s)\n", nx.dns_error,
	    nx.dns_error ? evutil_gai_strerror(nx.dns_error) : "none");
	rc = nx.what & BEV_EVENT_ERROR ? 0 : 1;
	/* Then the bufferevent gets a socket and is connected again, to a
	   literal and a closed port: that call is libevent's own (evhappy
	   leaves a bufferevent that has a socket to it), and the getter must
	   no longer see the first connect's DNS error. */
	if (bufferevent_setfd(nx.bev, socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    nx_connect(&nx, client, AF_INET, "127.0.0.1", 9) < 0) {
		printf("second connect_hostname failed\n");
		rc = 1;
		goto end;
	}
	printf("dns_error again %d\n", nx.dns_error);
end:
	nx_end(&nx, client);
	he_lab_dns_free(dns);
	nx_free(&nx, -1);
	return rc;
}

static int
main_literal(int argc, char **argv)
{
	evutil_socket_t lfd;
	struct nx nx;
	int port = 0, rc = SETUP_FAILED;

	if (argc < 3)
		return SETUP_FAILED;
	lfd = nx_new(&nx, strchr(argv[2], ':') ? "::1" : "127.0.0.1", &port);
	if (lfd < 0)
		goto end;
	if (nx_connect(&nx, NULL, AF_UNSPEC, argv[2], port) < 0) {
		printf("connect_hostname failed\n");
		goto end;
	}
	printf("event%s%s\n", nx.what & BEV_EVENT_ERROR ? " error" : "",
	    nx.what & BEV_EVENT_CONNECTED ? " connected" : "");
	printf("dns_error %d\n", nx.dns_error);
	rc = nx.what & BEV_EVENT_CONNECTED ? 0 : 1;
end:
	nx_free(&nx, lfd);
	return rc;
}

static int
main_deepbind(int argc, char **argv)
{
	union {
		void *p;
		int (*connect)(struct event_base *, const char *, int);
	} u;
	evutil_socket_t lfd;
	void *plugin = NULL;
	struct nx nx;
	int port = 0, what, rc = SETUP_FAILED;

	if (argc < 3)
		return SETUP_FAILED;
	if ((lfd = nx_new(&nx, "127.0.0.1", &port)) < 0 ||
	    nx_connect(&nx, NULL, AF_UNSPEC, "127.0.0.1", port) < 0)
		goto end;
	printf("program: event%s\n",
	    nx.what & BEV_EVENT_CONNECTED ? " connected" : " other");
	if (!(plugin = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND)) ||
	    !(u.p = dlsym(plugin, "preload_deepbind_connect"))) {
		printf("plugin: %s\n", dlerror());
		goto end;
	}
	what = u.connect(nx.base, "127.0.0.1", port);
	printf("plugin: event%s\n",
	    what > 0 && (what & BEV_EVENT_CONNECTED) ? " connected" : " other");
	rc = 0;
end:
	if (plugin)
		dlclose(plugin);
	nx_free(&nx, lfd);
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

static int
main_connect(int argc, char **argv)
{
	struct evdns_base *dns = NULL;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct nx nx;
	char addr[INET6_ADDRSTRLEN + 16] = "?";
	long t0, ms;
	int rc = SETUP_FAILED;

	if (argc < 5)
		return SETUP_FAILED;
	t0 = now_ms();
	if (nx_new(&nx, NULL, NULL) == -2 || (strcmp(argv[2], "-") != 0 &&
	    (!(dns = evdns_base_new(nx.base, 0)) ||
	    evdns_base_nameserver_ip_add(dns, argv[2]) != 0)))
		goto end;
	nx.wait_ms = argc > 5 ? atoi(argv[5]) : 30000;
	if (nx_connect(&nx, dns, AF_UNSPEC, argv[3], atoi(argv[4])) < 0) {
		printf("connect_hostname failed\n");
		goto end;
	}
	ms = now_ms() - t0;
	if (nx.what & BEV_EVENT_CONNECTED) {
		if (getpeername(bufferevent_getfd(nx.bev),
		    (struct sockaddr *)&ss, &len) == 0)
			peer_name(&ss, addr, sizeof(addr));
		printf("connected to %s in %ld ms\n", addr, ms);
		rc = GOT_RESPONSE;
	} else if (nx.what) {
		printf("error after %ld ms: %d %s\n", ms, nx.error,
		    strerror(nx.error));
		rc = GOT_ERROR;
	} else {
		printf("nothing after %ld ms\n", ms);
		rc = GOT_NOTHING;
	}
end:
	nx_end(&nx, dns);
	nx_free(&nx, -1);
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
	if ((strcmp(mode, "http") == 0 || strcmp(mode, "threads") == 0 ||
	    strcmp(mode, "retry") == 0 || strcmp(mode, "addr") == 0) &&
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
	if (strcmp(mode, "retry") == 0)
		return main_retry(argc, argv);
	if (strcmp(mode, "addr") == 0)
		return main_addr(argc, argv);
	if (strcmp(mode, "literal") == 0)
		return main_literal(argc, argv);
	if (strcmp(mode, "deepbind") == 0)
		return main_deepbind(argc, argv);
	if (strcmp(mode, "connect") == 0)
		return main_connect(argc, argv);
	fprintf(stderr, "usage: preload_client http|threads|nxdomain|idle|retry|addr|literal|deepbind|connect ...\n");
	return SETUP_FAILED;
}
