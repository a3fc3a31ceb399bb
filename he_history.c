/*
 * The connection history store (he_history.h).
 */
#include "he_internal.h"
#include "he_history.h"
#include "he_addrinfo.h"
#include "he_hash.h"
#include "he_proc.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

/* A destination on a network as three words: family, the network's slot
 * (HE_HISTORY_NETS of them), port and IPv6 scope; then the address (an
 * IPv4 one in the low half of w[1]).  Compared and hashed a word at a
 * time: a lookup is on every race's path, and a slot of a byte, not the
 * network's 64-bit key, keeps it as cheap as before networks. */
#define NET_SHIFT 8
struct he_hist_key {
	uint64_t w[3];
};

/* The network slot of a key. */
#define NET_OF(k) ((unsigned)((k)->w[0] >> NET_SHIFT) & 0xff)

/* One destination.  used == 0: a free slot. */
struct he_hist_entry {
	struct he_hnode node;
	struct he_hist_key key;
	uint64_t used;			/* LRU tick of the last use */
	int64_t learned;		/* when the verdict was learned */
	int64_t srtt, rttvar;
	uint8_t state;
	uint8_t taught;			/* verdicts learned (saturating) */
	uint8_t relied;			/* lookups that found it (saturating) */
	uint8_t from_file;		/* put from a file, not learned since */
	uint16_t error;
};

struct he_history {
	pthread_mutex_t lock;
	unsigned cur;			/* the current network's slot */
	uint64_t nets[HE_HISTORY_NETS];	/* the networks' keys, by slot */
	uint64_t net_tick[HE_HISTORY_NETS];	/* when a slot was last made
					   current (tick); 0: free (but
					   cur's is in use) */
	int64_t expiry;
	uint64_t tick;
	int n;
	struct he_hist_entry *e;
	struct he_htab index;
};

static struct he_hist_entry global_entries[HE_HISTORY_ENTRIES];
static struct he_hnode *global_buckets[2 * HE_HISTORY_ENTRIES];
static struct he_history global_store = {
	PTHREAD_MUTEX_INITIALIZER, 0, { 0 }, { 0 }, HE_HISTORY_EXPIRY_US, 0,
	HE_HISTORY_ENTRIES, global_entries,
	{ global_buckets, 2 * HE_HISTORY_ENTRIES - 1, 0 }
};

static struct he_fork_hooks fork_hooks = {
	NULL, NULL, NULL, &global_store.lock, NULL, 0
};
struct he_history *
he_history_global_(void)
{
	(void)he_proc_on_fork_(&fork_hooks);
	return &global_store;
}

int
he_history_new_(int nentries, struct he_history **out)
{
	struct he_history *h;

	*out = NULL;
	if (nentries < 1)
		return EINVAL;
	if (!(h = calloc(1, sizeof(*h))))
		return ENOMEM;
	if (!(h->e = calloc((size_t)nentries, sizeof(*h->e))) ||
	    he_htab_reserve_(&h->index, 2 * (size_t)nentries) != 0) {
		free(h->e);
		free(h);
		return ENOMEM;
	}
	pthread_mutex_init(&h->lock, NULL);
	h->expiry = HE_HISTORY_EXPIRY_US;
	h->n = nentries;
	*out = h;
	return 0;
}

void
he_history_free_(struct he_history *h)
{
	if (!h || h == &global_store)
		return;
	pthread_mutex_destroy(&h->lock);
	he_htab_free_(&h->index);
	free(h->e);
	free(h);
}

void
he_history_clear_(struct he_history *h)
{
	pthread_mutex_lock(&h->lock);
	memset(h->e, 0, (size_t)h->n * sizeof(*h->e));
	he_htab_clear_(&h->index);
	pthread_mutex_unlock(&h->lock);
}

void
he_history_set_expiry_(struct he_history *h, int64_t usec)
{
	pthread_mutex_lock(&h->lock);
	h->expiry = usec > 0 ? usec : HE_HISTORY_EXPIRY_US;
	pthread_mutex_unlock(&h->lock);
}

static void entry_drop(struct he_history *h, struct he_hist_entry *e);

static int
net_live(const struct he_history *h, unsigned i)
{
	return i == h->cur || h->net_tick[i] != 0;
}

/* The slot of network net: the one it has; a free one; with evict, the
 * one made current longest ago, after its entries are dropped; else -1. */
