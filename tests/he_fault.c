/*
 * Fault injection by link-time wrapping; see he_fault.h for the rules.
 */
#include "he_fault.h"

#include <errno.h>
#include <execinfo.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

/* One call kind's arming.  n: 0 off, > 0 the call that fails, < 0 count
 * only.  Fields are read by the library's helper threads too: atomics. */
static struct {
	long n;
	int persistent;
	long count;
} slot[HE_FAULT_NCALLS];
static int fired;
static __thread int paused;
/* The heap the binary's own code holds (library, test, lab): always counted,
 * armed or not.  glibc's internal allocations (a new thread's TLS, stdio
 * buffers) are not in it, libevent's neither. */
static long heap_bytes, heap_blocks;

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_SEQ_CST)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_SEQ_CST)

void
he_fault_arm(enum he_fault_call call, long n, int persistent)
{
	if ((unsigned)call >= HE_FAULT_NCALLS)
		return;
	STORE(slot[call].n, 0);
	STORE(slot[call].count, 0);
	STORE(slot[call].persistent, persistent);
	STORE(fired, 0);
	STORE(slot[call].n, n);
}

void
he_fault_disarm_all(void)
{
	int i;

	for (i = 0; i < HE_FAULT_NCALLS; i++)
		STORE(slot[i].n, 0);
}

long
he_fault_count(enum he_fault_call call)
{
	return (unsigned)call < HE_FAULT_NCALLS ? LOAD(slot[call].count) : 0;
}

int
he_fault_fired(void)
{
	return LOAD(fired);
}

void
he_fault_pause(void)
{
	paused++;
}

void
he_fault_resume(void)
{
	paused--;
}

long
he_fault_heap_bytes(void)
{
	return LOAD(heap_bytes);
}

long
he_fault_heap_blocks(void)
{
	return LOAD(heap_blocks);
}

static void *
took(void *p)
{
	if (p) {
		__atomic_add_fetch(&heap_bytes, (long)malloc_usable_size(p),
		    __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&heap_blocks, 1, __ATOMIC_SEQ_CST);
	}
	return p;
}

static void
gave(void *p)
{
	if (p) {
		__atomic_sub_fetch(&heap_bytes, (long)malloc_usable_size(p),
		    __ATOMIC_SEQ_CST);
		__atomic_sub_fetch(&heap_blocks, 1, __ATOMIC_SEQ_CST);
	}
}

int
he_fault_errno(enum he_fault_call call)
{
	switch (call) {
	case HE_FAULT_SOCKET:
	case HE_FAULT_PIPE:
		return EMFILE;
	case HE_FAULT_CONNECT:
		return ENETUNREACH;
	case HE_FAULT_BIND:
		return EADDRINUSE;
	case HE_FAULT_THREAD:
		return EAGAIN;
	default:
		return ENOMEM;
	}
}

const char *
he_fault_name(enum he_fault_call call)
{
	static const char *const names[HE_FAULT_NCALLS] = {
		"ALLOC", "SOCKET", "CONNECT", "BIND", "PIPE", "THREAD",
		"EVDNS", "EVENT"
	};
	return (unsigned)call < HE_FAULT_NCALLS ? names[call] : "?";
}

/* HE_FAULT_BACKTRACE=1: show where each failed call was made (to find
 * which allocation the Nth is); the unwinder's own calls pass through. */
static void
show_where(enum he_fault_call call, long c)
{
	static int want = -1;
	void *frames[16];
	int n;

	if (want < 0) {
		const char *e = getenv("HE_FAULT_BACKTRACE");
		want = e && *e && *e != '0';
	}
	if (!want)
		return;
	paused++;
	n = backtrace(frames, 16);
	dprintf(2, "he_fault: failing %s call %ld:\n", he_fault_name(call), c);
	backtrace_symbols_fd(frames + 2, n > 2 ? n - 2 : 0, 2);
	paused--;
}

/* Count this call; 1 when it must fail (errno is then set). */
static int
should_fail(enum he_fault_call call)
{
	long n = LOAD(slot[call].n), c;

	if (n == 0 || paused)
		return 0;
	c = __atomic_add_fetch(&slot[call].count, 1, __ATOMIC_SEQ_CST);
	if (n < 0 || c < n || (c > n && !LOAD(slot[call].persistent)))
		return 0;
	STORE(fired, 1);
	show_where(call, c);
	errno = he_fault_errno(call);
	return 1;
}

/* ---- the wrappers ------------------------------------------------------- */

/* The functions wrapped at link time (FAULT_WRAP in Makefile.am), each
   named once: its __real_ (the linker's original) and its __wrap_ are
   declared from this one list, so the two can never disagree.  Every
   wrapper is declared before its definition (-Wmissing-prototypes). */
