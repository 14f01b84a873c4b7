-- The architectures on planted data, and rating scales other than 1–5.
BEGIN;
SELECT plan(20);
SET LOCAL client_min_messages = warning;
SET LOCAL cfrec.progress = off;

-- planted rank-2 structure plus user and item offsets; a tenth held out
CREATE TABLE arch_all AS
SELECT u AS user_id, i AS item_id,
       (3 + 0.4 * sin(u * 0.9) + 0.5 * cos(i * 1.7)
          + 0.9 * (sin(u * 1.3) * sin(i * 2.1) + cos(u * 0.7) * cos(i * 0.3))
          + ((hashint4(u * 7919 + i) % 1000) / 1000.0) * 0.3)::real AS rating,
       abs(hashint4(u * 104729 + i * 13)) % 10 = 0 AS held_out
  FROM generate_series(1, 300) u, generate_series(1, 150) i
 WHERE abs(hashint4(u * 31 + i * 17)) % 3 = 0;
CREATE TABLE arch_train AS SELECT user_id, item_id, rating FROM arch_all WHERE NOT held_out;
CREATE TABLE arch_test AS SELECT user_id, item_id, rating FROM arch_all WHERE held_out;

SELECT cf_train('arch_train', name => 'a_baseline', architecture => 'baseline') AS b \gset
SELECT cf_train('arch_train', name => 'a_default') AS d \gset
SELECT cf_train('arch_train', name => 'a_mf', architecture => 'mf', embedding_dim => 16,
                hidden => 64, batch_size => 256, epochs => 20, lr => 0.01) AS m \gset
CREATE TEMP TABLE scores AS
SELECT (SELECT rmse FROM cf_evaluate('arch_test', 'a_baseline')) AS baseline,
       (SELECT rmse FROM cf_evaluate('arch_test', 'a_default')) AS dflt,
       (SELECT rmse FROM cf_evaluate('arch_test', 'a_mf')) AS mf,
       (SELECT sqrt(avg((t.rating - m.mean) ^ 2)) FROM arch_test t,
               (SELECT avg(rating) AS mean FROM arch_train) m) AS global_mean;
SELECT cmp_ok((SELECT baseline FROM scores), '<', (SELECT global_mean FROM scores) * 0.9,
              'the bias baseline beats the global mean');
SELECT cmp_ok((SELECT dflt FROM scores), '<', (SELECT baseline FROM scores) * 0.8,
              'the default architecture (I-AutoRec, every argument its default) beats the bias baseline');
SELECT cmp_ok((SELECT mf FROM scores), '<', (SELECT baseline FROM scores) * 0.8,
              'mf beats the bias baseline');

-- I-AutoRec is stored as the dot-product model it is: ŷ = W2[u] · h_i + c2[u]
SELECT is((SELECT architecture || ' ' || (hyperparameters->>'mlp') || ' ' || (hyperparameters->>'dot_dim')
                  || ' ' || ((hyperparameters->>'epochs')::int
                             = greatest(50, ceil(1000.0 / ceil(n_items / 64.0)))) || ' ' || (hyperparameters->>'batch_size')
                  || ' ' || round((hyperparameters->>'weight_decay')::numeric * 150
                                   / (SELECT var_pop(rating) FROM arch_train)::numeric * 1.25, 4)
             FROM cfrec.models WHERE id = :d),
          'default false 250 true 64 200.0000',
          'the default is hidden 250, 50 epochs but at least 1,000 steps, 64 items a batch, λ = 200 · var(r) / 1.25 (weight_decay λ / n_items)');
SELECT cmp_ok((SELECT max(abs(cf_predict(u.user_id, i.item_id, 'a_default')
                              - greatest(r.lo, least(r.hi,
                                  (SELECT sum(a * b) FROM unnest(u.embedding[1:250], i.embedding[1:250]) x(a, b))
                                  + u.embedding[251] + i.embedding[251]))))
                 FROM cfrec.model_users u, cfrec.model_items i,
                      (SELECT rating_min AS lo, rating_max AS hi FROM cfrec.models WHERE id = :d) r
                WHERE u.model_id = :d AND i.model_id = :d AND u.user_id % 37 = 1 AND i.item_id % 23 = 1),
              '<', 1e-4::float8, 'a served prediction is the clipped dot product of the stored rows plus the user bias');
