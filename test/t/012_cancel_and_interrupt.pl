# Interrupting a launcher that waits in pg_background_result.
#
# (a) pg_cancel_backend(launcher) while it waits for a job blocked on a lock:
#     57014 in the launcher, which stays usable; the job still runs to
#     completion and commits; a second read of the PID says the results were
#     already consumed (42704).
# (b) The same while the launcher is in the middle of a result set: the
#     job's remaining rows are discarded, the job goes on (it is not left
#     blocked on its queue) and commits the INSERT that follows the rows.
# (c) A read that fails on an error (column definition list mismatch) while
#     the worker is blocked on its full queue: the job goes on and commits.
# (d) statement_timeout of the launcher (set after the launch, so the job
#     does not inherit it) interrupts the wait the same way.
# (e) pg_terminate_backend(launcher) while it waits: the launcher session
#     ends, the job goes on and commits.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgbgTest;

my $E = qr/^(?:psql:\S+: )?ERROR:  /m;

my $node = PostgreSQL::Test::Cluster->new('cancel');
$node->init;
$node->append_conf('postgresql.conf', 'max_worker_processes = 16');
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_background;
CREATE TABLE t (i int);
});

my $locker = $node->background_psql('postgres');
my $launcher = $node->background_psql(
	'postgres',
	on_error_stop => 0,
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
my ($launcher_pid) = run_query($launcher, 'SELECT pg_backend_pid()');
# The launcher sleeps inside pg_background_result: on its latch in
# pg_background's own wait loop (wait event "Extension"), or in shm_mq
# ("MessageQueueReceive") in builds that wait there.
my $launcher_waits_sql = qq{
SELECT state = 'active' AND query LIKE '%pg_background_result%'
	AND wait_event IN ('Extension', 'MessageQueueReceive')
FROM pg_stat_activity WHERE pid = $launcher_pid};
my ($out, $err, $wpid);

# Wait until the launcher is blocked reading from its worker.
sub wait_launcher_reading
{
	my ($what) = @_;
	ok( $node->poll_query_until(
			'postgres',
			$launcher_waits_sql,
			't'),
		"$what: launcher waits in pg_background_result");
}

sub wait_worker_gone
{
	my ($what, $pid) = @_;
	ok( $node->poll_query_until(
			'postgres',
			"SELECT count(*) FROM pg_stat_activity WHERE pid = $pid", '0'),
		"$what: worker exited");
}

# ---------------------------------------------------------------------------
# (a) Cancel a launcher waiting for a job that waits on a lock.
# ---------------------------------------------------------------------------
$locker->query_safe('SELECT pg_advisory_lock(77)');
($wpid, $err) = run_query($launcher,
	q{SELECT pg_background_launch('INSERT INTO t SELECT 1 FROM pg_advisory_xact_lock(77)')});
is($err, '', '(a) launch');
ok( $node->poll_query_until(
		'postgres',
		"SELECT wait_event FROM pg_stat_activity WHERE pid = $wpid",
		'advisory'),
	'(a) job waits on the advisory lock');
$launcher->query_until(qr/reading\n/,
	"\\echo reading\nSELECT * FROM pg_background_result($wpid) AS (r text);\n");
wait_launcher_reading('(a)');

is($node->safe_psql('postgres', "SELECT pg_cancel_backend($launcher_pid)"),
	't', '(a) launcher cancelled');
($out, $err) = run_query($launcher, q{SELECT 'alive', pg_backend_pid()});
like($err, qr/${E}57014: canceling statement due to user request$/m,
	'(a) pg_background_result raised 57014');
is($out, "alive|$launcher_pid", '(a) launcher session is usable afterwards');

is( $node->safe_psql(
		'postgres',
		"SELECT wait_event FROM pg_stat_activity WHERE pid = $wpid"),
	'advisory',
	'(a) the job is still running after the cancel');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t WHERE i = 1'),
	'0', '(a) and has not inserted yet');
$locker->query_safe('SELECT pg_advisory_unlock(77)');
ok( $node->poll_query_until(
		'postgres', 'SELECT count(*) FROM t WHERE i = 1', '1'),
	'(a) the job ran to completion and committed');
