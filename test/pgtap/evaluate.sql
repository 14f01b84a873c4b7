-- cf_evaluate against the metrics' definitions, computed here in SQL from
-- cf_predict and cf_recommend, on a small table with a cold user and item.
BEGIN;
SELECT plan(10);
SET LOCAL client_min_messages = warning;

CREATE TABLE ev_train AS
SELECT u AS user_id, i AS item_id, (1 + (u * 7 + i * 3) % 5)::real AS rating
  FROM generate_series(1, 30) u, generate_series(1, 20) i
 WHERE (u * 3 + i) % 4 = 0;
CREATE TABLE ev_test AS
SELECT u AS user_id, i AS item_id, (1 + (u * 7 + i * 3) % 5)::real AS rating
  FROM generate_series(1, 30) u, generate_series(1, 20) i
 WHERE (u * 3 + i) % 4 = 1;
INSERT INTO ev_test VALUES (999, 1, 4), (1, 999, 5);   -- a cold user, a cold item
SELECT cf_train('ev_train', name => 'ev', epochs => 5, embedding_dim => 8, hidden => 16,
                batch_size => 32, lr => 0.01, architecture => 'mf') AS ev_id \gset

CREATE TEMP TABLE ev AS SELECT * FROM cf_evaluate('ev_test', 'ev', k => 3);
CREATE TEMP TABLE pred AS SELECT *, cf_predict(user_id, item_id, 'ev') AS p FROM ev_test;

SELECT is((SELECT n_ratings FROM ev), (SELECT count(*) FROM ev_test), 'n_ratings');
SELECT is((SELECT n_fallback FROM ev), 2::bigint, 'the cold user and the cold item fall back');
SELECT cmp_ok(abs((SELECT rmse FROM ev) - (SELECT sqrt(avg((p - rating) ^ 2)) FROM pred)), '<', 1e-9::float8, 'rmse');
SELECT cmp_ok(abs((SELECT mae FROM ev) - (SELECT avg(abs(p - rating)) FROM pred)), '<', 1e-9::float8, 'mae');
SELECT is((SELECT relevant_at FROM ev), 4::float8, 'relevant_at defaults to 4 on a 1–5 scale');

-- ranking metrics from their definitions, binary relevance (rating ≥ 4)
CREATE TEMP TABLE rel AS SELECT user_id, item_id FROM ev_test WHERE rating >= 4;
CREATE TEMP TABLE recs AS
SELECT u.user_id, r.item_id, r.pos     -- positions as returned, best first
  FROM (SELECT DISTINCT user_id FROM rel) u,
       LATERAL cf_recommend(u.user_id, 3, 'ev') WITH ORDINALITY AS r(item_id, score, pos);
CREATE TEMP TABLE per_user AS
SELECT u.user_id,
       (SELECT count(*) FROM recs c JOIN rel USING (user_id, item_id) WHERE c.user_id = u.user_id) AS hits,
       (SELECT count(*) FROM rel WHERE rel.user_id = u.user_id) AS n_rel,
       (SELECT coalesce(sum(1 / log(2, c.pos + 1)), 0) FROM recs c JOIN rel USING (user_id, item_id)
         WHERE c.user_id = u.user_id) AS dcg,
       (SELECT sum(1 / log(2, g + 1)) FROM generate_series(1, least(3, (SELECT count(*) FROM rel WHERE rel.user_id = u.user_id))) g) AS idcg
  FROM (SELECT DISTINCT user_id FROM rel) u;
SELECT is((SELECT n_ranked_users FROM ev), (SELECT count(*) FROM per_user), 'users with a relevant rating');
SELECT cmp_ok(abs((SELECT precision_at_k FROM ev) - (SELECT avg(hits / 3.0) FROM per_user)), '<', 1e-9::float8, 'precision@k');
SELECT cmp_ok(abs((SELECT recall_at_k FROM ev) - (SELECT avg(hits::float8 / n_rel) FROM per_user)), '<', 1e-9::float8, 'recall@k');
SELECT cmp_ok(abs((SELECT ndcg_at_k FROM ev) - (SELECT avg(dcg / idcg) FROM per_user)), '<', 1e-9::float8, 'ndcg@k');
SELECT cmp_ok(abs((SELECT hit_rate_at_k FROM ev) - (SELECT avg((hits > 0)::int) FROM per_user)), '<', 1e-9::float8, 'hit rate@k');

SELECT * FROM finish();
ROLLBACK;
