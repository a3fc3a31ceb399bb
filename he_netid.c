/*
 * The network's identity and its change watch, read over rtnetlink.  See
 * he_netid.h for what goes into the key and why.
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include "he_netid.h"
#include "he_hash.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/event.h>

#ifdef __linux__
#include <net/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#endif

/* ---- the canonical form and the key (every platform) -------------------- */

static void
mask_bits(unsigned char *a, int alen, int plen)
{
	int i;

	for (i = 0; i < alen; i++) {
		int keep = plen - 8 * i;
		if (keep >= 8)
			continue;
		a[i] &= keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
	}
}

static int
route_cmp(const struct he_netid_route *a, const struct he_netid_route *b)
{
	int c = memcmp(a->gw, b->gw, sizeof(a->gw));
	return c ? c : memcmp(a->dev, b->dev, sizeof(a->dev));
}

static int
prefix_cmp(const struct he_netid_prefix *a, const struct he_netid_prefix *b)
{
	int c = memcmp(a->addr, b->addr, sizeof(a->addr));
	return c ? c : (int)a->plen - (int)b->plen;
}

/* Insert x (of size bytes) into the sorted array arr of *n entries and at
   most cap, keeping the smallest cap entries whatever the order of
   insertion; duplicates are dropped. */
static void
sorted_insert(void *arr, int *n, int cap, size_t size, const void *x,
    int (*cmp)(const void *, const void *))
{
	char *a = arr;
	int i = 0, c = 1;

	while (i < *n && (c = cmp(a + (size_t)i * size, x)) < 0)
		i++;
	if ((i < *n && c == 0) || i >= cap)
		return;
	if (*n == cap)
		(*n)--;
	memmove(a + (size_t)(i + 1) * size, a + (size_t)i * size,
	    (size_t)(*n - i) * size);
	memcpy(a + (size_t)i * size, x, size);
	(*n)++;
}

static int
route_cmp_v(const void *a, const void *b)
{
	return route_cmp(a, b);
}

static int
prefix_cmp_v(const void *a, const void *b)
{
	return prefix_cmp(a, b);
}

static void
route_insert(struct he_netid_route *arr, int *n, int cap,
    const struct he_netid_route *r)
{
	sorted_insert(arr, n, cap, sizeof(*r), r, route_cmp_v);
}

static void
prefix_insert(struct he_netid_prefix *arr, int *n, int cap,
    const struct he_netid_prefix *p)
{
	sorted_insert(arr, n, cap, sizeof(*p), p, prefix_cmp_v);
}

/* A route in canonical shape: only the family's bytes, the name '\0'
   padded. */
static void
route_clean(struct he_netid_route *r, int alen)
{
	size_t len = strnlen(r->dev, sizeof(r->dev) - 1);

	memset(r->gw + alen, 0, sizeof(r->gw) - (size_t)alen);
	memset(r->dev + len, 0, sizeof(r->dev) - len);
}

/* A prefix in canonical shape: IPv6 at most a /64, masked. */
static void
prefix_clean(struct he_netid_prefix *p, int alen)
{
	int max = alen == 4 ? 32 : 64;

	if (p->plen > max)
		p->plen = (unsigned char)max;
	memset(p->addr + alen, 0, sizeof(p->addr) - (size_t)alen);
	mask_bits(p->addr, alen, p->plen);
}

static void
family_canon(struct he_netid_family *f, int alen)
{
	struct he_netid_family in = *f;
	int i;

	memset(f, 0, sizeof(*f));
	for (i = 0; i < in.nroutes && i < HE_NETID_MAX_ROUTES; i++) {
		route_clean(&in.route[i], alen);
		route_insert(f->route, &f->nroutes, HE_NETID_MAX_ROUTES,
		    &in.route[i]);
	}
	for (i = 0; i < in.nprefixes && i < HE_NETID_MAX_PREFIXES; i++) {
		prefix_clean(&in.prefix[i], alen);
		prefix_insert(f->prefix, &f->nprefixes, HE_NETID_MAX_PREFIXES,
		    &in.prefix[i]);
	}
}

