/*
 * Resolution as RFC 8305 section 3 asks: one query per family, AAAA first,
 * each answer handed to the race as soon as it arrives.  With an
 * evdns_base: two single-family evdns_getaddrinfo() calls (AF_UNSPEC would
 * put IPv4 first and wait for the slower family).  Without one:
 * getaddrinfo() per family, so /etc/hosts and nsswitch apply, on a pool of
 * worker threads that the whole process shares, so the loop never blocks.
 *
 * The pool: workers are started while lookups wait and none is idle, up to
 * HE_POOL_MAX_THREADS (he_resolve.h), and end after HE_POOL_IDLE_S seconds
 * without work.  Each event_base's lookups wait in its mailbox's own FIFO
 * queue; a free worker takes the oldest lookup of the next base in turn
 * (round robin over the bases with lookups waiting) whose lookups hold
 * fewer than HE_POOL_PER_BASE workers.  So names that hang on one base hold
 * at most that many workers, and another base's lookups still find one.
 * A race's A lookup is never handed to getaddrinfo() before its AAAA
 * lookup: the A job is queued behind it, and its worker, once it has the
 * job, waits until the AAAA lookup is over or was handed to getaddrinfo()
 * HE_AAAA_LEAD_US ago (each worker counts its calls just before making
 * them), so that the AAAA query leaves first, as RFC 8305 asks.
 *
 * A finished lookup goes to its event_base's mailbox: a list of finished
 * jobs and one wake-up fd (an eventfd, or a pipe where there is none),
 * made on the first system lookup of a context on that base and shared by
 * every context on it (the drop-in makes a private context per call).
 * The mailbox's event is added while the loop waits for one of its lookups
 * and deleted when it waits for none, so event_base_dispatch() returns
 * once the races are over.  No libevent threading support is needed.
 *
 * Contexts find their base's mailbox by the base's address, which a later
 * event_base can have once the program freed the first one (a drop-in
 * race's private context outlives its base when the program never frees
 * the bufferevent, which libevent allows).  A mailbox that waits for no
 * lookup holds nothing of its base (its event is assigned afresh each time
 * lookups go out), so a later base may take it over; one whose base was
 * freed while lookups were out is told by its event, which libevent
 * deleted with the base although we never did: it is left to the old
 * contexts and never shared again.
 *
 * Lifetimes: one lock (pool.lock) guards the queues, every job's state and
 * every mailbox's lists and reference count.  A mailbox is referenced by
 * each context using it, by every job that is queued, running or finished
 * for it, and by the loop while it drains it; its fd is closed by whoever
 * drops the last reference, which is never before the last context using
 * it deleted the event on that fd, so no fd is closed under epoll_ctl and
 * no worker writes to a closed or reused fd.  A cancelled job holds no fd
 * of its own: queued or finished, it is dropped at once; running, its
 * worker throws the result away.
 *
 * fork(): the child has no workers.  Lookups that were queued or running
 * in the parent fail in the child with EVUTIL_EAI_AGAIN on its next loop
 * turn (the parent's own lookups go on undisturbed); every mailbox gets a
 * new wake-up fd in the child, so the child's loop never steals the
 * parent's wake-ups from the fd they shared; new lookups start new workers.
 * What a worker's getaddrinfo() had open at the fork (glibc's resolver
 * socket, an nscd connection) is glibc's: the child keeps it, close-on-exec,
 * and nobody can close it for it.
 */
#include "he_internal.h"
#include "he_resolve.h"
#include "he_dnsq.h"
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

/** An idle worker ends after this many seconds. */
#define HE_POOL_IDLE_S 10
/** A race's A lookup is handed to the resolver once its AAAA lookup is
    over, or this many microseconds after the AAAA lookup was handed to
    it: time for getaddrinfo() to send the AAAA query first (tens of
    microseconds when resolv.conf and nsswitch are read already), well
    below any DNS round trip and the 50 ms resolution delay. */
#define HE_AAAA_LEAD_US 1000

