/*
 * Small helpers of the evhappy tool: clocks, addresses, the trace
 * timeline, JSON strings and HTTPS endpoints.
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

#include <stdlib.h>
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
	/* a network event holds its routes and prefixes, an HTTPS one
	   target names: the rare longer line is written whole */
	char offset[32], line[2 * TOOL_ADDRLEN + 1280], *big = NULL;
	int n;

	evutil_snprintf(offset, sizeof(offset), "+%.1f",
	    tool_tv_ms(&ev->elapsed));
	n = evhappy_trace_format(ev, line, sizeof(line));
	/* An HTTPS event names targets of up to 255 bytes and says why a
	   record was skipped: rarely, more than the line holds. */
	if (n >= (int)sizeof(line) && (big = malloc((size_t)n + 1)))
		evhappy_trace_format(ev, big, (size_t)n + 1);
	fprintf(out, "%s%7s ms  %s\n", indent, offset, big ? big : line);
	free(big);
}

static int
is_cont(unsigned char c)
{
	return (c & 0xC0) == 0x80;
}

/* The length of the well-formed UTF-8 sequence at s, of which left bytes
   are there (RFC 3629: no overlong forms, no surrogates, nothing above
   U+10FFFF), or 0. */
static int
utf8_len(const unsigned char *s, size_t left)
{
	unsigned char c = s[0];
	int n;

	if (c < 0x80)
		return 1;
	n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 :
	    c >= 0xF0 && c <= 0xF4 ? 4 : 0;
	if (n == 0 || (size_t)n > left)
		return 0;
	if (!is_cont(s[1]) || (n > 2 && !is_cont(s[2])) ||
	    (n > 3 && !is_cont(s[3])))
		return 0;
	if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) ||
	    (c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] > 0x8F))
		return 0;
	return n;
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
tool_json_bytes(FILE *out, const void *bytes, size_t len)
{
	const unsigned char *p = bytes, *end = p + len;

	fputc('"', out);
	while (p < end) {
		int n = utf8_len(p, (size_t)(end - p));
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

void
tool_json_string(FILE *out, const char *s)
{
	if (!s)
		fputs("null", out);
	else
		tool_json_bytes(out, s, strlen(s));
}

/* ------------------------------------------------------------------------ */
/* HTTPS endpoints */

struct evhappy_endpoint *
tool_endpoint_dup(const struct evhappy_endpoint *ep)
{
	struct evhappy_endpoint *c;
	size_t tlen;
	unsigned char *p;

	if (!ep || !ep->target)
		return NULL;
	tlen = strlen(ep->target) + 1;
	if (ep->alpn_len > (size_t)-1 / 4 || ep->ech_len > (size_t)-1 / 4 ||
	    !(c = malloc(sizeof(*c) + tlen + ep->alpn_len + ep->ech_len)))
		return NULL;
	*c = *ep;
	p = (unsigned char *)(c + 1);
	memcpy(p, ep->target, tlen);
	c->target = (const char *)p;
	p += tlen;
	if (ep->alpn) {
		memcpy(p, ep->alpn, ep->alpn_len);
		c->alpn = p;
		p += ep->alpn_len;
	}
	if (ep->ech) {
		memcpy(p, ep->ech, ep->ech_len);
		c->ech = p;
	}
	return c;
}

void
tool_endpoint_free(struct evhappy_endpoint *ep)
{
	free(ep);
}

/* The ALPN id at *off of the wire form (each id after its length byte):
   its bytes in *id and *len, *off moved past it; 0 at the end or where
   a length overruns. */
static int
alpn_next(const struct evhappy_endpoint *ep, size_t *off,
    const unsigned char **id, size_t *len)
{
	if (!ep->alpn || *off >= ep->alpn_len ||
	    ep->alpn[*off] > ep->alpn_len - *off - 1)
		return 0;
	*len = ep->alpn[*off];
	*id = ep->alpn + *off + 1;
	*off += 1 + *len;
	return 1;
}

void
tool_endpoint_print(FILE *out, const struct evhappy_endpoint *ep)
{
	const unsigned char *id;
	size_t off = 0, len, i;
	int n = 0;

	fprintf(out, "%s:%d", ep->target ? ep->target : "?", ep->port);
	/* Priority 0: the name an AliasMode chain ended at, which has no
	   ServiceMode record of its own (RFC 9460 section 3). */
	if (ep->priority)
		fprintf(out, ", priority %d", ep->priority);
	else
		fputs(", alias", out);
	while (alpn_next(ep, &off, &id, &len)) {
		fputs(n++ ? "," : ", alpn ", out);
		for (i = 0; i < len; i++) {
			if (id[i] > 0x20 && id[i] < 0x7F && id[i] != ',' &&
			    id[i] != '\\')
				fputc(id[i], out);
			else
				fprintf(out, "\\x%02x", id[i]);
		}
	}
	if (ep->ech)
		fputs(", ech", out);
}

/* RFC 4648 section 4, padded, as zone files write "ech=". */
static void
base64(FILE *out, const unsigned char *p, size_t len)
{
	static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned long v;
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		v = (unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8 |
		    p[i + 2];
		fputc(digits[v >> 18 & 63], out);
		fputc(digits[v >> 12 & 63], out);
		fputc(digits[v >> 6 & 63], out);
		fputc(digits[v & 63], out);
	}
	if (i == len)
		return;
	v = (unsigned long)p[i] << 16 |
	    (i + 1 < len ? (unsigned long)p[i + 1] << 8 : 0);
	fputc(digits[v >> 18 & 63], out);
	fputc(digits[v >> 12 & 63], out);
	fputc(i + 1 < len ? digits[v >> 6 & 63] : '=', out);
	fputc('=', out);
}

void
tool_endpoint_json(FILE *out, const struct evhappy_endpoint *ep)
{
	const unsigned char *id;
	size_t off = 0, len;
	int n = 0;

	if (!ep || !ep->target) {
		fputs("null", out);
		return;
	}
	fputs("{\"target\":", out);
	tool_json_string(out, ep->target);
	fprintf(out, ",\"port\":%d,\"priority\":%d,\"alpn\":[", ep->port,
	    ep->priority);
	while (alpn_next(ep, &off, &id, &len)) {
		fputs(n++ ? "," : "", out);
		tool_json_bytes(out, id, len);
	}
	fputs("],\"ech\":", out);
	if (ep->ech) {
		fputc('"', out);
		base64(out, ep->ech, ep->ech_len);
		fputc('"', out);
	} else {
		fputs("null", out);
	}
	fputc('}', out);
}
