/*
 * Resolution as RFC 8305 section 3 asks: one query per family, each answer
 * handed to the race as soon as it arrives.  With an evdns_base: two
 * single-family evdns_getaddrinfo() calls (AF_UNSPEC would put IPv4 first
 * and wait for the slower family).  Without one: getaddrinfo() per family
 * on a helper thread, so /etc/hosts and nsswitch apply and the loop never
 * blocks; the thread wakes the loop through a pipe, which needs no libevent
 * threading support.
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include "he_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One helper thread's lookup.  The loop and the thread each hold a
 * reference; whichever lets go last frees it, so a cancelled lookup may
 * finish in the background. */
struct he_gai_job {
	pthread_mutex_t lock;
	int refs;
	char *host;
	int family;
	int wake[2];			/* pipe: the thread writes when done */
	struct evutil_addrinfo *res;	/* from the lookup function */
	int error;
};

struct he_query {
	struct evhappy_request *req;	/* NULL once cancelled */
	enum he_fam fam;
	struct evdns_getaddrinfo_request *dns;
	struct he_gai_job *job;
	struct event *wake_ev;
};

static he_gai_fn gai_hook;

void
he_resolve_set_gai_hook_(he_gai_fn fn)
{
	gai_hook = fn;
}

static int
fam_af(enum he_fam fam)
{
	return fam == HE_FAM_V6 ? AF_INET6 : AF_INET;
}

static void
stream_hints(struct evutil_addrinfo *hints, int af)
{
	memset(hints, 0, sizeof(*hints));
	hints->ai_family = af;
	hints->ai_socktype = SOCK_STREAM;
	hints->ai_protocol = IPPROTO_TCP;
}

/* Our own copy of the answer's entries of the family asked for. */
static struct evutil_addrinfo *
answer_copy(const struct evutil_addrinfo *res, int af, int *error)
{
	struct evutil_addrinfo *out = NULL, *one;

	for (; res; res = res->ai_next) {
		if (res->ai_family != af || !res->ai_addr)
			continue;
		one = he_addrinfo_new_(res->ai_addr,
		    (ev_socklen_t)res->ai_addrlen);
		if (!one) {
			*error = EVUTIL_EAI_MEMORY;
			evhappy_addrinfo_free(out);
			return NULL;
		}
		out = he_addrinfo_concat_(out, one);
	}
	return out;
}

static void
query_free(struct he_query *q)
{
	if (q->wake_ev)
		event_free(q->wake_ev);
	free(q);
}

/* Hand an answer to the request, unless the query was cancelled. */
static void
query_answer(struct he_query *q, const struct evutil_addrinfo *res,
    int error)
{
	struct evhappy_request *req = q->req;
	struct evutil_addrinfo *list = NULL;

	if (!req)
		return;
	req->queries[q->fam] = NULL;
	if (!error)
		list = answer_copy(res, fam_af(q->fam), &error);
	he_request_dns_answer_(req, q->fam, list, error);
}

/* ---- evdns -------------------------------------------------------------- */

static void
evdns_answer_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	struct he_query *q = arg;

	q->dns = NULL;
	if (result != EVUTIL_EAI_CANCEL)
		query_answer(q, res, result);
	if (res)
		evutil_freeaddrinfo(res);
	query_free(q);
}

static int
evdns_query(struct evhappy_request *req, struct he_query *q)
{
	struct evutil_addrinfo hints;
	struct evdns_getaddrinfo_request *h;
	enum he_fam fam = q->fam;

	stream_hints(&hints, fam_af(fam));
	req->queries[fam] = q;
	h = evdns_getaddrinfo(req->he->dns, req->host, NULL, &hints,
	    evdns_answer_cb, q);
	/* evdns may answer (from its hosts table, say) before returning, and
	 * then q is already gone. */
	if (req->queries[fam] == q)
		q->dns = h;
	return 0;
}

/* ---- system resolver on helper threads ---------------------------------- */

static void
job_unref(struct he_gai_job *job)
{
	int last;

	pthread_mutex_lock(&job->lock);
	last = --job->refs == 0;
	pthread_mutex_unlock(&job->lock);
	if (!last)
		return;
	if (job->res)
		freeaddrinfo(job->res);
	close(job->wake[0]);
	close(job->wake[1]);
	pthread_mutex_destroy(&job->lock);
	free(job->host);
	free(job);
}

static void *
job_run(void *arg)
{
	struct he_gai_job *job = arg;
	struct evutil_addrinfo hints, *res = NULL;
	he_gai_fn fn = gai_hook;
	int error;
	char one = 1;

	stream_hints(&hints, job->family);
	error = fn ? fn(job->host, NULL, &hints, &res) :
	    getaddrinfo(job->host, NULL, &hints, &res);
	pthread_mutex_lock(&job->lock);
	job->res = res;
	job->error = error == EAI_SYSTEM ? EVUTIL_EAI_FAIL : error;
	pthread_mutex_unlock(&job->lock);
	while (write(job->wake[1], &one, 1) < 0 && errno == EINTR)
		;
	job_unref(job);
	return NULL;
}

static void
job_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct he_query *q = arg;
	struct he_gai_job *job = q->job;
	struct evutil_addrinfo *res;
	int error;

	q->job = NULL;
	pthread_mutex_lock(&job->lock);
	res = job->res;
	error = job->error;
	pthread_mutex_unlock(&job->lock);
	query_answer(q, res, error);
	job_unref(job);
	query_free(q);
}

