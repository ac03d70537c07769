# Deadlocks between a launcher and its workers: the exact error, every kind
# of wait, and what the launcher's transaction does to the worker.
#
# (The two-session scenarios, with stable output, are the isolation specs
# test/specs/deadlock_*.spec; this file checks what they mask: the real
# PID, transaction ID, relation OID and advisory key in the error, as a
# client sees it with VERBOSITY verbose.)
#
# (a) Row lock, pg_background_result, inside BEGIN: 40P01 whose message
#     names the worker's PID and whose DETAIL names "ShareLock on
#     transaction <the launcher's xid>"; the error aborts the launcher's
#     transaction, which releases its locks at once: the worker's UPDATE
#     commits while the launcher is still in the aborted transaction block.
# (b) Table lock, pg_background_wait_v2_timeout with a long timeout: 40P01
#     (not a timeout, not false), DETAIL names the relation's OID; after
#     ROLLBACK the job finishes and its result is still readable.
# (c) Advisory lock, pg_background_wait_any: 40P01 naming the advisory key.
# (d) A job whose worker waits for a lock held by ANOTHER job of the same
#     session, itself blocked on its full queue (nobody reads it while the
#     launcher waits for the second job): the launcher must not hang
#     (every wait drains the session's other queues, so job A finishes and
#     the wait completes); bounded by statement_timeout.
# (e) wait_any over a deadlocked job and a job that finishes by itself
#     returns the latter: only a wait that can never end is a deadlock.
# (f) No crash.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgbgTest;

# psql prefixes errors with "psql:<stdin>:N: " when reading a script.
my $E = qr/^(?:psql:\S+: )?ERROR:  /m;

my $node = PostgreSQL::Test::Cluster->new('deadlock');
$node->init;
$node->append_conf('postgresql.conf', qq{
max_worker_processes = 16
log_min_messages = log
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_background;
CREATE TABLE dl (id int PRIMARY KEY, val text);
INSERT INTO dl VALUES (1, 'orig');
CREATE TABLE dl_tab (i int);
INSERT INTO dl_tab VALUES (1), (2);
CREATE TABLE dl_log (what text);
});

