# Jobs on a hot standby, with the warm pool (issue 14): a primary and a
# streaming standby, both with shared_preload_libraries = 'pg_background',
# pool_size = 2 and pool_idle_timeout = 3600.  On the standby:
#
# 1. Eight read-only jobs in a row from one session, each once the previous
#    one's worker has parked: all succeed, all on the same worker (the first
#    fresh, the others pooled), each in recovery with transaction_read_only
#    on.
# 2. A job launched inside a REPEATABLE READ transaction of its launcher
#    runs with the same isolation level and read-only state whether its
#    worker is fresh (the first job of another login role, regress_bob) or
#    pooled (the parked worker of part 1).
# 3. Writes fail with 25006 "cannot execute INSERT in a read-only
#    transaction", on the pooled worker (which then exits, as after any
#    error) and on a fresh one; the outcome shows error, 25006.
# 4. Rows inserted on the primary show on the standby through a pooled job.
# 5. The logs of both nodes show no "failed to initialize", no process
#    terminated by a signal, no TRAP, no PANIC.
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

my $primary = pool_node('primary', init => { allows_streaming => 1 },
	roles => ['regress_bob']);
$primary->safe_psql('postgres', q{
CREATE TABLE t (i int);
GRANT ALL ON t TO regress_bob;
});
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'),
	't', 'the standby is in recovery');

my $L = pool_session($standby);
my ($out, $err, $W);

# ---------------------------------------------------------------------------
# 1. Read-only jobs in a row, fresh then pooled.
# ---------------------------------------------------------------------------
my $ro_sql = q{SELECT pg_backend_pid(), pg_is_in_recovery(), current_setting('transaction_read_only')};
for my $i (1 .. 8)
{
	wait_parked($standby, "(1) before job $i", 1) if $i > 1;
	($out, $err) = pool_job($L, $ro_sql, 'p int, r bool, ro text');
	is($err, '', "(1) job $i succeeded");
	last if $err ne '';
	my ($pid, $rest) = split /\|/, $out // '', 2;
	$W //= $pid;
	is($pid, $W, "(1) job $i ran on the same worker ($W)");
	is($rest, 't|on', "(1) job $i ran in recovery, read-only");
}

# ---------------------------------------------------------------------------
# 2. Inside a REPEATABLE READ transaction of the launcher: fresh and pooled
#    workers alike.
# ---------------------------------------------------------------------------
my $iso_job = q{SELECT pg_backend_pid(), current_setting('transaction_isolation'), current_setting('transaction_read_only')};
my $bob = pool_session($standby, 'regress_bob');
run_query($bob, 'BEGIN ISOLATION LEVEL REPEATABLE READ');
($out, $err) = pool_job($bob, $iso_job, 'p int, iso text, ro text');
is($err, '', '(2) the fresh worker ran the job');
my ($bob_pid, $fresh) = split /\|/, $out // '', 2;
isnt($bob_pid, $W, "(2) on a worker of its own (regress_bob's)");
run_query($bob, 'COMMIT');
$bob->quit;

# Both parked: the worker of part 1 and regress_bob's.
wait_parked($standby, '(2) before the pooled job', 2);
run_query($L, 'BEGIN ISOLATION LEVEL REPEATABLE READ');
($out, $err) = pool_job($L, $iso_job, 'p int, iso text, ro text');
is($err, '', '(2) the pooled worker ran the job');
my ($pid, $pooled) = split /\|/, $out // '', 2;
run_query($L, 'COMMIT');
is($pid, $W, '(2) on the parked worker');
is($pooled, $fresh, "(2) with the fresh worker's isolation and read-only state ($fresh)");

# ---------------------------------------------------------------------------
# 3. Writes: 25006, pooled and fresh.
# ---------------------------------------------------------------------------
my $insert_err =
  qr/${E}25006: cannot execute INSERT in a read-only transaction$/m;
wait_parked($standby, '(3) before the pooled write', 2);
my %parked = map { $_ => 1 } split /\n/, $standby->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_background' AND state = 'idle'});
($out, $err) = run_query($L,
	q{SELECT pid, cookie FROM pg_background_launch_v2('INSERT INTO t VALUES (1)')});
my ($hpid, $hcookie) = split /\|/, $out;
ok($parked{$hpid}, "(3) the write job went to a parked worker (its pid $hpid)");
($out, $err) = run_query($L,
	"SELECT * FROM pg_background_result_v2($hpid, $hcookie) AS (tag text)");
like($err, $insert_err, '(3) the pooled write fails with 25006');
($out) = run_query($L,
	"SELECT state, sqlstate FROM pg_background_outcome($hpid, $hcookie)");
is($out, 'error|25006', '(3) outcome: error, 25006');
ok( poll_until($standby,
		"SELECT count(*) FROM pg_stat_activity WHERE pid = $W", '0', 60),
	'(3) the worker exits after the error');
($out, $err) = run_query($L,
	q{SELECT pid, cookie FROM pg_background_launch_v2('INSERT INTO t VALUES (2)')});
($hpid, $hcookie) = split /\|/, $out;
ok($hpid > 0, '(3) the next write job got a fresh worker');
($out, $err) = run_query($L,
	"SELECT * FROM pg_background_result_v2($hpid, $hcookie) AS (tag text)");
like($err, $insert_err, '(3) the fresh write fails with 25006 too');

# ---------------------------------------------------------------------------
# 4. Replicated rows, read by a pooled job.
# ---------------------------------------------------------------------------
$primary->safe_psql('postgres', 'INSERT INTO t SELECT generate_series(1, 10)');
$primary->wait_for_catchup($standby);
($out, $err) = pool_job($L, 'SELECT pg_backend_pid()', 'p int');
$W = $out;
wait_parked($standby, "(4) before the read (with regress_bob's)", 2);
($out, $err) = pool_job($L, 'SELECT pg_backend_pid(), count(*) FROM t', 'p int, n bigint');
is($err, '', '(4) the read job succeeded');
is($out, "$W|10", '(4) the pooled job sees the 10 rows inserted on the primary');
$L->quit;

# ---------------------------------------------------------------------------
# 5. Logs.
# ---------------------------------------------------------------------------
for my $n ($standby, $primary)
{
	$n->stop;
	my $log = slurp_file($n->logfile);
	my $name = $n->name;
	unlike($log, qr/failed to initialize/, "(5) $name: no \"failed to initialize\"");
	unlike($log, qr/terminated by signal/, "(5) $name: no process terminated by a signal");
	unlike($log, qr/TRAP:/, "(5) $name: no TRAP");
	unlike($log, qr/PANIC/, "(5) $name: no PANIC");
}

note('runtime: ' . (time - $start_time) . ' s');
done_testing();
