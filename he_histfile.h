/*
 * The history file: connection history that outlives the process, shared
 * by every process of the user that uses it.  This layer knows records
 * and files only; the store (he_history.h) decides what to put in and
 * what to take out.  doc/history-file.md has the format byte by byte and
 * the reasons.
 *
 * - A record is what the store knows of one destination on one network:
 *   struct he_hf_rec.  Its time is the wall clock (CLOCK_REALTIME
 *   microseconds since the epoch, he_histfile_now_()), since the
 *   monotonic clock means nothing in another process after a reboot; the
 *   store converts: wall = wall_now - (mono_now - mono_learned).
 * - The file is input, so hostile.  It is refused as a whole (nothing of
 *   it is used, and the status says why, for one message) when it is a
 *   symbolic link, not a regular file, owned by another user, writable by
 *   group or others, in a directory that is not the user's or that others
 *   may write, too large, truncated, of another version, corrupt (the
 *   checksum) or holds an invalid record (a field out of range, records
 *   out of order or repeated).  Records older than the expiry are skipped
 *   on load, as are records learned more than HE_HISTFILE_SKEW_US in the
 *   future (the clock was set back): they are not invalid, only useless.
 * - A save merges under a lock: it takes the lock (a separate file,
 *   PATH.lock, flock(2)) with non-blocking attempts for at most lock_wait
 *   microseconds, else gives up with HE_HF_BUSY and writes nothing; reads
 *   the file; merges (per destination and network, the newer learned
 *   wins; every other process's records are kept until they expire or the
 *   bound drops them); writes PATH.tmp, renames it over PATH.  Readers
 *   never lock: a rename is atomic, so they see the old file or the new.
 * - Nothing here blocks longer than the lock bound plus the file's
 *   reading and writing (a file is at most HE_HISTFILE_MAX_SIZE bytes);
 *   no fsync unless asked (HE_HF_SYNC): the file is a cache of entries
 *   that live 10 minutes, and what a crash can leave (an empty or torn
 *   file) is refused by the checksum and replaced by the next save.
 * - Functions keep no state but the test hook, and may run in several
 *   threads and processes at once.
 */
#ifndef EVHAPPY_HE_HISTFILE_H_INCLUDED_
#define EVHAPPY_HE_HISTFILE_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>

#include "he_history.h"

/** The format's version (the header's second field): 2 since NAT64
    prefixes are kept.  A file written with no prefix record is written as
    version 1, which every reader since 1 reads; version 1 files load. */
#define HE_HISTFILE_VERSION 2
/** The first version: destination records only. */
#define HE_HISTFILE_VERSION_1 1
/** The header's and a record's sizes in the file, in bytes. */
#define HE_HISTFILE_HEADER 32
#define HE_HISTFILE_RECORD 64
/** The most records a file holds; a save drops records beyond it (see
    he_histfile_merge_ for which). */
#define HE_HISTFILE_MAX 4096
/** The largest file that is read. */
#define HE_HISTFILE_MAX_SIZE \
	(HE_HISTFILE_HEADER + HE_HISTFILE_MAX * HE_HISTFILE_RECORD)
/** The longest a NAT64 prefix record lives (expires - learned): a day,
    the longest an RFC 7050 answer is believed (a PREF64 option's lifetime
    is at most 65528 s). */
#define HE_HISTFILE_PREFIX_LIFE_US ((int64_t)86400 * 1000000)
/** The bound of srtt and rttvar in a record: 10 minutes. */
#define HE_HISTFILE_RTT_MAX_US ((int64_t)600 * 1000000)
/** How far in the future a record's time may be and still be used (as
    learned now): clocks of processes agree, but NTP steps them. */
#define HE_HISTFILE_SKEW_US ((int64_t)60 * 1000000)
/** A reasonable bound for the lock: 5 ms. */
#define HE_HISTFILE_LOCK_WAIT_US ((int64_t)5000)
/** The write-back policy's gap: at most one save a second. */
#define HE_HISTFILE_SAVE_GAP_US ((int64_t)1000000)

/** A record's kind (struct he_hf_rec's kind). */
enum he_hf_kind {
	HE_HF_DEST = 0,		/* a destination's history (versions 1, 2) */
	HE_HF_NAT64 = 1		/* a NAT64 prefix (version 2) */
};

/** Where a NAT64 prefix record's prefix came from (its source). */
#define HE_HF_FROM_RA 1		/* PREF64 in a router advertisement */
#define HE_HF_FROM_DNS 2	/* RFC 7050 */

