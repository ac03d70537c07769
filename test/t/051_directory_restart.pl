# The shared job directory across server restarts and crashes.
#
# Node: shared_preload_libraries = 'pg_background', max_worker_processes = 8,
# pg_background.max_total_workers = 1 (so that jobs queue deterministically).
#
# 1. Clean (fast) restart.  Before it: a finished job (stopped), a job
#    that failed (1/0, 22012), a job running (blocked on an advisory lock
#    the test holds) and two queued jobs (pid < 0, state queued), launched
#    with launch_v2 + detach_v2 from a session that stays connected and with
#    submit_v2 from a session that exits.  At shutdown the postmaster writes
#    $PGDATA/pg_background.jobs; at startup it reads and removes it.  After
#    the restart, as seen from a new session: the finished jobs keep their
#    states and outcomes; the running one is 'error' (57P01, the worker
#    recorded its termination); the queued ones are 'lost_on_restart' with an
#    outcome message naming the restart; no job is running or queued;
#    pg_background_admission() says active 0, queued 0; neither the
#    running nor the queued jobs' INSERTs happened.  New jobs work
#    (launch + result), their handles differ from the old ones (cookies,
#    and the pseudo-PID of a newly queued job), and the dispatcher starts a
#    queued job.
# 2. Crash restart: with a job running (blocked on a lock) and two queued,
#    kill -9 an ordinary backend.  Once the server has reinitialized: the
#    running and queued jobs are 'lost_on_restart' (messages "...while the
#    job was running" / "...queued"), the jobs finished before survive, no
#    job is running or queued, the admission counters are 0, none of the
#    lost jobs' INSERTs happened, the dispatcher is back (with max_total_workers
#    = 1, a job blocked on a lock and a job queued behind it both finish).
#    Waiting for a lost job returns at once (also after the clean restart).
#    2b. A job that committed (state stopped) but whose worker had not exited
#    yet (blocked writing its final message into a full queue) when the
#    server crashed: its row is there, and it still shows as stopped after
#    the crash, its entry unchanged.
# 3. Retention: with pg_background.max_finished = 3, after six short jobs a
#    new session (which launched nothing, so it lists only the directory)
#    sees exactly the three newest finished jobs; launching one more evicts
#    the oldest of them.  With pg_background.finished_ttl = 1 (second), once
#    every finished entry is older than that, the next launch evicts them
#    all; with finished_ttl = 30 days (more than 2^31 milliseconds), the
#    next launch evicts nothing.
# 4. The job directory file is never left behind while the server runs;
#    the log shows no TRAP, no PANIC, no failure to read or write the file,
#    and no process killed by a signal other than the backends killed in 2.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgbgTest;

my $node = PostgreSQL::Test::Cluster->new('directory_restart');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_background'
max_worker_processes = 8
pg_background.max_total_workers = 1
restart_after_crash = on
log_min_messages = log
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_background;
CREATE TABLE t (what text);
});

my $jobs_file = $node->data_dir . '/pg_background.jobs';
ok(!-e $jobs_file, 'no job directory file while the server runs (first start)');

my $admission_sql = q{SELECT active, queued FROM pg_background_admission()};
my $busy_sql = q{SELECT count(*) FROM pg_background_jobs WHERE state IN ('running', 'queued')};

# One job as a new session sees it, by label: pid|cookie|state|sqlstate|last_error.
sub job_row
{
	my ($label) = @_;
	return $node->safe_psql('postgres', qq{
SELECT pid, cookie, state, coalesce(sqlstate, ''), coalesce(last_error, '')
FROM pg_background_jobs WHERE label = '$label'});
}

# Split a job_row into its fields.
sub job
{
	my ($label) = @_;
	my $row = job_row($label);
	my @f = split /\|/, $row, 5;
	return { row => $row, pid => $f[0], cookie => $f[1], state => $f[2],
		sqlstate => $f[3], message => $f[4] };
}

# The outcome of a job by its handle, from a new session: state|sqlstate|message.
sub outcome
{
	my ($j) = @_;
	return $node->safe_psql('postgres', qq{
SELECT state, coalesce(sqlstate, ''), coalesce(message, '')
FROM pg_background_outcome($j->{pid}, $j->{cookie})});
}

# Wait until no pg_background worker is admitted and nothing is queued.
sub wait_idle
{
	my ($what) = @_;
	ok($node->poll_query_until('postgres', $admission_sql, '0|0'),
		"$what: no job active or queued");
}

