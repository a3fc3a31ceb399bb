/*
 * Tests of the address lists (he_addrinfo.c): copying, interleaving by
 * family (RFC 8305 section 4), RFC 6724 sorting and the list edits.
 */
#include "he_addrinfo.h"
#include "he_literal.h"
#include "he_testutil.h"
#include "he_testrec.h"

#include <check.h>
#include <net/if.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

/* ---- helpers ------------------------------------------------------------ */

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/*
 * Interleaving tables are written as in RFC 8305: "6a" is 2001:db8::a,
 * "4a" is 192.0.2.1, "4b" 192.0.2.2 and so on.
 */
static struct evutil_addrinfo *
toks(const char *spec)
{
	struct evutil_addrinfo *list = NULL, *ai;
	char addr[32];

	for (; *spec; spec++) {
		if (*spec == ' ')
			continue;
		if (spec[0] == '6')
			snprintf(addr, sizeof(addr), "2001:db8::%c", spec[1]);
		else
			snprintf(addr, sizeof(addr), "192.0.2.%d",
			    spec[1] - 'a' + 1);
		ai = he_test_ai(addr, 80);
		ck_assert_ptr_nonnull(ai);
		list = he_test_append(list, ai);
		spec++;
	}
	return list;
}

/* A list back in the notation of toks(). */
static const char *
toks_str(const struct evutil_addrinfo *list)
{
	static char buf[256];
	const struct sockaddr_in6 *sin6;
	const struct sockaddr_in *sin;
	size_t n = 0;
	int c;

	buf[0] = '\0';
	for (; list; list = list->ai_next) {
		if (list->ai_family == AF_INET6) {
			sin6 = (const struct sockaddr_in6 *)list->ai_addr;
			c = 'a' + sin6->sin6_addr.s6_addr[15] - 0xa;
		} else {
			sin = (const struct sockaddr_in *)list->ai_addr;
			c = 'a' + ntohl(sin->sin_addr.s_addr) % 256 - 1;
		}
		n += snprintf(buf + n, sizeof(buf) - n, "%s%c%c", n ? " " : "",
		    list->ai_family == AF_INET6 ? '6' : '4', c);
	}
	return buf;
}

/* A list of the space-separated addresses, all on the given port. */
static struct evutil_addrinfo *
addrs(const char *spec, int port)
{
	struct evutil_addrinfo *list = NULL, *ai;
	char addr[64];
	size_t len;

	while (*spec) {
		len = strcspn(spec, " ");
		ck_assert_uint_lt(len, sizeof(addr));
		memcpy(addr, spec, len);
		addr[len] = '\0';
		ai = he_test_ai(addr, port);
		ck_assert_msg(ai != NULL, "bad test address %s", addr);
		list = he_test_append(list, ai);
		spec += len;
		spec += strspn(spec, " ");
	}
	return list;
}

/* The addresses of a list, space-separated, in inet_ntop() form. */
static const char *
addrs_str(const struct evutil_addrinfo *list)
{
	static char buf[512];
	size_t n = 0;

	buf[0] = '\0';
	for (; list; list = list->ai_next)
		n += snprintf(buf + n, sizeof(buf) - n, "%s%s", n ? " " : "",
		    he_test_addr_str(list->ai_addr));
	return buf;
}

static struct sockaddr_in6
sin6_of(const char *s, int port, uint32_t scope)
{
	struct sockaddr_in6 sin6 = he_test_sin6(s, port);

	sin6.sin6_scope_id = scope;
	return sin6;
}

/* ---- a source lookup that answers what a routing table would ------------ */

struct route {
	const char *dst;
	const char *src;	/* NULL: no route */
};

struct routes {
	const struct route *r;
	int n;
	int calls;
};

static int
same_addr(const struct sockaddr *a, const struct sockaddr_storage *b)
{
	if (a->sa_family != b->ss_family)
		return 0;
	if (a->sa_family == AF_INET)
		return !memcmp(&((const struct sockaddr_in *)a)->sin_addr,
		    &((const struct sockaddr_in *)b)->sin_addr, 4);
	return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
	    &((const struct sockaddr_in6 *)b)->sin6_addr, 16);
}

static int
fake_source(const struct sockaddr *dst, ev_socklen_t dstlen,
    struct sockaddr_storage *src, void *arg)
{
	struct routes *rt = arg;
	struct sockaddr_storage d;
	int i;

