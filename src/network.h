/*
 * network.h — the seed's network: parameter layout, one forward and one
 * backward function per layer, and the inference form.
 *
 *   x0 = [U[user] V[item]]                      B × 2E   (embedding)
 *   x1 = dropout(relu(bn1(x0)), p_in)           B × 2E   (norm block)
 *   h  = x1 · W1ᵀ + b1                          B × H    (linear, sgemm)
 *   x2 = dropout(relu(bn2(h)), p_hidden)        B × H    (norm block)
 *   ŷ  = x2 · w2 + b2                           B        (linear, sgemv)
 *   loss = mean((ŷ − r)²)                                (mse)
 *
 * Batch norm, ReLU and dropout are one fused "norm block" layer: three
 * element-wise passes over B × F would cost more memory traffic than the
 * products around them.  All parameters live in one contiguous block, laid
 * out as in llm.c: embeddings first, then the dense tensors, so the dense
 * part is one span for the optimizer.  No PostgreSQL header here.
 */
#ifndef CFREC_NETWORK_H
#define CFREC_NETWORK_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc.h"
#include "rng.h"

/*
 * Element-wise passes are compiled for several instruction sets and the best
 * is picked when the library loads, so one build runs well everywhere.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define CF_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CF_VECTOR_CLONES
#endif

/*
 * a · b over n floats in 16 partial sums: the compiler can vectorise the
 * reduction without reassociating floats, so every caller built for the same
 * instruction set gets the same sum.
 */
static inline float
cf_dot16(const float *restrict a, const float *restrict b, int n)
{
	float		acc[16] = {0};
	float		sum = 0.0f;
	int			j = 0;

	for (; j + 16 <= n; j += 16)
		for (int l = 0; l < 16; l++)
			acc[l] += a[j + l] * b[j + l];
	for (; j < n; j++)
		sum += a[j] * b[j];
	for (int l = 0; l < 16; l++)
		sum += acc[l];
	return sum;
}

typedef struct CfNetConfig
{
	int32_t		n_users;
	int32_t		n_items;
	bool		mlp;			/* the seed's two-layer branch */
	int32_t		emb_dim;		/* E, embedding of the MLP branch */
	int32_t		hidden;			/* H */
	int32_t		dot_dim;		/* D, a dot-product branch beside the MLP; 0: none */
	bool		biases;			/* per-user and per-item bias terms */
	float		y_min;			/* y_max > y_min: ŷ = y_min + (y_max − y_min)·σ(raw) */
	float		y_max;
	float		dropout_in;		/* before the first linear layer */
	float		dropout_hidden; /* before the output layer */
	float		bn_momentum;	/* running statistics, PyTorch's convention */
	float		bn_eps;
	/*
	 * L2 penalties in the loss on the rows a batch uses, per rating (the
	 * classic matrix-factorisation regulariser: frequent users and items are
	 * held back more):  + row_l2 · mean‖embeddings‖² + bias_l2 · mean bias².
	 */
	float		row_l2;
	float		bias_l2;
} CfNetConfig;

/*
 * The seed's network: E 100, H 500, dropout 0.1 / 0.2, batch norm 0.1 / 1e-5,
 * no dot branch, no biases, no output squashing.
 */
void		cf_net_config_default(CfNetConfig *cfg, int32_t n_users, int32_t n_items);

/*
 * Each user (and item) is one row of its table: [MLP embedding (E) | dot
 * embedding (D) | bias (1)], so one sparse update serves all three.
 */
static inline int32_t
cf_row_width(const CfNetConfig *cfg)
{
	return (cfg->mlp ? cfg->emb_dim : 0) + cfg->dot_dim + (cfg->biases ? 1 : 0);
}

enum CfParamTensor
{
	CF_USER_EMB,				/* n_users × row width */
	CF_ITEM_EMB,				/* n_items × row width */
	CF_BN1_GAMMA,				/* 2E */
	CF_BN1_BETA,				/* 2E */
	CF_W1,						/* H × 2E */
	CF_B1,						/* H */
	CF_BN2_GAMMA,				/* H */
	CF_BN2_BETA,				/* H */
	CF_W2,						/* H */
	CF_B2,						/* 1: the output bias, also the global offset */
	CF_NUM_PARAMS
};
#define CF_FIRST_DENSE CF_BN1_GAMMA

/* Names used in the model store, PyTorch's state_dict names. */
extern const char *const cf_param_names[CF_NUM_PARAMS];

enum CfStatTensor
{
	CF_BN1_MEAN, CF_BN1_VAR,	/* 2E each */
	CF_BN2_MEAN, CF_BN2_VAR,	/* H each */
	CF_NUM_STATS
};
extern const char *const cf_stat_names[CF_NUM_STATS];

