/*
 * The connection history across networks and processes: the store's
 * networks (he_history.c) and the history file as the library uses it
 * (he_persist.c, evhappy_set_history_file and its siblings).
 *
 * - The store on a fake clock: entries of another network are neither used
 *   nor changed, and apply again when the host is back; many networks; what
 *   comes from a file (newer wins, the flag, cleared by a lesson).
 * - The file: what a race learns is in it, under the network's key; a new
 *   "process" (the store cleared, the file set again) uses it, and the
 *   trace says so and names the network; the write-back policy (at once,
 *   then at most once a second, and at exit); --forget's call; the
 *   arguments.
 * - Hostile files, as the library meets them (their every case is in
 *   check_histfile): refused once, said once on stderr, and the races go
 *   on with the history in memory.
 *
 * The network's key here is the host's (or the namespace's);
 * tests/check_histfile_netns.sh changes networks for real.
 */
#include "he_context.h"
#include "he_histfile.h"
#include "he_history.h"
#include "he_persist.h"
#include "he_lab.h"
#include "he_testutil.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>

#define T0 ((int64_t)7000 * 1000000)
#define US(ms) ((int64_t)(ms) * 1000)
#define NET_A ((uint64_t)0x1111111111111111)
#define NET_B ((uint64_t)0x2222222222222222)


static struct he_history *
new_store(int n)
{
	struct he_history *h;

	ck_assert_int_eq(he_history_new_(n, &h), 0);
	return h;
}

static int
state_of(struct he_history *h, const char *lit, int64_t now)
{
	struct he_hist_info in;

	he_history_lookup_(h, he_test_sa(lit, 443), now, &in);
	return in.state;
}

/* ----------------------------------------------------------------------- */
/* The store's networks */

struct seen {
	int n;
	uint64_t net[16];
	int state[16];
	int from_file[16];
};

static void
see(const struct he_hist_rec *r, void *arg)
{
	struct seen *s = arg;

	if (s->n < 16) {
		s->net[s->n] = r->net;
		s->state[s->n] = r->state;
		s->from_file[s->n] = r->from_file;
	}
	s->n++;
}

/* A black hole learned on network A is not used on B, where the same
   address works; back on A, A's verdict applies again. */
START_TEST(test_store_networks)
{
	struct he_history *h = new_store(16);
	struct seen s;

	he_history_set_network_(h, NET_A);
	ck_assert(he_history_network_(h) == NET_A);
	he_history_learn_(h, he_test_sa("2001:db8::1", 443), T0, HE_HIST_HUNG, 0,
	    0);
	ck_assert_int_eq(state_of(h, "2001:db8::1", T0), HE_HIST_HUNG);

	he_history_set_network_(h, NET_B);
	ck_assert_int_eq(state_of(h, "2001:db8::1", T0), HE_HIST_UNKNOWN);
	he_history_learn_(h, he_test_sa("2001:db8::1", 443), T0 + US(10),
	    HE_HIST_WORKED, 0, US(20));
	ck_assert_int_eq(state_of(h, "2001:db8::1", T0), HE_HIST_WORKED);

	he_history_set_network_(h, NET_A);
	ck_assert_int_eq(state_of(h, "2001:db8::1", T0 + US(20)),
	    HE_HIST_HUNG);

	/* each_: all networks, or the current one */
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(he_history_each_(h, T0 + US(20), 1, see, &s), 2);
	ck_assert((s.net[0] == NET_A && s.net[1] == NET_B) ||
	    (s.net[0] == NET_B && s.net[1] == NET_A));
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(he_history_each_(h, T0 + US(20), 0, see, &s), 1);
	ck_assert(s.net[0] == NET_A);
	ck_assert_int_eq(s.state[0], HE_HIST_HUNG);

	/* forgetting the current network leaves the other's */
	he_history_forget_network_(h);
	ck_assert_int_eq(state_of(h, "2001:db8::1", T0), HE_HIST_UNKNOWN);
	he_history_set_network_(h, NET_B);
	ck_assert_int_eq(state_of(h, "2001:db8::1", T0), HE_HIST_WORKED);
	he_history_free_(h);
}
END_TEST

/* More networks than the store tells apart: the one left longest ago is
   forgotten with its entries; the others stay. */
