/*
 * libFuzzer target: NAT64's parsers of what the network says (he_nat64.h):
 * the AAAA answers of ipv4only.arpa (RFC 7050), the PREF64 option of a
 * router advertisement (RFC 8781), the kernel's netlink messages that
 * carry RA options, the EVHAPPY_NAT64 syntax, and RFC 6052 synthesis.
 *
 * The first byte picks the parser, the rest is its input.  What is
 * checked is what the rest of the library relies on:
 * - every prefix any parser returns is a valid RFC 6052 prefix;
 * - RFC 7050: at most max prefixes, no duplicates, and each one is the
 *   prefix of some answer holding a well-known address at its position;
 * - PREF64: the lifetime a multiple of 8 up to 65528, and building the
 *   option again and parsing that gives the same;
 * - netlink: every event a store is fed keeps the store's answers valid;
 * - the setting: a FIXED prefix printed and parsed again is the same;
 * - RFC 6052: embedding then extracting gives the IPv4 address back, and
 *   de-synthesis finds it.
 * Memory errors and leaks are the sanitizers'.
 */
#include "he_nat64.h"
#include "he_nat64_cache.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
wka(const unsigned char v4[4])
{
	return v4[0] == 192 && v4[1] == 0 && v4[2] == 0 &&
	    (v4[3] == 170 || v4[3] == 171);
}

static void
fuzz_rfc7050(const uint8_t *data, size_t size)
{
	struct he_nat64_prefix out[HE_NAT64_MAX_PREFIXES];
	int n, max, got, i, j;
	unsigned char (*aaaa)[16];

	if (size < 1)
		return;
	max = 1 + data[0] % HE_NAT64_MAX_PREFIXES;
	n = (int)((size - 1) / 16);
	/* an exact-size copy, so ASan sees any read past the answers */
	aaaa = malloc(n ? (size_t)n * 16 : 1);
	if (!aaaa)
		return;
	memcpy(aaaa, data + 1, (size_t)n * 16);
	got = he_nat64_rfc7050_((const unsigned char (*)[16])aaaa, n, out, max);
	CHECK(got >= 0 && got <= max && got <= n, "count %d of %d", got, n);
	for (i = 0; i < got; i++) {
		int seen = 0;
		CHECK(he_nat64_prefix_ok_(&out[i]), "invalid prefix");
		for (j = 0; j < i; j++)
			CHECK(memcmp(&out[i], &out[j], sizeof(out[i])),
			    "duplicate");
		for (j = 0; j < n && !seen; j++) {
			unsigned char v4[4];
			seen = he_nat64_match_(&out[i], aaaa[j], v4) &&
			    wka(v4);
		}
		CHECK(seen, "a prefix no answer shows");
	}
	free(aaaa);
}

static void
fuzz_pref64(const uint8_t *data, size_t size)
{
	struct he_pref64 p, q;
	unsigned char *opt = malloc(size ? size : 1), again[16];
	int r;

	if (!opt)
		return;
	memcpy(opt, data, size);
	r = he_pref64_parse_(opt, size, &p);
	CHECK(r == 0 || r == ENOENT || r == EINVAL, "result %d", r);
	if (r == 0) {
		CHECK(he_nat64_prefix_ok_(&p.prefix), "invalid prefix");
		CHECK(p.lifetime % 8 == 0 && p.lifetime <= HE_PREF64_MAX_LIFETIME,
		    "lifetime %u", (unsigned)p.lifetime);
		CHECK(he_pref64_build_(&p, again) == 0, "build");
		CHECK(he_pref64_parse_(again, 16, &q) == 0, "parse again");
		CHECK(!memcmp(&p, &q, sizeof(p)), "round trip");
	}
	free(opt);
}

struct feed {
	struct he_nat64_cache *c;
	int64_t now;
};

static void
feed(const struct he_nd_event *ev, void *arg)
{
	struct feed *f = arg;

	if (ev->pref64) {
		CHECK(he_nat64_prefix_ok_(&ev->opt.prefix), "invalid prefix");
		he_nat64_cache_ra_(f->c, &ev->opt, ev->ifindex,
		    ev->has_router ? ev->router : NULL, f->now);
	} else {
		he_nat64_cache_ra_seen_(f->c, f->now);
	}
	f->now += 1000000;
}

