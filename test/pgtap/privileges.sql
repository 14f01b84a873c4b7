-- Privileges: who may train, read, serve and replace models; SECURITY
-- DEFINER; hostile search_paths; quoted names.
--
-- The model tested here (see the issue's privilege-model recommendation):
--   * anyone may train on a relation they can SELECT (all of its columns used),
--     and only on what they can see of it (row-level security applies);
--   * a model belongs to the role that trained it (cfrec.models.owner); only
--     that role, its members and superusers may replace or delete it, and a
--     replacement keeps the owner; nobody may UPDATE the catalog;
--   * a model is visible (cf_models, the catalog tables, cf_predict,
--     cf_recommend ...) to members of its owner role and to roles that may
--     SELECT its source relation, as pg_stats shows statistics only to those
--     who may read the table; model => NULL means the caller's newest model;
--   * a dropped owner role leaves a model only a superuser may replace.
-- Each check that holds only once that is implemented says "(recommended)".
BEGIN;
SELECT plan(64);
SET LOCAL client_min_messages = warning;
SET LOCAL cfrec.progress = off;
SET LOCAL cfrec.threads = 1;

CREATE ROLE cfrec_t_alice;
CREATE ROLE cfrec_t_bob;
CREATE ROLE cfrec_t_carol;
CREATE ROLE cfrec_t_app IN ROLE cfrec_t_alice;
CREATE ROLE cfrec_t_ghost;
CREATE SCHEMA cfrec_priv;
GRANT USAGE ON SCHEMA cfrec_priv TO PUBLIC;

-- The SQLSTATE of a statement ('00000' when it succeeds), and the value of a
-- query or its error ('ERROR sqlstate: message').  No operators in them, so
-- that they work under the hostile search_path below.
CREATE FUNCTION cfrec_priv.sqlstate_of(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN '00000';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END $$;
CREATE FUNCTION cfrec_priv.value_of(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
    EXECUTE sql INTO r;
    RETURN r;
EXCEPTION WHEN OTHERS THEN
    RETURN format('ERROR %s: %s', SQLSTATE, SQLERRM);
END $$;
-- every prediction of a users × items grid as one string (or the error)
CREATE FUNCTION cfrec_priv.preds(model text, n_users int, n_items int) RETURNS text LANGUAGE sql AS $$
    SELECT cfrec_priv.value_of(format(
        'SELECT string_agg(cf_predict(u, i%s)::text, '','' ORDER BY u, i)'
        ' FROM generate_series(1, %s) u, generate_series(1, %s) i',
        CASE WHEN model IS NULL THEN '' ELSE format(', %L', model) END, n_users, n_items))
$$;

CREATE TABLE cfrec_priv.alice_ratings AS
SELECT u AS user_id, i AS item_id, (1 + (u * 7 + i * 3) % 5)::real AS rating
  FROM generate_series(1, 20) u, generate_series(1, 8) i WHERE (u + i) % 3 <> 0;
CREATE TABLE cfrec_priv.bob_ratings AS
SELECT u AS user_id, i AS item_id, (1 + (u + i * 2) % 5)::real AS rating
  FROM generate_series(1, 12) u, generate_series(1, 6) i;
CREATE TABLE cfrec_priv.carol_ratings AS SELECT * FROM cfrec_priv.bob_ratings;
CREATE TABLE cfrec_priv.secret AS SELECT * FROM cfrec_priv.alice_ratings;
CREATE TABLE cfrec_priv.partial AS SELECT * FROM cfrec_priv.alice_ratings;
CREATE TABLE cfrec_priv.ghost_ratings AS SELECT * FROM cfrec_priv.bob_ratings;
CREATE TABLE cfrec_priv.rls_ratings AS SELECT * FROM cfrec_priv.alice_ratings;
ALTER TABLE cfrec_priv.alice_ratings OWNER TO cfrec_t_alice;
ALTER TABLE cfrec_priv.bob_ratings OWNER TO cfrec_t_bob;
ALTER TABLE cfrec_priv.carol_ratings OWNER TO cfrec_t_carol;
ALTER TABLE cfrec_priv.rls_ratings OWNER TO cfrec_t_alice;
GRANT SELECT ON cfrec_priv.alice_ratings TO cfrec_t_carol;
GRANT SELECT (user_id, item_id) ON cfrec_priv.partial TO cfrec_t_bob;
-- bob may read alice's rls_ratings, but only the rows of users 1 to 5
ALTER TABLE cfrec_priv.rls_ratings ENABLE ROW LEVEL SECURITY;
CREATE POLICY bob_sees_few ON cfrec_priv.rls_ratings FOR SELECT TO cfrec_t_bob USING (user_id <= 5);
GRANT SELECT ON cfrec_priv.rls_ratings TO cfrec_t_bob;

-- ---- no function of the extension runs with its owner's rights
SELECT is((SELECT count(*) FROM pg_proc p
             JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
             JOIN pg_extension e ON e.oid = d.refobjid
            WHERE e.extname = 'cfrec' AND p.prosecdef), 0::bigint,
          'no function of cfrec is SECURITY DEFINER');
SELECT is((SELECT count(*) FROM pg_proc p
             JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
             JOIN pg_extension e ON e.oid = d.refobjid
            WHERE e.extname = 'cfrec' AND p.proname IN ('cf_train', 'cf_predict', 'cf_recommend')),
          3::bigint, 'the check above saw the extension''s functions');
SELECT is((SELECT count(*) FROM pg_proc p
             JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
             JOIN pg_extension e ON e.oid = d.refobjid
            WHERE e.extname = 'cfrec'
              AND EXISTS (SELECT 1 FROM unnest(p.proconfig) c
                           WHERE c LIKE 'role=%' OR c LIKE 'session_authorization=%')),
          0::bigint, 'no function of cfrec switches role');

-- ---- no UPDATE or TRUNCATE of the catalog for anyone but its owner
SELECT ok(bool_and(NOT has_table_privilege(r, 'cfrec.' || t, 'UPDATE')
               AND NOT has_table_privilege(r, 'cfrec.' || t, 'TRUNCATE')
               AND NOT has_table_privilege(r, 'cfrec.' || t, 'TRIGGER')
               AND NOT has_table_privilege(r, 'cfrec.' || t, 'REFERENCES')),
          'no role may UPDATE, TRUNCATE, TRIGGER or REFERENCES the catalog')
  FROM unnest(ARRAY['cfrec_t_alice', 'cfrec_t_bob']) r,
       unnest(ARRAY['models', 'model_users', 'model_items', 'model_tensors', 'lr_sweeps', 'training_log']) t;

-- ---- training needs SELECT on the source
SET LOCAL ROLE cfrec_t_bob;
SELECT throws_ok($$SELECT cf_train('cfrec_priv.secret', name => 'priv_stolen', embedding_dim => 4,
                                   hidden => 8, epochs => 1, lr => 0.01, architecture => 'mf')$$,
                 '42501', NULL, 'training on a table the caller may not SELECT: permission denied');
SELECT throws_ok($$SELECT cf_train('cfrec_priv.partial', name => 'priv_stolen', embedding_dim => 4,
                                   hidden => 8, epochs => 1, lr => 0.01, architecture => 'mf')$$,
                 '42501', NULL, 'training without SELECT on the rating column: permission denied');
SELECT throws_ok($$SET cfrec.max_memory = '100GB'$$, '42501', NULL,
                 'cfrec.max_memory is for superusers');
RESET ROLE;
SELECT is((SELECT count(*) FROM cfrec.models WHERE name = 'priv_stolen'), 0::bigint,
          'the refused trainings stored nothing');

-- ---- models of alice, bob and carol, trained by the superuser on their
-- behalf (so that who may replace what is checked whether or not a
-- non-superuser may train yet); carol's is the newest
SELECT cf_train('cfrec_priv.alice_ratings', name => 'priv_alice', embedding_dim => 4, hidden => 8,
                epochs => 2, lr => 0.01, seed => 1, architecture => 'mf') AS alice_id \gset
SELECT cf_train('cfrec_priv.bob_ratings', name => 'priv_bob', embedding_dim => 4, hidden => 8,
                epochs => 2, lr => 0.01, seed => 2, architecture => 'mf') AS bob_id \gset
SELECT cf_train('cfrec_priv.carol_ratings', name => 'priv_carol', embedding_dim => 4, hidden => 8,
                epochs => 2, lr => 0.01, seed => 3, architecture => 'mf') AS carol_id \gset
UPDATE cfrec.models SET owner = 'cfrec_t_alice' WHERE id = :alice_id;
UPDATE cfrec.models SET owner = 'cfrec_t_bob' WHERE id = :bob_id;
UPDATE cfrec.models SET owner = 'cfrec_t_carol' WHERE id = :carol_id;
SELECT cfrec_priv.preds('priv_alice', 21, 9) AS alice_preds \gset
SELECT cfrec_priv.preds('priv_bob', 13, 7) AS bob_preds \gset
SELECT cfrec_priv.preds('priv_carol', 13, 7) AS carol_preds \gset
SELECT (SELECT count(*) FROM cfrec.model_users WHERE model_id = :alice_id) || '/'
    || (SELECT count(*) FROM cfrec.model_items WHERE model_id = :alice_id) || '/'
    || (SELECT count(*) FROM cfrec.model_tensors WHERE model_id = :alice_id) || '/'
    || (SELECT count(*) FROM cfrec.training_log WHERE model_id = :alice_id) AS alice_rows \gset

-- ---- nobody else may replace or change alice's model
SET LOCAL ROLE cfrec_t_bob;
SELECT ok(cfrec_priv.sqlstate_of($$SELECT cf_train('cfrec_priv.bob_ratings', name => 'priv_alice',
                                   embedding_dim => 4, hidden => 8, epochs => 1, lr => 0.01, architecture => 'mf')$$)
          IN ('42501', '23505'),
          'bob cannot replace alice''s model by training its name');
SELECT ok(cfrec_priv.sqlstate_of($$DELETE FROM cfrec.models WHERE name = 'priv_alice'$$) IN ('00000', '42501'),
          'bob''s DELETE of alice''s catalog row fails or deletes nothing');
SELECT ok(cfrec_priv.sqlstate_of(format('DELETE FROM cfrec.%I WHERE model_id = %s', t, :alice_id))
          IN ('00000', '42501'),
          'bob''s DELETE of alice''s ' || t || ' rows fails or deletes nothing')
  FROM unnest(ARRAY['model_users', 'model_tensors']) t;
SELECT is(cfrec_priv.sqlstate_of($$UPDATE cfrec.models SET owner = 'cfrec_t_bob' WHERE name = 'priv_alice'$$),
          '42501'::text, 'bob cannot take alice''s model over with an UPDATE');
SELECT isnt(cfrec_priv.sqlstate_of(format(
              'INSERT INTO cfrec.model_tensors (model_id, name, shape, vals) VALUES (%s, %L, %L, %L)',
              :alice_id, 'fc9.weight', '{1}', '{1}')),
            '00000'::text, 'bob cannot add rows to alice''s model');
SELECT isnt(cfrec_priv.sqlstate_of($$INSERT INTO cfrec.models (name, owner, source, source_schema, source_table,
      user_col, item_col, rating_col, architecture, hyperparameters, embedding_dim, hidden, n_users, n_items,
      n_ratings, n_train, n_valid, rows_skipped, rating_min, rating_max, rating_mean, lr, lr_found,
      load_seconds, sweep_seconds, train_seconds)
    VALUES ('priv_forged', 'cfrec_t_alice', 'x', 'x', 'x', 'u', 'i', 'r', 'seed', '{}', 1, 1, 0, 0, 0, 0, 0, 0,
            1, 1, 1, 0.1, false, 0, 0, 0)$$),
            '00000'::text, 'bob cannot forge a model in alice''s name');
RESET ROLE;
SET LOCAL ROLE cfrec_t_carol;
SELECT throws_ok($$SELECT cf_train('cfrec_priv.carol_ratings', name => 'priv_alice', embedding_dim => 4,
                                   hidden => 8, epochs => 1, lr => 0.01, architecture => 'mf')$$,
                 '42501', NULL, 'carol (who may see it) cannot replace alice''s model: permission denied');
RESET ROLE;
SELECT is((SELECT id || ':' || owner FROM cfrec.models WHERE name = 'priv_alice'),
          (:alice_id || ':cfrec_t_alice')::text, 'alice''s model is still hers, under its id');
SELECT is((SELECT count(*) FROM cfrec.models WHERE name IN ('priv_alice', 'priv_forged')), 1::bigint,
          'there is one model of that name and no forged one');
SELECT is((SELECT count(*) FROM cfrec.model_users WHERE model_id = :alice_id) || '/'
       || (SELECT count(*) FROM cfrec.model_items WHERE model_id = :alice_id) || '/'
       || (SELECT count(*) FROM cfrec.model_tensors WHERE model_id = :alice_id) || '/'
       || (SELECT count(*) FROM cfrec.training_log WHERE model_id = :alice_id),
          :'alice_rows'::text, 'all of its rows are there, none added');
SELECT is(cfrec_priv.preds('priv_alice', 21, 9), :'alice_preds'::text, 'and it serves the same predictions');

-- ---- non-superusers train, own and replace their models (recommended)
SET LOCAL ROLE cfrec_t_alice;
SELECT lives_ok($$SELECT cf_train('cfrec_priv.alice_ratings', name => 'priv_alice2', embedding_dim => 4,
                                  hidden => 8, epochs => 1, lr => 0.01, architecture => 'mf')$$,
                'a non-superuser trains on a table she may read (recommended)');
RESET ROLE;
SELECT is((SELECT owner FROM cfrec.models WHERE name = 'priv_alice2'), 'cfrec_t_alice'::name,
          'the model belongs to her (recommended)');
SET LOCAL ROLE cfrec_t_alice;
SELECT lives_ok($$SELECT cf_train('cfrec_priv.alice_ratings', name => 'priv_alice2', embedding_dim => 4,
                                  hidden => 8, epochs => 1, lr => 0.02, architecture => 'mf')$$,
                'she replaces her own model (recommended)');
RESET ROLE;
SET LOCAL ROLE cfrec_t_app;
SELECT lives_ok($$SELECT cf_train('cfrec_priv.alice_ratings', name => 'priv_alice2', embedding_dim => 4,
                                  hidden => 8, epochs => 1, lr => 0.03, architecture => 'mf')$$,
                'a member of her role replaces it too (recommended)');
RESET ROLE;
SELECT is((SELECT count(*) || ':' || min(owner) || ':' || min(lr) FROM cfrec.models WHERE name = 'priv_alice2'),
          '1:cfrec_t_alice:0.03'::text, 'one model of the name, the member''s, still owned by her (recommended)');
SET LOCAL ROLE cfrec_t_alice;
SELECT lives_ok($$SELECT cf_train('cfrec_priv.alice_ratings', name => 'priv_alice2', embedding_dim => 4,
                                  hidden => 8, epochs => 1, lr => 0.01, architecture => 'mf')$$,
                'so she may still replace it after her member did (recommended)');
RESET ROLE;
SET LOCAL ROLE cfrec_t_bob;
SELECT lives_ok($$SELECT cf_train('cfrec_priv.rls_ratings', name => 'priv_bob_rls', embedding_dim => 4,
                                  hidden => 8, epochs => 1, lr => 0.01, architecture => 'mf')$$,
                'bob trains on a table with row-level security (recommended)');
RESET ROLE;
SELECT is((SELECT n_ratings FROM cfrec.models WHERE name = 'priv_bob_rls'),
          (SELECT count(*) FROM cfrec_priv.rls_ratings WHERE user_id <= 5),
          'on the rows he may see, no others (recommended)');
SELECT is((SELECT owner FROM cfrec.models WHERE name = 'priv_bob_rls'), 'cfrec_t_bob'::name,
          'his model is his (recommended)');

-- ---- who sees and serves which model (recommended)
SET LOCAL ROLE cfrec_t_bob;
SELECT is((SELECT count(*) FROM cf_models WHERE name LIKE 'priv_alice%'), 0::bigint,
          'bob does not see alice''s models: he may not read their source (recommended)');
SELECT is((SELECT count(*) FROM cfrec.models WHERE name LIKE 'priv_alice%'), 0::bigint,
          'not in cfrec.models either (recommended)');
SELECT is((SELECT count(*) FROM cfrec.model_users WHERE model_id = :alice_id)
        + (SELECT count(*) FROM cfrec.model_items WHERE model_id = :alice_id)
        + (SELECT count(*) FROM cfrec.model_tensors WHERE model_id = :alice_id)
        + (SELECT count(*) FROM cfrec.training_log WHERE model_id = :alice_id), 0::bigint,
          'nor their embeddings, per-user means, tensors or logs (recommended)');
SELECT ok(cfrec_priv.sqlstate_of($$SELECT cf_predict(1, 1, 'priv_alice')$$) IN ('42704', '42501'),
          'he cannot serve predictions of it (recommended)');
SELECT ok(cfrec_priv.sqlstate_of($$SELECT count(*) FROM cf_recommend(1, 5, 'priv_alice', exclude_rated => false)$$)
          IN ('42704', '42501'),
          'nor recommendations (recommended)');
SELECT is((SELECT count(*) FROM cf_models WHERE name = 'priv_bob'), 1::bigint, 'he sees his own model');
SELECT is(cfrec_priv.preds('priv_bob', 13, 7), :'bob_preds'::text, 'and serves it');
SELECT is(cfrec_priv.preds(NULL, 13, 7), cfrec_priv.preds('priv_bob_rls', 13, 7),
          'model => NULL is his newest model, not the newest of all (recommended)');
RESET ROLE;
SET LOCAL ROLE cfrec_t_carol;
SELECT is((SELECT count(*) FROM cf_models WHERE name = 'priv_alice'), 1::bigint,
          'carol, who may read alice''s source, sees her model');
SELECT is(cfrec_priv.preds('priv_alice', 21, 9), :'alice_preds'::text, 'and serves it, with the same predictions');
SELECT is(cfrec_priv.preds(NULL, 13, 7), :'carol_preds'::text,
          'her model => NULL is still her own model, not alice''s newer one (recommended)');
SELECT is((SELECT count(*) FROM cf_models WHERE name = 'priv_bob'), 0::bigint,
          'she does not see bob''s model (recommended)');
RESET ROLE;

-- ---- a hostile search_path: a schema first in it with look-alike tables and
-- operators and functions that record every call
CREATE SCHEMA cfrec_evil;
GRANT USAGE ON SCHEMA cfrec_evil TO PUBLIC;
CREATE TABLE cfrec_evil.calls (what text);
CREATE TABLE cfrec_evil.models (LIKE cfrec.models);
CREATE TABLE cfrec_evil.model_users (LIKE cfrec.model_users);
CREATE TABLE cfrec_evil.model_items (LIKE cfrec.model_items);
CREATE TABLE cfrec_evil.model_tensors (LIKE cfrec.model_tensors);
CREATE TABLE cfrec_evil.lr_sweeps (LIKE cfrec.lr_sweeps);
CREATE TABLE cfrec_evil.training_log (LIKE cfrec.training_log);
GRANT ALL ON ALL TABLES IN SCHEMA cfrec_evil TO PUBLIC;
CREATE FUNCTION cfrec_evil.eq_8_8(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO cfrec_evil.calls VALUES ('bigint = bigint'); RETURN $1 OPERATOR(pg_catalog.=) $2; END$$;
CREATE FUNCTION cfrec_evil.eq_4_8(integer, bigint) RETURNS boolean LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO cfrec_evil.calls VALUES ('integer = bigint'); RETURN $1 OPERATOR(pg_catalog.=) $2; END$$;
CREATE FUNCTION cfrec_evil.eq_4_4(integer, integer) RETURNS boolean LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO cfrec_evil.calls VALUES ('integer = integer'); RETURN $1 OPERATOR(pg_catalog.=) $2; END$$;
CREATE FUNCTION cfrec_evil.eq_t_t(text, text) RETURNS boolean LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO cfrec_evil.calls VALUES ('text = text'); RETURN $1 OPERATOR(pg_catalog.=) $2; END$$;
CREATE FUNCTION cfrec_evil.cat_t_t(text, text) RETURNS text LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO cfrec_evil.calls VALUES ('text || text'); RETURN $1 OPERATOR(pg_catalog.||) $2; END$$;
CREATE FUNCTION cfrec_evil.get_j_t(jsonb, text) RETURNS text LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO cfrec_evil.calls VALUES ('jsonb ->> text'); RETURN $1 OPERATOR(pg_catalog.->>) $2; END$$;
CREATE OPERATOR cfrec_evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = cfrec_evil.eq_8_8);
CREATE OPERATOR cfrec_evil.= (LEFTARG = integer, RIGHTARG = bigint, FUNCTION = cfrec_evil.eq_4_8);
CREATE OPERATOR cfrec_evil.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = cfrec_evil.eq_4_4);
CREATE OPERATOR cfrec_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = cfrec_evil.eq_t_t);
CREATE OPERATOR cfrec_evil.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = cfrec_evil.cat_t_t);
CREATE OPERATOR cfrec_evil.->> (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = cfrec_evil.get_j_t);
CREATE FUNCTION cfrec_evil.hashtext(text) RETURNS integer LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO cfrec_evil.calls VALUES ('hashtext'); RETURN 42; END$$;
CREATE FUNCTION cfrec_evil.pg_advisory_xact_lock(integer, integer) RETURNS void LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO cfrec_evil.calls VALUES ('pg_advisory_xact_lock'); END$$;
CREATE FUNCTION cfrec_evil.quote_ident(text) RETURNS text LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO cfrec_evil.calls VALUES ('quote_ident'); RETURN 'cfrec_evil'; END$$;
CREATE FUNCTION cfrec_evil.date_part(text, timestamp) RETURNS double precision LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO cfrec_evil.calls VALUES ('date_part'); RETURN 0; END$$;
CREATE FUNCTION cfrec_evil.hashtextextended(text, bigint) RETURNS bigint LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO cfrec_evil.calls VALUES ('hashtextextended'); RETURN 0; END$$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA cfrec_evil TO PUBLIC;

