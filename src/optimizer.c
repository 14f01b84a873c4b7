#include "optimizer.h"

#include <math.h>
#include <string.h>

void
cf_adam_alloc_n(CfAdam *opt, size_t n, float weight_decay, const CfAllocator *a)
{
	opt->beta1 = 0.9f;
	opt->beta2 = 0.999f;
	opt->eps = 1e-8f;
	opt->weight_decay = weight_decay;
	opt->row_weight_decay = 0.0f;
	opt->t = 0;
	opt->n = n;
	opt->m = cf_alloc_floats(a, n);
	opt->v = cf_alloc_floats(a, n);
}

void
cf_adam_alloc(CfAdam *opt, const CfModel *model, float weight_decay, float row_weight_decay,
			  const CfAllocator *a)
{
	cf_adam_alloc_n(opt, model->num_params, weight_decay, a);
	opt->row_weight_decay = row_weight_decay;
}

void
cf_adam_reset(CfAdam *opt)
{
	opt->t = 0;
	memset(opt->m, 0, opt->n * sizeof(float));
	memset(opt->v, 0, opt->n * sizeof(float));
}

/*
 * The update of n consecutive parameters; step_size and bc2_sqrt carry the
 * bias corrections, as torch.optim.Adam computes them.
 */
CF_VECTOR_CLONES static void
adam_span(float *restrict p, const float *restrict g, float *restrict m, float *restrict v,
		  size_t n, float b1, float b2, float eps, float wd, float step_size, float bc2_sqrt)
{
	for (size_t i = 0; i < n; i++)
	{
		float		gi = g[i] + wd * p[i];

		m[i] = b1 * m[i] + (1.0f - b1) * gi;
		v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
		p[i] -= step_size * m[i] / (sqrtf(v[i]) / bc2_sqrt + eps);
	}
}

static void
bias_corrections(const CfAdam *opt, float lr, float *step_size, float *bc2_sqrt)
{
	double		bc1 = 1.0 - pow(opt->beta1, (double) opt->t);
	double		bc2 = 1.0 - pow(opt->beta2, (double) opt->t);

	*step_size = (float) (lr / bc1);
	*bc2_sqrt = (float) sqrt(bc2);
}

void
cf_adam_dense_decayed(CfAdam *opt, float *param, const float *grad, size_t offset, size_t n,
					  float lr, float weight_decay)
{
	float		step_size,
				bc2_sqrt;

	bias_corrections(opt, lr, &step_size, &bc2_sqrt);
	adam_span(param, grad, opt->m + offset, opt->v + offset, n,
			  opt->beta1, opt->beta2, opt->eps, weight_decay, step_size, bc2_sqrt);
}

void
cf_adam_dense(CfAdam *opt, float *param, const float *grad, size_t offset, size_t n, float lr)
{
	cf_adam_dense_decayed(opt, param, grad, offset, n, lr, opt->weight_decay);
}

void
cf_adam_sparse(CfAdam *opt, float *table, const CfSparseGrad *g, size_t offset, float lr)
{
	float		step_size,
				bc2_sqrt;
	size_t		E = g->dim;

	bias_corrections(opt, lr, &step_size, &bc2_sqrt);
	for (int32_t s = 0; s < g->n_used; s++)
	{
		size_t		row = (size_t) g->rows[s] * E;

		adam_span(table + row, g->grad + (size_t) s * E, opt->m + offset + row,
				  opt->v + offset + row, E, opt->beta1, opt->beta2, opt->eps,
				  opt->row_weight_decay, step_size, bc2_sqrt);
	}
}

void
cf_adam_step(CfAdam *opt, CfModel *m, const CfWorkspace *ws, float lr)
{
	size_t		item_offset = m->sizes[CF_USER_EMB];

	opt->t++;
	cf_adam_sparse(opt, m->p[CF_USER_EMB], &ws->user_grad, 0, lr);
	cf_adam_sparse(opt, m->p[CF_ITEM_EMB], &ws->item_grad, item_offset, lr);
	cf_adam_dense(opt, m->params + m->dense_offset, ws->dense_grads, m->dense_offset,
				  m->num_params - m->dense_offset, lr);
}
