/*
 * test_schedule.c — the slanted triangular schedule against the seed's
 * formula, the range-test sweep, the loss smoother, and the learning-rate
 * suggestions on hand-made curves whose answers are worked out below from
 * fastai's algorithms.
 */
#include <math.h>
#include <string.h>

#include "schedule.h"
#include "tap.h"

/* The seed's sltr(), one step, written as in the Python. */
static double
seed_sltr(long t, long T, double eta_max, double cut_frac, double ratio)
{
	long		cut = (long) floor(T * cut_frac);
	double		p;

	if (t < cut)
		p = (double) t / cut;
	else
		p = 1 - ((double) (t - cut) / (cut * (1 / cut_frac - 1)));
	return eta_max * (1 + p * (ratio - 1)) / ratio;
}

static void
test_stlr_seed(void)
{
	const long	Ts[] = {10, 20, 100, 1000, 1230};
	const double eta = 0.01,
				ratio = 32;

	for (int k = 0; k < 5; k++)
	{
		long		T = Ts[k],
					cut = (long) floor(T * 0.1);
		long		points[] = {0, cut - 1, cut, cut + 1, T / 2, T - 2, T - 1};
		double		worst = 0;

		/* every step, and the named ones explicitly */
		for (long t = 0; t < T; t++)
		{
			double		want = seed_sltr(t, T, eta, 0.1, ratio);

			worst = fmax(worst, fabs(cf_stlr(t, T, eta, 0.1, ratio) - want) / want);
		}
		ok(worst <= 1e-12, "stlr T=%ld cut_frac 0.1: all %ld steps equal the seed's sltr "
		   "(max rel err %.2g)", T, T, worst);
		worst = 0;
		for (int i = 0; i < 7; i++)
		{
			double		want = seed_sltr(points[i], T, eta, 0.1, ratio);

			worst = fmax(worst, fabs(cf_stlr(points[i], T, eta, 0.1, ratio) - want) / want);
		}
		ok(worst <= 1e-12 &&
		   fabs(cf_stlr(0, T, eta, 0.1, ratio) - eta / ratio) <= 1e-12 * eta &&
		   fabs(cf_stlr(cut, T, eta, 0.1, ratio) - eta) <= 1e-12 * eta,
		   "stlr T=%ld: t = 0 gives eta/ratio, t = cut (%ld) gives eta, t = cut-1, cut+1, T-1 "
		   "equal the seed", T, cut);
	}
	/* another whole cut: 100 · 0.25 */
	{
		double		worst = 0;

		for (long t = 0; t < 100; t++)
		{
			double		want = seed_sltr(t, 100, 3e-3, 0.25, 10);

			worst = fmax(worst, fabs(cf_stlr(t, 100, 3e-3, 0.25, 10) - want) / want);
		}
		ok(worst <= 1e-12, "stlr T=100 cut_frac 0.25 ratio 10: equals the seed (max rel err %.2g)",
		   worst);
	}
	/* hand values: T = 20, cut = 2 */
	is_close_rel(cf_stlr(1, 20, 0.01, 0.1, 32), 0.01 * (1 + 0.5 * 31) / 32, 1e-12, 0,
				 "stlr T=20 t=1: half way up, eta·(1 + 31/2)/32");
	is_close_rel(cf_stlr(11, 20, 0.01, 0.1, 32), 0.01 * (1 + (1 - 9.0 / 18) * 31) / 32, 1e-12, 0,
				 "stlr T=20 t=11: half way down, p = 1 − 9/18");
}

static void
test_stlr_guarded(void)
{
	const long	Ts[] = {1, 7, 15, 25, 1009};
	const double eta = 0.01,
				ratio = 32;

	for (int k = 0; k < 5; k++)
	{
		long		T = Ts[k],
					cut = (long) floor(T * 0.1);
		bool		in_range = true,
					shape = true;
		double		prev = 0,
					peak = 0;
		long		peak_at = -1;

		if (cut < 1)
			cut = 1;
		for (long t = 0; t < T; t++)
		{
			double		lr = cf_stlr(t, T, eta, 0.1, ratio);

			if (!isfinite(lr) || !(lr > 0) || lr > eta * (1 + 1e-15))
				in_range = false;
			/* rises strictly to cut, then falls strictly */
			if (t > 0 && ((t <= cut && !(lr > prev)) || (t > cut && !(lr < prev))))
				shape = false;
			if (lr > peak)
				peak = lr, peak_at = t;
			prev = lr;
		}
		ok(in_range, "stlr T=%ld (T·0.1 not whole): every rate finite and in (0, eta]", T);
		ok(shape, "stlr T=%ld: rises strictly to t = cut = %ld, then falls strictly", T, cut);
		if (T > cut)
			ok(peak_at == cut && fabs(peak - eta) <= 1e-15 * eta,
			   "stlr T=%ld: the peak is eta at t = cut = %ld (peak %.17g at %ld)",
			   T, cut, peak, peak_at);
		else
			ok(peak_at == 0 && fabs(peak - eta / ratio) <= 1e-15 * eta,
			   "stlr T=%ld: a single step runs at eta/ratio (%.17g)", T, peak);
	}
	/* the decay spans the steps really left: T = 25, cut = 2, t = 24 */
	is_close_rel(cf_stlr(24, 25, eta, 0.1, ratio), eta * (1 + (1 - 22.0 / 23) * 31) / 32, 1e-12, 0,
				 "stlr T=25: last step p = 1 − (T−1−cut)/(T−cut) = 1/23");
	ok(cf_stlr(1009 - 1, 1009, eta, 0.1, ratio) > eta / ratio,
	   "stlr T=1009: the last rate is still above eta/ratio (p > 0)");
}

