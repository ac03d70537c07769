# The warm worker pool (preload mode, pg_background.pool_size > 0), on a node
# with shared_preload_libraries = 'pg_background', pool_size = 2,
# max_worker_processes = 8 and pool_idle_timeout = 3600 (so that no parked
# worker leaves on its own while parts 1-3 and 6 run, however slow the
# machine).  "Parked" means: pg_background_admission().pool_idle counts it.
#
# 1. Reuse: job A (v1 launch + result) returns pg_backend_pid() P; once a
#    worker is parked (and P shows in pg_stat_activity as an idle
#    'pg_background' backend), job B returns the same P.  A v2 launch handed
#    to the parked worker has P as its handle's pid and runs on P too; a
#    job launched while the session still holds an unread job of P goes to
#    another worker (so that P never names two of the session's jobs).
#    Through the pooled worker: several rows come back in order; a string of
#    utility statements gives its command tags, and pg_background_outcome
#    shows 'stopped' with the last tag.  A job that fails on P (1/0 only if
#    it runs on P) gives 22012 "division by zero" to the launcher (outcome:
#    error, 22012), and P then exits (it leaves pg_stat_activity) instead of
#    parking.  The launcher stays usable.
# 2. Nothing leaks from one job to the next on the same worker.  Each check
#    is a pair (or more) of jobs; each asserts that the later job ran on the
#    SAME pid as job 1, waiting until the worker is parked in between:
#    (a) temp table: job 1 creates and fills pg_temp.x; its worker exits
#        instead of parking (temporary tables size the local buffer pool
#        for good: see 055_pool_clean.pl), and job 2, on another worker,
#        sees to_regclass('pg_temp.x') IS NULL;
#    (b) prepared statements: job 1 PREPAREs (sees 1 in
#        pg_prepared_statements); job 2 sees none;
#    (c) advisory locks: job 1 takes pg_advisory_lock(42) (session level);
#        once it is parked, the worker holds no advisory lock in pg_locks and
#        another session gets pg_try_advisory_lock(42) = true; job 2 sees no
#        advisory lock held by its pid;
#    (d) GUCs: job 1 SET work_mem = '77MB'; job 2 sees the launcher's
#        work_mem; after SET work_mem = '5MB' in the launcher job 3 sees 5MB;
#        after RESET work_mem in the launcher job 4 sees the default again;
#    (e) SET ROLE: job 1 SET ROLE regress_alice (current_user is
#        regress_alice); job 2's current_user and session_user are the
#        launcher's; job 1 SET SESSION AUTHORIZATION regress_bob: job 2's
#        session_user is the launcher's; the launcher's own SET ROLE
#        regress_alice reaches a job on the same worker, and after RESET ROLE
#        the next job is the launcher again;
#    (f) security context: a job launched from a SECURITY DEFINER function
#        owned by regress_alice runs as regress_alice on a worker of its own
#        (it connects as the owner, so the parked worker does not take it);
#        the next plain jobs on the parked worker run as the launcher, and
#        may SET ROLE;
#    (g) a job that launches a job itself: job 1, on the parked worker,
#        launches a job and reads its result; its session now holds that
#        job, so the worker exits instead of parking, and job 2, on another
#        worker, sees workers_launched = 0 in pg_background_stats_v2().
# 3. Keying: a job launched by another session user (regress_bob) or in
#    another database (pool_db2) does not take the parked worker P of the
#    launcher: its pg_backend_pid() differs, and P stays parked (idle in
#    pg_stat_activity) and takes the launcher's next job.  regress_bob's
#    next job reuses regress_bob's own parked worker.
# 6. (Run here, while P is parked after the jobs of parts 1-3.)  Memory: the
#    proportional set size ("Pss:" of /proc/P/smaps_rollup, read as the OS
#    user the server runs as; skipped if unreadable) of the idle parked
#    worker is printed, with the launcher's own idle backend's; its private
#    part (Pss_Anon) is at most 5 MB, and its PSS without shared memory
#    (Pss - Pss_Shmem) exceeds the idle backend's by at most 1 MB.  (Absolute PSS depends on how many
#    processes share the server's pages; bench/bench.sh reports it against
#    the 5 MB target.)
# 4. Idle timeout: ALTER SYSTEM SET pg_background.pool_idle_timeout = 1 +
#    reload (a new session shows 1s): (a) the workers parked before the
#    reload (with 3600 s) exit too; (b) after a job launched by a new
#    session, its worker exits: no 'pg_background' backend is left in
#    pg_stat_activity.
# 5. The pool never holds worker slots that queued jobs need: on a second
#    node with max_worker_processes = 4 (the dispatcher and the logical
#    replication launcher take 2, leaving 2), pool_size = 2 and
#    pool_idle_timeout = 3600: two concurrent jobs of regress_a park two
#    workers (pool_idle = 2, no slot free); a job of regress_b is queued
#    (negative pid), still runs (the dispatcher evicts a parked worker) and
#    its rows come back (regress_b's current_user, a pid that is neither
#    parked worker's); one of regress_a's workers is gone, the other still
#    parked.
# 7. The server logs (both nodes) show no process terminated by a signal,
#    no TRAP, no PANIC.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgbgTest qw(:DEFAULT pool_node pool_session pool_job wait_parked poll_until);

