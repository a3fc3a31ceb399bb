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
 *
 * It was built against libevent 2.1 and shares the program's libevent (the
 * dynamic linker binds its references to the first libevent loaded, which
 * is the program's): on the first call it asks that libevent's
 * event_get_version_number(), and when that is not 2.1.12 or a later 2.1
 * (a libevent 2.2 program, whose structures differ), it says so once on
 * stderr and passes every call to libevent.
 *
 * What the program asks for by address is its own choice: a literal that
 * evhappy never connects to when DNS answers it (0.0.0.0, ::, multicast,
 * broadcast) goes to libevent unchanged, which connects it (Linux takes
 * 0.0.0.0 and :: for the local host).
 *
 * Calls that never go through the dynamic linker are not seen: a libevent
 * linked statically into the program calls its own function, and so does a
 * library loaded with dlopen(RTLD_DEEPBIND) together with a libevent of its
 * own (see evhappy-run(1)).
 */
#include "he_internal.h"
#include "he_addrinfo.h"
#include "he_bev.h"
#include "he_env.h"
#include "he_literal.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#define HE_PUBLIC_ __attribute__((visibility("default")))

typedef int (*connect_hostname_fn)(struct bufferevent *, struct evdns_base *,
    int, const char *, int);
typedef int (*get_dns_error_fn)(struct bufferevent *);
typedef ev_uint32_t (*version_number_fn)(void);

static connect_hostname_fn libevent_connect_hostname;
static get_dns_error_fn libevent_get_dns_error;
static int libevent_fits;	/* the program's libevent is the 2.1 ABI */
static pthread_once_t libevent_once = PTHREAD_ONCE_INIT;
static pthread_once_t warn_once = PTHREAD_ONCE_INIT;

/* One line on stderr, in one write, the first time a call finds another
 * libevent (not under EVHAPPY_DISABLE=1, which asked for libevent). */
static void
warn_other_libevent(void)
{
	union {
		void *p;
		const char *(*version)(void);
	} u;
	const char *version = NULL;
	char line[320];
	int n;

	if ((u.p = dlsym(RTLD_NEXT, "event_get_version")) != NULL)
		version = u.version();

	n = snprintf(line, sizeof(line), "evhappy: libevent %.64s is not "
	    "libevent 2.1 (2.1.12 or a later 2.1), which "
	    "libevhappy-preload.so was built for: every call goes to libevent "
	    "unchanged\n", version ? version : "(version unknown)");
	if (n > 0 && (size_t)n < sizeof(line))
		(void)!write(STDERR_FILENO, line, (size_t)n);
}

/* The program's libevent, behind us in the search order: its two
 * functions, and whether it is the 2.1 this library was built for (same
 * major and minor version, at least the 2.1.12 configure asked for). */
static void
find_libevent(void)
{
	/* Through a union: ISO C has no conversion from void * to a function
	 * pointer, POSIX guarantees dlsym's result can be used as one. */
	union {
		void *p;
		connect_hostname_fn connect;
		get_dns_error_fn get;
		version_number_fn number;
	} u;
	ev_uint32_t v = 0;

	u.p = dlsym(RTLD_NEXT, "bufferevent_socket_connect_hostname");
	libevent_connect_hostname = u.connect;
	u.p = dlsym(RTLD_NEXT, "bufferevent_socket_get_dns_error");
	libevent_get_dns_error = u.get;
	if ((u.p = dlsym(RTLD_NEXT, "event_get_version_number")) != NULL)
		v = u.number();
	libevent_fits = (v & 0xffff0000u) ==
	    ((ev_uint32_t)LIBEVENT_VERSION_NUMBER & 0xffff0000u) &&
	    v >= 0x02010c00u;
}

/* Whether evhappy may take the call: not disabled, and the program's
 * libevent is the one evhappy was built for. */
static int
evhappy_takes_calls(void)
{
	if (he_env_()->disable)
		return 0;
	pthread_once(&libevent_once, find_libevent);
	if (!libevent_fits)
		pthread_once(&warn_once, warn_other_libevent);
	return libevent_fits;
}

/* A literal that evhappy would never connect to (0.0.0.0, ::, multicast,
 * broadcast): the rule is for what DNS answers, and the program chose
 * this address itself. */
static int
literal_for_libevent(const char *hostname, int port)
{
	struct evutil_addrinfo *ai = NULL;
	int mine;

	if (!hostname || he_parse_literal_(hostname, port, &ai) != 0 || !ai)
		return 0;
	mine = !he_addr_usable_(ai->ai_addr);
	evhappy_addrinfo_free(ai);
	return mine;
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

	if (!evhappy_takes_calls() || literal_for_libevent(hostname, port))
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
	if (evhappy_takes_calls())
		error = evhappy_get_dns_error(bev);
	if (error)
		return error;
	pthread_once(&libevent_once, find_libevent);
	return libevent_get_dns_error ? libevent_get_dns_error(bev) : 0;
}
