-- Learning on planted data: ratings from a rank-2 model plus noise, with a
-- held-out tenth.  The model must end far below the global-mean baseline.
CREATE TABLE planted AS
SELECT u AS user_id, i AS item_id,
       (3 + 1.2 * (sin(u * 1.3) * sin(i * 2.1) + cos(u * 0.7) * cos(i * 0.3))
          + ((hashint4(u * 7919 + i) % 1000) / 1000.0) * 0.3)::real AS rating,
       abs(hashint4(u * 104729 + i * 13)) % 10 = 0 AS held_out
  FROM generate_series(1, 300) u, generate_series(1, 150) i
 WHERE abs(hashint4(u * 31 + i * 17)) % 3 = 0;
CREATE VIEW planted_train AS SELECT user_id, item_id, rating FROM planted WHERE NOT held_out;
CREATE VIEW planted_test AS SELECT user_id, item_id, rating FROM planted WHERE held_out;

SET client_min_messages = warning;
SELECT cf_train('planted_train', embedding_dim => 16, hidden => 64, epochs => 20, batch_size => 256,
                lr => 0.03, seed => 7, architecture => 'mf') AS model_id \gset
RESET client_min_messages;

-- the baseline predicts the training mean for every held-out rating
WITH base AS (SELECT avg(rating) AS mean FROM planted_train)
SELECT round(sqrt(avg((t.rating - b.mean) ^ 2))::numeric, 1) AS baseline_rmse
  FROM planted_test t, base b;

WITH m AS (
  SELECT sqrt(avg((cf_predict(user_id, item_id) - rating) ^ 2)) AS model_rmse,
         (SELECT sqrt(avg((t.rating - b.mean) ^ 2))
            FROM planted_test t, (SELECT avg(rating) AS mean FROM planted_train) b) AS baseline
    FROM planted_test)
SELECT model_rmse < 0.5 * baseline AS far_below_baseline,
       model_rmse < 0.45 AS below_absolute_bound
  FROM m;

-- the catalog row describes the training
SELECT name, source, architecture, n_users, n_items, n_train + n_valid = n_ratings AS rows_add_up,
       n_valid = round(n_ratings * 0.1) AS tenth_held_out, lr, lr_found,
       train_rmse < valid_rmse * 1.5 AS sane_rmse, train_seconds > 0 AS timed
  FROM cf_models WHERE id = :model_id;
SELECT epoch, steps FROM cfrec.training_log WHERE model_id = :model_id ORDER BY epoch;
-- the per-epoch training loss falls from the first epoch to the last
SELECT (SELECT train_loss FROM cfrec.training_log WHERE model_id = :model_id AND epoch = 20)
     < (SELECT train_loss FROM cfrec.training_log WHERE model_id = :model_id AND epoch = 1)
       AS loss_fell;

-- embeddings are queryable per user and per item: 16 MLP values, 64 of the dot
-- branch, then the user's bias
SELECT count(*) AS users, min(array_length(embedding, 1)) AS dim
  FROM cfrec.model_users WHERE model_id = :model_id;
SELECT name, shape FROM cfrec.model_tensors WHERE model_id = :model_id ORDER BY name;

-- predictions stay inside the rating range seen in training
SELECT min(p) >= (SELECT min(rating) FROM planted_train) AS above_min,
       max(p) <= (SELECT max(rating) FROM planted_train) AS below_max
  FROM (SELECT cf_predict(u, i) AS p FROM generate_series(1, 300, 7) u, generate_series(1, 150, 5) i) s;

-- recommendations: k rows, best first, none the user has rated
SELECT count(*) AS k, bool_and(score <= prev) AS ordered
  FROM (SELECT score, lag(score, 1, 'Infinity') OVER (ORDER BY score DESC) AS prev
          FROM cf_recommend(5, 10)) r;
SELECT count(*) AS rated_items_recommended
  FROM cf_recommend(5, 200) r JOIN planted_train t ON t.user_id = 5 AND t.item_id = r.item_id;
SELECT count(*) + (SELECT count(*) FROM planted_train WHERE user_id = 5) = 150 AS all_unrated_items
  FROM cf_recommend(5, 1000);
-- the same items scored by cf_predict give the same scores
SELECT bool_and(abs(r.score - cf_predict(5, r.item_id)) < 1e-9) AS consistent FROM cf_recommend(5, 20) r;
-- a rating added now is excluded at once ("the source relation as it is now")
SELECT item_id AS top_item FROM cf_recommend(5, 1) \gset
INSERT INTO planted VALUES (5, :top_item, 4, false);
SELECT count(*) AS still_recommended FROM cf_recommend(5, 200) WHERE item_id = :top_item;
SELECT count(*) AS recommended_without_exclusion FROM cf_recommend(5, 200, exclude_rated => false) WHERE item_id = :top_item;

-- fallbacks: a new user gets the most rated items; unknown ids get means
SELECT count(*) AS new_user_rows FROM cf_recommend(100000, 5);
SELECT abs(cf_predict(100000, 100000) - (SELECT rating_mean FROM cfrec.models WHERE id = :model_id)) < 1e-6
       AS global_mean_fallback;
SELECT abs(cf_predict(100000, 3) - (SELECT avg(rating) FROM planted_train WHERE item_id = 3)) < 1e-4
       AS item_mean_fallback;
SELECT abs(cf_predict(3, 100000) - (SELECT avg(rating) FROM planted_train WHERE user_id = 3)) < 1e-4
       AS user_mean_fallback;
