-- DROP EXTENSION removes every object of cfrec (schema cfrec, the catalog, the
-- cf_* functions and cf_models) and leaves the user's own tables alone; it
-- refuses while a user's object depends on it; CREATE EXTENSION works again
-- and starts from an empty catalog.  A backend that served a model before
-- must not serve it after the extension was re-created, even when a new
-- model gets the same id (ids start again with the new sequence).
BEGIN;
SELECT plan(27);
SET LOCAL client_min_messages = warning;
SET LOCAL cfrec.progress = off;
SET LOCAL cfrec.threads = 1;

CREATE TABLE lc_ones AS
SELECT u AS user_id, i AS item_id, 1::real AS rating FROM generate_series(1, 6) u, generate_series(1, 5) i;
CREATE TABLE lc_fives AS
SELECT u AS user_id, i AS item_id, 5::real AS rating FROM generate_series(1, 6) u, generate_series(1, 5) i;

-- a model, served (and so cached) by this backend
SELECT cf_train('lc_ones', name => 'lc_model', embedding_dim => 4, hidden => 8, epochs => 1, lr => 0.01, architecture => 'mf')
       AS old_id \gset
SELECT is(cf_predict(1, 1, 'lc_model'), 1::float8, 'a model of ratings of 1 predicts 1');

-- everything the extension owns, by description, before the drop
CREATE TEMP TABLE lc_members AS
SELECT d.classid, d.objid, pg_describe_object(d.classid, d.objid, 0) AS what
  FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e' AND e.extname = 'cfrec';
SELECT cmp_ok((SELECT count(*) FROM lc_members), '>=', 15::bigint, 'the extension has its objects');
SELECT ok(EXISTS (SELECT 1 FROM lc_members WHERE what = 'schema cfrec')
          AND EXISTS (SELECT 1 FROM lc_members WHERE what = 'table cfrec.models')
          AND EXISTS (SELECT 1 FROM lc_members WHERE what LIKE 'function cf_train(%')
          AND EXISTS (SELECT 1 FROM lc_members WHERE what = 'view cf_models'),
          'among them the schema, the catalog, cf_train and cf_models');

-- refused while something of the user's depends on it; the schema cannot go alone
SAVEPOINT dependent;
CREATE VIEW lc_my_models AS SELECT name FROM cf_models;
SELECT throws_ok('DROP EXTENSION cfrec', '2BP01', NULL,
                 'DROP EXTENSION refuses while a user''s view depends on it');
ROLLBACK TO dependent;
SELECT throws_ok('DROP SCHEMA cfrec CASCADE', '2BP01', NULL,
                 'the schema cfrec cannot be dropped on its own');
SELECT throws_ok('DROP TABLE cfrec.models', '2BP01', NULL,
                 'nor the catalog');

SELECT lives_ok('DROP EXTENSION cfrec', 'DROP EXTENSION cfrec');
SELECT is((SELECT count(*) FROM pg_extension WHERE extname = 'cfrec'), 0::bigint, 'the extension is gone');
SELECT hasnt_schema('cfrec', 'schema cfrec is gone');
SELECT is((SELECT count(*) FROM pg_proc WHERE proname LIKE 'cf\_%'), 0::bigint, 'no cf_* function is left');
SELECT is((SELECT count(*) FROM pg_class WHERE relname = 'cf_models'), 0::bigint, 'cf_models is gone');
SELECT is((SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'cfrec'), 0::bigint, 'no relation of schema cfrec is left');
SELECT is((SELECT string_agg(what, ', ') FROM lc_members
            WHERE pg_describe_object(classid, objid, 0) IS NOT NULL), NULL::text,
          'none of the extension''s objects exists any more');
SELECT is((SELECT count(*) FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'cfrec'), 0::bigint,
          'no policy is left');
SELECT is((SELECT count(*) FROM lc_ones) + (SELECT count(*) FROM lc_fives), 60::bigint,
          'the user''s tables are untouched');

SELECT lives_ok('CREATE EXTENSION cfrec', 'CREATE EXTENSION cfrec again');
SELECT has_function('cf_train', 'cf_train is back');
SELECT has_function('cf_predict', ARRAY['bigint', 'bigint', 'text'], 'cf_predict is back');
SELECT has_view('cf_models', 'cf_models is back');
SELECT is((SELECT count(*) FROM lc_members m
            WHERE NOT EXISTS (SELECT 1 FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
                               WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
                                 AND e.extname = 'cfrec'
                                 AND pg_describe_object(d.classid, d.objid, 0) = m.what)),
          0::bigint, 'every object is back');
SELECT is((SELECT count(*) FROM cfrec.models), 0::bigint, 'the new catalog is empty');
SELECT throws_ok($$SELECT cf_predict(1, 1, 'lc_model')$$, '42704', NULL,
                 'the old model is not served from this backend''s cache');
SELECT throws_ok($$SELECT cf_predict(1, 1)$$, '42704', NULL,
                 'nor as the newest model');

-- a new model under the old one's id
ALTER TABLE cfrec.models ALTER COLUMN id RESTART WITH :old_id;
SELECT is(cf_train('lc_fives', name => 'lc_model', embedding_dim => 4, hidden => 8, epochs => 1, lr => 0.01, architecture => 'mf'),
          :old_id::bigint, 'a new model of the same name gets the old one''s id');
SELECT is(cf_predict(1, 1, 'lc_model'), 5::float8,
          'this backend serves the new model (ratings of 5), not the cached old one');
SELECT is((SELECT max(score) FROM cf_recommend(1, 10, 'lc_model', exclude_rated => false)), 5::float8,
          'recommendations too');
SELECT lives_ok($$SELECT cf_train('lc_ones', name => 'lc_again', embedding_dim => 4, hidden => 8, epochs => 1,
                                  lr => 0.01, architecture => 'mf')$$, 'training works in the re-created extension');

SELECT * FROM finish();
ROLLBACK;
