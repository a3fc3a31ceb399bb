/*
 * The lab: an in-process fake DNS server and local listeners that refuse,
 * accept, or swallow SYNs (a black hole).  `evhappy --demo` and the tests
 * use it; nothing here reaches outside the machine.
 */
#ifndef EVHAPPY_HE_LAB_H_INCLUDED_
#define EVHAPPY_HE_LAB_H_INCLUDED_

#include <event2/event.h>
#include <event2/dns.h>
#include <event2/util.h>
#include <sys/types.h>

#include <stddef.h>

/** What the fake server does with a query for one name and type. */
enum he_lab_dns_mode {
	HE_LAB_ANSWER,		/* the records added with he_lab_dns_add(); none: NOERROR, empty */
	HE_LAB_NXDOMAIN,
	HE_LAB_SERVFAIL,
	HE_LAB_DROP		/* never answer */
};

struct he_lab_dns;

/** Start a fake DNS server on 127.0.0.1, a free UDP port.  Names not
    configured get NXDOMAIN at once.  Returns NULL on failure. */
struct he_lab_dns *he_lab_dns_new(struct event_base *base);
void he_lab_dns_free(struct he_lab_dns *d);
/** The server's address as "127.0.0.1:PORT", for evdns_base_nameserver_ip_add(). */
const char *he_lab_dns_address(const struct he_lab_dns *d);

/** Add one record: type is EVDNS_TYPE_A or EVDNS_TYPE_AAAA, addr a literal
    of that family.  Several calls give several records.  0 or -1. */
int he_lab_dns_add(struct he_lab_dns *d, const char *name, int type,
    const char *addr);
/** Forget the records of (name, type) added so far (the answer changes
    when new ones are added).  0 or -1. */
int he_lab_dns_clear(struct he_lab_dns *d, const char *name, int type);
/** How the server treats (name, type): mode, and the delay in ms before it
    answers (the delay applies to every mode but DROP).  0 or -1. */
int he_lab_dns_set(struct he_lab_dns *d, const char *name, int type,
    enum he_lab_dns_mode mode, int delay_ms);
/** Add one record of any type but A, AAAA and CNAME with its RDATA as
    given (an HTTPS record, type 65, in wire form; any bytes, however
    wrong: the lab serves hostile answers too).  Several calls give
    several records, answered in the order added.  0 or -1. */
int he_lab_dns_add_raw(struct he_lab_dns *d, const char *name, int type,
    const void *rdata, size_t len);
/** SVCB/HTTPS RDATA from its zone-file text, "PRIORITY TARGET key=value
    ..." (keys in the order written; a value in the key's syntax, hex:HEX
    for raw bytes, len:N for N filler bytes), or "hex:HEX" for the whole
    RDATA, into out: its length, or -1 (bad text, too long). */
int he_lab_svcb_rdata(const char *pres, unsigned char *out, size_t cap);
/** A SvcParamKey's number from its name ("alpn", "key65000"), or -1. */
int he_lab_svcb_key(const char *name);
/** Add an HTTPS record (type 65) for name from its zone-file text
    (he_lab_svcb_rdata).  0 or -1. */
int he_lab_dns_add_https(struct he_lab_dns *d, const char *name,
    const char *pres);
/** Make name an alias of target: a query of any type for name is
    answered with the CNAME (and target's own CNAME, up to 8) and then the
    records of the final name of the type asked, at once (name's delay
    and mode do not apply).  A second call replaces the target.  0 or -1. */
int he_lab_dns_add_cname(struct he_lab_dns *d, const char *name,
    const char *target);
/** Answer over TCP too, on the server's port (127.0.0.1:PORT): where a
    client retries an answer that was truncated over UDP (libevent cuts
    UDP answers at 512 bytes and sets TC).  Over TCP every answer leaves
    at once (no delay); DROP still never answers.  0 or -1. */
int he_lab_dns_tcp(struct he_lab_dns *d);
/** The source port of the last query that came over UDP, or 0. */
int he_lab_dns_last_port(const struct he_lab_dns *d);
/** How many queries for (name, type) arrived so far (UDP and TCP). */
int he_lab_dns_queries(const struct he_lab_dns *d, const char *name, int type);

/** An evdns_base that asks only this server: no hosts file, no search
    domains, one try, short timeout.  Free with evdns_base_free(b, 1). */
struct evdns_base *he_lab_dns_client(struct he_lab_dns *d,
    struct event_base *base);

/** The same for the server at address ("127.0.0.1:PORT"), which may be
    another process's (he_lab_dns_address() there). */
struct evdns_base *he_lab_dns_client_at(const char *address,
    struct event_base *base);

/** A listener on addr (a literal; port 0 picks one), non-blocking, that
    accepts normally.  *port gets the port.  Returns the fd or -1. */
evutil_socket_t he_lab_listen(const char *addr, int *port);

/** A port on addr where connects are refused: a socket bound there but not
    listening (so nobody else takes it).  Close the returned fd when done. */
evutil_socket_t he_lab_refuser(const char *addr, int *port);

/** A black hole: a listener whose accept queue is full, so the kernel drops
    new SYNs and a connect there neither succeeds nor fails for a long time. */
struct he_lab_blackhole;
struct he_lab_blackhole *he_lab_blackhole_new(const char *addr, int *port);
void he_lab_blackhole_free(struct he_lab_blackhole *b);

struct evhappy_report;

/** A connect callback (evhappy_connect_cb) for races whose outcome does
    not matter: it closes the winner's socket and counts its calls in the
    int at arg. */
void he_lab_close_cb(evutil_socket_t fd, const struct evhappy_report *r,
    void *arg);

/** What a lookup hook (the system resolver's getaddrinfo stand-in) answers
    for an address: getaddrinfo() of the literal addr with hints' family,
    socktype and protocol, into *res (getaddrinfo's own allocation: the
    resolver frees it with freeaddrinfo()).  getaddrinfo's result. */
int he_lab_gai_numeric(const char *addr, const char *service,
    const struct evutil_addrinfo *hints, struct evutil_addrinfo **res);

/** Monotonic microseconds (CLOCK_MONOTONIC), for programs that have the
    lab without the library (the preload client). */
long long he_lab_now_us(void);

/** How many entries a /proc directory has ("/proc/self/fd": open fds,
    not counting the one this call opens; "/proc/self/task": threads), or
    -1.  The tests, the benchmarks and the preload client count with it. */
int he_lab_count_dir(const char *path);

/** How many entries of the directory path keep() keeps (NULL: every one),
    or -1; keep is given the entry's path ("path/name") and arg.  Names
    beginning with '.' are never counted. */
int he_lab_count_dir_if(const char *path,
    int (*keep)(const char *entry, void *arg), void *arg);

/** Whether ::1 can be bound, listened on and connected to here. */
int he_lab_ipv6_loopback_works(void);

/** fork() a child with a pipe back to this process; the child is killed
    when this process dies (PR_SET_PDEATHSIG), so a lab server in a child
    never outlives its test.  In the child: 0, *fd the pipe's write end; in
    this process: the child's pid, *fd the read end; -1 on failure. */
pid_t he_lab_fork(int *fd);

/** Send sig to a child of he_lab_fork() and reap it. */
void he_lab_reap(pid_t pid, int sig);

#endif