static void
test_sweep(void)
{
	const int	n = 100;
	const double s = 1e-7,
				e = 10;
	double		q = pow(e / s, 1.0 / (n - 1)),
				worst = 0;

	is_close_rel(cf_sweep_lr(0, n, s, e), s, 0, 0, "sweep: step 0 is start_lr exactly");
	is_close_rel(cf_sweep_lr(n - 1, n, s, e), e, 1e-12, 0, "sweep: step n−1 is end_lr");
	for (int i = 1; i < n; i++)
		worst = fmax(worst, fabs(cf_sweep_lr(i, n, s, e) / cf_sweep_lr(i - 1, n, s, e) / q - 1));
	ok(worst < 1e-12, "sweep: consecutive rates in ratio (end/start)^(1/(n−1)) = %.6g "
	   "(max rel dev %.2g)", q, worst);
	is_close_rel(cf_sweep_lr(49, n, s, e), s * pow(e / s, 49.0 / 99), 1e-12, 0,
				 "sweep: step 49 is start·(end/start)^(49/99)");
	ok(cf_sweep_lr(0, 1, 1e-3, 1) == 1e-3, "sweep: a one-step sweep runs at start_lr");
}

static void
test_smoother(void)
{
	CfSmoother	sm;
	double		worst = 0,
				v;

	cf_smoother_init(&sm, 0.98);
	for (int i = 0; i < 200; i++)
		worst = fmax(worst, fabs(cf_smoother_add(&sm, 3.7) - 3.7));
	ok(worst < 1e-12, "smoother: constant input 3.7 gives 3.7 from the first value on "
	   "(max err %.2g)", worst);

	cf_smoother_init(&sm, 0.98);
	v = cf_smoother_add(&sm, 1.0);
	is_close(v, 1.0, 1e-15, "smoother: the first output is the first value (debiased)");
	v = cf_smoother_add(&sm, 2.0);
	is_close_rel(v, (0.98 * 0.02 * 1.0 + 0.02 * 2.0) / (1 - 0.98 * 0.98), 1e-12, 0,
				 "smoother: second output (0.98·0.02·1 + 0.02·2)/(1 − 0.98²)");
	v = cf_smoother_add(&sm, 4.0);
	is_close_rel(v, (0.98 * 0.98 * 0.02 * 1.0 + 0.98 * 0.02 * 2.0 + 0.02 * 4.0) /
				 (1 - pow(0.98, 3)), 1e-12, 0, "smoother: third output, debiased by 1 − 0.98³");

	cf_smoother_init(&sm, 0.5);
	cf_smoother_add(&sm, 10.0);
	v = cf_smoother_add(&sm, 0.0);
	is_close_rel(v, (0.25 * 10.0) / 0.75, 1e-12, 0, "smoother beta 0.5: 10 then 0 gives 10/3");
}

/* ---- suggestions ---- */

enum
{
	N = 100
};

static double lrs[N];

static void
make_lrs(void)
{
	for (int i = 0; i < N; i++)
		lrs[i] = cf_sweep_lr(i, N, 1e-7, 10);
}

/*
 * Flat at 2.0 for i < 30, falling by 0.02 a step through i = 70 (1.18),
 * then rising by 0.05.
 */
static double
valley_curve(int i)
{
	if (i < 30)
		return 2.0;
	if (i <= 70)
		return 2.0 - (i - 29) * 0.02;
	return 1.18 + (i - 70) * 0.05;
}

