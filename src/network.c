#include "network.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

const char *const cf_param_names[CF_NUM_PARAMS] = {
	"user_embedding.weight", "item_embedding.weight",
	"bn1.weight", "bn1.bias", "fc1.weight", "fc1.bias",
	"bn2.weight", "bn2.bias", "fc2.weight", "fc2.bias",
};

const char *const cf_stat_names[CF_NUM_STATS] = {
	"bn1.running_mean", "bn1.running_var", "bn2.running_mean", "bn2.running_var",
};

void
cf_net_config_default(CfNetConfig *cfg, int32_t n_users, int32_t n_items)
{
	cfg->n_users = n_users;
	cfg->n_items = n_items;
	cfg->mlp = true;
	cfg->emb_dim = 100;
	cfg->hidden = 500;
	cfg->dot_dim = 0;
	cfg->biases = false;
	cfg->y_min = 0.0f;
	cfg->y_max = 0.0f;
	cfg->dropout_in = 0.1f;
	cfg->dropout_hidden = 0.2f;
	cfg->bn_momentum = 0.1f;
	cfg->bn_eps = 1e-5f;
	cfg->row_l2 = 0.0f;
	cfg->bias_l2 = 0.0f;
}

void
cf_model_layout(CfModel *m, const CfNetConfig *cfg)
{
	size_t		E = cfg->mlp ? cfg->emb_dim : 0,
				F = 2 * E,
				H = cfg->mlp ? cfg->hidden : 0,
				W = cf_row_width(cfg);

	memset(m, 0, sizeof(*m));
	m->cfg = *cfg;
	m->sizes[CF_USER_EMB] = (size_t) cfg->n_users * W;
	m->sizes[CF_ITEM_EMB] = (size_t) cfg->n_items * W;
	m->sizes[CF_BN1_GAMMA] = F;
	m->sizes[CF_BN1_BETA] = F;
	m->sizes[CF_W1] = H * F;
	m->sizes[CF_B1] = H;
	m->sizes[CF_BN2_GAMMA] = H;
	m->sizes[CF_BN2_BETA] = H;
	m->sizes[CF_W2] = H;
	m->sizes[CF_B2] = 1;
	for (int i = 0; i < CF_NUM_PARAMS; i++)
	{
		if (i == CF_FIRST_DENSE)
			m->dense_offset = m->num_params;
		m->num_params += m->sizes[i];
	}
	m->stat_sizes[CF_BN1_MEAN] = F;
	m->stat_sizes[CF_BN1_VAR] = F;
	m->stat_sizes[CF_BN2_MEAN] = H;
	m->stat_sizes[CF_BN2_VAR] = H;
}

void
cf_model_alloc(CfModel *m, const CfNetConfig *cfg, const CfAllocator *a)
{
	size_t		off = 0,
				n_stats = 0;

	cf_model_layout(m, cfg);
	m->params = cf_alloc_floats(a, m->num_params);
	for (int i = 0; i < CF_NUM_PARAMS; i++)
	{
		m->p[i] = m->params + off;
		off += m->sizes[i];
	}
	for (int i = 0; i < CF_NUM_STATS; i++)
		n_stats += m->stat_sizes[i];
	m->stats = cf_alloc_floats(a, n_stats);
	off = 0;
	for (int i = 0; i < CF_NUM_STATS; i++)
	{
		m->s[i] = m->stats + off;
		off += m->stat_sizes[i];
	}
}

static void
fill_uniform(float *x, size_t n, float bound, CfRng *rng)
{
	for (size_t i = 0; i < n; i++)
		x[i] = (float) ((2.0 * cf_rng_uniform(rng) - 1.0) * bound);
}

static void
fill_constant(float *x, size_t n, float value)
{
	for (size_t i = 0; i < n; i++)
		x[i] = value;
}

