/*
 * The history file (he_histfile.c) and the network key's pure parts
 * (he_netid.c).
 *
 * - format: records to bytes and back; the merge (newer wins, nothing of
 *   another writer lost, the bound's order of dropping); expiry.
 * - file: round trips through a file; the modes of what a save creates
 *   (0600 files, 0700 directories, whatever the umask); a refused file a
 *   save replaces (content) or leaves alone (what it is); forget.
 * - hostile: one test per way a file is refused, each checking that
 *   nothing of it is called back and the status its caller will say.
 * - lock: a save gives up in bounded time when another process holds the
 *   lock; two writers interleaved lose nothing; 20 processes, 50 saves
 *   each, on one file: no entry lost, never a corrupt file, the time
 *   spent waiting for the lock (printed, and bounded).
 * - path: the default path's rules (EVHAPPY_HISTORY_FILE, XDG_CACHE_HOME,
 *   HOME, a set-uid program through the test hook).
 * - writeback: when a save is due.
 * - netid: the key's canonical form (order, privacy addresses, the /64,
 *   what changes it), its pinned values (files keep keys), the
 *   description, a reading of this host, the watch's calls.  The key on
 *   real networks that change: tests/check_netid_netns.sh.
 */
#include "he_histfile.h"
#include "he_netid.h"
#include "he_testutil.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <event2/event.h>

#define SEC ((int64_t)1000000)
/* a wall-clock time in 2026, microseconds */
#define NOW ((int64_t)1780000000 * SEC)
#define EXPIRY HE_HISTORY_EXPIRY_US
#define NET_A UINT64_C(0x1111111111111111)
#define NET_B UINT64_C(0x2222222222222222)

/* ---- fixture: a private directory per test ---------------------------------- */

static char dir[256], path[300];

static void
setup_dir(void)
{
	he_test_histdir(dir, sizeof(dir), path, sizeof(path),
	    "check_histfile");
	he_histfile_test_secure_(-1);
}

static void
teardown_dir(void)
{
	he_test_rm_rf(dir);
}

/* ---- records ------------------------------------------------------------------ */

static struct he_hf_rec
rec(uint64_t net, const char *addr, int port, enum he_hist_state st,
    int64_t learned)
{
	struct he_hf_rec r;

	memset(&r, 0, sizeof(r));
	r.netkey = net;
	r.family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	ck_assert_int_eq(inet_pton(r.family, addr, r.addr), 1);
	r.port = (uint16_t)port;
	r.state = st;
	r.error = st == HE_HIST_FAILED ? ECONNREFUSED : 0;
	if (st == HE_HIST_WORKED) {
		r.srtt = 40000;
		r.rttvar = 20000;
	}
	r.learned = learned;
	return r;
}

static int
same(const struct he_hf_rec *a, const struct he_hf_rec *b)
{
	return !he_histfile_cmp_(a, b) && a->state == b->state &&
	    a->error == b->error && a->srtt == b->srtt &&
	    a->rttvar == b->rttvar && a->learned == b->learned;
}

struct got {
	struct he_hf_rec r[HE_HISTFILE_MAX];
	int n;
};

static struct got got;

static void
collect(const struct he_hf_rec *r, void *arg)
{
	struct got *g = arg;

	ck_assert_int_lt(g->n, HE_HISTFILE_MAX);
	g->r[g->n++] = *r;
}

static enum he_hf_status
load(int64_t now, int64_t expiry)
{
	int n = -1;
	enum he_hf_status st;

	got.n = 0;
	st = he_histfile_load_(path, now, expiry, collect, &got, &n);
	ck_assert_int_eq(n, got.n);
	return st;
}

/* Whether got holds r (the same destination, network and verdict). */
static int
got_has(const struct he_hf_rec *r)
{
	int i;

	for (i = 0; i < got.n; i++)
		if (same(&got.r[i], r))
			return 1;
	return 0;
}

static void
write_bytes(const char *p, const unsigned char *b, size_t len, mode_t mode)
{
	int fd;

	unlink(p);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	ck_assert_int_eq(write(fd, b, len), (ssize_t)len);
	close(fd);
}

/* A valid file of three records, in buf; returns its size. */
static size_t
sample_file(unsigned char *buf, size_t len, struct he_hf_rec *recs)
{
	size_t n;

	memset(buf, 0, len);
	recs[0] = rec(NET_A, "192.0.2.7", 443, HE_HIST_WORKED, NOW - 5 * SEC);
	recs[1] = rec(NET_A, "2001:db8::7", 443, HE_HIST_HUNG, NOW - 6 * SEC);
	recs[2] = rec(NET_B, "2001:db8::8", 80, HE_HIST_FAILED, NOW - 7 * SEC);
	n = he_histfile_encode_(recs, 3, buf, len);
	ck_assert_uint_eq(n, HE_HISTFILE_HEADER + 3 * HE_HISTFILE_RECORD);
	return n;
}

/* The sample file's bytes (len of them) and records, for a test to edit. */
struct sample {
	unsigned char buf[1024];
	struct he_hf_rec recs[3];
	size_t len;
};

static void
sample_make(struct sample *s)
{
	s->len = sample_file(s->buf, sizeof(s->buf), s->recs);
}

/* The sample file at path, with this mode. */
static void
put_sample(mode_t mode)
{
	unsigned char buf[1024];
	struct he_hf_rec recs[3];

	write_bytes(path, buf, sample_file(buf, sizeof(buf), recs), mode);
}

/* The first two records of a file's bytes swapped. */
static void
swap_first_records(unsigned char *buf)
{
	unsigned char t[HE_HISTFILE_RECORD];
	unsigned char *r0 = buf + HE_HISTFILE_HEADER;

	memcpy(t, r0, sizeof(t));
	memcpy(r0, r0 + HE_HISTFILE_RECORD, sizeof(t));
	memcpy(r0 + HE_HISTFILE_RECORD, t, sizeof(t));
}

/* Whether the test can give files away; says so when it cannot. */
static int
root_or_say(const char *test)
{
	if (geteuid() == 0)
		return 1;
	fprintf(stderr, "%s: only root can give a file away: not run\n",
	    test);
	return 0;
}

/* Load must refuse the file with st and call nothing back. */
static void
assert_refused(enum he_hf_status st, int err)
{
	enum he_hf_status r;

	errno = 0;
	r = load(NOW, EXPIRY);
	ck_assert_msg(r == st, "load: status %d (%s), wanted %d (%s)", r,
	    he_histfile_status_str_(r), st, he_histfile_status_str_(st));
	if (err)
		ck_assert_int_eq(errno, err);
	ck_assert_int_eq(got.n, 0);
}

/* The file's bytes edited: sealed again (so that only the edit is wrong),
   written to path, and refused with st (EINVAL). */
static void
assert_edit_refused(unsigned char *buf, size_t len, enum he_hf_status st)
{
	he_histfile_seal_(buf, len);
	write_bytes(path, buf, len, 0600);
	assert_refused(st, EINVAL);
}

/* ----------------------------------------------------------------------- */
/* format */

START_TEST(test_bytes_round_trip)
{
	struct sample s;
	int n = -1, i;

	sample_make(&s);
	s.recs[1].scope = 0;
	got.n = 0;
	ck_assert_int_eq(he_histfile_parse_(s.buf, s.len, NOW, EXPIRY, collect,
	    &got, &n), HE_HF_OK);
	ck_assert_int_eq(n, 3);
	for (i = 0; i < 3; i++)
		ck_assert(same(&got.r[i], &s.recs[i]));
	/* an IPv6 scope id and a port survive */
	s.recs[1] = rec(NET_A, "fe80::1", 65535, HE_HIST_WORKED, NOW - 1);
	s.recs[1].scope = 7;
	s.recs[1].srtt = HE_HISTFILE_RTT_MAX_US;
	s.len = he_histfile_encode_(s.recs, 2, s.buf, sizeof(s.buf));
	ck_assert_uint_gt(s.len, 0);
	got.n = 0;
	ck_assert_int_eq(he_histfile_parse_(s.buf, s.len, NOW, EXPIRY, collect,
	    &got, &n), HE_HF_OK);
	ck_assert_int_eq(got.r[1].scope, 7);
	ck_assert_int_eq(got.r[1].port, 65535);
	ck_assert(same(&got.r[1], &s.recs[1]));
	/* no record at all is a file too */
	s.len = he_histfile_encode_(NULL, 0, s.buf, sizeof(s.buf));
	ck_assert_uint_eq(s.len, HE_HISTFILE_HEADER);
	ck_assert_int_eq(he_histfile_parse_(s.buf, s.len, NOW, EXPIRY, collect,
	    &got, &n), HE_HF_OK);
	ck_assert_int_eq(n, 0);
}
END_TEST

START_TEST(test_encode_refuses)
{
	unsigned char buf[1024];
	struct he_hf_rec r[2];

	r[0] = rec(NET_A, "192.0.2.1", 1, HE_HIST_WORKED, NOW);
	r[1] = r[0];
	errno = 0;
	ck_assert_uint_eq(he_histfile_encode_(r, 2, buf, sizeof(buf)), 0);
	ck_assert_int_eq(errno, EINVAL);	/* repeated */
	r[1].port = 0;
	ck_assert_uint_eq(he_histfile_encode_(r, 2, buf, sizeof(buf)), 0);
	r[1].port = 2;				/* in order now */
	ck_assert_uint_gt(he_histfile_encode_(r, 2, buf, sizeof(buf)), 0);
	errno = 0;
	ck_assert_uint_eq(he_histfile_encode_(r, 2, buf, 100), 0);
	ck_assert_int_eq(errno, ENOSPC);
	r[1].state = HE_HIST_UNKNOWN;
	ck_assert_uint_eq(he_histfile_encode_(r, 2, buf, sizeof(buf)), 0);
	ck_assert_uint_eq(he_histfile_encode_(r, -1, buf, sizeof(buf)), 0);
}
END_TEST

