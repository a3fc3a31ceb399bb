/*
 * The programs tests/check_nat64_netns.sh runs inside its namespaces, on
 * NAT64's bottom layer (he_nat64.h) and the lab's fake DNS server.
 *
 *   he_nat64lab ra IFNAME [options]
 *       Send router advertisements out of IFNAME to all nodes (ff02::1)
 *       from a raw ICMPv6 socket (root, in the router's namespace); the
 *       router lifetime is 0, so no host takes the sender as its default
 *       router, only the options.  radvd has no PREF64 option (2.19).
 *     --pref64 P/LEN[,SECONDS]   a PREF64 option (lifetime 1800 s; 0
 *                                withdraws); repeatable
 *     --pio P/64                 a prefix information option (on-link and
 *                                autonomous flags clear: nothing changes
 *                                on the host but "an RA arrived")
 *     --count N --interval MS    N RAs, MS apart (1, 0)
 *   he_nat64lab listen READY_FILE SECONDS [pref64|withdrawn|ra]
 *       Open the PREF64 listener (he_pref64_open_), create READY_FILE, and
 *       print what the store learns: "pref64 P/LEN lifetime S from RA",
 *       "withdrawn P/LEN", "ra-seen" (an RA without PREF64); stop after
 *       SECONDS, or at the first line of the kind named.
 *   he_nat64lab dns READY_FILE MODE [--prefix P/LEN] [--a NAME ADDR]...
 *       The lab's fake DNS server on 127.0.0.1; "127.0.0.1:PORT" is
 *       written to READY_FILE once it listens.  MODE: dns64 (ipv4only.arpa
 *       and every NAME have their A records and AAAA records synthesized
 *       from them with the prefix, 64:ff9b::/96 unless given, as a DNS64
 *       resolver answers), plain (A records only), none (ipv4only.arpa
 *       does not exist; the NAMEs have their A records), rfc7050
 *       (ipv4only.arpa as dns64 answers it, the NAMEs A only: a DNS64
 *       that is not the names' resolver, for discovery from DNS with
 *       local synthesis).  Forever.
 *   he_nat64lab rfc7050 SERVER
 *       The RFC 7050 query (he_nat64_query_start_) against SERVER
 *       (ADDR:PORT): "prefix P/LEN lifetime S" per prefix, "none", or
 *       "failed".
 *   he_nat64lab route
 *       "ipv4 yes|no" and "ipv6 yes|no": he_route_probe_ to a global
 *       address of each family.
 *
 * Exit status: 0 when it ran, 1 when `listen` stopped without seeing what
 * it waited for, 2 on bad usage or a setup failure.
 *
 * Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).
 */
#include "he_nat64.h"
#include "he_nat64_cache.h"
#include "he_nat64_query.h"
#include "he_pref64.h"
#include "he_time.h"
#include "he_lab.h"
#include "he_testrec.h"

#include <event2/dns.h>
#include <event2/event.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define MAXOPT 8
#define MAXNAMES 8

static int
usage(void)
{
	fprintf(stderr, "usage: he_nat64lab ra IFNAME [--pref64 P/LEN[,S]]..."
	    " [--pio P/64] [--count N] [--interval MS] |"
	    " listen FILE SECONDS [pref64|withdrawn|ra] |"
	    " dns FILE dns64|plain|none|rfc7050 [--prefix P/LEN]"
	    " [--a NAME ADDR]... |"
	    " rfc7050 SERVER | route\n");
	return 2;
}

static int
touch(const char *path, const char *text)
{
	char tmp[512];
	FILE *fp;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (!(fp = fopen(tmp, "w")))
		return -1;
	fputs(text, fp);
	if (fclose(fp) != 0 || rename(tmp, path) < 0)
		return -1;
	return 0;
}

static int
parse_prefix(const char *s, struct he_nat64_prefix *p)
{
	enum he_nat64_mode m;

	if (he_nat64_parse_setting_(s, &m, p) != 0 || m != HE_NAT64_FIXED) {
		fprintf(stderr, "he_nat64lab: bad prefix %s\n", s);
		return -1;
	}
	return 0;
}

