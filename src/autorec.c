#include "autorec.h"

#include <math.h>
#include <string.h>

/* Independent random streams of one seed (trainer.c uses 2–4). */
#define STREAM_INIT 6
#define STREAM_SHUFFLE 7
#define STREAM_SWEEP 8

/* Everything one training needs; the parameters are one block. */
typedef struct AutoRec
{
	const CfTrainConfig *cfg;
	const CfRatings *data;
	const CfTrainCallbacks *cb;
	int32_t		n_users,
				n_items,
				H;
	/* the training ratings grouped by item (CSR) */
	int64_t    *item_start;		/* [n_items + 1] */
	int32_t    *user;			/* [n_train] */
	float	   *input;			/* rating + input offset */
	float	   *target;			/* rating */
	/* [W1 (n_users × H) | W2 (n_users × H) | c1 (H) | c2 (n_users)] */
	size_t		n_params;
	float	   *params,
			   *grads,
			   *initial;		/* the state the range test starts from */
	float	   *W1,
			   *W2,
			   *c1,
			   *c2,
			   *gW1,
			   *gW2,
			   *gc1,
			   *gc2;
	CfAdam		opt;
	float	   *h,
			   *dh;				/* batch × H */
	int64_t    *order;			/* items */
	/* the users whose rows a step updates: those the batch's ratings are by */
	int32_t    *touched;		/* [n_users] */
	uint32_t   *stamp;			/* [n_users] the step that last touched a user */
	uint32_t	step;
} AutoRec;

void
cf_autorec_export_config(CfNetConfig *out, const CfTrainConfig *cfg)
{
	*out = cfg->net;
	out->mlp = false;
	out->dot_dim = cfg->net.hidden;
	out->biases = true;
	out->y_min = out->y_max = 0.0f;
	out->row_l2 = out->bias_l2 = 0.0f;
}

size_t
cf_autorec_bytes(const CfTrainConfig *cfg, int64_t n_train)
{
	size_t		U = (size_t) cfg->net.n_users,
				I = (size_t) cfg->net.n_items,
				H = (size_t) cfg->net.hidden,
				params = 2 * U * H + H + U;
	CfNetConfig exported;
	CfModel		layout;

	cf_autorec_export_config(&exported, cfg);
	cf_model_layout(&layout, &exported);
	return params * sizeof(float) * 5	/* params, grads, Adam m and v, initial */
		+ 2 * (size_t) cfg->batch_size * H * sizeof(float)
		+ U * (sizeof(int32_t) + sizeof(uint32_t))
		+ (I + 1) * sizeof(int64_t) + I * sizeof(int64_t)
		+ (size_t) n_train * (sizeof(int32_t) + 2 * sizeof(float))
		+ layout.num_params * sizeof(float)
		+ (size_t) (cfg->num_it > 0 ? cfg->num_it : 0) * (sizeof(CfSweepPoint) + 2 * sizeof(double))
		+ (size_t) (cfg->epochs > 0 ? cfg->epochs : 0) * sizeof(CfEpochStats);
}

static void
report_batch(const AutoRec *ar, const char *phase, int64_t done, int64_t total)
{
	if (ar->cb && ar->cb->on_batch)
		ar->cb->on_batch(ar->cb->ctx, phase, done, total);
}

/* ---- layers: a sparse encoder and a decoder evaluated where ratings are ---- */

static inline void
axpy(float *restrict y, float a, const float *restrict x, int n)
{
	for (int j = 0; j < n; j++)
		y[j] += a * x[j];
}

CF_VECTOR_CLONES void
cf_autorec_encoder_forward(float *restrict h, const float *W1, const float *c1, const int32_t *user,
				const float *input, int64_t from, int64_t to, int H)
{
	memcpy(h, c1, sizeof(float) * H);
	for (int64_t k = from; k < to; k++)
		axpy(h, input[k], W1 + (size_t) user[k] * H, H);
	for (int j = 0; j < H; j++)
		h[j] = 1.0f / (1.0f + expf(-h[j]));
}

