/*
 * Resolution as RFC 8305 section 3 asks: one query per family, each answer
 * handed to the race as soon as it arrives.  With an evdns_base: two
 * single-family evdns_getaddrinfo() calls (AF_UNSPEC would put IPv4 first
 * and wait for the slower family).  Without one: getaddrinfo() per family,
 * so /etc/hosts and nsswitch apply, on a small pool of worker threads that
 * the whole process shares, so the loop never blocks.
 *
 * The pool: at most HE_POOL_THREADS workers, started when lookups are
 * queued and none is idle, ending after HE_POOL_IDLE_S seconds without
 * work; lookups beyond that wait in a FIFO queue (bounded only by memory).
 * A finished lookup goes to its event_base's mailbox: a list of finished
 * jobs and one wake-up fd (an eventfd, or a pipe where there is none), made
 * on the first system lookup of a context on that base and shared by every
 * context on it (the drop-in makes a private context per call), that the
 * loop reads.  No libevent threading support is needed.
 *
 * Lifetimes: one lock (pool.lock) guards the queue, every job's state and
 * every mailbox's list and reference count.  A mailbox is referenced by each
 * context using it, by every job that is queued, running or finished for
 * it, and by the loop while it drains it; its fd is closed by whoever drops
 * the last reference, which is never before the last context using it freed
 * the event on that fd, so no fd is closed under epoll_ctl and no worker
 * writes to a closed or reused fd.  A cancelled job holds no fd of its own:
 * queued, it is dropped at once; running, its worker throws the result
 * away.
 *
 * fork(): the child has no workers.  Lookups that were queued or running
 * in the parent fail in the child with EVUTIL_EAI_AGAIN on its next loop
 * turn (the parent's own lookups go on undisturbed); every mailbox gets a
 * new wake-up fd in the child, so the child's loop never steals the
 * parent's wake-ups from the fd they shared; new lookups start new workers.
 */
#include "he_internal.h"
#include "he_resolve.h"
#include "he_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_SYS_EVENTFD_H
#include <sys/eventfd.h>
#endif

/** Worker threads of the process-wide pool: enough to overlap a few slow
    lookups, few enough that 10,000 races cost no more threads. */
#define HE_POOL_THREADS 4
/** An idle worker ends after this many seconds. */
#define HE_POOL_IDLE_S 10

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE };

/* One family's getaddrinfo() on the pool.  Every field but q is under
 * pool.lock (or private to the worker running it); q is the loop's. */
struct he_gai_job {
	struct he_gai_job *prev, *next;	/* in the queue, the running list or
					   the mailbox's done list */
	struct he_mailbox *box;		/* holds a reference */
	struct he_query *q;		/* NULL once cancelled */
	he_gai_fn fn;			/* the lookup: getaddrinfo or the hook */
	enum job_state state;
	int cancelled;
	int family;
	struct evutil_addrinfo *res;
	int error;
	char host[1];			/* allocated to fit */
};

/* An event_base's finished lookups, and the fd that wakes its loop; the
 * contexts on that base share it. */
struct he_mailbox {
	struct he_mailbox *prev, *next;	/* every mailbox, for fork() */
	int refs;
	int closed;			/* its last context is gone */
	struct event_base *base;
	int contexts;			/* using it (the loop's only) */
	int rfd, wfd;			/* the same fd for an eventfd */
	int signalled;			/* a wake-up is waiting in rfd */
	struct he_gai_job *done, *done_tail;
	struct event *ev;		/* the loop's only */
};

/* A worker thread's slot in the pool. */
struct he_worker {
	pthread_t tid;
	int used;			/* a thread has this slot */
	int busy;			/* it is looking a name up */
	int joined;			/* the exit-time shutdown will join it */
};

