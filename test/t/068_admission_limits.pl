# Admission limits with no other test: pg_background.max_workers_per_database,
# pg_background.max_queued = 0 and pg_background.max_jobs (directory full).
#
# Node: shared_preload_libraries = 'pg_background', max_worker_processes =
# 10, pg_background.max_jobs = 16 (its minimum; restart to change),
# dynamic_shared_memory_type = mmap (segments are counted as files), and a
# second database, db2.  Jobs block on advisory locks a locker session of
# the same database holds; nothing waits with a sleep.
#
# 1. max_workers_per_database = 1.  In postgres, p1 runs (blocked) and p2
#    is queued (pseudo-PID, state queued): one pg_background worker in
#    postgres in pg_stat_activity, admission 1 active, 1 queued.  A job
#    launched in db2 meanwhile is queued behind p2 (first come, first
#    served: pseudo-PID), but the dispatcher skips p2, whose database is at
#    its limit, and runs the db2 job to its end (stopped, its row in db2)
#    while p2 is still queued and has run nothing.  Once p1 ends, p2 runs
#    (stopped, its row lands), and a new launch in postgres starts at once
#    (a real PID) and returns its result.
# 2. max_queued = 0 (queueing off) with max_workers_per_role = 1: while a
#    job of regress_a runs, the role's next launch (launch_v2, submit_v2,
#    v1 launch) fails with 53000 "too many pg_background jobs are queued",
#    DETAIL "0 jobs are waiting for a worker, the maximum set by
#    pg_background.max_queued.", and its hint; nothing ran or was recorded
#    (no directory entry, no worker, no DSM segment, no row).  regress_b is
#    unaffected: its launch starts at once and commits.  Once regress_a's
#    job ends, its next launch starts at once and commits.
# 3. max_jobs = 16, max_workers_per_role = 1: finished entries do not count
#    (five finished jobs are evicted as needed).  With one job of
#    regress_a running and 15 queued, directory_used = directory_size =
#    16; the next launch fails with 53000 "the pg_background job directory
#    is full", DETAIL "All 16 entries hold jobs that are queued or
#    running.", and its hint, for regress_a, for regress_b (the directory is
#    shared by everyone), for a superuser, with launch_v2, submit_v2 and v1
#    launch; nothing ran or was recorded (no entry, no segment, no row).
#    Once a queued job is canceled, its entry is finished, and the next
#    launch (of regress_b) is queued again, and runs while regress_a's jobs
#    wait, in the canceled job's entry; once the lock is released every job
#    that was admitted runs (stopped), the canceled one and the refused ones
#    never.
# 4. The server log shows no crash, TRAP or PANIC.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgbgTest qw(run_query launcher_session set_guc dsm_count pool_session);

my $node = PostgreSQL::Test::Cluster->new('admission_limits');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_background'
# Segments as files (counted in pg_dynshmem), not in the main shared memory.
pg_background.dsm_reserve = 0
max_worker_processes = 10
pg_background.max_jobs = 16
# Part 3 holds 21 jobs of one session, neither read nor detached: above
# the per-session limit (pg_background.max_workers, 16), not the subject here.
pg_background.max_workers = 1000
dynamic_shared_memory_type = mmap
log_min_messages = log
});
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE db2');
for my $db (qw(postgres db2))
{
	$node->safe_psql($db, q{
CREATE EXTENSION pg_background;
CREATE TABLE t (what text);
GRANT INSERT, SELECT ON t TO PUBLIC;
});
}
$node->safe_psql('postgres', q{
CREATE ROLE regress_a LOGIN;
CREATE ROLE regress_b LOGIN;
SELECT grant_pg_background_privileges(r, false)
  FROM unnest(ARRAY['regress_a', 'regress_b']) r;
});

my $admission_sql =
  q{SELECT active, queued, directory_used, directory_size FROM pg_background_admission()};

