#include "trainer.h"

#include <math.h>
#include <string.h>
#include <time.h>

/* Independent random streams of one seed: see cf_rng_seed. */
#define STREAM_SWEEP_BATCHES 3
#define STREAM_SHUFFLE 4
#define STREAM_DROPOUT 2

void
cf_train_config_default(CfTrainConfig *cfg, int32_t n_users, int32_t n_items)
{
	cf_net_config_default(&cfg->net, n_users, n_items);
	cfg->epochs = 10;
	cfg->batch_size = 1024;
	cfg->lr = 0.0;
	cfg->weight_decay = 1e-5;
	cfg->row_weight_decay = 1e-5;
	cfg->output_offset = NAN;
	cfg->cut_frac = 0.1;
	cfg->ratio = 32.0;
	cfg->start_lr = 1e-7;
	cfg->end_lr = 10.0;
	cfg->num_it = 100;
	cfg->stop_div = true;
	cfg->sweep_only = false;
	cfg->range_test = false;
	cfg->patience = 0;
	cfg->seed = 0;
}

double
cf_monotonic_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int32_t
effective_batch(const CfTrainConfig *cfg, const CfRatings *data)
{
	return data->n_train < cfg->batch_size ? (int32_t) data->n_train : cfg->batch_size;
}

size_t
cf_train_bytes(const CfTrainConfig *cfg)
{
	CfModel		layout;
	size_t		E = cfg->net.mlp ? cfg->net.emb_dim : 0,
				F = 2 * E,
				H = cfg->net.mlp ? cfg->net.hidden : 0;

	cf_model_layout(&layout, &cfg->net);
	return layout.num_params * sizeof(float) * 3	/* parameters, Adam m and v */
		+ (4 * F + 2 * H) * sizeof(float)	/* batch-norm statistics */
		+ cf_workspace_bytes(&cfg->net, cfg->batch_size)
		+ (H * F + 2 * F + 2 * H) * sizeof(float)	/* inference form */
		+ (size_t) CF_EVAL_BATCH * (F + H) * sizeof(float)
		+ (size_t) cfg->batch_size * (2 * sizeof(int32_t) + sizeof(float))
		/* the sweep's points, and its rates and losses for the suggestion */
		+ (size_t) (cfg->num_it > 0 ? cfg->num_it : 0) * (sizeof(CfSweepPoint) + 2 * sizeof(double))
		+ (size_t) (cfg->epochs > 0 ? cfg->epochs : 0) * sizeof(CfEpochStats)
		+ (cfg->patience > 0 ? layout.num_params * sizeof(float) : 0);	/* the best epoch */
}

/* Batch buffers gathered from the shuffled order. */
typedef struct Batch
{
	int32_t    *user;
	int32_t    *item;
	float	   *rating;
} Batch;

static void
gather(Batch *b, const CfRatings *data, const int64_t *order, int64_t from, int n)
{
	for (int i = 0; i < n; i++)
	{
		int64_t		r = order[from + i];

		b->user[i] = data->user[r];
		b->item[i] = data->item[r];
		b->rating[i] = data->rating[r];
	}
}

