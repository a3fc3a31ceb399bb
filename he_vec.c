/*
 * The library's one growable array (he_vec.h).
 */
#include "he_internal.h"
#include "he_vec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void *
he_vec_grow_(void *arr, const void *home, size_t have, size_t n,
    size_t size)
{
	void *p;

	if (!n || n > SIZE_MAX / size)
		return NULL;
	if (arr && arr != home)
		return realloc(arr, n * size);
	if ((p = malloc(n * size)) != NULL && have)
		memcpy(p, arr, have * size);
	return p;
}

size_t
he_vec_cap_(size_t cap, size_t need, size_t first)
{
	size_t n = cap < first ? first : cap;

	while (n < need) {
		if (n > SIZE_MAX / 2)
			return 0;
		n *= 2;
	}
	return n;
}
