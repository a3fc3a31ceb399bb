/*
 * HTTPS/SVCB records (RFC 9460): the parser and the client's rules
 * (he_svcb.c), the AliasMode chain over a transport (he_svcb_lookup.c),
 * the query on the loop through c-ares against the lab's fake DNS server
 * (he_dnsq.c), and the blocking query of the system resolver's workers
 * (he_dnsq_sys.c).
 *
 * The parser's cases are rows of a table: records written the way a zone
 * file writes them (keys in the order given, so that out-of-order keys
 * can be written too), turned into a DNS response, parsed, and the
 * result written back as one line to compare.
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include "he_svcb.h"
#include "he_dnsq.h"
#include "he_lab.h"
#include "he_testutil.h"

#include <event2/event.h>
#include <event2/dns.h>
#include <event2/util.h>

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- building answers -------------------------------------------------- */

struct buf {
	unsigned char b[70000];
	size_t n;
};

static void
put8(struct buf *b, unsigned v)
{
	ck_assert_uint_lt(b->n, sizeof(b->b));
	b->b[b->n++] = (unsigned char)v;
}

static void
put16(struct buf *b, unsigned v)
{
	put8(b, (v >> 8) & 0xff);
	put8(b, v & 0xff);
}

static void
putn(struct buf *b, const void *p, size_t n)
{
	ck_assert_uint_le(b->n + n, sizeof(b->b));
	memcpy(b->b + b->n, p, n);
	b->n += n;
}

/* A name in wire form, uncompressed; "." is the root. */
static void
put_name(struct buf *b, const char *name)
{
	while (*name && strcmp(name, ".") != 0) {
		const char *dot = strchr(name, '.');
		size_t n = dot ? (size_t)(dot - name) : strlen(name);
		put8(b, (unsigned)n);
		putn(b, name, n);
		name += n + (dot ? 1 : 0);
	}
	put8(b, 0);
}

/* SVCB RDATA from "PRIORITY TARGET key=value ..." (keys in the order
   written), or "hex:HEX" for the bytes themselves: the lab's zone-file
   syntax (he_lab_svcb_rdata). */
static void
put_svcb(struct buf *b, const char *pres)
{
	int n = he_lab_svcb_rdata(pres, b->b + b->n, sizeof(b->b) - b->n);

	ck_assert_msg(n >= 0, "not SVCB RDATA the lab can write: %s", pres);
	b->n += (size_t)n;
}

/* A response: header, the question, and the records of `records`:
   "OWNER TYPE DATA; ..." with OWNER "@" for the question's name (written
   as a compression pointer), TYPE HTTPS, SVCB (DATA as put_svcb), CNAME
   (a name) or A (an address). */
static size_t
build_msg(struct buf *m, const char *qname, int qtype, int rcode, int tc,
    const char *records)
{
	char copy[8192], *save = NULL, *rec;
	int an = 0;

	memset(m, 0, sizeof(*m));
	put16(m, 0x1234);
	put8(m, 0x81 | (tc ? 0x02 : 0));	/* QR, RD */
	put8(m, 0x80 | (unsigned)rcode);	/* RA */
	put16(m, 1);
	put16(m, 0);
	put16(m, 0);
	put16(m, 0);
	put_name(m, qname);
	put16(m, (unsigned)qtype);
	put16(m, 1);
	snprintf(copy, sizeof(copy), "%s", records ? records : "");
	for (rec = strtok_r(copy, ";", &save); rec;
	    rec = strtok_r(NULL, ";", &save)) {
		char owner[300], type[16];
		int skip = 0;
		size_t at;
		while (*rec == ' ')
			rec++;
		if (!*rec)
			continue;
		ck_assert_int_eq(sscanf(rec, "%299s %15s %n", owner, type,
		    &skip), 2);
		if (!strcmp(owner, "@"))
			put16(m, 0xc00c);
		else
			put_name(m, owner);
		put16(m, !strcmp(type, "HTTPS") ? 65 : !strcmp(type, "SVCB") ?
		    64 : !strcmp(type, "CNAME") ? 5 : 1);
		put16(m, 1);
		put16(m, 0);
		put16(m, 300);
		at = m->n;
		put16(m, 0);
		if (!strcmp(type, "CNAME"))
			put_name(m, rec + skip);
		else if (!strcmp(type, "A")) {
			unsigned char a[4];
			ck_assert_int_eq(inet_pton(AF_INET, rec + skip, a), 1);
			putn(m, a, 4);
		} else
			put_svcb(m, rec + skip);
		m->b[at] = (unsigned char)((m->n - at - 2) >> 8);
		m->b[at + 1] = (unsigned char)(m->n - at - 2);
		an++;
	}
	m->b[6] = (unsigned char)(an >> 8);
	m->b[7] = (unsigned char)an;
	return m->n;
}

/* ---- reading results back ---------------------------------------------- */

/* A random source that counts (0, 1, 2, ...): equal priorities keep the
   order written, and the first of several AliasMode records is picked. */
static uint32_t
counter_random(void *arg)
{
	uint32_t *c = arg;
	return (*c)++;
}

/* ... and one that counts down: equal priorities come out reversed. */
static uint32_t
down_random(void *arg)
{
	uint32_t *c = arg;
	return (*c)--;
}

static const char *
why_name(enum he_svcb_skip_why w)
{
	switch (w) {
	case HE_SVCB_SKIP_ALPN: return "alpn";
	case HE_SVCB_SKIP_MANDATORY: return "mandatory";
	case HE_SVCB_SKIP_INCONSISTENT: return "inconsistent";
	case HE_SVCB_SKIP_PORT: return "port";
	case HE_SVCB_SKIP_TARGET: return "target";
	case HE_SVCB_SKIP_SERVICE_BESIDE_ALIAS: return "beside-alias";
	case HE_SVCB_SKIP_OTHER_ALIAS: return "other-alias";
	case HE_SVCB_SKIP_LIMIT: return "limit";
	}
	return "?";
}

static void
cat(char *out, size_t len, const char *fmt, ...)
{
	size_t n = strlen(out);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out + n, len - n, fmt, ap);
	va_end(ap);
}

/* The answer as one line:
   OUTCOME [-> ALIAS] [(ERROR)] { | PRIO TARGET:PORT alpn=SET [ech=LEN]
   [v4=..] [v6=..] } { | skip WHY[(KEY)] PRIO TARGET } */
static const char *
summary(const struct he_svcb_answer *a)
{
	static char out[8192];
	char text[1024], addr[64];
	int i, j;

	out[0] = '\0';
	cat(out, sizeof(out), "%s", he_svcb_outcome_name_(a->outcome));
	if (a->alias)
		cat(out, sizeof(out), " -> %s", a->alias);
	if (a->error && a->outcome != HE_SVCB_SERVICE &&
	    a->outcome != HE_SVCB_ALIAS)
		cat(out, sizeof(out), " (%s)", a->error);
	for (i = 0; i < a->nendpoints; i++) {
		const struct he_svcb_endpoint *e = &a->endpoints[i];
		cat(out, sizeof(out), " | %u %s:%d alpn=%s", e->priority,
		    e->target, e->port, he_svcb_alpn_text_(e->alpn, e->alpn_len,
		    text, sizeof(text)));
		if (e->ech)
			cat(out, sizeof(out), " ech=%zu", e->ech_len);
		for (j = 0; j < e->nv4; j++)
			cat(out, sizeof(out), "%s%s", j ? "," : " v4=",
			    inet_ntop(AF_INET, &e->v4[j], addr, sizeof(addr)));
		for (j = 0; j < e->nv6; j++)
			cat(out, sizeof(out), "%s%s", j ? "," : " v6=",
			    inet_ntop(AF_INET6, &e->v6[j], addr, sizeof(addr)));
	}
	for (i = 0; i < a->nskips; i++) {
		const struct he_svcb_skip *s = &a->skips[i];
		cat(out, sizeof(out), " | skip %s", why_name(s->why));
		if (s->why == HE_SVCB_SKIP_MANDATORY ||
		    s->why == HE_SVCB_SKIP_INCONSISTENT)
			cat(out, sizeof(out), "(%u)", s->key);
		cat(out, sizeof(out), " %u %s", s->priority, s->target);
	}
	return out;
}

/* ---- the parser's table ------------------------------------------------ */

struct row {
	const char *name;
	const char *records;
	const char *want;
	const char *qname;	/* NULL: example.com */
	int qtype;		/* 0: HTTPS */
	const char *alpn;	/* the caller's list; NULL: http/1.1 */
	int port;		/* 0: 443 */
	unsigned flags;
	int rcode, tc;
	const char *asked;	/* the question in the message, NULL: qname */
};