static uint64_t
family_hash(uint64_t h, unsigned char tag, const struct he_netid_family *f)
{
	unsigned char b;
	int i;

	h = he_fnv_(h, &tag, 1);
	b = (unsigned char)f->nroutes;
	h = he_fnv_(h, &b, 1);
	for (i = 0; i < f->nroutes; i++) {
		h = he_fnv_(h, f->route[i].gw, sizeof(f->route[i].gw));
		h = he_fnv_(h, f->route[i].dev, sizeof(f->route[i].dev));
	}
	b = (unsigned char)f->nprefixes;
	h = he_fnv_(h, &b, 1);
	for (i = 0; i < f->nprefixes; i++) {
		h = he_fnv_(h, f->prefix[i].addr, sizeof(f->prefix[i].addr));
		h = he_fnv_(h, &f->prefix[i].plen, 1);
	}
	return h;
}

uint64_t
he_netid_key_(struct he_netid *id)
{
	unsigned char v = HE_NETID_VERSION;
	uint64_t h;

	family_canon(&id->v4, 4);
	family_canon(&id->v6, 16);
	h = he_fnv_(HE_FNV_INIT, &v, 1);
	h = family_hash(h, 4, &id->v4);
	h = family_hash(h, 6, &id->v6);
	/* 0 is left to callers as "no key" */
	id->key = h ? h : 1;
	return id->key;
}

uint64_t
he_netid_none_key_(void)
{
	struct he_netid id;

	memset(&id, 0, sizeof(id));
	return he_netid_key_(&id);
}

/* snprintf-like appending: *used counts what was needed, buf stays ended */
static void
put(char *buf, size_t len, size_t *used, const char *s)
{
	size_t n = strlen(s);

	if (*used < len) {
		size_t room = len - *used - 1;
		memcpy(buf + *used, s, n < room ? n : room);
		buf[*used + (n < room ? n : room)] = '\0';
	}
	*used += n;
}

static void
format_family(const struct he_netid_family *f, int af, char *buf,
    size_t len, size_t *used)
{
	char a[INET6_ADDRSTRLEN], num[8];
	static const unsigned char zero[16];
	int i, alen = af == AF_INET ? 4 : 16;

	put(buf, len, used, af == AF_INET ? "v4" : "v6");
	for (i = 0; i < f->nroutes; i++) {
		if (memcmp(f->route[i].gw, zero, (size_t)alen) &&
		    inet_ntop(af, f->route[i].gw, a, sizeof(a))) {
			put(buf, len, used, " via ");
			put(buf, len, used, a);
		}
		put(buf, len, used, " dev ");
		put(buf, len, used, f->route[i].dev[0] ? f->route[i].dev : "?");
	}
	for (i = 0; i < f->nprefixes; i++) {
		if (!inet_ntop(af, f->prefix[i].addr, a, sizeof(a)))
			continue;
		snprintf(num, sizeof(num), "/%u", f->prefix[i].plen);
		put(buf, len, used, " ");
		put(buf, len, used, a);
		put(buf, len, used, num);
	}
}

int
he_netid_format_(const struct he_netid *id, char *buf, size_t len)
{
	size_t used = 0;
	int v4 = id->v4.nroutes || id->v4.nprefixes;
	int v6 = id->v6.nroutes || id->v6.nprefixes;

	if (len)
		buf[0] = '\0';
	if (!id->v4.nroutes && !id->v6.nroutes)
		put(buf, len, &used, "no default route");
	if (v4) {
		put(buf, len, &used, used ? "; " : "");
		format_family(&id->v4, AF_INET, buf, len, &used);
	}
	if (v6) {
		put(buf, len, &used, used ? "; " : "");
		format_family(&id->v6, AF_INET6, buf, len, &used);
	}
	return (int)used;
}