CREATE TABLE cfrec_priv.hs_ratings AS
SELECT u AS user_id, i AS item_id, (1 + (u * 3 + i) % 5)::real AS rating,
       timestamp '2022-01-01' + (u * 10 + i) * interval '1 day' AS rated_at
  FROM generate_series(1, 10) u, generate_series(1, 6) i WHERE (u * i) % 4 <> 1;
CREATE TABLE cfrec_priv.hs_test AS SELECT * FROM cfrec_priv.hs_ratings WHERE user_id <= 3;
GRANT SELECT ON cfrec_priv.hs_ratings, cfrec_priv.hs_test TO cfrec_t_bob;

SET LOCAL search_path = cfrec_evil, pg_catalog, public;
SELECT cfrec_priv.value_of($$SELECT cf_train('cfrec_priv.hs_ratings', name => 'priv_hs', architecture => 'seed', time_col => 'rated_at',
                                             valid_fraction => 0.2, embedding_dim => 4, hidden => 8,
                                             epochs => 2, num_it => 20, seed => 5)::text$$) AS hs_trained \gset
SELECT cfrec_priv.preds('priv_hs', 11, 7) AS hs_preds_evil \gset
SELECT cfrec_priv.value_of($$SELECT string_agg(r.item_id::text, ',' ORDER BY u, r.item_id)
                               FROM generate_series(1, 10) u, LATERAL cf_recommend(u, 3, 'priv_hs') r$$)
         AS hs_recs_evil \gset
