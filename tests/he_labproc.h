/*
 * The lab's fake DNS server in a forked child process, for the tests that
 * must keep the lab's own calls out of their measurements (the fault walk:
 * its calls would be counted and failed; the soak: its heap would be
 * counted).  The child dies with its parent (PR_SET_PDEATHSIG).
 */
#ifndef EVHAPPY_HE_LABPROC_H_INCLUDED_
#define EVHAPPY_HE_LABPROC_H_INCLUDED_

#include <sys/types.h>
#include <check.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>

/* Names the server knows (each AAAA ::1 and A 127.0.0.1):
 *   both.test   answers at once
 *   slow.test   both answers after 30 ms
 *   a.test      A only (AAAA: NOERROR, no records)
 *   v4only.test A 192.0.2.10 only (NAT64: synthesized on a host with no
 *               IPv4 route)
 *   ipv4only.arpa  AAAA 2001:db8:64::c000:aa after 30 ms (RFC 7050: the
 *               prefix 2001:db8:64::/96)
 * Any other name: NXDOMAIN at once. */

/** Fork the server; 0 and its address ("127.0.0.1:PORT") kept inside, or -1. */
int he_labproc_dns_start(void);
/** Kill and reap it. */
void he_labproc_dns_stop(void);
/** An evdns_base on base that asks only that server (as he_lab_dns_client). */
struct evdns_base *he_labproc_dns_client(struct event_base *base);
/** The server's pid, or -1. */
pid_t he_labproc_dns_pid(void);
/** The server's address ("127.0.0.1:PORT"), for an evdns_base made with
    other flags; "" when it is not running. */
const char *he_labproc_dns_address(void);

struct evutil_addrinfo;
/** The system resolver's counterpart of the server, for
    he_resolve_set_gai_hook_(): numeric answers (AAAA ::1, A 127.0.0.1),
    so no /etc/hosts or DNS is involved; "slow.*" takes 30 ms, "nx.*"
    does not exist, "v4only.*" has only A 192.0.2.10, ipv4only.arpa AAAA
    2001:db8:64::c000:aa after 30 ms.  It runs on the library's threads and calls nothing
    the fault injection wraps. */
int he_labproc_fake_gai(const char *node, const char *service,
    const struct evutil_addrinfo *hints, struct evutil_addrinfo **res);

struct evhappy;
struct evhappy_request;

/** How a race is stopped before its end. */
enum he_stop {
	HE_STOP_NONE,
	HE_STOP_CANCEL,		/* evhappy_request_cancel() */
	HE_STOP_FREE_CTX,	/* evhappy_free() of its context */
	HE_STOP_FREE_BEV	/* bufferevent_free() of its bufferevent */
};

/** Stop a race as how says: cancel *req, free *he or free *bev; that
    pointer is then NULL. */
void he_labproc_stop(enum he_stop how, struct evhappy_request **req,
    struct evhappy **he, struct bufferevent **bev);

/** The main() of the programs that use the server (after
    he_fault_heap_exact(argv), for those that count the heap): SIGPIPE
    ignored, the server started, make()'s suite run, the server stopped;
    main()'s status.  argv[0] names the program in a failure. */
int he_labproc_main(char **argv, Suite *(*make)(void));

#endif
