# Durable jobs on a small warm pool, attacked (docs/durable.md): floods,
# cancels at each step of a pooled attempt, terminations and kills of the
# workers and of the runner, restarts, two roles and two databases sharing
# the pool, and bad arguments while the pool is busy.  Every job's effect
# is a row of fx (in its database), which records who ran it, where, and
# on which backend: a job's effect must exist exactly when it succeeded.
#
# Node: shared_preload_libraries = 'pg_background', pool_size = 2,
# pool_idle_timeout = 3600, durable_workers = 2, max_total_workers = 3,
# autovacuum off (no ANALYZE changes the catalogs behind a test's back);
# roles regress_alice and regress_bob, databases postgres and db2.  Jobs
# wait on advisory locks that a session of the test holds, or on a lock
# on pg_statistic; nothing waits with a sleep.
#
# 1. Flood: 40 jobs of regress_alice in one transaction and 20 in twenty:
#    all 60 succeed at their first attempt, each row once, each as
#    regress_alice in postgres; afterwards no attempt counts against the
#    limits (admission: 0 active), no worker is busy, at most pool_size
#    workers are parked, and no durable slot is held (a job enqueued then
#    runs at once).
# 2. Cancel at each step of a pooled attempt:
#    a. queued (run_at in the future): canceled, no row;
#    b. queued behind durable_workers (two attempts hold the two places,
#       waiting for a lock): canceled, never runs;
#    c. handed over to a parked worker P that has not started its SQL
#       (P waits for a lock on pg_statistic, which the test holds, while
#       it loads the attempt): cancel_job is true, the job is canceled
#       (57014) at its first attempt, no row, and it does not run again;
#    d. running (pg_sleep in the job, on a pooled worker): canceled, no
#       row, the worker exits;
#    e. finished: cancel_job is false, it stays succeeded, its row once.
#    f. A worker whose attempt changed its session (search_path, work_mem,
#       a temporary table, a prepared statement, an advisory lock, a held
#       cursor, SET ROLE) parks, and the next job on it sees a
#       fresh session of its role.
#    g. interrupted (its worker was terminated while the limits let no
#       attempt start again): cancel_job is true, the job is canceled
#       (57014) once that commits, and never runs again.
# 3. Terminations: a pooled worker running an attempt (pg_terminate_backend);
#    a parked worker with an attempt handed over that it never took (it
#    is stopped with SIGSTOP, the attempt handed to it, then terminated);
#    the runner while its attempts wait: each job succeeds, its row once.
# 4. Restarts, -m immediate then -m fast, with attempts waiting for a lock
#    on pooled workers and more jobs queued: after each, every job
#    succeeds and its row exists once.
# 5. Two roles, two databases, interleaved on the pool: each row says the
#    job ran as its role (current_user and session_user) in its database.
# 6. Bad arguments while jobs run: NULL id (22004), negative, zero and
#    huge ids, another role's job (42704), another database's id (42704),
#    a negative timeout_ms (22023), max_attempts, retry_delay and timeout
#    at and beyond their limits (22023 beyond, accepted at).
# 7. The server log shows no TRAP or PANIC.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgbgTest qw(run_query pool_node pool_session pool_job wait_parked poll_until set_guc
  psql_as enqueue_job parked_pid_of sqlstate_of wait_job job_fields waits_for_advisory_lock);

my $node = pool_node('durable_pool_hostile', max_worker_processes => 16,
	dbs => ['db2'], conf => [
		'pg_background.durable_workers = 2',
		'pg_background.max_total_workers = 3',
		'autovacuum = off', 'restart_after_crash = on' ]);
$node->safe_psql('postgres', q{
CREATE ROLE regress_carol NOLOGIN;
GRANT regress_carol TO regress_alice;
});
for my $db ('postgres', 'db2')
{
	$node->safe_psql($db, q{
CREATE TABLE fx (k text, n int, cu name, su name, db name, pid int);
GRANT ALL ON fx TO regress_alice, regress_bob, regress_carol;
CREATE SCHEMA evil;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
});
}

