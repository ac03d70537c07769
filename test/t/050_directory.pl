# The shared job directory and admission control (preload mode), on a node
# with shared_preload_libraries = 'pg_background' and
# max_worker_processes = 8 (one slot is the dispatcher's, one the logical
# replication launcher's: six for jobs).
#
# 1. 500 detached inserts from 50 short sessions running at the same time
#    (each: 10 x launch + detach, then exit): no session sees an error,
#    exactly 500 distinct rows land, every job of the 500 ends 'stopped' in
#    pg_background_jobs, and the queue was used (some handle has a negative
#    PID): there are more launchers than worker slots.
# 2. pg_background.max_workers_per_role = 2 (ALTER SYSTEM + reload): 100
#    detached jobs of one login role (pg_sleep(0.05) then INSERT) launched
#    from 5 sessions of the role at once; a sampler session counts the
#    role's workers in pg_stat_activity in a loop the whole time: the
#    maximum seen is exactly 2 (never above, and reached), all 100 rows
#    land, every job ends 'stopped', and some were queued.
# 3. Another session of the same role reads the outcome of a job whose
#    launcher has exited: session A submits (submit_v2) a job that waits on
#    an advisory lock the test holds, prints its handle and exits; session
#    B sees it in pg_background_jobs ('running'), waits for it with
#    pg_background_wait_v2 (already waiting when the lock is released) and
#    reads pg_background_outcome: stopped, INSERT 0 1, 1 row.  A detached
#    (launch_v2 + detach_v2) job that fails: its outcome and its row in
#    pg_background_jobs show 22012 "division by zero" from another session.
# 4. A session of another role (no member of the owner, not a superuser)
#    sees nothing: pg_background_jobs and pg_background_list_v2 show no
#    job, pg_background_outcome, wait_v2, wait_v2_timeout, cancel_v2 and
#    result_v2 on the owner's handles (of a running and of a finished job)
#    raise 42704, and the running job is undisturbed.  A member of
#    the owner role (GRANT owner TO member) sees the job and its outcome.
# 5. From another session of the owner role: pg_background_result_v2 and
#    pg_background_detach_v2 raise 55000 ("belongs to another session"),
#    for a job whose launcher is connected and for one whose launcher has
#    exited; the launcher still reads its job's rows.  cancel_v2 of a
#    running job from another session of the role: canceled (57014), the
#    worker gone when it returns, and the launcher's result_v2 raises 57014.
# 6. Queued jobs, with pg_background.max_total_workers = 1 and one job blocked on
#    an advisory lock the test holds: a new job is queued (negative PID,
#    state 'queued' in pg_background_jobs of the launching session and of
#    another one, and in pg_background_outcome; wait_v2_timeout(0) is
#    false; pg_background_admission().queued counts it).
#    pg_background_cancel_v2 takes a queued job out of the queue (from the
#    launching session, from another session, after its launcher exited,
#    and while its launcher waits for it in result_v2): state 'canceled',
#    SQLSTATE 57014, a wait on it ends at once, result_v2 raises 57014 (also
#    in a launcher already waiting in result_v2), and it never runs (its
#    INSERT is absent
#    once everything has finished).  A queued job whose launcher exits
#    without detaching still runs.  With pg_background.max_queued = 2 and
#    two jobs queued, a third launch (v2 or v1) raises 53000 and queues
#    nothing.  pg_background_result_v2 on a queued job waits (the session is
#    seen waiting while the job is still queued) until the job has run,
#    then returns its rows; the handle keeps its negative PID after the job
#    ran; queued jobs start in launch order.
# 7. The server log shows no process terminated by a signal, no TRAP, no
#    PANIC, no crash and restart.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgbgTest;

my $node = PostgreSQL::Test::Cluster->new('directory');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_background'
max_worker_processes = 8
log_min_messages = log
# Part 1 queues up to ~490 jobs of one role at once on a slow machine; the
# per-role share of the queue (250 by default, tested in 063) is not what
# this test is about.
pg_background.max_queued_per_role = -1
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_background;
CREATE ROLE regress_limited LOGIN;
CREATE ROLE regress_alice LOGIN;
CREATE ROLE regress_bob LOGIN;
CREATE ROLE regress_member LOGIN;
GRANT regress_alice TO regress_member;
SELECT grant_pg_background_privileges(r, false)
  FROM unnest(ARRAY['regress_limited', 'regress_alice', 'regress_bob',
                    'regress_member']) r;
CREATE TABLE t (i int);
CREATE TABLE t2 (i int);
GRANT INSERT, SELECT ON t2 TO regress_limited;
CREATE TABLE t3 (what text);
GRANT INSERT, SELECT ON t3 TO PUBLIC;
CREATE TABLE t6 (what text);
});