#ifdef __linux__
/* ---- reading the kernel's view ------------------------------------------- */

#define NL_BUF 32768
/* NLMSG_OK with the length's sign made explicit: an int, which a last
   NLMSG_NEXT may take below 0 (clang's -Wsign-compare objects to the
   kernel's macro) */
#define NL_OK(h, len) ((len) >= (int)sizeof(struct nlmsghdr) && \
	(h)->nlmsg_len >= sizeof(struct nlmsghdr) && \
	(int)(h)->nlmsg_len <= (len))
/* A default route before it is chosen: only the lowest metric counts. */
#define CANDIDATES 16
#define IFACES 8

struct candidate {
	uint32_t metric;
	int ifindex;
	unsigned char gw[16];
};

struct gather {
	int ncand[2];
	struct candidate cand[2][CANDIDATES];	/* [0] IPv4, [1] IPv6 */
	int nif;
	int ifindex[IFACES];
	char ifname[IFACES][HE_NETID_DEV_LEN];
	struct he_netid *id;
};

struct nlsock {
	int fd;
	uint32_t seq;
	char *buf;
};

static int
nl_open(struct nlsock *s)
{
	struct timeval tv = { 1, 0 };

	s->seq = 0;
	if (!(s->buf = malloc(NL_BUF)))
		return -1;
	s->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (s->fd < 0) {
		free(s->buf);
		return -1;
	}
	/* the kernel answers at once; the bound is against the impossible */
	setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return 0;
}

static void
nl_close(struct nlsock *s)
{
	int e = errno;

	close(s->fd);
	free(s->buf);
	errno = e;
}

static int
nl_send(struct nlsock *s, int type, int flags, const void *body,
    size_t blen)
{
	struct {
		struct nlmsghdr h;
		char body[64];
	} req;
	struct sockaddr_nl kernel;
	ssize_t n;

	memset(&req, 0, sizeof(req));
	memset(&kernel, 0, sizeof(kernel));
	kernel.nl_family = AF_NETLINK;
	req.h.nlmsg_len = (uint32_t)NLMSG_LENGTH(blen);
	req.h.nlmsg_type = (uint16_t)type;
	req.h.nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
	req.h.nlmsg_seq = ++s->seq;
	memcpy(NLMSG_DATA(&req.h), body, blen);
	do
		n = sendto(s->fd, &req, req.h.nlmsg_len, 0,
		    (struct sockaddr *)&kernel, sizeof(kernel));
	while (n < 0 && errno == EINTR);
	return n < 0 ? -1 : 0;
}

/* recv, with what was cut short said (a length above len), and 0 for
   what did not come from the kernel: another process may send to any
   netlink socket, and must not steer the key. */
static ssize_t
nl_read(int fd, char *buf, size_t len, int flags)
{
	struct sockaddr_nl from;
	socklen_t fromlen = sizeof(from);
	ssize_t n;

	memset(&from, 0, sizeof(from));
	n = recvfrom(fd, buf, len, flags | MSG_TRUNC,
	    (struct sockaddr *)&from, &fromlen);
	if (n > 0 && (fromlen < sizeof(from) || from.nl_pid != 0))
		return 0;
	return n;
}

typedef void (*nl_each_fn)(const struct nlmsghdr *h, struct gather *g);

/* Read the answer to the last request, each message to fn, until DONE
   (a dump) or the one answer.  Returns 0, 1 when the dump was
   interrupted by a change (NLM_F_DUMP_INTR: read it again), or -1. */
