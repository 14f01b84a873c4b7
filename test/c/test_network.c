/*
 * test_network.c — the layers and the whole network against central finite
 * differences, the inference fold against an explicit eval-mode forward, and
 * the initialisation.
 *
 * The network is float32: the finite differences evaluate a scalar loss
 * accumulated in double, with eps around 1e-3 and a relative tolerance of
 * 1e-2 plus a small absolute floor.  Inputs are chosen (by a deterministic
 * search over seeds) so that no pre-ReLU value lies near 0, and every
 * perturbed evaluation is checked not to have crossed a ReLU kink.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "network.h"
#include "rng.h"
#include "tap.h"

static TapArena arena;
static CfAllocator A;

static float *
floats(size_t n)
{
	return cf_alloc_floats(&A, n);
}

static void
fill_normal(float *x, size_t n, double mean, double sd, CfRng *rng)
{
	for (size_t i = 0; i < n; i++)
		x[i] = (float) (mean + sd * cf_rng_normal(rng));
}

static void
fill_uniform(float *x, size_t n, double lo, double hi, CfRng *rng)
{
	for (size_t i = 0; i < n; i++)
		x[i] = (float) (lo + (hi - lo) * cf_rng_uniform(rng));
}

static double
dot_d(const float *a, const float *b, size_t n)
{
	double		s = 0.0;

	for (size_t i = 0; i < n; i++)
		s += (double) a[i] * b[i];
	return s;
}

/*
 * One ok() for a whole tensor: every analytic entry within
 * atol + rtol·max(|a|, |n|) of its numeric counterpart.  Unless expect_zero,
 * the gradient must also be non-trivial (some |entry| > 1e-3), so that two
 * zero vectors cannot pass.
 */
static bool
grads_match(const char *what, const double *analytic, const double *numeric, int n,
			double rtol, double atol, bool expect_zero)
{
	int			worst = -1;
	double		worst_excess = 0.0,
				max_abs = 0.0,
				max_rel = 0.0;
	bool		pass = true;

	for (int i = 0; i < n; i++)
	{
		double		a = analytic[i],
					m = numeric[i],
					scale = fmax(fabs(a), fabs(m)),
					diff = fabs(a - m),
					tol = atol + rtol * scale;

		if (!isfinite(a) || !isfinite(m) || diff > tol)
		{
			pass = false;
			if (worst < 0 || !isfinite(diff) || diff - tol > worst_excess)
			{
				worst = i;
				worst_excess = diff - tol;
			}
		}
		if (scale > 0)
			max_rel = fmax(max_rel, diff / scale);
		max_abs = fmax(max_abs, fabs(m));
	}
	if (!expect_zero && max_abs <= 1e-3)
		pass = false;
	ok(pass, "%s: %d entries match central differences (max rel err %.2g, max |g| %.3g)",
	   what, n, max_rel, max_abs);
	if (!pass)
	{
		if (worst >= 0)
			diag("    worst entry %d: analytic %.8g, numeric %.8g",
				 worst, analytic[worst], numeric[worst]);
		else
			diag("    gradient is (numerically) zero: the check would be vacuous");
	}
	return pass;
}

/* ------------------------------------------------------------------ */
/* linear */

typedef struct LinearCase
{
	int			B, in, out;
	float	   *x, *W, *b, *R, *y;
} LinearCase;

static double
linear_loss(LinearCase *c)
{
	cf_linear_forward(c->y, c->x, c->W, c->b, c->B, c->in, c->out);
	return dot_d(c->y, c->R, (size_t) c->B * c->out);
}

static double
fd(double (*loss) (void *), void *ctx, float *param, double eps)
{
	float		saved = *param;
	double		lp,
				lm,
				h;

	*param = (float) (saved + eps);
	h = (double) *param;
	lp = loss(ctx);
	*param = (float) (saved - eps);
	h -= (double) *param;		/* the step really taken, in float */
	lm = loss(ctx);
	*param = saved;
	return (lp - lm) / h;
}

static double
linear_loss_v(void *ctx)
{
	return linear_loss(ctx);
}

static void
test_linear(int B, int in, int out, uint64_t seed)
{
	CfRng		rng;
	LinearCase	c = {.B = B, .in = in, .out = out};
	float	   *din = floats((size_t) B * in),
			   *dW = floats((size_t) out * in),
			   *db = floats(out);
	double	   *an = calloc((size_t) out * in + B * in + out, sizeof(double)),
			   *nu = calloc((size_t) out * in + B * in + out, sizeof(double));
	const char *path = out == 1 ? "sgemv" : "sgemm";
	char		what[96];
	double		eps = 1e-2;

	cf_rng_seed(&rng, seed, 99);
	c.x = floats((size_t) B * in);
	c.W = floats((size_t) out * in);
	c.b = floats(out);
	c.R = floats((size_t) B * out);
	c.y = floats((size_t) B * out);
	fill_normal(c.x, (size_t) B * in, 0, 1, &rng);
	fill_normal(c.W, (size_t) out * in, 0, 0.5, &rng);
	fill_normal(c.b, out, 0, 0.5, &rng);
	fill_normal(c.R, (size_t) B * out, 0, 1, &rng);

	/* the forward against a double loop */
	{
		double		worst = 0.0;

		linear_loss(&c);
		for (int r = 0; r < B; r++)
			for (int o = 0; o < out; o++)
			{
				double		s = c.b[o];

				for (int i = 0; i < in; i++)
					s += (double) c.x[r * in + i] * c.W[o * in + i];
				worst = fmax(worst, fabs(s - c.y[r * out + o]));
			}
		ok(worst < 1e-5, "linear %s forward %dx%d -> %d equals x·Wᵀ + b (max err %.2g)",
		   path, B, in, out, worst);
	}

	/* din, dW, db are overwritten: poison them first */
	for (int i = 0; i < B * in; i++)
		din[i] = NAN;
	for (int i = 0; i < out * in; i++)
		dW[i] = 1e30f;
	for (int i = 0; i < out; i++)
		db[i] = -7.0f;
	cf_linear_backward(din, dW, db, c.R, c.x, c.W, B, in, out);

	for (int i = 0; i < B * in; i++)
	{
		an[i] = din[i];
		nu[i] = fd(linear_loss_v, &c, &c.x[i], eps);
	}
	snprintf(what, sizeof(what), "linear %s din", path);
	grads_match(what, an, nu, B * in, 1e-2, 1e-4, false);

	for (int i = 0; i < out * in; i++)
	{
		an[i] = dW[i];
		nu[i] = fd(linear_loss_v, &c, &c.W[i], eps);
	}
	snprintf(what, sizeof(what), "linear %s dW", path);
	grads_match(what, an, nu, out * in, 1e-2, 1e-4, false);

	for (int i = 0; i < out; i++)
	{
		an[i] = db[i];
		nu[i] = fd(linear_loss_v, &c, &c.b[i], eps);
	}
	snprintf(what, sizeof(what), "linear %s db", path);
	grads_match(what, an, nu, out, 1e-2, 1e-4, false);

	/* din = NULL is allowed and leaves dW, db the same */
	{
		float	   *dW2 = floats((size_t) out * in),
				   *db2 = floats(out);

		cf_linear_backward(NULL, dW2, db2, c.R, c.x, c.W, B, in, out);
		ok(memcmp(dW, dW2, sizeof(float) * out * in) == 0 &&
		   memcmp(db, db2, sizeof(float) * out) == 0,
		   "linear %s backward with din = NULL gives the same dW, db", path);
	}
	free(an);
	free(nu);
}

