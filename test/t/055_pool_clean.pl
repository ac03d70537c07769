# A pooled worker is indistinguishable from a fresh one to the job it runs;
# where it cannot prove that, it exits instead of parking (issue 14).  On a
# node with shared_preload_libraries = 'pg_background', pool_size = 2,
# pool_idle_timeout = 3600 and max_worker_processes = 8.  "Parked" means:
# pg_background_admission().pool_idle counts it.  Every pair of jobs below
# runs from the same launcher (same login role), the second once the first
# one's worker W has parked or exited.
#
# 1. State the worker resets (it stays parked, job 2 runs on W):
#    (a) random(): job 1 runs setseed(0.42) and gets the first value r1 of
#        that sequence (computed in a plain session); job 2's random() is
#        neither r1 nor r2, the sequence's next value: the worker was
#        reseeded.
#    (b) statistics: six jobs on W insert 1,000 rows each into a table;
#        pg_stat_user_tables.n_tup_ins of the table reaches 6,000 (polled
#        from new sessions) while W is still parked.
#    (c) a launcher whose client_encoding (LATIN1) differs from its
#        database's (UTF8): restoring its settings loads core's conversion
#        library (the worker maps utf8_and_iso8859_1, if /proc/W/maps is
#        readable), which is not the job's doing: its two jobs run on the
#        same worker.
#    (d) a launcher whose connection options (PGOPTIONS) set DateStyle and
#        extra_float_digits: job 1, on the parked worker W, has them (source
#        "session") and sets work_mem; W parks again, and job 2, from a
#        launcher without those options, runs on W with the server's
#        DateStyle, extra_float_digits and work_mem.
# 2. State the worker cannot reset: it exits (it leaves pg_stat_activity)
#    and job 2 runs on another worker, which shows nothing of job 1:
#    (a) a placeholder: job 1 set_config('x.y', 'v', false); job 2's
#        current_setting('x.y', true) IS NULL (a fresh worker has no x.y;
#        a reused one would read '').  Likewise a placeholder of the
#        launcher: a job from a session that SET app.tenant = '7' sees '7';
#        the next job, from a session without it, sees NULL.  And a setting
#        fixed at connection start (ignore_system_indexes, which any user
#        may pass in PGOPTIONS): the launcher's goes to its job, RESET ALL
#        leaves it, so the worker exits; the next job sees 'off'.
#    (b) dblink: job 1 opens dblink_connect('leftover', ...); the launcher
#        then SET ROLE regress_alice; job 2 (as regress_alice) sees
#        dblink_get_connections() IS NULL.
#    (c) temporary tables: job 1 creates one (the local buffer pool is then
#        sized for good); job 2 may SET temp_buffers = '32MB'.
#    (d) a temporary replication slot created by job 1 is gone once job 1
#        is over (it lived as long as the session that made it).
#    (e) a replication origin set up for the session by job 1: job 2's
#        pg_replication_origin_session_is_setup() is false.
#    (f) PL/pgSQL loaded by job 1 (a DO block) ends the worker too; once the
#        server preloads it (shared_preload_libraries = 'pg_background,
#        plpgsql', restart), a DO block leaves the worker parked: job 2
#        runs on W.
# 3. FATAL errors reach the launcher whatever the logging settings: with
#    log_min_messages = panic (ALTER SYSTEM + reload), a job waiting on an
#    advisory lock held by the test is ended with pg_terminate_backend of
#    its worker: (a) a job handed to a parked worker (its pid): the
#    launcher's pg_background_result_v2 raises 57P01, and
#    pg_background_outcome shows error, 57P01 and the message, from the
#    launcher and from another session (the directory); (b) the same for a
#    submitted job on a fresh worker (outcome only: it has no result).
# 4. The server log shows no process terminated by a signal, no TRAP, no
#    PANIC.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgbgTest qw(run_query pool_node pool_session pool_job wait_parked poll_until);

my $start_time = time;
my $E = qr/^(?:psql:\S+: )?ERROR:  /m;

my $node = pool_node('pool_clean', init => { allows_streaming => 1 },
	roles => ['regress_alice']);
