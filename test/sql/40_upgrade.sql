-- ALTER EXTENSION cfrec UPDATE from the previous version keeps models serving.
DROP EXTENSION cfrec;
CREATE EXTENSION cfrec VERSION '0.1.0';
SET cfrec.progress = off;
SET client_min_messages = warning;
CREATE TABLE up_ratings AS
SELECT u AS user_id, i AS item_id, (1 + (u * 7 + i * 3) % 5)::real AS rating
  FROM generate_series(1, 30) u, generate_series(1, 12) i;
SELECT cf_train('up_ratings', epochs => 2, batch_size => 64) > 0 AS trained_on_010;
CREATE TABLE before_update AS
SELECT user_id, item_id, cf_predict(user_id, item_id) AS p FROM up_ratings;
SELECT count(*) AS drop_function_in_010 FROM pg_proc WHERE proname = 'cf_drop_model';
RESET client_min_messages;
ALTER EXTENSION cfrec UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'cfrec';
-- the same model serves the same predictions after the update
SELECT count(*) AS changed_predictions
  FROM before_update b WHERE cf_predict(b.user_id, b.item_id) IS DISTINCT FROM b.p;
SELECT count(*) AS models FROM cf_models;
-- and what 0.2.0 adds works
SELECT cf_drop_model('up_ratings');
SELECT count(*) AS models_after_drop FROM cf_models;
SELECT count(*) AS orphan_rows FROM cfrec.model_users;
SELECT cf_drop_model('up_ratings');
-- the update and a fresh install give the same objects
SELECT count(*) AS functions FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'cfrec') AND d.deptype = 'e';
DROP EXTENSION cfrec;
CREATE EXTENSION cfrec;
SELECT count(*) AS functions FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'cfrec') AND d.deptype = 'e';