	rt->calls++;
	ck_assert_uint_eq(dstlen, dst->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	for (i = 0; i < rt->n; i++) {
		ck_assert_int_ne(he_test_sockaddr(rt->r[i].dst, 0, &d), 0);
		if (!same_addr(dst, &d))
			continue;
		if (!rt->r[i].src)
			break;
		ck_assert_int_ne(he_test_sockaddr(rt->r[i].src, 0, src), 0);
		return 0;
	}
	return ENETUNREACH;
}

/* Sort `input` with the routes and give the result as addrs_str(). */
static const char *
sorted(const char *input, const struct route *r, int n)
{
	struct routes rt = { r, n, 0 };
	struct evutil_addrinfo *list = addrs(input, 443);
	static char buf[512];

	EXPECT_ERRNO(he_addrinfo_sort_with_(&list, fake_source, &rt), 0, 0);
	ck_assert_int_eq(rt.calls, (int)he_addrinfo_len_(list));
	snprintf(buf, sizeof(buf), "%s", addrs_str(list));
	evhappy_addrinfo_free(list);
	return buf;
}

/* ---- from_sockaddr and he_addrinfo_new_ --------------------------------- */

/* evhappy_addrinfo_from_sockaddr(sa, len): an entry of sa's family, a
   TCP stream, its address as long as the family's sockaddr. */
static struct evutil_addrinfo *
from_sockaddr_checked(const struct sockaddr *sa, ev_socklen_t len)
{
	struct evutil_addrinfo *ai = evhappy_addrinfo_from_sockaddr(sa, len);

	ck_assert_ptr_nonnull(ai);
	ck_assert_int_eq(ai->ai_family, sa->sa_family);
	ck_assert_int_eq(ai->ai_socktype, SOCK_STREAM);
	ck_assert_int_eq(ai->ai_protocol, IPPROTO_TCP);
	ck_assert_int_eq(ai->ai_addrlen, sa->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	return ai;
}

START_TEST(test_from_sockaddr_v4)
{
	struct sockaddr_in sin = he_test_sin("192.0.2.7", 8080);
	struct evutil_addrinfo *ai;

	ai = from_sockaddr_checked((struct sockaddr *)&sin, sizeof(sin));
	ck_assert_ptr_null(ai->ai_next);
	ck_assert_ptr_null(ai->ai_canonname);
	/* a copy: the caller's address may change afterwards */
	ck_assert_ptr_ne(ai->ai_addr, (struct sockaddr *)&sin);
	ck_assert(he_sockaddr_equal_(ai->ai_addr, (struct sockaddr *)&sin));
	sin.sin_port = htons(1);
	ck_assert_int_eq(he_test_port_of(ai->ai_addr), 8080);
	evhappy_addrinfo_free(ai);
}
END_TEST

START_TEST(test_from_sockaddr_v6_keeps_scope)
{
	struct sockaddr_in6 sin6 = sin6_of("fe80::1", 443, 7);
	struct sockaddr_in6 *got;
	struct evutil_addrinfo *ai;

	ai = from_sockaddr_checked((struct sockaddr *)&sin6, sizeof(sin6));
	got = (struct sockaddr_in6 *)ai->ai_addr;
	ck_assert_uint_eq(got->sin6_scope_id, 7);
	ck_assert_int_eq(he_test_port_of(ai->ai_addr), 443);
	ck_assert_str_eq(he_test_addr_str(ai->ai_addr), "fe80::1");
	evhappy_addrinfo_free(ai);
}
END_TEST

START_TEST(test_from_sockaddr_storage_len)
{
	/* callers often pass a sockaddr_storage and its size */
	struct sockaddr_storage ss;
	struct sockaddr_in sin = he_test_sin("198.51.100.1", 80);
	struct evutil_addrinfo *ai;

	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, &sin, sizeof(sin));
	ai = evhappy_addrinfo_from_sockaddr((struct sockaddr *)&ss, sizeof(ss));
	ck_assert_ptr_nonnull(ai);
	ck_assert_int_eq(ai->ai_addrlen, sizeof(struct sockaddr_in));
	ck_assert(he_sockaddr_equal_(ai->ai_addr, (struct sockaddr *)&sin));
	evhappy_addrinfo_free(ai);
}
END_TEST

START_TEST(test_from_sockaddr_null)
{
	EXPECT_NULL(evhappy_addrinfo_from_sockaddr(NULL, 16), 0);
}
END_TEST

START_TEST(test_from_sockaddr_bad)
{
	struct sockaddr_in sin = he_test_sin("192.0.2.1", 80);
	struct sockaddr_in6 sin6 = sin6_of("2001:db8::1", 80, 0);
	struct sockaddr_un un;

	EXPECT_NULL(evhappy_addrinfo_from_sockaddr((struct sockaddr *)&sin,
	    sizeof(sin) - 1), EINVAL);
	EXPECT_NULL(evhappy_addrinfo_from_sockaddr((struct sockaddr *)&sin6,
	    sizeof(struct sockaddr_in)), EINVAL);
	EXPECT_NULL(evhappy_addrinfo_from_sockaddr((struct sockaddr *)&sin, 0),
	    EINVAL);

	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	strcpy(un.sun_path, "/tmp/x");
	EXPECT_NULL(evhappy_addrinfo_from_sockaddr((struct sockaddr *)&un,
	    sizeof(un)), EINVAL);
}
END_TEST

START_TEST(test_new_concat_set_port)
{
	struct sockaddr_in sin = he_test_sin("192.0.2.1", 1);
	struct sockaddr_in6 sin6 = sin6_of("2001:db8::a", 2, 0);
	struct evutil_addrinfo *a, *b, *list, *ai;

	ck_assert_int_eq(he_addrinfo_new_((struct sockaddr *)&sin, sizeof(sin),
	    &a), 0);
	ck_assert_int_eq(he_addrinfo_new_((struct sockaddr *)&sin6,
	    sizeof(sin6), &b), 0);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(a->ai_socktype, SOCK_STREAM);
	ck_assert_int_eq(b->ai_protocol, IPPROTO_TCP);

	ck_assert_ptr_eq(he_addrinfo_concat_(NULL, NULL), NULL);
	ck_assert_ptr_eq(he_addrinfo_concat_(NULL, b), b);
	ck_assert_ptr_eq(he_addrinfo_concat_(a, NULL), a);
	list = he_addrinfo_concat_(a, b);
	ck_assert_ptr_eq(list, a);
	ck_assert_ptr_eq(a->ai_next, b);
	list = he_addrinfo_concat_(list, toks("4c 6d"));
	ck_assert_str_eq(toks_str(list), "4a 6a 4c 6d");

	he_addrinfo_set_port_(list, 8443);
	for (ai = list; ai; ai = ai->ai_next)
		ck_assert_int_eq(he_test_port_of(ai->ai_addr), 8443);
	evhappy_addrinfo_free(list);
	evhappy_addrinfo_free(NULL);
}
END_TEST

START_TEST(test_sockaddr_equal)
{
	struct sockaddr_in a = he_test_sin("192.0.2.1", 80);
	struct sockaddr_in b = he_test_sin("192.0.2.1", 80);
	struct sockaddr_in6 m = sin6_of("::ffff:192.0.2.1", 80, 0);
	struct sockaddr_in6 x =
	    sin6_of("2001:0db8:0000:0000:0000:0000:0000:0001", 80, 0);
	struct sockaddr_in6 y = sin6_of("2001:db8::1", 80, 0);

	ck_assert(he_sockaddr_equal_((struct sockaddr *)&a,
	    (struct sockaddr *)&b));
	/* bytes that do not take part (sin_zero) do not matter */
	memset(b.sin_zero, 0x5a, sizeof(b.sin_zero));
	ck_assert(he_sockaddr_equal_((struct sockaddr *)&a,
	    (struct sockaddr *)&b));
	b.sin_port = htons(81);
	ck_assert(!he_sockaddr_equal_((struct sockaddr *)&a,
	    (struct sockaddr *)&b));
	/* the same IPv4 host, but another family */
	ck_assert(!he_sockaddr_equal_((struct sockaddr *)&a,
	    (struct sockaddr *)&m));
	ck_assert(he_sockaddr_equal_((struct sockaddr *)&x,
	    (struct sockaddr *)&y));
	y.sin6_scope_id = 1;
	ck_assert(!he_sockaddr_equal_((struct sockaddr *)&x,
	    (struct sockaddr *)&y));
	ck_assert(!he_sockaddr_equal_(NULL, (struct sockaddr *)&y));
	ck_assert(!he_sockaddr_equal_((struct sockaddr *)&y, NULL));
}
END_TEST

/* ---- dup ---------------------------------------------------------------- */

START_TEST(test_dup_deep_copy)
{
	struct sockaddr_in6 s6 = sin6_of("2001:db8::5", 53, 3);
	struct sockaddr_in s4 = he_test_sin("192.0.2.5", 53);
	const struct sockaddr_in6 *got6;
	struct evutil_addrinfo a, b, *copy;
	char name[] = "host.example";

	/* a list made by hand, the way a resolver makes one */
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.ai_flags = EVUTIL_AI_CANONNAME;
	a.ai_family = AF_INET6;
	a.ai_socktype = SOCK_DGRAM;
	a.ai_protocol = IPPROTO_UDP;
	a.ai_addr = (struct sockaddr *)&s6;
	a.ai_addrlen = sizeof(s6);
	a.ai_canonname = name;
	a.ai_next = &b;
	b.ai_family = AF_INET;
	b.ai_socktype = SOCK_STREAM;
	b.ai_protocol = IPPROTO_TCP;
	b.ai_addr = (struct sockaddr *)&s4;
	b.ai_addrlen = sizeof(s4);

	copy = evhappy_addrinfo_dup(&a);
	ck_assert_ptr_nonnull(copy);
	ck_assert_uint_eq(he_addrinfo_len_(copy), 2);
	ck_assert_int_eq(copy->ai_flags, EVUTIL_AI_CANONNAME);
	ck_assert_int_eq(copy->ai_family, AF_INET6);
	ck_assert_int_eq(copy->ai_socktype, SOCK_DGRAM);
	ck_assert_int_eq(copy->ai_protocol, IPPROTO_UDP);
	ck_assert_int_eq(copy->ai_addrlen, sizeof(s6));
	ck_assert_ptr_ne(copy->ai_addr, a.ai_addr);
	ck_assert(he_sockaddr_equal_(copy->ai_addr, a.ai_addr));
	ck_assert_ptr_ne(copy->ai_canonname, name);
	ck_assert_str_eq(copy->ai_canonname, "host.example");
	ck_assert_ptr_null(copy->ai_next->ai_canonname);
	ck_assert_int_eq(copy->ai_next->ai_family, AF_INET);
	ck_assert(he_sockaddr_equal_(copy->ai_next->ai_addr, b.ai_addr));
	ck_assert_ptr_null(copy->ai_next->ai_next);

	/* the copy shares nothing with the original */
	name[0] = 'X';
	s6.sin6_port = htons(1);
	s4.sin_port = htons(1);
	ck_assert_str_eq(copy->ai_canonname, "host.example");
	ck_assert_str_eq(addrs_str(copy), "2001:db8::5 192.0.2.5");
	ck_assert_int_eq(he_test_port_of(copy->ai_next->ai_addr), 53);
	ck_assert_int_eq(he_test_port_of(copy->ai_addr), 53);
	got6 = (const struct sockaddr_in6 *)copy->ai_addr;
	ck_assert_uint_eq(got6->sin6_scope_id, 3);
	evhappy_addrinfo_free(copy);
}
END_TEST

START_TEST(test_dup_of_getaddrinfo)
{
	struct evutil_addrinfo hints, *res = NULL, *copy;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_NUMERICHOST;
	ck_assert_int_eq(evutil_getaddrinfo("127.0.0.1", "443", &hints, &res),
	    0);
	copy = evhappy_addrinfo_dup(res);
	evutil_freeaddrinfo(res);	/* the copy outlives the original */
	ck_assert_ptr_nonnull(copy);
	ck_assert_uint_eq(he_addrinfo_len_(copy), 1);
	ck_assert_int_eq(copy->ai_socktype, SOCK_STREAM);
	ck_assert_str_eq(he_test_addr_str(copy->ai_addr), "127.0.0.1");
	ck_assert_int_eq(he_test_port_of(copy->ai_addr), 443);
	evhappy_addrinfo_free(copy);
}
END_TEST

START_TEST(test_dup_independent_free)
{
	struct evutil_addrinfo *orig = toks("6a 4a 6b"), *copy;

	copy = evhappy_addrinfo_dup(orig);
	ck_assert_ptr_nonnull(copy);
	ck_assert_ptr_ne(copy, orig);
	evhappy_addrinfo_free(orig);
	ck_assert_str_eq(toks_str(copy), "6a 4a 6b");
	/* and a copy may be edited like any list of ours */
	ck_assert_int_eq(evhappy_addrinfo_pop_interleave(&copy, 1), 2);
	ck_assert_str_eq(toks_str(copy), "6b");
	evhappy_addrinfo_free(copy);
}
END_TEST

START_TEST(test_dup_empty)
{
	EXPECT_NULL(evhappy_addrinfo_dup(NULL), 0);
}
END_TEST

/* ---- interleave --------------------------------------------------------- */

static const struct {
	const char *in;
	int count;
	const char *out;
} interleave_cases[] = {
	{ "6a 6b 4a 4b", 1, "6a 4a 6b 4b" },
	{ "6a 6b 6c 4a", 1, "6a 4a 6b 6c" },
	{ "4a 6a 4b", 1, "4a 6a 4b" },
	{ "6a 6b 6c", 1, "6a 6b 6c" },
	{ "4a", 1, "4a" },
	{ "6a 6b 6c 4a", 2, "6a 6b 4a 6c" },
	/* the order of families is that of their first appearance, each turn */
	{ "6a 4a 4b 6b", 1, "6a 4a 6b 4b" },
	{ "4a 4b 4c 6a 6b 6c", 1, "4a 6a 4b 6b 4c 6c" },
	{ "4a 4b 4c 4d 6a 6b", 3, "4a 4b 4c 6a 4d 6b" },
	/* a count beyond the first family takes all of it */
	{ "6a 6b 4a 4b", 5, "6a 6b 4a 4b" },
	{ "4a 4b 4c 6a", 2, "4a 4b 6a 4c" },
	/* families are taken apart first, wherever their entries stand */
	{ "6a 6b 4a 6c 4b", 1, "6a 4a 6b 4b 6c" },
	{ "6a 4a 6b 6c", 2, "6a 6b 4a 6c" },
};

START_TEST(test_interleave_table)
{
	struct evutil_addrinfo *list = toks(interleave_cases[_i].in);

	ck_assert_int_eq(evhappy_addrinfo_interleave(&list,
	    interleave_cases[_i].count), 0);
	ck_assert_msg(!strcmp(toks_str(list), interleave_cases[_i].out),
	    "interleave(%s, %d) gave %s, want %s", interleave_cases[_i].in,
	    interleave_cases[_i].count, toks_str(list),
	    interleave_cases[_i].out);
	evhappy_addrinfo_free(list);
}
END_TEST

START_TEST(test_interleave_relinks_in_place)
{
	struct evutil_addrinfo *list = toks("6a 6b 4a 4b");
	struct evutil_addrinfo *n6a = list, *n6b = list->ai_next;
	struct evutil_addrinfo *n4a = n6b->ai_next, *n4b = n4a->ai_next;

	ck_assert_int_eq(evhappy_addrinfo_interleave(&list, 1), 0);
	ck_assert_ptr_eq(list, n6a);
	ck_assert_ptr_eq(n6a->ai_next, n4a);
	ck_assert_ptr_eq(n4a->ai_next, n6b);
	ck_assert_ptr_eq(n6b->ai_next, n4b);
	ck_assert_ptr_null(n4b->ai_next);
	evhappy_addrinfo_free(list);
}
END_TEST

START_TEST(test_interleave_empty_and_bad)
{
	struct evutil_addrinfo *list = NULL, *one = toks("6a 4a");

	ck_assert_int_eq(evhappy_addrinfo_interleave(&list, 1), 0);
	ck_assert_ptr_null(list);

	EXPECT_FAIL(evhappy_addrinfo_interleave(NULL, 1), EINVAL);
	EXPECT_FAIL(evhappy_addrinfo_interleave(&one, 0), EINVAL);
	EXPECT_FAIL(evhappy_addrinfo_interleave(&one, -3), EINVAL);
	ck_assert_str_eq(toks_str(one), "6a 4a");
	evhappy_addrinfo_free(one);
}
END_TEST

/* ---- pop_interleave ----------------------------------------------------- */

static const struct {
	const char *in;
	int interleave;
	int removed;
	const char *out;
} pop_cases[] = {
	{ "6a 6b 4a 4b", 1, 2, "6b 4b" },
	{ "6a 6b 6c 4a", 2, 3, "6c" },
	{ "4a 6a 4b 6b 4c", 1, 2, "4b 6b 4c" },
	{ "6a 6b 4a", 0, 2, "6b" },	/* 0 or less means 1 */
	{ "6a 6b 4a", -5, 2, "6b" },
	{ "6a 6b 6c", 1, 1, "6b 6c" },
	{ "6a 4a", 3, 2, "" },
	{ "", 1, 0, "" },
};

START_TEST(test_pop_interleave_table)
{
	struct evutil_addrinfo *list = toks(pop_cases[_i].in);

	ck_assert_int_eq(evhappy_addrinfo_pop_interleave(&list,
	    pop_cases[_i].interleave), pop_cases[_i].removed);
	ck_assert_msg(!strcmp(toks_str(list), pop_cases[_i].out),
	    "pop(%s, %d) left %s, want %s", pop_cases[_i].in,
	    pop_cases[_i].interleave, toks_str(list), pop_cases[_i].out);
	if (!*pop_cases[_i].out)
		ck_assert_ptr_null(list);
	evhappy_addrinfo_free(list);
}
END_TEST

START_TEST(test_pop_interleave_bad)
{
	EXPECT_FAIL(evhappy_addrinfo_pop_interleave(NULL, 1), EINVAL);
}
END_TEST

/* ---- remove ------------------------------------------------------------- */

START_TEST(test_remove_written_out_v6)
{
	struct evutil_addrinfo *list =
	    addrs("2001:0db8:0000:0000:0000:0000:0000:0001 "
		"192.0.2.1 2001:db8::1 2001:db8::2", 80);
	struct sockaddr_in6 sin6 = sin6_of("2001:db8::1", 80, 0);

	ck_assert_int_eq(evhappy_addrinfo_remove(&list,
	    (struct sockaddr *)&sin6, sizeof(sin6)), 2);
	ck_assert_str_eq(addrs_str(list), "192.0.2.1 2001:db8::2");
	evhappy_addrinfo_free(list);

	/* and the other way round */
	list = addrs("2001:db8::1 192.0.2.1", 80);
	sin6 = sin6_of("2001:0db8:0000:0000:0000:0000:0000:0001", 80, 0);
	ck_assert_int_eq(evhappy_addrinfo_remove(&list,
	    (struct sockaddr *)&sin6, sizeof(sin6)), 1);
	ck_assert_str_eq(addrs_str(list), "192.0.2.1");
	evhappy_addrinfo_free(list);
}
END_TEST

START_TEST(test_remove_v4_head_and_tail)
{
	struct evutil_addrinfo *list = addrs("192.0.2.1 2001:db8::1 192.0.2.1",
	    443);
	struct sockaddr_in sin = he_test_sin("192.0.2.1", 443);

	ck_assert_int_eq(evhappy_addrinfo_remove(&list, (struct sockaddr *)&sin,
	    sizeof(sin)), 2);
	ck_assert_str_eq(addrs_str(list), "2001:db8::1");
	ck_assert_ptr_null(list->ai_next);
	evhappy_addrinfo_free(list);

	list = addrs("192.0.2.1", 443);
	ck_assert_int_eq(evhappy_addrinfo_remove(&list, (struct sockaddr *)&sin,
	    sizeof(sin)), 1);
	ck_assert_ptr_null(list);
}
END_TEST

START_TEST(test_remove_scope_mismatch)
{
	struct sockaddr_in6 entry = sin6_of("fe80::1", 80, 2);
	struct sockaddr_in6 other = sin6_of("fe80::1", 80, 3);
	struct evutil_addrinfo *list;

	list = evhappy_addrinfo_from_sockaddr((struct sockaddr *)&entry,
	    sizeof(entry));
	ck_assert_ptr_nonnull(list);
	EXPECT_ERRNO(evhappy_addrinfo_remove(&list, (struct sockaddr *)&other,
	    sizeof(other)), 0, ENOENT);
	ck_assert_ptr_nonnull(list);
	ck_assert_int_eq(evhappy_addrinfo_remove(&list,
	    (struct sockaddr *)&entry, sizeof(entry)), 1);
	ck_assert_ptr_null(list);
}
END_TEST

START_TEST(test_remove_port_mismatch)
{
	struct evutil_addrinfo *list = addrs("192.0.2.1 2001:db8::1", 80);
	struct sockaddr_in sin = he_test_sin("192.0.2.1", 443);
	struct sockaddr_in6 sin6 = sin6_of("2001:db8::1", 443, 0);

	EXPECT_ERRNO(evhappy_addrinfo_remove(&list, (struct sockaddr *)&sin,
	    sizeof(sin)), 0, ENOENT);
	EXPECT_ERRNO(evhappy_addrinfo_remove(&list, (struct sockaddr *)&sin6,
	    sizeof(sin6)), 0, ENOENT);
	ck_assert_str_eq(addrs_str(list), "192.0.2.1 2001:db8::1");
	evhappy_addrinfo_free(list);
}
END_TEST

START_TEST(test_remove_enoent_and_bad)
{
	struct evutil_addrinfo *list = addrs("192.0.2.1", 80), *empty = NULL;
	struct sockaddr_in sin = he_test_sin("192.0.2.9", 80);
	struct sockaddr_in6 mapped = sin6_of("::ffff:192.0.2.1", 80, 0);
	struct sockaddr_un un;

	EXPECT_ERRNO(evhappy_addrinfo_remove(&list, (struct sockaddr *)&sin,
	    sizeof(sin)), 0, ENOENT);
	/* an IPv4-mapped address is another family */
	EXPECT_ERRNO(evhappy_addrinfo_remove(&list, (struct sockaddr *)&mapped,
	    sizeof(mapped)), 0, ENOENT);
	EXPECT_ERRNO(evhappy_addrinfo_remove(&empty, (struct sockaddr *)&sin,
	    sizeof(sin)), 0, ENOENT);

	EXPECT_FAIL(evhappy_addrinfo_remove(NULL, (struct sockaddr *)&sin,
	    sizeof(sin)), EINVAL);
	EXPECT_FAIL(evhappy_addrinfo_remove(&list, NULL, sizeof(sin)), EINVAL);
	EXPECT_FAIL(evhappy_addrinfo_remove(&list, (struct sockaddr *)&sin,
	    sizeof(sin) - 1), EINVAL);
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	EXPECT_FAIL(evhappy_addrinfo_remove(&list, (struct sockaddr *)&un,
	    sizeof(un)), EINVAL);
	ck_assert_str_eq(addrs_str(list), "192.0.2.1");
	evhappy_addrinfo_free(list);
}
END_TEST

/* ---- sort: the examples of RFC 6724 section 10.2 ------------------------ */

/*
 * Each example lists the two destinations in the order the RFC's result
 * gives them, each with the source address the RFC says it gets.  The test
 * sorts them in both input orders, so rule 10 (keep the order) alone cannot
 * pass it.
 */
static const struct {
	const char *rule;
	struct route first, second;
	const char *want;	/* evhappy's order */
} rfc_examples[] = {
	{ "prefer matching scope",
	    { "2001:db8:1::1", "2001:db8:1::2" },
	    { "198.51.100.121", "169.254.13.78" },
	    "2001:db8:1::1 198.51.100.121" },
	{ "prefer matching scope",
	    { "198.51.100.121", "198.51.100.117" },
	    { "2001:db8:1::1", "fe80::1" },
	    "198.51.100.121 2001:db8:1::1" },
	{ "prefer higher precedence",
	    { "2001:db8:1::1", "2001:db8:1::2" },
	    { "10.1.2.3", "10.1.2.4" },
	    "2001:db8:1::1 10.1.2.3" },
	{ "prefer smaller scope",
	    { "fe80::1", "fe80::2" },
	    { "2001:db8:1::1", "2001:db8:1::2" },
	    "fe80::1 2001:db8:1::1" },
	/* RFC: 2001:db8:1::1 (from the home address 2001:db8:3::1) before
	 * fe80::1 (from the care-of address fe80::2), by rule 4.  A source
	 * lookup cannot tell home from care-of addresses, so rule 4 is not
	 * applied and rule 8 decides: documented in he_event.h. */
	{ "prefer home address (rule 4 not applied)",
	    { "fe80::1", "fe80::2" },
	    { "2001:db8:1::1", "2001:db8:3::1" },
	    "fe80::1 2001:db8:1::1" },
	/* RFC: 2001:db8:1::1 before fe80::1 because fe80::2 is deprecated,
	 * by rule 3.  getsockname() does not say that a source address is
	 * deprecated, so rule 8 decides here too. */
	{ "avoid deprecated addresses (rule 3 not applied)",
	    { "fe80::1", "fe80::2" },
	    { "2001:db8:1::1", "2001:db8:1::2" },
	    "fe80::1 2001:db8:1::1" },
	{ "longest matching prefix",
	    { "2001:db8:1::1", "2001:db8:1::2" },
	    { "2001:db8:3ffe::1", "2001:db8:3f44::2" },
	    "2001:db8:1::1 2001:db8:3ffe::1" },
	{ "prefer matching label",
	    { "2002:c633:6401::1", "2002:c633:6401::2" },
	    { "2001:db8:1::1", "2002:c633:6401::2" },
	    "2002:c633:6401::1 2001:db8:1::1" },
	{ "prefer higher precedence",
	    { "2001:db8:1::1", "2001:db8:1::2" },
	    { "2002:c633:6401::1", "2002:c633:6401::2" },
	    "2001:db8:1::1 2002:c633:6401::1" },
};

START_TEST(test_sort_rfc6724_examples)
{
	struct route r[2];
	char in[128];

	r[0] = rfc_examples[_i].first;
	r[1] = rfc_examples[_i].second;
	snprintf(in, sizeof(in), "%s %s", r[0].dst, r[1].dst);
	ck_assert_msg(!strcmp(sorted(in, r, 2), rfc_examples[_i].want),
	    "example %d (%s), given %s: got %s", _i + 1, rfc_examples[_i].rule,
	    in, sorted(in, r, 2));
	snprintf(in, sizeof(in), "%s %s", r[1].dst, r[0].dst);
	ck_assert_msg(!strcmp(sorted(in, r, 2), rfc_examples[_i].want),
	    "example %d (%s), given %s: got %s", _i + 1, rfc_examples[_i].rule,
	    in, sorted(in, r, 2));
}
END_TEST

/* ---- sort: the other rules ---------------------------------------------- */

/* The routes of the cases below. */
static const struct route unreachable[] = {
	{ "2001:db8::1", NULL },
	{ "2001:db8::2", "2001:db8::99" },
	{ "192.0.2.1", NULL },
	{ "192.0.2.2", "192.0.2.99" },
};
static const struct route ties[] = {
	{ "2001:db8::3", "2001:db8::99" },
	{ "2001:db8::1", "2001:db8::99" },
	{ "2001:db8::2", "2001:db8::99" },
	{ "192.0.2.3", "192.0.2.99" },
	{ "192.0.2.1", "192.0.2.99" },
};
static const struct route rule9[] = {
	/* 79 bits shared with the source */
	{ "2001:db8::1:0:0:1", "2001:db8::2" },
	/* 126 bits shared: no better once capped at 64 */
	{ "2001:db8::1", "2001:db8::2" },
};
static const struct route policy[] = {
	{ "::1", "::1" },
	{ "127.0.0.1", "127.0.0.1" },
	{ "fd00::1", "fd00::2" },		/* ULA: precedence 3 */
	{ "192.0.2.1", "192.0.2.2" },		/* IPv4: 35 */
	{ "10.0.0.1", "10.0.0.2" },
	{ "fec0::1", "fec0::2" },		/* site-local: 1 */
	{ "3ffe::1", "3ffe::2" },		/* 6bone: 1 */
	{ "169.254.1.1", "169.254.13.78" },
	{ "ff02::1", "fe80::2" },
	{ "ff0e::1", "2001:db8::2" },
};
/* Made-up sources, so that rule 2 alone tells ::1 is link-local in scope:
   rule 5 would prefer the other destination. */
static const struct route loopback_scope[] = {
	{ "::1", "fe80::2" },
	{ "2001:db8::1", "fe80::2" },
};

#define ROUTES(a) (a), (int)N_OF(a)

/* An input sorted with some routes, and the order it must come out in. */
static const struct {
	const struct route *r;
	int n;
	const char *in, *want;
} sort_cases[] = {
	/* rule 1 outranks rule 6, which would put IPv6 first */
	{ ROUTES(unreachable), "2001:db8::1 192.0.2.2",
	    "192.0.2.2 2001:db8::1" },
	/* the unreachable ones keep their order among themselves */
	{ ROUTES(unreachable), "2001:db8::1 192.0.2.1 192.0.2.2 2001:db8::2",
	    "2001:db8::2 192.0.2.2 2001:db8::1 192.0.2.1" },
	{ ROUTES(unreachable), "192.0.2.1 2001:db8::1",
	    "192.0.2.1 2001:db8::1" },
	/* equal ties keep the input's order */
	{ ROUTES(ties), "2001:db8::3 2001:db8::1 2001:db8::2",
	    "2001:db8::3 2001:db8::1 2001:db8::2" },
	{ ROUTES(ties), "2001:db8::2 2001:db8::3 2001:db8::1",
	    "2001:db8::2 2001:db8::3 2001:db8::1" },
	/* IPv6 leads (rule 6) and each family keeps its own order */
	{ ROUTES(ties), "192.0.2.3 2001:db8::1 192.0.2.1 2001:db8::3",
	    "2001:db8::1 2001:db8::3 192.0.2.3 192.0.2.1" },
	/* rule 9, the common prefix capped at 64 bits */
	{ ROUTES(rule9), "2001:db8::1:0:0:1 2001:db8::1",
	    "2001:db8::1:0:0:1 2001:db8::1" },
	{ ROUTES(rule9), "2001:db8::1 2001:db8::1:0:0:1",
	    "2001:db8::1 2001:db8::1:0:0:1" },
	/* rule 6: ::1 (50) over 127.0.0.1 (35) */
	{ ROUTES(policy), "127.0.0.1 ::1",
	    "::1 127.0.0.1" },
	/* rule 6: the default table puts IPv4 above unique local addresses */
	{ ROUTES(policy), "fd00::1 192.0.2.1",
	    "192.0.2.1 fd00::1" },
	/* rule 8: 127/8 is link-local (RFC 6724 section 3.2) */
	{ ROUTES(policy), "192.0.2.1 127.0.0.1",
	    "127.0.0.1 192.0.2.1" },
	/* rule 8: so is 169.254/16 */
	{ ROUTES(policy), "192.0.2.1 169.254.1.1",
	    "169.254.1.1 192.0.2.1" },
	/* but private IPv4 addresses are global: no reordering */
	{ ROUTES(policy), "192.0.2.1 10.0.0.1",
	    "192.0.2.1 10.0.0.1" },
	{ ROUTES(policy), "10.0.0.1 192.0.2.1",
	    "10.0.0.1 192.0.2.1" },
	/* rule 8: site-local before global, at equal precedence */
	{ ROUTES(policy), "3ffe::1 fec0::1",
	    "fec0::1 3ffe::1" },
	/* rule 8: a multicast scope comes from the address */
	{ ROUTES(policy), "ff0e::1 ff02::1",
	    "ff02::1 ff0e::1" },
	/* rule 2 */
	{ ROUTES(loopback_scope), "2001:db8::1 ::1",
	    "::1 2001:db8::1" },
};

START_TEST(test_sort_rules)
{
	const char *got = sorted(sort_cases[_i].in, sort_cases[_i].r,
	    sort_cases[_i].n);

	ck_assert_msg(!strcmp(got, sort_cases[_i].want),
	    "%s:\n got  %s\n want %s", sort_cases[_i].in, got,
	    sort_cases[_i].want);
}
END_TEST

START_TEST(test_sort_short_and_bad)
{
	static const struct route r[] = { { "192.0.2.1", "192.0.2.2" } };
	struct routes rt = { r, 1, 0 };
	struct evutil_addrinfo *list = NULL;

	ck_assert_int_eq(he_addrinfo_sort_with_(&list, fake_source, &rt), 0);
	ck_assert_ptr_null(list);
	ck_assert_int_eq(evhappy_addrinfo_sort(&list), 0);
	ck_assert_ptr_null(list);
	list = addrs("192.0.2.1", 80);
	ck_assert_int_eq(he_addrinfo_sort_with_(&list, fake_source, &rt), 0);
	ck_assert_str_eq(addrs_str(list), "192.0.2.1");
	evhappy_addrinfo_free(list);

	EXPECT_FAIL(evhappy_addrinfo_sort(NULL), EINVAL);
}
END_TEST

START_TEST(test_sort_relinks_in_place)
{
	static const struct route r[] = {
		{ "192.0.2.1", "192.0.2.2" },
		{ "2001:db8::1", "2001:db8::2" },
	};
	struct routes rt = { r, 2, 0 };
	struct evutil_addrinfo *list = addrs("192.0.2.1 2001:db8::1", 80);
	struct evutil_addrinfo *v4 = list, *v6 = list->ai_next;

	ck_assert_int_eq(he_addrinfo_sort_with_(&list, fake_source, &rt), 0);
	ck_assert_ptr_eq(list, v6);
	ck_assert_ptr_eq(v6->ai_next, v4);
	ck_assert_ptr_null(v4->ai_next);
	evhappy_addrinfo_free(list);
}
END_TEST

/* ---- sort with the kernel's answers ------------------------------------- */

START_TEST(test_source_by_udp_connect)
{
	struct sockaddr_in dst = he_test_sin("127.0.0.1", 0);
	struct sockaddr_in6 ll = sin6_of("fe80::1", 80, 0);
	struct sockaddr_storage src;
	int fds = he_test_count_fds();

	ck_assert_int_ge(fds, 0);
	ck_assert_int_eq(he_source_by_udp_connect_((struct sockaddr *)&dst,
	    sizeof(dst), &src, NULL), 0);
	ck_assert_int_eq(src.ss_family, AF_INET);
	ck_assert_str_eq(he_test_addr_str((struct sockaddr *)&src),
	    "127.0.0.1");
	/* a link-local destination without an interface has no route */
	ck_assert_int_ne(he_source_by_udp_connect_((struct sockaddr *)&ll,
	    sizeof(ll), &src, NULL), 0);
	ck_assert_int_eq(he_source_by_udp_connect_((struct sockaddr *)&dst,
	    3, &src, NULL), EINVAL);
	ck_assert_int_eq(he_test_count_fds(), fds);
}
END_TEST

START_TEST(test_sort_real_loopback)
{
	struct sockaddr_in6 lo6 = sin6_of("::1", 80, 0);
	struct sockaddr_storage src;
	struct evutil_addrinfo *list = addrs("127.0.0.1 ::1", 80);
	int fds = he_test_count_fds();
	int have_v6;

	ck_assert_int_ge(fds, 0);
	ck_assert_int_eq(evhappy_addrinfo_sort(&list), 0);
	ck_assert_int_eq(he_test_count_fds(), fds);	/* no probe left open */
	ck_assert_uint_eq(he_addrinfo_len_(list), 2);
	have_v6 = he_source_by_udp_connect_((struct sockaddr *)&lo6,
	    sizeof(lo6), &src, NULL) == 0;
	if (have_v6)
		ck_assert_str_eq(addrs_str(list), "::1 127.0.0.1");
	else
		ck_assert_str_eq(addrs_str(list), "127.0.0.1 ::1");
	evhappy_addrinfo_free(list);
}
END_TEST

START_TEST(test_sort_real_unreachable_last)
{
	struct evutil_addrinfo *list = addrs("fe80::1 127.0.0.1", 80);
	int fds = he_test_count_fds();

	ck_assert_int_eq(evhappy_addrinfo_sort(&list), 0);
	ck_assert_str_eq(addrs_str(list), "127.0.0.1 fe80::1");
	ck_assert_int_eq(he_test_count_fds(), fds);
	evhappy_addrinfo_free(list);
}
END_TEST

/* ---- big lists: the same properties at 50,000 entries ------------------- */

#define BIG 50000

/* A check inside a loop over a big list.  ck_assert records a mark for
 * every call, which over 50,000 entries costs more than the test (minutes
 * under valgrind); this reaches Check only when the condition fails. */
#define BIG_CHECK(cond, ...) do {					\
	if (!(cond))							\
		ck_abort_msg(__VA_ARGS__);				\
} while (0)

