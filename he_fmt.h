/*
 * The library's one formatter of addresses and trace events (he_fmt.c),
 * for the report, the EVHAPPY_TRACE lines and (through the public
 * evhappy_sockaddr_format() and evhappy_trace_format()) the CLI.
 */
#ifndef EVHAPPY_HE_FMT_H_INCLUDED_
#define EVHAPPY_HE_FMT_H_INCLUDED_

#include <stdarg.h>
#include "he_event.h"
#include <stddef.h>

/** Text built piece by piece with snprintf's convention: need counts what
    the whole text would take, buf holds what fits (NUL-terminated). */
struct he_out {
	char *buf;
	size_t len;
	size_t need;
};

/** Start writing into buf (len bytes; buf may be NULL when len is 0). */
void he_out_init_(struct he_out *o, char *buf, size_t len);

/** Append, printf-style. */
void he_out_put_(struct he_out *o, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 2, 3)))
#endif
    ;

struct sockaddr;
struct evhappy_trace;

/** Append "192.0.2.1:443" or "[2001:db8::1%eth0]:443". */
void he_out_addr_(struct he_out *o, const struct sockaddr *sa);

/** Append one trace event: its kind's name and what it says. */
void he_out_trace_(struct he_out *o, const struct evhappy_trace *ev);

/** An HTTPS endpoint: "svc.example:8443 priority 1 alpn h2,http/1.1 ech"
    (its TargetName, port, SvcPriority, ALPN ids; "ech" when it has an
    ECH configuration). */
void he_out_endpoint_(struct he_out *o, const struct evhappy_endpoint *ep);

#endif
