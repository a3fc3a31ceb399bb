/*
 * The connection history across processes and networks (he_persist.h):
 * the network's key for the store, and the history file.
 */
#include "he_internal.h"
#include "he_persist.h"
#include "he_histfile.h"
#include "he_nat64_cache.h"
#include "he_netid.h"
#include "he_proc.h"
#include "he_vec.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

struct he_persist_fast he_persist_fast_ = { 0, -1, 0 };

static struct {
	pthread_mutex_t lock;
	/* the network: watch and key made once (HE_PERSIST_NET_READY) */
	struct he_netwatch *watch;	/* NULL: netlink cannot be read */
	uint64_t net;
	unsigned gen;			/* changes of the key, 1 at the first */
	char text[HE_PERSIST_TEXT];
	/* the file (HE_PERSIST_FILE_ON) */
	char path[PATH_MAX];
	int saving;			/* a thread is saving, outside the lock */
	struct he_hf_writeback wb;
	unsigned said;			/* statuses said of this path */
	struct he_persist_stats stats;
} P = { PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, "", "", 0, { 0, 0, 0, 0, 0 },
	0, { 0, 0, 0, 0, 0 } };

/* P.lock is held across fork() (he_proc), and in the child this runs
 * before it is released. */
static void
fork_child(void)
{
	P.saving = 0;	/* the saving thread is the parent's */
	/* the watch's socket is shared with the parent: the watch itself
	   knows what a child must do (he_netwatch_changed_) */
	__atomic_store_n(&he_persist_fast_.forked, 1, __ATOMIC_RELAXED);
}
static struct he_fork_hooks fork_hooks = {
	NULL, NULL, fork_child, &P.lock, NULL, 0
};

static void
state_set(int bit, int on)
{
	if (on)
		__atomic_or_fetch(&he_persist_fast_.state, bit,
		    __ATOMIC_RELEASE);
	else
		__atomic_and_fetch(&he_persist_fast_.state, ~bit,
		    __ATOMIC_RELEASE);
}

/* ---- saying why a file is not used ------------------------------------- */

/* One line on stderr, once per status and path: "evhappy: history file
 * PATH is a symbolic link; not used".  With the lock held; errno is the
 * failed call's for HE_HF_IO. */
