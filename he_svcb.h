/*
 * HTTPS and SVCB records (RFC 9460) as the Happy Eyeballs v3 draft uses
 * them: the name to ask, a bounded parser of the DNS answer, the client's
 * rules (AliasMode, priority, ALPN, port, mandatory keys), and the chain of
 * AliasMode queries.  Nothing here does I/O or touches an event loop: the
 * functions take bytes and give back plain structs, so the race, the tests
 * and the fuzzer call them alike.
 *
 * Hostile answers: every outcome is defined (see enum he_svcb_outcome), the
 * time is linear in the message's size, and the memory is bounded by it
 * (at most HE_SVCB_MAX_ENDPOINTS endpoints and HE_SVCB_MAX_SKIPS described
 * skips are kept, whatever the number of records).
 *
 * Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).
 */
#ifndef EVHAPPY_HE_SVCB_H_INCLUDED_
#define EVHAPPY_HE_SVCB_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#define HE_DNS_TYPE_SVCB 64
#define HE_DNS_TYPE_HTTPS 65

/** SvcParamKeys this client knows (RFC 9460 section 14.3.2). */
enum he_svcb_key {
	HE_SVCB_KEY_MANDATORY = 0,
	HE_SVCB_KEY_ALPN = 1,
	HE_SVCB_KEY_NO_DEFAULT_ALPN = 2,
	HE_SVCB_KEY_PORT = 3,
	HE_SVCB_KEY_IPV4HINT = 4,
	HE_SVCB_KEY_ECH = 5,
	HE_SVCB_KEY_IPV6HINT = 6
};

/** Usable endpoints kept from one answer: the best by priority. */
#define HE_SVCB_MAX_ENDPOINTS 16
/** Skipped records described one by one; the rest are only counted. */
#define HE_SVCB_MAX_SKIPS 16
/** CNAME records followed inside one answer. */
#define HE_SVCB_MAX_CNAMES 16
/** AliasMode records followed, i.e. queries after the first. */
#define HE_SVCB_MAX_ALIASES 8
/** Address hints kept per family and endpoint. */
#define HE_SVCB_MAX_HINTS 16
/** A host name in text, with its terminator: 253 characters at most. */
#define HE_SVCB_HOST_MAX 254

/** What one answer says, for the race. */
enum he_svcb_outcome {
	/** endpoints[] holds at least one usable endpoint */
	HE_SVCB_SERVICE,
	/** AliasMode: ask `alias` next (he_svcb_chain_next_) */
	HE_SVCB_ALIAS,
	/** nothing to use: no record (NODATA, NXDOMAIN), AliasMode ".",
	    or every ServiceMode record was skipped (skips[] say why) */
	HE_SVCB_EMPTY,
	/** the message, or a record of the RRSet, is malformed: the whole
	    RRSet is rejected (RFC 9460 section 2.2); `error` says why */
	HE_SVCB_MALFORMED,
	/** the server failed (SERVFAIL, REFUSED, ...), the answer was
	    truncated, or no answer came; `error` says why */
	HE_SVCB_FAILED
};

/** Why a record was not made an endpoint. */
enum he_svcb_skip_why {
	/** its SVCB ALPN set shares no protocol with the caller's list (a
	    SVCB record without "alpn" is not filtered: its scheme's default
	    set is unknown here) */
	HE_SVCB_SKIP_ALPN,
	/** "mandatory" names a key this client does not use (key) */
	HE_SVCB_SKIP_MANDATORY,
	/** not self-consistent: "mandatory" names a key the record lacks
	    (key), or no-default-alpn without alpn (key 2) */
	HE_SVCB_SKIP_INCONSISTENT,
	/** "port" is 0 */
	HE_SVCB_SKIP_PORT,
	/** the target is no host name (bytes a lookup cannot carry) */
	HE_SVCB_SKIP_TARGET,
	/** a ServiceMode record in an RRSet with an AliasMode record,
	    which RFC 9460 section 2.4.1 says to ignore */
	HE_SVCB_SKIP_SERVICE_BESIDE_ALIAS,
	/** an AliasMode record not picked (one of several, picked at random) */
	HE_SVCB_SKIP_OTHER_ALIAS,
	/** usable, but HE_SVCB_MAX_ENDPOINTS better ones were kept */
	HE_SVCB_SKIP_LIMIT
};

