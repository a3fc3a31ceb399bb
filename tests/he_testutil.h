/* Small helpers shared by the Check tests. */
#ifndef EVHAPPY_HE_TESTUTIL_H_INCLUDED_
#define EVHAPPY_HE_TESTUTIL_H_INCLUDED_

#include <stdint.h>
#include <check.h>
#include <event2/event.h>
#include <event2/util.h>

struct evhappy;
struct he_lab_blackhole;

/** How many fds this process has open (entries of /proc/self/fd). */
int he_test_count_fds(void);

/** Milliseconds on the monotonic clock. */
int64_t he_test_now_ms(void);

/** Run the loop for ms milliseconds. */
void he_test_run_for(struct event_base *base, int ms);

/** Run the loop for at most ms milliseconds, or until *flag becomes non-zero
    (flag may be NULL: then the whole time); it turns the loop once at a time
    with a timer armed for what is left. */
void he_test_run_until(struct event_base *base, int64_t ms, const int *flag);

/** A timeval in whole milliseconds, and back (truncated). */
void he_test_tv(struct timeval *tv, int ms);
int64_t he_test_ms_of(const struct timeval *tv);

/** Sleep ms milliseconds (the thread, not the loop), through EINTR. */
void he_test_sleep_ms(int ms);

/** How much to widen the upper bounds of time windows: HE_TEST_SLOW=N with
    N > 1 gives N; any other HE_TEST_SLOW but "" and "0", or running under
    valgrind (its preload in LD_PRELOAD), gives 5; otherwise 1. */
int he_test_slow_factor(void);

/** An upper time bound in ms, widened by he_test_slow_factor(). */
#define HE_TEST_UP(ms) ((int64_t)(ms) * he_test_slow_factor())

/** The usual fixture: an fd count, a base and a context without evdns. */
struct he_test_fx {
	int fds0;
	struct event_base *base;
	struct evhappy *he;
};

/** Count the fds, make the base and the context (asserting each). */
void he_test_fx_begin(struct he_test_fx *f);

/** Free the context (if still there), turn the loop once without blocking,
    free the base, and assert that the fd count is back to the start's.  Call
    after every lab object has been freed. */
void he_test_fx_end(struct he_test_fx *f);

/** A one-entry list for "addr" (IPv4 or IPv6 literal) and port; free it with
    evhappy_addrinfo_free(). */
struct evutil_addrinfo *he_test_ai(const char *addr, int port);

/** Append b to a (either may be NULL); he_addrinfo_concat_(). */
struct evutil_addrinfo *he_test_append(struct evutil_addrinfo *a,
    struct evutil_addrinfo *b);

/** he_lab_listen(), he_lab_refuser() and he_lab_blackhole_new(), asserting
    that they worked. */
evutil_socket_t he_test_listen(const char *addr, int *port);
evutil_socket_t he_test_refuser(const char *addr, int *port);
struct he_lab_blackhole *he_test_blackhole(const char *addr, int *port);

/** The sockaddr of an IPv4 or IPv6 literal and port, in a ring of 8
    static buffers (asserting that the literal parses). */
const struct sockaddr *he_test_sa(const char *addr, int port);

/** The printable "addr" of a sockaddr, without port, into a static buffer. */
const char *he_test_addr_str(const struct sockaddr *sa);

/** A new test case of s, added to it, with a timeout of timeout_s seconds. */
TCase *he_test_tcase(Suite *s, const char *name, int timeout_s);

/** Run every test of s (printing as mode says), free the runner, and return
    EXIT_SUCCESS when none failed, else EXIT_FAILURE: main()'s status. */
int he_test_run_suite(Suite *s, enum print_output mode);

/** exit(77) (the automake "skipped" code) with a message when cond is false. */
void he_test_require(int cond, const char *why);

#endif