static void
say_locked(const char *path, enum he_hf_status st, const char *then)
{
	char line[PATH_MAX + 200], why[96] = "";
	int n;
	ssize_t w;

	if (st == HE_HF_IO)
		snprintf(why, sizeof(why), " (%s)", strerror(errno));
	if (st >= 32 || (P.said & (1u << st)))
		return;
	P.said |= 1u << st;
	n = snprintf(line, sizeof(line), "evhappy: history file %s %s%s%s\n",
	    path, he_histfile_status_str_(st), why, then);
	if (n <= 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = (int)sizeof(line) - 1;
	do
		w = write(STDERR_FILENO, line, (size_t)n);
	while (w < 0 && errno == EINTR);
}

/* ---- the network --------------------------------------------------------- */

/* Tests: the key to read instead of the kernel's (0: none), and whether
 * the next check must read it (he_persist_test_key_). */
static uint64_t test_key;
static int test_key_new;

/* Read the key into P (with the lock held): 1 when it differs. */
static int
read_key_locked(void)
{
	struct he_netid id;
	int first = P.gen == 0;

	if (test_key) {
		if (!first && test_key == P.net)
			return 0;
		P.net = test_key;
		P.gen++;
		snprintf(P.text, sizeof(P.text), "test network %016llx",
		    (unsigned long long)test_key);
		return 1;
	}
	if (he_netid_read_(&id) < 0) {
		if (!first)
			return 0;	/* keep the last one we knew */
		snprintf(P.text, sizeof(P.text), "not known (netlink: %s): one "
		    "history for every network", strerror(errno));
		P.net = 0;
		P.gen = 1;
		return 1;
	}
	if (!first && id.key == P.net)
		return 0;
	P.net = id.key;
	P.gen++;
	he_netid_format_(&id, P.text, sizeof(P.text));
	return 1;
}

void
he_persist_need_network_slow_(struct he_history *h)
{
	/* outside our lock: fork() takes the registry's, then ours; the
	   NAT64 store's hooks first, so that ours are taken before its lock
	   (we call it with ours held, he_persist_nat64_) */
	(void)he_nat64_cache_global_();
	(void)he_proc_on_fork_(&fork_hooks);
	pthread_mutex_lock(&P.lock);
	if (!(__atomic_load_n(&he_persist_fast_.state, __ATOMIC_ACQUIRE) &
	    HE_PERSIST_NET_READY)) {
		/* the watch first: no change falls between it and the key */
		P.watch = he_netwatch_new_();
		read_key_locked();
		he_history_set_network_(h, P.net);
		/* the fd last: the inline check reads it first */
		state_set(HE_PERSIST_NET_READY, 1);
		__atomic_store_n(&he_persist_fast_.fd, he_netwatch_fd_(P.watch),
		    __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&P.lock);
}

int
he_persist_check_network_slow_(struct he_history *h)
{
	int changed = 0;

	if (!(__atomic_load_n(&he_persist_fast_.state, __ATOMIC_ACQUIRE) &
	    HE_PERSIST_NET_READY)) {
		he_persist_need_network_slow_(h);
		return 0;
	}
	if (!P.watch && !__atomic_load_n(&test_key_new, __ATOMIC_ACQUIRE))
		return 0;	/* P.watch: set before the flag, never after */
	pthread_mutex_lock(&P.lock);
	if ((test_key_new || he_netwatch_changed_(P.watch) != 0) &&
	    read_key_locked()) {
		he_history_set_network_(h, P.net);
		changed = 1;
	}
	/* a child's watch has a socket of its own now */
	__atomic_store_n(&he_persist_fast_.fd, he_netwatch_fd_(P.watch),
	    __ATOMIC_RELEASE);
	__atomic_store_n(&he_persist_fast_.forked, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&test_key_new, 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&P.lock);
	return changed;
}

void
he_persist_test_key_(uint64_t key)
{
	pthread_mutex_lock(&P.lock);
	test_key = key;
	__atomic_store_n(&test_key_new, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&P.lock);
	/* the inline check then asks the slow one */
	__atomic_store_n(&he_persist_fast_.forked, 1, __ATOMIC_RELAXED);
}

uint64_t
he_persist_network_(struct he_history *h, char *buf, size_t len,
    unsigned *gen)
{
	uint64_t net;

	he_persist_need_network_(h);
	pthread_mutex_lock(&P.lock);
	net = P.net;
	if (len)
		snprintf(buf, len, "%s", P.text);
	if (gen)
		*gen = P.gen;
	pthread_mutex_unlock(&P.lock);
	return net;
}

/* ---- NAT64 prefixes: the network's, and the file's ----------------------- */

/* The NAT64 store (he_nat64_cache_global_()) holds the prefixes of one
 * network, N.net; those of the networks the host left wait here, on the
 * store's clock, for the host to come back, and go into the file with the
 * store's (he_persist_nat64_, save, load).  Guarded by P.lock, taken
 * before the store's own. */
#define STASH_MAX 64
struct stashed {
	uint64_t net;
	struct he_nat64_saved s;
};
static struct {
	int net_set;		/* the store's network is known: net */
	uint64_t net;
	int n;
	struct stashed v[STASH_MAX];
} N;

static struct he_nat64_cache *
nat64(void)
{
	return he_nat64_cache_global_();
}

/* One prefix, under a network (by destination: source, prefix, router). */
static int
same_saved(const struct he_nat64_saved *a, const struct he_nat64_saved *b)
{
	return a->source == b->source && a->prefix.len == b->prefix.len &&
	    !memcmp(a->prefix.addr, b->prefix.addr, 16) &&
	    !memcmp(a->router, b->router, 16);
}

/* Keep s for network net: the newer of two for one prefix; a full stash
 * gives up what expires first. */
static void
stash_put_locked(uint64_t net, const struct he_nat64_saved *s, int64_t now)
{
	struct stashed *slot = NULL;
	int i;

	if (s->expires <= now)
		return;
	for (i = 0; i < N.n; i++) {
		struct stashed *x = &N.v[i];
		if (x->net == net && same_saved(&x->s, s)) {
			if (x->s.learned < s->learned)
				x->s = *s;
			return;
		}
		if (!slot || x->s.expires < slot->s.expires)
			slot = x;
	}
	if (N.n < STASH_MAX)
		slot = &N.v[N.n++];
	else if (slot->s.expires > now && slot->s.expires >= s->expires)
		return;
	slot->net = net;
	slot->s = *s;
}

/* Take network net's records out of the stash, into out (room for
 * STASH_MAX; NULL: drop them); returns how many. */
static int
stash_take_locked(uint64_t net, struct he_nat64_saved *out)
{
	int i, k = 0, n = 0;

	for (i = 0; i < N.n; i++) {
		if (N.v[i].net == net) {
			if (out)
				out[n] = N.v[i].s;
			n++;
		} else
			N.v[k++] = N.v[i];
	}
	N.n = k;
	return n;
}

/* The store follows P.net: what it holds goes to the stash under its
 * network, and the new network's comes back. */
static void
nat64_follow_locked(int64_t now)
{
	struct he_nat64_saved out[HE_NAT64_SAVED_MAX], in[STASH_MAX];
	int i, n;

	if (N.net_set && N.net == P.net)
		return;
	if (N.net_set) {
		n = he_nat64_cache_export_(nat64(), now, out,
		    HE_NAT64_SAVED_MAX);
		(void)stash_take_locked(N.net, in);	/* replaced */
		for (i = 0; i < n; i++)
			stash_put_locked(N.net, &out[i], now);
		he_nat64_cache_forget_(nat64());
	}
	/* the first time, what the store holds is this network's */
	N.net = P.net;
	N.net_set = 1;
	n = stash_take_locked(N.net, in);
	(void)he_nat64_cache_import_(nat64(), in, n, now);
}

void
he_persist_nat64_(int64_t now)
{
	struct he_history *h = he_history_global_();

	(void)he_persist_check_network_(h);
	pthread_mutex_lock(&P.lock);
	nat64_follow_locked(now);
	pthread_mutex_unlock(&P.lock);
}

static int
file_source(enum he_nat64_source s)
{
	return s == HE_NAT64_FROM_RA ? HE_HF_FROM_RA : HE_HF_FROM_DNS;
}

/* A prefix of network net as a file record; 0 when a file cannot hold
   it. */
static int
prefix_to_file(uint64_t net, const struct he_nat64_saved *s, int64_t now,
    int64_t wall, struct he_hf_rec *out)
{
	memset(out, 0, sizeof(*out));
	out->kind = HE_HF_NAT64;
	out->family = AF_INET6;
	out->netkey = net;
	memcpy(out->addr, s->prefix.addr, 16);
	out->prefix_len = s->prefix.len;
	out->source = file_source(s->source);
	out->withdrawn = s->withdrawn;
	memcpy(out->router, s->router, 16);
	/* the monotonic clock means nothing to another process */
	out->learned = wall + (s->learned - now);
	out->expires = wall + (s->expires - now);
	return he_histfile_check_rec_(out) == HE_HF_OK;
}

void
he_persist_prefix_from_file_(const struct he_hf_rec *f, int64_t now,
    int64_t wall, struct he_nat64_saved *out)
{
	memset(out, 0, sizeof(*out));
	out->source = f->source == HE_HF_FROM_RA ? HE_NAT64_FROM_RA :
	    HE_NAT64_FROM_DNS;
	memcpy(out->prefix.addr, f->addr, 16);
	out->prefix.len = f->prefix_len;
	memcpy(out->router, f->router, 16);
	out->withdrawn = f->withdrawn;
	out->learned = now + (f->learned - wall);
	out->expires = now + (f->expires - wall);
	out->restored = 1;
}

/* A file's prefix records: this network's to the store, the others' to the
 * stash. */
static void
load_prefixes(const struct he_hf_rec *recs, int n, int64_t now,
    int64_t wall)
{
	struct he_nat64_saved in[HE_NAT64_SAVED_MAX * 2], s;
	int i, k = 0;

	pthread_mutex_lock(&P.lock);
	nat64_follow_locked(now);
	for (i = 0; i < n; i++) {
		if (recs[i].kind != HE_HF_NAT64)
			continue;
		he_persist_prefix_from_file_(&recs[i], now, wall, &s);
		if (recs[i].netkey != N.net)
			stash_put_locked(recs[i].netkey, &s, now);
		else if (k < (int)(sizeof(in) / sizeof(in[0])))
			in[k++] = s;
	}
	(void)he_nat64_cache_import_(nat64(), in, k, now);
	pthread_mutex_unlock(&P.lock);
}

/* ---- records: the store's and the file's --------------------------------- */

static int64_t
clamp_rtt(int64_t v)
{
	return v < 0 ? 0 : v > HE_HISTFILE_RTT_MAX_US ? HE_HISTFILE_RTT_MAX_US :
	    v;
}

/* A store entry as a file record; 0 when a file cannot hold it. */
static int
to_file(const struct he_hist_rec *r, int64_t now, int64_t wall,
    struct he_hf_rec *out)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)r->sa;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)r->sa;

	memset(out, 0, sizeof(*out));
	out->netkey = r->net;
	out->family = r->sa->sa_family;
	if (out->family == AF_INET) {
		memcpy(out->addr, &in->sin_addr, 4);
		out->port = ntohs(in->sin_port);
	} else {
		memcpy(out->addr, &in6->sin6_addr, 16);
		out->port = ntohs(in6->sin6_port);
		out->scope = in6->sin6_scope_id;
	}
	out->state = r->state;
	out->error = r->state == HE_HIST_FAILED ? r->error : 0;
	out->srtt = clamp_rtt(r->srtt);
	out->rttvar = out->srtt ? clamp_rtt(r->rttvar) : 0;
	/* the monotonic clock means nothing to another process */
	out->learned = wall - (now > r->learned ? now - r->learned : 0);
	return he_histfile_check_rec_(out) == HE_HF_OK;
}

