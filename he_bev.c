/*
 * The bufferevent adapter: which bufferevents are racing, noticing
 * bufferevent_free() during a race, handing the winner over, and the DNS
 * error a failed race leaves behind.
 *
 * The winner is handed to libevent with bufferevent_setfd() and
 * bufferevent_socket_connect(bev, NULL, 0), so libevent itself reports
 * BEV_EVENT_CONNECTED (after the TLS handshake for OpenSSL) and flushes what
 * the user wrote before.
 *
 * We hold no reference on the user's bufferevent: bufferevent_free() then
 * works as libevent's users expect, and we learn of it twice over.  First,
 * bufferevent_free() clears every callback before it drops its reference, so
 * a bufferevent whose callbacks are all NULL is taken as freed (what would
 * its outcome go to?).  Second, a zero-length reference chain sits in its
 * input buffer, which nothing touches before the race ends; when libevent
 * finalizes the bufferevent (on the next loop turn, or inside
 * event_base_free) it frees that chain and its cleanup tells the request,
 * which then closes its sockets and frees itself at once.
 *
 * A user also lets go of a racing bufferevent without freeing it: evhttp,
 * when its connect timeout fires or a request is cancelled, resets it
 * (callbacks cleared, disabled, bufferevent_setfd(bev, -1), buffers
 * drained) and may connect it anew later.  None of those calls reaches
 * us: libevent 2.1 runs no callback of anyone's in them (the drain of an
 * input that holds no bytes returns before it touches a chain).  What the
 * reset leaves is seen instead: a socket bufferevent's input is frozen at
 * its end while it has no socket, and bufferevent_setfd() thaws it (we
 * freeze it for the race when an earlier setfd(-1) thawed it already).
 * Every callback of the race looks (he_bev_gone_), a new connect on the
 * bufferevent looks (racing_claim), and, since a reset usually answers the
 * bufferevent's own timeout, a timer of ours looks a moment after each of
 * the bufferevent's timeouts fires (he_levent.h tells when).
 */
#include "he_internal.h"
#include "he_bev.h"
#include "he_levent.h"
#include "he_proc.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdint.h>
#include <string.h>

/* Guards the tables below: contexts on different threads share them. */
static pthread_mutex_t bev_tables_lock = PTHREAD_MUTEX_INITIALIZER;

/* A fork() while another thread holds the lock must not leave the child
 * with a lock nobody will release: it is held across the fork. */
static struct he_fork_hooks fork_hooks = {
	NULL, NULL, NULL, &bev_tables_lock, NULL, 0
};

static void
tables_lock(void)
{
	(void)he_proc_on_fork_(&fork_hooks);
	pthread_mutex_lock(&bev_tables_lock);
}

/* ---- the DNS error a race left ------------------------------------------ */

/* libevent has no place to hang data on a bufferevent, so DNS errors wait in
 * a small ring keyed by bufferevent.  Every new race on a bev clears its
 * entry (a freed bev's address is soon a new bev's); with more failed bevs
 * than slots, the oldest reads 0. */
#define DNS_ERROR_SLOTS 64

static struct {
	const struct bufferevent *bev;
	int error;
} dns_errors[DNS_ERROR_SLOTS];
static int dns_errors_next;
static int dns_errors_live;	/* entries in use: most programs have none */

static int
dns_error_find(const struct bufferevent *bev)
{
	int i;

	for (i = 0; i < DNS_ERROR_SLOTS && dns_errors_live; i++)
		if (dns_errors[i].bev == bev)
			return i;
	return -1;
}

static void
dns_error_set_locked(const struct bufferevent *bev, int error)
{
	int i = dns_error_find(bev);

	if (i >= 0) {
		dns_errors[i].bev = NULL;
		dns_errors[i].error = 0;
		dns_errors_live--;
	}
	if (!error)
		return;
	i = dns_errors_next;
	dns_errors_next = (dns_errors_next + 1) % DNS_ERROR_SLOTS;
	if (dns_errors[i].bev)
		dns_errors_live--;	/* the oldest is overwritten */
	dns_errors[i].bev = bev;
	dns_errors[i].error = error;
	dns_errors_live++;
}

