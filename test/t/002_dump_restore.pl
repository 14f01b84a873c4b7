# Models survive pg_dump and restore into a fresh cluster: the catalog tables
# are marked with pg_extension_config_dump, so a dump carries their rows and
# the id sequence.  After pg_restore (custom format) and after psql (plain
# format) every catalog table holds exactly the same rows, the models serve
# exactly the same predictions and recommendations (the sources are restored
# too, so exclusion of rated items works), and a model trained after the
# restore gets a new id instead of reusing one.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $conf = q{
cfrec.threads = 1
cfrec.progress = off
client_min_messages = warning
};

my $src = PostgreSQL::Test::Cluster->new('dump_source');
$src->init;
$src->append_conf('postgresql.conf', $conf);
$src->start;
$src->safe_psql('postgres', 'CREATE DATABASE src');

$src->safe_psql('src', q{
CREATE EXTENSION cfrec;
CREATE TABLE ratings AS
  SELECT u AS user_id, i AS item_id, (1 + (u * 7 + i * 3) % 5)::real AS rating,
         timestamp '2021-01-01' + (u * 13 + i) * interval '1 hour' AS rated_at
    FROM generate_series(1, 25) u, generate_series(1, 10) i WHERE (u + i) % 3 <> 0;
CREATE INDEX ON ratings (user_id);
CREATE SCHEMA "Odd Schema";
CREATE TABLE "Odd Schema"."Odd ""Table""" ("User Id" bigint, "It""em" int, "Ra'ting" numeric);
INSERT INTO "Odd Schema"."Odd ""Table""" SELECT user_id + 9000000000, item_id, rating FROM ratings;
SELECT cf_train('ratings', name => 'plain', embedding_dim => 8, hidden => 16, epochs => 3,
                lr => 0.01, seed => 1, architecture => 'mf');
-- no lr: the range test runs and its sweep is stored
SELECT cf_train('ratings', name => 'swept', embedding_dim => 4, hidden => 8, epochs => 1,
                num_it => 20, seed => 2, architecture => 'mf');
SELECT cf_train('ratings', name => 'timed', time_col => 'rated_at', valid_fraction => 0.2,
                architecture => 'seed', embedding_dim => 4, hidden => 8, epochs => 2,
                lr => 0.02, seed => 3);
SELECT cf_train('"Odd Schema"."Odd ""Table"""', name => 'odd "model"', user_col => 'User Id',
                item_col => 'It"em', rating_col => 'Ra''ting', embedding_dim => 4, hidden => 8,
                epochs => 2, lr => 0.01, seed => 4, architecture => 'mf');
});

# Every row of every catalog table, in key order, hashed per table.
my $catalog_sql = q{
SELECT string_agg(t || '=' || h, ' ' ORDER BY t) FROM (
  SELECT 'models' AS t, md5(string_agg(m::text, '|' ORDER BY id)) AS h FROM cfrec.models m
  UNION ALL SELECT 'model_users', md5(string_agg(x::text, '|' ORDER BY model_id, user_id)) FROM cfrec.model_users x
  UNION ALL SELECT 'model_items', md5(string_agg(x::text, '|' ORDER BY model_id, item_id)) FROM cfrec.model_items x
  UNION ALL SELECT 'model_tensors', md5(string_agg(x::text, '|' ORDER BY model_id, name)) FROM cfrec.model_tensors x
  UNION ALL SELECT 'lr_sweeps', md5(string_agg(x::text, '|' ORDER BY model_id, step)) FROM cfrec.lr_sweeps x
  UNION ALL SELECT 'training_log', md5(string_agg(x::text, '|' ORDER BY model_id, epoch)) FROM cfrec.training_log x
) s
};
my $counts_sql = q{
SELECT (SELECT count(*) FROM cfrec.models) || '/' || (SELECT count(*) FROM cfrec.model_users)
    || '/' || (SELECT count(*) FROM cfrec.model_items) || '/' || (SELECT count(*) FROM cfrec.model_tensors)
    || '/' || (SELECT count(*) FROM cfrec.lr_sweeps) || '/' || (SELECT count(*) FROM cfrec.training_log)
};
# Every prediction of a grid (with unknown ids: the fallbacks) and top-5 lists
# excluding rated items, for every model.
my $serving_sql = q{
SELECT (SELECT string_agg(cf_predict(u, i, m)::text, ',' ORDER BY m, u, i)
          FROM unnest(ARRAY['plain', 'swept', 'timed']) m, generate_series(1, 26) u,
               generate_series(1, 11) i)
    || ' / ' ||
       (SELECT string_agg(cf_predict(u + 9000000000, i, 'odd "model"')::text, ',' ORDER BY u, i)
          FROM generate_series(1, 26) u, generate_series(1, 11) i)
    || ' / ' ||
       (SELECT string_agg(m || ':' || r.item_id || '=' || r.score, ',' ORDER BY m, u, r.score DESC, r.item_id)
          FROM unnest(ARRAY['plain', 'swept', 'timed']) m, generate_series(1, 26, 5) u,
               LATERAL cf_recommend(u, 5, m) r)
    || ' / ' ||
       (SELECT string_agg(r.item_id || '=' || r.score, ',' ORDER BY r.score DESC, r.item_id)
          FROM cf_recommend(9000000002, 5, 'odd "model"') r)
};
my $ids_sql = q{SELECT string_agg(id || ':' || name, ',' ORDER BY id) FROM cfrec.models};

