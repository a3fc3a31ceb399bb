/*
 * NAT64 (RFC 8305 section 7), the bottom layer: he_nat64.h.
 *
 * - RFC 6052: the RFC's own table of examples (section 2.4) at every
 *   prefix length, both ways; extraction at a wrong length or with a
 *   non-zero u-octet; invalid prefixes; the IPv4 ranges never synthesized,
 *   and those only a network-specific prefix may carry; de-synthesis and
 *   "one server" identity.
 * - RFC 7050: the prefixes in ipv4only.arpa's AAAA answers (one, several,
 *   every length, malformed ones among good ones, none, the position that
 *   only a second answer disambiguates), from a raw list and an addrinfo
 *   list; and the query on evdns against the lab's DNS server in its three
 *   modes (DNS64, A only, no such name), one that never answers, and a
 *   cancelled one.
 * - RFC 8781: the PREF64 option at every Prefix Length Code, its lifetime,
 *   what a receiver ignores; the kernel's netlink messages that carry it.
 * - The store on a fake clock: RA lifetime, withdrawal, RA over DNS,
 *   when RFC 7050 is due again, several threads.
 * - The route probe's memory; the EVHAPPY_NAT64 / API setting syntax.
 */
#include "he_event.h"
#include "he_nat64.h"
#include "he_nat64_cache.h"
#include "he_nat64_query.h"
#include "he_pref64.h"
#include "he_resolve.h"
#include "he_lab.h"
#include "he_testrec.h"
#include "he_testutil.h"

#include <event2/dns.h>
#include <event2/event.h>

#include <check.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#ifdef __linux__
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#endif

#define T0 ((int64_t)5000 * 1000000)
#define SEC(s) ((int64_t)(s) * 1000000)

/* ---- helpers ------------------------------------------------------------ */

static void
v6(const char *s, unsigned char out[16])
{
	ck_assert_msg(inet_pton(AF_INET6, s, out) == 1, "bad literal %s", s);
}

static void
v4(const char *s, unsigned char out[4])
{
	ck_assert_msg(inet_pton(AF_INET, s, out) == 1, "bad literal %s", s);
}

static struct he_nat64_prefix
pfx(const char *addr, int len)
{
	struct he_nat64_prefix p;
	unsigned char a[16];

	v6(addr, a);
	ck_assert_msg(he_nat64_prefix_set_(&p, a, len) == 0, "bad prefix %s/%d",
	    addr, len);
	return p;
}

/* The prefix "ADDR/LEN". */
static struct he_nat64_prefix
pfx_of(const char *cidr)
{
	char addr[INET6_ADDRSTRLEN];
	const char *slash = strchr(cidr, '/');

	ck_assert_msg(slash && (size_t)(slash - cidr) < sizeof(addr),
	    "not ADDR/LEN: %s", cidr);
	memcpy(addr, cidr, (size_t)(slash - cidr));
	addr[slash - cidr] = '\0';
	return pfx(addr, atoi(slash + 1));
}

static const char *
str6(const unsigned char a[16])
{
	static char buf[4][INET6_ADDRSTRLEN];
	static int i;
	char *b = buf[i++ % 4];

	inet_ntop(AF_INET6, a, b, INET6_ADDRSTRLEN);
	return b;
}

static const char *
pstr(const struct he_nat64_prefix *p)
{
	static char buf[4][INET6_ADDRSTRLEN + 4];
	static int i;
	char *b = buf[i++ % 4];

	he_nat64_prefix_str_(p, b, INET6_ADDRSTRLEN + 4);
	return b;
}

static struct he_nat64_cache *
new_cache(void)
{
	struct he_nat64_cache *c;

	ck_assert_int_eq(he_nat64_cache_new_(&c), 0);
	ck_assert_ptr_nonnull(c);
	return c;
}

/* ---- RFC 6052 ----------------------------------------------------------- */

/* RFC 6052 section 2.4, every row (192.0.2.33 in each prefix), written
   as the RFC writes them. */
static const struct {
	const char *prefix;	/* "ADDR/LEN" */
	const char *synth;
} rfc6052_table[] = {
	{ "2001:db8::/32", "2001:db8:c000:221::" },
	{ "2001:db8:100::/40", "2001:db8:1c0:2:21::" },
	{ "2001:db8:122::/48", "2001:db8:122:c000:2:2100::" },
	{ "2001:db8:122:300::/56", "2001:db8:122:3c0:0:221::" },
	{ "2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100:0" },
	{ "2001:db8:122:344::/96", "2001:db8:122:344::192.0.2.33" },
	{ "64:ff9b::/96", "64:ff9b::192.0.2.33" },
};
#define NTABLE ((int)(sizeof(rfc6052_table) / sizeof(rfc6052_table[0])))

START_TEST(test_rfc6052_table)
{
	int i;

	for (i = 0; i < NTABLE; i++) {
		struct he_nat64_prefix p = pfx_of(rfc6052_table[i].prefix);
		unsigned char a4[4], want[16], got[16], back[4];

		v4("192.0.2.33", a4);
		v6(rfc6052_table[i].synth, want);
		he_nat64_embed_(&p, a4, got);
		ck_assert_msg(!memcmp(got, want, 16), "%s: %s, want %s",
		    pstr(&p), str6(got), str6(want));
		/* and back: at the prefix's length, and as a match */
		memset(back, 0, 4);
		ck_assert_int_eq(he_nat64_extract_(want, p.len, back), 0);
		ck_assert(!memcmp(back, a4, 4));
		memset(back, 0, 4);
		ck_assert_int_eq(he_nat64_match_(&p, want, back), 1);
		ck_assert(!memcmp(back, a4, 4));
	}
	/* the suffix is ignored, as translators do (RFC 6052 2.2) */
	{
		struct he_nat64_prefix p = pfx("2001:db8::", 32);
		unsigned char a[16], back[4];
		v6("2001:db8:c000:221:0:ff:ff:ff", a);
		ck_assert_int_eq(he_nat64_match_(&p, a, back), 1);
		ck_assert_int_eq(back[3], 33);
	}
}
END_TEST

START_TEST(test_rfc6052_extract_bad)
{
	struct he_nat64_prefix p = pfx("2001:db8:122:344::", 64);
	unsigned char a[16], out[4];
	int bad[] = { 0, 8, 31, 33, 63, 65, 95, 97, 128, -1 };
	int i;

	v6("2001:db8:122:344:c0:2:2100:0", a);
	for (i = 0; i < (int)(sizeof(bad) / sizeof(bad[0])); i++)
		ck_assert_int_eq(he_nat64_extract_(a, bad[i], out), EINVAL);
	/* a non-zero u-octet: no RFC 6052 address, at any length */
	v6("2001:db8:122:344:1c0:2:2100:0", a);
	for (i = 0; i < 6; i++) {
		static const int lens[] = { 32, 40, 48, 56, 64, 96 };
		ck_assert_int_eq(he_nat64_extract_(a, lens[i], out), EINVAL);
	}
	ck_assert_int_eq(he_nat64_match_(&p, a, out), 0);
	/* another prefix */
	v6("2001:db8:122:345:c0:2:2100:0", a);
	ck_assert_int_eq(he_nat64_match_(&p, a, out), 0);
	ck_assert_int_eq(he_nat64_match_(&he_nat64_wkp_, a, NULL), 0);
}
END_TEST

/* Prefixes he_nat64_prefix_set_ refuses (EINVAL) or takes (0). */
static const struct {
	const char *addr;
	int len, rc;
} prefix_cases[] = {
	/* a bit past the length */
	{ "2001:db8:100::", 32, EINVAL },
	{ "64:ff9b::1", 96, EINVAL },
	{ "2001:db8:122:344:0:0:0:1", 64, EINVAL },
	/* the u-octet inside a /96 */
	{ "2001:db8:122:344:100::", 96, EINVAL },
	{ "2001:db8:122:344:ff:ffff::", 96, 0 },	/* bits 72-95: fine */
	/* ranges no translator sits behind */
	{ "::", 96, EINVAL },
	{ "::ffff:0:0", 96, EINVAL },
	{ "ff0e::", 32, EINVAL },
	{ "fe80::", 64, EINVAL },
	{ "febf::", 32, EINVAL },
	{ "fec0::", 32, 0 },
	{ "::1:0:0", 96, 0 },	/* not mapped: its bytes 10-11 are 00 01 */
};

START_TEST(test_rfc6052_invalid_prefix)
{
	struct he_nat64_prefix p, keep;
	unsigned char a[16];
	int bad_len[] = { 0, 16, 31, 33, 72, 95, 97, 128, -96, 1 << 20 };
	int i;

	keep = pfx("2001:db8::", 32);
	p = keep;
	v6("2001:db8::", a);
	for (i = 0; i < (int)(sizeof(bad_len) / sizeof(bad_len[0])); i++) {
		ck_assert_int_eq(he_nat64_prefix_set_(&p, a, bad_len[i]),
		    EINVAL);
	}
	ck_assert(!memcmp(&p, &keep, sizeof(p)));	/* untouched */
	for (i = 0; i < (int)HE_TEST_N(prefix_cases); i++) {
		int rc;

		v6(prefix_cases[i].addr, a);
		rc = he_nat64_prefix_set_(&p, a, prefix_cases[i].len);
		ck_assert_msg(rc == prefix_cases[i].rc, "%s/%d: %d, want %d",
		    prefix_cases[i].addr, prefix_cases[i].len, rc,
		    prefix_cases[i].rc);
	}
	ck_assert_int_eq(he_nat64_prefix_set_(NULL, a, 96), EINVAL);
	/* the well-known prefix, and not */
	ck_assert(he_nat64_is_wkp_(&he_nat64_wkp_));
	p = pfx("64:ff9b::", 96);
	ck_assert(he_nat64_is_wkp_(&p));
	ck_assert(he_nat64_prefix_ok_(&p));
	p = pfx("64:ff9b:1::", 48);		/* RFC 8215's local-use one */
	ck_assert(!he_nat64_is_wkp_(&p));
	ck_assert_int_eq(he_nat64_prefix_ok_(NULL), 0);
}
END_TEST