static void
dns_error_set(const struct bufferevent *bev, int error)
{
	tables_lock();
	dns_error_set_locked(bev, error);
	pthread_mutex_unlock(&bev_tables_lock);
}

int
he_bev_dns_error_(const struct bufferevent *bev)
{
	int i, error = 0;

	if (!bev)
		return 0;
	tables_lock();
	i = dns_error_find(bev);
	if (i >= 0)
		error = dns_errors[i].error;
	pthread_mutex_unlock(&bev_tables_lock);
	return error;
}

/* ---- the endpoint a race connected to ------------------------------------ */

/* As the DNS errors: a ring keyed by bufferevent, each slot one
 * allocation holding the endpoint and copies of its bytes.  Most programs
 * never use it (no HTTPS records): nothing is kept then. */
struct he_bev_ep {
	const struct bufferevent *bev;
	struct evhappy_endpoint ep;	/* pointing into this allocation */
};

static struct he_bev_ep *endpoints[HE_BEV_ENDPOINTS];
static int endpoints_next;
static int endpoints_live;

static int
endpoint_find(const struct bufferevent *bev)
{
	int i;

	for (i = 0; i < HE_BEV_ENDPOINTS && endpoints_live; i++)
		if (endpoints[i] && endpoints[i]->bev == bev)
			return i;
	return -1;
}

static void
endpoint_drop_locked(const struct bufferevent *bev)
{
	int i = endpoint_find(bev);

	if (i < 0)
		return;
	free(endpoints[i]);
	endpoints[i] = NULL;
	endpoints_live--;
}

/* One allocation: the slot, then the target, the ALPN and the ECH bytes. */
static struct he_bev_ep *
endpoint_copy(const struct bufferevent *bev, const struct evhappy_endpoint *ep)
{
	size_t tlen = ep->target ? strlen(ep->target) + 1 : 0;
	struct he_bev_ep *e;
	char *p;

	if (!(e = calloc(1, sizeof(*e) + tlen + ep->alpn_len + ep->ech_len)))
		return NULL;
	e->bev = bev;
	e->ep = *ep;
	p = (char *)(e + 1);
	if (tlen) {
		memcpy(p, ep->target, tlen);
		e->ep.target = p;
		p += tlen;
	}
	if (ep->alpn_len) {
		memcpy(p, ep->alpn, ep->alpn_len);
		e->ep.alpn = (unsigned char *)p;
		p += ep->alpn_len;
	}
	if (ep->ech_len) {
		memcpy(p, ep->ech, ep->ech_len);
		e->ep.ech = (unsigned char *)p;
	}
	return e;
}

int
he_bev_set_endpoint_(const struct bufferevent *bev,
    const struct evhappy_endpoint *ep)
{
	struct he_bev_ep *e = endpoint_copy(bev, ep);
	int i;

	if (!e)
		return ENOMEM;
	tables_lock();
	endpoint_drop_locked(bev);
	i = endpoints_next;
	endpoints_next = (endpoints_next + 1) % HE_BEV_ENDPOINTS;
	if (endpoints[i]) {		/* the oldest goes */
		free(endpoints[i]);
		endpoints_live--;
	}
	endpoints[i] = e;
	endpoints_live++;
	pthread_mutex_unlock(&bev_tables_lock);
	return 0;
}

const struct evhappy_endpoint *
he_bev_endpoint_(const struct bufferevent *bev)
{
	const struct evhappy_endpoint *ep = NULL;
	int i;

	if (!bev)
		return NULL;
	tables_lock();
	if ((i = endpoint_find(bev)) >= 0)
		ep = &endpoints[i]->ep;
	pthread_mutex_unlock(&bev_tables_lock);
	return ep;
}

/* ---- which bufferevents are racing -------------------------------------- */

/* The library's hash table, keyed by the bottom bufferevent (under any
 * filters), its nodes inside the requests' links: it grows with the number
 * of races and never shrinks (8 bytes a bucket, at most two buckets a race
 * at the peak). */
