/*
 * NAT64, the pure part: RFC 6052 synthesis and its inverse, which IPv4
 * destinations may be synthesized, the RFC 7050 answer rule, the RFC 8781
 * PREF64 option and the netlink messages that carry it, the setting's
 * syntax.  No state, no allocation, no system call.  See he_nat64.h.
 *
 * Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).
 */
#include "he_internal.h"
#include "he_nat64.h"
#include "he_addrinfo.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#ifdef __linux__
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#endif

/* The u-octet: bits 64-71 of every RFC 6052 address, always zero. */
#define U_OCTET 8

const struct he_nat64_prefix he_nat64_wkp_ = {
	{ 0x00, 0x64, 0xff, 0x9b }, 96
};

/* The lengths, longest first: the order the RFC 7050 rule prefers. */
static const int lengths[] = { 96, 64, 56, 48, 40, 32 };
#define NLENGTHS ((int)(sizeof(lengths) / sizeof(lengths[0])))

int
he_nat64_len_ok_(int len)
{
	int i;

	for (i = 0; i < NLENGTHS; i++)
		if (len == lengths[i])
			return 1;
	return 0;
}

/* Ranges that are no unicast prefix a translator can sit behind: all
   zero (unspecified, IPv4-compatible), IPv4-mapped (a socket sends those
   over IPv4: a resolver asked with AI_V4MAPPED returns them), multicast,
   link-local. */
static int
unusable_range(const unsigned char *a)
{
	static const unsigned char zero[12];

	if (!memcmp(a, zero, 12))
		return 1;
	if (!memcmp(a, zero, 10) && a[10] == 0xff && a[11] == 0xff)
		return 1;
	return a[0] == 0xff || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80);
}

int
he_nat64_prefix_ok_(const struct he_nat64_prefix *p)
{
	int i;

	if (!p || !he_nat64_len_ok_(p->len))
		return 0;
	/* Nothing past the prefix, and the u-octet zero: for /96 it lies
	   inside the prefix, so the first test alone would miss it. */
	for (i = p->len / 8; i < 16; i++)
		if (p->addr[i])
			return 0;
	return p->addr[U_OCTET] == 0 && !unusable_range(p->addr);
}

int
he_nat64_prefix_set_(struct he_nat64_prefix *p, const unsigned char *addr,
    int len)
{
	struct he_nat64_prefix tmp;

	if (!p || !addr)
		return EINVAL;
	memcpy(tmp.addr, addr, 16);
	tmp.len = len;
	if (!he_nat64_prefix_ok_(&tmp))
		return EINVAL;
	*p = tmp;
	return 0;
}

int
he_nat64_is_wkp_(const struct he_nat64_prefix *p)
{
	return p && p->len == he_nat64_wkp_.len &&
	    !memcmp(p->addr, he_nat64_wkp_.addr, 16);
}

/* Where byte i (0-3) of the IPv4 address sits under a prefix of length
   len: right after the prefix, stepping over the u-octet. */
static int
v4_pos(int len, int i)
{
	int pos = len / 8 + i;

	return len < 96 && pos >= U_OCTET ? pos + 1 : pos;
}

void
he_nat64_embed_(const struct he_nat64_prefix *p, const unsigned char v4[4],
    unsigned char v6[16])
{
	int i;

	memset(v6, 0, 16);
	memcpy(v6, p->addr, (size_t)(p->len / 8));
	for (i = 0; i < 4; i++)
		v6[v4_pos(p->len, i)] = v4[i];
}

int
he_nat64_extract_(const unsigned char v6[16], int len, unsigned char v4[4])
{
	int i;

	if (!he_nat64_len_ok_(len) || v6[U_OCTET])
		return EINVAL;
	for (i = 0; i < 4; i++)
		v4[i] = v6[v4_pos(len, i)];
	return 0;
}

int
he_nat64_match_(const struct he_nat64_prefix *p, const unsigned char v6[16],
    unsigned char v4[4])
{
	unsigned char tmp[4];

	if (!he_nat64_prefix_ok_(p) || memcmp(v6, p->addr, (size_t)(p->len / 8)))
		return 0;
	return he_nat64_extract_(v6, p->len, v4 ? v4 : tmp) == 0;
}

