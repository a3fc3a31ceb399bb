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
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include "he_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include <event2/buffer.h>

/* Guards the tables below: contexts on different threads share them. */
static pthread_mutex_t bev_tables_lock = PTHREAD_MUTEX_INITIALIZER;

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
	pthread_mutex_lock(&bev_tables_lock);
	dns_error_set_locked(bev, error);
	pthread_mutex_unlock(&bev_tables_lock);
}

int
evhappy_get_dns_error(struct bufferevent *bev)
{
	int i, error = 0;

	if (!bev)
		return 0;
	pthread_mutex_lock(&bev_tables_lock);
	i = dns_error_find(bev);
	if (i >= 0)
		error = dns_errors[i].error;
	pthread_mutex_unlock(&bev_tables_lock);
	return error;
}

int
evhappy_socket_get_dns_error(struct bufferevent *bev)
{
	return evhappy_get_dns_error(bev);
}

/* ---- which bufferevents are racing -------------------------------------- */

/* A hash table keyed by the bottom bufferevent (under any filters), chained
 * through the requests; it grows with the number of races and never
 * shrinks (8 bytes a bucket, at most two buckets a race at the peak). */
static struct evhappy_request **racing;
static size_t racing_size;	/* buckets, a power of two */
static size_t racing_count;

static size_t
bucket_of(const struct bufferevent *bottom, size_t size)
{
	uint64_t h = (uint64_t)(uintptr_t)bottom * UINT64_C(0x9E3779B97F4A7C15);

	return (size_t)(h >> 32) & (size - 1);
}

static struct evhappy_request *
racing_find(const struct bufferevent *bottom)
{
	struct evhappy_request *r;

	if (!racing_size)
		return NULL;
	for (r = racing[bucket_of(bottom, racing_size)]; r; r = r->bev.next)
		if (r->bev.bottom == bottom)
			return r;
	return NULL;
}

/* Double the table; a failure only makes chains longer. */
static int
racing_grow(void)
{
	size_t n = racing_size ? 2 * racing_size : 64, i;
	struct evhappy_request **t = calloc(n, sizeof(*t)), *r, *next;

	if (!t)
		return -1;
	for (i = 0; i < racing_size; i++) {
		for (r = racing[i]; r; r = next) {
			size_t b = bucket_of(r->bev.bottom, n);
			next = r->bev.next;
			r->bev.next = t[b];
			t[b] = r;
		}
	}
	free(racing);
	racing = t;
	racing_size = n;
	return 0;
}

static int
racing_add(struct evhappy_request *req)
{
	size_t b;

	if (racing_count >= racing_size && racing_grow() < 0 && !racing_size)
		return -1;
	b = bucket_of(req->bev.bottom, racing_size);
	req->bev.next = racing[b];
	racing[b] = req;
	racing_count++;
	req->bev.listed = 1;
	return 0;
}