/*
 * An entry of a big list carries its number in its port (1 + id) and, for
 * IPv6, in its last 32 bits too; `prefix` picks its /64 (IPv6) or /24
 * (IPv4).  ai_family may then be changed to make more families.
 */
static struct evutil_addrinfo *
big_entry(int family, int id, int prefix)
{
	/* 2001:db8:0:PPPP::IIII:IIII and 10.PP.PP.1, written out: the
	 * helpers' ck_asserts would cost more than the test */
	struct sockaddr_in6 sin6;
	struct sockaddr_in sin;
	struct evutil_addrinfo *ai;
	uint32_t v = htonl((uint32_t)id);
	uint16_t port = htons((uint16_t)(1 + id % 65535));

	if (family == AF_INET6) {
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = port;
		sin6.sin6_addr.s6_addr[0] = 0x20;
		sin6.sin6_addr.s6_addr[1] = 0x01;
		sin6.sin6_addr.s6_addr[2] = 0x0d;
		sin6.sin6_addr.s6_addr[3] = 0xb8;
		sin6.sin6_addr.s6_addr[6] = (uint8_t)(prefix >> 8);
		sin6.sin6_addr.s6_addr[7] = (uint8_t)prefix;
		memcpy(&sin6.sin6_addr.s6_addr[12], &v, 4);
		he_addrinfo_new_((struct sockaddr *)&sin6, sizeof(sin6), &ai);
	} else {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = port;
		sin.sin_addr.s_addr = htonl(10u << 24 |
		    (uint32_t)(prefix & 0xffff) << 8 | 1);
		he_addrinfo_new_((struct sockaddr *)&sin, sizeof(sin), &ai);
	}
	BIG_CHECK(ai != NULL, "entry %d: out of memory", id);
	return ai;
}