void
cf_model_init(CfModel *m, uint64_t seed, float offset)
{
	CfRng		rng;
	const CfNetConfig *c = &m->cfg;
	int			E = c->mlp ? c->emb_dim : 0,
				F = 2 * E,
				H = c->mlp ? c->hidden : 0,
				W = cf_row_width(c);
	int			normal_width = E + c->dot_dim;	/* the bias at the row's end starts at 0 */

	cf_rng_seed(&rng, seed, 1);
	/*
	 * Small embeddings: rows that training rarely touches stay near the
	 * batch mean, so batch norm maps them to a neutral input.
	 */
	for (int t = CF_USER_EMB; t <= CF_ITEM_EMB; t++)
	{
		int32_t		rows = t == CF_USER_EMB ? c->n_users : c->n_items;

		for (int32_t r = 0; r < rows; r++)
			for (int k = 0; k < W; k++)
				m->p[t][(size_t) r * W + k] = k < normal_width ? (float) (0.01 * cf_rng_normal(&rng)) : 0.0f;
	}
	fill_constant(m->p[CF_BN1_GAMMA], F, 1.0f);
	fill_constant(m->p[CF_BN1_BETA], F, 0.0f);
	/* nn.Linear: U(±1/sqrt(fan_in)) for weight and bias. */
	fill_uniform(m->p[CF_W1], (size_t) H * F, 1.0f / sqrtf((float) F), &rng);
	fill_uniform(m->p[CF_B1], H, 1.0f / sqrtf((float) F), &rng);
	fill_constant(m->p[CF_BN2_GAMMA], H, 1.0f);
	fill_constant(m->p[CF_BN2_BETA], H, 0.0f);
	fill_uniform(m->p[CF_W2], H, 1.0f / sqrtf((float) H), &rng);
	if (isnan(offset) && H > 0)
		fill_uniform(m->p[CF_B2], 1, 1.0f / sqrtf((float) H), &rng);
	else if (isnan(offset))
		m->p[CF_B2][0] = 0.0f;
	else
		m->p[CF_B2][0] = offset;
	fill_constant(m->s[CF_BN1_MEAN], F, 0.0f);
	fill_constant(m->s[CF_BN1_VAR], F, 1.0f);
	fill_constant(m->s[CF_BN2_MEAN], H, 0.0f);
	fill_constant(m->s[CF_BN2_VAR], H, 1.0f);
}

/* ---- workspace ---- */

static size_t
workspace_floats(const CfNetConfig *cfg, int32_t B)
{
	size_t		F = cfg->mlp ? 2 * (size_t) cfg->emb_dim : 0,
				H = cfg->mlp ? cfg->hidden : 0,
				W = cf_row_width(cfg);

	/*
	 * x0 xhat1 x1 dx1 dx0: B×F; h xhat2 x2 dh: B×H; yhat raw dyhat draw: B;
	 * row gradients: 2 × B×W; invstd; scratch
	 */
	return 5 * B * F + 4 * B * H + 4 * (size_t) B + 2 * B * W + F + H + 4 * (F > H ? F : H);
}

size_t
cf_workspace_bytes(const CfNetConfig *cfg, int32_t max_batch)
{
	CfModel		layout;
	size_t		W = cf_row_width(cfg);
	size_t		sparse = 0;

	cf_model_layout(&layout, cfg);
	/* per table: rows and grads of the batch, slot and stamp per table row */
	sparse += 2 * (size_t) max_batch * (sizeof(int32_t) + W * sizeof(float));
	sparse += ((size_t) cfg->n_users + cfg->n_items) * (sizeof(int32_t) + sizeof(uint32_t));
	return (workspace_floats(cfg, max_batch) + layout.num_params - layout.dense_offset)
		* sizeof(float) + sparse;
}

static void
sparse_grad_alloc(CfSparseGrad *g, int32_t n_rows, int32_t dim, int32_t max_batch,
				  const CfAllocator *a)
{
	g->n_rows = n_rows;
	g->dim = dim;
	g->n_used = 0;
	g->rows = a->alloc0(a->ctx, (size_t) max_batch * sizeof(int32_t));
	g->grad = cf_alloc_floats(a, (size_t) max_batch * dim);
	g->slot = a->alloc0(a->ctx, (size_t) n_rows * sizeof(int32_t));
	g->stamp = a->alloc0(a->ctx, (size_t) n_rows * sizeof(uint32_t));
	g->batch = 0;
}

void
cf_workspace_alloc(CfWorkspace *ws, const CfModel *m, int32_t max_batch, uint64_t seed,
				   const CfAllocator *a)
{
	size_t		B = max_batch,
				F = m->cfg.mlp ? 2 * (size_t) m->cfg.emb_dim : 0,
				H = m->cfg.mlp ? m->cfg.hidden : 0,
				W = cf_row_width(&m->cfg);
	float	   *p = cf_alloc_floats(a, workspace_floats(&m->cfg, max_batch));
	size_t		off = 0;

	memset(ws, 0, sizeof(*ws));
	ws->max_batch = max_batch;
#define TAKE(field, count) (ws->field = p, p += (count))
	TAKE(x0, B * F);
	TAKE(xhat1, B * F);
	TAKE(x1, B * F);
	TAKE(dx1, B * F);
	TAKE(dx0, B * F);
	TAKE(h, B * H);
	TAKE(xhat2, B * H);
	TAKE(x2, B * H);
	TAKE(dh, B * H);
	TAKE(yhat, B);
	TAKE(raw, B);
	TAKE(dyhat, B);
	TAKE(draw, B);
	TAKE(drow_user, B * W);
	TAKE(drow_item, B * W);
	TAKE(bn1_invstd, F);
	TAKE(bn2_invstd, H);
	TAKE(scratch, 4 * (F > H ? F : H));
#undef TAKE
	ws->dense_grads = cf_alloc_floats(a, m->num_params - m->dense_offset);
	for (int i = CF_FIRST_DENSE; i < CF_NUM_PARAMS; i++)
	{
		ws->g[i] = ws->dense_grads + off;
		off += m->sizes[i];
	}
	sparse_grad_alloc(&ws->user_grad, m->cfg.n_users, (int32_t) W, max_batch, a);
	sparse_grad_alloc(&ws->item_grad, m->cfg.n_items, (int32_t) W, max_batch, a);
	cf_rng_seed(&ws->dropout_rng, seed, 2);
}

