/*
 * test_autorec.c — I-AutoRec, the default architecture: its layers' gradients
 * against central finite differences, then training on planted data (200
 * users, 120 items, rank 3 plus biases and noise, a tenth held out): it must
 * beat the damped bias baseline on the held-out rows, reproduce itself bit
 * for bit, leave no trace of its range test, report every batch and epoch,
 * and stay within the bytes it announces.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "autorec.h"
#include "rng.h"
#include "tap.h"
#include "planted.h"

enum
{
	N_USERS = 200,
	N_ITEMS = 120,
	RANK = 3,
	N_RATINGS = 12000
};

/* ---- gradients ---- */

enum
{
	GU = 6,						/* users */
	GH = 4,						/* hidden */
	GR = 4						/* ratings of the one item */
};

typedef struct Tiny
{
	float		W1[GU * GH],
				c1[GH],
				W2[GU * GH],
				c2[GU];
} Tiny;

static const int32_t tiny_user[GR] = {0, 2, 3, 5};
static const float tiny_input[GR] = {4.0f, 1.0f, 5.0f, 2.0f};
static const float tiny_target[GR] = {4.0f, 1.0f, 5.0f, 2.0f};

static double
tiny_loss(const Tiny *t)
{
	float		h[GH],
				dh[GH],
				gW2[GU * GH] = {0},
				gc2[GU] = {0};

	cf_autorec_encoder_forward(h, t->W1, t->c1, tiny_user, tiny_input, 0, GR, GH);
	return cf_autorec_decoder_forward_backward(dh, gW2, gc2, h, t->W2, t->c2, tiny_user,
											   tiny_target, 0, GR, GH, 2.0f);
}

static void
check_gradients(void)
{
	Tiny		t,
				g;
	CfRng		rng;
	float		h[GH],
				dh[GH];
	float	   *params = (float *) &t,
			   *grads = (float *) &g;
	int			n = (int) (sizeof(Tiny) / sizeof(float));
	int			bad = 0,
				unused_nonzero = 0;
	double		worst = 0.0;

	cf_rng_seed(&rng, 42, 0);
	for (int k = 0; k < n; k++)
		params[k] = (float) (0.5 * cf_rng_normal(&rng));
	memset(&g, 0, sizeof(g));
	cf_autorec_encoder_forward(h, t.W1, t.c1, tiny_user, tiny_input, 0, GR, GH);
	cf_autorec_decoder_forward_backward(dh, g.W2, g.c2, h, t.W2, t.c2, tiny_user, tiny_target,
										0, GR, GH, 2.0f);
	cf_autorec_encoder_backward(g.W1, g.c1, dh, h, tiny_user, tiny_input, 0, GR, GH);
	for (int k = 0; k < n; k++)
	{
		float		saved = params[k];
		double		eps = 1e-2,
					up,
					down,
					numeric,
					err;

		params[k] = saved + (float) eps;
		up = tiny_loss(&t);
		params[k] = saved - (float) eps;
		down = tiny_loss(&t);
		params[k] = saved;
		numeric = (up - down) / (2 * eps);
		err = fabs(numeric - grads[k]) / (1e-2 + fabs(numeric));
		if (err > worst)
			worst = err;
		if (err > 2e-2)
			bad++;
	}
	ok(bad == 0, "all %d gradients of W1, c1, W2, c2 match central differences (worst "
	   "relative error %.2g)", n, worst);
	/* users 1 and 4 rated nothing: their rows get no data gradient */
	for (int j = 0; j < GH; j++)
		unused_nonzero += g.W1[1 * GH + j] != 0.0f || g.W1[4 * GH + j] != 0.0f ||
			g.W2[1 * GH + j] != 0.0f || g.W2[4 * GH + j] != 0.0f;
	ok(unused_nonzero == 0 && g.c2[1] == 0.0f && g.c2[4] == 0.0f,
	   "rows of users without a rating of the item stay untouched (sparse)");
}

/* ---- training ---- */

static TapArena data_arena;

static void
make_data(CfRatings *d, const CfAllocator *a)
{
	PlantedSpec spec = {N_USERS, N_ITEMS, RANK, N_RATINGS, 0xa07e, 5, true};

	planted_ratings(d, a, &spec);
}

typedef struct Counts
{
	int			epochs;
	bool		epochs_in_order;
	int64_t		batches,
				last_total,
				sweep_batches;
} Counts;

static void
on_batch(void *ctx, const char *phase, int64_t done, int64_t total)
{
	Counts	   *c = ctx;

	if (strcmp(phase, "training") == 0)
	{
		c->batches++;
		c->last_total = total;
	}
	else if (strcmp(phase, "range test") == 0)
		c->sweep_batches++;
}

static void
on_epoch(void *ctx, const CfEpochStats *st)
{
	Counts	   *c = ctx;

	if (st->epoch != c->epochs + 1)
		c->epochs_in_order = false;
	c->epochs++;
}

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
	r->a = tap_arena_allocator(&r->arena);
	cf_autorec_train(&r->model, &r->res, cfg, d, 0.0f, &cb, &r->a);
}

