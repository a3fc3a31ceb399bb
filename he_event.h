/*
 * evhappy: Happy Eyeballs v2 (RFC 8305) connection racing for libevent.
 *
 * Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).
 */
#ifndef EVHAPPY_HE_EVENT_H_INCLUDED_
#define EVHAPPY_HE_EVENT_H_INCLUDED_

/** @file he_event.h

  Happy Eyeballs v2 for libevent.

  An evhappy context resolves a name's AAAA and A records in parallel, sorts
  the addresses (RFC 6724), interleaves the families and races non-blocking
  connects on staggered timers.  The first TCP handshake to complete wins; it
  is handed back on the caller's bufferevent (the drop-in for
  bufferevent_socket_connect_hostname()) or as a bare socket.  Every other
  socket is closed.

  Callbacks never run from inside the call that started the work: whatever
  the race finds out inside that call (an address refused at once, an evdns
  answer from its hosts table, even the outcome) reaches the user on a
  later turn of the event loop.  The work itself starts inside the call, so
  that the first SYN leaves as early as libevent's own connect would send
  it: the DNS queries are sent and the first connection attempt is started
  before the call returns; only when a trace callback or a socket factory is
  set (user code that would run) does the race begin on the next loop turn.
  If a start call fails (it returns -1 or NULL with errno set), no callback
  ever runs.

  A context and its races belong to one event_base and must be used from the
  thread that runs it.
 */

#include <event2/util.h>
#include <event2/event.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>

#include <stddef.h>
#include <sys/types.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(EVHAPPY_BUILDING_) && defined(__GNUC__)
#define EVHAPPY_EXPORT_ __attribute__((visibility("default")))
#else
#define EVHAPPY_EXPORT_
#endif

/** @name Version */
/**@{*/
#define EVHAPPY_VERSION_MAJOR 0
#define EVHAPPY_VERSION_MINOR 2
#define EVHAPPY_VERSION_PATCH 0
#define EVHAPPY_VERSION_STRING "0.2.0"
/**
  The version as one number to compare at compile time, laid out as
  libevent's LIBEVENT_VERSION_NUMBER: 0xMMmmpp00, one byte each for major,
  minor and patch, the low byte 0.  Version 0.2.0 is 0x00020000, so code
  that needs 0.2.0 or later tests
  @code
  #if defined(EVHAPPY_VERSION_NUMBER) && EVHAPPY_VERSION_NUMBER >= 0x00020000
  @endcode
  (the macro first appeared in 0.2.0).
 */
#define EVHAPPY_VERSION_NUMBER 0x00020000
/**@}*/

/**
  Return the version of the library that is running, which may differ from
  EVHAPPY_VERSION_STRING, the version this program was compiled against.

  @return a static string "X.Y.Z"
 */
EVHAPPY_EXPORT_ const char *evhappy_get_version(void);

/**
  Return the version of the library that is running as one number, laid out
  as EVHAPPY_VERSION_NUMBER (0xMMmmpp00), which may differ from the version
  this program was compiled against (as event_get_version_number() does for
  libevent).  Added in 0.2.0.

  @return the running library's version number, e.g. 0x00020000 for 0.2.0
 */
EVHAPPY_EXPORT_ ev_uint32_t evhappy_get_version_number(void);

/** @name Defaults (RFC 8305 section 8) */
/**@{*/
/** Connection Attempt Delay, in milliseconds. */
#define EVHAPPY_DEFAULT_ATTEMPT_DELAY_MS 250
/** Resolution Delay: how long a positive A answer waits for AAAA. */
#define EVHAPPY_DEFAULT_RESOLUTION_DELAY_MS 50
/** Overall timeout of a context's races, DNS and connect together.  The
    drop-in, evhappy_socket_connect_hostname(), has none of its own (see
    there). */
#define EVHAPPY_DEFAULT_TIMEOUT_MS 30000
/** How many connection attempts may be in flight at once: a bound on the
    sockets of one race, far above any real address list.  Starting an
    attempt never closes an earlier one below it (RFC 8305 section 5), so a
    slow first path still wins.  Why 128: at the default 250 ms Connection
    Attempt Delay a race starts at most 120 attempts within the default
    30 s timeout, so with the defaults the bound is never reached; a DNS
    answer in one UDP datagram of the usual 1232-byte EDNS size holds at
    most 75 A or 42 AAAA records (117 together); and 128 sockets are an
    eighth of the common 1024 descriptor limit.  Only a race that reaches
    the bound with addresses left (one hostile answer of thousands, or a
    short delay) closes its oldest running attempt (error ETIMEDOUT) to
    make room: it never stalls, and never holds more than this many
    sockets. */
#define EVHAPPY_DEFAULT_MAX_IN_FLIGHT 128
/** Shortest time between two attempt starts (RFC 8305 section 5). */
#define EVHAPPY_MIN_ATTEMPT_GAP_MS 10
/**@}*/

/** An evhappy context: settings for the races of one event_base. Opaque. */
struct evhappy;
/** One race started with evhappy_start_connection(). Opaque. */
struct evhappy_request;
/** How a race ended; valid only during the evhappy_connect_cb. Opaque. */
struct evhappy_report;

/**
  A service endpoint: what an HTTPS record (RFC 9460 ServiceMode) says of
  the server a race connected to, or of an endpoint it will try.  Every
  field is empty (NULL, 0) when no record was used: HTTPS records off
  (evhappy_set_https_records()), none published, none usable, or the
  winner was one of the host's own addresses that no record named.
  Added in 0.2.0.
 */
struct evhappy_endpoint {
	const char *target;	/**< the endpoint's name (the record's
				     TargetName, the owner's name for "."), or
				     NULL */
	int port;		/**< the port connected to (the record's "port"
				     or the one asked) */
	int priority;		/**< SvcPriority, 1 .. 65535; 0 without a record */
	/** the endpoint's ALPN ids (its "alpn", and "http/1.1" unless
	    no-default-alpn), each preceded by its length: the form
	    SSL_set_alpn_protos() takes; NULL without a record */
	const unsigned char *alpn;
	size_t alpn_len;
	/** the ECHConfigList to give the TLS library, or NULL */
	const unsigned char *ech;
	size_t ech_len;
};

/*
  What they hold in memory (x86-64, glibc, libevent 2.1.12; heap bytes in
  use per race with 1,000 races at once, bench/bench_memory.c):

  - A context: 152 bytes, plus its copy of the local addresses.
  - A race: one allocation of about 920 bytes (the request with the core's
    first attempt, its two actions and its first address, what the report
    keeps of its DNS queries, its timer and its first attempt's event:
    libevent's struct event is 128 bytes), one
    list entry per further address (80 bytes for IPv4, 96 for IPv6, with
    its sockaddr), the name for a race that resolves, and a socket while
    an attempt runs.  The core's attempt and action arrays are allocated
    only for a second attempt (320 and 128 bytes for up to 8 attempts,
    doubling beyond).  About 990 bytes in all for a one-address race
    (evhappy_start_connection()), less than libevent's own
    bufferevent_socket_new() + bufferevent_socket_connect() (about 1 KiB).
  - A race on a bufferevent adds the 1 KiB evbuffer chain libevent
    allocates (its smallest chain) for the zero-length reference through
    which the race learns of bufferevent_free(); the chain stays in the
    bufferevent's input until its first read or its end.  The table of
    racing bufferevents takes 8 to 16 bytes a race at its peak.  About
    2 KiB on top of the bufferevent itself; the drop-in
    (evhappy_socket_connect_hostname()) adds a private context.
  - A race holds no fd but its attempts' sockets (and, with the system
    resolver, what the resolver uses).
 */