/* ---- layers ---- */

void
cf_embedding_forward(float *x0, const float *user_emb, const float *item_emb,
					 const int32_t *users, const int32_t *items, int B, int E, int W)
{
	for (int b = 0; b < B; b++)
	{
		memcpy(x0 + (size_t) b * 2 * E, user_emb + (size_t) users[b] * W, E * sizeof(float));
		memcpy(x0 + (size_t) b * 2 * E + E, item_emb + (size_t) items[b] * W, E * sizeof(float));
	}
}

void
cf_embedding_backward(CfSparseGrad *g, const float *dx, int stride, const int32_t *index, int B)
{
	int			E = g->dim;

	/* A new stamp per batch makes every row's slot stale without clearing. */
	if (++g->batch == 0)
	{
		memset(g->stamp, 0, (size_t) g->n_rows * sizeof(uint32_t));
		g->batch = 1;
	}
	g->n_used = 0;
	for (int b = 0; b < B; b++)
	{
		int32_t		row = index[b];
		float	   *dst;
		const float *src = dx + (size_t) b * stride;

		if (g->stamp[row] != g->batch)
		{
			g->stamp[row] = g->batch;
			g->slot[row] = g->n_used;
			g->rows[g->n_used] = row;
			dst = g->grad + (size_t) g->n_used * E;
			memcpy(dst, src, E * sizeof(float));
			g->n_used++;
			continue;
		}
		dst = g->grad + (size_t) g->slot[row] * E;
		for (int e = 0; e < E; e++)
			dst[e] += src[e];
	}
}

/*
 * Dropout masks are drawn 16 bits at a time, four per 64-bit draw: a rate is
 * resolved to 1/65536, far finer than any dropout anyone sets.
 */
static void
draw_mask_bits(uint16_t *bits, int F, CfRng *rng)
{
	for (int f = 0; f < F; f += 4)
	{
		uint64_t	r = cf_rng_next(rng);

		for (int k = 0; k < 4 && f + k < F; k++)
			bits[f + k] = (uint16_t) (r >> (16 * k));
	}
}

/* Per-feature mean and inverse deviation of a batch; running statistics updated. */
CF_VECTOR_CLONES static void
batch_statistics(const float *restrict x, float *restrict mean, float *restrict var,
				 float *restrict invstd, float *restrict running_mean,
				 float *restrict running_var, int B, int F, float momentum, float eps)
{
	for (int f = 0; f < F; f++)
		mean[f] = 0.0f, var[f] = 0.0f;
	for (int b = 0; b < B; b++)
	{
		const float *restrict row = x + (size_t) b * F;

		for (int f = 0; f < F; f++)
			mean[f] += row[f];
	}
	for (int f = 0; f < F; f++)
		mean[f] /= (float) B;
	/* a second pass: the one-pass formula loses precision when |mean| ≫ σ */
	for (int b = 0; b < B; b++)
	{
		const float *restrict row = x + (size_t) b * F;

		for (int f = 0; f < F; f++)
		{
			float		d = row[f] - mean[f];

			var[f] += d * d;
		}
	}
	for (int f = 0; f < F; f++)
	{
		float		biased = var[f] / (float) B;
		float		unbiased = B > 1 ? var[f] / (float) (B - 1) : biased;

		invstd[f] = 1.0f / sqrtf(biased + eps);
		running_mean[f] = (1.0f - momentum) * running_mean[f] + momentum * mean[f];
		running_var[f] = (1.0f - momentum) * running_var[f] + momentum * unbiased;
	}
}

