/*
 * planted.h — planted low-rank ratings for the standalone tests of the math
 * core: r = 3.5 + b_u + b_i + U_u · V_i + noise, with biases N(0, 0.4²),
 * rank-k factors N(0, 0.7²) and noise N(0, 0.3²), clipped to 1–5; the last
 * tenth of the rows is the validation split.  Allocated from the caller's
 * allocator; a test binary includes it once, after tap.h.
 */
#ifndef CFREC_TEST_PLANTED_H
#define CFREC_TEST_PLANTED_H

#include "rng.h"
#include "trainer.h"

typedef struct PlantedSpec
{
	int			n_users,
				n_items,
				rank;
	int64_t		n_ratings;
	uint64_t	seed,
				stream;			/* the data's own stream */
	bool		unique_pairs;	/* one rating per (user, item), as in real data */
} PlantedSpec;

static void
planted_ratings(CfRatings *d, const CfAllocator *a, const PlantedSpec *p)
{
	CfRng		rng;
	double	   *U = a->alloc0(a->ctx, sizeof(double) * p->n_users * p->rank),
			   *V = a->alloc0(a->ctx, sizeof(double) * p->n_items * p->rank),
			   *bu = a->alloc0(a->ctx, sizeof(double) * p->n_users),
			   *bi = a->alloc0(a->ctx, sizeof(double) * p->n_items);
	bool	   *used = p->unique_pairs ? a->alloc0(a->ctx, (size_t) p->n_users * p->n_items) : NULL;

	cf_rng_seed(&rng, p->seed, p->stream);
	for (int u = 0; u < p->n_users; u++)
	{
		bu[u] = 0.4 * cf_rng_normal(&rng);
		for (int k = 0; k < p->rank; k++)
			U[u * p->rank + k] = 0.7 * cf_rng_normal(&rng);
	}
	for (int i = 0; i < p->n_items; i++)
	{
		bi[i] = 0.4 * cf_rng_normal(&rng);
		for (int k = 0; k < p->rank; k++)
			V[i * p->rank + k] = 0.7 * cf_rng_normal(&rng);
	}
	d->n_valid = p->n_ratings / 10;
	d->n_train = p->n_ratings - d->n_valid;
	d->user = a->alloc0(a->ctx, p->n_ratings * sizeof(int32_t));
	d->item = a->alloc0(a->ctx, p->n_ratings * sizeof(int32_t));
	d->rating = cf_alloc_floats(a, p->n_ratings);
	d->rating_min = 1.0f;
	d->rating_max = 5.0f;
	for (int64_t r = 0; r < p->n_ratings;)
	{
		int			u = (int) cf_rng_below(&rng, p->n_users),
					i = (int) cf_rng_below(&rng, p->n_items);
		double		y = 3.5 + bu[u] + bi[i] + 0.3 * cf_rng_normal(&rng);

		if (used)
		{
			if (used[(size_t) u * p->n_items + i])
				continue;
			used[(size_t) u * p->n_items + i] = true;
		}
		for (int k = 0; k < p->rank; k++)
			y += U[u * p->rank + k] * V[i * p->rank + k];
		d->user[r] = u;
		d->item[r] = i;
		d->rating[r] = (float) (y < 1 ? 1 : y > 5 ? 5 : y);
		r++;
	}
}

#endif
