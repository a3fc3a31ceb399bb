/*
 * Recorders shared by the Check tests (he_testrec.h).
 */
#include "he_testrec.h"
#include "he_testutil.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int he_test_in_call;

int
he_test_port_of(const struct sockaddr *sa)
{
	char buf[128];
	const char *colon;

	if (evhappy_sockaddr_format(sa, buf, sizeof(buf)) < 0 ||
	    !(colon = strrchr(buf, ':')))
		return -1;
	return atoi(colon + 1);
}

int
he_test_fd_addr(evutil_socket_t fd, int peer, struct sockaddr_storage *ss)
{
	socklen_t len = sizeof(*ss);

	memset(ss, 0, sizeof(*ss));
	return peer ? getpeername(fd, (struct sockaddr *)ss, &len) :
	    getsockname(fd, (struct sockaddr *)ss, &len);
}

int
he_test_fd_port(evutil_socket_t fd, int peer)
{
	struct sockaddr_storage ss;

	if (he_test_fd_addr(fd, peer, &ss) != 0)
		return -1;
	return he_test_port_of((struct sockaddr *)&ss);
}

/* The peer of a connected socket into family and buf. */
static void
peer_of(evutil_socket_t fd, int *family, char *buf, size_t len)
{
	struct sockaddr_storage ss;

	if (fd < 0 || he_test_fd_addr(fd, 1, &ss) != 0)
		return;
	*family = ss.ss_family;
	snprintf(buf, len, "%s", he_test_addr_str((struct sockaddr *)&ss));
}

/* ---- the connect callback ------------------------------------------------ */

void
he_test_res_init(struct he_test_res *x)
{
	memset(x, 0, sizeof(*x));
	x->fd = -2;
}

/* The report's attempts, and its answers to indexes out of range. */
static void
record_attempts(struct he_test_res *x, const struct evhappy_report *r)
{
	int i;

	for (i = 0; i < x->natt && i < HE_TEST_MAXATT; i++) {
		x->aerr[i] = -12345;
		x->att_rc[i] = evhappy_report_attempt(r, i, &x->addr[i],
		    &x->aerr[i], &x->started[i], &x->ended[i]);
	}
	x->null_out_rc = x->natt > 0 ?
	    evhappy_report_attempt(r, 0, NULL, NULL, NULL, NULL) : 0;
	errno = 0;
	x->oob_rc = evhappy_report_attempt(r, x->natt, NULL, NULL, NULL, NULL);
	x->oob_errno = errno;
	errno = 0;
	x->neg_rc = evhappy_report_attempt(r, -1, NULL, NULL, NULL, NULL);
	x->neg_errno = errno;
}

/* The report line, into buffers of every kind of size. */
static void
record_format(struct he_test_res *x, const struct evhappy_report *r)
{
	memset(x->fmt, 'X', sizeof(x->fmt));
	x->fmt_len = evhappy_report_format(r, x->fmt, sizeof(x->fmt));
	x->fmt_null_len = evhappy_report_format(r, NULL, 0);
	memset(x->fmt_small, 'X', sizeof(x->fmt_small));
	x->fmt_small_len = evhappy_report_format(r, x->fmt_small,
	    sizeof(x->fmt_small));
	x->fmt_zero = 'Z';
	x->fmt_zero_len = evhappy_report_format(r, &x->fmt_zero, 0);
}

void
he_test_conn_cb(evutil_socket_t fd, const struct evhappy_report *r,
    void *arg)
{
	struct he_test_res *x = arg;

	x->calls++;
	if (he_test_in_call)
		x->inside++;
	x->t = he_test_now_ms();
	x->ms = x->t - x->t0;
	x->fd = fd;
	x->error = evhappy_report_error(r);
	x->dns_error = evhappy_report_dns_error(r);
	x->natt = evhappy_report_attempt_count(r);
	record_attempts(x, r);
	record_format(x, r);
	peer_of(fd, &x->peer_family, x->peer, sizeof(x->peer));
	if (x->counter)
		(*x->counter)++;
	if (fd >= 0 && x->close_fd)
		evutil_closesocket(fd);
	if (x->free_he && *x->free_he) {
		evhappy_free(*x->free_he);
		*x->free_he = NULL;
	}
}

struct evhappy_request *
he_test_start(struct evhappy *he, const struct evutil_addrinfo *l,
    struct he_test_res *x)
{
	struct evhappy_request *req;

	x->t0 = he_test_now_ms();
	he_test_in_call = 1;
	req = evhappy_start_connection(he, l, he_test_conn_cb, x);
	he_test_in_call = 0;
	ck_assert_msg(req != NULL, "evhappy_start_connection: %s",
	    strerror(errno));
	ck_assert_int_eq(x->calls, 0);
	return req;
}

