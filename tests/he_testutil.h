/* Small helpers shared by the Check tests. */
#ifndef EVHAPPY_HE_TESTUTIL_H_INCLUDED_
#define EVHAPPY_HE_TESTUTIL_H_INCLUDED_

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
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
/** A timeval in microseconds. */
int64_t he_test_us_of(const struct timeval *tv);

/** Sleep ms milliseconds (the thread, not the loop), through EINTR. */
void he_test_sleep_ms(int ms);

/** How much to widen the upper bounds of time windows: HE_TEST_SLOW=N with
    N > 1 gives N; any other HE_TEST_SLOW but "" and "0", or running under
    valgrind (its preload in LD_PRELOAD), gives 5; otherwise 1. */
int he_test_slow_factor(void);

/** An upper time bound in ms, widened by he_test_slow_factor(). */
#define HE_TEST_UP(ms) ((int64_t)(ms) * he_test_slow_factor())

struct he_lab_dns;
struct evdns_base;

/** What a listener of the fixture does with a connection. */
enum he_test_listener { HE_TEST_ACCEPT, HE_TEST_REFUSE, HE_TEST_HOLE };

struct he_test_listen_spec {
	enum he_test_listener kind;
	const char *addr;		/* a literal, without brackets */
};

/** One listener of the fixture. */
struct he_test_lab_end {
	struct he_test_listen_spec spec;
	int port;
	evutil_socket_t fd;		/* ACCEPT and REFUSE: the socket */
	struct he_lab_blackhole *bh;	/* HOLE */
};

#define HE_TEST_MAX_LISTENERS 16

/** The usual fixture: an fd count, a base and a context; with
    he_test_fx_begin_dns() also the lab's DNS server and an evdns_base that
    asks only it; with he_test_fx_listen() or he_test_fx_listen_apart()
    listeners, which the fixture closes at its end. */
struct he_test_fx {
	int fds0;
	struct event_base *base;
	struct evhappy *he;
	struct he_lab_dns *dns;
	struct evdns_base *dnsb;
	int port;			/* he_test_fx_listen(): every listener's */
	struct he_test_lab_end at[HE_TEST_MAX_LISTENERS];
	int nat;
};

/** Count the fds, make the base and the context without evdns (asserting
    each); the context starts with no connection history. */
void he_test_fx_begin(struct he_test_fx *f);

/** The same with the lab's DNS server (he_lab_dns_new()) and a context on
    an evdns_base that asks only it. */
void he_test_fx_begin_dns(struct he_test_fx *f);

/** Make every listener of s on one port number (retrying with another port
    when one address has it taken); f->port gets it.  For names that
    resolve to several addresses: the family that wins shows which path was
    taken. */
void he_test_fx_listen(struct he_test_fx *f,
    const struct he_test_listen_spec *s, int n);

/** Make every listener of s, each on a port of its own (f->at[i].port for
    the i-th listener made); returns the list of them in s's order (the
    caller frees it). */
struct evutil_addrinfo *he_test_fx_listen_apart(struct he_test_fx *f,
    const struct he_test_listen_spec *s, int n);

/** One listener accepting at addr (a literal), kept and closed by the
    fixture as he_test_fx_listen()'s are; its port (also in f->port). */
int he_test_fx_accept(struct he_test_fx *f, const char *addr);

/** Close the listeners of f (he_test_fx_listen(), he_test_fx_listen_apart())
    and nothing else: for a test that keeps only listeners in a fixture. */
void he_test_fx_close_listeners(struct he_test_fx *f);

/** Free everything the fixture holds: the context (if still there), a loop
    turn without blocking (evdns delivers the cancellation of a query on
    it), the evdns_base (failing its requests) and the lab's server (if
    any), the listeners, the base.  Once only: a second call does
    nothing. */
void he_test_fx_free(struct he_test_fx *f);

/** he_test_fx_free(), then assert that the fd count is back to the
    start's.  Call after every other lab object has been freed. */
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

/** The sockaddr of an IPv4 or IPv6 literal (without brackets) and port
    into *ss, zeroed first; its length, or 0 when addr is no literal. */
socklen_t he_test_sockaddr(const char *addr, int port,
    struct sockaddr_storage *ss);

/** The sockaddr of an IPv4 or IPv6 literal and port, in a ring of 8
    static buffers (asserting that the literal parses). */
const struct sockaddr *he_test_sa(const char *addr, int port);

/** The same as a sockaddr_in, or a sockaddr_in6, asserting that the
    literal is of that family. */
struct sockaddr_in he_test_sin(const char *addr, int port);
struct sockaddr_in6 he_test_sin6(const char *addr, int port);

/** The printable "addr" of a sockaddr, without port, into a static buffer. */
const char *he_test_addr_str(const struct sockaddr *sa);

/** A new test case of s, added to it, with a timeout of timeout_s seconds. */
TCase *he_test_tcase(Suite *s, const char *name, int timeout_s);

