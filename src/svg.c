#include "svg.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define SVG_W 800
#define SVG_H 500
#define MAX_TITLE_CHARS 80
#define DOWNSAMPLE_ABOVE 2000
#define DOWNSAMPLE_BUCKETS 1000
#define VALUE_LIMIT 1e306		/* larger magnitudes are clamped for ranges */
#define MARKERS_UP_TO 40		/* per-point markers on short curves */

/* Colours (also used in the <style> block). */
#define C_RAW "#9ecae1"
#define C_SMOOTH "#08519c"
#define C_SUGGEST "#d62728"
#define C_SCHED "#2ca02c"
#define C_TRAIN "#1f77b4"
#define C_VALID "#ff7f0e"
#define C_LR "#6b6b6b"

/* ------------------------------------------------------------------ output */

static void
put(const CfSvgSink *out, const char *s)
{
	out->write(out->ctx, s, strlen(s));
}

/* A pixel coordinate with one decimal, written with integer conversions only. */
static void
put_coord(const CfSvgSink *out, double v)
{
	char		buf[32];
	long		t;
	bool		neg;

	if (!isfinite(v))
		v = 0;
	if (v > 1e5)
		v = 1e5;
	if (v < -1e5)
		v = -1e5;
	t = lround(v * 10);
	neg = t < 0;
	if (neg)
		t = -t;
	if (t % 10)
		snprintf(buf, sizeof buf, "%s%ld.%ld", neg ? "-" : "", t / 10, t % 10);
	else
		snprintf(buf, sizeof buf, "%s%ld", neg && t ? "-" : "", t / 10);
	put(out, buf);
}

/*
 * XML-escaped text: & < > " ' become entities, control characters spaces,
 * invalid UTF-8 (and code points XML forbids) '?'.  At most max_chars code
 * points, then "…".
 */
