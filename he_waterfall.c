/*
 * The waterfall renderer (he_waterfall.h): neutral rows to text or SVG.
 * Nothing here knows of races, sockets or the library's state.
 */
#include "he_internal.h"
#include "he_waterfall.h"
#include "he_fmt.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- times ---------------------------------------------------------------- */

/* A duration as a row prints it: "0.05 ms", "2.0 ms", "250 ms", "12.5 s". */
static void
fmt_duration(char *out, size_t n, int64_t us)
{
	if (us < 0)
		us = 0;
	if (us < 1000)
		snprintf(out, n, "%.2f ms", (double)us / 1000.0);
	else if (us < 10000)
		snprintf(out, n, "%.1f ms", (double)us / 1000.0);
	else if (us < 10000000)
		snprintf(out, n, "%" PRId64 " ms", (us + 500) / 1000);
	else
		snprintf(out, n, "%.1f s", (double)us / 1e6);
}

/* A tick of the axis, with as many decimals as the step needs. */
static void
fmt_tick(char *out, size_t n, int64_t v, int64_t step)
{
	if (step >= 1000000 && v % 1000000 == 0)
		snprintf(out, n, "%" PRId64 " s", v / 1000000);
	else if (step >= 1000)
		snprintf(out, n, "%" PRId64 " ms", v / 1000);
	else
		snprintf(out, n, "%.*f ms", step >= 100 ? 1 : step >= 10 ? 2 : 3,
		    (double)v / 1000.0);
}

/* The axis' end: the span asked for, stretched to every row; never 0. */
static int64_t
axis_span(const struct he_wf *wf)
{
	int64_t span = wf->span;
	int i;

	for (i = 0; i < wf->nrows; i++) {
		const struct he_wf_row *r = &wf->rows[i];
		if (r->end != HE_WF_NONE && r->stop > span)
			span = r->stop;
		if (r->mark > span)
			span = r->mark;
	}
	return span > 0 ? span : 1000;
}

/* Ticks: the smallest step of 1, 2 or 5 times a power of ten whose labels
 * (char_units wide a character) keep at least `gap` between them when the
 * span takes `units` (columns or pixels). */
static int64_t
tick_step(int64_t span, double units, double char_units, double gap)
{
	static const int64_t mant[] = { 1, 2, 5 };
	int64_t p, step = 1;
	char label[32];
	int i;

	for (p = 1; p <= span * 10; p *= 10)
		for (i = 0; i < 3; i++) {
			step = mant[i] * p;
			fmt_tick(label, sizeof(label), span / step * step, step);
			if ((double)step * units / (double)span >=
			    (double)strlen(label) * char_units + gap)
				return step;
		}
	return step;
}

/* ---- text ----------------------------------------------------------------- */

enum tone { T_NONE, T_DNS, T_WON, T_FAILED, T_CUT, T_MARK, T_AXIS };

static const char *const tone_sgr[] = {
	"", "36", "1;32", "31", "33", "35", "2"
};

static enum tone
row_tone(const struct he_wf_row *r)
{
	switch (r->end) {
	case HE_WF_DONE:
		return r->kind == HE_WF_QUERY ? T_DNS : T_WON;
	case HE_WF_FAILED:
		return T_FAILED;
	case HE_WF_CUT:
		return T_CUT;
	default:
		return T_NONE;
	}
}

/* One line being written: plain spaces are held back, so that none ends a
 * line, and colours change only where the tone does. */
struct line {
	struct he_out *w;
	int color;
	enum tone cur;
	int spaces;
};

static void
line_begin(struct line *l, struct he_out *w, int color)
{
	l->w = w;
	l->color = color;
	l->cur = T_NONE;
	l->spaces = 0;
}

