/*
 * Bad input: every start function returns -1 or NULL with errno set, and
 * then no callback ever runs and no fd is left behind.  Also the small
 * functions around the API (version, trace kind names, NULL no-ops).
 */
#include "he_event.h"
#include "he_lab.h"
#include "he_testutil.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

/* --- helpers -------------------------------------------------------------- */

static int cb_calls;
static int bev_calls;

static void
conn_cb(evutil_socket_t fd, const struct evhappy_report *r, void *arg)
{
	(void)r; (void)arg;
	cb_calls++;
	if (fd >= 0)
		close(fd);
}

static void
trace_cb(const struct evhappy_trace *ev, void *arg)
{
	(void)ev; (void)arg;
	cb_calls++;
}

static void
bev_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev; (void)what; (void)arg;
	bev_calls++;
}

static void
fx_begin(struct he_test_fx *f)
{
	cb_calls = 0;
	bev_calls = 0;
	he_test_fx_begin(f);
	evhappy_set_trace_cb(f->he, trace_cb, NULL);
}

/* Run the loop 100 ms: nothing may happen. */
static void
fx_quiet(struct he_test_fx *f)
{
	he_test_run_for(f->base, 100);
	ck_assert_int_eq(cb_calls, 0);
	ck_assert_int_eq(bev_calls, 0);
}

static void
fx_end(struct he_test_fx *f)
{
	he_test_fx_end(f);
	ck_assert_int_eq(cb_calls, 0);
	ck_assert_int_eq(bev_calls, 0);
}

static struct bufferevent *
new_bev(struct he_test_fx *f)
{
	struct bufferevent *bev;

	bev = bufferevent_socket_new(f->base, -1, BEV_OPT_CLOSE_ON_FREE);
	ck_assert_ptr_nonnull(bev);
	bufferevent_setcb(bev, NULL, NULL, bev_event_cb, NULL);
	return bev;
}

/* An entry of the given family and socket type, with a zeroed address of
 * that family (AF_UNIX: a path).  Freed with free_raw(). */
static struct evutil_addrinfo *
raw_entry(int family, int socktype, struct evutil_addrinfo *next)
{
	struct evutil_addrinfo *ai = calloc(1, sizeof(*ai));
	struct sockaddr_storage *ss = calloc(1, sizeof(*ss));

	ck_assert_ptr_nonnull(ai);
	ck_assert_ptr_nonnull(ss);
	ss->ss_family = (sa_family_t)family;
	ai->ai_family = family;
	ai->ai_socktype = socktype;
	ai->ai_addr = (struct sockaddr *)ss;
	switch (family) {
	case AF_UNIX: {
		struct sockaddr_un *su = (struct sockaddr_un *)ss;
		strcpy(su->sun_path, "/nonexistent/evhappy.sock");
		ai->ai_addrlen = sizeof(*su);
		break;
	}
	case AF_INET: {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_port = htons(9);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ai->ai_protocol = socktype == SOCK_DGRAM ? IPPROTO_UDP :
		    IPPROTO_TCP;
		ai->ai_addrlen = sizeof(*sin);
		break;
	}
	default:
		ai->ai_addr = NULL;
		free(ss);
		break;
	}
	ai->ai_next = next;
	return ai;
}

static void
free_raw(struct evutil_addrinfo *ai)
{
	while (ai) {
		struct evutil_addrinfo *next = ai->ai_next;
		free(ai->ai_addr);
		free(ai);
		ai = next;
	}
}

/* --- the context ------------------------------------------------------------ */

START_TEST(test_new_null_base)
{
	int fds0 = he_test_count_fds();

	EXPECT_NULL(evhappy_new(NULL, NULL), EINVAL);
	ck_assert_int_eq(he_test_count_fds(), fds0);
}
END_TEST

START_TEST(test_null_noops)
{
	int fds0 = he_test_count_fds();

	evhappy_request_cancel(NULL);
	evhappy_free(NULL);
	ck_assert_int_eq(he_test_count_fds(), fds0);
}
END_TEST