my $start_time = time;
my $E = qr/^(?:psql:\S+: )?ERROR:  /m;

my $node = pool_node('pool');
# pool_db2: the extension, and no privileges granted.
$node->safe_psql('postgres', 'CREATE DATABASE pool_db2');
$node->safe_psql('pool_db2', 'CREATE EXTENSION pg_background');

my $workers_sql =
  q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_background'};

my $L = pool_session($node);
my ($me) = run_query($L, 'SELECT current_user');
my ($out, $err);

# ---------------------------------------------------------------------------
# 1. Reuse.
# ---------------------------------------------------------------------------
($out, $err) = pool_job($L, 'SELECT pg_backend_pid()', 'p int');
is($err, '', '(1) job A ran');
my $P = $out;
like($P, qr/^\d+$/, "(1) job A returned its worker's pid ($P)");
wait_parked($node, '(1) after job A', 1);
is( $node->safe_psql('postgres',
		"SELECT backend_type, state, usename FROM pg_stat_activity WHERE pid = $P"),
	"pg_background|idle|$me",
	"(1) job A's worker is parked: an idle 'pg_background' backend of the launcher's user");
($out, $err) = pool_job($L, 'SELECT pg_backend_pid()', 'p int');
is($out, $P, '(1) job B ran on the same worker (reuse)');
is($err, '', '(1) without error');

# v2 handle of a pooled job.
wait_parked($node, '(1) before the v2 job', 1);
my ($hpid, $hcookie);
($out, $err) = run_query($L,
	q{SELECT pid, cookie FROM pg_background_launch_v2('SELECT pg_backend_pid()')});
($hpid, $hcookie) = split /\|/, $out;
is($hpid, $P, "(1) a v2 launch handed to the parked worker has the worker's pid");
($out, $err) = run_query($L,
	"SELECT * FROM pg_background_result_v2($hpid, $hcookie) AS (p int)");
is($out, $P, '(1) and runs on the parked worker');
is($err, '', '(1) without error');

# Rows through a pooled worker.
wait_parked($node, '(1) before the rows job', 1);
($out, $err) = run_query($L,
	q{SELECT pid, cookie FROM pg_background_launch_v2(
		'SELECT g, ''row '' || g, pg_backend_pid() FROM generate_series(1, 5) g')});
($hpid, $hcookie) = split /\|/, $out;
is($hpid, $P, '(1) rows job: pooled (the parked worker\'s pid)');
($out, $err) = run_query($L,
	"SELECT * FROM pg_background_result_v2($hpid, $hcookie) AS (g int, t text, p int)");
is($out, join("\n", map { "$_|row $_|$P" } 1 .. 5),
	'(1) rows job: the rows come back in order, from the pooled worker');