/* ---- which IPv4 destinations may be synthesized ------------------------- */

struct v4_range {
	unsigned char net[4];
	int bits;
};

static int
in_range(const unsigned char v4[4], const struct v4_range *r)
{
	uint32_t a = (uint32_t)v4[0] << 24 | (uint32_t)v4[1] << 16 |
	    (uint32_t)v4[2] << 8 | v4[3];
	uint32_t n = (uint32_t)r->net[0] << 24 | (uint32_t)r->net[1] << 16 |
	    (uint32_t)r->net[2] << 8 | r->net[3];
	uint32_t mask = r->bits ? 0xffffffffu << (32 - r->bits) : 0;

	return (a & mask) == (n & mask);
}

/* Never synthesized, whatever the prefix: the address is this host, its
 * link, not a unicast destination, or no destination at all.  A
 * translator, however configured, cannot take a connection there to where
 * the caller meant.  doc/nat64.md gives the reasons per range. */
static const struct v4_range never[] = {
	{ { 0, 0, 0, 0 }, 8 },		/* "this network": a source only */
	{ { 127, 0, 0, 0 }, 8 },	/* loopback: this host, no route
					   needed (RFC 1122) */
	{ { 169, 254, 0, 0 }, 16 },	/* link-local (RFC 3927) */
	{ { 192, 0, 0, 0 }, 29 },	/* DS-Lite B4/AFTR (RFC 6333, 7335):
					   the host's own tunnel */
	{ { 192, 0, 0, 8 }, 32 },	/* the IPv4 dummy address (RFC 7600) */
	{ { 192, 0, 0, 170 }, 31 },	/* the NAT64 discovery addresses
					   (RFC 7050, 8880): no server */
	{ { 224, 0, 0, 0 }, 4 },	/* multicast */
	{ { 240, 0, 0, 0 }, 4 },	/* reserved, and 255.255.255.255 */
};

/* Global ones inside the non-global 192.0.0.0/24 (RFC 6890 registry). */
static const struct v4_range global_in_local[] = {
	{ { 192, 0, 0, 9 }, 32 },	/* PCP anycast (RFC 7723) */
	{ { 192, 0, 0, 10 }, 32 },	/* TURN anycast (RFC 8155) */
};

/* Not global (the IANA special-purpose registry, RFC 6890): RFC 6052
 * section 3.1 forbids representing them with the Well-Known Prefix; a
 * network-specific prefix may (an operator's NAT64 into its own private
 * IPv4 network). */
static const struct v4_range local[] = {
	{ { 10, 0, 0, 0 }, 8 },		/* RFC 1918 */
	{ { 100, 64, 0, 0 }, 10 },	/* shared address space (RFC 6598) */
	{ { 172, 16, 0, 0 }, 12 },	/* RFC 1918 */
	{ { 192, 0, 0, 0 }, 24 },	/* IETF protocol assignments */
	{ { 192, 0, 2, 0 }, 24 },	/* documentation (RFC 5737) */
	{ { 192, 168, 0, 0 }, 16 },	/* RFC 1918 */
	{ { 198, 18, 0, 0 }, 15 },	/* benchmarking (RFC 2544) */
	{ { 198, 51, 100, 0 }, 24 },	/* documentation */
	{ { 203, 0, 113, 0 }, 24 },	/* documentation */
};

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

enum he_nat64_v4_class
he_nat64_v4_class_(const unsigned char v4[4])
{
	int i;

	for (i = 0; i < NELEM(never); i++)
		if (in_range(v4, &never[i]))
			return HE_NAT64_V4_NEVER;
	for (i = 0; i < NELEM(global_in_local); i++)
		if (in_range(v4, &global_in_local[i]))
			return HE_NAT64_V4_GLOBAL;
	for (i = 0; i < NELEM(local); i++)
		if (in_range(v4, &local[i]))
			return HE_NAT64_V4_LOCAL;
	return HE_NAT64_V4_GLOBAL;
}

int
he_nat64_may_synthesize_(const struct he_nat64_prefix *p,
    const unsigned char v4[4])
{
	switch (he_nat64_v4_class_(v4)) {
	case HE_NAT64_V4_GLOBAL:
		return 1;
	case HE_NAT64_V4_LOCAL:
		return !he_nat64_is_wkp_(p);
	case HE_NAT64_V4_NEVER:
		break;
	}
	return 0;
}

