/*
 * schedule.h — learning rates: ULMFiT's slanted triangular schedule, the
 * exponential sweep of the range test, its loss smoothing and the rules that
 * suggest a rate from it.  No PostgreSQL header here.
 */
#ifndef CFREC_SCHEDULE_H
#define CFREC_SCHEDULE_H

#include <stdbool.h>

/*
 * Slanted triangular rate at step t (0-based) of total_steps (Howard & Ruder
 * 2018, eq. 3).  Equal to the seed's sltr() wherever total_steps·cut_frac is
 * whole; otherwise guarded: cut ≥ 1, the decay spans the steps really left,
 * p is clamped to [0, 1], so the rate stays in (0, eta_max].
 */
double		cf_stlr(long t, long total_steps, double eta_max, double cut_frac, double ratio);

/* Rate of step i of an exponential sweep of n steps from start to end. */
double		cf_sweep_lr(int i, int n, double start_lr, double end_lr);

/* Debiased exponential moving average (fastai's SmoothenValue). */
typedef struct CfSmoother
{
	double		beta;
	double		avg;
	int			n;
} CfSmoother;
void		cf_smoother_init(CfSmoother *s, double beta);
double		cf_smoother_add(CfSmoother *s, double value);

typedef enum CfLrRule
{
	CF_LR_VALLEY,				/* fastai: middle of the longest falling stretch */
	CF_LR_STEEP,				/* most negative slope of loss against ln(lr) */
	CF_LR_MINIMUM,				/* rate at the lowest loss, divided by 10 */
	CF_NUM_LR_RULES
} CfLrRule;
extern const char *const cf_lr_rule_names[CF_NUM_LR_RULES];

/*
 * Index into lrs/losses (n points) of the rate the rule suggests, or −1 when
 * the curve has too few finite points.  Losses are the smoothed ones; the
 * first n/10 and the last 5 points are skipped as fastai does when there are
 * enough of them, and the curve is cut at its first NaN or infinite loss.
 * The returned rate is lrs[idx], except for CF_LR_MINIMUM, whose rate is
 * lrs[idx] / 10 (see cf_lr_suggest_rate).  n ≤ CF_MAX_SWEEP (valley is O(n²)).
 */
#define CF_MAX_SWEEP 10000
int			cf_lr_suggest(CfLrRule rule, const double *lrs, const double *losses, int n);
double		cf_lr_suggest_rate(CfLrRule rule, const double *lrs, const double *losses, int n);

#endif
