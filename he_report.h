/*
 * The report of a finished race (he_report.c), as the rest of the top
 * layer reads it; the public calls are in he_event.h.
 */
#ifndef EVHAPPY_HE_REPORT_H_INCLUDED_
#define EVHAPPY_HE_REPORT_H_INCLUDED_

#include <stddef.h>

struct evhappy_request;

/** The outcome part of evhappy_report_format's line ("connected to ...
    in N ms", "failed after ..."), snprintf's convention. */
int he_report_outcome_(const struct evhappy_request *req, char *buf,
    size_t len);

#endif