/* Held-out RMSE of an exported model, through the serving formula. */
static double
held_out_rmse(const CfModel *m, const CfRatings *d)
{
	CfInference inf = {0};
	double		sse = 0.0;

	inf.D = m->cfg.dot_dim;
	inf.W = cf_row_width(&m->cfg);
	inf.biases = m->cfg.biases;
	inf.b2 = m->p[CF_B2][0];
	for (int64_t r = d->n_train; r < d->n_train + d->n_valid; r++)
	{
		float		p = cf_inference_predict(&inf, NULL, NULL,
											 m->p[CF_USER_EMB] + (size_t) d->user[r] * inf.W,
											 m->p[CF_ITEM_EMB] + (size_t) d->item[r] * inf.W);

		p = p < d->rating_min ? d->rating_min : p > d->rating_max ? d->rating_max : p;
		sse += (p - d->rating[r]) * (double) (p - d->rating[r]);
	}
	return sqrt(sse / d->n_valid);
}

static bool
same_params(const CfModel *a, const CfModel *b)
{
	return a->num_params == b->num_params &&
		memcmp(a->params, b->params, a->num_params * sizeof(float)) == 0;
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
				base;
	CfNetConfig bias_cfg;
	double		rmse_a,
				rmse_base;
	int64_t		batches_per_epoch;

	plan(14);
	check_gradients();

	make_data(&d, &da);
	cf_train_config_default(&cfg, N_USERS, N_ITEMS);
	cfg.net.hidden = 32;
	cfg.epochs = 100;
	cfg.batch_size = 8;
	cfg.lr = 0.003;
	/* planted data is far denser than real ratings: less L2 than λ = 200 */
	cfg.weight_decay = 0.1;
	cfg.seed = 11;
	run(&A, &cfg, &d);
	rmse_a = held_out_rmse(&A.model, &d);

	bias_cfg = cfg.net;
	bias_cfg.mlp = false;
	bias_cfg.dot_dim = 0;
	bias_cfg.biases = true;
	base.a = tap_arena_allocator(&base.arena);
	cf_fit_biases(&base.model, &base.res, &bias_cfg, &d, 5.0, 10.0, 5, NULL, &base.a);
	rmse_base = base.res.epochs[base.res.n_epochs - 1].valid_rmse;
	ok(rmse_a < 0.9 * rmse_base, "AutoRec beats the bias baseline on held-out rows: %.4f vs %.4f",
	   rmse_a, rmse_base);
	is_close(A.res.epochs[A.res.n_epochs - 1].valid_rmse, rmse_a, 1e-6,
			 "the last epoch's validation RMSE is the exported model's");
	ok(A.res.epochs[A.res.n_epochs - 1].train_rmse < A.res.epochs[0].train_rmse * 0.8,
	   "the training loss falls: %.4f → %.4f", A.res.epochs[0].train_rmse,
	   A.res.epochs[A.res.n_epochs - 1].train_rmse);
	ok(!A.res.diverged && A.res.n_epochs == cfg.epochs && A.res.best_epoch == cfg.epochs,
	   "all %d epochs run, the last one kept", cfg.epochs);
	ok(A.model.cfg.dot_dim == 32 && A.model.cfg.biases && !A.model.cfg.mlp &&
	   !(A.model.cfg.y_max > A.model.cfg.y_min),
	   "exported as a dot-product model: dot_dim = hidden, biases, no MLP, no squashing");
	batches_per_epoch = (N_ITEMS + cfg.batch_size - 1) / cfg.batch_size;
	ok(A.counts.epochs == cfg.epochs && A.counts.epochs_in_order &&
	   A.counts.batches == batches_per_epoch * cfg.epochs && A.counts.last_total == A.counts.batches,
	   "every epoch and batch reported (%lld batches)", (long long) A.counts.batches);
	ok(A.arena.bytes <= cf_autorec_bytes(&cfg, d.n_train),
	   "allocated %zu bytes, within cf_autorec_bytes %zu", A.arena.bytes,
	   cf_autorec_bytes(&cfg, d.n_train));

	run(&B, &cfg, &d);
	ok(same_params(&A.model, &B.model), "the same seed gives the same model, bit for bit");
	cfg.seed = 12;
	run(&C, &cfg, &d);
	ok(!same_params(&A.model, &C.model), "another seed gives another model");
	cfg.seed = 11;

	cfg.range_test = true;
	run(&S, &cfg, &d);
	ok(S.res.n_sweep == cfg.num_it || (S.res.n_sweep > 10 && S.res.n_sweep < cfg.num_it),
	   "the range test ran (%d points)", S.res.n_sweep);
	ok(S.counts.sweep_batches == S.res.n_sweep && S.res.suggested >= 0,
	   "its batches were reported and it suggested a rate (%g)",
	   S.res.suggested >= 0 ? S.res.sweep[S.res.suggested].lr : NAN);
	ok(same_params(&A.model, &S.model), "and left no trace: the same model as without it");

	tap_arena_free_all(&A.arena);
	tap_arena_free_all(&B.arena);
	tap_arena_free_all(&C.arena);
	tap_arena_free_all(&S.arena);
	tap_arena_free_all(&base.arena);
	tap_arena_free_all(&data_arena);
	return done_testing();
}