static void
line_char(struct line *l, char c, enum tone t)
{
	if (!l->color)
		t = T_NONE;
	if (c == ' ' && t == T_NONE) {
		l->spaces++;
		return;
	}
	if (l->spaces && l->cur != T_NONE) {
		he_out_put_(l->w, "\033[0m");
		l->cur = T_NONE;
	}
	for (; l->spaces > 0; l->spaces--)
		he_out_put_(l->w, " ");
	if (t != l->cur) {
		if (l->cur != T_NONE)
			he_out_put_(l->w, "\033[0m");
		if (t != T_NONE)
			he_out_put_(l->w, "\033[%sm", tone_sgr[t]);
		l->cur = t;
	}
	he_out_put_(l->w, "%c", c);
}

/* At most n characters of s. */
static void
line_text(struct line *l, const char *s, int n, enum tone t)
{
	for (; *s && n > 0; s++, n--)
		line_char(l, *s, t);
}

static void
line_pad(struct line *l, int n)
{
	for (; n > 0; n--)
		line_char(l, ' ', T_NONE);
}

static void
line_end(struct line *l)
{
	if (l->cur != T_NONE)
		he_out_put_(l->w, "\033[0m");
	he_out_put_(l->w, "\n");
	l->cur = T_NONE;
	l->spaces = 0;
}

/* The columns: indent, label, bar, time, outcome, one space between. */
#define INDENT 2
#define MIN_BAR 20
#define MIN_LABEL 8
#define MIN_OUTCOME 10

struct layout {
	int width;
	int label, bar, time, outcome;	/* widths */
	int64_t span;
};

static int
max_len(const struct he_wf *wf, size_t off, int bars_only)
{
	int i, n, m = 0;

	for (i = 0; i < wf->nrows; i++) {
		if (bars_only && wf->rows[i].end == HE_WF_NONE)
			continue;
		n = (int)strlen((const char *)&wf->rows[i] + off);
		if (n > m)
			m = n;
	}
	return m;
}

static void
layout_text(struct layout *lo, const struct he_wf *wf, int width)
{
	char d[32];
	int i, n, fixed;

	lo->width = width < HE_WF_MIN_WIDTH ? HE_WF_MIN_WIDTH :
	    width > HE_WF_MAX_WIDTH ? HE_WF_MAX_WIDTH : width;
	lo->span = axis_span(wf);
	lo->label = max_len(wf, offsetof(struct he_wf_row, label), 0);
	lo->outcome = max_len(wf, offsetof(struct he_wf_row, outcome), 0);
	lo->time = 0;
	for (i = 0; i < wf->nrows; i++) {
		if (wf->rows[i].end == HE_WF_NONE)
			continue;
		fmt_duration(d, sizeof(d), wf->rows[i].stop -
		    wf->rows[i].start);
		if ((n = (int)strlen(d)) > lo->time)
			lo->time = n;
	}
	/* A narrow screen: long labels get lines of their own first (no
	 * word is lost), then outcomes are cut. */
	fixed = INDENT + 3 + lo->time;
	if (fixed + lo->label + MIN_BAR + lo->outcome > lo->width) {
		n = lo->width - fixed - MIN_BAR - lo->outcome;
		lo->label = n > MIN_LABEL ? n : MIN_LABEL;
	}
	if (fixed + lo->label + MIN_BAR + lo->outcome > lo->width) {
		n = lo->width - fixed - MIN_BAR - lo->label;
		lo->outcome = n > MIN_OUTCOME ? n : MIN_OUTCOME;
	}
	lo->bar = lo->width - fixed - lo->label - lo->outcome;
}

static int
column(const struct layout *lo, int64_t t)
{
	int64_t c;

	if (t <= 0)
		return 0;
	if (t >= lo->span)
		return lo->bar - 1;
	c = (t * (lo->bar - 1) + lo->span / 2) / lo->span;
	return (int)c;
}

/* The title, wrapped at spaces to the width. */
static void
text_title(struct he_out *w, const char *title, int width, int color)
{
	struct line l;
	const char *p = title;
	int n, cut;

	line_begin(&l, w, color);
	while (*p) {
		n = (int)strlen(p);
		cut = n;
		if (n > width) {
			for (cut = width; cut > 0 && p[cut] != ' '; cut--)
				;
			if (cut == 0)
				cut = width;
		}
		line_text(&l, p, cut, T_NONE);
		line_end(&l);
		p += cut;
		while (*p == ' ')
			p++;
	}
}

