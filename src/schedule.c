#include "schedule.h"

#include <math.h>

const char *const cf_lr_rule_names[CF_NUM_LR_RULES] = {"valley", "steep", "minimum"};

double
cf_stlr(long t, long total_steps, double eta_max, double cut_frac, double ratio)
{
	long		cut = (long) floor((double) total_steps * cut_frac);
	double		p;

	if (cut < 1)
		cut = 1;
	if (t < cut)
		p = (double) t / (double) cut;
	else if (total_steps > cut)
		/* The seed divides by cut·(1/cut_frac − 1), which is T − cut when T·cut_frac is whole. */
		p = 1.0 - (double) (t - cut) / (double) (total_steps - cut);
	else
		p = 1.0;
	if (p < 0.0)
		p = 0.0;
	if (p > 1.0)
		p = 1.0;
	return eta_max * (1.0 + p * (ratio - 1.0)) / ratio;
}

double
cf_sweep_lr(int i, int n, double start_lr, double end_lr)
{
	if (n <= 1)
		return start_lr;
	return start_lr * pow(end_lr / start_lr, (double) i / (double) (n - 1));
}

void
cf_smoother_init(CfSmoother *s, double beta)
{
	s->beta = beta;
	s->avg = 0.0;
	s->n = 0;
}

double
cf_smoother_add(CfSmoother *s, double value)
{
	s->n++;
	s->avg = s->beta * s->avg + (1.0 - s->beta) * value;
	return s->avg / (1.0 - pow(s->beta, s->n));
}

/* The usable stretch [*from, *to) of a sweep: finite, trimmed as fastai trims. */
static void
usable_range(const double *losses, int n, int *from, int *to)
{
	int			end = 0;

	if (n > CF_MAX_SWEEP)
		n = CF_MAX_SWEEP;
	while (end < n && isfinite(losses[end]))
		end++;
	*from = 0;
	*to = end;
	if (end - end / 10 - 5 >= 3)
	{
		*from = end / 10;
		*to = end - 5;
	}
}

static int
suggest_valley(const double *losses, int from, int to)
{
	int			n = to - from;
	int			lds[CF_MAX_SWEEP];
	int			max_start = 0,
				max_end = 0;
	int			sections,
				idx;

	/* Longest decreasing subsequence ending at each point (fastai's valley). */
	for (int i = 0; i < n; i++)
	{
		lds[i] = 1;
		for (int j = 0; j < i; j++)
			if (losses[from + i] < losses[from + j] && lds[i] < lds[j] + 1)
				lds[i] = lds[j] + 1;
		if (lds[max_end] < lds[i])
		{
			max_end = i;
			max_start = max_end - lds[max_end];
		}
	}
	sections = (max_end - max_start) / 3;
	/* fastai lets max_start reach −1 at a curve falling from its first point */
	idx = max_start + sections + sections / 2;
	return from + (idx < 0 ? 0 : idx);
}

static int
suggest_steep(const double *lrs, const double *losses, int from, int to)
{
	int			best = from;
	double		best_slope = INFINITY;

	for (int i = from + 1; i < to; i++)
	{
		double		slope = (losses[i] - losses[i - 1]) / (log(lrs[i]) - log(lrs[i - 1]));

		/* fastai's lrs[grads.argmin()]: the segment's first point */
		if (slope < best_slope)
		{
			best_slope = slope;
			best = i - 1;
		}
	}
	return best;
}

static int
suggest_minimum(const double *losses, int from, int to)
{
	int			best = from;

	for (int i = from + 1; i < to; i++)
		if (losses[i] < losses[best])
			best = i;
	return best;
}

int
cf_lr_suggest(CfLrRule rule, const double *lrs, const double *losses, int n)
{
	int			from,
				to;

	usable_range(losses, n, &from, &to);
	if (to - from < 2)
		return -1;
	switch (rule)
	{
		case CF_LR_VALLEY:
			return suggest_valley(losses, from, to);
		case CF_LR_STEEP:
			return suggest_steep(lrs, losses, from, to);
		case CF_LR_MINIMUM:
			return suggest_minimum(losses, from, to);
		default:
			return -1;
	}
}

double
cf_lr_suggest_rate(CfLrRule rule, const double *lrs, const double *losses, int n)
{
	int			idx = cf_lr_suggest(rule, lrs, losses, n);

	if (idx < 0)
		return NAN;
	return rule == CF_LR_MINIMUM ? lrs[idx] / 10.0 : lrs[idx];
}
