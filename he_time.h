/*
 * Time inside the library: monotonic microseconds in an int64_t.
 *
 * The pure race core and the history store take `now` as an argument and
 * never read a clock, so tests drive them with a fake one; the glue reads
 * he_now_() and passes it down.
 */
#ifndef EVHAPPY_HE_TIME_H_INCLUDED_
#define EVHAPPY_HE_TIME_H_INCLUDED_

#include <stdint.h>
#include <sys/time.h>
#include <time.h>

/** A time that never comes (no wake-up wanted, no deadline). */
#define HE_NEVER INT64_MAX

/** Microseconds in a millisecond and in a second. */
#define HE_USEC_PER_MS INT64_C(1000)
#define HE_USEC_PER_S INT64_C(1000000)

/** Monotonic microseconds (CLOCK_MONOTONIC).  Inline: a race reads the
    clock at every event. */
static inline int64_t
he_now_(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * HE_USEC_PER_S + ts.tv_nsec / 1000;
}

/** Microseconds as a timeval; a negative count is 0. */
static inline void
he_usec_to_tv_(int64_t us, struct timeval *tv)
{
	if (us < 0)
		us = 0;
	tv->tv_sec = (time_t)(us / HE_USEC_PER_S);
	tv->tv_usec = (suseconds_t)(us % HE_USEC_PER_S);
}

/** A timeval as microseconds in *out: 0, or EINVAL when it is negative,
    its tv_usec is not below a second, or it is longer than 1e9 s. */
int he_tv_to_usec_(const struct timeval *tv, int64_t *out);

#endif
