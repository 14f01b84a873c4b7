# Crashes during training: kill -9 of the training backend (mid-training and
# mid-store of a retrained name) and an immediate shutdown mid-training.  Each
# time the server must recover, no trace of the interrupted model may remain
# (rows counted in every catalog table), and the models trained before must
# serve exactly the same predictions and recommendations.  Then a clean
# restart: the models load again into fresh backends' caches and serve the
# same.
#
# A training's phase is read from the backend's process title ("cfrec:
# reading", "cfrec: training ...", "cfrec: storing"), so each signal lands in
# the phase it is meant for.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
cfrec.threads = 1
cfrec.progress = off
client_min_messages = warning
restart_after_crash = on
});
$node->start;

sub sql { return $node->safe_psql('postgres', shift) }

sql(q{
CREATE EXTENSION cfrec;
CREATE TABLE small AS
  SELECT u AS user_id, i AS item_id, (1 + (u * 7 + i * 3) % 5)::real AS rating
    FROM generate_series(1, 30) u, generate_series(1, 12) i WHERE (u + i) % 4 <> 0;
CREATE INDEX ON small (user_id);
SELECT cf_train('small', name => 'keep', embedding_dim => 8, hidden => 16, epochs => 3,
                lr => 0.01, seed => 7, architecture => 'mf');
SELECT cf_train('small', name => 'keep2', architecture => 'seed', embedding_dim => 4,
                hidden => 8, epochs => 8, batch_size => 32, lr => 0.02, seed => 3);
-- long trainings: 'big' trains for minutes at these sizes, 'wide' stores
-- 300000 users (about two seconds of inserts)
CREATE TABLE big AS
  SELECT (g % 2000) + 1 AS user_id, ((g * 7919) % 1000) + 1 AS item_id,
         (1 + (g * 31) % 5)::real AS rating
    FROM generate_series(1, 100000) g;
CREATE TABLE wide AS
  SELECT g AS user_id, (g % 50) + 1 AS item_id, (1 + g % 5)::real AS rating
    FROM generate_series(1, 300000) g
  UNION ALL
  SELECT g, (g % 37) + 51, 3 FROM generate_series(1, 300000) g;
});

# Everything the earlier models serve, as one string: every prediction of a
# grid that includes an unknown user and item (fallbacks), and top-5 lists.
my $serving_sql = q{
SELECT (SELECT string_agg(cf_predict(u, i, m)::text, ',' ORDER BY m, u, i)
          FROM unnest(ARRAY['keep', 'keep2']) m, generate_series(1, 31) u,
               generate_series(1, 13) i)
    || ' / ' ||
       (SELECT string_agg(m || ':' || r.item_id || '=' || r.score, ',' ORDER BY m, r.score DESC, r.item_id)
          FROM unnest(ARRAY['keep', 'keep2']) m, generate_series(1, 31, 6) u,
               LATERAL cf_recommend(u, 5, m) r)
};
# The catalog: every model and the size of every table.
my $catalog_sql = q{
SELECT (SELECT string_agg(id || ':' || name || ':' || n_users || ':' || n_items, ',' ORDER BY id)
          FROM cfrec.models)
    || ' users=' || (SELECT count(*) FROM cfrec.model_users)
    || ' items=' || (SELECT count(*) FROM cfrec.model_items)
    || ' tensors=' || (SELECT count(*) FROM cfrec.model_tensors)
    || ' sweeps=' || (SELECT count(*) FROM cfrec.lr_sweeps)
    || ' log=' || (SELECT count(*) FROM cfrec.training_log)
};
# Rows of no model.
my $orphans_sql = q{
SELECT (SELECT count(*) FROM cfrec.model_users WHERE model_id NOT IN (SELECT id FROM cfrec.models))
     + (SELECT count(*) FROM cfrec.model_items WHERE model_id NOT IN (SELECT id FROM cfrec.models))
     + (SELECT count(*) FROM cfrec.model_tensors WHERE model_id NOT IN (SELECT id FROM cfrec.models))
     + (SELECT count(*) FROM cfrec.lr_sweeps WHERE model_id NOT IN (SELECT id FROM cfrec.models))
     + (SELECT count(*) FROM cfrec.training_log WHERE model_id NOT IN (SELECT id FROM cfrec.models))
};

my $serving = sql($serving_sql);
my $catalog = sql($catalog_sql);
like($catalog, qr/^\d+:keep:30:12,\d+:keep2:30:12 users=60 items=24 /,
	'two models to begin with');
