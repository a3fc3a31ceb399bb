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
#include "he_internal.h"
#include "he_env.h"
#include "he_fmt.h"
#include "he_histfile.h"
#include "he_limits.h"
#include "he_svcb.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct he_env env;
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

/* Read a millisecond variable into *out (and *has) when it holds a value
 * in lo .. hi microseconds: the setter's own range (he_limits.h). */
static void
read_ms(const char *name, int64_t lo, int64_t hi, int *has, int64_t *out)
{
	const char *s = env_get(name);
	long ms;

	if (!s || !*s)
		return;
	if ((ms = parse_ms(s)) < 0) {
		warn_bad(name, s, "not a whole number of milliseconds");
		return;
	}
	if ((int64_t)ms * HE_USEC_PER_MS < lo ||
	    (int64_t)ms * HE_USEC_PER_MS > hi) {
		warn_bad(name, s, "out of range (see evhappy(7))");
		return;
	}
	*out = (int64_t)ms * HE_USEC_PER_MS;
	*has = 1;
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

/* The interposition library's history file: EVHAPPY_HISTORY_FILE=PATH or
 * =off, else the user's cache (he_histfile_default_path_ has the rules;
 * a set-uid program has none and reads no variable). */
static void
read_history_file(void)
{
	const char *s = env_get("EVHAPPY_HISTORY_FILE");

	if (he_histfile_default_path_(env.history_file,
	    sizeof(env.history_file)) == HE_HF_OK)
		return;
	env.history_file[0] = '\0';
	if (s && *s && strcmp(s, "off") != 0)
		warn_bad("EVHAPPY_HISTORY_FILE", s,
		    "not an absolute path, nor \"off\"");
}

/* EVHAPPY_ALPN: a list evhappy_set_alpn() takes. */
static void
read_alpn(void)
{
	const char *s = env_get("EVHAPPY_ALPN");
	unsigned char wire[sizeof(env.alpn)];

	if (!s || !*s)
		return;
	if (strlen(s) >= sizeof(env.alpn) ||
	    he_svcb_alpn_parse_(s, wire, sizeof(wire)) < 0) {
		warn_bad("EVHAPPY_ALPN", s, "not a comma-separated list of "
		    "protocol ids (such as h2,http/1.1)");
		return;
	}
	memcpy(env.alpn, s, strlen(s) + 1);
}

/* EVHAPPY_NAT64: off, auto, or a prefix (evhappy_set_nat64_prefix()). */
static void
read_nat64(void)
{
	const char *s = env_get("EVHAPPY_NAT64");

	if (!s || !*s)
		return;
	if (he_nat64_parse_setting_(s, &env.nat64_mode,
	    &env.nat64_prefix) != 0) {
		warn_bad("EVHAPPY_NAT64", s, "expected off, auto or a NAT64 "
		    "prefix such as 64:ff9b::/96 (lengths 32, 40, 48, 56, 64, "
		    "96)");
		return;
	}
	env.has_nat64 = 1;
}

static void
env_read(void)
{
	read_ms("EVHAPPY_ATTEMPT_DELAY_MS", HE_ATTEMPT_DELAY_MIN,
	    HE_ATTEMPT_DELAY_MAX, &env.has_attempt_delay, &env.attempt_delay);
	read_ms("EVHAPPY_RESOLUTION_DELAY_MS", HE_RESOLUTION_DELAY_MIN,
	    HE_RESOLUTION_DELAY_MAX, &env.has_resolution_delay,
	    &env.resolution_delay);
	read_ms("EVHAPPY_TIMEOUT_MS", HE_TIMEOUT_MIN, HE_TIMEOUT_MAX,
	    &env.has_timeout, &env.timeout);
	env.history_off = !read_flag("EVHAPPY_HISTORY", 1);
	read_history_file();
	env.trace = read_flag("EVHAPPY_TRACE", 0);
	env.disable = read_flag("EVHAPPY_DISABLE", 0);
	env.https = read_flag("EVHAPPY_HTTPS_RR", 0);
	read_alpn();
	read_nat64();
}

const struct he_env *
he_env_(void)
{
	pthread_once(&env_once, env_read);
	return &env;
}

void
he_env_trace_(const struct evhappy_trace *ev, void *arg)
{
	char line[384];
	struct he_out o;
	long ms = (long)ev->elapsed.tv_sec * 1000 + ev->elapsed.tv_usec / 1000;

	he_out_init_(&o, line, sizeof(line) - 1);
	he_out_put_(&o, "evhappy: race %lu: %4ld ms ",
	    (unsigned long)(uintptr_t)arg, ms);
	he_out_trace_(&o, ev);
	if (o.need > sizeof(line) - 2)
		o.need = sizeof(line) - 2;
	line[o.need] = '\n';
	say(line, o.need + 1);
}

unsigned long
he_env_next_race_(void)
{
	unsigned long race;

	pthread_mutex_lock(&trace_lock);
	race = ++trace_races;
	pthread_mutex_unlock(&trace_lock);
	return race;
}