int
he_nat64_synthesize_(const struct he_nat64_prefix *p,
    const struct sockaddr_in *sin, struct sockaddr_in6 *out)
{
	unsigned char v4[4];

	if (!he_nat64_prefix_ok_(p) || !sin || !out ||
	    sin->sin_family != AF_INET)
		return EINVAL;
	memcpy(v4, &sin->sin_addr, 4);
	if (!he_nat64_may_synthesize_(p, v4))
		return EADDRNOTAVAIL;
	memset(out, 0, sizeof(*out));
	out->sin6_family = AF_INET6;
	out->sin6_port = sin->sin_port;
	he_nat64_embed_(p, v4, out->sin6_addr.s6_addr);
	return 0;
}

int
he_nat64_desynthesize_(const struct he_nat64_prefix *p, int n,
    const struct sockaddr *sa, struct sockaddr_in *out)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
	unsigned char v4[4];
	int i;

	/* A scope id means a link-local or otherwise scoped address: no
	   prefix is scoped, so no synthesis is. */
	if (!p || !sa || sa->sa_family != AF_INET6 || s6->sin6_scope_id)
		return -1;
	for (i = 0; i < n; i++) {
		if (!he_nat64_match_(&p[i], s6->sin6_addr.s6_addr, v4))
			continue;
		if (out) {
			memset(out, 0, sizeof(*out));
			out->sin_family = AF_INET;
			out->sin_port = s6->sin6_port;
			memcpy(&out->sin_addr, v4, 4);
		}
		return i;
	}
	return -1;
}

/* sa as the server it stands for: the IPv4 address a synthesis stands for
   (made in *v4), else sa itself. */
static const struct sockaddr *
server_of(const struct he_nat64_prefix *p, int n, const struct sockaddr *sa,
    struct sockaddr_in *v4)
{
	memset(v4, 0, sizeof(*v4));
	if (he_nat64_desynthesize_(p, n, sa, v4) >= 0)
		return (const struct sockaddr *)v4;
	return sa;
}

int
he_nat64_same_server_(const struct he_nat64_prefix *p, int n,
    const struct sockaddr *a, const struct sockaddr *b)
{
	struct sockaddr_in va, vb;

	if (!a || !b)
		return 0;
	/* the same address and port (and IPv6 scope) */
	return he_sockaddr_equal_(server_of(p, n, a, &va),
	    server_of(p, n, b, &vb));
}

/* ---- RFC 7050 ----------------------------------------------------------- */

/* The well-known IPv4 addresses of ipv4only.arpa: 192.0.0.170 and .171. */
static int
wka_of(const unsigned char v4[4])
{
	if (v4[0] != 192 || v4[1] != 0 || v4[2] != 0)
		return 0;
	return v4[3] == 170 ? 170 : v4[3] == 171 ? 171 : 0;
}

/* The prefix of length len that v6 was made from. */
static void
prefix_of(const unsigned char v6[16], int len, struct he_nat64_prefix *p)
{
	memset(p, 0, sizeof(*p));
	memcpy(p->addr, v6, (size_t)(len / 8));
	p->len = len;
}

static int
same_prefix(const struct he_nat64_prefix *a, const struct he_nat64_prefix *b)
{
	return a->len == b->len && !memcmp(a->addr, b->addr, 16);
}

/* Whether some answer is p with the other well-known address in it. */
static int
confirmed(const unsigned char (*aaaa)[16], int n,
    const struct he_nat64_prefix *p, int wka)
{
	unsigned char v4[4];
	int i;

	for (i = 0; i < n; i++)
		if (he_nat64_match_(p, aaaa[i], v4) &&
		    wka_of(v4) == (wka == 170 ? 171 : 170))
			return 1;
	return 0;
}

