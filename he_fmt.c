/*
 * The library's one formatter of addresses and trace events (he_fmt.h).
 */
#include "he_internal.h"
#include "he_fmt.h"
#include "he_age.h"
#include "he_nat64.h"
#include "he_svcb.h"
#include "he_event.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <net/if.h>
#include <netinet/in.h>

void
he_out_init_(struct he_out *o, char *buf, size_t len)
{
	o->buf = len ? buf : NULL;
	o->len = len;
	o->need = 0;
	if (len)
		buf[0] = '\0';
}

void
he_out_put_(struct he_out *o, const char *fmt, ...)
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

/* "%eth0" for a link-local address's scope (the number when the
   interface is gone), "" for none. */
static const char *
scope_name(unsigned id, char *buf, size_t len)
{
	char name[IF_NAMESIZE];

	if (!id)
		return "";
	if (if_indextoname(id, name))
		snprintf(buf, len, "%%%s", name);
	else
		snprintf(buf, len, "%%%u", id);
	return buf;
}

void
he_out_addr_(struct he_out *o, const struct sockaddr *sa)
{
	char host[INET6_ADDRSTRLEN], scope[IF_NAMESIZE + 2];
	const struct sockaddr_in *sin = (const void *)sa;
	const struct sockaddr_in6 *sin6 = (const void *)sa;

	if (sa && sa->sa_family == AF_INET &&
	    evutil_inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host)))
		he_out_put_(o, "%s:%d", host, (int)ntohs(sin->sin_port));
	else if (sa && sa->sa_family == AF_INET6 &&
	    evutil_inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host)))
		he_out_put_(o, "[%s%s]:%d", host,
		    scope_name(sin6->sin6_scope_id, scope, sizeof(scope)),
		    (int)ntohs(sin6->sin6_port));
	else
		he_out_put_(o, "?");
}

static const char *const trace_names[] = {
	"dns-query", "dns-answer", "attempt-start", "attempt-failed",
	"attempt-won", "attempt-cancelled", "done", "history", "https-query",
	"https-answer", "endpoint", "endpoint-skipped", "network",
	"nat64-prefix", "nat64-synth"
};

const char *
evhappy_trace_kind_name(enum evhappy_trace_kind kind)
{
	if ((int)kind < 0 ||
	    (size_t)kind >= sizeof(trace_names) / sizeof(trace_names[0]))
		return "unknown";
	return trace_names[kind];
}

static double
ms_of(const struct timeval *tv)
{
	return (double)tv->tv_sec * 1000.0 + (double)tv->tv_usec / 1000.0;
}

static void
put_age(struct he_out *o, const struct timeval *tv)
{
	const char *unit;
	double v = he_age_in_unit_(ms_of(tv), &unit);

	he_out_put_(o, "%.0f %s", v, unit);
}

/* "[::1]:443 hung 12 s ago, moved after 192.0.2.1:443" (with " (from the
   history file)" after the age when it came from there) or
   "[2001:db8::2]:80 rtt 40.2 ms (+-1.0), next attempt after 60.3 ms". */
static void
put_history(struct he_out *o, const struct evhappy_trace *ev)
{
	he_out_addr_(o, ev->addr);
	if (ev->history == EVHAPPY_HISTORY_HUNG) {
		he_out_put_(o, " hung ");
		put_age(o, &ev->age);
		he_out_put_(o, " ago");
	} else if (ev->history == EVHAPPY_HISTORY_FAILED) {
		he_out_put_(o, " failed (%s) ", strerror(ev->error));
		put_age(o, &ev->age);
		he_out_put_(o, " ago");
	} else {
		he_out_put_(o, " rtt %.1f ms (+-%.1f)", ms_of(&ev->rtt),
		    ms_of(&ev->rttvar));
	}
	if (ev->from_file)
		he_out_put_(o, " (from the history file)");
	if (ev->moved && ev->after) {
		he_out_put_(o, ", moved after ");
		he_out_addr_(o, ev->after);
	} else if (ev->moved) {
		he_out_put_(o, ", moved first");
	} else {
		he_out_put_(o, ", next attempt after %.1f ms",
		    ms_of(&ev->delay));
	}
}

static const char *
record_type(int af)
{
	return af == AF_INET6 ? "AAAA" : af == AF_INET ? "A" : "?";
}

void
he_out_endpoint_(struct he_out *o, const struct evhappy_endpoint *ep)
{
	char alpn[128];

	he_out_put_(o, "%s:%d priority %d", ep->target ? ep->target : "?",
	    ep->port, ep->priority);
	if (ep->alpn)
		he_out_put_(o, " alpn %s", he_svcb_alpn_text_(ep->alpn,
		    ep->alpn_len, alpn, sizeof(alpn)));
	if (ep->ech)
		he_out_put_(o, " ech");
}

/* A record type, and the endpoint target's name when it is not the
 * host's own query. */
static void
put_query(struct he_out *o, const struct evhappy_trace *ev)
{
	he_out_put_(o, " %s", record_type(ev->family));
	if (ev->text)
		he_out_put_(o, " %s", ev->text);
}

/* What a NAT64 event's fields say of its prefix (the prefix: addr's
 * first nat64_prefix_len bits); 0, or -1 when they say nothing valid. */