/* ------------------------------------------------------------------ */
/* norm block */

typedef struct NormCase
{
	int			B, F;
	float		dropout, momentum, eps;
	uint64_t	drop_seed;
	float	   *x, *gamma, *beta, *R;
	float	   *out, *xhat, *invstd, *rm, *rv, *scratch;
	CfRng		rng;
	/* kink watch: sign of the pre-ReLU value of the base evaluation */
	signed char *sign;
	int			crossings;
} NormCase;

static void
norm_forward(NormCase *c)
{
	cf_rng_seed(&c->rng, c->drop_seed, 5);	/* the same mask every time */
	cf_norm_block_forward(c->out, c->xhat, c->invstd, c->x, c->gamma, c->beta,
						  c->rm, c->rv, c->B, c->F, c->momentum, c->eps,
						  c->dropout, &c->rng, true, c->scratch);
}

/* min |gamma·xhat + beta| over the batch: the distance to the ReLU kink */
static double
norm_margin(const NormCase *c)
{
	double		m = INFINITY;

	for (int b = 0; b < c->B; b++)
		for (int f = 0; f < c->F; f++)
			m = fmin(m, fabs((double) c->gamma[f] * c->xhat[b * c->F + f] + c->beta[f]));
	return m;
}

static double
norm_loss_v(void *ctx)
{
	NormCase   *c = ctx;

	norm_forward(c);
	if (c->sign)
		for (int b = 0; b < c->B; b++)
			for (int f = 0; f < c->F; f++)
			{
				double		y = (double) c->gamma[f] * c->xhat[b * c->F + f] + c->beta[f];

				if ((y > 0) != (c->sign[b * c->F + f] > 0))
					c->crossings++;
			}
	return dot_d(c->out, c->R, (size_t) c->B * c->F);
}

static void
test_norm_block(float dropout)
{
	const int	B = 6,
				F = 5;
	NormCase	c = {.B = B, .F = F, .dropout = dropout, .momentum = 0.1f, .eps = 1e-5f,
				.drop_seed = 4242};
	float	   *dx = floats(B * F),
			   *dgamma = floats(F),
			   *dbeta = floats(F);
	double		an[B * F],
				nu[B * F];
	double		eps = 2e-3;
	double		margin = 0;
	uint64_t	seed;
	CfRng		rng;
	char		what[96];

	c.x = floats(B * F);
	c.gamma = floats(F);
	c.beta = floats(F);
	c.R = floats(B * F);
	c.out = floats(B * F);
	c.xhat = floats(B * F);
	c.invstd = floats(F);
	c.rm = floats(F);
	c.rv = floats(F);
	c.scratch = floats(4 * F);	/* the forward's contract: 4F floats */
	c.sign = NULL;

	/* inputs with every pre-ReLU value at least 0.05 from the kink */
	for (seed = 1; seed < 5000; seed++)
	{
		cf_rng_seed(&rng, seed, 11);
		fill_normal(c.x, B * F, 0.3, 1.5, &rng);
		fill_uniform(c.gamma, F, 0.5, 1.5, &rng);
		fill_uniform(c.beta, F, -0.5, 0.5, &rng);
		fill_normal(c.R, B * F, 0, 1, &rng);
		norm_forward(&c);
		margin = norm_margin(&c);
		if (margin > 0.05)
			break;
	}
	ok(margin > 0.05, "norm block (dropout %.2f): inputs away from the ReLU kink found "
	   "(seed %llu, margin %.3f)", dropout, (unsigned long long) seed, margin);

	/* forward: batch statistics, running statistics, the output itself */
	{
		double		worst_mean = 0,
					worst_var = 0,
					worst_run = 0,
					worst_out = 0;
		int			dropped = 0,
					kept = 0,
					active = 0;
		float		rm0[F],
					rv0[F];

		for (int f = 0; f < F; f++)
		{
			c.rm[f] = rm0[f] = 0.1f * f;
			c.rv[f] = rv0[f] = 1.0f + 0.2f * f;
		}
		norm_forward(&c);
		for (int f = 0; f < F; f++)
		{
			double		mean = 0,
						ss = 0,
						hm = 0,
						hv = 0;

			for (int b = 0; b < B; b++)
				mean += c.x[b * F + f];
			mean /= B;
			for (int b = 0; b < B; b++)
				ss += (c.x[b * F + f] - mean) * (c.x[b * F + f] - mean);
			for (int b = 0; b < B; b++)
				hm += c.xhat[b * F + f];
			hm /= B;
			for (int b = 0; b < B; b++)
				hv += c.xhat[b * F + f] * c.xhat[b * F + f];
			hv /= B;
			worst_mean = fmax(worst_mean, fabs(hm));
			worst_var = fmax(worst_var, fabs(hv - ss / B / (ss / B + c.eps)));
			worst_run = fmax(worst_run, fabs(c.rm[f] - (0.9 * rm0[f] + 0.1 * mean)));
			/* PyTorch: the running variance takes the unbiased estimate */
			worst_run = fmax(worst_run, fabs(c.rv[f] - (0.9 * rv0[f] + 0.1 * ss / (B - 1))));
			ok(fabs(c.invstd[f] - 1.0 / sqrt(ss / B + c.eps)) < 1e-4 * (1.0 / sqrt(ss / B + c.eps)),
			   "norm block (dropout %.2f): invstd[%d] = 1/sqrt(biased var + eps)", dropout, f);
			for (int b = 0; b < B; b++)
			{
				double		y = c.gamma[f] * (c.x[b * F + f] - mean) / sqrt(ss / B + c.eps) + c.beta[f];
				double		o = c.out[b * F + f];

				if (y <= 0)
				{
					worst_out = fmax(worst_out, fabs(o));
					continue;
				}
				active++;
				if (o == 0.0)
					dropped++;
				else
				{
					kept++;
					worst_out = fmax(worst_out, fabs(o - y / (1.0 - dropout)));
				}
			}
		}
		ok(worst_mean < 1e-5 && worst_var < 1e-4,
		   "norm block (dropout %.2f): xhat has batch mean 0 and variance var/(var+eps) "
		   "(errs %.2g, %.2g)", dropout, worst_mean, worst_var);
		ok(worst_run < 1e-5,
		   "norm block (dropout %.2f): running mean/var follow PyTorch's momentum rule, "
		   "unbiased variance (max err %.2g)", dropout, worst_run);
		ok(worst_out < 1e-4,
		   "norm block (dropout %.2f): out = relu(gamma·xhat + beta)/(1-p) or 0 (max err %.2g)",
		   dropout, worst_out);
		if (dropout > 0)
			ok(dropped > 0 && kept > 0,
			   "norm block (dropout %.2f): the mask drops some active units and keeps others "
			   "(%d dropped, %d kept of %d)", dropout, dropped, kept, active);
		else
			ok(dropped == 0 && kept == active,
			   "norm block (dropout 0): nothing dropped (%d of %d kept)", kept, active);
	}

	/* analytic gradients from the base forward */
	norm_forward(&c);
	{
		static signed char sign[6 * 5];

		for (int i = 0; i < B * F; i++)
			sign[i] = ((double) c.gamma[i % F] * c.xhat[i] + c.beta[i % F]) > 0 ? 1 : -1;
		c.sign = sign;
	}
	for (int i = 0; i < F; i++)
		dgamma[i] = dbeta[i] = NAN;
	cf_norm_block_backward(dx, dgamma, dbeta, c.R, c.out, c.xhat, c.gamma, c.invstd,
						   B, F, dropout, c.scratch);

	for (int i = 0; i < B * F; i++)
	{
		an[i] = dx[i];
		nu[i] = fd(norm_loss_v, &c, &c.x[i], eps);
	}
	snprintf(what, sizeof(what), "norm block (dropout %.2f) dx", dropout);
	grads_match(what, an, nu, B * F, 1e-2, 2e-4, false);
	for (int i = 0; i < F; i++)
	{
		an[i] = dgamma[i];
		nu[i] = fd(norm_loss_v, &c, &c.gamma[i], eps);
	}
	snprintf(what, sizeof(what), "norm block (dropout %.2f) dgamma", dropout);
	grads_match(what, an, nu, F, 1e-2, 2e-4, false);
	for (int i = 0; i < F; i++)
	{
		an[i] = dbeta[i];
		nu[i] = fd(norm_loss_v, &c, &c.beta[i], eps);
	}
	snprintf(what, sizeof(what), "norm block (dropout %.2f) dbeta", dropout);
	grads_match(what, an, nu, F, 1e-2, 2e-4, false);
	ok(c.crossings == 0, "norm block (dropout %.2f): no finite-difference step crossed a "
	   "ReLU kink (%d crossings)", dropout, c.crossings);

	/* in-place use, as the network does it: dx and dout the same buffer */
	{
		float	   *buf = floats(B * F),
				   *dg2 = floats(F),
				   *db2 = floats(F);

		norm_forward(&c);
		memcpy(buf, c.R, sizeof(float) * B * F);
		cf_norm_block_backward(buf, dg2, db2, buf, c.out, c.xhat, c.gamma, c.invstd,
							   B, F, dropout, c.scratch);
		ok(memcmp(buf, dx, sizeof(float) * B * F) == 0 &&
		   memcmp(dg2, dgamma, sizeof(float) * F) == 0,
		   "norm block (dropout %.2f): backward with dx aliasing dout gives the same result",
		   dropout);
	}
}