/** One skipped record, as the report and the trace show it. */
struct he_svcb_skip {
	enum he_svcb_skip_why why;
	uint16_t priority;
	uint16_t key;		/* SKIP_MANDATORY, SKIP_INCONSISTENT */
	int port;		/* the port it would have used */
	char *target;		/* its effective target */
	unsigned char *alpn;	/* SKIP_ALPN: its SVCB ALPN set, wire form */
	size_t alpn_len;
};

/** One usable endpoint (a ServiceMode record that passed the rules). */
struct he_svcb_endpoint {
	uint16_t priority;	/* 1 .. 65535, lower first */
	int port;		/* "port", else the caller's */
	int port_set;		/* 1 when the record had "port" */
	char *target;		/* the effective target: the owner for "." */
	int target_is_owner;	/* the record's TargetName was "." */
	/* The SVCB ALPN set in wire form (each id prefixed by its length,
	   as SSL_set_alpn_protos() takes it): the record's "alpn" ids, and
	   "http/1.1" for an HTTPS record unless no-default-alpn. */
	unsigned char *alpn;
	size_t alpn_len;
	unsigned char *ech;	/* "ech": the ECHConfigList as received */
	size_t ech_len;
	int nv4, nv6;		/* hints, at most HE_SVCB_MAX_HINTS each */
	struct in_addr *v4;
	struct in6_addr *v6;
};

/** What the caller brings to the rules. */
struct he_svcb_prefs {
	/** the ALPN ids the caller speaks, wire form (he_svcb_alpn_parse_);
	    NULL: "http/1.1" alone */
	const unsigned char *alpn;
	size_t alpn_len;
	/** the authority's port: endpoints without "port" use it */
	int port;
	/** HE_SVCB_USES_ECH: the caller passes "ech" on to its TLS, so a
	    record that makes "ech" mandatory is usable */
	unsigned flags;
	/** shuffles equal priorities and picks among AliasMode records
	    (tests give their own); NULL: a generator seeded from
	    getrandom() once per parse */
	uint32_t (*random)(void *arg);
	void *random_arg;
};
#define HE_SVCB_USES_ECH 0x1u

/** A parsed answer.  Zero it (or he_svcb_answer_clear_) before use. */
struct he_svcb_answer {
	enum he_svcb_outcome outcome;
	int rcode;		/* the message's RCODE, or -1 when none came */
	const char *error;	/* MALFORMED, FAILED: why (static text) */
	char *owner;		/* where the records were found (after
				   CNAMEs): "." targets mean this name */
	char *alias;		/* ALIAS: the name to ask next */
	uint32_t ttl;		/* the smallest TTL of the records used */
	int nendpoints;		/* priority order, equal ones shuffled */
	struct he_svcb_endpoint endpoints[HE_SVCB_MAX_ENDPOINTS];
	int nskipped;		/* every skipped record */
	int nskips;		/* of them, described below */
	struct he_svcb_skip skips[HE_SVCB_MAX_SKIPS];
};

/**
  The name to ask for host:port's HTTPS record (RFC 9460 section 9.1): the
  host itself for port 443, "_PORT._https.HOST" otherwise.  A trailing dot
  of host is dropped.

  @return the name's length, or -1 with errno EINVAL (no host, a port out
    of 1 .. 65535, an IP literal) or ENAMETOOLONG (it would not fit len or
    a DNS name)
 */
int he_svcb_qname_(const char *host, int port, char *out, size_t len);

/**
  Turn a comma-separated ALPN list ("h2,http/1.1") into wire form.

  @return the wire length, or -1 with errno EINVAL (an empty list or id,
    an id over 255 bytes) or ENOSPC (it does not fit cap)
 */
int he_svcb_alpn_parse_(const char *list, unsigned char *out, size_t cap);

/** Whether wire-form ALPN list a holds the id (len bytes). */
int he_svcb_alpn_has_(const unsigned char *a, size_t alen,
    const unsigned char *id, size_t len);

/** Write a wire-form ALPN list as text, ids separated by commas (bytes a
    terminal should not see as \xNN); truncated to fit.  Returns out. */
