/*
 * Address lists inside the library (he_addrinfo.c): entries, copies,
 * sorting hooks and small address predicates.  The public list functions
 * are declared in he_event.h.
 *
 * Every entry the library makes, public lists included, is one allocation
 * (struct he_ai_entry first, then the address, then the canonical name),
 * freed by evhappy_addrinfo_free().  Beside the evutil_addrinfo it carries
 * struct he_ai_meta: what the race knows of that address beyond the
 * address itself (its history).  The race core takes only lists of such
 * entries (made here, or he_ai_room_fill_()'d), never a caller's own.
 */
#ifndef EVHAPPY_HE_ADDRINFO_H_INCLUDED_
#define EVHAPPY_HE_ADDRINFO_H_INCLUDED_

#include "he_event.h"
#include "he_facts.h"

#include <stdint.h>
#include <netinet/in.h>

/** An entry's group: the HTTPS record (service endpoint) it came from, in
    the order the endpoints go (1, 2, ...), or HE_GROUP_HOST (0) for the
    host's own addresses, which go after every endpoint's. */
#define HE_GROUP_HOST 0

/** meta.flags */
#define HE_AI_HINT 0x01		/* an HTTPS record's address hint, not yet
				   confirmed by its target's A/AAAA answer */
#define HE_AI_SYNTH 0x02	/* a NAT64 address: made by
				   he_addrinfo_new_synth_, it keeps the IPv4
				   address it stands for beside its own */

/** What an entry carries beside its address. */
struct he_ai_meta {
	struct he_hist_info facts;	/* history, as of the entry's joining
					   a race (zero: nothing known) */
	uint16_t group;			/* HE_GROUP_HOST or an endpoint's */
	uint8_t flags;			/* HE_AI_* */
	uint8_t reserved;
};

/** An entry: the list element and its meta. */
struct he_ai_entry {
	struct evutil_addrinfo ai;	/* first: an entry is a list element */
	struct he_ai_meta meta;
};

/** An entry with room for one IPv4 or IPv6 address, for an owner that
    keeps one inside itself (the race keeps its first address so). */
struct he_ai_room {
	struct he_ai_entry e;
	uint64_t sa[4];			/* a sockaddr_in6 fits */
};

/** The meta of an entry made here or in a room. */
#define HE_AI_META(ai) (&((struct he_ai_entry *)(void *)(ai))->meta)

/** Who an entry is as a server: its address, or for a NAT64 address the
    IPv4 address it stands for (one server, one identity: duplicates,
    history and the report go by it). */
static inline const struct sockaddr *
he_ai_identity_(const struct evutil_addrinfo *ai)
{
	return HE_AI_META(ai)->flags & HE_AI_SYNTH ?
	    (const struct sockaddr *)((const char *)ai->ai_addr +
	    sizeof(struct sockaddr_in6)) : ai->ai_addr;
}

/** Make in *out one entry for a whole AF_INET/AF_INET6 address (len may be
    a sockaddr_storage's), SOCK_STREAM/IPPROTO_TCP, meta zeroed.  0, or
    EINVAL (NULL, short or foreign address) or ENOMEM. */
int he_addrinfo_new_(const struct sockaddr *sa, ev_socklen_t len,
    struct evutil_addrinfo **out);

/** Make in *out one NAT64 entry: the IPv6 address sin6, standing for the
    IPv4 address sin (HE_AI_SYNTH; he_ai_identity_ gives sin).  0 or
    ENOMEM. */
int he_addrinfo_new_synth_(const struct sockaddr_in6 *sin6,
    const struct sockaddr_in *sin, struct evutil_addrinfo **out);

/** Fill room, which must be all zero (unused), with the entry
    he_addrinfo_copy_stream_(src, AF_UNSPEC) would make of src's first
    entry; NULL when src is not such an entry.  Nothing frees a room: lists
    holding one are freed by their owner, which skips it. */
struct evutil_addrinfo *he_ai_room_fill_(struct he_ai_room *room,
    const struct evutil_addrinfo *src);