/* ---- ra ----------------------------------------------------------------- */

static int
ra_send(int argc, char **argv)
{
	unsigned char pkt[16 + 16 * MAXOPT + 32];
	struct sockaddr_in6 to;
	size_t len = 16;
	int count = 1, interval = 0, hops = 255, i, fd;
	unsigned ifindex;

	if (argc < 3)
		return usage();
	if (!(ifindex = if_nametoindex(argv[2]))) {
		fprintf(stderr, "he_nat64lab: no interface %s\n", argv[2]);
		return 2;
	}
	/* The RA header (RFC 4861 4.2): hop limit 64, no flags, router
	   lifetime 0, reachable time and retrans timer unspecified.  The
	   kernel fills the checksum of an ICMPv6 raw socket. */
	memset(pkt, 0, sizeof(pkt));
	pkt[0] = 134;
	pkt[4] = 64;
	for (i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--pref64") && i + 1 < argc &&
		    len + 16 <= sizeof(pkt)) {
			struct he_pref64 o;
			char arg[128], *comma;
			snprintf(arg, sizeof(arg), "%s", argv[++i]);
			o.lifetime = 1800;
			if ((comma = strchr(arg, ','))) {
				*comma = '\0';
				o.lifetime = (uint32_t)atoi(comma + 1);
			}
			if (parse_prefix(arg, &o.prefix) < 0 ||
			    he_pref64_build_(&o, pkt + len) != 0)
				return 2;
			len += 16;
		} else if (!strcmp(argv[i], "--pio") && i + 1 < argc &&
		    len + 32 <= sizeof(pkt)) {
			unsigned char *o = pkt + len;
			char arg[128], *slash;
			snprintf(arg, sizeof(arg), "%s", argv[++i]);
			if ((slash = strchr(arg, '/')))
				*slash = '\0';
			memset(o, 0, 32);
			o[0] = 3;		/* prefix information */
			o[1] = 4;
			o[2] = 64;
			o[3] = 0;		/* neither L nor A */
			o[7] = 0x10;		/* valid 4096 s */
			o[11] = 0x08;		/* preferred 2048 s */
			if (inet_pton(AF_INET6, arg, o + 16) != 1)
				return usage();
			len += 32;
		} else if (!strcmp(argv[i], "--count") && i + 1 < argc) {
			count = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--interval") && i + 1 < argc) {
			interval = atoi(argv[++i]);
		} else {
			return usage();
		}
	}
	if ((fd = socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6)) < 0) {
		perror("he_nat64lab: raw ICMPv6 socket");
		return 2;
	}
	/* RFC 4861 6.1.2: a host drops an RA whose hop limit is not 255. */
	if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops,
		sizeof(hops)) < 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex,
		sizeof(ifindex)) < 0) {
		perror("he_nat64lab: setsockopt");
		close(fd);
		return 2;
	}
	memset(&to, 0, sizeof(to));
	to.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "ff02::1", &to.sin6_addr);
	to.sin6_scope_id = ifindex;
	for (i = 0; i < count; i++) {
		if (i > 0 && interval > 0) {
			struct timespec ts = { interval / 1000,
			    (long)(interval % 1000) * 1000000 };
			nanosleep(&ts, NULL);
		}
		if (sendto(fd, pkt, len, 0, (struct sockaddr *)&to,
			sizeof(to)) < 0) {
			perror("he_nat64lab: sendto");
			close(fd);
			return 2;
		}
	}
	close(fd);
	return 0;
}

/* ---- listen ------------------------------------------------------------- */

struct listener {
	struct event_base *base;
	struct he_nat64_cache *c;
	struct he_nat64_known seen[HE_NAT64_RA_ENTRIES];
	int nseen;
	int64_t last_ra;
	const char *until;
	int done;
};

static int
known_has(const struct he_nat64_known *k, int n, const struct he_nat64_known *x)
{
	int i;

	for (i = 0; i < n; i++)
		if (k[i].prefix.len == x->prefix.len &&
		    !memcmp(k[i].prefix.addr, x->prefix.addr, 16))
			return 1;
	return 0;
}