my $workers_sql =
  q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_background'};

# A psql process (as $user, or the superuser if undef), started now and
# running on its own: each command a separate -c (so a separate
# transaction), stopping at the first error.
sub start_psql
{
	my ($user, @commands) = @_;
	my ($out, $err) = ('', '');
	my @cmd = (
		$node->installed_command('psql'), '-XAtq', '-v', 'ON_ERROR_STOP=1',
		'-d', $node->connstr('postgres'));
	push @cmd, '-U', $user if defined $user;
	push @cmd, '-c', $_ for @commands;
	my $h = IPC::Run::start(\@cmd, '>', \$out, '2>', \$err,
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	return { h => $h, out => \$out, err => \$err };
}

# Wait for the processes of start_psql; returns how many failed (non-zero
# exit or anything on stderr), with a diag for each.
sub finish_psqls
{
	my ($what, @runs) = @_;
	my $failures = 0;
	for my $r (@runs)
	{
		$r->{h}->finish;
		if ($r->{h}->result != 0 || ${ $r->{err} } ne '')
		{
			$failures++;
			diag("$what failed (exit " . $r->{h}->result . "): ${ $r->{err} }");
		}
	}
	return $failures;
}

# A background psql session as a given role that goes on after errors.
sub session
{
	my ($user) = @_;
	my $s = $node->background_psql(
		'postgres',
		on_error_stop => 0,
		extra_params => [ '-U', $user, '-v', 'VERBOSITY=verbose' ]);
	$s->set_query_timer_restart;
	return $s;
}

# Run $sql in $s: "SQLSTATE message" of the first error, or "ok:<output>".
sub try
{
	my ($s, $sql) = @_;
	my ($out, $err) = run_query($s, $sql);
	return "$1 $2" if $err =~ /ERROR:  ([0-9A-Z]{5}): (.*)/;
	return "ok:$out";
}

# Nothing of the previous part still runs or waits.
sub all_settled
{
	my ($what) = @_;
	ok($node->poll_query_until('postgres', $workers_sql, '0'),
		"$what: no pg_background worker is left");
	ok( $node->poll_query_until(
			'postgres',
			'SELECT active, queued FROM pg_background_admission()', '0|0'),
		"$what: nothing active or queued in the directory");
}

# The n jobs of a part all landed: $table holds 1..n, each once, nothing
# runs any more, and every job that $job_filter selects ended 'stopped'.
sub all_landed
{
	my ($part, $table, $n, $job_filter, $whose) = @_;
	ok($node->poll_query_until('postgres', "SELECT count(*) FROM $table", $n),
		"$part the $n jobs inserted $n rows");
	all_settled($part);
	is( $node->safe_psql(
			'postgres',
			"SELECT count(*), count(DISTINCT i), min(i), max(i) FROM $table"),
		"$n|$n|1|$n",
		"$part each of the $n values inserted exactly once");
	is( $node->safe_psql(
			'postgres', qq{
SELECT string_agg(state || ':' || n, ',' ORDER BY state)
FROM (SELECT state, count(*) n FROM pg_background_jobs
      WHERE $job_filter GROUP BY state) s}),
		"stopped:$n",
		"$part pg_background_jobs: all $n jobs$whose stopped, none in error");
}

# Start reading the handle held in psql variables :<var>_pid and
# :<var>_cookie with result_v2 (columns $cols) in session $sess, and wait
# until that session is seen waiting in it.
sub start_reading
{
	my ($sess, $var, $cols, $what) = @_;
	my ($pid, $cookie) = split /\|/,
	  (run_query($sess, "SELECT :${var}_pid, :${var}_cookie"))[0];
	$sess->query_until(qr/reading/, qq{\\echo reading
SELECT * FROM pg_background_result_v2(:${var}_pid, :${var}_cookie) AS ($cols);
});
	ok( $node->poll_query_until(
			'postgres', q{
SELECT count(*) FROM pg_stat_activity
WHERE backend_type = 'client backend' AND state = 'active'
  AND query LIKE '%pg_background_result_v2(%'
  AND pid <> pg_backend_pid()}, '1'),
		$what);
	return ($pid, $cookie);
}

my $start_time = time;

# ---------------------------------------------------------------------------
# 1. 500 detached inserts from 50 concurrent short sessions.
# ---------------------------------------------------------------------------
{
	my @runs;
	for my $s (0 .. 49)
	{
		my @cmds = map {
			my $n = $s * 10 + $_;
			"SELECT pg_background_detach(pg_background_launch('INSERT INTO t VALUES ($n)'))"
		} (1 .. 10);
		push @runs, start_psql(undef, @cmds);
	}
	is(finish_psqls('launcher session', @runs),
		0, '(1) 50 concurrent sessions launched and detached 10 jobs each without error');
}
all_landed('(1)', 't', 500, q{sql_preview LIKE 'INSERT INTO t VALUES %'}, '');
my $queued1 = $node->safe_psql('postgres', q{
SELECT count(*) FROM pg_background_jobs
WHERE sql_preview LIKE 'INSERT INTO t VALUES %' AND pid < 0});
note("(1) $queued1 of the 500 jobs were queued");
cmp_ok($queued1, '>', 0,
	'(1) the queue was used (some handles carry a negative PID)');

# ---------------------------------------------------------------------------
# 2. Per-role limit under load.
# ---------------------------------------------------------------------------
set_guc($node, 'pg_background.max_workers_per_role', 2, '2');
is( $node->safe_psql(
		'postgres', 'SELECT max_workers_per_role FROM pg_background_admission()'),
	'2', '(2) pg_background_admission shows the per-role limit');
$node->safe_psql('postgres', q{
CREATE FUNCTION sample_role_workers(role name, want int,
    OUT max_seen int, OUT samples int, OUT histogram text)
LANGUAGE plpgsql AS $$
DECLARE
    c int;
    seen int[] := '{0,0,0,0,0,0,0,0,0,0}';
    deadline timestamptz := clock_timestamp() + interval '150 s';
BEGIN
    max_seen := 0;
    samples := 0;
    LOOP
        -- pg_stat_activity is otherwise frozen for the transaction.
        PERFORM pg_stat_clear_snapshot();
        SELECT count(*) INTO c FROM pg_stat_activity
        WHERE backend_type = 'pg_background' AND usename = role;
        samples := samples + 1;
        max_seen := greatest(max_seen, c);
        seen[least(c, 9) + 1] := seen[least(c, 9) + 1] + 1;
        EXIT WHEN (SELECT count(*) FROM t2) >= want
               OR clock_timestamp() > deadline;
        PERFORM pg_sleep(0.002);
    END LOOP;
    SELECT string_agg(format('%s:%s', i - 1, seen[i]), ',' ORDER BY i)
      INTO histogram
      FROM generate_subscripts(seen, 1) i WHERE seen[i] > 0;
END $$;
});
{
	my $sampler = start_psql(undef,
		q{SELECT * FROM sample_role_workers('regress_limited', 100)});
	my @runs;
	for my $s (0 .. 4)
	{
		my @cmds = map {
			my $n = $s * 20 + $_;
			"SELECT pg_background_detach(pg_background_launch('SELECT pg_sleep(0.05); INSERT INTO t2 VALUES ($n)'))"
		} (1 .. 20);
		push @runs, start_psql('regress_limited', @cmds);
	}
	is(finish_psqls('regress_limited session', @runs),
		0, '(2) 5 sessions of regress_limited launched and detached 20 jobs each without error');
	is(finish_psqls('sampler', $sampler), 0, '(2) the sampler ran without error');
	my ($max_seen, $samples, $histogram) = split /\|/, ${ $sampler->{out} };
	note("(2) $samples samples of regress_limited's workers (count:samples): $histogram");
	cmp_ok($samples, '>', 10, '(2) the sampler took samples while the jobs ran');
	is($max_seen, 2,
		'(2) at most 2 workers of regress_limited at once, and 2 were seen at once');
}
all_landed('(2)', 't2', 100, q{user_id = 'regress_limited'::regrole},
	' of the role');
cmp_ok(
	$node->safe_psql(
		'postgres', q{
SELECT count(*) FROM pg_background_jobs
WHERE user_id = 'regress_limited'::regrole AND pid < 0}),
	'>', 0,
	'(2) some of the role\'s jobs were queued');
set_guc($node, 'pg_background.max_workers_per_role', undef, '-1');

# ---------------------------------------------------------------------------
# 3. Another session of the same role reads the outcome of a job whose
#    launcher exited.
# ---------------------------------------------------------------------------
my $locker = $node->background_psql('postgres');
$locker->query_safe('SELECT pg_advisory_lock(3001)');

my ($ret, $stdout, $stderr) = $node->psql('postgres', q{
SET application_name = 'pgbg_session_a';
SELECT pid, cookie FROM pg_background_submit_v2(
    'INSERT INTO t3 SELECT ''A'' FROM pg_advisory_xact_lock(3001)',
    queue_size => 0, label => 'from_a');
}, extra_params => [ '-U', 'regress_alice' ]);
is($ret, 0, '(3) session A submitted a job and exited cleanly');
is($stderr, '', '(3) session A saw no error');
my ($a_pid, $a_cookie) = split /\|/, $stdout;
like($a_pid // '', qr/^-?\d+$/, "(3) session A printed the job's handle");
ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgbg_session_a'},
		'0'),
	'(3) session A is gone');
