/*
 * A fixed 64-bit hash for values that are stored or compared across
 * processes (the network key of he_netid.h, the history file's checksum in
 * he_histfile.h): FNV-1a, whose every step is a bijection of the state for
 * a given byte, so that any one changed byte changes the result.  Not for
 * anything an attacker chooses to collide: neither use needs that (the
 * history file is the user's own, and a key collision only shares
 * history between two networks).  The value must never change: files
 * keep it.
 */
#ifndef EVHAPPY_HE_HASH_H_INCLUDED_
#define EVHAPPY_HE_HASH_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>

#define HE_HASH_INIT UINT64_C(0xcbf29ce484222325)

/** Continue the hash h over n bytes at p; start with HE_HASH_INIT. */
static inline uint64_t
he_hash_(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = (const unsigned char *)p;

	while (n--) {
		h ^= *b++;
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

#endif
