/*
 * A waterfall: rows of bars on one shared time axis, like a browser's
 * network panel, drawn as text (plain ASCII, or with ANSI colours) or as a
 * self-contained SVG image.
 *
 * A pure renderer: it knows nothing of races.  Its caller
 * (he_report_style.c) turns a report into the neutral rows below (labels,
 * times, how each bar ended, the words to print); this file only lays them
 * out.  It allocates nothing and writes with snprintf's convention.
 *
 * The text form, for width W (at least HE_WF_MIN_WIDTH columns):
 *
 *   connected to 192.0.2.1:443 in 254 ms              (the title)
 *                       0 ms         100 ms        200 ms
 *                       +------------+-------------+-------
 *     DNS AAAA          |                                   2.0 ms 1 address
 *     DNS A             |                                   3.0 ms 1 address
 *     [2001:db8::1]:443 |=================================> 252 ms lost
 *     192.0.2.1:443                                       | 2.0 ms WON
 *
 * Each bar begins with '|' and ends with a glyph for how it ended: '|'
 * done (an answer, the winner), 'x' failed, '>' cut off while still
 * running (a loser, a cancel, a query nobody waited for any more); ':'
 * marks a row's marker time (history's delay).  A row whose bar has no
 * room before the right column still shows its time and outcome; a label
 * too long for the label column gets a line of its own; a row's note is a
 * line under it.  No line is wider than W (escape sequences aside).
 */
#ifndef EVHAPPY_HE_WATERFALL_H_INCLUDED_
#define EVHAPPY_HE_WATERFALL_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>

#define HE_WF_MIN_WIDTH 60	/* text: columns, at least */
#define HE_WF_MAX_WIDTH 1000	/* and at most */
#define HE_WF_SVG_WIDTH 960	/* SVG: pixels when none is asked for */
#define HE_WF_SVG_MIN_WIDTH 480

/** Room for a label, an outcome, a note (NUL included). */
#define HE_WF_LABEL 64
#define HE_WF_OUTCOME 64
#define HE_WF_NOTE 256

/** How a row's bar ends. */
enum he_wf_end {
	HE_WF_DONE,	/* it ended well: '|' */
	HE_WF_FAILED,	/* 'x' */
	HE_WF_CUT,	/* stopped while it still ran: '>' */
	HE_WF_NONE	/* no bar at all (it never ran): text only */
};

/** What a row stands for: it picks the colour of a done bar. */
enum he_wf_kind {
	HE_WF_QUERY,	/* a DNS query */
	HE_WF_ATTEMPT	/* a connection attempt */
};

struct he_wf_row {
	enum he_wf_kind kind;
	enum he_wf_end end;
	int64_t start, stop;	/* microseconds on the axis; stop >= start */
	int64_t mark;		/* a ':' on the row at this time, or -1 */
	char label[HE_WF_LABEL];	/* "DNS AAAA", "[2001:db8::1]:443" */
	char outcome[HE_WF_OUTCOME];	/* "WON", "refused", "2 addresses" */
	char note[HE_WF_NOTE];		/* a line under the row, or "" */
};

struct he_wf {
	const char *title;		/* the first line, or NULL */
	int64_t span;			/* the axis' end in microseconds; it
					   is stretched to every row's end */
	const struct he_wf_row *rows;
	int nrows;
};

/** The waterfall as text lines, each ending in '\n'.  width: columns
    (below HE_WF_MIN_WIDTH counts as that); color: ANSI SGR colours.
    Writes at most len bytes, NUL-terminated when len > 0; returns the
    length the whole text needs (snprintf's convention).  Wider than
    HE_WF_MAX_WIDTH counts as that. */
size_t he_wf_text_(const struct he_wf *wf, int width, int color, char *buf,
    size_t len);

/** The waterfall as one SVG document (UTF-8, no external resources):
    the rows' labels, times and outcomes as text.  width: pixels (0:
    HE_WF_SVG_WIDTH; below HE_WF_SVG_MIN_WIDTH counts as that).  As
    he_wf_text_ for buf, len and the result. */
size_t he_wf_svg_(const struct he_wf *wf, int width, char *buf, size_t len);

#endif