SELECT cfrec_priv.value_of($$SELECT count(*) FROM cf_find_lr(model => 'priv_hs')$$) AS hs_steps_evil \gset
SELECT cfrec_priv.value_of($$SELECT count(*) FROM cf_training_log('priv_hs')$$) AS hs_log_evil \gset
SELECT cfrec_priv.value_of($$SELECT length(cf_plot_lr('priv_hs')) > 0 AND length(cf_plot_training('priv_hs')) > 0$$)
         AS hs_plots_evil \gset
SELECT cfrec_priv.value_of($$SELECT n_ratings FROM cf_evaluate('cfrec_priv.hs_test', 'priv_hs', k => 3)$$)
         AS hs_eval_n_evil \gset
SELECT cfrec_priv.value_of($$SELECT test_rows FROM cf_split('cfrec_priv.hs_ratings', 0.25)$$) AS hs_split_evil \gset
SET LOCAL ROLE cfrec_t_bob;
SELECT cfrec_priv.preds('priv_hs', 11, 7) AS hs_preds_bob \gset
RESET ROLE;
SET LOCAL search_path = public, pg_catalog;

SELECT unalike(:'hs_trained'::text, 'ERROR%', 'cf_train works under the hostile search_path');
SELECT is((SELECT string_agg(DISTINCT what, ', ') FROM cfrec_evil.calls), NULL::text,
          'no operator or function of the hostile schema was called');
