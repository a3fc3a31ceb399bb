/*
 * NAT64 (RFC 8305 section 7), the pure part (he_nat64.c, lists layer):
 * RFC 6052 synthesis and its inverse, which IPv4 destinations may be
 * synthesized, the RFC 7050 answer rule (where the prefix hides in the AAAA
 * records of ipv4only.arpa), the RFC 8781 PREF64 option and the kernel's
 * netlink messages that carry it, the EVHAPPY_NAT64 / --nat64-prefix
 * syntax, and the text naming a synthesized address.  No state, no
 * allocation, no system call: fuzzed (tests/fuzz/fuzz_nat64.c).
 *
 * The rest of NAT64's bottom layer: he_nat64_cache.h (the process's prefix
 * store, the route probe), he_pref64.h (the PREF64 listener) and
 * he_nat64_query.h (the RFC 7050 query).  doc/nat64.md is the map, and
 * says how the race uses them.
 *
 * Addresses are raw network order bytes (16 or 4) unless a sockaddr is
 * named.
 */
#ifndef EVHAPPY_HE_NAT64_H_INCLUDED_
#define EVHAPPY_HE_NAT64_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>
#include <event2/util.h>

struct sockaddr;
struct sockaddr_in;
struct sockaddr_in6;

/** "No time": the same value as he_race.h's HE_NEVER. */
#define HE_NAT64_NEVER INT64_MAX

/** At most this many prefixes are used at once (a race synthesizes one
    address per prefix); more known ones are ignored, the least preferred
    first. */
#define HE_NAT64_MAX_PREFIXES 4

/** A NAT64 prefix: its first len bits are addr's, the rest of addr is
    zero.  len is one of RFC 6052's 32, 40, 48, 56, 64, 96. */
struct he_nat64_prefix {
	unsigned char addr[16];
	int len;
};

/* ---- RFC 6052: synthesis and its inverse -------------------------------- */

/** 64:ff9b::/96, the Well-Known Prefix. */
extern const struct he_nat64_prefix he_nat64_wkp_;

/** Whether len is an RFC 6052 prefix length. */
int he_nat64_len_ok_(int len);

/** Make *p from addr and len, strictly: 0, or EINVAL (*p untouched) when
    len is not an RFC 6052 length, a bit past len is set, the u-octet
    (bits 64-71, which RFC 6052 reserves and sets to zero) is not zero, or
    the prefix lies where no translator can (all zero, IPv4-mapped
    ::ffff:0:0/96, multicast, link-local).  A caller's prefix goes through
    this. */
int he_nat64_prefix_set_(struct he_nat64_prefix *p, const unsigned char *addr,
    int len);

/** Whether p is a valid prefix (as he_nat64_prefix_set_ would make). */
int he_nat64_prefix_ok_(const struct he_nat64_prefix *p);

/** Whether p is the Well-Known Prefix. */
int he_nat64_is_wkp_(const struct he_nat64_prefix *p);

/** The IPv6 address RFC 6052 makes of v4 under p (which must be valid):
    v4's bits around the u-octet, the u-octet and the suffix zero. */
void he_nat64_embed_(const struct he_nat64_prefix *p, const unsigned char v4[4],
    unsigned char v6[16]);

/** The IPv4 address embedded in v6 at the position of prefix length len,
    into v4: 0, or EINVAL when len is not an RFC 6052 length or v6's
    u-octet is not zero.  The suffix is ignored, as translators do. */
int he_nat64_extract_(const unsigned char v6[16], int len, unsigned char v4[4]);

/** Whether v6 is a synthesis under p: its first p->len bits are p's and its
    u-octet is zero (the suffix is ignored).  1 with v4 filled (may be
    NULL), else 0. */
int he_nat64_match_(const struct he_nat64_prefix *p, const unsigned char v6[16],
    unsigned char v4[4]);

/* ---- which IPv4 destinations may be synthesized ------------------------- */

/** What an IPv4 destination is, for synthesis (doc/nat64.md lists the
    ranges and why). */