struct he_query {
	he_answer_fn cb;		/* NULL once cancelled */
	void *arg;
	int af;				/* the family asked for */
	struct evdns_getaddrinfo_request *dns;
	struct he_gai_job *job;
	int starting;			/* inside he_query_start_ */
	int answered;			/* (evdns) cb ran inside it */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t work;		/* a job was queued */
	struct he_gai_job *head, *tail;	/* queued, oldest first */
	struct he_gai_job *running;
	struct he_mailbox *boxes;
	int nqueued, nthreads, nidle;
	he_gai_fn hook;
	struct he_worker workers[HE_POOL_THREADS];
	int stopping;			/* the process is exiting */
} pool = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL,
	   NULL, NULL, 0, 0, 0, NULL, { { 0, 0, 0, 0 } }, 0 };

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static int atfork_error;
static void fork_prepare(void);
static void fork_parent(void);
static void fork_child(void);
static struct he_fork_hooks fork_hooks = {
	fork_prepare, fork_parent, fork_child, NULL, 0
};

void
he_resolve_set_gai_hook_(he_gai_fn fn)
{
	pthread_mutex_lock(&pool.lock);
	pool.hook = fn;
	pthread_mutex_unlock(&pool.lock);
}

void
he_resolve_pool_stats_(struct he_pool_stats *st)
{
	pthread_mutex_lock(&pool.lock);
	st->threads = pool.nthreads;
	st->idle = pool.nidle;
	st->queued = pool.nqueued;
	pthread_mutex_unlock(&pool.lock);
}

static void
stream_hints(struct evutil_addrinfo *hints, int af)
{
	memset(hints, 0, sizeof(*hints));
	hints->ai_family = af;
	hints->ai_socktype = SOCK_STREAM;
	hints->ai_protocol = IPPROTO_TCP;
}

/* Hand an answer on, unless the query was cancelled. */
static void
query_answer(struct he_query *q, const struct evutil_addrinfo *res,
    int error)
{
	he_answer_fn cb = q->cb;

	if (!cb)
		return;
	q->cb = NULL;
	cb(q->arg, q->af, res, error);
}

/* ---- evdns -------------------------------------------------------------- */

static void
evdns_answer_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	struct he_query *q = arg;

	q->dns = NULL;
	if (result != EVUTIL_EAI_CANCEL)
		query_answer(q, res, result);
	if (res)
		evutil_freeaddrinfo(res);
	/* Inside he_query_start_ (evdns' hosts table): it frees q. */
	if (q->starting)
		q->answered = 1;
	else
		free(q);
}

static int
evdns_query(struct he_resolver *r, struct he_query *q, const char *host,
    int af)
{
	struct evutil_addrinfo hints;
	struct evdns_getaddrinfo_request *h;

	stream_hints(&hints, af);
	q->starting = 1;
	/* evdns calls back on every failure, so it never fails to start. */
	h = evdns_getaddrinfo(r->dns, host, NULL, &hints, evdns_answer_cb, q);
	q->starting = 0;
	if (!q->answered)
		q->dns = h;
	return 0;
}

/* ---- the wake-up fd ----------------------------------------------------- */

/* A non-blocking, close-on-exec fd pair: rfd readable once wfd was
 * written; 0, or an errno. */
static int
wake_open(int *rfd, int *wfd)
{
	int fds[2];

#ifdef HAVE_SYS_EVENTFD_H
	fds[0] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fds[0] < 0)
		return errno;
	*rfd = *wfd = fds[0];
#elif defined(HAVE_PIPE2)
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
		return errno;
	*rfd = fds[0];
	*wfd = fds[1];
#else
	if (pipe(fds) < 0)
		return errno;
	if (evutil_make_socket_closeonexec(fds[0]) < 0 ||
	    evutil_make_socket_closeonexec(fds[1]) < 0 ||
	    evutil_make_socket_nonblocking(fds[0]) < 0 ||
	    evutil_make_socket_nonblocking(fds[1]) < 0) {
		int e = errno;
		close(fds[0]);
		close(fds[1]);
		return e;
	}
	*rfd = fds[0];
	*wfd = fds[1];
#endif
	return 0;
}