/**
  Make a new context.

  The event_base must outlive the context: call evhappy_free() before
  event_base_free().  libevent 2.1 tells nobody that an event_base is being
  freed, and freeing a context deletes the events of its races on that
  base, which reads the freed base.  A drop-in race
  (evhappy_socket_connect_hostname()) has a context of the library's own:
  a program may free the event_base while one runs, after freeing its
  bufferevent or without ever freeing it (as libevent allows), and a later
  event_base, even one at the same address, is not disturbed.

  With an evdns_base, that base must outlive the context: free the context
  first (and run the loop once, see evhappy_free()), then the evdns_base.
  libevent 2.1.12 tells nobody that an evdns_base is being freed:
  evdns_base_free(dns, 0) frees the queries of running races without a
  callback, and evhappy's later cancel of them (evhappy_free(), a cancel,
  the race's end) then reads freed memory inside libevent, which crashes.
  evdns_base_free(dns, 1) is survivable if the loop runs before the context
  is freed or a race is cancelled: the outstanding queries then fail with
  EVUTIL_EAI_FAIL and their races go on with what they have (or end with
  EHOSTUNREACH).

  Without an evdns_base (dns_base NULL), names are resolved by
  getaddrinfo() on a pool of worker threads shared by the whole process,
  AAAA first: a race's A lookup is handed to getaddrinfo() only once its
  AAAA lookup is over or was handed to it 1 ms before (time to send the
  AAAA query first, far below a DNS round trip).  Workers are started while lookups wait and none
  is idle, up to 32 in the process.  The lookups of one event_base (of all
  its contexts together) run on at most 8 workers at once; the rest wait
  in that base's queue (bounded only by memory), and the bases with
  lookups waiting are served in turn.  So names that never answer on one
  base delay another base's lookups only when four or more bases each
  have eight lookups hanging (getaddrinfo() gives up after resolv.conf's
  timeout and attempts).
  Each event_base whose contexts use it holds one wake-up fd (an eventfd,
  or a pipe), made on the first lookup and closed once the last of those
  contexts is freed and its last lookup has finished.  Its event is added
  only while a lookup of a race is out, so event_base_dispatch() returns
  once the races are over, the context alive or not.  A lookup that cannot start fails its family
  with the real errno (EMFILE or ENFILE for the wake-up fd, EAGAIN for the
  first worker thread); the other family still races, and a race left with
  no address fails with that errno instead of EHOSTUNREACH (its DNS error
  is then EVUTIL_EAI_SYSTEM).  Idle workers end after 10 seconds, and at
  exit; a worker inside a lookup at exit is not waited for.

  fork(): the child has none of the parent's worker threads.  Lookups that
  were queued or running at the fork fail in the child with
  EVUTIL_EAI_AGAIN on its next loop turn (call event_reinit() first, as
  libevent asks), so its races go on with the other family or end with
  EHOSTUNREACH; they never wait for threads that do not exist.  New lookups
  in the child start new workers.  The parent's lookups are not disturbed:
  the child gets its own wake-up fds.  A child forked while a lookup runs
  may keep what glibc's getaddrinfo() had open for it on the worker
  thread (its resolver's socket, an nscd connection), close-on-exec: glibc
  owns it, nothing in the child can close it, and a child that calls
  exec() does not keep it.

  @param base the event_base the races run on, which must outlive the
    context; must not be NULL
  @param dns_base the evdns_base used to resolve names, which must outlive
    the context; or NULL to resolve with the system resolver (getaddrinfo()
    on worker threads, so /etc/hosts and nsswitch apply and the event loop
    never blocks)
  @return a new context, or NULL with errno set (EINVAL for a NULL base,
    ENOMEM)
 */
EVHAPPY_EXPORT_ struct evhappy *evhappy_new(struct event_base *base,
    struct evdns_base *dns_base);

/**
  Free a context.  Every race it still runs is cancelled: its sockets are
  closed, its DNS queries cancelled, and its callbacks are not called; a
  bufferevent it was racing for gets no event.  May be called from inside any
  evhappy callback; the memory is then released when that callback returns.

  evdns reports the cancellation of a query on the next loop turn; run the
  loop once more (EVLOOP_NONBLOCK) before freeing the event_base if queries
  were outstanding, or their small records are not reclaimed.

  @param he the context; NULL is ignored
 */
EVHAPPY_EXPORT_ void evhappy_free(struct evhappy *he);

/** @name Settings (RFC 8305 section 8)

  Every setter returns 0, or -1 with errno EINVAL when the value is out of
  range (the old value stays).  A NULL timeval restores the default.  New
  settings apply to races started afterwards.
 */
/**@{*/

/**
  Set the Connection Attempt Delay: how long an attempt runs alone before the
  next one starts.

  @param he the context
  @param tv 10 ms .. 2 s; NULL for the default, 250 ms
  @return 0 on success, -1 with errno EINVAL
 */
EVHAPPY_EXPORT_ int evhappy_set_connection_attempt_delay(struct evhappy *he,
    const struct timeval *tv);

/**
  Set the Resolution Delay: how long a positive A answer waits for the AAAA
  answer before connecting starts over IPv4.

  @param he the context
  @param tv 0 .. 1 s; NULL for the default, 50 ms
  @return 0 on success, -1 with errno EINVAL
 */
EVHAPPY_EXPORT_ int evhappy_set_resolution_delay(struct evhappy *he,
    const struct timeval *tv);

/**
  Set the First Address Family Count: how many addresses of the preferred
  family are tried before the first of the other family.

  @param he the context
  @param count 1 or more; default 1
  @return 0 on success, -1 with errno EINVAL
 */
EVHAPPY_EXPORT_ int evhappy_set_first_address_family_count(struct evhappy *he,
    int count);

/**
  Set the overall timeout, which covers resolution and connecting together.
  When it runs out the race fails with ETIMEDOUT.

  @param he the context
  @param tv more than zero and at most 1000000000 s (tv_usec below 1000000);
    NULL for the default, 30 s
  @return 0 on success, -1 with errno EINVAL
 */
EVHAPPY_EXPORT_ int evhappy_set_timeout(struct evhappy *he,
    const struct timeval *tv);

/**
  Bound the number of connection attempts in flight at once.  Below the
  bound, starting an attempt never affects the running ones (RFC 8305
  section 5): every attempt runs until it connects, fails, or the race
  ends.  With the bound reached, no attempt starts beside the running
  ones; when the next start is due (the Connection Attempt Delay expired,
  or one failed), the oldest running attempt is closed with error
  ETIMEDOUT to make room, so the addresses left are still tried (black
  holes first in the list cannot keep a reachable address behind them
  waiting) and one race never holds more than n sockets.

  @param he the context
  @param n 1 or more; default EVHAPPY_DEFAULT_MAX_IN_FLIGHT (128, far
    above any real address list: why, see there)
  @return 0 on success, -1 with errno EINVAL
 */
EVHAPPY_EXPORT_ int evhappy_set_max_attempts_in_flight(struct evhappy *he,
    int n);

/**
  Set the local addresses to bind before connecting.  An attempt binds to the
  first address of its own family that binds; when the list has none of that
  family, the attempt fails with EADDRNOTAVAIL and the race goes on.  Ports in
  the list are used as given (0 lets the kernel choose).

  @param he the context
  @param list the addresses; copied.  NULL clears: no bind.
  @return 0 on success, -1 with errno ENOMEM (the old list stays)
 */
EVHAPPY_EXPORT_ int evhappy_set_local_addrinfo(struct evhappy *he,
    const struct evutil_addrinfo *list);

/**
  Make the sockets of connection attempts.

  @param ai the address the socket will connect to
  @param arg the pointer given to evhappy_set_socket_factory()
  @return a new socket for ai's family (the library makes it non-blocking and
    close-on-exec), or -1 with errno set: that attempt then fails with that
    errno and the race goes on
 */
