/*
 * The evhappy tool's connection history: the file it uses by default, and
 * --history (what is known for the network the host is on) and --forget.
 *
 * Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include "evhappy_tool.h"
#include "he_age.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#define TEXT_LEN 1024

static char file[PATH_MAX];	/* the file in use, "" for none */
static int file_errno;		/* why there is none */

int
tool_history_file(void)
{
	file[0] = '\0';
	if (evhappy_default_history_file(file, sizeof(file)) < 0) {
		file_errno = errno;
		file[0] = '\0';
		if (file_errno == EINVAL)
			fprintf(stderr, "evhappy: EVHAPPY_HISTORY_FILE is not "
			    "an absolute path (nor \"off\"): no history file\n");
		return 0;	/* none: EVHAPPY_HISTORY_FILE=off, no HOME */
	}
	/* a file refused: the library said why, once; the history in
	   memory works on */
	if (evhappy_set_history_file(file) < 0) {
		file_errno = errno;
		file[0] = '\0';
		return -1;
	}
	return 0;
}

static const char *const state_names[] = {
	"unknown", "worked", "failed", "hung"
};

static const char *
state_name(int state)
{
	return state >= 0 && state <= 3 ? state_names[state] : "unknown";
}

/* "350 ms", "12 s", "4 min" */
static void
put_age(FILE *out, const struct timeval *tv)
{
	const char *unit;
	double v = he_age_in_unit_(tool_tv_ms(tv), &unit);

	fprintf(out, "%.0f %s", v, unit);
}

struct show {
	FILE *out;
	int json, n;
};

static void
show_entry(const struct evhappy_history_entry *e, void *arg)
{
	struct show *s = arg;
	char addr[TOOL_ADDRLEN];

	evhappy_sockaddr_format(e->addr, addr, sizeof(addr));
	if (s->json) {
		fprintf(s->out, "%s{\"address\":", s->n ? "," : "");
		tool_json_string(s->out, addr);
		fprintf(s->out, ",\"family\":%d,\"state\":\"%s\",\"rtt_ms\":%.3f,"
		    "\"rttvar_ms\":%.3f,\"age_ms\":%.3f,\"errno\":%d,\"error\":",
		    tool_family_number(e->addr->sa_family), state_name(e->state),
		    tool_tv_ms(&e->rtt), tool_tv_ms(&e->rttvar),
		    tool_tv_ms(&e->age), e->error);
		tool_json_string(s->out, e->error ? strerror(e->error) : NULL);
		fprintf(s->out, ",\"from_file\":%s}",
		    e->from_file ? "true" : "false");
	} else {
		fprintf(s->out, "  %-46s %-6s ", addr, state_name(e->state));
		if (e->state == EVHAPPY_HISTORY_FAILED)
			fprintf(s->out, "(%s) ", strerror(e->error));
		if (e->rtt.tv_sec || e->rtt.tv_usec)
			fprintf(s->out, "rtt %.1f ms (+-%.1f) ",
			    tool_tv_ms(&e->rtt), tool_tv_ms(&e->rttvar));
		put_age(s->out, &e->age);
		fputs(" ago\n", s->out);
	}
	s->n++;
}

/* "none (EVHAPPY_HISTORY_FILE=off ...)" and the like. */
static const char *
why_none(void)
{
	switch (file_errno) {
	case ENOENT:
		return "EVHAPPY_HISTORY_FILE=off, a set-uid program, or no HOME";
	case EINVAL:
		return "EVHAPPY_HISTORY_FILE is not an absolute path";
	default:
		return strerror(file_errno);
	}
}

static void
show_text(FILE *out, ev_uint64_t key, const char *text)
{
	struct show s;
	int n;

	if (file[0])
		fprintf(out, "history file: %s\n", file);
	else
		fprintf(out, "history file: none (%s)\n", why_none());
	fprintf(out, "network: %016llx (%s)\n", (unsigned long long)key, text);
	memset(&s, 0, sizeof(s));
	s.out = out;
	n = evhappy_history_foreach(show_entry, &s);
	if (n < 0)
		fprintf(stderr, "evhappy: --history: %s\n", strerror(errno));
	else
		fprintf(out, "%d entr%s for this network\n", n,
		    n == 1 ? "y" : "ies");
}

static void
show_json(FILE *out, ev_uint64_t key, const char *text)
{
	struct show s;
	char hex[32];
	int n;

	fputs("{\"file\":", out);
	tool_json_string(out, file[0] ? file : NULL);
	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)key);
	fputs(",\"network\":", out);
	tool_json_string(out, hex);
	fputs(",\"network_text\":", out);
	tool_json_string(out, text);
	fputs(",\"entries\":[", out);
	memset(&s, 0, sizeof(s));
	s.out = out;
	s.json = 1;
	n = evhappy_history_foreach(show_entry, &s);
	fprintf(out, "],\"count\":%d}\n", n < 0 ? 0 : n);
}

int
tool_history(int show, int forget, int json)
{
	char text[TEXT_LEN];
	ev_uint64_t key;
	int rc = TOOL_EXIT_OK;

	if (tool_history_file() < 0)
		return TOOL_EXIT_FAIL;
	evhappy_history_network(&key, text, sizeof(text));
	if (forget) {
		if (evhappy_forget_history(0) < 0) {
			fprintf(stderr, "evhappy: --forget: %s%s\n",
			    strerror(errno), errno == EWOULDBLOCK ?
			    " (another process holds the file's lock; try "
			    "again)" : "");
			rc = TOOL_EXIT_FAIL;
		} else if (!show) {
			printf("forgot what is known for network %016llx%s%s\n",
			    (unsigned long long)key, file[0] ? " in " : "",
			    file);
		}
	}
	if (show) {
		if (json)
			show_json(stdout, key, text);
		else
			show_text(stdout, key, text);
	}
	fflush(stdout);
	return rc;
}