enum he_nat64_v4_class {
	HE_NAT64_V4_GLOBAL,	/* any prefix */
	HE_NAT64_V4_LOCAL,	/* non-global (RFC 1918, documentation...):
				   a network-specific prefix only (RFC 6052
				   section 3.1 forbids the Well-Known one) */
	HE_NAT64_V4_NEVER	/* this host, its link, not unicast, or not a
				   destination at all: never */
};
enum he_nat64_v4_class he_nat64_v4_class_(const unsigned char v4[4]);

/** Whether v4 may be synthesized under p (valid): its class allows p. */
int he_nat64_may_synthesize_(const struct he_nat64_prefix *p,
    const unsigned char v4[4]);

/** Synthesize sin (AF_INET) under p into *out (AF_INET6, the same port,
    scope 0): 0; EADDRNOTAVAIL when sin's address must not be synthesized
    under p; EINVAL for a bad argument (*out untouched on error). */
int he_nat64_synthesize_(const struct he_nat64_prefix *p,
    const struct sockaddr_in *sin, struct sockaddr_in6 *out);

/** De-synthesize: the index (0..n-1) of the first prefix of which sa
    (AF_INET6) is a synthesis, with *out (may be NULL) the IPv4 address it
    stands for and sa's port; -1 when sa is not one (another family, a
    scope id, or no prefix matches). */
int he_nat64_desynthesize_(const struct he_nat64_prefix *p, int n,
    const struct sockaddr *sa, struct sockaddr_in *out);

/** Whether a and b are one server: equal (family, address, port, scope),
    or equal once every synthesis under one of the n prefixes is replaced
    by the IPv4 address it stands for. */
int he_nat64_same_server_(const struct he_nat64_prefix *p, int n,
    const struct sockaddr *a, const struct sockaddr *b);

/* ---- RFC 7050: the prefix in the AAAA records of ipv4only.arpa ---------- */

/** The name asked. */
#define HE_NAT64_WKN "ipv4only.arpa"

/** The prefixes the AAAA answers of ipv4only.arpa reveal: each of the n
    addresses is searched for the well-known IPv4 addresses 192.0.0.170 and
    192.0.0.171 at every RFC 6052 position; an address where neither is
    found (or whose u-octet is not zero) is ignored; where one is found at
    several positions, the position confirmed by an answer holding the
    other well-known address under the same prefix wins, else the longest
    (see he_nat64.c for why).  Distinct prefixes go to out in the order of
    the answers, at most max.  Returns how many (0: none, no DNS64). */
int he_nat64_rfc7050_(const unsigned char (*aaaa)[16], int n,
    struct he_nat64_prefix *out, int max);

/** The same on a getaddrinfo()-style list (AF_INET6 entries are used, the
    rest skipped; at most 64 entries are read). */
int he_nat64_rfc7050_ai_(const struct evutil_addrinfo *list,
    struct he_nat64_prefix *out, int max);

/** How long DNS-learned prefixes are kept, from the answer's TTL in
    seconds: clamped to HE_NAT64_DNS_MIN_S .. HE_NAT64_DNS_MAX_S;
    microseconds. */
#define HE_NAT64_DNS_MIN_S 30
#define HE_NAT64_DNS_MAX_S 86400
int64_t he_nat64_dns_lifetime_(uint32_t ttl);
/** getaddrinfo() tells no TTL: a prefix it revealed is kept this long
    (seconds), and asked again shortly before. */
#define HE_NAT64_GAI_LIFETIME_S 600

/* ---- RFC 8781: PREF64 in router advertisements -------------------------- */

#define HE_PREF64_TYPE 38		/* the ND option type */
#define HE_PREF64_LEN 16		/* its only valid size, in bytes */
#define HE_PREF64_MAX_LIFETIME 65528	/* 8191 * 8 seconds */

struct he_pref64 {
	struct he_nat64_prefix prefix;
	uint32_t lifetime;	/* seconds; 0: withdrawn */
};

/** Parse one ND option (type, length in units of 8 bytes, body) of len
    bytes into *out: 0 for a PREF64 option; ENOENT for another option
    type; EINVAL for a PREF64 option to ignore (RFC 8781: its length is not
    2, or the Prefix Length Code is not one of 0-5) or a truncated option.
    Prefix bits past the length are cleared (the RFC says to ignore them);
    a non-zero u-octet in a /96 makes it EINVAL. */