START_TEST(test_version)
{
	int fds0 = he_test_count_fds();
	const char *v = evhappy_get_version();
	char want[32];

	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v, EVHAPPY_VERSION_STRING);
	snprintf(want, sizeof(want), "%d.%d.%d", EVHAPPY_VERSION_MAJOR,
	    EVHAPPY_VERSION_MINOR, EVHAPPY_VERSION_PATCH);
	ck_assert_str_eq(v, want);
	ck_assert_int_eq(he_test_count_fds(), fds0);
}
END_TEST

/* EVHAPPY_VERSION_NUMBER is 0xMMmmpp00 and agrees with the other macros
   and with what the running library says, as a string and as a number. */
START_TEST(test_version_number)
{
	unsigned major, minor, patch;
	char tail;

	ck_assert_uint_eq(EVHAPPY_VERSION_NUMBER,
	    ((unsigned long)EVHAPPY_VERSION_MAJOR << 24) |
	    ((unsigned long)EVHAPPY_VERSION_MINOR << 16) |
	    ((unsigned long)EVHAPPY_VERSION_PATCH << 8));
	ck_assert_uint_eq(EVHAPPY_VERSION_NUMBER & 0xff, 0);
	ck_assert_uint_eq(evhappy_get_version_number(), EVHAPPY_VERSION_NUMBER);
	ck_assert_int_eq(sscanf(evhappy_get_version(), "%u.%u.%u%c",
	    &major, &minor, &patch, &tail), 3);
	ck_assert_uint_le(major, 255);
	ck_assert_uint_le(minor, 255);
	ck_assert_uint_le(patch, 255);
	ck_assert_uint_eq(evhappy_get_version_number(),
	    (major << 24) | (minor << 16) | (patch << 8));
#if EVHAPPY_VERSION_NUMBER < 0x00020000
	ck_abort_msg("EVHAPPY_VERSION_NUMBER is not usable in #if");
#endif
}
END_TEST

START_TEST(test_trace_kind_names)
{
	static const enum evhappy_trace_kind kinds[] = {
		EVHAPPY_TRACE_DNS_QUERY, EVHAPPY_TRACE_DNS_ANSWER,
		EVHAPPY_TRACE_ATTEMPT_START, EVHAPPY_TRACE_ATTEMPT_FAILED,
		EVHAPPY_TRACE_ATTEMPT_WON, EVHAPPY_TRACE_ATTEMPT_CANCELLED,
		EVHAPPY_TRACE_DONE, EVHAPPY_TRACE_HISTORY,
		EVHAPPY_TRACE_HTTPS_QUERY, EVHAPPY_TRACE_HTTPS_ANSWER,
		EVHAPPY_TRACE_ENDPOINT, EVHAPPY_TRACE_ENDPOINT_SKIPPED,
		EVHAPPY_TRACE_NETWORK, EVHAPPY_TRACE_NAT64_PREFIX,
		EVHAPPY_TRACE_NAT64_SYNTH
	};
	const size_t n = sizeof(kinds) / sizeof(kinds[0]);
	size_t i, j;
	int fds0 = he_test_count_fds();

	for (i = 0; i < n; i++) {
		const char *a = evhappy_trace_kind_name(kinds[i]);
		ck_assert_ptr_nonnull(a);
		ck_assert_int_gt((int)strlen(a), 0);
		ck_assert_str_ne(a, "unknown");
		for (j = 0; j < i; j++)
			ck_assert_str_ne(a, evhappy_trace_kind_name(kinds[j]));
	}
	ck_assert_str_eq(evhappy_trace_kind_name(
	    (enum evhappy_trace_kind)(EVHAPPY_TRACE_NAT64_SYNTH + 1)),
	    "unknown");
	ck_assert_str_eq(evhappy_trace_kind_name((enum evhappy_trace_kind)99),
	    "unknown");
	ck_assert_str_eq(evhappy_trace_kind_name((enum evhappy_trace_kind)-1),
	    "unknown");
	ck_assert_int_eq(he_test_count_fds(), fds0);
}
END_TEST