START_TEST(test_merge_newer_wins)
{
	struct he_hf_rec file[3], mine[3], out[8];
	int n, dropped;

	file[0] = rec(NET_A, "192.0.2.1", 80, HE_HIST_HUNG, NOW - 10 * SEC);
	file[1] = rec(NET_A, "192.0.2.2", 80, HE_HIST_WORKED, NOW - 3 * SEC);
	file[2] = rec(NET_B, "192.0.2.1", 80, HE_HIST_FAILED, NOW - 3 * SEC);
	/* mine: newer for .1 on A, older for .2 on A, a new one */
	mine[0] = rec(NET_A, "192.0.2.1", 80, HE_HIST_WORKED, NOW - 1 * SEC);
	mine[1] = rec(NET_A, "192.0.2.2", 80, HE_HIST_HUNG, NOW - 9 * SEC);
	mine[2] = rec(NET_A, "2001:db8::1", 80, HE_HIST_WORKED, NOW);
	n = he_histfile_merge_(out, 8, file, 3, mine, 3, NOW, EXPIRY, NET_A,
	    &dropped);
	ck_assert_int_eq(n, 4);
	ck_assert_int_eq(dropped, 0);
	ck_assert(same(&out[0], &mine[0]));	/* sorted: A .1, A .2, A ::1, B */
	ck_assert(same(&out[1], &file[1]));
	ck_assert(same(&out[2], &mine[2]));
	ck_assert(same(&out[3], &file[2]));	/* another network's, kept */
	/* a tie: mine */
	mine[0].learned = file[0].learned;
	n = he_histfile_merge_(out, 8, file, 1, mine, 1, NOW, EXPIRY, NET_A,
	    NULL);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(out[0].state, HE_HIST_WORKED);
	/* expired and invalid records are dropped on the way */
	file[0].learned = NOW - EXPIRY;
	mine[0].state = 9;
	n = he_histfile_merge_(out, 8, file, 1, mine, 1, NOW, EXPIRY, NET_A,
	    NULL);
	ck_assert_int_eq(n, 0);
}
END_TEST

START_TEST(test_merge_bound_order)
{
	struct he_hf_rec in[8], out[8];
	int n, dropped, i;

	/* classes, each with an older and a newer record */
	in[0] = rec(NET_B, "192.0.2.1", 1, HE_HIST_WORKED, NOW - 2 * SEC);
	in[1] = rec(NET_B, "192.0.2.2", 1, HE_HIST_WORKED, NOW - 1 * SEC);
	in[2] = rec(NET_B, "192.0.2.3", 1, HE_HIST_HUNG, NOW - 8 * SEC);
	in[3] = rec(NET_B, "192.0.2.4", 1, HE_HIST_FAILED, NOW - 9 * SEC);
	in[4] = rec(NET_A, "192.0.2.5", 1, HE_HIST_WORKED, NOW - 7 * SEC);
	in[5] = rec(NET_A, "192.0.2.6", 1, HE_HIST_WORKED, NOW - 6 * SEC);
	/* this network's failures go last, however old */
	in[6] = rec(NET_A, "192.0.2.7", 1, HE_HIST_HUNG, NOW - 40 * SEC);
	in[7] = rec(NET_A, "192.0.2.8", 1, HE_HIST_FAILED, NOW - 50 * SEC);
	/* each step of the bound drops the next of the documented order */
	for (i = 7; i >= 1; i--) {
		int j;

		n = he_histfile_merge_(out, i, in, 4, in + 4, 4, NOW, EXPIRY,
		    NET_A, &dropped);
		ck_assert_int_eq(n, i);
		ck_assert_int_eq(dropped, 8 - i);
		for (j = 0; j < 8; j++) {
			int kept = 0, k;
			for (k = 0; k < n; k++)
				kept |= same(&out[k], &in[j]);
			/* dropped: the first 8 - i of 0, 1, 3, 2, 4, 5, 7, 6 */
			{
				static const int order[8] = { 0, 1, 3, 2, 4, 5,
				    7, 6 };
				int pos = 0;
				while (order[pos] != j)
					pos++;
				ck_assert_msg(kept == (pos >= 8 - i),
				    "bound %d: record %d kept %d", i, j, kept);
			}
		}
	}
}
END_TEST

START_TEST(test_expiry_on_load)
{
	struct he_hf_rec r[4];

	r[0] = rec(NET_A, "192.0.2.1", 1, HE_HIST_HUNG, NOW - EXPIRY);
	r[1] = rec(NET_A, "192.0.2.2", 1, HE_HIST_HUNG, NOW - EXPIRY + 1);
	r[2] = rec(NET_A, "192.0.2.3", 1, HE_HIST_HUNG,
	    NOW + HE_HISTFILE_SKEW_US);		/* the clock was set back */
	r[3] = rec(NET_A, "192.0.2.4", 1, HE_HIST_HUNG,
	    NOW + HE_HISTFILE_SKEW_US + 1);	/* too far */
	/* written by a process whose clock is ahead, without expiry */
	ck_assert_int_eq(he_histfile_save_(path, r, 4,
	    NOW + 2 * HE_HISTFILE_SKEW_US, 0, NET_A, 0, 0, NULL), HE_HF_OK);
	ck_assert_int_eq(load(NOW, EXPIRY), HE_HF_OK);
	ck_assert_int_eq(got.n, 2);
	ck_assert(same(&got.r[0], &r[1]));
	ck_assert_int_eq(got.r[1].learned, NOW);	/* used as learned now */
	/* an expiry of its own (the store's test hook) */
	ck_assert_int_eq(load(NOW, 1), HE_HF_OK);
	ck_assert_int_eq(got.n, 1);
	/* a save drops what expired and what is too far ahead */
	ck_assert_int_eq(load(NOW + 2 * HE_HISTFILE_SKEW_US, 0), HE_HF_OK);
	ck_assert_int_eq(got.n, 4);
	ck_assert_int_eq(he_histfile_save_(path, NULL, 0, NOW, EXPIRY, NET_A,
	    0, 0, NULL), HE_HF_OK);
	ck_assert_int_eq(load(NOW + 2 * HE_HISTFILE_SKEW_US, 0), HE_HF_OK);
	ck_assert_int_eq(got.n, 2);
}
END_TEST

/* ---- NAT64 prefix records (version 2) --------------------------------------------- */

#define NSP "2001:db8:64::"
static const unsigned char router1[16] = { 0xfe, 0x80, [15] = 1 };

/* A prefix record: network, source, prefix/len (NULL: "no DNS64"), RA
   router (NULL: none), learned, lifetime in seconds. */
static struct he_hf_rec
prec(uint64_t net, int source, const char *pfx, int len,
    const unsigned char *router, int withdrawn, int64_t learned, int life)
{
	struct he_hf_rec r;

	memset(&r, 0, sizeof(r));
	r.kind = HE_HF_NAT64;
	r.family = AF_INET6;
	r.netkey = net;
	r.source = source;
	if (pfx)
		ck_assert_int_eq(inet_pton(AF_INET6, pfx, r.addr), 1);
	r.prefix_len = len;
	if (router)
		memcpy(r.router, router, 16);
	r.withdrawn = withdrawn;
	r.learned = learned;
	r.expires = learned + life * SEC;
	return r;
}

static int
psame(const struct he_hf_rec *a, const struct he_hf_rec *b)
{
	return !he_histfile_cmp_(a, b) && a->kind == b->kind &&
	    a->withdrawn == b->withdrawn && a->learned == b->learned &&
	    a->expires == b->expires;
}

/* A file of destinations and prefixes, in buf (sorted): returns its
   size. */
static size_t
prefix_file(unsigned char *buf, size_t len, struct he_hf_rec *r)
{
	size_t n;

	memset(buf, 0, len);
	r[0] = rec(NET_A, "192.0.2.7", 443, HE_HIST_WORKED, NOW - 5 * SEC);
	r[1] = prec(NET_A, HE_HF_FROM_RA, "64:ff9b::", 96, router1, 1,
	    NOW - 60 * SEC, 600);
	r[2] = prec(NET_A, HE_HF_FROM_RA, NSP, 96, router1, 0,
	    NOW - 3600 * SEC, 7200);
	r[3] = prec(NET_A, HE_HF_FROM_DNS, "2001:db8:122:344::", 64, NULL, 0,
	    NOW - 10 * SEC, 86400);
	r[4] = prec(NET_B, HE_HF_FROM_DNS, NULL, 0, NULL, 0, NOW - 10 * SEC,
	    60);
	n = he_histfile_encode_(r, 5, buf, len);
	ck_assert_uint_eq(n, HE_HISTFILE_HEADER + 5 * HE_HISTFILE_RECORD);
	return n;
}

/* Prefix records to bytes and back: version 2 (a file of destinations
   only stays version 1, which earlier readers read), their fields where
   doc/history-file.md says, every field back; they live by their own
   lifetime (the store's 10-minute expiry is the destinations'). */