typedef evutil_socket_t (*evhappy_socket_factory_cb)(
    const struct evutil_addrinfo *ai, void *arg);

/**
  Replace socket() for the connection attempts of later races.

  @param he the context
  @param cb the factory, or NULL to restore socket()
  @param arg passed to cb
 */
EVHAPPY_EXPORT_ void evhappy_set_socket_factory(struct evhappy *he,
    evhappy_socket_factory_cb cb, void *arg);

/**
  Turn the connection history on or off for the later races of a context.

  The history (RFC 8305 section 4) is on by default and belongs to the
  process, not to a context: every context and every
  evhappy_socket_connect_hostname() call learn from and use one store.  It
  is safe to use from races on several event_bases in several threads.

  What it learns, per destination (address and port): the handshake RTT of
  attempts that connected (smoothed, with its variation, as TCP keeps them,
  RFC 6298), and which addresses failed (an error of the path, such as
  ECONNREFUSED or EHOSTUNREACH) or hung (were still connecting, after at
  least the Connection Attempt Delay, when another attempt won or the race
  timed out: a black hole looks like that).

  What it does:
  - An address that failed or hung goes after the others (a caller's list
    too), so the second connect to a host whose IPv6 path is a black hole
    takes about one RTT, not the Connection Attempt Delay.  If such an
    address is tried anyway, the next attempt waits only the 10 ms gap.
  - Among the addresses of one family, a lower known RTT goes first (DNS
    answers only: a caller's order is the caller's).  The order between
    families stays RFC 6724's, so a working IPv6 path keeps being preferred
    however fast IPv4 is.
  - Where an address's RTT is known, the next attempt starts after about
    the time its SYN would be retransmitted: srtt + max(4 * rttvar, srtt /
    2), clamped to 10 ms .. 2 s; unknown: the configured delay.
  - Entries expire 10 minutes after they were learned: a repaired path is
    tried again then at the latest, at once if it connects in a race in the
    meantime.  Entries belong to the network they were learned on: after a
    move to another network they are not used (evhappy_set_history_file()
    says how the network is recognised).
  - A trace event EVHAPPY_TRACE_HISTORY says when it changed the order or
    the delay.

  Memory: a fixed table of 256 entries (under 20 KiB, allocated once with
  the library), the least recently used entry reused for a new
  destination.

  @param he the context
  @param enabled 1 (the default): its races use and feed the history; 0:
    they neither use nor feed it
  @return 0 on success; -1 with errno EINVAL for other values or a NULL he
 */
EVHAPPY_EXPORT_ int evhappy_set_history(struct evhappy *he, int enabled);

/**
  Empty the process's connection history (every context's, and the
  drop-in's, of every network).  A history file keeps its entries:
  evhappy_forget_history() clears both.

  @param he a context (the store is the process's; NULL does nothing)
 */
EVHAPPY_EXPORT_ void evhappy_clear_history(struct evhappy *he);

/**
  Keep the connection history in a file, so that it outlives the process
  and is shared with the user's other processes that use the same file.
  Process-wide, as the history is; off (NULL) unless a program calls this.
  The interposition library (evhappy-run) and the evhappy CLI use the file
  evhappy_default_history_file() names.

  Every history entry belongs to the network the host was on when it was
  learned: a key made from the kernel's default routes (their gateways and
  interfaces) and the prefixes on those interfaces, read over rtnetlink.
  A race uses only the entries of the network the host is on when it
  starts; the library watches the routing table (one netlink socket per
  process) and reads the key again when it changed, so a move to another
  network takes effect at the next race, and a move back makes the old
  network's entries apply again.  This holds with or without a file.

  The file is read here (every network's entries; ones older than 10
  minutes are skipped); what races learn is written back at most once a
  second (at once after the first lesson, then after a race that ends a
  second or more after the last save), and at exit.  A save merges with
  what other processes wrote meanwhile, under a lock (PATH.lock), keeping
  every other process's entries; when the lock is busy for 5 ms it gives
  up and retries a second later: a race never waits longer.  The save at
  exit, where no loop waits, tries a busy lock for up to 500 ms.  The file
  holds at most 4096 entries (64 bytes each: network, address, port,
  state, errno, RTT, when), with a version and a checksum; it is made
  0600 in a directory made 0700.

  A file is input, so it is refused, and the library says so once on
  stderr ("evhappy: history file PATH is ..."), when it is a symbolic
  link, not a regular file, owned by another user, writable by group or
  others, in a directory that is not the user's or that others may write
  (then this call fails and no file is used), or when it is too large,
  truncated, of another version or corrupt (then its content is ignored
  and the next save replaces it).  The history in memory works on either
  way.  A set-uid or set-gid program never uses a file.

  @param path an absolute path, or NULL for no file (what is unsaved goes
    to the old file first)
  @return 0 on success; -1 with errno EINVAL (path is not absolute),
    ENAMETOOLONG, EPERM (a set-uid program; the file or its directory is
    not the user's, or others may write it), ELOOP (a symbolic link), or
    the error that kept it from being read: then no file is used.
    Added in 0.2.0.
 */
EVHAPPY_EXPORT_ int evhappy_set_history_file(const char *path);

/**
  The history file of the interposition library and the CLI:
  EVHAPPY_HISTORY_FILE when it is set to an absolute path (=off: none),
  else $XDG_CACHE_HOME/evhappy/history when XDG_CACHE_HOME is absolute,
  else $HOME/.cache/evhappy/history.  A set-uid or set-gid program has
  none, and reads no variable.

  @param buf where to write the path
  @param len its size
  @return 0; -1 with errno ENOENT when there is none
    (EVHAPPY_HISTORY_FILE=off, set-uid, no HOME), EINVAL
    (EVHAPPY_HISTORY_FILE is not absolute, or buf is NULL) or ENAMETOOLONG
    (len is too small).  Added in 0.2.0.
 */
EVHAPPY_EXPORT_ int evhappy_default_history_file(char *buf, size_t len);

/** What the connection history knows of one destination
    (evhappy_history_foreach()). */
struct evhappy_history_entry {
	const struct sockaddr *addr;	/**< address and port */
	ev_socklen_t addrlen;
	int state;			/**< enum evhappy_history_state */
	int error;			/**< FAILED: its errno */
	struct timeval age;		/**< since it was learned */
	struct timeval rtt;		/**< smoothed handshake RTT, 0 if unknown */
	struct timeval rttvar;		/**< its variation (RFC 6298) */
	int from_file;			/**< read from the history file, not
					     learned by this process since */
};

/**
  Called once per entry by evhappy_history_foreach(); the entry and what
  it points to are valid only during the call.
 */
typedef void (*evhappy_history_cb)(const struct evhappy_history_entry *e,
    void *arg);

/**
  What the connection history knows for the network the host is on now
  (evhappy_history_network()), entry by entry: the process's history,
  which holds the history file's entries when one is set
  (evhappy_set_history_file()).  The callback may call any evhappy
  function.

  @param cb called once per entry
  @param arg passed to cb
  @return how many entries there were; -1 with errno EINVAL (cb is NULL)
    or ENOMEM.  Added in 0.2.0.
 */
EVHAPPY_EXPORT_ int evhappy_history_foreach(evhappy_history_cb cb, void *arg);

/**
  The network the host is on now, as the connection history sees it.

  @param key if not NULL, set to the network's key (0 when the routing
    table cannot be read: then one history serves every network)
  @param buf if not NULL, its default routes and prefixes as one line,
    such as "v4 via 192.0.2.1 dev eth0 192.0.2.0/24; v6 via fe80::1 dev
    eth0 2001:db8:1::/64"; always NUL-terminated when len > 0
  @param len the size of buf
  @return the length the whole line needs, as snprintf() returns it; -1
    with errno EINVAL when buf is NULL with len > 0.  Added in 0.2.0.
 */