/* --- the bufferevent front end ------------------------------------------------ */

START_TEST(test_connect_hostname_bad_args)
{
	struct he_test_fx f;
	struct bufferevent *bev;

	fx_begin(&f);
	bev = new_bev(&f);

	EXPECT_FAIL(evhappy_connect_hostname(f.he, bev, AF_UNIX, "localhost",
	    80), EINVAL);
	EXPECT_FAIL(evhappy_connect_hostname(f.he, bev, 12345, "127.0.0.1",
	    80), EINVAL);
	EXPECT_FAIL(evhappy_connect_hostname(f.he, bev, AF_UNSPEC, "127.0.0.1",
	    0), EINVAL);
	EXPECT_FAIL(evhappy_connect_hostname(f.he, bev, AF_UNSPEC, "127.0.0.1",
	    65536), EINVAL);
	EXPECT_FAIL(evhappy_connect_hostname(f.he, bev, AF_UNSPEC, "127.0.0.1",
	    -1), EINVAL);
	EXPECT_FAIL(evhappy_connect_hostname(f.he, bev, AF_INET, NULL, 80),
	    EINVAL);
	EXPECT_FAIL(evhappy_connect_hostname(f.he, NULL, AF_INET, "127.0.0.1",
	    80), EINVAL);
	EXPECT_FAIL(evhappy_connect_hostname(NULL, bev, AF_INET, "127.0.0.1",
	    80), EINVAL);

	EXPECT_FAIL(evhappy_socket_connect_hostname(bev, NULL, AF_UNIX,
	    "localhost", 80), EINVAL);
	EXPECT_FAIL(evhappy_socket_connect_hostname(bev, NULL, AF_UNSPEC,
	    "127.0.0.1", 0), EINVAL);
	EXPECT_FAIL(evhappy_socket_connect_hostname(bev, NULL, AF_UNSPEC,
	    "127.0.0.1", 65536), EINVAL);
	EXPECT_FAIL(evhappy_socket_connect_hostname(bev, NULL, AF_INET6, NULL,
	    80), EINVAL);
	EXPECT_FAIL(evhappy_socket_connect_hostname(NULL, NULL, AF_INET,
	    "127.0.0.1", 80), EINVAL);

	/* nothing was started on bev */
	ck_assert_int_eq(bufferevent_getfd(bev), -1);
	ck_assert_int_eq(evhappy_get_dns_error(bev), 0);
	ck_assert_int_eq(evhappy_socket_get_dns_error(bev), 0);
	fx_quiet(&f);
	bufferevent_free(bev);
	fx_end(&f);
}
END_TEST

START_TEST(test_connect_addrinfo_bad_lists)
{
	struct he_test_fx f;
	struct bufferevent *bev;
	struct evutil_addrinfo *unix_only, *empty, *dgram_only, *good;

	fx_begin(&f);
	bev = new_bev(&f);
	unix_only = raw_entry(AF_UNIX, SOCK_STREAM,
	    raw_entry(AF_UNIX, SOCK_STREAM, NULL));
	empty = raw_entry(AF_UNSPEC, 0, NULL);	/* an entry with no address */
	dgram_only = raw_entry(AF_INET, SOCK_DGRAM, NULL);
	good = he_test_ai("127.0.0.1", 9);
	ck_assert_ptr_nonnull(good);

	EXPECT_FAIL(evhappy_connect_addrinfo(f.he, bev, NULL), EINVAL);
	EXPECT_FAIL(evhappy_connect_addrinfo(f.he, bev, empty), EINVAL);
	EXPECT_FAIL(evhappy_connect_addrinfo(f.he, bev, unix_only), EINVAL);
	EXPECT_FAIL(evhappy_connect_addrinfo(f.he, bev, dgram_only), EINVAL);
	EXPECT_FAIL(evhappy_connect_addrinfo(f.he, NULL, good), EINVAL);
	EXPECT_FAIL(evhappy_connect_addrinfo(NULL, bev, good), EINVAL);
	ck_assert_int_eq(bufferevent_getfd(bev), -1);

	EXPECT_NULL(evhappy_start_connection(f.he, NULL, conn_cb, NULL),
	    EINVAL);
	EXPECT_NULL(evhappy_start_connection(f.he, empty, conn_cb, NULL),
	    EINVAL);
	EXPECT_NULL(evhappy_start_connection(f.he, unix_only, conn_cb, NULL),
	    EINVAL);
	EXPECT_NULL(evhappy_start_connection(f.he, dgram_only, conn_cb, NULL),
	    EINVAL);
	EXPECT_NULL(evhappy_start_connection(NULL, good, conn_cb, NULL),
	    EINVAL);
	EXPECT_NULL(evhappy_start_connection(f.he, good, NULL, NULL), EINVAL);

	fx_quiet(&f);
	free_raw(unix_only);
	free_raw(empty);
	free_raw(dgram_only);
	evhappy_addrinfo_free(good);
	bufferevent_free(bev);
	fx_end(&f);
}
END_TEST

