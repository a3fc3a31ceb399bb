/*
 * The history file: its format, its checks, the merge under a lock and
 * the write-back policy.  See he_histfile.h, and doc/history-file.md for
 * the format byte by byte.
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include "he_histfile.h"
#include "he_hash.h"
#include "he_nat64.h"
#include "he_time.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#ifdef __linux__
#include <sys/auxv.h>
#endif

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif
#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

static const unsigned char magic[8] = { 'E', 'V', 'H', 'A', 'P', 'P', 'Y', 'H' };

/* Offsets in the header and in a record (doc/history-file.md). */
enum {
	H_MAGIC = 0, H_VERSION = 8, H_RECSIZE = 12, H_COUNT = 16, H_FLAGS = 20,
	H_CHECKSUM = 24
};
enum {
	R_NETKEY = 0, R_LEARNED = 8, R_SRTT = 16, R_RTTVAR = 24, R_ADDR = 32,
	R_SCOPE = 48, R_ERROR = 52, R_PORT = 56, R_FAMILY = 58, R_STATE = 59,
	R_RESERVED = 60
};
/* A NAT64 prefix record (version 2): its kind at R_KIND, where a version
   1 record has its reserved bytes; netkey and learned where a
   destination's are. */
enum {
	P_EXPIRES = 16, P_ROUTER = 24, P_PREFIX = 40, P_LEN = 56, P_SOURCE = 57,
	P_STATE = 58, R_KIND = 60
};
#define P_LIVE 1
#define P_WITHDRAWN 2

/* ---- statuses ------------------------------------------------------------- */

static const struct {
	const char *phrase;
	int error;
} statuses[] = {
	[HE_HF_OK] = { "is fine", 0 },
	[HE_HF_MISSING] = { "does not exist", ENOENT },
	[HE_HF_OFF] = { "is off", ENOENT },
	[HE_HF_BADPATH] = { "is not an absolute path that fits", EINVAL },
	[HE_HF_SYMLINK] = { "is a symbolic link", ELOOP },
	[HE_HF_NOTREG] = { "is not a regular file", EINVAL },
	[HE_HF_OWNER] = { "is owned by another user", EPERM },
	[HE_HF_MODE] = { "is writable by group or others", EPERM },
	[HE_HF_DIR] = { "is in a directory that is not the user's alone",
	    EPERM },
	[HE_HF_TOOLARGE] = { "is too large", EFBIG },
	[HE_HF_TRUNCATED] = { "is truncated", EINVAL },
	[HE_HF_MAGIC] = { "is not an evhappy history file", EINVAL },
	[HE_HF_VERSION] = { "is of another version", EINVAL },
	[HE_HF_CORRUPT] = { "is corrupt (header)", EINVAL },
	[HE_HF_CHECKSUM] = { "is corrupt (checksum)", EINVAL },
	[HE_HF_RECORD] = { "holds an invalid record", EINVAL },
	[HE_HF_BUSY] = { "is locked by another process", EWOULDBLOCK },
	[HE_HF_IO] = { "cannot be read or written", EIO }
};

const char *
he_histfile_status_str_(enum he_hf_status st)
{
	if ((int)st < 0 || (size_t)st >= sizeof(statuses) / sizeof(statuses[0]))
		return "has an unknown status";
	return statuses[st].phrase;
}

/* Return st with errno set to its errno (HE_HF_IO keeps the call's). */
static enum he_hf_status
fail(enum he_hf_status st)
{
	if (st != HE_HF_IO && st != HE_HF_OK)
		errno = statuses[st].error;
	return st;
}

int
he_histfile_content_refusal_(enum he_hf_status st)
{
	switch (st) {
	case HE_HF_TOOLARGE: case HE_HF_TRUNCATED: case HE_HF_MAGIC:
	case HE_HF_VERSION: case HE_HF_CORRUPT: case HE_HF_CHECKSUM:
	case HE_HF_RECORD:
		return 1;
	default:
		return 0;
	}
}

/* ---- where ---------------------------------------------------------------- */

static int secure_hook = -1;

void
he_histfile_test_secure_(int secure)
{
	secure_hook = secure < 0 ? -1 : !!secure;
}

int
he_histfile_secure_(void)
{
	if (secure_hook >= 0)
		return secure_hook;
#ifdef __linux__
	return getauxval(AT_SECURE) != 0;
#else
	return getuid() != geteuid() || getgid() != getegid();
#endif
}

/* A variable, never in a set-uid program; "" counts as unset. */
static const char *
env(const char *name)
{
	const char *v;

	if (he_histfile_secure_())
		return NULL;
#ifdef HAVE_SECURE_GETENV
	v = secure_getenv(name);
#else
	v = getenv(name);
#endif
	return v && *v ? v : NULL;
}