/*
 * Where is the prefix?  A DNS64 answers ipv4only.arpa's A records
 * (192.0.0.170 and .171) synthesized, so each AAAA holds a well-known
 * address at the position of its prefix's length.  The bytes of a long
 * prefix can by chance read 192.0.0.170 at a shorter length's position
 * (a /96 whose bytes 7 and 9-11 are c0 00 00 aa), never the other way
 * round: a short prefix's synthesis has zeros where a longer position
 * would look (u-octet and suffix), and no well-known address is all zero.
 * So where one answer shows several positions, the one that a second
 * answer confirms (the same prefix holding the other well-known address:
 * a chance match in the prefix bits reads the same in both answers, the
 * real one differs in its last byte) wins, and failing that the longest.
 */
int
he_nat64_rfc7050_(const unsigned char (*aaaa)[16], int n,
    struct he_nat64_prefix *out, int max)
{
	int found = 0, i, j, k;

	if (!aaaa || n < 0 || !out || max < 1)
		return 0;
	for (i = 0; i < n && found < max; i++) {
		struct he_nat64_prefix cand[NLENGTHS], pick;
		int wka[NLENGTHS], ncand = 0, chosen = -1;

		for (j = 0; j < NLENGTHS; j++) {
			unsigned char v4[4];
			if (he_nat64_extract_(aaaa[i], lengths[j], v4) != 0 ||
			    !wka_of(v4))
				continue;
			prefix_of(aaaa[i], lengths[j], &cand[ncand]);
			/* a prefix bit in the u-octet of a /96: not one */
			if (!he_nat64_prefix_ok_(&cand[ncand]))
				continue;
			wka[ncand++] = wka_of(v4);
		}
		if (ncand == 0)
			continue;	/* no synthesis: ignored */
		for (j = 0; j < ncand && chosen < 0; j++)
			if (ncand == 1 || confirmed(aaaa, n, &cand[j], wka[j]))
				chosen = j;
		/* candidates are longest first */
		pick = cand[chosen < 0 ? 0 : chosen];
		for (k = 0; k < found; k++)
			if (same_prefix(&out[k], &pick))
				break;
		if (k == found)
			out[found++] = pick;
	}
	return found;
}

int
he_nat64_rfc7050_ai_(const struct evutil_addrinfo *list,
    struct he_nat64_prefix *out, int max)
{
	unsigned char aaaa[64][16];
	int n = 0;

	for (; list && n < 64; list = list->ai_next) {
		const struct sockaddr_in6 *s6 =
		    (const struct sockaddr_in6 *)list->ai_addr;
		if (!s6 || list->ai_family != AF_INET6 ||
		    s6->sin6_family != AF_INET6 ||
		    list->ai_addrlen < (ev_socklen_t)sizeof(*s6))
			continue;
		memcpy(aaaa[n++], &s6->sin6_addr, 16);
	}
	return he_nat64_rfc7050_((const unsigned char (*)[16])aaaa, n, out,
	    max);
}

int64_t
he_nat64_dns_lifetime_(uint32_t ttl)
{
	if (ttl < HE_NAT64_DNS_MIN_S)
		ttl = HE_NAT64_DNS_MIN_S;
	if (ttl > HE_NAT64_DNS_MAX_S)
		ttl = HE_NAT64_DNS_MAX_S;
	return (int64_t)ttl * 1000000;
}

/* ---- RFC 8781: PREF64 --------------------------------------------------- */

/* The Prefix Length Code: 0 means /96, 1 /64, ... 5 /32 (RFC 8781 4). */
static int
plc_len(int plc)
{
	return plc >= 0 && plc < NLENGTHS ? lengths[plc] : -1;
}

int
he_pref64_parse_(const unsigned char *opt, size_t len, struct he_pref64 *out)
{
	unsigned scaled_plc;
	int plen;

	if (!opt || !out || len < 2)
		return EINVAL;
	if (opt[0] != HE_PREF64_TYPE)
		return ENOENT;
	/* "The receiver MUST ignore the PREF64 option if the Length field
	   value is not 2." */
	if (opt[1] != 2 || len < HE_PREF64_LEN)
		return EINVAL;
	scaled_plc = (unsigned)opt[2] << 8 | opt[3];
	if ((plen = plc_len((int)(scaled_plc & 7))) < 0)
		return EINVAL;
	memset(out, 0, sizeof(*out));
	/* The 96 bits carried; those past the length are ignored. */
	memcpy(out->prefix.addr, opt + 4, (size_t)(plen / 8));
	out->prefix.len = plen;
	out->lifetime = (uint32_t)(scaled_plc >> 3) * 8;
	/* Only a /96 carries the u-octet: non-zero, it is no RFC 6052
	   prefix (nor is one in a range no translator can use). */
	if (!he_nat64_prefix_ok_(&out->prefix))
		return EINVAL;
	return 0;
}

