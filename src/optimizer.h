/*
 * optimizer.h — Adam with L2 weight decay (PyTorch's torch.optim.Adam
 * semantics: the decay is added to the gradient), dense for the layers and
 * sparse for the embeddings: only the rows a batch touched are updated, and
 * their moments are left alone otherwise (lazy Adam).  Bias correction uses
 * the global step count.  No PostgreSQL header here.
 */
#ifndef CFREC_OPTIMIZER_H
#define CFREC_OPTIMIZER_H

#include <stdint.h>

#include "alloc.h"
#include "network.h"

typedef struct CfAdam
{
	float		beta1, beta2, eps;
	float		weight_decay;	/* dense layers */
	float		row_weight_decay;	/* user and item rows, applied when a row is used */
	int64_t		t;				/* steps taken */
	size_t		n;				/* parameters */
	float	   *m, *v;			/* same layout as CfModel.params */
} CfAdam;

void		cf_adam_alloc(CfAdam *opt, const CfModel *model, float weight_decay,
						  float row_weight_decay, const CfAllocator *a);
/* Back to the state of a fresh optimizer (zero moments, t = 0). */
void		cf_adam_reset(CfAdam *opt);

/* Moments for n parameters, for blocks that are not a CfModel's. */
void		cf_adam_alloc_n(CfAdam *opt, size_t n, float weight_decay, const CfAllocator *a);

/* One update of n dense parameters at offset `offset` of the block. */
void		cf_adam_dense(CfAdam *opt, float *param, const float *grad, size_t offset,
						  size_t n, float lr);
/* The same with its own L2 coefficient instead of opt->weight_decay. */
void		cf_adam_dense_decayed(CfAdam *opt, float *param, const float *grad, size_t offset,
								  size_t n, float lr, float weight_decay);
/* One update of the rows listed in g, of the table starting at offset. */
void		cf_adam_sparse(CfAdam *opt, float *table, const CfSparseGrad *g, size_t offset,
						   float lr);
/* Advances t, then updates every parameter of the model from the workspace. */
void		cf_adam_step(CfAdam *opt, CfModel *m, const CfWorkspace *ws, float lr);

#endif