static void
wake_close(int rfd, int wfd)
{
	close(rfd);
	if (wfd != rfd)
		close(wfd);
}

/* Full (EAGAIN) means a wake-up is waiting already. */
static void
wake_write(int wfd)
{
#ifdef HAVE_SYS_EVENTFD_H
	uint64_t one = 1;
#else
	char one = 1;
#endif

	while (write(wfd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

static void
wake_drain(int rfd)
{
	char buf[64];
	ssize_t n;

	do
		n = read(rfd, buf, sizeof(buf));
	while (n > 0 || (n < 0 && errno == EINTR));
}

/* ---- mailboxes and jobs, under pool.lock -------------------------------- */

static void
box_unref_locked(struct he_mailbox *box)
{
	if (--box->refs > 0)
		return;
	if (box->prev)
		box->prev->next = box->next;
	else
		pool.boxes = box->next;
	if (box->next)
		box->next->prev = box->prev;
	wake_close(box->rfd, box->wfd);
	free(box);
}

static void
job_free_locked(struct he_gai_job *job)
{
	if (job->res)
		freeaddrinfo(job->res);
	box_unref_locked(job->box);
	free(job);
}

static void
list_unlink(struct he_gai_job **head, struct he_gai_job **tail,
    struct he_gai_job *job)
{
	if (job->prev)
		job->prev->next = job->next;
	else
		*head = job->next;
	if (job->next)
		job->next->prev = job->prev;
	else if (tail)
		*tail = job->prev;
	job->prev = job->next = NULL;
}

static void
list_push(struct he_gai_job **head, struct he_gai_job **tail,
    struct he_gai_job *job)
{
	job->next = NULL;
	job->prev = *tail;
	if (*tail)
		(*tail)->next = job;
	else
		*head = job;
	*tail = job;
}

/* A job's lookup is over (it was unlinked from the queue or the running
 * list): to its mailbox, or away if nobody wants it any more. */
static void
job_complete_locked(struct he_gai_job *job, struct evutil_addrinfo *res,
    int error)
{
	struct he_mailbox *box = job->box;

	job->res = res;
	job->error = error;
	if (job->cancelled || box->closed) {
		job_free_locked(job);
		return;
	}
	job->state = JOB_DONE;
	list_push(&box->done, &box->done_tail, job);
	if (!box->signalled) {
		box->signalled = 1;
		wake_write(box->wfd);
	}
}

/* ---- the workers -------------------------------------------------------- */

/* The worker leaves the pool; unless the exit-time shutdown joins it, it
 * detaches itself so that nothing of it is left behind. */
static void
worker_leave_locked(struct he_worker *w)
{
	pool.nthreads--;
	if (!w->joined) {
		w->used = 0;
		pthread_detach(pthread_self());
	}
}

/* The next queued job, or NULL when the worker has been idle long enough
 * or the process exits (then it has left the pool). */
static struct he_gai_job *
worker_next_locked(struct he_worker *w)
{
	struct he_gai_job *job;
	struct timespec until;

	while (!pool.head || pool.stopping) {
		int rc;

		if (pool.stopping)
			goto leave;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += HE_POOL_IDLE_S;
		pool.nidle++;
		rc = pthread_cond_timedwait(&pool.work, &pool.lock, &until);
		pool.nidle--;
		if (rc == ETIMEDOUT && !pool.head)
			goto leave;
	}
	w->busy = 1;
	job = pool.head;
	list_unlink(&pool.head, &pool.tail, job);
	pool.nqueued--;
	job->state = JOB_RUNNING;
	job->next = pool.running;
	if (pool.running)
		pool.running->prev = job;
	pool.running = job;
	return job;
leave:
	worker_leave_locked(w);
	return NULL;
}

static int
job_lookup(struct he_gai_job *job, struct evutil_addrinfo **res)
{
	struct evutil_addrinfo hints;
	int error;

	stream_hints(&hints, job->family);
	if (job->fn)
		error = job->fn(job->host, NULL, &hints, res);
	else
		error = getaddrinfo(job->host, NULL,
		    (const struct addrinfo *)&hints, (struct addrinfo **)res);
	return error == EAI_SYSTEM ? EVUTIL_EAI_FAIL : error;
}

static void *
worker_main(void *arg)
{
	struct he_worker *w = arg;
	struct he_gai_job *job;

#ifdef HAVE_PTHREAD_SETNAME_NP
	/* So that ps -L and debuggers tell the pool's threads apart. */
	pthread_setname_np(pthread_self(), "evhappy-gai");
#endif
	pthread_mutex_lock(&pool.lock);
	while ((job = worker_next_locked(w)) != NULL) {
		struct evutil_addrinfo *res = NULL;
		int error;

		pthread_mutex_unlock(&pool.lock);
		error = job_lookup(job, &res);
		pthread_mutex_lock(&pool.lock);
		list_unlink(&pool.running, NULL, job);
		job_complete_locked(job, res, error);
		w->busy = 0;
	}
	pthread_mutex_unlock(&pool.lock);
	return NULL;
}

/* A worker takes no signals: they belong to the program's own threads.
 * It is joinable until it leaves (see worker_leave_locked). */
static int
worker_spawn_locked(void)
{
	struct he_worker *w = NULL;
	sigset_t all, old;
	int i, rc;

	for (i = 0; i < HE_POOL_THREADS && !w; i++)
		if (!pool.workers[i].used)
			w = &pool.workers[i];
	if (!w)
		return EAGAIN;	/* slots still held by exiting threads */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&w->tid, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return rc;
	w->used = 1;
	w->busy = w->joined = 0;
	pool.nthreads++;
	return 0;
}

/* At exit (or when the library is unloaded), idle workers are stopped and
 * joined, as libuv does with its pool: nothing of theirs is left for leak
 * checkers, and no thread runs the library's code after it is gone.  A
 * worker inside a lookup is not waited for; it leaves when it is done. */
#if defined(__GNUC__)
static void pool_shutdown(void) __attribute__((destructor));
#endif
static void
pool_shutdown(void)
{
	pthread_t join[HE_POOL_THREADS];
	int i, n = 0;

	pthread_mutex_lock(&pool.lock);
	pool.stopping = 1;
	for (i = 0; i < HE_POOL_THREADS; i++) {
		struct he_worker *w = &pool.workers[i];
		if (w->used && !w->busy) {
			w->joined = 1;
			join[n++] = w->tid;
		}
	}
	pthread_cond_broadcast(&pool.work);
	pthread_mutex_unlock(&pool.lock);
	for (i = 0; i < n; i++)
		pthread_join(join[i], NULL);
}

/* ---- fork() ------------------------------------------------------------- */

static void
fork_prepare(void)
{
	pthread_mutex_lock(&pool.lock);
}

static void
fork_parent(void)
{
	pthread_mutex_unlock(&pool.lock);
}

/* The child's own wake-up fd at the same number: the loop's event (after
 * event_reinit) then watches it, and the parent's fd is not read here. */
static void
box_renew_fd_child(struct he_mailbox *box)
{
	int rfd = -1, wfd = -1;

	if (wake_open(&rfd, &wfd) != 0)
		return;		/* keep the shared one: answers still come */
	dup2(rfd, box->rfd);
	if (wfd != rfd)
		dup2(wfd, box->wfd);
	wake_close(rfd, wfd);
	box->signalled = 0;
}

static void
fork_child(void)
{
	struct he_gai_job *job;
	struct he_mailbox *box;

	/* The parent's workers and their waits are not in this process. */
	pthread_cond_init(&pool.work, NULL);
	pool.nthreads = pool.nidle = 0;
	memset(pool.workers, 0, sizeof(pool.workers));
	for (box = pool.boxes; box; box = box->next)
		box_renew_fd_child(box);
	while ((job = pool.running) != NULL) {
		list_unlink(&pool.running, NULL, job);
		job_complete_locked(job, NULL, EVUTIL_EAI_AGAIN);
	}
	while ((job = pool.head) != NULL) {
		list_unlink(&pool.head, &pool.tail, job);
		pool.nqueued--;
		job_complete_locked(job, NULL, EVUTIL_EAI_AGAIN);
	}
	/* Answers that had reached a mailbox before the fork are the child's
	 * too; its new fd must say so. */
	for (box = pool.boxes; box; box = box->next)
		if (box->done && !box->signalled) {
			box->signalled = 1;
			wake_write(box->wfd);
		}
	pthread_mutex_unlock(&pool.lock);
}

static void
atfork_register(void)
{
	atfork_error = he_proc_on_fork_(&fork_hooks);
}

/* ---- the loop's side ---------------------------------------------------- */

static void
mailbox_cb(evutil_socket_t fd, short what, void *arg)
{
	struct he_mailbox *box = arg;
	struct he_gai_job *list, *job;

	/* Read first, then take the list: a job finished in between finds
	 * signalled still set and is taken now. */
	wake_drain(box->rfd);
	pthread_mutex_lock(&pool.lock);
	list = box->done;
	box->done = box->done_tail = NULL;
	box->signalled = 0;
	box->refs++;		/* the context may be freed by a callback */
	pthread_mutex_unlock(&pool.lock);
	while ((job = list) != NULL) {
		struct he_query *q = job->q;

		list = job->next;
		if (q) {
			job->q = NULL;
			q->job = NULL;
			query_answer(q, job->res, job->error);
			free(q);
		}
		pthread_mutex_lock(&pool.lock);
		job_free_locked(job);
		pthread_mutex_unlock(&pool.lock);
	}
	pthread_mutex_lock(&pool.lock);
	box_unref_locked(box);
	pthread_mutex_unlock(&pool.lock);
}

/* Another context's open mailbox on this base, now shared with r. */
static struct he_mailbox *
mailbox_share(struct he_resolver *r)
{
	struct he_mailbox *box;

	pthread_mutex_lock(&pool.lock);
	for (box = pool.boxes; box; box = box->next)
		if (box->base == r->base && !box->closed) {
			box->refs++;
			box->contexts++;
			break;
		}
	pthread_mutex_unlock(&pool.lock);
	return box;
}

/* The mailbox of the context's event_base, made on the base's first system
 * lookup (so drop-in calls, each with a private context, share one fd);
 * NULL with *err. */
static struct he_mailbox *
mailbox_get(struct he_resolver *r, int *err)
{
	struct he_mailbox *box = r->mailbox;

	if (box)
		return box;
	if ((box = mailbox_share(r)) != NULL) {
		r->mailbox = box;
		return box;
	}
	pthread_once(&atfork_once, atfork_register);
	if ((*err = atfork_error) != 0)
		return NULL;
	if (!(box = calloc(1, sizeof(*box)))) {
		*err = ENOMEM;
		return NULL;
	}
	if ((*err = wake_open(&box->rfd, &box->wfd)) != 0) {
		free(box);
		return NULL;
	}
	box->ev = event_new(r->base, box->rfd, EV_READ | EV_PERSIST,
	    mailbox_cb, box);
	if (!box->ev || event_add(box->ev, NULL) < 0) {
		if (box->ev)
			event_free(box->ev);
		wake_close(box->rfd, box->wfd);
		free(box);
		*err = ENOMEM;
		return NULL;
	}
	box->refs = 1;
	box->contexts = 1;
	box->base = r->base;
	pthread_mutex_lock(&pool.lock);
	box->next = pool.boxes;
	if (pool.boxes)
		pool.boxes->prev = box;
	pool.boxes = box;
	pthread_mutex_unlock(&pool.lock);
	r->mailbox = box;
	return box;
}

void
he_resolver_release_(struct he_resolver *r)
{
	struct he_mailbox *box = r->mailbox;
	struct he_gai_job *job;

	if (!box)
		return;
	r->mailbox = NULL;
	if (--box->contexts > 0) {
		/* Its cancelled jobs are dropped by the others' drains. */
		pthread_mutex_lock(&pool.lock);
		box_unref_locked(box);
		pthread_mutex_unlock(&pool.lock);
		return;
	}
	/* The event goes before the fd can close (last reference below or a
	 * worker's later one). */
	event_free(box->ev);
	box->ev = NULL;
	pthread_mutex_lock(&pool.lock);
	box->closed = 1;
	while ((job = box->done) != NULL) {
		list_unlink(&box->done, &box->done_tail, job);
		job_free_locked(job);
	}
	box_unref_locked(box);
	pthread_mutex_unlock(&pool.lock);
}

/* Queue a job; a worker is started when none is idle for it.  0, or the
 * errno of pthread_create when there is no worker at all. */
static int
pool_submit(struct he_gai_job *job)
{
	int rc = 0;

	pthread_mutex_lock(&pool.lock);
	if (pool.stopping) {	/* exiting: no worker would ever take it */
		pthread_mutex_unlock(&pool.lock);
		return EAGAIN;
	}
	job->fn = pool.hook;
	job->state = JOB_QUEUED;
	list_push(&pool.head, &pool.tail, job);
	pool.nqueued++;
	if (pool.nqueued > pool.nidle && pool.nthreads < HE_POOL_THREADS) {
		rc = worker_spawn_locked();
		if (rc != 0 && pool.nthreads > 0)
			rc = 0;		/* a running worker will take it */
	}
	if (rc == 0) {
		job->box->refs++;
		pthread_cond_signal(&pool.work);
	} else {
		list_unlink(&pool.head, &pool.tail, job);
		pool.nqueued--;
	}
	pthread_mutex_unlock(&pool.lock);
	return rc;
}

static void
job_cancel(struct he_gai_job *job)
{
	pthread_mutex_lock(&pool.lock);
	job->q = NULL;
	job->cancelled = 1;
	if (job->state == JOB_QUEUED) {
		list_unlink(&pool.head, &pool.tail, job);
		pool.nqueued--;
		job_free_locked(job);
	}
	/* running: its worker drops it; done: the mailbox's drain does. */
	pthread_mutex_unlock(&pool.lock);
}

/* 0 when the lookup is queued, else an errno. */
static int
thread_query(struct he_resolver *r, struct he_query *q, const char *host,
    int af)
{
	struct he_mailbox *box;
	struct he_gai_job *job;
	size_t n = strlen(host);
	int err;

	if (!(box = mailbox_get(r, &err)))
		return err;
	if (!(job = calloc(1, sizeof(*job) + n)))
		return ENOMEM;
	memcpy(job->host, host, n + 1);
	job->family = af;
	job->box = box;
	job->q = q;
	if ((err = pool_submit(job)) != 0) {
		free(job);
		return err;
	}
	q->job = job;
	return 0;
}

/* ---- queries ------------------------------------------------------------ */

int
he_query_start_(struct he_resolver *r, const char *host, int af,
    he_answer_fn cb, void *arg, struct he_query **out)
{
	struct he_query *q;
	int err;

	*out = NULL;
	if (!(q = calloc(1, sizeof(*q))))
		return ENOMEM;
	q->cb = cb;
	q->arg = arg;
	q->af = af;
	err = r->dns ? evdns_query(r, q, host, af) :
	    thread_query(r, q, host, af);
	if (err || q->answered) {
		free(q);
		return err;
	}
	*out = q;
	return 0;
}

void
he_query_cancel_(struct he_query *q)
{
	q->cb = NULL;
	if (q->dns) {
		/* evdns answers EVUTIL_EAI_CANCEL later; q goes then. */
		evdns_getaddrinfo_cancel(q->dns);
		return;
	}
	if (q->job)
		job_cancel(q->job);
	free(q);
}
