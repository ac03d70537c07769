
# Copyright: see LICENSE.
#
# A cancel never waits for a worker slot (lifecycle.c, pgbg_job_undispatch).
#
# Node: shared_preload_libraries = 'pg_background', no pool,
# max_worker_processes = 4 (the dispatcher and the logical replication
# launcher take 2), and both remaining slots held by jobs blocked on an
# advisory lock: every new job is queued, and the dispatcher, woken by each
# submission, takes the head of the queue, fails to register a worker and
# puts it back (undispatch), every 20 ms.
#
# With pg_background.test_fault = 'slow_undispatch', the dispatcher waits
# 200 ms before it puts a job back, which widens the window that a cancel
# hits only now and then otherwise.  A session submits a job, waits until
# its list shows it 'running' (the dispatcher has taken it out of the
# queue; it has no worker), and cancels it.  Such a cancel only marks the
# job canceled; the dispatcher's undispatch must end it then.  It used to
# put it back in the queue instead, where the cancel waited for it until a
# worker slot was free (here: never), and the job stayed 'queued'.
#
# Checks: the cancel returns (within the test's deadline, as
# statement_timeout); the job is 'canceled' with SQLSTATE 57014; nothing is
# queued; both slot holders still run (so no slot was free meanwhile).
# Then 20 jobs submitted and canceled at once (one PL/pgSQL call) all
# return too.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgbgTest;

my $node = PostgreSQL::Test::Cluster->new('cancel_undispatched');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_background'
max_worker_processes = 4
pg_background.pool_size = 0
log_min_messages = log
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_background;
CREATE FUNCTION submit_and_cancel(n int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  h pg_background_handle;
  done int := 0;
BEGIN
  FOR i IN 1..n LOOP
    h := pg_background_submit_v2('SELECT 1');
    PERFORM pg_background_cancel_v2(h.pid, h.cookie);
    PERFORM pg_background_detach_v2(h.pid, h.cookie);
    done := done + 1;
  END LOOP;
  RETURN done;
END $$;
});

# Two jobs hold both free worker slots, blocked on a lock we hold.
my $locker = $node->background_psql('postgres');
$locker->query_safe('SELECT pg_advisory_lock(6060)');
$node->safe_psql('postgres', q{
SELECT pg_background_detach_v2(h.pid, h.cookie)
FROM generate_series(1, 2) g,
     LATERAL pg_background_submit_v2('SELECT pg_advisory_lock_shared(6060) /* ' || g || ' */') h});
ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) FROM pg_stat_activity
		  WHERE backend_type = 'pg_background' AND wait_event = 'advisory'},
		'2'),
	'two jobs hold both free worker slots');
is($node->safe_psql('postgres', 'SELECT active, queued FROM pg_background_admission()'),
	'2|0', 'two active jobs, nothing queued');

set_guc($node, 'pg_background.test_fault', q{'slow_undispatch'},
	'slow_undispatch');
my $deadline = $PostgreSQL::Test::Utils::timeout_default * 500;
my $s = launcher_session($node);
my ($out, $err) = run_query($s,
	q{SELECT pid, cookie FROM pg_background_submit_v2('SELECT 1')});
my ($pid, $cookie) = split /\|/, $out;
cmp_ok($pid, '<', 0, 'the job is queued (negative pid)');

# Until the dispatcher has taken it out of the queue (with a deadline).
my $state = '';
my $until = time() + $PostgreSQL::Test::Utils::timeout_default;
while (time() < $until)
{
	($state) = run_query($s,
		"SELECT state FROM pg_background_list() WHERE pid = $pid");
	last if $state eq 'running';
	select(undef, undef, undef, 0.01);
}
is($state, 'running', 'the dispatcher took the job out of the queue');

($out, $err) = run_query($s,
	"SET statement_timeout = $deadline; SELECT pg_background_cancel_v2($pid, $cookie)");
is($err, '', 'the cancel returned (it did not wait until the statement timed out)');
run_query($s, 'RESET statement_timeout');
is( $node->safe_psql(
		'postgres',
		"SELECT state, sqlstate FROM pg_background_outcome($pid, $cookie)"),
	'canceled|57014',
	'the job is canceled, with 57014 (seen from another session)');

my ($stdout, $stderr);
$node->psql('postgres',
	"SET statement_timeout = $deadline; SELECT submit_and_cancel(20)",
	stdout => \$stdout, stderr => \$stderr,
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
is($stdout, '20', '20 more cancels returned');
is($stderr, '', 'no error');

is($node->safe_psql('postgres', 'SELECT queued FROM pg_background_admission()'),
	'0', 'nothing is left in the queue');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM pg_background_list()
WHERE sql_preview = 'SELECT 1' AND state IN ('queued', 'running')}),
	'0',
	'no canceled job is still queued or running');
is( $node->safe_psql(
		'postgres',
		q{SELECT count(*) FROM pg_stat_activity
		  WHERE backend_type = 'pg_background' AND wait_event = 'advisory'},
	),
	'2',
	'both slot holders still run');

set_guc($node, 'pg_background.test_fault', undef, '');
$locker->query_safe('SELECT pg_advisory_unlock(6060)');
ok( $node->poll_query_until(
		'postgres', 'SELECT active, queued FROM pg_background_admission()',
		'0|0'),
	'everything ends once the lock is free');
$locker->quit;
$s->quit;

my $log = slurp_file($node->logfile);
unlike($log, qr/TRAP:|PANIC:|terminated by signal/,
	'no assertion failure, PANIC or crash in the log');

$node->stop;
done_testing();
