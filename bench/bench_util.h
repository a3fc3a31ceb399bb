/*
 * What the benchmark programs share: the process's costs (CPU, peak
 * memory, open fds, threads), the fd limit, and a listener that accepts in
 * a child process, so the parent's fds are all the races' own and the
 * accept queue never fills however many races connect at once.
 */
#ifndef EVHAPPY_BENCH_UTIL_H_INCLUDED_
#define EVHAPPY_BENCH_UTIL_H_INCLUDED_

#include <event2/util.h>
#include <sys/types.h>
#include <stdint.h>

/** Monotonic microseconds. */
int64_t bench_now_us(void);
/** User + system CPU of this process so far, microseconds. */
int64_t bench_cpu_us(void);
/** A field of /proc/self/status in KiB ("VmRSS", "VmHWM"), or -1. */
long bench_status_kib(const char *field);
/** Threads of this process (/proc/self/status "Threads"), or -1. */
long bench_threads(void);
/** Open fds of this process, or -1. */
int bench_fds(void);
/** A one-entry list for 127.0.0.1:port (free with evhappy_addrinfo_free). */
struct evutil_addrinfo *bench_loopback_target(int port);
/** Raise RLIMIT_NOFILE's soft limit to the hard limit; returns the limit
    now in force (raising the soft limit needs no privilege; the hard limit
    bounds it). */
long bench_raise_nofile(void);

/** Listeners on addr ("127.0.0.1" or "::1"), n of them on n ports (at most
    BENCH_MAX_PORTS), each with a backlog of net.core.somaxconn, that a
    child process accepts on and closes at once.  Spreading the races over
    ports keeps the kernel's search for a free source port short (with one
    destination it grows with the connections to it) and the accept queues
    from filling.  Fills ports[]; 0, or -1 on failure.
    bench_listener_stop() ends the child. */
#define BENCH_MAX_PORTS 64
int bench_listener_start(const char *addr, int n, int *ports);
void bench_listener_stop(void);

/** How many ports to spread n races over. */
int bench_ports_for(int n);

#endif