ok( $node->poll_query_until(
		'postgres', q{
SELECT wait_event FROM pg_stat_activity
WHERE backend_type = 'pg_background' AND usename = 'regress_alice'}, 'advisory'),
	'(3) its job waits on the lock the test holds');

my $b = session('regress_alice');
is( try($b, qq{SELECT state, label FROM pg_background_jobs WHERE pid = $a_pid AND cookie = $a_cookie}),
	'ok:running|from_a',
	'(3) session B (same role) sees the job in pg_background_jobs, running');
is( try($b, qq{SELECT pg_background_wait_v2_timeout($a_pid, $a_cookie, 0)}),
	'ok:f', '(3) wait_v2_timeout(0) from session B: not over yet');
is( try($b, qq{SELECT state, command_tag FROM pg_background_outcome($a_pid, $a_cookie)}),
	'ok:running|', '(3) pg_background_outcome from session B: running');
is($node->safe_psql('postgres', q{SELECT count(*) FROM t3}),
	'0', '(3) the job has not inserted yet');

# Session B waits; then the lock is released.
$b->query_until(qr/waiting/, qq{\\echo waiting
SELECT 'waited' FROM pg_background_wait_v2($a_pid, $a_cookie);
});
ok( $node->poll_query_until(
		'postgres', q{
SELECT count(*) FROM pg_stat_activity
WHERE usename = 'regress_alice' AND backend_type = 'client backend'
  AND state = 'active' AND query LIKE '%pg_background_wait_v2(%'}, '1'),
	'(3) session B waits for the job');
