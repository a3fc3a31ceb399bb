/*
 * The library's clock and its conversions (he_time.h).
 */
#include "he_internal.h"
#include "he_time.h"

#include <errno.h>
#include <time.h>

int64_t
he_now_(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * HE_USEC_PER_S + ts.tv_nsec / 1000;
}

void
he_usec_to_tv_(int64_t us, struct timeval *tv)
{
	if (us < 0)
		us = 0;
	tv->tv_sec = (time_t)(us / HE_USEC_PER_S);
	tv->tv_usec = (suseconds_t)(us % HE_USEC_PER_S);
}

int
he_tv_to_usec_(const struct timeval *tv, int64_t *out)
{
	if (tv->tv_sec < 0 || tv->tv_usec < 0 || tv->tv_usec >= 1000000 ||
	    tv->tv_sec > 1000000000)
		return EINVAL;
	*out = (int64_t)tv->tv_sec * HE_USEC_PER_S + tv->tv_usec;
	return 0;
}
