/* Small helpers shared by the Check tests. */
#ifndef EVHAPPY_HE_TESTUTIL_H_INCLUDED_
#define EVHAPPY_HE_TESTUTIL_H_INCLUDED_

#include <stdint.h>
#include <event2/event.h>
#include <event2/util.h>

/** How many fds this process has open (entries of /proc/self/fd). */
int he_test_count_fds(void);

/** Milliseconds on the monotonic clock. */
int64_t he_test_now_ms(void);

/** Run the loop until he_test_stop() or for at most ms milliseconds. */
void he_test_run_for(struct event_base *base, int ms);
void he_test_stop(struct event_base *base);

/** A one-entry list for "addr" (IPv4 or IPv6 literal) and port; free it with
    evhappy_addrinfo_free(). */
struct evutil_addrinfo *he_test_ai(const char *addr, int port);

/** Append b to a (either may be NULL). */
struct evutil_addrinfo *he_test_append(struct evutil_addrinfo *a,
    struct evutil_addrinfo *b);

/** The printable "addr" of a sockaddr, without port, into a static buffer. */
const char *he_test_addr_str(const struct sockaddr *sa);

/** exit(77) (the automake "skipped" code) with a message when cond is false. */
void he_test_require(int cond, const char *why);

#endif
