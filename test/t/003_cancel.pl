# Cancellation latency: statement_timeout, pg_cancel_backend() and
# pg_terminate_backend() must stop a training within about a second of the
# signal, whatever phase it is in (range test, training, storing), and leave
# no trace of the model.  The training checks for interrupts after every
# batch and every stored row; a batch here takes some tens of milliseconds,
# so the bound of 1.5 s leaves room for a loaded machine.
#
# Times are measured on the client with Time::HiRes: from the moment the
# signal is sent (for statement_timeout: the moment the timeout expires, i.e.
# statement start + timeout) to the moment the session is usable again.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $bound = 1.5;    # seconds from the signal to the end of the statement

my $node = PostgreSQL::Test::Cluster->new('cancel');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
cfrec.threads = 1
cfrec.progress = off
client_min_messages = warning
});
$node->start;

sub sql { return $node->safe_psql('postgres', shift) }

sql(q{
CREATE EXTENSION cfrec;
CREATE TABLE small AS
  SELECT u AS user_id, i AS item_id, (1 + (u * 7 + i * 3) % 5)::real AS rating
    FROM generate_series(1, 30) u, generate_series(1, 12) i WHERE (u + i) % 4 <> 0;
SELECT cf_train('small', name => 'keep', embedding_dim => 8, hidden => 16, epochs => 3,
                lr => 0.01, seed => 7, architecture => 'mf');
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
my $keep = sql(q{SELECT string_agg(cf_predict(u, i, 'keep')::text, ',' ORDER BY u, i)
                   FROM generate_series(1, 31) u, generate_series(1, 13) i});
my $catalog_sql = q{
SELECT (SELECT string_agg(id || ':' || name, ',' ORDER BY id) FROM cfrec.models)
    || ' ' || (SELECT count(*) FROM cfrec.model_users) || ' ' || (SELECT count(*) FROM cfrec.model_items)
    || ' ' || (SELECT count(*) FROM cfrec.model_tensors) || ' ' || (SELECT count(*) FROM cfrec.lr_sweeps)
    || ' ' || (SELECT count(*) FROM cfrec.training_log)
};
my $catalog = sql($catalog_sql);

# A long training of the default architecture: minutes at these sizes unless stopped.
my $long = q{hidden => 256, epochs => 1000, valid_fraction => 0};

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

# ---- statement_timeout
for my $case (
	[ 'training', "lr => 0.01", 2.0 ],
	[ 'range test', "lr => NULL, num_it => 10000", 1.5 ])
{
	my ($phase, $args, $timeout) = @$case;
	my $t0 = time;
	my ($ret, $out, $err) = $node->psql('postgres',
		"SET statement_timeout = '${timeout}s'; "
		  . "SELECT cf_train('big', name => 'timed_out', $long, $args)");
	my $late = time - $t0 - $timeout;
	like($err, qr/canceling statement due to statement timeout/,
		"statement_timeout during the $phase cancels the training");
	cmp_ok($late, '>', -0.1, "statement_timeout during the $phase: not before the timeout");
	cmp_ok($late, '<', $bound,
		sprintf("statement_timeout during the %s: stopped %.3f s after the timeout", $phase, $late));
}

# ---- pg_cancel_backend / pg_terminate_backend from another session
my $monitor = $node->background_psql('postgres');

sub signal_training
{
	my ($what, $call, $phase_re, $signal) = @_;
	my $bg = $node->background_psql('postgres', on_error_stop => 0);
	my $pid = $bg->query_safe('SELECT pg_backend_pid()');
	$bg->query_until(qr/started/, "\\echo started\n$call;\n");
	ok(wait_for_phase($pid, $phase_re, 120), "$what: the training reached its phase");
	usleep(300_000);
	my $t0 = time;
	is($monitor->query_safe("SELECT $signal($pid)"), 't', "$what: $signal() sent");
	my $elapsed;
	if ($signal eq 'pg_cancel_backend')
	{
		# the next statement of the session runs once the training has stopped
		my ($out) = $bg->query("SELECT 'usable'");
		$elapsed = time - $t0;
		like($out, qr/usable/, "$what: the session is usable again");
		like($bg->{stderr}, qr/canceling statement due to user request/,
			"$what: the training reports the cancellation");
		eval { $bg->quit; };
	}
	else
	{
		my $gone = 0;
		while (time - $t0 < 10)
		{
			$gone = $monitor->query_safe(
				"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid") eq 't';
			last if $gone;
			usleep(10_000);
		}
		$elapsed = time - $t0;
		ok($gone, "$what: the backend exits");
		eval { $bg->quit; };
	}
	cmp_ok($elapsed, '<', $bound, sprintf("%s: stopped %.3f s after the signal", $what, $elapsed));
	return;
}

signal_training('cancel mid-training',
	"SELECT cf_train('big', name => 'cancelled', $long, lr => 0.01)",
	qr/cfrec: training/, 'pg_cancel_backend');
signal_training('cancel mid-range-test',
	"SELECT cf_train('big', name => 'cancelled', $long, num_it => 10000)",
	qr/cfrec: range test/, 'pg_cancel_backend');
signal_training('cancel mid-store',
	q{SELECT cf_train('wide', name => 'keep', embedding_dim => 4, hidden => 8, epochs => 1,
	                  lr => 0.01, valid_fraction => 0, batch_size => 4096, architecture => 'mf')},
	qr/cfrec: storing/, 'pg_cancel_backend');
signal_training('terminate mid-training',
	"SELECT cf_train('big', name => 'cancelled', $long, lr => 0.01)",
	qr/cfrec: training/, 'pg_terminate_backend');

# ---- nothing of the stopped trainings remains; the old model is untouched
is(sql("SELECT count(*) FROM cfrec.models WHERE name IN ('timed_out', 'cancelled')"), '0',
	'no stopped training stored a model');
is(sql($catalog_sql), $catalog, 'the catalog is as before, row for row');
is(sql(q{SELECT string_agg(cf_predict(u, i, 'keep')::text, ',' ORDER BY u, i)
           FROM generate_series(1, 31) u, generate_series(1, 13) i}), $keep,
	'keep (whose retraining was cancelled mid-store) serves the same');
ok(!$node->log_contains(qr/terminated by signal/), 'no backend crashed');

$monitor->quit;
$node->stop;
done_testing();