int he_pref64_parse_(const unsigned char *opt, size_t len,
    struct he_pref64 *out);

/** Build the 16-byte option for p (the lab's router and the tests): the
    lifetime is rounded up to a multiple of 8 seconds and capped at
    HE_PREF64_MAX_LIFETIME.  0, or EINVAL for an invalid prefix. */
int he_pref64_build_(const struct he_pref64 *p, unsigned char opt[16]);

/** What the kernel told about one router advertisement option. */
struct he_nd_event {
	int pref64;		/* 1: a valid PREF64 option (in .opt);
				   0: another option of an RA (RA seen) */
	int ifindex;		/* the interface it arrived on */
	int has_router;		/* router: the RA's source address */
	unsigned char router[16];
	struct he_pref64 opt;
};
typedef void (*he_nd_fn)(const struct he_nd_event *ev, void *arg);

/** Walk a buffer read from an rtnetlink socket: every RTM_NEWNDUSEROPT
    message of an IPv6 router advertisement gives one event per option it
    carries (a malformed PREF64 option counts as another option), and
    every RTM_NEWPREFIX message an "RA seen" event (older kernels report
    prefix information options only that way).  Anything else, and
    whatever is truncated, is skipped.  Returns how many events fn got
    (always 0 off Linux). */
int he_pref64_parse_netlink_(const void *buf, size_t len, he_nd_fn fn,
    void *arg);

/* ---- the setting: EVHAPPY_NAT64, --nat64-prefix, the API --------------- */

enum he_nat64_mode {
	HE_NAT64_AUTO = 0,	/* discover; synthesize with no IPv4 route */
	HE_NAT64_OFF,		/* never synthesize */
	HE_NAT64_FIXED		/* this prefix, no discovery */
};

/** Parse "off", "auto" or "PREFIX/LEN" (an IPv6 literal, an RFC 6052
    length, as he_nat64_prefix_set_ checks): 0 with *mode (and *p for
    FIXED), or EINVAL (outputs untouched).  The environment variable takes
    all three; --nat64-prefix only FIXED (the CLI checks *mode). */
int he_nat64_parse_setting_(const char *s, enum he_nat64_mode *mode,
    struct he_nat64_prefix *p);

/** The arguments of evhappy_set_nat64_prefix(): (NULL, 0) off, (NULL, -1)
    auto, (prefix, len) fixed after he_nat64_prefix_set_'s checks (prefix's
    port and scope must be 0); 0, or EINVAL (outputs untouched). */
int he_nat64_setting_from_api_(const struct sockaddr_in6 *prefix, int len,
    enum he_nat64_mode *mode, struct he_nat64_prefix *p);

/* ---- where a prefix came from, and the text for trace and report -------- */

enum he_nat64_source {
	HE_NAT64_FROM_CALLER,	/* evhappy_set_nat64_prefix / EVHAPPY_NAT64 */
	HE_NAT64_FROM_RA,	/* PREF64 in a router advertisement */
	HE_NAT64_FROM_DNS	/* RFC 7050 */
};
/** "caller", "RA", "DNS". */
const char *he_nat64_source_name_(enum he_nat64_source s);

/** A prefix in use, and what is known of it. */
struct he_nat64_known {
	struct he_nat64_prefix prefix;
	enum he_nat64_source source;
	int64_t learned;	/* first heard (RA), last answer (DNS) */
	int64_t expires;	/* HE_NAT64_NEVER for the caller's */
	int ifindex;		/* RA: the interface; else 0 */
	int restored;		/* read from the history file, not heard by
				   this process since */
};

/** "64:ff9b::/96" into buf; returns what snprintf returns. */
int he_nat64_prefix_str_(const struct he_nat64_prefix *p, char *buf,
    size_t len);

/** "64:ff9b::c000:20a for 192.0.2.10, prefix 64:ff9b::/96 from RA": how
    the trace and the report name a synthesized address.  Returns what
    snprintf returns.  (Plain snprintf, so that he_fmt.c, the library's
    formatter, can call it without a circle.) */
int he_nat64_describe_(const struct sockaddr_in6 *synth,
    const struct sockaddr_in *v4, const struct he_nat64_known *k, char *buf,
    size_t len);

#endif