is($err, '', '(1) rows job: without error');

# Command tags through a pooled worker.
wait_parked($node, '(1) before the tags job', 1);
($out, $err) = run_query($L,
	q{SELECT pid, cookie FROM pg_background_launch_v2(
		'CREATE TABLE tags (i int); INSERT INTO tags VALUES (1), (2), (3); UPDATE tags SET i = i + 1')});
($hpid, $hcookie) = split /\|/, $out;
is($hpid, $P, '(1) tags job: pooled (the parked worker\'s pid)');
($out, $err) = run_query($L,
	"SELECT * FROM pg_background_result_v2($hpid, $hcookie) AS (tag text)");
is($out, "CREATE TABLE\nINSERT 0 3\nUPDATE 3", '(1) tags job: the command tags come back');
is($err, '', '(1) tags job: without error');
($out, $err) = run_query($L,
	"SELECT state, command_tag, row_count FROM pg_background_outcome($hpid, $hcookie)");
is($out, 'stopped|UPDATE 3|3', '(1) tags job: outcome stopped, last tag');
wait_parked($node, '(1) after the tags job', 1);
($out, $err) = pool_job($L, 'SELECT pg_backend_pid()', 'p int');
is($out, $P, '(1) the rows and tags jobs left the worker parked (same pid again)');

# An error through a pooled worker: the worker then exits.
wait_parked($node, '(1) before the error job', 1);
($out, $err) = run_query($L,
	"SELECT pid, cookie FROM pg_background_launch_v2('SELECT 1 / (pg_backend_pid() - $P)')");
($hpid, $hcookie) = split /\|/, $out;
is($hpid, $P, '(1) error job: pooled (the parked worker\'s pid)');
($out, $err) = run_query($L,
	"SELECT * FROM pg_background_result_v2($hpid, $hcookie) AS (x int)");
like($err, qr/${E}22012: division by zero$/m,
	'(1) error job: 22012 reaches the launcher (so it ran on the parked worker)');
is($out, '', '(1) error job: no rows');
($out) = run_query($L,
	"SELECT state, sqlstate FROM pg_background_outcome($hpid, $hcookie)");