static void
text_axis(struct he_out *w, const struct layout *lo, int color)
{
	char cells[1024], label[32];
	enum tone tones[1024];
	struct line l;
	int64_t step, t;
	int bar = lo->bar < (int)sizeof(cells) ? lo->bar : (int)sizeof(cells);
	int c, n, free_from = 0, i;

	step = tick_step(lo->span, lo->bar - 1, 1, 2);
	memset(cells, ' ', (size_t)bar);
	for (i = 0; i < bar; i++)
		tones[i] = T_NONE;
	for (t = 0; t <= lo->span; t += step) {
		fmt_tick(label, sizeof(label), t, step);
		c = column(lo, t);
		n = (int)strlen(label);
		if (c + n > bar)
			c = bar - n;	/* the last one ends where the axis does */
		if (c < free_from)
			continue;
		memcpy(cells + c, label, (size_t)n);
		for (i = c; i < c + n; i++)
			tones[i] = T_AXIS;
		free_from = c + n + 1;
	}
	line_begin(&l, w, color);
	line_pad(&l, INDENT + lo->label + 1);
	for (i = 0; i < bar; i++)
		line_char(&l, cells[i], tones[i]);
	line_end(&l);

	memset(cells, '-', (size_t)bar);
	for (t = 0; t <= lo->span; t += step)
		cells[column(lo, t)] = '+';
	line_begin(&l, w, color);
	line_pad(&l, INDENT + lo->label + 1);
	for (i = 0; i < bar; i++)
		line_char(&l, cells[i], T_AXIS);
	line_end(&l);
}

static char
end_glyph(enum he_wf_end end)
{
	return end == HE_WF_FAILED ? 'x' : end == HE_WF_CUT ? '>' : '|';
}

static void
text_row(struct he_out *w, const struct layout *lo, const struct he_wf_row *r,
    int color)
{
	char cells[1024], d[32];
	enum tone tones[1024], tone = row_tone(r);
	struct line l;
	int bar = lo->bar < (int)sizeof(cells) ? lo->bar : (int)sizeof(cells);
	int s, e, c, i, n = (int)strlen(r->label);

	line_begin(&l, w, color);
	if (n > lo->label) {
		/* too long for its column: a line of its own */
		line_pad(&l, INDENT);
		line_text(&l, r->label, lo->width - INDENT, T_NONE);
		line_end(&l);
		n = 0;
	}
	memset(cells, ' ', (size_t)bar);
	for (i = 0; i < bar; i++)
		tones[i] = T_NONE;
	if (r->end != HE_WF_NONE) {
		s = column(lo, r->start);
		e = column(lo, r->stop);
		for (c = s; c <= e && c < bar; c++) {
			cells[c] = '=';
			tones[c] = tone;
		}
		cells[s] = '|';
		cells[e] = end_glyph(r->end);
	}
	if (r->mark >= 0) {
		c = column(lo, r->mark);
		if (c < bar && (cells[c] == ' ' || cells[c] == '=')) {
			cells[c] = ':';
			tones[c] = T_MARK;
		}
	}
	line_pad(&l, INDENT);
	if (n)
		line_text(&l, r->label, lo->label, T_NONE);
	line_pad(&l, lo->label - n + 1);
	for (i = 0; i < bar; i++)
		line_char(&l, cells[i], tones[i]);
	line_pad(&l, 1);
	d[0] = '\0';
	if (r->end != HE_WF_NONE)
		fmt_duration(d, sizeof(d), r->stop - r->start);
	line_pad(&l, lo->time - (int)strlen(d));
	line_text(&l, d, lo->time, T_NONE);
	line_pad(&l, 1);
	line_text(&l, r->outcome, lo->outcome, tone);
	line_end(&l);
	if (r->note[0]) {
		line_begin(&l, w, color);
		line_pad(&l, INDENT + 2);
		line_text(&l, r->note, lo->width - INDENT - 2, T_MARK);
		line_end(&l);
	}
}

