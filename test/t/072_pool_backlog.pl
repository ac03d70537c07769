# The warm pool under a backlog (preload, pool_size = 1,
# pool_idle_timeout = 3600).  A launch that finds no parked worker while a
# pooled worker of its user is about to park waits for it instead of
# starting a process; the pool grows past pool_size while launches wait, and
# shrinks back once the extra workers stay idle.  The wait normally lasts a
# few milliseconds and only for a job that began as recently;
# pg_background.test_fault = 'pool_await' makes a launch wait for any busy
# pooled worker (up to a minute), so that nothing here depends on timing.
#
# 1. Hand-off: F1 runs job X1 (blocked on advisory lock 1, held by the test)
#    and F2 job Y (blocked on lock 2); no worker is pooled yet, so both are
#    new processes.  Lock 1 released: F1 parks (pool_idle = 1).  X2 (lock 1
#    again) runs on F1.  Session C launches Z (returns its pid): C waits
#    (active, wait event Extension) and no third worker starts.
# 2. Growth: lock 2 released: Y ends and F2 parks although the pool is full,
#    because C waits; C's launch returns with F2 as Z's pid and Z's result.
# 3. A launch canceled while it waits: session D with statement_timeout =
#    300ms launches an INSERT while F1 and F2 are both busy: 57014, and the
#    INSERT never runs (the table is empty once every worker is parked).
# 4. Shrink: both locks released, both workers park (pool_idle = 2), and
#    one of them leaves within the deadline (pool_idle = 1, one
#    'pg_background' backend) while pool_idle_timeout is an hour.
# 4b. Three workers parked with pool_size = 3 (three jobs at once, the
#    fault point off); a reload to pool_size = 2 leaves exactly two parked
#    (every parked worker used to see the pool over its size and leave).
# 5. The log shows no TRAP, no PANIC, no process terminated by a signal.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgbgTest qw(:DEFAULT pool_node pool_session wait_parked poll_until);

my $node = pool_node('pool_backlog', pool_size => 1, max_worker_processes => 12,
	roles => [], conf => ["pg_background.test_fault = 'pool_await'"]);
$node->safe_psql('postgres', 'CREATE TABLE backlog_t (i int)');

my $workers_sql =
  q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_background'};

my $locker = pool_session($node);
my $a = pool_session($node);
my $b = pool_session($node);
my $c = pool_session($node);
my $d = pool_session($node);
my ($out, $err);

$locker->query_safe('SELECT pg_advisory_lock(1), pg_advisory_lock(2)');

# Launch (v1) a job of $s blocked on advisory lock $key; returns its pid.
sub launch_blocked
{
	my ($s, $key) = @_;
	my ($o, $e) = run_query($s,
		"SELECT pg_background_launch('SELECT pg_advisory_xact_lock($key)')");
	die "launch failed: $e" if $e ne '';
	return $o;
}

# Read the result of blocked job $pid of $s (its lock released).
sub finish_blocked
{
	my ($s, $pid, $what) = @_;
	my ($o, $e) = run_query($s,
		"SELECT count(*) FROM pg_background_result($pid) AS (x text)");
	is($o . $e, '1', "$what ran to its end");
}

# Wait until worker $pid waits for an advisory lock.
sub wait_blocked
{
	my ($what, $pid) = @_;
	ok( $node->poll_query_until(
			'postgres', qq{
SELECT wait_event_type = 'Lock' AND wait_event = 'advisory'
FROM pg_stat_activity WHERE pid = $pid}),
		"$what: worker $pid waits for its lock");
}

# Wait until the backend of session $s_pid waits in one of our waits.
sub wait_waiting
{
	my ($what, $s_pid) = @_;
	ok( $node->poll_query_until(
			'postgres', qq{
SELECT state = 'active' AND wait_event_type = 'Extension'
FROM pg_stat_activity WHERE pid = $s_pid}),
		"$what: the session waits in its launch");
}

# ---------------------------------------------------------------------------
# 1. Hand-off.
# ---------------------------------------------------------------------------
my $f1 = launch_blocked($a, 1);
wait_blocked('X1', $f1);
my $f2 = launch_blocked($b, 2);
wait_blocked('Y', $f2);
isnt($f1, $f2, 'X1 and Y run on two new workers');

$locker->query_safe('SELECT pg_advisory_unlock(1)');
finish_blocked($a, $f1, 'X1');
wait_parked($node, 'X1 over', 1);
$locker->query_safe('SELECT pg_advisory_lock(1)');

my $x2 = launch_blocked($a, 1);
is($x2, $f1, 'X2 runs on the parked worker F1');
wait_blocked('X2', $f1);