SELECT is((SELECT count(*) || ' ' || count(*) FILTER (WHERE r.score <> cf_predict(5, r.item_id, 'a_default'))
             FROM cf_recommend(5, 1000, 'a_default', exclude_rated => false) r),
          (SELECT n_items || ' 0' FROM cfrec.models WHERE id = :d),
          'cf_recommend scores every item exactly as cf_predict does');
-- the int8 first pass of cf_recommend prunes without changing the answer: a
-- short list is the head of the full ranking (where nothing can be pruned)
SELECT is((SELECT count(*) FILTER (WHERE a.top IS DISTINCT FROM b.top) || ' of ' || count(*)
             FROM (SELECT m, u, k, array_agg(r.item_id || ':' || r.score ORDER BY r.ord) AS top
                     FROM unnest(ARRAY['a_default', 'a_mf']) m, generate_series(1, 300, 7) u,
                          unnest(ARRAY[1, 3, 10]) k,
                          cf_recommend(u, k, m) WITH ORDINALITY r(item_id, score, ord)
                    GROUP BY m, u, k) a,
                  LATERAL (SELECT array_agg(f.item_id || ':' || f.score ORDER BY f.ord) AS top
                             FROM cf_recommend(a.u, 1000, a.m) WITH ORDINALITY f(item_id, score, ord)
                            WHERE f.ord <= a.k) b),
          '0 of 258', 'cf_recommend''s pruned top k (k 1, 3, 10; the default and mf) is the head of the full ranking');
SELECT is((SELECT count(*) FILTER (WHERE embedding[251] <> 0) FROM cfrec.model_items WHERE model_id = :d),
          0::bigint, 'items carry no bias of their own (the decoder''s bias is per user)');
SELECT is((SELECT n_valid || ' ' || (valid_rmse IS NULL) FROM cf_models WHERE id = :d), '0 true',
          'with nothing left to choose it learns from every rating: no validation split');
SELECT cf_train('arch_train', name => 'a_default_valid', valid_fraction => 0.1, epochs => 30) AS dv \gset
SELECT ok((SELECT n_valid > 0 AND valid_rmse > 0 FROM cf_models WHERE id = :dv)
          AND (SELECT count(*) FROM cfrec.training_log WHERE model_id = :dv AND valid_rmse IS NOT NULL) = 30,
          'valid_fraction => 0.1 holds out a tenth and logs its RMSE every epoch');
SELECT ok((SELECT count(*) BETWEEN 10 AND 100 FROM cf_find_lr(model => 'a_default')),
          'its range test on the AutoRec network is stored for cf_find_lr');

-- the baseline is exactly μ + b_u + b_i, closed form, served by the same code
SELECT cmp_ok(abs(cf_predict(7, 9, 'a_baseline')
                  - ((SELECT vals[1] FROM cfrec.model_tensors WHERE model_id = :b AND name = 'fc2.bias')
                     + (SELECT embedding[1] FROM cfrec.model_users WHERE model_id = :b AND user_id = 7)
                     + (SELECT embedding[1] FROM cfrec.model_items WHERE model_id = :b AND item_id = 9))),
              '<', 1e-5::float8, 'baseline prediction is mean + user bias + item bias');

