/*
 * Hostnames that are address literals ("192.0.2.1", "2001:db8::1",
 * "[2001:db8::1]", "fe80::1%eth0") are never resolved: they become a
 * one-entry list, as getaddrinfo() with AI_NUMERICHOST would make.  An IPv6
 * literal whose zone is empty or names no interface is refused, not sent to
 * DNS as a name: no DNS server can answer it, and the user made a typo.
 */
#include "he_internal.h"
#include "he_literal.h"
#include "he_addrinfo.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>

/* An IPv6 zone ("eth0" or "2"): the interface index, or 0 if there is no
 * such interface. */
static unsigned
zone_index(const char *zone)
{
	char *end;
	unsigned long v;

	if (!*zone)
		return 0;
	v = strtoul(zone, &end, 10);
	if (*end == '\0')
		return v <= UINT_MAX ? (unsigned)v : 0;
	return if_nametoindex(zone);
}

/* "addr" or "addr%zone", as getaddrinfo() takes link-local literals:
 * 1 parsed, 0 not an IPv6 address, -1 an IPv6 address with a bad zone. */
static int
parse_v6(const char *text, struct sockaddr_in6 *sin6)
{
	char buf[INET6_ADDRSTRLEN];
	const char *pct = strchr(text, '%');
	size_t n = pct ? (size_t)(pct - text) : strlen(text);

	if (n >= sizeof(buf) || !memchr(text, ':', n))
		return 0;	/* no IPv6 address (a name): skip the parser */
	memcpy(buf, text, n);
	buf[n] = '\0';
	if (evutil_inet_pton(AF_INET6, buf, &sin6->sin6_addr) != 1)
		return 0;
	if (!pct)
		return 1;
	sin6->sin6_scope_id = zone_index(pct + 1);
	return sin6->sin6_scope_id != 0 ? 1 : -1;
}

int
he_parse_literal_(const char *host, int port, struct evutil_addrinfo **out)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	size_t n = strlen(host);
	int rc;

	*out = NULL;
	memset(&sin, 0, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons((unsigned short)port);
	if (host[0] == '[') {
		if (n < 3 || n - 2 >= sizeof(buf) || host[n - 1] != ']')
			return EINVAL;
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
		if (parse_v6(buf, &sin6) != 1)
			return EINVAL;
		return he_addrinfo_new_((struct sockaddr *)&sin6,
		    sizeof(sin6), out);
	}
	/* glibc's inet_pton: libevent's parses with sscanf, 2.4k instructions
	 * on the drop-in's happy path. */
	if (inet_pton(AF_INET, host, &sin.sin_addr) == 1)
		return he_addrinfo_new_((struct sockaddr *)&sin, sizeof(sin),
		    out);
	rc = parse_v6(host, &sin6);
	if (rc < 0)
		return EINVAL;
	if (rc > 0)
		return he_addrinfo_new_((struct sockaddr *)&sin6,
		    sizeof(sin6), out);
	return 0;	/* a name */
}