# The effect of a job: a row of fx.
sub effect
{
	my ($k, $n) = @_;
	$n //= 0;
	return "INSERT INTO fx VALUES ('$k', $n, current_user, session_user, current_database(), pg_backend_pid())";
}

# Wait until every job labeled $label (in $db) has finished; true if so.
sub wait_label
{
	my ($label, $db) = @_;
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	while (time < $deadline)
	{
		return 1 if $node->safe_psql($db // 'postgres', qq{
			SELECT count(*) FILTER (WHERE state IN ('queued', 'running'))
			FROM pg_background_durable_jobs WHERE label = '$label'}) eq '0';
		select(undef, undef, undef, 0.1);
	}
	return 0;
}

# state|attempts|sqlstate of job $id in $db, as the superuser.
sub job_row
{
	my ($id, $db) = @_;
	return job_fields($node, $id, q{state, attempts, coalesce(sqlstate, '')}, $db);
}

# How many rows fx has for $k (and $n, if given) in $db.
sub rows_of
{
	my ($k, $db, $n) = @_;
	return $node->safe_psql($db // 'postgres',
		"SELECT count(*) FROM fx WHERE k = '$k'" . (defined $n ? " AND n = $n" : ''));
}

# The server is back to its baseline: no attempt counts against the
# limits, no pg_background worker is busy, at most pool_size are parked.
sub at_baseline
{
	my ($what) = @_;
	ok(poll_until($node, q{SELECT active FROM pg_background_admission()}, '0', 60),
		"$what: no attempt counts against the limits");
	ok(poll_until($node, q{SELECT count(*) FROM pg_stat_activity
		WHERE backend_type = 'pg_background' AND state IS DISTINCT FROM 'idle'}, '0', 60),
		"$what: no pg_background worker is busy");
	cmp_ok($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity
		WHERE backend_type = 'pg_background'}), '<=', 2,
		"$what: at most pool_size workers are left (parked)");
	is($node->safe_psql('postgres', q{SELECT workers_active FROM pg_background_stats_v2()}),
		'0', "$what: pg_background_stats_v2 counts no active worker");
}

my $A = pool_session($node, 'regress_alice');
my ($out, $err, $id, @ids);

# 1. Flood.
{
	my $sql = "BEGIN;\n";
	$sql .= "SELECT pg_background_enqueue(\$q\$" . effect('flood', $_)
	  . "\$q\$, NULL, 1, '1 s', NULL, 'flood');\n" for 1 .. 40;
	$sql .= "COMMIT;\n";
	$sql .= "SELECT pg_background_enqueue(\$q\$" . effect('flood', $_)
	  . "\$q\$, NULL, 1, '1 s', NULL, 'flood');\n" for 41 .. 60;
	psql_as($node, $sql, 'regress_alice');
}
ok(wait_label('flood'), '(1) the 60 jobs of the flood finish');
is($node->safe_psql('postgres', q{SELECT state || ' ' || attempts || ' ' || count(*)
	FROM pg_background_durable_jobs WHERE label = 'flood' GROUP BY state, attempts}),
	'succeeded 1 60', '(1) all succeeded at their first attempt');
is($node->safe_psql('postgres', q{SELECT count(*) || ' ' || count(DISTINCT n) || ' '
	|| min(n) || ' ' || max(n) FROM fx WHERE k = 'flood'}),
	'60 60 1 60', '(1) each job\'s row exists once');
is($node->safe_psql('postgres', q{SELECT count(*) FROM fx WHERE k = 'flood'
	AND (cu, su, db) IS DISTINCT FROM ('regress_alice', 'regress_alice', 'postgres')}),
	'0', '(1) every one ran as regress_alice in postgres');
at_baseline('(1) after the flood');

