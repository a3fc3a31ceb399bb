/*
 * Address lists: copying, interleaving by family (RFC 8305 section 4),
 * sorting by destination address selection (RFC 6724 section 6), and the
 * list edits aiohappyeyeballs offers.
 *
 * Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).
 */
#include "he_internal.h"
#include "he_addrinfo.h"
#include "he_hash.h"
#include "he_vec.h"
#include "he_proc.h"
#include "he_time.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

/*
 * Every entry of a list made here is a single allocation holding the
 * entry (the addrinfo and its meta), its address and its canonical name,
 * so an entry is freed, and a list relinked, without knowing how it was
 * made.  The addrinfo comes first: a pointer to it is a pointer to the
 * allocation.  The address takes its own size, not a sockaddr_storage's:
 * 16 or 28 bytes instead of 128, which is most of an entry (see
 * BENCHMARKS.md).
 */
struct he_ai_node {
	struct he_ai_entry e;
	uint64_t rest[];	/* the address, then the name; aligned for both */
};

/* RFC 6724 section 3.1 scope values that matter here. */
#define HE_SCOPE_LINK 0x2
#define HE_SCOPE_SITE 0x5
#define HE_SCOPE_GLOBAL 0xe

/* Rule 9 compares common prefixes only up to the source's prefix length,
 * which getsockname() does not tell.  64 bits is the prefix of nearly every
 * IPv6 subnet; Go's resolver assumes it too. */
#define HE_RULE9_MAX_PREFIX 64

/* How a port with no meaning is replaced for a UDP connect(): BSD kernels
 * refuse port 0.  The probe sends nothing, so any port does. */
#define HE_PROBE_PORT 9

/* ---- single entries ----------------------------------------------------- */

/* The size of a complete address of sa's family when len holds one; else
 * 0. */
static ev_socklen_t
sockaddr_size(const struct sockaddr *sa, ev_socklen_t len)
{
	ev_socklen_t need = 0;

	/* the family may be read only when len covers it */
	if (len >= offsetof(struct sockaddr, sa_family) +
	    sizeof(sa->sa_family)) {
		if (sa->sa_family == AF_INET)
			need = sizeof(struct sockaddr_in);
		else if (sa->sa_family == AF_INET6)
			need = sizeof(struct sockaddr_in6);
	}
	return len < need ? 0 : need;
}

/* One zeroed entry with a copy of the address (salen bytes, at most a
 * sockaddr_storage's) and the name; NULL when memory ran out. */
static struct evutil_addrinfo *
node_new(const struct sockaddr *sa, size_t salen, const char *canonname)
{
	size_t namelen = canonname ? strlen(canonname) + 1 : 0;
	struct he_ai_node *n;

	if (!(n = calloc(1, sizeof(*n) + salen + namelen)))
		return NULL;
	if (sa) {	/* (NULL: the caller fills n->rest) */
		memcpy(n->rest, sa, salen);
		n->e.ai.ai_addr = (struct sockaddr *)n->rest;
		n->e.ai.ai_addrlen = salen;
	}
	if (canonname) {
		n->e.ai.ai_canonname = (char *)n->rest + salen;
		memcpy(n->e.ai.ai_canonname, canonname, namelen);
	}
	return &n->e.ai;
}

static void
node_free(struct evutil_addrinfo *ai)
{
	free(ai);	/* the whole node: see struct he_ai_node */
}

/* A copy of one entry of any list in *out: 0, EINVAL (an address longer
 * than any: corrupt) or ENOMEM. */
static int
node_dup(const struct evutil_addrinfo *src, struct evutil_addrinfo **out)
{
	size_t salen = src->ai_addr ? src->ai_addrlen : 0;
	struct evutil_addrinfo *ai;

	if (salen > sizeof(struct sockaddr_storage))
		return EINVAL;
	if (!(ai = node_new(src->ai_addr, salen, src->ai_canonname)))
		return ENOMEM;
	ai->ai_flags = src->ai_flags;
	ai->ai_family = src->ai_family;
	ai->ai_socktype = src->ai_socktype;
	ai->ai_protocol = src->ai_protocol;
	*out = ai;
	return 0;
}

/* What every entry made from a bare sockaddr says of itself. */
static void
stream_fields(struct evutil_addrinfo *ai)
{
	ai->ai_family = ai->ai_addr->sa_family;
	ai->ai_socktype = SOCK_STREAM;
	ai->ai_protocol = IPPROTO_TCP;
}

int
he_addrinfo_new_(const struct sockaddr *sa, ev_socklen_t len,
    struct evutil_addrinfo **out)
{
	struct evutil_addrinfo *ai;
	ev_socklen_t size;

	*out = NULL;
	if (!sa || !(size = sockaddr_size(sa, len)))
		return EINVAL;
	/* only the family's own bytes: len may be a sockaddr_storage's */
	if (!(ai = node_new(sa, size, NULL)))
		return ENOMEM;
	stream_fields(ai);
	*out = ai;
	return 0;
}

/* Whether a list copy takes entry e: a stream (or unspecified) entry of
 * the two families, of `family` unless that is AF_UNSPEC, with an
 * address. */
static int
stream_entry(const struct evutil_addrinfo *e, int family)
{
	return (e->ai_family == AF_INET || e->ai_family == AF_INET6) &&
	    e->ai_addr && (family == AF_UNSPEC || e->ai_family == family) &&
	    (!e->ai_socktype || e->ai_socktype == SOCK_STREAM);
}