static int
big_id(const struct evutil_addrinfo *ai)
{
	return he_test_port_of(ai->ai_addr) - 1;
}

/* A list of n entries: entry i has family fam[i] (AF_INET6/AF_INET give
 * real addresses, anything else an IPv4 address relabelled) and id i. */
static struct evutil_addrinfo *
big_list(const int *fam, int n, int prefixes)
{
	struct evutil_addrinfo *head = NULL, **tail = &head, *ai;
	int i;

	for (i = 0; i < n; i++) {
		ai = big_entry(fam[i] == AF_INET6 ? AF_INET6 : AF_INET, i,
		    i % prefixes);
		ai->ai_family = fam[i];
		*tail = ai;
		tail = &ai->ai_next;
	}
	return head;
}

/* Deterministic families: `nfam` of them, the first two being AF_INET6 and
 * AF_INET, the others made-up numbers, in runs of random length. */
static int *
big_families(int n, int nfam, unsigned seed)
{
	int *fam = malloc(n * sizeof(*fam));
	int i, f = 0, run = 0;

	ck_assert_ptr_nonnull(fam);
	for (i = 0; i < n; i++) {
		if (run-- <= 0) {
			seed = seed * 1103515245u + 12345u;
			f = (int)((seed >> 16) % (unsigned)nfam);
			run = (int)((seed >> 8) % 5);
		}
		fam[i] = f == 0 ? AF_INET6 : f == 1 ? AF_INET : 1000 + f;
	}
	return fam;
}