static int
net_slot(struct he_history *h, uint64_t net, int evict)
{
	unsigned i, spare = HE_HISTORY_NETS, old = HE_HISTORY_NETS;
	int j;

	for (i = 0; i < HE_HISTORY_NETS; i++) {
		if (net_live(h, i) && h->nets[i] == net)
			return (int)i;
		if (!net_live(h, i) && spare == HE_HISTORY_NETS)
			spare = i;
		if (i != h->cur && (old == HE_HISTORY_NETS ||
		    h->net_tick[i] < h->net_tick[old]))
			old = i;
	}
	if (spare == HE_HISTORY_NETS) {
		if (!evict)
			return -1;
		spare = old;
		for (j = 0; j < h->n; j++)
			if (h->e[j].used && NET_OF(&h->e[j].key) == spare)
				entry_drop(h, &h->e[j]);
	}
	h->nets[spare] = net;
	h->net_tick[spare] = 1;	/* in use, the oldest */
	return (int)spare;
}

void
he_history_set_network_(struct he_history *h, uint64_t net)
{
	pthread_mutex_lock(&h->lock);
	/* the slot left keeps its entries (the host may come back) */
	h->net_tick[h->cur] = ++h->tick;
	h->cur = (unsigned)net_slot(h, net, 1);
	h->net_tick[h->cur] = ++h->tick;
	pthread_mutex_unlock(&h->lock);
}

uint64_t
he_history_network_(struct he_history *h)
{
	uint64_t net;

	pthread_mutex_lock(&h->lock);
	net = h->nets[h->cur];
	pthread_mutex_unlock(&h->lock);
	return net;
}

int64_t
he_history_expiry_(struct he_history *h)
{
	int64_t e;

	pthread_mutex_lock(&h->lock);
	e = h->expiry;
	pthread_mutex_unlock(&h->lock);
	return e;
}

/* ---- the table (called with the lock held) ------------------------------ */

/* The key of a destination on the network of slot net; 0 for other
 * families. */
static inline int
key_of(const struct sockaddr *sa, unsigned net, struct he_hist_key *k)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
	uint32_t a4;

	if (!sa || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return 0;
	if (sa->sa_family == AF_INET) {
		memcpy(&a4, &in->sin_addr, 4);
		k->w[0] = (uint64_t)AF_INET | (uint64_t)net << NET_SHIFT |
		    (uint64_t)in->sin_port << 16;
		k->w[1] = a4;
		k->w[2] = 0;
		return 1;
	}
	k->w[0] = (uint64_t)AF_INET6 | (uint64_t)net << NET_SHIFT |
	    (uint64_t)in6->sin6_port << 16 |
	    (uint64_t)in6->sin6_scope_id << 32;
	memcpy(&k->w[1], &in6->sin6_addr, 16);
	return 1;
}

static int
same_key(const struct he_hist_key *a, const struct he_hist_key *b)
{
	return a->w[0] == b->w[0] && a->w[1] == b->w[1] && a->w[2] == b->w[2];
}

static uint64_t
key_hash(const struct he_hist_key *k)
{
	return he_hash_word_(k->w[0] ^ he_hash_word_(k->w[1] ^
	    he_hash_word_(k->w[2])));
}

static int64_t
age_of(const struct he_hist_entry *e, int64_t now)
{
	return now > e->learned ? now - e->learned : 0;
}

static int
expired(const struct he_history *h, const struct he_hist_entry *e,
    int64_t now)
{
	return age_of(e, now) >= h->expiry;
}

static void
entry_drop(struct he_history *h, struct he_hist_entry *e)
{
	he_htab_del_(&h->index, &e->node);
	memset(e, 0, sizeof(*e));
}

/* The live entry for k, or NULL; an expired one is dropped on the way. */
static struct he_hist_entry *
find(struct he_history *h, const struct he_hist_key *k, int64_t now)
{
	struct he_hnode *n;

	for (n = he_htab_first_(&h->index, key_hash(k)); n;
	    n = he_htab_next_(n)) {
		struct he_hist_entry *e = HE_CONTAINER(n,
		    struct he_hist_entry, node);
		if (!same_key(&e->key, k))
			continue;
		if (expired(h, e, now)) {
			entry_drop(h, e);
			return NULL;
		}
		e->used = ++h->tick;
		return e;
	}
	return NULL;
}

/* How much an entry is worth keeping: 0 expired, 1 seen once (one
 * verdict, never relied on, no RTT), 2 anything else. */
static int
worth(const struct he_history *h, const struct he_hist_entry *e,
    int64_t now)
{
	if (expired(h, e, now))
		return 0;
	if (e->taught <= 1 && !e->relied && e->state != HE_HIST_WORKED)
		return 1;
	return 2;
}

/* The slot a new destination takes: a free one, else the least worth
 * keeping, least recently used first. */
