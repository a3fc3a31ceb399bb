/*
 * libFuzzer target: the history file's loader (he_histfile_parse_, what
 * he_histfile_load_ runs on a file's bytes) and the merge a save does
 * (he_histfile_merge_), on bytes from anywhere.
 *
 * Input: one mode byte, then the file's bytes.  A checksum is a wall a
 * fuzzer seldom climbs, so the mode can mend the header first: bit 0
 * writes the right checksum into the copy, bit 1 the count that matches
 * the length (cutting a partial record off); bits 2-5 are the merge's
 * bound minus one.  Without them the bytes are parsed as they are.
 *
 * What is checked (what the file's readers rely on):
 * - a refused input calls nothing back;
 * - an accepted one calls back valid records (he_histfile_check_rec_) in
 *   strictly ascending order, at most as many as the header says, and
 *   when none was skipped (nor counted as learned now: within the skew
 *   in the future), encoding them gives back the input: the format is
 *   canonical, so the loader accepts nothing the writer cannot write;
 * - a later `now` with an expiry calls back a subset;
 * - the merge of the records with a changed copy of them: sorted, unique,
 *   valid, within the bound, each from one of the inputs and the newest
 *   of its destination (or prefix); nothing lost when the bound did not
 *   bite;
 * - the NAT64 prefix records (version 2) of the first network, given to a
 *   NAT64 store as a new process's file gives them (he_nat64_cache_
 *   import_): what the store then saves (he_nat64_cache_export_) is each
 *   one of the records, live and valid; the prefixes it uses are of
 *   records not withdrawn; the same records again change nothing.
 * Leaks and bad reads are the sanitizers'.
 */
#include "he_histfile.h"
#include "he_nat64_cache.h"
#include "he_persist.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 2033-05-18, in microseconds: past every seed's records */
#define NOW ((int64_t)2000000000 * 1000000)
#define MAX_IN HE_HISTFILE_MAX

struct got {
	struct he_hf_rec *recs;
	int n;
};

static void
collect(const struct he_hf_rec *r, void *arg)
{
	struct got *g = arg;

	CHECK(g->n < MAX_IN, "more records than a file holds");
	g->recs[g->n++] = *r;
}

/* The time a merge gives a record: within the skew, now. */
static int64_t
eff(int64_t learned)
{
	return learned > NOW ? NOW : learned;
}

static void
check_merge(const struct he_hf_rec *recs, int n, int max)
{
	struct he_hf_rec *mine = NULL, *out = NULL;
	int i, j, k, dropped;

	if (n == 0)
		return;
	mine = malloc((size_t)n * sizeof(*mine));
	out = malloc((size_t)max * sizeof(*out));
	CHECK(mine && out, "out of memory");
	/* another process's view: some newer, some older, one other key */
	for (i = 0; i < n; i++) {
		mine[i] = recs[i];
		/* (a prefix's lifetime moves with it: still valid) */
		if (i % 3 == 0) {
			mine[i].learned += 1;
			mine[i].expires += mine[i].kind == HE_HF_NAT64;
		} else if (i % 3 == 1 && mine[i].learned > 1) {
			mine[i].learned -= 1;
			mine[i].expires -= mine[i].kind == HE_HF_NAT64;
		}
		if (i % 5 == 4)
			mine[i].port ^= 1;
	}
	k = he_histfile_merge_(out, max, recs, n, mine, n, NOW, 0,
	    recs[0].netkey, &dropped);
	CHECK(k >= 0 && k <= max, "merge returned %d for max %d", k, max);
	for (i = 0; i < k; i++) {
		int64_t newest = -1;
		int from = 0;

		CHECK(he_histfile_check_rec_(&out[i]) == HE_HF_OK,
		    "merge made an invalid record");
		CHECK(!i || he_histfile_cmp_(&out[i - 1], &out[i]) < 0,
		    "merge left records out of order");
		for (j = 0; j < n; j++) {
			if (!he_histfile_cmp_(&recs[j], &out[i])) {
				from |= eff(recs[j].learned) == out[i].learned;
				if (eff(recs[j].learned) > newest)
					newest = eff(recs[j].learned);
			}
			if (!he_histfile_cmp_(&mine[j], &out[i])) {
				from |= eff(mine[j].learned) == out[i].learned;
				if (eff(mine[j].learned) > newest)
					newest = eff(mine[j].learned);
			}
		}
		CHECK(from, "merge made a record of neither input");
		CHECK(out[i].learned == newest, "merge kept an older record");
	}
	if (dropped == 0) {
		/* every destination of both inputs is there */
		for (j = 0; j < 2 * n; j++) {
			const struct he_hf_rec *r = j < n ? &recs[j] : &mine[j - n];
			int lo = 0, hi = k;

			while (lo < hi) {
				int mid = lo + (hi - lo) / 2;
				if (he_histfile_cmp_(&out[mid], r) < 0)
					lo = mid + 1;
				else
					hi = mid;
			}
			CHECK(lo < k && !he_histfile_cmp_(&out[lo], r),
			    "merge lost a destination");
		}
	} else {
		CHECK(k == max, "merge dropped %d yet holds %d < %d",
		    dropped, k, max);
	}
	free(mine);
	free(out);
}

/* The store's clock, far from the wall clock's numbers. */
#define MONO ((int64_t)1000 * 1000000)
#define SAVED_IN 64

