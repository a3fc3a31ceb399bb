/*
 * The waterfall (evhappy_report_format_style): races played on a fake
 * clock against the race core, each drawn at widths 60 and 200, in plain
 * ASCII and in colour, and compared with a golden file
 * (tests/golden/waterfall/NAME.txt).  Every outcome is there: won, lost
 * (closed when another won), refused, timed out (at the in-flight cap and
 * at the overall timeout), cancelled; both families; DNS answers, errors,
 * a query that could not start, an AAAA answer that came late;
 * history's moves and delays, with no trace callback (as most programs
 * run).  Then the rules every drawing keeps, checked on each: no ASCII
 * line wider than asked, only printable ASCII, the colour form equal to
 * the ASCII one once its escape sequences are removed.
 *
 * A real race through the library (the lab's DNS server, loopback
 * listeners, no trace callback) checks that the request records what the
 * waterfall needs: the queries, the attempts, history's move.
 *
 *   HE_GOLDEN_UPDATE=1 tests/check_waterfall     rewrites the golden files
 *   HE_WATERFALL_SVG_DIR=DIR tests/check_waterfall  also writes each race's
 *                    SVG document to DIR/NAME.svg (check_waterfall_svg.sh)
 */
#include "he_addrinfo.h"
#include "he_coredrive.h"
#include "he_history.h"
#include "he_request.h"
#include "he_testutil.h"
#include "he_lab.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/dns.h>

#ifndef HE_GOLDEN_DIR
#define HE_GOLDEN_DIR "tests/golden"
#endif

#define PORT 443
#define T0 ((int64_t)100 * 1000000)	/* the fake clock's race begins */

static int64_t
at_ms(double ms)
{
	return T0 + (int64_t)(ms * 1000.0);
}

/* ---- a race on the fake clock ----------------------------------------- */

static struct he_history *hist;

static struct evhappy_request *
fake_new(int timeout_ms, int max_in_flight, struct he_history *h)
{
	struct evhappy_request *req = calloc(1, sizeof(*req));

	ck_assert_ptr_nonnull(req);
	he_drive_init(&req->race, max_in_flight, timeout_ms, h != NULL);
	req->race.cfg.no_notes = 1;	/* as with no trace callback */
	return req;
}

static void
fake_free(struct evhappy_request *req)
{
	he_race_clear_(&req->race);
	free(req);
}

static void
drain(struct evhappy_request *req)
{
	struct he_action a;

	while (he_race_next_action_(&req->race, &a))
		;
}

/* "2001:db8::a,192.0.2.1" -> a list */
static struct evutil_addrinfo *
list_of(const char *addrs)
{
	struct evutil_addrinfo *list = NULL;
	char buf[256], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", addrs);
	for (tok = strtok_r(buf, ",", &save); tok;
	    tok = strtok_r(NULL, ",", &save)) {
		struct evutil_addrinfo *ai = he_test_ai(tok, PORT);
		ck_assert_msg(ai != NULL, "not an address: %s", tok);
		list = he_test_append(list, ai);
	}
	return list;
}

/* A time as the request records a query's (he_request.h). */
static uint32_t
rec_ms(double ms)
{
	return (uint32_t)(at_ms(ms) - T0) + 1;
}

/* ---- the races ---------------------------------------------------------- */

/*
 * Each race is a script: steps separated by ';', each a word and its
 * arguments; times are ms since T0 (fractions allowed), address lists
 * have ',' between the addresses.
 *
 *   query v6|v4 MS          the family's query went out (before begin:
 *                           the race expects its answer)
 *   begin [LIST]            the race began (with the caller's list)
 *   answer v6|v4 MS LIST    the family's answer came; "nxdomain" for
 *                           LIST: the name does not exist
 *   not-started v6|v4 MS E  the query could not start (no fd, no
 *                           thread): errno E
 *   timer MS                the race's timer fired
 *   failed N MS E           attempt N failed with errno E
 *   connected N MS          attempt N connected
 *   cancel MS               the program cancelled the race
 *   end MS                  the race ended (as the request records it)
 *
 * Before its first event a script may set the race up: "timeout MS" (the
 * race's overall timeout, 30 s unless set), "cap N" (attempts in flight,
 * 8 unless set), and what the history store knew a minute before T0:
 * "hung ADDR", "worked ADDR RTT_MS" (with none, the race has no history).
 *
 * and what must hold at that point of the script:
 *
 *   started N ADDR MS       attempt N is to ADDR, started at MS
 *   closed N                attempt N was closed (timed out at the cap)
 *   error E                 the race failed with errno E
 *   done                    the race is over
 */