/* The share of units dropout zeroes, and that masks differ between rows. */
static void
test_dropout_rate(float p)
{
	const int	B = 64,
				F = 64;
	float	   *x = floats(B * F),
			   *out = floats(B * F),
			   *xhat = floats(B * F),
			   *gamma = floats(F),
			   *beta = floats(F),
			   *inv = floats(F),
			   *rm = floats(F),
			   *rv = floats(F),
			   *scratch = floats(4 * F);
	CfRng		rng;
	int			dropped = 0,
				same_rows = 0;
	double		sd = sqrt(p * (1 - p) / (B * F));

	cf_rng_seed(&rng, 5, 5);
	fill_normal(x, B * F, 0, 1, &rng);
	for (int f = 0; f < F; f++)
		gamma[f] = 1.0f, beta[f] = 10.0f;	/* every unit active: out > 0 unless dropped */
	cf_norm_block_forward(out, xhat, inv, x, gamma, beta, rm, rv, B, F, 0.1f, 1e-5f, p, &rng,
						  true, scratch);
	for (int i = 0; i < B * F; i++)
		dropped += out[i] == 0.0f;
	for (int b = 1; b < B; b++)
	{
		bool		same = true;

		for (int f = 0; f < F; f++)
			same = same && ((out[b * F + f] == 0) == (out[f] == 0));
		same_rows += same;
	}
	ok(fabs((double) dropped / (B * F) - p) < 4 * sd && same_rows == 0,
	   "dropout %.2f: drops %.4f of %d units (±4σ = %.4f), a fresh mask per row",
	   p, (double) dropped / (B * F), B * F, 4 * sd);
}

/* ------------------------------------------------------------------ */
/* mse */

typedef struct MseCase
{
	float	   *yhat, *r;
	int			B;
} MseCase;

static double
mse_loss_v(void *ctx)
{
	MseCase    *c = ctx;

	return cf_mse_forward(c->yhat, c->r, c->B);
}

static void
test_mse(void)
{
	const int	B = 6;
	MseCase		c = {floats(B), floats(B), B};
	float	   *d = floats(B);
	double		an[6],
				nu[6],
				want = 0;
	CfRng		rng;

	cf_rng_seed(&rng, 3, 3);
	fill_normal(c.yhat, B, 3, 1, &rng);
	fill_normal(c.r, B, 3, 1, &rng);
	for (int b = 0; b < B; b++)
		want += ((double) c.yhat[b] - c.r[b]) * ((double) c.yhat[b] - c.r[b]);
	want /= B;
	is_close_rel(cf_mse_forward(c.yhat, c.r, B), want, 1e-12, 0, "mse forward = mean squared error");
	cf_mse_backward(d, c.yhat, c.r, B);
	for (int b = 0; b < B; b++)
	{
		an[b] = d[b];
		nu[b] = fd(mse_loss_v, &c, &c.yhat[b], 1e-3);
	}
	grads_match("mse dyhat", an, nu, B, 1e-3, 1e-6, false);
}

/* ------------------------------------------------------------------ */
/* the whole network */

enum
{
	NET_B = 6,
	NET_E = 3,
	NET_H = 5,
	NET_D = 2
};

/* One architecture: which branches, and the output range (y_max ≤ y_min: none). */
typedef struct Arch
{
	const char *name;
	bool		mlp;
	int			dot;
	bool		biases;
	float		y_min,
				y_max;
} Arch;

static const Arch ARCHS[] = {
	{"seed", true, 0, false, 0, 0},
	{"default (biases, squashed)", true, 0, true, 0.5f, 5.5f},
	{"mlp + dot + biases, squashed", true, NET_D, true, 0.5f, 5.5f},
	{"dot + biases, no mlp", false, NET_D, true, 0, 0},
	{"dot + biases, no mlp, squashed", false, NET_D, true, 0.5f, 5.5f},
};

