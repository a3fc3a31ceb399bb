/*
 * What a race tells afterwards: the report handed to evhappy_connect_cb,
 * its one-line summary, and the names of trace kinds.
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include "he_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

static const char *const trace_names[] = {
	"dns-query", "dns-answer", "attempt-start", "attempt-failed",
	"attempt-won", "attempt-cancelled", "done", "history"
};

const char *
evhappy_trace_kind_name(enum evhappy_trace_kind kind)
{
	if ((int)kind < 0 ||
	    (size_t)kind >= sizeof(trace_names) / sizeof(trace_names[0]))
		return "unknown";
	return trace_names[kind];
}

int
evhappy_report_error(const struct evhappy_report *r)
{
	return r ? r->req->race.error : EINVAL;
}

int
evhappy_report_dns_error(const struct evhappy_report *r)
{
	return r ? r->req->race.dns_failure : 0;
}

int
evhappy_report_attempt_count(const struct evhappy_report *r)
{
	return r ? r->req->race.nattempts : 0;
}

int
evhappy_report_attempt(const struct evhappy_report *r, int i,
    struct sockaddr_storage *addr, int *error, struct timeval *started,
    struct timeval *ended)
{
	const struct he_race *race;
	const struct he_attempt *a;

	if (!r || i < 0 || i >= r->req->race.nattempts) {
		errno = EINVAL;
		return -1;
	}
	race = &r->req->race;
	a = &race->attempts[i];
	if (addr) {
		memset(addr, 0, sizeof(*addr));
		memcpy(addr, a->ai->ai_addr, a->ai->ai_addrlen);
	}
	if (error)
		*error = a->error;
	if (started)
		he_usec_to_tv_(a->started - race->began, started);
	if (ended)
		he_usec_to_tv_((a->ended >= 0 ? a->ended : r->req->ended) -
		    race->began, ended);
	return 0;
}

/* snprintf onto the end of what is written so far, counting what would
 * have been written, as snprintf does. */
struct out {
	char *buf;
	size_t len;
	size_t need;
};

static void
put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;
	size_t at = o->need < o->len ? o->need : o->len;

	va_start(ap, fmt);
	n = vsnprintf(o->buf ? o->buf + at : NULL, o->buf ? o->len - at : 0,
	    fmt, ap);
	va_end(ap);
	if (n > 0)
		o->need += (size_t)n;
}

static void
put_addr(struct out *o, const struct sockaddr *sa)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		evutil_inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		put(o, "[%s]:%d", host, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const void *)sa;
		evutil_inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		put(o, "%s:%d", host, ntohs(s4->sin_port));
	}
}

static long
ms_since(const struct he_race *race, int64_t t)
{
	return (long)((t - race->began) / 1000);
}

static void
put_attempt(struct out *o, const struct evhappy_request *req, int i)
{
	const struct he_attempt *a = &req->race.attempts[i];
	long took = (long)(((a->ended >= 0 ? a->ended : req->ended) -
	    a->started) / 1000);

	put_addr(o, a->ai->ai_addr);
	if (a->state == HE_ATTEMPT_WON)
		put(o, " (won after %ld ms)", took);
	else if (a->error == ECANCELED)
		put(o, " (cancelled after %ld ms)", took);
	else
		put(o, " (%s after %ld ms)", strerror(a->error), took);
}

static void
put_outcome(struct out *o, const struct evhappy_request *req)
{
	const struct he_race *race = &req->race;
	long total = ms_since(race, req->ended);

	if (race->winner >= 0) {
		put(o, "connected to ");
		put_addr(o, race->attempts[race->winner].ai->ai_addr);
		put(o, " in %ld ms", total);
		return;
	}
	put(o, "failed after %ld ms: %s", total, strerror(race->error));
	if (race->dns_failure)
		put(o, " (DNS: %s)", evutil_gai_strerror(race->dns_failure));
}

static void
out_init(struct out *o, char *buf, size_t len)
{
	o->buf = len ? buf : NULL;
	o->len = len;
	o->need = 0;
	if (len)
		buf[0] = '\0';
}

int
he_report_outcome_(const struct evhappy_request *req, char *buf, size_t len)
{
	struct out o;

	out_init(&o, buf, len);
	put_outcome(&o, req);
	return (int)o.need;
}

int
he_report_addr_(const struct sockaddr *sa, char *buf, size_t len)
{
	struct out o;

	out_init(&o, buf, len);
	put_addr(&o, sa);
	return (int)o.need;
}

int
evhappy_report_format(const struct evhappy_report *r, char *buf, size_t len)
{
	struct out o;
	int i;

	if (!r || (!buf && len)) {
		errno = EINVAL;
		return -1;
	}
	out_init(&o, buf, len);
	put_outcome(&o, r->req);
	if (r->req->race.nattempts == 0)
		put(&o, "; no address tried");
	for (i = 0; i < r->req->race.nattempts; i++) {
		put(&o, i ? ", " : "; tried ");
		put_attempt(&o, r->req, i);
	}
	return (int)o.need;
}
