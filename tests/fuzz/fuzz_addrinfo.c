/*
 * libFuzzer target: the address-list functions of the public API
 * (evhappy_addrinfo_*) against simple reference implementations.
 *
 * Only behaviour the API promises is checked, never how a function does
 * it, so the target holds for any implementation: each entry carries a
 * unique tag in ai_flags (kept by every function), and results are
 * compared as sequences of tags.
 *
 * - from_sockaddr: one SOCK_STREAM/IPPROTO_TCP entry of the family with
 *   the same address, port (and scope id); NULL for NULL, a short length
 *   or another family.
 * - dup: the same entries, field by field, in new memory; also of a list
 *   made by someone else (canonical names, entries without an address).
 * - interleave: aiohappyeyeballs' _interleave_addrinfos (families in order
 *   of first appearance; first_address_family_count - 1 of the first
 *   family first, then one of each family in turn); -1/EINVAL and the list
 *   untouched for a count below 1.
 * - pop_interleave: the first `interleave` (<= 0: 1) entries of each family
 *   removed, the rest in order; returns how many.
 * - remove: every entry equal in address, port and scope id removed, the
 *   rest in order; the count; 0/ENOENT when none; -1/EINVAL for a bad
 *   address.
 * - sort: 0, a permutation, and entries of the same address keep their
 *   order (RFC 6724 rule 10: the rules see only the address).
 * Leaks are LeakSanitizer's.
 */
#include "he_event.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_N 300
#define MAX_SORT 12


/* What the reference knows of one entry. */
struct ent {
	int tag, family;
	struct sockaddr_storage ss;
};

/* ---- building ------------------------------------------------------------ */

/* An address from few choices (so that repeats are common) or random. */
static void
make_sockaddr(struct input *in, struct sockaddr_storage *ss)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	unsigned how = take(in), i;

	memset(ss, 0, sizeof(*ss));
	if (how & 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)(how & 2 ? 80 : 443));
		((uint8_t *)&s4->sin_addr)[0] = 192;
		((uint8_t *)&s4->sin_addr)[3] = (uint8_t)(how >> 4);
		if (how & 8)
			for (i = 0; i < 4; i++)
				((uint8_t *)&s4->sin_addr)[i] =
				    (uint8_t)take(in);
	} else {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)(how & 2 ? 80 : 443));
		s6->sin6_addr.s6_addr[0] = 0x20;
		s6->sin6_addr.s6_addr[1] = 0x01;
		s6->sin6_addr.s6_addr[15] = (uint8_t)(how >> 4);
		if (how & 4)
			s6->sin6_scope_id = how >> 6;
		if (how & 8)
			for (i = 0; i < 16; i++)
				s6->sin6_addr.s6_addr[i] = (uint8_t)take(in);
	}
}

static ev_socklen_t
family_size(int family)
{
	return family == AF_INET ? sizeof(struct sockaddr_in) :
	    sizeof(struct sockaddr_in6);
}

/* A list of n entries made by evhappy, tags 1..n, and its reference. */
static struct evutil_addrinfo *
make_list(struct input *in, struct ent *e, size_t n)
{
	struct evutil_addrinfo *list = NULL, **tail = &list, *ai;
	size_t i;

	for (i = 0; i < n; i++) {
		make_sockaddr(in, &e[i].ss);
		ai = evhappy_addrinfo_from_sockaddr((struct sockaddr *)&e[i].ss,
		    sizeof(e[i].ss));
		CHECK(ai, "from_sockaddr failed");
		e[i].tag = (int)i + 1;
		e[i].family = e[i].ss.ss_family;
		ai->ai_flags = e[i].tag;
		*tail = ai;
		tail = &ai->ai_next;
	}
	return list;
}

/* ---- comparing ----------------------------------------------------------- */

/* The same address for RFC 6724: family, bytes and scope, not the port. */
static int
same_host(const struct sockaddr *a, const struct sockaddr *b)
{
	const struct sockaddr_in *a4 = (const void *)a, *b4 = (const void *)b;
	const struct sockaddr_in6 *a6 = (const void *)a, *b6 = (const void *)b;

	if (a->sa_family != b->sa_family)
		return 0;
	if (a->sa_family == AF_INET)
		return !memcmp(&a4->sin_addr, &b4->sin_addr, 4);
	return a6->sin6_scope_id == b6->sin6_scope_id &&
	    !memcmp(&a6->sin6_addr, &b6->sin6_addr, 16);
}

