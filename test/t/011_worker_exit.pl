# Workers that end badly, seen from their launcher.
#
# (a) A worker terminated (pg_terminate_backend) while it waits on a lock:
#     the launcher's pg_background_result raises 57P01 as an ERROR, whether
#     the launcher was already waiting in pg_background_result or reads
#     after the worker is gone; the launcher session survives.  Likewise a
#     worker whose statement is cancelled (pg_cancel_backend): 57014, and
#     a worker that fails to connect (role lost LOGIN): 28000.
# (b) A worker terminated while blocked writing into its full queue cannot
#     send its error ("gone without a word"): pg_background_result raises
#     08006 "lost connection to worker process with PID ...".
# (c) No free worker slot: launch raises 53000 with a HINT naming
#     max_worker_processes; once the running jobs are done, launching works
#     again.
# (d) None of this crashes the server.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgbgTest;

my $node = PostgreSQL::Test::Cluster->new('worker_exit');
$node->init;
$node->append_conf('postgresql.conf', 'max_worker_processes = 16');
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_background;
CREATE TABLE t (i int);
});

my $locker = $node->background_psql('postgres');
my $launcher = launcher_session($node);
my ($launcher_pid) = run_query($launcher, 'SELECT pg_backend_pid()');
# The launcher sleeps inside pg_background_result: on its latch in
# pg_background's own wait loop (wait event "Extension"), or in shm_mq
# ("MessageQueueReceive") in builds that wait there.
my $launcher_waits_sql = qq{
SELECT state = 'active' AND query LIKE '%pg_background_result%'
	AND wait_event IN ('Extension', 'MessageQueueReceive')
FROM pg_stat_activity WHERE pid = $launcher_pid};
my ($out, $err, $wpid);

# ---------------------------------------------------------------------------
# (a1) Terminate a lock-waiting worker while its launcher waits for it.
# ---------------------------------------------------------------------------
$locker->query_safe('SELECT pg_advisory_lock(42)');
($wpid, $err) = run_query($launcher,
	q{SELECT pg_background_launch('INSERT INTO t SELECT 1 FROM pg_advisory_xact_lock(42)')});
is($err, '', '(a1) launch');
ok( $node->poll_query_until(
		'postgres',
		"SELECT wait_event FROM pg_stat_activity WHERE pid = $wpid",
		'advisory'),
	'(a1) worker waits on the advisory lock');

$launcher->query_until(qr/reading\n/,
	"\\echo reading\nSELECT * FROM pg_background_result($wpid) AS (r text);\n");
ok( $node->poll_query_until(
		'postgres',
		$launcher_waits_sql,
		't'),
	'(a1) launcher waits in pg_background_result');

is($node->safe_psql('postgres', "SELECT pg_terminate_backend($wpid)"),
	't', '(a1) worker terminated');
($out, $err) = run_query($launcher, q{SELECT 'alive', pg_backend_pid()});
like(
	$err,
	qr/^(?:psql:\S+: )?ERROR:  57P01: terminating .* due to administrator command$/m,
	'(a1) pg_background_result raised 57P01 as an ERROR');
like($err, qr/^CONTEXT:  background worker, PID $wpid$/m,
	'(a1) the error names the worker');
unlike($err, qr/FATAL/, '(a1) no FATAL reached the launcher');
is($out, "alive|$launcher_pid", '(a1) launcher session survives');
($out, $err) = run_query($launcher, "SELECT * FROM pg_background_result($wpid) AS (r text)");
like($err, qr/^(?:psql:\S+: )?ERROR:  42704: results for PID $wpid have already been consumed$/m,
	'(a1) the failed read counted as the read');
$locker->query_safe('SELECT pg_advisory_unlock(42)');
ok( $node->poll_query_until(
		'postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $wpid",
		'0'),
	'(a1) worker gone');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'),
	'0', '(a1) the terminated job did not commit');

# ---------------------------------------------------------------------------
# (a2) Terminate a lock-waiting worker, read its result once it is gone.
# ---------------------------------------------------------------------------
$locker->query_safe('SELECT pg_advisory_lock(42)');
($wpid, $err) = run_query($launcher,
	q{SELECT pg_background_launch('INSERT INTO t SELECT 2 FROM pg_advisory_xact_lock(42)')});
is($err, '', '(a2) launch');
ok( $node->poll_query_until(
		'postgres',
		"SELECT wait_event FROM pg_stat_activity WHERE pid = $wpid",
		'advisory'),
	'(a2) worker waits on the advisory lock');
is($node->safe_psql('postgres', "SELECT pg_terminate_backend($wpid)"),
	't', '(a2) worker terminated');
ok( $node->poll_query_until(
		'postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $wpid",
		'0'),
	'(a2) worker gone');
($out, $err) = run_query($launcher,
	"SELECT * FROM pg_background_result($wpid) AS (r text)");