# Make the pool hold exactly one worker: a fresh one of regress_alice in
# postgres, parked after an ordinary job (it has never loaded an attempt).
# Returns its pid.
sub fresh_pool
{
	my ($what) = @_;
	$node->safe_psql('postgres', q{SELECT pg_terminate_backend(pid)
		FROM pg_stat_activity WHERE backend_type = 'pg_background' AND state = 'idle'});
	ok(poll_until($node, q{SELECT count(*) FROM pg_stat_activity
		WHERE backend_type = 'pg_background'}, '0', 60), "$what: the pool is empty");
	my ($p, $e) = pool_job($A, 'SELECT pg_backend_pid()', 'p int');
	is($e, '', "$what: an ordinary job of regress_alice ran");
	is(parked_pid_of($node, 'regress_alice', 'postgres'), $p, "$what: its worker parked");
	return $p;
}

# Poll $sql in background session $s until it returns $expected; true if
# it did within the default timeout.
sub poll_in
{
	my ($s, $sql, $expected) = @_;
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	while (time < $deadline)
	{
		my ($o) = run_query($s, $sql);
		return 1 if $o eq $expected;
		select(undef, undef, undef, 0.1);
	}
	return 0;
}

my $locker = pool_session($node);

# 2a. Cancel of a queued job (not yet due).
($out, $err) = run_query($A, q{SELECT pg_background_enqueue($q$} . effect('c2a')
	. q{$q$, now() + interval '1 hour', 1, '1 s', NULL, 'c2a')});
is($err, '', '(2a) enqueued for later');
$id = $out;
is(psql_as($node, "SELECT pg_background_cancel_job($id)", 'regress_alice'), 't', '(2a) cancel_job: true');
is(job_row($id), 'canceled|0|57014', '(2a) canceled before any attempt');

# 2b. Cancel of a job queued behind durable_workers.
$locker->query_safe('SELECT pg_advisory_lock(201)');
my @b = map { enqueue_job($node, 'SELECT pg_advisory_xact_lock(201); ' . effect('c2b', $_), 'c2b', 'regress_alice') } 1 .. 2;
ok(poll_until($node, q{SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
	AND NOT granted AND objid = 201}, '2', 60), '(2b) two attempts wait for the lock');
$id = enqueue_job($node, effect('c2b', 3), 'c2b', 'regress_alice');
is(job_row($id), 'queued|0|', '(2b) a third job waits for a place');
is(psql_as($node, "SELECT pg_background_cancel_job($id)", 'regress_alice'), 't', '(2b) cancel_job: true');
$locker->query_safe('SELECT pg_advisory_unlock(201)');
ok(wait_label('c2b'), '(2b) the jobs finish');
is(join(' ', map { job_row($_) } @b, $id), 'succeeded|1| succeeded|1| canceled|0|57014',
	'(2b) the two ran, the third is canceled');
is($node->safe_psql('postgres', q{SELECT string_agg(n::text, ',' ORDER BY n) FROM fx WHERE k = 'c2b'}),
	'1,2', '(2b) the canceled one never ran');

# 2c. Cancel while a parked worker loads the attempt handed to it: it
# waits for pg_statistic (its first attempt plans its first query on the
# table), which the locker holds.  Only the locker's session runs queries
# until it commits (any other would wait too).
my $P = fresh_pool('(2c)');
$locker->query_safe('BEGIN');
$locker->query_safe('LOCK TABLE pg_statistic IN ACCESS EXCLUSIVE MODE');
($out, $err) = run_query($A, q{SELECT pg_background_enqueue($q$} . effect('c2c')
	. q{$q$, NULL, 1, '1 s', NULL, 'c2c')});
is($err, '', '(2c) enqueued');
$id = $out;
ok(poll_in($locker, qq{SELECT count(*) FROM pg_locks WHERE relation = 'pg_statistic'::regclass
	AND NOT granted AND pid = $P}, '1'), '(2c) the parked worker waits for pg_statistic in its load');