/* A bufferevent_pair is not a kind the race can connect. */
START_TEST(test_unsupported_bev_kind)
{
	struct he_test_fx f;
	struct bufferevent *pair[2];
	struct evutil_addrinfo *good;

	fx_begin(&f);
	ck_assert_int_eq(bufferevent_pair_new(f.base, BEV_OPT_CLOSE_ON_FREE,
	    pair), 0);
	bufferevent_setcb(pair[0], NULL, NULL, bev_event_cb, NULL);
	bufferevent_setcb(pair[1], NULL, NULL, bev_event_cb, NULL);
	good = he_test_ai("127.0.0.1", 9);
	ck_assert_ptr_nonnull(good);

	EXPECT_FAIL(evhappy_connect_addrinfo(f.he, pair[0], good), EINVAL);
	EXPECT_FAIL(evhappy_connect_hostname(f.he, pair[0], AF_UNSPEC,
	    "127.0.0.1", 9), EINVAL);
	EXPECT_FAIL(evhappy_socket_connect_hostname(pair[1], NULL, AF_UNSPEC,
	    "127.0.0.1", 9), EINVAL);

	fx_quiet(&f);
	evhappy_addrinfo_free(good);
	bufferevent_free(pair[0]);
	bufferevent_free(pair[1]);
	fx_end(&f);
}
END_TEST

/* A socket bufferevent that already has a socket. */
START_TEST(test_bev_already_has_fd)
{
	struct he_test_fx f;
	struct bufferevent *bev;
	struct evutil_addrinfo *good;
	evutil_socket_t s;

	fx_begin(&f);
	s = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(s, 0);
	evutil_make_socket_nonblocking(s);
	bev = bufferevent_socket_new(f.base, s, BEV_OPT_CLOSE_ON_FREE);
	ck_assert_ptr_nonnull(bev);
	bufferevent_setcb(bev, NULL, NULL, bev_event_cb, NULL);
	good = he_test_ai("127.0.0.1", 9);
	ck_assert_ptr_nonnull(good);

	EXPECT_FAIL(evhappy_connect_addrinfo(f.he, bev, good), EISCONN);
	EXPECT_FAIL(evhappy_connect_hostname(f.he, bev, AF_UNSPEC,
	    "127.0.0.1", 9), EISCONN);
	EXPECT_FAIL(evhappy_socket_connect_hostname(bev, NULL, AF_UNSPEC,
	    "127.0.0.1", 9), EISCONN);
	ck_assert_int_eq(bufferevent_getfd(bev), s);	/* left alone */

	fx_quiet(&f);
	evhappy_addrinfo_free(good);
	bufferevent_free(bev);	/* closes s */
	fx_end(&f);
}
END_TEST

/* A second connect while a race on the same bufferevent runs would hand it
 * two sockets: refused with EALREADY, and the running race goes on.  Once
 * it has ended, the bufferevent takes a new connect. */