enum job_state {
	JOB_QUEUED,		/* in its mailbox's queue */
	JOB_RUNNING,		/* on a worker (pool.running) */
	JOB_DONE,		/* in its mailbox's done list */
	JOB_DELIVERING		/* taken from there by the loop's drain */
};

struct he_worker;

/* One family's getaddrinfo() on the pool.  Every field but q is under
 * pool.lock (or private to the worker running it; host, family and fn
 * never change once queued); q is the loop's. */
struct he_gai_job {
	struct he_gai_job *prev, *next;	/* in the queue, the running list or
					   a done list */
	struct he_mailbox *box;		/* holds a reference */
	struct he_query *q;		/* NULL once cancelled */
	he_gai_fn fn;			/* the lookup: getaddrinfo or the hook */
	enum job_state state;
	int cancelled;
	int family;
	/* AAAA before A: an A job queued with its AAAA job still queued
	 * points at it (and back); the worker that takes the AAAA job tells
	 * the A job whose call to wait for: that worker's calls reaching
	 * `ticket' (see aaaa_lead_locked). */
	struct he_gai_job *pair;
	struct he_worker *worker;	/* running: its worker */
	unsigned long ticket;		/* running: its call's count */
	struct he_worker *after_w;	/* A job: wait for this worker... */
	unsigned long after_ticket;	/* ...to have counted this call */
	struct evutil_addrinfo *res;
	int error;
	/* A raw query (HTTPS records) instead of getaddrinfo(): qtype > 0;
	 * its outcome in status, msg and msglen. */
	int qtype;
	enum he_dnsq_status status;
	unsigned char *msg;
	size_t msglen;
	char host[1];			/* allocated to fit */
};

/* An event_base's lookups: those waiting for a worker, the finished ones,
 * and the fd that wakes its loop; the contexts on that base share it. */
struct he_mailbox {
	struct he_mailbox *prev, *next;	/* every mailbox (pool.boxes) */
	struct he_mailbox *rprev, *rnext;	/* in pool.ring: lookups wait */
	struct he_gai_job *qhead, *qtail;	/* waiting, oldest first */
	int nqueued, nrunning;
	int refs;
	int closed;			/* its last context is gone */
	int orphaned;			/* its base was freed with lookups out */
	struct event_base *base;
	int contexts;			/* using it (the loop's only) */
	int waiting;			/* lookups the loop waits for; the
					   event is added while > 0 (the
					   loop's only) */
	int assigned;			/* ev was ever assigned (the loop's) */
	int rfd, wfd;			/* the same fd for an eventfd */
	int signalled;			/* a wake-up is waiting in rfd */
	struct he_gai_job *done, *done_tail;
	struct event *ev;		/* in this allocation; the loop's */
};

/* A worker thread's slot in the pool. */
struct he_worker {
	pthread_t tid;
	int used;			/* a thread has this slot */
	int busy;			/* it is looking a name up */
	int joined;			/* the exit-time shutdown will join it */
	/* Lookups handed to the resolver and lookups over: counts that
	 * only grow (a slot's next thread counts on), written by the slot's
	 * thread only; calls (atomic) and call_at (atomic, monotonic ns of
	 * the latest call) just before each call, over under pool.lock
	 * after it. */
	unsigned long calls, over;
	int64_t call_at;
};

struct he_query {
	he_answer_fn cb;		/* NULL once cancelled */
	he_dnsq_cb raw_cb;		/* a raw query's, instead */
	void *arg;
	int af;				/* the family asked for */
	struct evdns_getaddrinfo_request *dns;
	struct he_gai_job *job;
	int starting;			/* inside he_query_start_ */
	int answered;			/* (evdns) cb ran inside it */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t work;		/* a job can be taken */
	pthread_cond_t lookup_done;	/* a worker's lookup is over */
	int lead_waiters;		/* A jobs waiting for their AAAA */
	struct he_gai_job *running;
	struct he_mailbox *boxes;
	struct he_mailbox *ring;	/* the next base to serve, or NULL */
	int nqueued;			/* in every queue */
	int nrunnable;			/* of them, within their base's share */
	int nrunning;			/* jobs on workers */
	int nthreads, nidle;
	he_gai_fn hook;
	struct he_worker workers[HE_POOL_MAX_THREADS];
	int stopping;			/* the process is exiting */
} pool = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
	   PTHREAD_COND_INITIALIZER, 0, NULL, NULL, NULL, 0, 0, 0, 0, 0, NULL,
	   { { 0, 0, 0, 0, 0, 0, 0 } }, 0 };

