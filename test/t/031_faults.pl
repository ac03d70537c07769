# Fault injection: processes killed, terminated, canceled, and the server
# stopped under running jobs.
#
# (a) SIGKILL of a worker while its launcher waits in pg_background_result
#     (node "crash"): the postmaster restarts every process, so the
#     launcher's connection is lost: its psql fails promptly (no hang) with
#     57P02 / "server closed the connection"; crash recovery ends with
#     "database system is ready to accept connections" again; afterwards
#     launch + result work.  The only process killed by a signal is that
#     worker, and there is no PANIC.
# On node "faults":
# (b) pg_terminate_backend of a worker blocked on an advisory lock held by
#     a third session, while its launcher waits in pg_background_result:
#     ERROR 57P01 'terminating background worker "pg_background" due to
#     administrator command' with a CONTEXT line naming the worker; the
#     launcher stays usable; the job committed nothing.
# (c) pg_terminate_backend of the launcher while it waits in
#     pg_background_result: its psql gets FATAL 57P01; the job (an INSERT
#     waiting on a lock) goes on and commits once the lock is released.
# (d) pg_cancel_backend of the launcher in the middle of a 2-million-row
#     result streamed through a 1 kB queue (the job stops after a million
#     rows, on a lock the test holds, so that the launcher is certainly in
#     the middle of the stream): 57014 in the launcher, which stays usable;
#     the job goes on, its remaining rows are discarded, it commits the
#     INSERT that follows and exits (no pg_background backend remains).
# (e) pg_ctl stop -m fast while jobs run: three jobs blocked on a lock (one
#     with its launcher waiting in pg_background_result, one detached), a
#     job blocked on its full queue, a detached sleeping job.  The stop
#     completes (pg_ctl -t 60), the log shows no process killed by a
#     signal, no PANIC; the blocked jobs committed nothing; the server
#     restarts and the extension works.
# (f) Node "faults" as a whole: no process killed by a signal, no PANIC, no
#     crash and restart.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgbgTest;
use Time::HiRes qw(usleep);

# Wait (up to $secs seconds) until the psql of a background session has
# exited; returns whether it did.  Collects what it printed on the way.
sub wait_psql_exit
{
	my ($session, $secs) = @_;
	my $deadline = time + $secs;
	while (time < $deadline)
	{
		eval { $session->{run}->pump_nb; };
		return 1 unless $session->{run}->pumpable;
		usleep(20_000);
	}
	return 0;
}

# Wait until the session's backend is inside pg_background_result, asleep
# on its latch (wait event "Extension").
sub wait_reading
{
	my ($node, $pid, $what) = @_;
	ok( $node->poll_query_until(
			'postgres', qq{
SELECT state = 'active' AND query LIKE '%pg_background_result%'
	AND wait_event_type = 'Extension'
FROM pg_stat_activity WHERE pid = $pid}),
		"$what: launcher waits in pg_background_result");
}

my $E = qr/^(?:psql:\S+: )?ERROR:  /m;
my $workers_sql =
  q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_background'};
my ($out, $err, $wpid);

# ===========================================================================
# (a) kill -9 of a worker, on a node of its own.
# ===========================================================================
my $crash = PostgreSQL::Test::Cluster->new('crash');
$crash->init;
$crash->append_conf('postgresql.conf', qq{
max_worker_processes = 16
restart_after_crash = on
});
$crash->start;
$crash->safe_psql('postgres', 'CREATE EXTENSION pg_background');

my $launcher = launcher_session($crash);
my ($launcher_pid) = run_query($launcher, 'SELECT pg_backend_pid()');
($wpid, $err) = run_query($launcher,
	q{SELECT pg_background_launch('SELECT 1 FROM pg_sleep(3600)')});
is($err, '', '(a) launch');
$launcher->query_until(qr/reading\n/,
	"\\echo reading\nSELECT * FROM pg_background_result($wpid) AS (r int);\n");
wait_reading($crash, $launcher_pid, '(a)');

my $log_offset = -s $crash->logfile;
is(kill('KILL', $wpid), 1, '(a) SIGKILL sent to the worker');
ok(wait_psql_exit($launcher, 60),
	'(a) the launcher psql ends (connection lost), it does not hang');
