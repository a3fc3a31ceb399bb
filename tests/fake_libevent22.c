/*
 * A stand-in for a libevent that is not 2.1, for tests/check_preload.sh:
 * preloaded after libevhappy-preload.so, its two version functions are the
 * ones the interposition library finds behind itself, as it would find a
 * libevent 2.2 program's.  Everything else stays the real libevent's.
 */
#include <stdint.h>

uint32_t event_get_version_number(void);
const char *event_get_version(void);

uint32_t
event_get_version_number(void)
{
	return 0x02020100;
}

const char *
event_get_version(void)
{
	return "2.2.1-fake";
}
