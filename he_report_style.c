/*
 * evhappy_report_format_style(): a report drawn as a waterfall.  This file
 * turns a request (its race, the DNS queries the glue recorded, history's
 * notes) into the neutral rows of he_waterfall.h, which draws them.
 */
#include "he_internal.h"
#include "he_fmt.h"
#include "he_report.h"
#include "he_request.h"
#include "he_waterfall.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An address as the report writes it, into a row's label. */
static void
addr_label(const struct sockaddr *sa, char *buf, size_t len)
{
	struct he_out o;

	he_out_init_(&o, buf, len);
	he_out_addr_(&o, sa);
}

/* ---- words ----------------------------------------------------------------- */

/* Short names for what queries commonly end with; libevent's words for
 * the rest. */
static const char *
eai_word(int error)
{
	switch (error) {
	case EVUTIL_EAI_NONAME: return "no such name";
	case EVUTIL_EAI_AGAIN: return "temporary failure";
	case EVUTIL_EAI_FAIL: return "server failure";
	case EVUTIL_EAI_MEMORY: return "out of memory";
	case EVUTIL_EAI_CANCEL: return "cancelled";
	default: return evutil_gai_strerror(error);
	}
}

/* Short names for what attempts commonly end with; strerror() for the rest. */
static const char *
errno_word(int error)
{
	switch (error) {
	case ECONNREFUSED: return "refused";
	case ETIMEDOUT: return "timed out";
	case EHOSTUNREACH: return "host unreachable";
	case ENETUNREACH: return "network unreachable";
	case ECONNRESET: return "reset";
	case ECANCELED: return "cancelled";
	default: return strerror(error);
	}
}

static void
dns_outcome(struct he_wf_row *row, const struct he_req_query *d)
{
	row->end = HE_WF_DONE;
	if (!d->answered) {
		snprintf(row->outcome, sizeof(row->outcome), "no answer");
		row->end = HE_WF_CUT;
	} else if (d->error) {
		snprintf(row->outcome, sizeof(row->outcome), "%s", d->error > 0 ?
		    strerror(d->error) : eai_word(d->error));
		row->end = HE_WF_FAILED;
	} else if (!d->naddrs) {
		snprintf(row->outcome, sizeof(row->outcome), "no address");
	} else {
		snprintf(row->outcome, sizeof(row->outcome), "%d address%s",
		    d->naddrs, d->naddrs == 1 ? "" : "es");
	}
}

static void
attempt_outcome(struct he_wf_row *row, const struct he_race *race,
    const struct he_attempt *a)
{
	const char *word;

	row->end = HE_WF_FAILED;
	if (a->state == HE_ATTEMPT_WON) {
		word = "WON";
		row->end = HE_WF_DONE;
	} else if (a->state == HE_ATTEMPT_RUNNING) {
		word = "running";
		row->end = HE_WF_CUT;
	} else if (a->state == HE_ATTEMPT_CANCELLED &&
	    a->error == ECANCELED) {
		/* closed by the race: another won, or the race was cancelled */
		word = race->winner >= 0 ? "lost" : "cancelled";
		row->end = HE_WF_CUT;
	} else {
		word = errno_word(a->error);
	}
	snprintf(row->outcome, sizeof(row->outcome), "%s", word);
}

/* What history knew of an address, as a note says it. */
static void
history_why(char *out, size_t n, const struct he_hist_info *info)
{
	double age = (double)info->age / 1e6;

	switch (info->state) {
	case HE_HIST_WORKED:
		snprintf(out, n, "RTT %.1f ms", (double)info->srtt / 1000.0);
		break;
	case HE_HIST_FAILED:
		snprintf(out, n, "%s %.1f s ago", errno_word(info->error), age);
		break;
	case HE_HIST_HUNG:
		snprintf(out, n, "hung %.1f s ago", age);
		break;
	default:
		snprintf(out, n, "unknown");
	}
}

/* ---- the rows ---------------------------------------------------------------- */

struct builder {
	const struct evhappy_request *req;
	struct he_wf_row *rows;
	int nrows, cap;
};

static struct he_wf_row *
new_row(struct builder *b, enum he_wf_kind kind)
{
	struct he_wf_row *row = &b->rows[b->nrows++];

	memset(row, 0, sizeof(*row));
	row->kind = kind;
	row->mark = -1;
	return row;
}

/* Times on the axis: since the race began, never before it. */
static int64_t
since(const struct evhappy_request *req, int64_t t)
{
	return t > req->race.began ? t - req->race.began : 0;
}

static void
add_queries(struct builder *b)
{
	static const char *const name[HE_NFAM] = { "DNS AAAA", "DNS A" };
	const struct evhappy_request *req = b->req;
	const struct he_race *race = &req->race;
	int fam;

	for (fam = 0; fam < HE_NFAM; fam++) {
		const struct he_req_query *d = &req->queries[fam];
		struct he_wf_row *row;
		int late;

		if (!d->asked)
			continue;
		row = new_row(b, HE_WF_QUERY);
		snprintf(row->label, sizeof(row->label), "%s", name[fam]);
		row->start = (int64_t)d->asked - 1;
		row->stop = d->answered ? (int64_t)d->answered - 1 :
		    since(req, req->race.ended);
		if (row->stop < row->start)
			row->stop = row->start;
		dns_outcome(row, d);
		/* An AAAA answer after attempts began: the Resolution Delay
		 * had run out (RFC 8305 section 3). */
		late = fam == HE_FAM_V6 && d->answered && d->naddrs &&
		    race->nattempts > 0 &&
		    row->stop > since(req, race->attempts[0].started);
		if (late)
			snprintf(row->note, sizeof(row->note), "late: after "
			    "the attempts began (Resolution Delay over)");
	}
}