$locker->query_safe('SELECT pg_advisory_unlock(3001)');
my ($out, $err) = run_query($b, qq{
SELECT state, command_tag, row_count, sqlstate IS NULL, finished_at >= started_at
FROM pg_background_outcome($a_pid, $a_cookie)});
is($err, '', '(3) session B: wait and outcome raised nothing');
is($out, "waited\nstopped|INSERT 0 1|1|t|t",
	'(3) session B: wait_v2 returned once the job ended; outcome: stopped, INSERT 0 1, 1 row');
is($node->safe_psql('postgres', q{SELECT string_agg(what, ',') FROM t3}),
	'A', '(3) the job inserted its row');

# A detached job that fails.
($ret, $stdout, $stderr) = $node->psql('postgres', q{
SELECT (h).pid AS pid, (h).cookie AS cookie
FROM (SELECT pg_background_launch_v2('SELECT 1/0', queue_size => 0, label => 'fails') AS h) s \gset
SELECT pg_background_detach_v2(:pid, :cookie);
SELECT :pid, :cookie;
}, extra_params => [ '-U', 'regress_alice' ]);
is($ret, 0, '(3) a session launched a failing job, detached and exited cleanly');
is($stderr, '', '(3) and saw no error');
my ($e_pid, $e_cookie) = split /\|/, (split /\n/, $stdout)[-1];
like($e_pid // '', qr/^-?\d+$/, "(3) it printed the failing job's handle");
is( try($b, qq{
SELECT 'waited' FROM pg_background_wait_v2($e_pid, $e_cookie);
SELECT state, sqlstate, message FROM pg_background_outcome($e_pid, $e_cookie);
SELECT state, sqlstate, last_error FROM pg_background_jobs WHERE pid = $e_pid AND cookie = $e_cookie}),
	"ok:waited\nerror|22012|division by zero\nerror|22012|division by zero",
	'(3) from another session: the failing job ended in error 22012 division by zero');

# ---------------------------------------------------------------------------
# 4 and 5. Another role sees nothing; a member sees; results and detach
#    are only for the launching session.
# ---------------------------------------------------------------------------
$locker->query_safe('SELECT pg_advisory_lock(4001)');
my $l = session('regress_alice');
is( try($l, q{
SELECT (h).pid AS l_pid, (h).cookie AS l_cookie
FROM (SELECT pg_background_launch_v2(
        'SELECT ''L''::text FROM pg_advisory_xact_lock(4001)', queue_size => 0, label => 'from_l') AS h) s \gset
SELECT :l_pid > 0}),
	'ok:t', '(4) session L (regress_alice) launched a job that waits on a lock');
my ($l_pid, $l_cookie) = split /\|/, (run_query($l, q{SELECT :l_pid, :l_cookie}))[0];
ok( $node->poll_query_until(
		'postgres',
		"SELECT wait_event FROM pg_stat_activity WHERE pid = $l_pid", 'advisory'),
	'(4) the job waits on the lock');

my $bob = session('regress_bob');
cmp_ok($node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_background_jobs WHERE user_id = 'regress_alice'::regrole}),
	'>=', 3, '(4) a superuser sees regress_alice\'s jobs');