static enum he_hf_status
join(char *buf, size_t len, const char *a, const char *b)
{
	int n = snprintf(buf, len, "%s%s", a, b);

	if (n < 0 || (size_t)n >= len) {
		if (len)
			buf[0] = '\0';
		errno = ENAMETOOLONG;
		return HE_HF_BADPATH;
	}
	return HE_HF_OK;
}

enum he_hf_status
he_histfile_default_path_(char *buf, size_t len)
{
	const char *v;

	if (len)
		buf[0] = '\0';
	if (he_histfile_secure_())
		return fail(HE_HF_OFF);
	if ((v = env("EVHAPPY_HISTORY_FILE")) != NULL) {
		if (!strcmp(v, "off"))
			return fail(HE_HF_OFF);
		if (v[0] != '/')
			return fail(HE_HF_BADPATH);
		return join(buf, len, v, "");
	}
	if ((v = env("XDG_CACHE_HOME")) != NULL && v[0] == '/')
		return join(buf, len, v, "/evhappy/history");
	if ((v = env("HOME")) != NULL && v[0] == '/')
		return join(buf, len, v, "/.cache/evhappy/history");
	return fail(HE_HF_OFF);
}

int64_t
he_histfile_now_(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- the format ------------------------------------------------------------ */

static void
put32(unsigned char *p, uint32_t v)
{
	int i;

	for (i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void
put64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static uint64_t
get64(const unsigned char *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* The checksum: the hash of the whole file with its own field as zeros. */
uint64_t
he_histfile_checksum_(const unsigned char *buf, size_t len)
{
	static const unsigned char zero[8];
	uint64_t h = he_fnv_(HE_FNV_INIT, buf, H_CHECKSUM);

	h = he_fnv_(h, zero, sizeof(zero));
	return he_fnv_(h, buf + HE_HISTFILE_HEADER, len - HE_HISTFILE_HEADER);
}

void
he_histfile_seal_(unsigned char *buf, size_t len)
{
	put64(buf + H_CHECKSUM, he_histfile_checksum_(buf, len));
}

static int
all_zero(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/* A NAT64 prefix record's fields (he_histfile.h). */
static enum he_hf_status
check_prefix_rec(const struct he_hf_rec *r)
{
	struct he_nat64_prefix p;

	if (r->source != HE_HF_FROM_RA && r->source != HE_HF_FROM_DNS)
		return fail(HE_HF_RECORD);
	if (r->withdrawn != 0 && r->withdrawn != 1)
		return fail(HE_HF_RECORD);
	if (r->source == HE_HF_FROM_DNS && (r->withdrawn ||
	    !all_zero(r->router, 16)))
		return fail(HE_HF_RECORD);
	if (r->prefix_len == 0) {
		/* an RFC 7050 answer without DNS64 */
		if (r->source != HE_HF_FROM_DNS || !all_zero(r->addr, 16))
			return fail(HE_HF_RECORD);
	} else {
		memcpy(p.addr, r->addr, 16);
		p.len = r->prefix_len;
		if (!he_nat64_prefix_ok_(&p))
			return fail(HE_HF_RECORD);
	}
	if (r->learned <= 0 || r->expires <= r->learned ||
	    r->expires - r->learned > HE_HISTFILE_PREFIX_LIFE_US)
		return fail(HE_HF_RECORD);
	return HE_HF_OK;
}

enum he_hf_status
he_histfile_check_rec_(const struct he_hf_rec *r)
{
	static const unsigned char zero[12];

	if (r->kind == HE_HF_NAT64)
		return check_prefix_rec(r);
	if (r->kind != HE_HF_DEST)
		return fail(HE_HF_RECORD);
	if (r->family != AF_INET && r->family != AF_INET6)
		return fail(HE_HF_RECORD);
	if (r->family == AF_INET && (memcmp(r->addr + 4, zero, 12) || r->scope))
		return fail(HE_HF_RECORD);
	if (r->state != HE_HIST_WORKED && r->state != HE_HIST_FAILED &&
	    r->state != HE_HIST_HUNG)
		return fail(HE_HF_RECORD);
	if (r->state == HE_HIST_FAILED ? r->error < 1 || r->error > 4095 :
	    r->error != 0)
		return fail(HE_HF_RECORD);
	if (r->srtt < 0 || r->srtt > HE_HISTFILE_RTT_MAX_US ||
	    r->rttvar < 0 || r->rttvar > HE_HISTFILE_RTT_MAX_US)
		return fail(HE_HF_RECORD);
	if (r->learned <= 0)
		return fail(HE_HF_RECORD);
	return HE_HF_OK;
}

/* Bytes p[0..8) as a big-endian number: comparing two is memcmp's
   order, without a call (sorting and merging compare addresses a lot). */
static uint64_t
be64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* The order of two prefix records of one network. */
static int
cmp_prefix(const struct he_hf_rec *a, const struct he_hf_rec *b)
{
	int c;

	if (a->source != b->source)
		return a->source < b->source ? -1 : 1;
	if ((c = memcmp(a->addr, b->addr, 16)) != 0)
		return c < 0 ? -1 : 1;
	if (a->prefix_len != b->prefix_len)
		return a->prefix_len < b->prefix_len ? -1 : 1;
	c = memcmp(a->router, b->router, 16);
	return c < 0 ? -1 : c > 0;
}

int
he_histfile_cmp_(const struct he_hf_rec *a, const struct he_hf_rec *b)
{
	uint64_t x, y;

	if (a->netkey != b->netkey)
		return a->netkey < b->netkey ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->kind == HE_HF_NAT64)
		return cmp_prefix(a, b);
	if (a->family != b->family)
		return a->family == AF_INET ? -1 : 1;
	if ((x = be64(a->addr)) != (y = be64(b->addr)) ||
	    (x = be64(a->addr + 8)) != (y = be64(b->addr + 8)))
		return x < y ? -1 : 1;
	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	if (a->scope != b->scope)
		return a->scope < b->scope ? -1 : 1;
	return 0;
}

static void
encode_prefix_rec(unsigned char *p, const struct he_hf_rec *r)
{
	put64(p + P_EXPIRES, (uint64_t)r->expires);
	memcpy(p + P_ROUTER, r->router, 16);
	memcpy(p + P_PREFIX, r->addr, 16);
	p[P_LEN] = (unsigned char)r->prefix_len;
	p[P_SOURCE] = (unsigned char)r->source;
	p[P_STATE] = r->withdrawn ? P_WITHDRAWN : P_LIVE;
	p[R_KIND] = HE_HF_NAT64;
}

static void
encode_rec(unsigned char *p, const struct he_hf_rec *r)
{
	memset(p, 0, HE_HISTFILE_RECORD);
	put64(p + R_NETKEY, r->netkey);
	put64(p + R_LEARNED, (uint64_t)r->learned);
	if (r->kind == HE_HF_NAT64) {
		encode_prefix_rec(p, r);
		return;
	}
	put64(p + R_SRTT, (uint64_t)r->srtt);
	put64(p + R_RTTVAR, (uint64_t)r->rttvar);
	memcpy(p + R_ADDR, r->addr, 16);
	put32(p + R_SCOPE, r->scope);
	put32(p + R_ERROR, (uint32_t)r->error);
	p[R_PORT] = (unsigned char)r->port;
	p[R_PORT + 1] = (unsigned char)(r->port >> 8);
	p[R_FAMILY] = r->family == AF_INET ? 4 : 6;
	p[R_STATE] = (unsigned char)r->state;
}

/* Decode a NAT64 prefix record (its kind byte read). */
static enum he_hf_status
decode_prefix_rec(const unsigned char *p, struct he_hf_rec *r)
{
	if (p[P_STATE] != P_LIVE && p[P_STATE] != P_WITHDRAWN)
		return HE_HF_RECORD;
	if (p[P_STATE + 1] || !all_zero(p + R_KIND + 1, 3))
		return HE_HF_RECORD;
	r->kind = HE_HF_NAT64;
	r->family = AF_INET6;
	r->netkey = get64(p + R_NETKEY);
	r->learned = (int64_t)get64(p + R_LEARNED);
	r->expires = (int64_t)get64(p + P_EXPIRES);
	memcpy(r->router, p + P_ROUTER, 16);
	memcpy(r->addr, p + P_PREFIX, 16);
	r->prefix_len = p[P_LEN];
	r->source = p[P_SOURCE];
	r->withdrawn = p[P_STATE] == P_WITHDRAWN;
	return he_histfile_check_rec_(r);
}

/* Decode one record of a file of version v; HE_HF_RECORD when the bytes
   cannot be one. */
static enum he_hf_status
decode_rec(const unsigned char *p, uint32_t v, struct he_hf_rec *r)
{
	memset(r, 0, sizeof(*r));
	if (v >= HE_HISTFILE_VERSION && p[R_KIND] == HE_HF_NAT64)
		return decode_prefix_rec(p, r);
	if (p[R_FAMILY] != 4 && p[R_FAMILY] != 6)
		return HE_HF_RECORD;
	if (p[R_STATE] < HE_HIST_WORKED || p[R_STATE] > HE_HIST_HUNG)
		return HE_HF_RECORD;
	if (get32(p + R_RESERVED) != 0)
		return HE_HF_RECORD;
	r->netkey = get64(p + R_NETKEY);
	r->learned = (int64_t)get64(p + R_LEARNED);
	r->srtt = (int64_t)get64(p + R_SRTT);
	r->rttvar = (int64_t)get64(p + R_RTTVAR);
	memcpy(r->addr, p + R_ADDR, 16);
	r->scope = get32(p + R_SCOPE);
	r->error = (int)get32(p + R_ERROR);
	r->port = (uint16_t)(p[R_PORT] | p[R_PORT + 1] << 8);
	r->family = p[R_FAMILY] == 4 ? AF_INET : AF_INET6;
	r->state = (enum he_hist_state)p[R_STATE];
	return he_histfile_check_rec_(r);
}

size_t
he_histfile_encode_(const struct he_hf_rec *recs, int n, unsigned char *buf,
    size_t len)
{
	size_t need;
	int i, prefixes = 0;

	if (n < 0 || n > HE_HISTFILE_MAX || (n && !recs)) {
		errno = EINVAL;
		return 0;
	}
	for (i = 0; i < n; i++)
		if (he_histfile_check_rec_(&recs[i]) != HE_HF_OK ||
		    (i && he_histfile_cmp_(&recs[i - 1], &recs[i]) >= 0)) {
			errno = EINVAL;
			return 0;
		} else if (recs[i].kind == HE_HF_NAT64) {
			prefixes++;
		}
	need = HE_HISTFILE_HEADER + (size_t)n * HE_HISTFILE_RECORD;
	if (len < need) {
		errno = ENOSPC;
		return 0;
	}
	memset(buf, 0, HE_HISTFILE_HEADER);
	memcpy(buf + H_MAGIC, magic, sizeof(magic));
	/* version 1 while it says all: readers of version 1 share it */
	put32(buf + H_VERSION, prefixes ? HE_HISTFILE_VERSION :
	    HE_HISTFILE_VERSION_1);
	put32(buf + H_RECSIZE, HE_HISTFILE_RECORD);
	put32(buf + H_COUNT, (uint32_t)n);
	for (i = 0; i < n; i++)
		encode_rec(buf + HE_HISTFILE_HEADER +
		    (size_t)i * HE_HISTFILE_RECORD, &recs[i]);
	he_histfile_seal_(buf, need);
	return need;
}

/* Whether a valid record (learned > 0) is of use at now: not learned
   too far in the future, not expired; no sum may overflow, whatever now
   a caller passes. */
static int
live(const struct he_hf_rec *r, int64_t now, int64_t expiry)
{
	if (now <= INT64_MAX - HE_HISTFILE_SKEW_US &&
	    r->learned > now + HE_HISTFILE_SKEW_US)
		return 0;
	if (r->kind == HE_HF_NAT64)	/* its own lifetime */
		return r->expires > now;
	if (expiry <= 0 || now < INT64_MIN + expiry)
		return 1;
	return r->learned > now - expiry;
}

enum he_hf_status
he_histfile_parse_(const unsigned char *buf, size_t len, int64_t now,
    int64_t expiry, he_hf_each_fn each, void *arg, int *nloaded)
{
	struct he_hf_rec r, prev;
	uint32_t count, version;
	size_t need, i, prefixes = 0;
	int n = 0;

	if (nloaded)
		*nloaded = 0;
	if (!buf || len < HE_HISTFILE_HEADER)
		return fail(len >= sizeof(magic) && buf &&
		    memcmp(buf, magic, sizeof(magic)) ? HE_HF_MAGIC :
		    HE_HF_TRUNCATED);
	if (memcmp(buf + H_MAGIC, magic, sizeof(magic)))
		return fail(HE_HF_MAGIC);
	version = get32(buf + H_VERSION);
	if (version != HE_HISTFILE_VERSION && version != HE_HISTFILE_VERSION_1)
		return fail(HE_HF_VERSION);
	if (get32(buf + H_RECSIZE) != HE_HISTFILE_RECORD ||
	    get32(buf + H_FLAGS) != 0)
		return fail(HE_HF_CORRUPT);
	count = get32(buf + H_COUNT);
	if (count > HE_HISTFILE_MAX)
		return fail(HE_HF_TOOLARGE);
	need = HE_HISTFILE_HEADER + (size_t)count * HE_HISTFILE_RECORD;
	if (len < need)
		return fail(HE_HF_TRUNCATED);
	if (len > need)
		return fail(HE_HF_CORRUPT);
	if (he_histfile_checksum_(buf, len) != get64(buf + H_CHECKSUM))
		return fail(HE_HF_CHECKSUM);
	/* all of it is checked before anything is called back */
	for (i = 0; i < count; i++) {
		if (decode_rec(buf + HE_HISTFILE_HEADER +
		    i * HE_HISTFILE_RECORD, version, &r) != HE_HF_OK)
			return fail(HE_HF_RECORD);
		if (i && he_histfile_cmp_(&prev, &r) >= 0)
			return fail(HE_HF_RECORD);
		prefixes += r.kind == HE_HF_NAT64;
		prev = r;
	}
	/* the writer writes version 2 only for a prefix record */
	if (version == HE_HISTFILE_VERSION && !prefixes)
		return fail(HE_HF_CORRUPT);
	for (i = 0; i < count; i++) {
		decode_rec(buf + HE_HISTFILE_HEADER + i * HE_HISTFILE_RECORD,
		    version, &r);
		if (!live(&r, now, expiry))
			continue;
		if (r.learned > now)	/* within the skew: learned now */
			r.learned = now;
		if (each)
			each(&r, arg);
		n++;
	}
	if (nloaded)
		*nloaded = n;
	return HE_HF_OK;
}

/* ---- the merge ------------------------------------------------------------- */

struct slot {
	struct he_hf_rec r;
	int mine;	/* 1: from the caller, wins a tie */
	int rank;	/* the bound's class: lower goes first */
};

static int
by_key_newest(const void *pa, const void *pb)
{
	const struct slot *a = pa, *b = pb;
	int c = he_histfile_cmp_(&a->r, &b->r);

	if (c)
		return c;
	if (a->r.learned != b->r.learned)
		return a->r.learned > b->r.learned ? -1 : 1;
	return b->mine - a->mine;
}

static int
by_drop_order(const void *pa, const void *pb)
{
	const struct slot *a = *(const struct slot *const *)pa;
	const struct slot *b = *(const struct slot *const *)pb;

	if (a->rank != b->rank)
		return a->rank - b->rank;
	if (a->r.learned != b->r.learned)
		return a->r.learned < b->r.learned ? -1 : 1;
	return he_histfile_cmp_(&a->r, &b->r);
}

/* Copy the usable records of in to s; returns how many. */
static int
take(struct slot *s, const struct he_hf_rec *in, int n, int mine,
    int64_t now, int64_t expiry, uint64_t netkey)
{
	int i, k = 0;

	for (i = 0; i < n; i++) {
		if (he_histfile_check_rec_(&in[i]) != HE_HF_OK ||
		    !live(&in[i], now, expiry))
			continue;
		s[k].r = in[i];
		if (s[k].r.learned > now)	/* within the skew: now */
			s[k].r.learned = now;
		s[k].mine = mine;
		s[k].rank = (in[i].netkey == netkey ? 2 : 0) +
		    (in[i].kind == HE_HF_DEST &&
		    in[i].state == HE_HIST_WORKED ? 0 : 1);
		k++;
	}
	return k;
}

/* Whether s[0..n) is in by_key_newest's order already (a file's records
   are: no need to sort them again). */
static int
sorted(const struct slot *s, int n)
{
	int i;

	for (i = 1; i < n; i++)
		if (by_key_newest(&s[i - 1], &s[i]) > 0)
			return 0;
	return 1;
}

/* he_histfile_merge_, also saying how many records of the result came
   from the file unchanged. */
static int
merge(struct he_hf_rec *out, int max, const struct he_hf_rec *file,
    int nfile, const struct he_hf_rec *mine, int nmine, int64_t now,
    int64_t expiry, uint64_t netkey, int *dropped, int *from_file)
{
	struct slot *s = NULL, *t, **order = NULL;
	int i, a, b, nf, nm, n = 0, drop, kept = 0;

	*dropped = *from_file = 0;
	if (max < 0 || max > HE_HISTFILE_MAX || nfile < 0 || nmine < 0 ||
	    (nfile && !file) || (nmine && !mine)) {
		errno = EINVAL;
		return -1;
	}
	if ((size_t)nfile + (size_t)nmine > (size_t)INT_MAX / 4) {
		errno = ENOMEM;
		return -1;
	}
	if (nfile + nmine == 0)
		return 0;
	/* s: the file's run, then mine; t: the two merged */
	if (!(s = malloc(2 * ((size_t)nfile + (size_t)nmine) * sizeof(*s))))
		return -1;
	nf = take(s, file, nfile, 0, now, expiry, netkey);
	nm = take(s + nf, mine, nmine, 1, now, expiry, netkey);
	if (!sorted(s, nf))
		qsort(s, (size_t)nf, sizeof(*s), by_key_newest);
	if (!sorted(s + nf, nm))
		qsort(s + nf, (size_t)nm, sizeof(*s), by_key_newest);
	/* of each destination, the first in this order is the newest (a
	   tie: mine); the others are dropped */
	t = s + nf + nm;
	for (a = 0, b = nf; a < nf || b < nf + nm;) {
		const struct slot *next;

		if (b == nf + nm || (a < nf && by_key_newest(&s[a], &s[b]) <= 0))
			next = &s[a++];
		else
			next = &s[b++];
		if (!n || he_histfile_cmp_(&t[n - 1].r, &next->r))
			t[n++] = *next;
	}
	drop = n > max ? n - max : 0;
	if (drop) {
		if (!(order = malloc((size_t)n * sizeof(*order)))) {
			free(s);
			return -1;
		}
		for (i = 0; i < n; i++)
			order[i] = &t[i];
		qsort(order, (size_t)n, sizeof(*order), by_drop_order);
		for (i = 0; i < drop; i++)
			order[i]->rank = -1;
		free(order);
	}
	for (i = 0; i < n; i++) {
		if (t[i].rank < 0)
			continue;
		out[kept++] = t[i].r;
		if (!t[i].mine)
			(*from_file)++;
	}
	free(s);
	*dropped = drop;
	return kept;
}

int
he_histfile_merge_(struct he_hf_rec *out, int max,
    const struct he_hf_rec *file, int nfile, const struct he_hf_rec *mine,
    int nmine, int64_t now, int64_t expiry, uint64_t netkey, int *dropped)
{
	int d, f;
	int n = merge(out, max, file, nfile, mine, nmine, now, expiry, netkey,
	    &d, &f);

	if (dropped)
		*dropped = n < 0 ? 0 : d;
	return n;
}

/* ---- files ------------------------------------------------------------------ */

/* The directory part of path, in buf. */
static enum he_hf_status
dir_of(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (!slash)
		return join(buf, len, ".", "");
	n = slash == path ? 1 : (size_t)(slash - path);
	if (n >= len) {
		errno = ENAMETOOLONG;
		return HE_HF_BADPATH;
	}
	memcpy(buf, path, n);
	buf[n] = '\0';
	return HE_HF_OK;
}

/* A directory the file may live in: the user's, nobody else may write. */
static enum he_hf_status
check_dir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) < 0)
		return errno == ENOENT ? fail(HE_HF_MISSING) : HE_HF_IO;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return HE_HF_DIR;
	}
	if (st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)))
		return fail(HE_HF_DIR);
	return HE_HF_OK;
}

