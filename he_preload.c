/*
 * The interposition library, libevhappy-preload.so: libevent's
 * bufferevent_socket_connect_hostname() and bufferevent_socket_get_dns_error()
 * for programs that were never written for evhappy.
 *
 * Loaded with LD_PRELOAD (evhappy-run does that), or linked before libevent,
 * these definitions come first in the program's symbol search order, so every
 * call reaches them: the program's own and libevent's internal ones, such as
 * evhttp's, which go through the PLT.  libevent's own functions are found
 * behind them with dlsym(RTLD_NEXT) and take every call evhappy does not: all
 * of them under EVHAPPY_DISABLE=1, and each one evhappy refuses but libevent
 * would accept (a bufferevent that already has a socket, a pair, bad
 * arguments, for which libevent gives its own answer).
 *
 * Nothing runs before the first call: no constructor, no thread, no file
 * descriptor; the environment and libevent's functions are looked up then,
 * and the history file is read.
 * The library exports these two names and nothing else.
 */
#include "he_internal.h"
#include "he_bev.h"
#include "he_env.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>

#define HE_PUBLIC_ __attribute__((visibility("default")))

typedef int (*connect_hostname_fn)(struct bufferevent *, struct evdns_base *,
    int, const char *, int);
typedef int (*get_dns_error_fn)(struct bufferevent *);

static connect_hostname_fn libevent_connect_hostname;
static get_dns_error_fn libevent_get_dns_error;
static pthread_once_t libevent_once = PTHREAD_ONCE_INIT;

static void
find_libevent(void)
{
	/* Through a union: ISO C has no conversion from void * to a function
	 * pointer, POSIX guarantees dlsym's result can be used as one. */
	union {
		void *p;
		connect_hostname_fn connect;
		get_dns_error_fn get;
	} u;

	u.p = dlsym(RTLD_NEXT, "bufferevent_socket_connect_hostname");
	libevent_connect_hostname = u.connect;
	u.p = dlsym(RTLD_NEXT, "bufferevent_socket_get_dns_error");
	libevent_get_dns_error = u.get;
}

static int
pass_to_libevent(struct bufferevent *bev, struct evdns_base *dns_base,
    int family, const char *hostname, int port)
{
	pthread_once(&libevent_once, find_libevent);
	if (!libevent_connect_hostname) {
		errno = ENOSYS;
		return -1;
	}
	if (bev)
		he_bev_forget_dns_error_(bev);
	return libevent_connect_hostname(bev, dns_base, family, hostname, port);
}

/* Whether libevent should get a call evhappy refused.  Not a NULL bev
 * (libevent would crash on it) and not a bufferevent evhappy is still
 * racing on: a second connect there would run beside the race. */
static int
libevent_takes_refusal(const struct bufferevent *bev, int err)
{
	return bev && err != EALREADY;
}

/* The history file (evhappy(7)), on by default here and set at the first
 * race, so that a program that never connects never reads it. */
static pthread_once_t history_once = PTHREAD_ONCE_INIT;

static void
history_file(void)
{
	const struct he_env *env = he_env_();
	int saved = errno;

	if (!env->history_off && env->history_file[0])
		(void)evhappy_set_history_file(env->history_file);
	errno = saved;
}

HE_PUBLIC_ int bufferevent_socket_connect_hostname(struct bufferevent *bev,
    struct evdns_base *dns_base, int family, const char *hostname, int port);
HE_PUBLIC_ int bufferevent_socket_get_dns_error(struct bufferevent *bev);

int
bufferevent_socket_connect_hostname(struct bufferevent *bev,
    struct evdns_base *dns_base, int family, const char *hostname, int port)
{
	int saved = errno;

	if (he_env_()->disable)
		return pass_to_libevent(bev, dns_base, family, hostname, port);
	pthread_once(&history_once, history_file);
	if (evhappy_socket_connect_hostname(bev, dns_base, family, hostname,
	    port) == 0)
		return 0;
	if (!libevent_takes_refusal(bev, errno))
		return -1;
	errno = saved;
	return pass_to_libevent(bev, dns_base, family, hostname, port);
}

int
bufferevent_socket_get_dns_error(struct bufferevent *bev)
{
	int error = 0;

	/* evhappy keeps a code only for its own failed races; any other
	 * bufferevent's is libevent's to tell. */
	if (!he_env_()->disable)
		error = evhappy_get_dns_error(bev);
	if (error)
		return error;
	pthread_once(&libevent_once, find_libevent);
	return libevent_get_dns_error ? libevent_get_dns_error(bev) : 0;
}
