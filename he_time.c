/*
 * The library's clock and its conversions (he_time.h).
 */
#include "he_internal.h"
#include "he_time.h"

#include <errno.h>

int
he_tv_to_usec_(const struct timeval *tv, int64_t *out)
{
	if (tv->tv_sec < 0 || tv->tv_usec < 0 || tv->tv_usec >= 1000000 ||
	    tv->tv_sec > 1000000000)
		return EINVAL;
	*out = (int64_t)tv->tv_sec * HE_USEC_PER_S + tv->tv_usec;
	return 0;
}
