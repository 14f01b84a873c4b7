/*
 * svg.h — self-contained SVG pictures of a learning-rate range test and of
 * training curves.  No PostgreSQL header here: plain C11 and libc.
 *
 * Every document is standalone SVG 1.1 text, 800×500 user units, with a
 * <style> block and no scripts or external resources.  Numbers are written
 * without the C library's locale-dependent conversions for coordinates, and
 * any decimal separator a locale puts into a tick label is rewritten to '.'.
 * Text passed in (titles) is XML-escaped; control characters become spaces,
 * bytes that are not valid UTF-8 become '?', and a title longer than 80
 * characters is cut and ends with "…".
 *
 * NaN and infinite values are skipped (a gap in the line), never printed.
 * Lines of more than 2000 points are down-sampled: the points are split into
 * 1000 consecutive buckets and each bucket contributes its lowest and its
 * highest point, in their original order, so peaks (the top of a slanted
 * triangular schedule, a loss spike) survive.
 */
#ifndef CFREC_SVG_H
#define CFREC_SVG_H

#include <stddef.h>

/* Output goes through a sink so the server can write into its own string buffer. */
typedef struct CfSvgSink
{
	void		(*write) (void *ctx, const char *s, size_t len);
	void	   *ctx;
} CfSvgSink;

/* "%.1e" of lr, e.g. "3.2e-03", with '.' whatever the locale; "n/a" if not finite. */
void		cf_svg_format_lr(double lr, char buf[32]);

/*
 * Range test: loss against learning rate (log axis, decade ticks "1e-4").
 * Raw losses are drawn thin and light, smoothed losses bold; either array may
 * be NULL.  Points whose rate is not finite and positive are skipped.
 * suggested (an index into the arrays, or −1) is marked with a circle and a
 * dashed vertical line labelled "suggested lr " + cf_svg_format_lr(lrs[i]).
 * schedule_lr[0 .. n_schedule−1] (the rate of each training step; NULL/0 to
 * omit) is drawn in a second, smaller panel below.
 *
 * y-range: let m be the lowest finite smoothed loss (raw losses if there are
 * no smoothed ones) and f the first finite one.  The top is the highest loss
 * shown, but at most m + 3·(f − m) when f > m, so a diverging tail does not
 * squash the interesting part (the rest of it is clipped at the top).  The
 * bottom is the lowest raw or smoothed loss, but at most half the span
 * (m to the top) below m, so one low outlier in the raw losses does not either.  A flat
 * curve gets a span of ±10 % of its value (±1 around 0); then 5 % padding.
 */
void		cf_svg_lr_plot(const CfSvgSink *out, const char *title,
						   const double *lrs, const double *losses, const double *smoothed, int n,
						   int suggested /* index or -1 */ ,
						   const double *schedule_lr, long n_schedule /* may be NULL/0 */ );

/*
 * Training curves: train and valid RMSE against epoch (integer ticks).
 * epochs may be NULL (then 1..n); valid_rmse may be NULL or all NaN, and then
 * it is left out of the legend.  lr (rate at the end of each epoch; NULL to
 * omit) is drawn dashed against a second y-axis on the right, from 0.
 * The RMSE axis spans the finite values plus 8 % padding.
 */
void		cf_svg_training_plot(const CfSvgSink *out, const char *title,
								 const int *epochs, const double *train_rmse, const double *valid_rmse,
								 const double *lr, int n);

#endif
