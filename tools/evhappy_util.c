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

double
tool_tv_ms(const struct timeval *tv)
{
	return (double)tv->tv_sec * 1000.0 + (double)tv->tv_usec / 1000.0;
}

/* "%eth0" for a link-local address's scope (the number when the
   interface is gone), "" for none. */
static const char *
scope_name(unsigned id, char *buf, size_t len)
{
	char name[IF_NAMESIZE];

	if (!id)
		return "";
	if (if_indextoname(id, name))
		evutil_snprintf(buf, len, "%%%s", name);
	else
		evutil_snprintf(buf, len, "%%%u", id);
	return buf;
}

void
tool_addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN], scope[IF_NAMESIZE + 2];
	const struct sockaddr_in *sin = (const void *)sa;
	const struct sockaddr_in6 *sin6 = (const void *)sa;

	if (sa && sa->sa_family == AF_INET &&
	    evutil_inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host)))
		evutil_snprintf(buf, len, "%s:%d", host,
		    (int)ntohs(sin->sin_port));
	else if (sa && sa->sa_family == AF_INET6 &&
	    evutil_inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host)))
		evutil_snprintf(buf, len, "[%s%s]:%d", host,
		    scope_name(sin6->sin6_scope_id, scope, sizeof(scope)),
		    (int)ntohs(sin6->sin6_port));
	else
		evutil_snprintf(buf, len, "?");
}

int
tool_family_number(int af)
{
	return af == AF_INET ? 4 : af == AF_INET6 ? 6 : 0;
}

static const char *
record_type(int af)
{
	return af == AF_INET6 ? "AAAA" : af == AF_INET ? "A" : "?";
}

static void
dns_detail(const struct evhappy_trace *ev, char *buf, size_t len)
{
	const char *type = record_type(ev->family);

	if (ev->kind == EVHAPPY_TRACE_DNS_QUERY)
		evutil_snprintf(buf, len, "%s", type);
	else if (ev->error)
		evutil_snprintf(buf, len, "%s: %s", type,
		    evutil_gai_strerror(ev->error));
	else
		evutil_snprintf(buf, len, "%s: %d address%s", type,
		    ev->naddrs, ev->naddrs == 1 ? "" : "es");
}

static void
age_text(const struct timeval *tv, char *buf, size_t len)
{
	double ms = tool_tv_ms(tv);

	if (ms < 1000)
		evutil_snprintf(buf, len, "%.0f ms", ms);
	else if (ms < 120000)
		evutil_snprintf(buf, len, "%.0f s", ms / 1000);
	else
		evutil_snprintf(buf, len, "%.0f min", ms / 60000);
}

/* What history knew: "hung 12 s ago", "failed (Connection refused) 3 s
   ago", "rtt 40.2 ms". */
static void
history_known(const struct evhappy_trace *ev, char *buf, size_t len)
{
	char age[32];

	age_text(&ev->age, age, sizeof(age));
	if (ev->history == EVHAPPY_HISTORY_HUNG)
		evutil_snprintf(buf, len, "hung %s ago", age);
	else if (ev->history == EVHAPPY_HISTORY_FAILED)
		evutil_snprintf(buf, len, "failed (%s) %s ago",
		    strerror(ev->error), age);
	else
		evutil_snprintf(buf, len, "rtt %.1f ms (+-%.1f)",
		    tool_tv_ms(&ev->rtt), tool_tv_ms(&ev->rttvar));
}

/* "[::1]:443 hung 12 s ago, moved after 192.0.2.1:443" or
   "[2001:db8::2]:80 rtt 40.2 ms (+-1.0), next attempt after 60.3 ms". */
static void
history_detail(const struct evhappy_trace *ev, char *buf, size_t len)
{
	char addr[TOOL_ADDRLEN], after[TOOL_ADDRLEN], known[128];

	tool_addr_format(ev->addr, addr, sizeof(addr));
	history_known(ev, known, sizeof(known));
	if (ev->moved && ev->after) {
		tool_addr_format(ev->after, after, sizeof(after));
		evutil_snprintf(buf, len, "%s %s, moved after %s", addr,
		    known, after);
	} else if (ev->moved) {
		evutil_snprintf(buf, len, "%s %s, moved first", addr, known);
	} else {
		evutil_snprintf(buf, len, "%s %s, next attempt after %.1f ms",
		    addr, known, tool_tv_ms(&ev->delay));
	}
}

void
tool_trace_detail(const struct evhappy_trace *ev, char *buf, size_t len)
{
	char addr[TOOL_ADDRLEN];

	buf[0] = '\0';
	switch (ev->kind) {
	case EVHAPPY_TRACE_DNS_QUERY:
	case EVHAPPY_TRACE_DNS_ANSWER:
		dns_detail(ev, buf, len);
		break;
	case EVHAPPY_TRACE_ATTEMPT_FAILED:
		tool_addr_format(ev->addr, addr, sizeof(addr));
		evutil_snprintf(buf, len, "%s: %s", addr,
		    strerror(ev->error));
		break;
	case EVHAPPY_TRACE_ATTEMPT_START:
	case EVHAPPY_TRACE_ATTEMPT_WON:
	case EVHAPPY_TRACE_ATTEMPT_CANCELLED:
		tool_addr_format(ev->addr, buf, len);
		break;
	case EVHAPPY_TRACE_DONE:
		evutil_snprintf(buf, len, "%s",
		    ev->error ? strerror(ev->error) : "connected");
		break;
	case EVHAPPY_TRACE_HISTORY:
		history_detail(ev, buf, len);
		break;
	}
}

void
tool_trace_print(FILE *out, const char *indent,
    const struct evhappy_trace *ev)
{
	char offset[32], detail[TOOL_ADDRLEN + 128];

	evutil_snprintf(offset, sizeof(offset), "+%.1f",
	    tool_tv_ms(&ev->elapsed));
	tool_trace_detail(ev, detail, sizeof(detail));
	/* "done: connected" reads as an outcome, "attempt-start 1.2.3.4:80"
	   as an event and its address. */
	fprintf(out, "%s%7s ms  %s%s%s\n", indent, offset,
	    evhappy_trace_kind_name(ev->kind),
	    !detail[0] ? "" : ev->kind == EVHAPPY_TRACE_DONE ||
	    ev->kind == EVHAPPY_TRACE_HISTORY ? ": " : " ",
	    detail);
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
