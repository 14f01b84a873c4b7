-- Every kind of relation, id type and rating type trains; names are quoted.
SET client_min_messages = warning;
CREATE FUNCTION small_train(rel text) RETURNS bigint
LANGUAGE sql AS $$ SELECT cf_train(rel, epochs => 1, embedding_dim => 4, hidden => 8, lr => 0.01, architecture => 'mf') $$;

CREATE TABLE base AS
SELECT u AS user_id, i AS item_id, (1 + (u * 7 + i * 3) % 5)::smallint AS rating,
       timestamp '2020-01-01' + (u * 10 + i) * interval '1 hour' AS rated_at
  FROM generate_series(1, 30) u, generate_series(1, 12) i;

-- table, view, materialized view, partitioned table; a schema-qualified odd name
CREATE VIEW base_view AS SELECT * FROM base;
CREATE MATERIALIZED VIEW base_matview AS SELECT * FROM base;
CREATE TABLE base_parted (user_id int, item_id int, rating smallint) PARTITION BY RANGE (user_id);
CREATE TABLE base_parted_1 PARTITION OF base_parted FOR VALUES FROM (MINVALUE) TO (16);
CREATE TABLE base_parted_2 PARTITION OF base_parted FOR VALUES FROM (16) TO (MAXVALUE);
INSERT INTO base_parted SELECT user_id, item_id, rating FROM base;
CREATE SCHEMA "Odd Schema";
CREATE TABLE "Odd Schema"."x""; DROP TABLE base; --" AS SELECT * FROM base;

SELECT small_train('base') > 0 AS table_ok;
SELECT small_train('base_view') > 0 AS view_ok;
SELECT small_train('base_matview') > 0 AS matview_ok;
SELECT small_train('base_parted') > 0 AS partitioned_ok;
SELECT small_train('"Odd Schema"."x""; DROP TABLE base; --"') > 0 AS quoted_ok;
SELECT count(*) AS base_still_there FROM base;
SELECT name, source, n_ratings FROM cf_models WHERE n_ratings = 360 ORDER BY id;

-- the model of an odd name serves, and excludes through the quoted source
SELECT count(*) AS unrated FROM cf_recommend(1, 100, 'x"; DROP TABLE base; --');
SELECT count(*) AS all_items FROM cf_recommend(1, 100, 'x"; DROP TABLE base; --', exclude_rated => false);

-- id and rating types: int2/int4/int8 ids, numeric and float ratings
CREATE TABLE typed (u smallint, movie_id bigint, stars numeric);
INSERT INTO typed SELECT user_id, item_id + 9000000000, rating / 2.0 FROM base;
SELECT cf_train('typed', user_col => 'u', epochs => 1, embedding_dim => 4, hidden => 8, lr => 0.01, architecture => 'mf') > 0 AS typed_ok;
SELECT user_col, item_col, rating_col, rating_min, rating_max FROM cfrec.models WHERE name = 'typed';
SELECT cf_predict(1, 9000000001, 'typed') BETWEEN 0.5 AND 2.5 AS predicted_in_range;

-- detection of common column names, any case
CREATE TABLE "Detect" ("UserId" int, "MovieID" int, "Score" float4);
INSERT INTO "Detect" SELECT user_id, item_id, rating FROM base;
SELECT cf_train('"Detect"', epochs => 1, embedding_dim => 4, hidden => 8, lr => 0.01, architecture => 'mf') > 0 AS detected;
SELECT user_col, item_col, rating_col FROM cfrec.models WHERE name = 'Detect';

-- NULL rows are skipped and counted
RESET client_min_messages;
SET cfrec.progress = off;
CREATE TABLE with_nulls AS SELECT * FROM base;
INSERT INTO with_nulls VALUES (NULL, 1, 3), (1, NULL, 3), (1, 2, NULL);
SELECT cf_train('with_nulls', epochs => 1, embedding_dim => 4, hidden => 8, lr => 0.01,
                valid_fraction => 0, architecture => 'mf') > 0 AS trained_with_nulls;
SELECT rows_skipped, n_ratings, n_valid, valid_rmse IS NULL AS no_validation
  FROM cfrec.models WHERE name = 'with_nulls';
-- with an index on the user column the notice about scanning goes away
CREATE INDEX ON with_nulls (user_id);
SELECT cf_train('with_nulls', epochs => 1, embedding_dim => 4, hidden => 8, lr => 0.01,
                valid_fraction => 0, architecture => 'mf') > 0 AS trained_with_index;

-- validation by time holds out the latest ratings
SET client_min_messages = warning;
SELECT cf_train('base', name => 'by_time', time_col => 'rated_at', epochs => 1,
                embedding_dim => 4, hidden => 8, lr => 0.01, valid_fraction => 0.25, architecture => 'mf') > 0 AS by_time;
SELECT time_col, n_train, n_valid FROM cfrec.models WHERE name = 'by_time';

-- retraining a name replaces the model: one row, newer id, old rows gone
SELECT id AS old_id FROM cfrec.models WHERE name = 'base' \gset
SELECT small_train('base') > :old_id AS newer_id;
SELECT count(*) AS models_named_base FROM cfrec.models WHERE name = 'base';
SELECT count(*) AS rows_of_old_model FROM cfrec.model_users WHERE model_id = :old_id;

-- a source changed after training: excluding rated items says what to do
CREATE TABLE retyped AS SELECT * FROM base;
SELECT small_train('retyped') > 0 AS trained;
ALTER TABLE retyped ALTER COLUMN user_id TYPE text;
SELECT count(*) FROM cf_recommend(1, 5, 'retyped');
SELECT count(*) AS recommended_without_exclusion FROM cf_recommend(1, 5, 'retyped', exclude_rated => false);
ALTER TABLE retyped DROP COLUMN item_id;
SELECT count(*) FROM cf_recommend(1, 5, 'retyped');

-- ids dense, sparse, negative and huge, some first seen before the dense
-- range reaches them: every user keeps one index and all of its ratings
CREATE TABLE mixed_ids AS
SELECT user_id, (user_id % 7) + 1 AS item_id, ((abs(user_id) % 5) + 1)::real AS rating
  FROM (SELECT 70000 + g AS user_id, 0 AS pass FROM generate_series(1, 100) g
        UNION ALL SELECT -g, 0 FROM generate_series(1, 5) g
        UNION ALL SELECT (1::bigint << 62) + g, 0 FROM generate_series(1, 5) g
        UNION ALL SELECT g, 1 FROM generate_series(1, 20000) g
        UNION ALL SELECT 70000 + g, 2 FROM generate_series(1, 100) g
        UNION ALL SELECT -g, 2 FROM generate_series(1, 5) g
        UNION ALL SELECT (1::bigint << 62) + g, 2 FROM generate_series(1, 5) g
        UNION ALL SELECT g, 2 FROM generate_series(1, 20000, 97) g) s
 ORDER BY pass;
SELECT cf_train('mixed_ids', architecture => 'baseline', valid_fraction => 0) > 0 AS trained;
WITH truth AS (SELECT user_id, count(*) AS n, avg(rating) AS mean FROM mixed_ids GROUP BY user_id)
SELECT count(*) AS users, count(*) FILTER (WHERE u.n_ratings = t.n AND abs(u.mean_rating - t.mean) < 1e-5) AS exact,
       count(DISTINCT u.idx) AS distinct_indices, (SELECT count(*) FROM truth) AS distinct_ids
  FROM cfrec.model_users u JOIN truth t USING (user_id)
 WHERE u.model_id = (SELECT id FROM cfrec.models WHERE name = 'mixed_ids');
