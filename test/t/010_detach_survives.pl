# Jobs outlive their launchers.
#
# 1. 100 short sessions, each launching an INSERT, detaching and exiting
#    at once, insert exactly 100 rows, each once; so do 25 such sessions
#    running at the same time.
# 2. A session that exits WITHOUT detaching behaves as if it had detached:
#    a job still sleeping, a job still waiting on a lock, and a job blocked
#    writing a big result into a full queue all go on and commit, and no
#    worker is left behind.
#    Likewise a job detached while blocked on its full queue.
# 3. The server log shows no failed mapping of a job's shared memory and no
#    process killed by a signal.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('detach_survives');
$node->init;
$node->append_conf('postgresql.conf', qq{
max_worker_processes = 32
log_min_messages = log
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_background;
CREATE TABLE t (i int);
CREATE TABLE t2 (what text);
});

# Launchers' own sessions can be seen by application_name.
my $launcher_count_sql = q{SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgbg_launcher'};
my $worker_count_sql = q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_background'};

# ---------------------------------------------------------------------------
# 1. Launch, detach, exit: 100 separate sessions.
# ---------------------------------------------------------------------------
my $failures = 0;
for my $i (1 .. 100)
{
	my ($ret, $stdout, $stderr) = $node->psql('postgres',
		"SELECT pg_background_detach(pg_background_launch('INSERT INTO t VALUES ($i)'))");
	if ($ret != 0 || $stderr ne '')
	{
		$failures++;
		diag("launch $i failed (exit $ret): $stderr");
	}
}
is($failures, 0, '100 sessions launched and detached a job without error');

ok($node->poll_query_until('postgres', 'SELECT count(*) FROM t', '100'),
	'the 100 detached jobs inserted 100 rows');
ok($node->poll_query_until('postgres', $worker_count_sql, '0'),
	'no pg_background worker is left');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'),
	'100', 'still 100 rows once every worker has exited');
is( $node->safe_psql(
		'postgres',
		'SELECT count(DISTINCT i), min(i), max(i) FROM t WHERE i <= 100'),
	'100|1|100',
	'each of the 100 values inserted exactly once');

