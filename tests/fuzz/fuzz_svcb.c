/*
 * libFuzzer target: the HTTPS/SVCB answer parser and the client's rules
 * (he_svcb_parse_), the reasons' texts, and a step of the AliasMode chain,
 * on any bytes.
 *
 * Input: byte 0 chooses the question's type (bit 0: SVCB, else HTTPS),
 * whether the caller uses ECH (bit 1), the caller's ALPN list (bits 2-3)
 * and port (bit 4: 8443, else 443); the rest is the DNS message.  The
 * name asked is the message's own question name when it has one (so that
 * the records are reached), else "example.com".
 *
 * Checked, whatever the bytes: 0 comes back with a known outcome; SERVICE
 * has 1 .. HE_SVCB_MAX_ENDPOINTS endpoints in priority order, each with a
 * port in 1 .. 65535, a target, an ALPN set in wire form that shares an id
 * with the caller's (unless a SVCB record without alpn), ECH bytes exactly
 * when it has ECH, at most HE_SVCB_MAX_HINTS hints a family; ALIAS names
 * an alias; only the described skips are kept and each has a target; the
 * same bytes give the same answer again (with the same random source);
 * the chain never asks a name twice.  Leaks are LeakSanitizer's.
 */
#include "he_svcb.h"

#include <arpa/nameser.h>
#include <resolv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t
counter(void *arg)
{
	uint32_t *c = arg;
	return (*c)++ * 2654435761u;
}

/* Whether wire-form ALPN list a is well-formed (ids of 1 .. 255 bytes
   filling it exactly). */
static int
alpn_ok(const unsigned char *a, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if (a[i] == 0 || i + 1 + a[i] > n)
			return 0;
		i += 1 + a[i];
	}
	return i == n;
}

static int
overlaps(const unsigned char *set, size_t setlen, const unsigned char *mine,
    size_t minelen)
{
	size_t i = 0;

	while (i < minelen) {
		if (he_svcb_alpn_has_(set, setlen, mine + i + 1, mine[i]))
			return 1;
		i += 1 + mine[i];
	}
	return 0;
}

static void
check_answer(const struct he_svcb_answer *a, const struct he_svcb_prefs *p,
    int qtype)
{
	char text[512];
	int i;

	CHECK(a->outcome >= HE_SVCB_SERVICE && a->outcome <= HE_SVCB_FAILED,
	    "outcome %d", (int)a->outcome);
	CHECK(a->nskips >= 0 && a->nskips <= HE_SVCB_MAX_SKIPS &&
	    a->nskips <= a->nskipped, "skips %d of %d", a->nskips,
	    a->nskipped);
	CHECK((a->outcome == HE_SVCB_SERVICE) == (a->nendpoints > 0),
	    "%d endpoints for %s", a->nendpoints,
	    he_svcb_outcome_name_(a->outcome));
	CHECK(a->nendpoints <= HE_SVCB_MAX_ENDPOINTS, "%d endpoints",
	    a->nendpoints);
	CHECK((a->outcome == HE_SVCB_ALIAS) == (a->alias != NULL),
	    "alias %p for %s", (void *)a->alias,
	    he_svcb_outcome_name_(a->outcome));
	CHECK(a->outcome == HE_SVCB_SERVICE || a->outcome == HE_SVCB_ALIAS ||
	    a->error != NULL, "%s without a reason",
	    he_svcb_outcome_name_(a->outcome));
	for (i = 0; i < a->nendpoints; i++) {
		const struct he_svcb_endpoint *e = &a->endpoints[i];
		CHECK(e->priority > 0, "endpoint %d of priority 0", i);
		CHECK(i == 0 || a->endpoints[i - 1].priority <= e->priority,
		    "endpoint %d out of order", i);
		CHECK(e->port >= 1 && e->port <= 65535, "port %d", e->port);
		CHECK(e->target && e->target[0], "no target");
		CHECK(alpn_ok(e->alpn, e->alpn_len), "bad ALPN set");
		CHECK((qtype == HE_DNS_TYPE_SVCB && e->alpn_len == 0) ||
		    overlaps(e->alpn, e->alpn_len, p->alpn, p->alpn_len),
		    "an endpoint whose ALPN set is not the caller's");
		CHECK((e->ech != NULL) == (e->ech_len > 0), "ech %zu",
		    e->ech_len);
		CHECK(e->nv4 >= 0 && e->nv4 <= HE_SVCB_MAX_HINTS &&
		    e->nv6 >= 0 && e->nv6 <= HE_SVCB_MAX_HINTS, "hints");
		he_svcb_alpn_text_(e->alpn, e->alpn_len, text, sizeof(text));
		CHECK(strlen(text) < sizeof(text), "alpn text");
	}
	for (i = 0; i < a->nskips; i++) {
		CHECK(a->skips[i].target != NULL, "skip without target");
		he_svcb_skip_text_(&a->skips[i], p, text, sizeof(text));
		CHECK(strlen(text) < sizeof(text) && text[0], "skip text");
	}
}