static void
arch_config(CfNetConfig *cfg, const Arch *a, int n_users, int n_items)
{
	cf_net_config_default(cfg, n_users, n_items);
	cfg->mlp = a->mlp;
	cfg->emb_dim = NET_E;
	cfg->hidden = NET_H;
	cfg->dot_dim = a->dot;
	cfg->biases = a->biases;
	cfg->y_min = a->y_min;
	cfg->y_max = a->y_max;
}

typedef struct NetCase
{
	CfModel		m;
	CfWorkspace ws;
	int32_t		users[NET_B], items[NET_B];
	float		r[NET_B];
	int			crossings;
	signed char sign1[NET_B * 2 * NET_E],
				sign2[NET_B * NET_H];
	bool		watch;
} NetCase;

static double
net_margin_and_signs(NetCase *c, bool record, int *crossings)
{
	const CfModel *m = &c->m;
	int			F = 2 * m->cfg.emb_dim,
				H = m->cfg.hidden;
	double		margin = INFINITY;

	if (!m->cfg.mlp)
		return margin;
	for (int b = 0; b < NET_B; b++)
	{
		for (int f = 0; f < F; f++)
		{
			double		y = (double) m->p[CF_BN1_GAMMA][f] * c->ws.xhat1[b * F + f] + m->p[CF_BN1_BETA][f];

			margin = fmin(margin, fabs(y));
			if (record)
				c->sign1[b * F + f] = y > 0 ? 1 : -1;
			else if ((y > 0) != (c->sign1[b * F + f] > 0))
				(*crossings)++;
		}
		for (int h = 0; h < H; h++)
		{
			double		y = (double) m->p[CF_BN2_GAMMA][h] * c->ws.xhat2[b * H + h] + m->p[CF_BN2_BETA][h];

			margin = fmin(margin, fabs(y));
			if (record)
				c->sign2[b * H + h] = y > 0 ? 1 : -1;
			else if ((y > 0) != (c->sign2[b * H + h] > 0))
				(*crossings)++;
		}
	}
	return margin;
}

static double
net_loss_v(void *ctx)
{
	NetCase    *c = ctx;
	double		loss = cf_net_forward_backward(&c->m, &c->ws, c->users, c->items, c->r, NET_B);

	if (c->watch)
		net_margin_and_signs(c, false, &c->crossings);
	return loss;
}

static void
randomise_model(CfModel *m, CfRng *rng)
{
	int			F = 2 * m->cfg.emb_dim,
				H = m->cfg.hidden;

	fill_normal(m->p[CF_USER_EMB], m->sizes[CF_USER_EMB], 0, 1, rng);
	fill_normal(m->p[CF_ITEM_EMB], m->sizes[CF_ITEM_EMB], 0, 1, rng);
	if (m->cfg.mlp)
	{
		fill_uniform(m->p[CF_BN1_GAMMA], F, 0.5, 1.5, rng);
		fill_uniform(m->p[CF_BN1_BETA], F, -0.5, 0.5, rng);
		fill_uniform(m->p[CF_W1], (size_t) H * F, -0.8, 0.8, rng);
		fill_uniform(m->p[CF_B1], H, -0.5, 0.5, rng);
		fill_uniform(m->p[CF_BN2_GAMMA], H, 0.5, 1.5, rng);
		fill_uniform(m->p[CF_BN2_BETA], H, -0.5, 0.5, rng);
		fill_uniform(m->p[CF_W2], H, -1, 1, rng);
	}
	fill_uniform(m->p[CF_B2], 1, -0.5, 0.5, rng);
}

/* the analytic gradient of one table entry, 0 when the row has no slot */
static double
sparse_entry(const CfSparseGrad *g, int row, int e)
{
	if (g->stamp[row] != g->batch)
		return 0.0;
	return g->grad[(size_t) g->slot[row] * g->dim + e];
}

/* The dot branch and the biases in double, for the checks of ŷ. */
static double
rows_term(const CfModel *m, int u, int i)
{
	const CfNetConfig *c = &m->cfg;
	int			W = cf_row_width(c),
				E = c->mlp ? c->emb_dim : 0;
	const float *ur = m->p[CF_USER_EMB] + (size_t) u * W,
			   *ir = m->p[CF_ITEM_EMB] + (size_t) i * W;
	double		s = 0;

	for (int d = 0; d < c->dot_dim; d++)
		s += (double) ur[E + d] * ir[E + d];
	if (c->biases)
		s += (double) ur[W - 1] + ir[W - 1];
	return s;
}

static double
squash(const CfNetConfig *c, double raw)
{
	return c->y_max > c->y_min ? c->y_min + (c->y_max - c->y_min) / (1 + exp(-raw)) : raw;
}

