-- cf_synthetic_ratings: the asked sizes, the 1–5 range, deterministic per seed
SELECT count(*) AS n, count(DISTINCT user_id) <= 500 AS users_ok, count(DISTINCT item_id) <= 200 AS items_ok,
       min(user_id) >= 1 AND max(user_id) <= 500 AS user_ids_in_range,
       min(item_id) >= 1 AND max(item_id) <= 200 AS item_ids_in_range,
       min(rating) AS min_rating, max(rating) AS max_rating,
       bool_and(rating = round(rating)) AS whole_stars
  FROM cf_synthetic_ratings(500, 200, 20000, seed => 3);
SELECT (SELECT array_agg(r ORDER BY ord) FROM cf_synthetic_ratings(50, 20, 100, seed => 1) WITH ORDINALITY AS t(u, i, r, ord))
     = (SELECT array_agg(r ORDER BY ord) FROM cf_synthetic_ratings(50, 20, 100, seed => 1) WITH ORDINALITY AS t(u, i, r, ord))
       AS same_seed_same_rows,
       (SELECT array_agg(u ORDER BY ord) FROM cf_synthetic_ratings(50, 20, 100, seed => 1) WITH ORDINALITY AS t(u, i, r, ord))
     <> (SELECT array_agg(u ORDER BY ord) FROM cf_synthetic_ratings(50, 20, 100, seed => 2) WITH ORDINALITY AS t(u, i, r, ord))
       AS other_seed_other_rows;
-- popularity skew: the most rated tenth of the items holds far more than a tenth of the ratings
SELECT sum(c) FILTER (WHERE rk <= 20) / sum(c) > 0.3 AS skewed
  FROM (SELECT count(*) AS c, row_number() OVER (ORDER BY count(*) DESC) AS rk
          FROM cf_synthetic_ratings(500, 200, 20000) GROUP BY item_id) s;
-- no (user, item) pair twice, so a split never holds one rating on both sides
SELECT count(*) = count(DISTINCT (user_id, item_id)) AS pairs_unique
  FROM cf_synthetic_ratings(943, 1682, 100000, seed => 1);
SELECT * FROM cf_synthetic_ratings(10, 10, 91);
SELECT count(*) FROM cf_synthetic_ratings(10, 10, 0);
SELECT * FROM cf_synthetic_ratings(0, 10, 10);
SELECT * FROM cf_synthetic_ratings(10, 10, -1);
SELECT * FROM cf_synthetic_ratings(10, 10, 10, rank => 0);
SELECT * FROM cf_synthetic_ratings(10, 10, 10, noise => -1);