START_TEST(test_prefix_round_trip)
{
	unsigned char buf[1024];
	struct he_hf_rec r[5];
	size_t len = prefix_file(buf, sizeof(buf), r);
	const unsigned char *p2 = buf + HE_HISTFILE_HEADER +
	    2 * HE_HISTFILE_RECORD;
	int n = -1, i;

	ck_assert_int_eq(buf[8], 2);
	ck_assert_int_eq(p2[60], 1);		/* kind */
	ck_assert_int_eq(p2[56], 96);		/* length */
	ck_assert_int_eq(p2[57], 1);		/* RA */
	ck_assert_int_eq(p2[58], 1);		/* live */
	ck_assert_int_eq(p2[24], 0xfe);		/* the router */
	ck_assert_int_eq(p2[40], 0x20);		/* the prefix */
	ck_assert_int_eq(p2[58 - HE_HISTFILE_RECORD], 2);	/* withdrawn */
	got.n = 0;
	ck_assert_int_eq(he_histfile_parse_(buf, len, NOW, EXPIRY, collect,
	    &got, &n), HE_HF_OK);
	ck_assert_int_eq(n, 5);
	for (i = 0; i < 5; i++)
		ck_assert_msg(i ? psame(&got.r[i], &r[i]) :
		    same(&got.r[i], &r[i]), "record %d", i);
	ck_assert(!memcmp(got.r[2].router, router1, 16));
	ck_assert_int_eq(got.r[3].prefix_len, 64);
	/* half an hour later: the RA prefix (learned an hour ago for 2 h)
	   and the DNS one (a day) are left, not the destination (10 min) */
	got.n = 0;
	ck_assert_int_eq(he_histfile_parse_(buf, len, NOW + 1800 * SEC, EXPIRY,
	    collect, &got, &n), HE_HF_OK);
	ck_assert_int_eq(n, 2);
	ck_assert(psame(&got.r[0], &r[2]));
	ck_assert(psame(&got.r[1], &r[3]));
	/* destinations only: version 1, as before */
	len = he_histfile_encode_(r, 1, buf, sizeof(buf));
	ck_assert_int_eq(buf[8], 1);
	ck_assert_int_eq(he_histfile_parse_(buf, len, NOW, EXPIRY, NULL, NULL,
	    &n), HE_HF_OK);
}
END_TEST

/* The merge: per prefix, router and network the newer record wins, a
   withdrawal too (and a withdrawal loses to a later advertisement);
   expired prefixes go; prefixes count as this network's failures do for
   the bound. */
START_TEST(test_prefix_merge)
{
	struct he_hf_rec file[3], mine[3], out[8];
	int n;

	file[0] = prec(NET_A, HE_HF_FROM_RA, NSP, 96, router1, 0,
	    NOW - 100 * SEC, 600);
	file[1] = prec(NET_A, HE_HF_FROM_DNS, NSP, 96, NULL, 0,
	    NOW - 100 * SEC, 60);	/* expired */
	file[2] = prec(NET_B, HE_HF_FROM_RA, NSP, 96, router1, 0,
	    NOW - 10 * SEC, 600);
	mine[0] = prec(NET_A, HE_HF_FROM_RA, NSP, 96, router1, 1,
	    NOW - 50 * SEC, 550);	/* withdrawn since */
	mine[1] = prec(NET_B, HE_HF_FROM_RA, NSP, 96, router1, 1,
	    NOW - 20 * SEC, 590);	/* withdrawn before B's */
	mine[2] = rec(NET_A, "192.0.2.1", 80, HE_HIST_WORKED, NOW - SEC);
	n = he_histfile_merge_(out, 8, file, 3, mine, 3, NOW, EXPIRY, NET_A,
	    NULL);
	ck_assert_int_eq(n, 3);
	ck_assert(same(&out[0], &mine[2]));	/* destinations first */
	ck_assert(psame(&out[1], &mine[0]));
	ck_assert(psame(&out[2], &file[2]));
	/* the bound: this network's WORKED goes before its prefix */
	n = he_histfile_merge_(out, 1, file, 1, mine + 2, 1, NOW, EXPIRY,
	    NET_A, NULL);
	ck_assert_int_eq(n, 1);
	ck_assert(psame(&out[0], &file[0]));
}
END_TEST

/* The file of these (edited) bytes, its checksum made right, must be
   refused for an invalid record, and nothing called back. */
static void
refused_record(unsigned char *buf, size_t len, const char *what)
{
	he_histfile_seal_(buf, len);
	write_bytes(path, buf, len, 0600);
	got.n = 0;
	ck_assert_msg(load(NOW, EXPIRY) == HE_HF_RECORD, "%s: not refused",
	    what);
	ck_assert_int_eq(got.n, 0);
}

/* A prefix record's byte changed, the checksum made right: refused. */
static void
refuse_prefix_edit(int rec, int offset, int value, const char *what)
{
	unsigned char buf[1024];
	struct he_hf_rec r[5];
	size_t len = prefix_file(buf, sizeof(buf), r);

	buf[HE_HISTFILE_HEADER + rec * HE_HISTFILE_RECORD + offset] =
	    (unsigned char)value;
	refused_record(buf, len, what);
}

/* Every field of a prefix record is checked: the prefix (RFC 6052's
   rules), its source, state and lifetime, the zero bytes. */
START_TEST(test_hostile_prefix_records)
{
	unsigned char buf[1024];
	struct he_hf_rec r[5];
	size_t len;

	refuse_prefix_edit(2, 56, 33, "length 33");
	refuse_prefix_edit(2, 56, 0, "length 0 from an RA");
	refuse_prefix_edit(2, 55, 1, "a bit past the length");
	refuse_prefix_edit(2, 48, 1, "the u-octet of a /96");
	refuse_prefix_edit(2, 40, 0xff, "a multicast prefix");
	refuse_prefix_edit(2, 57, 3, "source 3");
	refuse_prefix_edit(2, 57, 0, "source 0");
	refuse_prefix_edit(2, 58, 3, "state 3");
	refuse_prefix_edit(2, 58, 0, "state 0");
	refuse_prefix_edit(2, 59, 1, "byte 59");
	refuse_prefix_edit(2, 61, 1, "byte 61");
	refuse_prefix_edit(2, 60, 2, "kind 2");
	refuse_prefix_edit(2, 15, 0x80, "a negative time");
	refuse_prefix_edit(2, 21, 0, "expiring before it was learned");
	refuse_prefix_edit(2, 22, 7, "a lifetime of years");
	refuse_prefix_edit(3, 24, 0xfe, "a router for DNS");
	refuse_prefix_edit(3, 58, 2, "a DNS prefix withdrawn");
	refuse_prefix_edit(4, 40, 0x20, "\"no DNS64\" with a prefix");
	/* a prefix record in a version 1 file */
	len = prefix_file(buf, sizeof(buf), r);
	buf[8] = 1;
	assert_edit_refused(buf, len, HE_HF_RECORD);
	/* a prefix before a destination of its network */
	len = prefix_file(buf, sizeof(buf), r);
	swap_first_records(buf);
	assert_edit_refused(buf, len, HE_HF_RECORD);
	/* and the sample itself is fine */
	len = prefix_file(buf, sizeof(buf), r);
	write_bytes(path, buf, len, 0600);
	ck_assert_int_eq(load(NOW, EXPIRY), HE_HF_OK);
	ck_assert_int_eq(got.n, 5);
}
END_TEST

/* ----------------------------------------------------------------------- */
/* file */

START_TEST(test_file_round_trip)
{
	struct he_hf_rec r[300];
	struct he_hf_save_info info;
	struct stat st;
	char lock[400];
	int i;

	for (i = 0; i < 300; i++) {
		char a[64];
		snprintf(a, sizeof(a), "2001:db8::%x", i);
		r[i] = rec(i % 2 ? NET_A : NET_B, a, 443, (enum he_hist_state)
		    (1 + i % 3), NOW - i * SEC);
	}
	ck_assert_int_eq(load(NOW, EXPIRY), HE_HF_MISSING);
	ck_assert_int_eq(he_histfile_save_(path, r, 300, NOW, EXPIRY, NET_A,
	    HE_HISTFILE_LOCK_WAIT_US, HE_HF_SYNC, &info), HE_HF_OK);
	ck_assert_int_eq(info.written, 300);
	ck_assert_int_eq(info.from_file, 0);
	ck_assert_int_eq(info.replaced, HE_HF_OK);
	ck_assert_int_eq(load(NOW, EXPIRY), HE_HF_OK);
	ck_assert_int_eq(got.n, 300);
	for (i = 0; i < 300; i++)
		ck_assert(got_has(&r[i]));
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_size,
	    HE_HISTFILE_HEADER + 300 * HE_HISTFILE_RECORD);
	/* saved again with nothing new: all of it kept */
	ck_assert_int_eq(he_histfile_save_(path, NULL, 0, NOW, EXPIRY, NET_A,
	    0, 0, &info), HE_HF_OK);
	ck_assert_int_eq(info.from_file, 300);
	ck_assert_int_eq(load(NOW, EXPIRY), HE_HF_OK);
	ck_assert_int_eq(got.n, 300);
	/* the array form */
	{
		struct he_hf_rec few[5];
		int n = -1;
		ck_assert_int_eq(he_histfile_load_array_(path, NOW, EXPIRY, few,
		    5, &n), HE_HF_OK);
		ck_assert_int_eq(n, 5);
		ck_assert(same(&few[0], &got.r[0]));
	}
	/* no temporary file is left */
	snprintf(lock, sizeof(lock), "%s.tmp", path);
	ck_assert_int_lt(access(lock, F_OK), 0);
}
END_TEST