# Run $sql in session $s: "ok:<output>", or the error psql printed
# (VERBOSITY verbose) without its psql: prefix and LOCATION line.
sub try
{
	my ($s, $sql) = @_;
	my ($out, $err) = run_query($s, $sql);
	return "ok:$out" if $err eq '';
	$err =~ s/^psql:\S+ //mg;
	$err =~ s/^LOCATION:.*\n?//mg;
	$err =~ s/\n+\z//;
	return $err;
}

# The rows of t in $db, sorted, comma-separated.
sub rows
{
	my ($db) = @_;
	return $node->safe_psql($db, q{SELECT string_agg(what, ',' ORDER BY what) FROM t});
}

# Wait until the job with worker PID $pid waits on an advisory lock.
sub wait_lock
{
	my ($db, $pid, $what) = @_;
	ok( $node->poll_query_until(
			$db, "SELECT wait_event FROM pg_stat_activity WHERE pid = $pid",
			'advisory'),
		"$what waits on the advisory lock");
	return;
}

# Launch $sql with launch_v2 in $s; returns (pid, cookie).
sub launch
{
	my ($s, $sql, $label) = @_;
	(my $lit = $sql) =~ s/'/''/g;
	my $r = try($s,
		"SELECT pid, cookie FROM pg_background_launch_v2('$lit', queue_size => 0, label => '$label')");
	die "launch of $label failed: $r" unless $r =~ /^ok:(-?\d+)\|(-?\d+)$/;
	return ($1, $2);
}

# The state of a job (by handle), as a superuser of $db sees it.
sub state_of
{
	my ($db, $pid, $cookie) = @_;
	return $node->safe_psql($db,
		"SELECT state FROM pg_background_outcome($pid, $cookie)");
}

# Each of @tries ([session, launch function, tag, what]) launches an INSERT
# of its tag into t, and must fail with $expected (try's form).
sub refused
{
	my ($expected, $part, @tries) = @_;
	for my $t (@tries)
	{
		my ($s, $fn, $tag, $what) = @$t;
		my $label =
		  $fn eq 'pg_background_launch'
		  ? ''
		  : ", queue_size => 0, label => '$tag'";
		is(try($s, "SELECT $fn('INSERT INTO t VALUES (''$tag'')'$label)"),
			$expected, "$part $what");
	}
	return;
}

# Directory entries (any state) of jobs that insert one of the tags.
sub entries_of
{
	my @tags = @_;
	return $node->safe_psql('postgres', sprintf(
		q{SELECT count(*) FROM pg_background_jobs WHERE sql_preview ~ $re$VALUES \('(%s)'\)$re$},
		join('|', @tags)));
}

my $workers_in = q{SELECT count(*) FROM pg_stat_activity
WHERE backend_type = 'pg_background' AND datname = '%s'};

# ===========================================================================
# 1. max_workers_per_database = 1.
# ===========================================================================
set_guc($node, 'pg_background.max_workers_per_database', 1, '1');
my $locker = $node->background_psql('postgres');
$locker->query_safe('SELECT pg_advisory_lock(6801)');
my $s = launcher_session($node);
my $s2 = pool_session($node, undef, 'db2');

my ($p1_pid, $p1_cookie) = launch($s,
	q{SELECT pg_advisory_xact_lock(6801); INSERT INTO t VALUES ('p1')}, 'p1');
cmp_ok($p1_pid, '>', 0, '(1) p1 starts at once (a real PID)');
wait_lock('postgres', $p1_pid, '(1) p1');
my ($p2_pid, $p2_cookie) = launch($s, q{INSERT INTO t VALUES ('p2')}, 'p2');
cmp_ok($p2_pid, '<', 0, '(1) p2 is queued (a pseudo-PID): postgres is at its limit');
is(state_of('postgres', $p2_pid, $p2_cookie), 'queued', '(1) p2: state queued');
is($node->safe_psql('postgres', sprintf($workers_in, 'postgres')),
	'1', '(1) one pg_background worker in postgres');
