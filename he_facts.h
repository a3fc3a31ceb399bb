/*
 * What the connection history knows of one destination: the value the
 * history store (he_history.c) hands out, every address entry carries
 * (he_addrinfo.h), and the race core decides from (he_race.h).  Types
 * only.
 */
#ifndef EVHAPPY_HE_FACTS_H_INCLUDED_
#define EVHAPPY_HE_FACTS_H_INCLUDED_

#include <stdint.h>

/** A destination's last verdict; the numbers are those of enum
    evhappy_history_state in he_event.h. */
enum he_hist_state {
	HE_HIST_UNKNOWN = 0,	/* nothing known, or it expired */
	HE_HIST_WORKED = 1,	/* it connected; srtt is its RTT */
	HE_HIST_FAILED = 2,	/* a connect failed; error says how */
	HE_HIST_HUNG = 3	/* a connect was still waiting when another
				   won or the race timed out */
};

/** he_hist_info's flags: what is known came from the history file (another
    process, or an earlier run), not from this process's own races. */
#define HE_HIST_FROM_FILE 0x01

/** The facts of one destination, as of one moment.  16 bytes: every
    address a race holds carries one. */
struct he_hist_info {
	uint8_t state;		/* enum he_hist_state */
	uint8_t flags;		/* HE_HIST_FROM_FILE, or 0 */
	uint16_t error;		/* FAILED: the errno */
	uint32_t srtt, rttvar;	/* microseconds; srtt 0: no RTT known */
	uint32_t age;		/* microseconds since the verdict was learned
				   (saturating) */
};

#endif