/* An open file that is ours: regular, the user's, not writable by others. */
static enum he_hf_status
check_fd(int fd, struct stat *st)
{
	if (fstat(fd, st) < 0)
		return HE_HF_IO;
	if (!S_ISREG(st->st_mode))
		return fail(HE_HF_NOTREG);
	if (st->st_uid != geteuid())
		return fail(HE_HF_OWNER);
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return fail(HE_HF_MODE);
	return HE_HF_OK;
}

/* Open path for reading without following a link or blocking on a FIFO. */
static enum he_hf_status
open_checked(const char *path, int *fdp, struct stat *st)
{
	enum he_hf_status r;
	int fd;

	*fdp = -1;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return fail(HE_HF_MISSING);
		if (errno == ELOOP)
			return fail(HE_HF_SYMLINK);
		return HE_HF_IO;
	}
	if ((r = check_fd(fd, st)) != HE_HF_OK) {
		int e = errno;
		close(fd);
		errno = e;
		return r;
	}
	*fdp = fd;
	return HE_HF_OK;
}

/* The file's bytes, checked; *buf is the caller's to free. */
static enum he_hf_status
read_file(const char *path, unsigned char **bufp, size_t *lenp)
{
	enum he_hf_status r;
	unsigned char *buf = NULL;
	struct stat st;
	size_t got = 0, len;
	char dir[PATH_MAX];
	int fd, e;

	*bufp = NULL;
	*lenp = 0;
	if (!path || !*path)
		return fail(HE_HF_BADPATH);
	if ((r = dir_of(path, dir, sizeof(dir))) != HE_HF_OK ||
	    (r = check_dir(dir)) != HE_HF_OK)
		return r;
	if ((r = open_checked(path, &fd, &st)) != HE_HF_OK)
		return r;
	if (st.st_size > HE_HISTFILE_MAX_SIZE) {
		close(fd);
		return fail(HE_HF_TOOLARGE);
	}
	len = (size_t)st.st_size;
	/* one byte more than it says: a file that grew shows as too long */
	if (!(buf = malloc(len + 1))) {
		r = HE_HF_IO;
		goto end;
	}
	for (;;) {
		ssize_t n = read(fd, buf + got, len + 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = HE_HF_IO;
			goto end;
		}
		if (n == 0 || (got += (size_t)n) == len + 1)
			break;
	}
	*bufp = buf;
	*lenp = got;
	buf = NULL;
	r = HE_HF_OK;
end:
	e = errno;
	free(buf);
	close(fd);
	errno = e;
	return r;
}