is( $node->safe_psql('postgres',
		'SELECT active, queued, max_workers_per_database FROM pg_background_admission()'),
	'1|1|1', '(1) admission: 1 active, 1 queued, max_workers_per_database 1');

# A job of db2 is queued behind p2, and runs while p2 waits.
my ($d1_pid, $d1_cookie) = launch($s2, q{INSERT INTO t VALUES ('d1')}, 'd1');
cmp_ok($d1_pid, '<', 0,
	'(1) d1 (db2) is queued behind p2 (first come, first served)');
is(try($s2, "SELECT pg_background_wait_v2($d1_pid, $d1_cookie)"),
	'ok:', '(1) d1 (db2) ends while p2 is queued');
is(state_of('db2', $d1_pid, $d1_cookie), 'stopped', '(1) d1 (db2) stopped');
is(rows('db2'), 'd1', '(1) d1 inserted its row in db2');
is(state_of('postgres', $p2_pid, $p2_cookie), 'queued',
	'(1) p2 is still queued: the dispatcher skipped it');
is(rows('postgres'), '', '(1) nothing ran in postgres yet');
is($node->safe_psql('postgres', sprintf($workers_in, 'postgres')),
	'1', '(1) still one pg_background worker in postgres');

# The limit frees up.
$locker->query_safe('SELECT pg_advisory_unlock(6801)');
is(try($s, "SELECT pg_background_wait_v2($p2_pid, $p2_cookie)"),
	'ok:', '(1) p2 ends once p1 has ended');
is( join(',',
		state_of('postgres', $p1_pid, $p1_cookie),
		state_of('postgres', $p2_pid, $p2_cookie)),
	'stopped,stopped', '(1) p1 and p2 stopped');
is(rows('postgres'), 'p1,p2', '(1) p1 and p2 inserted their rows');
is( try($s, q{
SELECT (h).pid > 0, x
FROM pg_background_launch_v2('SELECT 42') h,
	pg_background_result_v2((h).pid, (h).cookie) AS (x int)}),
	'ok:t|42', '(1) a new launch in postgres starts at once and returns its result');
set_guc($node, 'pg_background.max_workers_per_database', undef, '-1');
$s2->quit;

# ===========================================================================
# 2. max_queued = 0, max_workers_per_role = 1.
# ===========================================================================
set_guc($node, 'pg_background.max_queued', 0, '0');
set_guc($node, 'pg_background.max_workers_per_role', 1, '1');
$node->safe_psql('postgres', 'TRUNCATE t');
$locker->query_safe('SELECT pg_advisory_lock(6802)');
my $a = pool_session($node, 'regress_a');
my $b = pool_session($node, 'regress_b');
my ($a1_pid, $a1_cookie) = launch($a,
	q{SELECT pg_advisory_xact_lock(6802); INSERT INTO t VALUES ('a1')}, 'a1');
cmp_ok($a1_pid, '>', 0, '(2) a1 of regress_a starts at once');
wait_lock('postgres', $a1_pid, '(2) a1');
my $dsm_before = dsm_count($node);

# The hint names the server-wide worker limit (only named here).
my $max_workers_guc = 'pg_background.max_total_workers';
my $queue_off = qq{ERROR:  53000: too many pg_background jobs are queued
DETAIL:  0 jobs are waiting for a worker, the maximum set by pg_background.max_queued.
HINT:  Wait for queued jobs to start, or raise pg_background.max_queued, $max_workers_guc or max_worker_processes.};
refused($queue_off, '(2)',
	[ $a, 'pg_background_launch_v2', 'a2', 'launch_v2 of regress_a beyond its limit: 53000, queue off' ],
	[ $a, 'pg_background_submit_v2', 'a3', 'submit_v2: the same' ],
	[ $a, 'pg_background_launch', 'a4', 'v1 launch: the same' ]);