# Wait until a worker waits on an advisory lock.
sub wait_lock_waiter
{
	my ($what, $n) = @_;
	ok( $node->poll_query_until(
			'postgres', q{
SELECT count(*) FROM pg_stat_activity
WHERE backend_type = 'pg_background' AND wait_event = 'advisory'},
			$n // 1),
		"$what: the job waits for the advisory lock");
}

# Quit a background psql whose backend may be gone.
sub quit_quietly
{
	my ($s) = @_;
	eval { $s->quit; };
}

# Crash the server: SIGKILL an ordinary backend (a session of its own),
# wait until the postmaster has reinitialized and accepts connections
# again.  Returns the killed backend's PID.
sub crash
{
	my ($what) = @_;
	my $victim = $node->background_psql('postgres');
	my $victim_pid = $victim->query_safe('SELECT pg_backend_pid()');
	my $log_offset = -s $node->logfile;
	is(kill('KILL', $victim_pid), 1, "$what: SIGKILL sent to an ordinary backend");
	$node->wait_for_log(qr/all server processes terminated; reinitializing/,
		$log_offset);
	ok($node->poll_query_until('postgres', 'SELECT true'),
		"$what: the server is back after the crash");
	quit_quietly($victim);
	return $victim_pid;
}

my ($out, $err);
my @killed_pids;

# ===========================================================================
# 1. Clean restart.
# ===========================================================================
my $locker = $node->background_psql('postgres');
$locker->query_safe('SELECT pg_advisory_lock(5101)');
my $launcher = launcher_session($node);

# Launch with launch_v2 and detach at once; returns "pid|cookie".
sub launch_detach
{
	my ($sql, $label) = @_;
	my ($h, $e) = run_query($launcher, qq{
SELECT pid, cookie FROM pg_background_launch_v2('$sql', queue_size => 0, label => '$label') \\gset h_
SELECT format('%s|%s', :h_pid, :h_cookie) FROM (SELECT pg_background_detach_v2(:h_pid, :h_cookie)) d});
	is($e, '', "(1) $label: launch_v2 and detach_v2 raise nothing");
	return $h;
}

my $h = launch_detach(q{INSERT INTO t VALUES (''done'')}, 'r_done');
my ($pid, $cookie) = split /\|/, $h;
is($node->safe_psql('postgres', "SELECT pg_background_wait_v2($pid, $cookie)"),
	'', '(1) another session waits for the detached job');
wait_idle('(1) r_done');

$h = launch_detach('SELECT 1/0', 'r_error');
($pid, $cookie) = split /\|/, $h;
$node->safe_psql('postgres', "SELECT pg_background_wait_v2($pid, $cookie)");
wait_idle('(1) r_error');

$h = launch_detach(
	q{SELECT pg_advisory_xact_lock(5101); INSERT INTO t VALUES (''running'')},
	'r_running');
($pid, $cookie) = split /\|/, $h;
cmp_ok($pid, '>', 0, '(1) the blocked job started at once (real PID)');
wait_lock_waiter('(1) r_running');

$h = launch_detach(q{INSERT INTO t VALUES (''queued 1'')}, 'r_q1');
($pid) = split /\|/, $h;
cmp_ok($pid, '<', 0, '(1) r_q1 is queued (pseudo-PID)');

# The second queued job from a session that exits at once.
$pid = $node->safe_psql('postgres', q{
SELECT pid FROM pg_background_submit_v2('INSERT INTO t VALUES (''queued 2'')', queue_size => 0, label => 'r_q2')});
cmp_ok($pid, '<', 0, '(1) r_q2, submitted by a session that exited, is queued');

my %before;
$before{$_} = job($_) for qw(r_done r_error r_running r_q1 r_q2);
is($before{r_done}{state}, 'stopped', '(1) before the restart: r_done stopped');
is("$before{r_error}{state}|$before{r_error}{sqlstate}", 'error|22012',
	'(1) before the restart: r_error failed with 22012');
is($before{r_running}{state}, 'running', '(1) before the restart: r_running runs');
is($before{r_q1}{state}, 'queued', '(1) before the restart: r_q1 queued');
is($before{r_q2}{state}, 'queued', '(1) before the restart: r_q2 queued');
is($node->safe_psql('postgres', $admission_sql), '1|2',
	'(1) before the restart: admission says 1 active, 2 queued');

# The launcher stays connected, the locker keeps the lock: stop now.
$node->stop('fast');
ok(-e $jobs_file, '(1) the postmaster wrote the job directory file at shutdown');
$node->start;
ok(!-e $jobs_file, '(1) and removed it once loaded');
quit_quietly($launcher);
quit_quietly($locker);

my %after;
$after{$_} = job($_) for qw(r_done r_error r_running r_q1 r_q2);
for my $l (qw(r_done r_error r_running r_q1 r_q2))
{
	is("$after{$l}{pid}|$after{$l}{cookie}",
		"$before{$l}{pid}|$before{$l}{cookie}",
		"(1) after the restart: $l is listed with its handle");
}
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_background_jobs WHERE label LIKE 'r\_%'}),
	'5', '(1) after the restart: each job listed once');