enum he_hf_status
he_histfile_load_(const char *path, int64_t now, int64_t expiry,
    he_hf_each_fn each, void *arg, int *nloaded)
{
	unsigned char *buf;
	size_t len;
	enum he_hf_status r;
	int e;

	if (nloaded)
		*nloaded = 0;
	if ((r = read_file(path, &buf, &len)) != HE_HF_OK)
		return r;
	r = he_histfile_parse_(buf, len, now, expiry, each, arg, nloaded);
	e = errno;
	free(buf);
	errno = e;
	return r;
}

struct fill {
	struct he_hf_rec *recs;
	int max, n;
};

static void
fill_one(const struct he_hf_rec *r, void *arg)
{
	struct fill *f = arg;

	if (f->n < f->max)
		f->recs[f->n++] = *r;
}

enum he_hf_status
he_histfile_load_array_(const char *path, int64_t now, int64_t expiry,
    struct he_hf_rec *recs, int max, int *n)
{
	struct fill f;
	enum he_hf_status r;

	f.recs = recs;
	f.max = recs && max > 0 ? max : 0;
	f.n = 0;
	r = he_histfile_load_(path, now, expiry, fill_one, &f, NULL);
	if (n)
		*n = r == HE_HF_OK ? f.n : 0;
	return r;
}

