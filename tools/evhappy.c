/*
 * evhappy(1): connect to HOST PORT with Happy Eyeballs v2 (RFC 8305) and
 * say what happened: the address that won and how long it took, or why
 * every address failed.  --trace shows each step, --json the same facts
 * for scripts, --waterfall and --svg draw the race on a time axis,
 * --https-rr asks the HTTPS record too and shows the endpoint it chose,
 * --relay turns it into a small nc(1), --demo shows the difference to
 * libevent without a network.  See man/evhappy.1.
 *
 * Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include "evhappy_tool.h"

#include <event2/event.h>
#include <event2/dns.h>
#include <event2/util.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <netinet/in.h>

/* A guard against typos, not a limit of the library. */
#define COUNT_MAX 1000000
/* How many different winners the --count summary names. */
#define WINNERS_MAX 8

enum resolver { RES_SYSTEM, RES_DNS, RES_EVDNS };

/* An integer option: value -1 when it was not given; text for messages. */
struct num_opt {
	int value;
	const char *text;
};

struct opts {
	int family;
	struct num_opt attempt_delay, resolution_delay, interleave, timeout;
	struct num_opt max_in_flight, count;
	struct sockaddr_storage local[2];
	int local_len[2];
	int nlocal;
	enum resolver resolver;
	int nresolvers;			/* resolver options given */
	const char *dns;
	int relay, trace, json, demo;
	int waterfall;			/* --waterfall */
	const char *svg;		/* --svg FILE, or NULL */
	int no_history;
	int https_rr;			/* --https-rr */
	const char *alpn;		/* --alpn LIST, or NULL */
	int show_history, forget;	/* --history, --forget */
	const char *nat64_prefix;	/* --nat64-prefix PREFIX/LEN */
	int no_nat64;			/* --no-nat64 */
	int nother;			/* options given besides --demo */
	const char *host;
	int port;
};

/* One attempt, copied out of the report (which dies with its callback). */
struct attempt_rec {
	struct sockaddr_storage addr;
	int error;
	double started_ms, ended_ms;
};

/* One trace event, kept for --json. */
struct event_rec {
	enum evhappy_trace_kind kind;
	double ms;
	int family;
	int has_addr;
	struct sockaddr_storage addr;
	int error;
	int naddrs;
	/* EVHAPPY_TRACE_HISTORY */
	int history, moved, has_after;
	double age_ms, rtt_ms, delay_ms;
	struct sockaddr_storage after;
	int from_file;
	/* what the event says (HTTPS records; a NETWORK event's routes),
	   and an ENDPOINT's endpoint */
	char *text;
	struct evhappy_endpoint *endpoint;
	ev_uint64_t network;		/* EVHAPPY_TRACE_NETWORK */
	/* EVHAPPY_TRACE_NAT64_PREFIX, _SYNTH */
	int has_v4, prefix_len, nat64_source;
	struct sockaddr_storage v4;
};

/* A NAT64 address of one connect and the IPv4 address it stands for. */
struct synth_rec {
	char v6[TOOL_ADDRLEN], v4[TOOL_ADDRLEN];
};
#define SYNTHS_MAX 8

/* What one connect came to. */
struct result {
	int done;
	evutil_socket_t fd;
	int error, dns_error;
	double started, elapsed_ms;
	char winner[TOOL_ADDRLEN];
	char *line;			/* evhappy_report_format() */
	char *waterfall, *svg;		/* --waterfall, --svg: the drawings */
	struct evhappy_endpoint *endpoint;	/* the winner's, or NULL */
	struct attempt_rec *attempts;
	int nattempts;
	struct event_rec *events;
	int nevents, events_cap;
	struct synth_rec synths[SYNTHS_MAX];	/* for the result line */
	int nsynths;
};

/* Winners of a --count run, for its summary. */
struct winner_tally {
	char addr[TOOL_ADDRLEN];
	int n;
};

struct app {
	const struct opts *o;
	struct event_base *base;
	struct evdns_base *dns;
	struct evhappy *he;
	struct result res;
	int index;			/* 1-based number of this connect */
	int ok, failed;
	double min_ms, max_ms, sum_ms;
	int prev_ok;
	char prev_winner[TOOL_ADDRLEN];
	double prev_ms;
	struct winner_tally winners[WINNERS_MAX];
	int nwinners;
	/* --waterfall, --svg: how to draw, and the slowest connect's */
	enum evhappy_report_style style;
	int width;
	FILE *svg_file;
	int slowest;			/* its number, 0 before the first */
	double slowest_ms;
	char *slowest_waterfall, *slowest_svg;
};

/* ------------------------------------------------------------------------ */
/* Usage */

static void
help(void)
{
	char path[PATH_MAX];

	printf(
"Usage: evhappy [options] HOST PORT\n"
"       evhappy --demo\n"
"       evhappy [--forget] [--history [--json]]\n"
"Connect to HOST PORT with Happy Eyeballs v2 (RFC 8305), as libevhappy\n"
"does it, and print the address that won and how long it took.\n"
"\n"
"Racing (RFC 8305 section 8):\n"
"  -4, -6                  use only IPv4, only IPv6\n"
"  --attempt-delay MS      Connection Attempt Delay (%d; 10..2000)\n"
"  --resolution-delay MS   Resolution Delay (%d; 0..1000)\n"
"  --interleave N          First Address Family Count (1; 1 or more)\n"
"  --timeout MS            overall timeout, DNS and connect (%d)\n"
"  --max-in-flight N       attempts in flight at once (%d; 1 or more)\n"
"  --local ADDR            bind to this literal (once per family)\n"
"  --no-history            neither use nor feed the connection history,\n"
"                          nor its file (default: %s)\n"
"HTTPS records (RFC 9460, the Happy Eyeballs v3 draft):\n"
"  --https-rr              ask the HTTPS record too; race its endpoints\n"
"  --alpn LIST             the ALPN ids spoken, for --https-rr's choice of\n"
"                          endpoints (http/1.1; e.g. h2,http/1.1)\n"
"IPv6-only networks (NAT64; default: discover the prefix, synthesize when\n"
"the host has no IPv4 route):\n"
"  --nat64-prefix P/LEN    synthesize with this prefix (LEN 32, 40, 48,\n"
"                          56, 64 or 96), discover nothing\n"
"  --no-nat64              never synthesize\n"
"Resolving (default: --system-resolver):\n"
"  --system-resolver       getaddrinfo(3): /etc/hosts, nsswitch, DNS\n"
"  --dns SERVER[:PORT]     ask only this DNS server ([ADDR]:PORT for IPv6)\n"
"  --evdns                 libevent's resolver, /etc/resolv.conf and hosts\n"
"Output and modes:\n"
"  --trace                 a timeline of every step, on stderr\n"
"  --json                  one JSON object on stdout, with the trace\n"
"  --waterfall             draw the race: a row per DNS query and attempt\n"
"                          on one time axis (COLUMNS wide, NO_COLOR)\n"
"  --svg FILE              the same picture as an SVG file\n"
"  --count N               connect N times with one context; a summary\n"
"                          (with --waterfall, --svg: the slowest and last)\n"
"  --relay                 then copy stdin to the socket, socket to stdout\n"
"  --demo                  Happy Eyeballs against libevent, offline\n"
"  --history               what the history knows for this network\n"
"  --forget                forget it, here and in the history file\n"
"  -h, --help              this help\n"
"  --version               the versions of evhappy and libevent\n"
"\n"
"Exit status: 0 connected, 1 failed, 2 usage error.  See evhappy(1).\n",
	    EVHAPPY_DEFAULT_ATTEMPT_DELAY_MS,
	    EVHAPPY_DEFAULT_RESOLUTION_DELAY_MS, EVHAPPY_DEFAULT_TIMEOUT_MS,
	    EVHAPPY_DEFAULT_MAX_IN_FLIGHT,
	    evhappy_default_history_file(path, sizeof(path)) == 0 ? path :
	    "none");
}