is($after{r_done}{state}, 'stopped', '(1) after the restart: r_done still stopped');
is( $node->safe_psql('postgres', qq{
SELECT command_tag, row_count FROM pg_background_jobs WHERE label = 'r_done'}),
	'INSERT 0 1|1', '(1) after the restart: r_done keeps its command tag and row count');
is($after{r_error}{row}, $before{r_error}{row},
	'(1) after the restart: r_error unchanged (error, 22012, its message)');
like($after{r_error}{message}, qr/division by zero/,
	'(1) after the restart: r_error keeps its message');
# A clean shutdown terminates the running worker, which records its own
# error before it exits (the postmaster writes the file after every child
# has exited), so the job is not lost_on_restart.
is( "$after{r_running}{state}|$after{r_running}{sqlstate}|$after{r_running}{message}",
	'error|57P01|terminating background worker "pg_background" due to administrator command',
	'(1) after the restart: the running job recorded its termination (error, 57P01)');
for my $l (qw(r_q1 r_q2))
{
	is($after{$l}{state}, 'lost_on_restart',
		"(1) after the restart: queued $l is lost_on_restart");
	like($after{$l}{message}, qr/restarted/,
		"(1) after the restart: $l says why in last_error");
	# Also when the running job's worker exits at the shutdown before the
	# dispatcher has seen its own SIGTERM, and the dispatcher takes the next
	# queued job off the queue for a worker the postmaster, shutting down,
	# never starts: that job never ran, and says so.
	like(outcome($after{$l}),
		qr/^lost_on_restart\|[^|]*\|the server restarted while the job was queued$/,
		"(1) after the restart: outcome of $l says it was lost while queued");
}
is( $node->safe_psql('postgres', qq{
SELECT string_agg(pg_background_wait_v2_timeout(pid, cookie, 60000)::text, ',')
FROM pg_background_jobs WHERE label LIKE 'r\\_%'}),
	'true,true,true,true,true', '(1) after the restart: waiting for any old job returns at once');
is($node->safe_psql('postgres', $busy_sql), '0',
	'(1) after the restart: no job running or queued');
is($node->safe_psql('postgres', $admission_sql), '0|0',
	'(1) after the restart: admission says 0 active, 0 queued');
is($node->safe_psql('postgres', q{SELECT string_agg(what, ',' ORDER BY what) FROM t}),
	'done', '(1) after the restart: only the finished job inserted its row');

# New jobs.
is( $node->safe_psql('postgres',
		q{SELECT * FROM pg_background_result(pg_background_launch('SELECT 42')) AS (x int)}),
	'42', '(1) launch + result work after the restart');
wait_idle('(1) after the first new job');

$locker = $node->background_psql('postgres');
$locker->query_safe('SELECT pg_advisory_lock(5102)');
my $n1 = $node->safe_psql('postgres', q{
SELECT pid || '|' || cookie FROM pg_background_submit_v2(
	'SELECT pg_advisory_xact_lock(5102); INSERT INTO t VALUES (''new 1'')', queue_size => 0, label => 'n1')});
wait_lock_waiter('(1) n1');
my $n2 = $node->safe_psql('postgres', q{
SELECT pid || '|' || cookie FROM pg_background_submit_v2(
	'INSERT INTO t VALUES (''new 2'')', queue_size => 0, label => 'n2')});
my @n1 = split /\|/, $n1;
my @n2 = split /\|/, $n2;
cmp_ok($n2[0], '<', 0, '(1) n2 queued behind n1');
my %old_cookie = map { $before{$_}{cookie} => 1 } keys %before;
my %old_pid = map { $before{$_}{pid} => 1 } keys %before;
ok(!$old_cookie{ $n1[1] } && !$old_cookie{ $n2[1] } && $n1[1] != $n2[1],
	'(1) the new handles have cookies of their own');
