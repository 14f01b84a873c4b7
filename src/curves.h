/*
 * curves.h — what a user looks at to judge a training: range-test sweeps
 * (stored with a model or run afresh), the learning-rate suggestions, and the
 * SVG pictures of the sweep, the schedule and the per-epoch curves.
 */
#ifndef CFREC_CURVES_H
#define CFREC_CURVES_H

#include "postgres.h"

#include "trainer.h"

typedef struct CfSweep
{
	int32		n;
	double	   *lr;
	double	   *loss;			/* NaN where the loss was not finite */
	double	   *smoothed;
	int32		suggested;		/* index, −1 when none */
	char	   *model_name;		/* NULL for a fresh sweep */
} CfSweep;

/* The sweep stored with a model (the newest model when name is NULL). */
void		cf_sweep_of_model(const char *model, CfSweep *out);
/* A fresh sweep's points as a CfSweep. */
void		cf_sweep_of_points(const CfSweepPoint *points, int32 n, int32 suggested,
							   CfSweep *out);

/* SVG documents (palloc'd text) of a model's range test and schedule, and of its epochs. */
text	   *cf_plot_lr_svg(const char *model);
text	   *cf_plot_training_svg(const char *model);

#endif