static void
put_text(const CfSvgSink *out, const char *s, int max_chars)
{
	const unsigned char *p = (const unsigned char *) (s ? s : "");
	int			chars = 0;

	while (*p)
	{
		unsigned	c = *p;
		int			len = 1;
		unsigned	cp;

		if (chars == max_chars)
		{
			put(out, "\xe2\x80\xa6");
			return;
		}
		chars++;
		if (c < 0x80)
		{
			switch (c)
			{
				case '&':
					put(out, "&amp;");
					break;
				case '<':
					put(out, "&lt;");
					break;
				case '>':
					put(out, "&gt;");
					break;
				case '"':
					put(out, "&quot;");
					break;
				case '\'':
					put(out, "&apos;");
					break;
				default:
					if (c < 0x20 || c == 0x7f)
						put(out, " ");
					else
						out->write(out->ctx, (const char *) p, 1);
			}
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			len = 2, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			len = 3, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			len = 4, cp = c & 0x07;
		else
		{
			put(out, "?");
			p++;
			continue;
		}
		for (int k = 1; k < len; k++)
		{
			if ((p[k] & 0xc0) != 0x80)
			{
				len = -k;		/* truncated sequence: k bytes consumed */
				break;
			}
			cp = (cp << 6) | (p[k] & 0x3f);
		}
		if (len < 0)
		{
			put(out, "?");
			p += -len;
			continue;
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
			(cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff ||
			(cp >= 0x80 && cp <= 0x9f))
			put(out, "?");
		else
			out->write(out->ctx, (const char *) p, len);
		p += len;
	}
}

/*
 * A tiny formatter whose conversions cannot depend on the locale:
 *   %d int, %l long, %p pixel coordinate (double), %s trusted ASCII,
 *   %t user text (escaped, cut at MAX_TITLE_CHARS), %%.
 */
static void
svgf(const CfSvgSink *out, const char *fmt,...)
{
	va_list		ap;
	const char *run = fmt;
	char		buf[32];

	va_start(ap, fmt);
	for (const char *f = fmt; *f; f++)
	{
		if (*f != '%')
			continue;
		if (f > run)
			out->write(out->ctx, run, f - run);
		f++;
		switch (*f)
		{
			case 'd':
				snprintf(buf, sizeof buf, "%d", va_arg(ap, int));
				put(out, buf);
				break;
			case 'l':
				snprintf(buf, sizeof buf, "%ld", va_arg(ap, long));
				put(out, buf);
				break;
			case 'p':
				put_coord(out, va_arg(ap, double));
				break;
			case 's':
				put(out, va_arg(ap, const char *));
				break;
			case 't':
				put_text(out, va_arg(ap, const char *), MAX_TITLE_CHARS);
				break;
			case '%':
				put(out, "%");
				break;
			default:
				f--;			/* lone '%' at the end: write it */
				break;
		}
		run = f + 1;
	}
	if (*run)
		put(out, run);
	va_end(ap);
}

/* ----------------------------------------------------------- number labels */

/*
 * Rewrite whatever a locale used as decimal separator to '.': the strings
 * here hold only digits, signs, 'e' and that separator.
 */
static void
fix_decimal(char *s)
{
	char	   *w = s;

	for (const char *r = s; *r;)
	{
		if ((*r >= '0' && *r <= '9') || *r == '-' || *r == '+' || *r == 'e')
			*w++ = *r++;
		else
		{
			*w++ = '.';
			while (*r && !((*r >= '0' && *r <= '9') || *r == '-' || *r == '+' || *r == 'e'))
				r++;
		}
	}
	*w = '\0';
}

/* "2e-04" -> "2e-4", "1.5e+06" -> "1.5e+6" */
static void
compact_exponent(char *s)
{
	char	   *e = strchr(s, 'e');
	char	   *d;

	if (!e || (e[1] != '-' && e[1] != '+'))
		return;
	d = e + 2;
	while (d[0] == '0' && d[1] != '\0')
		memmove(d, d + 1, strlen(d));
}

void
cf_svg_format_lr(double lr, char buf[32])
{
	if (!isfinite(lr))
	{
		strcpy(buf, "n/a");
		return;
	}
	snprintf(buf, 32, "%.1e", lr);
	fix_decimal(buf);
}

/* Label of tick value v on an axis with tick step `step` (1, 2 or 5 × 10^k). */
static void
tick_label(char *buf, size_t size, double v, double step, double maxabs)
{
	int			k = (int) floor(log10(step) + 1e-9);

	if (v == 0)
		snprintf(buf, size, "0");
	else if (maxabs >= 1e6 || maxabs < 1e-3)
	{
		int			e = (int) floor(log10(maxabs) + 1e-9);
		int			prec = e - k;

		if (prec < 0)
			prec = 0;
		if (prec > 6)
			prec = 6;
		snprintf(buf, size, "%.*e", prec, v);
		fix_decimal(buf);
		compact_exponent(buf);
	}
	else
	{
		int			dec = -k;

		if (dec < 0)
			dec = 0;
		if (dec > 10)
			dec = 10;
		snprintf(buf, size, "%.*f", dec, v);
		fix_decimal(buf);
	}
}

/* ------------------------------------------------------------------- ranges */

typedef struct Range
{
	double		lo;
	double		hi;
	bool		any;
} Range;

static void
range_init(Range *r)
{
	r->lo = INFINITY;
	r->hi = -INFINITY;
	r->any = false;
}

static double
clampv(double v)
{
	return v > VALUE_LIMIT ? VALUE_LIMIT : v < -VALUE_LIMIT ? -VALUE_LIMIT : v;
}

static void
range_add(Range *r, double v)
{
	if (!isfinite(v))
		return;
	v = clampv(v);
	if (v < r->lo)
		r->lo = v;
	if (v > r->hi)
		r->hi = v;
	r->any = true;
}

/* Give a zero (or nearly zero) span some room, then pad by frac of the span. */
static void
range_finish(Range *r, double def_lo, double def_hi, double frac)
{
	double		span;

	if (!r->any)
	{
		r->lo = def_lo;
		r->hi = def_hi;
		return;
	}
	span = r->hi - r->lo;
	if (!(span > 1e-9 * fmax(fabs(r->lo), fabs(r->hi))) || span < 1e4 * DBL_MIN)
	{
		double		mid = r->lo / 2 + r->hi / 2;
		double		half = mid != 0 ? fabs(mid) * 0.1 : 1;

		r->lo = mid - half;
		r->hi = mid + half;
		return;					/* already roomy: no padding */
	}
	r->lo -= span * frac;
	r->hi += span * frac;
}

typedef struct Ticks
{
	double		first;			/* index of the first tick: value = (first + i) * step */
	double		step;
	int			count;
	double		maxabs;
} Ticks;

static double
nice_step(double raw)
{
	double		mag = pow(10, floor(log10(raw)));
	double		m = raw / mag;

	if (m < 1.5)
		return mag;
	if (m < 3.5)
		return 2 * mag;
	if (m < 7.5)
		return 5 * mag;
	return 10 * mag;
}

static Ticks
make_ticks(double lo, double hi, int target, double min_step)
{
	Ticks		t;
	double		last;

	t.step = nice_step((hi - lo) / target);
	if (t.step < min_step)
		t.step = min_step;
	t.first = ceil(lo / t.step - 1e-9);
	last = floor(hi / t.step + 1e-9);
	t.count = (int) fmin(fmax(last - t.first + 1, 0), 50);
	t.maxabs = fmax(fabs(t.first * t.step), fabs((t.first + t.count - 1) * t.step));
	return t;
}

static double
tick_value(const Ticks *t, int i)
{
	double		v = (t->first + i) * t->step;

	return fabs(v) < t->step * 1e-6 ? 0 : v;
}

/* Approximate width in pixels of a tick label at 11px (DejaVu Sans metrics). */
static double
label_px(const char *s)
{
	double		w = 0;

	for (; *s; s++)
		w += (*s >= '0' && *s <= '9') ? 7.0 : *s == '.' ? 3.5 : *s == '-' ? 3.7 :
			*s == '+' ? 9.2 : *s == 'e' ? 6.8 : 7.0;
	return w;
}

/* Widest label among the linear ticks of [lo, hi]. */
static double
ticks_px(double lo, double hi, int target)
{
	Ticks		t = make_ticks(lo, hi, target, 0);
	char		lab[64];
	double		w = 0;

	for (int i = 0; i < t.count; i++)
	{
		tick_label(lab, sizeof lab, tick_value(&t, i), t.step, t.maxabs);
		w = fmax(w, label_px(lab));
	}
	return w;
}

/* Left edge of the plot area so that labels of width w and the y title fit. */
static double
left_edge(double w)
{
	return fmax(70, w + 40);
}

/* x of the (rotated) y-axis title left of a plot starting at x0 with labels w. */
static double
y_title_x(double x0, double w)
{
	return fmax(14, x0 - 8 - w - 12);
}

/* -------------------------------------------------------------------- panels */

typedef struct Axis
{
	double		lo;				/* log10 units on a log axis */
	double		hi;
	bool		log;
	double		p0;				/* pixel of lo */
	double		p1;				/* pixel of hi */
} Axis;

typedef struct Panel
{
	double		x0,
				y0,
				x1,
				y1;				/* plot area in pixels */
	Axis		ax;
	Axis		ay;
	const char *clip;			/* clipPath id */
} Panel;

static bool
axis_ok(const Axis *a, double v)
{
	return isfinite(v) && (!a->log || v > 0);
}

static double
axis_map(const Axis *a, double v)
{
	double		t = a->log ? log10(v) : v;
	double		f = (t - a->lo) / (a->hi - a->lo);

	/* far outside (or overflowing): pinned well beyond the clip rectangle */
	if (!(f <= 50))
		f = 50;
	if (!(f >= -50))
		f = -50;
	return a->p0 + f * (a->p1 - a->p0);
}

static void
panel_set(Panel *p, double x0, double y0, double x1, double y1, const char *clip)
{
	p->x0 = x0;
	p->y0 = y0;
	p->x1 = x1;
	p->y1 = y1;
	p->ax.p0 = x0;
	p->ax.p1 = x1;
	p->ay.p0 = y1;
	p->ay.p1 = y0;
	p->clip = clip;
}

static void
panel_clip(const CfSvgSink *out, const Panel *p)
{
	svgf(out, "<clipPath id=\"%s\"><rect x=\"%p\" y=\"%p\" width=\"%p\" height=\"%p\"/></clipPath>\n",
		 p->clip, p->x0, p->y0, p->x1 - p->x0, p->y1 - p->y0);
}

static void
panel_background(const CfSvgSink *out, const Panel *p)
{
	svgf(out, "<rect class=\"plotbg\" x=\"%p\" y=\"%p\" width=\"%p\" height=\"%p\"/>\n",
		 p->x0, p->y0, p->x1 - p->x0, p->y1 - p->y0);
}

static void
panel_frame(const CfSvgSink *out, const Panel *p)
{
	svgf(out, "<rect class=\"frame\" x=\"%p\" y=\"%p\" width=\"%p\" height=\"%p\"/>\n",
		 p->x0, p->y0, p->x1 - p->x0, p->y1 - p->y0);
}

/* Linear y ticks with grid lines; right = ticks on the right side (no grid). */
static void
y_ticks_linear(const CfSvgSink *out, const Panel *p, const Axis *a, int target,
			   bool right, const char *cls)
{
	Ticks		t = make_ticks(a->lo, a->hi, target, 0);
	char		lab[64];

	for (int i = 0; i < t.count; i++)
	{
		double		v = tick_value(&t, i);
		double		y = axis_map(a, v);

		if (y < p->y0 - 0.5 || y > p->y1 + 0.5)
			continue;
		if (!right)
			svgf(out, "<line class=\"grid\" x1=\"%p\" y1=\"%p\" x2=\"%p\" y2=\"%p\"/>\n",
				 p->x0, y, p->x1, y);
		if (right)
			svgf(out, "<line class=\"tick\" x1=\"%p\" y1=\"%p\" x2=\"%p\" y2=\"%p\"/>\n",
				 p->x1, y, p->x1 + 5, y);
		else
			svgf(out, "<line class=\"tick\" x1=\"%p\" y1=\"%p\" x2=\"%p\" y2=\"%p\"/>\n",
				 p->x0 - 5, y, p->x0, y);
		tick_label(lab, sizeof lab, v, t.step, t.maxabs);
		svgf(out, "<text class=\"%s\" x=\"%p\" y=\"%p\" text-anchor=\"%s\">%s</text>\n",
			 cls, right ? p->x1 + 8 : p->x0 - 8, y + 4, right ? "start" : "end", lab);
	}
}

/* Linear x ticks with grid lines; min_step 1 gives integer ticks. */
static void
x_ticks_linear(const CfSvgSink *out, const Panel *p, int target, double min_step)
{
	Ticks		t = make_ticks(p->ax.lo, p->ax.hi, target, min_step);
	char		lab[64];

	for (int i = 0; i < t.count; i++)
	{
		double		v = tick_value(&t, i);
		double		x = axis_map(&p->ax, v);

		if (x < p->x0 - 0.5 || x > p->x1 + 0.5)
			continue;
		svgf(out, "<line class=\"grid\" x1=\"%p\" y1=\"%p\" x2=\"%p\" y2=\"%p\"/>\n",
			 x, p->y0, x, p->y1);
		svgf(out, "<line class=\"tick\" x1=\"%p\" y1=\"%p\" x2=\"%p\" y2=\"%p\"/>\n",
			 x, p->y1, x, p->y1 + 5);
		tick_label(lab, sizeof lab, v, t.step, t.maxabs);
		svgf(out, "<text class=\"ticklabel\" x=\"%p\" y=\"%p\" text-anchor=\"middle\">%s</text>\n",
			 x, p->y1 + 18, lab);
	}
}

/* Decade ticks "1e-4" on a log x axis (lo, hi are whole decades), minor ticks 2..9. */
static void
x_ticks_log(const CfSvgSink *out, const Panel *p)
{
	int			d0 = (int) lround(p->ax.lo);
	int			d1 = (int) lround(p->ax.hi);
	int			decades = d1 - d0;
	int			every = decades > 10 ? (decades + 9) / 10 : 1;
	char		lab[32];

	for (int d = d0; d <= d1; d++)
	{
		double		x = p->ax.p0 + (double) (d - d0) / decades * (p->ax.p1 - p->ax.p0);
		bool		labelled = (d - d0) % every == 0;

		svgf(out, "<line class=\"%s\" x1=\"%p\" y1=\"%p\" x2=\"%p\" y2=\"%p\"/>\n",
			 labelled ? "grid" : "gridminor", x, p->y0, x, p->y1);
		svgf(out, "<line class=\"tick\" x1=\"%p\" y1=\"%p\" x2=\"%p\" y2=\"%p\"/>\n",
			 x, p->y1, x, p->y1 + (labelled ? 5 : 3));
		if (labelled)
		{
			snprintf(lab, sizeof lab, "1e%+d", d);
			svgf(out, "<text class=\"ticklabel\" x=\"%p\" y=\"%p\" text-anchor=\"middle\">%s</text>\n",
				 x, p->y1 + 18, lab);
		}
		if (d < d1 && decades <= 12)
			for (int m = 2; m <= 9; m++)
			{
				double		xm = x + log10(m) / decades * (p->ax.p1 - p->ax.p0);

				svgf(out, "<line class=\"tick\" x1=\"%p\" y1=\"%p\" x2=\"%p\" y2=\"%p\"/>\n",
					 xm, p->y1, xm, p->y1 + 3);
			}
	}
}

static void
x_title(const CfSvgSink *out, const Panel *p, double y, const char *text)
{
	svgf(out, "<text class=\"axistitle\" x=\"%p\" y=\"%p\" text-anchor=\"middle\">%s</text>\n",
		 (p->x0 + p->x1) / 2, y, text);
}

static void
y_title(const CfSvgSink *out, const Panel *p, double x, const char *text, const char *cls)
{
	double		y = (p->y0 + p->y1) / 2;

	svgf(out, "<text class=\"%s\" x=\"%p\" y=\"%p\" text-anchor=\"middle\" transform=\"rotate(-90 %p %p)\">%s</text>\n",
		 cls, x, y, x, y, text);
}

static void
no_data(const CfSvgSink *out, const Panel *p)
{
	svgf(out, "<text class=\"nodata\" x=\"%p\" y=\"%p\" text-anchor=\"middle\">no data</text>\n",
		 (p->x0 + p->x1) / 2, (p->y0 + p->y1) / 2 + 5);
}

/* ------------------------------------------------------------------- series */

typedef struct Series
{
	const double *x;			/* x values, or */
	const int  *xi;				/* integer x values, or (both NULL) x = index + x_offset */
	double		x_offset;
	const double *y;
	long		n;
} Series;

static double
series_x(const Series *s, long i)
{
	return s->x ? s->x[i] : s->xi ? (double) s->xi[i] : (double) i + s->x_offset;
}

static bool
series_ok(const Series *s, const Axis *ax, long i)
{
	return s->y && isfinite(s->y[i]) && axis_ok(ax, series_x(s, i));
}

static long
series_count(const Series *s, const Axis *ax)
{
	long		c = 0;

	for (long i = 0; i < s->n; i++)
		c += series_ok(s, ax, i);
	return c;
}

typedef struct PathState
{
	bool		pen_down;
	long		emitted;
} PathState;

static void
path_point(const CfSvgSink *out, const Panel *p, const Axis *ay, PathState *st,
		   const Series *s, long i)
{
	svgf(out, st->pen_down ? " L%p %p" : " M%p %p",
		 axis_map(&p->ax, series_x(s, i)), axis_map(ay, s->y[i]));
	st->pen_down = true;
	st->emitted++;
}

/* The series as one <path>, with gaps at invalid points, down-sampled if long. */
static void
series_path(const CfSvgSink *out, const Panel *p, const Axis *ay, const Series *s,
			const char *cls)
{
	PathState	st = {false, 0};

	if (series_count(s, &p->ax) == 0)
		return;
	svgf(out, "<path class=\"%s\" clip-path=\"url(#%s)\" d=\"", cls, p->clip);
	if (s->n <= DOWNSAMPLE_ABOVE)
	{
		for (long i = 0; i < s->n; i++)
		{
			if (series_ok(s, &p->ax, i))
				path_point(out, p, ay, &st, s, i);
			else
				st.pen_down = false;
		}
	}
	else
	{
		for (long b = 0; b < DOWNSAMPLE_BUCKETS; b++)
		{
			long		from = (long) ((long long) b * s->n / DOWNSAMPLE_BUCKETS);
			long		to = (long) ((long long) (b + 1) * s->n / DOWNSAMPLE_BUCKETS);
			long		imin = -1,
						imax = -1;

			for (long i = from; i < to; i++)
			{
				if (!series_ok(s, &p->ax, i))
					continue;
				if (imin < 0 || s->y[i] < s->y[imin])
					imin = i;
				if (imax < 0 || s->y[i] > s->y[imax])
					imax = i;
			}
			if (imin < 0)
			{
				st.pen_down = false;
				continue;
			}
			if (imin == imax)
				path_point(out, p, ay, &st, s, imin);
			else
			{
				path_point(out, p, ay, &st, s, imin < imax ? imin : imax);
				path_point(out, p, ay, &st, s, imin < imax ? imax : imin);
			}
		}
	}
	put(out, "\"/>\n");
}

static void
series_markers(const CfSvgSink *out, const Panel *p, const Axis *ay, const Series *s,
			   const char *cls, double r)
{
	if (series_count(s, &p->ax) == 0)
		return;
	svgf(out, "<g class=\"%s\" clip-path=\"url(#%s)\">", cls, p->clip);
	for (long i = 0; i < s->n; i++)
		if (series_ok(s, &p->ax, i))
			svgf(out, "<circle cx=\"%p\" cy=\"%p\" r=\"%p\"/>",
				 axis_map(&p->ax, series_x(s, i)), axis_map(ay, s->y[i]), r);
	put(out, "</g>\n");
}

/* ------------------------------------------------------------------- legend */

typedef struct LegendItem
{
	const char *label;
	const char *line_cls;		/* class of the swatch line */
	const char *marker_cls;		/* class of a dot on the swatch, or NULL */
} LegendItem;

/* One row of items, right-aligned at x_right, text baseline y. */
static void
legend(const CfSvgSink *out, const LegendItem *items, int n, double x_right, double y)
{
	double		width = 0;
	double		x;

	for (int i = 0; i < n; i++)
		width += 28 + 6.8 * strlen(items[i].label) + (i ? 22 : 0);
	x = x_right - width;
	put(out, "<g class=\"legend\">\n");
	for (int i = 0; i < n; i++)
	{
		svgf(out, "<line class=\"%s\" x1=\"%p\" y1=\"%p\" x2=\"%p\" y2=\"%p\"/>",
			 items[i].line_cls, x, y - 4, x + 22, y - 4);
		if (items[i].marker_cls)
			svgf(out, "<circle class=\"%s\" cx=\"%p\" cy=\"%p\" r=\"3\"/>",
				 items[i].marker_cls, x + 11, y - 4);
		svgf(out, "<text class=\"legendtext\" x=\"%p\" y=\"%p\">%s</text>\n",
			 x + 28, y, items[i].label);
		x += 28 + 6.8 * strlen(items[i].label) + 22;
	}
	put(out, "</g>\n");
}

/* ----------------------------------------------------------------- document */

static void
doc_begin(const CfSvgSink *out, const char *title, const char *kind, double title_x)
{
	svgf(out,
		 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		 "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n",
		 SVG_W, SVG_H, SVG_W, SVG_H);
	svgf(out, "<title>%t \xe2\x80\x93 %s</title>\n", title, kind);
	put(out,
		"<style>\n"
		"text { font-family: 'DejaVu Sans', 'Helvetica Neue', Helvetica, Arial, sans-serif; fill: #333333; }\n"
		".title { font-size: 17px; font-weight: bold; fill: #1a1a1a; }\n"
		".subtitle { font-size: 12px; fill: #555555; }\n"
		".ticklabel { font-size: 11px; fill: #555555; }\n"
		".ticklabel2 { font-size: 11px; fill: " C_LR "; }\n"
		".axistitle { font-size: 13px; fill: #333333; }\n"
		".axistitle2 { font-size: 13px; fill: " C_LR "; }\n"
		".legendtext { font-size: 12px; fill: #333333; }\n"
		".nodata { font-size: 15px; font-style: italic; fill: #999999; }\n"
		".annot { font-size: 12px; font-weight: bold; fill: " C_SUGGEST "; stroke: #ffffff; stroke-width: 4px; stroke-linejoin: round; paint-order: stroke; }\n"
		".bg { fill: #ffffff; }\n"
		".plotbg { fill: #fcfcfc; }\n"
		".frame { fill: none; stroke: #888888; stroke-width: 1px; }\n"
		".grid { stroke: #e3e3e3; stroke-width: 1px; }\n"
		".gridminor { stroke: #f0f0f0; stroke-width: 1px; }\n"
		".tick { stroke: #888888; stroke-width: 1px; }\n"
		"path, polyline { fill: none; stroke-linejoin: round; stroke-linecap: round; }\n"
		".raw { stroke: " C_RAW "; stroke-width: 1.2px; }\n"
		".rawonly { stroke: " C_TRAIN "; stroke-width: 1.5px; }\n"
		".smooth { stroke: " C_SMOOTH "; stroke-width: 2.5px; }\n"
		".suggest { stroke: " C_SUGGEST "; stroke-width: 1.5px; stroke-dasharray: 6 4; }\n"
		".suggestdot { fill: " C_SUGGEST "; stroke: #ffffff; stroke-width: 1.5px; }\n"
		".sched { stroke: " C_SCHED "; stroke-width: 2px; }\n"
		".train { stroke: " C_TRAIN "; stroke-width: 2.5px; }\n"
		".valid { stroke: " C_VALID "; stroke-width: 2.5px; }\n"
		".lr { stroke: " C_LR "; stroke-width: 1.5px; stroke-dasharray: 5 4; }\n"
		".traindot { fill: " C_TRAIN "; stroke: #ffffff; stroke-width: 1px; }\n"
		".validdot { fill: " C_VALID "; stroke: #ffffff; stroke-width: 1px; }\n"
		".scheddot { fill: " C_SCHED "; }\n"
		".lrdot { fill: " C_LR "; stroke: #ffffff; stroke-width: 1px; }\n"
		".smoothdot { fill: " C_SMOOTH "; stroke: #ffffff; stroke-width: 1px; }\n"
		"</style>\n");
	svgf(out, "<rect class=\"bg\" x=\"0\" y=\"0\" width=\"%d\" height=\"%d\"/>\n", SVG_W, SVG_H);
	svgf(out, "<text class=\"title\" x=\"%p\" y=\"27\">%t</text>\n", title_x, title);
}

static void
doc_end(const CfSvgSink *out)
{
	put(out, "</svg>\n");
}

static const char *
title_or(const char *title, const char *def)
{
	return title && *title ? title : def;
}

/* ------------------------------------------------------------ range test plot */

/* y-range of the range test; see svg.h. */
static void
lr_y_range(const Panel *main, const Series *raw_s, const Series *smooth_s,
		   bool has_raw, bool has_smooth, Range *yr)
{
	Range		sr,
				rr;
	double		first = NAN;

	range_init(&sr);
	range_init(&rr);
	for (long i = 0; i < raw_s->n; i++)
	{
		if (has_smooth && series_ok(smooth_s, &main->ax, i))
		{
			range_add(&sr, smooth_s->y[i]);
			if (isnan(first))
				first = clampv(smooth_s->y[i]);
		}
		if (has_raw && series_ok(raw_s, &main->ax, i))
		{
			range_add(&rr, raw_s->y[i]);
			if (!has_smooth && isnan(first))
				first = clampv(raw_s->y[i]);
		}
	}
	if (!has_smooth)
		sr = rr;
	range_init(yr);
	if (sr.any)
	{
		double		top = rr.any ? fmax(sr.hi, rr.hi) : sr.hi;
		double		bottom = sr.lo;

		if (first > sr.lo)
			top = fmin(top, sr.lo + 3 * (first - sr.lo));
		if (rr.any && rr.lo < bottom)
			bottom = fmax(rr.lo, sr.lo - 0.5 * (top - sr.lo));
		range_add(yr, bottom);
		range_add(yr, top);
	}
	range_finish(yr, 0, 1, 0.05);
}

void
cf_svg_lr_plot(const CfSvgSink *out, const char *title,
			   const double *lrs, const double *losses, const double *smoothed, int n,
			   int suggested,
			   const double *schedule_lr, long n_schedule)
{
	bool		has_sched = schedule_lr != NULL && n_schedule > 0;
	Panel		main = {0},
				sched = {0};
	Series		raw_s,
				smooth_s,
				sched_s;
	Range		xr,
				yr,
				lr_r;
	bool		has_raw,
				has_smooth,
				has_suggest;
	LegendItem	items[3];
	int			nitems = 0;
	double		w,
				x0;
	int			main_ticks = has_sched ? 4 : 6;
	int			sched_ticks = 3;

	if (n < 0 || !lrs)
		n = 0;
	title = title_or(title, "learning-rate range test");
	main.ax.log = true;

	/* x: whole decades around the finite positive rates, at least two */
	range_init(&xr);
	for (int i = 0; i < n; i++)
		if (isfinite(lrs[i]) && lrs[i] > 0)
			range_add(&xr, log10(lrs[i]));
	if (xr.any)
	{
		main.ax.lo = floor(xr.lo + 1e-9);
		main.ax.hi = ceil(xr.hi - 1e-9);
		if (main.ax.hi - main.ax.lo < 2)
		{
			main.ax.lo = floor(xr.lo - 0.5);
			main.ax.hi = ceil(xr.hi + 0.5);
		}
	}
	else
	{
		main.ax.lo = -7;
		main.ax.hi = 1;
	}

	raw_s = (Series) {lrs, NULL, 0, losses, n};
	smooth_s = (Series) {lrs, NULL, 0, smoothed, n};
	has_raw = n > 0 && series_count(&raw_s, &main.ax) > 0;
	has_smooth = n > 0 && series_count(&smooth_s, &main.ax) > 0;
	has_suggest = suggested >= 0 && suggested < n && axis_ok(&main.ax, lrs[suggested]);

	lr_y_range(&main, &raw_s, &smooth_s, has_raw, has_smooth, &yr);
	main.ay.lo = yr.lo;
	main.ay.hi = yr.hi;
	w = ticks_px(main.ay.lo, main.ay.hi, main_ticks);

	if (has_sched)
	{
		sched_s = (Series) {NULL, NULL, 0, schedule_lr, n_schedule};
		if (n_schedule > 1)
		{
			sched.ax.lo = 0;
			sched.ax.hi = (double) (n_schedule - 1);
		}
		else
		{
			sched.ax.lo = -0.5;
			sched.ax.hi = 0.5;
		}
		/* from 0 (or below, for negative rates) to the peak plus headroom */
		range_init(&lr_r);
		range_add(&lr_r, 0);
		for (long i = 0; i < n_schedule; i++)
			range_add(&lr_r, schedule_lr[i]);
		if (lr_r.hi > lr_r.lo)
		{
			double		span = lr_r.hi - lr_r.lo;

			lr_r.hi += 0.1 * span;
			if (lr_r.lo < 0)
				lr_r.lo -= 0.1 * span;
		}
		else
			range_finish(&lr_r, 0, 1, 0);
		sched.ay.lo = lr_r.lo;
		sched.ay.hi = lr_r.hi;
		w = fmax(w, ticks_px(sched.ay.lo, sched.ay.hi, sched_ticks));
	}

	x0 = left_edge(w);
	panel_set(&main, x0, 64, 772, has_sched ? 288 : 430, "cf-clip-main");
	panel_set(&sched, x0, 372, 772, 444, "cf-clip-sched");

	doc_begin(out, title, "learning-rate range test", x0);
	put(out, "<defs>\n");
	panel_clip(out, &main);
	if (has_sched)
		panel_clip(out, &sched);
	put(out, "</defs>\n");

	if (has_raw)
		items[nitems++] = (LegendItem) {"loss", has_smooth ? "raw" : "rawonly", NULL};
	if (has_smooth)
		items[nitems++] = (LegendItem) {"smoothed loss", "smooth", NULL};
	if (has_suggest)
		items[nitems++] = (LegendItem) {"suggested rate", "suggest", "suggestdot"};
	legend(out, items, nitems, main.x1, 50);

	/* main panel */
	panel_background(out, &main);
	x_ticks_log(out, &main);
	y_ticks_linear(out, &main, &main.ay, main_ticks, false, "ticklabel");
	panel_frame(out, &main);
	x_title(out, &main, main.y1 + 38, "learning rate (log scale)");
	y_title(out, &main, y_title_x(x0, w), "loss", "axistitle");
	if (has_raw)
	{
		series_path(out, &main, &main.ay, &raw_s, has_smooth ? "raw" : "rawonly");
		if (!has_smooth && n <= 3)
			series_markers(out, &main, &main.ay, &raw_s, "smoothdot", 3.5);
	}
	if (has_smooth)
	{
		series_path(out, &main, &main.ay, &smooth_s, "smooth");
		if (n <= 3)
			series_markers(out, &main, &main.ay, &smooth_s, "smoothdot", 3.5);
	}
	if (!has_raw && !has_smooth)
		no_data(out, &main);

	if (has_suggest)
	{
		double		x = axis_map(&main.ax, lrs[suggested]);
		double		yv = NAN;
		char		lab[32];
		bool		left;

		if (smoothed && isfinite(smoothed[suggested]))
			yv = smoothed[suggested];
		else if (losses && isfinite(losses[suggested]))
			yv = losses[suggested];
		svgf(out, "<line class=\"suggest\" x1=\"%p\" y1=\"%p\" x2=\"%p\" y2=\"%p\"/>\n",
			 x, main.y0, x, main.y1);
		if (isfinite(yv))
		{
			double		y = axis_map(&main.ay, yv);

			y = fmin(fmax(y, main.y0), main.y1);
			svgf(out, "<circle class=\"suggestdot\" cx=\"%p\" cy=\"%p\" r=\"5.5\"/>\n", x, y);
		}
		cf_svg_format_lr(lrs[suggested], lab);
		left = x > main.x1 - 170;
		svgf(out, "<text class=\"annot\" x=\"%p\" y=\"%p\" text-anchor=\"%s\">suggested lr %s</text>\n",
			 left ? x - 7 : x + 7, main.y0 + 18, left ? "end" : "start", lab);
	}

	/* schedule panel */
	if (has_sched)
	{
		svgf(out, "<text class=\"subtitle\" x=\"%p\" y=\"%p\">learning-rate schedule used for training (%l step%s)</text>\n",
			 sched.x0, sched.y0 - 9, n_schedule, n_schedule == 1 ? "" : "s");
		panel_background(out, &sched);
		x_ticks_linear(out, &sched, 8, 1);
		y_ticks_linear(out, &sched, &sched.ay, sched_ticks, false, "ticklabel");
		panel_frame(out, &sched);
		x_title(out, &sched, sched.y1 + 36, "training step");
		y_title(out, &sched, y_title_x(x0, w), "lr", "axistitle");
		if (series_count(&sched_s, &sched.ax) > 0)
		{
			series_path(out, &sched, &sched.ay, &sched_s, "sched");
			if (n_schedule <= 3)
				series_markers(out, &sched, &sched.ay, &sched_s, "scheddot", 3);
		}
		else
			no_data(out, &sched);
	}
	doc_end(out);
}

/* ------------------------------------------------------------ training plot */

void
cf_svg_training_plot(const CfSvgSink *out, const char *title,
					 const int *epochs, const double *train_rmse, const double *valid_rmse,
					 const double *lr, int n)
{
	Panel		p = {0};
	Axis		ay2 = {0};
	Series		tr,
				va,
				lrs;
	bool		has_train,
				has_valid,
				has_lr;
	Range		xr,
				yr,
				lr_r;
	LegendItem	items[3];
	int			nitems = 0;
	bool		markers;
	double		w,
				w2 = 0,
				x0,
				x1;

	if (n < 0)
		n = 0;
	markers = n <= MARKERS_UP_TO;
	title = title_or(title, "training curves");

	tr = (Series) {NULL, epochs, 1, train_rmse, n};
	va = (Series) {NULL, epochs, 1, valid_rmse, n};
	lrs = (Series) {NULL, epochs, 1, lr, n};

	/* x is linear: validity does not depend on its range */
	has_train = series_count(&tr, &p.ax) > 0;
	has_valid = series_count(&va, &p.ax) > 0;
	has_lr = series_count(&lrs, &p.ax) > 0;

	/* x: the epochs with data, with a margin so end points clear the frame */
	range_init(&xr);
	for (int i = 0; i < n; i++)
		if (series_ok(&tr, &p.ax, i) || series_ok(&va, &p.ax, i) || series_ok(&lrs, &p.ax, i))
			range_add(&xr, series_x(&tr, i));
	if (xr.any && xr.hi > xr.lo)
	{
		double		pad = fmax(0.03 * (xr.hi - xr.lo), 0.25);

		p.ax.lo = xr.lo - pad;
		p.ax.hi = xr.hi + pad;
	}
	else if (xr.any)
	{
		p.ax.lo = xr.lo - 0.5;
		p.ax.hi = xr.lo + 0.5;
	}
	else
	{
		p.ax.lo = 0.75;
		p.ax.hi = 5.25;
	}

	range_init(&yr);
	for (int i = 0; i < n; i++)
	{
		if (series_ok(&tr, &p.ax, i))
			range_add(&yr, train_rmse[i]);
		if (series_ok(&va, &p.ax, i))
			range_add(&yr, valid_rmse[i]);
	}
	range_finish(&yr, 0, 1, 0.08);
	p.ay.lo = yr.lo;
	p.ay.hi = yr.hi;
	w = ticks_px(p.ay.lo, p.ay.hi, 6);

	if (has_lr)
	{
		range_init(&lr_r);
		range_add(&lr_r, 0);
		for (int i = 0; i < n; i++)
			if (series_ok(&lrs, &p.ax, i))
				range_add(&lr_r, lr[i]);
		if (lr_r.hi > lr_r.lo)
		{
			double		span = lr_r.hi - lr_r.lo;

			lr_r.hi += 0.08 * span;
			if (lr_r.lo < 0)
				lr_r.lo -= 0.08 * span;
		}
		else
			range_finish(&lr_r, 0, 1, 0);
		ay2.lo = lr_r.lo;
		ay2.hi = lr_r.hi;
		w2 = ticks_px(ay2.lo, ay2.hi, 6);
	}

	x0 = left_edge(w);
	x1 = has_lr ? fmin(740, 800 - 36 - w2) : 772;
	panel_set(&p, x0, 64, x1, 430, "cf-clip-train");
	ay2.p0 = p.y1;
	ay2.p1 = p.y0;

	doc_begin(out, title, "training curves", x0);
	put(out, "<defs>\n");
	panel_clip(out, &p);
	put(out, "</defs>\n");

	if (has_train)
		items[nitems++] = (LegendItem) {"train RMSE", "train", markers ? "traindot" : NULL};
	if (has_valid)
		items[nitems++] = (LegendItem) {"valid RMSE", "valid", markers ? "validdot" : NULL};
	if (has_lr)
		items[nitems++] = (LegendItem) {"learning rate (right axis)", "lr", markers ? "lrdot" : NULL};
	legend(out, items, nitems, has_lr ? 780 : p.x1, 50);

	panel_background(out, &p);
	x_ticks_linear(out, &p, 10, 1);
	y_ticks_linear(out, &p, &p.ay, 6, false, "ticklabel");
	if (has_lr)
	{
		y_ticks_linear(out, &p, &ay2, 6, true, "ticklabel2");
		svgf(out, "<text class=\"axistitle2\" x=\"%p\" y=\"%p\" text-anchor=\"middle\" transform=\"rotate(90 %p %p)\">learning rate at end of epoch</text>\n",
			 p.x1 + 8 + w2 + 12, (p.y0 + p.y1) / 2, p.x1 + 8 + w2 + 12, (p.y0 + p.y1) / 2);
	}
	panel_frame(out, &p);
	x_title(out, &p, p.y1 + 38, "epoch");
	y_title(out, &p, y_title_x(x0, w), "RMSE", "axistitle");

	if (has_lr)
	{
		series_path(out, &p, &ay2, &lrs, "lr");
		if (markers)
			series_markers(out, &p, &ay2, &lrs, "lrdot", 2.5);
	}
	if (has_train)
	{
		series_path(out, &p, &p.ay, &tr, "train");
		if (markers)
			series_markers(out, &p, &p.ay, &tr, "traindot", 3.5);
	}
	if (has_valid)
	{
		series_path(out, &p, &p.ay, &va, "valid");
		if (markers)
			series_markers(out, &p, &p.ay, &va, "validdot", 3.5);
	}
	if (!has_train && !has_valid && !has_lr)
		no_data(out, &p);
	doc_end(out);
}