static int
pipe_cloexec(int fds[2])
{
	if (pipe(fds) < 0)
		return -1;
	if (fcntl(fds[0], F_SETFD, FD_CLOEXEC) < 0 ||
	    fcntl(fds[1], F_SETFD, FD_CLOEXEC) < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	return 0;
}

static struct he_gai_job *
job_new(const char *host, int family)
{
	struct he_gai_job *job = calloc(1, sizeof(*job));

	if (!job)
		return NULL;
	if (!(job->host = strdup(host)) || pipe_cloexec(job->wake) < 0) {
		free(job->host);
		free(job);
		return NULL;
	}
	pthread_mutex_init(&job->lock, NULL);
	job->refs = 2;
	job->family = family;
	return job;
}

/* The thread takes no signals: they belong to the program's own threads. */
static int
job_spawn(struct he_gai_job *job)
{
	pthread_attr_t attr;
	pthread_t tid;
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&tid, &attr, job_run, job);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return rc;
}

static int
thread_query(struct evhappy_request *req, struct he_query *q)
{
	struct he_gai_job *job = job_new(req->host, fam_af(q->fam));

	if (!job)
		return -1;
	q->wake_ev = event_new(req->he->base, job->wake[0], EV_READ,
	    job_wake_cb, q);
	if (!q->wake_ev || event_add(q->wake_ev, NULL) < 0 ||
	    job_spawn(job) != 0) {
		job->refs = 1;
		job_unref(job);
		return -1;
	}
	q->job = job;
	req->queries[q->fam] = q;
	return 0;
}

/* ---- the request's side ------------------------------------------------- */

static int
query_start(struct evhappy_request *req, enum he_fam fam)
{
	struct he_query *q = calloc(1, sizeof(*q));
	int rc;

	if (!q)
		return -1;
	q->req = req;
	q->fam = fam;
	he_trace_(req, EVHAPPY_TRACE_DNS_QUERY, fam_af(fam), NULL, 0, 0, 0);
	rc = req->he->dns ? evdns_query(req, q) : thread_query(req, q);
	if (rc < 0)
		query_free(q);
	return rc;
}

int
he_resolve_start_(struct evhappy_request *req)
{
	enum he_fam order[HE_NFAM] = { HE_FAM_V6, HE_FAM_V4 };
	int i;

	/* AAAA first, then A (RFC 8305 section 3). */
	for (i = 0; i < HE_NFAM; i++) {
		if (!req->race.dns_pending[order[i]])
			continue;
		if (!he_request_live_(req))
			return 0;
		if (query_start(req, order[i]) < 0)
			return -1;
	}
	return 0;
}

void
he_resolve_cancel_(struct evhappy_request *req)
{
	int fam;

	for (fam = 0; fam < HE_NFAM; fam++) {
		struct he_query *q = req->queries[fam];
		if (!q)
			continue;
		req->queries[fam] = NULL;
		q->req = NULL;
		if (q->dns) {
			/* evdns answers EVUTIL_EAI_CANCEL later; q goes then. */
			evdns_getaddrinfo_cancel(q->dns);
			continue;
		}
		if (q->job)
			job_unref(q->job);
		query_free(q);
	}
}

/* ---- literals ----------------------------------------------------------- */

/* An IPv6 zone ("%eth0" or "%2"): the interface index, or 0 if none. */
static unsigned
zone_index(const char *zone)
{
	char *end;
	unsigned long v;

	if (!*zone)
		return 0;
	v = strtoul(zone, &end, 10);
	if (*end == '\0')
		return v <= UINT_MAX ? (unsigned)v : 0;
	return if_nametoindex(zone);
}

/* "addr" or "addr%zone", as getaddrinfo() takes link-local literals. */
static int
parse_v6(const char *text, struct sockaddr_in6 *sin6)
{
	char buf[INET6_ADDRSTRLEN];
	const char *pct = strchr(text, '%');
	size_t n = pct ? (size_t)(pct - text) : strlen(text);

	if (n >= sizeof(buf))
		return 0;
	memcpy(buf, text, n);
	buf[n] = '\0';
	if (evutil_inet_pton(AF_INET6, buf, &sin6->sin6_addr) != 1)
		return 0;
	if (pct)
		sin6->sin6_scope_id = zone_index(pct + 1);
	return !pct || sin6->sin6_scope_id != 0;
}

static int
literal_entry(const void *sa, ev_socklen_t len, struct evutil_addrinfo **out)
{
	*out = he_addrinfo_new_(sa, len);
	if (!*out) {
		errno = ENOMEM;
		return -1;
	}
	return 1;
}

int
he_parse_literal_(const char *host, int port, struct evutil_addrinfo **out)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	size_t n = strlen(host);

	memset(&sin, 0, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons((unsigned short)port);
	if (host[0] == '[') {
		if (n < 3 || n - 2 >= sizeof(buf) || host[n - 1] != ']')
			goto bad;
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
		if (!parse_v6(buf, &sin6))
			goto bad;
		return literal_entry(&sin6, sizeof(sin6), out);
	}
	if (inet_pton(AF_INET, host, &sin.sin_addr) == 1)
		return literal_entry(&sin, sizeof(sin), out);
	if (parse_v6(host, &sin6))
		return literal_entry(&sin6, sizeof(sin6), out);
	return 0;
bad:
	errno = EINVAL;
	return -1;
}