/* Whether a saved prefix is one of the records, on the store's clock. */
static int
from_records(const struct he_nat64_saved *s, const struct he_nat64_saved *in,
    int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (in[i].source == s->source &&
		    in[i].prefix.len == s->prefix.len &&
		    !memcmp(in[i].prefix.addr, s->prefix.addr, 16) &&
		    !memcmp(in[i].router, s->router, 16) &&
		    in[i].withdrawn == s->withdrawn &&
		    in[i].learned == s->learned && in[i].expires == s->expires)
			return 1;
	return 0;
}

static void
check_import(const struct he_hf_rec *recs, int n)
{
	struct he_nat64_saved in[SAVED_IN], out[HE_NAT64_SAVED_MAX];
	struct he_nat64_known k[HE_NAT64_MAX_PREFIXES];
	struct he_nat64_cache *c;
	int i, m, nk, j, kin = 0;

	for (i = 0; i < n && kin < SAVED_IN; i++)
		if (recs[i].kind == HE_HF_NAT64 &&
		    recs[i].netkey == recs[0].netkey)
			he_persist_prefix_from_file_(&recs[i], MONO, NOW,
			    &in[kin++]);
	if (!kin)
		return;
	CHECK(he_nat64_cache_new_(&c) == 0, "out of memory");
	(void)he_nat64_cache_import_(c, in, kin, MONO);
	m = he_nat64_cache_export_(c, MONO, out, HE_NAT64_SAVED_MAX);
	CHECK(m >= 0 && m <= HE_NAT64_SAVED_MAX, "export gave %d", m);
	for (i = 0; i < m; i++) {
		CHECK(from_records(&out[i], in, kin),
		    "the store saves a prefix no record gave");
		CHECK(out[i].expires > MONO, "the store saves an expired one");
	}
	nk = he_nat64_cache_get_(c, MONO, 1, k, HE_NAT64_MAX_PREFIXES);
	for (i = 0; i < nk; i++) {
		int found = 0;

		CHECK(he_nat64_prefix_ok_(&k[i].prefix), "an invalid prefix");
		CHECK(k[i].restored, "a restored prefix not said so");
		for (j = 0; j < kin; j++)
			found |= !in[j].withdrawn && in[j].prefix.len ==
			    k[i].prefix.len && !memcmp(in[j].prefix.addr,
			    k[i].prefix.addr, 16);
		CHECK(found, "a prefix used that no live record gave");
	}
	CHECK(he_nat64_cache_import_(c, in, kin, MONO) == 0,
	    "the same records changed the store again");
	he_nat64_cache_free_(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct got g, g2;
	unsigned char *b, *again = NULL;
	size_t len;
	unsigned mode;
	enum he_hf_status st;
	int i, n = 0, clamped = 0;

	if (size < 1 || size > HE_HISTFILE_MAX_SIZE + 64)
		return 0;
	mode = data[0];
	len = size - 1;
	b = malloc(len ? len : 1);
	g.recs = malloc(MAX_IN * sizeof(*g.recs));
	g2.recs = malloc(MAX_IN * sizeof(*g2.recs));
	CHECK(b && g.recs && g2.recs, "out of memory");
	memcpy(b, data + 1, len);
	if ((mode & 2) && len >= HE_HISTFILE_HEADER) {
		size_t count = (len - HE_HISTFILE_HEADER) / HE_HISTFILE_RECORD;
		b[16] = (unsigned char)count;		/* < 2^16 */
		b[17] = (unsigned char)(count >> 8);
		b[18] = b[19] = 0;
		len = HE_HISTFILE_HEADER + count * HE_HISTFILE_RECORD;
	}
	if ((mode & 1) && len >= HE_HISTFILE_HEADER)
		he_histfile_seal_(b, len);

	g.n = 0;
	st = he_histfile_parse_(b, len, NOW, 0, collect, &g, &n);
	if (st != HE_HF_OK) {
		CHECK(g.n == 0 && n == 0, "a refused file called back");
		goto end;
	}
	CHECK(n == g.n, "nloaded %d, called back %d", n, g.n);
	CHECK(len >= HE_HISTFILE_HEADER &&
	    (size_t)n <= (len - HE_HISTFILE_HEADER) / HE_HISTFILE_RECORD,
	    "more records than the file holds");
	for (i = 0; i < n; i++) {
		CHECK(he_histfile_check_rec_(&g.recs[i]) == HE_HF_OK,
		    "record %d is invalid", i);
		CHECK(!i || he_histfile_cmp_(&g.recs[i - 1], &g.recs[i]) < 0,
		    "records %d, %d out of order", i - 1, i);
		CHECK(g.recs[i].learned <= NOW, "a record from the future");
		clamped |= g.recs[i].learned == NOW;
	}
	if ((size_t)n == (len - HE_HISTFILE_HEADER) / HE_HISTFILE_RECORD &&
	    !clamped) {
		again = malloc(len);
		CHECK(again, "out of memory");
		CHECK(he_histfile_encode_(g.recs, n, again, len) == len &&
		    !memcmp(again, b, len),
		    "the loader accepted what the writer would not write");
	}

	/* a day later, with a 10-minute expiry: a subset */
	g2.n = 0;
	st = he_histfile_parse_(b, len, NOW + (int64_t)86400 * 1000000,
	    HE_HISTORY_EXPIRY_US, collect, &g2, NULL);
	CHECK(st == HE_HF_OK, "accepted once, refused later");
	CHECK(g2.n <= g.n, "expiry added records");

	check_merge(g.recs, n, (int)((mode >> 2) & 15) + 1);
	check_import(g.recs, n);
end:
	free(again);
	free(b);
	free(g.recs);
	free(g2.recs);
	return 0;
}