static int
nl_recv(struct nlsock *s, int dump, nl_each_fn fn, struct gather *g)
{
	int intr = 0;

	for (;;) {
		struct nlmsghdr *h;
		ssize_t n;
		int len;

		n = nl_read(s->fd, s->buf, NL_BUF, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)	/* another process's message: ignored */
			continue;
		if (n > NL_BUF) {	/* cut short */
			errno = EIO;
			return -1;
		}
		len = (int)n;
		for (h = (struct nlmsghdr *)s->buf; NL_OK(h, len);
		    h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_seq != s->seq)
				continue;
			if (h->nlmsg_flags & NLM_F_DUMP_INTR)
				intr = 1;
			if (h->nlmsg_type == NLMSG_DONE)
				return intr;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e))) {
					errno = EIO;
					return -1;
				}
				if (e->error == 0 && !dump)
					return 0;
				errno = e->error ? -e->error : EIO;
				return -1;
			}
			fn(h, g);
			if (!dump)
				return 0;
		}
	}
}

static void
note_candidate(struct gather *g, int fam, uint32_t metric, int ifindex,
    const void *gw, size_t gwlen)
{
	struct candidate *c = g->cand[fam], *worst = NULL;
	int i, *n = &g->ncand[fam];

	if (ifindex <= 0)
		return;
	if (*n == CANDIDATES) {
		/* full: replace the highest metric, if this one is lower */
		for (i = 0; i < *n; i++)
			if (!worst || c[i].metric > worst->metric)
				worst = &c[i];
		if (worst->metric <= metric)
			return;
	} else {
		worst = &c[(*n)++];
	}
	memset(worst, 0, sizeof(*worst));
	worst->metric = metric;
	worst->ifindex = ifindex;
	if (gw && gwlen <= sizeof(worst->gw))
		memcpy(worst->gw, gw, gwlen);
}

/* A route's gateway: RTA_GATEWAY of its family's size, or RTA_VIA. */
static void
gateway_of(const struct rtattr *a, int family, const void **gw,
    size_t *gwlen)
{
	size_t alen = family == AF_INET ? 4 : 16;

	if (a->rta_type == RTA_GATEWAY && RTA_PAYLOAD(a) == alen) {
		*gw = RTA_DATA(a);
		*gwlen = alen;
	}
#ifdef RTA_VIA
	if (a->rta_type == RTA_VIA && RTA_PAYLOAD(a) >= sizeof(uint16_t)) {
		const unsigned char *v = RTA_DATA(a);
		*gw = v + sizeof(uint16_t);
		*gwlen = RTA_PAYLOAD(a) - sizeof(uint16_t);
		if (*gwlen > 16)
			*gwlen = 16;
	}
#endif
}

static void
each_route(const struct nlmsghdr *h, struct gather *g)
{
	const struct rtmsg *rt = NLMSG_DATA(h);
	const struct rtattr *a, *mp = NULL;
	const void *gw = NULL;
	size_t gwlen = 0;
	uint32_t table, metric = 0;
	int oif = 0, fam, len;

	if (h->nlmsg_type != RTM_NEWROUTE ||
	    h->nlmsg_len < NLMSG_LENGTH(sizeof(*rt)))
		return;
	if (rt->rtm_family != AF_INET && rt->rtm_family != AF_INET6)
		return;
	if (rt->rtm_dst_len != 0 || rt->rtm_type != RTN_UNICAST ||
	    (rt->rtm_flags & (RTNH_F_DEAD | RTNH_F_LINKDOWN)))
		return;
	fam = rt->rtm_family == AF_INET ? 0 : 1;
	table = rt->rtm_table;
	len = (int)RTM_PAYLOAD(h);
	for (a = RTM_RTA(rt); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		switch (a->rta_type) {
		case RTA_TABLE:
			if (RTA_PAYLOAD(a) >= 4)
				memcpy(&table, RTA_DATA(a), 4);
			break;
		case RTA_OIF:
			if (RTA_PAYLOAD(a) >= 4)
				memcpy(&oif, RTA_DATA(a), 4);
			break;
		case RTA_PRIORITY:
			if (RTA_PAYLOAD(a) >= 4)
				memcpy(&metric, RTA_DATA(a), 4);
			break;
		case RTA_MULTIPATH:
			mp = a;
			break;
		default:
			gateway_of(a, rt->rtm_family, &gw, &gwlen);
		}
	}
	if (table != RT_TABLE_MAIN)
		return;
	if (!mp) {
		note_candidate(g, fam, metric, oif, gw, gwlen);
		return;
	}
	/* multipath: each live next hop is a route of the same metric */
	{
		const struct rtnexthop *nh = RTA_DATA(mp);
		int left = (int)RTA_PAYLOAD(mp);

		while (left >= (int)sizeof(*nh) && nh->rtnh_len >= sizeof(*nh) &&
		    (int)nh->rtnh_len <= left) {
			int alen = nh->rtnh_len - (int)sizeof(*nh);

			gw = NULL;
			gwlen = 0;
			for (a = RTNH_DATA(nh); RTA_OK(a, alen);
			    a = RTA_NEXT(a, alen))
				gateway_of(a, rt->rtm_family, &gw, &gwlen);
			if (!(nh->rtnh_flags & (RTNH_F_DEAD | RTNH_F_LINKDOWN)))
				note_candidate(g, fam, metric, nh->rtnh_ifindex,
				    gw, gwlen);
			left -= RTNH_ALIGN(nh->rtnh_len);
			nh = (const struct rtnexthop *)((const char *)nh +
			    RTNH_ALIGN(nh->rtnh_len));
		}
	}
}