/* ---- which IPv4 destinations -------------------------------------------- */

static const struct {
	const char *addr;
	enum he_nat64_v4_class class;
} classes[] = {
	/* never */
	{ "0.0.0.0", HE_NAT64_V4_NEVER },
	{ "0.255.255.255", HE_NAT64_V4_NEVER },
	{ "127.0.0.1", HE_NAT64_V4_NEVER },
	{ "127.255.255.254", HE_NAT64_V4_NEVER },
	{ "169.254.0.1", HE_NAT64_V4_NEVER },
	{ "169.254.255.255", HE_NAT64_V4_NEVER },
	{ "192.0.0.0", HE_NAT64_V4_NEVER },
	{ "192.0.0.7", HE_NAT64_V4_NEVER },
	{ "192.0.0.8", HE_NAT64_V4_NEVER },
	{ "192.0.0.170", HE_NAT64_V4_NEVER },
	{ "192.0.0.171", HE_NAT64_V4_NEVER },
	{ "224.0.0.1", HE_NAT64_V4_NEVER },
	{ "239.255.255.255", HE_NAT64_V4_NEVER },
	{ "240.0.0.1", HE_NAT64_V4_NEVER },
	{ "255.255.255.255", HE_NAT64_V4_NEVER },
	/* a network-specific prefix only */
	{ "10.0.0.1", HE_NAT64_V4_LOCAL },
	{ "100.64.0.1", HE_NAT64_V4_LOCAL },
	{ "100.127.255.255", HE_NAT64_V4_LOCAL },
	{ "172.16.0.1", HE_NAT64_V4_LOCAL },
	{ "172.31.255.255", HE_NAT64_V4_LOCAL },
	{ "192.0.0.11", HE_NAT64_V4_LOCAL },
	{ "192.0.0.172", HE_NAT64_V4_LOCAL },
	{ "192.0.2.2", HE_NAT64_V4_LOCAL },
	{ "192.168.1.1", HE_NAT64_V4_LOCAL },
	{ "198.18.0.1", HE_NAT64_V4_LOCAL },
	{ "198.19.255.255", HE_NAT64_V4_LOCAL },
	{ "198.51.100.7", HE_NAT64_V4_LOCAL },
	{ "203.0.113.9", HE_NAT64_V4_LOCAL },
	/* global, among them the neighbours of every range */
	{ "1.1.1.1", HE_NAT64_V4_GLOBAL },
	{ "1.0.0.0", HE_NAT64_V4_GLOBAL },
	{ "9.255.255.255", HE_NAT64_V4_GLOBAL },
	{ "11.0.0.0", HE_NAT64_V4_GLOBAL },
	{ "100.63.255.255", HE_NAT64_V4_GLOBAL },
	{ "100.128.0.0", HE_NAT64_V4_GLOBAL },
	{ "126.255.255.255", HE_NAT64_V4_GLOBAL },
	{ "128.0.0.0", HE_NAT64_V4_GLOBAL },
	{ "169.253.255.255", HE_NAT64_V4_GLOBAL },
	{ "169.255.0.0", HE_NAT64_V4_GLOBAL },
	{ "172.15.255.255", HE_NAT64_V4_GLOBAL },
	{ "172.32.0.0", HE_NAT64_V4_GLOBAL },
	{ "192.0.0.9", HE_NAT64_V4_GLOBAL },
	{ "192.0.0.10", HE_NAT64_V4_GLOBAL },
	{ "192.0.1.255", HE_NAT64_V4_GLOBAL },
	{ "192.0.3.0", HE_NAT64_V4_GLOBAL },
	{ "192.167.255.255", HE_NAT64_V4_GLOBAL },
	{ "198.17.255.255", HE_NAT64_V4_GLOBAL },
	{ "198.20.0.0", HE_NAT64_V4_GLOBAL },
	{ "203.0.112.255", HE_NAT64_V4_GLOBAL },
	{ "223.255.255.255", HE_NAT64_V4_GLOBAL },
};

START_TEST(test_special_ranges)
{
	struct he_nat64_prefix nsp = pfx("2001:db8:64::", 96);
	int i;

	for (i = 0; i < (int)(sizeof(classes) / sizeof(classes[0])); i++) {
		unsigned char a[4];
		int wkp, ns;

		v4(classes[i].addr, a);
		ck_assert_msg(he_nat64_v4_class_(a) == classes[i].class,
		    "%s: class %d, want %d", classes[i].addr,
		    he_nat64_v4_class_(a), classes[i].class);
		wkp = he_nat64_may_synthesize_(&he_nat64_wkp_, a);
		ns = he_nat64_may_synthesize_(&nsp, a);
		ck_assert_int_eq(wkp, classes[i].class == HE_NAT64_V4_GLOBAL);
		ck_assert_int_eq(ns, classes[i].class != HE_NAT64_V4_NEVER);
	}
}
END_TEST

START_TEST(test_synthesize_sockaddr)
{
	struct he_nat64_prefix nsp = pfx("2001:db8:64::", 96);
	struct he_nat64_prefix p64 = pfx("2001:db8:122:344::", 64);
	struct he_nat64_prefix known[2];
	struct sockaddr_in in = he_test_sin("192.0.2.2", 8080), back;
	struct sockaddr_in6 out, keep, s6;
	unsigned char want[16];

	/* a network-specific prefix carries the documentation address */
	ck_assert_int_eq(he_nat64_synthesize_(&nsp, &in, &out), 0);
	v6("2001:db8:64::c000:202", want);
	ck_assert(!memcmp(&out.sin6_addr, want, 16));
	ck_assert_int_eq(out.sin6_family, AF_INET6);
	ck_assert_int_eq(ntohs(out.sin6_port), 8080);
	ck_assert_int_eq(out.sin6_scope_id, 0);
	/* the well-known one does not (RFC 6052 3.1): out untouched */
	memset(&out, 0xa5, sizeof(out));
	keep = out;
	ck_assert_int_eq(he_nat64_synthesize_(&he_nat64_wkp_, &in, &out),
	    EADDRNOTAVAIL);
	ck_assert(!memcmp(&out, &keep, sizeof(out)));
	/* but a global one, yes */
	in = he_test_sin("8.8.4.4", 443);
	ck_assert_int_eq(he_nat64_synthesize_(&he_nat64_wkp_, &in, &out), 0);
	v6("64:ff9b::808:404", want);
	ck_assert(!memcmp(&out.sin6_addr, want, 16));
	/* loopback: never */
	in = he_test_sin("127.0.0.1", 80);
	ck_assert_int_eq(he_nat64_synthesize_(&nsp, &in, &out), EADDRNOTAVAIL);
	/* bad arguments */
	in.sin_family = AF_INET6;
	ck_assert_int_eq(he_nat64_synthesize_(&nsp, &in, &out), EINVAL);
	ck_assert_int_eq(he_nat64_synthesize_(NULL, &in, &out), EINVAL);

	/* de-synthesis: which prefix, the IPv4 address and the port */
	known[0] = nsp;
	known[1] = p64;
	s6 = he_test_sin6("2001:db8:122:344:c0:2:2100:0", 993);
	ck_assert_int_eq(he_nat64_desynthesize_(known, 2,
	    (struct sockaddr *)&s6, &back), 1);
	ck_assert_int_eq(back.sin_family, AF_INET);
	ck_assert_int_eq(ntohs(back.sin_port), 993);
	ck_assert_str_eq(inet_ntoa(back.sin_addr), "192.0.2.33");
	s6 = he_test_sin6("2001:db8:64::c000:202", 1);
	ck_assert_int_eq(he_nat64_desynthesize_(known, 2,
	    (struct sockaddr *)&s6, NULL), 0);
	/* not a synthesis: another prefix, a scope, another family */
	s6 = he_test_sin6("2001:db8:65::c000:202", 1);
	ck_assert_int_eq(he_nat64_desynthesize_(known, 2,
	    (struct sockaddr *)&s6, &back), -1);
	s6 = he_test_sin6("2001:db8:64::c000:202", 1);
	s6.sin6_scope_id = 3;
	ck_assert_int_eq(he_nat64_desynthesize_(known, 2,
	    (struct sockaddr *)&s6, &back), -1);
	in = he_test_sin("192.0.2.2", 1);
	ck_assert_int_eq(he_nat64_desynthesize_(known, 2,
	    (struct sockaddr *)&in, &back), -1);
	ck_assert_int_eq(he_nat64_desynthesize_(known, 0,
	    (struct sockaddr *)&s6, &back), -1);
}
END_TEST

START_TEST(test_same_server)
{
	struct he_nat64_prefix known[1];
	struct sockaddr_in a = he_test_sin("192.0.2.10", 443);
	struct sockaddr_in6 s = he_test_sin6("64:ff9b::c000:20a", 443);
	struct sockaddr_in6 other = he_test_sin6("2001:db8::1", 443);
	struct sockaddr_in6 other2 = he_test_sin6("2001:db8::1", 443);

	known[0] = he_nat64_wkp_;
	/* a DNS64 answer and the A record it was made of: one server */
	ck_assert(he_nat64_same_server_(known, 1, (struct sockaddr *)&a,
	    (struct sockaddr *)&s));
	ck_assert(he_nat64_same_server_(known, 1, (struct sockaddr *)&s,
	    (struct sockaddr *)&a));
	/* without the prefix known: two */
	ck_assert(!he_nat64_same_server_(known, 0, (struct sockaddr *)&a,
	    (struct sockaddr *)&s));
	/* another port, another address */
	s.sin6_port = htons(80);
	ck_assert(!he_nat64_same_server_(known, 1, (struct sockaddr *)&a,
	    (struct sockaddr *)&s));
	s = he_test_sin6("64:ff9b::c000:20b", 443);
	ck_assert(!he_nat64_same_server_(known, 1, (struct sockaddr *)&a,
	    (struct sockaddr *)&s));
	/* plain addresses compare as themselves */
	ck_assert(he_nat64_same_server_(known, 1, (struct sockaddr *)&other,
	    (struct sockaddr *)&other2));
	other2.sin6_scope_id = 2;
	ck_assert(!he_nat64_same_server_(known, 1, (struct sockaddr *)&other,
	    (struct sockaddr *)&other2));
	ck_assert(!he_nat64_same_server_(known, 1, (struct sockaddr *)&other,
	    NULL));
}
END_TEST

