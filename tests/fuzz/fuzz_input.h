/* What the fuzz targets share: their input, bytes taken one at a time (0
   once used up), and how an invariant fails. */
#ifndef EVHAPPY_FUZZ_INPUT_H_INCLUDED_
#define EVHAPPY_FUZZ_INPUT_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* When cond is false: the target's source file and the message (printf's
   arguments) on stderr, then abort(), so that libFuzzer keeps the input
   and the replay fails. */
#define CHECK(cond, ...) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s: ", __FILE__);			\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
		abort();						\
	}								\
} while (0)

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