/** In *out an O(n) copy of the entries of list that can race: AF_INET/
    AF_INET6 with an address, socktype SOCK_STREAM or 0, and of `family`
    unless that is AF_UNSPEC (NULL when no entry qualifies).  0, or ENOMEM
    (EINVAL for an entry with a short address), nothing leaked. */
int he_addrinfo_copy_stream_(const struct evutil_addrinfo *list, int family,
    struct evutil_addrinfo **out);

/** How many entries list has (0 for NULL). */
size_t he_addrinfo_len_(const struct evutil_addrinfo *list);

/** Append list b to list a; returns the head.  Walks a: O(len a). */
struct evutil_addrinfo *he_addrinfo_concat_(struct evutil_addrinfo *a,
    struct evutil_addrinfo *b);

/** Set the port of every entry (a NAT64 entry's identity too). */
void he_addrinfo_set_port_(struct evutil_addrinfo *list, int port);

/** In *out a copy of the one entry src (made here), meta and NAT64
    identity included, ai_next NULL.  0, or ENOMEM. */
int he_addrinfo_dup_entry_(const struct evutil_addrinfo *src,
    struct evutil_addrinfo **out);

/** In *out a copy of every entry of list (made here), meta and NAT64
    identity included.  0, or ENOMEM (nothing leaked). */
int he_addrinfo_dup_(const struct evutil_addrinfo *list,
    struct evutil_addrinfo **out);

/** Put every entry of list in group (its meta's). */
void he_addrinfo_set_group_(struct evutil_addrinfo *list, unsigned group);

/** An entry's port (host order), 0 for another family. */
int he_sockaddr_port_(const struct sockaddr *sa);

/** Whether two addresses are the same (family, bytes, port, IPv6 scope). */
int he_sockaddr_equal_(const struct sockaddr *a, const struct sockaddr *b);

/** Whether sa may be connected to: 1 for an IPv4 or IPv6 address that is
    not unspecified (0.0.0.0, ::), multicast (224.0.0.0/4, ff00::/8) or
    broadcast (255.255.255.255), nor one of those IPv4 ones written as
    ::ffff:a.b.c.d; 0 otherwise, also for NULL or another family.  sa must
    hold a whole address of its family. */
int he_addr_usable_(const struct sockaddr *sa);

/** How RFC 6724 sorting learns the source address the kernel would use for
    a destination: 0 and *src filled, or an errno (ENETUNREACH...) when
    there is none. */
typedef int (*he_source_fn)(const struct sockaddr *dst, ev_socklen_t dstlen,
    struct sockaddr_storage *src, void *arg);

/** evhappy_addrinfo_sort with the source lookup supplied, so the RFC 6724
    examples can be tested with the sources they name: 0, or EINVAL (NULL
    list or lookup) or ENOMEM (the list is then as it was). */
int he_addrinfo_sort_with_(struct evutil_addrinfo **list, he_source_fn source,
    void *arg);

/** As he_addrinfo_sort_with_, with probe's answers cached per destination
    prefix (IPv6 /64, IPv4 /24) for the one call, and at most a fixed
    budget of probes: what evhappy_addrinfo_sort does with the UDP probe.
    Returns as he_addrinfo_sort_with_. */
#define HE_PROBE_BUDGET 256	/* probes per sort, however big the list */
int he_addrinfo_sort_cached_(struct evutil_addrinfo **list, he_source_fn probe,
    void *arg);

/** The source lookup evhappy_addrinfo_sort uses: UDP connect + getsockname. */
int he_source_by_udp_connect_(const struct sockaddr *dst, ev_socklen_t dstlen,
    struct sockaddr_storage *src, void *arg);

/** he_source_by_udp_connect_, its answers kept a second per prefix for
    the whole process (races ask the same prefixes again and again; a
    probe is four system calls).  Thread-safe. */
int he_source_remembered_(const struct sockaddr *dst, ev_socklen_t dstlen,
    struct sockaddr_storage *src, void *arg);

#endif
