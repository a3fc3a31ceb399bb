/*
 * The connection history across processes and networks: the process's
 * side of doc/history-file.md.  The store (he_history.h) is pure data; this
 * module gives it its network and its file.
 *
 * The network.  Every entry belongs to the network it was learned on
 * (he_netid.h's key).  The first race that uses the history makes the
 * process's one change watch (a netlink socket), then reads the key and
 * tells the store.  Later races poll the watch without blocking when they
 * first look at the history (he_persist_check_network_): when it says
 * something changed, the key is read again (20-60 us) and the store told
 * if it differs, so a network change takes effect at the next race, and
 * moving back makes the old network's entries apply again (they stay in
 * the store, and in the file, until they expire).  Where netlink cannot
 * be read (a sandbox, another OS) the key is 0: one history for every
 * network, as before.
 *
 * The file (opt-in: he_persist_set_file_; the interposition library and the
 * CLI set their default file at their first race).  Setting it reads it
 * into the store (every network's records, this network's first); a file
 * refused for what it holds (corrupt, truncated...) is said once on stderr
 * and replaced by the next save; one refused for what it is or where (a
 * link, another user's, writable by others) is said once and not used.
 * After a race taught something (he_persist_taught_), a save is due at
 * once, but at most one a second (he_histfile.h's write-back policy); the
 * glue saves once the race's outcome was delivered (he_persist_save_due_),
 * and the library once more at exit (he_persist_flush_).  A save merges
 * with what other processes wrote, under the file's lock, which it gives
 * up after HE_HISTFILE_LOCK_WAIT_US (5 ms): the store stays in memory and
 * the save is retried a second later.  Nothing of this blocks longer than
 * that bound plus the file's reading and writing (a file holds at most
 * 4096 records, 256 KiB).
 *
 * One process-wide state, for the process's store (the library passes only
 * he_history_global_(); tests may pass their own, one at a time).  Every
 * call is thread-safe; the state's lock is held across fork().
 */
#ifndef EVHAPPY_HE_PERSIST_H_INCLUDED_
#define EVHAPPY_HE_PERSIST_H_INCLUDED_

#include "he_history.h"
#include "he_histfile.h"
#include "he_nat64_cache.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/** What every race reads without a lock (atomic loads; only he_persist.c
    writes it).  Hidden: read directly, not through the GOT. */
struct he_persist_fast {
	int state;	/* HE_PERSIST_NET_READY | HE_PERSIST_FILE_ON */
	int fd;		/* the watch's socket, -1: none */
	int forked;	/* a fork() since the watch was last asked */
};
#define HE_PERSIST_NET_READY 1	/* the watch was made and the key read */
#define HE_PERSIST_FILE_ON 2	/* a file is set and in use */

extern struct he_persist_fast he_persist_fast_
#ifdef __GNUC__
    __attribute__((visibility("hidden")))
#endif
    ;

/** A network's description: he_netid_format_'s line, and what it says when
    the key could not be read. */
#define HE_PERSIST_TEXT 1024

/** he_persist_fast_.state: HE_PERSIST_NET_READY, HE_PERSIST_FILE_ON. */
static inline int
he_persist_state_(void)
{
	return __atomic_load_n(&he_persist_fast_.state, __ATOMIC_ACQUIRE);
}

/** Make the watch and read the key (the first time; later calls do
    nothing).  Called where a race teaches, so that its lessons never go to
    "no network" while netlink works. */
void he_persist_need_network_slow_(struct he_history *h);

static inline void
he_persist_need_network_(struct he_history *h)
{
	if (!(__atomic_load_n(&he_persist_fast_.state, __ATOMIC_ACQUIRE) &
	    HE_PERSIST_NET_READY))
		he_persist_need_network_slow_(h);
}

/** he_persist_check_network_ when the socket is not enough. */
int he_persist_check_network_slow_(struct he_history *h);

/** At a race's first look at the history: make the watch and read the key
    the first time; afterwards poll the watch, and when it says something
    changed read the key again and tell the store if it differs.  Inline:
    most races see one peek at the watch's socket (it has nothing to say),
    without the watch's lock or its fork check (a fork hook says when that
    is needed).
    @return 1 when the store's network changed now, else 0 */
static inline int
he_persist_check_network_(struct he_history *h)
{
	int fd = __atomic_load_n(&he_persist_fast_.fd, __ATOMIC_ACQUIRE);
	char c;

	if (fd >= 0 && !__atomic_load_n(&he_persist_fast_.forked,
	    __ATOMIC_RELAXED) &&
	    recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) < 0 && errno == EAGAIN)
		return 0;
	return he_persist_check_network_slow_(h);
}