static int
iface_index(const struct gather *g, int ifindex)
{
	int i;

	for (i = 0; i < g->nif; i++)
		if (g->ifindex[i] == ifindex)
			return i;
	return -1;
}

/* Keep the lowest metric's routes of each family; list their interfaces. */
static void
choose_routes(struct gather *g)
{
	int fam, i;

	g->nif = 0;
	for (fam = 0; fam < 2; fam++) {
		uint32_t best = UINT32_MAX;
		int n = 0;

		for (i = 0; i < g->ncand[fam]; i++)
			if (g->cand[fam][i].metric < best)
				best = g->cand[fam][i].metric;
		for (i = 0; i < g->ncand[fam]; i++) {
			struct candidate *c = &g->cand[fam][i];
			if (c->metric != best)
				continue;
			g->cand[fam][n++] = *c;
			if (iface_index(g, c->ifindex) < 0 && g->nif < IFACES)
				g->ifindex[g->nif++] = c->ifindex;
		}
		g->ncand[fam] = n;
	}
}

static void
each_addr(const struct nlmsghdr *h, struct gather *g)
{
	const struct ifaddrmsg *ifa = NLMSG_DATA(h);
	const struct rtattr *a;
	const void *addr = NULL, *local = NULL;
	struct he_netid_prefix p;
	struct he_netid_family *f;
	size_t alen;
	int len;

	if (h->nlmsg_type != RTM_NEWADDR ||
	    h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifa)))
		return;
	if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
		return;
	if (ifa->ifa_scope != RT_SCOPE_UNIVERSE ||
	    iface_index(g, (int)ifa->ifa_index) < 0)
		return;
	alen = ifa->ifa_family == AF_INET ? 4 : 16;
	len = (int)IFA_PAYLOAD(h);
	for (a = IFA_RTA(ifa); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (RTA_PAYLOAD(a) != alen)
			continue;
		if (a->rta_type == IFA_ADDRESS)
			addr = RTA_DATA(a);
		else if (a->rta_type == IFA_LOCAL)
			local = RTA_DATA(a);
	}
	/* IPv4: IFA_LOCAL is this host's address (IFA_ADDRESS is the peer of
	   a point-to-point link); IPv6 has IFA_ADDRESS only */
	if (local && ifa->ifa_family == AF_INET)
		addr = local;
	if (!addr)
		return;
	memset(&p, 0, sizeof(p));
	memcpy(p.addr, addr, alen);
	p.plen = ifa->ifa_prefixlen;
	prefix_clean(&p, (int)alen);
	f = ifa->ifa_family == AF_INET ? &g->id->v4 : &g->id->v6;
	prefix_insert(f->prefix, &f->nprefixes, HE_NETID_MAX_PREFIXES, &p);
}

