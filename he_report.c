/*
 * What a race tells afterwards: the report handed to evhappy_connect_cb and
 * its one-line summary.
 */
#include "he_internal.h"
#include "he_report.h"
#include "he_request.h"
#include "he_fmt.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

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

const struct evhappy_endpoint *
evhappy_report_get_endpoint(const struct evhappy_report *r)
{
	return r ? he_request_endpoint_(r->req) : NULL;
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
		he_usec_to_tv_((a->ended >= 0 ? a->ended : race->ended) -
		    race->began, ended);
	return 0;
}

static long
ms_since(const struct he_race *race, int64_t t)
{
	return (long)((t - race->began) / 1000);
}

/* A NAT64 address names the server it stands for: " for 192.0.2.10:80",
 * and with why, " (NAT64, prefix 64:ff9b::/96 from RA)". */
static void
put_nat64(struct he_out *o, const struct evhappy_request *req,
    const struct evutil_addrinfo *ai, int why)
{
	const struct he_nat64_known *k;
	char pfx[INET6_ADDRSTRLEN + 4];

	if (!(HE_AI_META(ai)->flags & HE_AI_SYNTH))
		return;
	he_out_put_(o, " for ");
	he_out_addr_(o, he_ai_identity_(ai));
	if (!why)
		return;
	if (!(k = he_synth_known_of_(req->nat64, ai))) {
		he_out_put_(o, " (NAT64)");
		return;
	}
	he_nat64_prefix_str_(&k->prefix, pfx, sizeof(pfx));
	he_out_put_(o, " (NAT64, prefix %s from %s)", pfx,
	    he_nat64_source_name_(k->source));
}

static void
put_attempt(struct he_out *o, const struct evhappy_request *req, int i)
{
	const struct he_attempt *a = &req->race.attempts[i];
	long took = (long)(((a->ended >= 0 ? a->ended : req->race.ended) -
	    a->started) / 1000);

	he_out_addr_(o, a->ai->ai_addr);
	put_nat64(o, req, a->ai, 0);
	if (a->state == HE_ATTEMPT_WON)
		he_out_put_(o, " (won after %ld ms)", took);
	else if (a->error == ECANCELED)
		he_out_put_(o, " (cancelled after %ld ms)", took);
	else
		he_out_put_(o, " (%s after %ld ms)", strerror(a->error), took);
}

static void
put_outcome(struct he_out *o, const struct evhappy_request *req)
{
	const struct he_race *race = &req->race;
	long total = ms_since(race, race->ended);

	if (race->winner >= 0) {
		he_out_put_(o, "connected to ");
		he_out_addr_(o, race->attempts[race->winner].ai->ai_addr);
		put_nat64(o, req, race->attempts[race->winner].ai, 1);
		he_out_put_(o, " in %ld ms", total);
		return;
	}
	he_out_put_(o, "failed after %ld ms: %s", total,
	    strerror(race->error));
	if (race->dns_failure)
		he_out_put_(o, " (DNS: %s)",
		    evutil_gai_strerror(race->dns_failure));
}

int
he_report_outcome_(const struct evhappy_request *req, char *buf, size_t len)
{
	struct he_out o;

	he_out_init_(&o, buf, len);
	put_outcome(&o, req);
	return (int)o.need;
}

/* The endpoint the winner belongs to, and the HTTPS record's skipped
 * endpoints (the first two, with why). */
static void
put_https(struct he_out *o, const struct evhappy_request *req)
{
	const struct evhappy_endpoint *ep = he_request_endpoint_(req);
	const struct he_svcb_answer *a;
	char why[256];
	int i;

	if (ep->target) {
		he_out_put_(o, "; endpoint ");
		he_out_endpoint_(o, ep);
	}
	if (!req->https)
		return;
	a = he_https_answer_(req->https);
	for (i = 0; i < a->nskips && i < 2; i++)
		he_out_put_(o, "; skipped %s", he_svcb_skip_text_(&a->skips[i],
		    he_https_prefs_(req->https), why, sizeof(why)));
	if (a->nskipped > i)
		he_out_put_(o, " (and %d more skipped)", a->nskipped - i);
}

int
evhappy_report_format(const struct evhappy_report *r, char *buf, size_t len)
{
	struct he_out o;
	int i;

	if (!r || (!buf && len)) {
		errno = EINVAL;
		return -1;
	}
	he_out_init_(&o, buf, len);
	put_outcome(&o, r->req);
	if (r->req->race.nattempts == 0)
		he_out_put_(&o, "; no address tried");
	for (i = 0; i < r->req->race.nattempts; i++) {
		he_out_put_(&o, i ? ", " : "; tried ");
		put_attempt(&o, r->req, i);
	}
	put_https(&o, r->req);
	return (int)o.need;
}
