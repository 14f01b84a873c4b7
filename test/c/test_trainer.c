/*
 * test_trainer.c — cf_train on planted data: 300 users, 200 items, rank-3
 * factors plus biases plus noise (σ = 0.3), 30 000 ratings of which the last
 * 10 % are validation rows.  The network must beat the global mean clearly,
 * reproduce itself bit for bit, and the range test must leave no trace on
 * the training that follows it.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "rng.h"
#include "schedule.h"
#include "trainer.h"
#include "tap.h"
#include "planted.h"

enum
{
	N_USERS = 300,
	N_ITEMS = 200,
	RANK = 3,
	N_RATINGS = 30000
};

static TapArena data_arena;

static void
make_data(CfRatings *d, const CfAllocator *a)
{
	PlantedSpec spec = {N_USERS, N_ITEMS, RANK, N_RATINGS, 0xda7a, 77, false};

	planted_ratings(d, a, &spec);
}

typedef struct Counts
{
	int			epochs;
	int			last_epoch;
	bool		epochs_in_order;
	int64_t		batches;
	int64_t		last_done,
				last_total;
	bool		batches_in_order;
	int64_t		sweep_batches;
	int64_t		valid_batches;
	int64_t		other_batches;	/* an unknown phase */
} Counts;

static void
on_batch(void *ctx, const char *phase, int64_t done, int64_t total)
{
	Counts	   *c = ctx;

	if (strcmp(phase, "training") == 0)
	{
		if (done != c->last_done + 1)
			c->batches_in_order = false;
		c->batches++;
		c->last_done = done;
		c->last_total = total;
	}
	else if (strcmp(phase, "range test") == 0)
		c->sweep_batches++;
	else if (strcmp(phase, "validating") == 0)
		c->valid_batches++;
	else
		c->other_batches++;
}

static void
on_epoch(void *ctx, const CfEpochStats *st)
{
	Counts	   *c = ctx;

	if (st->epoch != c->last_epoch + 1)
		c->epochs_in_order = false;
	c->last_epoch = st->epoch;
	c->epochs++;
}

/* One training run with its own arena, so that the model outlives it. */
typedef struct Run
{
	TapArena	arena;
	CfAllocator a;
	CfModel		model;
	CfTrainResult res;
	Counts		counts;
} Run;

static void
run(Run *r, const CfTrainConfig *cfg, const CfRatings *d)
{
	CfTrainCallbacks cb = {on_batch, on_epoch, &r->counts};

	memset(&r->counts, 0, sizeof(r->counts));
	r->counts.epochs_in_order = true;
	r->counts.batches_in_order = true;
	r->a = tap_arena_allocator(&r->arena);
	cf_train_model(&r->model, &r->res, cfg, d, &cb, &r->a);
}

static size_t
stats_floats(const CfModel *m)
{
	size_t		n = 0;

	for (int i = 0; i < CF_NUM_STATS; i++)
		n += m->stat_sizes[i];
	return n;
}

/*
 * cf_train_bytes is "bytes the trainer will allocate beyond the ratings, for
 * memory checks"; the server (src/training.c, prepare) adds the shuffle order,
 * n_train · sizeof(int64), itself.  Everything cf_train_model takes from its
 * allocator (the ratings arrays come from another arena here) must fit in
 * the two.
 */
static void
check_bytes(const char *what, const Run *r, const CfTrainConfig *cfg, const CfRatings *d)
{
	size_t		order = (size_t) d->n_train * sizeof(int64_t),
				bound = cf_train_bytes(cfg) + order,
				got = r->arena.bytes;

	ok(got <= bound, "%s: cf_train_model allocated %zu bytes, within cf_train_bytes + "
	   "n_train · 8 = %zu", what, got, bound);
	if (got > bound)
		diag("    %zu bytes over; the range test's lrs and losses copies are %d · 16 = %d "
			 "bytes", got - bound, r->res.n_sweep, r->res.n_sweep * 16);
}