static void
racing_remove(struct evhappy_request *req)
{
	struct evhappy_request **pp;

	pp = &racing[bucket_of(req->bev.bottom, racing_size)];
	for (; *pp; pp = &(*pp)->bev.next) {
		if (*pp == req) {
			*pp = req->bev.next;
			racing_count--;
			break;
		}
	}
	req->bev.listed = 0;
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

int
he_bev_check_(struct evhappy *he, struct bufferevent *bev)
{
	struct bufferevent *bottom;
	int busy;

	if (!bev || bufferevent_get_base(bev) != he->base)
		return EINVAL;
	bottom = bottom_of(bev);
	if (bufferevent_pair_get_partner(bottom))
		return EINVAL;	/* a pair has no socket to connect */
	if (bufferevent_getfd(bottom) >= 0)
		return EISCONN;
	pthread_mutex_lock(&bev_tables_lock);
	busy = racing_find(bottom) != NULL;
	pthread_mutex_unlock(&bev_tables_lock);
	return busy ? EALREADY : 0;
}

/* ---- noticing bufferevent_free() ---------------------------------------- */

struct he_bev_token {
	struct evhappy_request *req;	/* NULL once the race let go */
};

static void
token_cleanup(const void *data, size_t len, void *extra)
{
	struct he_bev_token *t = extra;
	struct evhappy_request *req = t->req;
	bufferevent_data_cb rd, wr;
	bufferevent_event_cb ev;

	(void)data;
	(void)len;
	free(t);
	if (!req)
		return;
	req->bev.token = NULL;
	/* Freed by the bufferevent's finalizer (bufferevent_free cleared the
	 * callbacks before), or by someone draining its input during the race:
	 * then the callbacks are still there and a new token is set later. */
	bufferevent_getcb(req->bev.bev, &rd, &wr, &ev, NULL);
	if (!rd && !wr && !ev)
		he_request_bev_finalized_(req);
}

static int
token_set(struct evhappy_request *req)
{
	struct he_bev_token *t = malloc(sizeof(*t));
	struct evbuffer *input;
	int rc, frozen;

	if (!t)
		return -1;
	t->req = req;
	input = bufferevent_get_input(req->bev.bev);
	/* A socket bufferevent keeps its input's end frozen while it has no
	 * socket (committing nothing fails only then); as its read callback
	 * does, we thaw it a moment.  No other kind freezes it. */
	frozen = evbuffer_commit_space(input, NULL, 0) < 0;
	if (frozen)
		evbuffer_unfreeze(input, 0);
	rc = evbuffer_add_reference(input, "", 0, token_cleanup, t);
	if (frozen)
		evbuffer_freeze(input, 0);
	if (rc < 0) {
		free(t);
		return -1;
	}
	req->bev.plain = frozen && req->bev.bev == req->bev.bottom;
	req->bev.token = t;
	return 0;
}

int
he_bev_gone_(struct evhappy_request *req)
{
	bufferevent_data_cb rd, wr;
	bufferevent_event_cb ev;

	if (!req->bev.bev)
		return 1;
	bufferevent_getcb(req->bev.bev, &rd, &wr, &ev, NULL);
	if (!rd && !wr && !ev)
		return 1;
	if (!req->bev.token)
		(void)token_set(req);	/* the input was drained; best effort */
	return 0;
}

/* ---- a race's bufferevent ----------------------------------------------- */

int
he_bev_attach_(struct evhappy_request *req, struct bufferevent *bev)
{
	int rc;

	req->bev.bev = bev;
	req->bev.bottom = bottom_of(bev);
	if (token_set(req) < 0) {
		req->bev.bev = NULL;
		errno = ENOMEM;
		return -1;
	}
	pthread_mutex_lock(&bev_tables_lock);
	dns_error_set_locked(bev, 0);
	rc = racing_add(req);
	pthread_mutex_unlock(&bev_tables_lock);
	if (rc < 0) {
		he_bev_detach_(req);
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

void
he_bev_detach_(struct evhappy_request *req)
{
	if (req->bev.token) {
		/* The chain stays in the input until libevent frees it (the
		 * first read, or the bufferevent's end); the token goes then. */
		req->bev.token->req = NULL;
		req->bev.token = NULL;
	}
	if (req->bev.listed) {
		pthread_mutex_lock(&bev_tables_lock);
		racing_remove(req);
		pthread_mutex_unlock(&bev_tables_lock);
	}
}

/* Give the winner to libevent.  A plain socket bufferevent takes the socket
 * and is told CONNECTED on the next loop turn, as its own connect would
 * (one bufferevent_setfd, no second writability round); any other kind
 * (OpenSSL, a filter) is connected by libevent, which runs the TLS handshake
 * before CONNECTED. */
static int
hand_off(struct evhappy_request *req, evutil_socket_t fd)
{
	struct bufferevent *bev = req->bev.bev, *bottom = req->bev.bottom;

	if (bufferevent_setfd(bottom, fd) < 0) {
		evutil_closesocket(fd);
		return -1;
	}
	/* From here the socket is the bufferevent's. */
	if (req->bev.plain) {
		bufferevent_trigger_event(bev, BEV_EVENT_CONNECTED,
		    BEV_TRIG_DEFER_CALLBACKS);
		return 0;
	}
	if (bufferevent_socket_connect(bottom, NULL, 0) < 0)
		return -1;
	return 0;
}

void
he_bev_deliver_(struct evhappy_request *req, evutil_socket_t fd)
{
	struct bufferevent *bev = req->bev.bev;
	int error = req->race.error;

	if (he_bev_gone_(req)) {
		if (fd >= 0)
			evutil_closesocket(fd);
		return;
	}
	/* Not racing any more: the user's event callback may start anew. */
	he_bev_detach_(req);
	if (req->race.dns_failure)
		dns_error_set(bev, req->race.dns_failure);
	if (fd >= 0) {
		if (hand_off(req, fd) == 0)
			return;
		error = EIO;
	}
	EVUTIL_SET_SOCKET_ERROR(error);
	bufferevent_trigger_event(bev, BEV_EVENT_ERROR,
	    BEV_TRIG_DEFER_CALLBACKS);
}