/* ---- RFC 7050 ----------------------------------------------------------- */

/* The AAAA answers a DNS64 with prefix p gives for ipv4only.arpa. */
static int
dns64_answers(const struct he_nat64_prefix *p, unsigned char (*out)[16])
{
	unsigned char a[4];

	v4("192.0.0.170", a);
	he_nat64_embed_(p, a, out[0]);
	v4("192.0.0.171", a);
	he_nat64_embed_(p, a, out[1]);
	return 2;
}

START_TEST(test_rfc7050_every_length)
{
	int i;

	for (i = 0; i < NTABLE; i++) {
		struct he_nat64_prefix p = pfx_of(rfc6052_table[i].prefix),
		    got[4];
		unsigned char ans[2][16];
		int n = dns64_answers(&p, ans);

		memset(got, 0, sizeof(got));
		ck_assert_int_eq(he_nat64_rfc7050_(
		    (const unsigned char (*)[16])ans, n, got, 4), 1);
		ck_assert_msg(got[0].len == p.len &&
		    !memcmp(got[0].addr, p.addr, 16), "%s found as %s",
		    pstr(&p), pstr(&got[0]));
		/* either answer alone is enough */
		ck_assert_int_eq(he_nat64_rfc7050_(
		    (const unsigned char (*)[16])ans + 1, 1, got, 4), 1);
		ck_assert_int_eq(got[0].len, p.len);
	}
}
END_TEST

START_TEST(test_rfc7050_several)
{
	struct he_nat64_prefix a = pfx("64:ff9b::", 96);
	struct he_nat64_prefix b = pfx("2001:db8:122:344::", 64);
	struct he_nat64_prefix c = pfx("2001:db8:100::", 40);
	struct he_nat64_prefix got[4];
	unsigned char ans[8][16];

	/* b's, a's, b's again (a resolver repeats), c's */
	dns64_answers(&b, ans);
	dns64_answers(&a, ans + 2);
	dns64_answers(&b, ans + 4);
	dns64_answers(&c, ans + 6);
	ck_assert_int_eq(he_nat64_rfc7050_((const unsigned char (*)[16])ans,
	    8, got, 4), 3);
	ck_assert_str_eq(pstr(&got[0]), "2001:db8:122:344::/64");
	ck_assert_str_eq(pstr(&got[1]), "64:ff9b::/96");
	ck_assert_str_eq(pstr(&got[2]), "2001:db8:100::/40");
	/* at most max */
	memset(got, 0, sizeof(got));
	ck_assert_int_eq(he_nat64_rfc7050_((const unsigned char (*)[16])ans,
	    8, got, 2), 2);
	ck_assert_int_eq(got[2].len, 0);
	ck_assert_int_eq(he_nat64_rfc7050_((const unsigned char (*)[16])ans,
	    8, got, 0), 0);
}
END_TEST

START_TEST(test_rfc7050_malformed)
{
	struct he_nat64_prefix got[4];
	unsigned char ans[8][16];
	int n = 0;

	/* nothing well-known anywhere */
	v6("2001:db8::1", ans[n++]);
	/* 192.0.0.172: not one of the two */
	v6("64:ff9b::c000:ac", ans[n++]);
	/* the well-known address where a /96 would hold it, but a non-zero
	   u-octet: no RFC 6052 address */
	v6("2001:db8:0:0:100::c000:aa", ans[n++]);
	/* an IPv4-mapped address (a resolver asked with AI_V4MAPPED), a
	   multicast and a link-local one: no NAT64 prefix looks like that */
	v6("::ffff:192.0.0.170", ans[n++]);
	v6("ff0e::c000:aa", ans[n++]);
	v6("fe80::c000:aa", ans[n++]);
	/* all zero: the well-known address nowhere */
	memset(ans[n++], 0, 16);
	ck_assert_int_eq(he_nat64_rfc7050_((const unsigned char (*)[16])ans, n,
	    got, 4), 0);
	/* one good answer among them is found */
	v6("2001:db8:64::c000:ab", ans[n++]);
	ck_assert_int_eq(he_nat64_rfc7050_((const unsigned char (*)[16])ans, n,
	    got, 4), 1);
	ck_assert_str_eq(pstr(&got[0]), "2001:db8:64::/96");
	/* no answers */
	ck_assert_int_eq(he_nat64_rfc7050_((const unsigned char (*)[16])ans, 0,
	    got, 4), 0);
	ck_assert_int_eq(he_nat64_rfc7050_(NULL, 3, got, 4), 0);
	ck_assert_int_eq(he_nat64_rfc7050_((const unsigned char (*)[16])ans,
	    -1, got, 4), 0);
}
END_TEST

START_TEST(test_rfc7050_ambiguous)
{
	struct he_nat64_prefix got[4];
	unsigned char ans[2][16];

	/* A /96 whose own bits read 192.0.0.170 at the /56 position (byte
	   7 c0, bytes 9-11 00 00 aa): the answer holds the well-known
	   address twice.  Both answers confirm the /96; one alone: the
	   longest wins (a shorter prefix's synthesis never shows a longer
	   position). */
	v6("2001:db8:122:3c0:0:aa:c000:aa", ans[0]);
	v6("2001:db8:122:3c0:0:aa:c000:ab", ans[1]);
	ck_assert_int_eq(he_nat64_rfc7050_((const unsigned char (*)[16])ans, 2,
	    got, 4), 1);
	ck_assert_str_eq(pstr(&got[0]), "2001:db8:122:3c0:0:aa::/96");
	ck_assert_int_eq(he_nat64_rfc7050_((const unsigned char (*)[16])ans, 1,
	    got, 4), 1);
	ck_assert_str_eq(pstr(&got[0]), "2001:db8:122:3c0:0:aa::/96");

	/* The other way: a /56 synthesis whose (non-zero, RFC 6052 says
	   SHOULD be zero) suffix reads 192.0.0.170 where a /96 holds it.
	   Only the /56 is confirmed by the second answer, so it wins over
	   the longer chance match. */
	v6("2001:db8:122:3c0:0:aa:c000:aa", ans[0]);
	v6("2001:db8:122:3c0:0:ab:c000:aa", ans[1]);
	ck_assert_int_eq(he_nat64_rfc7050_((const unsigned char (*)[16])ans, 2,
	    got, 4), 1);
	ck_assert_str_eq(pstr(&got[0]), "2001:db8:122:300::/56");
}
END_TEST

START_TEST(test_rfc7050_addrinfo)
{
	struct evutil_addrinfo *list = NULL;
	struct he_nat64_prefix got[4];

	/* what getaddrinfo gives: with an IPv4 entry mixed in */
	list = he_test_append(list, he_test_ai("192.0.0.170", 0));
	list = he_test_append(list, he_test_ai("2001:db8:64::c000:aa", 0));
	list = he_test_append(list, he_test_ai("64:ff9b::c000:ab", 0));
	ck_assert_int_eq(he_nat64_rfc7050_ai_(list, got, 4), 2);
	ck_assert_str_eq(pstr(&got[0]), "2001:db8:64::/96");
	ck_assert_str_eq(pstr(&got[1]), "64:ff9b::/96");
	evhappy_addrinfo_free(list);
	ck_assert_int_eq(he_nat64_rfc7050_ai_(NULL, got, 4), 0);

	/* what the system resolver's answer means */
	{
		int n = -1;
		int64_t life = 0;
		list = he_test_append(NULL, he_test_ai("64:ff9b::c000:aa", 0));
		ck_assert_int_eq(he_nat64_gai_answer_(0, list, got, 4, &n,
		    &life), HE_NAT64_Q_ANSWER);
		ck_assert_int_eq(n, 1);
		ck_assert(life == SEC(HE_NAT64_GAI_LIFETIME_S));
		evhappy_addrinfo_free(list);
		ck_assert_int_eq(he_nat64_gai_answer_(EVUTIL_EAI_NONAME, NULL,
		    got, 4, &n, &life), HE_NAT64_Q_ANSWER);
		ck_assert_int_eq(n, 0);
#ifdef EAI_NODATA
		ck_assert_int_eq(he_nat64_gai_answer_(EAI_NODATA, NULL, got, 4,
		    &n, &life), HE_NAT64_Q_ANSWER);
#endif
		ck_assert_int_eq(he_nat64_gai_answer_(EVUTIL_EAI_AGAIN, NULL,
		    got, 4, &n, &life), HE_NAT64_Q_FAILED);
		ck_assert_int_eq(he_nat64_gai_answer_(EVUTIL_EAI_FAIL, NULL,
		    got, 4, &n, &life), HE_NAT64_Q_FAILED);
		ck_assert_int_eq(n, 0);
	}
	/* lifetimes: the TTL, clamped */
	ck_assert(he_nat64_dns_lifetime_(0) == SEC(HE_NAT64_DNS_MIN_S));
	ck_assert(he_nat64_dns_lifetime_(300) == SEC(300));
	ck_assert(he_nat64_dns_lifetime_(0xffffffffu) ==
	    SEC(HE_NAT64_DNS_MAX_S));
}
END_TEST

/* ---- the query on evdns, against the lab's server ----------------------- */