/* Parameters and batch-norm running statistics: everything a model is. */
typedef struct CfModel
{
	CfNetConfig cfg;
	size_t		sizes[CF_NUM_PARAMS];
	size_t		num_params;
	size_t		dense_offset;	/* index of the first dense parameter */
	float	   *params;
	float	   *p[CF_NUM_PARAMS];
	size_t		stat_sizes[CF_NUM_STATS];
	float	   *stats;
	float	   *s[CF_NUM_STATS];
} CfModel;

/* Sizes only, so callers can check memory before allocating. */
void		cf_model_layout(CfModel *m, const CfNetConfig *cfg);
void		cf_model_alloc(CfModel *m, const CfNetConfig *cfg, const CfAllocator *a);
/*
 * PyTorch's default initialisation, except embeddings ~ N(0, 0.01²), biases 0
 * and the output bias at `offset` (the mean rating, or its logit in y_range).
 */
void		cf_model_init(CfModel *m, uint64_t seed, float offset);

/* Gradients of one embedding table for one batch: one row per distinct index. */
typedef struct CfSparseGrad
{
	int32_t		n_rows;			/* rows of the table */
	int32_t		dim;
	int32_t		n_used;			/* distinct rows in this batch */
	int32_t    *rows;			/* [n_used] table row of each slot */
	float	   *grad;			/* [n_used × dim] */
	int32_t    *slot;			/* [n_rows] slot of a row, valid when stamp matches */
	uint32_t   *stamp;			/* [n_rows] batch number that last used the row */
	uint32_t	batch;
} CfSparseGrad;

/* Activations and gradients for batches of up to max_batch rows. */
typedef struct CfWorkspace
{
	int32_t		max_batch;
	float	   *x0, *xhat1, *x1, *h, *xhat2, *x2, *yhat;
	float	   *raw;			/* output before squashing */
	float	   *dyhat, *draw, *dh, *dx1, *dx0;
	float	   *drow_user, *drow_item;	/* B × row width, gradients of the rows */
	float	   *bn1_invstd, *bn2_invstd;
	float	   *scratch;		/* 4 × max(2E, H): per-feature vectors of a norm block */
	float	   *dense_grads;	/* same layout as the dense tail of params */
	float	   *g[CF_NUM_PARAMS];	/* into dense_grads; NULL for embeddings */
	CfSparseGrad user_grad, item_grad;
	CfRng		dropout_rng;
} CfWorkspace;

size_t		cf_workspace_bytes(const CfNetConfig *cfg, int32_t max_batch);
void		cf_workspace_alloc(CfWorkspace *ws, const CfModel *m, int32_t max_batch,
							   uint64_t seed, const CfAllocator *a);

/* ---- layers ---- */
/* x0 = [first E of the user's row, first E of the item's row], rows W apart. */
void		cf_embedding_forward(float *x0, const float *user_emb, const float *item_emb,
								 const int32_t *users, const int32_t *items, int B, int E,
								 int W);
/* Sums dx (B rows, stride floats apart) into one slot per distinct index. */
void		cf_embedding_backward(CfSparseGrad *g, const float *dx, int stride,
								  const int32_t *index, int B);

/*
 * out = dropout(relu(gamma · (x − μ)/σ + beta)).  Training: batch statistics,
 * running ones updated, dropout drawn from rng.  Inference: running statistics,
 * no dropout (rng unused).  xhat and invstd are kept for the backward pass.
 * scratch holds 4F floats (3F for the backward); dx may be the same array as dout.
 */
void		cf_norm_block_forward(float *out, float *xhat, float *invstd, const float *x,
								  const float *gamma, const float *beta,
								  float *running_mean, float *running_var,
								  int B, int F, float momentum, float eps,
								  float dropout, CfRng *rng, bool training, float *scratch);
/* dx from dout; dgamma and dbeta are overwritten.  out is the forward output. */
void		cf_norm_block_backward(float *dx, float *dgamma, float *dbeta,
								   const float *dout, const float *out, const float *xhat,
								   const float *gamma, const float *invstd,
								   int B, int F, float dropout, float *scratch);

/* out (B × out_dim) = in (B × in_dim) · Wᵀ (W is out_dim × in_dim) + b */
void		cf_linear_forward(float *out, const float *in, const float *W, const float *b,
							  int B, int in_dim, int out_dim);
/* dW, db overwritten; din skipped when NULL. */
void		cf_linear_backward(float *din, float *dW, float *db, const float *dout,
							   const float *in, const float *W, int B, int in_dim, int out_dim);

/* mean((ŷ − r)²) and its gradient. */
double		cf_mse_forward(const float *yhat, const float *r, int B);
void		cf_mse_backward(float *dyhat, const float *yhat, const float *r, int B);

/* ---- the whole network ---- */
/* Training-mode forward and backward of one batch; returns the batch MSE. */
double		cf_net_forward_backward(CfModel *m, CfWorkspace *ws, const int32_t *users,
									const int32_t *items, const float *ratings, int B);