$node->safe_psql('postgres', q{
CREATE EXTENSION dblink;
CREATE TABLE stats_t (i int);
});

my $L = pool_session($node);
my ($out, $err, $W, $r, $pid2);

# The worker $pid exits (within a minute) instead of parking.
sub gone
{
	my ($what, $pid) = @_;
	ok( poll_until($node,
			"SELECT count(*) FROM pg_stat_activity WHERE pid = $pid", '0', 60),
		"$what: the worker ($pid) exits instead of parking");
}

# Run job 1 of a pair (its first column is pg_backend_pid()); returns its
# pid and its other columns.
sub job1
{
	my ($what, $sql, $coldef) = @_;
	my ($o, $e) = pool_job($L, $sql, $coldef);
	is($e, '', "$what: job 1 ran");
	my ($pid, @rest) = split /\|/, $o // '';
	return ($pid // -1, join('|', @rest));
}

# ---------------------------------------------------------------------------
# 1a. random() is reseeded between jobs.
# ---------------------------------------------------------------------------
my $plain = pool_session($node);
run_query($plain, 'SELECT setseed(0.42)');
my ($r1) = run_query($plain, 'SELECT random()::text');
my ($r2) = run_query($plain, 'SELECT random()::text');
$plain->quit;
# One worker to start with, parked.
($out, $err) = pool_job($L, 'SELECT pg_backend_pid()', 'p int');
is($err, '', '(1) a first job ran');
wait_parked($node, '(1a) before job 1', 1);
($W, $r) = job1('(1a) random',
	q{SELECT pg_backend_pid(), random()::text FROM (SELECT setseed(0.42)) s},
	'p int, r text');
is($r, $r1, '(1a) job 1 got the first value of setseed(0.42)\'s sequence');
wait_parked($node, '(1a) after job 1', 1);
($out, $err) = pool_job($L, q{SELECT pg_backend_pid(), random()::text}, 'p int, r text');
is($err, '', '(1a) job 2 ran');
($pid2, $r) = split /\|/, $out;
is($pid2, $W, '(1a) job 2 ran on the same (parked) worker');
ok($r ne $r2 && $r ne $r1,
	"(1a) job 2's random() does not continue job 1's sequence ($r; r1 $r1, r2 $r2)");

# ---------------------------------------------------------------------------
# 1b. Statistics are flushed after every job.
# ---------------------------------------------------------------------------
for my $i (1 .. 6)
{
	wait_parked($node, "(1b) before insert job $i", 1);
	($out, $err) = pool_job($L,
		q{WITH ins AS (INSERT INTO stats_t SELECT generate_series(1, 1000) RETURNING 1)
		  SELECT pg_backend_pid(), count(*) FROM ins},
		'p int, n bigint');
	is($err, '', "(1b) insert job $i ran");
	is($out, "$W|1000", "(1b) insert job $i inserted 1000 rows on the parked worker");
}
wait_parked($node, '(1b) after the insert jobs', 1);
ok( poll_until($node,
		q{SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = 'stats_t'},
		'6000', 60),
	'(1b) n_tup_ins reaches 6000');
is( $node->safe_psql('postgres',
		"SELECT backend_type, state FROM pg_stat_activity WHERE pid = $W"),
	'pg_background|idle', '(1b) while the worker is still parked');

# ---------------------------------------------------------------------------
# 1c. Libraries loaded to restore the launcher's settings.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', q{
CREATE DATABASE pool_utf8 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0});
$node->safe_psql('pool_utf8', 'CREATE EXTENSION pg_background');
my $U = pool_session($node, undef, 'pool_utf8');
run_query($U, q{SET client_encoding = 'LATIN1'});
($out, $err) = pool_job($U, 'SELECT pg_backend_pid()', 'p int');
is($err, '', '(1c) job 1 of the LATIN1 launcher ran');
my $W1 = $out;
# Parked: the worker of part 1b, and this one.
wait_parked($node, '(1c) after job 1', 2);
SKIP:
{
	open(my $fh, '<', "/proc/$W1/maps") or skip "/proc/$W1/maps is not readable", 1;
	my $maps = join('', <$fh>);
	close $fh;
	like($maps, qr/utf8_and_iso8859_1/,
		'(1c) the worker loaded the conversion library for LATIN1');
}
($out, $err) = pool_job($U, 'SELECT pg_backend_pid()', 'p int');
is($out, $W1, '(1c) job 2 ran on the same worker');
$U->quit;
# Leave only the worker of the postgres database parked.
$node->safe_psql('postgres', "SELECT pg_terminate_backend($W1)");
gone('(1c) terminated', $W1);