static void
say(struct listener *l, const char *kind, const char *line)
{
	printf("%s\n", line);
	fflush(stdout);
	if (l->until && !strcmp(l->until, kind)) {
		l->done = 1;
		event_base_loopbreak(l->base);
	}
}

/* What changed in the store since the last look. */
static void
report(struct listener *l, int64_t now, int applied)
{
	struct he_nat64_known k[HE_NAT64_RA_ENTRIES];
	char p[INET6_ADDRSTRLEN + 8], line[256];
	int n = he_nat64_cache_get_(l->c, now, 1, k, HE_NAT64_RA_ENTRIES), i;
	int64_t ra = he_nat64_cache_last_ra_(l->c, NULL);

	for (i = 0; i < n; i++) {
		if (known_has(l->seen, l->nseen, &k[i]))
			continue;
		he_nat64_prefix_str_(&k[i].prefix, p, sizeof(p));
		snprintf(line, sizeof(line), "pref64 %s lifetime %lld from %s", p,
		    (long long)((k[i].expires - now + 500000) / 1000000),
		    he_nat64_source_name_(k[i].source));
		say(l, "pref64", line);
	}
	for (i = 0; i < l->nseen; i++) {
		if (known_has(k, n, &l->seen[i]))
			continue;
		he_nat64_prefix_str_(&l->seen[i].prefix, p, sizeof(p));
		snprintf(line, sizeof(line), "withdrawn %s", p);
		say(l, "withdrawn", line);
	}
	if (ra != l->last_ra && applied == 0)
		say(l, "ra", "ra-seen");
	l->last_ra = ra;
	memcpy(l->seen, k, (size_t)n * sizeof(*k));
	l->nseen = n;
}

static void
on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;
	int64_t now = he_now_();
	int applied = 0, r = he_pref64_read_(fd, l->c, now, &applied);

	(void)what;
	if (r && r != ENOBUFS) {
		fprintf(stderr, "he_nat64lab: netlink: %s\n", strerror(r));
		event_base_loopbreak(l->base);
		return;
	}
	report(l, now, applied);
}

static int
listen_run(int argc, char **argv)
{
	struct listener l;
	struct event *ev;
	struct timeval tv;
	evutil_socket_t fd;
	int r;

	if (argc < 4 || argc > 5)
		return usage();
	memset(&l, 0, sizeof(l));
	l.until = argc == 5 ? argv[4] : NULL;
	if ((r = he_pref64_open_(&fd)) != 0) {
		fprintf(stderr, "he_nat64lab: he_pref64_open_: %s\n",
		    strerror(r));
		return 2;
	}
	l.base = event_base_new();
	if (!l.base || he_nat64_cache_new_(&l.c) != 0)
		return 2;
	ev = event_new(l.base, fd, EV_READ | EV_PERSIST, on_readable, &l);
	if (!ev || event_add(ev, NULL) < 0)
		return 2;
	if (touch(argv[2], "ready\n") < 0) {
		perror("he_nat64lab: ready file");
		return 2;
	}
	tv.tv_sec = atoi(argv[3]);
	tv.tv_usec = 0;
	event_base_loopexit(l.base, &tv);
	event_base_dispatch(l.base);
	event_free(ev);
	close(fd);
	he_nat64_cache_free_(l.c);
	event_base_free(l.base);
	return l.until && !l.done ? 1 : 0;
}

/* ---- dns ---------------------------------------------------------------- */