# 1b. The same with 25 launcher sessions running at the same time (fewer
# than the worker slots, so no launch may fail).
{
	local %ENV = %ENV;
	$ENV{PGHOST} = $node->host;
	$ENV{PGPORT} = $node->port;
	my @runs;
	for my $i (1 .. 25)
	{
		my ($out, $err) = ('', '');
		my $h = IPC::Run::start(
			[
				$node->installed_command('psql'), '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', 'postgres', '-c',
				"SELECT pg_background_detach(pg_background_launch('INSERT INTO t VALUES (1000 + $i)'))"
			],
			'>', \$out, '2>', \$err,
			IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
		push @runs, [ $h, \$out, \$err ];
	}
	my $concurrent_failures = 0;
	for my $r (@runs)
	{
		my ($h, $out, $err) = @$r;
		$h->finish;
		if ($h->result != 0 || $$err ne '')
		{
			$concurrent_failures++;
			diag('concurrent launch failed (exit ' . $h->result . "): $$err");
		}
	}
	is($concurrent_failures, 0,
		'25 concurrent sessions launched and detached a job without error');
}
ok( $node->poll_query_until(
		'postgres', 'SELECT count(*) FROM t WHERE i > 1000', '25'),
	'the 25 concurrently detached jobs inserted 25 rows');
ok($node->poll_query_until('postgres', $worker_count_sql, '0'),
	'no pg_background worker is left');
is( $node->safe_psql(
		'postgres',
		'SELECT count(*), count(DISTINCT i), min(i), max(i) FROM t WHERE i > 1000'),
	'25|25|1001|1025',
	'each of the 25 values inserted exactly once');

# ---------------------------------------------------------------------------
# 2. Sessions that exit without detaching.
# ---------------------------------------------------------------------------

# 2a. A job still sleeping when its launcher exits.
my ($ret, $stdout, $stderr) = $node->psql('postgres',
	q{SELECT pg_background_launch('SELECT pg_sleep(0.5); INSERT INTO t2 VALUES (''sleep'')') > 0});
is($ret, 0, 'launcher of the sleeping job exited cleanly');
is($stdout, 't', 'launch of the sleeping job returned a PID');
is($stderr, '', 'launch of the sleeping job raised nothing');

# 2b. A job waiting on a lock the test holds: the launcher is certainly gone
# before the job can do anything.
my $locker = $node->background_psql('postgres');
$locker->query_safe('SELECT pg_advisory_lock(1001)');

($ret, $stdout, $stderr) = $node->psql('postgres', q{
SET application_name = 'pgbg_launcher';
SELECT pg_background_launch('SELECT pg_advisory_xact_lock(1001); INSERT INTO t2 VALUES (''locked'')') AS pid \gset
SELECT :pid > 0;
});
is($ret, 0, 'launcher of the lock-waiting job exited cleanly');
is($stderr, '', 'launch of the lock-waiting job raised nothing');
ok( $node->poll_query_until(
		'postgres', q{
SELECT count(*) FROM pg_stat_activity
WHERE backend_type = 'pg_background' AND wait_event_type = 'Lock'
  AND query LIKE 'SELECT pg_advisory_xact_lock(1001)%'}, '1'),
	'the lock-waiting job waits for the lock');
ok($node->poll_query_until('postgres', $launcher_count_sql, '0'),
	'its launcher has exited');
is($node->safe_psql('postgres', q{SELECT count(*) FROM t2 WHERE what = 'locked'}),
	'0', 'the lock-waiting job has not inserted yet');
$locker->query_safe('SELECT pg_advisory_unlock(1001)');

# 2c. A job blocked writing a big result into a 64-byte queue, in the same
# transaction as an INSERT that commits only after the big result (the
# result is the last statement's: only its rows are sent).  The launcher
# waits until the worker is blocked on the full queue, then exits.
($ret, $stdout, $stderr) = $node->psql('postgres', q{
SET application_name = 'pgbg_launcher';
SELECT set_config('pgbg_test.pid',
	pg_background_launch('INSERT INTO t2 VALUES (''bigresult''); SELECT g FROM generate_series(1, 100000) g', 64)::text,
	false) IS NOT NULL AS launched \gset
DO $$
DECLARE
	deadline timestamptz := clock_timestamp() + interval '180 s';
BEGIN
	LOOP
		EXIT WHEN EXISTS (SELECT 1 FROM pg_stat_activity
						  WHERE pid = current_setting('pgbg_test.pid')::int
							 AND wait_event = 'MessageQueuePutMessage');
		IF clock_timestamp() > deadline THEN
			RAISE EXCEPTION 'worker never blocked on its full queue';
		END IF;
		PERFORM pg_sleep(0.01);
		-- pg_stat_activity is otherwise frozen for the transaction.
		PERFORM pg_stat_clear_snapshot();
	END LOOP;
END $$;
SELECT 'blocked';
});
is($ret, 0, 'launcher of the big-result job exited cleanly');
is($stdout, 'blocked', 'the big-result job was blocked on its full queue when its launcher exited');
is($stderr, '', 'launch of the big-result job raised nothing');

# 2d. Several blocked big-result jobs of one session, none read, none detached.
($ret, $stdout, $stderr) = $node->psql('postgres', q{
SET application_name = 'pgbg_launcher';
SELECT count(pg_background_launch(format('INSERT INTO t2 VALUES (''many %s''); SELECT g FROM generate_series(1, 20000) g', i), 64))
FROM generate_series(1, 5) i;
});
is($ret, 0, 'launcher of five big-result jobs exited cleanly');
is($stdout, '5', 'five big-result jobs launched');
is($stderr, '', 'launch of five big-result jobs raised nothing');

# 2e. Detach (the launcher staying connected) of a job blocked on its full
# queue: the job goes on and commits.
my $stays = $node->background_psql('postgres');
my $bpid = $stays->query_safe(
	q{SELECT pg_background_launch('INSERT INTO t2 VALUES (''detached while blocked''); SELECT g FROM generate_series(1, 100000) g', 64)});
ok( $node->poll_query_until(
		'postgres',
		"SELECT wait_event FROM pg_stat_activity WHERE pid = $bpid",
		'MessageQueuePutMessage'),
	'a job is blocked on its full queue');
$stays->query_safe("SELECT pg_background_detach($bpid)");
ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) FROM t2 WHERE what = 'detached while blocked'}, '1'),
	'once detached, the blocked job went on and committed');
ok( $node->poll_query_until(
		'postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $bpid",
		'0'),
	'and exited');
$stays->quit;

ok($node->poll_query_until('postgres', $launcher_count_sql, '0'),
	'every launcher has exited');
ok($node->poll_query_until('postgres', $worker_count_sql, '0'),
	'no pg_background worker is left (nothing hangs)');
is( $node->safe_psql('postgres', 'SELECT string_agg(what, \',\' ORDER BY what) FROM t2'),
	'bigresult,detached while blocked,locked,many 1,many 2,many 3,many 4,many 5,sleep',
	'every job of the exited launchers committed its INSERT, once');

# ---------------------------------------------------------------------------
# 3. Nothing went wrong underneath.
# ---------------------------------------------------------------------------
$locker->quit;
$node->stop;
my $log = slurp_file($node->logfile);
unlike($log, qr/could not map dynamic shared memory/,
	'no worker failed to map its dynamic shared memory');
unlike($log, qr/could not map its shared memory segment/,
	'no worker found its launcher gone before it started');
unlike($log, qr/terminated by signal/, 'no process was terminated by a signal');
unlike($log, qr/all server processes terminated/, 'no crash and restart');

done_testing();