/* A file record as a store entry; ss holds its address. */
static void
from_file(const struct he_hf_rec *f, int64_t now, int64_t wall,
    struct sockaddr_storage *ss, struct he_hist_rec *out)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (f->family == AF_INET) {
		in->sin_family = AF_INET;
		in->sin_port = htons(f->port);
		memcpy(&in->sin_addr, f->addr, 4);
	} else {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(f->port);
		in6->sin6_scope_id = f->scope;
		memcpy(&in6->sin6_addr, f->addr, 16);
	}
	memset(out, 0, sizeof(*out));
	out->net = f->netkey;
	out->sa = (const struct sockaddr *)ss;
	out->state = f->state;
	out->error = f->error;
	out->srtt = f->srtt;
	out->rttvar = f->rttvar;
	out->learned = now - (wall > f->learned ? wall - f->learned : 0);
}

/* Read path into h: this network's records first (they may take any slot),
   then the others' into what is free. */
static enum he_hf_status
load(struct he_history *h, const char *path, int64_t now, uint64_t net)
{
	struct he_hf_rec *recs;
	struct sockaddr_storage ss;
	struct he_hist_rec r;
	enum he_hf_status st;
	int64_t wall = he_histfile_now_();
	int i, n = 0, pass, e;

	if (!(recs = malloc(HE_HISTFILE_MAX * sizeof(*recs)))) {
		errno = ENOMEM;
		return HE_HF_IO;
	}
	st = he_histfile_load_array_(path, wall, he_history_expiry_(h), recs,
	    HE_HISTFILE_MAX, &n);
	e = errno;
	for (pass = 0; st == HE_HF_OK && pass < 2; pass++)
		for (i = 0; i < n; i++) {
			if ((recs[i].netkey == net) != (pass == 0) ||
			    recs[i].kind != HE_HF_DEST)
				continue;
			from_file(&recs[i], now, wall, &ss, &r);
			he_history_put_(h, &r, now, pass == 0);
		}
	if (st == HE_HF_OK)
		load_prefixes(recs, n, now, wall);
	free(recs);
	errno = e;
	return st;
}

