/*
 * NAT64, the PREF64 listener (RFC 8781): an rtnetlink socket on which
 * Linux reports the options of every router advertisement it accepts.
 *
 * The kernel parses RAs itself and hands the options it does not act on
 * (RDNSS, DNSSL, captive portal, PREF64; on newer kernels prefix
 * information too) to whoever listens on RTNLGRP_ND_USEROPT, one
 * RTM_NEWNDUSEROPT message per option, as the RA arrives; prefix
 * information also goes to RTNLGRP_IPV6_PREFIX as RTM_NEWPREFIX.  It
 * keeps no copy, and asking a router for a fresh RA (a router
 * solicitation) needs CAP_NET_RAW, so a process hears PREF64 only from RAs
 * that arrive while the socket is open: a long-lived one learns the prefix
 * at the next periodic RA (RFC 4861: every 4 to 30 minutes by default,
 * often far more often), a short one usually never, and falls back to
 * RFC 7050.  Listening needs no privilege.  The kernel only passes RA
 * options on for interfaces that accept RAs (accept_ra).
 *
 * he_pref64_read_ is meant for an EV_READ|EV_PERSIST event on the fd: it
 * reads until EAGAIN and feeds the store.  See he_pref64.h.
 *
 * Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).
 */
#include "he_internal.h"
#include "he_pref64.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#ifdef __linux__
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#endif

#ifdef __linux__

/* Group numbers are 1-based; the bind() mask has bit group-1. */
#define GROUP_BIT(g) (1u << ((g) - 1))

int
he_pref64_open_(evutil_socket_t *out)
{
	struct sockaddr_nl sa;
	int fd, err;

	*out = -1;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    NETLINK_ROUTE);
	if (fd < 0)
		return errno;
	memset(&sa, 0, sizeof(sa));
	sa.nl_family = AF_NETLINK;
	sa.nl_groups = GROUP_BIT(RTNLGRP_ND_USEROPT) |
	    GROUP_BIT(RTNLGRP_IPV6_PREFIX);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = errno;
		close(fd);
		return err;
	}
	*out = fd;
	return 0;
}

struct feed {
	struct he_nat64_cache *c;
	int64_t now;
	int applied;
};

static void
feed_event(const struct he_nd_event *ev, void *arg)
{
	struct feed *f = arg;

	if (ev->pref64) {
		he_nat64_cache_ra_(f->c, &ev->opt, ev->ifindex,
		    ev->has_router ? ev->router : NULL, f->now);
		f->applied++;
	} else {
		he_nat64_cache_ra_seen_(f->c, f->now);
	}
}

int
he_pref64_read_(evutil_socket_t fd, struct he_nat64_cache *c, int64_t now,
    int *applied)
{
	/* Messages are small (an option and a header); 8 KiB holds many. */
	union {
		struct nlmsghdr h;
		unsigned char b[8192];
	} buf;
	struct feed f;
	int err = 0;

	if (applied)
		*applied = 0;
	f.c = c;
	f.now = now;
	f.applied = 0;
	for (;;) {
		struct sockaddr_nl from;
		socklen_t flen = sizeof(from);
		ssize_t n = recvfrom(fd, buf.b, sizeof(buf.b), 0,
		    (struct sockaddr *)&from, &flen);
		if (n < 0) {
			int e = errno;
			if (e == EINTR)
				continue;
			if (e == ENOBUFS) {
				/* The queue overflowed: some messages are
				   gone; go on reading the rest. */
				err = ENOBUFS;
				continue;
			}
			if (e != EAGAIN && e != EWOULDBLOCK)
				err = e;
			break;
		}
		/* Only the kernel speaks for routers. */
		if (flen < sizeof(from) || from.nl_family != AF_NETLINK ||
		    from.nl_pid != 0)
			continue;
		he_pref64_parse_netlink_(buf.b, (size_t)n, feed_event, &f);
	}
	if (applied)
		*applied = f.applied;
	return err;
}

#else	/* !__linux__ */

int
he_pref64_open_(evutil_socket_t *out)
{
	*out = -1;
	return ENOSYS;
}

int
he_pref64_read_(evutil_socket_t fd, struct he_nat64_cache *c, int64_t now,
    int *applied)
{
	(void)fd;
	(void)c;
	(void)now;
	if (applied)
		*applied = 0;
	return ENOSYS;
}

#endif