/* Say what is wrong with the command line.  Returns -1 for the caller to
   pass on; the exit status is then TOOL_EXIT_USAGE. */
static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("evhappy: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'evhappy --help' for more information.\n", stderr);
	return -1;
}

/* ------------------------------------------------------------------------ */
/* Parsing the command line */

enum {
	OPT_ATTEMPT_DELAY = 256, OPT_RESOLUTION_DELAY, OPT_INTERLEAVE,
	OPT_TIMEOUT, OPT_MAX_IN_FLIGHT, OPT_COUNT, OPT_LOCAL, OPT_DNS,
	OPT_SYSTEM_RESOLVER, OPT_EVDNS, OPT_RELAY, OPT_TRACE, OPT_JSON,
	OPT_DEMO, OPT_VERSION, OPT_NO_HISTORY, OPT_WATERFALL, OPT_SVG,
	OPT_HTTPS_RR, OPT_ALPN, OPT_HISTORY, OPT_FORGET, OPT_NAT64_PREFIX,
	OPT_NO_NAT64
};

static const struct option long_options[] = {
	{ "attempt-delay", required_argument, NULL, OPT_ATTEMPT_DELAY },
	{ "resolution-delay", required_argument, NULL, OPT_RESOLUTION_DELAY },
	{ "interleave", required_argument, NULL, OPT_INTERLEAVE },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "max-in-flight", required_argument, NULL, OPT_MAX_IN_FLIGHT },
	{ "count", required_argument, NULL, OPT_COUNT },
	{ "local", required_argument, NULL, OPT_LOCAL },
	{ "dns", required_argument, NULL, OPT_DNS },
	{ "system-resolver", no_argument, NULL, OPT_SYSTEM_RESOLVER },
	{ "evdns", no_argument, NULL, OPT_EVDNS },
	{ "relay", no_argument, NULL, OPT_RELAY },
	{ "trace", no_argument, NULL, OPT_TRACE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "no-history", no_argument, NULL, OPT_NO_HISTORY },
	{ "waterfall", no_argument, NULL, OPT_WATERFALL },
	{ "svg", required_argument, NULL, OPT_SVG },
	{ "https-rr", no_argument, NULL, OPT_HTTPS_RR },
	{ "alpn", required_argument, NULL, OPT_ALPN },
	{ "nat64-prefix", required_argument, NULL, OPT_NAT64_PREFIX },
	{ "no-nat64", no_argument, NULL, OPT_NO_NAT64 },
	{ "demo", no_argument, NULL, OPT_DEMO },
	{ "history", no_argument, NULL, OPT_HISTORY },
	{ "forget", no_argument, NULL, OPT_FORGET },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 }
};

/* A decimal number 0..INT_MAX and nothing else.  Whether it is in range
   is for the library's setters to say: they know their limits. */
static int
parse_number(const char *name, const char *s, int *out)
{
	char *end;
	long v;

	if (s[0] == '-')
		return usage_error("%s: '%s' must not be negative", name, s);
	if (s[0] < '0' || s[0] > '9')
		return usage_error("%s: '%s' is not a number", name, s);
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end)
		return usage_error("%s: '%s' is not a number", name, s);
	if (errno == ERANGE || v > INT_MAX)
		return usage_error("%s: '%s' is too large", name, s);
	*out = (int)v;
	return 0;
}

static int
parse_num_opt(const char *name, const char *s, struct num_opt *n)
{
	n->text = s;
	return parse_number(name, s, &n->value);
}

static int
parse_port(const char *s, int *port)
{
	if (parse_number("PORT", s, port) < 0)
		return -1;
	if (*port < 1 || *port > 65535)
		return usage_error("PORT: '%s' is not in 1..65535", s);
	return 0;
}

/* --local: a literal, at most one per family, since an attempt binds to
   the first address of its family anyway. */
static int
parse_local(struct opts *o, const char *s)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss), i;

	memset(&ss, 0, sizeof(ss));
	if (evutil_parse_sockaddr_port(s, (struct sockaddr *)&ss, &len) < 0)
		return usage_error("--local: '%s' is not an IPv4 or IPv6 "
		    "address", s);
	for (i = 0; i < o->nlocal; i++)
		if (o->local[i].ss_family == ss.ss_family)
			return usage_error("--local: one address per family; "
			    "'%s' is the second IPv%d one", s,
			    tool_family_number(ss.ss_family));
	o->local[o->nlocal] = ss;
	o->local_len[o->nlocal++] = len;
	return 0;
}

static int
set_resolver(struct opts *o, enum resolver r)
{
	o->resolver = r;
	o->nresolvers++;
	return 0;
}

static int
parse_dns(struct opts *o, const char *s)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	/* evdns_base_nameserver_ip_add() parses the same way; checking here
	   makes a typo a usage error. */
	if (evutil_parse_sockaddr_port(s, (struct sockaddr *)&ss, &len) < 0)
		return usage_error("--dns: '%s' is not ADDR, ADDR:PORT or "
		    "[ADDR]:PORT", s);
	o->dns = s;
	return set_resolver(o, RES_DNS);
}

static int
parse_family(struct opts *o, int family)
{
	if (o->family != AF_UNSPEC && o->family != family)
		return usage_error("-4 and -6 exclude each other");
	o->family = family;
	return 0;
}

/* One option; 0, -1 on a usage error, or 1 when it was --help/--version
   and the program is done. */
static int
parse_option(struct opts *o, int c, const char *arg)
{
	switch (c) {
	case '4': return parse_family(o, AF_INET);
	case '6': return parse_family(o, AF_INET6);
	case OPT_ATTEMPT_DELAY:
		return parse_num_opt("--attempt-delay", arg, &o->attempt_delay);
	case OPT_RESOLUTION_DELAY:
		return parse_num_opt("--resolution-delay", arg,
		    &o->resolution_delay);
	case OPT_INTERLEAVE:
		return parse_num_opt("--interleave", arg, &o->interleave);
	case OPT_TIMEOUT: return parse_num_opt("--timeout", arg, &o->timeout);
	case OPT_MAX_IN_FLIGHT:
		return parse_num_opt("--max-in-flight", arg, &o->max_in_flight);
	case OPT_COUNT: return parse_num_opt("--count", arg, &o->count);
	case OPT_LOCAL: return parse_local(o, arg);
	case OPT_DNS: return parse_dns(o, arg);
	case OPT_SYSTEM_RESOLVER: return set_resolver(o, RES_SYSTEM);
	case OPT_EVDNS: return set_resolver(o, RES_EVDNS);
	case OPT_RELAY: o->relay = 1; return 0;
	case OPT_TRACE: o->trace = 1; return 0;
	case OPT_JSON: o->json = 1; return 0;
	case OPT_NO_HISTORY: o->no_history = 1; return 0;
	case OPT_HISTORY: o->show_history = 1; return 0;
	case OPT_FORGET: o->forget = 1; return 0;
	case OPT_WATERFALL: o->waterfall = 1; return 0;
	case OPT_HTTPS_RR: o->https_rr = 1; return 0;
	/* evhappy_set_alpn() judges the list (app_setup) */
	case OPT_ALPN: o->alpn = arg; return 0;
	case OPT_SVG:
		if (!*arg)
			return usage_error("--svg: FILE is empty");
		o->svg = arg;
		return 0;
	case OPT_NAT64_PREFIX: o->nat64_prefix = arg; return 0;
	case OPT_NO_NAT64: o->no_nat64 = 1; return 0;
	case 'h': help(); return 1;
	case OPT_VERSION:
		printf("evhappy %s (libevent %s)\n", evhappy_get_version(),
		    event_get_version());
		/* HTTPS records: c-ares asks them for evdns contexts; the
		   system resolver's res_nquery is always there */
#ifdef HAVE_CARES
		printf("features: c-ares %s (HTTPS records over evdns), "
		    "res_nquery\n", HE_CARES_VERSION);
#else
		printf("features: res_nquery (built without c-ares: no HTTPS "
		    "records over evdns)\n");
#endif
		return 1;
	}
	return 0;
}