/* The rule written out the slow way, on arrays: families in order of first
 * appearance; `count` of the first, then one of each family a turn. */
static void
naive_interleave(const int *fam, int n, int count, int *out)
{
	int *used = calloc(n, sizeof(*used));
	int *order = malloc(n * sizeof(*order));
	int nf = 0, i, j, k = 0, took;

	ck_assert_ptr_nonnull(used);
	ck_assert_ptr_nonnull(order);
	for (i = 0; i < n; i++) {
		for (j = 0; j < nf && order[j] != fam[i]; j++)
			;
		if (j == nf)
			order[nf++] = fam[i];
	}
	for (i = 0; i < n && k < count - 1; i++)
		if (fam[i] == order[0] && !used[i]) {
			used[i] = 1;
			out[k++] = i;
		}
	while (k < n) {
		for (j = 0; j < nf; j++) {
			took = 0;
			for (i = 0; i < n && !took; i++)
				if (fam[i] == order[j] && !used[i]) {
					used[i] = took = 1;
					out[k++] = i;
				}
		}
	}
	free(used);
	free(order);
}

static const struct {
	int n, nfam, count;
} big_interleave_cases[] = {
	{ 2000, 2, 1 }, { 2000, 2, 3 }, { 2000, 1, 2 }, { 2000, 12, 1 },
	{ 2000, 30, 4 }, { 3, 3, 1 },
};