like($serving, qr/^[0-9.]+(,[0-9.]+){805} \/ /, 'they serve 806 predictions');

# Waits until the process title of backend $pid matches $re.
sub wait_for_phase
{
	my ($pid, $re, $seconds) = @_;
	my $deadline = time + $seconds;
	while (time < $deadline)
	{
		if (open my $fh, '<', "/proc/$pid/cmdline")
		{
			local $/;
			my $title = <$fh>;
			close $fh;
			return 1 if defined $title && $title =~ $re;
		}
		usleep(5_000);
	}
	return 0;
}

# Starts a training in a background psql; returns (session, backend pid).
sub start_training
{
	my ($call) = @_;
	my $bg = $node->background_psql('postgres', on_error_stop => 0);
	my $pid = $bg->query_safe('SELECT pg_backend_pid()');
	$bg->query_until(qr/started/, "\\echo started\n$call;\n");
	return ($bg, $pid);
}

sub finish_session
{
	my ($bg) = @_;
	eval { $bg->quit; };
	return;
}

# After a crash: the server takes connections again, the interrupted model
# left nothing, and the earlier models are intact.
sub check_intact
{
	my ($what, $gone_name) = @_;
	ok($node->poll_query_until('postgres', 'SELECT true'), "$what: the server recovers");
	is(sql("SELECT count(*) FROM cfrec.models WHERE name = '$gone_name'"),
		$gone_name eq 'keep' ? '1' : '0', "$what: no model $gone_name was stored");
	is(sql($orphans_sql), '0', "$what: no orphaned rows");
	is(sql($catalog_sql), $catalog, "$what: the catalog is as before, row for row");
	is(sql($serving_sql), $serving, "$what: the earlier models serve the same");
	return;
}

# ---- kill -9 in the middle of training
{
	my ($bg, $pid) = start_training(
		q{SELECT cf_train('big', name => 'partial', embedding_dim => 64, hidden => 256,
		                  epochs => 100, lr => 0.01, valid_fraction => 0, architecture => 'mf')});
	ok(wait_for_phase($pid, qr/cfrec: training/, 60), 'kill -9: the training has started training');
	usleep(300_000);
	is(kill('KILL', $pid), 1, 'kill -9: signal sent');
	finish_session($bg);
	check_intact('kill -9 mid-training', 'partial');
	ok($node->log_contains(qr/server process \(PID $pid\) was terminated by signal 9/),
		'kill -9: the postmaster saw the kill');
}

# ---- kill -9 while a retrained 'keep' is being stored (after the old
# model's rows were deleted in the same, uncommitted transaction)
{
	my ($bg, $pid) = start_training(
		q{SELECT cf_train('wide', name => 'keep', embedding_dim => 4, hidden => 8, epochs => 1,
		                  lr => 0.01, valid_fraction => 0, batch_size => 4096, architecture => 'mf')});
	ok(wait_for_phase($pid, qr/cfrec: storing/, 120), 'kill -9 mid-store: the training is storing');
	usleep(200_000);
	is(kill('KILL', $pid), 1, 'kill -9 mid-store: signal sent');
	finish_session($bg);
	check_intact('kill -9 mid-store', 'keep');
	is(sql("SELECT n_users FROM cfrec.models WHERE name = 'keep'"), '30',
		'kill -9 mid-store: keep is still the model of small');
}

# ---- immediate shutdown in the middle of training
{
	my ($bg, $pid) = start_training(
		q{SELECT cf_train('big', name => 'partial2', embedding_dim => 64, hidden => 256,
		                  epochs => 100, lr => 0.01, valid_fraction => 0, architecture => 'mf')});
	ok(wait_for_phase($pid, qr/cfrec: training/, 60),
		'immediate shutdown: the training has started training');
	usleep(300_000);
	$node->stop('immediate');
	finish_session($bg);
	$node->start;
	check_intact('immediate shutdown mid-training', 'partial2');
}

# ---- a clean restart: caches are gone, the models load again and serve the same
{
	my $bg = $node->background_psql('postgres');
	is($bg->query_safe($serving_sql), $serving, 'restart: a backend serves (and caches) the models');
	$node->restart;
	finish_session($bg);
	is(sql($serving_sql), $serving, 'restart: a new backend loads them and serves the same');
	is(sql($catalog_sql), $catalog, 'restart: the catalog is unchanged');
}

# no backend crashed on its own: the only signal was ours
ok(!$node->log_contains(qr/terminated by signal (?!9\b)\d+/),
	'no backend died of any signal but our kill -9');

$node->stop;
done_testing();