int
he_addrinfo_new_synth_(const struct sockaddr_in6 *sin6,
    const struct sockaddr_in *sin, struct evutil_addrinfo **out)
{
	struct evutil_addrinfo *ai;

	/* both addresses in the node: the identity right after the one
	 * connected to (he_ai_identity_) */
	*out = NULL;
	if (!(ai = node_new(NULL, sizeof(*sin6) + sizeof(*sin), NULL)))
		return ENOMEM;
	ai->ai_addr = (struct sockaddr *)((struct he_ai_node *)(void *)ai)
	    ->rest;
	memcpy(ai->ai_addr, sin6, sizeof(*sin6));
	memcpy((char *)ai->ai_addr + sizeof(*sin6), sin, sizeof(*sin));
	ai->ai_addrlen = sizeof(*sin6);
	stream_fields(ai);
	HE_AI_META(ai)->flags = HE_AI_SYNTH;
	*out = ai;
	return 0;
}

struct evutil_addrinfo *
he_ai_room_fill_(struct he_ai_room *room, const struct evutil_addrinfo *src)
{
	struct evutil_addrinfo *ai = &room->e.ai;
	ev_socklen_t size;

	if (!stream_entry(src, AF_UNSPEC) ||
	    !(size = sockaddr_size(src->ai_addr,
	    (ev_socklen_t)src->ai_addrlen)) || size > sizeof(room->sa))
		return NULL;
	memcpy(room->sa, src->ai_addr, size);
	ai->ai_addr = (struct sockaddr *)room->sa;
	ai->ai_addrlen = size;
	stream_fields(ai);
	return ai;
}

struct evutil_addrinfo *
evhappy_addrinfo_from_sockaddr(const struct sockaddr *sa, ev_socklen_t len)
{
	struct evutil_addrinfo *ai;
	int err;

	if (!sa)
		return NULL;
	if ((err = he_addrinfo_new_(sa, len, &ai)) != 0)
		errno = err;
	return ai;
}

int
he_sockaddr_equal_(const struct sockaddr *a, const struct sockaddr *b)
{
	const struct sockaddr_in *a4, *b4;
	const struct sockaddr_in6 *a6, *b6;

	if (!a || !b || a->sa_family != b->sa_family)
		return 0;
	if (a->sa_family == AF_INET) {
		a4 = (const struct sockaddr_in *)a;
		b4 = (const struct sockaddr_in *)b;
		return a4->sin_port == b4->sin_port &&
		    a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		a6 = (const struct sockaddr_in6 *)a;
		b6 = (const struct sockaddr_in6 *)b;
		return a6->sin6_port == b6->sin6_port &&
		    a6->sin6_scope_id == b6->sin6_scope_id &&
		    !memcmp(&a6->sin6_addr, &b6->sin6_addr,
			sizeof(a6->sin6_addr));
	}
	return 0;
}

static int
sockaddr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return -1;
}

static void
sockaddr_set_port(struct sockaddr *sa, int port)
{
	if (!sa)
		return;
	if (sa->sa_family == AF_INET)
		((struct sockaddr_in *)sa)->sin_port = htons((uint16_t)port);
	else if (sa->sa_family == AF_INET6)
		((struct sockaddr_in6 *)sa)->sin6_port = htons((uint16_t)port);
}

/* ---- whole lists -------------------------------------------------------- */

struct evutil_addrinfo *
evhappy_addrinfo_dup(const struct evutil_addrinfo *list)
{
	struct evutil_addrinfo *head = NULL, **tail = &head, *ai;
	int err;

	for (; list; list = list->ai_next) {
		if ((err = node_dup(list, &ai)) != 0) {
			evhappy_addrinfo_free(head);
			errno = err;
			return NULL;
		}
		*tail = ai;
		tail = &ai->ai_next;
	}
	return head;
}

void
evhappy_addrinfo_free(struct evutil_addrinfo *list)
{
	struct evutil_addrinfo *next;

	for (; list; list = next) {
		next = list->ai_next;
		node_free(list);
	}
}

struct evutil_addrinfo *
he_addrinfo_concat_(struct evutil_addrinfo *a, struct evutil_addrinfo *b)
{
	struct evutil_addrinfo *t = a;

	if (!a)
		return b;
	while (t->ai_next)
		t = t->ai_next;
	t->ai_next = b;
	return a;
}

void
he_addrinfo_set_port_(struct evutil_addrinfo *list, int port)
{
	for (; list; list = list->ai_next) {
		sockaddr_set_port(list->ai_addr, port);
		if (HE_AI_META(list)->flags & HE_AI_SYNTH)
			sockaddr_set_port((struct sockaddr *)
			    he_ai_identity_(list), port);
	}
}

int
he_addrinfo_dup_entry_(const struct evutil_addrinfo *src, struct evutil_addrinfo **out)
{
	int err;

	if (HE_AI_META(src)->flags & HE_AI_SYNTH)
		err = he_addrinfo_new_synth_(
		    (const struct sockaddr_in6 *)(const void *)src->ai_addr,
		    (const struct sockaddr_in *)(const void *)
		    he_ai_identity_(src), out);
	else
		err = he_addrinfo_new_(src->ai_addr,
		    (ev_socklen_t)src->ai_addrlen, out);
	if (!err)
		*HE_AI_META(*out) = *HE_AI_META(src);
	return err;
}

int
he_addrinfo_dup_(const struct evutil_addrinfo *list,
    struct evutil_addrinfo **out)
{
	struct evutil_addrinfo *head = NULL, **tail = &head;
	int err;