static struct he_hist_entry *
victim(struct he_history *h, int64_t now)
{
	struct he_hist_entry *v = NULL;
	int i, vw = 3, w;

	for (i = 0; i < h->n; i++) {
		struct he_hist_entry *e = &h->e[i];
		if (!e->used)
			return e;
		w = worth(h, e, now);
		if (w < vw || (w == vw && e->used < v->used)) {
			v = e;
			vw = w;
		}
	}
	entry_drop(h, v);
	return v;
}

/* The entry for k, made when there is none. */
static struct he_hist_entry *
find_or_make(struct he_history *h, const struct he_hist_key *k,
    int64_t now)
{
	struct he_hist_entry *e = find(h, k, now);

	if (e)
		return e;
	e = victim(h, now);
	e->key = *k;
	e->state = HE_HIST_UNKNOWN;
	e->used = ++h->tick;
	e->learned = now;
	he_htab_add_(&h->index, &e->node, key_hash(k));
	return e;
}

static uint32_t
clamp32(int64_t v)
{
	return v < 0 ? 0 : v > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* Look k up and fill *out; 1 when something is known. */
static int
lookup_locked(struct he_history *h, const struct he_hist_key *k,
    int64_t now, struct he_hist_info *out)
{
	struct he_hist_entry *e = find(h, k, now);

	memset(out, 0, sizeof(*out));
	if (!e)
		return 0;
	if (e->relied < UINT8_MAX)
		e->relied++;
	out->state = e->state;
	out->flags = e->from_file ? HE_HIST_FROM_FILE : 0;
	out->error = e->error;
	out->srtt = clamp32(e->srtt);
	out->rttvar = clamp32(e->rttvar);
	out->age = clamp32(age_of(e, now));
	return 1;
}

/* ---- the store's calls ---------------------------------------------------- */

int
he_history_lookup_(struct he_history *h, const struct sockaddr *sa,
    int64_t now, struct he_hist_info *out)
{
	struct he_hist_key k;
	int found;

	if (!key_of(sa, 0, &k)) {
		memset(out, 0, sizeof(*out));
		return 0;
	}
	pthread_mutex_lock(&h->lock);
	k.w[0] |= (uint64_t)h->cur << NET_SHIFT;	/* the network in use */
	found = lookup_locked(h, &k, now, out);
	pthread_mutex_unlock(&h->lock);
	return found;
}

void
he_history_fill_(struct he_history *h, struct evutil_addrinfo *list,
    int64_t now)
{
	struct he_hist_key k;

	pthread_mutex_lock(&h->lock);
	for (; list; list = list->ai_next) {
		struct he_hist_info *f = &HE_AI_META(list)->facts;
		if (key_of(he_ai_identity_(list), h->cur, &k))
			lookup_locked(h, &k, now, f);
		else
			memset(f, 0, sizeof(*f));
	}
	pthread_mutex_unlock(&h->lock);
}

/* RFC 6298 section 2: the first sample sets srtt = R and rttvar = R/2;
   later ones move them by 1/8 and 1/4. */
static void
rtt_sample(struct he_hist_entry *e, int64_t rtt)
{
	int64_t d;

	if (e->srtt <= 0) {
		e->srtt = rtt;
		e->rttvar = rtt / 2;
		return;
	}
	d = e->srtt > rtt ? e->srtt - rtt : rtt - e->srtt;
	e->rttvar = (3 * e->rttvar + d) / 4;
	e->srtt = (7 * e->srtt + rtt) / 8;
}

void
he_history_learn_(struct he_history *h, const struct sockaddr *sa,
    int64_t now, enum he_hist_state verdict, int error, int64_t rtt)
{
	struct he_hist_key k;
	struct he_hist_entry *e;

	if (verdict == HE_HIST_FAILED && !he_history_path_error_(error))
		return;
	if (verdict == HE_HIST_UNKNOWN || !key_of(sa, 0, &k))
		return;
	pthread_mutex_lock(&h->lock);
	k.w[0] |= (uint64_t)h->cur << NET_SHIFT;	/* the network in use */
	e = find_or_make(h, &k, now);
	if (verdict == HE_HIST_WORKED)
		rtt_sample(e, rtt < 1 ? 1 : rtt);
	e->state = (uint8_t)verdict;
	e->error = verdict == HE_HIST_FAILED ? (uint16_t)error : 0;
	e->learned = now;
	e->from_file = 0;
	if (e->taught < UINT8_MAX)
		e->taught++;
	pthread_mutex_unlock(&h->lock);
}

/* A free or expired slot, or NULL (nothing is evicted). */
static struct he_hist_entry *
spare(struct he_history *h, int64_t now)
{
	int i;

	for (i = 0; i < h->n; i++) {
		struct he_hist_entry *e = &h->e[i];
		if (!e->used)
			return e;
		if (expired(h, e, now)) {
			entry_drop(h, e);
			return e;
		}
	}
	return NULL;
}

/* The sockaddr of an entry's key, for he_history_each_. */
static void
sockaddr_of(const struct he_hist_key *k, struct sockaddr_storage *ss)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	uint32_t a4;

	memset(ss, 0, sizeof(*ss));
	if ((k->w[0] & 0xff) == AF_INET) {
		in->sin_family = AF_INET;
		in->sin_port = (uint16_t)(k->w[0] >> 16);
		a4 = (uint32_t)k->w[1];
		memcpy(&in->sin_addr, &a4, 4);
		return;
	}
	in6->sin6_family = AF_INET6;
	in6->sin6_port = (uint16_t)(k->w[0] >> 16);
	in6->sin6_scope_id = (uint32_t)(k->w[0] >> 32);
	memcpy(&in6->sin6_addr, &k->w[1], 16);
}