static void
test_network(const Arch *arch)
{
	NetCase    *c = calloc(1, sizeof(NetCase));
	CfNetConfig cfg;
	const int	E = NET_E,
				F = 2 * E;
	const int32_t users[NET_B] = {0, 1, 0, 2, 1, 0};	/* user 0 three times, 3 unused */
	const int32_t items[NET_B] = {0, 1, 2, 3, 4, 1};
	double		margin = 0;
	uint64_t	seed;
	CfRng		rng;
	float	   *dense_an,
			   *user_an,
			   *item_an;
	double	   *an,
			   *nu;
	double		eps = 2e-3,
				rtol = 1e-2,
				atol = 5e-4;
	size_t		n_dense;
	int			W;
	const char *A_ = arch->name;

	arch_config(&cfg, arch, 4, 5);
	/* dropout off: the batch statistics are then the only randomness-free coupling */
	cfg.dropout_in = 0.0f;
	cfg.dropout_hidden = 0.0f;
	W = cf_row_width(&cfg);
	cf_model_alloc(&c->m, &cfg, &A);
	cf_model_init(&c->m, 1, NAN);
	cf_workspace_alloc(&c->ws, &c->m, NET_B, 7, &A);
	memcpy(c->users, users, sizeof(users));
	memcpy(c->items, items, sizeof(items));

	for (seed = 1; seed < 20000; seed++)
	{
		cf_rng_seed(&rng, seed, 21);
		randomise_model(&c->m, &rng);
		if (arch->y_max > arch->y_min)
			fill_uniform(c->r, NET_B, 1, 5, &rng);
		else
			fill_normal(c->r, NET_B, 0, 1, &rng);
		cf_net_forward_backward(&c->m, &c->ws, c->users, c->items, c->r, NET_B);
		margin = net_margin_and_signs(c, true, NULL);
		if (margin > 0.04)
			break;
	}
	ok(margin > 0.04, "network [%s]: parameters away from every ReLU kink found (seed %llu, "
	   "margin %.3g)", A_, (unsigned long long) seed, margin);

	/* base evaluation: keep the analytic gradients */
	{
		double		loss = cf_net_forward_backward(&c->m, &c->ws, c->users, c->items, c->r, NET_B);
		double		want = 0,
					worst = 0;

		for (int b = 0; b < NET_B; b++)
		{
			/* ŷ = squash(MLP output + dot + biases); the MLP part alone is b2 without MLP */
			double		mlp = cfg.mlp ? (double) c->ws.raw[b] - rows_term(&c->m, users[b], items[b])
				: c->m.p[CF_B2][0];
			double		y = squash(&cfg, mlp + rows_term(&c->m, users[b], items[b]));

			if (cfg.mlp)
			{
				double		s = c->m.p[CF_B2][0];

				for (int h = 0; h < NET_H; h++)
					s += (double) c->m.p[CF_W2][h] * c->ws.x2[b * NET_H + h];
				worst = fmax(worst, fabs(s - mlp));
				y = squash(&cfg, s + rows_term(&c->m, users[b], items[b]));
			}
			worst = fmax(worst, fabs(y - c->ws.yhat[b]));
			want += ((double) c->ws.yhat[b] - c->r[b]) * ((double) c->ws.yhat[b] - c->r[b]);
		}
		ok(worst < 1e-5, "network [%s]: ŷ = squash(w2·x2 + b2 + dot + biases) (max err %.2g)",
		   A_, worst);
		is_close_rel(loss, want / NET_B, 1e-12, 0, "network [%s]: returns the batch MSE of its "
					 "predictions", A_);
	}
	n_dense = c->m.num_params - c->m.dense_offset;
	dense_an = floats(n_dense);
	memcpy(dense_an, c->ws.dense_grads, n_dense * sizeof(float));
	user_an = floats(c->m.sizes[CF_USER_EMB]);
	item_an = floats(c->m.sizes[CF_ITEM_EMB]);
	for (int r = 0; r < cfg.n_users; r++)
		for (int e = 0; e < W; e++)
			user_an[r * W + e] = (float) sparse_entry(&c->ws.user_grad, r, e);
	for (int r = 0; r < cfg.n_items; r++)
		for (int e = 0; e < W; e++)
			item_an[r * W + e] = (float) sparse_entry(&c->ws.item_grad, r, e);

	/* duplicated users sum into one slot */
	{
		const CfSparseGrad *g = &c->ws.user_grad;
		const CfSparseGrad *gi = &c->ws.item_grad;
		double		worst = 0;

		ok(g->dim == W && g->n_used == 3 && g->rows[0] == 0 && g->rows[1] == 1 && g->rows[2] == 2,
		   "network [%s]: users {0,1,0,2,1,0} give 3 slots of width %d, rows 0,1,2 in order of "
		   "first use (n_used %d)", A_, W, g->n_used);
		ok(g->stamp[3] != g->batch && gi->n_used == 5,
		   "network [%s]: the unused user 3 has no slot; items {0,1,2,3,4,1} give 5 slots", A_);
		for (int e = 0; e < W; e++)
		{
			double		s = (double) c->ws.drow_user[0 * W + e] + c->ws.drow_user[2 * W + e] +
				c->ws.drow_user[5 * W + e];
			double		si = (double) c->ws.drow_item[1 * W + e] + c->ws.drow_item[5 * W + e];

			worst = fmax(worst, fabs(s - g->grad[(size_t) g->slot[0] * W + e]));
			worst = fmax(worst, fabs(si - gi->grad[(size_t) gi->slot[1] * W + e]));
		}
		if (cfg.mlp)
			for (int b = 0; b < NET_B; b++)
				for (int e = 0; e < E; e++)
					worst = fmax(worst, fabs(c->ws.drow_user[b * W + e] - c->ws.dx0[b * F + e]) +
								 fabs(c->ws.drow_item[b * W + e] - c->ws.dx0[b * F + E + e]));
		ok(worst < 1e-6, "network [%s]: user 0's slot sums its three rows' gradients, item 1's "
		   "its two%s (err %.2g)", A_, cfg.mlp ? "; the MLP part of a row's gradient is dx0" : "",
		   worst);
	}

	an = calloc(c->m.num_params, sizeof(double));
	nu = calloc(c->m.num_params, sizeof(double));
	c->watch = true;
	c->crossings = 0;
	for (int t = 0; t < CF_NUM_PARAMS; t++)
	{
		size_t		n = c->m.sizes[t];
		const float *src = t == CF_USER_EMB ? user_an :
			t == CF_ITEM_EMB ? item_an :
			dense_an + (c->m.p[t] - c->m.params - c->m.dense_offset);
		char		what[160];

		if (n == 0)
			continue;
		for (size_t i = 0; i < n; i++)
		{
			an[i] = src[i];
			nu[i] = fd(net_loss_v, c, &c->m.p[t][i], eps);
		}
		snprintf(what, sizeof(what), "network [%s] d %s", A_, cf_param_names[t]);
		/*
		 * fc1.bias feeds batch norm directly: the batch mean cancels it, so
		 * its gradient is 0 in training mode.
		 */
		grads_match(what, an, nu, (int) n, rtol, atol, t == CF_B1);
		if (t == CF_B1)
		{
			double		worst = 0;

			for (size_t i = 0; i < n; i++)
				worst = fmax(worst, fabs(an[i]));
			ok(worst < 1e-5, "network [%s]: fc1.bias gradient is ~0 before batch norm (max %.2g)",
			   A_, worst);
		}
		if (t == CF_USER_EMB)
		{
			bool		zero = true;

			for (int e = 0; e < W; e++)
				zero = zero && an[3 * W + e] == 0.0 && nu[3 * W + e] == 0.0;
			ok(zero, "network [%s]: the unused user row 3 has exactly zero gradient", A_);
			/* each part of the rows on its own: MLP, dot, bias */
			if (cfg.dot_dim > 0 || cfg.biases)
			{
				double		pa[64],
							pn[64];
				int			k = 0;

				for (int r = 0; r < 3; r++)
					for (int e = cfg.mlp ? E : 0; e < W; e++, k++)
						pa[k] = an[r * W + e], pn[k] = nu[r * W + e];
				snprintf(what, sizeof(what), "network [%s] d user rows: the dot%s entries alone",
						 A_, cfg.biases ? " and bias" : "");
				grads_match(what, pa, pn, k, rtol, atol, false);
			}
		}
	}
	if (cfg.mlp)
		ok(c->crossings == 0, "network [%s]: no finite-difference step crossed a ReLU kink (%d)",
		   A_, c->crossings);
	ok(c->ws.g[CF_USER_EMB] == NULL && c->ws.g[CF_ITEM_EMB] == NULL &&
	   c->ws.g[CF_BN1_GAMMA] == c->ws.dense_grads && c->ws.g[CF_B2] == c->ws.dense_grads + n_dense - 1,
	   "workspace [%s]: g[] NULL for the tables, the dense tail from bn1.weight to fc2.bias", A_);
	free(an);
	free(nu);
	free(c);
}

