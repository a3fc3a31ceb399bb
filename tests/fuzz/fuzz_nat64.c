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
 * First bytes 0xf0 and up pick the list functions the race uses
 * (he_nat64_list.h), on up to 4 prefixes and 64 addresses:
 * - synthesis: one entry out per entry in, in order; an IPv4 one becomes
 *   HE_AI_SYNTH under the first prefix that may carry it, standing for it
 *   with its port, or stays as it is; nothing else changes; the count;
 * - DNS64 marking: NULL when no entry is a synthesis of a server, else
 *   the same addresses with those marked; and the cheap filters that
 *   spare a dual-stack host the work never miss an entry that counts.
 * Memory errors and leaks are the sanitizers'.
 */
#include "he_nat64.h"
#include "he_nat64_cache.h"
#include "he_nat64_list.h"

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

#define LIST_MAX 64

/* Up to 4 prefixes (a length code and 16 bytes each; invalid ones are
 * left out), then entries: a byte (even: IPv4, 4 bytes follow; odd:
 * IPv6, 16) each.  Returns the rest's list, *n the prefixes. */
static struct evutil_addrinfo *
read_list(const uint8_t *data, size_t size, struct he_nat64_prefix *p,
    int *n)
{
	static const int lens[] = { 32, 40, 48, 56, 64, 96 };
	struct evutil_addrinfo *head = NULL, **tail = &head;
	struct sockaddr_storage ss;
	size_t at = 1;
	int want, i, count = 0;

	*n = 0;
	if (size < 1)
		return NULL;
	want = 1 + data[0] % 4;
	for (i = 0; i < want && at + 17 <= size; i++, at += 17)
		if (he_nat64_prefix_set_(&p[*n], data + at + 1,
		    lens[data[at] % 6]) == 0)
			(*n)++;
	while (at < size && count < LIST_MAX) {
		size_t len = data[at] & 1 ? 16 : 4;
		if (at + 1 + len > size)
			break;
		memset(&ss, 0, sizeof(ss));
		if (len == 4) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
			sin->sin_family = AF_INET;
			sin->sin_port = htons(80);
			memcpy(&sin->sin_addr, data + at + 1, 4);
		} else {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons(80);
			memcpy(&sin6->sin6_addr, data + at + 1, 16);
		}
		if (he_addrinfo_new_((struct sockaddr *)&ss, sizeof(ss),
		    tail) != 0)
			break;
		HE_AI_META(*tail)->group = (uint16_t)(data[at] >> 1);
		tail = &(*tail)->ai_next;
		count++;
		at += 1 + len;
	}
	return head;
}

static int
first_carrier(const struct he_nat64_prefix *p, int n, const unsigned char *v4)
{
	int i;

	for (i = 0; i < n; i++)
		if (he_nat64_may_synthesize_(&p[i], v4))
			return i;
	return -1;
}

static void
fuzz_list_synth(const uint8_t *data, size_t size)
{
	struct he_nat64_prefix p[4];
	struct evutil_addrinfo *in, *out = NULL;
	const struct evutil_addrinfo *a, *b;
	int n, made = -1, count = 0, i;

	in = read_list(data, size, p, &n);
	if (he_nat64_list_synth_(p, n, in, &out, &made) != 0) {
		CHECK(!out && made == 0, "a failure leaves nothing");
		evhappy_addrinfo_free(in);
		return;
	}
	for (a = in, b = out; a && b; a = a->ai_next, b = b->ai_next) {
		const unsigned char *v4 = a->ai_family == AF_INET ?
		    (const unsigned char *)&((const struct sockaddr_in *)
		    (const void *)a->ai_addr)->sin_addr : NULL;
		CHECK(HE_AI_META(b)->group == HE_AI_META(a)->group, "group");
		i = v4 ? first_carrier(p, n, v4) : -1;
		if (i < 0) {
			CHECK(he_sockaddr_equal_(a->ai_addr, b->ai_addr) &&
			    !(HE_AI_META(b)->flags & HE_AI_SYNTH), "kept");
			continue;
		}
		count++;
		CHECK(HE_AI_META(b)->flags & HE_AI_SYNTH, "synthesized");
		CHECK(b->ai_family == AF_INET6, "an IPv6 entry");
		CHECK(he_sockaddr_equal_(he_ai_identity_(b), a->ai_addr),
		    "stands for its IPv4 address and port");
		CHECK(he_nat64_desynthesize_(&p[i], 1, b->ai_addr, NULL) == 0,
		    "under the first prefix that may carry it");
		CHECK(he_nat64_list_has_v4_(in), "has_v4_ saw it");
	}
	CHECK(!a && !b, "one entry out per entry in");
	CHECK(made == count, "count %d, made %d", count, made);
	evhappy_addrinfo_free(in);
	evhappy_addrinfo_free(out);
}

static void
fuzz_list_mark(const uint8_t *data, size_t size)
{
	struct he_nat64_prefix p[4];
	struct evutil_addrinfo *in, *out = NULL;
	const struct evutil_addrinfo *a, *b;
	struct sockaddr_in v4;
	int n, marks = 0, err;

	in = read_list(data, size, p, &n);
	for (a = in; a; a = a->ai_next)
		if (a->ai_family == AF_INET6 &&
		    he_nat64_desynthesize_(p, n, a->ai_addr, &v4) >= 0 &&
		    he_nat64_v4_class_((const unsigned char *)&v4.sin_addr) !=
		    HE_NAT64_V4_NEVER)
			marks++;
	err = he_nat64_list_mark_(p, n, in, &out);
	CHECK(err == 0 || err == ENOMEM, "result %d", err);
	if (marks)
		CHECK(he_nat64_list_maybe_synth_(in),
		    "the filter misses a synthesis");
	if (err == 0 && !marks)
		CHECK(!out, "nothing to mark, yet a copy");
	if (err == 0 && marks) {
		CHECK(out != NULL, "no copy");
		for (a = in, b = out; a && b; a = a->ai_next, b = b->ai_next) {
			CHECK(he_sockaddr_equal_(a->ai_addr, b->ai_addr) &&
			    HE_AI_META(a)->group == HE_AI_META(b)->group,
			    "the same addresses");
			if (HE_AI_META(b)->flags & HE_AI_SYNTH) {
				marks--;
				CHECK(he_nat64_same_server_(p, n,
				    he_ai_identity_(b), b->ai_addr),
				    "stands for what it synthesizes");
			}
		}
		CHECK(!a && !b && marks == 0, "every synthesis marked");
	}
	evhappy_addrinfo_free(in);
	evhappy_addrinfo_free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* data[0] % 5 picks one (the corpus depends on the order) */
	static void (*const target[])(const uint8_t *, size_t) = {
		fuzz_rfc7050, fuzz_pref64, fuzz_netlink, fuzz_setting,
		fuzz_rfc6052
	};

	if (size < 1)
		return 0;
	if (data[0] >= 0xf0) {	/* the race's list functions */
		if (data[0] & 1)
			fuzz_list_mark(data + 1, size - 1);
		else
			fuzz_list_synth(data + 1, size - 1);
		return 0;
	}
	target[data[0] % 5](data + 1, size - 1);
	return 0;
}