-- half stars, 1–10 and 0–1 scales: the range comes from the data
CREATE TABLE half_stars AS SELECT user_id, item_id, (round(rating * 2) / 2)::real AS rating FROM arch_train;
UPDATE half_stars SET rating = 0.5 WHERE user_id = 1 AND item_id = (SELECT min(item_id) FROM half_stars WHERE user_id = 1);
CREATE TABLE ten_scale AS SELECT user_id, item_id, least(10, greatest(1, round((rating - 1) * 2.25) + 1))::int AS rating FROM arch_train;
CREATE TABLE unit_scale AS SELECT user_id, item_id, ((rating - 1) / 4)::float8 AS rating FROM arch_train;
SELECT cf_train(t, epochs => 2, embedding_dim => 8, hidden => 16, batch_size => 256, lr => 0.01, architecture => 'mf')
  FROM unnest(ARRAY['half_stars', 'ten_scale', 'unit_scale']) t;
SELECT cf_train(t, name => t || '_autorec', hidden => 32)
  FROM unnest(ARRAY['half_stars', 'ten_scale', 'unit_scale']) t;
SELECT results_eq($$SELECT name, round(rating_min::numeric, 5), round(rating_max::numeric, 5) FROM cfrec.models
                     WHERE name IN ('half_stars', 'ten_scale', 'unit_scale') ORDER BY name$$,
                  $$SELECT name, round(lo::numeric, 5), round(hi::numeric, 5) FROM (VALUES
                       ('half_stars', 0.5::float8, (SELECT max(rating) FROM half_stars)::float8),
                       ('ten_scale', 1::float8, 10::float8),
                       ('unit_scale', (SELECT min(rating) FROM unit_scale), (SELECT max(rating) FROM unit_scale))) v(name, lo, hi)$$,
                  'each model keeps its data''s range');
SELECT ok((SELECT bool_and(p BETWEEN 0.5 AND (SELECT max(rating) FROM half_stars))
             FROM (SELECT cf_predict(u, i, 'half_stars') AS p FROM generate_series(1, 300, 13) u, generate_series(1, 160, 7) i) s),
          'half-star predictions stay in range, unknown ids included');
SELECT ok((SELECT bool_and(p BETWEEN 1 AND 10) FROM (SELECT cf_predict(u, i, 'ten_scale') AS p
             FROM generate_series(1, 300, 13) u, generate_series(1, 160, 7) i) s),
          '1–10 predictions stay in range');
SELECT ok((SELECT bool_and(p BETWEEN 0 AND 1) FROM (SELECT cf_predict(u, i, 'unit_scale') AS p
             FROM generate_series(1, 300, 13) u, generate_series(1, 160, 7) i) s),
          '0–1 predictions stay in range');
SELECT ok((SELECT max(p) - min(p) > 0.1 FROM (SELECT cf_predict(u, i, 'ten_scale') AS p
             FROM generate_series(1, 300, 13) u, generate_series(1, 150, 7) i) s),
          'and they use the range, not one constant');
SELECT ok((SELECT bool_and(p BETWEEN 0.5 AND (SELECT max(rating) FROM half_stars)) FROM (SELECT cf_predict(u, i, 'half_stars_autorec') AS p
             FROM generate_series(1, 300, 13) u, generate_series(1, 160, 7) i) s)
          AND (SELECT bool_and(p BETWEEN 1 AND 10) FROM (SELECT cf_predict(u, i, 'ten_scale_autorec') AS p
             FROM generate_series(1, 300, 13) u, generate_series(1, 160, 7) i) s)
          AND (SELECT bool_and(p BETWEEN 0 AND 1) FROM (SELECT cf_predict(u, i, 'unit_scale_autorec') AS p
             FROM generate_series(1, 300, 13) u, generate_series(1, 160, 7) i) s),
          'the default architecture''s predictions stay in each range too');
SELECT cmp_ok((SELECT rmse FROM cf_evaluate('unit_scale', 'unit_scale_autorec')), '<',
              (SELECT stddev_pop(rating) FROM unit_scale) * 0.8,
              'on 0–1 ratings (0 is a rating, not "missing") the default fits better than the mean');
SELECT is((SELECT relevant_at FROM cf_evaluate('ten_scale', 'ten_scale')), 7.75::float8,
          'relevant_at scales 4 of 1–5 to the model''s range');

SELECT * FROM finish();
ROLLBACK;