SELECT is((SELECT count(*) FROM cfrec_evil.models) + (SELECT count(*) FROM cfrec_evil.model_users)
        + (SELECT count(*) FROM cfrec_evil.model_items) + (SELECT count(*) FROM cfrec_evil.model_tensors)
        + (SELECT count(*) FROM cfrec_evil.lr_sweeps) + (SELECT count(*) FROM cfrec_evil.training_log),
          0::bigint, 'nothing was written to the look-alike tables');
SELECT is((SELECT source || ' ' || n_ratings || ' ' || n_valid || ' ' || time_col FROM cfrec.models
            WHERE name = 'priv_hs'),
          'cfrec_priv.hs_ratings ' || (SELECT count(*) FROM cfrec_priv.hs_ratings) || ' '
            || round((SELECT count(*) FROM cfrec_priv.hs_ratings) * 0.2) || ' rated_at',
          'the model went to cfrec.models, trained on every rating, split by time');
SELECT is(cfrec_priv.preds('priv_hs', 11, 7), :'hs_preds_evil'::text,
          'predictions under the hostile search_path are the normal ones');
SELECT is(:'hs_preds_bob'::text, :'hs_preds_evil'::text, 'for a non-superuser too');
SELECT is(cfrec_priv.value_of($$SELECT string_agg(r.item_id::text, ',' ORDER BY u, r.item_id)
                                 FROM generate_series(1, 10) u, LATERAL cf_recommend(u, 3, 'priv_hs') r$$),
          :'hs_recs_evil'::text, 'so are recommendations (which read the source for rated items)');