/* ------------------------------------------------------------------ */
/* inference fold */

static void
test_inference(const Arch *arch)
{
	CfNetConfig cfg;
	CfModel		m;
	CfInference inf;
	CfRng		rng,
				drop_rng,
				drop_rng0;
	const int	B = 12,
				E = NET_E,
				H = NET_H,
				F = 2 * E;
	int32_t		users[12],
				items[12];
	float	   *x0 = floats(B * F),
			   *x1 = floats(B * F),
			   *xhat = floats(B * (F > H ? F : H)),
			   *inv = floats(F > H ? F : H),
			   *h = floats(B * H),
			   *x2 = floats(B * H),
			   *yref = floats(B),
			   *ybatch = floats(B),
			   *tmp = floats(B * (2 * E + H) + 1),
			   *scratch = floats(4 * (F > H ? F : H)),
			   *stats_copy;
	size_t		n_stats;
	double		worst = 0,
				worst_d = 0;
	int			active_hidden = 0,
				W;
	const char *A_ = arch->name;

	arch_config(&cfg, arch, 7, 9);
	cfg.dropout_in = 0.3f;		/* must be ignored in eval mode */
	cfg.dropout_hidden = 0.4f;
	W = cf_row_width(&cfg);
	cf_model_alloc(&m, &cfg, &A);
	cf_model_init(&m, 5, NAN);
	cf_rng_seed(&rng, 77, 1);
	randomise_model(&m, &rng);
	if (cfg.mlp)
	{
		fill_normal(m.s[CF_BN1_MEAN], F, 0, 0.3, &rng);
		fill_uniform(m.s[CF_BN1_VAR], F, 0.5, 2.0, &rng);
		fill_normal(m.s[CF_BN2_MEAN], H, 0, 0.3, &rng);
		fill_uniform(m.s[CF_BN2_VAR], H, 0.5, 2.0, &rng);
	}
	for (int b = 0; b < B; b++)
	{
		users[b] = b % cfg.n_users;
		items[b] = (b * 5 + 2) % cfg.n_items;
	}
	n_stats = cfg.mlp ? 2 * F + 2 * H : 0;
	stats_copy = floats(n_stats + 1);
	memcpy(stats_copy, m.stats, n_stats * sizeof(float));

	if (cfg.mlp)
	{
		/* explicit eval-mode forward with the layer functions */
		cf_rng_seed(&drop_rng, 9, 9);
		drop_rng0 = drop_rng;
		cf_embedding_forward(x0, m.p[CF_USER_EMB], m.p[CF_ITEM_EMB], users, items, B, E, W);
		cf_norm_block_forward(x1, xhat, inv, x0, m.p[CF_BN1_GAMMA], m.p[CF_BN1_BETA],
							  m.s[CF_BN1_MEAN], m.s[CF_BN1_VAR], B, F, cfg.bn_momentum, cfg.bn_eps,
							  cfg.dropout_in, &drop_rng, false, scratch);
		cf_linear_forward(h, x1, m.p[CF_W1], m.p[CF_B1], B, F, H);
		cf_norm_block_forward(x2, xhat, inv, h, m.p[CF_BN2_GAMMA], m.p[CF_BN2_BETA],
							  m.s[CF_BN2_MEAN], m.s[CF_BN2_VAR], B, H, cfg.bn_momentum, cfg.bn_eps,
							  cfg.dropout_hidden, &drop_rng, false, scratch);
		cf_linear_forward(yref, x2, m.p[CF_W2], m.p[CF_B2], B, H, 1);
		ok(memcmp(m.stats, stats_copy, n_stats * sizeof(float)) == 0 &&
		   memcmp(&drop_rng, &drop_rng0, sizeof(CfRng)) == 0,
		   "eval-mode norm block [%s]: running statistics untouched, nothing drawn from the rng", A_);
	}
	else
		for (int b = 0; b < B; b++)
			yref[b] = m.p[CF_B2][0];
	for (int b = 0; b < B; b++)
		yref[b] = (float) squash(&cfg, yref[b] + rows_term(&m, users[b], items[b]));

	/* and a double-precision reference written from the formulas */
	for (int b = 0; b < B; b++)
	{
		double		xin[2 * NET_E],
					y = m.p[CF_B2][0];

		if (cfg.mlp)
		{
			for (int f = 0; f < F; f++)
			{
				double		v = f < E ? m.p[CF_USER_EMB][users[b] * W + f] : m.p[CF_ITEM_EMB][items[b] * W + f - E];
				double		n = (v - m.s[CF_BN1_MEAN][f]) / sqrt((double) m.s[CF_BN1_VAR][f] + cfg.bn_eps);

				n = m.p[CF_BN1_GAMMA][f] * n + m.p[CF_BN1_BETA][f];
				xin[f] = n > 0 ? n : 0;
			}
			for (int k = 0; k < H; k++)
			{
				double		s = m.p[CF_B1][k];

				for (int f = 0; f < F; f++)
					s += m.p[CF_W1][k * F + f] * xin[f];
				s = (s - m.s[CF_BN2_MEAN][k]) / sqrt((double) m.s[CF_BN2_VAR][k] + cfg.bn_eps);
				s = m.p[CF_BN2_GAMMA][k] * s + m.p[CF_BN2_BETA][k];
				active_hidden += s > 0;
				y += m.p[CF_W2][k] * (s > 0 ? s : 0);
			}
		}
		y = squash(&cfg, y + rows_term(&m, users[b], items[b]));
		worst_d = fmax(worst_d, fabs(y - yref[b]));
	}
	ok(worst_d < 1e-4, "explicit eval-mode forward [%s] matches a double reference (max err %.2g)",
	   A_, worst_d);
	if (cfg.mlp)
		ok(active_hidden > 0 && active_hidden < B * H,
		   "inference case [%s] exercises both sides of the hidden ReLU (%d of %d active)",
		   A_, active_hidden, B * H);

	cf_inference_alloc(&inf, &cfg, &A);
	cf_inference_fold(&inf, &m);
	for (int b = 0; b < B; b++)
		ybatch[b] = NAN;
	cf_inference_batch(&inf, &m, users, items, B, tmp, ybatch);
	for (int b = 0; b < B; b++)
		worst = fmax(worst, isfinite(ybatch[b]) ? fabs(ybatch[b] - yref[b]) : INFINITY);
	ok(worst < 1e-4, "cf_inference_batch [%s] equals the explicit eval-mode forward (max err %.2g)",
	   A_, worst);

	/* project + score (MLP), project + predict (everything) */
	{
		float	   *P = floats((size_t) cfg.n_users * H),
				   *Q = floats((size_t) cfg.n_items * H),
				   *ptmp = floats((size_t) (cfg.n_users > cfg.n_items ? cfg.n_users : cfg.n_items) * E);
		double		ws = 0,
					wp = 0;

		/* out need not be initialised by the caller */
		for (int i = 0; i < cfg.n_users * H; i++)
			P[i] = NAN;
		for (int i = 0; i < cfg.n_items * H; i++)
			Q[i] = NAN;
		cf_inference_project(&inf, m.p[CF_USER_EMB], cfg.n_users, 0, ptmp, P);
		cf_inference_project(&inf, m.p[CF_ITEM_EMB], cfg.n_items, 1, ptmp, Q);
		for (int b = 0; b < B; b++)
		{
			const float *pu = cfg.mlp ? P + (size_t) users[b] * H : NULL,
					   *qi = cfg.mlp ? Q + (size_t) items[b] * H : NULL;
			float		p = cf_inference_predict(&inf, pu, qi, m.p[CF_USER_EMB] + (size_t) users[b] * W,
												 m.p[CF_ITEM_EMB] + (size_t) items[b] * W);

			if (cfg.mlp)
			{
				double		want = squash(&cfg, cf_inference_score(&inf, pu, qi) +
										  rows_term(&m, users[b], items[b]));

				ws = fmax(ws, isfinite(want) ? fabs(want - ybatch[b]) : INFINITY);
			}
			wp = fmax(wp, isfinite(p) ? fabs(p - ybatch[b]) : INFINITY);
		}
		if (cfg.mlp)
			ok(ws < 1e-5, "cf_inference_project + cf_inference_score [%s] give the MLP part of "
			   "cf_inference_batch (max err %.2g)", A_, ws);
		ok(wp < 1e-5, "cf_inference_project + cf_inference_predict [%s] equal cf_inference_batch "
		   "(max err %.2g)", A_, wp);
	}
}