struct evhappy_request *
he_test_resolve(struct evhappy *he, int family, const char *host, int port,
    struct he_test_res *x)
{
	struct evhappy_request *req;

	he_test_res_init(x);
	x->t0 = he_test_now_ms();
	he_test_in_call = 1;
	req = evhappy_resolve_and_connect(he, family, host, port,
	    he_test_conn_cb, x);
	he_test_in_call = 0;
	ck_assert_msg(req != NULL, "evhappy_resolve_and_connect %s: %s", host,
	    strerror(errno));
	ck_assert_msg(x->calls == 0, "called back from the start call");
	return req;
}

void
he_test_check_report(const struct he_test_res *x)
{
	int i;

	ck_assert_int_eq(x->calls, 1);
	ck_assert_int_eq(x->inside, 0);
	ck_assert_int_ge(x->natt, 0);
	ck_assert_int_le(x->natt, HE_TEST_MAXATT);
	for (i = 0; i < x->natt; i++) {
		ck_assert_int_eq(x->att_rc[i], 0);
		ck_assert(x->addr[i].ss_family == AF_INET ||
		    x->addr[i].ss_family == AF_INET6);
		ck_assert_int_ge(he_test_us_of(&x->ended[i]), he_test_us_of(&x->started[i]));
		if (i > 0)	/* attempts are listed in the order they started */
			ck_assert_int_ge(he_test_us_of(&x->started[i]),
			    he_test_us_of(&x->started[i - 1]));
	}
	if (x->natt > 0)
		ck_assert_int_eq(x->null_out_rc, 0);
	ck_assert_int_eq(x->oob_rc, -1);
	ck_assert_int_eq(x->oob_errno, EINVAL);
	ck_assert_int_eq(x->neg_rc, -1);
	ck_assert_int_eq(x->neg_errno, EINVAL);

	/* snprintf's convention */
	ck_assert_int_gt(x->fmt_len, 0);
	ck_assert_int_lt(x->fmt_len, (int)sizeof(x->fmt));
	ck_assert_int_eq((int)strlen(x->fmt), x->fmt_len);
	ck_assert_ptr_null(strchr(x->fmt, '\n'));
	ck_assert_int_eq(x->fmt_null_len, x->fmt_len);
	ck_assert_int_eq(x->fmt_small_len, x->fmt_len);
	ck_assert_int_eq(x->fmt_small[sizeof(x->fmt_small) - 1], '\0');
	if (x->fmt_len >= (int)sizeof(x->fmt_small))
		ck_assert(memcmp(x->fmt_small, x->fmt,
		    sizeof(x->fmt_small) - 1) == 0);
	else
		ck_assert_str_eq(x->fmt_small, x->fmt);
	ck_assert_int_eq(x->fmt_zero_len, x->fmt_len);
	ck_assert_int_eq(x->fmt_zero, 'Z');
}

void
he_test_check_failed(const struct he_test_res *x, int err, int dns)
{
	he_test_check_report(x);
	ck_assert_int_eq(x->fd, -1);
	ck_assert_msg(x->error == err, "error %d (%s), want %d (%s): %s",
	    x->error, strerror(x->error), err, strerror(err), x->fmt);
	ck_assert_int_eq(x->dns_error, dns);
}

const char *
he_test_att_addr(const struct he_test_res *x, int i)
{
	return he_test_addr_str((const struct sockaddr *)&x->addr[i]);
}

void
he_test_check_attempt(const struct he_test_res *x, int i, const char *addr,
    int port, int error)
{
	ck_assert_int_lt(i, x->natt);
	ck_assert_str_eq(he_test_att_addr(x, i), addr);
	ck_assert_int_eq(he_test_port_of((const struct sockaddr *)&x->addr[i]), port);
	ck_assert_msg(x->aerr[i] == error, "attempt %d: error %d (%s), want %d "
	    "(%s)", i, x->aerr[i], strerror(x->aerr[i]), error,
	    strerror(error));
}

/* ---- a bufferevent's event callback -------------------------------------- */

void
he_test_bres_init(struct he_test_bres *b)
{
	memset(b, 0, sizeof(*b));
}

void
he_test_bev_cb(struct bufferevent *bev, short what, void *arg)
{
	struct he_test_bres *b = arg;
	int err = EVUTIL_SOCKET_ERROR();

	b->calls++;
	if (he_test_in_call)
		b->inside++;
	b->what = what;
	b->err = err;
	b->t = he_test_now_ms();
	b->ms = b->t - b->t0;
	b->fd = bufferevent_getfd(bev);
	b->dns = b->dns_getter ? b->dns_getter(bev) :
	    evhappy_get_dns_error(bev);
	if (what & BEV_EVENT_CONNECTED)
		peer_of(b->fd, &b->peer_family, b->peer, sizeof(b->peer));
}

