
-- ---- Data at any size: ratings from a planted low-rank model ----
CREATE FUNCTION cf_synthetic_ratings(n_users int, n_items int, n_ratings bigint,
                                     rank int DEFAULT 10, noise float8 DEFAULT 0.5,
                                     seed bigint DEFAULT 0)
    RETURNS TABLE (user_id bigint, item_id bigint, rating real)
    AS 'MODULE_PATHNAME', 'cf_synthetic_ratings'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