# ---------------------------------------------------------------------------
# 1d. Settings of the launcher's connection and of the job.
# ---------------------------------------------------------------------------
my $C;
{
	local $ENV{PGOPTIONS} = '-c datestyle=SQL,DMY -c extra_float_digits=3';
	$C = pool_session($node);
}
wait_parked($node, '(1d) before job 1', 1);
($out, $err) = pool_job($C,
	q{SELECT pg_backend_pid(), current_setting('datestyle'),
	         (SELECT source FROM pg_settings WHERE name = 'DateStyle'),
	         current_setting('extra_float_digits'),
	         set_config('work_mem', '7MB', false)},
	'p int, ds text, src text, efd text, wm text');
is($err, '', '(1d) job 1 of the launcher with connection options ran');
is($out, "$W|SQL, DMY|session|3|7MB",
	'(1d) job 1 ran on the parked worker with the launcher\'s connection options (as SET) and set work_mem');
wait_parked($node, '(1d) after job 1', 1);
($out, $err) = pool_job($L,
	q{SELECT pg_backend_pid(), current_setting('datestyle'),
	         current_setting('extra_float_digits'), current_setting('work_mem')},
	'p int, ds text, efd text, wm text');
is($err, '', '(1d) job 2 of a launcher without them ran');
is($out, "$W|ISO, MDY|1|4MB",
	'(1d) job 2 ran on the same worker, with the server\'s defaults: nothing of job 1 or its launcher');
$C->quit;

# ---------------------------------------------------------------------------
# 2a. Placeholders: of the job, of the launcher.
# ---------------------------------------------------------------------------
($W, $r) = job1('(2a) placeholder',
	q{SELECT pg_backend_pid(), set_config('x.y', 'v', false)}, 'p int, v text');
is($r, 'v', '(2a) job 1 set x.y');
gone('(2a) after set_config', $W);
($out, $err) = pool_job($L,
	q{SELECT pg_backend_pid(), current_setting('x.y', true) IS NULL}, 'p int, missing bool');
is($err, '', '(2a) job 2 ran');
($pid2, $r) = split /\|/, $out;
isnt($pid2, $W, '(2a) job 2 ran on another worker');
is($r, 't', "(2a) job 2 has no x.y (current_setting('x.y', true) IS NULL)");