static void
test_valley(void)
{
	double		c[N];
	int			idx;

	/*
	 * n = 100: the usable range is [10, 95), k = i − 10.  Flat points
	 * (k 0..19) all have lds 1 (the comparison is strict); the fall k 20..60
	 * gives lds 2..42; a rising point can only end a shorter run.  So
	 * max_end = 60, max_start = 60 − 42 = 18, sections = 42/3 = 14,
	 * idx = 18 + 14 + 7 = 39, i = 49.
	 */
	for (int i = 0; i < N; i++)
		c[i] = valley_curve(i);
	idx = cf_lr_suggest(CF_LR_VALLEY, lrs, c, N);
	is_int(idx, 49, "valley: clean valley (flat, fall 30..70, rise) gives index 49");
	is_close_rel(cf_lr_suggest_rate(CF_LR_VALLEY, lrs, c, N), lrs[49], 0, 0,
				 "valley: the suggested rate is lrs[49]");

	/*
	 * NaN at 60: cut there (60 finite points), then trimmed to [6, 55),
	 * k = i − 6.  Flat k 0..23, fall i 30..54 = k 24..48 with lds up to 26:
	 * max_end = 48, max_start = 22, sections = 26/3 → 8 and 4, idx = 34,
	 * i = 40.
	 */
	c[60] = NAN;
	is_int(cf_lr_suggest(CF_LR_VALLEY, lrs, c, N), 40,
		   "valley: NaN at 60 cuts the curve there, then trims 60/10 and 5: index 40");
	c[60] = INFINITY;
	is_int(cf_lr_suggest(CF_LR_VALLEY, lrs, c, N), 40, "valley: +inf cuts like NaN: index 40");

	/*
	 * Strictly falling everywhere: lds[k] = k + 1 on [10, 95), max_end = 84,
	 * max_start = 84 − 85 = −1, sections = 85/3 → 28 and 14, idx = 41, i = 51.
	 */
	for (int i = 0; i < N; i++)
		c[i] = 2.0 - 0.01 * i;
	is_int(cf_lr_suggest(CF_LR_VALLEY, lrs, c, N), 51,
		   "valley: a curve falling from its first usable point gives index 51");

	/*
	 * An odd number of sections: n = 30, usable [3, 25), k = i − 3.  Flat
	 * 2.0 for i < 10 (k 0..6), falling by 0.05 through i = 19 (k 7..16,
	 * lds 2..11), rising after: max_end = 16, max_start = 5, sections =
	 * 11/3 → 3, and int(3.67/2) = 1: idx = 5 + 3 + 1 = 9, i = 12.
	 */
	for (int i = 0; i < 30; i++)
		c[i] = i < 10 ? 2.0 : i <= 19 ? 2.0 - (i - 9) * 0.05 : 1.5 + (i - 19) * 0.1;
	is_int(cf_lr_suggest(CF_LR_VALLEY, lrs, c, 30), 12,
		   "valley: n = 30, a fall of 10 steps after 7 flat usable points gives index 12");

	/* flat: no strict decrease, lds all 1, max_start = max_end = 0: idx = from = 10 */
	for (int i = 0; i < N; i++)
		c[i] = 1.0;
	is_int(cf_lr_suggest(CF_LR_VALLEY, lrs, c, N), 10,
		   "valley: a flat curve gives the first usable index, 10");

	/* two falling points: max_start = −1 would index before the curve */
	{
		double		two[2] = {2.0, 1.0};

		idx = cf_lr_suggest(CF_LR_VALLEY, lrs, two, 2);
		ok(idx >= 0 && idx <= 1, "valley: two falling points give a valid index (%d)", idx);
	}
}

static void
test_steep(void)
{
	double		c[N];

	/*
	 * Gently falling with one drop of 0.5 between i = 40 and 41: the most
	 * negative slope against ln(lr) is the segment (40, 41).  fastai's steep
	 * takes lrs[grads.argmin()], grads[k] being the slope from point k to
	 * k + 1: the left end, i = 40.
	 */
	for (int i = 0; i < N; i++)
		c[i] = 3.0 - 0.001 * i - (i > 40 ? 0.5 : 0.0);
	is_int(cf_lr_suggest(CF_LR_STEEP, lrs, c, N), 40,
		   "steep: the steepest segment (40, 41) gives index 40, fastai's lrs[grads.argmin()]");
	is_close_rel(cf_lr_suggest_rate(CF_LR_STEEP, lrs, c, N), lrs[40], 0, 0,
				 "steep: the suggested rate is lrs[40]");

	/*
	 * Slopes against ln(lr), not against the index, and the trim: uneven
	 * spacing.  These two only ask for an end of the right segment, so they
	 * hold whichever end the rule reports.
	 */
	{
		double		l[8] = {1, 2, 4, 8, 9, 20, 100, 1000};
		double		y[8] = {5, 4.75, 4.25, 4, 3.75, 3.5, 3.25, 3};
		int			idx;

		/*
		 * n = 7, untrimmed: slopes −0.25/ln 2, −0.5/ln 2, −0.25/ln 2,
		 * −0.25/ln(9/8) = −2.12, −0.25/ln(20/9), …: segment (3, 4) is the
		 * steepest, though every step of the index drops by 0.25 or 0.5.
		 */
		idx = cf_lr_suggest(CF_LR_STEEP, l, y, 7);
		ok(idx == 3 || idx == 4, "steep: n = 7 untrimmed: the steepest segment against ln(lr) "
		   "is (3, 4) (got %d)", idx);
		/* n = 8: trimmed to [0, 3), where (1, 2) is the steepest */
		idx = cf_lr_suggest(CF_LR_STEEP, l, y, 8);
		ok(idx == 1 || idx == 2, "steep: n = 8 trims to [0, 3): the steepest segment there is "
		   "(1, 2) (got %d)", idx);
	}
}

