/*
 * evaluate.h — a model against held-out ratings: rating error and ranking
 * quality, computed through the same serving code as cf_predict and
 * cf_recommend.
 */
#ifndef CFREC_EVALUATE_H
#define CFREC_EVALUATE_H

#include "postgres.h"

typedef struct CfEvaluation
{
	double		rmse;
	double		mae;
	int64		n_ratings;
	int64		n_fallback;		/* rows whose user or item the model never saw */
	double		precision_at_k;
	double		recall_at_k;
	double		ndcg_at_k;
	double		hit_rate_at_k;
	int64		n_ranked_users; /* test users with a relevant rating */
	double		relevant_at;
} CfEvaluation;

/*
 * relevant_at NaN means 4 on a 1–5 scale, scaled to the model's rating
 * range.  Recommendations leave out what the user rated in the model's
 * source relation.
 */
void		cf_evaluate_model(CfEvaluation *ev, const char *test_relation, const char *model,
							  int k, double relevant_at, const char *user_col,
							  const char *item_col, const char *rating_col);

#endif