/* getopt_long's complaint, in our words and under our name (argv[0] may
   be a libtool wrapper's). */
static int
bad_option(int c, char **argv)
{
	const char *arg = argv[optind - 1];

	if (c == ':')
		return usage_error("option '%s' needs an argument", arg);
	if (optopt > 0 && optopt < 256)
		return usage_error("unknown option '-%c'", optopt);
	/* glibc sets optopt to the option's value when a long option that
	   takes no argument was given one ("--trace=1"). */
	if (optopt >= 256)
		return usage_error("option '%s' takes no argument", arg);
	return usage_error("unknown or ambiguous option '%s'", arg);
}

/* Options that cannot go together, and what --count defaults to. */
static int
check_combinations(struct opts *o)
{
	if (o->nresolvers > 1)
		return usage_error("one resolver, once: --dns, --evdns or "
		    "--system-resolver");
	if (o->count.value == 0 || o->count.value > COUNT_MAX)
		return usage_error("--count: '%s' is not in 1..%d",
		    o->count.text, COUNT_MAX);
	if (o->count.value < 0)
		o->count.value = 1;
	if (o->relay && o->count.value > 1)
		return usage_error("--relay needs a single connect, not "
		    "--count %d", o->count.value);
	if (o->relay && o->json)
		return usage_error("--relay and --json would both write "
		    "stdout");
	if (o->waterfall && o->json)
		return usage_error("--waterfall and --json would both write "
		    "stdout");
	/* Without HTTPS records the list would be set and never read. */
	if (o->alpn && !o->https_rr)
		return usage_error("--alpn needs --https-rr");
	if (o->nat64_prefix && o->no_nat64)
		return usage_error("--nat64-prefix and --no-nat64 exclude "
		    "each other");
	return 0;
}

static int
parse_operands(struct opts *o, int argc, char **argv)
{
	if (o->demo) {
		if (o->nother || argc > 0)
			return usage_error("--demo takes no other options "
			    "and no HOST PORT");
		return 0;
	}
	if (o->show_history || o->forget) {
		if (argc > 0 || o->nother > o->show_history + o->forget +
		    (o->json && o->show_history))
			return usage_error("--history and --forget take no "
			    "HOST PORT and no other option but --json (with "
			    "--history)");
		return 0;
	}
	if (argc < 2)
		return usage_error("HOST and PORT are needed");
	if (argc > 2)
		return usage_error("too many arguments: '%s'", argv[2]);
	if (!argv[0][0])
		return usage_error("HOST is empty");
	o->host = argv[0];
	return parse_port(argv[1], &o->port);
}

static void
opts_init(struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->family = AF_UNSPEC;
	o->attempt_delay.value = o->resolution_delay.value = -1;
	o->interleave.value = o->timeout.value = -1;
	o->max_in_flight.value = o->count.value = -1;
	o->resolver = RES_SYSTEM;
}

/* -1 to go on, else the exit status. */
static int
parse_args(struct opts *o, int argc, char **argv)
{
	int c, r;

	opts_init(o);
	/* ':' first: a missing argument is ':', not '?'; opterr 0: we say
	   it ourselves. */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":46h", long_options, NULL))
	    != -1) {
		if (c == '?' || c == ':') {
			bad_option(c, argv);
			return TOOL_EXIT_USAGE;
		}
		if (c == OPT_DEMO) {
			o->demo = 1;
			continue;
		}
		o->nother++;
		if ((r = parse_option(o, c, optarg)) != 0)
			return r > 0 ? TOOL_EXIT_OK : TOOL_EXIT_USAGE;
	}
	if (parse_operands(o, argc - optind, argv + optind) < 0)
		return TOOL_EXIT_USAGE;
	if (!o->demo && !o->show_history && !o->forget &&
	    check_combinations(o) < 0)
		return TOOL_EXIT_USAGE;
	return -1;
}

/* ------------------------------------------------------------------------ */
/* The context */

/* One numeric setting and how to hand it to the library. */
struct setting {
	const char *name;
	const char *range;	/* for the message; the setter decides */
	size_t offset;		/* of its struct num_opt in struct opts */
	int (*set_tv)(struct evhappy *, const struct timeval *);
	int (*set_int)(struct evhappy *, int);
};

static const struct setting settings[] = {
	{ "--attempt-delay", "10..2000 ms",
	  offsetof(struct opts, attempt_delay),
	  evhappy_set_connection_attempt_delay, NULL },
	{ "--resolution-delay", "0..1000 ms",
	  offsetof(struct opts, resolution_delay),
	  evhappy_set_resolution_delay, NULL },
	{ "--timeout", "more than 0 ms", offsetof(struct opts, timeout),
	  evhappy_set_timeout, NULL },
	{ "--interleave", "1 or more", offsetof(struct opts, interleave),
	  NULL, evhappy_set_first_address_family_count },
	{ "--max-in-flight", "1 or more", offsetof(struct opts, max_in_flight),
	  NULL, evhappy_set_max_attempts_in_flight },
};

/* An exit status: a value the setter refuses is a usage error. */
static int
apply_setting(struct evhappy *he, const struct opts *o,
    const struct setting *s)
{
	const struct num_opt *n =
	    (const void *)((const char *)o + s->offset);
	struct timeval tv;
	int r;

	if (n->value < 0)
		return TOOL_EXIT_OK;
	tv.tv_sec = n->value / 1000;
	tv.tv_usec = (n->value % 1000) * 1000;
	r = s->set_tv ? s->set_tv(he, &tv) : s->set_int(he, n->value);
	if (r == 0)
		return TOOL_EXIT_OK;
	if (errno == EINVAL) {
		usage_error("%s: '%s' is out of range (%s)", s->name, n->text,
		    s->range);
		return TOOL_EXIT_USAGE;
	}
	fprintf(stderr, "evhappy: %s: %s\n", s->name, strerror(errno));
	return TOOL_EXIT_FAIL;
}

