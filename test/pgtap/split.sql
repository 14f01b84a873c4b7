-- cf_split: held-out latest ratings, deterministic random splits, sizes, errors.
BEGIN;
SELECT plan(27);
SET LOCAL client_min_messages = warning;

-- 1000 ratings on 40 dates, so most dates are shared by many ratings
CREATE TABLE tap_split AS
SELECT u::bigint AS user_id, i::bigint AS item_id, (1 + (u * 7 + i * 3) % 5)::smallint AS rating,
       date '2021-01-01' + (u * i) % 40 AS rated_on
  FROM generate_series(1, 50) u, generate_series(1, 30) i
 WHERE (u + i) % 3 <> 0;
CREATE INDEX ON tap_split (user_id);
SELECT is((SELECT count(*) FROM tap_split), 1000::bigint, 'the fixture has 1000 ratings');

-- ---------------------------------------------------------------- by date
SELECT results_eq(
  $$SELECT * FROM cf_split('tap_split', 0.1, by => 'rated_on')$$,
  $$VALUES ('public.tap_split_train', 'public.tap_split_test', 900::bigint, 100::bigint)$$,
  'by date: returns the qualified names and round(n * fraction) test rows');
SELECT is((SELECT count(*) FROM tap_split_train) + (SELECT count(*) FROM tap_split_test),
          (SELECT count(*) FROM tap_split), 'by date: the sizes add up');
SELECT bag_eq(
  $$SELECT * FROM tap_split_train UNION ALL SELECT * FROM tap_split_test$$,
  $$SELECT * FROM tap_split$$,
  'by date: train and test together are exactly the relation');
SELECT cmp_ok((SELECT min(rated_on) FROM tap_split_test), '>=', (SELECT max(rated_on) FROM tap_split_train),
              'by date: no test rating is older than a train rating');
SELECT is((SELECT count(*) FROM tap_split_test
            WHERE rated_on > (SELECT max(rated_on) FROM tap_split_train)),
          (SELECT count(*) FROM tap_split
            WHERE rated_on > (SELECT max(rated_on) FROM tap_split_train)),
          'by date: every rating later than the train part is held out');
SELECT cmp_ok((SELECT count(*) FROM tap_split_test
                WHERE rated_on = (SELECT max(rated_on) FROM tap_split_train)), '>', 0::bigint,
              'by date: the ratings of the boundary date fall on both sides (ties were broken)');
SELECT is((SELECT array_agg(format_type(atttypid, atttypmod) || ' ' || attname ORDER BY attnum)
             FROM pg_attribute WHERE attrelid = 'tap_split_test'::regclass AND attnum > 0 AND NOT attisdropped),
          (SELECT array_agg(format_type(atttypid, atttypmod) || ' ' || attname ORDER BY attnum)
             FROM pg_attribute WHERE attrelid = 'tap_split'::regclass AND attnum > 0 AND NOT attisdropped),
          'the test table has the relation''s columns');
SELECT is((SELECT array_agg(pg_get_indexdef(indexrelid)) FROM pg_index WHERE indrelid = 'tap_split_train'::regclass),
          ARRAY['CREATE INDEX tap_split_train_user_id_idx ON public.tap_split_train USING btree (user_id)'],
          'the index on user_id is built on the train table');

-- the same split again, from a copy in another physical order: the same ties fall the same way
CREATE TABLE tap_split_rev AS SELECT * FROM tap_split ORDER BY item_id DESC, user_id;
SELECT * FROM cf_split('tap_split_rev', 0.1, by => 'rated_on') \gset
SELECT bag_eq($$SELECT * FROM tap_split_rev_test$$, $$SELECT * FROM tap_split_test$$,
              'by date: ties are broken by the rows, not by their order on disk');