START_TEST(test_store_many_networks)
{
	struct he_history *h = new_store(256);
	int i;

	for (i = 0; i < HE_HISTORY_NETS + 1; i++) {
		he_history_set_network_(h, 1000 + (uint64_t)i);
		he_history_learn_(h, he_test_sa("192.0.2.1", 443), T0 + i,
		    HE_HIST_HUNG, 0, 0);
	}
	/* 64 slots: key 0 (the start), 1000 .. 1062; 1063 took key 0's,
	   1064 took 1000's.  Back to 1000: it is unknown (and takes the
	   slot of 1001, now the oldest); 1064 and 1002 are still known. */
	he_history_set_network_(h, 1000);
	ck_assert_int_eq(state_of(h, "192.0.2.1", T0 + 100),
	    HE_HIST_UNKNOWN);
	he_history_set_network_(h, 1000 + HE_HISTORY_NETS);
	ck_assert_int_eq(state_of(h, "192.0.2.1", T0 + 100), HE_HIST_HUNG);
	he_history_set_network_(h, 1002);
	ck_assert_int_eq(state_of(h, "192.0.2.1", T0 + 100), HE_HIST_HUNG);
	he_history_free_(h);
}
END_TEST

static struct he_hist_rec
rec_of(uint64_t net, const char *lit, enum he_hist_state st,
    int64_t learned)
{
	struct he_hist_rec r;

	memset(&r, 0, sizeof(r));
	r.net = net;
	r.sa = he_test_sa(lit, 443);
	r.state = st;
	r.error = st == HE_HIST_FAILED ? ECONNREFUSED : 0;
	r.srtt = st == HE_HIST_WORKED ? US(30) : 0;
	r.rttvar = r.srtt / 2;
	r.learned = learned;
	return r;
}

/* What a file held: kept unless the store knows newer; flagged as from
   the file until the process learns that destination itself. */
START_TEST(test_store_put)
{
	struct he_history *h = new_store(2);
	struct he_hist_rec r;
	struct he_hist_info in;

	he_history_set_network_(h, NET_A);
	he_history_learn_(h, he_test_sa("192.0.2.1", 443), T0, HE_HIST_WORKED, 0,
	    US(10));
	r = rec_of(NET_A, "192.0.2.1", HE_HIST_HUNG, T0 - US(5));
	ck_assert_int_eq(he_history_put_(h, &r, T0, 1), 0);	/* older */
	r.learned = T0 + US(5);
	ck_assert_int_eq(he_history_put_(h, &r, T0 + US(6), 1), 1);
	he_history_lookup_(h, he_test_sa("192.0.2.1", 443), T0 + US(6), &in);
	ck_assert_int_eq(in.state, HE_HIST_HUNG);
	ck_assert_int_eq(in.flags, HE_HIST_FROM_FILE);
	/* the process's own lesson clears the flag */
	he_history_learn_(h, he_test_sa("192.0.2.1", 443), T0 + US(7),
	    HE_HIST_WORKED, 0, US(10));
	he_history_lookup_(h, he_test_sa("192.0.2.1", 443), T0 + US(7), &in);
	ck_assert_int_eq(in.flags, 0);
	/* another network's record, into a free slot only */
	r = rec_of(NET_B, "192.0.2.2", HE_HIST_FAILED, T0);
	ck_assert_int_eq(he_history_put_(h, &r, T0 + US(8), 0), 1);
	r = rec_of(NET_B, "192.0.2.3", HE_HIST_FAILED, T0);
	ck_assert_int_eq(he_history_put_(h, &r, T0 + US(8), 0), 0);
	/* expired: not taken */
	r = rec_of(NET_A, "192.0.2.4", HE_HIST_HUNG,
	    T0 - HE_HISTORY_EXPIRY_US);
	ck_assert_int_eq(he_history_put_(h, &r, T0, 1), 0);
	/* invalid state: not taken */
	r = rec_of(NET_A, "192.0.2.4", HE_HIST_UNKNOWN, T0);
	ck_assert_int_eq(he_history_put_(h, &r, T0, 1), 0);
	he_history_free_(h);
}
END_TEST

/* ----------------------------------------------------------------------- */
/* The file, through the library */

static struct he_test_histfx hf;

static void
setup_file(void)
{
	he_test_histfile_begin(&hf, "check_persist");
	he_history_clear_(he_history_global_());
}

