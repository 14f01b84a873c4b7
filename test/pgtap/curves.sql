-- The range test, its suggestions, the schedule and the pictures.
BEGIN;
SELECT plan(13);
SET LOCAL client_min_messages = warning;

CREATE TABLE curve_ratings AS
SELECT u AS user_id, i AS item_id, (1 + (u * 7 + i * 3) % 5)::real AS rating
  FROM generate_series(1, 60) u, generate_series(1, 30) i
 WHERE (u + i) % 3 <> 0;

-- the schedule is the seed's sltr() wherever total_steps·cut_frac is whole
CREATE FUNCTION seed_sltr(total int, t int, eta float8, cut_frac float8, ratio float8)
RETURNS float8 LANGUAGE sql IMMUTABLE AS $$
  SELECT eta * (1 + p * (ratio - 1)) / ratio
    FROM (SELECT CASE WHEN t < floor(total * cut_frac)
                      THEN t / floor(total * cut_frac)
                      ELSE 1 - ((t - floor(total * cut_frac))
                                / (floor(total * cut_frac) * (1 / cut_frac - 1))) END AS p) s
$$;
SELECT is((SELECT count(*) FROM (VALUES (10), (20), (100), (1000), (1230)) v(total),
                 cf_lr_schedule(v.total, 0.01) s
            WHERE abs(s.lr - seed_sltr(v.total, s.step - 1, 0.01, 0.1, 32)) > 1e-12 * 0.01),
          0::bigint, 'cf_lr_schedule equals the seed formula at T = 10, 20, 100, 1000, 1230');
SELECT is((SELECT count(*) FROM cf_lr_schedule(50, 0.02, 0.2, 10) s
            WHERE abs(s.lr - seed_sltr(50, s.step - 1, 0.02, 0.2, 10)) > 1e-14),
          0::bigint, 'and with cut_frac 0.2, ratio 10');
SELECT is((SELECT count(*) FROM (VALUES (1), (7), (15), (25), (1009)) v(total),
                 cf_lr_schedule(v.total, 0.01) s
            WHERE NOT (s.lr > 0 AND s.lr <= 0.01)),
          0::bigint, 'rates stay in (0, eta_max] at T = 1, 7, 15, 25, 1009');
SELECT is((SELECT count(*) FROM (VALUES (1), (7), (15), (25), (1009)) v(total),
                 cf_lr_schedule(v.total, 0.01) s), 1057::bigint, 'one row per step');
SELECT is((SELECT max(lr) FROM cf_lr_schedule(1000, 0.01)), 0.01::float8, 'the peak is eta_max');

-- a fresh range test returns one suggested row, with the rule's rate
CREATE TEMP TABLE sweep AS
SELECT * FROM cf_find_lr('curve_ratings', embedding_dim => 8, hidden => 16, batch_size => 64);
SELECT is((SELECT count(*) FROM sweep WHERE suggested), 1::bigint, 'a fresh sweep suggests one rate');
SELECT ok((SELECT bool_and(lr > 0) AND min(lr) >= 1e-7 AND max(lr) <= 10 FROM sweep),
          'rates within [start_lr, end_lr]');
SELECT is((SELECT lr FROM cf_lr_suggestions('curve_ratings', embedding_dim => 8, hidden => 16,
                                            batch_size => 64) WHERE rule = 'valley'),
          (SELECT lr FROM sweep WHERE suggested), 'valley is the suggested rate');
SELECT is((SELECT array_agg(rule ORDER BY rule) FROM cf_lr_suggestions(
                 'curve_ratings', embedding_dim => 8, hidden => 16, batch_size => 64)),
          ARRAY['minimum', 'steep', 'valley'], 'three rules');

-- the range test restores model and optimizer: training after it equals training without it
SELECT cf_train('curve_ratings', name => 'found', architecture => 'seed', epochs => 2, embedding_dim => 8, hidden => 16,
                batch_size => 64, seed => 3) AS found_id \gset
SELECT cf_train('curve_ratings', name => 'given', architecture => 'seed', epochs => 2, embedding_dim => 8, hidden => 16,
                batch_size => 64, seed => 3,
                lr => (SELECT lr FROM cf_models WHERE name = 'found')) AS given_id \gset
SELECT is((SELECT count(*) FROM cfrec.model_tensors a JOIN cfrec.model_tensors b USING (name)
            WHERE a.model_id = :found_id AND b.model_id = :given_id AND a.vals = b.vals),
          12::bigint, 'same model with the range test and with its rate given');

-- the pictures are well-formed XML and carry the suggested rate's label
SELECT ok(xml_is_well_formed_document(cf_plot_lr('found')), 'cf_plot_lr is an XML document');
SELECT ok(xml_is_well_formed_document(cf_plot_training('found')), 'cf_plot_training too');
SELECT ok(cf_plot_lr('found') LIKE '%suggested lr '
          || trim(to_char((SELECT lr FROM cf_models WHERE name = 'found'), '9.9EEEE')) || '%',
          'the picture labels the suggested rate');

SELECT * FROM finish();
ROLLBACK;
