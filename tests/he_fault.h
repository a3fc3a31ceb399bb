/*
 * Fault injection for the tests: fail the nth call of a kind.
 *
 * The calls are redirected at link time (-Wl,--wrap=SYMBOL on the test
 * program, see Makefile.am), so the library's own objects, linked
 * statically into the tests, reach the wrappers; nothing is exported from
 * libevhappy.so.  This minimal version wraps allocations only
 * (HE_FAULT_ALLOC: malloc, calloc, realloc, strdup); the other kinds are
 * counted by the full version.
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
    persistent != 0 every later one too.  n == 0 disarms that call. */
void he_fault_arm(enum he_fault_call call, long n, int persistent);
/** Disarm every call. */
void he_fault_disarm_all(void);
/** Calls of `call` counted since it was last armed. */
long he_fault_count(enum he_fault_call call);
/** Whether a call was failed since the last arming. */
int he_fault_fired(void);

#endif