/* Against the written-out rule, with more families than fit the inline
 * table too (made-up family numbers, as a foreign list may hold). */
START_TEST(test_interleave_matches_rule)
{
	int n = big_interleave_cases[_i].n, i;
	int *fam = big_families(n, big_interleave_cases[_i].nfam, 7 + _i);
	int *want = malloc(n * sizeof(*want));
	struct evutil_addrinfo *list = big_list(fam, n, 1), *ai;

	ck_assert_ptr_nonnull(want);
	naive_interleave(fam, n, big_interleave_cases[_i].count, want);
	ck_assert_int_eq(evhappy_addrinfo_interleave(&list,
	    big_interleave_cases[_i].count), 0);
	for (i = 0, ai = list; ai; ai = ai->ai_next, i++) {
		BIG_CHECK(i < n, "case %d: more than %d entries", _i, n);
		BIG_CHECK(big_id(ai) == want[i], "case %d: at %d got %d, "
		    "want %d", _i, i, big_id(ai), want[i]);
	}
	ck_assert_int_eq(i, n);
	evhappy_addrinfo_free(list);
	free(fam);
	free(want);
}
END_TEST

/* 50,000 addresses, the IPv6 ones first: they alternate until IPv4 runs
 * out, each family in its own order, none lost. */
START_TEST(test_big_interleave)
{
	int *fam = malloc(BIG * sizeof(*fam)), i, n6 = BIG * 3 / 5;
	int last[2] = { -1, -1 }, seen[2] = { 0, 0 }, f;
	struct evutil_addrinfo *list, *ai;

	ck_assert_ptr_nonnull(fam);
	for (i = 0; i < BIG; i++)
		fam[i] = i < n6 ? AF_INET6 : AF_INET;
	list = big_list(fam, BIG, 1);
	ck_assert_int_eq(evhappy_addrinfo_interleave(&list, 1), 0);
	for (i = 0, ai = list; ai; ai = ai->ai_next, i++) {
		f = ai->ai_family == AF_INET;
		BIG_CHECK(big_id(ai) > last[f], "at %d: %d after %d", i,
		    big_id(ai), last[f]);		/* order kept */
		last[f] = big_id(ai);
		seen[f]++;
		/* 6 4 6 4 ..., then the IPv6 ones left */
		BIG_CHECK(f == (i < 2 * (BIG - n6) ? i % 2 : 0),
		    "at %d: family %d", i, f);
	}
	ck_assert_int_eq(seen[0], n6);
	ck_assert_int_eq(seen[1], BIG - n6);
	evhappy_addrinfo_free(list);
	free(fam);
}
END_TEST

/* 50,000 entries copied, popped and removed from: what stays keeps its
 * order. */
