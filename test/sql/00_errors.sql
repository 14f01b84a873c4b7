-- Bad input: every case is an ERROR that names the problem, and the server
-- stays up (each statement after an error still runs).

-- serving before any model exists
SELECT cf_predict(1, 1);
SELECT * FROM cf_recommend(1, 10);
SELECT * FROM cf_find_lr();

CREATE TABLE ratings (user_id int, item_id int, rating real);
INSERT INTO ratings SELECT u, i, 1 + (u * 7 + i * 3) % 5
  FROM generate_series(1, 20) u, generate_series(1, 10) i;

-- missing relation
SELECT cf_train('no_such_table');
SELECT cf_train('no_schema.ratings');
SELECT cf_train(NULL);

-- not a relation one can read ratings from
CREATE SEQUENCE a_sequence;
SELECT cf_train('a_sequence');

-- missing or ambiguous columns
CREATE TABLE no_rating (user_id int, item_id int, stars_given real);
SELECT cf_train('no_rating');
SELECT cf_train('ratings', rating_col => 'nope');
CREATE TABLE two_users (user_id int, userid int, item_id int, rating real);
SELECT cf_train('two_users');

-- non-integer ids, non-numeric rating
CREATE TABLE text_ids (user_id text, item_id int, rating real);
INSERT INTO text_ids VALUES ('a', 1, 3);
SELECT cf_train('text_ids');
CREATE TABLE float_items (user_id int, item_id float8, rating real);
SELECT cf_train('float_items');
CREATE TABLE text_rating (user_id int, item_id int, rating text);
SELECT cf_train('text_rating');

-- empty relation, only NULL ratings
CREATE TABLE empty_ratings (user_id int, item_id int, rating real);
SELECT cf_train('empty_ratings');
CREATE TABLE null_ratings (user_id int, item_id int, rating real);
INSERT INTO null_ratings SELECT g, g, NULL FROM generate_series(1, 5) g;
SELECT cf_train('null_ratings');

-- NaN and infinite ratings
CREATE TABLE nan_ratings (user_id int, item_id int, rating float8);
INSERT INTO nan_ratings VALUES (1, 1, 4), (1, 2, 'NaN'), (2, 1, 3);
SELECT cf_train('nan_ratings');
UPDATE nan_ratings SET rating = 'Infinity' WHERE item_id = 2;
SELECT cf_train('nan_ratings');
UPDATE nan_ratings SET rating = '-Infinity' WHERE item_id = 2;
SELECT cf_train('nan_ratings');

-- arguments out of range
SELECT cf_train('ratings', epochs => 0);
SELECT cf_train('ratings', epochs => -3);
SELECT cf_train('ratings', batch_size => 0);
SELECT cf_train('ratings', batch_size => -1);
SELECT cf_train('ratings', batch_size => 1);
SELECT cf_train('ratings', embedding_dim => 0, architecture => 'mf');
SELECT cf_train('ratings', embedding_dim => 1000000000, architecture => 'mf');
SELECT cf_train('ratings', hidden => 0, architecture => 'seed');
SELECT cf_train('ratings', hidden => -5);
SELECT cf_train('ratings', hidden => 0);
-- the default architecture (I-AutoRec) has no embedding arguments
SELECT cf_train('ratings', embedding_dim => 8);
SELECT cf_train('ratings', dot_dim => 8, architecture => 'default');
SELECT cf_train('ratings', patience => 2);
SELECT cf_train('ratings', lr => 0);
SELECT cf_train('ratings', lr => -0.1);
SELECT cf_train('ratings', lr => 'NaN');
SELECT cf_train('ratings', dropout => ARRAY[0.5], architecture => 'mf');
SELECT cf_train('ratings', dropout => ARRAY[1.0, 0.2], architecture => 'mf');
SELECT cf_train('ratings', weight_decay => -1);
SELECT cf_train('ratings', valid_fraction => 1);
SELECT cf_train('ratings', cut_frac => 0, architecture => 'mf');
SELECT cf_train('ratings', ratio => 0.5, architecture => 'mf');
SELECT cf_train('ratings', start_lr => 1, end_lr => 0.1);
SELECT cf_train('ratings', num_it => 1);
SELECT cf_train('ratings', architecture => 'transformer');
SELECT cf_train('ratings', name => '');

-- nothing was stored by any of the failures
SELECT count(*) FROM cf_models;

-- a model, then bad serving arguments
SET client_min_messages = warning;
SELECT cf_train('ratings', epochs => 1, embedding_dim => 4, hidden => 8, lr => 0.01, architecture => 'mf') > 0 AS trained;
RESET client_min_messages;
SELECT * FROM cf_recommend(1, 0);
SELECT * FROM cf_recommend(1, -1);
SELECT cf_predict(1, 1, 'no_such_model');
SELECT * FROM cf_recommend(1, 10, 'no_such_model');
SELECT * FROM cf_find_lr(model => 'no_such_model');

-- NULL arguments give NULL or no rows
SELECT cf_predict(NULL, 1) IS NULL AS null_user, cf_predict(1, NULL) IS NULL AS null_item;
SELECT count(*) FROM cf_recommend(NULL, 10);
SELECT count(*) FROM cf_recommend(1, NULL);

-- the server is still up
SELECT 1 AS alive;

-- a training larger than cfrec.max_memory stops before allocating
SET cfrec.max_memory = '64MB';
SELECT cf_train('ratings', embedding_dim => 4096, hidden => 65536, architecture => 'seed');
SELECT cf_train('ratings', hidden => 65536);
RESET cfrec.max_memory;

-- a NaN time would make the split by time depend on the order rows come in
CREATE TABLE nan_times (user_id int, item_id int, rating real, t float8);
INSERT INTO nan_times VALUES (1, 1, 3, 1), (2, 2, 4, 'NaN'), (1, 2, 3, 2);
SELECT cf_train('nan_times', time_col => 't');