$launcher->{run}->finish;
isnt($launcher->{run}->result, 0, '(a) the launcher psql failed');
like(
	$launcher->{stderr},
	qr/57P02: terminating connection because of crash of another server process|server closed the connection unexpectedly/,
	'(a) the launcher was told its connection ended because of the crash');
unlike($launcher->{stdout}, qr/^1$/m, '(a) no result row was returned');

ok( eval {
		$crash->wait_for_log(qr/all server processes terminated; reinitializing/,
			$log_offset);
		1;
	},
	'(a) the postmaster restarts every process');
ok( eval {
		$crash->wait_for_log(
			qr/all server processes terminated; reinitializing.*database system is ready to accept connections/s,
			$log_offset);
		1;
	},
	'(a) crash recovery ends: ready to accept connections again');
ok($crash->poll_query_until('postgres', 'SELECT 1', '1'),
	'(a) the server answers queries again');
is( $crash->safe_psql(
		'postgres',
		q{SELECT * FROM pg_background_result(pg_background_launch('SELECT 42')) AS (x int)}
	),
	'42',
	'(a) launch and result work after the restart');
is( $crash->safe_psql(
		'postgres',
		q{SELECT r.x FROM pg_background_launch_v2('SELECT 43') h,
		  pg_background_result_v2(h.pid, h.cookie) AS r(x int)}),
	'43',
	'(a) and so does the v2 API');
ok($crash->poll_query_until('postgres', $workers_sql, '0'),
	'(a) no worker left');
$crash->stop;
{
	my $log = slurp_file($crash->logfile);
	like($log,
		qr/background worker "pg_background" \(PID $wpid\) was terminated by signal 9/,
		'(a) the log shows the killed worker');
	my @signaled = ($log =~ /^(.*terminated by signal.*)$/mg);
	is_deeply([ grep { !/\(PID $wpid\)/ } @signaled ], [],
		'(a) no other process was terminated by a signal');
	unlike($log, qr/PANIC/, '(a) no PANIC');
}

# ===========================================================================
# (b)-(f) on another node.
# ===========================================================================
my $node = PostgreSQL::Test::Cluster->new('faults');
$node->init;
$node->append_conf('postgresql.conf', qq{
max_worker_processes = 16
log_min_messages = log
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_background;
CREATE TABLE t (what text);
});

my $locker = $node->background_psql('postgres');
$locker->set_query_timer_restart;
$launcher = launcher_session($node);
($launcher_pid) = run_query($launcher, 'SELECT pg_backend_pid()');

# ---------------------------------------------------------------------------
# (b) pg_terminate_backend(worker) while its launcher reads.
# ---------------------------------------------------------------------------
$locker->query_safe('SELECT pg_advisory_lock(5001)');
($wpid, $err) = run_query($launcher,
	q{SELECT pg_background_launch('INSERT INTO t SELECT ''b'' FROM pg_advisory_xact_lock(5001)')});
is($err, '', '(b) launch');
ok( $node->poll_query_until(
		'postgres', "SELECT wait_event FROM pg_stat_activity WHERE pid = $wpid",
		'advisory'),
	'(b) the worker waits for the lock held by a third session');
$launcher->query_until(qr/reading\n/,
	"\\echo reading\nSELECT * FROM pg_background_result($wpid) AS (r text);\n");
wait_reading($node, $launcher_pid, '(b)');
is($node->safe_psql('postgres', "SELECT pg_terminate_backend($wpid)"),
	't', '(b) worker terminated');
($out, $err) = run_query($launcher, q{SELECT 'alive', pg_backend_pid()});
like($err,
	qr/${E}57P01: terminating background worker "pg_background" due to administrator command$/m,
	'(b) the launcher gets ERROR 57P01');
like($err, qr/^CONTEXT:  background worker, PID $wpid$/m,
	'(b) naming the worker');