static const struct row rows[] = {
	/* RFC 9460 appendix D, as far as the vectors are answers */
	{ .name = "D.1 AliasMode",
	  .records = "@ HTTPS 0 foo.example.com",
	  .want = "alias -> foo.example.com" },
	{ .name = "D.2 TargetName is .",
	  .records = "@ SVCB 1 .",
	  .want = "service | 1 example.com:443 alpn=",
	  .qtype = 64 },
	{ .name = "D.2 a port",
	  .records = "@ SVCB 16 foo.example.com port=53",
	  .want = "service | 16 foo.example.com:53 alpn=",
	  .qtype = 64 },
	{ .name = "D.2 a generic key",
	  .records = "@ SVCB 1 foo.example.com key667=hello",
	  .want = "service | 1 foo.example.com:443 alpn=",
	  .qtype = 64 },
	{ .name = "D.2 a generic key with an escape",
	  .records = "@ SVCB 1 foo.example.com key667=hex:68656c6c6fd2716f6f",
	  .want = "service | 1 foo.example.com:443 alpn=",
	  .qtype = 64 },
	{ .name = "D.2 two IPv6 hints",
	  .records = "@ SVCB 1 foo.example.com "
	  "ipv6hint=2001:db8::1,2001:db8::53:1",
	  .want = "service | 1 foo.example.com:443 alpn= "
	  "v6=2001:db8::1,2001:db8::53:1",
	  .qtype = 64 },
	{ .name = "D.2 an IPv6 hint in embedded IPv4 syntax",
	  .records = "@ SVCB 1 example.com "
	  "ipv6hint=2001:db8:122:344::192.0.2.33",
	  .want = "service | 1 example.com:443 alpn= "
	  "v6=2001:db8:122:344::c000:221",
	  .qtype = 64 },
	{ .name = "D.2 mandatory alpn,ipv4hint",
	  .records = "@ SVCB 16 foo.example.org mandatory=alpn,ipv4hint "
	  "alpn=h2,h3-19 "
	  "ipv4hint=192.0.2.1",
	  .want = "service | 16 foo.example.org:443 alpn=h2,h3-19 v4=192.0.2.1",
	  .qtype = 64,
	  .alpn = "h2" },
	{ .name = "D.2 an alpn with an escaped comma and backslash",
	  .records = "@ SVCB 16 foo.example.org "
	  "alpn=hex:08665c6f6f2c626172026832",
	  .want = "service | 16 foo.example.org:443 alpn=f\\x5coo\\x2cbar,h2",
	  .qtype = 64,
	  .alpn = "h2" },
	{ .name = "D.3 the same key twice",
	  .records = "@ HTTPS 1 foo.example.com key123=abc "
	  "key123=def",
	  .want = "malformed (parameter keys out of order or repeated)" },
	{ .name = "D.3 mandatory empty",
	  .records = "@ HTTPS 1 foo.example.com mandatory",
	  .want = "malformed (mandatory: empty or odd length)" },
	{ .name = "D.3 alpn empty",
	  .records = "@ HTTPS 1 foo.example.com alpn",
	  .want = "malformed (alpn: empty)" },
	{ .name = "D.3 port empty",
	  .records = "@ HTTPS 1 foo.example.com port",
	  .want = "malformed (port: not 2 bytes)" },
	{ .name = "D.3 ipv4hint empty",
	  .records = "@ HTTPS 1 foo.example.com ipv4hint",
	  .want = "malformed (ipv4hint: empty or not whole addresses)" },
	{ .name = "D.3 ipv6hint empty",
	  .records = "@ HTTPS 1 foo.example.com ipv6hint",
	  .want = "malformed (ipv6hint: empty or not whole addresses)" },
	{ .name = "D.3 no-default-alpn with a value",
	  .records = "@ HTTPS 1 foo.example.com no-default-alpn=abc",
	  .want = "malformed (no-default-alpn: not empty)" },
	{ .name = "D.3 a mandatory key missing",
	  .records = "@ HTTPS 1 foo.example.com mandatory=key123",
	  .want = "empty (every record was skipped) | skip inconsistent(123) 1 "
	  "foo.example.com" },
	{ .name = "D.3 mandatory lists mandatory",
	  .records = "@ HTTPS 1 foo.example.com mandatory=mandatory",
	  .want = "malformed (mandatory lists itself)" },
	{ .name = "D.3 mandatory lists a key twice",
	  .records = "@ HTTPS 1 foo.example.com mandatory=key123,key123 "
	  "key123=abc",
	  .want = "malformed (mandatory: keys out of order or repeated)" },

	/* every parameter, and the rules */
	{ .name = "HTTPS: the default ALPN",
	  .records = "@ HTTPS 1 .",
	  .want = "service | 1 example.com:443 alpn=http/1.1" },
	{ .name = "alpn plus the default",
	  .records = "@ HTTPS 1 . alpn=h2",
	  .want = "service | 1 example.com:443 alpn=h2,http/1.1" },
	{ .name = "http/1.1 is not added twice",
	  .records = "@ HTTPS 1 . alpn=http/1.1,h2",
	  .want = "service | 1 example.com:443 alpn=http/1.1,h2" },
	{ .name = "h3 only, no-default-alpn: a TCP client skips it",
	  .records = "@ HTTPS 1 . alpn=h3 no-default-alpn",
	  .want = "empty (every record was skipped) | skip alpn 1 example.com",
	  .alpn = "h2,http/1.1" },
	{ .name = "h3 without no-default-alpn: http/1.1 still there",
	  .records = "@ HTTPS 1 . alpn=h3",
	  .want = "service | 1 example.com:443 alpn=h3,http/1.1",
	  .alpn = "h2,http/1.1" },
	{ .name = "priorities with different ALPNs",
	  .records = "@ HTTPS 3 old.example.net; @ HTTPS 1 quic.example.net "
	  "alpn=h3 "
	  "no-default-alpn; @ HTTPS 2 h2.example.net alpn=h2 no-default-alpn",
	  .want = "service | 2 h2.example.net:443 alpn=h2 | 3 "
	  "old.example.net:443 "
	  "alpn=http/1.1 | skip alpn 1 quic.example.net",
	  .alpn = "h2,http/1.1" },
	{ .name = "an h2-only endpoint and an http/1.1-only caller",
	  .records = "@ HTTPS 1 a.example.net alpn=h2 no-default-alpn; @ "
	  "HTTPS 2 "
	  "b.example.net",
	  .want = "service | 2 b.example.net:443 alpn=http/1.1 | skip alpn 1 "
	  "a.example.net" },
	{ .name = "the port override",
	  .records = "@ HTTPS 1 . port=8443",
	  .want = "service | 1 example.com:8443 alpn=http/1.1" },
	{ .name = "the caller's port when there is none",
	  .records = "@ HTTPS 1 svc.example.net",
	  .want = "service | 1 svc.example.net:8080 alpn=http/1.1",
	  .qname = "_8080._https.example.com",
	  .port = 8080 },
	{ .name = "port 0 is skipped",
	  .records = "@ HTTPS 1 . port=0",
	  .want = "empty (every record was skipped) | skip port 1 "
	  "example.com" },
	{ .name = "an ECH config",
	  .records = "@ HTTPS 1 . ech=hex:0008fe0d000400010001",
	  .want = "service | 1 example.com:443 alpn=http/1.1 ech=10" },
	{ .name = "a huge ECH config",
	  .records = "@ HTTPS 1 . alpn=h2 ech=len:60000",
	  .want = "service | 1 example.com:443 alpn=h2,http/1.1 ech=60000" },
	{ .name = "hints of both families",
	  .records = "@ HTTPS 1 . ipv4hint=192.0.2.1,192.0.2.2 "
	  "ipv6hint=2001:db8::1",
	  .want = "service | 1 example.com:443 alpn=http/1.1 "
	  "v4=192.0.2.1,192.0.2.2 "
	  "v6=2001:db8::1" },
	{ .name = "mandatory ech, the caller without ECH",
	  .records = "@ HTTPS 1 . mandatory=ech ech=hex:0001ff",
	  .want = "empty (every record was skipped) | skip mandatory(5) 1 "
	  "example.com" },
	{ .name = "mandatory ech, the caller with ECH",
	  .records = "@ HTTPS 1 . mandatory=ech ech=hex:0001ff",
	  .want = "service | 1 example.com:443 alpn=http/1.1 ech=3",
	  .flags = HE_SVCB_USES_ECH },
	{ .name = "a mandatory key unknown here, beside a usable record",
	  .records = "@ HTTPS 1 a.example.net mandatory=key9 key9=x; @ HTTPS 2 "
	  "b.example.net",
	  .want = "service | 2 b.example.net:443 alpn=http/1.1 | skip "
	  "mandatory(9) "
	  "1 a.example.net" },
	{ .name = "mandatory port and alpn, known",
	  .records = "@ HTTPS 1 . mandatory=alpn,port "
	  "alpn=h2 port=444",
	  .want = "service | 1 example.com:444 alpn=h2,http/1.1" },
	{ .name = "no-default-alpn without alpn",
	  .records = "@ HTTPS 1 . no-default-alpn",
	  .want = "empty (every record was skipped) | skip inconsistent(2) 1 "
	  "example.com" },
	{ .name = "unknown keys are ignored",
	  .records = "@ HTTPS 1 . alpn=h2 key9999=abc "
	  "key65535",
	  .want = "service | 1 example.com:443 alpn=h2,http/1.1" },
	{ .name = "keys out of order",
	  .records = "@ HTTPS 1 . port=8443 alpn=h2",
	  .want = "malformed (parameter keys out of order or repeated)" },
	{ .name = "one bad record rejects the RRSet",
	  .records = "@ HTTPS 1 good.example.net; @ HTTPS 2 bad.example.net "
	  "ipv4hint="
	  "hex:c00002",
	  .want = "malformed (ipv4hint: empty or not whole addresses)" },
	{ .name = "ipv6hint of 17 bytes",
	  .records = "@ HTTPS 1 . ipv6hint=hex:"
	  "20010db8000000000000000000000001ff",
	  .want = "malformed (ipv6hint: empty or not whole addresses)" },
	{ .name = "an alpn id of length 0",
	  .records = "@ HTTPS 1 . alpn=hex:00",
	  .want = "malformed (alpn: an empty id, or ids not filling the "
	  "value)" },
	{ .name = "alpn ids not filling the value",
	  .records = "@ HTTPS 1 . alpn=hex:036832",
	  .want = "malformed (alpn: an empty id, or ids not filling the "
	  "value)" },
	{ .name = "mandatory of odd length",
	  .records = "@ HTTPS 1 . mandatory=hex:000100",
	  .want = "malformed (mandatory: empty or odd length)" },
	{ .name = "ech empty",
	  .records = "@ HTTPS 1 . ech",
	  .want = "malformed (ech: empty)" },
	{ .name = "RDATA too short",
	  .records = "@ HTTPS hex:0001",
	  .want = "malformed (record shorter than priority and target)" },
	{ .name = "a target running past the RDATA",
	  .records = "@ HTTPS hex:0001036161",
	  .want = "malformed (target runs past the record)" },
	{ .name = "a compressed target",
	  .records = "@ HTTPS hex:0001c00c",
	  .want = "malformed (target compressed or with a bad label)" },
	{ .name = "a parameter header cut short",
	  .records = "@ HTTPS hex:00010000",
	  .want = "malformed (parameter header runs past the record)" },
	{ .name = "a parameter value cut short",
	  .records = "@ HTTPS hex:0001000003000568",
	  .want = "malformed (parameter value runs past the record)" },
	{ .name = "a target that is no host name",
	  .records = "@ HTTPS hex:000105612062206300; @ HTTPS 2 ok.example.net",
	  .want = "service | 2 ok.example.net:443 alpn=http/1.1 | skip "
	  "target 1 "
	  "a\\032b\\032c" },

	/* AliasMode */
	{ .name = "AliasMode beside ServiceMode: ServiceMode ignored",
	  .records = "@ HTTPS 1 .; @ HTTPS 0 alias.example.net",
	  .want = "alias -> alias.example.net | skip beside-alias 1 "
	  "example.com" },
	{ .name = "two AliasMode records: one picked",
	  .records = "@ HTTPS 0 a.example.net; @ HTTPS 0 b.example.net",
	  .want = "alias -> a.example.net | skip other-alias 0 b.example.net" },
	{ .name = "AliasMode \".\": the service is not available",
	  .records = "@ HTTPS 0 .",
	  .want = "empty (AliasMode \".\": the service is not available)" },
	{ .name = "AliasMode parameters are ignored",
	  .records = "@ HTTPS 0 a.example.net alpn",
	  .want = "alias -> a.example.net" },
	{ .name = "AliasMode parameters out of order still reject the RRSet",
	  .records = "@ HTTPS 0 a.example.net port alpn",
	  .want = "malformed (parameter keys out of order or repeated)" },

	/* the message around the records */
	{ .name = "a CNAME chain inside the answer",
	  .records = "@ CNAME cdn.example.net; cdn.example.net CNAME "
	  "edge.example.org; "
	  "edge.example.org HTTPS 1 . alpn=h2",
	  .want = "service | 1 edge.example.org:443 alpn=h2,http/1.1" },
	{ .name = "a CNAME loop inside the answer",
	  .records = "@ CNAME a.example.net; a.example.net CNAME example.com",
	  .want = "malformed (CNAME chain too long, or a loop)" },
	{ .name = "records of another owner are not ours",
	  .records = "other.example.net HTTPS 1 .; @ A 192.0.2.1",
	  .want = "empty (no record)" },
	{ .name = "NODATA",
	  .records = "",
	  .want = "empty (no record)" },
	{ .name = "NXDOMAIN",
	  .records = "",
	  .want = "empty (no such name)",
	  .rcode = 3 },
	{ .name = "SERVFAIL",
	  .records = "",
	  .want = "failed (the server said SERVFAIL)",
	  .rcode = 2 },
	{ .name = "REFUSED",
	  .records = "",
	  .want = "failed (the server said REFUSED)",
	  .rcode = 5 },
	{ .name = "truncated",
	  .records = "@ HTTPS 1 .",
	  .want = "failed (the answer was truncated)",
	  .tc = 1 },
	{ .name = "an answer to another question",
	  .records = "@ HTTPS 1 .",
	  .want = "malformed (the answer is to another question)",
	  .asked = "example.org" },
	{ .name = "an answer of another type",
	  .records = "@ HTTPS 1 .",
	  .want = "malformed (the answer is to another question)",
	  .qtype = 64 },
	{ .name = "case does not matter",
	  .records = "@ HTTPS 1 .",
	  .want = "service | 1 EXAMPLE.com:443 alpn=http/1.1",
	  .asked = "EXAMPLE.com" },
	{ .name = "the port-prefixed name is the owner",
	  .records = "@ HTTPS 1 .",
	  .want = "service | 1 _8443._https.example.com:8443 alpn=http/1.1",
	  .qname = "_8443._https.example.com",
	  .port = 8443 },
};