static const struct {
	const char *name;
	const char *script;
} races[] = {
	/* AAAA and A answer; the IPv6 path is a black hole; IPv4 wins after
	 * the Connection Attempt Delay, IPv6 is closed as the loser. */
	{ "fallback",
	  "query v6 0; query v4 0; begin; answer v6 2 2001:db8::a; "
	  "answer v4 3 192.0.2.1; started 0 2001:db8::a 2; timer 252; "
	  "started 1 192.0.2.1 252; connected 1 254; end 254" },
	/* A caller's list: IPv6 refused at once, IPv4 10 ms later (the
	 * minimum gap) wins. */
	{ "refused",
	  "begin 2001:db8::a,192.0.2.1; started 0 2001:db8::a 0; "
	  "failed 0 1 ECONNREFUSED; timer 10; started 1 192.0.2.1 10; "
	  "connected 1 11.5; end 11.5" },
	/* Black holes only; two in flight at most: the oldest is closed at
	 * the cap (timed out) to make room, the rest at the overall
	 * timeout. */
	{ "timeout",
	  "timeout 600; cap 2; begin 2001:db8::a,192.0.2.1,2001:db8::b; "
	  "started 0 2001:db8::a 0; timer 250; started 1 192.0.2.1 250; "
	  "timer 500; "
	  "started 2 2001:db8::b 500; closed 0; timer 600; error ETIMEDOUT; "
	  "end 600" },
	/* The program cancelled the race while IPv6 was connecting and A
	 * had not answered. */
	{ "cancelled",
	  "query v6 0; query v4 0; begin; answer v6 5 2001:db8::a; "
	  "started 0 2001:db8::a 5; cancel 100; end 100" },
	/* A answers first, AAAA after the Resolution Delay ran out: IPv4
	 * starts at 55 ms, the late IPv6 address at once when it comes, and
	 * wins. */
	{ "late_aaaa",
	  "query v6 0; query v4 0; begin; answer v4 5 192.0.2.1; timer 55; "
	  "started 0 192.0.2.1 55; answer v6 120 2001:db8::a,2001:db8::b; "
	  "started 1 2001:db8::a 120; connected 1 121; end 121" },
	/* Resolution failed: the AAAA query could not start (no fd), A said
	 * the name does not exist. */
	{ "dns_failed",
	  "query v6 0; query v4 0; begin; not-started v6 0 EMFILE; "
	  "answer v4 9 nxdomain; done; end 9" },
	/* History: 2001:db8::a hung a minute ago, 192.0.2.1 connected in
	 * 20 ms.  So ::a goes after ::b and then after 192.0.2.1 (moves),
	 * the delay after 192.0.2.1's start follows its RTT, and ::a is
	 * never tried. */
	{ "history",
	  "hung 2001:db8::a; worked 192.0.2.1 20; "
	  "query v6 0; query v4 0; begin; answer v6 1 2001:db8::a,2001:db8::b; "
	  "started 0 2001:db8::b 1; "
	  "answer v4 2 192.0.2.1; timer 251; started 1 192.0.2.1 251; "
	  "connected 1 271; end 271" },
	/* One address, won in 0.3 ms: an axis below a millisecond. */
	{ "one",
	  "begin 192.0.2.1; connected 0 0.3; end 0.3" },
};
#define NRACES ((int)(sizeof(races) / sizeof(races[0])))