enum lab_mode { LAB_DNS64, LAB_PLAIN, LAB_NONE, LAB_DROP };

/* One query of ipv4only.arpa against the lab's server in a mode. */
static void
query_lab(enum lab_mode mode, struct he_test_qres *q, int cancel)
{
	struct he_test_fx f;
	struct he_lab_dns *d;
	struct evdns_base *dns;
	struct he_nat64_query *h;
	int64_t t0;

	he_test_fx_begin(&f);
	ck_assert_ptr_nonnull(d = he_lab_dns_new(f.base));
	switch (mode) {
	case LAB_DNS64:
		he_lab_dns_add(d, HE_NAT64_WKN, EVDNS_TYPE_AAAA,
		    "64:ff9b::c000:aa");
		he_lab_dns_add(d, HE_NAT64_WKN, EVDNS_TYPE_AAAA,
		    "64:ff9b::c000:ab");
		he_lab_dns_add(d, HE_NAT64_WKN, EVDNS_TYPE_A, "192.0.0.170");
		he_lab_dns_add(d, HE_NAT64_WKN, EVDNS_TYPE_A, "192.0.0.171");
		break;
	case LAB_PLAIN:
		he_lab_dns_add(d, HE_NAT64_WKN, EVDNS_TYPE_A, "192.0.0.170");
		he_lab_dns_add(d, HE_NAT64_WKN, EVDNS_TYPE_A, "192.0.0.171");
		break;
	case LAB_NONE:
		break;
	case LAB_DROP:
		he_lab_dns_set(d, HE_NAT64_WKN, EVDNS_TYPE_AAAA, HE_LAB_DROP,
		    0);
		break;
	}
	ck_assert_ptr_nonnull(dns = he_lab_dns_client(d, f.base));
	memset(q, 0, sizeof(*q));
	t0 = he_test_now_ms();
	ck_assert_int_eq(he_nat64_query_start_(dns, he_test_query_cb, q, &h),
	    0);
	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(q->calls, 0);	/* never from inside the call */
	if (cancel) {
		he_nat64_query_cancel_(h);
		he_test_run_for(f.base, 50);
	} else {
		he_test_run_until(f.base, HE_TEST_UP(3000), &q->calls);
	}
	if (mode == LAB_DROP && !cancel)	/* the client's 1 s timeout */
		ck_assert_int_ge(he_test_now_ms() - t0, 900);
	evdns_base_free(dns, 0);
	he_lab_dns_free(d);
	he_test_fx_end(&f);
}

START_TEST(test_query_modes)
{
	struct he_test_qres q;

	query_lab(LAB_DNS64, &q, 0);
	ck_assert_int_eq(q.calls, 1);
	ck_assert_int_eq(q.result, HE_NAT64_Q_ANSWER);
	ck_assert_int_eq(q.n, 1);
	ck_assert(he_nat64_is_wkp_(&q.p[0]));
	ck_assert(q.lifetime == SEC(60));	/* the lab's TTL */

	query_lab(LAB_PLAIN, &q, 0);
	ck_assert_int_eq(q.calls, 1);
	ck_assert_int_eq(q.result, HE_NAT64_Q_ANSWER);
	ck_assert_int_eq(q.n, 0);

	query_lab(LAB_NONE, &q, 0);
	ck_assert_int_eq(q.calls, 1);
	ck_assert_int_eq(q.result, HE_NAT64_Q_ANSWER);
	ck_assert_int_eq(q.n, 0);
}
END_TEST

START_TEST(test_query_fails_and_cancels)
{
	struct he_test_qres q;
	struct he_nat64_cache *c;

	/* a server that never answers: failed, after the client's timeout */
	query_lab(LAB_DROP, &q, 0);
	ck_assert_int_eq(q.calls, 1);
	ck_assert_int_eq(q.result, HE_NAT64_Q_FAILED);
	ck_assert_int_eq(q.n, 0);
	/* which the store takes as "ask again soon" */
	c = new_cache();
	ck_assert_int_eq(he_nat64_cache_dns_claim_(c, T0), 1);
	he_nat64_query_apply_(c, q.result, q.p, q.n, q.lifetime, T0);
	ck_assert_int_eq(he_nat64_cache_dns_claim_(c,
	    T0 + SEC(HE_NAT64_DNS_RETRY_S) - 1), 0);
	ck_assert_int_eq(he_nat64_cache_dns_claim_(c,
	    T0 + SEC(HE_NAT64_DNS_RETRY_S)), 1);
	he_nat64_cache_free_(c);

	/* cancelled: never called back, nothing leaked (the fixture counts
	   fds, valgrind and ASan the memory) */
	query_lab(LAB_DNS64, &q, 1);
	ck_assert_int_eq(q.calls, 0);
	query_lab(LAB_DROP, &q, 1);
	ck_assert_int_eq(q.calls, 0);
	he_nat64_query_cancel_(NULL);
	{
		struct he_nat64_query *h = (struct he_nat64_query *)&q;
		ck_assert_int_eq(he_nat64_query_start_(NULL, he_test_query_cb,
		    &q, &h), EINVAL);
		ck_assert_ptr_null(h);
	}
}
END_TEST

/* The system resolver's path: a pool lookup of ipv4only.arpa (the
 * blocking lookup replaced by one that answers as a DNS64 would) read by
 * he_nat64_gai_answer_. */
static int gai_calls;

static int
dns64_gai(const char *node, const char *service,
    const struct evutil_addrinfo *hints, struct evutil_addrinfo **res)
{
	struct addrinfo h;

	(void)hints;
	gai_calls++;
	if (strcmp(node, HE_NAT64_WKN))
		return EAI_NONAME;
	memset(&h, 0, sizeof(h));
	h.ai_family = AF_INET6;
	h.ai_flags = AI_NUMERICHOST;
	return getaddrinfo("2001:db8:64::c000:ab", service, &h,
	    (struct addrinfo **)res);
}

static void
gai_answered(void *arg, int af, const struct evutil_addrinfo *res,
    int eai_error)
{
	struct he_test_qres *g = arg;

	ck_assert_int_eq(af, AF_INET6);
	g->calls++;
	g->result = he_nat64_gai_answer_(eai_error, res, g->p,
	    HE_NAT64_MAX_PREFIXES, &g->n, &g->lifetime);
}

START_TEST(test_query_system_resolver)
{
	struct he_test_fx f;
	struct he_resolver r;
	struct he_query *q = NULL;
	struct he_test_qres g;

	he_test_fx_begin(&f);
	memset(&r, 0, sizeof(r));
	r.base = f.base;
	memset(&g, 0, sizeof(g));
	gai_calls = 0;
	he_resolve_set_gai_hook_(dns64_gai);
	ck_assert_int_eq(he_query_start_(&r, HE_NAT64_WKN, AF_INET6, NULL,
	    gai_answered, &g, &q), 0);
	he_test_run_until(f.base, HE_TEST_UP(3000), &g.calls);
	he_resolve_set_gai_hook_(NULL);
	ck_assert_int_eq(gai_calls, 1);
	ck_assert_int_eq(g.calls, 1);
	ck_assert_int_eq(g.result, HE_NAT64_Q_ANSWER);
	ck_assert_int_eq(g.n, 1);
	ck_assert_str_eq(pstr(&g.p[0]), "2001:db8:64::/96");
	ck_assert(g.lifetime == SEC(HE_NAT64_GAI_LIFETIME_S));
	he_resolver_release_(&r);
	he_test_fx_end(&f);
}
END_TEST

/* ---- RFC 8781 ----------------------------------------------------------- */

START_TEST(test_pref64_every_plc)
{
	static const int lens[] = { 96, 64, 56, 48, 40, 32 };
	unsigned char opt[16];
	struct he_pref64 out;
	int plc;

	for (plc = 0; plc < 8; plc++) {
		/* scaled lifetime 225 (1800 s), the PLC, 96 bits of prefix
		   all 0x2a but for the u-octet */
		opt[0] = 38;
		opt[1] = 2;
		opt[2] = 225 >> 5;
		opt[3] = (unsigned char)((225 << 3 | plc) & 0xff);
		memset(opt + 4, 0x2a, 12);
		opt[4 + 8] = 0;		/* the u-octet (byte 8) */
		memset(&out, 0, sizeof(out));
		if (plc >= 6) {
			/* "receivers MUST ignore" the reserved codes */
			ck_assert_int_eq(he_pref64_parse_(opt, 16, &out), EINVAL);
			continue;
		}
		ck_assert_int_eq(he_pref64_parse_(opt, 16, &out), 0);
		ck_assert_int_eq(out.prefix.len, lens[plc]);
		ck_assert_uint_eq(out.lifetime, 1800);
		/* bits past the length are cleared: a valid prefix */
		ck_assert(he_nat64_prefix_ok_(&out.prefix));
		ck_assert_int_eq(out.prefix.addr[lens[plc] / 8 - 1], 0x2a);
	}
}
END_TEST