is( try($bob, q{SELECT count(*) FROM pg_background_jobs}),
	'ok:0', '(4) regress_bob: pg_background_jobs shows no job at all');
my $list_v2 = q{pg_background_list_v2() AS (pid int4, cookie int8,
	launched_at timestamptz, user_id oid, queue_size int4, state text,
	sql_preview text, last_error text, consumed bool)};
is( try($bob, "SELECT count(*) FROM $list_v2"),
	'ok:0', '(4) regress_bob: pg_background_list_v2 shows no job at all');
for my $h ([ 'running', $l_pid, $l_cookie ], [ 'finished', $a_pid, $a_cookie ])
{
	my ($what, $pid, $cookie) = @$h;
	like(try($bob, "SELECT * FROM pg_background_outcome($pid, $cookie)"),
		qr/^42704 /, "(4) regress_bob: outcome of a $what job of regress_alice -> 42704");
	like(try($bob, "SELECT pg_background_wait_v2($pid, $cookie)"),
		qr/^42704 /, "(4) regress_bob: wait_v2 on a $what job of regress_alice -> 42704");
	like(try($bob, "SELECT pg_background_wait_v2_timeout($pid, $cookie, 0)"),
		qr/^42704 /, "(4) regress_bob: wait_v2_timeout on a $what job of regress_alice -> 42704");
	like(try($bob, "SELECT pg_background_cancel_v2($pid, $cookie)"),
		qr/^42704 /, "(4) regress_bob: cancel_v2 of a $what job of regress_alice -> 42704");
	like(try($bob, "SELECT * FROM pg_background_result_v2($pid, $cookie) AS (x text)"),
		qr/^42704 /, "(4) regress_bob: result_v2 of a $what job of regress_alice -> 42704");
}
is( try($l, qq{SELECT state FROM pg_background_outcome($l_pid, $l_cookie)}),
	'ok:running', '(4) the job is undisturbed by regress_bob\'s cancel');

my $member = session('regress_member');
is( try($member, qq{SELECT state, label FROM pg_background_jobs WHERE pid = $l_pid AND cookie = $l_cookie}),
	'ok:running|from_l', '(4) regress_member (member of regress_alice) sees the running job');
is( try($member, "SELECT state FROM $list_v2 WHERE pid = $l_pid AND cookie = $l_cookie"),
	'ok:running', '(4) regress_member sees it in pg_background_list_v2 too');
is( try($member, qq{SELECT state, command_tag FROM pg_background_outcome($a_pid, $a_cookie)}),
	'ok:stopped|INSERT 0 1', '(4) regress_member reads the outcome of the finished job');
is( try($member, qq{SELECT count(*) FROM pg_background_jobs WHERE user_id = 'regress_alice'::regrole}),
	$node->safe_psql('postgres',
		q{SELECT 'ok:' || count(*) FROM pg_background_jobs WHERE user_id = 'regress_alice'::regrole}),
	'(4) regress_member sees every job of regress_alice');

# 5. result_v2 / detach_v2 from another session.
for my $h ([ 'whose launcher is connected', $l_pid, $l_cookie ],
	[ 'whose launcher exited', $a_pid, $a_cookie ])
{
	my ($what, $pid, $cookie) = @$h;
	like(try($b, "SELECT * FROM pg_background_result_v2($pid, $cookie) AS (x text)"),
		qr/^55000 .*belongs to another session/,
		"(5) same role, other session: result_v2 of a job $what -> 55000");
	like(try($b, "SELECT pg_background_detach_v2($pid, $cookie)"),
		qr/^55000 .*belongs to another session/,
		"(5) same role, other session: detach_v2 of a job $what -> 55000");
	like(try($member, "SELECT * FROM pg_background_result_v2($pid, $cookie) AS (x text)"),
		qr/^55000 /, "(5) member: result_v2 of a job $what -> 55000");
}
$locker->query_safe('SELECT pg_advisory_unlock(4001)');
is( try($l, qq{SELECT * FROM pg_background_result_v2($l_pid, $l_cookie) AS (x text)}),
	'ok:L', '(5) the launcher still reads its job\'s rows');

# Cancel of a running job from another session of the role.
$locker->query_safe('SELECT pg_advisory_lock(4002)');
is( try($l, q{
SELECT (h).pid AS c_pid, (h).cookie AS c_cookie
FROM (SELECT pg_background_launch_v2('SELECT 1 FROM pg_advisory_xact_lock(4002)') AS h) s \gset
SELECT :c_pid > 0}),
	'ok:t', '(5) session L launched another job that waits on a lock');
