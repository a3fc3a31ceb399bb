/*
 * The conventions every file of the library follows; each library file
 * includes this header first.  (Each module has a header of its own: this
 * one declares nothing.)
 *
 * Layers.  Files call only downwards, the layers listed in DESIGN.md and
 * checked by tests/check_layers.sh; what a lower layer must tell a higher
 * one goes through a callback handed down when the work starts.
 *
 * Errors.  One convention inside the library: a function that can fail
 * returns an int, 0 on success or a positive errno value (EINVAL, ENOMEM,
 * EMFILE, ...), and hands what it makes back through an out parameter
 * (NULL when it failed).  errno is read only right after the system or
 * libevent call that set it, to turn it into such a value, and set only by
 * the public functions of he_event.h, which turn a non-zero value into
 * -1 or NULL with errno, as libevent's users expect.  DNS failures travel
 * as EVUTIL_EAI_* codes in their own variables, never as errno.
 *
 * Names.  Internal functions that are not static end in `_`; public ones
 * begin with evhappy_.  The library's objects are compiled with hidden
 * visibility: only he_event.h's functions leave libevhappy.so.
 *
 * Time.  Monotonic microseconds in int64_t (he_time.h); only the glue reads
 * the clock, and passes `now` down.
 */
#ifndef EVHAPPY_HE_INTERNAL_H_INCLUDED_
#define EVHAPPY_HE_INTERNAL_H_INCLUDED_

/* Every library file includes this first: configure's results come with
 * the conventions. */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif

#endif
