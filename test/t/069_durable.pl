# Durable jobs (pg_background_enqueue and friends; docs/durable.md).
#
# Node: shared_preload_libraries = 'pg_background', two databases with the
# extension (postgres, db2), roles regress_alice and regress_bob (granted
# the API), pg_background.durable_workers = 4.
#
#  1. An enqueue rolled back never runs: its id does not exist (42704), and
#     a job committed after it runs while its effect never appears.
#  2. A committed job runs once, as its role (current_user and
#     session_user), with its parameters bound; pg_background_job shows
#     succeeded, 1 attempt, its command tag, label, timestamps.
#  3. run_at: a job due in 3 s does not start before then (started_at and
#     the clock_timestamp() its SQL records are not before run_at, by the
#     server's clock).
#  4. Retries: a job that fails twice (a sequence, which a rollback does
#     not undo, counts the attempts) then succeeds: succeeded, 3 attempts,
#     one effect.  A job that always fails: failed after max_attempts, the
#     last error (22012) kept.
#  5. timeout: an attempt running longer fails with 57014.
#  6. Cancel: a queued job (true; canceled), a running one (true; canceled,
#     57014, its effect rolled back), a finished one (false); one whose
#     failing attempt is being recorded as to be retried (canceled, 1
#     attempt: fault point attempt_recording).
#  7. Another role sees nothing: pg_background_job, wait_job and cancel_job
#     give 42704, the view no row, the table itself 42501.
#  8. Bad input: the SQLSTATE of each; waiting for a job that the waiting
#     transaction enqueued: 55000.
#  9. PREPARE TRANSACTION of a transaction that enqueued: 0A000.
# 10. pg_dump dumps the rows of the table and the position of its sequence,
#     not its trigger; restored into a new database (without enqueuing
#     there), a job that was pending in the dump runs there, once.
# 11. Restart: 100 jobs enqueued, the server stopped with -m immediate
#     while they run (one of them held on an advisory lock, so that it is
#     running for sure); after the restart every job succeeded and every
#     effect is there exactly once; the held job ran again (2 attempts).
#     A job of db2 due after the restart runs without anyone connecting
#     to db2 before its effect is there.
# 10b. A job whose worker is terminated 10 times (pg_terminate_backend
#     while it waits for a lock) fails with 08006, 10 attempts.
# 10c. The job of a role dropped meanwhile fails with 28000, 0 attempts.
# 12. Finished jobs are removed after pg_background.durable_keep_finished.
# 12b. A damaged file of databases is renamed (.damaged), the log says so,
#     and the next enqueue lists the database again.
#     A table of another layout is refused with 55000 (12c).
# 13. A hot standby refuses to enqueue with 25006.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgbgTest qw(poll_until sqlstate_of wait_job job_fields);

my $node = PostgreSQL::Test::Cluster->new('durable');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_background'
max_worker_processes = 16
max_prepared_transactions = 2
pg_background.durable_workers = 4
restart_after_crash = on
log_min_messages = log
});
$node->start;
$node->safe_psql('postgres', q{
CREATE DATABASE db2;
CREATE EXTENSION pg_background;
CREATE ROLE regress_alice LOGIN;
CREATE ROLE regress_bob LOGIN;
SELECT grant_pg_background_privileges('regress_alice', false);
SELECT grant_pg_background_privileges('regress_bob', false);
CREATE TABLE t (k text, who text, sess text, at timestamptz DEFAULT clock_timestamp());
GRANT ALL ON t TO regress_alice;
CREATE SEQUENCE attempts_seq;
CREATE TABLE crash (i int);
});
$node->safe_psql('db2', q{
CREATE EXTENSION pg_background;
CREATE TABLE t2 (k text);
});

# 1. Rolled back.
my $rolled = $node->safe_psql('postgres', q{
BEGIN;
SELECT pg_background_enqueue($$INSERT INTO t (k) VALUES ('rolled back')$$);
ROLLBACK;
});
# (psql prints the id even though the transaction rolls back)
my $after = $node->safe_psql('postgres',
	q{SELECT pg_background_enqueue($$INSERT INTO t (k) VALUES ('after')$$)});
