/* The fuzz targets' input: bytes taken one at a time, 0 once used up. */
#ifndef EVHAPPY_FUZZ_INPUT_H_INCLUDED_
#define EVHAPPY_FUZZ_INPUT_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>

struct input {
	const uint8_t *p;
	size_t left;
};

static inline unsigned
take(struct input *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

#endif