/* One row of the block: normalise, affine, ReLU, then the dropout mask if any. */
CF_VECTOR_CLONES static void
norm_row(float *restrict out, float *restrict xhat, const float *restrict x,
		 const float *restrict mean, const float *restrict invstd,
		 const float *restrict scale, const float *restrict shift,
		 const uint16_t *restrict bits, uint16_t threshold, float keep_scale, int F)
{
	for (int f = 0; f < F; f++)
	{
		float		y = x[f] * scale[f] + shift[f];

		xhat[f] = (x[f] - mean[f]) * invstd[f];
		out[f] = y > 0.0f ? y : 0.0f;
	}
	if (bits)
		for (int f = 0; f < F; f++)
			out[f] = bits[f] < threshold ? 0.0f : out[f] * keep_scale;
}

void
cf_norm_block_forward(float *out, float *xhat, float *invstd, const float *x,
					  const float *gamma, const float *beta,
					  float *running_mean, float *running_var,
					  int B, int F, float momentum, float eps,
					  float dropout, CfRng *rng, bool training, float *scratch)
{
	float	   *mean = scratch,
			   *scale = scratch + F,
			   *shift = scratch + 2 * F;
	bool		drop = training && dropout > 0.0f;
	long		threshold = lrintf(dropout * 65536.0f);
	float		keep_scale = drop ? 1.0f / (1.0f - dropout) : 1.0f;
	/* mask bits of one row live after the three per-feature vectors */
	uint16_t   *bits = drop ? (uint16_t *) (scratch + 3 * F) : NULL;

	if (training)
		/* var shares shift's memory: shift is computed from its results */
		batch_statistics(x, mean, shift, invstd, running_mean, running_var, B, F, momentum, eps);
	else
		for (int f = 0; f < F; f++)
		{
			mean[f] = running_mean[f];
			invstd[f] = 1.0f / sqrtf(running_var[f] + eps);
		}
	for (int f = 0; f < F; f++)
	{
		scale[f] = gamma[f] * invstd[f];
		shift[f] = beta[f] - mean[f] * scale[f];
	}
	for (int b = 0; b < B; b++)
	{
		if (drop)
			draw_mask_bits(bits, F, rng);
		norm_row(out + (size_t) b * F, xhat + (size_t) b * F, x + (size_t) b * F, mean, invstd,
				 scale, shift, bits, (uint16_t) (threshold > 65535 ? 65535 : threshold),
				 keep_scale, F);
	}
}

CF_VECTOR_CLONES void
cf_norm_block_backward(float *dx, float *restrict dgamma, float *restrict dbeta,
					   const float *dout, const float *restrict out,
					   const float *restrict xhat, const float *restrict gamma,
					   const float *restrict invstd, int B, int F, float dropout,
					   float *restrict scratch)
{
	/*
	 * out > 0 exactly where ReLU passed and dropout kept the unit, and then
	 * d out / d y = 1/(1−p); elsewhere 0.  So out alone encodes both masks.
	 * dx may be dout: each element is read before it is written.
	 */
	float		keep_scale = dropout > 0.0f ? 1.0f / (1.0f - dropout) : 1.0f;
	float	   *restrict sum_dy = scratch;
	float	   *restrict sum_dy_xhat = scratch + F;
	float	   *restrict k = scratch + 2 * F;

	for (int f = 0; f < F; f++)
		sum_dy[f] = 0.0f, sum_dy_xhat[f] = 0.0f;
	/* dy (gradient at the batch-norm output) is kept in dx for now */
	for (int b = 0; b < B; b++)
	{
		const float *dor = dout + (size_t) b * F;
		const float *orow = out + (size_t) b * F;
		const float *hr = xhat + (size_t) b * F;
		float	   *dr = dx + (size_t) b * F;

		/*
		 * dr may be dor itself, element for element, which defeats GCC's
		 * overlap check: ivdep says that each f reads before it writes.
		 */
#pragma GCC ivdep
		for (int f = 0; f < F; f++)
		{
			float		g = dor[f] * keep_scale;
			float		dy = orow[f] > 0.0f ? g : 0.0f;

			dr[f] = dy;
			sum_dy[f] += dy;
			sum_dy_xhat[f] += dy * hr[f];
		}
	}
	for (int f = 0; f < F; f++)
	{
		dgamma[f] = sum_dy_xhat[f];
		dbeta[f] = sum_dy[f];
		k[f] = gamma[f] * invstd[f] / (float) B;
	}
	for (int b = 0; b < B; b++)
	{
		const float *hr = xhat + (size_t) b * F;
		float	   *dr = dx + (size_t) b * F;

		for (int f = 0; f < F; f++)
			dr[f] = k[f] * ((float) B * dr[f] - sum_dy[f] - hr[f] * sum_dy_xhat[f]);
	}
}

