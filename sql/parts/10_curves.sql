
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