/* With HE_SVCB_SEED_DIR set, every row's message is written there as a
   seed of the fuzz target (tests/fuzz/fuzz_svcb.c: an options byte, then
   the message). */
static void
maybe_write_seed(const char *name, const struct row *r, const struct buf *m)
{
	unsigned char opt = 0;
	const char *dir = getenv("HE_SVCB_SEED_DIR");
	char path[512];
	FILE *fp;
	size_t i;

	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/seed-", dir);
	for (i = 0; name[i] && strlen(path) < sizeof(path) - 2; i++) {
		char c = name[i];
		size_t n = strlen(path);
		path[n] = ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) ?
		    c : '-';
		path[n + 1] = '\0';
	}
	if (r->qtype == 64)
		opt |= 1;
	if (r->flags & HE_SVCB_USES_ECH)
		opt |= 2;
	if (r->alpn)
		opt |= !strcmp(r->alpn, "h2,http/1.1") ? 4 : 12;
	if (r->port == 8443)
		opt |= 16;
	if ((fp = fopen(path, "wb")) != NULL) {
		fwrite(&opt, 1, 1, fp);
		fwrite(m->b, 1, m->n, fp);
		fclose(fp);
	}
}

static struct buf msgbuf;

START_TEST(test_rows)
{
	const struct row *r = &rows[_i];
	struct he_svcb_answer a;
	struct he_svcb_prefs prefs;
	unsigned char alpn[256];
	uint32_t ctr = 0;
	const char *qname = r->qname ? r->qname : "example.com";
	int qtype = r->qtype ? r->qtype : HE_DNS_TYPE_HTTPS;

	memset(&prefs, 0, sizeof(prefs));
	memset(&a, 0, sizeof(a));
	if (r->alpn) {
		int n = he_svcb_alpn_parse_(r->alpn, alpn, sizeof(alpn));
		ck_assert_int_gt(n, 0);
		prefs.alpn = alpn;
		prefs.alpn_len = (size_t)n;
	}
	prefs.port = r->port ? r->port : 443;
	prefs.flags = r->flags;
	prefs.random = counter_random;
	prefs.random_arg = &ctr;
	build_msg(&msgbuf, r->asked ? r->asked : qname,
	    r->qtype == 64 && !strstr(r->name, "another type") ? 64 : 65,
	    r->rcode, r->tc, r->records);
	maybe_write_seed(r->name, r, &msgbuf);
	ck_assert_int_eq(he_svcb_parse_(msgbuf.b, msgbuf.n, qname, qtype,
	    &prefs, &a), 0);
	ck_assert_msg(!strcmp(summary(&a), r->want),
	    "%s:\n got  %s\n want %s", r->name, summary(&a), r->want);
	he_svcb_answer_clear_(&a);
}
END_TEST

/* ---- the parser: more than a row can say ------------------------------- */

static void
parse_msg(const struct buf *m, const char *qname, const char *alpn,
    struct he_svcb_answer *a)
{
	static unsigned char wire[256];
	struct he_svcb_prefs prefs;

	memset(&prefs, 0, sizeof(prefs));
	prefs.port = 443;
	if (alpn) {
		int n = he_svcb_alpn_parse_(alpn, wire, sizeof(wire));
		ck_assert_int_gt(n, 0);
		prefs.alpn = wire;
		prefs.alpn_len = (size_t)n;
	}
	ck_assert_int_eq(he_svcb_parse_(m->b, m->n, qname, HE_DNS_TYPE_HTTPS,
	    &prefs, a), 0);
}