/* ------------------------------------------------------------------ */
/* initialisation */

static void
test_init(void)
{
	CfNetConfig cfg;
	CfModel		a,
				b,
				c;
	size_t		n_stats;

	cf_net_config_default(&cfg, 500, 400);
	cfg.emb_dim = 32;			/* F = 64 */
	cfg.hidden = 100;
	cf_model_alloc(&a, &cfg, &A);
	cf_model_alloc(&b, &cfg, &A);
	cf_model_alloc(&c, &cfg, &A);
	/* garbage first: init must overwrite everything */
	memset(b.params, 0x5a, b.num_params * sizeof(float));
	cf_model_init(&a, 42, NAN);
	cf_model_init(&b, 42, NAN);
	cf_model_init(&c, 43, NAN);
	n_stats = 4 * (size_t) cfg.emb_dim + 2 * (size_t) cfg.hidden;
	ok(memcmp(a.params, b.params, a.num_params * sizeof(float)) == 0 &&
	   memcmp(a.stats, b.stats, n_stats * sizeof(float)) == 0,
	   "cf_model_init: same seed gives identical bytes");
	{
		size_t		same = 0;

		for (size_t i = 0; i < a.sizes[CF_USER_EMB]; i++)
			same += a.p[CF_USER_EMB][i] == c.p[CF_USER_EMB][i];
		for (size_t i = 0; i < a.sizes[CF_W1]; i++)
			same += a.p[CF_W1][i] == c.p[CF_W1][i];
		ok(same == 0, "cf_model_init: a different seed changes every random entry (%zu equal)",
		   same);
	}
	ok(a.num_params == a.sizes[CF_USER_EMB] + a.sizes[CF_ITEM_EMB] +
	   2 * 64 + 100 * 64 + 100 + 2 * 100 + 100 + 1 &&
	   a.sizes[CF_USER_EMB] == 500 * 32 && a.sizes[CF_W1] == 100 * 64 &&
	   a.dense_offset == a.sizes[CF_USER_EMB] + a.sizes[CF_ITEM_EMB] &&
	   a.p[CF_BN1_GAMMA] == a.params + a.dense_offset &&
	   a.p[CF_B2] == a.params + a.num_params - 1,
	   "layout: embeddings first, dense tail contiguous, fc2.bias last");

	/* embeddings ~ N(0, 0.01²) */
	{
		double		s = 0,
					ss = 0;
		size_t		n = a.sizes[CF_USER_EMB] + a.sizes[CF_ITEM_EMB];

		for (size_t i = 0; i < n; i++)
		{
			s += a.params[i];
			ss += (double) a.params[i] * a.params[i];
		}
		s /= n;
		ss = sqrt(ss / n - s * s);
		ok(fabs(s) < 5e-4 && fabs(ss - 0.01) < 3e-4,
		   "init: embeddings have mean ~0 and sd ~0.01 (mean %.2g, sd %.5f, n %zu)", s, ss, n);
	}
	/* nn.Linear: U(±1/sqrt(fan_in)) */
	{
		struct
		{
			int			t;
			double		bound;
		}			lin[] = {
			{CF_W1, 1 / sqrt(64.0)}, {CF_B1, 1 / sqrt(64.0)},
			{CF_W2, 1 / sqrt(100.0)}, {CF_B2, 1 / sqrt(100.0)},
		};

		for (int k = 0; k < 4; k++)
		{
			const float *x = a.p[lin[k].t];
			size_t		n = a.sizes[lin[k].t];
			double		mx = 0,
						s = 0,
						ss = 0;

			for (size_t i = 0; i < n; i++)
			{
				mx = fmax(mx, fabs(x[i]));
				s += x[i];
				ss += (double) x[i] * x[i];
			}
			ok(mx <= lin[k].bound && mx > 0, "init: %s within ±1/sqrt(fan_in) = %.4f (max |w| %.4f)",
			   cf_param_names[lin[k].t], lin[k].bound, mx);
			if (n >= 50 && n < 1000)
				ok(mx > 0.9 * lin[k].bound, "init: %s spans its bound (max |w| %.4f > 0.9 × %.4f)",
				   cf_param_names[lin[k].t], mx, lin[k].bound);
			if (n >= 1000)
			{
				double		var = ss / n - (s / n) * (s / n),
							want = lin[k].bound * lin[k].bound / 3;

				ok(mx > 0.98 * lin[k].bound && fabs(s / n) < 0.05 * lin[k].bound &&
				   fabs(var / want - 1) < 0.08,
				   "init: %s looks uniform on ±bound (max %.4f, mean %.2g, var/(b²/3) %.3f)",
				   cf_param_names[lin[k].t], mx, s / n, var / want);
			}
		}
	}
	{
		bool		good = true;

		for (int f = 0; f < 64; f++)
			good = good && a.p[CF_BN1_GAMMA][f] == 1.0f && a.p[CF_BN1_BETA][f] == 0.0f &&
				a.s[CF_BN1_MEAN][f] == 0.0f && a.s[CF_BN1_VAR][f] == 1.0f;
		for (int h = 0; h < 100; h++)
			good = good && a.p[CF_BN2_GAMMA][h] == 1.0f && a.p[CF_BN2_BETA][h] == 0.0f &&
				a.s[CF_BN2_MEAN][h] == 0.0f && a.s[CF_BN2_VAR][h] == 1.0f;
		ok(good, "init: batch norm gamma 1, beta 0, running mean 0, running var 1");
	}

	/* an offset sets the output bias and leaves every other draw alone */
	{
		CfModel		o;

		cf_model_alloc(&o, &cfg, &A);
		cf_model_init(&o, 42, 3.25f);
		ok(o.p[CF_B2][0] == 3.25f &&
		   memcmp(o.params, a.params, (o.num_params - 1) * sizeof(float)) == 0,
		   "init: offset 3.25 is the output bias; everything else as with a NaN offset");
	}

	/* rows [MLP | dot | bias]: the bias starts at 0, the rest ~ N(0, 0.01²) */
	{
		CfNetConfig rc = cfg;
		CfModel		r;
		int			W;
		bool		bias_zero = true;
		double		ss = 0;
		size_t		n = 0;

		rc.dot_dim = 8;
		rc.biases = true;
		W = cf_row_width(&rc);
		cf_model_alloc(&r, &rc, &A);
		memset(r.params, 0x5a, r.num_params * sizeof(float));
		cf_model_init(&r, 42, NAN);
		for (int t = CF_USER_EMB; t <= CF_ITEM_EMB; t++)
		{
			int			rows = t == CF_USER_EMB ? rc.n_users : rc.n_items;

			for (int k = 0; k < rows; k++)
			{
				bias_zero = bias_zero && r.p[t][(size_t) k * W + W - 1] == 0.0f;
				for (int e = 0; e < W - 1; e++, n++)
					ss += (double) r.p[t][(size_t) k * W + e] * r.p[t][(size_t) k * W + e];
			}
		}
		ss = sqrt(ss / n);
		ok(W == 32 + 8 + 1 && r.sizes[CF_USER_EMB] == (size_t) 500 * W && bias_zero &&
		   fabs(ss - 0.01) < 3e-4,
		   "init: rows of width %d = E + D + 1, bias entries 0, the rest sd %.5f", W, ss);
	}

	/* without the MLP branch there is no fan-in: still no infinite or NaN parameter */
	{
		CfNetConfig dc = cfg;
		CfModel		d;
		bool		finite = true;

		dc.mlp = false;
		dc.dot_dim = 8;
		dc.biases = true;
		cf_model_alloc(&d, &dc, &A);
		cf_model_init(&d, 42, NAN);
		for (size_t i = 0; i < d.num_params; i++)
			finite = finite && isfinite(d.params[i]);
		ok(d.num_params == d.dense_offset + 1 && d.sizes[CF_USER_EMB] == 500 * 9,
		   "layout without MLP: rows of width D + 1, the dense tail is fc2.bias alone");
		ok(finite, "init without MLP, NaN offset: every parameter finite (fc2.bias %g)",
		   d.p[CF_B2][0]);
	}
}


