-- cfrec 0.1.0, as released: kept so that ALTER EXTENSION cfrec UPDATE has a start.
\echo Use "CREATE EXTENSION cfrec" to load this file. \quit

-- The catalog lives in its own schema so that the user's search_path never
-- decides which table a model is read from or written to.
CREATE SCHEMA cfrec;
GRANT USAGE ON SCHEMA cfrec TO PUBLIC;

CREATE TABLE cfrec.models (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL UNIQUE,   -- one model per name: a retraining replaces it
    owner           name NOT NULL DEFAULT current_user,
    created_at      timestamptz NOT NULL DEFAULT now(),
    source          text NOT NULL,          -- schema.relation the model was trained on
    source_schema   text NOT NULL,
    source_table    text NOT NULL,
    user_col        text NOT NULL,
    item_col        text NOT NULL,
    rating_col      text NOT NULL,
    time_col        text,
    architecture    text NOT NULL,
    hyperparameters jsonb NOT NULL,
    embedding_dim   int NOT NULL,
    hidden          int NOT NULL,
    n_users         int NOT NULL,
    n_items         int NOT NULL,
    n_ratings       bigint NOT NULL,
    n_train         bigint NOT NULL,
    n_valid         bigint NOT NULL,
    rows_skipped    bigint NOT NULL,
    rating_min      float8 NOT NULL,
    rating_max      float8 NOT NULL,
    rating_mean     float8 NOT NULL,
    lr              float8 NOT NULL,        -- peak rate of the schedule
    lr_found        boolean NOT NULL,       -- chosen by the range test
    train_rmse      float8,
    valid_rmse      float8,
    load_seconds    float8 NOT NULL,
    sweep_seconds   float8 NOT NULL,
    train_seconds   float8 NOT NULL
);

CREATE TABLE cfrec.model_users (
    model_id    bigint NOT NULL,
    user_id     bigint NOT NULL,
    idx         int NOT NULL,
    n_ratings   int NOT NULL,
    mean_rating real NOT NULL,
    embedding   real[] NOT NULL,
    PRIMARY KEY (model_id, user_id)
);

CREATE TABLE cfrec.model_items (
    model_id    bigint NOT NULL,
    item_id     bigint NOT NULL,
    idx         int NOT NULL,
    n_ratings   int NOT NULL,
    mean_rating real NOT NULL,
    embedding   real[] NOT NULL,
    PRIMARY KEY (model_id, item_id)
);

-- Dense layers and batch-norm statistics, named as in a PyTorch state_dict.
CREATE TABLE cfrec.model_tensors (
    model_id    bigint NOT NULL,
    name        text NOT NULL,
    shape       int[] NOT NULL,
    vals        real[] NOT NULL,
    PRIMARY KEY (model_id, name)
);

CREATE TABLE cfrec.lr_sweeps (
    model_id      bigint NOT NULL,
    step          int NOT NULL,
    lr            float8 NOT NULL,
    loss          float8,
    smoothed_loss float8,
    suggested     boolean NOT NULL,
    PRIMARY KEY (model_id, step)
);

CREATE TABLE cfrec.training_log (
    model_id        bigint NOT NULL,
    epoch           int NOT NULL,
    steps           bigint NOT NULL,
    lr              float8 NOT NULL,
    train_loss      float8,
    train_rmse      float8,
    valid_rmse      float8,
    ratings_per_sec float8 NOT NULL,
    elapsed_seconds float8 NOT NULL,
    PRIMARY KEY (model_id, epoch)
);