($out, $err) = run_query($locker, "SELECT pg_background_cancel_job($id)");
is($out, 't', '(2c) cancel_job: true');
$locker->query_safe('COMMIT');
is(wait_job($node, $id, 'regress_alice'), 't', '(2c) the job finishes');
is(job_row($id), 'canceled|1|57014', '(2c) canceled (57014) at its first attempt');
is(rows_of('c2c'), '0', '(2c) it left no row');
ok(poll_until($node, "SELECT count(*) FROM pg_stat_activity WHERE pid = $P", '0', 60),
	'(2c) the worker of the canceled attempt exits');

# 2d. Cancel of an attempt running pg_sleep on a pooled worker.
$P = fresh_pool('(2d)');
$id = enqueue_job($node, 'SELECT pg_sleep(3600); ' . effect('c2d'), 'c2d', 'regress_alice');
ok(poll_until($node, "SELECT wait_event FROM pg_stat_activity WHERE pid = $P", 'PgSleep', 60),
	'(2d) the attempt sleeps on the pooled worker');
is(psql_as($node, "SELECT pg_background_cancel_job($id)", 'regress_alice'), 't', '(2d) cancel_job: true');
is(wait_job($node, $id, 'regress_alice'), 't', '(2d) the job finishes');
is(job_row($id), 'canceled|1|57014', '(2d) canceled (57014)');
is(rows_of('c2d'), '0', '(2d) no row');
ok(poll_until($node, "SELECT count(*) FROM pg_stat_activity WHERE pid = $P", '0', 60),
	'(2d) the worker exits');

# 2e. Cancel of a finished job.
$id = enqueue_job($node, effect('c2e'), 'c2e', 'regress_alice');
is(wait_job($node, $id, 'regress_alice'), 't', '(2e) the job finishes');
is(psql_as($node, "SELECT pg_background_cancel_job($id)", 'regress_alice'), 'f', '(2e) cancel_job: false');
is(job_row($id), 'succeeded|1|', '(2e) still succeeded');
is(rows_of('c2e'), '1', '(2e) its row once');

# 2f. What an attempt leaves in its session does not reach the next job.
$node->safe_psql('postgres', q{CREATE TABLE leakfx (pid int, s text);
	GRANT ALL ON leakfx TO regress_alice, regress_carol});
my $probe = q{INSERT INTO leakfx SELECT pg_backend_pid(), concat_ws(' | ', current_user,
	session_user, current_setting('search_path'), current_setting('work_mem'),
	(SELECT count(*) FROM pg_prepared_statements), (SELECT count(*) FROM pg_cursors),
	to_regclass('pg_temp.leak_tt') IS NULL,
	(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()),
	(SELECT count(*) FROM pg_listening_channels()))};
$P = fresh_pool('(2f)');
$id = enqueue_job($node, $probe, 'p1', 'regress_alice');
is(wait_job($node, $id, 'regress_alice'), 't', '(2f) the first probe ran');
is(parked_pid_of($node, 'regress_alice', 'postgres'), $P, '(2f) on P, which parks again');
$id = enqueue_job($node, q{SET search_path = evil, public; SET work_mem = '1234kB';
	CREATE TEMP TABLE leak_tt (a int); PREPARE leak_ps AS SELECT 1;
	SELECT pg_advisory_lock(4243);
	DECLARE leak_c CURSOR WITH HOLD FOR SELECT 1; SET ROLE regress_carol; } . effect('c2f'), 'c2f', 'regress_alice');
is(wait_job($node, $id, 'regress_alice'), 't', '(2f) the messy job ran');
is(job_row($id), 'succeeded|1|', '(2f) it succeeded');
is($node->safe_psql('postgres', q{SELECT cu || ' ' || su || ' ' || pid FROM fx WHERE k = 'c2f'}),
	"regress_carol regress_alice $P", '(2f) on P, as regress_carol after SET ROLE');