/* mkdir dir 0700 (exactly: whatever the umask) when it is missing. */
static int
make_dir(const char *dir)
{
	if (mkdir(dir, 0700) < 0)
		return errno == EEXIST ? 0 : -1;
	return chmod(dir, 0700);
}

/* The file's directory, made when missing (and its parent). */
static enum he_hf_status
prepare_dir(const char *path, char *dir, size_t len)
{
	enum he_hf_status r;
	char parent[PATH_MAX];

	if ((r = dir_of(path, dir, len)) != HE_HF_OK)
		return r;
	if ((r = check_dir(dir)) != HE_HF_MISSING)
		return r;
	if (make_dir(dir) < 0) {
		if (errno != ENOENT)
			return HE_HF_IO;
		if ((r = dir_of(dir, parent, sizeof(parent))) != HE_HF_OK)
			return r;
		if (make_dir(parent) < 0 || make_dir(dir) < 0)
			return HE_HF_IO;
	}
	r = check_dir(dir);
	return r == HE_HF_MISSING ? HE_HF_IO : r;
}

/* Take PATH.lock: non-blocking tries for at most wait microseconds. */
static enum he_hf_status
lock_file(const char *lockpath, int64_t wait, int *fdp, int64_t *waited)
{
	enum he_hf_status r;
	struct stat st;
	int64_t t0 = he_now_(), left, nap = 100;
	int fd, e;

	*fdp = -1;
	*waited = 0;
	fd = open(lockpath, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == ELOOP ? fail(HE_HF_SYMLINK) : HE_HF_IO;
	if ((r = check_fd(fd, &st)) != HE_HF_OK)
		goto end;
	/* made under an umask that took the owner's bits: mend it, or the
	   next open for writing fails */
	if ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) < 0) {
		r = HE_HF_IO;
		goto end;
	}
	for (;;) {
		struct timespec ts;

		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			*fdp = fd;
			fd = -1;
			r = HE_HF_OK;
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK) {
			r = HE_HF_IO;
			break;
		}
		left = wait - (he_now_() - t0);
		if (left <= 0) {
			r = fail(HE_HF_BUSY);
			break;
		}
		/* naps of 0.1, 0.2, 0.4, then 0.8 ms: a holder keeps it
		   for about a ms, and many waiters waking often would only
		   slow it down */
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(left < nap ? left : nap) * 1000;
		nanosleep(&ts, NULL);
		if (nap < 800)
			nap *= 2;
	}
	*waited = he_now_() - t0;