/* The same answer, field by field (what the race would see). */
static int
same(const struct he_svcb_answer *a, const struct he_svcb_answer *b)
{
	int i;

	if (a->outcome != b->outcome || a->nendpoints != b->nendpoints ||
	    a->nskipped != b->nskipped || a->nskips != b->nskips ||
	    (a->alias == NULL) != (b->alias == NULL) ||
	    (a->alias && strcmp(a->alias, b->alias)))
		return 0;
	for (i = 0; i < a->nendpoints; i++) {
		const struct he_svcb_endpoint *x = &a->endpoints[i],
		    *y = &b->endpoints[i];
		if (x->priority != y->priority || x->port != y->port ||
		    strcmp(x->target, y->target) || x->alpn_len != y->alpn_len ||
		    memcmp(x->alpn, y->alpn, x->alpn_len) ||
		    x->ech_len != y->ech_len ||
		    (x->ech_len && memcmp(x->ech, y->ech, x->ech_len)) ||
		    x->nv4 != y->nv4 || x->nv6 != y->nv6)
			return 0;
	}
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *lists[] = { "http/1.1", "h2,http/1.1", "h3",
	    "h2,h3,http/1.1" };
	struct he_svcb_answer a, b;
	struct he_svcb_prefs prefs;
	struct he_svcb_chain chain;
	unsigned char alpn[64];
	char qname[NS_MAXDNAME] = "example.com";
	const unsigned char *msg;
	uint32_t c1 = 0, c2 = 0;
	size_t len;
	int opt, qtype, n, rc;

	if (size < 1)
		return 0;
	opt = data[0];
	msg = data + 1;
	len = size - 1;
	qtype = (opt & 1) ? HE_DNS_TYPE_SVCB : HE_DNS_TYPE_HTTPS;
	memset(&prefs, 0, sizeof(prefs));
	n = he_svcb_alpn_parse_(lists[(opt >> 2) & 3], alpn, sizeof(alpn));
	CHECK(n > 0, "alpn list");
	prefs.alpn = alpn;
	prefs.alpn_len = (size_t)n;
	prefs.port = (opt & 16) ? 8443 : 443;
	prefs.flags = (opt & 2) ? HE_SVCB_USES_ECH : 0;
	prefs.random = counter;
	/* the question's own name, so that the records are reached */
	if (len > 12 && dn_expand(msg, msg + len, msg + 12, qname,
	    sizeof(qname)) < 0)
		strcpy(qname, "example.com");
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	prefs.random_arg = &c1;
	rc = he_svcb_parse_(msg, len, qname, qtype, &prefs, &a);
	if (rc < 0)
		return 0;	/* ENOMEM: nothing to check */
	check_answer(&a, &prefs, qtype);
	prefs.random_arg = &c2;
	if (he_svcb_parse_(msg, len, qname, qtype, &prefs, &b) == 0) {
		CHECK(same(&a, &b), "the same bytes, another answer");
		he_svcb_answer_clear_(&b);
	}
	/* a chain step on this answer: ASK only for a new name */
	if (he_svcb_chain_init_(&chain, qname, qtype) == 0) {
		enum he_svcb_step st = he_svcb_chain_next_(&chain, &a);
		CHECK(st == HE_SVCB_DONE || strcasecmp(chain.qname, qname) != 0,
		    "the chain asks %s again", qname);
		CHECK(st == HE_SVCB_ASK || a.outcome != HE_SVCB_ALIAS,
		    "an alias left in a final answer");
	}
	he_svcb_answer_clear_(&a);
	return 0;
}