static int
dns_serve(int argc, char **argv)
{
	struct he_nat64_prefix prefix = he_nat64_wkp_;
	const char *names[MAXNAMES + 1], *addrs[MAXNAMES + 1], *mode;
	int n = 0, i;
	struct event_base *base;
	struct he_lab_dns *d;
	char text[64];

	if (argc < 4)
		return usage();
	mode = argv[3];
	if (strcmp(mode, "dns64") && strcmp(mode, "plain") &&
	    strcmp(mode, "none") && strcmp(mode, "rfc7050"))
		return usage();
	for (i = 4; i < argc; i++) {
		if (!strcmp(argv[i], "--prefix") && i + 1 < argc) {
			if (parse_prefix(argv[++i], &prefix) < 0)
				return 2;
		} else if (!strcmp(argv[i], "--a") && i + 2 < argc &&
		    n < MAXNAMES) {
			names[n] = argv[++i];
			addrs[n++] = argv[++i];
		} else {
			return usage();
		}
	}
	if (strcmp(mode, "none")) {
		names[n] = HE_NAT64_WKN;
		addrs[n++] = "192.0.0.170";
		names[n] = HE_NAT64_WKN;
		addrs[n++] = "192.0.0.171";
	}
	if (!(base = event_base_new()) || !(d = he_lab_dns_new(base)))
		return 2;
	for (i = 0; i < n; i++) {
		unsigned char v4[4], v6[16];
		char lit[INET6_ADDRSTRLEN];
		if (he_lab_dns_add(d, names[i], EVDNS_TYPE_A, addrs[i]) < 0 ||
		    inet_pton(AF_INET, addrs[i], v4) != 1) {
			fprintf(stderr, "he_nat64lab: bad record %s %s\n",
			    names[i], addrs[i]);
			return 2;
		}
		if (strcmp(mode, "dns64") && (strcmp(mode, "rfc7050") ||
		    strcmp(names[i], HE_NAT64_WKN)))
			continue;
		/* What a DNS64 (RFC 6147) answers for a name with only A
		   records: each one synthesized under its prefix. */
		he_nat64_embed_(&prefix, v4, v6);
		inet_ntop(AF_INET6, v6, lit, sizeof(lit));
		if (he_lab_dns_add(d, names[i], EVDNS_TYPE_AAAA, lit) < 0)
			return 2;
	}
	snprintf(text, sizeof(text), "%s\n", he_lab_dns_address(d));
	if (touch(argv[2], text) < 0) {
		perror("he_nat64lab: ready file");
		return 2;
	}
	event_base_dispatch(base);
	he_lab_dns_free(d);
	event_base_free(base);
	return 0;
}

/* ---- rfc7050 ------------------------------------------------------------ */

static int
rfc7050_run(int argc, char **argv)
{
	struct event_base *base;
	struct evdns_base *dns;
	struct he_nat64_query *h;
	struct he_test_qres q;
	char p[INET6_ADDRSTRLEN + 8];
	int i;

	if (argc != 3)
		return usage();
	memset(&q, 0, sizeof(q));
	if (!(base = event_base_new()) || !(dns = evdns_base_new(base, 0)) ||
	    evdns_base_nameserver_ip_add(dns, argv[2]) != 0 ||
	    evdns_base_set_option(dns, "timeout:", "1") != 0 ||
	    evdns_base_set_option(dns, "attempts:", "1") != 0)
		return 2;
	if (he_nat64_query_start_(dns, he_test_query_cb, &q, &h) != 0)
		return 2;
	while (!q.calls && event_base_loop(base, EVLOOP_ONCE) == 0)
		;
	if (q.result == HE_NAT64_Q_FAILED)
		printf("failed\n");
	else if (q.n == 0)
		printf("none\n");
	for (i = 0; i < q.n; i++) {
		he_nat64_prefix_str_(&q.p[i], p, sizeof(p));
		printf("prefix %s lifetime %lld\n", p,
		    (long long)(q.lifetime / 1000000));
	}
	evdns_base_free(dns, 0);
	event_base_free(base);
	return 0;
}

/* ---- route -------------------------------------------------------------- */

static const char *
route_of(int family)
{
	int have = 0;

	if (he_route_probe_(family, NULL, &have) != 0)
		return "?";
	return have ? "yes" : "no";
}

static int
route_run(void)
{
	printf("ipv4 %s\n", route_of(AF_INET));
	printf("ipv6 %s\n", route_of(AF_INET6));
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "ra"))
		return ra_send(argc, argv);
	if (!strcmp(argv[1], "listen"))
		return listen_run(argc, argv);
	if (!strcmp(argv[1], "dns"))
		return dns_serve(argc, argv);
	if (!strcmp(argv[1], "rfc7050"))
		return rfc7050_run(argc, argv);
	if (!strcmp(argv[1], "route"))
		return route_run();
	return usage();
}