static int
apply_local(struct evhappy *he, const struct opts *o)
{
	struct evutil_addrinfo *list = NULL, *one;
	int i, r = -1;

	if (!o->nlocal)
		return 0;
	for (i = o->nlocal - 1; i >= 0; i--) {
		one = evhappy_addrinfo_from_sockaddr(
		    (const struct sockaddr *)&o->local[i],
		    (ev_socklen_t)o->local_len[i]);
		if (!one)
			goto end;
		one->ai_next = list;
		list = one;
	}
	r = evhappy_set_local_addrinfo(he, list);
end:
	if (r < 0)
		fprintf(stderr, "evhappy: --local: %s\n", strerror(errno));
	evhappy_addrinfo_free(list);
	return r;
}

/* --https-rr and --alpn: an exit status; a list the library refuses is
   a usage error. */
static int
apply_https(struct evhappy *he, const struct opts *o)
{
	if (!o->https_rr)
		return TOOL_EXIT_OK;
	if (evhappy_set_https_records(he, 1) < 0) {
		fprintf(stderr, "evhappy: --https-rr: %s\n", strerror(errno));
		return TOOL_EXIT_FAIL;
	}
	if (!o->alpn || evhappy_set_alpn(he, o->alpn) == 0)
		return TOOL_EXIT_OK;
	if (errno == EINVAL) {
		usage_error("--alpn: '%s' is not a list of ALPN ids (comma-"
		    "separated, each 1 to 255 bytes, as h2,http/1.1)", o->alpn);
		return TOOL_EXIT_USAGE;
	}
	fprintf(stderr, "evhappy: --alpn: %s\n", strerror(errno));
	return TOOL_EXIT_FAIL;
}

/* --nat64-prefix, --no-nat64: an exit status; what the setter refuses is
   a usage error. */
static int
apply_nat64(struct evhappy *he, const struct opts *o)
{
	struct sockaddr_in6 p;
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash;
	int len;

	if (o->no_nat64)
		return evhappy_set_nat64_prefix(he, NULL, 0) == 0 ?
		    TOOL_EXIT_OK : TOOL_EXIT_FAIL;
	if (!o->nat64_prefix)
		return TOOL_EXIT_OK;
	memset(&p, 0, sizeof(p));
	p.sin6_family = AF_INET6;
	slash = strchr(o->nat64_prefix, '/');
	if (!slash || (size_t)(slash - o->nat64_prefix) >= sizeof(addr))
		goto bad;
	memcpy(addr, o->nat64_prefix, (size_t)(slash - o->nat64_prefix));
	addr[slash - o->nat64_prefix] = '\0';
	if (evutil_inet_pton(AF_INET6, addr, &p.sin6_addr) != 1 ||
	    strspn(slash + 1, "0123456789") != strlen(slash + 1) ||
	    strlen(slash + 1) < 1 || strlen(slash + 1) > 3)
		goto bad;
	len = atoi(slash + 1);
	if (evhappy_set_nat64_prefix(he, &p, len) == 0)
		return TOOL_EXIT_OK;
bad:
	usage_error("--nat64-prefix: '%s' is not a NAT64 prefix (an IPv6 "
	    "prefix and its length, 32, 40, 48, 56, 64 or 96, with no bit "
	    "set past it: 64:ff9b::/96)", o->nat64_prefix);
	return TOOL_EXIT_USAGE;
}

/* The resolver: none (the system's), evdns with one server, or evdns as
   /etc/resolv.conf says. */
static int
make_dns(struct app *app)
{
	const struct opts *o = app->o;

	if (o->resolver == RES_SYSTEM)
		return 0;
	if (o->resolver == RES_EVDNS) {
		app->dns = evdns_base_new(app->base,
		    EVDNS_BASE_INITIALIZE_NAMESERVERS);
		if (!app->dns)
			fprintf(stderr, "evhappy: --evdns: cannot read "
			    "/etc/resolv.conf\n");
		return app->dns ? 0 : -1;
	}
	/* Flags 0: no resolv.conf, no hosts file, no search list; the one
	   server asked for is all there is. */
	app->dns = evdns_base_new(app->base, 0);
	if (!app->dns ||
	    evdns_base_nameserver_ip_add(app->dns, o->dns) != 0) {
		fprintf(stderr, "evhappy: --dns: cannot use '%s'\n", o->dns);
		return -1;
	}
	return 0;
}