EVHAPPY_EXPORT_ int evhappy_history_network(ev_uint64_t *key, char *buf,
    size_t len);

/**
  Forget what the connection history knows of the network the host is on
  now (all: of every network), in this process and in the history file.
  Other processes that use the file keep what they hold in memory, and
  may write it back.

  @param all 0: the current network's entries; 1: every entry
  @return 0 on success; -1 with errno EINVAL (all is not 0 or 1),
    EWOULDBLOCK (the file was locked by another process for 5 ms: the
    process's history is cleared, the file is not), or the error that
    kept the file from being rewritten.  Added in 0.2.0.
 */
EVHAPPY_EXPORT_ int evhappy_forget_history(int all);

/**
  Ask the host's HTTPS record too (RFC 9460; the Happy Eyeballs v3
  draft), beside its AAAA and A records, for the later races of a context
  that resolve a name (evhappy_resolve_and_connect(),
  evhappy_connect_hostname(); never for a literal or a caller's list).

  The record is asked first, with the name RFC 9460 section 9.1 gives:
  the host for port 443, "_PORT._https.HOST" for any other port.  AliasMode
  records are followed (at most 8, no loop; an alias target is asked
  without the "_PORT._https" prefix).  Of the ServiceMode records, an
  endpoint is skipped, and said so in the trace, when its ALPN set (its
  "alpn", and "http/1.1" unless "no-default-alpn") shares nothing with the
  protocols evhappy_set_alpn() declared (an "h3"-only endpoint is skipped:
  evhappy races TCP, not QUIC), or when it makes mandatory a key this
  client does not use.  The others are raced in priority order (equal
  priorities shuffled), each at its own "port": their address hints
  ("ipv4hint", "ipv6hint") join the race as soon as the record comes (so
  the first attempt may start before A and AAAA answer), their targets'
  addresses when those answer (a hint the target's answer lacks is
  dropped), and the host's own addresses after every endpoint's.  Within
  an endpoint, RFC 6724, the connection history and the interleaving of
  families apply as usual.

  Waiting: once an address answer has come, the first attempt waits for
  the HTTPS record at most the Resolution Delay (50 ms by default); an
  answer that fails, is empty or is late never holds the race longer, and
  a late one only adds its endpoints.  A race whose A and AAAA give nothing
  still waits for the record.

  The record is asked through the context's resolver: for a context with
  an evdns_base through c-ares (when the library was built with it:
  `evhappy --version` says so; without it, such a context races on
  A/AAAA alone) with the evdns_base's name servers; without one through
  res_nquery() on the system resolver's workers (resolv.conf's servers).
  Neither is DNSSEC-validated or encrypted, so what the record says is
  opportunistic, as the draft allows.

  @param he the context
  @param on 1 to ask HTTPS records, 0 (the default) not to
  @return 0, or -1 with errno EINVAL (NULL he, or on not 0 or 1)
 */
EVHAPPY_EXPORT_ int evhappy_set_https_records(struct evhappy *he, int on);

/**
  Declare the application protocols (ALPN ids) the caller speaks, for the
  HTTPS record's ALPN rule (evhappy_set_https_records()).

  @param he the context
  @param protocols a comma-separated list, most preferred first, such as
    "h2,http/1.1"; NULL restores the default, "http/1.1"
  @return 0, or -1 with errno EINVAL (NULL he, an empty list or id, an id
    longer than 255 bytes, a list longer than 1024 bytes in wire form);
    the old list stays
 */
EVHAPPY_EXPORT_ int evhappy_set_alpn(struct evhappy *he,
    const char *protocols);

/**
  Called once per race that connected, after its TCP handshake won and
  before the socket goes on: to the bufferevent (which, for an OpenSSL
  bufferevent, has not begun its handshake yet: bufferevent_openssl_get_ssl()
  gives the SSL to set ALPN and ECH on) or to the connect callback.  Called
  whether HTTPS records are on or not.

  @param fd the connected socket
  @param bev the caller's bufferevent, or NULL on the socket path
  @param ep the winner's endpoint (empty fields when no record was used);
    valid during the call only
  @param arg as given to evhappy_set_endpoint_cb()
  @return 0 to go on; -1 (with errno set) closes the socket and ends the
    race with that errno (EIO when errno is 0), as if the connect had
    failed
 */
typedef int (*evhappy_endpoint_cb)(evutil_socket_t fd,
    struct bufferevent *bev, const struct evhappy_endpoint *ep, void *arg);

/**
  Set the endpoint hook of later races (evhappy_endpoint_cb).  The hook
  may not free the context or cancel the race; it may set up the
  bufferevent (a TLS filter's ALPN and ECH).

  @param he the context
  @param cb the hook, or NULL to remove it
  @param arg passed to cb
 */
EVHAPPY_EXPORT_ void evhappy_set_endpoint_cb(struct evhappy *he,
    evhappy_endpoint_cb cb, void *arg);

struct sockaddr_in6;

/**
  How the later races of a context reach IPv4 destinations from a host
  with no IPv4 route (an IPv6-only network with NAT64, RFC 8305 section
  7): by IPv6 addresses synthesized from the IPv4 ones under a NAT64
  prefix (RFC 6052).

  A race synthesizes when it resolves or names a host with family
  AF_UNSPEC (an IPv4 literal, or the A records of a name), the host has
  no IPv4 route (a UDP socket connected to a global IPv4 address finds
  none; no packet is sent; the answer is kept a second), the kernel has
  no route to those addresses either (a VPN's), and a prefix is known.
  Then each IPv4 address becomes one IPv6 address under the first prefix
  that may carry it, raced as IPv6 and interleaved with the AAAA
  answers, and the IPv4 address itself is not tried.  Never synthesized:
  0/8, 127/8, 169.254/16, multicast, 240/4 and the other addresses of no
  remote server; under the Well-Known Prefix 64:ff9b::/96 not the
  non-global ones either (private, shared, documentation: RFC 6052
  section 3.1).  A caller's own list (evhappy_start_connection(),
  evhappy_connect_addrinfo()) is raced as given.  On a dual-stack host
  nothing changes.

  A synthesized address is one server with the IPv4 address it stands
  for: the connection history, the removal of duplicates (a DNS64
  resolver's AAAA answer for the same A record is not raced twice) and
  evhappy_report_format() go by the IPv4 address; the report and the
  trace (EVHAPPY_TRACE_NAT64_PREFIX, EVHAPPY_TRACE_NAT64_SYNTH) show
  both.

  Automatic mode (the default) discovers the prefix and keeps it for the
  whole process, as long as it is valid: PREF64 options of router
  advertisements (RFC 8781; Linux reports them to a netlink socket the
  context opens on the first race that needs NAT64, and hears from then
  on), preferred, else the AAAA records of ipv4only.arpa (RFC 7050)
  asked through the context's resolver, kept for their TTL (getaddrinfo
  tells none: 10 minutes) and asked again shortly before it ends.  A race
  that needs a prefix nobody knows yet waits for discovery at most 2 s
  (and half its timeout); where none is found it goes on with the IPv4
  addresses, which fail with the usual error (ENETUNREACH) at once.

  @param he the context
  @param prefix a NAT64 prefix (sin6_family AF_INET6, port and scope 0,
    every bit past prefix_len zero, the RFC 6052 u-octet, bits 64-71,
    zero), used as it is and nothing discovered; or NULL
  @param prefix_len with a prefix its length, one of 32, 40, 48, 56, 64 or
    96; with NULL, 0 never synthesizes and -1 restores automatic mode
  @return 0, or -1 with errno EINVAL (NULL he, another length, a prefix
    that breaks the rules above); the old setting stays.  Added in 0.2.0.
 */