my ($c_pid, $c_cookie) = split /\|/, (run_query($l, q{SELECT :c_pid, :c_cookie}))[0];
ok( $node->poll_query_until(
		'postgres',
		"SELECT wait_event FROM pg_stat_activity WHERE pid = $c_pid", 'advisory'),
	'(5) the job waits on the lock');
is( try($b, qq{
SELECT 'canceled' FROM pg_background_cancel_v2($c_pid, $c_cookie);
SELECT state, sqlstate FROM pg_background_outcome($c_pid, $c_cookie)}),
	"ok:canceled\ncanceled|57014",
	'(5) another session of the role cancels the running job: canceled (57014)');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $c_pid"),
	'0', '(5) its worker is gone once cancel_v2 returned');
like(try($l, qq{SELECT * FROM pg_background_result_v2($c_pid, $c_cookie) AS (x int)}),
	qr/^57014 /, '(5) its launcher reading its result gets 57014');
$locker->query_safe('SELECT pg_advisory_unlock(4002)');

$l->quit;
$bob->quit;
$member->quit;
$b->quit;
all_settled('(3-5)');

# ---------------------------------------------------------------------------
# 6. Queued jobs: cancel, max_queued, result of a queued job.
# ---------------------------------------------------------------------------
set_guc($node, 'pg_background.max_total_workers', 1, '1');
my $s = launcher_session($node);
is(try($s, 'SHOW pg_background.max_total_workers'), 'ok:1',
	'(6) the launching session sees max_total_workers = 1');
$locker->query_safe('SELECT pg_advisory_lock(6001)');
is( try($s, q{
SELECT (h).pid AS blk_pid, (h).cookie AS blk_cookie
FROM (SELECT pg_background_launch_v2('SELECT pg_advisory_xact_lock(6001)') AS h) s \gset
SELECT :blk_pid > 0}),
	'ok:t', '(6) the blocker started at once (positive PID)');
my ($blk_pid) = run_query($s, 'SELECT :blk_pid');
ok( $node->poll_query_until(
		'postgres',
		"SELECT wait_event FROM pg_stat_activity WHERE pid = $blk_pid", 'advisory'),
	'(6) the blocker waits on the lock');

# A queued job canceled by its launching session.
is( try($s, q{
SELECT (h).pid AS q1_pid, (h).cookie AS q1_cookie
FROM (SELECT pg_background_launch_v2('INSERT INTO t6 VALUES (''canceled by launcher'')') AS h) s \gset
SELECT :q1_pid < 0}),
	'ok:t', '(6) a second job is queued: negative PID');
my ($q1_pid, $q1_cookie) = split /\|/, (run_query($s, 'SELECT :q1_pid, :q1_cookie'))[0];
is( $node->safe_psql('postgres',
		"SELECT state FROM pg_background_jobs WHERE pid = $q1_pid AND cookie = $q1_cookie"),
	'queued', '(6) pg_background_jobs (another session): queued');
is(try($s, 'SELECT state FROM pg_background_jobs WHERE pid = :q1_pid AND cookie = :q1_cookie'),
	'ok:queued', '(6) pg_background_jobs (launching session): queued');
is(try($s, 'SELECT pg_background_wait_v2_timeout(:q1_pid, :q1_cookie, 0)'),
	'ok:f', '(6) wait_v2_timeout(0) on the queued job: not over');
is( $node->safe_psql('postgres',
		"SELECT state FROM pg_background_outcome($q1_pid, $q1_cookie)"),
	'queued', '(6) pg_background_outcome (another session): queued');
is($node->safe_psql('postgres', 'SELECT active, queued FROM pg_background_admission()'),
	'1|1', '(6) pg_background_admission: 1 active, 1 queued');
is(try($s, 'SELECT pg_background_cancel_v2(:q1_pid, :q1_cookie)'),
	'ok:', '(6) the launching session cancels the queued job');
is( $node->safe_psql('postgres', qq{
SELECT j.state, o.state, o.sqlstate
FROM pg_background_jobs j, pg_background_outcome($q1_pid, $q1_cookie) o
WHERE j.pid = $q1_pid AND j.cookie = $q1_cookie}),
	'canceled|canceled|57014', '(6) it is canceled (57014)');
is($node->safe_psql('postgres', 'SELECT queued FROM pg_background_admission()'),
	'0', '(6) and out of the queue');
like(try($s, 'SELECT * FROM pg_background_result_v2(:q1_pid, :q1_cookie) AS (x text)'),
	qr/^57014 /, '(6) result_v2 of the canceled queued job: 57014, no wait');