ok(!$old_pid{ $n2[0] },
	"(1) the new queued job's pseudo-PID ($n2[0]) is not an old job's");
$locker->query_safe('SELECT pg_advisory_unlock(5102)');
$node->safe_psql('postgres', "SELECT pg_background_wait_v2($n1[0], $n1[1])");
$node->safe_psql('postgres', "SELECT pg_background_wait_v2($n2[0], $n2[1])");
is( $node->safe_psql('postgres', q{
SELECT string_agg(label || ':' || state, ',' ORDER BY label)
FROM pg_background_jobs WHERE label IN ('n1', 'n2')}),
	'n1:stopped,n2:stopped', '(1) both new jobs finished');
is( $node->safe_psql('postgres',
		q{SELECT string_agg(what, ',' ORDER BY what) FROM t WHERE what LIKE 'new%'}),
	'new 1,new 2', '(1) and inserted their rows');
wait_idle('(1) after the new jobs');

# ===========================================================================
# 2. Crash restart.
# ===========================================================================
$locker->query_safe('SELECT pg_advisory_lock(5103)');
$launcher = launcher_session($node);
($out, $err) = run_query($launcher, q{
SELECT pid FROM pg_background_launch_v2(
	'SELECT pg_advisory_xact_lock(5103); INSERT INTO t VALUES (''crash running'')', queue_size => 0, label => 'c_running')});
is($err, '', '(2) c_running launched');
cmp_ok($out, '>', 0, '(2) c_running started at once');
wait_lock_waiter('(2) c_running');
($out, $err) = run_query($launcher, q{
SELECT pid FROM pg_background_launch_v2('INSERT INTO t VALUES (''crash queued 1'')', queue_size => 0, label => 'c_q1')});
cmp_ok($out, '<', 0, '(2) c_q1 queued');
($out, $err) = run_query($launcher, q{
SELECT pid FROM pg_background_launch_v2('INSERT INTO t VALUES (''crash queued 2'')', queue_size => 0, label => 'c_q2')});
cmp_ok($out, '<', 0, '(2) c_q2 queued');
is($node->safe_psql('postgres', $admission_sql), '1|2',
	'(2) before the crash: admission says 1 active, 2 queued');
my %cbefore;
$cbefore{$_} = job($_) for qw(c_running c_q1 c_q2);

push @killed_pids, crash('(2)');
ok(!-e $jobs_file, '(2) no job directory file left once the server is back');
quit_quietly($_) for ($launcher, $locker);

my %cafter;
$cafter{$_} = job($_) for qw(c_running c_q1 c_q2);
for my $l (qw(c_running c_q1 c_q2))
{
	is("$cafter{$l}{pid}|$cafter{$l}{cookie}",
		"$cbefore{$l}{pid}|$cbefore{$l}{cookie}",
		"(2) after the crash: $l is listed with its handle");
	is($cafter{$l}{state}, 'lost_on_restart', "(2) after the crash: $l is lost_on_restart");
}
like(outcome($cafter{c_running}),
	qr/^lost_on_restart\|[^|]*\|the server restarted while the job was running$/,
	'(2) after the crash: the outcome of c_running names the restart');
like(outcome($cafter{c_q1}),
	qr/^lost_on_restart\|[^|]*\|the server restarted while the job was queued$/,
	'(2) after the crash: the outcome of c_q1 names the restart');
is(job_row('r_done'), $after{r_done}{row},
	'(2) after the crash: a job finished before the first restart is still there');
is($node->safe_psql('postgres', q{SELECT state FROM pg_background_jobs WHERE label = 'n2'}),
	'stopped', '(2) after the crash: n2 still stopped');
is( $node->safe_psql('postgres', qq{
SELECT string_agg(pg_background_wait_v2_timeout(pid, cookie, 60000)::text, ',')
FROM pg_background_jobs WHERE label IN ('c_running', 'c_q1', 'c_q2')}),
	'true,true,true', '(2) after the crash: waiting for the lost jobs returns at once');
is($node->safe_psql('postgres', $busy_sql), '0',
	'(2) after the crash: no job running or queued');
is($node->safe_psql('postgres', $admission_sql), '0|0',
	'(2) after the crash: admission says 0 active, 0 queued');
is($node->safe_psql('postgres', q{SELECT count(*) FROM t WHERE what LIKE 'crash%'}),
	'0', '(2) after the crash: none of the lost jobs inserted anything');