static void
each_link(const struct nlmsghdr *h, struct gather *g)
{
	const struct ifinfomsg *ifi = NLMSG_DATA(h);
	const struct rtattr *a;
	int i, len;

	if (h->nlmsg_type != RTM_NEWLINK ||
	    h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)) ||
	    (i = iface_index(g, ifi->ifi_index)) < 0)
		return;
	len = (int)IFLA_PAYLOAD(h);
	for (a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type != IFLA_IFNAME)
			continue;
		memset(g->ifname[i], 0, sizeof(g->ifname[i]));
		memcpy(g->ifname[i], RTA_DATA(a),
		    RTA_PAYLOAD(a) < HE_NETID_DEV_LEN - 1 ?
		    RTA_PAYLOAD(a) : HE_NETID_DEV_LEN - 1);
	}
}

/* A dump of every object of a type, each to fn: its request is a header
   of blen bytes, all zero (AF_UNSPEC: both families).  0, 1 when the dump
   was interrupted, or -1. */
static int
nl_dump(struct nlsock *s, int type, size_t blen, nl_each_fn fn,
    struct gather *g)
{
	static const unsigned char unspec[64];

	if (nl_send(s, type, NLM_F_DUMP, unspec, blen) < 0)
		return -1;
	return nl_recv(s, 1, fn, g);
}

/* One consistent reading: 0, 1 when a dump was interrupted, -1. */
static int
read_once(struct nlsock *s, struct gather *g)
{
	struct ifinfomsg ifi;
	int i, fam, r, intr = 0;

	if ((r = nl_dump(s, RTM_GETROUTE, sizeof(struct rtmsg), each_route,
	    g)) < 0)
		return -1;
	intr |= r;
	choose_routes(g);
	if (g->nif == 0)
		return intr;	/* no default route: addresses do not count */

	if ((r = nl_dump(s, RTM_GETADDR, sizeof(struct ifaddrmsg), each_addr,
	    g)) < 0)
		return -1;
	intr |= r;

	for (i = 0; i < g->nif; i++) {
		memset(&ifi, 0, sizeof(ifi));
		ifi.ifi_family = AF_UNSPEC;
		ifi.ifi_index = g->ifindex[i];
		if (nl_send(s, RTM_GETLINK, 0, &ifi, sizeof(ifi)) < 0)
			return -1;
		if (nl_recv(s, 0, each_link, g) < 0) {
			/* gone since the route was read: the next reading,
			   after the watch fired, will say so */
			if (errno != ENODEV)
				return -1;
			intr = 1;
		}
	}
	for (fam = 0; fam < 2; fam++) {
		struct he_netid_family *f = fam ? &g->id->v6 : &g->id->v4;

		for (i = 0; i < g->ncand[fam]; i++) {
			struct he_netid_route r6;
			int k = iface_index(g, g->cand[fam][i].ifindex);

			memset(&r6, 0, sizeof(r6));
			memcpy(r6.gw, g->cand[fam][i].gw, sizeof(r6.gw));
			if (k >= 0)
				memcpy(r6.dev, g->ifname[k], sizeof(r6.dev));
			route_clean(&r6, fam ? 16 : 4);
			route_insert(f->route, &f->nroutes, HE_NETID_MAX_ROUTES,
			    &r6);
		}
	}
	return intr;
}

int
he_netid_read_(struct he_netid *out)
{
	struct nlsock s;
	struct gather *g;
	int tries, r = -1;

	if (!out) {
		errno = EINVAL;
		return -1;
	}
	if (!(g = malloc(sizeof(*g))))
		return -1;
	if (nl_open(&s) < 0) {
		free(g);
		return -1;
	}
	/* a dump interrupted by a change is read again, a few times; the
	   watch fires for that change anyway */
	for (tries = 0; tries < 3; tries++) {
		memset(g, 0, sizeof(*g));
		memset(out, 0, sizeof(*out));
		g->id = out;
		if ((r = read_once(&s, g)) <= 0)
			break;
	}
	if (r >= 0) {
		he_netid_key_(out);
		r = 0;
	}
	nl_close(&s);
	free(g);
	return r;
}

