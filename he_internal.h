/*
 * Internal declarations shared by the library's files.  Nothing here is
 * exported from libevhappy.so; the tests link the objects statically.
 */
#ifndef EVHAPPY_HE_INTERNAL_H_INCLUDED_
#define EVHAPPY_HE_INTERNAL_H_INCLUDED_

#include "he_event.h"
#include "he_race.h"

#include <stdint.h>

/** How RFC 6724 sorting learns the source address the kernel would use for
    a destination: 0 and *src filled, or -1 when there is no route. */
typedef int (*he_source_fn)(const struct sockaddr *dst, ev_socklen_t dstlen,
    struct sockaddr_storage *src, void *arg);

/** evhappy_addrinfo_sort with the source lookup supplied, so the RFC 6724
    examples can be tested with the sources they name. */
int he_addrinfo_sort_with_(struct evutil_addrinfo **list, he_source_fn source,
    void *arg);

/** The source lookup evhappy_addrinfo_sort uses: UDP connect + getsockname. */
int he_source_by_udp_connect_(const struct sockaddr *dst, ev_socklen_t dstlen,
    struct sockaddr_storage *src, void *arg);

/** Whether two addresses are the same (family, bytes, port, IPv6 scope). */
int he_sockaddr_equal_(const struct sockaddr *a, const struct sockaddr *b);

/** Make one list entry for a sockaddr, with socktype and protocol set. */
struct evutil_addrinfo *he_addrinfo_new_(const struct sockaddr *sa,
    ev_socklen_t len);

/** Append list b to list a; returns the head. */
struct evutil_addrinfo *he_addrinfo_concat_(struct evutil_addrinfo *a,
    struct evutil_addrinfo *b);

/** Set the port of every entry. */
void he_addrinfo_set_port_(struct evutil_addrinfo *list, int port);

/** The blocking lookup the system resolver's threads run; tests replace it
    (NULL restores getaddrinfo) to make lookups slow.  Results are freed with
    freeaddrinfo(). */
typedef int (*he_gai_fn)(const char *node, const char *service,
    const struct evutil_addrinfo *hints, struct evutil_addrinfo **res);
void he_resolve_set_gai_hook_(he_gai_fn fn);

#endif