START_TEST(test_pref64_lifetime_and_bad)
{
	struct he_pref64 in, out;
	unsigned char opt[24];

	memset(&in, 0, sizeof(in));
	in.prefix = pfx("64:ff9b::", 96);
	/* lifetimes: multiples of 8 s, rounded up, capped */
	in.lifetime = 0;
	ck_assert_int_eq(he_pref64_build_(&in, opt), 0);
	ck_assert_int_eq(he_pref64_parse_(opt, 16, &out), 0);
	ck_assert_uint_eq(out.lifetime, 0);		/* withdrawn */
	ck_assert(he_nat64_is_wkp_(&out.prefix));
	in.lifetime = 1;
	he_pref64_build_(&in, opt);
	he_pref64_parse_(opt, 16, &out);
	ck_assert_uint_eq(out.lifetime, 8);
	in.lifetime = 65528;
	he_pref64_build_(&in, opt);
	ck_assert_int_eq(opt[2], 0xff);
	ck_assert_int_eq(opt[3] & 0xf8, 0xf8);
	he_pref64_parse_(opt, 16, &out);
	ck_assert_uint_eq(out.lifetime, 65528);
	in.lifetime = 1000000;
	he_pref64_build_(&in, opt);
	he_pref64_parse_(opt, 16, &out);
	ck_assert_uint_eq(out.lifetime, 65528);
	/* a /64 round trip */
	in.prefix = pfx("2001:db8:122:344::", 64);
	in.lifetime = 600;
	he_pref64_build_(&in, opt);
	ck_assert_int_eq(he_pref64_parse_(opt, 16, &out), 0);
	ck_assert_str_eq(pstr(&out.prefix), "2001:db8:122:344::/64");
	ck_assert_uint_eq(out.lifetime, 600);

	/* the Length field must be 2 */
	opt[1] = 1;
	ck_assert_int_eq(he_pref64_parse_(opt, 16, &out), EINVAL);
	opt[1] = 3;
	memset(opt + 16, 0, 8);
	ck_assert_int_eq(he_pref64_parse_(opt, 24, &out), EINVAL);
	opt[1] = 0;
	ck_assert_int_eq(he_pref64_parse_(opt, 16, &out), EINVAL);
	/* truncated */
	opt[1] = 2;
	ck_assert_int_eq(he_pref64_parse_(opt, 15, &out), EINVAL);
	ck_assert_int_eq(he_pref64_parse_(opt, 1, &out), EINVAL);
	ck_assert_int_eq(he_pref64_parse_(NULL, 16, &out), EINVAL);
	/* another option */
	opt[0] = 25;
	ck_assert_int_eq(he_pref64_parse_(opt, 16, &out), ENOENT);
	/* a /96 with the u-octet set */
	in.prefix = pfx("64:ff9b::", 96);
	he_pref64_build_(&in, opt);
	opt[4 + 8] = 1;
	ck_assert_int_eq(he_pref64_parse_(opt, 16, &out), EINVAL);
	/* ... which in a /64 is past the length: ignored */
	opt[3] = (opt[3] & 0xf8) | 1;
	ck_assert_int_eq(he_pref64_parse_(opt, 16, &out), 0);
	ck_assert_int_eq(out.prefix.len, 64);
	/* building an invalid prefix */
	in.prefix.len = 33;
	ck_assert_int_eq(he_pref64_build_(&in, opt), EINVAL);
}
END_TEST

#ifdef __linux__
/* A netlink buffer as the kernel writes it. */
struct nlbuf {
	unsigned char b[2048];
	size_t len;
};

static void
nl_useropt(struct nlbuf *nb, int icmp_type, int ifindex,
    const unsigned char *opts, size_t olen, const char *router)
{
	struct nlmsghdr h;
	struct nduseroptmsg m;
	size_t start = nb->len, body = NLMSG_ALIGN(sizeof(m) + olen);

	memset(&h, 0, sizeof(h));
	memset(&m, 0, sizeof(m));
	m.nduseropt_family = AF_INET6;
	m.nduseropt_opts_len = (unsigned short)olen;
	m.nduseropt_ifindex = ifindex;
	m.nduseropt_icmp_type = (unsigned char)icmp_type;
	memcpy(nb->b + start + NLMSG_HDRLEN, &m, sizeof(m));
	memcpy(nb->b + start + NLMSG_HDRLEN + sizeof(m), opts, olen);
	if (router) {
		struct rtattr rta;
		rta.rta_len = RTA_LENGTH(16);
		rta.rta_type = NDUSEROPT_SRCADDR;
		memcpy(nb->b + start + NLMSG_HDRLEN + body, &rta, sizeof(rta));
		v6(router, nb->b + start + NLMSG_HDRLEN + body + sizeof(rta));
		body += RTA_SPACE(16);
	}
	h.nlmsg_len = (unsigned)(NLMSG_HDRLEN + body);
	h.nlmsg_type = RTM_NEWNDUSEROPT;
	memcpy(nb->b + start, &h, sizeof(h));
	nb->len = start + NLMSG_ALIGN(h.nlmsg_len);
}

static void
nl_newprefix(struct nlbuf *nb, int ifindex)
{
	struct nlmsghdr h;
	struct prefixmsg pm;

	memset(&h, 0, sizeof(h));
	memset(&pm, 0, sizeof(pm));
	pm.prefix_family = AF_INET6;
	pm.prefix_ifindex = ifindex;
	h.nlmsg_len = (unsigned)NLMSG_LENGTH(sizeof(pm));
	h.nlmsg_type = RTM_NEWPREFIX;
	memcpy(nb->b + nb->len, &h, sizeof(h));
	memcpy(nb->b + nb->len + NLMSG_HDRLEN, &pm, sizeof(pm));
	nb->len += NLMSG_ALIGN(h.nlmsg_len);
}

struct events {
	int n;
	struct he_nd_event ev[16];
};

static void
collect(const struct he_nd_event *ev, void *arg)
{
	struct events *e = arg;

	if (e->n < 16)
		e->ev[e->n] = *ev;
	e->n++;
}
#endif

START_TEST(test_pref64_netlink)
{
#ifdef __linux__
	struct nlbuf nb;
	struct events e;
	struct he_pref64 p;
	unsigned char opt[16], rdnss[24], two[32], router[16];

	memset(&nb, 0, sizeof(nb));
	memset(&p, 0, sizeof(p));
	p.prefix = pfx("2001:db8:64::", 96);
	p.lifetime = 1800;
	he_pref64_build_(&p, opt);
	memset(rdnss, 0, sizeof(rdnss));
	rdnss[0] = 25;
	rdnss[1] = 3;
	/* 1: a PREF64 option with the router's address */
	nl_useropt(&nb, 134, 7, opt, 16, "fe80::1");
	/* 2: an RDNSS option: an RA seen */
	nl_useropt(&nb, 134, 7, rdnss, 24, "fe80::1");
	/* 3: a prefix notification */
	nl_newprefix(&nb, 7);
	/* 4: not an RA (a redirect, 137): skipped */
	nl_useropt(&nb, 137, 7, opt, 16, NULL);
	/* 5: two options in one message, the first a broken PREF64 */
	memcpy(two, opt, 16);
	two[3] |= 7;		/* reserved PLC */
	memcpy(two + 16, opt, 16);
	nl_useropt(&nb, 134, 8, two, 32, NULL);
	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(he_pref64_parse_netlink_(nb.b, nb.len, collect, &e),
	    5);
	ck_assert_int_eq(e.n, 5);
	v6("fe80::1", router);
	ck_assert_int_eq(e.ev[0].pref64, 1);
	ck_assert_int_eq(e.ev[0].ifindex, 7);
	ck_assert_int_eq(e.ev[0].has_router, 1);
	ck_assert(!memcmp(e.ev[0].router, router, 16));
	ck_assert_str_eq(pstr(&e.ev[0].opt.prefix), "2001:db8:64::/96");
	ck_assert_uint_eq(e.ev[0].opt.lifetime, 1800);
	ck_assert_int_eq(e.ev[1].pref64, 0);
	ck_assert_int_eq(e.ev[2].pref64, 0);
	ck_assert_int_eq(e.ev[2].has_router, 0);
	ck_assert_int_eq(e.ev[3].pref64, 0);	/* the broken one: RA seen */
	ck_assert_int_eq(e.ev[3].ifindex, 8);
	ck_assert_int_eq(e.ev[4].pref64, 1);
	ck_assert_int_eq(e.ev[4].has_router, 0);

	/* truncated anywhere: no crash, at most the whole messages before */
	{
		size_t cut;
		for (cut = 0; cut < nb.len; cut++) {
			unsigned char *copy = malloc(cut ? cut : 1);
			memcpy(copy, nb.b, cut);
			memset(&e, 0, sizeof(e));
			ck_assert_int_le(he_pref64_parse_netlink_(copy, cut,
			    collect, &e), 5);
			free(copy);
		}
	}
	ck_assert_int_eq(he_pref64_parse_netlink_(NULL, 10, collect, &e), 0);
#endif
}
END_TEST

START_TEST(test_pref64_listener_opens)
{
	struct he_nat64_cache *c = new_cache();
	int fds0 = he_test_count_fds(), applied = -1, r;
	evutil_socket_t fd;

	r = he_pref64_open_(&fd);
#ifdef __linux__
	he_test_require(r != EAFNOSUPPORT, "no netlink here");
	ck_assert_int_eq(r, 0);
	ck_assert_int_ge(fd, 0);
	/* nothing there yet: 0, not blocking */
	ck_assert_int_eq(he_pref64_read_(fd, c, T0, &applied), 0);
	ck_assert_int_eq(applied, 0);
	close(fd);
#else
	ck_assert_int_eq(r, ENOSYS);
	ck_assert_int_eq(fd, -1);
#endif
	ck_assert_int_eq(he_test_count_fds(), fds0);
	he_nat64_cache_free_(c);
}
END_TEST

/* ---- the store ---------------------------------------------------------- */

static struct he_pref64
ra_opt(const char *prefix, int len, uint32_t lifetime)
{
	struct he_pref64 o;

	memset(&o, 0, sizeof(o));
	o.prefix = pfx(prefix, len);
	o.lifetime = lifetime;
	return o;
}

/* The store each test of the "cache" test case starts with, and frees. */
static struct he_nat64_cache *cache;

static void
cache_setup(void)
{
	cache = new_cache();
}

static void
cache_teardown(void)
{
	he_nat64_cache_free_(cache);
	cache = NULL;
}