is($out, 'error|22012', '(1) error job: outcome error, 22012');
ok( $node->poll_query_until(
		'postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $P", '0'),
	'(1) error job: the worker exits instead of parking');
is($node->safe_psql('postgres', 'SELECT pool_idle FROM pg_background_admission()'),
	'0', '(1) error job: nothing parked');
($out, $err) = run_query($L, q{SELECT 'alive'});
is("$out$err", 'alive', '(1) the launcher is usable');

# A launch while the session holds an unread job of the parked worker's
# pid goes to another worker: a pid never names two jobs of a session.
# (A block: part 3 has a $Q and an $R of its own.)
{
	($out, $err) = pool_job($L, 'SELECT pg_backend_pid()', 'p int');
	my $Q = $out;
	wait_parked($node, '(1) before the unread job', 1);
	($out, $err) = run_query($L, q{SELECT pg_background_launch('SELECT pg_backend_pid()')});
	is("$out$err", $Q, '(1) a v1 launch handed to the parked worker returns its pid');
	wait_parked($node, '(1) with a job of that worker unread', 1);
	($out, $err) = run_query($L, q{SELECT pg_background_launch('SELECT 1/0')});
	like($out, qr/^\d+$/, '(1) the next launch returns a pid');
	isnt($out, $Q, '(1) ... of another worker');
	my $R = $out;
	($out, $err) = run_query($L, "SELECT * FROM pg_background_result($Q) AS (p int)");
	is("$out$err", $Q, '(1) the unread job of the parked worker is read');
	($out, $err) = run_query($L, "SELECT * FROM pg_background_result($R) AS (x int)");
	like($err, qr/${E}22012: division by zero$/m, '(1) and so is the other job');
	ok( $node->poll_query_until(
			'postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $R", '0'),
		'(1) the other worker exits (its job failed)');
}

# ---------------------------------------------------------------------------
# 2. No leak between jobs.
# ---------------------------------------------------------------------------
# Run job 1 (its result's first column is pg_backend_pid()), wait until the
# worker is parked, and return job 1's other columns and the pid.
sub first_job
{
	my ($what, $sql, $coldef) = @_;
	my ($o, $e) = pool_job($L, $sql, $coldef);
	is($e, '', "$what: job 1 ran");
	my ($pid, @rest) = split /\|/, $o;
	wait_parked($node, "$what: after job 1", 1);
	return ($pid // -1, join('|', @rest));
}

# Run a later job; assert it ran on $pid and return its other columns.
sub later_job
{
	my ($what, $pid, $sql, $coldef) = @_;
	my ($o, $e) = pool_job($L, $sql, $coldef);
	is($e, '', "$what: ran");
	my ($p, @rest) = split /\|/, $o;
	is($p, $pid, "$what: on the same worker as job 1");
	return join('|', @rest);
}

my ($W, $r);

# (a) temporary tables
($out, $err) = pool_job($L,
	q{CREATE TEMP TABLE x (i int); INSERT INTO x VALUES (7); SELECT pg_backend_pid(), i FROM pg_temp.x},
	'p int, i int');
is($err, '', '(2a) temp table: job 1 ran');
($W, $r) = split /\|/, $out;
is($r, '7', '(2a) job 1 created and filled pg_temp.x');
ok( $node->poll_query_until(
		'postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $W", '0'),
	'(2a) its worker exits instead of parking');
($out, $err) = pool_job($L, q{SELECT pg_backend_pid(), to_regclass('pg_temp.x') IS NULL},
	'p int, gone bool');
is($err, '', '(2a) job 2 ran');
my $p2;
($p2, $r) = split /\|/, $out;
isnt($p2, $W, '(2a) job 2 ran on another worker');
is($r, 't', '(2a) job 2 sees no pg_temp.x');

# (b) prepared statements
wait_parked($node, '(2b) before job 1', 1);
($W, $r) = first_job('(2b) prepared statements',
	q{PREPARE leak_p AS SELECT 1; SELECT pg_backend_pid(), count(*) FROM pg_prepared_statements},
	'p int, n bigint');
is($r, '1', '(2b) job 1 prepared a statement');
$r = later_job('(2b) job 2', $W,
	q{SELECT pg_backend_pid(), count(*) FROM pg_prepared_statements},
	'p int, n bigint');
is($r, '0', '(2b) job 2 sees no prepared statement');

# (c) advisory locks
wait_parked($node, '(2c) before job 1', 1);
($W, $r) = first_job('(2c) advisory lock',
	q{SELECT pg_backend_pid(), 'locked' FROM pg_advisory_lock(42)},
	'p int, what text');
is($r, 'locked', '(2c) job 1 took advisory lock 42');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = $W"),
	'0', '(2c) the parked worker holds no advisory lock');
is( $node->safe_psql('postgres',
		'SELECT pg_try_advisory_lock(42), pg_advisory_unlock(42)'),
	't|t', '(2c) another session takes advisory lock 42 without blocking');
$r = later_job('(2c) job 2', $W,
	q{SELECT pg_backend_pid(), count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()},
	'p int, n bigint');
is($r, '0', '(2c) job 2 holds no advisory lock');

# (d) GUCs
my ($launcher_work_mem) = run_query($L, 'SHOW work_mem');
wait_parked($node, '(2d) before job 1', 1);
($W, $r) = first_job('(2d) GUC',
	q{SET work_mem = '77MB'; SELECT pg_backend_pid(), current_setting('work_mem')},
	'p int, w text');
is($r, '77MB', '(2d) job 1 set work_mem');
$r = later_job('(2d) job 2', $W,
	q{SELECT pg_backend_pid(), current_setting('work_mem')}, 'p int, w text');
is($r, $launcher_work_mem, "(2d) job 2 sees the launcher's work_mem ($launcher_work_mem)");
run_query($L, q{SET work_mem = '5MB'});
wait_parked($node, '(2d) before job 3', 1);
$r = later_job('(2d) job 3', $W,
	q{SELECT pg_backend_pid(), current_setting('work_mem')}, 'p int, w text');
is($r, '5MB', "(2d) job 3 inherits the launcher's SET work_mem = '5MB'");
run_query($L, q{RESET work_mem});
wait_parked($node, '(2d) before job 4', 1);
$r = later_job('(2d) job 4', $W,
	q{SELECT pg_backend_pid(), current_setting('work_mem')}, 'p int, w text');
is($r, $launcher_work_mem, "(2d) after the launcher's RESET, job 4 sees $launcher_work_mem again");

# (e) SET ROLE, SET SESSION AUTHORIZATION
wait_parked($node, '(2e) before job 1', 1);
($W, $r) = first_job('(2e) SET ROLE',
	q{SET ROLE regress_alice; SELECT pg_backend_pid(), current_user::text},
	'p int, u text');
is($r, 'regress_alice', '(2e) job 1 is regress_alice after SET ROLE');
$r = later_job('(2e) job 2', $W,
	q{SELECT pg_backend_pid(), current_user::text, session_user::text},
	'p int, u text, s text');
is($r, "$me|$me", "(2e) job 2's current_user and session_user are the launcher's");
wait_parked($node, '(2e) before the SET SESSION AUTHORIZATION job', 1);
$r = later_job('(2e) SET SESSION AUTHORIZATION job', $W,
	q{SET SESSION AUTHORIZATION regress_bob; SELECT pg_backend_pid(), session_user::text, current_user::text},
	'p int, s text, u text');
is($r, 'regress_bob|regress_bob', '(2e) that job is regress_bob');
wait_parked($node, '(2e) after the SET SESSION AUTHORIZATION job', 1);
$r = later_job('(2e) the job after it', $W,
	q{SELECT pg_backend_pid(), session_user::text, current_user::text},
	'p int, s text, u text');
is($r, "$me|$me", "(2e) the next job's session_user is the launcher's again");
run_query($L, 'SET ROLE regress_alice');
wait_parked($node, '(2e) before the launcher-side SET ROLE job', 1);
$r = later_job('(2e) job after the launcher SET ROLE', $W,
	q{SELECT pg_backend_pid(), current_user::text}, 'p int, u text');
is($r, 'regress_alice', "(2e) the launcher's SET ROLE reaches the job");
run_query($L, 'RESET ROLE');
wait_parked($node, '(2e) before the job after RESET ROLE', 1);
$r = later_job('(2e) job after the launcher RESET ROLE', $W,
	q{SELECT pg_backend_pid(), current_user::text}, 'p int, u text');
is($r, $me, "(2e) after the launcher's RESET ROLE, the job is the launcher again");

# (f) security context of the launcher
$node->safe_psql('postgres', q{
CREATE FUNCTION alice_job() RETURNS text LANGUAGE sql SECURITY DEFINER AS $f$
  SELECT r FROM pg_background_result(pg_background_launch(
    'SELECT pg_backend_pid() || ''|'' || current_user')) AS (r text)
$f$;
ALTER FUNCTION alice_job() OWNER TO regress_alice;
});
wait_parked($node, '(2f) before job 1', 1);
($out, $err) = run_query($L, 'SELECT alice_job()');
is($err, '', '(2f) job 1 (from the SECURITY DEFINER function) ran');
my ($j1_pid, $j1_user) = split /\|/, $out;
isnt($j1_pid, $W,
	'(2f) job 1 did not take the parked worker: it connects as the owner');
is($j1_user, 'regress_alice', '(2f) job 1 ran as the function owner regress_alice');
wait_parked($node, '(2f) after job 1', 1);
$r = later_job('(2f) job 2', $W,
	q{SELECT pg_backend_pid(), current_user::text, session_user::text},
	'p int, u text, s text');
is($r, "$me|$me", '(2f) the plain job 2 runs as the plain launcher again');
wait_parked($node, '(2f) after job 2', 1);
$r = later_job('(2f) job 3', $W,
	q{SET ROLE regress_bob; SELECT pg_backend_pid(), current_user::text},
	'p int, u text');
is($r, 'regress_bob',
	'(2f) job 3 may SET ROLE: no security-definer restriction is left over');

# (g) a job that launches a job of its own
wait_parked($node, '(2g) before job 1', 1);
($out, $err) = pool_job($L,
	q{SELECT pg_backend_pid(), (SELECT r FROM pg_background_result(pg_background_launch('SELECT 7')) AS (r int))},
	'p int, r int');
is($err, '', '(2g) job 1 (launching a job itself) ran');
my $G;
($G, $r) = split /\|/, $out;
is($G, $W, '(2g) job 1 ran on the parked worker');
is($r, '7', '(2g) job 1 read the result of the job it launched');
ok( $node->poll_query_until(
		'postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $G", '0'),
	'(2g) its worker exits instead of parking');
wait_parked($node, '(2g) after job 1 (the inner job\'s worker)', 1);
($out, $err) = pool_job($L,
	q{SELECT pg_backend_pid(), (SELECT workers_launched FROM pg_background_stats_v2())},
	'p int, n bigint');
is($err, '', '(2g) job 2 ran');
($W, $r) = split /\|/, $out;
isnt($W, $G, '(2g) job 2 ran on another worker');
is($r, '0', '(2g) job 2 sees no job launched in its session (pg_background_stats_v2)');

# ---------------------------------------------------------------------------
# 3. Keying: another session user, another database.
# ---------------------------------------------------------------------------
wait_parked($node, '(3) before', 1);
$P = $W;
my $parked_sql =
  "SELECT backend_type, state FROM pg_stat_activity WHERE pid = $P";
my $bob = pool_session($node, 'regress_bob');
($out, $err) = pool_job($bob, 'SELECT pg_backend_pid(), current_user::text', 'p int, u text');
is($err, '', "(3) regress_bob's job ran");
my ($Q, $bob_user) = split /\|/, $out;
isnt($Q, $P, "(3) regress_bob's job did not take the launcher's parked worker");
is($bob_user, 'regress_bob', "(3) regress_bob's job runs as regress_bob");
is($node->safe_psql('postgres', $parked_sql), 'pg_background|idle',
	"(3) the launcher's worker is still parked (idle)");
wait_parked($node, "(3) regress_bob's worker parks too", 2);
is( $node->safe_psql('postgres',
		"SELECT usename, state FROM pg_stat_activity WHERE pid = $Q"),
	'regress_bob|idle', "(3) regress_bob's worker is parked as regress_bob");

my $db2 = pool_session($node, undef, 'pool_db2');
($out, $err) = pool_job($db2, 'SELECT pg_backend_pid(), current_database()::text', 'p int, d text');
is($err, '', '(3) the pool_db2 job ran');
my ($R, $dbname) = split /\|/, $out;
ok($R ne $P && $R ne $Q, "(3) the pool_db2 job took no parked worker of the other database");
is($dbname, 'pool_db2', '(3) it ran in pool_db2');
is($node->safe_psql('postgres', $parked_sql), 'pg_background|idle',
	"(3) the launcher's worker is still parked (idle)");
$db2->quit;

($out, $err) = pool_job($L, 'SELECT pg_backend_pid()', 'p int');
is($out, $P, "(3) the launcher's next job still takes its parked worker");
wait_parked($node, '(3) after it', 2);
($out, $err) = pool_job($bob, 'SELECT pg_backend_pid(), current_user::text', 'p int, u text');
is($out, "$Q|regress_bob", "(3) regress_bob's next job takes regress_bob's parked worker");
$bob->quit;
wait_parked($node, '(3) at the end', 2);

# ---------------------------------------------------------------------------
# 6. Memory of an idle parked worker (P, which has run the jobs above).
# ---------------------------------------------------------------------------
SKIP:
{
	# (Pss, "Rss a, Pss_Anon b, ...") of a process, or () if unreadable.
	my $rollup = sub {
		my ($pid) = @_;
		my ($pss, @detail);
		open(my $fh, '<', "/proc/$pid/smaps_rollup") or return ();
		while (<$fh>)
		{
			$pss = $1 if /^Pss:\s+(\d+) kB/;
			push @detail, "$1 $2" if /^(Rss|Pss_\w+):\s+(\d+) kB/;
		}
		close $fh;
		return defined $pss ? ($pss, join(', ', @detail)) : ();
	};
	# A parked worker trims its free memory once it has been idle for a
	# moment: wait (with a deadline) until its private memory is in bounds.
	my ($pss, $detail) = $rollup->($P);
	skip "/proc/$P/smaps_rollup is not readable", 1 unless defined $pss;
	my $deadline = time() + 30;
	while ((($detail =~ /Pss_Anon (\d+)/)[0] // 0) > 5120 && time() < $deadline)
	{
		select(undef, undef, undef, 0.05);
		($pss, $detail) = $rollup->($P);
	}
	diag("PSS of the idle parked worker (PID $P): $pss kB ($detail kB)");
	# For comparison only: the launcher's own idle backend.
	my ($lpid) = run_query($L, 'SELECT pg_backend_pid()');
	my ($lpss, $ldetail) = $rollup->($lpid);
	diag("PSS of the launcher's idle backend (PID $lpid): $lpss kB ($ldetail kB)")
	  if defined $lpss;
	my ($anon) = $detail =~ /Pss_Anon (\d+)/;
	SKIP:
	{
		skip 'no Pss_Anon in smaps_rollup', 1 unless defined $anon;
		cmp_ok($anon, '<=', 5120,
			'(6) an idle parked worker\'s private memory (Pss_Anon) is at most 5 MB (within 30 s)');
	}
	# Shared memory left out: which pages of shared buffers (and of the job
	# directory) a process has touched depends on what it ran, and those
	# pages exist whether the pool does or not.
	my ($shmem) = $detail =~ /Pss_Shmem (\d+)/;
	my ($lshmem) = ($ldetail // '') =~ /Pss_Shmem (\d+)/;
	SKIP:
	{
		skip "the launcher's smaps_rollup is not readable (or has no Pss_Shmem)", 1
		  unless defined $lpss && defined $shmem && defined $lshmem;
		cmp_ok($pss - $shmem, '<=', $lpss - $lshmem + 1024,
			'(6) apart from shared memory, an idle parked worker costs at most 1 MB more PSS than an idle session'
		);
	}
}

# ---------------------------------------------------------------------------
# 4. Idle timeout.
# ---------------------------------------------------------------------------
$L->quit;
$node->safe_psql('postgres', 'ALTER SYSTEM SET pg_background.pool_idle_timeout = 1');
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
ok($node->poll_query_until('postgres', 'SHOW pg_background.pool_idle_timeout', '1s'),
	'(4) pool_idle_timeout is now 1s');
# The workers parked before the reload were parked for 3600 s: a worker
# that misses the reload would stay far longer than this 60 s deadline.
my $drained = poll_until($node, $workers_sql, '0', 60);
ok($drained, '(4a) the workers parked before the reload exit too (within 60 s, timeout now 1 s)');
if (!$drained)
{
	diag('still parked: ' . $node->safe_psql('postgres',
		q{SELECT string_agg(pid || ' ' || usename || ' ' || state, ', ') FROM pg_stat_activity WHERE backend_type = 'pg_background'}));
	# Let part (b) start from an empty pool all the same.
	$node->safe_psql('postgres',
		q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'pg_background'});
	$node->poll_query_until('postgres', $workers_sql, '0');
}
$L = pool_session($node);
($out, $err) = pool_job($L, 'SELECT pg_backend_pid()', 'p int');
is($err, '', '(4b) a job after the reload ran');
like($out, qr/^\d+$/, '(4b) and returned its pid');
ok($node->poll_query_until('postgres', $workers_sql, '0'),
	'(4b) its worker exits after the idle timeout: no pg_background backend is left');
is($node->safe_psql('postgres', 'SELECT pool_idle FROM pg_background_admission()'),
	'0', '(4b) nothing parked');
$L->quit;

# ---------------------------------------------------------------------------
# 5. Parked workers give their slots to queued jobs.
# ---------------------------------------------------------------------------
my $node2 = pool_node('pool_slots', max_worker_processes => 4,
	roles => [ 'regress_a', 'regress_b' ]);
is( $node2->safe_psql('postgres',
		q{SELECT 4 - count(*) FROM pg_stat_activity
		  WHERE backend_type IN ('pg_background dispatcher', 'logical replication launcher')}),
	'2', '(5) two worker slots are free for jobs');

my $locker = $node2->background_psql('postgres');
$locker->query_safe('SELECT pg_advisory_lock(7001)');
my $A = pool_session($node2, 'regress_a');
my @handles;
for (1 .. 2)
{
	($out, $err) = run_query($A,
		q{SELECT pid, cookie FROM pg_background_launch_v2(
			'SELECT pg_backend_pid() FROM pg_advisory_xact_lock_shared(7001)')});
	is($err, '', '(5) regress_a launched a blocked job');
	push @handles, [ split /\|/, $out ];
}
ok( $node2->poll_query_until(
		'postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_background' AND wait_event = 'advisory'},
		'2'),
	'(5) two workers of regress_a run at once');
$locker->query_safe('SELECT pg_advisory_unlock(7001)');
$locker->quit;
my @apids;
for my $h (@handles)
{
	($out, $err) = run_query($A,
		"SELECT * FROM pg_background_result_v2($h->[0], $h->[1]) AS (p int)");
	is($err, '', '(5) a regress_a job finished');
	push @apids, $out;
}
isnt($apids[0], $apids[1], '(5) on two different workers');
wait_parked($node2, '(5) both regress_a workers', 2);

my $B = pool_session($node2, 'regress_b');
($out, $err) = run_query($B,
	q{SELECT pid, cookie FROM pg_background_launch_v2('SELECT pg_backend_pid(), current_user::text')});
is($err, '', '(5) regress_b launched a job with no worker slot free');
my ($bpid, $bcookie) = split /\|/, $out;
ok(defined $bpid && $bpid < 0, "(5) it was queued (negative pid $bpid)");
# Wait through a superuser session, so that a job that never runs fails the
# poll instead of hanging the test.
ok( $node2->poll_query_until(
		'postgres',
		"SELECT state FROM pg_background_outcome($bpid, $bcookie)", 'stopped'),
	"(5) regress_b's job ran (a parked worker made room)");
($out, $err) = run_query($B,
	"SELECT * FROM pg_background_result_v2($bpid, $bcookie) AS (p int, u text)");
is($err, '', "(5) regress_b's result comes back without error");
my ($bwpid, $buser) = split /\|/, $out // '';
is($buser, 'regress_b', "(5) as regress_b");
ok(defined $bwpid && $bwpid ne $apids[0] && $bwpid ne $apids[1],
	"(5) on a worker of its own ($bwpid)");
ok( $node2->poll_query_until(
		'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE pid IN ($apids[0], $apids[1])", '1'),
	"(5) one of regress_a's parked workers was evicted");
is( $node2->safe_psql('postgres',
		"SELECT usename, state FROM pg_stat_activity WHERE pid IN ($apids[0], $apids[1])"),
	'regress_a|idle', "(5) the other one is still parked");
$A->quit;
$B->quit;

# ---------------------------------------------------------------------------
# 7. No crash.
# ---------------------------------------------------------------------------
for my $n ($node, $node2)
{
	$n->stop;
	my $log = slurp_file($n->logfile);
	my $name = $n->name;
	unlike($log, qr/terminated by signal/, "(7) $name: no process terminated by a signal");
	unlike($log, qr/TRAP:/, "(7) $name: no TRAP");
	unlike($log, qr/PANIC/, "(7) $name: no PANIC");
}

note('runtime: ' . (time - $start_time) . ' s');
done_testing();