static struct event_base *
make_base(const struct opts *o)
{
	struct event_config *cfg;
	struct event_base *base;

	if (!o->relay)
		return event_base_new();
	/* --relay watches stdin, which may be a regular file: epoll cannot
	   watch those, poll and select can. */
	if (!(cfg = event_config_new()))
		return NULL;
	event_config_require_features(cfg, EV_FEATURE_FDS);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

static void on_trace(const struct evhappy_trace *ev, void *arg);

/* Colour only for a terminal, and not when NO_COLOR is set to anything
   (no-color.org). */
static int
use_color(FILE *out)
{
	const char *no = getenv("NO_COLOR");

	return isatty(fileno(out)) && !(no && *no);
}

/* The terminal's width: COLUMNS, else what the terminal says, else 80;
   never below 60 (the waterfall needs them). */
static int
columns(FILE *out)
{
	const char *s = getenv("COLUMNS");
	struct winsize ws;
	char *end;
	long n = 0;

	if (s && *s) {
		n = strtol(s, &end, 10);
		if (*end || n <= 0 || n > 1000)
			n = 0;
	}
	if (n == 0 && isatty(fileno(out)) &&
	    ioctl(fileno(out), TIOCGWINSZ, &ws) == 0)
		n = ws.ws_col;
	if (n == 0)
		n = 80;
	return n < 60 ? 60 : (int)n;
}

/* --waterfall draws where the result line would go; --svg's file is
   opened now, so that a path that cannot be written fails before any
   connect. */
static int
drawing_setup(struct app *app)
{
	FILE *out = app->o->relay ? stderr : stdout;

	app->style = use_color(out) ? EVHAPPY_REPORT_WATERFALL_COLOR :
	    EVHAPPY_REPORT_WATERFALL;
	app->width = columns(out);
	if (app->o->svg && !(app->svg_file = fopen(app->o->svg, "w"))) {
		fprintf(stderr, "evhappy: --svg %s: %s\n", app->o->svg,
		    strerror(errno));
		return TOOL_EXIT_FAIL;
	}
	return TOOL_EXIT_OK;
}

/* The exit status when the context cannot be made as asked. */
static int
app_setup(struct app *app)
{
	size_t i;
	int rc;

	if (!(app->base = make_base(app->o))) {
		fprintf(stderr, "evhappy: cannot make an event base\n");
		return TOOL_EXIT_FAIL;
	}
	if (make_dns(app) < 0 || drawing_setup(app) != TOOL_EXIT_OK)
		return TOOL_EXIT_FAIL;
	if (!(app->he = evhappy_new(app->base, app->dns))) {
		fprintf(stderr, "evhappy: %s\n", strerror(errno));
		return TOOL_EXIT_FAIL;
	}
	for (i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
		if ((rc = apply_setting(app->he, app->o, &settings[i])) != 0)
			return rc;
	if (apply_local(app->he, app->o) < 0)
		return TOOL_EXIT_FAIL;
	if ((rc = apply_https(app->he, app->o)) != TOOL_EXIT_OK)
		return rc;
	/* The history file, unless --no-history: a file refused is said
	   once by the library; the history in memory works on. */
	if (app->o->no_history)
		evhappy_set_history(app->he, 0);
	else
		(void)tool_history_file();
	if ((rc = apply_nat64(app->he, app->o)) != TOOL_EXIT_OK)
		return rc;
	evhappy_set_trace_cb(app->he, on_trace, app);
	return TOOL_EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* One connect */

static void
result_clear(struct result *res)
{
	int i;

	for (i = 0; i < res->nevents; i++) {
		free(res->events[i].text);
		tool_endpoint_free(res->events[i].endpoint);
	}
	tool_endpoint_free(res->endpoint);
	free(res->line);
	free(res->waterfall);
	free(res->svg);
	free(res->attempts);
	free(res->events);
	memset(res, 0, sizeof(*res));
	res->fd = -1;
}

/* A NAT64 event's own fields. */
static void
record_nat64(struct event_rec *e, const struct evhappy_trace *ev)
{
	e->prefix_len = ev->nat64_prefix_len;
	e->nat64_source = ev->nat64_source;
	if (ev->nat64_v4 && ev->nat64_v4len <= sizeof(e->v4)) {
		memcpy(&e->v4, ev->nat64_v4, ev->nat64_v4len);
		e->has_v4 = 1;
	}
}

/* Which IPv4 address a synthesized one stands for, for the result line. */
static void
record_synth(struct result *res, const struct evhappy_trace *ev)
{
	struct synth_rec *s;

	if (ev->kind != EVHAPPY_TRACE_NAT64_SYNTH || ev->error || !ev->addr ||
	    !ev->nat64_v4 || res->nsynths == SYNTHS_MAX)
		return;
	s = &res->synths[res->nsynths++];
	evhappy_sockaddr_format(ev->addr, s->v6, sizeof(s->v6));
	evhappy_sockaddr_format(ev->nat64_v4, s->v4, sizeof(s->v4));
}

static void
record_event(struct result *res, const struct evhappy_trace *ev)
{
	struct event_rec *e;

	if (res->nevents == res->events_cap) {
		int cap = res->events_cap ? res->events_cap * 2 : 16;
		e = realloc(res->events, (size_t)cap * sizeof(*e));
		if (!e)
			return;	/* the JSON misses an event; no more */
		res->events = e;
		res->events_cap = cap;
	}
	e = &res->events[res->nevents++];
	memset(e, 0, sizeof(*e));
	e->kind = ev->kind;
	e->ms = tool_tv_ms(&ev->elapsed);
	e->family = ev->addr ? ev->addr->sa_family : ev->family;
	e->error = ev->error;
	e->naddrs = ev->naddrs;
	if (ev->addr && ev->addrlen <= sizeof(e->addr)) {
		memcpy(&e->addr, ev->addr, ev->addrlen);
		e->has_addr = 1;
	}
	/* Out of memory, the JSON misses the text or the endpoint. */
	if (ev->text)
		e->text = strdup(ev->text);
	if (ev->kind == EVHAPPY_TRACE_ENDPOINT)
		e->endpoint = tool_endpoint_dup(ev->endpoint);
	if (ev->kind == EVHAPPY_TRACE_NETWORK) {
		e->network = ev->network;
		return;
	}
	if (ev->kind == EVHAPPY_TRACE_NAT64_PREFIX ||
	    ev->kind == EVHAPPY_TRACE_NAT64_SYNTH) {
		record_nat64(e, ev);
		return;
	}
	if (ev->kind != EVHAPPY_TRACE_HISTORY)
		return;
	e->from_file = ev->from_file;
	e->history = ev->history;
	e->moved = ev->moved;
	e->age_ms = tool_tv_ms(&ev->age);
	e->rtt_ms = tool_tv_ms(&ev->rtt);
	e->delay_ms = tool_tv_ms(&ev->delay);
	if (ev->after && ev->afterlen <= sizeof(e->after)) {
		memcpy(&e->after, ev->after, ev->afterlen);
		e->has_after = 1;
	}
}

static void
on_trace(const struct evhappy_trace *ev, void *arg)
{
	struct app *app = arg;

	if (app->o->trace)
		tool_trace_print(stderr, "", ev);
	if (app->o->json)
		record_event(&app->res, ev);
	record_synth(&app->res, ev);
}

static void
record_attempts(struct result *res, const struct evhappy_report *r)
{
	int i, n = evhappy_report_attempt_count(r);
	struct timeval started, ended;

	if (n <= 0)
		return;
	if (!(res->attempts = calloc((size_t)n, sizeof(*res->attempts))))
		return;	/* the JSON misses the attempts; no more */
	for (i = 0; i < n; i++) {
		struct attempt_rec *a = &res->attempts[res->nattempts];
		if (evhappy_report_attempt(r, i, &a->addr, &a->error,
			&started, &ended) < 0)
			continue;
		a->started_ms = tool_tv_ms(&started);
		a->ended_ms = tool_tv_ms(&ended);
		res->nattempts++;
	}
}

static void
record_line(struct result *res, const struct evhappy_report *r)
{
	int n = evhappy_report_format(r, NULL, 0);

	if (n < 0 || !(res->line = malloc((size_t)n + 1)))
		return;
	evhappy_report_format(r, res->line, (size_t)n + 1);
}

/* A drawing of the report (evhappy_report_format_style), or NULL. */
static char *
draw(const struct evhappy_report *r, enum evhappy_report_style style,
    int width)
{
	int n = evhappy_report_format_style(r, style, width, NULL, 0);
	char *s;

	if (n < 0 || !(s = malloc((size_t)n + 1)))
		return NULL;
	evhappy_report_format_style(r, style, width, s, (size_t)n + 1);
	return s;
}

/* The winner as the kernel sees it; failing that, the attempt that won. */
static void
record_winner(struct result *res)
{
	struct sockaddr_storage ss;
	ev_socklen_t len = sizeof(ss);
	int i;

	if (getpeername(res->fd, (struct sockaddr *)&ss, &len) == 0) {
		evhappy_sockaddr_format((struct sockaddr *)&ss, res->winner,
		    sizeof(res->winner));
		return;
	}
	for (i = 0; i < res->nattempts; i++)
		if (res->attempts[i].error == 0)
			evhappy_sockaddr_format(
			    (struct sockaddr *)&res->attempts[i].addr,
			    res->winner, sizeof(res->winner));
}

static void
on_connect(evutil_socket_t fd, const struct evhappy_report *r, void *arg)
{
	struct app *app = arg;
	struct result *res = &app->res;

	res->done = 1;
	res->fd = fd;
	res->elapsed_ms = tool_now_ms() - res->started;
	res->error = evhappy_report_error(r);
	res->dns_error = evhappy_report_dns_error(r);
	record_attempts(res, r);
	record_line(res, r);
	res->endpoint = tool_endpoint_dup(evhappy_report_get_endpoint(r));
	if (app->o->waterfall)
		res->waterfall = draw(r, app->style, app->width);
	if (app->o->svg)
		res->svg = draw(r, EVHAPPY_REPORT_SVG, 0);
	if (fd >= 0)
		record_winner(res);
	event_base_loopbreak(app->base);
}

/* Run one connect to its end.  0 when it ran (app->res says how it
   went), else the exit status. */
static int
connect_once(struct app *app)
{
	const struct opts *o = app->o;
	struct evhappy_request *req;

	result_clear(&app->res);
	app->res.started = tool_now_ms();
	req = evhappy_resolve_and_connect(app->he, o->family, o->host,
	    o->port, on_connect, app);
	if (!req && errno == EINVAL)
		return usage_error("HOST: '%s' is not a name or an address",
		    o->host), TOOL_EXIT_USAGE;
	if (!req) {
		fprintf(stderr, "evhappy: %s\n", strerror(errno));
		return TOOL_EXIT_FAIL;
	}
	while (!app->res.done) {
		/* 0 is our loopbreak; 1 (nothing left to wait for) or -1
		   before the callback would be a library bug. */
		if (event_base_dispatch(app->base) != 0 && !app->res.done) {
			evhappy_request_cancel(req);
			fprintf(stderr, "evhappy: the event loop ran dry "
			    "before the connect ended\n");
			return TOOL_EXIT_FAIL;
		}
	}
	return TOOL_EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* Text output */

static void
print_time_change(FILE *out, double diff)
{
	/* Rounded as printed, so that no "-0.0" appears. */
	if (diff > -0.05 && diff < 0.05)
		fprintf(out, " (same winner, same time)");
	else
		fprintf(out, " (same winner, %.1f ms %s)",
		    diff < 0 ? -diff : diff, diff < 0 ? "faster" : "slower");
}

/* With --count: how this connect differs from the one before. */
static void
print_change(const struct app *app, FILE *out)
{
	const struct result *res = &app->res;

	fprintf(out, ", %d attempt%s", res->nattempts,
	    res->nattempts == 1 ? "" : "s");
	if (app->index == 1)
		return;
	if (!app->prev_ok)
		fprintf(out, " (the connect before failed)");
	else if (strcmp(app->prev_winner, res->winner))
		fprintf(out, " (winner changed, was %s)", app->prev_winner);
	else
		print_time_change(out, res->elapsed_ms - app->prev_ms);
}

/* The IPv4 address the winner stands for when it was synthesized (NAT64),
   or NULL. */
static const char *
nat64_for(const struct result *res)
{
	int i;

	for (i = 0; i < res->nsynths; i++)
		if (!strcmp(res->synths[i].v6, res->winner))
			return res->synths[i].v4;
	return NULL;
}

static void
print_result(const struct app *app, FILE *out)
{
	const struct result *res = &app->res;
	int count = app->o->count.value;

	if (count > 1)
		fprintf(out, "[%d/%d] ", app->index, count);
	if (res->fd >= 0)
		fprintf(out, "connected to %s%s%s in %.1f ms", res->winner,
		    nat64_for(res) ? " for " : "",
		    nat64_for(res) ? nat64_for(res) : "", res->elapsed_ms);
	else if (res->line)
		fputs(res->line, out);
	else
		fprintf(out, "failed after %.1f ms: %s", res->elapsed_ms,
		    strerror(res->error));
	if (count > 1 && res->fd >= 0)
		print_change(app, out);
	fputc('\n', out);
}

/* With --https-rr: the HTTPS endpoint the winner belongs to, on a line
   of its own under the result. */
static void
print_endpoint(const struct app *app, FILE *out)
{
	const struct result *res = &app->res;

	if (!app->o->https_rr || res->fd < 0)
		return;
	if (!res->endpoint) {
		fputs("  HTTPS endpoint: none, the host's own address\n", out);
		return;
	}
	fputs("  HTTPS endpoint ", out);
	tool_endpoint_print(out, res->endpoint);
	fputc('\n', out);
}

static void
tally(struct app *app)
{
	const struct result *res = &app->res;
	int i;

	app->prev_ok = res->fd >= 0;
	if (res->fd < 0) {
		app->failed++;
		return;
	}
	if (!app->ok || res->elapsed_ms < app->min_ms)
		app->min_ms = res->elapsed_ms;
	if (!app->ok || res->elapsed_ms > app->max_ms)
		app->max_ms = res->elapsed_ms;
	app->ok++;
	app->sum_ms += res->elapsed_ms;
	app->prev_ms = res->elapsed_ms;
	memcpy(app->prev_winner, res->winner, sizeof(res->winner));
	for (i = 0; i < app->nwinners; i++)
		if (!strcmp(app->winners[i].addr, res->winner))
			break;
	if (i == app->nwinners && i < WINNERS_MAX)
		memcpy(app->winners[app->nwinners++].addr, res->winner,
		    sizeof(res->winner));
	if (i < app->nwinners)
		app->winners[i].n++;
}

static void
print_summary(const struct app *app, FILE *out)
{
	int i;

	fprintf(out, "%d connects: %d succeeded, %d failed", app->ok +
	    app->failed, app->ok, app->failed);
	if (app->ok)
		fprintf(out, "; min/avg/max %.1f/%.1f/%.1f ms; won by",
		    app->min_ms, app->sum_ms / app->ok, app->max_ms);
	for (i = 0; i < app->nwinners; i++)
		fprintf(out, "%s %s (%d)", i ? "," : "",
		    app->winners[i].addr, app->winners[i].n);
	fputc('\n', out);
}

/* ------------------------------------------------------------------------ */
/* JSON output: the same facts, for scripts */

static void
json_error(FILE *out, const char *key, int error, int dns)
{
	const char *text = !error ? NULL :
	    dns ? evutil_gai_strerror(error) : strerror(error);

	fprintf(out, ",\"%s_error\":", key);
	tool_json_string(out, text);
	fprintf(out, ",\"%s_errno\":%d", key, error);
}

static void
json_addr(FILE *out, const struct sockaddr_storage *ss)
{
	char addr[TOOL_ADDRLEN];

	evhappy_sockaddr_format((const struct sockaddr *)ss, addr, sizeof(addr));
	fputs(",\"address\":", out);
	tool_json_string(out, addr);
	fprintf(out, ",\"family\":%d", tool_family_number(ss->ss_family));
}

static void
json_attempt(FILE *out, const struct attempt_rec *a)
{
	const char *how = a->error == 0 ? "won" :
	    a->error == ECANCELED ? "cancelled" : "failed";

	fprintf(out, "{\"result\":\"%s\"", how);
	json_addr(out, &a->addr);
	fprintf(out, ",\"started_ms\":%.3f,\"ended_ms\":%.3f,\"error\":",
	    a->started_ms, a->ended_ms);
	tool_json_string(out, a->error ? strerror(a->error) : NULL);
	fprintf(out, ",\"errno\":%d}", a->error);
}

static const char *const history_names[] = {
	"unknown", "worked", "failed", "hung"
};

/* What history knew and changed: "history":"hung","age_ms":..., and
   "moved_after" or "delay_ms". */
static void
json_history(FILE *out, const struct event_rec *e)
{
	char after[TOOL_ADDRLEN];

	fprintf(out, ",\"history\":\"%s\",\"age_ms\":%.3f,\"rtt_ms\":%.3f",
	    e->history >= 0 && e->history <= 3 ? history_names[e->history] :
	    "unknown", e->age_ms, e->rtt_ms);
	fprintf(out, ",\"from_file\":%s", e->from_file ? "true" : "false");
	if (e->moved) {
		evhappy_sockaddr_format((const struct sockaddr *)&e->after, after,
		    sizeof(after));
		fputs(",\"moved_after\":", out);
		tool_json_string(out, e->has_after ? after : NULL);
	} else {
		fprintf(out, ",\"delay_ms\":%.3f", e->delay_ms);
	}
}

/* The network the race's history belongs to: "network":"5e1f...",
   "text":"v4 via ...". */
static void
json_network(FILE *out, const struct event_rec *e)
{
	char hex[32];

	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)e->network);
	fputs(",\"network\":", out);
	tool_json_string(out, hex);	/* its routes: the event's "text" */
}

static const char *const nat64_source_names[] = {
	NULL, "caller", "RA", "DNS"
};

/* A NAT64 event: "prefix":"64:ff9b::/96","source":"RA", a synthesis's
   "for":"192.0.2.10:80", and why there was none. */
static void
json_nat64(FILE *out, const struct event_rec *e)
{
	const struct sockaddr_in6 *sin6 = (const void *)&e->addr;
	unsigned char a[16];
	char pfx[INET6_ADDRSTRLEN + 8], v4[TOOL_ADDRLEN];
	int i;

	if (e->has_addr && e->addr.ss_family == AF_INET6 &&
	    e->prefix_len > 0 && e->prefix_len <= 128 &&
	    e->nat64_source > 0 && e->nat64_source <= 3) {
		memcpy(a, &sin6->sin6_addr, 16);
		for (i = e->prefix_len / 8; i < 16; i++)
			a[i] = 0;
		evutil_inet_ntop(AF_INET6, a, pfx, sizeof(pfx) - 4);
		evutil_snprintf(pfx + strlen(pfx), 5, "/%d", e->prefix_len);
		fputs(",\"prefix\":", out);
		tool_json_string(out, pfx);
		fputs(",\"source\":", out);
		tool_json_string(out, nat64_source_names[e->nat64_source]);
	}
	if (e->has_v4) {
		evhappy_sockaddr_format((const struct sockaddr *)&e->v4, v4,
		    sizeof(v4));
		fputs(",\"for\":", out);
		tool_json_string(out, v4);
	}
	if (e->error) {
		fputs(",\"error\":", out);
		tool_json_string(out, e->text ? e->text : strerror(e->error));
		fprintf(out, ",\"errno\":%d", e->error);
	}
}

static void
json_event(FILE *out, const struct event_rec *e)
{
	fprintf(out, "{\"ms\":%.3f,\"event\":\"%s\"", e->ms,
	    evhappy_trace_kind_name(e->kind));
	if (e->kind == EVHAPPY_TRACE_NAT64_PREFIX)
		;	/* its address is the prefix: json_nat64 */
	else if (e->has_addr)
		json_addr(out, &e->addr);
	else if (e->family)
		fprintf(out, ",\"family\":%d", tool_family_number(e->family));
	if (e->text) {
		fputs(",\"text\":", out);
		tool_json_string(out, e->text);
	}
	if (e->endpoint) {
		fputs(",\"endpoint\":", out);
		tool_endpoint_json(out, e->endpoint);
	}
	if (e->kind == EVHAPPY_TRACE_DNS_ANSWER)
		fprintf(out, ",\"addresses\":%d", e->naddrs);
	if (e->kind == EVHAPPY_TRACE_HTTPS_ANSWER)
		fprintf(out, ",\"endpoints\":%d", e->naddrs);
	if (e->kind == EVHAPPY_TRACE_HISTORY)
		json_history(out, e);
	if (e->kind == EVHAPPY_TRACE_NETWORK)
		json_network(out, e);
	if (e->kind == EVHAPPY_TRACE_NAT64_PREFIX ||
	    e->kind == EVHAPPY_TRACE_NAT64_SYNTH)
		json_nat64(out, e);
	if (e->kind == EVHAPPY_TRACE_DNS_ANSWER ||
	    e->kind == EVHAPPY_TRACE_HTTPS_ANSWER)
		json_error(out, "dns", e->error, 1);
	else if (e->kind == EVHAPPY_TRACE_ATTEMPT_FAILED ||
	    e->kind == EVHAPPY_TRACE_DONE) {
		fputs(",\"error\":", out);
		tool_json_string(out, e->error ? strerror(e->error) : NULL);
		fprintf(out, ",\"errno\":%d", e->error);
	}
	fputc('}', out);
}

static void
json_result(const struct app *app, FILE *out)
{
	const struct result *res = &app->res;
	int i;

	fputs("{\"host\":", out);
	tool_json_string(out, app->o->host);
	fprintf(out, ",\"port\":%d,\"ok\":%s,\"address\":", app->o->port,
	    res->fd >= 0 ? "true" : "false");
	tool_json_string(out, res->fd >= 0 ? res->winner : NULL);
	fputs(",\"endpoint\":", out);
	tool_endpoint_json(out, res->endpoint);
	fprintf(out, ",\"elapsed_ms\":%.3f,\"error\":", res->elapsed_ms);
	tool_json_string(out, res->error ? strerror(res->error) : NULL);
	fprintf(out, ",\"errno\":%d", res->error);
	json_error(out, "dns", res->dns_error, 1);
	fputs(",\"summary\":", out);
	tool_json_string(out, res->line);
	fputs(",\"attempts\":[", out);
	for (i = 0; i < res->nattempts; i++) {
		fputs(i ? "," : "", out);
		json_attempt(out, &res->attempts[i]);
	}
	fputs("],\"trace\":[", out);
	for (i = 0; i < res->nevents; i++) {
		fputs(i ? "," : "", out);
		json_event(out, &res->events[i]);
	}
	fputs("]}", out);
}

/* --count N with --json: one object that holds every connect's. */
static void
json_count_begin(const struct app *app, FILE *out)
{
	fputs("{\"host\":", out);
	tool_json_string(out, app->o->host);
	fprintf(out, ",\"port\":%d,\"count\":%d,\"connects\":[\n",
	    app->o->port, app->o->count.value);
}

static void
json_count_end(const struct app *app, FILE *out)
{
	fprintf(out, "\n],\"ok\":%s,\"succeeded\":%d,\"failed\":%d",
	    app->failed ? "false" : "true", app->ok, app->failed);
	if (app->ok)
		fprintf(out, ",\"min_ms\":%.3f,\"avg_ms\":%.3f,\"max_ms\":%.3f",
		    app->min_ms, app->sum_ms / app->ok, app->max_ms);
	fputs("}\n", out);
}

/* ------------------------------------------------------------------------ */
/* Running */

static void
report(struct app *app)
{
	/* With --relay, stdout carries the peer's data only. */
	FILE *out = app->o->relay ? stderr : stdout;

	if (app->o->json) {
		/* Begun only now, so that a HOST the library refuses leaves
		   stdout empty. */
		if (app->o->count.value > 1 && app->index == 1)
			json_count_begin(app, out);
		if (app->o->count.value > 1 && app->index > 1)
			fputs(",\n", out);
		json_result(app, out);
		if (app->o->count.value == 1)
			fputc('\n', out);
	} else if (app->o->waterfall && app->o->count.value == 1 &&
	    app->res.waterfall) {
		/* its first line is the result line's outcome */
		fputs(app->res.waterfall, out);
		print_endpoint(app, out);
	} else {
		print_result(app, out);
		print_endpoint(app, out);
	}
	tally(app);
	fflush(out);
}

/* ------------------------------------------------------------------------ */
/* --waterfall and --svg: the pictures */

/* With --count: keep the slowest connect's drawings (failed ones count:
   a connect that failed after 30 s is the one to look at). */
static void
keep_slowest(struct app *app)
{
	const struct result *res = &app->res;

	if ((!app->o->waterfall && !app->o->svg) ||
	    (app->slowest && res->elapsed_ms <= app->slowest_ms))
		return;
	app->slowest = app->index;
	app->slowest_ms = res->elapsed_ms;
	free(app->slowest_waterfall);
	free(app->slowest_svg);
	app->slowest_waterfall = res->waterfall ? strdup(res->waterfall) : NULL;
	app->slowest_svg = res->svg ? strdup(res->svg) : NULL;
}

/* What a picture of a --count run is headed with. */
static void
picture_heading(const struct app *app, int which, char *buf, size_t len)
{
	int n = app->o->count.value;

	if (which == n && which == app->slowest)
		snprintf(buf, len, "slowest and last: connect %d of %d (%.1f ms)",
		    n, n, app->slowest_ms);
	else if (which == app->slowest)
		snprintf(buf, len, "slowest: connect %d of %d (%.1f ms)", which,
		    n, app->slowest_ms);
	else
		snprintf(buf, len, "last: connect %d of %d (%.1f ms)", n, n,
		    app->res.elapsed_ms);
}

static void
print_waterfalls(const struct app *app, FILE *out)
{
	char heading[128];

	if (app->slowest != app->o->count.value && app->slowest_waterfall) {
		picture_heading(app, app->slowest, heading, sizeof(heading));
		fprintf(out, "\n%s\n%s", heading, app->slowest_waterfall);
	}
	if (app->res.waterfall) {
		picture_heading(app, app->o->count.value, heading,
		    sizeof(heading));
		fprintf(out, "\n%s\n%s", heading, app->res.waterfall);
	}
}

/* An SVG document's size, from its root element. */
static int
svg_size(const char *svg, const char *attr)
{
	const char *end = strchr(svg, '>'), *p = strstr(svg, attr);

	return p && end && p < end ? atoi(p + strlen(attr)) : 0;
}

/* --count N --svg: one document that stacks the slowest connect's and the
   last one's, each under its heading, as nested svg elements. */
static void
write_svg_pair(const struct app *app, FILE *f)
{
	const char *docs[2];
	int which[2], n = 0, i, width = 0, height = 0, y = 0;
	char heading[128];

	if (app->slowest != app->o->count.value && app->slowest_svg) {
		which[n] = app->slowest;
		docs[n++] = app->slowest_svg;
	}
	if (app->res.svg) {
		which[n] = app->o->count.value;
		docs[n++] = app->res.svg;
	}
	for (i = 0; i < n; i++) {
		if (svg_size(docs[i], " width=\"") > width)
			width = svg_size(docs[i], " width=\"");
		height += 24 + svg_size(docs[i], " height=\"");
	}
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
	    "height=\"%d\" viewBox=\"0 0 %d %d\">\n<title>evhappy: %d "
	    "connects to ", width, height, width, height,
	    app->o->count.value);
	for (i = 0; app->o->host[i]; i++) {
		unsigned char c = (unsigned char)app->o->host[i];
		if (c == '&' || c == '<' || c == '>' || c < 0x20 || c >= 0x7f)
			fputc('?', f);	/* only a name or an address is */
		else			/* connected to anyway */
			fputc(c, f);
	}
	fprintf(f, " port %d</title>\n<rect width=\"%d\" height=\"%d\" "
	    "fill=\"#fff\"/>\n", app->o->port, width, height);
	for (i = 0; i < n; i++) {
		picture_heading(app, which[i], heading, sizeof(heading));
		fprintf(f, "<text x=\"10\" y=\"%d\" font-family=\"monospace\" "
		    "font-size=\"13\" font-weight=\"bold\">%s</text>\n",
		    y + 17, heading);
		y += 24;
		/* the document itself, placed: <svg x=.. y=.. xmlns=...> */
		fprintf(f, "<svg x=\"0\" y=\"%d\"%s", y, docs[i] + strlen("<svg"));
		y += svg_size(docs[i], " height=\"");
	}
	fputs("</svg>\n", f);
}

/* 0, or the exit status when the file could not be written. */
static int
write_svg(struct app *app)
{
	FILE *f = app->svg_file;
	int failed;

	app->svg_file = NULL;
	if (!f)
		return TOOL_EXIT_OK;
	if (app->o->count.value > 1)
		write_svg_pair(app, f);
	else if (app->res.svg)
		fputs(app->res.svg, f);
	failed = ferror(f);
	if (fclose(f) != 0 || failed) {
		fprintf(stderr, "evhappy: --svg %s: %s\n", app->o->svg,
		    strerror(errno ? errno : EIO));
		return TOOL_EXIT_FAIL;
	}
	return TOOL_EXIT_OK;
}

/* Connect as many times as asked, then relay or sum up.  Exit status. */
static int
run(struct app *app)
{
	const struct opts *o = app->o;
	int rc;

	for (app->index = 1; app->index <= o->count.value; app->index++) {
		if (o->trace && o->count.value > 1)
			fprintf(stderr, "connect %d of %d\n", app->index,
			    o->count.value);
		if ((rc = connect_once(app)) != TOOL_EXIT_OK)
			return rc;
		report(app);
		keep_slowest(app);
		if (o->relay && (rc = write_svg(app)) != TOOL_EXIT_OK)
			return rc;
		if (app->res.fd >= 0 && o->relay) {
			rc = tool_relay(app->base, app->res.fd);
			app->res.fd = -1;
			return rc;
		}
		if (app->res.fd >= 0)
			evutil_closesocket(app->res.fd);
		app->res.fd = -1;
	}
	if (o->json && o->count.value > 1)
		json_count_end(app, stdout);
	else if (o->count.value > 1)
		print_summary(app, stdout);
	if (o->waterfall && o->count.value > 1)
		print_waterfalls(app, stdout);
	if ((rc = write_svg(app)) != TOOL_EXIT_OK)
		return rc;
	return app->failed ? TOOL_EXIT_FAIL : TOOL_EXIT_OK;
}

static void
app_free(struct app *app)
{
	tool_context_free(app->he, app->base, app->dns);
	if (app->base)
		event_base_free(app->base);
	result_clear(&app->res);
	free(app->slowest_waterfall);
	free(app->slowest_svg);
	if (app->svg_file)
		fclose(app->svg_file);
}

/* A closed stdin, stdout or stderr would be reused by the first socket we
   open, and --relay would then read its own connection as stdin. */
static void
standard_fds_open(void)
{
	int fd;

	for (fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF &&
		    open("/dev/null", O_RDWR) < 0)
			return;
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct app app;
	int rc;

	/* A peer that goes away must not kill us while we write to it. */
	signal(SIGPIPE, SIG_IGN);
	standard_fds_open();
	if ((rc = parse_args(&o, argc, argv)) >= 0)
		return rc;
	if (o.show_history || o.forget) {
		rc = tool_history(o.show_history, o.forget, o.json);
		goto end;
	}
	if (o.demo) {
		rc = tool_demo();
		goto end;
	}
	memset(&app, 0, sizeof(app));
	app.o = &o;
	app.res.fd = -1;
	if ((rc = app_setup(&app)) == TOOL_EXIT_OK)
		rc = run(&app);
	app_free(&app);
end:
	libevent_global_shutdown();
	return rc;
}