	for (; list; list = list->ai_next) {
		if ((err = he_addrinfo_dup_entry_(list, tail)) != 0) {
			evhappy_addrinfo_free(head);
			*out = NULL;
			return err;
		}
		tail = &(*tail)->ai_next;
	}
	*out = head;
	return 0;
}

void
he_addrinfo_set_group_(struct evutil_addrinfo *list, unsigned group)
{
	for (; list; list = list->ai_next)
		HE_AI_META(list)->group = (uint16_t)group;
}

int
he_sockaddr_port_(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)sa)
		    ->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)(const void *)sa)
		    ->sin6_port);
	return 0;
}

int
he_addrinfo_copy_stream_(const struct evutil_addrinfo *list, int family,
    struct evutil_addrinfo **out)
{
	struct evutil_addrinfo *head = NULL, **tail = &head, *ai;
	int err;

	for (; list; list = list->ai_next) {
		if (!stream_entry(list, family))
			continue;
		/* ENOMEM, or EINVAL for a short address */
		if ((err = he_addrinfo_new_(list->ai_addr,
		    (ev_socklen_t)list->ai_addrlen, &ai)) != 0) {
			evhappy_addrinfo_free(head);
			*out = NULL;
			return err;
		}
		*tail = ai;
		tail = &ai->ai_next;
	}
	*out = head;
	return 0;
}

/* ---- which addresses may be connected to -------------------------------- */

static int
v4_usable(const unsigned char *a)
{
	if (!a[0] && !a[1] && !a[2] && !a[3])
		return 0;		/* 0.0.0.0: a local service */
	if ((a[0] & 0xf0) == 0xe0)
		return 0;		/* 224.0.0.0/4: multicast */
	return !(a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255);
}

int
he_addr_usable_(const struct sockaddr *sa)
{
	static const unsigned char mapped[12] = { 0,0,0,0, 0,0,0,0,
	    0,0,0xff,0xff };
	static const unsigned char any[16];
	const unsigned char *a;

	if (!sa)
		return 0;
	if (sa->sa_family == AF_INET)
		return v4_usable((const unsigned char *)
		    &((const struct sockaddr_in *)sa)->sin_addr);
	if (sa->sa_family != AF_INET6)
		return 0;
	a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
	if (a[0] == 0xff)
		return 0;		/* ff00::/8: multicast */
	if (!memcmp(a, mapped, sizeof(mapped)))
		return v4_usable(a + 12);
	return memcmp(a, any, sizeof(any)) != 0;	/* :: */
}

/* ---- families ----------------------------------------------------------- */

/*
 * Interleaving and pop_interleave work on each family's entries in order.
 * A family table hands each family a queue, numbered in the order of the
 * family's first appearance.  A real list has one or two families, found by
 * a look along the few queues held on the stack; a foreign list with more
 * families than that gets a hash index, so no list costs more than O(n).
 */
#define HE_FAM_INLINE 8

struct he_fam_queue {
	struct he_hnode node;		/* in the index */
	int family;
	int count;			/* entries seen (pop_interleave) */
	struct evutil_addrinfo *head, **tail;
};

struct he_fam_table {
	struct he_fam_queue inline_q[HE_FAM_INLINE];
	struct he_fam_queue *q;		/* inline_q, or on the heap */
	size_t n, cap;
	struct he_htab index;		/* used beyond HE_FAM_INLINE */
};

static void
fam_table_init(struct he_fam_table *t)
{
	t->q = t->inline_q;
	t->n = 0;
	t->cap = HE_FAM_INLINE;
	memset(&t->index, 0, sizeof(t->index));
}

static void
fam_table_clear(struct he_fam_table *t)
{
	if (t->q != t->inline_q)
		free(t->q);
	he_htab_free_(&t->index);
	fam_table_init(t);
}

static uint64_t
fam_hash(int family)
{
	return he_hash_word_((uint64_t)(unsigned)family);
}

static struct he_fam_queue *
fam_find(const struct he_fam_table *t, int family)
{
	struct he_hnode *n;
	size_t i;

	if (t->n <= HE_FAM_INLINE) {
		for (i = 0; i < t->n; i++)
			if (t->q[i].family == family)
				return &t->q[i];
		return NULL;
	}
	for (n = he_htab_first_(&t->index, fam_hash(family)); n;
	    n = he_htab_next_(n))
		if (HE_CONTAINER(n, struct he_fam_queue, node)->family ==
		    family)
			return HE_CONTAINER(n, struct he_fam_queue, node);
	return NULL;
}

/* Room for one more queue; the queues may move, so the index is made
 * anew (O(families), on each doubling). */
static int
fam_grow(struct he_fam_table *t)
{
	size_t cap = he_vec_cap_(t->cap, t->n + 1, HE_FAM_INLINE), i;
	struct he_fam_queue *q;

	if (!cap || !(q = he_vec_grow_(t->q, t->inline_q, t->n, cap,
	    sizeof(*q))))
		return ENOMEM;
	t->q = q;
	t->cap = cap;
	he_htab_free_(&t->index);
	if (he_htab_reserve_(&t->index, 2 * cap) != 0)
		return ENOMEM;
	for (i = 0; i < t->n; i++)
		he_htab_add_(&t->index, &q[i].node, fam_hash(q[i].family));
	return 0;
}

/* The queue of family, made on its first appearance; NULL when out of
 * memory (only with more than HE_FAM_INLINE families). */