wait_worker_gone('(a)', $wpid);

($out, $err) = run_query($launcher,
	"SELECT * FROM pg_background_result($wpid) AS (r text)");
like($err, qr/${E}42704: results for PID $wpid have already been consumed$/m,
	'(a) a second read: results already consumed');
is($out, '', '(a) and no rows');
($out, $err) = run_query($launcher, "SELECT pg_background_detach($wpid)");
is($err, '', '(a) detach after the interrupted read just forgets the PID');
($out, $err) = run_query($launcher,
	"SELECT * FROM pg_background_result($wpid) AS (r text)");
like($err, qr/${E}42704: PID $wpid is not attached to this session$/m,
	'(a) after detach the PID is unknown');

# ---------------------------------------------------------------------------
# (b) Cancel a launcher in the middle of a result set.  The job inserts,
# sends 100 rows (which fit in its 16 kB queue), then waits on a lock before
# sending 99900 more (about 1.5 MB, which do not fit), then commits.
# ---------------------------------------------------------------------------
$locker->query_safe('SELECT pg_advisory_lock(78)');
($wpid, $err) = run_query(
	$launcher, q{SELECT pg_background_launch($job$
INSERT INTO t VALUES (2);
SELECT g FROM generate_series(1, 100) g
UNION ALL
SELECT g FROM generate_series(101, 100000) g, pg_advisory_xact_lock(78)
$job$, 16384)});
is($err, '', '(b) launch');
ok( $node->poll_query_until(
		'postgres',
		"SELECT wait_event FROM pg_stat_activity WHERE pid = $wpid",
		'advisory'),
	'(b) job waits on the advisory lock after its first rows');
$launcher->query_until(qr/reading\n/,
	"\\echo reading\nSELECT count(*) FROM pg_background_result($wpid) AS (g int);\n");
wait_launcher_reading('(b)');
is($node->safe_psql('postgres', "SELECT pg_cancel_backend($launcher_pid)"),
	't', '(b) launcher cancelled');
($out, $err) = run_query($launcher, q{SELECT 'alive', pg_backend_pid()});
like($err, qr/${E}57014: canceling statement due to user request$/m,
	'(b) pg_background_result raised 57014');
is($out, "alive|$launcher_pid", '(b) launcher session is usable afterwards');
$locker->query_safe('SELECT pg_advisory_unlock(78)');
ok( $node->poll_query_until(
		'postgres', 'SELECT count(*) FROM t WHERE i = 2', '1'),
	'(b) the job went on past its discarded rows and committed');
wait_worker_gone('(b)', $wpid);
($out, $err) = run_query($launcher,
	"SELECT count(*) FROM pg_background_result($wpid) AS (g int)");
like($err, qr/${E}42704: results for PID $wpid have already been consumed$/m,
	'(b) a second read: results already consumed');

# ---------------------------------------------------------------------------
# (c) A read that fails on an error while the worker is blocked on its full
# queue.
# ---------------------------------------------------------------------------
($wpid, $err) = run_query($launcher,
	q{SELECT pg_background_launch('INSERT INTO t VALUES (3); SELECT g FROM generate_series(1, 100000) g', 64)});
is($err, '', '(c) launch');
ok( $node->poll_query_until(
		'postgres',
		"SELECT wait_event FROM pg_stat_activity WHERE pid = $wpid",
		'MessageQueuePutMessage'),
	'(c) job blocked on its full queue');
($out, $err) = run_query($launcher,
	"SELECT * FROM pg_background_result($wpid) AS (g text)");
like($err,
	qr/${E}42804: remote query result rowtype does not match the specified FROM clause rowtype$/m,
	'(c) the read fails on the column definition list');
ok( $node->poll_query_until(
		'postgres', 'SELECT count(*) FROM t WHERE i = 3', '1'),
	'(c) the job went on past its discarded rows and committed');
wait_worker_gone('(c)', $wpid);