/* The errno values the scripts name. */
static int
errno_of(const char *name)
{
	static const struct { const char *name; int value; } names[] = {
		{ "ECONNREFUSED", ECONNREFUSED }, { "ETIMEDOUT", ETIMEDOUT },
		{ "EMFILE", EMFILE },
	};
	size_t i;

	for (i = 0; i < HE_TEST_N(names); i++)
		if (!strcmp(name, names[i].name))
			return names[i].value;
	ck_abort_msg("an errno the scripts do not know: %s", name);
	return 0;
}

static enum he_fam
fam_of(const char *name)
{
	ck_assert_msg(!strcmp(name, "v6") || !strcmp(name, "v4"),
	    "not a family: %s", name);
	return !strcmp(name, "v6") ? HE_FAM_V6 : HE_FAM_V4;
}

/* One step of race i's script: w[0] and its n - 1 arguments. */
static void
step(int i, struct evhappy_request *req, char **w, int n)
{
	const char *name = races[i].name;
	struct he_race *r = &req->race;
	double ms = n > 2 ? strtod(w[2], NULL) : 0;
	int k = n > 1 ? atoi(w[1]) : 0;

	if (!strcmp(w[0], "query") && n == 3) {
		he_race_expect_dns_(r, fam_of(w[1]));
		req->queries[fam_of(w[1])].asked = rec_ms(ms);
	} else if (!strcmp(w[0], "begin") && n <= 2) {
		if (n == 2)
			he_race_add_known_(r, list_of(w[1]));
		he_drive_begin(r, hist, T0);
	} else if (!strcmp(w[0], "answer") && n == 4) {
		enum he_fam fam = fam_of(w[1]);
		int eai = strcmp(w[3], "nxdomain") ? 0 : EVUTIL_EAI_NONAME;
		struct evutil_addrinfo *list = eai ? NULL : list_of(w[3]);

		req->queries[fam].answered = rec_ms(ms);
		req->queries[fam].error = eai;
		req->queries[fam].naddrs = (int)he_addrinfo_len_(list);
		he_drive_answer(r, hist, at_ms(ms), fam, list, eai);
	} else if (!strcmp(w[0], "not-started") && n == 4) {
		enum he_fam fam = fam_of(w[1]);

		req->queries[fam].answered = rec_ms(ms);
		req->queries[fam].error = errno_of(w[3]);
		he_race_dns_failed_(r, at_ms(ms), fam, errno_of(w[3]));
	} else if (!strcmp(w[0], "timer") && n == 2) {
		he_race_timer_(r, at_ms(strtod(w[1], NULL)));
	} else if (!strcmp(w[0], "failed") && n == 4) {
		he_race_attempt_failed_(r, at_ms(ms), k, errno_of(w[3]));
	} else if (!strcmp(w[0], "connected") && n == 3) {
		ck_assert_msg(he_race_attempt_connected_(r, at_ms(ms), k) == 1,
		    "%s: attempt %d did not connect", name, k);
	} else if (!strcmp(w[0], "cancel") && n == 2) {
		he_race_cancel_(r, at_ms(strtod(w[1], NULL)));
	} else if (!strcmp(w[0], "end") && n == 2) {
		r->ended = at_ms(strtod(w[1], NULL));
	} else if (!strcmp(w[0], "started") && n == 4) {
		ck_assert_msg(r->nattempts > k, "%s: %d attempts, no attempt "
		    "%d", name, r->nattempts, k);
		ck_assert_msg(!strcmp(he_test_addr_str(
		    r->attempts[k].ai->ai_addr), w[2]), "%s: attempt %d is to "
		    "%s, not %s", name, k,
		    he_test_addr_str(r->attempts[k].ai->ai_addr), w[2]);
		ck_assert_msg(r->attempts[k].started == at_ms(strtod(w[3],
		    NULL)), "%s: attempt %d started at %lld us, not at %s ms",
		    name, k, (long long)(r->attempts[k].started - T0), w[3]);
	} else if (!strcmp(w[0], "closed") && n == 2) {
		ck_assert_msg(r->attempts[k].state == HE_ATTEMPT_FAILED,
		    "%s: attempt %d is in state %d, not closed", name, k,
		    (int)r->attempts[k].state);
	} else if (!strcmp(w[0], "error") && n == 2) {
		ck_assert_msg(r->error == errno_of(w[1]), "%s: error %d, not "
		    "%s", name, r->error, w[1]);
	} else if (!strcmp(w[0], "done") && n == 1) {
		ck_assert_msg(r->done == 1, "%s: the race is not over", name);
	} else {
		ck_abort_msg("%s: a step the scripts do not know: %s (%d "
		    "words)", name, w[0], n);
	}
	drain(req);
}