SELECT pg_catalog.pg_extension_config_dump('cfrec.models', '');
SELECT pg_catalog.pg_extension_config_dump('cfrec.models_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('cfrec.model_users', '');
SELECT pg_catalog.pg_extension_config_dump('cfrec.model_items', '');
SELECT pg_catalog.pg_extension_config_dump('cfrec.model_tensors', '');
SELECT pg_catalog.pg_extension_config_dump('cfrec.lr_sweeps', '');
SELECT pg_catalog.pg_extension_config_dump('cfrec.training_log', '');

-- Who may do what with models.  A model belongs to the role that trained it
-- (a replacement keeps the owner); its owner's members and superusers may
-- replace or delete it.  It is visible to them and to every role that may
-- read its source relation, as pg_stats shows statistics only to those who
-- can read the table: a model holds per-user means and counts.  Row-level
-- security enforces it on the catalog; names stay unique across roles.
GRANT SELECT, INSERT, DELETE ON ALL TABLES IN SCHEMA cfrec TO PUBLIC;
GRANT USAGE ON SEQUENCE cfrec.models_id_seq TO PUBLIC;

-- to_regrole: an owner role may have been dropped since.
CREATE FUNCTION cfrec.is_owner(owner name) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN coalesce(pg_catalog.pg_has_role(pg_catalog.to_regrole(owner::pg_catalog.text)::pg_catalog.oid,
                                           'MEMBER'), false);
CREATE FUNCTION cfrec.can_read(owner name, source_schema text, source_table text) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN cfrec.is_owner(owner) OR EXISTS (
        SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
         WHERE n.nspname OPERATOR(pg_catalog.=) source_schema AND c.relname OPERATOR(pg_catalog.=) source_table
           AND pg_catalog.has_schema_privilege(n.oid, 'USAGE')
           AND pg_catalog.has_table_privilege(c.oid, 'SELECT'));
-- The rows of a model follow the model's owner.
CREATE FUNCTION cfrec.owns_model(model_id bigint) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT EXISTS (SELECT 1 FROM cfrec.models m WHERE m.id = model_id AND cfrec.is_owner(m.owner)) $$;

ALTER TABLE cfrec.models ENABLE ROW LEVEL SECURITY;
CREATE POLICY read_visible ON cfrec.models FOR SELECT USING (cfrec.can_read(owner, source_schema, source_table));
CREATE POLICY insert_own ON cfrec.models FOR INSERT WITH CHECK (cfrec.is_owner(owner));
CREATE POLICY delete_own ON cfrec.models FOR DELETE USING (cfrec.is_owner(owner));

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['model_users', 'model_items', 'model_tensors', 'lr_sweeps', 'training_log'] LOOP
        EXECUTE format('ALTER TABLE cfrec.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY read_visible ON cfrec.%I FOR SELECT'
                       ' USING (EXISTS (SELECT 1 FROM cfrec.models m WHERE m.id OPERATOR(pg_catalog.=) model_id))', t);
        EXECUTE format('CREATE POLICY insert_own ON cfrec.%I FOR INSERT WITH CHECK (cfrec.owns_model(model_id))', t);
        EXECUTE format('CREATE POLICY delete_own ON cfrec.%I FOR DELETE USING (cfrec.owns_model(model_id))', t);
    END LOOP;
END $$;

CREATE VIEW cf_models AS
    SELECT id, name, owner, created_at, source, architecture,
           n_users, n_items, n_ratings, n_train, n_valid,
           lr, lr_found, train_rmse, valid_rmse,
           load_seconds, sweep_seconds, train_seconds,
           hyperparameters
      FROM cfrec.models;
-- the view reads as its caller, so row-level security applies to it too
ALTER VIEW cf_models SET (security_invoker = true);
GRANT SELECT ON cf_models TO PUBLIC;

-- Arguments left NULL take the architecture's value (see README: for 'seed'
-- they are the original network's: embedding_dim 100, hidden 500, dropout
-- {0.1, 0.2}, epochs 10, batch_size 1024, weight_decay 1e-5).
CREATE FUNCTION cf_train(
    relation         text,
    name             text     DEFAULT NULL,
    user_col         text     DEFAULT NULL,
    item_col         text     DEFAULT NULL,
    rating_col       text     DEFAULT NULL,
    time_col         text     DEFAULT NULL,
    embedding_dim    int      DEFAULT NULL,
    hidden           int      DEFAULT NULL,
    dropout          float8[] DEFAULT NULL,
    epochs           int      DEFAULT NULL,
    batch_size       int      DEFAULT NULL,
    lr               float8   DEFAULT NULL,
    weight_decay     float8   DEFAULT NULL,
    valid_fraction   float8   DEFAULT NULL,
    seed             bigint   DEFAULT NULL,
    cut_frac         float8   DEFAULT NULL,
    ratio            float8   DEFAULT NULL,
    start_lr         float8   DEFAULT NULL,
    end_lr           float8   DEFAULT NULL,
    num_it           int      DEFAULT NULL,
    architecture     text     DEFAULT 'default',
    dot_dim          int      DEFAULT NULL,
    row_weight_decay float8   DEFAULT NULL,
    reg_user         float8   DEFAULT NULL,
    reg_item         float8   DEFAULT NULL,
    row_l2           float8   DEFAULT NULL,
    bias_l2          float8   DEFAULT NULL,
    patience         int      DEFAULT NULL
) RETURNS bigint
    AS 'MODULE_PATHNAME', 'cf_train'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION cf_train IS 'train the seed''s network on a ratings relation; returns the model id';