is(parked_pid_of($node, 'regress_alice', 'postgres'), $P, '(2f) P parks again');
$id = enqueue_job($node, $probe, 'p2', 'regress_alice');
is(wait_job($node, $id, 'regress_alice'), 't', '(2f) the second probe ran');
is($node->safe_psql('postgres', q{SELECT count(DISTINCT pid) || ' ' || count(DISTINCT s) || ' ' || min(s) FROM leakfx}),
	"1 1 regress_alice | regress_alice | \"\$user\", public | 4MB | 0 | 0 | t | 0 | 0",
	'(2f) the second probe, on P too, sees a fresh session of regress_alice');

# 2g. Cancel of an interrupted job: its worker was terminated while the
# limits let no attempt start.
$locker->query_safe('SELECT pg_advisory_lock(207)');
$id = enqueue_job($node, 'SELECT pg_advisory_xact_lock(207); ' . effect('c2g'), 'c2g', 'regress_alice');
ok(poll_until($node, q{SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
	AND NOT granted AND objid = 207}, '1', 60), '(2g) the attempt waits for the lock');
my $W = $node->safe_psql('postgres', q{SELECT pid FROM pg_locks WHERE locktype = 'advisory'
	AND NOT granted AND objid = 207});
set_guc($node, 'pg_background.max_total_workers', '0', '0');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($W)");
ok(poll_until($node, "SELECT count(*) FROM pg_stat_activity WHERE pid = $W", '0', 60),
	'(2g) its worker is gone');
is(job_row($id), 'running|1|', '(2g) the job is interrupted (running, no worker)');
is(psql_as($node, "SELECT pg_background_cancel_job($id)", 'regress_alice'), 't', '(2g) cancel_job: true');
is(job_row($id), 'canceled|1|57014', '(2g) canceled (57014)');
$locker->query_safe('SELECT pg_advisory_unlock(207)');
set_guc($node, 'pg_background.max_total_workers', '3', '3');
my $m = enqueue_job($node, effect('c2g_marker'), 'c2g_marker', 'regress_alice');
is(wait_job($node, $m, 'regress_alice'), 't',
	'(2g) a later job runs');
is(job_row($id), 'canceled|1|57014', '(2g) the canceled job stays canceled');
is(rows_of('c2g'), '0', '(2g) and never ran');
at_baseline('(2) after the cancels');

# 3a. A pooled worker running an attempt is terminated.
$P = fresh_pool('(3a)');
$locker->query_safe('SELECT pg_advisory_lock(301)');
$id = enqueue_job($node, 'SELECT pg_advisory_xact_lock(301); ' . effect('k3a'), 'k3a', 'regress_alice');
ok(waits_for_advisory_lock($node, $P), '(3a) the attempt waits for the lock on the pooled worker');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($P)");
ok(poll_until($node, "SELECT count(*) FROM pg_stat_activity WHERE pid = $P", '0', 60),
	'(3a) the worker is gone');
$locker->query_safe('SELECT pg_advisory_unlock(301)');
is(wait_job($node, $id, 'regress_alice'), 't', '(3a) the job finishes');
is(job_row($id), 'succeeded|2|', '(3a) it succeeded at its second attempt');
is(rows_of('k3a'), '1', '(3a) its row once');

# 3b. A parked worker is stopped (SIGSTOP), an attempt handed to it, and
# it is terminated before it could take it.
$P = fresh_pool('(3b)');
kill 'STOP', $P;
$id = enqueue_job($node, effect('k3b'), 'k3b', 'regress_alice');
ok(poll_until($node, q{SELECT pid FROM pg_background_jobs WHERE label = 'k3b'}, $P, 60),
	'(3b) the attempt was handed to the stopped worker');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($P)");
kill 'CONT', $P;
ok(poll_until($node, "SELECT count(*) FROM pg_stat_activity WHERE pid = $P", '0', 60),
	'(3b) the worker is gone');