/*
 * The int8 first pass of serving: every code within half a step of its float,
 * padding zero, l1 the codes' sum, and every quantized dot within its stated
 * bound of the float dot (computed in double), on rows of mixed scale, a zero
 * row and widths that are and are not multiples of 16.
 */
static void
test_quantized(int n)
{
	enum {ROWS = 67, STRIDE = 300};
	CfRng		rng;
	int			padded = cf_quantized_width(n);
	float	   *rows = A.alloc0(A.ctx, sizeof(float) * ROWS * STRIDE);
	int8_t	   *q = A.alloc0(A.ctx, (size_t) ROWS * padded);
	float	   *scale = A.alloc0(A.ctx, sizeof(float) * ROWS);
	float	   *l1 = A.alloc0(A.ctx, sizeof(float) * ROWS);
	float	   *u = A.alloc0(A.ctx, sizeof(float) * padded);
	int8_t	   *uq = A.alloc0(A.ctx, padded);
	float		u_scale;
	float	   *out = A.alloc0(A.ctx, sizeof(float) * ROWS);
	bool		codes_ok = true,
				bound_ok = true;
	double		worst = 0.0,
				u_l1 = 0.0;

	cf_rng_seed(&rng, 99 + n, 7);
	for (int i = 0; i < ROWS; i++)
		if (i != 3)
			fill_normal(rows + (size_t) i * STRIDE, STRIDE, 0.0, 0.01 * (1 + i % 7) * (i % 2 ? 1 : 30), &rng);
	fill_normal(u, n, 0.1, 1.0, &rng);
	for (int j = 0; j < n; j++)
		u_l1 += fabs(u[j]);
	cf_quantize_rows(rows, STRIDE, n, ROWS, q, scale, l1);
	cf_quantize_rows(u, 0, n, 1, uq, &u_scale, NULL);
	cf_quantized_dots(uq, u_scale, q, scale, padded, ROWS, out);
	for (int i = 0; i < ROWS; i++)
	{
		const float *x = rows + (size_t) i * STRIDE;
		const int8_t *qi = q + (size_t) i * padded;
		double		dot = 0.0,
					bound = CF_QUANTIZED_BOUND * scale[i] * (u_l1 + u_scale * l1[i]);
		int			sum = 0;

		for (int j = 0; j < padded; j++)
		{
			sum += abs(qi[j]);
			if (j >= n ? qi[j] != 0 : fabs(x[j] - scale[i] * qi[j]) > 0.5 * scale[i] * (1 + 1e-5))
				codes_ok = false;
		}
		if (sum != (int) l1[i])
			codes_ok = false;
		for (int j = 0; j < n; j++)
			dot += (double) u[j] * x[j];
		if (fabs(out[i] - dot) > bound + 1e-6 * fabs(dot))
			bound_ok = false;
		if (scale[i] > 0)
			worst = fmax(worst, fabs(out[i] - dot) / bound);
	}
	ok(codes_ok && scale[3] == 0.0f, "quantized rows (n %d): every code within half a step, zero padding, l1 and a zero row", n);
	ok(bound_ok && worst > 0.0, "quantized dots (n %d): within the stated bound of the float dot (worst %.3f of it)",
	   n, worst);
}

int
main(void)
{
	A = tap_arena_allocator(&arena);

	test_linear(6, 4, 5, 1);	/* sgemm path */
	test_linear(6, 5, 1, 2);	/* sgemv path */
	test_norm_block(0.0f);
	test_norm_block(0.3f);
	test_dropout_rate(0.1f);
	test_dropout_rate(0.5f);
	test_mse();
	for (size_t k = 0; k < sizeof(ARCHS) / sizeof(ARCHS[0]); k++)
		test_network(&ARCHS[k]);
	for (size_t k = 0; k < sizeof(ARCHS) / sizeof(ARCHS[0]); k++)
		test_inference(&ARCHS[k]);
	test_init();
	test_quantized(250);
	test_quantized(16);
	test_quantized(7);

	tap_arena_free_all(&arena);
	return done_testing();
}