# The per-session limit (pg_background.max_workers) applies before the
# queue: a queued job counts like any job not read or detached, and a launch
# beyond the limit fails with 53400 and is not queued.  The session holds
# the blocker; q1, which it canceled, no longer counts.
is( try($s, q{
SET pg_background.max_workers = 2;
SELECT (h).pid AS ql_pid, (h).cookie AS ql_cookie
FROM (SELECT pg_background_launch_v2('INSERT INTO t6 VALUES (''session limit'')') AS h) s \gset
SELECT :ql_pid < 0}),
	'ok:t', '(6) with max_workers = 2, a second job is queued');
is( try($s, q{SELECT pg_background_launch_v2('INSERT INTO t6 VALUES (''refused'')')}),
	'53400 too many background workers',
	'(6) a third launch: 53400 (the queued job counts)');
is($node->safe_psql('postgres', 'SELECT active, queued FROM pg_background_admission()'),
	'1|1', '(6) the refused launch was not queued');
is(try($s, 'SELECT pg_background_cancel_v2(:ql_pid, :ql_cookie)'),
	'ok:', '(6) cancel the queued job');
is(try($s, q{
SELECT (h).pid AS ql2_pid, (h).cookie AS ql2_cookie
FROM (SELECT pg_background_launch_v2('INSERT INTO t6 VALUES (''session limit 2'')') AS h) s \gset
SELECT pg_background_cancel_v2(:ql2_pid, :ql2_cookie) \gset cx_
RESET pg_background.max_workers;
SELECT :ql2_pid < 0, queued FROM pg_background_admission()}),
	'ok:t|0', '(6) the canceled job frees its place: the next launch is queued (then canceled)');

# A queued job canceled from another session.
is( try($s, q{
SELECT (h).pid AS q2_pid, (h).cookie AS q2_cookie
FROM (SELECT pg_background_launch_v2('INSERT INTO t6 VALUES (''canceled by other'')') AS h) s \gset
SELECT :q2_pid < 0}),
	'ok:t', '(6) another job is queued');
my ($q2_pid, $q2_cookie) = split /\|/, (run_query($s, 'SELECT :q2_pid, :q2_cookie'))[0];
is( $node->safe_psql('postgres', qq{
SELECT 'canceled' FROM pg_background_cancel_v2($q2_pid, $q2_cookie);
SELECT state, sqlstate FROM pg_background_outcome($q2_pid, $q2_cookie)}),
	"canceled\ncanceled|57014",
	'(6) another session cancels it: canceled (57014)');
is(try($s, 'SELECT state FROM pg_background_outcome(:q2_pid, :q2_cookie)'),
	'ok:canceled', '(6) the launching session sees it canceled');
is(try($s, 'SELECT state FROM pg_background_jobs WHERE pid = :q2_pid AND cookie = :q2_cookie'),
	'ok:canceled', '(6) and so does its pg_background_jobs');
is(try($s, 'SELECT pg_background_wait_v2_timeout(:q2_pid, :q2_cookie, 0)'),
	'ok:t', '(6) a wait on it ends at once');
like(try($s, 'SELECT * FROM pg_background_result_v2(:q2_pid, :q2_cookie) AS (x text)'),
	qr/^57014 /, '(6) result_v2 of it in the launching session: 57014, no wait');