/* What a save writes: the store's live entries, every network's (a
   growing array, at most HE_HISTFILE_MAX). */
struct collect {
	struct he_hf_rec *recs;
	size_t n, cap;
	int64_t now, wall;
	int oom;
};

static void
collect_one(const struct he_hist_rec *r, void *arg)
{
	struct collect *c = arg;

	if (c->n == c->cap) {
		size_t cap = he_vec_cap_(c->cap, c->n + 1, 256);
		struct he_hf_rec *p = NULL;

		if (!cap || cap > HE_HISTFILE_MAX || !(p = he_vec_grow_(c->recs,
		    NULL, c->n, cap, sizeof(*p)))) {
			c->oom = 1;
			return;
		}
		c->recs = p;
		c->cap = cap;
	}
	if (to_file(r, c->now, c->wall, &c->recs[c->n]))
		c->n++;
}

/* What a save writes of NAT64: the store's prefixes and the stash's. */
static void
collect_prefixes(struct collect *c)
{
	struct he_nat64_saved out[HE_NAT64_SAVED_MAX + STASH_MAX];
	uint64_t net[HE_NAT64_SAVED_MAX + STASH_MAX];
	struct he_hf_rec *p;
	int i, n = 0;

	pthread_mutex_lock(&P.lock);
	if (N.net_set) {
		n = he_nat64_cache_export_(nat64(), c->now, out,
		    HE_NAT64_SAVED_MAX);
		for (i = 0; i < n; i++)
			net[i] = N.net;
	}
	for (i = 0; i < N.n; i++) {
		net[n] = N.v[i].net;
		out[n++] = N.v[i].s;
	}
	pthread_mutex_unlock(&P.lock);
	if (!n || c->oom)
		return;
	if (c->n + n > c->cap) {
		if (!(p = realloc(c->recs, (size_t)(c->n + n) * sizeof(*p)))) {
			c->oom = 1;
			return;
		}
		c->recs = p;
		c->cap = c->n + n;
	}
	for (i = 0; i < n; i++)
		if (prefix_to_file(net[i], &out[i], c->now, c->wall,
		    &c->recs[c->n]))
			c->n++;
}