START_TEST(test_bev_already_racing)
{
	struct he_test_fx f;
	struct bufferevent *bev;
	struct he_lab_blackhole *bh;
	struct evutil_addrinfo *hole;
	struct timeval tv;
	int port;

	fx_begin(&f);
	evhappy_set_trace_cb(f.he, NULL, NULL);	/* this race does run */
	bh = he_test_blackhole("127.0.0.1", &port);
	hole = he_test_ai("127.0.0.1", port);
	ck_assert_ptr_nonnull(hole);
	he_test_tv(&tv, 200);
	ck_assert_int_eq(evhappy_set_timeout(f.he, &tv), 0);
	bev = new_bev(&f);
	ck_assert_int_eq(evhappy_connect_addrinfo(f.he, bev, hole), 0);

	EXPECT_FAIL(evhappy_connect_addrinfo(f.he, bev, hole), EALREADY);
	EXPECT_FAIL(evhappy_connect_hostname(f.he, bev, AF_UNSPEC,
	    "127.0.0.1", port), EALREADY);
	EXPECT_FAIL(evhappy_socket_connect_hostname(bev, NULL, AF_UNSPEC,
	    "127.0.0.1", port), EALREADY);
	he_test_run_until(f.base, 1000, &bev_calls);
	ck_assert_int_eq(bev_calls, 1);		/* the first race's ETIMEDOUT */

	ck_assert_int_eq(evhappy_connect_addrinfo(f.he, bev, hole), 0);
	bufferevent_free(bev);
	bev_calls = 0;
	he_lab_blackhole_free(bh);
	evhappy_addrinfo_free(hole);
	fx_end(&f);
}
END_TEST

/* A race started on a context that is being freed (evhappy_free from inside
 * its own callback) is refused: nothing would ever answer it. */
struct dying {
	struct evhappy *he;
	struct bufferevent *bev;
	const struct evutil_addrinfo *l;
	int rc_addrinfo, errno_addrinfo;
	int rc_hostname, errno_hostname;
	int req_null, errno_req;
	int called;
};

static void
dying_cb(evutil_socket_t fd, const struct evhappy_report *r, void *arg)
{
	struct dying *d = arg;

	he_lab_close_cb(fd, r, &d->called);
	evhappy_free(d->he);
	errno = 0;
	d->rc_addrinfo = evhappy_connect_addrinfo(d->he, d->bev, d->l);
	d->errno_addrinfo = errno;
	errno = 0;
	d->rc_hostname = evhappy_connect_hostname(d->he, d->bev, AF_INET,
	    "127.0.0.1", 9);
	d->errno_hostname = errno;
	errno = 0;
	d->req_null = evhappy_start_connection(d->he, d->l, conn_cb, NULL) ==
	    NULL;
	d->errno_req = errno;
}

START_TEST(test_bev_race_on_dying_context)
{
	struct he_test_fx f;
	struct dying d;
	evutil_socket_t rfd;
	int rport = 0;
	struct evutil_addrinfo *l;

	fx_begin(&f);
	evhappy_set_trace_cb(f.he, NULL, NULL);
	rfd = he_test_refuser("127.0.0.1", &rport);
	l = he_test_ai("127.0.0.1", rport);
	memset(&d, 0, sizeof(d));
	d.he = f.he;
	d.l = l;
	d.bev = new_bev(&f);
	ck_assert_ptr_nonnull(evhappy_start_connection(f.he, l, dying_cb, &d));
	he_test_run_until(f.base, HE_TEST_UP(1000), &d.called);
	ck_assert_int_eq(d.called, 1);
	f.he = NULL;	/* freed in the callback */
	ck_assert_int_eq(d.rc_addrinfo, -1);
	ck_assert_int_eq(d.errno_addrinfo, EINVAL);
	ck_assert_int_eq(d.rc_hostname, -1);
	ck_assert_int_eq(d.errno_hostname, EINVAL);
	ck_assert_int_eq(d.req_null, 1);
	ck_assert_int_eq(d.errno_req, EINVAL);
	ck_assert_int_eq(bufferevent_getfd(d.bev), -1);
	fx_quiet(&f);
	bufferevent_free(d.bev);
	evhappy_addrinfo_free(l);
	close(rfd);
	fx_end(&f);
}
END_TEST

