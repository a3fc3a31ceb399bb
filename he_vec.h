/*
 * The library's one growable array: a plain C array that may start in a
 * home of its own inside its owner (most races have one attempt, one
 * socket: they never allocate for it) and moves to the heap when it
 * grows.
 */
#ifndef EVHAPPY_HE_VEC_H_INCLUDED_
#define EVHAPPY_HE_VEC_H_INCLUDED_

#include <stddef.h>

/** Room for n elements of size bytes: arr (the first `have` elements in
    use) moved or grown to the heap, leaving home (arr's room inside its
    owner, or NULL) untouched.  The new array, or NULL when memory ran out
    (arr is then as it was). */
void *he_vec_grow_(void *arr, const void *home, size_t have, size_t n,
    size_t size);

/** The capacity to grow to so that `need` elements fit: at least `first`,
    doubling from `cap`.  0 when that would overflow. */
size_t he_vec_cap_(size_t cap, size_t need, size_t first);

#endif
