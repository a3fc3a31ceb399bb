/*
 * HTTPS and SVCB records (RFC 9460): the query name, the answer's parser
 * and the client's rules, the AliasMode chain.  See he_svcb.h.
 *
 * The message itself (header, question, records, compressed names) is
 * read with the C library's resolver functions (ns_initparse, ns_parserr,
 * ns_name_ntop); the SVCB RDATA, which no Debian 12 library checks as RFC
 * 9460 asks, is read here.  The records are walked twice (check every
 * record of the RRSet, then use them) and nothing is kept per record:
 * usable ones compete for HE_SVCB_MAX_ENDPOINTS places, so memory stays
 * bounded whatever the count, and time is linear in the message's size.
 *
 * Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include "he_svcb.h"
#include "he_hash.h"

#include <event2/util.h>

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <pthread.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#ifdef HAVE_GETRANDOM
#include <sys/random.h>
#endif

/* The default ALPN set of the HTTPS record (RFC 9460 section 9.1). */
static const unsigned char http11[] = "\x08http/1.1";
#define HTTP11_LEN 9

/* ---- small helpers ---------------------------------------------------- */

static uint16_t
get16(const unsigned char *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

/* A random source for one parse: the caller's, or the process's
   splitmix64, seeded once (getrandom is thread-safe; libevent's generator
   is not without locks) and stepped atomically: a parse, on every race
   that asks HTTPS records, costs no system call.  The numbers only
   shuffle equal priorities and pick among aliases (spreading load, as
   RFC 9460 asks); nothing secret rides on them. */
struct rng {
	const struct he_svcb_prefs *prefs;
};

static uint64_t rng_state;
static pthread_once_t rng_once = PTHREAD_ONCE_INIT;

static void
rng_seed(void)
{
	uint64_t s = 0;

#ifdef HAVE_GETRANDOM
	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != (ssize_t)sizeof(s))
#endif
		evutil_secure_rng_get_bytes(&s, sizeof(s));
	__atomic_store_n(&rng_state, s, __ATOMIC_RELAXED);
}

static uint32_t
rng_next(struct rng *r)
{
	uint64_t z;

	if (r->prefs->random)
		return r->prefs->random(r->prefs->random_arg);
	pthread_once(&rng_once, rng_seed);
	z = __atomic_add_fetch(&rng_state, 0x9e3779b97f4a7c15ULL,
	    __ATOMIC_RELAXED);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (uint32_t)((z ^ (z >> 31)) >> 32);
}

/* Names compare without case and without a trailing dot: the C library
   writes every name it decodes the same way (letters never escaped, no
   final dot), so text comparison is name comparison. */