like(
	$err,
	qr/^(?:psql:\S+: )?ERROR:  57P01: terminating .* due to administrator command$/m,
	'(a2) pg_background_result raised 57P01 as an ERROR');
unlike($err, qr/FATAL/, '(a2) no FATAL reached the launcher');
($out, $err) = run_query($launcher, q{SELECT 'alive', pg_backend_pid()});
is($out, "alive|$launcher_pid", '(a2) launcher session survives');
is($err, '', '(a2) and is healthy');
$locker->query_safe('SELECT pg_advisory_unlock(42)');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'),
	'0', '(a2) the terminated job did not commit');

# ---------------------------------------------------------------------------
# (a3) Cancel (pg_cancel_backend) a lock-waiting worker: its statement fails
# with 57014, which the launcher gets as the job's error.
# ---------------------------------------------------------------------------
$locker->query_safe('SELECT pg_advisory_lock(42)');
($wpid, $err) = run_query($launcher,
	q{SELECT pg_background_launch('INSERT INTO t SELECT 3 FROM pg_advisory_xact_lock(42)')});
is($err, '', '(a3) launch');
ok( $node->poll_query_until(
		'postgres',
		"SELECT wait_event FROM pg_stat_activity WHERE pid = $wpid",
		'advisory'),
	'(a3) worker waits on the advisory lock');
is($node->safe_psql('postgres', "SELECT pg_cancel_backend($wpid)"),
	't', '(a3) worker cancelled');
ok( $node->poll_query_until(
		'postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $wpid",
		'0'),
	'(a3) worker gone');
($out, $err) = run_query($launcher,
	"SELECT * FROM pg_background_result($wpid) AS (r text)");
like(
	$err,
	qr/^(?:psql:\S+: )?ERROR:  57014: canceling statement due to user request$/m,
	'(a3) pg_background_result raised the worker\'s 57014');
like($err, qr/^CONTEXT:  background worker, PID $wpid$/m,
	'(a3) the error names the worker');
($out, $err) = run_query($launcher, q{SELECT 'alive', pg_backend_pid()});
is($out, "alive|$launcher_pid", '(a3) launcher session survives');
$locker->query_safe('SELECT pg_advisory_unlock(42)');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'),
	'0', '(a3) the cancelled job did not commit');

# ---------------------------------------------------------------------------
# (a4) A worker that fails while connecting (its launcher's role lost LOGIN
# after the launcher logged in): the worker's FATAL reaches the launcher as
# an ERROR with the worker's SQLSTATE (28000).
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', q{
CREATE ROLE regress_exit_nologin LOGIN;
SELECT grant_pg_background_privileges('regress_exit_nologin');
});
my $nologin = $node->background_psql(
	'postgres',
	on_error_stop => 0,
	extra_params => [ '-U', 'regress_exit_nologin', '-v', 'VERBOSITY=verbose' ]);
my ($nologin_pid) = run_query($nologin, 'SELECT pg_backend_pid()');
$node->safe_psql('postgres', 'ALTER ROLE regress_exit_nologin NOLOGIN');
($wpid, $err) = run_query($nologin, q{SELECT pg_background_launch('SELECT 1')});
is($err, '', '(a4) launch');
($out, $err) = run_query($nologin,
	"SELECT * FROM pg_background_result($wpid) AS (x int)");
like(
	$err,
	qr/^(?:psql:\S+: )?ERROR:  28000: role "regress_exit_nologin" is not permitted to log in$/m,
	'(a4) the worker\'s connection failure reaches the launcher as an ERROR');
unlike($err, qr/FATAL/, '(a4) no FATAL reached the launcher');
($out, $err) = run_query($nologin, q{SELECT 'alive', pg_backend_pid()});
is($out, "alive|$nologin_pid", '(a4) launcher session survives');
$nologin->quit;
$node->safe_psql('postgres', q{
SELECT revoke_pg_background_privileges('regress_exit_nologin');
DROP ROLE regress_exit_nologin;
});

# ---------------------------------------------------------------------------
# (b) Gone without a word: terminated while blocked on its full queue.
# ---------------------------------------------------------------------------
($wpid, $err) = run_query($launcher,
	q{SELECT pg_background_launch('SELECT g FROM generate_series(1, 100000) g', 64)});
is($err, '', '(b) launch');
ok( $node->poll_query_until(
		'postgres',
		"SELECT wait_event FROM pg_stat_activity WHERE pid = $wpid",
		'MessageQueuePutMessage'),
	'(b) worker blocked writing into its full queue');
is($node->safe_psql('postgres', "SELECT pg_terminate_backend($wpid)"),
	't', '(b) worker terminated');
ok( $node->poll_query_until(
		'postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $wpid",
		'0'),
	'(b) worker gone');
