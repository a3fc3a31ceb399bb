/*
 * Connection history (RFC 8305 section 4): not there yet.  The "history"
 * work replaces this file.
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include "he_internal.h"

#include <errno.h>

int
evhappy_set_history(struct evhappy *he, int enabled)
{
	if (!he || (enabled != 0 && enabled != 1)) {
		errno = EINVAL;
		return -1;
	}
	if (enabled) {
		errno = ENOSYS;
		return -1;
	}
	return 0;
}

void
evhappy_clear_history(struct evhappy *he)
{
	(void)he;
}