/* ---- the watch ------------------------------------------------------------- */

#define WATCH_LINKS 64

struct he_netwatch {
	pthread_mutex_t lock;
	int fd;
	pid_t pid;
	int dirty;
	struct event *ev;
	he_netwatch_cb cb;
	void *cb_arg;
	/* the last flags seen per interface: carrier changes come with
	   ifi_change 0, as do wireless events, which change nothing */
	int nlinks;
	struct {
		int ifindex;
		unsigned flags;
	} links[WATCH_LINKS];
};

#ifndef IFF_LOWER_UP		/* <linux/if.h>'s, which clashes with <net/if.h> */
#define IFF_LOWER_UP 0x10000
#endif
#define LINK_FLAGS (IFF_UP | IFF_RUNNING | IFF_LOWER_UP)

static int
watch_open(void)
{
	struct sockaddr_nl me;
	int fd;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    NETLINK_ROUTE);
	if (fd < 0)
		return -1;
	memset(&me, 0, sizeof(me));
	me.nl_family = AF_NETLINK;
	me.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE |
	    RTMGRP_IPV6_IFADDR | RTMGRP_IPV6_ROUTE;
	if (bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Whether a link message changes what matters: its up/running state
   (IPv4 routes of a link that goes down vanish without a route message). */
static int
link_changed(struct he_netwatch *w, const struct nlmsghdr *h)
{
	const struct ifinfomsg *ifi = NLMSG_DATA(h);
	unsigned flags;
	int i;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return 1;
	flags = ifi->ifi_flags & LINK_FLAGS;
	for (i = 0; i < w->nlinks; i++)
		if (w->links[i].ifindex == ifi->ifi_index)
			break;
	if (h->nlmsg_type == RTM_DELLINK) {
		if (i < w->nlinks)
			w->links[i] = w->links[--w->nlinks];
		return 1;
	}
	if (i < w->nlinks) {
		if (w->links[i].flags == flags && !(ifi->ifi_change & LINK_FLAGS))
			return 0;
	} else if (w->nlinks < WATCH_LINKS) {
		i = w->nlinks++;
		w->links[i].ifindex = ifi->ifi_index;
	} else {
		return 1;
	}
	w->links[i].flags = flags;
	return 1;
}

static int
relevant(struct he_netwatch *w, const struct nlmsghdr *h)
{
	switch (h->nlmsg_type) {
	case RTM_NEWROUTE:
	case RTM_DELROUTE: {
		const struct rtmsg *rt = NLMSG_DATA(h);
		return h->nlmsg_len < NLMSG_LENGTH(sizeof(*rt)) ||
		    rt->rtm_dst_len == 0;
	}
	case RTM_NEWADDR:
	case RTM_DELADDR: {
		const struct ifaddrmsg *ifa = NLMSG_DATA(h);
		return h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifa)) ||
		    ifa->ifa_scope == RT_SCOPE_UNIVERSE;
	}
	case RTM_NEWLINK:
	case RTM_DELLINK:
		return link_changed(w, h);
	default:
		return 0;
	}
}

/* Read what is queued, with the lock held; -1 when the socket failed. */
static int
drain(struct he_netwatch *w)
{
	char buf[8192];

	for (;;) {
		struct nlmsghdr *h;
		ssize_t n = nl_read(w->fd, buf, sizeof(buf), MSG_DONTWAIT);
		int len;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == ENOBUFS) {	/* notifications were lost */
				w->dirty = 1;
				continue;
			}
			w->dirty = 1;
			return -1;
		}
		if (n > (ssize_t)sizeof(buf)) {	/* cut short: assume */
			w->dirty = 1;
			continue;
		}
		len = (int)n;
		for (h = (struct nlmsghdr *)buf; NL_OK(h, len);
		    h = NLMSG_NEXT(h, len))
			if (relevant(w, h))
				w->dirty = 1;
	}
}