is(wait_job($node, $after), 't', 'a job committed after the rollback finishes');
is(sqlstate_of($node, "SELECT * FROM pg_background_job($rolled)"),
	'42704', 'the rolled back job does not exist');
is($node->safe_psql('postgres', q{SELECT count(*) FROM t WHERE k = 'rolled back'}),
	'0', 'the rolled back job never ran');

# 2. Committed: runs once, as its role, with its parameters.
my $one = $node->safe_psql('postgres',
	q{SELECT pg_background_enqueue($$INSERT INTO t (k, who, sess) VALUES ($1, current_user, session_user)$$,
	  NULL, 1, '1 s', NULL, 'label one', 'one'::text)},
	extra_params => [ '-U', 'regress_alice' ]);
is(wait_job($node, $one, 'regress_alice'), 't', 'wait_job returns true once the job finished');
is($node->safe_psql('postgres', q{SELECT count(*), min(who), min(sess) FROM t WHERE k = 'one'}),
	'1|regress_alice|regress_alice', 'the job ran once, as the role that enqueued it');
is(job_fields($node, $one, q{state, attempts, max_attempts, command_tag, label, owner,
	sqlstate IS NULL, started_at >= enqueued_at, finished_at >= started_at}),
	'succeeded|1|1|INSERT 0 1|label one|regress_alice|t|t|t',
	'pg_background_job shows the success');

# 3. run_at, by the server's clock.
my $later = $node->safe_psql('postgres',
	q{SELECT pg_background_enqueue($$INSERT INTO t (k) VALUES ('later')$$, now() + interval '3 s')});
is(job_fields($node, $later, 'state'), 'queued', 'a job due later is queued');
is(wait_job($node, $later), 't', 'the job due later finishes');
is($node->safe_psql('postgres', qq{
SELECT j.started_at >= j.run_at, t.at >= j.run_at
FROM pg_background_job($later) j, t WHERE t.k = 'later'}),
	't|t', 'it started no earlier than run_at');

# 4. Retries.
my $retried = $node->safe_psql('postgres', q{
SELECT pg_background_enqueue($$SELECT 1 / CASE WHEN nextval('attempts_seq') < 3 THEN 0 ELSE 1 END;
  INSERT INTO t (k) VALUES ('retried')$$, NULL, 5, '10 ms')});
is(wait_job($node, $retried), 't', 'the retried job finishes');
is(job_fields($node, $retried, 'state, attempts, sqlstate IS NULL'), 'succeeded|3|t',
	'it succeeded at its third attempt');
is($node->safe_psql('postgres', q{SELECT count(*) FROM t WHERE k = 'retried'}),
	'1', 'its effect is there once');
my $failing = $node->safe_psql('postgres',
	q{SELECT pg_background_enqueue('SELECT 1/0', NULL, 2, '10 ms')});
is(wait_job($node, $failing), 't', 'the failing job finishes');
is(job_fields($node, $failing, 'state, attempts, sqlstate, message'),
	'failed|2|22012|division by zero', 'it failed after max_attempts, the error kept');

# 5. Timeout.
my $slow = $node->safe_psql('postgres',
	q{SELECT pg_background_enqueue('SELECT pg_sleep(60)', timeout => '200 ms')});
is(wait_job($node, $slow), 't', 'the slow job finishes');
is(job_fields($node, $slow, 'state, attempts, sqlstate, message'),
	'failed|1|57014|canceling durable job due to its timeout', 'its timeout ended it');

# 6. Cancel.
my $queued = $node->safe_psql('postgres',
	q{SELECT pg_background_enqueue('SELECT 1', now() + interval '1 hour')});
is($node->safe_psql('postgres', "SELECT pg_background_cancel_job($queued)"), 't',
	'a queued job is canceled');