static struct he_fam_queue *
fam_queue(struct he_fam_table *t, int family)
{
	struct he_fam_queue *q = fam_find(t, family);

	if (q)
		return q;
	if (t->n == t->cap && fam_grow(t) != 0)
		return NULL;
	q = &t->q[t->n++];
	q->family = family;
	q->count = 0;
	q->head = NULL;
	if (t->n > HE_FAM_INLINE)	/* the index has room: fam_grow */
		he_htab_add_(&t->index, &q->node, fam_hash(family));
	return q;
}

/* Give every family of *list its queue, in order of first appearance, and
 * nothing else: the list is untouched.  0, or ENOMEM (only with more than
 * HE_FAM_INLINE families). */
static int
fam_index_all(struct he_fam_table *t, const struct evutil_addrinfo *list)
{
	for (; list; list = list->ai_next)
		if (!fam_queue(t, list->ai_family)) {
			fam_table_clear(t);
			return ENOMEM;
		}
	return 0;
}

/* Move every entry of *list to its family's queue, in order. */
static void
fam_split(struct he_fam_table *t, struct evutil_addrinfo **list)
{
	struct evutil_addrinfo *ai;
	struct he_fam_queue *q;
	size_t i;

	for (i = 0; i < t->n; i++) {
		t->q[i].head = NULL;
		t->q[i].tail = &t->q[i].head;
	}
	while ((ai = *list) != NULL) {
		*list = ai->ai_next;
		ai->ai_next = NULL;
		q = fam_find(t, ai->ai_family);
		*q->tail = ai;
		q->tail = &ai->ai_next;
	}
}

/* Pop the head of queue q onto *tail; returns the new tail. */
static struct evutil_addrinfo **
fam_take(struct he_fam_queue *q, struct evutil_addrinfo **tail)
{
	struct evutil_addrinfo *ai = q->head;

	q->head = ai->ai_next;
	ai->ai_next = NULL;
	*tail = ai;
	return &ai->ai_next;
}

/* Drop the emptied queues, keeping the others in order; returns how many
 * are left.  A turn then costs what it moves, however many families.
 * (The index is not used once splitting is done.) */
static size_t
fam_compact(struct he_fam_queue *q, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		if (q[i].head)
			q[k++] = q[i];
	return k;
}

/* ---- interleaving (RFC 8305 section 4) ---------------------------------- */

int
evhappy_addrinfo_interleave(struct evutil_addrinfo **list,
    int first_address_family_count)
{
	struct evutil_addrinfo *out = NULL, **tail = &out;
	struct he_fam_table t;
	int lead = first_address_family_count - 1, err;
	size_t live, i;

	if (!list || first_address_family_count < 1) {
		errno = EINVAL;
		return -1;
	}
	if (!*list || !(*list)->ai_next)
		return 0;	/* nothing to reorder: no table either */
	fam_table_init(&t);
	if ((err = fam_index_all(&t, *list)) != 0) {
		errno = err;
		return -1;
	}
	fam_split(&t, list);
	/* the first turn takes one more of the first family */
	while (lead-- > 0 && t.n && t.q[0].head)
		tail = fam_take(&t.q[0], tail);
	/* then each turn one of every family, in order of first appearance */
	live = fam_compact(t.q, t.n);
	while (live > 0) {
		for (i = 0; i < live; i++)
			tail = fam_take(&t.q[i], tail);
		live = fam_compact(t.q, live);
	}
	fam_table_clear(&t);
	*list = out;
	return 0;
}

/* ---- editing ------------------------------------------------------------ */

int
evhappy_addrinfo_pop_interleave(struct evutil_addrinfo **list, int interleave)
{
	struct evutil_addrinfo *ai, **pp;
	struct he_fam_queue *q;
	struct he_fam_table t;
	int n = 0, err;

	if (!list) {
		errno = EINVAL;
		return -1;
	}
	if (interleave <= 0)
		interleave = 1;
	fam_table_init(&t);
	if ((err = fam_index_all(&t, *list)) != 0) {
		errno = err;
		return -1;
	}
	for (pp = list; (ai = *pp) != NULL; ) {
		q = fam_find(&t, ai->ai_family);
		if (q->count < interleave) {
			q->count++;
			*pp = ai->ai_next;
			node_free(ai);
			n++;
		} else {
			pp = &ai->ai_next;
		}
	}
	fam_table_clear(&t);
	return n;
}

/* Whether an entry holds the address sa (whose size is known good). */
static int
entry_is(const struct evutil_addrinfo *ai, const struct sockaddr *sa)
{
	if (!ai->ai_addr || ai->ai_addr->sa_family != sa->sa_family)
		return 0;
	/* a foreign list may hold a short address: never read past it */
	if (sockaddr_size(ai->ai_addr, ai->ai_addrlen) == 0)
		return 0;
	return he_sockaddr_equal_(ai->ai_addr, sa);
}

int
evhappy_addrinfo_remove(struct evutil_addrinfo **list,
    const struct sockaddr *sa, ev_socklen_t len)
{
	struct evutil_addrinfo *ai, **pp = list;
	int n = 0;

	if (!list || !sa || !sockaddr_size(sa, len)) {
		errno = EINVAL;
		return -1;
	}
	while ((ai = *pp) != NULL) {
		if (entry_is(ai, sa)) {
			*pp = ai->ai_next;
			node_free(ai);
			n++;
		} else {
			pp = &ai->ai_next;
		}
	}
	if (!n)
		errno = ENOENT;
	return n;
}

