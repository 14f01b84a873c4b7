
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