void
cf_linear_forward(float *out, const float *in, const float *W, const float *b,
				  int B, int in_dim, int out_dim)
{
	if (out_dim == 1)
	{
		cblas_sgemv(CblasRowMajor, CblasNoTrans, B, in_dim, 1.0f, in, in_dim, W, 1, 0.0f, out, 1);
		for (int r = 0; r < B; r++)
			out[r] += b[0];
		return;
	}
	/* Start from the bias so the product accumulates onto it. */
	for (int r = 0; r < B; r++)
		memcpy(out + (size_t) r * out_dim, b, out_dim * sizeof(float));
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, out_dim, in_dim,
				1.0f, in, in_dim, W, in_dim, 1.0f, out, out_dim);
}

void
cf_linear_backward(float *din, float *dW, float *db, const float *dout,
				   const float *in, const float *W, int B, int in_dim, int out_dim)
{
	for (int o = 0; o < out_dim; o++)
		db[o] = 0.0f;
	for (int r = 0; r < B; r++)
	{
		const float *dr = dout + (size_t) r * out_dim;

		for (int o = 0; o < out_dim; o++)
			db[o] += dr[o];
	}
	if (out_dim == 1)
	{
		cblas_sgemv(CblasRowMajor, CblasTrans, B, in_dim, 1.0f, in, in_dim, dout, 1, 0.0f, dW, 1);
		if (din)
			for (int r = 0; r < B; r++)
				for (int i = 0; i < in_dim; i++)
					din[(size_t) r * in_dim + i] = dout[r] * W[i];
		return;
	}
	/* dW (out_dim × in_dim) = doutᵀ (out_dim × B) · in (B × in_dim) */
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out_dim, in_dim, B,
				1.0f, dout, out_dim, in, in_dim, 0.0f, dW, in_dim);
	/* din (B × in_dim) = dout (B × out_dim) · W (out_dim × in_dim) */
	if (din)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, in_dim, out_dim,
					1.0f, dout, out_dim, W, in_dim, 0.0f, din, in_dim);
}

double
cf_mse_forward(const float *yhat, const float *r, int B)
{
	double		sum = 0.0;

	for (int b = 0; b < B; b++)
	{
		double		d = (double) yhat[b] - r[b];

		sum += d * d;
	}
	return sum / B;
}

void
cf_mse_backward(float *dyhat, const float *yhat, const float *r, int B)
{
	for (int b = 0; b < B; b++)
		dyhat[b] = 2.0f * (yhat[b] - r[b]) / (float) B;
}

/* ---- the whole network ---- */

/* ŷ from the MLP's output (in raw) plus the dot branch and the biases, then squashed. */
static void
output_forward(const CfModel *m, CfWorkspace *ws, const int32_t *users, const int32_t *items,
			   int B)
{
	const CfNetConfig *c = &m->cfg;
	int			E = c->mlp ? c->emb_dim : 0,
				W = cf_row_width(c);
	bool		squash = c->y_max > c->y_min;

	for (int b = 0; b < B; b++)
	{
		const float *ur = m->p[CF_USER_EMB] + (size_t) users[b] * W;
		const float *ir = m->p[CF_ITEM_EMB] + (size_t) items[b] * W;
		float		raw = ws->raw[b];

		for (int d = 0; d < c->dot_dim; d++)
			raw += ur[E + d] * ir[E + d];
		if (c->biases)
			raw += ur[W - 1] + ir[W - 1];
		ws->raw[b] = raw;
		ws->yhat[b] = squash ? c->y_min + (c->y_max - c->y_min) / (1.0f + expf(-raw)) : raw;
	}
}

/* The rows' gradients: the MLP's dx0 (may be NULL), the dot branch, the biases. */
static void
rows_backward(const CfModel *m, CfWorkspace *ws, const int32_t *users, const int32_t *items,
			  int B)
{
	const CfNetConfig *c = &m->cfg;
	int			E = c->mlp ? c->emb_dim : 0,
				W = cf_row_width(c);
	float		k_row = 2.0f * c->row_l2 / B,
				k_bias = 2.0f * c->bias_l2 / B;

	for (int b = 0; b < B; b++)
	{
		const float *ur = m->p[CF_USER_EMB] + (size_t) users[b] * W;
		const float *ir = m->p[CF_ITEM_EMB] + (size_t) items[b] * W;
		float	   *du = ws->drow_user + (size_t) b * W;
		float	   *di = ws->drow_item + (size_t) b * W;
		float		g = ws->draw[b];
		int			penalised = E + c->dot_dim;

		if (E > 0)
		{
			memcpy(du, ws->dx0 + (size_t) b * 2 * E, E * sizeof(float));
			memcpy(di, ws->dx0 + (size_t) b * 2 * E + E, E * sizeof(float));
		}
		for (int d = 0; d < c->dot_dim; d++)
		{
			du[E + d] = g * ir[E + d];
			di[E + d] = g * ur[E + d];
		}
		if (c->biases)
		{
			du[W - 1] = g + k_bias * ur[W - 1];
			di[W - 1] = g + k_bias * ir[W - 1];
		}
		if (k_row > 0.0f)
			for (int k = 0; k < penalised; k++)
			{
				du[k] += k_row * ur[k];
				di[k] += k_row * ir[k];
			}
	}
	cf_embedding_backward(&ws->user_grad, ws->drow_user, W, users, B);
	cf_embedding_backward(&ws->item_grad, ws->drow_item, W, items, B);
}

