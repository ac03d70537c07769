# A launcher that dies between admission and its worker's start does not
# leave a job behind in the shared directory (shared_preload_libraries).
#
# The postmaster is stopped (SIGSTOP) so that the worker registered by a
# launch cannot start; the launcher is then admitted, registers the worker
# and waits for it.  It is terminated (pg_terminate_backend, a FATAL exit:
# no PG_CATCH runs) while waiting, and the postmaster continued (SIGCONT):
# it starts the worker, which cannot map the dead launcher's segment.
#
# 1. While the launcher waits, the directory holds its job, active and
#    counted by admission control (pg_background_admission().active = 1).
# 2. After the launcher is gone and the postmaster continued: the job is no
#    longer active (admission counts 0 active workers), its entry says
#    'canceled', 57014 "the job did not run: its launch failed before the
#    worker started it" (the exiting launcher abandoned it), and nothing is
#    queued.
# 3. Admission still works: a new job runs (its worker slot was given back).
# 4. No crash, no process killed by a signal.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('launcher_gone');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'pg_background'
max_worker_processes = 8
pg_background.max_total_workers = 2
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_background');

my $active_sql = 'SELECT active FROM pg_background_admission()';

# Both sessions exist before the postmaster stops (it accepts no new
# connection while stopped).
my $launcher = $node->background_psql('postgres', on_error_stop => 0);
my $observer = $node->background_psql('postgres');
my $launcher_pid = $launcher->query_safe('SELECT pg_backend_pid()');
chomp $launcher_pid;

my $postmaster = $node->{_pid};
# Whatever happens below, never leave the postmaster stopped (this END runs
# before the test framework's, which stops the node).
END { kill('CONT', $postmaster) if $postmaster; }
ok(kill('STOP', $postmaster), 'postmaster stopped');

$launcher->query_until(qr/launching/, q{
\echo launching
SELECT pg_background_launch_v2('SELECT 1', 65536, 'doomed');
});

# Run $sql in the observer until it returns $want or the deadline passes;
# returns its last output.  (The observer's connection predates the
# SIGSTOP: poll_query_until would need a new one.)
sub observe_until
{
	my ($sql, $want) = @_;
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	my $got = '';
	while (time < $deadline)
	{
		$got = $observer->query_safe($sql);
		chomp $got;
		last if $got eq $want;
		select(undef, undef, undef, 0.05);
	}
	return $got;
}

# 1. Wait (with a deadline) until the launcher has been admitted and waits.
is(observe_until($active_sql, '1'),
	'1', '(1) the waiting launch is admitted: one active job');
my $entry = $observer->query_safe(
	"SELECT state FROM pg_background_jobs WHERE label = 'doomed'");
chomp $entry;
is($entry, 'running', '(1) its entry says running');

# Terminate the launcher; its exit cannot be reaped while the postmaster is
# stopped, but its PGPROC is released before it exits.
is($observer->query_safe("SELECT pg_terminate_backend($launcher_pid)"),
	"t", 'launcher terminated')
  or diag('pg_terminate_backend failed');
is( observe_until(
		"SELECT count(*) FROM pg_stat_activity WHERE pid = $launcher_pid",
		'0'),
	'0',
	'the launcher has left');

ok(kill('CONT', $postmaster), 'postmaster continued');

# 2. The job does not stay active.
is(observe_until($active_sql, '0'),
	'0', '(2) no active job is left once the launcher is gone');
is( $observer->query_safe(
		"SELECT state, sqlstate, last_error FROM pg_background_jobs WHERE label = 'doomed'"
	),
	"canceled|57014|the job did not run: its launch failed before the worker started it",
	'(2) the entry says the job did not run: its launch failed (57014)');
is($observer->query_safe('SELECT queued FROM pg_background_admission()'),
	"0", '(2) nothing is queued');
$observer->quit;
# The launcher's psql lost its connection: its quit may fail.
eval { $launcher->quit; };

# 3. A new job runs at once.
is( $node->safe_psql(
		'postgres',
		"SELECT * FROM pg_background_result(pg_background_launch('SELECT 42')) AS (x int)"
	),
	'42',
	'(3) a new job runs');

# 4.
$node->stop;
my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal/, '(4) no process was terminated by a signal');
unlike($log, qr/TRAP:/, '(4) no assertion failure');
unlike($log, qr/all server processes terminated/, '(4) no crash and restart');

done_testing();
