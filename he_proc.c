/*
 * One pthread_atfork() registration for every module's process-wide locks
 * (he_proc.h).
 */
#include "he_internal.h"
#include "he_proc.h"

#include <pthread.h>
#include <stddef.h>

/* The hooks, newest first; guarded by hooks_lock, which is itself held
 * across fork() (the outermost lock) so that no registration is half done
 * in the child. */
static pthread_mutex_t hooks_lock = PTHREAD_MUTEX_INITIALIZER;
static struct he_fork_hooks *hooks;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static int atfork_error;

static void
run_prepare(void)
{
	struct he_fork_hooks *h;

	pthread_mutex_lock(&hooks_lock);
	for (h = hooks; h; h = h->next_) {
		if (h->prepare)
			h->prepare();
		else if (h->lock)
			pthread_mutex_lock(h->lock);
	}
}

/* Oldest first: the list is newest first, so recurse to its end. */
static void
run_after(struct he_fork_hooks *h, int child)
{
	void (*fn)(void);

	if (!h)
		return;
	run_after(h->next_, child);
	fn = child ? h->child : h->parent;
	if (fn)
		fn();
	if (!h->prepare && h->lock)
		pthread_mutex_unlock(h->lock);
}

static void
run_parent(void)
{
	run_after(hooks, 0);
	pthread_mutex_unlock(&hooks_lock);
}

static void
run_child(void)
{
	run_after(hooks, 1);
	pthread_mutex_unlock(&hooks_lock);
}

static void
register_once(void)
{
	atfork_error = pthread_atfork(run_prepare, run_parent, run_child);
}

int
he_proc_on_fork_(struct he_fork_hooks *h)
{
	/* the usual call: a module calls on every use of its state */
	if (__atomic_load_n(&h->added_, __ATOMIC_ACQUIRE))
		return 0;
	pthread_once(&atfork_once, register_once);
	if (atfork_error)
		return atfork_error;
	pthread_mutex_lock(&hooks_lock);
	if (!h->added_) {
		h->next_ = hooks;
		hooks = h;
		__atomic_store_n(&h->added_, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&hooks_lock);
	return 0;
}