SELECT is(cfrec_priv.value_of($$SELECT count(*) FROM generate_series(1, 10) u,
                                      LATERAL cf_recommend(u, 100, 'priv_hs') r, cfrec_priv.hs_ratings s
                                WHERE s.user_id = u AND s.item_id = r.item_id$$), '0'::text,
          'and they leave out rated items');
SELECT is(:'hs_steps_evil'::text, (SELECT count(*)::text FROM cfrec.lr_sweeps s JOIN cfrec.models m ON m.id = s.model_id
                              WHERE m.name = 'priv_hs'),
          'cf_find_lr read the stored sweep');
SELECT is(:'hs_log_evil'::text, '2'::text, 'cf_training_log read both epochs');
SELECT is(:'hs_plots_evil'::text, 'true'::text, 'the plots were drawn');
SELECT is(:'hs_eval_n_evil'::text, (SELECT count(*)::text FROM cfrec_priv.hs_test), 'cf_evaluate read the test relation');
SELECT is(:'hs_split_evil'::text, round((SELECT count(*) FROM cfrec_priv.hs_ratings) * 0.25)::text,
          'cf_split split the relation');

-- ---- quotes in schema, table, column and model names
CREATE SCHEMA "cfrec ""q"" schema";
CREATE TABLE "cfrec ""q"" schema"."t'a""b;le" ("u ""id""" int, "it'em" bigint, "rat ing" real, "when?" timestamptz);
INSERT INTO "cfrec ""q"" schema"."t'a""b;le"
SELECT u, i + 9000000000, 1 + (u * i) % 5, timestamptz '2023-01-01' + (u * 7 + i) * interval '1 hour'
  FROM generate_series(1, 9) u, generate_series(1, 5) i WHERE (u + i) % 3 <> 0;