/* Every byte of a message missing: each cut is MALFORMED (or FAILED), never
   read past, never a crash. */
START_TEST(test_every_cut)
{
	struct he_svcb_answer a;
	size_t n, full;

	memset(&a, 0, sizeof(a));
	full = build_msg(&msgbuf, "example.com", 65, 0, 0,
	    "@ CNAME cdn.example.net; cdn.example.net HTTPS 1 . alpn=h2 "
	    "port=8443 ipv4hint=192.0.2.1 ech=hex:00020102 ipv6hint=::1");
	for (n = 0; n < full; n++) {
		unsigned char *copy = malloc(n ? n : 1);
		memcpy(copy, msgbuf.b, n);
		ck_assert_int_eq(he_svcb_parse_(copy, n, "example.com",
		    HE_DNS_TYPE_HTTPS, &(struct he_svcb_prefs){ .port = 443 },
		    &a), 0);
		ck_assert_msg(a.outcome == HE_SVCB_MALFORMED, "cut at %zu: %s",
		    n, summary(&a));
		he_svcb_answer_clear_(&a);
		free(copy);
	}
	parse_msg(&msgbuf, "example.com", "h2", &a);
	ck_assert_str_eq(summary(&a), "service | 1 cdn.example.net:8443 "
	    "alpn=h2,http/1.1 ech=4 v4=192.0.2.1 v6=::1");
	ck_assert_str_eq(a.owner, "cdn.example.net");
	ck_assert_uint_eq(a.ttl, 300);
	he_svcb_answer_clear_(&a);
}
END_TEST