static struct he_htab racing;

static uint64_t
bottom_hash(const struct bufferevent *bottom)
{
	return he_hash_word_((uint64_t)(uintptr_t)bottom);
}

static struct he_bev_link *
racing_find(const struct bufferevent *bottom)
{
	struct he_hnode *n;

	for (n = he_htab_first_(&racing, bottom_hash(bottom)); n;
	    n = he_htab_next_(n)) {
		struct he_bev_link *l = HE_CONTAINER(n, struct he_bev_link,
		    node);
		if (l->bottom == bottom)
			return l;
	}
	return NULL;
}

static int
racing_add(struct he_bev_link *l)
{
	int err = he_htab_add_(&racing, &l->node, bottom_hash(l->bottom));

	if (!err)
		l->listed = 1;
	return err;
}

static void
racing_remove(struct he_bev_link *l)
{
	he_htab_del_(&racing, &l->node);
	l->listed = 0;
}

/* The socket bufferevent under any filters. */
static struct bufferevent *
bottom_of(struct bufferevent *bev)
{
	struct bufferevent *under;

	while ((under = bufferevent_get_underlying(bev)) != NULL)
		bev = under;
	return bev;
}

static int taken_back(struct he_bev_link *l);

int
he_bev_check_(struct event_base *base, struct bufferevent *bev)
{
	struct bufferevent *bottom;

	if (!bev || bufferevent_get_base(bev) != base)
		return EINVAL;
	bottom = bottom_of(bev);
	if (bufferevent_pair_get_partner(bottom))
		return EINVAL;	/* a pair has no socket to connect */
	if (bufferevent_getfd(bottom) >= 0)
		return EISCONN;
	return 0;	/* whether it races already, he_bev_attach_ says */
}

/* ---- noticing bufferevent_free() ---------------------------------------- */

static int
callbacks_cleared(struct bufferevent *bev)
{
	bufferevent_data_cb rd, wr;
	bufferevent_event_cb ev;

	bufferevent_getcb(bev, &rd, &wr, &ev, NULL);
	return !rd && !wr && !ev;
}

/* The chain's cleanup carries two words and no memory of ours: the bottom
 * bufferevent (the table's key) and the race's serial number.  A chain that
 * outlives its race (it stays in the input until its first read) finds no
 * race with that number, and does nothing. */
static void
watch_cleanup(const void *data, size_t len, void *extra)
{
	struct he_bev_link *l;

	(void)len;
	tables_lock();
	l = racing_find(data);
	if (l && l->serial != (uintptr_t)extra)
		l = NULL;
	if (l)
		l->watched = 0;
	pthread_mutex_unlock(&bev_tables_lock);
	/* Freed by the bufferevent's finalizer (bufferevent_free cleared the
	 * callbacks before), or by someone filling or draining its input during
	 * the race: then the callbacks are still there and the watch is set
	 * again later. */
	if (!l || !callbacks_cleared(l->bev))
		return;
	l->bev = NULL;		/* being destroyed: never touch it again */
	l->freed(l->freed_arg, 1);
}

static int
watch_set(struct he_bev_link *l)
{
	struct evbuffer *input = bufferevent_get_input(l->bev);
	int rc, frozen;

	/* A socket bufferevent keeps its input's end frozen while it has no
	 * socket (committing nothing fails only then); as its read callback
	 * does, we thaw it a moment.  No other kind freezes it. */
	frozen = evbuffer_commit_space(input, NULL, 0) < 0;
	if (frozen)
		evbuffer_unfreeze(input, 0);
	rc = evbuffer_add_reference(input, l->bottom, 0, watch_cleanup,
	    (void *)l->serial);
	if (frozen)
		evbuffer_freeze(input, 0);
	if (rc < 0)
		return -1;
	l->watched = 1;
	return 0;
}

/* bufferevent_setfd() thaws a socket bufferevent's input for good: the user
 * (evhttp resets a connection so) took the bufferevent back. */
static int
taken_back(struct he_bev_link *l)
{
	return l->plain &&
	    evbuffer_commit_space(bufferevent_get_input(l->bev), NULL, 0) == 0;
}