int
he_pref64_build_(const struct he_pref64 *p, unsigned char opt[16])
{
	uint32_t scaled;
	int plc;

	if (!p || !opt || !he_nat64_prefix_ok_(&p->prefix))
		return EINVAL;
	for (plc = 0; lengths[plc] != p->prefix.len; plc++)
		;
	scaled = p->lifetime > HE_PREF64_MAX_LIFETIME ? 8191 :
	    (p->lifetime + 7) / 8;
	opt[0] = HE_PREF64_TYPE;
	opt[1] = 2;
	opt[2] = (unsigned char)(scaled >> 5);
	opt[3] = (unsigned char)((scaled << 3 | (uint32_t)plc) & 0xff);
	memcpy(opt + 4, p->prefix.addr, 12);
	return 0;
}

#ifdef __linux__
#define ND_ROUTER_ADVERT_TYPE 134

/* The options of one RTM_NEWNDUSEROPT message; returns events given. */
static int
nd_useropt(const unsigned char *body, size_t blen, he_nd_fn fn, void *arg)
{
	struct nduseroptmsg m;
	struct he_nd_event ev;
	const unsigned char *opts;
	size_t olen, off, alen;
	int count = 0;

	if (blen < sizeof(m))
		return 0;
	memcpy(&m, body, sizeof(m));
	if (m.nduseropt_family != AF_INET6 ||
	    m.nduseropt_icmp_type != ND_ROUTER_ADVERT_TYPE ||
	    m.nduseropt_opts_len > blen - sizeof(m))
		return 0;
	memset(&ev, 0, sizeof(ev));
	ev.ifindex = m.nduseropt_ifindex;
	opts = body + sizeof(m);
	olen = m.nduseropt_opts_len;
	/* The attributes after the options: the RA's source. */
	off = NLMSG_ALIGN(sizeof(m) + olen);
	while (off + sizeof(struct rtattr) <= blen) {
		struct rtattr rta;
		memcpy(&rta, body + off, sizeof(rta));
		if (rta.rta_len < sizeof(rta) || rta.rta_len > blen - off)
			break;
		alen = rta.rta_len - sizeof(rta);
		if (rta.rta_type == NDUSEROPT_SRCADDR && alen == 16) {
			memcpy(ev.router, body + off + sizeof(rta), 16);
			ev.has_router = 1;
		}
		off += RTA_ALIGN(rta.rta_len);
	}
	for (off = 0; off + 2 <= olen;) {
		size_t one = (size_t)opts[off + 1] * 8;
		if (one == 0 || one > olen - off)
			break;
		ev.pref64 = he_pref64_parse_(opts + off, one, &ev.opt) == 0;
		if (!ev.pref64)
			memset(&ev.opt, 0, sizeof(ev.opt));
		fn(&ev, arg);
		count++;
		off += one;
	}
	return count;
}

int
he_pref64_parse_netlink_(const void *buf, size_t len, he_nd_fn fn, void *arg)
{
	const unsigned char *p = buf;
	size_t off = 0;
	int count = 0;

	if (!buf || !fn)
		return 0;
	while (off + sizeof(struct nlmsghdr) <= len) {
		struct nlmsghdr h;
		const unsigned char *body;
		size_t blen;

		memcpy(&h, p + off, sizeof(h));
		if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > len - off)
			break;
		body = p + off + NLMSG_HDRLEN;
		blen = h.nlmsg_len > NLMSG_HDRLEN ? h.nlmsg_len - NLMSG_HDRLEN :
		    0;
		if (h.nlmsg_type == RTM_NEWNDUSEROPT) {
			count += nd_useropt(body, blen, fn, arg);
		} else if (h.nlmsg_type == RTM_NEWPREFIX &&
		    blen >= sizeof(struct prefixmsg)) {
			struct prefixmsg pm;
			struct he_nd_event ev;
			memcpy(&pm, body, sizeof(pm));
			if (pm.prefix_family == AF_INET6) {
				memset(&ev, 0, sizeof(ev));
				ev.ifindex = pm.prefix_ifindex;
				fn(&ev, arg);
				count++;
			}
		}
		if (NLMSG_ALIGN(h.nlmsg_len) >= len - off)
			break;
		off += NLMSG_ALIGN(h.nlmsg_len);
	}
	return count;
}
#else
int
he_pref64_parse_netlink_(const void *buf, size_t len, he_nd_fn fn, void *arg)
{
	(void)buf;
	(void)len;
	(void)fn;
	(void)arg;
	return 0;
}
#endif