/* The message's own framing: what ns_initparse checks. */
START_TEST(test_message_framing)
{
	struct he_svcb_answer a;
	struct he_svcb_prefs prefs = { .port = 443 };

	memset(&a, 0, sizeof(a));
	build_msg(&msgbuf, "example.com", 65, 0, 0, "@ HTTPS 1 .");
	/* trailing garbage */
	msgbuf.b[msgbuf.n++] = 0;
	parse_msg(&msgbuf, "example.com", NULL, &a);
	ck_assert_str_eq(summary(&a), "malformed (not a DNS message)");
	he_svcb_answer_clear_(&a);
	/* more records counted than there are */
	build_msg(&msgbuf, "example.com", 65, 0, 0, "@ HTTPS 1 .");
	msgbuf.b[7] = 2;
	parse_msg(&msgbuf, "example.com", NULL, &a);
	ck_assert_str_eq(summary(&a), "malformed (not a DNS message)");
	he_svcb_answer_clear_(&a);
	/* a query, not a response */
	build_msg(&msgbuf, "example.com", 65, 0, 0, "@ HTTPS 1 .");
	msgbuf.b[2] &= 0x7f;
	parse_msg(&msgbuf, "example.com", NULL, &a);
	ck_assert_str_eq(summary(&a), "malformed (not a response to a query)");
	he_svcb_answer_clear_(&a);
	/* a compression pointer to itself as a record's owner */
	build_msg(&msgbuf, "example.com", 65, 0, 0, "@ HTTPS 1 .");
	msgbuf.b[29] = 0xc0;
	msgbuf.b[30] = 29;
	parse_msg(&msgbuf, "example.com", NULL, &a);
	ck_assert_str_eq(summary(&a),
	    "malformed (a record's name cannot be read)");
	he_svcb_answer_clear_(&a);
	/* two questions */
	build_msg(&msgbuf, "example.com", 65, 0, 0, "");
	msgbuf.b[5] = 2;
	put_name(&msgbuf, "example.com");
	put16(&msgbuf, 65);
	put16(&msgbuf, 1);
	parse_msg(&msgbuf, "example.com", NULL, &a);
	ck_assert_str_eq(summary(&a),
	    "malformed (the answer is to another question)");
	he_svcb_answer_clear_(&a);
	/* nothing, and NULLs */
	ck_assert_int_eq(he_svcb_parse_(msgbuf.b, 0, "example.com", 65,
	    &prefs, &a), 0);
	ck_assert_int_eq(a.outcome, HE_SVCB_MALFORMED);
	he_svcb_answer_clear_(&a);
	errno = 0;
	ck_assert_int_eq(he_svcb_parse_(NULL, 0, "example.com", 65, &prefs,
	    &a), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(he_svcb_parse_(msgbuf.b, msgbuf.n, "example.com", 1,
	    &prefs, &a), -1);
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* 4,000 records in one answer (what a 64 KiB TCP answer holds): the 16 of
   the best priorities are kept, the rest counted, in bounded time. */
START_TEST(test_thousands_of_records)
{
	struct he_svcb_answer a;
	char rec[64];
	static char records[8192];
	int i, n = 4000;
	int64_t t0;
	size_t at;

	memset(&a, 0, sizeof(a));
	build_msg(&msgbuf, "example.com", 65, 0, 0, "");
	for (i = 0; i < n; i++) {
		/* priority from a permutation: n - i, so the best come last */
		put16(&msgbuf, 0xc00c);
		put16(&msgbuf, 65);
		put16(&msgbuf, 1);
		put16(&msgbuf, 0);
		put16(&msgbuf, 300);
		at = msgbuf.n;
		put16(&msgbuf, 0);
		snprintf(rec, sizeof(rec), "%d .", n - i);
		put_svcb(&msgbuf, rec);
		msgbuf.b[at] = (unsigned char)((msgbuf.n - at - 2) >> 8);
		msgbuf.b[at + 1] = (unsigned char)(msgbuf.n - at - 2);
	}
	ck_assert_uint_le(msgbuf.n, 65535);
	msgbuf.b[6] = (unsigned char)(n >> 8);
	msgbuf.b[7] = (unsigned char)n;
	(void)records;
	t0 = he_test_now_ms();
	parse_msg(&msgbuf, "example.com", NULL, &a);
	ck_assert_int_lt(he_test_now_ms() - t0, HE_TEST_UP(1000));
	ck_assert_int_eq(a.outcome, HE_SVCB_SERVICE);
	ck_assert_int_eq(a.nendpoints, HE_SVCB_MAX_ENDPOINTS);
	for (i = 0; i < a.nendpoints; i++)
		ck_assert_uint_eq(a.endpoints[i].priority, i + 1);
	ck_assert_int_eq(a.nskipped, n - HE_SVCB_MAX_ENDPOINTS);
	ck_assert_int_eq(a.nskips, HE_SVCB_MAX_SKIPS);
	ck_assert_int_eq(a.skips[0].why, HE_SVCB_SKIP_LIMIT);
	he_svcb_answer_clear_(&a);

	/* and 4,000 CNAMEs, each to the next: the chain is cut */
	build_msg(&msgbuf, "example.com", 65, 0, 0, "");
	for (i = 0; i < n && msgbuf.n < 65000; i++) {
		char owner[32], target[32];
		snprintf(owner, sizeof(owner), "c%d.x", i);
		snprintf(target, sizeof(target), "c%d.x", i + 1);
		if (i == 0)
			put16(&msgbuf, 0xc00c);
		else
			put_name(&msgbuf, owner);
		put16(&msgbuf, 5);
		put16(&msgbuf, 1);
		put16(&msgbuf, 0);
		put16(&msgbuf, 300);
		put16(&msgbuf, (unsigned)strlen(target) + 2);
		put_name(&msgbuf, target);
	}
	msgbuf.b[6] = (unsigned char)(i >> 8);
	msgbuf.b[7] = (unsigned char)i;
	t0 = he_test_now_ms();
	parse_msg(&msgbuf, "example.com", NULL, &a);
	ck_assert_int_lt(he_test_now_ms() - t0, HE_TEST_UP(1000));
	ck_assert_str_eq(summary(&a),
	    "malformed (CNAME chain too long, or a loop)");
	he_svcb_answer_clear_(&a);
}
END_TEST

/* Equal priorities are shuffled by the random source; lower ones first. */
START_TEST(test_equal_priorities_shuffled)
{
	struct he_svcb_answer a;
	struct he_svcb_prefs prefs = { .port = 443 };
	uint32_t ctr = 100;
	int seen_ab = 0, seen_ba = 0, i;

	memset(&a, 0, sizeof(a));
	build_msg(&msgbuf, "example.com", 65, 0, 0,
	    "@ HTTPS 2 c.example.net; @ HTTPS 1 a.example.net; "
	    "@ HTTPS 1 b.example.net");
	prefs.random = down_random;
	prefs.random_arg = &ctr;
	ck_assert_int_eq(he_svcb_parse_(msgbuf.b, msgbuf.n, "example.com", 65,
	    &prefs, &a), 0);
	ck_assert_str_eq(summary(&a), "service | 1 b.example.net:443 "
	    "alpn=http/1.1 | 1 a.example.net:443 alpn=http/1.1 | 2 "
	    "c.example.net:443 alpn=http/1.1");
	he_svcb_answer_clear_(&a);
	/* the built-in source: both orders come up, c always last */
	prefs.random = NULL;
	for (i = 0; i < 200 && !(seen_ab && seen_ba); i++) {
		ck_assert_int_eq(he_svcb_parse_(msgbuf.b, msgbuf.n,
		    "example.com", 65, &prefs, &a), 0);
		ck_assert_int_eq(a.nendpoints, 3);
		ck_assert_str_eq(a.endpoints[2].target, "c.example.net");
		if (!strcmp(a.endpoints[0].target, "a.example.net"))
			seen_ab = 1;
		else
			seen_ba = 1;
		he_svcb_answer_clear_(&a);
	}
	ck_assert(seen_ab && seen_ba);
}
END_TEST

/* Hints beyond HE_SVCB_MAX_HINTS are dropped; the reasons read well. */
START_TEST(test_hints_cap_and_reasons)
{
	struct he_svcb_answer a;
	struct he_svcb_prefs prefs = { .port = 443 };
	char rec[2048] = "@ HTTPS 1 . alpn=h3 ipv4hint=", text[256];
	unsigned char alpn[64];
	int i, n;

	memset(&a, 0, sizeof(a));
	for (i = 0; i < 40; i++)
		cat(rec, sizeof(rec), "%s192.0.2.%d", i ? "," : "", i + 1);
	build_msg(&msgbuf, "example.com", 65, 0, 0, rec);
	parse_msg(&msgbuf, "example.com", NULL, &a);
	ck_assert_int_eq(a.nendpoints, 1);
	ck_assert_int_eq(a.endpoints[0].nv4, HE_SVCB_MAX_HINTS);
	he_svcb_answer_clear_(&a);

	build_msg(&msgbuf, "example.com", 65, 0, 0,
	    "@ HTTPS 1 . alpn=h3 no-default-alpn");
	n = he_svcb_alpn_parse_("h2,http/1.1", alpn, sizeof(alpn));
	prefs.alpn = alpn;
	prefs.alpn_len = (size_t)n;
	ck_assert_int_eq(he_svcb_parse_(msgbuf.b, msgbuf.n, "example.com", 65,
	    &prefs, &a), 0);
	ck_assert_int_eq(a.nskips, 1);
	he_svcb_skip_text_(&a.skips[0], &prefs, text, sizeof(text));
	ck_assert_str_eq(text, "its ALPN set (h3) shares nothing with "
	    "h2,http/1.1 (h3 runs over QUIC, which is not raced here)");
	/* truncated to fit, still terminated */
	he_svcb_skip_text_(&a.skips[0], &prefs, text, 10);
	ck_assert_str_eq(text, "its ALPN ");
	he_svcb_answer_clear_(&a);
}
END_TEST

START_TEST(test_qname_and_alpn_list)
{
	char out[300];
	unsigned char w[16];
	char longhost[300];

	ck_assert_int_eq(he_svcb_qname_("example.com", 443, out, sizeof(out)),
	    11);
	ck_assert_str_eq(out, "example.com");
	ck_assert_int_gt(he_svcb_qname_("example.com.", 8443, out,
	    sizeof(out)), 0);
	ck_assert_str_eq(out, "_8443._https.example.com");
	errno = 0;
	ck_assert_int_eq(he_svcb_qname_("192.0.2.1", 443, out, sizeof(out)),
	    -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(he_svcb_qname_("::1", 443, out, sizeof(out)), -1);
	ck_assert_int_eq(he_svcb_qname_("example.com", 0, out, sizeof(out)),
	    -1);
	ck_assert_int_eq(he_svcb_qname_("example.com", 65536, out,
	    sizeof(out)), -1);
	ck_assert_int_eq(he_svcb_qname_("a..b", 443, out, sizeof(out)), -1);
	ck_assert_int_eq(he_svcb_qname_(NULL, 443, out, sizeof(out)), -1);
	memset(longhost, 'a', 250);
	longhost[250] = '\0';
	for (int i = 60; i < 250; i += 61)
		longhost[i] = '.';
	ck_assert_int_eq(he_svcb_qname_(longhost, 443, out, sizeof(out)), 250);
	errno = 0;
	ck_assert_int_eq(he_svcb_qname_(longhost, 8443, out, sizeof(out)), -1);
	ck_assert_int_eq(errno, ENAMETOOLONG);
	ck_assert_int_eq(he_svcb_qname_("example.com", 8443, out, 10), -1);

	ck_assert_int_eq(he_svcb_alpn_parse_("h2,http/1.1", w, sizeof(w)), 12);
	ck_assert(memcmp(w, "\x02h2\x08http/1.1", 12) == 0);
	ck_assert_int_eq(he_svcb_alpn_parse_("h2,,h3", w, sizeof(w)), -1);
	ck_assert_int_eq(he_svcb_alpn_parse_("", w, sizeof(w)), -1);
	ck_assert_int_eq(he_svcb_alpn_parse_("h2,", w, sizeof(w)), -1);
	errno = 0;
	ck_assert_int_eq(he_svcb_alpn_parse_("h2,http/1.1", w, 5), -1);
	ck_assert_int_eq(errno, ENOSPC);
}
END_TEST

/* ---- the AliasMode chain ----------------------------------------------- */

static void
answer_alias(struct he_svcb_answer *a, const char *alias)
{
	he_svcb_answer_set_(a, HE_SVCB_ALIAS, NULL);
	a->alias = strdup(alias);
}

START_TEST(test_chain)
{
	struct he_svcb_chain c;
	struct he_svcb_answer a;
	char name[64];
	int i;

	memset(&a, 0, sizeof(a));
	ck_assert_int_eq(he_svcb_chain_init_(&c, "_8443._https.example.com",
	    65), 0);
	/* the alias is asked as it is: no _8443._https prefix */
	answer_alias(&a, "svc.example.net");
	ck_assert_int_eq(he_svcb_chain_next_(&c, &a), HE_SVCB_ASK);
	ck_assert_str_eq(c.qname, "svc.example.net");
	ck_assert_int_eq(c.naliases, 1);
	he_svcb_answer_set_(&a, HE_SVCB_SERVICE, NULL);
	ck_assert_int_eq(he_svcb_chain_next_(&c, &a), HE_SVCB_DONE);
	he_svcb_answer_clear_(&a);

	/* a loop: a -> b -> a */
	ck_assert_int_eq(he_svcb_chain_init_(&c, "a.example", 65), 0);
	answer_alias(&a, "b.example");
	ck_assert_int_eq(he_svcb_chain_next_(&c, &a), HE_SVCB_ASK);
	answer_alias(&a, "A.example.");
	ck_assert_int_eq(he_svcb_chain_next_(&c, &a), HE_SVCB_DONE);
	ck_assert_int_eq(a.outcome, HE_SVCB_EMPTY);
	ck_assert_str_eq(a.error, "AliasMode loop");
	he_svcb_answer_clear_(&a);

	/* a chain of HE_SVCB_MAX_ALIASES aliases is followed, not one more */
	ck_assert_int_eq(he_svcb_chain_init_(&c, "n0.example", 65), 0);
	for (i = 1; i <= HE_SVCB_MAX_ALIASES; i++) {
		snprintf(name, sizeof(name), "n%d.example", i);
		answer_alias(&a, name);
		ck_assert_int_eq(he_svcb_chain_next_(&c, &a), HE_SVCB_ASK);
		ck_assert_str_eq(c.qname, name);
	}
	answer_alias(&a, "last.example");
	ck_assert_int_eq(he_svcb_chain_next_(&c, &a), HE_SVCB_DONE);
	ck_assert_str_eq(a.error, "AliasMode chain too long");
	ck_assert_ptr_null(a.alias);
	he_svcb_answer_clear_(&a);
	ck_assert_int_eq(he_svcb_chain_init_(&c, "no..name", 65), -1);
}
END_TEST

/* A transport of the test's own: answers from a table of messages, each
   on a later loop turn (or never, for names not in the table). */
struct fake_q {
	struct fake_q *next;
	struct event *ev;
	char name[256];
	he_dnsq_cb cb;
	void *arg;
};

struct fake {
	struct event_base *base;
	const char *const *names;	/* name, records, name, records, ... */
	int asked;
	char log[1024];			/* the names asked */
	struct fake_q *qs;
};

static struct fake *fake_current;

static void
fake_deliver(evutil_socket_t fd, short what, void *arg)
{
	struct fake_q *q = arg, **pp;
	struct fake *f = fake_current;
	const char *const *p;

	(void)fd;
	(void)what;
	for (pp = &f->qs; *pp != q; pp = &(*pp)->next)
		;
	*pp = q->next;
	for (p = f->names; *p; p += 2)
		if (!strcmp(p[0], q->name))
			break;
	if (*p) {
		build_msg(&msgbuf, q->name, 65, 0, 0, p[1]);
		q->cb(HE_DNSQ_ANSWER, msgbuf.b, msgbuf.n, q->arg);
	} else
		q->cb(HE_DNSQ_NODATA, NULL, 0, q->arg);
	event_free(q->ev);
	free(q);
}

static void *
fake_start(void *ctx, const char *name, int type, he_dnsq_cb cb, void *arg)
{
	struct fake *f = ctx;
	struct fake_q *q = calloc(1, sizeof(*q));

	ck_assert_int_eq(type, 65);
	snprintf(q->name, sizeof(q->name), "%s", name);
	q->cb = cb;
	q->arg = arg;
	q->ev = evtimer_new(f->base, fake_deliver, q);
	event_active(q->ev, EV_TIMEOUT, 1);
	q->next = f->qs;
	f->qs = q;
	f->asked++;
	cat(f->log, sizeof(f->log), "%s%s", f->log[0] ? " " : "", name);
	return q;
}

static void
fake_cancel(void *query)
{
	struct fake_q *q = query, **pp;

	for (pp = &fake_current->qs; *pp != q; pp = &(*pp)->next)
		;
	*pp = q->next;
	event_free(q->ev);
	free(q);
}

static const struct he_dnsq_ops fake_ops = { fake_start, fake_cancel };

struct lookup_result {
	int calls;
	int inside_start;
	char summary[2048];
	int naliases;
	char final[HE_SVCB_HOST_MAX];
};

static int in_start;

static void
lookup_cb(struct he_svcb_answer *a, const struct he_svcb_chain *c, void *arg)
{
	struct lookup_result *r = arg;

	r->calls++;
	r->inside_start = in_start;
	snprintf(r->summary, sizeof(r->summary), "%s", summary(a));
	r->naliases = c->naliases;
	snprintf(r->final, sizeof(r->final), "%s", c->qname);
}

START_TEST(test_lookup_chain)
{
	static const char *const names[] = {
		"_8443._https.example.com", "@ HTTPS 0 svc.example.net",
		"svc.example.net", "@ HTTPS 0 pool.example.org",
		"pool.example.org", "@ HTTPS 1 . alpn=h2",
		"loop1.example", "@ HTTPS 0 loop2.example",
		"loop2.example", "@ HTTPS 0 loop1.example",
		NULL };
	struct event_base *base = event_base_new();
	struct fake f = { base, names, 0, "", NULL };
	struct he_svcb_prefs prefs = { .port = 8443 };
	struct lookup_result r;
	struct he_svcb_lookup *l;

	fake_current = &f;
	memset(&r, 0, sizeof(r));
	in_start = 1;
	l = he_svcb_lookup_(&fake_ops, &f, "example.com", 8443,
	    HE_DNS_TYPE_HTTPS, &prefs, lookup_cb, &r);
	in_start = 0;
	ck_assert_ptr_nonnull(l);
	ck_assert_int_eq(r.calls, 0);
	event_base_dispatch(base);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.inside_start, 0);
	ck_assert_str_eq(f.log, "_8443._https.example.com svc.example.net "
	    "pool.example.org");
	ck_assert_str_eq(r.summary,
	    "service | 1 pool.example.org:8443 alpn=h2,http/1.1");
	ck_assert_int_eq(r.naliases, 2);
	ck_assert_str_eq(r.final, "pool.example.org");

	/* a loop ends EMPTY after asking each name once */
	memset(&r, 0, sizeof(r));
	f.log[0] = '\0';
	ck_assert_ptr_nonnull(he_svcb_lookup_(&fake_ops, &f, "loop1.example",
	    443, HE_DNS_TYPE_HTTPS, &prefs, lookup_cb, &r));
	event_base_dispatch(base);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_str_eq(f.log, "loop1.example loop2.example");
	ck_assert_str_eq(r.summary, "empty (AliasMode loop)");

	/* no record: EMPTY */
	memset(&r, 0, sizeof(r));
	ck_assert_ptr_nonnull(he_svcb_lookup_(&fake_ops, &f, "none.example",
	    443, HE_DNS_TYPE_HTTPS, &prefs, lookup_cb, &r));
	event_base_dispatch(base);
	ck_assert_str_eq(r.summary, "empty (no record)");

	/* cancelled after its first query: no call, nothing left */
	memset(&r, 0, sizeof(r));
	l = he_svcb_lookup_(&fake_ops, &f, "example.com", 8443,
	    HE_DNS_TYPE_HTTPS, &prefs, lookup_cb, &r);
	ck_assert_ptr_nonnull(l);
	he_svcb_lookup_cancel_(l);
	ck_assert_ptr_null(f.qs);
	event_base_dispatch(base);
	ck_assert_int_eq(r.calls, 0);

	/* no HTTPS record for literals */
	errno = 0;
	ck_assert_ptr_null(he_svcb_lookup_(&fake_ops, &f, "192.0.2.1", 443,
	    HE_DNS_TYPE_HTTPS, &prefs, lookup_cb, &r));
	ck_assert_int_eq(errno, EINVAL);
	event_base_free(base);
}
END_TEST

/* ---- the query on the loop: c-ares against the lab --------------------- */

/* An HTTPS record's RDATA from its presentation. */
static int
lab_add_https(struct he_lab_dns *d, const char *name, const char *pres)
{
	struct buf *b = malloc(sizeof(*b));
	int rc;

	b->n = 0;
	put_svcb(b, pres);
	rc = he_lab_dns_add_raw(d, name, 65, b->b, b->n);
	free(b);
	return rc;
}

#ifdef HAVE_CARES
struct qresult {
	int calls;
	int inside_start;
	enum he_dnsq_status status;
	int64_t at_ms;
	char summary[2048];
	const char *qname;
};

static struct he_dnsq_resolver *free_in_cb;

static void
query_cb(enum he_dnsq_status st, const unsigned char *msg, size_t len,
    void *arg)
{
	struct qresult *r = arg;
	struct he_svcb_answer a;
	struct he_svcb_prefs prefs = { .port = 443 };
	static unsigned char mine[] = "\x02h2\x08http/1.1";

	r->calls++;
	r->inside_start = in_start;
	r->status = st;
	r->at_ms = he_test_now_ms();
	memset(&a, 0, sizeof(a));
	prefs.alpn = mine;
	prefs.alpn_len = 12;
	if (st == HE_DNSQ_ANSWER) {
		ck_assert_int_eq(he_svcb_parse_(msg, len, r->qname, 65, &prefs,
		    &a), 0);
		snprintf(r->summary, sizeof(r->summary), "%s", summary(&a));
		he_svcb_answer_clear_(&a);
	} else
		snprintf(r->summary, sizeof(r->summary), "%s",
		    he_dnsq_status_name_(st));
	if (free_in_cb) {
		he_dnsq_resolver_free_(free_in_cb);
		free_in_cb = NULL;
	}
}

struct cares_fx {
	struct he_test_fx fx;
	struct he_lab_dns *lab;
	struct evdns_base *dns;
	struct he_dnsq_resolver *r;
};

static void
cares_begin(struct cares_fx *c, int timeout_ms)
{
	ck_assert(he_dnsq_available_());
	he_test_fx_begin(&c->fx);
	c->lab = he_lab_dns_new(c->fx.base);
	ck_assert_ptr_nonnull(c->lab);
	c->dns = he_lab_dns_client(c->lab, c->fx.base);
	ck_assert_ptr_nonnull(c->dns);
	c->r = he_dnsq_resolver_new_(c->fx.base, c->dns, timeout_ms, 1);
	ck_assert_ptr_nonnull(c->r);
}

static void
cares_end(struct cares_fx *c)
{
	he_dnsq_resolver_free_(c->r);
	evdns_base_free(c->dns, 0);
	he_lab_dns_free(c->lab);
	he_test_fx_end(&c->fx);
}

static struct he_dnsq *
ask(struct cares_fx *c, const char *name, struct qresult *r)
{
	struct he_dnsq *q;

	memset(r, 0, sizeof(*r));
	r->qname = name;
	in_start = 1;
	q = he_dnsq_start_(c->r, name, 65, query_cb, r);
	in_start = 0;
	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(r->calls, 0);
	return q;
}

/* ask(), the loop run until the callback (at most wait_ms, widened), which
   must come once; how long after the question it came, in ms. */
static int64_t
answered(struct cares_fx *c, const char *name, struct qresult *r,
    int wait_ms)
{
	int64_t t0 = he_test_now_ms();

	ask(c, name, r);
	he_test_run_until(c->fx.base, HE_TEST_UP(wait_ms), &r->calls);
	ck_assert_int_eq(r->calls, 1);
	return r->at_ms - t0;
}

/* Hints only: the record answers with addresses before any A/AAAA. */
START_TEST(test_cares_hints_only)
{
	struct cares_fx c;
	struct qresult r;

	cares_begin(&c, 1000);
	ck_assert_int_eq(lab_add_https(c.lab, "hints.test", "1 . alpn=h2 "
	    "ipv4hint=192.0.2.10 ipv6hint=2001:db8::10"), 0);
	answered(&c, "hints.test", &r, 2000);
	ck_assert_int_eq(r.inside_start, 0);
	ck_assert_str_eq(r.summary, "service | 1 hints.test:443 "
	    "alpn=h2,http/1.1 v4=192.0.2.10 v6=2001:db8::10");
	ck_assert_int_eq(he_lab_dns_queries(c.lab, "hints.test", 1), 0);
	ck_assert_int_eq(he_lab_dns_queries(c.lab, "hints.test", 28), 0);
	cares_end(&c);
}
END_TEST

/* A resolver with an evdns_base's servers keeps its socket for
   HE_DNSQ_PORT_QUERIES queries (one per race would cost seven system
   calls), then takes a new one, from a new random port: of four rounds,
   at least three ports differ (the kernel repeats one with a chance of
   about 1 in 28,000). */
START_TEST(test_cares_source_ports)
{
	struct cares_fx c;
	struct qresult r;
	int ports[4], i, k, j, distinct = 0;

	cares_begin(&c, 1000);
	ck_assert_int_eq(lab_add_https(c.lab, "port.test", "1 ."), 0);
	for (i = 0; i < 4; i++) {
		for (k = 0; k < HE_DNSQ_PORT_QUERIES; k++) {
			ask(&c, "port.test", &r);
			he_test_run_until(c.fx.base, HE_TEST_UP(2000),
			    &r.calls);
			ck_assert_int_eq(r.status, HE_DNSQ_ANSWER);
			ck_assert_int_eq(he_dnsq_pending_(c.r), 0);
			/* one socket, one port, for a round of queries */
			if (k == 0)
				ports[i] = he_lab_dns_last_port(c.lab);
			ck_assert_int_eq(he_lab_dns_last_port(c.lab),
			    ports[i]);
		}
		ck_assert_int_gt(ports[i], 0);
	}
	/* then a new socket: the kernel's random port */
	for (i = 0; i < 4; i++) {
		for (j = 0; j < i && ports[j] != ports[i]; j++)
			;
		distinct += j == i;
	}
	ck_assert_int_ge(distinct, 3);
	cares_end(&c);
}
END_TEST

/* An answer that comes 300 ms late arrives then, not before. */
START_TEST(test_cares_late_answer)
{
	struct cares_fx c;
	struct qresult r;
	int64_t ms;

	cares_begin(&c, 2000);
	ck_assert_int_eq(lab_add_https(c.lab, "late.test", "1 ."), 0);
	ck_assert_int_eq(he_lab_dns_set(c.lab, "late.test", 65,
	    HE_LAB_ANSWER, 300), 0);
	ms = answered(&c, "late.test", &r, 2000);
	ck_assert_int_ge(ms, 290);
	ck_assert_int_lt(ms, HE_TEST_UP(700));
	ck_assert_str_eq(r.summary, "service | 1 late.test:443 "
	    "alpn=http/1.1");
	cares_end(&c);
}
END_TEST

/* A UDP answer over 512 bytes comes truncated; c-ares asks again over TCP
   and gets all of it.  Without TCP at the server, the query fails. */
START_TEST(test_cares_truncation)
{
	struct cares_fx c;
	struct qresult r;
	char rec[128];
	int i;

	cares_begin(&c, 1000);
	for (i = 0; i < 24; i++) {
		snprintf(rec, sizeof(rec), "%d endpoint-%02d.example.net "
		    "alpn=h2", i + 1, i);
		ck_assert_int_eq(lab_add_https(c.lab, "big.test", rec), 0);
	}
	answered(&c, "big.test", &r, 3000);
	ck_assert_int_eq(r.status, HE_DNSQ_FAILED);

	ck_assert_int_eq(he_lab_dns_tcp(c.lab), 0);
	answered(&c, "big.test", &r, 3000);
	ck_assert_int_eq(r.status, HE_DNSQ_ANSWER);
	ck_assert_msg(strncmp(r.summary, "service | 1 endpoint-00.example.net"
	    ":443 alpn=h2,http/1.1 | 2 endpoint-01", 70) == 0, "%s",
	    r.summary);
	/* 24 usable, 16 kept */
	ck_assert_ptr_nonnull(strstr(r.summary, "| skip limit 17 "));
	cares_end(&c);
}
END_TEST

/* A server that never answers: TIMEOUT after the tries; a cancelled query
   never calls back, and freeing the resolver with one out leaks nothing
   (ASan, valgrind) and closes its socket (the fixture counts fds). */
START_TEST(test_cares_no_answer)
{
	struct cares_fx c;
	struct qresult r, r2;
	struct he_dnsq *q;
	int64_t ms;

	cares_begin(&c, 200);
	ck_assert_int_eq(he_lab_dns_set(c.lab, "silent.test", 65,
	    HE_LAB_DROP, 0), 0);
	ms = answered(&c, "silent.test", &r, 3000);
	ck_assert_int_eq(r.status, HE_DNSQ_TIMEOUT);
	ck_assert_int_ge(ms, 190);
	ck_assert_int_lt(ms, HE_TEST_UP(1000));
	ck_assert_int_eq(he_dnsq_pending_(c.r), 0);

	q = ask(&c, "silent.test", &r);
	he_dnsq_cancel_(q);
	he_test_run_for(c.fx.base, 400);
	ck_assert_int_eq(r.calls, 0);
	ck_assert_int_eq(he_dnsq_pending_(c.r), 0);

	ask(&c, "silent.test", &r);
	ask(&c, "silent.test", &r2);
	ck_assert_int_eq(he_dnsq_pending_(c.r), 2);
	he_test_run_for(c.fx.base, 20);
	/* cares_end frees the resolver with both out */
	cares_end(&c);
	ck_assert_int_eq(r.calls, 0);
	ck_assert_int_eq(r2.calls, 0);
}
END_TEST

/* The servers are the evdns_base's, read when a query starts: a change of
   the evdns_base's servers between queries is followed. */
START_TEST(test_cares_servers_from_evdns)
{
	struct cares_fx c;
	struct he_lab_dns *lab2;
	struct qresult r;

	cares_begin(&c, 1000);
	lab2 = he_lab_dns_new(c.fx.base);
	ck_assert_ptr_nonnull(lab2);
	ck_assert_int_eq(lab_add_https(c.lab, "which.test", "1 one.test"), 0);
	ck_assert_int_eq(lab_add_https(lab2, "which.test", "1 two.test"), 0);
	ask(&c, "which.test", &r);
	he_test_run_until(c.fx.base, HE_TEST_UP(2000), &r.calls);
	ck_assert_str_eq(r.summary, "service | 1 one.test:443 alpn=http/1.1");

	ck_assert_int_eq(evdns_base_clear_nameservers_and_suspend(c.dns), 0);
	ck_assert_int_eq(evdns_base_nameserver_ip_add(c.dns,
	    he_lab_dns_address(lab2)), 0);
	ck_assert_int_eq(evdns_base_resume(c.dns), 0);
	ask(&c, "which.test", &r);
	he_test_run_until(c.fx.base, HE_TEST_UP(2000), &r.calls);
	ck_assert_str_eq(r.summary, "service | 1 two.test:443 alpn=http/1.1");
	ck_assert_int_eq(he_lab_dns_queries(lab2, "which.test", 65), 1);

	/* an evdns_base without servers: FAILED, on a later turn */
	ck_assert_int_eq(evdns_base_clear_nameservers_and_suspend(c.dns), 0);
	answered(&c, "which.test", &r, 2000);
	ck_assert_int_eq(r.inside_start, 0);
	ck_assert_int_eq(r.status, HE_DNSQ_FAILED);
	ck_assert_int_eq(evdns_base_resume(c.dns), 0);
	he_lab_dns_free(lab2);
	cares_end(&c);
}
END_TEST

/* A CNAME inside the answer, and the AliasMode chain through c-ares: the
   alias is asked without the _PORT._https prefix. */
START_TEST(test_cares_aliases)
{
	struct cares_fx c;
	struct qresult r;
	struct lookup_result lr;
	struct he_svcb_prefs prefs = { .port = 8443 };

	cares_begin(&c, 1000);
	ck_assert_int_eq(he_lab_dns_add_cname(c.lab, "www.test", "cdn.test"),
	    0);
	ck_assert_int_eq(lab_add_https(c.lab, "cdn.test", "1 . alpn=h2"), 0);
	ask(&c, "www.test", &r);
	he_test_run_until(c.fx.base, HE_TEST_UP(2000), &r.calls);
	ck_assert_str_eq(r.summary, "service | 1 cdn.test:443 "
	    "alpn=h2,http/1.1");

	ck_assert_int_eq(lab_add_https(c.lab, "_8443._https.apex.test",
	    "0 svc.test"), 0);
	ck_assert_int_eq(lab_add_https(c.lab, "svc.test", "2 . port=9443"), 0);
	memset(&lr, 0, sizeof(lr));
	ck_assert_ptr_nonnull(he_svcb_lookup_(&he_dnsq_cares_ops_, c.r,
	    "apex.test", 8443, HE_DNS_TYPE_HTTPS, &prefs, lookup_cb, &lr));
	he_test_run_until(c.fx.base, HE_TEST_UP(2000), &lr.calls);
	ck_assert_int_eq(lr.calls, 1);
	ck_assert_str_eq(lr.summary, "service | 2 svc.test:9443 "
	    "alpn=http/1.1");
	ck_assert_int_eq(lr.naliases, 1);
	ck_assert_int_eq(he_lab_dns_queries(c.lab, "svc.test", 65), 1);
	ck_assert_int_eq(he_lab_dns_queries(c.lab, "_8443._https.svc.test",
	    65), 0);
	cares_end(&c);
}
END_TEST

/* Freeing the resolver inside a query's callback, with another answer
   filed for the same turn and a third query out: no more calls. */
START_TEST(test_cares_free_in_callback)
{
	struct cares_fx c;
	struct qresult r1, r2, r3;

	cares_begin(&c, 1000);
	ck_assert_int_eq(lab_add_https(c.lab, "a.test", "1 ."), 0);
	ck_assert_int_eq(he_lab_dns_set(c.lab, "c.test", 65, HE_LAB_DROP, 0),
	    0);
	ask(&c, "a.test", &r1);
	ask(&c, "a.test", &r2);
	ask(&c, "c.test", &r3);
	free_in_cb = c.r;
	he_test_run_for(c.fx.base, 300);
	ck_assert_int_eq(r1.calls + r2.calls, 1);
	ck_assert_int_eq(r3.calls, 0);
	ck_assert_ptr_null(free_in_cb);
	c.r = NULL;
	cares_end(&c);
}
END_TEST

/* The resolver that reads /etc/resolv.conf is made and freed (no query:
   the machine's servers are not ours to ask). */
START_TEST(test_cares_resolv_conf)
{
	struct he_test_fx fx;
	struct he_dnsq_resolver *r;

	he_test_fx_begin(&fx);
	r = he_dnsq_resolver_new_(fx.base, NULL, 1000, 2);
	ck_assert_ptr_nonnull(r);
	he_dnsq_resolver_free_(r);
	errno = 0;
	ck_assert_ptr_null(he_dnsq_resolver_new_(fx.base, NULL, 0, 1));
	ck_assert_int_eq(errno, EINVAL);
	he_test_fx_end(&fx);
}
END_TEST

#endif

#ifndef HAVE_CARES
/* Without c-ares there is no query on the loop, and it says so. */
START_TEST(test_no_cares)
{
	struct event_base *base = event_base_new();

	ck_assert(!he_dnsq_available_());
	errno = 0;
	ck_assert_ptr_null(he_dnsq_resolver_new_(base, NULL, 1000, 1));
	ck_assert_int_eq(errno, ENOSYS);
	ck_assert_ptr_null(he_dnsq_cares_ops_.start(NULL, "example.com", 65,
	    NULL, NULL));
	event_base_free(base);
}
END_TEST
#endif

/* ---- the blocking query (res_nquery) against the lab ------------------- */

struct blocking_job {
	const char *name;
	struct he_dnsq_sys_opts opts;
	enum he_dnsq_status status;
	unsigned char *msg;
	size_t len;
	int done;
	int64_t ms;
};

static void *
blocking_thread(void *arg)
{
	struct blocking_job *j = arg;
	int64_t t0 = he_test_now_ms();

	j->status = he_dnsq_blocking_(j->name, 65, &j->opts, &j->msg, &j->len);
	j->ms = he_test_now_ms() - t0;
	__atomic_store_n(&j->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* Run one blocking query on a thread while the loop serves the lab. */
static void
run_blocking(struct event_base *base, struct he_lab_dns *lab,
    struct blocking_job *j, const char *name)
{
	pthread_t t;
	int port;
	int64_t end = he_test_now_ms() + HE_TEST_UP(6000);

	memset(j, 0, sizeof(*j));
	j->name = name;
	port = atoi(strchr(he_lab_dns_address(lab), ':') + 1);
	j->opts.nservers = 1;
	j->opts.servers[0].sin_family = AF_INET;
	j->opts.servers[0].sin_port = htons((uint16_t)port);
	j->opts.servers[0].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	j->opts.timeout_s = 1;
	j->opts.tries = 1;
	ck_assert_int_eq(pthread_create(&t, NULL, blocking_thread, j), 0);
	while (!__atomic_load_n(&j->done, __ATOMIC_SEQ_CST) &&
	    he_test_now_ms() < end)
		he_test_run_for(base, 10);
	pthread_join(t, NULL);
}

START_TEST(test_blocking)
{
	struct he_test_fx fx;
	struct he_lab_dns *lab;
	struct blocking_job j;
	struct he_svcb_answer a;
	int i;
	char rec[128];

	he_test_fx_begin(&fx);
	lab = he_lab_dns_new(fx.base);
	ck_assert_ptr_nonnull(lab);
	memset(&a, 0, sizeof(a));
	ck_assert_int_eq(lab_add_https(lab, "sys.test", "1 . alpn=h2 "
	    "port=8443 ipv4hint=192.0.2.7"), 0);
	run_blocking(fx.base, lab, &j, "sys.test");
	ck_assert_int_eq(j.status, HE_DNSQ_ANSWER);
	ck_assert_int_eq(he_svcb_parse_(j.msg, j.len, "sys.test", 65,
	    &(struct he_svcb_prefs){ .port = 443 }, &a), 0);
	ck_assert_str_eq(summary(&a), "service | 1 sys.test:8443 "
	    "alpn=h2,http/1.1 v4=192.0.2.7");
	he_svcb_answer_clear_(&a);
	free(j.msg);

	/* NODATA: the name has an A record only; NXDOMAIN: no name */
	ck_assert_int_eq(he_lab_dns_add(lab, "v4only.test", EVDNS_TYPE_A,
	    "192.0.2.1"), 0);
	run_blocking(fx.base, lab, &j, "v4only.test");
	ck_assert_int_eq(j.status, HE_DNSQ_NODATA);
	ck_assert_ptr_null(j.msg);
	run_blocking(fx.base, lab, &j, "nowhere.test");
	ck_assert_int_eq(j.status, HE_DNSQ_NODATA);

	/* truncated over UDP, asked again over TCP by glibc */
	for (i = 0; i < 24; i++) {
		snprintf(rec, sizeof(rec), "%d endpoint-%02d.example.net",
		    i + 1, i);
		ck_assert_int_eq(lab_add_https(lab, "big.test", rec), 0);
	}
	ck_assert_int_eq(he_lab_dns_tcp(lab), 0);
	run_blocking(fx.base, lab, &j, "big.test");
	ck_assert_int_eq(j.status, HE_DNSQ_ANSWER);
	ck_assert_int_eq(he_svcb_parse_(j.msg, j.len, "big.test", 65,
	    &(struct he_svcb_prefs){ .port = 443 }, &a), 0);
	ck_assert_int_eq(a.nendpoints, HE_SVCB_MAX_ENDPOINTS);
	ck_assert_int_eq(a.nskipped, 24 - HE_SVCB_MAX_ENDPOINTS);
	he_svcb_answer_clear_(&a);
	free(j.msg);

	/* a server that never answers: TIMEOUT after the one-second try */
	ck_assert_int_eq(he_lab_dns_set(lab, "silent.test", 65, HE_LAB_DROP,
	    0), 0);
	run_blocking(fx.base, lab, &j, "silent.test");
	ck_assert_int_eq(j.status, HE_DNSQ_TIMEOUT);
	ck_assert_int_ge(j.ms, 900);
	ck_assert_int_lt(j.ms, HE_TEST_UP(3000));
	he_lab_dns_free(lab);
	he_test_fx_end(&fx);
}
END_TEST

Suite *
he_test_suite(void)
{
	const struct he_test_def tests[] = {
		HE_TCASE("parser", 30),
		HE_LOOP(test_rows, HE_TEST_N(rows)),
		HE_TEST(test_every_cut),
		HE_TEST(test_message_framing),
		HE_TEST(test_thousands_of_records),
		HE_TEST(test_equal_priorities_shuffled),
		HE_TEST(test_hints_cap_and_reasons),
		HE_TEST(test_qname_and_alpn_list),
		HE_TCASE("chain", 30),
		HE_TEST(test_chain),
		HE_TEST(test_lookup_chain),
#ifdef HAVE_CARES
		HE_TCASE("cares", 60),
		HE_TEST(test_cares_hints_only),
		HE_TEST(test_cares_late_answer),
		HE_TEST(test_cares_source_ports),
		HE_TEST(test_cares_truncation),
		HE_TEST(test_cares_no_answer),
		HE_TEST(test_cares_servers_from_evdns),
		HE_TEST(test_cares_aliases),
		HE_TEST(test_cares_free_in_callback),
		HE_TEST(test_cares_resolv_conf),
#else
		HE_TCASE("no-cares", 30),
		HE_TEST(test_no_cares),
#endif
		HE_TCASE("blocking", 60),
		HE_TEST(test_blocking),
	};

	return he_test_suite_of("svcb", tests, HE_TEST_N(tests));
}