size_t
he_wf_text_(const struct he_wf *wf, int width, int color, char *buf,
    size_t len)
{
	struct he_out w;
	struct layout lo;
	int i;

	he_out_init_(&w, buf, len);
	layout_text(&lo, wf, width);
	if (wf->title)
		text_title(&w, wf->title, lo.width, color);
	text_axis(&w, &lo, color);
	for (i = 0; i < wf->nrows; i++)
		text_row(&w, &lo, &wf->rows[i], color);
	return w.need;
}

/* ---- SVG ------------------------------------------------------------------ */

/* Text as XML character data or attribute value.  Bytes XML 1.0 does not
 * allow (control characters) and bytes beyond ASCII, which need not be
 * UTF-8, become '?', so that the document always parses. */
static void
wesc(struct he_out *w, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		switch (c) {
		case '&': he_out_put_(w, "&amp;"); break;
		case '<': he_out_put_(w, "&lt;"); break;
		case '>': he_out_put_(w, "&gt;"); break;
		case '"': he_out_put_(w, "&quot;"); break;
		case '\'': he_out_put_(w, "&apos;"); break;
		default:
			he_out_put_(w, "%c", c < 0x20 || c >= 0x7f ? '?' : (char)c);
		}
	}
}

#define SVG_CHAR 7.2	/* px of a 12 px monospace character */
#define SVG_ROW 20
#define SVG_BAR 10
#define SVG_TOP 52	/* the first row's top */
#define SVG_PAD 10

static const char *const svg_class[] = {
	"", "dns", "won", "failed", "cut", "mark", "axis"
};

static const char svg_style[] =
    "text{font-family:monospace;font-size:12px;fill:#222}"
    ".title{font-weight:bold}.tick{fill:#777}"
    ".grid{stroke:#ddd;stroke-width:1}"
    ".dns{fill:#2a8fbd}.won{fill:#2e9e44}.failed{fill:#d0392b}"
    ".cut{fill:#e0a800}.mark{stroke:#a03cc8;stroke-width:2}"
    "text.note{fill:#a03cc8}text.won{font-weight:bold}";

struct svg_layout {
	int width, height;
	double left, right;	/* the bar area's edges */
	int64_t span;
};

static double
svg_x(const struct svg_layout *lo, int64_t t)
{
	if (t < 0)
		t = 0;
	return lo->left + (lo->right - lo->left) * (double)t / (double)lo->span;
}

static void
svg_layout(struct svg_layout *lo, const struct he_wf *wf, int width)
{
	int label = max_len(wf, offsetof(struct he_wf_row, label), 0);
	int outcome = max_len(wf, offsetof(struct he_wf_row, outcome), 0);
	int lines = 0, i, need;

	for (i = 0; i < wf->nrows; i++)
		lines += 1 + (wf->rows[i].note[0] != '\0');
	lo->span = axis_span(wf);
	lo->left = SVG_PAD + SVG_CHAR * label + SVG_PAD;
	/* the time (at most 8 characters), a space, the outcome */
	need = (int)(lo->left + 200 + SVG_CHAR * (9 + outcome) + SVG_PAD);
	lo->width = width <= 0 ? HE_WF_SVG_WIDTH : width < HE_WF_SVG_MIN_WIDTH ?
	    HE_WF_SVG_MIN_WIDTH : width;
	if (lo->width < need)
		lo->width = need;	/* wider rather than cut a word */
	lo->right = lo->width - SVG_PAD - SVG_CHAR * (9 + outcome) - SVG_PAD;
	lo->height = SVG_TOP + lines * SVG_ROW + SVG_PAD;
}