START_TEST(test_cache_ra_lifetime)
{
	struct he_nat64_known k[4];
	struct he_pref64 o = ra_opt("2001:db8:64::", 96, 1800);
	unsigned char r1[16], r2[16];
	int64_t pref64_at;

	v6("fe80::1", r1);
	v6("fe80::2", r2);
	ck_assert_int_eq(he_nat64_cache_get_(cache, T0, 1, k, 4), 0);
	ck_assert(he_nat64_cache_last_ra_(cache, &pref64_at) == 0);
	he_nat64_cache_ra_(cache, &o, 2, r1, T0);
	ck_assert(he_nat64_cache_last_ra_(cache, &pref64_at) == T0);
	ck_assert(pref64_at == T0);
	ck_assert_int_eq(he_nat64_cache_get_(cache, T0 + SEC(1799), 0, k, 4), 1);
	ck_assert_int_eq(k[0].source, HE_NAT64_FROM_RA);
	ck_assert_int_eq(k[0].ifindex, 2);
	ck_assert(k[0].expires == T0 + SEC(1800));
	ck_assert_str_eq(pstr(&k[0].prefix), "2001:db8:64::/96");
	/* the lifetime ends */
	ck_assert_int_eq(he_nat64_cache_get_(cache, T0 + SEC(1800), 0, k, 4), 0);
	/* refreshed by the next RA before it ends: lives on */
	he_nat64_cache_ra_(cache, &o, 2, r1, T0);
	he_nat64_cache_ra_(cache, &o, 2, r1, T0 + SEC(600));
	ck_assert_int_eq(he_nat64_cache_get_(cache, T0 + SEC(2000), 0, k, 4), 1);
	ck_assert(k[0].learned == T0);		/* first heard */
	/* lifetime 0 from another router withdraws nothing */
	o.lifetime = 0;
	he_nat64_cache_ra_(cache, &o, 2, r2, T0 + SEC(700));
	ck_assert_int_eq(he_nat64_cache_get_(cache, T0 + SEC(700), 0, k, 4), 1);
	/* from the one that advertised it: gone at once */
	he_nat64_cache_ra_(cache, &o, 2, r1, T0 + SEC(701));
	ck_assert_int_eq(he_nat64_cache_get_(cache, T0 + SEC(701), 0, k, 4), 0);
	/* an RA without PREF64 is seen, and learns nothing */
	he_nat64_cache_ra_seen_(cache, T0 + SEC(702));
	ck_assert(he_nat64_cache_last_ra_(cache, &pref64_at) == T0 + SEC(702));
	ck_assert(pref64_at == T0 + SEC(701));
	ck_assert_int_eq(he_nat64_cache_get_(cache, T0 + SEC(702), 1, k, 4), 0);
	/* clear */
	o.lifetime = 100;
	he_nat64_cache_ra_(cache, &o, 2, r1, T0);
	he_nat64_cache_clear_(cache);
	ck_assert_int_eq(he_nat64_cache_get_(cache, T0, 1, k, 4), 0);
}
END_TEST

START_TEST(test_cache_ra_several)
{
	struct he_nat64_known k[HE_NAT64_RA_ENTRIES + 2];
	struct he_pref64 a = ra_opt("2001:db8:64::", 96, 1000);
	struct he_pref64 b = ra_opt("64:ff9b::", 96, 1000);
	unsigned char r1[16], r2[16];
	int i;

	v6("fe80::1", r1);
	v6("fe80::2", r2);
	/* b first heard, then a; a from a second router too: once */
	he_nat64_cache_ra_(cache, &b, 2, r2, T0);
	he_nat64_cache_ra_(cache, &a, 2, r1, T0 + SEC(1));
	he_nat64_cache_ra_(cache, &a, 3, r2, T0 + SEC(2));
	ck_assert_int_eq(he_nat64_cache_get_(cache, T0 + SEC(3), 0, k, 4), 2);
	ck_assert(he_nat64_is_wkp_(&k[0].prefix));
	ck_assert_str_eq(pstr(&k[1].prefix), "2001:db8:64::/96");
	/* max */
	ck_assert_int_eq(he_nat64_cache_get_(cache, T0 + SEC(3), 0, k, 1), 1);
	ck_assert(he_nat64_is_wkp_(&k[0].prefix));
	ck_assert_int_eq(he_nat64_cache_get_(cache, T0 + SEC(3), 0, k, 0), 0);
	/* a full table: the one ending first goes */
	he_nat64_cache_clear_(cache);
	for (i = 0; i <= HE_NAT64_RA_ENTRIES; i++) {
		struct he_pref64 x = ra_opt("2001:db8:100::", 40, 500 + 8 * i);
		x.prefix.addr[4] = (unsigned char)(0x10 + i);
		he_nat64_cache_ra_(cache, &x, 2, r1, T0 + SEC(4) + i);
	}
	ck_assert_int_eq(he_nat64_cache_get_(cache, T0 + SEC(5), 0, k,
	    HE_NAT64_RA_ENTRIES + 2), HE_NAT64_RA_ENTRIES);
	for (i = 0; i < HE_NAT64_RA_ENTRIES; i++)	/* 0x10 went */
		ck_assert_int_eq(k[i].prefix.addr[4], 0x11 + i);
}
END_TEST

START_TEST(test_cache_ra_over_dns)
{
	struct he_nat64_known k[4];
	struct he_nat64_prefix d[2];
	struct he_pref64 o = ra_opt("2001:db8:64::", 96, 300);
	struct he_nat64_due due;

	d[0] = he_nat64_wkp_;
	d[1] = pfx("2001:db8:122:344::", 64);
	ck_assert_int_eq(he_nat64_cache_dns_claim_(cache, T0), 1);
	he_nat64_cache_dns_(cache, d, 2, SEC(600), T0);
	ck_assert_int_eq(he_nat64_cache_get_(cache, T0, 0, k, 4), 2);
	ck_assert_int_eq(k[0].source, HE_NAT64_FROM_DNS);
	ck_assert(he_nat64_is_wkp_(&k[0].prefix));
	ck_assert_str_eq(pstr(&k[1].prefix), "2001:db8:122:344::/64");
	/* an RA's prefix beats them (RFC 9872) ... */
	he_nat64_cache_ra_(cache, &o, 2, NULL, T0 + SEC(10));
	ck_assert_int_eq(he_nat64_cache_get_(cache, T0 + SEC(10), 0, k, 4), 1);
	ck_assert_int_eq(k[0].source, HE_NAT64_FROM_RA);
	/* ... all of them are there for de-synthesis, RA first, once */
	he_nat64_cache_ra_(cache, &(struct he_pref64){ he_nat64_wkp_, 300 }, 2,
	    NULL, T0 + SEC(11));
	ck_assert_int_eq(he_nat64_cache_get_(cache, T0 + SEC(11), 1, k, 4), 3);
	ck_assert_int_eq(k[0].source, HE_NAT64_FROM_RA);
	ck_assert_int_eq(k[1].source, HE_NAT64_FROM_RA);
	ck_assert(he_nat64_is_wkp_(&k[1].prefix));
	ck_assert_int_eq(k[2].source, HE_NAT64_FROM_DNS);
	ck_assert_str_eq(pstr(&k[2].prefix), "2001:db8:122:344::/64");
	/* while they live, no RFC 7050 query is due */
	ck_assert_int_eq(he_nat64_cache_dns_claim_(cache, T0 + SEC(12)), 0);
	he_nat64_cache_due_(cache, T0 + SEC(12), &due);
	ck_assert(due.dns_at == HE_NAT64_NEVER);
	ck_assert(due.expires_at == T0 + SEC(310));
	/* the RA prefixes end: back to DNS, due for refresh at 590 s */
	ck_assert_int_eq(he_nat64_cache_get_(cache, T0 + SEC(312), 0, k, 4), 2);
	ck_assert_int_eq(k[0].source, HE_NAT64_FROM_DNS);
	he_nat64_cache_due_(cache, T0 + SEC(312), &due);
	ck_assert(due.dns_at == T0 + SEC(600 - HE_NAT64_DNS_AHEAD_S));
	ck_assert(due.expires_at == T0 + SEC(600));
	/* an RA brings one back before then: past 590 s no query is due */
	he_nat64_cache_ra_(cache, &o, 2, NULL, T0 + SEC(500));
	ck_assert_int_eq(he_nat64_cache_dns_claim_(cache, T0 + SEC(595)), 0);
	he_nat64_cache_due_(cache, T0 + SEC(595), &due);
	ck_assert(due.dns_at == HE_NAT64_NEVER);
	ck_assert(due.expires_at == T0 + SEC(800));
	/* it ends after the DNS ones did: nothing, and a query due at once */
	ck_assert_int_eq(he_nat64_cache_get_(cache, T0 + SEC(800), 1, k, 4), 0);
	he_nat64_cache_due_(cache, T0 + SEC(800), &due);
	ck_assert(due.dns_at <= T0 + SEC(800));
	ck_assert(due.expires_at == HE_NAT64_NEVER);
	ck_assert_int_eq(he_nat64_cache_dns_claim_(cache, T0 + SEC(800)), 1);
}
END_TEST