is(wait_job($node, $queued), 't', 'waiting for a canceled job returns true');
is(job_fields($node, $queued, 'state, attempts, sqlstate'), 'canceled|0|57014', 'it is canceled, never started');
my $running = $node->safe_psql('postgres',
	q{SELECT pg_background_enqueue($$INSERT INTO t (k) VALUES ('canceled'); SELECT pg_sleep(60)$$)});
ok(poll_until($node, "SELECT state FROM pg_background_job($running)", 'running', 60),
	'the long job is running');
ok(poll_until($node, q{SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND backend_type = 'pg_background'},
	'1', 60), 'its worker runs its SQL');
is($node->safe_psql('postgres', "SELECT pg_background_cancel_job($running)"), 't',
	'a running job is told to stop');
is(wait_job($node, $running), 't', 'it finishes');
is(job_fields($node, $running, 'state, attempts, sqlstate'), 'canceled|1|57014', 'it is canceled');
is($node->safe_psql('postgres', q{SELECT count(*) FROM t WHERE k = 'canceled'}),
	'0', 'its effect was rolled back');
is($node->safe_psql('postgres', "SELECT pg_background_cancel_job($one)"), 'f',
	'a finished job cannot be canceled');

# 6b. A cancel that reaches a failing attempt while its worker records the
#     failure (the job still running as others see it, about to be queued
#     for its next attempt): the job is canceled, not run again.  The fault
#     point holds the worker in its recording transaction, before it
#     commits (it has an xid then, and waits on its latch).
$node->safe_psql('postgres', q{
ALTER SYSTEM SET pg_background.test_fault = 'attempt_recording';
SELECT pg_reload_conf();
});
my $late = $node->safe_psql('postgres',
	q{SELECT pg_background_enqueue($$INSERT INTO t (k) VALUES ('late'); SELECT 1/0$$, NULL, 3, '0')});
ok(poll_until($node, q{SELECT count(*) FROM pg_stat_activity
	WHERE backend_type = 'pg_background' AND wait_event = 'Extension'
	AND backend_xid IS NOT NULL}, '1', 60),
	'the failing attempt\'s worker waits before committing its failure');
is(job_fields($node, $late, 'state, attempts'), 'running|1', 'the job is still running as others see it');
is($node->safe_psql('postgres', "SELECT pg_background_cancel_job($late)"), 't',
	'the job is told to stop');
$node->safe_psql('postgres', q{
ALTER SYSTEM RESET pg_background.test_fault;
SELECT pg_reload_conf();
});
is(wait_job($node, $late), 't', 'it finishes');
is(job_fields($node, $late, 'state, attempts, sqlstate, message'),
	'canceled|1|57014|canceled before its next attempt',
	'it is canceled after its first attempt, not run again');
is($node->safe_psql('postgres', q{SELECT count(*) FROM t WHERE k = 'late'}),
	'0', 'the attempt\'s effect was rolled back');

# 7. Another role sees nothing.
is(sqlstate_of($node, "SELECT * FROM pg_background_job($one)", 'regress_bob'),
	'42704', "another role's job: pg_background_job gives 42704");
is(sqlstate_of($node, "SELECT pg_background_wait_job($one)", 'regress_bob'),
	'42704', 'wait_job gives 42704');
is(sqlstate_of($node, "SELECT pg_background_cancel_job($one)", 'regress_bob'),
	'42704', 'cancel_job gives 42704');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_background_durable_jobs',
		extra_params => [ '-U', 'regress_bob' ]),
	'0', 'the view shows another role no job');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_background_durable_jobs',
		extra_params => [ '-U', 'regress_alice' ]),
	'1', 'the view shows a role its own job');
is(sqlstate_of($node, 'SELECT * FROM pgbg_durable', 'regress_alice'),
	'42501', 'the table itself is not readable');
is(sqlstate_of($node, q{UPDATE pgbg_durable SET state = 'queued'}, 'regress_alice'),
	'42501', 'nor writable');

