/*
 * Fault injection for the tests: fail the Nth allocation, socket, connect,
 * bind, pipe, thread creation, evdns query or event call the library makes.
 *
 * How: the fault test programs are linked with -Wl,--wrap=SYMBOL for every
 * call below (Makefile.am, FAULT_WRAP).  The library's objects are linked
 * into those programs statically (libevhappy_objs.la), so their calls go
 * through __wrap_SYMBOL in he_fault.c; libevent and libc are shared
 * libraries, so their own internal calls are never wrapped.  The installed
 * libevhappy.so is not touched: nothing here is exported from it.
 *
 * Whose calls are counted.  The wrapping is per binary, so the test's own
 * code, the lab (tools/he_lab.c) and Check (libcheck_pic.a) are wrapped too.
 * Telling callers apart by return address is fragile (everything is in one
 * executable, inlining moves code), so the rule is instead: a call is
 * counted, and may fail, only while armed, and the tests keep every call
 * of their own out of armed windows:
 *  - arm just before the call that starts the race and disarm after the
 *    loop has run it to the end; set up (listeners, bases, bufferevents)
 *    before arming, tear down after disarming;
 *  - inside an armed window only the library and libevent run, plus the
 *    test's callbacks, which only record what they saw (no allocation);
 *    code that must do more wraps it in he_fault_pause()/he_fault_resume();
 *  - the lab's fake DNS server, which works on every query, runs in a
 *    forked child process (he_fault_dns_server_start() in check_fault.c),
 *    so none of its calls can land in an armed window;
 *  - calls made by the library's helper threads while armed are counted
 *    (they are the library's); counters are atomic.
 *
 * What a failed call does (realistic, so the library's error paths are
 * the ones real failures take):
 *   malloc, calloc, realloc, strdup   NULL, errno ENOMEM (realloc keeps the block)
 *   socket                            -1, errno EMFILE
 *   connect                           -1, errno ENETUNREACH
 *   bind                              -1, errno EADDRINUSE
 *   pipe, pipe2, eventfd              -1, errno EMFILE
 *   pthread_create                    EAGAIN (returned, as pthreads does)
 *   evdns_getaddrinfo                 calls the callback at once with
 *                                     EVUTIL_EAI_MEMORY and returns NULL:
 *                                     what libevent 2.1.12 does when its own
 *                                     allocation fails
 *   event_new                         NULL, errno ENOMEM
 *   event_add                         -1, errno ENOMEM (as a failed
 *                                     epoll_ctl or allocation inside libevent)
 */
#ifndef EVHAPPY_HE_FAULT_H_INCLUDED_
#define EVHAPPY_HE_FAULT_H_INCLUDED_

enum he_fault_call {
	HE_FAULT_ALLOC,		/* malloc calloc realloc strdup */
	HE_FAULT_SOCKET,
	HE_FAULT_CONNECT,
	HE_FAULT_BIND,
	HE_FAULT_PIPE,		/* pipe pipe2 eventfd */
	HE_FAULT_THREAD,	/* pthread_create */
	HE_FAULT_EVDNS,		/* evdns_getaddrinfo */
	HE_FAULT_EVENT,		/* event_new event_add */
	HE_FAULT_NCALLS
};

/** Count calls of `call` from now; the nth (1-based) fails, and with
    persistent != 0 every later one too.  n == 0 disarms that call.
    n < 0 counts without ever failing (a clean run that measures). */
void he_fault_arm(enum he_fault_call call, long n, int persistent);
/** Stop counting and failing every call. */
void he_fault_disarm_all(void);
/** Calls of `call` counted since it was armed. */
long he_fault_count(enum he_fault_call call);
/** Whether a call was failed since the last arming. */
int he_fault_fired(void);

/** Suspend counting and failing on this thread (nests), e.g. around a
    test's own allocation inside an armed window. */
void he_fault_pause(void);
void he_fault_resume(void);

/** Heap held by the binary's own code (the library, the test, the lab:
    whatever called the wrapped malloc, calloc, realloc, strdup and free;
    not libevent's or glibc's own allocations), in bytes
    (malloc_usable_size) and blocks; counted all the time, armed or not. */
long he_fault_heap_bytes(void);
long he_fault_heap_blocks(void);

/** The errno (for pthread_create: the return value) a failed call gives. */
int he_fault_errno(enum he_fault_call call);
/** "ALLOC", "SOCKET", ... */
const char *he_fault_name(enum he_fault_call call);

/** All of the heap in use (mallinfo2's uordblks), libevent's and glibc's
    too; 0 where mallinfo2 does not exist. */
long he_fault_heap_in_use(void);
/** Make he_fault_heap_in_use() exact: mallinfo2() counts blocks in glibc's
    per-thread caches as in use, so the program re-executes itself once
    with the caches off (the tunable is read at start).  Not under valgrind
    (an exec would leave it) nor AddressSanitizer (its own allocator;
    LeakSanitizer checks there); call first thing in main(). */
void he_fault_heap_exact(char **argv);

#endif
