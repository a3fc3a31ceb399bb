/*
 * dropin: evhappy_socket_connect_hostname() as a one-line replacement for
 * libevent's bufferevent_socket_connect_hostname().
 *
 *   usage: dropin [--evdns] HOST PORT
 *
 * Connects to HOST PORT, writes nothing, prints "connected to ADDR" and
 * exits 0; or prints why it failed (with the DNS error when the name did
 * not resolve) and exits 1.  Names are resolved with the system resolver
 * (getaddrinfo(), which evhappy runs off the event loop), or with an
 * evdns_base reading /etc/resolv.conf when --evdns is given.
 *
 * Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).
 */
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include <he_event.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

struct job {
	const char *host;
	const char *port;
	int status;
};

static void
print_peer(struct bufferevent *bev)
{
	struct sockaddr_storage ss;
	ev_socklen_t len = sizeof(ss);
	char addr[128];

	/* "192.0.2.1:80", "[2001:db8::1]:80": as evhappy's trace writes it */
	evhappy_sockaddr_format(getpeername(bufferevent_getfd(bev),
	    (struct sockaddr *)&ss, &len) == 0 ? (struct sockaddr *)&ss : NULL,
	    addr, sizeof(addr));
	printf("connected to %s\n", addr);
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct job *job = arg;
	int err = EVUTIL_SOCKET_ERROR();

	if (what & BEV_EVENT_CONNECTED) {
		print_peer(bev);
		job->status = 0;
	} else if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
		/* As with bufferevent_socket_get_dns_error(). */
		int dns_err = evhappy_socket_get_dns_error(bev);

		if (dns_err)
			fprintf(stderr, "dropin: %s: %s\n", job->host,
			    evutil_gai_strerror(dns_err));
		else
			fprintf(stderr, "dropin: connect to %s port %s: %s\n",
			    job->host, job->port,
			    evutil_socket_error_to_string(err));
		job->status = 1;
	} else {
		return;
	}
	event_base_loopbreak(bufferevent_get_base(bev));
}

static int
usage(void)
{
	fprintf(stderr, "usage: dropin [--evdns] HOST PORT\n");
	return 2;
}

int
main(int argc, char **argv)
{
	struct event_base *base;
	struct evdns_base *dns_base = NULL;
	struct bufferevent *bev;
	struct job job;
	char *end;
	long port;
	int use_evdns = 0;

	if (argc > 1 && !strcmp(argv[1], "--evdns")) {
		use_evdns = 1;
		argv++;
		argc--;
	}
	if (argc != 3)
		return usage();
	errno = 0;
	port = strtol(argv[2], &end, 10);
	if (errno || end == argv[2] || *end || port < 1 || port > 65535)
		return usage();

	job.host = argv[1];
	job.port = argv[2];
	job.status = 1;

	base = event_base_new();
	if (!base) {
		fprintf(stderr, "dropin: event_base_new failed\n");
		return 1;
	}
	if (use_evdns) {
		dns_base = evdns_base_new(base,
		    EVDNS_BASE_INITIALIZE_NAMESERVERS);
		if (!dns_base) {
			fprintf(stderr, "dropin: evdns_base_new failed\n");
			event_base_free(base);
			return 1;
		}
	}

	bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		fprintf(stderr, "dropin: bufferevent_socket_new failed\n");
		if (dns_base)
			evdns_base_free(dns_base, 0);
		event_base_free(base);
		return 1;
	}
	bufferevent_setcb(bev, NULL, NULL, event_cb, &job);

	/* The one line that changes.  With plain libevent it reads
	 *
	 *	bufferevent_socket_connect_hostname(bev, dns_base, AF_UNSPEC,
	 *	    job.host, (int)port)
	 *
	 * and the only other change is evhappy_socket_get_dns_error() in
	 * place of bufferevent_socket_get_dns_error() in event_cb. */
	if (evhappy_socket_connect_hostname(bev, dns_base, AF_UNSPEC,
		job.host, (int)port) < 0) {
		fprintf(stderr, "dropin: connect to %s port %s: %s\n",
		    job.host, job.port, strerror(errno));
		job.status = 1;
	} else {
		event_base_dispatch(base);
	}

	bufferevent_free(bev);
	/* A query the race cancelled is reclaimed on the next loop turn. */
	event_base_loop(base, EVLOOP_NONBLOCK);
	if (dns_base)
		evdns_base_free(dns_base, 1);
	event_base_free(base);
	return job.status;
}