/*
 * Inference form: bn1 becomes a per-feature affine map applied to the
 * embeddings before ReLU, bn2 is folded into W1 and b1.  Then
 *   ŷ = w2 · relu(P[user] + Q[item]) + b2,
 *   P[u] = W1_user · relu(s ⊙ U[u] + t),  Q[i] = W1_item · relu(s ⊙ V[i] + t) + c.
 */
typedef struct CfInference
{
	int32_t		E, H;			/* E = 0, H = 0 without the MLP branch */
	int32_t		D;
	int32_t		W;				/* row width */
	bool		biases;
	float		y_min, y_max;
	float	   *bn1_scale, *bn1_shift;	/* 2E */
	float	   *W1;				/* H × 2E, bn2 folded in */
	float	   *c;				/* H, b1 and bn2 folded in */
	float	   *w2;				/* H */
	float		b2;
} CfInference;

void		cf_inference_alloc(CfInference *inf, const CfNetConfig *cfg, const CfAllocator *a);
void		cf_inference_fold(CfInference *inf, const CfModel *m);
/*
 * out (n × H) = W1_half · relu(bn1 on emb rows) (+ c for items), for n rows of
 * one embedding table.  half 0 = users, 1 = items.  tmp holds n × E floats.
 */
void		cf_inference_project(const CfInference *inf, const float *emb, int n, int half,
								 float *tmp, float *out);
/* The MLP branch's ŷ part for one item: w2 · relu(pu + qi) + b2. */
float		cf_inference_score(const CfInference *inf, const float *pu, const float *qi);
/* The same for n items whose projections are rows of Q (n × H), into out. */
void		cf_inference_scores(const CfInference *inf, const float *pu, const float *Q, int n,
								float *out);

/* Biases (0 without) and squashing on top of the MLP and dot parts. */
static inline float
cf_inference_finish_biased(const CfInference *inf, float raw, float user_bias, float item_bias)
{
	if (inf->biases)
		raw += user_bias + item_bias;
	if (inf->y_max > inf->y_min)
		raw = inf->y_min + (inf->y_max - inf->y_min) / (1.0f + expf(-raw));
	return raw;
}

static inline float
cf_inference_finish(const CfInference *inf, float raw, const float *user_row,
					const float *item_row)
{
	return inf->biases
		? cf_inference_finish_biased(inf, raw, user_row[inf->W - 1], item_row[inf->W - 1])
		: cf_inference_finish_biased(inf, raw, 0.0f, 0.0f);
}

/* a · b over n floats, in 16 partial sums (vectorisable without reassociation). */
float		cf_inference_dot(const float *a, const float *b, int n);
/*
 * out[i] += rows[i · stride ..] · u over n floats, for count rows: the dot
 * branch of many items at once, each summed exactly as cf_inference_dot does.
 */
void		cf_inference_dots(const float *u, const float *rows, size_t stride, int n, int count,
							  float *out);

/*
 * int8 codes of the first n floats of count rows (stride floats apart), for a
 * cheap first pass over the item table: row i is q[i · padded ..] with
 * padded = cf_quantized_width(n) (zeros past n) and scale[i] = max |x| / 127,
 * so that |x − scale · q| ≤ scale / 2 in every element; l1[i] = Σ |q[i]|
 * (l1 may be NULL).
 */
static inline int
cf_quantized_width(int n)
{
	return (n + 15) & ~15;
}
void		cf_quantize_rows(const float *rows, size_t stride, int n, int count, int8_t *q,
							 float *scale, float *l1);
/*
 * out[i] = u_scale · scale[i] · (u · q[i]), u and the rows coded by
 * cf_quantize_rows, the integer sum exact.  It differs from the float dot of
 * the uncoded vectors by at most
 *   CF_QUANTIZED_BOUND · scale[i] · (‖u‖₁ + u_scale · l1[i])
 * (half a step of each side's coding, and a margin for the float rounding of
 * the exact sum, n · ε · ‖u‖₁ · max |x|, below it for n up to 65,536), plus
 * the rounding of the one product.
 */
#define CF_QUANTIZED_BOUND 0.51f
void		cf_quantized_dots(const int8_t *u, float u_scale, const int8_t *q, const float *scale,
							  int padded, int count, float *out);

/*
 * The whole prediction from the MLP part's projections (NULL without the
 * MLP) and the user's and item's rows.
 */
static inline float
cf_inference_predict(const CfInference *inf, const float *pu, const float *qi,
					 const float *user_row, const float *item_row)
{
	float		raw = inf->H > 0 ? cf_inference_score(inf, pu, qi) : inf->b2;

	if (inf->D > 0)
		raw += cf_inference_dot(user_row + inf->E, item_row + inf->E, inf->D);
	return cf_inference_finish(inf, raw, user_row, item_row);
}

/* Eval-mode predictions for B (user, item) pairs; tmp holds B × (2E + H) floats. */
void		cf_inference_batch(const CfInference *inf, const CfModel *m, const int32_t *users,
							   const int32_t *items, int B, float *tmp, float *out);

#endif