double
cf_net_forward_backward(CfModel *m, CfWorkspace *ws, const int32_t *users,
						const int32_t *items, const float *ratings, int B)
{
	const CfNetConfig *c = &m->cfg;
	int			E = c->emb_dim,
				F = 2 * E,
				H = c->hidden,
				W = cf_row_width(c);
	float	  **p = m->p;
	float	  **g = ws->g;
	double		loss;

	if (c->mlp)
	{
		cf_embedding_forward(ws->x0, p[CF_USER_EMB], p[CF_ITEM_EMB], users, items, B, E, W);
		cf_norm_block_forward(ws->x1, ws->xhat1, ws->bn1_invstd, ws->x0,
							  p[CF_BN1_GAMMA], p[CF_BN1_BETA], m->s[CF_BN1_MEAN], m->s[CF_BN1_VAR],
							  B, F, c->bn_momentum, c->bn_eps, c->dropout_in, &ws->dropout_rng, true,
							  ws->scratch);
		cf_linear_forward(ws->h, ws->x1, p[CF_W1], p[CF_B1], B, F, H);
		cf_norm_block_forward(ws->x2, ws->xhat2, ws->bn2_invstd, ws->h,
							  p[CF_BN2_GAMMA], p[CF_BN2_BETA], m->s[CF_BN2_MEAN], m->s[CF_BN2_VAR],
							  B, H, c->bn_momentum, c->bn_eps, c->dropout_hidden, &ws->dropout_rng, true,
							  ws->scratch);
		cf_linear_forward(ws->raw, ws->x2, p[CF_W2], p[CF_B2], B, H, 1);
	}
	else
		for (int b = 0; b < B; b++)
			ws->raw[b] = p[CF_B2][0];
	output_forward(m, ws, users, items, B);
	loss = cf_mse_forward(ws->yhat, ratings, B);

	cf_mse_backward(ws->dyhat, ws->yhat, ratings, B);
	for (int b = 0; b < B; b++)
	{
		float		s = c->y_max > c->y_min
			? (ws->yhat[b] - c->y_min) / (c->y_max - c->y_min) : 0.0f;

		/* dσ/draw = σ(1 − σ), σ recovered from ŷ */
		ws->draw[b] = c->y_max > c->y_min
			? ws->dyhat[b] * (c->y_max - c->y_min) * s * (1.0f - s) : ws->dyhat[b];
	}
	if (c->mlp)
	{
		/* dx2 is only needed inside the next backward: reuse dh's memory for it */
		cf_linear_backward(ws->dh, g[CF_W2], g[CF_B2], ws->draw, ws->x2, p[CF_W2], B, H, 1);
		cf_norm_block_backward(ws->dh, g[CF_BN2_GAMMA], g[CF_BN2_BETA], ws->dh, ws->x2, ws->xhat2,
							   p[CF_BN2_GAMMA], ws->bn2_invstd, B, H, c->dropout_hidden, ws->scratch);
		cf_linear_backward(ws->dx1, g[CF_W1], g[CF_B1], ws->dh, ws->x1, p[CF_W1], B, F, H);
		cf_norm_block_backward(ws->dx0, g[CF_BN1_GAMMA], g[CF_BN1_BETA], ws->dx1, ws->x1, ws->xhat1,
							   p[CF_BN1_GAMMA], ws->bn1_invstd, B, F, c->dropout_in, ws->scratch);
	}
	else
	{
		g[CF_B2][0] = 0.0f;
		for (int b = 0; b < B; b++)
			g[CF_B2][0] += ws->draw[b];
	}
	rows_backward(m, ws, users, items, B);
	return loss;
}

/* ---- inference ---- */

