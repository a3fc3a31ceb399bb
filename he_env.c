/*
 * Settings from the environment, for races that have no context of the
 * caller's: evhappy_socket_connect_hostname() and the interposition library
 * (he_preload.c).  A program that never calls evhappy_new() has no other
 * knobs.
 *
 * The environment is read once, on the first call that needs it
 * (pthread_once), so a program that never connects sees nothing of it: no
 * warning, no output.  Each value is checked once against the setter's range;
 * a bad one is ignored with one warning line on stderr.
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include "he_internal.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

/* A millisecond setting: whether the variable gave a usable value. */
struct env_ms {
	int set;
	struct timeval tv;
};

static struct {
	struct env_ms attempt_delay, resolution_delay, timeout;
	int history_off;
	int trace;
	int disable;
} env;

static pthread_once_t env_once = PTHREAD_ONCE_INIT;

/* Races traced so far: the trace names each race by number, since
 * concurrent races on several threads interleave on stderr. */
static unsigned long trace_races;
static pthread_mutex_t trace_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *
env_get(const char *name)
{
#ifdef HAVE_SECURE_GETENV
	/* A setuid program's user must not steer or read its connections. */
	return secure_getenv(name);
#else
	return getenv(name);
#endif
}

/* One line on stderr, written at once so lines of several threads do not
 * mix. */
static void
say(const char *line, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(STDERR_FILENO, line, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		line += n;
		len -= (size_t)n;
	}
}

static void
warn_bad(const char *name, const char *value, const char *why)
{
	char line[256];
	int n;

	n = snprintf(line, sizeof(line), "evhappy: ignoring %s=\"%.64s\": %s\n",
	    name, value, why);
	if (n > 0)
		say(line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* A whole decimal number of milliseconds, 0 .. INT_MAX; -1 if not one. */
static long
parse_ms(const char *s)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v > INT_MAX)
		return -1;
	return v;
}

typedef int (*tv_setter)(struct evhappy *, const struct timeval *);

/* Read a millisecond variable and check it with the setter itself, on a
 * scratch context, so the accepted range is the setter's and nothing else. */
static void
read_ms(const char *name, tv_setter setter, struct env_ms *out)
{
	struct evhappy scratch;
	const char *s = env_get(name);
	long ms;

	if (!s || !*s)
		return;
	if ((ms = parse_ms(s)) < 0) {
		warn_bad(name, s, "not a whole number of milliseconds");
		return;
	}
	out->tv.tv_sec = ms / 1000;
	out->tv.tv_usec = (ms % 1000) * 1000;
	memset(&scratch, 0, sizeof(scratch));
	if (setter(&scratch, &out->tv) < 0) {
		warn_bad(name, s, "out of range (see evhappy(7))");
		return;
	}
	out->set = 1;
}

/* A 0/1 variable; unset or empty gives dflt. */
static int
read_flag(const char *name, int dflt)
{
	const char *s = env_get(name);

	if (!s || !*s)
		return dflt;
	if (strcmp(s, "0") == 0)
		return 0;
	if (strcmp(s, "1") == 0)
		return 1;
	warn_bad(name, s, "expected 0 or 1");
	return dflt;
}

static void
env_read(void)
{
	read_ms("EVHAPPY_ATTEMPT_DELAY_MS", evhappy_set_connection_attempt_delay,
	    &env.attempt_delay);
	read_ms("EVHAPPY_RESOLUTION_DELAY_MS", evhappy_set_resolution_delay,
	    &env.resolution_delay);
	read_ms("EVHAPPY_TIMEOUT_MS", evhappy_set_timeout, &env.timeout);
	env.history_off = !read_flag("EVHAPPY_HISTORY", 1);
	env.trace = read_flag("EVHAPPY_TRACE", 0);
	env.disable = read_flag("EVHAPPY_DISABLE", 0);
}

int
he_env_disabled_(void)
{
	pthread_once(&env_once, env_read);
	return env.disable;
}

/* "[::1]:80" or "127.0.0.1:80". */
static void
format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%d", host, ntohs(s6->sin6_port));
	} else if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%d", host, ntohs(s4->sin_port));
	} else {
		buf[0] = '\0';
	}
}

/* What the event says beyond its kind: the address, the family and count
 * of a DNS answer, the error. */
static void
format_detail(const struct evhappy_trace *ev, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN + 10];
	const char *fam = ev->family == AF_INET6 ? "AAAA" :
	    ev->family == AF_INET ? "A" : "";
	int n = 0;

	format_addr(ev->addr, addr, sizeof(addr));
	if (ev->kind == EVHAPPY_TRACE_DNS_QUERY ||
	    ev->kind == EVHAPPY_TRACE_DNS_ANSWER)
		n = snprintf(buf, len, " %s", fam);
	else if (addr[0])
		n = snprintf(buf, len, " %s", addr);
	if (n < 0 || (size_t)n >= len)
		n = 0;
	buf[n] = '\0';
	if (ev->kind == EVHAPPY_TRACE_DNS_ANSWER && !ev->error)
		snprintf(buf + n, len - (size_t)n, " %d address%s", ev->naddrs,
		    ev->naddrs == 1 ? "" : "es");
	else if (ev->kind == EVHAPPY_TRACE_DNS_ANSWER)
		snprintf(buf + n, len - (size_t)n, " error: %s",
		    evutil_gai_strerror(ev->error));
	else if (ev->error)
		snprintf(buf + n, len - (size_t)n, " error: %s",
		    strerror(ev->error));
}

static void
trace_to_stderr(const struct evhappy_trace *ev, void *arg)
{
	char line[256], detail[160];
	long ms = (long)ev->elapsed.tv_sec * 1000 + ev->elapsed.tv_usec / 1000;
	int n;

	format_detail(ev, detail, sizeof(detail));
	n = snprintf(line, sizeof(line), "evhappy: race %lu: %4ld ms %s%s\n",
	    (unsigned long)(uintptr_t)arg, ms,
	    evhappy_trace_kind_name(ev->kind), detail);
	if (n > 0)
		say(line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

void
he_env_apply_(struct evhappy *he)
{
	unsigned long race;

	pthread_once(&env_once, env_read);
	if (env.attempt_delay.set)
		evhappy_set_connection_attempt_delay(he, &env.attempt_delay.tv);
	if (env.resolution_delay.set)
		evhappy_set_resolution_delay(he, &env.resolution_delay.tv);
	if (env.timeout.set)
		evhappy_set_timeout(he, &env.timeout.tv);
	if (env.history_off)
		evhappy_set_history(he, 0);
	if (env.trace) {
		pthread_mutex_lock(&trace_lock);
		race = ++trace_races;
		pthread_mutex_unlock(&trace_lock);
		evhappy_set_trace_cb(he, trace_to_stderr, (void *)(uintptr_t)race);
	}
}
