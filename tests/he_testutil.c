#include "he_testutil.h"
#include "he_event.h"
#include "he_addrinfo.h"
#include "he_lab.h"
#include "he_coredrive.h"
#include "he_time.h"
#include "he_histfile.h"

#include <check.h>
#include <event2/dns.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>

int
he_test_count_fds(void)
{
	return he_lab_count_dir("/proc/self/fd");
}

int64_t
he_test_now_ms(void)
{
	return he_now_() / 1000;	/* the library's own clock */
}

void
he_test_run_for(struct event_base *base, int ms)
{
	struct timeval tv;

	he_test_tv(&tv, ms);
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* The timer of he_test_run_until(): it only wakes the loop. */
static void
he_test_noop_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

void
he_test_run_until(struct event_base *base, int64_t ms, const int *flag)
{
	struct event *t = evtimer_new(base, he_test_noop_cb, NULL);
	int64_t end = he_test_now_ms() + ms;

	ck_assert_ptr_nonnull(t);
	while (!(flag && *flag)) {
		int64_t left = end - he_test_now_ms();
		struct timeval tv;

		if (left <= 0)
			break;
		tv.tv_sec = (time_t)(left / 1000);
		tv.tv_usec = (suseconds_t)((left % 1000) * 1000);
		evtimer_add(t, &tv);
		event_base_loop(base, EVLOOP_ONCE);
	}
	event_free(t);
}

void
he_test_tv(struct timeval *tv, int ms)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

int64_t
he_test_ms_of(const struct timeval *tv)
{
	return (int64_t)tv->tv_sec * 1000 + tv->tv_usec / 1000;
}

int64_t
he_test_us_of(const struct timeval *tv)
{
	return (int64_t)tv->tv_sec * 1000000 + tv->tv_usec;
}

void
he_test_sleep_ms(int ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int
he_test_slow_factor(void)
{
	const char *s = getenv("HE_TEST_SLOW");

	if (s && atoi(s) > 1)
		return atoi(s);
	if (s && *s && strcmp(s, "0") != 0)
		return 5;
	s = getenv("LD_PRELOAD");
	if (s && strstr(s, "vgpreload"))
		return 5;	/* valgrind */
	return 1;
}

/* The fixture; with_dns: the lab's DNS server for the context. */
static void
fx_begin(struct he_test_fx *f, int with_dns)
{
	memset(f, 0, sizeof(*f));
	f->fds0 = he_test_count_fds();
	ck_assert_int_ge(f->fds0, 0);
	f->base = event_base_new();
	ck_assert_ptr_nonnull(f->base);
	if (with_dns) {
		f->dns = he_lab_dns_new(f->base);
		ck_assert_msg(f->dns != NULL, "he_lab_dns_new failed");
		f->dnsb = he_lab_dns_client(f->dns, f->base);
		ck_assert_msg(f->dnsb != NULL, "he_lab_dns_client failed");
	}
	f->he = evhappy_new(f->base, f->dnsb);
	ck_assert_ptr_nonnull(f->he);
	/* Each test starts with no connection history: with CK_FORK=no the
	   process's store would carry one test's black holes into the next. */
	evhappy_clear_history(f->he);
}

void
he_test_fx_begin(struct he_test_fx *f)
{
	fx_begin(f, 0);
}

void
he_test_fx_begin_dns(struct he_test_fx *f)
{
	fx_begin(f, 1);
}

void
he_test_fx_close_listeners(struct he_test_fx *f)
{
	int i;

	for (i = 0; i < f->nat; i++) {
		if (f->at[i].bh)
			he_lab_blackhole_free(f->at[i].bh);
		else
			evutil_closesocket(f->at[i].fd);
	}
	f->nat = 0;
}

/* Listener s at where ("addr" or "addr:port") into f->at: 0, or -1. */
static int
fx_listen_one(struct he_test_fx *f, const struct he_test_listen_spec *s,
    const char *where)
{
	struct he_test_lab_end *e = &f->at[f->nat];

	memset(e, 0, sizeof(*e));
	e->spec = *s;
	e->fd = -1;
	if (s->kind == HE_TEST_HOLE)
		e->bh = he_lab_blackhole_new(where, &e->port);
	else if (s->kind == HE_TEST_ACCEPT)
		e->fd = he_lab_listen(where, &e->port);
	else
		e->fd = he_lab_refuser(where, &e->port);
	if (!e->bh && e->fd < 0)
		return -1;
	f->nat++;
	return 0;
}

void
he_test_fx_listen(struct he_test_fx *f, const struct he_test_listen_spec *s,
    int n)
{
	int attempt, i;

	ck_assert_int_le(f->nat + n, HE_TEST_MAX_LISTENERS);
	for (attempt = 0; attempt < 20; attempt++) {
		int port = 0, ok = 1;

		for (i = 0; i < n && ok; i++) {
			char where[80];

			if (port == 0)
				snprintf(where, sizeof(where), "%s", s[i].addr);
			else if (strchr(s[i].addr, ':'))
				snprintf(where, sizeof(where), "[%s]:%d",
				    s[i].addr, port);
			else
				snprintf(where, sizeof(where), "%s:%d",
				    s[i].addr, port);
			ok = fx_listen_one(f, &s[i], where) == 0;
			if (ok && port == 0)
				port = f->at[f->nat - 1].port;
		}
		if (ok) {
			f->port = port;
			return;
		}
		he_test_fx_close_listeners(f);
	}
	ck_abort_msg("could not make the listeners on one port");
}

int
he_test_fx_accept(struct he_test_fx *f, const char *addr)
{
	struct he_test_listen_spec s;

	s.kind = HE_TEST_ACCEPT;
	s.addr = addr;
	he_test_fx_listen(f, &s, 1);
	return f->port;
}

struct evutil_addrinfo *
he_test_fx_listen_apart(struct he_test_fx *f,
    const struct he_test_listen_spec *s, int n)
{
	struct evutil_addrinfo *l = NULL;
	int i;

	ck_assert_int_le(f->nat + n, HE_TEST_MAX_LISTENERS);
	for (i = 0; i < n; i++) {
		ck_assert_msg(fx_listen_one(f, &s[i], s[i].addr) == 0,
		    "no listener of kind %d at %s", (int)s[i].kind, s[i].addr);
		l = he_test_append(l, he_test_ai(s[i].addr,
		    f->at[f->nat - 1].port));
	}
	return l;
}

void
he_test_fx_free(struct he_test_fx *f)
{
	if (!f->base)
		return;		/* freed already */
	if (f->he)
		evhappy_free(f->he);
	f->he = NULL;
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	if (f->dnsb)
		evdns_base_free(f->dnsb, 1);
	f->dnsb = NULL;
	if (f->dns)
		he_lab_dns_free(f->dns);
	f->dns = NULL;
	he_test_fx_close_listeners(f);
	event_base_free(f->base);
	f->base = NULL;
}

void
he_test_fx_end(struct he_test_fx *f)
{
	he_test_fx_free(f);
	ck_assert_int_eq(he_test_count_fds(), f->fds0);
}

socklen_t
he_test_sockaddr(const char *addr, int port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		return sizeof(*sin);
	}
	if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		return sizeof(*sin6);
	}
	return 0;
}