is(entries_of(qw(a2 a3 a4)), '0', '(2) the refused launches left no directory entry');
is(entries_of('a1'), '1', '(2) (the same query finds a1)');
is($node->safe_psql('postgres', 'SELECT active, queued FROM pg_background_admission()'),
	'1|0', '(2) admission: 1 active, 0 queued');
is($node->safe_psql('postgres', sprintf($workers_in, 'postgres')),
	'1', '(2) only a1 has a worker');
is(dsm_count($node), $dsm_before, '(2) the refused launches left no DSM segment');

# Another role is not held up.
my ($b1_pid, $b1_cookie) = launch($b, q{INSERT INTO t VALUES ('b1')}, 'b1');
cmp_ok($b1_pid, '>', 0, '(2) regress_b starts a job at once');
is(try($b, "SELECT pg_background_wait_v2($b1_pid, $b1_cookie)"), 'ok:',
	'(2) and waits for it');
is(state_of('postgres', $b1_pid, $b1_cookie), 'stopped', '(2) b1 stopped');

# regress_a's limit frees up.
$locker->query_safe('SELECT pg_advisory_unlock(6802)');
is(try($a, "SELECT pg_background_wait_v2($a1_pid, $a1_cookie)"), 'ok:', '(2) a1 ends');
ok( $node->poll_query_until(
		'postgres', 'SELECT active FROM pg_background_admission()', '0'),
	'(2) a1 no longer counts against the limit');
my ($a5_pid, $a5_cookie) = launch($a, q{INSERT INTO t VALUES ('a5')}, 'a5');
cmp_ok($a5_pid, '>', 0, '(2) the next launch of regress_a starts at once');
is(try($a, "SELECT pg_background_wait_v2($a5_pid, $a5_cookie)"), 'ok:', '(2) a5 ends');
is( join(',', map { state_of('postgres', @$_) }
		([ $a1_pid, $a1_cookie ], [ $a5_pid, $a5_cookie ])),
	'stopped,stopped', '(2) a1 and a5 stopped');
is(rows('postgres'), 'a1,a5,b1', '(2) the refused launches never ran');
set_guc($node, 'pg_background.max_queued', undef, '1000');

# ===========================================================================
# 3. max_jobs = 16: the directory full.
# ===========================================================================
$node->safe_psql('postgres', 'TRUNCATE t');
# Five finished jobs: entries that a new job may take.
for my $i (1 .. 5)
{
	my ($pid, $cookie) = launch($a, "SELECT $i", "done$i");
	run_query($a, "SELECT pg_background_wait_v2($pid, $cookie)");
}
ok( $node->poll_query_until(
		'postgres', 'SELECT active, queued FROM pg_background_admission()', '0|0'),
	'(3) nothing active or queued');

$locker->query_safe('SELECT pg_advisory_lock(6803)');
my ($f1_pid, $f1_cookie) = launch($a,
	q{SELECT pg_advisory_xact_lock(6803); INSERT INTO t VALUES ('f01')}, 'f01');
cmp_ok($f1_pid, '>', 0, '(3) f01 runs');
wait_lock('postgres', $f1_pid, '(3) f01');
my %f;
for my $i (2 .. 16)
{
	my $l = sprintf('f%02d', $i);
	my $r = try($a,
		"SELECT pid, cookie FROM pg_background_submit_v2('INSERT INTO t VALUES (''$l'')', queue_size => 0, label => '$l')");
	@{ $f{$l} } = $r =~ /^ok:(-?\d+)\|(-?\d+)$/;
}
is( join(',', map { $f{$_}[0] < 0 ? 'q' : $f{$_}[0] } sort keys %f),
	join(',', ('q') x 15), '(3) f02 .. f16 are queued');
is($node->safe_psql('postgres', $admission_sql), '1|15|16|16',
	'(3) admission: 1 active, 15 queued, all 16 entries used');
