/*
 * Process-wide state and fork().
 *
 * Several modules keep state that belongs to the process, not to a
 * context: the history store, the table of racing bufferevents, the system
 * resolver's pool.  Each guards it with a mutex that threads share.  A
 * fork() while another thread holds one of them would leave the child with
 * a lock nobody releases, so every such lock is held across fork() and
 * released on both sides, and the child then repairs what is not its own
 * (the pool's workers are not in it).  One pthread_atfork() registration
 * serves them all: a module hands its hooks over once, and this module
 * runs them, prepare in the reverse order of registration (so locks are
 * taken in one order: the later registered, the outer), parent and child
 * in the order of registration.
 */
#ifndef EVHAPPY_HE_PROC_H_INCLUDED_
#define EVHAPPY_HE_PROC_H_INCLUDED_

#include <pthread.h>

/** One module's fork hooks.  Statically allocated by the module; any hook
    may be NULL.  A module whose only need is one lock held across fork()
    names it in `lock` and leaves prepare and parent NULL: it is taken
    before and released after, on both sides (after child, if any). */
struct he_fork_hooks {
	void (*prepare)(void);	/* before fork(): take the module's locks */
	void (*parent)(void);	/* after, in the parent: release them */
	void (*child)(void);	/* after, in the child: release and repair */
	pthread_mutex_t *lock;
	struct he_fork_hooks *next_;	/* this module's */
	int added_;
};

/** Run h around every later fork().  Idempotent, and once h is in, a
    read of one flag: a module calls it on every use of its state (before
    it takes its lock), with no once-guard of its own.  0, or the errno of
    pthread_atfork() (then h never runs).  A module that ignores the
    result still works, but a fork() while another thread holds its lock
    could deadlock the child's first use of it. */
int he_proc_on_fork_(struct he_fork_hooks *h);

#endif