EVHAPPY_EXPORT_ int evhappy_set_nat64_prefix(struct evhappy *he,
    const struct sockaddr_in6 *prefix, int prefix_len);

/**@}*/

/** @name Tracing */
/**@{*/

/** What a trace event reports. */
enum evhappy_trace_kind {
	EVHAPPY_TRACE_DNS_QUERY,	/**< a query for one family was sent */
	EVHAPPY_TRACE_DNS_ANSWER,	/**< one family's answer (or error) arrived */
	EVHAPPY_TRACE_ATTEMPT_START,	/**< a connection attempt started */
	EVHAPPY_TRACE_ATTEMPT_FAILED,	/**< an attempt failed; error is its errno */
	EVHAPPY_TRACE_ATTEMPT_WON,	/**< an attempt's handshake completed first */
	EVHAPPY_TRACE_ATTEMPT_CANCELLED,/**< a running attempt was closed */
	EVHAPPY_TRACE_DONE,		/**< the race ended; error 0 on success */
	/** the connection history changed the order (moved is 1: addr now
	    follows after, or comes first when after is NULL) or the delay
	    before the next attempt (delay is non-zero); history, age, rtt and
	    rttvar say what was known of addr, error its errno if it failed */
	EVHAPPY_TRACE_HISTORY,
	/** the HTTPS record was asked (evhappy_set_https_records()); text is
	    the name asked */
	EVHAPPY_TRACE_HTTPS_QUERY,
	/** the HTTPS record's answer: naddrs endpoints usable, error 0 or an
	    EVUTIL_EAI_* code; text says what the answer was ("service",
	    "empty", "failed: ...", "malformed: ...") */
	EVHAPPY_TRACE_HTTPS_ANSWER,
	/** an endpoint of the HTTPS record that will be raced: endpoint says
	    which (target, port, priority, ALPN, ECH) */
	EVHAPPY_TRACE_ENDPOINT,
	/** a record of the HTTPS answer that was skipped; text says why
	    (e.g. an h3-only endpoint: no QUIC here) */
	EVHAPPY_TRACE_ENDPOINT_SKIPPED,
	/** the network whose history the race uses (evhappy_set_history_file()
	    tells what that means): network is its key, text how it was
	    recognised (its default routes and prefixes).  Once per race that
	    uses the history, at its start.  Added in 0.2.0. */
	EVHAPPY_TRACE_NETWORK,
	/** NAT64 (evhappy_set_nat64_prefix()): a prefix the race
	    synthesizes with: addr is the prefix (a sockaddr_in6, port 0),
	    nat64_prefix_len its length, nat64_source where it came from; or,
	    with addr NULL and error set, that the race has none (ENOENT:
	    none was found, or NAT64 is off; ETIMEDOUT: discovery did not
	    answer in time), so its IPv4 addresses race as they are.  text
	    says it in words.  Added in 0.2.0. */
	EVHAPPY_TRACE_NAT64_PREFIX,
	/** NAT64: an IPv4 address was synthesized: addr is the IPv6 address
	    raced, nat64_v4 the IPv4 address it stands for (one server),
	    nat64_prefix_len and nat64_source those of its prefix, text
	    "64:ff9b::c000:20a for 192.0.2.10, prefix 64:ff9b::/96 from RA".
	    With addr NULL and error EADDRNOTAVAIL: nat64_v4 may not be
	    synthesized under the race's prefixes, and races as it is.
	    Added in 0.2.0. */
	EVHAPPY_TRACE_NAT64_SYNTH
};

/** Where a NAT64 prefix came from (evhappy_trace.nat64_source). */
enum evhappy_nat64_source {
	EVHAPPY_NAT64_SOURCE_NONE = 0,	/**< not a NAT64 event */
	EVHAPPY_NAT64_SOURCE_CALLER = 1,	/**< evhappy_set_nat64_prefix(),
					     EVHAPPY_NAT64 */
	EVHAPPY_NAT64_SOURCE_RA = 2,	/**< a router advertisement's PREF64
					     option (RFC 8781) */
	EVHAPPY_NAT64_SOURCE_DNS = 3	/**< ipv4only.arpa (RFC 7050) */
};

/** What the connection history knew of an address
    (evhappy_trace.history). */
enum evhappy_history_state {
	EVHAPPY_HISTORY_UNKNOWN = 0,	/**< nothing, or it expired */
	EVHAPPY_HISTORY_WORKED = 1,	/**< it connected; rtt is its RTT */
	EVHAPPY_HISTORY_FAILED = 2,	/**< a connect failed; error says how */
	EVHAPPY_HISTORY_HUNG = 3	/**< a connect was still waiting when
					     another won or the race timed out */
};

/** One step of a race, as the trace callback sees it. */
struct evhappy_trace {
	enum evhappy_trace_kind kind;
	struct timeval elapsed;		/**< since the race began */
	int family;			/**< AF_INET / AF_INET6, or 0 */
	const struct sockaddr *addr;	/**< attempt address, or NULL */
	ev_socklen_t addrlen;
	int error;			/**< errno or EVUTIL_EAI_*, 0 if none */
	int naddrs;			/**< DNS_ANSWER: how many addresses */
	/* Fields below were added with the connection history; they are 0
	   or NULL except in EVHAPPY_TRACE_HISTORY events. */
	int history;			/**< enum evhappy_history_state of addr */
	struct timeval age;		/**< how long ago that was learned */
	struct timeval rtt;		/**< addr's smoothed handshake RTT, 0 if unknown */
	struct timeval rttvar;		/**< its variation (RFC 6298) */
	struct timeval delay;		/**< the next attempt waits this long after addr's start */
	int moved;			/**< addr was moved in the order */
	const struct sockaddr *after;	/**< moved: the address addr now follows, or NULL */
	ev_socklen_t afterlen;
	/* Fields below were added with HTTPS records (0.2.0); they are NULL
	   except in the events that say so. */
	const char *text;		/**< what the event says, in words */
	const struct evhappy_endpoint *endpoint;	/**< ENDPOINT: which */
	/* Fields below were added with the history file (0.2.0). */
	int from_file;			/**< HISTORY: what was known of addr was
					     read from the history file, not
					     learned by this process */
	ev_uint64_t network;		/**< NETWORK: the network's key; 0 when
					     it cannot be known (no netlink) */
	/* Fields below were added with NAT64 (0.2.0); they are 0 or NULL
	   except in EVHAPPY_TRACE_NAT64_PREFIX and _SYNTH events. */
	const struct sockaddr *nat64_v4;	/**< NAT64_SYNTH: the IPv4
					     address addr stands for */
	ev_socklen_t nat64_v4len;
	int nat64_prefix_len;		/**< the NAT64 prefix's length */
	int nat64_source;		/**< enum evhappy_nat64_source */
};

/**
  A trace callback.  The event and what it points to are valid only during
  the call.  The callback may cancel the race it is told about or free the
  context.

  @param ev the step
  @param arg the pointer given to evhappy_set_trace_cb()
 */
typedef void (*evhappy_trace_cb)(const struct evhappy_trace *ev, void *arg);

/**
  Watch every step of later races.

  @param he the context
  @param cb the callback, or NULL to remove it
  @param arg passed to cb
 */
EVHAPPY_EXPORT_ void evhappy_set_trace_cb(struct evhappy *he,
    evhappy_trace_cb cb, void *arg);

/**
  The name of a trace kind, such as "attempt-start".

  @param kind the kind
  @return a static string; "unknown" for a value out of range
 */
EVHAPPY_EXPORT_ const char *evhappy_trace_kind_name(
    enum evhappy_trace_kind kind);