/* Whether bev is a socket bufferevent under no filter, whose input's end
 * is then frozen for the race: libevent froze it (a new bufferevent), or
 * we do, when a bufferevent_setfd() before the race thawed it (evhttp
 * resets its bufferevent so before every connect).  Another kind's input
 * is left alone: nothing of libevent's would thaw it. */
static int
plain_socket(struct he_bev_link *l)
{
	struct evbuffer *input = bufferevent_get_input(l->bev);

	if (l->bev != l->bottom)
		return 0;
	if (evbuffer_commit_space(input, NULL, 0) < 0)
		return 1;
	if (!he_levent_is_socket_bev_(l->bev))
		return 0;
	if (evbuffer_freeze(input, 0) < 0)
		return 0;
	l->froze = 1;
	return 1;
}

/* ---- looking after the bufferevent's own timeouts ----------------------- */

static void check_cb(evutil_socket_t fd, short what, void *arg);

/* Look again a moment after the earliest of bev's own timeouts: its event
 * callback (evhttp's, a program's connect timeout) has then run and may
 * have reset bev.  Best effort: without memory for the timer the race
 * notices at its next event, as it does for resets at other times. */
static void
check_arm(struct he_bev_link *l)
{
	struct timeval left, moment = { 0, 1000 };

	if (!l->plain || !l->bev || !he_levent_has_timeouts_(l->bev) ||
	    he_levent_timeout_left_(l->bev, &left))
		return;
	if (!l->check && !(l->check = event_new(bufferevent_get_base(l->bev),
	    -1, 0, check_cb, l)))
		return;
	evutil_timeradd(&left, &moment, &left);
	(void)event_add(l->check, &left);
}

static void
check_cb(evutil_socket_t fd, short what, void *arg)
{
	struct he_bev_link *l = arg;

	(void)fd;
	(void)what;
	if (he_bev_gone_(l)) {
		l->freed(l->freed_arg, 0);	/* detaches: l->check is freed */
		return;
	}
	check_arm(l);
}

int
he_bev_gone_(struct he_bev_link *l)
{
	if (!l->bev || taken_back(l))
		return 1;
	/* bufferevent_free() clears the callbacks: cleared ones that were
	 * set mean it was freed.  Of a bufferevent that never had any (a
	 * program that only writes) the chain's cleanup alone tells. */
	if (!callbacks_cleared(l->bev))
		l->had_cbs = 1;
	else if (l->had_cbs)
		return 1;
	if (!l->watched)
		(void)watch_set(l);	/* the input was touched; best effort */
	return 0;
}

/* ---- a race's bufferevent ----------------------------------------------- */

/* A race already on bev's bottom bufferevent, after ending one whose
 * bufferevent the user took back and now connects anew (as with libevent's
 * own connect); else l is listed with a new serial number.  No evbuffer's
 * lock is taken under ours: a chain's cleanup takes ours under its
 * evbuffer's. */
static struct he_bev_link *
racing_claim(struct he_bev_link *l, struct bufferevent *bev)
{
	static uintptr_t serials;
	struct he_bev_link *other;

	tables_lock();
	other = racing_find(l->bottom);
	if (other && other->bev == bev) {
		pthread_mutex_unlock(&bev_tables_lock);
		if (taken_back(other))
			other->freed(other->freed_arg, 0);
		tables_lock();
		other = racing_find(l->bottom);
	}
	if (!other) {
		l->serial = ++serials;
		if (racing_add(l) != 0)
			other = l;
		else {
			dns_error_set_locked(bev, 0);
			if (endpoints_live)
				endpoint_drop_locked(bev);
		}
	}
	pthread_mutex_unlock(&bev_tables_lock);
	return other;
}