is(wait_job($node, $id, 'regress_alice'), 't', '(3b) the job finishes');
is(job_row($id), 'succeeded|2|', '(3b) it succeeded at its second attempt');
is(rows_of('k3b'), '1', '(3b) its row once');

# 3c. The runner is terminated while its attempts wait and a job is queued.
$locker->query_safe('SELECT pg_advisory_lock(303)');
@ids = map { enqueue_job($node, 'SELECT pg_advisory_xact_lock(303); ' . effect('k3c', $_), 'k3c', 'regress_alice') } 1 .. 2;
ok(poll_until($node, q{SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
	AND NOT granted AND objid = 303}, '2', 60), '(3c) two attempts wait for the lock');
push @ids, enqueue_job($node, effect('k3c', 3), 'k3c', 'regress_alice');
my $runner_sql = q{SELECT pid FROM pg_stat_activity
	WHERE backend_type = 'pg_background durable runner' AND datname = 'postgres'};
my $R = $node->safe_psql('postgres', $runner_sql);
$node->safe_psql('postgres', "SELECT pg_terminate_backend($R)");
ok(poll_until($node, "SELECT count(*) FROM pg_stat_activity WHERE pid = $R", '0', 60),
	'(3c) the runner is gone');
ok(poll_until($node, "SELECT count(*) FROM ($runner_sql) r WHERE pid <> $R", '1', 60),
	'(3c) another runner takes over at once (while the attempts still wait)');
$locker->query_safe('SELECT pg_advisory_unlock(303)');
ok(wait_label('k3c'), '(3c) the jobs finish');
is(join(' ', map { job_row($_) } @ids), 'succeeded|1| succeeded|1| succeeded|1|',
	'(3c) each succeeded at its first attempt');
is($node->safe_psql('postgres', q{SELECT string_agg(n::text, ',' ORDER BY n) FROM fx WHERE k = 'k3c'}),
	'1,2,3', '(3c) each row once');
at_baseline('(3) after the terminations');