/**
  Write one trace event as a line a person can read, without a newline:
  the kind's name and what it says, such as "attempt-failed
  192.0.2.1:443 error: Connection refused", "dns-answer AAAA: 2 addresses",
  "history: [2001:db8::1]:443 hung 12 s ago, moved after 192.0.2.1:443"
  (with " (from the history file)" after the age when it came from
  there), "network 5e1f0c2a9b3d4e71: v4 via 192.0.2.1 dev eth0
  192.0.2.0/24" or "done: connected".  It is what EVHAPPY_TRACE=1 prints after the race's
  number and time, and what `evhappy --trace` prints.  Added in 0.2.0.

  @param ev the event, as the trace callback got it
  @param buf where to write; always NUL-terminated when len > 0
  @param len the size of buf
  @return the length the whole line needs, as snprintf() returns it; -1
    with errno EINVAL when ev is NULL, or buf is NULL with len > 0
 */
EVHAPPY_EXPORT_ int evhappy_trace_format(const struct evhappy_trace *ev,
    char *buf, size_t len);

/**@}*/

/** @name Racing on a bufferevent (the drop-in) */
/**@{*/

/**
  Resolve a name and race connections to it on a bufferevent.

  bev is a socket bufferevent made with fd -1 (bufferevent_socket_new()), an
  OpenSSL socket bufferevent made with fd -1 and BUFFEREVENT_SSL_CONNECTING,
  or a filter over one of those; the race connects the socket at the bottom.

  Exactly one event later reaches bev's event callback, never from inside
  this call: BEV_EVENT_CONNECTED (the winning socket is bufferevent_getfd(),
  data written before is sent; for OpenSSL after the TLS handshake), or
  BEV_EVENT_ERROR with EVUTIL_SOCKET_ERROR() set to the failure's errno: the
  common errno when every attempt failed with the same one, else the errno of
  the first attempt (the most preferred address); ETIMEDOUT when the overall
  timeout ran out; EHOSTUNREACH when the name gave no address, and then
  evhappy_get_dns_error() says why; EIO in the rare case that libevent
  refused the winning socket (bufferevent_setfd() or
  bufferevent_socket_connect() failed).  A failed attempt's own errno can
  also be EIO (a socket factory returned -1 without errno) or EPROTOTYPE
  (it returned a socket that is not a stream socket).

  bufferevent_free(bev) during the race is safe: the race stops, every
  socket it opened is closed, nobody is called and nothing leaks, also when
  the event_base is freed right after with no loop turn between.  The race
  holds no reference on bev: it learns of the free when libevent finalizes
  bev (on the next loop turn, or inside event_base_free()), and takes a bev
  whose callbacks have all been cleared (bufferevent_free() clears them
  first) as freed.  So do not clear every callback of a racing bev unless
  you mean to drop the race.

  bev must belong to he's event_base.  A second race on a bufferevent that
  is still racing, on a filter over it, or on the bufferevent under a
  racing filter, is refused with EALREADY.  As with libevent's own connect,
  bufferevent_setfd() on a racing socket bufferevent (a socket, or -1)
  takes it back: a new connect on it then replaces the old race, which
  ends silently, every socket closed (evhttp resets its bufferevent so
  before each connect and each retry).  libevent calls nobody back inside
  bufferevent_setfd(), bufferevent_disable() or the drain of an empty
  input, so a reset (what evhttp does when its connect timeout fires or a
  request is cancelled) cannot end the race on that call: the race ends,
  silently, at the first of the new connect, bufferevent_free(), the race's
  next event of its own, and, when bev has a read or write timeout set
  (bufferevent_set_timeouts(), evhttp's connect timeout), about 1 ms after
  that timeout fired, so a bev reset from its own timeout callback has its
  sockets closed then.  Disabling bev alone does not end the race, as it
  does not stop libevent's own connect.  While a socket bufferevent races,
  its input is frozen at its end, as libevent keeps it while it has no
  socket.

  On BEV_EVENT_CONNECTED, bev's connection address is the winner's, as
  libevent's own connect records it: evhttp_connection_get_addr() returns
  it, and evhttp's EVHTTP_CON_REUSE_CONNECTED_ADDR reconnects there.

  @param he the context
  @param bev the bufferevent
  @param family AF_UNSPEC, or AF_INET / AF_INET6 to use only that family
  @param hostname a name, an IPv4 or IPv6 literal, or "[v6-literal]"; an
    IPv6 literal may carry a zone ("fe80::1%eth0" or "%2"), as getaddrinfo()
    takes it; a literal is not resolved
  @param port 1 .. 65535
  @return 0 when the race started; -1 with errno EINVAL (bad argument, an
    unsupported bufferevent kind, a bev of another event_base, or a context
    that evhappy_free() is freeing), EISCONN (bev already has a socket),
    EALREADY (a race on bev, or on a bufferevent above or below it, is still
    under way) or ENOMEM, and then no event ever comes
 */
EVHAPPY_EXPORT_ int evhappy_connect_hostname(struct evhappy *he,
    struct bufferevent *bev, int family, const char *hostname, int port);

/**
  Race connections to a list of addresses on a bufferevent.  The list keeps
  its order (it is interleaved by family, not sorted) and is copied.  Events
  are as for evhappy_connect_hostname().

  @param he the context
  @param bev the bufferevent, as for evhappy_connect_hostname()
  @param addrs the addresses; entries of family AF_INET or AF_INET6 whose
    socktype is SOCK_STREAM or 0 are used, others skipped
  @return 0 when the race started; -1 with errno EINVAL (NULL or empty list,
    no usable address, bad bufferevent), EISCONN, EALREADY or ENOMEM
 */
EVHAPPY_EXPORT_ int evhappy_connect_addrinfo(struct evhappy *he,
    struct bufferevent *bev, const struct evutil_addrinfo *addrs);

/**
  The DNS error of the last race on bev.

  @param bev the bufferevent
  @return the EVUTIL_EAI_* code when the last race on bev failed because the
    name could not be resolved; 0 otherwise.  Valid until the next connect
    on bev through evhappy (or through the interposition library, which
    clears it also for the connects it leaves to libevent).  libevent has
    no room for it in the bufferevent, so the last 64 such errors are kept
    in a table keyed by the bufferevent's address: with more failed
    bufferevents unread, the oldest reads 0, and a bufferevent connected
    with libevent's own calls alone (bufferevent_socket_connect()) may
    still read the code an evhappy race left at that address.
 */
EVHAPPY_EXPORT_ int evhappy_get_dns_error(struct bufferevent *bev);

/**
  The endpoint the last race on bev connected to (see struct
  evhappy_endpoint and evhappy_set_https_records()).  libevent has no room
  for it in the bufferevent, so, as the DNS error, it is kept in a table
  keyed by the bufferevent's address, for the last 64 bufferevents that
  connected through an HTTPS record, until the next race on bev (of
  either kind) starts.  Added in 0.2.0.

  @param bev the bufferevent
  @return the endpoint, valid until that next race on bev or until bev
    is freed; NULL when the last race on bev used no HTTPS record (or
    more than 64 later ones did)
 */
EVHAPPY_EXPORT_ const struct evhappy_endpoint *evhappy_get_endpoint(
    struct bufferevent *bev);