/* A step that sets a race up (before its first event): 1, or 0 when w is
   an event or a check. */
static int
setup_step(char **w, int n, int *timeout_ms, int *cap)
{
	enum he_hist_state verdict;

	if (!strcmp(w[0], "timeout") && n == 2)
		*timeout_ms = atoi(w[1]);
	else if (!strcmp(w[0], "cap") && n == 2)
		*cap = atoi(w[1]);
	else if ((!strcmp(w[0], "hung") && n == 2) ||
	    (!strcmp(w[0], "worked") && n == 3)) {
		verdict = w[0][0] == 'h' ? HE_HIST_HUNG : HE_HIST_WORKED;
		if (!hist)
			ck_assert_int_eq(he_history_new_(16, &hist), 0);
		he_history_learn_(hist, he_test_sa(w[1], PORT), T0 - 60000000,
		    verdict, 0, n == 3 ? (int64_t)atoi(w[2]) * 1000 : 0);
	} else
		return 0;
	return 1;
}

/* Race i, played on the fake clock. */
static struct evhappy_request *
play(int i)
{
	struct evhappy_request *req = NULL;
	char buf[1024], *st, *save = NULL;
	int timeout_ms = 30000, cap = 8;

	ck_assert_int_lt(strlen(races[i].script), sizeof(buf));
	snprintf(buf, sizeof(buf), "%s", races[i].script);
	for (st = strtok_r(buf, ";", &save); st;
	    st = strtok_r(NULL, ";", &save)) {
		char *w[8], *save_w = NULL;
		int n = 0;

		for (w[n] = strtok_r(st, " ", &save_w); w[n] && n < 7;
		    w[++n] = strtok_r(NULL, " ", &save_w))
			;
		ck_assert_msg(n > 0, "%s: an empty step", races[i].name);
		if (!req && setup_step(w, n, &timeout_ms, &cap))
			continue;
		if (!req)
			req = fake_new(timeout_ms, cap, hist);
		step(i, req, w, n);
	}
	ck_assert_msg(req != NULL, "%s: no event", races[i].name);
	return req;
}

static void
race_done(struct evhappy_request *req)
{
	fake_free(req);
	if (hist)
		he_history_free_(hist);
	hist = NULL;
}

/* ---- drawing ------------------------------------------------------------ */

static char *
draw(const struct evhappy_request *req, enum evhappy_report_style style,
    int width)
{
	struct evhappy_report r;
	char *buf;
	int n, m;

	r.req = req;
	n = evhappy_report_format_style(&r, style, width, NULL, 0);
	ck_assert_int_gt(n, 0);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	m = evhappy_report_format_style(&r, style, width, buf, (size_t)n + 1);
	ck_assert_int_eq(m, n);
	ck_assert_int_eq((int)strlen(buf), n);
	return buf;
}

/* The colour form without its escape sequences. */
static void
strip_sgr(char *s)
{
	char *out = s;

	while (*s) {
		if (s[0] == '\033' && s[1] == '[') {
			s += 2;
			while (*s && *s != 'm')
				s++;
			if (*s)
				s++;
			continue;
		}
		*out++ = *s++;
	}
	*out = '\0';
}