my $launcher = $node->background_psql(
	'postgres',
	on_error_stop => 0,
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
$launcher->set_query_timer_restart;
my ($launcher_pid) = run_query($launcher, 'SELECT pg_backend_pid()');
my ($out, $err, $wpid, $cookie);

($out, $err) = run_query($launcher, q{SET deadlock_timeout = '100ms'});
is($err, '', 'SET deadlock_timeout = 100ms');

# ---------------------------------------------------------------------------
# (a) Row lock, v1 result, error aborts the launcher's transaction.
# ---------------------------------------------------------------------------
($out, $err) = run_query($launcher,
	q{BEGIN; UPDATE dl SET val = 'launcher' WHERE id = 1; SELECT pg_current_xact_id()});
my $xid = $out;
like($xid, qr/^\d+$/, '(a) launcher updated the row, has an xid');
($wpid, $err) = run_query($launcher,
	q{SELECT pg_background_launch('UPDATE dl SET val = val || ''+worker'' WHERE id = 1')});
is($err, '', '(a) launch');
($out, $err) = run_query($launcher,
	"SELECT * FROM pg_background_result($wpid) AS (r text)");
like($err,
	qr/${E}40P01: deadlock detected between this session and background worker with PID $wpid$/m,
	'(a) 40P01 naming the worker PID');
like($err,
	qr/^DETAIL:  The background worker waits for ShareLock on transaction $xid, which this session holds \(directly or through other sessions\), while this session waits for the worker\.$/m,
	"(a) DETAIL names the launcher's transaction");
like($err, qr/^HINT:  End the transaction that holds the lock/m, '(a) with a HINT');
unlike($err, qr/^CONTEXT:  background worker/m,
	"(a) the error is the launcher's own, not the worker's");
# The launcher is now in an aborted transaction block: its locks are gone.
ok( $node->poll_query_until(
		'postgres', q{SELECT val FROM dl WHERE id = 1}, 'orig+worker'),
	"(a) the worker's UPDATE committed while the launcher's block is aborted");
($out, $err) = run_query($launcher, 'SELECT 1');
like($err, qr/${E}25P02: current transaction is aborted/m,
	'(a) the launcher is indeed still inside its aborted block');
($out, $err) = run_query($launcher, 'ROLLBACK');
is($err, '', '(a) ROLLBACK');
($out, $err) = run_query($launcher,
	"SELECT * FROM pg_background_result($wpid) AS (r text)");
like($err, qr/${E}42704: results for PID $wpid have already been consumed$/m,
	'(a) the failed read counted as the read');
($out, $err) = run_query($launcher, "SELECT pg_background_detach($wpid)");
is($err, '', '(a) detach');

# ---------------------------------------------------------------------------
# (b) Table lock, wait_v2_timeout with a timeout far beyond deadlock_timeout.
# ---------------------------------------------------------------------------
($out, $err) = run_query($launcher,
	q{BEGIN; LOCK TABLE dl_tab IN ACCESS EXCLUSIVE MODE;
	  SELECT h.pid || ' ' || h.cookie FROM pg_background_launch_v2('SELECT count(*) FROM dl_tab') h});
is($err, '', '(b) launch under ACCESS EXCLUSIVE');
($wpid, $cookie) = split / /, $out;
my $reloid = $node->safe_psql('postgres', q{SELECT 'dl_tab'::regclass::oid});
my $dboid = $node->safe_psql('postgres',
	q{SELECT oid FROM pg_database WHERE datname = 'postgres'});
($out, $err) = run_query($launcher,
	"SELECT pg_background_wait_v2_timeout($wpid, $cookie, 600000)");
like($err,
	qr/${E}40P01: deadlock detected between this session and background worker with PID $wpid$/m,
	'(b) wait_v2_timeout raises 40P01 instead of waiting out its timeout');
like($err,
	qr/^DETAIL:  The background worker waits for AccessShareLock on relation $reloid of database $dboid, which this session holds/m,
	'(b) DETAIL names the relation');
is($out, '', '(b) no result');
($out, $err) = run_query($launcher, 'ROLLBACK');
($out, $err) = run_query($launcher,
	"SELECT pg_background_wait_v2_timeout($wpid, $cookie, 600000)");
is($out, 't', '(b) after ROLLBACK the job finishes');
is($err, '', '(b) without error');
($out, $err) = run_query($launcher,
	"SELECT * FROM pg_background_result_v2($wpid, $cookie) AS (n bigint)");
is($out, '2', '(b) its result is still readable');
is($err, '', '(b) without error');

# ---------------------------------------------------------------------------
# (c) Advisory lock, wait_any.
# ---------------------------------------------------------------------------
($out, $err) = run_query($launcher,
	q{SELECT pg_advisory_lock(777001);
	  SELECT h.pid || ' ' || h.cookie FROM pg_background_launch_v2('INSERT INTO dl_log SELECT ''any'' FROM pg_advisory_xact_lock(777001)') h});
is($err, '', '(c) launch while holding an advisory lock');
($wpid, $cookie) = split / /, (split /\n/, $out)[-1];
($out, $err) = run_query($launcher,
	"SELECT pg_background_wait_any(ARRAY[($wpid, $cookie)::pg_background_handle])");
like($err,
	qr/${E}40P01: deadlock detected between this session and background worker with PID $wpid$/m,
	'(c) wait_any raises 40P01');
like($err,
	qr/^DETAIL:  The background worker waits for ExclusiveLock on advisory lock \[$dboid,0,777001,1\], which this session holds/m,
	'(c) DETAIL names the advisory lock');
($out, $err) = run_query($launcher,
	"SELECT pg_advisory_unlock(777001); SELECT (pg_background_wait_any(ARRAY[($wpid, $cookie)::pg_background_handle])).pid = $wpid");
is($out, "t\nt", '(c) after pg_advisory_unlock wait_any returns the job');
is($err, '', '(c) without error');
($out, $err) = run_query($launcher,
	"SELECT * FROM pg_background_result_v2($wpid, $cookie) AS (r text)");
is($out, 'INSERT 0 1', '(c) the job committed');

# ---------------------------------------------------------------------------
# (d) A sibling job holds the lock while blocked on its full queue.
# ---------------------------------------------------------------------------
# Job A takes ACCESS EXCLUSIVE on dl_tab (its "LOCK TABLE" tag fits into a
# 4 kB queue), then blocks writing 100,000 rows nobody reads, in the same
# transaction.
($out, $err) = run_query($launcher,
	q{SELECT pg_background_launch('LOCK TABLE dl_tab IN ACCESS EXCLUSIVE MODE; SELECT g FROM generate_series(1, 100000) g', 4096)});
is($err, '', '(d) launch of the lock-holding job');
my $apid = $out;
ok( $node->poll_query_until(
		'postgres',
		"SELECT wait_event FROM pg_stat_activity WHERE pid = $apid",
		'MessageQueuePutMessage'),
	'(d) job A holds the lock and is blocked on its full queue');
($out, $err) = run_query($launcher,
	q{SET statement_timeout = '10s';
	  SELECT * FROM pg_background_result(pg_background_launch('SELECT count(*) FROM dl_tab')) AS (n bigint)});
my $d_out = $out;
my $d_err = $err;
($out, $err) = run_query($launcher, 'RESET statement_timeout');
unlike($d_err, qr/57014/,
	'(d) waiting for job B does not hang until statement_timeout');
is($d_out, '2', '(d) job B returns its result');
# Read A, which lets both finish.
($out, $err) = run_query($launcher,
	"SELECT count(*) FROM pg_background_result($apid) AS (g int)");
is($out, '100000', '(d) job A delivers its rows once read');
ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_background'},
		'0'),
	'(d) no worker left');