/** One record: what is known of a destination on a network, or (kind
    HE_HF_NAT64) of a NAT64 prefix on a network. */
struct he_hf_rec {
	uint64_t netkey;	/* the network (he_netid.h's key) */
	int family;		/* AF_INET or AF_INET6 */
	unsigned char addr[16];	/* network order; IPv4: the first 4, the
				   rest zero */
	uint16_t port;		/* host order */
	uint32_t scope;		/* IPv6 scope id; 0 for IPv4 */
	enum he_hist_state state;	/* WORKED, FAILED or HUNG */
	int error;		/* FAILED: the errno (1..4095); else 0 */
	int64_t srtt, rttvar;	/* microseconds, 0..HE_HISTFILE_RTT_MAX_US;
				   srtt 0: no RTT known */
	int64_t learned;	/* wall clock: microseconds since the epoch */
	/* Version 2.  A NAT64 prefix record (kind HE_HF_NAT64) uses netkey,
	   learned (when last heard, or withdrawn), addr (the prefix) and the
	   fields below; the others are ignored (zero when loaded).  One per
	   (network, source, prefix, length, router): of an RFC 7050 answer,
	   all its prefixes (or one record of length 0: "no DNS64") carry the
	   answer's time, and the newest answer of a network is the one to
	   use. */
	int kind;		/* enum he_hf_kind; HE_HF_DEST: the above */
	int prefix_len;		/* 32, 40, 48, 56, 64 or 96 (a valid prefix,
				   he_nat64_prefix_ok_); 0: an RFC 7050
				   answer without DNS64 (addr zero) */
	int source;		/* HE_HF_FROM_RA or HE_HF_FROM_DNS */
	int withdrawn;		/* RA: a lifetime 0 was heard at learned: the
				   prefix must not be used, and this record
				   outweighs older ones until expires */
	unsigned char router[16];	/* RA: the router's address, zero when
					   not known; DNS: zero */
	int64_t expires;	/* wall clock: the end of the lifetime;
				   learned < expires <= learned +
				   HE_HISTFILE_PREFIX_LIFE_US */
};

/** What a call of this layer says.  HE_HF_OK is 0; every other status
    leaves errno set too (in parentheses). */
enum he_hf_status {
	HE_HF_OK = 0,
	HE_HF_MISSING,		/* no file (yet): nothing loaded (ENOENT) */
	HE_HF_OFF,		/* no file by choice: EVHAPPY_HISTORY_FILE=off,
				   a set-uid program, no home (ENOENT) */
	HE_HF_BADPATH,		/* a path that is not absolute or too long
				   (EINVAL, ENAMETOOLONG) */
	HE_HF_SYMLINK,		/* the file is a symbolic link (ELOOP) */
	HE_HF_NOTREG,		/* not a regular file (EINVAL) */
	HE_HF_OWNER,		/* owned by another user (EPERM) */
	HE_HF_MODE,		/* writable by group or others (EPERM) */
	HE_HF_DIR,		/* its directory is not the user's, or others
				   may write it, or it is not a directory
				   (EPERM, ENOTDIR) */
	HE_HF_TOOLARGE,		/* larger than HE_HISTFILE_MAX_SIZE, or says
				   it holds more than HE_HISTFILE_MAX (EFBIG) */
	HE_HF_TRUNCATED,	/* shorter than its header says (EINVAL) */
	HE_HF_MAGIC,		/* not a history file (EINVAL) */
	HE_HF_VERSION,		/* a history file of another version (EINVAL) */
	HE_HF_CORRUPT,		/* a bad header field or trailing bytes
				   (EINVAL) */
	HE_HF_CHECKSUM,		/* the checksum does not match (EINVAL) */
	HE_HF_RECORD,		/* an invalid record, or records out of order
				   or repeated (EINVAL) */
	HE_HF_BUSY,		/* save: the lock was not had in time; nothing
				   written (EWOULDBLOCK) */
	HE_HF_IO		/* a system call failed (its errno) */
};

/** A phrase for a status, to follow the path: "is a symbolic link",
    "is corrupt (checksum)"... */
const char *he_histfile_status_str_(enum he_hf_status st);

/** Whether a status refuses the file for what it holds (a save replaces
    such a file), rather than for what it is or where (a save leaves those
    alone and fails). */
int he_histfile_content_refusal_(enum he_hf_status st);

/* ---- where ---------------------------------------------------------------- */

