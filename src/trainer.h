/*
 * trainer.h — from rating arrays to a trained model: the learning-rate range
 * test, then epochs of shuffled mini-batches under the slanted triangular
 * schedule, with a validation RMSE after each epoch.  No PostgreSQL header:
 * the server reaches in through the callbacks (interrupts, progress, NOTICE).
 */
#ifndef CFREC_TRAINER_H
#define CFREC_TRAINER_H

#include <stdbool.h>
#include <stdint.h>

#include "alloc.h"
#include "network.h"
#include "optimizer.h"
#include "schedule.h"

/* Ratings with dense indices; the training rows come first, then validation. */
typedef struct CfRatings
{
	int64_t		n_train;
	int64_t		n_valid;
	int32_t    *user;
	int32_t    *item;
	float	   *rating;
	float		rating_min;
	float		rating_max;
} CfRatings;

typedef struct CfTrainConfig
{
	CfNetConfig net;
	int32_t		epochs;
	int32_t		batch_size;
	double		lr;				/* peak rate; ≤ 0 runs the range test first */
	double		weight_decay;	/* dense layers */
	double		row_weight_decay;	/* user and item rows */
	float		output_offset;	/* initial output bias; NaN: PyTorch's init */
	double		cut_frac;
	double		ratio;
	double		start_lr;		/* range test */
	double		end_lr;
	int32_t		num_it;
	bool		stop_div;		/* stop once the smoothed loss passes 4× its best */
	bool		sweep_only;		/* run the range test and stop: no training */
	bool		range_test;		/* run it even though lr is given: to keep and show */
	int32_t		patience;		/* > 0: keep the best epoch by valid RMSE, stop after
								 * this many epochs without a better one */
	uint64_t	seed;
} CfTrainConfig;

/* The seed's recipe. */
void		cf_train_config_default(CfTrainConfig *cfg, int32_t n_users, int32_t n_items);

typedef struct CfSweepPoint
{
	double		lr;
	double		loss;
	double		smoothed_loss;
} CfSweepPoint;

typedef struct CfEpochStats
{
	int32_t		epoch;			/* 1-based */
	int32_t		epochs;
	int64_t		steps;			/* batches so far */
	double		lr;				/* at the epoch's last batch */
	double		train_loss;		/* mean batch MSE, training mode */
	double		train_rmse;		/* sqrt of train_loss */
	double		valid_rmse;		/* inference mode, clipped; NaN without validation rows */
	double		ratings_per_sec;
	double		elapsed_seconds;
} CfEpochStats;

typedef struct CfTrainCallbacks
{
	/* After every batch: the server checks for interrupts and reports progress. */
	void		(*on_batch) (void *ctx, const char *phase, int64_t done, int64_t total);
	void		(*on_epoch) (void *ctx, const CfEpochStats *stats);
	void	   *ctx;
} CfTrainCallbacks;

typedef struct CfTrainResult
{
	bool		diverged;		/* the loss became NaN or infinite; training stopped */
	CfSweepPoint *sweep;		/* NULL when lr was given */
	int32_t		n_sweep;
	int32_t		suggested;		/* index into sweep, −1 when none */
	double		lr;				/* the peak rate trained with */
	CfEpochStats *epochs;		/* [cfg.epochs] */
	int32_t		n_epochs;
	int32_t		best_epoch;		/* the epoch the model is from (1-based) */
	double		sweep_seconds;
	double		train_seconds;
} CfTrainResult;

/* Bytes the trainer will allocate beyond the ratings, for memory checks. */
size_t		cf_train_bytes(const CfTrainConfig *cfg);

/*
 * Runs the range test (when cfg->lr ≤ 0, range_test or sweep_only) and the
 * training, at the suggested rate when cfg->lr ≤ 0.  The
 * model is allocated from a and initialised from cfg->seed.  The range test
 * runs num_it batches at exponentially growing rates from that state, then
 * the model, the optimizer and the random streams are put back to it, so the
 * training that follows is the one a given lr would have run.
 */
void		cf_train_model(CfModel *model, CfTrainResult *result, const CfTrainConfig *cfg,
					 const CfRatings *data, const CfTrainCallbacks *cb, const CfAllocator *a);

/*
 * The damped bias baseline: ŷ = μ + b_user + b_item, fitted by alternating
 * closed-form sweeps, b_u = Σ(r − μ − b_i) / (λ_user + n_u) and likewise for
 * items.  cfg must have neither MLP nor dot branch, and biases.
 */
void		cf_fit_biases(CfModel *model, CfTrainResult *result, const CfNetConfig *cfg,
						  const CfRatings *data, double lambda_user, double lambda_item,
						  int sweeps, const CfTrainCallbacks *cb, const CfAllocator *a);

/* Rows per inference batch; tmp of cf_rmse holds CF_EVAL_BATCH × (2E + H) floats. */
#define CF_EVAL_BATCH 1024

/*
 * RMSE on rows [from, to) of data in inference mode, predictions clipped to
 * the rating range; inf must already be folded from model.  cb (may be NULL)
 * hears of every batch, phase "validating".
 */
double		cf_rmse(const CfModel *model, const CfInference *inf, const CfRatings *data,
					int64_t from, int64_t to, float *tmp, const CfTrainCallbacks *cb);

/* Seconds on a monotonic clock, for rates and durations. */
double		cf_monotonic_seconds(void);

/* Fisher–Yates shuffle of order[0..n) from rng. */
void		cf_shuffle(int64_t *order, int64_t n, CfRng *rng);

/*
 * The range test's record, the same for every architecture: each step's
 * rate, loss and smoothed loss (β 0.98) into out; the test ends at a
 * non-finite smoothed loss or, with stop_div, once it passes 4× its best.
 */
typedef struct CfSweepRecord
{
	CfSweepPoint *out;
	int32_t		n;
	CfSmoother	smooth;
	double		best;
	bool		stop_div;
} CfSweepRecord;
void		cf_sweep_record_init(CfSweepRecord *r, CfSweepPoint *out, bool stop_div);
/* Records one step; false when the range test should stop after it. */
bool		cf_sweep_record_add(CfSweepRecord *r, double lr, double loss);

#endif