CREATE FUNCTION cf_predict(user_id bigint, item_id bigint, model text DEFAULT NULL)
    RETURNS float8
    AS 'MODULE_PATHNAME', 'cf_predict'
    LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION cf_recommend(user_id bigint, k int DEFAULT 10, model text DEFAULT NULL,
                             exclude_rated boolean DEFAULT true)
    RETURNS TABLE (item_id bigint, score float8)
    AS 'MODULE_PATHNAME', 'cf_recommend'
    LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 10;

-- The id of the newest model of that name, or of the newest of all for NULL.
CREATE FUNCTION cfrec.model_id(model text)
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'cf_model_id'
    LANGUAGE C STABLE PARALLEL RESTRICTED;

-- ---- Training you can see: range tests, suggestions, schedule, curves ----

-- With relation: a fresh range test on it (no model is stored).  Without:
-- the sweep stored with model, or with the newest model.
CREATE FUNCTION cf_find_lr(
    relation      text     DEFAULT NULL,
    model         text     DEFAULT NULL,
    start_lr      float8   DEFAULT 1e-7,
    end_lr        float8   DEFAULT 10,
    num_it        int      DEFAULT 100,
    stop_div      boolean  DEFAULT true,
    user_col      text     DEFAULT NULL,
    item_col      text     DEFAULT NULL,
    rating_col    text     DEFAULT NULL,
    embedding_dim int      DEFAULT 100,
    hidden        int      DEFAULT 500,
    dropout       float8[] DEFAULT ARRAY[0.1, 0.2],
    batch_size    int      DEFAULT 1024,
    weight_decay  float8   DEFAULT 1e-5,
    seed          bigint   DEFAULT 0
) RETURNS TABLE (step int, lr float8, loss float8, smoothed_loss float8, suggested bool)
    AS 'MODULE_PATHNAME', 'cf_find_lr'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- One row per suggestion rule over the same sweep as cf_find_lr:
--   valley  (the default) fastai's rule: the middle of the longest falling stretch
--   steep   the steepest fall of the smoothed loss against ln(lr)
--   minimum the rate at the lowest smoothed loss, divided by 10
CREATE FUNCTION cf_lr_suggestions(
    relation      text     DEFAULT NULL,
    model         text     DEFAULT NULL,
    start_lr      float8   DEFAULT 1e-7,
    end_lr        float8   DEFAULT 10,
    num_it        int      DEFAULT 100,
    stop_div      boolean  DEFAULT true,
    user_col      text     DEFAULT NULL,
    item_col      text     DEFAULT NULL,
    rating_col    text     DEFAULT NULL,
    embedding_dim int      DEFAULT 100,
    hidden        int      DEFAULT 500,
    dropout       float8[] DEFAULT ARRAY[0.1, 0.2],
    batch_size    int      DEFAULT 1024,
    weight_decay  float8   DEFAULT 1e-5,
    seed          bigint   DEFAULT 0
) RETURNS TABLE (rule text, lr float8, step int, is_default bool)
    AS 'MODULE_PATHNAME', 'cf_lr_suggestions'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- The slanted triangular rate of every batch (step 1 is the first), exactly
-- as the trainer computes it.
CREATE FUNCTION cf_lr_schedule(total_steps int, eta_max float8,
                               cut_frac float8 DEFAULT 0.1, ratio float8 DEFAULT 32)
    RETURNS TABLE (step int, lr float8)
    AS 'MODULE_PATHNAME', 'cf_lr_schedule'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION cf_training_log(model text DEFAULT NULL)
    RETURNS TABLE (epoch int, steps bigint, lr float8, train_loss float8, train_rmse float8,
                   valid_rmse float8, ratings_per_sec float8, elapsed_seconds float8)
    LANGUAGE sql STABLE PARALLEL RESTRICTED
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT l.epoch, l.steps, l.lr, l.train_loss, l.train_rmse, l.valid_rmse,
               l.ratings_per_sec, l.elapsed_seconds
          FROM cfrec.training_log l
         WHERE l.model_id = cfrec.model_id(model)
         ORDER BY l.epoch
    $$;

