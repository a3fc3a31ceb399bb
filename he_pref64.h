/*
 * The PREF64 listener (he_pref64.c, adapters layer): an rtnetlink socket
 * on which Linux reports the options of the router advertisements it
 * accepts, fed into a NAT64 prefix store (he_nat64_cache.h).
 */
#ifndef EVHAPPY_HE_PREF64_H_INCLUDED_
#define EVHAPPY_HE_PREF64_H_INCLUDED_

#include "he_nat64_cache.h"

/** Open, into *fd, a non-blocking, close-on-exec rtnetlink socket that
    hears router advertisements' user options (RTNLGRP_ND_USEROPT) and
    prefix notifications (RTNLGRP_IPV6_PREFIX) in the caller's network
    namespace.  The kernel keeps no copy of either: the socket hears the
    RAs that arrive while it is open.  0, or the errno of socket()/bind()
    (ENOSYS off Linux). */
int he_pref64_open_(evutil_socket_t *fd);

/** Read whatever the socket holds (until EAGAIN) and feed c at now:
    PREF64 options (he_nat64_cache_ra_) and RA sightings
    (he_nat64_cache_ra_seen_); messages not from the kernel are ignored.
    *applied (may be NULL) gets how many PREF64 options were applied.
    0, or the errno of a failed read; ENOBUFS means the kernel dropped
    messages (what could be read was applied, the socket stays usable, and
    what was lost is heard again with the next RA). */
int he_pref64_read_(evutil_socket_t fd, struct he_nat64_cache *c, int64_t now,
    int *applied);

#endif