# The dispatcher is back: a job queued behind a blocked one starts.
ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_background dispatcher'},
		'1'),
	'(2) the dispatcher runs again');
$locker = $node->background_psql('postgres');
$locker->query_safe('SELECT pg_advisory_lock(5104)');
my $a1 = $node->safe_psql('postgres', q{
SELECT pid || '|' || cookie FROM pg_background_submit_v2(
	'SELECT pg_advisory_xact_lock(5104); INSERT INTO t VALUES (''after crash 1'')', queue_size => 0, label => 'a1')});
wait_lock_waiter('(2) a1');
my $a2 = $node->safe_psql('postgres', q{
SELECT pid || '|' || cookie FROM pg_background_submit_v2(
	'INSERT INTO t VALUES (''after crash 2'')', queue_size => 0, label => 'a2')});
my @a1 = split /\|/, $a1;
my @a2 = split /\|/, $a2;
cmp_ok($a2[0], '<', 0, '(2) a2 queued behind a1');
my %c_pid = map { $cbefore{$_}{pid} => 1 } keys %cbefore;
ok(!$c_pid{ $a2[0] } && !$old_pid{ $a2[0] } && $a2[0] != $n2[0],
	"(2) a2's pseudo-PID ($a2[0]) is new");
$locker->query_safe('SELECT pg_advisory_unlock(5104)');
$node->safe_psql('postgres', "SELECT pg_background_wait_v2($a1[0], $a1[1])");
$node->safe_psql('postgres', "SELECT pg_background_wait_v2($a2[0], $a2[1])");
is( $node->safe_psql('postgres',
		q{SELECT string_agg(what, ',' ORDER BY what) FROM t WHERE what LIKE 'after crash%'}),
	'after crash 1,after crash 2', '(2) after the crash: both new jobs ran');
wait_idle('(2) after the new jobs');

# 2b. A job that committed, and whose outcome says so, but whose worker had
# not exited yet when the server crashed: its worker is blocked sending the
# final ReadyForQuery into a queue too small for it (queue_size 88: a
# 32-byte ring holds the CommandComplete, not both), since its launcher,
# still connected, reads nothing.
$launcher = launcher_session($node);
($out, $err) = run_query($launcher, q{
SELECT pid FROM pg_background_launch_v2('INSERT INTO t VALUES (''committed'')', 88, 'c_committed')});
is($err, '', '(2b) c_committed launched');
ok( $node->poll_query_until('postgres', q{
SELECT j.state = 'stopped' AND a.wait_event LIKE 'MessageQueue%'
FROM pg_background_jobs j JOIN pg_stat_activity a ON a.backend_type = 'pg_background'
WHERE j.label = 'c_committed'}),
	'(2b) c_committed is stopped (committed) while its worker still waits on its queue');
is($node->safe_psql('postgres', q{SELECT count(*) FROM t WHERE what = 'committed'}),
	'1', '(2b) its INSERT committed');
my $committed_before = job('c_committed');
push @killed_pids, crash('(2b)');
quit_quietly($_) for ($launcher, $locker);
my $committed_after = job('c_committed');
is($committed_after->{state}, 'stopped',
	'(2b) after the crash: the committed job is still stopped, not lost_on_restart');
is($committed_after->{row}, $committed_before->{row},
	'(2b) after the crash: its entry is unchanged');
is($node->safe_psql('postgres', q{SELECT count(*) FROM t WHERE what = 'committed'}),
	'1', '(2b) after the crash: its row is there');
is($node->safe_psql('postgres', $admission_sql), '0|0',
	'(2b) after the crash: admission says 0 active, 0 queued');

# ===========================================================================
# 3. Retention.
# ===========================================================================
$node->safe_psql('postgres', q{
ALTER SYSTEM SET pg_background.max_finished = 3;
SELECT pg_reload_conf();});
ok($node->poll_query_until('postgres', 'SHOW pg_background.max_finished', '3'),
	'(3) max_finished = 3 in effect');

for my $i (1 .. 6)
{
	# Each in a session of its own, waited for, and its worker gone before
	# the next launch, so that every earlier entry counts as finished.
	$node->safe_psql('postgres', qq{
SELECT pg_background_wait_v2(pid, cookie) FROM pg_background_submit_v2('SELECT $i', queue_size => 0, label => 'k$i')});
	$node->poll_query_until('postgres', $admission_sql, '0|0')
	  or die "job k$i did not finish";
}
is( $node->safe_psql('postgres', q{
SELECT string_agg(label || ':' || state, ',' ORDER BY label) FROM pg_background_jobs}),
	'k4:stopped,k5:stopped,k6:stopped',
	'(3) after six jobs, a new session sees only the three newest finished ones');

