-- Training as a transaction, determinism, and serving across model changes.
BEGIN;
SELECT plan(12);
SET LOCAL client_min_messages = warning;

CREATE TABLE tap_ratings AS
SELECT u AS user_id, i AS item_id, (1 + (u * 7 + i * 3) % 5)::real AS rating
  FROM generate_series(1, 40) u, generate_series(1, 25) i
 WHERE (u + i) % 3 <> 0;

-- a failed training leaves no trace
SAVEPOINT before_fail;
SELECT throws_ok(
  $$SELECT cf_train('tap_ratings', name => 'doomed', epochs => 1, lr => 1e30)$$,
  '22023', NULL, 'an absurd learning rate is refused');
ROLLBACK TO before_fail;
-- ratings near the float limit overflow the gradient: the loss turns NaN
CREATE TABLE tap_huge AS SELECT user_id, item_id, 3e38::float8 AS rating FROM tap_ratings;
SELECT throws_like(
  $$SELECT cf_train('tap_huge', name => 'doomed', epochs => 2, embedding_dim => 4, hidden => 8, lr => 0.01, architecture => 'mf')$$,
  '%diverged%', 'a diverging training raises an ERROR');
SELECT is((SELECT count(*) FROM cfrec.models WHERE name = 'doomed'), 0::bigint,
          'the diverged training stored no model');
SELECT is((SELECT count(*) FROM cfrec.model_users u
            WHERE NOT EXISTS (SELECT 1 FROM cfrec.models m WHERE m.id = u.model_id)), 0::bigint,
          'no orphaned embedding rows');

-- same data, arguments, seed and threads: the same model
SET LOCAL cfrec.threads = 1;
SELECT cf_train('tap_ratings', name => 'det_a', epochs => 2, embedding_dim => 8, hidden => 16, batch_size => 32,
                seed => 42, lr => 0.01, architecture => 'mf') AS a \gset
SELECT cf_train('tap_ratings', name => 'det_b', epochs => 2, embedding_dim => 8, hidden => 16, batch_size => 32,
                seed => 42, lr => 0.01, architecture => 'mf') AS b \gset
SELECT cf_train('tap_ratings', name => 'det_c', epochs => 2, embedding_dim => 8, hidden => 16, batch_size => 32,
                seed => 43, lr => 0.01, architecture => 'mf') AS c \gset
SELECT is((SELECT count(*) FROM cfrec.model_tensors a JOIN cfrec.model_tensors b
             ON a.name = b.name AND a.vals = b.vals
            WHERE a.model_id = :a AND b.model_id = :b), 12::bigint,
          'same seed: identical dense tensors');
SELECT is((SELECT count(*) FROM cfrec.model_users a JOIN cfrec.model_users b
             ON a.user_id = b.user_id AND a.embedding = b.embedding
            WHERE a.model_id = :a AND b.model_id = :b), 40::bigint,
          'same seed: identical user embeddings');
SELECT isnt((SELECT vals FROM cfrec.model_tensors WHERE model_id = :a AND name = 'fc1.weight'),
            (SELECT vals FROM cfrec.model_tensors WHERE model_id = :c AND name = 'fc1.weight'),
            'another seed: another model');

-- two threads agree with one within float tolerance
SET LOCAL cfrec.threads = 2;
SELECT cf_train('tap_ratings', name => 'det_t2', epochs => 2, embedding_dim => 8, hidden => 16, batch_size => 32,
                seed => 42, lr => 0.01, architecture => 'mf') AS t2 \gset
SELECT cmp_ok((SELECT max(abs(cf_predict(user_id, item_id, 'det_a') - cf_predict(user_id, item_id, 'det_t2')))
                 FROM tap_ratings), '<', 1e-3::float8,
              'cfrec.threads = 1 and 2 give the same predictions within 1e-3');

-- the range test runs when lr is not given and its sweep is stored
SELECT cf_train('tap_ratings', name => 'swept', architecture => 'seed', epochs => 1, embedding_dim => 8, hidden => 16) AS s \gset
SELECT ok((SELECT count(*) BETWEEN 10 AND 100 FROM cf_find_lr(model => 'swept')), 'the sweep has its points');
SELECT is((SELECT count(*) FROM cf_find_lr(model => 'swept') WHERE suggested), 1::bigint,
          'exactly one suggested point');
SELECT is((SELECT lr FROM cf_find_lr(model => 'swept') WHERE suggested),
          (SELECT lr FROM cf_models WHERE name = 'swept'),
          'the model trained with the suggested rate');

-- a newer model of the same name replaces the cached one from the next statement on
SELECT sum(cf_predict(user_id, item_id, 'det_a')) AS before_retrain FROM tap_ratings \gset
SELECT cf_train('tap_ratings', name => 'det_a', epochs => 3, embedding_dim => 8, hidden => 16, batch_size => 32,
                seed => 5, lr => 0.02, architecture => 'mf') AS a2 \gset
SELECT isnt((SELECT sum(cf_predict(user_id, item_id, 'det_a')) FROM tap_ratings),
            :before_retrain::float8, 'the retrained model serves at once');

SELECT * FROM finish();
ROLLBACK;