is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_background_jobs WHERE state IN ('stopped', 'canceled', 'error')}),
	'0', '(3) the finished jobs were evicted to make room');
$dsm_before = dsm_count($node);

my $full = q{ERROR:  53000: the pg_background job directory is full
DETAIL:  All 16 entries hold jobs that are queued or running.
HINT:  Raise pg_background.max_jobs (requires a restart) or wait for jobs to finish.};
refused($full, '(3)',
	[ $a, 'pg_background_launch_v2', 'x1', 'launch_v2 of regress_a: 53000, directory full' ],
	[ $b, 'pg_background_launch_v2', 'x2', 'launch_v2 of regress_b, under no limit of its own: the same' ],
	[ $s, 'pg_background_submit_v2', 'x3', 'submit_v2 of a superuser: the same' ],
	[ $s, 'pg_background_launch', 'x4', 'v1 launch: the same' ]);
is($node->safe_psql('postgres', $admission_sql), '1|15|16|16',
	'(3) admission unchanged');
is(entries_of(qw(x1 x2 x3 x4)), '0', '(3) the refused launches left no directory entry');
is(entries_of(qw(f02 f16)), '2', '(3) (the same query finds f02 and f16)');
is(dsm_count($node), $dsm_before, '(3) the refused launches left no DSM segment');

# A canceled queued job's entry is finished: a launch finds room again, and
# a job of a role under its limit runs while regress_a's jobs wait.
is(try($a, "SELECT pg_background_cancel_v2($f{f16}[0], $f{f16}[1])"), 'ok:',
	'(3) f16 (queued) is canceled');
is(state_of('postgres', @{ $f{f16} }), 'canceled', '(3) f16: state canceled');
my ($g_pid, $g_cookie) = launch($b, q{INSERT INTO t VALUES ('g')}, 'g');
cmp_ok($g_pid, '<', 0, '(3) a launch of regress_b now succeeds (queued behind the others)');
is(try($b, "SELECT pg_background_wait_v2($g_pid, $g_cookie)"), 'ok:',
	'(3) g ends while regress_a is at its limit');
is(state_of('postgres', $g_pid, $g_cookie), 'stopped', '(3) g stopped');
is($node->safe_psql('postgres', $admission_sql), '1|14|16|16',
	'(3) admission: 1 active, 14 queued, 16 entries used');
is( $node->safe_psql('postgres', q{SELECT count(*) FROM pg_background_jobs WHERE label = 'f16'}),
	'0', "(3) g took f16's finished entry");

$locker->query_safe('SELECT pg_advisory_unlock(6803)');
is(try($a, "SELECT pg_background_wait_v2($f{f15}[0], $f{f15}[1])"), 'ok:', '(3) f15 ends');
ok( $node->poll_query_until(
		'postgres', 'SELECT active, queued FROM pg_background_admission()', '0|0'),
	'(3) every admitted job ended');
is( $node->safe_psql('postgres', q{
SELECT string_agg(label || ':' || state, ',' ORDER BY label)
FROM pg_background_jobs WHERE label ~ '^(f|g)'}),
	join(',', (map { sprintf('f%02d:stopped', $_) } 1 .. 15), 'g:stopped'),
	'(3) f01 .. f15 and g stopped');
is(rows('postgres'), join(',', (map { sprintf('f%02d', $_) } 1 .. 15), 'g'),
	'(3) the canceled and the refused jobs never ran');
set_guc($node, 'pg_background.max_workers_per_role', undef, '-1');

$a->quit;
$b->quit;
$s->quit;
$locker->quit;

# ===========================================================================
# 4. No crash.
# ===========================================================================
$node->stop;
my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal/, '(4) no process terminated by a signal');
unlike($log, qr/TRAP|PANIC/, '(4) no TRAP, no PANIC');
unlike($log, qr/all server processes terminated/, '(4) no crash and restart');

done_testing();