/* ---- the file ------------------------------------------------------------ */

static const char *const then_replaced = "; it will be replaced";
static const char *const then_unused = "; not used";

/* Save if force (anything unsaved) or a save is due.  force: a busy lock
 * is tried again for up to HE_PERSIST_FLUSH_PATIENCE_US. */
static void
save(struct he_history *h, int64_t now, int force)
{
	struct he_hf_save_info info;
	struct collect c;
	enum he_hf_status st;
	char path[PATH_MAX];
	uint64_t net;
	int64_t waited = 0;
	int go, e, tries = 0;

	if (!he_persist_file_on_())
		return;
	pthread_mutex_lock(&P.lock);
	go = he_persist_file_on_() && !P.saving && (force ? P.wb.unsaved :
	    he_hf_wb_due_(&P.wb, now));
	if (go) {
		P.saving = 1;
		memcpy(path, P.path, sizeof(path));
		net = P.net;
	}
	pthread_mutex_unlock(&P.lock);
	if (!go)
		return;
	memset(&c, 0, sizeof(c));
	memset(&info, 0, sizeof(info));
	c.now = now;
	c.wall = he_histfile_now_();
	he_history_each_(h, now, 1, collect_one, &c);
	collect_prefixes(&c);
	do {
		st = c.oom ? HE_HF_BUSY :	/* retried a gap later */
		    he_histfile_save_(path, c.recs, (int)c.n, c.wall,
		    he_history_expiry_(h), net, HE_HISTFILE_LOCK_WAIT_US, 0,
		    &info);
		waited += info.lock_wait;
	} while (st == HE_HF_BUSY && !c.oom && force &&
	    ++tries * HE_HISTFILE_LOCK_WAIT_US < HE_PERSIST_FLUSH_PATIENCE_US);
	e = errno;
	free(c.recs);
	pthread_mutex_lock(&P.lock);
	P.saving = 0;
	P.stats.saves++;
	P.stats.written += st == HE_HF_OK;
	P.stats.busy += st == HE_HF_BUSY;
	if (force && waited > P.stats.max_flush_wait)
		P.stats.max_flush_wait = waited;
	if (!force && waited > P.stats.max_wait)
		P.stats.max_wait = waited;
	if (strcmp(path, P.path) == 0) {	/* the file was not changed */
		he_hf_wb_attempted_(&P.wb, now, st);
		if (st == HE_HF_OK && info.replaced != HE_HF_OK)
			say_locked(path, info.replaced, "; replaced");
		if (st != HE_HF_OK && st != HE_HF_BUSY) {
			errno = e;
			say_locked(path, st, "; not used any more");
			state_set(HE_PERSIST_FILE_ON, 0);
		}
	}
	pthread_mutex_unlock(&P.lock);
}