/* The same address and port (what remove() and the dedup compare). */
static int
same_sockaddr(const struct sockaddr *a, const struct sockaddr *b)
{
	const struct sockaddr_in *a4 = (const void *)a, *b4 = (const void *)b;
	const struct sockaddr_in6 *a6 = (const void *)a, *b6 = (const void *)b;

	return same_host(a, b) && (a->sa_family == AF_INET ?
	    a4->sin_port == b4->sin_port : a6->sin6_port == b6->sin6_port);
}

/* The list holds exactly the tags of want[0..n), in order, with their
 * addresses. */
static void
expect_tags(const char *what, const struct evutil_addrinfo *list,
    const struct ent *want, size_t n)
{
	size_t i = 0;

	for (; list; list = list->ai_next, i++) {
		CHECK(i < n, "%s: more than %zu entries", what, n);
		CHECK(list->ai_flags == want[i].tag, "%s: entry %zu is tag %d, "
		    "expected %d", what, i, list->ai_flags, want[i].tag);
		CHECK(list->ai_addr && list->ai_family == want[i].family &&
		    same_sockaddr(list->ai_addr,
		    (const struct sockaddr *)&want[i].ss),
		    "%s: entry %zu (tag %d) changed", what, i, want[i].tag);
	}
	CHECK(i == n, "%s: %zu entries, expected %zu", what, i, n);
}

/* ---- the functions, one by one ------------------------------------------ */

static void
check_from_sockaddr(struct input *in)
{
	struct sockaddr_storage ss;
	struct sockaddr_un un;
	struct evutil_addrinfo *ai;
	ev_socklen_t size, len;

	make_sockaddr(in, &ss);
	size = family_size(ss.ss_family);
	ai = evhappy_addrinfo_from_sockaddr((struct sockaddr *)&ss, size);
	CHECK(ai && !ai->ai_next && ai->ai_family == ss.ss_family &&
	    ai->ai_socktype == SOCK_STREAM && ai->ai_protocol == IPPROTO_TCP &&
	    ai->ai_addr && ai->ai_addrlen >= size &&
	    same_sockaddr(ai->ai_addr, (struct sockaddr *)&ss),
	    "from_sockaddr: not the entry asked for");
	evhappy_addrinfo_free(ai);

	len = (ev_socklen_t)(take(in) % size);	/* short */
	errno = 0;
	ai = evhappy_addrinfo_from_sockaddr((struct sockaddr *)&ss, len);
	CHECK(!ai, "from_sockaddr: an entry from %u of %u bytes", len, size);

	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	ai = evhappy_addrinfo_from_sockaddr((struct sockaddr *)&un,
	    sizeof(un));
	CHECK(!ai, "from_sockaddr: an entry for AF_UNIX");
	CHECK(!evhappy_addrinfo_from_sockaddr(NULL, 16),
	    "from_sockaddr: an entry for NULL");
}

static void
expect_same_entry(const struct evutil_addrinfo *a,
    const struct evutil_addrinfo *b, size_t i)
{
	CHECK(a != b, "dup: entry %zu not copied", i);
	CHECK(a->ai_flags == b->ai_flags && a->ai_family == b->ai_family &&
	    a->ai_socktype == b->ai_socktype &&
	    a->ai_protocol == b->ai_protocol, "dup: entry %zu differs", i);
	CHECK(!a->ai_addr == !b->ai_addr, "dup: entry %zu address", i);
	if (a->ai_addr) {
		CHECK(a->ai_addr != b->ai_addr &&
		    a->ai_addrlen == b->ai_addrlen &&
		    !memcmp(a->ai_addr, b->ai_addr, a->ai_addrlen),
		    "dup: entry %zu address differs", i);
	}
	CHECK(!a->ai_canonname == !b->ai_canonname, "dup: entry %zu name", i);
	if (a->ai_canonname)
		CHECK(a->ai_canonname != b->ai_canonname &&
		    !strcmp(a->ai_canonname, b->ai_canonname),
		    "dup: entry %zu name differs", i);
}

static void
check_dup(const struct evutil_addrinfo *list)
{
	struct evutil_addrinfo *copy = evhappy_addrinfo_dup(list);
	const struct evutil_addrinfo *a, *b;
	size_t i = 0;

	CHECK(!list == !copy, "dup: NULL for a list, or a list for NULL");
	for (a = list, b = copy; a && b; a = a->ai_next, b = b->ai_next)
		expect_same_entry(a, b, i++);
	CHECK(!a && !b, "dup: lengths differ");
	evhappy_addrinfo_free(copy);
}