/* The rules every text drawing keeps. */
static void
check_text_rules(const char *name, const char *ascii, const char *color,
    int width)
{
	char *plain = strdup(color);
	const char *p, *line = ascii;
	int col = 0;

	for (p = ascii; *p; p++) {
		ck_assert_msg(*p == '\n' || (*p >= 0x20 && *p < 0x7f),
		    "%s/%d: byte 0x%02x is not printable ASCII", name, width,
		    (unsigned char)*p);
		if (*p == '\n') {
			ck_assert_msg(col <= width, "%s/%d: a line of %d "
			    "columns: %.*s", name, width, col, col, line);
			ck_assert_msg(col == 0 || p[-1] != ' ',
			    "%s/%d: a line ends in a space", name, width);
			col = 0;
			line = p + 1;
		} else {
			col++;
		}
	}
	ck_assert_msg(col == 0, "%s/%d: the last line has no newline", name,
	    width);
	ck_assert_ptr_nonnull(plain);
	ck_assert_msg(strchr(color, '\033') != NULL, "%s/%d: no colour", name,
	    width);
	strip_sgr(plain);
	ck_assert_msg(!strcmp(plain, ascii), "%s/%d: the colour form differs "
	    "from the ASCII one:\n%s\n%s", name, width, plain, ascii);
	free(plain);
}

/* Escape bytes as "^[" in golden files, so that they read in an editor. */
static void
put_visible(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\033')
			fputs("^[", f);
		else
			fputc(*s, f);
	}
}

static char *
golden_text(int i)
{
	static const int widths[] = { 60, 200 };
	struct evhappy_request *req = play(i);
	char *out = NULL;
	size_t outlen = 0;
	FILE *f = open_memstream(&out, &outlen);
	int w, c;

	ck_assert_ptr_nonnull(f);
	for (w = 0; w < 2; w++) {
		char *text[2];
		for (c = 0; c < 2; c++)
			text[c] = draw(req, c ? EVHAPPY_REPORT_WATERFALL_COLOR :
			    EVHAPPY_REPORT_WATERFALL, widths[w]);
		check_text_rules(races[i].name, text[0], text[1], widths[w]);
		for (c = 0; c < 2; c++) {
			fprintf(f, "== width %d, %s\n", widths[w],
			    c ? "colour" : "ASCII");
			put_visible(f, text[c]);
			free(text[c]);
		}
	}
	fclose(f);
	race_done(req);
	return out;
}