/* ---- the setting -------------------------------------------------------- */

int
he_nat64_parse_setting_(const char *s, enum he_nat64_mode *mode,
    struct he_nat64_prefix *p)
{
	char addr[INET6_ADDRSTRLEN + 1];
	unsigned char bytes[16];
	const char *slash, *d;
	size_t alen;
	int len = 0;

	if (!s || !mode)
		return EINVAL;
	if (!strcmp(s, "off")) {
		*mode = HE_NAT64_OFF;
		return 0;
	}
	if (!strcmp(s, "auto")) {
		*mode = HE_NAT64_AUTO;
		return 0;
	}
	if (!p || !(slash = strchr(s, '/')) ||
	    (alen = (size_t)(slash - s)) == 0 || alen >= sizeof(addr))
		return EINVAL;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET6, addr, bytes) != 1)
		return EINVAL;
	/* One to three digits: every RFC 6052 length, nothing else. */
	for (d = slash + 1; *d >= '0' && *d <= '9' && d - slash <= 3; d++)
		len = len * 10 + (*d - '0');
	if (d == slash + 1 || *d)
		return EINVAL;
	if (he_nat64_prefix_set_(p, bytes, len) != 0)
		return EINVAL;
	*mode = HE_NAT64_FIXED;
	return 0;
}

int
he_nat64_setting_from_api_(const struct sockaddr_in6 *prefix, int len,
    enum he_nat64_mode *mode, struct he_nat64_prefix *p)
{
	struct he_nat64_prefix tmp;

	if (!mode || !p)
		return EINVAL;
	if (!prefix) {
		if (len != 0 && len != -1)
			return EINVAL;
		*mode = len == 0 ? HE_NAT64_OFF : HE_NAT64_AUTO;
		return 0;
	}
	if (prefix->sin6_family != AF_INET6 || prefix->sin6_port ||
	    prefix->sin6_scope_id ||
	    he_nat64_prefix_set_(&tmp, prefix->sin6_addr.s6_addr, len) != 0)
		return EINVAL;
	*p = tmp;
	*mode = HE_NAT64_FIXED;
	return 0;
}

int
he_nat64_prefix_str_(const struct he_nat64_prefix *p, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (!p || !inet_ntop(AF_INET6, p->addr, a, sizeof(a)))
		return snprintf(buf, len, "?");
	return snprintf(buf, len, "%s/%d", a, p->len);
}

const char *
he_nat64_source_name_(enum he_nat64_source s)
{
	switch (s) {
	case HE_NAT64_FROM_CALLER:
		return "caller";
	case HE_NAT64_FROM_RA:
		return "RA";
	case HE_NAT64_FROM_DNS:
		return "DNS";
	}
	return "?";
}

int
he_nat64_describe_(const struct sockaddr_in6 *synth,
    const struct sockaddr_in *v4, const struct he_nat64_known *k, char *buf,
    size_t len)
{
	char a6[INET6_ADDRSTRLEN], a4[INET_ADDRSTRLEN], pfx[INET6_ADDRSTRLEN + 4];

	if (!synth || !v4 || !k ||
	    !inet_ntop(AF_INET6, &synth->sin6_addr, a6, sizeof(a6)) ||
	    !inet_ntop(AF_INET, &v4->sin_addr, a4, sizeof(a4)))
		return snprintf(buf, len, "?");
	he_nat64_prefix_str_(&k->prefix, pfx, sizeof(pfx));
	return snprintf(buf, len, "%s for %s, prefix %s from %s", a6, a4, pfx,
	    he_nat64_source_name_(k->source));
}