/* A list as getaddrinfo() would make it, in the caller's memory. */
static void
check_dup_foreign(struct input *in)
{
	static char names[4][16] = { "a", "host", "", "x.example" };
	struct evutil_addrinfo ai[4];
	struct sockaddr_storage ss[4];
	size_t n = take(in) % 4 + 1, i;

	memset(ai, 0, sizeof(ai));
	for (i = 0; i < n; i++) {
		unsigned b = take(in);
		make_sockaddr(in, &ss[i]);
		ai[i].ai_family = ss[i].ss_family;
		ai[i].ai_flags = (int)b;
		ai[i].ai_socktype = b & 1 ? SOCK_STREAM : SOCK_DGRAM;
		ai[i].ai_protocol = b & 2 ? IPPROTO_TCP : 0;
		if (!(b & 4)) {
			ai[i].ai_addr = (struct sockaddr *)&ss[i];
			ai[i].ai_addrlen = family_size(ss[i].ss_family);
		}
		if (b & 8)
			ai[i].ai_canonname = names[b >> 6];
		ai[i].ai_next = i + 1 < n ? &ai[i + 1] : NULL;
	}
	check_dup(ai);
}

/* An edit of a list to check: a copy of base to make it on, and room for
   the entries expected after it (at most n, base's). */
struct edit {
	struct evutil_addrinfo *list;
	struct ent *want;
};

static void
edit_begin(struct edit *ed, const struct evutil_addrinfo *base, size_t n)
{
	ed->list = evhappy_addrinfo_dup(base);
	ed->want = malloc((n ? n : 1) * sizeof(*ed->want));
	CHECK(ed->want && (ed->list || !n), "out of memory");
}

/* The list is now the first m entries of want; then both are freed. */
static void
edit_end(struct edit *ed, const char *what, size_t m)
{
	expect_tags(what, ed->list, ed->want, m);
	evhappy_addrinfo_free(ed->list);
	free(ed->want);
}

/* aiohappyeyeballs' _interleave_addrinfos on the reference. */
static size_t
ref_interleave(const struct ent *in, size_t n, int count, struct ent *out)
{
	int fam[2] = { 0, 0 }, nfam = 0, f, lead = count - 1;
	size_t pos[2] = { 0, 0 }, k = 0, i;
	char *used = calloc(n ? n : 1, 1);
	int more = 1;

	CHECK(used, "out of memory");
	for (i = 0; i < n && nfam < 2; i++)
		if (nfam == 0 || in[i].family != fam[0])
			fam[nfam++] = in[i].family;
	for (i = 0; i < n && lead > 0; i++)
		if (in[i].family == fam[0]) {
			out[k++] = in[i];
			used[i] = 1;
			lead--;
		}
	while (more) {
		more = 0;
		for (f = 0; f < nfam; f++) {
			while (pos[f] < n && (used[pos[f]] ||
			    in[pos[f]].family != fam[f]))
				pos[f]++;
			if (pos[f] < n) {
				out[k++] = in[pos[f]];
				used[pos[f]] = 1;
				more = 1;
			}
		}
	}
	free(used);
	return k;
}

static void
check_interleave(struct input *in, const struct evutil_addrinfo *base,
    const struct ent *e, size_t n)
{
	struct edit ed;
	int count = (int)(take(in) % 6) - 1;	/* -1 .. 4 */

	edit_begin(&ed, base, n);
	errno = 0;
	if (count < 1) {
		CHECK(evhappy_addrinfo_interleave(&ed.list, count) == -1 &&
		    errno == EINVAL, "interleave(%d): not -1/EINVAL", count);
		memcpy(ed.want, e, n * sizeof(*e));	/* refused: as it was */
	} else {
		CHECK(evhappy_addrinfo_interleave(&ed.list, count) == 0,
		    "interleave(%d) failed", count);
		CHECK(ref_interleave(e, n, count, ed.want) == n,
		    "reference lost entries");
	}
	CHECK(evhappy_addrinfo_interleave(NULL, 1) == -1,
	    "interleave(NULL) did not fail");
	edit_end(&ed, count < 1 ? "interleave (refused)" : "interleave", n);
}