$locker = $node->background_psql('postgres');
$locker->query_safe('SELECT pg_advisory_lock(5105)');
my $k7 = $node->safe_psql('postgres', q{
SELECT pid || '|' || cookie FROM pg_background_submit_v2(
	'SELECT pg_advisory_xact_lock(5105)', queue_size => 0, label => 'k7')});
wait_lock_waiter('(3) k7');
is( $node->safe_psql('postgres', q{
SELECT string_agg(label || ':' || state, ',' ORDER BY label) FROM pg_background_jobs}),
	'k5:stopped,k6:stopped,k7:running',
	'(3) launching one more evicted the oldest finished job');
cmp_ok( $node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_background_jobs WHERE state NOT IN ('running', 'queued')}),
	'<=', 3, '(3) at most 3 finished entries');
$locker->query_safe('SELECT pg_advisory_unlock(5105)');
my @k7 = split /\|/, $k7;
$node->safe_psql('postgres', "SELECT pg_background_wait_v2($k7[0], $k7[1])");
wait_idle('(3) k7');
is( $node->safe_psql('postgres', q{
SELECT string_agg(label || ':' || state, ',' ORDER BY label) FROM pg_background_jobs}),
	'k5:stopped,k6:stopped,k7:stopped', '(3) k7 finished; still three entries');

# finished_ttl = 1 s: once every entry is older than that, the next launch
# evicts them all.
$node->safe_psql('postgres', q{
ALTER SYSTEM SET pg_background.finished_ttl = 1;
SELECT pg_reload_conf();});
ok($node->poll_query_until('postgres', 'SHOW pg_background.finished_ttl', '1s'),
	'(3) finished_ttl = 1 s in effect');
ok( $node->poll_query_until('postgres', q{
SELECT bool_and(finished_at < clock_timestamp() - interval '1.2 s') FROM pg_background_jobs}),
	'(3) every finished entry is older than finished_ttl');
$node->safe_psql('postgres', q{
SELECT pg_background_wait_v2(pid, cookie) FROM pg_background_submit_v2('SELECT 8', queue_size => 0, label => 'k8')});
is( $node->safe_psql('postgres', q{
SELECT string_agg(label || ':' || state, ',' ORDER BY label) FROM pg_background_jobs}),
	'k8:stopped', '(3) the next launch evicted every expired entry');
wait_idle('(3) k8');
is($node->safe_psql('postgres', q{SELECT directory_used FROM pg_background_admission()}),
	'1', '(3) one directory entry in use');

# A finished_ttl of more than 2^31 milliseconds (24.8 days) keeps entries
# too: 30 days, and the next launch evicts nothing.
$node->safe_psql('postgres', q{
ALTER SYSTEM SET pg_background.finished_ttl = '30d';
SELECT pg_reload_conf();});
ok($node->poll_query_until('postgres', 'SHOW pg_background.finished_ttl', '30d'),
	'(3) finished_ttl = 30 days in effect');
$node->safe_psql('postgres', q{
SELECT pg_background_wait_v2(pid, cookie) FROM pg_background_submit_v2('SELECT 9', queue_size => 0, label => 'k9')});
is( $node->safe_psql('postgres', q{
SELECT string_agg(label || ':' || state, ',' ORDER BY label) FROM pg_background_jobs}),
	'k8:stopped,k9:stopped', '(3) with finished_ttl = 30 days, the next launch evicted nothing');
wait_idle('(3) k9');

# ===========================================================================
# 4. Log.
# ===========================================================================
ok(!-e $jobs_file, '(4) no job directory file while the server runs');
quit_quietly($locker);
$node->stop;
ok(-e $jobs_file, '(4) the file is there once the server is stopped');
my $log = slurp_file($node->logfile);
unlike($log, qr/TRAP:/, '(4) no TRAP');
unlike($log, qr/PANIC/, '(4) no PANIC');
unlike($log, qr/pg_background job directory file/,
	'(4) no failure to read or write the job directory file');
my @killed = grep { /terminated by signal/ } split /\n/, $log;
is_deeply(
	[ map { /(?:server process|client backend) \(PID (\d+)\) was terminated by signal 9: Killed/ ? $1 : $_ } @killed ],
	\@killed_pids,
	'(4) the only processes killed by a signal are the backends killed in (2) and (2b)');

done_testing();