CF_VECTOR_CLONES double
cf_autorec_decoder_forward_backward(float *restrict dh, float *gW2, float *gc2, const float *h,
						 const float *W2, const float *c2, const int32_t *user,
						 const float *target, int64_t from, int64_t to, int H, float scale)
{
	double		sse = 0.0;

	memset(dh, 0, sizeof(float) * H);
	for (int64_t k = from; k < to; k++)
	{
		size_t		u = (size_t) user[k];
		float		e = cf_dot16(W2 + u * H, h, H) + c2[u] - target[k];
		float		d = scale * e;

		sse += (double) e * e;
		axpy(gW2 + u * H, d, h, H);
		gc2[u] += d;
		axpy(dh, d, W2 + u * H, H);
	}
	return sse;
}

CF_VECTOR_CLONES void
cf_autorec_encoder_backward(float *gW1, float *gc1, float *restrict dh, const float *h,
				 const int32_t *user, const float *input, int64_t from, int64_t to, int H)
{
	for (int j = 0; j < H; j++)
	{
		dh[j] *= h[j] * (1.0f - h[j]);
		gc1[j] += dh[j];
	}
	for (int64_t k = from; k < to; k++)
		axpy(gW1 + (size_t) user[k] * H, input[k], dh, H);
}

/*
 * Adam on what the step's ratings reached: the W1 and W2 rows and c2 entries
 * of their users (with the L2 term on the weights) and c1; the gradients are
 * cleared behind.  Rows of other users wait, as the embeddings of the other
 * architectures do (lazy Adam): a step costs O(ratings · H), not O(users · H).
 */
static void
update_touched(AutoRec *ar, int32_t n_touched, float lr)
{
	size_t		H = (size_t) ar->H,
				nw = (size_t) ar->n_users * H,
				c1 = 2 * nw,
				c2 = c1 + H;
	float		wd = (float) ar->cfg->weight_decay;

	ar->opt.t++;
	for (int32_t k = 0; k < n_touched; k++)
	{
		size_t		u = (size_t) ar->touched[k];

		cf_adam_dense_decayed(&ar->opt, ar->params + u * H, ar->grads + u * H, u * H, H, lr, wd);
		cf_adam_dense_decayed(&ar->opt, ar->params + nw + u * H, ar->grads + nw + u * H,
							  nw + u * H, H, lr, wd);
		cf_adam_dense_decayed(&ar->opt, ar->params + c2 + u, ar->grads + c2 + u, c2 + u, 1, lr,
							  0.0f);
	}
	cf_adam_dense_decayed(&ar->opt, ar->params + c1, ar->grads + c1, c1, H, lr, 0.0f);
}

static void
clear_touched(AutoRec *ar, int32_t n_touched)
{
	size_t		H = (size_t) ar->H,
				nw = (size_t) ar->n_users * H,
				c1 = 2 * nw,
				c2 = c1 + H;

	for (int32_t k = 0; k < n_touched; k++)
	{
		size_t		u = (size_t) ar->touched[k];

		memset(ar->grads + u * H, 0, sizeof(float) * H);
		memset(ar->grads + nw + u * H, 0, sizeof(float) * H);
		ar->grads[c2 + u] = 0.0f;
	}
	memset(ar->grads + c1, 0, sizeof(float) * H);
}

/*
 * One step on n items: forward and backward of each, then the update.
 * Returns Σ (o − r)² and the number of ratings in *n_ratings; no update when
 * the loss is not finite.
 */
static double
train_step(AutoRec *ar, const int64_t *items, int n, float lr, int64_t *n_ratings)
{
	int			H = ar->H;
	double		sse = 0.0;
	int64_t		seen = 0;
	int32_t		n_touched = 0;

	if (++ar->step == 0)		/* the stamps wrapped: start them over */
	{
		memset(ar->stamp, 0, sizeof(uint32_t) * (size_t) ar->n_users);
		ar->step = 1;
	}
	for (int b = 0; b < n; b++)
	{
		int64_t		i = items[b],
					from = ar->item_start[i],
					to = ar->item_start[i + 1];
		float	   *h = ar->h + (size_t) b * H,
				   *dh = ar->dh + (size_t) b * H;

		for (int64_t k = from; k < to; k++)
		{
			int32_t		u = ar->user[k];

			if (ar->stamp[u] != ar->step)
			{
				ar->stamp[u] = ar->step;
				ar->touched[n_touched++] = u;
			}
		}
		cf_autorec_encoder_forward(h, ar->W1, ar->c1, ar->user, ar->input, from, to, H);
		sse += cf_autorec_decoder_forward_backward(dh, ar->gW2, ar->gc2, h, ar->W2, ar->c2, ar->user,
										ar->target, from, to, H, 2.0f / n);
		cf_autorec_encoder_backward(ar->gW1, ar->gc1, dh, h, ar->user, ar->input, from, to, H);
		seen += to - from;
	}
	*n_ratings = seen;
	if (isfinite(sse))
		update_touched(ar, n_touched, lr);
	clear_touched(ar, n_touched);
	return sse;
}