/** One line of a suite's table for he_test_suite_of(): a test case
    (HE_TCASE, HE_TCASE_FX), or a test of the test case above it (HE_TEST,
    HE_LOOP). */
struct he_test_def {
	const char *tcase;	/* a test case's name; NULL: a test */
	int timeout_s;		/* the test case's timeout; 0: Check's */
	SFun setup, teardown;	/* its checked fixture, or NULL */
	const TTest *test;	/* a test */
	int loop, from, to;	/* a loop test: _i from from to to - 1 */
};

#define HE_TCASE(name, timeout_s)					\
	{ (name), (timeout_s), NULL, NULL, NULL, 0, 0, 0 }
#define HE_TCASE_FX(name, timeout_s, setup, teardown)			\
	{ (name), (timeout_s), (setup), (teardown), NULL, 0, 0, 0 }
#define HE_TEST(test) { NULL, 0, NULL, NULL, (test), 0, 0, 0 }
/* a loop test over the n rows of a table: _i from 0 to n - 1 */
#define HE_LOOP(test, n) HE_LOOP_FROM(test, 0, n)
#define HE_LOOP_FROM(test, from, to)					\
	{ NULL, 0, NULL, NULL, (test), 1, (from), (to) }

/** How many elements the array a has. */
#define HE_TEST_N(a) (sizeof(a) / sizeof((a)[0]))

/** A suite named name of the n lines of d, in their order: each test case
    with its timeout and fixture, each test in the test case above it. */
Suite *he_test_suite_of(const char *name, const struct he_test_def *d,
    size_t n);

/** The suite of a Check program that uses the shared main()
    (tests/he_testmain.c): each such program defines it.  It may set the
    program up first, or call he_test_require(). */
Suite *he_test_suite(void);

/** Run every test of s (printing as mode says), free the runner, and return
    EXIT_SUCCESS when none failed, else EXIT_FAILURE: main()'s status. */
int he_test_run_suite(Suite *s, enum print_output mode);

struct he_race;

/** The next action of the race core r (he_drive_next(): history's notes
    skipped) must be kind (enum he_action_kind) on attempt (-1: any). */
void he_test_expect_action(struct he_race *r, int kind, int attempt);

/** r has no action queued (history's notes skipped, as above). */
void he_test_expect_none(struct he_race *r);

/** call must fail: return -1 (EXPECT_FAIL) or NULL (EXPECT_NULL) with
    errno e. */
#define EXPECT_FAIL(call, e) do {					\
	errno = 0;							\
	ck_assert_int_eq((call), -1);					\
	ck_assert_msg(errno == (e), "%s: errno %d (%s), want %d (%s)",	\
	    #call, errno, strerror(errno), (e), strerror(e));		\
} while (0)

#define EXPECT_NULL(call, e) do {					\
	errno = 0;							\
	ck_assert_ptr_null((void *)(call));				\
	ck_assert_msg(errno == (e), "%s: errno %d (%s), want %d (%s)",	\
	    #call, errno, strerror(errno), (e), strerror(e));		\
} while (0)

/** call must return ret and leave errno e (set to 0 before the call): for
    calls that tell something through errno without failing. */
#define EXPECT_ERRNO(call, ret, e) do {					\
	errno = 0;							\
	ck_assert_int_eq((call), (ret));				\
	ck_assert_msg(errno == (e), "%s: errno %d (%s), want %d (%s)",	\
	    #call, errno, strerror(errno), (e), strerror(e));		\
} while (0)

/** A private directory for a test, "$TMPDIR/<name>.XXXXXX" (/tmp when
    TMPDIR is unset or empty), made (asserting it) into dir (len bytes);
    "<dir>/history", the history file's path there, into path (plen
    bytes). */
void he_test_histdir(char *dir, size_t len, char *path, size_t plen,
    const char *name);

/** Remove dir and all it holds; says so on stderr when it cannot. */
void he_test_rm_rf(const char *dir);

/** The fixture of a test of the history file through the library: a
    private directory and the file's path in it (he_test_histdir()), the
    rules of a setuid process off (he_histfile_test_secure_(0)) and no
    history file set yet (asserting that).  he_test_histfile_end(): no
    file set, the process's own rules back, the directory removed. */
struct he_test_histfx {
	char dir[256];
	char path[PATH_MAX];
};
void he_test_histfile_begin(struct he_test_histfx *h, const char *name);
void he_test_histfile_end(struct he_test_histfx *h);

/** fork(), asserting that it worked: 0 in the child, the child's pid in
    the parent. */
pid_t he_test_fork(void);

/** Wait for the child pid and assert that it exited with 0; the failure
    names it (what) and says its exit code, or the signal that ended it. */
void he_test_child_ok(pid_t pid, const char *what);

/** exit(77) (the automake "skipped" code) with a message when cond is false. */
void he_test_require(int cond, const char *why);

#endif
