/*
 * NAT64 on address lists: synthesis of a race's IPv4 entries, and DNS64's
 * syntheses recognised.  See he_nat64_list.h.
 *
 * Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).
 */
#include "he_internal.h"
#include "he_nat64_list.h"

#include <errno.h>
#include <string.h>
#include <netinet/in.h>

/* The entry's address when it is a whole one of family (its size
   given), else NULL. */
static const void *
addr_of(const struct evutil_addrinfo *ai, int family, size_t size)
{
	if (ai->ai_family != family || !ai->ai_addr ||
	    ai->ai_addr->sa_family != family || ai->ai_addrlen < size)
		return NULL;
	return ai->ai_addr;
}

static const struct sockaddr_in *
v4_of(const struct evutil_addrinfo *ai)
{
	return addr_of(ai, AF_INET, sizeof(struct sockaddr_in));
}

static const struct sockaddr_in6 *
v6_of(const struct evutil_addrinfo *ai)
{
	return addr_of(ai, AF_INET6, sizeof(struct sockaddr_in6));
}

int
he_nat64_list_has_v4_(const struct evutil_addrinfo *list)
{
	const struct sockaddr_in *sin;
	const unsigned char *a;

	for (; list; list = list->ai_next) {
		if (!(sin = v4_of(list)))
			continue;
		a = (const unsigned char *)&sin->sin_addr;
		/* loopback, "this network", multicast and reserved at a
		   glance (every race on loopback asks) */
		if (a[0] == 127 || a[0] == 0 || a[0] >= 224)
			continue;
		if (he_nat64_v4_class_(a) != HE_NAT64_V4_NEVER)
			return 1;
	}
	return 0;
}

/* Whether a is an address some valid prefix could have made: its u-octet
 * zero, and not where he_nat64_prefix_set_ refuses a prefix to be (its
 * first 96 bits zero, as ::1's are; IPv4-mapped; link-local; multicast). */
static int
maybe_synth(const unsigned char *a)
{
	uint32_t w[3];

	memcpy(w, a, sizeof(w));
	return a[8] == 0 && (w[0] | w[1] | w[2]) != 0 &&
	    !((w[0] | w[1]) == 0 && w[2] == htonl(0xffff)) &&
	    a[0] != 0xff && !(a[0] == 0xfe && (a[1] & 0xc0) == 0x80);
}

int
he_nat64_list_maybe_synth_(const struct evutil_addrinfo *list)
{
	const struct sockaddr_in6 *sin6;

	for (; list; list = list->ai_next)
		if ((sin6 = v6_of(list)) != NULL &&
		    !(HE_AI_META(list)->flags & HE_AI_SYNTH) &&
		    !sin6->sin6_scope_id && maybe_synth(sin6->sin6_addr.s6_addr))
			return 1;
	return 0;
}

/* A synthesized entry for sin6 standing for sin, with src's meta. */
static int
synth_entry(const struct sockaddr_in6 *sin6, const struct sockaddr_in *sin,
    const struct evutil_addrinfo *src, struct evutil_addrinfo **out)
{
	int err = he_addrinfo_new_synth_(sin6, sin, out);

	if (!err) {
		*HE_AI_META(*out) = *HE_AI_META(src);
		HE_AI_META(*out)->flags |= HE_AI_SYNTH;
	}
	return err;
}

/* The synthesis of ai under the first prefix that may carry it, into
 * *out; 0 and *out NULL when none may (or ai is no IPv4 entry). */
static int
synth_one(const struct he_nat64_prefix *p, int n,
    const struct evutil_addrinfo *ai, struct evutil_addrinfo **out)
{
	const struct sockaddr_in *sin = v4_of(ai);
	struct sockaddr_in6 sin6;
	int i;

	*out = NULL;
	for (i = 0; sin && i < n; i++)
		if (he_nat64_synthesize_(&p[i], sin, &sin6) == 0)
			return synth_entry(&sin6, sin, ai, out);
	return 0;
}

int
he_nat64_list_synth_(const struct he_nat64_prefix *p, int n,
    const struct evutil_addrinfo *list, struct evutil_addrinfo **out,
    int *nsynth)
{
	struct evutil_addrinfo *head = NULL, **tail = &head;
	int err = 0, made = 0;

	for (; list && !err; list = list->ai_next) {
		if ((err = synth_one(p, n, list, tail)) == 0 && *tail)
			made++;
		else if (!err)
			err = he_addrinfo_dup_entry_(list, tail);
		if (!err)
			tail = &(*tail)->ai_next;
	}
	if (err) {
		evhappy_addrinfo_free(head);
		head = NULL;
		made = 0;
	}
	*out = head;
	if (nsynth)
		*nsynth = made;
	return err;
}

/* The IPv4 address ai (IPv6) is a DNS64 synthesis of, under one of the
 * prefixes: 1 and *v4, else 0.  Not one that is no server's (loopback,
 * this network...: he_nat64_v4_class_ NEVER), whose identity would be
 * some other path's; a non-global one under the Well-Known Prefix is
 * what the network's DNS64 chose to hand out, and stands for it. */
static int
dns64_of(const struct he_nat64_prefix *p, int n,
    const struct evutil_addrinfo *ai, struct sockaddr_in *v4)
{
	if (!v6_of(ai) || (HE_AI_META(ai)->flags & HE_AI_SYNTH))
		return 0;
	return he_nat64_desynthesize_(p, n, ai->ai_addr, v4) >= 0 &&
	    he_nat64_v4_class_((const unsigned char *)&v4->sin_addr) !=
	    HE_NAT64_V4_NEVER;
}

int
he_nat64_list_mark_(const struct he_nat64_prefix *p, int n,
    const struct evutil_addrinfo *list, struct evutil_addrinfo **out)
{
	const struct evutil_addrinfo *ai;
	struct evutil_addrinfo *head = NULL, **tail = &head;
	struct sockaddr_in v4;
	int err = 0;

	*out = NULL;
	for (ai = list; ai && !dns64_of(p, n, ai, &v4); ai = ai->ai_next)
		;
	if (!ai)
		return 0;	/* nothing to mark: no copy */
	for (ai = list; ai && !err; ai = ai->ai_next) {
		if (dns64_of(p, n, ai, &v4))
			err = synth_entry(v6_of(ai), &v4, ai, tail);
		else
			err = he_addrinfo_dup_entry_(ai, tail);
		if (!err)
			tail = &(*tail)->ai_next;
	}
	if (err) {
		evhappy_addrinfo_free(head);
		return err;
	}
	*out = head;
	return 0;
}