void
cf_inference_alloc(CfInference *inf, const CfNetConfig *cfg, const CfAllocator *a)
{
	size_t		F = cfg->mlp ? 2 * (size_t) cfg->emb_dim : 0,
				H = cfg->mlp ? cfg->hidden : 0;

	inf->E = (int32_t) F / 2;
	inf->H = (int32_t) H;
	inf->D = cfg->dot_dim;
	inf->W = cf_row_width(cfg);
	inf->biases = cfg->biases;
	inf->y_min = cfg->y_min;
	inf->y_max = cfg->y_max;
	inf->bn1_scale = cf_alloc_floats(a, F);
	inf->bn1_shift = cf_alloc_floats(a, F);
	inf->W1 = cf_alloc_floats(a, H * F);
	inf->c = cf_alloc_floats(a, H);
	inf->w2 = cf_alloc_floats(a, H);
}

void
cf_inference_fold(CfInference *inf, const CfModel *m)
{
	int			F = 2 * inf->E,
				H = inf->H;
	float		eps = m->cfg.bn_eps;

	for (int f = 0; f < F; f++)
	{
		float		s = m->p[CF_BN1_GAMMA][f] / sqrtf(m->s[CF_BN1_VAR][f] + eps);

		inf->bn1_scale[f] = s;
		inf->bn1_shift[f] = m->p[CF_BN1_BETA][f] - m->s[CF_BN1_MEAN][f] * s;
	}
	/* bn2(W1 x + b1) = s2 ⊙ (W1 x) + s2 ⊙ (b1 − μ2) + β2 */
	for (int h = 0; h < H; h++)
	{
		float		s = m->p[CF_BN2_GAMMA][h] / sqrtf(m->s[CF_BN2_VAR][h] + eps);
		const float *wr = m->p[CF_W1] + (size_t) h * F;
		float	   *fr = inf->W1 + (size_t) h * F;

		for (int f = 0; f < F; f++)
			fr[f] = wr[f] * s;
		inf->c[h] = s * (m->p[CF_B1][h] - m->s[CF_BN2_MEAN][h]) + m->p[CF_BN2_BETA][h];
		inf->w2[h] = m->p[CF_W2][h];
	}
	inf->b2 = m->p[CF_B2][0];
}

static void
bn1_relu_row(const CfInference *inf, float *dst, const float *src, int half)
{
	int			E = inf->E;
	const float *s = inf->bn1_scale + half * E;
	const float *t = inf->bn1_shift + half * E;

	for (int e = 0; e < E; e++)
	{
		float		y = src[e] * s[e] + t[e];

		dst[e] = y > 0.0f ? y : 0.0f;
	}
}

void
cf_inference_project(const CfInference *inf, const float *emb, int n, int half,
					 float *tmp, float *out)
{
	int			E = inf->E,
				F = 2 * E,
				H = inf->H;

	if (H == 0)
		return;
	for (int r = 0; r < n; r++)
		bn1_relu_row(inf, tmp + (size_t) r * E, emb + (size_t) r * inf->W, half);
	if (half == 1)
		for (int r = 0; r < n; r++)
			memcpy(out + (size_t) r * H, inf->c, H * sizeof(float));
	/* out (n × H) += tmp (n × E) · W1[:, half]ᵀ, a column block of W1 (H × F) */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, H, E,
				1.0f, tmp, E, inf->W1 + half * E, F, half == 1 ? 1.0f : 0.0f, out, H);
}

void
cf_inference_batch(const CfInference *inf, const CfModel *m, const int32_t *users,
				   const int32_t *items, int B, float *tmp, float *out)
{
	int			E = inf->E,
				F = 2 * E,
				H = inf->H,
				W = inf->W;
	float	   *x = tmp;
	float	   *z = tmp + (size_t) B * F;

	if (H > 0)
	{
		for (int b = 0; b < B; b++)
		{
			bn1_relu_row(inf, x + (size_t) b * F, m->p[CF_USER_EMB] + (size_t) users[b] * W, 0);
			bn1_relu_row(inf, x + (size_t) b * F + E, m->p[CF_ITEM_EMB] + (size_t) items[b] * W, 1);
		}
		cf_linear_forward(z, x, inf->W1, inf->c, B, F, H);
		for (size_t i = 0; i < (size_t) B * H; i++)
			z[i] = z[i] > 0.0f ? z[i] : 0.0f;
		cblas_sgemv(CblasRowMajor, CblasNoTrans, B, H, 1.0f, z, H, inf->w2, 1, 0.0f, out, 1);
	}
	else
		for (int b = 0; b < B; b++)
			out[b] = 0.0f;
	for (int b = 0; b < B; b++)
	{
		const float *ur = m->p[CF_USER_EMB] + (size_t) users[b] * W;
		const float *ir = m->p[CF_ITEM_EMB] + (size_t) items[b] * W;
		float		raw = out[b] + inf->b2;

		if (inf->D > 0)
			raw += cf_inference_dot(ur + E, ir + E, inf->D);
		out[b] = cf_inference_finish(inf, raw, ur, ir);
	}
}

