/*
 * How an age is written for people ("350 ms", "12 s", "4 min"): one rule
 * for the trace's history events (he_fmt.c) and the CLI's --history
 * listing (tools/evhappy_history.c), which sees only the public API and so
 * takes this header alone.
 *
 * Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).
 */
#ifndef EVHAPPY_HE_AGE_H_INCLUDED_
#define EVHAPPY_HE_AGE_H_INCLUDED_

/* ms in the unit it is written in (*unit: "ms", "s" or "min"), to be
 * printed with "%.0f". */
static inline double
he_age_in_unit_(double ms, const char **unit)
{
	if (ms < 1000) {
		*unit = "ms";
		return ms;
	}
	if (ms < 120000) {
		*unit = "s";
		return ms / 1000;
	}
	*unit = "min";
	return ms / 60000;
}

#endif