-- ---------------------------------------------------------------- random
SELECT * FROM cf_split('tap_split', 0.2, seed => 1, train_name => 'tap_s1_train', test_name => 'tap_s1_test') \gset s1_
SELECT * FROM cf_split('tap_split', 0.2, seed => 1, train_name => 'tap_s1b_train', test_name => 'tap_s1b_test') \gset s1b_
SELECT * FROM cf_split('tap_split', 0.2, seed => 2, train_name => 'tap_s2_train', test_name => 'tap_s2_test') \gset s2_
SELECT * FROM cf_split('tap_split_rev', 0.2, seed => 1, train_name => 'tap_s1r_train', test_name => 'tap_s1r_test') \gset s1r_
SELECT is(ARRAY[:s1_train_rows, :s1_test_rows]::bigint[], ARRAY[800, 200]::bigint[],
          'random: 20% held out, the rest to train');
SELECT bag_eq($$SELECT * FROM tap_s1_train UNION ALL SELECT * FROM tap_s1_test$$, $$SELECT * FROM tap_split$$,
              'random: train and test together are exactly the relation');
SELECT bag_eq($$SELECT * FROM tap_s1_test$$, $$SELECT * FROM tap_s1b_test$$,
              'random: the same seed gives the same test rows');
SELECT bag_eq($$SELECT * FROM tap_s1r_test$$, $$SELECT * FROM tap_s1_test$$,
              'random: the split does not depend on the physical order');
SELECT bag_ne($$SELECT * FROM tap_s1_test$$, $$SELECT * FROM tap_s2_test$$,
              'random: another seed gives other test rows');
SELECT cmp_ok((SELECT count(*) FROM tap_s1_test a JOIN tap_s2_test b USING (user_id, item_id)), '<', 100::bigint,
              'random: two seeds share few test rows');
SELECT cmp_ok((SELECT count(DISTINCT user_id) FROM tap_s1_test), '>=', 40::bigint,
              'random: the test rows are spread over the users');
SELECT isnt((SELECT min(rated_on) FROM tap_s1_test), (SELECT max(rated_on) FROM tap_split),
            'random: not just the latest ratings');

-- ---------------------------------------------------------------- names
CREATE SCHEMA "tap Split";
CREATE TABLE "tap Split"."Odd ""name""" AS SELECT * FROM tap_split;
SET LOCAL search_path = "tap Split", public;
SELECT results_eq(
  $$SELECT train_table, test_table, train_rows + test_rows FROM cf_split('"Odd ""name"""', 0.5)$$,
  $$VALUES ('"tap Split"."Odd ""name""_train"', '"tap Split"."Odd ""name""_test"', 1000::bigint)$$,
  'the relation is found on the caller''s search_path; the tables go next to it, names quoted');
SELECT is(current_setting('search_path'), '"tap Split", public',
          'the caller''s search_path is left as it was');
SELECT results_eq(
  $$SELECT train_table, test_table FROM cf_split('public.tap_split', 0.5, train_name => '"tap Split".tr', test_name => 'te')$$,
  $$VALUES ('"tap Split".tr', 'public.te')$$,
  'train_name and test_name may name a schema; without one, the relation''s');

-- ---------------------------------------------------------------- errors
SELECT throws_ok($$SELECT * FROM cf_split('tap_no_such', 0.1)$$, '42P01',
                 'relation "tap_no_such" does not exist', 'a missing relation is an error');
SELECT throws_ok($$SELECT * FROM cf_split('tap_split', 1.0)$$, '22023', NULL,
                 'a fraction of 1 is refused');
SELECT throws_ok($$SELECT * FROM cf_split('tap_split', 0)$$, '22023', NULL,
                 'a fraction of 0 is refused');
SELECT throws_ok($$SELECT * FROM cf_split('tap_split', 0.1, by => 'no_col')$$, '42703',
                 'column "no_col" does not exist in relation "public.tap_split"', 'a missing by column is an error');
SELECT throws_ok($$SELECT * FROM cf_split('tap_split', 0.1, by => 'rated_on')$$, '42P07',
                 'relation "public.tap_split_train" already exists', 'an existing train table is an error');
SELECT throws_ok($$SELECT * FROM cf_split('tap_split', 0.1, train_name => 'x', test_name => 'x')$$, '22023', NULL,
                 'the same name for both tables is an error');

SELECT * FROM finish();
ROLLBACK;