static void
fuzz_netlink(const uint8_t *data, size_t size)
{
	struct he_nat64_known k[HE_NAT64_MAX_PREFIXES];
	struct feed f;
	unsigned char *buf = malloc(size ? size : 1);
	int n, i;

	if (!buf)
		return;
	memcpy(buf, data, size);
	f.now = 1000000;
	if (he_nat64_cache_new_(&f.c) == 0) {
		he_pref64_parse_netlink_(buf, size, feed, &f);
		n = he_nat64_cache_get_(f.c, f.now, 1, k, HE_NAT64_MAX_PREFIXES);
		CHECK(n >= 0 && n <= HE_NAT64_MAX_PREFIXES, "count %d", n);
		for (i = 0; i < n; i++)
			CHECK(he_nat64_prefix_ok_(&k[i].prefix) &&
			    k[i].expires > f.now, "stored");
		he_nat64_cache_free_(f.c);
	}
	free(buf);
}

static void
fuzz_setting(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), again[INET6_ADDRSTRLEN + 8];
	enum he_nat64_mode m = HE_NAT64_AUTO, m2;
	struct he_nat64_prefix p, p2;

	if (!s)
		return;
	memcpy(s, data, size);
	s[size] = '\0';
	memset(&p, 0, sizeof(p));
	if (he_nat64_parse_setting_(s, &m, &p) == 0 && m == HE_NAT64_FIXED) {
		CHECK(he_nat64_prefix_ok_(&p), "invalid prefix");
		he_nat64_prefix_str_(&p, again, sizeof(again));
		CHECK(he_nat64_parse_setting_(again, &m2, &p2) == 0 &&
		    m2 == HE_NAT64_FIXED && !memcmp(&p, &p2, sizeof(p)),
		    "%s does not parse back", again);
	}
	free(s);
}

static void
fuzz_rfc6052(const uint8_t *data, size_t size)
{
	static const int lens[] = { 32, 40, 48, 56, 64, 96 };
	struct he_nat64_prefix p;
	struct sockaddr_in in, back;
	struct sockaddr_in6 out;
	unsigned char v6[16], v4[4];

	if (size < 1 + 16 + 4)
		return;
	if (he_nat64_prefix_set_(&p, data + 1, lens[data[0] % 6]) != 0)
		return;
	memset(&in, 0, sizeof(in));
	in.sin_family = AF_INET;
	in.sin_port = htons(443);
	memcpy(&in.sin_addr, data + 17, 4);
	he_nat64_embed_(&p, data + 17, v6);
	CHECK(he_nat64_extract_(v6, p.len, v4) == 0 && !memcmp(v4, data + 17, 4),
	    "extract");
	CHECK(he_nat64_match_(&p, v6, NULL), "match");
	if (he_nat64_synthesize_(&p, &in, &out) == 0) {
		CHECK(he_nat64_may_synthesize_(&p, data + 17), "synthesized");
		CHECK(he_nat64_desynthesize_(&p, 1, (struct sockaddr *)&out,
		    &back) == 0 && back.sin_addr.s_addr == in.sin_addr.s_addr &&
		    back.sin_port == in.sin_port, "de-synthesis");
		CHECK(he_nat64_same_server_(&p, 1, (struct sockaddr *)&in,
		    (struct sockaddr *)&out), "one server");
	} else {
		CHECK(!he_nat64_may_synthesize_(&p, data + 17), "refused");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 5) {
	case 0:
		fuzz_rfc7050(data + 1, size - 1);
		break;
	case 1:
		fuzz_pref64(data + 1, size - 1);
		break;
	case 2:
		fuzz_netlink(data + 1, size - 1);
		break;
	case 3:
		fuzz_setting(data + 1, size - 1);
		break;
	case 4:
		fuzz_rfc6052(data + 1, size - 1);
		break;
	}
	return 0;
}