my ($c_pid) = run_query($c, 'SELECT pg_backend_pid()');
$c->query_until(qr/launching\n/, q{\echo launching
CREATE TEMP TABLE z AS
SELECT h AS z_pid, (SELECT x FROM pg_background_result(h) AS (x int)) AS z_ran_on
FROM pg_background_launch('SELECT pg_backend_pid()') h;
});
wait_waiting('Z', $c_pid);
is($node->safe_psql('postgres', $workers_sql),
	'2', 'no worker started for the waiting launch (F1 and F2 only)');

# ---------------------------------------------------------------------------
# 2. Growth: F2 ends its job while C waits, and parks beyond pool_size.
# ---------------------------------------------------------------------------
$locker->query_safe('SELECT pg_advisory_unlock(2)');
finish_blocked($b, $f2, 'Y');
($out, $err) = run_query($c, q{SELECT z_pid || ' ' || z_ran_on FROM z});
is($out . $err, "$f2 $f2",
	'the waiting launch got F2, which joined the pool beyond pool_size');
is($node->safe_psql('postgres', $workers_sql),
	'2', 'still two workers');

# ---------------------------------------------------------------------------
# 3. A launch canceled while it waits runs nothing.
# ---------------------------------------------------------------------------
$locker->query_safe('SELECT pg_advisory_lock(2)');
my $y2 = launch_blocked($b, 2);
is($y2, $f2, 'Y2 runs on F2');
wait_blocked('Y2', $f2);
($out, $err) = run_query($d,
	q{SET statement_timeout = '300ms'; SELECT pg_background_launch('INSERT INTO backlog_t VALUES (1)')});
like($err, qr/ERROR:  57014: canceling statement due to statement timeout/,
	'a launch that timed out while waiting for a pooled worker fails with 57014');
is($node->safe_psql('postgres', $workers_sql),
	'2', 'and started no worker');

# ---------------------------------------------------------------------------
# 4. Shrink: with both workers parked, the one beyond pool_size leaves.
# ---------------------------------------------------------------------------
$locker->query_safe('SELECT pg_advisory_unlock(1), pg_advisory_unlock(2)');
finish_blocked($a, $f1, 'X2');
finish_blocked($b, $f2, 'Y2');
ok(poll_until($node, q{SELECT pool_idle FROM pg_background_admission()}, '1',
		$PostgreSQL::Test::Utils::timeout_default),
	'the pool shrinks back to pool_size (1 parked worker)');
ok(poll_until($node, $workers_sql, '1', $PostgreSQL::Test::Utils::timeout_default),
	'one pg_background backend is left');
is($node->safe_psql('postgres', 'SELECT count(*) FROM backlog_t'),
	'0', 'the INSERT of the canceled launch never ran');
($out, $err) = run_query($d,
	q{RESET statement_timeout; SELECT * FROM pg_background_result(pg_background_launch('INSERT INTO backlog_t VALUES (2)')) AS (tag text)});
is($out . $err, 'INSERT 0 1', 'the next launch runs');
is($node->safe_psql('postgres', 'SELECT string_agg(i::text, \',\') FROM backlog_t'),
	'2', 'only its row is there');

# ---------------------------------------------------------------------------
# 4b. Made smaller by a reload, the pool keeps exactly pool_size workers.
# ---------------------------------------------------------------------------
set_guc($node, 'pg_background.test_fault', q{''}, '');
set_guc($node, 'pg_background.pool_size', '3', '3');
$locker->query_safe('SELECT pg_advisory_lock(3)');
$a->query_safe(q{CREATE TEMP TABLE three AS
SELECT pg_background_launch_v2('SELECT pg_advisory_xact_lock_shared(3)', 0) AS h
FROM generate_series(1, 3)});
ok( $node->poll_query_until(
		'postgres', q{SELECT count(*) = 3 FROM pg_locks
WHERE locktype = 'advisory' AND objid = 3 AND NOT granted}),
	'three jobs run at once');
$locker->query_safe('SELECT pg_advisory_unlock(3)');
ok(poll_until($node, q{SELECT pool_idle FROM pg_background_admission()}, '3',
		$PostgreSQL::Test::Utils::timeout_default),
	'their three workers park (pool_size = 3)');
set_guc($node, 'pg_background.pool_size', '2', '2');
ok( poll_until(
		$node, qq{SELECT ($workers_sql) = (SELECT pool_idle FROM pg_background_admission())},
		't', $PostgreSQL::Test::Utils::timeout_default),
	'after pool_size = 2, the workers that leave are gone');
is($node->safe_psql('postgres', q{SELECT pool_idle FROM pg_background_admission()}),
	'2', 'exactly two workers stay parked, not none');

$_->quit for ($locker, $a, $b, $c, $d);
$node->stop;

# ---------------------------------------------------------------------------
# 5. The log.
# ---------------------------------------------------------------------------
my $log = slurp_file($node->logfile);
unlike($log, qr/TRAP|PANIC|terminated by signal/, 'no crash in the log');

done_testing();