void
he_persist_stats_(struct he_persist_stats *out)
{
	pthread_mutex_lock(&P.lock);
	*out = P.stats;
	pthread_mutex_unlock(&P.lock);
}

void
he_persist_taught_(int64_t now)
{
	pthread_mutex_lock(&P.lock);
	he_hf_wb_changed_(&P.wb, now);
	pthread_mutex_unlock(&P.lock);
}

void
he_persist_save_due_(struct he_history *h, int64_t now)
{
	save(h, now, 0);
}

void
he_persist_flush_(struct he_history *h, int64_t now)
{
	save(h, now, 1);
}


int
he_persist_set_file_(struct he_history *h, const char *path, int64_t now)
{
	enum he_hf_status st;
	uint64_t net;
	int e;

	he_persist_flush_(h, now);
	pthread_mutex_lock(&P.lock);
	state_set(HE_PERSIST_FILE_ON, 0);
	P.path[0] = '\0';
	memset(&P.wb, 0, sizeof(P.wb));
	P.said = 0;
	pthread_mutex_unlock(&P.lock);
	if (!path)
		return 0;
	if (he_histfile_secure_())
		return EPERM;	/* a set-uid program follows no user's file */
	if (path[0] != '/')
		return EINVAL;
	if (strlen(path) >= sizeof(P.path))
		return ENAMETOOLONG;
	net = he_persist_network_(h, NULL, 0, NULL);
	st = load(h, path, now, net);
	e = errno;
	pthread_mutex_lock(&P.lock);
	if (st != HE_HF_OK && st != HE_HF_MISSING) {
		if (!he_histfile_content_refusal_(st)) {
			say_locked(path, st, then_unused);
			pthread_mutex_unlock(&P.lock);
			return e ? e : EIO;	/* the status's (he_histfile.h) */
		}
		say_locked(path, st, then_replaced);
	}
	memcpy(P.path, path, strlen(path) + 1);
	state_set(HE_PERSIST_FILE_ON, 1);
	pthread_mutex_unlock(&P.lock);
	return 0;
}

int
he_persist_file_(char *buf, size_t len)
{
	int err = 0;

	pthread_mutex_lock(&P.lock);
	if (!he_persist_file_on_())
		err = ENOENT;
	else if (strlen(P.path) >= len)
		err = ENAMETOOLONG;
	else
		memcpy(buf, P.path, strlen(P.path) + 1);
	pthread_mutex_unlock(&P.lock);
	return err;
}

int
he_persist_forget_(struct he_history *h, int all)
{
	enum he_hf_status st;
	char path[PATH_MAX];
	uint64_t net;
	int err;

	net = he_persist_network_(h, NULL, 0, NULL);
	if (all)
		he_history_clear_(h);
	else
		he_history_forget_network_(h);
	/* the NAT64 prefixes known for it too */
	pthread_mutex_lock(&P.lock);
	if (all)
		N.n = 0;
	else
		(void)stash_take_locked(net, NULL);
	if (all || (N.net_set && N.net == net))
		he_nat64_cache_forget_(nat64());
	pthread_mutex_unlock(&P.lock);
	if ((err = he_persist_file_(path, sizeof(path))) != 0)
		return 0;	/* no file: the store was all */
	st = he_histfile_forget_(path, net, all, he_histfile_now_(),
	    he_history_expiry_(h), HE_HISTFILE_LOCK_WAIT_US);
	if (st == HE_HF_OK || st == HE_HF_MISSING)
		return 0;
	if (st == HE_HF_BUSY)
		return EWOULDBLOCK;
	err = errno;
	return err ? err : EIO;
}