/* PyTorch's nn.Linear initialisation: weights and biases ~ U(±1/√fan_in). */
static void
init_params(AutoRec *ar)
{
	CfRng		rng;
	size_t		nw = (size_t) ar->n_users * ar->H;
	double		enc = 1.0 / sqrt((double) ar->n_users),
				dec = 1.0 / sqrt((double) ar->H);

	cf_rng_seed(&rng, ar->cfg->seed, STREAM_INIT);
	for (size_t k = 0; k < nw; k++)
		ar->W1[k] = (float) ((2.0 * cf_rng_uniform(&rng) - 1.0) * enc);
	for (size_t k = 0; k < nw; k++)
		ar->W2[k] = (float) ((2.0 * cf_rng_uniform(&rng) - 1.0) * dec);
	for (int j = 0; j < ar->H; j++)
		ar->c1[j] = (float) ((2.0 * cf_rng_uniform(&rng) - 1.0) * enc);
	for (int u = 0; u < ar->n_users; u++)
		ar->c2[u] = (float) ((2.0 * cf_rng_uniform(&rng) - 1.0) * dec);
}

static void
group_by_item(AutoRec *ar, float input_offset, const CfAllocator *a)
{
	const CfRatings *d = ar->data;
	int64_t		n = d->n_train;
	int64_t    *next = a->alloc0(a->ctx, sizeof(int64_t) * ((size_t) ar->n_items + 1));

	ar->item_start = a->alloc0(a->ctx, sizeof(int64_t) * ((size_t) ar->n_items + 1));
	ar->user = a->alloc0(a->ctx, sizeof(int32_t) * (size_t) (n > 0 ? n : 1));
	ar->input = cf_alloc_floats(a, (size_t) (n > 0 ? n : 1));
	ar->target = cf_alloc_floats(a, (size_t) (n > 0 ? n : 1));
	for (int64_t r = 0; r < n; r++)
		ar->item_start[d->item[r] + 1]++;
	for (int32_t i = 0; i < ar->n_items; i++)
		ar->item_start[i + 1] += ar->item_start[i];
	memcpy(next, ar->item_start, sizeof(int64_t) * (size_t) ar->n_items);
	for (int64_t r = 0; r < n; r++)
	{
		int64_t		k = next[d->item[r]]++;

		ar->user[k] = d->user[r];
		ar->input[k] = d->rating[r] + input_offset;
		ar->target[k] = d->rating[r];
	}
}

/* The exported form: user rows [W2[u] | c2[u]], item rows [h_i | 0]. */
static void
export_model(AutoRec *ar, CfModel *model)
{
	int			H = ar->H,
				W = H + 1;

	for (int32_t u = 0; u < ar->n_users; u++)
	{
		float	   *row = model->p[CF_USER_EMB] + (size_t) u * W;

		memcpy(row, ar->W2 + (size_t) u * H, sizeof(float) * H);
		row[H] = ar->c2[u];
	}
	for (int32_t i = 0; i < ar->n_items; i++)
	{
		float	   *row = model->p[CF_ITEM_EMB] + (size_t) i * W;

		cf_autorec_encoder_forward(row, ar->W1, ar->c1, ar->user, ar->input, ar->item_start[i],
						ar->item_start[i + 1], H);
		row[H] = 0.0f;
	}
	model->p[CF_B2][0] = 0.0f;
}