unlike($err, qr/FATAL/, '(b) as an ERROR, not a FATAL');
is($out, "alive|$launcher_pid", '(b) the launcher session is usable');
$locker->query_safe('SELECT pg_advisory_unlock(5001)');
ok( $node->poll_query_until(
		'postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $wpid", '0'),
	'(b) worker gone');
is($node->safe_psql('postgres', q{SELECT count(*) FROM t WHERE what = 'b'}),
	'0', '(b) the terminated job committed nothing');

# ---------------------------------------------------------------------------
# (c) pg_terminate_backend(launcher) while it reads.
# ---------------------------------------------------------------------------
$locker->query_safe('SELECT pg_advisory_lock(5002)');
my $doomed = launcher_session($node);
my ($doomed_pid) = run_query($doomed, 'SELECT pg_backend_pid()');
($wpid, $err) = run_query($doomed,
	q{SELECT pg_background_launch('INSERT INTO t SELECT ''c'' FROM pg_advisory_xact_lock(5002)')});
is($err, '', '(c) launch');
$doomed->query_until(qr/reading\n/,
	"\\echo reading\nSELECT * FROM pg_background_result($wpid) AS (r text);\n");
wait_reading($node, $doomed_pid, '(c)');
is($node->safe_psql('postgres', "SELECT pg_terminate_backend($doomed_pid)"),
	't', '(c) launcher terminated');
ok(wait_psql_exit($doomed, 60), '(c) the launcher psql ends');
$doomed->{run}->finish;
like($doomed->{stderr},
	qr/FATAL:  57P01: terminating connection due to administrator command/,
	'(c) the launcher got FATAL 57P01');
ok( $node->poll_query_until(
		'postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $doomed_pid", '0'),
	'(c) the launcher is gone');
is( $node->safe_psql(
		'postgres', "SELECT wait_event FROM pg_stat_activity WHERE pid = $wpid"),
	'advisory',
	'(c) the job still waits for its lock');
$locker->query_safe('SELECT pg_advisory_unlock(5002)');
ok( $node->poll_query_until(
		'postgres', q{SELECT count(*) FROM t WHERE what = 'c'}, '1'),
	'(c) the job of the terminated launcher committed');
ok($node->poll_query_until('postgres', $workers_sql, '0'),
	'(c) no worker left');

# ---------------------------------------------------------------------------
# (d) Cancel in the middle of a streamed result.
# ---------------------------------------------------------------------------
$locker->query_safe('SELECT pg_advisory_lock(5003)');
($wpid, $err) = run_query($launcher, q{
SELECT pg_background_launch(
	'SELECT g FROM generate_series(1, 2000000) g
	 WHERE CASE WHEN g = 1000000 THEN pg_advisory_xact_lock_shared(5003) IS NOT NULL ELSE true END;
	 INSERT INTO t VALUES (''d'')',
	1024)});
is($err, '', '(d) launch of the 2-million-row job (queue_size 1024)');
$launcher->query_until(qr/reading\n/,
	"\\echo reading\nSELECT count(*) FROM pg_background_result($wpid) AS (g int);\n");
# The worker can only reach row 1,000,000 once the launcher has read
# nearly all the rows before it: the queue holds 1 kB.
ok( $node->poll_query_until(
		'postgres', "SELECT wait_event FROM pg_stat_activity WHERE pid = $wpid",
		'advisory'),
	'(d) the worker streamed a million rows and waits at the gate');
wait_reading($node, $launcher_pid, '(d)');
is($node->safe_psql('postgres', "SELECT pg_cancel_backend($launcher_pid)"),
	't', '(d) launcher canceled');
($out, $err) = run_query($launcher, q{SELECT 'alive', pg_backend_pid()});
like($err, qr/${E}57014: canceling statement due to user request$/m,
	'(d) the launcher gets 57014');
is($out, "alive|$launcher_pid", '(d) the launcher session is usable');
($out, $err) = run_query($launcher,
	"SELECT count(*) FROM pg_background_result($wpid) AS (g int)");
like($err, qr/${E}42704: results for PID $wpid have already been consumed$/m,
	'(d) the canceled read counted as the read');
$locker->query_safe('SELECT pg_advisory_unlock(5003)');
ok( $node->poll_query_until(
		'postgres', q{SELECT count(*) FROM t WHERE what = 'd'}, '1'),
	'(d) the job went past its discarded rows and committed');
ok($node->poll_query_until('postgres', $workers_sql, '0'),
	'(d) no pg_background backend remains');
($out, $err) = run_query($launcher,
	q{SELECT * FROM pg_background_result(pg_background_launch('SELECT 44')) AS (x int)});
is($out, '44', '(d) the launcher launches and reads again');
is($err, '', '(d) without error');

# ---------------------------------------------------------------------------
# (e) Fast shutdown with jobs running.
# ---------------------------------------------------------------------------
$locker->query_safe('SELECT pg_advisory_lock(5004)');
my @blocked;
for my $i (1 .. 3)
{
	($out, $err) = run_query($launcher,
		"SELECT pg_background_launch('INSERT INTO t SELECT ''e$i'' FROM pg_advisory_xact_lock(5004)')");
	is($err, '', "(e) launch of lock-blocked job $i");
	push @blocked, $out;
}
($out, $err) = run_query($launcher, "SELECT pg_background_detach($blocked[2])");
is($err, '', '(e) one lock-blocked job detached');
($out, $err) = run_query($launcher,
	q{SELECT pg_background_detach(pg_background_launch('SELECT pg_sleep(3600)'))});
is($err, '', '(e) a detached sleeping job');
my $second = launcher_session($node);
($out, $err) = run_query($second,
	q{SELECT pg_background_launch('SELECT g FROM generate_series(1, 100000) g', 64)});
is($err, '', '(e) a job blocked on its full queue');
my $queue_pid = $out;
ok( $node->poll_query_until(
		'postgres', "SELECT wait_event FROM pg_stat_activity WHERE pid = $queue_pid",
		'MessageQueuePutMessage'),
	'(e) its worker is blocked on the queue');
ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_background' AND wait_event = 'advisory'},
		'3'),
	'(e) three workers wait for the lock');
