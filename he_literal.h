/*
 * Hostnames that are address literals (he_literal.c).
 */
#ifndef EVHAPPY_HE_LITERAL_H_INCLUDED_
#define EVHAPPY_HE_LITERAL_H_INCLUDED_

#include <event2/util.h>

/** Parse a literal ("1.2.3.4", "::1", "[::1]", "fe80::1%eth0") into a
    one-entry list in *out (NULL for a name, which is no literal).  0, or
    EINVAL for a bracketed non-IPv6 or an IPv6 address whose zone is empty
    or names no interface, or ENOMEM. */
int he_parse_literal_(const char *host, int port,
    struct evutil_addrinfo **out);

#endif