#define HE_FAULT_WRAPPED(X)						\
	X(void *, malloc, (size_t size))				\
	X(void *, calloc, (size_t n, size_t size))			\
	X(void *, realloc, (void *p, size_t size))			\
	X(void, free, (void *p))					\
	X(char *, strdup, (const char *s))				\
	X(int, socket, (int domain, int type, int protocol))		\
	X(int, connect, (int fd, const struct sockaddr *sa, socklen_t len)) \
	X(int, bind, (int fd, const struct sockaddr *sa, socklen_t len)) \
	X(int, pipe, (int fds[2]))					\
	X(int, pipe2, (int fds[2], int flags))				\
	X(int, eventfd, (unsigned int initval, int flags))		\
	X(int, pthread_create, (pthread_t *t, const pthread_attr_t *attr, \
	    void *(*fn)(void *), void *arg))				\
	X(struct evdns_getaddrinfo_request *, evdns_getaddrinfo,	\
	    (struct evdns_base *dns, const char *node, const char *service, \
	    const struct evutil_addrinfo *hints, evdns_getaddrinfo_cb cb, \
	    void *arg))							\
	X(struct event *, event_new, (struct event_base *base,		\
	    evutil_socket_t fd, short what, event_callback_fn cb, void *arg)) \
	X(int, event_add, (struct event *ev, const struct timeval *tv))

#define HE_FAULT_DECLARE(type, name, params)				\
	type __real_##name params;					\
	type __wrap_##name params;
HE_FAULT_WRAPPED(HE_FAULT_DECLARE)
#undef HE_FAULT_DECLARE

void *
__wrap_malloc(size_t size)
{
	return should_fail(HE_FAULT_ALLOC) ? NULL : took(__real_malloc(size));
}

void *
__wrap_calloc(size_t n, size_t size)
{
	return should_fail(HE_FAULT_ALLOC) ? NULL :
	    took(__real_calloc(n, size));
}

void *
__wrap_realloc(void *p, size_t size)
{
	long old = p ? (long)malloc_usable_size(p) : 0;
	void *q;

	if (should_fail(HE_FAULT_ALLOC))
		return NULL;
	q = __real_realloc(p, size);
	if (!q && size)
		return NULL;		/* p is still there */
	if (p) {
		__atomic_sub_fetch(&heap_bytes, old, __ATOMIC_SEQ_CST);
		__atomic_sub_fetch(&heap_blocks, 1, __ATOMIC_SEQ_CST);
	}
	return took(q);
}

void
__wrap_free(void *p)
{
	gave(p);
	__real_free(p);
}

char *
__wrap_strdup(const char *s)
{
	return should_fail(HE_FAULT_ALLOC) ? NULL : took(__real_strdup(s));
}

int
__wrap_socket(int domain, int type, int protocol)
{
	return should_fail(HE_FAULT_SOCKET) ? -1 :
	    __real_socket(domain, type, protocol);
}

int
__wrap_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	return should_fail(HE_FAULT_CONNECT) ? -1 : __real_connect(fd, sa, len);
}

int
__wrap_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	return should_fail(HE_FAULT_BIND) ? -1 : __real_bind(fd, sa, len);
}

int
__wrap_pipe(int fds[2])
{
	return should_fail(HE_FAULT_PIPE) ? -1 : __real_pipe(fds);
}

int
__wrap_pipe2(int fds[2], int flags)
{
	return should_fail(HE_FAULT_PIPE) ? -1 : __real_pipe2(fds, flags);
}

int
__wrap_eventfd(unsigned int initval, int flags)
{
	return should_fail(HE_FAULT_PIPE) ? -1 :
	    __real_eventfd(initval, flags);
}

int
__wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr,
    void *(*fn)(void *), void *arg)
{
	if (should_fail(HE_FAULT_THREAD))
		return EAGAIN;
	return __real_pthread_create(t, attr, fn, arg);
}

struct evdns_getaddrinfo_request *
__wrap_evdns_getaddrinfo(struct evdns_base *dns, const char *node,
    const char *service, const struct evutil_addrinfo *hints,
    evdns_getaddrinfo_cb cb, void *arg)
{
	if (should_fail(HE_FAULT_EVDNS)) {
		cb(EVUTIL_EAI_MEMORY, NULL, arg);
		return NULL;
	}
	return __real_evdns_getaddrinfo(dns, node, service, hints, cb, arg);
}

struct event *
__wrap_event_new(struct event_base *base, evutil_socket_t fd, short what,
    event_callback_fn cb, void *arg)
{
	return should_fail(HE_FAULT_EVENT) ? NULL :
	    __real_event_new(base, fd, what, cb, arg);
}

int
__wrap_event_add(struct event *ev, const struct timeval *tv)
{
	return should_fail(HE_FAULT_EVENT) ? -1 : __real_event_add(ev, tv);
}

long
he_fault_heap_in_use(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
	return (long)mallinfo2().uordblks;
#else
	return 0;
#endif
}

#if defined(__SANITIZE_ADDRESS__)
#define HE_FAULT_ASAN_ 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HE_FAULT_ASAN_ 1
#endif
#endif

void
he_fault_heap_exact(char **argv)
{
#ifndef HE_FAULT_ASAN_
	const char *t = getenv("GLIBC_TUNABLES");
	char buf[512];

	if (getenv("LD_PRELOAD") && strstr(getenv("LD_PRELOAD"), "vgpreload"))
		return;		/* valgrind */
	if (t && strstr(t, "glibc.malloc.tcache_count=0"))
		return;
	snprintf(buf, sizeof(buf), "%s%sglibc.malloc.tcache_count=0",
	    t ? t : "", t && *t ? ":" : "");
	setenv("GLIBC_TUNABLES", buf, 1);
	execv("/proc/self/exe", argv);
	/* No re-exec: heap counts may be noisy; go on. */
#else
	(void)argv;
#endif
}