/* Validation RMSE of the current weights, predictions clipped to the range. */
static double
valid_rmse(AutoRec *ar, CfModel *model)
{
	const CfRatings *d = ar->data;
	CfInference inf = {0};
	double		sse = 0.0;

	if (d->n_valid <= 0)
		return NAN;
	export_model(ar, model);
	inf.D = ar->H;
	inf.W = ar->H + 1;
	inf.biases = true;
	for (int64_t r = d->n_train; r < d->n_train + d->n_valid; r++)
	{
		float		p = cf_inference_predict(&inf, NULL, NULL,
											 model->p[CF_USER_EMB] + (size_t) d->user[r] * inf.W,
											 model->p[CF_ITEM_EMB] + (size_t) d->item[r] * inf.W);
		double		e;

		p = p < d->rating_min ? d->rating_min : p > d->rating_max ? d->rating_max : p;
		e = (double) p - d->rating[r];
		sse += e * e;
		if ((r & 4095) == 0)
			report_batch(ar, "validating", r - d->n_train + 1, d->n_valid);
	}
	return sqrt(sse / (double) d->n_valid);
}

static int32_t
effective_batch(const AutoRec *ar)
{
	return ar->n_items < ar->cfg->batch_size ? ar->n_items : ar->cfg->batch_size;
}

/* The range test: num_it steps at exponentially growing rates. */
static int32_t
lr_sweep(AutoRec *ar, CfSweepPoint *out)
{
	const CfTrainConfig *cfg = ar->cfg;
	int32_t		B = effective_batch(ar);
	int64_t		pos = ar->n_items;	/* forces a shuffle before the first batch */
	CfRng		rng;
	CfSweepRecord record;

	cf_rng_seed(&rng, cfg->seed, STREAM_SWEEP);
	cf_sweep_record_init(&record, out, cfg->stop_div);
	for (int32_t i = 0; i < cfg->num_it; i++)
	{
		double		lr = cf_sweep_lr(i, cfg->num_it, cfg->start_lr, cfg->end_lr);
		int64_t		seen;
		double		sse;
		bool		go_on;

		if (pos + B > ar->n_items)
		{
			cf_shuffle(ar->order, ar->n_items, &rng);
			pos = 0;
		}
		sse = train_step(ar, ar->order + pos, B, (float) lr, &seen);
		pos += B;
		go_on = cf_sweep_record_add(&record, lr, seen > 0 ? sse / seen : 0.0);
		report_batch(ar, "range test", i + 1, cfg->num_it);
		if (!go_on)
			break;
	}
	return record.n;
}

static void
run_sweep(AutoRec *ar, CfTrainResult *res, const CfAllocator *a)
{
	double		start = cf_monotonic_seconds();
	double	   *lrs,
			   *losses;

	res->sweep = a->alloc0(a->ctx, (size_t) ar->cfg->num_it * sizeof(CfSweepPoint));
	res->n_sweep = lr_sweep(ar, res->sweep);
	lrs = a->alloc0(a->ctx, (size_t) res->n_sweep * sizeof(double) + 1);
	losses = a->alloc0(a->ctx, (size_t) res->n_sweep * sizeof(double) + 1);
	for (int32_t i = 0; i < res->n_sweep; i++)
	{
		lrs[i] = res->sweep[i].lr;
		losses[i] = res->sweep[i].smoothed_loss;
	}
	res->suggested = cf_lr_suggest(CF_LR_VALLEY, lrs, losses, res->n_sweep);
	if (ar->cfg->lr <= 0.0)
		res->lr = res->suggested >= 0 ? lrs[res->suggested] : NAN;
	res->sweep_seconds = cf_monotonic_seconds() - start;
	/* back to the initial state, so the training is the one a given lr runs */
	memcpy(ar->params, ar->initial, sizeof(float) * ar->n_params);
	cf_adam_reset(&ar->opt);
	for (int32_t i = 0; i < ar->n_items; i++)
		ar->order[i] = i;
}

