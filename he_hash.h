/*
 * The library's one hash table: intrusive, chained, keyed by a 64-bit hash
 * the caller computes; the caller compares keys itself while it walks the
 * nodes of one hash.  Nothing is allocated per item (a node lives inside
 * the item), so an insert can only fail when the table has no buckets at
 * all; a failed growth only makes chains longer.
 *
 * Used for the racing bufferevents (he_bev.c), the history store
 * (he_history.c), and the address lists' family and source tables
 * (he_addrinfo.c).  Not thread-safe: its owner locks.
 */
#ifndef EVHAPPY_HE_HASH_H_INCLUDED_
#define EVHAPPY_HE_HASH_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>

/** The containing object of a member pointer. */
#define HE_CONTAINER(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/** A node, inside the item it indexes. */
struct he_hnode {
	struct he_hnode *next;
	uint64_t hash;
};

/** A table; all zero is an empty table without buckets. */
struct he_htab {
	struct he_hnode **bucket;
	size_t mask;		/* buckets - 1 */
	size_t count;
};

/** Buckets for at least n items (a power of two, at least n); 0, or ENOMEM
    (the table is as it was). */
int he_htab_reserve_(struct he_htab *t, size_t n);

/** Free the buckets (not the items); the table is empty again. */
void he_htab_free_(struct he_htab *t);

/** Forget every item, keeping the buckets. */
void he_htab_clear_(struct he_htab *t);

/** Index n under hash, growing the table when it holds as many items as
    buckets.  0, or ENOMEM when it has no bucket and cannot get one. */
int he_htab_add_(struct he_htab *t, struct he_hnode *n, uint64_t hash);

/** Unindex n, which must be in t. */
void he_htab_del_(struct he_htab *t, struct he_hnode *n);

/** The first node of n's chain (n included) with that hash, or NULL. */
static inline struct he_hnode *
he_htab_same_(struct he_hnode *n, uint64_t hash)
{
	while (n && n->hash != hash)
		n = n->next;
	return n;
}

/** The first node indexed under hash, or NULL; he_htab_next_() gives the
    others of the same hash.  (Inline: lookups are on every race's path.) */
static inline struct he_hnode *
he_htab_first_(const struct he_htab *t, uint64_t hash)
{
	return t->bucket ? he_htab_same_(t->bucket[hash & t->mask], hash) :
	    NULL;
}

static inline struct he_hnode *
he_htab_next_(const struct he_hnode *n)
{
	return he_htab_same_(n->next, n->hash);
}

/** A hash of len bytes, a word at a time. */
uint64_t he_hash_bytes_(const void *p, size_t len, uint64_t seed);

/** A hash of one word (a pointer, a family): one multiply spreads its bits
    up, and the fold brings the high half down to the low bits that pick a
    bucket.  Inline: it is on every race's path. */
static inline uint64_t
he_hash_word_(uint64_t w)
{
	uint64_t h = w * UINT64_C(0x9e3779b97f4a7c15);

	return h ^ (h >> 32);
}

/*
 * A fixed hash for values stored or compared across processes (the network
 * key of he_netid.h, the history file's checksum in he_histfile.h):
 * FNV-1a, 64 bits, whose every step is a bijection of the state for a
 * given byte, so any one changed byte changes the result.  Not for
 * anything an attacker chooses to collide (the file is the user's own; a
 * key collision only shares history between two networks), and not for
 * the table above, which wants speed.  The value must never change: files
 * keep it.
 */
#define HE_FNV_INIT UINT64_C(0xcbf29ce484222325)

/** Continue the fixed hash h over n bytes at p; start with HE_FNV_INIT. */
static inline uint64_t
he_fnv_(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = (const unsigned char *)p;

	while (n--) {
		h ^= *b++;
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

#endif