struct evutil_addrinfo *
he_test_ai(const char *addr, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = he_test_sockaddr(addr, port, &ss);

	if (!len)
		return NULL;
	return evhappy_addrinfo_from_sockaddr((struct sockaddr *)&ss, len);
}

struct evutil_addrinfo *
he_test_append(struct evutil_addrinfo *a, struct evutil_addrinfo *b)
{
	return he_addrinfo_concat_(a, b);
}

evutil_socket_t
he_test_listen(const char *addr, int *port)
{
	evutil_socket_t fd = he_lab_listen(addr, port);

	ck_assert_int_ge(fd, 0);
	return fd;
}

evutil_socket_t
he_test_refuser(const char *addr, int *port)
{
	evutil_socket_t fd = he_lab_refuser(addr, port);

	ck_assert_int_ge(fd, 0);
	return fd;
}

struct he_lab_blackhole *
he_test_blackhole(const char *addr, int *port)
{
	struct he_lab_blackhole *b = he_lab_blackhole_new(addr, port);

	ck_assert_ptr_nonnull(b);
	return b;
}

const char *
he_test_addr_str(const struct sockaddr *sa)
{
	static char buf[INET6_ADDRSTRLEN];
	const void *p = sa->sa_family == AF_INET6 ?
	    (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr :
	    (const void *)&((const struct sockaddr_in *)sa)->sin_addr;

	if (!inet_ntop(sa->sa_family, p, buf, sizeof(buf)))
		return "?";
	return buf;
}

const struct sockaddr *
he_test_sa(const char *addr, int port)
{
	static struct sockaddr_storage ring[8];
	static int next;
	struct sockaddr_storage *ss = &ring[next++ % 8];

	ck_assert_msg(he_test_sockaddr(addr, port, ss) != 0,
	    "not an address literal: %s", addr);
	return (const struct sockaddr *)ss;
}

/* he_test_sa(), asserting that the literal is of that family. */
static const struct sockaddr *
sa_of_family(const char *addr, int port, int family)
{
	const struct sockaddr *sa = he_test_sa(addr, port);

	ck_assert_msg(sa->sa_family == family, "%s: family %d, want %d",
	    addr, sa->sa_family, family);
	return sa;
}

struct sockaddr_in
he_test_sin(const char *addr, int port)
{
	return *(const struct sockaddr_in *)sa_of_family(addr, port, AF_INET);
}

struct sockaddr_in6
he_test_sin6(const char *addr, int port)
{
	return *(const struct sockaddr_in6 *)sa_of_family(addr, port,
	    AF_INET6);
}

TCase *
he_test_tcase(Suite *s, const char *name, int timeout_s)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, timeout_s);
	suite_add_tcase(s, tc);
	return tc;
}