static void fork_prepare(void);
static void fork_parent(void);
static void fork_child(void);
static struct he_fork_hooks fork_hooks = {
	fork_prepare, fork_parent, fork_child, NULL, NULL, 0
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

/* Hand a raw query's outcome on, unless it was cancelled. */
static void
query_raw_answer(struct he_query *q, const struct he_gai_job *job)
{
	he_dnsq_cb cb = q->raw_cb;

	if (!cb)
		return;
	q->raw_cb = NULL;
	cb(job->status, job->msg, job->msglen, q->arg);
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
evdns_query(struct he_resolver *r, struct he_query *q, const char *host)
{
	struct evutil_addrinfo hints;
	struct evdns_getaddrinfo_request *h;

	stream_hints(&hints, q->af);
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

/* A job leaves: its partner (see struct he_gai_job) no longer waits. */
static void
job_free_locked(struct he_gai_job *job)
{
	if (job->pair)
		job->pair->pair = NULL;
	if (job->res)
		freeaddrinfo(job->res);
	free(job->msg);
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

/* How many of the box's queued jobs a worker may take now. */
static int
box_runnable(const struct he_mailbox *box)
{
	int room = HE_POOL_PER_BASE - box->nrunning;

	if (room <= 0)
		return 0;
	return box->nqueued < room ? box->nqueued : room;
}

static void
ring_insert(struct he_mailbox *box)
{
	struct he_mailbox *r = pool.ring;

	if (!r) {
		box->rnext = box->rprev = box;
		pool.ring = box;
		return;
	}
	/* last in turn: just before the one served next */
	box->rnext = r;
	box->rprev = r->rprev;
	r->rprev->rnext = box;
	r->rprev = box;
}

static void
ring_remove(struct he_mailbox *box)
{
	if (box->rnext == box) {
		pool.ring = NULL;
	} else {
		box->rprev->rnext = box->rnext;
		box->rnext->rprev = box->rprev;
		if (pool.ring == box)
			pool.ring = box->rnext;
	}
	box->rnext = box->rprev = NULL;
}

/* Change a box's queued and running counts, keeping pool.nqueued,
 * pool.nrunnable and the ring in step. */
static void
box_count_locked(struct he_mailbox *box, int dqueued, int drunning)
{
	int had = box->nqueued > 0;

	pool.nrunnable -= box_runnable(box);
	box->nqueued += dqueued;
	box->nrunning += drunning;
	pool.nrunning += drunning;
	pool.nqueued += dqueued;
	pool.nrunnable += box_runnable(box);
	if (!had && box->nqueued > 0)
		ring_insert(box);
	else if (had && box->nqueued == 0)
		ring_remove(box);
}

static void
queue_unlink_locked(struct he_gai_job *job)
{
	list_unlink(&job->box->qhead, &job->box->qtail, job);
	box_count_locked(job->box, -1, 0);
}

/* A job's lookup is over (it was unlinked from its queue or the running
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

/* The oldest queued job of the next base in turn that has room, or NULL. */
static struct he_gai_job *
job_pick_locked(void)
{
	struct he_mailbox *box = pool.ring, *first = box;

	if (pool.nrunnable == 0)
		return NULL;
	do {
		if (box->nrunning < HE_POOL_PER_BASE) {
			pool.ring = box->rnext;	/* the next one's turn */
			return box->qhead;
		}
		box = box->rnext;
	} while (box != first);
	return NULL;	/* not reached: nrunnable counts a box with room */
}

/* Move a job from its queue to the running list, on worker w. */
static void
job_take_locked(struct he_gai_job *job, struct he_worker *w)
{
	struct he_gai_job *a = job->pair;

	queue_unlink_locked(job);
	box_count_locked(job->box, 0, 1);
	job->state = JOB_RUNNING;
	job->worker = w;
	job->ticket = __atomic_load_n(&w->calls, __ATOMIC_RELAXED) + 1;
	if (a) {
		/* an AAAA job (its queue is FIFO, so an A job is never taken
		 * before its AAAA job): the A job, still queued behind it,
		 * waits for this call */
		a->after_w = w;
		a->after_ticket = job->ticket;
		a->pair = job->pair = NULL;
	}
	job->next = pool.running;
	if (pool.running)
		pool.running->prev = job;
	pool.running = job;
	w->busy = 1;
}

/* The next job for w, or NULL when the worker has been idle long enough or
 * the process exits (then it has left the pool). */
static struct he_gai_job *
worker_next_locked(struct he_worker *w)
{
	struct he_gai_job *job;
	struct timespec until;

	while (pool.stopping || !(job = job_pick_locked())) {
		int rc;

		if (pool.stopping)
			goto leave;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += HE_POOL_IDLE_S;
		pool.nidle++;
		rc = pthread_cond_timedwait(&pool.work, &pool.lock, &until);
		pool.nidle--;
		if (rc == ETIMEDOUT && pool.nrunnable == 0)
			goto leave;
	}
	job_take_locked(job, w);
	return job;
leave:
	worker_leave_locked(w);
	return NULL;
}

static int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* An A job waits until its AAAA lookup (worker aw's call `ticket') is
 * over, or was handed to the resolver HE_AAAA_LEAD_US ago, so that the
 * AAAA query leaves first.  The AAAA worker counts its call just before
 * making it, with no system call between that could let this one run
 * first; its lookup is over under pool.lock, with a broadcast while A
 * jobs wait.  Until the call is counted (a few instructions away) this
 * looks again every 100 us. */
static void
aaaa_lead_locked(struct he_worker *aw, unsigned long ticket)
{
	pool.lead_waiters++;
	while (aw->over < ticket) {
		int64_t now = mono_ns(), until = now + 100000;
		struct timespec ts;

		if (__atomic_load_n(&aw->calls, __ATOMIC_ACQUIRE) >= ticket) {
			until = __atomic_load_n(&aw->call_at,
			    __ATOMIC_RELAXED) + (int64_t)HE_AAAA_LEAD_US * 1000;
			if (now >= until)
				break;
		}
		/* the condition's clock is CLOCK_REALTIME */
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)(until - now);
		ts.tv_sec += ts.tv_nsec / 1000000000;
		ts.tv_nsec %= 1000000000;
		pthread_cond_timedwait(&pool.lookup_done, &pool.lock, &ts);
	}
	pool.lead_waiters--;
}

/* The lookup, counted just before it is made. */
/* Where the system resolver's raw queries go: resolv.conf's servers, or
 * (tests) the ones set with he_resolve_set_raw_opts_. */
static struct he_dnsq_sys_opts raw_opts;
static int raw_opts_set;

static const struct he_dnsq_sys_opts *
raw_opts_get(void)
{
	const struct he_dnsq_sys_opts *o;

	pthread_mutex_lock(&pool.lock);
	o = raw_opts_set ? &raw_opts : NULL;
	pthread_mutex_unlock(&pool.lock);
	return o;
}

void
he_resolve_set_raw_opts_(const struct he_dnsq_sys_opts *opts)
{
	pthread_mutex_lock(&pool.lock);
	raw_opts_set = opts != NULL;
	if (opts)
		raw_opts = *opts;
	pthread_mutex_unlock(&pool.lock);
}

static int
job_lookup(struct he_gai_job *job, struct he_worker *w,
    struct evutil_addrinfo **res)
{
	struct evutil_addrinfo hints;
	int error;

	__atomic_store_n(&w->call_at, mono_ns(), __ATOMIC_RELAXED);
	__atomic_add_fetch(&w->calls, 1, __ATOMIC_RELEASE);
	if (job->qtype) {
		job->status = he_dnsq_blocking_(job->host, job->qtype,
		    raw_opts_get(), &job->msg, &job->msglen);
		return 0;
	}
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

		if (job->after_w)
			aaaa_lead_locked(job->after_w, job->after_ticket);
		pthread_mutex_unlock(&pool.lock);
		error = job_lookup(job, w, &res);
		pthread_mutex_lock(&pool.lock);
		w->over = job->ticket;
		if (pool.lead_waiters)
			pthread_cond_broadcast(&pool.lookup_done);
		list_unlink(&pool.running, NULL, job);
		box_count_locked(job->box, 0, -1);
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

	for (i = 0; i < HE_POOL_MAX_THREADS && !w; i++)
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
	pthread_t join[HE_POOL_MAX_THREADS];
	int i, n = 0;

	pthread_mutex_lock(&pool.lock);
	pool.stopping = 1;
	for (i = 0; i < HE_POOL_MAX_THREADS; i++) {
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
	struct he_mailbox *box, *next;
	int i;

	/* The parent's workers and their waits are not in this process. */
	pthread_cond_init(&pool.work, NULL);
	pthread_cond_init(&pool.lookup_done, NULL);
	pool.nthreads = pool.nidle = pool.lead_waiters = 0;
	for (i = 0; i < HE_POOL_MAX_THREADS; i++)
		pool.workers[i].used = pool.workers[i].busy =
		    pool.workers[i].joined = 0;
	for (box = pool.boxes; box; box = box->next)
		box_renew_fd_child(box);
	while ((job = pool.running) != NULL) {
		list_unlink(&pool.running, NULL, job);
		box_count_locked(job->box, 0, -1);
		job_complete_locked(job, NULL, EVUTIL_EAI_AGAIN);
	}
	for (box = pool.boxes; box; box = next) {
		/* its last job may hold its last reference */
		box->refs++;
		while ((job = box->qhead) != NULL) {
			queue_unlink_locked(job);
			job_complete_locked(job, NULL, EVUTIL_EAI_AGAIN);
		}
		next = box->next;
		box_unref_locked(box);
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

/* ---- the loop's side ---------------------------------------------------- */

static void mailbox_cb(evutil_socket_t fd, short what, void *arg);

/* One more lookup the loop waits for: the first one adds the event,
 * assigned to the base of now (see the top of this file).  0, or ENOMEM
 * when libevent cannot add it. */
static int
box_wait_more(struct he_mailbox *box, struct event_base *base)
{
	if (box->waiting == 0) {
		event_assign(box->ev, base, box->rfd, EV_READ | EV_PERSIST,
		    mailbox_cb, box);
		box->assigned = 1;
		if (event_add(box->ev, NULL) < 0)
			return ENOMEM;
	}
	box->waiting++;
	return 0;
}

/* One lookup fewer: with none left, nothing keeps the loop. */
static void
box_wait_less(struct he_mailbox *box)
{
	if (--box->waiting == 0)
		event_del(box->ev);
}

static void
mailbox_cb(evutil_socket_t fd, short what, void *arg)
{
	struct he_mailbox *box = arg;
	struct he_gai_job *list, *job;

	(void)fd;
	(void)what;
	/* Read first, then take the list: a job finished in between finds
	 * signalled still set and is taken now. */
	wake_drain(box->rfd);
	pthread_mutex_lock(&pool.lock);
	list = box->done;
	box->done = box->done_tail = NULL;
	for (job = list; job; job = job->next)
		job->state = JOB_DELIVERING;
	box->signalled = 0;
	box->refs++;		/* the context may be freed by a callback */
	pthread_mutex_unlock(&pool.lock);
	while ((job = list) != NULL) {
		struct he_query *q = job->q;

		list = job->next;
		if (q) {
			job->q = NULL;
			q->job = NULL;
			box_wait_less(box);
			if (job->qtype)
				query_raw_answer(q, job);
			else
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

/* Another resolver's open mailbox on this base, now shared with r.  A
 * mailbox whose event libevent deleted while lookups were out belonged
 * to an earlier base at this address: it is never shared again. */
static struct he_mailbox *
mailbox_share(struct he_resolver *r)
{
	struct he_mailbox *box;

	pthread_mutex_lock(&pool.lock);
	for (box = pool.boxes; box; box = box->next) {
		if (box->base != r->base || box->closed || box->orphaned)
			continue;
		/* Its event's base is at r->base's address, so looking at
		 * it reads only the live base there. */
		if (box->waiting > 0 && !event_pending(box->ev, EV_READ, NULL)) {
			box->orphaned = 1;
			continue;
		}
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
	size_t at = (sizeof(*box) + 15) & ~(size_t)15;

	if (box)
		return box;
	if ((box = mailbox_share(r)) != NULL) {
		r->mailbox = box;
		return box;
	}
	if ((*err = he_proc_on_fork_(&fork_hooks)) != 0)
		return NULL;
	/* The event lives in the mailbox's allocation. */
	if (!(box = calloc(1, at + event_get_struct_event_size()))) {
		*err = ENOMEM;
		return NULL;
	}
	if ((*err = wake_open(&box->rfd, &box->wfd)) != 0) {
		free(box);
		return NULL;
	}
	box->ev = (struct event *)((char *)box + at);
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
	int orphaned;

	he_dnsq_resolver_free_(r->cares);
	r->cares = NULL;
	if (!box)
		return;
	r->mailbox = NULL;
	if (--box->contexts > 0) {
		/* Its cancelled jobs were dropped already. */
		pthread_mutex_lock(&pool.lock);
		box_unref_locked(box);
		pthread_mutex_unlock(&pool.lock);
		return;
	}
	/* Every request is gone, so the loop waits for nothing and the event
	 * is not added (an orphan's base is gone: nothing to delete there).
	 * It leaves libevent's debug map before the memory can (last
	 * reference below, or a worker's later). */
	pthread_mutex_lock(&pool.lock);
	orphaned = box->orphaned;
	pthread_mutex_unlock(&pool.lock);
	if (box->waiting > 0 && !orphaned)
		event_del(box->ev);
	box->waiting = 0;
	if (box->assigned)
		event_debug_unassign(box->ev);
	pthread_mutex_lock(&pool.lock);
	box->closed = 1;
	while ((job = box->done) != NULL) {
		list_unlink(&box->done, &box->done_tail, job);
		job_free_locked(job);
	}
	box_unref_locked(box);
	pthread_mutex_unlock(&pool.lock);
}

/* Queue a job (behind lead, the same race's AAAA job, if any); a worker is
 * started when none is idle for it.  0, or the errno of pthread_create
 * when there is no worker at all. */
static int
pool_submit(struct he_gai_job *job, struct he_gai_job *lead)
{
	struct he_mailbox *box = job->box;
	int rc = 0;

	pthread_mutex_lock(&pool.lock);
	if (pool.stopping) {	/* exiting: no worker would ever take it */
		pthread_mutex_unlock(&pool.lock);
		return EAGAIN;
	}
	job->fn = pool.hook;
	job->state = JOB_QUEUED;
	list_push(&box->qhead, &box->qtail, job);
	box_count_locked(box, 1, 0);
	/* Workers not on a job (idle, or just started) take runnable jobs;
	 * one more is started only for a job none of them can take. */
	if (pool.nrunnable > pool.nthreads - pool.nrunning &&
	    pool.nthreads < HE_POOL_MAX_THREADS) {
		rc = worker_spawn_locked();
		if (rc != 0 && pool.nthreads > 0)
			rc = 0;		/* a running worker will take it */
	}
	if (rc != 0) {
		queue_unlink_locked(job);
		pthread_mutex_unlock(&pool.lock);
		return rc;
	}
	box->refs++;
	if (lead && lead->state == JOB_QUEUED) {
		lead->pair = job;
		job->pair = lead;
	} else if (lead && lead->state == JOB_RUNNING) {
		job->after_w = lead->worker;
		job->after_ticket = lead->ticket;
	}
	pthread_cond_signal(&pool.work);
	pthread_mutex_unlock(&pool.lock);
	return 0;
}

static void
job_cancel(struct he_gai_job *job)
{
	struct he_mailbox *box = job->box;

	job->q = NULL;
	box_wait_less(box);
	pthread_mutex_lock(&pool.lock);
	job->cancelled = 1;
	if (job->state == JOB_QUEUED) {
		queue_unlink_locked(job);
		job_free_locked(job);
	} else if (job->state == JOB_DONE) {
		list_unlink(&box->done, &box->done_tail, job);
		job_free_locked(job);
	}
	/* running: its worker drops it; delivering: the drain does. */
	pthread_mutex_unlock(&pool.lock);
}

/* 0 when the lookup is queued (behind after's, the same race's AAAA
 * lookup, if any), else an errno.  qtype > 0: a raw query of that type. */
static int
thread_query(struct he_resolver *r, struct he_query *q, const char *host,
    int qtype, const struct he_query *after)
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
	job->family = q->af;
	job->qtype = qtype;
	job->box = box;
	job->q = q;
	if ((err = box_wait_more(box, r->base)) != 0) {
		free(job);
		return err;
	}
	if ((err = pool_submit(job, after ? after->job : NULL)) != 0) {
		box_wait_less(box);
		free(job);
		return err;
	}
	q->job = job;
	return 0;
}

/* ---- queries ------------------------------------------------------------ */

int
he_query_start_(struct he_resolver *r, const char *host, int af,
    const struct he_query *after, he_answer_fn cb, void *arg,
    struct he_query **out)
{
	struct he_query *q;
	int err;

	*out = NULL;
	if (!(q = calloc(1, sizeof(*q))))
		return ENOMEM;
	q->cb = cb;
	q->arg = arg;
	q->af = af;
	err = r->dns ? evdns_query(r, q, host) :
	    thread_query(r, q, host, 0, after);
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

/* ---- raw queries (HTTPS records) ---------------------------------------- */

/* The system resolver's transport for he_svcb_lookup_: res_nquery on the
 * pool.  A query that cannot start calls back on the next loop turn, as
 * the c-ares transport does, through the mailbox of its own... it has
 * none: the lookup says so by returning NULL with errno. */
static void *
pool_raw_start(void *ctx, const char *name, int type, he_dnsq_cb cb,
    void *arg)
{
	struct he_resolver *r = ctx;
	struct he_query *q;
	int err;

	if (!(q = calloc(1, sizeof(*q)))) {
		errno = ENOMEM;
		return NULL;
	}
	q->raw_cb = cb;
	q->arg = arg;
	if ((err = thread_query(r, q, name, type, NULL)) != 0) {
		free(q);
		errno = err;
		return NULL;
	}
	return q;
}

static void
pool_raw_cancel(void *query)
{
	struct he_query *q = query;

	q->raw_cb = NULL;
	he_query_cancel_(q);
}

static const struct he_dnsq_ops pool_raw_ops = {
	pool_raw_start, pool_raw_cancel
};

int
he_resolver_raw_(struct he_resolver *r, const struct he_dnsq_ops **ops,
    void **ctx)
{
	if (!r->dns) {
		*ops = &pool_raw_ops;
		*ctx = r;
		return 0;
	}
	if (!r->cares && !(r->cares = he_dnsq_resolver_new_(r->base, r->dns,
	    HE_RAW_TIMEOUT_MS, HE_RAW_TRIES)))
		return errno ? errno : ENOMEM;
	*ops = &he_dnsq_cares_ops_;
	*ctx = r->cares;
	return 0;
}