static void
teardown_file(void)
{
	he_test_histfile_end(&hf);
	he_history_clear_(he_history_global_());
}

/* stderr into a file while f runs; what was said, in buf. */
static int err_fd = -1, saved_err = -1;

static void
capture_begin(void)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/stderr", hf.dir);
	err_fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(err_fd, 0);
	fflush(stderr);
	saved_err = dup(2);
	ck_assert_int_ge(saved_err, 0);
	dup2(err_fd, 2);
}

static void
capture_end(char *buf, size_t len)
{
	ssize_t n;

	fflush(stderr);
	dup2(saved_err, 2);
	close(saved_err);
	n = pread(err_fd, buf, len - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	close(err_fd);
}

static int
count_of(const char *hay, const char *needle)
{
	int n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

struct race {
	int calls;
	evutil_socket_t fd;
	int network_events, from_file_events;
	ev_uint64_t network;
	char history_line[256];
};

static void
race_trace(const struct evhappy_trace *ev, void *arg)
{
	struct race *r = arg;

	if (ev->kind == EVHAPPY_TRACE_NETWORK) {
		r->network_events++;
		r->network = ev->network;
		ck_assert_ptr_nonnull(ev->text);
	}
	if (ev->kind == EVHAPPY_TRACE_HISTORY && ev->from_file) {
		r->from_file_events++;
		if (ev->history == EVHAPPY_HISTORY_HUNG)
			evhappy_trace_format(ev, r->history_line,
			    sizeof(r->history_line));
	}
}

static void
race_done(evutil_socket_t fd, const struct evhappy_report *rep, void *arg)
{
	struct race *r = arg;

	(void)rep;
	r->calls++;
	r->fd = fd;
}

/* One race of a list on he, traced; its time in ms. */
static int64_t
race_once(struct event_base *base, struct evhappy *he,
    const struct evutil_addrinfo *list, struct race *r)
{
	int64_t t0 = he_test_now_ms();

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	evhappy_set_trace_cb(he, race_trace, r);
	ck_assert_ptr_nonnull(evhappy_start_connection(he, list, race_done,
	    r));
	he_test_run_until(base, HE_TEST_UP(3000), &r->calls);
	ck_assert_int_eq(r->calls, 1);
	ck_assert_int_ge(r->fd, 0);
	close(r->fd);
	/* the request is freed (and a due save done) on the next turn */
	he_test_run_for(base, 5);
	return he_test_now_ms() - t0;
}

static int
records_in_file(struct he_hf_rec *recs, int max)
{
	int n = 0;

	ck_assert_int_eq(he_histfile_load_array_(hf.path, he_histfile_now_(),
	    HE_HISTORY_EXPIRY_US, recs, max, &n), HE_HF_OK);
	return n;
}

/* A black hole learned by one "process" is in the file under this
   network's key; the next one (store cleared, file read again) skips it
   at once, and its trace says the entry came from the file and names the
   network. */
START_TEST(test_file_next_process)
{
	struct he_test_fx f;
	struct he_lab_blackhole *bh;
	struct evutil_addrinfo *l;
	struct he_hf_rec recs[8];
	evutil_socket_t lfd;
	ev_uint64_t key;
	struct race r;
	int bhport = 0, lport = 0, n, i, hung = 0;
	int64_t ms;
	const char *bh_addr = he_lab_ipv6_loopback_works() ? "::1" :
	    "127.0.0.1";

	he_test_fx_begin(&f);
	ck_assert_int_eq(evhappy_set_history_file(hf.path), 0);
	bh = he_test_blackhole(bh_addr, &bhport);
	lfd = he_test_listen("127.0.0.1", &lport);
	l = he_test_append(he_test_ai(bh_addr, bhport),
	    he_test_ai("127.0.0.1", lport));

	ms = race_once(f.base, f.he, l, &r);
	ck_assert_msg(ms >= 250, "first: %lld ms", (long long)ms);
	ck_assert_int_eq(r.network_events, 1);
	evhappy_history_network(&key, NULL, 0);
	ck_assert(r.network == key);
	/* saved at once (the first lesson) */
	n = records_in_file(recs, 8);
	for (i = 0; i < n; i++) {
		ck_assert(recs[i].netkey == key);
		if (recs[i].state == HE_HIST_HUNG && recs[i].port == bhport)
			hung++;
	}
	ck_assert_int_eq(hung, 1);

	/* "the next process" */
	ck_assert_int_eq(evhappy_set_history_file(NULL), 0);
	he_history_clear_(he_history_global_());
	ck_assert_int_eq(evhappy_set_history_file(hf.path), 0);
	ms = race_once(f.base, f.he, l, &r);
	ck_assert_msg(ms <= HE_TEST_UP(100), "second: %lld ms, want ~1 RTT",
	    (long long)ms);
	ck_assert_int_ge(r.from_file_events, 1);
	ck_assert_msg(strstr(r.history_line, "(from the history file)") &&
	    strstr(r.history_line, " hung "), "%s", r.history_line);

	/* without the file: 250 ms again */
	ck_assert_int_eq(evhappy_set_history_file(NULL), 0);
	he_history_clear_(he_history_global_());
	ms = race_once(f.base, f.he, l, &r);
	ck_assert_msg(ms >= 250, "no file: %lld ms", (long long)ms);

	evhappy_addrinfo_free(l);
	close(lfd);
	he_lab_blackhole_free(bh);
	he_test_fx_end(&f);
}
END_TEST

/* The write-back policy as the store sees it: the first lesson is saved at
   once, the next within a second only at the second's end, and whatever
   is unsaved at exit (he_persist_flush_). */
START_TEST(test_writeback)
{
	struct he_history *h = he_history_global_();
	struct he_hf_rec recs[8];
	int64_t now = he_now_();

	ck_assert_int_eq(evhappy_set_history_file(hf.path), 0);
	he_history_learn_(h, he_test_sa("192.0.2.10", 443), now, HE_HIST_HUNG, 0, 0);
	he_persist_taught_(now);
	he_persist_save_due_(h, now);
	ck_assert_int_eq(records_in_file(recs, 8), 1);

	he_history_learn_(h, he_test_sa("192.0.2.11", 443), now + US(100),
	    HE_HIST_HUNG, 0, 0);
	he_persist_taught_(now + US(100));
	he_persist_save_due_(h, now + US(500));
	ck_assert_int_eq(records_in_file(recs, 8), 1);	/* not yet */
	he_persist_save_due_(h, now + US(1000));
	ck_assert_int_eq(records_in_file(recs, 8), 2);

	he_history_learn_(h, he_test_sa("192.0.2.12", 443), now + US(1100),
	    HE_HIST_HUNG, 0, 0);
	he_persist_taught_(now + US(1100));
	he_persist_flush_(h, now + US(1200));	/* at exit */
	ck_assert_int_eq(records_in_file(recs, 8), 3);
	/* setting no file saves what is unsaved first */
	he_history_learn_(h, he_test_sa("192.0.2.13", 443), now + US(1300),
	    HE_HIST_HUNG, 0, 0);
	he_persist_taught_(now + US(1300));
	ck_assert_int_eq(evhappy_set_history_file(NULL), 0);
	ck_assert_int_eq(records_in_file(recs, 8), 4);
}
END_TEST

/* Two processes learn different destinations and save to one file:
   neither loses the other's. */
START_TEST(test_file_two_processes)
{
	struct he_history *h = he_history_global_();
	struct he_hf_rec recs[8];
	int i;
	pid_t pid;

	ck_assert_int_eq(evhappy_set_history_file(hf.path), 0);
	for (i = 0; i < 2; i++) {
		if ((pid = he_test_fork()) == 0) {
			char lit[32];
			int64_t now = he_now_();
			snprintf(lit, sizeof(lit), "192.0.2.%d", 20 + i);
			he_history_learn_(h, he_test_sa(lit, 443), now,
			    HE_HIST_FAILED, ECONNREFUSED, 0);
			he_persist_taught_(now);
			he_persist_save_due_(h, now);
			_exit(0);
		}
		he_test_child_ok(pid, "a process that saves");
	}
	ck_assert_int_eq(records_in_file(recs, 8), 2);
	ck_assert_int_eq(recs[0].error, ECONNREFUSED);
}
END_TEST

/* The library meets hostile files: one refused for what it holds is said
   once, ignored and replaced by the next save; one refused for what it is
   fails the call, is said once and left alone; one that turns hostile
   after it was set stops the saves, said once; races learn on in memory
   throughout. */
START_TEST(test_hostile_said_once)
{
	struct he_test_fx f;
	struct he_hf_rec recs[8];
	struct evutil_addrinfo *l;
	evutil_socket_t lfd;
	struct race r;
	struct stat st;
	char said[4096], other[PATH_MAX];
	int fd, lport = 0;

	he_test_fx_begin(&f);
	lfd = he_test_listen("127.0.0.1", &lport);
	l = he_test_ai("127.0.0.1", lport);

	/* corrupt: ignored, said once, replaced */
	fd = open(hf.path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "EVHAPPYH garbage that is no history",
	    35), 35);
	close(fd);
	capture_begin();
	ck_assert_int_eq(evhappy_set_history_file(hf.path), 0);
	race_once(f.base, f.he, l, &r);
	race_once(f.base, f.he, l, &r);
	capture_end(said, sizeof(said));
	ck_assert_msg(count_of(said, "evhappy: history file ") == 1 &&
	    strstr(said, hf.path) && strstr(said, "it will be replaced"),
	    "said: %s", said);
	ck_assert_int_eq(records_in_file(recs, 8), 1);	/* replaced */
	ck_assert_int_eq(recs[0].port, lport);

	/* a symbolic link: refused, said once, left alone */
	ck_assert_int_eq(evhappy_set_history_file(NULL), 0);
	snprintf(other, sizeof(other), "%s/elsewhere", hf.dir);
	ck_assert_int_eq(rename(hf.path, other), 0);
	ck_assert_int_eq(symlink(other, hf.path), 0);
	capture_begin();
	errno = 0;
	ck_assert_int_eq(evhappy_set_history_file(hf.path), -1);
	ck_assert_int_eq(errno, ELOOP);
	he_history_clear_(he_history_global_());
	race_once(f.base, f.he, l, &r);
	capture_end(said, sizeof(said));
	ck_assert_msg(count_of(said, "evhappy: history file ") == 1 &&
	    strstr(said, "is a symbolic link; not used"), "said: %s", said);
	ck_assert_int_eq(lstat(hf.path, &st), 0);
	ck_assert(S_ISLNK(st.st_mode));
	ck_assert_int_eq(he_history_count_(he_history_global_(), he_now_()),
	    1);	/* learned in memory */

	/* turned hostile after it was set (writable by others): the next
	   save says so once, and no later one tries */
	ck_assert_int_eq(unlink(hf.path), 0);
	ck_assert_int_eq(rename(other, hf.path), 0);
	ck_assert_int_eq(evhappy_set_history_file(hf.path), 0);
	ck_assert_int_eq(chmod(hf.path, 0666), 0);
	capture_begin();
	he_history_clear_(he_history_global_());
	race_once(f.base, f.he, l, &r);
	he_test_sleep_ms(1100);	/* the next save is due a second later */
	race_once(f.base, f.he, l, &r);
	he_test_sleep_ms(1100);
	race_once(f.base, f.he, l, &r);
	capture_end(said, sizeof(said));
	ck_assert_msg(count_of(said, "evhappy: history file ") == 1 &&
	    strstr(said, "is writable by group or others; not used any more"),
	    "said: %s", said);
	ck_assert_int_eq(he_history_count_(he_history_global_(), he_now_()),
	    1);

	evhappy_addrinfo_free(l);
	close(lfd);
	he_test_fx_end(&f);
}
END_TEST

START_TEST(test_set_file_args)
{
	char longpath[PATH_MAX + 16];

	errno = 0;
	ck_assert_int_eq(evhappy_set_history_file("relative/history"), -1);
	ck_assert_int_eq(errno, EINVAL);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	errno = 0;
	ck_assert_int_eq(evhappy_set_history_file(longpath), -1);
	ck_assert_int_eq(errno, ENAMETOOLONG);
	/* a set-uid program follows no file */
	he_histfile_test_secure_(1);
	errno = 0;
	ck_assert_int_eq(evhappy_set_history_file(hf.path), -1);
	ck_assert_int_eq(errno, EPERM);
	he_histfile_test_secure_(0);
	ck_assert_int_eq(evhappy_set_history_file(hf.path), 0);	/* missing */
	ck_assert_int_eq(evhappy_set_history_file(NULL), 0);
	errno = 0;
	ck_assert_int_eq(evhappy_history_foreach(NULL, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(evhappy_history_network(NULL, NULL, 5), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(evhappy_forget_history(2), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(evhappy_default_history_file(NULL, 10), -1);
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* The default file: EVHAPPY_HISTORY_FILE, XDG_CACHE_HOME, HOME. */
START_TEST(test_default_file)
{
	char buf[PATH_MAX];

	unsetenv("EVHAPPY_HISTORY_FILE");
	setenv("XDG_CACHE_HOME", "/x/cache", 1);
	ck_assert_int_eq(evhappy_default_history_file(buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/x/cache/evhappy/history");
	unsetenv("XDG_CACHE_HOME");
	setenv("HOME", "/home/h", 1);
	ck_assert_int_eq(evhappy_default_history_file(buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/home/h/.cache/evhappy/history");
	errno = 0;
	ck_assert_int_eq(evhappy_default_history_file(buf, 8), -1);
	ck_assert_int_eq(errno, ENAMETOOLONG);
	setenv("EVHAPPY_HISTORY_FILE", "/f/h", 1);
	ck_assert_int_eq(evhappy_default_history_file(buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/f/h");
	setenv("EVHAPPY_HISTORY_FILE", "off", 1);
	errno = 0;
	ck_assert_int_eq(evhappy_default_history_file(buf, sizeof(buf)), -1);
	ck_assert_int_eq(errno, ENOENT);
	setenv("EVHAPPY_HISTORY_FILE", "f/h", 1);
	errno = 0;
	ck_assert_int_eq(evhappy_default_history_file(buf, sizeof(buf)), -1);
	ck_assert_int_eq(errno, EINVAL);
	setenv("EVHAPPY_HISTORY_FILE", "/f/h", 1);
	he_histfile_test_secure_(1);
	errno = 0;
	ck_assert_int_eq(evhappy_default_history_file(buf, sizeof(buf)), -1);
	ck_assert_int_eq(errno, ENOENT);
	he_histfile_test_secure_(0);
}
END_TEST

struct listed {
	int n, hung, from_file;
	char addr[64];
};

static void
list_one(const struct evhappy_history_entry *e, void *arg)
{
	struct listed *l = arg;

	l->n++;
	if (e->state == EVHAPPY_HISTORY_HUNG)
		l->hung++;
	l->from_file += e->from_file;
	evhappy_sockaddr_format(e->addr, l->addr, sizeof(l->addr));
	/* the callback may call the library */
	evhappy_history_network(NULL, NULL, 0);
}

/* --history and --forget's calls: what is known of this network, listed;
   forgotten here and in the file, another network's records kept. */
START_TEST(test_list_and_forget)
{
	struct he_history *h = he_history_global_();
	struct he_hf_rec recs[8], other;
	struct listed l;
	ev_uint64_t key;
	int64_t now = he_now_();
	char text[512];

	ck_assert_int_ge(evhappy_history_network(&key, text, sizeof(text)),
	    1);
	/* another network's record in the file */
	memset(&other, 0, sizeof(other));
	other.netkey = key ^ 1;
	other.family = AF_INET;
	other.addr[0] = 192; other.addr[1] = 0; other.addr[2] = 2;
	other.addr[3] = 99;
	other.port = 443;
	other.state = HE_HIST_HUNG;
	other.learned = he_histfile_now_();
	ck_assert_int_eq(he_histfile_save_(hf.path, &other, 1, other.learned,
	    HE_HISTORY_EXPIRY_US, key, 0, 0, NULL), HE_HF_OK);
	ck_assert_int_eq(evhappy_set_history_file(hf.path), 0);

	he_history_learn_(h, he_test_sa("192.0.2.30", 443), now, HE_HIST_HUNG, 0, 0);
	he_persist_taught_(now);
	he_persist_save_due_(h, now);
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(evhappy_history_foreach(list_one, &l), 1);
	ck_assert_int_eq(l.n, 1);
	ck_assert_int_eq(l.hung, 1);
	ck_assert_int_eq(l.from_file, 0);
	ck_assert_str_eq(l.addr, "192.0.2.30:443");
	ck_assert_int_eq(records_in_file(recs, 8), 2);

	ck_assert_int_eq(evhappy_forget_history(0), 0);
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(evhappy_history_foreach(list_one, &l), 0);
	ck_assert_int_eq(records_in_file(recs, 8), 1);
	ck_assert(recs[0].netkey == (key ^ 1));
	ck_assert_int_eq(evhappy_forget_history(1), 0);
	ck_assert_int_eq(records_in_file(recs, 8), 0);
}
END_TEST

/* The trace's text for the two things this adds: the network event, and
   an entry that came from the file. */
START_TEST(test_trace_format)
{
	struct evhappy_trace ev;
	char buf[256];

	memset(&ev, 0, sizeof(ev));
	ev.kind = EVHAPPY_TRACE_NETWORK;
	ev.network = 0xab;
	ev.text = "v4 via 192.0.2.1 dev eth0 192.0.2.0/24";
	ck_assert_str_eq(evhappy_trace_kind_name(EVHAPPY_TRACE_NETWORK),
	    "network");
	evhappy_trace_format(&ev, buf, sizeof(buf));
	ck_assert_str_eq(buf, "network 00000000000000ab: v4 via 192.0.2.1 "
	    "dev eth0 192.0.2.0/24");
	memset(&ev, 0, sizeof(ev));
	ev.kind = EVHAPPY_TRACE_HISTORY;
	ev.addr = he_test_sa("2001:db8::1", 443);
	ev.history = EVHAPPY_HISTORY_HUNG;
	ev.age.tv_sec = 3;
	ev.moved = 1;
	ev.from_file = 1;
	evhappy_trace_format(&ev, buf, sizeof(buf));
	ck_assert_str_eq(buf, "history: [2001:db8::1]:443 hung 3 s ago (from "
	    "the history file), moved first");
}
END_TEST

/* Races on several threads, each on its own event_base, learn and save to
   one file at once (ThreadSanitizer watches the write-back's state). */
struct thread_arg {
	int port, ok;
	evutil_socket_t lfd;	/* non-blocking */
};

static void *
thread_races(void *p)
{
	struct thread_arg *a = p;
	struct event_base *base = event_base_new();
	struct evhappy *he = base ? evhappy_new(base, NULL) : NULL;
	struct evutil_addrinfo *l = he_test_ai("127.0.0.1", a->port);
	struct race r;
	int i;

	for (i = 0; he && l && i < 20; i++) {
		memset(&r, 0, sizeof(r));
		r.fd = -1;
		if (!evhappy_start_connection(he, l, race_done, &r))
			break;
		he_test_run_until(base, HE_TEST_UP(3000), &r.calls);
		if (r.fd >= 0) {
			evutil_socket_t s;
			close(r.fd);
			a->ok++;
			while ((s = accept(a->lfd, NULL, NULL)) >= 0)
				close(s);
		}
	}
	evhappy_addrinfo_free(l);
	evhappy_free(he);
	if (base)
		event_base_free(base);
	return NULL;
}

START_TEST(test_threads)
{
	struct thread_arg a[4];
	pthread_t t[4];
	evutil_socket_t lfd[4];
	struct he_hf_rec recs[8];
	int i;

	ck_assert_int_eq(evhappy_set_history_file(hf.path), 0);
	memset(a, 0, sizeof(a));
	for (i = 0; i < 4; i++) {
		lfd[i] = he_test_listen("127.0.0.1", &a[i].port);
		a[i].lfd = lfd[i];
		evutil_make_socket_nonblocking(lfd[i]);
	}
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, thread_races,
		    &a[i]), 0);
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(a[i].ok, 20);
		close(lfd[i]);
	}
	he_persist_flush_(he_history_global_(), he_now_());
	ck_assert_int_eq(records_in_file(recs, 8), 4);
}
END_TEST

Suite *
he_test_suite(void)
{
	const struct he_test_def tests[] = {
		HE_TCASE("store", 10),

		HE_TEST(test_store_networks),
		HE_TEST(test_store_many_networks),
		HE_TEST(test_store_put),
		HE_TEST(test_trace_format),

		HE_TCASE_FX("file", 30, setup_file, teardown_file),
		HE_TEST(test_file_next_process),
		HE_TEST(test_writeback),
		HE_TEST(test_file_two_processes),
		HE_TEST(test_hostile_said_once),
		HE_TEST(test_set_file_args),
		HE_TEST(test_default_file),
		HE_TEST(test_list_and_forget),
		HE_TEST(test_threads),
	};

	return he_test_suite_of("persist", tests, HE_TEST_N(tests));
}