struct bufferevent *
he_test_bev_new(struct event_base *base, struct he_test_bres *b)
{
	struct bufferevent *bev;

	bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	ck_assert_ptr_nonnull(bev);
	he_test_bres_init(b);
	bufferevent_setcb(bev, NULL, NULL, he_test_bev_cb, b);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	return bev;
}

void
he_test_bev_connect(struct evhappy *he, struct bufferevent *bev,
    const struct evutil_addrinfo *l, struct he_test_bres *b)
{
	int rc;

	b->t0 = he_test_now_ms();
	he_test_in_call = 1;
	rc = evhappy_connect_addrinfo(he, bev, l);
	he_test_in_call = 0;
	ck_assert_msg(rc == 0, "evhappy_connect_addrinfo: %s", strerror(errno));
	ck_assert_int_eq(b->calls, 0);
}

void
he_test_check_bev_error(const struct he_test_bres *b, int err, int dns)
{
	ck_assert_int_eq(b->calls, 1);
	ck_assert_int_eq(b->inside, 0);
	ck_assert_msg((b->what & BEV_EVENT_ERROR) &&
	    !(b->what & BEV_EVENT_CONNECTED), "event 0x%x", b->what);
	ck_assert_msg(b->err == err, "socket error %d (%s), want %d (%s)",
	    b->err, strerror(b->err), err, strerror(err));
	ck_assert_int_eq(b->dns, dns);
}

/* ---- the trace callback -------------------------------------------------- */

static void
record_event(struct he_test_trace_ev *e, const struct evhappy_trace *ev)
{
	e->kind = ev->kind;
	e->family = ev->family;
	e->error = ev->error;
	e->naddrs = ev->naddrs;
	e->us = he_test_us_of(&ev->elapsed);
	e->has_addr = ev->addr != NULL;
	e->port = ev->addr ? he_test_port_of(ev->addr) : -1;
	if (ev->addr)
		snprintf(e->addr, sizeof(e->addr), "%s",
		    he_test_addr_str(ev->addr));
	e->history = ev->history;
	e->moved = ev->moved;
	if (ev->after)
		snprintf(e->after, sizeof(e->after), "%s",
		    he_test_addr_str(ev->after));
}

/* The actions of the first ATTEMPT_START. */
static void
first_start_actions(struct he_test_tres *t)
{
	if (t->sleep_on_first_start_ms)
		he_test_sleep_ms(t->sleep_on_first_start_ms);
	if (t->cancel_on_start) {
		if (!t->req || !*t->req) {
			t->req_was_null++;
		} else {
			evhappy_request_cancel(*t->req);
			evhappy_request_cancel(*t->req);	/* twice is safe */
		}
	}
	if (t->free_on_start && t->he && *t->he) {
		evhappy_free(*t->he);
		*t->he = NULL;
	}
}

void
he_test_trace_cb(const struct evhappy_trace *ev, void *arg)
{
	struct he_test_tres *t = arg;

	if (he_test_in_call)
		t->inside++;
	if (t->n < HE_TEST_MAXTR)
		record_event(&t->ev[t->n++], ev);
	if (ev->kind == EVHAPPY_TRACE_ATTEMPT_START && ++t->starts == 1)
		first_start_actions(t);
}

void
he_test_trace_on(struct evhappy *he, struct he_test_tres *t)
{
	memset(t, 0, sizeof(*t));
	evhappy_set_trace_cb(he, he_test_trace_cb, t);
}

int
he_test_trace_count(const struct he_test_tres *t,
    enum evhappy_trace_kind kind, int family)
{
	int i, n = 0;

	for (i = 0; i < t->n; i++)
		n += t->ev[i].kind == kind &&
		    (family < 0 || t->ev[i].family == family);
	return n;
}

int
he_test_trace_find(const struct he_test_tres *t,
    enum evhappy_trace_kind kind, int family)
{
	int i;

	for (i = 0; i < t->n; i++)
		if (t->ev[i].kind == kind &&
		    (family < 0 || t->ev[i].family == family))
			return i;
	return -1;
}

void
he_test_query_cb(enum he_nat64_query_result result,
    const struct he_nat64_prefix *p, int n, int64_t lifetime, void *arg)
{
	struct he_test_qres *q = arg;

	q->calls++;
	q->result = result;
	q->n = n;
	if (n > 0)
		memcpy(q->p, p, (size_t)n * sizeof(*p));
	q->lifetime = lifetime;
}