Suite *
he_test_suite_of(const char *name, const struct he_test_def *d, size_t n)
{
	Suite *s = suite_create(name);
	TCase *tc = NULL;
	size_t i;

	for (i = 0; i < n; i++) {
		if (d[i].tcase) {
			tc = tcase_create(d[i].tcase);
			if (d[i].timeout_s)
				tcase_set_timeout(tc, d[i].timeout_s);
			if (d[i].setup || d[i].teardown)
				tcase_add_checked_fixture(tc, d[i].setup,
				    d[i].teardown);
			suite_add_tcase(s, tc);
			continue;
		}
		if (!tc) {
			fprintf(stderr, "%s: a test before any test case\n",
			    name);
			abort();
		}
		if (d[i].loop)
			tcase_add_loop_test(tc, d[i].test, d[i].from, d[i].to);
		else
			tcase_add_test(tc, d[i].test);
	}
	return s;
}

int
he_test_run_suite(Suite *s, enum print_output mode)
{
	SRunner *sr = srunner_create(s);
	int failed;

	/* The process's network watch (one socket, made by the first race
	   that uses the history, and kept for the process's life) is made
	   before any test counts its fds; a forked test's watch takes a
	   socket of its own in place of the inherited one. */
	(void)evhappy_history_network(NULL, NULL, 0);
	srunner_run_all(sr, mode);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

void
he_test_expect_action(struct he_race *r, int kind, int attempt)
{
	struct he_action a;

	ck_assert_msg(he_drive_next(r, &a, NULL, NULL), "no action, expected "
	    "%d", kind);
	ck_assert_msg((int)a.kind == kind, "action %d on %d, expected %d",
	    (int)a.kind, a.attempt, kind);
	if (attempt >= 0)
		ck_assert_int_eq(a.attempt, attempt);
}

void
he_test_expect_none(struct he_race *r)
{
	struct he_action a;

	ck_assert_msg(!he_drive_next(r, &a, NULL, NULL),
	    "unexpected action %d on %d", (int)a.kind, a.attempt);
}

pid_t
he_test_fork(void)
{
	pid_t pid = fork();

	ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
	return pid;
}

void
he_test_child_ok(pid_t pid, const char *what)
{
	int status;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		ck_abort_msg("%s: killed by signal %d", what, WTERMSIG(status));
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "%s: exit %d", what, WEXITSTATUS(status));
}

void
he_test_require(int cond, const char *why)
{
	if (cond)
		return;
	fprintf(stderr, "SKIP: %s\n", why);
	exit(77);
}

void
he_test_histdir(char *dir, size_t len, char *path, size_t plen,
    const char *name)
{
	const char *t = getenv("TMPDIR");

	snprintf(dir, len, "%s/%s.XXXXXX", t && *t ? t : "/tmp", name);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, plen, "%s/history", dir);
}

void
he_test_rm_rf(const char *dir)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

void
he_test_histfile_begin(struct he_test_histfx *h, const char *name)
{
	he_test_histdir(h->dir, sizeof(h->dir), h->path, sizeof(h->path),
	    name);
	he_histfile_test_secure_(0);
	ck_assert_int_eq(evhappy_set_history_file(NULL), 0);
}

void
he_test_histfile_end(struct he_test_histfx *h)
{
	(void)evhappy_set_history_file(NULL);
	he_histfile_test_secure_(-1);
	he_test_rm_rf(h->dir);
}