static char *
read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(fread(buf, 1, (size_t)n, f), n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* The first line where a and b differ, for the failure message. */
static void
first_difference(const char *a, const char *b, char *out, size_t len)
{
	int line = 1;
	const char *la = a, *lb = b;

	while (*a && *a == *b) {
		if (*a == '\n') {
			line++;
			la = a + 1;
			lb = b + 1;
		}
		a++;
		b++;
	}
	snprintf(out, len, "line %d:\n  want: %.*s\n  got:  %.*s", line,
	    (int)strcspn(la, "\n"), la, (int)strcspn(lb, "\n"), lb);
}

START_TEST(test_golden)
{
	char path[512], diff[1024];
	char *got = golden_text(_i), *want;
	const char *update = getenv("HE_GOLDEN_UPDATE");
	FILE *f;

	snprintf(path, sizeof(path), "%s/waterfall/%s.txt", HE_GOLDEN_DIR,
	    races[_i].name);
	if (update && *update && strcmp(update, "0")) {
		ck_assert_ptr_nonnull(f = fopen(path, "w"));
		fputs(got, f);
		fclose(f);
	}
	want = read_file(path);
	ck_assert_msg(want != NULL, "%s: no golden file (HE_GOLDEN_UPDATE=1 "
	    "writes it)", path);
	if (strcmp(want, got)) {
		first_difference(want, got, diff, sizeof(diff));
		ck_abort_msg("%s differs at %s\n(the whole drawing:\n%s)", path,
		    diff, got);
	}
	free(want);
	free(got);
}
END_TEST

/* ---- the same drawing as bytes the API promises ------------------------- */

START_TEST(test_arguments)
{
	struct evhappy_request *req = play(0);	/* fallback */
	struct evhappy_report r;
	char small[16], line[512], *full;
	int n;

	r.req = req;
	EXPECT_FAIL(evhappy_report_format_style(NULL,
	    EVHAPPY_REPORT_WATERFALL, 80, line, sizeof(line)), EINVAL);
	EXPECT_FAIL(evhappy_report_format_style(&r,
	    (enum evhappy_report_style)7, 80, line, sizeof(line)), EINVAL);
	EXPECT_FAIL(evhappy_report_format_style(&r,
	    EVHAPPY_REPORT_WATERFALL, 80, NULL, 5), EINVAL);
	/* The line style is evhappy_report_format(), byte for byte. */
	n = evhappy_report_format_style(&r, EVHAPPY_REPORT_LINE, 0, line,
	    sizeof(line));
	ck_assert_int_eq(n, evhappy_report_format(&r, small, sizeof(small)));
	evhappy_report_format(&r, small, sizeof(small));
	ck_assert_int_eq(strncmp(line, small, sizeof(small) - 1), 0);
	/* Cut short: the start of the whole, NUL-terminated. */
	full = draw(req, EVHAPPY_REPORT_WATERFALL, 80);
	n = evhappy_report_format_style(&r, EVHAPPY_REPORT_WATERFALL, 80,
	    small, sizeof(small));
	ck_assert_int_eq(n, (int)strlen(full));
	ck_assert_int_eq((int)strlen(small), (int)sizeof(small) - 1);
	ck_assert_int_eq(strncmp(small, full, sizeof(small) - 1), 0);
	free(full);
	/* Widths below 60 draw at 60, 0 at 80. */
	{
		char *w0 = draw(req, EVHAPPY_REPORT_WATERFALL, 0);
		char *w80 = draw(req, EVHAPPY_REPORT_WATERFALL, 80);
		char *w1 = draw(req, EVHAPPY_REPORT_WATERFALL, 1);
		char *w60 = draw(req, EVHAPPY_REPORT_WATERFALL, 60);
		ck_assert_str_eq(w0, w80);
		ck_assert_str_eq(w1, w60);
		free(w0);
		free(w80);
		free(w1);
		free(w60);
	}
	race_done(req);
}
END_TEST

/* ---- the SVG documents, for tests/check_waterfall_svg.sh --------------- */

/* With HE_WATERFALL_SVG_DIR set, each race's SVG goes to DIR/NAME.svg. */
START_TEST(test_svg)
{
	const char *dir = getenv("HE_WATERFALL_SVG_DIR");
	struct evhappy_request *req = play(_i);
	char path[512], *svg = draw(req, EVHAPPY_REPORT_SVG, 0);
	FILE *f;
	const char *head = "<svg xmlns=\"http://www.w3.org/2000/svg\" ";

	ck_assert_int_eq(strncmp(svg, head, strlen(head)), 0);
	ck_assert_int_eq(strcmp(svg + strlen(svg) - 7, "</svg>\n"), 0);
	if (dir && *dir) {
		snprintf(path, sizeof(path), "%s/%s.svg", dir, races[_i].name);
		ck_assert_msg((f = fopen(path, "w")) != NULL, "%s: %s", path,
		    strerror(errno));
		fputs(svg, f);
		fclose(f);
	}
	free(svg);
	race_done(req);
}
END_TEST

/* ---- a real race: what the request records ------------------------------ */

struct live {
	int done;
	char *text;
};

static void
live_cb(evutil_socket_t fd, const struct evhappy_report *r, void *arg)
{
	struct live *l = arg;
	int n = evhappy_report_format_style(r, EVHAPPY_REPORT_WATERFALL, 120,
	    NULL, 0);

	ck_assert_int_gt(n, 0);
	l->text = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(l->text);
	evhappy_report_format_style(r, EVHAPPY_REPORT_WATERFALL, 120, l->text,
	    (size_t)n + 1);
	l->done = 1;
	if (fd >= 0)
		evutil_closesocket(fd);
}

static char *
live_race(struct he_test_fx *f, struct evhappy *he, const char *host,
    int port)
{
	struct live l = { 0, NULL };

	ck_assert_ptr_nonnull(evhappy_resolve_and_connect(he, AF_UNSPEC, host,
	    port, live_cb, &l));
	he_test_run_until(f->base, HE_TEST_UP(3000), &l.done);
	ck_assert_int_eq(l.done, 1);
	return l.text;
}

static void
has(const char *text, const char *what)
{
	ck_assert_msg(strstr(text, what) != NULL, "no \"%s\" in:\n%s", what,
	    text);
}

/* evdns through the lab: AAAA empty, A 127.0.0.1 (a listener); no trace
 * callback.  The waterfall has both queries and the winner. */
START_TEST(test_live_dns)
{
	struct he_test_fx f;
	struct he_lab_dns *dns;
	struct evdns_base *client;
	struct evhappy *he;
	evutil_socket_t l;
	int port = 0;
	char want[64], *text;

	he_test_fx_begin(&f);
	l = he_test_listen("127.0.0.1", &port);
	ck_assert_ptr_nonnull(dns = he_lab_dns_new(f.base));
	ck_assert_int_eq(he_lab_dns_add(dns, "wf.test", EVDNS_TYPE_A,
	    "127.0.0.1"), 0);
	ck_assert_int_eq(he_lab_dns_set(dns, "wf.test", EVDNS_TYPE_AAAA,
	    HE_LAB_ANSWER, 0), 0);
	ck_assert_ptr_nonnull(client = he_lab_dns_client(dns, f.base));
	ck_assert_ptr_nonnull(he = evhappy_new(f.base, client));
	text = live_race(&f, he, "wf.test", port);
	has(text, "connected to 127.0.0.1:");
	has(text, "DNS AAAA ");	/* empty: evdns says EVUTIL_EAI_FAIL */
	has(text, "DNS A ");
	has(text, "1 address");
	snprintf(want, sizeof(want), "127.0.0.1:%d ", port);
	has(text, want);
	has(text, " WON\n");
	free(text);
	evhappy_free(he);
	evdns_base_free(client, 1);
	he_lab_dns_free(dns);
	evutil_closesocket(l);
	he_test_fx_end(&f);
}
END_TEST

/* A black hole listed before a listener: the first race falls back after
 * the attempt delay and history learns that the black hole hung; in the
 * second, history moved it after the listener, and the waterfall (with
 * no trace callback) says so. */
START_TEST(test_live_history)
{
	struct he_test_fx f;
	struct he_lab_blackhole *bh;
	struct evutil_addrinfo *list;
	struct evhappy *he;
	struct timeval tv;
	evutil_socket_t l;
	int port = 0, bhport = 0, round;
	char host[64], want[128];

	he_test_fx_begin(&f);
	he = f.he;
	evhappy_clear_history(he);
	he_test_tv(&tv, 30);
	ck_assert_int_eq(evhappy_set_connection_attempt_delay(he, &tv), 0);
	l = he_test_listen("127.0.0.1", &port);
	bh = he_test_blackhole("127.0.0.1", &bhport);
	list = he_test_ai("127.0.0.1", bhport);
	list = he_test_append(list, he_test_ai("127.0.0.1", port));
	for (round = 0; round < 2; round++) {
		struct live lv = { 0, NULL };
		ck_assert_ptr_nonnull(evhappy_start_connection(he, list, live_cb,
		    &lv));
		he_test_run_until(f.base, HE_TEST_UP(3000), &lv.done);
		ck_assert_int_eq(lv.done, 1);
		snprintf(host, sizeof(host), "127.0.0.1:%d", port);
		has(lv.text, " WON\n");
		if (round == 1) {
			snprintf(want, sizeof(want), "history: moved after %s "
			    "(hung ", host);
			has(lv.text, want);
		}
		free(lv.text);
	}
	evhappy_addrinfo_free(list);
	he_lab_blackhole_free(bh);
	evutil_closesocket(l);
	evhappy_clear_history(he);
	he_test_fx_end(&f);
}
END_TEST

Suite *
he_test_suite(void)
{
	const struct he_test_def tests[] = {
		HE_TCASE("golden", 30),

		HE_LOOP(test_golden, NRACES),
		HE_LOOP(test_svg, NRACES),
		HE_TEST(test_arguments),
		HE_TCASE("live", 30),
		HE_TEST(test_live_dns),
		HE_TEST(test_live_history),
	};

	return he_test_suite_of("waterfall", tests, HE_TEST_N(tests));
}