/** The network in use: its key (0: not known), and its description in buf
    (always terminated when len > 0).  Makes the watch first if needed.
    @param gen if not NULL, how many times the key changed since the first
      reading (1 for the first network) */
uint64_t he_persist_network_(struct he_history *h, char *buf, size_t len,
    unsigned *gen);

/** Use path as the history file (NULL: none).  What was unsaved in the old
    file is saved first.  The new file is read into h now (and the network
    read first); a file refused for what it holds is said once and will be
    replaced; one refused for what it is or where is said once and not
    used.
    @param now the store's clock
    @return 0; or EINVAL (not absolute), ENAMETOOLONG, EPERM (a set-uid or
      set-gid process; a file or directory that is not the user's, or that
      others may write), ELOOP (a symbolic link), or the error that
      prevented reading it: then no file is used */
int he_persist_set_file_(struct he_history *h, const char *path, int64_t now);

/** The file in use, in buf: 0, or ENOENT (none) or ENAMETOOLONG. */
int he_persist_file_(char *buf, size_t len);

/** Whether a file is in use (cheap: one atomic load). */
static inline int
he_persist_file_on_(void)
{
	return __atomic_load_n(&he_persist_fast_.state, __ATOMIC_ACQUIRE) &
	    HE_PERSIST_FILE_ON;
}

/** The store learned something at now: a save becomes due. */
void he_persist_taught_(int64_t now);

/** Save h to the file if a save is due at now (he_histfile.h's policy),
    unless another thread is saving. */
void he_persist_save_due_(struct he_history *h, int64_t now);

/** Save h to the file now if anything is unsaved (at exit, before the file
    changes).  Where no loop waits, a busy lock is tried again, for up to
    HE_PERSIST_FLUSH_PATIENCE_US in all: what a process learned last is
    not lost because others saved at the same moment. */
void he_persist_flush_(struct he_history *h, int64_t now);

/** How long he_persist_flush_ keeps trying a busy lock: 500 ms.  20
    processes that end together each hold it about a millisecond (some 5
    under a sanitizer on a loaded machine: the last of them then waited
    90-110 ms in check_histfile_netns.sh).  Only an exit in such a crowd
    waits that long; the history is worth it, the loop is not waiting. */
#define HE_PERSIST_FLUSH_PATIENCE_US ((int64_t)500000)

/** NAT64 prefixes follow the network as history entries do: the process's
    NAT64 store (he_nat64_cache_global_()) holds those of one network.
    Call this before reading the store, at now (its clock): it checks the
    network (as he_persist_check_network_ on the process's history), and
    when the store's prefixes are another network's, puts them aside and
    takes what is known of the network in use (from when the host was last
    there, or from the file).  The store's prefixes and those put aside go
    into the file with the history (a save writes them, under their
    networks; setting the file reads them back: the network in use's into
    the store, restored with their source and the lifetime left); the
    store's changes make a save due by he_persist_taught_.  Forgetting a
    network (he_persist_forget_) forgets its prefixes too. */
void he_persist_nat64_(int64_t now);

/** A file's NAT64 prefix record (kind HE_HF_NAT64) as the store takes
    it (he_nat64_cache_import_): its times on the store's clock (now is
    the store's, wall the wall clock's at the same moment), restored. */
void he_persist_prefix_from_file_(const struct he_hf_rec *f, int64_t now,
    int64_t wall, struct he_nat64_saved *out);

/** Tests: read key as the network's (0: the kernel's again); the next
    check of the network sees it. */
void he_persist_test_key_(uint64_t key);

/** What the saves of this process did, for tests and benchmarks. */
struct he_persist_stats {
	int saves;		/* saves attempted */
	int written;		/* of them, written */
	int busy;		/* of them, given up on a busy lock */
	int64_t max_wait;	/* the longest wait for the lock of a save on
				   a race's way (microseconds) */
	int64_t max_flush_wait;	/* ... of the saves of he_persist_flush_,
				   all its tries */
};

/** A copy of the statistics. */
void he_persist_stats_(struct he_persist_stats *out);

/** Forget the current network's entries (all: every entry), in h and in
    the file.
    @return 0; EWOULDBLOCK when the file's lock was busy (h is cleared, the
      file not); or why the file could not be rewritten */
int he_persist_forget_(struct he_history *h, int all);

#endif