START_TEST(test_big_dup_pop_remove)
{
	int *fam = big_families(BIG, 2, 11), i, n, prev = -1;
	struct evutil_addrinfo *list = big_list(fam, BIG, 1), *copy, *ai;
	struct evutil_addrinfo *a, *b;
	struct sockaddr_storage victim;

	copy = evhappy_addrinfo_dup(list);
	ck_assert_ptr_nonnull(copy);
	for (a = list, b = copy; a && b; a = a->ai_next, b = b->ai_next) {
		BIG_CHECK(a != b && he_sockaddr_equal_(a->ai_addr,
		    b->ai_addr), "copy of %d differs", big_id(a));
	}
	ck_assert(!a && !b);

	/* the first 3 of each family go; the rest keep their order */
	ck_assert_int_eq(evhappy_addrinfo_pop_interleave(&copy, 3), 6);
	ck_assert_uint_eq(he_addrinfo_len_(copy), BIG - 6);
	for (ai = copy; ai; ai = ai->ai_next) {
		BIG_CHECK(big_id(ai) > prev, "%d after %d", big_id(ai), prev);
		prev = big_id(ai);
	}

	/* ids 65535 apart share a port: remove the copies of one address */
	memcpy(&victim, list->ai_next->ai_next->ai_addr,
	    list->ai_next->ai_next->ai_addrlen);
	n = evhappy_addrinfo_remove(&list, (struct sockaddr *)&victim,
	    sizeof(victim));
	ck_assert_int_eq(n, 1);
	ck_assert_uint_eq(he_addrinfo_len_(list), BIG - 1);
	for (i = 0, ai = list; ai; ai = ai->ai_next, i++)
		BIG_CHECK(big_id(ai) == (i < 2 ? i : i + 1), "at %d: %d", i,
		    big_id(ai));
	evhappy_addrinfo_free(list);
	evhappy_addrinfo_free(copy);
	free(fam);
}
END_TEST

/* A source lookup like a routing table with a default route for each
 * family: the source is the destination's /64 (or /24) with host part 1;
 * ids that are multiples of 7 have no route.  It counts its calls. */
struct prefix_routes {
	int calls;
};

static int
prefix_source(const struct sockaddr *dst, ev_socklen_t dstlen,
    struct sockaddr_storage *src, void *arg)
{
	struct prefix_routes *pr = arg;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)src;
	struct sockaddr_in *s4 = (struct sockaddr_in *)src;

	pr->calls++;
	memset(src, 0, sizeof(*src));
	memcpy(src, dst, dstlen);
	if (dst->sa_family == AF_INET6) {
		/* the /64 decides reachability, as a route would */
		if (s6->sin6_addr.s6_addr[7] % 7 == 0)
			goto unreachable;
		memset(&s6->sin6_addr.s6_addr[8], 0, 7);
		s6->sin6_addr.s6_addr[15] = 1;
	} else {
		if (((uint8_t *)&s4->sin_addr)[2] % 7 == 0)
			goto unreachable;
		((uint8_t *)&s4->sin_addr)[3] = 1;
	}
	return 0;
unreachable:
	return ENETUNREACH;
}

/* 50,000 addresses in 60 prefixes: the cached sort asks once per prefix
 * and orders exactly as the sort that asks for every address: reachable
 * IPv6 (precedence 40), reachable IPv4 (35), then the unreachable, each
 * group in the given order. */
START_TEST(test_big_sort_cached)
{
	int *fam = big_families(BIG, 2, 5), i, group, last_group = 0;
	int prev = -1, prefixes = 30;
	struct evutil_addrinfo *list = big_list(fam, BIG, prefixes);
	struct evutil_addrinfo *ref = evhappy_addrinfo_dup(list), *a, *b;
	struct prefix_routes cached = { 0 }, every = { 0 };
	uint8_t p;

	ck_assert_ptr_nonnull(ref);
	ck_assert_int_eq(he_addrinfo_sort_cached_(&list, prefix_source,
	    &cached), 0);
	ck_assert_int_le(cached.calls, 2 * prefixes);
	ck_assert_int_eq(he_addrinfo_sort_with_(&ref, prefix_source, &every),
	    0);
	ck_assert_int_eq(every.calls, BIG);
	for (i = 0, a = list, b = ref; a && b;
	    a = a->ai_next, b = b->ai_next, i++) {
		BIG_CHECK(big_id(a) == big_id(b), "at %d: %d, uncached %d", i,
		    big_id(a), big_id(b));
		p = a->ai_family == AF_INET6 ?
		    ((struct sockaddr_in6 *)a->ai_addr)->sin6_addr.s6_addr[7] :
		    ((uint8_t *)&((struct sockaddr_in *)a->ai_addr)->sin_addr)[2];
		group = p % 7 == 0 ? 2 : a->ai_family == AF_INET6 ? 0 : 1;
		BIG_CHECK(group >= last_group, "at %d: group %d after %d", i,
		    group, last_group);
		if (group != last_group)
			prev = -1;
		BIG_CHECK(big_id(a) > prev, "at %d: %d after %d", i,
		    big_id(a), prev);		/* stable */
		prev = big_id(a);
		last_group = group;
	}
	ck_assert(!a && !b);
	ck_assert_int_eq(i, BIG);
	evhappy_addrinfo_free(list);
	evhappy_addrinfo_free(ref);
	free(fam);
}
END_TEST

/* A hostile answer of as many /64s as addresses: no more probes than the
 * budget; the rest take the source last found for their family. */
START_TEST(test_sort_cached_budget)
{
	int *fam = big_families(5000, 1, 3), i;
	struct evutil_addrinfo *list = big_list(fam, 5000, 5000), *ai;
	struct prefix_routes pr = { 0 };

	ck_assert_int_eq(he_addrinfo_sort_cached_(&list, prefix_source, &pr),
	    0);
	ck_assert_int_eq(pr.calls, HE_PROBE_BUDGET);
	for (i = 0, ai = list; ai; ai = ai->ai_next)
		i++;
	ck_assert_int_eq(i, 5000);
	evhappy_addrinfo_free(list);
	free(fam);
}
END_TEST

/* A probe refused with EACCES (a broadcast address) answers for that
 * address only; ::1 is not the /64 of ::2. */
static int
picky_source(const struct sockaddr *dst, ev_socklen_t dstlen,
    struct sockaddr_storage *src, void *arg)
{
	struct routes *rt = arg;

	if (dst->sa_family == AF_INET && ((const uint8_t *)&
	    ((const struct sockaddr_in *)dst)->sin_addr)[3] == 255) {
		rt->calls++;
		return EACCES;
	}
	return fake_source(dst, dstlen, src, arg);
}

START_TEST(test_sort_cached_exceptions)
{
	static const struct route r[] = {
		{ "192.0.2.7", "192.0.2.1" },
		{ "::1", "::1" },
	};
	struct routes rt = { r, N_OF(r), 0 };
	struct evutil_addrinfo *list = addrs("192.0.2.255 192.0.2.7 ::2 ::1",
	    80);

	ck_assert_int_eq(he_addrinfo_sort_cached_(&list, picky_source, &rt),
	    0);
	ck_assert_int_eq(rt.calls, 4);
	ck_assert_str_eq(addrs_str(list), "::1 192.0.2.7 192.0.2.255 ::2");
	evhappy_addrinfo_free(list);
}
END_TEST

/* The copy the races start from: stream entries of the two families. */
START_TEST(test_copy_stream)
{
	struct evutil_addrinfo *list = addrs("192.0.2.1 2001:db8::1 192.0.2.2 "
	    "2001:db8::2", 80), *copy, *ai;
	struct sockaddr_in sin = he_test_sin("192.0.2.9", 80);
	struct evutil_addrinfo weird;

	list->ai_socktype = SOCK_DGRAM;			/* skipped */
	list->ai_next->ai_socktype = 0;			/* kept */
	list->ai_next->ai_next->ai_family = AF_UNIX;	/* skipped */
	ck_assert_int_eq(he_addrinfo_copy_stream_(list, AF_UNSPEC, &copy), 0);
	ck_assert_str_eq(addrs_str(copy), "2001:db8::1 2001:db8::2");
	for (ai = copy; ai; ai = ai->ai_next)
		ck_assert_int_eq(ai->ai_socktype, SOCK_STREAM);
	evhappy_addrinfo_free(copy);
	list->ai_socktype = SOCK_STREAM;
	ck_assert_int_eq(he_addrinfo_copy_stream_(list, AF_INET, &copy), 0);
	ck_assert_str_eq(addrs_str(copy), "192.0.2.1");
	evhappy_addrinfo_free(copy);

	copy = list;
	ck_assert_int_eq(he_addrinfo_copy_stream_(list->ai_next, AF_INET,
	    &copy), 0);
	ck_assert_ptr_null(copy);		/* nothing to copy */
	copy = list;
	ck_assert_int_eq(he_addrinfo_copy_stream_(NULL, AF_UNSPEC, &copy), 0);
	ck_assert_ptr_null(copy);

	/* a short address spoils the copy, and nothing leaks */
	memset(&weird, 0, sizeof(weird));
	weird.ai_family = AF_INET;
	weird.ai_addr = (struct sockaddr *)&sin;
	weird.ai_addrlen = sizeof(sin) - 1;
	weird.ai_next = list;
	copy = list;
	ck_assert_int_eq(he_addrinfo_copy_stream_(&weird, AF_UNSPEC, &copy),
	    EINVAL);
	ck_assert_ptr_null(copy);
	evhappy_addrinfo_free(list);
}
END_TEST