/* ---- RFC 6724 destination address selection ----------------------------- */

/* The default policy table of RFC 6724 section 2.1. */
struct he_policy {
	uint8_t prefix[16];
	int len, precedence, label;
};

static const struct he_policy he_policy_table[] = {
	/* ::1/128 */
	{ { 0,0,0,0, 0,0,0,0, 0,0,0,0, 0,0,0,1 }, 128, 50, 0 },
	/* ::/0 */
	{ { 0 }, 0, 40, 1 },
	/* ::ffff:0:0/96 */
	{ { 0,0,0,0, 0,0,0,0, 0,0,0xff,0xff }, 96, 35, 4 },
	/* 2002::/16 */
	{ { 0x20, 0x02 }, 16, 30, 2 },
	/* 2001::/32 */
	{ { 0x20, 0x01, 0, 0 }, 32, 5, 5 },
	/* fc00::/7 */
	{ { 0xfc }, 7, 3, 13 },
	/* ::/96 */
	{ { 0 }, 96, 1, 3 },
	/* fec0::/10 */
	{ { 0xfe, 0xc0 }, 10, 1, 11 },
	/* 3ffe::/16 */
	{ { 0x3f, 0xfe }, 16, 1, 12 },
};

/* How many leading bits a and b share, counting no further than max. */
static int
common_prefix(const uint8_t *a, const uint8_t *b, int max)
{
	int bits = 0;
	unsigned x;

	while (bits < max) {
		x = (unsigned)(a[bits / 8] ^ b[bits / 8]);
		if (x) {
			while (!(x & 0x80)) {
				x <<= 1;
				bits++;
			}
			break;
		}
		bits += 8;
	}
	return bits < max ? bits : max;
}

/* Whether a starts with the len-bit prefix. */
static int
prefix_matches(const uint8_t *a, const uint8_t *prefix, int len)
{
	int bytes = len / 8, bits = len % 8;

	if (memcmp(a, prefix, (size_t)bytes) != 0)
		return 0;
	return !bits || !((a[bytes] ^ prefix[bytes]) &
	    (uint8_t)(0xff << (8 - bits)));
}

/* The longest matching prefix of the policy table. */
static const struct he_policy *
policy_of(const uint8_t *a)
{
	const struct he_policy *p, *best = NULL;
	size_t i;

	for (i = 0; i < sizeof(he_policy_table) / sizeof(*p); i++) {
		p = &he_policy_table[i];
		if ((!best || p->len > best->len) &&
		    prefix_matches(a, p->prefix, p->len))
			best = p;
	}
	return best;	/* ::/0 always matches */
}

static int
is_v4mapped(const uint8_t *a)
{
	static const uint8_t mapped[12] = { 0,0,0,0, 0,0,0,0, 0,0,0xff,0xff };

	return !memcmp(a, mapped, sizeof(mapped));
}

/* RFC 6724 section 3.2: IPv4 loopback and autoconfiguration addresses are
 * link-local; every other IPv4 address, private ones too, is global. */
static int
scope_of_v4(const uint8_t *a)
{
	if (a[0] == 127 || (a[0] == 169 && a[1] == 254))
		return HE_SCOPE_LINK;
	return HE_SCOPE_GLOBAL;
}

static int
scope_of(const uint8_t *a)
{
	static const uint8_t loopback[16] = { 0,0,0,0, 0,0,0,0,
	    0,0,0,0, 0,0,0,1 };

	if (a[0] == 0xff)
		return a[1] & 0x0f;	/* multicast: the scope field */
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
		return HE_SCOPE_LINK;
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0)
		return HE_SCOPE_SITE;
	if (!memcmp(a, loopback, sizeof(loopback)))
		return HE_SCOPE_LINK;
	if (is_v4mapped(a))
		return scope_of_v4(a + 12);
	return HE_SCOPE_GLOBAL;
}

/* The address as IPv6 bytes, IPv4 as ::ffff:a.b.c.d (section 2.1); returns
 * 0 for an address that is neither or too short. */
