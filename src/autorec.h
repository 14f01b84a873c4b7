/*
 * autorec.h — item-based AutoRec (Sedhain et al. 2015, I-AutoRec), the
 * default architecture.  Each item is the vector x of its ratings over all
 * users (missing entries are 0 and carry no loss):
 *
 *   h = σ(W1 x + c1)            H      (encoder; x is sparse: one row of W1 per rating)
 *   o = W2 h + c2               users  (decoder, evaluated at the observed users only)
 *   loss per batch of B items = [Σ_observed (o − r)² + λ/2 (‖W1‖² + ‖W2‖²) · B / n_items] / B
 *
 * trained with Adam at a rate decayed linearly to 0 over the epochs.  A step
 * updates the rows of the users its ratings are by (lazy Adam, the λ term on
 * those rows), so it costs O(ratings in the batch · H) whatever the number of
 * users.
 *
 * A trained AutoRec is a dot-product model: ŷ(u, i) = W2[u] · h_i + c2[u],
 * with h_i the encoding of item i's training ratings.  It is exported as a
 * CfModel without MLP branch (dot_dim H, biases, no squashing), so storing,
 * serving and evaluation are the same code as for every architecture.
 * No PostgreSQL header here.
 */
#ifndef CFREC_AUTOREC_H
#define CFREC_AUTOREC_H

#include "trainer.h"

/* ---- layers, for one item whose ratings are [from, to) of user/input/target ---- */
/* h = σ(c1 + Σ input_k · W1[user_k]); W1 is users × H, a row per user. */
void		cf_autorec_encoder_forward(float *h, const float *W1, const float *c1,
									   const int32_t *user, const float *input, int64_t from,
									   int64_t to, int H);
/*
 * The decoder where ratings are, o = W2[u] · h + c2[u], and the backward of
 * scale · Σ (o − target)²: added to gW2 and gc2, written to dh.  Returns
 * Σ (o − target)².
 */
double		cf_autorec_decoder_forward_backward(float *dh, float *gW2, float *gc2, const float *h,
												const float *W2, const float *c2,
												const int32_t *user, const float *target,
												int64_t from, int64_t to, int H, float scale);
/* Through the sigmoid (dh is overwritten with dz) into gc1 and gW1's used rows. */
void		cf_autorec_encoder_backward(float *gW1, float *gc1, float *dh, const float *h,
										const int32_t *user, const float *input, int64_t from,
										int64_t to, int H);

/*
 * Uses from cfg: n_users, n_items, hidden (H), epochs, batch_size (items per
 * batch), lr (peak; ≤ 0 takes the range test's suggestion), weight_decay
 * (λ / n_items: PyTorch's weight_decay convention, grad += weight_decay · W),
 * seed, and the range test's fields.
 */
size_t		cf_autorec_bytes(const CfTrainConfig *cfg, int64_t n_train);

/*
 * Trains on data's training rows and fills model (allocated from a) with the
 * exported dot-product form; result as cf_train_model's.  Input ratings are
 * shifted by input_offset so that no rating encodes as "missing" (0).
 */
void		cf_autorec_train(CfModel *model, CfTrainResult *result, const CfTrainConfig *cfg,
							 const CfRatings *data, float input_offset,
							 const CfTrainCallbacks *cb, const CfAllocator *a);

/* The net config of the exported model. */
void		cf_autorec_export_config(CfNetConfig *out, const CfTrainConfig *cfg);

#endif