START_TEST(test_cache_dns_timing)
{
	struct he_nat64_known k[4];
	struct he_nat64_prefix d = pfx("64:ff9b::", 96);
	struct he_nat64_due due;
	int64_t t;

	/* never asked: due at once, one claimer at a time */
	he_nat64_cache_due_(cache, T0, &due);
	ck_assert(due.dns_at <= T0);
	ck_assert(due.expires_at == HE_NAT64_NEVER);
	ck_assert_int_eq(he_nat64_cache_dns_claim_(cache, T0), 1);
	ck_assert_int_eq(he_nat64_cache_dns_claim_(cache, T0), 0);
	he_nat64_cache_due_(cache, T0, &due);
	ck_assert(due.dns_at == T0 + SEC(HE_NAT64_DNS_STALE_S));
	/* an answer with a TTL of 100 s: asked again 10 s before it ends */
	he_nat64_cache_dns_(cache, &d, 1, SEC(100), T0 + SEC(1));
	t = T0 + SEC(1);
	ck_assert_int_eq(he_nat64_cache_dns_claim_(cache, t + SEC(89)), 0);
	ck_assert_int_eq(he_nat64_cache_dns_claim_(cache, t + SEC(90)), 1);
	/* the refresh fails: the prefix holds until it ends, retry in 10 s */
	he_nat64_cache_dns_failed_(cache, t + SEC(91));
	ck_assert_int_eq(he_nat64_cache_get_(cache, t + SEC(99), 0, k, 4), 1);
	ck_assert_int_eq(he_nat64_cache_get_(cache, t + SEC(100), 0, k, 4), 0);
	ck_assert_int_eq(he_nat64_cache_dns_claim_(cache, t + SEC(100)), 0);
	ck_assert_int_eq(he_nat64_cache_dns_claim_(cache, t + SEC(101)), 1);
	/* "no DNS64": nothing to use, and not asked again for a minute */
	he_nat64_cache_dns_(cache, NULL, 0, SEC(100), t + SEC(102));
	ck_assert_int_eq(he_nat64_cache_get_(cache, t + SEC(102), 1, k, 4), 0);
	he_nat64_cache_due_(cache, t + SEC(102), &due);
	ck_assert(due.dns_at == t + SEC(102 + HE_NAT64_DNS_NONE_S));
	ck_assert(due.expires_at == HE_NAT64_NEVER);
	ck_assert_int_eq(he_nat64_cache_dns_claim_(cache,
	    t + SEC(102 + HE_NAT64_DNS_NONE_S) - 1), 0);
	ck_assert_int_eq(he_nat64_cache_dns_claim_(cache,
	    t + SEC(102 + HE_NAT64_DNS_NONE_S)), 1);
	/* a claimer that never reports: taken back after the stale time */
	t += SEC(102 + HE_NAT64_DNS_NONE_S);
	ck_assert_int_eq(he_nat64_cache_dns_claim_(cache,
	    t + SEC(HE_NAT64_DNS_STALE_S) - 1), 0);
	ck_assert_int_eq(he_nat64_cache_dns_claim_(cache,
	    t + SEC(HE_NAT64_DNS_STALE_S)), 1);
	/* one that gives up: due again at once */
	he_nat64_cache_dns_release_(cache);
	ck_assert_int_eq(he_nat64_cache_dns_claim_(cache,
	    t + SEC(HE_NAT64_DNS_STALE_S)), 1);
	/* a TTL below the floor is raised; invalid prefixes are dropped */
	{
		struct he_nat64_prefix two[2];
		two[0] = d;
		two[1] = d;
		two[1].len = 33;
		he_nat64_cache_dns_(cache, two, 2, SEC(1), t);
		ck_assert_int_eq(he_nat64_cache_get_(cache, t, 0, k, 4), 1);
		ck_assert(k[0].expires == t + SEC(HE_NAT64_DNS_MIN_S));
	}
}
END_TEST

START_TEST(test_cache_select)
{
	struct he_nat64_known k[4];
	struct he_nat64_prefix fixed = pfx("2001:db8:122:344::", 64);
	struct he_pref64 o = ra_opt("64:ff9b::", 96, 100);

	he_nat64_cache_ra_(cache, &o, 1, NULL, T0);
	ck_assert_int_eq(he_nat64_select_(HE_NAT64_OFF, &fixed, cache, T0, k, 4), 0);
	ck_assert_int_eq(he_nat64_select_(HE_NAT64_FIXED, &fixed, cache, T0, k, 4),
	    1);
	ck_assert_int_eq(k[0].source, HE_NAT64_FROM_CALLER);
	ck_assert(k[0].expires == HE_NAT64_NEVER);
	ck_assert_str_eq(pstr(&k[0].prefix), "2001:db8:122:344::/64");
	ck_assert_int_eq(he_nat64_select_(HE_NAT64_AUTO, &fixed, cache, T0, k, 4),
	    1);
	ck_assert_int_eq(k[0].source, HE_NAT64_FROM_RA);
	ck_assert_int_eq(he_nat64_select_(HE_NAT64_AUTO, NULL, NULL, T0, k, 4),
	    0);
	fixed.len = 33;
	ck_assert_int_eq(he_nat64_select_(HE_NAT64_FIXED, &fixed, cache, T0, k, 4),
	    0);
	/* the process's store is one */
	ck_assert_ptr_eq(he_nat64_cache_global_(), he_nat64_cache_global_());
	he_nat64_cache_free_(he_nat64_cache_global_());	/* a no-op */
}
END_TEST

#define NTHREADS 4
#define ROUNDS 20000

static void *
hammer(void *arg)
{
	struct he_nat64_cache *c = arg;
	struct he_nat64_known k[4];
	int i;

	for (i = 0; i < ROUNDS; i++) {
		struct he_pref64 o = ra_opt("2001:db8:64::", 96,
		    (uint32_t)(i % 3) * 100);
		struct he_nat64_due due;
		o.prefix.addr[5] = (unsigned char)(i % 5);
		he_nat64_cache_ra_(c, &o, i % 2, NULL, T0 + i);
		if (he_nat64_cache_dns_claim_(c, T0 + i))
			he_nat64_cache_dns_(c, &o.prefix, 1, SEC(60), T0 + i);
		ck_assert_int_le(he_nat64_cache_get_(c, T0 + i, 1, k, 4), 4);
		he_nat64_cache_due_(c, T0 + i, &due);
	}
	return NULL;
}

START_TEST(test_cache_threads)
{
	pthread_t t[NTHREADS];
	int i;

	for (i = 0; i < NTHREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, cache), 0);
	for (i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
}
END_TEST

/* ---- routes ------------------------------------------------------------- */

static int probes;
static int probe_answer;	/* -1: fail with EMFILE */

static int
fake_probe(int family, const struct sockaddr *dst, int *have)
{
	(void)dst;
	probes++;
	if (family == AF_INET && probe_answer < 0)
		return EMFILE;
	*have = family == AF_INET ? probe_answer : 1;
	return 0;
}

/* he_route_have_'s answer (have), or -errno. */
static int
have_route(int family, int64_t now)
{
	int have = -7, r = he_route_have_(family, now, &have);

	return r ? -r : have;
}

START_TEST(test_route_memory)
{
	int64_t t = T0;

	he_route_set_probe_hook_(fake_probe);
	probes = 0;
	probe_answer = 0;
	ck_assert_int_eq(have_route(AF_INET, t), 0);
	ck_assert_int_eq(probes, 1);
	/* remembered for a second, per family */
	probe_answer = 1;
	ck_assert_int_eq(have_route(AF_INET, t + HE_ROUTE_CACHE_US - 1), 0);
	ck_assert_int_eq(probes, 1);
	ck_assert_int_eq(have_route(AF_INET6, t), 1);
	ck_assert_int_eq(probes, 2);
	ck_assert_int_eq(have_route(AF_INET, t + HE_ROUTE_CACHE_US), 1);
	ck_assert_int_eq(probes, 3);
	/* "cannot tell" is not remembered */
	probe_answer = -1;
	ck_assert_int_eq(have_route(AF_INET, t + 3 * HE_ROUTE_CACHE_US),
	    -EMFILE);
	ck_assert_int_eq(have_route(AF_INET, t + 3 * HE_ROUTE_CACHE_US),
	    -EMFILE);
	ck_assert_int_eq(probes, 5);
	/* a clock that went back is no reason to believe an old answer */
	probe_answer = 0;
	ck_assert_int_eq(have_route(AF_INET, t + 5 * HE_ROUTE_CACHE_US), 0);
	probe_answer = 1;
	ck_assert_int_eq(have_route(AF_INET, t), 1);
	ck_assert_int_eq(have_route(AF_UNIX, t), -EINVAL);
	he_route_set_probe_hook_(NULL);
}
END_TEST

/* he_route_have_to_'s answer for dst (have), or -errno. */
static int
have_route_to(const char *dst, int64_t now)
{
	struct sockaddr_in sin = he_test_sin(dst, 0);
	int have = -7, r = he_route_have_to_((struct sockaddr *)&sin, now,
	    &have);

	return r ? -r : have;
}

/* A destination's answer is remembered a second, per destination: a
 * program racing one IPv4 literal on an IPv6-only network probes once a
 * second, not once a race. */
START_TEST(test_route_to_memory)
{
	struct sockaddr_un un;
	int64_t t = T0;
	int have, i;

	he_route_set_probe_hook_(fake_probe);
	probes = 0;
	probe_answer = 0;
	ck_assert_int_eq(have_route_to("192.0.2.2", t), 0);
	probe_answer = 1;
	ck_assert_int_eq(have_route_to("192.0.2.2", t + HE_ROUTE_CACHE_US - 1),
	    0);
	ck_assert_int_eq(probes, 1);
	ck_assert_int_eq(have_route_to("192.0.2.3", t), 1);
	ck_assert_int_eq(probes, 2);
	ck_assert_int_eq(have_route_to("192.0.2.2", t + HE_ROUTE_CACHE_US), 1);
	ck_assert_int_eq(probes, 3);
	/* the oldest of more destinations than are kept is asked again */
	for (i = 0; i < HE_ROUTE_TO_KEPT; i++) {
		char a[32];
		snprintf(a, sizeof(a), "198.51.100.%d", i + 1);
		ck_assert_int_eq(have_route_to(a, t + HE_ROUTE_CACHE_US), 1);
	}
	ck_assert_int_eq(probes, 3 + HE_ROUTE_TO_KEPT);
	ck_assert_int_eq(have_route_to("192.0.2.2", t + HE_ROUTE_CACHE_US), 1);
	ck_assert_int_eq(probes, 4 + HE_ROUTE_TO_KEPT);
	/* "cannot tell" is not remembered */
	probe_answer = -1;
	ck_assert_int_eq(have_route_to("192.0.2.9", t), -EMFILE);
	ck_assert_int_eq(have_route_to("192.0.2.9", t), -EMFILE);
	ck_assert_int_eq(probes, 6 + HE_ROUTE_TO_KEPT);
	/* a new hook forgets */
	probe_answer = 0;
	he_route_set_probe_hook_(fake_probe);
	ck_assert_int_eq(have_route_to("192.0.2.2", t + HE_ROUTE_CACHE_US), 0);
	ck_assert_int_eq(probes, 7 + HE_ROUTE_TO_KEPT);
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	ck_assert_int_eq(he_route_have_to_((struct sockaddr *)&un, t, &have),
	    EINVAL);
	he_route_set_probe_hook_(NULL);
}
END_TEST