end:
	e = errno;
	if (fd >= 0)
		close(fd);
	errno = e;
	return r;
}

static int
write_all(int fd, const unsigned char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Write recs to tmp and rename it over path. */
static enum he_hf_status
replace_file(const char *path, const char *tmp, const char *dir,
    const struct he_hf_rec *recs, int n, int flags)
{
	size_t cap = HE_HISTFILE_HEADER + (size_t)n * HE_HISTFILE_RECORD, len;
	unsigned char *buf = malloc(cap);
	enum he_hf_status r = HE_HF_IO;
	int fd = -1, e;

	if (!buf)
		return HE_HF_IO;
	if (!(len = he_histfile_encode_(recs, n, buf, cap)))
		goto end;
	/* the lock is held: a PATH.tmp is a crashed writer's leftover */
	if (unlink(tmp) < 0 && errno != ENOENT)
		goto end;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY |
	    O_CLOEXEC, 0600);
	if (fd < 0 || fchmod(fd, 0600) < 0 || write_all(fd, buf, len) < 0 ||
	    ((flags & HE_HF_SYNC) && fsync(fd) < 0))
		goto end;
	if (close(fd) < 0) {
		fd = -1;
		goto end;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto end;
	if (flags & HE_HF_SYNC) {
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	r = HE_HF_OK;
end:
	e = errno;
	if (fd >= 0)
		close(fd);
	if (r != HE_HF_OK)
		unlink(tmp);
	free(buf);
	errno = e;
	return r;
}

struct rewrite {
	const struct he_hf_rec *mine;
	int nmine;
	int forget;		/* 1: records of netkey, 2: all */
	uint64_t netkey;
	int64_t now, expiry, lock_wait;
	int flags;
	struct he_hf_save_info *info;
};

/* A rewrite for netkey at now, entries older than expiry dropped, the lock
   waited for at most lock_wait; the rest zero. */
static void
rewrite_init(struct rewrite *w, uint64_t netkey, int64_t now, int64_t expiry,
    int64_t lock_wait)
{
	memset(w, 0, sizeof(*w));
	w->netkey = netkey;
	w->now = now;
	w->expiry = expiry;
	w->lock_wait = lock_wait;
}

/* The save and the forget: under the lock, read, merge, write. */
static enum he_hf_status
rewrite(const char *path, const struct rewrite *w)
{
	char dir[PATH_MAX], lockpath[PATH_MAX], tmp[PATH_MAX];
	struct he_hf_rec *old = NULL, *out = NULL;
	struct he_hf_save_info dummy, *info = w->info ? w->info : &dummy;
	enum he_hf_status r, fr;
	struct fill f;
	int lockfd = -1, n, i, k, e;

	memset(info, 0, sizeof(*info));
	if (!path || !*path)
		return fail(HE_HF_BADPATH);
	if ((r = prepare_dir(path, dir, sizeof(dir))) != HE_HF_OK ||
	    (r = join(lockpath, sizeof(lockpath), path, ".lock")) != HE_HF_OK ||
	    (r = join(tmp, sizeof(tmp), path, ".tmp")) != HE_HF_OK)
		return r;
	old = malloc(HE_HISTFILE_MAX * sizeof(*old));
	out = malloc(HE_HISTFILE_MAX * sizeof(*out));
	if (!old || !out) {
		r = HE_HF_IO;
		goto end;
	}
	if ((r = lock_file(lockpath, w->lock_wait, &lockfd,
	    &info->lock_wait)) != HE_HF_OK)
		goto end;

	f.recs = old;
	f.max = HE_HISTFILE_MAX;
	f.n = 0;
	fr = he_histfile_load_(path, w->now, w->expiry, fill_one, &f, NULL);
	if (fr == HE_HF_MISSING) {
		if (w->forget) {
			r = fr;
			goto end;
		}
	} else if (he_histfile_content_refusal_(fr)) {
		info->replaced = fr;	/* ours, unreadable: start again */
		f.n = 0;
	} else if (fr != HE_HF_OK) {
		r = fr;			/* not ours to touch */
		goto end;
	}
	if (w->forget) {
		for (i = 0, k = 0; i < f.n; i++)
			if (w->forget == 1 && old[i].netkey != w->netkey)
				old[k++] = old[i];
		f.n = k;
	}
	n = merge(out, HE_HISTFILE_MAX, old, f.n, w->mine, w->nmine, w->now,
	    w->expiry, w->netkey, &info->dropped, &info->from_file);
	if (n < 0) {
		r = HE_HF_IO;
		goto end;
	}
	if ((r = replace_file(path, tmp, dir, out, n, w->flags)) == HE_HF_OK)
		info->written = n;
end:
	e = errno;
	if (lockfd >= 0)
		close(lockfd);	/* and with it the lock */
	free(old);
	free(out);
	errno = e;
	return r;
}

enum he_hf_status
he_histfile_save_(const char *path, const struct he_hf_rec *recs, int n,
    int64_t now, int64_t expiry, uint64_t netkey, int64_t lock_wait,
    int flags, struct he_hf_save_info *info)
{
	struct rewrite w;

	if (n < 0 || (n && !recs)) {
		if (info)
			memset(info, 0, sizeof(*info));
		errno = EINVAL;
		return HE_HF_IO;
	}
	rewrite_init(&w, netkey, now, expiry, lock_wait);
	w.mine = recs;
	w.nmine = n;
	w.flags = flags;
	w.info = info;
	return rewrite(path, &w);
}

enum he_hf_status
he_histfile_forget_(const char *path, uint64_t netkey, int all, int64_t now,
    int64_t expiry, int64_t lock_wait)
{
	struct rewrite w;

	rewrite_init(&w, netkey, now, expiry, lock_wait);
	w.forget = all ? 2 : 1;
	return rewrite(path, &w);
}

/* ---- the write-back policy -------------------------------------------------- */

void
he_hf_wb_changed_(struct he_hf_writeback *wb, int64_t now)
{
	if (!wb->unsaved) {
		wb->unsaved = 1;
		wb->unsaved_since = now;
	}
	wb->last_change = now;
}

int64_t
he_hf_wb_due_at_(const struct he_hf_writeback *wb)
{
	int64_t at;

	if (!wb->unsaved)
		return INT64_MAX;
	at = wb->unsaved_since;
	if (wb->attempted && wb->last_attempt + HE_HISTFILE_SAVE_GAP_US > at)
		at = wb->last_attempt + HE_HISTFILE_SAVE_GAP_US;
	return at;
}

int
he_hf_wb_due_(const struct he_hf_writeback *wb, int64_t now)
{
	return he_hf_wb_due_at_(wb) <= now;
}

void
he_hf_wb_attempted_(struct he_hf_writeback *wb, int64_t began,
    enum he_hf_status st)
{
	wb->attempted = 1;
	wb->last_attempt = began;
	if (st != HE_HF_OK || !wb->unsaved)
		return;
	if (wb->last_change >= began)
		wb->unsaved_since = began;	/* a change during the save */
	else
		wb->unsaved = 0;
}
