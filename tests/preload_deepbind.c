/*
 * A plugin for tests/check_preload.sh, built against libevent only:
 * tests/preload_client loads it with dlopen(RTLD_DEEPBIND), which makes the
 * plugin's own calls bind to its libevent before anything the program
 * preloads.  It connects as any libevent program would.
 */
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#include <sys/socket.h>

int preload_deepbind_connect(struct event_base *base, const char *host,
    int port);

static void
got_event(struct bufferevent *bev, short what, void *arg)
{
	*(short *)arg = what;
	event_base_loopbreak(bufferevent_get_base(bev));
}

/* bufferevent_socket_connect_hostname(host, port) on base; the event the
   bufferevent got (BEV_EVENT_*), 0 when none came within 5 s, -1 when the
   call failed. */
int
preload_deepbind_connect(struct event_base *base, const char *host, int port)
{
	struct timeval tv = { 5, 0 };
	struct bufferevent *bev;
	short what = 0;

	if (!(bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE)))
		return -1;
	bufferevent_setcb(bev, NULL, NULL, got_event, &what);
	if (bufferevent_socket_connect_hostname(bev, NULL, AF_UNSPEC, host,
	    port) < 0) {
		bufferevent_free(bev);
		return -1;
	}
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	bufferevent_free(bev);
	return what;
}