static void
svg_axis(struct he_out *w, const struct svg_layout *lo)
{
	char label[32];
	int64_t step = tick_step(lo->span, lo->right - lo->left, SVG_CHAR, 12);
	int64_t t;

	for (t = 0; t <= lo->span; t += step) {
		double x = svg_x(lo, t);
		fmt_tick(label, sizeof(label), t, step);
		he_out_put_(w, "<line class=\"grid\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" "
		    "y2=\"%d\"/>\n", x, SVG_TOP - 8, x, lo->height - SVG_PAD);
		he_out_put_(w, "<text class=\"tick\" x=\"%.1f\" y=\"%d\">%s</text>\n",
		    x, SVG_TOP - 14, label);
	}
}

static void
svg_row(struct he_out *w, const struct svg_layout *lo,
    const struct he_wf_row *r, int y)
{
	const char *cls = svg_class[row_tone(r)];
	char d[32], from[32], to[32];
	double x0, x1;

	d[0] = '\0';
	he_out_put_(w, "<g class=\"row\">\n<title>");
	wesc(w, r->label);
	if (r->end != HE_WF_NONE) {
		fmt_duration(d, sizeof(d), r->stop - r->start);
		fmt_duration(from, sizeof(from), r->start);
		fmt_duration(to, sizeof(to), r->stop);
		he_out_put_(w, ": %s to %s, ", from, to);
	} else {
		he_out_put_(w, ": ");
	}
	wesc(w, r->outcome);
	he_out_put_(w, "</title>\n<text x=\"%d\" y=\"%d\">", SVG_PAD, y + 14);
	wesc(w, r->label);
	he_out_put_(w, "</text>\n");
	if (r->end != HE_WF_NONE) {
		x0 = svg_x(lo, r->start);
		x1 = svg_x(lo, r->stop);
		if (x1 - x0 < 2)
			x1 = x0 + 2;	/* a bar too short to see */
		he_out_put_(w, "<rect class=\"%s\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" "
		    "height=\"%d\"/>\n", cls, x0, y + (SVG_ROW - SVG_BAR) / 2,
		    x1 - x0, SVG_BAR);
	}
	if (r->mark >= 0) {
		x0 = svg_x(lo, r->mark);
		he_out_put_(w, "<line class=\"mark\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" "
		    "y2=\"%d\"/>\n", x0, y + 2, x0, y + SVG_ROW - 2);
	}
	he_out_put_(w, "<text%s%s%s x=\"%.1f\" y=\"%d\">%s%s",
	    cls[0] ? " class=\"" : "", cls, cls[0] ? "\"" : "",
	    lo->right + SVG_PAD, y + 14, d, d[0] ? " " : "");
	wesc(w, r->outcome);
	he_out_put_(w, "</text>\n</g>\n");
	if (r->note[0]) {
		he_out_put_(w, "<text class=\"note\" x=\"%d\" y=\"%d\">", SVG_PAD + 16,
		    y + SVG_ROW + 14);
		wesc(w, r->note);
		he_out_put_(w, "</text>\n");
	}
}

size_t
he_wf_svg_(const struct he_wf *wf, int width, char *buf, size_t len)
{
	struct he_out w;
	struct svg_layout lo;
	int i, y = SVG_TOP;

	he_out_init_(&w, buf, len);
	svg_layout(&lo, wf, width);
	he_out_put_(&w, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
	    "height=\"%d\" viewBox=\"0 0 %d %d\">\n", lo.width, lo.height,
	    lo.width, lo.height);
	he_out_put_(&w, "<title>");
	wesc(&w, wf->title ? wf->title : "evhappy waterfall");
	he_out_put_(&w, "</title>\n<style>%s</style>\n", svg_style);
	he_out_put_(&w, "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n",
	    lo.width, lo.height);
	if (wf->title) {
		he_out_put_(&w, "<text class=\"title\" x=\"%d\" y=\"18\">", SVG_PAD);
		wesc(&w, wf->title);
		he_out_put_(&w, "</text>\n");
	}
	svg_axis(&w, &lo);
	for (i = 0; i < wf->nrows; i++) {
		svg_row(&w, &lo, &wf->rows[i], y);
		y += SVG_ROW * (1 + (wf->rows[i].note[0] != '\0'));
	}
	he_out_put_(&w, "</svg>\n");
	return w.need;
}