# 4. Restarts with attempts on pooled workers and jobs queued.
for my $mode ('immediate', 'fast', 'kill')
{
	my $k = "r4_$mode";
	$P = fresh_pool("(4 $mode)");
	$locker->query_safe('SELECT pg_advisory_lock(401)');
	@ids = map { enqueue_job($node, 'SELECT pg_advisory_xact_lock(401); ' . effect($k, $_), $k, 'regress_alice') } 1 .. 2;
	ok(poll_until($node, q{SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
		AND NOT granted AND objid = 401}, '2', 60), "(4 $mode) two attempts wait for the lock");
	ok(poll_until($node, qq{SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
		AND NOT granted AND objid = 401 AND pid = $P}, '1', 60), "(4 $mode) one on the pooled worker");
	push @ids, map { enqueue_job($node, effect($k, $_), $k, 'regress_alice') } 3 .. 6;
	if ($mode eq 'kill')
	{
		kill 'KILL', $P;
		ok($node->poll_query_until('postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $P", '0'),
			"(4 $mode) the server restarted after the crash");
	}
	else
	{
		$node->stop($mode);
		$node->start;
	}
	eval { $A->quit; };
	eval { $locker->quit; };
	$A = pool_session($node, 'regress_alice');
	$locker = pool_session($node);
	ok(wait_label($k), "(4 $mode) the jobs finish after the restart");
	is($node->safe_psql('postgres', "SELECT string_agg(state, ',' ORDER BY id) FROM pg_background_durable_jobs WHERE label = '$k'"),
		join(',', ('succeeded') x 6), "(4 $mode) all succeeded");
	is($node->safe_psql('postgres', "SELECT string_agg(n::text, ',' ORDER BY n) FROM fx WHERE k = '$k'"),
		'1,2,3,4,5,6', "(4 $mode) each row once");
	is($node->safe_psql('postgres', "SELECT string_agg(attempts::text, ',' ORDER BY id) FROM pg_background_durable_jobs WHERE label = '$k'"),
		'2,2,1,1,1,1', "(4 $mode) the two interrupted ran twice, the others once")
	  if $mode ne 'fast';
}

# 5. Two roles, two databases, interleaved on the pool.
for my $i (1 .. 6)
{
	for my $pair ([ 'regress_alice', 'postgres' ], [ 'regress_bob', 'db2' ],
		[ 'regress_bob', 'postgres' ], [ 'regress_alice', 'db2' ])
	{
		my ($role, $db) = @$pair;
		enqueue_job($node, effect("m5_$role", $i), 'm5', $role, $db);
	}
}
for my $db ('postgres', 'db2')
{
	ok(wait_label('m5', $db), "(5) the jobs of $db finish");
	is($node->safe_psql($db, q{SELECT string_agg(DISTINCT state, ',') || ' ' || count(*)
		FROM pg_background_durable_jobs WHERE label = 'm5'}), 'succeeded 12',
		"(5) the 12 jobs of $db succeeded");
	is($node->safe_psql($db, q{SELECT count(*) || ' ' || count(DISTINCT (k, n)) FROM fx
		WHERE k LIKE 'm5_%'}), '12 12', "(5) each row of $db once");
	is($node->safe_psql($db, qq{SELECT count(*) FROM fx WHERE k LIKE 'm5_%'
		AND (cu::text, su::text, db::text) IS DISTINCT FROM (substr(k, 4), substr(k, 4), '$db')}),
		'0', "(5) every job of $db ran as its role, in $db");
}
at_baseline('(5) after the mix');

# 6. Bad arguments while jobs run.
$locker->query_safe('SELECT pg_advisory_lock(601)');
my $busy = enqueue_job($node, 'SELECT pg_advisory_xact_lock(601); ' . effect('b6'), 'b6', 'regress_alice');
my $bobs = enqueue_job($node, 'SELECT pg_advisory_xact_lock(601); ' . effect('b6bob'), 'b6', 'regress_bob');
ok(poll_until($node, q{SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
	AND NOT granted AND objid = 601}, '2', 60), '(6) two attempts wait for the lock');
my $db2max = $node->safe_psql('db2', 'SELECT max(id) FROM pg_background_durable_jobs');
cmp_ok($busy, '>', $db2max, '(6) the busy job\'s id is unknown in db2');
for my $f ('pg_background_job(NULL)', 'pg_background_wait_job(NULL, 0)',
	'pg_background_cancel_job(NULL)')
{
	is(sqlstate_of($node, "SELECT $f", 'regress_alice'), '22004', "(6) $f: 22004");
}
for my $bad ('-1', '0', '9223372036854775807', '(-9223372036854775807 - 1)', $bobs)
{
	for my $f ('pg_background_job(%s)', 'pg_background_wait_job(%s, 0)',
		'pg_background_cancel_job(%s)')
	{
		my $call = sprintf($f, $bad);
		is(sqlstate_of($node, "SELECT $call", 'regress_alice'), '42704', "(6) $call as regress_alice: 42704");
	}
}
is(sqlstate_of($node, "SELECT pg_background_cancel_job($busy)", 'regress_alice', 'db2'), '42704',
	'(6) cancel_job of a job of postgres, from db2: 42704');
is(sqlstate_of($node, "SELECT pg_background_wait_job($busy, -1)", 'regress_alice'), '22023',
	'(6) wait_job with a negative timeout_ms: 22023');
is(psql_as($node, "SELECT pg_background_wait_job($busy, 0)", 'regress_alice'), 'f',
	'(6) wait_job with timeout_ms 0 on a running job: false');
my %enq = (
	"NULL, NULL, 1, '1 s', NULL, 'x'" => '22004',
	"'SELECT 1', NULL, NULL, '1 s', NULL, 'x'" => '22004',
	"'SELECT 1', NULL, 1, NULL, NULL, 'x'" => '22004',
	"'SELECT 1', NULL, 0, '1 s', NULL, 'x'" => '22023',
	"'SELECT 1', NULL, 1001, '1 s', NULL, 'x'" => '22023',
	"'SELECT 1', NULL, -2147483648, '1 s', NULL, 'x'" => '22023',
	"'SELECT 1', NULL, 1, '-1 ms', NULL, 'x'" => '22023',
	"'SELECT 1', NULL, 1, '1 day 1 ms', NULL, 'x'" => '22023',
	"'SELECT 1', NULL, 1, '1 mon', NULL, 'x'" => '22023',
	"'SELECT 1', NULL, 1, '1 s', '0', 'x'" => '22023',
	"'SELECT 1', NULL, 1, '1 s', '0.5 ms', 'x'" => '22023',
	"'SELECT 1', NULL, 1, '1 s', '-1 s', 'x'" => '22023',
	"'SELECT 1', NULL, 1, '1 s', '2147483648 ms', 'x'" => '22023',
	"'SELECT 1', 'infinity', 1, '1 s', NULL, 'x'" => '22023',
	"'SELECT 1', '-infinity', 1, '1 s', NULL, 'x'" => '22023');
for my $args (sort keys %enq)
{
	is(sqlstate_of($node, "SELECT pg_background_enqueue($args)", 'regress_alice'), $enq{$args},
		"(6) enqueue($args): $enq{$args}");
}
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_background_durable_jobs WHERE label = 'x'}),
	'0', '(6) none of them was recorded');
