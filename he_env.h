/*
 * Settings from the environment (he_env.c), for races that have no
 * context of the caller's: evhappy_socket_connect_hostname() and the
 * interposition library.
 */
#ifndef EVHAPPY_HE_ENV_H_INCLUDED_
#define EVHAPPY_HE_ENV_H_INCLUDED_

#include "he_event.h"
#include "he_nat64.h"

#include <limits.h>
#include <stdint.h>

/** What the EVHAPPY_* variables say; a setting is used only when its
    `has` flag is set (the variable held a value in range). */
struct he_env {
	int has_attempt_delay, has_resolution_delay, has_timeout;
	int64_t attempt_delay, resolution_delay, timeout;	/* us */
	int history_off;
	char history_file[PATH_MAX];	/* the interposition library's history
					   file, "" for none */
	int trace;
	int disable;
	int https;		/* EVHAPPY_HTTPS_RR=1 */
	char alpn[256];		/* EVHAPPY_ALPN, checked; "" when unset */
	int has_nat64;		/* EVHAPPY_NAT64=off|auto|PREFIX/LEN */
	enum he_nat64_mode nat64_mode;
	struct he_nat64_prefix nat64_prefix;	/* HE_NAT64_FIXED */
};

/** The environment, read once (the first call, thread-safe); a bad value
    was ignored with one warning line on stderr. */
const struct he_env *he_env_(void);

/** The EVHAPPY_TRACE callback: each event as one line on stderr,
    "evhappy: race N: ...", N being (uintptr_t)arg. */
void he_env_trace_(const struct evhappy_trace *ev, void *arg);

/** A new race number for he_env_trace_ (races of several threads
    interleave on stderr). */
unsigned long he_env_next_race_(void);

#endif
