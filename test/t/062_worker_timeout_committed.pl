
# Copyright: see LICENSE.
#
# pg_background.worker_timeout never fails a job that has committed
# (worker.c).
#
# The job's time limit covers its SQL.  Once the last statement has
# committed, the worker still sends that statement's CommandComplete and
# ReadyForQuery, which wait in a full queue until the launcher reads.  A
# limit reached then used to cancel the worker there: the job was reported
# as failed (error 57014 "canceling job due to worker timeout"), and reading
# its result said 08006 (the worker left in the middle of a message), while
# its INSERT had committed.
#
# Node: without shared_preload_libraries (the limit is the worker's own).
#
# With worker_timeout = 100ms, a job INSERT INTO t VALUES (1) with the
# smallest queue (64 bytes: its CommandComplete does not fit until the
# launcher reads) is launched, and left unread until its worker has waited
# for more than a second at the queue (polled in pg_stat_activity, with a
# deadline; a worker that exited meanwhile ends the poll too).  Then:
# result_v2 returns the command tag INSERT 0 1; the outcome is 'stopped'
# with INSERT 0 1; the row is there.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgbgTest;

my $node = PostgreSQL::Test::Cluster->new('worker_timeout_committed');
$node->init;
$node->append_conf('postgresql.conf', "max_worker_processes = 8\n");
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_background;
CREATE TABLE t (a int);
});

my $s = launcher_session($node);
my ($out, $err) = run_query($s, q{
SET pg_background.worker_timeout = '100ms';
SELECT pid, cookie FROM pg_background_launch_v2('INSERT INTO t VALUES (1)', 64);
RESET pg_background.worker_timeout});
is($err, '', 'the job is launched');
my ($pid, $cookie) = split /\|/, $out;

ok( $node->poll_query_until(
		'postgres', qq{
SELECT count(*) = 0
    OR bool_and(wait_event LIKE 'MessageQueue%'
                AND clock_timestamp() - query_start > interval '1s')
FROM pg_stat_activity WHERE pid = $pid}),
	'the worker waited at its queue for well over its time limit (or exited)');

($out, $err) = run_query($s,
	"SELECT * FROM pg_background_result_v2($pid, $cookie) AS (tag text)");
is("$out$err", 'INSERT 0 1', 'its result is the command tag');
($out, $err) = run_query($s,
	"SELECT state, command_tag, sqlstate FROM pg_background_outcome($pid, $cookie)");
is("$out$err", 'stopped|INSERT 0 1|', 'the job stopped after INSERT 0 1');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'), '1', 'the row is there');
$s->quit;

my $log = slurp_file($node->logfile);
unlike($log, qr/TRAP:|PANIC:|terminated by signal/,
	'no assertion failure, PANIC or crash in the log');

$node->stop;
done_testing();
