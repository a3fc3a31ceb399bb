/*
 * The network's identity: a 64-bit key for "the network this host is on
 * now", so that every history entry belongs to one network (the Happy
 * Eyeballs v3 draft: history must not be shared across networks), and a
 * watch that says when it may have changed.  Linux only (rtnetlink);
 * elsewhere every call fails with ENOSYS.
 *
 * What goes into the key (he_netid_read_ gathers it, he_netid_key_ hashes
 * it):
 * - per family, the default routes of the main table that the kernel
 *   would use: unicast, not dead nor link-down, of the lowest metric (all
 *   of them when several share it: multipath, ECMP); of each, the gateway
 *   (none for a point-to-point default) and the output interface's name;
 * - on the interfaces of those routes (of either family), the prefixes of
 *   their global addresses: IPv4 the subnet (address and prefix length,
 *   masked), IPv6 the /64 (or the shorter prefix the address has), so that
 *   a new temporary (privacy) address, a DHCPv6 /128 or a new interface
 *   identifier in the same /64 is no network change;
 * - HE_NETID_VERSION, so that a new rule makes new keys rather than
 *   mixing entries of the old rule's networks.
 * Not in it: interface indexes (they change when a device is plugged in
 * again; names do not), link-layer addresses, metrics, lifetimes, flags,
 * link-local and host-scope addresses, other routing tables and rules.
 * With no default route at all the key is he_netid_key_() of an empty
 * identity: one network of its own.  The key is a fixed hash (he_hash.h)
 * of a canonical (sorted) form, so it is the same in every process and
 * across restarts while the network is.
 *
 * What it cannot tell apart: two networks with the same private IPv4
 * subnet, the same gateway address and the same interface name and no
 * global IPv6 prefix (two home routers with 192.168.1.1 on wlan0).  Their
 * history is shared; entries still expire after 10 minutes.
 *
 * The cost: one netlink socket, a dump of the routes (both families), a
 * dump of the addresses (both families) and one link request per
 * default-route interface; tens of microseconds on a host with a few
 * interfaces (measured: doc/history-file.md), proportional to the size of
 * the routing table.  he_netid_read_ keeps no state and may run in
 * several threads at once.
 *
 * The watch: one netlink socket subscribed to the route, address and link
 * groups of both families, non-blocking.  It says "something that may
 * change the key happened since you last asked"; it never says what the
 * key now is (recompute it: the watch also fires when an address's
 * lifetimes are renewed, every router advertisement).  Make the watch
 * before reading the key, so that no change falls between the two.
 */
#ifndef EVHAPPY_HE_NETID_H_INCLUDED_
#define EVHAPPY_HE_NETID_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>

struct event_base;

/** The rule's version, hashed into every key. */
#define HE_NETID_VERSION 1
/** Default routes kept per family (the first in canonical order). */
#define HE_NETID_MAX_ROUTES 4
/** Prefixes kept per family (the first in canonical order). */
#define HE_NETID_MAX_PREFIXES 8
/** An interface name's room, IFNAMSIZ. */
#define HE_NETID_DEV_LEN 16

/** One default route: its gateway (IPv4 in the first 4 bytes, all zero
    when it has none) and its interface's name ('\0' padded). */
struct he_netid_route {
	unsigned char gw[16];
	char dev[HE_NETID_DEV_LEN];
};

/** One prefix: the address masked to plen bits (the rest zero). */
struct he_netid_prefix {
	unsigned char addr[16];
	unsigned char plen;
};

/** What one family contributes. */
struct he_netid_family {
	int nroutes, nprefixes;
	struct he_netid_route route[HE_NETID_MAX_ROUTES];
	struct he_netid_prefix prefix[HE_NETID_MAX_PREFIXES];
};

/** A network's identity: the inputs, in canonical order, and their key. */
struct he_netid {
	uint64_t key;
	struct he_netid_family v4, v6;
};

/** Read the network the host is on now from the kernel.
    @param out filled in, its key computed (he_netid_key_)
    @return 0, or -1 with errno (ENOSYS off Linux; socket or netlink errors;
      EIO when the kernel's answer cannot be read) */
int he_netid_read_(struct he_netid *out);

/** Put id's routes and prefixes in canonical order (sorted, duplicates
    removed) and compute its key, for identities built by hand (tests).
    @return the key, also stored in id->key */
uint64_t he_netid_key_(struct he_netid *id);

/** The key of the network without any default route. */
uint64_t he_netid_none_key_(void);

/** Describe id in one line, e.g. "v4 via 192.0.2.1 dev eth0 192.0.2.0/24;
    v6 via fe80::1 dev eth0 2001:db8:1::/64", or "no default route", for
    the trace and `evhappy --history`.
    @return the length it needed (snprintf's rule); buf is always ended */
int he_netid_format_(const struct he_netid *id, char *buf, size_t len);

/* ---- the change watch ---------------------------------------------------- */

struct he_netwatch;

/** Make a watch.  Thread-safe calls; a watch belongs to the process that
    made it (see he_netwatch_changed_ for fork).
    @return the watch, or NULL with errno */
struct he_netwatch *he_netwatch_new_(void);

/** Free the watch (detaching it first); NULL is ignored. */
void he_netwatch_free_(struct he_netwatch *w);

/** Whether anything that may change the key happened since the last call
    (or since the watch was made), reading what is queued without
    blocking.  A lost notification (the socket's queue overflowed) counts
    as a change.  In a child of the process that made the watch, it
    answers 1 and, unless the watch is attached to an event_base, opens a
    socket of its own (the parent's is left to the parent).
    @return 1 changed, 0 not, -1 with errno when the socket failed (treat as
      changed) */
int he_netwatch_changed_(struct he_netwatch *w);

/** The socket, readable when a notification is queued (for a caller's own
    poll); read it only through he_netwatch_changed_. */
int he_netwatch_fd_(const struct he_netwatch *w);

/** Called on the event_base's thread when a notification arrived; call
    he_netwatch_changed_ from it (or later) to consume the news. */
typedef void (*he_netwatch_cb)(struct he_netwatch *w, void *arg);

/** Watch on base: cb runs when a notification arrives (what is queued is
    read first, so the event never spins).  One base at a time.
    @return 0, or -1 with errno (EBUSY when already attached, ENOMEM) */
int he_netwatch_attach_(struct he_netwatch *w, struct event_base *base,
    he_netwatch_cb cb, void *arg);

/** Stop watching on the base; nothing pending is lost.  Call it on the
    base's thread, or when the base is not running. */
void he_netwatch_detach_(struct he_netwatch *w);

#endif