# ---------------------------------------------------------------------------
# (e) wait_any over a deadlocked job and a job that finishes on its own:
#     only a wait that can never end is a deadlock, so wait_any should
#     return the second job (as it does without the lock).
# ---------------------------------------------------------------------------
($out, $err) = run_query($launcher,
	q{SELECT pg_advisory_lock(777002);
	  SELECT h.pid || ' ' || h.cookie FROM pg_background_launch_v2('SELECT 1 FROM pg_advisory_xact_lock(777002)') h});
is($err, '', '(e) launch of a job blocked by our advisory lock');
my ($apid2, $acookie2) = split / /, (split /\n/, $out)[-1];
($out, $err) = run_query($launcher,
	q{SELECT h.pid || ' ' || h.cookie FROM pg_background_launch_v2('SELECT 2 FROM pg_sleep(0.5)') h});
is($err, '', '(e) launch of a job that finishes by itself');
my ($bpid2, $bcookie2) = split / /, $out;
($out, $err) = run_query($launcher,
	"SELECT (pg_background_wait_any(ARRAY[($apid2, $acookie2)::pg_background_handle, ($bpid2, $bcookie2)::pg_background_handle])).pid = $bpid2");
is($out, 't', '(e) wait_any returns the job that finished');
is($err, '', '(e) without a deadlock error');
($out, $err) = run_query($launcher,
	"SELECT pg_advisory_unlock(777002);
	 SELECT pg_background_wait_v2($apid2, $acookie2);
	 SELECT * FROM pg_background_result_v2($apid2, $acookie2) AS (x int)
	 UNION ALL SELECT * FROM pg_background_result_v2($bpid2, $bcookie2) AS (x int)");
is($out, "t\n\n1\n2", '(e) both jobs finish once the lock is released');
is($err, '', '(e) without error');

($out, $err) = run_query($launcher, q{SELECT 'alive', pg_backend_pid()});
is($out, "alive|$launcher_pid", 'launcher session survived every deadlock');
$launcher->quit;

# ---------------------------------------------------------------------------
# (f) No crash.
# ---------------------------------------------------------------------------
$node->stop;
my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal/, '(f) no process terminated by a signal');
unlike($log, qr/PANIC/, '(f) no PANIC');
unlike($log, qr/all server processes terminated/, '(f) no crash and restart');

done_testing();