# ---------------------------------------------------------------------------
# (d) statement_timeout in the launcher.
# ---------------------------------------------------------------------------
$locker->query_safe('SELECT pg_advisory_lock(79)');
($wpid, $err) = run_query($launcher,
	q{SELECT pg_background_launch('INSERT INTO t SELECT 4 FROM pg_advisory_xact_lock(79)')});
is($err, '', '(d) launch');
($out, $err) = run_query($launcher, q{SET statement_timeout = '100ms'});
is($err, '', '(d) SET statement_timeout after the launch');
($out, $err) = run_query($launcher,
	"SELECT * FROM pg_background_result($wpid) AS (r text)");
like($err, qr/${E}57014: canceling statement due to statement timeout$/m,
	'(d) pg_background_result raised 57014 statement timeout');
($out, $err) = run_query($launcher,
	q{RESET statement_timeout; SELECT 'alive', pg_backend_pid()});
is($out, "alive|$launcher_pid", '(d) launcher session is usable afterwards');
is( $node->safe_psql(
		'postgres',
		"SELECT wait_event FROM pg_stat_activity WHERE pid = $wpid"),
	'advisory',
	'(d) the job is still waiting for the lock');
$locker->query_safe('SELECT pg_advisory_unlock(79)');
ok( $node->poll_query_until(
		'postgres', 'SELECT count(*) FROM t WHERE i = 4', '1'),
	'(d) the job ran to completion and committed');
wait_worker_gone('(d)', $wpid);

# ---------------------------------------------------------------------------
# (e) Terminate (pg_terminate_backend) a launcher waiting for a job: the
# launcher session ends; its job goes on and commits.
# ---------------------------------------------------------------------------
my $doomed = $node->background_psql(
	'postgres',
	on_error_stop => 0,
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
my ($doomed_pid) = run_query($doomed, 'SELECT pg_backend_pid()');
$locker->query_safe('SELECT pg_advisory_lock(80)');
($wpid, $err) = run_query($doomed,
	q{SELECT pg_background_launch('INSERT INTO t SELECT 5 FROM pg_advisory_xact_lock(80)')});
is($err, '', '(e) launch');
ok( $node->poll_query_until(
		'postgres',
		"SELECT wait_event FROM pg_stat_activity WHERE pid = $wpid",
		'advisory'),
	'(e) job waits on the advisory lock');
$doomed->query_until(qr/reading\n/,
	"\\echo reading\nSELECT * FROM pg_background_result($wpid) AS (r text);\n");
ok( $node->poll_query_until(
		'postgres', qq{
SELECT state = 'active' AND query LIKE '%pg_background_result%'
	AND wait_event IN ('Extension', 'MessageQueueReceive')
FROM pg_stat_activity WHERE pid = $doomed_pid}, 't'),
	'(e) launcher waits in pg_background_result');
is($node->safe_psql('postgres', "SELECT pg_terminate_backend($doomed_pid)"),
	't', '(e) launcher terminated');
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE pid = $doomed_pid", '0'),
	'(e) launcher gone');
# psql exits by itself once its connection is lost.
eval { $doomed->{run}->finish; };
like($doomed->{stderr},
	qr/FATAL:  57P01: terminating connection due to administrator command/,
	'(e) the launcher session was terminated');
is( $node->safe_psql(
		'postgres',
		"SELECT wait_event FROM pg_stat_activity WHERE pid = $wpid"),
	'advisory',
	'(e) the job is still waiting for the lock');
$locker->query_safe('SELECT pg_advisory_unlock(80)');
ok( $node->poll_query_until(
		'postgres', 'SELECT count(*) FROM t WHERE i = 5', '1'),
	'(e) the job of the terminated launcher ran to completion and committed');
wait_worker_gone('(e)', $wpid);

is($node->safe_psql('postgres', 'SELECT string_agg(i::text, \',\' ORDER BY i) FROM t'),
	'1,2,3,4,5', 'each job committed exactly once');

$launcher->quit;
$locker->quit;
$node->stop;
my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal/, 'no process terminated by a signal');
unlike($log, qr/all server processes terminated/, 'no crash and restart');

done_testing();
