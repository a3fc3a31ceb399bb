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

/* A destination as three words: family, port and IPv6 scope; then the
 * address (an IPv4 one in the low half of w[1]).  Compared and hashed a
 * word at a time: a lookup is on every race's path. */
struct he_hist_key {
	uint64_t w[3];
};

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
	uint16_t error;
};

struct he_history {
	pthread_mutex_t lock;
	int64_t expiry;
	uint64_t tick;
	int n;
	struct he_hist_entry *e;
	struct he_htab index;
};

static struct he_hist_entry global_entries[HE_HISTORY_ENTRIES];
static struct he_hnode *global_buckets[2 * HE_HISTORY_ENTRIES];
static struct he_history global_store = {
	PTHREAD_MUTEX_INITIALIZER, HE_HISTORY_EXPIRY_US, 0,
	HE_HISTORY_ENTRIES, global_entries,
	{ global_buckets, 2 * HE_HISTORY_ENTRIES - 1, 0 }
};

static struct he_fork_hooks fork_hooks = {
	NULL, NULL, NULL, &global_store.lock, NULL, 0
};
static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void
global_init(void)
{
	/* Without it a fork() inside a lookup could deadlock the child's
	 * first race; the store still works. */
	(void)he_proc_on_fork_(&fork_hooks);
}

struct he_history *
he_history_global_(void)
{
	pthread_once(&global_once, global_init);
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

/* ---- the table (called with the lock held) ------------------------------ */

/* The key of a destination; 0 for other families. */
static inline int
key_of(const struct sockaddr *sa, struct he_hist_key *k)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
	uint32_t a4;

	if (!sa || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return 0;
	if (sa->sa_family == AF_INET) {
		memcpy(&a4, &in->sin_addr, 4);
		k->w[0] = (uint64_t)AF_INET | (uint64_t)in->sin_port << 16;
		k->w[1] = a4;
		k->w[2] = 0;
		return 1;
	}
	k->w[0] = (uint64_t)AF_INET6 | (uint64_t)in6->sin6_port << 16 |
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

	if (!key_of(sa, &k)) {
		memset(out, 0, sizeof(*out));
		return 0;
	}
	pthread_mutex_lock(&h->lock);
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
		if (key_of(he_ai_identity_(list), &k))
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
	if (verdict == HE_HIST_UNKNOWN || !key_of(sa, &k))
		return;
	pthread_mutex_lock(&h->lock);
	e = find_or_make(h, &k, now);
	if (verdict == HE_HIST_WORKED)
		rtt_sample(e, rtt < 1 ? 1 : rtt);
	e->state = (uint8_t)verdict;
	e->error = verdict == HE_HIST_FAILED ? (uint16_t)error : 0;
	e->learned = now;
	if (e->taught < UINT8_MAX)
		e->taught++;
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
