/*
 * Small helpers of the evhappy tool: clocks, addresses, the trace
 * timeline and JSON strings.
 *
 * Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include "evhappy_tool.h"

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include <string.h>
#include <time.h>
#include <net/if.h>
#include <netinet/in.h>

double
tool_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

void
tool_context_free(struct evhappy *he, struct event_base *base,
    struct evdns_base *dns)
{
	evhappy_free(he);
	/* evdns lets go of cancelled queries on the next loop turn. */
	if (base)
		event_base_loop(base, EVLOOP_NONBLOCK);
	if (dns)
		evdns_base_free(dns, 0);
}

double
tool_tv_ms(const struct timeval *tv)
{
	return (double)tv->tv_sec * 1000.0 + (double)tv->tv_usec / 1000.0;
}

int
tool_family_number(int af)
{
	return af == AF_INET ? 4 : af == AF_INET6 ? 6 : 0;
}

void
tool_trace_print(FILE *out, const char *indent,
    const struct evhappy_trace *ev)
{
	/* a network event holds its routes and prefixes */
	char offset[32], line[2 * TOOL_ADDRLEN + 1280];

	evutil_snprintf(offset, sizeof(offset), "+%.1f",
	    tool_tv_ms(&ev->elapsed));
	evhappy_trace_format(ev, line, sizeof(line));
	fprintf(out, "%s%7s ms  %s\n", indent, offset, line);
}

static int
is_cont(unsigned char c)
{
	return (c & 0xC0) == 0x80;
}

/* The length of the well-formed UTF-8 sequence at s (RFC 3629: no
   overlong forms, no surrogates, nothing above U+10FFFF), or 0. */
static int
utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		return is_cont(s[1]) ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF) {
		if (!is_cont(s[1]) || !is_cont(s[2]) ||
		    (c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F))
			return 0;
		return 3;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		if (!is_cont(s[1]) || !is_cont(s[2]) || !is_cont(s[3]) ||
		    (c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] > 0x8F))
			return 0;
		return 4;
	}
	return 0;
}

static void
json_char(FILE *out, unsigned char c)
{
	switch (c) {
	case '"': fputs("\\\"", out); break;
	case '\\': fputs("\\\\", out); break;
	case '\n': fputs("\\n", out); break;
	case '\r': fputs("\\r", out); break;
	case '\t': fputs("\\t", out); break;
	default:
		if (c < 0x20 || c == 0x7F)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
}

void
tool_json_string(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (!s) {
		fputs("null", out);
		return;
	}
	fputc('"', out);
	/* A NUL ends the string, and is_cont() fails on it, so a sequence
	   cut short never reads past the end. */
	while (*p) {
		int n = utf8_len(p);
		if (n == 1)
			json_char(out, *p);
		else if (n > 1)
			fwrite(p, 1, (size_t)n, out);
		else
			fputs("\\ufffd", out);
		p += n ? n : 1;
	}
	fputc('"', out);
}