START_TEST(test_route_probe_real)
{
	struct sockaddr_in lo = he_test_sin("127.0.0.1", 0);
	struct sockaddr_in6 lo6 = he_test_sin6("::1", 0);
	int fds0 = he_test_count_fds(), have = -1;

	/* loopback has a route wherever there is IPv4 */
	ck_assert_int_eq(he_route_probe_(AF_INET, (struct sockaddr *)&lo,
	    &have), 0);
	ck_assert_int_eq(have, 1);
	/* the default destination: whatever this host has, a clear answer */
	have = -1;
	ck_assert_int_eq(he_route_probe_(AF_INET, NULL, &have), 0);
	ck_assert(have == 0 || have == 1);
	have = -1;
	ck_assert_int_eq(he_route_probe_(AF_INET6, NULL, &have), 0);
	ck_assert(have == 0 || have == 1);
	have = -1;
	ck_assert_int_eq(he_route_probe_(AF_INET6, (struct sockaddr *)&lo6,
	    &have), 0);
	ck_assert(have == 0 || have == 1);
	/* bad arguments */
	ck_assert_int_eq(he_route_probe_(AF_INET6, (struct sockaddr *)&lo,
	    &have), EINVAL);
	ck_assert_int_eq(he_route_probe_(AF_UNIX, NULL, &have), EINVAL);
	ck_assert_int_eq(he_route_probe_(AF_INET, NULL, NULL), EINVAL);
	ck_assert_int_eq(he_test_count_fds(), fds0);
}
END_TEST

/* ---- the setting -------------------------------------------------------- */

START_TEST(test_setting_parse)
{
	static const char *bad[] = {
		"", "on", "OFF", "Auto", "auto ", " off", "64:ff9b::",
		"64:ff9b::/95", "64:ff9b::/", "/96", "64:ff9b::/96x",
		"64:ff9b::/ 96", "64:ff9b::/+96", "64:ff9b::/-96",
		"64:ff9b::/0096000000000000000000", "64:ff9b::1/96",
		"2001:db8::/129", "192.0.2.0/24", "2001:db8:122:344:100::/96",
		"2001:db8:100::/32", "[64:ff9b::]/96", "64:ff9b::%1/96",
		"64:ff9b::/96/96",
		"0000:0000:0000:0000:0000:0000:0000:0000:0000:0064/96",
	};
	enum he_nat64_mode m;
	struct he_nat64_prefix p, keep;
	int i;

	ck_assert_int_eq(he_nat64_parse_setting_("off", &m, &p), 0);
	ck_assert_int_eq(m, HE_NAT64_OFF);
	ck_assert_int_eq(he_nat64_parse_setting_("auto", &m, &p), 0);
	ck_assert_int_eq(m, HE_NAT64_AUTO);
	ck_assert_int_eq(he_nat64_parse_setting_("64:ff9b::/96", &m, &p), 0);
	ck_assert_int_eq(m, HE_NAT64_FIXED);
	ck_assert(he_nat64_is_wkp_(&p));
	ck_assert_int_eq(he_nat64_parse_setting_("2001:DB8:122:344::/64", &m,
	    &p), 0);
	ck_assert_str_eq(pstr(&p), "2001:db8:122:344::/64");
	ck_assert_int_eq(he_nat64_parse_setting_("2001:db8::/32", &m, &p), 0);
	ck_assert_int_eq(p.len, 32);
	/* "off" and "auto" need no prefix */
	ck_assert_int_eq(he_nat64_parse_setting_("off", &m, NULL), 0);
	keep = p;
	for (i = 0; i < (int)(sizeof(bad) / sizeof(bad[0])); i++) {
		m = HE_NAT64_FIXED;
		ck_assert_msg(he_nat64_parse_setting_(bad[i], &m, &p) == EINVAL,
		    "\"%s\" accepted", bad[i]);
		ck_assert_int_eq(m, HE_NAT64_FIXED);
		ck_assert(!memcmp(&p, &keep, sizeof(p)));
	}
	ck_assert_int_eq(he_nat64_parse_setting_(NULL, &m, &p), EINVAL);
	ck_assert_int_eq(he_nat64_parse_setting_("off", NULL, &p), EINVAL);
	ck_assert_int_eq(he_nat64_parse_setting_("64:ff9b::/96", &m, NULL),
	    EINVAL);
}
END_TEST

START_TEST(test_setting_from_api)
{
	enum he_nat64_mode m;
	struct he_nat64_prefix p;
	struct sockaddr_in6 s = he_test_sin6("2001:db8:64::", 0);

	ck_assert_int_eq(he_nat64_setting_from_api_(NULL, 0, &m, &p), 0);
	ck_assert_int_eq(m, HE_NAT64_OFF);
	ck_assert_int_eq(he_nat64_setting_from_api_(NULL, -1, &m, &p), 0);
	ck_assert_int_eq(m, HE_NAT64_AUTO);
	ck_assert_int_eq(he_nat64_setting_from_api_(&s, 96, &m, &p), 0);
	ck_assert_int_eq(m, HE_NAT64_FIXED);
	ck_assert_str_eq(pstr(&p), "2001:db8:64::/96");
	ck_assert_int_eq(he_nat64_setting_from_api_(NULL, 96, &m, &p), EINVAL);
	ck_assert_int_eq(he_nat64_setting_from_api_(&s, 0, &m, &p), EINVAL);
	ck_assert_int_eq(he_nat64_setting_from_api_(&s, -1, &m, &p), EINVAL);
	ck_assert_int_eq(he_nat64_setting_from_api_(&s, 100, &m, &p), EINVAL);
	s.sin6_port = htons(1);
	ck_assert_int_eq(he_nat64_setting_from_api_(&s, 96, &m, &p), EINVAL);
	s.sin6_port = 0;
	s.sin6_scope_id = 1;
	ck_assert_int_eq(he_nat64_setting_from_api_(&s, 96, &m, &p), EINVAL);
	s = he_test_sin6("2001:db8:64::", 0);
	s.sin6_family = AF_INET;
	ck_assert_int_eq(he_nat64_setting_from_api_(&s, 96, &m, &p), EINVAL);
	ck_assert_int_eq(m, HE_NAT64_FIXED);	/* untouched by failures */
}
END_TEST

START_TEST(test_describe)
{
	struct sockaddr_in a = he_test_sin("192.0.2.10", 443);
	struct sockaddr_in6 s;
	struct he_nat64_known k;
	char buf[160];

	memset(&k, 0, sizeof(k));
	k.prefix = pfx("2001:db8:64::", 96);
	k.source = HE_NAT64_FROM_RA;
	ck_assert_int_eq(he_nat64_synthesize_(&k.prefix, &a, &s), 0);
	he_nat64_describe_(&s, &a, &k, buf, sizeof(buf));
	ck_assert_str_eq(buf,
	    "2001:db8:64::c000:20a for 192.0.2.10, prefix 2001:db8:64::/96 from RA");
	k.source = HE_NAT64_FROM_DNS;
	he_nat64_describe_(&s, &a, &k, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "from DNS"));
	k.source = HE_NAT64_FROM_CALLER;
	he_nat64_describe_(&s, &a, &k, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "from caller"));
	he_nat64_describe_(NULL, &a, &k, buf, sizeof(buf));
	ck_assert_str_eq(buf, "?");
	ck_assert_str_eq(he_nat64_source_name_((enum he_nat64_source)9), "?");
}
END_TEST

Suite *
he_test_suite(void)
{
	const struct he_test_def tests[] = {
		HE_TCASE("rfc6052", 10),

		HE_TEST(test_rfc6052_table),
		HE_TEST(test_rfc6052_extract_bad),
		HE_TEST(test_rfc6052_invalid_prefix),
		HE_TEST(test_special_ranges),
		HE_TEST(test_synthesize_sockaddr),
		HE_TEST(test_same_server),

		HE_TCASE("rfc7050", 30),
		HE_TEST(test_rfc7050_every_length),
		HE_TEST(test_rfc7050_several),
		HE_TEST(test_rfc7050_malformed),
		HE_TEST(test_rfc7050_ambiguous),
		HE_TEST(test_rfc7050_addrinfo),
		HE_TEST(test_query_modes),
		HE_TEST(test_query_fails_and_cancels),
		HE_TEST(test_query_system_resolver),

		HE_TCASE("pref64", 10),
		HE_TEST(test_pref64_every_plc),
		HE_TEST(test_pref64_lifetime_and_bad),
		HE_TEST(test_pref64_netlink),
		HE_TEST(test_pref64_listener_opens),

		HE_TCASE_FX("cache", 60, cache_setup, cache_teardown),
		HE_TEST(test_cache_ra_lifetime),
		HE_TEST(test_cache_ra_several),
		HE_TEST(test_cache_ra_over_dns),
		HE_TEST(test_cache_dns_timing),
		HE_TEST(test_cache_select),
		HE_TEST(test_cache_threads),

		HE_TCASE("misc", 10),
		HE_TEST(test_route_memory),
		HE_TEST(test_route_to_memory),
		HE_TEST(test_route_probe_real),
		HE_TEST(test_setting_parse),
		HE_TEST(test_setting_from_api),
		HE_TEST(test_describe),
	};

	return he_test_suite_of("nat64", tests, HE_TEST_N(tests));
}