SELECT lives_ok($$SELECT cf_train('"cfrec ""q"" schema"."t''a""b;le"', name => 'priv q''"model',
                                  user_col => 'u "id"', item_col => 'it''em', rating_col => 'rat ing',
                                  time_col => 'when?', embedding_dim => 4, hidden => 8, epochs => 1, lr => 0.01, architecture => 'mf')$$,
                'a relation and columns with quotes, spaces and semicolons train');
SELECT is((SELECT source || ' | ' || user_col || ' | ' || item_col || ' | ' || rating_col || ' | ' || time_col
             FROM cfrec.models WHERE name = 'priv q''"model'),
          'cfrec "q" schema.t''a"b;le | u "id" | it''em | rat ing | when?'::text,
          'and their names are stored as they are');
SELECT is(cfrec_priv.value_of($$SELECT count(*) FROM cf_recommend(1, 100, 'priv q''"model')$$),
          (5 - (SELECT count(*) FROM "cfrec ""q"" schema"."t'a""b;le" WHERE "u ""id""" = 1))::text,
          'recommendations leave out the rated items, read through the quoted names');
SELECT is(cfrec_priv.value_of($$SELECT cf_predict(2, 9000000001, 'priv q''"model') BETWEEN 1 AND 5$$), 'true'::text,
          'and predictions serve');

