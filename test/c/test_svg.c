/*
 * test_svg.c — the SVG plots are well-formed XML, never contain "nan"/"inf",
 * carry the suggested-rate label and the escaped title, and survive
 * degenerate input.  TAP output.
 *
 * Set CF_SVG_KEEP=dir to keep every rendered picture as dir/<case>.svg.
 */
#include "svg.h"

#include <stdarg.h>
#include <ctype.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define PLAN 139

/* ---------------------------------------------------------------- TAP */

static int	t_count = 0;
static int	t_failed = 0;

static bool
t_ok(bool cond, const char *fmt,...)
{
	va_list		ap;

	t_count++;
	if (!cond)
		t_failed++;
	printf("%sok %d - ", cond ? "" : "not ", t_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	return cond;
}

static void
t_skip(const char *why)
{
	t_count++;
	printf("ok %d # SKIP %s\n", t_count, why);
}

/* ---------------------------------------------------------------- sink */

typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

static void
buf_write(void *ctx, const char *s, size_t len)
{
	Buf		   *b = ctx;

	if (b->len + len + 1 > b->cap)
	{
		b->cap = (b->len + len + 1) * 2;
		b->data = realloc(b->data, b->cap);
		if (!b->data)
			abort();
	}
	memcpy(b->data + b->len, s, len);
	b->len += len;
	b->data[b->len] = '\0';
}

static CfSvgSink
sink_for(Buf *b)
{
	CfSvgSink	s = {buf_write, b};

	b->data = NULL;
	b->len = b->cap = 0;
	buf_write(b, "", 0);
	return s;
}

/* ---------------------------------------------------------------- checks */

static char tmpdir[] = "/tmp/cfrec_svg_XXXXXX";

static bool
xml_well_formed(const char *doc)
{
	char		path[256];
	char		cmd[512];
	FILE	   *f;
	int			rc;

	snprintf(path, sizeof path, "%s/doc.svg", tmpdir);
	f = fopen(path, "w");
	if (!f)
		return false;
	fputs(doc, f);
	fclose(f);
	snprintf(cmd, sizeof cmd, "xmllint --noout --nonet '%s' 2>/dev/null", path);
	rc = system(cmd);
	return rc == 0;
}

static bool
contains_ci(const char *hay, const char *needle)
{
	size_t		n = strlen(needle);

	for (const char *p = hay; *p; p++)
		if (strncasecmp(p, needle, n) == 0)
			return true;
	return false;
}

static bool
no_nan_inf(const char *doc)
{
	return !contains_ci(doc, "nan") && !contains_ci(doc, "inf");
}

static bool
has_suggest_label(const char *doc, double lr)
{
	char		buf[32];
	char		want[64];

	cf_svg_format_lr(lr, buf);
	snprintf(want, sizeof want, "suggested lr %s<", buf);
	return strstr(doc, want) != NULL;
}

static bool
is_svg_800x500(const char *doc)
{
	return strncmp(doc, "<?xml", 5) == 0 &&
		strstr(doc, "<svg xmlns=\"http://www.w3.org/2000/svg\"") != NULL &&
		strstr(doc, "width=\"800\" height=\"500\"") != NULL &&
		strstr(doc, "viewBox=\"0 0 800 500\"") != NULL;
}

static bool
self_contained(const char *doc)
{
	return !contains_ci(doc, "<script") && !contains_ci(doc, "href") &&
		!contains_ci(doc, "@import") && !contains_ci(doc, "url(http");
}

/* Number of points (M/L commands) in the first <path class="cls" ...> */
static long
path_points(const char *doc, const char *cls)
{
	char		key[64];
	const char *p,
			   *end;
	long		c = 0;

	snprintf(key, sizeof key, "<path class=\"%s\"", cls);
	p = strstr(doc, key);
	if (!p)
		return -1;
	p = strstr(p, " d=\"");
	if (!p)
		return -1;
	p += 4;
	end = strchr(p, '"');
	for (; p < end; p++)
		c += (*p == 'M' || *p == 'L');
	return c;
}

static long
count_str(const char *doc, const char *s)
{
	long		c = 0;

	for (const char *p = strstr(doc, s); p; p = strstr(p + 1, s))
		c++;
	return c;
}

/* A decimal comma: digit ',' digit (the CSS font list has ", " only). */
static bool
has_decimal_comma(const char *doc)
{
	for (const char *p = doc; *p; p++)
		if (p > doc && *p == ',' && isdigit((unsigned char) p[-1]) && isdigit((unsigned char) p[1]))
			return true;
	return false;
}

static void
keep(const char *name, const char *doc)
{
	const char *dir = getenv("CF_SVG_KEEP");
	char		path[512];
	FILE	   *f;

	if (!dir || !*dir)
		return;
	snprintf(path, sizeof path, "%s/%s.svg", dir, name);
	f = fopen(path, "w");
	if (f)
	{
		fputs(doc, f);
		fclose(f);
	}
}

/* The title as the plots must write it (ASCII titles only). */
static void
xml_escape(const char *in, char *outbuf, size_t size)
{
	size_t		o = 0;

	for (; *in && o + 7 < size; in++)
	{
		const char *e = *in == '&' ? "&amp;" : *in == '<' ? "&lt;" : *in == '>' ? "&gt;" :
			*in == '"' ? "&quot;" : *in == '\'' ? "&apos;" : NULL;

		if (e)
		{
			strcpy(outbuf + o, e);
			o += strlen(e);
		}
		else
			outbuf[o++] = *in;
	}
	outbuf[o] = '\0';
}

/*
 * The checks every document gets: well-formed, an 800x500 SVG, no nan/inf,
 * self-contained, the escaped title, and the suggested-rate label exactly
 * when a rate was suggested (sugg_lr NaN: no label).
 */
static void
common_checks(const char *name, const char *doc, const char *title, double sugg_lr)
{
	char		esc[512];
	char		want[600];

	keep(name, doc);
	t_ok(xml_well_formed(doc), "%s: well-formed XML (xmllint)", name);
	t_ok(is_svg_800x500(doc), "%s: standalone 800x500 SVG document", name);
	t_ok(no_nan_inf(doc), "%s: no nan/inf text", name);
	t_ok(self_contained(doc), "%s: no scripts or external references", name);
	xml_escape(title, esc, sizeof esc);
	snprintf(want, sizeof want, ">%s</text>", esc);
	t_ok(strstr(doc, want) != NULL, "%s: escaped title \"%s\"", name, esc);
	if (isnan(sugg_lr))
		t_ok(strstr(doc, "suggested lr") == NULL, "%s: no suggested-rate label", name);
	else
		t_ok(has_suggest_label(doc, sugg_lr), "%s: suggested-rate label", name);
}

/* Render a range test into b and run the common checks; title gets <&"'>. */
static void
lr_case(Buf *b, const char *name, const double *x, const double *l, const double *sm, int n,
		int sug, const double *sched, long nsched, double expect_lr)
{
	char		title[128];
	CfSvgSink	s = sink_for(b);

	snprintf(title, sizeof title, "%s <&\"'>", name);
	cf_svg_lr_plot(&s, title, x, l, sm, n, sug, sched, nsched);
	common_checks(name, b->data, title, expect_lr);
}

static void
train_case(Buf *b, const char *name, const int *ep, const double *tr, const double *va,
		   const double *lr, int n)
{
	char		title[128];
	CfSvgSink	s = sink_for(b);

	snprintf(title, sizeof title, "%s <&\"'>", name);
	cf_svg_training_plot(&s, title, ep, tr, va, lr, n);
	common_checks(name, b->data, title, NAN);
}

/* ---------------------------------------------------------------- data */

#define SWEEP 100

static double lrs[SWEEP],
			loss[SWEEP],
			smooth[SWEEP];

static double
urand(unsigned *state)
{
	*state = *state * 1103515245u + 12345u;
	return ((*state >> 8) & 0xffff) / 65536.0;
}

static void
smooth_losses(const double *x, double *s, int n)
{
	double		avg = 0;
	int			k = 0;

	for (int i = 0; i < n; i++)
	{
		if (!isfinite(x[i]))
		{
			s[i] = NAN;
			continue;
		}
		k++;
		avg = 0.98 * avg + 0.02 * x[i];
		s[i] = avg / (1 - pow(0.98, k));
	}
}

/* A range test from 1e-7 to 10: flat, falling around 1e-3..1e-2, diverging. */
static void
make_sweep(void)
{
	unsigned	st = 12345;

	for (int i = 0; i < SWEEP; i++)
	{
		double		l10;

		lrs[i] = 1e-7 * pow(1e8, (double) i / (SWEEP - 1));
		l10 = log10(lrs[i]);
		loss[i] = 0.95 - 0.55 / (1 + exp(-(l10 + 3.0) * 2.5))
			+ (l10 > -1.3 ? pow(10, (l10 + 1.3) * 2.0) - 1 : 0)
			+ 0.05 * (urand(&st) - 0.5);
	}
	smooth_losses(loss, smooth, SWEEP);
}

static double
stlr(long t, long total, double eta_max)
{
	long		cut = (long) (total * 0.1);
	double		p = t < cut ? (double) t / cut : 1 - (double) (t - cut) / (total - cut - 1);

	return eta_max * (1 + p * 31) / 32;
}

/* ---------------------------------------------------------------- main */

int
main(void)
{
	Buf			b;
	CfSvgSink	s;
	char		lab[32];
	static double sched[100000];
	const char *evil = "model <&\"'> x";
	const char *evil_esc = "model &lt;&amp;&quot;&apos;&gt; x";

	if (!mkdtemp(tmpdir))
	{
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	make_sweep();
	printf("1..%d\n", PLAN);

	/* --- the checks themselves can fail */
	t_ok(!xml_well_formed("<?xml version=\"1.0\"?><svg><g></svg>"),
		 "meta: XML check rejects mismatched tags");
	t_ok(!xml_well_formed("<svg>a & b</svg>"), "meta: XML check rejects a bare &");
	t_ok(xml_well_formed("<svg>a &amp; b</svg>"), "meta: XML check accepts good XML");
	t_ok(!no_nan_inf("<text>NaN</text>") && !no_nan_inf("<path d=\"M-inf 3\"/>"),
		 "meta: nan/inf check catches NaN and -inf");
	t_ok(!has_suggest_label("<text>suggested lr 3.1e-03</text>", 3.2e-3),
		 "meta: label check rejects a different rate");
	t_ok(strstr("<text>model <&\"'> x</text>", evil_esc) == NULL,
		 "meta: escaped-title check rejects an unescaped title");
	t_ok(has_decimal_comma("<text x=\"1,5\">") && !has_decimal_comma("font-family: a, b"),
		 "meta: decimal-comma check catches 1,5 but not a CSS list");
	t_ok(!is_svg_800x500("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"800\" height=\"500\">"),
		 "meta: SVG check wants the XML declaration");

	/* --- formatting */
	cf_svg_format_lr(3.2e-3, lab);
	t_ok(strcmp(lab, "3.2e-03") == 0, "format_lr(3.2e-3) = \"%s\"", lab);
	cf_svg_format_lr(12.0, lab);
	t_ok(strcmp(lab, "1.2e+01") == 0, "format_lr(12) = \"%s\"", lab);
	cf_svg_format_lr(NAN, lab);
	t_ok(strcmp(lab, "n/a") == 0, "format_lr(NaN) = \"%s\"", lab);
	cf_svg_format_lr(-INFINITY, lab);
	t_ok(strcmp(lab, "n/a") == 0, "format_lr(-Inf) = \"%s\"", lab);

	/* --- realistic range test with a 10000-step schedule */
	for (long t = 0; t < 10000; t++)
		sched[t] = stlr(t, 10000, 3.2e-3);
	lr_case(&b, "lr_realistic", lrs, loss, smooth, SWEEP, 62, sched, 10000, lrs[62]);
	t_ok(strstr(b.data, ">1e-4<") && strstr(b.data, ">1e-7<") && strstr(b.data, ">1e+1<"),
		 "lr_realistic: decade tick labels 1e-7, 1e-4, 1e+1");
	t_ok(path_points(b.data, "sched") > 1000 && path_points(b.data, "sched") <= 2000,
		 "lr_realistic: schedule down-sampled (%ld points)", path_points(b.data, "sched"));
	t_ok(path_points(b.data, "smooth") == SWEEP && path_points(b.data, "raw") == SWEEP,
		 "lr_realistic: all %d points of both loss curves", SWEEP);
	t_ok(count_str(b.data, "class=\"suggestdot\"") == 2,
		 "lr_realistic: suggestion marked (dot + legend)");
	free(b.data);

	/* --- 100k-step schedule */
	for (long t = 0; t < 100000; t++)
		sched[t] = stlr(t, 100000, 1e-2);
	lr_case(&b, "lr_schedule_100k", lrs, loss, smooth, SWEEP, 30, sched, 100000, lrs[30]);
	t_ok(path_points(b.data, "sched") <= 2000 && path_points(b.data, "sched") > 1000,
		 "lr_schedule_100k: 100000 steps down-sampled to %ld points",
		 path_points(b.data, "sched"));
	t_ok(strstr(b.data, ">0.010<") != NULL, "lr_schedule_100k: the schedule's peak survives");
	t_ok(b.len < 200000, "lr_schedule_100k: document stays small (%zu bytes)", b.len);
	free(b.data);

	/* --- NaN / Inf in the curve (diverged tail, bad rates) */
	{
		double		l2[SWEEP],
					s2[SWEEP],
					r2[SWEEP];

		memcpy(l2, loss, sizeof l2);
		memcpy(r2, lrs, sizeof r2);
		for (int i = 85; i < SWEEP; i++)
			l2[i] = (i % 2) ? INFINITY : NAN;
		l2[10] = NAN;
		r2[20] = -INFINITY;
		r2[21] = 0;
		smooth_losses(l2, s2, SWEEP);
		s2[40] = INFINITY;
		lr_case(&b, "lr_nonfinite", r2, l2, s2, SWEEP, 50, NULL, 0, r2[50]);
		t_ok(path_points(b.data, "smooth") == SWEEP - 15 - 1 - 1 - 2 &&
			 count_str(b.data, "<path class=\"smooth\"") == 1,
			 "lr_nonfinite: invalid points skipped (%ld drawn)", path_points(b.data, "smooth"));
		t_ok(strstr(b.data, "schedule") == NULL, "lr_nonfinite: no schedule panel without one");
		free(b.data);

		/* suggestion on a point whose rate is NaN: no label */
		r2[60] = NAN;
		lr_case(&b, "lr_bad_suggested", r2, l2, s2, SWEEP, 60, NULL, 0, NAN);
		free(b.data);
	}

	/* --- n = 0 */
	lr_case(&b, "lr_n0", lrs, loss, smooth, 0, -1, NULL, 0, NAN);
	t_ok(strstr(b.data, ">no data<") != NULL, "lr_n0: \"no data\" note");
	free(b.data);

	/* --- n = 0 with NULL arrays, schedule only */
	lr_case(&b, "lr_null", NULL, NULL, NULL, 5, 2, sched, 100, NAN);
	t_ok(count_str(b.data, ">no data<") == 1, "lr_null: \"no data\" in the loss panel only");
	free(b.data);

	/* --- n = 1, suggestion on it, 1-step schedule */
	lr_case(&b, "lr_n1", lrs + 50, loss + 50, smooth + 50, 1, 0, sched, 1, lrs[50]);
	free(b.data);

	/* --- flat curve, out-of-range suggestion index is ignored */
	{
		double		flat[SWEEP];

		for (int i = 0; i < SWEEP; i++)
			flat[i] = 0.5;
		lr_case(&b, "lr_flat", lrs, flat, flat, SWEEP, SWEEP + 5, NULL, 0, NAN);
		t_ok(strstr(b.data, ">0.50<") != NULL && strstr(b.data, ">0.46<") != NULL,
			 "lr_flat: y-axis gets a span around 0.5");
		free(b.data);
	}

	/* --- huge and tiny values */
	{
		double		hl[SWEEP],
					tl[SWEEP];

		for (int i = 0; i < SWEEP; i++)
		{
			hl[i] = 1e305 * (1 + i % 7);
			tl[i] = 1e-300 * (1 + i % 5);
		}
		hl[3] = DBL_MAX;
		hl[4] = -DBL_MAX;
		lr_case(&b, "lr_huge", lrs, hl, NULL, SWEEP, 10, NULL, 0, lrs[10]);
		free(b.data);
		lr_case(&b, "lr_tiny", lrs, tl, tl, SWEEP, 10, NULL, 0, lrs[10]);
		free(b.data);
	}

	/* --- hostile title, checked literally */
	s = sink_for(&b);
	cf_svg_lr_plot(&s, evil, lrs, loss, smooth, SWEEP, 40, NULL, 0);
	t_ok(strstr(b.data, evil_esc) != NULL && strstr(b.data, evil) == NULL,
		 "lr_title: title escaped");
	t_ok(xml_well_formed(b.data), "lr_title: well-formed XML");
	free(b.data);

	/* --- training curves */
	{
		int			ep[12];
		double		tr[12],
					va[12],
					lr[12],
					nanv[12];

		for (int i = 0; i < 12; i++)
		{
			ep[i] = i + 1;
			tr[i] = 0.75 + 0.35 * exp(-0.45 * i);
			va[i] = 0.90 + 0.18 * exp(-0.6 * i) + 0.004 * i;
			lr[i] = stlr((long) (i + 1) * 100 - 1, 1200, 3.2e-3);
			nanv[i] = NAN;
		}
		train_case(&b, "train_realistic", ep, tr, va, lr, 12);
		t_ok(strstr(b.data, "valid RMSE") && strstr(b.data, "train RMSE") &&
			 strstr(b.data, "learning rate (right axis)"),
			 "train_realistic: three series in the legend");
		t_ok(strstr(b.data, ">12<") && strstr(b.data, ">1<") && !strstr(b.data, ">1.5<"),
			 "train_realistic: integer epoch ticks");
		free(b.data);

		train_case(&b, "train_novalid", ep, tr, nanv, NULL, 12);
		t_ok(strstr(b.data, "valid RMSE") == NULL && strstr(b.data, "train RMSE"),
			 "train_novalid: all-NaN valid left out of the legend");
		free(b.data);

		tr[3] = INFINITY;
		va[5] = NAN;
		lr[7] = NAN;
		train_case(&b, "train_nonfinite", ep, tr, va, lr, 12);
		t_ok(path_points(b.data, "train") == 11 && path_points(b.data, "valid") == 11 &&
			 path_points(b.data, "lr") == 11,
			 "train_nonfinite: invalid epochs skipped");
		free(b.data);

		train_case(&b, "train_n1", ep, tr, va, lr, 1);
		free(b.data);

		for (int i = 0; i < 12; i++)
			tr[i] = va[i] = 0.9;
		train_case(&b, "train_flat", ep, tr, va, NULL, 12);
		free(b.data);
	}
	/* --- a long run: no per-point markers */
	{
		static int	ep[300];
		static double tr[300],
					va[300],
					lr[300];

		for (int i = 0; i < 300; i++)
		{
			ep[i] = i + 1;
			tr[i] = 0.7 + 0.4 * exp(-0.03 * i);
			va[i] = 0.88 + 0.2 * exp(-0.05 * i) + 0.0002 * i;
			lr[i] = stlr(i, 300, 1e-2);
		}
		train_case(&b, "train_long", ep, tr, va, lr, 300);
		t_ok(path_points(b.data, "train") == 300 && strstr(b.data, "<circle cx") == NULL,
			 "train_long: 300 epochs drawn as lines without markers");
		t_ok(strstr(b.data, ">300<") != NULL && strstr(b.data, ">20<") != NULL && !strstr(b.data, ">10<"),
			 "train_long: epoch ticks every 20");
		free(b.data);
	}
	train_case(&b, "train_n0", NULL, NULL, NULL, NULL, 0);
	t_ok(strstr(b.data, ">no data<") != NULL, "train_n0: \"no data\" note");
	free(b.data);

	/* --- no title: a default one */
	s = sink_for(&b);
	cf_svg_training_plot(&s, NULL, NULL, NULL, NULL, NULL, 0);
	t_ok(strstr(b.data, ">training curves</text>") != NULL, "NULL title: default title");
	free(b.data);

	/* --- bad UTF-8, control characters, a long title stay well-formed */
	{
		char		longt[400];

		memset(longt, 'x', sizeof longt - 1);
		longt[sizeof longt - 1] = '\0';
		s = sink_for(&b);
		cf_svg_training_plot(&s, "caf\xe9 \x01\xc3\xa9\xe2\x82 \xef\xbf\xbe", NULL, NULL, NULL, NULL, 0);
		t_ok(xml_well_formed(b.data), "bad UTF-8 title: well-formed XML");
		free(b.data);
		s = sink_for(&b);
		cf_svg_training_plot(&s, longt, NULL, NULL, NULL, NULL, 0);
		t_ok(xml_well_formed(b.data) && strstr(b.data, "xxxxx\xe2\x80\xa6</text>") &&
			 !strstr(b.data, longt), "long title: cut with an ellipsis");
		free(b.data);
	}

	/* --- a locale with a decimal comma does not leak into the output */
	{
		const char *loc = setlocale(LC_NUMERIC, "de_DE.UTF-8");

		if (!loc)
			loc = setlocale(LC_NUMERIC, "fr_FR.UTF-8");
		s = sink_for(&b);
		cf_svg_lr_plot(&s, "locale", lrs, loss, smooth, SWEEP, 62, sched, 10000);
		cf_svg_format_lr(3.2e-3, lab);
		if (loc)
			t_ok(!has_decimal_comma(b.data) && strcmp(lab, "3.2e-03") == 0,
				 "decimal-comma locale %s: no decimal comma in output, label %s", loc, lab);
		else
			t_skip("no decimal-comma locale (de_DE.UTF-8, fr_FR.UTF-8) installed");
		setlocale(LC_NUMERIC, "C");
		free(b.data);
	}

	{
		char		cmd[300];

		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
	}
	if (t_count != PLAN)
		printf("# planned %d tests but ran %d\n", PLAN, t_count);
	return t_failed || t_count != PLAN ? 1 : 0;
}