static enum bufferevent_filter_result
pass_filter(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t lim,
    enum bufferevent_flush_mode mode, void *arg)
{
	(void)lim; (void)mode; (void)arg;
	evbuffer_add_buffer(dst, src);
	return BEV_OK;
}

/* "Is this bufferevent racing" is a property of the socket bufferevent at
 * the bottom: a race on a filter and one on the bufferevent under it (or on
 * a second filter over it) would hand that bufferevent two sockets. */
START_TEST(test_bev_filter_racing)
{
	struct he_test_fx f;
	struct bufferevent *bottom, *filt, *filt2;
	struct he_lab_blackhole *bh;
	struct evutil_addrinfo *hole;
	int port = 0, fds_mid, i;

	fx_begin(&f);
	evhappy_set_trace_cb(f.he, NULL, NULL);
	bh = he_test_blackhole("127.0.0.1", &port);
	hole = he_test_ai("127.0.0.1", port);
	fds_mid = he_test_count_fds();
	for (i = 0; i < 2; i++) {
		bottom = new_bev(&f);
		filt = bufferevent_filter_new(bottom, pass_filter, pass_filter,
		    0, NULL, NULL);
		filt2 = bufferevent_filter_new(bottom, pass_filter, pass_filter,
		    0, NULL, NULL);
		ck_assert_ptr_nonnull(filt);
		ck_assert_ptr_nonnull(filt2);
		bufferevent_setcb(filt, NULL, NULL, bev_event_cb, NULL);
		bufferevent_setcb(filt2, NULL, NULL, bev_event_cb, NULL);
		if (i == 0) {	/* the filter first, then the bottom */
			ck_assert_int_eq(evhappy_connect_addrinfo(f.he, filt,
			    hole), 0);
			EXPECT_FAIL(evhappy_connect_addrinfo(f.he, bottom,
			    hole), EALREADY);
			EXPECT_FAIL(evhappy_socket_connect_hostname(bottom,
			    NULL, AF_INET, "127.0.0.1", port), EALREADY);
		} else {	/* the bottom first, then a filter */
			ck_assert_int_eq(evhappy_connect_addrinfo(f.he, bottom,
			    hole), 0);
			EXPECT_FAIL(evhappy_connect_addrinfo(f.he, filt,
			    hole), EALREADY);
		}
		EXPECT_FAIL(evhappy_connect_hostname(f.he, filt2, AF_INET,
		    "127.0.0.1", port), EALREADY);
		he_test_run_for(f.base, 50);
		ck_assert_int_eq(bev_calls, 0);
		ck_assert_int_eq(he_test_count_fds(), fds_mid + 1);
		bufferevent_free(filt2);
		bufferevent_free(filt);
		bufferevent_free(bottom);
		he_test_run_for(f.base, 50);
		ck_assert_int_eq(he_test_count_fds(), fds_mid);
	}
	ck_assert_int_eq(bev_calls, 0);
	he_lab_blackhole_free(bh);
	evhappy_addrinfo_free(hole);
	fx_end(&f);
}
END_TEST

/* The winner would be handed to a bufferevent whose events run on another
 * loop than the race's. */
START_TEST(test_bev_other_base)
{
	struct he_test_fx f;
	struct event_base *other;
	struct bufferevent *bev;
	struct evutil_addrinfo *good;

	fx_begin(&f);
	other = event_base_new();
	ck_assert_ptr_nonnull(other);
	bev = bufferevent_socket_new(other, -1, BEV_OPT_CLOSE_ON_FREE);
	ck_assert_ptr_nonnull(bev);
	bufferevent_setcb(bev, NULL, NULL, bev_event_cb, NULL);
	good = he_test_ai("127.0.0.1", 9);
	EXPECT_FAIL(evhappy_connect_addrinfo(f.he, bev, good), EINVAL);
	EXPECT_FAIL(evhappy_connect_hostname(f.he, bev, AF_INET, "127.0.0.1",
	    9), EINVAL);
	fx_quiet(&f);
	he_test_run_for(other, 50);
	bufferevent_free(bev);
	event_base_free(other);
	evhappy_addrinfo_free(good);
	fx_end(&f);
}
END_TEST