static void
test_minimum(void)
{
	double		c[N];

	for (int i = 0; i < N; i++)
		c[i] = 1.0 + 0.001 * (i - 57) * (i - 57);
	is_int(cf_lr_suggest(CF_LR_MINIMUM, lrs, c, N), 57, "minimum: argmin of a parabola at 57");
	is_close_rel(cf_lr_suggest_rate(CF_LR_MINIMUM, lrs, c, N), lrs[57] / 10, 1e-15, 0,
				 "minimum: the suggested rate is lrs[57]/10");
	/* the global minimum lies in the trimmed tail: the last usable point wins */
	for (int i = 0; i < N; i++)
		c[i] = 2.0 - 0.01 * i;
	is_int(cf_lr_suggest(CF_LR_MINIMUM, lrs, c, N), 94,
		   "minimum: a falling curve gives 94, the last point before the 5 trimmed");
	/* and in the trimmed head: a curve rising from its start */
	for (int i = 0; i < N; i++)
		c[i] = 1.0 + 0.01 * i;
	is_int(cf_lr_suggest(CF_LR_MINIMUM, lrs, c, N), 10,
		   "minimum: a rising curve gives 10, the first point after the 10 trimmed");
	/* cut at a NaN first, then trimmed by the finite length: 60/10 = 6 */
	c[60] = NAN;
	is_int(cf_lr_suggest(CF_LR_MINIMUM, lrs, c, N), 6,
		   "minimum: a rising curve with NaN at 60 gives 6: the head trim is 60/10");
	/* ties: the first */
	for (int i = 0; i < N; i++)
		c[i] = 1.0;
	is_int(cf_lr_suggest(CF_LR_MINIMUM, lrs, c, N), 10, "minimum: a flat curve gives 10");
	/* boundary of the trim: n = 8 trims to [0, 3), n = 7 is not trimmed */
	for (int i = 0; i < 8; i++)
		c[i] = 8.0 - i;
	is_int(cf_lr_suggest(CF_LR_MINIMUM, lrs, c, 8), 2, "minimum: n = 8 falling: trimmed to [0, 3), index 2");
	is_int(cf_lr_suggest(CF_LR_MINIMUM, lrs, c, 7), 6, "minimum: n = 7 falling: untrimmed, index 6");
}

static void
test_short(void)
{
	double		c[N];
	bool		all = true;

	for (int i = 0; i < N; i++)
		c[i] = 1.0;
	for (int r = 0; r < CF_NUM_LR_RULES; r++)
	{
		double		one[1] = {1.0};
		double		nan_second[3] = {1.0, NAN, 0.5};
		double		nan_first[3] = {NAN, 1.0, 0.5};

		all = all && cf_lr_suggest(r, lrs, c, 0) == -1 &&
			cf_lr_suggest(r, lrs, one, 1) == -1 &&
			cf_lr_suggest(r, lrs, nan_second, 3) == -1 &&
			cf_lr_suggest(r, lrs, nan_first, 3) == -1 &&
			isnan(cf_lr_suggest_rate(r, lrs, one, 1));
	}
	ok(all, "every rule: 0 points, 1 point, a NaN as the first or second point give −1 (rate NaN)");
	/* flat curves: all rules return a valid index, never −1 */
	{
		int			v = cf_lr_suggest(CF_LR_VALLEY, lrs, c, N),
					s = cf_lr_suggest(CF_LR_STEEP, lrs, c, N),
					m = cf_lr_suggest(CF_LR_MINIMUM, lrs, c, N);

		ok(v >= 10 && v < 95 && s >= 10 && s < 95 && m >= 10 && m < 95,
		   "flat curve: valley %d, steep %d, minimum %d all inside the usable range [10, 95)",
		   v, s, m);
	}
	ok(strcmp(cf_lr_rule_names[CF_LR_VALLEY], "valley") == 0 &&
	   strcmp(cf_lr_rule_names[CF_LR_STEEP], "steep") == 0 &&
	   strcmp(cf_lr_rule_names[CF_LR_MINIMUM], "minimum") == 0, "rule names");
}

int
main(void)
{
	make_lrs();
	test_stlr_seed();
	test_stlr_guarded();
	test_sweep();
	test_smoother();
	test_valley();
	test_steep();
	test_minimum();
	test_short();
	return done_testing();
}