static int
name_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 1 && a[la - 1] == '.')
		la--;
	if (lb > 1 && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

/* A name a lookup can carry: labels of letters, digits, '-' and '_'
   (the _PORT._https labels), 1 .. 63 characters, 253 in all. */
static int
host_like(const char *s)
{
	size_t n = strlen(s), label = 0, i;

	if (n == 0 || n >= HE_SVCB_HOST_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0;
}

static const char *
key_name(uint16_t key, char *buf, size_t len)
{
	static const char *names[] = { "mandatory", "alpn",
	    "no-default-alpn", "port", "ipv4hint", "ech", "ipv6hint" };

	if (key < sizeof(names) / sizeof(names[0]))
		return names[key];
	evutil_snprintf(buf, len, "key%u", (unsigned)key);
	return buf;
}

/* ---- public helpers --------------------------------------------------- */

int
he_svcb_qname_(const char *host, int port, char *out, size_t len)
{
	char buf[HE_SVCB_HOST_MAX];
	struct in_addr a4;
	size_t n;
	int r;

	if (!host || !out || port < 1 || port > 65535) {
		errno = EINVAL;
		return -1;
	}
	n = strlen(host);
	if (n > 1 && host[n - 1] == '.')
		n--;
	if (n >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, host, n);
	buf[n] = '\0';
	/* IP literals have no HTTPS record; an IPv6 one is no host_like.
	   (The C library's inet_pton: libevent's runs sscanf.) */
	if (!host_like(buf) || inet_pton(AF_INET, buf, &a4) == 1) {
		errno = EINVAL;
		return -1;
	}
	if (port == 443) {
		r = (int)n;
		if (n < len)
			memcpy(out, buf, n + 1);
	} else
		r = evutil_snprintf(out, len, "_%d._https.%s", port, buf);
	if (r < 0 || (size_t)r >= len || r >= HE_SVCB_HOST_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return r;
}

int
he_svcb_alpn_parse_(const char *list, unsigned char *out, size_t cap)
{
	size_t used = 0;
	const char *p = list;

	if (!list || !out || !*list) {
		errno = EINVAL;
		return -1;
	}
	for (;;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n == 0 || n > 255) {
			errno = EINVAL;
			return -1;
		}
		if (used + 1 + n > cap) {
			errno = ENOSPC;
			return -1;
		}
		out[used++] = (unsigned char)n;
		memcpy(out + used, p, n);
		used += n;
		if (!end)
			break;
		p = end + 1;
	}
	return (int)used;
}

int
he_svcb_alpn_has_(const unsigned char *a, size_t alen,
    const unsigned char *id, size_t len)
{
	size_t i = 0;

	while (a && i < alen) {
		size_t n = a[i];
		if (i + 1 + n > alen)
			return 0;
		if (n == len && memcmp(a + i + 1, id, len) == 0)
			return 1;
		i += 1 + n;
	}
	return 0;
}

char *
he_svcb_alpn_text_(const unsigned char *a, size_t alen, char *out,
    size_t len)
{
	size_t i = 0, o = 0;

	if (!len)
		return out;
	out[0] = '\0';
	while (a && i < alen) {
		size_t n = a[i], j;
		if (i + 1 + n > alen)
			break;
		if (i > 0 && o + 1 < len)
			out[o++] = ',';
		for (j = 0; j < n; j++) {
			unsigned char c = a[i + 1 + j];
			if (c > 0x20 && c < 0x7f && c != ',' && c != '\\') {
				if (o + 1 < len)
					out[o++] = (char)c;
			} else if (o + 4 < len) {
				evutil_snprintf(out + o, len - o, "\\x%02x", c);
				o += 4;
			}
		}
		i += 1 + n;
	}
	out[o < len ? o : len - 1] = '\0';
	return out;
}

const char *
he_svcb_outcome_name_(enum he_svcb_outcome o)
{
	switch (o) {
	case HE_SVCB_SERVICE: return "service";
	case HE_SVCB_ALIAS: return "alias";
	case HE_SVCB_EMPTY: return "empty";
	case HE_SVCB_MALFORMED: return "malformed";
	case HE_SVCB_FAILED: return "failed";
	}
	return "?";
}

/* ---- answers ---------------------------------------------------------- */

static void
endpoint_clear(struct he_svcb_endpoint *e)
{
	free(e->target);
	free(e->alpn);
	free(e->ech);
	free(e->v4);
	free(e->v6);
	memset(e, 0, sizeof(*e));
}

static void
skip_clear(struct he_svcb_skip *s)
{
	free(s->target);
	free(s->alpn);
	memset(s, 0, sizeof(*s));
}

void
he_svcb_answer_clear_(struct he_svcb_answer *a)
{
	int i;

	if (!a)
		return;
	for (i = 0; i < a->nendpoints; i++)
		endpoint_clear(&a->endpoints[i]);
	for (i = 0; i < a->nskips; i++)
		skip_clear(&a->skips[i]);
	free(a->owner);
	free(a->alias);
	memset(a, 0, sizeof(*a));
	a->rcode = -1;
}

void
he_svcb_answer_set_(struct he_svcb_answer *out,
    enum he_svcb_outcome outcome, const char *error)
{
	he_svcb_answer_clear_(out);
	out->outcome = outcome;
	out->error = error;
}

void
he_svcb_answer_move_(struct he_svcb_answer *dst, struct he_svcb_answer *src)
{
	he_svcb_answer_clear_(dst);
	*dst = *src;
	memset(src, 0, sizeof(*src));
	src->rcode = -1;
}

/* ---- one record, viewed in place -------------------------------------- */

/* What the check of one record's RDATA found; pointers into the message. */
struct rec {
	uint16_t priority;
	uint32_t ttl;
	const unsigned char *target;	/* wire form, uncompressed */
	const unsigned char *params;
	size_t params_len;
	/* ServiceMode, known keys */
	const unsigned char *mandatory, *alpn, *ech, *v4, *v6;
	size_t mandatory_len, alpn_len, ech_len, v4_len, v6_len;
	int no_default_alpn;
	int port;		/* -1: no "port" */
};

/* A value of whole units of unit bytes, at least one, kept in place in
 * *out and *out_len; NULL, or bad when it is not. */
static const char *
keep_units(const unsigned char *v, size_t n, size_t unit, const char *bad,
    const unsigned char **out, size_t *out_len)
{
	if (n == 0 || n % unit)
		return bad;
	*out = v;
	*out_len = n;
	return NULL;
}

/* The value of one known key, checked; NULL or why it is malformed (then
 * the record is dropped whole, whatever this kept of it). */
static const char *
check_value(struct rec *r, uint16_t key, const unsigned char *v, size_t n)
{
	const char *bad;
	size_t i;

	switch (key) {
	case HE_SVCB_KEY_MANDATORY:
		/* keys strictly increasing (so no duplicates), never 0 */
		if ((bad = keep_units(v, n, 2, "mandatory: empty or odd length",
		    &r->mandatory, &r->mandatory_len)))
			return bad;
		for (i = 0; i < n; i += 2) {
			if (get16(v + i) == HE_SVCB_KEY_MANDATORY)
				return "mandatory lists itself";
			if (i > 0 && get16(v + i) <= get16(v + i - 2))
				return "mandatory: keys out of order or "
				    "repeated";
		}
		return NULL;
	case HE_SVCB_KEY_ALPN:
		if ((bad = keep_units(v, n, 1, "alpn: empty", &r->alpn,
		    &r->alpn_len)))
			return bad;
		for (i = 0; i < n; i += 1 + v[i])
			if (v[i] == 0 || i + 1 + v[i] > n)
				return "alpn: an empty id, or ids not filling "
				    "the value";
		return NULL;
	case HE_SVCB_KEY_NO_DEFAULT_ALPN:
		if (n != 0)
			return "no-default-alpn: not empty";
		r->no_default_alpn = 1;
		return NULL;
	case HE_SVCB_KEY_PORT:
		if (n != 2)
			return "port: not 2 bytes";
		r->port = get16(v);
		return NULL;
	case HE_SVCB_KEY_IPV4HINT:
		return keep_units(v, n, 4,
		    "ipv4hint: empty or not whole addresses", &r->v4, &r->v4_len);
	case HE_SVCB_KEY_ECH:
		/* an ECHConfigList, opaque here: the TLS library reads it */
		return keep_units(v, n, 1, "ech: empty", &r->ech, &r->ech_len);
	case HE_SVCB_KEY_IPV6HINT:
		return keep_units(v, n, 16,
		    "ipv6hint: empty or not whole addresses", &r->v6, &r->v6_len);
	}
	return NULL;	/* unknown keys are ignored (RFC 9460 2.4.3) */
}

/* Check one SVCB RDATA (RFC 9460 section 2.2).  AliasMode's parameters are
   ignored, but their framing must hold like any record's.  Returns NULL,
   or why the record (and so the RRSet) is malformed. */
static const char *
rec_check(const unsigned char *rd, size_t len, struct rec *r)
{
	size_t i, name = 0;
	int prev = -1;

	memset(r, 0, sizeof(*r));
	r->port = -1;
	if (len < 3)
		return "record shorter than priority and target";
	r->priority = get16(rd);
	r->target = rd + 2;
	/* TargetName: uncompressed labels (no pointers), <= 255 bytes */
	for (i = 2;;) {
		unsigned n;
		if (i >= len)
			return "target runs past the record";
		n = rd[i];
		if (n & 0xc0)
			return "target compressed or with a bad label";
		name += 1 + n;
		if (name > NS_MAXCDNAME)
			return "target longer than 255 bytes";
		i += 1 + n;
		if (n == 0)
			break;
	}
	r->params = rd + i;
	r->params_len = len - i;
	while (i < len) {
		uint16_t key, n;
		const char *err;
		if (len - i < 4)
			return "parameter header runs past the record";
		key = get16(rd + i);
		n = get16(rd + i + 2);
		if ((int)key <= prev)
			return "parameter keys out of order or repeated";
		prev = key;
		if ((size_t)n > len - i - 4)
			return "parameter value runs past the record";
		if (r->priority != 0 &&
		    (err = check_value(r, key, rd + i + 4, n)) != NULL)
			return err;
		i += 4 + (size_t)n;
	}
	return NULL;
}

/* Whether the record has key among its parameters. */
static int
rec_has_key(const struct rec *r, uint16_t key)
{
	size_t i = 0;

	while (i + 4 <= r->params_len) {
		uint16_t k = get16(r->params + i);
		if (k == key)
			return 1;
		if (k > key)
			return 0;
		i += 4 + get16(r->params + i + 2);
	}
	return 0;
}

/* The record's SVCB ALPN set in wire form (malloc'ed): its "alpn" ids and,
   for HTTPS, "http/1.1" unless no-default-alpn or already there. */
static unsigned char *
rec_alpn_set(const struct rec *r, int qtype, size_t *len)
{
	int add = qtype == HE_DNS_TYPE_HTTPS && !r->no_default_alpn &&
	    !he_svcb_alpn_has_(r->alpn, r->alpn_len, http11 + 1,
		HTTP11_LEN - 1);
	size_t n = r->alpn_len + (add ? HTTP11_LEN : 0);
	unsigned char *p;

	*len = n;
	if (!(p = malloc(n ? n : 1)))
		return NULL;
	if (r->alpn_len)
		memcpy(p, r->alpn, r->alpn_len);
	if (add)
		memcpy(p + r->alpn_len, http11, HTTP11_LEN);
	return p;
}

/* Whether the set shares an id with the caller's list. */
static int
alpn_overlap(const unsigned char *set, size_t setlen,
    const struct he_svcb_prefs *prefs)
{
	const unsigned char *mine = prefs->alpn ? prefs->alpn : http11;
	size_t minelen = prefs->alpn ? prefs->alpn_len : HTTP11_LEN, i = 0;

	while (i < minelen) {
		size_t n = mine[i];
		if (i + 1 + n > minelen)
			break;
		if (he_svcb_alpn_has_(set, setlen, mine + i + 1, n))
			return 1;
		i += 1 + n;
	}
	return 0;
}

/* The record's effective target in text, or NULL (ENOMEM). */
static char *
rec_target(const struct rec *r, const char *owner, int *is_owner)
{
	char buf[NS_MAXDNAME];

	*is_owner = r->target[0] == 0;
	if (*is_owner)
		return strdup(owner);
	/* rec_check bounded the name, so ntop cannot overrun buf */
	if (ns_name_ntop(r->target, buf, sizeof(buf)) < 0)
		return strdup("?");
	return strdup(buf);
}

/* ---- the parse -------------------------------------------------------- */

struct parse {
	const unsigned char *msg;
	size_t len;
	ns_msg h;
	int qtype;
	const struct he_svcb_prefs *prefs;
	struct he_svcb_answer *out;
	struct rng rng;
	char owner[NS_MAXDNAME];
};

/* Record a skipped record; -1 on ENOMEM. */
static int
add_skip(struct parse *p, enum he_svcb_skip_why why, const struct rec *r,
    uint16_t key)
{
	struct he_svcb_answer *a = p->out;
	struct he_svcb_skip *s;
	int dot;

	a->nskipped++;
	if (a->nskips == HE_SVCB_MAX_SKIPS)
		return 0;
	s = &a->skips[a->nskips];
	memset(s, 0, sizeof(*s));
	s->why = why;
	s->priority = r->priority;
	s->key = key;
	s->port = r->port >= 0 ? r->port : p->prefs->port;
	if (!(s->target = rec_target(r, p->owner, &dot)))
		return -1;
	if (why == HE_SVCB_SKIP_ALPN &&
	    !(s->alpn = rec_alpn_set(r, p->qtype, &s->alpn_len))) {
		skip_clear(s);
		return -1;
	}
	a->nskips++;
	return 0;
}

/* The i-th answer record if it is of (owner, type, IN): 1; 0 if another;
   -1 when it cannot be read (a bad compression pointer). */
static int
answer_rr(struct parse *p, int i, const char *owner, int type, ns_rr *rr)
{
	if (ns_parserr(&p->h, ns_s_an, i, rr) < 0)
		return -1;
	return (int)ns_rr_type(*rr) == type && ns_rr_class(*rr) == ns_c_in &&
	    name_eq(ns_rr_name(*rr), owner);
}

/* Follow CNAMEs from the question's name to the owner of the RRSet;
   NULL, or why the message is malformed. */
static const char *
follow_cnames(struct parse *p)
{
	int hops, i, n = ns_msg_count(p->h, ns_s_an);
	ns_rr rr;

	for (hops = 0;; hops++) {
		char next[NS_MAXDNAME];
		int found = 0, r;
		for (i = 0; i < n && !found; i++) {
			r = answer_rr(p, i, p->owner, ns_t_cname, &rr);
			if (r < 0)
				return "a record's name cannot be read";
			if (!r)
				continue;
			/* the target must fill the RDATA exactly */
			if (dn_expand(p->msg, p->msg + p->len, ns_rr_rdata(rr),
			    next, sizeof(next)) != (int)ns_rr_rdlen(rr))
				return "a CNAME's target cannot be read";
			found = 1;
		}
		if (!found)
			return NULL;
		if (hops == HE_SVCB_MAX_CNAMES)
			return "CNAME chain too long, or a loop";
		memcpy(p->owner, next, sizeof(next));
	}
}

/* A usable record competing for a place. */
struct cand {
	struct rec r;
	uint32_t rnd;
};

static int
cand_before(const struct cand *a, const struct cand *b)
{
	if (a->r.priority != b->r.priority)
		return a->r.priority < b->r.priority;
	return a->rnd < b->rnd;
}

static int
cand_cmp(const void *x, const void *y)
{
	const struct cand *a = x, *b = y;

	return cand_before(a, b) ? -1 : cand_before(b, a) ? 1 : 0;
}

/* Whether a ServiceMode record is usable; else the reason and key. */
static int
rec_usable(struct parse *p, const struct rec *r, enum he_svcb_skip_why *why,
    uint16_t *key)
{
	size_t i;
	unsigned char *set;
	size_t setlen;
	int ok;

	*key = 0;
	for (i = 0; i < r->mandatory_len; i += 2) {
		uint16_t k = get16(r->mandatory + i);
		if (!rec_has_key(r, k)) {
			*why = HE_SVCB_SKIP_INCONSISTENT;
			*key = k;
			return 0;
		}
		if (k > HE_SVCB_KEY_IPV6HINT || (k == HE_SVCB_KEY_ECH &&
		    !(p->prefs->flags & HE_SVCB_USES_ECH))) {
			*why = HE_SVCB_SKIP_MANDATORY;
			*key = k;
			return 0;
		}
	}
	if (r->no_default_alpn && !r->alpn) {
		*why = HE_SVCB_SKIP_INCONSISTENT;
		*key = HE_SVCB_KEY_NO_DEFAULT_ALPN;
		return 0;
	}
	if (r->port == 0) {
		*why = HE_SVCB_SKIP_PORT;
		return 0;
	}
	if (r->target[0] != 0) {
		char buf[NS_MAXDNAME];
		if (ns_name_ntop(r->target, buf, sizeof(buf)) < 0 ||
		    !host_like(buf)) {
			*why = HE_SVCB_SKIP_TARGET;
			return 0;
		}
	} else if (!host_like(p->owner)) {
		*why = HE_SVCB_SKIP_TARGET;
		return 0;
	}
	/* A SVCB record without "alpn" leaves the protocol to its scheme,
	   whose default set is the caller's business (RFC 9460 7.1.1):
	   nothing to filter.  HTTPS's default set is http/1.1. */
	if (p->qtype == HE_DNS_TYPE_SVCB && !r->alpn)
		return 1;
	if (!(set = rec_alpn_set(r, p->qtype, &setlen)))
		return -1;
	ok = alpn_overlap(set, setlen, p->prefs);
	free(set);
	if (!ok) {
		*why = HE_SVCB_SKIP_ALPN;
		return 0;
	}
	return 1;
}

/* Make an endpoint of a usable record; -1 on ENOMEM. */
static int
make_endpoint(struct parse *p, const struct rec *r,
    struct he_svcb_endpoint *e)
{
	int i;

	memset(e, 0, sizeof(*e));
	e->priority = r->priority;
	e->port_set = r->port >= 0;
	e->port = e->port_set ? r->port : p->prefs->port;
	if (!(e->target = rec_target(r, p->owner, &e->target_is_owner)) ||
	    !(e->alpn = rec_alpn_set(r, p->qtype, &e->alpn_len)))
		return -1;
	if (r->ech) {
		if (!(e->ech = malloc(r->ech_len)))
			return -1;
		memcpy(e->ech, r->ech, r->ech_len);
		e->ech_len = r->ech_len;
	}
	e->nv4 = (int)(r->v4_len / 4);
	if (e->nv4 > HE_SVCB_MAX_HINTS)
		e->nv4 = HE_SVCB_MAX_HINTS;
	e->nv6 = (int)(r->v6_len / 16);
	if (e->nv6 > HE_SVCB_MAX_HINTS)
		e->nv6 = HE_SVCB_MAX_HINTS;
	if (e->nv4 && !(e->v4 = calloc(e->nv4, sizeof(*e->v4))))
		return -1;
	if (e->nv6 && !(e->v6 = calloc(e->nv6, sizeof(*e->v6))))
		return -1;
	for (i = 0; i < e->nv4; i++)
		memcpy(&e->v4[i], r->v4 + 4 * i, 4);
	for (i = 0; i < e->nv6; i++)
		memcpy(&e->v6[i], r->v6 + 16 * i, 16);
	return 0;
}

static void
take_ttl(struct he_svcb_answer *a, uint32_t ttl, int *first)
{
	if (*first || ttl < a->ttl)
		a->ttl = ttl;
	*first = 0;
}

/* AliasMode: pick one record (RFC 9460 2.4.2), ignore every other. */
static int
use_alias(struct parse *p, int naliases)
{
	struct he_svcb_answer *a = p->out;
	int i, n = ns_msg_count(p->h, ns_s_an), seen = 0, pick, first = 1;
	struct rec r, chosen;
	ns_rr rr;
	char buf[NS_MAXDNAME];

	pick = (int)(rng_next(&p->rng) % (uint32_t)naliases);
	memset(&chosen, 0, sizeof(chosen));
	for (i = 0; i < n; i++) {
		if (answer_rr(p, i, p->owner, p->qtype, &rr) != 1)
			continue;
		rec_check(ns_rr_rdata(rr), ns_rr_rdlen(rr), &r);
		r.ttl = ns_rr_ttl(rr);
		if (r.priority != 0) {
			if (add_skip(p, HE_SVCB_SKIP_SERVICE_BESIDE_ALIAS, &r,
			    0) < 0)
				return -1;
		} else if (seen++ == pick) {
			chosen = r;
			take_ttl(a, r.ttl, &first);
		} else if (add_skip(p, HE_SVCB_SKIP_OTHER_ALIAS, &r, 0) < 0)
			return -1;
	}
	a->outcome = HE_SVCB_EMPTY;
	if (!chosen.target) {	/* cannot be: both walks see the same */
		a->error = "no record";
		return 0;
	}
	if (chosen.target[0] == 0) {
		a->error = "AliasMode \".\": the service is not available";
		return 0;
	}
	if (ns_name_ntop(chosen.target, buf, sizeof(buf)) < 0 ||
	    !host_like(buf)) {
		a->error = "AliasMode target is not a host name";
		return 0;
	}
	if (!(a->alias = strdup(buf)))
		return -1;
	a->outcome = HE_SVCB_ALIAS;
	return 0;
}

/* ServiceMode: check each record's rules; the best usable ones become
   endpoints, in priority order with equal ones shuffled. */
static int
use_service(struct parse *p)
{
	struct he_svcb_answer *a = p->out;
	struct cand best[HE_SVCB_MAX_ENDPOINTS];
	int nbest = 0, i, n = ns_msg_count(p->h, ns_s_an), first = 1;
	ns_rr rr;

	for (i = 0; i < n; i++) {
		struct cand c;
		enum he_svcb_skip_why why;
		uint16_t key;
		int ok, worst, j;

		if (answer_rr(p, i, p->owner, p->qtype, &rr) != 1)
			continue;
		rec_check(ns_rr_rdata(rr), ns_rr_rdlen(rr), &c.r);
		c.r.ttl = ns_rr_ttl(rr);
		if ((ok = rec_usable(p, &c.r, &why, &key)) < 0)
			return -1;
		if (!ok) {
			if (add_skip(p, why, &c.r, key) < 0)
				return -1;
			continue;
		}
		c.rnd = rng_next(&p->rng);
		if (nbest < HE_SVCB_MAX_ENDPOINTS) {
			best[nbest++] = c;
			continue;
		}
		for (worst = 0, j = 1; j < nbest; j++)
			if (cand_before(&best[worst], &best[j]))
				worst = j;
		if (cand_before(&c, &best[worst])) {
			struct cand out = best[worst];
			best[worst] = c;
			c = out;
		}
		if (add_skip(p, HE_SVCB_SKIP_LIMIT, &c.r, 0) < 0)
			return -1;
	}
	qsort(best, nbest, sizeof(best[0]), cand_cmp);
	for (i = 0; i < nbest; i++) {
		/* counted first, so that answer_clear frees a partial one */
		a->nendpoints++;
		if (make_endpoint(p, &best[i].r, &a->endpoints[i]) < 0)
			return -1;
		take_ttl(a, best[i].r.ttl, &first);
	}
	a->outcome = nbest ? HE_SVCB_SERVICE : HE_SVCB_EMPTY;
	if (!nbest)
		a->error = a->nskipped ? "every record was skipped" :
		    "no record";
	return 0;
}

static const char *
rcode_text(int rcode)
{
	switch (rcode) {
	case ns_r_formerr: return "the server said FORMERR";
	case ns_r_servfail: return "the server said SERVFAIL";
	case ns_r_notimpl: return "the server said NOTIMP";
	case ns_r_refused: return "the server said REFUSED";
	}
	return "the server answered with an error";
}

static int
malformed(struct he_svcb_answer *a, const char *why)
{
	he_svcb_answer_set_(a, HE_SVCB_MALFORMED, why);
	return 0;
}

/* The header and the question; NULL, or why the answer is unusable (then
   *outcome says how). */
static const char *
check_header(struct parse *p, const char *qname,
    enum he_svcb_outcome *outcome)
{
	ns_rr rr;
	int rcode;

	*outcome = HE_SVCB_MALFORMED;
	if (p->len > 65535 || ns_initparse(p->msg, (int)p->len, &p->h) < 0)
		return "not a DNS message";
	if (!ns_msg_getflag(p->h, ns_f_qr) ||
	    ns_msg_getflag(p->h, ns_f_opcode) != ns_o_query)
		return "not a response to a query";
	if (ns_msg_count(p->h, ns_s_qd) != 1 ||
	    ns_parserr(&p->h, ns_s_qd, 0, &rr) < 0 ||
	    (int)ns_rr_type(rr) != p->qtype || ns_rr_class(rr) != ns_c_in ||
	    !name_eq(ns_rr_name(rr), qname))
		return "the answer is to another question";
	memcpy(p->owner, ns_rr_name(rr), sizeof(p->owner));
	rcode = ns_msg_getflag(p->h, ns_f_rcode);
	p->out->rcode = rcode;
	if (ns_msg_getflag(p->h, ns_f_tc)) {
		*outcome = HE_SVCB_FAILED;
		return "the answer was truncated";
	}
	if (rcode == ns_r_nxdomain) {
		*outcome = HE_SVCB_EMPTY;
		return "no such name";
	}
	if (rcode != ns_r_noerror) {
		*outcome = HE_SVCB_FAILED;
		return rcode_text(rcode);
	}
	return NULL;
}

int
he_svcb_parse_(const unsigned char *msg, size_t len, const char *qname,
    int qtype, const struct he_svcb_prefs *prefs, struct he_svcb_answer *out)
{
	struct parse pbuf, *p;
	enum he_svcb_outcome outcome;
	const char *err;
	int i, n, naliases = 0, nservices = 0, rcode, rc = -1;
	ns_rr rr;

	if (out)
		he_svcb_answer_clear_(out);
	if (!msg || !qname || !prefs || !out ||
	    (qtype != HE_DNS_TYPE_HTTPS && qtype != HE_DNS_TYPE_SVCB)) {
		errno = EINVAL;
		return -1;
	}
	/* on the stack (about 1.1 KiB): on the heap it was the one
	   allocation of a race past malloc's small bins */
	p = &pbuf;
	memset(p, 0, sizeof(*p));
	p->msg = msg;
	p->len = len;
	p->qtype = qtype;
	p->prefs = prefs;
	p->out = out;
	p->rng.prefs = prefs;
	if ((err = check_header(p, qname, &outcome)) != NULL) {
		rcode = out->rcode;
		he_svcb_answer_set_(out, outcome, err);
		out->rcode = rcode;
		rc = 0;
		goto end;
	}
	if ((err = follow_cnames(p)) != NULL) {
		rc = malformed(out, err);
		goto end;
	}
	/* every record of the RRSet is checked before any is used: one
	   malformed record rejects them all (RFC 9460 section 2.2) */
	n = ns_msg_count(p->h, ns_s_an);
	for (i = 0; i < n; i++) {
		struct rec r;
		int m = answer_rr(p, i, p->owner, qtype, &rr);
		if (m < 0) {
			rc = malformed(out, "a record's name cannot be read");
			goto end;
		}
		if (!m)
			continue;
		if ((err = rec_check(ns_rr_rdata(rr), ns_rr_rdlen(rr), &r))) {
			rc = malformed(out, err);
			goto end;
		}
		if (r.priority == 0)
			naliases++;
		else
			nservices++;
	}
	if (!(out->owner = strdup(p->owner)))
		goto nomem;
	if (naliases)
		rc = use_alias(p, naliases);
	else if (nservices)
		rc = use_service(p);
	else {
		out->outcome = HE_SVCB_EMPTY;
		out->error = "no record";
		rc = 0;
	}
	if (rc == 0)
		goto end;
nomem:
	rcode = out->rcode;
	he_svcb_answer_clear_(out);
	out->rcode = rcode;
	errno = ENOMEM;
	rc = -1;
end:
	return rc;
}

/* ---- reasons ---------------------------------------------------------- */

char *
he_svcb_skip_text_(const struct he_svcb_skip *s,
    const struct he_svcb_prefs *prefs, char *out, size_t len)
{
	char set[128], mine[128], kb[16];
	const char *k = key_name(s->key, kb, sizeof(kb));

	if (!len)
		return out;
	switch (s->why) {
	case HE_SVCB_SKIP_ALPN:
		he_svcb_alpn_text_(s->alpn, s->alpn_len, set, sizeof(set));
		if (prefs && prefs->alpn)
			he_svcb_alpn_text_(prefs->alpn, prefs->alpn_len, mine,
			    sizeof(mine));
		else
			evutil_snprintf(mine, sizeof(mine), "http/1.1");
		evutil_snprintf(out, len, "its ALPN set (%s) shares nothing "
		    "with %s%s", set, mine,
		    he_svcb_alpn_has_(s->alpn, s->alpn_len,
			(const unsigned char *)"h3", 2) ?
		    " (h3 runs over QUIC, which is not raced here)" : "");
		break;
	case HE_SVCB_SKIP_MANDATORY:
		if (s->key == HE_SVCB_KEY_ECH)
			evutil_snprintf(out, len, "ech is mandatory and the "
			    "caller does not use ECH");
		else
			evutil_snprintf(out, len, "mandatory %s is not known "
			    "here", k);
		break;
	case HE_SVCB_SKIP_INCONSISTENT:
		if (s->key == HE_SVCB_KEY_NO_DEFAULT_ALPN)
			evutil_snprintf(out, len,
			    "no-default-alpn without alpn");
		else
			evutil_snprintf(out, len, "mandatory names %s, which "
			    "the record lacks", k);
		break;
	case HE_SVCB_SKIP_PORT:
		evutil_snprintf(out, len, "port 0");
		break;
	case HE_SVCB_SKIP_TARGET:
		evutil_snprintf(out, len, "the target is not a host name");
		break;
	case HE_SVCB_SKIP_SERVICE_BESIDE_ALIAS:
		evutil_snprintf(out, len, "a ServiceMode record beside an "
		    "AliasMode one");
		break;
	case HE_SVCB_SKIP_OTHER_ALIAS:
		evutil_snprintf(out, len, "another AliasMode record was "
		    "picked");
		break;
	case HE_SVCB_SKIP_LIMIT:
		evutil_snprintf(out, len, "more than %d usable records; "
		    "better ones were kept", HE_SVCB_MAX_ENDPOINTS);
		break;
	default:
		evutil_snprintf(out, len, "skipped");
	}
	return out;
}

/* ---- the AliasMode chain ---------------------------------------------- */

/* A name's hash as name_eq compares names: letters folded to lower
   case, a final dot left out. */
static uint64_t
name_hash(const char *name)
{
	size_t n = strlen(name);
	unsigned char ch;
	uint64_t h = HE_FNV_INIT;

	if (n > 1 && name[n - 1] == '.')
		n--;
	while (n--) {
		ch = (unsigned char)*name++;
		if (ch >= 'A' && ch <= 'Z')
			ch = (unsigned char)(ch - 'A' + 'a');
		h = he_fnv_(h, &ch, 1);
	}
	return h;
}

int
he_svcb_chain_init_(struct he_svcb_chain *c, const char *qname, int qtype)
{
	size_t n;

	if (!c || !qname) {
		errno = EINVAL;
		return -1;
	}
	memset(c, 0, sizeof(*c));
	n = strlen(qname);
	if (n > 1 && qname[n - 1] == '.')
		n--;
	if (n >= sizeof(c->qname)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(c->qname, qname, n);
	c->qname[n] = '\0';
	if (!host_like(c->qname)) {
		errno = EINVAL;
		return -1;
	}
	c->qtype = qtype;
	c->seen[0] = name_hash(c->qname);
	c->nseen = 1;
	return 0;
}

enum he_svcb_step
he_svcb_chain_next_(struct he_svcb_chain *c, struct he_svcb_answer *a)
{
	uint64_t h;
	int i;

	if (a->outcome != HE_SVCB_ALIAS)
		return HE_SVCB_DONE;
	h = name_hash(a->alias);
	for (i = 0; i < c->nseen; i++)
		if (c->seen[i] == h) {
			c->error = "AliasMode loop";
			goto stop;
		}
	if (c->naliases == HE_SVCB_MAX_ALIASES) {
		c->error = "AliasMode chain too long";
		goto stop;
	}
	/* host_like in the parse bounded the alias: it fits */
	evutil_snprintf(c->qname, sizeof(c->qname), "%s", a->alias);
	c->seen[c->nseen++] = h;
	c->naliases++;
	return HE_SVCB_ASK;
stop:
	free(a->alias);
	a->alias = NULL;
	a->outcome = HE_SVCB_EMPTY;
	a->error = c->error;
	return HE_SVCB_DONE;
}