/* --- the socket front end ----------------------------------------------------- */

START_TEST(test_resolve_and_connect_bad_args)
{
	struct he_test_fx f;

	fx_begin(&f);
	EXPECT_NULL(evhappy_resolve_and_connect(f.he, AF_UNIX, "localhost", 80,
	    conn_cb, NULL), EINVAL);
	EXPECT_NULL(evhappy_resolve_and_connect(f.he, -1, "localhost", 80,
	    conn_cb, NULL), EINVAL);
	EXPECT_NULL(evhappy_resolve_and_connect(f.he, AF_UNSPEC, "127.0.0.1",
	    0, conn_cb, NULL), EINVAL);
	EXPECT_NULL(evhappy_resolve_and_connect(f.he, AF_UNSPEC, "127.0.0.1",
	    65536, conn_cb, NULL), EINVAL);
	EXPECT_NULL(evhappy_resolve_and_connect(f.he, AF_INET, NULL, 80,
	    conn_cb, NULL), EINVAL);
	EXPECT_NULL(evhappy_resolve_and_connect(f.he, AF_INET, "127.0.0.1",
	    80, NULL, NULL), EINVAL);
	EXPECT_NULL(evhappy_resolve_and_connect(NULL, AF_INET, "127.0.0.1",
	    80, conn_cb, NULL), EINVAL);
	fx_quiet(&f);
	fx_end(&f);
}
END_TEST

/* Bad calls leave a context fully usable. */
START_TEST(test_context_usable_after_bad_calls)
{
	struct he_test_fx f;
	struct bufferevent *bev;
	struct evhappy_request *req;
	struct evutil_addrinfo *good;

	fx_begin(&f);
	bev = new_bev(&f);
	EXPECT_FAIL(evhappy_connect_addrinfo(f.he, bev, NULL), EINVAL);
	EXPECT_FAIL(evhappy_connect_hostname(f.he, bev, AF_UNSPEC, "x", 0),
	    EINVAL);

	/* a real (well-formed) race, cancelled at once: still no callback */
	good = he_test_ai("127.0.0.1", 9);
	ck_assert_ptr_nonnull(good);
	req = evhappy_start_connection(f.he, good, conn_cb, NULL);
	ck_assert_ptr_nonnull(req);
	evhappy_request_cancel(req);
	evhappy_request_cancel(req);	/* again, before the loop runs */
	evhappy_addrinfo_free(good);

	fx_quiet(&f);
	bufferevent_free(bev);
	fx_end(&f);
}
END_TEST

Suite *
he_test_suite(void)
{
	const struct he_test_def tests[] = {
		HE_TCASE("basics", 0),
		HE_TEST(test_new_null_base),
		HE_TEST(test_null_noops),
		HE_TEST(test_version),
		HE_TEST(test_version_number),
		HE_TEST(test_trace_kind_names),

		HE_TCASE("bad_input", 10),
		HE_TEST(test_connect_hostname_bad_args),
		HE_TEST(test_connect_addrinfo_bad_lists),
		HE_TEST(test_unsupported_bev_kind),
		HE_TEST(test_bev_already_has_fd),
		HE_TEST(test_bev_already_racing),
		HE_TEST(test_bev_race_on_dying_context),
		HE_TEST(test_bev_filter_racing),
		HE_TEST(test_bev_other_base),
		HE_TEST(test_resolve_and_connect_bad_args),
		HE_TEST(test_context_usable_after_bad_calls),
	};

	return he_test_suite_of("api", tests, HE_TEST_N(tests));
}