/** Whether the process runs set-uid or set-gid (AT_SECURE), or the test
    hook says so. */
int he_histfile_secure_(void);

/** Test hook: 1 pretends the process is set-uid, 0 pretends it is not,
    -1 asks the kernel again. */
void he_histfile_test_secure_(int secure);

/** The file of the interposition library and the CLI, by these rules in
    order: a set-uid or set-gid program has none (HE_HF_OFF) and reads no
    variable; EVHAPPY_HISTORY_FILE=off: none; EVHAPPY_HISTORY_FILE=PATH
    (absolute): PATH; $XDG_CACHE_HOME/evhappy/history when it is set and
    absolute (the XDG rule: a relative one is ignored); $HOME/.cache/
    evhappy/history when HOME is set and absolute; else none.  An empty
    variable counts as unset.
    @param buf filled with the path (when HE_HF_OK)
    @param len buf's size
    @return HE_HF_OK, HE_HF_OFF, or HE_HF_BADPATH (a relative
      EVHAPPY_HISTORY_FILE, or a path longer than len) */
enum he_hf_status he_histfile_default_path_(char *buf, size_t len);

/** The wall clock in microseconds since the epoch (CLOCK_REALTIME). */
int64_t he_histfile_now_(void);

/* ---- the format (pure) ---------------------------------------------------- */

/** Called once per record that was loaded. */
typedef void (*he_hf_each_fn)(const struct he_hf_rec *rec, void *arg);

/** Check and decode a file's bytes.  Nothing is called back unless the
    whole is valid (HE_HF_OK).
    @param now the wall clock
    @param expiry records with now - learned >= expiry are skipped (<= 0:
      none is)
    @param each called per usable record, in the file's order (sorted by
      network, family, address, port, scope)
    @param nloaded if not NULL, set to how many were called back
    @return HE_HF_OK or why the bytes are refused */
enum he_hf_status he_histfile_parse_(const unsigned char *buf, size_t len,
    int64_t now, int64_t expiry, he_hf_each_fn each, void *arg,
    int *nloaded);

/** The checksum a file of these bytes must carry (at offset 24).
    @param len at least HE_HISTFILE_HEADER */
uint64_t he_histfile_checksum_(const unsigned char *buf, size_t len);

/** Write that checksum into buf, for tests and the fuzzer that make or
    edit files by hand (the writer does too).
    @param len at least HE_HISTFILE_HEADER */
void he_histfile_seal_(unsigned char *buf, size_t len);

/** Whether a record is one a file may hold (HE_HF_OK) or HE_HF_RECORD.
    A NAT64 prefix record is live while learned is not in the future
    (beyond HE_HISTFILE_SKEW_US) and expires has not come; the store's
    expiry applies to destination records only. */
enum he_hf_status he_histfile_check_rec_(const struct he_hf_rec *r);

/** Order of records in a file: <0, 0 (the same destination, or prefix, on
    the same network), >0.  By network, then kind (destinations first),
    then a destination's family (IPv4 first), address, port, scope; a
    prefix's source (RA first), prefix bytes, length, router. */
int he_histfile_cmp_(const struct he_hf_rec *a, const struct he_hf_rec *b);

/** The file's bytes for n valid records in strictly ascending order (as
    he_histfile_merge_ leaves them): version 1 when no record is a NAT64
    prefix's, else version 2 (the loader refuses a version 2 file with
    none: the format stays canonical).
    @return the size, HE_HISTFILE_HEADER + n * HE_HISTFILE_RECORD, or 0
      (EINVAL: bad records, n out of range; ENOSPC: len too small) */
size_t he_histfile_encode_(const struct he_hf_rec *recs, int n,
    unsigned char *buf, size_t len);

/** The merge a save does, on arrays.  Records of both inputs that are
    invalid, expired (as he_histfile_parse_) or too far in the future are
    dropped; of several for one destination and network the latest
    learned wins (a tie: mine).  When more than max remain, these go
    first, oldest learned first within each class: (1) other networks'
    WORKED records, (2) other networks' FAILED and HUNG, (3) this
    network's WORKED, (4) this network's FAILED and HUNG; a failure
    learned costs an attempt delay to learn again, a success only an
    ordering.  A NAT64 prefix record counts as FAILED (it saves a wait for
    discovery).
    @param out room for max records (max <= HE_HISTFILE_MAX), sorted
    @param file, mine the two inputs, in any order (either may be NULL
      with n 0)
    @param netkey the network the saving process is on
    @param dropped if not NULL, how many valid, live records the bound
      dropped
    @return how many records are in out, or -1 with errno ENOMEM */