static void
train_epochs(AutoRec *ar, CfModel *model, CfTrainResult *res)
{
	const CfTrainConfig *cfg = ar->cfg;
	int32_t		B = effective_batch(ar);
	int64_t		batches = (ar->n_items + B - 1) / B;
	int64_t		total = batches * cfg->epochs,
				step = 0;
	CfRng		rng;
	double		start = cf_monotonic_seconds();

	cf_rng_seed(&rng, cfg->seed, STREAM_SHUFFLE);
	for (int32_t epoch = 0; epoch < cfg->epochs && !res->diverged; epoch++)
	{
		double		epoch_start = cf_monotonic_seconds();
		/* linear decay to 0: what the MovieLens study validated for AutoRec */
		float		lr = (float) (res->lr * (1.0 - (double) epoch / cfg->epochs));
		double		sse = 0.0;
		int64_t		seen = 0;
		CfEpochStats *st = &res->epochs[epoch];

		cf_shuffle(ar->order, ar->n_items, &rng);
		for (int64_t b = 0; b < batches; b++)
		{
			int64_t		from = b * B;
			int			size = (int) (ar->n_items - from < B ? ar->n_items - from : B);
			int64_t		n;
			double		batch_sse = train_step(ar, ar->order + from, size, lr, &n);

			step++;
			if (!isfinite(batch_sse))
			{
				res->diverged = true;
				break;
			}
			sse += batch_sse;
			seen += n;
			report_batch(ar, "training", step, total);
		}
		st->epoch = epoch + 1;
		st->epochs = cfg->epochs;
		st->steps = step;
		st->lr = lr;
		st->train_loss = seen > 0 ? sse / seen : NAN;
		st->train_rmse = sqrt(st->train_loss);
		st->ratings_per_sec = seen / (cf_monotonic_seconds() - epoch_start);
		st->valid_rmse = valid_rmse(ar, model);
		st->elapsed_seconds = cf_monotonic_seconds() - start;
		res->n_epochs = epoch + 1;
		if (ar->cb && ar->cb->on_epoch)
			ar->cb->on_epoch(ar->cb->ctx, st);
	}
	res->best_epoch = res->n_epochs;	/* the last epoch: the rate has decayed to 0 */
	res->train_seconds = cf_monotonic_seconds() - start;
}

void
cf_autorec_train(CfModel *model, CfTrainResult *res, const CfTrainConfig *cfg,
				 const CfRatings *data, float input_offset, const CfTrainCallbacks *cb,
				 const CfAllocator *a)
{
	AutoRec		ar;
	CfNetConfig exported;
	size_t		nw;

	memset(&ar, 0, sizeof(ar));
	memset(res, 0, sizeof(*res));
	res->suggested = -1;
	res->lr = cfg->lr;
	ar.cfg = cfg;
	ar.data = data;
	ar.cb = cb;
	ar.n_users = cfg->net.n_users;
	ar.n_items = cfg->net.n_items;
	ar.H = cfg->net.hidden;
	nw = (size_t) ar.n_users * ar.H;
	ar.n_params = 2 * nw + ar.H + ar.n_users;
	ar.params = cf_alloc_floats(a, ar.n_params);
	ar.grads = cf_alloc_floats(a, ar.n_params);
	ar.W1 = ar.params;
	ar.W2 = ar.params + nw;
	ar.c1 = ar.params + 2 * nw;
	ar.c2 = ar.c1 + ar.H;
	ar.gW1 = ar.grads;
	ar.gW2 = ar.grads + nw;
	ar.gc1 = ar.grads + 2 * nw;
	ar.gc2 = ar.gc1 + ar.H;
	cf_adam_alloc_n(&ar.opt, ar.n_params, (float) cfg->weight_decay, a);
	ar.h = cf_alloc_floats(a, (size_t) cfg->batch_size * ar.H);
	ar.dh = cf_alloc_floats(a, (size_t) cfg->batch_size * ar.H);
	ar.order = a->alloc0(a->ctx, sizeof(int64_t) * ((size_t) ar.n_items + 1));
	ar.touched = a->alloc0(a->ctx, sizeof(int32_t) * ((size_t) ar.n_users + 1));
	ar.stamp = a->alloc0(a->ctx, sizeof(uint32_t) * ((size_t) ar.n_users + 1));
	for (int32_t i = 0; i < ar.n_items; i++)
		ar.order[i] = i;
	group_by_item(&ar, input_offset, a);
	init_params(&ar);

	cf_autorec_export_config(&exported, cfg);
	cf_model_alloc(model, &exported, a);
	res->epochs = a->alloc0(a->ctx, (size_t) cfg->epochs * sizeof(CfEpochStats));

	if (cfg->lr <= 0.0 || cfg->range_test || cfg->sweep_only)
	{
		ar.initial = cf_alloc_floats(a, ar.n_params);
		memcpy(ar.initial, ar.params, sizeof(float) * ar.n_params);
		run_sweep(&ar, res, a);
	}
	if (cfg->sweep_only || !(res->lr > 0.0))
		return;
	train_epochs(&ar, model, res);
	export_model(&ar, model);
}