# At the limits: accepted, and they run as they say.
my $t1 = psql_as($node, q{SELECT pg_background_enqueue($q$SELECT pg_sleep(3600)$q$, NULL, 1, '0', '1 ms', 'lim')}, 'regress_alice');
my $tmax = psql_as($node, q{SELECT pg_background_enqueue($q$} . effect('lim') . q{$q$, NULL, 1000, '1 day', '2147483647 ms', 'lim')}, 'regress_alice');
my $retry = psql_as($node, q{SELECT pg_background_enqueue($q$SELECT 1/0$q$, NULL, 1000, '1 day', NULL, 'lim')}, 'regress_alice');
$locker->query_safe('SELECT pg_advisory_unlock(601)');
is(wait_job($node, $t1, 'regress_alice'), 't', '(6) the 1 ms job finishes');
is(job_row($t1), 'failed|1|57014', '(6) it reached its 1 ms timeout (57014)');
is(wait_job($node, $tmax, 'regress_alice'), 't', '(6) the job with the longest timeout finishes');
is(job_row($tmax), 'succeeded|1|', '(6) it succeeded');
poll_until($node, "SELECT attempts FROM pg_background_job($retry)", '1', 60);
is($node->safe_psql('postgres', "SELECT concat_ws(' ', state, attempts, sqlstate, run_at > now() + interval '23 hours') FROM pg_background_job($retry)"),
	'queued 1 22012 t', '(6) the failing job waits a day for its retry');
is(psql_as($node, "SELECT pg_background_cancel_job($retry)", 'regress_alice'), 't', '(6) cancel_job of it: true');
is(job_row($retry), 'canceled|1|57014', '(6) it is canceled');
ok(wait_label('b6'), '(6) the busy jobs finish');
is($node->safe_psql('postgres', q{SELECT string_agg(k, ',' ORDER BY k) FROM fx WHERE k IN ('b6', 'b6bob', 'lim')}),
	'b6,b6bob,lim', '(6) their rows once each');
at_baseline('(6) at the end');

# 7. No crash but the one of (4 kill).
my $log = slurp_file($node->logfile);
unlike($log, qr/TRAP:|PANIC:/, '(7) no assertion failure or PANIC in the log');

$node->stop;
done_testing();