int
he_history_put_(struct he_history *h, const struct he_hist_rec *r,
    int64_t now, int may_evict)
{
	struct he_hist_key k;
	struct he_hist_entry *e;
	int took = 0, net;

	if (r->state != HE_HIST_WORKED && r->state != HE_HIST_FAILED &&
	    r->state != HE_HIST_HUNG)
		return 0;
	pthread_mutex_lock(&h->lock);
	if (now - r->learned >= h->expiry ||
	    (net = net_slot(h, r->net, 0)) < 0 ||
	    !key_of(r->sa, (unsigned)net, &k))
		goto end;
	if ((e = find(h, &k, now)) != NULL) {
		if (e->learned >= r->learned)
			goto end;	/* this process knows newer */
	} else {
		if (!(e = may_evict ? victim(h, now) : spare(h, now)))
			goto end;
		e->key = k;
		e->used = ++h->tick;
		e->taught = 1;
		he_htab_add_(&h->index, &e->node, key_hash(&k));
	}
	e->state = (uint8_t)r->state;
	e->error = r->state == HE_HIST_FAILED ? (uint16_t)r->error : 0;
	e->srtt = r->srtt > 0 ? r->srtt : 0;
	e->rttvar = r->srtt > 0 && r->rttvar > 0 ? r->rttvar : 0;
	e->learned = r->learned;
	e->from_file = 1;
	took = 1;
end:
	pthread_mutex_unlock(&h->lock);
	return took;
}

int
he_history_each_(struct he_history *h, int64_t now, int all,
    he_hist_each_fn fn, void *arg)
{
	struct sockaddr_storage ss;
	struct he_hist_rec r;
	int i, n = 0;

	pthread_mutex_lock(&h->lock);
	for (i = 0; i < h->n; i++) {
		const struct he_hist_entry *e = &h->e[i];
		unsigned net = NET_OF(&e->key);
		if (!e->used || e->state == HE_HIST_UNKNOWN ||
		    expired(h, e, now) || (!all && net != h->cur))
			continue;
		sockaddr_of(&e->key, &ss);
		r.net = h->nets[net];
		r.sa = (const struct sockaddr *)&ss;
		r.state = (enum he_hist_state)e->state;
		r.error = e->error;
		r.srtt = e->srtt;
		r.rttvar = e->rttvar;
		r.learned = e->learned;
		r.from_file = e->from_file;
		fn(&r, arg);
		n++;
	}
	pthread_mutex_unlock(&h->lock);
	return n;
}

void
he_history_forget_network_(struct he_history *h)
{
	int i;

	pthread_mutex_lock(&h->lock);
	for (i = 0; i < h->n; i++)
		if (h->e[i].used && NET_OF(&h->e[i].key) == h->cur)
			entry_drop(h, &h->e[i]);
	pthread_mutex_unlock(&h->lock);
}

int
he_history_count_(struct he_history *h, int64_t now)
{
	int i, n = 0;

	pthread_mutex_lock(&h->lock);
	for (i = 0; i < h->n; i++)
		if (h->e[i].used && !expired(h, &h->e[i], now))
			n++;
	pthread_mutex_unlock(&h->lock);
	return n;
}

int
he_history_path_error_(int error)
{
	switch (error) {
	case ECONNREFUSED: case ECONNRESET: case ECONNABORTED:
	case ETIMEDOUT: case EHOSTUNREACH: case ENETUNREACH:
	case EHOSTDOWN: case ENETDOWN: case EPROTO:
		return 1;
	default:
		return 0;
	}
}