/* A caller's list of 50,000 through the race: the first address (a
 * listener) wins, the list behind it costs nothing but its copy. */
struct big_race {
	int done;
	evutil_socket_t fd;
	char first[64];
	int attempts;
};

static void
big_race_cb(evutil_socket_t fd, const struct evhappy_report *r, void *arg)
{
	struct big_race *b = arg;
	struct sockaddr_storage ss;

	b->done = 1;
	b->fd = fd;
	b->attempts = evhappy_report_attempt_count(r);
	if (evhappy_report_attempt(r, 0, &ss, NULL, NULL, NULL) == 0)
		snprintf(b->first, sizeof(b->first), "%s",
		    he_test_addr_str((struct sockaddr *)&ss));
}

START_TEST(test_big_start_connection)
{
	struct he_test_fx f;
	struct big_race b = { 0, -1, "", 0 };
	struct evutil_addrinfo *list, *ai;
	evutil_socket_t lfd;
	int *fam = big_families(BIG, 2, 13), port;

	he_test_fx_begin(&f);
	lfd = he_test_listen("127.0.0.1", &port);
	list = big_list(fam, BIG, 64);
	ai = he_test_ai("127.0.0.1", port);
	ai->ai_next = list;
	list = ai;
	ck_assert_ptr_nonnull(evhappy_start_connection(f.he, list,
	    big_race_cb, &b));
	evhappy_addrinfo_free(list);	/* copied */
	he_test_run_until(f.base, HE_TEST_UP(5000), &b.done);
	ck_assert(b.done);
	ck_assert_int_ge(b.fd, 0);
	ck_assert_str_eq(b.first, "127.0.0.1");
	ck_assert_int_ge(b.attempts, 1);
	evutil_closesocket(b.fd);
	evutil_closesocket(lfd);
	he_test_fx_end(&f);
	free(fam);
}
END_TEST

/* ---- the suite ---------------------------------------------------------- */

/* Hostname literals as the drop-in takes them: never resolved, with
 * brackets and IPv6 zones as getaddrinfo() takes them. */
struct literal_case {
	const char *host;
	int want;		/* 1 a literal, 0 a name, -1 refused */
	int family;
	const char *addr;
	unsigned scope;		/* (unsigned)-1: the index of "lo" */
};

static const struct literal_case literal_cases[] = {
	{ "192.0.2.7", 1, AF_INET, "192.0.2.7", 0 },
	{ "2001:db8::7", 1, AF_INET6, "2001:db8::7", 0 },
	{ "[2001:db8::7]", 1, AF_INET6, "2001:db8::7", 0 },
	{ "fe80::1%3", 1, AF_INET6, "fe80::1", 3 },
	{ "[fe80::1%lo]", 1, AF_INET6, "fe80::1", (unsigned)-1 },
	{ "fe80::1%", -1, 0, NULL, 0 },		/* an address, empty zone */
	{ "fe80::1%nosuchif0", -1, 0, NULL, 0 },	/* no such interface */
	{ "[fe80::1%]", -1, 0, NULL, 0 },
	{ "fe80::1%0", -1, 0, NULL, 0 },
	{ "example.com", 0, 0, NULL, 0 },
	{ "192.0.2", 0, 0, NULL, 0 },
	{ "[192.0.2.7]", -1, 0, NULL, 0 },	/* brackets hold IPv6 only */
	{ "[2001:db8::7", -1, 0, NULL, 0 },
	{ "[]", -1, 0, NULL, 0 },
};

START_TEST(test_parse_literal)
{
	const struct literal_case *c = &literal_cases[_i];
	struct evutil_addrinfo *ai = NULL;
	int rc, err;

	err = he_parse_literal_(c->host, 443, &ai);
	rc = err ? -1 : ai ? 1 : 0;
	ck_assert_msg(rc == c->want, "%s: %d, want %d", c->host, rc, c->want);
	if (rc < 0) {
		ck_assert_int_eq(err, EINVAL);
		ck_assert_ptr_null(ai);
	}
	if (rc != 1)
		return;
	ck_assert_ptr_nonnull(ai);
	ck_assert_ptr_null(ai->ai_next);
	ck_assert_int_eq(ai->ai_family, c->family);
	ck_assert_int_eq(ai->ai_socktype, SOCK_STREAM);
	ck_assert_str_eq(he_test_addr_str(ai->ai_addr), c->addr);
	if (c->family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ai->ai_addr;
		unsigned want = c->scope == (unsigned)-1 ?
		    if_nametoindex("lo") : c->scope;
		ck_assert_uint_eq(s6->sin6_scope_id, want);
		ck_assert_int_eq(ntohs(s6->sin6_port), 443);
	} else {
		const struct sockaddr_in *s4 = (const void *)ai->ai_addr;
		ck_assert_int_eq(ntohs(s4->sin_port), 443);
	}
	evhappy_addrinfo_free(ai);
}
END_TEST

Suite *
he_test_suite(void)
{
	const struct he_test_def tests[] = {
		HE_TCASE("single", 0),
		HE_TEST(test_from_sockaddr_v4),
		HE_TEST(test_from_sockaddr_v6_keeps_scope),
		HE_TEST(test_from_sockaddr_storage_len),
		HE_TEST(test_from_sockaddr_null),
		HE_TEST(test_from_sockaddr_bad),
		HE_TEST(test_new_concat_set_port),
		HE_TEST(test_sockaddr_equal),

		HE_TCASE("dup", 0),
		HE_TEST(test_dup_deep_copy),
		HE_TEST(test_dup_of_getaddrinfo),
		HE_TEST(test_dup_independent_free),
		HE_TEST(test_dup_empty),

		HE_TCASE("interleave", 0),
		HE_LOOP(test_interleave_table, N_OF(interleave_cases)),
		HE_TEST(test_interleave_relinks_in_place),
		HE_TEST(test_interleave_empty_and_bad),

		HE_TCASE("edit", 0),
		HE_LOOP(test_pop_interleave_table, N_OF(pop_cases)),
		HE_TEST(test_pop_interleave_bad),
		HE_TEST(test_remove_written_out_v6),
		HE_TEST(test_remove_v4_head_and_tail),
		HE_TEST(test_remove_scope_mismatch),
		HE_TEST(test_remove_port_mismatch),
		HE_TEST(test_remove_enoent_and_bad),

		HE_TCASE("literals", 0),
		HE_LOOP(test_parse_literal, N_OF(literal_cases)),

		HE_TCASE("sort", 0),
		HE_LOOP(test_sort_rfc6724_examples, N_OF(rfc_examples)),
		HE_LOOP(test_sort_rules, N_OF(sort_cases)),
		HE_TEST(test_sort_short_and_bad),
		HE_TEST(test_sort_relinks_in_place),
		HE_TEST(test_source_by_udp_connect),
		HE_TEST(test_sort_real_loopback),
		HE_TEST(test_sort_real_unreachable_last),
		HE_TEST(test_sort_cached_exceptions),

		/* no time is asserted: a quadratic list would still pass,
		 * slowly; make bench holds the time targets */
		HE_TCASE("big", 60),
		HE_LOOP(test_interleave_matches_rule,
		    N_OF(big_interleave_cases)),
		HE_TEST(test_big_interleave),
		HE_TEST(test_big_dup_pop_remove),
		HE_TEST(test_big_sort_cached),
		HE_TEST(test_sort_cached_budget),
		HE_TEST(test_copy_stream),
		HE_TEST(test_big_start_connection),
	};

	return he_test_suite_of("addrinfo", tests, HE_TEST_N(tests));
}