# A job of launcher session $T (its setting: $what) sees $seen in $value
# (an expression); its worker exits; the next job, from $L, sees $after.
sub launcher_setting
{
	my ($T, $what, $value, $seen, $after) = @_;
	wait_parked($node, "(2a) before the job of the launcher with $what", 1);
	my ($o, $e) = pool_job($T, "SELECT pg_backend_pid(), $value", 'p int, v text');
	is($e, '', "(2a) the job of the launcher with $what ran");
	my ($w, $v) = split /\|/, $o // '';
	is($v, $seen, "(2a) it sees the launcher's $what");
	$T->quit;
	gone("(2a) after a job with the launcher's $what", $w // -1);
	($o, $e) = pool_job($L, "SELECT pg_backend_pid(), $value", 'p int, v text');
	(undef, $v) = split /\|/, $o // '';
	is($v, $after, "(2a) the next job, from a launcher without it, sees $after");
}

my $T = pool_session($node);
run_query($T, q{SET app.tenant = '7'});
launcher_setting($T, 'app.tenant',
	q{coalesce(current_setting('app.tenant', true), '(none)')}, '7', '(none)');
{
	local $ENV{PGOPTIONS} = '-c ignore_system_indexes=on';
	$T = pool_session($node);
}
launcher_setting($T, 'ignore_system_indexes',
	q{current_setting('ignore_system_indexes')}, 'on', 'off');

# ---------------------------------------------------------------------------
# 2b. A library loaded by a job (dblink) and its open connection.
# ---------------------------------------------------------------------------
my $connstr = 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres';
($W, $r) = job1('(2b) dblink',
	"SELECT pg_backend_pid(), dblink_connect('leftover', '$connstr')",
	'p int, c text');
is($r, 'OK', '(2b) job 1 opened a dblink connection');
gone('(2b) after dblink_connect', $W);
run_query($L, 'SET ROLE regress_alice');
($out, $err) = pool_job($L,
	q{SELECT pg_backend_pid(), current_user::text, dblink_get_connections() IS NULL},
	'p int, u text, none bool');
is($err, '', '(2b) job 2 ran');
($pid2, $r) = split /\|/, $out, 2;
isnt($pid2, $W, '(2b) job 2 ran on another worker');
is($r, 'regress_alice|t', '(2b) job 2 (as regress_alice) sees no dblink connection');
run_query($L, 'RESET ROLE');

# ---------------------------------------------------------------------------
# 2c. Temporary tables fix the size of the local buffer pool.
# ---------------------------------------------------------------------------
($W, $r) = job1('(2c) temp table',
	q{CREATE TEMP TABLE tt (i int); INSERT INTO tt VALUES (1); SELECT pg_backend_pid(), count(*) FROM tt},
	'p int, n bigint');
is($r, '1', '(2c) job 1 used a temporary table');
gone('(2c) after a temporary table', $W);
($out, $err) = pool_job($L,
	q{SET temp_buffers = '32MB'; SELECT pg_backend_pid(), current_setting('temp_buffers')},
	'p int, t text');
is($err, '', '(2c) job 2 may SET temp_buffers');
($pid2, $r) = split /\|/, $out // '';
is($r, '32MB', '(2c) job 2 has temp_buffers = 32MB');

# ---------------------------------------------------------------------------
# 2d. A temporary replication slot lives as long as the job's session.
# ---------------------------------------------------------------------------
($W, $r) = job1('(2d) temporary slot',
	q{SELECT pg_backend_pid(), slot_name::text FROM pg_create_physical_replication_slot('pool_tmp_slot', true, true)},
	'p int, s text');
is($r, 'pool_tmp_slot', '(2d) job 1 created a temporary replication slot');
gone('(2d) after a temporary replication slot', $W);
is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'pool_tmp_slot'}),
	'0', '(2d) the temporary slot is gone');

# ---------------------------------------------------------------------------
# 2e. A replication origin set up for the session.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', q{SELECT pg_replication_origin_create('pool_origin')});
($W, $r) = job1('(2e) replication origin',
	q{SELECT pg_backend_pid(), pg_replication_origin_session_is_setup() FROM pg_replication_origin_session_setup('pool_origin')},
	'p int, s bool');
is($r, 't', '(2e) job 1 set up a replication origin for its session');
gone('(2e) after a replication origin session', $W);
($out, $err) = pool_job($L,
	q{SELECT pg_backend_pid(), pg_replication_origin_session_is_setup()}, 'p int, s bool');
($pid2, $r) = split /\|/, $out // '';
is($r, 'f', '(2e) job 2 has no replication origin set up');

# ---------------------------------------------------------------------------
# 2f. PL/pgSQL: loaded by a job, it ends the worker too; preloaded with the
#     server (shared_preload_libraries), it does not.
# ---------------------------------------------------------------------------
($W, $r) = job1('(2f) PL/pgSQL loaded by the job',
	q{DO $$BEGIN PERFORM 1; END$$; SELECT pg_backend_pid(), 'did'},
	'p int, r text');
is($r, 'did', '(2f) job 1 ran a DO block');
gone('(2f) after PL/pgSQL was loaded', $W);
$L->quit;
$node->append_conf('postgresql.conf',
	q{shared_preload_libraries = 'pg_background, plpgsql'});