/**
  The one-line replacement for bufferevent_socket_connect_hostname(): same
  arguments, default settings, and a private context that lives as long as
  the race.  It returns -1 where libevent does (a bad family, a port outside
  1 .. 65535), and sets errno (EINVAL), which libevent does not; it also
  returns -1 where libevent would go on: a NULL bev or hostname or an empty
  hostname, a bracketed or zoned literal that is not a valid IPv6 address
  (EINVAL; libevent sends it to DNS), an unsupported bufferevent kind
  (EINVAL), a bev that already has a socket (EISCONN; libevent would
  connect that socket again), a bev still racing (EALREADY; libevent would
  start a second lookup), and out of memory (ENOMEM; libevent reports it
  later as a DNS error).  bufferevent_free(bev) during the race is safe, as
  for evhappy_connect_hostname().

  It waits at least as long as libevent's own call would: that has no
  overall timeout, and neither has the drop-in unless EVHAPPY_TIMEOUT_MS
  sets one (the 30 s default is that of contexts, evhappy_new()).
  Resolution ends when the resolver gives up (evdns's or the system's own
  timeouts), and each connection attempt when it connects, fails, or the
  kernel stops retrying its SYN (net.ipv4.tcp_syn_retries: about 2 minutes
  on Linux by default); the race ends when every attempt has ended and no
  address is left (the bound of attempts in flight,
  EVHAPPY_DEFAULT_MAX_IN_FLIGHT, still applies).  A program's own timeouts
  work as with libevent (evhttp's connect timeout still ends the request);
  EVHAPPY_TIMEOUT_MS sets a shorter wait from outside.

  Its settings come from the environment, read once at the first call
  (thread-safe) and documented in evhappy(7): EVHAPPY_ATTEMPT_DELAY_MS
  (10 .. 2000), EVHAPPY_RESOLUTION_DELAY_MS (0 .. 1000), EVHAPPY_TIMEOUT_MS
  (1 or more; unset: no overall timeout), EVHAPPY_HISTORY=0 (no connection
  history) and
  EVHAPPY_TRACE=1 (every trace event as one line on stderr, beginning with
  "evhappy: ").  A bad value is ignored with one warning line on stderr.
  The interposition library libevhappy-preload.so (evhappy-run(1)) makes
  this function stand in for bufferevent_socket_connect_hostname() in
  programs that cannot be recompiled; EVHAPPY_DISABLE=1 turns that off.
  The interposition library also keeps the history in a file
  (evhappy_default_history_file(); EVHAPPY_HISTORY_FILE=PATH or =off); a
  program linked with libevhappy has one only when it calls
  evhappy_set_history_file().

  @param bev the bufferevent, as for evhappy_connect_hostname()
  @param dns_base an evdns_base, or NULL for the system resolver (which, as
    in libevent, may not block the loop: here it never does)
  @param family AF_UNSPEC, AF_INET or AF_INET6
  @param hostname as for evhappy_connect_hostname()
  @param port 1 .. 65535
  @return 0 when the race started, -1 with errno set
 */
EVHAPPY_EXPORT_ int evhappy_socket_connect_hostname(struct bufferevent *bev,
    struct evdns_base *dns_base, int family, const char *hostname, int port);

/**
  The DNS error of the last evhappy_socket_connect_hostname() on bev, as
  bufferevent_socket_get_dns_error() gives it for libevent's call.  A
  program that switches to evhappy_socket_connect_hostname() switches to
  this getter too: libevent's knows nothing of evhappy's races.  (Under the
  interposition library, bufferevent_socket_get_dns_error() itself answers
  for them.)

  @param bev the bufferevent
  @return an EVUTIL_EAI_* code, or 0
 */
EVHAPPY_EXPORT_ int evhappy_socket_get_dns_error(struct bufferevent *bev);

/**@}*/

/** @name Racing to a socket (aiohappyeyeballs' start_connection) */
/**@{*/

/**
  Called exactly once when a race ends, from the event loop.

  @param fd the connected non-blocking socket, which the callee now owns; or
    -1 when the race failed
  @param report how the race went; valid only during the call
  @param arg the pointer given when the race started
 */
typedef void (*evhappy_connect_cb)(evutil_socket_t fd,
    const struct evhappy_report *report, void *arg);

/**
  Race connections to a list of addresses.  The list keeps its order (it is
  interleaved, not sorted) and is copied.

  @param he the context
  @param addrs the addresses
  @param cb called once with the result; never after evhappy_request_cancel()
  @param arg passed to cb
  @return the request, or NULL with errno EINVAL (NULL argument, or a list
    with no usable address) or ENOMEM, and then cb never runs
 */
EVHAPPY_EXPORT_ struct evhappy_request *evhappy_start_connection(
    struct evhappy *he, const struct evutil_addrinfo *addrs,
    evhappy_connect_cb cb, void *arg);

/**
  Resolve a name (AAAA and A in parallel, RFC 8305 section 3) and race
  connections to its addresses.

  @param he the context
  @param family AF_UNSPEC, AF_INET or AF_INET6
  @param hostname as for evhappy_connect_hostname()
  @param port 1 .. 65535
  @param cb called once with the result; never after evhappy_request_cancel()
  @param arg passed to cb
  @return the request, or NULL with errno EINVAL or ENOMEM, and then cb never
    runs
 */
EVHAPPY_EXPORT_ struct evhappy_request *evhappy_resolve_and_connect(
    struct evhappy *he, int family, const char *hostname, int port,
    evhappy_connect_cb cb, void *arg);

/**
  Cancel a race: its sockets are closed and its callback will not run.  May
  be called from inside any evhappy callback, and again before control
  returns to the event loop.  Once the loop has run after the cancel, or
  once the callback has returned, the handle is gone.

  @param req the request; NULL is ignored
 */
EVHAPPY_EXPORT_ void evhappy_request_cancel(struct evhappy_request *req);

/**@}*/

/** @name The report */
/**@{*/

/**
  @param r the report
  @return 0 on success; otherwise the errno of the failure (see
    evhappy_connect_hostname()), ETIMEDOUT when the overall timeout ran out
    (also during resolution: then the DNS error is EVUTIL_EAI_AGAIN),
    EHOSTUNREACH when resolution gave no address
 */
EVHAPPY_EXPORT_ int evhappy_report_error(const struct evhappy_report *r);

/**
  @param r the report
  @return the EVUTIL_EAI_* code when resolution failed, else 0
 */
EVHAPPY_EXPORT_ int evhappy_report_dns_error(const struct evhappy_report *r);

/**
  @param r the report
  @return how many connection attempts started
 */
EVHAPPY_EXPORT_ int evhappy_report_attempt_count(
    const struct evhappy_report *r);

/**
  One connection attempt, in the order attempts started.  Any output pointer
  may be NULL.

  @param r the report
  @param i 0 .. evhappy_report_attempt_count() - 1
  @param addr the address it connected to
  @param error its errno; 0 for the winner; ECANCELED for an attempt closed
    because another won or the race was cancelled; ETIMEDOUT for one cut
    short by the overall timeout
  @param started when it started, since the race began
  @param ended when it ended, since the race began
  @return 0, or -1 with errno EINVAL when i is out of range
 */
EVHAPPY_EXPORT_ int evhappy_report_attempt(const struct evhappy_report *r,
    int i, struct sockaddr_storage *addr, int *error,
    struct timeval *started, struct timeval *ended);

/**
  Write one line a person can read, naming every address tried and how it
  ended, such as "connected to 127.0.0.1:80 in 251 ms; tried [::1]:80
  (cancelled after 251 ms), 127.0.0.1:80 (won after 1 ms)": the outcome's
  time counts from the start of the race, each attempt's from its own start
  (here the second attempt started 250 ms in and took 1 ms).

  @param r the report
  @param buf where to write; always NUL-terminated when len > 0
  @param len the size of buf
  @return the length the whole line needs, as snprintf() returns it, or -1
 */
EVHAPPY_EXPORT_ int evhappy_report_format(const struct evhappy_report *r,
    char *buf, size_t len);

/**
  The endpoint the race connected to (see struct evhappy_endpoint and
  evhappy_set_https_records()).  Added in 0.2.0.

  @param r the report
  @return the winner's endpoint, valid during the callback only; never
    NULL for a report (every field empty when no HTTPS record was used,
    or the race failed); NULL for a NULL report
 */
EVHAPPY_EXPORT_ const struct evhappy_endpoint *evhappy_report_get_endpoint(
    const struct evhappy_report *r);