my $catalog = $src->safe_psql('src', $catalog_sql);
my $counts = $src->safe_psql('src', $counts_sql);
my $serving = $src->safe_psql('src', $serving_sql);
my $ids = $src->safe_psql('src', $ids_sql);
my $max_id = $src->safe_psql('src', 'SELECT max(id) FROM cfrec.models');

like($counts, qr{^4/100/40/[1-9]\d*/[1-9]\d*/8$}, 'four models in the source cluster, with a stored sweep');
unlike($catalog, qr/=\s|=$/, 'every catalog table has rows');
cmp_ok(scalar(() = $serving =~ /,/g), '>', 1100, 'the serving fingerprint holds over 1100 values');

my $dir = PostgreSQL::Test::Utils::tempdir;
my $custom = "$dir/cfrec.dump";
my $plain = "$dir/cfrec.sql";
$src->command_ok([ 'pg_dump', '-Fc', '-f', $custom, '-d', $src->connstr('src') ],
	'pg_dump, custom format');
$src->command_ok([ 'pg_dump', '-Fp', '-f', $plain, '-d', $src->connstr('src') ],
	'pg_dump, plain format');

my $dst = PostgreSQL::Test::Cluster->new('dump_target');
$dst->init;
$dst->append_conf('postgresql.conf', $conf);
$dst->start;
$dst->safe_psql('postgres', 'CREATE DATABASE from_custom');
$dst->safe_psql('postgres', 'CREATE DATABASE from_plain');
$dst->command_ok(
	[ 'pg_restore', '--exit-on-error', '-d', $dst->connstr('from_custom'), $custom ],
	'pg_restore into a fresh cluster');
$dst->command_ok(
	[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $dst->connstr('from_plain'), '-f', $plain ],
	'psql restores the plain dump into a fresh cluster');

for my $db ('from_custom', 'from_plain')
{
	is($dst->safe_psql($db, $counts_sql), $counts, "$db: every catalog table has as many rows");
	is($dst->safe_psql($db, $catalog_sql), $catalog, "$db: and exactly the same rows");
	is($dst->safe_psql($db, $ids_sql), $ids, "$db: the same models under the same ids");
	is($dst->safe_psql($db, $serving_sql), $serving,
		"$db: identical predictions and recommendations");
	my $new_id = $dst->safe_psql($db,
		q{SELECT cf_train('ratings', name => 'after_restore', embedding_dim => 4, hidden => 8,
		                  epochs => 1, lr => 0.01, architecture => 'mf')});
	cmp_ok($new_id, '>', $max_id, "$db: a new model gets a new id (the sequence was restored)");
	is($dst->safe_psql($db, "SELECT count(*) FROM cfrec.models WHERE name <> 'after_restore'"),
		'4', "$db: training after the restore left the restored models alone");
	is($dst->safe_psql($db, $serving_sql), $serving, "$db: which still serve the same");
}

$src->stop;
$dst->stop;
done_testing();