char *he_svcb_alpn_text_(const unsigned char *a, size_t alen, char *out,
    size_t len);

/**
  Parse a DNS response to an HTTPS (65) or SVCB (64) query for qname and
  apply the client's rules: CNAMEs inside the message followed, AliasMode
  picked (one at random) or ServiceMode records checked (keys strictly
  increasing, lengths exact, values well-formed; an RRSet with one bad
  record is rejected), each usable one made an endpoint (port, ALPN set,
  ECH, hints) and the others described with their reason, the endpoints
  ordered by priority with equal priorities shuffled.

  @param msg the response (its question must be qname, qtype, class IN)
  @param len its length
  @param qname the name asked, as he_svcb_qname_ made it
  @param qtype HE_DNS_TYPE_HTTPS or HE_DNS_TYPE_SVCB
  @param prefs the caller's ALPN list, port and flags
  @param out cleared, then filled; free with he_svcb_answer_clear_
  @return 0 (out->outcome says what the answer was, whatever the bytes),
    or -1 with errno EINVAL (NULL argument) or ENOMEM (out is then empty)
 */
int he_svcb_parse_(const unsigned char *msg, size_t len, const char *qname,
    int qtype, const struct he_svcb_prefs *prefs, struct he_svcb_answer *out);

/** Set out to an answer that says `outcome` with `error` and nothing else
    (a failed or timed-out query: no message to parse). */
void he_svcb_answer_set_(struct he_svcb_answer *out,
    enum he_svcb_outcome outcome, const char *error);

/** Free what an answer holds and zero it.  NULL is ignored. */
void he_svcb_answer_clear_(struct he_svcb_answer *a);

/** Move src into dst (dst cleared first); src is left zeroed. */
void he_svcb_answer_move_(struct he_svcb_answer *dst,
    struct he_svcb_answer *src);

/** A skipped record's reason as one line of text, e.g. "h3 only: its ALPN
    set (h3) shares nothing with h2,http/1.1 (no QUIC here)".  Truncated
    to fit; returns out. */
char *he_svcb_skip_text_(const struct he_svcb_skip *s,
    const struct he_svcb_prefs *prefs, char *out, size_t len);

/** The text of an outcome: "service", "alias", "empty", "malformed",
    "failed". */
const char *he_svcb_outcome_name_(enum he_svcb_outcome o);

/* ---- the chain of AliasMode queries ---------------------------------- */

/** Where an HTTPS resolution is: the name to ask now, and the names asked
    before it (to see loops). */
struct he_svcb_chain {
	int qtype;
	int naliases;		/* AliasMode records followed */
	char qname[HE_SVCB_HOST_MAX];	/* ask this now */
	/* the names asked, as hashes of their letters folded to lower case
	   (a collision, at odds of 2^-64, could only end a chain early, as
	   a loop) */
	uint64_t seen[HE_SVCB_MAX_ALIASES + 1];
	int nseen;
	const char *error;	/* DONE after a loop or too long a chain */
};

/** What to do after an answer. */
enum he_svcb_step {
	HE_SVCB_ASK,	/* ask chain->qname (no _PORT._https prefix) */
	HE_SVCB_DONE	/* the answer is final: use it */
};

/**
  Begin with the first name to ask (he_svcb_qname_ makes it for HTTPS).

  @return 0, or -1 with errno EINVAL (NULL, or a name that is no host
    name) or ENAMETOOLONG
 */
int he_svcb_chain_init_(struct he_svcb_chain *c, const char *qname,
    int qtype);

/**
  Take an answer to chain->qname.  For ALIAS, the chain moves to the alias
  (HE_SVCB_ASK) unless that name was asked before (a loop) or
  HE_SVCB_MAX_ALIASES aliases were followed already: then the answer
  becomes EMPTY with the reason in its `error` and the chain is DONE.  Any
  other outcome is final.

  RFC 9460 section 3: once an alias was followed (chain->naliases > 0),
  the final name (chain->qname) is itself an endpoint, after the
  answer's, at the authority's port and without parameters.
 */
enum he_svcb_step he_svcb_chain_next_(struct he_svcb_chain *c,
    struct he_svcb_answer *a);

#endif