/* The modes of what a save makes, under umask u. */
static void
check_modes(mode_t u)
{
	struct he_hf_rec r = rec(NET_A, "192.0.2.1", 1, HE_HIST_HUNG, NOW);
	char sub[300], file[420], lock[440];
	struct stat st;
	mode_t old;

	/* the directory and its parent are both missing, as ~/.cache
	   and ~/.cache/evhappy may be */
	snprintf(sub, sizeof(sub), "%s/cache%o", dir, (unsigned)u);
	snprintf(file, sizeof(file), "%s/evhappy/history", sub);
	snprintf(lock, sizeof(lock), "%s.lock", file);
	old = umask(u);
	ck_assert_int_eq(he_histfile_save_(file, &r, 1, NOW, EXPIRY, NET_A, 0,
	    0, NULL), HE_HF_OK);
	umask(old);
	ck_assert_int_eq(stat(sub, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0700);
	snprintf(sub + strlen(sub), sizeof(sub) - strlen(sub), "/evhappy");
	ck_assert_int_eq(stat(sub, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0700);
	ck_assert_int_eq(st.st_uid, geteuid());
	ck_assert_int_eq(stat(file, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(st.st_uid, geteuid());
	ck_assert_int_eq(stat(lock, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
}

START_TEST(test_created_modes)
{
	check_modes(0);
	check_modes(022);
	check_modes(077);
	check_modes(0277);	/* even one that takes the owner's bits */
}
END_TEST

START_TEST(test_save_replaces_corrupt)
{
	unsigned char buf[1024];
	struct he_hf_rec recs[3], r;
	struct he_hf_save_info info;
	size_t len = sample_file(buf, sizeof(buf), recs);

	buf[40] ^= 1;
	write_bytes(path, buf, len, 0600);
	r = rec(NET_A, "192.0.2.99", 1, HE_HIST_HUNG, NOW);
	ck_assert_int_eq(he_histfile_save_(path, &r, 1, NOW, EXPIRY, NET_A, 0,
	    0, &info), HE_HF_OK);
	ck_assert_int_eq(info.replaced, HE_HF_CHECKSUM);
	ck_assert_int_eq(info.written, 1);
	ck_assert_int_eq(load(NOW, EXPIRY), HE_HF_OK);
	ck_assert_int_eq(got.n, 1);
	/* an empty file (what a crash can leave) too */
	write_bytes(path, buf, 0, 0600);
	ck_assert_int_eq(he_histfile_save_(path, &r, 1, NOW, EXPIRY, NET_A, 0,
	    0, &info), HE_HF_OK);
	ck_assert_int_eq(info.replaced, HE_HF_TRUNCATED);
}
END_TEST

START_TEST(test_save_leaves_foreign)
{
	unsigned char buf[1024];
	struct he_hf_rec recs[3], r;
	size_t len = sample_file(buf, sizeof(buf), recs);
	char target[400], l[400];
	struct stat st;
	ssize_t n;

	r = rec(NET_A, "192.0.2.99", 1, HE_HIST_HUNG, NOW);
	/* a link: neither followed nor replaced */
	snprintf(target, sizeof(target), "%s/elsewhere", dir);
	write_bytes(target, buf, len, 0600);
	ck_assert_int_eq(symlink(target, path), 0);
	errno = 0;
	ck_assert_int_eq(he_histfile_save_(path, &r, 1, NOW, EXPIRY, NET_A, 0,
	    0, NULL), HE_HF_SYMLINK);
	ck_assert_int_eq(errno, ELOOP);
	n = readlink(path, l, sizeof(l) - 1);
	ck_assert_int_gt(n, 0);
	l[n] = '\0';
	ck_assert_str_eq(l, target);
	ck_assert_int_eq(stat(target, &st), 0);
	ck_assert_int_eq(st.st_size, (off_t)len);
	unlink(path);
	/* a group-writable file: left as it is */
	write_bytes(path, buf, len, 0620);
	ck_assert_int_eq(he_histfile_save_(path, &r, 1, NOW, EXPIRY, NET_A, 0,
	    0, NULL), HE_HF_MODE);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0620);
	unlink(path);
	/* a symbolic link as the lock */
	snprintf(l, sizeof(l), "%s.lock", path);
	unlink(l);
	ck_assert_int_eq(symlink(target, l), 0);
	ck_assert_int_eq(he_histfile_save_(path, &r, 1, NOW, EXPIRY, NET_A, 0,
	    0, NULL), HE_HF_SYMLINK);
	ck_assert_int_lt(access(path, F_OK), 0);
}
END_TEST

START_TEST(test_forget)
{
	struct he_hf_rec r[3];

	r[0] = rec(NET_A, "192.0.2.1", 1, HE_HIST_HUNG, NOW);
	r[1] = rec(NET_A, "192.0.2.2", 1, HE_HIST_HUNG, NOW);
	r[2] = rec(NET_B, "192.0.2.1", 1, HE_HIST_HUNG, NOW);
	ck_assert_int_eq(he_histfile_forget_(path, NET_A, 0, NOW, EXPIRY, 0),
	    HE_HF_MISSING);
	ck_assert_int_eq(he_histfile_save_(path, r, 3, NOW, EXPIRY, NET_A, 0,
	    0, NULL), HE_HF_OK);
	ck_assert_int_eq(he_histfile_forget_(path, NET_A, 0, NOW, EXPIRY, 0),
	    HE_HF_OK);
	ck_assert_int_eq(load(NOW, EXPIRY), HE_HF_OK);
	ck_assert_int_eq(got.n, 1);
	ck_assert(same(&got.r[0], &r[2]));
	ck_assert_int_eq(he_histfile_forget_(path, 0, 1, NOW, EXPIRY, 0),
	    HE_HF_OK);
	ck_assert_int_eq(load(NOW, EXPIRY), HE_HF_OK);
	ck_assert_int_eq(got.n, 0);
}
END_TEST

/* ----------------------------------------------------------------------- */
/* hostile files: each refused as a whole, with its status */

START_TEST(test_hostile_symlink)
{
	unsigned char buf[1024];
	struct he_hf_rec recs[3];
	size_t len = sample_file(buf, sizeof(buf), recs);
	char target[400];

	snprintf(target, sizeof(target), "%s/real", dir);
	write_bytes(target, buf, len, 0600);
	ck_assert_int_eq(symlink(target, path), 0);
	assert_refused(HE_HF_SYMLINK, ELOOP);
	ck_assert_str_eq(he_histfile_status_str_(HE_HF_SYMLINK),
	    "is a symbolic link");
}
END_TEST

START_TEST(test_hostile_fifo)
{
	int64_t t0 = he_test_now_ms();

	/* opening a FIFO for reading would wait for a writer */
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	assert_refused(HE_HF_NOTREG, EINVAL);
	ck_assert_int_lt(he_test_now_ms() - t0, HE_TEST_UP(1000));
}
END_TEST

START_TEST(test_hostile_directory)
{
	ck_assert_int_eq(mkdir(path, 0700), 0);
	assert_refused(HE_HF_NOTREG, EINVAL);
}
END_TEST

/* The sample file, then what (the file or its directory) given to
   nobody: load refuses it with st (EPERM).  0 when the test cannot give
   files away (and says so). */
static int
given_away_refused(const char *test, const char *what, enum he_hf_status st)
{
	if (!root_or_say(test))
		return 0;
	put_sample(0600);
	ck_assert_int_eq(chown(what, 65534, 65534), 0);
	assert_refused(st, EPERM);
	return 1;
}

START_TEST(test_hostile_owner)
{
	given_away_refused("test_hostile_owner", path, HE_HF_OWNER);
}
END_TEST

START_TEST(test_hostile_group_writable)
{
	put_sample(0620);
	assert_refused(HE_HF_MODE, EPERM);
	/* readable by others is the user's choice, not a danger */
	put_sample(0644);
	ck_assert_int_eq(load(NOW, EXPIRY), HE_HF_OK);
	ck_assert_int_eq(got.n, 3);
}
END_TEST

START_TEST(test_hostile_world_writable)
{
	put_sample(0602);
	assert_refused(HE_HF_MODE, EPERM);
}
END_TEST

START_TEST(test_hostile_dir_writable)
{
	struct he_hf_rec r = rec(NET_A, "192.0.2.1", 1, HE_HIST_HUNG, NOW);

	put_sample(0600);
	/* others could replace the file there */
	ck_assert_int_eq(chmod(dir, 0777), 0);
	assert_refused(HE_HF_DIR, EPERM);
	ck_assert_int_eq(he_histfile_save_(path, &r, 1, NOW, EXPIRY, NET_A,
	    0, 0, NULL), HE_HF_DIR);
	ck_assert_int_eq(chmod(dir, 0770), 0);
	assert_refused(HE_HF_DIR, EPERM);
	ck_assert_int_eq(chmod(dir, 0755), 0);
	ck_assert_int_eq(load(NOW, EXPIRY), HE_HF_OK);
}
END_TEST

START_TEST(test_hostile_dir_owner)
{
	if (!given_away_refused("test_hostile_dir_owner", dir, HE_HF_DIR))
		return;
	ck_assert_int_eq(chown(dir, 0, 0), 0);
	ck_assert_int_eq(load(NOW, EXPIRY), HE_HF_OK);
}
END_TEST

START_TEST(test_hostile_truncated)
{
	struct sample s;

	sample_make(&s);
	/* a record cut short */
	write_bytes(path, s.buf, s.len - 10, 0600);
	assert_refused(HE_HF_TRUNCATED, EINVAL);
	/* a whole record missing (the checksum would say so too) */
	write_bytes(path, s.buf, s.len - HE_HISTFILE_RECORD, 0600);
	assert_refused(HE_HF_TRUNCATED, EINVAL);
	/* the header cut short */
	write_bytes(path, s.buf, 20, 0600);
	assert_refused(HE_HF_TRUNCATED, EINVAL);
	/* empty */
	write_bytes(path, s.buf, 0, 0600);
	assert_refused(HE_HF_TRUNCATED, EINVAL);
}
END_TEST

START_TEST(test_hostile_too_large)
{
	size_t big = HE_HISTFILE_MAX_SIZE + HE_HISTFILE_RECORD;
	unsigned char *buf = calloc(1, big);
	struct he_hf_rec recs[3];

	ck_assert_ptr_nonnull(buf);
	sample_file(buf, big, recs);
	/* larger than any file could be: refused before it is read */
	write_bytes(path, buf, big, 0600);
	assert_refused(HE_HF_TOOLARGE, EFBIG);
	/* a header that says more records than a file holds */
	buf[16] = 0xff;
	buf[17] = 0xff;
	he_histfile_seal_(buf, HE_HISTFILE_HEADER);
	write_bytes(path, buf, HE_HISTFILE_HEADER, 0600);
	assert_refused(HE_HF_TOOLARGE, EFBIG);
	free(buf);
}
END_TEST

START_TEST(test_hostile_version)
{
	struct sample s;

	sample_make(&s);
	s.buf[8] = 3;
	assert_edit_refused(s.buf, s.len, HE_HF_VERSION);
	s.buf[8] = 0;
	assert_edit_refused(s.buf, s.len, HE_HF_VERSION);
	/* version 2 with no NAT64 prefix: the writer writes that as 1 */
	s.buf[8] = 2;
	assert_edit_refused(s.buf, s.len, HE_HF_CORRUPT);
}
END_TEST

START_TEST(test_hostile_magic)
{
	struct sample s;

	sample_make(&s);
	memcpy(s.buf, "#!/bin/s", 8);
	write_bytes(path, s.buf, s.len, 0600);
	assert_refused(HE_HF_MAGIC, EINVAL);
}
END_TEST

START_TEST(test_hostile_header)
{
	struct sample s;

	sample_make(&s);
	/* bytes after the last record */
	write_bytes(path, s.buf, s.len + 5, 0600);
	assert_refused(HE_HF_CORRUPT, EINVAL);
	/* another record size */
	s.buf[12] = 48;
	assert_edit_refused(s.buf, s.len, HE_HF_CORRUPT);
	/* flags that this version does not know */
	s.buf[12] = HE_HISTFILE_RECORD;
	s.buf[20] = 1;
	assert_edit_refused(s.buf, s.len, HE_HF_CORRUPT);
}
END_TEST

START_TEST(test_hostile_checksum)
{
	struct sample s;
	size_t i;

	sample_make(&s);
	/* any one bit of a record or of the header */
	for (i = 0; i < s.len; i += 7) {
		if (i >= 8 && i < 24)
			continue;	/* fields checked before the checksum */
		s.buf[i] ^= 0x10;
		write_bytes(path, s.buf, s.len, 0600);
		assert_refused(i < 8 ? HE_HF_MAGIC : HE_HF_CHECKSUM, EINVAL);
		s.buf[i] ^= 0x10;
	}
	write_bytes(path, s.buf, s.len, 0600);
	ck_assert_int_eq(load(NOW, EXPIRY), HE_HF_OK);
}
END_TEST

/* A record's byte changed, the checksum made right: refused all the same. */
static void
refuse_record_edit(int offset, int value, const char *what)
{
	unsigned char buf[1024];
	struct he_hf_rec recs[3];
	size_t len = sample_file(buf, sizeof(buf), recs);

	/* the second record (IPv6, HUNG) or, offset >= 64, the first (IPv4,
	   WORKED) */
	if (offset >= HE_HISTFILE_RECORD)
		buf[HE_HISTFILE_HEADER + offset - HE_HISTFILE_RECORD] =
		    (unsigned char)value;
	else
		buf[HE_HISTFILE_HEADER + HE_HISTFILE_RECORD + offset] =
		    (unsigned char)value;
	refused_record(buf, len, what);
}

START_TEST(test_hostile_record_fields)
{
	refuse_record_edit(58, 5, "family 5");
	refuse_record_edit(58, 0, "family 0");
	refuse_record_edit(59, 0, "state 0 (unknown)");
	refuse_record_edit(59, 4, "state 4");
	refuse_record_edit(52, 1, "an errno on a HUNG record");
	refuse_record_edit(60, 1, "reserved bytes");
	refuse_record_edit(63, 0x80, "reserved bytes");
	refuse_record_edit(23, 0x80, "a negative srtt");
	refuse_record_edit(22, 0x01, "an srtt of years");
	refuse_record_edit(31, 0xff, "a negative rttvar");
	refuse_record_edit(15, 0x80, "a negative time");
	/* the first record: IPv4 */
	refuse_record_edit(64 + 32 + 5, 1, "IPv4 with bytes past its 4");
	refuse_record_edit(64 + 48, 3, "IPv4 with a scope id");
}
END_TEST

START_TEST(test_hostile_record_failed_errno)
{
	struct sample s;
	unsigned char *third = s.buf + HE_HISTFILE_HEADER +
	    2 * HE_HISTFILE_RECORD;

	sample_make(&s);
	/* FAILED with errno 0, then with one past 4095 */
	memset(third + 52, 0, 4);
	assert_edit_refused(s.buf, s.len, HE_HF_RECORD);
	third[52] = 0;
	third[53] = 0x10;	/* 4096 */
	assert_edit_refused(s.buf, s.len, HE_HF_RECORD);
}
END_TEST

START_TEST(test_hostile_record_order)
{
	unsigned char buf[1024], tmp[HE_HISTFILE_RECORD];
	struct he_hf_rec recs[3];
	size_t len = sample_file(buf, sizeof(buf), recs);
	unsigned char *r0 = buf + HE_HISTFILE_HEADER;

	/* two records swapped */
	swap_first_records(buf);
	assert_edit_refused(buf, len, HE_HF_RECORD);
	/* one destination twice */
	memcpy(r0 + HE_HISTFILE_RECORD, r0, sizeof(tmp));
	assert_edit_refused(buf, len, HE_HF_RECORD);
}
END_TEST

/* ----------------------------------------------------------------------- */
/* the lock and several writers */

/* A child that holds PATH.lock until it reads a byte from *release. */
static pid_t
hold_lock(int *release)
{
	char lock[400], c;
	int ready[2], rel[2];
	pid_t pid;

	snprintf(lock, sizeof(lock), "%s.lock", path);
	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe(rel), 0);
	pid = he_test_fork();
	if (pid == 0) {
		int fd = open(lock, O_RDWR | O_CREAT, 0600);
		if (fd < 0 || flock(fd, LOCK_EX) < 0)
			_exit(1);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		if (read(rel[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(ready[1]);
	close(rel[0]);
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	close(ready[0]);
	*release = rel[1];
	return pid;
}

static void
release_lock(pid_t pid, int release)
{
	ck_assert_int_eq(write(release, "x", 1), 1);
	close(release);
	he_test_child_ok(pid, "the lock's holder");
}

START_TEST(test_lock_given_up)
{
	struct he_hf_rec r = rec(NET_A, "192.0.2.1", 1, HE_HIST_HUNG, NOW);
	struct he_hf_save_info info;
	int64_t t0, took;
	int release;
	pid_t pid;

	ck_assert_int_eq(he_histfile_save_(path, &r, 1, NOW, EXPIRY, NET_A, 0,
	    0, NULL), HE_HF_OK);
	pid = hold_lock(&release);
	r.port = 2;
	/* the bound: 5 ms */
	t0 = he_test_now_ms();
	errno = 0;
	ck_assert_int_eq(he_histfile_save_(path, &r, 1, NOW, EXPIRY, NET_A,
	    HE_HISTFILE_LOCK_WAIT_US, 0, &info), HE_HF_BUSY);
	took = he_test_now_ms() - t0;
	ck_assert_int_eq(errno, EWOULDBLOCK);
	ck_assert_int_ge(info.lock_wait, HE_HISTFILE_LOCK_WAIT_US);
	ck_assert_int_lt(info.lock_wait, HE_TEST_UP(25) * 1000);
	ck_assert_int_lt(took, HE_TEST_UP(25));
	/* one try only */
	t0 = he_test_now_ms();
	ck_assert_int_eq(he_histfile_save_(path, &r, 1, NOW, EXPIRY, NET_A, 0,
	    0, &info), HE_HF_BUSY);
	ck_assert_int_lt(he_test_now_ms() - t0, HE_TEST_UP(10));
	/* nothing written meanwhile; readers do not wait */
	ck_assert_int_eq(load(NOW, EXPIRY), HE_HF_OK);
	ck_assert_int_eq(got.n, 1);
	release_lock(pid, release);
	ck_assert_int_eq(he_histfile_save_(path, &r, 1, NOW, EXPIRY, NET_A,
	    HE_HISTFILE_LOCK_WAIT_US, 0, &info), HE_HF_OK);
	ck_assert_int_eq(load(NOW, EXPIRY), HE_HF_OK);
	ck_assert_int_eq(got.n, 2);
}
END_TEST

START_TEST(test_lock_released_in_time)
{
	struct he_hf_rec r = rec(NET_A, "192.0.2.1", 1, HE_HIST_HUNG, NOW);
	struct he_hf_save_info info;
	int release;
	pid_t pid = hold_lock(&release);
	pid_t helper;

	/* the holder lets go after about 20 ms; a save that may wait 2 s
	   takes it then */
	helper = he_test_fork();
	if (helper == 0) {
		he_test_sleep_ms(20);
		_exit(write(release, "x", 1) == 1 ? 0 : 1);
	}
	ck_assert_int_eq(he_histfile_save_(path, &r, 1, NOW, EXPIRY, NET_A,
	    2 * SEC, 0, &info), HE_HF_OK);
	ck_assert_int_ge(info.lock_wait, 10 * 1000);
	ck_assert_int_lt(info.lock_wait, HE_TEST_UP(1000) * 1000);
	waitpid(helper, NULL, 0);
	close(release);
	waitpid(pid, NULL, 0);
}
END_TEST

/* Records of writer w, its j-th: a destination of its own. */
static struct he_hf_rec
writer_rec(int w, int j)
{
	char a[64];

	snprintf(a, sizeof(a), "2001:db8:%x::%x", w + 1, j + 1);
	return rec(w % 2 ? NET_A : NET_B, a, 443 + j % 3,
	    (enum he_hist_state)(1 + (w + j) % 3), NOW - j);
}

/* Sanitizers run every process several times slower, and 20 busy
   processes then wait for a core longer (the wait bound below is wall
   time). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SAN_SLOW 3
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SAN_SLOW 3
#endif
#endif
#ifndef SAN_SLOW
#define SAN_SLOW 1
#endif

/* A wait for the lock longer than this is late: the bound and a few ms of
   scheduling (20 processes share 2 cores here). */
#define LATE_US (HE_HISTFILE_LOCK_WAIT_US + HE_TEST_UP(5) * 1000)

struct writer_stats {
	int ok, busy, refused, late;
	int64_t max_wait, max_call, sum_wait;
	int waits[6];		/* < .1, < 1, < 2, < 5, < 10, >= 10 ms */
};

/* One process's life: nsaves saves, each with everything it knows (one
   more record each time), a load after each (never a refused file), and
   at the end retries until its last save got through. */
static void
writer(int w, int nsaves, int fd)
{
	struct he_hf_rec *mine = calloc((size_t)nsaves, sizeof(*mine));
	struct writer_stats s;
	int j, tries;

	memset(&s, 0, sizeof(s));
	if (!mine)
		_exit(2);
	for (j = 0; j < nsaves; j++) {
		struct he_hf_save_info info;
		enum he_hf_status st;
		struct timespec a, b;
		int64_t call;

		mine[j] = writer_rec(w, j);
		clock_gettime(CLOCK_MONOTONIC, &a);
		st = he_histfile_save_(path, mine, j + 1, NOW, EXPIRY, NET_A,
		    HE_HISTFILE_LOCK_WAIT_US, 0, &info);
		clock_gettime(CLOCK_MONOTONIC, &b);
		call = (int64_t)(b.tv_sec - a.tv_sec) * 1000000 +
		    (b.tv_nsec - a.tv_nsec) / 1000;
		if (st == HE_HF_OK)
			s.ok++;
		else if (st == HE_HF_BUSY)
			s.busy++;
		else
			s.refused++;
		if (info.lock_wait > s.max_wait)
			s.max_wait = info.lock_wait;
		s.sum_wait += info.lock_wait;
		if (info.lock_wait > LATE_US)
			s.late++;
		s.waits[info.lock_wait < 100 ? 0 : info.lock_wait < 1000 ? 1 :
		    info.lock_wait < 2000 ? 2 : info.lock_wait < 5000 ? 3 :
		    info.lock_wait < 10000 ? 4 : 5]++;
		if (call > s.max_call)
			s.max_call = call;
		{
			/* a reader sees the old file or the new, never none
			   once there was one, never a refused one */
			struct he_hf_rec one;
			int n;
			st = he_histfile_load_array_(path, NOW, EXPIRY, &one, 1,
			    &n);
			if (st != HE_HF_OK && !(st == HE_HF_MISSING && !s.ok))
				s.refused++;
		}
	}
	/* the exit's save: retried until it gets through */
	for (tries = 0; tries < 2000; tries++) {
		if (he_histfile_save_(path, mine, nsaves, NOW, EXPIRY, NET_A,
		    HE_HISTFILE_LOCK_WAIT_US, 0, NULL) == HE_HF_OK)
			break;
		he_test_sleep_ms(1);
	}
	if (tries == 2000)
		s.refused++;
	free(mine);
	if (write(fd, &s, sizeof(s)) != (ssize_t)sizeof(s))
		_exit(2);
	_exit(0);
}

/* nproc writers at once, nsaves each; every record of each is in the
   file at the end. */
static void
writers(int nproc, int nsaves, int report)
{
	struct writer_stats all, s;
	pid_t pid[32];
	int fds[2], i, j, waits[6] = { 0 };
	int64_t t0 = he_test_now_ms();

	ck_assert_int_le(nproc, 32);
	memset(&all, 0, sizeof(all));
	ck_assert_int_eq(pipe(fds), 0);
	for (i = 0; i < nproc; i++) {
		if ((pid[i] = he_test_fork()) == 0) {
			close(fds[0]);
			writer(i, nsaves, fds[1]);
		}
	}
	close(fds[1]);
	for (i = 0; i < nproc; i++) {
		ck_assert_int_eq(read(fds[0], &s, sizeof(s)),
		    (ssize_t)sizeof(s));
		all.ok += s.ok;
		all.busy += s.busy;
		all.refused += s.refused;
		all.late += s.late;
		all.sum_wait += s.sum_wait;
		if (s.max_wait > all.max_wait)
			all.max_wait = s.max_wait;
		if (s.max_call > all.max_call)
			all.max_call = s.max_call;
		for (j = 0; j < 6; j++)
			waits[j] += s.waits[j];
	}
	close(fds[0]);
	for (i = 0; i < nproc; i++)
		he_test_child_ok(pid[i], "a writer");
	if (report)
		printf("check_histfile: %d processes x %d saves in %" PRId64
		    " ms: %d saved, %d gave up (busy); lock wait: mean %"
		    PRId64 " us, max %" PRId64 " us (<0.1 ms %d, <1 ms %d, "
		    "<2 ms %d, <5 ms %d, <10 ms %d, more %d; later than %"
		    PRId64 " us: %d); longest save call %" PRId64 " us\n",
		    nproc, nsaves, he_test_now_ms() - t0, all.ok, all.busy,
		    all.sum_wait / (nproc * nsaves), all.max_wait, waits[0],
		    waits[1], waits[2], waits[3], waits[4], waits[5],
		    (int64_t)LATE_US, all.late, all.max_call);
	ck_assert_int_eq(all.refused, 0);	/* never a corrupt file */
	ck_assert_int_gt(all.ok, 0);
	/* a give-up waits the bound and a nap more, and what the scheduler
	   adds: 20 busy processes on 2 cores wait for a core now and then
	   (printed above: how many waits were later than LATE_US); never
	   much later (a lock held for good: test_lock_given_up) */
	ck_assert_int_lt(all.max_wait, HE_HISTFILE_LOCK_WAIT_US +
	    HE_TEST_UP(150) * SAN_SLOW * 1000);
	ck_assert_int_eq(load(NOW, EXPIRY), HE_HF_OK);
	ck_assert_int_eq(got.n, nproc * nsaves);
	for (i = 0; i < nproc; i++)
		for (j = 0; j < nsaves; j++) {
			struct he_hf_rec r = writer_rec(i, j);
			ck_assert_msg(got_has(&r), "writer %d's record %d lost",
			    i, j);
		}
}

START_TEST(test_two_writers)
{
	struct he_hf_rec a = rec(NET_A, "192.0.2.1", 1, HE_HIST_HUNG, NOW);
	struct he_hf_rec b = rec(NET_A, "192.0.2.2", 1, HE_HIST_HUNG, NOW);

	/* one after the other, each knowing only its own */
	ck_assert_int_eq(he_histfile_save_(path, &a, 1, NOW, EXPIRY, NET_A, 0,
	    0, NULL), HE_HF_OK);
	ck_assert_int_eq(he_histfile_save_(path, &b, 1, NOW, EXPIRY, NET_A, 0,
	    0, NULL), HE_HF_OK);
	ck_assert_int_eq(load(NOW, EXPIRY), HE_HF_OK);
	ck_assert_int_eq(got.n, 2);
	/* two processes at once, 100 saves each */
	he_test_rm_rf(path);
	writers(2, 100, 0);
}
END_TEST

START_TEST(test_many_writers)
{
	/* 20 processes, 50 saves each (fewer under valgrind, which runs
	   each some 20 times slower) */
	writers(20, he_test_slow_factor() >= 5 ? 10 : 50, 1);
}
END_TEST

/* ----------------------------------------------------------------------- */
/* the default path */

static char pathbuf[4200];
static char *saved_env[3];
static const char *const env_names[3] = {
	"EVHAPPY_HISTORY_FILE", "XDG_CACHE_HOME", "HOME"
};

/* The path tests change the environment: put it back (CK_FORK=no). */
static void
setup_env(void)
{
	int i;

	for (i = 0; i < 3; i++) {
		const char *v = getenv(env_names[i]);
		saved_env[i] = v ? strdup(v) : NULL;
	}
}

static void
teardown_env(void)
{
	int i;

	for (i = 0; i < 3; i++) {
		if (saved_env[i])
			setenv(env_names[i], saved_env[i], 1);
		else
			unsetenv(env_names[i]);
		free(saved_env[i]);
		saved_env[i] = NULL;
	}
	he_histfile_test_secure_(-1);
}

static enum he_hf_status
dflt(void)
{
	return he_histfile_default_path_(pathbuf, sizeof(pathbuf));
}

static void
env_clear(void)
{
	unsetenv("EVHAPPY_HISTORY_FILE");
	unsetenv("XDG_CACHE_HOME");
	unsetenv("HOME");
}

/* The default path from the environment (NULL: unset). */
static const struct {
	const char *home, *xdg, *var;	/* HOME, XDG_CACHE_HOME, ours */
	size_t room;			/* the caller's; 0: sizeof(pathbuf) */
	enum he_hf_status st;
	int err;			/* errno, when not 0 */
	const char *path;		/* when not NULL */
} path_cases[] = {
	{ "/home/u", "/var/cache/u", NULL, 0, HE_HF_OK, 0,
	    "/var/cache/u/evhappy/history" },
	/* a relative XDG_CACHE_HOME: ignored (the XDG rule) */
	{ "/home/u", "cache", NULL, 0, HE_HF_OK, 0,
	    "/home/u/.cache/evhappy/history" },
	/* an empty one: unset */
	{ "/home/u", "", NULL, 0, HE_HF_OK, 0,
	    "/home/u/.cache/evhappy/history" },
	{ "/home/u", NULL, NULL, 0, HE_HF_OK, 0,
	    "/home/u/.cache/evhappy/history" },
	/* no home: no file */
	{ NULL, NULL, NULL, 0, HE_HF_OFF, ENOENT,
	    "" },
	{ "relative", NULL, NULL, 0, HE_HF_OFF, 0,
	    NULL },
	/* EVHAPPY_HISTORY_FILE: a path, off, no absolute path, or empty */
	{ "/home/u", NULL, "/srv/h", 0, HE_HF_OK, 0,
	    "/srv/h" },
	{ "/home/u", NULL, "off", 0, HE_HF_OFF, 0,
	    NULL },
	{ "/home/u", NULL, "h", 0, HE_HF_BADPATH, EINVAL,
	    NULL },
	{ "/home/u", NULL, "", 0, HE_HF_OK, 0,
	    "/home/u/.cache/evhappy/history" },
	/* longer than the caller's room */
	{ "/home/u", NULL, "/srv/h", 4, HE_HF_BADPATH, ENAMETOOLONG,
	    NULL },
};

static void
setenv_or_unset(const char *name, const char *value)
{
	if (value)
		setenv(name, value, 1);
	else
		unsetenv(name);
}

START_TEST(test_path)
{
	setenv_or_unset("HOME", path_cases[_i].home);
	setenv_or_unset("XDG_CACHE_HOME", path_cases[_i].xdg);
	setenv_or_unset("EVHAPPY_HISTORY_FILE", path_cases[_i].var);
	errno = 0;
	ck_assert_int_eq(he_histfile_default_path_(pathbuf,
	    path_cases[_i].room ? path_cases[_i].room : sizeof(pathbuf)),
	    path_cases[_i].st);
	if (path_cases[_i].err)
		ck_assert_int_eq(errno, path_cases[_i].err);
	if (path_cases[_i].path)
		ck_assert_str_eq(pathbuf, path_cases[_i].path);
}
END_TEST

START_TEST(test_path_setuid)
{
	env_clear();
	setenv("HOME", "/home/u", 1);
	setenv("XDG_CACHE_HOME", "/var/cache/u", 1);
	setenv("EVHAPPY_HISTORY_FILE", "/srv/h", 1);
	ck_assert_int_eq(he_histfile_secure_(), 0);
	he_histfile_test_secure_(1);
	ck_assert_int_eq(he_histfile_secure_(), 1);
	ck_assert_int_eq(dflt(), HE_HF_OFF);
	unsetenv("EVHAPPY_HISTORY_FILE");
	ck_assert_int_eq(dflt(), HE_HF_OFF);
	unsetenv("XDG_CACHE_HOME");
	ck_assert_int_eq(dflt(), HE_HF_OFF);
	he_histfile_test_secure_(-1);
	ck_assert_int_eq(dflt(), HE_HF_OK);
}
END_TEST

/* ----------------------------------------------------------------------- */
/* the write-back policy */

START_TEST(test_writeback)
{
	struct he_hf_writeback wb;
	int64_t t = 5 * SEC;

	memset(&wb, 0, sizeof(wb));
	ck_assert(he_hf_wb_due_at_(&wb) == INT64_MAX);
	ck_assert(!he_hf_wb_due_(&wb, t));
	/* the first change: due at once (a short-lived process) */
	he_hf_wb_changed_(&wb, t);
	ck_assert(he_hf_wb_due_(&wb, t));
	he_hf_wb_attempted_(&wb, t + 1, HE_HF_OK);
	ck_assert(!he_hf_wb_due_(&wb, t + 10 * SEC));
	/* the next change: a second after the last save */
	he_hf_wb_changed_(&wb, t + 200000);
	ck_assert(!he_hf_wb_due_(&wb, t + SEC));
	ck_assert_int_eq(he_hf_wb_due_at_(&wb), t + 1 + SEC);
	ck_assert(he_hf_wb_due_(&wb, t + 1 + SEC));
	/* busy: retried a second later, not at once */
	he_hf_wb_attempted_(&wb, t + 2 * SEC, HE_HF_BUSY);
	ck_assert(!he_hf_wb_due_(&wb, t + 2 * SEC + 1));
	ck_assert_int_eq(he_hf_wb_due_at_(&wb), t + 3 * SEC);
	/* a change while the save ran (after it took its copy) stays
	   unsaved */
	he_hf_wb_changed_(&wb, t + 3 * SEC + 5);
	he_hf_wb_attempted_(&wb, t + 3 * SEC, HE_HF_OK);
	ck_assert_int_eq(he_hf_wb_due_at_(&wb), t + 4 * SEC);
	he_hf_wb_attempted_(&wb, t + 4 * SEC, HE_HF_OK);
	ck_assert(he_hf_wb_due_at_(&wb) == INT64_MAX);
	/* after a long quiet time the next change is saved at once */
	he_hf_wb_changed_(&wb, t + 60 * SEC);
	ck_assert(he_hf_wb_due_(&wb, t + 60 * SEC));
}
END_TEST

/* ----------------------------------------------------------------------- */
/* the network key */

/* A default route through gw (its family's) on dev. */
static void
route(struct he_netid *id, const char *gw, const char *dev)
{
	int v6 = strchr(gw, ':') != NULL;
	struct he_netid_family *f = v6 ? &id->v6 : &id->v4;
	struct he_netid_route *r = &f->route[f->nroutes++];

	memset(r, 0, sizeof(*r));
	ck_assert_int_eq(inet_pton(v6 ? AF_INET6 : AF_INET, gw, r->gw), 1);
	snprintf(r->dev, sizeof(r->dev), "%s", dev);
}

static void
prefix(struct he_netid *id, const char *a, int plen)
{
	int v6 = strchr(a, ':') != NULL;
	struct he_netid_family *f = v6 ? &id->v6 : &id->v4;
	struct he_netid_prefix *p = &f->prefix[f->nprefixes++];

	memset(p, 0, sizeof(*p));
	ck_assert_int_eq(inet_pton(v6 ? AF_INET6 : AF_INET, a, p->addr), 1);
	p->plen = (unsigned char)plen;
}

/* The home network of these tests. */
static uint64_t
home_key(struct he_netid *id, int order)
{
	memset(id, 0, sizeof(*id));
	if (order) {
		prefix(id, "2001:db8:1::10", 64);
		prefix(id, "192.0.2.10", 24);
		route(id, "fe80::1", "wlan0");
		route(id, "192.0.2.1", "wlan0");
	} else {
		route(id, "192.0.2.1", "wlan0");
		route(id, "fe80::1", "wlan0");
		prefix(id, "192.0.2.10", 24);
		prefix(id, "2001:db8:1::10", 64);
	}
	return he_netid_key_(id);
}

START_TEST(test_netid_canonical)
{
	struct he_netid id, id2;
	uint64_t home = home_key(&id, 0);

	ck_assert(home != 0);
	ck_assert(home_key(&id2, 1) == home);		/* any order */
	ck_assert(!memcmp(&id, &id2, sizeof(id)));
	/* a privacy address, a DHCPv6 /128, another address of the subnet */
	home_key(&id, 0);
	prefix(&id, "2001:db8:1:0:f55f:605:bea6:4067", 64);
	prefix(&id, "2001:db8:1::99", 128);
	prefix(&id, "192.0.2.77", 24);
	ck_assert(he_netid_key_(&id) == home);
	ck_assert_int_eq(id.v6.nprefixes, 1);
	/* what changes it: the gateway of either family, the interface, the
	   prefix, the subnet; each unlike the others */
	{
		uint64_t k[6];
		int i, j;

		home_key(&id, 0);
		id.v4.route[0].gw[3] = 2;
		k[0] = he_netid_key_(&id);
		home_key(&id, 0);
		id.v6.route[0].gw[15] = 2;
		k[1] = he_netid_key_(&id);
		home_key(&id, 0);
		snprintf(id.v4.route[0].dev, sizeof(id.v4.route[0].dev),
		    "eth0");
		k[2] = he_netid_key_(&id);
		home_key(&id, 0);
		id.v6.prefix[0].addr[5] = 2;	/* 2001:db8:2::/64 */
		k[3] = he_netid_key_(&id);
		home_key(&id, 0);
		id.v4.prefix[0].plen = 25;
		k[4] = he_netid_key_(&id);
		k[5] = he_netid_none_key_();
		for (i = 0; i < 6; i++) {
			ck_assert_msg(k[i] != home, "change %d kept the key", i);
			for (j = 0; j < i; j++)
				ck_assert(k[i] != k[j]);
		}
	}
	/* junk past the name and past an IPv4 address does not count */
	home_key(&id, 0);
	id.v4.route[0].dev[10] = 'x';
	id.v4.route[0].gw[9] = 1;
	id.v4.prefix[0].addr[3] = 99;	/* host bits */
	ck_assert(he_netid_key_(&id) == home);
}
END_TEST

START_TEST(test_netid_pinned)
{
	struct he_netid id;

	/* Files keep keys: a change of what is hashed, or how, must come
	   with a new HE_NETID_VERSION (and these values). */
	ck_assert_int_eq(HE_NETID_VERSION, 1);
	ck_assert_msg(he_netid_none_key_() == UINT64_C(0x73d7efbeca5c76ea),
	    "none key %016" PRIx64, he_netid_none_key_());
	ck_assert_msg(home_key(&id, 0) == UINT64_C(0x987dd115dd33b13f),
	    "home key %016" PRIx64, home_key(&id, 0));
}
END_TEST

START_TEST(test_netid_format)
{
	struct he_netid id;
	char buf[256], small[12];
	int n;

	home_key(&id, 0);
	prefix(&id, "2001:db8:1::10", 64);
	he_netid_key_(&id);
	n = he_netid_format_(&id, buf, sizeof(buf));
	ck_assert_str_eq(buf, "v4 via 192.0.2.1 dev wlan0 192.0.2.0/24; "
	    "v6 via fe80::1 dev wlan0 2001:db8:1::/64");
	ck_assert_int_eq(n, (int)strlen(buf));
	ck_assert_int_eq(he_netid_format_(&id, small, sizeof(small)), n);
	ck_assert_str_eq(small, "v4 via 192.");
	memset(&id, 0, sizeof(id));
	he_netid_format_(&id, buf, sizeof(buf));
	ck_assert_str_eq(buf, "no default route");
	/* a point-to-point default (a VPN) */
	memset(&id, 0, sizeof(id));
	id.v4.nroutes = 1;
	snprintf(id.v4.route[0].dev, sizeof(id.v4.route[0].dev), "tun0");
	he_netid_key_(&id);
	he_netid_format_(&id, buf, sizeof(buf));
	ck_assert_str_eq(buf, "v4 dev tun0");
}
END_TEST

START_TEST(test_netid_read_here)
{
	struct he_netid a, b;
	int64_t t0;
	int i;

	if (he_netid_read_(&a) < 0) {
		ck_assert_int_eq(errno, ENOSYS);
		return;
	}
	ck_assert(a.key != 0);
	/* the same in a second reading, and its key is its inputs' */
	ck_assert_int_eq(he_netid_read_(&b), 0);
	ck_assert(a.key == b.key);
	ck_assert(he_netid_key_(&b) == a.key);
	/* cheap: printed for the record, bounded generously */
	t0 = he_test_now_ms();
	for (i = 0; i < 200; i++)
		ck_assert_int_eq(he_netid_read_(&b), 0);
	printf("check_histfile: he_netid_read_: %.1f us per reading\n",
	    (double)(he_test_now_ms() - t0) * 1000 / 200);
	ck_assert_int_lt(he_test_now_ms() - t0, HE_TEST_UP(2000));
	ck_assert_int_eq(he_netid_read_(NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

static void
watch_cb(struct he_netwatch *w, void *arg)
{
	(void)w;
	(void)arg;
}

START_TEST(test_netwatch_calls)
{
	struct he_netwatch *w = he_netwatch_new_();
	struct event_base *base;
	int fds = he_test_count_fds();
	pid_t pid;

	if (!w) {
		ck_assert_int_eq(errno, ENOSYS);
		return;
	}
	fds = he_test_count_fds();
	ck_assert_int_ge(he_netwatch_fd_(w), 0);
	ck_assert_int_ge(he_netwatch_changed_(w), 0);
	/* a child has a socket of its own, and says "changed" first */
	pid = he_test_fork();
	if (pid == 0) {
		int fd = he_netwatch_fd_(w);
		if (he_netwatch_changed_(w) != 1 || he_netwatch_fd_(w) == fd ||
		    he_netwatch_changed_(w) < 0)
			_exit(1);
		he_netwatch_free_(w);
		_exit(0);
	}
	he_test_child_ok(pid, "the watch in a child");
	/* on a base: once at a time */
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	ck_assert_int_eq(he_netwatch_attach_(w, NULL, watch_cb, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(he_netwatch_attach_(w, base, watch_cb, NULL), 0);
	ck_assert_int_eq(he_netwatch_attach_(w, base, watch_cb, NULL), -1);
	ck_assert_int_eq(errno, EBUSY);
	he_netwatch_detach_(w);
	ck_assert_int_eq(he_netwatch_attach_(w, base, watch_cb, NULL), 0);
	he_netwatch_free_(w);		/* detaches */
	event_base_free(base);
	ck_assert_int_eq(he_test_count_fds(), fds - 1);
	ck_assert_int_eq(he_netwatch_changed_(NULL), -1);
	he_netwatch_free_(NULL);
}
END_TEST

struct watch_thread {
	struct he_netwatch *w;
	struct he_netid id;
	int bad;
};

static void *
watch_thread(void *arg)
{
	struct watch_thread *t = arg;
	int i;

	for (i = 0; i < 200; i++) {
		if (he_netwatch_changed_(t->w) < 0)
			t->bad++;
		if (i % 20 == 0 && he_netid_read_(&t->id) < 0)
			t->bad++;
	}
	return NULL;
}

START_TEST(test_netwatch_threads)
{
	struct he_netwatch *w = he_netwatch_new_();
	struct watch_thread t[4];
	pthread_t th[4];
	int i;

	if (!w) {
		ck_assert_int_eq(errno, ENOSYS);
		return;
	}
	/* one watch and the reading, from several threads at once (the
	   ThreadSanitizer pass runs this program) */
	for (i = 0; i < 4; i++) {
		memset(&t[i], 0, sizeof(t[i]));
		t[i].w = w;
		ck_assert_int_eq(pthread_create(&th[i], NULL, watch_thread,
		    &t[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
		ck_assert_int_eq(t[i].bad, 0);
		ck_assert(t[i].id.key == t[0].id.key);
	}
	he_netwatch_free_(w);
}
END_TEST

Suite *
he_test_suite(void)
{
	const struct he_test_def tests[] = {
		HE_TCASE_FX("format", 10, setup_dir, teardown_dir),

		HE_TEST(test_bytes_round_trip),
		HE_TEST(test_encode_refuses),
		HE_TEST(test_merge_newer_wins),
		HE_TEST(test_merge_bound_order),
		HE_TEST(test_expiry_on_load),
		HE_TEST(test_prefix_round_trip),
		HE_TEST(test_prefix_merge),

		HE_TCASE_FX("file", 10, setup_dir, teardown_dir),
		HE_TEST(test_file_round_trip),
		HE_TEST(test_created_modes),
		HE_TEST(test_save_replaces_corrupt),
		HE_TEST(test_save_leaves_foreign),
		HE_TEST(test_forget),

		HE_TCASE_FX("hostile", 10, setup_dir, teardown_dir),
		HE_TEST(test_hostile_symlink),
		HE_TEST(test_hostile_fifo),
		HE_TEST(test_hostile_directory),
		HE_TEST(test_hostile_owner),
		HE_TEST(test_hostile_group_writable),
		HE_TEST(test_hostile_world_writable),
		HE_TEST(test_hostile_dir_writable),
		HE_TEST(test_hostile_dir_owner),
		HE_TEST(test_hostile_truncated),
		HE_TEST(test_hostile_too_large),
		HE_TEST(test_hostile_version),
		HE_TEST(test_hostile_magic),
		HE_TEST(test_hostile_header),
		HE_TEST(test_hostile_checksum),
		HE_TEST(test_hostile_record_fields),
		HE_TEST(test_hostile_record_failed_errno),
		HE_TEST(test_hostile_record_order),
		HE_TEST(test_hostile_prefix_records),

		HE_TCASE_FX("lock", 120, setup_dir, teardown_dir),
		HE_TEST(test_lock_given_up),
		HE_TEST(test_lock_released_in_time),
		HE_TEST(test_two_writers),
		HE_TEST(test_many_writers),

		HE_TCASE_FX("path", 10, setup_env, teardown_env),
		HE_LOOP(test_path, HE_TEST_N(path_cases)),
		HE_TEST(test_path_setuid),

		HE_TCASE("writeback", 10),
		HE_TEST(test_writeback),

		HE_TCASE("netid", 30),
		HE_TEST(test_netid_canonical),
		HE_TEST(test_netid_pinned),
		HE_TEST(test_netid_format),
		HE_TEST(test_netid_read_here),
		HE_TEST(test_netwatch_calls),
		HE_TEST(test_netwatch_threads),
	};

	return he_test_suite_of("histfile", tests, HE_TEST_N(tests));
}