$launcher->query_until(qr/reading\n/,
	"\\echo reading\nSELECT * FROM pg_background_result($blocked[0]) AS (r text);\n");
wait_reading($node, $launcher_pid, '(e)');
ok($node->poll_query_until('postgres', $workers_sql, '5'), '(e) five jobs running');

$log_offset = -s $node->logfile;
{
	local $ENV{PGCTLTIMEOUT} = 60;
	ok($node->stop('fast', fail_ok => 1),
		'(e) pg_ctl stop -m fast completes (within 60 s)');
}
ok(wait_psql_exit($launcher, 60),
	'(e) the psql of the reading launcher ends with the server');
$launcher->{run}->finish;
# Idle psql sessions only notice when they next send something.
for my $s ($second, $locker)
{
	$s->quit;
}
like($launcher->{stderr},
	qr/57P01: terminating connection due to administrator command/,
	'(e) the reading launcher was told the server shuts down');
{
	my $log = slurp_file($node->logfile, $log_offset);
	like($log, qr/database system is shut down/, '(e) the server shut down');
	unlike($log, qr/terminated by signal/, '(e) no process killed by a signal');
	unlike($log, qr/PANIC/, '(e) no PANIC');
}
$node->start;
is($node->safe_psql('postgres', q{SELECT count(*) FROM t WHERE what LIKE 'e%'}),
	'0', '(e) the interrupted jobs committed nothing');
is($node->safe_psql('postgres', $workers_sql), '0', '(e) no worker after restart');
is( $node->safe_psql(
		'postgres',
		q{SELECT * FROM pg_background_result(pg_background_launch('INSERT INTO t VALUES (''after'') RETURNING what')) AS (w text)}
	),
	'after',
	'(e) the extension works after the restart');

# ---------------------------------------------------------------------------
# (f) Nothing crashed on this node.
# ---------------------------------------------------------------------------
$node->stop;
{
	my $log = slurp_file($node->logfile);
	unlike($log, qr/terminated by signal/, '(f) no process terminated by a signal');
	unlike($log, qr/PANIC/, '(f) no PANIC');
	unlike($log, qr/all server processes terminated/, '(f) no crash and restart');
}

done_testing();
