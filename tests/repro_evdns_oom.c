/*
 * Reproducer for a libevent 2.1.12 bug (see TESTING.md, "libevent bugs
 * found"): when libevent cannot allocate the deferred callback for a DNS
 * reply, evdns drops the reply, frees the request's handle, and leaves the
 * evdns_getaddrinfo request pointing at it.  The getaddrinfo callback never
 * runs, and a later evdns_getaddrinfo_cancel() reads the freed handle
 * (evdns_cancel_request), which crashes.
 *
 * How: libevent's allocator is replaced (event_set_mem_functions) by one
 * that can fail every allocation and that makes freed blocks inaccessible,
 * so the use after free faults every time instead of by luck (with glibc's
 * malloc the freed handle is reused, and the crash is an assertion failure
 * in ASSERT_VALID_REQUEST or nothing, depending on what lands there; ASan
 * does not see it, since libevent itself is not instrumented).  A tiny UDP DNS
 * responder on 127.0.0.1 answers the A query; right after sending the
 * answer it makes libevent's allocations fail.  The only allocation evdns
 * makes while it reads that answer is the deferred callback
 * (reply_schedule_callback), so the answer is dropped.  20 ms later the
 * allocations work again and the query is cancelled, as any owner that got
 * no answer would do.
 *
 * Not run by make check (it is meant to crash on an affected libevent).
 * Build and run: make tests/repro_evdns_oom && ./tests/repro_evdns_oom
 * Exit status: 0 libevent handled it (fixed); 1 the callback never came
 * but nothing crashed (still dropped); killed by SIGSEGV: the bug (gdb
 * shows evdns_cancel_request reading the freed evdns_request).
 *
 * Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).
 */
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

static int fail_allocs;
static int failed;

/* ---- an allocator that can fail and traps every use after free ---------- */

/* Every block has pages of its own, and a freed block's pages are made
   inaccessible (never reused), so reading freed memory faults at once, as
   Electric Fence does.  libevent makes few allocations here. */
#define HDR 64

static size_t
pages_for(size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	return (n + HDR + pg - 1) / pg * pg;
}

static void *
repro_malloc(size_t n)
{
	unsigned char *p;

	if (fail_allocs) {
		failed++;
		return NULL;
	}
	p = mmap(NULL, pages_for(n), PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	memcpy(p, &n, sizeof(n));
	return p + HDR;
}

static void
repro_free(void *ptr)
{
	unsigned char *p = ptr;
	size_t n;

	if (!p)
		return;
	p -= HDR;
	memcpy(&n, p, sizeof(n));
	mprotect(p, pages_for(n), PROT_NONE);
}

static void *
repro_realloc(void *ptr, size_t n)
{
	unsigned char *q;
	size_t old;

	if (!ptr)
		return repro_malloc(n);
	if (!(q = repro_malloc(n)))
		return NULL;
	memcpy(&old, (unsigned char *)ptr - HDR, sizeof(old));
	memcpy(q, ptr, old < n ? old : n);
	repro_free(ptr);
	return q;
}

/* ---- a one-answer DNS responder ------------------------------------------ */

struct responder {
	evutil_socket_t fd;
	struct event *ev;
	struct event *later;	/* re-enable allocations and cancel */
};

/* Answer a query with one A record, 127.0.0.1: the question is copied and
   the answer names it by pointer (0xc00c). */
static int
make_answer(const unsigned char *q, int qlen, unsigned char *out, int max)
{
	static const unsigned char rr[] = {
		0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1
	};

	if (qlen < 12 || qlen + (int)sizeof(rr) > max)
		return -1;
	memcpy(out, q, qlen);
	out[2] = 0x81;		/* QR, RD */
	out[3] = 0x80;		/* RA, NOERROR */
	out[6] = 0;
	out[7] = 1;		/* ANCOUNT 1 */
	out[8] = out[9] = out[10] = out[11] = 0;
	memcpy(out + qlen, rr, sizeof(rr));
	return qlen + (int)sizeof(rr);
}

static void
responder_cb(evutil_socket_t fd, short what, void *arg)
{
	struct responder *r = arg;
	unsigned char q[512], a[600];
	struct sockaddr_storage from;
	socklen_t fromlen = sizeof(from);
	struct timeval tv = { 0, 20000 };
	int n;

	n = (int)recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from,
	    &fromlen);
	if (n <= 0 || (n = make_answer(q, n, a, sizeof(a))) < 0)
		return;
	sendto(fd, a, (size_t)n, 0, (struct sockaddr *)&from, fromlen);
	printf("responder: answer sent; libevent's allocations fail now\n");
	fail_allocs = 1;
	event_add(r->later, &tv);
}

/* ---- the request --------------------------------------------------------- */

static struct evdns_getaddrinfo_request *req;
static int answered;

static void
answer_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	answered = 1;
	printf("getaddrinfo callback: %s\n", evutil_gai_strerror(result));
	if (res)
		evutil_freeaddrinfo(res);
	req = NULL;
}

static void
later_cb(evutil_socket_t fd, short what, void *arg)
{
	fail_allocs = 0;
	printf("allocations work again (%d failed); callback %s\n", failed,
	    answered ? "came" : "never came");
	if (req) {
		printf("evdns_getaddrinfo_cancel() on the unanswered "
		    "request...\n");
		fflush(stdout);
		evdns_getaddrinfo_cancel(req);
		printf("...returned\n");
	}
}

int
main(void)
{
	struct event_base *base;
	struct evdns_base *dns;
	struct responder r;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	struct evutil_addrinfo hints;
	char where[64];
	struct timeval stop = { 1, 0 };

	event_set_mem_functions(repro_malloc, repro_realloc, repro_free);
	setvbuf(stdout, NULL, _IONBF, 0);
	base = event_base_new();
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r.fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (!base || r.fd < 0 ||
	    bind(r.fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(r.fd, (struct sockaddr *)&sin, &len) < 0) {
		perror("setup");
		return 2;
	}
	evutil_make_socket_nonblocking(r.fd);
	r.ev = event_new(base, r.fd, EV_READ | EV_PERSIST, responder_cb, &r);
	r.later = evtimer_new(base, later_cb, NULL);
	event_add(r.ev, NULL);

	dns = evdns_base_new(base, 0);
	evutil_snprintf(where, sizeof(where), "127.0.0.1:%d",
	    ntohs(sin.sin_port));
	if (!dns || evdns_base_nameserver_ip_add(dns, where) != 0) {
		fprintf(stderr, "evdns setup failed\n");
		return 2;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	req = evdns_getaddrinfo(dns, "repro.test", NULL, &hints, answer_cb,
	    NULL);
	event_base_loopexit(base, &stop);
	event_base_dispatch(base);

	if (answered) {
		printf("libevent handled the failed allocation\n");
		return 0;
	}
	printf("no callback and no crash: the answer was dropped\n");
	return 1;
}