static bool
same_model(const CfModel *a, const CfModel *b)
{
	return a->num_params == b->num_params &&
		memcmp(a->params, b->params, a->num_params * sizeof(float)) == 0 &&
		memcmp(a->stats, b->stats, stats_floats(a) * sizeof(float)) == 0;
}

static bool
same_epochs(const CfTrainResult *a, const CfTrainResult *b)
{
	if (a->n_epochs != b->n_epochs)
		return false;
	for (int e = 0; e < a->n_epochs; e++)
		if (a->epochs[e].train_loss != b->epochs[e].train_loss ||
			a->epochs[e].valid_rmse != b->epochs[e].valid_rmse ||
			a->epochs[e].lr != b->epochs[e].lr)
			return false;
	return true;
}

int
main(void)
{
	CfAllocator da = tap_arena_allocator(&data_arena);
	CfRatings	d;
	CfTrainConfig cfg;
	static Run	A,
				B,
				C,
				S,
				G,
				X,
				T,
				D;
	double		mean = 0,
				baseline = 0;
	int64_t		batches;

	/* every field of the defaults is set, whatever the memory held before */
	{
		CfTrainConfig dc;
		unsigned char so,
					sd;

		memset(&dc, 0xa5, sizeof(dc));
		cf_train_config_default(&dc, 7, 9);
		memcpy(&so, &dc.sweep_only, 1);
		memcpy(&sd, &dc.stop_div, 1);
		ok(dc.net.n_users == 7 && dc.net.n_items == 9 && dc.net.emb_dim == 100 &&
		   dc.net.hidden == 500 && dc.net.dropout_in == 0.1f && dc.net.dropout_hidden == 0.2f &&
		   dc.net.bn_momentum == 0.1f && dc.net.bn_eps == 1e-5f,
		   "cf_train_config_default: the seed's network (E 100, H 500, dropout 0.1/0.2, bn 0.1/1e-5)");
		ok(dc.net.mlp && dc.net.dot_dim == 0 && !dc.net.biases && !(dc.net.y_max > dc.net.y_min) &&
		   isnan(dc.output_offset) && dc.row_weight_decay == 1e-5,
		   "cf_train_config_default: the seed's architecture: MLP only, no dot, no biases, no squashing, "
		   "PyTorch's output bias (NaN offset), row decay 1e-5");
		ok(dc.epochs == 10 && dc.batch_size == 1024 && dc.lr == 0.0 && dc.weight_decay == 1e-5 &&
		   dc.cut_frac == 0.1 && dc.ratio == 32.0 && dc.start_lr == 1e-7 && dc.end_lr == 10.0 &&
		   dc.num_it == 100 && sd == 1 && dc.seed == 0,
		   "cf_train_config_default: epochs 10, batch 1024, range test 1e-7 → 10 over 100, stop_div");
		ok(so == 0, "cf_train_config_default: sweep_only is set to false (byte 0x%02x)", so);
	}

	make_data(&d, &da);
	for (int64_t r = 0; r < d.n_train; r++)
		mean += d.rating[r];
	mean /= d.n_train;
	for (int64_t r = d.n_train; r < d.n_train + d.n_valid; r++)
		baseline += (d.rating[r] - mean) * (d.rating[r] - mean);
	baseline = sqrt(baseline / d.n_valid);
	diag("planted data: %lld train, %lld valid rows; global-mean baseline RMSE %.4f",
		 (long long) d.n_train, (long long) d.n_valid, baseline);

	/* zeroed first: the defaults leave sweep_only unset (see the test above) */
	memset(&cfg, 0, sizeof(cfg));
	cf_train_config_default(&cfg, N_USERS, N_ITEMS);
	/*
	 * E 32, H 64, batch 128: with E 16, H 32 and batch 256 this network (and
	 * the PyTorch reference, bench/torch_reference.py, on the same rows)
	 * learns only the biases in 8 epochs, valid RMSE ~0.80.
	 */
	cfg.net.emb_dim = 32;
	cfg.net.hidden = 64;
	cfg.epochs = 8;
	cfg.batch_size = 128;
	cfg.lr = 3e-3;
	cfg.seed = 11;
	batches = d.n_train / cfg.batch_size + (d.n_train % cfg.batch_size >= 2);

	/* ---- a plain run ---- */
	run(&A, &cfg, &d);
	{
		const CfTrainResult *res = &A.res;
		const CfEpochStats *first = &res->epochs[0],
				   *last = &res->epochs[cfg.epochs - 1];

		ok(!res->diverged && res->n_epochs == cfg.epochs && res->sweep == NULL &&
		   res->n_sweep == 0 && res->suggested == -1 && res->lr == cfg.lr,
		   "run: 8 epochs, no range test, trained at the given lr (n_epochs %d, diverged %d)",
		   res->n_epochs, res->diverged);
		for (int e = 0; e < res->n_epochs; e++)
			diag("epoch %d: train loss %.4f, valid RMSE %.4f, lr %.3g", res->epochs[e].epoch,
				 res->epochs[e].train_loss, res->epochs[e].valid_rmse, res->epochs[e].lr);
		ok(last->valid_rmse < 0.75 * baseline,
		   "run: valid RMSE %.4f is below 0.75 × the global-mean baseline %.4f",
		   last->valid_rmse, baseline);
		ok(last->train_loss < 0.7 * first->train_loss,
		   "run: train loss falls from epoch 1 (%.4f) to epoch 8 (%.4f)",
		   first->train_loss, last->train_loss);
		ok(isfinite(first->valid_rmse) && last->valid_rmse < first->valid_rmse,
		   "run: valid RMSE falls from epoch 1 (%.4f) to epoch 8 (%.4f)",
		   first->valid_rmse, last->valid_rmse);
		{
			bool		good = true;

			for (int e = 0; e < res->n_epochs; e++)
			{
				const CfEpochStats *st = &res->epochs[e];

				good = good && st->epoch == e + 1 && st->epochs == cfg.epochs &&
					st->steps == (e + 1) * batches &&
					fabs(st->train_rmse - sqrt(st->train_loss)) < 1e-12;
			}
			ok(good, "run: epoch stats count epochs and steps (%lld batches an epoch) and "
			   "train_rmse = sqrt(train_loss)", (long long) batches);
		}
		is_close_rel(last->lr, cf_stlr(cfg.epochs * batches - 1, cfg.epochs * batches, cfg.lr,
									   cfg.cut_frac, cfg.ratio), 1e-6, 0,
					 "run: the last batch ran at the schedule's last rate");
		is_close_rel(res->epochs[0].lr, cf_stlr(batches - 1, cfg.epochs * batches, cfg.lr,
												cfg.cut_frac, cfg.ratio), 1e-6, 0,
					 "run: epoch 1 ended at stlr(batches − 1)");
		ok(A.counts.epochs == cfg.epochs && A.counts.epochs_in_order &&
		   A.counts.batches == cfg.epochs * batches && A.counts.batches_in_order &&
		   A.counts.last_total == cfg.epochs * batches && A.counts.sweep_batches == 0,
		   "run: callbacks: %d on_epoch in order, %lld on_batch of %lld",
		   A.counts.epochs, (long long) A.counts.batches, (long long) A.counts.last_total);
		ok(A.counts.valid_batches == cfg.epochs * ((d.n_valid + CF_EVAL_BATCH - 1) / CF_EVAL_BATCH) &&
		   A.counts.other_batches == 0,
		   "run: callbacks: %lld \"validating\" batches (%lld a pass over %lld rows), no other phase",
		   (long long) A.counts.valid_batches,
		   (long long) ((d.n_valid + CF_EVAL_BATCH - 1) / CF_EVAL_BATCH), (long long) d.n_valid);

		/* the reported RMSE is the clipped inference-mode RMSE of the final model */
		{
			TapArena	ar;
			CfAllocator a = tap_arena_allocator(&ar);
			CfInference inf;
			float	   *tmp = cf_alloc_floats(&a, (size_t) CF_EVAL_BATCH * (2 * cfg.net.emb_dim + cfg.net.hidden));
			float	   *pred = cf_alloc_floats(&a, d.n_valid);
			double		rmse,
						mine = 0;

			cf_inference_alloc(&inf, &cfg.net, &a);
			cf_inference_fold(&inf, &A.model);
			rmse = cf_rmse(&A.model, &inf, &d, d.n_train, d.n_train + d.n_valid, tmp, NULL);
			is_close_rel(rmse, last->valid_rmse, 1e-12, 0,
						 "run: cf_rmse of the returned model reproduces the last valid RMSE");
			for (int64_t s = 0; s < d.n_valid; s += CF_EVAL_BATCH)
			{
				int			n = (int) (d.n_valid - s < CF_EVAL_BATCH ? d.n_valid - s : CF_EVAL_BATCH);

				cf_inference_batch(&inf, &A.model, d.user + d.n_train + s, d.item + d.n_train + s,
								   n, tmp, pred + s);
			}
			for (int64_t r = 0; r < d.n_valid; r++)
			{
				double		p = fmin(5.0, fmax(1.0, pred[r]));

				mine += (p - d.rating[d.n_train + r]) * (p - d.rating[d.n_train + r]);
			}
			is_close_rel(sqrt(mine / d.n_valid), rmse, 1e-9, 0,
						 "cf_rmse: clipped to [1, 5], computed here from cf_inference_batch");
			ok(isnan(cf_rmse(&A.model, &inf, &d, 10, 10, tmp, NULL)), "cf_rmse: an empty range is NaN");
			tap_arena_free_all(&ar);
		}
		check_bytes("run (lr given)", &A, &cfg, &d);
	}

	/* ---- determinism ---- */
	run(&B, &cfg, &d);
	ok(same_model(&A.model, &B.model) && same_epochs(&A.res, &B.res),
	   "determinism: the same seed gives bit-identical params, stats and epoch losses");
	{
		CfTrainConfig c2 = cfg;

		c2.seed = 12;
		run(&C, &c2, &d);
		ok(!same_model(&A.model, &C.model) && C.res.epochs[cfg.epochs - 1].valid_rmse < 0.75 * baseline,
		   "determinism: another seed gives another model that learns too (valid RMSE %.4f)",
		   C.res.epochs[cfg.epochs - 1].valid_rmse);
	}

	/* ---- range test, then training at its suggestion ---- */
	{
		CfTrainConfig cs = cfg;
		CfSmoother	sm;
		bool		finite = true,
					lrs_ok = true,
					smooth_ok = true;
		double	   *lrs,
				   *sl;
		int			n;

		cs.lr = 0.0;
		run(&S, &cs, &d);
		n = S.res.n_sweep;
		ok(S.res.sweep != NULL && n >= 10 && n <= cs.num_it,
		   "range test: %d sweep points of at most num_it = %d", n, cs.num_it);
		cf_smoother_init(&sm, 0.98);
		lrs = calloc(n > 0 ? n : 1, sizeof(double));
		sl = calloc(n > 0 ? n : 1, sizeof(double));
		for (int i = 0; i < n; i++)
		{
			const CfSweepPoint *p = &S.res.sweep[i];
			double		want = cf_smoother_add(&sm, p->loss);

			finite = finite && isfinite(p->loss) && isfinite(p->smoothed_loss) && p->loss >= 0;
			lrs_ok = lrs_ok && fabs(p->lr - cf_sweep_lr(i, cs.num_it, cs.start_lr, cs.end_lr)) <= 1e-12 * p->lr;
			smooth_ok = smooth_ok && fabs(p->smoothed_loss - want) <= 1e-12 * fabs(want);
			lrs[i] = p->lr;
			sl[i] = p->smoothed_loss;
		}
		ok(finite, "range test: every sweep point is finite");
		ok(lrs_ok, "range test: point i ran at cf_sweep_lr(i, %d, %g, %g)", cs.num_it,
		   cs.start_lr, cs.end_lr);
		ok(smooth_ok, "range test: smoothed losses are the beta-0.98 debiased average of the losses");
		ok(S.res.suggested >= 0 && S.res.suggested == cf_lr_suggest(CF_LR_VALLEY, lrs, sl, n) &&
		   S.res.lr == lrs[S.res.suggested] && S.res.lr > 0,
		   "range test: suggests the valley point %d, lr %.4g", S.res.suggested, S.res.lr);
		ok(S.counts.sweep_batches == n, "range test: on_batch reported each of the %d sweep batches "
		   "(got %lld)", n, (long long) S.counts.sweep_batches);
		ok(S.res.n_epochs == cfg.epochs && !S.res.diverged,
		   "range test: then trains %d epochs", S.res.n_epochs);
		diag("range test suggested lr %.5g; valid RMSE %.4f", S.res.lr,
			 S.res.n_epochs ? S.res.epochs[S.res.n_epochs - 1].valid_rmse : NAN);
		check_bytes("range test run", &S, &cs, &d);

		/* the same lr given directly: the sweep must have left no trace */
		cs.lr = S.res.lr;
		run(&G, &cs, &d);
		ok(G.res.sweep == NULL && same_model(&S.model, &G.model) && same_epochs(&S.res, &G.res),
		   "range test + its lr = the run given that lr directly: bit-identical model and epochs");
		free(lrs);
		free(sl);
	}

	/* ---- the other architectures ---- */
	{
		CfTrainConfig ca = cfg;
		double		lo = 1.0 - 4.0 / 8,
					hi = 5.0 + 4.0 / 8,
					frac = (mean - lo) / (hi - lo);

		/* 'default': the seed plus biases, ŷ squashed to the data's range widened by 1/8 */
		ca.net.biases = true;
		ca.net.y_min = (float) lo;
		ca.net.y_max = (float) hi;
		ca.output_offset = (float) log(frac / (1 - frac));
		run(&D, &ca, &d);
		ok(!D.res.diverged && D.res.n_epochs == cfg.epochs &&
		   D.res.epochs[cfg.epochs - 1].valid_rmse < 0.75 * baseline &&
		   D.res.epochs[cfg.epochs - 1].train_loss < D.res.epochs[0].train_loss,
		   "architecture 'default' (biases, squashed to [%.2f, %.2f]): valid RMSE %.4f < 0.75 × "
		   "baseline, train loss %.4f → %.4f", lo, hi, D.res.epochs[cfg.epochs - 1].valid_rmse,
		   D.res.epochs[0].train_loss, D.res.epochs[cfg.epochs - 1].train_loss);
		for (int e = 0; e < D.res.n_epochs; e++)
			diag("default epoch %d: train loss %.4f, valid RMSE %.4f", e + 1,
				 D.res.epochs[e].train_loss, D.res.epochs[e].valid_rmse);
		tap_arena_free_all(&D.arena);

		/* no MLP: a dot product of rank 8 plus biases, started at the mean */
		ca = cfg;
		ca.net.mlp = false;
		ca.net.dot_dim = 8;
		ca.net.biases = true;
		ca.output_offset = (float) mean;
		ca.lr = 1e-2;
		run(&D, &ca, &d);
		for (int e = 0; e < D.res.n_epochs; e++)
			diag("dot epoch %d: train loss %.4f, valid RMSE %.4f", e + 1,
				 D.res.epochs[e].train_loss, D.res.epochs[e].valid_rmse);
		/* rank 8 ≥ the planted 3: down to about the noise, σ = 0.3 */
		ok(!D.res.diverged && D.res.n_epochs == cfg.epochs &&
		   D.res.epochs[cfg.epochs - 1].valid_rmse < 0.4,
		   "dot product + biases, no MLP: valid RMSE %.4f < 0.4, near the planted noise 0.3",
		   D.res.epochs[cfg.epochs - 1].valid_rmse);
		check_bytes("dot product run", &D, &ca, &d);
		tap_arena_free_all(&D.arena);
	}

	/* ---- the damped bias baseline ---- */
	{
		CfNetConfig bc;
		TapArena	ar;
		CfAllocator a = tap_arena_allocator(&ar);
		CfModel		bm;
		CfTrainResult br;
		Counts		counts = {.epochs_in_order = true, .batches_in_order = true};
		CfTrainCallbacks cb = {on_batch, on_epoch, &counts};
		const double lu = 5,
					li = 10;
		const int	sweeps = 20;
		double		mu = 0,
					worst_u = 0,
					worst_i = 0,
					sq = 0,
					vsq = 0;
		double	   *su = calloc(N_USERS, sizeof(double)),
				   *si = calloc(N_ITEMS, sizeof(double));
		int		   *nu = calloc(N_USERS, sizeof(int)),
				   *ni = calloc(N_ITEMS, sizeof(int));
		const float *bu,
				   *bi;
		int			W;

		cf_net_config_default(&bc, N_USERS, N_ITEMS);
		bc.mlp = false;
		bc.biases = true;
		W = cf_row_width(&bc);
		cf_fit_biases(&bm, &br, &bc, &d, lu, li, sweeps, &cb, &a);
		bu = bm.p[CF_USER_EMB] + W - 1;
		bi = bm.p[CF_ITEM_EMB] + W - 1;
		for (int64_t r = 0; r < d.n_train; r++)
		{
			mu += d.rating[r];
			nu[d.user[r]]++;
			ni[d.item[r]]++;
		}
		mu /= d.n_train;
		/* the last half-sweep updates users: their equation holds exactly */
		for (int64_t r = 0; r < d.n_train; r++)
		{
			su[d.user[r]] += d.rating[r] - mu - bi[(size_t) d.item[r] * W];
			si[d.item[r]] += d.rating[r] - mu - bu[(size_t) d.user[r] * W];
		}
		for (int u = 0; u < N_USERS; u++)
			worst_u = fmax(worst_u, fabs(bu[(size_t) u * W] - su[u] / (lu + nu[u])));
		for (int i = 0; i < N_ITEMS; i++)
			worst_i = fmax(worst_i, fabs(bi[(size_t) i * W] - si[i] / (li + ni[i])));
		for (int64_t r = 0; r < d.n_train + d.n_valid; r++)
		{
			double		p = mu + bu[(size_t) d.user[r] * W] + bi[(size_t) d.item[r] * W];

			if (r < d.n_train)
				sq += (p - d.rating[r]) * (p - d.rating[r]);
			else
			{
				p = fmin(5.0, fmax(1.0, p));
				vsq += (p - d.rating[r]) * (p - d.rating[r]);
			}
		}
		ok(W == 1 && fabs(bm.p[CF_B2][0] - mu) < 1e-6 && br.n_epochs == sweeps && counts.epochs == sweeps,
		   "baseline: rows are one bias wide, the output bias is the training mean %.4f, %d sweeps",
		   mu, br.n_epochs);
		ok(worst_u < 1e-5, "baseline: b_u = Σ(r − μ − b_i)/(λ_user + n_u) holds after the last sweep "
		   "(max err %.2g)", worst_u);
		ok(worst_i < 1e-4, "baseline: b_i = Σ(r − μ − b_u)/(λ_item + n_i) holds at convergence "
		   "(max err %.2g)", worst_i);
		is_close_rel(br.epochs[sweeps - 1].train_loss, sq / d.n_train, 1e-5, 0,
					 "baseline: train loss is the MSE of μ + b_u + b_i on the training rows");
		is_close_rel(br.epochs[sweeps - 1].valid_rmse, sqrt(vsq / d.n_valid), 1e-5, 0,
					 "baseline: valid RMSE %.4f is the clipped RMSE of μ + b_u + b_i",
					 br.epochs[sweeps - 1].valid_rmse);
		/* biases explain 0.32 of the 0.97 variance here: sqrt(0.65) ≈ 0.81 */
		ok(br.epochs[sweeps - 1].valid_rmse < 0.86 && br.epochs[sweeps - 1].valid_rmse > 0.7,
		   "baseline: valid RMSE %.4f between 0.7 and 0.86: the biases, not the interactions",
		   br.epochs[sweeps - 1].valid_rmse);
		free(su);
		free(si);
		free(nu);
		free(ni);
		tap_arena_free_all(&ar);
	}

	/* ---- a sweep that diverges stops early; sweep_only trains nothing ---- */
	{
		CfTrainConfig cx = cfg;
		CfModel		init;
		TapArena	ar;
		CfAllocator a = tap_arena_allocator(&ar);
		int			n;
		double		best = INFINITY;
		bool		rule = true,
					finite = true;

		cx.sweep_only = true;
		cx.end_lr = 1e6;
		cx.num_it = 100;
		run(&X, &cx, &d);
		n = X.res.n_sweep;
		for (int i = 0; i < n - 1; i++)
		{
			double		s = X.res.sweep[i].smoothed_loss;

			finite = finite && isfinite(X.res.sweep[i].loss) && isfinite(s);
			if (i > 0 && s > 4 * best)
				rule = false;	/* should have stopped here */
			best = fmin(best, s);
		}
		ok(n >= 2 && n < cx.num_it, "diverging sweep (end_lr 1e6): stopped early after %d of %d",
		   n, cx.num_it);
		ok(finite && rule && n >= 2 &&
		   (!isfinite(X.res.sweep[n - 1].smoothed_loss) || X.res.sweep[n - 1].smoothed_loss > 4 * best),
		   "diverging sweep: finite until the last point, which is the first above 4 × the best "
		   "smoothed loss (%.4g > 4 × %.4g)", n >= 1 ? X.res.sweep[n - 1].smoothed_loss : NAN, best);
		ok(X.res.n_epochs == 0 && X.counts.batches == 0,
		   "sweep_only: no training epoch (%d)", X.res.n_epochs);
		cf_model_alloc(&init, &cx.net, &a);
		cf_model_init(&init, cx.seed, cx.output_offset);
		ok(same_model(&init, &X.model),
		   "sweep_only: the model is left exactly as initialised from the seed");
		tap_arena_free_all(&ar);
	}

	/* ---- tiny data: batch larger than the data, and a last batch of one ---- */
	{
		CfRatings	small = d;
		CfTrainConfig ct = cfg;

		small.n_train = 257;	/* 256 + 1: the lone last row is skipped */
		small.n_valid = 100;
		ct.epochs = 2;
		ct.batch_size = 256;
		ct.num_it = 20;
		run(&T, &ct, &small);
		ok(T.res.n_epochs == 2 && T.res.epochs[1].steps == 2 && !T.res.diverged,
		   "257 rows, batch 256: one batch an epoch, the last row of one dropped (steps %lld)",
		   (long long) T.res.epochs[1].steps);
		tap_arena_free_all(&T.arena);

		small.n_train = 50;
		run(&T, &ct, &small);
		ok(T.res.n_epochs == 2 && T.res.epochs[1].steps == 2 && isfinite(T.res.epochs[1].valid_rmse),
		   "50 rows, batch 256: one batch of 50 an epoch (steps %lld, valid RMSE %.3f)",
		   (long long) T.res.epochs[1].steps, T.res.epochs[1].valid_rmse);
		tap_arena_free_all(&T.arena);

		small.n_valid = 0;
		run(&T, &ct, &small);
		ok(T.res.n_epochs == 2 && isnan(T.res.epochs[1].valid_rmse) &&
		   isfinite(T.res.epochs[1].train_loss),
		   "no validation rows: valid RMSE is NaN, training still runs");
		tap_arena_free_all(&T.arena);
	}

	tap_arena_free_all(&A.arena);
	tap_arena_free_all(&B.arena);
	tap_arena_free_all(&C.arena);
	tap_arena_free_all(&S.arena);
	tap_arena_free_all(&G.arena);
	tap_arena_free_all(&X.arena);
	tap_arena_free_all(&data_arena);
	return done_testing();
}