static void
add_attempts(struct builder *b)
{
	const struct evhappy_request *req = b->req;
	const struct he_race *race = &req->race;
	int i;

	for (i = 0; i < race->nattempts; i++) {
		const struct he_attempt *a = &race->attempts[i];
		struct he_wf_row *row = new_row(b, HE_WF_ATTEMPT);

		addr_label(a->ai->ai_addr, row->label, sizeof(row->label));
		row->start = since(req, a->started);
		row->stop = since(req, a->ended >= 0 ? a->ended : req->race.ended);
		if (row->stop < row->start)
			row->stop = row->start;
		attempt_outcome(row, race, a);
		/* History set this attempt's own delay (he_race.h): the next
		 * start was allowed that long after it. */
		if (race->cfg.history && a->delay != race->cfg.attempt_delay)
			row->mark = row->start + a->delay;
	}
}

/* The note of history's last move of sa (where it ended up), or NULL. */
static const struct he_hist_note *
move_of(const struct he_race *race, const struct sockaddr *sa)
{
	int i;

	for (i = race->notes.n - 1; i >= 0; i--)
		if (race->notes.v[i].kind == HE_NOTE_MOVED &&
		    !race->notes.v[i].pending &&
		    he_sockaddr_equal_((const struct sockaddr *)
		    &race->notes.v[i].addr, sa))
			return &race->notes.v[i];
	return NULL;
}

/* What history did to a row's address: moved it (its trace notes say so;
 * only moves are kept for every race) and set the delay after it (read
 * from the attempt: the row's mark). */
static void
history_note(struct he_wf_row *row, const struct he_hist_note *move)
{
	char why[64], after[HE_WF_LABEL], delay[48];

	delay[0] = '\0';
	if (row->mark >= 0)
		snprintf(delay, sizeof(delay), "next attempt after %.1f ms",
		    (double)(row->mark - row->start) / 1000.0);
	if (!move) {
		if (delay[0])
			snprintf(row->note, sizeof(row->note), "history: %s",
			    delay);
		return;
	}
	history_why(why, sizeof(why), &move->info);
	if (move->after.ss_family)
		addr_label((const struct sockaddr *)&move->after, after,
		    sizeof(after));
	else
		snprintf(after, sizeof(after), "none (first)");
	snprintf(row->note, sizeof(row->note), "history: moved after %s (%s)%s%s",
	    after, why, delay[0] ? "; " : "", delay);
}

static void
add_history(struct builder *b)
{
	const struct he_race *race = &b->req->race;
	int i, first = b->nrows - race->nattempts;

	for (i = 0; i < race->nattempts; i++)
		history_note(&b->rows[first + i],
		    move_of(race, race->attempts[i].ai->ai_addr));
	/* addresses history moved that the race never tried */
	for (i = 0; i < race->notes.n; i++) {
		const struct he_hist_note *n = &race->notes.v[i];
		const struct sockaddr *sa = (const struct sockaddr *)&n->addr;
		struct he_wf_row *row;
		int j, tried = 0;

		if (n->kind != HE_NOTE_MOVED || n->pending ||
		    move_of(race, sa) != n)
			continue;
		for (j = 0; j < race->nattempts && !tried; j++)
			tried = he_sockaddr_equal_(race->attempts[j].ai->ai_addr,
			    sa);
		if (tried)
			continue;
		row = new_row(b, HE_WF_ATTEMPT);
		row->end = HE_WF_NONE;
		addr_label(sa, row->label, sizeof(row->label));
		snprintf(row->outcome, sizeof(row->outcome), "not tried");
		history_note(row, n);
	}
}

int
evhappy_report_format_style(const struct evhappy_report *r,
    enum evhappy_report_style style, int width, char *buf, size_t len)
{
	const struct evhappy_request *req;
	struct he_wf_row stack[8];
	struct builder b;
	struct he_wf wf;
	char title[256];
	size_t need;

	if (!r || (!buf && len) || (int)style < EVHAPPY_REPORT_LINE ||
	    (int)style > EVHAPPY_REPORT_SVG) {
		errno = EINVAL;
		return -1;
	}
	if (style == EVHAPPY_REPORT_LINE)
		return evhappy_report_format(r, buf, len);
	req = r->req;
	memset(&b, 0, sizeof(b));
	b.req = req;
	b.cap = HE_NFAM + req->race.nattempts + req->race.notes.n;
	b.rows = stack;
	if (b.cap > (int)(sizeof(stack) / sizeof(stack[0])) &&
	    !(b.rows = malloc((size_t)b.cap * sizeof(*b.rows)))) {
		errno = ENOMEM;
		return -1;
	}
	add_queries(&b);
	add_attempts(&b);
	add_history(&b);
	he_report_outcome_(req, title, sizeof(title));
	wf.title = title;
	wf.span = since(req, req->race.ended);
	wf.rows = b.rows;
	wf.nrows = b.nrows;
	if (style == EVHAPPY_REPORT_SVG)
		need = he_wf_svg_(&wf, width, buf, len);
	else
		need = he_wf_text_(&wf, width ? width : 80,
		    style == EVHAPPY_REPORT_WATERFALL_COLOR, buf, len);
	if (b.rows != stack)
		free(b.rows);
	if (need > (size_t)INT_MAX) {
		errno = EOVERFLOW;	/* snprintf's int cannot say it */
		return -1;
	}
	return (int)need;
}