($out, $err) = run_query($launcher,
	"SELECT count(*) FROM pg_background_result($wpid) AS (g int)");
like(
	$err,
	qr/^(?:psql:\S+: )?ERROR:  08006: lost connection to worker process with PID $wpid$/m,
	'(b) pg_background_result raised 08006 lost connection');
is($out, '', '(b) no rows returned');
($out, $err) = run_query($launcher, q{SELECT 'alive', pg_backend_pid()});
is($out, "alive|$launcher_pid", '(b) launcher session survives');
is($err, '', '(b) and is healthy');
($out, $err) = run_query($launcher,
	"SELECT * FROM pg_background_result($wpid) AS (g int)");
like($err, qr/^(?:psql:\S+: )?ERROR:  42704: results for PID $wpid have already been consumed$/m,
	'(b) the failed read counted as the read');

$launcher->quit;
$locker->quit;

# ---------------------------------------------------------------------------
# (c) Slot exhaustion on a node with 4 worker slots.
# ---------------------------------------------------------------------------
my $small = PostgreSQL::Test::Cluster->new('few_slots');
$small->init;
$small->append_conf('postgresql.conf', qq{
max_worker_processes = 4
max_parallel_workers = 0
max_parallel_workers_per_gather = 0
});
$small->start;
$small->safe_psql('postgres', q{
CREATE EXTENSION pg_background;
CREATE TABLE t (i int);
});

# Background workers that are not ours hold slots too (on a default node,
# the logical replication launcher).
my $other_bgw = $small->safe_psql('postgres',
	q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'logical replication launcher'});
my $free_slots = 4 - $other_bgw;

$locker = $small->background_psql('postgres');
$locker->query_safe('SELECT pg_advisory_lock(43)');
$launcher = launcher_session($small);
($launcher_pid) = run_query($launcher, 'SELECT pg_backend_pid()');

my @pids;
my $launch_err = '';
for my $i (1 .. 10)
{
	($out, $err) = run_query($launcher,
		"SELECT pg_background_launch('INSERT INTO t SELECT $i FROM pg_advisory_xact_lock(43)')"
	);
	if ($err ne '')
	{
		$launch_err = $err;
		last;
	}
	push @pids, $out;
}
is(scalar(@pids), $free_slots,
	"(c) $free_slots launches succeed before the slots run out");
like(
	$launch_err,
	qr/^(?:psql:\S+: )?ERROR:  53000: could not register background process$/m,
	'(c) the next launch fails with 53000');
like(
	$launch_err,
	qr/^HINT:  You may need to increase max_worker_processes \(currently 4\)\.$/m,
	'(c) with a hint naming max_worker_processes');
($out, $err) = run_query($launcher, q{SELECT 'alive', pg_backend_pid()});
is($out, "alive|$launcher_pid", '(c) launcher session survives');
is($small->safe_psql('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_background'}),
	scalar(@pids), '(c) the failed launch left no worker behind');

$locker->query_safe('SELECT pg_advisory_unlock(43)');
my $detached = pop @pids;
($out, $err) = run_query($launcher, "SELECT pg_background_detach($detached)");
is($err, '', '(c) detach one running job');
for my $p (@pids)
{
	($out, $err) = run_query($launcher,
		"SELECT * FROM pg_background_result($p) AS (r text)");
	is($out, 'INSERT 0 1', "(c) read the result of a job that waited for a slot holder");
	is($err, '', '(c) without error');
}
ok( $small->poll_query_until(
		'postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_background'},
		'0'),
	'(c) every job finished');
is($small->safe_psql('postgres', 'SELECT count(*) FROM t'),
	$free_slots, '(c) every job that got a slot committed');

# The slot of an exited worker is freed by the postmaster shortly after the
# worker leaves pg_stat_activity, so retry until a launch succeeds.
ok( $small->poll_query_until(
		'postgres',
		q{SELECT * FROM pg_background_result(pg_background_launch('SELECT 42')) AS (x int)},
		'42'),
	'(c) launching works again once the slots are free');
($out, $err) = run_query($launcher,
	q{SELECT * FROM pg_background_result(pg_background_launch('SELECT 43')) AS (x int)});
is($out, '43', '(c) also from the session whose launch failed');
is($err, '', '(c) without error');

$launcher->quit;
$locker->quit;

# ---------------------------------------------------------------------------
# (d) No crash anywhere.
# ---------------------------------------------------------------------------
$node->stop;
$small->stop;
for my $n ($node, $small)
{
	my $log = slurp_file($n->logfile);
	unlike($log, qr/terminated by signal/,
		'(d) ' . $n->name . ': no process terminated by a signal');
	unlike($log, qr/all server processes terminated|server process .* exited with exit code [^01]/,
		'(d) ' . $n->name . ': no crash and restart');
}

done_testing();