$node->restart;
$L = pool_session($node);
($out, $err) = pool_job($L, 'SELECT pg_backend_pid()', 'p int');
is($err, '', '(2f) after the restart, a first job ran');
wait_parked($node, '(2f) before job 1', 1);
($W, $r) = job1('(2f) PL/pgSQL preloaded',
	q{DO $$BEGIN PERFORM 1; END$$; SELECT pg_backend_pid(), 'did'},
	'p int, r text');
is($r, 'did', '(2f) job 1 ran a DO block');
wait_parked($node, '(2f) after job 1', 1);
($out, $err) = pool_job($L, 'SELECT pg_backend_pid()', 'p int');
is($out, $W, '(2f) with PL/pgSQL preloaded, the worker parked and ran job 2');

# ---------------------------------------------------------------------------
# 3. FATAL with log_min_messages = panic.
# ---------------------------------------------------------------------------
$L->quit;
$node->safe_psql('postgres', 'ALTER SYSTEM SET log_min_messages = panic');
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
ok($node->poll_query_until('postgres', 'SHOW log_min_messages', 'panic'),
	'(3) log_min_messages is panic');
$L = pool_session($node);
my $fatal = 'error|57P01|terminating background worker "pg_background" due to administrator command';
my $locker = $node->background_psql('postgres');
$locker->query_safe('SELECT pg_advisory_lock(9001)');
my $waiting_sql =
  q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_background' AND wait_event = 'advisory'};

# (a) pooled, launched.
($out, $err) = pool_job($L, 'SELECT pg_backend_pid()', 'p int');
$W = $out;
wait_parked($node, '(3a) before the job', 1);
($out, $err) = run_query($L,
	q{SELECT pid, cookie FROM pg_background_launch_v2('SELECT 1 FROM pg_advisory_xact_lock_shared(9001)')});
my ($hpid, $hcookie) = split /\|/, $out;
is($hpid, $W, '(3a) the job was handed to the parked worker (its pid)');
ok($node->poll_query_until('postgres', $waiting_sql, $W),
	'(3a) it waits on the advisory lock, on the parked worker');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($W)");
($out, $err) = run_query($L,
	"SELECT * FROM pg_background_result_v2($hpid, $hcookie) AS (x int)");
like($err,
	qr/${E}57P01: terminating background worker "pg_background" due to administrator command$/m,
	"(3a) the launcher's result raises 57P01");
($out) = run_query($L,
	"SELECT state, sqlstate, message FROM pg_background_outcome($hpid, $hcookie)");
is($out, $fatal, '(3a) the outcome seen by the launcher: 57P01');
is( $node->safe_psql('postgres',
		"SELECT state, sqlstate, message FROM pg_background_outcome($hpid, $hcookie)"),
	$fatal, '(3a) the outcome seen by another session (directory): 57P01');

# (b) fresh, submitted.
gone('(3a) terminated', $W);
($out, $err) = run_query($L,
	q{SELECT pid, cookie FROM pg_background_submit_v2('SELECT 1 FROM pg_advisory_xact_lock_shared(9001)')});
($hpid, $hcookie) = split /\|/, $out;
ok($hpid > 0, '(3b) the submitted job got a fresh worker');
ok($node->poll_query_until('postgres', $waiting_sql, $hpid),
	'(3b) it waits on the advisory lock');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($hpid)");
ok( $node->poll_query_until('postgres',
		"SELECT state FROM pg_background_outcome($hpid, $hcookie)", 'error'),
	'(3b) the submitted job ended');
is( $node->safe_psql('postgres',
		"SELECT state, sqlstate, message FROM pg_background_outcome($hpid, $hcookie)"),
	$fatal, '(3b) its outcome: 57P01');
$locker->quit;
$L->quit;
$node->safe_psql('postgres', 'ALTER SYSTEM RESET log_min_messages');
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');

# ---------------------------------------------------------------------------
# 4. No crash.
# ---------------------------------------------------------------------------
$node->stop;
my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal/, '(4) no process terminated by a signal');
unlike($log, qr/TRAP:/, '(4) no TRAP');
unlike($log, qr/PANIC/, '(4) no PANIC');

note('runtime: ' . (time - $start_time) . ' s');
done_testing();