struct he_netwatch *
he_netwatch_new_(void)
{
	struct he_netwatch *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	if ((w->fd = watch_open()) < 0) {
		free(w);
		return NULL;
	}
	w->pid = getpid();
	pthread_mutex_init(&w->lock, NULL);
	return w;
}

void
he_netwatch_free_(struct he_netwatch *w)
{
	if (!w)
		return;
	he_netwatch_detach_(w);
	close(w->fd);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

int
he_netwatch_fd_(const struct he_netwatch *w)
{
	return w ? w->fd : -1;
}

int
he_netwatch_changed_(struct he_netwatch *w)
{
	int r;

	if (!w) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&w->lock);
	if (w->pid != getpid()) {
		/* a child: the socket is shared with the parent, whose
		   notifications it must not take */
		w->dirty = 0;
		if (!w->ev) {
			int fd = watch_open();
			if (fd >= 0) {
				close(w->fd);
				w->fd = fd;
				w->pid = getpid();
				w->nlinks = 0;
			}
		}
		pthread_mutex_unlock(&w->lock);
		return 1;
	}
	r = drain(w);
	if (r == 0) {
		r = w->dirty;
		w->dirty = 0;
	}
	pthread_mutex_unlock(&w->lock);
	return r;
}

static void
watch_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct he_netwatch *w = arg;
	he_netwatch_cb cb;
	void *cb_arg;
	int dirty;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&w->lock);
	if (w->pid == getpid())
		drain(w);
	dirty = w->dirty;
	cb = w->cb;
	cb_arg = w->cb_arg;
	pthread_mutex_unlock(&w->lock);
	if (dirty && cb)
		cb(w, cb_arg);
}

int
he_netwatch_attach_(struct he_netwatch *w, struct event_base *base,
    he_netwatch_cb cb, void *arg)
{
	struct event *ev;

	if (!w || !base || !cb) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&w->lock);
	ev = w->ev;
	pthread_mutex_unlock(&w->lock);
	if (ev) {
		errno = EBUSY;
		return -1;
	}
	ev = event_new(base, w->fd, EV_READ | EV_PERSIST, watch_event_cb, w);
	if (!ev || event_add(ev, NULL) < 0) {
		if (ev)
			event_free(ev);
		errno = ENOMEM;
		return -1;
	}
	pthread_mutex_lock(&w->lock);
	w->cb = cb;
	w->cb_arg = arg;
	w->ev = ev;
	pthread_mutex_unlock(&w->lock);
	return 0;
}

void
he_netwatch_detach_(struct he_netwatch *w)
{
	struct event *ev;

	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	ev = w->ev;
	w->ev = NULL;
	w->cb = NULL;
	w->cb_arg = NULL;
	pthread_mutex_unlock(&w->lock);
	if (ev)
		event_free(ev);
}

#else /* !__linux__ */

int
he_netid_read_(struct he_netid *out)
{
	(void)out;
	errno = ENOSYS;
	return -1;
}

struct he_netwatch *
he_netwatch_new_(void)
{
	errno = ENOSYS;
	return NULL;
}

void he_netwatch_free_(struct he_netwatch *w) { (void)w; }
int he_netwatch_fd_(const struct he_netwatch *w) { (void)w; return -1; }

int
he_netwatch_changed_(struct he_netwatch *w)
{
	(void)w;
	errno = ENOSYS;
	return -1;
}

int
he_netwatch_attach_(struct he_netwatch *w, struct event_base *base,
    he_netwatch_cb cb, void *arg)
{
	(void)w; (void)base; (void)cb; (void)arg;
	errno = ENOSYS;
	return -1;
}

void he_netwatch_detach_(struct he_netwatch *w) { (void)w; }

#endif