-- ---- a model whose owner role is gone: DROP ROLE does not know about the
-- catalog's owner column, so nothing stops it.  The catalog must stay usable,
-- the model must stay protected, and only a superuser may replace it.
SELECT cf_train('cfrec_priv.ghost_ratings', name => 'priv_ghost', embedding_dim => 4, hidden => 8,
                epochs => 1, lr => 0.01, architecture => 'mf') > 0 AS ghost_trained \gset
UPDATE cfrec.models SET owner = 'cfrec_t_ghost' WHERE name = 'priv_ghost';
DROP ROLE cfrec_t_ghost;
SET LOCAL ROLE cfrec_t_bob;
SELECT lives_ok($$SELECT count(*) FROM cf_models$$,
                'a dropped owner role does not make the catalog unreadable');
SELECT ok(cfrec_priv.sqlstate_of($$SELECT cf_train('cfrec_priv.bob_ratings', name => 'priv_ghost',
                                   embedding_dim => 4, hidden => 8, epochs => 1, lr => 0.01, architecture => 'mf')$$)
          IN ('42501', '23505', '42704'),
          'bob cannot take over the model of a dropped role');
SELECT lives_ok($$SELECT cf_train('cfrec_priv.bob_ratings', name => 'priv_bob_rls', embedding_dim => 4,
                                  hidden => 8, epochs => 1, lr => 0.01, architecture => 'mf')$$,
                'nor does that role''s model stop him replacing his own');
RESET ROLE;
SELECT lives_ok($$SELECT cf_train('cfrec_priv.bob_ratings', name => 'priv_after_ghost', embedding_dim => 4,
                                  hidden => 8, epochs => 1, lr => 0.01, architecture => 'mf')$$,
                'nor a superuser training another name');
SET LOCAL ROLE cfrec_t_bob;
RESET ROLE;
SELECT lives_ok($$SELECT cf_train('cfrec_priv.ghost_ratings', name => 'priv_ghost', embedding_dim => 4,
                                  hidden => 8, epochs => 1, lr => 0.01, architecture => 'mf')$$,
                'a superuser replaces the model of a dropped role (recommended)');
SELECT is((SELECT count(*) FROM cfrec.models WHERE name = 'priv_ghost'), 1::bigint,
          'one model of that name remains');

SELECT * FROM finish();
ROLLBACK;
