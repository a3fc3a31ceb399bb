/*
 * The library's one hash table (he_hash.h).
 */
#include "he_internal.h"
#include "he_hash.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Finaliser of splitmix64: spreads every input bit over the word, so the
 * low bits that pick a bucket depend on all of the key. */
static uint64_t
mix(uint64_t h)
{
	h ^= h >> 30;
	h *= UINT64_C(0xbf58476d1ce4e5b9);
	h ^= h >> 27;
	h *= UINT64_C(0x94d049bb133111eb);
	return h ^ (h >> 31);
}

/* A word at a time, and one mix at the end: keys are a few words long (an
 * address and its port), and the hash must cost less than the lookup it
 * serves. */
uint64_t
he_hash_bytes_(const void *p, size_t len, uint64_t seed)
{
	const unsigned char *b = p;
	uint64_t h = seed ^ (uint64_t)len, w;

	for (; len >= 8; len -= 8, b += 8) {
		memcpy(&w, b, 8);
		h = (h ^ w) * UINT64_C(0x9e3779b97f4a7c15);
		h ^= h >> 29;
	}
	if (len) {
		w = 0;
		memcpy(&w, b, len);
		h = (h ^ w) * UINT64_C(0x9e3779b97f4a7c15);
	}
	return mix(h);
}

static void
rehash(struct he_htab *t, struct he_hnode **bucket, size_t mask)
{
	struct he_hnode *n, *next;
	size_t i;

	for (i = 0; t->bucket && i <= t->mask; i++) {
		for (n = t->bucket[i]; n; n = next) {
			next = n->next;
			n->next = bucket[n->hash & mask];
			bucket[n->hash & mask] = n;
		}
	}
	free(t->bucket);
	t->bucket = bucket;
	t->mask = mask;
}

int
he_htab_reserve_(struct he_htab *t, size_t n)
{
	struct he_hnode **bucket;
	size_t size = 8;

	while (size < n && size < SIZE_MAX / 2 / sizeof(*bucket))
		size *= 2;
	if (t->bucket && size <= t->mask + 1)
		return 0;
	if (!(bucket = calloc(size, sizeof(*bucket))))
		return ENOMEM;
	rehash(t, bucket, size - 1);
	return 0;
}

void
he_htab_free_(struct he_htab *t)
{
	free(t->bucket);
	t->bucket = NULL;
	t->mask = 0;
	t->count = 0;
}

void
he_htab_clear_(struct he_htab *t)
{
	size_t i;

	for (i = 0; t->bucket && i <= t->mask; i++)
		t->bucket[i] = NULL;
	t->count = 0;
}

int
he_htab_add_(struct he_htab *t, struct he_hnode *n, uint64_t hash)
{
	struct he_hnode **b;

	if ((!t->bucket || t->count > t->mask) &&
	    he_htab_reserve_(t, 2 * (t->count + 1)) != 0 && !t->bucket)
		return ENOMEM;
	b = &t->bucket[hash & t->mask];
	n->hash = hash;
	n->next = *b;
	*b = n;
	t->count++;
	return 0;
}

void
he_htab_del_(struct he_htab *t, struct he_hnode *n)
{
	struct he_hnode **pp = &t->bucket[n->hash & t->mask];

	for (; *pp; pp = &(*pp)->next) {
		if (*pp == n) {
			*pp = n->next;
			n->next = NULL;
			t->count--;
			return;
		}
	}
}