# A queued job whose launcher exits without detaching still runs (its
# rows have nobody to go to); one whose launcher exited is canceled from
# another session.
($ret, $stdout, $stderr) = $node->psql('postgres', q{
SELECT pg_background_launch('INSERT INTO t6 VALUES (''launcher exited''); SELECT g FROM generate_series(1, 10000) g') < 0;
});
is($stdout, 't', '(6) a session queued a job and exited without detaching');
is($stderr, '', '(6) and saw no error');
($ret, $stdout, $stderr) = $node->psql('postgres', q{
SELECT pid, cookie FROM pg_background_launch_v2('INSERT INTO t6 VALUES (''canceled after exit'')');
});
my ($q3_pid, $q3_cookie) = split /\|/, $stdout;
cmp_ok($q3_pid // 0, '<', 0, '(6) another session queued a job and exited');
is($node->safe_psql('postgres', 'SELECT queued FROM pg_background_admission()'),
	'2', '(6) both jobs of the exited sessions are queued');
is( $node->safe_psql('postgres', qq{
SELECT 'canceled' FROM pg_background_cancel_v2($q3_pid, $q3_cookie);
SELECT state, sqlstate FROM pg_background_outcome($q3_pid, $q3_cookie)}),
	"canceled\ncanceled|57014",
	'(6) a queued job whose launcher exited is canceled from another session');

# A queued job canceled from another session while its launcher waits in
# result_v2 for it: the wait ends, with an error.
is( try($s, q{
SELECT (h).pid AS q4_pid, (h).cookie AS q4_cookie
FROM (SELECT pg_background_launch_v2('INSERT INTO t6 VALUES (''canceled while read'')') AS h) s \gset
SELECT :q4_pid < 0}),
	'ok:t', '(6) another job is queued');
my ($q4_pid, $q4_cookie) = start_reading($s, 'q4', 'x text',
	'(6) the launching session waits in result_v2 for the queued job');
is( $node->safe_psql('postgres', qq{
SELECT 'canceled' FROM pg_background_cancel_v2($q4_pid, $q4_cookie);
SELECT state FROM pg_background_outcome($q4_pid, $q4_cookie)}),
	"canceled\ncanceled", '(6) another session cancels it');
($out, $err) = run_query($s, q{SELECT 'after'});
like($err, qr/ERROR:  57014: /,
	'(6) the launcher\'s result_v2 raises 57014 (canceled)');
is($node->safe_psql('postgres', 'SELECT queued FROM pg_background_admission()'),
	'1', '(6) only the job of the exited launcher is still queued');

# max_queued: the job of the exited launcher and one more fill the queue.
set_guc($node, 'pg_background.max_queued', 2, '2');
is(try($s, 'SHOW pg_background.max_queued'), 'ok:2',
	'(6) the launching session sees max_queued = 2');
is( try($s, q{
SELECT (h).pid AS r_pid, (h).cookie AS r_cookie
FROM (SELECT pg_background_launch_v2('SELECT g FROM generate_series(1, 3) g') AS h) s \gset
SELECT :r_pid < 0}),
	'ok:t', '(6) one more job is queued');
is($node->safe_psql('postgres', 'SELECT active, queued, max_queued FROM pg_background_admission()'),
	'1|2|2', '(6) pg_background_admission: 1 active, 2 queued of 2');
like(try($s, q{SELECT pg_background_launch_v2('INSERT INTO t6 VALUES (''over the limit'')')}),
	qr/^53000 too many pg_background jobs are queued/,
	'(6) a third queued launch raises 53000');
like(try($s, q{SELECT pg_background_launch('INSERT INTO t6 VALUES (''over the limit v1'')')}),
	qr/^53000 too many pg_background jobs are queued/,
	'(6) so does a v1 launch');
is($node->safe_psql('postgres', 'SELECT queued FROM pg_background_admission()'),
	'2', '(6) the failed launches queued nothing');

# result_v2 on a queued job waits until it has run.
my ($r_pid, $r_cookie) = start_reading($s, 'r', 'g int',
	'(6) the launching session waits in result_v2');
is( $node->safe_psql('postgres',
		"SELECT state FROM pg_background_jobs WHERE pid = $r_pid AND cookie = $r_cookie"),
	'queued', '(6) while the job is still queued');
$locker->query_safe('SELECT pg_advisory_unlock(6001)');
($out, $err) = run_query($s, q{SELECT 'after'});
is($err, '', '(6) result_v2 of the queued job raised nothing');
is($out, "1\n2\n3\nafter", '(6) result_v2 returned the queued job\'s rows once it ran');

all_settled('(6)');
is( $node->safe_psql('postgres', qq{
SELECT pid, state FROM pg_background_jobs WHERE cookie = $r_cookie}),
	"$r_pid|stopped", '(6) the job that was queued keeps its negative PID after it ran');
is( $node->safe_psql('postgres', qq{
SELECT string_agg(state, ',')
FROM pg_background_jobs
WHERE (pid, cookie) IN (($q1_pid, $q1_cookie), ($q2_pid, $q2_cookie),
                        ($q3_pid, $q3_cookie), ($q4_pid, $q4_cookie))}),
	'canceled,canceled,canceled,canceled', '(6) the canceled jobs stay canceled');
is( $node->safe_psql('postgres', qq{
SELECT e.state, e.finished_at <= r.started_at
FROM pg_background_jobs e, pg_background_jobs r
WHERE e.sql_preview LIKE '%launcher exited%' AND r.cookie = $r_cookie}),
	'stopped|t',
	'(6) the job of the launcher that exited ran, before the job queued after it');
is($node->safe_psql('postgres', q{SELECT string_agg(what, ',' ORDER BY what) FROM t6}),
	'launcher exited', '(6) only the queued INSERT that was not canceled ran');
$s->quit;
$locker->quit;
set_guc($node, 'pg_background.max_queued', undef, '1000');
set_guc($node, 'pg_background.max_total_workers', undef, '-1');

note('runtime: ' . (time - $start_time) . ' s');

# ---------------------------------------------------------------------------
# 7. Nothing went wrong underneath.
# ---------------------------------------------------------------------------
$node->stop;
my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal/, '(7) no process was terminated by a signal');
unlike($log, qr/TRAP:/, '(7) no assertion failure');
unlike($log, qr/PANIC/, '(7) no PANIC');
unlike($log, qr/all server processes terminated/, '(7) no crash and restart');

done_testing();
