/*
 * The context: evhappy_new/evhappy_free and the settings races are
 * started with.
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include "he_internal.h"

#include <errno.h>
#include <stdlib.h>

#define MS 1000		/* microseconds */

static const struct he_race_config default_race = {
	EVHAPPY_DEFAULT_ATTEMPT_DELAY_MS * MS,
	EVHAPPY_DEFAULT_RESOLUTION_DELAY_MS * MS,
	EVHAPPY_MIN_ATTEMPT_GAP_MS * MS,
	(int64_t)EVHAPPY_DEFAULT_TIMEOUT_MS * MS,
	1,
	EVHAPPY_DEFAULT_MAX_IN_FLIGHT,
	NULL,
	NULL,
	0
};

const char *
evhappy_get_version(void)
{
	return EVHAPPY_VERSION_STRING;
}

ev_uint32_t
evhappy_get_version_number(void)
{
	return EVHAPPY_VERSION_NUMBER;
}

struct evhappy *
evhappy_new(struct event_base *base, struct evdns_base *dns_base)
{
	struct evhappy *he;

	if (!base) {
		errno = EINVAL;
		return NULL;
	}
	he = calloc(1, sizeof(*he));
	if (!he) {
		errno = ENOMEM;
		return NULL;
	}
	he->base = base;
	he->dns = dns_base;
	he->race = default_race;
	he->state = HE_CTX_USER;
	he->set.history = 1;
	return he;
}

void
he_context_destroy_(struct evhappy *he)
{
	while (he->requests)
		he_request_free_(he->requests);
	he_resolve_context_free_(he);
	evhappy_addrinfo_free(he->set.sock.local);
	free(he);
}

void
evhappy_free(struct evhappy *he)
{
	struct evhappy_request *req;

	if (!he || he->state == HE_CTX_DYING)
		return;
	he->state = HE_CTX_DYING;
	for (req = he->requests; req; req = req->next)
		he_request_abort_(req);
	if (he->busy == 0)
		he_context_destroy_(he);
}

/* ---- settings ----------------------------------------------------------- */

static int
tv_to_usec(const struct timeval *tv, int64_t dflt, int64_t lo, int64_t hi,
    int64_t *out)
{
	int64_t v;

	if (!tv) {
		*out = dflt;
		return 0;
	}
	if (tv->tv_sec < 0 || tv->tv_usec < 0 || tv->tv_usec >= 1000000 ||
	    tv->tv_sec > 1000000000)
		goto bad;
	v = (int64_t)tv->tv_sec * 1000000 + tv->tv_usec;
	if (v < lo || v > hi)
		goto bad;
	*out = v;
	return 0;
bad:
	errno = EINVAL;
	return -1;
}

int
evhappy_set_connection_attempt_delay(struct evhappy *he,
    const struct timeval *tv)
{
	if (!he) {
		errno = EINVAL;
		return -1;
	}
	return tv_to_usec(tv, default_race.attempt_delay, 10 * MS, 2000 * MS,
	    &he->race.attempt_delay);
}

int
evhappy_set_resolution_delay(struct evhappy *he, const struct timeval *tv)
{
	if (!he) {
		errno = EINVAL;
		return -1;
	}
	return tv_to_usec(tv, default_race.resolution_delay, 0, 1000 * MS,
	    &he->race.resolution_delay);
}

int
evhappy_set_timeout(struct evhappy *he, const struct timeval *tv)
{
	if (!he) {
		errno = EINVAL;
		return -1;
	}
	return tv_to_usec(tv, default_race.timeout, 1, INT64_MAX / 4,
	    &he->race.timeout);
}

int
evhappy_set_first_address_family_count(struct evhappy *he, int count)
{
	if (!he || count < 1) {
		errno = EINVAL;
		return -1;
	}
	he->race.first_family_count = count;
	return 0;
}

int
evhappy_set_max_attempts_in_flight(struct evhappy *he, int n)
{
	if (!he || n < 1) {
		errno = EINVAL;
		return -1;
	}
	he->race.max_in_flight = n;
	return 0;
}

int
evhappy_set_local_addrinfo(struct evhappy *he,
    const struct evutil_addrinfo *list)
{
	struct evutil_addrinfo *copy = NULL;

	if (!he) {
		errno = EINVAL;
		return -1;
	}
	if (list && !(copy = evhappy_addrinfo_dup(list)))
		return -1;
	evhappy_addrinfo_free(he->set.sock.local);
	he->set.sock.local = copy;
	return 0;
}

void
evhappy_set_socket_factory(struct evhappy *he, evhappy_socket_factory_cb cb,
    void *arg)
{
	if (!he)
		return;
	he->set.sock.factory = cb;
	he->set.sock.factory_arg = cb ? arg : NULL;
}

void
evhappy_set_trace_cb(struct evhappy *he, evhappy_trace_cb cb, void *arg)
{
	if (!he)
		return;
	he->set.trace = cb;
	he->set.trace_arg = cb ? arg : NULL;
}