static void
check_pop_interleave(struct input *in, const struct evutil_addrinfo *base,
    const struct ent *e, size_t n)
{
	struct edit ed;
	int k = (int)(take(in) % 6) - 1, per = k <= 0 ? 1 : k;
	int gone4 = 0, gone6 = 0, *gone, r;
	size_t i, m = 0;

	edit_begin(&ed, base, n);
	for (i = 0; i < n; i++) {
		gone = e[i].family == AF_INET ? &gone4 : &gone6;
		if (*gone < per)
			++*gone;
		else
			ed.want[m++] = e[i];
	}
	r = evhappy_addrinfo_pop_interleave(&ed.list, k);
	CHECK(r == (int)(n - m), "pop_interleave(%d): %d removed, expected "
	    "%zu", k, r, n - m);
	edit_end(&ed, "pop_interleave", m);
}

static void
check_remove(struct input *in, const struct evutil_addrinfo *base,
    const struct ent *e, size_t n)
{
	struct edit ed;
	struct sockaddr_storage ss;
	unsigned b = take(in);
	ev_socklen_t len;
	size_t i, m = 0;
	int r;

	edit_begin(&ed, base, n);
	if (n && (b & 1))
		ss = e[take(in) % n].ss;	/* one that is there */
	else
		make_sockaddr(in, &ss);
	len = family_size(ss.ss_family);
	if ((b & 6) == 6) {		/* too short: refused, the list whole */
		errno = 0;
		r = evhappy_addrinfo_remove(&ed.list, (struct sockaddr *)&ss,
		    (ev_socklen_t)(take(in) % len));
		CHECK(r == -1 && errno == EINVAL, "remove(short): %d", r);
		memcpy(ed.want, e, n * sizeof(*e));
		edit_end(&ed, "remove (refused)", n);
		return;
	}
	if (b & 8)
		len = sizeof(ss);	/* a storage's length is fine */
	for (i = 0; i < n; i++)
		if (!same_sockaddr((struct sockaddr *)&e[i].ss,
		    (struct sockaddr *)&ss))
			ed.want[m++] = e[i];
	errno = 0;
	r = evhappy_addrinfo_remove(&ed.list, (struct sockaddr *)&ss, len);
	CHECK(r == (int)(n - m), "remove: %d, expected %zu", r, n - m);
	CHECK(r != 0 || errno == ENOENT, "remove: 0 without ENOENT");
	edit_end(&ed, "remove", m);
}

static void
check_sort(const struct evutil_addrinfo *base, const struct ent *e, size_t n)
{
	struct evutil_addrinfo *list = evhappy_addrinfo_dup(base), *ai, *bj;
	char *seen = calloc(n + 1, 1);
	size_t i = 0;

	CHECK(seen && (list || !n), "out of memory");
	CHECK(evhappy_addrinfo_sort(&list) == 0, "sort failed");
	for (ai = list; ai; ai = ai->ai_next, i++) {
		CHECK(ai->ai_flags >= 1 && (size_t)ai->ai_flags <= n &&
		    !seen[ai->ai_flags], "sort: tag %d twice or unknown",
		    ai->ai_flags);
		seen[ai->ai_flags] = 1;
		CHECK(same_sockaddr(ai->ai_addr,
		    (struct sockaddr *)&e[ai->ai_flags - 1].ss),
		    "sort: tag %d changed", ai->ai_flags);
		/* a later entry of the same address has a later tag */
		for (bj = ai->ai_next; bj; bj = bj->ai_next)
			if (same_host(ai->ai_addr, bj->ai_addr))
				CHECK(bj->ai_flags > ai->ai_flags,
				    "sort: tags %d and %d of one address "
				    "swapped", ai->ai_flags, bj->ai_flags);
	}
	CHECK(i == n, "sort: %zu entries of %zu", i, n);
	evhappy_addrinfo_free(list);
	free(seen);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct evutil_addrinfo *base;
	struct ent *e;
	unsigned ops = take(&in);
	size_t n = take(&in);

	if (n == 0xff)
		n = MAX_N;
	n %= MAX_N + 1;
	e = calloc(n ? n : 1, sizeof(*e));
	if (!e)
		return 0;
	base = make_list(&in, e, n);
	if (ops & 1)
		check_from_sockaddr(&in);
	if (ops & 2)
		check_dup(base);
	if (ops & 4)
		check_dup_foreign(&in);
	if (ops & 8)
		check_interleave(&in, base, e, n);
	if (ops & 16)
		check_pop_interleave(&in, base, e, n);
	if (ops & 32)
		check_remove(&in, base, e, n);
	if ((ops & 64) && n <= MAX_SORT)
		check_sort(base, e, n);
	evhappy_addrinfo_free(base);
	free(e);
	return 0;
}