# 8. Bad input.
my %bad = (
	q{SELECT pg_background_enqueue(NULL)} => '22004',
	q{SELECT pg_background_enqueue('SELECT 1', max_attempts => NULL)} => '22004',
	q{SELECT pg_background_enqueue('SELECT 1', max_attempts => 0)} => '22023',
	q{SELECT pg_background_enqueue('SELECT 1', max_attempts => -1)} => '22023',
	q{SELECT pg_background_enqueue('SELECT 1', max_attempts => 1001)} => '22023',
	q{SELECT pg_background_enqueue('SELECT 1', retry_delay => NULL)} => '22004',
	q{SELECT pg_background_enqueue('SELECT 1', retry_delay => '-1 s')} => '22023',
	q{SELECT pg_background_enqueue('SELECT 1', retry_delay => '2 days')} => '22023',
	q{SELECT pg_background_enqueue('SELECT 1', retry_delay => '1000000 years')} => '22023',
	q{SELECT pg_background_enqueue('SELECT 1', timeout => '0')} => '22023',
	q{SELECT pg_background_enqueue('SELECT 1', timeout => '30 days')} => '22023',
	q{SELECT pg_background_enqueue('SELECT 1', run_at => 'infinity')} => '22023',
	q{BEGIN READ ONLY; SELECT pg_background_enqueue('SELECT 1');} => '25006',
	q{SELECT * FROM pg_background_job(NULL)} => '22004',
	q{SELECT * FROM pg_background_job(-1)} => '42704',
	q{SELECT pg_background_wait_job(NULL)} => '22004',
	qq{SELECT pg_background_wait_job($one, -1)} => '22023',
	q{SELECT pg_background_cancel_job(NULL)} => '22004',
);
foreach my $sql (sort keys %bad)
{
	is(sqlstate_of($node, $sql), $bad{$sql}, "$sql: $bad{$sql}");
}
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM pg_background_durable_jobs WHERE sql = 'SELECT 1' AND state <> 'canceled'}),
	'0', 'no bad call enqueued anything');

is(sqlstate_of($node, q{BEGIN; SELECT pg_background_wait_job(pg_background_enqueue('SELECT 1'), 1000);}),
	'55000', 'waiting for a job enqueued by the transaction in progress');

# 9. PREPARE TRANSACTION.
is(sqlstate_of($node, q{BEGIN; SELECT pg_background_enqueue('SELECT 1'); PREPARE TRANSACTION 'p1';}),
	'0A000', 'a transaction that enqueued cannot be prepared');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'), '0',
	'nothing was prepared');

# 10. pg_dump dumps the jobs; a restore runs the pending ones.
my $pending = $node->safe_psql('postgres',
	q{SELECT pg_background_enqueue($$INSERT INTO t (k) VALUES ('restored')$$, now() + interval '3 s')});
my $dump_file = $node->basedir . '/durable.sql';
my ($dout, $derr) = run_command(
	[ 'pg_dump', '-h', $node->host, '-p', $node->port, '-d', 'postgres', '-f', $dump_file ]);