/*
 * Sixteen partial sums, so the compiler can vectorise the reduction without
 * reassociating floats; cf_inference_score and cf_inference_scores share it,
 * so a prediction and a recommendation score an item identically.
 */
static inline float
score_one(const float *restrict pu, const float *restrict qi, const float *restrict w2, int H)
{
	float		acc[16] = {0};
	float		sum = 0.0f;
	int			h = 0;

	for (; h + 16 <= H; h += 16)
		for (int l = 0; l < 16; l++)
		{
			float		z = pu[h + l] + qi[h + l];

			acc[l] += w2[h + l] * (z > 0.0f ? z : 0.0f);
		}
	for (; h < H; h++)
	{
		float		z = pu[h] + qi[h];

		sum += w2[h] * (z > 0.0f ? z : 0.0f);
	}
	for (int l = 0; l < 16; l++)
		sum += acc[l];
	return sum;
}

CF_VECTOR_CLONES float
cf_inference_dot(const float *a, const float *b, int n)
{
	return cf_dot16(a, b, n);
}

void
cf_quantize_rows(const float *rows, size_t stride, int n, int count, int8_t *q, float *scale,
				 float *l1)
{
	int			padded = cf_quantized_width(n);

	for (int i = 0; i < count; i++)
	{
		const float *x = rows + (size_t) i * stride;
		int8_t	   *qi = q + (size_t) i * padded;
		float		maxabs = 0.0f;
		int32_t		sum = 0;

		for (int j = 0; j < n; j++)
			maxabs = fmaxf(maxabs, fabsf(x[j]));
		scale[i] = maxabs / 127.0f;
		for (int j = 0; j < padded; j++)
		{
			long		c = j < n && maxabs > 0.0f ? lrintf(x[j] / scale[i]) : 0;

			qi[j] = (int8_t) (c > 127 ? 127 : (c < -127 ? -127 : c));
			sum += qi[j] < 0 ? -qi[j] : qi[j];
		}
		if (l1)
			l1[i] = (float) sum;
	}
}

/* Four rows at a time share the loads of u; integer sums are exact in any order. */
CF_VECTOR_CLONES void
cf_quantized_dots(const int8_t *u, float u_scale, const int8_t *q, const float *scale,
				  int padded, int count, float *out)
{
	int			i = 0;

	for (; i + 4 <= count; i += 4)
	{
		const int8_t *q0 = q + (size_t) i * padded,
				   *q1 = q0 + padded,
				   *q2 = q1 + padded,
				   *q3 = q2 + padded;
		int32_t		a0 = 0,
					a1 = 0,
					a2 = 0,
					a3 = 0;

		for (int j = 0; j < padded; j++)
		{
			int16_t		x = u[j];

			a0 += x * (int16_t) q0[j];
			a1 += x * (int16_t) q1[j];
			a2 += x * (int16_t) q2[j];
			a3 += x * (int16_t) q3[j];
		}
		out[i] = u_scale * scale[i] * (float) a0;
		out[i + 1] = u_scale * scale[i + 1] * (float) a1;
		out[i + 2] = u_scale * scale[i + 2] * (float) a2;
		out[i + 3] = u_scale * scale[i + 3] * (float) a3;
	}
	for (; i < count; i++)
	{
		const int8_t *qi = q + (size_t) i * padded;
		int32_t		a = 0;

		for (int j = 0; j < padded; j++)
			a += (int16_t) u[j] * (int16_t) qi[j];
		out[i] = u_scale * scale[i] * (float) a;
	}
}

/* One call of cf_inference_dot per row: the very code a single prediction runs. */
void
cf_inference_dots(const float *u, const float *rows, size_t stride, int n, int count, float *out)
{
	for (int i = 0; i < count; i++)
		out[i] += cf_inference_dot(u, rows + (size_t) i * stride, n);
}

CF_VECTOR_CLONES float
cf_inference_score(const CfInference *inf, const float *pu, const float *qi)
{
	return score_one(pu, qi, inf->w2, inf->H) + inf->b2;
}

CF_VECTOR_CLONES void
cf_inference_scores(const CfInference *inf, const float *pu, const float *Q, int n, float *out)
{
	for (int i = 0; i < n; i++)
		out[i] = score_one(pu, Q + (size_t) i * inf->H, inf->w2, inf->H) + inf->b2;
}