static int
to_v6(const struct sockaddr *sa, ev_socklen_t len, uint8_t *out)
{
	if (!sa || !sockaddr_size(sa, len))
		return 0;
	if (sa->sa_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return 1;
	}
	memset(out, 0, 10);
	out[10] = out[11] = 0xff;
	memcpy(out + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	return 1;
}

/* What the rules compare about one destination and its source. */
struct he_sort_key {
	struct evutil_addrinfo *ai;
	int usable;			/* a source was found (rule 1) */
	int scope, precedence, label;	/* of the destination */
	int src_scope, src_label;
	int v6;				/* destination and source are IPv6 */
	int prefix;			/* their common prefix, capped */
};

static void
key_init(struct he_sort_key *k, struct evutil_addrinfo *ai,
    he_source_fn source, void *arg)
{
	struct sockaddr_storage src;
	const struct he_policy *p;
	uint8_t d[16], s[16];

	memset(k, 0, sizeof(*k));
	k->ai = ai;
	if (!to_v6(ai->ai_addr, ai->ai_addrlen, d))
		return;
	p = policy_of(d);
	k->scope = scope_of(d);
	k->precedence = p->precedence;
	k->label = p->label;
	memset(&src, 0, sizeof(src));
	if (source(ai->ai_addr, ai->ai_addrlen, &src, arg) != 0 ||
	    !to_v6((struct sockaddr *)&src, sizeof(src), s))
		return;
	k->usable = 1;
	k->src_scope = scope_of(s);
	k->src_label = policy_of(s)->label;
	k->v6 = ai->ai_addr->sa_family == AF_INET6 && src.ss_family == AF_INET6;
	k->prefix = common_prefix(d, s, HE_RULE9_MAX_PREFIX);
}

/* 1 when only a holds, -1 when only b holds, else 0. */
static int
prefer(int a, int b)
{
	return (a && !b) - (b && !a);
}

/* Positive when a goes before b, negative when b goes first, 0 to keep
 * their order (rule 10).  Rules 3, 4 and 7 need facts about the source (a
 * deprecated, home or tunnel address) that getsockname() does not tell. */
static int
key_cmp(const struct he_sort_key *a, const struct he_sort_key *b)
{
	int r;

	/* rule 1; the other rules need sources, so destinations without one
	 * keep their given order among themselves */
	r = prefer(a->usable, b->usable);
	if (r || !a->usable)
		return r;
	r = prefer(a->scope == a->src_scope, b->scope == b->src_scope);
	if (r)							/* rule 2 */
		return r;
	r = prefer(a->label == a->src_label, b->label == b->src_label);
	if (r)							/* rule 5 */
		return r;
	if (a->precedence != b->precedence)			/* rule 6 */
		return a->precedence > b->precedence ? 1 : -1;
	if (a->scope != b->scope)				/* rule 8 */
		return a->scope < b->scope ? 1 : -1;
	if (a->v6 && b->v6 && a->prefix != b->prefix)		/* rule 9 */
		return a->prefix > b->prefix ? 1 : -1;
	return 0;
}

/* Merge the ordered runs k[lo, mid) and k[mid, hi) into out[lo, hi); an
 * entry of the right run goes first only when strictly preferred, so equal
 * keys keep their order (rule 10). */
static void
keys_merge(const struct he_sort_key *k, struct he_sort_key *out, size_t lo,
    size_t mid, size_t hi)
{
	size_t i = lo, j = mid, o = lo;

	/* runs already in order (ties, a sorted answer) are only copied */
	if (mid < hi && key_cmp(&k[mid], &k[mid - 1]) > 0) {
		while (i < mid && j < hi)
			out[o++] = key_cmp(&k[j], &k[i]) > 0 ? k[j++] : k[i++];
	}
	memcpy(&out[o], &k[i], (mid - i) * sizeof(*k));
	o += mid - i;
	memcpy(&out[o], &k[j], (hi - j) * sizeof(*k));
}

/* Stable bottom-up merge sort, O(n log n) whatever the input: a huge or
 * hostile DNS answer costs no more than its size says.  tmp holds n keys. */
static void
keys_sort(struct he_sort_key *k, struct he_sort_key *tmp, size_t n)
{
	struct he_sort_key *from = k, *to = tmp, *t;
	size_t width, lo, mid, hi;

	for (width = 1; width < n; width *= 2) {
		for (lo = 0; lo < n; lo += 2 * width) {
			mid = lo + width < n ? lo + width : n;
			hi = lo + 2 * width < n ? lo + 2 * width : n;
			keys_merge(from, to, lo, mid, hi);
		}
		t = from;
		from = to;
		to = t;
	}
	if (from != k)
		memcpy(k, from, n * sizeof(*k));
}

size_t
he_addrinfo_len_(const struct evutil_addrinfo *list)
{
	size_t n = 0;

	for (; list; list = list->ai_next)
		n++;
	return n;
}

int
he_addrinfo_sort_with_(struct evutil_addrinfo **list, he_source_fn source,
    void *arg)
{
	struct he_sort_key *keys;
	struct evutil_addrinfo *ai;
	size_t n, i;

	if (!list || !source)
		return EINVAL;
	n = he_addrinfo_len_(*list);
	if (n < 2)
		return 0;
	/* the keys, then as many again for the merges */
	keys = n < SIZE_MAX / (2 * sizeof(*keys)) ?
	    malloc(2 * n * sizeof(*keys)) : NULL;
	if (!keys)
		return ENOMEM;
	for (i = 0, ai = *list; ai; ai = ai->ai_next, i++)
		key_init(&keys[i], ai, source, arg);
	keys_sort(keys, keys + n, n);
	for (i = 0; i < n; i++)
		keys[i].ai->ai_next = i + 1 < n ? keys[i + 1].ai : NULL;
	*list = keys[0].ai;
	free(keys);
	return 0;	/* failed probes mean "no route", not failure */
}

/* ---- source addresses, cached per destination prefix -------------------- */

/*
 * The kernel picks a source from the route to the destination, and routes
 * cover prefixes, not hosts: every destination in one routed prefix gets
 * the same source.  So one probe answers for its whole prefix:
 * - IPv6: the /64 (and the scope id: a link-local /64 is one per
 *   interface).  /64 is the subnet size of nearly every IPv6 network, and
 *   rule 9 looks at 64 bits only, so within a /64 it gives the same answer
 *   whatever the source.  Addresses in ::/64 (::1, v4-mapped) are keyed
 *   whole: their routes are not those of their /64.
 * - IPv4: the /24, the longest prefix end hosts route by in practice, and
 *   for IPv4 the source decides only rules 1 and 2 (reachable, and loopback
 *   or link-local scope, which are /8 and /16 wide).  A probe refused with
 *   EACCES (a subnet's broadcast address) is not cached: it says nothing
 *   of its neighbours.
 * The cache lives for one sort: routes and addresses change with the
 * network (an interface goes down, a VPN comes up), and a cache that
 * outlived the sort would need to learn of that; within one sort it is
 * fresh by construction, and one sort per DNS answer is where the probes
 * were multiplying.
 * A hostile answer of many prefixes still makes at most HE_PROBE_BUDGET
 * probes; after that a new prefix takes the last source found for its
 * family (the default route's, usually), and ordering degrades to the
 * prefix rules that need no probe, instead of blocking the loop.
 */
struct he_src_key {
	int family;
	uint32_t scope;
	uint8_t bytes[16];
};

struct he_src_entry {
	struct he_hnode node;
	int ok;
	struct he_src_key key;
	struct sockaddr_in6 src;	/* big enough for either family */
};

/* Lists this short (most) look their few entries up one by one, on the
 * stack: a table and two allocations would cost more than they save. */
#define HE_SRC_SMALL 8

struct he_src_cache {
	he_source_fn probe;
	void *arg;
	struct he_htab index;		/* unused for a small list */
	int small;
	struct he_src_entry *e;		/* probes made so far */
	int probes;
	int exact;			/* entries keyed by a whole address */
	struct he_src_entry last[2];	/* the family's last found: v6, v4 */
};

static void
src_key(const struct sockaddr *dst, struct he_src_key *k)
{
	static const uint8_t zero[8];
	const struct sockaddr_in6 *sin6;

	memset(k, 0, sizeof(*k));
	k->family = dst->sa_family;
	if (dst->sa_family == AF_INET) {
		memcpy(k->bytes, &((const struct sockaddr_in *)dst)->sin_addr,
		    3);
		return;
	}
	sin6 = (const struct sockaddr_in6 *)dst;
	k->scope = sin6->sin6_scope_id;
	memcpy(k->bytes, &sin6->sin6_addr,
	    memcmp(&sin6->sin6_addr, zero, 8) ? 8 : 16);
}

/* A whole address, for an answer that holds for it alone; never equal to
 * a prefix's key. */
static void
src_exact_key(const struct sockaddr *dst, struct he_src_key *k)
{
	memset(k, 0, sizeof(*k));
	k->family = dst->sa_family | 0x10000;
	if (dst->sa_family == AF_INET) {
		memcpy(k->bytes, &((const struct sockaddr_in *)dst)->sin_addr,
		    4);
		return;
	}
	k->scope = ((const struct sockaddr_in6 *)dst)->sin6_scope_id;
	memcpy(k->bytes, &((const struct sockaddr_in6 *)dst)->sin6_addr, 16);
}

static struct he_src_entry *
src_find(struct he_src_cache *c, const struct he_src_key *k)
{
	struct he_hnode *n;
	int i;

	if (c->small) {
		for (i = 0; i < c->probes; i++)
			if (!memcmp(&c->e[i].key, k, sizeof(*k)))
				return &c->e[i];
		return NULL;
	}
	for (n = he_htab_first_(&c->index, he_hash_bytes_(k, sizeof(*k), 0));
	    n; n = he_htab_next_(n)) {
		struct he_src_entry *e = HE_CONTAINER(n, struct he_src_entry,
		    node);
		if (!memcmp(&e->key, k, sizeof(*k)))
			return e;
	}
	return NULL;
}

static int
src_answer(const struct he_src_entry *e, struct sockaddr_storage *src)
{
	if (!e->ok)
		return ENETUNREACH;
	memcpy(src, &e->src, sizeof(e->src));
	return 0;
}

/* Probe for dst and keep the answer under its prefix's key (or, refused
 * with EACCES, its own); the cache has room: a probe per entry at most. */
static struct he_src_entry *
src_probe(struct he_src_cache *c, const struct sockaddr *dst,
    ev_socklen_t dstlen, struct he_src_key *k)
{
	struct he_src_entry *e = &c->e[c->probes++];
	struct sockaddr_storage ss;
	int err;

	memset(&ss, 0, sizeof(ss));
	err = c->probe(dst, dstlen, &ss, c->arg);
	if (err == EACCES) {
		/* Kept for this address alone, so that its repeats sort alike
		 * even once the budget is spent. */
		src_exact_key(dst, k);
		c->exact = 1;
	}
	memset(e, 0, sizeof(*e));
	e->key = *k;
	e->ok = err == 0;
	if (e->ok)
		memcpy(&e->src, &ss, sizeof(e->src));
	if (!c->small)
		he_htab_add_(&c->index, &e->node,
		    he_hash_bytes_(k, sizeof(*k), 0));
	return e;
}

static int
cached_source(const struct sockaddr *dst, ev_socklen_t dstlen,
    struct sockaddr_storage *src, void *arg)
{
	struct he_src_cache *c = arg;
	struct he_src_entry *e, *last;
	struct he_src_key k;

	if (c->exact) {
		src_exact_key(dst, &k);
		if ((e = src_find(c, &k)) != NULL)
			return src_answer(e, src);
	}
	src_key(dst, &k);
	if ((e = src_find(c, &k)) != NULL)
		return src_answer(e, src);
	last = &c->last[dst->sa_family == AF_INET6 ? 0 : 1];
	if (c->probes >= HE_PROBE_BUDGET)
		return src_answer(last, src);
	e = src_probe(c, dst, dstlen, &k);
	if (e->ok) {
		last->ok = 1;
		last->src = e->src;
	}
	return src_answer(e, src);
}

int
he_addrinfo_sort_cached_(struct evutil_addrinfo **list, he_source_fn probe,
    void *arg)
{
	struct he_src_entry small[HE_SRC_SMALL];
	struct he_src_cache c;
	size_t n;
	int err;

	if (!list || !probe)
		return EINVAL;
	n = he_addrinfo_len_(*list);
	if (n < 2)
		return 0;
	/* at most a probe per entry, and never more than the budget */
	if (n > HE_PROBE_BUDGET)
		n = HE_PROBE_BUDGET;
	memset(&c, 0, sizeof(c));
	c.probe = probe;
	c.arg = arg;
	c.small = n <= HE_SRC_SMALL;
	if (c.small)
		c.e = small;
	else if (!(c.e = malloc(n * sizeof(*c.e))) ||
	    he_htab_reserve_(&c.index, 2 * n) != 0) {
		free(c.e);
		return ENOMEM;
	}
	err = he_addrinfo_sort_with_(list, cached_source, &c);
	if (!c.small) {
		he_htab_free_(&c.index);
		free(c.e);
	}
	return err;
}

static evutil_socket_t
udp_socket(int family)
{
#ifdef SOCK_CLOEXEC
	/* no window in which a fork()ing thread could inherit it */
	return socket(family, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
#else
	evutil_socket_t fd = socket(family, SOCK_DGRAM, IPPROTO_UDP);

	if (fd >= 0)
		evutil_make_socket_closeonexec(fd);
	return fd;
#endif
}

int
he_source_by_udp_connect_(const struct sockaddr *dst, ev_socklen_t dstlen,
    struct sockaddr_storage *src, void *arg)
{
	struct sockaddr_storage to;
	ev_socklen_t size, srclen = sizeof(*src);
	evutil_socket_t fd = -1;
	int err = 0;

	(void)arg;
	if (!dst || !src || !(size = sockaddr_size(dst, dstlen)))
		return EINVAL;
	memcpy(&to, dst, size);
	if (sockaddr_port((struct sockaddr *)&to) == 0)
		sockaddr_set_port((struct sockaddr *)&to, HE_PROBE_PORT);
	if ((fd = udp_socket(dst->sa_family)) < 0)
		return errno;
	/* a UDP connect() only picks the route and the source address */
	if (connect(fd, (struct sockaddr *)&to, size) < 0 ||
	    getsockname(fd, (struct sockaddr *)src, &srclen) < 0)
		err = errno;
	evutil_closesocket(fd);
	return err;
}

/* ---- the process's memory of probes ------------------------------------ */

/* Races resolve the same few prefixes again and again, and each probe is
 * four system calls (on loopback, as much time as the rest of a connect).
 * So a probe's answer is kept a second, for its prefix (as the sort's own
 * cache keys it): a route that changes is seen a second late at most.
 * The table is small and replaced in turn: a hostile list can only make
 * it forget sooner. */
#define HE_SRC_MEMO 32
#define HE_SRC_MEMO_TTL_US (1000 * 1000)

static struct {
	struct he_src_key key;
	int64_t until;
	int err;
	struct sockaddr_in6 src;
} memo[HE_SRC_MEMO];
static int memo_next;
static pthread_mutex_t memo_lock = PTHREAD_MUTEX_INITIALIZER;
static struct he_fork_hooks memo_hooks = {
	NULL, NULL, NULL, &memo_lock, NULL, 0
};

/* The kept answer for k at now: 1 (and err, src), or 0. */
static int
memo_find(const struct he_src_key *k, int64_t now, int *err,
    struct sockaddr_storage *src)
{
	int i, found = 0;

	memset(src, 0, sizeof(*src));
	pthread_mutex_lock(&memo_lock);
	for (i = 0; i < HE_SRC_MEMO && !found; i++) {
		if (memo[i].until <= now || memcmp(&memo[i].key, k, sizeof(*k)))
			continue;
		*err = memo[i].err;
		memcpy(src, &memo[i].src, sizeof(memo[i].src));
		found = 1;
	}
	pthread_mutex_unlock(&memo_lock);
	return found;
}

static void
memo_keep(const struct he_src_key *k, int64_t now, int err,
    const struct sockaddr_storage *src)
{
	int i;

	pthread_mutex_lock(&memo_lock);
	i = memo_next;
	memo_next = (memo_next + 1) % HE_SRC_MEMO;
	memo[i].key = *k;
	memo[i].until = now + HE_SRC_MEMO_TTL_US;
	memo[i].err = err;
	memcpy(&memo[i].src, src, sizeof(memo[i].src));
	pthread_mutex_unlock(&memo_lock);
}

int
he_source_remembered_(const struct sockaddr *dst, ev_socklen_t dstlen,
    struct sockaddr_storage *src, void *arg)
{
	struct sockaddr_storage ss;
	struct he_src_key k;
	int64_t now = he_now_();
	int err;

	if (!dst || !src || !sockaddr_size(dst, dstlen))
		return EINVAL;
	(void)he_proc_on_fork_(&memo_hooks);
	src_key(dst, &k);
	if (memo_find(&k, now, &err, src))
		return err;
	memset(&ss, 0, sizeof(ss));
	err = he_source_by_udp_connect_(dst, dstlen, &ss, arg);
	memcpy(src, &ss, sizeof(ss));
	/* a refusal for this address alone (EACCES) says nothing of its
	 * prefix: not kept */
	if (err != EACCES)
		memo_keep(&k, now, err, &ss);
	return err;
}

int
evhappy_addrinfo_sort(struct evutil_addrinfo **list)
{
	int err = he_addrinfo_sort_cached_(list, he_source_by_udp_connect_,
	    NULL);

	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}
