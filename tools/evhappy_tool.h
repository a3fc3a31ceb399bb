/*
 * What the files of the evhappy command-line tool share.  None of this is
 * part of the library.
 *
 * Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).
 */
#ifndef EVHAPPY_TOOL_H_INCLUDED_
#define EVHAPPY_TOOL_H_INCLUDED_

#include "he_event.h"

#include <stddef.h>
#include <stdio.h>

/* Room for "[v6-address%scope]:65535" and its terminator. */
#define TOOL_ADDRLEN 80

/* Exit statuses: see EXIT STATUS in evhappy(1). */
#define TOOL_EXIT_OK 0
#define TOOL_EXIT_FAIL 1
#define TOOL_EXIT_USAGE 2

/* Milliseconds on a monotonic clock: elapsed times must not jump when
   someone sets the wall clock. */
double tool_now_ms(void);

/* A timeval in milliseconds, for printing with "%.1f". */
double tool_tv_ms(const struct timeval *tv);

/* The address family as RFC 8305 counts it: 4, 6, or 0. */
int tool_family_number(int af);

/* One timeline line: indent, the offset ("+50.3 ms") and the event as
   evhappy_trace_format() writes it, e.g. "  +50.3 ms  attempt-start
   127.0.0.1:80". */
void tool_trace_print(FILE *out, const char *indent,
    const struct evhappy_trace *ev);

/* s as a JSON string, quotes included.  NULL gives null; bytes that are
   not UTF-8 become U+FFFD, so the output always parses. */
void tool_json_string(FILE *out, const char *s);

/* The same for len bytes that may hold NUL (written \u0000). */
void tool_json_bytes(FILE *out, const void *p, size_t len);

/* HTTPS records (RFC 9460): an endpoint the library showed, copied into
   one allocation that tool_endpoint_free() frees, since the library's
   is valid only during its callback.  NULL when ep is NULL or empty (no
   record was used) or memory ran out. */
struct evhappy_endpoint *tool_endpoint_dup(const struct evhappy_endpoint *ep);
void tool_endpoint_free(struct evhappy_endpoint *ep);

/* "svc.example:8443, priority 1, alpn h2,http/1.1, ech": bytes of an
   ALPN id that are not printable ASCII, ',' or '\\' are written \xNN. */
void tool_endpoint_print(FILE *out, const struct evhappy_endpoint *ep);

/* The endpoint as a JSON object ("ech" in base64, RFC 4648 section 4,
   or null), or null when ep is NULL or empty. */
void tool_endpoint_json(FILE *out, const struct evhappy_endpoint *ep);

/* Free the context he (NULL: none), turn base's loop once so that evdns
   lets go of the queries it cancelled, then free dns (NULL: none); base
   stays the caller's to free. */
void tool_context_free(struct evhappy *he, struct event_base *base,
    struct evdns_base *dns);

/* Copy stdin to the connected socket fd and the socket to stdout, like
   nc(1), until the peer closes.  On stdin's end the socket's write side is
   shut down and reading goes on.  Takes fd over.  base must handle any
   file descriptor (EV_FEATURE_FDS): stdin may be a regular file.
   Returns an exit status. */
int tool_relay(struct event_base *base, evutil_socket_t fd);

/* The --demo: libevent against evhappy in an in-process lab.  Returns an
   exit status. */
int tool_demo(void);

/* Use the default history file (evhappy_default_history_file()), if there
   is one.  -1 when it is refused (the library said why on stderr). */
int tool_history_file(void);

/* --history (show: what is known for the current network, as JSON with
   json) and --forget (forget it, here and in the file).  Returns an exit
   status. */
int tool_history(int show, int forget, int json);

#endif