void
cf_shuffle(int64_t *order, int64_t n, CfRng *rng)
{
	for (int64_t i = n - 1; i > 0; i--)
	{
		int64_t		j = (int64_t) cf_rng_below(rng, (uint64_t) i + 1);
		int64_t		t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
}

static double
train_step(CfModel *model, CfAdam *opt, CfWorkspace *ws, const Batch *b, int n, float lr)
{
	double		loss = cf_net_forward_backward(model, ws, b->user, b->item, b->rating, n);

	if (isfinite(loss))
		cf_adam_step(opt, model, ws, lr);
	return loss;
}

/* Everything one training needs besides the model. */
typedef struct Trainer
{
	const CfTrainConfig *cfg;
	const CfRatings *data;
	const CfTrainCallbacks *cb;
	CfModel    *model;
	CfAdam		opt;
	CfWorkspace ws;
	CfInference inf;
	float	   *eval_tmp;
	float	   *best_params;	/* the best epoch so far, with patience */
	float	   *best_stats;
	int64_t    *order;
	Batch		batch;
	int32_t		B;
} Trainer;

static void
report_batch(const Trainer *tr, const char *phase, int64_t done, int64_t total)
{
	if (tr->cb && tr->cb->on_batch)
		tr->cb->on_batch(tr->cb->ctx, phase, done, total);
}

/* Back to the state right after initialisation: what the range test disturbed. */
static void
reset_to_initial(Trainer *tr)
{
	cf_model_init(tr->model, tr->cfg->seed, tr->cfg->output_offset);
	cf_adam_reset(&tr->opt);
	cf_rng_seed(&tr->ws.dropout_rng, tr->cfg->seed, STREAM_DROPOUT);
}

void
cf_sweep_record_init(CfSweepRecord *r, CfSweepPoint *out, bool stop_div)
{
	r->out = out;
	r->n = 0;
	cf_smoother_init(&r->smooth, 0.98);
	r->best = INFINITY;
	r->stop_div = stop_div;
}

bool
cf_sweep_record_add(CfSweepRecord *r, double lr, double loss)
{
	double		smoothed = cf_smoother_add(&r->smooth, loss);

	r->out[r->n].lr = lr;
	r->out[r->n].loss = loss;
	r->out[r->n].smoothed_loss = smoothed;
	r->n++;
	if (!isfinite(smoothed))
		return false;
	if (r->stop_div && r->n > 1 && smoothed > 4.0 * r->best)
		return false;
	if (smoothed < r->best)
		r->best = smoothed;
	return true;
}

static int32_t
lr_sweep(Trainer *tr, CfSweepPoint *out)
{
	const CfTrainConfig *cfg = tr->cfg;
	int64_t		n = tr->data->n_train;
	int64_t		pos = n;		/* forces a shuffle before the first batch */
	CfRng		rng;
	CfSweepRecord record;

	cf_rng_seed(&rng, cfg->seed, STREAM_SWEEP_BATCHES);
	cf_sweep_record_init(&record, out, cfg->stop_div);
	for (int32_t i = 0; i < cfg->num_it; i++)
	{
		double		lr = cf_sweep_lr(i, cfg->num_it, cfg->start_lr, cfg->end_lr);
		bool		go_on;

		if (pos + tr->B > n)
		{
			cf_shuffle(tr->order, n, &rng);
			pos = 0;
		}
		gather(&tr->batch, tr->data, tr->order, pos, tr->B);
		pos += tr->B;
		go_on = cf_sweep_record_add(&record, lr,
									train_step(tr->model, &tr->opt, &tr->ws, &tr->batch,
											   tr->B, (float) lr));
		report_batch(tr, "range test", i + 1, cfg->num_it);
		if (!go_on)
			break;
	}
	return record.n;
}

double
cf_rmse(const CfModel *model, const CfInference *inf, const CfRatings *data,
		int64_t from, int64_t to, float *tmp, const CfTrainCallbacks *cb)
{
	float		pred[CF_EVAL_BATCH];
	double		sum = 0.0;

	if (to <= from)
		return NAN;
	for (int64_t start = from; start < to; start += CF_EVAL_BATCH)
	{
		int			n = (int) (to - start < CF_EVAL_BATCH ? to - start : CF_EVAL_BATCH);

		cf_inference_batch(inf, model, data->user + start, data->item + start, n, tmp, pred);
		for (int i = 0; i < n; i++)
		{
			double		p = pred[i];
			double		d;

			p = p < data->rating_min ? data->rating_min : p;
			p = p > data->rating_max ? data->rating_max : p;
			d = p - data->rating[start + i];
			sum += d * d;
		}
		if (cb && cb->on_batch)
			cb->on_batch(cb->ctx, "validating", (start - from) / CF_EVAL_BATCH + 1,
						 (to - from + CF_EVAL_BATCH - 1) / CF_EVAL_BATCH);
	}
	return sqrt(sum / (double) (to - from));
}

static size_t
stat_floats(const CfModel *m)
{
	size_t		n = 0;

	for (int i = 0; i < CF_NUM_STATS; i++)
		n += m->stat_sizes[i];
	return n;
}

static void
train_epochs(Trainer *tr, CfTrainResult *res)
{
	const CfTrainConfig *cfg = tr->cfg;
	const CfRatings *data = tr->data;
	int64_t		n = data->n_train;
	int32_t		B = tr->B;
	/* BatchNorm needs two rows: a last batch of one is dropped. */
	int64_t		batches = n / B + (n % B >= 2 ? 1 : 0);
	int64_t		total = batches * cfg->epochs;
	int64_t		step = 0;
	CfRng		rng;
	double		start = cf_monotonic_seconds();

	cf_rng_seed(&rng, cfg->seed, STREAM_SHUFFLE);
	for (int32_t epoch = 0; epoch < cfg->epochs && !res->diverged; epoch++)
	{
		double		epoch_start = cf_monotonic_seconds();
		double		loss_sum = 0.0,
					lr = 0.0;
		int64_t		seen = 0;
		CfEpochStats *st = &res->epochs[epoch];

		cf_shuffle(tr->order, n, &rng);
		for (int64_t b = 0; b < batches; b++)
		{
			int64_t		from = b * B;
			int			size = (int) (n - from < B ? n - from : B);
			double		loss;

			lr = cf_stlr(step, total, res->lr, cfg->cut_frac, cfg->ratio);
			gather(&tr->batch, data, tr->order, from, size);
			loss = train_step(tr->model, &tr->opt, &tr->ws, &tr->batch, size, (float) lr);
			step++;
			if (!isfinite(loss))
			{
				res->diverged = true;
				break;
			}
			loss_sum += loss * size;
			seen += size;
			report_batch(tr, "training", step, total);
		}
		st->epoch = epoch + 1;
		st->epochs = cfg->epochs;
		st->steps = step;
		st->lr = lr;
		st->train_loss = seen > 0 ? loss_sum / seen : NAN;
		st->train_rmse = sqrt(st->train_loss);
		st->ratings_per_sec = seen / (cf_monotonic_seconds() - epoch_start);
		cf_inference_fold(&tr->inf, tr->model);
		st->valid_rmse = cf_rmse(tr->model, &tr->inf, data, n, n + data->n_valid, tr->eval_tmp,
								 tr->cb);
		st->elapsed_seconds = cf_monotonic_seconds() - start;
		res->n_epochs = epoch + 1;
		if (tr->cb && tr->cb->on_epoch)
			tr->cb->on_epoch(tr->cb->ctx, st);
		if (tr->best_params && isfinite(st->valid_rmse))
		{
			if (res->best_epoch == 0 || st->valid_rmse < res->epochs[res->best_epoch - 1].valid_rmse)
			{
				res->best_epoch = st->epoch;
				memcpy(tr->best_params, tr->model->params, sizeof(float) * tr->model->num_params);
				memcpy(tr->best_stats, tr->model->stats, sizeof(float) * stat_floats(tr->model));
			}
			else if (st->epoch - res->best_epoch >= cfg->patience)
				break;
		}
	}
	if (tr->best_params && res->best_epoch > 0 && res->best_epoch != res->n_epochs && !res->diverged)
	{
		memcpy(tr->model->params, tr->best_params, sizeof(float) * tr->model->num_params);
		memcpy(tr->model->stats, tr->best_stats, sizeof(float) * stat_floats(tr->model));
	}
	if (res->best_epoch == 0)
		res->best_epoch = res->n_epochs;
	res->train_seconds = cf_monotonic_seconds() - start;
}

void
cf_train_model(CfModel *model, CfTrainResult *res, const CfTrainConfig *cfg,
		 const CfRatings *data, const CfTrainCallbacks *cb, const CfAllocator *a)
{
	Trainer		tr;
	size_t		E = cfg->net.mlp ? cfg->net.emb_dim : 0,
				H = cfg->net.mlp ? cfg->net.hidden : 0;

	memset(&tr, 0, sizeof(tr));
	memset(res, 0, sizeof(*res));
	res->suggested = -1;
	tr.cfg = cfg;
	tr.data = data;
	tr.cb = cb;
	tr.model = model;
	tr.B = effective_batch(cfg, data);
	cf_model_alloc(model, &cfg->net, a);
	cf_model_init(model, cfg->seed, cfg->output_offset);
	cf_adam_alloc(&tr.opt, model, (float) cfg->weight_decay, (float) cfg->row_weight_decay, a);
	cf_workspace_alloc(&tr.ws, model, tr.B, cfg->seed, a);
	cf_inference_alloc(&tr.inf, &cfg->net, a);
	tr.eval_tmp = cf_alloc_floats(a, (size_t) CF_EVAL_BATCH * (2 * E + H));
	tr.order = a->alloc0(a->ctx, (size_t) data->n_train * sizeof(int64_t));
	for (int64_t i = 0; i < data->n_train; i++)
		tr.order[i] = i;
	tr.batch.user = a->alloc0(a->ctx, (size_t) tr.B * sizeof(int32_t));
	tr.batch.item = a->alloc0(a->ctx, (size_t) tr.B * sizeof(int32_t));
	tr.batch.rating = cf_alloc_floats(a, tr.B);
	res->epochs = a->alloc0(a->ctx, (size_t) cfg->epochs * sizeof(CfEpochStats));
	res->lr = cfg->lr;
	if (cfg->patience > 0 && data->n_valid > 0)
	{
		tr.best_params = cf_alloc_floats(a, model->num_params);
		tr.best_stats = cf_alloc_floats(a, stat_floats(model) + 1);
	}

	if (cfg->lr <= 0.0 || cfg->range_test || cfg->sweep_only)
	{
		double		start = cf_monotonic_seconds();
		double	   *lrs,
				   *losses;

		res->sweep = a->alloc0(a->ctx, (size_t) cfg->num_it * sizeof(CfSweepPoint));
		res->n_sweep = lr_sweep(&tr, res->sweep);
		lrs = a->alloc0(a->ctx, (size_t) res->n_sweep * sizeof(double));
		losses = a->alloc0(a->ctx, (size_t) res->n_sweep * sizeof(double));
		for (int32_t i = 0; i < res->n_sweep; i++)
		{
			lrs[i] = res->sweep[i].lr;
			losses[i] = res->sweep[i].smoothed_loss;
		}
		res->suggested = cf_lr_suggest(CF_LR_VALLEY, lrs, losses, res->n_sweep);
		if (cfg->lr <= 0.0)
			res->lr = res->suggested >= 0 ? lrs[res->suggested] : NAN;
		res->sweep_seconds = cf_monotonic_seconds() - start;
		for (int64_t i = 0; i < data->n_train; i++)
			tr.order[i] = i;
		reset_to_initial(&tr);
	}
	if (cfg->sweep_only || !(res->lr > 0.0))
		return;
	train_epochs(&tr, res);
}

void
cf_fit_biases(CfModel *model, CfTrainResult *res, const CfNetConfig *cfg, const CfRatings *data,
			  double lambda_user, double lambda_item, int sweeps, const CfTrainCallbacks *cb,
			  const CfAllocator *a)
{
	const CfNetConfig *c = cfg;
	int32_t		W = cf_row_width(c);
	double	   *sum_u = a->alloc0(a->ctx, sizeof(double) * c->n_users);
	double	   *sum_i = a->alloc0(a->ctx, sizeof(double) * c->n_items);
	int32_t    *n_u = a->alloc0(a->ctx, sizeof(int32_t) * c->n_users);
	int32_t    *n_i = a->alloc0(a->ctx, sizeof(int32_t) * c->n_items);
	float	   *bu,
			   *bi;
	double		mu = 0.0;
	int64_t		n = data->n_train;
	double		start = cf_monotonic_seconds();
	CfInference inf;
	float	   *tmp;

	memset(res, 0, sizeof(*res));
	res->suggested = -1;
	cf_model_alloc(model, c, a);
	c = &model->cfg;
	for (int64_t r = 0; r < n; r++)
	{
		mu += data->rating[r];
		n_u[data->user[r]]++;
		n_i[data->item[r]]++;
	}
	mu /= n;
	model->p[CF_B2][0] = (float) mu;
	/* the bias is the last entry of each row; rows W apart */
	bu = model->p[CF_USER_EMB] + W - 1;
	bi = model->p[CF_ITEM_EMB] + W - 1;
	res->epochs = a->alloc0(a->ctx, sizeof(CfEpochStats) * sweeps);
	cf_inference_alloc(&inf, c, a);
	tmp = cf_alloc_floats(a, CF_EVAL_BATCH);
	for (int s = 0; s < sweeps; s++)
	{
		CfEpochStats *st = &res->epochs[s];
		double		sq = 0.0;

		memset(sum_i, 0, sizeof(double) * c->n_items);
		for (int64_t r = 0; r < n; r++)
			sum_i[data->item[r]] += data->rating[r] - mu - bu[(size_t) data->user[r] * W];
		for (int32_t i = 0; i < c->n_items; i++)
			bi[(size_t) i * W] = (float) (sum_i[i] / (lambda_item + n_i[i]));
		memset(sum_u, 0, sizeof(double) * c->n_users);
		for (int64_t r = 0; r < n; r++)
			sum_u[data->user[r]] += data->rating[r] - mu - bi[(size_t) data->item[r] * W];
		for (int32_t u = 0; u < c->n_users; u++)
			bu[(size_t) u * W] = (float) (sum_u[u] / (lambda_user + n_u[u]));
		for (int64_t r = 0; r < n; r++)
		{
			double		d = mu + bu[(size_t) data->user[r] * W] + bi[(size_t) data->item[r] * W]
				- data->rating[r];

			sq += d * d;
		}
		cf_inference_fold(&inf, model);
		st->epoch = s + 1;
		st->epochs = sweeps;
		st->steps = s + 1;
		st->train_loss = sq / n;
		st->train_rmse = sqrt(st->train_loss);
		st->valid_rmse = cf_rmse(model, &inf, data, n, n + data->n_valid, tmp, cb);
		st->elapsed_seconds = cf_monotonic_seconds() - start;
		st->ratings_per_sec = n * (s + 1) / (st->elapsed_seconds > 0 ? st->elapsed_seconds : 1e-9);
		res->n_epochs = s + 1;
		if (cb && cb->on_epoch)
			cb->on_epoch(cb->ctx, st);
	}
	res->train_seconds = cf_monotonic_seconds() - start;
}