$dout = slurp_file($dump_file);
$node->safe_psql('postgres', "SELECT pg_background_cancel_job($pending)");
like($dout, qr/^COPY public\.pgbg_durable \(/m, 'pg_dump dumps the rows of the job table');
like($dout, qr/pgbg_durable_id_seq', \d+, true\)/m, 'and the position of its sequence');
unlike($dout, qr/CREATE TRIGGER/, 'but not its trigger (the extension makes it)');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
my ($rout, $rerr) = run_command(
	[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', $node->host, '-p', $node->port,
	  '-d', 'restored', '-f', $dump_file ]);
is($rerr, '', 'the dump restores without an error');
my $restored_done = 0;
my $restore_deadline = time + 60;
# Polls the restored database only: its runner is woken by the COPY's commit.
while (time < $restore_deadline)
{
	$restored_done = $node->safe_psql('restored', q{SELECT count(*) FROM t WHERE k = 'restored'});
	last if $restored_done eq '1';
	usleep(100_000);
}
is($restored_done, '1', 'the pending job runs in the restored database');
is($node->safe_psql('restored', "SELECT state, attempts FROM pg_background_job($pending)"),
	'succeeded|1', 'as the same job, under the same id');
is($node->safe_psql('postgres', q{SELECT count(*) FROM t WHERE k = 'restored'}),
	'0', 'the job canceled in the source never ran there');

# 10b. A job whose worker keeps being terminated is run again each time,
#      and fails with 08006 after the 10th interruption.
my $blocker = $node->background_psql('postgres', on_error_stop => 0);
$blocker->query_safe('SELECT pg_advisory_lock(4343)');
my $stubborn = $node->safe_psql('postgres',
	q{SELECT pg_background_enqueue('SELECT pg_advisory_xact_lock(4343)', max_attempts => 1)});
my $terminated = 0;
foreach my $round (1 .. 10)
{
	last unless poll_until($node, q{SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
		WHERE l.locktype = 'advisory' AND NOT l.granted AND a.backend_type = 'pg_background'}, '1', 60);
	$terminated += $node->safe_psql('postgres', q{SELECT count(pg_terminate_backend(a.pid))
		FROM pg_locks l JOIN pg_stat_activity a USING (pid)
		WHERE l.locktype = 'advisory' AND NOT l.granted AND a.backend_type = 'pg_background'});
	# The next round waits for the next attempt (or the end).
	poll_until($node, "SELECT attempts >= $round + 1 OR state = 'failed' FROM pg_background_job($stubborn)", 't', 60);
}
is($terminated, 10, 'the job was terminated 10 times, each time in a new attempt');
is(wait_job($node, $stubborn), 't', 'then it finished');
is(job_fields($node, $stubborn, 'state, attempts, sqlstate, message'),
	'failed|10|08006|the job was interrupted too often', 'it failed as interrupted too often');
$blocker->quit;

# 10c. A job whose role was dropped fails with 28000.
$node->safe_psql('postgres', q{CREATE ROLE regress_gone LOGIN; GRANT pgbackground_role TO regress_gone});
my $orphan = $node->safe_psql('postgres',
	q{SELECT pg_background_enqueue('SELECT 1', now() + interval '1 hour')},
	extra_params => [ '-U', 'regress_gone' ]);
$node->safe_psql('postgres', qq{DROP ROLE regress_gone;
UPDATE pgbg_durable SET run_at = now() WHERE id = $orphan});
# A new enqueue wakes the runner, which then finds the orphan due.
$node->safe_psql('postgres', q{SELECT pg_background_enqueue('SELECT 1')});
is(wait_job($node, $orphan), 't', "the job of a dropped role finishes");
is(job_fields($node, $orphan, 'state, attempts, sqlstate'), 'failed|0|28000',
	'it failed with 28000 without starting');

# 11. Restart: 100 jobs, one of them held on an advisory lock.
my $holder = $node->background_psql('postgres', on_error_stop => 0);
$holder->query_safe('SELECT pg_advisory_lock(4242)');
my $held = $node->safe_psql('postgres',
	q{SELECT pg_background_enqueue('SELECT pg_advisory_xact_lock(4242); INSERT INTO crash VALUES (0)')});
ok(poll_until($node, q{SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted},
	'1', 60), 'the held job waits for the lock');
$node->safe_psql('postgres', q{
SELECT count(pg_background_enqueue(format('INSERT INTO crash VALUES (%s); SELECT pg_sleep(0.02)', i)))
FROM generate_series(1, 100) i});
my $db2_job = $node->safe_psql('db2',
	q{SELECT pg_background_enqueue($$INSERT INTO t2 VALUES ('db2')$$, now() + interval '2 s')});
ok(poll_until($node, 'SELECT count(*) >= 10 FROM crash', 't', 60), 'some jobs ran');
$node->stop('immediate');
eval { $holder->quit; };
$node->start;
ok(poll_until($node, q{SELECT count(*) FROM pg_background_durable_jobs
	WHERE sql LIKE '%INSERT INTO crash%' AND state = 'succeeded'}, '101', 120),
	'after the restart every job succeeded');
is($node->safe_psql('postgres', 'SELECT count(*), count(DISTINCT i), min(i), max(i) FROM crash'),
	'101|101|0|100', 'each effect is there exactly once');
is(job_fields($node, $held, 'state, attempts'), 'succeeded|2', 'the job interrupted while running ran again');
my $db2_done = 0;
my $deadline = time + 120;
# Polls db2's table only: nothing wakes its runner but the server's start.
while (time < $deadline)
{
	$db2_done = $node->safe_psql('db2', q{SELECT count(*) FROM t2 WHERE k = 'db2'});
	last if $db2_done eq '1';
	usleep(100_000);
}
is($db2_done, '1', 'the job of db2 ran after the restart');
is($node->safe_psql('db2', "SELECT state FROM pg_background_job($db2_job)"),
	'succeeded', 'and succeeded');

# 12. Retention.
$node->safe_psql('postgres', q{ALTER SYSTEM SET pg_background.durable_keep_finished = 1;
SELECT pg_reload_conf()});
# The runner wakes when the oldest finished job is due for removal; a new
# job makes sure one runs (the setting is read at its next turn).
my $last = $node->safe_psql('postgres', q{SELECT pg_background_enqueue('SELECT 1')});
ok(poll_until($node, 'SELECT count(*) FROM pg_background_durable_jobs', '0', 60),
	'finished jobs are removed after durable_keep_finished');
is(sqlstate_of($node, "SELECT * FROM pg_background_job($last)"), '42704',
	'a removed job does not exist');

# 12b. A damaged file of databases is put aside, and a new enqueue lists
#      the database again.
my $dbs_file = $node->data_dir . '/pg_background.durable';
ok(-e $dbs_file, 'the file of databases exists');
$node->stop;
open(my $fh, '>', $dbs_file) or die "could not write $dbs_file: $!";
print $fh 'garbage that is not a file of databases';
close($fh);
$node->start;
ok(-e "$dbs_file.damaged", 'the damaged file was renamed');
like(slurp_file($node->logfile), qr/pg_background durable job file "pg_background.durable" is damaged/,
	'and the log says so');
my $relisted = $node->safe_psql('postgres', q{SELECT pg_background_enqueue('SELECT 1')});
is(wait_job($node, $relisted), 't', 'a job enqueued afterwards runs');
ok(-e $dbs_file, 'and the database is listed again');

# 12c. The enqueue writes its row directly: a table changed under it (a
#      superuser's NOT NULL column) is refused with 55000 and leaves no row;
#      once the column is gone (dropped: the table keeps a dropped column),
#      an enqueue works again and its job runs.
$node->safe_psql('postgres',
	'ALTER TABLE pgbg_durable ADD COLUMN extra int NOT NULL DEFAULT 0');
my $before_layout = $node->safe_psql('postgres', 'SELECT count(*) FROM pgbg_durable');
is(sqlstate_of($node, q{SELECT pg_background_enqueue('SELECT 1')}), '55000',
	'a table of another layout is refused');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pgbg_durable'), $before_layout,
	'and nothing was written');
$node->safe_psql('postgres', 'ALTER TABLE pgbg_durable DROP COLUMN extra');
my $after_layout = $node->safe_psql('postgres',
	q{SELECT pg_background_enqueue('SELECT $1::int', NULL, 1, '1 s', '1 min', 'after drop', 7)});
is(wait_job($node, $after_layout), 't', 'after the column is dropped, a job is enqueued and runs');
is(job_fields($node, $after_layout, q{state, label, command_tag}), 'succeeded|after drop|SELECT 1',
	'with its label and outcome');

# 13. Hot standby.
$node->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('durable_standby');
$standby->init_from_backup($node, 'base', has_streaming => 1);
$standby->start;
$node->wait_for_catchup($standby);
is(sqlstate_of($standby, q{SELECT pg_background_enqueue('SELECT 1')}),
	'25006', 'a hot standby refuses to enqueue');
$standby->stop;

my $log = slurp_file($node->logfile);
unlike($log, qr/TRAP|PANIC|was terminated by signal/, 'no assertion failure, PANIC or crash in the log');

$node->stop;
done_testing();