-- SVG documents (800×500): the range test on a log axis with the suggestion
-- and the schedule it produced; the train and valid RMSE per epoch.
CREATE FUNCTION cf_plot_lr(model text DEFAULT NULL) RETURNS text
    AS 'MODULE_PATHNAME', 'cf_plot_lr'
    LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION cf_plot_training(model text DEFAULT NULL) RETURNS text
    AS 'MODULE_PATHNAME', 'cf_plot_training'
    LANGUAGE C STABLE PARALLEL RESTRICTED;

-- ---- Data at any size: ratings from a planted low-rank model ----
CREATE FUNCTION cf_synthetic_ratings(n_users int, n_items int, n_ratings bigint,
                                     rank int DEFAULT 10, noise float8 DEFAULT 0.5,
                                     seed bigint DEFAULT 0)
    RETURNS TABLE (user_id bigint, item_id bigint, rating real)
    AS 'MODULE_PATHNAME', 'cf_synthetic_ratings'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- ---- Evaluation on held-out ratings ----
-- Rating error over every row (rows of ids the model never saw are predicted
-- by the fallbacks and counted in n_fallback) and ranking metrics at k over
-- the test users with a relevant rating (≥ relevant_at, by default 4 on a
-- 1–5 scale scaled to the model's range); items a user rated in the model's
-- source relation are never recommended.
CREATE FUNCTION cf_evaluate(test_relation text, model text DEFAULT NULL, k int DEFAULT 10,
                            relevant_at float8 DEFAULT NULL, user_col text DEFAULT NULL,
                            item_col text DEFAULT NULL, rating_col text DEFAULT NULL)
    RETURNS TABLE (rmse float8, mae float8, n_ratings bigint, n_fallback bigint,
                   precision_at_k float8, recall_at_k float8, ndcg_at_k float8,
                   hit_rate_at_k float8, n_ranked_users bigint, relevant_at float8)
    AS 'MODULE_PATHNAME', 'cf_evaluate'
    LANGUAGE C STABLE PARALLEL RESTRICTED;

-- cf_split: hold part of a ratings relation out for evaluation.
--
--   cf_split('ratings', 0.1)                      a random 10%, the same for
--                                                 the same seed and content
--   cf_split('ratings', 0.1, by => 'rated_on')    the latest 10% by that column
--
-- creates <relation>_train and <relation>_test next to the relation (in its
-- schema; train_name / test_name override the names, and may name a schema),
-- with the relation's columns, and returns their qualified names and sizes.
-- round(n * test_fraction) rows go to the test table, the rest to the train
-- table, read in a single statement (one snapshot), so the sizes always add up
-- to the relation's.  The relation's indexes on plain columns (say, on
-- user_id, which serving uses to exclude a user's rated items) are built on
-- both tables afterwards.
--
-- Rows are ordered by a hash of their text form combined with the seed (not
-- by random()), so the random split depends only on the rows and the seed,
-- not on their physical order; with `by`, by that column, latest first (NULLs
-- count as oldest), ties broken by the same hash, then by the text form.
--
-- The relation is resolved with the caller's search_path by the SQL wrapper
-- cf_split; the work is done by cfrec.split_relation, whose search_path is
-- fixed (a function with SET search_path could not see the caller's).

CREATE FUNCTION cfrec.split_relation(
    src            regclass,
    relation       text,
    test_fraction  float8,
    by             text,
    seed           bigint,
    train_name     text,
    test_name      text
) RETURNS TABLE (train_table text, test_table text, train_rows bigint, test_rows bigint)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    -- the text form of a row (hashed for the order) must not depend on the
    -- session's display settings
    SET datestyle = 'ISO, MDY'
    SET intervalstyle = 'postgres'
    SET timezone = 'UTC'
    SET extra_float_digits = 1
    SET bytea_output = 'hex'
AS $fn$
DECLARE
    src_nsp    name;
    src_rel    name;
    src_kind   "char";
    names      text[];
    parts      text[];
    nsp        name[] := ARRAY[NULL, NULL]::name[];
    rel        name[] := ARRAY[NULL, NULL]::name[];
    arg        text[] := ARRAY['train_name', 'test_name'];
    qualified  text[] := ARRAY[NULL, NULL]::text[];
    order_by   text;
    row_text   constant text := '(t.*)::pg_catalog.text';
    n_train    bigint;
    n_test     bigint;
    idx        record;
BEGIN
    IF relation IS NULL THEN
        RAISE EXCEPTION 'relation must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the name of the ratings table or view.';
    END IF;
    IF src IS NULL THEN
        RAISE EXCEPTION 'relation "%" does not exist', relation
            USING ERRCODE = 'undefined_table',
                  HINT = 'Pass the name of a table or view, schema-qualified if its schema is not on the search_path.';
    END IF;
    IF test_fraction IS NULL OR NOT (test_fraction > 0 AND test_fraction < 1) THEN
        RAISE EXCEPTION 'test_fraction must be between 0 and 1, not %', coalesce(test_fraction::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the share of ratings to hold out, such as 0.1 for 10%.';
    END IF;
    IF seed IS NULL THEN
        RAISE EXCEPTION 'seed must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass a number, or leave seed out for 0.';
    END IF;

    SELECT n.nspname, c.relname, c.relkind INTO src_nsp, src_rel, src_kind
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = src;
    IF src_kind NOT IN ('r', 'p', 'v', 'm', 'f') THEN
        RAISE EXCEPTION '"%.%" is not a table, view, materialized view or foreign table', src_nsp, src_rel
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'Pass the relation that holds the ratings.';
    END IF;

    IF by IS NOT NULL THEN
        PERFORM FROM pg_attribute a
         WHERE a.attrelid = src AND a.attname = by AND a.attnum > 0 AND NOT a.attisdropped;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'column "%" does not exist in relation "%.%"', by, src_nsp, src_rel
                USING ERRCODE = 'undefined_column',
                      DETAIL = format('Its columns are: %s.',
                                      (SELECT string_agg(format('%I %s', a.attname,
                                                                format_type(a.atttypid, a.atttypmod)),
                                                         ', ' ORDER BY a.attnum)
                                         FROM pg_attribute a
                                        WHERE a.attrelid = src AND a.attnum > 0 AND NOT a.attisdropped)),
                      HINT = 'Pass by => the name of a date or time column, or leave it out for a random split.';
        END IF;
    END IF;

    -- the two tables' schemas and names
    names := ARRAY[train_name, test_name];
    FOR i IN 1..2 LOOP
        IF names[i] IS NULL THEN
            nsp[i] := src_nsp;
            rel[i] := src_rel || CASE i WHEN 1 THEN '_train' ELSE '_test' END;
            IF octet_length(src_rel::text || CASE i WHEN 1 THEN '_train' ELSE '_test' END) > 63 THEN
                RAISE EXCEPTION 'the name "%" would be too long', src_rel || CASE i WHEN 1 THEN '_train' ELSE '_test' END
                    USING ERRCODE = 'name_too_long',
                          HINT = format('Pass %s => a shorter name.', arg[i]);
            END IF;
        ELSE
            BEGIN
                parts := parse_ident(names[i]);
            EXCEPTION WHEN invalid_parameter_value THEN
                parts := NULL;
            END;
            IF parts IS NULL OR cardinality(parts) NOT IN (1, 2) THEN
                RAISE EXCEPTION '% "%" is not a valid table name', arg[i], names[i]
                    USING ERRCODE = 'invalid_name',
                          HINT = 'Pass a name such as ratings_train or myschema.ratings_train, double-quoting parts as in SQL.';
            END IF;
            IF octet_length(parts[cardinality(parts)]) > 63 THEN
                RAISE EXCEPTION '% "%" is too long', arg[i], names[i]
                    USING ERRCODE = 'name_too_long',
                          HINT = 'Names are at most 63 bytes long.';
            END IF;
            nsp[i] := CASE cardinality(parts) WHEN 2 THEN parts[1] ELSE src_nsp END;
            rel[i] := parts[cardinality(parts)];
        END IF;
        qualified[i] := format('%I.%I', nsp[i], rel[i]);
        PERFORM FROM pg_namespace n WHERE n.nspname = nsp[i];
        IF NOT FOUND THEN
            RAISE EXCEPTION 'schema "%" does not exist', nsp[i]
                USING ERRCODE = 'invalid_schema_name',
                      HINT = format('Create it first, or pass %s => a name in an existing schema.', arg[i]);
        END IF;
        PERFORM FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = nsp[i] AND c.relname = rel[i];
        IF FOUND THEN
            RAISE EXCEPTION 'relation "%.%" already exists', nsp[i], rel[i]
                USING ERRCODE = 'duplicate_table',
                      HINT = format('Drop it first (DROP TABLE %s), or pass %s => another name.', qualified[i], arg[i]);
        END IF;
    END LOOP;
    IF nsp[1] = nsp[2] AND rel[1] = rel[2] THEN
        RAISE EXCEPTION 'train_name and test_name name the same table "%.%"', nsp[1], rel[1]
            USING ERRCODE = 'invalid_parameter_value',
              HINT = 'Pass two different names.';
    END IF;

    order_by := format('pg_catalog.hashtextextended(%s, %s), %s COLLATE "C"',
                       row_text, seed, row_text);
    IF by IS NOT NULL THEN
        order_by := format('t.%I DESC NULLS LAST, ', by) || order_by;
    END IF;

    FOR i IN 1..2 LOOP
        EXECUTE format('CREATE TABLE %s (LIKE %I.%I)', qualified[i], src_nsp, src_rel);
    END LOOP;
    -- One statement, so one snapshot: the two parts are of the same rows.
    EXECUTE format($q$
        WITH s AS MATERIALIZED (
            SELECT t AS r,
                   pg_catalog.row_number() OVER (ORDER BY %s) AS rn,
                   pg_catalog.round((pg_catalog.count(*) OVER () * $1)::pg_catalog.numeric) AS n_test
              FROM %I.%I AS t),
        held AS (
            INSERT INTO %s SELECT (s.r).* FROM s WHERE s.rn <= s.n_test RETURNING 1)
        INSERT INTO %s SELECT (s.r).* FROM s WHERE s.rn > s.n_test
        $q$, order_by, src_nsp, src_rel, qualified[2], qualified[1])
        USING test_fraction;
    GET DIAGNOSTICS n_train = ROW_COUNT;
    EXECUTE format('SELECT pg_catalog.count(*) FROM %s', qualified[2]) INTO n_test;

    -- the relation's indexes on plain columns, built now that the data is in
    FOR idx IN
        SELECT am.amname, string_agg(format('%I', a.attname), ', ' ORDER BY k.ord) AS cols
          FROM pg_index ix
          JOIN pg_class ic ON ic.oid = ix.indexrelid
          JOIN pg_am am ON am.oid = ic.relam
          CROSS JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum
         WHERE ix.indrelid = src AND ix.indpred IS NULL AND ix.indexprs IS NULL
           AND k.ord <= ix.indnkeyatts AND am.amname IN ('btree', 'hash')
         GROUP BY ix.indexrelid, am.amname
         ORDER BY ix.indexrelid
    LOOP
        FOR i IN 1..2 LOOP
            EXECUTE format('CREATE INDEX ON %s USING %I (%s)', qualified[i], idx.amname, idx.cols);
        END LOOP;
    END LOOP;
    FOR i IN 1..2 LOOP
        EXECUTE format('ANALYZE %s', qualified[i]);
    END LOOP;

    train_table := qualified[1];
    test_table := qualified[2];
    train_rows := n_train;
    test_rows := n_test;
    RETURN NEXT;
END
$fn$;

CREATE FUNCTION cf_split(
    relation       text,
    test_fraction  float8,
    by             text   DEFAULT NULL,
    seed           bigint DEFAULT 0,
    train_name     text   DEFAULT NULL,
    test_name      text   DEFAULT NULL
) RETURNS TABLE (train_table text, test_table text, train_rows bigint, test_rows bigint)
    LANGUAGE sql VOLATILE
    -- no SET search_path here: the relation is looked up on the caller's;
    -- every name below is qualified
    AS $$
        SELECT s.train_table, s.test_table, s.train_rows, s.test_rows
          FROM cfrec.split_relation(pg_catalog.to_regclass(relation), relation,
                                    test_fraction, by, seed, train_name, test_name) AS s
    $$;
COMMENT ON FUNCTION cf_split IS 'split a ratings relation into <relation>_train and <relation>_test, by time or at random (deterministic per seed)';