int
he_bev_attach_(struct he_bev_link *l, struct bufferevent *bev,
    void (*freed)(void *, int), void *arg)
{
	struct he_bev_link *other;

	memset(l, 0, sizeof(*l));
	l->bev = bev;
	l->bottom = bottom_of(bev);
	l->freed = freed;
	l->freed_arg = arg;
	if ((other = racing_claim(l, bev)) != NULL) {
		l->bev = NULL;
		return other == l ? ENOMEM : EALREADY;
	}
	l->plain = plain_socket(l);
	l->had_cbs = !callbacks_cleared(bev);
	if (watch_set(l) < 0) {
		he_bev_detach_(l);
		l->bev = NULL;
		return ENOMEM;
	}
	check_arm(l);
	return 0;
}

void
he_bev_detach_(struct he_bev_link *l)
{
	/* The chain stays in the input until libevent frees it (the first
	 * read, or the bufferevent's end); unlisted, it finds nobody then. */
	l->watched = 0;
	if (l->check) {
		event_free(l->check);
		l->check = NULL;
	}
	/* What we froze is thawed as the user left it (a hand-off's
	 * bufferevent_setfd thaws it too). */
	if (l->froze && l->bev)
		evbuffer_unfreeze(bufferevent_get_input(l->bev), 0);
	l->froze = 0;
	if (l->listed) {
		tables_lock();
		racing_remove(l);
		pthread_mutex_unlock(&bev_tables_lock);
	}
}

/* Give the winner to libevent.  A plain socket bufferevent takes the socket
 * and is told CONNECTED as its own connect would tell it: from the
 * callback that saw the socket writable (ours, which runs the user's code
 * safely: it is between he_request_enter_ and he_request_leave_), or
 * later when the bufferevent has BEV_OPT_DEFER_CALLBACKS, which
 * bufferevent_trigger_event honours (one bufferevent_setfd, no second
 * writability round, no deferred callback of ours).  Never inside the
 * start call: an outcome found there waits for the next loop turn
 * (he_request.c).  Any other kind (OpenSSL, a filter) is connected by
 * libevent, which runs the TLS handshake before CONNECTED. */
static int
hand_off(struct he_bev_link *l, evutil_socket_t fd, struct event *watching,
    const struct sockaddr *peer, ev_socklen_t peerlen)
{
	int rc = bufferevent_setfd(l->bottom, fd);

	/* Deleted only now: with the bufferevent's event added first, libevent
	 * keeps the socket in the kernel's set instead of dropping it and
	 * adding it back. */
	if (watching)
		event_del(watching);
	if (rc < 0) {
		evutil_closesocket(fd);
		return -1;
	}
	/* From here the socket is the bufferevent's.  Where it is connected
	 * to is recorded as libevent's own connect records it
	 * (evhttp_connection_get_addr). */
	he_levent_set_conn_address_(l->bev, peer, peerlen);
	if (l->bottom != l->bev)
		he_levent_set_conn_address_(l->bottom, peer, peerlen);
	if (l->plain) {
		bufferevent_trigger_event(l->bev, BEV_EVENT_CONNECTED, 0);
		return 0;
	}
	if (bufferevent_socket_connect(l->bottom, NULL, 0) < 0)
		return -1;
	return 0;
}

void
he_bev_deliver_(struct he_bev_link *l, evutil_socket_t fd,
    const struct sockaddr *peer, ev_socklen_t peerlen,
    struct event *watching, int error, int dns_error, int recheck)
{
	struct bufferevent *bev = l->bev;

	if (recheck && he_bev_gone_(l)) {
		if (watching)
			event_del(watching);
		if (fd >= 0)
			evutil_closesocket(fd);
		return;
	}
	/* Not racing any more: the user's event callback may start anew. */
	he_bev_detach_(l);
	if (dns_error)
		dns_error_set(bev, dns_error);
	if (fd >= 0) {
		if (hand_off(l, fd, watching, peer, peerlen) == 0)
			return;
		error = EIO;
	}
	EVUTIL_SET_SOCKET_ERROR(error);
	bufferevent_trigger_event(bev, BEV_EVENT_ERROR,
	    BEV_TRIG_DEFER_CALLBACKS);
}

void
he_bev_forget_dns_error_(const struct bufferevent *bev)
{
	dns_error_set(bev, 0);
}
