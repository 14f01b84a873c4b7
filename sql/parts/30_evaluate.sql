
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
