/*
 * server.h — serving: a per-backend cache of loaded models and the scoring
 * behind cf_predict and cf_recommend.
 *
 * A backend loads a model once, folds batch norm into the first layer and
 * precomputes the item half of that layer (and the user half while it fits
 * in CF_USER_PROJECTION_BYTES), so scoring an item is one add, one ReLU and
 * one dot product of length H.  Which model a name means is looked up again
 * at each new statement: a model trained and committed elsewhere replaces the
 * cached one from the next statement on.
 *
 * Fallbacks, for ids the model never saw:
 *   predict: known user, new item → the user's mean rating; new user, known
 *   item → the item's mean; both new → the global mean.
 *   recommend: a new user gets the most rated items, scored by their mean.
 * Predictions are clipped to the rating range seen in training.
 */
#ifndef CFREC_SERVER_H
#define CFREC_SERVER_H

#include "postgres.h"

#define CF_USER_PROJECTION_BYTES ((Size) 256 * 1024 * 1024)

/* Predicted rating; *fallback tells whether the network was bypassed. */
double		cf_serve_predict(const char *model, int64 user_id, int64 item_id, bool *fallback);

typedef struct CfScoredItem
{
	int64		item_id;
	double		score;
} CfScoredItem;

/*
 * Top k items for the user, best first, in a palloc'd *out; items the user has
 * rated in the model's source relation are left out when exclude_rated.
 * Returns how many there are (fewer than k when the model has fewer items).
 */
int			cf_serve_recommend(const char *model, int64 user_id, int k, bool exclude_rated,
							   CfScoredItem **out);

#endif