/** How evhappy_report_format_style() draws a report.  Added in 0.2.0. */
enum evhappy_report_style {
	/** evhappy_report_format()'s one line (width is ignored) */
	EVHAPPY_REPORT_LINE = 0,
	/** a waterfall: one row per DNS query and per attempt on one time
	    axis, plain ASCII lines, width columns wide */
	EVHAPPY_REPORT_WATERFALL = 1,
	/** the same, coloured with ANSI escape sequences, for a terminal */
	EVHAPPY_REPORT_WATERFALL_COLOR = 2,
	/** the same rows as one self-contained SVG document (addresses,
	    times and outcomes as text), width pixels wide */
	EVHAPPY_REPORT_SVG = 3
};

/**
  Draw the race of a report, so that a program can log or show it: as
  evhappy_report_format()'s line, or as a waterfall like a browser's
  network panel.  The waterfall's first line is the outcome ("connected to
  192.0.2.1:443 in 254 ms"), then the time axis, then one row per DNS
  query (when it was sent and when its answer came, how many addresses or
  which error, "no answer" when none came before the end; a line "late:"
  under an AAAA answer that came after the attempts had begun) and per
  connection attempt (in the order they started), each with its duration
  and how it ended: WON, the errno's short name ("refused", "timed out",
  ...), "lost" (closed because another won), "cancelled".  A bar starts
  with '|' and ends with '|' (done), 'x' (failed) or '>' (cut off while
  still running).  Where the connection history moved an address, a line
  under its row says after which address and why (an address it moved
  that was never tried gets a row "not tried"); where history set the
  delay before the next attempt, ':' marks when that attempt was allowed
  and a line says how long.  This works with or without a trace callback.
  For example:
  @code
connected to 192.0.2.1:443 in 254 ms
                    0 ms         100 ms        200 ms
                    +------------+-------------+-------
  DNS AAAA          |                                   2.0 ms 1 address
  DNS A             |                                   3.0 ms 1 address
  [2001:db8::1]:443 |=================================> 252 ms lost
  192.0.2.1:443                                       | 2.0 ms WON
  @endcode

  @param r the report
  @param style one of enum evhappy_report_style
  @param width the waterfall's width: columns for the text styles (at
    least 60 and at most 1000; smaller or larger values count as those, 0
    as 80), pixels for EVHAPPY_REPORT_SVG (0: 960; at least 480); the SVG
    grows wider rather than cut its text
  @param buf where to write; always NUL-terminated when len > 0.  The text
    styles end every line with a newline.
  @param len the size of buf
  @return the length the whole text needs, as snprintf() returns it, or -1
    with errno EINVAL (r NULL, buf NULL with len > 0, an unknown style),
    ENOMEM, or EOVERFLOW (more than INT_MAX bytes)
 */
EVHAPPY_EXPORT_ int evhappy_report_format_style(
    const struct evhappy_report *r, enum evhappy_report_style style,
    int width, char *buf, size_t len);

/**@}*/

/** @name Address lists

  Lists made by these functions are freed with evhappy_addrinfo_free().
  Functions that edit a list take a pointer to it and free what they remove.
 */
/**@{*/

/**
  Make a one-entry list (aiohappyeyeballs' addr_to_addr_infos).

  @param sa an AF_INET or AF_INET6 address (sin6_scope_id is kept)
  @param len its length
  @return one SOCK_STREAM/IPPROTO_TCP entry; NULL for a NULL sa, or with
    errno EINVAL (bad family or length) or ENOMEM
 */
EVHAPPY_EXPORT_ struct evutil_addrinfo *evhappy_addrinfo_from_sockaddr(
    const struct sockaddr *sa, ev_socklen_t len);

/**
  Copy a list (addresses, flags, types and canonical name).

  @param list the list; may come from evutil_getaddrinfo() or evdns
  @return the copy; NULL for an empty list, or with errno ENOMEM (or
    EINVAL for an entry whose address does not fit a sockaddr_storage)
 */
EVHAPPY_EXPORT_ struct evutil_addrinfo *evhappy_addrinfo_dup(
    const struct evutil_addrinfo *list);

/**
  Free a list made by these functions.

  @param list the list; NULL is ignored
 */
EVHAPPY_EXPORT_ void evhappy_addrinfo_free(struct evutil_addrinfo *list);

/**
  Interleave address families (RFC 8305 section 4): count entries of the
  first family, then one of the next, and so on; families come in the order
  of their first appearance, and each family keeps its order.  Linear in
  the length of the list.

  @param list the list, reordered in place
  @param first_address_family_count 1 or more
  @return 0, or -1 with errno EINVAL when the count is below 1 or list is
    NULL, or ENOMEM (only for a list of more than 8 families; the list is
    then unchanged)
 */
EVHAPPY_EXPORT_ int evhappy_addrinfo_interleave(struct evutil_addrinfo **list,
    int first_address_family_count);

/**
  Sort destinations by RFC 6724 section 6 with the default policy table
  (rules 1, 2, 5, 6, 8, 9 and 10).  The source address for each destination
  is learned with a UDP connect() and getsockname(), which sends nothing;
  destinations with no route sort last.  Ties keep their order.  Rules 3, 4
  and 7 (deprecated and home source addresses, native transport) need facts
  a socket does not tell, so they are not applied; rule 9 compares IPv6
  prefixes up to 64 bits, as the usual source prefix length.  One lookup
  answers for every destination of its IPv6 /64 (and scope) or IPv4 /24,
  since routes, not hosts, decide the source; a call makes at most 256
  lookups, and destinations of further prefixes take the source last found
  for their family.  O(n log n) in the length of the list.

  @param list the list, reordered in place
  @return 0, or -1 with errno EINVAL (NULL) or ENOMEM
 */
EVHAPPY_EXPORT_ int evhappy_addrinfo_sort(struct evutil_addrinfo **list);

/**
  Drop the first entries of each family (aiohappyeyeballs'
  pop_addr_infos_interleave).

  @param list the list, edited in place
  @param interleave how many of each family to drop; 0 or less means 1
  @return how many entries were removed, or -1 with errno EINVAL (NULL), or
    ENOMEM (only for a list of more than 8 families; the list is then
    unchanged)
 */
EVHAPPY_EXPORT_ int evhappy_addrinfo_pop_interleave(
    struct evutil_addrinfo **list, int interleave);

/**
  Write an address as the report and the trace write it: "192.0.2.1:443",
  "[2001:db8::1]:443", "[fe80::1%eth0]:443" (the zone by name, or by
  number when no interface has it), "?" for another family or NULL.
  Added in 0.2.0.

  @param sa the address (a sockaddr_in or sockaddr_in6), or NULL
  @param buf where to write; always NUL-terminated when len > 0
  @param len the size of buf
  @return the length the whole text needs, as snprintf() returns it; -1
    with errno EINVAL when buf is NULL with len > 0
 */
EVHAPPY_EXPORT_ int evhappy_sockaddr_format(const struct sockaddr *sa,
    char *buf, size_t len);

/**
  Remove every entry equal to sa (aiohappyeyeballs' remove_addr_infos):
  same family, address bytes, port, and for IPv6 scope id, so a written-out
  IPv6 address matches its compressed form.

  @param list the list, edited in place
  @param sa the address
  @param len its length
  @return how many were removed; 0 with errno ENOENT when none; -1 with
    errno EINVAL for bad arguments
 */
EVHAPPY_EXPORT_ int evhappy_addrinfo_remove(struct evutil_addrinfo **list,
    const struct sockaddr *sa, ev_socklen_t len);

/**@}*/

#ifdef __cplusplus
}
#endif

#endif /* EVHAPPY_HE_EVENT_H_INCLUDED_ */