static int
nat64_known(const struct evhappy_trace *ev, struct he_nat64_known *k)
{
	const struct sockaddr_in6 *sin6 = (const void *)ev->addr;
	unsigned char a[16];
	int i, len = ev->nat64_prefix_len;

	if (!ev->addr || ev->addr->sa_family != AF_INET6 ||
	    ev->addrlen < sizeof(*sin6) || !he_nat64_len_ok_(len) ||
	    ev->nat64_source < EVHAPPY_NAT64_SOURCE_CALLER ||
	    ev->nat64_source > EVHAPPY_NAT64_SOURCE_DNS)
		return -1;
	memcpy(a, &sin6->sin6_addr, 16);
	for (i = len / 8; i < 16; i++)
		a[i] = 0;
	memset(k, 0, sizeof(*k));
	/* the source's numbers: the public ones less one */
	k->source = (enum he_nat64_source)(ev->nat64_source - 1);
	return he_nat64_prefix_set_(&k->prefix, a, len) == 0 ? 0 : -1;
}

/* "64:ff9b::/96 from RA" (" (from the history file)" when it was read
 * there), or "none found ..." */
static void
put_nat64_prefix(struct he_out *o, const struct evhappy_trace *ev)
{
	struct he_nat64_known k;
	char pfx[INET6_ADDRSTRLEN + 4];

	if (nat64_known(ev, &k) == 0) {
		he_nat64_prefix_str_(&k.prefix, pfx, sizeof(pfx));
		he_out_put_(o, " %s from %s%s", pfx,
		    he_nat64_source_name_(k.source),
		    ev->from_file ? " (from the history file)" : "");
		return;
	}
	he_out_put_(o, ": %s", ev->text ? ev->text : "none");
}

/* "64:ff9b::c000:20a for 192.0.2.10, prefix 64:ff9b::/96 from RA", or
 * "192.0.2.10:80 not synthesized: ..." */
static void
put_nat64_synth(struct he_out *o, const struct evhappy_trace *ev)
{
	struct he_nat64_known k;
	char text[192];

	if (!ev->error && ev->nat64_v4 && ev->nat64_v4->sa_family == AF_INET &&
	    ev->nat64_v4len >= sizeof(struct sockaddr_in) &&
	    nat64_known(ev, &k) == 0) {
		he_nat64_describe_((const struct sockaddr_in6 *)
		    (const void *)ev->addr, (const struct sockaddr_in *)
		    (const void *)ev->nat64_v4, &k, text, sizeof(text));
		he_out_put_(o, " %s", text);
		return;
	}
	he_out_put_(o, " ");
	he_out_addr_(o, ev->nat64_v4 ? ev->nat64_v4 : ev->addr);
	he_out_put_(o, " %s", ev->text ? ev->text : "not synthesized");
}

void
he_out_trace_(struct he_out *o, const struct evhappy_trace *ev)
{
	he_out_put_(o, "%s", evhappy_trace_kind_name(ev->kind));
	switch (ev->kind) {
	case EVHAPPY_TRACE_DNS_QUERY:
		put_query(o, ev);
		return;
	case EVHAPPY_TRACE_DNS_ANSWER:
		put_query(o, ev);
		if (ev->error)
			he_out_put_(o, " error: %s",
			    evutil_gai_strerror(ev->error));
		else
			he_out_put_(o, ": %d address%s", ev->naddrs,
			    ev->naddrs == 1 ? "" : "es");
		return;
	case EVHAPPY_TRACE_HTTPS_QUERY:
		he_out_put_(o, " %s", ev->text ? ev->text : "?");
		return;
	case EVHAPPY_TRACE_HTTPS_ANSWER:
		he_out_put_(o, ": %s", ev->text ? ev->text : "?");
		if (!ev->error)
			he_out_put_(o, ", %d endpoint%s", ev->naddrs,
			    ev->naddrs == 1 ? "" : "s");
		return;
	case EVHAPPY_TRACE_ENDPOINT:
		if (ev->endpoint) {
			he_out_put_(o, " ");
			he_out_endpoint_(o, ev->endpoint);
		}
		return;
	case EVHAPPY_TRACE_ENDPOINT_SKIPPED:
		he_out_put_(o, ": %s", ev->text ? ev->text : "?");
		return;
	case EVHAPPY_TRACE_DONE:
		if (ev->error)
			he_out_put_(o, " error: %s", strerror(ev->error));
		else
			he_out_put_(o, ": connected");
		return;
	case EVHAPPY_TRACE_HISTORY:
		he_out_put_(o, ": ");
		put_history(o, ev);
		return;
	case EVHAPPY_TRACE_NETWORK:
		he_out_put_(o, " %016llx: %s", (unsigned long long)ev->network,
		    ev->text ? ev->text : "");
		return;
	case EVHAPPY_TRACE_NAT64_PREFIX:
		put_nat64_prefix(o, ev);
		return;
	case EVHAPPY_TRACE_NAT64_SYNTH:
		put_nat64_synth(o, ev);
		return;
	default:
		break;
	}
	if (ev->addr) {
		he_out_put_(o, " ");
		he_out_addr_(o, ev->addr);
	}
	if (ev->error)
		he_out_put_(o, " error: %s", strerror(ev->error));
}

/* ---- the public calls ---------------------------------------------------- */

int
evhappy_sockaddr_format(const struct sockaddr *sa, char *buf, size_t len)
{
	struct he_out o;

	if (!buf && len) {
		errno = EINVAL;
		return -1;
	}
	he_out_init_(&o, buf, len);
	he_out_addr_(&o, sa);
	return (int)o.need;
}

int
evhappy_trace_format(const struct evhappy_trace *ev, char *buf, size_t len)
{
	struct he_out o;

	if (!ev || (!buf && len)) {
		errno = EINVAL;
		return -1;
	}
	he_out_init_(&o, buf, len);
	he_out_trace_(&o, ev);
	return (int)o.need;
}