int he_histfile_merge_(struct he_hf_rec *out, int max,
    const struct he_hf_rec *file, int nfile, const struct he_hf_rec *mine,
    int nmine, int64_t now, int64_t expiry, uint64_t netkey, int *dropped);

/* ---- the file ------------------------------------------------------------- */

/** Load path: its checks, then he_histfile_parse_.  No lock is taken.
    @return HE_HF_OK (nloaded records called back), HE_HF_MISSING, or why
      the file is refused */
enum he_hf_status he_histfile_load_(const char *path, int64_t now,
    int64_t expiry, he_hf_each_fn each, void *arg, int *nloaded);

/** Load into an array of max records (the first max in file order).
    @param n how many were stored */
enum he_hf_status he_histfile_load_array_(const char *path, int64_t now,
    int64_t expiry, struct he_hf_rec *recs, int max, int *n);

/** What a save did. */
struct he_hf_save_info {
	int written;		/* records in the file now */
	int from_file;		/* of them, kept from the file */
	int dropped;		/* live records dropped by the bound */
	enum he_hf_status replaced;	/* not HE_HF_OK: the old file was
					   refused for its content (this
					   status) and replaced, unmerged */
	int64_t lock_wait;	/* microseconds spent waiting for the lock */
};

/** he_histfile_save_'s flags. */
#define HE_HF_SYNC 1	/* fsync the file before the rename, and the
			   directory after it */

/** Merge recs into the file and write it (see the top of this file).
    Makes the file's directory (and its parent, when that is missing too,
    as ~/.cache may be) mode 0700; the file and PATH.lock are made 0600.
    @param recs, n what the process knows (all of it: the file keeps the
      newest of each destination, and what other processes wrote)
    @param now the wall clock; @param expiry as he_histfile_parse_
    @param netkey the network the process is on (for the bound's choice)
    @param lock_wait microseconds to keep trying the lock (0: one try)
    @param flags 0 or HE_HF_SYNC
    @param info if not NULL, what was done
    @return HE_HF_OK; HE_HF_BUSY; or why the file, its lock or its directory
      cannot be used (nothing written) */
enum he_hf_status he_histfile_save_(const char *path,
    const struct he_hf_rec *recs, int n, int64_t now, int64_t expiry,
    uint64_t netkey, int64_t lock_wait, int flags,
    struct he_hf_save_info *info);

/** Drop from the file every record of network netkey (all: every record),
    under the lock as a save (`evhappy --forget`).  Other processes still
    hold what they learned in memory, and save it again.
    @return as he_histfile_save_ (HE_HF_MISSING: there was no file) */
enum he_hf_status he_histfile_forget_(const char *path, uint64_t netkey,
    int all, int64_t now, int64_t expiry, int64_t lock_wait);

/* ---- the write-back policy ------------------------------------------------ */

/** When to save: at most once every HE_HISTFILE_SAVE_GAP_US after a
    change, and retried a gap later after an attempt that failed (a busy
    lock).  Plain data, zeroed to start; the caller serializes its use
    (the store's lock) and supplies the monotonic clock. */
struct he_hf_writeback {
	int attempted;		/* an attempt was made, at last_attempt */
	int64_t last_attempt;
	int unsaved;		/* a change is not in the file yet, since
				   unsaved_since */
	int64_t unsaved_since;
	int64_t last_change;
};

/** The store learned something at now. */
void he_hf_wb_changed_(struct he_hf_writeback *wb, int64_t now);

/** When the next save is due: INT64_MAX when nothing is unsaved; else at
    the first unsaved change, but no sooner than HE_HISTFILE_SAVE_GAP_US
    after the last attempt. */
int64_t he_hf_wb_due_at_(const struct he_hf_writeback *wb);

/** Whether a save is due at now. */
int he_hf_wb_due_(const struct he_hf_writeback *wb, int64_t now);

/** A save was attempted with this result.  began: when the attempt took
    its copy of the store; a change noted at or after it (by another
    thread) stays unsaved.  HE_HF_OK saved the rest; HE_HF_BUSY keeps
    everything unsaved, for a retry a gap later.  Other statuses say the
    file cannot be used: the caller stops using it (and says so once)
    rather than retry every second. */
void he_hf_wb_attempted_(struct he_hf_writeback *wb, int64_t began,
    enum he_hf_status st);

#endif
