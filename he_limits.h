/*
 * The ranges the settings accept (RFC 8305 section 8), in microseconds:
 * one place for the setters (he_event.c) and the environment (he_env.c).
 */
#ifndef EVHAPPY_HE_LIMITS_H_INCLUDED_
#define EVHAPPY_HE_LIMITS_H_INCLUDED_

#include "he_event.h"
#include "he_time.h"

#define HE_ATTEMPT_DELAY_MIN (10 * HE_USEC_PER_MS)
#define HE_ATTEMPT_DELAY_MAX (2000 * HE_USEC_PER_MS)
#define HE_RESOLUTION_DELAY_MIN 0
#define HE_RESOLUTION_DELAY_MAX (1000 * HE_USEC_PER_MS)
#define HE_TIMEOUT_MIN 1
#define HE_TIMEOUT_MAX (INT64_MAX / 4)

#endif
